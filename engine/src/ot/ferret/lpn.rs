//! The public local linear code of the primal-LPN step: output `j` of an iteration adds
//! (XOR) [`CODE_WEIGHT`] entries of the `k`-entry secret, at positions drawn from AES-CTR
//! under a public per-iteration key.
//!
//! Both parties apply the same code to their own vectors: the sender to its keys, the
//! receiver to its blocks, whose low bits (the choice bits) then become `u·A ⊕ e`. Output
//! `j` reads the 32-bit words `10j .. 10j + 10` of the key stream (four per AES block),
//! each mapped to `[0, k)` by `⌊w·k / 2^32⌋` (bias below `k / 2^32`, irrelevant for a
//! public random code).
//!
//! The ten gathers per output from a secret of several MiB are what costs (cache and TLB
//! misses, overlapped by the out-of-order core): a profile of ReLU over 2^20 elements under
//! load put 55 % of both parties' CPU here (issue 15). Software prefetching the lines of
//! the output 8 ahead was 1.3–1.5× faster on a loaded machine but no faster on a quiet one
//! (Ferret alone 17–19 M COTs/s either way), so the out-of-order core already keeps enough
//! misses in flight and the loop stays plain. Grouping the reads by slice of the secret (a
//! counting sort per batch) was measured slower: a batch small enough to stay in cache
//! reads each cache line of the secret about once, so the sort is pure overhead.
//!
//! Third round (issue 15): the key stream of 256 outputs at a time (one `encrypt_blocks`
//! call of 640 blocks) is turned into positions four words per block with no per-word
//! bounds test, and the 10 KiB of positions stay in L1 until the gathers read them. Alone,
//! the gathers of one main iteration take 0.23–0.25 s of CPU on a quiet machine when the
//! secret has 2^19–589,760 entries and 0.20 s at 2^18 (a scratch measurement): the cost
//! is the secret's size against the 1 MiB L2, not the positions, and huge pages
//! (`MADV_HUGEPAGE`) made no difference, so the TLB is not it either.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Block};

use super::params::CODE_WEIGHT;

/// Outputs per batch (even, so each batch starts at a whole AES block): their 2,560 positions
/// (10 KiB) stay in L1 between being computed and being read by the gathers.
const BATCH: usize = 256;

/// AES blocks of key stream per batch: four positions each.
const BATCH_BLOCKS: usize = BATCH * CODE_WEIGHT / 4;

/// Writes the positions of the code's key-stream blocks `block0 .. block0 + blocks.len()`
/// into `words` (four per block, `words.len() = 4·blocks.len()`), reduced to `[0, k)`.
/// `blocks` is scratch.
fn positions(aes: &Aes128, k: u64, block0: u128, blocks: &mut [Block], words: &mut [u32]) {
    debug_assert_eq!(words.len(), 4 * blocks.len());
    for (i, b) in blocks.iter_mut().enumerate() {
        *b = Block::from(block0.wrapping_add(i as u128).to_le_bytes());
    }
    aes.encrypt_blocks(blocks);
    let reduce = |raw: u32| ((raw as u64 * k) >> 32) as u32;
    for (b, w) in blocks.iter().zip(words.chunks_exact_mut(4)) {
        let x = u128::from_le_bytes((*b).into());
        w[0] = reduce(x as u32);
        w[1] = reduce((x >> 32) as u32);
        w[2] = reduce((x >> 64) as u32);
        w[3] = reduce((x >> 96) as u32);
    }
}

/// XORs into every `out[j]` the [`CODE_WEIGHT`] entries of `secret` that column `j` of the
/// code under `key` selects. `secret.len()` must be below 2^32.
pub(crate) fn encode(out: &mut [u128], secret: &[u128], key: u128) {
    let aes = Aes128::new(&key.to_le_bytes().into());
    let k = secret.len() as u64;
    let mut blocks = [Block::default(); BATCH_BLOCKS];
    let mut words = [0u32; 4 * BATCH_BLOCKS];
    for (c, chunk) in out.chunks_mut(BATCH).enumerate() {
        // A short last batch still computes whole blocks; the words past its end are unused.
        let used = (chunk.len() * CODE_WEIGHT).div_ceil(4);
        let block0 = (c * BATCH_BLOCKS) as u128;
        positions(&aes, k, block0, &mut blocks[..used], &mut words[..4 * used]);
        for (o, at) in chunk.iter_mut().zip(words.chunks_exact(CODE_WEIGHT)) {
            let at: &[u32; CODE_WEIGHT] = at.try_into().expect("chunks of CODE_WEIGHT");
            let mut acc = *o;
            for &w in at {
                acc ^= secret[w as usize];
            }
            *o = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batching does not change the code: every output reads the words `10j ..` of the
    /// key stream, recomputed here one AES block at a time.
    #[test]
    fn batches_read_the_key_stream_at_their_offset() {
        let (k, n) = (5_000u64, 2 * BATCH + 7);
        let secret: Vec<u128> = (0..k as u128)
            .map(|i| i.wrapping_mul(0x9e37_79b9))
            .collect();
        let mut out = vec![0u128; n];
        encode(&mut out, &secret, 11);
        let aes = Aes128::new(&11u128.to_le_bytes().into());
        let word = |w: usize| {
            let mut b = Block::from(((w / 4) as u128).to_le_bytes());
            aes.encrypt_block(&mut b);
            let bytes = &b[4 * (w % 4)..4 * (w % 4) + 4];
            let raw = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            ((raw as u64 * k) >> 32) as usize
        };
        for j in [0, 1, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH + 6] {
            let expected =
                (0..CODE_WEIGHT).fold(0u128, |acc, r| acc ^ secret[word(CODE_WEIGHT * j + r)]);
            assert_eq!(out[j], expected, "output {j}");
        }
    }

    /// The code is linear and the same for both parties: encoding `a ⊕ b` equals encoding
    /// `a` and `b` separately; column `j` depends only on the key and `j`.
    #[test]
    fn code_is_linear_and_deterministic() {
        let k = 1_000;
        let a: Vec<u128> = (0..k as u128).map(|i| i * 0x1_0000_0001).collect();
        let b: Vec<u128> = (0..k as u128)
            .map(|i| i.wrapping_mul(0xdead_beef))
            .collect();
        let ab: Vec<u128> = a.iter().zip(&b).map(|(x, y)| x ^ y).collect();
        let n = 777;
        let (mut ea, mut eb, mut eab) = (vec![0u128; n], vec![0u128; n], vec![0u128; n]);
        encode(&mut ea, &a, 5);
        encode(&mut eb, &b, 5);
        encode(&mut eab, &ab, 5);
        for j in 0..n {
            assert_eq!(eab[j], ea[j] ^ eb[j]);
        }
        let mut again = vec![0u128; n];
        encode(&mut again, &a, 5);
        assert_eq!(again, ea);
        let mut other = vec![0u128; n];
        encode(&mut other, &a, 6);
        assert_ne!(other, ea);
        // A single secret entry reaches about n·10/k outputs.
        let mut unit = vec![0u128; k];
        unit[17] = 1;
        let mut e = vec![0u128; 100_000];
        encode(&mut e, &unit, 5);
        let hits = e.iter().filter(|&&x| x & 1 == 1).count();
        assert!((700..1300).contains(&hits), "{hits}");
    }
}
