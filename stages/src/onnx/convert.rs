//! The import driver: a decoded `ModelProto` → our [`Network`] and its weights.
//!
//! Nodes are visited in file order (ONNX requires topological order); only the ancestors of
//! the chosen output are converted. Every ONNX tensor maps to a [`Value`]: a constant
//! (initializer or `Constant` node), or an activation held by one of our layers. ONNX
//! lays activations out NCHW, we lay them out HWC; the layout only matters where a map is
//! flattened, so a flat activation remembers the CHW order it came from ([`Order`]) and
//! the layers that read it (`Gemm`, `MatMul`, `BatchNormalization`) permute their weights.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

use snni_engine::network::{Layer, Network, Op, Shape, INPUT};

use super::error::ImportError;
use super::proto::{GraphProto, ModelProto, NodeProto};
use super::tensor::{self, Tensor};
use super::weights::{ImportedWeights, LayerValues};

/// How to import a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The input size, HxWxC: required when the model's is symbolic; checked against it
    /// when it is fixed.
    pub input: Option<Shape>,
    /// The input size used when the model's is symbolic and `input` is not given.
    pub default_input: Option<Shape>,
    /// Stop the network at this tensor (or at this node's first output) instead of the
    /// graph's output, e.g. before a final `Softmax`.
    pub end_at: Option<String>,
    /// The network's name (default: the file's stem, else the graph's name).
    pub name: Option<String>,
}

/// An imported model.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The network (validated), family `onnx`.
    pub network: Network,
    /// The model's trained values, per layer, in our layouts.
    pub weights: ImportedWeights,
    /// Things the user should know (folded nodes, output layout, input size used).
    pub notes: Vec<String>,
}

/// Where the elements of a flat activation come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Our order equals ONNX's (spatial maps, and flat vectors that never were maps).
    Same,
    /// A `c`×`h`×`w` map flattened: ONNX's element `c·h·w` order, ours `h·w·c`.
    Chw {
        /// Channels of the map.
        c: usize,
        /// Height of the map.
        h: usize,
        /// Width of the map.
        w: usize,
    },
}

impl Order {
    /// The ONNX index of our element `q`.
    pub fn onnx_index(self, q: usize) -> usize {
        match self {
            Order::Same => q,
            Order::Chw { c, h, w } => {
                let (pixel, channel) = (q / c, q % c);
                channel * h * w + pixel
            }
        }
    }
}

/// An activation: which of our layers holds it (or [`INPUT`]), its shape, ONNX rank and
/// element order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Act {
    pub layer: String,
    pub shape: Shape,
    /// 4 for NCHW maps, 2 for `[N, K]` vectors.
    pub rank: usize,
    pub order: Order,
}

/// What an ONNX tensor name stands for.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Act(Act),
    Const(Rc<Tensor>),
}

/// The conversion state.
pub(crate) struct Converter<'m> {
    graph: &'m GraphProto,
    dir: Option<&'m Path>,
    pub values: HashMap<String, Value>,
    /// How many converted nodes (and the output) read each tensor.
    pub consumers: HashMap<String, usize>,
    pub layers: Vec<Layer>,
    names: HashSet<String>,
    pub weights: BTreeMap<String, LayerValues>,
    pub notes: Vec<String>,
}

/// The name a node is known by in messages: its name, else its first output.
pub(crate) fn node_name(node: &NodeProto) -> String {
    match node.name.as_deref() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => node.output.first().cloned().unwrap_or_default(),
    }
}

/// An error about `node`.
pub(crate) fn node_error(
    node: &NodeProto,
    problem: impl Into<String>,
    help: impl Into<String>,
) -> ImportError {
    ImportError::Node {
        node: node_name(node),
        op: node.op_type().to_owned(),
        problem: problem.into(),
        help: help.into(),
    }
}

/// How to import up to (not including) `node`.
pub(crate) fn stop_before(node: &NodeProto) -> String {
    match node.input.first() {
        Some(input) => format!("or import the network up to this node with `--end-at {input}`"),
        None => String::new(),
    }
}

/// Imports a decoded model; `dir` is where external tensor data lives, `stem` the file's
/// stem for the default name.
pub(crate) fn import_model(
    model: &ModelProto,
    dir: Option<&Path>,
    stem: Option<&str>,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let graph = model.graph.as_ref().ok_or_else(|| {
        ImportError::model(
            "the model has no graph",
            "export a model with a graph (torch.onnx.export, onnx.save)",
        )
    })?;
    let mut converter = Converter {
        graph,
        dir,
        values: HashMap::new(),
        consumers: HashMap::new(),
        layers: Vec::new(),
        names: HashSet::new(),
        weights: BTreeMap::new(),
        notes: Vec::new(),
    };
    let output = converter.output_tensor(options)?;
    let needed = needed_nodes(graph, &output);
    let input = converter.input(options)?;
    for node in needed.iter().map(|&i| &graph.node[i]) {
        for name in node.input.iter().filter(|n| !n.is_empty()) {
            *converter.consumers.entry(name.clone()).or_default() += 1;
        }
    }
    *converter.consumers.entry(output.clone()).or_default() += 1;
    for node in needed.iter().map(|&i| &graph.node[i]) {
        if let Some(domain) = node
            .domain
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "ai.onnx")
        {
            return Err(node_error(
                node,
                format!("ops of the domain `{domain}` have no counterpart among our layers"),
                format!("export with standard ONNX ops only {}", stop_before(node)),
            ));
        }
        converter.node(node)?;
    }
    let last = converter.layers.last().map(|l| l.name.clone());
    let result = match converter.values.get(&output) {
        Some(Value::Act(act)) if Some(&act.layer) == last.as_ref() => act.clone(),
        _ => {
            return Err(ImportError::model(
                format!("the output `{output}` is not computed by the last imported layer"),
                "choose the tensor the network ends with, with --end-at",
            ))
        }
    };
    if result.order != Order::Same {
        converter.notes.push(format!(
            "the output `{output}` is a flattened map in our HWC element order, not ONNX's CHW"
        ));
    } else if !result.shape.is_flat() {
        converter.notes.push(format!(
            "the output `{output}` is a {} map in HWC order (ONNX: NCHW)",
            result.shape
        ));
    }
    let name = options
        .name
        .clone()
        .or_else(|| stem.map(str::to_owned))
        .or_else(|| graph.name.clone().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "onnx".to_owned());
    let network = Network {
        name,
        family: "onnx".to_owned(),
        input: input.shape,
        layers: converter.layers,
    };
    network.validate().map_err(ImportError::Network)?;
    let weights = ImportedWeights {
        layers: converter.weights,
    };
    Ok(Imported {
        network,
        weights,
        notes: converter.notes,
    })
}

/// Indices of the nodes the output depends on, in file order.
fn needed_nodes(graph: &GraphProto, output: &str) -> Vec<usize> {
    let producer: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let mut needed = HashSet::new();
    let mut stack = vec![output];
    while let Some(tensor) = stack.pop() {
        if let Some(&i) = producer.get(tensor) {
            if needed.insert(i) {
                stack.extend(graph.node[i].input.iter().map(String::as_str));
            }
        }
    }
    let mut needed: Vec<usize> = needed.into_iter().collect();
    needed.sort_unstable();
    needed
}

impl<'m> Converter<'m> {
    /// The tensor the network ends with: `--end-at` (a tensor or a node name), else the
    /// graph's only output.
    fn output_tensor(&self, options: &ImportOptions) -> Result<String, ImportError> {
        let graph = self.graph;
        if let Some(wanted) = &options.end_at {
            if graph.node.iter().any(|n| n.output.contains(wanted)) {
                return Ok(wanted.clone());
            }
            if let Some(node) = graph.node.iter().find(|n| node_name(n) == *wanted) {
                return Ok(node.output[0].clone());
            }
            return Err(ImportError::model(
                format!("--end-at `{wanted}` names no tensor or node of the graph"),
                "give the name of a node's output tensor (`snni network import` errors name them)",
            ));
        }
        match &graph.output[..] {
            [one] => Ok(one.name().to_owned()),
            many => Err(ImportError::model(
                format!(
                    "the graph has {} outputs ({}); a network has one",
                    many.len(),
                    many.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
                ),
                "choose the one to import with --end-at NAME",
            )),
        }
    }

    /// The network input: the one graph input that is not an initializer, NCHW or `[N, K]`.
    fn input(&mut self, options: &ImportOptions) -> Result<Act, ImportError> {
        let initializers: HashSet<&str> = self.graph.initializer.iter().map(|t| t.name()).collect();
        let inputs: Vec<_> = self
            .graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name()))
            .collect();
        let [input] = inputs[..] else {
            return Err(ImportError::model(
                format!(
                    "the graph has {} inputs ({}); a network has one",
                    inputs.len(),
                    inputs
                        .iter()
                        .map(|i| i.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "export the model with a single image (or vector) input",
            ));
        };
        let dims: Vec<Option<usize>> =
            input
                .r#type
                .as_ref()
                .and_then(|t| t.value.as_ref())
                .and_then(|v| match v {
                    super::proto::type_proto::Value::TensorType(t) => t.shape.as_ref(),
                    _ => None,
                })
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(super::proto::tensor_shape_proto::dimension::Value::DimValue(
                                v,
                            )) if v > 0 => Some(v as usize),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
        let name = input.name().to_owned();
        let (fixed, rank) = match dims[..] {
            [n, c, h, w] if n.is_none_or(|n| n == 1) => (
                match (h, w, c) {
                    (Some(h), Some(w), Some(c)) => Some(Shape::new(h, w, c)),
                    _ => None,
                },
                4,
            ),
            [n, k] if n.is_none_or(|n| n == 1) => (k.map(Shape::flat), 2),
            _ => {
                return Err(ImportError::model(
                    format!(
                        "the input `{name}` has dimensions {dims:?}; expected [N, C, H, W] or \
                         [N, K] with batch N = 1"
                    ),
                    "export the model for one NCHW image (batch size 1)",
                ))
            }
        };
        let shape = match (fixed, options.input, options.default_input) {
            (Some(fixed), Some(given), _) if fixed != given => {
                return Err(ImportError::model(
                    format!("the model's input `{name}` is fixed at {fixed}, --input says {given}"),
                    format!("leave --input out, or give {fixed}"),
                ))
            }
            (Some(fixed), _, _) => fixed,
            (None, Some(given), _) => given,
            (None, None, Some(default)) => {
                self.notes.push(format!(
                    "the model's input `{name}` has a symbolic size; using {default} (set it with --input)"
                ));
                default
            }
            (None, None, None) => {
                return Err(ImportError::model(
                    format!("the model's input `{name}` has a symbolic size {dims:?}"),
                    "give the size with --input HxWxC",
                ))
            }
        };
        if rank == 2 && !shape.is_flat() {
            return Err(ImportError::model(
                format!("the model's input `{name}` is a vector; --input {shape} is a map"),
                "give a vector input as 1x1xK",
            ));
        }
        if let (Some(c), 4) = (dims.get(1).copied().flatten(), rank) {
            if c != shape.c {
                return Err(ImportError::model(
                    format!("the model's input `{name}` has {c} channels, --input says {shape}"),
                    format!("give an input with {c} channels"),
                ));
            }
        }
        let act = Act {
            layer: INPUT.to_owned(),
            shape,
            rank,
            order: Order::Same,
        };
        self.values.insert(name, Value::Act(act.clone()));
        Ok(act)
    }

    /// The constant named `name`: an initializer or a `Constant` node's value.
    pub fn constant(&mut self, name: &str) -> Result<Option<Rc<Tensor>>, String> {
        if let Some(Value::Const(t)) = self.values.get(name) {
            return Ok(Some(t.clone()));
        }
        let Some(proto) = self.graph.initializer.iter().find(|t| t.name() == name) else {
            return Ok(None);
        };
        let tensor = Rc::new(
            tensor::decode(proto, self.dir).map_err(|e| format!("initializer `{name}` {e}"))?,
        );
        self.values
            .insert(name.to_owned(), Value::Const(tensor.clone()));
        Ok(Some(tensor))
    }

    /// The activation read by `node`'s input `index`.
    pub fn act(&self, node: &NodeProto, index: usize) -> Result<Act, ImportError> {
        let name = node.input.get(index).map_or("", String::as_str);
        match self.values.get(name) {
            Some(Value::Act(act)) => Ok(act.clone()),
            Some(Value::Const(_)) => Err(node_error(
                node,
                format!("input {index} (`{name}`) is a constant where our layers need an activation"),
                "fold constant computations into the weights before exporting",
            )),
            None if self.graph.initializer.iter().any(|t| t.name() == name) => Err(node_error(
                node,
                format!("input {index} (`{name}`) is an initializer where our layers need an activation"),
                "fold constant computations into the weights before exporting",
            )),
            None => Err(node_error(
                node,
                format!("input {index} (`{name}`) is computed by no node listed before it"),
                "sort the graph topologically (onnx.utils, or re-export it)",
            )),
        }
    }

    /// The constant read by `node`'s input `index`, required.
    pub fn weight(&mut self, node: &NodeProto, index: usize) -> Result<Rc<Tensor>, ImportError> {
        let name = node.input.get(index).cloned().unwrap_or_default();
        match self.constant(&name) {
            Ok(Some(t)) if t.reals().is_some() => Ok(t),
            Ok(Some(_)) => Err(node_error(
                node,
                format!("input {index} (`{name}`) holds integers where weights were expected"),
                "export the model in float32",
            )),
            Ok(None) => Err(node_error(
                node,
                format!("input {index} (`{name}`) is not a constant; our layers need their weights as initializers"),
                "export with weights as initializers (torch.onnx.export's default)",
            )),
            Err(problem) => Err(node_error(node, problem, "export the model in float32")),
        }
    }

    /// Appends a layer for `node` reading `inputs`, with its weights; returns its name.
    pub fn push(
        &mut self,
        node: &NodeProto,
        op: Op,
        inputs: &[&Act],
        values: Option<LayerValues>,
    ) -> String {
        let mut name = node_name(node);
        if name.is_empty() || name == INPUT {
            name = format!("{}_{}", node.op_type().to_lowercase(), self.layers.len());
        }
        let base = name.clone();
        let mut k = 2;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        let previous = self.layers.last().map_or(INPUT, |l| l.name.as_str());
        let layer = if inputs.len() == 1 && inputs[0].layer == previous {
            Layer::new(name.clone(), op)
        } else {
            Layer::with_inputs(name.clone(), op, inputs.iter().map(|a| a.layer.clone()))
        };
        self.layers.push(layer);
        if let Some(values) = values {
            self.weights.insert(name.clone(), values);
        }
        name
    }

    /// Binds `node`'s first output to `act`.
    pub fn bind(&mut self, node: &NodeProto, act: Act) {
        if let Some(output) = node.output.first() {
            self.values.insert(output.clone(), Value::Act(act));
        }
    }

    /// Fails when any output of `node` after the first is read (e.g. `Dropout`'s mask).
    pub fn only_first_output(&self, node: &NodeProto) -> Result<(), ImportError> {
        for extra in node.output.iter().skip(1).filter(|o| !o.is_empty()) {
            if self.consumers.get(extra).copied().unwrap_or(0) > 0 {
                return Err(node_error(
                    node,
                    format!("its second output `{extra}` is used; only the first has a counterpart"),
                    "export the model for inference (model.eval()) so that the extra output is unused",
                ));
            }
        }
        Ok(())
    }
}
