//! The fingerprint → [`Record`] index: committing finished work and looking it up.
//!
//! [`Store::commit`] is the only way a record enters the index, and it refuses a record
//! whose outputs are not all stored; it flushes the outputs before writing the record and
//! flushes again after, so a `kill -9` at any moment leaves either no record or a record
//! with all its outputs. [`Store::get`] is the cache lookup: one sled read and one JSON
//! decode, plus cheap presence checks (no hashing), so 10,000 lookups take milliseconds.

use crate::codec;
use crate::digest::Digest;
use crate::error::StoreError;
use crate::record::{Output, Record};
use crate::store::Store;
use crate::table::is_table_file;
use crate::FORMAT_VERSION;

impl Store {
    /// Adds `record` to the index, replacing any record with the same fingerprint, and
    /// clears any failure recorded for that fingerprint.
    ///
    /// Refuses ([`StoreError::Incomplete`]) a record with an output that is not stored:
    /// a blob not put, a table not written (or registered with another digest), or a size
    /// that does not match. Then flushes the outputs, writes the record, and flushes again.
    pub fn commit(&self, record: &Record) -> Result<(), StoreError> {
        self.commit_batch(std::slice::from_ref(record))
    }

    /// [`Store::commit`] for several records at once, with two flushes in all instead of
    /// two per record. Checks every record before writing any.
    pub fn commit_batch(&self, records: &[Record]) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut values = Vec::with_capacity(records.len());
        for record in records {
            self.check_committable(record)?;
            values.push(codec::encode(record, || {
                format!("record {}", record.fingerprint.short())
            })?);
        }
        // Outputs first: once this flush returns they survive a crash.
        self.flush()?;
        for (record, value) in records.iter().zip(values) {
            let key = record.fingerprint.as_bytes();
            self.inner.records.insert(key, value)?;
            self.inner.failures.remove(key)?;
        }
        self.flush()?;
        for record in records {
            tracing::debug!(fingerprint = %record.fingerprint.short(), stage = %record.label(), "committed");
        }
        Ok(())
    }

    /// The cache lookup: the record for `fingerprint`, if there is one whose outputs are all
    /// present.
    ///
    /// A record whose blob or table file has gone missing (or a table file whose size
    /// changed) is reported as `Ok(None)` — a cache miss, so the stage runs again and
    /// rewrites it — with a warning in the log. Contents are not re-hashed here; that
    /// happens in [`Store::get_blob`] and [`Store::read_table`].
    pub fn get(&self, fingerprint: &Digest) -> Result<Option<Record>, StoreError> {
        let Some(record) = self.record(fingerprint)? else {
            return Ok(None);
        };
        for (name, output) in &record.outputs {
            if !self.output_present(output)? {
                tracing::warn!(
                    fingerprint = %fingerprint.short(),
                    stage = %record.label(),
                    output = %name,
                    "a cached output is missing from the store; the stage will run again"
                );
                return Ok(None);
            }
        }
        Ok(Some(record))
    }

    /// The record for `fingerprint` as stored, without checking its outputs (for `show`).
    pub fn record(&self, fingerprint: &Digest) -> Result<Option<Record>, StoreError> {
        let Some(value) = self.inner.records.get(fingerprint.as_bytes())? else {
            return Ok(None);
        };
        codec::decode(&value, || self.describe_record(fingerprint)).map(Some)
    }

    /// Every record, sorted by stage, shard and fingerprint (for `ls`).
    pub fn records(&self) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::new();
        self.inner.records.for_each(|key, value| {
            let record: Record = codec::decode(&value, || match Digest::from_key(&key) {
                Some(fingerprint) => self.describe_record(&fingerprint),
                None => format!("a record in `{}`", self.inner.dir.display()),
            })?;
            records.push(record);
            Ok(())
        })?;
        records.sort_by(|a, b| {
            (&a.stage, &a.shard, a.fingerprint).cmp(&(&b.stage, &b.shard, b.fingerprint))
        });
        Ok(records)
    }

    /// The fingerprint of the one record whose hexadecimal fingerprint starts with `prefix`
    /// (as typed by a person after `show`).
    pub fn resolve_fingerprint(&self, prefix: &str) -> Result<Digest, StoreError> {
        let prefix_lower = prefix.to_ascii_lowercase();
        let mut found = None;
        let mut count = 0;
        for key in self.inner.records.keys()? {
            let Some(fingerprint) = Digest::from_key(&key) else {
                continue;
            };
            if fingerprint.to_hex().starts_with(&prefix_lower) {
                found = Some(fingerprint);
                count += 1;
            }
        }
        match (found, count) {
            (Some(fingerprint), 1) => Ok(fingerprint),
            (None, _) => Err(StoreError::UnknownFingerprint {
                prefix: prefix.to_string(),
            }),
            (Some(_), count) => Err(StoreError::AmbiguousFingerprint {
                prefix: prefix.to_string(),
                count,
            }),
        }
    }

    /// What is wrong with the outputs of `record`, one line each; empty if all are stored.
    ///
    /// Checks that each blob is stored with the recorded size, and that each table is
    /// registered with the recorded digest and its file exists with the recorded size.
    /// Contents are not re-hashed.
    pub fn missing_outputs(&self, record: &Record) -> Result<Vec<String>, StoreError> {
        let mut missing = Vec::new();
        for (name, output) in &record.outputs {
            match output {
                Output::Blob { digest, bytes, .. } => match self.blob_len(digest)? {
                    None => missing.push(format!(
                        "output `{name}`: blob {} is not stored",
                        digest.short()
                    )),
                    Some(len) if len != *bytes => missing.push(format!(
                        "output `{name}`: blob {} has {len} bytes, the record says {bytes}",
                        digest.short()
                    )),
                    Some(_) => {}
                },
                Output::Table(table) => {
                    if !is_table_file(&table.file) {
                        missing.push(format!(
                            "output `{name}`: `{}` is not a file in tables/",
                            table.file
                        ));
                        continue;
                    }
                    match self.registered_table(&table.file)? {
                        None => missing.push(format!(
                            "output `{name}`: table `{}` was not written to this store",
                            table.file
                        )),
                        Some(registered) if registered.digest != table.digest => missing.push(format!(
                            "output `{name}`: table `{}` is registered with digest {}, the record says {}",
                            table.file,
                            registered.digest.short(),
                            table.digest.short()
                        )),
                        Some(_) => match self.table_file_len(&table.file) {
                            None => missing.push(format!("output `{name}`: file `{}` is missing", table.file)),
                            Some(len) if len != table.bytes => missing.push(format!(
                                "output `{name}`: file `{}` has {len} bytes, the record says {}",
                                table.file, table.bytes
                            )),
                            Some(_) => {}
                        },
                    }
                }
            }
        }
        Ok(missing)
    }

    /// Fails unless `record` is of the current format and all its outputs are stored.
    fn check_committable(&self, record: &Record) -> Result<(), StoreError> {
        if record.format_version != FORMAT_VERSION {
            return Err(StoreError::WrongRecordVersion {
                fingerprint: record.fingerprint,
                stage: record.stage.clone(),
                found: record.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let missing = self.missing_outputs(record)?;
        if !missing.is_empty() {
            return Err(StoreError::Incomplete {
                fingerprint: record.fingerprint,
                stage: record.stage.clone(),
                missing,
            });
        }
        Ok(())
    }

    /// The stage of some record referencing the output `digest`, to name in error messages.
    /// Scans the index, so only called when something has already gone wrong.
    pub(crate) fn stage_referencing(&self, digest: &Digest) -> Option<String> {
        let mut stage = None;
        // Only for a message: a database that fails here fails louder elsewhere.
        let _ = self.inner.records.for_each(|_, value| {
            if stage.is_none() {
                if let Ok(record) = serde_json::from_slice::<Record>(&value) {
                    if record
                        .outputs
                        .values()
                        .any(|output| output.digest() == *digest)
                    {
                        stage = Some(record.stage);
                    }
                }
            }
            Ok(())
        });
        stage
    }

    /// The cheap presence check of [`Store::get`]: a blob key, or a table file of the
    /// recorded size.
    fn output_present(&self, output: &Output) -> Result<bool, StoreError> {
        Ok(match output {
            Output::Blob { digest, .. } => self.has_blob(digest)?,
            Output::Table(table) => {
                is_table_file(&table.file) && self.table_file_len(&table.file) == Some(table.bytes)
            }
        })
    }

    /// The size of a table file, if it exists.
    fn table_file_len(&self, file: &str) -> Option<u64> {
        std::fs::metadata(self.inner.dir.join(file))
            .ok()
            .map(|meta| meta.len())
    }

    fn describe_record(&self, fingerprint: &Digest) -> String {
        format!(
            "record {} in `{}`",
            fingerprint.short(),
            self.inner.dir.display()
        )
    }
}
