//! The outputs of a split: the `assignment` and `rows` tables and the `summary` blob.

use std::collections::BTreeMap;

use polars::prelude::{Column, DataFrame};
use serde::Serialize;

use super::assign::Side;
use super::layers::{LayerRows, NetworkInfo};
use super::leak::LeakReport;
use crate::kind::OutputData;
use crate::schema::dataset::{FAMILY, KIND, LAYER, NETWORK, PARTY, RUN, SETTING, SOURCE_STAGE};
use crate::schema::results::{SIDE, SPEED_FACTOR};
use crate::schema::ColumnDef;
use crate::StageError;

fn table(name: &str, height: usize, columns: Vec<Column>) -> Result<OutputData, StageError> {
    DataFrame::new(height, columns)
        .map(OutputData::Table)
        .map_err(|err| StageError::Serialize {
            name: name.to_string(),
            message: err.to_string(),
        })
}

fn text_column<'a>(column: ColumnDef, values: impl Iterator<Item = &'a str>) -> Column {
    let values: Vec<&str> = values.collect();
    Column::new(column.name.into(), values)
}

/// One row per network: `network`, `family`, `source_stage`, `side`.
pub fn assignment_table(
    networks: &[NetworkInfo],
    sides: &BTreeMap<String, Side>,
) -> Result<OutputData, StageError> {
    let columns = vec![
        text_column(NETWORK, networks.iter().map(|n| n.network.as_str())),
        text_column(FAMILY, networks.iter().map(|n| n.family.as_str())),
        text_column(
            SOURCE_STAGE,
            networks.iter().map(|n| n.source_stage.as_str()),
        ),
        text_column(
            SIDE,
            networks.iter().map(|n| sides[n.network.as_str()].as_str()),
        ),
    ];
    table("assignment", networks.len(), columns)
}

/// One row per row of the layer table, in its order: the key columns and `side`, and with
/// `speed: probe` the factor its run's times are multiplied by (`speed_factor`).
pub fn rows_table(
    rows: &LayerRows,
    sides: &[Side],
    speed_factors: Option<&[f64]>,
) -> Result<OutputData, StageError> {
    let mut columns = vec![
        text_column(NETWORK, rows.network.iter().map(String::as_str)),
        text_column(SETTING, rows.setting.iter().map(String::as_str)),
        Column::new(RUN.name.into(), rows.run.clone()),
        text_column(PARTY, rows.party.iter().map(String::as_str)),
        Column::new(LAYER.name.into(), rows.layer.clone()),
        text_column(KIND, rows.kind.iter().map(String::as_str)),
        text_column(SIDE, sides.iter().map(|side| side.as_str())),
    ];
    if let Some(factors) = speed_factors {
        columns.push(Column::new(SPEED_FACTOR.name.into(), factors.to_vec()));
    }
    table("rows", rows.len(), columns)
}

/// The `summary` blob: how the split was made, the counts per side and the leak check.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `network` or `row`.
    pub by: &'static str,
    /// The stage seed.
    pub seed: u64,
    /// Networks per side.
    pub networks: BTreeMap<&'static str, u64>,
    /// Rows per side.
    pub rows: BTreeMap<&'static str, u64>,
    /// Per family, networks per side.
    pub families: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// The leak check.
    pub leak: LeakReport,
    /// With `speed: probe`, the fit per setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<BTreeMap<String, super::speed::SettingSpeed>>,
}

impl Summary {
    /// Counts the sides.
    pub fn new(
        by: &'static str,
        seed: u64,
        networks: &[NetworkInfo],
        network_sides: &BTreeMap<String, Side>,
        row_sides: &[Side],
        leak: LeakReport,
    ) -> Summary {
        let mut summary = Summary {
            by,
            seed,
            networks: BTreeMap::new(),
            rows: BTreeMap::new(),
            families: BTreeMap::new(),
            leak,
            speed: None,
        };
        for info in networks {
            let side = network_sides[info.network.as_str()].as_str();
            *summary.networks.entry(side).or_default() += 1;
            *summary
                .families
                .entry(info.family.clone())
                .or_default()
                .entry(side)
                .or_default() += 1;
        }
        for side in row_sides {
            *summary.rows.entry(side.as_str()).or_default() += 1;
        }
        summary
    }

    /// `networks train 9, validation 3, …; rows train …` for the log.
    pub fn counts_line(&self) -> String {
        let list = |counts: &BTreeMap<&str, u64>| {
            counts
                .iter()
                .map(|(side, count)| format!("{side} {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "networks {}; rows {}",
            list(&self.networks),
            list(&self.rows)
        )
    }

    /// `leak: 12 of 400 test rows (3.0 %) have a feature twin in training`.
    pub fn leak_line(&self) -> String {
        format!(
            "leak: {} of {} test rows ({:.1} %) have a feature twin in training",
            self.leak.with_twin_in_train,
            self.leak.test_rows,
            self.leak.fraction * 100.0
        )
    }

    /// The summary as pretty JSON.
    pub fn to_output(&self) -> Result<OutputData, StageError> {
        OutputData::json("summary", self)
    }
}
