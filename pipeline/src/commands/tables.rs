//! `snni tables`: the study's result tables regenerated from the store alone — no
//! recomputation; a missing input names the stage to run. Per-layer results are laid out
//! like the study's tables 7–8: per setting, one row per layer type × party, the methods
//! side by side (MAE, R², t_pred), with the mean measured layer time.

use std::collections::BTreeMap;

use polars::prelude::{DataFrame, DataType};
use snni_artifacts::{Output, Store};

use super::{load_study, open_for_reading, CommandError, CommandResult};
use crate::cli::{TableFormat, TablesArgs};
use crate::exit_codes;
use crate::manifest::Study;
use crate::report::{self, Table};

/// The per-layer methods, in column order, with their headings.
const METHODS: [(&str, &str); 4] = [
    ("analytical", "Analytical"),
    ("protocol", "Protocol"),
    ("transfer", "Protocol (from Local)"),
    ("mlp", "MLP"),
];

/// One row of the per-layer table: metrics of one method.
#[derive(Debug, Clone, Copy)]
struct Metrics {
    t_layer_s: f64,
    mae_s: f64,
    r2: f64,
    t_pred_us: f64,
    /// R² against each layer's mean over its runs, and the run-to-run noise ceiling of
    /// the single-run R² (absent in stores evaluated before they were recorded).
    repeated: Option<(f64, f64)>,
}

/// A table's rows for one setting: (order, `view|party`) → method → metrics.
type SettingRows = BTreeMap<(usize, String), BTreeMap<String, Metrics>>;

/// Setting → rows, plus the split that produced them.
struct PerLayer {
    split: String,
    cells: BTreeMap<String, SettingRows>,
}

pub(crate) fn column_strings(frame: &DataFrame, name: &str) -> Result<Vec<String>, CommandError> {
    let column = frame.column(name).map_err(|e| table_error(name, &e))?;
    let column = column.str().map_err(|e| table_error(name, &e))?;
    Ok(column
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

pub(crate) fn column_numbers(frame: &DataFrame, name: &str) -> Result<Vec<f64>, CommandError> {
    let column = frame.column(name).map_err(|e| table_error(name, &e))?;
    let column = column
        .cast(&DataType::Float64)
        .map_err(|e| table_error(name, &e))?;
    let column = column.f64().map_err(|e| table_error(name, &e))?;
    Ok(column.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn table_error(column: &str, error: &dyn std::fmt::Display) -> CommandError {
    CommandError::new(
        exit_codes::STORE_ERROR,
        format!("read column `{column}` of the per-layer table: {error}"),
    )
}

/// The order layer types are listed in.
const VIEW_ORDER: [&str; 8] = [
    "conv",
    "fc",
    "batch_norm",
    "relu",
    "max_pool",
    "avg_pool",
    "poly_act",
    "add_concat",
];

fn view_label(view: &str) -> &str {
    match view {
        "conv" => "CONV",
        "fc" => "FC",
        "batch_norm" => "BN",
        "relu" => "ReLU",
        "max_pool" => "MaxPool",
        "avg_pool" => "AvgPool",
        "poly_act" => "PolyAct",
        "add_concat" => "Add/Concat",
        other => other,
    }
}

/// The per-layer table of the study's `evaluate` stage.
fn per_layer(study: &Study, store: &Store) -> Result<PerLayer, CommandError> {
    let record = super::report::record(study, store, "evaluate")?.ok_or_else(|| {
        CommandError::new(
            exit_codes::MISSING_INPUT,
            format!("{} has no `evaluate` stage", study.manifest.display()),
        )
        .help("add split, search, train and evaluate stages (see manifests/smoke.yaml)")
    })?;
    let Some(Output::Table(table)) = record.outputs.get("per_layer/per_layer") else {
        return Err(CommandError::new(
            exit_codes::MISSING_INPUT,
            format!(
                "the `evaluate` record in {} has no per-layer table",
                study.store.display()
            ),
        )
        .help(format!(
            "re-run it: snni run {} --force evaluate",
            study.manifest.display()
        )));
    };
    let frame = store.read_table(table)?;
    let views = column_strings(&frame, "view")?;
    let parties = column_strings(&frame, "party")?;
    let settings = column_strings(&frame, "setting")?;
    let methods = column_strings(&frame, "method")?;
    let split = column_strings(&frame, "split")?;
    let (t_layer, mae, r2, t_pred) = (
        column_numbers(&frame, "t_layer_s")?,
        column_numbers(&frame, "mae_s")?,
        column_numbers(&frame, "r2")?,
        column_numbers(&frame, "t_pred_us")?,
    );
    let repeated = match (
        frame.column("r2_run_mean").is_ok(),
        frame.column("r2_ceiling").is_ok(),
    ) {
        (true, true) => Some((
            column_numbers(&frame, "r2_run_mean")?,
            column_numbers(&frame, "r2_ceiling")?,
        )),
        _ => None,
    };
    let mut cells: BTreeMap<String, SettingRows> = BTreeMap::new();
    for i in 0..views.len() {
        let order = VIEW_ORDER
            .iter()
            .position(|v| *v == views[i])
            .unwrap_or(VIEW_ORDER.len());
        cells
            .entry(settings[i].clone())
            .or_default()
            .entry((
                order * 2 + usize::from(parties[i] == "client"),
                format!("{}|{}", views[i], parties[i]),
            ))
            .or_default()
            .insert(
                methods[i].clone(),
                Metrics {
                    t_layer_s: t_layer[i],
                    mae_s: mae[i],
                    r2: r2[i],
                    t_pred_us: t_pred[i],
                    repeated: repeated
                        .as_ref()
                        .map(|(mean, ceiling)| (mean[i], ceiling[i])),
                },
            );
    }
    Ok(PerLayer {
        split: split.first().cloned().unwrap_or_else(|| "network".into()),
        cells,
    })
}

pub(crate) fn format_number(value: f64, digits: usize) -> String {
    if value.is_nan() {
        "–".to_string()
    } else {
        format!("{value:.digits$}")
    }
}

/// The per-layer tables (7–8 layout), one per setting.
fn per_layer_tables(per_layer: &PerLayer) -> Vec<Table> {
    let methods: Vec<(&str, &str)> = METHODS
        .iter()
        .copied()
        .filter(|(m, _)| {
            per_layer
                .cells
                .values()
                .flat_map(|rows| rows.values())
                .any(|cells| cells.contains_key(*m))
        })
        .collect();
    let mut tables = Vec::new();
    for (setting, rows) in &per_layer.cells {
        let mut header = vec![
            "Layer".to_string(),
            "Party".to_string(),
            "t_layer (ms)".to_string(),
        ];
        for (_, label) in &methods {
            header.extend([
                format!("{label} MAE (ms)"),
                format!("{label} R²"),
                format!("{label} t_pred (µs)"),
            ]);
        }
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|((_, key), cells)| {
                let (view, party) = key.split_once('|').unwrap_or((key, ""));
                let t_layer = cells.values().next().map_or(f64::NAN, |m| m.t_layer_s);
                let mut row = vec![
                    view_label(view).to_string(),
                    party.to_string(),
                    format_number(t_layer * 1e3, 2),
                ];
                for (method, _) in &methods {
                    match cells.get(*method) {
                        Some(m) => row.extend([
                            format_number(m.mae_s * 1e3, 3),
                            format_number(m.r2, 3),
                            format_number(m.t_pred_us, 2),
                        ]),
                        None => row.extend(["–".to_string(), "–".to_string(), "–".to_string()]),
                    }
                }
                row
            })
            .collect();
        tables.push(Table {
            title: format!(
                "Per-layer prediction, setting `{setting}` (test networks; split by {})",
                per_layer.split
            ),
            study: "7–8",
            header,
            rows: body,
        });
        if let Some(table) = repeated_table(setting, rows, &methods) {
            tables.push(table);
        }
    }
    tables
}

/// R² against each layer's mean over its runs, beside the noise ceiling of single runs:
/// what separates a model's error from the machine's run-to-run noise.
fn repeated_table(setting: &str, rows: &SettingRows, methods: &[(&str, &str)]) -> Option<Table> {
    let mut header = vec![
        "Layer".to_string(),
        "Party".to_string(),
        "Noise ceiling R² (single runs)".to_string(),
    ];
    header.extend(
        methods
            .iter()
            .map(|(_, label)| format!("{label} R² (run mean)")),
    );
    let mut body = Vec::new();
    for ((_, key), cells) in rows {
        let ceiling = cells.values().find_map(|m| m.repeated.map(|(_, c)| c))?;
        let (view, party) = key.split_once('|').unwrap_or((key, ""));
        let mut row = vec![
            view_label(view).to_string(),
            party.to_string(),
            format_number(ceiling, 3),
        ];
        row.extend(methods.iter().map(|(method, _)| {
            cells
                .get(*method)
                .and_then(|m| m.repeated)
                .map_or("–".to_string(), |(mean, _)| format_number(mean, 3))
        }));
        body.push(row);
    }
    Some(Table {
        title: format!(
            "Per-layer R² against each layer's mean over its runs, setting `{setting}` (the ceiling is the best R² on single runs)"
        ),
        study: "7–8",
        header,
        rows: body,
    })
}

/// `snni tables`.
pub fn tables(args: TablesArgs) -> CommandResult {
    let study = load_study(&args.manifest, &args.store)?;
    let store = open_for_reading(&study.store)?;
    let activity = super::progress::Activity::start("reading the per-layer results");
    let per_layer = per_layer(&study, &store)?;
    let mut tables = per_layer_tables(&per_layer);
    let report = super::report_dir(&study.store, &study.name);
    activity.set("reading whole-network results and drawing the plots");
    let extra = super::report::study_report(&study, &store, &report, &tables)?;
    tables.extend(extra);
    drop(activity);
    let write = |path: &std::path::Path, text: &str| {
        std::fs::create_dir_all(path.parent().unwrap_or(&report))
            .and_then(|()| std::fs::write(path, text))
            .map_err(|e| {
                CommandError::new(
                    exit_codes::STORE_ERROR,
                    format!("write {}: {e}", path.display()),
                )
            })
    };
    match args.format {
        TableFormat::Markdown | TableFormat::Latex => {
            let (text, file) = match args.format {
                TableFormat::Latex => (
                    report::latex::document(&format!("snni-lab report: {}", study.name), &tables),
                    "tables.tex",
                ),
                _ => (report::table::markdown(&tables), "tables.md"),
            };
            let path = report.join(file);
            write(&path, &text)?;
            print!("{text}");
            eprintln!("written to {}", path.display());
        }
        TableFormat::Csv => {
            // One file per table (no reader takes several tables in one CSV); stdout
            // lists the files, the index first.
            let dir = report.join("csv");
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    CommandError::new(
                        exit_codes::STORE_ERROR,
                        format!("replace {}: {e}", dir.display()),
                    )
                })?;
            }
            let files = report::csv::files(&tables);
            for (name, text) in &files {
                write(&dir.join(name), text)?;
            }
            for (name, _) in files.iter().rev().take(1).chain(&files[..files.len() - 1]) {
                println!("{}", dir.join(name).display());
            }
            eprintln!("{} tables written to {}", tables.len(), dir.display());
        }
    }
    Ok(exit_codes::SUCCESS)
}
