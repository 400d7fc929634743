//! Ingesting a finished shard from `done/`: every file is checked against the digest its
//! manifest names before anything is written to the store, then blobs and tables are added
//! and the shard's record is committed. A result that fails any check is rejected whole.

use std::path::Path;

use snni_artifacts::{Digest, Output, Record, Store, StoreError};

use super::spec::{ResultManifest, ResultOutput, SPOOL_FORMAT};

/// Why a result folder was not ingested.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The folder is damaged or does not match the shard (rerun the shard).
    #[error("the result in `{}` is unusable: {reason}", path.display())]
    Corrupt {
        /// The result folder.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store failed while adding it.
    #[error("failed to add a cluster result to the store")]
    Store(#[from] StoreError),
}

/// Checks the result in `dir` (for `stage`'s shard `shard` with `fingerprint`) and commits
/// it; returns the committed record.
pub fn ingest(
    store: &Store,
    stage: &str,
    shard: &str,
    fingerprint: &Digest,
    dir: &Path,
) -> Result<Record, IngestError> {
    let corrupt = |reason: String| IngestError::Corrupt {
        path: dir.to_path_buf(),
        reason,
    };
    let manifest_bytes = std::fs::read(dir.join("MANIFEST.json"))
        .map_err(|e| corrupt(format!("MANIFEST.json cannot be read: {e}")))?;
    let manifest: ResultManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| corrupt(format!("MANIFEST.json is not a result manifest: {e}")))?;
    if manifest.format != SPOOL_FORMAT {
        return Err(corrupt(format!(
            "format {} (this snni reads {SPOOL_FORMAT})",
            manifest.format
        )));
    }
    if manifest.fingerprint != *fingerprint || manifest.shard != shard || manifest.stage != stage {
        return Err(corrupt(format!(
            "it is shard `{}` of `{}` ({}), not `{shard}` of `{stage}` ({})",
            manifest.shard,
            manifest.stage,
            manifest.fingerprint.short(),
            fingerprint.short()
        )));
    }
    // Verify everything first: nothing of a damaged result reaches the store.
    for (name, output) in &manifest.outputs {
        let (digest, bytes) = match output {
            ResultOutput::Blob { digest, bytes, .. }
            | ResultOutput::Table { digest, bytes, .. } => (digest, *bytes),
        };
        let path = dir.join("objects").join(digest.to_hex());
        let content = std::fs::read(&path)
            .map_err(|e| corrupt(format!("output `{name}` cannot be read: {e}")))?;
        if content.len() as u64 != bytes {
            return Err(corrupt(format!(
                "output `{name}` has {} bytes, its manifest says {bytes}",
                content.len()
            )));
        }
        let actual = Digest::of(&content);
        if actual != *digest {
            return Err(corrupt(format!(
                "output `{name}` hashes to {}, its manifest says {}",
                actual.short(),
                digest.short()
            )));
        }
    }
    let mut record = Record::new(*fingerprint, stage.to_string(), Some(shard.to_string()));
    for (name, output) in &manifest.outputs {
        let output = match output {
            ResultOutput::Blob {
                digest,
                bytes,
                media_type,
            } => {
                let content = std::fs::read(dir.join("objects").join(digest.to_hex()))
                    .map_err(|e| corrupt(format!("output `{name}` cannot be read: {e}")))?;
                store.put_blob(&content)?;
                Output::blob(*digest, *bytes, media_type.clone())
            }
            ResultOutput::Table { digest, rows, .. } => Output::Table(store.put_table_file(
                &format!("{stage}-{shard}-{name}"),
                &dir.join("objects").join(digest.to_hex()),
                digest,
                *rows,
            )?),
        };
        record = record.with_output(name.clone(), output);
    }
    let run = &manifest.run;
    record.meta = serde_json::json!({
        "ms": run.finished_unix_ms.saturating_sub(run.started_unix_ms),
        "executor": "slurm",
        "host": run.host,
        "task": run.task,
        "restart": run.restart,
        "cpus": run.cpus,
        "started_unix_ms": run.started_unix_ms,
        "finished_unix_ms": run.finished_unix_ms,
    });
    store.commit(&record)?;
    Ok(record)
}
