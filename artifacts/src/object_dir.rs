//! [`ObjectDir`]: a plain folder of content-addressed files (`<folder>/<64 hex of blake3>`),
//! for moving blobs and tables between the machine that holds the store and cluster nodes
//! that must not open it (sled admits one process). Files are written under a temporary
//! name, fsynced and renamed, and verified against their name whenever they are read.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetReader, SerReader};

use crate::digest::Digest;
use crate::durable_file::DurableFile;
use crate::error::StoreError;
use crate::source::BlobSource;
use crate::table::{write_parquet, TableRef};

/// A folder of files named by the blake3 digest of their contents.
#[derive(Debug, Clone)]
pub struct ObjectDir {
    dir: PathBuf,
}

/// A table written into an [`ObjectDir`]: its digest, rows and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenTable {
    /// The blake3 digest of the Parquet file.
    pub digest: Digest,
    /// Rows in the table.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

impl ObjectDir {
    /// The object folder at `dir`, created if needed.
    pub fn create(dir: &Path) -> Result<ObjectDir, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            action: "create the folder",
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(ObjectDir {
            dir: dir.to_path_buf(),
        })
    }

    /// The object folder at `dir`, which must exist.
    pub fn open(dir: &Path) -> ObjectDir {
        ObjectDir {
            dir: dir.to_path_buf(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the object with `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.to_hex())
    }

    /// Whether an object with `digest` exists (without verifying it).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Stores `bytes` and returns their digest; a no-op when an intact copy exists.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if self.intact(&digest) {
            return Ok(digest);
        }
        let mut file = DurableFile::create(&self.dir, "object")?;
        std::io::Write::write_all(file.writer(), bytes)
            .map_err(|source| self.io_error("write the object file", file.temp_path(), source))?;
        file.finish()?;
        file.persist(&self.path(&digest))?;
        Ok(digest)
    }

    /// Copies the file at `source`, which must hash to `expected`, into the folder.
    pub fn put_file(&self, source: &Path, expected: &Digest) -> Result<(), StoreError> {
        if self.intact(expected) {
            return Ok(());
        }
        let mut reader = std::fs::File::open(source)
            .map_err(|err| self.io_error("open the file to copy", source, err))?;
        let mut file = DurableFile::create(&self.dir, "object")?;
        std::io::copy(&mut reader, file.writer())
            .map_err(|err| self.io_error("copy the file", source, err))?;
        let copied = file.finish()?;
        if copied.digest != *expected {
            return Err(StoreError::CorruptBlob {
                digest: *expected,
                actual: copied.digest,
                store: source.to_path_buf(),
                stage: None,
            });
        }
        file.persist(&self.path(expected))
    }

    /// Writes `df` as Parquet (exactly as the store writes tables) and returns its digest.
    pub fn put_table(&self, df: &mut DataFrame) -> Result<WrittenTable, StoreError> {
        let mut file = DurableFile::create(&self.dir, "table.parquet")?;
        write_parquet(&mut file, df)?;
        let persisted = file.finish()?;
        let written = WrittenTable {
            digest: persisted.digest,
            rows: df.height() as u64,
            bytes: persisted.bytes,
        };
        file.persist(&self.path(&written.digest))?;
        Ok(written)
    }

    /// The object's bytes, verified against `digest`.
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.path(digest);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::MissingBlob {
                    digest: *digest,
                    store: self.dir.clone(),
                    stage: None,
                })
            }
            Err(err) => return Err(self.io_error("read the object file", &path, err)),
        };
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(StoreError::CorruptBlob {
                digest: *digest,
                actual,
                store: self.dir.clone(),
                stage: None,
            });
        }
        Ok(bytes)
    }

    /// Whether the object exists and hashes to its name (a damaged copy is rewritten).
    fn intact(&self, digest: &Digest) -> bool {
        std::fs::read(self.path(digest)).is_ok_and(|bytes| Digest::of(&bytes) == *digest)
    }

    fn io_error(&self, action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl BlobSource for ObjectDir {
    fn get_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.get(digest)
    }

    fn read_table(&self, table: &TableRef) -> Result<DataFrame, StoreError> {
        let bytes = self.get(&table.digest)?;
        ParquetReader::new(Cursor::new(bytes))
            .finish()
            .map_err(|source| StoreError::Parquet {
                action: "read",
                path: self.path(&table.digest),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::df;

    use super::*;
    use crate::{OnLocked, Store};

    #[test]
    fn objects_round_trip_and_are_verified() {
        let dir = tempfile::tempdir().unwrap();
        let objects = ObjectDir::create(&dir.path().join("objects")).unwrap();
        let digest = objects.put(b"network: tiny").unwrap();
        assert_eq!(objects.get(&digest).unwrap(), b"network: tiny");
        assert_eq!(objects.put(b"network: tiny").unwrap(), digest);
        std::fs::write(objects.path(&digest), b"network: tinY").unwrap();
        let err = objects.get(&digest).unwrap_err();
        assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err:?}");
        // Putting the bytes again repairs the damaged copy.
        objects.put(b"network: tiny").unwrap();
        assert_eq!(objects.get(&digest).unwrap(), b"network: tiny");
        let missing = objects.get(&Digest::of(b"never")).unwrap_err();
        assert!(
            matches!(missing, StoreError::MissingBlob { .. }),
            "{missing:?}"
        );
    }

    #[test]
    fn tables_are_byte_identical_to_the_stores() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), OnLocked::Fail).unwrap();
        let objects = ObjectDir::create(&dir.path().join("objects")).unwrap();
        let mut frame = df!("layer" => ["a", "b"], "wall_s" => [0.5, 1.5]).unwrap();
        let in_store = store.write_table("t", &mut frame.clone()).unwrap();
        let written = objects.put_table(&mut frame).unwrap();
        assert_eq!(written.digest, in_store.digest);
        assert_eq!(written.rows, 2);
        let back = objects.read_table(&in_store).unwrap();
        assert_eq!(back.height(), 2);
        // And a store adopts the file under the same reference.
        let adopted = store
            .put_table_file(
                "t",
                &objects.path(&written.digest),
                &written.digest,
                written.rows,
            )
            .unwrap();
        assert_eq!(adopted, in_store);
    }
}
