//! The subcommands of `snni`: each takes its parsed arguments and returns an exit code.

mod artifacts;
mod cluster;
mod network;
mod onnx;
mod party;
mod predict;
mod progress;
mod report;
mod study;
mod tables;

pub use network::parse_shape;

use std::path::{Path, PathBuf};

use snni_artifacts::{OnLocked, Store, StoreError};

use crate::cli::{Cli, Command, StoreArgs};
use crate::exit_codes;
use crate::manifest::{self, LoadError, Study};

/// A command's failure: what to print and the exit code.
#[derive(Debug)]
pub struct CommandError {
    /// Exit code (see [`exit_codes`]).
    pub code: i32,
    /// The message (printed after `error: `).
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl CommandError {
    /// An error with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl From<StoreError> for CommandError {
    fn from(err: StoreError) -> Self {
        let message = crate::exec::error_chain(&err);
        match err {
            StoreError::Locked { .. } => CommandError::new(exit_codes::STORE_LOCKED, message)
                .help("`snni run --wait` waits for the other process to release the store"),
            _ => CommandError::new(exit_codes::STORE_ERROR, message),
        }
    }
}

/// Result of a command.
pub type CommandResult = Result<i32, CommandError>;

/// Dispatches a parsed command line.
pub fn run(cli: Cli) -> CommandResult {
    match cli.command {
        Command::Run(args) => study::run(args),
        Command::Status(args) => cluster::status(args),
        Command::Cancel(args) => cluster::cancel(args),
        Command::Shard(crate::cli::ShardCommand::Run { spec, task }) => {
            Ok(crate::slurm::worker::run(&spec, task.as_deref()))
        }
        Command::Plan(args) => study::plan(args),
        Command::Check(args) => study::check(args),
        Command::Artifacts(command) => artifacts::run(command),
        Command::Gc(args) => artifacts::gc(args),
        Command::Network(args) => network::show(args),
        Command::Party(command) => party::party(command),
        Command::Infer(args) => party::infer(args),
        Command::Tables(args) => tables::tables(args),
        Command::Predict(args) => predict::predict(args),
        Command::Kinds => {
            for kind in snni_stages::KINDS {
                println!(
                    "{:<12} v{}  {}",
                    kind.name(),
                    kind.version(),
                    kind.summary()
                );
            }
            Ok(exit_codes::SUCCESS)
        }
    }
}

/// Loads a manifest, printing its diagnostics on failure.
pub fn load_study(path: &Path, store: &StoreArgs) -> Result<Study, CommandError> {
    manifest::load(path, store.store.as_deref()).map_err(|err| match err {
        LoadError::Io { .. } => CommandError::new(exit_codes::INVALID_INPUT, err.to_string()),
        LoadError::Invalid(errors) => {
            CommandError::new(exit_codes::INVALID_INPUT, errors.to_string())
        }
    })
}

/// The store directory for commands that take `--store` but no manifest.
pub fn store_dir(args: &StoreArgs) -> PathBuf {
    args.store
        .clone()
        .unwrap_or_else(|| PathBuf::from(manifest::DEFAULT_STORE))
}

/// Opens an existing store for reading, with a clear error if there is none.
pub fn open_existing(dir: &Path) -> Result<Store, CommandError> {
    if !dir.exists() {
        return Err(CommandError::new(
            exit_codes::MISSING_INPUT,
            format!("no store at {}", dir.display()),
        )
        .help("run a study first (`snni run MANIFEST`), or pass --store DIR"));
    }
    Ok(Store::open(dir, OnLocked::Fail)?)
}
