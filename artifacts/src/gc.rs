//! [`Store::gc`]: deleting every record not in a given set of fingerprints, then every blob
//! and table file no remaining record references.
//!
//! Records go first (and are flushed) so that a crash part-way never leaves a record
//! without its outputs; outputs orphaned by such a crash are collected by the next `gc`.

use std::collections::BTreeSet;

use crate::digest::Digest;
use crate::durable_file::sync_dir;
use crate::error::StoreError;
use crate::record::Output;
use crate::store::{Store, TABLES_DIR};

/// What [`Store::gc`] deleted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GcSummary {
    /// Records removed from the index.
    pub records_removed: usize,
    /// Failure records removed.
    pub failures_removed: usize,
    /// Blobs removed.
    pub blobs_removed: usize,
    /// Parquet files removed (including unregistered and temporary files).
    pub tables_removed: usize,
    /// Bytes of blob contents and files removed. sled hands the space of removed blobs
    /// back to the file system gradually, as it compacts.
    pub bytes_freed: u64,
}

impl Store {
    /// Keeps the records (and failures) whose fingerprints are in `keep` and deletes the
    /// rest, then deletes every blob, table registration and file under `tables/` that no
    /// kept record references. Stage states are kept.
    ///
    /// Do not call this while tables written through this `Store` await their commit:
    /// they are not referenced yet, so they would be deleted.
    pub fn gc(&self, keep: &BTreeSet<Digest>) -> Result<GcSummary, StoreError> {
        self.check_writable()?;
        let mut summary = GcSummary::default();
        for (tree, removed) in [
            (&self.inner.records, &mut summary.records_removed),
            (&self.inner.failures, &mut summary.failures_removed),
        ] {
            for key in tree.keys()? {
                if !Digest::from_key(&key).is_some_and(|fingerprint| keep.contains(&fingerprint)) {
                    tree.remove(key)?;
                    *removed += 1;
                }
            }
        }
        self.flush()?;

        // Everything the kept records reference. Fails if one cannot be decoded, rather
        // than delete outputs it might reference.
        let mut blobs = BTreeSet::new();
        let mut files = BTreeSet::new();
        for record in self.records()? {
            for output in record.outputs.values() {
                match output {
                    Output::Blob { digest, .. } => blobs.insert(*digest.as_bytes()),
                    Output::Table(table) => files.insert(table.file.clone()),
                };
            }
        }

        let mut unreferenced = Vec::new();
        self.inner.blobs.for_each(|key, value| {
            if !<[u8; 32]>::try_from(key.as_ref()).is_ok_and(|digest| blobs.contains(&digest)) {
                summary.bytes_freed += value.len() as u64;
                unreferenced.push(key);
            }
            Ok(())
        })?;
        for key in unreferenced {
            self.inner.blobs.remove(key)?;
            summary.blobs_removed += 1;
        }
        for key in self.inner.tables.keys()? {
            if !std::str::from_utf8(&key).is_ok_and(|file| files.contains(file)) {
                self.inner.tables.remove(key)?;
            }
        }
        self.remove_unreferenced_files(&files, &mut summary)?;
        self.flush()?;
        tracing::info!(
            records = summary.records_removed,
            blobs = summary.blobs_removed,
            tables = summary.tables_removed,
            bytes = summary.bytes_freed,
            "collected garbage"
        );
        Ok(summary)
    }

    /// Deletes every file in `tables/` whose store-relative path is not in `files`.
    fn remove_unreferenced_files(
        &self,
        files: &BTreeSet<String>,
        summary: &mut GcSummary,
    ) -> Result<(), StoreError> {
        let dir = self.dir().join(TABLES_DIR);
        let io_error = |action, path| {
            move |source| StoreError::Io {
                action,
                path,
                source,
            }
        };
        let listing = std::fs::read_dir(&dir).map_err(io_error("list the folder", dir.clone()))?;
        let mut removed_any = false;
        for entry in listing {
            let entry = entry.map_err(io_error("list the folder", dir.clone()))?;
            let relative = format!("{TABLES_DIR}/{}", entry.file_name().to_string_lossy());
            if files.contains(&relative) {
                continue;
            }
            let path = entry.path();
            let meta = entry
                .metadata()
                .map_err(io_error("inspect", path.clone()))?;
            if !meta.is_file() {
                continue;
            }
            std::fs::remove_file(&path).map_err(io_error("remove", path.clone()))?;
            summary.tables_removed += 1;
            summary.bytes_freed += meta.len();
            removed_any = true;
        }
        if removed_any {
            sync_dir(&dir)?;
        }
        Ok(())
    }
}
