//! The server's trained values ([`Weights`]) and the client's input ([`Input`]): seeded
//! random ones of realistic magnitude, or read from a JSON file.
//!
//! Weight file (JSON, reals, encoded at the session's scale when read):
//!
//! ```json
//! {"format": "snni-weights", "version": 1,
//!  "layers": {"conv1": {"weights": [0.01, …], "bias": [0.0, …]},
//!             "bn1": {"weights": [γ per channel], "bias": [β per channel]}}}
//! ```
//!
//! Layouts: conv kernel `[kh][kw][c_in][filters]`, fc matrix `[units][inputs]`, batch norm γ
//! and β per channel. Polynomial activations use the public default fit of
//! [`crate::nonlinear::PolyParams::new`], so they have no entry. Every layer with parameters
//! must be present (bias only when the layer has one); no other names.
//!
//! Input file (JSON, reals in HWC order):
//! `{"format": "snni-input", "version": 1, "shape": {"h": 8, "w": 8, "c": 3}, "values": […]}`.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::network::{LayerInfo, Network, Op, Shape, Shapes};

use super::error::{Result, RuntimeError};
use crate::nonlinear::fixed::{decode, encode};

/// The trained values of one layer as ring elements at scale s (layouts in the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerParams {
    /// Multiplicative weights (conv kernel, fc matrix, γ).
    pub weights: Vec<u64>,
    /// Additive terms (conv/fc bias, β); empty when the layer has none.
    pub bias: Vec<u64>,
}

/// The server's values for every layer (empty for layers without parameters), at scale s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights {
    /// One entry per layer, in network order.
    pub layers: Vec<LayerParams>,
}

/// How many weights and bias values a layer holds.
pub fn param_lens(op: &Op, info: &LayerInfo) -> (usize, usize) {
    let input = info.inputs[0];
    match *op {
        Op::Conv {
            filters,
            kernel,
            bias,
            ..
        } => (
            kernel.h * kernel.w * input.c * filters,
            if bias { filters } else { 0 },
        ),
        Op::Fc { units, bias } => (input.c * units, if bias { units } else { 0 }),
        Op::BatchNorm {} => (input.c, input.c),
        _ => (0, 0),
    }
}

/// One layer in a weight file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    weights: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bias: Vec<f64>,
}

/// A weight file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightFile {
    format: String,
    version: u32,
    layers: BTreeMap<String, FileLayer>,
}

/// An input file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFile {
    format: String,
    version: u32,
    shape: Shape,
    values: Vec<f64>,
}

const WEIGHT_FORMAT: &str = "snni-weights";
const INPUT_FORMAT: &str = "snni-input";
const FILE_VERSION: u32 = 1;

fn format_error(what: &'static str, detail: impl Into<String>) -> RuntimeError {
    RuntimeError::Format {
        what,
        detail: detail.into(),
    }
}

fn read_text(what: &'static str, path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| RuntimeError::File {
        what,
        path: path.display().to_string(),
        source,
    })
}

fn write_text(what: &'static str, path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| RuntimeError::File {
        what,
        path: path.display().to_string(),
        source,
    })
}

impl Weights {
    /// Random values of realistic magnitude from `seed`: conv/fc weights uniform in
    /// ±√(6/fan_in) (He initialisation), biases and β in ±0.1, γ in [0.5, 1.5]. Their L1 norm
    /// per output stays far below the HE weight bound ([`crate::he::DEFAULT_WEIGHT_L1_BITS`]).
    pub fn random(network: &Network, shapes: &Shapes, seed: u64, scale: u32, ell: u32) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut uniform = |n: usize, lo: f64, hi: f64| -> Vec<u64> {
            (0..n)
                .map(|_| encode(rng.random_range(lo..hi), scale, ell))
                .collect()
        };
        let layers = network
            .layers
            .iter()
            .zip(shapes)
            .map(|(layer, info)| {
                let (nw, nb) = param_lens(&layer.op, info);
                match layer.op {
                    Op::Conv { .. } | Op::Fc { .. } => {
                        let fan_in = match layer.op {
                            Op::Conv { filters, .. } => nw / filters.max(1),
                            _ => info.inputs[0].c,
                        }
                        .max(1) as f64;
                        let bound = (6.0 / fan_in).sqrt();
                        LayerParams {
                            weights: uniform(nw, -bound, bound),
                            bias: uniform(nb, -0.1, 0.1),
                        }
                    }
                    Op::BatchNorm {} => LayerParams {
                        weights: uniform(nw, 0.5, 1.5),
                        bias: uniform(nb, -0.1, 0.1),
                    },
                    _ => LayerParams::default(),
                }
            })
            .collect();
        Self { layers }
    }

    /// Reads a weight file (format in the module docs) and encodes it at `scale`.
    pub fn read_file(
        path: &Path,
        network: &Network,
        shapes: &Shapes,
        scale: u32,
        ell: u32,
    ) -> Result<Self> {
        Self::from_json(
            &read_text("read weight file", path)?,
            network,
            shapes,
            scale,
            ell,
        )
    }

    /// Parses the JSON text of a weight file (format in the module docs).
    pub fn from_json(
        text: &str,
        network: &Network,
        shapes: &Shapes,
        scale: u32,
        ell: u32,
    ) -> Result<Self> {
        const WHAT: &str = "weight file";
        let mut file: WeightFile =
            serde_json::from_str(text).map_err(|e| format_error(WHAT, e.to_string()))?;
        if file.format != WEIGHT_FORMAT || file.version != FILE_VERSION {
            return Err(format_error(
                WHAT,
                format!(
                    "format '{}' version {} is not '{WEIGHT_FORMAT}' version {FILE_VERSION}",
                    file.format, file.version
                ),
            ));
        }
        let mut layers = Vec::with_capacity(network.layers.len());
        for (layer, info) in network.layers.iter().zip(shapes) {
            let (nw, nb) = param_lens(&layer.op, info);
            if nw == 0 {
                layers.push(LayerParams::default());
                continue;
            }
            let entry = file.layers.remove(&layer.name).ok_or_else(|| {
                format_error(WHAT, format!("layer '{}' has no entry", layer.name))
            })?;
            if entry.weights.len() != nw || entry.bias.len() != nb {
                return Err(format_error(
                    WHAT,
                    format!(
                        "layer '{}' needs {nw} weights and {nb} bias values, the file has {} and {}",
                        layer.name,
                        entry.weights.len(),
                        entry.bias.len()
                    ),
                ));
            }
            let enc = |v: &[f64]| v.iter().map(|&x| encode(x, scale, ell)).collect();
            layers.push(LayerParams {
                weights: enc(&entry.weights),
                bias: enc(&entry.bias),
            });
        }
        if let Some(name) = file.layers.keys().next() {
            return Err(format_error(
                WHAT,
                format!("entry '{name}' names no layer with parameters"),
            ));
        }
        Ok(Self { layers })
    }

    /// The weight file (format in the module docs) of these values, decoded at `scale`.
    pub fn to_json(&self, network: &Network, scale: u32, ell: u32) -> String {
        let dec = |v: &[u64]| v.iter().map(|&x| decode(x, scale, ell)).collect();
        let layers = network
            .layers
            .iter()
            .zip(&self.layers)
            .filter(|(_, p)| !p.weights.is_empty())
            .map(|(layer, p)| {
                (
                    layer.name.clone(),
                    FileLayer {
                        weights: dec(&p.weights),
                        bias: dec(&p.bias),
                    },
                )
            })
            .collect();
        let file = WeightFile {
            format: WEIGHT_FORMAT.into(),
            version: FILE_VERSION,
            layers,
        };
        serde_json::to_string(&file).expect("a weight file serializes")
    }

    /// Writes the weight file of these values.
    pub fn write_file(&self, path: &Path, network: &Network, scale: u32, ell: u32) -> Result<()> {
        write_text(
            "write weight file",
            path,
            &self.to_json(network, scale, ell),
        )
    }
}

/// The client's input as ring elements at scale s, HWC order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The values.
    pub values: Vec<u64>,
}

impl Input {
    /// A random input uniform in [−1, 1) from `seed`.
    pub fn random(shape: Shape, seed: u64, scale: u32, ell: u32) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let values = (0..shape.elements())
            .map(|_| encode(rng.random_range(-1.0..1.0), scale, ell))
            .collect();
        Self { values }
    }

    /// Parses the JSON text of an input file (format in the module docs).
    pub fn from_json(text: &str, shape: Shape, scale: u32, ell: u32) -> Result<Self> {
        const WHAT: &str = "input file";
        let file: InputFile =
            serde_json::from_str(text).map_err(|e| format_error(WHAT, e.to_string()))?;
        if file.format != INPUT_FORMAT || file.version != FILE_VERSION {
            return Err(format_error(
                WHAT,
                format!(
                    "format '{}' version {} is not '{INPUT_FORMAT}' version {FILE_VERSION}",
                    file.format, file.version
                ),
            ));
        }
        if file.shape != shape || file.values.len() as u64 != shape.elements() {
            return Err(format_error(
                WHAT,
                format!(
                    "the network takes {shape} ({} values), the file has shape {} and {} values",
                    shape.elements(),
                    file.shape,
                    file.values.len()
                ),
            ));
        }
        Ok(Self {
            values: file.values.iter().map(|&v| encode(v, scale, ell)).collect(),
        })
    }

    /// Reads an input file (format in the module docs).
    pub fn read_file(path: &Path, shape: Shape, scale: u32, ell: u32) -> Result<Self> {
        Self::from_json(&read_text("read input file", path)?, shape, scale, ell)
    }

    /// The input file of these values.
    pub fn to_json(&self, shape: Shape, scale: u32, ell: u32) -> String {
        let file = InputFile {
            format: INPUT_FORMAT.into(),
            version: FILE_VERSION,
            shape,
            values: self.values.iter().map(|&x| decode(x, scale, ell)).collect(),
        };
        serde_json::to_string(&file).expect("an input file serializes")
    }
}
