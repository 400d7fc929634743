//! [`ExecPlan`]: what both parties run, fixed before the session starts — the validated
//! layer graph, each linear layer's HE packing, and every layer's protocol counts.
//!
//! Planning does no cryptography and no communication; the predictors may read the counts.

use crate::he::{ConvShape, FcShape, HeParamsDesc, LinearLayer, LinearPlan, Padding};
use crate::network::{LayerInfo, Network, Op, Shapes};
use crate::nonlinear::plan::{self as nl_plan, OtPlanner};
use crate::nonlinear::{Cost, Dir, Flow, PolyParams, Pool2d};
use crate::ot::ferret::FerretParams;
use crate::ot::OtBackend;

use super::error::{Result, RuntimeError};
use super::record::ProtocolCounts;

/// The validated network with its per-layer plans.
#[derive(Debug, Clone)]
pub struct ExecPlan {
    /// The OT backend the counts and rounds are planned for.
    pub ot: OtBackend,
    /// Shapes and wiring from [`Network::validate`].
    pub shapes: Shapes,
    /// The HE plan of each conv, fc and batch_norm layer (`None` for other kinds).
    pub linear: Vec<Option<LinearPlan>>,
    /// Protocol counts per layer.
    pub counts: Vec<ProtocolCounts>,
    /// Rounds each party's meter will show per layer.
    pub rounds: Vec<PlannedRounds>,
    /// The largest frame each party accepts from the peer per layer.
    pub frames: Vec<FrameLimits>,
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

/// The largest frame payload (the runtime's step tag excluded) each party accepts from its
/// peer in one step: what the plan says the peer sends, and nothing larger. A frame over the
/// limit is refused on its header, before its body is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameLimits {
    /// What the server accepts.
    pub server: u64,
    /// What the client accepts.
    pub client: u64,
}

impl FrameLimits {
    /// The limits of the session setup: the HE public key, the base OTs (128 points of 32
    /// bytes) and, for Ferret, the IKNP columns and the setup iteration's message.
    pub fn setup(he: &HeParamsDesc, ot: OtBackend, ferret: &FerretParams) -> Self {
        let base = 128 * 32;
        let ot_frame = match ot {
            OtBackend::Iknp => base,
            OtBackend::Ferret => base
                .max(nl_plan::iknp_column_frame(ferret.bootstrap_cots() as u64))
                .max(ferret.setup.largest_frame() as u64),
        };
        FrameLimits {
            server: ot_frame.max(he.public_key_bytes()),
            client: ot_frame,
        }
    }

    /// The limits of a layer: its OT frames, and the HE frames of a linear layer (a count,
    /// the client's ciphertexts, the server's answers).
    fn layer(cost: &Cost, linear: Option<&LinearPlan>, he: &HeParamsDesc) -> Self {
        let mut limits = FrameLimits {
            server: cost.client_frame,
            client: cost.server_frame,
        };
        if let Some(plan) = linear {
            let values = plan.layer.output_len().min(he.degree);
            limits.server = limits.server.max(4).max(plan.upload_bytes(he));
            limits.client = limits.client.max(4).max(plan.answer_bytes(he, values));
        }
        limits
    }

    /// The limits of the output step: the server's share of `elements` outputs.
    pub fn output(elements: u64) -> Self {
        FrameLimits {
            server: 0,
            client: 8 * elements,
        }
    }

    /// What `party` accepts.
    pub fn of(&self, server: bool) -> u64 {
        if server {
            self.server
        } else {
            self.client
        }
    }
}

/// The rounds (switches from sending to receiving, as [`crate::channel::Meter`] counts
/// them) one layer takes at each party, from the plan alone: the protocol's message flow is
/// fixed by the layer's kind and shapes, never by timing or data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlannedRounds {
    /// At the server.
    pub server: u64,
    /// At the client.
    pub client: u64,
}

/// Each party's message flow during one layer: an HE exchange (the client sends its
/// ciphertexts, the server answers) before a linear layer's truncation, then the OT part.
fn layer_flows(op: &Op, cost: &Cost) -> (Flow, Flow) {
    match op {
        Op::Conv { .. } | Op::Fc { .. } | Op::BatchNorm {} => (
            Flow::of(&[Dir::Recv, Dir::Send]).then(cost.server),
            Flow::of(&[Dir::Send, Dir::Recv]).then(cost.client),
        ),
        _ => (cost.server, cost.client),
    }
}

/// Whether the server and the client last sent (rather than received) when setup ends: both
/// end on a receive (`planned_rounds_are_what_the_meters_count` checks it).
const SETUP_ENDS_SENDING: (bool, bool) = (false, false);

/// A party's rounds over one layer given whether its last operation before the layer was a
/// send: a receive first then starts a round at the seam.
fn seam_rounds(flow: &Flow, sending: bool) -> u64 {
    if sending {
        flow.rounds_after_send()
    } else {
        flow.rounds
    }
}

/// The rounds of every layer of `network` (validated to `shapes`) at each party, for share
/// bit length `ell`, fixed-point `scale` and the OT `backend`. Needs no HE parameters: the
/// HE exchange of a linear layer is one message each way whatever its size.
pub fn planned_rounds(
    network: &Network,
    shapes: &Shapes,
    scale: u32,
    ell: u32,
    backend: OtBackend,
) -> Vec<PlannedRounds> {
    rounds_with(network, shapes, scale, ell, OtPlanner::new(backend))
}

/// COTs by which each layer of `network` grows the Ferret pools' buffers (both directions
/// together; see [`crate::nonlinear::Cost::pool_growth`]), for the same arguments as
/// [`planned_rounds`]: allocation and page faults that no other count carries, paid in the
/// layers that first draw more than the pools ever held. All 0 for IKNP.
pub fn planned_pool_growth(
    network: &Network,
    shapes: &Shapes,
    scale: u32,
    ell: u32,
    backend: OtBackend,
) -> Vec<u64> {
    layer_costs(network, shapes, scale, ell, OtPlanner::new(backend))
        .iter()
        .map(|cost| cost.pool_growth)
        .collect()
}

/// The OT-based cost of every layer of `network` in order, the planner's pools carried
/// from layer to layer.
fn layer_costs(
    network: &Network,
    shapes: &Shapes,
    scale: u32,
    ell: u32,
    mut planner: OtPlanner,
) -> Vec<Cost> {
    network
        .layers
        .iter()
        .zip(shapes)
        .map(|(layer, info)| ot_cost(&mut planner, &layer.op, info, scale, ell))
        .collect()
}

/// [`planned_rounds`] from a planner's state.
fn rounds_with(
    network: &Network,
    shapes: &Shapes,
    scale: u32,
    ell: u32,
    planner: OtPlanner,
) -> Vec<PlannedRounds> {
    let (mut server_sending, mut client_sending) = SETUP_ENDS_SENDING;
    let mut rounds = Vec::with_capacity(shapes.layers.len());
    let costs = layer_costs(network, shapes, scale, ell, planner);
    for (layer, cost) in network.layers.iter().zip(&costs) {
        let (server, client) = layer_flows(&layer.op, cost);
        rounds.push(PlannedRounds {
            server: seam_rounds(&server, server_sending),
            client: seam_rounds(&client, client_sending),
        });
        server_sending = server.last.map_or(server_sending, |d| d == Dir::Send);
        client_sending = client.last.map_or(client_sending, |d| d == Dir::Send);
    }
    rounds
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

/// Planned OT-based traffic of a layer, from [`crate::nonlinear::plan`]; `p` carries the
/// OT pools from the layers before.
fn ot_cost(p: &mut OtPlanner, op: &Op, info: &LayerInfo, scale: u32, ell: u32) -> Cost {
    let input = info.inputs[0];
    let out = info.output.elements() as usize;
    match *op {
        Op::Conv { .. } | Op::Fc { .. } | Op::BatchNorm {} => nl_plan::truncate_cost(p, out, scale),
        Op::Relu {} => nl_plan::relu_cost(p, out, ell),
        Op::MaxPool { .. } => pool_window(op)
            .and_then(|pool| nl_plan::maxpool_cost(p, input, pool, ell).ok())
            .unwrap_or_default(),
        Op::AvgPool { .. } => pool_window(op)
            .and_then(|pool| nl_plan::avgpool_cost(p, input, pool, scale).ok())
            .unwrap_or_default(),
        Op::GlobalAvgPool {} => nl_plan::global_avgpool_cost(p, input, scale),
        Op::PolyAct { .. } => poly_params(op)
            .map(|params| nl_plan::poly_cost(p, out, input.c, &params, scale, ell))
            .unwrap_or_default(),
        Op::Add {} | Op::Concat {} | Op::Flatten {} => Cost::default(),
    }
}

fn counts(op: &Op, info: &LayerInfo, cost: &Cost) -> ProtocolCounts {
    let out = info.output.elements();
    let input = info.inputs[0];
    let mut counts = ProtocolCounts {
        output_elements: out,
        ots: cost.ots,
        ot_refills: cost.refills,
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
    /// modulus fixes ℓ), the fixed-point `scale` and the default OT backend.
    pub fn new(network: &Network, he: &HeParamsDesc, scale: u32) -> Result<Self> {
        Self::with_ot(network, he, scale, OtBackend::default())
    }

    /// [`ExecPlan::new`] for the OT backend `ot`.
    pub fn with_ot(
        network: &Network,
        he: &HeParamsDesc,
        scale: u32,
        ot: OtBackend,
    ) -> Result<Self> {
        Self::planned(network, he, scale, ot, FerretParams::DEFAULT)
    }

    /// [`ExecPlan::with_ot`] with other Ferret parameters (tests).
    pub(crate) fn planned(
        network: &Network,
        he: &HeParamsDesc,
        scale: u32,
        ot: OtBackend,
        ferret: FerretParams,
    ) -> Result<Self> {
        let ell = he.plaintext_bits;
        let mut planner = OtPlanner::with_params(ot, ferret);
        let shapes = network.validate()?;
        let mut linear = Vec::with_capacity(shapes.layers.len());
        let mut all_counts = Vec::with_capacity(shapes.layers.len());
        let mut frames = Vec::with_capacity(shapes.layers.len());
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
            let cost = ot_cost(&mut planner, &layer.op, info, scale, ell);
            all_counts.push(counts(&layer.op, info, &cost));
            frames.push(FrameLimits::layer(&cost, plan.as_ref(), he));
            linear.push(plan);
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
        let rounds = rounds_with(
            network,
            &shapes,
            scale,
            ell,
            OtPlanner::with_params(ot, ferret),
        );
        Ok(Self {
            ot,
            shapes,
            linear,
            counts: all_counts,
            rounds,
            frames,
            last_use,
        })
    }
}
