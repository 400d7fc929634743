//! `snni network`: show or validate a network description.

use std::path::Path;

use snni_engine::network::{Network, Shape, Shapes};
use snni_engine::zoo;
use snni_stages::error_chain;

use super::{CommandError, CommandResult};
use crate::cli::{NetworkArgs, NetworkCommand, DEFAULT_INPUT};
use crate::exit_codes;
use crate::manifest::network_file::{self, NetworkFileError};

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
    let given = (input != DEFAULT_INPUT).then_some(shape);
    network_file::read(Path::new(spec), spec, given, Some(shape)).map_err(command_error)
}

/// Parses a network file's text (JSON if `name` ends in `.json`, else YAML), with the
/// positioned errors of [`network_file::parse`].
pub fn parse_network(name: &str, text: &str) -> Result<Network, CommandError> {
    network_file::parse(name, text).map_err(command_error)
}

fn command_error(error: NetworkFileError) -> CommandError {
    match error {
        NetworkFileError::Unreadable(message) => CommandError::new(
            exit_codes::INVALID_INPUT,
            message,
        )
        .help(
            "give a YAML, JSON or ONNX network file or one of: squeezenet, resnet50, densenet121",
        ),
        NetworkFileError::Invalid { message, help } => {
            let error = CommandError::new(exit_codes::INVALID_INPUT, message);
            match help {
                Some(help) => error.help(help),
                None => error,
            }
        }
    }
}

/// Loads a network (see [`load_network`]) and validates it; an invalid one is an error
/// naming the layer and what is wrong with it (exit code 3).
pub fn load_valid_network(spec: &str, input: &str) -> Result<(Network, Shapes), CommandError> {
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
    let spec = match (args.command, args.network) {
        (Some(NetworkCommand::Import(import)), _) => return super::onnx::import(import),
        (None, Some(spec)) => spec,
        (None, None) => {
            return Err(CommandError::new(exit_codes::USAGE, "no network given")
                .help("snni network FILE|NAME, or snni network import MODEL.onnx"))
        }
    };
    let (network, shapes) = load_valid_network(&spec, &args.input)?;
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
