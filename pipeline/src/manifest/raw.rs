//! Phase 1: the manifest as written. Each part is decoded on its own so that one bad
//! stage does not hide the errors of the others.

use serde::Deserialize;

/// Keys allowed at the top level of a manifest.
pub const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "store",
    "settings",
    "stages",
    "executor",
];

/// One stage as written under `stages:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    /// The stage kind.
    pub kind: String,
    /// Upstream stage names.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Kind-specific parameters.
    #[serde(default)]
    pub params: serde_yaml::Value,
    /// Overrides the study seed for this stage.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// Keys allowed in a stage.
pub const STAGE_KEYS: &[&str] = &["kind", "needs", "params", "seed", "description"];

/// One network setting as written under `settings:`. Values are kept as written and read
/// one by one in phase 2, so that each bad field is reported (with the right words) and
/// a setting with a bad field is still declared.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSetting {
    /// Link rate, e.g. `7gbit`, `380mbit`.
    #[serde(default)]
    pub bandwidth: Option<serde_yaml::Value>,
    /// Round-trip time, e.g. `0.5ms`, `10ms`.
    #[serde(default)]
    pub rtt: Option<serde_yaml::Value>,
    /// Packet loss in percent.
    #[serde(default)]
    pub loss: Option<serde_yaml::Value>,
}

/// Keys allowed in a setting.
pub const SETTING_KEYS: &[&str] = &["bandwidth", "rtt", "loss"];

/// The manifest after phase 1: every part that decoded, in file order.
#[derive(Debug, Clone, Default)]
pub struct RawManifest {
    /// Study name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Study seed.
    pub seed: Option<u64>,
    /// Store directory, relative to the manifest's folder.
    pub store: Option<String>,
    /// Settings in file order.
    pub settings: Vec<(String, RawSetting)>,
    /// Every setting name, also of settings that did not decode: they are declared all
    /// the same, so a stage using one is not told it is undeclared.
    pub setting_names: Vec<String>,
    /// Stages in file order.
    pub stages: Vec<(String, RawStage)>,
    /// Where shards run, if the manifest says.
    pub executor: Option<super::executor::RawExecutor>,
}
