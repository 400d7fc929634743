//! [`Cost`]: planned traffic and rounds of a protocol call, composable in sequence.
//!
//! Rounds follow the channel's [`crate::channel::Meter`]: a round is a switch from sending
//! to receiving at one endpoint. Each party's message flow is kept as a [`Flow`] (rounds
//! inside, first and last direction), so `a.then(b)` counts the switch at the seam. The
//! planned rounds assume the party's previous operation before the call was a receive; if it
//! was a send and the call starts by receiving, the meter shows one round more
//! ([`Flow::rounds_after_send`]).

/// The direction of one step of a party's message flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// The party sends (one or more frames).
    Send,
    /// The party receives.
    Recv,
}

/// One party's message flow during a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Switches from sending to receiving inside the call.
    pub rounds: u64,
    /// The first direction, if the party communicates at all.
    pub first: Option<Dir>,
    /// The last direction.
    pub last: Option<Dir>,
}

impl Flow {
    /// The flow of a sequence of steps.
    pub fn of(steps: &[Dir]) -> Flow {
        steps.iter().fold(Flow::default(), |f, &d| {
            f.then(Flow {
                rounds: 0,
                first: Some(d),
                last: Some(d),
            })
        })
    }

    /// This flow followed by `next`.
    pub fn then(self, next: Flow) -> Flow {
        let seam = self.last == Some(Dir::Send) && next.first == Some(Dir::Recv);
        Flow {
            rounds: self.rounds + next.rounds + seam as u64,
            first: self.first.or(next.first),
            last: next.last.or(self.last),
        }
    }

    /// The rounds a meter shows when the party's previous operation was a send.
    pub fn rounds_after_send(&self) -> u64 {
        self.rounds + (self.first == Some(Dir::Recv)) as u64
    }
}

/// Planned traffic of one protocol call, per party, frame headers included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Cost {
    /// Bytes the server sends (the client receives the same).
    pub server_sent: u64,
    /// Bytes the client sends.
    pub client_sent: u64,
    /// 1-of-2 OTs extended (both directions together).
    pub ots: u64,
    /// Ferret main iterations run during the call (both directions together; 0 for IKNP).
    pub refills: u64,
    /// COTs by which those refills grow the pools' buffers beyond any earlier size (both
    /// directions together): a draw needs all its COTs live at once, so the buffer holds
    /// what was left plus each iteration's output, and every entry past its high-water mark
    /// is allocated and zero-filled (16 B at each party, page faults included). The first
    /// refill of a direction grows it by about a main iteration (~100 MB); a draw larger
    /// than any before grows it again.
    pub pool_growth: u64,
    /// The largest frame payload the server sends (what the client must accept).
    pub server_frame: u64,
    /// The largest frame payload the client sends.
    pub client_frame: u64,
    /// The server's message flow.
    pub server: Flow,
    /// The client's message flow.
    pub client: Flow,
}

impl Cost {
    /// One exchange: bytes and directions of each party, OTs used.
    pub(crate) fn step(
        server_sent: u64,
        client_sent: u64,
        server: &[Dir],
        client: &[Dir],
        ots: u64,
    ) -> Cost {
        Cost {
            server_sent,
            client_sent,
            ots,
            refills: 0,
            pool_growth: 0,
            server_frame: 0,
            client_frame: 0,
            server: Flow::of(server),
            client: Flow::of(client),
        }
    }

    /// The same cost with the largest frame payload each party sends.
    pub(crate) fn frames(mut self, server: u64, client: u64) -> Cost {
        self.server_frame = server;
        self.client_frame = client;
        self
    }

    /// Bytes in both directions.
    pub fn total_bytes(&self) -> u64 {
        self.server_sent + self.client_sent
    }

    /// This call followed by `next` on the same channel.
    pub fn then(self, next: Cost) -> Cost {
        Cost {
            server_sent: self.server_sent + next.server_sent,
            client_sent: self.client_sent + next.client_sent,
            ots: self.ots + next.ots,
            refills: self.refills + next.refills,
            pool_growth: self.pool_growth + next.pool_growth,
            server_frame: self.server_frame.max(next.server_frame),
            client_frame: self.client_frame.max(next.client_frame),
            server: self.server.then(next.server),
            client: self.client.then(next.client),
        }
    }
}

impl std::iter::Sum for Cost {
    /// Calls in sequence.
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::default(), Cost::then)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dir::{Recv, Send};

    #[test]
    fn flows_count_switches_to_receiving() {
        assert_eq!(Flow::of(&[Send, Recv, Send, Recv]).rounds, 2);
        assert_eq!(Flow::of(&[Recv, Send]).rounds, 0);
        assert_eq!(Flow::of(&[Recv, Send]).rounds_after_send(), 1);
        let f = Flow::of(&[Recv, Send]).then(Flow::of(&[Recv, Send]));
        assert_eq!(f.rounds, 1);
        assert_eq!(Flow::default().then(Flow::of(&[Send])).first, Some(Send));
    }
}
