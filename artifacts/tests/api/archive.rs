//! Export to a tar archive and import elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use snni_artifacts::{Digest, OnLocked, Output, StageState, Store, StoreError, FORMAT_VERSION};

use crate::support::{commit_sample, sample_df, temp_store};

fn tables_of(store: &Store) -> Vec<polars::prelude::DataFrame> {
    let mut frames = Vec::new();
    for record in store.records().unwrap() {
        for output in record.outputs.values() {
            if let Output::Table(table) = output {
                frames.push(store.read_table(table).unwrap());
            }
        }
    }
    frames
}

#[test]
fn export_then_import_gives_identical_records_and_readable_tables() {
    let (_src_dir, src) = temp_store();
    commit_sample(&src, "bench", "1");
    commit_sample(&src, "bench", "2");
    commit_sample(&src, "analyze", "3");
    let state = StageState {
        format_version: FORMAT_VERSION,
        fingerprint: Digest::of(b"3"),
        kind: "analyze".into(),
        version: 1,
        params: serde_json::json!({}),
        upstream: BTreeMap::new(),
        seed: 0,
    };
    src.set_stage_state("analyze", &state).unwrap();

    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("study.tar");
    let exported = src.export(&archive, None).unwrap();
    assert_eq!(
        (exported.records, exported.blobs, exported.tables),
        (3, 3, 3)
    );
    assert_eq!(exported.bytes, std::fs::metadata(&archive).unwrap().len());
    assert!(exported.missing.is_empty());

    let (_dst_dir, dst) = temp_store();
    let imported = dst.import(&archive).unwrap();
    assert_eq!((imported.records_added, imported.records_present), (3, 0));
    assert_eq!((imported.blobs, imported.tables), (3, 3));
    assert_eq!(dst.records().unwrap(), src.records().unwrap());
    assert_eq!(tables_of(&dst), vec![sample_df(), sample_df(), sample_df()]);
    for record in dst.records().unwrap() {
        assert_eq!(dst.get(&record.fingerprint).unwrap(), Some(record));
    }
    assert_eq!(dst.stage_state("analyze").unwrap(), Some(state));

    // Importing again changes nothing.
    let again = dst.import(&archive).unwrap();
    assert_eq!((again.records_added, again.records_present), (0, 3));
}

#[test]
fn export_of_chosen_fingerprints_takes_only_their_outputs() {
    let (_src_dir, src) = temp_store();
    let kept = commit_sample(&src, "bench", "1");
    commit_sample(&src, "bench", "2");
    let unknown = Digest::of(b"never run");
    let only = BTreeSet::from([kept.fingerprint, unknown]);

    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("one.tar");
    let exported = src.export(&archive, Some(&only)).unwrap();
    assert_eq!(
        (exported.records, exported.blobs, exported.tables),
        (1, 1, 1)
    );
    assert_eq!(exported.missing, vec![unknown]);

    let (_dst_dir, dst) = temp_store();
    dst.import(&archive).unwrap();
    assert_eq!(dst.records().unwrap(), vec![kept]);
}

#[test]
fn export_refuses_to_carry_a_corrupt_table() {
    let (_src_dir, src) = temp_store();
    let record = commit_sample(&src, "bench", "1");
    let Output::Table(table) = &record.outputs["metrics"] else {
        unreachable!()
    };
    std::fs::write(src.table_path(table), b"not parquet").unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = src.export(&out.path().join("x.tar"), None).unwrap_err();
    assert!(matches!(err, StoreError::CorruptTable { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "no partial archive is left"
    );
}

/// Rewrites an archive, replacing the contents of the entry at `victim`.
fn tamper(archive: &Path, victim: &str, contents: &[u8]) -> std::path::PathBuf {
    let tampered = archive.with_extension("tampered.tar");
    let mut input = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(&tampered).unwrap());
    for entry in input.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if path.to_str().unwrap().starts_with(victim) {
            bytes = contents.to_vec();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap();
    tampered
}

#[test]
fn import_verifies_every_digest() {
    let (_src_dir, src) = temp_store();
    let record = commit_sample(&src, "bench", "1");
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("study.tar");
    src.export(&archive, None).unwrap();

    let Output::Blob { digest, .. } = &record.outputs["config"] else {
        unreachable!()
    };
    for victim in [format!("blobs/{digest}"), "tables/".to_string()] {
        let tampered = tamper(&archive, &victim, b"tampered");
        let (_dst_dir, dst) = temp_store();
        let err = dst.import(&tampered).unwrap_err();
        let StoreError::CorruptArchive { entry, .. } = &err else {
            panic!("expected CorruptArchive, got {err:?}")
        };
        assert!(entry.starts_with(&victim), "{err}");
        assert_eq!(
            dst.records().unwrap(),
            vec![],
            "nothing is indexed from a corrupt archive"
        );
    }
}

#[test]
fn import_rejects_a_file_that_is_not_an_snni_archive() {
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("other.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    builder
        .append_data(&mut header, "readme.txt", &b"hi"[..])
        .unwrap();
    builder.into_inner().unwrap();

    let (_dst_dir, dst) = temp_store();
    let err = dst.import(&path).unwrap_err();
    assert!(matches!(err, StoreError::InvalidArchive { .. }), "{err:?}");
    assert!(err.to_string().contains("snni-archive.json"), "{err}");
}

#[test]
fn a_read_only_store_can_export() {
    let (dir, src) = temp_store();
    commit_sample(&src, "bench", "1");
    drop(src);
    let src = Store::open_read_only(dir.path(), OnLocked::Fail).unwrap();
    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        src.export(&out.path().join("x.tar"), None).unwrap().records,
        1
    );
}
