//! The `reference` stage kind: the whole-network test set (SqueezeNet 1.1, ResNet-50,
//! DenseNet-121) at a configurable input size, one shard per network.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use snni_engine::network::Shape;
use snni_engine::zoo;

use crate::kind::{CheckContext, PlanContext, ShardContext, ShardOutputs, StageKind};
use crate::{decode_params, decode_params_all, ParamIssue, StageError};

/// Names the `networks` parameter accepts.
pub const REFERENCE_NETWORKS: &[&str] = &["squeezenet", "resnet50", "densenet121"];

/// Builds the reference architectures.
pub struct ReferenceKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferenceParams {
    #[serde(default = "all_networks")]
    networks: Vec<String>,
    #[serde(default = "default_input")]
    input: Shape,
}

fn all_networks() -> Vec<String> {
    REFERENCE_NETWORKS.iter().map(|s| s.to_string()).collect()
}

fn default_input() -> Shape {
    Shape {
        h: 224,
        w: 224,
        c: 3,
    }
}

impl ReferenceKind {
    fn decode(params: &Value) -> Result<ReferenceParams, StageError> {
        decode_params(params).map_err(|issue| StageError::Params {
            kind: "reference",
            message: issue.message,
        })
    }
}

impl StageKind for ReferenceKind {
    fn expected_shard_seconds(&self, _params: &Value, _shard: &str) -> f64 {
        // Generating a network description takes milliseconds.
        0.5
    }

    fn name(&self) -> &'static str {
        "reference"
    }

    fn version(&self) -> u32 {
        1
    }

    fn summary(&self) -> &'static str {
        "SqueezeNet 1.1, ResNet-50 and DenseNet-121 layer graphs (one shard per network)"
    }

    fn check_params(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<Value, Vec<ParamIssue>> {
        let params = if params.is_null() {
            Value::Object(Default::default())
        } else {
            params.clone()
        };
        let decoded: ReferenceParams = decode_params_all(&params)?;
        let mut issues = Vec::new();
        if decoded.networks.is_empty() {
            issues.push(
                ParamIssue::new(&["networks"], "must name at least one network")
                    .with_hint(format!("choose from {}", REFERENCE_NETWORKS.join(", "))),
            );
        }
        for (i, name) in decoded.networks.iter().enumerate() {
            let index = i.to_string();
            if !REFERENCE_NETWORKS.contains(&name.as_str()) {
                issues.push(
                    ParamIssue::new(
                        &["networks", &index],
                        format!("unknown reference network `{name}`"),
                    )
                    .with_hint(format!("choose from {}", REFERENCE_NETWORKS.join(", "))),
                );
            } else if decoded.networks[..i].contains(name) {
                issues.push(ParamIssue::new(
                    &["networks", &index],
                    format!("`{name}` is listed twice"),
                ));
            } else if let Some(network) = zoo::by_name(name, decoded.input) {
                if let Err(err) = network.validate() {
                    issues.push(
                        ParamIssue::new(
                            &["input"],
                            format!("{name} does not fit input {}: {err}", decoded.input),
                        )
                        .with_hint("use a larger input, e.g. 64x64x3 or the study's 224x224x3"),
                    );
                }
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        serde_json::to_value(&decoded).map_err(|err| vec![ParamIssue::new(&[], err.to_string())])
    }

    fn shards(&self, ctx: &PlanContext<'_>) -> Result<Vec<String>, StageError> {
        Ok(Self::decode(ctx.params)?.networks)
    }

    fn run_shard(&self, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError> {
        let params = Self::decode(ctx.params)?;
        let unknown = || StageError::UnknownShard {
            kind: "reference",
            shard: ctx.shard.to_string(),
        };
        if !params.networks.iter().any(|n| n == ctx.shard) {
            return Err(unknown());
        }
        let network = zoo::by_name(ctx.shard, params.input).ok_or_else(unknown)?;
        ShardOutputs::network(&network)
    }
}
