//! The `synthesize` stage kind: N random networks, one shard per network, and the
//! generator behind it.
//!
//! Parameters are `count` plus every range of [`SynthesisParams`]. Network `i` depends
//! only on the ranges, the seed and `i`, so raising `count` keeps the networks (and their
//! cached shards) that already exist.
//!
//! The study profiles many small random networks so that every layer type is seen at many
//! sizes (seed §1.1, "Data generation"). [`SynthesisParams`] holds the ranges, with defaults
//! taken from the seed (§1.2, "Experimental setup") and from the study's public generator
//! (`Cheetah_evaluator/generate_model/generate_convmp.py` in the repository of the seed's
//! footnote 1; "the public generator" below). [`SynthesisParams::validate`] reports every
//! problem at once; [`generate`] builds network `index` of a study from `(seed, index)` alone,
//! so a network never depends on how many others are generated.
//!
//! A network is `layers` blocks of one [`Family`], then an optional fully connected head:
//!
//! - conv families: `conv` → optional `batch_norm` → `relu` (or `poly_act`) → the family's
//!   pool (`max_pool` or `avg_pool`, none for `conv`);
//! - pool families: one `max_pool` or `avg_pool` on the input's channels;
//! - head: `flatten` (or `global_avg_pool` when the map is larger than `fc_max_inputs`) →
//!   `fc` → `relu` → `fc` with `classes` outputs.
//!
//! Windows never produce an empty map: a kernel is only chosen if it fits the current map with
//! its padding, and filters are capped so that a conv output stays within `max_activation`.
//!
//! [`generate`]: fn@generate

mod generate;
mod params;
mod validate;

#[cfg(test)]
mod test_util;

pub use generate::generate;
pub use params::{Family, PaddingMode, Range, SynthesisParams};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::kind::{CheckContext, Kind, PlanContext, ShardContext, ShardOutputs};
use crate::{decode_params, decode_params_all, ParamIssue, StageError};

/// The largest `count` a manifest may ask for.
pub const MAX_COUNT: u64 = 100_000;

/// Synthesizes random networks in the study's families.
pub struct SynthesizeKind;

/// The parameters: `count` beside the ranges, in one flat mapping (the canonical JSON is
/// the ranges' mapping with `count` added).
#[derive(Debug, Clone)]
pub struct SynthesizeParams {
    /// How many networks.
    pub count: u64,
    /// The ranges they are drawn from.
    pub ranges: SynthesisParams,
}

impl Serialize for SynthesizeParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = match serde_json::to_value(&self.ranges).map_err(serde::ser::Error::custom)? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.insert("count".into(), Value::from(self.count));
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SynthesizeParams {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::deserialize(deserializer)?;
        let count = map
            .remove("count")
            .and_then(|count| count.as_u64())
            .ok_or_else(|| D::Error::missing_field("count"))?;
        let ranges = decode_params(&Value::Object(map))
            .map_err(|issue| D::Error::custom(issue.located()))?;
        Ok(SynthesizeParams { count, ranges })
    }
}

impl Kind for SynthesizeKind {
    type Params = SynthesizeParams;
    const NAME: &'static str = "synthesize";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str = "random networks in the study's families (one shard per network)";
    // Raising `count` keeps the networks that exist.
    const SHARD_CHOICE: &'static [&'static str] = &["count"];

    fn guess_seconds(&self, _params: &SynthesizeParams, _shard: &str) -> f64 {
        // Generating a network description takes milliseconds.
        0.05
    }

    fn check(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<SynthesizeParams, Vec<ParamIssue>> {
        let mut issues = Vec::new();
        let mut rest = params.as_object().cloned().unwrap_or_default();
        let count = match rest.remove("count") {
            None => {
                issues.push(
                    ParamIssue::new(&[], "missing `count`")
                        .with_hint("add `count: N`, the number of networks to synthesize"),
                );
                None
            }
            Some(value) => match value.as_u64() {
                Some(n) if (1..=MAX_COUNT).contains(&n) => Some(n),
                _ => {
                    issues.push(ParamIssue::new(
                        &["count"],
                        format!("must be a whole number in 1..={MAX_COUNT}, got {value}"),
                    ));
                    None
                }
            },
        };
        let ranges = match decode_params_all::<SynthesisParams>(&Value::Object(rest)) {
            Ok(ranges) => {
                issues.extend(ranges.validate());
                Some(ranges)
            }
            Err(found) => {
                issues.extend(found);
                None
            }
        };
        match (count, ranges) {
            (Some(count), Some(ranges)) if issues.is_empty() => {
                Ok(SynthesizeParams { count, ranges })
            }
            _ => Err(issues),
        }
    }

    fn plan(
        &self,
        params: &SynthesizeParams,
        _ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        Ok((0..params.count).map(shard_key).collect())
    }

    fn run(
        &self,
        params: &SynthesizeParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        let index = parse_shard_key(ctx.shard)
            .filter(|&i| u64::from(i) < params.count)
            .ok_or_else(|| StageError::UnknownShard {
                kind: Self::NAME,
                shard: ctx.shard.to_string(),
            })?;
        let network = generate(&params.ranges, ctx.seed, index);
        ShardOutputs::network(&network)
    }
}

fn shard_key(index: u64) -> String {
    format!("synth-{index:04}")
}

fn parse_shard_key(key: &str) -> Option<u32> {
    key.strip_prefix("synth-")?.parse().ok()
}
