//! The command line: every subcommand and flag of `snni`, with its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use snni_engine::ot::OtBackend;

/// snni-lab: secure neural-network inference performance studies from one YAML manifest.
///
/// A manifest declares a study: its seed, network settings and stages (synthesize networks,
/// reference networks, …). `snni run` plans it as a DAG of cached stages, runs what is not
/// cached and stores every output; a second run does nothing, and an interrupted run
/// resumes where it stopped.
#[derive(Debug, Parser)]
#[command(name = "snni", version, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str =
    "Exit codes: 0 success, 1 a stage failed, 2 usage error, 3 invalid manifest or network, \
4 store locked by another snni, 5 store error, 6 input missing from the store, 130 interrupted.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a study: every stage that is not cached, in dependency order.
    Run(RunArgs),
    /// Where each stage of a study stands: done, running, queued (with Slurm's reason),
    /// failed, with job ids. Works while `snni run` holds the store.
    Status(StatusArgs),
    /// Cancel a study's cluster jobs (and stop its running coordinator).
    Cancel(CancelArgs),
    /// Internal: run one cluster task's shards (`snni run --executor slurm` submits it).
    #[command(subcommand, hide = true)]
    Shard(ShardCommand),
    /// Show what `run` would do and why, without running anything.
    Plan(PlanArgs),
    /// Validate manifests and print every error with its position.
    Check(CheckArgs),
    /// Inspect, export and import the artifact store.
    #[command(subcommand)]
    Artifacts(ArtifactsCommand),
    /// Delete what none of the given manifests' current plans reference.
    Gc(GcArgs),
    /// Show or validate a network description (a file or a reference name).
    Network(NetworkArgs),
    /// List the stage kinds a manifest can use.
    Kinds,
    /// Run one party of a secure inference (server: weights; client: input).
    #[command(subcommand)]
    Party(PartyCommand),
    /// Run a secure inference on loopback: server and client as two child processes,
    /// then print per-layer metering for both parties.
    Infer(InferArgs),
    /// Print the study's result tables from the store (and write them under `report/`).
    Tables(TablesArgs),
    /// Predict a network's secure-inference time, per layer and in total, from the trained
    /// models in a store.
    Predict(PredictArgs),
}

/// `snni predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A network file (YAML, JSON or ONNX) or a reference name: squeezenet, resnet50,
    /// densenet121.
    #[arg(long)]
    pub network: String,
    /// Input size for reference networks and ONNX models of symbolic size, as HxWxC.
    #[arg(long, default_value = DEFAULT_INPUT)]
    pub input: String,
    /// A trained setting (`local`, `lan`, `wan`, or one the study declares), a built-in one
    /// the store has no models for (predicted by `transfer` from the unshaped setting), or
    /// a link: `bandwidth=380mbit,rtt=10ms`.
    #[arg(long)]
    pub setting: String,
    /// Method(s): analytical, protocol, transfer, mlp, rnn, or `all` (default: each party's
    /// method recommended on the study's validation networks).
    #[arg(long, value_delimiter = ',')]
    pub method: Vec<String>,
    /// Move the times to a machine's speed (models from a split with `speed: probe` only):
    /// `probe` runs the profile stage's machine-speed probe here (--probe-seconds); a number
    /// is a probe's HE layers per second measured elsewhere (a shard's `probe` in `meta`).
    #[arg(long, value_name = "probe|HE_LAYERS_PER_S")]
    pub speed: Option<String>,
    /// Seconds the probe of `--speed probe` runs (half its HE part, half its OT part).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub probe_seconds: f64,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
}

/// `snni tables`.
#[derive(Debug, Args)]
pub struct TablesArgs {
    /// The study manifest (YAML).
    pub manifest: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Markdown)]
    pub format: TableFormat,
}

/// Formats of `snni tables`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// Markdown tables.
    #[value(name = "md")]
    Markdown,
    /// LaTeX `tabular`s (compile in a plain `article`).
    Latex,
    /// One CSV with every cell.
    Csv,
}

/// Settings shared by both parties and `infer`.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// A network file (YAML, JSON or ONNX) or a reference name: squeezenet, resnet50,
    /// densenet121.
    #[arg(long)]
    pub network: String,
    /// Input size for reference networks and ONNX models of symbolic size, as HxWxC.
    #[arg(long, value_name = "HxWxC", default_value = DEFAULT_INPUT)]
    pub input_size: String,
    /// Share bit length ℓ (shares live in Z_2^ℓ); both parties must agree.
    #[arg(long, default_value_t = 41)]
    pub ell: u32,
    /// Fixed-point scale (a real v is round(v·2^scale)); both parties must agree.
    #[arg(long, default_value_t = 12)]
    pub scale: u32,
    /// Seconds to wait for the peer (connection and each message) before failing.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Worker threads per party for the HE layers (encryption, evaluation, decryption).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Pin the party, all its threads, to these CPUs, e.g. `0` or `0,1` (Linux only).
    /// Default: the OS places it.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// The OT extension: `ferret` (silent OT, well under a bit per OT) or `iknp` (16 bytes
    /// per OT); both parties must agree.
    #[arg(long, value_name = "BACKEND", default_value = "ferret", value_parser = parse_ot)]
    pub ot: OtBackend,
    /// Statistical hiding of the weights per inference, in bits: the HE parameters are
    /// chosen so that the flooding margin over every coefficient the client decrypts is at
    /// least this (larger or more moduli when needed). Default: 40 bits per revealed
    /// coefficient, whatever that leaves per inference (the run line states both); both
    /// parties must agree.
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u32).range(1..=120))]
    pub flooding_bits: Option<u32>,
}

fn parse_ot(text: &str) -> Result<OtBackend, String> {
    text.parse()
}

/// `snni party …`.
#[derive(Debug, Subcommand)]
pub enum PartyCommand {
    /// The server: holds the weights, listens for one client.
    Server {
        #[command(flatten)]
        #[allow(missing_docs)]
        engine: EngineArgs,
        /// Weights: `seed:N` (random, seeded) or a weights JSON file.
        #[arg(long, default_value = "seed:1")]
        weights: String,
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7411")]
        listen: String,
        /// Write the per-layer JSON lines here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit (code 130) when stdin reaches end of file: `snni run` gives each party a
        /// pipe only it writes to, so parties never outlive a killed run.
        #[arg(long)]
        exit_with_parent: bool,
    },
    /// The client: holds the input, connects to the server, learns the output.
    Client {
        #[command(flatten)]
        #[allow(missing_docs)]
        engine: EngineArgs,
        /// Input: `seed:N` (random, seeded) or an input JSON file.
        #[arg(long, default_value = "seed:1")]
        input: String,
        /// The server's address.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7411")]
        connect: String,
        /// Write the per-layer JSON lines here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit (code 130) when stdin reaches end of file: `snni run` gives each party a
        /// pipe only it writes to, so parties never outlive a killed run.
        #[arg(long)]
        exit_with_parent: bool,
    },
}

/// `snni infer`.
#[derive(Debug, Args)]
pub struct InferArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub engine: EngineArgs,
    /// Weights: `seed:N` or a weights JSON file.
    #[arg(long, default_value = "seed:1")]
    pub weights: String,
    /// Input: `seed:N` or an input JSON file.
    #[arg(long, default_value = "seed:1")]
    pub input: String,
    /// Print both parties' JSON lines (each has a `party` field) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Where the store is, for commands that read one.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store directory (default: the manifest's `store`, else ./.snni-store).
    #[arg(long, value_name = "DIR", env = "SNNI_STORE")]
    pub store: Option<PathBuf>,
}

/// Stage selection shared by `run` and `plan`.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Run only this stage (repeatable); its upstream stages must be cached.
    #[arg(long, value_name = "STAGE", conflicts_with = "from")]
    pub only: Vec<String>,
    /// Re-run this stage and everything downstream of it.
    #[arg(long, value_name = "STAGE")]
    pub from: Option<String>,
    /// Re-run this stage even if it is cached (repeatable).
    #[arg(long, value_name = "STAGE")]
    pub force: Vec<String>,
}

/// `snni run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The study manifest (YAML).
    pub manifest: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub select: SelectArgs,
    /// Shards to run at once (default: the number of cores).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// After a failure, keep running stages that do not depend on it.
    #[arg(long)]
    pub keep_going: bool,
    /// If another snni holds the store, wait for it instead of failing.
    #[arg(long)]
    pub wait: bool,
    /// Print one JSON event per line on stdout instead of progress.
    #[arg(long)]
    pub json: bool,
    /// Where shards run: `local` (this machine) or `slurm` (job arrays; see the manifest's
    /// `executor:` block). Overrides the manifest.
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorChoice>,
}

/// `--executor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorChoice {
    /// On this machine.
    Local,
    /// As Slurm job arrays.
    Slurm,
}

/// `snni status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The study manifest (YAML).
    pub manifest: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `snni cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The study manifest (YAML).
    pub manifest: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
}

/// `snni shard` (internal: what cluster tasks run).
#[derive(Debug, Subcommand)]
pub enum ShardCommand {
    /// Run the shards of one cluster task from its spec file in the spool.
    Run {
        /// The task's spec (`<spool>/batches/<batch>/tasks/<index>.json`).
        #[arg(long)]
        spec: PathBuf,
        /// The task's label (`job_index.rN`; default: from Slurm's environment).
        #[arg(long)]
        task: Option<String>,
    },
}

/// `snni plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The study manifest (YAML).
    pub manifest: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub select: SelectArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `snni check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Manifests to validate.
    #[arg(required = true)]
    pub manifests: Vec<PathBuf>,
}

/// `snni artifacts …`.
#[derive(Debug, Subcommand)]
pub enum ArtifactsCommand {
    /// List stages and shards with digests and sizes.
    Ls {
        #[command(flatten)]
        #[allow(missing_docs)]
        store: StoreArgs,
        /// Also list every shard.
        #[arg(long)]
        shards: bool,
    },
    /// Show one output: a network as YAML, a table's schema and head.
    Show {
        #[command(flatten)]
        #[allow(missing_docs)]
        store: StoreArgs,
        /// `STAGE/SHARD/OUTPUT` as listed by `ls` (e.g. `synth/synth-0003/network`), or a digest.
        target: String,
        /// Rows of a table to show.
        #[arg(long, default_value_t = 10)]
        rows: usize,
    },
    /// Export the store (or what the given manifests reference) to one archive.
    Export {
        #[command(flatten)]
        #[allow(missing_docs)]
        store: StoreArgs,
        /// The archive to write (a tar file).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Export only what these manifests' current plans reference.
        #[arg(long = "manifest", value_name = "MANIFEST")]
        manifests: Vec<PathBuf>,
    },
    /// Import an archive made by `export` into a store.
    Import {
        #[command(flatten)]
        #[allow(missing_docs)]
        store: StoreArgs,
        /// The archive to read.
        archive: PathBuf,
    },
    /// Check every blob, table and record of the store against its digest and list what is
    /// damaged (exit code 5 if anything is); with `--repair`, drop it so that the next
    /// `snni run` recomputes exactly that.
    Verify {
        #[command(flatten)]
        #[allow(missing_docs)]
        store: StoreArgs,
        /// Drop damaged records, blobs and tables (a database sled cannot open at all is
        /// moved aside to `db.damaged-…`); needs the store to itself.
        #[arg(long)]
        repair: bool,
    },
}

/// `snni gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Manifests whose current plans keep their outputs.
    #[arg(required = true)]
    pub manifests: Vec<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
    /// Only say what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

/// `snni network`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct NetworkArgs {
    /// Convert an ONNX model instead of showing a network.
    #[command(subcommand)]
    pub command: Option<NetworkCommand>,
    /// A network file (YAML, JSON or ONNX) or a reference name: squeezenet, resnet50,
    /// densenet121.
    #[arg(required = true)]
    pub network: Option<String>,
    /// Input size for reference networks and ONNX models of symbolic size, as HxWxC.
    #[arg(long, default_value = DEFAULT_INPUT)]
    pub input: String,
    /// Print the network as YAML or JSON instead of the layer table.
    #[arg(long, value_parser = ["table", "yaml", "json"], default_value = "table")]
    pub format: String,
}

/// `snni network …` subcommands.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Convert an ONNX model into a network description (and its weights into a weight
    /// file); unsupported ops are errors naming the node and what to do.
    Import(ImportArgs),
}

/// `snni network import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The ONNX model (.onnx).
    pub model: PathBuf,
    /// Write the network here (YAML, or JSON for a .json name) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The input size, HxWxC: needed when the model's is symbolic, checked when it is fixed.
    #[arg(long, value_name = "HxWxC")]
    pub input: Option<String>,
    /// Write the model's weights here, as a weight file for `snni infer --weights FILE`.
    #[arg(long, value_name = "FILE")]
    pub weights_out: Option<PathBuf>,
    /// End the network at this tensor (or node), e.g. the input of a final Softmax.
    #[arg(long, value_name = "TENSOR")]
    pub end_at: Option<String>,
    /// The network's name (default: the file's stem).
    #[arg(long)]
    pub name: Option<String>,
}

/// The input size of reference networks (and of ONNX models of symbolic size) when none is
/// given.
pub const DEFAULT_INPUT: &str = "224x224x3";
