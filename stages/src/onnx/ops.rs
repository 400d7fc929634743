//! One ONNX node → our layers: the supported-op table ([`SUPPORTED_OPS`]) and its mapping,
//! with the weight layouts converted (conv `[M][C][kh][kw]` → `[kh][kw][C][M]`, Gemm/MatMul
//! → `[units][inputs]` in our element order, batch norm folded to `γ·x + β`).

use snni_engine::network::{window_output, Kernel, Op, Shape};

use super::attrs::Attrs;
use super::convert::{node_error, stop_before, Act, Converter, Order, Value};
use super::error::ImportError;
use super::geometry::window;
use super::proto::NodeProto;
use super::tensor::{self, Tensor, Values};
use super::weights::LayerValues;

/// The ONNX ops the importer maps, with the layer each becomes and its conditions (the
/// README's table is checked against this one).
pub const SUPPORTED_OPS: [(&str, &str, &str); 15] = [
    ("Conv", "conv", "group 1, dilation 1, equal strides, equal pads on every side (or auto_pad giving them)"),
    ("Gemm", "fc", "flat input, transA 0; alpha and beta are folded into the weights"),
    ("MatMul", "fc", "flat input times a constant [K, N] matrix; a following Add of a constant [N] becomes the bias"),
    ("Add", "add", "two activations of equal shape; a constant after MatMul or a bias-less Conv becomes its bias"),
    ("BatchNormalization", "batch_norm", "inference mode; folded to γ = scale/√(var+ε), β = B − mean·γ"),
    ("Relu", "relu", ""),
    ("MaxPool", "max_pool", "equal strides and pads; ceil_mode only where it gives the floor size"),
    ("AveragePool", "avg_pool", "as MaxPool; with padding, count_include_pad = 1"),
    ("GlobalAveragePool", "global_avg_pool", ""),
    ("Concat", "concat", "along channels (axis 1)"),
    ("Flatten", "flatten", "axis 1; a later Gemm/MatMul reads our HWC order"),
    ("Reshape", "flatten", "to [1, C·H·W] (or [N, −1]) with a constant shape"),
    ("Identity", "(folded)", ""),
    ("Dropout", "(folded)", "inference mode"),
    ("Constant", "(a constant)", "read by Reshape, Add and the weight inputs"),
];

/// Ops with a known reason and remedy.
fn unsupported(op: &str) -> Option<(&'static str, &'static str)> {
    Some(match op {
        "Sigmoid" | "Tanh" | "HardSigmoid" | "HardSwish" | "Gelu" | "Erf" | "Elu" | "Selu"
        | "Softplus" | "Mish" => (
            "the engine has secure protocols for ReLU and SAFENet polynomials only",
            "replace the activation with ReLU in the model and export again",
        ),
        "LeakyRelu" | "PRelu" => (
            "leaky ReLUs have no secure protocol in the engine (ReLU only)",
            "replace them with ReLU in the model and export again",
        ),
        "Clip" => (
            "Clip (e.g. ReLU6) has no secure protocol in the engine (ReLU only)",
            "replace ReLU6/Clip with ReLU in the model and export again",
        ),
        "Softmax" | "LogSoftmax" => (
            "softmax has no secure protocol in the engine; when it ends the network the client \
             can apply it to the output itself",
            "import the network without it",
        ),
        "ConvTranspose" => (
            "transposed convolutions have no counterpart among our layers",
            "use convolutions",
        ),
        "Mul" | "Sub" | "Div" => (
            "element-wise arithmetic other than Add has no counterpart among our layers",
            "fold scaling into the weights before exporting (e.g. onnxsim)",
        ),
        _ => return None,
    })
}

impl Converter<'_> {
    /// Converts one node.
    pub fn node(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let attrs = Attrs::of(node);
        let bad_attr = |problem: String| node_error(node, problem, stop_before(node));
        match node.op_type() {
            "Conv" => self.conv(node, &attrs),
            "Gemm" | "MatMul" => self.dense(node, &attrs),
            "BatchNormalization" => self.batch_norm(node, &attrs),
            "Relu" => {
                let x = self.act(node, 0)?;
                let layer = self.push(node, Op::Relu {}, &[&x], None);
                self.bind(node, Act { layer, ..x });
                Ok(())
            }
            "MaxPool" | "AveragePool" => self.pool(node, &attrs),
            "GlobalAveragePool" => {
                let x = self.act(node, 0)?;
                let layer = self.push(node, Op::GlobalAvgPool {}, &[&x], None);
                let shape = Shape::flat(x.shape.c);
                self.bind(
                    node,
                    Act {
                        layer,
                        shape,
                        rank: 4,
                        order: Order::Same,
                    },
                );
                Ok(())
            }
            "Add" => self.add(node),
            "Concat" => self.concat(node, &attrs),
            "Flatten" => {
                let axis = attrs.int("axis").map_err(bad_attr)?.unwrap_or(1);
                let x = self.act(node, 0)?;
                if axis != 1 && !(x.rank == 4 && axis == -3) && !(x.rank == 2 && axis == -1) {
                    return Err(node_error(
                        node,
                        format!("axis {axis} keeps more than the batch dimension"),
                        "flatten with axis 1 (torch.flatten(x, 1))",
                    ));
                }
                self.flatten(node, x);
                Ok(())
            }
            "Reshape" => self.reshape(node),
            "Identity" | "Dropout" => {
                self.only_first_output(node)?;
                let x = self.act(node, 0)?;
                self.bind(node, x);
                Ok(())
            }
            "Constant" => self.constant_node(node, &attrs),
            op => {
                let (problem, help) = unsupported(op).unwrap_or((
                    "this op has no counterpart among our layers",
                    "see the supported ops in the README (`ONNX import`)",
                ));
                Err(node_error(
                    node,
                    problem,
                    format!("{help}, {}", stop_before(node)),
                ))
            }
        }
    }

    fn conv(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<(), ImportError> {
        let bad = |problem: String| node_error(node, problem, stop_before(node));
        let x = self.act(node, 0)?;
        let w = self.weight(node, 1)?;
        let group = attrs.int("group").map_err(bad)?.unwrap_or(1);
        if group != 1 {
            let what = if group as usize == x.shape.c {
                "depthwise"
            } else {
                "grouped"
            };
            return Err(node_error(
                node,
                format!("{what} convolution (group = {group}): the engine's HE convolution is dense (group 1)"),
                format!("use dense convolutions in the model, {}", stop_before(node)),
            ));
        }
        let [m, c, kh, kw] = w.dims[..] else {
            return Err(bad(format!(
                "weights of dimensions {:?} are not [M, C, kh, kw]",
                w.dims
            )));
        };
        if x.rank != 4 || c != x.shape.c {
            return Err(bad(format!(
                "weights for {c} input channels, the input is {} (rank {})",
                x.shape, x.rank
            )));
        }
        if let Some(k) = attrs.ints("kernel_shape").map_err(bad)? {
            if k != [kh as i64, kw as i64] {
                return Err(bad(format!(
                    "kernel_shape {k:?} disagrees with weights {:?}",
                    w.dims
                )));
            }
        }
        let kernel = Kernel::new(kh, kw);
        let (stride, padding) = window(attrs, kernel, x.shape, false).map_err(bad)?;
        let shape = out_shape(x.shape, kernel, stride, padding, m).ok_or_else(|| {
            bad(format!(
                "kernel {kernel} does not fit the padded input {}",
                x.shape
            ))
        })?;
        let bias = self.bias(node, 2, m)?;
        let src = w.reals().unwrap_or_default();
        let mut weights = vec![0.0; src.len()];
        for (o, co, i, j) in itertools4(m, c, kh, kw) {
            weights[((i * kw + j) * c + co) * m + o] = src[((o * c + co) * kh + i) * kw + j];
        }
        let op = Op::Conv {
            filters: m,
            kernel,
            stride,
            padding,
            bias: !bias.is_empty(),
        };
        let layer = self.push(node, op, &[&x], Some(LayerValues { weights, bias }));
        self.bind(
            node,
            Act {
                layer,
                shape,
                rank: 4,
                order: Order::Same,
            },
        );
        Ok(())
    }

    /// `Gemm` (with its alpha, beta, transB and bias) and `MatMul`.
    fn dense(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<(), ImportError> {
        let bad = |problem: String| node_error(node, problem, stop_before(node));
        let x = self.act(node, 0)?;
        if !x.shape.is_flat() || x.rank != 2 {
            return Err(node_error(
                node,
                format!(
                    "the input is {} (rank {}), not a flat vector",
                    x.shape, x.rank
                ),
                "flatten the map first (Flatten, or torch.flatten(x, 1))",
            ));
        }
        let gemm = node.op_type() == "Gemm";
        if gemm && attrs.int("transA").map_err(bad)? == Some(1) {
            return Err(bad(
                "transA = 1 (a transposed input) has no counterpart".into()
            ));
        }
        let trans_b = gemm && attrs.int("transB").map_err(bad)? == Some(1);
        let alpha = if gemm {
            attrs.float("alpha").map_err(bad)?.unwrap_or(1.0)
        } else {
            1.0
        };
        let beta = if gemm {
            attrs.float("beta").map_err(bad)?.unwrap_or(1.0)
        } else {
            1.0
        };
        let b = self.weight(node, 1)?;
        let [r, s] = b.dims[..] else {
            return Err(bad(format!(
                "weights of dimensions {:?} are not a matrix",
                b.dims
            )));
        };
        let (k, n) = if trans_b { (s, r) } else { (r, s) };
        if k != x.shape.c {
            return Err(bad(format!(
                "weights for {k} inputs, the input has {}",
                x.shape.c
            )));
        }
        let src = b.reals().unwrap_or_default();
        let mut weights = Vec::with_capacity(k * n);
        for unit in 0..n {
            for q in 0..k {
                let p = x.order.onnx_index(q);
                let v = if trans_b {
                    src[unit * k + p]
                } else {
                    src[p * n + unit]
                };
                weights.push(alpha * v);
            }
        }
        let bias: Vec<f64> = if gemm {
            self.bias(node, 2, n)?
                .into_iter()
                .map(|v| beta * v)
                .collect()
        } else {
            Vec::new()
        };
        let op = Op::Fc {
            units: n,
            bias: !bias.is_empty(),
        };
        let layer = self.push(node, op, &[&x], Some(LayerValues { weights, bias }));
        self.bind(
            node,
            Act {
                layer,
                shape: Shape::flat(n),
                rank: 2,
                order: Order::Same,
            },
        );
        Ok(())
    }

    /// The optional bias input `index`: `len` values (a single value is broadcast).
    fn bias(
        &mut self,
        node: &NodeProto,
        index: usize,
        len: usize,
    ) -> Result<Vec<f64>, ImportError> {
        if node.input.get(index).is_none_or(|n| n.is_empty()) {
            return Ok(Vec::new());
        }
        let t = self.weight(node, index)?;
        let values = t.reals().unwrap_or_default();
        match values.len() {
            1 => Ok(vec![values[0]; len]),
            n if n == len => Ok(values.to_vec()),
            n => Err(node_error(
                node,
                format!("the bias has {n} values for {len} outputs"),
                stop_before(node),
            )),
        }
    }

    fn batch_norm(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<(), ImportError> {
        let bad = |problem: String| node_error(node, problem, stop_before(node));
        if attrs.int("training_mode").map_err(bad)? == Some(1) {
            return Err(node_error(
                node,
                "training_mode = 1 normalizes with batch statistics",
                "export the model in inference mode (model.eval())",
            ));
        }
        self.only_first_output(node)?;
        let x = self.act(node, 0)?;
        let epsilon = attrs.float("epsilon").map_err(bad)?.unwrap_or(1e-5);
        let channels = x.shape.c;
        let mut params = Vec::new();
        for index in 1..=4 {
            let t = self.weight(node, index)?;
            if t.len() != channels {
                return Err(bad(format!(
                    "input {index} has {} values for {channels} channels",
                    t.len()
                )));
            }
            params.push(t);
        }
        let get = |i: usize, q: usize| params[i].reals().unwrap_or_default()[x.order.onnx_index(q)];
        let gamma: Vec<f64> = (0..channels)
            .map(|q| get(0, q) / (get(3, q) + epsilon).sqrt())
            .collect();
        let beta: Vec<f64> = (0..channels)
            .map(|q| get(1, q) - get(2, q) * gamma[q])
            .collect();
        let values = LayerValues {
            weights: gamma,
            bias: beta,
        };
        let layer = self.push(node, Op::BatchNorm {}, &[&x], Some(values));
        self.bind(node, Act { layer, ..x });
        Ok(())
    }

    fn pool(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<(), ImportError> {
        let bad = |problem: String| node_error(node, problem, stop_before(node));
        self.only_first_output(node)?;
        let x = self.act(node, 0)?;
        let kernel = match attrs.ints("kernel_shape").map_err(bad)?.as_deref() {
            Some(&[h, w]) if h > 0 && w > 0 => Kernel::new(h as usize, w as usize),
            other => return Err(bad(format!("kernel_shape {other:?} is not two sides"))),
        };
        let (stride, padding) = window(attrs, kernel, x.shape, true).map_err(bad)?;
        let max = node.op_type() == "MaxPool";
        if !max && padding > 0 && attrs.int("count_include_pad").map_err(bad)? != Some(1) {
            return Err(node_error(
                node,
                "with padding and count_include_pad = 0, border windows divide by fewer than \
                 kh·kw; our avg_pool always divides by kh·kw",
                format!(
                    "export with count_include_pad=True (PyTorch's default), {}",
                    stop_before(node)
                ),
            ));
        }
        let shape = out_shape(x.shape, kernel, stride, padding, x.shape.c).ok_or_else(|| {
            bad(format!(
                "kernel {kernel} does not fit the padded input {}",
                x.shape
            ))
        })?;
        let op = if max {
            Op::MaxPool {
                kernel,
                stride,
                padding,
            }
        } else {
            Op::AvgPool {
                kernel,
                stride,
                padding,
            }
        };
        let layer = self.push(node, op, &[&x], None);
        self.bind(
            node,
            Act {
                layer,
                shape,
                rank: 4,
                order: Order::Same,
            },
        );
        Ok(())
    }

    /// `Add` of two activations, or a constant bias folded into the layer before it.
    fn add(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let constants: Vec<bool> = node
            .input
            .iter()
            .map(|n| !matches!(self.values.get(n), Some(Value::Act(_))))
            .collect();
        match constants[..] {
            [false, false] => {
                let (a, b) = (self.act(node, 0)?, self.act(node, 1)?);
                if a.shape != b.shape || a.rank != b.rank || a.order != b.order {
                    return Err(node_error(
                        node,
                        format!("adds {} and {}; our add takes two tensors of one shape (no broadcasting)", a.shape, b.shape),
                        stop_before(node),
                    ));
                }
                let layer = self.push(node, Op::Add {}, &[&a, &b], None);
                self.bind(node, Act { layer, ..a });
                Ok(())
            }
            [false, true] => self.fold_bias(node, 0, 1),
            [true, false] => self.fold_bias(node, 1, 0),
            _ => Err(node_error(
                node,
                "adds two constants",
                "fold constants before exporting (e.g. onnxsim)",
            )),
        }
    }

    /// `x + b` where `x` is the output of a bias-less fc or conv layer read by nothing else
    /// and `b` one value per output channel: becomes that layer's bias.
    fn fold_bias(
        &mut self,
        node: &NodeProto,
        act: usize,
        constant: usize,
    ) -> Result<(), ImportError> {
        let x = self.act(node, act)?;
        let b = self.weight(node, constant)?;
        let only_reader = self.consumers.get(&node.input[act]).copied() == Some(1);
        let last = self
            .layers
            .last_mut()
            .filter(|l| l.name == x.layer && only_reader);
        let dims = &b.dims;
        let per_channel = b.len() == 1
            || match x.rank {
                // [N] or [1, N] after a MatMul
                2 => !dims.is_empty() && dims[..dims.len() - 1].iter().all(|&d| d == 1),
                // [C, 1, 1] or [1, C, 1, 1] after a Conv
                _ => {
                    dims.len() >= 3
                        && dims[dims.len() - 2..] == [1, 1]
                        && dims[..dims.len() - 3].iter().all(|&d| d == 1)
                }
            };
        let fits = per_channel && (b.len() == 1 || b.len() == x.shape.c);
        match last.map(|l| &mut l.op) {
            Some(Op::Fc { bias, .. } | Op::Conv { bias, .. }) if !*bias && fits => {
                *bias = true;
                let values = b.reals().unwrap_or_default();
                let entry = self
                    .weights
                    .get_mut(&x.layer)
                    .expect("conv and fc layers have weights");
                entry.bias = (0..x.shape.c)
                    .map(|q| values[if values.len() == 1 { 0 } else { q }])
                    .collect();
                self.bind(node, x);
                Ok(())
            }
            _ => Err(node_error(
                node,
                format!(
                    "adds the constant `{}` (dimensions {:?}) to an activation; only a per-channel \
                     bias right after a MatMul or a bias-less Conv has a counterpart",
                    node.input[constant], b.dims
                ),
                format!(
                    "fold the constant into the weights before exporting, {}",
                    stop_before(node)
                ),
            )),
        }
    }

    fn concat(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<(), ImportError> {
        let bad = |problem: String| node_error(node, problem, stop_before(node));
        let parts: Vec<Act> = (0..node.input.len())
            .map(|i| self.act(node, i))
            .collect::<Result<_, _>>()?;
        let axis = attrs.int("axis").map_err(bad)?.unwrap_or(1);
        let first = &parts[0];
        let channel_axis =
            (axis == 1) || (first.rank == 4 && axis == -3) || (first.rank == 2 && axis == -1);
        let same_map = parts.iter().all(|p| {
            p.rank == first.rank
                && (p.shape.h, p.shape.w) == (first.shape.h, first.shape.w)
                && p.order == Order::Same
        });
        if !channel_axis || !same_map {
            return Err(bad(format!(
                "concatenates along axis {axis} tensors of shapes {}; our concat joins maps of one \
                 height and width along channels",
                parts.iter().map(|p| p.shape.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        let channels = parts.iter().map(|p| p.shape.c).sum();
        let shape = Shape::new(first.shape.h, first.shape.w, channels);
        let rank = first.rank;
        let refs: Vec<&Act> = parts.iter().collect();
        let layer = self.push(node, Op::Concat {}, &refs, None);
        self.bind(
            node,
            Act {
                layer,
                shape,
                rank,
                order: Order::Same,
            },
        );
        Ok(())
    }

    /// `Flatten` (or an equivalent `Reshape`) of `x`: a layer when `x` is an NCHW tensor
    /// (as our reference networks have one after their global pooling), else nothing.
    fn flatten(&mut self, node: &NodeProto, x: Act) {
        if x.rank == 2 {
            self.bind(node, x);
            return;
        }
        let (c, h, w) = (x.shape.c, x.shape.h, x.shape.w);
        let layer = self.push(node, Op::Flatten {}, &[&x], None);
        let order = if c > 1 && h * w > 1 {
            Order::Chw { c, h, w }
        } else {
            Order::Same
        };
        let shape = Shape::flat(c * h * w);
        self.bind(
            node,
            Act {
                layer,
                shape,
                rank: 2,
                order,
            },
        );
    }

    fn reshape(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let x = self.act(node, 0)?;
        let name = node.input.get(1).cloned().unwrap_or_default();
        let target = match self.constant(&name) {
            Ok(Some(t)) => t.ints().map(<[i64]>::to_vec),
            _ => None,
        };
        let Some(target) = target else {
            return Err(node_error(
                node,
                format!("the target shape `{name}` is computed, not a constant"),
                "export with torch.flatten(x, 1) (or fold the shape computation with onnxsim)",
            ));
        };
        let total = x.shape.elements() as i64;
        let flat = matches!(target[..], [a, b] if (a == 1 || a == 0) && (b == -1 || b == total) || a == -1 && b == total);
        let (h, w, c) = (x.shape.h as i64, x.shape.w as i64, x.shape.c as i64);
        let same = x.rank == 4
            && matches!(target[..], [n, cc, hh, ww] if (n == 1 || n == 0) && [cc, hh, ww] == [c, h, w]);
        if same {
            self.bind(node, x);
        } else if flat {
            self.flatten(node, x);
        } else {
            return Err(node_error(
                node,
                format!(
                    "reshapes {} to {target:?}; only a flatten to [1, {total}] has a counterpart",
                    x.shape
                ),
                stop_before(node),
            ));
        }
        Ok(())
    }

    fn constant_node(&mut self, node: &NodeProto, attrs: &Attrs<'_>) -> Result<(), ImportError> {
        let bad = |problem: String| node_error(node, problem, "give Constant a `value` tensor");
        let tensor = if let Some(t) = attrs.tensor("value").map_err(bad)? {
            tensor::decode(t, None).map_err(|e| bad(format!("its value {e}")))?
        } else if let Some(v) = attrs.ints("value_ints").map_err(bad)? {
            Tensor {
                dims: vec![v.len()],
                values: Values::Int(v),
            }
        } else if let Some(v) = attrs.int("value_int").map_err(bad)? {
            Tensor {
                dims: vec![],
                values: Values::Int(vec![v]),
            }
        } else if let Some(v) = attrs.floats("value_floats").map_err(bad)? {
            Tensor {
                dims: vec![v.len()],
                values: Values::Real(v),
            }
        } else if let Some(v) = attrs.float("value_float").map_err(bad)? {
            Tensor {
                dims: vec![],
                values: Values::Real(vec![v]),
            }
        } else {
            return Err(bad(
                "it has no value we read (value, value_ints, value_floats, …)".into(),
            ));
        };
        if let Some(output) = node.output.first() {
            self.values
                .insert(output.clone(), Value::Const(tensor.into()));
        }
        Ok(())
    }
}

/// The output of a window over `input` with `channels` output channels.
fn out_shape(
    input: Shape,
    kernel: Kernel,
    stride: usize,
    padding: usize,
    channels: usize,
) -> Option<Shape> {
    Some(Shape::new(
        window_output(input.h, kernel.h, stride, padding)?,
        window_output(input.w, kernel.w, stride, padding)?,
        channels,
    ))
}

/// Every `(a, b, c, d)` below `(na, nb, nc, nd)`, row-major.
fn itertools4(
    na: usize,
    nb: usize,
    nc: usize,
    nd: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..na).flat_map(move |a| {
        (0..nb).flat_map(move |b| (0..nc).flat_map(move |c| (0..nd).map(move |d| (a, b, c, d))))
    })
}
