//! The plaintext fixed-point reference of a whole network, and the error bound the secure
//! run must stay within.
//!
//! Semantics (ring elements in Z_{2^ℓ}, activations at scale s): a linear layer computes
//! [`crate::he::reference::linear`], adds the bias (β) shifted to scale 2s and truncates by
//! s (floor); the other layers are [`crate::nonlinear::reference`]'s; add, concat and flatten
//! are exact. The secure run differs only through its truncations, each at most 1 ulp low;
//! [`run_with_bound`] propagates that through the network (worst case, from the weights and
//! the activations' magnitudes).

use crate::he::reference::linear;
use crate::network::{InputRef, Network, Op, Shape};
use crate::nonlinear::reference as nl;

use super::error::{Result, RuntimeError};
use super::plan::{linear_layer, poly_params, pool_window};
use super::weights::Weights;
use crate::nonlinear::fixed::{ring_mask, signed as to_signed};

/// The network output (ring elements at scale s) for `input` (ring elements at scale s).
pub fn run(
    network: &Network,
    weights: &Weights,
    input: &[u64],
    ell: u32,
    scale: u32,
) -> Result<Vec<u64>> {
    Ok(run_with_bound(network, weights, input, ell, scale)?.0)
}

/// The reference output and a bound, in ulps, on `|secure − reference|` for every output
/// element: 1 ulp per truncation, propagated through the later layers.
pub fn run_with_bound(
    network: &Network,
    weights: &Weights,
    input: &[u64],
    ell: u32,
    scale: u32,
) -> Result<(Vec<u64>, u64)> {
    let shapes = network.validate()?;
    if input.len() as u64 != network.input.elements() || weights.layers.len() != shapes.layers.len()
    {
        return Err(RuntimeError::Config(
            "the input or the weights do not fit the network".into(),
        ));
    }
    let mask = ring_mask(ell);
    let local = |e: crate::ot::OtError| RuntimeError::Config(e.to_string());
    let mut values: Vec<Vec<u64>> = Vec::with_capacity(shapes.layers.len());
    let mut bounds: Vec<u64> = Vec::with_capacity(shapes.layers.len());
    for (layer, info) in network.layers.iter().zip(&shapes) {
        let get = |source: &InputRef| match *source {
            InputRef::Network => (input, 0u64),
            InputRef::Layer(i) => (values[i].as_slice(), bounds[i]),
        };
        let (x, e) = get(&info.sources[0]);
        let shape = info.inputs[0];
        let params = &weights.layers[info.index];
        let (y, bound) = match layer.op {
            Op::Conv { .. } | Op::Fc { .. } | Op::BatchNorm {} => {
                let l = linear_layer(&layer.op, info).expect("a linear layer");
                let mut y = linear(&l, x, &params.weights, ell);
                if !params.bias.is_empty() {
                    let n = params.bias.len();
                    for (i, v) in y.iter_mut().enumerate() {
                        *v = v.wrapping_add(params.bias[i % n] << scale) & mask;
                    }
                }
                let l1 = weight_l1(&layer.op, shape, &params.weights, ell);
                (
                    nl::truncate(&y, scale, ell),
                    grow(e, l1, scale).saturating_add(1),
                )
            }
            Op::Relu {} => (nl::relu(x, ell), e),
            Op::MaxPool { .. } => {
                let pool = pool_window(&layer.op).expect("a pool");
                (nl::max_pool(x, shape, pool, ell).map_err(local)?, e)
            }
            Op::AvgPool { .. } => {
                let pool = pool_window(&layer.op).expect("a pool");
                let taps = (pool.kh * pool.kw) as u64 * pool.avg_multiplier(scale);
                let y = nl::avg_pool(x, shape, pool, scale, ell).map_err(local)?;
                (y, grow(e, taps, scale).saturating_add(1))
            }
            Op::GlobalAvgPool {} => {
                let pool = crate::nonlinear::Pool2d::global(shape);
                let taps = shape.spatial() * pool.avg_multiplier(scale);
                let y = nl::global_avg_pool(x, shape, scale, ell).map_err(local)?;
                (y, grow(e, taps, scale).saturating_add(1))
            }
            Op::PolyAct { .. } => {
                let params = poly_params(&layer.op).expect("degree 2 or 3");
                let y = nl::poly_act(x, shape.c, &params, scale, ell);
                let a = params.fixed_coefficients(scale, ell);
                let big = x.iter().map(|&v| to_signed(v, ell).unsigned_abs()).max();
                (y, poly_bound(e, big.unwrap_or(0), &a, scale, ell))
            }
            Op::Add {} => {
                let (b, eb) = get(&info.sources[1]);
                let y = x
                    .iter()
                    .zip(b)
                    .map(|(p, q)| p.wrapping_add(*q) & mask)
                    .collect();
                (y, e.saturating_add(eb))
            }
            Op::Concat {} => {
                let parts: Vec<(&[u64], u64)> = info.sources.iter().map(get).collect();
                let xs: Vec<&[u64]> = parts.iter().map(|p| p.0).collect();
                let e = parts.iter().map(|p| p.1).max().unwrap_or(0);
                (super::session::concat(&xs, &info.inputs), e)
            }
            Op::Flatten {} => (x.to_vec(), e),
        };
        values.push(y);
        bounds.push(bound);
    }
    let bound = bounds.pop().expect("a network has layers");
    Ok((values.pop().expect("a network has layers"), bound))
}

/// `⌈e·w / 2^s⌉`, saturating.
fn grow(e: u64, w: u64, scale: u32) -> u64 {
    let v = u128::from(e) * u128::from(w);
    u64::try_from(v.div_ceil(1u128 << scale)).unwrap_or(u64::MAX)
}

/// The largest L1 norm of the weights feeding one output (conv filter, fc row, |γ|).
fn weight_l1(op: &Op, input: Shape, w: &[u64], ell: u32) -> u64 {
    let abs = |v: u64| to_signed(v, ell).unsigned_abs();
    match *op {
        Op::Conv { filters, .. } => (0..filters)
            .map(|m| w.iter().skip(m).step_by(filters).map(|&v| abs(v)).sum())
            .max()
            .unwrap_or(0),
        Op::Fc { .. } => w
            .chunks(input.c.max(1))
            .map(|row| row.iter().map(|&v| abs(v)).sum())
            .max()
            .unwrap_or(0),
        _ => w.iter().map(|&v| abs(v)).max().unwrap_or(0),
    }
}

/// Error bound of a polynomial activation whose input is off by at most `e` ulps and at
/// most `big` in magnitude (ulps), coefficients `a` at scale s (saturating).
fn poly_bound(e: u64, big: u64, a: &[u64], scale: u32, ell: u32) -> u64 {
    let abs = |v: u64| u128::from(to_signed(v, ell).unsigned_abs());
    let (e, x) = (u128::from(e), u128::from(big) + u128::from(e));
    let mul = |p: u128, q: u128| p.saturating_mul(q);
    let shift = |v: u128| v.div_ceil(1u128 << scale).saturating_add(1);
    let e2 = shift(mul(e, (2 * x).saturating_add(e)));
    let x2 = shift(mul(x, x)).saturating_add(e2);
    let mut total = mul(abs(a[1]), e).saturating_add(mul(abs(a[2]), e2));
    if a.len() == 4 {
        let e3 = shift(mul(e2, x).saturating_add(mul(x2, e)));
        total = total.saturating_add(mul(abs(a[3]), e3));
    }
    u64::try_from(shift(total))
        .unwrap_or(u64::MAX)
        .max(u64::try_from(e).unwrap_or(u64::MAX))
}

/// The largest `|a − b|` of two ring vectors read as signed values, in ulps; `u64::MAX` when
/// the lengths differ.
pub fn max_distance(a: &[u64], b: &[u64], ell: u32) -> u64 {
    if a.len() != b.len() {
        return u64::MAX;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| to_signed(x.wrapping_sub(*y) & ring_mask(ell), ell).unsigned_abs())
        .max()
        .unwrap_or(0)
}
