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
    /// A learning stage read a stored table whose columns are not what the schema declares
    /// (a column missing, of another type, or null where a value is required).
    #[error("learn from the dataset: {source}")]
    Table {
        /// What the schema's reader found.
        #[source]
        source: crate::schema::SchemaError,
    },
    /// A learning stage could not train, save or load a candle predictor (mlp, rnn).
    #[error("learn from the dataset: {action}")]
    Model {
        /// What the stage was doing, e.g. "save the MLP of conv.client.lan".
        action: String,
        /// The predictor's error.
        #[source]
        source: crate::predict::ModelError,
    },
    /// A learning stage could not read a record it or an upstream stage stored as JSON (a
    /// trial, its hyperparameters).
    #[error("learn from the dataset: {action}")]
    Record {
        /// What the stage was reading, e.g. "read trial search/conv.client.lan.t03/trial".
        action: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
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
///
/// A cause whose message the text already ends with is left out: error types that both
/// print their cause (`"layer 3: {source}"`) and return it from `source()` would otherwise
/// say it twice ("peer closed the channel: peer closed the channel").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !message.is_empty() && !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that prints its cause and also returns it as its source.
    #[derive(Debug, Error)]
    #[error("layer 0 'conv1': {source}")]
    struct Layer {
        source: Closed,
    }

    #[derive(Debug, Error)]
    #[error("peer closed the channel")]
    struct Closed;

    #[derive(Debug, Error)]
    #[error("run the shard")]
    struct Shard(#[source] Layer);

    #[test]
    fn learning_errors_keep_their_typed_cause_and_read_as_before() {
        let cause = crate::predict::ModelError::Spec {
            model: crate::predict::Model::Mlp,
            reason: "every layer needs at least one unit".into(),
        };
        let err = StageError::Model {
            action: "save the MLP of conv.client.lan".into(),
            source: cause,
        };
        assert_eq!(
            error_chain(&err),
            "learn from the dataset: save the MLP of conv.client.lan: build an mlp: every \
             layer needs at least one unit"
        );
        let source = std::error::Error::source(&err).expect("a cause");
        assert!(source.is::<crate::predict::ModelError>());

        let json = serde_json::from_str::<u32>("x").unwrap_err();
        let message = json.to_string();
        let err = StageError::Record {
            action: "read trial search/conv.client.lan.t03/trial".into(),
            source: json,
        };
        assert_eq!(
            error_chain(&err),
            format!(
                "learn from the dataset: read trial search/conv.client.lan.t03/trial: {message}"
            )
        );
    }

    #[test]
    fn each_cause_is_said_once() {
        let err = Shard(Layer { source: Closed });
        assert_eq!(
            error_chain(&err),
            "run the shard: layer 0 'conv1': peer closed the channel"
        );
    }
}
