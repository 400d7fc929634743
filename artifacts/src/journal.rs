//! The journal: small JSON notes an executor keeps beside the index — which cluster jobs
//! hold which shards, how often a shard was attempted — so that a coordinator killed and
//! started again can reattach instead of submitting twice. Keys are `/`-separated paths;
//! values are any JSON, wrapped with the format version like every stored value.
//!
//! Journal entries are not outputs: `export` leaves them out and `gc` leaves them alone.

use serde::{Deserialize, Serialize};

use crate::codec::{self, Versioned};
use crate::error::StoreError;
use crate::store::Store;
use crate::FORMAT_VERSION;

/// One journal value as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalEntry {
    format_version: u32,
    value: serde_json::Value,
}

impl Versioned for JournalEntry {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

impl Store {
    /// Writes `value` under `key` and makes it durable before returning.
    pub fn put_journal(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.check_writable()?;
        let entry = JournalEntry {
            format_version: FORMAT_VERSION,
            value: value.clone(),
        };
        let bytes = codec::encode(&entry, || format!("journal entry `{key}`"))?;
        self.inner.journal.insert(key.as_bytes(), bytes)?;
        self.flush()
    }

    /// The value under `key`, if any.
    pub fn journal(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let Some(bytes) = self.inner.journal.get(key.as_bytes())? else {
            return Ok(None);
        };
        let entry: JournalEntry = codec::decode(&bytes, || format!("journal entry `{key}`"))?;
        Ok(Some(entry.value))
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub fn journal_entries(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let mut entries = Vec::new();
        for (key, bytes) in self.inner.journal.scan_prefix(prefix.as_bytes())? {
            let key = String::from_utf8_lossy(&key).into_owned();
            let entry: JournalEntry = codec::decode(&bytes, || format!("journal entry `{key}`"))?;
            entries.push((key, entry.value));
        }
        Ok(entries)
    }

    /// Removes the entry under `key` (durably); removing a missing key is a no-op.
    pub fn remove_journal(&self, key: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        self.inner.journal.remove(key.as_bytes())?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{OnLocked, Store};

    #[test]
    fn journal_entries_round_trip_by_prefix_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
            store.put_journal("slurm/a/1", &json!({"job": 1})).unwrap();
            store.put_journal("slurm/a/2", &json!({"job": 2})).unwrap();
            store.put_journal("slurm/b/1", &json!({"job": 3})).unwrap();
            store.remove_journal("slurm/a/2").unwrap();
        }
        let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
        let entries = store.journal_entries("slurm/a/").unwrap();
        assert_eq!(entries, vec![("slurm/a/1".to_string(), json!({"job": 1}))]);
        assert_eq!(store.journal("slurm/b/1").unwrap(), Some(json!({"job": 3})));
        assert_eq!(store.journal("slurm/c").unwrap(), None);
    }
}
