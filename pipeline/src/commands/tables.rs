//! `snni tables`: the study's result tables regenerated from the store alone — no
//! recomputation; a missing input names the stage to run. Per-layer results are laid out
//! like the study's tables 7–8: per setting, one row per layer type × party, the methods
//! side by side (MAE, R², t_pred), with the mean measured layer time.

use std::collections::BTreeMap;

use snni_artifacts::{Output, Store};
use snni_stages::schema::dataset::{PARTY, SETTING};
use snni_stages::schema::results::{
    MAE_S, METHOD, R2, R2_CEILING, R2_RUN_MEAN, RECOMMENDED_METHOD, SPLIT, T_LAYER_S, T_PRED_US,
    VIEW,
};
use snni_stages::schema::TableReader;
use snni_stages::{view_label, view_position, Method};

use super::{load_study, open_for_reading, stored, CommandError, CommandResult};
use crate::cli::{TableFormat, TablesArgs};
use crate::exit_codes;
use crate::manifest::Study;
use crate::report::{self, format_number, Table};

/// One row of the per-layer table: metrics of one method.
#[derive(Debug, Clone)]
struct Metrics {
    t_layer_s: f64,
    mae_s: f64,
    r2: f64,
    t_pred_us: f64,
    /// R² against each layer's mean over its runs, and the run-to-run noise ceiling of
    /// the single-run R² (absent in stores evaluated before they were recorded).
    repeated: Option<(f64, f64)>,
    /// The group's method recommended on the validation networks ("" when none).
    recommended: String,
}

/// A table's rows for one setting: (order, `view|party`) → method → metrics.
type SettingRows = BTreeMap<(usize, String), BTreeMap<String, Metrics>>;

/// Setting → rows, plus the split that produced them.
struct PerLayer {
    split: String,
    cells: BTreeMap<String, SettingRows>,
}

/// The per-layer table of the study's `evaluate` stage.
fn per_layer(study: &Study, store: &Store) -> Result<PerLayer, CommandError> {
    let record = stored::record(study, store, "evaluate")?.ok_or_else(|| {
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
    let table = TableReader::new("evaluate/per_layer", &frame);
    let views = table.text(VIEW)?;
    let parties = table.text(PARTY)?;
    let settings = table.text(SETTING)?;
    let methods = table.text(METHOD)?;
    let split = table.text(SPLIT)?;
    let recommended = table.text(RECOMMENDED_METHOD)?;
    let (t_layer, mae, r2, t_pred) = (
        table.numbers(T_LAYER_S)?,
        table.numbers(MAE_S)?,
        table.numbers(R2)?,
        table.numbers(T_PRED_US)?,
    );
    let repeated = match (
        table.optional_numbers(R2_RUN_MEAN)?,
        table.optional_numbers(R2_CEILING)?,
    ) {
        (Some(mean), Some(ceiling)) => Some((mean, ceiling)),
        _ => None,
    };
    let mut cells: BTreeMap<String, SettingRows> = BTreeMap::new();
    for i in 0..views.len() {
        let order = view_position(&views[i]);
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
                    recommended: recommended[i].clone(),
                },
            );
    }
    Ok(PerLayer {
        split: split.first().cloned().unwrap_or_else(|| "network".into()),
        cells,
    })
}

/// The per-layer tables (7–8 layout), one per setting.
fn per_layer_tables(per_layer: &PerLayer) -> Vec<Table> {
    let methods: Vec<Method> = Method::PER_LAYER
        .into_iter()
        .filter(|m| {
            per_layer
                .cells
                .values()
                .flat_map(|rows| rows.values())
                .any(|cells| cells.contains_key(m.name()))
        })
        .collect();
    let mut tables = Vec::new();
    for (setting, rows) in &per_layer.cells {
        let mut header = vec![
            "Layer".to_string(),
            "Party".to_string(),
            "t_layer (ms)".to_string(),
        ];
        for label in methods.iter().map(|m| m.label()) {
            header.extend([
                format!("{label} MAE (ms)"),
                format!("{label} R²"),
                format!("{label} t_pred (µs)"),
            ]);
        }
        header.push("Recommended (validation)".to_string());
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
                for method in &methods {
                    match cells.get(method.name()) {
                        Some(m) => row.extend([
                            format_number(m.mae_s * 1e3, 3),
                            format_number(m.r2, 3),
                            format_number(m.t_pred_us, 2),
                        ]),
                        None => row.extend(["–".to_string(), "–".to_string(), "–".to_string()]),
                    }
                }
                row.push(recommended_label(cells.values().next()));
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

/// The label of a group's recommended method, "–" when it has none.
fn recommended_label(metrics: Option<&Metrics>) -> String {
    metrics
        .and_then(|m| m.recommended.parse::<Method>().ok())
        .map_or("–".to_string(), |m| m.label().to_string())
}

/// R² against each layer's mean over its runs, beside the noise ceiling of single runs:
/// what separates a model's error from the machine's run-to-run noise.
fn repeated_table(setting: &str, rows: &SettingRows, methods: &[Method]) -> Option<Table> {
    let mut header = vec![
        "Layer".to_string(),
        "Party".to_string(),
        "Noise ceiling R² (single runs)".to_string(),
    ];
    header.extend(
        methods
            .iter()
            .map(|m| format!("{} R² (run mean)", m.label())),
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
        row.extend(methods.iter().map(|method| {
            cells
                .get(method.name())
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

/// When the study's split scaled the times to one machine speed (`speed: probe`), what the
/// captions of the timed tables say about it: the times, measured and predicted, are at
/// each setting's reference speed.
fn speed_note(study: &Study, store: &Store) -> Result<Option<String>, CommandError> {
    let Some(split) = stored::record(study, store, "split")? else {
        return Ok(None);
    };
    let mut settings = Vec::new();
    for (name, summary) in stored::blobs(store, &split, "/summary")? {
        let speeds = snni_stages::speeds_of_split_summary(&summary)
            .map_err(|e| CommandError::new(exit_codes::STORE_ERROR, format!("read {name}: {e}")))?;
        settings.extend(speeds.iter().map(|(setting, speed)| {
            format!(
                "{setting} {:.1} (β {:.2})",
                speed.reference_he_per_s, speed.beta
            )
        }));
    }
    Ok((!settings.is_empty()).then(|| {
        format!(
            "; times at the training runs' median machine speed (split `speed: probe`, HE layers/s: {})",
            settings.join(", ")
        )
    }))
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
    if let Some(note) = speed_note(&study, &store)? {
        for table in tables
            .iter_mut()
            .filter(|t| matches!(t.study, "7–8" | "9–10"))
        {
            table.title.push_str(&note);
        }
    }
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
