//! The error type of the two-party runtime.
//!
//! Every failure during a layer names the layer (`layer 12 'conv3': …`); failures before the
//! first layer name the phase (handshake, setup, output).

use thiserror::Error;

use crate::channel::ChannelError;
use crate::he::HeError;
use crate::network::NetworkError;
use crate::ot::OtError;

/// What went wrong while preparing or running a two-party inference.
///
/// Messages are lowercase and read after "failed to …".
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The network description is invalid.
    #[error("validate the network")]
    Network(#[from] NetworkError),
    /// The configuration cannot be used (bit length, scale, parameters…).
    #[error("check the engine configuration: {0}")]
    Config(String),
    /// Reading or writing a weight, input or record file failed.
    #[error("{what} '{path}'")]
    File {
        /// What was being read or written.
        what: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A weight or input file does not have the documented form.
    #[error("read {what}: {detail}")]
    Format {
        /// Which file kind.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The two parties do not run the same session (version, network, ℓ, scale, HE parameters).
    #[error("start the session: {0}")]
    Mismatch(String),
    /// Choosing or building the HE parameters failed.
    #[error("choose HE parameters")]
    HeParams(#[source] HeError),
    /// The connection could not be made or failed outside any layer.
    #[error("{phase}: connection to the peer failed")]
    Connect {
        /// The phase (`connect`, `handshake`, `output`).
        phase: &'static str,
        /// The cause.
        #[source]
        source: ChannelError,
    },
    /// A phase outside the layers failed (`handshake`, `setup`, `output`).
    #[error("{phase}: {source}")]
    Phase {
        /// The phase.
        phase: &'static str,
        /// The cause.
        source: StepError,
    },
    /// A layer failed.
    #[error("layer {index} '{name}': {source}")]
    Layer {
        /// 0-based layer index.
        index: usize,
        /// Layer name.
        name: String,
        /// The cause.
        source: StepError,
    },
}

/// Why one protocol step (a layer, the setup or the output) failed.
#[derive(Debug, Error)]
pub enum StepError {
    /// The peer closed the connection, stalled past the timeout, or the stream failed.
    #[error("{0}")]
    Channel(ChannelError),
    /// A frame that does not belong to this step, or has the wrong form.
    #[error("malformed {what} frame from peer: {detail}")]
    Malformed {
        /// Which frame (`ciphertext`, `answer`, `public key`, `share`, `tag`…).
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The peers are out of step: a frame of another layer arrived.
    #[error("peer is out of step: received a frame for {got} while running {expected}")]
    Desync {
        /// The step the peer's frame was tagged with.
        got: String,
        /// The step this party runs.
        expected: String,
    },
    /// The HE linear-layer protocol failed.
    #[error("HE linear layer failed: {0}")]
    He(HeError),
    /// An OT-based protocol failed.
    #[error("OT protocol failed: {0}")]
    Ot(OtError),
    /// The local data does not fit the layer (weights, shares).
    #[error("{0}")]
    Local(String),
}

impl StepError {
    /// Maps an error from a channel wrapped in a [`super::frame::TaggedChannel`]: a tag problem
    /// recorded there wins over the generic i/o error it surfaced as.
    pub(crate) fn from_channel(err: ChannelError, tag: Option<StepError>) -> Self {
        tag.unwrap_or(StepError::Channel(err))
    }
}

/// Shorthand for the runtime's results.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
