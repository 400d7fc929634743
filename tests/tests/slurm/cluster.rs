//! The single-node Slurm cluster the tests share, started by `tests/slurm/cluster.sh`, and
//! small helpers around Slurm's commands. Tests take the cluster one at a time (they drain
//! the node, change MaxArraySize, and count the tasks in the queue).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::common::repo_root;

/// A started cluster; holding it means no other test uses the cluster meanwhile.
pub struct Cluster {
    /// The `SLURM_CONF` every Slurm command (and `snni`) must see.
    pub conf: PathBuf,
    /// A file lock on the cluster held for the life of this test process: tests reset the
    /// cluster by cancelling every job and draining the node, so two test processes (two
    /// checkouts tested at once on one machine) must not share it at the same time.
    _process_lock: std::fs::File,
}

/// The cluster, or `None` (after saying so loudly) when `SNNI_SKIP_SLURM=1` says this
/// machine has no Slurm on purpose. Fails the test when the cluster cannot start.
pub fn cluster() -> Option<MutexGuard<'static, Cluster>> {
    if std::env::var("SNNI_SKIP_SLURM").is_ok_and(|v| v == "1") {
        eprintln!(
            "SKIPPED: SNNI_SKIP_SLURM=1 says this machine has no Slurm on purpose; \
             this Slurm test did not run"
        );
        return None;
    }
    static CLUSTER: OnceLock<Mutex<Cluster>> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| {
        let script = repo_root().join("tests/slurm/cluster.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .output()
            .expect("run tests/slurm/cluster.sh");
        assert!(
            out.status.success(),
            "the Slurm tests need a single-node Slurm cluster, and {} could not start one:\n{}\n\
             Install Debian's slurm-wlm and munge and run as root (`.ci/run` does both), or set \
             SNNI_SKIP_SLURM=1 to skip these tests on purpose.",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
        let lock_path = conf.with_file_name("tests.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", lock_path.display()));
        if lock.try_lock().is_err() {
            eprintln!(
                "waiting for {}: another test process is using the Slurm cluster",
                lock_path.display()
            );
            lock.lock()
                .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
        }
        Mutex::new(Cluster {
            conf,
            _process_lock: lock,
        })
    });
    let guard = cluster.lock().unwrap_or_else(PoisonError::into_inner);
    guard.reset();
    Some(guard)
}

impl Cluster {
    /// A Slurm command with this cluster's configuration.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.args(args).env("SLURM_CONF", &self.conf);
        command
    }

    /// Runs a Slurm command and returns its stdout; panics with its stderr on failure.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .command(program, args)
            .output()
            .expect("run a Slurm command");
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// This node's name.
    pub fn node(&self) -> String {
        self.run("sinfo", &["-h", "-o", "%N"]).trim().to_string()
    }

    /// Cancels every job and resumes the node: a clean cluster for the next test.
    fn reset(&self) {
        let _ = self.command("scancel", &["--user=root"]).output();
        let _ = self
            .command(
                "scontrol",
                &[
                    "update",
                    &format!("nodename={}", self.node()),
                    "state=resume",
                ],
            )
            .output();
        let settled = wait_until(Duration::from_secs(60), || {
            self.tasks().iter().all(|(_, state)| !is_live(state))
                && self.run("sinfo", &["-h", "-o", "%T"]).trim() == "idle"
        });
        assert!(settled, "the cluster did not settle: {:?}", self.tasks());
    }

    /// Every task squeue lists (`job_index`, state), recently ended ones included.
    pub fn tasks(&self) -> Vec<(String, String)> {
        self.run("squeue", &["-h", "-r", "-t", "all", "-o", "%i|%T"])
            .lines()
            .filter_map(|line| {
                let (id, state) = line.trim().split_once('|')?;
                Some((id.to_string(), state.to_string()))
            })
            .collect()
    }

    /// Tasks in `state` (e.g. RUNNING).
    pub fn tasks_in(&self, state: &str) -> Vec<String> {
        self.tasks()
            .into_iter()
            .filter(|(_, s)| s == state)
            .map(|(id, _)| id)
            .collect()
    }

    /// Sets MaxArraySize until the guard drops.
    pub fn max_array_size(&self, size: u32) -> MaxArraySizeGuard<'_> {
        self.set_max_array_size(size);
        MaxArraySizeGuard { cluster: self }
    }

    fn set_max_array_size(&self, size: u32) {
        let script = repo_root().join("tests/slurm/cluster.sh");
        let out = Command::new("bash")
            .arg(script)
            .args(["max-array-size", &size.to_string()])
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Restores the default MaxArraySize when dropped.
pub struct MaxArraySizeGuard<'a> {
    cluster: &'a Cluster,
}

impl Drop for MaxArraySizeGuard<'_> {
    fn drop(&mut self) {
        self.cluster.set_max_array_size(1001);
    }
}

/// Whether a squeue state is a queued or running one.
pub fn is_live(state: &str) -> bool {
    matches!(
        state,
        "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "REQUEUED" | "SUSPENDED"
    )
}

/// Polls `done` every 100 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

/// Files directly in `dir` (empty when it does not exist).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}
