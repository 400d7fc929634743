//! The window of a `Conv`, `MaxPool` or `AveragePool` node (strides, dilations, pads,
//! `auto_pad`, `ceil_mode`) reduced to what our layers take: one stride for both axes and
//! one padding for every side. Anything else is an error saying which attribute and why.

use snni_engine::network::{window_output, Kernel, Shape};

use super::attrs::Attrs;

/// Stride and padding of a window of `kernel` over `input`; `pool` allows `ceil_mode`.
pub(crate) fn window(
    attrs: &Attrs<'_>,
    kernel: Kernel,
    input: Shape,
    pool: bool,
) -> Result<(usize, usize), String> {
    let strides = attrs.ints("strides")?.unwrap_or_else(|| vec![1, 1]);
    let stride = match strides[..] {
        [a, b] if a == b && a > 0 => a as usize,
        _ => {
            return Err(format!(
                "strides {strides:?} differ per axis; our layers take one stride for both axes"
            ))
        }
    };
    if let Some(dilations) = attrs.ints("dilations")? {
        if dilations.iter().any(|&d| d != 1) {
            return Err(format!(
                "dilations {dilations:?}: dilated windows have no counterpart among our layers"
            ));
        }
    }
    let axes = [(input.h, kernel.h), (input.w, kernel.w)];
    let auto_pad = attrs.string("auto_pad")?.unwrap_or_default();
    let padding = match auto_pad.as_str() {
        "" | "NOTSET" => {
            let pads = attrs.ints("pads")?.unwrap_or_else(|| vec![0; 4]);
            match pads[..] {
                [a, b, c, d] if a >= 0 && a == b && b == c && c == d => a as usize,
                _ => {
                    return Err(format!(
                        "pads {pads:?} are not equal on every side; our layers pad all four \
                         sides by the same amount"
                    ))
                }
            }
        }
        "VALID" => 0,
        "SAME_UPPER" | "SAME_LOWER" => {
            let totals: Vec<usize> = axes
                .iter()
                .map(|&(n, k)| ((n.div_ceil(stride) - 1) * stride + k).saturating_sub(n))
                .collect();
            if !totals[0].is_multiple_of(2) || totals[0] != totals[1] {
                return Err(format!(
                    "auto_pad {auto_pad} pads {} and {} pixels along height and width, which \
                     cannot be split equally over the sides",
                    totals[0], totals[1]
                ));
            }
            totals[0] / 2
        }
        other => return Err(format!("auto_pad `{other}` is not an ONNX padding mode")),
    };
    if pool && attrs.int("ceil_mode")? == Some(1) {
        for (n, k) in axes {
            let floor = window_output(n, k, stride, padding);
            let ceil = ceil_output(n, k, stride, padding);
            if floor != ceil {
                return Err(format!(
                    "ceil_mode=1 gives {} output pixels from {n} where our layers (floor) give \
                     {}; the extra window would overhang the input",
                    ceil.unwrap_or(0),
                    floor.unwrap_or(0)
                ));
            }
        }
    }
    Ok((stride, padding))
}

/// PyTorch's ceil-mode output side: the last window must start inside the input or its
/// left padding.
fn ceil_output(n: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let span = (n + 2 * padding).checked_sub(kernel)?;
    let mut out = span.div_ceil(stride) + 1;
    if (out - 1) * stride >= n + padding {
        out -= 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_mode_matches_pytorch() {
        // SqueezeNet 1.1's pools at 224: 111 → 55 → 27 → 13, equal to floor.
        assert_eq!(ceil_output(111, 3, 2, 0), Some(55));
        assert_eq!(ceil_output(27, 3, 2, 0), Some(13));
        // An even side gains a window under ceil mode.
        assert_eq!(ceil_output(8, 3, 2, 0), Some(4));
        assert_eq!(window_output(8, 3, 2, 0), Some(3));
        // …unless it would start in the right padding.
        assert_eq!(ceil_output(4, 2, 2, 1), Some(3));
    }
}
