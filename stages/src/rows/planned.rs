//! The dataset's rows for a network that was never run: every column the predictors read
//! (parameters, engineered features, planned protocol counts and rounds, the link), computed
//! from the network description and the engine's plan alone, with the measured columns 0.
//!
//! The rows go through the same list of columns as measured rows
//! ([`layer_columns`](super::columns::layer_columns)), so a predictor sees the same columns,
//! in the same units, for a planned network as it was trained on.

#[cfg(test)]
use std::collections::BTreeMap;
use std::rc::Rc;

#[cfg(test)]
use polars::prelude::DataFrame;
use snni_engine::he::HeParamsDesc;
use snni_engine::network::Network;
use snni_engine::ot::OtBackend;
use snni_engine::runtime::{planned_pool_growth, ExecPlan, Measured};

#[cfg(test)]
use super::columns::layers_table;
use super::features::LayerFeatures;
use super::lines::Linear;
use super::meta::{Context, Engine, Link, Machine};
use super::row::{party_rounds, LayerRow, RunId};
#[cfg(test)]
use super::views::VIEWS;
use crate::StageError;

/// The setting a planned network is predicted for, and the engine's ℓ and scale.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedLink {
    /// The setting's name (what the models are keyed by).
    pub setting: String,
    /// Bandwidth in bits per second (`None` when unshaped).
    pub bandwidth_bps: Option<u64>,
    /// Round-trip time in microseconds (`None` when unshaped).
    pub rtt_us: Option<f64>,
    /// Share bit length ℓ.
    pub ell: u32,
    /// Fixed-point scale.
    pub scale: u32,
    /// The OT backend the counts and rounds are planned for (the models' training runs').
    pub ot: OtBackend,
}

const NOTHING_MEASURED: Measured = Measured {
    wall_s: 0.0,
    cpu_s: 0.0,
    bytes_sent: 0,
    bytes_received: 0,
    messages_sent: 0,
    messages_received: 0,
    rounds: 0,
};

/// The layer rows (both parties, client first, in layer order) of `network` as the dataset
/// would hold them had it been run in `link`, under the id `network_id`, measured columns 0.
pub(crate) fn planned_layer_rows(
    network: &Network,
    network_id: &str,
    link: &PlannedLink,
) -> Result<Vec<LayerRow>, StageError> {
    let fail = |message: String| StageError::Dataset {
        shard: network_id.to_string(),
        message: format!("plan network `{}`: {message}", network.name),
    };
    let he = HeParamsDesc::for_bitlen(link.ell).map_err(|e| fail(crate::error_chain(&e)))?;
    let plan = ExecPlan::with_ot(network, &he, link.scale, link.ot)
        .map_err(|e| fail(crate::error_chain(&e)))?;
    let growth = planned_pool_growth(network, &plan.shapes, link.scale, link.ell, link.ot);
    let id = Rc::new(RunId {
        network: network_id.to_string(),
        network_name: network.name.clone(),
        family: network.family.clone(),
        source_stage: String::new(),
        setting: link.setting.clone(),
        run: 0,
        noise: None,
        context: Context {
            link: Link {
                bandwidth_bps: link.bandwidth_bps,
                rtt_us: link.rtt_us,
                loss_percent: None,
            },
            backend: "planned".into(),
            engine: Engine {
                version: snni_engine::VERSION.into(),
                protocol: snni_engine::runtime::PROTOCOL_VERSION,
                record: snni_engine::runtime::RECORD_VERSION,
            },
            ell: u64::from(link.ell),
            scale: u64::from(link.scale),
            he_degree: he.degree as u64,
            threads: 1,
            ot: link.ot,
            flooding_bits: None,
            cpus: None,
            cpu_reservation: None,
            machine: Machine {
                cores: 0,
                cpu_model: String::new(),
                os: String::new(),
            },
        },
    });
    let mut rows = Vec::new();
    for party in ["client", "server"] {
        for (index, (layer, info)) in network.layers.iter().zip(&plan.shapes).enumerate() {
            let linear = plan.linear[index]
                .as_ref()
                .map_or_else(Linear::default, |p| Linear {
                    input_cts: p.input_cts as u64,
                    output_cts: p.output_cts as u64,
                    ct_pt_products: p.ct_pt_products as u64,
                    weight_polys: p.weight_polys as u64,
                    bytes_client_to_server: p.bytes_client_to_server,
                    bytes_server_to_client: p.bytes_server_to_client,
                });
            rows.push(LayerRow {
                id: Rc::clone(&id),
                party,
                layer: index as u64,
                layer_name: layer.name.clone(),
                kind: info.kind,
                features: Rc::new(LayerFeatures::of(&layer.op, info)),
                counts: plan.counts[index],
                linear,
                planned_rounds: party_rounds(&plan.rounds[index], party),
                pool_growth: growth[index],
                measured: NOTHING_MEASURED,
            });
        }
    }
    Ok(rows)
}

/// The `layers` table and the view tables of [`planned_layer_rows`], as DataFrames (the
/// dataset's tests compare them with measured tables).
#[cfg(test)]
pub(crate) fn planned_views(
    network: &Network,
    network_id: &str,
    link: &PlannedLink,
) -> Result<BTreeMap<&'static str, DataFrame>, StageError> {
    let rows = planned_layer_rows(network, network_id, link)?;
    let mut views = BTreeMap::new();
    let all: Vec<&LayerRow> = rows.iter().collect();
    views.insert("layers", layers_table("layers", &all)?);
    for view in &VIEWS {
        let view_rows: Vec<&LayerRow> = rows
            .iter()
            .filter(|r| view.kinds.contains(&r.kind))
            .collect();
        views.insert(view.name, layers_table(view.name, &view_rows)?);
    }
    Ok(views)
}
