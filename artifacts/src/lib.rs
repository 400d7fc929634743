//! The snni artifact store: where the outputs of study stages are kept and found again.
//!
//! A store is a folder holding a sled database and a `tables/` folder of Parquet files:
//!
//! - **Blobs** (small YAML or JSON outputs) are kept in sled under the blake3 [`Digest`] of
//!   their bytes ([`Store::put_blob`], [`Store::get_blob`]).
//! - **Tables** are polars DataFrames written as Parquet files, registered in sled with
//!   their digest ([`Store::write_table`], [`Store::read_table`]).
//! - **Records** map a stage's fingerprint to its named outputs ([`Store::commit`],
//!   [`Store::get`]). A record is written only after its outputs are durable, so a crash
//!   never leaves a stage marked done without them.
//! - **Failures** and **stage states** help the planner explain what happens and why; the
//!   **journal** keeps an executor's notes (cluster jobs and attempts) across restarts.
//! - An [`ObjectDir`] moves blobs and tables to and from cluster nodes as plain files;
//!   stage shards read upstream outputs through [`BlobSource`], which both implement.
//!
//! Only one process uses a store at a time; a second one is told who holds it
//! ([`StoreError::Locked`]) or waits ([`OnLocked::Wait`]). A store this process may not
//! write (a read-only mount) is read from a private copy of its database.
//!
//! A damaged store says so: sled's errors, its panics on a damaged database and an open
//! that never finishes all become [`StoreError::Damaged`] naming the database and what to
//! do, and [`Store::verify`] checks every blob, table and record, which
//! [`Store::repair`] drops when damaged so that the next run recomputes exactly them. Stores move between machines as
//! tar archives ([`Store::export`], [`Store::import`]) and shrink with [`Store::gc`].
//!
//! Every stored value carries a format version; one written by a newer snni is reported
//! as such ([`StoreError::UnsupportedFormat`]) rather than misread.
//!
//! ```no_run
//! use snni_artifacts::{Digest, OnLocked, Output, Record, Store};
//!
//! # fn main() -> Result<(), snni_artifacts::StoreError> {
//! let store = Store::open("runs/store".as_ref(), OnLocked::Fail)?;
//! let fingerprint = Digest::of(b"stage inputs");
//! if store.get(&fingerprint)?.is_none() {
//!     let config = b"layers: 3\n";
//!     let digest = store.put_blob(config)?;
//!     let record = Record::new(fingerprint, "train", None)
//!         .with_output("config", Output::blob(digest, config.len() as u64, "application/yaml"));
//!     store.commit(&record)?;
//! }
//! # Ok(())
//! # }
//! ```

mod archive;
mod blob;
mod codec;
mod committed;
mod digest;
mod durable_file;
mod error;
mod export;
mod failure;
mod gc;
mod guard;
mod hashing;
mod import;
mod index;
mod journal;
mod lock;
mod object_dir;
mod record;
mod snapshot;
mod source;
mod stage_state;
mod store;
mod table;
mod verify;

pub use archive::{ExportSummary, ImportSummary};
pub use committed::COMMITTED_FILE;
pub use digest::{Digest, ParseDigestError};
pub use error::StoreError;
pub use failure::Failure;
pub use gc::GcSummary;
pub use guard::{in_guarded_call, OPEN_TIMEOUT_ENV};
pub use lock::OnLocked;
pub use object_dir::{ObjectDir, WrittenTable};
pub use record::{Output, Record};
pub use source::BlobSource;
pub use stage_state::StageState;
pub use store::{Store, DB_DIR, LOCK_FILE, TABLES_DIR};
pub use table::TableRef;
pub use verify::{Damage, RepairSummary, VerifyReport};

/// The version of every value this build stores (records, failures, stage states, table
/// registrations, archive manifests, the store itself). Values of another version are
/// refused with [`StoreError::UnsupportedFormat`].
pub const FORMAT_VERSION: u32 = 1;
