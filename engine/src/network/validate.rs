//! Network validation: names, wiring, arity, then shape inference layer by layer.
//!
//! Validation stops at the first error: later layers' shapes depend on earlier ones, so one
//! mistake would otherwise cascade into many misleading messages.

use std::collections::HashMap;

use crate::error::NetworkError;

use super::infer::{output_shape, At};
use super::limits::{Site, MAX_COUNT, MAX_ELEMENTS, MAX_SIDE};
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
    check_input(network.input)?;
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
        let site = Site {
            index,
            name: &layer.name,
            kind,
        };
        let costs = LayerCosts::of(&layer.op, &inputs, output, site)?;
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
    check_totals(network, &layers)?;
    Ok(Shapes {
        input: network.input,
        layers,
    })
}

/// Checks the network input against [`MAX_SIDE`] and [`MAX_ELEMENTS`].
fn check_input(shape: Shape) -> Result<(), NetworkError> {
    let too_large = |quantity, value: Option<u64>, limit: u64| {
        if value.is_some_and(|v| v <= limit) {
            Ok(())
        } else {
            Err(NetworkError::InputTooLarge {
                shape,
                quantity,
                value,
                limit,
            })
        }
    };
    too_large("height", Some(shape.h as u64), MAX_SIDE as u64)?;
    too_large("width", Some(shape.w as u64), MAX_SIDE as u64)?;
    too_large("elements", shape.checked_elements(), MAX_ELEMENTS)
}

/// Checks that the network's parameter and multiply-accumulate totals stay within
/// [`MAX_COUNT`], so that [`Shapes::param_count`] and [`Shapes::macs`] cannot overflow.
fn check_totals(network: &Network, layers: &[LayerInfo]) -> Result<(), NetworkError> {
    for (quantity, count) in [
        (
            "parameters",
            (|l: &LayerInfo| l.costs.params) as fn(&LayerInfo) -> u64,
        ),
        ("multiply-accumulates", |l: &LayerInfo| l.costs.macs),
        ("operations", |l: &LayerInfo| l.costs.flops),
    ] {
        let total = layers
            .iter()
            .try_fold(0u64, |sum, layer| sum.checked_add(count(layer)));
        if total.is_none_or(|total| total > MAX_COUNT) {
            return Err(NetworkError::NetworkTooLarge {
                network: network.name.clone(),
                quantity,
                limit: MAX_COUNT,
            });
        }
    }
    Ok(())
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
