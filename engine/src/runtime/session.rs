//! One party's session on an open channel: handshake, setup (HE key, base OTs), then every
//! layer in network order, then the output share. Both parties run this same walk; only the
//! HE side and the OT roles differ.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::channel::Channel;
use crate::he::{HeClient, HeParams, HeParamsDesc, HeServer, LinearPlan};
use crate::network::{InputRef, Network, Op};
use crate::nonlinear::{self, RangeCheck};
use crate::ot::{self, OtError, OtPair};

use super::config::{EngineConfig, Party};
use super::error::{Result, RuntimeError, StepError};
use super::flooding::{revealed_in, FloodingSummary};
use super::frame::{TaggedChannel, OUTPUT, SETUP};
use super::handshake::{exchange, Hello};
use super::linear::{self, guarded, HeSide};
use super::plan::{poly_params, pool_window, ExecPlan, FrameLimits};
use super::record::{
    thread_cpu_ns, HeSummary, LayerRecord, RunRecord, RunReport, Stopwatch, RECORD_VERSION,
};
use super::weights::{param_lens, LayerParams, Weights};
use crate::nonlinear::fixed::ring_mask;

/// What a party brings: the server its weights, the client its input (ring elements).
pub enum Secret<'a> {
    /// The server's weights.
    Weights(&'a Weights),
    /// The client's input.
    Input(&'a [u64]),
}

impl Secret<'_> {
    fn party(&self) -> Party {
        match self {
            Secret::Weights(_) => Party::Server,
            Secret::Input(_) => Party::Client,
        }
    }
}

/// Runs one party on an established channel. The channel should carry the configuration's
/// timeout; [`super::run_server`] and [`super::run_client`] set it up.
pub fn run_on_channel(
    ch: &mut dyn Channel,
    network: &Network,
    config: &EngineConfig,
    secret: Secret<'_>,
) -> Result<RunReport> {
    config.check()?;
    let party = secret.party();
    let desc = config.he_desc()?;
    let plan = ExecPlan::planned(
        network,
        &desc,
        config.scale,
        config.ot,
        config.ferret_params(),
    )?;
    match &secret {
        Secret::Weights(w) if w.layers.len() != network.layers.len() => {
            return Err(RuntimeError::Config(format!(
                "weights for {} layers, the network has {}",
                w.layers.len(),
                network.layers.len()
            )))
        }
        Secret::Input(x) if x.len() as u64 != network.input.elements() => {
            return Err(RuntimeError::Config(format!(
                "an input of {} values, the network takes {} ({})",
                x.len(),
                network.input.elements(),
                network.input
            )))
        }
        Secret::Weights(w) => check_weights(network, &plan, w)?,
        Secret::Input(_) => {}
    }
    let mut rng = match config.protocol_seed() {
        Some(seed) => ChaCha20Rng::seed_from_u64(seed ^ (party as u64).wrapping_mul(0x9e37)),
        None => ChaCha20Rng::from_rng(&mut rand::rng()),
    };
    let digest = network.digest();
    let total = Stopwatch::start(ch.meter());
    let setup_watch = Stopwatch::start(ch.meter());

    let mine = Hello::new(
        party,
        &network.name,
        &digest,
        config.ell,
        config.scale,
        desc.clone(),
        config.ot,
        &mut rng,
    );
    let peer = exchange(ch, &mine)?;
    let params = config.he_params()?;
    let mut ch = TaggedChannel::new(ch);
    let session_id = mine.nonce ^ peer.nonce;
    let mut session =
        setup(&mut ch, party, params, config, session_id, &mut rng).map_err(|source| {
            RuntimeError::Phase {
                phase: "setup",
                source,
            }
        })?;
    let setup = setup_watch.stop(ch.meter());

    let inference = Stopwatch::start(ch.meter());
    let mut runner = Runner {
        ch,
        party,
        ot: &mut session.ot,
        he: &mut session.he,
        rng: &mut rng,
        desc: desc.clone(),
        ell: config.ell,
        scale: config.scale,
    };
    let (layers, share) = runner.layers(network, &plan, &secret)?;
    let output = runner.output(share).map_err(|source| RuntimeError::Phase {
        phase: "output",
        source,
    })?;
    let meter = runner.ch.meter();
    let run = RunRecord {
        record: "run",
        version: RECORD_VERSION,
        party,
        network: network.name.clone(),
        digest,
        ell: config.ell,
        scale: config.scale,
        he: HeSummary::from(&desc),
        flooding: FloodingSummary::new(&desc, revealed_in(&plan)),
        ot: config.ot,
        threads: config.threads,
        cpu_time_available: thread_cpu_ns().is_some(),
        layers: layers.len(),
        setup,
        inference: inference.stop(meter),
        total: total.stop(meter),
    };
    Ok(RunReport {
        layers,
        run,
        output,
    })
}

/// Checks that every layer's weights and bias have the lengths the layer needs.
fn check_weights(network: &Network, plan: &ExecPlan, weights: &Weights) -> Result<()> {
    for ((layer, info), params) in network.layers.iter().zip(&plan.shapes).zip(&weights.layers) {
        let (nw, nb) = param_lens(&layer.op, info);
        if (params.weights.len(), params.bias.len()) != (nw, nb) {
            return Err(RuntimeError::Config(format!(
                "layer {} '{}' needs {nw} weights and {nb} bias values, got {} and {}",
                info.index,
                layer.name,
                params.weights.len(),
                params.bias.len()
            )));
        }
    }
    Ok(())
}

/// The per-session cryptographic state.
struct Setup {
    he: HeSide,
    ot: OtPair,
}

fn setup(
    ch: &mut TaggedChannel<'_>,
    party: Party,
    params: HeParams,
    config: &EngineConfig,
    session_id: u64,
    rng: &mut ChaCha20Rng,
) -> Result<Setup, StepError> {
    let threads = config.threads;
    let limits = FrameLimits::setup(params.desc(), config.ot, &config.ferret_params());
    ch.set_step(SETUP, limits.of(party == Party::Server));
    let he = match party {
        Party::Client => {
            let mut client =
                HeClient::new(params, ChaCha20Rng::from_rng(rng)).with_threads(threads);
            let pk = client.public_key().map_err(StepError::He)?;
            ch.send(&pk).map_err(|e| ch.step_error(e))?;
            HeSide::Client(client)
        }
        Party::Server => {
            let pk = ch.recv().map_err(|e| ch.step_error(e))?;
            let server_rng = ChaCha20Rng::from_rng(rng);
            let server = guarded("public key", || HeServer::new(params, &pk, server_rng))?;
            HeSide::Server(server.with_threads(threads))
        }
    };
    let ot = OtPair::setup_with(
        config.ot,
        party.role(),
        ch,
        session_id,
        config.ferret_params(),
        rng,
    )
    .map_err(|e| ot_error(ch, e))?;
    Ok(Setup { he, ot })
}

/// Maps an OT error, preferring a tag problem the channel recorded.
fn ot_error(ch: &mut TaggedChannel<'_>, err: OtError) -> StepError {
    if let Some(fault) = ch.take_fault() {
        return fault;
    }
    match err {
        OtError::Channel(e) => StepError::Channel(e),
        OtError::Malformed(detail) => StepError::Malformed { what: "OT", detail },
        other => StepError::Ot(other),
    }
}

/// Walks the layers for one party.
struct Runner<'a, 'c> {
    ch: TaggedChannel<'c>,
    party: Party,
    ot: &'a mut OtPair,
    he: &'a mut HeSide,
    rng: &'a mut ChaCha20Rng,
    desc: HeParamsDesc,
    ell: u32,
    scale: u32,
}

impl Runner<'_, '_> {
    fn layers(
        &mut self,
        network: &Network,
        plan: &ExecPlan,
        secret: &Secret<'_>,
    ) -> Result<(Vec<LayerRecord>, Vec<u64>)> {
        let input: Vec<u64> = match secret {
            Secret::Input(x) => x.to_vec(),
            Secret::Weights(_) => vec![0; network.input.elements() as usize],
        };
        let mut outputs: Vec<Option<Vec<u64>>> = vec![None; network.layers.len()];
        let mut records = Vec::with_capacity(network.layers.len());
        for (layer, info) in network.layers.iter().zip(&plan.shapes) {
            let index = info.index;
            self.ch.set_step(
                index as u32,
                plan.frames[index].of(self.party == Party::Server),
            );
            let watch = Stopwatch::start(self.ch.meter());
            let inputs: Vec<&[u64]> = info
                .sources
                .iter()
                .map(|source| match *source {
                    InputRef::Network => input.as_slice(),
                    InputRef::Layer(i) => outputs[i].as_deref().expect("inputs come first"),
                })
                .collect();
            let params = match secret {
                Secret::Weights(w) => Some(&w.layers[index]),
                Secret::Input(_) => None,
            };
            let mut check = RangeCheck::default();
            let y = self
                .step(
                    &layer.op,
                    info,
                    &inputs,
                    plan.linear[index].as_ref(),
                    params,
                    &mut check,
                )
                .map_err(|source| RuntimeError::Layer {
                    index,
                    name: layer.name.clone(),
                    source,
                })?;
            records.push(LayerRecord {
                record: "layer",
                version: RECORD_VERSION,
                party: self.party,
                network: network.name.clone(),
                index,
                name: layer.name.clone(),
                kind: info.kind,
                inputs: info.inputs.clone(),
                output: info.output,
                measured: watch.stop(self.ch.meter()),
                truncation_out_of_range: check.out_of_range,
                counts: plan.counts[index],
                linear: plan.linear[index],
            });
            outputs[index] = Some(y);
            for source in &info.sources {
                if let InputRef::Layer(i) = *source {
                    if plan.last_use[i] == index {
                        outputs[i] = None;
                    }
                }
            }
        }
        let last = outputs.pop().flatten().expect("a network has layers");
        Ok((records, last))
    }

    /// One layer on this party's shares.
    fn step(
        &mut self,
        op: &Op,
        info: &crate::network::LayerInfo,
        inputs: &[&[u64]],
        linear: Option<&LinearPlan>,
        params: Option<&LayerParams>,
        check: &mut RangeCheck,
    ) -> Result<Vec<u64>, StepError> {
        let (ell, scale) = (self.ell, self.scale);
        let mask = ring_mask(ell);
        let x = inputs[0];
        let role = self.party.role();
        let (s, r) = self.ot.parts();
        let ch = &mut self.ch;
        let rng = &mut *self.rng;
        let out = match op {
            Op::Conv { .. } | Op::Fc { .. } | Op::BatchNorm {} => {
                let plan = linear.expect("linear layers are planned");
                let y = linear::run(self.he, ch, &self.desc, plan, x, params, scale, ell)?;
                nonlinear::truncate(role, s, r, ch, &y, scale, ell, check)
            }
            Op::Relu {} => ot::relu(role, s, r, ch, x, ell, rng),
            Op::MaxPool { .. } => {
                let pool = pool_window(op).expect("a pool");
                nonlinear::max_pool(role, s, r, ch, x, info.inputs[0], pool, ell, rng)
            }
            Op::AvgPool { .. } => {
                let pool = pool_window(op).expect("a pool");
                let input = info.inputs[0];
                nonlinear::avg_pool(role, s, r, ch, x, input, pool, scale, ell, check)
            }
            Op::GlobalAvgPool {} => {
                let input = info.inputs[0];
                nonlinear::global_avg_pool(role, s, r, ch, x, input, scale, ell, check)
            }
            Op::PolyAct { .. } => {
                let params = poly_params(op).expect("checked when planning");
                let c = info.inputs[0].c;
                nonlinear::poly_act(role, s, r, ch, x, c, &params, scale, ell, rng, check)
            }
            Op::Add {} => {
                return Ok(x
                    .iter()
                    .zip(inputs[1])
                    .map(|(a, b)| a.wrapping_add(*b) & mask)
                    .collect())
            }
            Op::Concat {} => return Ok(concat(inputs, &info.inputs)),
            Op::Flatten {} => return Ok(x.to_vec()),
        };
        out.map_err(|e| ot_error(ch, e))
    }

    /// Sends (server) or receives (client) the server's share of the output.
    fn output(&mut self, share: Vec<u64>) -> Result<Option<Vec<u64>>, StepError> {
        let limits = FrameLimits::output(share.len() as u64);
        self.ch
            .set_step(OUTPUT, limits.of(self.party == Party::Server));
        match self.party {
            Party::Server => {
                let bytes: Vec<u8> = share.iter().flat_map(|v| v.to_le_bytes()).collect();
                self.ch.send(&bytes).map_err(|e| self.ch.step_error(e))?;
                self.ch.flush().map_err(|e| self.ch.step_error(e))?;
                Ok(None)
            }
            Party::Client => {
                let bytes = self.ch.recv().map_err(|e| self.ch.step_error(e))?;
                if bytes.len() != share.len() * 8 {
                    return Err(StepError::Malformed {
                        what: "output share",
                        detail: format!("expected {} bytes, got {}", share.len() * 8, bytes.len()),
                    });
                }
                let mask = ring_mask(self.ell);
                Ok(Some(
                    bytes
                        .chunks_exact(8)
                        .zip(&share)
                        .map(|(b, c)| {
                            u64::from_le_bytes(b.try_into().expect("8 bytes")).wrapping_add(*c)
                                & mask
                        })
                        .collect(),
                ))
            }
        }
    }
}

/// Channel concatenation of HWC tensors with equal height and width.
pub(crate) fn concat(inputs: &[&[u64]], shapes: &[crate::network::Shape]) -> Vec<u64> {
    let spatial = shapes[0].spatial() as usize;
    let mut out = Vec::with_capacity(inputs.iter().map(|x| x.len()).sum());
    for p in 0..spatial {
        for (x, shape) in inputs.iter().zip(shapes) {
            out.extend_from_slice(&x[p * shape.c..(p + 1) * shape.c]);
        }
    }
    out
}
