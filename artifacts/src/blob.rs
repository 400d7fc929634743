//! Blobs: small outputs (YAML, JSON) kept in sled under the blake3 digest of their bytes.
//!
//! Writing a blob does not flush; [`Store::commit`](crate::Store::commit) flushes before it
//! writes the record that references the blob. Reading a blob re-hashes it.

use crate::digest::Digest;
use crate::error::StoreError;
use crate::store::Store;

impl Store {
    /// Stores `bytes` and returns their digest. Idempotent: storing the same bytes again is
    /// a no-op (and repairs a stored copy that was damaged).
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        self.check_writable()?;
        let digest = Digest::of(bytes);
        let key = digest.as_bytes();
        let stored = self.inner.blobs.get(key)?;
        if stored.as_deref() != Some(bytes) {
            self.inner.blobs.insert(key, bytes)?;
        }
        Ok(digest)
    }

    /// Returns the blob stored under `digest`, after checking that its bytes still hash to
    /// it ([`StoreError::CorruptBlob`] otherwise; [`StoreError::MissingBlob`] if absent).
    pub fn get_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let Some(bytes) = self.inner.blobs.get(digest.as_bytes())? else {
            return Err(StoreError::MissingBlob {
                digest: *digest,
                store: self.inner.dir.clone(),
                stage: self.stage_referencing(digest),
            });
        };
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(StoreError::CorruptBlob {
                digest: *digest,
                actual,
                store: self.inner.dir.clone(),
                stage: self.stage_referencing(digest),
            });
        }
        Ok(bytes.to_vec())
    }

    /// Whether a blob is stored under `digest` (without reading or verifying it).
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.inner.blobs.contains_key(digest.as_bytes())
    }

    /// The stored length of the blob under `digest`, if there is one.
    pub(crate) fn blob_len(&self, digest: &Digest) -> Result<Option<u64>, StoreError> {
        let stored = self.inner.blobs.get(digest.as_bytes())?;
        Ok(stored.map(|bytes| bytes.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use crate::{OnLocked, Store, StoreError};

    use super::*;

    #[test]
    fn damaged_blob_is_reported_and_repaired_by_putting_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
        let digest = store.put_blob(b"model: tiny").unwrap();
        // Damage the stored bytes behind the store's back.
        store
            .inner
            .blobs
            .insert(digest.as_bytes(), &b"model: tinY"[..])
            .unwrap();

        let err = store.get_blob(&digest).unwrap_err();
        let StoreError::CorruptBlob {
            digest: named,
            actual,
            ..
        } = &err
        else {
            panic!("expected CorruptBlob, got {err:?}");
        };
        assert_eq!(*named, digest);
        assert_eq!(*actual, Digest::of(b"model: tinY"));
        assert!(err.to_string().contains("--force"), "{err}");

        assert_eq!(store.put_blob(b"model: tiny").unwrap(), digest);
        assert_eq!(store.get_blob(&digest).unwrap(), b"model: tiny");
    }

    #[test]
    fn missing_blob_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
        let err = store.get_blob(&Digest::of(b"never stored")).unwrap_err();
        assert!(matches!(err, StoreError::MissingBlob { .. }), "{err:?}");
        assert!(!store.has_blob(&Digest::of(b"never stored")).unwrap());
    }
}
