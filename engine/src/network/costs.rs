//! Cost counts of one layer with known shapes.
//!
//! [`LayerCosts`] counts parameters, multiply-accumulates, elementary operations and weight
//! sizes: the engineered features that the predictors read next to the raw layer parameters.

use crate::error::NetworkError;

use super::limits::{Site, MAX_COUNT, MAX_ELEMENTS};
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

/// Parameter, operation and size counts of one layer with known shapes, each at most
/// [`MAX_COUNT`](super::MAX_COUNT).
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
    /// Counts for `op` with the given input shapes and output shape, which validation has
    /// bounded by [`MAX_ELEMENTS`] each. Every count is computed with checked arithmetic and
    /// must be at most [`MAX_COUNT`]; otherwise the error names the layer (`site`) and the
    /// count.
    pub(crate) fn of(
        op: &Op,
        inputs: &[Shape],
        output: Shape,
        site: Site<'_>,
    ) -> Result<Self, NetworkError> {
        let input = inputs.first().copied().unwrap_or(output);
        let out = output.elements();
        let c = input.c as u64;
        let count = |quantity, factors: &[u64]| site.product(quantity, factors, MAX_COUNT);
        Ok(match *op {
            Op::Conv {
                filters,
                kernel,
                bias,
                ..
            } => {
                let filters = filters as u64;
                let weights = count("weights", &[kernel.area(), c, filters])?;
                let macs = count("multiply-accumulates", &[output.spatial(), weights])?;
                Self {
                    params: site.bounded(
                        "parameters",
                        weights.checked_add(if bias { filters } else { 0 }),
                        MAX_COUNT,
                    )?,
                    weight_elements: weights,
                    macs,
                    flops: macs,
                }
            }
            Op::Fc { units, bias } => {
                let units = units as u64;
                let weights = count("weights", &[input.elements(), units])?;
                Self {
                    params: site.bounded(
                        "parameters",
                        weights.checked_add(if bias { units } else { 0 }),
                        MAX_COUNT,
                    )?,
                    weight_elements: weights,
                    macs: weights,
                    flops: weights,
                }
            }
            Op::BatchNorm {} => Self {
                params: 2 * c,
                weight_elements: c,
                macs: 0,
                flops: out,
            },
            Op::Relu {} | Op::Add {} => Self {
                flops: out,
                ..Self::default()
            },
            // The engine lists every window's taps to plan and run a pool.
            Op::MaxPool { kernel, .. } => Self {
                flops: site.product("window taps", &[out, kernel.area()], MAX_ELEMENTS)? - out,
                ..Self::default()
            },
            Op::AvgPool { kernel, .. } => Self {
                flops: site.product("window taps", &[out, kernel.area()], MAX_ELEMENTS)?,
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
                let poly = c - relu;
                Self {
                    params: u64::from(degree) + 1,
                    weight_elements: u64::from(degree) + 1,
                    macs: 0,
                    // relu + poly·degree ≤ 3·C ≤ 3·2^32, times at most 2^32 positions.
                    flops: count(
                        "operations",
                        &[input.spatial(), relu + poly * u64::from(degree)],
                    )?,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::OpKind;

    fn site() -> Site<'static> {
        Site {
            index: 0,
            name: "l",
            kind: OpKind::Conv,
        }
    }

    impl LayerCosts {
        fn of_ok(op: &Op, inputs: &[Shape], output: Shape) -> Self {
            Self::of(op, inputs, output, site()).unwrap()
        }
    }

    #[test]
    fn overflowing_counts_are_errors() {
        let huge = Shape::new(1 << 16, 1 << 16, 1);
        let err = LayerCosts::of(
            &Op::conv(1 << 20, 11, 1, 5, true),
            &[huge],
            Shape::new(1 << 16, 1 << 16, 1 << 20),
            site(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                NetworkError::TooLarge {
                    quantity: "multiply-accumulates",
                    ..
                }
            ),
            "{err}"
        );
        let err = LayerCosts::of(
            &Op::fc(usize::MAX, true),
            &[Shape::flat(1 << 32)],
            Shape::flat(usize::MAX),
            site(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                NetworkError::TooLarge {
                    quantity: "weights",
                    value: None,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn counts_costs() {
        let x = Shape::new(56, 56, 64);
        let conv = Op::conv(128, 3, 1, 1, true);
        let costs = LayerCosts::of_ok(&conv, &[x], Shape::new(56, 56, 128));
        assert_eq!(costs.weight_elements, 3 * 3 * 64 * 128);
        assert_eq!(costs.params, 3 * 3 * 64 * 128 + 128);
        assert_eq!(costs.macs, 56 * 56 * 3 * 3 * 64 * 128);
        let costs = LayerCosts::of_ok(&Op::fc(10, true), &[Shape::flat(512)], Shape::flat(10));
        assert_eq!((costs.params, costs.macs), (5130, 5120));
        let costs = LayerCosts::of_ok(&Op::BatchNorm {}, &[x], x);
        assert_eq!(costs.params, 128);
        let costs = LayerCosts::of_ok(&Op::max_pool(3, 2, 1), &[x], Shape::new(28, 28, 64));
        assert_eq!(costs.flops, 28 * 28 * 64 * 8);
        let costs = LayerCosts::of_ok(&Op::poly_act(3, 0.25), &[x], x);
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
