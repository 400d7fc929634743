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
        /// Parallel shard slots.
        jobs: usize,
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
    /// Wall time in milliseconds.
    pub ms: u64,
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
