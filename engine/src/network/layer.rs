//! One named layer of a network: an operation and the layers it reads.
//!
//! In a file a layer is one flat map: `name`, the operation's `kind` and fields, and an
//! optional `inputs` list. Unknown keys are rejected (they reach the operation, whose variants
//! deny unknown fields).

use serde::{Deserialize, Serialize};

use super::Op;

/// The name that denotes the network input in [`Layer::inputs`].
pub const INPUT: &str = "input";

/// A named operation and the names of the layers it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Unique name within the network (not `input`).
    pub name: String,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
    /// Names of the layers read, in order; empty means the previous layer (the network input
    /// for the first layer). [`INPUT`] names the network input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

impl Layer {
    /// A layer reading the previous layer.
    pub fn new(name: impl Into<String>, op: Op) -> Self {
        Self {
            name: name.into(),
            op,
            inputs: Vec::new(),
        }
    }

    /// A layer reading the named layers.
    pub fn with_inputs<S: Into<String>>(
        name: impl Into<String>,
        op: Op,
        inputs: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            name: name.into(),
            op,
            inputs: inputs.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_flat_map() {
        let layer: Layer = serde_yaml::from_str("{name: sum, kind: add, inputs: [a, b]}").unwrap();
        assert_eq!(layer, Layer::with_inputs("sum", Op::Add {}, ["a", "b"]));
        let layer: Layer = serde_yaml::from_str("{name: r, kind: relu}").unwrap();
        assert_eq!(layer, Layer::new("r", Op::Relu {}));
    }

    #[test]
    fn rejects_unknown_keys() {
        let err = serde_yaml::from_str::<Layer>("{name: r, kind: relu, input: [x]}").unwrap_err();
        assert!(err.to_string().contains("unknown field `input`"), "{err}");
        let err = serde_yaml::from_str::<Layer>(
            "{name: c, kind: conv, filters: 2, kernel: 3, strides: 2}",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `strides`"), "{err}");
    }

    #[test]
    fn writes_name_kind_fields_inputs() {
        let layer = Layer::with_inputs("c", Op::conv(4, 3, 1, 1, false), ["input"]);
        assert_eq!(
            serde_json::to_string(&layer).unwrap(),
            r#"{"name":"c","kind":"conv","filters":4,"kernel":3,"stride":1,"padding":1,"bias":false,"inputs":["input"]}"#
        );
        let layer = Layer::new("r", Op::Relu {});
        assert_eq!(
            serde_json::to_string(&layer).unwrap(),
            r#"{"name":"r","kind":"relu"}"#
        );
    }
}
