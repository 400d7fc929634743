//! A small builder for running the `snni` binary in a scratch folder.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

pub mod tools;

/// The `snni` binary these tests run: the one cargo built for this very test run (the tests
/// belong to the `snni-pipeline` package, so `cargo test` never runs a stale binary).
pub fn snni_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_snni"))
}

/// A scratch folder holding a manifest and a store.
pub struct Scratch {
    /// The temporary folder (removed on drop).
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// An empty scratch folder.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Path of `name` inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// A command running `snni` with `args` in this folder.
    pub fn snni(&self, args: &[&str]) -> Command {
        let mut command = Command::new(snni_bin());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SNNI_STORE")
            .env_remove("RUST_LOG")
            .env_remove("SNNI_EXE")
            .stdin(Stdio::null());
        command
    }

    /// Runs `snni` with `args` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.snni(args).output().expect("run snni");
        Run::from(output)
    }
}

/// The outcome of one `snni` invocation.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts the exit code, showing the output if it differs.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// JSON events from `--json` output.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a JSON event per line"))
            .collect()
    }
}

/// The start of a `--json` line saying a `synth` shard was committed.
pub const SYNTH_SHARD: &str = "\"event\":\"shard_finished\",\"stage\":\"synth\"";

/// A child `snni` that is killed (SIGKILL) and reaped when dropped, so a failing test
/// never leaves it running.
pub struct Running {
    /// The `snni` process.
    pub child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Running {
    /// Starts `command` (a `snni … --json` command) with its stdout piped to the test.
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Running { child, stdout }
    }

    /// Starts a long run and waits for its first committed `synth` shard.
    pub fn start(scratch: &Scratch, manifest: &str) -> Running {
        let mut running = Running::spawn(scratch.snni(&["run", manifest, "--json", "--jobs", "1"]));
        assert!(
            running.skip_events(SYNTH_SHARD, 1),
            "run ended before a shard finished"
        );
        running
    }

    /// Reads events until `count` lines containing `needle` were seen; false at EOF.
    pub fn skip_events(&mut self, needle: &str, count: usize) -> bool {
        let mut seen = 0;
        let mut line = String::new();
        while seen < count {
            line.clear();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                return false;
            }
            if line.contains(needle) {
                seen += 1;
            }
        }
        true
    }

    /// Reads the rest of the output (the process has ended or was killed) and counts the
    /// lines containing `needle`.
    pub fn count_remaining(&mut self, needle: &str) -> usize {
        let mut count = 0;
        let mut line = String::new();
        loop {
            line.clear();
            match self.stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return count,
                Ok(_) => count += usize::from(line.contains(needle)),
            }
        }
    }

    /// Reads events until one contains `needle` and returns it parsed; `None` at EOF.
    pub fn next_event(&mut self, needle: &str) -> Option<serde_json::Value> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                return None;
            }
            if line.contains(needle) {
                return serde_json::from_str(&line).ok();
            }
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A small study: `count` synthesized networks at 16x16x3 plus SqueezeNet at 32x32x3.
pub fn small_manifest(count: usize) -> String {
    format!(
        "name: small\nseed: 3\nstore: store\nsettings:\n  local: {{}}\nstages:\n  synth:\n    kind: synthesize\n    params:\n      count: {count}\n      input: {{h: 16, w: 16, c: 3}}\n      layers: {{min: 2, max: 4}}\n  reference:\n    kind: reference\n    params:\n      networks: [squeezenet]\n      input: {{h: 32, w: 32, c: 3}}\n"
    )
}
