//! [`Record`]: what the index keeps for one finished stage or shard — its outputs by name.
//!
//! Records are stored as JSON in sled under their fingerprint. A record only ever points
//! at outputs that were durably stored before it (see [`Store::commit`](crate::Store::commit)).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::codec::Versioned;
use crate::digest::Digest;
use crate::table::TableRef;
use crate::FORMAT_VERSION;

/// The outputs of one finished stage (or one shard of it), indexed by its fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The format version that wrote this record; always [`FORMAT_VERSION`] when read back.
    pub format_version: u32,
    /// The fingerprint of everything that determines the outputs (the index key).
    pub fingerprint: Digest,
    /// The stage's name in the manifest.
    pub stage: String,
    /// The shard's name, for sharded stages.
    pub shard: Option<String>,
    /// The outputs by name.
    pub outputs: BTreeMap<String, Output>,
    /// Free-form information about the run (timings, machine), not part of the cache key.
    pub meta: serde_json::Value,
    /// When the record was created, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
}

impl Record {
    /// A record of the current format with no outputs, null `meta`, created now.
    pub fn new(fingerprint: Digest, stage: impl Into<String>, shard: Option<String>) -> Record {
        Record {
            format_version: FORMAT_VERSION,
            fingerprint,
            stage: stage.into(),
            shard,
            outputs: BTreeMap::new(),
            meta: serde_json::Value::Null,
            created_unix_ms: unix_ms_now(),
        }
    }

    /// Adds (or replaces) an output and returns the record, for building records inline.
    pub fn with_output(mut self, name: impl Into<String>, output: Output) -> Record {
        self.outputs.insert(name.into(), output);
        self
    }

    /// The total size in bytes of the record's outputs.
    pub fn total_bytes(&self) -> u64 {
        self.outputs.values().map(Output::bytes).sum()
    }

    /// `stage` or `stage[shard]`, for messages and listings.
    pub fn label(&self) -> String {
        match &self.shard {
            Some(shard) => format!("{}[{shard}]", self.stage),
            None => self.stage.clone(),
        }
    }
}

impl Versioned for Record {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

/// One named output of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Output {
    /// A content-addressed blob kept in the database.
    Blob {
        /// The blob's digest (see [`Store::put_blob`](crate::Store::put_blob)).
        digest: Digest,
        /// The blob's length in bytes.
        bytes: u64,
        /// What the bytes are, e.g. "application/json" or "application/yaml".
        media_type: String,
    },
    /// A Parquet table under the store's `tables/` folder.
    Table(TableRef),
}

impl Output {
    /// Describes a blob stored with [`Store::put_blob`](crate::Store::put_blob).
    pub fn blob(digest: Digest, bytes: u64, media_type: impl Into<String>) -> Output {
        Output::Blob {
            digest,
            bytes,
            media_type: media_type.into(),
        }
    }

    /// The digest of the output's contents.
    pub fn digest(&self) -> Digest {
        match self {
            Output::Blob { digest, .. } => *digest,
            Output::Table(table) => table.digest,
        }
    }

    /// The output's size in bytes.
    pub fn bytes(&self) -> u64 {
        match self {
            Output::Blob { bytes, .. } => *bytes,
            Output::Table(table) => table.bytes,
        }
    }
}

/// The current time in milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_outputs_with_a_kind_tag() {
        let fingerprint = Digest::of(b"fp");
        let table = TableRef {
            name: "metrics".into(),
            file: "tables/metrics-0011223344556677.parquet".into(),
            digest: Digest::of(b"t"),
            rows: 3,
            bytes: 100,
        };
        let record = Record::new(fingerprint, "bench", Some("s1".into()))
            .with_output(
                "config",
                Output::blob(Digest::of(b"b"), 1, "application/yaml"),
            )
            .with_output("metrics", Output::Table(table));
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["outputs"]["config"]["kind"], "blob");
        assert_eq!(json["outputs"]["metrics"]["kind"], "table");
        assert_eq!(json["outputs"]["metrics"]["rows"], 3);
        let back: Record = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
        assert_eq!(record.total_bytes(), 101);
        assert_eq!(record.label(), "bench[s1]");
    }
}
