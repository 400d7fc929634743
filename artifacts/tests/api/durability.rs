//! Crash safety: a writer killed with SIGKILL at an arbitrary moment never leaves a record
//! whose outputs are missing or damaged.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use snni_artifacts::{Digest, OnLocked, Output, Record, Store};

use crate::support::sample_df;

/// Set to a store folder to make [`helper_commit_forever`] write to that store.
const COMMIT_LOOP_ENV: &str = "SNNI_ARTIFACTS_TEST_COMMIT_LOOP";
/// What [`helper_commit_forever`] prints after its first commit.
const READY: &str = "helper-has-committed";

#[test]
fn a_killed_writer_leaves_only_complete_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability::helper_commit_forever",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(COMMIT_LOOP_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|line| line.unwrap().ends_with(READY)),
        "the helper never committed"
    );
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL: no destructors, no final flush
    child.wait().unwrap();

    let store = Store::open(dir.path(), OnLocked::Fail).unwrap();
    let records = store.records().unwrap();
    assert!(!records.is_empty());
    for record in &records {
        assert_eq!(
            store.missing_outputs(record).unwrap(),
            Vec::<String>::new(),
            "{record:?}"
        );
        assert_eq!(
            store.get(&record.fingerprint).unwrap().as_ref(),
            Some(record)
        );
        for output in record.outputs.values() {
            match output {
                Output::Blob { digest, .. } => {
                    store.get_blob(digest).unwrap();
                }
                Output::Table(table) => assert_eq!(store.read_table(table).unwrap(), sample_df()),
            }
        }
    }
}

/// Not a test on its own: when [`COMMIT_LOOP_ENV`] names a store folder, commits records
/// (each with a new blob and a new table file) until it is killed.
#[test]
fn helper_commit_forever() {
    let Some(dir) = std::env::var_os(COMMIT_LOOP_ENV) else {
        return;
    };
    let store = Store::open(&PathBuf::from(dir), OnLocked::Fail).unwrap();
    for i in 0u64.. {
        let blob = format!("shard: {i}\n");
        let digest = store.put_blob(blob.as_bytes()).unwrap();
        let table = store
            .write_table(&format!("metrics-{i}"), &mut sample_df())
            .unwrap();
        let record = Record::new(Digest::of(&i.to_le_bytes()), "bench", Some(i.to_string()))
            .with_output(
                "config",
                Output::blob(digest, blob.len() as u64, "application/yaml"),
            )
            .with_output("metrics", Output::Table(table));
        store.commit(&record).unwrap();
        if i == 0 {
            println!("{READY}");
        }
    }
}
