//! Tests of the split kind end to end: the [`fixture`](super::fixture) dataset run through
//! `run_shard`, by network and by row.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::fixture::{
    check_context, dataset_rows, family_of, frame, network_rows, strings, FakeRow, Harness,
    FAMILIES, REFERENCES,
};
use super::SplitKind;
use crate::kind::{StageKind, UpstreamStage};
use crate::schema::dataset::{FLOPS, NETWORK};
use crate::schema::results::SIDE;
use snni_artifacts::{Digest, Output, Record};

#[test]
fn every_network_is_on_one_side_and_its_rows_share_it() {
    let harness = Harness::new();
    let rows = dataset_rows(5);
    let split = harness.split(&rows, Value::Null, 7);
    assert_eq!(
        split.assignment.len(),
        FAMILIES.len() * 5 + REFERENCES.len()
    );
    assert_eq!(split.rows.height(), rows.len());
    for (network, side) in &split.assignment {
        assert_eq!(
            split.sides_of(network),
            BTreeSet::from([side.clone()]),
            "{network}"
        );
    }
    let counts = &split.summary["rows"];
    let total: u64 = counts
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, rows.len());
}

#[test]
fn every_family_has_test_validation_and_train_networks() {
    let harness = Harness::new();
    let split = harness.split(&dataset_rows(5), Value::Null, 7);
    for family in FAMILIES {
        assert_eq!(
            split.summary["families"][family],
            json!({"test": 1, "validation": 1, "train": 3}),
            "{family}"
        );
    }
    assert_eq!(
        split.summary["networks"],
        json!({"test": 3, "validation": 3, "train": 9, "reference": 2})
    );
    assert_eq!(split.summary["by"], "network");
    assert_eq!(split.summary["seed"], 7);
}

#[test]
fn a_selection_fraction_takes_its_networks_from_training_only() {
    let harness = Harness::new();
    let rows = dataset_rows(8);
    let plain = harness.split(&rows, Value::Null, 7);
    let params = json!({"selection": 0.25});
    let with = harness.split(&rows, params, 7);
    for family in FAMILIES {
        assert_eq!(
            with.summary["families"][family],
            json!({"test": 2, "validation": 1, "selection": 1, "train": 4}),
            "{family}"
        );
    }
    // Test and validation networks stay where they were; selection ones come out of train.
    for (network, side) in &with.assignment {
        let before = &plain.assignment[network];
        match side.as_str() {
            "selection" => assert_eq!(before, "train", "{network}"),
            _ => assert_eq!(side, before, "{network}"),
        }
    }
}

#[test]
fn reference_networks_are_never_trained_validated_or_tested_on() {
    let harness = Harness::new();
    let split = harness.split(&dataset_rows(5), Value::Null, 7);
    for (network, side) in &split.assignment {
        let is_reference = REFERENCES.contains(&network.as_str());
        assert_eq!(side == "reference", is_reference, "{network} is {side}");
    }
    let rows = strings(&split.rows, NETWORK);
    let sides = strings(&split.rows, SIDE);
    for (network, side) in rows.iter().zip(&sides) {
        assert_eq!(side == "reference", REFERENCES.contains(&network.as_str()));
    }
}

#[test]
fn a_family_of_one_network_trains() {
    let harness = Harness::new();
    let mut rows = dataset_rows(5);
    rows.extend(network_rows("lonely-0", "lonely", "synth", 99));
    let split = harness.split(&rows, Value::Null, 7);
    assert_eq!(split.assignment["lonely-0"], "train");
}

#[test]
fn the_same_seed_gives_the_same_split_and_another_seed_another() {
    let harness = Harness::new();
    let rows = dataset_rows(5);
    let first = harness.split(&rows, Value::Null, 7);
    let again = harness.split(&rows, Value::Null, 7);
    let other = harness.split(&rows, Value::Null, 8);
    assert_eq!(first.assignment, again.assignment);
    assert!(first.rows.equals(&again.rows));
    assert_ne!(first.assignment, other.assignment);
}

#[test]
fn adding_a_network_to_one_family_moves_no_network_of_another() {
    let harness = Harness::new();
    let rows = dataset_rows(5);
    let before = harness.split(&rows, Value::Null, 7);
    let mut grown = rows.clone();
    grown.extend(network_rows("residual-5", "residual", "synth", 98));
    grown.extend(network_rows("residual-6", "residual", "synth", 97));
    let after = harness.split(&grown, Value::Null, 7);
    for (network, side) in &before.assignment {
        if family_of(network) != "residual" {
            assert_eq!(&after.assignment[network], side, "{network} moved");
        }
    }
    assert_eq!(after.assignment.len(), before.assignment.len() + 2);
}

#[test]
fn a_row_split_mixes_the_sides_of_a_network_and_leaks() {
    let harness = Harness::new();
    let rows = dataset_rows(5);
    let split = harness.split(&rows, json!({"by": "row"}), 7);
    assert_eq!(split.summary["by"], "row");
    let mixed = split
        .assignment
        .iter()
        .filter(|(network, _)| !REFERENCES.contains(&network.as_str()))
        .inspect(|(_, side)| assert_eq!(*side, "mixed"))
        .filter(|(network, _)| split.sides_of(network).len() > 1)
        .count();
    assert!(mixed > 0, "some network has rows on several sides");
    for reference in REFERENCES {
        assert_eq!(split.assignment[reference], "reference");
        assert_eq!(
            split.sides_of(reference),
            BTreeSet::from(["reference".into()])
        );
    }
    let fraction = split.summary["leak"]["fraction"].as_f64().unwrap();
    assert!(fraction > 0.5, "leak fraction {fraction}");
    assert!(split.summary["networks"]["mixed"] == 15);

    // Whole networks share no features here, so nothing leaks.
    let by_network = harness.split(&rows, Value::Null, 7);
    assert_eq!(by_network.summary["leak"]["with_twin_in_train"], 0);
    assert!(by_network.summary["leak"]["test_rows"].as_u64().unwrap() > 0);
}

#[test]
fn the_leak_check_counts_crafted_twins_across_networks() {
    let harness = Harness::new();
    let mut rows = dataset_rows(5);
    let split = harness.split(&rows, Value::Null, 7);
    let side = |wanted: &str| {
        split
            .assignment
            .iter()
            .find(|(_, side)| *side == wanted)
            .map(|(network, _)| network.clone())
            .unwrap()
    };
    let (tested, trained) = (side("test"), side("train"));
    let features_of = |rows: &[FakeRow], network: &str, layer: u64| {
        rows.iter()
            .find(|r| r.network == network && r.layer == layer)
            .unwrap()
            .features
    };
    // The tested network's relu (nulls and a float included) copies the trained one's:
    // a twin for each of its 2 runs × 2 parties. Its fc copies the trained conv's
    // features: not a twin, the kind differs.
    let relu = features_of(&rows, &trained, 1);
    let conv = features_of(&rows, &trained, 0);
    for row in rows.iter_mut().filter(|r| r.network == tested) {
        match row.layer {
            1 => row.features = relu,
            2 => row.features = conv,
            _ => {}
        }
    }
    let crafted = harness.split(&rows, Value::Null, 7);
    assert_eq!(crafted.assignment, split.assignment);
    let leak = &crafted.summary["leak"];
    assert_eq!(leak["test_rows"], 3 * 12);
    assert_eq!(leak["with_twin_in_train"], 4);
    assert_eq!(
        leak["by_kind"]["relu"],
        json!({"test_rows": 12, "with_twin": 4})
    );
    assert_eq!(
        leak["by_kind"]["fc"],
        json!({"test_rows": 12, "with_twin": 0})
    );
    let fraction = leak["fraction"].as_f64().unwrap();
    assert!((fraction - 4.0 / 36.0).abs() < 1e-12);
}

#[test]
fn params_get_their_defaults_and_unknown_or_bad_ones_are_rejected() {
    let ctx = check_context();
    assert_eq!(
        SplitKind.check_params(&Value::Null, &ctx).unwrap(),
        json!({"by": "network", "test": 0.2, "validation": 0.2, "held_out": ["reference"]})
    );
    let issues = SplitKind
        .check_params(&json!({"by": "network", "shuffle": true}), &ctx)
        .unwrap_err();
    assert!(
        issues[0].message.contains("unknown field `shuffle`"),
        "{issues:?}"
    );
    let issues = SplitKind
        .check_params(&json!({"by": "column"}), &ctx)
        .unwrap_err();
    assert_eq!(issues[0].path, ["by"]);
    let issues = SplitKind
        .check_params(&json!({"test": 1.5, "validation": -0.1}), &ctx)
        .unwrap_err();
    let paths: Vec<&[String]> = issues.iter().map(|i| i.path.as_slice()).collect();
    assert_eq!(paths, [["test"], ["validation"]]);
}

#[test]
fn held_out_stages_are_configurable() {
    let harness = Harness::new();
    let split = harness.split(&dataset_rows(5), json!({"held_out": []}), 7);
    assert!(split.assignment.values().all(|side| side != "reference"));
    assert_eq!(split.summary["families"]["reference"]["test"], 1);
}

#[test]
fn a_non_dataset_upstream_fails_with_a_clear_message() {
    let harness = Harness::new();
    let mut profile = harness.dataset(&dataset_rows(2));
    profile.kind = "profile".to_string();
    profile.name = "prof".to_string();
    let message = match harness.run(&[profile], Value::Null, 7) {
        Ok(_) => panic!("split a profile stage"),
        Err(err) => err.to_string(),
    };
    assert_eq!(
        message,
        "split the dataset of `prof`: stage `prof` is of kind `profile`, \
         but a split reads one `dataset` stage"
    );
    let none = harness.run(&[], Value::Null, 7).err().unwrap().to_string();
    assert!(none.contains("no dataset stage is listed"), "{none}");
    let data = harness.dataset(&dataset_rows(2));
    let two = harness
        .run(&[data.clone(), data], Value::Null, 7)
        .err()
        .unwrap()
        .to_string();
    assert!(two.contains("exactly one `dataset` stage"), "{two}");
}

#[test]
fn a_layer_table_without_a_feature_column_is_an_error() {
    let harness = Harness::new();
    let mut df = frame(&dataset_rows(2));
    let _ = df.drop_in_place(FLOPS.name).unwrap();
    let table = harness.store.write_table("layers", &mut df).unwrap();
    let stage = UpstreamStage {
        name: "data".to_string(),
        kind: "dataset".to_string(),
        record: Record::new(Digest::of(b"data"), "data", None)
            .with_output("tables/layers", Output::Table(table)),
    };
    let message = harness
        .run(&[stage], Value::Null, 7)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        message,
        "split the dataset of `data`: `tables/layers`: no column `flops`"
    );
}

#[test]
fn speed_probe_fits_its_exponent_on_training_networks_and_scales_every_run() {
    // Every network's run 1 ran at probe 30 and run 2 at 40; times follow (36 / p)^0.8,
    // except the held-out and test networks, which run the other way round: a fit that
    // saw them would not find 0.8.
    let harness = Harness::new();
    let rows = dataset_rows(5);
    let plain = harness.split(&rows, Value::Null, 7);
    assert!(plain.rows.column("speed_factor").is_err());
    assert!(plain.summary.get("speed").is_none());
    let training: BTreeSet<String> = plain
        .assignment
        .iter()
        .filter(|(_, side)| *side == "train")
        .map(|(network, _)| network.clone())
        .collect();
    let probe = |run: u64| -> f64 {
        if run == 1 {
            30.0
        } else {
            40.0
        }
    };
    let upstream = harness.dataset_with_networks(&rows, |network, run| {
        let p = probe(run);
        let total = if training.contains(network) {
            3.0 * (36.0 / p).powf(0.8)
        } else {
            3.0 * p / 36.0
        };
        (total, Some(p))
    });
    let split = harness
        .run(&[upstream], json!({"speed": "probe"}), 7)
        .unwrap();
    // The sides do not move.
    assert_eq!(split.assignment, plain.assignment);
    let speed = &split.summary["speed"]["lan"];
    assert!(
        (speed["beta"].as_f64().unwrap() - 0.8).abs() < 1e-9,
        "{speed}"
    );
    assert_eq!(speed["reference_he_per_s"].as_f64(), Some(35.0));
    assert!(
        speed["train_run_cv_scaled"].as_f64().unwrap() < 1e-9,
        "{speed}"
    );
    // Every row's factor is its run's (p / 35)^0.8, held-out networks included.
    let factors = crate::schema::TableReader::new("split", &split.rows)
        .numbers(crate::schema::results::SPEED_FACTOR)
        .unwrap();
    let runs = crate::schema::TableReader::new("split", &split.rows)
        .counts(crate::schema::dataset::RUN)
        .unwrap();
    for (factor, run) in factors.iter().zip(runs) {
        assert!((factor - (probe(run) / 35.0).powf(0.8)).abs() < 1e-12);
    }
    // The canonical parameters name it only when it is on.
    let ctx = check_context();
    assert_eq!(
        SplitKind
            .check_params(&json!({"speed": "probe"}), &ctx)
            .unwrap()["speed"],
        "probe"
    );
    assert!(SplitKind
        .check_params(&json!({"speed": "none"}), &ctx)
        .unwrap()
        .get("speed")
        .is_none());
    let issues = SplitKind
        .check_params(&json!({"speed": "clock"}), &ctx)
        .unwrap_err();
    assert_eq!(issues[0].path, ["speed"]);
}

#[test]
fn speed_probe_without_a_networks_table_is_an_error_naming_it() {
    let harness = Harness::new();
    let upstream = harness.dataset(&dataset_rows(2));
    let message = match harness.run(&[upstream], json!({"speed": "probe"}), 7) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("a split without the networks table must fail"),
    };
    assert!(message.contains("tables/networks"), "{message}");
}
