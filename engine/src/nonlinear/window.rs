//! Pooling-window geometry over HWC tensors, shared by the secure layers, the plaintext
//! reference and the cost plan (all three must walk the same windows).
//!
//! Output size per axis is `floor((n + 2·padding − kernel) / stride) + 1`, as in
//! [`crate::network`]. A window lists the input positions it covers inside the map; padded
//! positions are left out (MaxPool treats them as −∞, AvgPool as zeros with divisor `kh·kw`).

use crate::network::Shape;
use crate::ot::OtError;

/// A pooling window: `kh` × `kw` kernel, one stride for both axes, symmetric padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pool2d {
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Padding on each side.
    pub padding: usize,
}

impl Pool2d {
    /// A square `k` × `k` window.
    pub const fn square(k: usize, stride: usize, padding: usize) -> Self {
        Pool2d {
            kh: k,
            kw: k,
            stride,
            padding,
        }
    }

    /// The window of a global average pool over `shape`: the whole map, stride 1.
    pub const fn global(shape: Shape) -> Self {
        Pool2d {
            kh: shape.h,
            kw: shape.w,
            stride: 1,
            padding: 0,
        }
    }

    /// The output shape over `input`, or an error when the window does not fit or padding
    /// exceeds half the kernel (then a window could lie wholly in the padding).
    pub fn output(&self, input: Shape) -> Result<Shape, OtError> {
        let bad = self.kh == 0
            || self.kw == 0
            || self.stride == 0
            || 2 * self.padding > self.kh.min(self.kw)
            || input.h + 2 * self.padding < self.kh
            || input.w + 2 * self.padding < self.kw
            || input.c == 0;
        if bad {
            return Err(OtError::InvalidInput(format!(
                "pool {}x{} stride {} padding {} does not fit input {}x{}x{}",
                self.kh, self.kw, self.stride, self.padding, input.h, input.w, input.c
            )));
        }
        Ok(Shape::new(
            (input.h + 2 * self.padding - self.kh) / self.stride + 1,
            (input.w + 2 * self.padding - self.kw) / self.stride + 1,
            input.c,
        ))
    }

    /// For every output element in HWC order, the HWC indices of the input elements its
    /// window covers (padding left out), in row-major window order.
    pub fn windows(&self, input: Shape) -> Result<Vec<Vec<usize>>, OtError> {
        let out = self.output(input)?;
        let mut all = Vec::with_capacity(out.h * out.w * out.c);
        for oy in 0..out.h {
            for ox in 0..out.w {
                let y0 = (oy * self.stride) as isize - self.padding as isize;
                let x0 = (ox * self.stride) as isize - self.padding as isize;
                for c in 0..input.c {
                    let mut idx = Vec::with_capacity(self.kh * self.kw);
                    for dy in 0..self.kh as isize {
                        for dx in 0..self.kw as isize {
                            let (y, x) = (y0 + dy, x0 + dx);
                            if (0..input.h as isize).contains(&y)
                                && (0..input.w as isize).contains(&x)
                            {
                                idx.push((y as usize * input.w + x as usize) * input.c + c);
                            }
                        }
                    }
                    all.push(idx);
                }
            }
        }
        Ok(all)
    }

    /// For every output position (row-major, one per pixel, not per channel), how many
    /// input positions its window covers inside the map: the lengths of [`Pool2d::windows`]
    /// without listing them (every channel of a position has the same window), for the
    /// cost plan.
    pub fn window_sizes(&self, input: Shape) -> Result<Vec<usize>, OtError> {
        let out = self.output(input)?;
        // Of the kernel's offsets 0..k at a window starting at `start`, those inside 0..n.
        let inside = |start: isize, k: usize, n: usize| {
            (0..k as isize)
                .filter(|d| (0..n as isize).contains(&(start + d)))
                .count()
        };
        let rows: Vec<usize> = (0..out.h)
            .map(|oy| {
                inside(
                    (oy * self.stride) as isize - self.padding as isize,
                    self.kh,
                    input.h,
                )
            })
            .collect();
        let cols: Vec<usize> = (0..out.w)
            .map(|ox| {
                inside(
                    (ox * self.stride) as isize - self.padding as isize,
                    self.kw,
                    input.w,
                )
            })
            .collect();
        Ok(rows
            .iter()
            .flat_map(|r| cols.iter().map(move |c| r * c))
            .collect())
    }

    /// The public AvgPool multiplier at scale `scale`: `round(2^scale / (kh·kw))`, halves
    /// rounded up.
    pub fn avg_multiplier(&self, scale: u32) -> u64 {
        let area = (self.kh * self.kw) as u64;
        ((1u64 << scale) + area / 2) / area
    }
}

/// Checks that a share vector matches its shape.
pub(crate) fn check_len(len: usize, shape: Shape) -> Result<(), OtError> {
    if len != shape.h * shape.w * shape.c {
        return Err(OtError::InvalidInput(format!(
            "{len} shares for a {}x{}x{} tensor",
            shape.h, shape.w, shape.c
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_are_the_lengths_of_the_windows() {
        let shapes = [(7, 7, 3), (8, 5, 2), (1, 1, 4), (13, 11, 1)];
        for (h, w, c) in shapes {
            let input = Shape::new(h, w, c);
            for (k, stride, padding) in [(2, 2, 0), (3, 2, 1), (3, 1, 1), (1, 1, 0), (4, 3, 2)] {
                let pool = Pool2d::square(k, stride, padding);
                let (Ok(windows), Ok(sizes)) = (pool.windows(input), pool.window_sizes(input))
                else {
                    assert!(pool.windows(input).is_err() && pool.window_sizes(input).is_err());
                    continue;
                };
                let per_channel: Vec<usize> = windows.iter().step_by(c).map(Vec::len).collect();
                assert_eq!(sizes, per_channel, "{pool:?} over {input:?}");
                for (i, window) in windows.iter().enumerate() {
                    assert_eq!(window.len(), sizes[i / c]);
                }
            }
        }
    }

    #[test]
    fn windows_leave_out_padding() {
        let p = Pool2d::square(3, 2, 1);
        let input = Shape::new(4, 5, 2);
        assert_eq!(p.output(input).unwrap(), Shape::new(2, 3, 2));
        let w = p.windows(input).unwrap();
        assert_eq!(w.len(), 12);
        // Top-left window, channel 1: rows 0..2, cols 0..2.
        assert_eq!(w[1], vec![1, 3, 11, 13]);
        assert!(w.iter().all(|x| !x.is_empty()));
        assert!(Pool2d::square(2, 1, 2).output(input).is_err());
        assert_eq!(Pool2d::square(7, 1, 0).avg_multiplier(12), 84);
    }
}
