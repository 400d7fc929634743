//! The boundary between the store and sled: every call into sled goes through here, so that
//! what sled does on a damaged database — return a raw error, panic (an index out of
//! bounds while replaying a truncated log), or spin forever while opening — becomes a
//! [`StoreError`] that names the store, says what is damaged and what to do.
//!
//! - [`Tree`] wraps a `sled::Tree`: each call catches panics and maps sled's errors.
//! - [`open_db`] opens the database on a watchdog thread and gives up after a time that
//!   grows with the database's size, so a damaged database that makes sled spin fails in
//!   seconds instead of hanging the command.
//!
//! While a guarded call runs, [`in_guarded_call`] is true on its thread, so a process-wide
//! panic hook can stay quiet about a panic that is about to be reported as an error.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use sled::IVec;

use crate::error::StoreError;

/// Seconds the watchdog gives sled to open any database, before the size allowance.
const OPEN_BASE_SECONDS: u64 = 5;
/// Database bytes sled is given one more second to open (a healthy store opens at well
/// over 100 MB/s here; see BENCHMARKS.md, "Store damage").
const OPEN_BYTES_PER_SECOND: u64 = 32 << 20;
/// Environment variable overriding the open timeout, in seconds.
pub const OPEN_TIMEOUT_ENV: &str = "SNNI_STORE_OPEN_TIMEOUT";

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is inside a guarded call into sled. A panic hook uses this
/// to leave panics that the store turns into errors unprinted.
pub fn in_guarded_call() -> bool {
    GUARDED.with(Cell::get)
}

/// Runs `op`, turning a panic into `Err(message)`.
fn catch<T>(op: impl FnOnce() -> T) -> Result<T, String> {
    let was = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(op));
    GUARDED.with(|g| g.set(was));
    result.map_err(panic_message)
}

/// The text of a panic payload.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Turns one of sled's errors into a [`StoreError`] about the database at `db`.
pub(crate) fn sled_error(db: &Path, error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(source) => StoreError::Io {
            action: "read or write the database",
            path: db.to_path_buf(),
            source: os_error(source),
        },
        sled::Error::Corruption { at, .. } => StoreError::Damaged {
            path: db.to_path_buf(),
            problem: match at {
                Some(at) => format!("sled found corrupted data at {at:?}"),
                None => "sled found corrupted data".to_string(),
            },
        },
        sled::Error::CollectionNotFound(name) => StoreError::Damaged {
            path: db.to_path_buf(),
            problem: format!("the tree `{}` is missing", String::from_utf8_lossy(&name)),
        },
        sled::Error::Unsupported(what) => StoreError::Damaged {
            path: db.to_path_buf(),
            problem: format!("sled cannot read it: {what}"),
        },
        sled::Error::ReportableBug(what) => StoreError::Damaged {
            path: db.to_path_buf(),
            problem: format!("sled failed on it: {what}"),
        },
    }
}

/// sled passes some operating-system errors on as a custom error whose text is the
/// original's debug form (`Os { code: 28, kind: StorageFull, message: "No space left on
/// device" }`); this recovers the original, so that it prints as `No space left on device
/// (os error 28)`.
fn os_error(error: std::io::Error) -> std::io::Error {
    if error.raw_os_error().is_some() {
        return error;
    }
    let text = error.to_string();
    let code = text
        .strip_prefix("Os { code: ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|code| code.trim().parse::<i32>().ok());
    match code {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => error,
    }
}

/// The error for a panic inside sled while working on the database at `db`.
fn panicked(db: &Path, action: &str, message: String) -> StoreError {
    StoreError::Damaged {
        path: db.to_path_buf(),
        problem: format!("sled panicked while {action} it ({message})"),
    }
}

/// Runs a sled operation on the database at `db` with panics caught and errors mapped.
pub(crate) fn call<T>(
    db: &Path,
    action: &str,
    op: impl FnOnce() -> sled::Result<T>,
) -> Result<T, StoreError> {
    match catch(op) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(sled_error(db, error)),
        Err(message) => Err(panicked(db, action, message)),
    }
}

/// One sled tree of the store, every call guarded.
#[derive(Clone)]
pub(crate) struct Tree {
    tree: sled::Tree,
    /// The database folder, for errors.
    db: PathBuf,
}

impl Tree {
    /// Opens the tree `name` of `db` (at `path`).
    pub(crate) fn open(db: &sled::Db, path: &Path, name: &str) -> Result<Tree, StoreError> {
        let tree = call(path, "opening a tree of", || db.open_tree(name))?;
        Ok(Tree {
            tree,
            db: path.to_path_buf(),
        })
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<IVec>, StoreError> {
        call(&self.db, "reading", || self.tree.get(key))
    }

    /// Whether there is a value under `key`.
    pub(crate) fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        call(&self.db, "reading", || self.tree.contains_key(key))
    }

    /// Stores `value` under `key`.
    pub(crate) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<IVec>,
    ) -> Result<(), StoreError> {
        call(&self.db, "writing", || {
            self.tree.insert(key.as_ref(), value).map(drop)
        })
    }

    /// Removes the value under `key`, if any.
    pub(crate) fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), StoreError> {
        call(&self.db, "writing", || self.tree.remove(key).map(drop))
    }

    /// Calls `visit` with every entry in key order; stops at the first error.
    pub(crate) fn for_each(
        &self,
        mut visit: impl FnMut(IVec, IVec) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut failed = None;
        call(&self.db, "reading", || {
            for entry in self.tree.iter() {
                let (key, value) = entry?;
                if let Err(error) = visit(key, value) {
                    failed = Some(error);
                    break;
                }
            }
            Ok(())
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub(crate) fn scan_prefix(
        &self,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Vec<(IVec, IVec)>, StoreError> {
        call(&self.db, "reading", || {
            self.tree.scan_prefix(prefix).collect()
        })
    }

    /// Every key, in order.
    pub(crate) fn keys(&self) -> Result<Vec<IVec>, StoreError> {
        call(&self.db, "reading", || self.tree.iter().keys().collect())
    }

    /// The sled tree itself, for tests that damage it on purpose.
    #[cfg(test)]
    pub(crate) fn raw(&self) -> &sled::Tree {
        &self.tree
    }
}

/// How long the watchdog lets sled open the database at `db`: [`OPEN_TIMEOUT_ENV`] if set,
/// else 5 s plus 1 s per 32 MiB of database files.
pub(crate) fn open_timeout(db: &Path) -> Duration {
    if let Some(seconds) = std::env::var(OPEN_TIMEOUT_ENV)
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
    {
        return Duration::from_secs_f64(seconds);
    }
    Duration::from_secs(OPEN_BASE_SECONDS + folder_size(db) / OPEN_BYTES_PER_SECOND)
}

/// Total size of the files under `dir` (0 for what cannot be read).
fn folder_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => folder_size(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |meta| meta.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Opens the sled database at `db` on a watchdog thread.
///
/// A panic in sled or an open that does not finish within [`open_timeout`] is a
/// [`StoreError::Damaged`]. After a timeout sled's thread is left running (it cannot be
/// stopped from outside); the command reports the error and exits.
pub(crate) fn open_db(db: &Path) -> Result<sled::Db, StoreError> {
    let timeout = open_timeout(db);
    let (sender, receiver) = mpsc::channel();
    let path = db.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("snni-store-open".into())
        .spawn(move || {
            let opened = call(&path, "opening", || open_waiting_for_release(&path));
            let _ = sender.send(opened);
        });
    if let Err(source) = spawned {
        return Err(StoreError::Io {
            action: "start a thread to open the database",
            path: db.to_path_buf(),
            source,
        });
    }
    match receiver.recv_timeout(timeout) {
        Ok(opened) => opened,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(StoreError::Damaged {
            path: db.to_path_buf(),
            problem: format!(
                "sled did not finish opening it within {:.0} s (a damaged database can make it \
                 loop; set {OPEN_TIMEOUT_ENV}=SECONDS if this store is just very large)",
                timeout.as_secs_f64()
            ),
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(StoreError::Damaged {
            path: db.to_path_buf(),
            problem: "the thread opening it stopped without an answer".to_string(),
        }),
    }
}

/// How long [`open_waiting_for_release`] waits for an earlier handle to let go of sled's
/// file lock.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Opens the sled database at `path`, waiting while sled's own file lock is still held.
///
/// Callers hold the store lock (or open a private copy), so no other process can hold
/// sled's lock; when sled reports it held, it is a handle this process just dropped whose
/// background threads have not yet released it (sled lets go of the lock when the last of
/// them ends, a few milliseconds after the `Db` is dropped). sled reports this only as an
/// I/O error whose text says so, hence the text match.
fn open_waiting_for_release(path: &Path) -> sled::Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new().path(path).open() {
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock")
                    && started.elapsed() < RELEASE_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            opened => return opened,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_waits_for_a_dropped_handle_to_release_sled_s_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let first = sled::Config::new().path(&path).open().unwrap();
        let held = sled::Config::new().path(&path).open();
        assert!(
            held.is_err(),
            "sled let a second handle open a held database"
        );
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(first);
        });
        let second = open_waiting_for_release(&path).expect("opens once the first handle lets go");
        releaser.join().unwrap();
        drop(second);
    }

    #[test]
    fn panics_become_damage_errors_and_the_flag_is_reset() {
        let err = call(Path::new("/s/db"), "reading", || -> sled::Result<()> {
            assert!(in_guarded_call());
            panic!("index out of bounds: the len is 3 but the index is 7")
        })
        .unwrap_err();
        assert!(!in_guarded_call());
        let text = err.to_string();
        assert!(text.contains("sled panicked while reading it"), "{text}");
        assert!(text.contains("index out of bounds"), "{text}");
        assert!(text.contains("/s/db"), "{text}");
        assert!(text.contains("snni artifacts verify --repair"), "{text}");
    }

    #[test]
    fn sled_corruption_reads_as_damage_not_as_sled_s_debug_text() {
        let err = sled_error(
            Path::new("/s/db"),
            sled::Error::Corruption {
                at: None,
                bt: Default::default(),
            },
        );
        let text = err.to_string();
        assert!(!text.contains("backtrace"), "{text}");
        assert!(
            text.contains("is damaged: sled found corrupted data"),
            "{text}"
        );
    }

    #[test]
    fn io_errors_keep_the_os_error() {
        let err = sled_error(
            Path::new("/s/db"),
            sled::Error::Io(std::io::Error::from_raw_os_error(28)),
        );
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(chain.contains("No space left on device"), "{chain}");
        // As sled passes a full disk on while writing its log: the OS error in debug form.
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            format!("{:?}", std::io::Error::from_raw_os_error(28)),
        );
        let err = sled_error(Path::new("/s/db"), sled::Error::Io(wrapped));
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(source, "No space left on device (os error 28)");
        let other = std::io::Error::other("something else");
        let err = sled_error(Path::new("/s/db"), sled::Error::Io(other));
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(source, "something else");
    }

    #[test]
    fn the_timeout_grows_with_the_database() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(open_timeout(dir.path()), Duration::from_secs(5));
        std::fs::write(dir.path().join("db"), vec![0u8; 1 << 20]).unwrap();
        assert_eq!(folder_size(dir.path()), 1 << 20);
    }
}
