//! The `synthesize` stage kind: N random networks, one shard per network.
//!
//! Parameters are `count` plus every range of [`SynthesisParams`]. Network `i` depends
//! only on the ranges, the seed and `i`, so raising `count` keeps the networks (and their
//! cached shards) that already exist.

use serde_json::{Map, Value};

use crate::kind::{CheckContext, PlanContext, ShardContext, ShardOutputs, StageKind};
use crate::synthesis::{generate, SynthesisParams};
use crate::{decode_params, decode_params_all, ParamIssue, StageError};

/// The largest `count` a manifest may ask for.
pub const MAX_COUNT: u64 = 100_000;

/// Synthesizes random networks in the study's families.
pub struct SynthesizeKind;

impl SynthesizeKind {
    fn split(params: &Value) -> (Option<&Value>, Value) {
        let mut rest = params.as_object().cloned().unwrap_or_default();
        let count = params.get("count");
        rest.remove("count");
        (count, Value::Object(rest))
    }

    fn ranges(params: &Value) -> Result<SynthesisParams, StageError> {
        let (_, rest) = Self::split(params);
        decode_params(&rest).map_err(|issue| StageError::Params {
            kind: "synthesize",
            message: issue.message,
        })
    }

    fn count(params: &Value) -> u64 {
        params.get("count").and_then(Value::as_u64).unwrap_or(0)
    }
}

impl StageKind for SynthesizeKind {
    fn expected_shard_seconds(&self, _params: &Value, _shard: &str) -> f64 {
        // Generating a network description takes milliseconds.
        0.05
    }

    fn name(&self) -> &'static str {
        "synthesize"
    }

    fn version(&self) -> u32 {
        1
    }

    fn summary(&self) -> &'static str {
        "random networks in the study's families (one shard per network)"
    }

    fn check_params(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<Value, Vec<ParamIssue>> {
        let mut issues = Vec::new();
        let (count, rest) = Self::split(params);
        let count = match count {
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
        let ranges = match decode_params_all::<SynthesisParams>(&rest) {
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
                let mut canonical = match serde_json::to_value(&ranges) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                };
                canonical.insert("count".into(), Value::from(count));
                Ok(Value::Object(canonical))
            }
            _ => Err(issues),
        }
    }

    fn shard_params(&self, params: &Value) -> Value {
        Self::split(params).1
    }

    fn shards(&self, ctx: &PlanContext<'_>) -> Result<Vec<String>, StageError> {
        Ok((0..Self::count(ctx.params)).map(shard_key).collect())
    }

    fn run_shard(&self, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError> {
        let index = parse_shard_key(ctx.shard)
            .filter(|&i| u64::from(i) < Self::count(ctx.params))
            .ok_or_else(|| StageError::UnknownShard {
                kind: "synthesize",
                shard: ctx.shard.to_string(),
            })?;
        let ranges = Self::ranges(ctx.params)?;
        let network = generate(&ranges, ctx.seed, index);
        ShardOutputs::network(&network)
    }
}

fn shard_key(index: u64) -> String {
    format!("synth-{index:04}")
}

fn parse_shard_key(key: &str) -> Option<u32> {
    key.strip_prefix("synth-")?.parse().ok()
}
