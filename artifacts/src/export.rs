//! [`Store::export`]: writing records and their outputs to one tar archive.
//!
//! Every blob and table is verified against its digest as it is copied, so a damaged
//! output is reported here rather than carried to another machine. The archive is
//! written under a temporary name and renamed into place when complete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::archive::{blob_entry, entry_header, ArchiveManifest, ExportSummary, MANIFEST_ENTRY};
use crate::codec;
use crate::digest::Digest;
use crate::durable_file::DurableFile;
use crate::error::StoreError;
use crate::record::{Output, Record};
use crate::store::Store;
use crate::table::TableRef;
use crate::FORMAT_VERSION;

impl Store {
    /// Writes the records whose fingerprints are in `only` (every record if `None`), their
    /// blobs and tables, and the stage states that point at them, to the tar file `out`.
    ///
    /// Fingerprints in `only` without a record are listed in [`ExportSummary::missing`].
    /// Failures are not exported.
    pub fn export(
        &self,
        out: &Path,
        only: Option<&BTreeSet<Digest>>,
    ) -> Result<ExportSummary, StoreError> {
        let mut summary = ExportSummary::default();
        let records = match only {
            None => self.records()?,
            Some(fingerprints) => {
                let mut records = Vec::new();
                for fingerprint in fingerprints {
                    match self.record(fingerprint)? {
                        Some(record) => records.push(record),
                        None => summary.missing.push(*fingerprint),
                    }
                }
                records
            }
        };
        let manifest = self.manifest_for(records)?;
        summary.records = manifest.records.len();
        summary.blobs = manifest.blobs.len();
        summary.tables = manifest.tables.len();

        let io_error = |action| {
            move |source| StoreError::Io {
                action,
                path: out.to_path_buf(),
                source,
            }
        };
        let folder = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut file = DurableFile::create(folder, "export.tar")?;
        let mut builder = tar::Builder::new(file.writer());
        let manifest_json = codec::encode(&manifest, || "the archive manifest".to_string())?;
        builder
            .append_data(
                &mut entry_header(manifest_json.len() as u64),
                MANIFEST_ENTRY,
                &manifest_json[..],
            )
            .map_err(io_error("write the archive"))?;
        for digest in &manifest.blobs {
            let bytes = self.get_blob(digest)?;
            builder
                .append_data(
                    &mut entry_header(bytes.len() as u64),
                    blob_entry(digest),
                    &bytes[..],
                )
                .map_err(io_error("write the archive"))?;
        }
        for table in &manifest.tables {
            let bytes = self.read_table_bytes(table)?;
            builder
                .append_data(
                    &mut entry_header(bytes.len() as u64),
                    &table.file,
                    &bytes[..],
                )
                .map_err(io_error("write the archive"))?;
        }
        builder
            .into_inner()
            .map_err(io_error("finish the archive"))?;
        summary.bytes = file.finish()?.bytes;
        file.persist(out)?;
        tracing::info!(
            archive = %out.display(),
            records = summary.records,
            bytes = summary.bytes,
            "exported"
        );
        Ok(summary)
    }

    /// The manifest for `records`: their distinct blobs and tables, and the stage states
    /// whose fingerprint is one of theirs.
    fn manifest_for(&self, records: Vec<Record>) -> Result<ArchiveManifest, StoreError> {
        let mut blobs = BTreeSet::new();
        let mut tables: BTreeMap<String, TableRef> = BTreeMap::new();
        for output in records.iter().flat_map(|record| record.outputs.values()) {
            match output {
                Output::Blob { digest, .. } => {
                    blobs.insert(*digest);
                }
                Output::Table(table) => {
                    tables.insert(table.file.clone(), table.clone());
                }
            }
        }
        let fingerprints: BTreeSet<Digest> =
            records.iter().map(|record| record.fingerprint).collect();
        let mut stage_states = self.stage_states()?;
        stage_states.retain(|_, state| fingerprints.contains(&state.fingerprint));
        Ok(ArchiveManifest {
            format_version: FORMAT_VERSION,
            records,
            blobs: blobs.into_iter().collect(),
            tables: tables.into_values().collect(),
            stage_states,
        })
    }
}
