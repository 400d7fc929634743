//! The rest of `snni tables`: whole-network results (tables 9–10), the chosen
//! hyperparameters (tables 1–6), SVG plots and `report/index.html` — all from stored
//! outputs. A stage the study does not have is skipped and said so; a stage it has but
//! never ran names the command to run.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::DataFrame;
use serde_json::Value;
use snni_artifacts::Store;
use snni_stages::schema::dataset::{KIND, NETWORK, PARTY, SETTING};
use snni_stages::schema::results::{
    ERROR_PCT, ERROR_S, MEASURED_S, METHOD, PREDICTED_S, RECOMMENDED_METHOD, SIDE, T_PRED_MS,
    T_SNNI_S, VIEW,
};
use snni_stages::schema::TableReader;
use snni_stages::Method;

use super::stored::{blobs, record, tables};
use super::CommandError;
use crate::exit_codes;
use crate::manifest::Study;
use crate::report::{self, format_number, BarGroup, Bars, Block, Scatter, Series, Stacked, Table};

/// Scatter points by (setting, method), then layer type.
type PointsBy = BTreeMap<(String, String), BTreeMap<String, Vec<(f64, f64)>>>;

/// One row of the whole-network results.
struct NetworkRow {
    network: String,
    side: String,
    party: String,
    setting: String,
    method: String,
    t_snni: f64,
    error_s: f64,
    error_pct: f64,
    t_pred_ms: f64,
    /// The party × setting's method recommended on the validation networks ("" if none).
    recommended: String,
}

fn network_rows(frames: &[DataFrame]) -> Result<Vec<NetworkRow>, CommandError> {
    let mut rows = Vec::new();
    for frame in frames {
        let table = TableReader::new("whole/networks", frame);
        let (network, side, party, setting, method) = (
            table.text(NETWORK)?,
            table.text(SIDE)?,
            table.text(PARTY)?,
            table.text(SETTING)?,
            table.text(METHOD)?,
        );
        let (t, e, p, tp) = (
            table.numbers(T_SNNI_S)?,
            table.numbers(ERROR_S)?,
            table.numbers(ERROR_PCT)?,
            table.numbers(T_PRED_MS)?,
        );
        let recommended = table.text(RECOMMENDED_METHOD)?;
        for i in 0..network.len() {
            rows.push(NetworkRow {
                network: network[i].clone(),
                side: side[i].clone(),
                party: party[i].clone(),
                setting: setting[i].clone(),
                method: method[i].clone(),
                t_snni: t[i],
                error_s: e[i],
                error_pct: p[i],
                t_pred_ms: tp[i],
                recommended: recommended[i].clone(),
            });
        }
    }
    Ok(rows)
}

/// The recommended method of `party` in `setting`, "–" when none was chosen.
fn recommended_of(rows: &[NetworkRow], setting: &str, party: &str) -> String {
    rows.iter()
        .find(|r| r.setting == setting && r.party == party && !r.recommended.is_empty())
        .map_or("–".to_string(), |r| r.recommended.clone())
}

/// `cell`, with `*` after it when it is the recommended method's.
fn mark(cell: String, recommended: bool) -> String {
    if recommended {
        format!("{cell}*")
    } else {
        cell
    }
}

/// Tables 9–10: per setting, network × party, methods side by side with each party's
/// recommended method named (and its error marked `*`); then the validation and test
/// networks' mean and max |error %| per method — validation chose the recommended method,
/// test shows how it does.
fn whole_tables(rows: &[NetworkRow]) -> Vec<Table> {
    let mut methods: Vec<&str> = Method::NETWORK
        .iter()
        .map(|m| m.name())
        .filter(|m| rows.iter().any(|r| r.method == *m))
        .collect();
    methods.dedup();
    let settings: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.setting.as_str()).collect();
    let mut out = Vec::new();
    for setting in settings {
        let mut header = vec!["Network".to_string(), "Party".into(), "t_SNNI (s)".into()];
        for m in &methods {
            header.extend([
                format!("{m} error (s)"),
                format!("{m} error %"),
                format!("{m} t_pred (ms)"),
            ]);
        }
        header.push("Recommended (validation)".into());
        let mut keys: Vec<(&str, &str)> = rows
            .iter()
            .filter(|r| r.setting == setting && r.side == "reference")
            .map(|r| (r.network.as_str(), r.party.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let body: Vec<Vec<String>> = keys
            .iter()
            .map(|(network, party)| {
                let cell = |m: &str| {
                    rows.iter().find(|r| {
                        r.setting == setting
                            && r.network == *network
                            && r.party == *party
                            && r.method == m
                    })
                };
                let recommended = recommended_of(rows, setting, party);
                let t = methods
                    .iter()
                    .find_map(|m| cell(m))
                    .map_or(f64::NAN, |r| r.t_snni);
                let mut row = vec![network.to_string(), party.to_string(), format_number(t, 3)];
                for m in &methods {
                    match cell(m) {
                        Some(r) => row.extend([
                            format_number(r.error_s, 3),
                            mark(format_number(r.error_pct, 1), *m == recommended),
                            format_number(r.t_pred_ms, 3),
                        ]),
                        None => row.extend(["–".into(), "–".into(), "–".into()]),
                    }
                }
                row.push(recommended);
                row
            })
            .collect();
        out.push(Table {
            title: format!("Whole-network prediction, setting `{setting}` (networks of the split's `held_out` stages — reference and hand-written — never trained on; * the recommended method, chosen on the validation networks or the split's `selection` networks)"),
            study: "9–10",
            header,
            rows: body,
        });
        let mut summary = Vec::new();
        for side in ["validation", "selection", "test"] {
            for party in ["server", "client"] {
                let recommended = recommended_of(rows, setting, party);
                let mut row = vec![party.to_string(), side.to_string()];
                let mut any = false;
                for m in &methods {
                    let errors: Vec<f64> = rows
                        .iter()
                        .filter(|r| {
                            r.setting == setting
                                && r.side == side
                                && r.party == party
                                && r.method == *m
                        })
                        .map(|r| r.error_pct.abs())
                        .collect();
                    any |= !errors.is_empty();
                    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
                    let max = errors.iter().copied().fold(f64::NAN, f64::max);
                    let cell = format!("{} / {}", format_number(mean, 1), format_number(max, 1));
                    row.push(mark(cell, *m == recommended));
                }
                row.push(recommended);
                if any {
                    summary.push(row);
                }
            }
        }
        let mut header = vec!["Party".to_string(), "Networks".to_string()];
        header.extend(
            methods
                .iter()
                .map(|m| format!("{m} mean / max abs. error %")),
        );
        header.push("Recommended (validation)".into());
        out.push(Table {
            title: format!("Whole-network prediction, setting `{setting}` (held-out synthesized networks: validation — or the split's `selection` networks, when it has them — chooses the recommended method *, test shows how it does)"),
            study: "9–10",
            header,
            rows: summary,
        });
    }
    out
}

/// Tables 1–6: per model, the investigated range and the chosen hyperparameters.
fn hyperparameter_tables(study: &Study, store: &Store) -> Result<Vec<Table>, CommandError> {
    let mut out = Vec::new();
    let space = |kind: &str| -> String {
        study
            .stages
            .iter()
            .find(|s| s.kind.name() == kind)
            .map(|s| s.params["space"].to_string())
            .unwrap_or_default()
    };
    let header: Vec<String> = [
        "Model",
        "Trial",
        "Hidden layers",
        "Widths",
        "Learning rate",
        "Batch",
        "Activation",
        "Recurrent",
        "Best val. loss",
    ]
    .map(String::from)
    .to_vec();
    let row = |model: &str, meta: &Value| -> Vec<String> {
        let h = &meta["hyperparams"];
        let hidden: Vec<String> = h["hidden"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.to_string())
            .collect();
        let recurrent = match (
            h["extra"]["cell"].as_str(),
            h["extra"]["rnn_units"].as_u64(),
        ) {
            (Some(cell), Some(units)) => format!("{cell} {units}"),
            _ => "–".into(),
        };
        vec![
            model.to_string(),
            meta["trial"]
                .as_u64()
                .map_or("default".into(), |t| t.to_string()),
            hidden.len().to_string(),
            hidden.join(" "),
            format!("{:.2e}", h["learning_rate"].as_f64().unwrap_or(f64::NAN)),
            h["batch_size"].to_string(),
            h["activation"].as_str().unwrap_or("").to_string(),
            recurrent,
            format!(
                "{:.4}",
                meta["best_validation"].as_f64().unwrap_or(f64::NAN)
            ),
        ]
    };
    if let Some(train) = record(study, store, "train")? {
        let metas = blobs(store, &train, "/mlp_meta")?;
        let rows: Vec<Vec<String>> = metas
            .iter()
            .map(|(name, meta)| row(name.trim_end_matches("/mlp_meta"), meta))
            .collect();
        out.push(Table {
            title: format!(
                "Chosen MLP hyperparameters per layer model (searched over {})",
                space("search")
            ),
            study: "1–3",
            header: header.clone(),
            rows,
        });
    }
    if let Some(whole) = record(study, store, "whole")? {
        let metas = blobs(store, &whole, "/rnn_meta")?;
        let rows: Vec<Vec<String>> = metas
            .iter()
            .map(|(name, meta)| row(&format!("rnn.{}", name.trim_end_matches("/rnn_meta")), meta))
            .collect();
        out.push(Table {
            title: format!(
                "Chosen sequence-model hyperparameters (searched over {})",
                space("sequence_search")
            ),
            study: "4–6",
            header,
            rows,
        });
    }
    Ok(out)
}

fn write(path: &Path, text: &str) -> Result<(), CommandError> {
    std::fs::write(path, text).map_err(|e| {
        CommandError::new(
            exit_codes::STORE_ERROR,
            format!("write {}: {e}", path.display()),
        )
    })
}

/// The whole-network and hyperparameter tables, with every plot and `index.html` written
/// under `report`; `per_layer` are the per-layer tables already made.
pub(crate) fn study_report(
    study: &Study,
    store: &Store,
    report: &Path,
    per_layer: &[Table],
) -> Result<Vec<Table>, CommandError> {
    std::fs::create_dir_all(report).map_err(|e| {
        CommandError::new(
            exit_codes::STORE_ERROR,
            format!("create {}: {e}", report.display()),
        )
    })?;
    let mut blocks = vec![Block::Heading("Per-layer prediction (tables 7–8)".into())];
    let mut extra = Vec::new();
    let block = |t: &Table| Block::Table {
        caption: t.title.clone(),
        header: t.header.clone(),
        rows: t.rows.clone(),
    };
    blocks.extend(per_layer.iter().map(block));

    // Predicted vs measured per layer type, one plot per setting and method family.
    if let Some(evaluate) = record(study, store, "evaluate")? {
        for frame in tables(store, &evaluate, "/predictions")? {
            let table = TableReader::new("evaluate/predictions", &frame);
            let (setting, view, method) =
                (table.text(SETTING)?, table.text(VIEW)?, table.text(METHOD)?);
            let (measured, predicted) = (table.numbers(MEASURED_S)?, table.numbers(PREDICTED_S)?);
            let mut series = PointsBy::new();
            for i in 0..setting.len() {
                series
                    .entry((setting[i].clone(), method[i].clone()))
                    .or_default()
                    .entry(view[i].clone())
                    .or_default()
                    .push((measured[i] * 1e3, predicted[i] * 1e3));
            }
            for ((setting, method), by_view) in series {
                let file = format!("layers_{setting}_{method}.svg");
                let plot = Scatter {
                    title: format!("{method}: predicted vs measured layer time, {setting}"),
                    x_label: "measured layer time (ms, log scale)".into(),
                    y_label: "predicted layer time (ms, log scale)".into(),
                    log: true,
                    series: by_view
                        .into_iter()
                        .map(|(name, points)| Series { name, points })
                        .collect(),
                };
                write(&report.join(&file), &report::scatter(&plot))?;
                blocks.push(Block::Image {
                    caption: format!("Per-layer predictions of `{method}` on the test networks, {setting} (y = x is exact)"),
                    file,
                });
            }
        }
    }

    if let Some(whole) = record(study, store, "whole")? {
        let rows = network_rows(&tables(store, &whole, "/networks")?)?;
        let whole_tables = whole_tables(&rows);
        blocks.push(Block::Heading(
            "Whole-network prediction (tables 9–10)".into(),
        ));
        blocks.extend(whole_tables.iter().map(block));
        extra.extend(whole_tables);
        // Error per network and method.
        let settings: std::collections::BTreeSet<String> =
            rows.iter().map(|r| r.setting.clone()).collect();
        for setting in settings {
            let mut categories: Vec<String> = rows
                .iter()
                .filter(|r| r.setting == setting)
                .map(|r| format!("{} ({})", r.network, r.party))
                .collect();
            categories.sort();
            categories.dedup();
            let groups = Method::NETWORK
                .iter()
                .map(|m| BarGroup {
                    name: m.name().to_string(),
                    values: categories
                        .iter()
                        .map(|c| {
                            rows.iter()
                                .find(|r| {
                                    r.setting == setting
                                        && r.method == m.name()
                                        && format!("{} ({})", r.network, r.party) == *c
                                })
                                .map_or(f64::NAN, |r| r.error_pct)
                        })
                        .collect(),
                })
                .collect();
            let file = format!("networks_error_{setting}.svg");
            let plot = Bars {
                title: format!("Whole-network error per network and method, {setting}"),
                y_label: "prediction error (%)".into(),
                categories,
                groups,
            };
            write(&report.join(&file), &report::bars(&plot))?;
            blocks.push(Block::Image {
                caption: format!("Whole-network prediction error (%), {setting}"),
                file,
            });
        }
        // Cost breakdown of each reference network by layer kind (measured).
        for frame in tables(store, &whole, "/layers")? {
            let table = TableReader::new("whole/layers", &frame);
            let (network, side, party, setting, method, kind) = (
                table.text(NETWORK)?,
                table.text(SIDE)?,
                table.text(PARTY)?,
                table.text(SETTING)?,
                table.text(METHOD)?,
                table.text(KIND)?,
            );
            let measured = table.numbers(MEASURED_S)?;
            let mut sums: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            for i in 0..network.len() {
                if side[i] == "reference" && method[i] == Method::Protocol.name() {
                    *sums
                        .entry(format!("{} ({})", network[i], party[i]))
                        .or_default()
                        .entry(kind[i].clone())
                        .or_default() += measured[i];
                }
            }
            if sums.is_empty() {
                continue;
            }
            let Some(setting) = setting.first().cloned() else {
                continue;
            };
            let party = party.first().cloned().unwrap_or_default();
            let categories: Vec<String> = sums.keys().cloned().collect();
            let kinds: std::collections::BTreeSet<String> =
                sums.values().flat_map(|k| k.keys().cloned()).collect();
            let parts = kinds
                .into_iter()
                .map(|k| BarGroup {
                    values: categories
                        .iter()
                        .map(|c| sums[c].get(&k).copied().unwrap_or(0.0))
                        .collect(),
                    name: k,
                })
                .collect();
            let file = format!("breakdown_{setting}_{party}.svg");
            let plot = Stacked {
                title: format!(
                    "Measured time by layer kind, reference networks, {setting}, {party}"
                ),
                y_label: "measured time (s)".into(),
                categories,
                parts,
            };
            write(&report.join(&file), &report::stacked(&plot))?;
            blocks.push(Block::Image {
                caption: format!("Where the reference networks' time goes ({setting}, {party})"),
                file,
            });
        }
    } else {
        blocks.push(Block::Paragraph(
            "The study has no `whole` stage: no whole-network results.".into(),
        ));
    }

    let hyper = hyperparameter_tables(study, store)?;
    blocks.push(Block::Heading("Chosen hyperparameters (tables 1–6)".into()));
    blocks.extend(hyper.iter().map(block));
    extra.extend(hyper);
    let title = format!("snni-lab report: {}", study.name);
    write(&report.join("index.html"), &report::index(&title, &blocks))?;
    Ok(extra)
}
