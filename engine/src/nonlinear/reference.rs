//! The plaintext fixed-point reference of every non-linear layer: the exact integer
//! semantics the secure protocols match (bit for bit, or within the bound each protocol
//! states). Values are ring elements in Z_{2^ℓ} read as signed ℓ-bit integers.
//!
//! - `truncate(x, s) = floor(x / 2^s)` (arithmetic shift of the signed value).
//! - `avg_pool`: `truncate(m·Σ window, s)` with `m = round(2^s / (kh·kw))` and padding counted
//!   as zeros (divisor always `kh·kw`, PyTorch's `count_include_pad = True`).
//! - `poly_act`: ReLU on the first `⌈fraction·C⌉` channels; elsewhere with `A_i` the
//!   coefficients at scale `s`: `x2 = truncate(x·x, s)`, `x3 = truncate(x2·x, s)` (degree 3),
//!   `y = truncate(A_0·2^s + A_1·x + A_2·x2 [+ A_3·x3], s)`.

use super::fixed::{from_signed, ring_mask, signed};
use super::poly::PolyParams;
use super::window::Pool2d;
use crate::network::Shape;
use crate::ot::OtError;

/// `max(x, 0)`.
pub fn relu(xs: &[u64], ell: u32) -> Vec<u64> {
    xs.iter()
        .map(|&x| if signed(x, ell) >= 0 { x } else { 0 })
        .collect()
}

/// `floor(x / 2^s)` of the signed value.
pub fn truncate(xs: &[u64], s: u32, ell: u32) -> Vec<u64> {
    xs.iter()
        .map(|&x| from_signed(signed(x, ell) >> s, ell))
        .collect()
}

/// Max over each window (padding excluded), HWC in and out.
pub fn max_pool(xs: &[u64], input: Shape, pool: Pool2d, ell: u32) -> Result<Vec<u64>, OtError> {
    Ok(pool
        .windows(input)?
        .iter()
        .map(|w| {
            let m = w.iter().map(|&i| signed(xs[i], ell)).max().unwrap_or(0);
            from_signed(m, ell)
        })
        .collect())
}

/// `truncate(round(2^s/(kh·kw)) · Σ window, s)`, padding counted as zeros.
pub fn avg_pool(
    xs: &[u64],
    input: Shape,
    pool: Pool2d,
    scale: u32,
    ell: u32,
) -> Result<Vec<u64>, OtError> {
    let m = pool.avg_multiplier(scale);
    let mask = ring_mask(ell);
    let sums: Vec<u64> = pool
        .windows(input)?
        .iter()
        .map(|w| {
            let sum = w.iter().fold(0u64, |acc, &i| acc.wrapping_add(xs[i]));
            sum.wrapping_mul(m) & mask
        })
        .collect();
    Ok(truncate(&sums, scale, ell))
}

/// Average over the whole map: [`avg_pool`] with the window [`Pool2d::global`].
pub fn global_avg_pool(
    xs: &[u64],
    input: Shape,
    scale: u32,
    ell: u32,
) -> Result<Vec<u64>, OtError> {
    avg_pool(xs, input, Pool2d::global(input), scale, ell)
}

/// SAFENet channel-wise activation on HWC values with `channels` channels.
pub fn poly_act(
    xs: &[u64],
    channels: usize,
    params: &PolyParams,
    scale: u32,
    ell: u32,
) -> Vec<u64> {
    let relu_channels = params.relu_channels(channels);
    let a = params.fixed_coefficients(scale, ell);
    let mask = ring_mask(ell);
    let tr = |v: u64| from_signed(signed(v & mask, ell) >> scale, ell);
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            if i % channels < relu_channels {
                return if signed(x, ell) >= 0 { x } else { 0 };
            }
            let x2 = tr(x.wrapping_mul(x));
            let mut acc = (a[0] << scale)
                .wrapping_add(a[1].wrapping_mul(x))
                .wrapping_add(a[2].wrapping_mul(x2));
            if a.len() == 4 {
                let x3 = tr(x2.wrapping_mul(x));
                acc = acc.wrapping_add(a[3].wrapping_mul(x3));
            }
            tr(acc)
        })
        .collect()
}
