//! The typed parameters of synthesis: [`SynthesisParams`] with its defaults, the
//! [`Family`], [`Range`] and [`PaddingMode`] it is made of, and the cleaned lists the
//! generator draws from.

use std::fmt;

use serde::{Deserialize, Serialize};
use snni_engine::network::Shape;

/// A family of synthesized networks (the study's network kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Stacks of convolutions (each with optional BN and an activation).
    Conv,
    /// Convolution blocks each followed by a max pool.
    ConvMaxpool,
    /// Convolution blocks each followed by an average pool.
    ConvAvgpool,
    /// Stacks of max pools on the input.
    Maxpool,
    /// Stacks of average pools on the input.
    Avgpool,
}

impl Family {
    /// Every family, in declaration order.
    pub const ALL: [Family; 5] = [
        Family::Conv,
        Family::ConvMaxpool,
        Family::ConvAvgpool,
        Family::Maxpool,
        Family::Avgpool,
    ];

    /// The name used in parameters and as
    /// [`Network::family`](snni_engine::network::Network::family).
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Conv => "conv",
            Family::ConvMaxpool => "conv_maxpool",
            Family::ConvAvgpool => "conv_avgpool",
            Family::Maxpool => "maxpool",
            Family::Avgpool => "avgpool",
        }
    }

    /// Whether blocks of this family start with a convolution.
    pub const fn has_conv(self) -> bool {
        matches!(
            self,
            Family::Conv | Family::ConvMaxpool | Family::ConvAvgpool
        )
    }

    /// The pool of each block: `Some(true)` for max, `Some(false)` for average.
    pub(super) const fn pool_is_max(self) -> Option<bool> {
        match self {
            Family::Conv => None,
            Family::ConvMaxpool | Family::Maxpool => Some(true),
            Family::ConvAvgpool | Family::Avgpool => Some(false),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive range `{min, max}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range<T> {
    /// Smallest value.
    pub min: T,
    /// Largest value.
    pub max: T,
}

/// How convolution and pooling windows are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaddingMode {
    /// `(k − 1) / 2` on each side: the size is kept at stride 1 (for odd kernels).
    Same,
    /// No padding.
    Valid,
    /// `same` or `valid`, chosen per layer with equal chance.
    Random,
}

/// The ranges networks are drawn from. Missing keys take their defaults; unknown keys are
/// rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthesisParams {
    /// Network input; default 224×224×3 (seed §1.2: "input dimensions are fixed to 224x224x3").
    pub input: Shape,
    /// Families to draw from, uniformly per network (list one twice to double its weight);
    /// default all five (the study's CONV, CONV+MP, CONV+AvP, MP and AvP networks).
    pub families: Vec<Family>,
    /// Number of blocks (main layers: a conv, or a pool in the pool families); default 5 to 10
    /// (the public generator uses 5 blocks, the study's CrypTen generators 5 to 10).
    pub layers: Range<usize>,
    /// Convolution kernel sides; default 1, 3, 5, 7 (seed §1.2: square kernels with odd width).
    pub kernels: Vec<usize>,
    /// Convolution output channels; default the powers of two 16 to 1024 (seed §1.2).
    pub filters: Vec<usize>,
    /// Pooling kernel sides; default 1, 3, 5, 7 (seed §1.2 states the same kernels for CONV,
    /// MP and AvP; the public generator used 2 and 3).
    pub pool_kernels: Vec<usize>,
    /// Strides of convolutions and pools; default 1 and 2 (public generator: `randint(1, 2)`).
    pub strides: Vec<usize>,
    /// Padding of convolutions and pools; default `random` (public generator: `valid` or
    /// `same` per layer).
    pub padding: PaddingMode,
    /// Largest conv output in elements (H·W·filters); filters that would exceed it are not
    /// drawn. Default 810,000 (public generator: `filters ≤ 810000 / H²`, which admits
    /// 224×224×16).
    pub max_activation: usize,
    /// Whether convolutions have a bias; default true (the public generator's
    /// `tf.layers.conv2d` default).
    pub conv_bias: bool,
    /// Chance of a batch norm after each conv; default 0.5 (ours: the study has BN layers in
    /// its data (seed tables 1–3, 7–8) but the public generator adds none).
    pub batch_norm_prob: f64,
    /// Chance of the fully connected head; default 1 (public generator: every network ends in
    /// flatten, fc 1024 + ReLU, fc 10).
    pub fc_head_prob: f64,
    /// Width of the head's hidden fc layer; default the powers of two 16 to 1024 (ours: the
    /// public generator fixes 1024, the wider range gives the FC predictor more sizes).
    pub fc_units: Vec<usize>,
    /// Outputs of the head's last fc layer; default 10 (public generator's logits).
    pub classes: usize,
    /// Largest flattened input of the head's first fc layer; larger maps are reduced by
    /// `global_avg_pool` instead of `flatten`. Default 50,176 = 7·7·1024 (ours, to bound the
    /// fc weight matrix).
    pub fc_max_inputs: usize,
    /// Chance that a conv's activation is a SAFENet `poly_act` instead of ReLU; default 0
    /// (off: not part of the study).
    pub poly_act_prob: f64,
    /// Polynomial degrees for `poly_act`; default 2 and 3 (SAFENet, seed 002 §3).
    pub poly_degrees: Vec<u8>,
    /// Fraction of channels that stay ReLU in `poly_act`, drawn in steps of 0.05; default 0
    /// to 1 (SAFENet searches its ratio over [0, 1] in steps of 0.05).
    pub relu_fraction: Range<f64>,
}

impl Default for SynthesisParams {
    fn default() -> Self {
        Self {
            input: Shape::new(224, 224, 3),
            families: Family::ALL.to_vec(),
            layers: Range { min: 5, max: 10 },
            kernels: vec![1, 3, 5, 7],
            filters: vec![16, 32, 64, 128, 256, 512, 1024],
            pool_kernels: vec![1, 3, 5, 7],
            strides: vec![1, 2],
            padding: PaddingMode::Random,
            max_activation: 810_000,
            conv_bias: true,
            batch_norm_prob: 0.5,
            fc_head_prob: 1.0,
            fc_units: vec![16, 32, 64, 128, 256, 512, 1024],
            classes: 10,
            fc_max_inputs: 50_176,
            poly_act_prob: 0.0,
            poly_degrees: vec![2, 3],
            relu_fraction: Range { min: 0.0, max: 1.0 },
        }
    }
}

/// The parameter lists with invalid entries dropped; an emptied list falls back to its
/// default, so generation never panics.
pub(super) struct Lists {
    pub(super) families: Vec<Family>,
    pub(super) kernels: Vec<usize>,
    pub(super) filters: Vec<usize>,
    pub(super) pool_kernels: Vec<usize>,
    pub(super) strides: Vec<usize>,
    pub(super) fc_units: Vec<usize>,
    pub(super) poly_degrees: Vec<u8>,
}

impl Lists {
    pub(super) fn new(params: &SynthesisParams) -> Self {
        let defaults = SynthesisParams::default();
        fn keep<T: Copy>(values: &[T], ok: impl Fn(T) -> bool, default: &[T]) -> Vec<T> {
            let kept: Vec<T> = values.iter().copied().filter(|&v| ok(v)).collect();
            if kept.is_empty() {
                default.to_vec()
            } else {
                kept
            }
        }
        let window = |k: usize| (1..=11).contains(&k);
        Self {
            families: keep(&params.families, |_| true, &defaults.families),
            kernels: keep(&params.kernels, window, &defaults.kernels),
            filters: keep(&params.filters, |f| f > 0, &defaults.filters),
            pool_kernels: keep(&params.pool_kernels, window, &defaults.pool_kernels),
            strides: keep(&params.strides, |s| s > 0, &defaults.strides),
            fc_units: keep(&params.fc_units, |u| u > 0, &defaults.fc_units),
            poly_degrees: keep(&params.poly_degrees, |d| (2..=3).contains(&d), &[2, 3]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_partial_yaml_and_rejects_unknown_keys() {
        let params: SynthesisParams = serde_yaml::from_str(
            "families: [conv, maxpool]\nlayers: {min: 2, max: 3}\npadding: same\n",
        )
        .unwrap();
        assert_eq!(params.families, [Family::Conv, Family::Maxpool]);
        assert_eq!(params.kernels, SynthesisParams::default().kernels);
        let err = serde_yaml::from_str::<SynthesisParams>("layer: {min: 2, max: 3}").unwrap_err();
        assert!(err.to_string().contains("unknown field `layer`"), "{err}");
        assert!(serde_yaml::from_str::<SynthesisParams>("families: [resnet]").is_err());
        let yaml = serde_yaml::to_string(&SynthesisParams::default()).unwrap();
        let back: SynthesisParams = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, SynthesisParams::default());
    }
}
