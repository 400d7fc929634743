//! The [`StageKind`] trait: what every stage kind provides to the pipeline.

use std::collections::BTreeMap;

use polars::prelude::DataFrame;
use snni_artifacts::{BlobSource, Digest, Record, Store};

use crate::{ParamIssue, Setting, StageError};

/// A kind of stage (`synthesize`, `reference`, …).
///
/// The pipeline calls [`StageKind::check_params`] while validating a manifest,
/// [`StageKind::shards`] when planning and [`StageKind::run_shard`] on a blocking thread
/// for every shard that is not cached. Implementations hold no mutable state.
pub trait StageKind: Send + Sync + 'static {
    /// The name used as `kind:` in manifests.
    fn name(&self) -> &'static str;

    /// Implementation version; bump it whenever the outputs for the same inputs change,
    /// so cached results of the old implementation are not reused.
    fn version(&self) -> u32;

    /// One line for `snni --help` style listings.
    fn summary(&self) -> &'static str;

    /// Validates `params` and returns them with every default filled in (the canonical
    /// form that enters the fingerprint), or every issue found.
    /// Kinds that refer to study-level names (settings) resolve them from `ctx` and embed
    /// what they resolve to, so that editing a setting changes the fingerprint.
    fn check_params(
        &self,
        params: &serde_json::Value,
        ctx: &CheckContext<'_>,
    ) -> Result<serde_json::Value, Vec<ParamIssue>>;

    /// The part of the canonical params that shards depend on. Parameters that only
    /// choose *which* shards exist (such as a count) are left out, so that growing a
    /// study keeps the shards it already has.
    fn shard_params(&self, params: &serde_json::Value) -> serde_json::Value {
        params.clone()
    }

    /// The shard keys of this stage, in order.
    fn shards(&self, ctx: &PlanContext<'_>) -> Result<Vec<String>, StageError>;

    /// The upstream outputs one shard reads, by name, when it reads only some of them.
    ///
    /// `None` (the default) means the shard depends on every upstream output. A kind that
    /// maps shards to upstream items (one profile shard per network) returns just those
    /// digests, so that adding an upstream network does not invalidate the shards of the
    /// others.
    fn shard_upstream(
        &self,
        _ctx: &PlanContext<'_>,
        _shard: &str,
    ) -> Option<BTreeMap<String, Digest>> {
        None
    }

    /// The CPUs the shard needs while it runs: one slot among others (the default), a set
    /// of CPUs of its own that it pins its work to, or the whole machine (timings of shaped
    /// links must not be polluted by other shards).
    fn reservation(&self, _params: &serde_json::Value, _shard: &str) -> Reservation {
        Reservation::Shared
    }

    /// True for kinds that reduce a whole upstream stage into one quick shard (a dataset,
    /// a split, an evaluation): a cluster executor runs them on the coordinator, which
    /// holds the store, instead of copying every upstream output to a node.
    fn runs_on_coordinator(&self) -> bool {
        false
    }

    /// A guess of one shard's duration in seconds before any has run, used to bundle short
    /// shards into one cluster task. Measured durations replace it once shards finish.
    fn expected_shard_seconds(&self, _params: &serde_json::Value, _shard: &str) -> f64 {
        60.0
    }

    /// Produces the outputs of one shard.
    fn run_shard(&self, ctx: &ShardContext<'_>) -> Result<ShardOutputs, StageError>;
}

/// What a stage kind sees when its parameters are checked: study-level declarations.
pub struct CheckContext<'a> {
    /// The study's network settings by name (built-in ones included).
    pub settings: &'a BTreeMap<String, Setting>,
}

/// What a stage kind sees when it plans its shards.
pub struct PlanContext<'a> {
    /// Canonical parameters (from [`StageKind::check_params`]).
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
    /// Canonical parameters.
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
    /// This many CPUs of its own, disjoint from every other pinned shard's; no shared
    /// shard runs beside pinned ones.
    Pinned(usize),
    /// The whole machine: nothing else runs meanwhile.
    Exclusive,
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
