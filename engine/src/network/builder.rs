//! [`NetworkBuilder`]: appends layers with generated wiring, for code that builds networks
//! (the reference architectures and the synthesis generator).

use super::{Layer, Network, Op, Shape, INPUT};

/// Builds a [`Network`] layer by layer; each push returns the new layer's name so that
/// branches can refer to it.
#[derive(Debug, Clone)]
pub struct NetworkBuilder {
    network: Network,
}

impl NetworkBuilder {
    /// Starts an empty network.
    pub fn new(name: impl Into<String>, family: impl Into<String>, input: Shape) -> Self {
        Self {
            network: Network {
                name: name.into(),
                family: family.into(),
                input,
                layers: Vec::new(),
            },
        }
    }

    /// Appends a layer that reads the previous layer (or the network input if it is first).
    pub fn push(&mut self, name: impl Into<String>, op: Op) -> String {
        let layer = Layer::new(name, op);
        let name = layer.name.clone();
        self.network.layers.push(layer);
        name
    }

    /// Appends a layer that reads the named layers; an input list equal to just the previous
    /// layer is stored as the empty list, so files stay short.
    pub fn push_from(&mut self, name: impl Into<String>, op: Op, inputs: &[&str]) -> String {
        if inputs.len() == 1 && inputs[0] == self.last() {
            return self.push(name, op);
        }
        let layer = Layer::with_inputs(name, op, inputs.iter().copied());
        let name = layer.name.clone();
        self.network.layers.push(layer);
        name
    }

    /// The name of the last layer, or `input` if there is none yet.
    pub fn last(&self) -> &str {
        self.network
            .layers
            .last()
            .map_or(INPUT, |layer| layer.name.as_str())
    }

    /// Number of layers pushed so far.
    pub fn len(&self) -> usize {
        self.network.layers.len()
    }

    /// Whether no layer has been pushed.
    pub fn is_empty(&self) -> bool {
        self.network.layers.is_empty()
    }

    /// The finished network (not validated).
    pub fn build(self) -> Network {
        self.network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_implicit_inputs_for_sequential_layers() {
        let mut b = NetworkBuilder::new("n", "custom", Shape::new(8, 8, 3));
        assert_eq!(b.last(), "input");
        let stem = b.push_from("stem", Op::conv(4, 3, 1, 1, false), &["input"]);
        let relu = b.push("relu", Op::Relu {});
        let side = b.push_from("side", Op::conv(4, 1, 1, 0, false), &[&stem]);
        b.push_from("sum", Op::Add {}, &[&relu, &side]);
        let network = b.build();
        assert!(network.layers[0].inputs.is_empty());
        assert_eq!(network.layers[2].inputs, ["stem"]);
        assert_eq!(network.layers[3].inputs, ["relu", "side"]);
        assert_eq!(network.validate().unwrap().output(), Shape::new(8, 8, 4));
    }
}
