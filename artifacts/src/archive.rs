//! The archive format shared by [`Store::export`](crate::Store::export) and
//! [`Store::import`](crate::Store::import), and the summaries they return.
//!
//! An archive is a plain tar file:
//!
//! ```text
//! snni-archive.json          the manifest (first entry): records, tables, blobs, stage states
//! blobs/<64 hex digest>      one entry per blob, named by its digest
//! tables/<name>-<hex>.parquet  one entry per table, at its path in the store
//! ```
//!
//! Every entry is checked against its digest on import, so a damaged archive never
//! damages the store it is imported into.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec::Versioned;
use crate::digest::Digest;
use crate::record::Record;
use crate::stage_state::StageState;
use crate::table::TableRef;

/// The path of the manifest inside an archive.
pub(crate) const MANIFEST_ENTRY: &str = "snni-archive.json";
/// The folder of blob entries inside an archive.
pub(crate) const BLOBS_ENTRY_DIR: &str = "blobs";

/// The first entry of an archive: everything needed to check and load the rest.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArchiveManifest {
    pub(crate) format_version: u32,
    pub(crate) records: Vec<Record>,
    pub(crate) blobs: Vec<Digest>,
    pub(crate) tables: Vec<TableRef>,
    pub(crate) stage_states: BTreeMap<String, StageState>,
}

impl Versioned for ArchiveManifest {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

/// The archive path of a blob entry.
pub(crate) fn blob_entry(digest: &Digest) -> String {
    format!("{BLOBS_ENTRY_DIR}/{digest}")
}

/// A tar header for a regular file of `size` bytes; fixed mode and time so that exporting
/// the same records twice gives the same archive.
pub(crate) fn entry_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header
}

/// What [`Store::export`](crate::Store::export) wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Records written.
    pub records: usize,
    /// Blobs written.
    pub blobs: usize,
    /// Tables written.
    pub tables: usize,
    /// Size of the archive file in bytes.
    pub bytes: u64,
    /// Fingerprints asked for (with `only`) that have no record in the store.
    pub missing: Vec<Digest>,
}

/// What [`Store::import`](crate::Store::import) loaded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImportSummary {
    /// Records added to the index.
    pub records_added: usize,
    /// Records of the archive that the store already had (left as they were).
    pub records_present: usize,
    /// Blobs loaded (each verified).
    pub blobs: usize,
    /// Tables loaded (each verified).
    pub tables: usize,
    /// Bytes of blob and table contents loaded.
    pub bytes: u64,
}
