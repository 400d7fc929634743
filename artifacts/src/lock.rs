//! The store's writer lock: an OS file lock on `<store>/LOCK`, which also names its holder.
//!
//! sled lets only one handle open a database at a time, so every [`Store`](crate::Store)
//! takes this lock before opening sled; a second process then gets a message naming the
//! first (its pid and command line, read from the lock file) instead of sled's own error.
//! The lock is an `flock`-style lock held by an open file: the OS releases it when the
//! process dies, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// What opening a store does when another process holds its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLocked {
    /// Fail at once with [`StoreError::Locked`], naming the holder.
    Fail,
    /// Block until the holder releases the lock.
    Wait,
}

/// A held store lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub(crate) struct StoreLock {
    file: File,
}

impl StoreLock {
    /// Takes the lock at `path`, creating the file if needed, then writes our pid and
    /// command line into it.
    pub(crate) fn acquire(path: &Path, on_locked: OnLocked) -> Result<StoreLock, StoreError> {
        let io_error = |action| {
            move |source| StoreError::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        };
        // Never truncate on open: the current holder's details are in there.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error("open the lock file"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = LockHolder::read(path);
                if on_locked == OnLocked::Fail {
                    return Err(holder.into_error(path.to_path_buf()));
                }
                tracing::info!(
                    lock = %path.display(),
                    pid = ?holder.pid,
                    command = %holder.command,
                    "waiting for the store lock"
                );
                file.lock().map_err(io_error("wait for the lock file"))?;
            }
            Err(TryLockError::Error(source)) => return Err(io_error("lock the lock file")(source)),
        }
        let mut lock = StoreLock { file };
        lock.write_holder()
            .map_err(io_error("write the lock file"))?;
        Ok(lock)
    }

    fn write_holder(&mut self) -> std::io::Result<()> {
        let contents = LockHolder::current().to_contents();
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(contents.as_bytes())?;
        self.file.sync_data()
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Clear our details while still holding the lock; closing the file releases it.
        let _ = self.file.set_len(0);
    }
}

/// Who holds a lock, as recorded in the lock file: "pid\ncommand line\n".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockHolder {
    pub(crate) pid: Option<u32>,
    pub(crate) command: String,
}

impl LockHolder {
    /// This process.
    fn current() -> LockHolder {
        let command = std::env::args()
            .map(|arg| quote(&arg))
            .collect::<Vec<_>>()
            .join(" ");
        LockHolder {
            pid: Some(std::process::id()),
            command,
        }
    }

    /// Reads the holder from a lock file; unknown if the file is empty or unreadable
    /// (the holder may have locked it but not yet written its details).
    fn read(path: &Path) -> LockHolder {
        Self::parse(&std::fs::read_to_string(path).unwrap_or_default())
    }

    fn parse(contents: &str) -> LockHolder {
        let (pid, command) = contents.split_once('\n').unwrap_or((contents, ""));
        LockHolder {
            pid: pid.trim().parse().ok(),
            command: command.trim_end().to_string(),
        }
    }

    fn to_contents(&self) -> String {
        match self.pid {
            Some(pid) => format!("{pid}\n{}\n", self.command),
            None => format!("\n{}\n", self.command),
        }
    }

    fn into_error(self, path: PathBuf) -> StoreError {
        StoreError::Locked {
            pid: self.pid,
            command: self.command,
            path,
        }
    }
}

/// Quotes a command-line argument for display if it is empty or has spaces or quotes.
fn quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_round_trips_through_the_file_format() {
        let holder = LockHolder {
            pid: Some(42),
            command: "snni run 'my study.yaml'".into(),
        };
        assert_eq!(LockHolder::parse(&holder.to_contents()), holder);
    }

    #[test]
    fn empty_lock_file_names_no_one() {
        assert_eq!(
            LockHolder::parse(""),
            LockHolder {
                pid: None,
                command: String::new()
            }
        );
        let err = LockHolder::parse("").into_error("/s/LOCK".into());
        assert!(err.to_string().contains("another process"), "{err}");
    }

    #[test]
    fn current_holder_is_this_process() {
        let holder = LockHolder::current();
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(!holder.command.is_empty());
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("run"), "run");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
