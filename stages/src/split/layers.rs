//! Reading the dataset's `tables/layers` into [`LayerRows`]: the key columns, the network's
//! family and source stage, and the feature columns the leak check compares
//! ([`FEATURE_COLUMNS`]), all through the schema's reader.

use std::collections::BTreeMap;

use polars::prelude::DataFrame;
use snni_artifacts::{BlobSource, Output};

use super::error;
use crate::schema::dataset::{
    FAMILY, FEATURE_COLUMNS, KIND, LAYER, NETWORK, PARTY, RUN, SETTING, SOURCE_STAGE,
};
use crate::schema::{SchemaError, TableReader};
use crate::{StageError, UpstreamStage};

/// The dataset output the split reads.
pub const LAYERS_OUTPUT: &str = "tables/layers";

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
    pub fn from_frame(df: &DataFrame) -> Result<LayerRows, SchemaError> {
        let table = TableReader::new(LAYERS_OUTPUT, df);
        let mut features = vec![Vec::with_capacity(FEATURE_COLUMNS.len()); df.height()];
        for column in FEATURE_COLUMNS {
            for (row, value) in features.iter_mut().zip(table.comparable(column)?) {
                row.push(value);
            }
        }
        Ok(LayerRows {
            network: table.text(NETWORK)?,
            family: table.text(FAMILY)?,
            source_stage: table.text(SOURCE_STAGE)?,
            setting: table.text(SETTING)?,
            run: table.counts(RUN)?,
            party: table.text(PARTY)?,
            layer: table.counts(LAYER)?,
            kind: table.text(KIND)?,
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
    LayerRows::from_frame(&df).map_err(|err| error(&stage.name, err.to_string()))
}
