//! Single-point correlated OT (Ferret §4, semi-honest): one GGM tree turns `h` COTs into
//! `2^h` COTs whose choice vector has exactly one 1, at a position α the receiver's COT
//! choice bits fix.
//!
//! Both parties hold `h` COTs of the pool: the sender keys `q_l`, the receiver blocks
//! `m_l = q_l ⊕ b_l·Δ` (`b_l` the low bit of `m_l`). The sender expands a fresh seed into
//! leaves `v_j` with level sums `K_l^0, K_l^1` and sends, per level,
//! `K_l^0 ⊕ H(q_l)` and `K_l^1 ⊕ H(q_l ⊕ Δ)`; the receiver unmasks `K_l^{b_l}` and so
//! punctures the tree at `α` with bits `α_l = ¬b_l` (uniform, since the pool's choice
//! bits are). Leaves are normalised to a zero low bit; the sender finally sends
//! `c = Δ ⊕ ⊕_j v_j` and the receiver sets `w_α = c ⊕ ⊕_{j≠α} v_j = v_α ⊕ Δ`. So
//! `w = v ⊕ e_α·Δ`, and the receiver's low bits are the unit vector `e_α`: the pool's
//! convention (sender keys with low bit 0, receiver low bit = choice). Traffic: `2h + 1`
//! blocks, sender to receiver only.

use super::super::aes_prims::CrHash;
use super::super::error::OtError;
use super::ggm::Ggm;

/// The low bit, which carries the choice in the pool's convention.
pub(crate) const CHOICE_BIT: u128 = 1;

/// Bytes of one tree's message for depth `h`.
pub(crate) const fn tree_bytes(h: usize) -> usize {
    (2 * h + 1) * 16
}

/// What both sides of the trees share: the PRG and the hash.
pub(crate) struct TreeKit {
    pub(crate) ggm: Ggm,
    pub(crate) hash: CrHash,
}

impl TreeKit {
    pub(crate) fn new() -> Self {
        TreeKit {
            ggm: Ggm::new(),
            hash: CrHash::new(),
        }
    }

    /// Sender of one tree: fills `leaves` (`2^h`, low bits cleared) from `seed` and
    /// appends the tree's message to `msg`. `q` are the `h` level COT keys, hashed with
    /// tweaks `tweak0..tweak0 + h`.
    pub(crate) fn send_tree(
        &mut self,
        delta: u128,
        seed: u128,
        q: &[u128],
        tweak0: u128,
        leaves: &mut [u128],
        msg: &mut Vec<u8>,
    ) {
        let h = q.len();
        let mut sums = vec![[0u128; 2]; h];
        self.ggm.expand(seed, leaves, &mut sums);
        let mut pads: Vec<[u128; 2]> = q.iter().map(|&k| [k, k]).collect();
        self.hash.hash_pairs_in_place(&mut pads, delta, tweak0);
        for ([k0, k1], [p0, p1]) in sums.iter().zip(&pads) {
            msg.extend_from_slice(&(k0 ^ p0).to_le_bytes());
            msg.extend_from_slice(&(k1 ^ p1).to_le_bytes());
        }
        let mut total = 0u128;
        for v in leaves.iter_mut() {
            *v &= !CHOICE_BIT;
            total ^= *v;
        }
        msg.extend_from_slice(&(delta ^ total).to_le_bytes());
    }

    /// Receiver of one tree: from its `h` level COT blocks `m` and the tree's message,
    /// fills `leaves` with `w = v ⊕ e_α·Δ` and returns α.
    pub(crate) fn recv_tree(
        &mut self,
        m: &[u128],
        tweak0: u128,
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
        let block = |i: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&msg[16 * i..16 * (i + 1)]);
            u128::from_le_bytes(b)
        };
        let mut pads = m.to_vec();
        self.hash.hash_in_place(&mut pads, 0, tweak0);
        let mut alpha = 0usize;
        let mut siblings = Vec::with_capacity(h);
        for (l, (&ml, pad)) in m.iter().zip(&pads).enumerate() {
            let b = (ml & CHOICE_BIT) as usize;
            alpha = (alpha << 1) | (1 - b);
            siblings.push(block(2 * l + b) ^ pad);
        }
        self.ggm.expand_punctured(alpha, &siblings, leaves);
        let mut others = 0u128;
        for v in leaves.iter_mut() {
            *v &= !CHOICE_BIT;
            others ^= *v;
        }
        leaves[alpha] = block(2 * h) ^ others;
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
            s.send_tree(delta, rng.random(), &q, 77, &mut v, &mut msg);
            let alpha = r.recv_tree(&m, 77, &msg, &mut w).unwrap();
            if h == 9 {
                seen.insert(alpha);
            }
            for j in 0..1 << h {
                assert_eq!(v[j] & CHOICE_BIT, 0);
                let expected = if j == alpha { v[j] ^ delta } else { v[j] };
                assert_eq!(w[j], expected, "h {h}, leaf {j}, alpha {alpha}");
            }
            // A wrong tweak breaks the unmasking.
            let mut bad = vec![0u128; 1 << h];
            r.recv_tree(&m, 78, &msg, &mut bad).unwrap();
            assert_ne!(bad, w);
        }
        assert!(
            seen.len() > 1,
            "the punctured position follows the choice bits"
        );
        assert!(r
            .recv_tree(&[0u128; 3], 0, &[0u8; 10], &mut [0u128; 8])
            .is_err());
    }
}
