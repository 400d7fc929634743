//! The operation a layer performs, as written in network files.
//!
//! [`Op`] is internally tagged by `kind` (`conv`, `fc`, `batch_norm`, …) and rejects unknown
//! fields, so a typo in a network file is an error rather than a silently ignored key.
//! [`OpKind`] is the field-less tag, used to group layers by type (datasets, predictors).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Kernel;

/// What a layer computes. Spatial arithmetic follows PyTorch: an output side is
/// `floor((n + 2·padding − kernel) / stride) + 1` for convolutions and pools alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// 2-D convolution with `filters` output channels (kernel sides 1 to 11).
    Conv {
        /// Number of output channels.
        filters: usize,
        /// Kernel size, `k` or `[h, w]`.
        kernel: Kernel,
        /// Stride in both directions (default 1).
        #[serde(default = "one")]
        stride: usize,
        /// Zero padding on each side (default 0).
        #[serde(default)]
        padding: usize,
        /// Whether a bias is added per output channel (default false).
        #[serde(default)]
        bias: bool,
    },
    /// Fully connected layer on a flat `1x1xC` input.
    Fc {
        /// Number of outputs.
        units: usize,
        /// Whether a bias is added per output (default true).
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Batch normalization in inference form: `γ_c·x + β_c` per channel.
    BatchNorm {},
    /// Rectified linear unit, element-wise.
    Relu {},
    /// Max pooling over `kernel` windows.
    MaxPool {
        /// Window size, `k` or `[h, w]`.
        kernel: Kernel,
        /// Stride in both directions.
        stride: usize,
        /// Padding on each side (default 0, at most half the kernel).
        #[serde(default)]
        padding: usize,
    },
    /// Average pooling over `kernel` windows; the divisor is always `kh·kw` (padding counts,
    /// as PyTorch's default `count_include_pad`).
    AvgPool {
        /// Window size, `k` or `[h, w]`.
        kernel: Kernel,
        /// Stride in both directions.
        stride: usize,
        /// Padding on each side (default 0, at most half the kernel).
        #[serde(default)]
        padding: usize,
    },
    /// Average over all spatial positions: `HxWxC` → `1x1xC`.
    GlobalAvgPool {},
    /// Element-wise sum of exactly two inputs of equal shape.
    Add {},
    /// Concatenation of two or more inputs along channels (equal height and width).
    Concat {},
    /// Reshape `HxWxC` → `1x1x(H·W·C)`.
    Flatten {},
    /// SAFENet channel-wise activation: the first `relu_fraction` of the channels stay ReLU,
    /// the others use a polynomial of degree 2 or 3 whose coefficients the layer holds.
    PolyAct {
        /// Polynomial degree, 2 or 3.
        degree: u8,
        /// Fraction of channels that stay ReLU, in [0, 1].
        relu_fraction: f64,
    },
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

/// The kind of an [`Op`] without its parameters; serialized as in network files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// [`Op::Conv`].
    Conv,
    /// [`Op::Fc`].
    Fc,
    /// [`Op::BatchNorm`].
    BatchNorm,
    /// [`Op::Relu`].
    Relu,
    /// [`Op::MaxPool`].
    MaxPool,
    /// [`Op::AvgPool`].
    AvgPool,
    /// [`Op::GlobalAvgPool`].
    GlobalAvgPool,
    /// [`Op::Add`].
    Add,
    /// [`Op::Concat`].
    Concat,
    /// [`Op::Flatten`].
    Flatten,
    /// [`Op::PolyAct`].
    PolyAct,
}

impl OpKind {
    /// Every kind, in declaration order.
    pub const ALL: [OpKind; 11] = [
        OpKind::Conv,
        OpKind::Fc,
        OpKind::BatchNorm,
        OpKind::Relu,
        OpKind::MaxPool,
        OpKind::AvgPool,
        OpKind::GlobalAvgPool,
        OpKind::Add,
        OpKind::Concat,
        OpKind::Flatten,
        OpKind::PolyAct,
    ];

    /// The name used in network files, e.g. `max_pool`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OpKind::Conv => "conv",
            OpKind::Fc => "fc",
            OpKind::BatchNorm => "batch_norm",
            OpKind::Relu => "relu",
            OpKind::MaxPool => "max_pool",
            OpKind::AvgPool => "avg_pool",
            OpKind::GlobalAvgPool => "global_avg_pool",
            OpKind::Add => "add",
            OpKind::Concat => "concat",
            OpKind::Flatten => "flatten",
            OpKind::PolyAct => "poly_act",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Op {
    /// A convolution with a square `kernel`.
    pub const fn conv(
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
    ) -> Self {
        Op::Conv {
            filters,
            kernel: Kernel::square(kernel),
            stride,
            padding,
            bias,
        }
    }

    /// A fully connected layer.
    pub const fn fc(units: usize, bias: bool) -> Self {
        Op::Fc { units, bias }
    }

    /// A max pool with a square `kernel`.
    pub const fn max_pool(kernel: usize, stride: usize, padding: usize) -> Self {
        Op::MaxPool {
            kernel: Kernel::square(kernel),
            stride,
            padding,
        }
    }

    /// An average pool with a square `kernel`.
    pub const fn avg_pool(kernel: usize, stride: usize, padding: usize) -> Self {
        Op::AvgPool {
            kernel: Kernel::square(kernel),
            stride,
            padding,
        }
    }

    /// A SAFENet polynomial activation.
    pub const fn poly_act(degree: u8, relu_fraction: f64) -> Self {
        Op::PolyAct {
            degree,
            relu_fraction,
        }
    }

    /// The kind of this operation.
    pub const fn kind(&self) -> OpKind {
        match self {
            Op::Conv { .. } => OpKind::Conv,
            Op::Fc { .. } => OpKind::Fc,
            Op::BatchNorm {} => OpKind::BatchNorm,
            Op::Relu {} => OpKind::Relu,
            Op::MaxPool { .. } => OpKind::MaxPool,
            Op::AvgPool { .. } => OpKind::AvgPool,
            Op::GlobalAvgPool {} => OpKind::GlobalAvgPool,
            Op::Add {} => OpKind::Add,
            Op::Concat {} => OpKind::Concat,
            Op::Flatten {} => OpKind::Flatten,
            Op::PolyAct { .. } => OpKind::PolyAct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defaults() {
        let op: Op = serde_yaml::from_str("{kind: conv, filters: 8, kernel: 3}").unwrap();
        assert_eq!(op, Op::conv(8, 3, 1, 0, false));
        let op: Op = serde_yaml::from_str("{kind: fc, units: 10}").unwrap();
        assert_eq!(op, Op::fc(10, true));
        let op: Op = serde_yaml::from_str("{kind: max_pool, kernel: 2, stride: 2}").unwrap();
        assert_eq!(op, Op::max_pool(2, 2, 0));
    }

    #[test]
    fn rejects_unknown_fields_and_kinds() {
        let err = serde_yaml::from_str::<Op>("{kind: relu, inplace: true}").unwrap_err();
        assert!(err.to_string().contains("unknown field `inplace`"), "{err}");
        let err = serde_yaml::from_str::<Op>("{kind: softmax}").unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `softmax`"),
            "{err}"
        );
        assert!(serde_yaml::from_str::<Op>("{kind: max_pool, kernel: 2}").is_err());
    }

    #[test]
    fn kind_names_match_tags() {
        for kind in OpKind::ALL {
            let tag = serde_json::to_string(&kind).unwrap();
            assert_eq!(tag, format!("\"{}\"", kind.as_str()));
        }
        let json = serde_json::to_string(&Op::GlobalAvgPool {}).unwrap();
        assert_eq!(json, r#"{"kind":"global_avg_pool"}"#);
    }
}
