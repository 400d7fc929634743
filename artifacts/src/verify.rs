//! [`Store::verify`] and [`Store::repair`]: checking every stored byte against its digest,
//! and dropping what is damaged so that the next run recomputes exactly that.
//!
//! `verify` re-hashes every blob and every registered Parquet file, decodes every record,
//! failure and stage state, and checks that each record's outputs are stored intact (blob
//! present and sound, table registered with the record's digest, file sound and of the
//! recorded size). It also reports a database that lost commits (see `committed.rs`).
//! Nothing is changed.
//!
//! `repair` drops what `verify` found: damaged blobs, damaged table registrations (and
//! their files), undecodable entries and every record with a damaged output. A dropped
//! record is a cache miss, so `snni plan` says the stage (or shard) will run, and `snni run`
//! recomputes it; sound records stay cached.

use std::collections::{BTreeMap, BTreeSet};

use sled::IVec;

use crate::codec;
use crate::committed;
use crate::digest::Digest;
use crate::error::StoreError;
use crate::failure::Failure;
use crate::record::{Output, Record};
use crate::stage_state::StageState;
use crate::store::Store;
use crate::table::{is_table_file, TableEntry};

/// One damaged item found by [`Store::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// What is damaged, e.g. `blob 3fa2b1c4d5e6` or `record 9c0d1e2f3a4b (profile[n.local.r00])`.
    pub item: String,
    /// What is wrong with it.
    pub problem: String,
}

/// What [`Store::verify`] checked and found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Records checked.
    pub records: usize,
    /// Blobs checked.
    pub blobs: usize,
    /// Registered tables checked.
    pub tables: usize,
    /// Everything damaged, in the order found.
    pub damage: Vec<Damage>,
    plan: RepairPlan,
}

impl VerifyReport {
    /// Whether nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }
}

/// What [`Store::repair`] would drop, by tree.
#[derive(Debug, Clone, Default)]
struct RepairPlan {
    blobs: BTreeSet<IVec>,
    tables: BTreeMap<IVec, Option<String>>,
    records: BTreeSet<IVec>,
    failures: BTreeSet<IVec>,
    stages: BTreeSet<IVec>,
    lost_commits: bool,
}

/// What [`Store::repair`] dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairSummary {
    /// Records dropped (their stages or shards run again).
    pub records: usize,
    /// Damaged blobs dropped.
    pub blobs: usize,
    /// Damaged table registrations dropped (with their files).
    pub tables: usize,
    /// Undecodable failure records and stage states dropped.
    pub other: usize,
    /// Whether a database that lost commits was accepted as it is.
    pub accepted_lost_commits: bool,
}

/// A sound table: its file's digest and size.
type SoundTables = BTreeMap<String, (Digest, u64)>;

impl Store {
    /// Checks every blob, table, record, failure and stage state (see the module docs);
    /// changes nothing. Damage is reported in the result, not as an error; an error means
    /// the check itself could not run (e.g. sled failed while reading).
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        let lost = committed::lost_commits(&self.inner.dir, &self.inner.db, &self.inner.db_path)?;
        if let Some((held, recorded)) = lost {
            report.damage.push(Damage {
                item: "the database".into(),
                problem: committed::lost(held, recorded),
            });
            report.plan.lost_commits = true;
        }
        let sound_blobs = self.verify_blobs(&mut report)?;
        let sound_tables = self.verify_tables(&mut report)?;
        self.verify_records(&mut report, &sound_blobs, &sound_tables)?;
        self.inner.failures.for_each(|key, value| {
            if let Err(error) = codec::decode::<Failure>(&value, || "a failure".into()) {
                report.damage.push(Damage {
                    item: format!("failure record {}", short_key(&key)),
                    problem: crate::error::error_chain(&error),
                });
                report.plan.failures.insert(key);
            }
            Ok(())
        })?;
        self.inner.stages.for_each(|key, value| {
            if let Err(error) = codec::decode::<StageState>(&value, || "a stage state".into()) {
                report.damage.push(Damage {
                    item: format!("the state of stage `{}`", String::from_utf8_lossy(&key)),
                    problem: crate::error::error_chain(&error),
                });
                report.plan.stages.insert(key);
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// Drops everything `report` (from [`Store::verify`] on this store) found damaged, then
    /// flushes. Returns what was dropped.
    pub fn repair(&self, report: &VerifyReport) -> Result<RepairSummary, StoreError> {
        self.check_writable()?;
        let plan = &report.plan;
        let mut summary = RepairSummary::default();
        // Records first: once they are gone nothing references the outputs dropped below.
        for key in &plan.records {
            self.inner.records.remove(key)?;
            self.inner.failures.remove(key)?;
            summary.records += 1;
        }
        self.flush()?;
        for key in &plan.blobs {
            self.inner.blobs.remove(key)?;
            summary.blobs += 1;
        }
        for (key, file) in &plan.tables {
            self.inner.tables.remove(key)?;
            if let Some(file) = file {
                let path = self.inner.dir.join(file);
                match std::fs::remove_file(&path) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(StoreError::Io {
                            action: "remove the damaged table file",
                            path,
                            source: error,
                        });
                    }
                    _ => {}
                }
            }
            summary.tables += 1;
        }
        for key in &plan.failures {
            self.inner.failures.remove(key)?;
            summary.other += 1;
        }
        for key in &plan.stages {
            self.inner.stages.remove(key)?;
            summary.other += 1;
        }
        self.flush()?;
        if plan.lost_commits {
            self.accept_generation()?;
            summary.accepted_lost_commits = true;
        }
        tracing::info!(?summary, store = %self.inner.dir.display(), "repaired the store");
        Ok(summary)
    }

    /// Re-hashes every blob; returns the keys of the sound ones.
    fn verify_blobs(&self, report: &mut VerifyReport) -> Result<BTreeSet<IVec>, StoreError> {
        let mut sound = BTreeSet::new();
        self.inner.blobs.for_each(|key, value| {
            report.blobs += 1;
            let problem = match Digest::from_key(&key) {
                None => Some(format!("its key has {} bytes instead of 32", key.len())),
                Some(digest) => {
                    let actual = Digest::of(&value);
                    (actual != digest).then(|| format!("its contents hash to {actual}"))
                }
            };
            match problem {
                Some(problem) => {
                    report.damage.push(Damage {
                        item: format!("blob {}", short_key(&key)),
                        problem,
                    });
                    report.plan.blobs.insert(key);
                }
                None => {
                    sound.insert(key);
                }
            }
            Ok(())
        })?;
        Ok(sound)
    }

    /// Decodes every table registration and re-hashes its file; returns the sound tables.
    fn verify_tables(&self, report: &mut VerifyReport) -> Result<SoundTables, StoreError> {
        let mut sound = SoundTables::new();
        self.inner.tables.for_each(|key, value| {
            report.tables += 1;
            let file = String::from_utf8_lossy(&key).into_owned();
            let entry = codec::decode::<TableEntry>(&value, || format!("table entry `{file}`"));
            let problem = match entry {
                Err(error) => Some(crate::error::error_chain(&error)),
                Ok(entry) if entry.table.file != file || !is_table_file(&file) => {
                    Some(format!("it names the file `{}`", entry.table.file))
                }
                Ok(entry) => match self.read_table_bytes(&entry.table) {
                    Ok(bytes) => {
                        sound.insert(file.clone(), (entry.table.digest, bytes.len() as u64));
                        None
                    }
                    Err(StoreError::MissingTable { .. }) => Some("the file is missing".into()),
                    Err(StoreError::CorruptTable { actual, .. }) => Some(format!(
                        "the file hashes to {actual}, not to the registered {}",
                        entry.table.digest
                    )),
                    Err(other) => return Err(other),
                },
            };
            if let Some(problem) = problem {
                report.damage.push(Damage {
                    item: format!("table `{file}`"),
                    problem,
                });
                // Delete only a file that is safely inside tables/.
                let delete = is_table_file(&file).then_some(file);
                report.plan.tables.insert(key, delete);
            }
            Ok(())
        })?;
        Ok(sound)
    }

    /// Decodes every record and checks its outputs against the sound blobs and tables.
    fn verify_records(
        &self,
        report: &mut VerifyReport,
        blobs: &BTreeSet<IVec>,
        tables: &SoundTables,
    ) -> Result<(), StoreError> {
        self.inner.records.for_each(|key, value| {
            report.records += 1;
            let record = codec::decode::<Record>(&value, || "a record".into());
            let (item, problems) = match record {
                Err(error) => (
                    format!("record {}", short_key(&key)),
                    vec![crate::error::error_chain(&error)],
                ),
                Ok(record) => (
                    format!("record {} ({})", short_key(&key), record.label()),
                    self.output_problems(&key, &record, blobs, tables)?,
                ),
            };
            if !problems.is_empty() {
                report.damage.push(Damage {
                    item,
                    problem: problems.join("; "),
                });
                report.plan.records.insert(key);
            }
            Ok(())
        })
    }

    /// What is wrong with a decoded record's key and outputs, one line each.
    fn output_problems(
        &self,
        key: &IVec,
        record: &Record,
        blobs: &BTreeSet<IVec>,
        tables: &SoundTables,
    ) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        if key.as_ref() != record.fingerprint.as_bytes() {
            problems.push(format!(
                "it is stored under another fingerprint than its own ({})",
                record.fingerprint.short()
            ));
        }
        for (name, output) in &record.outputs {
            match output {
                Output::Blob { digest, bytes, .. } => {
                    if !blobs.contains(digest.as_bytes().as_slice()) {
                        problems.push(format!(
                            "output `{name}`: blob {} is missing or damaged",
                            digest.short()
                        ));
                    } else if self.blob_len(digest)? != Some(*bytes) {
                        problems.push(format!(
                            "output `{name}`: blob {} is not {bytes} bytes long",
                            digest.short()
                        ));
                    }
                }
                Output::Table(table) => match tables.get(&table.file) {
                    Some((digest, len)) if *digest == table.digest && *len == table.bytes => {}
                    Some(_) => problems.push(format!(
                        "output `{name}`: table `{}` is not the one the record names",
                        table.file
                    )),
                    None => problems.push(format!(
                        "output `{name}`: table `{}` is missing or damaged",
                        table.file
                    )),
                },
            }
        }
        Ok(problems)
    }
}

/// The first 12 hexadecimal digits of a key, for listings.
fn short_key(key: &[u8]) -> String {
    key.iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OnLocked, Output, Record};

    /// A store with two records: `a` (a blob) and `b` (a blob and a table).
    fn store() -> (tempfile::TempDir, Store, Record, Record) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
        let one = store.put_blob(b"one").unwrap();
        let two = store.put_blob(b"two").unwrap();
        let mut frame = polars::df!("x" => [1i64, 2, 3]).unwrap();
        let table = store.write_table("t", &mut frame).unwrap();
        let a = Record::new(Digest::of(b"a"), "s", Some("a".into()))
            .with_output("one", Output::blob(one, 3, "text/plain"));
        let b = Record::new(Digest::of(b"b"), "s", Some("b".into()))
            .with_output("two", Output::blob(two, 3, "text/plain"))
            .with_output("t", Output::Table(table));
        store.commit_batch(&[a.clone(), b.clone()]).unwrap();
        (dir, store, a, b)
    }

    #[test]
    fn a_sound_store_verifies_clean() {
        let (_dir, store, ..) = store();
        let report = store.verify().unwrap();
        assert!(report.is_clean(), "{:?}", report.damage);
        assert_eq!((report.records, report.blobs, report.tables), (2, 2, 1));
        assert_eq!(store.repair(&report).unwrap(), RepairSummary::default());
    }

    #[test]
    fn a_damaged_blob_drops_exactly_the_records_using_it() {
        let (_dir, store, a, b) = store();
        let two = b.outputs["two"].digest();
        store
            .inner
            .blobs
            .raw()
            .insert(two.as_bytes(), &b"tw0"[..])
            .unwrap();
        let report = store.verify().unwrap();
        let items: Vec<&str> = report.damage.iter().map(|d| d.item.as_str()).collect();
        assert_eq!(items.len(), 2, "{:?}", report.damage);
        assert!(items[0].starts_with("blob "), "{items:?}");
        assert!(items[1].contains("(s[b])"), "{items:?}");
        let summary = store.repair(&report).unwrap();
        assert_eq!((summary.records, summary.blobs), (1, 1));
        assert!(store.verify().unwrap().is_clean());
        assert!(store.get(&a.fingerprint).unwrap().is_some());
        assert!(store.get(&b.fingerprint).unwrap().is_none());
    }

    #[test]
    fn a_damaged_table_file_is_reported_dropped_and_deleted() {
        let (_dir, store, _, b) = store();
        let Output::Table(table) = &b.outputs["t"] else {
            unreachable!()
        };
        let path = store.table_path(table);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let report = store.verify().unwrap();
        assert_eq!(report.damage.len(), 2, "{:?}", report.damage);
        assert!(report.damage[0].problem.contains("the file hashes to"));
        store.repair(&report).unwrap();
        assert!(!path.exists());
        assert!(store.get(&b.fingerprint).unwrap().is_none());
        assert!(store.verify().unwrap().is_clean());
    }

    #[test]
    fn undecodable_entries_are_reported_and_dropped() {
        let (_dir, store, a, _) = store();
        let records = store.inner.records.raw();
        records
            .insert(a.fingerprint.as_bytes(), &b"{not json"[..])
            .unwrap();
        store
            .inner
            .stages
            .raw()
            .insert("s", &b"\xff\xfe"[..])
            .unwrap();
        let report = store.verify().unwrap();
        assert_eq!(report.damage.len(), 2, "{:?}", report.damage);
        assert!(report.damage[0]
            .problem
            .contains("could not decode a record"));
        let summary = store.repair(&report).unwrap();
        assert_eq!((summary.records, summary.other), (1, 1));
        assert!(store.verify().unwrap().is_clean());
    }
}
