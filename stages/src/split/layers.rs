//! Reading the dataset's `tables/layers` into [`LayerRows`]: the key columns, the network's
//! family and source stage, and the feature columns the leak check compares.

use std::collections::BTreeMap;

use polars::prelude::{DataFrame, DataType};
use snni_artifacts::{BlobSource, Output};

use super::error;
use crate::{StageError, UpstreamStage};

/// The dataset output the split reads.
pub const LAYERS_OUTPUT: &str = "tables/layers";

/// The columns a feature twin must match, besides `kind`, `party` and `setting`: the raw
/// layer parameters and the engineered features.
pub const FEATURE_COLUMNS: [&str; 20] = [
    "in_h",
    "in_w",
    "in_c",
    "out_h",
    "out_w",
    "out_c",
    "kernel_h",
    "kernel_w",
    "stride",
    "padding",
    "filters",
    "units",
    "inputs",
    "elements",
    "relu_fraction",
    "degree",
    "flops",
    "input_size",
    "weight_size",
    "output_size",
];

/// One network of the dataset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NetworkInfo {
    /// The network's id in the study.
    pub network: String,
    /// Its family.
    pub family: String,
    /// The stage that produced it.
    pub source_stage: String,
}

/// The columns of the layer table the split uses, one vector per column.
#[derive(Debug, Default)]
pub struct LayerRows {
    /// Network id.
    pub network: Vec<String>,
    /// Network family.
    pub family: Vec<String>,
    /// The stage that produced the network.
    pub source_stage: Vec<String>,
    /// Setting name.
    pub setting: Vec<String>,
    /// Run number.
    pub run: Vec<u64>,
    /// `client` or `server`.
    pub party: Vec<String>,
    /// Layer index.
    pub layer: Vec<u64>,
    /// Layer kind.
    pub kind: Vec<String>,
    /// The [`FEATURE_COLUMNS`] of every row, in that order; floats by their bits.
    pub features: Vec<Vec<Option<u64>>>,
}

impl LayerRows {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.network.len()
    }

    /// Every network with rows, sorted by id.
    pub fn networks(&self) -> Vec<NetworkInfo> {
        let mut networks: BTreeMap<&str, NetworkInfo> = BTreeMap::new();
        for i in 0..self.len() {
            networks
                .entry(&self.network[i])
                .or_insert_with(|| NetworkInfo {
                    network: self.network[i].clone(),
                    family: self.family[i].clone(),
                    source_stage: self.source_stage[i].clone(),
                });
        }
        networks.into_values().collect()
    }

    /// Reads the columns of `df`, which must have every one of them.
    pub fn from_frame(df: &DataFrame) -> Result<LayerRows, String> {
        let mut features = vec![Vec::with_capacity(FEATURE_COLUMNS.len()); df.height()];
        for name in FEATURE_COLUMNS {
            for (row, value) in features.iter_mut().zip(feature_column(df, name)?) {
                row.push(value);
            }
        }
        Ok(LayerRows {
            network: strings(df, "network")?,
            family: strings(df, "family")?,
            source_stage: strings(df, "source_stage")?,
            setting: strings(df, "setting")?,
            run: required_u64s(df, "run")?,
            party: strings(df, "party")?,
            layer: required_u64s(df, "layer")?,
            kind: strings(df, "kind")?,
            features,
        })
    }
}

/// Reads `tables/layers` of the dataset stage.
pub fn read(stage: &UpstreamStage, store: &dyn BlobSource) -> Result<LayerRows, StageError> {
    let table = match stage.record.outputs.get(LAYERS_OUTPUT) {
        Some(Output::Table(table)) => table,
        Some(Output::Blob { .. }) => {
            return Err(error(
                &stage.name,
                format!("`{LAYERS_OUTPUT}` is a blob, not a table"),
            ))
        }
        None => {
            return Err(error(
                &stage.name,
                format!("the dataset stage has no output `{LAYERS_OUTPUT}`"),
            ))
        }
    };
    let df = store
        .read_table(table)
        .map_err(|source| StageError::Store {
            name: format!("{}/{LAYERS_OUTPUT}", stage.name),
            source: Box::new(source),
        })?;
    LayerRows::from_frame(&df)
        .map_err(|message| error(&stage.name, format!("`{LAYERS_OUTPUT}`: {message}")))
}

fn series(df: &DataFrame, name: &str) -> Result<polars::prelude::Series, String> {
    df.column(name)
        .map(|column| column.as_materialized_series().clone())
        .map_err(|_| format!("no column `{name}`"))
}

fn strings(df: &DataFrame, name: &str) -> Result<Vec<String>, String> {
    let series = series(df, name)?;
    let values = series
        .str()
        .map_err(|_| format!("column `{name}` is {}, not text", series.dtype()))?;
    values
        .iter()
        .map(|value| {
            value
                .map(str::to_string)
                .ok_or_else(|| format!("column `{name}` has a null"))
        })
        .collect()
}

fn u64s(series: &polars::prelude::Series, name: &str) -> Result<Vec<Option<u64>>, String> {
    let cast = series
        .strict_cast(&DataType::UInt64)
        .map_err(|_| format!("column `{name}` is {}, not unsigned", series.dtype()))?;
    let values = cast.u64().map_err(|err| err.to_string())?;
    Ok(values.iter().collect())
}

fn required_u64s(df: &DataFrame, name: &str) -> Result<Vec<u64>, String> {
    u64s(&series(df, name)?, name)?
        .into_iter()
        .map(|value| value.ok_or_else(|| format!("column `{name}` has a null")))
        .collect()
}

/// A feature column as comparable values: integers as they are, floats by their bits
/// (`-0.0` as `0.0`), nulls as `None`.
fn feature_column(df: &DataFrame, name: &str) -> Result<Vec<Option<u64>>, String> {
    let series = series(df, name)?;
    if series.dtype().is_float() {
        let cast = series
            .cast(&DataType::Float64)
            .map_err(|err| err.to_string())?;
        let values = cast.f64().map_err(|err| err.to_string())?;
        Ok(values
            .iter()
            .map(|value| value.map(|v| (v + 0.0).to_bits()))
            .collect())
    } else {
        u64s(&series, name)
    }
}
