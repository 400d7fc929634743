//! Ferret: silent correlated-OT extension (Yang, Weng, Lan, Zhang, Wang, "Ferret: Fast
//! Extension for coRRElated oT with small communication", CCS 2020), semi-honest, written
//! from the paper.
//!
//! Each direction keeps a pool of correlated OTs (COTs: the sender holds Δ and keys `k_i`,
//! the receiver `m_i = k_i ⊕ b_i·Δ` with a random choice `b_i`):
//!
//! - [`params`]: the LPN instances (emp-ot's current 128-bit regular-noise sets; the paper's
//!   2020 set kept for comparison) and their costs;
//! - `ggm.rs`: half-trees (correlated GGM trees, Guo et al. 2023) over a fixed-key-AES
//!   circular correlation-robust hash (the punctured PRF);
//! - `spcot.rs`: single-point COT from one tree and `h` COTs;
//! - `mpcot.rs`: multi-point COT with regular noise, `t` trees in one message;
//! - `lpn.rs`: the public local linear code (10 nonzeros per column);
//! - `pool.rs`: bootstrap from IKNP (a small setup iteration), then main iterations that
//!   reserve their own next input — refilled whenever a draw needs more than is left;
//! - `backend.rs`: [`FerretSender`] / [`FerretReceiver`], the [`super::OtSender`] /
//!   [`super::OtReceiver`] flavours served from the pools.
//!
//! One main iteration costs the sender one message of `t·(h − 1)` blocks (268 KB) and
//! yields 5.9 M COTs: 0.36 bit of traffic per COT (Ferret's GGM trees took `t·(2h + 1)`
//! blocks, 0.82 bit). An OT with a chosen choice adds one bit
//! from the receiver; random-choice OT (bit triples) adds nothing.

mod backend;
mod ggm;
mod lpn;
mod mpcot;
pub mod params;
mod pool;
mod spcot;

#[cfg(test)]
mod tests;

use rand::CryptoRng;

pub use backend::{FerretReceiver, FerretSender, CHUNK};
pub use params::{FerretParams, LpnParams, TREES_PER_FRAME};

use super::{OtError, Role};
use crate::channel::Channel;
use pool::{ReceiverPool, SenderPool};

/// A Ferret sender and receiver on one connection, one per direction, so either party can
/// play either OT role.
#[derive(Debug)]
pub struct FerretPair {
    /// This party as OT sender (paired with the peer's receiver).
    pub sender: FerretSender,
    /// This party as OT receiver (paired with the peer's sender).
    pub receiver: FerretReceiver,
}

impl FerretPair {
    /// Bootstraps both directions with [`FerretParams::DEFAULT`]: the server's sender pairs
    /// with the client's receiver first. `session` must match on both sides and be unique
    /// per connection.
    pub fn setup<R: CryptoRng + ?Sized>(
        role: Role,
        ch: &mut dyn Channel,
        session: u64,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        Self::setup_with(role, ch, session, FerretParams::DEFAULT, rng)
    }

    /// [`FerretPair::setup`] with other LPN parameters (tests use tiny, insecure ones to
    /// exercise many refills).
    pub(crate) fn setup_with<R: CryptoRng + ?Sized>(
        role: Role,
        ch: &mut dyn Channel,
        session: u64,
        params: FerretParams,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        if !params.is_consistent() {
            return Err(OtError::InvalidInput(format!(
                "inconsistent ferret parameters {params:?}"
            )));
        }
        let server_to_client = session.wrapping_mul(2);
        let client_to_server = server_to_client.wrapping_add(1);
        Ok(match role {
            Role::Server => {
                let sender = SenderPool::bootstrap(ch, params, server_to_client, rng)?;
                let receiver = ReceiverPool::bootstrap(ch, params, client_to_server, rng)?;
                FerretPair {
                    sender: FerretSender::new(sender),
                    receiver: FerretReceiver::new(receiver),
                }
            }
            Role::Client => {
                let receiver = ReceiverPool::bootstrap(ch, params, server_to_client, rng)?;
                let sender = SenderPool::bootstrap(ch, params, client_to_server, rng)?;
                FerretPair {
                    sender: FerretSender::new(sender),
                    receiver: FerretReceiver::new(receiver),
                }
            }
        })
    }
}
