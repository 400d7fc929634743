//! Errors of the stage kinds. Messages read after "failed to …".

use thiserror::Error;

/// Why a stage or one of its shards could not produce its outputs.
#[derive(Debug, Error)]
pub enum StageError {
    /// The shard key is not one this stage planned.
    #[error("run shard `{shard}`: no such shard in stage kind `{kind}`")]
    UnknownShard {
        /// Stage kind.
        kind: &'static str,
        /// The shard key asked for.
        shard: String,
    },
    /// Parameters that passed validation could not be decoded (a bug, or a stale record).
    #[error("decode parameters of stage kind `{kind}`: {message}")]
    Params {
        /// Stage kind.
        kind: &'static str,
        /// What serde said.
        message: String,
    },
    /// A network the stage produced or read is invalid.
    #[error("build network `{name}`")]
    Network {
        /// Network name.
        name: String,
        /// The validation error.
        #[source]
        source: snni_engine::network::NetworkError,
    },
    /// Serializing an output failed.
    #[error("serialize output `{name}`: {message}")]
    Serialize {
        /// Output name.
        name: String,
        /// What the serializer said.
        message: String,
    },
    /// Reading an upstream output from the store failed.
    #[error("read upstream output `{name}`")]
    Store {
        /// Output name.
        name: String,
        /// The store error.
        #[source]
        source: Box<snni_artifacts::StoreError>,
    },
    /// A learning stage (search, train, evaluate) cannot use its inputs.
    #[error("learn from the dataset: {message}")]
    Learn {
        /// What is wrong.
        message: String,
    },
    /// A profile shard failed on every attempt.
    #[error("profile `{shard}` ({attempts} attempts): {message}")]
    Profile {
        /// The shard key.
        shard: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's failure, with the parties' stderr tails.
        message: String,
    },
    /// The profile data a `dataset` stage reads is missing, inconsistent or mixed.
    #[error("build the dataset from `{shard}`: {message}")]
    Dataset {
        /// The profile stage and shard key (`stage/key`), or the stage alone.
        shard: String,
        /// What is wrong.
        message: String,
    },
    /// The dataset a `split` stage reads is missing, of the wrong kind or malformed.
    #[error("split the dataset of `{stage}`: {message}")]
    Split {
        /// The dataset stage, or `needs` when the upstream list itself is wrong.
        stage: String,
        /// What is wrong.
        message: String,
    },
}

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
