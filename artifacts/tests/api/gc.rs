//! Garbage collection: unreferenced outputs go, referenced ones stay.

use std::collections::BTreeSet;

use snni_artifacts::{Digest, Failure, Output};

use crate::support::{commit_sample, sample_df, temp_store};

#[test]
fn gc_frees_unreferenced_outputs_and_keeps_referenced_ones() {
    let (_dir, store) = temp_store();
    let kept = commit_sample(&store, "bench", "1");
    let dropped = commit_sample(&store, "bench", "2");
    store
        .record_failure(&Digest::of(b"old failure"), &Failure::new("boom", 1))
        .unwrap();
    // Outputs written but never committed (a crashed run) are garbage too.
    let orphan_blob = store.put_blob(b"orphan").unwrap();
    let orphan_table = store.write_table("orphan", &mut sample_df()).unwrap();

    let Output::Table(kept_table) = &kept.outputs["metrics"] else {
        unreachable!()
    };
    let Output::Table(dropped_table) = &dropped.outputs["metrics"] else {
        unreachable!()
    };
    let expected_bytes = dropped.total_bytes() + orphan_table.bytes + b"orphan".len() as u64;

    let summary = store.gc(&BTreeSet::from([kept.fingerprint])).unwrap();
    assert_eq!(summary.records_removed, 1);
    assert_eq!(summary.failures_removed, 1);
    assert_eq!(summary.blobs_removed, 2);
    assert_eq!(summary.tables_removed, 2);
    assert_eq!(summary.bytes_freed, expected_bytes);

    assert_eq!(store.records().unwrap(), vec![kept.clone()]);
    assert_eq!(store.get(&kept.fingerprint).unwrap(), Some(kept.clone()));
    assert_eq!(store.read_table(kept_table).unwrap(), sample_df());
    let Output::Blob { digest, .. } = &kept.outputs["config"] else {
        unreachable!()
    };
    assert_eq!(store.get_blob(digest).unwrap(), b"seed: 1\n");

    assert_eq!(store.get(&dropped.fingerprint).unwrap(), None);
    assert!(!store.table_path(dropped_table).exists());
    assert!(!store.table_path(&orphan_table).exists());
    assert!(!store.has_blob(&orphan_blob).unwrap());

    // A second pass finds nothing more.
    let again = store.gc(&BTreeSet::from([kept.fingerprint])).unwrap();
    assert_eq!(again.bytes_freed, 0);
}

#[test]
fn gc_keeps_outputs_shared_with_a_kept_record() {
    let (_dir, store) = temp_store();
    // Both records reference the same config blob ("seed: 1") and identical tables.
    let kept = commit_sample(&store, "bench", "1");
    let mut other = kept.clone();
    other.fingerprint = Digest::of(b"other");
    store.commit(&other).unwrap();

    let summary = store.gc(&BTreeSet::from([kept.fingerprint])).unwrap();
    assert_eq!(summary.records_removed, 1);
    assert_eq!(
        (
            summary.blobs_removed,
            summary.tables_removed,
            summary.bytes_freed
        ),
        (0, 0, 0)
    );
    assert_eq!(store.get(&kept.fingerprint).unwrap(), Some(kept));
}

#[test]
fn gc_with_nothing_to_keep_empties_the_store() {
    let (_dir, store) = temp_store();
    commit_sample(&store, "bench", "1");
    let summary = store.gc(&BTreeSet::new()).unwrap();
    assert_eq!(summary.records_removed, 1);
    assert!(summary.bytes_freed > 0);
    assert!(store.records().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(store.dir().join("tables"))
            .unwrap()
            .count(),
        0
    );
}
