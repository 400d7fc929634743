//! [`OtPlanner`]: the planned traffic of the OT primitives the protocols call, for either
//! backend, message by message; for Ferret it also follows both directions' COT pools, so
//! it knows where a draw triggers a refill (the multi-point COT message from the COT
//! sender, in frames of [`crate::ot::ferret::TREES_PER_FRAME`] trees) and plans those frames at exactly the point the implementation sends them.
//!
//! Chunk sizes mirror private constants of [`crate::ot`]; a change there shows up as a
//! failing planned-equals-metered test.

use super::cost::{Cost, Dir};
use crate::channel::FRAME_HEADER_LEN;
use crate::ot::ferret::FerretParams;
use crate::ot::OtBackend;

/// IKNP: OT blocks of 128 per column chunk (`iknp::CHUNK_BLOCKS`).
const IKNP_CHUNK_BLOCKS: u64 = 512;
/// OTs per correction or flip message, IKNP (`iknp::CHUNK_OTS`) and Ferret
/// ([`crate::ot::ferret::CHUNK`]) alike.
const OT_CHUNK: u64 = IKNP_CHUNK_BLOCKS * 128;
/// IKNP security parameter: columns per extension.
const KAPPA: u64 = 128;

const H: u64 = FRAME_HEADER_LEN as u64;

use Dir::{Recv, Send};

/// Which party is the OT sender of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtDir {
    /// The server sends, the client receives.
    FromServer,
    /// The client sends, the server receives.
    FromClient,
}

/// What one side of an OT batch sends: total bytes (headers included), largest frame
/// payload, and its message flow.
struct Side<'a> {
    bytes: u64,
    frame: u64,
    flow: &'a [Dir],
}

/// A cost with the OT sender's and the receiver's side.
fn directed(dir: OtDir, sender: Side<'_>, receiver: Side<'_>, ots: u64) -> Cost {
    let (server, client) = match dir {
        OtDir::FromServer => (sender, receiver),
        OtDir::FromClient => (receiver, sender),
    };
    Cost::step(server.bytes, client.bytes, server.flow, client.flow, ots)
        .frames(server.frame, client.frame)
}

/// Bytes of `n` items of `bits` bits sent in messages of [`OT_CHUNK`] items.
fn chunked(n: u64, bits: u64) -> u64 {
    let full = n / OT_CHUNK;
    let rest = n % OT_CHUNK;
    let packed = |k: u64| (k * bits).div_ceil(8) + H;
    full * packed(OT_CHUNK) + if rest > 0 { packed(rest) } else { 0 }
}

/// Bytes the IKNP receiver sends to extend `n` OTs (its columns).
fn iknp_columns(n: u64) -> u64 {
    let blocks = n.div_ceil(128);
    KAPPA * 16 * blocks + H * blocks.div_ceil(IKNP_CHUNK_BLOCKS)
}

/// The largest frame the IKNP receiver sends to extend `n` OTs (one column chunk).
pub(crate) fn iknp_column_frame(n: u64) -> u64 {
    KAPPA * 16 * n.div_ceil(128).min(IKNP_CHUNK_BLOCKS)
}

/// Plans OT batches in the order a protocol runs them.
#[derive(Debug, Clone)]
pub struct OtPlanner {
    backend: OtBackend,
    params: FerretParams,
    /// COTs left in the server→client and client→server pools.
    available: [u64; 2],
    /// Main iterations planned so far.
    refills: u64,
    /// The largest each direction's pool buffer has been, in COTs (the engine's
    /// `ferret::pool` never shrinks it).
    high_water: [u64; 2],
}

impl OtPlanner {
    /// A planner for `backend` at the start of a session's first layer (Ferret: the pools
    /// as the bootstrap leaves them, with [`FerretParams::DEFAULT`]).
    pub fn new(backend: OtBackend) -> Self {
        Self::with_params(backend, FerretParams::DEFAULT)
    }

    /// [`OtPlanner::new`] with other Ferret parameters (tests).
    pub(crate) fn with_params(backend: OtBackend, params: FerretParams) -> Self {
        let start = params.usable_after_setup() as u64;
        OtPlanner {
            backend,
            params,
            available: [start, start],
            refills: 0,
            high_water: [start, start],
        }
    }

    /// The backend planned for.
    pub fn backend(&self) -> OtBackend {
        self.backend
    }

    /// Ferret main iterations planned so far (0 for IKNP).
    pub fn refills(&self) -> u64 {
        self.refills
    }

    /// Draws `n` COTs from a direction's pool: the refills this needs, as frames from the
    /// COT sender. Nothing for IKNP.
    fn draw(&mut self, dir: OtDir, n: u64) -> Cost {
        if self.backend == OtBackend::Iknp {
            return Cost::default();
        }
        let pool = &mut self.available[dir as usize];
        let high_water = &mut self.high_water[dir as usize];
        let (mut refills, mut growth) = (0, 0);
        while *pool < n {
            // A refill writes a main iteration after the live COTs, then sets the next
            // iteration's share aside (`ferret::pool::Entries`).
            let held = *pool + self.params.main.n as u64;
            growth += held.saturating_sub(*high_water);
            *high_water = (*high_water).max(held);
            *pool += self.params.usable_per_iteration() as u64;
            refills += 1;
        }
        *pool -= n;
        self.refills += refills;
        if refills == 0 {
            return Cost::default();
        }
        let main = &self.params.main;
        let sender = Side {
            bytes: refills * (main.message_bytes() as u64 + main.frames() as u64 * H),
            frame: main.largest_frame() as u64,
            flow: &[Send],
        };
        let receiver = Side {
            bytes: 0,
            frame: 0,
            flow: &[Recv],
        };
        let mut cost = directed(dir, sender, receiver, 0);
        cost.refills = refills;
        cost.pool_growth = growth;
        cost
    }

    /// `n` random OTs with chosen choices (one `send_random`/`recv_random` call).
    pub fn random(&mut self, dir: OtDir, n: u64) -> Cost {
        if n == 0 {
            return Cost::default();
        }
        let receiver = self.choices(n, &[Send]);
        let sender = Side {
            bytes: 0,
            frame: 0,
            flow: &[Recv],
        };
        let draw = self.draw(dir, n);
        draw.then(directed(dir, sender, receiver, n))
    }

    /// What the receiver of `n` OTs with chosen choices sends: IKNP columns or Ferret's
    /// flip bits.
    fn choices<'a>(&self, n: u64, flow: &'a [Dir]) -> Side<'a> {
        match self.backend {
            OtBackend::Iknp => Side {
                bytes: iknp_columns(n),
                frame: iknp_column_frame(n),
                flow,
            },
            OtBackend::Ferret => Side {
                bytes: chunked(n, 1),
                frame: n.min(OT_CHUNK).div_ceil(8),
                flow,
            },
        }
    }

    /// `n` random OTs with random choices (one `send_random_choice` call).
    pub fn random_choice(&mut self, dir: OtDir, n: u64) -> Cost {
        if n == 0 {
            return Cost::default();
        }
        match self.backend {
            OtBackend::Iknp => self.random(dir, n),
            OtBackend::Ferret => {
                let mut cost = self.draw(dir, n);
                cost.ots += n;
                cost
            }
        }
    }

    /// `n` correlated OTs of `bits` bits (one `send_correlated`/`recv_correlated` call).
    pub fn correlated(&mut self, dir: OtDir, n: u64, bits: u32) -> Cost {
        if n == 0 {
            return Cost::default();
        }
        let receiver = self.choices(n, &[Send, Recv]);
        let sender = Side {
            bytes: chunked(n, u64::from(bits)),
            frame: (n.min(OT_CHUNK) * u64::from(bits)).div_ceil(8),
            flow: &[Recv, Send],
        };
        let draw = self.draw(dir, n);
        draw.then(directed(dir, sender, receiver, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ferret_refills_follow_the_pools() {
        let params = FerretParams::TOY;
        let mut p = OtPlanner::with_params(OtBackend::Ferret, params);
        let first = params.usable_after_setup() as u64;
        assert_eq!(p.random_choice(OtDir::FromServer, first).refills, 0);
        // The other direction's pool is untouched.
        assert_eq!(p.random_choice(OtDir::FromClient, first).refills, 0);
        let cost = p.random_choice(OtDir::FromServer, 1);
        assert_eq!(cost.refills, 1);
        assert_eq!(
            cost.server_sent,
            params.main.message_bytes() as u64 + params.main.frames() as u64 * H
        );
        // The direction's first refill grows its buffer from the bootstrap's output to a
        // main iteration (nothing was left to keep).
        let main = params.main.n as u64;
        assert_eq!(cost.pool_growth, main - first);
        let per = params.usable_per_iteration() as u64;
        // A draw of three iterations' worth holds them all at once: each refill after the
        // first grows the buffer by what the one before left usable.
        let three = p.random_choice(OtDir::FromClient, 3 * per);
        assert_eq!(three.refills, 3);
        assert_eq!(three.pool_growth, main - first + 2 * per);
        assert_eq!(p.refills(), 4);
        // A refill that holds no more than the largest before reuses the buffer.
        assert_eq!(p.random_choice(OtDir::FromServer, per - 1).refills, 0);
        let again = p.random_choice(OtDir::FromServer, 1);
        assert_eq!((again.refills, again.pool_growth), (1, 0));
        let iknp = OtPlanner::new(OtBackend::Iknp).random_choice(OtDir::FromServer, 128);
        assert_eq!(iknp.client_sent, 128 * 16 + H);
        assert_eq!(iknp.client_frame, 128 * 16);
        let mut p = OtPlanner::with_params(OtBackend::Ferret, params);
        let big = p.correlated(OtDir::FromClient, 3 * OT_CHUNK, 41);
        assert_eq!(
            big.client_frame,
            OT_CHUNK * 41 / 8,
            "corrections come in chunks"
        );
        assert_eq!(
            big.server_frame,
            OT_CHUNK / 8,
            "the server sends flips only"
        );
        assert!(big.refills > 0);
    }
}
