//! Shared fixtures: a store in a temporary folder, a sample table, a sample record.

use polars::prelude::DataFrame;
use snni_artifacts::{Digest, OnLocked, Output, Record, Store};
use tempfile::TempDir;

/// A fresh store in a temporary folder (kept alive by the returned `TempDir`).
pub fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
    (dir, store)
}

/// A small table with integer, float and string columns.
pub fn sample_df() -> DataFrame {
    polars::df!(
        "layer" => [1i64, 2, 3, 4],
        "latency_ms" => [0.5f64, 1.25, 2.0, 12.75],
        "protocol" => ["ot", "he", "gc", "he"],
    )
    .unwrap()
}

/// Commits a record for `seed` with one blob and one table and returns it.
pub fn commit_sample(store: &Store, stage: &str, seed: &str) -> Record {
    let config = format!("seed: {seed}\n");
    let digest = store.put_blob(config.as_bytes()).unwrap();
    let mut df = sample_df();
    let table = store
        .write_table(&format!("{stage}-metrics-{seed}"), &mut df)
        .unwrap();
    let record = Record::new(
        Digest::of(seed.as_bytes()),
        stage,
        Some(format!("shard-{seed}")),
    )
    .with_output(
        "config",
        Output::blob(digest, config.len() as u64, "application/yaml"),
    )
    .with_output("metrics", Output::Table(table));
    store.commit(&record).unwrap();
    record
}
