//! `snni shard run --spec FILE`: what one array task does on a cluster node.
//!
//! It writes a `started` marker, refuses to run when its own binary differs from the
//! coordinator's, runs its shards (side by side as their CPU reservations allow) against
//! the objects the coordinator copied into the spool — never opening the store — and
//! publishes each finished shard as a complete folder renamed into `done/`. On SIGTERM or
//! the time-limit warning (SIGUSR2) it cancels its shards (the profile stage kills both
//! parties), writes a `failed/` marker with the reason for every shard not done, and exits.
//! Nothing partial is ever renamed into `done/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use snni_artifacts::{Digest, ObjectDir};
use snni_stages::cancel::{self, CancelReason};
use snni_stages::{OutputData, ShardContext, StageKind, UpstreamStage};
use tokio::task::JoinSet;

use super::exe::is_same_build;
use super::spec::{
    unix_ms, FailedMarker, FinishedMarker, ResultManifest, ResultOutput, RunInfo, StageContext,
    StartedMarker, TaskShard, TaskSpec, SPOOL_FORMAT,
};
use super::spool::{sync_dir, write_atomic, Spool};
use crate::exec::{panic_message, CpuPool};
use crate::exit_codes;

/// How long shards may take to stop after a cancellation before they are written off.
const CANCEL_GRACE: Duration = Duration::from_secs(15);

/// Runs the task described by `spec_path`; returns the process exit code.
pub fn run(spec_path: &Path, task_override: Option<&str>) -> i32 {
    let spec: TaskSpec = match std::fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(spec) if spec_format_ok(&spec) => spec,
        Ok(spec) => {
            eprintln!(
                "error: {} has spool format {}, this snni reads {SPOOL_FORMAT}",
                spec_path.display(),
                spec.format
            );
            return exit_codes::INVALID_INPUT;
        }
        Err(error) => {
            eprintln!(
                "error: cannot read the task spec {}: {error}",
                spec_path.display()
            );
            return exit_codes::INVALID_INPUT;
        }
    };
    let task = task_override.map_or_else(task_label, str::to_string);
    let worker = Worker {
        spool: Spool::open(&spec.spool),
        host: host_name(),
        restart: restart_count(),
        task,
        spec,
    };
    worker.run()
}

fn spec_format_ok(spec: &TaskSpec) -> bool {
    spec.format == SPOOL_FORMAT
}

/// `job_index.rN` from Slurm's environment (`manual_0.r0` when run by hand).
fn task_label() -> String {
    let job = std::env::var("SLURM_ARRAY_JOB_ID")
        .or_else(|_| std::env::var("SLURM_JOB_ID"))
        .unwrap_or_else(|_| "manual".to_string());
    let index = std::env::var("SLURM_ARRAY_TASK_ID").unwrap_or_else(|_| "0".to_string());
    format!("{job}_{index}.r{}", restart_count())
}

fn restart_count() -> u32 {
    std::env::var("SLURM_RESTART_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

struct Worker {
    spec: TaskSpec,
    spool: Spool,
    task: String,
    host: String,
    restart: u32,
}

/// One shard's end, as the worker saw it.
enum Ended {
    Done,
    Failed(String),
}

impl Worker {
    fn run(self) -> i32 {
        let started = StartedMarker {
            format: SPOOL_FORMAT,
            host: self.host.clone(),
            task: self.task.clone(),
            restart: self.restart,
            pid: std::process::id(),
            unix_ms: unix_ms(),
            shards: self.spec.shards.iter().map(|s| s.shard.clone()).collect(),
        };
        if let Err(error) = self.write_json(&self.spool.started_path(&self.task), &started) {
            eprintln!(
                "error: cannot write to the spool {}: {error}",
                self.spool.dir().display()
            );
            return exit_codes::STORE_ERROR;
        }
        let prepared = self.prepare();
        let (context, kind) = match prepared {
            Ok(pair) => pair,
            Err(reason) => {
                eprintln!("error: {reason}");
                for shard in &self.spec.shards {
                    self.fail(shard, "", &reason, true);
                }
                self.finish(0, self.spec.shards.len(), None);
                return exit_codes::INVALID_INPUT;
            }
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("error: cannot start the async runtime: {error}");
                return exit_codes::STORE_ERROR;
            }
        };
        let worker = Arc::new(self);
        let context = Arc::new(context);
        let outcome = runtime.block_on(worker.clone().run_shards(context.clone(), kind));
        // Shards still running after a cancellation are abandoned with the runtime.
        runtime.shutdown_background();
        let (done, failed, cancelled) = outcome;
        worker.finish(done, failed, cancelled.map(|r| r.describe().to_string()));
        match (cancelled, failed) {
            (Some(_), _) => 143,
            (None, 0) => exit_codes::SUCCESS,
            (None, _) => exit_codes::STAGE_FAILED,
        }
    }

    /// Checks the binary and loads the stage context.
    fn prepare(&self) -> Result<(StageContext, &'static dyn StageKind), String> {
        let (same, own) = is_same_build(&self.spec.exe)
            .map_err(|e| format!("cannot identify this snni binary: {e}"))?;
        if !same {
            return Err(format!(
                "this node's snni ({} at {}) is not the build the coordinator runs ({} at {}); \
                 install the same build on every node (a shared filesystem), or run the study from this build",
                own.digest.short(),
                own.path.display(),
                self.spec.exe.digest.short(),
                self.spec.exe.path.display()
            ));
        }
        let path = self.spool.path(&self.spec.context);
        let context: StageContext = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot read the stage context {}: {e}", path.display()))?;
        if context.format != SPOOL_FORMAT {
            return Err(format!(
                "the stage context {} has format {}, this snni reads {SPOOL_FORMAT}",
                path.display(),
                context.format
            ));
        }
        let kind = snni_stages::kind_by_name(&context.kind)
            .ok_or_else(|| format!("this snni has no stage kind `{}`", context.kind))?;
        if kind.version() != context.kind_version {
            return Err(format!(
                "stage kind `{}` is version {} here, the coordinator's is {}",
                context.kind,
                kind.version(),
                context.kind_version
            ));
        }
        Ok((context, kind))
    }

    /// Runs every shard of the task; returns (done, failed, cancellation).
    async fn run_shards(
        self: Arc<Self>,
        context: Arc<StageContext>,
        kind: &'static dyn StageKind,
    ) -> (usize, usize, Option<CancelReason>) {
        let signals = tokio::spawn(wait_for_signal());
        let pool = CpuPool::for_this_machine(allocated_cpus());
        let mut running: JoinSet<(TaskShard, Ended)> = JoinSet::new();
        let mut pending: Vec<TaskShard> = self.spec.shards.clone();
        pending.reverse();
        let mut unfinished: BTreeMap<Digest, TaskShard> = self
            .spec
            .shards
            .iter()
            .map(|s| (s.fingerprint, s.clone()))
            .collect();
        let (mut done, mut failed) = (0, 0);
        let upstream: Arc<Vec<UpstreamStage>> = Arc::new(
            context
                .upstream
                .iter()
                .map(|u| UpstreamStage {
                    name: u.name.clone(),
                    kind: u.kind.clone(),
                    record: u.record.clone(),
                })
                .collect(),
        );
        loop {
            if cancel::requested().is_none() {
                if let Some(shard) = pending.pop() {
                    let reservation = kind.reservation(&context.params, &shard.shard);
                    let grant = tokio::select! {
                        grant = pool.acquire(reservation) => grant,
                        _ = wait_cancelled() => { pending.push(shard); continue; }
                    };
                    let worker = self.clone();
                    let context = context.clone();
                    let upstream = upstream.clone();
                    running.spawn_blocking(move || match grant {
                        Err(error) => (shard, Ended::Failed(error.to_string())),
                        Ok(grant) => {
                            let ended =
                                worker.run_one(&context, kind, &upstream, &shard, grant.cpus());
                            drop(grant);
                            (shard, ended)
                        }
                    });
                    continue;
                }
            }
            let next = tokio::select! {
                next = running.join_next() => next,
                _ = wait_cancelled(), if cancel::requested().is_none() => continue,
            };
            let Some(joined) = next else { break };
            match joined {
                Ok((shard, Ended::Done)) => {
                    unfinished.remove(&shard.fingerprint);
                    done += 1;
                }
                Ok((shard, Ended::Failed(reason))) => {
                    unfinished.remove(&shard.fingerprint);
                    let permanent = false;
                    self.fail(&shard, &context.stage, &reason, permanent);
                    failed += 1;
                }
                Err(error) => tracing::error!("a shard thread ended abnormally: {error}"),
            }
            if cancel::requested().is_some() {
                break;
            }
        }
        let reason = cancel::requested();
        if let Some(reason) = reason {
            // Give running shards (parties being killed) a moment to report their own
            // error, which carries the parties' stderr tails.
            let deadline = tokio::time::Instant::now() + CANCEL_GRACE;
            while let Ok(Some(joined)) =
                tokio::time::timeout_at(deadline, running.join_next()).await
            {
                if let Ok((shard, ended)) = joined {
                    unfinished.remove(&shard.fingerprint);
                    match ended {
                        Ended::Done => done += 1,
                        Ended::Failed(error) => {
                            self.fail(&shard, &context.stage, &error, false);
                            failed += 1;
                        }
                    }
                }
            }
            for shard in unfinished.values() {
                self.fail(shard, &context.stage, reason.describe(), false);
                failed += 1;
            }
        }
        signals.abort();
        (done, failed, reason)
    }

    /// Runs one shard and publishes its result; never panics out.
    fn run_one(
        &self,
        context: &StageContext,
        kind: &'static dyn StageKind,
        upstream: &[UpstreamStage],
        shard: &TaskShard,
        cpus: Option<&[usize]>,
    ) -> Ended {
        let run =
            std::panic::AssertUnwindSafe(|| self.try_run_one(context, kind, upstream, shard, cpus));
        match std::panic::catch_unwind(run) {
            Ok(Ok(())) => Ended::Done,
            Ok(Err(reason)) => Ended::Failed(reason),
            Err(payload) => {
                Ended::Failed(format!("the shard panicked: {}", panic_message(&*payload)))
            }
        }
    }

    fn try_run_one(
        &self,
        context: &StageContext,
        kind: &'static dyn StageKind,
        upstream: &[UpstreamStage],
        shard: &TaskShard,
        cpus: Option<&[usize]>,
    ) -> Result<(), String> {
        let started_unix_ms = unix_ms();
        let inputs = self.spool.objects();
        let ctx = ShardContext {
            shard: &shard.shard,
            params: &context.params,
            seed: context.seed,
            upstream,
            store: &inputs,
            cpus,
        };
        let outputs = kind
            .run_shard(&ctx)
            .map_err(|e| snni_stages::error_chain(&e))?;
        if let Some(reason) = cancel::requested() {
            return Err(reason.describe().to_string());
        }
        let spool_error = |e: std::io::Error| format!("cannot write the result to the spool: {e}");
        let work = self
            .spool
            .work_dir(&shard.fingerprint, &self.task)
            .map_err(spool_error)?;
        let objects = ObjectDir::open(&work.join("objects"));
        let mut manifest = ResultManifest {
            format: SPOOL_FORMAT,
            stage: context.stage.clone(),
            shard: shard.shard.clone(),
            fingerprint: shard.fingerprint,
            outputs: BTreeMap::new(),
            run: RunInfo::default(),
        };
        for (name, data) in outputs.items {
            let output = match data {
                OutputData::Bytes { bytes, media_type } => ResultOutput::Blob {
                    digest: objects
                        .put(&bytes)
                        .map_err(|e| snni_stages::error_chain(&e))?,
                    bytes: bytes.len() as u64,
                    media_type: media_type.to_string(),
                },
                OutputData::Table(mut frame) => {
                    let written = objects
                        .put_table(&mut frame)
                        .map_err(|e| snni_stages::error_chain(&e))?;
                    ResultOutput::Table {
                        digest: written.digest,
                        rows: written.rows,
                        bytes: written.bytes,
                    }
                }
            };
            manifest.outputs.insert(name, output);
        }
        manifest.run = RunInfo {
            host: self.host.clone(),
            task: self.task.clone(),
            restart: self.restart,
            cpus: cpus.map(<[usize]>::to_vec),
            started_unix_ms,
            finished_unix_ms: unix_ms(),
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
        write_atomic(&work.join("MANIFEST.json"), &json).map_err(spool_error)?;
        sync_dir(&work.join("objects")).map_err(spool_error)?;
        sync_dir(&work).map_err(spool_error)?;
        if let Some(reason) = cancel::requested() {
            let _ = std::fs::remove_dir_all(&work);
            return Err(reason.describe().to_string());
        }
        self.spool
            .publish_done(&work, &shard.fingerprint, &self.task)
            .map_err(spool_error)
    }

    fn fail(&self, shard: &TaskShard, stage: &str, reason: &str, permanent: bool) {
        let marker = FailedMarker {
            format: SPOOL_FORMAT,
            stage: stage.to_string(),
            shard: shard.shard.clone(),
            fingerprint: shard.fingerprint,
            task: self.task.clone(),
            host: self.host.clone(),
            reason: reason.to_string(),
            permanent,
        };
        eprintln!("shard `{}` failed: {reason}", shard.shard);
        let path = self.spool.failed_path(&shard.fingerprint, &self.task);
        if let Err(error) = self.write_json(&path, &marker) {
            eprintln!("error: cannot write {}: {error}", path.display());
        }
    }

    fn finish(&self, done: usize, failed: usize, cancelled: Option<String>) {
        let marker = FinishedMarker {
            format: SPOOL_FORMAT,
            task: self.task.clone(),
            done,
            failed,
            cancelled,
        };
        let path = self.spool.finished_path(&self.task);
        if let Err(error) = self.write_json(&path, &marker) {
            eprintln!("error: cannot write {}: {error}", path.display());
        }
    }

    fn write_json<T: serde::Serialize>(
        &self,
        path: &std::path::Path,
        value: &T,
    ) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes)
    }
}

/// How many shards may run at once: the CPUs Slurm allocated to the task (clusters without
/// CPU binding still show every CPU of the node in the affinity mask), else the usable CPUs.
fn allocated_cpus() -> usize {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    let usable = snni_stages::profile::usable_cpus().map_or(1, |cpus| cpus.len());
    let allocated = if std::env::var_os("SLURM_JOB_ID").is_some() {
        // Without --cpus-per-task a task gets one CPU; --exclusive gives it the node.
        env("SLURM_CPUS_PER_TASK")
            .or_else(|| env("SLURM_CPUS_ON_NODE"))
            .unwrap_or(1)
    } else {
        usable
    };
    allocated.clamp(1, usable.max(1))
}

/// Waits for SIGUSR2 (the time-limit warning), SIGTERM or SIGINT and records why.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut usr2), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::user_defined2()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; a time limit will kill shards unannounced");
        return;
    };
    let reason = tokio::select! {
        _ = usr2.recv() => CancelReason::TimeLimit,
        _ = term.recv() => CancelReason::Terminated,
        _ = int.recv() => CancelReason::Interrupted,
    };
    eprintln!("snni shard: {}; stopping", reason.describe());
    cancel::request(reason);
}

/// Resolves once a cancellation was requested (checked every 50 ms).
async fn wait_cancelled() {
    while cancel::requested().is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::spec::ExeIdentity;
    use crate::test_kinds::SHARD;

    #[test]
    fn a_shard_that_panics_on_a_node_fails_with_the_panic_s_message() {
        let dir = tempfile::tempdir().unwrap();
        let worker = Worker {
            spec: TaskSpec {
                format: SPOOL_FORMAT,
                spool: dir.path().to_path_buf(),
                context: String::new(),
                exe: ExeIdentity {
                    path: dir.path().join("snni"),
                    digest: Digest::of(b""),
                    size: 0,
                    modified_ns: 0,
                },
                shards: Vec::new(),
            },
            spool: Spool::create(dir.path()).unwrap(),
            task: "test_0.r0".into(),
            host: "here".into(),
            restart: 0,
        };
        let context = StageContext {
            format: SPOOL_FORMAT,
            study: "panics".into(),
            stage: "boom".into(),
            kind: SHARD.name().into(),
            kind_version: SHARD.version(),
            params: serde_json::json!({}),
            seed: 7,
            upstream: Vec::new(),
        };
        let shard = TaskShard {
            shard: "bad".into(),
            fingerprint: Digest::of(b"bad"),
        };
        match worker.run_one(&context, &SHARD, &[], &shard, None) {
            Ended::Failed(reason) => assert_eq!(
                reason,
                "the shard panicked: shard `bad` went wrong on purpose"
            ),
            Ended::Done => panic!("a shard that panicked ended as done"),
        }
    }
}
