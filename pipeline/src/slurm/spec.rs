//! The files coordinator and worker exchange through the spool, as serde types: a stage's
//! context (written once per stage), a task's spec (one per array index), the manifest of
//! a finished shard's outputs, and the markers a task leaves (`started`, `failed`,
//! `finished`). Every file carries `format`, checked on read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use snni_artifacts::{Digest, Record};

/// The format of every spool file this build writes and reads.
pub const SPOOL_FORMAT: u32 = 1;

/// Everything a node needs to run shards of one stage, but the shard list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageContext {
    /// [`SPOOL_FORMAT`].
    pub format: u32,
    /// The study's name.
    pub study: String,
    /// The stage's name.
    pub stage: String,
    /// Its kind.
    pub kind: String,
    /// The kind's implementation version (the node's build must have the same).
    pub kind_version: u32,
    /// Canonical parameters.
    pub params: serde_json::Value,
    /// The stage seed.
    pub seed: u64,
    /// The completed upstream stages.
    pub upstream: Vec<UpstreamRecord>,
}

/// One upstream stage as the node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRecord {
    /// Stage name.
    pub name: String,
    /// Stage kind.
    pub kind: String,
    /// Its committed record (outputs by digest; the objects are in the spool).
    pub record: Record,
}

/// The `snni` binary the coordinator runs; a node with another build refuses the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExeIdentity {
    /// Its path (the same on every node: a shared filesystem).
    pub path: PathBuf,
    /// The blake3 digest of the file.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, in nanoseconds since the Unix epoch.
    pub modified_ns: u128,
}

/// One array task: which shards of which stage to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// [`SPOOL_FORMAT`].
    pub format: u32,
    /// The spool folder.
    pub spool: PathBuf,
    /// The stage context file, relative to the spool.
    pub context: String,
    /// The coordinator's binary.
    pub exe: ExeIdentity,
    /// The shards, in the order to start them.
    pub shards: Vec<TaskShard>,
}

/// One shard of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskShard {
    /// The shard key.
    pub shard: String,
    /// Its fingerprint (the key of its result in `done/`).
    pub fingerprint: Digest,
}

/// Which Slurm task ran something: array job, index and restart count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    /// The array's job id.
    pub job: String,
    /// The array index.
    pub index: u32,
}

impl TaskId {
    /// `job_index`, as Slurm writes it.
    pub fn label(&self) -> String {
        format!("{}_{}", self.job, self.index)
    }
}

/// The manifest of a finished shard's outputs (`done/<…>/MANIFEST.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultManifest {
    /// [`SPOOL_FORMAT`].
    pub format: u32,
    /// The stage.
    pub stage: String,
    /// The shard key.
    pub shard: String,
    /// The shard's fingerprint.
    pub fingerprint: Digest,
    /// Outputs by name; every file's digest is its name in `objects/`.
    pub outputs: BTreeMap<String, ResultOutput>,
    /// What ran it, where and how long.
    pub run: RunInfo,
}

/// One output file of a shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResultOutput {
    /// Bytes (YAML, JSON …).
    Blob {
        /// Digest of the bytes (the file's name).
        digest: Digest,
        /// Their length.
        bytes: u64,
        /// Their media type.
        media_type: String,
    },
    /// A Parquet table.
    Table {
        /// Digest of the file.
        digest: Digest,
        /// Rows.
        rows: u64,
        /// File size.
        bytes: u64,
    },
}

/// Where and how a shard ran on the cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// Host name.
    pub host: String,
    /// `job_index` of the task.
    pub task: String,
    /// Slurm's restart count of the task.
    pub restart: u32,
    /// CPUs reserved for the shard, if any.
    pub cpus: Option<Vec<usize>>,
    /// Start and end, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// End.
    pub finished_unix_ms: u64,
}

/// `started/<job>_<index>.r<restart>.json`: a task began.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartedMarker {
    /// [`SPOOL_FORMAT`].
    pub format: u32,
    /// Host name.
    pub host: String,
    /// `job_index`.
    pub task: String,
    /// Slurm's restart count.
    pub restart: u32,
    /// The worker's process id.
    pub pid: u32,
    /// When, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// The shards it was given.
    pub shards: Vec<String>,
}

/// `failed/<fingerprint>.<job>_<index>.r<restart>.json`: a shard failed on a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedMarker {
    /// [`SPOOL_FORMAT`].
    pub format: u32,
    /// The stage.
    pub stage: String,
    /// The shard key.
    pub shard: String,
    /// The shard's fingerprint.
    pub fingerprint: Digest,
    /// `job_index` of the task.
    pub task: String,
    /// Host name.
    pub host: String,
    /// Why: the error with its causes (for profiles, both parties' stderr tails).
    pub reason: String,
    /// Whether a resubmission cannot help (another build of snni on the node).
    pub permanent: bool,
}

/// `finished/<job>_<index>.r<restart>.json`: a task ended (every shard is in `done/` or
/// `failed/` by then).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishedMarker {
    /// [`SPOOL_FORMAT`].
    pub format: u32,
    /// `job_index`.
    pub task: String,
    /// Shards done.
    pub done: usize,
    /// Shards failed.
    pub failed: usize,
    /// Why it stopped early, if it did.
    pub cancelled: Option<String>,
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
