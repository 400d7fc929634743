//! GGM trees (Goldreich–Goldwasser–Micali) with a fixed-key-AES length-doubling PRG: the
//! punctured pseudo-random function under Ferret's single-point COT.
//!
//! A node `p` has the children `G_0(p) = π_0(p) ⊕ p` and `G_1(p) = π_1(p) ⊕ p`, with `π_0`,
//! `π_1` AES-128 under two public fixed keys (each half is MMO, a PRG for a random seed in
//! the ideal-permutation model). The sender expands a random seed into `2^h` leaves and
//! records, per level `l`, the XOR of all left children `K_l^0` and of all right children
//! `K_l^1`. A receiver who learns `K_l^{¬α_l}` for every level (α_l the bits of a leaf
//! index α, most significant first) recomputes every node off the path to α, hence every
//! leaf but α, and learns nothing about leaf α.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Block};

/// Parents expanded per AES batch.
const BATCH: usize = 64;

/// The two public fixed keys of the PRG halves.
const KEYS: [[u8; 16]; 2] = [*b"snni-lab/ggm/l=0", *b"snni-lab/ggm/l=1"];

/// The length-doubling PRG of the trees.
pub(crate) struct Ggm {
    halves: [Aes128; 2],
}

impl Ggm {
    /// The PRG under the project's fixed keys.
    pub(crate) fn new() -> Self {
        Ggm {
            halves: KEYS.map(|k| Aes128::new(&k.into())),
        }
    }

    /// Replaces the parents in `nodes[..nodes.len() / 2]` by their children: `nodes[2i]` and
    /// `nodes[2i + 1]` become the left and right child of parent `i`. In place, batch by
    /// batch from the last parents to the first: a batch's children land at or after its
    /// own parents, where only parents already expanded lived, so no level is copied.
    fn children_in_place(&self, nodes: &mut [u128]) {
        debug_assert!(nodes.len().is_multiple_of(2));
        let parents = nodes.len() / 2;
        let mut buf = [[Block::default(); BATCH]; 2];
        let mut copy = [0u128; BATCH];
        let mut end = parents;
        while end > 0 {
            let start = end.saturating_sub(BATCH);
            let n = end - start;
            copy[..n].copy_from_slice(&nodes[start..end]);
            for (side, aes) in self.halves.iter().enumerate() {
                for (b, p) in buf[side][..n].iter_mut().zip(&copy[..n]) {
                    *b = Block::from(p.to_le_bytes());
                }
                aes.encrypt_blocks(&mut buf[side][..n]);
            }
            let out = &mut nodes[2 * start..2 * end];
            for (i, p) in copy[..n].iter().enumerate() {
                out[2 * i] = u128::from_le_bytes(buf[0][i].into()) ^ p;
                out[2 * i + 1] = u128::from_le_bytes(buf[1][i].into()) ^ p;
            }
            end = start;
        }
    }

    /// Expands `seed` into the `leaves.len() = 2^h` leaves; `sums[l]` becomes
    /// `[K^0, K^1]` of level `l + 1` (the XOR of its left and of its right children).
    pub(crate) fn expand(&self, seed: u128, leaves: &mut [u128], sums: &mut [[u128; 2]]) {
        let h = sums.len();
        debug_assert_eq!(leaves.len(), 1 << h);
        leaves[0] = seed;
        for (l, sum) in sums.iter_mut().enumerate() {
            let width = 2 << l;
            self.children_in_place(&mut leaves[..width]);
            *sum = level_sums(&leaves[..width]);
        }
    }

    /// The receiver's expansion: every leaf but `alpha` from `siblings[l] = K^{¬α_l}` of
    /// level `l + 1`; `leaves[alpha]` is left 0. `leaves.len() = 2^h`, `h = siblings.len()`.
    pub(crate) fn expand_punctured(&self, alpha: usize, siblings: &[u128], leaves: &mut [u128]) {
        let h = siblings.len();
        debug_assert_eq!(leaves.len(), 1 << h);
        debug_assert!(alpha < leaves.len());
        // Level 1: the node off the path is its level's whole sum.
        let a1 = alpha >> (h - 1);
        leaves[1 - a1] = siblings[0];
        leaves[a1] = 0;
        for (l, &sibling_sum) in siblings.iter().enumerate().skip(1) {
            let width = 2 << l;
            self.children_in_place(&mut leaves[..width]);
            // The path node's children are garbage: recover the sibling from the level sum.
            let parent = alpha >> (h - l);
            let on_path = (alpha >> (h - 1 - l)) & 1;
            let side = 1 - on_path;
            let sibling = 2 * parent + side;
            let others = leaves[..width]
                .iter()
                .skip(side)
                .step_by(2)
                .enumerate()
                .filter(|&(i, _)| 2 * i + side != sibling)
                .fold(0u128, |acc, (_, v)| acc ^ v);
            leaves[sibling] = sibling_sum ^ others;
            leaves[2 * parent + on_path] = 0;
        }
    }
}

/// `[XOR of even entries, XOR of odd entries]`.
fn level_sums(nodes: &[u128]) -> [u128; 2] {
    nodes
        .chunks_exact(2)
        .fold([0, 0], |[a, b], pair| [a ^ pair[0], b ^ pair[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctured_expansion_recovers_every_other_leaf() {
        let ggm = Ggm::new();
        for h in 1..=8usize {
            let n = 1 << h;
            let seed = 0x1234_5678_9abc_def0_u128.wrapping_mul(h as u128 + 1);
            let mut leaves = vec![0u128; n];
            let mut sums = vec![[0u128; 2]; h];
            ggm.expand(seed, &mut leaves, &mut sums);
            let distinct: std::collections::HashSet<_> = leaves.iter().collect();
            assert_eq!(distinct.len(), n, "leaves of a tree are distinct");
            for alpha in 0..n {
                let siblings: Vec<u128> = (0..h)
                    .map(|l| sums[l][1 - ((alpha >> (h - 1 - l)) & 1)])
                    .collect();
                let mut got = vec![0u128; n];
                ggm.expand_punctured(alpha, &siblings, &mut got);
                for j in 0..n {
                    if j == alpha {
                        assert_eq!(got[j], 0);
                    } else {
                        assert_eq!(got[j], leaves[j], "h {h}, alpha {alpha}, leaf {j}");
                    }
                }
            }
        }
    }

    #[test]
    fn level_sums_split_the_leaves_by_parity() {
        let ggm = Ggm::new();
        let mut leaves = vec![0u128; 16];
        let mut sums = vec![[0u128; 2]; 4];
        ggm.expand(99, &mut leaves, &mut sums);
        assert_eq!(sums[3], level_sums(&leaves));
        assert_ne!(sums[3][0], sums[3][1]);
    }
}
