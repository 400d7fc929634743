//! Fixed-key-AES primitives of the OT extensions: the tweakable correlation-robust hash and
//! the AES-CTR pseudo-random generator that stretches seeds.
//!
//! The hash is TMMO^π of Guo, Katz, Wang and Yu ("Efficient and Secure Multiparty
//! Computation from Fixed-Key Block Ciphers", S&P 2020, §7.4):
//! `H(x, i) = π(π(x) ⊕ i) ⊕ π(x)` with π AES-128 under a public fixed key. They prove it
//! tweakable circular correlation robust (TCCR) in the ideal-permutation model: for a secret
//! Δ, the values `H(x_j ⊕ b_j·Δ, i_j)` at distinct tweaks look random to anyone who does
//! not know Δ, even when the `x_j` and `b_j` are chosen by the adversary. That is exactly
//! the property the OT extensions need to turn correlated OT (`k`, `k ⊕ Δ`) into random OT;
//! the tweak (session, direction and OT index) keeps every instance's pads independent. Two
//! AES calls per hash. Both primitives use the `aes` crate, which picks AES-NI at run time
//! and pipelines batches of blocks.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Block};

/// Blocks processed per batch (a few KiB on the stack).
const BATCH: usize = 128;

/// The public fixed AES key of the hash; any public constant works, both parties must agree.
const FIXED_KEY: [u8; 16] = *b"snni-lab/ot/tccr";

/// Encrypts `n` words of `words` in place under `aes` (through the crate's block type).
#[inline]
fn encrypt_words(aes: &Aes128, words: &mut [u128], buf: &mut [Block; BATCH]) {
    let n = words.len();
    for (b, w) in buf[..n].iter_mut().zip(words.iter()) {
        *b = Block::from(w.to_le_bytes());
    }
    aes.encrypt_blocks(&mut buf[..n]);
    for (w, b) in words.iter_mut().zip(&buf[..n]) {
        *w = u128::from_le_bytes((*b).into());
    }
}

/// The tweakable correlation-robust hash `H(x, i) = π(π(x) ⊕ i) ⊕ π(x)` (TMMO).
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
        let mut first = [0u128; BATCH];
        for (c, chunk) in xs.chunks_mut(BATCH).enumerate() {
            let base = tweak0.wrapping_add((c * BATCH) as u128);
            let n = chunk.len();
            for (f, x) in first[..n].iter_mut().zip(chunk.iter()) {
                *f = *x ^ mask;
            }
            encrypt_words(&self.aes, &mut first[..n], &mut buf);
            for (j, (x, f)) in chunk.iter_mut().zip(&first[..n]).enumerate() {
                *x = f ^ base.wrapping_add(j as u128);
            }
            encrypt_words(&self.aes, chunk, &mut buf);
            for (x, f) in chunk.iter_mut().zip(&first[..n]) {
                *x ^= f;
            }
        }
    }

    /// Replaces each pair `[q, q]` by `[H(q, t), H(q ⊕ delta, t)]`, with `t = tweak0 + j` for
    /// pair `j`: the sender's two pads of a random OT, computed in place.
    pub(crate) fn hash_pairs_in_place(&self, pairs: &mut [[u128; 2]], delta: u128, tweak0: u128) {
        let half = BATCH / 2;
        let mut buf = [Block::default(); BATCH];
        let mut first = [0u128; BATCH];
        let mut second = [0u128; BATCH];
        for (c, chunk) in pairs.chunks_mut(half).enumerate() {
            let base = tweak0.wrapping_add((c * half) as u128);
            let n = 2 * chunk.len();
            for (j, [x0, _]) in chunk.iter().enumerate() {
                first[2 * j] = *x0;
                first[2 * j + 1] = *x0 ^ delta;
            }
            encrypt_words(&self.aes, &mut first[..n], &mut buf);
            for (j, s) in second[..n].iter_mut().enumerate() {
                *s = first[j] ^ base.wrapping_add((j / 2) as u128);
            }
            encrypt_words(&self.aes, &mut second[..n], &mut buf);
            for (j, pair) in chunk.iter_mut().enumerate() {
                pair[0] = second[2 * j] ^ first[2 * j];
                pair[1] = second[2 * j + 1] ^ first[2 * j + 1];
            }
        }
    }
}

/// The public fixed AES key of the circular correlation-robust hash (a different key from
/// TMMO's, so the two hashes never share a permutation).
const CCR_KEY: [u8; 16] = *b"snni-lab/ot/ccrh";

/// The linear orthomorphism `σ(x_L ‖ x_R) = (x_L ⊕ x_R) ‖ x_L` over the 64-bit halves (high
/// half left) of Guo, Katz, Wang and Yu: both `σ` and `x ↦ σ(x) ⊕ x` are permutations.
#[inline]
fn sigma(x: u128) -> u128 {
    let (hi, lo) = ((x >> 64) as u64, x as u64);
    (((hi ^ lo) as u128) << 64) | hi as u128
}

/// The circular correlation-robust hash `H(x) = π(σ(x)) ⊕ σ(x)` (MMO^σ of Guo, Katz, Wang
/// and Yu, S&P 2020, §7.3, with π AES-128 under a public fixed key): for a secret Δ the
/// values `H(x_j ⊕ Δ) ⊕ b_j·Δ` look random in the ideal-permutation model. One AES call per
/// hash; the half-tree expansion of Ferret's trees needs exactly this property.
pub(crate) struct CcrHash {
    aes: Aes128,
}

impl CcrHash {
    /// The hash under the project's fixed public key.
    pub(crate) fn new() -> Self {
        CcrHash {
            aes: Aes128::new(&CCR_KEY.into()),
        }
    }

    /// Writes `H(xs[j])` to `out[j]` (equal lengths).
    pub(crate) fn hash(&self, xs: &[u128], out: &mut [u128]) {
        debug_assert_eq!(xs.len(), out.len());
        let mut buf = [Block::default(); BATCH];
        let mut sig = [0u128; BATCH];
        for (xs, out) in xs.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            let sig = &mut sig[..xs.len()];
            for (s, &x) in sig.iter_mut().zip(xs) {
                *s = sigma(x);
            }
            out.copy_from_slice(sig);
            encrypt_words(&self.aes, out, &mut buf);
            for (o, s) in out.iter_mut().zip(sig.iter()) {
                *o ^= s;
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

    /// π: AES-128 under a fixed `key`, straight from the AES crate.
    fn permutation(key: [u8; 16]) -> impl Fn(u128) -> u128 {
        let aes = Aes128::new(&key.into());
        move |x| {
            let mut b = Block::from(x.to_le_bytes());
            aes.encrypt_block(&mut b);
            u128::from_le_bytes(b.into())
        }
    }

    /// The hash is TMMO: `π(π(x) ⊕ i) ⊕ π(x)`, checked against the AES crate directly.
    #[test]
    fn hash_is_tmmo() {
        let pi = permutation(FIXED_KEY);
        let h = CrHash::new();
        let xs: Vec<u128> = (0..300u128)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut got = xs.clone();
        h.hash_in_place(&mut got, 0, 5);
        for (j, (&x, &y)) in xs.iter().zip(&got).enumerate() {
            let t = 5 + j as u128;
            assert_eq!(y, pi(pi(x) ^ t) ^ pi(x), "word {j}");
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

    /// The CCR hash is `π(σ(x)) ⊕ σ(x)` under its own key, and σ is an orthomorphism on
    /// the samples: `σ(x)` and `σ(x) ⊕ x` are injective there.
    #[test]
    fn ccr_hash_is_mmo_of_sigma() {
        let pi = permutation(CCR_KEY);
        assert_eq!(sigma((3u128 << 64) | 5), (6u128 << 64) | 3);
        let xs: Vec<u128> = (0..300u128)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            .collect();
        let mut got = vec![0u128; xs.len()];
        CcrHash::new().hash(&xs, &mut got);
        for (j, (&x, &y)) in xs.iter().zip(&got).enumerate() {
            assert_eq!(y, pi(sigma(x)) ^ sigma(x), "word {j}");
        }
        let images: std::collections::HashSet<_> = xs.iter().map(|&x| sigma(x)).collect();
        let shifted: std::collections::HashSet<_> = xs.iter().map(|&x| sigma(x) ^ x).collect();
        assert_eq!((images.len(), shifted.len()), (xs.len(), xs.len()));
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
