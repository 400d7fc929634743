//! Cost counts of one layer with known shapes.
//!
//! [`LayerCosts`] counts parameters, multiply-accumulates, elementary operations and weight
//! sizes: the engineered features that the predictors read next to the raw layer parameters.

use super::{Op, Shape};

/// How many of `channels` stay ReLU in a `poly_act` layer with `relu_fraction`:
/// `⌈relu_fraction·C⌉`, at most `C`; the first ones stay ReLU, the rest use the polynomial.
/// A slack of 1e-9 absorbs float noise, so 0.7 of 10 channels is 7, not 8. This is the one
/// rule: the secure protocol (`nonlinear::PolyParams::relu_channels`) uses it too.
pub fn poly_relu_channels(channels: usize, relu_fraction: f64) -> usize {
    let kept = (relu_fraction.clamp(0.0, 1.0) * channels as f64 - 1e-9)
        .ceil()
        .max(0.0);
    (kept as usize).min(channels)
}

/// Parameter, operation and size counts of one layer with known shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerCosts {
    /// Trained values the server holds: weights plus biases (batch norm: γ and β, 2·C;
    /// poly_act: the degree + 1 polynomial coefficients).
    pub params: u64,
    /// Multiplicative weights only (conv kernel, fc matrix, batch-norm γ), without biases.
    pub weight_elements: u64,
    /// Multiply-accumulates of conv and fc layers (0 for other kinds).
    pub macs: u64,
    /// Elementary operations: MACs for conv and fc; one per element for batch norm, ReLU,
    /// add and global pooling; `kh·kw − 1` comparisons per output for max pooling, `kh·kw`
    /// additions per output for average pooling; `degree` multiply-adds per polynomial element
    /// plus one comparison per ReLU element for poly_act; 0 for concat and flatten.
    pub flops: u64,
}

impl LayerCosts {
    /// Counts for `op` with the given input shapes and output shape.
    pub fn of(op: &Op, inputs: &[Shape], output: Shape) -> Self {
        let input = inputs.first().copied().unwrap_or(output);
        let out = output.elements();
        match *op {
            Op::Conv {
                filters,
                kernel,
                bias,
                ..
            } => {
                let weights = kernel.area() * input.c as u64 * filters as u64;
                let macs = output.spatial() * weights;
                Self {
                    params: weights + if bias { filters as u64 } else { 0 },
                    weight_elements: weights,
                    macs,
                    flops: macs,
                }
            }
            Op::Fc { units, bias } => {
                let weights = input.elements() * units as u64;
                Self {
                    params: weights + if bias { units as u64 } else { 0 },
                    weight_elements: weights,
                    macs: weights,
                    flops: weights,
                }
            }
            Op::BatchNorm {} => Self {
                params: 2 * input.c as u64,
                weight_elements: input.c as u64,
                macs: 0,
                flops: out,
            },
            Op::Relu {} | Op::Add {} => Self {
                flops: out,
                ..Self::default()
            },
            Op::MaxPool { kernel, .. } => Self {
                flops: out * (kernel.area() - 1),
                ..Self::default()
            },
            Op::AvgPool { kernel, .. } => Self {
                flops: out * kernel.area(),
                ..Self::default()
            },
            Op::GlobalAvgPool {} => Self {
                flops: input.elements(),
                ..Self::default()
            },
            Op::Concat {} | Op::Flatten {} => Self::default(),
            Op::PolyAct {
                degree,
                relu_fraction,
            } => {
                let relu = poly_relu_channels(input.c, relu_fraction) as u64;
                let poly = input.c as u64 - relu;
                Self {
                    params: u64::from(degree) + 1,
                    weight_elements: u64::from(degree) + 1,
                    macs: 0,
                    flops: input.spatial() * (relu + poly * u64::from(degree)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_costs() {
        let x = Shape::new(56, 56, 64);
        let conv = Op::conv(128, 3, 1, 1, true);
        let costs = LayerCosts::of(&conv, &[x], Shape::new(56, 56, 128));
        assert_eq!(costs.weight_elements, 3 * 3 * 64 * 128);
        assert_eq!(costs.params, 3 * 3 * 64 * 128 + 128);
        assert_eq!(costs.macs, 56 * 56 * 3 * 3 * 64 * 128);
        let costs = LayerCosts::of(&Op::fc(10, true), &[Shape::flat(512)], Shape::flat(10));
        assert_eq!((costs.params, costs.macs), (5130, 5120));
        let costs = LayerCosts::of(&Op::BatchNorm {}, &[x], x);
        assert_eq!(costs.params, 128);
        let costs = LayerCosts::of(&Op::max_pool(3, 2, 1), &[x], Shape::new(28, 28, 64));
        assert_eq!(costs.flops, 28 * 28 * 64 * 8);
        let costs = LayerCosts::of(&Op::poly_act(3, 0.25), &[x], x);
        assert_eq!(costs.flops, 56 * 56 * (16 + 48 * 3));
        assert_eq!(costs.params, 4);
    }

    #[test]
    fn splits_poly_channels() {
        assert_eq!(poly_relu_channels(64, 0.25), 16);
        assert_eq!(poly_relu_channels(3, 0.5), 2);
        assert_eq!(poly_relu_channels(10, 0.0), 0);
        assert_eq!(poly_relu_channels(10, 1.0), 10);
    }
}
