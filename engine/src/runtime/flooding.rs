//! The flooding margin of a whole inference: the server floods every answer coefficient the
//! client decrypts with uniform noise `2^margin` times the worst-case weight-dependent noise,
//! so each revealed coefficient is within statistical distance `2^−margin` of one that
//! carries no trace of the weights. Over an inference these distances add up: the margin per
//! inference is the margin per coefficient minus log2 of the coefficients revealed (one per
//! output value of every conv, fc and batch_norm layer, since an answer carries `c0` only
//! at the output coefficients).
//!
//! [`he_params_for_inference_margin`] turns a margin per inference into HE parameters
//! (`snni … --flooding-bits`); [`FloodingSummary`] states both margins in the run line.

use serde::Serialize;

use crate::he::HeParamsDesc;
use crate::network::Network;

use super::error::{Result, RuntimeError};
use super::plan::{linear_layer, ExecPlan};

/// The flooding margins of a run, for its run line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FloodingSummary {
    /// The session's flooding bound: noise is uniform in `[−2^bits, 2^bits)` at most (a
    /// layer whose weights add less noise floods less).
    pub bits: u32,
    /// log2(flooding bound / worst-case weight-dependent noise) of one revealed coefficient.
    pub margin_per_coefficient_bits: f64,
    /// Answer coefficients the client decrypts over the whole network (one per output value
    /// of every conv, fc and batch_norm layer).
    pub revealed_coefficients: u64,
    /// `margin_per_coefficient_bits − log2(revealed_coefficients)`.
    pub margin_per_inference_bits: f64,
}

impl FloodingSummary {
    /// The margins of `desc` over `revealed` coefficients. Each layer floods for the whole
    /// bits of the session's margin over its own weight noise
    /// ([`HeParamsDesc::wire_bits`]), so `⌊flood_margin_bits⌋` holds for every revealed
    /// coefficient (some layers keep more).
    pub fn new(desc: &HeParamsDesc, revealed: u64) -> Self {
        let per_coefficient = desc.flood_margin_bits.floor();
        Self {
            bits: desc.flood_bits,
            margin_per_coefficient_bits: per_coefficient,
            revealed_coefficients: revealed,
            margin_per_inference_bits: per_coefficient - log2_count(revealed),
        }
    }
}

fn log2_count(n: u64) -> f64 {
    (n.max(1) as f64).log2()
}

/// Answer coefficients the client decrypts when running `plan`.
pub(crate) fn revealed_in(plan: &ExecPlan) -> u64 {
    plan.linear
        .iter()
        .flatten()
        .map(|l| l.layer.output_len() as u64)
        .sum()
}

/// Answer coefficients the client decrypts in one inference of `network` (whatever the HE
/// parameters: the count depends on the output shapes only).
pub fn revealed_coefficients(network: &Network) -> Result<u64> {
    let shapes = network.validate()?;
    Ok(network
        .layers
        .iter()
        .zip(&shapes.layers)
        .filter_map(|(layer, info)| linear_layer(&layer.op, info))
        .map(|l| l.output_len() as u64)
        .sum())
}

/// The cheapest secure HE parameters for shares in Z_{2^ℓ} whose flooding keeps at least
/// `bits` bits of statistical hiding over a whole inference of `network`.
pub fn he_params_for_inference_margin(
    network: &Network,
    ell: u32,
    bits: u32,
) -> Result<HeParamsDesc> {
    let revealed = revealed_coefficients(network)?;
    let per_coefficient = bits + log2_count(revealed).ceil() as u32;
    HeParamsDesc::for_margin(ell, per_coefficient).map_err(RuntimeError::HeParams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Shape;
    use crate::zoo;

    /// Asking for 40 bits per inference of SqueezeNet at 224 gives parameters whose
    /// margin, stated as the run line states it, holds; the default leaves less.
    #[test]
    fn forty_bits_per_inference_hold() {
        let network = zoo::squeezenet(Shape::new(224, 224, 3));
        let revealed = revealed_coefficients(&network).unwrap();
        let plan = ExecPlan::new(&network, &HeParamsDesc::for_bitlen(41).unwrap(), 12).unwrap();
        assert_eq!(revealed, revealed_in(&plan));
        let desc = he_params_for_inference_margin(&network, 41, 40).unwrap();
        let summary = FloodingSummary::new(&desc, revealed);
        assert!(summary.margin_per_inference_bits >= 40.0, "{summary:?}");
        let default = FloodingSummary::new(&HeParamsDesc::for_bitlen(41).unwrap(), revealed);
        assert!(default.margin_per_inference_bits < 40.0, "{default:?}");
        assert!(HeParamsDesc::for_bitlen(41).unwrap() == HeParamsDesc::for_margin(41, 40).unwrap());
        eprintln!(
            "squeezenet 224: {revealed} coefficients; default {:.1} bits per inference \
             (N = {}, {:?}); asked 40: {:.1} (N = {}, {:?})",
            default.margin_per_inference_bits,
            HeParamsDesc::for_bitlen(41).unwrap().degree,
            HeParamsDesc::for_bitlen(41).unwrap().moduli_bits,
            summary.margin_per_inference_bits,
            desc.degree,
            desc.moduli_bits
        );
    }

    /// A margin no secure parameter set reaches is an error, not a weaker choice.
    #[test]
    fn an_unreachable_margin_is_refused() {
        let network = zoo::squeezenet(Shape::new(32, 32, 3));
        assert!(he_params_for_inference_margin(&network, 41, 1000).is_err());
    }
}
