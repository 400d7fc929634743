//! ONNX import end to end, on models that Python's `onnx` package writes
//! (`tests/python/onnx_fixtures.py`): torchvision's SqueezeNet 1.1 and ResNet-18 at 32×32,
//! a model with one of each mapped op, and one model per unsupported construct.
//!
//! Checked: the imports match our built-in references layer by layer where they coincide;
//! the exported weights reproduce ONNX's own reference evaluator's outputs through our
//! fixed-point reference; `snni infer` runs the real weights under secure inference; every
//! unsupported construct is an error naming the node and what to do; a `networks` stage
//! stores an .onnx file's network as `snni network import` gives it. Needs Python with the
//! packages of `tests/python/requirements.txt` (see `common/tools.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{tools, Scratch};
use snni_engine::network::{Network, Shape};
use snni_engine::nonlinear::fixed::decode;
use snni_engine::runtime::{reference, Input, Weights};
use snni_engine::zoo;
use snni_stages::onnx::{import_file, ImportOptions};

/// The fixtures, written once per test process; `None` when Python is skipped on purpose.
fn fixtures(test: &str) -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    let python = tools::python(test)?;
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("onnx-fixtures-{}", std::process::id()));
        tools::run_python(&python, "onnx_fixtures.py", &[dir.as_os_str()]);
        Some(dir)
    })
    .as_deref()
}

fn import(path: &Path) -> snni_stages::onnx::Imported {
    import_file(path, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Kind, output shape and parameters of every layer.
fn signature(network: &Network) -> Vec<(String, String, u64)> {
    let shapes = network.validate().unwrap();
    network
        .layers
        .iter()
        .zip(&shapes.layers)
        .map(|(l, info)| {
            (
                l.op.kind().to_string(),
                info.output.to_string(),
                info.params(),
            )
        })
        .collect()
}

#[test]
fn torchvision_shaped_models_match_our_references() {
    let Some(dir) = fixtures("torchvision_shaped_models_match_our_references") else {
        return;
    };
    let input = Shape::new(32, 32, 3);
    // SqueezeNet 1.1 coincides with ours layer by layer (Dropout folded away).
    let squeezenet = import(&dir.join("squeezenet11_32.onnx")).network;
    assert_eq!(squeezenet.input, input);
    assert_eq!(signature(&squeezenet), signature(&zoo::squeezenet(input)));
    assert_eq!(squeezenet.param_count().unwrap(), 1_235_496);
    assert_eq!(squeezenet.layers[0].name, "/features/features.0/Conv");

    // ResNet-18: torchvision's parameter count; its stem is ResNet-50's.
    let resnet18 = import(&dir.join("resnet18_32.onnx")).network;
    assert_eq!(resnet18.param_count().unwrap(), 11_689_512);
    // Stem 4; 8 basic blocks of 7 layers, 3 with a 2-layer downsample; pool, flatten, fc.
    assert_eq!(
        resnet18.layers.len(),
        4 + 8 * 7 + 3 * 2 + 3,
        "{:#?}",
        signature(&resnet18)
    );
    assert_eq!(
        signature(&resnet18)[..4],
        signature(&zoo::resnet50(input))[..4]
    );
    assert_eq!(
        signature(&resnet18).last().unwrap(),
        &("fc".to_string(), "1x1x1000".to_string(), 513_000)
    );
}

#[test]
fn imported_weights_reproduce_onnx_reference_outputs() {
    let Some(dir) = fixtures("imported_weights_reproduce_onnx_reference_outputs") else {
        return;
    };
    for (name, tolerance) in [("tiny_mixed", 0.01), ("squeezenet11_32", 0.02)] {
        let imported = import(&dir.join(format!("{name}.onnx")));
        let network = &imported.network;
        let shapes = network.validate().unwrap();
        let (ell, scale) = (41, 12);
        let weights =
            Weights::from_json(&imported.weights.to_json(), network, &shapes, scale, ell).unwrap();
        let input_text = std::fs::read_to_string(dir.join(format!("{name}.input.json"))).unwrap();
        let input = Input::from_json(&input_text, network.input, scale, ell).unwrap();
        let output: Vec<f64> = reference::run(network, &weights, &input.values, ell, scale)
            .unwrap()
            .into_iter()
            .map(|x| decode(x, scale, ell))
            .collect();
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();
        let expected: Vec<f64> = expected["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(output.len(), expected.len(), "{name}");
        let scale_of = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let worst = output
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!("{name}: worst error {worst:.5} on outputs up to {scale_of:.3}");
        assert!(
            worst <= tolerance * scale_of.max(1.0),
            "{name}: worst error {worst} against outputs up to {scale_of}\nours {:?}\nonnx {:?}",
            &output[..output.len().min(8)],
            &expected[..expected.len().min(8)]
        );
    }
}

#[test]
fn network_import_then_infer_runs_the_real_weights() {
    let Some(dir) = fixtures("network_import_then_infer_runs_the_real_weights") else {
        return;
    };
    let scratch = Scratch::new();
    let model = dir.join("tiny_mixed.onnx");
    let model = model.to_str().unwrap();
    let run = scratch
        .run(&[
            "network",
            "import",
            model,
            "-o",
            "tiny.yaml",
            "--weights-out",
            "tiny.weights.json",
        ])
        .expect_code(0);
    assert!(run.stderr.contains("imported"), "{}", run.stderr);
    let yaml = std::fs::read_to_string(scratch.path("tiny.yaml")).unwrap();
    let network = Network::from_yaml_str(&yaml).unwrap();
    assert_eq!(network.family, "onnx");
    assert_eq!(network, import(Path::new(model)).network);
    // The YAML and the .onnx are interchangeable wherever a network is read.
    let shown = scratch.run(&["network", model]).expect_code(0);
    assert!(shown.stdout.contains("/head/Gemm"), "{}", shown.stdout);
    let input = dir.join("tiny_mixed.input.json");
    for network in [model, "tiny.yaml"] {
        let infer = scratch
            .run(&[
                "infer",
                "--network",
                network,
                "--weights",
                "tiny.weights.json",
                "--input",
                input.to_str().unwrap(),
                "--json",
            ])
            .expect_code(0);
        let layers = infer
            .events()
            .iter()
            .filter(|l| l["record"] == "layer")
            .count();
        assert_eq!(layers, 2 * network_len(&yaml), "{}", infer.stdout);
    }
}

fn network_len(yaml: &str) -> usize {
    Network::from_yaml_str(yaml).unwrap().layers.len()
}

#[test]
fn unsupported_constructs_name_the_node_and_what_to_do() {
    let Some(dir) = fixtures("unsupported_constructs_name_the_node_and_what_to_do") else {
        return;
    };
    let scratch = Scratch::new();
    let cases = [
        (
            "unsupported_depthwise_conv",
            "'/dw/Conv' (Conv): depthwise convolution (group = 8)",
            "--end-at input",
        ),
        (
            "unsupported_grouped_conv",
            "'/grouped/Conv' (Conv): grouped convolution (group = 2)",
            "use dense convolutions",
        ),
        (
            "unsupported_dilated_conv",
            "'/dilated/Conv' (Conv): dilations [2, 2]",
            "--end-at input",
        ),
        (
            "unsupported_sigmoid",
            "'/gate/Sigmoid' (Sigmoid): the engine has secure protocols for ReLU",
            "replace the activation with ReLU",
        ),
        (
            "unsupported_clip_relu6",
            "'/act/Clip' (Clip): Clip (e.g. ReLU6)",
            "replace ReLU6/Clip with ReLU",
        ),
        (
            "unsupported_leaky_relu",
            "'/act/LeakyRelu' (LeakyRelu)",
            "replace them with ReLU",
        ),
        (
            "unsupported_softmax_end",
            "'/prob/Softmax' (Softmax): softmax has no secure protocol",
            "--end-at /fc/Gemm_output_0",
        ),
        (
            "unsupported_avgpool_exclude_pad",
            "'/avg/AveragePool' (AveragePool): with padding and count_include_pad = 0",
            "count_include_pad=True",
        ),
        (
            "unsupported_asymmetric_pads",
            "'/pool/MaxPool' (MaxPool): pads [0, 0, 1, 1] are not equal",
            "--end-at input",
        ),
    ];
    for (file, message, help) in cases {
        let model = dir.join(format!("{file}.onnx"));
        let run = scratch
            .run(&["network", "import", model.to_str().unwrap()])
            .expect_code(3);
        assert!(run.stderr.contains(message), "{file}: {}", run.stderr);
        assert!(run.stderr.contains(help), "{file}: {}", run.stderr);
    }
    // The remedy the softmax error offers works.
    let model = dir.join("unsupported_softmax_end.onnx");
    let run = scratch
        .run(&[
            "network",
            "import",
            model.to_str().unwrap(),
            "--end-at",
            "/fc/Gemm_output_0",
        ])
        .expect_code(0);
    assert!(run.stdout.contains("kind: fc"), "{}", run.stdout);
}

#[test]
fn a_networks_stage_reads_onnx_models_as_snni_network_does() {
    let Some(dir) = fixtures("a_networks_stage_reads_onnx_models_as_snni_network_does") else {
        return;
    };
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path("nets")).unwrap();
    std::fs::copy(
        dir.join("tiny_mixed.onnx"),
        scratch.path("nets/tiny_mixed.onnx"),
    )
    .unwrap();
    let manifest = scratch.write(
        "study.yaml",
        "name: onnx\nseed: 1\nstore: store\nstages:\n  mine:\n    kind: networks\n    params: {files: [nets/]}\n",
    );
    scratch
        .run(&["run", manifest.to_str().unwrap()])
        .expect_code(0);
    let stored = scratch
        .run(&[
            "artifacts",
            "show",
            "--store",
            "store",
            "mine/tiny_mixed/network",
        ])
        .expect_code(0);
    let stored = Network::from_yaml_str(&stored.stdout)
        .unwrap_or_else(|e| panic!("{e}:\n{}", stored.stdout));
    assert_eq!(stored, import(&dir.join("tiny_mixed.onnx")).network);
}
