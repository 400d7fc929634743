//! IKNP OT extension (Ishai–Kilian–Nissim–Petrank, semi-honest) with κ = 128.
//!
//! Setup runs 128 Chou–Orlandi base OTs with the roles reversed: the extension receiver
//! holds seed pairs `(k_i^0, k_i^1)`, the extension sender holds `k_i^{s_i}` for a random
//! `Δ = s`. To extend m OTs with choice vector `r`, the receiver sends the columns
//! `u_i = G(k_i^0) ⊕ G(k_i^1) ⊕ r`; the sender computes `q_i = G(k_i^{s_i}) ⊕ s_i·u_i`.
//! After a 128×m bit-matrix transpose, row `j` satisfies `q_j = t_j ⊕ r_j·Δ`, and
//! `H(q_j, j)`, `H(q_j ⊕ Δ, j)` / `H(t_j, j)` are the random-OT outputs. `G` is AES-128-CTR
//! keyed by the seed (state kept across calls) and `H` the fixed-key-AES hash of
//! [`super::aes_prims`], tweaked by the session tag and a running OT index.
//!
//! Work and messages go in chunks of 65,536 OTs, so memory stays bounded per frame and a
//! call of any size is one round trip (chosen and correlated OT) or one message (random OT).
//! The sender reads every column chunk before it answers, so two parties on one TCP stream
//! never both block on writes.

use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::aes_prims::{AesPrg, CrHash};
use super::bits::{low_mask, pack, pack_bools_u128, unpack};
use super::error::{expect_len, OtError};
use super::transpose::transpose_columns;
use super::{base, Block, OtReceiver, OtSender, Role};
use crate::channel::Channel;

/// 128-bit blocks per column and chunk.
const CHUNK_BLOCKS: usize = 512;
/// OTs per chunk.
const CHUNK_OTS: usize = CHUNK_BLOCKS * 128;
/// Security parameter: number of base OTs and width of the extension matrix.
const KAPPA: usize = 128;

fn check_bits(bits: u32) -> Result<(), OtError> {
    if !(1..=64).contains(&bits) {
        return Err(OtError::InvalidInput(format!(
            "correlated ot needs 1 to 64 bits, got {bits}"
        )));
    }
    Ok(())
}

fn read_block(bytes: &[u8], index: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[index * 16..(index + 1) * 16]);
    u128::from_le_bytes(b)
}

/// The sending side of IKNP OT extension.
pub struct IknpSender {
    delta: u128,
    prgs: Vec<AesPrg>,
    hash: CrHash,
    session: u64,
    next_index: u64,
}

impl std::fmt::Debug for IknpSender {
    /// Shows the session and position only: Δ and the seeds are secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IknpSender")
            .field("session", &self.session)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl IknpSender {
    /// Runs the base OTs (as their receiver) against [`IknpReceiver::setup`] on the peer.
    /// `session` must be the same on both sides and unique per direction and connection.
    pub fn setup<R: CryptoRng + ?Sized>(
        ch: &mut dyn Channel,
        session: u64,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        let delta: u128 = rng.random();
        Self::setup_with_delta(ch, session, delta, rng)
    }

    /// [`IknpSender::setup`] with a given Δ (the Ferret bootstrap needs Δ's low bit set).
    pub(crate) fn setup_with_delta<R: CryptoRng + ?Sized>(
        ch: &mut dyn Channel,
        session: u64,
        delta: u128,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        let choices: Vec<bool> = (0..KAPPA).map(|i| (delta >> i) & 1 == 1).collect();
        let seeds = base::receive(ch, &choices, session, rng)?;
        Ok(IknpSender {
            delta,
            prgs: seeds.into_iter().map(AesPrg::new).collect(),
            hash: CrHash::new(),
            session,
            next_index: 0,
        })
    }

    /// Extends `n` OTs: returns the rows `q_j = t_j ⊕ r_j·Δ` and the tweak of row 0.
    fn extend(&mut self, ch: &mut dyn Channel, n: usize) -> Result<(Vec<u128>, u128), OtError> {
        let blocks_total = n.div_ceil(128);
        let tweak0 = ((self.session as u128) << 64) | self.next_index as u128;
        self.next_index = self.next_index.wrapping_add((blocks_total * 128) as u64);
        let mut rows = vec![0u128; blocks_total * 128];
        let mut cols = Vec::new();
        let mut done = 0;
        while done < blocks_total {
            let cb = CHUNK_BLOCKS.min(blocks_total - done);
            let msg = ch.recv()?;
            expect_len(&msg, KAPPA * cb * 16, "iknp column chunk")?;
            cols.resize(KAPPA * cb, 0);
            for (i, prg) in self.prgs.iter_mut().enumerate() {
                let col = &mut cols[i * cb..(i + 1) * cb];
                prg.fill(col);
                if (self.delta >> i) & 1 == 1 {
                    for (b, w) in col.iter_mut().enumerate() {
                        *w ^= read_block(&msg, i * cb + b);
                    }
                }
            }
            transpose_columns(&cols, cb, &mut rows[done * 128..(done + cb) * 128]);
            done += cb;
        }
        rows.truncate(n);
        Ok((rows, tweak0))
    }

    /// `n` raw correlated OTs for the Ferret bootstrap: keys `k_j` with their low bit
    /// cleared, the receiver holding `k_j ⊕ r_j·Δ` ([`IknpReceiver::extend_cot`]). The
    /// correlation holds on all 128 bits only when Δ's low bit is 1.
    pub(crate) fn extend_cot(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<Vec<u128>, OtError> {
        let (rows, _) = self.extend(ch, n)?;
        Ok(rows.into_iter().map(|q| q & !1).collect())
    }

    /// `[H(q_j, j), H(q_j ⊕ Δ, j)]` for rows starting at tweak `tweak`.
    fn pads(&self, rows: &[u128], tweak: u128) -> Vec<[u128; 2]> {
        let mut pads: Vec<[u128; 2]> = rows.iter().map(|&q| [q, q]).collect();
        self.hash.hash_pairs_in_place(&mut pads, self.delta, tweak);
        pads
    }
}

impl OtSender for IknpSender {
    fn send_chosen(
        &mut self,
        ch: &mut dyn Channel,
        messages: &[[Block; 2]],
    ) -> Result<(), OtError> {
        let (rows, tweak0) = self.extend(ch, messages.len())?;
        let mut out = Vec::with_capacity(CHUNK_OTS.min(messages.len()) * 32);
        for (c, (rows, msgs)) in rows
            .chunks(CHUNK_OTS)
            .zip(messages.chunks(CHUNK_OTS))
            .enumerate()
        {
            let pads = self.pads(rows, tweak0 + (c * CHUNK_OTS) as u128);
            out.clear();
            for (m, [a, b]) in msgs.iter().zip(&pads) {
                out.extend_from_slice(&(m[0] ^ a).to_le_bytes());
                out.extend_from_slice(&(m[1] ^ b).to_le_bytes());
            }
            ch.send(&out)?;
        }
        ch.flush()?;
        Ok(())
    }

    fn send_random(&mut self, ch: &mut dyn Channel, n: usize) -> Result<Vec<[Block; 2]>, OtError> {
        let (rows, tweak0) = self.extend(ch, n)?;
        Ok(self.pads(&rows, tweak0))
    }

    fn send_random_choice(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<Vec<[Block; 2]>, OtError> {
        // IKNP has no cheaper form: the receiver draws its choices and extends as usual.
        self.send_random(ch, n)
    }

    fn send_correlated(
        &mut self,
        ch: &mut dyn Channel,
        deltas: &[u64],
        bits: u32,
    ) -> Result<Vec<u64>, OtError> {
        check_bits(bits)?;
        let mask = low_mask(bits);
        let (rows, tweak0) = self.extend(ch, deltas.len())?;
        let mut xs = Vec::with_capacity(deltas.len());
        let mut diffs = Vec::with_capacity(CHUNK_OTS.min(deltas.len()));
        for (c, (rows, deltas)) in rows
            .chunks(CHUNK_OTS)
            .zip(deltas.chunks(CHUNK_OTS))
            .enumerate()
        {
            let pads = self.pads(rows, tweak0 + (c * CHUNK_OTS) as u128);
            diffs.clear();
            for (d, [a, b]) in deltas.iter().zip(&pads) {
                let x = *a as u64 & mask;
                xs.push(x);
                diffs.push(x.wrapping_add(*d).wrapping_sub(*b as u64) & mask);
            }
            ch.send(&pack(&diffs, bits))?;
        }
        ch.flush()?;
        Ok(xs)
    }
}

/// The receiving side of IKNP OT extension.
pub struct IknpReceiver {
    prgs: Vec<[AesPrg; 2]>,
    /// Draws the choices of random-choice OTs.
    rng: ChaCha20Rng,
    hash: CrHash,
    session: u64,
    next_index: u64,
}

impl std::fmt::Debug for IknpReceiver {
    /// Shows the session and position only: the seeds are secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IknpReceiver")
            .field("session", &self.session)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl IknpReceiver {
    /// Runs the base OTs (as their sender) against [`IknpSender::setup`] on the peer.
    pub fn setup<R: CryptoRng + ?Sized>(
        ch: &mut dyn Channel,
        session: u64,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        let seeds = base::send(ch, KAPPA, session, rng)?;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Ok(IknpReceiver {
            rng: ChaCha20Rng::from_seed(seed),
            prgs: seeds
                .into_iter()
                .map(|[k0, k1]| [AesPrg::new(k0), AesPrg::new(k1)])
                .collect(),
            hash: CrHash::new(),
            session,
            next_index: 0,
        })
    }

    /// Raw correlated OTs for the Ferret bootstrap: the rows `t_j` with their low bit
    /// replaced by the choice, i.e. `k_j ⊕ c_j·Δ` for the sender's keys of
    /// [`IknpSender::extend_cot`].
    pub(crate) fn extend_cot(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<u128>, OtError> {
        let (rows, _) = self.extend(ch, choices)?;
        Ok(rows
            .into_iter()
            .zip(choices)
            .map(|(t, &c)| (t & !1) | c as u128)
            .collect())
    }

    /// Extends OTs for `choices`: sends the columns `u_i`, returns the rows `t_j` and the
    /// tweak of row 0.
    fn extend(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<(Vec<u128>, u128), OtError> {
        let n = choices.len();
        let blocks_total = n.div_ceil(128);
        let tweak0 = ((self.session as u128) << 64) | self.next_index as u128;
        self.next_index = self.next_index.wrapping_add((blocks_total * 128) as u64);
        let r = pack_bools_u128(choices, blocks_total);
        let mut rows = vec![0u128; blocks_total * 128];
        let mut cols = Vec::new();
        let mut other = Vec::new();
        let mut msg = Vec::new();
        let mut done = 0;
        while done < blocks_total {
            let cb = CHUNK_BLOCKS.min(blocks_total - done);
            cols.resize(KAPPA * cb, 0);
            other.resize(cb, 0);
            msg.clear();
            msg.reserve(KAPPA * cb * 16);
            for (i, [g0, g1]) in self.prgs.iter_mut().enumerate() {
                let col = &mut cols[i * cb..(i + 1) * cb];
                g0.fill(col);
                g1.fill(&mut other);
                for ((t, g), r) in col.iter().zip(&other).zip(&r[done..done + cb]) {
                    msg.extend_from_slice(&(t ^ g ^ r).to_le_bytes());
                }
            }
            ch.send(&msg)?;
            transpose_columns(&cols, cb, &mut rows[done * 128..(done + cb) * 128]);
            done += cb;
        }
        ch.flush()?;
        rows.truncate(n);
        Ok((rows, tweak0))
    }
}

impl OtReceiver for IknpReceiver {
    fn recv_chosen(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<Block>, OtError> {
        let (mut pads, tweak0) = self.extend(ch, choices)?;
        self.hash.hash_in_place(&mut pads, 0, tweak0);
        for (pads, choices) in pads.chunks_mut(CHUNK_OTS).zip(choices.chunks(CHUNK_OTS)) {
            let msg = ch.recv()?;
            expect_len(&msg, pads.len() * 32, "iknp masked messages")?;
            for (j, (p, &c)) in pads.iter_mut().zip(choices).enumerate() {
                *p ^= read_block(&msg, 2 * j + c as usize);
            }
        }
        Ok(pads)
    }

    fn recv_random(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<Block>, OtError> {
        let (mut pads, tweak0) = self.extend(ch, choices)?;
        self.hash.hash_in_place(&mut pads, 0, tweak0);
        Ok(pads)
    }

    fn recv_random_choice(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<(Vec<bool>, Vec<Block>), OtError> {
        let choices: Vec<bool> = (0..n).map(|_| self.rng.random()).collect();
        let pads = self.recv_random(ch, &choices)?;
        Ok((choices, pads))
    }

    fn recv_correlated(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
        bits: u32,
    ) -> Result<Vec<u64>, OtError> {
        check_bits(bits)?;
        let mask = low_mask(bits);
        let (mut pads, tweak0) = self.extend(ch, choices)?;
        self.hash.hash_in_place(&mut pads, 0, tweak0);
        let mut out = Vec::with_capacity(choices.len());
        for (pads, choices) in pads.chunks(CHUNK_OTS).zip(choices.chunks(CHUNK_OTS)) {
            let msg = ch.recv()?;
            let diffs = unpack(&msg, bits, pads.len(), "correlated-ot differences")?;
            for ((p, &c), d) in pads.iter().zip(choices).zip(diffs) {
                let h = *p as u64;
                out.push(if c { h.wrapping_add(d) } else { h } & mask);
            }
        }
        Ok(out)
    }
}

/// An IKNP sender and receiver on one connection, one per direction, so either party can
/// play either OT role.
#[derive(Debug)]
pub struct IknpPair {
    /// This party as OT sender (paired with the peer's receiver).
    pub sender: IknpSender,
    /// This party as OT receiver (paired with the peer's sender).
    pub receiver: IknpReceiver,
}

impl IknpPair {
    /// Sets up both directions: the server's sender pairs with the client's receiver first,
    /// then the client's sender with the server's receiver. `session` must match on both sides.
    pub fn setup<R: CryptoRng + ?Sized>(
        role: Role,
        ch: &mut dyn Channel,
        session: u64,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        let server_to_client = session.wrapping_mul(2);
        let client_to_server = server_to_client.wrapping_add(1);
        Ok(match role {
            Role::Server => {
                let sender = IknpSender::setup(ch, server_to_client, rng)?;
                let receiver = IknpReceiver::setup(ch, client_to_server, rng)?;
                IknpPair { sender, receiver }
            }
            Role::Client => {
                let receiver = IknpReceiver::setup(ch, server_to_client, rng)?;
                let sender = IknpSender::setup(ch, client_to_server, rng)?;
                IknpPair { sender, receiver }
            }
        })
    }
}

#[cfg(test)]
mod tests;
