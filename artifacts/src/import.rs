//! [`Store::import`]: loading an archive written by [`Store::export`](crate::Store::export).
//!
//! The manifest comes first; every later entry must be one it lists, and its contents
//! must hash to the listed digest. Records are committed last, after their outputs are
//! flushed, exactly as [`Store::commit`](crate::Store::commit) does. An import that fails
//! part-way leaves at most some unreferenced blobs and table files, which `gc` removes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::archive::{ArchiveManifest, ImportSummary, BLOBS_ENTRY_DIR, MANIFEST_ENTRY};
use crate::codec;
use crate::digest::Digest;
use crate::durable_file::DurableFile;
use crate::error::StoreError;
use crate::store::{Store, TABLES_DIR};
use crate::table::{is_table_file, TableRef};
use crate::FORMAT_VERSION;

impl Store {
    /// Loads every record of the archive at `path` (written by `export`) that this store
    /// does not already have, verifying every blob and table against its digest.
    ///
    /// Records already present are left untouched; stage states are added only for stages
    /// this store has no state for.
    pub fn import(&self, path: &Path) -> Result<ImportSummary, StoreError> {
        self.check_writable()?;
        let io_error = |action| {
            move |source| StoreError::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        let invalid = |reason: String| StoreError::InvalidArchive {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(io_error("open the archive"))?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut entries = archive.entries().map_err(io_error("read the archive"))?;
        let mut summary = ImportSummary::default();

        let mut first = entries
            .next()
            .ok_or_else(|| invalid("it is empty".to_string()))?
            .map_err(io_error("read the archive"))?;
        if entry_name(&first).as_deref() != Some(MANIFEST_ENTRY) {
            return Err(invalid(format!(
                "its first entry is not `{MANIFEST_ENTRY}`"
            )));
        }
        let mut manifest_json = Vec::new();
        first
            .read_to_end(&mut manifest_json)
            .map_err(io_error("read the archive"))?;
        let manifest: ArchiveManifest = codec::decode(&manifest_json, || {
            format!("the manifest of `{}`", path.display())
        })?;
        let mut blobs_expected: BTreeSet<Digest> = manifest.blobs.iter().copied().collect();
        let mut tables_expected: BTreeMap<&str, &TableRef> = BTreeMap::new();
        for table in &manifest.tables {
            if !is_table_file(&table.file) {
                return Err(invalid(format!(
                    "table path `{}` is not a file in {TABLES_DIR}/",
                    table.file
                )));
            }
            tables_expected.insert(&table.file, table);
        }

        for entry in entries {
            let mut entry = entry.map_err(io_error("read the archive"))?;
            let name = entry_name(&entry)
                .ok_or_else(|| invalid("an entry has a non-UTF-8 path".to_string()))?;
            if let Some(hex) = name
                .strip_prefix(BLOBS_ENTRY_DIR)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                let digest = hex
                    .parse::<Digest>()
                    .ok()
                    .filter(|digest| blobs_expected.remove(digest))
                    .ok_or_else(|| {
                        invalid(format!("entry `{name}` is not a blob its manifest lists"))
                    })?;
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .map_err(io_error("read the archive"))?;
                check_entry(path, &name, digest, Digest::of(&bytes))?;
                self.put_blob(&bytes)?;
                summary.blobs += 1;
                summary.bytes += bytes.len() as u64;
            } else if let Some(table) = tables_expected.remove(name.as_str()) {
                let mut file = DurableFile::create(&self.dir().join(TABLES_DIR), "import.parquet")?;
                std::io::copy(&mut entry, file.writer()).map_err(io_error("read the archive"))?;
                let copied = file.finish()?;
                check_entry(path, &name, table.digest, copied.digest)?;
                file.persist(&self.table_path(table))?;
                self.register_table(table)?;
                summary.tables += 1;
                summary.bytes += copied.bytes;
            } else {
                return Err(invalid(format!(
                    "entry `{name}` is not listed in its manifest (or appears twice)"
                )));
            }
        }
        if let Some(digest) = blobs_expected.first() {
            return Err(invalid(format!(
                "it lacks the blob {digest} its manifest lists"
            )));
        }
        if let Some(file) = tables_expected.keys().next() {
            return Err(invalid(format!(
                "it lacks the table `{file}` its manifest lists"
            )));
        }

        self.add_imported(manifest, &mut summary)?;
        tracing::info!(
            archive = %path.display(),
            records_added = summary.records_added,
            records_present = summary.records_present,
            "imported"
        );
        Ok(summary)
    }

    /// Commits the manifest's new records (outputs already loaded) and missing stage states.
    fn add_imported(
        &self,
        manifest: ArchiveManifest,
        summary: &mut ImportSummary,
    ) -> Result<(), StoreError> {
        let mut new_records = Vec::new();
        for record in manifest.records {
            check_version(record.format_version, || {
                format!("record {}", record.fingerprint.short())
            })?;
            if self
                .inner
                .records
                .contains_key(record.fingerprint.as_bytes())?
            {
                summary.records_present += 1;
            } else {
                new_records.push(record);
            }
        }
        for (stage, state) in &manifest.stage_states {
            check_version(state.format_version, || {
                format!("the state of stage `{stage}`")
            })?;
        }
        // Checks every record's outputs, flushes them, then indexes the records.
        self.commit_batch(&new_records)?;
        summary.records_added = new_records.len();
        for (stage, state) in &manifest.stage_states {
            if self.stage_state(stage)?.is_none() {
                self.set_stage_state(stage, state)?;
            }
        }
        self.flush()
    }
}

/// Fails with [`StoreError::UnsupportedFormat`] unless `found` is [`FORMAT_VERSION`].
fn check_version(found: u32, what: impl FnOnce() -> String) -> Result<(), StoreError> {
    if found == FORMAT_VERSION {
        return Ok(());
    }
    Err(StoreError::UnsupportedFormat {
        what: format!("{} in the archive", what()),
        found,
        supported: FORMAT_VERSION,
    })
}

/// The entry's path as text, if it is UTF-8.
fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Option<String> {
    entry.path().ok()?.to_str().map(str::to_string)
}

/// Fails with [`StoreError::CorruptArchive`] if an entry's contents do not match its digest.
fn check_entry(
    archive: &Path,
    entry: &str,
    expected: Digest,
    actual: Digest,
) -> Result<(), StoreError> {
    if expected == actual {
        return Ok(());
    }
    Err(StoreError::CorruptArchive {
        path: archive.to_path_buf(),
        entry: entry.to_string(),
        expected,
        actual,
    })
}
