//! End to end: a store that survives damage (exit 5 in bounded time, `artifacts verify
//! --repair`, then a clean run), readers on a read-only mount, which commands may create
//! a store, and a full disk.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Run, Scratch};

/// How long a command on a damaged store may take before the test calls it a hang: the
/// issue's bound (the store's own open watchdog gives up after 5 s on a small store).
const HANG: Duration = Duration::from_secs(10);

/// Runs `snni` in `scratch` and fails if it has not finished within [`HANG`].
fn run_bounded(scratch: &Scratch, args: &[&str]) -> Run {
    let mut child = scratch
        .snni(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`snni {}` hung: still running after {HANG:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run::from(child.wait_with_output().unwrap())
}

/// A study with every kind of stored output: network blobs (synth), metering blobs
/// (profile, one tiny Local shard) and Parquet tables (dataset).
fn manifest(count: usize) -> String {
    format!(
        "name: damage\nseed: 5\nstore: store\nsettings:\n  local: {{}}\nstages:\n  synth:\n    kind: synthesize\n    params:\n      count: {count}\n      input: {{h: 8, w: 8, c: 2}}\n      layers: {{min: 1, max: 2}}\n      filters: [4]\n  profile:\n    kind: profile\n    needs: [synth]\n    params:\n      networks: [synth-0000]\n      runs: 1\n      timeout: 120\n  dataset:\n    kind: dataset\n    needs: [profile]\n"
    )
}

/// Copies the folder `from` to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Where `needle` occurs in `haystack`, every time. sled's log keeps superseded copies of
/// a page beside the live one, so damaging a value means damaging every copy.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(at, _)| at)
        .collect()
}

/// Inverts `len` bytes of `file` from `at`.
fn flip(file: &Path, at: usize, len: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    let end = (at + len).min(bytes.len());
    for byte in &mut bytes[at..end] {
        *byte ^= 0xff;
    }
    std::fs::write(file, bytes).unwrap();
}

/// The ways a store is damaged, each applied to a fresh copy of the same store.
fn damage(store: &Path, case: &str) {
    let db = store.join("db/db");
    let len = std::fs::metadata(&db).unwrap().len();
    let bytes = std::fs::read(&db).unwrap();
    match case {
        "truncated to 4 KiB" => truncate(&db, 4096),
        "truncated to a quarter" => truncate(&db, len / 4),
        "truncated to three quarters" => truncate(&db, len * 3 / 4),
        "tail zeroed" => {
            let mut zeroed = bytes;
            let half = zeroed.len() / 2;
            zeroed[half..].fill(0);
            std::fs::write(&db, zeroed).unwrap();
        }
        "flipped bytes in a blob" => {
            // A network description, stored as a blob.
            let found = occurrences(&bytes, b"name: synth-0001");
            assert!(!found.is_empty(), "no network blob in db/db");
            for at in found {
                flip(&db, at, 16);
            }
        }
        "flipped bytes in the index" => {
            // A record: JSON with the record's fields.
            let found = occurrences(&bytes, b"\"shard\":\"synth-0002\"");
            assert!(!found.is_empty(), "no record in db/db");
            for at in found {
                flip(&db, at, 8);
            }
        }
        "flipped bytes in a table" => {
            let table = std::fs::read_dir(store.join("tables"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().contains("dataset-tables-layers-"))
                .expect("the layers table");
            let size = std::fs::metadata(&table).unwrap().len() as usize;
            flip(&table, size / 2, 32);
        }
        other => panic!("unknown damage {other}"),
    }
}

fn truncate(file: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The `synth` stage's record outputs (deterministic), via `artifacts show`.
fn synth_outputs(scratch: &Scratch, store: &str) -> String {
    scratch
        .run(&["artifacts", "show", "--store", store, "synth"])
        .expect_code(0)
        .stdout
}

#[test]
fn damaged_stores_fail_in_bounded_time_and_verify_repair_makes_them_runnable() {
    let scratch = Scratch::new();
    // Enough networks that the database spans several of sled's segments.
    let manifest = scratch.write("study.yaml", &manifest(3000));
    let manifest = manifest.to_str().unwrap();
    scratch.run(&["run", manifest]).expect_code(0);
    scratch
        .run(&["artifacts", "verify", "--store", "store"])
        .expect_code(0);
    let original = synth_outputs(&scratch, "store");

    // Whether every command fails at opening the store (sled cannot replay its log), may
    // (bytes flipped inside a value: sled notices when it reads that page, verify always
    // does), or does not (a table file: only verify and readers of the table notice).
    #[derive(PartialEq)]
    enum Opening {
        Fails,
        MayFail,
        Works,
    }
    let cases = [
        ("truncated to 4 KiB", Opening::Fails),
        ("truncated to a quarter", Opening::Fails),
        ("truncated to three quarters", Opening::Fails),
        ("tail zeroed", Opening::Fails),
        ("flipped bytes in a blob", Opening::MayFail),
        ("flipped bytes in the index", Opening::MayFail),
        ("flipped bytes in a table", Opening::Works),
    ];
    for (case, opening) in cases {
        let name = case.replace(' ', "-");
        let store = scratch.path(&name);
        copy_dir(&scratch.path("store"), &store);
        damage(&store, case);
        let store = store.to_str().unwrap();

        // Damage is exit 5, in bounded time, with the store and what to do.
        let verify = run_bounded(&scratch, &["artifacts", "verify", "--store", store]);
        assert_eq!(verify.code, 5, "{case}: {}{}", verify.stdout, verify.stderr);
        let said = format!("{}{}", verify.stdout, verify.stderr);
        assert!(said.contains("--repair"), "{case}: {said}");
        // One error, not a panic's report and backtrace.
        assert!(!said.contains("panicked at"), "{case}: {said}");
        if opening != Opening::Works {
            for args in [
                vec!["artifacts", "ls", "--store", store],
                vec!["plan", manifest, "--store", store],
            ] {
                let run = run_bounded(&scratch, &args);
                if opening == Opening::MayFail && run.code == 0 {
                    continue;
                }
                assert_eq!(run.code, 5, "{case}: {args:?}: {}", run.stderr);
                assert!(
                    run.stderr.contains("is damaged") && run.stderr.contains(store),
                    "{case}: {args:?}: {}",
                    run.stderr
                );
                assert!(run.stderr.lines().count() <= 3, "{case}: {}", run.stderr);
            }
        } else {
            assert!(said.contains("damaged: table"), "{case}: {said}");
            // Before the repair, plan trusts the table's presence; after it, dataset runs.
            let plan = scratch
                .run(&["plan", manifest, "--store", store])
                .expect_code(0);
            assert!(plan.stdout.contains("nothing to run"), "{}", plan.stdout);
        }

        let repair = run_bounded(
            &scratch,
            &["artifacts", "verify", "--repair", "--store", store],
        );
        assert_eq!(repair.code, 0, "{case}: {}{}", repair.stdout, repair.stderr);
        assert!(
            repair.stdout.contains("is sound"),
            "{case}: {}",
            repair.stdout
        );
        if opening == Opening::Works {
            let plan = scratch
                .run(&["plan", manifest, "--store", store])
                .expect_code(0);
            assert!(
                plan.stdout.contains("1 of 3 stages will run"),
                "{}",
                plan.stdout
            );
        }
        scratch
            .run(&["run", manifest, "--store", store])
            .expect_code(0);
        scratch
            .run(&["artifacts", "verify", "--store", store])
            .expect_code(0);
        assert_eq!(synth_outputs(&scratch, store), original, "{case}");
    }
}

#[test]
fn plan_never_creates_a_store_and_run_creates_only_the_last_folder() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &common::small_manifest(2));
    let manifest = manifest.to_str().unwrap();
    let plan = scratch.run(&["plan", manifest]).expect_code(0);
    assert!(
        plan.stdout.contains("does not exist yet"),
        "{}",
        plan.stdout
    );
    assert!(!scratch.path("store").exists(), "plan created the store");
    for args in [
        vec!["artifacts", "ls", "--store", "store"],
        vec!["artifacts", "verify", "--store", "store"],
        vec!["gc", manifest, "--dry-run"],
    ] {
        let run = scratch.run(&args).expect_code(6);
        assert!(run.stderr.contains("no store at"), "{}", run.stderr);
    }
    assert!(!scratch.path("store").exists());

    let deep = scratch.path("no/such/deep/store");
    let run = scratch
        .run(&["run", manifest, "--store", deep.to_str().unwrap()])
        .expect_code(5);
    assert!(
        run.stderr.contains("parent folder") && run.stderr.contains("mkdir -p"),
        "{}",
        run.stderr
    );
    assert!(!scratch.path("no").exists(), "run created a deep path");
    scratch.run(&["run", manifest]).expect_code(0);
    assert!(scratch.path("store/db").is_dir());
}

/// A mount made for a test (a read-only bind mount, or a small tmpfs), unmounted when
/// dropped.
struct Mount {
    path: PathBuf,
}

/// Runs `mount` with `args`; whether it succeeded.
fn mount(args: &[&str]) -> bool {
    Command::new("mount")
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success())
}

impl Mount {
    /// Mounts `source` read-only at `target`; `None` if this machine does not let us mount
    /// (not root): then the test fails unless `SNNI_SKIP_MOUNT_TESTS=1` says to skip.
    fn read_only(source: &Path, target: &Path) -> Option<Mount> {
        std::fs::create_dir_all(target).unwrap();
        let (source, target_text) = (source.to_str().unwrap(), target.to_str().unwrap());
        if !mount(&["--bind", source, target_text]) {
            return None;
        }
        let mounted = Mount {
            path: target.to_path_buf(),
        };
        if !mount(&["-o", "remount,bind,ro", target_text]) {
            return None;
        }
        Some(mounted)
    }

    /// Mounts a tmpfs of `size` (e.g. `2m`) at `target`; `None` as for [`Mount::read_only`].
    fn tmpfs(target: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(target).unwrap();
        let options = format!("size={size}");
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &options,
            "tmpfs",
            target.to_str().unwrap(),
        ])
        .then(|| Mount {
            path: target.to_path_buf(),
        })
    }

    /// `mounted`, or — when this machine cannot mount — a loud skip if
    /// `SNNI_SKIP_MOUNT_TESTS` is set (`None`), else a failure.
    fn or_skip(mounted: Option<Mount>, what: &str) -> Option<Mount> {
        if mounted.is_some() {
            return mounted;
        }
        if std::env::var_os("SNNI_SKIP_MOUNT_TESTS").is_some() {
            eprintln!("SKIPPED on purpose (SNNI_SKIP_MOUNT_TESTS): cannot mount {what} here");
            return None;
        }
        panic!("cannot mount {what} (needs root and mount); set SNNI_SKIP_MOUNT_TESTS=1 to skip");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn readers_work_on_a_store_on_a_read_only_mount() {
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &common::small_manifest(3));
    let manifest = manifest.to_str().unwrap();
    scratch.run(&["run", manifest]).expect_code(0);
    // An archive unpacked on read-only media has no lock file.
    std::fs::remove_file(scratch.path("store/LOCK")).unwrap();
    let mounted = Mount::read_only(&scratch.path("store"), &scratch.path("ro"));
    let Some(mount) = Mount::or_skip(mounted, "a read-only bind mount") else {
        return;
    };
    let ro = mount.path.to_str().unwrap();
    assert!(
        std::fs::write(mount.path.join("probe"), "x").is_err(),
        "the mount is writable"
    );

    let ls = scratch
        .run(&["artifacts", "ls", "--store", ro, "--shards"])
        .expect_code(0);
    assert!(ls.stdout.contains("synth[synth-0002]"), "{}", ls.stdout);
    let show = scratch
        .run(&[
            "artifacts",
            "show",
            "--store",
            ro,
            "synth/synth-0001/network",
        ])
        .expect_code(0);
    assert!(show.stdout.contains("layers:"), "{}", show.stdout);
    let plan = scratch
        .run(&["plan", manifest, "--store", ro])
        .expect_code(0);
    assert!(plan.stdout.contains("nothing to run"), "{}", plan.stdout);
    scratch
        .run(&["gc", manifest, "--store", ro, "--dry-run"])
        .expect_code(0);
    scratch
        .run(&["artifacts", "verify", "--store", ro])
        .expect_code(0);
    let archive = scratch.path("copy.tar");
    scratch
        .run(&[
            "artifacts",
            "export",
            "--store",
            ro,
            "-o",
            archive.to_str().unwrap(),
        ])
        .expect_code(0);
    // Nothing was written to the store, and writers fail with an error, not a panic.
    assert!(!mount.path.join("LOCK").exists());
    let run = scratch
        .run(&["run", manifest, "--store", ro])
        .expect_code(5);
    assert!(
        run.stderr.contains("Read-only file system"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_full_disk_is_exit_5_naming_the_os_error_and_the_store_in_a_few_lines() {
    let scratch = Scratch::new();
    let mounted = Mount::tmpfs(&scratch.path("small"), "2m");
    let Some(_mount) = Mount::or_skip(mounted, "a 2 MiB tmpfs") else {
        return;
    };
    // 3000 networks are more than 2 MiB: the disk fills while the shards commit.
    let manifest = scratch.write(
        "full.yaml",
        "name: full\nseed: 3\nstore: small/store\nsettings:\n  local: {}\nstages:\n  synth:\n    kind: synthesize\n    params:\n      count: 3000\n      input: {h: 64, w: 64, c: 3}\n      layers: {min: 4, max: 8}\n",
    );
    let run = scratch
        .run(&["run", manifest.to_str().unwrap(), "--jobs", "2"])
        .expect_code(5);
    let stderr = &run.stderr;
    assert!(
        stderr.contains("No space left on device (os error 28)"),
        "{stderr}"
    );
    let db = scratch.path("small/store/db");
    assert!(stderr.contains(db.to_str().unwrap()), "{stderr}");
    // Not sled's debug text, not the Parquet encoder's, and not once per buffer.
    assert!(!stderr.contains("Os {"), "{stderr}");
    assert!(!stderr.contains("thrift"), "{stderr}");
    assert!(
        stderr
            .matches("could not record the commit generation")
            .count()
            <= 1,
        "{stderr}"
    );
    assert!(
        stderr.lines().count() <= 15,
        "{} lines:\n{stderr}",
        stderr.lines().count()
    );
    // Only shards that ran and hit the full disk count as failed (those in flight, and the
    // few dispatched before the stop reached the dispatcher); the rest never started.
    let failed: usize = stderr
        .split(" of 3000 shards failed")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failed-shard count in:\n{stderr}"));
    assert!(
        (1..=4).contains(&failed),
        "{failed} shards failed:\n{stderr}"
    );
}
