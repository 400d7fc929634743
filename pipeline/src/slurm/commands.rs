//! The Slurm commands the coordinator runs, each a small typed builder returning a
//! `duct::Expression` (logged at debug level), with their output parsed here: `sbatch`
//! submits an array, `squeue` lists the study's tasks (one call per poll for all of
//! them), `scontrol show config` gives the cluster's MaxArraySize, `sacct` names why a
//! task ended when accounting is on, `scancel` cancels the study's jobs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::spec::TaskId;

/// `sbatch` for one job array.
#[derive(Debug, Clone)]
pub struct Sbatch {
    /// The batch script.
    pub script: PathBuf,
    /// The job name shared by every job of the study (what `squeue --name` finds).
    pub job_name: String,
    /// Array tasks (indices `0..tasks`).
    pub tasks: usize,
    /// `%N`: tasks running at once.
    pub max_concurrent: u32,
    /// Where each task's output goes (with `%A`/`%a`).
    pub output: PathBuf,
    /// Resource and placement options (`--partition=…`), then the manifest's `extra`.
    pub options: Vec<String>,
}

impl Sbatch {
    /// The arguments after `sbatch`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", self.job_name),
            format!(
                "--array=0-{}%{}",
                self.tasks.saturating_sub(1),
                self.max_concurrent
            ),
            format!("--output={}", self.output.display()),
            // The worker turns this warning into `failed/` markers before the kill.
            "--signal=B:USR2@60".to_string(),
            // Retries are counted in one place: the coordinator resubmits.
            "--no-requeue".to_string(),
        ];
        args.extend(self.options.iter().cloned());
        args.push(self.script.display().to_string());
        args
    }

    /// The command (not started).
    pub fn expression(&self) -> duct::Expression {
        let expression = duct::cmd("sbatch", self.args());
        tracing::debug!(?expression, "sbatch");
        expression
    }
}

/// The job id in `sbatch --parsable` output (`123` or `123;cluster`).
pub fn parse_job_id(stdout: &str) -> Option<String> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    let id = line.split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

/// Where a task stands, as squeue says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting, with Slurm's reason (`Priority`, `Resources`, `ReqNodeNotAvail…`).
    Pending(String),
    /// Running (or completing).
    Running,
    /// Ended in this state (`COMPLETED`, `FAILED`, `TIMEOUT`, `CANCELLED`,
    /// `OUT_OF_MEMORY`, `NODE_FAIL`, …), shown until MinJobAge passes.
    Ended(String),
}

/// `squeue` listing every task of the study's jobs, recently ended ones included.
#[derive(Debug, Clone)]
pub struct Squeue {
    /// The study's job name.
    pub job_name: String,
}

impl Squeue {
    /// The command (not started).
    pub fn expression(&self) -> duct::Expression {
        let expression = duct::cmd(
            "squeue",
            [
                "--noheader",
                "--array",
                "--states=all",
                &format!("--name={}", self.job_name),
                "--format=%i|%T|%r",
            ],
        );
        tracing::debug!(?expression, "squeue");
        expression
    }
}

/// Parses `squeue --format=%i|%T|%r` lines into task states.
pub fn parse_squeue(stdout: &str) -> HashMap<TaskId, TaskState> {
    let mut tasks = HashMap::new();
    for line in stdout.lines() {
        let mut fields = line.trim().split('|');
        let (Some(id), Some(state), reason) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let Some((job, index)) = id.split_once('_') else {
            continue;
        };
        let Ok(index) = index.parse::<u32>() else {
            // A pending array not split into tasks (`12_[3-9%2]`) is not expected with
            // --array, but must not be misread.
            continue;
        };
        let state = match state {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD"
            | "SUSPENDED" | "CONFIGURING" | "RESIZING" => {
                // Slurm says `None` before the scheduler has looked at a task.
                match reason.map(str::trim) {
                    None | Some("None") | Some("") => TaskState::Pending("Queued".to_string()),
                    Some(reason) => TaskState::Pending(reason.to_string()),
                }
            }
            "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" => TaskState::Running,
            other => TaskState::Ended(other.to_string()),
        };
        tasks.insert(
            TaskId {
                job: job.to_string(),
                index,
            },
            state,
        );
    }
    tasks
}

/// `scontrol show config`: the cluster's settings.
pub fn show_config() -> duct::Expression {
    duct::cmd("scontrol", ["show", "config"])
}

/// MaxArraySize from `scontrol show config` output.
pub fn parse_max_array_size(stdout: &str) -> Option<u32> {
    stdout.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// `sacct` for the final state of some tasks (needs accounting; optional).
pub fn sacct(tasks: &[TaskId]) -> duct::Expression {
    let ids: Vec<String> = tasks.iter().map(TaskId::label).collect();
    duct::cmd(
        "sacct",
        [
            "--noheader",
            "--parsable2",
            "--allocations",
            "--format=JobID,State",
            &format!("--jobs={}", ids.join(",")),
        ],
    )
}

/// Parses `sacct --parsable2 --format=JobID,State` into states by task.
pub fn parse_sacct(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| {
            let (id, state) = line.trim().split_once('|')?;
            Some((id.to_string(), state.split_whitespace().next()?.to_string()))
        })
        .collect()
}

/// `scancel` of every job named `job_name` of `user`.
pub fn scancel_by_name(job_name: &str, user: &str) -> duct::Expression {
    duct::cmd(
        "scancel",
        [format!("--name={job_name}"), format!("--user={user}")],
    )
}

/// The batch script of an array: the task runs `snni shard run` on its own spec file.
pub fn batch_script(exe: &Path, batch: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by snni: one array task runs the shards listed in tasks/<index>.json.\n\
         exec {} shard run --spec {}\"$SLURM_ARRAY_TASK_ID\".json\n",
        shell_quote(&exe.display().to_string()),
        shell_quote(&format!("{}/tasks/", batch.display())),
    )
}

/// Quotes a word for a POSIX shell.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_slurm_prints() {
        assert_eq!(parse_job_id("1234\n").as_deref(), Some("1234"));
        assert_eq!(parse_job_id("1234;snni\n").as_deref(), Some("1234"));
        assert_eq!(parse_job_id("sbatch: error\n"), None);
        let queue = parse_squeue(
            "12_0|RUNNING|None\n12_1|PENDING|Priority\n12_2|TIMEOUT|TimeLimit\n13_[0-4]|PENDING|Resources\n",
        );
        let task = |index| TaskId {
            job: "12".into(),
            index,
        };
        assert_eq!(queue[&task(0)], TaskState::Running);
        assert_eq!(queue[&task(1)], TaskState::Pending("Priority".into()));
        assert_eq!(queue[&task(2)], TaskState::Ended("TIMEOUT".into()));
        assert_eq!(queue.len(), 3);
        assert_eq!(
            parse_max_array_size("MaxArraySize            = 1001\nMaxJobCount = 10000\n"),
            Some(1001)
        );
        let states = parse_sacct("12_0|COMPLETED\n12_1|CANCELLED by 0\n");
        assert_eq!(states["12_1"], "CANCELLED");
    }

    #[test]
    fn the_script_quotes_paths() {
        let script = batch_script(Path::new("/opt/it's/snni"), Path::new("/spool/b 1"));
        assert!(script.contains("exec '/opt/it'\\''s/snni' shard run --spec '/spool/b 1/tasks/'\"$SLURM_ARRAY_TASK_ID\".json"), "{script}");
        let sbatch = Sbatch {
            script: "/s/submit.sh".into(),
            job_name: "snni-x".into(),
            tasks: 12,
            max_concurrent: 5,
            output: "/s/logs/%A_%a.out".into(),
            options: vec!["--partition=short".into()],
        };
        let args = sbatch.args();
        assert!(args.contains(&"--array=0-11%5".to_string()), "{args:?}");
        assert_eq!(args.last().map(String::as_str), Some("/s/submit.sh"));
    }
}
