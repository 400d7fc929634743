//! SAFENet-style channel-wise polynomial activation: some channels keep ReLU, the others
//! use a public polynomial of degree 2 or 3 evaluated with Beaver multiplications.
//!
//! Channel rule (public, both parties compute it): channels `0..⌈relu_fraction·C⌉` keep
//! ReLU, the rest get the polynomial (HWC layout: element `i` is in channel `i mod C`).
//! Evaluation on shares of `x` at scale `s`, with `A_i = round(a_i·2^s)`:
//! `x2 = trunc(x·x)`, `x3 = trunc(x2·x)` (degree 3), `y = trunc(A_0·2^s + A_1·x + A_2·x2
//! [+ A_3·x3])`, each `trunc` the 1-ulp [`truncate`] by `s` bits, each product one Beaver
//! multiplication with triples from [`beaver_triples`].
//!
//! Error against [`super::reference::poly_act`] (0 on ReLU channels): at most
//! `⌈(|A_2| + |A_3|·(⌈|x|/2^s⌉ + 1)) / 2^s⌉ + 1` ulps, from the 1-ulp errors of the inner
//! truncations propagated through the coefficients (degree 2: `⌈|A_2|/2^s⌉ + 1`). Inputs
//! must keep every intermediate in `[−2^{ℓ−2}, 2^{ℓ−2})`: for ℓ = 41, s = 12 that means
//! `|x| < 181` (degree 2) and `|x| < 32` (degree 3) in real terms.

use rand::CryptoRng;

use super::beaver::{beaver_mul, beaver_triples};
use super::fixed::{check_ring, encode, ring_mask};
use super::truncate::{truncate, RangeCheck};
use crate::channel::Channel;
use crate::ot::{relu, OtError, OtReceiver, OtSender, Role};

/// Least-squares fit of ReLU on [−4, 4] by a quadratic: `0.375 + 0.5x + 0.1171875x²`
/// (ReLU − x/2 is even, so the best cubic has no x³ term and equals it).
pub const DEFAULT_COEFFICIENTS: [f64; 3] = [0.375, 0.5, 0.117_187_5];

/// Parameters of a polynomial activation layer.
#[derive(Debug, Clone, PartialEq)]
pub struct PolyParams {
    /// Coefficients `a_0, a_1, a_2[, a_3]`, lowest degree first (3 or 4 of them).
    pub coefficients: Vec<f64>,
    /// Fraction of channels that keep ReLU, in [0, 1].
    pub relu_fraction: f64,
}

impl PolyParams {
    /// The default fit ([`DEFAULT_COEFFICIENTS`]) at degree 2 or 3 (degree 3 with `a_3 = 0`).
    pub fn new(degree: u8, relu_fraction: f64) -> Result<Self, OtError> {
        let mut coefficients = DEFAULT_COEFFICIENTS.to_vec();
        if degree == 3 {
            coefficients.push(0.0);
        }
        let params = PolyParams {
            coefficients,
            relu_fraction,
        };
        if degree != 2 && degree != 3 {
            return Err(OtError::InvalidInput(format!(
                "polynomial activations have degree 2 or 3, got {degree}"
            )));
        }
        params.check()?;
        Ok(params)
    }

    /// The polynomial degree (2 or 3).
    pub fn degree(&self) -> usize {
        self.coefficients.len() - 1
    }

    /// Checks the degree and the fraction.
    pub fn check(&self) -> Result<(), OtError> {
        if !(3..=4).contains(&self.coefficients.len()) {
            return Err(OtError::InvalidInput(format!(
                "polynomial activations take 3 or 4 coefficients, got {}",
                self.coefficients.len()
            )));
        }
        if !(0.0..=1.0).contains(&self.relu_fraction) {
            return Err(OtError::InvalidInput(format!(
                "relu fraction {} is not in [0, 1]",
                self.relu_fraction
            )));
        }
        Ok(())
    }

    /// Channels `0..relu_channels(C)` keep ReLU: `⌈relu_fraction·C⌉`, at most `C`. A
    /// slack of 1e-9 absorbs float noise, so 0.7 of 10 channels is 7, not 8.
    pub fn relu_channels(&self, channels: usize) -> usize {
        crate::network::poly_relu_channels(channels, self.relu_fraction)
    }

    /// The coefficients at scale `scale` as ring elements.
    pub fn fixed_coefficients(&self, scale: u32, ell: u32) -> Vec<u64> {
        self.coefficients
            .iter()
            .map(|&a| encode(a, scale, ell))
            .collect()
    }
}

/// Additive shares of the channel-wise activation of an HWC tensor with `channels`
/// channels at scale `scale`.
#[allow(clippy::too_many_arguments)]
pub fn poly_act<R: CryptoRng + ?Sized>(
    role: Role,
    sender: &mut dyn OtSender,
    receiver: &mut dyn OtReceiver,
    ch: &mut dyn Channel,
    shares: &[u64],
    channels: usize,
    params: &PolyParams,
    scale: u32,
    ell: u32,
    rng: &mut R,
    check: &mut RangeCheck,
) -> Result<Vec<u64>, OtError> {
    check_ring(ell)?;
    params.check()?;
    if channels == 0 || !shares.len().is_multiple_of(channels) {
        return Err(OtError::InvalidInput(format!(
            "{} shares do not split into {channels} channels",
            shares.len()
        )));
    }
    let mask = ring_mask(ell);
    let keep = params.relu_channels(channels);
    let (relu_idx, poly_idx): (Vec<usize>, Vec<usize>) =
        (0..shares.len()).partition(|i| i % channels < keep);
    let mut out = vec![0u64; shares.len()];
    if !relu_idx.is_empty() {
        let xs: Vec<u64> = relu_idx.iter().map(|&i| shares[i]).collect();
        let ys = relu(role, sender, receiver, ch, &xs, ell, rng)?;
        for (&i, y) in relu_idx.iter().zip(ys) {
            out[i] = y;
        }
    }
    if poly_idx.is_empty() {
        return Ok(out);
    }
    let n = poly_idx.len();
    let degree = params.degree();
    let a = params.fixed_coefficients(scale, ell);
    let x: Vec<u64> = poly_idx.iter().map(|&i| shares[i]).collect();
    let triples = beaver_triples(role, sender, receiver, ch, n * (degree - 1), ell, rng)?;
    let sq = beaver_mul(role, ch, &x, &x, &triples, 0, ell)?;
    let x2 = truncate(role, sender, receiver, ch, &sq, scale, ell, check)?;
    let x3 = if degree == 3 {
        let cube = beaver_mul(role, ch, &x2, &x, &triples, n, ell)?;
        truncate(role, sender, receiver, ch, &cube, scale, ell, check)?
    } else {
        Vec::new()
    };
    let constant = if role == Role::Server {
        a[0] << scale
    } else {
        0
    };
    let acc: Vec<u64> = (0..n)
        .map(|t| {
            let mut v = constant
                .wrapping_add(a[1].wrapping_mul(x[t]))
                .wrapping_add(a[2].wrapping_mul(x2[t]));
            if degree == 3 {
                v = v.wrapping_add(a[3].wrapping_mul(x3[t]));
            }
            v & mask
        })
        .collect();
    let ys = truncate(role, sender, receiver, ch, &acc, scale, ell, check)?;
    for (&i, y) in poly_idx.iter().zip(ys) {
        out[i] = y;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_channels_round_up_without_float_noise() {
        let p = |f: f64| PolyParams::new(2, f).unwrap();
        assert_eq!(p(0.7).relu_channels(10), 7);
        assert_eq!(p(0.3).relu_channels(13), 4);
        assert_eq!(p(0.0).relu_channels(13), 0);
        assert_eq!(p(1.0).relu_channels(13), 13);
        assert!(PolyParams::new(4, 0.5).is_err());
        assert!(PolyParams::new(2, 1.5).is_err());
    }
}
