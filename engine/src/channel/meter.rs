//! [`Meter`], the traffic an endpoint counts, and the bookkeeping both channel
//! implementations share so that they count frames and rounds the same way.

use serde::{Deserialize, Serialize};

use super::FRAME_HEADER_LEN;

/// Traffic counted by one endpoint of a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    /// Bytes sent, headers included.
    pub bytes_sent: u64,
    /// Bytes received, headers included.
    pub bytes_received: u64,
    /// Frames sent.
    pub messages_sent: u64,
    /// Frames received.
    pub messages_received: u64,
    /// Switches from sending to receiving.
    pub rounds: u64,
}

impl Meter {
    /// The traffic counted between `earlier` (a snapshot of the same meter) and `self`.
    pub fn since(&self, earlier: &Meter) -> Meter {
        Meter {
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(earlier.bytes_received),
            messages_sent: self.messages_sent.saturating_sub(earlier.messages_sent),
            messages_received: self
                .messages_received
                .saturating_sub(earlier.messages_received),
            rounds: self.rounds.saturating_sub(earlier.rounds),
        }
    }
}

/// Counts traffic and detects rounds.
#[derive(Debug, Default)]
pub(super) struct MeterState {
    pub(super) meter: Meter,
    /// Whether the last operation was a send (so the next receive starts a round).
    sending: bool,
}

impl MeterState {
    pub(super) fn on_send(&mut self, payload_len: usize) {
        self.meter.bytes_sent += (payload_len + FRAME_HEADER_LEN) as u64;
        self.meter.messages_sent += 1;
        self.sending = true;
    }

    pub(super) fn on_recv(&mut self, payload_len: usize) {
        if self.sending {
            self.meter.rounds += 1;
            self.sending = false;
        }
        self.meter.bytes_received += (payload_len + FRAME_HEADER_LEN) as u64;
        self.meter.messages_received += 1;
    }
}
