//! The rows of the dataset: one [`LayerRow`] per (network, setting, run, party, layer) and
//! one [`NetworkRow`] per (network, setting, run, party), built from a [`ProfileShard`]
//! after checking its lines against its network description.
//!
//! Layer lines are matched to layers by index, never by position: a duplicate, missing or
//! stray index, or a line whose kind, name or output shape disagrees with the network, is an
//! error that names the shard and the layer.

use std::rc::Rc;

use snni_engine::network::OpKind;
use snni_engine::runtime::{planned_pool_growth, planned_rounds, PlannedRounds};

use super::features::LayerFeatures;
use super::lines::{Counts, Linear, Measured, PartyLines, RunLine};
use super::meta::{Context, Noise};
use super::profile::{error, ProfileShard};
use crate::StageError;

/// What identifies a profile shard's measurements and where they were made; shared by all
/// rows of the shard.
#[derive(Debug, Clone, PartialEq)]
pub struct RunId {
    /// The network's id in the study.
    pub network: String,
    /// The network's own name.
    pub network_name: String,
    /// Its family.
    pub family: String,
    /// The stage that produced it.
    pub source_stage: String,
    /// The setting's name.
    pub setting: String,
    /// The run number.
    pub run: u64,
    /// How and where it was measured.
    pub context: Context,
    /// The machine's speed and load around the run, when the profile stage recorded them.
    pub noise: Option<Noise>,
}

/// One layer as one party ran it.
#[derive(Debug, Clone)]
pub struct LayerRow {
    /// The run.
    pub id: Rc<RunId>,
    /// `client` or `server`.
    pub party: &'static str,
    /// 0-based layer index.
    pub layer: u64,
    /// Layer name.
    pub layer_name: String,
    /// Layer kind.
    pub kind: OpKind,
    /// Parameters and engineered features.
    pub features: Rc<LayerFeatures>,
    /// Planned protocol counts.
    pub counts: Counts,
    /// The HE plan's counts (all 0 for layers without one).
    pub linear: Linear,
    /// The rounds this party's meter shows for the layer, from the plan.
    pub planned_rounds: u64,
    /// COTs by which the layer grows the Ferret pools' buffers, from the plan.
    pub pool_growth: u64,
    /// Time and traffic.
    pub measured: Measured,
}

impl LayerRow {
    /// Planned bytes: both OT directions plus both HE directions.
    pub fn planned_bytes(&self) -> u64 {
        self.counts.ot_bytes_server
            + self.counts.ot_bytes_client
            + self.linear.bytes_client_to_server
            + self.linear.bytes_server_to_client
    }

    /// The sort key: network, setting, run, party, layer.
    pub fn key(&self) -> (&str, &str, u64, &str, u64) {
        let id = &*self.id;
        (&id.network, &id.setting, id.run, self.party, self.layer)
    }
}

/// One party's totals for a run.
#[derive(Debug, Clone)]
pub struct NetworkRow {
    /// The run.
    pub id: Rc<RunId>,
    /// `client` or `server`.
    pub party: &'static str,
    /// Number of layers.
    pub layers: u64,
    /// Setup phase.
    pub setup: Measured,
    /// Layers and output exchange.
    pub inference: Measured,
    /// Setup plus inference.
    pub total: Measured,
}

impl NetworkRow {
    /// The sort key: network, setting, run, party.
    pub fn key(&self) -> (&str, &str, u64, &str) {
        let id = &*self.id;
        (&id.network, &id.setting, id.run, self.party)
    }
}

/// `party`'s share of a layer's planned rounds.
pub fn party_rounds(rounds: &PlannedRounds, party: &str) -> u64 {
    if party == "server" {
        rounds.server
    } else {
        rounds.client
    }
}

/// The rows of one profile shard, both parties, in layer order per party.
pub fn shard_rows(shard: &ProfileShard) -> Result<(Vec<LayerRow>, Vec<NetworkRow>), StageError> {
    let label = &shard.label;
    let shapes = shard.network.validate().map_err(|err| {
        error(
            label,
            format!("check network `{}`: {err}", shard.network.name),
        )
    })?;
    let meta = &shard.meta;
    let id = Rc::new(RunId {
        network: meta.network.clone(),
        network_name: meta.network_name.clone(),
        family: meta.family.clone(),
        source_stage: meta.source_stage.clone(),
        setting: meta.setting.clone(),
        run: meta.run,
        context: meta.context.clone(),
        noise: meta.noise,
    });
    let features: Vec<Rc<LayerFeatures>> = shard
        .network
        .layers
        .iter()
        .zip(&shapes.layers)
        .map(|(layer, info)| Rc::new(LayerFeatures::of(&layer.op, info)))
        .collect();
    let digest = shard.network.digest();
    let ctx = &meta.context;
    let rounds = planned_rounds(
        &shard.network,
        &shapes,
        ctx.scale as u32,
        ctx.ell as u32,
        ctx.ot,
    );
    let growth = planned_pool_growth(
        &shard.network,
        &shapes,
        ctx.scale as u32,
        ctx.ell as u32,
        ctx.ot,
    );
    let mut layer_rows = Vec::new();
    let mut network_rows = Vec::new();
    for (party, lines) in [("client", &shard.client), ("server", &shard.server)] {
        check_run(shard, party, &lines.run, &digest)?;
        check_indices(shard, party, lines)?;
        for (info, features) in shapes.layers.iter().zip(&features) {
            let line = &lines.layers[&info.index];
            if line.kind != info.kind || line.name != info.name || line.output != info.output {
                return Err(error(
                    label,
                    format!(
                        "the {party}'s line for layer {} is `{}` ({}, output {}), but the network \
                         has `{}` ({}, output {})",
                        info.index,
                        line.name,
                        line.kind,
                        line.output,
                        info.name,
                        info.kind,
                        info.output
                    ),
                ));
            }
            layer_rows.push(LayerRow {
                id: Rc::clone(&id),
                party,
                layer: info.index as u64,
                layer_name: info.name.clone(),
                kind: info.kind,
                features: Rc::clone(features),
                counts: line.counts,
                linear: line.linear.unwrap_or_default(),
                planned_rounds: party_rounds(&rounds[info.index], party),
                pool_growth: growth[info.index],
                measured: line.measured,
            });
        }
        network_rows.push(NetworkRow {
            id: Rc::clone(&id),
            party,
            layers: lines.run.layers as u64,
            setup: lines.run.setup,
            inference: lines.run.inference,
            total: lines.run.total,
        });
    }
    Ok((layer_rows, network_rows))
}

/// The run line must describe this network and the run the meta describes.
fn check_run(
    shard: &ProfileShard,
    party: &str,
    run: &RunLine,
    digest: &str,
) -> Result<(), StageError> {
    let fail = |message: String| Err(error(&shard.label, message));
    if run.digest != digest {
        return fail(format!(
            "the {party}'s run line has network digest {}, but the network description's is {digest}",
            run.digest
        ));
    }
    let count = shard.network.layers.len();
    if run.layers != count {
        return fail(format!(
            "the {party}'s run line counts {} layers, but the network has {count}",
            run.layers
        ));
    }
    let context = &shard.meta.context;
    let pairs = [
        ("ell", run.ell, context.ell),
        ("scale", run.scale, context.scale),
        ("he_degree", run.he.degree, context.he_degree),
        ("threads", run.threads, context.threads),
    ];
    for (name, line, meta) in pairs {
        if line != meta {
            return fail(format!(
                "the {party}'s run line has {name} {line}, but the meta says {meta}"
            ));
        }
    }
    Ok(())
}

/// Every layer of the network has exactly one line, and no line names another index.
fn check_indices(shard: &ProfileShard, party: &str, lines: &PartyLines) -> Result<(), StageError> {
    let count = shard.network.layers.len();
    if let Some((&index, line)) = lines.layers.range(count..).next() {
        return Err(error(
            &shard.label,
            format!(
                "the {party}'s line for layer {index} (`{}`) is outside the network, which has {count} layers",
                line.name
            ),
        ));
    }
    if let Some((index, layer)) = shard
        .network
        .layers
        .iter()
        .enumerate()
        .find(|(index, _)| !lines.layers.contains_key(index))
    {
        return Err(error(
            &shard.label,
            format!(
                "the {party}'s lines have no line for layer {index} (`{}`)",
                layer.name
            ),
        ));
    }
    Ok(())
}
