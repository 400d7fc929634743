//! The COT pools of one direction: the sender's keys under Δ and the receiver's blocks,
//! bootstrapped from IKNP and refilled by Ferret iterations whenever a draw needs more than
//! is left.
//!
//! Convention (as in the authors' implementation): Δ has its low bit set, every sender key
//! has its low bit clear, so the receiver's block `m = k ⊕ b·Δ` carries its choice bit `b`
//! in its low bit, and the linear LPN step carries the choice bits along for free.
//!
//! An iteration consumes `k + t·h` reserved COTs and yields `n`: the last `k + t·h` become
//! the next reserve, the rest join the pool. The sender's only message is the multi-point
//! COT's, in frames of [`TREES_PER_FRAME`](super::params::TREES_PER_FRAME) trees; both
//! sides draw in the same order, so they refill at the same points without asking each
//! other.

use rand::{CryptoRng, Rng};

use super::super::error::OtError;
use super::super::iknp::{IknpReceiver, IknpSender};
use super::params::{FerretParams, LpnParams};
use super::spcot::{TreeKit, CHOICE_BIT};
use super::{lpn, mpcot};
use crate::channel::Channel;

/// The position in a direction's stream of COTs and iterations, which both sides advance
/// identically: the drawn OTs' hash tweaks and the LPN code keys derive from it.
#[derive(Debug, Clone)]
struct Stream {
    /// Session and direction (unique per connection and direction).
    domain: u64,
    /// COTs drawn so far.
    drawn: u64,
    /// Iterations run so far (the bootstrap is iteration 0).
    iterations: u64,
}

impl Stream {
    fn new(domain: u64) -> Self {
        Stream {
            domain,
            drawn: 0,
            iterations: 0,
        }
    }

    /// The first tweak for the next `n` drawn COTs.
    fn draw_tweak(&mut self, n: usize) -> u128 {
        let t = ((self.domain as u128) << 64) | self.drawn as u128;
        self.drawn += n as u64;
        t
    }

    /// The next iteration's LPN code key.
    fn iteration(&mut self) -> u128 {
        let mut h = blake3::Hasher::new_derive_key("snni-lab 2026 ot/ferret lpn code key");
        h.update(&self.domain.to_le_bytes());
        h.update(&self.iterations.to_le_bytes());
        self.iterations += 1;
        let mut key = [0u8; 16];
        key.copy_from_slice(&h.finalize().as_bytes()[..16]);
        u128::from_le_bytes(key)
    }
}

/// A pool's COTs (keys or blocks) in one buffer that is reused across refills: the live
/// entries are `data[pos..end]`; a refill moves them to the front and writes the
/// iteration's output after them, so after the first refill no iteration allocates, clears
/// or copies its 10.8 M outputs again (a fresh or zero-filled 173 MB buffer per refill
/// cost page faults and a memset in the profile of issue 15).
#[derive(Default)]
struct Entries {
    data: Vec<u128>,
    pos: usize,
    end: usize,
}

impl Entries {
    /// Entries `out`, all live.
    fn new(out: Vec<u128>) -> Self {
        let end = out.len();
        Entries {
            data: out,
            pos: 0,
            end,
        }
    }

    fn available(&self) -> usize {
        self.end - self.pos
    }

    /// Moves the live entries to the front and makes room for `n` more after them: returns
    /// their range (its contents are stale; the caller overwrites all of it).
    fn grow(&mut self, n: usize) -> std::ops::Range<usize> {
        self.data.copy_within(self.pos..self.end, 0);
        let start = self.end - self.pos;
        self.pos = 0;
        if self.data.len() < start + n {
            self.data.resize(start + n, 0);
        }
        self.end = start + n;
        start..start + n
    }

    /// Moves the last `n` live entries into `reserve` (reusing its allocation).
    fn split_reserve(&mut self, n: usize, reserve: &mut Vec<u128>) {
        reserve.clear();
        reserve.extend_from_slice(&self.data[self.end - n..self.end]);
        self.end -= n;
    }

    /// Takes the next `n` live entries (the caller has checked there are enough).
    fn take(&mut self, n: usize) -> &[u128] {
        let start = self.pos;
        self.pos += n;
        &self.data[start..start + n]
    }
}

/// The COT sender's pool: Δ and keys.
pub(crate) struct SenderPool {
    params: FerretParams,
    delta: u128,
    keys: Entries,
    reserve: Vec<u128>,
    kit: TreeKit,
    stream: Stream,
}

impl SenderPool {
    /// Bootstraps against [`ReceiverPool::bootstrap`]: IKNP with a Δ whose low bit is set,
    /// then the setup iteration.
    pub(crate) fn bootstrap<R: CryptoRng + ?Sized>(
        ch: &mut dyn Channel,
        params: FerretParams,
        domain: u64,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        let delta = rng.random::<u128>() | CHOICE_BIT;
        let mut iknp = IknpSender::setup_with_delta(ch, domain, delta, rng)?;
        let base = iknp.extend_cot(ch, params.bootstrap_cots())?;
        let mut pool = SenderPool {
            params,
            delta,
            keys: Entries::default(),
            reserve: Vec::new(),
            kit: TreeKit::new(),
            stream: Stream::new(domain),
        };
        let mut out = vec![0u128; params.setup.n];
        pool.iterate(ch, &params.setup, &base, &mut out)?;
        pool.reserve = out.split_off(params.setup.n - params.main.consumed());
        pool.keys = Entries::new(out);
        Ok(pool)
    }

    /// Δ (low bit set).
    pub(crate) fn delta(&self) -> u128 {
        self.delta
    }

    /// COTs left before the next refill.
    pub(crate) fn available(&self) -> usize {
        self.keys.available()
    }

    /// Entries the keys' buffer holds, live or not (its high-water mark).
    #[cfg(test)]
    pub(crate) fn buffer_len(&self) -> usize {
        self.keys.data.len()
    }

    /// One iteration of `lpn` on the COTs `base`: sends the multi-point COT message and
    /// writes the `n` new keys to `out`.
    fn iterate(
        &mut self,
        ch: &mut dyn Channel,
        lpn: &LpnParams,
        base: &[u128],
        out: &mut [u128],
    ) -> Result<(), OtError> {
        let (secret, trees) = base.split_at(lpn.k);
        let code = self.stream.iteration();
        // Each frame out at once: the receiver expands its trees while the next frame's
        // are computed, and the draw that caused the refill may send nothing else.
        mpcot::send(&mut self.kit, lpn, self.delta, trees, out, &mut |frame| {
            ch.send(frame)?;
            ch.flush()?;
            Ok(())
        })?;
        lpn::encode(out, secret, code);
        Ok(())
    }

    /// Runs one main iteration and adds its output to the pool.
    pub(crate) fn refill(&mut self, ch: &mut dyn Channel) -> Result<(), OtError> {
        let main = self.params.main;
        let mut base = std::mem::take(&mut self.reserve);
        let mut keys = std::mem::take(&mut self.keys);
        let range = keys.grow(main.n);
        let result = self.iterate(ch, &main, &base, &mut keys.data[range]);
        keys.split_reserve(main.consumed(), &mut base);
        self.reserve = base;
        self.keys = keys;
        result
    }

    /// Draws `n` COT keys (refilling as needed), borrowed from the pool (the caller
    /// expands them into pads without a copy), and the tweak of the first one.
    pub(crate) fn draw(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<(&[u128], u128), OtError> {
        while self.available() < n {
            self.refill(ch)?;
        }
        let tweak = self.stream.draw_tweak(n);
        Ok((self.keys.take(n), tweak))
    }
}

/// The COT receiver's pool: blocks whose low bits are the choice bits.
pub(crate) struct ReceiverPool {
    params: FerretParams,
    blocks: Entries,
    reserve: Vec<u128>,
    kit: TreeKit,
    stream: Stream,
}

impl ReceiverPool {
    /// Bootstraps against [`SenderPool::bootstrap`].
    pub(crate) fn bootstrap<R: CryptoRng + ?Sized>(
        ch: &mut dyn Channel,
        params: FerretParams,
        domain: u64,
        rng: &mut R,
    ) -> Result<Self, OtError> {
        let mut iknp = IknpReceiver::setup(ch, domain, rng)?;
        let choices: Vec<bool> = (0..params.bootstrap_cots()).map(|_| rng.random()).collect();
        let base = iknp.extend_cot(ch, &choices)?;
        let mut pool = ReceiverPool {
            params,
            blocks: Entries::default(),
            reserve: Vec::new(),
            kit: TreeKit::new(),
            stream: Stream::new(domain),
        };
        let mut out = vec![0u128; params.setup.n];
        pool.iterate(ch, &params.setup, &base, &mut out)?;
        pool.reserve = out.split_off(params.setup.n - params.main.consumed());
        pool.blocks = Entries::new(out);
        Ok(pool)
    }

    /// COTs left before the next refill.
    pub(crate) fn available(&self) -> usize {
        self.blocks.available()
    }

    fn iterate(
        &mut self,
        ch: &mut dyn Channel,
        lpn: &LpnParams,
        base: &[u128],
        out: &mut [u128],
    ) -> Result<(), OtError> {
        let (secret, trees) = base.split_at(lpn.k);
        let code = self.stream.iteration();
        mpcot::recv(&mut self.kit, lpn, trees, &mut || Ok(ch.recv()?), out)?;
        lpn::encode(out, secret, code);
        Ok(())
    }

    /// Runs one main iteration and adds its output to the pool.
    pub(crate) fn refill(&mut self, ch: &mut dyn Channel) -> Result<(), OtError> {
        let main = self.params.main;
        let mut base = std::mem::take(&mut self.reserve);
        let mut blocks = std::mem::take(&mut self.blocks);
        let range = blocks.grow(main.n);
        let result = self.iterate(ch, &main, &base, &mut blocks.data[range]);
        blocks.split_reserve(main.consumed(), &mut base);
        self.reserve = base;
        self.blocks = blocks;
        result
    }

    /// Entries the blocks' buffer holds, live or not (its high-water mark).
    #[cfg(test)]
    pub(crate) fn buffer_len(&self) -> usize {
        self.blocks.data.len()
    }

    /// Draws `n` COT blocks (refilling as needed) and the tweak of the first one.
    pub(crate) fn draw(
        &mut self,
        ch: &mut dyn Channel,
        n: usize,
    ) -> Result<(Vec<u128>, u128), OtError> {
        while self.available() < n {
            self.refill(ch)?;
        }
        let tweak = self.stream.draw_tweak(n);
        Ok((self.blocks.take(n).to_vec(), tweak))
    }
}
