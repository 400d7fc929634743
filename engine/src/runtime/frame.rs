//! [`TaggedChannel`]: every frame after the handshake carries the step it belongs to, and no
//! frame may be larger than its step's plan allows.
//!
//! A frame is `[step: u32 LE][payload]`; the step is the layer index, or [`SETUP`] /
//! [`OUTPUT`] outside the layers. Both parties walk the same plan, so a frame with another
//! step means the peers are out of step (or the peer sent garbage); the receiver reports it
//! instead of feeding the bytes to a protocol. Each step also has a frame limit, the largest
//! payload the plan expects from the peer in it ([`TaggedChannel::set_limit`]), checked on
//! the frame's header before any of its body is read. The [`Channel`] trait can only return
//! a [`ChannelError`], so the detailed [`StepError`] is kept here for the runtime to pick
//! up.

use std::io;

use crate::channel::{Channel, ChannelError, Meter};

use super::error::StepError;

/// Step tag of the session setup (HE public key, base OTs).
pub const SETUP: u32 = u32::MAX;
/// Step tag of the final output share.
pub const OUTPUT: u32 = u32::MAX - 1;

/// Human-readable name of a step tag.
pub fn step_name(step: u32) -> String {
    match step {
        SETUP => "setup".to_owned(),
        OUTPUT => "output".to_owned(),
        index => format!("layer {index}"),
    }
}

/// A channel that prefixes every frame with the current step and checks the peer's.
pub struct TaggedChannel<'a> {
    inner: &'a mut dyn Channel,
    step: u32,
    /// Largest payload accepted from the peer in this step (tag excluded).
    limit: usize,
    buf: Vec<u8>,
    fault: Option<StepError>,
}

/// Bytes of the step tag in front of every payload.
const TAG_LEN: usize = 4;

impl<'a> TaggedChannel<'a> {
    /// Wraps `inner`; the step starts at [`SETUP`] with no frame limit but the channel's.
    pub fn new(inner: &'a mut dyn Channel) -> Self {
        Self {
            inner,
            step: SETUP,
            limit: usize::MAX - TAG_LEN,
            buf: Vec::new(),
            fault: None,
        }
    }

    /// Sets the step that outgoing frames carry and incoming frames must carry, and the
    /// largest payload (tag excluded) the peer may send in it.
    pub fn set_step(&mut self, step: u32, limit: u64) {
        self.step = step;
        self.set_limit(limit);
        self.fault = None;
    }

    /// Sets the largest payload (tag excluded) the peer may send from now on.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(usize::MAX - TAG_LEN);
    }

    /// The tag problem behind the last error, if any.
    pub fn take_fault(&mut self) -> Option<StepError> {
        self.fault.take()
    }

    /// Maps a channel error to a [`StepError`], preferring a recorded tag problem.
    pub fn step_error(&mut self, err: ChannelError) -> StepError {
        StepError::from_channel(err, self.take_fault())
    }

    fn reject(&mut self, fault: StepError) -> ChannelError {
        let err = ChannelError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            fault.to_string(),
        ));
        self.fault = Some(fault);
        err
    }
}

impl Channel for TaggedChannel<'_> {
    fn send(&mut self, msg: &[u8]) -> Result<(), ChannelError> {
        self.buf.clear();
        self.buf.extend_from_slice(&self.step.to_le_bytes());
        self.buf.extend_from_slice(msg);
        self.inner.send(&self.buf)
    }

    fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.recv_limited(self.limit)
    }

    fn recv_limited(&mut self, max_len: usize) -> Result<Vec<u8>, ChannelError> {
        let max = max_len.min(self.limit) + TAG_LEN;
        let mut msg = self.inner.recv_limited(max)?;
        let Some(tag) = msg.get(..4) else {
            return Err(self.reject(StepError::Malformed {
                what: "tagged",
                detail: format!("a frame of {} bytes has no 4-byte step tag", msg.len()),
            }));
        };
        let tag = u32::from_le_bytes(tag.try_into().expect("4 bytes"));
        if tag != self.step {
            let got = if tag <= u32::from(u16::MAX) || tag >= OUTPUT {
                step_name(tag)
            } else {
                format!("unknown step {tag:#x}")
            };
            return Err(self.reject(StepError::Desync {
                got,
                expected: step_name(self.step),
            }));
        }
        msg.drain(..4);
        Ok(msg)
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        self.inner.flush()
    }

    fn meter(&self) -> Meter {
        self.inner.meter()
    }
}
