//! `snni network import MODEL.onnx`: the model converted by `snni_stages::onnx`, its notes
//! printed, its errors given the node and what to do. (The `.onnx` branch of every
//! `--network FILE` and of a manifest's `networks` stage is `manifest::network_file`.)

use std::path::Path;

use snni_stages::error_chain;
use snni_stages::onnx::{self, ImportError, ImportOptions, Imported};

use super::network::parse_shape;
use super::{CommandError, CommandResult};
use crate::cli::ImportArgs;
use crate::exit_codes;

fn import_error(path: &Path, error: &ImportError) -> CommandError {
    let message = format!("{}: {}", path.display(), error_chain(error));
    let command = CommandError::new(exit_codes::INVALID_INPUT, message);
    match error.help() {
        Some(help) => command.help(help),
        None => command,
    }
}

fn import_with(path: &Path, options: &ImportOptions) -> Result<Imported, CommandError> {
    let imported = onnx::import_file(path, options).map_err(|e| import_error(path, &e))?;
    for note in &imported.notes {
        tracing::info!("{}: {note}", path.display());
    }
    Ok(imported)
}

/// `snni network import`.
pub fn import(args: ImportArgs) -> CommandResult {
    let options = ImportOptions {
        input: args.input.as_deref().map(parse_shape).transpose()?,
        default_input: None,
        end_at: args.end_at.clone(),
        name: args.name.clone(),
    };
    let imported = import_with(&args.model, &options)?;
    let network = &imported.network;
    for note in &imported.notes {
        eprintln!("note: {note}");
    }
    let json = args
        .output
        .as_deref()
        .is_some_and(|p| p.extension().is_some_and(|e| e == "json"));
    let text = if json {
        network.to_json_string().map(|s| s + "\n")
    } else {
        network.to_yaml_string()
    }
    .map_err(|e| CommandError::new(exit_codes::INVALID_INPUT, error_chain(&e)))?;
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| {
            CommandError::new(
                exit_codes::STORE_ERROR,
                format!("write {}: {e}", path.display()),
            )
        })
    };
    match &args.output {
        Some(path) => write(path, &text)?,
        None => print!("{text}"),
    }
    let params = network.param_count().unwrap_or(0);
    eprintln!(
        "imported {} ({} layers, {} parameters, input {}){}",
        args.model.display(),
        network.layers.len(),
        params,
        network.input,
        args.output
            .as_ref()
            .map_or(String::new(), |p| format!(" to {}", p.display()))
    );
    if let Some(path) = &args.weights_out {
        write(path, &imported.weights.to_json())?;
        eprintln!(
            "weights of {} layers written to {} (largest |value| {:.3})",
            imported.weights.layers.len(),
            path.display(),
            imported.weights.max_abs()
        );
    }
    Ok(exit_codes::SUCCESS)
}
