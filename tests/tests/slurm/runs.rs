//! Whole runs through the cluster: the smoke study, MaxArraySize, a failing sbatch, and
//! what must never be shared (the store, a shaped shard's CPUs).

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::cluster::{cluster, wait_until};
use crate::common::{repo_root, Running};
use crate::study::{events, profile, shard_records, synth, Study};

/// Test 1: the smoke manifest through Slurm — the same stage and shard fingerprints as a
/// local run, identical outputs of the deterministic stages, then `snni plan` says cached.
#[test]
fn smoke_through_slurm_matches_a_local_run_and_is_then_cached() {
    let Some(cluster) = cluster() else { return };
    let smoke = std::fs::read_to_string(repo_root().join("manifests/smoke.yaml")).unwrap();
    let smoke = smoke.replace("store: ../.snni-store", "store: store");
    let executor = "executor:\n  kind: slurm\n  spool: spool\n  poll: 300ms\n  lost_after: 10s\n  bundle_minutes: 1\nstages:";
    let on_cluster = Study::from_text(&cluster, &smoke.replacen("stages:", executor, 1));
    let run = on_cluster
        .run_study(&["--executor", "slurm", "--jobs", "2"])
        .expect_code(0);
    assert!(
        !events(&run, "shards_submitted", None).is_empty(),
        "nothing was submitted:\n{}",
        run.stderr
    );
    let plan = on_cluster
        .run(&["plan", on_cluster.manifest()])
        .expect_code(0);
    assert!(plan.stdout.contains("nothing to run"), "{}", plan.stdout);

    // Fan-out stages ran on the cluster, reductions on the coordinator.
    let store = on_cluster.store();
    for stage in ["synth", "reference", "profile", "search"] {
        let shards = shard_records(&store, stage);
        assert!(!shards.is_empty(), "{stage} has no shards");
        for record in &shards {
            assert_eq!(
                record.meta["executor"], "slurm",
                "{stage}: {:?}",
                record.meta
            );
        }
    }
    for stage in ["dataset", "split"] {
        for record in shard_records(&store, stage) {
            assert_ne!(
                record.meta["executor"], "slurm",
                "{stage} must run on the coordinator"
            );
        }
    }

    // A local run of the deterministic stages in another folder.
    let local = Study::from_text(&cluster, &smoke);
    local
        .run(&[
            "run",
            local.manifest(),
            "--only",
            "synth",
            "--only",
            "reference",
        ])
        .expect_code(0);
    let local_store = local.store();
    for stage in ["synth", "reference"] {
        let a = store
            .get(&store.stage_state(stage).unwrap().unwrap().fingerprint)
            .unwrap()
            .unwrap();
        let b = local_store
            .get(&local_store.stage_state(stage).unwrap().unwrap().fingerprint)
            .unwrap()
            .unwrap();
        assert_eq!(a.fingerprint, b.fingerprint, "{stage}");
        assert_eq!(a.outputs, b.outputs, "outputs of {stage} differ");
    }
    // Every later stage plans to the fingerprint the cluster run committed: the executor
    // never enters a fingerprint.
    drop(local_store);
    let plan = local
        .run(&["plan", local.manifest(), "--json"])
        .expect_code(0);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let profile = plan["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "profile")
        .unwrap();
    assert_eq!(
        profile["fingerprint"].as_str().unwrap(),
        store
            .stage_state("profile")
            .unwrap()
            .unwrap()
            .fingerprint
            .to_hex()
    );
    let cluster_keys: Vec<String> = shard_records(&store, "profile")
        .into_iter()
        .map(|r| r.shard.unwrap())
        .collect();
    assert_eq!(
        profile["shards"].as_u64().unwrap() as usize,
        cluster_keys.len()
    );
}

/// Test 9: with MaxArraySize 5, twelve one-shard tasks go in three arrays, none rejected.
#[test]
fn arrays_stay_below_max_array_size() {
    let Some(cluster) = cluster() else { return };
    let _limit = cluster.max_array_size(5);
    let study = Study::new(&cluster, &synth(12), "");
    let run = study.run_study(&[]).expect_code(0);
    let mut sizes: Vec<u64> = events(&run, "shards_submitted", Some("synth"))
        .iter()
        .map(|e| e["tasks"].as_u64().unwrap())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![2, 5, 5], "{}", run.stderr);
    assert_eq!(study.shard_records("synth").len(), 12);
}

/// Test 10: an sbatch that fails once (a stand-in earlier on PATH) is retried.
#[test]
fn a_failing_sbatch_is_retried() {
    let Some(cluster) = cluster() else { return };
    let mut study = Study::new(&cluster, &synth(3), "");
    let bin = study.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let marker = study.path("sbatch-failed-once");
    let real = which("sbatch");
    let stand_in = bin.join("sbatch");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\nif [ ! -e '{m}' ]; then touch '{m}'; echo 'sbatch: error: Batch job submission failed: Socket timed out' >&2; exit 1; fi\nexec '{real}' \"$@\"\n",
            m = marker.display(),
            real = real
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    study.path_prefix = Some(bin);
    let run = study.run_study(&[]).expect_code(0);
    assert!(marker.exists(), "the stand-in never ran");
    assert!(run.stderr.contains("Socket timed out"), "{}", run.stderr);
    assert_eq!(events(&run, "shards_submitted", Some("synth")).len(), 1);
    assert_eq!(study.shard_records("synth").len(), 3);
}

/// Test 11: a second coordinator on the same store exits 4; shaped shards that run side by
/// side in one task never share a CPU.
#[test]
fn one_coordinator_per_store_and_shaped_shards_on_disjoint_cpus() {
    let Some(cluster) = cluster() else { return };
    // Held tasks keep the first coordinator waiting.
    let study = Study::new(&cluster, &synth(2), "  extra: [\"--hold\"]\n");
    let mut first = Running::spawn(study.snni(&["run", study.manifest(), "--json"]));
    assert!(
        first.skip_events("shards_submitted", 1),
        "nothing was submitted"
    );
    let second = study.run(&["run", study.manifest()]).expect_code(4);
    assert!(second.stderr.contains("pid"), "{}", second.stderr);
    // `status` reads what the run publishes (within a second) while it holds the store.
    let mut status = String::new();
    let shown = wait_until(Duration::from_secs(30), || {
        status = study
            .run(&["status", study.manifest()])
            .expect_code(0)
            .stdout;
        status.contains("JobHeld")
    });
    assert!(shown, "status never showed the held tasks:\n{status}");
    first.kill();
    study.run(&["cancel", study.manifest()]).expect_code(0);

    // Two WAN shards in one task, one CPU each.
    let cpus = cluster.run("nproc", &[]).trim().parse::<usize>().unwrap();
    assert!(cpus >= 2, "this test needs two CPUs");
    let shaped = Study::new(
        &cluster,
        &format!(
            "{}{}",
            synth(2),
            profile("      settings: [wan]\n      backend: relay\n      shaped_cpus: 1\n")
        ),
        "  bundle_minutes: 600\n",
    );
    shaped.run_study(&[]).expect_code(0);
    let records = shaped.shard_records("profile");
    assert_eq!(records.len(), 2);
    let span = |r: &snni_artifacts::Record| {
        (
            r.meta["started_unix_ms"].as_u64().unwrap(),
            r.meta["finished_unix_ms"].as_u64().unwrap(),
            r.meta["cpus"].as_array().unwrap().clone(),
            r.meta["task"].as_str().unwrap().to_string(),
        )
    };
    let (a, b) = (span(&records[0]), span(&records[1]));
    assert_eq!(a.3, b.3, "both shards ran in one task");
    assert!(
        a.0 < b.1 && b.0 < a.1,
        "the shards ran side by side: {a:?} {b:?}"
    );
    assert!(
        a.2.iter().all(|cpu| !b.2.contains(cpu)),
        "shared a CPU: {a:?} {b:?}"
    );
}

/// The path of a program on PATH.
fn which(program: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
