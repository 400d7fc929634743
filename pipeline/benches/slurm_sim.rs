//! Benchmark: the Slurm coordinator at the paper study's scale, against a simulated cluster.
//!
//! `cargo bench -p snni-pipeline --bench slurm_sim` runs `snni run --executor slurm` on a
//! study of 10,000 shards (`SNNI_SIM_SHARDS` changes it) with stand-ins for `sbatch`,
//! `squeue`, `scontrol`, `sacct` and `scancel` first on PATH. The stand-ins are this same
//! binary under those names: `sbatch` queues an array's tasks; every `squeue` call is one
//! step of a cluster of 100 nodes, which finishes the 100 oldest queued tasks (writing their
//! results into the spool as a node's worker would) and lists the rest as running or
//! pending. It prints the coordinator's own CPU time (the stand-ins' CPU, which they log,
//! subtracted), its peak memory, the wall time and the squeue calls per poll. Targets:
//! ≤ 30 s of CPU, ≤ 200 MB, and one squeue call per poll whatever the number of tasks.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use snni_artifacts::Digest;
use snni_pipeline::slurm::spec::{ResultManifest, ResultOutput, RunInfo, TaskSpec, SPOOL_FORMAT};

/// Nodes of the simulated cluster: tasks finished per squeue call.
const NODES: usize = 100;
const POLL: &str = "200ms";

fn main() {
    let me = std::env::args().next().unwrap_or_default();
    let name = Path::new(&me)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let code = match name.as_str() {
        "sbatch" => stand_in(sbatch),
        "squeue" => stand_in(squeue),
        "scontrol" => {
            println!("MaxArraySize            = 1001");
            0
        }
        "sacct" | "scancel" => 0,
        _ => {
            bench();
            0
        }
    };
    std::process::exit(code);
}

fn state() -> PathBuf {
    PathBuf::from(std::env::var("SNNI_SIM_DIR").expect("SNNI_SIM_DIR"))
}

/// Runs a stand-in and logs the CPU time it used.
fn stand_in(body: fn(&[String]) -> i32) -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = body(&args);
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let cpu = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 * 1e-6;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state().join("stand-in-cpu.log"))
        .unwrap();
    writeln!(
        log,
        "{} {}",
        std::env::args().next().unwrap_or_default(),
        cpu(usage.user_time()) + cpu(usage.system_time())
    )
    .unwrap();
    code
}

/// A queued array: its batch folder, tasks and how many have finished.
#[derive(serde::Serialize, serde::Deserialize)]
struct Job {
    id: u64,
    batch: PathBuf,
    tasks: usize,
    finished: usize,
}

fn jobs() -> Vec<Job> {
    let mut jobs: Vec<Job> = std::fs::read_dir(state().join("jobs"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    jobs.sort_by_key(|j| j.id);
    jobs
}

fn save(job: &Job) {
    let path = state().join("jobs").join(format!("{}.json", job.id));
    std::fs::write(path, serde_json::to_vec(job).unwrap()).unwrap();
}

fn sbatch(args: &[String]) -> i32 {
    let array = args
        .iter()
        .find_map(|a| a.strip_prefix("--array="))
        .expect("--array");
    let last: usize = array.split(['-', '%']).nth(1).unwrap().parse().unwrap();
    let script = std::fs::read_to_string(args.last().unwrap()).unwrap();
    let spec = script.split("--spec '").nth(1).unwrap();
    let batch = PathBuf::from(spec.split("/tasks/").next().unwrap());
    let id = jobs().last().map_or(1000, |j| j.id + 1);
    save(&Job {
        id,
        batch,
        tasks: last + 1,
        finished: 0,
    });
    println!("{id}");
    0
}

fn squeue(_args: &[String]) -> i32 {
    let calls = state().join("squeue-calls");
    let n: u64 = std::fs::read_to_string(&calls)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    std::fs::write(&calls, (n + 1).to_string()).unwrap();
    let mut free = NODES;
    let mut out = String::new();
    for mut job in jobs() {
        while free > 0 && job.finished < job.tasks {
            finish(&job, job.finished);
            job.finished += 1;
            free -= 1;
        }
        save(&job);
        for index in job.finished..job.tasks {
            let state = if index - job.finished < NODES {
                "RUNNING|None"
            } else {
                "PENDING|Priority"
            };
            out.push_str(&format!("{}_{index}|{state}\n", job.id));
        }
    }
    print!("{out}");
    0
}

/// Writes task `index`'s results into the spool, as a worker would.
fn finish(job: &Job, index: usize) {
    let spec: TaskSpec = serde_json::from_slice(
        &std::fs::read(job.batch.join("tasks").join(format!("{index}.json"))).unwrap(),
    )
    .unwrap();
    let context: serde_json::Value =
        serde_json::from_slice(&std::fs::read(spec.spool.join(&spec.context)).unwrap()).unwrap();
    let stage = context["stage"].as_str().unwrap().to_string();
    for shard in &spec.shards {
        let task = format!("{}_{index}.r0", job.id);
        let work = spec
            .spool
            .join("work")
            .join(format!("{}.{task}", shard.fingerprint.to_hex()));
        std::fs::create_dir_all(work.join("objects")).unwrap();
        let bytes = format!("simulated output of {}\n", shard.shard).into_bytes();
        let digest = Digest::of(&bytes);
        std::fs::write(work.join("objects").join(digest.to_hex()), &bytes).unwrap();
        let manifest = ResultManifest {
            format: SPOOL_FORMAT,
            stage: stage.clone(),
            shard: shard.shard.clone(),
            fingerprint: shard.fingerprint,
            outputs: BTreeMap::from([(
                "network".to_string(),
                ResultOutput::Blob {
                    digest,
                    bytes: bytes.len() as u64,
                    media_type: "application/yaml".to_string(),
                },
            )]),
            run: RunInfo {
                host: "sim".into(),
                task: task.clone(),
                ..RunInfo::default()
            },
        };
        std::fs::write(
            work.join("MANIFEST.json"),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        std::fs::rename(
            &work,
            spec.spool
                .join("done")
                .join(format!("{}.{task}", shard.fingerprint.to_hex())),
        )
        .unwrap();
    }
}

fn bench() {
    let shards: usize = std::env::var("SNNI_SIM_SHARDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(sim.join("jobs")).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let me = std::env::current_exe().unwrap();
    for tool in ["sbatch", "squeue", "scontrol", "sacct", "scancel"] {
        std::os::unix::fs::symlink(&me, bin.join(tool)).unwrap();
    }
    let manifest = format!(
        "name: sim\nseed: 1\nstore: store\nexecutor:\n  kind: slurm\n  spool: spool\n  poll: {POLL}\n  lost_after: 60s\n  bundle_minutes: 0\n  max_concurrent: {NODES}\nstages:\n  synth:\n    kind: synthesize\n    params:\n      count: {shards}\n      input: {{h: 8, w: 8, c: 3}}\n"
    );
    std::fs::write(dir.path().join("sim.yaml"), manifest).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_snni"))
        .args(["run", "sim.yaml"])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("SNNI_SIM_DIR", &sim)
        .env("RUST_LOG", "snni_pipeline::slurm=info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(sim.join("coordinator.log")).unwrap())
        .spawn()
        .unwrap();
    // Peak resident memory of the coordinator, sampled.
    let mut peak_kb = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = started.elapsed();
    assert!(status.success(), "snni run failed");
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let cpu = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 * 1e-6;
    let children_cpu = cpu(usage.user_time()) + cpu(usage.system_time());
    let stand_ins: f64 = std::fs::read_to_string(sim.join("stand-in-cpu.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum();
    let calls: u64 = std::fs::read_to_string(sim.join("squeue-calls"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let arrays = std::fs::read_dir(sim.join("jobs")).unwrap().count();
    // The coordinator logs its polls and squeue calls when the stage settles.
    let log = std::fs::read_to_string(sim.join("coordinator.log")).unwrap();
    let field = |name: &str| -> u64 {
        log.lines()
            .filter(|l| l.contains("stage settled on the cluster"))
            .filter_map(|l| {
                let at = l.find(&format!("{name}="))? + name.len() + 1;
                l[at..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let (polls, logged_calls) = (field("polls"), field("squeue_calls"));
    println!("simulated cluster: {NODES} nodes, poll {POLL}, {shards} shards in {arrays} arrays");
    println!("wall                    {:>8.1} s", wall.as_secs_f64());
    println!("coordinator CPU         {:>8.1} s (all children {children_cpu:.1} s, stand-ins {stand_ins:.1} s)", children_cpu - stand_ins);
    println!(
        "coordinator peak memory {:>8.1} MB (VmHWM)",
        peak_kb as f64 / 1024.0
    );
    println!(
        "squeue calls            {calls:>8} over {polls} polls ({:.2} per poll; coordinator counted {logged_calls})",
        calls as f64 / polls.max(1) as f64
    );
}
