//! [`ChannelConfig`], the settings of a channel endpoint, with its defaults and the frame
//! length check both implementations apply.

use std::time::Duration;

use super::ChannelError;

/// Default largest frame a channel accepts or sends: 256 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 256 << 20;

/// Default size of the send buffer at which a channel writes it out without waiting for a
/// flush: 1 MiB.
pub const DEFAULT_FLUSH_THRESHOLD: usize = 1 << 20;

/// Settings of a channel endpoint.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// Largest frame accepted from the peer or sent to it.
    pub max_frame_len: usize,
    /// How long a receive waits for the peer's whole message (a deadline per message, not
    /// per read); `None` waits forever.
    pub read_timeout: Option<Duration>,
    /// How long writing one message or one flush may take (TCP only); `None` waits
    /// forever.
    pub write_timeout: Option<Duration>,
    /// Buffered bytes at which a send writes the buffer out without waiting for a flush
    /// (TCP only; the in-memory channel hands messages over at flush or receive).
    pub flush_threshold: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            read_timeout: None,
            write_timeout: None,
            flush_threshold: DEFAULT_FLUSH_THRESHOLD,
        }
    }
}

impl ChannelConfig {
    pub(super) fn check_len(&self, len: usize) -> Result<(), ChannelError> {
        if len > self.max_frame_len || len > u32::MAX as usize {
            return Err(ChannelError::FrameTooLarge {
                len,
                max: self.max_frame_len.min(u32::MAX as usize),
            });
        }
        Ok(())
    }
}
