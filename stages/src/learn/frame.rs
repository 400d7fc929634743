//! The upstream tables the learning stages read: the dataset's per-type views joined (by
//! key, not position) with the split's side of every row, as plain columns.

use std::collections::HashMap;

use polars::prelude::{DataFrame, DataType};
use snni_artifacts::{BlobSource, Output};

use crate::{StageError, UpstreamStage};

/// Which side of the split a row is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Fitted on.
    Train,
    /// Tuning and early stopping.
    Validation,
    /// Held-out synthesized networks: the per-layer evaluation.
    Test,
    /// Held-out reference networks (whole-network test set).
    Reference,
}

impl Side {
    fn parse(text: &str) -> Option<Side> {
        match text {
            "train" => Some(Side::Train),
            "validation" => Some(Side::Validation),
            "test" => Some(Side::Test),
            "reference" => Some(Side::Reference),
            _ => None,
        }
    }
}

/// One per-type view with every row's side.
#[derive(Debug, Default)]
pub struct ViewRows {
    /// Network id per row.
    pub network: Vec<String>,
    /// Setting per row.
    pub setting: Vec<String>,
    /// Party per row.
    pub party: Vec<String>,
    /// Run per row.
    pub run: Vec<u64>,
    /// Layer index per row.
    pub layer: Vec<u64>,
    /// Layer kind per row (empty strings when the table has no `kind`).
    pub kind: Vec<String>,
    /// The OT backend per row (`iknp` for datasets made before the column existed).
    pub ot: Vec<String>,
    /// Side per row.
    pub side: Vec<Side>,
    /// Every numeric column (nulls as 0).
    pub numbers: HashMap<String, Vec<f64>>,
}

impl ViewRows {
    /// Rows of `party` in `setting` on one of `sides`, in table order.
    pub fn select(&self, party: &str, setting: &str, sides: &[Side]) -> Vec<usize> {
        (0..self.network.len())
            .filter(|&i| {
                self.party[i] == party
                    && self.setting[i] == setting
                    && sides.contains(&self.side[i])
            })
            .collect()
    }

    /// The numeric column `name` (an error names the column if the dataset lacks it).
    pub fn column(&self, name: &str) -> Result<&[f64], StageError> {
        self.numbers
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| StageError::Learn {
                message: format!("the dataset has no column `{name}`"),
            })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.network.len()
    }
}

/// The table output `name` of the one upstream stage of kind `kind`.
pub fn upstream_table(
    store: &dyn BlobSource,
    upstream: &[UpstreamStage],
    kind: &str,
    name: &str,
) -> Result<DataFrame, StageError> {
    let stage = upstream
        .iter()
        .find(|s| s.kind == kind)
        .ok_or_else(|| StageError::Learn {
            message: format!("this stage needs a `{kind}` stage under `needs:`"),
        })?;
    let Some(Output::Table(table)) = stage.record.outputs.get(name) else {
        return Err(StageError::Learn {
            message: format!("stage `{}` has no table `{name}`", stage.name),
        });
    };
    store.read_table(table).map_err(|source| StageError::Store {
        name: format!("{}/{name}", stage.name),
        source: Box::new(source),
    })
}

fn strings(frame: &DataFrame, name: &str) -> Result<Vec<String>, StageError> {
    let column = frame.column(name).map_err(|e| polars_error(name, &e))?;
    let column = column.str().map_err(|e| polars_error(name, &e))?;
    Ok(column
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

fn numbers(frame: &DataFrame, name: &str) -> Result<Vec<f64>, StageError> {
    let column = frame.column(name).map_err(|e| polars_error(name, &e))?;
    let column = column
        .cast(&DataType::Float64)
        .map_err(|e| polars_error(name, &e))?;
    let column = column.f64().map_err(|e| polars_error(name, &e))?;
    Ok(column.iter().map(|v| v.unwrap_or(0.0)).collect())
}

fn polars_error(column: &str, error: &dyn std::fmt::Display) -> StageError {
    StageError::Learn {
        message: format!("read column `{column}`: {error}"),
    }
}

/// A row key: network, setting, run, party, layer.
type Key = (String, String, u64, String, u64);

/// The sides of the split (`rows` table of a `split` stage), by row key.
pub fn sides(frame: &DataFrame) -> Result<HashMap<Key, Side>, StageError> {
    let network = strings(frame, "network")?;
    let setting = strings(frame, "setting")?;
    let run = numbers(frame, "run")?;
    let party = strings(frame, "party")?;
    let layer = numbers(frame, "layer")?;
    let side = strings(frame, "side")?;
    let mut map = HashMap::with_capacity(network.len());
    for i in 0..network.len() {
        let side = Side::parse(&side[i]).ok_or_else(|| StageError::Learn {
            message: format!("the split has an unknown side `{}`", side[i]),
        })?;
        map.insert(
            (
                network[i].clone(),
                setting[i].clone(),
                run[i] as u64,
                party[i].clone(),
                layer[i] as u64,
            ),
            side,
        );
    }
    Ok(map)
}

/// A dataset view with every row's side from `sides`; a row the split does not know is an
/// error (the split is stale or belongs to another dataset).
pub fn view_rows(frame: &DataFrame, sides: &HashMap<Key, Side>) -> Result<ViewRows, StageError> {
    let mut rows = unsided_rows(frame)?;
    for i in 0..rows.network.len() {
        let key = (
            rows.network[i].clone(),
            rows.setting[i].clone(),
            rows.run[i],
            rows.party[i].clone(),
            rows.layer[i],
        );
        let side = sides.get(&key).ok_or_else(|| StageError::Learn {
            message: format!(
                "the split has no side for row {key:?}; re-run the split on this dataset"
            ),
        })?;
        rows.side.push(*side);
    }
    Ok(rows)
}

/// A table's rows all on `side` (a network that was planned, never split).
pub fn rows_on(frame: &DataFrame, side: Side) -> Result<ViewRows, StageError> {
    let mut rows = unsided_rows(frame)?;
    rows.side = vec![side; rows.network.len()];
    Ok(rows)
}

/// Every column of a table but the sides.
fn unsided_rows(frame: &DataFrame) -> Result<ViewRows, StageError> {
    let mut rows = ViewRows {
        network: strings(frame, "network")?,
        setting: strings(frame, "setting")?,
        party: strings(frame, "party")?,
        ..ViewRows::default()
    };
    rows.kind = match frame.column("kind") {
        Ok(_) => strings(frame, "kind")?,
        Err(_) => vec![String::new(); rows.network.len()],
    };
    rows.ot = match frame.column("ot") {
        Ok(_) => strings(frame, "ot")?,
        Err(_) => vec!["iknp".to_string(); rows.network.len()],
    };
    rows.run = numbers(frame, "run")?
        .into_iter()
        .map(|r| r as u64)
        .collect();
    rows.layer = match frame.column("layer") {
        Ok(_) => numbers(frame, "layer")?
            .into_iter()
            .map(|r| r as u64)
            .collect(),
        Err(_) => vec![0; rows.network.len()],
    };
    for column in frame.columns() {
        if column.dtype().is_primitive_numeric() {
            let name = column.name().to_string();
            let values = numbers(frame, &name)?;
            rows.numbers.insert(name, values);
        }
    }
    Ok(rows)
}
