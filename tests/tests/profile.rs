//! End to end: the `profile` and `dataset` stages through the binary — keyed tables,
//! caching, resuming after kill -9 without orphaned parties, retries with the parties'
//! stderr, timeouts, the tc backend and settings errors.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Run, Running, Scratch};

/// The start of a `--json` line saying a `profile` shard was committed.
const PROFILE_SHARD: &str = "\"event\":\"shard_finished\",\"stage\":\"profile\"";

/// A study of `count` tiny synthesized networks, profiled with `profile` (the lines of
/// its `params:`, indented by six spaces), then turned into tables. `settings` are extra
/// top-level settings (lines indented by two spaces).
fn profile_manifest(count: usize, settings: &str, profile: &str) -> String {
    format!(
        "name: profiled\nseed: 11\nstore: store\nsettings:\n  local: {{}}\n{settings}stages:\n  synth:\n    kind: synthesize\n    params:\n      count: {count}\n      input: {{h: 16, w: 16, c: 3}}\n      layers: {{min: 2, max: 3}}\n      filters: [8, 16]\n  profile:\n    kind: profile\n    needs: [synth]\n    params:\n{profile}  dataset:\n    kind: dataset\n    needs: [profile]\n"
    )
}

/// Writes an executable shell script standing in for `snni` in the parties.
fn fake_snni(scratch: &Scratch, body: &str) -> PathBuf {
    let path = scratch.write("fake-snni", &format!("#!/bin/sh\n{body}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Both output streams of a run, for searching messages.
fn output(run: &Run) -> String {
    format!("{}{}", run.stdout, run.stderr)
}

/// Events of `kind` for stage `stage`.
fn stage_events<'a>(
    events: &'a [serde_json::Value],
    kind: &str,
    stage: &str,
) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["event"] == kind && e["stage"] == stage)
        .collect()
}

/// The row count `snni artifacts show` reports for a table output.
fn table_rows(scratch: &Scratch, output: &str) -> usize {
    let show = scratch
        .run(&["artifacts", "show", "--store", "store", output])
        .expect_code(0);
    let (_, rest) = show
        .stdout
        .split_once(" (")
        .unwrap_or_else(|| panic!("no row count in:\n{}", show.stdout));
    let (rows, _) = rest.split_once(" rows)").unwrap();
    rows.parse().unwrap()
}

/// The blob `snni artifacts show` prints for `output`.
fn blob(scratch: &Scratch, output: &str) -> String {
    scratch
        .run(&["artifacts", "show", "--store", "store", output])
        .expect_code(0)
        .stdout
}

/// A process identity that survives pid reuse: its pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Process {
    pid: u32,
    start: u64,
}

impl Process {
    /// The process `pid`, if it is running (a zombie counts as gone).
    fn find(pid: u32) -> Option<Process> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
            return None;
        }
        // Field 22 of stat (start time) is the 20th after the name.
        let start = fields.get(19)?.parse().ok()?;
        Some(Process { pid, start })
    }

    /// Whether this very process still runs.
    fn alive(self) -> bool {
        Process::find(self.pid) == Some(self)
    }

    /// Whether it is a `snni party` process.
    fn is_party(self) -> bool {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .is_ok_and(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == b"party"))
    }

    /// Every descendant running now.
    fn descendants(self) -> Vec<Process> {
        let mut found = Vec::new();
        let mut queue = vec![self.pid];
        while let Some(pid) = queue.pop() {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for task in tasks.flatten() {
                let children = std::fs::read_to_string(task.path().join("children"));
                for child in children.unwrap_or_default().split_whitespace() {
                    let child: u32 = child.parse().unwrap();
                    if let Some(process) = Process::find(child) {
                        found.push(process);
                        queue.push(child);
                    }
                }
            }
        }
        found
    }
}

/// Waits up to `limit` for `done` to hold; returns whether it did.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Network namespaces whose name starts with `prefix`.
fn namespaces(prefix: &str) -> Vec<String> {
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Whether this machine lets us create network namespaces (root and iproute2).
fn namespaces_work() -> bool {
    let ip = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .output()
            .is_ok_and(|out| out.status.success())
    };
    ip(&["netns", "add", "snni-e2e-probe"]) && ip(&["netns", "del", "snni-e2e-probe"])
}

#[test]
fn profile_and_dataset_produce_keyed_tables() {
    let (count, settings, runs) = (2, 2, 2);
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(
            count,
            "  slow: {bandwidth: 200mbit, rtt: 2ms}\n",
            "      settings: [local, slow]\n      runs: 2\n      timeout: 120\n      backend: relay\n      probe: {seconds: 0.1, tolerance: 0.000001, reruns: 1}\n      flooding_bits: 30\n",
        ),
    );
    let manifest = manifest.to_str().unwrap();
    scratch.run(&["run", manifest]).expect_code(0);

    let slow = blob(&scratch, "profile/synth-0000.slow.r01/meta");
    assert!(slow.contains("\"backend\": \"relay\""), "{slow}");
    let local = blob(&scratch, "profile/synth-0001.local.r00/meta");
    assert!(local.contains("\"backend\": \"none\""), "{local}");
    // The speed probe ran before and after; two probes never agree to a millionth, so
    // the one allowed re-measurement happened and the last deviation is recorded.
    let meta: serde_json::Value = serde_json::from_str(&local).unwrap();
    let noise = &meta["noise"];
    for rate in ["probe_he_per_s", "probe_ot_per_s"] {
        assert!(noise[rate].as_f64().is_some_and(|r| r > 0.0), "{local}");
    }
    assert!(
        noise["probe_deviation"].as_f64().is_some_and(|d| d > 1e-6),
        "{local}"
    );
    assert!(
        noise["load_avg"].as_f64().is_some_and(|l| l >= 0.0),
        "{local}"
    );
    assert!(
        noise["steal_fraction"]
            .as_f64()
            .is_some_and(|s| (0.0..=1.0).contains(&s)),
        "{local}"
    );
    assert_eq!(meta["probe"]["reruns"], 1, "{local}");
    // The parties were asked for 30 bits of flooding margin per inference, and reached it.
    assert_eq!(meta["flooding_bits"], 30, "{local}");
    let client = blob(&scratch, "profile/synth-0001.local.r00/client");
    let run_line: serde_json::Value = serde_json::from_str(client.lines().last().unwrap()).unwrap();
    let margin = run_line["flooding"]["margin_per_inference_bits"].as_f64();
    assert!(
        margin.is_some_and(|m| m >= 30.0),
        "{}",
        client.lines().last().unwrap()
    );
    assert!(
        meta["probe"]["before"]["he_per_s"].as_f64().is_some(),
        "{local}"
    );

    // One row per network, setting, run and party.
    let networks = table_rows(&scratch, "dataset/tables/networks");
    assert_eq!(networks, count * settings * runs * 2);
    // One row per layer of those.
    let layers: usize = (0..count)
        .map(|i| {
            let yaml = blob(&scratch, &format!("synth/synth-{i:04}/network"));
            yaml.lines().filter(|line| line.starts_with("- ")).count()
        })
        .sum();
    assert!(layers > 0);
    let rows = table_rows(&scratch, "dataset/tables/layers");
    assert_eq!(rows, layers * settings * runs * 2);

    let again = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let summary = again.events().pop().unwrap();
    assert_eq!(summary["event"], "run_finished");
    assert_eq!(summary["ran"], 0, "{}", again.stdout);
    assert_eq!(summary["cached"], 3, "{}", again.stdout);
}

#[test]
fn a_shard_probed_below_the_machine_s_usual_speed_waits_and_is_measured_again() {
    // `usual` far above what any machine probes: every shard is slow, waits (0.2 s here)
    // and is measured once more; the kept measurement records why and what it was
    // compared with. The dataset stage still reads the shards.
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(
            2,
            "",
            "      settings: [local]\n      runs: 1\n      timeout: 120\n      probe: {seconds: 0.05, tolerance: 100, reruns: 1, slow: 0.5, wait: 0.2, usual: 1.0e9}\n",
        ),
    );
    let run = scratch
        .run(&["run", manifest.to_str().unwrap()])
        .expect_code(0);
    assert!(
        output(&run).contains("below its usual speed (1000000000.0 HE layers/s)"),
        "{}",
        output(&run)
    );
    for network in ["synth-0000", "synth-0001"] {
        let text = blob(&scratch, &format!("profile/{network}.local.r00/meta"));
        let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
        let probe = &meta["probe"];
        assert_eq!(probe["reruns"], 1, "{text}");
        assert_eq!(probe["slow_reruns"], 1, "{text}");
        assert_eq!(probe["usual_he_per_s"], 1.0e9, "{text}");
        assert_eq!(probe["slow"], 0.5, "{text}");
        let waited = probe["waited_s"].as_f64().unwrap();
        assert!((0.2..5.0).contains(&waited), "{text}");
    }
    assert_eq!(table_rows(&scratch, "dataset/tables/networks"), 2 * 2);

    // A usual speed every machine beats: nothing is slow, nothing waits. The probe's HE
    // part runs on two threads here, as many as the shard's two parties.
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(
            1,
            "",
            "      settings: [local]\n      runs: 1\n      timeout: 120\n      probe: {seconds: 0.05, tolerance: 100, reruns: 1, usual: 1.0e-3, threads: 2}\n",
        ),
    );
    scratch
        .run(&["run", manifest.to_str().unwrap()])
        .expect_code(0);
    let text = blob(&scratch, "profile/synth-0000.local.r00/meta");
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(meta["probe"]["reruns"], 0, "{text}");
    assert_eq!(meta["probe"]["slow_reruns"], 0, "{text}");
    assert_eq!(meta["probe"]["waited_s"], 0.0, "{text}");
    assert_eq!(meta["probe"]["he_threads"], 2, "{text}");
    assert!(
        meta["noise"]["probe_he_per_s"].as_f64().unwrap() > 0.0,
        "{text}"
    );
}

#[test]
fn killed_profile_resumes_without_redoing_finished_shards() {
    let shards = 3 * 4;
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(3, "", "      runs: 4\n      timeout: 120\n"),
    );
    let manifest = manifest.to_str().unwrap();
    let mut run = Running::spawn(scratch.snni(&["run", manifest, "--json"]));
    assert!(
        run.skip_events(PROFILE_SHARD, 3),
        "the run ended before three profile shards finished"
    );
    // Kill while a shard's parties run, so that there are parties to outlive it.
    let snni = Process::find(run.child.id()).expect("snni runs");
    let mut children = Vec::new();
    let parties_seen = eventually(Duration::from_secs(10), || {
        children = snni.descendants();
        children.iter().any(|child| child.is_party())
    });
    run.kill();
    assert!(parties_seen, "no `snni party` child appeared: {children:?}");
    assert!(
        eventually(Duration::from_secs(10), || children
            .iter()
            .all(|child| !child.alive())),
        "parties outlived the killed run: {:?}",
        children.iter().filter(|c| c.alive()).collect::<Vec<_>>()
    );

    let resumed = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let events = resumed.events();
    let started = stage_events(&events, "stage_started", "profile");
    let started = started.first().expect("profile resumes");
    let done = started["resumed"].as_u64().unwrap();
    assert!(done >= 3, "resumed {done}: {started}");
    let finished = stage_events(&events, "shard_finished", "profile").len();
    assert_eq!(finished as u64, shards - done, "{}", resumed.stdout);
}

#[test]
fn pinned_parties_are_started_with_their_cpus_and_the_dataset_says_so() {
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(
            1,
            "",
            "      runs: 1\n      timeout: 120\n      cpus: [0]\n",
        ),
    );
    let manifest = manifest.to_str().unwrap();
    // The parties run through a wrapper that logs their arguments, then the real binary.
    let log = scratch.path("party-args.log");
    let wrapper = fake_snni(
        &scratch,
        &format!(
            "echo \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            common::snni_bin().display()
        ),
    );
    let run = Run::from(
        scratch
            .snni(&["run", manifest])
            .env("SNNI_EXE", &wrapper)
            .output()
            .unwrap(),
    )
    .expect_code(0);
    let args = std::fs::read_to_string(&log).unwrap();
    for role in ["server", "client"] {
        assert!(
            args.lines()
                .any(|l| l.starts_with(&format!("party {role}")) && l.contains("--cpus 0")),
            "{role} not pinned: {args}\n{}",
            output(&run)
        );
    }
    let meta = blob(&scratch, "profile/synth-0000.local.r00/meta");
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["cpus"], serde_json::json!([0]), "{meta}");
    let schema = blob(&scratch, "dataset/tables/layers");
    assert!(schema.contains("pinned_cpus: str"), "{schema}");
}

#[test]
fn failing_parties_are_retried_and_report_their_stderr() {
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(
            2,
            "",
            "      runs: 1\n      retries: 2\n      timeout: 60\n",
        ),
    );
    let manifest = manifest.to_str().unwrap();
    let fake = fake_snni(&scratch, "echo 'boom: the party broke' >&2\nexit 3\n");
    let failed = Run::from(
        scratch
            .snni(&["run", manifest])
            .env("SNNI_EXE", &fake)
            .output()
            .unwrap(),
    )
    .expect_code(1);
    let text = output(&failed);
    assert!(
        ["synth-0000", "synth-0001"]
            .iter()
            .any(|n| text.contains(&format!("profile `{n}.local.r00` (3 attempts)"))),
        "{text}"
    );
    assert!(text.contains("boom: the party broke"), "{text}");

    let fixed = scratch.run(&["run", manifest, "--json"]).expect_code(0);
    let events = fixed.events();
    assert_eq!(
        stage_events(&events, "shard_finished", "profile").len(),
        2,
        "{}",
        fixed.stdout
    );
    let ls = scratch
        .run(&["artifacts", "ls", "--store", "store", "--shards"])
        .expect_code(0);
    for shard in ["synth-0000.local.r00", "synth-0001.local.r00"] {
        assert!(
            ls.stdout.contains(&format!("profile[{shard}]")),
            "{}",
            ls.stdout
        );
    }
}

#[test]
fn a_hung_shard_times_out_and_its_parties_are_killed() {
    // A sleep length no other process uses marks the parties' processes.
    let marker = format!("60.{}", std::process::id());
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(1, "", "      runs: 1\n      retries: 0\n      timeout: 2\n"),
    );
    let fake = fake_snni(
        &scratch,
        &format!(
            "if [ \"$2\" = server ]; then echo 'server: listening on 127.0.0.1:9' >&2; fi\nexec sleep {marker}\n"
        ),
    );
    let started = Instant::now();
    let hung = Run::from(
        scratch
            .snni(&["run", manifest.to_str().unwrap()])
            .env("SNNI_EXE", &fake)
            .output()
            .unwrap(),
    )
    .expect_code(1);
    // Well under the parties' 60 s sleep: the timeout, not the parties, ended the shard.
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "{:?}",
        started.elapsed()
    );
    let text = output(&hung);
    assert!(text.contains("timed out"), "{text}");
    assert!(text.contains("(1 attempts)"), "{text}");

    let sleeping = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&marker))
                    && Process::find(*pid).is_some()
            })
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(Duration::from_secs(5), || sleeping().is_empty()),
        "hung parties still run: {:?}",
        sleeping()
    );
}

#[test]
fn tc_backend_shapes_rate_in_namespaces_and_cleans_up() {
    if !namespaces_work() {
        eprintln!("skipping: cannot create network namespaces (needs root and iproute2)");
        return;
    }
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(
            1,
            "  rate: {bandwidth: 100mbit}\n",
            "      settings: [rate]\n      runs: 1\n      retries: 0\n      timeout: 120\n      backend: tc\n",
        ),
    );
    let mut command = scratch.snni(&["run", manifest.to_str().unwrap()]);
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let run = Run::from(child.wait_with_output().unwrap());
    let text = output(&run);
    if run.code != 0 && text.contains("tbf") {
        eprintln!("skipping: the tbf qdisc is unavailable here:\n{text}");
        return;
    }
    run.expect_code(0);
    let meta = blob(&scratch, "profile/synth-0000.rate.r00/meta");
    assert!(meta.contains("\"backend\": \"tc\""), "{meta}");
    // Only this run's namespaces: other runs on the machine may hold their own.
    let left = [format!("snni-{pid}-"), format!("snni-probe-{pid}-")]
        .iter()
        .flat_map(|prefix| namespaces(prefix))
        .collect::<Vec<_>>();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

#[test]
fn tc_backend_without_netem_fails_once_naming_what_is_missing() {
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(
            1,
            "",
            "      settings: [lan]\n      runs: 1\n      retries: 2\n      timeout: 120\n      backend: tc\n",
        ),
    );
    let run = scratch.run(&["run", manifest.to_str().unwrap()]);
    if run.code == 0 {
        eprintln!("skipping: netem is available here");
        return;
    }
    let run = run.expect_code(1);
    let text = output(&run);
    assert!(text.contains("sch_netem"), "{text}");
    assert!(text.contains("(1 attempts)"), "retried: {text}");
}

#[test]
fn unknown_setting_is_a_manifest_error() {
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(1, "", "      settings: [lan, wna]\n"),
    );
    let text = std::fs::read_to_string(&manifest).unwrap();
    let line = 1 + text.lines().position(|line| line.contains("wna")).unwrap();
    let run = scratch
        .run(&["run", manifest.to_str().unwrap()])
        .expect_code(3);
    assert!(
        run.stderr.contains(&format!("study.yaml:{line}:")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`wna`"), "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `wan`")
            || run
                .stderr
                .lines()
                .any(|line| line.contains("local") && line.contains("wan")),
        "names the settings: {}",
        run.stderr
    );
}

#[test]
fn cpus_the_machine_lacks_fail_the_shard_once_naming_them() {
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "study.yaml",
        &profile_manifest(
            1,
            "",
            "      runs: 1\n      retries: 3\n      timeout: 60\n      cpus: [1000]\n",
        ),
    );
    let failed = scratch
        .run(&["run", manifest.to_str().unwrap()])
        .expect_code(1);
    let text = output(&failed);
    assert!(text.contains("(0 attempts)"), "{text}");
    assert!(text.contains("CPUs [1000]"), "{text}");
    assert!(text.contains("change `cpus`"), "{text}");
}

/// Every running `snni party` process whose command line mentions `marker`.
fn parties_of(marker: &str) -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(Process::find)
        .filter(|process| {
            process.is_party()
                && std::fs::read(format!("/proc/{}/cmdline", process.pid))
                    .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
        })
        .collect()
}

/// A profile shard's metering without its timings (every `…_s` field) and without the
/// setup traffic (the serialized public key's length varies by a byte or so with its
/// randomness): what two runs of the same shard must agree on (per layer and for the
/// inference: bytes, messages, rounds, protocol counts, shapes).
fn without_timings(ndjson: &str) -> Vec<serde_json::Value> {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.retain(|key, _| !key.ends_with("_s"));
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    ndjson
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            strip(&mut value);
            if let Some(run) = value.as_object_mut().filter(|v| v["record"] == "run") {
                run.remove("setup");
                run.remove("total");
            }
            value
        })
        .collect()
}

#[test]
fn kill_9_twenty_times_leaves_no_party_and_resumes_to_an_uninterrupted_run_s_outputs() {
    const KILLS: usize = 20;
    let settings = "  slow: {bandwidth: 200mbit, rtt: 2ms}\n";
    let profile =
        "      settings: [local, slow]\n      runs: 6\n      timeout: 120\n      backend: relay\n";
    let study = profile_manifest(2, settings, profile);
    // Local shards run first; each kill usually lets a shard or none finish, so 12 shards
    // of each kind outlast the 10 kills aimed at them however fast the machine is.
    let (local_shards, shards) = (12, 24);
    let scratch = Scratch::new();
    let manifest = scratch.write("study.yaml", &study);
    let manifest = manifest.to_str().unwrap();
    // The parties' network files live under this run's temporary folder, so their command
    // lines name it: that is how this test tells its parties from any other test's.
    let tmp = scratch.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let marker = tmp.to_str().unwrap().to_string();

    // Kill moments: seeded, spread over a shard's life (start-up, setup, layers).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next_delay = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Duration::from_millis(50 + state % 2_500)
    };
    let mut committed = 0;
    let (mut local_kills, mut shaped_kills) = (0, 0);
    for kill in 0..KILLS {
        let mut command = scratch.snni(&["run", manifest, "--json", "--jobs", "1"]);
        command.env("TMPDIR", &tmp);
        let mut run = Running::spawn(command);
        // The first half of the kills hit Local shards; before the second half the run
        // finishes the Local ones, so that the rest hit shaped shards.
        if kill == KILLS / 2 && committed < local_shards {
            let rest = local_shards - committed;
            assert!(
                run.skip_events(PROFILE_SHARD, rest),
                "the run ended before finishing its Local shards"
            );
            committed += rest;
        }
        assert!(
            committed < shards,
            "kill {kill}: every shard is already committed; the study is too small for {KILLS} kills"
        );
        let party_up = eventually(Duration::from_secs(60), || {
            !parties_of(&marker).is_empty() || run.child.try_wait().unwrap().is_some()
        });
        assert!(
            party_up && run.child.try_wait().unwrap().is_none(),
            "kill {kill}: no party ran ({committed} of {shards} shards committed)"
        );
        std::thread::sleep(next_delay());
        let in_flight = parties_of(&marker);
        run.kill();
        if committed < local_shards {
            local_kills += 1;
        } else {
            shaped_kills += 1;
        }
        assert!(
            eventually(Duration::from_secs(2), || in_flight
                .iter()
                .all(|p| !p.alive())
                && parties_of(&marker).is_empty()),
            "kill {kill}: parties outlived the killed run by 2 s: {:?}",
            parties_of(&marker)
        );
        committed += run.count_remaining(PROFILE_SHARD);
    }
    assert!(
        local_kills > 0 && shaped_kills > 0,
        "kills hit Local shards {local_kills} times and shaped ones {shaped_kills} times"
    );
    // Killed runs reuse one network file per network instead of leaking one per shard.
    let files = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .flat_map(|user| {
            std::fs::read_dir(user.path().join("networks"))
                .into_iter()
                .flatten()
        })
        .count();
    assert!(files <= 2, "{files} network files for 2 networks");

    let mut resume = scratch.snni(&["run", manifest]);
    resume.env("TMPDIR", &tmp);
    Run::from(resume.output().unwrap()).expect_code(0);

    // The same study, never interrupted.
    let clean = Scratch::new();
    let clean_manifest = clean.write("study.yaml", &study);
    clean
        .run(&["run", clean_manifest.to_str().unwrap()])
        .expect_code(0);
    let keys = |scratch: &Scratch| {
        let ls = scratch
            .run(&["artifacts", "ls", "--store", "store", "--shards"])
            .expect_code(0)
            .stdout;
        ls.lines()
            .filter(|line| line.starts_with("profile["))
            .map(|line| line.split_whitespace().next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let resumed_keys = keys(&scratch);
    assert_eq!(resumed_keys.len(), shards, "{resumed_keys:?}");
    assert_eq!(resumed_keys, keys(&clean));
    for key in resumed_keys {
        let shard = key.trim_start_matches("profile[").trim_end_matches(']');
        for output in ["network", "server", "client"] {
            let name = format!("profile/{shard}/{output}");
            let (a, b) = (blob(&scratch, &name), blob(&clean, &name));
            if output == "network" {
                assert_eq!(a, b, "{name}");
            } else {
                assert_eq!(without_timings(&a), without_timings(&b), "{name}");
            }
        }
    }
}
