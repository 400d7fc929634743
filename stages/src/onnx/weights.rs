//! The trained values of an imported model in our layouts, written as the engine's weight
//! file (`{"format": "snni-weights", "version": 1, "layers": {…}}`, reals; see
//! `snni_engine::runtime::Weights`), so `snni infer --weights FILE` runs the model's own
//! weights.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// One layer's values: conv kernel `[kh][kw][c][m]`, fc matrix `[units][inputs]` or batch
/// norm γ as `weights`; conv/fc bias or β as `bias` (empty when the layer has none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerValues {
    /// Multiplicative values.
    pub weights: Vec<f64>,
    /// Additive values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bias: Vec<f64>,
}

/// Every layer with parameters, by layer name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportedWeights {
    /// Values by layer name.
    pub layers: BTreeMap<String, LayerValues>,
}

#[derive(Serialize)]
struct WeightFile<'a> {
    format: &'static str,
    version: u32,
    layers: &'a BTreeMap<String, LayerValues>,
}

impl ImportedWeights {
    /// The engine's weight file of these values (JSON).
    pub fn to_json(&self) -> String {
        let file = WeightFile {
            format: "snni-weights",
            version: 1,
            layers: &self.layers,
        };
        serde_json::to_string(&file).expect("finite reals and strings serialize")
    }

    /// Writes the weight file to `path`.
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_json())
    }

    /// Largest absolute value, to warn when weights will not fit the fixed-point scale.
    pub fn max_abs(&self) -> f64 {
        self.layers
            .values()
            .flat_map(|l| l.weights.iter().chain(&l.bias))
            .fold(0.0, |m: f64, v| m.max(v.abs()))
    }
}
