//! The fixture of the split tests: a small dataset-like `tables/layers` (three families of
//! five synthesized networks and two reference networks, two runs and two parties each),
//! written to a temporary store, and a harness that runs the split on it.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::{Column, DataFrame};
use serde_json::Value;
use snni_artifacts::{Digest, OnLocked, Output, Record, Store};

use super::{SplitKind, SHARD};
use crate::kind::{CheckContext, OutputData, PlanContext, ShardContext, StageKind, UpstreamStage};
use crate::schema::dataset::{
    FAMILY, FEATURE_COLUMNS, FILTERS, KERNEL_H, KERNEL_W, KIND, LAYER, NETWORK, PADDING, PARTY,
    PROBE_HE_PER_S, RELU_FRACTION, RUN, SETTING, SOURCE_STAGE, STRIDE, TOTAL_S, UNITS, WALL_S,
};
use crate::schema::results::{SIDE, SPEED_FACTOR, SPLIT_ASSIGNMENT, SPLIT_ROWS};
use crate::schema::{ColumnDef, ColumnType, TableReader};
use crate::StageError;

pub(super) const FAMILIES: [&str; 3] = ["chain", "residual", "dense"];
pub(super) const REFERENCES: [&str; 2] = ["squeezenet", "resnet50"];
const KINDS: [&str; 3] = ["conv", "relu", "fc"];
const RUNS: [u64; 2] = [1, 2];
const PARTIES: [&str; 2] = ["client", "server"];

/// One row of the fake layer table.
#[derive(Debug, Clone)]
pub(super) struct FakeRow {
    pub(super) network: String,
    pub(super) family: String,
    pub(super) source_stage: String,
    pub(super) setting: String,
    pub(super) run: u64,
    pub(super) party: &'static str,
    pub(super) layer: u64,
    pub(super) kind: &'static str,
    /// One value per [`FEATURE_COLUMNS`] entry; `relu_fraction` is stored as `x / 4`.
    pub(super) features: [Option<u64>; 20],
}

fn relu_fraction_index() -> usize {
    FEATURE_COLUMNS
        .iter()
        .position(|c| *c == RELU_FRACTION)
        .unwrap()
}

/// Features unique to (`base`, `layer`): a conv has a kernel, a relu nulls and a fraction.
fn features(base: u64, layer: u64, kind: &str) -> [Option<u64>; 20] {
    let mut features = [Some(1); 20];
    features[0] = Some(base * 10 + layer);
    for (i, column) in FEATURE_COLUMNS.iter().enumerate() {
        let conv_only = [KERNEL_H, KERNEL_W, STRIDE, PADDING, FILTERS];
        if conv_only.contains(column) && kind != "conv" {
            features[i] = None;
        }
        if *column == UNITS && kind != "fc" {
            features[i] = None;
        }
    }
    features[relu_fraction_index()] = (kind == "relu").then_some(2);
    features
}

/// Every row of one network: 3 layers × 2 runs × 2 parties in one setting.
pub(super) fn network_rows(
    network: &str,
    family: &str,
    source_stage: &str,
    base: u64,
) -> Vec<FakeRow> {
    let mut rows = Vec::new();
    for run in RUNS {
        for party in PARTIES {
            for (layer, kind) in KINDS.iter().enumerate() {
                let layer = layer as u64;
                rows.push(FakeRow {
                    network: network.to_string(),
                    family: family.to_string(),
                    source_stage: source_stage.to_string(),
                    setting: "lan".to_string(),
                    run,
                    party,
                    layer,
                    kind,
                    features: features(base, layer, kind),
                });
            }
        }
    }
    rows
}

/// `family-i` for every family and i < `per_family`, then the reference networks.
pub(super) fn dataset_rows(per_family: usize) -> Vec<FakeRow> {
    let mut rows = Vec::new();
    let mut base = 0;
    for family in FAMILIES {
        for i in 0..per_family {
            base += 1;
            rows.extend(network_rows(
                &format!("{family}-{i}"),
                family,
                "synth",
                base,
            ));
        }
    }
    for name in REFERENCES {
        base += 1;
        rows.extend(network_rows(name, "reference", "reference", base));
    }
    rows
}

pub(super) fn frame(rows: &[FakeRow]) -> DataFrame {
    let text = |column: ColumnDef, value: &dyn Fn(&FakeRow) -> String| {
        Column::new(
            column.name.into(),
            rows.iter().map(value).collect::<Vec<_>>(),
        )
    };
    let count = |column: ColumnDef, value: &dyn Fn(&FakeRow) -> u64| {
        Column::new(
            column.name.into(),
            rows.iter().map(value).collect::<Vec<_>>(),
        )
    };
    let mut columns = vec![
        text(NETWORK, &|r| r.network.clone()),
        text(FAMILY, &|r| r.family.clone()),
        text(SOURCE_STAGE, &|r| r.source_stage.clone()),
        text(SETTING, &|r| r.setting.clone()),
        count(RUN, &|r| r.run),
        text(PARTY, &|r| r.party.to_string()),
        count(LAYER, &|r| r.layer),
        text(KIND, &|r| r.kind.to_string()),
        Column::new(
            WALL_S.name.into(),
            rows.iter().map(|r| r.layer as f64).collect::<Vec<_>>(),
        ),
    ];
    for (i, column) in FEATURE_COLUMNS.iter().enumerate() {
        let values = rows.iter().map(|r| r.features[i]);
        columns.push(if column.ty == ColumnType::Real {
            // `relu_fraction`, the one float feature.
            let values: Vec<Option<f64>> = values.map(|v| v.map(|v| v as f64 / 4.0)).collect();
            Column::new(column.name.into(), values)
        } else {
            Column::new(column.name.into(), values.collect::<Vec<_>>())
        });
    }
    DataFrame::new(rows.len(), columns).unwrap()
}

/// What one run of the split produced.
pub(super) struct Split {
    /// Network → side.
    pub(super) assignment: BTreeMap<String, String>,
    /// The `rows` table.
    pub(super) rows: DataFrame,
    /// The `summary` blob.
    pub(super) summary: Value,
}

impl Split {
    pub(super) fn sides_of(&self, network: &str) -> BTreeSet<String> {
        let networks = strings(&self.rows, NETWORK);
        let sides = strings(&self.rows, SIDE);
        networks
            .iter()
            .zip(sides)
            .filter(|(n, _)| *n == network)
            .map(|(_, side)| side)
            .collect()
    }
}

pub(super) struct Harness {
    _dir: tempfile::TempDir,
    pub(super) store: Store,
}

impl Harness {
    pub(super) fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), OnLocked::Fail).unwrap();
        Harness { _dir: dir, store }
    }

    pub(super) fn dataset(&self, rows: &[FakeRow]) -> UpstreamStage {
        let table = self.store.write_table("layers", &mut frame(rows)).unwrap();
        let record = Record::new(Digest::of(b"data"), "data", None)
            .with_output("tables/layers", Output::Table(table));
        UpstreamStage {
            name: "data".to_string(),
            kind: "dataset".to_string(),
            record,
        }
    }

    /// [`Harness::dataset`] with a `tables/networks` of one row per party and run: its
    /// `total_s` and `probe_he_per_s` from `run(network, run) -> (total_s, probe)`.
    pub(super) fn dataset_with_networks(
        &self,
        rows: &[FakeRow],
        run: impl Fn(&str, u64) -> (f64, Option<f64>),
    ) -> UpstreamStage {
        let mut keys: Vec<(String, String, u64, &str)> = rows
            .iter()
            .map(|r| (r.network.clone(), r.setting.clone(), r.run, r.party))
            .collect();
        keys.dedup();
        let (total, probe): (Vec<f64>, Vec<Option<f64>>) =
            keys.iter().map(|k| run(&k.0, k.2)).unzip();
        let columns = vec![
            Column::new(
                NETWORK.name.into(),
                keys.iter().map(|k| k.0.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                SETTING.name.into(),
                keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                RUN.name.into(),
                keys.iter().map(|k| k.2).collect::<Vec<_>>(),
            ),
            Column::new(
                PARTY.name.into(),
                keys.iter().map(|k| k.3).collect::<Vec<_>>(),
            ),
            Column::new(TOTAL_S.name.into(), total),
            Column::new(PROBE_HE_PER_S.name.into(), probe),
        ];
        let mut networks = DataFrame::new(keys.len(), columns).unwrap();
        let networks = self.store.write_table("networks", &mut networks).unwrap();
        let mut stage = self.dataset(rows);
        stage.record = stage
            .record
            .with_output("tables/networks", Output::Table(networks));
        stage
    }

    pub(super) fn run(
        &self,
        upstream: &[UpstreamStage],
        params: Value,
        seed: u64,
    ) -> Result<Split, StageError> {
        let params = SplitKind
            .check_params(&params, &check_context())
            .expect("valid params");
        let plan = PlanContext {
            params: &params,
            seed,
            upstream,
            store: &self.store,
        };
        assert_eq!(SplitKind.shards(&plan)?, vec![SHARD.to_string()]);
        let ctx = ShardContext {
            shard: SHARD,
            params: &params,
            seed,
            upstream,
            store: &self.store,
            cpus: None,
        };
        let mut outputs = SplitKind.run_shard(&ctx)?.items;
        let table = |data: Option<OutputData>| match data {
            Some(OutputData::Table(df)) => df,
            _ => panic!("not a table"),
        };
        let assignment = table(outputs.remove("assignment"));
        let rows = table(outputs.remove("rows"));
        let summary = match outputs.remove("summary") {
            Some(OutputData::Bytes { bytes, media_type }) => {
                assert_eq!(media_type, "application/json");
                serde_json::from_slice(&bytes).unwrap()
            }
            _ => panic!("no summary blob"),
        };
        assert!(outputs.is_empty(), "no other outputs");
        assert_eq!(names(&assignment), SPLIT_ASSIGNMENT.map(|c| c.name));
        let mut expected = SPLIT_ROWS.map(|c| c.name).to_vec();
        if rows.column(SPEED_FACTOR.name).is_ok() {
            expected.push(SPEED_FACTOR.name);
        }
        assert_eq!(names(&rows), expected);
        let networks = strings(&assignment, NETWORK);
        let unique: BTreeSet<&String> = networks.iter().collect();
        assert_eq!(unique.len(), networks.len(), "one row per network");
        let assignment = networks
            .into_iter()
            .zip(strings(&assignment, SIDE))
            .collect();
        Ok(Split {
            assignment,
            rows,
            summary,
        })
    }

    pub(super) fn split(&self, rows: &[FakeRow], params: Value, seed: u64) -> Split {
        self.run(&[self.dataset(rows)], params, seed).unwrap()
    }
}

pub(super) fn check_context() -> CheckContext<'static> {
    static SETTINGS: std::sync::OnceLock<BTreeMap<String, crate::Setting>> =
        std::sync::OnceLock::new();
    CheckContext {
        settings: SETTINGS.get_or_init(BTreeMap::new),
        files: None,
    }
}

pub(super) fn strings(df: &DataFrame, column: ColumnDef) -> Vec<String> {
    TableReader::new("split", df).text(column).unwrap()
}

fn names(df: &DataFrame) -> Vec<&str> {
    df.get_column_names()
        .into_iter()
        .map(|n| n.as_str())
        .collect()
}

pub(super) fn family_of(network: &str) -> &str {
    network.split('-').next().unwrap()
}
