//! Coefficient packing: tensors to polynomial coefficient vectors and back, per [`Packing`].
//!
//! - CONV (Cheetah): x̂ = Σ x[c,i,j]·X^{c·HnWn + i·Wn + j},
//!   ŵ = Σ_f Σ w_f[c,l,l']·X^{f·CnHnWn + O − c·HnWn − l·Wn − l'} for the `mn` filters f of
//!   a filter group, O = HnWn(Cn−1) + Wn(kh−1) + kw−1; the stride-1 output (i, j) of filter
//!   f in a block is coefficient f·CnHnWn + O + i·Wn + j. With mn·CnHnWn ≤ N, wrapped terms
//!   land below O and cross terms (other channels, filters or taps) never reach an output.
//! - FC: v̂ = Σ v_j·X^{−j} (X^{−j} = −X^{N−j}), Ŵ = Σ W[r,c]·X^{r·d1+c}; coefficient r·d1 of
//!   the product is row r's dot product.
//! - BN: channel c' of a ciphertext at X^{c'·chunk + p}, weight Σ γ_c'·X^{c'·cn·chunk};
//!   γ_c'·x_c' lands at c'·(cn+1)·chunk + p and no cross term collides with it.
//!
//! A strided CONV is packed as the stride-1 CONV of [`ConvShape::effective`] (polyphase:
//! one channel per input phase), so no output is computed and thrown away.
//!
//! Inputs and outputs are in Z_{2^ℓ} as `u64`; weight polynomials are centred `i64`.

use std::borrow::Cow;

use super::layer::{BnShape, ConvShape, LinearLayer};
use super::plan::{bn_block, LinearPlan, Packing};

/// Where one output element sits: in output ciphertext `ct`, coefficient `coeff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSlot {
    /// Output ciphertext index.
    pub ct: usize,
    /// Coefficient index in that ciphertext.
    pub coeff: usize,
}

/// Centre `v mod 2^ℓ` into `[-2^(ℓ-1), 2^(ℓ-1))`.
pub fn centre(v: u64, ell: u32) -> i64 {
    let t = 1u64 << ell;
    let v = v & (t - 1);
    if v >= t / 2 {
        v as i64 - t as i64
    } else {
        v as i64
    }
}

/// A strided CONV's input as the stride-1 input of [`ConvShape::effective`]: phase (a, b)
/// of channel c is channel (a·pb + b)·C + c, pixel (i, j) holds padded pixel
/// (i·s + a, j·s + b). Unstrided inputs pass through.
fn effective_input<'a>(s: &ConvShape, x: &'a [u64]) -> Cow<'a, [u64]> {
    if s.stride == 1 {
        return Cow::Borrowed(x);
    }
    let e = s.effective();
    let (pa, pb) = (s.kh.min(s.stride), s.kw.min(s.stride));
    let mut out = vec![0u64; e.h * e.w * e.c];
    for i in 0..e.h {
        for j in 0..e.w {
            for a in 0..pa {
                let Some(row) = (i * s.stride + a).checked_sub(s.pad.top) else {
                    continue;
                };
                if row >= s.h {
                    continue;
                }
                for b in 0..pb {
                    let Some(col) = (j * s.stride + b).checked_sub(s.pad.left) else {
                        continue;
                    };
                    if col >= s.w {
                        continue;
                    }
                    let src = (row * s.w + col) * s.c;
                    let dst = (i * e.w + j) * e.c + (a * pb + b) * s.c;
                    out[dst..dst + s.c].copy_from_slice(&x[src..src + s.c]);
                }
            }
        }
    }
    Cow::Owned(out)
}

/// The server's weights in the layout [`pack_weight`] reads: a strided CONV's kernel
/// `[kh][kw][c][m]` becomes the `[kh'][kw'][c'][m]` kernel of [`ConvShape::effective`]
/// (tap (u, v) of phase (a, b) is tap (u·s + a, v·s + b), zero beyond the kernel).
pub fn effective_weights<'a>(plan: &LinearPlan, w: &'a [u64]) -> Cow<'a, [u64]> {
    let LinearLayer::Conv(s) = plan.layer else {
        return Cow::Borrowed(w);
    };
    if s.stride == 1 {
        return Cow::Borrowed(w);
    }
    let e = s.effective();
    let (pa, pb) = (s.kh.min(s.stride), s.kw.min(s.stride));
    let mut out = vec![0u64; e.kh * e.kw * e.c * e.m];
    for u in 0..e.kh {
        for v in 0..e.kw {
            for a in 0..pa {
                for b in 0..pb {
                    let (l, l2) = (u * s.stride + a, v * s.stride + b);
                    if l >= s.kh || l2 >= s.kw {
                        continue;
                    }
                    let src = (l * s.kw + l2) * s.c * s.m;
                    let dst = ((u * e.kw + v) * e.c + (a * pb + b) * s.c) * s.m;
                    out[dst..dst + s.c * s.m].copy_from_slice(&w[src..src + s.c * s.m]);
                }
            }
        }
    }
    Cow::Owned(out)
}

/// Pack an input share (HWC tensor or vector, values mod 2^ℓ) into one coefficient vector
/// per input ciphertext, values in `[0, 2^ℓ)`.
pub fn pack_input(plan: &LinearPlan, x: &[u64], ell: u32) -> Vec<Vec<u64>> {
    let n = plan.degree;
    let mask = (1u64 << ell) - 1;
    match (plan.layer, plan.packing) {
        (
            LinearLayer::Conv(original),
            Packing::Conv {
                cn,
                hn,
                wn,
                row_blocks,
                col_blocks,
                groups,
                ..
            },
        ) => {
            let s = original.effective();
            let x = effective_input(&original, x);
            let mut out = Vec::with_capacity(row_blocks * col_blocks * groups);
            for bi in 0..row_blocks {
                for bj in 0..col_blocks {
                    for g in 0..groups {
                        let mut poly = vec![0u64; n];
                        for c in 0..cn.min(s.c - g * cn) {
                            let ch = g * cn + c;
                            for i in 0..hn {
                                let Some(row) = (bi * (hn - s.kh + 1) + i).checked_sub(s.pad.top)
                                else {
                                    continue;
                                };
                                if row >= s.h {
                                    break;
                                }
                                for j in 0..wn {
                                    let Some(col) =
                                        (bj * (wn - s.kw + 1) + j).checked_sub(s.pad.left)
                                    else {
                                        continue;
                                    };
                                    if col >= s.w {
                                        break;
                                    }
                                    poly[c * hn * wn + i * wn + j] =
                                        x[(row * s.w + col) * s.c + ch] & mask;
                                }
                            }
                        }
                        out.push(poly);
                    }
                }
            }
            out
        }
        (LinearLayer::Fc(s), Packing::Fc { d1, col_blocks, .. }) => (0..col_blocks)
            .map(|cb| {
                let mut poly = vec![0u64; n];
                for j in 0..d1.min(s.n_in - cb * d1) {
                    let v = x[cb * d1 + j] & mask;
                    if j == 0 {
                        poly[0] = v;
                    } else {
                        poly[n - j] = v.wrapping_neg() & mask;
                    }
                }
                poly
            })
            .collect(),
        (
            LinearLayer::Bn(s),
            Packing::Bn {
                cn,
                chunk,
                groups,
                chunks,
            },
        ) => {
            let positions = s.h * s.w;
            let mut out = Vec::with_capacity(groups * chunks);
            for g in 0..groups {
                for k in 0..chunks {
                    let mut poly = vec![0u64; n];
                    for c in 0..cn.min(s.c - g * cn) {
                        let at = bn_block(c) * chunk;
                        for p in 0..chunk.min(positions - k * chunk) {
                            poly[at + p] = x[(k * chunk + p) * s.c + g * cn + c] & mask;
                        }
                    }
                    out.push(poly);
                }
            }
            out
        }
        (
            LinearLayer::Bn(s),
            Packing::BnSplit {
                chunk,
                chunks,
                pieces,
            },
        ) => {
            let units = s.c * chunks;
            let (_, cts) = Packing::split_cts(units, pieces);
            let mut out = vec![vec![0u64; n]; cts];
            // Every input position goes where its output lands, less the weight's offset.
            for pos in 0..s.h * s.w {
                for ch in 0..s.c {
                    let (ct, own) = split_slot(&s, chunk, chunks, pieces, pos, ch);
                    let at = if own >= 2 * chunk { own - chunk } else { own };
                    out[ct][at] = x[pos * s.c + ch] & mask;
                }
            }
            out
        }
        _ => unreachable!("packing kind always matches the layer kind"),
    }
}

/// Where [`Packing::BnSplit`] puts the output of channel `ch` at position `pos`: the
/// ciphertext, and the coefficient of its own product (the input sits there too when it
/// is a ciphertext's whole unit, and `chunk` lower when it is a piece).
fn split_slot(
    s: &BnShape,
    chunk: usize,
    chunks: usize,
    pieces: usize,
    pos: usize,
    ch: usize,
) -> (usize, usize) {
    let units = s.c * chunks;
    let (sets, _) = Packing::split_cts(units, pieces);
    let (unit, offset) = (ch * chunks + pos / chunk, pos % chunk);
    let (set, member) = (unit / (pieces + 1), unit % (pieces + 1));
    if set == sets {
        (sets * pieces + member, offset)
    } else if member < pieces {
        (set * pieces + member, offset)
    } else {
        let piece = chunk.div_ceil(pieces);
        (set * pieces + offset / piece, 2 * chunk + offset % piece)
    }
}

/// The channel of [`Packing::BnSplit`]'s whole unit in ciphertext `ct`, and of the piece it
/// holds (none for a leftover unit alone in its ciphertext).
fn split_channels(s: &BnShape, chunks: usize, pieces: usize, ct: usize) -> (usize, Option<usize>) {
    let (sets, _) = Packing::split_cts(s.c * chunks, pieces);
    let (set, member) = (ct / pieces, ct % pieces);
    if set < sets {
        let whole = set * (pieces + 1) + member;
        let split = set * (pieces + 1) + pieces;
        (whole / chunks, Some(split / chunks))
    } else {
        ((sets * (pieces + 1) + (ct - sets * pieces)) / chunks, None)
    }
}

/// Number of weight polynomials of a plan.
pub fn weight_count(plan: &LinearPlan) -> usize {
    match (plan.layer, plan.packing) {
        (
            LinearLayer::Conv(_),
            Packing::Conv {
                groups,
                filter_groups,
                ..
            },
        ) => groups * filter_groups,
        (
            LinearLayer::Fc(_),
            Packing::Fc {
                row_blocks,
                col_blocks,
                ..
            },
        ) => row_blocks * col_blocks,
        (LinearLayer::Bn(_), Packing::Bn { groups, .. }) => groups,
        (LinearLayer::Bn(_), Packing::BnSplit { .. }) => plan.input_cts,
        _ => unreachable!("packing kind always matches the layer kind"),
    }
}

/// Weight polynomial `index` (centred coefficients) of the server's weights `w`, given in
/// the layout of [`effective_weights`] (the layer's own layout unless a CONV is strided):
/// CONV `index = filter_group·groups + group`, FC `index = row_block·col_blocks + col_block`, BN
/// `index = group`.
pub fn pack_weight(plan: &LinearPlan, w: &[u64], ell: u32, index: usize) -> Vec<i64> {
    let n = plan.degree;
    let mut poly = vec![0i64; n];
    match (plan.layer, plan.packing) {
        (
            LinearLayer::Conv(original),
            Packing::Conv {
                mn,
                cn,
                hn,
                wn,
                groups,
                ..
            },
        ) => {
            let s = original.effective();
            let (fg, g) = (index / groups, index % groups);
            let o = hn * wn * (cn - 1) + wn * (s.kh - 1) + s.kw - 1;
            for f in 0..mn.min(s.m - fg * mn) {
                let m = fg * mn + f;
                for c in 0..cn.min(s.c - g * cn) {
                    for l in 0..s.kh {
                        for l2 in 0..s.kw {
                            let v = w[((l * s.kw + l2) * s.c + g * cn + c) * s.m + m];
                            poly[f * cn * hn * wn + o - c * hn * wn - l * wn - l2] = centre(v, ell);
                        }
                    }
                }
            }
        }
        (
            LinearLayer::Fc(s),
            Packing::Fc {
                d0, d1, col_blocks, ..
            },
        ) => {
            let (rb, cb) = (index / col_blocks, index % col_blocks);
            for r in 0..d0.min(s.n_out - rb * d0) {
                for c in 0..d1.min(s.n_in - cb * d1) {
                    poly[r * d1 + c] = centre(w[(rb * d0 + r) * s.n_in + cb * d1 + c], ell);
                }
            }
        }
        (LinearLayer::Bn(s), Packing::Bn { cn, chunk, .. }) => {
            for c in 0..cn.min(s.c - index * cn) {
                poly[bn_block(c) * chunk] = centre(w[index * cn + c], ell);
            }
        }
        (
            LinearLayer::Bn(s),
            Packing::BnSplit {
                chunk,
                chunks,
                pieces,
            },
        ) => {
            let (whole, split) = split_channels(&s, chunks, pieces, index);
            poly[0] = centre(w[whole], ell);
            if let Some(split) = split {
                poly[chunk] = centre(w[split], ell);
            }
        }
        _ => unreachable!("packing kind always matches the layer kind"),
    }
    poly
}

/// For each weight polynomial, the (input ciphertext, output ciphertext) pairs it joins:
/// output += input × weight. Every output sums the products listed for it, and the order
/// is output-major, so an output is complete soon after its first use.
pub fn weight_uses(plan: &LinearPlan) -> Vec<Vec<(usize, usize)>> {
    match (plan.layer, plan.packing) {
        (
            LinearLayer::Conv(_),
            Packing::Conv {
                row_blocks,
                col_blocks,
                groups,
                filter_groups,
                ..
            },
        ) => (0..groups * filter_groups)
            .map(|index| {
                let (fg, g) = (index / groups, index % groups);
                (0..row_blocks * col_blocks)
                    .map(|block| (block * groups + g, block * filter_groups + fg))
                    .collect()
            })
            .collect(),
        (
            LinearLayer::Fc(_),
            Packing::Fc {
                row_blocks,
                col_blocks,
                ..
            },
        ) => (0..row_blocks * col_blocks)
            .map(|index| vec![(index % col_blocks, index / col_blocks)])
            .collect(),
        (LinearLayer::Bn(_), Packing::Bn { groups, chunks, .. }) => (0..groups)
            .map(|g| (g * chunks..(g + 1) * chunks).map(|i| (i, i)).collect())
            .collect(),
        (LinearLayer::Bn(_), Packing::BnSplit { .. }) => {
            (0..plan.input_cts).map(|i| vec![(i, i)]).collect()
        }
        _ => unreachable!("packing kind always matches the layer kind"),
    }
}

/// The order in which the answers of a layer go on the wire: the order in which the
/// server's walk over the weights in [`weight_uses`] order sums the last product of each
/// output ciphertext. On one thread the server finishes them in exactly this order, so it
/// can send each answer as soon as it is ready and the client decrypt it while the next
/// is computed; both parties derive the order from the plan, so no index travels.
pub fn answer_order(plan: &LinearPlan) -> Vec<usize> {
    let uses = weight_uses(plan);
    let mut pending = vec![0usize; plan.output_cts];
    uses.iter()
        .flatten()
        .for_each(|&(_, output)| pending[output] += 1);
    let mut order = Vec::with_capacity(plan.output_cts);
    for &(_, output) in uses.iter().flatten() {
        pending[output] -= 1;
        if pending[output] == 0 {
            order.push(output);
        }
    }
    order
}

/// For each output element (HWC tensor or vector order), where it sits in the output
/// ciphertexts.
pub fn output_slots(plan: &LinearPlan) -> Vec<OutputSlot> {
    let mut slots = vec![OutputSlot { ct: 0, coeff: 0 }; plan.layer.output_len()];
    match (plan.layer, plan.packing) {
        (
            LinearLayer::Conv(original),
            Packing::Conv {
                mn,
                filter_groups,
                cn,
                hn,
                wn,
                row_blocks,
                col_blocks,
                ..
            },
        ) => {
            let s = original.effective();
            let o = hn * wn * (cn - 1) + wn * (s.kh - 1) + s.kw - 1;
            let (full_h, full_w) = (original.out_h(), original.out_w());
            let (step_h, step_w) = (hn - s.kh + 1, wn - s.kw + 1);
            let out_w = original.out_w();
            for bi in 0..row_blocks {
                for bj in 0..col_blocks {
                    for i in 0..step_h {
                        let row = bi * step_h + i;
                        if row >= full_h {
                            continue;
                        }
                        for j in 0..step_w {
                            let col = bj * step_w + j;
                            if col >= full_w {
                                continue;
                            }
                            let pixel = row * out_w + col;
                            for m in 0..s.m {
                                slots[pixel * s.m + m] = OutputSlot {
                                    ct: (bi * col_blocks + bj) * filter_groups + m / mn,
                                    coeff: (m % mn) * cn * hn * wn + o + i * wn + j,
                                };
                            }
                        }
                    }
                }
            }
        }
        (LinearLayer::Fc(s), Packing::Fc { d0, d1, .. }) => {
            for (r, slot) in slots.iter_mut().enumerate().take(s.n_out) {
                *slot = OutputSlot {
                    ct: r / d0,
                    coeff: (r % d0) * d1,
                };
            }
        }
        (
            LinearLayer::Bn(s),
            Packing::Bn {
                cn, chunk, chunks, ..
            },
        ) => {
            for pos in 0..s.h * s.w {
                for ch in 0..s.c {
                    let (g, c, k, p) = (ch / cn, ch % cn, pos / chunk, pos % chunk);
                    slots[pos * s.c + ch] = OutputSlot {
                        ct: g * chunks + k,
                        coeff: 2 * bn_block(c) * chunk + p,
                    };
                }
            }
        }
        (
            LinearLayer::Bn(s),
            Packing::BnSplit {
                chunk,
                chunks,
                pieces,
            },
        ) => {
            for pos in 0..s.h * s.w {
                for ch in 0..s.c {
                    let (ct, coeff) = split_slot(&s, chunk, chunks, pieces, pos, ch);
                    slots[pos * s.c + ch] = OutputSlot { ct, coeff };
                }
            }
        }
        _ => unreachable!("packing kind always matches the layer kind"),
    }
    slots
}

/// For each output ciphertext, the sorted coefficient positions that hold outputs: the only
/// c0 coefficients the server sends.
pub fn answer_positions(plan: &LinearPlan) -> Vec<Vec<usize>> {
    let mut positions = vec![Vec::new(); plan.output_cts];
    for slot in output_slots(plan) {
        positions[slot.ct].push(slot.coeff);
    }
    for p in &mut positions {
        p.sort_unstable();
        p.dedup();
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_is_signed() {
        assert_eq!(centre(5, 8), 5);
        assert_eq!(centre(255, 8), -1);
        assert_eq!(centre(128, 8), -128);
        assert_eq!(centre(127, 8), 127);
    }
}
