//! Single-point correlated OT (Ferret §4, semi-honest, with the half-tree of Guo et al.,
//! EUROCRYPT 2023): one tree turns `h` COTs into `2^h` COTs whose choice vector has exactly
//! one 1, at a position α the receiver's COT choice bits fix.
//!
//! Both parties hold `h` COTs of the pool: the sender keys `q_l`, the receiver blocks
//! `m_l = q_l ⊕ b_l·Δ` (`b_l` the low bit of `m_l`). The sender's tree starts at level 1
//! with `(q_1, q_1 ⊕ Δ)`, so the receiver already holds the node `m_1` on side `b_1`; every
//! level sums to Δ (see `ggm.rs`), so for each level `l ≥ 2` the sender sends
//! `c_l = K_l ⊕ q_l` (`K_l` the XOR of the level's left children) and the receiver unmasks
//! `c_l ⊕ m_l = K_l ⊕ b_l·Δ`, the XOR of the level's children on side `b_l`. It so punctures
//! the tree at `α` with bits `α_l = ¬b_l` (uniform, since the pool's choice bits are; no
//! derandomisation bits). Every node has a zero low bit, the leaves sum to Δ without it,
//! and the receiver sets `w_α = (⊕_{j≠α} v_j) | 1 = v_α ⊕ Δ`. So `w = v ⊕ e_α·Δ`, and the
//! receiver's low bits are the unit vector `e_α`: the pools' convention (sender keys with
//! low bit 0, receiver low bit = choice). Traffic: `h − 1` blocks, sender to receiver only
//! (Ferret's GGM trees take `2h + 1`).

use super::super::error::OtError;
use super::ggm::Ggm;

/// The low bit, which carries the choice in the pool's convention.
pub(crate) const CHOICE_BIT: u128 = 1;

/// Bytes of one tree's message for depth `h`.
pub(crate) const fn tree_bytes(h: usize) -> usize {
    (h - 1) * 16
}

/// What both sides of the trees share: the tree expansion.
pub(crate) struct TreeKit {
    pub(crate) ggm: Ggm,
}

impl TreeKit {
    pub(crate) fn new() -> Self {
        TreeKit { ggm: Ggm::new() }
    }

    /// Sender of one tree: fills `leaves` (`2^h`, low bits cleared) from the `h` level COT
    /// keys `q` and appends the tree's message to `msg`.
    pub(crate) fn send_tree(
        &mut self,
        delta: u128,
        q: &[u128],
        leaves: &mut [u128],
        msg: &mut Vec<u8>,
    ) {
        let h = q.len();
        let mut sums = vec![0u128; h - 1];
        self.ggm.expand(q[0], delta, leaves, &mut sums);
        for (k, q) in sums.iter().zip(&q[1..]) {
            msg.extend_from_slice(&((k ^ q) & !CHOICE_BIT).to_le_bytes());
        }
    }

    /// Receiver of one tree: from its `h` level COT blocks `m` and the tree's message,
    /// fills `leaves` with `w = v ⊕ e_α·Δ` and returns α.
    pub(crate) fn recv_tree(
        &mut self,
        m: &[u128],
        msg: &[u8],
        leaves: &mut [u128],
    ) -> Result<usize, OtError> {
        let h = m.len();
        if msg.len() != tree_bytes(h) {
            return Err(OtError::Malformed(format!(
                "a GGM tree message of {} bytes, expected {}",
                msg.len(),
                tree_bytes(h)
            )));
        }
        let mut alpha = 0usize;
        let mut siblings = Vec::with_capacity(h);
        for (l, &ml) in m.iter().enumerate() {
            let b = (ml & CHOICE_BIT) as usize;
            alpha = (alpha << 1) | (1 - b);
            let c = match l {
                0 => 0,
                _ => {
                    let mut block = [0u8; 16];
                    block.copy_from_slice(&msg[16 * (l - 1)..16 * l]);
                    u128::from_le_bytes(block)
                }
            };
            siblings.push((c ^ ml) & !CHOICE_BIT);
        }
        self.ggm.expand_punctured(alpha, &siblings, leaves);
        leaves[alpha] = leaves.iter().fold(0, |a, v| a ^ v) | CHOICE_BIT;
        Ok(alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// `h` COTs under `delta`: sender keys with low bit 0, receiver blocks with the choice.
    fn cots(rng: &mut ChaCha20Rng, delta: u128, h: usize) -> (Vec<u128>, Vec<u128>) {
        let q: Vec<u128> = (0..h).map(|_| rng.random::<u128>() & !CHOICE_BIT).collect();
        let m = q
            .iter()
            .map(|&k| if rng.random() { k ^ delta } else { k })
            .collect();
        (q, m)
    }

    #[test]
    fn one_tree_is_a_single_point_cot() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (mut s, mut r) = (TreeKit::new(), TreeKit::new());
        let mut seen = std::collections::HashSet::new();
        for round in 0..64 {
            let h = 1 + round % 9;
            let delta = rng.random::<u128>() | CHOICE_BIT;
            let (q, m) = cots(&mut rng, delta, h);
            let mut v = vec![0u128; 1 << h];
            let mut w = vec![0u128; 1 << h];
            let mut msg = Vec::new();
            s.send_tree(delta, &q, &mut v, &mut msg);
            assert_eq!(msg.len(), tree_bytes(h));
            let alpha = r.recv_tree(&m, &msg, &mut w).unwrap();
            if h == 9 {
                seen.insert(alpha);
            }
            for j in 0..1 << h {
                assert_eq!(v[j] & CHOICE_BIT, 0);
                let expected = if j == alpha { v[j] ^ delta } else { v[j] };
                assert_eq!(w[j], expected, "h {h}, leaf {j}, alpha {alpha}");
            }
            // A changed block of the message changes the receiver's leaves off the path.
            if h > 1 {
                let mut tampered = msg.clone();
                tampered[16 * (h - 2)] ^= 2;
                let mut bad = vec![0u128; 1 << h];
                r.recv_tree(&m, &tampered, &mut bad).unwrap();
                assert_ne!(bad, w);
            }
        }
        assert!(
            seen.len() > 1,
            "the punctured position follows the choice bits"
        );
        assert!(r
            .recv_tree(&[0u128; 3], &[0u8; 10], &mut [0u128; 8])
            .is_err());
    }
}
