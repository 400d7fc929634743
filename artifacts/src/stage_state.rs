//! [`StageState`]: what each stage was last planned with, so the planner can say *why* a
//! stage runs again (its parameters changed, or an upstream output did).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec::{self, Versioned};
use crate::digest::Digest;
use crate::error::StoreError;
use crate::store::Store;

/// The inputs of a stage's fingerprint the last time it was planned, kept by stage name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageState {
    /// The format version that wrote this state; always [`FORMAT_VERSION`](crate::FORMAT_VERSION) when read back.
    pub format_version: u32,
    /// The fingerprint those inputs hashed to.
    pub fingerprint: Digest,
    /// The stage kind.
    pub kind: String,
    /// The stage kind's version.
    pub version: u32,
    /// The stage's parameters.
    pub params: serde_json::Value,
    /// The digests of the upstream outputs, by upstream stage name.
    pub upstream: BTreeMap<String, Digest>,
    /// The stage's seed.
    pub seed: u64,
}

impl Versioned for StageState {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

impl Store {
    /// Remembers `state` as the last plan of `stage`. Not flushed at once (it is a hint for
    /// explanations, not a cache entry).
    pub fn set_stage_state(&self, stage: &str, state: &StageState) -> Result<(), StoreError> {
        self.check_writable()?;
        let value = codec::encode(state, || format!("the state of stage `{stage}`"))?;
        self.inner.stages.insert(stage.as_bytes(), value)?;
        Ok(())
    }

    /// The last remembered plan of `stage`, if any.
    pub fn stage_state(&self, stage: &str) -> Result<Option<StageState>, StoreError> {
        let Some(value) = self.inner.stages.get(stage.as_bytes())? else {
            return Ok(None);
        };
        codec::decode(&value, || self.describe_stage(stage)).map(Some)
    }

    /// Every remembered stage state, by stage name.
    pub fn stage_states(&self) -> Result<BTreeMap<String, StageState>, StoreError> {
        let mut states = BTreeMap::new();
        self.inner.stages.for_each(|key, value| {
            let stage = String::from_utf8_lossy(&key).into_owned();
            let state = codec::decode(&value, || self.describe_stage(&stage))?;
            states.insert(stage, state);
            Ok(())
        })?;
        Ok(states)
    }

    fn describe_stage(&self, stage: &str) -> String {
        format!(
            "the state of stage `{stage}` in `{}`",
            self.inner.dir.display()
        )
    }
}
