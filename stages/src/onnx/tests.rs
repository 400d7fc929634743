//! The importer on models built here with the prost types (no Python needed): layouts
//! checked numerically against a direct NCHW evaluation, and one test per kind of error.
//! Models from Python's `onnx` package are tested end to end in `tests/tests/onnx.rs`.

use prost::Message;
use snni_engine::network::{Op, OpKind, Shape};
use snni_engine::nonlinear::fixed::{decode, encode};
use snni_engine::runtime::{reference, Weights};

use super::proto::attribute_proto::AttributeType;
use super::proto::tensor_proto::DataType;
use super::proto::tensor_shape_proto::{dimension, Dimension};
use super::proto::type_proto::{self, Value};
use super::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use super::{import_bytes, ImportError, ImportOptions, Imported};

/// A graph under construction.
#[derive(Default)]
struct G {
    graph: GraphProto,
    rng: u64,
}

enum A {
    I(i64),
    Is(&'static [i64]),
    F(f32),
    S(&'static str),
}

impl G {
    fn new(input: &[Option<i64>]) -> Self {
        let mut g = G {
            rng: 1,
            ..G::default()
        };
        g.graph.input.push(value_info("x", input));
        g
    }

    /// Deterministic values in [-1, 1).
    fn random(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.rng = self
                    .rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((self.rng >> 33) as f64 / (1u64 << 31) as f64 * 2.0 - 1.0) as f32
            })
            .collect()
    }

    fn init(&mut self, name: &str, dims: &[i64], values: Vec<f32>) -> String {
        self.graph.initializer.push(TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(DataType::Float as i32),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..TensorProto::default()
        });
        name.into()
    }

    fn init_random(&mut self, name: &str, dims: &[i64], scale: f32) -> String {
        let n = dims.iter().product::<i64>() as usize;
        let values = self.random(n).into_iter().map(|v| v * scale).collect();
        self.init(name, dims, values)
    }

    fn ints(&mut self, name: &str, values: &[i64]) -> String {
        self.graph.initializer.push(TensorProto {
            name: Some(name.into()),
            dims: vec![values.len() as i64],
            data_type: Some(DataType::Int64 as i32),
            int64_data: values.to_vec(),
            ..TensorProto::default()
        });
        name.into()
    }

    fn node(&mut self, op: &str, name: &str, inputs: &[&str], attrs: &[(&str, A)]) -> String {
        let attribute = attrs
            .iter()
            .map(|(k, v)| {
                let mut a = AttributeProto {
                    name: Some((*k).into()),
                    ..AttributeProto::default()
                };
                let t = match v {
                    A::I(i) => {
                        a.i = Some(*i);
                        AttributeType::Int
                    }
                    A::Is(is) => {
                        a.ints = is.to_vec();
                        AttributeType::Ints
                    }
                    A::F(f) => {
                        a.f = Some(*f);
                        AttributeType::Float
                    }
                    A::S(s) => {
                        a.s = Some(s.as_bytes().to_vec());
                        AttributeType::String
                    }
                };
                a.r#type = Some(t as i32);
                a
            })
            .collect();
        self.graph.node.push(NodeProto {
            name: Some(name.into()),
            op_type: Some(op.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![format!("{name}_out")],
            attribute,
            ..NodeProto::default()
        });
        format!("{name}_out")
    }

    fn bytes(mut self, output: &str) -> Vec<u8> {
        self.graph.output.push(value_info(output, &[]));
        ModelProto {
            ir_version: Some(8),
            graph: Some(self.graph),
            ..ModelProto::default()
        }
        .encode_to_vec()
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam("n".into()),
            }),
            ..Dimension::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn import(bytes: &[u8]) -> Imported {
    import_bytes(bytes, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e}: {:?}", e.help()))
}

fn error(bytes: &[u8], options: &ImportOptions) -> (String, String) {
    let err = import_bytes(bytes, options).unwrap_err();
    (err.to_string(), err.help().unwrap_or_default().to_owned())
}

const SCALE: u32 = 12;
const ELL: u32 = 41;

/// Our fixed-point reference on the imported weights, for an input given in ONNX's NCHW.
fn secure_reference(imported: &Imported, nchw: &[f64]) -> Vec<f64> {
    let network = &imported.network;
    let shapes = network.validate().unwrap();
    let weights =
        Weights::from_json(&imported.weights.to_json(), network, &shapes, SCALE, ELL).unwrap();
    let Shape { h, w, c } = network.input;
    let mut input = vec![0; h * w * c];
    for (i, v) in input.iter_mut().enumerate() {
        let (pixel, channel) = (i / c, i % c);
        *v = encode(nchw[channel * h * w + pixel], SCALE, ELL);
    }
    reference::run(network, &weights, &input, ELL, SCALE)
        .unwrap()
        .into_iter()
        .map(|x| decode(x, SCALE, ELL))
        .collect()
}

/// ONNX's Conv on an NCHW map (batch 1), for the numeric check.
fn conv_nchw(
    x: &[f64],
    (c, h, w): (usize, usize, usize),
    k: &[f32],
    b: &[f32],
    m: usize,
    kk: usize,
    pad: usize,
) -> Vec<f64> {
    let (oh, ow) = (h + 2 * pad - kk + 1, w + 2 * pad - kk + 1);
    let mut y = vec![0.0; m * oh * ow];
    for o in 0..m {
        for i in 0..oh {
            for j in 0..ow {
                let mut s = f64::from(b[o]);
                for ci in 0..c {
                    for u in 0..kk {
                        for v in 0..kk {
                            let (r, q) = (
                                (i + u) as isize - pad as isize,
                                (j + v) as isize - pad as isize,
                            );
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                s += f64::from(k[((o * c + ci) * kk + u) * kk + v])
                                    * x[(ci * h + r as usize) * w + q as usize];
                            }
                        }
                    }
                }
                y[(o * oh + i) * ow + j] = s;
            }
        }
    }
    y
}

#[test]
fn conv_flatten_gemm_match_a_direct_nchw_evaluation() {
    let mut g = G::new(&[Some(1), Some(2), Some(4), Some(4)]);
    let k = g.init_random("k", &[3, 2, 3, 3], 0.5);
    let b = g.init_random("b", &[3], 0.1);
    let y = g.node(
        "Conv",
        "conv",
        &["x", &k, &b],
        &[
            ("pads", A::Is(&[1, 1, 1, 1])),
            ("kernel_shape", A::Is(&[3, 3])),
        ],
    );
    let y = g.node("Relu", "relu", &[&y], &[]);
    let y = g.node("Flatten", "flat", &[&y], &[("axis", A::I(1))]);
    let wfc = g.init_random("wfc", &[5, 48], 0.3);
    let bfc = g.init_random("bfc", &[5], 0.1);
    let y = g.node(
        "Gemm",
        "fc",
        &[&y, &wfc, &bfc],
        &[
            ("transB", A::I(1)),
            ("alpha", A::F(0.5)),
            ("beta", A::F(2.0)),
        ],
    );
    let kv = g.graph.initializer[0].raw_data.clone().unwrap();
    let f32s = |bytes: &[u8]| -> Vec<f32> {
        bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (kernel, bias) = (
        f32s(&kv),
        f32s(g.graph.initializer[1].raw_data.as_ref().unwrap()),
    );
    let (wm, wb) = (
        f32s(g.graph.initializer[2].raw_data.as_ref().unwrap()),
        f32s(g.graph.initializer[3].raw_data.as_ref().unwrap()),
    );
    let x: Vec<f64> = g.random(32).into_iter().map(f64::from).collect();
    let imported = import(&g.bytes(&y));

    let kinds: Vec<OpKind> = imported
        .network
        .layers
        .iter()
        .map(|l| l.op.kind())
        .collect();
    assert_eq!(
        kinds,
        [OpKind::Conv, OpKind::Relu, OpKind::Flatten, OpKind::Fc]
    );
    assert_eq!(imported.network.input, Shape::new(4, 4, 2));
    assert_eq!(imported.network.family, "onnx");

    // ONNX semantics, directly: conv, relu, CHW flatten, 0.5·W·v + 2·b.
    let conv: Vec<f64> = conv_nchw(&x, (2, 4, 4), &kernel, &bias, 3, 3, 1)
        .into_iter()
        .map(|v| v.max(0.0))
        .collect();
    let expected: Vec<f64> = (0..5)
        .map(|n| {
            0.5 * (0..48)
                .map(|p| f64::from(wm[n * 48 + p]) * conv[p])
                .sum::<f64>()
                + 2.0 * f64::from(wb[n])
        })
        .collect();
    let got = secure_reference(&imported, &x);
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 0.02, "got {got:?}\nexpected {expected:?}");
    }
}

#[test]
fn batch_norm_folds_and_matmul_add_becomes_a_biased_fc() {
    let mut g = G::new(&[None, Some(3), Some(2), Some(2)]);
    let scale = g.init("s", &[3], vec![1.0, 2.0, 0.5]);
    let shift = g.init("bb", &[3], vec![0.0, 1.0, -1.0]);
    let mean = g.init("m", &[3], vec![0.5, 0.0, 2.0]);
    let var = g.init("v", &[3], vec![4.0, 1.0, 0.25]);
    let y = g.node(
        "BatchNormalization",
        "bn",
        &["x", &scale, &shift, &mean, &var],
        &[("epsilon", A::F(0.0))],
    );
    let y = g.node("GlobalAveragePool", "gap", &[&y], &[]);
    let shape = g.ints("shape", &[1, -1]);
    let y = g.node("Reshape", "reshape", &[&y, &shape], &[]);
    let w = g.init("w", &[3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    let y = g.node("MatMul", "mm", &[&y, &w], &[]);
    let b = g.init("b", &[2], vec![0.25, -0.25]);
    let y = g.node("Add", "bias", &[&y, &b], &[]);
    let y = g.node("Dropout", "drop", &[&y], &[]);
    let options = ImportOptions {
        input: Some(Shape::new(2, 2, 3)),
        ..ImportOptions::default()
    };
    let imported = import_bytes(&g.bytes(&y), &options).unwrap();
    let layers = &imported.network.layers;
    assert_eq!(layers.len(), 4, "{layers:?}");
    assert_eq!(layers[2].op, Op::Flatten {});
    assert_eq!(
        layers[3].op,
        Op::Fc {
            units: 2,
            bias: true
        }
    );
    let bn = &imported.weights.layers["bn"];
    assert_eq!(bn.weights, [0.5, 2.0, 1.0]);
    assert_eq!(bn.bias, [-0.25, 1.0, -3.0]);
    let fc = &imported.weights.layers["mm"];
    assert_eq!(fc.weights, [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
    assert_eq!(fc.bias, [0.25, -0.25]);
}

#[test]
fn same_padding_pools_and_residual_add() {
    let mut g = G::new(&[Some(1), Some(4), Some(8), Some(8)]);
    let k = g.init_random("k", &[4, 4, 3, 3], 0.2);
    let c = g.node("Conv", "c", &["x", &k], &[("auto_pad", A::S("SAME_UPPER"))]);
    let sum = g.node("Add", "sum", &[&c, "x"], &[]);
    let p = g.node(
        "AveragePool",
        "avg",
        &[&sum],
        &[
            ("kernel_shape", A::Is(&[3, 3])),
            ("strides", A::Is(&[2, 2])),
            ("pads", A::Is(&[1, 1, 1, 1])),
            ("count_include_pad", A::I(1)),
        ],
    );
    let m = g.node(
        "MaxPool",
        "max",
        &[&p],
        &[
            ("kernel_shape", A::Is(&[2, 2])),
            ("strides", A::Is(&[2, 2])),
            ("ceil_mode", A::I(1)),
        ],
    );
    let cat = g.node("Concat", "cat", &[&m, &m], &[("axis", A::I(1))]);
    let imported = import(&g.bytes(&cat));
    let shapes = imported.network.validate().unwrap();
    assert_eq!(shapes.output(), Shape::new(2, 2, 8));
    assert_eq!(imported.network.layers[0].op, Op::conv(4, 3, 1, 1, false));
    assert_eq!(imported.network.layers[1].inputs, ["c", "input"]);
    assert!(
        imported.notes.iter().any(|n| n.contains("HWC")),
        "{:?}",
        imported.notes
    );
}

#[test]
fn unsupported_ops_name_the_node_and_the_way_out() {
    let mut g = G::new(&[Some(1), Some(4), Some(8), Some(8)]);
    let k = g.init_random("k", &[4, 1, 3, 3], 0.2);
    let y = g.node(
        "Conv",
        "dw",
        &["x", &k],
        &[("group", A::I(4)), ("pads", A::Is(&[1, 1, 1, 1]))],
    );
    let (message, help) = error(&g.bytes(&y), &ImportOptions::default());
    assert_eq!(message, "import node 'dw' (Conv): depthwise convolution (group = 4): the engine's HE convolution is dense (group 1)");
    assert!(help.contains("--end-at x"), "{help}");

    let mut g = G::new(&[Some(1), Some(2), Some(4), Some(4)]);
    let y = g.node("Relu", "r", &["x"], &[]);
    let y = g.node("GlobalAveragePool", "gap", &[&y], &[]);
    let y = g.node("Flatten", "flat", &[&y], &[]);
    let s = g.node("Softmax", "prob", &[&y], &[]);
    let bytes = g.bytes(&s);
    let (message, help) = error(&bytes, &ImportOptions::default());
    assert!(
        message.starts_with("import node 'prob' (Softmax): softmax has no secure protocol"),
        "{message}"
    );
    assert!(help.contains("`--end-at flat_out`"), "{help}");
    // The way out works: stop at the softmax's input (by tensor or by node name).
    for output in ["flat_out", "flat"] {
        let options = ImportOptions {
            end_at: Some(output.into()),
            ..ImportOptions::default()
        };
        let imported = import_bytes(&bytes, &options).unwrap();
        assert_eq!(imported.network.layers.len(), 3, "{output}");
    }

    let mut g = G::new(&[Some(1), Some(2), Some(4), Some(4)]);
    let k = g.init_random("k", &[2, 2, 2, 2], 0.2);
    let y = g.node(
        "Conv",
        "asym",
        &["x", &k],
        &[("pads", A::Is(&[0, 0, 1, 1]))],
    );
    let (message, _) = error(&g.bytes(&y), &ImportOptions::default());
    assert!(
        message.contains("pads [0, 0, 1, 1] are not equal on every side"),
        "{message}"
    );

    let mut g = G::new(&[Some(1), Some(2), Some(4), Some(4)]);
    let y = g.node("Sigmoid", "gate", &["x"], &[]);
    let (message, help) = error(&g.bytes(&y), &ImportOptions::default());
    assert!(
        message.contains("(Sigmoid): the engine has secure protocols for ReLU"),
        "{message}"
    );
    assert!(
        help.starts_with("replace the activation with ReLU"),
        "{help}"
    );

    let mut g = G::new(&[Some(1), Some(2), Some(4), Some(4)]);
    let y = g.node("Frobnicate", "f", &["x"], &[]);
    let (message, help) = error(&g.bytes(&y), &ImportOptions::default());
    assert!(
        message.contains("(Frobnicate): this op has no counterpart"),
        "{message}"
    );
    assert!(help.contains("README"), "{help}");
}

#[test]
fn inputs_must_be_one_image_of_a_known_size() {
    let mut g = G::new(&[None, Some(3), None, None]);
    let y = g.node("Relu", "r", &["x"], &[]);
    let bytes = g.bytes(&y);
    let (message, help) = error(&bytes, &ImportOptions::default());
    assert!(message.contains("symbolic size"), "{message}");
    assert_eq!(help, "give the size with --input HxWxC");
    let options = ImportOptions {
        input: Some(Shape::new(5, 5, 4)),
        ..ImportOptions::default()
    };
    assert!(error(&bytes, &options).0.contains("has 3 channels"));
    let options = ImportOptions {
        default_input: Some(Shape::new(6, 6, 3)),
        ..ImportOptions::default()
    };
    let imported = import_bytes(&bytes, &options).unwrap();
    assert_eq!(imported.network.input, Shape::new(6, 6, 3));
    assert!(
        imported.notes[0].contains("using 6x6x3"),
        "{:?}",
        imported.notes
    );

    let mut g = G::new(&[Some(1), Some(3), Some(8), Some(8)]);
    let y = g.node("Relu", "r", &["x"], &[]);
    let options = ImportOptions {
        input: Some(Shape::new(9, 9, 3)),
        ..ImportOptions::default()
    };
    let (message, help) = error(&g.bytes(&y), &options);
    assert!(
        message.contains("fixed at 8x8x3, --input says 9x9x3"),
        "{message}"
    );
    assert!(help.contains("leave --input out"), "{help}");

    assert!(matches!(
        import_bytes(b"\xff\xff not protobuf", &ImportOptions::default()),
        Err(ImportError::Decode { .. })
    ));
}
