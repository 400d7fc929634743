//! Planned traffic of the non-linear layers, as functions of the layer geometry and the OT
//! backend, for the predictors. Derived from the implementation message by message (OT
//! batches through [`OtPlanner`], 1-of-16 records, AND-gate and Beaver openings, 4-byte
//! frame headers), so planned bytes and rounds equal the [`crate::channel::Meter`]'s; the
//! tests check it for both backends. A planner carries Ferret's pool levels from call to
//! call, so calls must be planned in the order they run. The OT setup
//! ([`crate::ot::OtPair::setup`]) is per session, not here.
//!
//! The 1-of-N and triple chunk sizes below mirror private constants of [`crate::ot`]; a
//! change there shows up as a failing equality test here.

use super::cost::{Cost, Dir};
use super::maxpool::tree_pairs;
use super::poly::PolyParams;
use super::truncate::CHECK_BITS;
use super::window::Pool2d;
use crate::channel::FRAME_HEADER_LEN;
use crate::network::Shape;
use crate::ot::OtError;

pub(crate) use super::ot_plan::iknp_column_frame;
pub use super::ot_plan::{OtDir, OtPlanner};

/// 1-of-N OT: instances per chunk (`one_of_n::CHUNK`).
const ONE_OF_N_CHUNK: u64 = 1 << 16;
/// Bit triples: groups per OT call (`triples::CHUNK`).
const TRIPLE_CHUNK: u64 = 1 << 18;
/// Millionaire digits: 4 bits, 1-of-16 OT with 2-bit messages.
const DIGIT_BITS: u32 = 4;

const H: u64 = FRAME_HEADER_LEN as u64;

use Dir::{Recv, Send};
use OtDir::{FromClient, FromServer};

/// Calls of at most `chunk` items covering `n`, in order.
fn chunks(n: u64, chunk: u64) -> impl Iterator<Item = u64> {
    (0..n.div_ceil(chunk)).map(move |i| chunk.min(n - i * chunk))
}

/// An exchange of openings where the server sends first and the client answers.
fn openings(bytes_each: u64) -> Cost {
    Cost::step(bytes_each, bytes_each, &[Send, Recv], &[Recv, Send], 0)
        .frames(bytes_each - H, bytes_each - H)
}

/// `groups` bit-triple groups: random-choice OTs in chunks, the server as OT sender first
/// and the client as OT receiver first.
fn triples_cost_bits(p: &mut OtPlanner, groups: u64) -> Cost {
    let from_server: Cost = chunks(groups, TRIPLE_CHUNK)
        .map(|n| p.random_choice(FromServer, n))
        .sum();
    let from_client: Cost = chunks(groups, TRIPLE_CHUNK)
        .map(|n| p.random_choice(FromClient, n))
        .sum();
    from_server.then(from_client)
}

/// Millionaires' comparison of `n` pairs of `bits`-bit values: bit triples, the 1-of-16
/// leaves (server is sender), then one AND-gate exchange per level.
fn millionaire_cost(p: &mut OtPlanner, n: u64, bits: u32) -> Cost {
    let q = bits.div_ceil(DIGIT_BITS) as u64;
    let mut nodes = 0;
    let mut levels = Vec::new();
    let mut k = q;
    while k > 1 {
        let pairs = k / 2;
        nodes += pairs;
        // and_gates: each party opens groups + 2·groups bits.
        levels.push(openings((3 * n * pairs).div_ceil(8) + H));
        k -= pairs;
    }
    let cost = triples_cost_bits(p, n * nodes);
    let cost = cost.then(one_of_n_cost(p, n * q, DIGIT_BITS, 2));
    levels.into_iter().fold(cost, Cost::then)
}

/// `count` 1-of-2^`log_n` OTs of `width`-bit messages, the server as sender: random OTs in
/// chunks of instances, then the masked messages.
fn one_of_n_cost(p: &mut OtPlanner, count: u64, log_n: u32, width: u32) -> Cost {
    let k = u64::from(log_n);
    let record = ((1u64 << log_n) * u64::from(width)).div_ceil(8);
    let mut cost = Cost::default();
    for len in chunks(count, ONE_OF_N_CHUNK) {
        cost = cost.then(p.random(FromServer, len * k));
    }
    let records = record * count + H * count.div_ceil(ONE_OF_N_CHUNK);
    let frame = record * count.min(ONE_OF_N_CHUNK);
    cost.then(Cost::step(records, 0, &[Send], &[Recv], 0).frames(frame, 0))
}

/// [`crate::ot::relu()`] on `n` values in Z_{2^ℓ}: DReLU (a millionaire over ℓ−1 bits) and
/// the multiplexer (an ℓ-bit correlated OT each way, server as sender first).
pub fn relu_cost(p: &mut OtPlanner, n: usize, ell: u32) -> Cost {
    if n == 0 {
        return Cost::default();
    }
    let n = n as u64;
    let compare = millionaire_cost(p, n, ell - 1);
    let from_server = p.correlated(FromServer, n, ell);
    let from_client = p.correlated(FromClient, n, ell);
    compare.then(from_server).then(from_client)
}

/// [`super::truncate()`] of `n` values by `shift` bits: the range check (a 1-of-8 OT of
/// 1-bit messages each), then one `shift`-bit correlated OT each.
pub fn truncate_cost(p: &mut OtPlanner, n: usize, shift: u32) -> Cost {
    if n == 0 {
        return Cost::default();
    }
    let check = one_of_n_cost(p, n as u64, CHECK_BITS, 1);
    check.then(p.correlated(FromServer, n as u64, shift))
}

/// [`super::max_pool`] over `input`: one ReLU batch per tree level.
pub fn maxpool_cost(
    p: &mut OtPlanner,
    input: Shape,
    pool: Pool2d,
    ell: u32,
) -> Result<Cost, OtError> {
    // Every channel of a position has the same window, so each level of the tree has
    // `input.c` times the pairs of one channel's windows.
    let sizes = pool.window_sizes(input)?;
    Ok(tree_pairs(sizes)
        .into_iter()
        .map(|pairs| relu_cost(p, pairs * input.c, ell))
        .sum())
}

/// [`super::avg_pool`] over `input`: one truncation per output element.
pub fn avgpool_cost(
    p: &mut OtPlanner,
    input: Shape,
    pool: Pool2d,
    scale: u32,
) -> Result<Cost, OtError> {
    let out = pool.output(input)?;
    Ok(truncate_cost(p, out.h * out.w * out.c, scale))
}

/// [`super::global_avg_pool`] over `input`.
pub fn global_avgpool_cost(p: &mut OtPlanner, input: Shape, scale: u32) -> Cost {
    truncate_cost(p, input.c, scale)
}

/// [`super::beaver_triples`]: `n` triples, ℓ correlated ℓ-bit OTs each way per triple.
pub fn triples_cost(p: &mut OtPlanner, n: usize, ell: u32) -> Cost {
    if n == 0 {
        return Cost::default();
    }
    let ots = n as u64 * ell as u64;
    let from_server = p.correlated(FromServer, ots, ell);
    from_server.then(p.correlated(FromClient, ots, ell))
}

/// [`super::beaver_mul`] of `n` products: each party opens `2n` ring elements.
pub fn beaver_mul_cost(n: usize, ell: u32) -> Cost {
    if n == 0 {
        return Cost::default();
    }
    openings((2 * n as u64 * ell as u64).div_ceil(8) + H)
}

/// [`super::poly_act`] on `elements` values with `channels` channels: ReLU on the kept
/// channels, then triples, `degree − 1` rounds of (multiplication, truncation) and the final
/// truncation on the others.
pub fn poly_cost(
    p: &mut OtPlanner,
    elements: usize,
    channels: usize,
    params: &PolyParams,
    scale: u32,
    ell: u32,
) -> Cost {
    if channels == 0 {
        return Cost::default();
    }
    let n_relu = (elements / channels) * params.relu_channels(channels);
    let n = elements - n_relu;
    let muls = params.degree() - 1;
    let mut cost = relu_cost(p, n_relu, ell);
    cost = cost.then(triples_cost(p, n * muls, ell));
    for _ in 0..muls {
        cost = cost
            .then(beaver_mul_cost(n, ell))
            .then(truncate_cost(p, n, scale));
    }
    cost.then(truncate_cost(p, n, scale))
}
