//! End to end: split, search, train and evaluate on a tiny profiled study, `snni tables`
//! in every format, caching, and a killed search resuming with its finished trials.

mod common;

use common::{Running, Scratch};

/// A tiny study through every learning stage: 12 networks in two families at 16x16x3,
/// Local only, 2 runs; a 2-trial search.
fn learn_manifest(trials: u32) -> String {
    format!(
        r#"name: learn
seed: 5
store: store
stages:
  synth:
    kind: synthesize
    params:
      count: 12
      families: [conv, conv_maxpool]
      input: {{h: 16, w: 16, c: 3}}
      layers: {{min: 2, max: 3}}
      filters: [8, 16]
      fc_units: [16, 32]
  profile:
    kind: profile
    needs: [synth]
    params: {{settings: [local], runs: 2, timeout: 120}}
  dataset:
    kind: dataset
    needs: [profile]
  split:
    kind: split
    needs: [dataset]
    params: {{test: 0.25, validation: 0.3}}
  search:
    kind: search
    needs: [dataset, split]
    params:
      min_rows: 4
      space:
        layers: {{int: [1, 2], step: 1}}
        units: {{int: [4, 16], step: 4}}
        learning_rate: {{float: [0.001, 0.01], log: true}}
        batch_size: {{choice: [8, 16]}}
        activation: {{choice: [relu, tanh]}}
      max_trials: {trials}
      max_epochs: 15
      patience: 3
  train:
    kind: train
    needs: [dataset, split, search]
    params: {{min_rows: 4}}
  evaluate:
    kind: evaluate
    needs: [dataset, split, train]
"#
    )
}

#[test]
fn learning_stages_run_then_tables_print_in_every_format() {
    let scratch = Scratch::new();
    let manifest = scratch.write("learn.yaml", &learn_manifest(2));
    let manifest = manifest.to_str().unwrap();
    let first = scratch.run(&["run", manifest]).expect_code(0);
    assert!(first.stderr.contains("7 ran"), "{}", first.stderr);
    let tables = scratch.run(&["tables", manifest]).expect_code(0);
    assert!(
        tables
            .stdout
            .contains("Per-layer prediction, setting `local`"),
        "{}",
        tables.stdout
    );
    assert!(
        tables.stdout.contains("split by network"),
        "{}",
        tables.stdout
    );
    for heading in [
        "| CONV | server |",
        "| ReLU | client |",
        "MLP R²",
        "Analytical MAE (ms)",
    ] {
        assert!(
            tables.stdout.contains(heading),
            "missing {heading}:\n{}",
            tables.stdout
        );
    }
    assert!(scratch.path("store/report/tables.md").exists());
    let latex = scratch
        .run(&["tables", manifest, "--format", "latex"])
        .expect_code(0);
    assert!(
        latex.stdout.contains("\\begin{tabular}"),
        "{}",
        latex.stdout
    );
    assert!(
        latex.stdout.contains("R\\textsuperscript{2}") && latex.stdout.contains("\\toprule"),
        "{}",
        latex.stdout
    );
    // CSV: one file per table, listed on stdout with the index first.
    let csv = scratch
        .run(&["tables", manifest, "--format", "csv"])
        .expect_code(0);
    let files: Vec<&str> = csv.stdout.lines().collect();
    assert!(files[0].ends_with("csv/index.csv"), "{}", csv.stdout);
    let read = |path: &str| std::fs::read_to_string(scratch.dir.path().join(path)).unwrap();
    let index = read(files[0]);
    let file_of = |title: &str| -> String {
        let line = index
            .lines()
            .find(|l| l.contains(title))
            .unwrap_or_else(|| panic!("no {title} in\n{index}"));
        let name = line.split(',').next().unwrap();
        files
            .iter()
            .find(|f| f.ends_with(name))
            .unwrap()
            .to_string()
    };
    let per_layer = read(&file_of("Per-layer prediction, setting `local`"));
    let mut lines = per_layer.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("Layer,Party,t_layer (ms),"), "{header}");
    let width = header.split(',').count();
    let rows: Vec<&str> = lines.collect();
    assert!(
        rows.iter().any(|r| r.starts_with("CONV,server,")),
        "{rows:?}"
    );
    // Every cell is a number or a dash (a layer kind a model has too few rows for), and
    // every column has numbers: the measured time and every method were trained and
    // evaluated. A table of dashes fails here.
    let headers: Vec<&str> = header.split(',').collect();
    // The last column names each group's method recommended on the validation networks.
    assert_eq!(headers[width - 1], "Recommended (validation)", "{header}");
    let labels = ["Analytical", "Protocol", "Protocol (from Local)", "MLP"];
    let width = width - 1;
    let mut numbers = vec![0usize; width];
    for row in &rows {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields.len(), width + 1, "{row}");
        assert!(labels.contains(&fields[width]), "{row}");
        for (column, value) in fields[..width].iter().enumerate().skip(2) {
            if value.parse::<f64>().is_ok() {
                numbers[column] += 1;
            } else {
                assert_eq!(*value, "–", "{row}");
            }
        }
    }
    for column in 2..width {
        assert!(
            numbers[column] > 0,
            "column `{}` has no number in any row:\n{per_layer}",
            headers[column]
        );
    }
    // Beside it, R² against each layer's run mean and the noise ceiling of single runs:
    // two runs of every layer were measured, so the ceiling is a real R² at most 1.
    let repeated = read(&file_of(
        "Per-layer R² against each layer's mean over its runs, setting `local`",
    ));
    let repeated: Vec<&str> = repeated.lines().collect();
    assert!(
        repeated[0]
            .starts_with("Layer,Party,Noise ceiling R² (single runs),Analytical R² (run mean)"),
        "{}",
        repeated[0]
    );
    let conv = repeated
        .iter()
        .find(|r| r.starts_with("CONV,server,"))
        .unwrap_or_else(|| panic!("{repeated:?}"));
    let ceiling: f64 = conv.split(',').nth(2).unwrap().parse().unwrap();
    assert!(ceiling > 0.0 && ceiling <= 1.0, "{conv}");
    // The stored per-layer table and the trials table are plain Parquet.
    let show = scratch
        .run(&[
            "artifacts",
            "show",
            "--store",
            "store",
            "train/trials/trials",
        ])
        .expect_code(0);
    assert!(show.stdout.contains("learning_rate"), "{}", show.stdout);
    // Ferret's refills and the pool memory they grow have one price each per party ×
    // setting, fitted across every layer kind and stored in each kind's protocol model:
    // the same seconds per refill and per grown COT everywhere. (In so small a study every
    // refill is its direction's first, so how the two split the cost is not pinned down;
    // together they are not free.)
    let price = |view: &str, column: &str| -> f64 {
        let out = scratch
            .run(&[
                "artifacts",
                "show",
                "--store",
                "store",
                &format!("train/{view}.server.local/protocol"),
            ])
            .expect_code(0);
        let model: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let at = model["features"]
            .as_array()
            .unwrap()
            .iter()
            .position(|f| f == column)
            .unwrap_or_else(|| panic!("protocol models see {column}"));
        model["coef"][at].as_f64().unwrap() / model["scale"][at].as_f64().unwrap()
    };
    for column in ["ot_refills", "ot_pool_growth"] {
        let (conv, relu) = (price("conv", column), price("relu", column));
        assert!(
            (conv - relu).abs() <= 1e-12 * conv.abs().max(relu.abs()),
            "{column}: conv {conv} s, relu {relu} s"
        );
    }
    assert!(
        price("conv", "ot_refills") > 0.0 || price("conv", "ot_pool_growth") > 0.0,
        "refills priced at 0"
    );
    let second = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let summary = second.events().last().cloned().unwrap();
    assert_eq!(summary["ran"], 0, "{summary}");
    assert_eq!(summary["cached"], 7, "{summary}");

    // A `selection` fraction: the split re-deals (networks taken from training only), the
    // learning stages re-run, and evaluate chooses each layer's method on the selection
    // layers.
    let selection = learn_manifest(2).replace(
        "params: {test: 0.25, validation: 0.3}",
        "params: {test: 0.25, validation: 0.3, selection: 0.3}",
    );
    let manifest = scratch.write("learn.yaml", &selection);
    let manifest = manifest.to_str().unwrap();
    let third = scratch.run(&["run", manifest]).expect_code(0);
    assert!(third.stderr.contains("4 ran"), "{}", third.stderr);
    let split = scratch
        .run(&[
            "artifacts",
            "show",
            "--store",
            "store",
            "split/split/summary",
        ])
        .expect_code(0);
    assert!(
        split.stdout.contains("\"selection\": 2"),
        "{}",
        split.stdout
    );
    let tables = scratch.run(&["tables", manifest]).expect_code(0);
    assert!(
        tables.stdout.contains("| CONV | server |"),
        "{}",
        tables.stdout
    );
    assert!(
        !tables.stdout.contains("median machine speed"),
        "{}",
        tables.stdout
    );

    // `speed: probe`: the split fits the speed exponent on the training runs' probes, its
    // rows carry each run's factor, and the learning stages re-run on the scaled times.
    let speed = learn_manifest(2).replace(
        "params: {test: 0.25, validation: 0.3}",
        "params: {test: 0.25, validation: 0.3, speed: probe}",
    );
    let manifest = scratch.write("learn.yaml", &speed);
    let manifest = manifest.to_str().unwrap();
    let fourth = scratch.run(&["run", manifest]).expect_code(0);
    assert!(fourth.stderr.contains("4 ran"), "{}", fourth.stderr);
    let show = |target: &str| {
        scratch
            .run(&["artifacts", "show", "--store", "store", target])
            .expect_code(0)
            .stdout
    };
    let summary = show("split/split/summary");
    let json_start = summary.find('{').expect("a JSON summary");
    let summary: serde_json::Value = serde_json::from_str(&summary[json_start..]).unwrap();
    let local = &summary["speed"]["local"];
    let beta = local["beta"].as_f64().expect("a fitted exponent");
    assert!((0.0..=2.0).contains(&beta), "{local}");
    assert!(
        local["reference_he_per_s"].as_f64().unwrap() > 0.0,
        "{local}"
    );
    assert!(local["fitted_groups"].as_u64().unwrap() > 0, "{local}");
    assert!(show("split/split/rows").contains("speed_factor"));
    // The timed tables say which speed their times are at; without it they do not.
    let tables = scratch.run(&["tables", manifest]).expect_code(0);
    assert!(
        tables
            .stdout
            .contains("times at the training runs' median machine speed (split `speed: probe`"),
        "{}",
        tables.stdout
    );
}

#[test]
fn tables_without_an_evaluated_store_name_the_stage_to_run() {
    let scratch = Scratch::new();
    let manifest = scratch.write("learn.yaml", &learn_manifest(2));
    let manifest = manifest.to_str().unwrap();
    let out = scratch.run(&["tables", manifest]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("snni run"), "{}", out.stderr);
    // Only the first stage: the store exists, `evaluate` has no outputs. The unselected
    // downstream stages are skipped, not failed: the run succeeds.
    let only = scratch
        .run(&["run", manifest, "--only", "synth"])
        .expect_code(0);
    assert!(only.stderr.contains("not selected"), "{}", only.stderr);
    assert!(!only.stderr.contains("FAILED"), "{}", only.stderr);
    let out = scratch.run(&["tables", manifest]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("stage `evaluate` has no outputs"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("snni run"), "{}", out.stderr);
    // `predict` on the same store names the stage kinds it needs and how to run them.
    let store = scratch.path("store");
    let out = scratch.run(&[
        "predict",
        "--network",
        "squeezenet",
        "--input",
        "32x32x3",
        "--setting",
        "local",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("`whole`"), "{}", out.stderr);
    assert!(out.stderr.contains("snni run"), "{}", out.stderr);
}

#[test]
fn a_killed_search_keeps_its_finished_trials() {
    let scratch = Scratch::new();
    let manifest = scratch.write("learn.yaml", &learn_manifest(6));
    let manifest = manifest.to_str().unwrap();
    let mut running = Running::spawn(scratch.snni(&["run", manifest, "--json", "--jobs", "1"]));
    assert!(
        running.skip_events(r#""stage":"search""#, 4),
        "the run ended before the search finished trials"
    );
    running.kill();
    let rerun = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let events = rerun.events();
    let started = events
        .iter()
        .find(|e| e["event"] == "stage_started" && e["stage"] == "search")
        .expect("search resumed");
    let resumed = started["resumed"].as_u64().unwrap();
    assert!(resumed >= 3, "{started}");
    let ran = events
        .iter()
        .filter(|e| e["event"] == "shard_finished" && e["stage"] == "search")
        .count() as u64;
    assert_eq!(
        ran + resumed,
        started["shards"].as_u64().unwrap(),
        "{started}"
    );
}
