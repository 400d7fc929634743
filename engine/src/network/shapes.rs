//! The result of validating a network: every layer's resolved inputs, shapes and costs.
//!
//! [`Shapes`] is what [`Network::validate`](super::Network::validate) returns; holding one means
//! the network is computable. The engine reads [`LayerInfo::sources`] to wire layers, and the
//! predictors read the shapes and [`LayerCosts`] as features.

use super::{LayerCosts, OpKind, Shape};

/// Where a layer input comes from, resolved from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputRef {
    /// The network input.
    Network,
    /// The output of the layer with this index.
    Layer(usize),
}

/// One validated layer: its wiring, shapes and costs.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    /// 0-based index in the network.
    pub index: usize,
    /// The layer's name.
    pub name: String,
    /// The layer's kind.
    pub kind: OpKind,
    /// The resolved inputs, in order.
    pub sources: Vec<InputRef>,
    /// The input shapes, in the order of `sources`.
    pub inputs: Vec<Shape>,
    /// The output shape.
    pub output: Shape,
    /// Parameter, operation and size counts.
    pub costs: LayerCosts,
}

impl LayerInfo {
    /// Trained parameters (weights plus biases; batch norm counts γ and β).
    pub fn params(&self) -> u64 {
        self.costs.params
    }

    /// Elements read, summed over all inputs.
    pub fn input_elements(&self) -> u64 {
        self.inputs.iter().map(Shape::elements).sum()
    }

    /// Elements written.
    pub fn output_elements(&self) -> u64 {
        self.output.elements()
    }

    /// Multiplicative weights (without biases).
    pub fn weight_elements(&self) -> u64 {
        self.costs.weight_elements
    }

    /// Elementary operations, MACs for conv and fc (see [`LayerCosts::flops`]).
    pub fn flops(&self) -> u64 {
        self.costs.flops
    }
}

/// Per-layer shapes and costs of a valid network.
#[derive(Debug, Clone, PartialEq)]
pub struct Shapes {
    /// The network input shape.
    pub input: Shape,
    /// One entry per layer, in network order (never empty).
    pub layers: Vec<LayerInfo>,
}

impl Shapes {
    /// The network's output shape (the last layer's output).
    pub fn output(&self) -> Shape {
        self.layers.last().map_or(self.input, |layer| layer.output)
    }

    /// Total trained parameters.
    pub fn param_count(&self) -> u64 {
        self.layers.iter().map(LayerInfo::params).sum()
    }

    /// Total multiply-accumulates of conv and fc layers.
    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|layer| layer.costs.macs).sum()
    }

    /// The layer with the given name.
    pub fn get(&self, name: &str) -> Option<&LayerInfo> {
        self.layers.iter().find(|layer| layer.name == name)
    }

    /// The layers in network order.
    pub fn iter(&self) -> std::slice::Iter<'_, LayerInfo> {
        self.layers.iter()
    }
}

impl<'a> IntoIterator for &'a Shapes {
    type Item = &'a LayerInfo;
    type IntoIter = std::slice::Iter<'a, LayerInfo>;

    fn into_iter(self) -> Self::IntoIter {
        self.layers.iter()
    }
}
