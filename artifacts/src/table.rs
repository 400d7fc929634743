//! Tables: Parquet files written with polars under `<store>/tables/`, registered in sled
//! with their digest, and re-hashed whenever they are read.
//!
//! The files are ordinary Parquet (zstd-compressed), readable by polars, pandas or duckdb
//! straight from the store folder; [`Store::table_path`] says where each one is.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetReader, ParquetWriter, SerReader};
use serde::{Deserialize, Serialize};

use crate::codec::{self, Versioned};
use crate::digest::Digest;
use crate::durable_file::DurableFile;
use crate::error::StoreError;
use crate::store::{Store, TABLES_DIR};
use crate::FORMAT_VERSION;

/// Longest accepted table name.
const MAX_NAME_LEN: usize = 100;

/// A Parquet table in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRef {
    /// The table's name, as given to [`Store::write_table`].
    pub name: String,
    /// The file, relative to the store folder: `tables/<name>-<16 hex of digest>.parquet`.
    pub file: String,
    /// The blake3 digest of the file's bytes.
    pub digest: Digest,
    /// The number of rows.
    pub rows: u64,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// A table registry entry in sled: the table and the format version that wrote it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TableEntry {
    pub(crate) format_version: u32,
    pub(crate) table: TableRef,
}

impl Versioned for TableEntry {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

impl Store {
    /// Writes `df` as Parquet to `tables/<name>-<digest16>.parquet` and registers it.
    ///
    /// The file is written under a temporary name, fsynced and renamed into place; the
    /// registration becomes durable with the next [`Store::commit`] (or [`Store::flush`]).
    /// `df` is mutable only because polars may rechunk it while writing.
    pub fn write_table(&self, name: &str, df: &mut DataFrame) -> Result<TableRef, StoreError> {
        self.check_writable()?;
        check_table_name(name)?;
        let tables_dir = self.inner.dir.join(TABLES_DIR);
        let mut file = DurableFile::create(&tables_dir, &format!("{name}.parquet"))?;
        write_parquet(&mut file, df)?;
        let persisted = file.finish()?;
        let table = table_ref(name, persisted.digest, df.height() as u64, persisted.bytes);
        file.persist(&self.table_path(&table))?;
        self.register_table(&table)?;
        tracing::debug!(file = %table.file, rows = table.rows, bytes = table.bytes, "wrote a table");
        Ok(table)
    }

    /// Adopts a Parquet file written elsewhere (by [`ObjectDir::put_table`](crate::ObjectDir::put_table)
    /// on a cluster node): copies `source` into `tables/` as table `name`, checks that it
    /// hashes to `expected`, and registers it. Returns the same reference
    /// [`Store::write_table`] would have returned for the same frame.
    pub fn put_table_file(
        &self,
        name: &str,
        source: &Path,
        expected: &Digest,
        rows: u64,
    ) -> Result<TableRef, StoreError> {
        self.check_writable()?;
        check_table_name(name)?;
        let mut reader = std::fs::File::open(source).map_err(|err| StoreError::Io {
            action: "open the table file",
            path: source.to_path_buf(),
            source: err,
        })?;
        let tables_dir = self.inner.dir.join(TABLES_DIR);
        let mut file = DurableFile::create(&tables_dir, &format!("{name}.parquet"))?;
        std::io::copy(&mut reader, file.writer()).map_err(|err| StoreError::Io {
            action: "copy the table file",
            path: source.to_path_buf(),
            source: err,
        })?;
        let persisted = file.finish()?;
        if persisted.digest != *expected {
            return Err(StoreError::CorruptTable {
                path: source.to_path_buf(),
                expected: *expected,
                actual: persisted.digest,
                stage: None,
            });
        }
        let table = table_ref(name, persisted.digest, rows, persisted.bytes);
        file.persist(&self.table_path(&table))?;
        self.register_table(&table)?;
        Ok(table)
    }

    /// Reads a table, after checking that its file still hashes to `table.digest`
    /// ([`StoreError::CorruptTable`] otherwise; [`StoreError::MissingTable`] if absent).
    pub fn read_table(&self, table: &TableRef) -> Result<DataFrame, StoreError> {
        let bytes = self.read_table_bytes(table)?;
        let path = self.table_path(table);
        ParquetReader::new(Cursor::new(bytes))
            .finish()
            .map_err(|source| StoreError::Parquet {
                action: "read",
                path,
                source,
            })
    }

    /// The absolute path of a table's Parquet file.
    pub fn table_path(&self, table: &TableRef) -> PathBuf {
        self.inner.dir.join(&table.file)
    }

    /// Reads a table file's bytes and checks their digest.
    pub(crate) fn read_table_bytes(&self, table: &TableRef) -> Result<Vec<u8>, StoreError> {
        let path = self.table_path(table);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::MissingTable {
                    path,
                    stage: self.stage_referencing(&table.digest),
                });
            }
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read the table file",
                    path,
                    source,
                })
            }
        };
        let actual = Digest::of(&bytes);
        if actual != table.digest {
            return Err(StoreError::CorruptTable {
                path,
                expected: table.digest,
                actual,
                stage: self.stage_referencing(&table.digest),
            });
        }
        Ok(bytes)
    }

    /// Records a table file in the registry (not flushed).
    pub(crate) fn register_table(&self, table: &TableRef) -> Result<(), StoreError> {
        let entry = TableEntry {
            format_version: FORMAT_VERSION,
            table: table.clone(),
        };
        let value = codec::encode(&entry, || format!("table entry `{}`", table.file))?;
        self.inner.tables.insert(table.file.as_bytes(), value)?;
        Ok(())
    }

    /// The registry's entry for a table file, if it is registered.
    pub(crate) fn registered_table(&self, file: &str) -> Result<Option<TableRef>, StoreError> {
        let Some(value) = self.inner.tables.get(file.as_bytes())? else {
            return Ok(None);
        };
        let entry: TableEntry = codec::decode(&value, || {
            format!("table entry `{file}` in `{}`", self.inner.dir.display())
        })?;
        Ok(Some(entry.table))
    }
}

/// The reference of table `name` whose file hashes to `digest`.
fn table_ref(name: &str, digest: Digest, rows: u64, bytes: u64) -> TableRef {
    TableRef {
        name: name.to_string(),
        file: format!("{TABLES_DIR}/{name}-{}.parquet", &digest.to_hex()[..16]),
        digest,
        rows,
        bytes,
    }
}

/// Writes `df` as Parquet into `file`: the one encoding every table of ours uses, so the
/// same frame always gives the same bytes (and digest) wherever it is written.
///
/// The Parquet bytes are made in memory and then written to the file, so that a failing
/// write (a full disk) is reported as the operating system's error, not as the encoder's
/// "Invalid thrift: transport error".
pub(crate) fn write_parquet(file: &mut DurableFile, df: &mut DataFrame) -> Result<(), StoreError> {
    let path = file.temp_path().to_path_buf();
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .finish(df)
        .map_err(|source| StoreError::Parquet {
            action: "write",
            path: path.clone(),
            source,
        })?;
    std::io::Write::write_all(file.writer(), &bytes).map_err(|source| StoreError::Io {
        action: "write",
        path,
        source,
    })
}

/// Checks that a table name makes a safe, portable file name.
fn check_table_name(name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidTableName {
            name: name.to_string(),
        })
    }
}

/// Whether `file` (from a record or an archive) names a file directly inside `tables/`,
/// so that joining it to the store folder can never escape it.
pub(crate) fn is_table_file(file: &str) -> bool {
    let Some(name) = file
        .strip_prefix(TABLES_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return false;
    };
    let path = Path::new(name);
    !name.starts_with('.')
        && name.ends_with(".parquet")
        && path.components().count() == 1
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_checked() {
        for good in ["metrics", "bench.v2", "a-b_c", "X1"] {
            check_table_name(good).unwrap();
        }
        for bad in ["", ".hidden", "a/b", "a b", "..", "é", &"n".repeat(101)] {
            assert!(check_table_name(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn table_files_must_stay_inside_the_tables_folder() {
        assert!(is_table_file("tables/m-0123456789abcdef.parquet"));
        for bad in [
            "tables/../db/conf.parquet",
            "tables/a/b.parquet",
            "/etc/x.parquet",
            "tables/.tmp-1.parquet",
            "tables/m.csv",
            "other/m.parquet",
            "tables/..parquet",
        ] {
            assert!(!is_table_file(bad), "{bad:?} should be rejected");
        }
    }
}
