//! Opening stores, blobs, failures and stage states.

use std::collections::BTreeMap;

use snni_artifacts::{Digest, Failure, OnLocked, StageState, Store, StoreError, FORMAT_VERSION};

use crate::support::temp_store;

#[test]
fn open_creates_only_the_last_folder_of_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("nested/store");
    let err = Store::open(&deep, OnLocked::Fail).unwrap_err();
    assert!(matches!(err, StoreError::NoParent { .. }), "{err:?}");
    assert!(err.to_string().contains("mkdir -p"), "{err}");
    assert!(!dir.path().join("nested").exists());
}

#[test]
fn an_empty_store_reads_as_empty_and_refuses_writes() {
    let store = Store::empty().unwrap();
    assert!(store.records().unwrap().is_empty());
    assert!(store.is_read_only());
    assert!(store.put_blob(b"x").is_err());
}

#[test]
fn a_database_that_lost_commits_is_damaged_until_repaired() {
    let (dir, store) = temp_store();
    let digest = store.put_blob(b"committed").unwrap();
    store.flush().unwrap();
    drop(store);
    // Another database in the store's place: sled opens it without complaint.
    std::fs::remove_dir_all(dir.path().join("db")).unwrap();
    drop(Store::empty().unwrap());
    std::fs::create_dir(dir.path().join("db")).unwrap();
    let err = Store::open(dir.path(), OnLocked::Fail).unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    assert!(err.to_string().contains("sled dropped the last"), "{err}");

    let store = Store::open_for_repair(dir.path(), OnLocked::Fail).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.damage.len(), 1, "{:?}", report.damage);
    assert!(store.repair(&report).unwrap().accepted_lost_commits);
    assert!(store.verify().unwrap().is_clean());
    assert!(!store.has_blob(&digest).unwrap());
    drop(store);
    Store::open(dir.path(), OnLocked::Fail).unwrap();
}

#[test]
fn a_database_sled_cannot_open_is_moved_aside() {
    let (dir, store) = temp_store();
    store.put_blob(b"committed").unwrap();
    store.flush().unwrap();
    drop(store);
    // sled's configuration file, overwritten.
    std::fs::write(dir.path().join("db/conf"), b"\xff\xfe garbage").unwrap();
    let err = Store::open_for_repair(dir.path(), OnLocked::Fail).unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    let moved = Store::quarantine_db(dir.path(), OnLocked::Fail).unwrap();
    assert!(moved.join("db").is_file());
    let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn open_creates_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = Store::open(&root, OnLocked::Fail).unwrap();
    assert!(root.join("db").is_dir());
    assert!(root.join("tables").is_dir());
    assert!(root.join("LOCK").is_file());
    assert_eq!(store.dir(), root);
    assert!(!store.is_read_only());
}

#[test]
fn read_only_open_of_a_missing_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open_read_only(&dir.path().join("nothing"), OnLocked::Fail).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(
        err.to_string().contains("there is no artifact store at"),
        "{err}"
    );
}

#[test]
fn read_only_store_reads_but_refuses_writes() {
    let (dir, store) = temp_store();
    let digest = store.put_blob(b"kept").unwrap();
    store.flush().unwrap();
    drop(store);

    let store = Store::open_read_only(dir.path(), OnLocked::Fail).unwrap();
    assert!(store.is_read_only());
    assert_eq!(store.get_blob(&digest).unwrap(), b"kept");
    let err = store.put_blob(b"new").unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
}

#[test]
fn blobs_round_trip_and_are_content_addressed() {
    let (_dir, store) = temp_store();
    let first = store.put_blob(b"{\"a\": 1}").unwrap();
    let again = store.put_blob(b"{\"a\": 1}").unwrap();
    assert_eq!(first, again);
    assert_eq!(first, Digest::of(b"{\"a\": 1}"));
    assert_eq!(store.get_blob(&first).unwrap(), b"{\"a\": 1}");
    assert!(store.has_blob(&first).unwrap());
    let empty = store.put_blob(b"").unwrap();
    assert_eq!(store.get_blob(&empty).unwrap(), b"");
}

#[test]
fn blobs_survive_reopening() {
    let (dir, store) = temp_store();
    let digest = store.put_blob(b"durable").unwrap();
    store.flush().unwrap();
    drop(store);
    let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
    assert_eq!(store.get_blob(&digest).unwrap(), b"durable");
}

#[test]
fn failures_are_recorded_and_cleared() {
    let (_dir, store) = temp_store();
    let fingerprint = Digest::of(b"shard 7");
    assert_eq!(store.failure(&fingerprint).unwrap(), None);

    let failure = Failure::new("the server closed the connection", 2);
    assert_eq!(failure.format_version, FORMAT_VERSION);
    store.record_failure(&fingerprint, &failure).unwrap();
    assert_eq!(store.failure(&fingerprint).unwrap(), Some(failure.clone()));
    assert_eq!(store.failures().unwrap(), vec![(fingerprint, failure)]);

    store.clear_failure(&fingerprint).unwrap();
    assert_eq!(store.failure(&fingerprint).unwrap(), None);
}

#[test]
fn stage_states_are_remembered_by_stage_name() {
    let (_dir, store) = temp_store();
    assert_eq!(store.stage_state("train").unwrap(), None);
    let state = StageState {
        format_version: FORMAT_VERSION,
        fingerprint: Digest::of(b"train inputs"),
        kind: "train".into(),
        version: 3,
        params: serde_json::json!({"epochs": 2, "lr": 0.01}),
        upstream: BTreeMap::from([("data".to_string(), Digest::of(b"data"))]),
        seed: 42,
    };
    store.set_stage_state("train", &state).unwrap();
    assert_eq!(store.stage_state("train").unwrap(), Some(state.clone()));

    let changed = StageState { seed: 43, ..state };
    store.set_stage_state("train", &changed).unwrap();
    assert_eq!(store.stage_state("train").unwrap(), Some(changed.clone()));
    assert_eq!(
        store.stage_states().unwrap(),
        BTreeMap::from([("train".to_string(), changed)])
    );
}

#[test]
fn store_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Store>();

    let (_dir, store) = temp_store();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || store.put_blob(format!("blob {i}").as_bytes()).unwrap())
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let digest = handle.join().unwrap();
        assert_eq!(
            store.get_blob(&digest).unwrap(),
            format!("blob {i}").as_bytes()
        );
    }
}
