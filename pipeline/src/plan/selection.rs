//! Which stages a run or plan covers: `--only`, `--from` and `--force`.

use std::collections::BTreeSet;

use crate::manifest::Study;

/// The stages selected and forced on the command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Run only these stages (their upstream must be cached).
    pub only: BTreeSet<String>,
    /// Re-run this stage and everything downstream of it.
    pub from: Option<String>,
    /// Re-run these stages even if cached.
    pub force: BTreeSet<String>,
}

impl Selection {
    /// Names given on the command line that are not stages of `study`.
    pub fn unknown_stages<'a>(&'a self, study: &Study) -> Vec<&'a str> {
        self.only
            .iter()
            .chain(self.force.iter())
            .chain(self.from.iter())
            .filter(|name| study.stage(name).is_none())
            .map(String::as_str)
            .collect()
    }

    /// Whether `stage` is part of this run.
    pub fn selected(&self, study: &Study, stage: &str) -> bool {
        if let Some(from) = &self.from {
            return stage == from || downstream_of(study, from).contains(stage);
        }
        self.only.is_empty() || self.only.contains(stage)
    }

    /// Whether `stage` belongs to this run: selected, or upstream of a selected stage (its
    /// outputs feed one). Other stages are left alone, neither run nor reported failed.
    pub fn in_scope(&self, study: &Study, stage: &str) -> bool {
        self.selected(study, stage)
            || study
                .stages
                .iter()
                .filter(|s| self.selected(study, &s.name))
                .any(|s| upstream_of(study, &s.name).contains(stage))
    }

    /// Whether `stage` must run even if cached.
    pub fn forced(&self, stage: &str) -> bool {
        self.force.contains(stage) || self.from.as_deref() == Some(stage)
    }
}

/// Every stage `root` depends on, directly or not.
pub fn upstream_of(study: &Study, root: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![root.to_string()];
    while let Some(name) = pending.pop() {
        for need in study.stage(&name).map_or(&[][..], |s| &s.needs[..]) {
            if found.insert(need.clone()) {
                pending.push(need.clone());
            }
        }
    }
    found
}

/// Every stage that depends, directly or not, on `root`.
pub fn downstream_of(study: &Study, root: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    // Stages are in dependency order, so one pass suffices.
    for stage in &study.stages {
        if stage.needs.iter().any(|n| n == root || found.contains(n)) {
            found.insert(stage.name.clone());
        }
    }
    found
}
