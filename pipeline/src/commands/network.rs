//! `snni network`: show or validate a network description.

use std::path::Path;

use snni_engine::network::{Network, Shape, Shapes};
use snni_engine::zoo;
use snni_stages::error_chain;

use super::{CommandError, CommandResult};
use crate::cli::{NetworkArgs, NetworkCommand, DEFAULT_INPUT};
use crate::exit_codes;
use crate::manifest::{cut, read_text, Problem, ReadError, SourceFile, MAX_BYTES, MESSAGE_WIDTH};

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
    let invalid = |message: String| CommandError::new(exit_codes::INVALID_INPUT, message);
    let text = read_text(path).map_err(|error| match error {
        ReadError::Io(e) => invalid(format!("read network {spec}: {e}")).help(
            "give a YAML, JSON or ONNX network file or one of: squeezenet, resnet50, densenet121",
        ),
        ReadError::TooLarge => invalid(format!(
            "{spec}: the file is larger than {} KiB; a network file is a short YAML or JSON text",
            MAX_BYTES / 1024
        )),
        ReadError::NotText { span, what, .. } => invalid(format!(
            "{spec}:{}:{}: not a text file: {what}",
            span.line, span.column
        )),
    })?;
    parse_network(spec, &text)
}

/// Parses a network file's text (JSON if `name` ends in `.json`, else YAML). YAML is
/// checked first for what serde_yaml reports badly or slowly: duplicate keys, nesting
/// deeper than 64 levels and alias bombs, each at its line and column.
pub fn parse_network(name: &str, text: &str) -> Result<Network, CommandError> {
    let invalid = |message: String| CommandError::new(exit_codes::INVALID_INPUT, message);
    let parsed = if name.ends_with(".json") {
        Network::from_json_str(text)
    } else {
        let source = SourceFile::new(Path::new(name), text.to_string());
        let problems: Vec<String> = source
            .problems()
            .iter()
            .filter_map(|problem| match problem {
                Problem::DuplicateKey { span, key, first } => Some(format!(
                    "{name}:{}:{}: duplicate key `{key}`: it is already set on line {first}",
                    span.line, span.column
                )),
                Problem::TooDeep { span } => Some(format!(
                    "{name}:{}:{}: nested too deeply",
                    span.line, span.column
                )),
                Problem::AliasBomb { span } => Some(format!(
                    "{name}:{}:{}: aliases expand the file to more than 100000 values",
                    span.line, span.column
                )),
                Problem::Syntax { .. } => None,
            })
            .collect();
        if !problems.is_empty() {
            return Err(invalid(problems.join("\n")));
        }
        Network::from_yaml_str(text)
    };
    parsed.map_err(|e| invalid(format!("{name}: {}", cut(&error_chain(&e), MESSAGE_WIDTH))))
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
