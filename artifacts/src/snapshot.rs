//! Reading a store this process may not write: a private copy of its database.
//!
//! sled cannot open a database read-only: it takes a file lock and writes while it opens.
//! A store on a read-only mount (an imported archive on a DVD, a colleague's store on a
//! shared drive) would then be unreadable, so readers copy `db/` into a temporary folder
//! and open the copy; the copy is removed when the store is closed. Tables are plain files
//! and are read where they are. The copy costs time in proportion to the database's size
//! (BENCHMARKS.md, "Store damage").
//!
//! A copy is consistent when nobody writes the store meanwhile — true of read-only media.
//!
//! [`Store::empty`] uses the same machinery for a store that does not exist yet.

use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::guard;
use crate::store::{Store, DB_DIR};

/// A private copy of a database, removed when dropped.
pub(crate) struct Snapshot {
    dir: tempfile::TempDir,
}

impl Snapshot {
    /// Copies the database folder `db` into a new temporary folder.
    pub(crate) fn of(db: &Path) -> Result<Snapshot, StoreError> {
        let snapshot = Snapshot::empty()?;
        copy_dir(db, &snapshot.db_path())?;
        Ok(snapshot)
    }

    /// A temporary folder for a new, empty database.
    fn empty() -> Result<Snapshot, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("snni-store-copy-")
            .tempdir()
            .map_err(|source| StoreError::Io {
                action: "create a temporary folder for a copy of the database",
                path: std::env::temp_dir(),
                source,
            })?;
        Ok(Snapshot { dir })
    }

    /// The temporary folder.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Where the copied database is.
    pub(crate) fn db_path(&self) -> PathBuf {
        self.dir.path().join(DB_DIR)
    }
}

/// Copies the folder `from` to `to` (which must not exist), recursively.
fn copy_dir(from: &Path, to: &Path) -> Result<(), StoreError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir(to).map_err(io("create the folder", to))?;
    for entry in std::fs::read_dir(from).map_err(io("list the folder", from))? {
        let entry = entry.map_err(io("list the folder", from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io("inspect", &source))?.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(io("copy", &source))?;
        }
    }
    Ok(())
}

impl Store {
    /// An empty, read-only store in a temporary folder (removed when it is dropped): what
    /// `snni plan` reads for a study whose store does not exist yet, so that planning
    /// never creates one.
    pub fn empty() -> Result<Store, StoreError> {
        let snapshot = Snapshot::empty()?;
        // sled creates the database; the store stays read-only for us.
        let db = guard::open_db(&snapshot.db_path())?;
        drop(db);
        Store::from_snapshot(snapshot)
    }
}
