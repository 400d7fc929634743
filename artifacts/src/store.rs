//! [`Store`]: opening the artifact store folder, its sled trees and its lock.
//!
//! Layout of a store folder:
//!
//! ```text
//! <store>/LOCK      the writer lock, holding "pid\ncommand line"
//! <store>/db/       the sled database: blobs, table registry, records, failures, stage
//!                   states, the executor journal
//! <store>/tables/   Parquet files, named <table>-<first 16 hex of digest>.parquet
//! ```
//!
//! The operations live beside the types they concern (`blob.rs`, `table.rs`, `index.rs`,
//! `failure.rs`, `stage_state.rs`, `export.rs`, `import.rs`, `gc.rs`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;
use crate::lock::{OnLocked, StoreLock};
use crate::FORMAT_VERSION;

/// Name of the lock file inside a store folder.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the sled database folder inside a store folder.
pub const DB_DIR: &str = "db";
/// Name of the Parquet folder inside a store folder.
pub const TABLES_DIR: &str = "tables";

/// Key of the store-wide format version in sled's default tree.
const FORMAT_VERSION_KEY: &[u8] = b"format_version";

/// An open artifact store. Cheap to clone (the handle is shared); `Send + Sync`.
///
/// The store lock is held for as long as any clone is alive.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

/// The shared state behind a [`Store`]. Fields drop in order: the database before the lock.
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) db: sled::Db,
    /// Blob digest (32 bytes) → contents.
    pub(crate) blobs: sled::Tree,
    /// Table file (relative path) → JSON `TableEntry`.
    pub(crate) tables: sled::Tree,
    /// Fingerprint (32 bytes) → JSON `Record`.
    pub(crate) records: sled::Tree,
    /// Fingerprint (32 bytes) → JSON `Failure`.
    pub(crate) failures: sled::Tree,
    /// Stage name → JSON `StageState`.
    pub(crate) stages: sled::Tree,
    /// Journal key → JSON value (an executor's notes; see `journal.rs`).
    pub(crate) journal: sled::Tree,
    pub(crate) read_only: bool,
    _lock: StoreLock,
}

impl Store {
    /// Opens the store in `dir` for reading and writing, creating `dir`, `dir/db` and
    /// `dir/tables` if needed.
    ///
    /// Takes the store lock first; if another process (or another open `Store` in this
    /// process) holds it, fails with [`StoreError::Locked`] naming the holder, or waits,
    /// as `on_locked` says.
    pub fn open(dir: &Path, on_locked: OnLocked) -> Result<Store, StoreError> {
        let dir = absolute(dir)?;
        for folder in [dir.clone(), dir.join(TABLES_DIR)] {
            std::fs::create_dir_all(&folder).map_err(|source| StoreError::Io {
                action: "create the folder",
                path: folder,
                source,
            })?;
        }
        let lock = StoreLock::acquire(&dir.join(LOCK_FILE), on_locked)?;
        Store::open_locked(dir, lock, false)
    }

    /// Opens an existing store for reading only; every write fails with
    /// [`StoreError::ReadOnly`]. Fails with [`StoreError::NotAStore`] if `dir` holds no store.
    ///
    /// sled admits a single process per database, so this takes the store lock too (and
    /// fails or waits like [`Store::open`] while a writer runs).
    pub fn open_read_only(dir: &Path, on_locked: OnLocked) -> Result<Store, StoreError> {
        let dir = absolute(dir)?;
        if !dir.join(DB_DIR).is_dir() {
            return Err(StoreError::NotAStore { path: dir });
        }
        let lock = StoreLock::acquire(&dir.join(LOCK_FILE), on_locked)?;
        Store::open_locked(dir, lock, true)
    }

    fn open_locked(dir: PathBuf, lock: StoreLock, read_only: bool) -> Result<Store, StoreError> {
        let db_dir = dir.join(DB_DIR);
        let db_error = |source| StoreError::Db {
            path: db_dir.clone(),
            source,
        };
        let db = sled::Config::new().path(&db_dir).open().map_err(db_error)?;
        match db.get(FORMAT_VERSION_KEY).map_err(db_error)? {
            Some(bytes) => {
                let found =
                    <[u8; 4]>::try_from(bytes.as_ref()).map_or(u32::MAX, u32::from_be_bytes);
                if found != FORMAT_VERSION {
                    return Err(StoreError::UnsupportedFormat {
                        what: format!("the store at `{}`", dir.display()),
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
            }
            None if !read_only => {
                db.insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())
                    .map_err(db_error)?;
            }
            None => {}
        }
        let tree = |name: &str| db.open_tree(name).map_err(db_error);
        let inner = Inner {
            blobs: tree("blobs")?,
            tables: tree("tables")?,
            records: tree("records")?,
            failures: tree("failures")?,
            stages: tree("stages")?,
            journal: tree("journal")?,
            db,
            dir,
            read_only,
            _lock: lock,
        };
        tracing::debug!(store = %inner.dir.display(), read_only, "opened the artifact store");
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// The store folder (absolute).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether the store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// Makes everything written so far durable (one sled flush, an fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner
            .db
            .flush()
            .map(drop)
            .map_err(|source| self.db_error(source))
    }

    /// Wraps a sled error with the database path.
    pub(crate) fn db_error(&self, source: sled::Error) -> StoreError {
        StoreError::Db {
            path: self.inner.dir.join(DB_DIR),
            source,
        }
    }

    /// Fails with [`StoreError::ReadOnly`] if the store was opened read-only.
    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        if self.inner.read_only {
            return Err(StoreError::ReadOnly {
                path: self.inner.dir.clone(),
            });
        }
        Ok(())
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .field("read_only", &self.inner.read_only)
            .finish()
    }
}

fn absolute(dir: &Path) -> Result<PathBuf, StoreError> {
    std::path::absolute(dir).map_err(|source| StoreError::Io {
        action: "resolve the store path",
        path: dir.to_path_buf(),
        source,
    })
}
