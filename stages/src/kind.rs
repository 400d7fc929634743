//! The stage kind traits: [`Kind`], which every stage kind implements with its typed
//! parameters, and [`StageKind`], the object-safe form the pipeline holds (`&dyn
//! StageKind`), which every [`Kind`] gets from one blanket impl here.
//!
//! Parameters pass through two forms. A manifest's raw parameters are checked once by
//! [`Kind::check`], which returns the typed [`Kind::Params`] with every default filled in;
//! serialising that value gives the canonical JSON that enters the fingerprint and travels
//! with the study (to a cluster node in its submission). Wherever the pipeline hands
//! the canonical JSON back, the blanket impl decodes it into [`Kind::Params`] in one place
//! ([`decode`]), with the key path of anything it rejects, so a kind never reads JSON.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::DataFrame;
use serde::de::DeserializeOwned;
use serde::Serialize;
use snni_artifacts::{BlobSource, Digest, Record, Store};
use snni_engine::network::{Network, Shape};

use crate::{decode_params, ParamIssue, Setting, StageError};

/// A kind of stage with typed parameters. Implement this (not [`StageKind`]) for a new
/// kind; list it in `KINDS` (`registry.rs`).
///
/// The pipeline calls [`Kind::check`] while validating a manifest, [`Kind::plan`] when
/// planning and [`Kind::run`] on a blocking thread for every shard that is not cached.
/// Implementations hold no mutable state.
pub trait Kind: Send + Sync + 'static {
    /// The parameters, canonical and typed. Serialising them gives the canonical JSON of
    /// the fingerprint, so a field may only be added with a default that serialises to
    /// nothing (`skip_serializing_if`) unless the kind's version is bumped.
    type Params: Serialize + DeserializeOwned + Send + Sync;

    /// The name used as `kind:` in manifests.
    const NAME: &'static str;

    /// Implementation version; bump it whenever the outputs for the same inputs change,
    /// so cached results of the old implementation are not reused.
    const VERSION: u32;

    /// One line for `snni --help` style listings.
    const SUMMARY: &'static str;

    /// Top-level keys of the canonical parameters that only choose *which* shards exist
    /// (such as a count): they are left out of every shard's fingerprint, so that growing
    /// a study keeps the shards it already has.
    const SHARD_CHOICE: &'static [&'static str] = &[];

    /// True for kinds that reduce a whole upstream stage into one quick shard (a dataset,
    /// a split, an evaluation): a cluster executor runs them on the coordinator, which
    /// holds the store, instead of copying every upstream output to a node.
    const RUNS_ON_COORDINATOR: bool = false;

    /// Validates the manifest's raw `params` (`null` when the manifest has none) and
    /// returns them typed, with every default filled in, or every issue found.
    /// Kinds that refer to study-level names (settings) resolve them from `ctx` and embed
    /// what they resolve to, so that editing a setting changes the fingerprint.
    fn check(
        &self,
        params: &serde_json::Value,
        ctx: &CheckContext<'_>,
    ) -> Result<Self::Params, Vec<ParamIssue>>;

    /// The shard keys of this stage, in order.
    fn plan(&self, params: &Self::Params, ctx: &PlanContext<'_>)
        -> Result<Vec<String>, StageError>;

    /// The upstream outputs one shard reads, by name, when it reads only some of them.
    ///
    /// `None` (the default) means the shard depends on every upstream output. A kind that
    /// maps shards to upstream items (one profile shard per network) returns just those
    /// digests, so that adding an upstream network does not invalidate the shards of the
    /// others.
    fn shard_inputs(
        &self,
        _params: &Self::Params,
        _ctx: &PlanContext<'_>,
        _shard: &str,
    ) -> Option<BTreeMap<String, Digest>> {
        None
    }

    /// The CPUs the shard needs while it runs (see [`StageKind::reservation`]).
    fn reserve(&self, _params: &Self::Params, _shard: &str) -> Reservation {
        Reservation::Shared
    }

    /// A guess of one shard's duration in seconds before any has run, used to bundle short
    /// shards into one cluster task. Measured durations replace it once shards finish.
    fn guess_seconds(&self, _params: &Self::Params, _shard: &str) -> f64 {
        GUESSED_SHARD_SECONDS
    }

    /// Produces the outputs of one shard.
    fn run(
        &self,
        params: &Self::Params,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError>;
}

/// A shard's guessed duration when its kind does not guess better ([`Kind::guess_seconds`]).
const GUESSED_SHARD_SECONDS: f64 = 60.0;

/// Decodes canonical parameters (the JSON [`Kind::check`]'s value serialised to) into the
/// kind's [`Kind::Params`]: the one place where a kind's parameters are read back from JSON.
/// They passed the check already, so an error here means the JSON was changed on its way
/// (a hand-edited cluster submission, a store of another build).
pub(crate) fn decode<K: Kind>(params: &serde_json::Value) -> Result<K::Params, StageError> {
    decode_params(params).map_err(|issue| StageError::Params {
        kind: K::NAME,
        message: issue.located(),
    })
}

/// The canonical JSON of checked parameters: what enters the fingerprint.
pub(crate) fn canonical<K: Kind>(params: &K::Params) -> Result<serde_json::Value, Vec<ParamIssue>> {
    serde_json::to_value(params).map_err(|err| {
        vec![ParamIssue::new(
            &[],
            format!("the checked parameters do not serialise: {err}"),
        )]
    })
}

impl<K: Kind> StageKind for K {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn version(&self) -> u32 {
        K::VERSION
    }

    fn summary(&self) -> &'static str {
        K::SUMMARY
    }

    fn check_params(
        &self,
        params: &serde_json::Value,
        ctx: &CheckContext<'_>,
    ) -> Result<serde_json::Value, Vec<ParamIssue>> {
        canonical::<K>(&self.check(params, ctx)?)
    }

    fn shard_params(&self, params: &serde_json::Value) -> serde_json::Value {
        if K::SHARD_CHOICE.is_empty() {
            return params.clone();
        }
        let mut rest = params.as_object().cloned().unwrap_or_default();
        for key in K::SHARD_CHOICE {
            rest.remove(*key);
        }
        serde_json::Value::Object(rest)
    }

    fn shards(&self, ctx: &PlanContext<'_>) -> Result<Vec<String>, StageError> {
        self.plan(&decode::<K>(ctx.params)?, ctx)
    }

    fn shard_upstream(
        &self,
        ctx: &PlanContext<'_>,
        shard: &str,
    ) -> Option<BTreeMap<String, Digest>> {
        // Undecodable params fail the stage in `shards`; here they only mean "every input".
        self.shard_inputs(&decode::<K>(ctx.params).ok()?, ctx, shard)
    }

    fn reservation(&self, params: &serde_json::Value, shard: &str) -> Reservation {
        match decode::<K>(params) {
            Ok(params) => self.reserve(&params, shard),
            Err(_) => Reservation::Shared,
        }
    }

    fn runs_on_coordinator(&self) -> bool {
        K::RUNS_ON_COORDINATOR
    }

    fn expected_shard_seconds(&self, params: &serde_json::Value, shard: &str) -> f64 {
        match decode::<K>(params) {
            Ok(params) => self.guess_seconds(&params, shard),
            Err(_) => GUESSED_SHARD_SECONDS,
        }
    }

    fn run_shard(&self, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError> {
        self.run(&decode::<K>(ctx.params)?, ctx)
    }
}

/// A kind of stage (`synthesize`, `reference`, …) as the pipeline holds it: object-safe,
/// parameters as canonical JSON. Every [`Kind`] is one (the blanket impl above); implement
/// [`Kind`], not this.
///
/// The pipeline calls [`StageKind::check_params`] while validating a manifest,
/// [`StageKind::shards`] when planning and [`StageKind::run_shard`] on a blocking thread
/// for every shard that is not cached.
pub trait StageKind: Send + Sync + 'static {
    /// [`Kind::NAME`].
    fn name(&self) -> &'static str;

    /// [`Kind::VERSION`].
    fn version(&self) -> u32;

    /// [`Kind::SUMMARY`].
    fn summary(&self) -> &'static str;

    /// [`Kind::check`], returning the canonical JSON (the typed value serialised).
    fn check_params(
        &self,
        params: &serde_json::Value,
        ctx: &CheckContext<'_>,
    ) -> Result<serde_json::Value, Vec<ParamIssue>>;

    /// The part of the canonical params that shards depend on: all but
    /// [`Kind::SHARD_CHOICE`].
    fn shard_params(&self, params: &serde_json::Value) -> serde_json::Value;

    /// [`Kind::plan`] of the decoded `ctx.params`.
    fn shards(&self, ctx: &PlanContext<'_>) -> Result<Vec<String>, StageError>;

    /// [`Kind::shard_inputs`] of the decoded `ctx.params`.
    fn shard_upstream(
        &self,
        ctx: &PlanContext<'_>,
        shard: &str,
    ) -> Option<BTreeMap<String, Digest>>;

    /// The CPUs the shard needs while it runs: one slot among others (the default), a set
    /// of CPUs of its own that it pins its work to, or the whole machine (timings of shaped
    /// links must not be polluted by other shards). [`Kind::reserve`].
    fn reservation(&self, params: &serde_json::Value, shard: &str) -> Reservation;

    /// [`Kind::RUNS_ON_COORDINATOR`].
    fn runs_on_coordinator(&self) -> bool;

    /// [`Kind::guess_seconds`].
    fn expected_shard_seconds(&self, params: &serde_json::Value, shard: &str) -> f64;

    /// [`Kind::run`] of the decoded `ctx.params`.
    fn run_shard(&self, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError>;
}

/// What a stage kind sees when its parameters are checked: study-level declarations.
pub struct CheckContext<'a> {
    /// The study's network settings by name (built-in ones included).
    pub settings: &'a BTreeMap<String, Setting>,
    /// Reads network files named in the manifest (the `networks` kind), relative to the
    /// manifest's folder; `None` where there is no manifest folder to read them from.
    pub files: Option<&'a dyn NetworkFiles>,
}

/// Reads the network files a manifest names, for [`CheckContext::files`]. The pipeline
/// implements it with the loader `snni network FILE` uses, so a file gives the same
/// positioned errors in a manifest as on the command line.
pub trait NetworkFiles {
    /// The folder relative paths are resolved against (the manifest's).
    fn base(&self) -> &Path;

    /// Reads and validates the network file at `path` (relative to [`NetworkFiles::base`]);
    /// `input` is the input size for an ONNX model whose input size is free, checked
    /// against a fixed one.
    fn load(&self, path: &Path, input: Option<Shape>) -> Result<Network, NetworkFileError>;
}

/// Why a network file could not be used: the message names the file and, where the
/// format allows, the line and column (`nets/vgg.yaml:12:5: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFileError {
    /// What is wrong, with the file's path in front.
    pub message: String,
    /// What to do about it, when there is more to say than the message.
    pub help: Option<String>,
}

/// What a stage kind sees when it plans its shards.
pub struct PlanContext<'a> {
    /// Canonical parameters (from [`StageKind::check_params`]); a [`Kind`] gets them
    /// decoded beside the context.
    pub params: &'a serde_json::Value,
    /// The seed of the stage (the study seed unless the stage overrides it).
    pub seed: u64,
    /// The completed stages this one needs.
    pub upstream: &'a [UpstreamStage],
    /// The store, to read upstream outputs when the shards depend on their contents.
    pub store: &'a Store,
}

/// What a stage kind sees when it runs one shard.
pub struct ShardContext<'a> {
    /// The shard key.
    pub shard: &'a str,
    /// Canonical parameters; a [`Kind`] gets them decoded beside the context.
    pub params: &'a serde_json::Value,
    /// The stage seed.
    pub seed: u64,
    /// The completed stages this one needs.
    pub upstream: &'a [UpstreamStage],
    /// Where upstream outputs are read: the store, or on a cluster node the objects the
    /// coordinator copied for this shard.
    pub store: &'a dyn BlobSource,
    /// The CPUs reserved for this shard when its kind asked for
    /// [`Reservation::Pinned`]; the shard pins its work to them.
    pub cpus: Option<&'a [usize]>,
}

/// The CPUs a shard needs while it runs (see [`StageKind::reservation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// One of the run's `--jobs` slots, on whichever CPUs the OS picks.
    Shared,
    /// One of the run's `--jobs` slots and this many of the machine's CPUs, counted but not
    /// pinned: such shards run side by side only while their CPUs add up to no more than
    /// the machine has (one may always run). For a shard that keeps several processes busy
    /// (a profile shard's two parties), so that `--jobs` above the CPUs cannot make its
    /// timed work share cores with another's.
    Cpus(usize),
    /// This many CPUs of its own, disjoint from every other pinned shard's; no shared
    /// shard runs beside pinned ones.
    Pinned(usize),
    /// The whole machine: nothing else runs meanwhile.
    Exclusive,
}

impl Reservation {
    /// Whether the shard runs in a shared slot, wherever the OS places it ([`Self::Shared`]
    /// or [`Self::Cpus`]), rather than on CPUs of its own or the whole machine.
    pub fn is_shared(self) -> bool {
        matches!(self, Reservation::Shared | Reservation::Cpus(_))
    }
}

/// A completed upstream stage: its manifest name, kind and committed record.
#[derive(Debug, Clone)]
pub struct UpstreamStage {
    /// Stage name in the manifest.
    pub name: String,
    /// Stage kind.
    pub kind: String,
    /// The stage record; its outputs are named `shard/output`.
    pub record: Record,
}

/// The outputs of one shard, by name.
#[derive(Default)]
pub struct ShardOutputs {
    /// Output name → data.
    pub items: BTreeMap<String, OutputData>,
}

impl ShardOutputs {
    /// The outputs of a shard that produces one network: validated, stored as YAML under
    /// the name `network`.
    pub fn network(network: &snni_engine::network::Network) -> Result<ShardOutputs, StageError> {
        network.validate().map_err(|source| StageError::Network {
            name: network.name.clone(),
            source,
        })?;
        let yaml = network
            .to_yaml_string()
            .map_err(|err| StageError::Serialize {
                name: "network".into(),
                message: err.to_string(),
            })?;
        let mut outputs = ShardOutputs::default();
        outputs.insert(
            "network",
            OutputData::Bytes {
                bytes: yaml.into_bytes(),
                media_type: "application/yaml",
            },
        );
        Ok(outputs)
    }

    /// Adds one output.
    pub fn insert(&mut self, name: impl Into<String>, data: OutputData) {
        self.items.insert(name.into(), data);
    }
}

/// One output before it is stored.
pub enum OutputData {
    /// Bytes with a media type (`application/yaml`, `application/json`).
    Bytes {
        /// The content.
        bytes: Vec<u8>,
        /// Its media type.
        media_type: &'static str,
    },
    /// A table, stored as Parquet.
    Table(DataFrame),
}

impl OutputData {
    /// `value` as pretty-printed JSON (`application/json`); `name` is the output's name,
    /// for the error.
    pub fn json(name: &str, value: &impl serde::Serialize) -> Result<OutputData, StageError> {
        Ok(OutputData::Bytes {
            bytes: serde_json::to_vec_pretty(value).map_err(|e| StageError::Serialize {
                name: name.into(),
                message: e.to_string(),
            })?,
            media_type: "application/json",
        })
    }
}
