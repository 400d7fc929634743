//! Errors of the oblivious-transfer protocols.

use thiserror::Error;

use crate::channel::ChannelError;

/// Errors of the OT protocols.
#[derive(Debug, Error)]
pub enum OtError {
    /// The channel to the peer failed.
    #[error("channel to the peer failed")]
    Channel(#[from] ChannelError),
    /// The peer sent a message of the wrong shape.
    #[error("malformed message from the peer: {0}")]
    Malformed(String),
    /// The peer sent bytes that are not a valid group element.
    #[error("peer sent an invalid group element (index {index})")]
    InvalidPoint {
        /// Position of the element in its message.
        index: usize,
    },
    /// The caller passed inputs the protocol cannot take.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Checks that a received message has the expected length.
pub(crate) fn expect_len(msg: &[u8], expected: usize, what: &str) -> Result<(), OtError> {
    if msg.len() != expected {
        return Err(OtError::Malformed(format!(
            "{what}: expected {expected} bytes, got {}",
            msg.len()
        )));
    }
    Ok(())
}
