//! The coordinator of one stage on Slurm: it spools the stage's context and inputs,
//! submits its shards as job arrays, and then, every poll, ingests what nodes finished,
//! reads failure markers, asks `squeue` once about all of the study's tasks, counts a task
//! that left the queue without a result for `lost_after` as lost, and resubmits failed
//! and lost shards up to `resubmits` times. Submissions are journaled in the store, so a
//! coordinator started again reattaches to live tasks instead of submitting twice.
//!
//! It runs on a blocking thread: its work is file I/O, store commits and child processes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use snni_artifacts::{Digest, Output, Store};
use snni_stages::Reservation;

use super::bundle::{arrays, bundle};
use super::commands::{self, Sbatch, Squeue, TaskState};
use super::exe::exe_identity;
use super::ingest::{ingest, IngestError};
use super::spec::{
    unix_ms, ExeIdentity, StageContext, TaskId, TaskShard, TaskSpec, UpstreamRecord, SPOOL_FORMAT,
};
use super::spool::{write_atomic, Spool};
use snni_stages::error_chain;

use crate::exec::{Event, Outcomes, PendingShard, RunFailure, ShardOutcome, Shared};
use crate::manifest::{SlurmConfig, StageDecl};
use crate::plan::StageInputs;

/// Attempts of a failing `sbatch` before the submission is given up.
const SBATCH_ATTEMPTS: u32 = 5;
/// Used when `scontrol show config` does not say.
const DEFAULT_MAX_ARRAY_SIZE: u32 = 1001;

/// One submission, as journaled under `slurm/<stage fingerprint>/jobs/<job id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    /// The array's job id.
    pub job: String,
    /// The stage.
    pub stage: String,
    /// The batch folder in the spool.
    pub batch: PathBuf,
    /// When, in milliseconds since the Unix epoch.
    pub submitted_unix_ms: u64,
    /// Array index → its shards (the index map).
    pub tasks: Vec<Vec<TaskShard>>,
}

/// The journal prefix of a stage's submissions.
pub fn journal_prefix(stage_fingerprint: &Digest) -> String {
    format!("slurm/{}/jobs/", stage_fingerprint.to_hex())
}

/// The job name every job of a study carries: `snni-<study>-<8 hex of the store path>`.
pub fn job_name(study: &str, store: &std::path::Path) -> String {
    let clean: String = study
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let store = std::path::absolute(store).unwrap_or_else(|_| store.to_path_buf());
    let hash = Digest::of(store.display().to_string().as_bytes()).to_hex();
    format!("snni-{clean}-{}", &hash[..8])
}

/// Runs `pending` shards of stage `index` on Slurm; every shard's outcome goes to
/// `outcomes`.
pub(crate) async fn run_remote(
    shared: Arc<Shared>,
    index: usize,
    inputs: Arc<StageInputs>,
    config: SlurmConfig,
    stage_fingerprint: Digest,
    pending: Vec<PendingShard>,
    outcomes: Outcomes,
) {
    let keys: Vec<String> = pending.iter().map(|p| p.shard.clone()).collect();
    let result = tokio::task::spawn_blocking({
        let outcomes = outcomes.clone();
        move || {
            let mut coordinator = Coordinator::new(
                &shared,
                index,
                &inputs,
                config,
                stage_fingerprint,
                pending,
                &outcomes,
            )?;
            coordinator.run()
        }
    })
    .await;
    let message = match result {
        Ok(Ok(())) => return,
        Ok(Err(message)) => message,
        Err(error) => format!("the cluster coordinator panicked: {error}"),
    };
    // The coordinator could not go on: every shard it had not settled fails with why.
    for shard in keys {
        let _ = outcomes.send((
            shard,
            ShardOutcome::Failed(RunFailure::Cluster(message.clone())),
        ));
    }
}

/// A shard the coordinator still has to settle.
#[derive(Debug)]
struct Track {
    key: String,
    reservation: Reservation,
    /// Submissions so far.
    attempts: u32,
    /// The task it was last submitted to.
    task: Option<TaskId>,
    /// When its task was first seen missing from squeue.
    missing_since: Option<Instant>,
    /// Waiting for a (re)submission.
    needs_submit: bool,
    /// Why its last attempt failed.
    last_error: Option<String>,
}

struct Coordinator<'a> {
    shared: &'a Shared,
    stage: &'a StageDecl,
    inputs: &'a StageInputs,
    config: SlurmConfig,
    stage_fingerprint: Digest,
    outcomes: &'a Outcomes,
    spool: Spool,
    exe: ExeIdentity,
    job_name: String,
    max_array_size: u32,
    /// Outstanding shards by fingerprint, in the kind's order.
    tracks: BTreeMap<Digest, Track>,
    order: Vec<Digest>,
    /// Every fingerprint this stage submitted in this run (their stray results are ours).
    ours: BTreeSet<Digest>,
    /// Measured durations of shards ingested so far, to size bundles.
    measured_ms: Vec<u64>,
    /// Live job ids of this stage.
    jobs: BTreeSet<String>,
    done: usize,
    /// The last squeue listing.
    last_queue: HashMap<TaskId, TaskState>,
    last_progress: Option<(usize, usize, BTreeMap<String, usize>, usize)>,
    /// Polls made and squeue calls run, logged when the stage ends (one call per poll at
    /// most, whatever the number of tasks).
    polls: u64,
    squeue_calls: u64,
}

impl<'a> Coordinator<'a> {
    fn new(
        shared: &'a Shared,
        index: usize,
        inputs: &'a StageInputs,
        config: SlurmConfig,
        stage_fingerprint: Digest,
        pending: Vec<PendingShard>,
        outcomes: &'a Outcomes,
    ) -> Result<Coordinator<'a>, String> {
        let stage = &shared.study.stages[index];
        let spool_dir = config.spool_dir(&shared.study.store);
        let spool = Spool::create(&spool_dir).map_err(|e| {
            format!(
                "cannot create the spool {}: {e} (set `executor.spool` to a folder every node sees)",
                spool_dir.display()
            )
        })?;
        let exe = exe_identity().map_err(|e| format!("cannot identify the snni binary: {e}"))?;
        let job_name = job_name(&shared.study.name, &shared.study.store);
        let max_array_size = commands::show_config()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .ok()
            .and_then(|out| commands::parse_max_array_size(&String::from_utf8_lossy(&out.stdout)))
            .unwrap_or(DEFAULT_MAX_ARRAY_SIZE);
        let order: Vec<Digest> = pending.iter().map(|p| p.fingerprint).collect();
        let tracks = pending
            .into_iter()
            .map(|p| {
                (
                    p.fingerprint,
                    Track {
                        key: p.shard,
                        reservation: p.reservation,
                        attempts: 0,
                        task: None,
                        missing_since: None,
                        needs_submit: true,
                        last_error: None,
                    },
                )
            })
            .collect();
        Ok(Coordinator {
            ours: order.iter().copied().collect(),
            shared,
            stage,
            inputs,
            config,
            stage_fingerprint,
            outcomes,
            spool,
            exe,
            job_name,
            max_array_size,
            tracks,
            order,
            measured_ms: Vec::new(),
            jobs: BTreeSet::new(),
            done: 0,
            last_queue: HashMap::new(),
            last_progress: None,
            polls: 0,
            squeue_calls: 0,
        })
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    fn run(&mut self) -> Result<(), String> {
        self.write_context()?;
        self.reattach()?;
        let mut interval = self.config.poll;
        loop {
            self.polls += 1;
            let mut changed = self.ingest_done();
            changed |= self.read_failures();
            changed |= self.check_queue();
            changed |= self.settle_failures();
            if self.tracks.is_empty() {
                tracing::info!(
                    stage = %self.stage.name,
                    polls = self.polls,
                    squeue_calls = self.squeue_calls,
                    "stage settled on the cluster"
                );
                return Ok(());
            }
            if self.shared.stopping() {
                self.leave_running();
                return Ok(());
            }
            changed |= self.submit()?;
            self.progress();
            interval = if changed {
                self.config.poll
            } else {
                (interval * 2).min(self.config.max_poll)
            };
            self.sleep(interval);
        }
    }

    /// Sleeps, waking early when the run is stopping.
    fn sleep(&self, interval: Duration) {
        let until = Instant::now() + interval;
        while Instant::now() < until && !self.shared.stopping() {
            std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
        }
    }

    /// Writes the stage context and copies the inputs its shards read into the spool.
    fn write_context(&self) -> Result<(), String> {
        let context = StageContext {
            format: SPOOL_FORMAT,
            study: self.shared.study.name.clone(),
            stage: self.stage.name.clone(),
            kind: self.stage.kind.name().to_string(),
            kind_version: self.stage.kind.version(),
            params: self.stage.params.clone(),
            seed: self.stage.seed,
            upstream: self
                .inputs
                .upstream
                .iter()
                .map(|u| UpstreamRecord {
                    name: u.name.clone(),
                    kind: u.kind.clone(),
                    record: u.record.clone(),
                })
                .collect(),
        };
        let path = self
            .spool
            .path(&Spool::context_file(&self.stage_fingerprint));
        let json = serde_json::to_vec_pretty(&context).map_err(|e| e.to_string())?;
        write_atomic(&path, &json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        // The outputs the shards read: those the kind names per shard, or everything
        // upstream when it reads all of it.
        let plan = self.inputs.plan_context(self.stage);
        let mut wanted: BTreeSet<Digest> = BTreeSet::new();
        let mut all = false;
        for track in self.tracks.values() {
            match self.stage.kind.shard_upstream(&plan, &track.key) {
                Some(digests) => wanted.extend(digests.into_values()),
                None => all = true,
            }
        }
        let objects = self.spool.objects();
        std::fs::create_dir_all(objects.dir()).map_err(|e| e.to_string())?;
        for upstream in &self.inputs.upstream {
            for output in upstream.record.outputs.values() {
                if !all && !wanted.contains(&output.digest()) {
                    continue;
                }
                let copied = match output {
                    Output::Blob { digest, .. } => self
                        .store()
                        .get_blob(digest)
                        .and_then(|bytes| objects.put(&bytes).map(drop)),
                    Output::Table(table) => {
                        objects.put_file(&self.store().table_path(table), &table.digest)
                    }
                };
                copied.map_err(|e| {
                    format!(
                        "cannot copy an input of `{}` to the spool: {}",
                        self.stage.name,
                        error_chain(&e)
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Reads earlier submissions of this stage from the journal: shards whose task is still
    /// queued or running are not submitted again.
    fn reattach(&mut self) -> Result<(), String> {
        let entries = self
            .store()
            .journal_entries(&journal_prefix(&self.stage_fingerprint))
            .map_err(|e| error_chain(&e))?;
        let mut submissions: Vec<Submission> = entries
            .into_iter()
            .filter_map(|(_, value)| serde_json::from_value(value).ok())
            .collect();
        submissions.sort_by_key(|s| s.submitted_unix_ms);
        for submission in submissions {
            for (index, shards) in submission.tasks.iter().enumerate() {
                for shard in shards {
                    if let Some(track) = self.tracks.get_mut(&shard.fingerprint) {
                        track.attempts += 1;
                        track.task = Some(TaskId {
                            job: submission.job.clone(),
                            index: index as u32,
                        });
                        track.needs_submit = false;
                        track.missing_since = None;
                    }
                }
            }
            self.jobs.insert(submission.job.clone());
        }
        let reattached = self.tracks.values().filter(|t| t.task.is_some()).count();
        if reattached > 0 {
            tracing::info!(
                stage = %self.stage.name,
                shards = reattached,
                "reattached to earlier submissions"
            );
        }
        Ok(())
    }

    /// Ingests finished shards from `done/`; drops duplicates and rejects damaged ones.
    fn ingest_done(&mut self) -> bool {
        let entries = match self.spool.list_done() {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, "cannot list the spool's done/ folder");
                return false;
            }
        };
        let mut changed = false;
        for entry in entries {
            if !self.ours.contains(&entry.fingerprint) {
                continue;
            }
            let Some(track) = self.tracks.get(&entry.fingerprint) else {
                // Already ingested: a requeued or restarted task finished it again.
                tracing::info!(task = %entry.task, "dropped a duplicate result");
                let _ = self.spool.remove_done(&entry);
                continue;
            };
            let key = track.key.clone();
            match ingest(
                self.store(),
                &self.stage.name,
                &key,
                &entry.fingerprint,
                &entry.path,
            ) {
                Ok(record) => {
                    if let Some(ms) = record.meta.get("ms").and_then(|v| v.as_u64()) {
                        self.measured_ms.push(ms);
                    }
                    self.tracks.remove(&entry.fingerprint);
                    self.done += 1;
                    let _ = self.spool.remove_done(&entry);
                    let _ = self
                        .outcomes
                        .send((key, ShardOutcome::Done(Box::new(record))));
                    changed = true;
                }
                Err(IngestError::Corrupt { reason, .. }) => {
                    let kept = self.spool.reject(&entry);
                    tracing::warn!(shard = %key, %reason, ?kept, "rejected a damaged result; the shard runs again");
                    let track = self.tracks.get_mut(&entry.fingerprint).expect("tracked");
                    track.last_error = Some(format!("its result was damaged: {reason}"));
                    track.task = None;
                    changed = true;
                }
                Err(IngestError::Store(error)) => {
                    self.tracks.remove(&entry.fingerprint);
                    let _ = self
                        .outcomes
                        .send((key, ShardOutcome::Failed(RunFailure::Store(error))));
                    changed = true;
                }
            }
        }
        changed
    }

    /// Reads `failed/` markers of the shards' current tasks.
    fn read_failures(&mut self) -> bool {
        let markers = match self.spool.list_failed() {
            Ok(markers) => markers,
            Err(error) => {
                tracing::warn!(%error, "cannot list the spool's failed/ folder");
                return false;
            }
        };
        let mut changed = false;
        for (path, marker) in markers {
            if !self.ours.contains(&marker.fingerprint) {
                continue;
            }
            if let Some(track) = self.tracks.get_mut(&marker.fingerprint) {
                let current = track
                    .task
                    .as_ref()
                    .is_some_and(|t| marker.task.starts_with(&format!("{}.", t.label())));
                if current {
                    track.last_error = Some(format!(
                        "task {} on {}: {}",
                        marker.task, marker.host, marker.reason
                    ));
                    track.task = None;
                    if marker.permanent {
                        track.attempts = u32::MAX;
                    }
                    changed = true;
                }
            }
            let _ = self.spool.mark_handled(&path);
        }
        changed
    }

    /// One squeue call for all of the study's tasks: marks shards whose task left the
    /// queue without a result for `lost_after` as lost.
    fn check_queue(&mut self) -> bool {
        if self.tracks.values().all(|t| t.task.is_none()) {
            return false;
        }
        self.squeue_calls += 1;
        let listed = Squeue {
            job_name: self.job_name.clone(),
        }
        .expression()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run();
        let queue = match listed {
            Ok(out) if out.status.success() => {
                commands::parse_squeue(&String::from_utf8_lossy(&out.stdout))
            }
            Ok(out) => {
                tracing::warn!(
                    "squeue failed ({}): {}; trying again at the next poll",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                return false;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot run squeue; trying again at the next poll");
                return false;
            }
        };
        let now = Instant::now();
        let lost_after = self.config.lost_after;
        let mut lost: Vec<(Digest, TaskId, Option<String>)> = Vec::new();
        for (fingerprint, track) in &mut self.tracks {
            let Some(task) = &track.task else { continue };
            match queue.get(task) {
                Some(TaskState::Pending(_) | TaskState::Running) => track.missing_since = None,
                Some(TaskState::Ended(state)) => {
                    let since = *track.missing_since.get_or_insert(now);
                    if now - since >= lost_after {
                        lost.push((*fingerprint, task.clone(), Some(state.clone())));
                    }
                }
                None => {
                    let since = *track.missing_since.get_or_insert(now);
                    if now - since >= lost_after {
                        lost.push((*fingerprint, task.clone(), None));
                    }
                }
            }
        }
        let unnamed: Vec<TaskId> = lost
            .iter()
            .filter(|(_, _, state)| state.is_none())
            .map(|(_, task, _)| task.clone())
            .collect();
        let accounted = if unnamed.is_empty() {
            HashMap::new()
        } else {
            sacct_states(&unnamed)
        };
        let changed = !lost.is_empty();
        for (fingerprint, task, state) in lost {
            let state = state
                .or_else(|| accounted.get(&task.label()).cloned())
                .unwrap_or_else(|| "unknown: accounting is off or has forgotten it".to_string());
            let track = self.tracks.get_mut(&fingerprint).expect("tracked");
            tracing::warn!(shard = %track.key, task = %task.label(), %state, "task lost: it left the queue without a result");
            track.last_error = Some(format!(
                "task {} left the queue without a result for {:?} (Slurm state: {state}); counted as lost",
                task.label(),
                lost_after
            ));
            track.task = None;
        }
        self.jobs = queue
            .iter()
            .filter(|(_, state)| !matches!(state, TaskState::Ended(_)))
            .map(|(task, _)| task.job.clone())
            .collect();
        self.last_queue = queue;
        changed
    }

    /// Shards whose last attempt failed: resubmitted while attempts remain, failed for
    /// good otherwise.
    fn settle_failures(&mut self) -> bool {
        let mut changed = false;
        let failed: Vec<Digest> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.task.is_none() && !t.needs_submit)
            .map(|(fp, _)| *fp)
            .collect();
        for fingerprint in failed {
            let track = self.tracks.get_mut(&fingerprint).expect("tracked");
            if track.attempts > self.config.resubmits {
                let track = self.tracks.remove(&fingerprint).expect("tracked");
                let why = track.last_error.unwrap_or_else(|| "it failed".to_string());
                let tries = if track.attempts == u32::MAX {
                    "not resubmitted (retrying cannot help)".to_string()
                } else {
                    format!("after {} submissions", track.attempts)
                };
                let _ = self.outcomes.send((
                    track.key,
                    ShardOutcome::Failed(RunFailure::Cluster(format!("{why}; {tries}"))),
                ));
            } else {
                track.needs_submit = true;
            }
            changed = true;
        }
        changed
    }

    /// Submits every shard waiting for a submission, as few arrays as the limits allow.
    fn submit(&mut self) -> Result<bool, String> {
        let waiting: Vec<Digest> = self
            .order
            .iter()
            .copied()
            .filter(|fp| self.tracks.get(fp).is_some_and(|t| t.needs_submit))
            .collect();
        if waiting.is_empty() {
            return Ok(false);
        }
        // Shaped (pinned or exclusive) shards go to arrays of their own.
        let (shaped, plain): (Vec<Digest>, Vec<Digest>) = waiting
            .into_iter()
            .partition(|fp| !self.tracks[fp].reservation.is_shared());
        for (group, is_shaped) in [(plain, false), (shaped, true)] {
            if group.is_empty() {
                continue;
            }
            let seconds: Vec<f64> = group.iter().map(|fp| self.expected_seconds(fp)).collect();
            let tasks: Vec<Vec<Digest>> = bundle(&seconds, self.config.bundle_minutes)
                .into_iter()
                .map(|indices| indices.into_iter().map(|i| group[i]).collect())
                .collect();
            for array in arrays(tasks, self.max_array_size) {
                self.submit_array(array, is_shaped)?;
            }
        }
        Ok(true)
    }

    /// A shard's expected duration: the median of this stage's measured shards, else the
    /// kind's guess.
    fn expected_seconds(&self, fingerprint: &Digest) -> f64 {
        if !self.measured_ms.is_empty() {
            let mut sorted = self.measured_ms.clone();
            sorted.sort_unstable();
            return sorted[sorted.len() / 2] as f64 / 1000.0;
        }
        self.stage
            .kind
            .expected_shard_seconds(&self.stage.params, &self.tracks[fingerprint].key)
    }

    fn submit_array(&mut self, tasks: Vec<Vec<Digest>>, shaped: bool) -> Result<(), String> {
        let spool_error = |e: std::io::Error| format!("cannot write the batch to the spool: {e}");
        let batch = self
            .spool
            .new_batch(&self.stage.name)
            .map_err(spool_error)?;
        let index_map: Vec<Vec<TaskShard>> = tasks
            .iter()
            .map(|task| {
                task.iter()
                    .map(|fp| TaskShard {
                        shard: self.tracks[fp].key.clone(),
                        fingerprint: *fp,
                    })
                    .collect()
            })
            .collect();
        for (i, shards) in index_map.iter().enumerate() {
            let spec = TaskSpec {
                format: SPOOL_FORMAT,
                spool: self.spool.dir().to_path_buf(),
                context: Spool::context_file(&self.stage_fingerprint),
                exe: self.exe.clone(),
                shards: shards.clone(),
            };
            let json = serde_json::to_vec_pretty(&spec).map_err(|e| e.to_string())?;
            write_atomic(&batch.join("tasks").join(format!("{i}.json")), &json)
                .map_err(spool_error)?;
        }
        let script = batch.join("submit.sh");
        write_atomic(
            &script,
            commands::batch_script(&self.exe.path, &batch).as_bytes(),
        )
        .map_err(spool_error)?;
        let logs = self.spool.log_dir(&self.stage.name).map_err(spool_error)?;
        let sbatch = Sbatch {
            script,
            job_name: self.job_name.clone(),
            tasks: index_map.len(),
            max_concurrent: self.config.max_concurrent,
            output: logs.join("%A_%a.out"),
            options: self.sbatch_options(shaped),
        };
        let job = self.run_sbatch(&sbatch)?;
        let _ = write_atomic(&batch.join("job"), job.as_bytes());
        let submission = Submission {
            job: job.clone(),
            stage: self.stage.name.clone(),
            batch,
            submitted_unix_ms: unix_ms(),
            tasks: index_map,
        };
        self.store()
            .put_journal(
                &format!("{}{job}", journal_prefix(&self.stage_fingerprint)),
                &serde_json::to_value(&submission).map_err(|e| e.to_string())?,
            )
            .map_err(|e| {
                format!(
                    "submitted job {job} but cannot journal it: {}",
                    error_chain(&e)
                )
            })?;
        let shards: usize = submission.tasks.iter().map(Vec::len).sum();
        for (index, task) in submission.tasks.iter().enumerate() {
            for shard in task {
                let track = self.tracks.get_mut(&shard.fingerprint).expect("tracked");
                track.attempts += 1;
                track.task = Some(TaskId {
                    job: job.clone(),
                    index: index as u32,
                });
                track.needs_submit = false;
                track.missing_since = None;
            }
        }
        self.jobs.insert(job.clone());
        self.shared.emit(Event::ShardsSubmitted {
            stage: self.stage.name.clone(),
            job,
            tasks: submission.tasks.len(),
            shards,
        });
        Ok(())
    }

    fn sbatch_options(&self, shaped: bool) -> Vec<String> {
        let sbatch = &self.config.sbatch;
        let mut options = Vec::new();
        let mut add = |flag: &str, value: &Option<String>| {
            if let Some(value) = value {
                options.push(format!("--{flag}={value}"));
            }
        };
        add("partition", &sbatch.partition);
        add("account", &sbatch.account);
        add("qos", &sbatch.qos);
        add("time", &sbatch.time);
        add("mem", &sbatch.mem);
        let constraint = if shaped {
            self.config
                .shaped
                .constraint
                .clone()
                .or(sbatch.constraint.clone())
        } else {
            sbatch.constraint.clone()
        };
        add("constraint", &constraint);
        if let Some(cpus) = sbatch.cpus_per_task {
            options.push(format!("--cpus-per-task={cpus}"));
        }
        if shaped && self.config.shaped.exclusive {
            options.push("--exclusive".to_string());
        }
        options.extend(self.config.extra.iter().cloned());
        options
    }

    /// Runs sbatch, retrying a failure with backoff; returns the job id.
    fn run_sbatch(&self, sbatch: &Sbatch) -> Result<String, String> {
        let mut last = String::new();
        for attempt in 1..=SBATCH_ATTEMPTS {
            let output = sbatch
                .expression()
                .stdout_capture()
                .stderr_capture()
                .unchecked()
                .run();
            match output {
                Ok(out) if out.status.success() => {
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    if let Some(job) = commands::parse_job_id(&stdout) {
                        return Ok(job);
                    }
                    last = format!("sbatch printed no job id: {}", stdout.trim());
                }
                Ok(out) => {
                    last = format!(
                        "sbatch failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
                Err(error) => {
                    last = format!("cannot run sbatch: {error} (is Slurm installed and on PATH?)")
                }
            }
            tracing::warn!(attempt, "{last}; retrying");
            if attempt < SBATCH_ATTEMPTS {
                std::thread::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1)));
            }
        }
        Err(format!("{last} (after {SBATCH_ATTEMPTS} attempts)"))
    }

    /// Emits where the stage stands, when that changed.
    fn progress(&mut self) {
        let mut running = 0;
        let mut pending: BTreeMap<String, usize> = BTreeMap::new();
        let mut retrying = 0;
        for track in self.tracks.values() {
            match (
                &track.task,
                track.task.as_ref().and_then(|t| self.last_queue.get(t)),
            ) {
                (_, Some(TaskState::Running)) => running += 1,
                (_, Some(TaskState::Pending(reason))) => {
                    *pending.entry(reason.clone()).or_default() += 1
                }
                // Ended without a result yet: the result may still be on its way.
                (_, Some(TaskState::Ended(_))) => running += 1,
                (Some(_), None) => *pending.entry("Submitted".to_string()).or_default() += 1,
                (None, None) => retrying += 1,
            }
        }
        let snapshot = (self.done, running, pending.clone(), retrying);
        if self.last_progress.as_ref() == Some(&snapshot) {
            return;
        }
        self.last_progress = Some(snapshot);
        self.shared.emit(Event::ClusterProgress {
            stage: self.stage.name.clone(),
            done: self.done,
            running,
            pending,
            retrying,
            jobs: self.jobs.iter().cloned().collect(),
        });
    }

    /// The run is stopping: leave submitted tasks running (the next run ingests them) and
    /// report every unsettled shard as not started.
    fn leave_running(&mut self) {
        let live = self.tracks.values().filter(|t| t.task.is_some()).count();
        if live > 0 {
            tracing::warn!(
                stage = %self.stage.name,
                shards = live,
                "the run stops; shards already submitted keep running on the cluster and the next `snni run` ingests them"
            );
        }
        for (_, track) in std::mem::take(&mut self.tracks) {
            let _ = self.outcomes.send((track.key, ShardOutcome::NotStarted));
        }
    }
}

/// Final states of tasks from sacct, when accounting is on (empty otherwise).
fn sacct_states(tasks: &[TaskId]) -> HashMap<String, String> {
    commands::sacct(tasks)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| commands::parse_sacct(&String::from_utf8_lossy(&out.stdout)))
        .unwrap_or_default()
}
