//! The events a run emits. The progress display, the log and `--json` output subscribe
//! to them; the scheduler knows nothing of how they are shown.

use serde::Serialize;

/// One thing that happened during a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run starts.
    RunStarted {
        /// Study name.
        study: String,
        /// Number of stages in the study.
        stages: usize,
        /// Parallel shard slots on this machine.
        jobs: usize,
        /// Where shards run: `local` or `slurm`.
        executor: String,
    },
    /// A stage's outputs were found in the store.
    StageCached {
        /// Stage name.
        stage: String,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// A stage starts running.
    StageStarted {
        /// Stage name.
        stage: String,
        /// Its fingerprint.
        fingerprint: String,
        /// Shards in all.
        shards: usize,
        /// Shards already done by an earlier, interrupted run.
        resumed: usize,
    },
    /// A shard finished and was committed.
    ShardFinished {
        /// Stage name.
        stage: String,
        /// Shard key.
        shard: String,
        /// Wall time in milliseconds.
        ms: u64,
    },
    /// A shard failed.
    ShardFailed {
        /// Stage name.
        stage: String,
        /// Shard key.
        shard: String,
        /// The error with its causes.
        error: String,
    },
    /// A stage finished and its record was committed.
    StageFinished {
        /// Stage name.
        stage: String,
        /// Shards that ran in this run.
        ran: usize,
        /// Wall time in milliseconds.
        ms: u64,
    },
    /// A stage failed.
    StageFailed {
        /// Stage name.
        stage: String,
        /// Why.
        error: String,
    },
    /// Shards were submitted to the cluster as one job array.
    ShardsSubmitted {
        /// Stage name.
        stage: String,
        /// The array's job id.
        job: String,
        /// Array tasks.
        tasks: usize,
        /// Shards in them.
        shards: usize,
    },
    /// Where a stage's shards stand on the cluster (sent at every poll that changed it).
    ClusterProgress {
        /// Stage name.
        stage: String,
        /// Shards committed (this run and earlier ones).
        done: usize,
        /// Shards whose task runs.
        running: usize,
        /// Shards whose task is queued, by Slurm's reason (`Priority`, `Resources`, …).
        pending: std::collections::BTreeMap<String, usize>,
        /// Shards waiting to be resubmitted after a failed or lost task.
        retrying: usize,
        /// The stage's live job ids.
        jobs: Vec<String>,
    },
    /// A stage did not run because an upstream stage failed or the run stopped.
    StageSkipped {
        /// Stage name.
        stage: String,
        /// Why.
        reason: String,
    },
    /// The run ended.
    RunFinished(Summary),
}

/// Totals of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Stages that ran.
    pub ran: usize,
    /// Stages found cached.
    pub cached: usize,
    /// Stages that failed.
    pub failed: usize,
    /// Stages skipped.
    pub skipped: usize,
    /// Shards that ran.
    pub shards_ran: usize,
    /// Failed stages whose cause was the store itself (the run exits with code 5).
    pub store_errors: usize,
    /// Wall time in milliseconds.
    pub ms: u64,
}

impl Summary {
    /// The exit code of a run with these totals (`exit_codes.rs`): a failure whose cause was
    /// the store makes it [`STORE_ERROR`](crate::exit_codes::STORE_ERROR), any other failed
    /// stage [`STAGE_FAILED`](crate::exit_codes::STAGE_FAILED).
    pub fn exit_code(&self) -> i32 {
        if self.store_errors > 0 {
            crate::exit_codes::STORE_ERROR
        } else if self.failed > 0 {
            crate::exit_codes::STAGE_FAILED
        } else {
            crate::exit_codes::SUCCESS
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ran ({} shards), {} cached, {} failed, {} skipped in {:.2}s",
            self.ran,
            self.shards_ran,
            self.cached,
            self.failed,
            self.skipped,
            self.ms as f64 / 1000.0
        )
    }
}

/// Where the scheduler sends events.
pub type EventSender = tokio::sync::mpsc::UnboundedSender<Event>;
