//! Committing records and looking them up.

use snni_artifacts::{Digest, Failure, OnLocked, Output, Record, Store, StoreError, TableRef};

use crate::support::{commit_sample, sample_df, temp_store};

#[test]
fn commit_then_get_returns_the_record() {
    let (dir, store) = temp_store();
    let record = commit_sample(&store, "bench", "1");
    assert_eq!(
        store.get(&record.fingerprint).unwrap(),
        Some(record.clone())
    );
    assert_eq!(store.get(&Digest::of(b"unknown")).unwrap(), None);

    drop(store);
    let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
    assert_eq!(store.get(&record.fingerprint).unwrap(), Some(record));
}

#[test]
fn commit_keeps_meta_and_replaces_an_earlier_record() {
    let (_dir, store) = temp_store();
    let fingerprint = Digest::of(b"fp");
    let mut record = Record::new(fingerprint, "report", None);
    record.meta = serde_json::json!({"seconds": 1.5, "host": "ci"});
    store.commit(&record).unwrap();
    assert_eq!(store.get(&fingerprint).unwrap().unwrap().meta["host"], "ci");

    record.meta = serde_json::json!({"seconds": 0.5});
    store.commit(&record).unwrap();
    assert_eq!(store.get(&fingerprint).unwrap(), Some(record));
    assert_eq!(store.records().unwrap().len(), 1);
}

#[test]
fn commit_clears_the_failure_of_its_fingerprint() {
    let (_dir, store) = temp_store();
    let fingerprint = Digest::of(b"flaky");
    store
        .record_failure(&fingerprint, &Failure::new("timeout", 1))
        .unwrap();
    store
        .commit(&Record::new(fingerprint, "flaky", None))
        .unwrap();
    assert_eq!(store.failure(&fingerprint).unwrap(), None);
}

/// The durability rule: an index entry is never written before its outputs are stored.
#[test]
fn commit_refuses_a_record_whose_blob_was_never_stored() {
    let (_dir, store) = temp_store();
    let fingerprint = Digest::of(b"fp");
    let record = Record::new(fingerprint, "train", None).with_output(
        "weights",
        Output::blob(Digest::of(b"not stored"), 10, "application/json"),
    );
    let err = store.commit(&record).unwrap_err();
    let StoreError::Incomplete { missing, .. } = &err else {
        panic!("expected Incomplete, got {err:?}")
    };
    assert_eq!(missing.len(), 1);
    assert!(missing[0].contains("output `weights`"), "{err}");
    assert!(err.to_string().contains("not in the store"), "{err}");
    assert_eq!(
        store.record(&fingerprint).unwrap(),
        None,
        "nothing may be indexed"
    );
}

#[test]
fn commit_refuses_a_table_that_was_not_written_to_this_store() {
    let (_dir, store) = temp_store();
    let table = TableRef {
        name: "metrics".into(),
        file: "tables/metrics-0123456789abcdef.parquet".into(),
        digest: Digest::of(b"elsewhere"),
        rows: 4,
        bytes: 100,
    };
    let record =
        Record::new(Digest::of(b"fp"), "bench", None).with_output("metrics", Output::Table(table));
    let err = store.commit(&record).unwrap_err();
    assert!(matches!(err, StoreError::Incomplete { .. }), "{err:?}");
    assert!(
        err.to_string().contains("was not written to this store"),
        "{err}"
    );
}

#[test]
fn commit_refuses_a_blob_of_the_wrong_size_or_a_table_path_outside_tables() {
    let (_dir, store) = temp_store();
    let digest = store.put_blob(b"abc").unwrap();
    let mut df = sample_df();
    let mut table = store.write_table("t", &mut df).unwrap();
    table.file = "tables/../db/conf".into();
    let record = Record::new(Digest::of(b"fp"), "s", None)
        .with_output("b", Output::blob(digest, 4, "text/plain"))
        .with_output("t", Output::Table(table));
    let StoreError::Incomplete { missing, .. } = store.commit(&record).unwrap_err() else {
        panic!()
    };
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(
        missing[0].contains("has 3 bytes, the record says 4"),
        "{missing:?}"
    );
    assert!(missing[1].contains("not a file in tables/"), "{missing:?}");
}

#[test]
fn commit_refuses_a_record_of_another_format_version() {
    let (_dir, store) = temp_store();
    let mut record = Record::new(Digest::of(b"fp"), "s", None);
    record.format_version = 99;
    let err = store.commit(&record).unwrap_err();
    assert!(
        matches!(err, StoreError::WrongRecordVersion { found: 99, .. }),
        "{err:?}"
    );
}

#[test]
fn get_treats_a_record_with_a_missing_table_file_as_a_miss() {
    let (_dir, store) = temp_store();
    let record = commit_sample(&store, "bench", "1");
    let Output::Table(table) = &record.outputs["metrics"] else {
        unreachable!()
    };
    std::fs::remove_file(store.table_path(table)).unwrap();
    assert_eq!(store.get(&record.fingerprint).unwrap(), None);
    // The raw record is still there for `show`, with the problem spelled out.
    assert_eq!(
        store.record(&record.fingerprint).unwrap(),
        Some(record.clone())
    );
    let missing = store.missing_outputs(&record).unwrap();
    assert!(missing[0].contains("is missing"), "{missing:?}");
}

#[test]
fn records_are_listed_by_stage_and_shard() {
    let (_dir, store) = temp_store();
    let b2 = commit_sample(&store, "bench", "2");
    let a = commit_sample(&store, "analyze", "9");
    let b1 = commit_sample(&store, "bench", "1");
    let listed = store.records().unwrap();
    assert_eq!(listed, vec![a, b1, b2]);
    assert!(listed.iter().all(|record| record.total_bytes() > 0));
}

#[test]
fn fingerprints_resolve_from_a_prefix() {
    let (_dir, store) = temp_store();
    let record = commit_sample(&store, "bench", "1");
    let hex = record.fingerprint.to_string();
    assert_eq!(
        store.resolve_fingerprint(&hex[..8]).unwrap(),
        record.fingerprint
    );
    assert_eq!(
        store.resolve_fingerprint(&hex.to_uppercase()).unwrap(),
        record.fingerprint
    );
    let err = store.resolve_fingerprint("zz").unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownFingerprint { .. }),
        "{err:?}"
    );
    commit_sample(&store, "bench", "2");
    let err = store.resolve_fingerprint("").unwrap_err();
    assert!(
        matches!(err, StoreError::AmbiguousFingerprint { count: 2, .. }),
        "{err:?}"
    );
}
