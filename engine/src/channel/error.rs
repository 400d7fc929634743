//! [`ChannelError`], the one error type of every channel, and how I/O errors map onto it.

use std::io;

use thiserror::Error;

/// Errors of a [`Channel`](super::Channel).
#[derive(Debug, Error)]
pub enum ChannelError {
    /// The underlying stream failed.
    #[error("i/o error on the channel")]
    Io(#[source] io::Error),
    /// The peer closed the channel between frames.
    #[error("peer closed the channel")]
    Disconnected,
    /// The peer closed the channel in the middle of a frame.
    #[error("frame truncated: expected {expected} bytes, received {received}")]
    Truncated {
        /// Bytes the header (or the header itself) announced.
        expected: usize,
        /// Bytes that arrived before the stream ended.
        received: usize,
    },
    /// A frame is longer than the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Length of the offending frame.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// No frame arrived within the read timeout, or a write did not complete in time.
    #[error("timed out waiting for the peer")]
    Timeout,
}

impl From<io::Error> for ChannelError {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ChannelError::Timeout,
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted => ChannelError::Disconnected,
            _ => ChannelError::Io(err),
        }
    }
}
