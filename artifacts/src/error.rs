//! The errors of the artifact store: [`StoreError`] for every store operation (a digest
//! read from text has its own error, beside [`Digest`]).
//!
//! Messages are lowercase and read after "failed to …"; each names the file or record
//! involved and, where there is one, what to do about it. Causes stay in the source chain.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::digest::Digest;

/// Everything that can go wrong while using a [`Store`](crate::Store).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file system operation failed.
    #[error("could not {action} `{}`", .path.display())]
    Io {
        /// What was being done, e.g. "create the folder".
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The database is damaged: sled reported corruption, panicked or did not finish
    /// opening it, or it holds fewer commits than the store recorded.
    #[error(
        "the store database `{}` is damaged: {problem}; `snni artifacts verify --repair --store {}` \
         drops what is damaged (or, if the database cannot be opened at all, moves it aside) \
         so that the next `snni run` recomputes exactly that",
        .path.display(),
        StoreOf(.path)
    )]
    Damaged {
        /// The database folder (`<store>/db`).
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// A new store's parent folder does not exist; snni creates only the store folder itself.
    #[error(
        "cannot create the store `{}`: its parent folder `{}` does not exist; snni creates \
         only the last folder of a store path, so create the parent first (`mkdir -p {}`) or \
         check the path",
        .path.display(),
        .parent.display(),
        .parent.display()
    )]
    NoParent {
        /// The store folder asked for.
        path: PathBuf,
        /// Its parent, which is missing.
        parent: PathBuf,
    },

    /// [`Store::open_read_only`](crate::Store::open_read_only) found no store.
    #[error(
        "there is no artifact store at `{}` (it has no `db` folder); run a study first or check the store path",
        .path.display()
    )]
    NotAStore {
        /// The folder that was expected to hold a store.
        path: PathBuf,
    },

    /// Another process (or another `Store` in this process) holds the store lock.
    #[error(
        "the store at `{}` is in use by {}; wait for it to finish, or ask to wait for the lock",
        .path.display(),
        Holder(.pid, .command)
    )]
    Locked {
        /// The holder's process id, if its lock file could be read.
        pid: Option<u32>,
        /// The holder's command line, as written in the lock file (may be empty).
        command: String,
        /// The lock file.
        path: PathBuf,
    },

    /// A write was attempted on a store opened with `open_read_only`.
    #[error("the store at `{}` was opened read-only", .path.display())]
    ReadOnly {
        /// The store folder.
        path: PathBuf,
    },

    /// A stored value was written with a format version this build does not read.
    #[error(
        "{what} has format version {found}, but this snni reads version {supported}; {}",
        if .found > .supported { "upgrade snni to read it" } else { "re-run the stage to rewrite it" }
    )]
    UnsupportedFormat {
        /// The value, e.g. "record 3fa2b1c4d5e6 in `/runs/store`".
        what: String,
        /// The version found in the value.
        found: u32,
        /// The version this build reads and writes ([`FORMAT_VERSION`](crate::FORMAT_VERSION)).
        supported: u32,
    },

    /// A stored value could not be decoded (or encoded) as JSON.
    #[error("could not decode {what}")]
    Decode {
        /// The value, e.g. "record 3fa2b1c4d5e6 in `/runs/store`".
        what: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },

    /// A blob's bytes no longer hash to its digest.
    #[error(
        "blob {digest} in the store at `{}` is corrupt: its contents hash to {actual}; {}",
        .store.display(),
        Rerun(.stage)
    )]
    CorruptBlob {
        /// The digest the blob is stored under.
        digest: Digest,
        /// The digest of what is actually stored.
        actual: Digest,
        /// The store folder.
        store: PathBuf,
        /// The stage of a record that references the blob, if any.
        stage: Option<String>,
    },

    /// A Parquet file no longer hashes to the digest it was registered with.
    #[error(
        "table file `{}` is corrupt: expected digest {expected}, found {actual}; {}",
        .path.display(),
        Rerun(.stage)
    )]
    CorruptTable {
        /// The Parquet file.
        path: PathBuf,
        /// The digest recorded when the table was written.
        expected: Digest,
        /// The digest of the file as it is now.
        actual: Digest,
        /// The stage of a record that references the table, if any.
        stage: Option<String>,
    },

    /// A blob that was asked for is not in the store.
    #[error("blob {digest} is not in the store at `{}`; {}", .store.display(), Rerun(.stage))]
    MissingBlob {
        /// The digest asked for.
        digest: Digest,
        /// The store folder.
        store: PathBuf,
        /// The stage of a record that references the blob, if any.
        stage: Option<String>,
    },

    /// A table's Parquet file is not where its record says.
    #[error("table file `{}` is missing; {}", .path.display(), Rerun(.stage))]
    MissingTable {
        /// The Parquet file that should exist.
        path: PathBuf,
        /// The stage of a record that references the table, if any.
        stage: Option<String>,
    },

    /// `commit` (or `import`) refused a record whose outputs are not all durably stored.
    #[error(
        "record {fingerprint} of stage `{stage}` references outputs that are not in the store: {}",
        .missing.join("; ")
    )]
    Incomplete {
        /// The record's fingerprint.
        fingerprint: Digest,
        /// The record's stage.
        stage: String,
        /// One line per missing or mismatched output.
        missing: Vec<String>,
    },

    /// `commit` was given a record whose `format_version` is not [`FORMAT_VERSION`](crate::FORMAT_VERSION).
    #[error(
        "record {fingerprint} of stage `{stage}` claims format version {found}; only version {supported} can be written"
    )]
    WrongRecordVersion {
        /// The record's fingerprint.
        fingerprint: Digest,
        /// The record's stage.
        stage: String,
        /// The version in the record.
        found: u32,
        /// The version this build writes.
        supported: u32,
    },

    /// A table name would not make a safe, portable file name.
    #[error(
        "invalid table name `{name}`: use 1 to 100 letters, digits, `-`, `_` or `.`, not starting with `.`"
    )]
    InvalidTableName {
        /// The rejected name.
        name: String,
    },

    /// polars could not write or read a Parquet file.
    #[error("could not {action} the parquet table `{}`", .path.display())]
    Parquet {
        /// "write" or "read".
        action: &'static str,
        /// The Parquet file.
        path: PathBuf,
        /// polars' error.
        #[source]
        source: polars::error::PolarsError,
    },

    /// An archive given to `import` is not laid out as `export` writes it.
    #[error("`{}` is not a valid snni archive: {reason}", .path.display())]
    InvalidArchive {
        /// The archive file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An archive entry does not hash to the digest it is recorded under.
    #[error(
        "archive `{}` is corrupt: entry `{entry}` should hash to {expected} but hashes to {actual}; export it again",
        .path.display()
    )]
    CorruptArchive {
        /// The archive file.
        path: PathBuf,
        /// The entry's path inside the archive.
        entry: String,
        /// The digest the archive claims.
        expected: Digest,
        /// The digest of the entry's contents.
        actual: Digest,
    },

    /// No record's fingerprint starts with the given text.
    #[error("no record has a fingerprint starting with `{prefix}`")]
    UnknownFingerprint {
        /// The text looked up.
        prefix: String,
    },

    /// Several records' fingerprints start with the given text.
    #[error("fingerprint prefix `{prefix}` is ambiguous: {count} records start with it; give more characters")]
    AmbiguousFingerprint {
        /// The text looked up.
        prefix: String,
        /// How many records matched.
        count: usize,
    },
}

/// An error and its causes on one line: `a: b: c`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Displays the holder of a lock: "pid 1234 (snni run study.yaml)".
struct Holder<'a>(&'a Option<u32>, &'a String);

impl fmt::Display for Holder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1.is_empty()) {
            (Some(pid), false) => write!(f, "pid {pid} (`{}`)", self.1),
            (Some(pid), true) => write!(f, "pid {pid}"),
            (None, _) => f.write_str("another process (its lock file names no pid yet)"),
        }
    }
}

/// Displays the store folder of a database folder (`<store>/db` → `<store>`).
struct StoreOf<'a>(&'a PathBuf);

impl fmt::Display for StoreOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.0.parent().unwrap_or(self.0);
        write!(f, "{}", store.display())
    }
}

/// Displays what to do about a damaged output: re-run the stage that wrote it.
struct Rerun<'a>(&'a Option<String>);

impl fmt::Display for Rerun<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "`snni artifacts verify --repair` drops it so that the next `snni run` recomputes \
             it, or ",
        )?;
        match self.0 {
            Some(stage) => write!(f, "re-run the stage with `--force {stage}`"),
            None => f.write_str("re-run the stage that wrote it with `--force NAME`"),
        }
    }
}
