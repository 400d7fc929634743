//! Why a shard or a stage of a run failed, typed: the cause travels from the executor to
//! the scheduler as itself, not as text, so the run's exit code follows from it (a store
//! failure anywhere in a run is exit 5, `crate::exit_codes`) and the message printed and
//! recorded keeps the whole source chain.

use snni_artifacts::StoreError;
use snni_stages::{error_chain, StageError};

use super::cpu_pool::TooManyCpus;
use crate::exit_codes;

/// Why a shard or a stage did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    /// The stage kind's own work failed (planning its shards or running one). Boxed: a
    /// stage error is large, and failures travel in every shard's outcome.
    #[error(transparent)]
    Stage(Box<StageError>),
    /// The store failed while reading inputs or committing outputs.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The shard asks for more CPUs than this machine has.
    #[error(transparent)]
    Cpus(#[from] TooManyCpus),
    /// A shard, a stage task or an executor panicked.
    #[error("{what} panicked: {message}")]
    Panicked {
        /// What panicked: "the shard", "the stage", …
        what: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The cluster could not run the shard (the coordinator's or Slurm's reason).
    #[error("{0}")]
    Cluster(String),
    /// The stage cannot run in this run (e.g. it is not selected and not cached).
    #[error("{0}")]
    NotRunnable(String),
    /// Some of a stage's shards failed; `cause` is the first store failure among them if
    /// there is one (it decides the exit code), else the first failure.
    #[error("{failed} of {total} shards failed; shard `{shard}`")]
    Shards {
        /// Shards that failed.
        failed: usize,
        /// Shards of the stage.
        total: usize,
        /// The shard `cause` belongs to.
        shard: String,
        /// Why it failed.
        #[source]
        cause: Box<RunFailure>,
    },
}

impl From<StageError> for RunFailure {
    fn from(error: StageError) -> Self {
        RunFailure::Stage(Box::new(error))
    }
}

impl RunFailure {
    /// Whether the store failed (the run then exits with [`exit_codes::STORE_ERROR`]).
    pub fn is_store(&self) -> bool {
        match self {
            RunFailure::Store(_) => true,
            RunFailure::Shards { cause, .. } => cause.is_store(),
            _ => false,
        }
    }

    /// The exit code this failure gives a run.
    pub fn exit_code(&self) -> i32 {
        if self.is_store() {
            exit_codes::STORE_ERROR
        } else {
            exit_codes::STAGE_FAILED
        }
    }

    /// The failure and its causes on one line, as printed and recorded.
    pub fn message(&self) -> String {
        error_chain(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_error() -> StoreError {
        StoreError::NotAStore {
            path: std::path::PathBuf::from("/nowhere"),
        }
    }

    #[test]
    fn a_store_failure_anywhere_is_exit_5_and_keeps_its_chain() {
        let store = RunFailure::from(store_error());
        assert!(store.is_store());
        assert_eq!(store.exit_code(), exit_codes::STORE_ERROR);
        let shards = RunFailure::Shards {
            failed: 2,
            total: 5,
            shard: "s1".into(),
            cause: Box::new(store),
        };
        assert_eq!(shards.exit_code(), exit_codes::STORE_ERROR);
        let message = shards.message();
        assert!(
            message.starts_with("2 of 5 shards failed; shard `s1`: "),
            "{message}"
        );
        assert!(message.contains("/nowhere"), "{message}");
        let cluster = RunFailure::Cluster("sbatch refused".into());
        assert_eq!(cluster.exit_code(), exit_codes::STAGE_FAILED);
        let panicked = RunFailure::Panicked {
            what: "the shard",
            message: "boom".into(),
        };
        assert_eq!(panicked.message(), "the shard panicked: boom");
    }
}
