//! [`ExecPlan`]: what both parties run, fixed before the session starts — the validated
//! layer graph, each linear layer's HE packing, and every layer's protocol counts.
//!
//! Planning does no cryptography and no communication; the predictors may read the counts.

use crate::he::{ConvShape, FcShape, HeParamsDesc, LinearLayer, LinearPlan, Padding};
use crate::network::{LayerInfo, Network, Op, Shapes};
use crate::nonlinear::plan as nl_plan;
use crate::nonlinear::{Cost, PolyParams, Pool2d};

use super::error::{Result, RuntimeError};
use super::record::ProtocolCounts;

/// The validated network with its per-layer plans.
#[derive(Debug, Clone)]
pub struct ExecPlan {
    /// Shapes and wiring from [`Network::validate`].
    pub shapes: Shapes,
    /// The HE plan of each conv, fc and batch_norm layer (`None` for other kinds).
    pub linear: Vec<Option<LinearPlan>>,
    /// Protocol counts per layer.
    pub counts: Vec<ProtocolCounts>,
    /// For each layer, the last layer that reads its output (to free shares early).
    pub last_use: Vec<usize>,
}

/// The HE layer of a conv, fc or batch_norm layer.
pub fn linear_layer(op: &Op, info: &LayerInfo) -> Option<LinearLayer> {
    let input = info.inputs[0];
    match *op {
        Op::Conv {
            filters,
            kernel,
            stride,
            padding,
            ..
        } => Some(LinearLayer::Conv(ConvShape {
            h: input.h,
            w: input.w,
            c: input.c,
            kh: kernel.h,
            kw: kernel.w,
            m: filters,
            stride,
            pad: Padding::same(padding),
        })),
        Op::Fc { units, .. } => Some(LinearLayer::Fc(FcShape {
            n_in: input.c,
            n_out: units,
        })),
        Op::BatchNorm {} => Some(LinearLayer::Bn(crate::he::BnShape {
            h: input.h,
            w: input.w,
            c: input.c,
        })),
        _ => None,
    }
}

/// The pooling window of a max_pool or avg_pool layer.
pub fn pool_window(op: &Op) -> Option<Pool2d> {
    match *op {
        Op::MaxPool {
            kernel,
            stride,
            padding,
        }
        | Op::AvgPool {
            kernel,
            stride,
            padding,
        } => Some(Pool2d {
            kh: kernel.h,
            kw: kernel.w,
            stride,
            padding,
        }),
        _ => None,
    }
}

/// The public parameters of a poly_act layer.
pub fn poly_params(op: &Op) -> Option<PolyParams> {
    match *op {
        Op::PolyAct {
            degree,
            relu_fraction,
        } => PolyParams::new(degree, relu_fraction).ok(),
        _ => None,
    }
}

/// Number of positions of a window axis inside the map, summed over all outputs.
fn covered(n: usize, kernel: usize, stride: usize, padding: usize, out: usize) -> u64 {
    (0..out)
        .map(|o| {
            let start = (o * stride) as i64 - padding as i64;
            let lo = start.max(0);
            let hi = (start + kernel as i64).min(n as i64);
            (hi - lo).max(0) as u64
        })
        .sum()
}

/// Planned OT-based traffic of a layer, from [`crate::nonlinear::plan`].
fn ot_cost(op: &Op, info: &LayerInfo, scale: u32, ell: u32) -> Cost {
    let input = info.inputs[0];
    let out = info.output.elements() as usize;
    match *op {
        Op::Conv { .. } | Op::Fc { .. } | Op::BatchNorm {} => nl_plan::truncate_cost(out, scale),
        Op::Relu {} => nl_plan::relu_cost(out, ell),
        Op::MaxPool { .. } => pool_window(op)
            .and_then(|pool| nl_plan::maxpool_cost(input, pool, ell).ok())
            .unwrap_or_default(),
        Op::AvgPool { .. } => pool_window(op)
            .and_then(|pool| nl_plan::avgpool_cost(input, pool, scale).ok())
            .unwrap_or_default(),
        Op::GlobalAvgPool {} => nl_plan::global_avgpool_cost(input, scale),
        Op::PolyAct { .. } => poly_params(op)
            .map(|p| nl_plan::poly_cost(out, input.c, &p, scale, ell))
            .unwrap_or_default(),
        Op::Add {} | Op::Concat {} | Op::Flatten {} => Cost::default(),
    }
}

fn counts(op: &Op, info: &LayerInfo, scale: u32, ell: u32) -> ProtocolCounts {
    let out = info.output.elements();
    let input = info.inputs[0];
    let cost = ot_cost(op, info, scale, ell);
    let mut counts = ProtocolCounts {
        output_elements: out,
        ots: cost.ots,
        ot_bytes_server: cost.server_sent,
        ot_bytes_client: cost.client_sent,
        ..ProtocolCounts::default()
    };
    match *op {
        Op::Conv { .. } | Op::Fc { .. } | Op::BatchNorm {} => counts.truncations = out,
        Op::Relu {} => counts.comparisons = out,
        Op::MaxPool {
            kernel,
            stride,
            padding,
        } => {
            let rows = covered(input.h, kernel.h, stride, padding, info.output.h);
            let cols = covered(input.w, kernel.w, stride, padding, info.output.w);
            let taps = rows * cols * input.c as u64;
            counts.comparisons = taps.saturating_sub(out);
        }
        Op::AvgPool { .. } | Op::GlobalAvgPool {} => counts.truncations = out,
        Op::PolyAct { degree, .. } => {
            let relu = poly_params(op).map_or(input.c, |p| p.relu_channels(input.c)) as u64;
            let poly = out / input.c as u64 * (input.c as u64 - relu);
            counts.comparisons = out - poly;
            counts.multiplications = poly * u64::from(degree - 1);
            counts.truncations = poly * u64::from(degree);
        }
        Op::Add {} | Op::Concat {} | Op::Flatten {} => {}
    }
    counts
}

impl ExecPlan {
    /// Validates `network` and plans every layer for the HE parameters `he` (whose plaintext
    /// modulus fixes ℓ) and the fixed-point `scale`.
    pub fn new(network: &Network, he: &HeParamsDesc, scale: u32) -> Result<Self> {
        let ell = he.plaintext_bits;
        let shapes = network.validate()?;
        let mut linear = Vec::with_capacity(shapes.layers.len());
        let mut all_counts = Vec::with_capacity(shapes.layers.len());
        let mut last_use: Vec<usize> = (0..shapes.layers.len()).collect();
        for (layer, info) in network.layers.iter().zip(&shapes) {
            let plan = linear_layer(&layer.op, info)
                .map(|l| {
                    LinearPlan::new(l, he).map_err(|e| {
                        RuntimeError::Config(format!(
                            "layer {} '{}' cannot be packed: {e}",
                            info.index, info.name
                        ))
                    })
                })
                .transpose()?;
            if let Op::PolyAct { degree, .. } = layer.op {
                if poly_params(&layer.op).is_none() {
                    return Err(RuntimeError::Config(format!(
                        "layer {} '{}': poly_act of degree {degree} is not supported (2 or 3)",
                        info.index, info.name
                    )));
                }
            }
            linear.push(plan);
            all_counts.push(counts(&layer.op, info, scale, ell));
            for source in &info.sources {
                if let crate::network::InputRef::Layer(i) = *source {
                    last_use[i] = info.index;
                }
            }
        }
        // The output is read at the end.
        if let Some(last) = last_use.last_mut() {
            *last = usize::MAX;
        }
        Ok(Self {
            shapes,
            linear,
            counts: all_counts,
            last_use,
        })
    }
}
