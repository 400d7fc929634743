//! [`Store`]: opening the artifact store folder, its sled trees and its lock.
//!
//! Layout of a store folder:
//!
//! ```text
//! <store>/LOCK      the writer lock, holding "pid\ncommand line"
//! <store>/COMMITTED the last commit generation, to notice a database that lost commits
//! <store>/db/       the sled database: blobs, table registry, records, failures, stage
//!                   states, the executor journal
//! <store>/tables/   Parquet files, named <table>-<first 16 hex of digest>.parquet
//! ```
//!
//! The operations live beside the types they concern (`blob.rs`, `table.rs`, `index.rs`,
//! `failure.rs`, `stage_state.rs`, `export.rs`, `import.rs`, `gc.rs`).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::committed;
use crate::error::StoreError;
use crate::guard::{self, Tree};
use crate::lock::{OnLocked, StoreLock};
use crate::snapshot::Snapshot;
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

/// The shared state behind a [`Store`]. Fields drop in order: the trees and the database
/// before the snapshot folder and the lock.
pub(crate) struct Inner {
    /// Blob digest (32 bytes) → contents.
    pub(crate) blobs: Tree,
    /// Table file (relative path) → JSON `TableEntry`.
    pub(crate) tables: Tree,
    /// Fingerprint (32 bytes) → JSON `Record`.
    pub(crate) records: Tree,
    /// Fingerprint (32 bytes) → JSON `Failure`.
    pub(crate) failures: Tree,
    /// Stage name → JSON `StageState`.
    pub(crate) stages: Tree,
    /// Journal key → JSON value (an executor's notes; see `journal.rs`).
    pub(crate) journal: Tree,
    pub(crate) db: sled::Db,
    /// The store folder.
    pub(crate) dir: PathBuf,
    /// The folder sled opened: `<dir>/db`, or a private copy of it (see [`Snapshot`]).
    pub(crate) db_path: PathBuf,
    pub(crate) read_only: bool,
    /// The highest commit generation this process wrote to `<store>/COMMITTED`; its lock
    /// serialises bumping and recording generations (see `committed.rs`).
    pub(crate) recorded_generation: std::sync::Mutex<u64>,
    /// Whether a failure to write `<store>/COMMITTED` was already logged as a warning.
    pub(crate) generation_warned: std::sync::atomic::AtomicBool,
    _snapshot: Option<Snapshot>,
    /// Who held the store when this process copied its database ([`Store::held_by`]).
    held_by: Option<String>,
    _lock: Option<StoreLock>,
}

/// How [`Store::open_db`] opens a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Read and write; lost commits are an error.
    Write,
    /// Read only; lost commits are an error.
    Read,
    /// Read only, from a copy taken while another process writes the store: the copy may
    /// trail the commit generation that process records, so that is not checked.
    LiveCopy,
    /// Read and write; lost commits are remembered for `verify` to report and `repair` to
    /// accept.
    Repair,
}

impl Store {
    /// Opens the store in `dir` for reading and writing, creating it if needed.
    ///
    /// Only the store folder itself is created (with its `db` and `tables` folders): a
    /// store whose parent folder is missing is refused with [`StoreError::NoParent`], so a
    /// mistyped path does not silently create a tree of folders.
    ///
    /// Takes the store lock first; if another process (or another open `Store` in this
    /// process) holds it, fails with [`StoreError::Locked`] naming the holder, or waits,
    /// as `on_locked` says. A damaged database is a [`StoreError::Damaged`].
    pub fn open(dir: &Path, on_locked: OnLocked) -> Result<Store, StoreError> {
        let dir = absolute(dir)?;
        create_store_dir(&dir)?;
        let tables = dir.join(TABLES_DIR);
        std::fs::create_dir_all(&tables).map_err(|source| StoreError::Io {
            action: "create the folder",
            path: tables,
            source,
        })?;
        let lock = StoreLock::acquire(&dir.join(LOCK_FILE), on_locked)?;
        Store::open_db(dir, Some(lock), None, Mode::Write)
    }

    /// Opens an existing store for reading only; every write fails with
    /// [`StoreError::ReadOnly`]. Fails with [`StoreError::NotAStore`] if `dir` holds no store.
    ///
    /// sled admits a single process per database, so this takes the store lock too (and
    /// fails or waits like [`Store::open`] while a writer runs). A store this process may
    /// not write — on a read-only file system, or owned by someone else — is read from a
    /// private copy of its database instead, without the lock (see [`Store::is_snapshot`]).
    pub fn open_read_only(dir: &Path, on_locked: OnLocked) -> Result<Store, StoreError> {
        let dir = absolute(dir)?;
        if !dir.join(DB_DIR).is_dir() {
            return Err(StoreError::NotAStore { path: dir });
        }
        let lock = match StoreLock::acquire(&dir.join(LOCK_FILE), on_locked) {
            Ok(lock) => lock,
            Err(StoreError::Io { source, .. }) if cannot_write(&source) => {
                return Store::open_snapshot(dir);
            }
            Err(error) => return Err(error),
        };
        match Store::open_db(dir.clone(), Some(lock), None, Mode::Read) {
            Err(StoreError::Io { source, .. }) if cannot_write(&source) => {
                Store::open_snapshot(dir)
            }
            opened => opened,
        }
    }

    /// Opens an existing store for `snni artifacts verify --repair`: like [`Store::open`],
    /// but a database that lost commits opens anyway, so that [`Store::verify`] can report
    /// it and [`Store::repair`] accept what is left. A database sled cannot open at all is
    /// still an error; [`Store::quarantine_db`] moves it aside.
    pub fn open_for_repair(dir: &Path, on_locked: OnLocked) -> Result<Store, StoreError> {
        let dir = absolute(dir)?;
        if !dir.join(DB_DIR).is_dir() {
            return Err(StoreError::NotAStore { path: dir });
        }
        let lock = StoreLock::acquire(&dir.join(LOCK_FILE), on_locked)?;
        Store::open_db(dir, Some(lock), None, Mode::Repair)
    }

    /// Opens an existing store for reading, also while another process holds it (a running
    /// `snni run`, which keeps the lock for its whole run): then the database is read from
    /// a private copy taken now (see `snapshot.rs`), without waiting. sled opens the copy
    /// as it recovers after a crash, so what is read is the store as the holder had written
    /// it at some moment during the copy; a record is committed before the stage state that
    /// names it, so readers see whole records. A copy torn by the holder's writes (sled
    /// cannot open it) is taken again, three times at most. [`Store::held_by`] names the
    /// holder. Otherwise exactly [`Store::open_read_only`] with [`OnLocked::Fail`].
    pub fn open_read_only_live(dir: &Path) -> Result<Store, StoreError> {
        let (pid, command) = match Store::open_read_only(dir, OnLocked::Fail) {
            Err(StoreError::Locked { pid, command, .. }) => (pid, command),
            opened => return opened,
        };
        let dir = absolute(dir)?;
        let holder = match pid {
            Some(pid) if command.is_empty() => format!("process {pid}"),
            Some(pid) => format!("process {pid} (`{command}`)"),
            None => "another process".to_string(),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let copied = Snapshot::of(&dir.join(DB_DIR)).and_then(|snapshot| {
                Store::open_db(dir.clone(), None, Some(snapshot), Mode::LiveCopy)
            });
            match copied {
                Ok(mut store) => {
                    if let Some(inner) = Arc::get_mut(&mut store.inner) {
                        inner.held_by = Some(holder);
                    }
                    tracing::debug!(store = %dir.display(), attempt, "read a copy of a held store");
                    return Ok(store);
                }
                Err(error @ (StoreError::Damaged { .. } | StoreError::Io { .. }))
                    if attempt < 3 =>
                {
                    tracing::debug!(%error, attempt, "the copy of a held store is torn; copying again");
                    std::thread::sleep(std::time::Duration::from_millis(200 * attempt));
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Who held the store when [`Store::open_read_only_live`] read a copy of it (`None`
    /// when the store was opened directly).
    pub fn held_by(&self) -> Option<&str> {
        self.inner.held_by.as_deref()
    }

    /// Opens a private copy of the store's database (read-only, no lock): for stores this
    /// process may not write, such as an imported archive on a read-only mount. Tables are
    /// read from the store folder itself.
    fn open_snapshot(dir: PathBuf) -> Result<Store, StoreError> {
        let snapshot = Snapshot::of(&dir.join(DB_DIR))?;
        tracing::info!(
            store = %dir.display(),
            copy = %snapshot.db_path().display(),
            "the store is not writable here; reading a private copy of its database"
        );
        Store::open_db(dir, None, Some(snapshot), Mode::Read)
    }

    /// Opens the database of a [`Snapshot`] that is not a copy of any store ([`Store::empty`]).
    pub(crate) fn from_snapshot(snapshot: Snapshot) -> Result<Store, StoreError> {
        let dir = snapshot.root().to_path_buf();
        Store::open_db(dir, None, Some(snapshot), Mode::Read)
    }

    /// Moves the database of the store in `dir`, which sled cannot open, aside to
    /// `<dir>/db.damaged-<unix seconds>` and forgets the store's commit generation, so that
    /// the next [`Store::open`] starts an empty database (tables stay where they are).
    /// Returns where the damaged database went. Takes the store lock while it works.
    pub fn quarantine_db(dir: &Path, on_locked: OnLocked) -> Result<PathBuf, StoreError> {
        let dir = absolute(dir)?;
        let db = dir.join(DB_DIR);
        if !db.is_dir() {
            return Err(StoreError::NotAStore { path: dir });
        }
        let _lock = StoreLock::acquire(&dir.join(LOCK_FILE), on_locked)?;
        let seconds = crate::record::unix_ms_now() / 1000;
        let mut target = dir.join(format!("{DB_DIR}.damaged-{seconds}"));
        let mut n = 1;
        while target.exists() {
            target = dir.join(format!("{DB_DIR}.damaged-{seconds}-{n}"));
            n += 1;
        }
        std::fs::rename(&db, &target).map_err(|source| StoreError::Io {
            action: "move the damaged database aside",
            path: db.clone(),
            source,
        })?;
        match std::fs::remove_file(dir.join(committed::COMMITTED_FILE)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                return Err(StoreError::Io {
                    action: "remove",
                    path: dir.join(committed::COMMITTED_FILE),
                    source: error,
                })
            }
            _ => {}
        }
        crate::durable_file::sync_dir(&dir)?;
        tracing::info!(from = %db.display(), to = %target.display(), "moved a damaged database aside");
        Ok(target)
    }

    fn open_db(
        dir: PathBuf,
        lock: Option<StoreLock>,
        snapshot: Option<Snapshot>,
        mode: Mode,
    ) -> Result<Store, StoreError> {
        let read_only = matches!(mode, Mode::Read | Mode::LiveCopy);
        let db_path = snapshot
            .as_ref()
            .map_or_else(|| dir.join(DB_DIR), |s| s.db_path().to_path_buf());
        let db = guard::open_db(&db_path)?;
        let stored = guard::call(&db_path, "reading", || db.get(FORMAT_VERSION_KEY))?;
        match stored {
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
                guard::call(&db_path, "writing", || {
                    db.insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())
                        .map(drop)
                })?;
            }
            None => {}
        }
        if mode != Mode::Repair && mode != Mode::LiveCopy {
            committed::check(&dir, &db, &db_path)?;
        }
        let tree = |name: &str| Tree::open(&db, &db_path, name);
        let inner = Inner {
            blobs: tree("blobs")?,
            tables: tree("tables")?,
            records: tree("records")?,
            failures: tree("failures")?,
            stages: tree("stages")?,
            journal: tree("journal")?,
            db,
            dir,
            db_path,
            read_only,
            recorded_generation: std::sync::Mutex::new(0),
            generation_warned: std::sync::atomic::AtomicBool::new(false),
            _snapshot: snapshot,
            held_by: None,
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

    /// Whether the store is read from a private copy of its database: because this process
    /// may not write it (see [`Store::open_read_only`]), or because another process held it
    /// ([`Store::open_read_only_live`]).
    pub fn is_snapshot(&self) -> bool {
        self.inner._snapshot.is_some()
    }

    /// Makes everything written so far durable (one sled flush, an fsync), and records the
    /// new commit generation outside sled (see `committed.rs`). Does nothing on a read-only
    /// store.
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.inner.read_only {
            return Ok(());
        }
        let generation = self.bump_generation()?;
        guard::call(&self.inner.db_path, "flushing", || {
            self.inner.db.flush().map(drop)
        })?;
        self.record_generation(generation);
        Ok(())
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

/// Creates the store folder `dir` if it does not exist — only that folder: its parent must
/// exist ([`StoreError::NoParent`] otherwise).
fn create_store_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(StoreError::NoParent {
                path: dir.to_path_buf(),
                parent: parent.to_path_buf(),
            });
        }
    }
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        // Another process created it meanwhile.
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(source) => Err(StoreError::Io {
            action: "create the folder",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Whether an I/O error says this process may not write there (read-only file system, or
/// no permission), so a reader should fall back to a private copy.
fn cannot_write(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
    )
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
