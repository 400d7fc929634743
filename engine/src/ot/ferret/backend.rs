//! [`FerretSender`] and [`FerretReceiver`]: the OT flavours the protocols ask for, served
//! from a direction's COT pools.
//!
//! A drawn COT is a random OT with a random choice: the sender's pads are
//! `H(k), H(k ⊕ Δ)`, the receiver's `H(m)` under its choice bit `b` (H the TCCR hash,
//! tweaked by the COT's position in the stream). Random-choice OT stops there: no traffic.
//! For a chosen choice `c` the receiver sends one bit `d = c ⊕ b` per OT and the sender
//! swaps its pads when `d = 1`; correlated and chosen-message OT then send their
//! corrections or masked messages as IKNP does. Messages go in chunks of
//! [`CHUNK`] OTs: the receiver sends all its bits before the sender answers, so the two
//! parties never both block on writes.

use super::super::aes_prims::CrHash;
use super::super::bits::{low_mask, pack, pack_bools, unpack};
use super::super::error::{expect_len, OtError};
use super::super::{Block, OtReceiver, OtSender};
use super::pool::{ReceiverPool, SenderPool};
use super::spcot::CHOICE_BIT;
use crate::channel::Channel;

/// OTs per message (flip bits, corrections, masked messages).
pub const CHUNK: usize = 1 << 16;

fn check_bits(bits: u32) -> Result<(), OtError> {
    if !(1..=64).contains(&bits) {
        return Err(OtError::InvalidInput(format!(
            "correlated ot needs 1 to 64 bits, got {bits}"
        )));
    }
    Ok(())
}

/// The sending side of the Ferret backend in one direction.
pub struct FerretSender {
    pool: SenderPool,
    hash: CrHash,
}

impl std::fmt::Debug for FerretSender {
    /// Shows the pool level only: Δ and the keys are secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FerretSender")
            .field("available", &self.pool.available())
            .finish_non_exhaustive()
    }
}

impl FerretSender {
    pub(super) fn new(pool: SenderPool) -> Self {
        FerretSender {
            pool,
            hash: CrHash::new(),
        }
    }

    /// COTs left in the pool before the next refill.
    pub fn available(&self) -> usize {
        self.pool.available()
    }

    /// Draws `n` COTs and returns their pads `[H(k), H(k ⊕ Δ)]`, swapped where `flips`
    /// (when given) says so.
    fn pads(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
        flips: bool,
    ) -> Result<Vec<[Block; 2]>, OtError> {
        let delta = self.pool.delta();
        let (keys, tweak) = self.pool.draw(ch, n)?;
        let mut pads: Vec<[Block; 2]> = Vec::with_capacity(n);
        if flips {
            // One pass per chunk: each key with Δ added where its flip bit says so.
            for keys in keys.chunks(CHUNK) {
                let msg = ch.recv()?;
                expect_len(&msg, keys.len().div_ceil(8), "ferret choice flips")?;
                pads.extend(keys.iter().enumerate().map(|(j, &k)| {
                    let d = ((msg[j / 8] >> (j % 8)) & 1) as u128;
                    let x = k ^ (delta & d.wrapping_neg());
                    [x, x]
                }));
            }
        } else {
            pads.extend(keys.iter().map(|&k| [k, k]));
        }
        self.hash.hash_pairs_in_place(&mut pads, delta, tweak);
        Ok(pads)
    }
}

impl OtSender for FerretSender {
    fn send_chosen(
        &mut self,
        ch: &mut dyn Channel,
        messages: &[[Block; 2]],
    ) -> Result<(), OtError> {
        let pads = self.pads(ch, messages.len(), true)?;
        let mut out = Vec::with_capacity(CHUNK.min(messages.len()) * 32);
        for (msgs, pads) in messages.chunks(CHUNK).zip(pads.chunks(CHUNK)) {
            out.clear();
            for (m, p) in msgs.iter().zip(pads) {
                out.extend_from_slice(&(m[0] ^ p[0]).to_le_bytes());
                out.extend_from_slice(&(m[1] ^ p[1]).to_le_bytes());
            }
            ch.send(&out)?;
        }
        ch.flush()?;
        Ok(())
    }

    fn send_random(&mut self, ch: &mut dyn Channel, n: usize) -> Result<Vec<[Block; 2]>, OtError> {
        self.pads(ch, n, true)
    }

    fn send_random_choice(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<Vec<[Block; 2]>, OtError> {
        self.pads(ch, n, false)
    }

    fn send_correlated(
        &mut self,
        ch: &mut dyn Channel,
        deltas: &[u64],
        bits: u32,
    ) -> Result<Vec<u64>, OtError> {
        check_bits(bits)?;
        let mask = low_mask(bits);
        let pads = self.pads(ch, deltas.len(), true)?;
        let mut xs = Vec::with_capacity(deltas.len());
        let mut diffs = Vec::with_capacity(CHUNK.min(deltas.len()));
        for (deltas, pads) in deltas.chunks(CHUNK).zip(pads.chunks(CHUNK)) {
            diffs.clear();
            for (d, [a, b]) in deltas.iter().zip(pads) {
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

/// The receiving side of the Ferret backend in one direction.
pub struct FerretReceiver {
    pool: ReceiverPool,
    hash: CrHash,
}

impl std::fmt::Debug for FerretReceiver {
    /// Shows the pool level only: the blocks are secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FerretReceiver")
            .field("available", &self.pool.available())
            .finish_non_exhaustive()
    }
}

impl FerretReceiver {
    pub(super) fn new(pool: ReceiverPool) -> Self {
        FerretReceiver {
            pool,
            hash: CrHash::new(),
        }
    }

    /// COTs left in the pool before the next refill.
    pub fn available(&self) -> usize {
        self.pool.available()
    }

    /// Draws `choices.len()` COTs (or `n` with random choices when `choices` is `None`),
    /// sends the flips for given choices, and returns the choices and the pads `H(m)`.
    fn pads(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
        choices: Option<&[bool]>,
    ) -> Result<(Vec<bool>, Vec<Block>), OtError> {
        let (mut blocks, tweak) = self.pool.draw(ch, n)?;
        let own: Vec<bool> = blocks.iter().map(|m| m & CHOICE_BIT == 1).collect();
        let chosen = match choices {
            None => own,
            Some(choices) => {
                let mut flips = Vec::with_capacity(CHUNK.min(n));
                for (c, b) in choices.chunks(CHUNK).zip(own.chunks(CHUNK)) {
                    flips.clear();
                    flips.extend(c.iter().zip(b).map(|(c, b)| c ^ b));
                    ch.send(&pack_bools(&flips))?;
                }
                ch.flush()?;
                choices.to_vec()
            }
        };
        self.hash.hash_in_place(&mut blocks, 0, tweak);
        Ok((chosen, blocks))
    }
}

impl OtReceiver for FerretReceiver {
    fn recv_chosen(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<Block>, OtError> {
        let (_, mut pads) = self.pads(ch, choices.len(), Some(choices))?;
        for (pads, choices) in pads.chunks_mut(CHUNK).zip(choices.chunks(CHUNK)) {
            let msg = ch.recv()?;
            expect_len(&msg, pads.len() * 32, "ferret masked messages")?;
            for (j, (p, &c)) in pads.iter_mut().zip(choices).enumerate() {
                let at = (2 * j + c as usize) * 16;
                let mut b = [0u8; 16];
                b.copy_from_slice(&msg[at..at + 16]);
                *p ^= u128::from_le_bytes(b);
            }
        }
        Ok(pads)
    }

    fn recv_random(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
    ) -> Result<Vec<Block>, OtError> {
        Ok(self.pads(ch, choices.len(), Some(choices))?.1)
    }

    fn recv_random_choice(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<(Vec<bool>, Vec<Block>), OtError> {
        self.pads(ch, n, None)
    }

    fn recv_correlated(
        &mut self,
        ch: &mut dyn Channel,
        choices: &[bool],
        bits: u32,
    ) -> Result<Vec<u64>, OtError> {
        check_bits(bits)?;
        let mask = low_mask(bits);
        let (_, pads) = self.pads(ch, choices.len(), Some(choices))?;
        let mut out = Vec::with_capacity(choices.len());
        for (pads, choices) in pads.chunks(CHUNK).zip(choices.chunks(CHUNK)) {
            let msg = ch.recv()?;
            let diffs = unpack(&msg, bits, pads.len(), "ferret correlated-ot differences")?;
            for ((p, &c), d) in pads.iter().zip(choices).zip(diffs) {
                let h = *p as u64;
                out.push(if c { h.wrapping_add(d) } else { h } & mask);
            }
        }
        Ok(out)
    }
}
