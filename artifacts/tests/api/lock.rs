//! The writer lock: a second opener is told who holds the store, or waits for it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use snni_artifacts::{OnLocked, Store, StoreError};

use crate::support::temp_store;

/// Set to a store folder to make [`helper_hold_lock`] hold that store's lock.
const HOLD_LOCK_ENV: &str = "SNNI_ARTIFACTS_TEST_HOLD_LOCK";
/// What [`helper_hold_lock`] prints once it holds the lock (libtest may print the test's
/// name on the same line first).
const READY: &str = "helper-holds-the-lock";

#[test]
fn a_second_open_in_this_process_is_refused_naming_our_pid() {
    let (dir, _store) = temp_store();
    let err = Store::open(dir.path(), OnLocked::Fail).unwrap_err();
    let StoreError::Locked { pid, command, path } = &err else {
        panic!("expected Locked, got {err:?}")
    };
    assert_eq!(*pid, Some(std::process::id()));
    assert!(!command.is_empty());
    assert_eq!(path, &dir.path().join("LOCK"));
    let message = err.to_string();
    assert!(
        message.contains(&format!("in use by pid {}", std::process::id())),
        "{message}"
    );

    let err = Store::open_read_only(dir.path(), OnLocked::Fail).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
}

#[test]
fn a_reader_of_a_held_store_reads_a_copy_naming_the_holder() {
    let (dir, store) = temp_store();
    let before = store.put_blob(b"committed before the reader came").unwrap();
    store.flush().unwrap();
    let reader = Store::open_read_only_live(dir.path()).unwrap();
    assert!(reader.is_snapshot() && reader.is_read_only());
    let holder = reader.held_by().expect("the reader names the holder");
    assert!(holder.contains(&std::process::id().to_string()), "{holder}");
    assert_eq!(
        reader.get_blob(&before).unwrap(),
        b"committed before the reader came"
    );
    // The copy is the store as of the copy: later commits are not in it, and the writer
    // goes on writing undisturbed.
    let after = store.put_blob(b"committed after").unwrap();
    store.flush().unwrap();
    assert!(reader.get_blob(&after).is_err());
    assert!(matches!(
        reader.put_blob(b"x"),
        Err(StoreError::ReadOnly { .. })
    ));
    drop(reader);
    assert_eq!(store.get_blob(&after).unwrap(), b"committed after");
    // A store nobody holds is opened directly, not copied.
    drop(store);
    let direct = Store::open_read_only_live(dir.path()).unwrap();
    assert!(direct.held_by().is_none() && !direct.is_snapshot());
}

#[test]
fn waiting_for_the_lock_succeeds_once_it_is_released() {
    let (dir, store) = temp_store();
    let digest = store.put_blob(b"written by the first holder").unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(store);
    });
    let second = Store::open(dir.path(), OnLocked::Wait).unwrap();
    releaser.join().unwrap();
    assert_eq!(
        second.get_blob(&digest).unwrap(),
        b"written by the first holder"
    );
}

#[test]
fn the_lock_is_free_again_after_the_store_is_dropped() {
    let (dir, store) = temp_store();
    let clone = store.clone();
    drop(store);
    assert!(
        Store::open(dir.path(), OnLocked::Fail).is_err(),
        "a clone still holds it"
    );
    drop(clone);
    Store::open(dir.path(), OnLocked::Fail).unwrap();
}

#[test]
fn another_process_holding_the_lock_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "lock::helper_hold_lock",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD_LOCK_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .map(Result::unwrap)
        .any(|line| line.ends_with(READY));
    assert!(ready, "the helper process did not take the lock");

    let err = Store::open(dir.path(), OnLocked::Fail).unwrap_err();
    let StoreError::Locked { pid, command, .. } = &err else {
        panic!("expected Locked, got {err:?}")
    };
    assert_eq!(*pid, Some(child.id()));
    assert!(command.contains("helper_hold_lock"), "{command}");
    assert!(
        err.to_string().contains(&format!("pid {}", child.id())),
        "{err}"
    );

    // Closing its stdin lets the helper exit; then the lock is ours to take.
    child.stdin.take().unwrap().flush().unwrap();
    assert!(child.wait().unwrap().success());
    Store::open(dir.path(), OnLocked::Fail).unwrap();
}

/// Not a test on its own: when [`HOLD_LOCK_ENV`] names a store folder, opens the store,
/// prints [`READY`], and holds the lock until stdin closes. Used by the test above.
#[test]
fn helper_hold_lock() {
    let Some(dir) = std::env::var_os(HOLD_LOCK_ENV) else {
        return;
    };
    let _store = Store::open(&PathBuf::from(dir), OnLocked::Fail).unwrap();
    println!("{READY}");
    std::io::stdout().flush().unwrap();
    let mut rest = String::new();
    while std::io::stdin().read_line(&mut rest).unwrap() > 0 {}
}
