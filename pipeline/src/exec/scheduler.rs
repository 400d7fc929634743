//! The scheduler: runs a study's stages as a DAG, shards in parallel up to `--jobs`,
//! committing every shard as it finishes so an interrupted run resumes where it stopped.
//!
//! Stage tasks live on the async runtime only to wait and coordinate; every shard runs
//! on a blocking thread, since stage work (networks, crypto, training, tables) is CPU-bound.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use snni_artifacts::{Failure, Output, Record, Store};
use snni_stages::{OutputData, ShardContext};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::events::{Event, EventSender, Summary};
use crate::manifest::{StageDecl, Study};
use crate::plan::{Selection, StageInputs};

/// How to run a study.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Shards running at once, across all stages.
    pub jobs: usize,
    /// Which stages to run or force.
    pub selection: Selection,
    /// Keep running independent stages after a failure.
    pub keep_going: bool,
}

struct Shared {
    study: Arc<Study>,
    store: Store,
    options: RunOptions,
    slots: Arc<Semaphore>,
    stop: AtomicBool,
    events: EventSender,
}

impl Shared {
    fn emit(&self, event: Event) {
        // A closed receiver only means nobody listens any more.
        let _ = self.events.send(event);
    }
}

/// Runs `study` against `store` and returns the totals. Events go to `events`.
pub async fn run_study(
    study: Arc<Study>,
    store: Store,
    options: RunOptions,
    events: EventSender,
) -> Summary {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        slots: Arc::new(Semaphore::new(options.jobs.max(1))),
        study: study.clone(),
        store,
        options,
        stop: AtomicBool::new(false),
        events,
    });
    shared.emit(Event::RunStarted {
        study: study.name.clone(),
        stages: study.stages.len(),
        jobs: shared.options.jobs,
    });
    let mut summary = Summary::default();
    // Stages that failed or were skipped: their downstream stages are skipped too.
    let mut incomplete: HashSet<String> = HashSet::new();
    let mut records: HashMap<String, Record> = HashMap::new();
    let mut started_stages: Vec<bool> = vec![false; study.stages.len()];
    let mut running: JoinSet<(String, Result<StageResult, String>)> = JoinSet::new();
    loop {
        for (i, stage) in study.stages.iter().enumerate() {
            if started_stages[i] {
                continue;
            }
            if !shared.options.selection.in_scope(&study, &stage.name) {
                // Downstream of or beside what --only/--from selected: not this run's work.
                started_stages[i] = true;
                summary.skipped += 1;
                incomplete.insert(stage.name.clone());
                shared.emit(Event::StageSkipped {
                    stage: stage.name.clone(),
                    reason: "not selected (--only/--from)".into(),
                });
                continue;
            }
            let blocked = stage.needs.iter().find(|n| incomplete.contains(*n));
            if let Some(need) = blocked {
                started_stages[i] = true;
                summary.skipped += 1;
                incomplete.insert(stage.name.clone());
                shared.emit(Event::StageSkipped {
                    stage: stage.name.clone(),
                    reason: format!("upstream `{need}` did not complete"),
                });
                continue;
            }
            if shared.stop.load(Ordering::SeqCst) {
                continue;
            }
            if stage.needs.iter().all(|n| records.contains_key(n)) {
                started_stages[i] = true;
                let inputs = StageInputs::resolve(&study, stage, &records, &shared.store);
                let shared = shared.clone();
                let name = stage.name.clone();
                running.spawn(async move {
                    let result = run_stage(shared, i, inputs).await;
                    (name, result)
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (name, result) = match joined {
            Ok(pair) => pair,
            Err(err) => {
                // A stage task itself panicked: stop, the scheduler's state is still sound.
                shared.stop.store(true, Ordering::SeqCst);
                summary.failed += 1;
                tracing::error!("stage task panicked: {err}");
                continue;
            }
        };
        match result {
            Ok(StageResult {
                record,
                cached,
                shards_ran,
            }) => {
                if cached {
                    summary.cached += 1;
                } else {
                    summary.ran += 1;
                    summary.shards_ran += shards_ran;
                }
                records.insert(name.clone(), record);
            }
            Err(error) => {
                summary.failed += 1;
                shared.emit(Event::StageFailed {
                    stage: name.clone(),
                    error,
                });
                incomplete.insert(name);
                if !shared.options.keep_going {
                    shared.stop.store(true, Ordering::SeqCst);
                }
            }
        }
    }
    for (i, stage) in study.stages.iter().enumerate() {
        if !started_stages[i] {
            summary.skipped += 1;
            shared.emit(Event::StageSkipped { stage: stage.name.clone(), reason: "the run stopped after a failure (use --keep-going to continue independent stages)".into() });
        }
    }
    summary.ms = started.elapsed().as_millis() as u64;
    shared.emit(Event::RunFinished(summary.clone()));
    summary
}

struct StageResult {
    record: Record,
    cached: bool,
    shards_ran: usize,
}

async fn run_stage(
    shared: Arc<Shared>,
    index: usize,
    inputs: StageInputs,
) -> Result<StageResult, String> {
    let study = shared.study.clone();
    let stage = &study.stages[index];
    let started = Instant::now();
    let fingerprint = inputs.fingerprint(stage);
    let selected = shared.options.selection.selected(&study, &stage.name);
    let forced = selected && shared.options.selection.forced(&stage.name);
    let store_err = |e: snni_artifacts::StoreError| error_chain(&e);
    if !forced {
        if let Some(record) = shared.store.get(&fingerprint).map_err(store_err)? {
            shared.emit(Event::StageCached {
                stage: stage.name.clone(),
                fingerprint: fingerprint.to_hex(),
            });
            return Ok(StageResult {
                record,
                cached: true,
                shards_ran: 0,
            });
        }
    }
    if !selected {
        return Err(format!(
            "stage `{}` is not selected, and no outputs for its current inputs are in the store; run it first (drop --only/--from, or add it to --only)",
            stage.name
        ));
    }
    let shards = stage
        .kind
        .shards(&inputs.plan_context(stage))
        .map_err(|e| error_chain(&e))?;
    let shard_params = stage.kind.shard_params(&stage.params);
    let mut done: BTreeMap<String, Record> = BTreeMap::new();
    let mut pending = Vec::new();
    for shard in &shards {
        let shard_fp = inputs.shard_fingerprint(stage, &shard_params, shard);
        match shared.store.get(&shard_fp).map_err(store_err)? {
            Some(record) if !forced => {
                done.insert(shard.clone(), record);
            }
            _ => pending.push((shard.clone(), shard_fp)),
        }
    }
    shared.emit(Event::StageStarted {
        stage: stage.name.clone(),
        fingerprint: fingerprint.to_hex(),
        shards: shards.len(),
        resumed: done.len(),
    });

    let inputs = Arc::new(inputs);
    let jobs = u32::try_from(shared.options.jobs.max(1)).unwrap_or(u32::MAX);
    // An exclusive shard takes every slot: nothing else runs while it measures.
    let pending: Vec<(String, snni_artifacts::Digest, u32)> = pending
        .into_iter()
        .map(|(shard, fp)| {
            let slots = if stage.kind.exclusive(&stage.params, &shard) {
                jobs
            } else {
                1
            };
            (shard, fp, slots)
        })
        .collect();
    // One dispatcher takes slots in shard order (the order the kind chose, e.g. run-major
    // for profiles), so shards start in that order; each result comes back on a channel.
    let (results, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let dispatcher = {
        let shared = shared.clone();
        let inputs = inputs.clone();
        let results = results.clone();
        tokio::spawn(async move {
            for (shard, shard_fp, slots) in pending {
                let Ok(permit) = shared.slots.clone().acquire_many_owned(slots).await else {
                    let _ = results.send((shard, Err("the run is shutting down".to_string())));
                    continue;
                };
                if shared.stop.load(Ordering::SeqCst) && !shared.options.keep_going {
                    let not_started = "not started: the run stopped after a failure";
                    let _ = results.send((shard, Err(not_started.to_string())));
                    continue;
                }
                let worker = shared.clone();
                let inputs = inputs.clone();
                let results = results.clone();
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let run = std::panic::AssertUnwindSafe(|| {
                        run_shard(&worker, index, &inputs, &shard, shard_fp)
                    });
                    let result = std::panic::catch_unwind(run)
                        .unwrap_or_else(|_| Err("shard panicked".to_string()));
                    let _ = results.send((shard, result));
                });
            }
        })
    };
    drop(results);
    let mut failures = Vec::new();
    let mut ran = 0;
    while let Some((shard, result)) = finished.recv().await {
        match result {
            Ok(record) => {
                ran += 1;
                let ms = record.meta.get("ms").and_then(|v| v.as_u64()).unwrap_or(0);
                shared.emit(Event::ShardFinished {
                    stage: stage.name.clone(),
                    shard: shard.clone(),
                    ms,
                });
                done.insert(shard, record);
            }
            Err(error) => {
                shared.emit(Event::ShardFailed {
                    stage: stage.name.clone(),
                    shard: shard.clone(),
                    error: error.clone(),
                });
                failures.push(format!("shard `{shard}`: {error}"));
                if !shared.options.keep_going {
                    shared.stop.store(true, Ordering::SeqCst);
                }
            }
        }
    }
    if let Err(error) = dispatcher.await {
        failures.push(format!("the shard dispatcher panicked: {error}"));
    }
    if !failures.is_empty() {
        let message = format!(
            "{} of {} shards failed; first: {}",
            failures.len(),
            shards.len(),
            failures[0]
        );
        let attempts = shared
            .store
            .failure(&fingerprint)
            .ok()
            .flatten()
            .map_or(1, |f| f.attempts + 1);
        if let Err(e) = shared
            .store
            .record_failure(&fingerprint, &Failure::new(message.clone(), attempts))
        {
            tracing::warn!(
                "could not record the failure of stage `{}`: {}",
                stage.name,
                error_chain(&e)
            );
        }
        return Err(message);
    }
    let record = stage_record(stage, fingerprint, &done, started);
    let store = shared.store.clone();
    let state = inputs.state(stage, fingerprint);
    let name = stage.name.clone();
    let commit = record.clone();
    tokio::task::spawn_blocking(move || -> Result<(), snni_artifacts::StoreError> {
        store.commit(&commit)?;
        store.set_stage_state(&name, &state)?;
        store.clear_failure(&commit.fingerprint)
    })
    .await
    .map_err(|e| format!("commit panicked: {e}"))?
    .map_err(store_err)?;
    shared.emit(Event::StageFinished {
        stage: stage.name.clone(),
        ran,
        ms: started.elapsed().as_millis() as u64,
    });
    Ok(StageResult {
        record,
        cached: false,
        shards_ran: ran,
    })
}

/// Runs one shard and commits its outputs; returns the shard record.
fn run_shard(
    shared: &Shared,
    index: usize,
    inputs: &StageInputs,
    shard: &str,
    fingerprint: snni_artifacts::Digest,
) -> Result<Record, String> {
    let stage = &shared.study.stages[index];
    let started = Instant::now();
    let _span = tracing::debug_span!("shard", stage = %stage.name, shard).entered();
    let ctx = ShardContext {
        shard,
        params: &stage.params,
        seed: stage.seed,
        upstream: &inputs.upstream,
        store: &shared.store,
    };
    let outputs = stage.kind.run_shard(&ctx).map_err(|e| error_chain(&e))?;
    let mut record = Record::new(fingerprint, stage.name.clone(), Some(shard.to_string()));
    for (name, data) in outputs.items {
        let output = match data {
            OutputData::Bytes { bytes, media_type } => {
                let digest = shared.store.put_blob(&bytes).map_err(|e| error_chain(&e))?;
                Output::blob(digest, bytes.len() as u64, media_type)
            }
            OutputData::Table(mut frame) => {
                let table_name = format!("{}-{}-{}", stage.name, shard, name);
                Output::Table(
                    shared
                        .store
                        .write_table(&table_name, &mut frame)
                        .map_err(|e| error_chain(&e))?,
                )
            }
        };
        record = record.with_output(name, output);
    }
    record.meta = serde_json::json!({ "ms": started.elapsed().as_millis() as u64 });
    shared.store.commit(&record).map_err(|e| error_chain(&e))?;
    tracing::debug!("committed in {:?}", started.elapsed());
    Ok(record)
}

/// The stage record: every shard's outputs, named `shard/output`.
fn stage_record(
    stage: &StageDecl,
    fingerprint: snni_artifacts::Digest,
    shards: &BTreeMap<String, Record>,
    started: Instant,
) -> Record {
    let mut record = Record::new(fingerprint, stage.name.clone(), None);
    for (shard, shard_record) in shards {
        for (name, output) in &shard_record.outputs {
            record = record.with_output(format!("{shard}/{name}"), output.clone());
        }
    }
    record.meta = serde_json::json!({
        "kind": stage.kind.name(),
        "version": stage.kind.version(),
        "shards": shards.len(),
        "ms": started.elapsed().as_millis() as u64,
    });
    record
}

pub use snni_stages::error_chain;
