//! The scheduler: runs a study's stages as a DAG and commits every shard as it finishes,
//! so an interrupted run resumes where it stopped. Which machine runs a stage's shards is
//! the executor's business ([`super::local`] on this one, [`crate::slurm`] on a cluster);
//! the scheduler plans shards, collects their outcomes and commits the stage record.
//!
//! Stage tasks live on the async runtime only to wait and coordinate; shard work runs on
//! blocking threads (or cluster nodes), since it is CPU-bound.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use snni_artifacts::{Digest, Failure, Record, Store, StoreError};
use snni_stages::{error_chain, Reservation};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use super::cpu_pool::CpuPool;
use super::events::{Event, EventSender, Summary};
use super::failure::RunFailure;
use crate::manifest::{ExecutorConfig, StageDecl, Study};
use crate::plan::{Selection, StageInputs};

/// How to run a study.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Shards running at once on this machine, across all stages.
    pub jobs: usize,
    /// Which stages to run or force.
    pub selection: Selection,
    /// Keep running independent stages after a failure.
    pub keep_going: bool,
    /// Where shards run.
    pub executor: ExecutorConfig,
}

/// What every stage task of a run shares. Stages share no mutable state but the stop flag.
pub(crate) struct Shared {
    pub(crate) study: Arc<Study>,
    pub(crate) store: Store,
    pub(crate) options: RunOptions,
    pub(crate) pool: Arc<CpuPool>,
    stop: AtomicBool,
    events: EventSender,
}

impl Shared {
    pub(crate) fn emit(&self, event: Event) {
        // A closed receiver only means nobody listens any more.
        let _ = self.events.send(event);
    }

    /// Whether new shards should still start.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) && !self.options.keep_going
    }

    /// Asks that no new shard start (ignored under `--keep-going`).
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One shard to run: its key, fingerprint and the CPUs it needs.
#[derive(Debug, Clone)]
pub(crate) struct PendingShard {
    pub(crate) shard: String,
    pub(crate) fingerprint: Digest,
    pub(crate) reservation: Reservation,
}

/// How a shard ended.
#[derive(Debug)]
pub(crate) enum ShardOutcome {
    /// Its record is committed.
    Done(Box<Record>),
    /// It failed.
    Failed(RunFailure),
    /// It never started because the run is stopping.
    NotStarted,
}

/// Where executors send each shard's outcome.
pub(crate) type Outcomes = UnboundedSender<(String, ShardOutcome)>;

/// Runs `study` against `store` and returns the totals. Events go to `events`.
pub async fn run_study(
    study: Arc<Study>,
    store: Store,
    options: RunOptions,
    events: EventSender,
) -> Summary {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        pool: CpuPool::for_this_machine(options.jobs),
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
        executor: shared.options.executor.name().to_string(),
    });
    let mut summary = Summary::default();
    // Stages that failed or were skipped: their downstream stages are skipped too.
    let mut incomplete: HashSet<String> = HashSet::new();
    let mut records: HashMap<String, Record> = HashMap::new();
    let mut started_stages: Vec<bool> = vec![false; study.stages.len()];
    let mut running: JoinSet<(String, Result<StageResult, StageFailure>)> = JoinSet::new();
    // Task id → stage name, to name a stage whose task panicked.
    let mut names: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        for (i, stage) in study.stages.iter().enumerate() {
            if started_stages[i] {
                continue;
            }
            let skip = if !shared.options.selection.in_scope(&study, &stage.name) {
                // Downstream of or beside what --only/--from selected: not this run's work.
                Some("not selected (--only/--from)".to_string())
            } else {
                stage
                    .needs
                    .iter()
                    .find(|n| incomplete.contains(*n))
                    .map(|need| format!("upstream `{need}` did not complete"))
            };
            if let Some(reason) = skip {
                started_stages[i] = true;
                summary.skipped += 1;
                incomplete.insert(stage.name.clone());
                shared.emit(Event::StageSkipped {
                    stage: stage.name.clone(),
                    reason,
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
                let handle = running.spawn(async move {
                    let result = run_stage(shared, i, inputs).await;
                    (name, result)
                });
                names.insert(handle.id(), stage.name.clone());
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (name, result) = match joined {
            Ok(pair) => pair,
            Err(err) => {
                // A stage task itself panicked: stop, the scheduler's state is still sound.
                let name = names.get(&err.id()).cloned().unwrap_or_default();
                (
                    name,
                    Err(StageFailure::Failed(RunFailure::Panicked {
                        what: "the stage",
                        message: panic_text(err),
                    })),
                )
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
            Err(StageFailure::Incomplete { reason }) => {
                summary.skipped += 1;
                shared.emit(Event::StageSkipped {
                    stage: name.clone(),
                    reason,
                });
                incomplete.insert(name);
            }
            Err(StageFailure::Failed(failure)) => {
                summary.failed += 1;
                if failure.is_store() {
                    summary.store_errors += 1;
                }
                shared.emit(Event::StageFailed {
                    stage: name.clone(),
                    error: failure.message(),
                });
                incomplete.insert(name);
                if !shared.options.keep_going {
                    shared.request_stop();
                }
            }
        }
    }
    for (i, stage) in study.stages.iter().enumerate() {
        if !started_stages[i] {
            summary.skipped += 1;
            shared.emit(Event::StageSkipped {
                stage: stage.name.clone(),
                reason:
                    "the run stopped after a failure (use --keep-going to continue independent stages)"
                        .into(),
            });
        }
    }
    summary.ms = started.elapsed().as_millis() as u64;
    shared.emit(Event::RunFinished(summary.clone()));
    summary
}

/// The text of a panicked task's payload.
fn panic_text(err: tokio::task::JoinError) -> String {
    match err.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string()),
        Err(err) => err.to_string(),
    }
}

struct StageResult {
    record: Record,
    cached: bool,
    shards_ran: usize,
}

/// Why a stage did not complete.
enum StageFailure {
    /// It failed (a store failure makes the run exit with code 5).
    Failed(RunFailure),
    /// Some shards never started because the run stopped after a failure elsewhere.
    Incomplete { reason: String },
}

impl From<RunFailure> for StageFailure {
    fn from(failure: RunFailure) -> Self {
        StageFailure::Failed(failure)
    }
}

impl From<StoreError> for StageFailure {
    fn from(error: StoreError) -> Self {
        StageFailure::Failed(error.into())
    }
}

impl From<snni_stages::StageError> for StageFailure {
    fn from(error: snni_stages::StageError) -> Self {
        StageFailure::Failed(error.into())
    }
}

async fn run_stage(
    shared: Arc<Shared>,
    index: usize,
    inputs: StageInputs,
) -> Result<StageResult, StageFailure> {
    let study = shared.study.clone();
    let stage = &study.stages[index];
    let started = Instant::now();
    let fingerprint = inputs.fingerprint(stage);
    let selected = shared.options.selection.selected(&study, &stage.name);
    let forced = selected && shared.options.selection.forced(&stage.name);
    if !forced {
        if let Some(record) = shared.store.get(&fingerprint)? {
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
        return Err(RunFailure::NotRunnable(format!(
            "stage `{}` is not selected, and no outputs for its current inputs are in the store; run it first (drop --only/--from, or add it to --only)",
            stage.name
        ))
        .into());
    }
    let shards = stage.kind.shards(&inputs.plan_context(stage))?;
    let shard_params = stage.kind.shard_params(&stage.params);
    let mut done: BTreeMap<String, Record> = BTreeMap::new();
    let mut pending = Vec::new();
    for shard in &shards {
        let shard_fp = inputs.shard_fingerprint(stage, &shard_params, shard);
        match shared.store.get(&shard_fp)? {
            Some(record) if !forced => {
                done.insert(shard.clone(), record);
            }
            _ => pending.push(PendingShard {
                reservation: stage.kind.reservation(&stage.params, shard),
                shard: shard.clone(),
                fingerprint: shard_fp,
            }),
        }
    }
    shared.emit(Event::StageStarted {
        stage: stage.name.clone(),
        fingerprint: fingerprint.to_hex(),
        shards: shards.len(),
        resumed: done.len(),
    });

    let inputs = Arc::new(inputs);
    let (outcomes, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let executor = match &shared.options.executor {
        ExecutorConfig::Slurm(config)
            if !stage.kind.runs_on_coordinator() && !pending.is_empty() =>
        {
            tokio::spawn(crate::slurm::run_remote(
                shared.clone(),
                index,
                inputs.clone(),
                (**config).clone(),
                fingerprint,
                pending,
                outcomes,
            ))
        }
        _ => tokio::spawn(super::local::dispatch(
            shared.clone(),
            index,
            inputs.clone(),
            pending,
            outcomes,
        )),
    };
    // Failed shards in the order they failed, and the first store failure among them.
    let mut failures: Vec<(String, RunFailure)> = Vec::new();
    let mut first_store: Option<usize> = None;
    let mut not_started = 0;
    let mut ran = 0;
    while let Some((shard, outcome)) = finished.recv().await {
        match outcome {
            ShardOutcome::Done(record) => {
                ran += 1;
                let ms = record.meta.get("ms").and_then(|v| v.as_u64()).unwrap_or(0);
                shared.emit(Event::ShardFinished {
                    stage: stage.name.clone(),
                    shard: shard.clone(),
                    ms,
                });
                done.insert(shard, *record);
            }
            ShardOutcome::Failed(failure) => {
                shared.emit(Event::ShardFailed {
                    stage: stage.name.clone(),
                    shard: shard.clone(),
                    error: failure.message(),
                });
                if failure.is_store() && first_store.is_none() {
                    first_store = Some(failures.len());
                }
                failures.push((shard, failure));
                if !shared.options.keep_going {
                    shared.request_stop();
                }
            }
            ShardOutcome::NotStarted => not_started += 1,
        }
    }
    if let Err(error) = executor.await {
        failures.push((
            "(executor)".to_string(),
            RunFailure::Panicked {
                what: "the shard executor",
                message: panic_text(error),
            },
        ));
    }
    if !failures.is_empty() {
        let failed = failures.len();
        let (shard, cause) = failures.swap_remove(first_store.unwrap_or(0));
        let failure = RunFailure::Shards {
            failed,
            total: shards.len(),
            shard,
            cause: Box::new(cause),
        };
        let message = failure.message();
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
            // When the store itself failed, this is the same cause again: said once above.
            if failure.is_store() {
                tracing::debug!(
                    "could not record the failure of stage `{}`: {}",
                    stage.name,
                    error_chain(&e)
                );
            } else {
                tracing::warn!(
                    "could not record the failure of stage `{}`: {}",
                    stage.name,
                    error_chain(&e)
                );
            }
        }
        return Err(StageFailure::Failed(failure));
    }
    if not_started > 0 {
        return Err(StageFailure::Incomplete {
            reason: format!(
                "{not_started} of {} shards not started: the run stopped after a failure elsewhere (`snni run` again resumes)",
                shards.len()
            ),
        });
    }
    let record = stage_record(stage, fingerprint, &done, started);
    let store = shared.store.clone();
    let state = inputs.state(stage, fingerprint);
    let name = stage.name.clone();
    let commit = record.clone();
    tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
        store.commit(&commit)?;
        store.set_stage_state(&name, &state)?;
        store.clear_failure(&commit.fingerprint)
    })
    .await
    .map_err(|e| RunFailure::Panicked {
        what: "the commit",
        message: panic_text(e),
    })??;
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

/// The stage record: every shard's outputs, named `shard/output`.
fn stage_record(
    stage: &StageDecl,
    fingerprint: Digest,
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
