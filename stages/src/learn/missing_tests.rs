//! Missing values are never zeros: a dataset whose measured column has a null is fed to
//! every learning stage (`search`, `train`, `evaluate`, `sequence_search`, `whole`), and
//! each fails as the schema states for a column that never holds a null — an error naming
//! the table, the column and the row — where the same dataset without the null plans (or
//! runs) without error. A null in a "does not apply" parameter reads as 0 and is no error.

use std::collections::BTreeMap;

use polars::prelude::{Column, DataFrame};
use serde_json::{json, Value};
use snni_artifacts::{Digest, OnLocked, Output, Record, Store};

use crate::kind::{CheckContext, PlanContext, ShardContext, StageKind, UpstreamStage};
use crate::schema::dataset::{
    KERNEL_H, KIND, LAYER, NETWORK, PARTY, RUN, SETTING, TOTAL_S, WALL_S, WEIGHT_SIZE,
};
use crate::schema::results::SIDE;
use crate::{EvaluateKind, SearchKind, SequenceSearchKind, TrainKind, WholeKind};
use crate::{Setting, StageError, VIEW_NAMES};

/// Networks of the fixture and their sides: four train, one validation, one test.
const NETWORKS: [(&str, &str); 6] = [
    ("n0", "train"),
    ("n1", "train"),
    ("n2", "train"),
    ("n3", "train"),
    ("n4", "validation"),
    ("n5", "test"),
];
const KINDS: [&str; 2] = ["conv", "relu"];

/// Where the fixture puts a null.
#[derive(Clone, Copy, PartialEq)]
enum Null {
    None,
    /// In `wall_s` (a measurement) of this row of every layer table.
    WallS(usize),
    /// In `kernel_h` (a parameter a ReLU does not have) of every ReLU row.
    KernelH,
    /// In `total_s` (a measurement) of this row of `tables/networks`.
    TotalS(usize),
}

/// One row per (network, run, layer) of the server in `local`.
fn keys() -> Vec<(&'static str, &'static str, u64, u64)> {
    let mut keys = Vec::new();
    for (network, side) in NETWORKS {
        for run in [1, 2] {
            for layer in 0..KINDS.len() as u64 {
                keys.push((network, side, run, layer));
            }
        }
    }
    keys
}

fn layers_frame(null: Null) -> DataFrame {
    let keys = keys();
    let n = keys.len();
    let wall: Vec<Option<f64>> = (0..n)
        .map(|i| (null != Null::WallS(i)).then_some(0.01 * (1 + i % 5) as f64))
        .collect();
    let kernel: Vec<Option<u64>> = keys
        .iter()
        .map(|k| (k.3 == 0 || null != Null::KernelH).then_some(3))
        .collect();
    DataFrame::new(
        n,
        vec![
            Column::new(
                NETWORK.name.into(),
                keys.iter().map(|k| k.0).collect::<Vec<_>>(),
            ),
            Column::new(SETTING.name.into(), vec!["local"; n]),
            Column::new(
                RUN.name.into(),
                keys.iter().map(|k| k.2).collect::<Vec<_>>(),
            ),
            Column::new(PARTY.name.into(), vec!["server"; n]),
            Column::new(
                LAYER.name.into(),
                keys.iter().map(|k| k.3).collect::<Vec<_>>(),
            ),
            Column::new(
                KIND.name.into(),
                keys.iter().map(|k| KINDS[k.3 as usize]).collect::<Vec<_>>(),
            ),
            Column::new(KERNEL_H.name.into(), kernel),
            Column::new(WEIGHT_SIZE.name.into(), vec![10u64; n]),
            Column::new(WALL_S.name.into(), wall),
        ],
    )
    .unwrap()
}

fn split_frame() -> DataFrame {
    let keys = keys();
    let n = keys.len();
    DataFrame::new(
        n,
        vec![
            Column::new(
                NETWORK.name.into(),
                keys.iter().map(|k| k.0).collect::<Vec<_>>(),
            ),
            Column::new(SETTING.name.into(), vec!["local"; n]),
            Column::new(
                RUN.name.into(),
                keys.iter().map(|k| k.2).collect::<Vec<_>>(),
            ),
            Column::new(PARTY.name.into(), vec!["server"; n]),
            Column::new(
                LAYER.name.into(),
                keys.iter().map(|k| k.3).collect::<Vec<_>>(),
            ),
            Column::new(
                KIND.name.into(),
                keys.iter().map(|k| KINDS[k.3 as usize]).collect::<Vec<_>>(),
            ),
            Column::new(
                SIDE.name.into(),
                keys.iter().map(|k| k.1).collect::<Vec<_>>(),
            ),
        ],
    )
    .unwrap()
}

fn networks_frame(null: Null) -> DataFrame {
    let rows: Vec<(&str, u64)> = NETWORKS
        .iter()
        .flat_map(|(network, _)| [(*network, 1), (*network, 2)])
        .collect();
    let n = rows.len();
    DataFrame::new(
        n,
        vec![
            Column::new(
                NETWORK.name.into(),
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            ),
            Column::new(SETTING.name.into(), vec!["local"; n]),
            Column::new(PARTY.name.into(), vec!["server"; n]),
            Column::new(
                RUN.name.into(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            ),
            Column::new(
                TOTAL_S.name.into(),
                (0..n)
                    .map(|i| (null != Null::TotalS(i)).then_some(0.2))
                    .collect::<Vec<_>>(),
            ),
        ],
    )
    .unwrap()
}

/// A store holding a `dataset` record (every view the same table), a `split` record, and
/// a `train` record that names one group (its models absent).
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    upstream: Vec<UpstreamStage>,
}

impl Fixture {
    fn new(null: Null) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), OnLocked::Fail).unwrap();
        let layers = store
            .write_table("layers", &mut layers_frame(null))
            .unwrap();
        let networks = store
            .write_table("networks", &mut networks_frame(null))
            .unwrap();
        let split = store.write_table("rows", &mut split_frame()).unwrap();
        let mut dataset = Record::new(Digest::of(b"dataset"), "dataset", None)
            .with_output("tables/layers", Output::Table(layers.clone()))
            .with_output("tables/networks", Output::Table(networks));
        for view in VIEW_NAMES {
            dataset = dataset.with_output(format!("tables/{view}"), Output::Table(layers.clone()));
        }
        let split = Record::new(Digest::of(b"split"), "split", None)
            .with_output("split/rows", Output::Table(split));
        let train = Record::new(Digest::of(b"train"), "train", None)
            .with_output("conv.server.local/analytical", Output::Table(layers));
        let stage = |name: &str, record: Record| UpstreamStage {
            name: name.to_string(),
            kind: name.to_string(),
            record,
        };
        Fixture {
            _dir: dir,
            store,
            upstream: vec![
                stage("dataset", dataset),
                stage("split", split),
                stage("train", train),
            ],
        }
    }

    fn params(&self, kind: &dyn StageKind, params: Value) -> Value {
        let settings: BTreeMap<String, Setting> = BTreeMap::new();
        kind.check_params(
            &params,
            &CheckContext {
                settings: &settings,
                files: None,
            },
        )
        .unwrap_or_else(|issues| panic!("{}: {issues:?}", kind.name()))
    }

    fn shards(&self, kind: &dyn StageKind, params: Value) -> Result<Vec<String>, StageError> {
        let params = self.params(kind, params);
        kind.shards(&PlanContext {
            params: &params,
            seed: 1,
            upstream: &self.upstream,
            store: &self.store,
        })
    }

    fn run(&self, kind: &dyn StageKind, params: Value, shard: &str) -> Result<(), StageError> {
        let params = self.params(kind, params);
        kind.run_shard(&ShardContext {
            shard,
            params: &params,
            seed: 1,
            upstream: &self.upstream,
            store: &self.store,
            cpus: None,
        })
        .map(|_| ())
    }
}

/// The stages that plan from the layer tables, with parameters small enough for the
/// fixture.
fn planning_stages() -> Vec<(&'static dyn StageKind, Value)> {
    vec![
        (&SearchKind, json!({"min_rows": 2, "max_trials": 1})),
        (&TrainKind, json!({"min_rows": 2})),
        (
            &SequenceSearchKind,
            json!({"min_networks": 1, "max_trials": 1}),
        ),
        (&WholeKind, json!({"min_networks": 1})),
    ]
}

fn assert_names_the_null(
    result: Result<impl std::fmt::Debug, StageError>,
    column: &str,
    row: usize,
) {
    let error = result
        .expect_err("a null measurement must not be read")
        .to_string();
    assert!(
        error.contains(&format!("column `{column}` has a null in row {row}")),
        "{error}"
    );
    assert!(
        error.contains("tables/"),
        "the error names the table: {error}"
    );
}

#[test]
fn a_missing_measurement_is_an_error_in_every_learning_stage() {
    let clean = Fixture::new(Null::None);
    let missing = Fixture::new(Null::WallS(5));
    for (kind, params) in planning_stages() {
        let shards = clean.shards(kind, params.clone());
        assert!(shards.is_ok(), "{}: {shards:?}", kind.name());
        assert_names_the_null(missing.shards(kind, params), "wall_s", 5);
    }
    // `evaluate` reads the layer tables when its shard runs.
    clean
        .run(&EvaluateKind, json!({}), "per_layer")
        .expect("evaluate without a null");
    assert_names_the_null(
        missing.run(&EvaluateKind, json!({}), "per_layer"),
        "wall_s",
        5,
    );
    // `whole` reads the measured totals of `tables/networks` too.
    let total = Fixture::new(Null::TotalS(3));
    assert_names_the_null(
        total.run(&WholeKind, json!({}), "server.local"),
        "total_s",
        3,
    );
}

#[test]
fn a_parameter_that_does_not_apply_is_read_as_zero() {
    let fixture = Fixture::new(Null::KernelH);
    for (kind, params) in planning_stages() {
        let shards = fixture.shards(kind, params);
        assert!(shards.is_ok(), "{}: {shards:?}", kind.name());
    }
}

#[test]
fn sequence_search_without_a_train_stage_says_what_it_needs() {
    let mut fixture = Fixture::new(Null::None);
    fixture.upstream.retain(|stage| stage.kind != "train");
    let params = json!({"min_networks": 1, "max_trials": 1});
    let shards = fixture.shards(&SequenceSearchKind, params.clone()).unwrap();
    let error = fixture
        .run(&SequenceSearchKind, params, &shards[0])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("sequence_search needs a `train` stage under `needs:`"),
        "{error}"
    );
}
