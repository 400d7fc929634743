//! Half-trees (Guo, Yang, Wang, Zhang, Xie, Liu, Zhao, "Half-Tree: Halving the Cost of Tree
//! Expansion in COT and DPF", EUROCRYPT 2023): the correlated GGM trees under Ferret's
//! single-point COT.
//!
//! A node `p` has the children `H(p)` and `p ⊕ H(p)`, with `H` the circular
//! correlation-robust hash of [`CcrHash`] (one fixed-key AES call per parent, where a GGM
//! tree's length-doubling PRG takes two). So the two children of every node sum to it, and
//! every level of a tree sums to its level 1. The sender starts level 1 at `(x, x ⊕ Δ)`:
//! every level then sums to Δ, the XOR of a level's right children is the XOR of its left
//! children `K_l` plus Δ, and one correlated OT per level (`K_l` masked by a COT key)
//! gives the receiver the sum on the side off its path: one block per level instead of two,
//! and no hash on the level's pads. A receiver who holds the level-1 node and the level sum
//! off a leaf index α at every level (α_l its bits, most significant first) recomputes
//! every node off the path to α, hence every leaf but α, and learns nothing about leaf α.
//!
//! Every node keeps a zero low bit (the pools' convention: the choice rides in the low
//! bit), so the left child is `H(p)` with its low bit cleared and the sums stay exact.

use super::super::aes_prims::CcrHash;
use super::spcot::CHOICE_BIT;

/// Parents expanded per AES batch.
const BATCH: usize = 64;

/// The expansion of the trees.
pub(crate) struct Ggm {
    hash: CcrHash,
}

impl Ggm {
    /// The expansion under the project's fixed key.
    pub(crate) fn new() -> Self {
        Ggm {
            hash: CcrHash::new(),
        }
    }

    /// Replaces the parents in `nodes[..nodes.len() / 2]` by their children: `nodes[2i]` and
    /// `nodes[2i + 1]` become the left and right child of parent `i`. In place, batch by
    /// batch from the last parents to the first: a batch's children land at or after its
    /// own parents, where only parents already expanded lived, so no level is copied.
    fn children_in_place(&self, nodes: &mut [u128]) {
        debug_assert!(nodes.len().is_multiple_of(2));
        let parents = nodes.len() / 2;
        let mut copy = [0u128; BATCH];
        let mut left = [0u128; BATCH];
        let mut end = parents;
        while end > 0 {
            let start = end.saturating_sub(BATCH);
            let n = end - start;
            copy[..n].copy_from_slice(&nodes[start..end]);
            self.hash.hash(&copy[..n], &mut left[..n]);
            let out = &mut nodes[2 * start..2 * end];
            for (i, (p, l)) in copy[..n].iter().zip(&left[..n]).enumerate() {
                let l = l & !CHOICE_BIT;
                out[2 * i] = l;
                out[2 * i + 1] = p ^ l;
            }
            end = start;
        }
    }

    /// The sender's expansion: level 1 is `(x, x ⊕ Δ)` with `x = first`, then the
    /// `leaves.len() = 2^h` leaves; `left_sums[l]` becomes the XOR of the left children of
    /// level `l + 2` (`h − 1` of them). Low bits of `first` and `delta` are ignored.
    pub(crate) fn expand(
        &self,
        first: u128,
        delta: u128,
        leaves: &mut [u128],
        left_sums: &mut [u128],
    ) {
        let h = left_sums.len() + 1;
        debug_assert_eq!(leaves.len(), 1 << h);
        leaves[0] = first & !CHOICE_BIT;
        leaves[1] = leaves[0] ^ (delta & !CHOICE_BIT);
        for (l, sum) in left_sums.iter_mut().enumerate() {
            let width = 4 << l;
            self.children_in_place(&mut leaves[..width]);
            *sum = leaves[..width].iter().step_by(2).fold(0, |a, v| a ^ v);
        }
    }

    /// The receiver's expansion: every leaf but `alpha` from `siblings[0]`, the level-1 node
    /// off the path, and `siblings[l]`, the XOR of level `l + 1`'s children on the side off
    /// the path; `leaves[alpha]` is left 0. `leaves.len() = 2^h`, `h = siblings.len()`.
    pub(crate) fn expand_punctured(&self, alpha: usize, siblings: &[u128], leaves: &mut [u128]) {
        let h = siblings.len();
        debug_assert_eq!(leaves.len(), 1 << h);
        debug_assert!(alpha < leaves.len());
        // Level 1: the node off the path is given.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The sender's tree for `first` and `delta`, with the left sums of levels 2 to `h`.
    fn tree(ggm: &Ggm, h: usize, first: u128, delta: u128) -> (Vec<u128>, Vec<u128>) {
        let mut leaves = vec![0u128; 1 << h];
        let mut sums = vec![0u128; h - 1];
        ggm.expand(first, delta, &mut leaves, &mut sums);
        (leaves, sums)
    }

    #[test]
    fn punctured_expansion_recovers_every_other_leaf() {
        let ggm = Ggm::new();
        let delta = 0xdead_beef_0123_4567_89ab_cdef_f00d_cafe_u128 & !CHOICE_BIT;
        for h in 1..=8usize {
            let n = 1 << h;
            let first = 0x1234_5678_9abc_def0_u128.wrapping_mul(h as u128 + 1) & !CHOICE_BIT;
            let (leaves, sums) = tree(&ggm, h, first, delta);
            let distinct: std::collections::HashSet<_> = leaves.iter().collect();
            assert_eq!(distinct.len(), n, "leaves of a tree are distinct");
            assert!(leaves.iter().all(|v| v & CHOICE_BIT == 0));
            // Every level sums to Δ, so the leaves do.
            assert_eq!(leaves.iter().fold(0, |a, v| a ^ v), delta, "h {h}");
            for alpha in 0..n {
                let off = |l: usize| 1 - ((alpha >> (h - 1 - l)) & 1);
                // Level 1: the node off the path; below, the sum on the side off the path
                // (right sums are left sums plus Δ).
                let siblings: Vec<u128> = (0..h)
                    .map(|l| match l {
                        0 => [first, first ^ delta][off(0)],
                        _ => sums[l - 1] ^ (off(l) as u128 * delta),
                    })
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
    fn children_sum_to_their_parent() {
        let ggm = Ggm::new();
        let mut nodes = vec![0u128; 256];
        for (i, v) in nodes[..128].iter_mut().enumerate() {
            *v = (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) & !1;
        }
        let parents = nodes[..128].to_vec();
        ggm.children_in_place(&mut nodes);
        for (i, p) in parents.iter().enumerate() {
            assert_eq!(nodes[2 * i] ^ nodes[2 * i + 1], *p, "parent {i}");
            assert_ne!(nodes[2 * i], 0);
        }
    }
}
