//! Plaintext integer reference of the linear layers in Z_{2^ℓ}, the ground truth the secure
//! protocol must reproduce exactly (same layouts as [`super::LinearLayer`]).

use super::layer::LinearLayer;

/// `layer(x; w)` mod 2^ℓ: CONV (HWC input, kernel `[kh][kw][c][m]`, HWC output), FC
/// (`[n_out][n_in]` matrix) or BN (γ per channel, HWC).
pub fn linear(layer: &LinearLayer, x: &[u64], w: &[u64], ell: u32) -> Vec<u64> {
    let mask = if ell == 64 {
        u64::MAX
    } else {
        (1u64 << ell) - 1
    };
    let mut y = vec![0u64; layer.output_len()];
    match *layer {
        LinearLayer::Conv(s) => {
            let (out_h, out_w) = (s.out_h(), s.out_w());
            for oi in 0..out_h {
                for oj in 0..out_w {
                    for l in 0..s.kh {
                        let Some(row) = (oi * s.stride + l).checked_sub(s.pad.top) else {
                            continue;
                        };
                        if row >= s.h {
                            continue;
                        }
                        for l2 in 0..s.kw {
                            let Some(col) = (oj * s.stride + l2).checked_sub(s.pad.left) else {
                                continue;
                            };
                            if col >= s.w {
                                continue;
                            }
                            for c in 0..s.c {
                                let xv = x[(row * s.w + col) * s.c + c];
                                let base = ((l * s.kw + l2) * s.c + c) * s.m;
                                let out = (oi * out_w + oj) * s.m;
                                for m in 0..s.m {
                                    y[out + m] =
                                        y[out + m].wrapping_add(xv.wrapping_mul(w[base + m]));
                                }
                            }
                        }
                    }
                }
            }
        }
        LinearLayer::Fc(s) => {
            for (r, yr) in y.iter_mut().enumerate() {
                *yr = (0..s.n_in).fold(0u64, |acc, c| {
                    acc.wrapping_add(w[r * s.n_in + c].wrapping_mul(x[c]))
                });
            }
        }
        LinearLayer::Bn(s) => {
            for (i, yi) in y.iter_mut().enumerate() {
                *yi = x[i].wrapping_mul(w[i % s.c]);
            }
        }
    }
    y.iter_mut().for_each(|v| *v &= mask);
    y
}
