//! Packing plans: which partition the protocol uses for a layer, and how many ciphertexts,
//! ct×pt products, weight encodings and bytes one run of the layer costs.
//!
//! Planning does no cryptography: a [`LinearPlan`] is a pure function of the layer shape and
//! the [`HeParamsDesc`], so the predictors can use its counts as features.

use serde::{Deserialize, Serialize};

use super::layer::{BnShape, ConvShape, FcShape, LinearLayer};
use super::params::WireBits;
use super::{HeError, HeParamsDesc};

/// How a layer is cut into polynomials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Packing {
    /// Convolution blocks of `cn` channels × `hn` rows × `wn` columns (padded input); each
    /// weight polynomial carries `mn` filters, filter f's outputs offset by f·cn·hn·wn
    /// (`mn·cn·hn·wn ≤ N`).
    Conv {
        /// Filters per weight polynomial (and per answer ciphertext).
        mn: usize,
        /// Filter groups (answers per spatial block).
        filter_groups: usize,
        /// Channels per block.
        cn: usize,
        /// Rows per block (consecutive blocks overlap by `kh − 1`).
        hn: usize,
        /// Columns per block (consecutive blocks overlap by `kw − 1`).
        wn: usize,
        /// Blocks along the height.
        row_blocks: usize,
        /// Blocks along the width.
        col_blocks: usize,
        /// Channel groups, summed homomorphically.
        groups: usize,
    },
    /// Matrix blocks of `d0` rows × `d1` columns.
    Fc {
        /// Rows per block.
        d0: usize,
        /// Columns per block (input chunk length).
        d1: usize,
        /// Row blocks (output ciphertexts).
        row_blocks: usize,
        /// Column chunks (input ciphertexts), summed homomorphically.
        col_blocks: usize,
    },
    /// `cn` channels of `chunk` positions per ciphertext, channel c at block
    /// [`bn_block`]`(c)` (offset `bn_block(c)·chunk`); the weight Σ_c γ_c X^{bn_block(c)·chunk}
    /// puts channel c's product with its own γ at block `2·bn_block(c)`, which no other
    /// product reaches.
    Bn {
        /// Channels per ciphertext.
        cn: usize,
        /// Spatial positions per channel slice.
        chunk: usize,
        /// Channel groups.
        groups: usize,
        /// Spatial chunks per channel.
        chunks: usize,
    },
    /// Batch norm in units of `chunk` positions of one channel (`chunks` per channel, unit
    /// u = channel·chunks + chunk index), dealt in sets of `pieces + 1` units: each of a
    /// set's `pieces` ciphertexts holds one whole unit at coefficients [0, chunk) and one
    /// piece (⌈chunk / pieces⌉ positions) of the set's last unit at [chunk, chunk + piece);
    /// its weight is γ_a + γ_b·X^chunk, so the own products land at [0, chunk) and
    /// [2·chunk, 2·chunk + piece) and both cross products in [chunk, 2·chunk)
    /// (`2·chunk + piece ≤ N`). Units left over after the last whole set go one per
    /// ciphertext. Two slices per ciphertext can fill at most 2/3 of it (three equal
    /// thirds); this layout gets close for units between N/3 and N/2, where the
    /// Salem–Spencer layout ([`Packing::Bn`]) fits one: a 56×56 channel at N = 8192 takes
    /// 2/3 of a ciphertext instead of 1.
    BnSplit {
        /// Spatial positions per unit.
        chunk: usize,
        /// Units per channel.
        chunks: usize,
        /// Ciphertexts per set (the set's last unit is cut into this many pieces).
        pieces: usize,
    },
}

impl Packing {
    /// For [`Packing::BnSplit`] over `units` units: whole sets, and ciphertexts.
    pub(crate) fn split_cts(units: usize, pieces: usize) -> (usize, usize) {
        let sets = units / (pieces + 1);
        (sets, sets * pieces + units % (pieces + 1))
    }
}

/// The protocol counts of one linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearPlan {
    /// The layer.
    pub layer: LinearLayer,
    /// The chosen partition.
    pub packing: Packing,
    /// Polynomial degree N the plan was made for.
    pub degree: usize,
    /// Ciphertexts the client sends.
    pub input_cts: usize,
    /// Ciphertexts the server returns.
    pub output_cts: usize,
    /// Ciphertext × plaintext-polynomial products the server computes.
    pub ct_pt_products: usize,
    /// Weight polynomials the server encodes (one NTT each).
    pub weight_polys: usize,
    /// Bytes client → server (ciphertexts only; the public key is per session).
    pub bytes_client_to_server: u64,
    /// Bytes server → client.
    pub bytes_server_to_client: u64,
    /// The layer's weight bound, flooding and the low bits its ciphertexts drop on the wire.
    pub wire: WireBits,
}

impl LinearPlan {
    /// Plan `layer` for parameters `params` and count what one run costs. CONV and FC
    /// partitions minimise ct×pt products plus weight encodings and ciphertexts weighted by
    /// their measured cost in products (an output ciphertext costs as much as ~35 products,
    /// so fewest products alone would pick small blocks that multiply the answers); BN
    /// minimises products (one per ciphertext).
    pub fn new(layer: LinearLayer, params: &HeParamsDesc) -> Result<Self, HeError> {
        let n = params.degree;
        let packing = match layer {
            LinearLayer::Conv(s) => {
                s.validate()?;
                conv_packing(&s.effective(), n, params.weight_l1_bits)
            }
            LinearLayer::Fc(s) => {
                if s.n_in == 0 || s.n_out == 0 {
                    return Err(HeError::Shape(format!("fully connected {s:?} is empty")));
                }
                fc_packing(&s, n, params.weight_l1_bits)
            }
            LinearLayer::Bn(s) => {
                if s.h * s.w * s.c == 0 {
                    return Err(HeError::Shape(format!("batch norm {s:?} is empty")));
                }
                bn_packing(&s, n)
            }
        };
        let counts = Counts::of(&layer, &packing);
        let values = layer.output_len();
        let wire = params.wire_bits(
            weights_per_answer_of(&layer, &packing),
            counts.input_cts,
            counts.output_cts,
            values,
        );
        Ok(Self {
            layer,
            packing,
            degree: n,
            input_cts: counts.input_cts,
            output_cts: counts.output_cts,
            ct_pt_products: counts.products,
            weight_polys: counts.weight_polys,
            bytes_client_to_server: counts.input_cts as u64 * params.upload_bytes(wire.upload_drop),
            bytes_server_to_client: counts.output_cts as u64
                * params.answer_bytes(0, wire.c0_drop, wire.c1_drop)
                + params.answer_bytes(values, wire.c0_drop, wire.c1_drop)
                - params.answer_bytes(0, wire.c0_drop, wire.c1_drop),
            wire,
        })
    }

    /// The most weights one answer ciphertext sums, from the packing alone.
    pub fn weights_per_answer(&self) -> u64 {
        weights_per_answer_of(&self.layer, &self.packing)
    }

    /// Bytes of one of this layer's uploads.
    pub fn upload_bytes(&self, params: &HeParamsDesc) -> u64 {
        params.upload_bytes(self.wire.upload_drop)
    }

    /// Bytes of one of this layer's answers carrying `values` output values.
    pub fn answer_bytes(&self, params: &HeParamsDesc, values: usize) -> u64 {
        params.answer_bytes(values, self.wire.c0_drop, self.wire.c1_drop)
    }
}

/// The most weights one answer ciphertext of `packing` sums (every coefficient's noise
/// sums the L1 norms of all the weight polynomials the answer multiplied): a bound from the
/// shape alone, which both parties know.
fn weights_per_answer_of(layer: &LinearLayer, packing: &Packing) -> u64 {
    match (*layer, *packing) {
        (LinearLayer::Conv(s), Packing::Conv { mn, cn, groups, .. }) => {
            let e = s.effective();
            ((groups * cn).min(e.c) * mn * e.kh * e.kw) as u64
        }
        (
            LinearLayer::Fc(s),
            Packing::Fc {
                d0, d1, col_blocks, ..
            },
        ) => ((col_blocks * d1).min(s.n_in) * d0) as u64,
        (_, Packing::Bn { cn, .. }) => cn as u64,
        (_, Packing::BnSplit { .. }) => 2,
        _ => unreachable!("packing kind always matches the layer kind"),
    }
}

/// What one run of a packing costs, in protocol units.
#[derive(Debug, Clone, Copy)]
struct Counts {
    input_cts: usize,
    output_cts: usize,
    products: usize,
    weight_polys: usize,
}

impl Counts {
    fn of(layer: &LinearLayer, packing: &Packing) -> Self {
        let (input_cts, output_cts, products, weight_polys) = match (*layer, *packing) {
            (
                LinearLayer::Conv(_),
                Packing::Conv {
                    row_blocks,
                    col_blocks,
                    groups,
                    filter_groups,
                    ..
                },
            ) => {
                let spatial = row_blocks * col_blocks;
                (
                    spatial * groups,
                    spatial * filter_groups,
                    spatial * groups * filter_groups,
                    groups * filter_groups,
                )
            }
            (
                LinearLayer::Fc(_),
                Packing::Fc {
                    row_blocks,
                    col_blocks,
                    ..
                },
            ) => {
                let products = row_blocks * col_blocks;
                (col_blocks, row_blocks, products, products)
            }
            (LinearLayer::Bn(_), Packing::Bn { groups, chunks, .. }) => {
                (groups * chunks, groups * chunks, groups * chunks, groups)
            }
            (LinearLayer::Bn(s), Packing::BnSplit { chunks, pieces, .. }) => {
                let (_, cts) = Packing::split_cts(s.c * chunks, pieces);
                (cts, cts, cts, cts)
            }
            _ => unreachable!("packing kind always matches the layer kind"),
        };
        Self {
            input_cts,
            output_cts,
            products,
            weight_polys,
        }
    }

    /// The partition objective, in quarters of one ct×pt product (measured at N = 8192, one
    /// core: product 0.2 ms, weight encoding 0.5 ms, input ciphertext ≈ 5 ms over both
    /// parties, output ciphertext ≈ 7 ms), plus moving each ciphertext on a slow link at
    /// ≈ 2 ms per 64 KB: ≈ 2 ms for an answer (c1 at the last level, 64 KB, plus its
    /// values) and ≈ 4 ms for an input (c0 at both top-level moduli, 128 KB). Ties go to
    /// fewer products.
    ///
    /// Engine 0.4.0 charged the answer's transfer but not the input's, so it packed few
    /// channels and many filters per ciphertext and sent each input block once per filter
    /// group's worth of room: ResNet-50 at 224×224×3 uploaded 1,338 MiB for its
    /// convolutions; charging both (engine 0.5.0) uploads 804 MiB for 3.6 % more compute by
    /// this objective (`linear_bytes_of_the_reference_networks` pins the totals).
    fn cost(&self) -> (u64, usize) {
        let quarter_products = 4 * self.products
            + 10 * self.weight_polys
            + (100 + 80) * self.input_cts
            + (140 + 40) * self.output_cts;
        (quarter_products as u64, self.products)
    }
}

/// Assumed bound on centred weights (|w| < 2^16, i.e. |w| < 16 at scale 12) when the plan
/// limits how many filters share a weight polynomial: each extra filter adds its L1 norm to
/// every coefficient's noise.
const PLAN_WEIGHT_BITS: u32 = 16;

fn conv_packing(s: &ConvShape, n: usize, weight_l1_bits: u32) -> Packing {
    let (hp, wp) = (s.padded_h(), s.padded_w());
    let (rows, cols) = (hp - s.kh + 1, wp - s.kw + 1);
    let fan_in = (s.c * s.kh * s.kw) as u64;
    // Every answer coefficient's noise sums the weights of all mn filters.
    let mn_limit = (weights_per_answer(weight_l1_bits) / fan_in).max(1) as usize;
    // The search visits blocks in the order (hn, wn, cn) ascending and keeps the first block
    // of least cost, but skips every block whose cost an earlier block already reaches, so
    // the choice is the exhaustive search's (a test compares them) at a fraction of the work
    // (`snni predict` plans every layer of a 224 network on each call):
    // - of the heights with the same number of row blocks, the smallest leaves the most
    //   room (`cap`) for channels and filters, and every count falls or stays as `mn`
    //   grows, so the larger heights cannot do better (the same for widths);
    // - of the channel counts with the same channel groups and the same filter groups,
    //   every count is the same, so only the first is tried.
    let mut best = Cheapest::default();
    for hn in fewest_blocks_first(rows).map(|d| d + s.kh - 1) {
        for wn in fewest_blocks_first(cols).map(|d| d + s.kw - 1) {
            let cap = n / (hn * wn);
            if cap == 0 {
                break;
            }
            let last = cap.min(s.c);
            // No block of this size costs less than with the fewest channel groups and the
            // fewest filter groups it allows (every count grows with both); when even that
            // is no better than the best so far, none of its channel counts is tried.
            let least = Counts::of(
                &LinearLayer::Conv(*s),
                &Packing::Conv {
                    mn: 0,
                    filter_groups: s.m.div_ceil(cap.min(s.m).min(mn_limit)),
                    cn: 0,
                    hn,
                    wn,
                    row_blocks: rows.div_ceil(hn - s.kh + 1),
                    col_blocks: cols.div_ceil(wn - s.kw + 1),
                    groups: s.c.div_ceil(last),
                },
            )
            .cost();
            if !best.improved_by(&least) {
                continue;
            }
            let mut cn = 1;
            while cn <= last {
                let packing = conv_candidate(s, cap, mn_limit, (hn, wn, cn));
                let filter_groups = match packing {
                    Packing::Conv { filter_groups, .. } => filter_groups,
                    _ => unreachable!("conv_candidate returns a conv packing"),
                };
                best.offer(Counts::of(&LinearLayer::Conv(*s), &packing).cost(), packing);
                // The next channel count with other channel groups or filter groups:
                // `filter_groups` holds while `cap / cn` stays at least the fewest filters
                // per polynomial that give it.
                let fewest_filters = s.m.div_ceil(filter_groups);
                let groups_change = next_quotient_change(s.c, cap, cn);
                cn = groups_change.min(cap / fewest_filters + 1);
            }
        }
    }
    best.packing()
        .expect("the kernel fits the padded input, so some block does")
}

/// The first packing of least cost among those offered, in the order offered: the rule
/// every packing search follows (ties keep the earlier packing).
struct Cheapest<K> {
    best: Option<(K, Packing)>,
}

impl<K> Default for Cheapest<K> {
    fn default() -> Self {
        Self { best: None }
    }
}

impl<K: PartialOrd> Cheapest<K> {
    /// Whether a packing of cost `key` would replace the one kept so far.
    fn improved_by(&self, key: &K) -> bool {
        self.best.as_ref().is_none_or(|(k, _)| key < k)
    }

    fn offer(&mut self, key: K, packing: Packing) {
        if self.improved_by(&key) {
            self.best = Some((key, packing));
        }
    }

    fn packing(self) -> Option<Packing> {
        self.best.map(|(_, packing)| packing)
    }
}

/// The conv block of `hn × wn` positions and `cn` channels holding as many filters per
/// polynomial as fit (`cap = n / (hn · wn)` slots per channel) and the noise bound
/// (`mn_limit`) allows.
fn conv_candidate(
    s: &ConvShape,
    cap: usize,
    mn_limit: usize,
    (hn, wn, cn): (usize, usize, usize),
) -> Packing {
    let mn = (cap / cn).min(s.m).min(mn_limit);
    Packing::Conv {
        mn,
        filter_groups: s.m.div_ceil(mn),
        cn,
        hn,
        wn,
        row_blocks: (s.padded_h() - s.kh + 1).div_ceil(hn - s.kh + 1),
        col_blocks: (s.padded_w() - s.kw + 1).div_ceil(wn - s.kw + 1),
        groups: s.c.div_ceil(cn),
    }
}

/// The block lengths `d` in `1..=total` that are the smallest of their `ceil(total / d)`,
/// ascending: the first length of every block count.
fn fewest_blocks_first(total: usize) -> impl Iterator<Item = usize> {
    let mut next = Some(1);
    std::iter::from_fn(move || {
        let d = next?;
        let blocks = total.div_ceil(d);
        // ceil(total / d') = blocks for d' up to (total − 1) / (blocks − 1).
        next = (blocks > 1).then(|| (total - 1) / (blocks - 1) + 1);
        Some(d)
    })
}

/// The smallest `k > cn` at which `ceil(c / k)` or `floor(cap / k)` differs from its value
/// at `cn` (for `1 ≤ cn ≤ min(c, cap)`): the next candidate of a search whose costs depend
/// on those two quotients only.
fn next_quotient_change(c: usize, cap: usize, cn: usize) -> usize {
    let groups = c.div_ceil(cn);
    let by_groups = if groups > 1 {
        (c - 1) / (groups - 1) + 1
    } else {
        usize::MAX
    };
    let by_cap = cap / (cap / cn) + 1;
    by_groups.min(by_cap)
}

/// Most weights, bounded by 2^[`PLAN_WEIGHT_BITS`], that may feed one answer ciphertext.
fn weights_per_answer(weight_l1_bits: u32) -> u64 {
    1u64 << weight_l1_bits.saturating_sub(PLAN_WEIGHT_BITS).min(63)
}

fn fc_packing(s: &FcShape, n: usize, weight_l1_bits: u32) -> Packing {
    // Every answer coefficient's noise sums the whole d0 × n_in block of weights.
    let d0_limit = (weights_per_answer(weight_l1_bits) / s.n_in as u64).max(1) as usize;
    let mut best = Cheapest::default();
    // Of the chunk lengths with the same `ceil(n_in / d1)` and `n / d1`, every count is the
    // same: only the first is tried (the exhaustive search's choice; a test compares them).
    let mut d1 = 1;
    while d1 <= s.n_in.min(n) {
        let packing = fc_candidate(s, n, d0_limit, d1);
        best.offer(Counts::of(&LinearLayer::Fc(*s), &packing).cost(), packing);
        d1 = next_quotient_change(s.n_in, n, d1);
    }
    best.packing().expect("n_in ≥ 1")
}

/// The FC block of `d1` inputs and as many outputs as fit and the noise bound allows.
fn fc_candidate(s: &FcShape, n: usize, d0_limit: usize, d1: usize) -> Packing {
    let d0 = (n / d1).min(s.n_out).min(d0_limit);
    Packing::Fc {
        d0,
        d1,
        row_blocks: s.n_out.div_ceil(d0),
        col_blocks: s.n_in.div_ceil(d1),
    }
}

fn bn_packing(s: &BnShape, n: usize) -> Packing {
    let positions = s.h * s.w;
    let mut best = Cheapest::default();
    // Of the chunk lengths with the same `ceil(positions / chunk)` and `n / chunk`, every
    // count is the same: only the first is tried (a test compares with every length).
    let mut chunk = 1;
    while chunk <= positions.min(n) {
        let packing = bn_candidate(s, n, chunk);
        best.offer(Counts::of(&LinearLayer::Bn(*s), &packing).products, packing);
        chunk = next_quotient_change(positions, n, chunk);
    }
    // Split layouts, offered after: chosen only where they need fewer ciphertexts.
    for packing in bn_split_candidates(s, n) {
        best.offer(Counts::of(&LinearLayer::Bn(*s), &packing).products, packing);
    }
    best.packing().expect("h·w ≥ 1")
}

/// Most units per channel a [`Packing::BnSplit`] candidate is tried with: its units must
/// exceed N/3 to beat the Salem–Spencer layout, so channels of more than a few units are
/// better served by that one.
const BN_SPLIT_MAX_CHUNKS: usize = 8;

/// For each unit count per channel whose unit is below N/2, the split layout with the
/// fewest pieces that fits (`2·chunk + ⌈chunk / pieces⌉ ≤ N`).
fn bn_split_candidates(s: &BnShape, n: usize) -> impl Iterator<Item = Packing> + '_ {
    let positions = s.h * s.w;
    (1..=BN_SPLIT_MAX_CHUNKS.min(positions)).filter_map(move |chunks| {
        let chunk = positions.div_ceil(chunks);
        let room = n.checked_sub(2 * chunk).filter(|&room| room > 0)?;
        Some(Packing::BnSplit {
            chunk,
            chunks,
            pieces: chunk.div_ceil(room),
        })
    })
}

/// The block (in units of `chunk` coefficients) of channel `c` in a batch-norm ciphertext and
/// of its γ in the weight polynomial: `c`'s binary digits read in base 3 (0, 1, 3, 4, 9, 10,
/// 12, 13, …).
///
/// Every product of input channel a with weight b lands at block `bn_block(a) +
/// bn_block(b)`. Written in base 3, such a sum has no carries (each digit is 0, 1 or 2), and
/// `2·bn_block(c)` has the digits 0 and 2 only; so `bn_block(a) + bn_block(b) = 2·bn_block(c)`
/// digit by digit forces a = b = c: these numbers hold no three-term arithmetic progression
/// (the Salem–Spencer construction), and channel c's own product is alone in its block
/// whatever the cross products add up to elsewhere. The cross products are never sent (an
/// answer carries c0 at the wanted coefficients only).
///
/// Engine 0.4.0 spaced the weights `cn` blocks apart, which keeps every product apart and
/// needs `cn²` blocks; these need about `2·cn^1.58` (`cn` = 18 instead of 12 channels in the
/// 167 blocks of a 7×7 channel at N = 8192, 256 instead of 90 at one position per block).
pub(crate) fn bn_block(c: usize) -> usize {
    let (mut c, mut block, mut power) = (c, 0, 1);
    while c > 0 {
        block += (c & 1) * power;
        c >>= 1;
        power *= 3;
    }
    block
}

/// The most channels whose own products (block `2·bn_block(c)`, the largest of all the
/// products' blocks) fit in `blocks` blocks: at least 1.
fn bn_channels(blocks: usize) -> usize {
    let mut cn = 1;
    while 2 * bn_block(cn) < blocks {
        cn += 1;
    }
    cn
}

/// The batch-norm block of `chunk` positions and the most channels `cn` that
/// [`bn_channels`] fits in its `n / chunk` blocks.
fn bn_candidate(s: &BnShape, n: usize, chunk: usize) -> Packing {
    let cn = bn_channels(n / chunk).clamp(1, s.c);
    Packing::Bn {
        cn,
        chunk,
        groups: s.c.div_ceil(cn),
        chunks: (s.h * s.w).div_ceil(chunk),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::he::layer::Padding;

    fn desc() -> HeParamsDesc {
        HeParamsDesc::for_bitlen(41).unwrap()
    }

    /// The exhaustive search [`conv_packing`] must agree with: every block, in order.
    fn conv_packing_exhaustive(s: &ConvShape, n: usize, weight_l1_bits: u32) -> Packing {
        let fan_in = (s.c * s.kh * s.kw) as u64;
        let mn_limit = (weights_per_answer(weight_l1_bits) / fan_in).max(1) as usize;
        let mut best = Cheapest::default();
        for hn in s.kh..=s.padded_h() {
            for wn in s.kw..=s.padded_w() {
                let cap = n / (hn * wn);
                if cap == 0 {
                    break;
                }
                for cn in 1..=cap.min(s.c) {
                    let packing = conv_candidate(s, cap, mn_limit, (hn, wn, cn));
                    best.offer(Counts::of(&LinearLayer::Conv(*s), &packing).cost(), packing);
                }
            }
        }
        best.packing().expect("some block fits")
    }

    #[test]
    fn the_pruned_conv_search_chooses_what_the_exhaustive_one_does() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut shapes = vec![
            // ResNet-50's and SqueezeNet's shapes at 224 and some edge cases.
            (224, 224, 3, 7, 64, 2, 3),
            (56, 56, 64, 3, 64, 1, 1),
            (56, 56, 256, 1, 64, 1, 0),
            (28, 28, 512, 1, 128, 1, 0),
            (7, 7, 2048, 1, 512, 1, 0),
            (113, 113, 3, 3, 64, 2, 0),
            (1, 1, 4096, 1, 1000, 1, 0),
            (5, 5, 1, 5, 1, 1, 0),
        ];
        for _ in 0..300 {
            let k = rng.random_range(1..=7usize);
            let h = rng.random_range(k..=80usize);
            shapes.push((
                h,
                rng.random_range(k..=80usize),
                rng.random_range(1..=600usize),
                k,
                rng.random_range(1..=600usize),
                rng.random_range(1..=3usize),
                rng.random_range(0..=k / 2),
            ));
        }
        for (h, w, c, k, m, stride, pad) in shapes {
            let conv = ConvShape {
                h,
                w,
                c,
                kh: k,
                kw: k,
                m,
                stride,
                pad: Padding::same(pad),
            };
            let e = conv.effective();
            for (n, bits) in [(4096, 30), (8192, 40), (8192, 20), (2048, 50)] {
                assert_eq!(
                    conv_packing(&e, n, bits),
                    conv_packing_exhaustive(&e, n, bits),
                    "{conv:?} at N = {n}, {bits} bits"
                );
            }
        }
    }

    /// Every chunk length, in order: what [`fc_packing`] must choose.
    fn fc_packing_exhaustive(s: &FcShape, n: usize, weight_l1_bits: u32) -> Packing {
        let d0_limit = (weights_per_answer(weight_l1_bits) / s.n_in as u64).max(1) as usize;
        let mut best = Cheapest::default();
        for d1 in 1..=s.n_in.min(n) {
            let packing = fc_candidate(s, n, d0_limit, d1);
            best.offer(Counts::of(&LinearLayer::Fc(*s), &packing).cost(), packing);
        }
        best.packing().expect("n_in ≥ 1")
    }

    /// Every chunk length, in order: what [`bn_packing`] must choose.
    fn bn_packing_exhaustive(s: &BnShape, n: usize) -> Packing {
        let mut best = Cheapest::default();
        for chunk in 1..=(s.h * s.w).min(n) {
            let packing = bn_candidate(s, n, chunk);
            best.offer(Counts::of(&LinearLayer::Bn(*s), &packing).products, packing);
        }
        for packing in bn_split_candidates(s, n) {
            best.offer(Counts::of(&LinearLayer::Bn(*s), &packing).products, packing);
        }
        best.packing().expect("h·w ≥ 1")
    }

    #[test]
    fn the_pruned_fc_and_bn_searches_choose_what_the_exhaustive_ones_do() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..400 {
            let fc = FcShape {
                n_in: rng.random_range(1..=20_000usize),
                n_out: rng.random_range(1..=5_000usize),
            };
            let bn = BnShape {
                h: rng.random_range(1..=120usize),
                w: rng.random_range(1..=120usize),
                c: rng.random_range(1..=2_048usize),
            };
            for (n, bits) in [(4096, 30), (8192, 40), (8192, 20), (2048, 50)] {
                assert_eq!(
                    fc_packing(&fc, n, bits),
                    fc_packing_exhaustive(&fc, n, bits),
                    "{fc:?} at N = {n}, {bits} bits"
                );
                assert_eq!(
                    bn_packing(&bn, n),
                    bn_packing_exhaustive(&bn, n),
                    "{bn:?} at N = {n}"
                );
            }
        }
    }

    #[test]
    fn fewest_blocks_first_lists_the_first_length_of_every_block_count() {
        for total in 1..200usize {
            let expected: Vec<usize> = (1..=total)
                .filter(|&d| d == 1 || total.div_ceil(d) != total.div_ceil(d - 1))
                .collect();
            assert_eq!(
                fewest_blocks_first(total).collect::<Vec<_>>(),
                expected,
                "{total}"
            );
        }
    }

    #[test]
    fn resnet_conv_plan_counts() {
        let conv = ConvShape {
            h: 56,
            w: 56,
            c: 64,
            kh: 3,
            kw: 3,
            m: 64,
            stride: 1,
            pad: Padding::same(1),
        };
        let plan = LinearPlan::new(LinearLayer::Conv(conv), &desc()).unwrap();
        let Packing::Conv { mn, cn, hn, wn, .. } = plan.packing else {
            panic!("conv packing expected");
        };
        assert!(mn * cn * hn * wn <= 8192);
        assert!(plan.ct_pt_products <= 2048, "{plan:?}");
        assert!(plan.output_cts <= 64, "{plan:?}");
    }

    /// Client→server and server→client bytes of every convolution (`bn`: every batch norm)
    /// of a reference network at 224×224×3, in MiB.
    fn linear_mib(name: &str, bn: bool) -> (f64, f64) {
        let net = crate::zoo::by_name(
            name,
            crate::network::Shape {
                h: 224,
                w: 224,
                c: 3,
            },
        )
        .expect("a reference network");
        let shapes = net.validate().unwrap();
        let params = HeParamsDesc::for_bitlen(41).unwrap();
        let (mut up, mut down) = (0, 0);
        for (layer, info) in net.layers.iter().zip(&shapes) {
            let Some(linear) = crate::runtime::linear_layer(&layer.op, info) else {
                continue;
            };
            if matches!(linear, LinearLayer::Bn(_)) == bn && !matches!(linear, LinearLayer::Fc(_)) {
                let plan = LinearPlan::new(linear, &params).unwrap();
                up += plan.bytes_client_to_server;
                down += plan.bytes_server_to_client;
            }
        }
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        (mib(up), mib(down))
    }

    #[test]
    fn batch_norm_blocks_hold_no_three_term_progression() {
        let blocks: Vec<usize> = (0..200).map(bn_block).collect();
        assert_eq!(&blocks[..8], &[0, 1, 3, 4, 9, 10, 12, 13]);
        // Channel c's own product (block 2·s_c) is reached by no other pair of channels.
        for c in 0..blocks.len() {
            for a in 0..blocks.len() {
                for b in 0..blocks.len() {
                    if (a, b) != (c, c) {
                        assert_ne!(blocks[a] + blocks[b], 2 * blocks[c], "{a} {b} {c}");
                    }
                }
            }
        }
        // The most channels whose own products fit: engine 0.4.0 fitted ⌊√blocks⌋.
        for (blocks, channels) in [
            (1, 1),
            (2, 1),
            (3, 2),
            (7, 3),
            (9, 4),
            (167, 18),
            (8192, 256),
        ] {
            assert_eq!(bn_channels(blocks), channels, "{blocks} blocks");
            assert!(2 * bn_block(channels - 1) < blocks);
        }
    }

    #[test]
    fn linear_bytes_of_the_reference_networks() {
        // Engine 0.4.0, which charged an answer's transfer but not an input's and spaced
        // batch norm's weights `cn` blocks apart: ResNet-50's convolutions 1,337.5 + 442.5
        // MiB and batch norms 695.1 + 432.5 MiB; SqueezeNet 1.1's convolutions 141.0 + 66.6
        // MiB. Engine 0.6.0's batch norms (Salem–Spencer blocks only): 545.8 + 357.6 MiB.
        let near = |(up, down): (f64, f64), want: (f64, f64)| {
            assert!(
                (up - want.0).abs() < 0.1 && (down - want.1).abs() < 0.1,
                "{up} + {down} MiB, expected {want:?}"
            );
        };
        // Engine 0.8.0 (before the wire rounding): 804.3 + 475.4, 484.2 + 326.9 and
        // 97.6 + 66.0 MiB.
        near(linear_mib("resnet50", false), (756.4, 428.8));
        near(linear_mib("resnet50", true), (417.0, 290.0));
        near(linear_mib("squeezenet", false), (90.0, 58.0));
    }

    #[test]
    fn fc_fits_one_block_when_small() {
        let plan = LinearPlan::new(
            LinearLayer::Fc(FcShape {
                n_in: 100,
                n_out: 10,
            }),
            &desc(),
        )
        .unwrap();
        assert_eq!(
            (plan.input_cts, plan.output_cts, plan.ct_pt_products),
            (1, 1, 1)
        );
        let big = LinearPlan::new(
            LinearLayer::Fc(FcShape {
                n_in: 2048,
                n_out: 1000,
            }),
            &desc(),
        )
        .unwrap();
        assert!(big.ct_pt_products <= 256, "{big:?}");
        assert!(big.input_cts + big.output_cts <= 64, "{big:?}");
    }

    #[test]
    fn strided_conv_is_planned_as_its_polyphase_form() {
        let conv = ConvShape {
            h: 224,
            w: 224,
            c: 3,
            kh: 7,
            kw: 7,
            m: 64,
            stride: 2,
            pad: Padding::same(3),
        };
        let e = conv.effective();
        assert_eq!(
            (e.h, e.w, e.c, e.kh, e.kw, e.stride),
            (115, 115, 12, 4, 4, 1)
        );
        assert_eq!((conv.out_h(), conv.out_w()), (112, 112));
        assert!(e.out_h() >= conv.out_h() && e.out_w() >= conv.out_w());
        let plan = LinearPlan::new(LinearLayer::Conv(conv), &desc()).unwrap();
        // No more answers than the 112·112·64 outputs need, within the block overlap.
        assert!(
            plan.output_cts <= 2 * (112 * 112 * 64usize).div_ceil(8192),
            "{plan:?}"
        );
    }

    #[test]
    fn plans_respect_the_weight_noise_bound() {
        let desc = desc();
        let room = 1u64 << (desc.weight_l1_bits - PLAN_WEIGHT_BITS);
        for c in [3, 16, 64, 256, 1024] {
            for k in [1, 3, 5, 7, 11] {
                for hw in [7, 14, 56] {
                    let conv = ConvShape {
                        h: hw,
                        w: hw,
                        c,
                        kh: k,
                        kw: k,
                        m: 256,
                        stride: 1,
                        pad: Padding::same(k / 2),
                    };
                    let plan = LinearPlan::new(LinearLayer::Conv(conv), &desc).unwrap();
                    let Packing::Conv { mn, .. } = plan.packing else {
                        panic!("conv packing expected");
                    };
                    assert!(mn == 1 || (mn * c * k * k) as u64 <= room, "{plan:?}");
                }
            }
        }
        for n_in in [10, 2048, 50176, 200_000] {
            let fc = FcShape { n_in, n_out: 1000 };
            let plan = LinearPlan::new(LinearLayer::Fc(fc), &desc).unwrap();
            let Packing::Fc { d0, .. } = plan.packing else {
                panic!("fc packing expected");
            };
            assert!(d0 == 1 || (d0 * n_in) as u64 <= room, "{plan:?}");
        }
    }

    #[test]
    fn invalid_shapes_are_rejected() {
        let conv = ConvShape {
            h: 2,
            w: 2,
            c: 1,
            kh: 5,
            kw: 5,
            m: 1,
            stride: 1,
            pad: Padding::default(),
        };
        assert!(LinearPlan::new(LinearLayer::Conv(conv), &desc()).is_err());
    }
}
