//! Shape inference for one layer.
//!
//! [`output_shape`] applies one operation to its input shapes and checks everything that
//! depends on them (kernel fits, flat `fc` input, equal `add` shapes, …).

use crate::error::NetworkError;

use super::limits::{Site, MAX_ELEMENTS, MAX_SIDE};
use super::{Kernel, Op, OpKind, Shape};

/// Where a layer sits, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    /// 0-based layer index.
    pub index: usize,
    /// Layer name.
    pub name: &'a str,
}

impl At<'_> {
    fn name(&self) -> String {
        self.name.to_owned()
    }

    fn site(&self, kind: OpKind) -> Site<'_> {
        Site {
            index: self.index,
            name: self.name,
            kind,
        }
    }

    fn zero(&self, kind: OpKind, field: &'static str) -> NetworkError {
        NetworkError::ZeroParameter {
            index: self.index,
            name: self.name(),
            kind,
            field,
        }
    }
}

/// The output side length `floor((n + 2p − k) / s) + 1`, or `None` if the kernel does not fit
/// (or `n + 2p` does not fit in a `usize`).
pub fn window_output(n: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = padding.checked_mul(2)?.checked_add(n)?;
    (padded >= kernel && stride > 0).then(|| (padded - kernel) / stride + 1)
}

/// Applies a sliding window (conv or pool) to `input`, checking that it fits.
fn windowed(
    at: At<'_>,
    kind: OpKind,
    input: Shape,
    kernel: Kernel,
    stride: usize,
    padding: usize,
    channels: usize,
) -> Result<Shape, NetworkError> {
    if stride == 0 {
        return Err(at.zero(kind, "stride"));
    }
    let site = at.site(kind);
    site.side("stride", stride)?;
    site.side("padding", padding)?;
    site.side("kernel height", kernel.h)?;
    site.side("kernel width", kernel.w)?;
    let h = window_output(input.h, kernel.h, stride, padding);
    let w = window_output(input.w, kernel.w, stride, padding);
    match (h, w) {
        (Some(h), Some(w)) => bounded_output(site, Shape::new(h, w, channels)),
        _ => Err(NetworkError::KernelTooLarge {
            index: at.index,
            name: at.name(),
            kind,
            kernel,
            input,
            padding,
        }),
    }
}

/// `output` if its sides are at most [`MAX_SIDE`] and its elements at most [`MAX_ELEMENTS`].
fn bounded_output(site: Site<'_>, output: Shape) -> Result<Shape, NetworkError> {
    site.bounded("output height", Some(output.h as u64), MAX_SIDE as u64)?;
    site.bounded("output width", Some(output.w as u64), MAX_SIDE as u64)?;
    site.bounded("output elements", output.checked_elements(), MAX_ELEMENTS)?;
    Ok(output)
}

/// Checks a pooling window's own parameters (non-zero kernel, padding at most half of it).
fn check_pool(
    at: At<'_>,
    kind: OpKind,
    kernel: Kernel,
    padding: usize,
) -> Result<(), NetworkError> {
    if kernel.h == 0 || kernel.w == 0 {
        return Err(at.zero(kind, "kernel"));
    }
    let max = kernel.h.min(kernel.w) / 2;
    if padding > max {
        return Err(NetworkError::PoolPadding {
            index: at.index,
            name: at.name(),
            kind,
            padding,
            kernel,
            max,
        });
    }
    Ok(())
}

/// The output shape of `op` applied to `inputs`, whose count the caller has checked.
pub(crate) fn output_shape(op: &Op, inputs: &[Shape], at: At<'_>) -> Result<Shape, NetworkError> {
    let kind = op.kind();
    let first = inputs[0];
    match *op {
        Op::Conv {
            filters,
            kernel,
            stride,
            padding,
            ..
        } => {
            if filters == 0 {
                return Err(at.zero(kind, "filters"));
            }
            if !(1..=11).contains(&kernel.h) || !(1..=11).contains(&kernel.w) {
                return Err(NetworkError::KernelRange {
                    index: at.index,
                    name: at.name(),
                    kernel,
                });
            }
            windowed(at, kind, first, kernel, stride, padding, filters)
        }
        Op::Fc { units, .. } => {
            if units == 0 {
                return Err(at.zero(kind, "units"));
            }
            if !first.is_flat() {
                return Err(NetworkError::NotFlat {
                    index: at.index,
                    name: at.name(),
                    input: first,
                });
            }
            bounded_output(at.site(kind), Shape::flat(units))
        }
        Op::BatchNorm {} | Op::Relu {} => Ok(first),
        Op::MaxPool {
            kernel,
            stride,
            padding,
        }
        | Op::AvgPool {
            kernel,
            stride,
            padding,
        } => {
            check_pool(at, kind, kernel, padding)?;
            windowed(at, kind, first, kernel, stride, padding, first.c)
        }
        Op::GlobalAvgPool {} => Ok(Shape::flat(first.c)),
        Op::Add {} => {
            let (left, right) = (inputs[0], inputs[1]);
            if left != right {
                return Err(NetworkError::AddShapes {
                    index: at.index,
                    name: at.name(),
                    left,
                    right,
                });
            }
            Ok(left)
        }
        Op::Concat {} => {
            let mut channels = 0usize;
            for &other in inputs {
                if (other.h, other.w) != (first.h, first.w) {
                    return Err(NetworkError::ConcatShapes {
                        index: at.index,
                        name: at.name(),
                        first,
                        other,
                    });
                }
                channels = channels.saturating_add(other.c);
            }
            bounded_output(at.site(kind), Shape::new(first.h, first.w, channels))
        }
        // A valid input has at most MAX_ELEMENTS elements, so the product fits.
        Op::Flatten {} => bounded_output(
            at.site(kind),
            Shape::flat(usize::try_from(first.elements()).unwrap_or(usize::MAX)),
        ),
        Op::PolyAct {
            degree,
            relu_fraction,
        } => {
            if !(2..=3).contains(&degree) {
                return Err(NetworkError::PolyDegree {
                    index: at.index,
                    name: at.name(),
                    degree,
                });
            }
            if !(0.0..=1.0).contains(&relu_fraction) {
                return Err(NetworkError::ReluFraction {
                    index: at.index,
                    name: at.name(),
                    value: relu_fraction,
                });
            }
            Ok(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> At<'static> {
        At {
            index: 3,
            name: "l",
        }
    }

    fn infer(op: Op, inputs: &[Shape]) -> Result<Shape, NetworkError> {
        output_shape(&op, inputs, at())
    }

    #[test]
    fn window_formula_is_floor() {
        assert_eq!(window_output(224, 7, 2, 3), Some(112));
        assert_eq!(window_output(112, 3, 2, 1), Some(56));
        assert_eq!(window_output(111, 3, 2, 0), Some(55));
        assert_eq!(window_output(2, 3, 1, 0), None);
        assert_eq!(window_output(1, 3, 1, 1), Some(1));
    }

    #[test]
    fn infers_every_kind() {
        let x = Shape::new(56, 56, 64);
        assert_eq!(
            infer(Op::conv(128, 3, 2, 1, false), &[x]).unwrap(),
            Shape::new(28, 28, 128)
        );
        let rect = Op::Conv {
            filters: 8,
            kernel: Kernel::new(1, 7),
            stride: 1,
            padding: 0,
            bias: true,
        };
        assert_eq!(infer(rect, &[x]).unwrap(), Shape::new(56, 50, 8));
        assert_eq!(
            infer(Op::fc(10, true), &[Shape::flat(512)]).unwrap(),
            Shape::flat(10)
        );
        assert_eq!(infer(Op::BatchNorm {}, &[x]).unwrap(), x);
        assert_eq!(infer(Op::Relu {}, &[x]).unwrap(), x);
        assert_eq!(
            infer(Op::max_pool(3, 2, 1), &[x]).unwrap(),
            Shape::new(28, 28, 64)
        );
        assert_eq!(
            infer(Op::avg_pool(2, 2, 0), &[x]).unwrap(),
            Shape::new(28, 28, 64)
        );
        assert_eq!(infer(Op::GlobalAvgPool {}, &[x]).unwrap(), Shape::flat(64));
        assert_eq!(infer(Op::Add {}, &[x, x]).unwrap(), x);
        let y = Shape::new(56, 56, 32);
        assert_eq!(
            infer(Op::Concat {}, &[x, y, y]).unwrap(),
            Shape::new(56, 56, 128)
        );
        assert_eq!(
            infer(Op::Flatten {}, &[Shape::new(7, 7, 512)]).unwrap(),
            Shape::flat(25_088)
        );
        assert_eq!(infer(Op::poly_act(2, 0.25), &[x]).unwrap(), x);
    }

    #[test]
    fn reports_shape_errors() {
        let x = Shape::new(56, 56, 64);
        let err = infer(Op::Add {}, &[Shape::new(56, 56, 256), x]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer 3 'l': add needs equal shapes, got 56x56x256 and 56x56x64"
        );
        let err = infer(Op::Concat {}, &[x, Shape::new(28, 28, 64)]).unwrap_err();
        assert!(matches!(err, NetworkError::ConcatShapes { .. }), "{err}");
        let err = infer(Op::fc(10, true), &[Shape::new(7, 7, 512)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("add a `flatten` or `global_avg_pool`"),
            "{err}"
        );
        let err = infer(Op::conv(8, 7, 1, 1, false), &[Shape::new(4, 4, 3)]).unwrap_err();
        assert!(
            err.to_string().contains("larger than the padded input 6x6"),
            "{err}"
        );
        let err = infer(Op::max_pool(2, 2, 0), &[Shape::new(1, 1, 3)]).unwrap_err();
        assert!(
            matches!(
                err,
                NetworkError::KernelTooLarge {
                    kind: OpKind::MaxPool,
                    ..
                }
            ),
            "{err}"
        );
        let err = infer(Op::conv(8, 12, 1, 0, false), &[x]).unwrap_err();
        assert!(matches!(err, NetworkError::KernelRange { .. }), "{err}");
        let err = infer(Op::conv(8, 0, 1, 0, false), &[x]).unwrap_err();
        assert!(matches!(err, NetworkError::KernelRange { .. }), "{err}");
        let err = infer(Op::avg_pool(3, 1, 2), &[x]).unwrap_err();
        assert!(
            err.to_string()
                .contains("padding 2 is more than half the kernel 3x3; use at most 1"),
            "{err}"
        );
        let err = infer(Op::poly_act(4, 0.5), &[x]).unwrap_err();
        assert!(
            err.to_string().contains("degree must be 2 or 3, got 4"),
            "{err}"
        );
        let err = infer(Op::poly_act(2, 1.5), &[x]).unwrap_err();
        assert!(matches!(err, NetworkError::ReluFraction { .. }), "{err}");
        let err = infer(Op::poly_act(2, f64::NAN), &[x]).unwrap_err();
        assert!(matches!(err, NetworkError::ReluFraction { .. }), "{err}");
    }

    #[test]
    fn reports_zero_parameters() {
        let x = Shape::new(8, 8, 4);
        let cases = [
            (Op::conv(0, 3, 1, 1, false), "conv filters"),
            (Op::conv(4, 3, 0, 1, false), "conv stride"),
            (Op::fc(0, true), "fc units"),
            (Op::max_pool(0, 1, 0), "max_pool kernel"),
            (Op::avg_pool(2, 0, 0), "avg_pool stride"),
        ];
        for (op, what) in cases {
            let input = if op.kind() == OpKind::Fc {
                Shape::flat(4)
            } else {
                x
            };
            let err = infer(op, &[input]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("layer 3 'l': {what} must be at least 1")
            );
        }
    }
}
