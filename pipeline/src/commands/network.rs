//! `snni network`: show or validate a network description.

use std::path::Path;

use snni_engine::network::{Network, Shape, Shapes};
use snni_engine::zoo;

use super::{CommandError, CommandResult};
use crate::cli::NetworkArgs;
use crate::exec::error_chain;
use crate::exit_codes;

/// Parses `HxWxC`.
pub fn parse_shape(text: &str) -> Result<Shape, CommandError> {
    let parts: Vec<usize> = text
        .split('x')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    match parts[..] {
        [h, w, c] if h > 0 && w > 0 && c > 0 => Ok(Shape { h, w, c }),
        _ => Err(
            CommandError::new(exit_codes::USAGE, format!("`{text}` is not an input size"))
                .help("write HxWxC, e.g. 224x224x3"),
        ),
    }
}

/// Loads a network from a file, or builds a reference network by name.
pub fn load_network(spec: &str, input: Shape) -> Result<Network, CommandError> {
    if let Some(network) = zoo::by_name(spec, input) {
        return Ok(network);
    }
    let path = Path::new(spec);
    let text = std::fs::read_to_string(path).map_err(|e| {
        CommandError::new(
            exit_codes::INVALID_INPUT,
            format!("read network {spec}: {e}"),
        )
        .help("give a YAML/JSON network file or one of: squeezenet, resnet50, densenet121")
    })?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        Network::from_json_str(&text)
    } else {
        Network::from_yaml_str(&text)
    };
    parsed.map_err(|e| {
        CommandError::new(
            exit_codes::INVALID_INPUT,
            format!("{spec}: {}", error_chain(&e)),
        )
    })
}

/// Loads a network (see [`load_network`]) and validates it; an invalid one is an error
/// naming the layer and what is wrong with it (exit code 3).
pub fn load_valid_network(spec: &str, input: Shape) -> Result<(Network, Shapes), CommandError> {
    let network = load_network(spec, input)?;
    let shapes = network.validate().map_err(|e| {
        CommandError::new(
            exit_codes::INVALID_INPUT,
            format!("{spec}: {}", error_chain(&e)),
        )
    })?;
    Ok((network, shapes))
}

/// `snni network`.
pub fn show(args: NetworkArgs) -> CommandResult {
    let (network, shapes) = load_valid_network(&args.network, parse_shape(&args.input)?)?;
    match args.format.as_str() {
        "yaml" => print!(
            "{}",
            network
                .to_yaml_string()
                .map_err(|e| CommandError::new(exit_codes::INVALID_INPUT, e.to_string()))?
        ),
        "json" => println!(
            "{}",
            network
                .to_json_string()
                .map_err(|e| CommandError::new(exit_codes::INVALID_INPUT, e.to_string()))?
        ),
        _ => {
            println!(
                "{} ({}), input {}",
                network.name, network.family, network.input
            );
            println!(
                "{:>4}  {:<28} {:<16} {:>14} {:>12}",
                "#", "layer", "kind", "output", "params"
            );
            for (layer, info) in network.layers.iter().zip(&shapes.layers) {
                println!(
                    "{:>4}  {:<28} {:<16} {:>14} {:>12}",
                    info.index,
                    layer.name,
                    info.kind.as_str(),
                    info.output.to_string(),
                    info.params()
                );
            }
            println!(
                "{} layers, {} parameters",
                network.layers.len(),
                shapes.param_count()
            );
        }
    }
    Ok(exit_codes::SUCCESS)
}
