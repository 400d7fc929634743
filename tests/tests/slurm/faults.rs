//! Faults on the cluster: a cancelled task, a killed coordinator, a drained node, a task
//! that vanishes, a time limit, damaged results in the spool and a requeued task.

use std::time::Duration;

use snni_artifacts::Digest;

use crate::cluster::{cluster, files_in, wait_until};
use crate::common::Running;
use crate::study::{events, profile, spooled_shards, synth, Study};

/// Profile shards of tiny networks, stretched by warm-up inferences to run for seconds.
fn slow_profiles(count: usize, warmup: u32) -> String {
    format!(
        "{}{}",
        synth(count),
        profile(&format!("      warmup: {warmup}\n"))
    )
}

/// The job of every committed shard of `stage`, by shard key.
fn jobs_of(study: &Study, stage: &str) -> Vec<(String, String)> {
    study
        .shard_records(stage)
        .into_iter()
        .map(|r| {
            let task = r.meta["task"].as_str().unwrap_or_default().to_string();
            (
                r.shard.unwrap(),
                task.split('_').next().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Test 2: `scancel` of one array task mid-run resubmits that task's shard only.
#[test]
fn a_cancelled_task_is_resubmitted_and_the_others_are_untouched() {
    let Some(cluster) = cluster() else { return };
    let study = Study::new(&cluster, &slow_profiles(3, 8), "  max_concurrent: 3\n");
    let mut run = Running::spawn(study.snni(&["run", study.manifest(), "--json"]));
    assert!(
        run.skip_events("\"stage\":\"profile\"", 2),
        "profile never started"
    );
    assert!(
        wait_until(Duration::from_secs(120), || !cluster
            .tasks_in("RUNNING")
            .is_empty()),
        "no task ran"
    );
    let victim = cluster.tasks_in("RUNNING")[0].clone();
    cluster.run("scancel", &[&victim]);
    assert!(
        run.child.wait().unwrap().success(),
        "the run did not complete"
    );
    let first_job = victim.split('_').next().unwrap();
    let jobs = jobs_of(&study, "profile");
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    let moved: Vec<_> = jobs.iter().filter(|(_, job)| job != first_job).collect();
    assert_eq!(
        moved.len(),
        1,
        "exactly the cancelled shard ran again: {jobs:?}"
    );
}

/// Test 3: `kill -9` of the coordinator, then `snni run` again: no second sbatch for live
/// tasks, and what finished meanwhile is ingested.
#[test]
fn a_killed_coordinator_reattaches_without_submitting_again() {
    let Some(cluster) = cluster() else { return };
    let study = Study::new(&cluster, &slow_profiles(3, 4), "  max_concurrent: 1\n");
    let mut first = Running::spawn(study.snni(&["run", study.manifest(), "--json"]));
    assert!(first.skip_events("\"event\":\"shards_submitted\",\"stage\":\"profile\"", 1));
    first.kill();
    // Let a task finish while no coordinator runs.
    assert!(
        wait_until(Duration::from_secs(120), || !files_in(
            &study.spool().join("done")
        )
        .is_empty()),
        "no task finished"
    );
    let second = study.run_study(&[]).expect_code(0);
    assert!(
        events(&second, "shards_submitted", Some("profile")).is_empty(),
        "resubmitted live tasks:\n{}",
        second.stdout
    );
    assert_eq!(study.shard_records("profile").len(), 3);
    assert!(
        files_in(&study.spool().join("done")).is_empty(),
        "results left behind"
    );
}

/// Test 4: on a drained node tasks stay pending, with Slurm's reason in `snni status`,
/// and are not counted lost; resumed, the run completes.
#[test]
fn a_drained_node_keeps_tasks_pending_not_lost() {
    let Some(cluster) = cluster() else { return };
    let node = cluster.node();
    cluster.run(
        "scontrol",
        &[
            "update",
            &format!("nodename={node}"),
            "state=drain",
            "reason=snni-test",
        ],
    );
    let study = Study::new(&cluster, &synth(2), "");
    let mut run = Running::spawn(study.snni(&["run", study.manifest(), "--json"]));
    assert!(run.skip_events("shards_submitted", 1));
    let mut status = String::new();
    let shown = wait_until(Duration::from_secs(30), || {
        status = study.run(&["status", study.manifest()]).stdout;
        status.contains("pending (") && !status.contains("pending (Submitted")
    });
    assert!(shown, "status never showed a pending reason:\n{status}");
    // Well past lost_after (4 s): still pending, nothing resubmitted.
    std::thread::sleep(Duration::from_secs(8));
    let status = study.run(&["status", study.manifest()]).stdout;
    assert!(status.contains("pending ("), "{status}");
    assert!(!status.contains("to resubmit"), "{status}");
    cluster.run(
        "scontrol",
        &["update", &format!("nodename={node}"), "state=resume"],
    );
    assert!(
        run.child.wait().unwrap().success(),
        "the run did not complete"
    );
    assert_eq!(study.shard_records("synth").len(), 2);
}

/// Test 5: a task killed outside Slurm's view (its worker `kill -9`ed) is counted lost and
/// rerun, never a success.
#[test]
fn a_vanished_task_is_lost_and_rerun() {
    let Some(cluster) = cluster() else { return };
    let study = Study::new(&cluster, &slow_profiles(1, 10), "");
    let mut run = Running::spawn(study.snni(&["run", study.manifest(), "--json"]));
    let submitted = run.next_event("shards_submitted").expect("a submission");
    let first = submitted["job"].as_str().unwrap().to_string();
    let killed = wait_until(Duration::from_secs(120), || {
        std::process::Command::new("pkill")
            .args(["-9", "-f", "shard run --spec"])
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(killed, "never found the worker to kill");
    assert!(
        run.child.wait().unwrap().success(),
        "the run did not complete"
    );
    let jobs = jobs_of(&study, "profile");
    assert_eq!(jobs.len(), 1);
    assert_ne!(
        jobs[0].1, first,
        "the shard's record must come from the resubmission"
    );
}

/// Test 6: a time limit too short — the warning signal writes `failed/`, nothing partial
/// is ingested, and the error names the time limit.
#[test]
fn a_time_limit_fails_the_shard_naming_it() {
    let Some(cluster) = cluster() else { return };
    // One shard that certainly outlasts a minute on any machine: 100 warm-ups of a network
    // with three 64-filter layers at 64×64 (seconds per inference), not of the tiny test
    // networks, which finish 100 warm-ups in under 20 s once the engine is fast.
    let stages = format!(
        "  synth:\n    kind: synthesize\n    params:\n      count: 1\n      input: {{h: 64, w: 64, c: 3}}\n      layers: {{min: 3, max: 3}}\n      filters: [64]\n{}",
        profile("      warmup: 100\n")
    );
    let study = Study::new(
        &cluster,
        &stages,
        "  resubmits: 0\n  sbatch: {time: \"1\"}\n",
    );
    let run = study.run_study(&[]).expect_code(1);
    let failed = events(&run, "stage_failed", Some("profile"));
    assert_eq!(failed.len(), 1, "{}", run.stdout);
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("time limit"), "{error}");
    assert!(
        study.shard_records("profile").is_empty(),
        "a partial result was ingested"
    );
    assert!(!files_in(&study.spool().join("failed").join("handled")).is_empty());
    assert!(files_in(&study.spool().join("done")).is_empty());
}

/// Test 7: a truncated file and a digest mismatch in the spool are rejected, and the
/// shards run again to the right outputs.
#[test]
fn damaged_results_are_rejected_and_rerun() {
    let Some(cluster) = cluster() else { return };
    let study = Study::new(&cluster, &synth(3), "  extra: [\"--hold\"]\n");
    let mut run = Running::spawn(study.snni(&["run", study.manifest(), "--json"]));
    let submitted = run.next_event("shards_submitted").expect("a submission");
    let job = submitted["job"].as_str().unwrap().to_string();
    let shards = spooled_shards(&study.spool());
    assert_eq!(shards.len(), 3);
    // Two forged results: one with a truncated file, one whose bytes do not match.
    for (i, (shard, fingerprint, _)) in shards.iter().take(2).enumerate() {
        let dir = study
            .spool()
            .join("done")
            .join(format!("{fingerprint}.999_{i}.r0"));
        std::fs::create_dir_all(dir.join("objects")).unwrap();
        let claimed = b"name: forged\n".repeat(4);
        let digest = Digest::of(&claimed);
        let on_disk: Vec<u8> = if i == 0 {
            claimed[..10].to_vec()
        } else {
            b"name: FORGED\n".repeat(4)
        };
        std::fs::write(dir.join("objects").join(digest.to_hex()), on_disk).unwrap();
        let manifest = serde_json::json!({
            "format": 1, "stage": "synth", "shard": shard, "fingerprint": fingerprint,
            "outputs": {"network": {"type": "blob", "digest": digest.to_hex(), "bytes": claimed.len(), "media_type": "application/yaml"}},
            "run": {"host": "forger", "task": format!("999_{i}.r0"), "restart": 0, "cpus": null, "started_unix_ms": 0, "finished_unix_ms": 0}
        });
        std::fs::write(
            dir.join("MANIFEST.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(30), || files_in(
            &study.spool().join("rejected")
        )
        .len()
            == 2),
        "the forged results were not rejected"
    );
    cluster.run("scontrol", &["release", &job]);
    assert!(
        run.child.wait().unwrap().success(),
        "the run did not complete"
    );
    // The outputs equal a local run's.
    let local = Study::new(&cluster, &synth(3), "");
    local
        .run(&["run", local.manifest(), "--executor", "local"])
        .expect_code(0);
    let ours: Vec<_> = study
        .shard_records("synth")
        .into_iter()
        .map(|r| r.outputs)
        .collect();
    let theirs: Vec<_> = local
        .shard_records("synth")
        .into_iter()
        .map(|r| r.outputs)
        .collect();
    assert_eq!(ours, theirs);
}

/// Test 8: a requeued task finishes its shard again; one result is ingested, the other
/// dropped.
#[test]
fn a_requeued_task_gives_one_result() {
    let Some(cluster) = cluster() else { return };
    let study = Study::new(
        &cluster,
        &synth(2),
        "  max_concurrent: 1\n  extra: [\"--requeue\"]\n",
    );
    let mut run = Running::spawn(study.snni(&["run", study.manifest(), "--json"]));
    let submitted = run.next_event("shards_submitted").expect("a submission");
    let job = submitted["job"].as_str().unwrap().to_string();
    // Hold the second task so the coordinator keeps waiting while the first is requeued.
    let _ = cluster
        .command("scontrol", &["hold", &format!("{job}_1")])
        .output();
    assert!(
        wait_until(Duration::from_secs(60), || cluster
            .tasks_in("COMPLETED")
            .contains(&format!("{job}_0"))),
        "the first task did not complete"
    );
    assert!(run.skip_events("\"event\":\"shard_finished\",\"stage\":\"synth\"", 1));
    cluster.run("scontrol", &["requeue", &format!("{job}_0")]);
    // Slurm delays a requeued job on its own (minutes); start it sooner, but not within the
    // second its first run ended: slurmd revokes that run's credential with one-second
    // resolution, and a restart in the same second is killed ("Job credential revoked"),
    // which failed this test once when the first run took 40 ms.
    let _ = cluster
        .command(
            "scontrol",
            &["update", &format!("jobid={job}_0"), "starttime=now+3"],
        )
        .output();
    let started_again = wait_until(Duration::from_secs(60), || {
        study
            .spool()
            .join("started")
            .join(format!("{job}_0.r1.json"))
            .exists()
            && cluster.tasks_in("COMPLETED").contains(&format!("{job}_0"))
    });
    assert!(started_again, "the requeued task did not run again");
    // Its duplicate result is dropped by the coordinator.
    assert!(
        wait_until(Duration::from_secs(30), || files_in(
            &study.spool().join("done")
        )
        .is_empty()),
        "the duplicate result was not dropped"
    );
    cluster.run("scontrol", &["release", &format!("{job}_1")]);
    assert!(
        run.child.wait().unwrap().success(),
        "the run did not complete"
    );
    let records = study.shard_records("synth");
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|r| r.meta["task"].as_str().unwrap().ends_with(".r0")));
}
