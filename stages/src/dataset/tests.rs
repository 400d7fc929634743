//! Tests of the dataset kind end to end: fake profile stages in a temporary store, built from
//! the fixtures (two small networks metered by `snni infer --json`), read by `run_shard`.
//!
//! The fixtures carry the engine's planned bytes, so an engine version that changes a
//! layer's bytes must re-meter them (`a_planned_network_has_the_measured_rows_columns_and_counts`
//! fails until it does). From the repository root, for `mini` and `tiny`:
//!
//! ```sh
//! snni infer --network stages/src/rows/fixtures/mini.yaml --ot iknp --json > /tmp/mini.jsonl
//! grep '"party":"server"' /tmp/mini.jsonl > stages/src/rows/fixtures/mini.server.jsonl
//! grep '"party":"client"' /tmp/mini.jsonl > stages/src/rows/fixtures/mini.client.jsonl
//! ```

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::{DataFrame, DataType};
use serde_json::{json, Value};
use snni_artifacts::{Digest, OnLocked, Output, Record, Store};
use snni_engine::network::Network;

use super::{DatasetKind, SHARD};
use crate::kind::{CheckContext, OutputData, ShardContext, StageKind, UpstreamStage};
use crate::schema::dataset::{
    BANDWIDTH_BPS, BYTES_SENT, CPU_MODEL, CT_PT_PRODUCTS, FILTERS, FLOPS, INPUT_CTS, KERNEL_H,
    KERNEL_W, KIND, LAYER, LAYERS, NETWORK, OT, OTS, OT_BYTES_SERVER, OT_POOL_GROWTH, OT_REFILLS,
    PADDING, PARTY, PLANNED_BYTES, PLANNED_ROUNDS, RELU_FRACTION, ROUNDS, RUN, SETTING, SETUP_S,
    STRIDE, TOTAL_S, UNITS, WALL_S, WEIGHT_SIZE,
};
use crate::schema::dataset::{
    LAYER_TABLE, LOAD_AVG, NETWORK_TABLE, PROBE_DEVIATION, PROBE_HE_PER_S, PROBE_OT_PER_S,
    STEAL_FRACTION,
};
use crate::schema::{ColumnDef, ColumnType, Nulls, TableReader};
use crate::StageError;

const NETWORKS: [(&str, &str, &str, &str); 2] = [
    (
        "mini",
        include_str!("../rows/fixtures/mini.yaml"),
        include_str!("../rows/fixtures/mini.server.jsonl"),
        include_str!("../rows/fixtures/mini.client.jsonl"),
    ),
    (
        "tiny",
        include_str!("../rows/fixtures/tiny.yaml"),
        include_str!("../rows/fixtures/tiny.server.jsonl"),
        include_str!("../rows/fixtures/tiny.client.jsonl"),
    ),
];
const SETTINGS: [&str; 2] = ["lan", "wan"];
const RUNS: [u64; 2] = [1, 2];

/// One profile shard's blobs before they are stored.
#[derive(Clone)]
struct FakeShard {
    key: String,
    network_yaml: String,
    server: String,
    client: String,
    meta: Value,
}

fn meta(network: &Network, setting: &str, run: u64) -> Value {
    json!({
        "format": 1, "network": network.name, "network_name": network.name,
        "family": network.family, "source_stage": "synth", "setting": setting,
        "link": {"bandwidth_bps": 7_000_000_000u64, "rtt_us": 500.0, "loss_percent": null},
        "run": run, "warmup": 0, "backend": "relay",
        "engine": {"version": "0.1.0", "protocol": 1, "record": 1},
        "ell": 41, "scale": 12, "he_degree": 8192, "threads": 1,
        "machine": {"cores": 2, "cpu_model": "AMD EPYC 7B13", "os": "linux"},
        "attempts": 1, "timing": {"shard_s": 1.93, "engine_s": 1.85, "overhead_s": 0.08}
    })
}

/// Every network × setting × run, as a profile stage would record them.
fn fake_shards() -> Vec<FakeShard> {
    let mut shards = Vec::new();
    for (name, yaml, server, client) in NETWORKS {
        let network = Network::from_yaml_str(yaml).unwrap();
        for setting in SETTINGS {
            for run in RUNS {
                shards.push(FakeShard {
                    key: format!("{name}.{setting}.r{run:02}"),
                    network_yaml: network.to_yaml_string().unwrap(),
                    server: server.to_string(),
                    client: client.to_string(),
                    meta: meta(&network, setting, run),
                });
            }
        }
    }
    shards
}

struct Harness {
    _dir: tempfile::TempDir,
    store: Store,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), OnLocked::Fail).unwrap();
        Harness { _dir: dir, store }
    }

    fn stage(&self, name: &str, shards: &[FakeShard]) -> UpstreamStage {
        let mut record = Record::new(Digest::of(name.as_bytes()), name, None);
        for shard in shards {
            let meta = shard.meta.to_string();
            let parts = [
                ("server", shard.server.as_str(), "application/x-ndjson"),
                ("client", shard.client.as_str(), "application/x-ndjson"),
                ("network", shard.network_yaml.as_str(), "application/yaml"),
                ("meta", meta.as_str(), "application/json"),
            ];
            for (part, text, media_type) in parts {
                let digest = self.store.put_blob(text.as_bytes()).unwrap();
                let output = Output::blob(digest, text.len() as u64, media_type);
                record = record.with_output(format!("{}/{part}", shard.key), output);
            }
        }
        UpstreamStage {
            name: name.to_string(),
            kind: "profile".to_string(),
            record,
        }
    }

    fn run(
        &self,
        upstream: &[UpstreamStage],
        params: Value,
    ) -> Result<BTreeMap<String, DataFrame>, StageError> {
        let params = DatasetKind
            .check_params(&params, &check_context())
            .expect("valid params");
        let ctx = ShardContext {
            shard: SHARD,
            params: &params,
            seed: 1,
            upstream,
            store: &self.store,
            cpus: None,
        };
        let outputs = DatasetKind.run_shard(&ctx)?;
        Ok(outputs
            .items
            .into_iter()
            .map(|(name, data)| match data {
                OutputData::Table(df) => (name, df),
                OutputData::Bytes { .. } => panic!("`{name}` is not a table"),
            })
            .collect())
    }
}

fn check_context() -> CheckContext<'static> {
    static SETTINGS: std::sync::OnceLock<BTreeMap<String, crate::Setting>> =
        std::sync::OnceLock::new();
    CheckContext {
        settings: SETTINGS.get_or_init(BTreeMap::new),
        files: None,
    }
}

fn strings(df: &DataFrame, column: ColumnDef) -> Vec<String> {
    TableReader::new("dataset", df).text(column).unwrap()
}

fn u64s(df: &DataFrame, column: ColumnDef) -> Vec<Option<u64>> {
    TableReader::new("dataset", df)
        .optional_counts(column)
        .unwrap()
}

fn f64s(df: &DataFrame, column: ColumnDef) -> Vec<f64> {
    TableReader::new("dataset", df).numbers(column).unwrap()
}

/// The error message of a run that must fail.
fn failure(harness: &Harness, shards: &[FakeShard], params: Value) -> String {
    let stage = harness.stage("prof", shards);
    match harness.run(&[stage], params) {
        Ok(_) => panic!("the dataset was built"),
        Err(err) => err.to_string(),
    }
}

fn layers_of(yaml: &str) -> usize {
    Network::from_yaml_str(yaml).unwrap().layers.len()
}

#[test]
fn builds_one_row_per_network_setting_run_party_and_layer() {
    let harness = Harness::new();
    let stage = harness.stage("prof", &fake_shards());
    let tables = harness.run(&[stage], Value::Null).unwrap();
    let layers = &tables["layers"];
    let per_run: usize = NETWORKS.iter().map(|n| layers_of(n.1)).sum();
    assert_eq!(layers.height(), per_run * SETTINGS.len() * RUNS.len() * 2);

    let keys: Vec<(String, String, u64, String, u64)> = (0..layers.height())
        .map(|i| {
            (
                strings(layers, NETWORK)[i].clone(),
                strings(layers, SETTING)[i].clone(),
                u64s(layers, RUN)[i].unwrap(),
                strings(layers, PARTY)[i].clone(),
                u64s(layers, LAYER)[i].unwrap(),
            )
        })
        .collect();
    let unique: BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(unique.len(), keys.len(), "keys are unique");
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, keys, "rows are sorted by their key");

    let conv = &tables["conv"];
    assert!(conv.height() > 0);
    for column in [KERNEL_H, KERNEL_W, STRIDE, PADDING, FILTERS] {
        assert!(
            u64s(conv, column).iter().all(Option::is_some),
            "conv rows have `{column}`"
        );
    }
    assert!(u64s(conv, UNITS).iter().all(Option::is_none));
    assert!(u64s(conv, INPUT_CTS).iter().all(|v| v.unwrap() > 0));
    assert_eq!(
        layers.column(RELU_FRACTION.name).unwrap().dtype(),
        &DataType::Float64
    );
}

#[test]
fn views_partition_the_layer_rows() {
    let harness = Harness::new();
    let stage = harness.stage("prof", &fake_shards());
    let tables = harness.run(&[stage], Value::Null).unwrap();
    let layers = &tables["layers"];
    let kinds = strings(layers, KIND);
    let mut in_views = 0;
    for crate::rows::View {
        name: view,
        kinds: view_kinds,
        ..
    } in crate::rows::VIEWS
    {
        let df = &tables[view];
        assert_eq!(
            df.schema(),
            layers.schema(),
            "view `{view}` has the layer columns"
        );
        assert!(strings(df, KIND)
            .iter()
            .all(|k| view_kinds.iter().any(|v| v.as_str() == k)));
        in_views += df.height();
    }
    let flatten = kinds.iter().filter(|k| *k == "flatten").count();
    assert_eq!(in_views + flatten, layers.height());
    assert!(tables["avg_pool"].height() > 0 && tables["add_concat"].height() > 0);
}

#[test]
fn views_exist_without_rows() {
    let harness = Harness::new();
    let shards: Vec<FakeShard> = fake_shards()
        .into_iter()
        .filter(|s| s.key.starts_with("mini"))
        .collect();
    let tables = harness
        .run(&[harness.stage("prof", &shards)], Value::Null)
        .unwrap();
    assert_eq!(tables["poly_act"].height(), 0);
    assert_eq!(tables["poly_act"].schema(), tables["layers"].schema());
}

#[test]
fn networks_table_has_the_run_totals() {
    let harness = Harness::new();
    let stage = harness.stage("prof", &fake_shards());
    let tables = harness.run(&[stage], Value::Null).unwrap();
    let networks = &tables["networks"];
    assert_eq!(
        networks.height(),
        NETWORKS.len() * SETTINGS.len() * RUNS.len() * 2
    );
    // The first row: mini, lan, run 1, client.
    let run_line: Value = serde_json::from_str(NETWORKS[0].3.lines().last().unwrap()).unwrap();
    assert_eq!(strings(networks, PARTY)[0], "client");
    assert_eq!(f64s(networks, TOTAL_S)[0], run_line["total"]["wall_s"]);
    assert_eq!(f64s(networks, SETUP_S)[0], run_line["setup"]["wall_s"]);
    assert_eq!(
        u64s(networks, BYTES_SENT)[0],
        run_line["total"]["bytes_sent"].as_u64()
    );
    assert_eq!(u64s(networks, LAYERS)[0], Some(4));
    assert_eq!(strings(networks, CPU_MODEL)[0], "AMD EPYC 7B13");
}

#[test]
fn the_speed_probe_and_load_are_columns_and_null_where_not_recorded() {
    let harness = Harness::new();
    let mut shards = fake_shards();
    for shard in shards.iter_mut().filter(|s| s.key.ends_with(".r01")) {
        shard.meta["noise"] = json!({
            "probe_he_per_s": 12.5, "probe_ot_per_s": 4.0e6, "probe_deviation": 0.03,
            "load_avg": 1.25, "steal_fraction": 0.01
        });
    }
    let stage = harness.stage("prof", &shards);
    let tables = harness.run(&[stage], Value::Null).unwrap();
    for table in ["networks", "layers"] {
        let df = &tables[table];
        let runs = u64s(df, RUN);
        for (column, recorded) in [
            (PROBE_HE_PER_S, 12.5),
            (PROBE_OT_PER_S, 4.0e6),
            (PROBE_DEVIATION, 0.03),
            (LOAD_AVG, 1.25),
            (STEAL_FRACTION, 0.01),
        ] {
            for (run, value) in runs.iter().zip(f64s(df, column)) {
                match run {
                    Some(1) => assert_eq!(value, recorded, "{table}.{column}"),
                    _ => assert!(value.is_nan(), "{table}.{column}: {value} for run {run:?}"),
                }
            }
        }
    }
}

#[test]
fn a_missing_layer_line_names_the_shard_and_layer() {
    let harness = Harness::new();
    let mut shards = fake_shards();
    shards[1].client = shards[1]
        .client
        .lines()
        .filter(|line| !line.contains("\"index\":2,"))
        .map(|line| format!("{line}\n"))
        .collect();
    let err = failure(&harness, &shards, Value::Null);
    assert!(err.contains("prof/mini.lan.r02"), "{err}");
    assert!(err.contains("no line for layer 2 (`flat`)"), "{err}");
}

#[test]
fn a_duplicate_layer_index_names_the_shard() {
    let harness = Harness::new();
    let mut shards = fake_shards();
    let first = shards[0].server.lines().next().unwrap().to_string();
    shards[0].server = format!("{first}\n{}", shards[0].server);
    let err = failure(&harness, &shards, Value::Null);
    assert!(err.contains("prof/mini.lan.r01"), "{err}");
    assert!(err.contains("duplicate layer index 0"), "{err}");
}

#[test]
fn a_wrong_digest_names_the_shard() {
    let harness = Harness::new();
    let mut shards = fake_shards();
    let digest = Network::from_yaml_str(NETWORKS[1].1).unwrap().digest();
    let last = shards.len() - 1;
    shards[last].server = shards[last].server.replace(&digest, &"0".repeat(64));
    let err = failure(&harness, &shards, Value::Null);
    assert!(err.contains("prof/tiny.wan.r02"), "{err}");
    assert!(err.contains("network digest"), "{err}");
}

#[test]
fn a_layer_that_disagrees_with_the_network_is_an_error() {
    let harness = Harness::new();
    let mut shards = fake_shards();
    shards[0].client = shards[0]
        .client
        .replace("\"name\":\"relu1\"", "\"name\":\"other\"");
    let err = failure(&harness, &shards, Value::Null);
    assert!(err.contains("prof/mini.lan.r01"), "{err}");
    assert!(err.contains("layer 1 is `other`"), "{err}");
}

#[test]
fn mixed_machines_fail_unless_allowed() {
    let harness = Harness::new();
    let mut shards = fake_shards();
    shards[2].meta["machine"]["cpu_model"] = json!("Intel Xeon");
    let err = failure(&harness, &shards, Value::Null);
    assert!(err.contains("prof/mini.wan.r01"), "{err}");
    assert!(err.contains("prof/mini.wan.r02"), "{err}");
    assert!(err.contains("cpu_model"), "{err}");

    let stage = harness.stage("prof", &shards);
    let tables = harness.run(&[stage], json!({"allow_mixed": true})).unwrap();
    let models: BTreeSet<String> = strings(&tables["layers"], CPU_MODEL).into_iter().collect();
    assert_eq!(models.len(), 2);
}

#[test]
fn ot_backends_never_mix_in_a_setting() {
    let harness = Harness::new();
    let mut shards = fake_shards();
    shards[2].meta["ot"] = json!("ferret");
    for params in [Value::Null, json!({"allow_mixed": true})] {
        let err = failure(&harness, &shards, params);
        assert!(err.contains("mixes OT backends"), "{err}");
        assert!(err.contains("`ferret`") && err.contains("`iknp`"), "{err}");
    }
    // One backend per setting is fine, and the rows say which.
    for shard in shards.iter_mut().filter(|s| s.meta["setting"] == "wan") {
        shard.meta["ot"] = json!("ferret");
    }
    let stage = harness.stage("prof", &shards);
    let tables = harness.run(&[stage], Value::Null).unwrap();
    let backends: BTreeSet<String> = strings(&tables["layers"], OT).into_iter().collect();
    assert_eq!(
        backends,
        BTreeSet::from(["ferret".to_string(), "iknp".to_string()])
    );
}

#[test]
fn a_setting_may_differ_from_another_setting() {
    let harness = Harness::new();
    let mut shards = fake_shards();
    for shard in shards.iter_mut().filter(|s| s.meta["setting"] == "wan") {
        shard.meta["backend"] = json!("tc");
    }
    let stage = harness.stage("prof", &shards);
    assert!(harness.run(&[stage], Value::Null).is_ok());
}

#[test]
fn two_stages_may_not_measure_the_same_run() {
    let harness = Harness::new();
    let shards = fake_shards();
    let a = harness.stage("a", &shards[..1]);
    let b = harness.stage("b", &shards[..1]);
    let err = harness.run(&[a, b], Value::Null).unwrap_err().to_string();
    assert!(
        err.contains("b/mini.lan.r01") && err.contains("a/mini.lan.r01"),
        "{err}"
    );
}

#[test]
fn upstream_stages_must_be_profile_stages() {
    let harness = Harness::new();
    let mut stage = harness.stage("synth", &fake_shards()[..1]);
    stage.kind = "synthesize".into();
    let err = harness.run(&[stage], Value::Null).unwrap_err().to_string();
    assert!(
        err.contains("`synth`") && err.contains("synthesize"),
        "{err}"
    );
}

#[test]
fn check_params_fills_defaults_and_rejects_unknown_keys() {
    let canonical = DatasetKind
        .check_params(&Value::Null, &check_context())
        .unwrap();
    assert_eq!(canonical, json!({"allow_mixed": false}));
    let issues = DatasetKind
        .check_params(&json!({"allow_mix": true}), &check_context())
        .unwrap_err();
    assert!(
        issues[0].message.contains("unknown field `allow_mix`"),
        "{issues:?}"
    );
}

#[test]
fn tables_round_trip_through_parquet() {
    let harness = Harness::new();
    let stage = harness.stage("prof", &fake_shards());
    let tables = harness.run(&[stage], Value::Null).unwrap();
    for (name, mut df) in tables {
        let table = harness.store.write_table(&name, &mut df).unwrap();
        let back = harness.store.read_table(&table).unwrap();
        assert!(
            back.equals_missing(&df),
            "table `{name}` changed in Parquet"
        );
    }
}

#[test]
fn planned_rounds_are_the_measured_rounds_of_the_fixtures() {
    let harness = Harness::new();
    let stage = harness.stage("prof", &fake_shards());
    let tables = harness.run(&[stage], Value::Null).unwrap();
    let layers = &tables["layers"];
    let planned = u64s(layers, PLANNED_ROUNDS);
    assert_eq!(planned, u64s(layers, ROUNDS));
    assert!(planned.iter().any(|r| r.unwrap() > 0));
}

#[test]
fn a_planned_network_has_the_measured_rows_columns_and_counts() {
    let harness = Harness::new();
    let stage = harness.stage("prof", &fake_shards());
    let tables = harness.run(&[stage], Value::Null).unwrap();
    let (name, yaml, _, _) = NETWORKS[0];
    let network = Network::from_yaml_str(yaml).unwrap();
    let link = crate::rows::PlannedLink {
        setting: "lan".into(),
        bandwidth_bps: Some(7_000_000_000),
        rtt_us: Some(500.0),
        ell: 41,
        scale: 12,
        // The fixtures were measured with IKNP.
        ot: snni_engine::ot::OtBackend::Iknp,
    };
    let planned = crate::rows::planned::planned_views(&network, name, &link).unwrap();
    for (view, frame) in &planned {
        let measured = &tables[*view];
        let names = |df: &DataFrame| -> Vec<String> {
            df.get_column_names()
                .iter()
                .map(|n| n.to_string())
                .collect()
        };
        assert_eq!(names(frame), names(measured), "{view}");
        // The measured rows of this network, lan, run 1, in the same (party, layer) order.
        let keep: Vec<usize> = (0..measured.height())
            .filter(|&i| {
                strings(measured, NETWORK)[i] == name
                    && strings(measured, SETTING)[i] == "lan"
                    && u64s(measured, RUN)[i] == Some(1)
            })
            .collect();
        assert_eq!(keep.len(), frame.height(), "{view}");
        for column in [
            LAYER,
            FLOPS,
            WEIGHT_SIZE,
            CT_PT_PRODUCTS,
            INPUT_CTS,
            OTS,
            OT_BYTES_SERVER,
            PLANNED_BYTES,
            PLANNED_ROUNDS,
            BANDWIDTH_BPS,
        ] {
            let expected: Vec<Option<u64>> =
                keep.iter().map(|&i| u64s(measured, column)[i]).collect();
            assert_eq!(u64s(frame, column), expected, "{view}.{column}");
        }
        assert!(f64s(frame, WALL_S).iter().all(|&w| w == 0.0));
    }
    assert!(planned["conv"].height() > 0);
}

#[test]
fn ferret_refills_are_a_column_where_the_plan_puts_them() {
    // SqueezeNet at 64×64×3 draws more COTs than one Ferret pool holds, so some layers
    // refill; the column must carry the engine plan's refills layer by layer (the models
    // need them: a refill costs far more than the layer's own OTs), and IKNP has none.
    use snni_engine::he::HeParamsDesc;
    use snni_engine::network::Shape;
    use snni_engine::ot::OtBackend;
    use snni_engine::runtime::ExecPlan;
    let network = snni_engine::zoo::by_name("squeezenet", Shape::new(64, 64, 3)).unwrap();
    let link = |ot: OtBackend| crate::rows::PlannedLink {
        setting: "local".into(),
        bandwidth_bps: None,
        rtt_us: None,
        ell: 41,
        scale: 12,
        ot,
    };
    let refills = |ot: OtBackend| -> (Vec<u64>, Vec<u64>) {
        let rows = crate::rows::planned::planned_layer_rows(&network, "sq", &link(ot)).unwrap();
        let server: Vec<u64> = rows
            .iter()
            .filter(|r| r.party == "server")
            .map(|r| r.counts.ot_refills)
            .collect();
        let he = HeParamsDesc::for_bitlen(41).unwrap();
        let plan = ExecPlan::with_ot(&network, &he, 12, ot).unwrap();
        (server, plan.counts.iter().map(|c| c.ot_refills).collect())
    };
    let (rows, plan) = refills(OtBackend::Ferret);
    assert_eq!(rows, plan);
    let layers_refilling = rows.iter().filter(|&&r| r > 0).count();
    assert!(
        (1..rows.len()).contains(&layers_refilling),
        "{layers_refilling} of {} layers refill",
        rows.len()
    );
    let (rows, _) = refills(OtBackend::Iknp);
    assert!(rows.iter().all(|&r| r == 0));
    // And the planned views carry it as the `ot_refills` column.
    let views =
        crate::rows::planned::planned_views(&network, "sq", &link(OtBackend::Ferret)).unwrap();
    let column = u64s(&views["layers"], OT_REFILLS);
    let expected: Vec<Option<u64>> = plan.iter().chain(&plan).map(|&r| Some(r)).collect();
    assert_eq!(column, expected, "the client's rows, then the server's");
    // The pools' growth: only in refilling layers, and most in the first one (a
    // direction's first refill grows its pool by a main iteration; later draws add less).
    let growth: Vec<u64> = u64s(&views["layers"], OT_POOL_GROWTH)
        .into_iter()
        .map(Option::unwrap)
        .collect();
    for (g, r) in growth.iter().zip(&column) {
        assert!(*g == 0 || r.unwrap() > 0, "growth {g} without a refill");
    }
    let first = column.iter().position(|r| r.unwrap() > 0).unwrap();
    assert_eq!(growth[first], *growth.iter().max().unwrap(), "{growth:?}");
    assert!(growth[first] > 0);
}

#[test]
fn tables_have_the_schemas_columns_types_and_nulls() {
    let harness = Harness::new();
    let stage = harness.stage("prof", &fake_shards());
    let tables = harness.run(&[stage], Value::Null).unwrap();
    let check = |name: &str, schema: &[ColumnDef]| {
        let df = &tables[name];
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        let expected: Vec<&str> = schema.iter().map(|c| c.name).collect();
        assert_eq!(names, expected, "the columns of `{name}`");
        for column in schema {
            let found = df.column(column.name).unwrap();
            let dtype = match column.ty {
                ColumnType::Text => DataType::String,
                ColumnType::Count => DataType::UInt64,
                ColumnType::Real => DataType::Float64,
            };
            assert_eq!(found.dtype(), &dtype, "`{name}`.{column}");
            if column.nulls == Nulls::Never {
                assert_eq!(found.null_count(), 0, "`{name}`.{column} has nulls");
            }
        }
    };
    check("layers", &LAYER_TABLE);
    check("networks", &NETWORK_TABLE);
    for view in crate::VIEW_NAMES {
        check(view, &LAYER_TABLE);
    }
    // The fixtures were measured on a shaped link and have ReLUs: nullable columns do hold
    // nulls, which the learning stages read as 0.
    assert!(tables["layers"].column(KERNEL_H.name).unwrap().null_count() > 0);
}

#[test]
fn planned_rows_are_the_planned_layer_table_read_back() {
    use crate::learn::frame::{planned_rows, rows_on, Side};
    let input = snni_engine::network::Shape::new(32, 32, 3);
    let mut networks: Vec<Network> = snni_engine::zoo::NAMES
        .iter()
        .map(|name| snni_engine::zoo::by_name(name, input).unwrap())
        .collect();
    networks.extend(
        NETWORKS
            .iter()
            .map(|(_, yaml, _, _)| Network::from_yaml_str(yaml).unwrap()),
    );
    let links = [
        crate::rows::PlannedLink {
            setting: "lan".into(),
            bandwidth_bps: Some(7_000_000_000),
            rtt_us: Some(500.0),
            ell: 41,
            scale: 12,
            ot: snni_engine::ot::OtBackend::Iknp,
        },
        crate::rows::PlannedLink {
            setting: "local".into(),
            bandwidth_bps: None,
            rtt_us: None,
            ell: 37,
            scale: 12,
            ot: snni_engine::ot::OtBackend::Ferret,
        },
    ];
    for network in &networks {
        for link in &links {
            let direct = planned_rows(network, link, Side::Reference).unwrap();
            let views = crate::rows::planned::planned_views(network, &network.name, link).unwrap();
            let read = rows_on("layers", &views["layers"], Side::Reference).unwrap();
            let at = format!("{} in {}", network.name, link.setting);
            assert_eq!(direct.network, read.network, "{at}");
            assert_eq!(direct.setting, read.setting, "{at}");
            assert_eq!(direct.party, read.party, "{at}");
            assert_eq!(direct.run, read.run, "{at}");
            assert_eq!(direct.layer, read.layer, "{at}");
            assert_eq!(direct.kind, read.kind, "{at}");
            assert_eq!(direct.ot, read.ot, "{at}");
            assert_eq!(direct.side, read.side, "{at}");
            let mut names: Vec<&String> = direct.numbers.keys().collect();
            let mut read_names: Vec<&String> = read.numbers.keys().collect();
            names.sort();
            read_names.sort();
            assert_eq!(names, read_names, "{at}");
            for (name, values) in &direct.numbers {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(values), bits(&read.numbers[name]), "{at}: {name}");
            }
        }
    }
}
