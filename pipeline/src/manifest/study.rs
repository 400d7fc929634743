//! Phase 2: a validated study — references resolved, stage parameters typed and
//! canonical, stages in dependency order.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use snni_stages::Setting;
use snni_stages::StageKind;

/// A validated study.
pub struct Study {
    /// Study name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Study seed.
    pub seed: u64,
    /// The store directory (resolved against the manifest's folder).
    pub store: PathBuf,
    /// The manifest file.
    pub manifest: PathBuf,
    /// Network settings by name: the built-in `local`, `lan` and `wan` (with the
    /// manifest's overrides) and the manifest's own.
    pub settings: BTreeMap<String, Setting>,
    /// Stages in dependency order (every stage after the stages it needs).
    pub stages: Vec<StageDecl>,
    /// Where shards run (`executor:`; never part of a fingerprint).
    pub executor: super::ExecutorConfig,
}

impl Study {
    /// The stage named `name`.
    pub fn stage(&self, name: &str) -> Option<&StageDecl> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// One stage of a validated study.
pub struct StageDecl {
    /// Name in the manifest.
    pub name: String,
    /// Its kind.
    pub kind: &'static dyn StageKind,
    /// Upstream stages, as written.
    pub needs: Vec<String>,
    /// Canonical parameters (defaults filled in).
    pub params: serde_json::Value,
    /// The stage seed.
    pub seed: u64,
    /// Free text from the manifest.
    pub description: Option<String>,
}
