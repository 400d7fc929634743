//! [`Network`]: a named, ordered list of layers on a fixed input shape, and its file forms.
//!
//! A network is read from YAML or JSON, written back to either, identified by the blake3 digest
//! of its canonical JSON, and checked by [`Network::validate`], which returns every layer's
//! shapes and costs.

use serde::{Deserialize, Serialize};

use crate::error::NetworkError;

use super::{validate, Layer, Shape, Shapes};

/// A network description: input shape and layers in topological order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The network's name, e.g. `resnet50` or `synth-0042`.
    pub name: String,
    /// The family it belongs to, e.g. `resnet` or `conv_maxpool` (default `custom`).
    #[serde(default = "custom")]
    pub family: String,
    /// Shape of the network input.
    pub input: Shape,
    /// The layers; every input a layer names must be listed before it.
    pub layers: Vec<Layer>,
}

fn custom() -> String {
    "custom".to_owned()
}

impl Network {
    /// Reads a network from YAML.
    pub fn from_yaml_str(text: &str) -> Result<Self, NetworkError> {
        serde_yaml::from_str(text).map_err(NetworkError::Yaml)
    }

    /// Reads a network from JSON.
    pub fn from_json_str(text: &str) -> Result<Self, NetworkError> {
        serde_json::from_str(text).map_err(NetworkError::Json)
    }

    /// Writes the network as YAML (every field explicit, square kernels as integers).
    pub fn to_yaml_string(&self) -> Result<String, NetworkError> {
        serde_yaml::to_string(self).map_err(NetworkError::WriteYaml)
    }

    /// Writes the network as compact JSON; this is the canonical form that [`Network::digest`]
    /// hashes (fields in declaration order, defaults written out).
    pub fn to_json_string(&self) -> Result<String, NetworkError> {
        serde_json::to_string(self).map_err(NetworkError::WriteJson)
    }

    /// The blake3 hex digest of the canonical JSON; equal for networks that differ only in
    /// how a file spelled them (defaults omitted, `kernel: 3` versus `[3, 3]`).
    pub fn digest(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        // A network holds only strings, integers, booleans and floats, which serde_json
        // always writes, so this cannot fail; an error would only shorten the hashed text.
        let _ = serde_json::to_writer(&mut hasher, self);
        hasher.finalize().to_hex().to_string()
    }

    /// Checks names, wiring and shapes; returns every layer's inputs, output shape and costs.
    pub fn validate(&self) -> Result<Shapes, NetworkError> {
        validate::validate(self)
    }

    /// Total trained parameters (weights and biases; batch norm counts γ and β).
    pub fn param_count(&self) -> Result<u64, NetworkError> {
        Ok(self.validate()?.param_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{InputRef, Op};

    const TINY: &str = r#"
name: tiny-resnet
family: resnet
input: {h: 32, w: 32, c: 3}
layers:
  - {name: stem, kind: conv, filters: 16, kernel: 3, padding: 1}
  - {name: stem_bn, kind: batch_norm}
  - {name: stem_relu, kind: relu}
  - {name: a_conv, kind: conv, filters: 16, kernel: [3, 3], padding: 1}
  - {name: a_bn, kind: batch_norm}
  - name: a_add
    kind: add
    inputs: [a_bn, stem_relu]
  - {name: a_act, kind: poly_act, degree: 2, relu_fraction: 0.5}
  - {name: branch, kind: conv, filters: 8, kernel: 1, inputs: [stem_relu]}
  - {name: cat, kind: concat, inputs: [a_act, branch]}
  - {name: pool, kind: max_pool, kernel: 2, stride: 2}
  - {name: avg, kind: avg_pool, kernel: 3, stride: 2, padding: 1}
  - {name: gap, kind: global_avg_pool}
  - {name: flat, kind: flatten}
  - {name: fc, kind: fc, units: 10}
"#;

    fn tiny() -> Network {
        Network::from_yaml_str(TINY).unwrap()
    }

    fn error(mutate: impl FnOnce(&mut Network)) -> String {
        let mut network = tiny();
        mutate(&mut network);
        network.validate().unwrap_err().to_string()
    }

    #[test]
    fn errors_stay_small() {
        // Stage errors wrap a NetworkError; keep it small enough for clippy's result_large_err.
        assert!(std::mem::size_of::<NetworkError>() <= 96);
    }

    #[test]
    fn parses_hand_written_yaml() {
        let network = tiny();
        assert_eq!(network.family, "resnet");
        let shapes = network.validate().unwrap();
        let shape = |name: &str| shapes.get(name).unwrap().output.to_string();
        assert_eq!(shape("a_add"), "32x32x16");
        assert_eq!(shape("cat"), "32x32x24");
        assert_eq!(shape("pool"), "16x16x24");
        assert_eq!(shape("avg"), "8x8x24");
        assert_eq!(shapes.output(), Shape::flat(10));
        let add = shapes.get("a_add").unwrap();
        assert_eq!(add.sources, [InputRef::Layer(4), InputRef::Layer(2)]);
        assert_eq!(shapes.layers[0].sources, [InputRef::Network]);
        let params = 432 + 32 + 2304 + 32 + 3 + 128 + 24 * 10 + 10;
        assert_eq!(network.param_count().unwrap(), params);
    }

    #[test]
    fn family_defaults_to_custom() {
        let network = Network::from_yaml_str(
            "{name: n, input: {h: 1, w: 1, c: 4}, layers: [{name: f, kind: fc, units: 2}]}",
        )
        .unwrap();
        assert_eq!(network.family, "custom");
    }

    #[test]
    fn round_trips_yaml_and_json() {
        let network = tiny();
        let yaml = network.to_yaml_string().unwrap();
        assert_eq!(Network::from_yaml_str(&yaml).unwrap(), network);
        let json = network.to_json_string().unwrap();
        assert_eq!(Network::from_json_str(&json).unwrap(), network);
        assert_eq!(
            Network::from_yaml_str(&yaml).unwrap().digest(),
            network.digest()
        );
    }

    #[test]
    fn digest_ignores_spelling_not_content() {
        let a = tiny();
        let b = Network::from_yaml_str(&TINY.replace("kernel: [3, 3]", "kernel: 3")).unwrap();
        assert_eq!(a.digest(), b.digest());
        let mut c = tiny();
        c.layers[0].op = Op::conv(17, 3, 1, 1, false);
        assert_ne!(a.digest(), c.digest());
        assert_eq!(a.digest().len(), 64);
    }

    #[test]
    fn rejects_unknown_keys_in_files() {
        let err = Network::from_yaml_str(&TINY.replace("family:", "familly:")).unwrap_err();
        assert!(matches!(err, NetworkError::Yaml(_)));
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("unknown field `familly`"), "{source}");
    }

    #[test]
    fn reports_graph_errors() {
        assert_eq!(
            error(|n| n.layers.clear()),
            "network 'tiny-resnet' has no layers; add at least one layer"
        );
        assert!(error(|n| n.input.c = 0).contains("network input 32x32x0 has a zero dimension"));
        assert_eq!(
            error(|n| n.layers[3].name = "stem".into()),
            "layer 3 'stem': the name is already used by layer 0"
        );
        assert!(error(|n| n.layers[1].name = "input".into()).contains("reserved"));
        assert!(error(|n| n.layers[1].name.clear()).starts_with("layer 1: the name is empty"));
        assert_eq!(
            error(|n| n.layers[5].inputs[1] = "stem_rleu".into()),
            "layer 5 'a_add': input 'stem_rleu' names no layer (use 'input' for the network input)"
        );
        assert!(error(|n| n.layers[5].inputs[1] = "cat".into())
            .starts_with("layer 5 'a_add': input 'cat' is layer 8, listed after this one"));
        assert!(error(|n| n.layers[5].inputs[1] = "a_add".into()).contains("is layer 5"));
        assert_eq!(
            error(|n| {
                n.layers[5].inputs.pop();
            }),
            "layer 5 'a_add': add needs exactly 2 input(s), got 1"
        );
        assert_eq!(
            error(|n| n.layers[8].inputs.truncate(1)),
            "layer 8 'cat': concat needs at least 2 input(s), got 1"
        );
        assert!(
            error(|n| n.layers[2].inputs = vec!["stem".into(), "stem_bn".into()])
                .contains("relu needs exactly 1 input(s), got 2")
        );
    }

    #[test]
    fn reports_shape_errors_with_layer_names() {
        assert_eq!(
            error(|n| n.layers[4].inputs = vec!["branch".into()]),
            "layer 4 'a_bn': input 'branch' is layer 7, listed after this one; list layers so that every input comes first"
        );
        assert_eq!(
            error(|n| n.layers[5].inputs[1] = "input".into()),
            "layer 5 'a_add': add needs equal shapes, got 32x32x16 and 32x32x3"
        );
        assert!(error(|n| {
            n.layers.remove(12);
            n.layers.remove(11);
        })
        .starts_with("layer 11 'fc': fc needs a flat 1x1xC input, got 8x8x24"));
        assert_eq!(
            error(|n| n.input = Shape::new(1, 1, 3)),
            "layer 9 'pool': max_pool kernel 2x2 is larger than the padded input 1x1 \
             (input 1x1x24, padding 0); the input is too small for this layer: use a larger \
             network input, a smaller kernel or more padding"
        );
    }
}
