//! The duplex message channel the two parties talk over, and its traffic meter.
//!
//! A [`Channel`] carries whole messages (frames). Sends are buffered and pushed out by
//! [`Channel::flush`] or by the next [`Channel::recv`], so a protocol step that sends many
//! small messages costs one write. Two implementations:
//!
//! - [`TcpChannel`]: a `std::net::TcpStream` with `u32` little-endian length-prefixed frames.
//!   A frame longer than [`ChannelConfig::max_frame_len`] (or the limit of a
//!   [`Channel::recv_limited`]) is an error before anything is allocated; a frame cut short
//!   by a disconnect is an error too. The timeouts are deadlines per message: a peer that
//!   trickles a frame byte by byte fails it when the deadline passes.
//! - [`MemChannel`]: two in-memory endpoints over `std::sync::mpsc` ([`mem_pair`]), for tests.
//!
//! Both count traffic in a [`Meter`] the same way: every frame costs its payload plus the
//! 4-byte header, and a round is a switch from sending to receiving.

mod config;
mod error;
mod mem;
mod meter;
mod tcp;

#[cfg(test)]
mod test_util;

pub use config::{ChannelConfig, DEFAULT_FLUSH_THRESHOLD, DEFAULT_MAX_FRAME_LEN};
pub use error::ChannelError;
pub use mem::{mem_pair, mem_pair_with, MemChannel};
pub use meter::Meter;
pub use tcp::TcpChannel;

/// Bytes of the length prefix in front of every frame.
pub const FRAME_HEADER_LEN: usize = 4;

/// A duplex, message-oriented channel between the two parties.
///
/// After any error the channel may be out of step with the peer (a frame half read or half
/// written); the protocol run should be abandoned.
pub trait Channel {
    /// Queues one message; it goes out at the next flush or receive (or earlier, when the
    /// buffer is large).
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError>;
    /// Flushes pending messages, then waits for the next message from the peer.
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError>;
    /// [`Channel::recv`] of a message of at most `max_len` bytes: a longer one is
    /// [`ChannelError::FrameTooLarge`]. The TCP channel checks the announced length before
    /// reading (or allocating) anything; this default checks after receiving.
    fn recv_limited(&mut self, max_len: usize) -> Result<Vec<u8>, ChannelError> {
        let msg = self.recv()?;
        if msg.len() > max_len {
            return Err(ChannelError::FrameTooLarge {
                len: msg.len(),
                max: max_len,
            });
        }
        Ok(msg)
    }
    /// Pushes all pending messages to the peer.
    fn flush(&mut self) -> Result<(), ChannelError>;
    /// A snapshot of the traffic counted so far.
    fn meter(&self) -> Meter;
}

impl<C: Channel + ?Sized> Channel for &mut C {
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        (**self).send(msg)
    }
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        (**self).recv()
    }
    fn recv_limited(&mut self, max_len: usize) -> Result<Vec<u8>, ChannelError> {
        (**self).recv_limited(max_len)
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        (**self).flush()
    }
    fn meter(&self) -> Meter {
        (**self).meter()
    }
}

impl<C: Channel + ?Sized> Channel for Box<C> {
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        (**self).send(msg)
    }
    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        (**self).recv()
    }
    fn recv_limited(&mut self, max_len: usize) -> Result<Vec<u8>, ChannelError> {
        (**self).recv_limited(max_len)
    }
    fn flush(&mut self) -> Result<(), ChannelError> {
        (**self).flush()
    }
    fn meter(&self) -> Meter {
        (**self).meter()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::test_util::small_config;
    use super::*;

    #[test]
    fn peer_drop_is_an_error() {
        let (mut a, b) = TcpChannel::loopback_pair(small_config()).unwrap();
        drop(b);
        assert!(matches!(a.recv(), Err(ChannelError::Disconnected)));

        let (mut a, b) = mem_pair_with(small_config());
        drop(b);
        assert!(matches!(a.recv(), Err(ChannelError::Disconnected)));
        a.send(b"x").unwrap();
        assert!(matches!(a.flush(), Err(ChannelError::Disconnected)));
    }

    #[test]
    fn read_timeout_is_an_error() {
        let config = ChannelConfig {
            read_timeout: Some(Duration::from_millis(50)),
            ..small_config()
        };
        let (mut a, _b) = TcpChannel::loopback_pair(config.clone()).unwrap();
        assert!(matches!(a.recv(), Err(ChannelError::Timeout)));
        let (mut a, _b) = mem_pair_with(config);
        assert!(matches!(a.recv(), Err(ChannelError::Timeout)));
    }
}
