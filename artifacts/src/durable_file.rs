//! [`DurableFile`]: a file written under a temporary name, hashed on the way, fsynced, then
//! renamed into place — so a reader (or a crash) never sees half a file under its real name.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::Digest;
use crate::error::StoreError;
use crate::hashing::HashingWriter;

/// Prefix of temporary files; `gc` removes any left behind by a crash.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// Distinguishes temporary files of concurrent writers in one process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// A file being written in a folder under a temporary name; removed if dropped unpersisted.
pub(crate) struct DurableFile {
    writer: Option<HashingWriter<BufWriter<File>>>,
    temp: PathBuf,
    /// Set once renamed into place, so dropping leaves the file alone.
    persisted: bool,
}

/// A persisted file: where it ended up, its digest and its size.
pub(crate) struct Persisted {
    pub(crate) digest: Digest,
    pub(crate) bytes: u64,
}

impl DurableFile {
    /// Creates a temporary file in `dir` whose name mentions `hint`.
    pub(crate) fn create(dir: &Path, hint: &str) -> Result<DurableFile, StoreError> {
        let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!("{TEMP_PREFIX}{}-{n}-{hint}", std::process::id()));
        let file = File::create(&temp).map_err(|source| StoreError::Io {
            action: "create the temporary file",
            path: temp.clone(),
            source,
        })?;
        Ok(DurableFile {
            writer: Some(HashingWriter::new(BufWriter::new(file))),
            temp,
            persisted: false,
        })
    }

    /// The temporary path, for error messages.
    pub(crate) fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The writer to fill the file through.
    pub(crate) fn writer(&mut self) -> &mut HashingWriter<BufWriter<File>> {
        self.writer
            .as_mut()
            .expect("a DurableFile is only written before it is finished")
    }

    /// Flushes and fsyncs the file and returns its digest and size, leaving it under its
    /// temporary name (call [`DurableFile::persist`] next).
    pub(crate) fn finish(&mut self) -> Result<Persisted, StoreError> {
        let writer = self.writer.take().expect("a DurableFile is finished once");
        let (buffered, digest, bytes) = writer.finish();
        let file = buffered
            .into_inner()
            .map_err(|err| self.io_error("write", err.into_error()))?;
        file.sync_all()
            .map_err(|source| self.io_error("fsync", source))?;
        Ok(Persisted { digest, bytes })
    }

    /// Renames the finished file to `target` (replacing any file there) and fsyncs the
    /// folder so the rename itself is durable.
    pub(crate) fn persist(mut self, target: &Path) -> Result<(), StoreError> {
        std::fs::rename(&self.temp, target).map_err(|source| StoreError::Io {
            action: "move the finished file into place at",
            path: target.to_path_buf(),
            source,
        })?;
        self.persisted = true;
        match target.parent() {
            Some(parent) => sync_dir(parent),
            None => Ok(()),
        }
    }

    fn io_error(&self, action: &'static str, source: std::io::Error) -> StoreError {
        StoreError::Io {
            action,
            path: self.temp.clone(),
            source,
        }
    }
}

impl Drop for DurableFile {
    fn drop(&mut self) {
        if !self.persisted {
            self.writer = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Fsyncs a folder, making renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(|source| StoreError::Io {
            action: "fsync the folder",
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn persists_under_the_target_name_with_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = DurableFile::create(dir.path(), "x").unwrap();
        file.writer().write_all(b"contents").unwrap();
        let persisted = file.finish().unwrap();
        assert_eq!(persisted.digest, Digest::of(b"contents"));
        assert_eq!(persisted.bytes, 8);
        let target = dir.path().join("x.bin");
        file.persist(&target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"contents");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropping_unpersisted_removes_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = DurableFile::create(dir.path(), "y").unwrap();
        file.writer().write_all(b"half").unwrap();
        assert!(file.temp_path().exists());
        drop(file);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
