//! Fixed-key-AES primitives of the OT extension: the correlation-robust hash and the
//! AES-CTR pseudo-random generator that stretches base-OT seeds.
//!
//! The hash is MMO^σ of Guo, Katz, Wang and Yu ("Efficient and Secure Multiparty
//! Computation from Fixed-Key Block Ciphers", S&P 2020): `H(x) = π(σ(x)) ⊕ σ(x)` with π
//! AES-128 under a public fixed key and σ the linear orthomorphism
//! `σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L`. The tweak (session and OT index) is xored in after σ,
//! `H(x, i) = π(σ(x) ⊕ i) ⊕ σ(x) ⊕ i`, which keeps one AES call per hash and makes the
//! outputs of different OT instances independent. Both use the `aes` crate, which picks
//! AES-NI at run time and pipelines batches of blocks.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Block};

/// Blocks processed per batch (a few KiB on the stack).
const BATCH: usize = 128;

/// The public fixed AES key of the hash; any public constant works, both parties must agree.
const FIXED_KEY: [u8; 16] = *b"snni-lab/ot/ccrh";

/// σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L, with x_L the high 64 bits.
#[inline(always)]
fn sigma(x: u128) -> u128 {
    let hi = (x >> 64) as u64;
    let lo = x as u64;
    (((hi ^ lo) as u128) << 64) | hi as u128
}

/// The tweakable correlation-robust hash `H(x, i) = π(σ(x) ⊕ i) ⊕ σ(x) ⊕ i`.
pub(crate) struct CrHash {
    aes: Aes128,
}

impl CrHash {
    /// The hash under the project's fixed public key.
    pub(crate) fn new() -> Self {
        CrHash {
            aes: Aes128::new(&FIXED_KEY.into()),
        }
    }

    /// Replaces `xs[j]` by `H(xs[j] ⊕ mask, tweak0 + j)`.
    pub(crate) fn hash_in_place(&self, xs: &mut [u128], mask: u128, tweak0: u128) {
        let mut buf = [Block::default(); BATCH];
        let mut pre = [0u128; BATCH];
        for (c, chunk) in xs.chunks_mut(BATCH).enumerate() {
            let base = tweak0.wrapping_add((c * BATCH) as u128);
            for (j, x) in chunk.iter().enumerate() {
                let p = sigma(*x ^ mask) ^ base.wrapping_add(j as u128);
                pre[j] = p;
                buf[j] = Block::from(p.to_le_bytes());
            }
            let n = chunk.len();
            self.aes.encrypt_blocks(&mut buf[..n]);
            for j in 0..n {
                chunk[j] = u128::from_le_bytes(buf[j].into()) ^ pre[j];
            }
        }
    }
}

impl CrHash {
    /// Replaces each pair `[q, q]` by `[H(q, t), H(q ⊕ delta, t)]`, with `t = tweak0 + j` for
    /// pair `j`: the sender's two pads of a random OT, computed in place.
    pub(crate) fn hash_pairs_in_place(&self, pairs: &mut [[u128; 2]], delta: u128, tweak0: u128) {
        let half = BATCH / 2;
        let mut buf = [Block::default(); BATCH];
        let mut pre = [0u128; BATCH];
        for (c, chunk) in pairs.chunks_mut(half).enumerate() {
            let base = tweak0.wrapping_add((c * half) as u128);
            for (j, [x0, x1]) in chunk.iter().enumerate() {
                let t = base.wrapping_add(j as u128);
                pre[2 * j] = sigma(*x0) ^ t;
                pre[2 * j + 1] = sigma(*x1 ^ delta) ^ t;
            }
            let n = 2 * chunk.len();
            for (b, p) in buf[..n].iter_mut().zip(&pre[..n]) {
                *b = Block::from(p.to_le_bytes());
            }
            self.aes.encrypt_blocks(&mut buf[..n]);
            for (j, pair) in chunk.iter_mut().enumerate() {
                pair[0] = u128::from_le_bytes(buf[2 * j].into()) ^ pre[2 * j];
                pair[1] = u128::from_le_bytes(buf[2 * j + 1].into()) ^ pre[2 * j + 1];
            }
        }
    }
}

/// AES-128 in counter mode: a PRG keyed by a 128-bit seed, with a persistent position.
pub(crate) struct AesPrg {
    aes: Aes128,
    counter: u128,
}

impl AesPrg {
    /// A generator for `seed`, at position 0.
    pub(crate) fn new(seed: u128) -> Self {
        AesPrg {
            aes: Aes128::new(&seed.to_le_bytes().into()),
            counter: 0,
        }
    }

    /// Fills `out` with the next `out.len()` pseudo-random words.
    pub(crate) fn fill(&mut self, out: &mut [u128]) {
        let mut buf = [Block::default(); BATCH];
        for chunk in out.chunks_mut(BATCH) {
            let n = chunk.len();
            for (j, b) in buf[..n].iter_mut().enumerate() {
                *b = Block::from(self.counter.wrapping_add(j as u128).to_le_bytes());
            }
            self.counter = self.counter.wrapping_add(n as u128);
            self.aes.encrypt_blocks(&mut buf[..n]);
            for (o, b) in chunk.iter_mut().zip(&buf[..n]) {
                *o = u128::from_le_bytes((*b).into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_is_an_orthomorphism_on_samples() {
        // σ and x ↦ σ(x) ⊕ x are both linear bijections; spot-check injectivity on a basis.
        let mut seen = std::collections::HashSet::new();
        let mut seen2 = std::collections::HashSet::new();
        for i in 0..128 {
            let x = 1u128 << i;
            assert!(seen.insert(sigma(x)));
            assert!(seen2.insert(sigma(x) ^ x));
        }
    }

    #[test]
    fn hash_is_deterministic_and_tweaked() {
        let h = CrHash::new();
        let mut a = vec![5u128; 300];
        h.hash_in_place(&mut a, 0, 0);
        let mut b = vec![5u128; 300];
        h.hash_in_place(&mut b, 0, 0);
        assert_eq!(a, b);
        // Same input, different tweaks: all outputs differ.
        let set: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(set.len(), 300);
        // Mask is applied before hashing.
        let mut c = vec![5u128 ^ 9];
        h.hash_in_place(&mut c, 9, 0);
        assert_eq!(c[0], a[0]);
        // The pair form agrees with two single hashes.
        let xs: Vec<u128> = (0..200u128).map(|i| i * 0x9e37_79b9).collect();
        let mut pairs: Vec<[u128; 2]> = xs.iter().map(|&x| [x, x]).collect();
        h.hash_pairs_in_place(&mut pairs, 77, 1000);
        let mut h0 = xs.clone();
        let mut h1 = xs.clone();
        h.hash_in_place(&mut h0, 0, 1000);
        h.hash_in_place(&mut h1, 77, 1000);
        for j in 0..200 {
            assert_eq!(pairs[j], [h0[j], h1[j]]);
        }
    }

    #[test]
    fn prg_continues_across_calls() {
        let mut one = AesPrg::new(42);
        let mut whole = vec![0u128; 300];
        one.fill(&mut whole);
        let mut two = AesPrg::new(42);
        let mut first = vec![0u128; 130];
        let mut second = vec![0u128; 170];
        two.fill(&mut first);
        two.fill(&mut second);
        first.extend(second);
        assert_eq!(whole, first);
    }
}
