//! End to end: hand-written network files in a study (the `networks` stage kind), profiled
//! beside synthesized networks, held out by the split and evaluated by `whole` like the
//! reference networks; and a network file with an error is a manifest error that names
//! both the manifest's entry and the file's own line.

mod common;

use common::{Run, Scratch};

/// A VGG-style network at 16x16x3: two conv/ReLU/max-pool blocks and a classifier.
const VGG_TINY: &str = "\
name: vgg-tiny
family: vgg
input: {h: 16, w: 16, c: 3}
layers:
  - {name: conv1, kind: conv, filters: 8, kernel: 3, padding: 1}
  - {name: relu1, kind: relu}
  - {name: pool1, kind: max_pool, kernel: 2, stride: 2}
  - {name: conv2, kind: conv, filters: 16, kernel: 3, padding: 1}
  - {name: relu2, kind: relu}
  - {name: pool2, kind: max_pool, kernel: 2, stride: 2}
  - {name: flat, kind: flatten}
  - {name: fc, kind: fc, units: 10}
";

/// A ResNet-style network at 16x16x3 with one residual add.
const RES_TINY: &str = "\
name: res-tiny
family: resnet
input: {h: 16, w: 16, c: 3}
layers:
  - {name: stem, kind: conv, filters: 8, kernel: 3, padding: 1}
  - {name: stem_relu, kind: relu}
  - {name: conv1, kind: conv, filters: 8, kernel: 3, padding: 1}
  - {name: relu1, kind: relu}
  - {name: conv2, kind: conv, filters: 8, kernel: 3, padding: 1}
  - {name: add, kind: add, inputs: [conv2, stem_relu]}
  - {name: relu, kind: relu}
  - {name: gap, kind: global_avg_pool}
  - {name: flat, kind: flatten}
  - {name: fc, kind: fc, units: 10}
";

/// The smallest study through `whole` with the two networks above held out: 10 synthesized
/// conv networks at 16x16x3, Local only, 2 runs, IKNP, a short probe, small models.
const MANIFEST: &str = r#"name: handwritten
seed: 11
store: store
stages:
  synth:
    kind: synthesize
    params:
      count: 10
      families: [conv]
      input: {h: 16, w: 16, c: 3}
      layers: {min: 2, max: 3}
      filters: [8, 16]
      fc_units: [16]
  mine:
    kind: networks
    params: {files: [nets/]}
  profile:
    kind: profile
    needs: [synth, mine]
    params:
      settings: [local]
      runs: 2
      ot: iknp
      timeout: 120
      probe: {seconds: 0.05, reruns: 0}
  dataset:
    kind: dataset
    needs: [profile]
  split:
    kind: split
    needs: [dataset]
    params: {test: 0.2, validation: 0.3, held_out: [mine]}
  train:
    kind: train
    needs: [dataset, split]
    params:
      min_rows: 4
      mlp: {hidden: [8], max_epochs: 20, patience: 3}
  evaluate:
    kind: evaluate
    needs: [dataset, split, train]
  whole:
    kind: whole
    needs: [dataset, split, train]
    params:
      rnn: {units: 8, hidden: [8], max_epochs: 10, patience: 3}
"#;

#[test]
fn handwritten_networks_are_profiled_held_out_and_evaluated_by_whole() {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path("nets")).unwrap();
    scratch.write("nets/vgg-tiny.yaml", VGG_TINY);
    scratch.write("nets/res-tiny.yaml", RES_TINY);
    scratch.write("nets/README.txt", "not a network: ignored");
    let manifest = scratch.write("study.yaml", MANIFEST);
    let manifest = manifest.to_str().unwrap();

    let run = scratch.run(&["run", manifest]).expect_code(0);
    assert!(run.stderr.contains("8 ran"), "{}", run.stderr);

    // The split put both hand-written networks on the held-out side, never in training.
    let assignment = Run::from(
        scratch
            .snni(&[
                "artifacts",
                "show",
                "--store",
                "store",
                "--rows",
                "20",
                "split/split/assignment",
            ])
            .env("POLARS_FMT_MAX_ROWS", "20")
            .output()
            .unwrap(),
    )
    .expect_code(0);
    for network in ["vgg-tiny", "res-tiny"] {
        let line = assignment
            .stdout
            .lines()
            .find(|l| l.contains(network))
            .unwrap_or_else(|| panic!("{network} is not in the split:\n{}", assignment.stdout));
        assert!(
            line.contains("mine") && line.contains("reference"),
            "{line}"
        );
    }

    // `whole` evaluated every method on them: they are rows of its whole-network table.
    let tables = scratch.run(&["tables", manifest]).expect_code(0);
    let whole = tables
        .stdout
        .split(
            "Whole-network prediction, setting `local` (networks of the split's `held_out` stages",
        )
        .nth(1)
        .unwrap_or_else(|| panic!("no whole-network table:\n{}", tables.stdout));
    let whole = whole.split("\n\n").find(|part| part.contains('|')).unwrap();
    for network in ["vgg-tiny", "res-tiny"] {
        for party in ["server", "client"] {
            let row = whole
                .lines()
                .find(|l| l.contains(&format!("| {network} | {party} |")))
                .unwrap_or_else(|| panic!("no {network} {party} row in\n{whole}"));
            let numbers = row
                .split('|')
                .filter(|cell| cell.trim().trim_end_matches('*').parse::<f64>().is_ok())
                .count();
            assert!(numbers >= 3, "{row}");
        }
    }

    // Editing one file re-measures that network, not the other.
    scratch.write(
        "nets/vgg-tiny.yaml",
        &VGG_TINY.replace("units: 10", "units: 12"),
    );
    let again = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let mut profiled: Vec<String> = again
        .events()
        .iter()
        .filter(|e| e["event"] == "shard_finished" && e["stage"] == "profile")
        .map(|e| e["shard"].as_str().unwrap().to_string())
        .collect();
    profiled.sort();
    assert_eq!(
        profiled,
        ["vgg-tiny.local.r00", "vgg-tiny.local.r01"],
        "{}",
        again.stdout
    );
}

#[test]
fn a_bad_network_file_is_a_manifest_error_at_its_entry_and_line() {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path("nets")).unwrap();
    scratch.write("nets/vgg-tiny.yaml", VGG_TINY);
    // Line 4: a layer kind that does not exist.
    scratch.write(
        "nets/broken.yaml",
        &VGG_TINY
            .replace("name: vgg-tiny", "name: broken")
            .replace("kind: conv, filters: 8", "kind: convolution, filters: 8"),
    );
    let manifest = scratch.write(
        "study.yaml",
        "name: bad\nseed: 1\nstages:\n  mine:\n    kind: networks\n    params:\n      files: [nets/vgg-tiny.yaml, nets/broken.yaml]\n",
    );
    let check = scratch.run(&["check", manifest.to_str().unwrap()]);
    assert_ne!(check.code, 0, "{}", check.stderr);
    let text = format!("{}{}", check.stdout, check.stderr);
    assert!(text.contains("study.yaml:7:"), "{text}");
    assert!(text.contains("`params.files.1`"), "{text}");
    // The file's own error, as `snni network nets/broken.yaml` prints it.
    assert!(
        text.contains("names an invalid network: nets/broken.yaml: ")
            && text.contains("`convolution`")
            && text.contains("line 5 column 5"),
        "{text}"
    );
    assert!(!text.contains("files.0"), "{text}");
}
