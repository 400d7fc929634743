//! Secure AvgPool and global AvgPool: a local window sum (no communication), a product with
//! the public constant `m = round(2^s / (kh·kw))`, and one [`truncate`] by `s` bits.
//!
//! Padding counts as zeros and the divisor is always `kh·kw` (PyTorch's
//! `count_include_pad = True`). Against [`super::reference::avg_pool`] the result is exact
//! or one ulp low (`0 ≤ reference − secure ≤ 1`), provided `m·Σ window` lies in
//! `[−2^{ℓ−2}, 2^{ℓ−2})`. The rounding of `m` itself is part of the reference semantics.

use super::fixed::{check_ring, ring_mask};
use super::truncate::{truncate, RangeCheck};
use super::window::{check_len, Pool2d};
use crate::channel::Channel;
use crate::network::Shape;
use crate::ot::{OtError, OtReceiver, OtSender, Role};

/// Additive shares of the window averages of an HWC tensor at scale `scale`.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    shares: &[u64],
    input: Shape,
    pool: Pool2d,
    scale: u32,
    ell: u32,
    check: &mut RangeCheck,
) -> Result<Vec<u64>, OtError> {
    check_ring(ell)?;
    check_len(shares.len(), input)?;
    let m = pool.avg_multiplier(scale);
    let mask = ring_mask(ell);
    let scaled: Vec<u64> = pool
        .windows(input)?
        .iter()
        .map(|w| {
            let sum = w.iter().fold(0u64, |acc, &i| acc.wrapping_add(shares[i]));
            sum.wrapping_mul(m) & mask
        })
        .collect();
    truncate(role, sender, receiver, ch, &scaled, scale, ell, check)
}

/// Additive shares of the per-channel mean over the whole map: `HxWxC → 1x1xC`.
#[allow(clippy::too_many_arguments)]
pub fn global_avg_pool(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    shares: &[u64],
    input: Shape,
    scale: u32,
    ell: u32,
    check: &mut RangeCheck,
) -> Result<Vec<u64>, OtError> {
    avg_pool(
        role,
        sender,
        receiver,
        ch,
        shares,
        input,
        Pool2d::global(input),
        scale,
        ell,
        check,
    )
}
