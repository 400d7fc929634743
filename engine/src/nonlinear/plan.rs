//! Planned traffic of the non-linear layers, as pure functions of the layer geometry, for
//! the predictors. Derived from the implementation message by message (IKNP column chunks,
//! correlated-OT corrections, 1-of-16 records, AND-gate and Beaver openings, 4-byte frame
//! headers), so planned bytes equal the [`crate::channel::Meter`] bytes of a run; the tests
//! check it. The base-OT setup ([`crate::ot::IknpPair::setup`]) is per session, not here.
//!
//! The IKNP and 1-of-N chunk sizes below mirror private constants of [`crate::ot`]; a change
//! there shows up as a failing equality test here.

use super::cost::{Cost, Dir};
use super::maxpool::tree_pairs;
use super::poly::PolyParams;
use super::window::Pool2d;
use crate::channel::FRAME_HEADER_LEN;
use crate::network::Shape;
use crate::ot::OtError;

/// IKNP: OT blocks of 128 per column chunk (`iknp::CHUNK_BLOCKS`).
const IKNP_CHUNK_BLOCKS: u64 = 512;
/// IKNP: OTs per correction message (`iknp::CHUNK_OTS`).
const IKNP_CHUNK_OTS: u64 = IKNP_CHUNK_BLOCKS * 128;
/// IKNP security parameter: columns per extension.
const KAPPA: u64 = 128;
/// 1-of-N OT: instances per chunk (`one_of_n::CHUNK`).
const ONE_OF_N_CHUNK: u64 = 1 << 16;
/// Bit triples: groups per OT call (`triples::CHUNK`).
const TRIPLE_CHUNK: u64 = 1 << 18;
/// Millionaire digits: 4 bits, 1-of-16 OT with 2-bit messages (4 bytes a record).
const DIGIT_BITS: u32 = 4;
const DIGIT_RECORD: u64 = 4;

const H: u64 = FRAME_HEADER_LEN as u64;

/// Bytes the OT receiver sends to extend `n` OTs (its IKNP columns).
fn extension_bytes(n: u64) -> u64 {
    let blocks = n.div_ceil(128);
    KAPPA * 16 * blocks + H * blocks.div_ceil(IKNP_CHUNK_BLOCKS)
}

/// Bytes of one correlated-OT batch: (receiver's columns, sender's corrections).
fn correlated_bytes(n: u64, bits: u32) -> (u64, u64) {
    let full = n / IKNP_CHUNK_OTS;
    let rest = n % IKNP_CHUNK_OTS;
    let packed = |k: u64| (k * bits as u64).div_ceil(8) + H;
    let sender = full * packed(IKNP_CHUNK_OTS) + if rest > 0 { packed(rest) } else { 0 };
    (extension_bytes(n), sender)
}

/// Bytes the receiver sends for random OTs issued in calls of at most `chunk` each.
fn chunked_extension(n: u64, chunk: u64) -> u64 {
    let full = n / chunk;
    let rest = n % chunk;
    full * extension_bytes(chunk) + if rest > 0 { extension_bytes(rest) } else { 0 }
}

use Dir::{Recv, Send};

/// A correlated-OT batch of `n` `bits`-bit OTs with the server as OT sender.
fn correlated_from_server(n: u64, bits: u32) -> Cost {
    let (cols, corr) = correlated_bytes(n, bits);
    Cost::step(corr, cols, &[Recv, Send], &[Send, Recv], n)
}

/// A correlated-OT batch with the client as OT sender.
fn correlated_from_client(n: u64, bits: u32) -> Cost {
    let (cols, corr) = correlated_bytes(n, bits);
    Cost::step(cols, corr, &[Send, Recv], &[Recv, Send], n)
}

/// An exchange of openings where the server sends first and the client answers.
fn openings(bytes_each: u64) -> Cost {
    Cost::step(bytes_each, bytes_each, &[Send, Recv], &[Recv, Send], 0)
}

/// Millionaires' comparison of `n` pairs of `bits`-bit values: bit triples (server sends
/// second), the 1-of-16 leaves (server is sender), then one AND-gate exchange per level.
fn millionaire_cost(n: u64, bits: u32) -> Cost {
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
    let mut cost = Cost::default();
    if nodes > 0 {
        let t = chunked_extension(n * nodes, TRIPLE_CHUNK);
        cost = Cost::step(t, t, &[Recv, Send], &[Send, Recv], 2 * n * nodes);
    }
    let leaves = n * q;
    let records = DIGIT_RECORD * leaves + H * leaves.div_ceil(ONE_OF_N_CHUNK);
    let cols = one_of_16_extension(leaves);
    let leaf_ots = DIGIT_BITS as u64 * leaves;
    cost = cost.then(Cost::step(
        records,
        cols,
        &[Recv, Send],
        &[Send, Recv],
        leaf_ots,
    ));
    levels.into_iter().fold(cost, Cost::then)
}

/// Client columns for `count` 1-of-16 instances (4 random OTs each, chunked by instance).
fn one_of_16_extension(count: u64) -> u64 {
    let full = count / ONE_OF_N_CHUNK;
    let rest = count % ONE_OF_N_CHUNK;
    let k = DIGIT_BITS as u64;
    full * extension_bytes(ONE_OF_N_CHUNK * k)
        + if rest > 0 {
            extension_bytes(rest * k)
        } else {
            0
        }
}

/// [`crate::ot::relu()`] on `n` values in Z_{2^ℓ}: DReLU (a millionaire over ℓ−1 bits) and
/// the multiplexer (an ℓ-bit correlated OT each way, server as sender first).
pub fn relu_cost(n: usize, ell: u32) -> Cost {
    if n == 0 {
        return Cost::default();
    }
    let n = n as u64;
    millionaire_cost(n, ell - 1)
        .then(correlated_from_server(n, ell))
        .then(correlated_from_client(n, ell))
}

/// [`super::truncate()`] of `n` values by `shift` bits: one `shift`-bit correlated OT each.
pub fn truncate_cost(n: usize, shift: u32) -> Cost {
    if n == 0 {
        return Cost::default();
    }
    correlated_from_server(n as u64, shift)
}

/// [`super::max_pool`] over `input`: one ReLU batch per tree level.
pub fn maxpool_cost(input: Shape, pool: Pool2d, ell: u32) -> Result<Cost, OtError> {
    let sizes = pool.windows(input)?.into_iter().map(|w| w.len());
    Ok(tree_pairs(sizes)
        .into_iter()
        .map(|p| relu_cost(p, ell))
        .sum())
}

/// [`super::avg_pool`] over `input`: one truncation per output element.
pub fn avgpool_cost(input: Shape, pool: Pool2d, scale: u32) -> Result<Cost, OtError> {
    let out = pool.output(input)?;
    Ok(truncate_cost(out.h * out.w * out.c, scale))
}

/// [`super::global_avg_pool`] over `input`.
pub fn global_avgpool_cost(input: Shape, scale: u32) -> Cost {
    truncate_cost(input.c, scale)
}

/// [`super::beaver_triples`]: `n` triples, ℓ correlated ℓ-bit OTs each way per triple.
pub fn triples_cost(n: usize, ell: u32) -> Cost {
    if n == 0 {
        return Cost::default();
    }
    let ots = n as u64 * ell as u64;
    correlated_from_server(ots, ell).then(correlated_from_client(ots, ell))
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
    let mut cost = relu_cost(n_relu, ell).then(triples_cost(n * muls, ell));
    for _ in 0..muls {
        cost = cost
            .then(beaver_mul_cost(n, ell))
            .then(truncate_cost(n, scale));
    }
    cost.then(truncate_cost(n, scale))
}
