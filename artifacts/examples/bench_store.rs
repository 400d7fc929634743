//! Times the store operations a fully cached run depends on: opening the store and one
//! `get` per shard. Figures are written down in `artifacts/BENCHMARKS.md`.
//!
//! Run with `cargo run --release -p snni-artifacts --example bench_store -- [SHARDS]`
//! (default 10,000 shards).

use std::time::Instant;

use snni_artifacts::{Digest, OnLocked, Output, Record, Store, StoreError};

fn main() -> Result<(), StoreError> {
    let shards: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let fingerprints: Vec<Digest> = (0..shards).map(|i| Digest::of(&i.to_le_bytes())).collect();

    let store = Store::open(dir.path(), OnLocked::Fail)?;
    let mut df = polars::df!("shard" => [0i64, 1, 2], "ms" => [1.0f64, 2.0, 3.0]).expect("a table");
    let table = store.write_table("latency", &mut df)?;
    let started = Instant::now();
    for (i, fingerprint) in fingerprints.iter().enumerate() {
        let config = format!("shard: {i}\nprotocol: he\n");
        let digest = store.put_blob(config.as_bytes())?;
        let mut record = Record::new(*fingerprint, "bench", Some(format!("s{i}")))
            .with_output(
                "config",
                Output::blob(digest, config.len() as u64, "application/yaml"),
            )
            .with_output("latency", Output::Table(table.clone()));
        record.meta = serde_json::json!({"seconds": 0.25, "host": "bench"});
        store.commit(&record)?;
    }
    report("commit", shards, started);
    drop(store);

    let started = Instant::now();
    let store = Store::open(dir.path(), OnLocked::Fail)?;
    report("open", 1, started);

    // The lookup and decode alone, without `get`'s presence checks of the outputs.
    let started = Instant::now();
    for fingerprint in &fingerprints {
        assert!(store.record(fingerprint)?.is_some());
    }
    report("record", shards, started);

    let started = Instant::now();
    let mut hits = 0;
    for fingerprint in &fingerprints {
        hits += usize::from(store.get(fingerprint)?.is_some());
    }
    report("get", shards, started);
    assert_eq!(hits as u64, shards);

    let started = Instant::now();
    let listed = store.records()?.len();
    report("records", 1, started);
    assert_eq!(listed as u64, shards);
    Ok(())
}

fn report(what: &str, count: u64, started: Instant) {
    let total = started.elapsed();
    let each = total / u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    println!("{what:>8}: {count:>6} in {total:>10.2?} ({each:.2?} each)");
}
