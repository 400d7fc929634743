//! Phase 3: the plan — every stage with its fingerprint and whether (and why) it runs.

mod fingerprint;
mod reason;
mod selection;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use snni_artifacts::{Digest, Record, Store, StoreError};
use snni_stages::{PlanContext, UpstreamStage};

pub use fingerprint::{output_digest, Fingerprint};
pub use reason::{param_changes, Reason, Status};
pub use selection::Selection;

use crate::manifest::{StageDecl, Study};

/// The plan of a study against a store.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Study name.
    pub study: String,
    /// Stages in execution order.
    pub stages: Vec<PlannedStage>,
}

/// One stage of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStage {
    /// Stage name.
    pub name: String,
    /// Stage kind.
    pub kind: String,
    /// Upstream stages.
    pub needs: Vec<String>,
    /// The fingerprint, when every upstream output is known.
    pub fingerprint: Option<String>,
    /// Number of shards, when known.
    pub shards: Option<usize>,
    /// Cached, will run (and why), waits, or not selected.
    #[serde(flatten)]
    pub status: Status,
}

impl Plan {
    /// Plans `study` against `store` with `selection`.
    pub fn make(study: &Study, store: &Store, selection: &Selection) -> Result<Plan, StoreError> {
        let mut known: HashMap<String, Record> = HashMap::new();
        let mut stages = Vec::new();
        for stage in &study.stages {
            let selected = selection.selected(study, &stage.name);
            let forced = selection.forced(&stage.name);
            let pending: Vec<String> = stage
                .needs
                .iter()
                .filter(|n| !known.contains_key(*n))
                .cloned()
                .collect();
            let planned =
                |fingerprint: Option<Digest>, shards: Option<usize>, status: Status| PlannedStage {
                    name: stage.name.clone(),
                    kind: stage.kind.name().to_string(),
                    needs: stage.needs.clone(),
                    fingerprint: fingerprint.map(|d| d.to_hex()),
                    shards,
                    status,
                };
            if !pending.is_empty() {
                let status = match (selected, forced) {
                    (false, _) => Status::NotSelected,
                    (true, true) => Status::Run {
                        reasons: vec![Reason::Forced],
                    },
                    (true, false) => Status::Waits { upstream: pending },
                };
                stages.push(planned(None, None, status));
                continue;
            }
            let inputs = StageInputs::resolve(study, stage, &known, store);
            let fingerprint = inputs.fingerprint(stage);
            let record = store.get(&fingerprint)?;
            let shards = stage.kind.shards(&inputs.plan_context(stage)).ok();
            let status = if !selected {
                Status::NotSelected
            } else if record.is_some() && !forced {
                Status::Cached
            } else {
                Status::Run {
                    reasons: reasons(
                        store,
                        stage,
                        &inputs,
                        &fingerprint,
                        forced,
                        shards.as_deref(),
                    )?,
                }
            };
            if let (Some(record), false) = (record, forced && selected) {
                known.insert(stage.name.clone(), record);
            }
            stages.push(planned(Some(fingerprint), shards.map(|s| s.len()), status));
        }
        Ok(Plan {
            study: study.name.clone(),
            stages,
        })
    }

    /// Whether nothing will run.
    pub fn all_cached(&self) -> bool {
        self.stages
            .iter()
            .all(|s| matches!(s.status, Status::Cached | Status::NotSelected))
    }
}

/// A stage's resolved inputs: the upstream stages' records and output digests.
pub struct StageInputs {
    /// Upstream stages (completed), in `needs` order.
    pub upstream: Vec<UpstreamStage>,
    /// Output digest of each upstream stage.
    pub digests: BTreeMap<String, Digest>,
    /// The store, for kinds whose shards depend on upstream contents.
    pub store: Store,
}

impl StageInputs {
    /// Collects the inputs of `stage` from completed records (every need must be present).
    pub fn resolve(
        study: &Study,
        stage: &StageDecl,
        records: &HashMap<String, Record>,
        store: &Store,
    ) -> StageInputs {
        let mut upstream = Vec::new();
        let mut digests = BTreeMap::new();
        for need in &stage.needs {
            if let Some(record) = records.get(need) {
                digests.insert(need.clone(), output_digest(record));
                upstream.push(UpstreamStage {
                    name: need.clone(),
                    kind: study.stage(need).map_or("", |s| s.kind.name()).to_string(),
                    record: record.clone(),
                });
            }
        }
        StageInputs {
            upstream,
            digests,
            store: store.clone(),
        }
    }

    /// The stage fingerprint.
    pub fn fingerprint(&self, stage: &StageDecl) -> Digest {
        Fingerprint::stage(
            stage.kind.name(),
            stage.kind.version(),
            &stage.params,
            stage.seed,
            &self.digests,
        )
        .digest()
    }

    /// The fingerprint of one shard.
    pub fn shard_fingerprint(
        &self,
        stage: &StageDecl,
        shard_params: &serde_json::Value,
        shard: &str,
    ) -> Digest {
        // A shard that reads only some upstream outputs depends only on their digests.
        let own = stage.kind.shard_upstream(&self.plan_context(stage), shard);
        Fingerprint::stage(
            stage.kind.name(),
            stage.kind.version(),
            &stage.params,
            stage.seed,
            own.as_ref().unwrap_or(&self.digests),
        )
        .shard(shard_params, shard)
        .digest()
    }

    /// What the stage kind sees when planning shards.
    pub fn plan_context<'a>(&'a self, stage: &'a StageDecl) -> PlanContext<'a> {
        PlanContext {
            params: &stage.params,
            seed: stage.seed,
            upstream: &self.upstream,
            store: &self.store,
        }
    }

    /// The state to remember after the stage completes, for explaining later plans.
    pub fn state(&self, stage: &StageDecl, fingerprint: Digest) -> snni_artifacts::StageState {
        snni_artifacts::StageState {
            format_version: snni_artifacts::FORMAT_VERSION,
            fingerprint,
            kind: stage.kind.name().to_string(),
            version: stage.kind.version(),
            params: stage.params.clone(),
            upstream: self.digests.clone(),
            seed: stage.seed,
        }
    }
}

fn reasons(
    store: &Store,
    stage: &StageDecl,
    inputs: &StageInputs,
    fingerprint: &Digest,
    forced: bool,
    shards: Option<&[String]>,
) -> Result<Vec<Reason>, StoreError> {
    if forced {
        return Ok(vec![Reason::Forced]);
    }
    let mut reasons = Vec::new();
    if let Some(failure) = store.failure(fingerprint)? {
        reasons.push(Reason::PreviousRunFailed {
            message: failure.message,
        });
    }
    if let Some(shards) = shards {
        let shard_params = stage.kind.shard_params(&stage.params);
        let mut done = 0;
        for shard in shards {
            if store
                .get(&inputs.shard_fingerprint(stage, &shard_params, shard))?
                .is_some()
            {
                done += 1;
            }
        }
        if done > 0 {
            reasons.push(Reason::Resuming {
                done,
                total: shards.len(),
            });
        }
    }
    match store.stage_state(&stage.name)? {
        None => reasons.insert(0, Reason::New),
        Some(old) => {
            let mut changes = Vec::new();
            if old.kind != stage.kind.name() {
                changes.push(Reason::KindChanged {
                    old: old.kind.clone(),
                });
            }
            if old.version != stage.kind.version() {
                changes.push(Reason::VersionChanged {
                    old: old.version,
                    new: stage.kind.version(),
                });
            }
            let params = param_changes(&old.params, &stage.params);
            if !params.is_empty() {
                changes.push(Reason::ParamsChanged { changes: params });
            }
            if old.seed != stage.seed {
                changes.push(Reason::SeedChanged {
                    old: old.seed,
                    new: stage.seed,
                });
            }
            let upstream: Vec<String> = inputs
                .digests
                .iter()
                .filter(|(name, digest)| old.upstream.get(*name) != Some(digest))
                .map(|(name, _)| name.clone())
                .chain(
                    old.upstream
                        .keys()
                        .filter(|n| !inputs.digests.contains_key(*n))
                        .cloned(),
                )
                .collect();
            if !upstream.is_empty() {
                changes.push(Reason::UpstreamChanged { stages: upstream });
            }
            if changes.is_empty() && reasons.is_empty() {
                changes.push(Reason::OutputsMissing);
            }
            for (i, change) in changes.into_iter().enumerate() {
                reasons.insert(i, change);
            }
        }
    }
    Ok(reasons)
}

/// Every fingerprint (stages and shards) that `study`'s current plan references and the
/// store holds: what `snni gc` keeps and `snni artifacts export --manifest` exports.
pub fn referenced_fingerprints(
    study: &Study,
    store: &Store,
) -> Result<std::collections::BTreeSet<Digest>, StoreError> {
    let mut keep = std::collections::BTreeSet::new();
    let mut known: HashMap<String, Record> = HashMap::new();
    for stage in &study.stages {
        if !stage.needs.iter().all(|n| known.contains_key(n)) {
            continue;
        }
        let inputs = StageInputs::resolve(study, stage, &known, store);
        let fingerprint = inputs.fingerprint(stage);
        keep.insert(fingerprint);
        if let Ok(shards) = stage.kind.shards(&inputs.plan_context(stage)) {
            let shard_params = stage.kind.shard_params(&stage.params);
            for shard in &shards {
                keep.insert(inputs.shard_fingerprint(stage, &shard_params, shard));
            }
        }
        if let Some(record) = store.get(&fingerprint)? {
            known.insert(stage.name.clone(), record);
        }
    }
    Ok(keep)
}
