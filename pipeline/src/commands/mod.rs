//! The subcommands of `snni`: each takes its parsed arguments and returns an exit code.

mod artifacts;
mod cluster;
mod network;
mod onnx;
mod party;
mod predict;
mod progress;
mod report;
mod stored;
mod study;
mod tables;
mod verify;

pub use network::{parse_network, parse_shape};

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

impl From<snni_stages::schema::SchemaError> for CommandError {
    fn from(err: snni_stages::schema::SchemaError) -> Self {
        CommandError::new(
            exit_codes::STORE_ERROR,
            format!("read the stored table {err}"),
        )
        .help("re-run the stage that wrote it: snni run MANIFEST --force STAGE")
    }
}

impl From<StoreError> for CommandError {
    fn from(err: StoreError) -> Self {
        let message = snni_stages::error_chain(&err);
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

/// Opens an existing store for reading: the one way every command that only reads a store
/// (`plan`, `artifacts ls|show|export|verify`, `tables`, `predict`, `gc --dry-run`) opens it.
///
/// Never creates anything: a missing store is [`exit_codes::MISSING_INPUT`]. A store this
/// process may not write (a read-only mount) is read from a private copy of its database,
/// without the lock file ([`Store::open_read_only`]); so is a store a running `snni run`
/// holds ([`Store::open_read_only_live`]), with a note on stderr naming the run.
pub fn open_for_reading(dir: &Path) -> Result<Store, CommandError> {
    if !dir.exists() {
        return Err(no_store(dir));
    }
    let store = Store::open_read_only_live(dir)?;
    if let Some(holder) = store.held_by() {
        eprintln!(
            "note: {holder} holds the store at {}; reading a copy taken now \
             (what it commits from here on is not shown)",
            dir.display()
        );
    }
    Ok(store)
}

/// Opens a store for `snni plan`: like [`open_for_reading`], but a study whose store does
/// not exist yet is planned against an empty store (in a temporary folder), so that
/// planning never creates one. The flag says whether the store exists.
pub fn open_for_planning(dir: &Path) -> Result<(Store, bool), CommandError> {
    if dir.exists() {
        return Ok((open_for_reading(dir)?, true));
    }
    Ok((Store::empty()?, false))
}

/// Opens (and, if `create`, creates) a store for writing: `snni run` and `snni artifacts
/// import` create one, every other writer needs an existing store. Only the last folder of
/// the path is ever created ([`StoreError::NoParent`] otherwise).
pub fn open_for_writing(dir: &Path, create: bool, wait: bool) -> Result<Store, CommandError> {
    if !create && !dir.exists() {
        return Err(no_store(dir));
    }
    let on_locked = if wait { OnLocked::Wait } else { OnLocked::Fail };
    Ok(Store::open(dir, on_locked)?)
}

fn no_store(dir: &Path) -> CommandError {
    CommandError::new(
        exit_codes::MISSING_INPUT,
        format!("no store at {}", dir.display()),
    )
    .help("run a study first (`snni run MANIFEST`), or pass --store DIR")
}

/// Where `snni tables` writes its report: `<store>/report`, or — when the store cannot be
/// written (a read-only mount) — `snni-report/<study>` in the current folder, said on
/// stderr.
pub fn report_dir(store: &Path, study: &str) -> PathBuf {
    let report = store.join("report");
    if std::fs::create_dir_all(&report).is_ok() && writable(&report) {
        return report;
    }
    let fallback = PathBuf::from("snni-report").join(study);
    eprintln!(
        "note: the store at {} cannot be written here; the report goes to {}",
        store.display(),
        fallback.display()
    );
    fallback
}

/// Whether a file can be created in `dir`.
fn writable(dir: &Path) -> bool {
    tempfile::tempfile_in(dir).is_ok()
}
