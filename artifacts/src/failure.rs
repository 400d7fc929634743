//! [`Failure`]: the last failure of the work with a given fingerprint, so a re-run can say
//! what went wrong before and how many attempts were made.

use serde::{Deserialize, Serialize};

use crate::codec::{self, Versioned};
use crate::digest::Digest;
use crate::error::StoreError;
use crate::record::unix_ms_now;
use crate::store::Store;
use crate::FORMAT_VERSION;

/// The last failure of a stage or shard, kept under its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// The format version that wrote this failure; always [`FORMAT_VERSION`] when read back.
    pub format_version: u32,
    /// The error, as shown to the user.
    pub message: String,
    /// How many attempts have failed so far.
    pub attempts: u32,
    /// When the last attempt failed, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl Failure {
    /// A failure of the current format, dated now.
    pub fn new(message: impl Into<String>, attempts: u32) -> Failure {
        Failure {
            format_version: FORMAT_VERSION,
            message: message.into(),
            attempts,
            unix_ms: unix_ms_now(),
        }
    }
}

impl Versioned for Failure {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

impl Store {
    /// Records (or replaces) the failure of the work with `fingerprint`. Not flushed at
    /// once: sled persists it within half a second, or with the next commit.
    pub fn record_failure(
        &self,
        fingerprint: &Digest,
        failure: &Failure,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        let value = codec::encode(failure, || format!("failure {}", fingerprint.short()))?;
        self.inner.failures.insert(fingerprint.as_bytes(), value)?;
        Ok(())
    }

    /// The failure recorded for `fingerprint`, if any.
    pub fn failure(&self, fingerprint: &Digest) -> Result<Option<Failure>, StoreError> {
        let Some(value) = self.inner.failures.get(fingerprint.as_bytes())? else {
            return Ok(None);
        };
        codec::decode(&value, || self.describe_failure(fingerprint)).map(Some)
    }

    /// Forgets the failure recorded for `fingerprint`, if any. ([`Store::commit`] does this
    /// for the fingerprint it commits.)
    pub fn clear_failure(&self, fingerprint: &Digest) -> Result<(), StoreError> {
        self.check_writable()?;
        self.inner.failures.remove(fingerprint.as_bytes())?;
        Ok(())
    }

    /// Every recorded failure, by fingerprint.
    pub fn failures(&self) -> Result<Vec<(Digest, Failure)>, StoreError> {
        let mut failures = Vec::new();
        self.inner.failures.for_each(|key, value| {
            if let Some(fingerprint) = Digest::from_key(&key) {
                failures.push((
                    fingerprint,
                    codec::decode(&value, || self.describe_failure(&fingerprint))?,
                ));
            }
            Ok(())
        })?;
        Ok(failures)
    }

    fn describe_failure(&self, fingerprint: &Digest) -> String {
        format!(
            "failure {} in `{}`",
            fingerprint.short(),
            self.inner.dir.display()
        )
    }
}
