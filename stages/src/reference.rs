//! The `reference` stage kind: the whole-network test set (SqueezeNet 1.1, ResNet-50,
//! DenseNet-121) at a configurable input size, one shard per network.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use snni_engine::network::Shape;
use snni_engine::zoo;

use crate::kind::{CheckContext, Kind, PlanContext, ShardContext, ShardOutputs};
use crate::{decode_params_all, ParamIssue, StageError};

/// Names the `networks` parameter accepts.
pub const REFERENCE_NETWORKS: &[&str] = &["squeezenet", "resnet50", "densenet121"];

/// Builds the reference architectures.
pub struct ReferenceKind;

/// The parameters of a `reference` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceParams {
    /// The networks, from [`REFERENCE_NETWORKS`] (default all).
    #[serde(default = "all_networks")]
    pub networks: Vec<String>,
    /// Their input (default 224×224×3).
    #[serde(default = "default_input")]
    pub input: Shape,
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

impl Kind for ReferenceKind {
    type Params = ReferenceParams;
    const NAME: &'static str = "reference";
    const VERSION: u32 = 1;
    const SUMMARY: &'static str =
        "SqueezeNet 1.1, ResNet-50 and DenseNet-121 layer graphs (one shard per network)";

    fn guess_seconds(&self, _params: &ReferenceParams, _shard: &str) -> f64 {
        // Generating a network description takes milliseconds.
        0.5
    }

    fn check(
        &self,
        params: &Value,
        _ctx: &CheckContext<'_>,
    ) -> Result<ReferenceParams, Vec<ParamIssue>> {
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
        Ok(decoded)
    }

    fn plan(
        &self,
        params: &ReferenceParams,
        _ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        Ok(params.networks.clone())
    }

    fn run(
        &self,
        params: &ReferenceParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
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
