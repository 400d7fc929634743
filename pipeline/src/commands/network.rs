//! `snni network`: show or validate a network description.

use std::path::Path;

use snni_engine::network::{Network, Shape};
use snni_engine::zoo;

use super::{CommandError, CommandResult};
use crate::cli::{NetworkArgs, NetworkCommand, DEFAULT_INPUT};
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

/// Loads a network from a file (YAML, JSON, or ONNX by its `.onnx` extension), or builds a
/// reference network by name; `input` (HxWxC) sizes reference networks and ONNX models of
/// symbolic size, and is checked against an ONNX model's fixed size unless it is the default.
pub fn load_network(spec: &str, input: &str) -> Result<Network, CommandError> {
    let shape = parse_shape(input)?;
    if let Some(network) = zoo::by_name(spec, shape) {
        return Ok(network);
    }
    let path = Path::new(spec);
    if snni_stages::onnx::is_onnx_path(path) {
        let given = (input != DEFAULT_INPUT).then_some(shape);
        return super::onnx::load(path, given, Some(shape));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        CommandError::new(
            exit_codes::INVALID_INPUT,
            format!("read network {spec}: {e}"),
        )
        .help("give a YAML, JSON or ONNX network file or one of: squeezenet, resnet50, densenet121")
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

/// `snni network`.
pub fn show(args: NetworkArgs) -> CommandResult {
    let spec = match (args.command, args.network) {
        (Some(NetworkCommand::Import(import)), _) => return super::onnx::import(import),
        (None, Some(spec)) => spec,
        (None, None) => {
            return Err(CommandError::new(exit_codes::USAGE, "no network given")
                .help("snni network FILE|NAME, or snni network import MODEL.onnx"))
        }
    };
    let network = load_network(&spec, &args.input)?;
    let shapes = network.validate().map_err(|e| {
        CommandError::new(
            exit_codes::INVALID_INPUT,
            format!("{spec}: {}", error_chain(&e)),
        )
    })?;
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
