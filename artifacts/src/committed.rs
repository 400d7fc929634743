//! The commit generation: how the store notices that sled lost committed work.
//!
//! sled replays its log when it opens a database and silently stops at the first record it
//! cannot read, so a truncated or partly overwritten `db/db` opens as an *older* database —
//! sometimes an empty one — without any error. To notice, every [`Store::flush`] bumps a
//! generation counter inside sled and then writes it to `<store>/COMMITTED`, outside sled.
//! The file is written after sled's flush returned, so on a healthy store sled's generation
//! is never behind it; when it is, sled dropped committed work and opening the store fails
//! with [`StoreError::Damaged`].
//!
//! The file is replaced by a rename but not fsynced: after a power loss it may be older
//! than sled (harmless) or missing (the check is skipped), never newer.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::error::StoreError;
use crate::guard;
use crate::store::Store;

/// Name of the generation file inside a store folder.
pub const COMMITTED_FILE: &str = "COMMITTED";
/// Key of the generation in sled's default tree.
const GENERATION_KEY: &[u8] = b"generation";

/// The generation recorded in `<store>/COMMITTED`, if the file is there and readable.
pub(crate) fn recorded(store: &Path) -> Option<u64> {
    std::fs::read_to_string(store.join(COMMITTED_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The generation sled holds (0 for a store written before generations existed).
pub(crate) fn in_db(db: &sled::Db, path: &Path) -> Result<u64, StoreError> {
    let value = guard::call(path, "reading", || db.get(GENERATION_KEY))?;
    Ok(value
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// The generation sled holds and the one `<store>/COMMITTED` records, if sled holds fewer.
pub(crate) fn lost_commits(
    store: &Path,
    db: &sled::Db,
    path: &Path,
) -> Result<Option<(u64, u64)>, StoreError> {
    let held = in_db(db, path)?;
    Ok(recorded(store)
        .filter(|&recorded| recorded > held)
        .map(|recorded| (held, recorded)))
}

/// Fails if sled holds an older generation than `<store>/COMMITTED` records.
pub(crate) fn check(store: &Path, db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    match lost_commits(store, db, path)? {
        Some((held, recorded)) => Err(StoreError::Damaged {
            path: path.to_path_buf(),
            problem: lost(held, recorded),
        }),
        None => Ok(()),
    }
}

/// Describes a database that lost commits.
pub(crate) fn lost(held: u64, recorded: u64) -> String {
    format!(
        "it holds commit {held} of the {recorded} this store made: sled dropped the last \
         {} while opening it, so the file was truncated or overwritten",
        if recorded - held == 1 {
            "commit".to_string()
        } else {
            format!("{} commits", recorded - held)
        }
    )
}

impl Store {
    /// Bumps the generation in sled (before a flush).
    pub(crate) fn bump_generation(&self) -> Result<u64, StoreError> {
        // Shards flush from several threads at once: read and bump under one lock, so
        // that no two flushes take the same generation.
        let _recorded = self.generation_lock();
        let next = in_db(&self.inner.db, &self.inner.db_path)? + 1;
        guard::call(&self.inner.db_path, "writing", || {
            self.inner
                .db
                .insert(GENERATION_KEY, &next.to_be_bytes())
                .map(drop)
        })?;
        Ok(next)
    }

    /// The lock over the generation, holding the highest one written to
    /// `<store>/COMMITTED` by this process.
    fn generation_lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.inner
            .recorded_generation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `generation` in `<store>/COMMITTED` (after a flush). A failure is logged, not
    /// returned: an old file only weakens the check, it never makes it fail.
    ///
    /// Concurrent flushes write one at a time (they share the temporary file), and a
    /// generation older than one already written is skipped, so the file only grows.
    pub(crate) fn record_generation(&self, generation: u64) {
        self.write_generation(generation, false);
    }

    /// Writes `generation` to `<store>/COMMITTED`; unless `force`, only if it is newer than
    /// what this process wrote before.
    fn write_generation(&self, generation: u64, force: bool) {
        let mut recorded = self.generation_lock();
        if !force && generation <= *recorded {
            return;
        }
        let path = self.inner.dir.join(COMMITTED_FILE);
        let temp = self.inner.dir.join(format!("{COMMITTED_FILE}.tmp"));
        let written = std::fs::write(&temp, format!("{generation}\n"))
            .and_then(|()| std::fs::rename(&temp, &path));
        match written {
            Ok(()) => *recorded = generation,
            // Said once per store: on a full disk every flush after the first would repeat it.
            Err(error) if !self.inner.generation_warned.swap(true, Ordering::Relaxed) => {
                tracing::warn!(path = %path.display(), %error, "could not record the commit generation");
            }
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "could not record the commit generation");
            }
        }
    }

    /// Accepts the database as it is: `<store>/COMMITTED` is set to sled's generation (after
    /// a repair has dealt with what was lost).
    pub(crate) fn accept_generation(&self) -> Result<(), StoreError> {
        let held = in_db(&self.inner.db, &self.inner.db_path)?;
        self.write_generation(held, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OnLocked;

    #[test]
    fn concurrent_flushes_leave_the_newest_generation_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..8u8 {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..25u8 {
                        store.put_blob(&[thread, i]).unwrap();
                        store.flush().unwrap();
                    }
                });
            }
        });
        let held = in_db(&store.inner.db, &store.inner.db_path).unwrap();
        assert!(held >= 200, "{held} generations for 200 flushes");
        assert_eq!(recorded(dir.path()), Some(held));
        assert!(!dir.path().join(format!("{COMMITTED_FILE}.tmp")).exists());
    }
}
