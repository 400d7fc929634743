//! Secure MaxPool: a tree of `max(a, b) = b + ReLU(a − b)` inside every window, batched
//! across all windows, one [`crate::ot::relu()`] call per tree level. Exact.
//!
//! Each window's list of values (padding left out, i.e. treated as −∞) is reduced pairwise,
//! `[v0, v1, v2, v3, v4] → [max(v0, v1), max(v2, v3), v4] → …`, until one value is left: a
//! `k`-element window takes `⌈log2 k⌉` levels. Windows never mix. Differences `a − b` must
//! fit in the signed ring, so inputs must lie in `[−2^{ℓ−2}, 2^{ℓ−2})`.

use rand::CryptoRng;

use super::fixed::{check_ring, ring_mask};
use super::window::{check_len, Pool2d};
use crate::channel::Channel;
use crate::network::Shape;
use crate::ot::{relu, OtError, OtReceiver, OtSender, Role};

/// ReLU comparisons per tree level for windows of the given sizes (the cost plan uses it).
pub fn tree_pairs(sizes: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut sizes: Vec<usize> = sizes.into_iter().collect();
    let mut levels = Vec::new();
    loop {
        let pairs: usize = sizes.iter().map(|k| k / 2).sum();
        if pairs == 0 {
            return levels;
        }
        levels.push(pairs);
        for k in &mut sizes {
            *k -= *k / 2;
        }
    }
}

/// Additive shares of the window maxima of an HWC tensor of shape `input` (output HWC in
/// the shape [`Pool2d::output`] gives).
#[allow(clippy::too_many_arguments)]
pub fn max_pool<R: CryptoRng + ?Sized>(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    shares: &[u64],
    input: Shape,
    pool: Pool2d,
    ell: u32,
    rng: &mut R,
) -> Result<Vec<u64>, OtError> {
    check_ring(ell)?;
    check_len(shares.len(), input)?;
    let mask = ring_mask(ell);
    let mut lists: Vec<Vec<u64>> = pool
        .windows(input)?
        .into_iter()
        .map(|w| w.into_iter().map(|i| shares[i]).collect())
        .collect();
    loop {
        let diffs: Vec<u64> = lists
            .iter()
            .flat_map(|l| l.chunks_exact(2).map(|p| p[0].wrapping_sub(p[1]) & mask))
            .collect();
        if diffs.is_empty() {
            break;
        }
        let mut r = relu(role, sender, receiver, ch, &diffs, ell, rng)?.into_iter();
        for l in &mut lists {
            let next: Vec<u64> = l
                .chunks(2)
                .map(|p| match p {
                    [_, b] => b.wrapping_add(r.next().unwrap_or(0)) & mask,
                    _ => p[0],
                })
                .collect();
            *l = next;
        }
    }
    Ok(lists.into_iter().map(|l| l[0]).collect())
}
