//! The upstream tables the learning stages read: the dataset's per-type views joined (by
//! key, not position) with the split's side of every row, as plain columns; and a network
//! that was never run, planned straight into the same columns ([`planned_rows`]).

use std::collections::HashMap;

use polars::prelude::DataFrame;
use snni_artifacts::{BlobSource, Output};
use snni_engine::network::Network;

use crate::rows::{layer_columns, planned_layer_rows, ColumnSink, LayerRow};
use crate::schema::dataset::{
    CPU_S, ENGINE_VERSION, INFERENCE_S, KIND, LAYER, LAYER_TABLE, NETWORK, NETWORK_TABLE, OT,
    PARTY, RUN, SETTING, SETUP_S, TOTAL_S, WALL_S,
};
use crate::schema::results::{SIDE, SPEED_FACTOR};
use crate::schema::{ColumnDef, ColumnType, Nulls, SchemaError, TableReader};
use crate::{PlannedLink, StageError, UpstreamStage};

/// Which side of the split a row is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Fitted on.
    Train,
    /// Tuning and early stopping.
    Validation,
    /// Choosing the recommended method (split `selection`): unseen by training, the
    /// searches and early stopping.
    Selection,
    /// Held-out synthesized networks: the per-layer evaluation.
    Test,
    /// Held-out reference networks (whole-network test set).
    Reference,
}

impl Side {
    /// Every side, in order.
    pub const ALL: [Side; 5] = [
        Side::Train,
        Side::Validation,
        Side::Selection,
        Side::Test,
        Side::Reference,
    ];

    /// The name stored in the split's and the `whole` stage's tables.
    pub fn name(self) -> &'static str {
        match self {
            Side::Train => "train",
            Side::Validation => "validation",
            Side::Selection => "selection",
            Side::Test => "test",
            Side::Reference => "reference",
        }
    }

    fn parse(text: &str) -> Option<Side> {
        Side::ALL.into_iter().find(|side| side.name() == text)
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
    /// The OT backend per row (as [`OT`] says, `iknp` for datasets made before the column
    /// existed).
    pub ot: Vec<String>,
    /// The engine version that measured (or, for planned rows, planned) each row.
    pub engine: Vec<String>,
    /// Side per row.
    pub side: Vec<Side>,
    /// Every numeric column of the dataset's schema the table has (nulls as its
    /// [`ColumnDef::nulls`](crate::schema::ColumnDef::nulls) says: 0 where a parameter does not apply).
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

    /// Multiplies every time column the rows have by their run's factor (the split's
    /// `speed: probe`); a run without a factor is an error (the split is stale).
    pub fn scale_times(&mut self, factors: &HashMap<RunKey, f64>) -> Result<(), StageError> {
        let mut per_row = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            let key = (
                self.network[i].clone(),
                self.setting[i].clone(),
                self.run[i],
                self.party[i].clone(),
            );
            let factor = factors.get(&key).ok_or_else(|| StageError::Learn {
                message: format!(
                    "the split has no speed factor for run {key:?}; re-run the split on this \
                     dataset"
                ),
            })?;
            per_row.push(*factor);
        }
        for column in TIME_COLUMNS {
            if let Some(values) = self.numbers.get_mut(column.name) {
                for (value, factor) in values.iter_mut().zip(&per_row) {
                    *value *= factor;
                }
            }
        }
        Ok(())
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

fn schema_error(source: SchemaError) -> StageError {
    StageError::Table { source }
}

/// A row key: network, setting, run, party, layer.
type Key = (String, String, u64, String, u64);

/// A run of one party: network, setting, run, party.
pub type RunKey = (String, String, u64, String);

/// The time columns a split's speed factor scales (per layer and per network).
const TIME_COLUMNS: [ColumnDef; 5] = [WALL_S, CPU_S, SETUP_S, INFERENCE_S, TOTAL_S];

/// What the learning stages take from a split's `rows` table.
pub struct SplitRows {
    /// Every row's side, by row key.
    pub sides: HashMap<Key, Side>,
    /// The factor on each run's times (`speed_factor`, written by `speed: probe`), or
    /// `None` when the split left the times as measured.
    pub speed: Option<HashMap<RunKey, f64>>,
}

/// Reads the sides and speed factors of the split (`rows` table of a `split` stage) in one
/// pass over its key columns.
pub fn split_rows(frame: &DataFrame) -> Result<SplitRows, StageError> {
    let table = TableReader::new("split/rows", frame);
    let read = |column| table.text(column).map_err(schema_error);
    let count = |column| table.counts(column).map_err(schema_error);
    let (network, setting, party, side) =
        (read(NETWORK)?, read(SETTING)?, read(PARTY)?, read(SIDE)?);
    let (run, layer) = (count(RUN)?, count(LAYER)?);
    let factors = table.optional_numbers(SPEED_FACTOR).map_err(schema_error)?;
    let mut sides = HashMap::with_capacity(network.len());
    let mut speed = factors.as_ref().map(|_| HashMap::new());
    for i in 0..network.len() {
        let parsed = Side::parse(&side[i]).ok_or_else(|| StageError::Learn {
            message: format!("the split has an unknown side `{}`", side[i]),
        })?;
        let run_key = (
            network[i].clone(),
            setting[i].clone(),
            run[i],
            party[i].clone(),
        );
        if let (Some(factors), Some(speed)) = (&factors, &mut speed) {
            let factor = factors[i];
            if !(factor.is_finite() && factor > 0.0) {
                return Err(StageError::Learn {
                    message: format!(
                        "the split's speed factor of row {i} is {factor}; re-run the split"
                    ),
                });
            }
            speed.insert(run_key.clone(), factor);
        }
        let (network, setting, run, party) = run_key;
        sides.insert((network, setting, run, party, layer[i]), parsed);
    }
    Ok(SplitRows { sides, speed })
}

/// A dataset view (`table` names it in errors) with every row's side from `sides`; a row
/// the split does not know is an error (the split is stale or belongs to another dataset).
/// A null where the schema says a column never holds one (a measurement) is an error
/// naming the table, the column and the row: a missing value is never read as 0.
pub fn view_rows(
    table: &str,
    frame: &DataFrame,
    sides: &HashMap<Key, Side>,
) -> Result<ViewRows, StageError> {
    let mut rows = unsided_rows(table, frame)?;
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

/// A table's rows (`table` names it in errors) all on `side` (a network that was planned,
/// never split, or the per-network totals).
pub fn rows_on(table: &str, frame: &DataFrame, side: Side) -> Result<ViewRows, StageError> {
    let mut rows = unsided_rows(table, frame)?;
    rows.side = vec![side; rows.network.len()];
    Ok(rows)
}

/// Every column of a table but the sides. A per-network table (`tables/networks`) has no
/// layer columns: its rows read as layer 0 of kind "".
fn unsided_rows(table: &str, frame: &DataFrame) -> Result<ViewRows, StageError> {
    let table = TableReader::new(table, frame);
    let text = |column| table.text(column).map_err(schema_error);
    let count = |column| table.counts(column).map_err(schema_error);
    let height = table.height();
    let per_layer = table.has(LAYER);
    let mut rows = ViewRows {
        network: text(NETWORK)?,
        setting: text(SETTING)?,
        party: text(PARTY)?,
        run: count(RUN)?,
        layer: if per_layer {
            count(LAYER)?
        } else {
            vec![0; height]
        },
        kind: if per_layer {
            text(KIND)?
        } else {
            vec![String::new(); height]
        },
        ot: text(OT)?,
        // Every dataset has it; tables built by hand (tests) may not: unknown, "".
        engine: if table.has(ENGINE_VERSION) {
            text(ENGINE_VERSION)?
        } else {
            vec![String::new(); height]
        },
        ..ViewRows::default()
    };
    for column in LAYER_TABLE.iter().chain(&NETWORK_TABLE) {
        let numeric = matches!(column.ty, ColumnType::Count | ColumnType::Real);
        if numeric && table.has(*column) && !rows.numbers.contains_key(column.name) {
            let values = table.numbers(*column).map_err(schema_error)?;
            rows.numbers.insert(column.name.to_string(), values);
        }
    }
    Ok(rows)
}

/// The layer rows of `network` planned on `link` (never run), on `side`: what reading the
/// planned `layers` table would give, without building it (`snni predict` plans a 224
/// network in a few milliseconds; a DataFrame round trip would double that).
pub fn planned_rows(
    network: &Network,
    link: &PlannedLink,
    side: Side,
) -> Result<ViewRows, StageError> {
    let rows = planned_layer_rows(network, &network.name, link)?;
    let refs: Vec<&LayerRow> = rows.iter().collect();
    let mut sink = RowsSink {
        rows: &refs,
        out: ViewRows::default(),
        null: None,
    };
    layer_columns(&mut sink);
    if let Some(column) = sink.null {
        return Err(StageError::Learn {
            message: format!(
                "planned layers of `{}`: column `{column}` has no value, and it never may",
                network.name
            ),
        });
    }
    sink.out.side = vec![side; rows.len()];
    Ok(sink.out)
}

/// A [`ColumnSink`] into [`ViewRows`]: the columns [`unsided_rows`] would read back from the
/// table, with the same null policy.
struct RowsSink<'a> {
    rows: &'a [&'a LayerRow],
    out: ViewRows,
    /// The first column that had a null its policy forbids.
    null: Option<&'static str>,
}

impl RowsSink<'_> {
    /// Where a text column goes, if [`ViewRows`] keeps it (the others are not built).
    fn text(&mut self, column: ColumnDef) -> Option<&mut Vec<String>> {
        match column.name {
            n if n == NETWORK.name => Some(&mut self.out.network),
            n if n == SETTING.name => Some(&mut self.out.setting),
            n if n == PARTY.name => Some(&mut self.out.party),
            n if n == KIND.name => Some(&mut self.out.kind),
            n if n == OT.name => Some(&mut self.out.ot),
            n if n == ENGINE_VERSION.name => Some(&mut self.out.engine),
            _ => None,
        }
    }

    fn numbers(&mut self, column: ColumnDef, values: impl Iterator<Item = Option<f64>>) {
        if !matches!(column.ty, ColumnType::Count | ColumnType::Real)
            || self.out.numbers.contains_key(column.name)
        {
            return;
        }
        let values = values
            .map(|value| match (value, column.nulls) {
                (Some(value), _) => value,
                (None, Nulls::AsZero) => 0.0,
                (None, Nulls::AsNan) => f64::NAN,
                (None, Nulls::Never) => {
                    self.null.get_or_insert(column.name);
                    f64::NAN
                }
            })
            .collect();
        self.out.numbers.insert(column.name.to_string(), values);
    }

    fn counts(&mut self, column: ColumnDef, values: Vec<Option<u64>>) {
        let exact = || values.iter().map(|v| v.unwrap_or(0)).collect();
        if column.name == RUN.name {
            self.out.run = exact();
        } else if column.name == LAYER.name {
            self.out.layer = exact();
        }
        self.numbers(column, values.iter().map(|v| v.map(|v| v as f64)));
    }
}

impl<'r> ColumnSink<&'r LayerRow> for RowsSink<'r> {
    fn str(
        &mut self,
        column: ColumnDef,
        value: impl for<'a> Fn(&'a &'r LayerRow) -> &'a str,
    ) -> &mut Self {
        let rows = self.rows;
        if let Some(field) = self.text(column) {
            *field = rows.iter().map(|r| value(r).to_string()).collect();
        }
        self
    }

    fn string(&mut self, column: ColumnDef, value: impl Fn(&&'r LayerRow) -> String) -> &mut Self {
        let rows = self.rows;
        if let Some(field) = self.text(column) {
            *field = rows.iter().map(value).collect();
        }
        self
    }

    fn u64(&mut self, column: ColumnDef, value: impl Fn(&&'r LayerRow) -> u64) -> &mut Self {
        let values = self.rows.iter().map(|r| Some(value(r))).collect();
        self.counts(column, values);
        self
    }

    fn opt_u64(
        &mut self,
        column: ColumnDef,
        value: impl Fn(&&'r LayerRow) -> Option<u64>,
    ) -> &mut Self {
        let values = self.rows.iter().map(value).collect();
        self.counts(column, values);
        self
    }

    fn f64(&mut self, column: ColumnDef, value: impl Fn(&&'r LayerRow) -> f64) -> &mut Self {
        let values: Vec<Option<f64>> = self.rows.iter().map(|r| Some(value(r))).collect();
        self.numbers(column, values.into_iter());
        self
    }

    fn opt_f64(
        &mut self,
        column: ColumnDef,
        value: impl Fn(&&'r LayerRow) -> Option<f64>,
    ) -> &mut Self {
        let values: Vec<Option<f64>> = self.rows.iter().map(value).collect();
        self.numbers(column, values.into_iter());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_times_multiplies_each_time_column_by_its_runs_factor_and_nothing_else() {
        let mut rows = ViewRows::default();
        for (network, run) in [("a", 0), ("a", 1), ("b", 0)] {
            rows.network.push(network.into());
            rows.setting.push("local".into());
            rows.party.push("server".into());
            rows.run.push(run);
            rows.layer.push(0);
        }
        rows.numbers.insert(WALL_S.name.into(), vec![1.0, 2.0, 3.0]);
        rows.numbers
            .insert(TOTAL_S.name.into(), vec![10.0, 20.0, 30.0]);
        rows.numbers.insert("flops".into(), vec![5.0, 5.0, 5.0]);
        let key = |network: &str, run| -> RunKey {
            (network.into(), "local".into(), run, "server".into())
        };
        let mut factors = HashMap::from([(key("a", 0), 0.5), (key("a", 1), 2.0)]);
        // A run without a factor: the split is stale.
        let error = rows.clone_for_test().scale_times(&factors).unwrap_err();
        assert!(error.to_string().contains("re-run the split"), "{error}");
        factors.insert(key("b", 0), 1.0);
        rows.scale_times(&factors).unwrap();
        assert_eq!(rows.numbers[WALL_S.name], [0.5, 4.0, 3.0]);
        assert_eq!(rows.numbers[TOTAL_S.name], [5.0, 40.0, 30.0]);
        assert_eq!(rows.numbers["flops"], [5.0, 5.0, 5.0]);
    }

    impl ViewRows {
        fn clone_for_test(&self) -> ViewRows {
            ViewRows {
                network: self.network.clone(),
                setting: self.setting.clone(),
                party: self.party.clone(),
                run: self.run.clone(),
                layer: self.layer.clone(),
                numbers: self.numbers.clone(),
                ..ViewRows::default()
            }
        }
    }
}
