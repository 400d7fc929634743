//! Network validation: names, wiring, arity, then shape inference layer by layer.
//!
//! Validation stops at the first error: later layers' shapes depend on earlier ones, so one
//! mistake would otherwise cascade into many misleading messages.

use std::collections::HashMap;

use crate::error::NetworkError;

use super::infer::{output_shape, At};
use super::{InputRef, LayerCosts, LayerInfo, Network, OpKind, Shape, Shapes, INPUT};

/// How many inputs a kind takes.
fn arity(kind: OpKind) -> (usize, Option<usize>, &'static str) {
    match kind {
        OpKind::Add => (2, Some(2), "exactly 2"),
        OpKind::Concat => (2, None, "at least 2"),
        _ => (1, Some(1), "exactly 1"),
    }
}

/// Validates `network` and infers every layer's shapes and costs.
pub(crate) fn validate(network: &Network) -> Result<Shapes, NetworkError> {
    if network.input.has_zero() {
        return Err(NetworkError::ZeroInput {
            shape: network.input,
        });
    }
    if network.layers.is_empty() {
        return Err(NetworkError::Empty {
            network: network.name.clone(),
        });
    }
    let positions = name_positions(network)?;
    let mut layers: Vec<LayerInfo> = Vec::with_capacity(network.layers.len());
    for (index, layer) in network.layers.iter().enumerate() {
        let at = At {
            index,
            name: &layer.name,
        };
        let sources = if layer.inputs.is_empty() {
            vec![if index == 0 {
                InputRef::Network
            } else {
                InputRef::Layer(index - 1)
            }]
        } else {
            layer
                .inputs
                .iter()
                .map(|input| resolve(input, at, &positions))
                .collect::<Result<_, _>>()?
        };
        let kind = layer.op.kind();
        let (min, max, expected) = arity(kind);
        if sources.len() < min || max.is_some_and(|max| sources.len() > max) {
            return Err(NetworkError::InputCount {
                index,
                name: layer.name.clone(),
                kind,
                expected,
                got: sources.len(),
            });
        }
        let inputs: Vec<Shape> = sources
            .iter()
            .map(|source| match *source {
                InputRef::Network => network.input,
                InputRef::Layer(i) => layers[i].output,
            })
            .collect();
        let output = output_shape(&layer.op, &inputs, at)?;
        let costs = LayerCosts::of(&layer.op, &inputs, output);
        layers.push(LayerInfo {
            index,
            name: layer.name.clone(),
            kind,
            sources,
            inputs,
            output,
            costs,
        });
    }
    Ok(Shapes {
        input: network.input,
        layers,
    })
}

/// Maps every layer name to its index, rejecting empty, reserved and duplicate names.
fn name_positions(network: &Network) -> Result<HashMap<&str, usize>, NetworkError> {
    let mut positions = HashMap::with_capacity(network.layers.len());
    for (index, layer) in network.layers.iter().enumerate() {
        if layer.name.is_empty() {
            return Err(NetworkError::EmptyName { index });
        }
        if layer.name == INPUT {
            return Err(NetworkError::ReservedName { index });
        }
        if let Some(&first) = positions.get(layer.name.as_str()) {
            return Err(NetworkError::DuplicateName {
                index,
                name: layer.name.clone(),
                first,
            });
        }
        positions.insert(layer.name.as_str(), index);
    }
    Ok(positions)
}

/// Resolves one input name of the layer at `at`.
fn resolve(
    input: &str,
    at: At<'_>,
    positions: &HashMap<&str, usize>,
) -> Result<InputRef, NetworkError> {
    if input == INPUT {
        return Ok(InputRef::Network);
    }
    match positions.get(input) {
        Some(&i) if i < at.index => Ok(InputRef::Layer(i)),
        Some(&later) => Err(NetworkError::ForwardInput {
            index: at.index,
            name: at.name.to_owned(),
            input: input.to_owned(),
            later,
        }),
        None => Err(NetworkError::UnknownInput {
            index: at.index,
            name: at.name.to_owned(),
            input: input.to_owned(),
        }),
    }
}
