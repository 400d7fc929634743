//! `snni status` and `snni cancel`: where a study stands and stopping its cluster jobs.
//!
//! While `snni run` holds the store, `status` reads the board the run publishes
//! (`<store>/status.json`); otherwise it opens the store read-only, plans the study and
//! asks `squeue` about the jobs the journal records (a coordinator may have been killed
//! while its tasks run on). `cancel` stops a running coordinator (SIGINT: it commits what
//! finished) and cancels every job carrying the study's job name.

use std::collections::BTreeMap;
use std::time::Duration;

use snni_artifacts::{OnLocked, Store, StoreError};

use super::{load_study, CommandError, CommandResult};
use crate::cli::{CancelArgs, StatusArgs};
use crate::exec::{StageStatus, StatusBoard, STATUS_FILE};
use crate::exit_codes;
use crate::manifest::Study;
use crate::plan::{Plan, Selection, Status};
use crate::slurm::commands::{parse_squeue, scancel_by_name, Squeue, TaskState};
use crate::slurm::{job_name, journal_prefix, Submission};

/// `snni status`.
pub fn status(args: StatusArgs) -> CommandResult {
    let study = load_study(&args.manifest, &args.store)?;
    if !study.store.join(snni_artifacts::DB_DIR).is_dir() {
        return Err(CommandError::new(
            exit_codes::MISSING_INPUT,
            format!(
                "no store at {}: the study has not run",
                study.store.display()
            ),
        )
        .help(format!("`snni run {}` starts it", args.manifest.display())));
    }
    let (board, live) = match Store::open_read_only(&study.store, OnLocked::Fail) {
        Ok(store) => (board_from_store(&study, &store)?, None),
        Err(StoreError::Locked { pid, .. }) => {
            let board = StatusBoard::read(&study.store.join(STATUS_FILE)).map_err(|e| {
                CommandError::new(
                    exit_codes::STORE_LOCKED,
                    format!(
                        "a run (pid {}) holds the store and its status file cannot be read: {e}",
                        pid.map_or("?".to_string(), |p| p.to_string())
                    ),
                )
                .help("the run publishes its status within a second of starting; try again")
            })?;
            (board, pid)
        }
        Err(error) => return Err(error.into()),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&board).expect("status serializes")
        );
        return Ok(exit_codes::SUCCESS);
    }
    match live {
        Some(pid) => {
            let age = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .saturating_sub(board.updated_unix);
            println!(
                "study {}: running (pid {pid}, shards on {}), status {age}s old",
                study.name, board.executor
            );
        }
        None => println!("study {}: no run holds the store", study.name),
    }
    print_board(&study, &board);
    Ok(exit_codes::SUCCESS)
}

fn print_board(study: &Study, board: &StatusBoard) {
    let width = study.stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for stage in &study.stages {
        let entry = board.stages.iter().find(|s| s.name == stage.name);
        let Some(entry) = entry else {
            println!("  {:<width$}  waiting", stage.name);
            continue;
        };
        let mut line = format!("  {:<width$}  {:<8}", entry.name, entry.state);
        if entry.shards > 0 {
            line.push_str(&format!(" {}/{} done", entry.done, entry.shards));
        }
        if entry.running > 0 {
            line.push_str(&format!(", {} running", entry.running));
        }
        let queued: usize = entry.pending.values().sum();
        if queued > 0 {
            let reasons = entry
                .pending
                .iter()
                .map(|(reason, n)| format!("{reason}: {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            line.push_str(&format!(", {queued} pending ({reasons})"));
        }
        if entry.retrying > 0 {
            line.push_str(&format!(", {} to resubmit", entry.retrying));
        }
        if entry.failed > 0 {
            line.push_str(&format!(", {} failed", entry.failed));
        }
        if !entry.jobs.is_empty() {
            line.push_str(&format!("  jobs {}", entry.jobs.join(", ")));
        }
        println!("{line}");
        if let Some(message) = &entry.message {
            println!("  {:<width$}    {message}", "");
        }
    }
}

/// The board of a study no run holds: the plan's view, plus the cluster tasks the journal
/// records that squeue still lists.
fn board_from_store(study: &Study, store: &Store) -> Result<StatusBoard, CommandError> {
    let plan = Plan::make(study, store, &Selection::default())?;
    let queue = cluster_queue(study);
    let mut board = StatusBoard {
        study: study.name.clone(),
        executor: study.executor.name().to_string(),
        finished: true,
        ..StatusBoard::default()
    };
    for stage in &plan.stages {
        let mut entry = StageStatus {
            name: stage.name.clone(),
            shards: stage.shards.unwrap_or(0),
            ..StageStatus::default()
        };
        entry.state = match &stage.status {
            Status::Cached => "cached".into(),
            Status::NotSelected => "not selected".into(),
            Status::Waits { .. } => "waiting".into(),
            Status::Run { .. } => "to run".into(),
        };
        if matches!(stage.status, Status::Cached) {
            entry.done = entry.shards;
        }
        let fingerprint = stage.fingerprint.as_deref().and_then(|f| f.parse().ok());
        if let (Some(fingerprint), Some(queue)) = (fingerprint, &queue) {
            let submissions = store.journal_entries(&journal_prefix(&fingerprint))?;
            for (_, value) in submissions {
                let Ok(submission) = serde_json::from_value::<Submission>(value) else {
                    continue;
                };
                for (index, shards) in submission.tasks.iter().enumerate() {
                    let task = crate::slurm::spec::TaskId {
                        job: submission.job.clone(),
                        index: index as u32,
                    };
                    match queue.get(&task) {
                        Some(TaskState::Running) => entry.running += shards.len(),
                        Some(TaskState::Pending(reason)) => {
                            *entry.pending.entry(reason.clone()).or_default() += shards.len()
                        }
                        _ => continue,
                    }
                    if !entry.jobs.contains(&submission.job) {
                        entry.jobs.push(submission.job.clone());
                    }
                }
            }
            if !entry.jobs.is_empty() {
                entry.state = "on cluster".into();
                entry.message = Some(
                    "no coordinator runs: `snni run` again ingests what these jobs finish".into(),
                );
            }
        }
        board.stages.push(entry);
    }
    Ok(board)
}

/// The study's tasks squeue lists, or `None` when there is no Slurm to ask.
fn cluster_queue(study: &Study) -> Option<BTreeMap<crate::slurm::spec::TaskId, TaskState>> {
    let out = Squeue {
        job_name: job_name(&study.name, &study.store),
    }
    .expression()
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .ok()?;
    out.status.success().then(|| {
        parse_squeue(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .collect()
    })
}

/// `snni cancel`.
pub fn cancel(args: CancelArgs) -> CommandResult {
    let study = load_study(&args.manifest, &args.store)?;
    let name = job_name(&study.name, &study.store);
    // A running coordinator would resubmit what is cancelled: stop it first.
    if study.store.join(snni_artifacts::DB_DIR).is_dir() {
        if let Err(StoreError::Locked { pid: Some(pid), .. }) =
            Store::open_read_only(&study.store, OnLocked::Fail)
        {
            interrupt(pid)?;
            println!("stopped the running coordinator (pid {pid})");
        }
    }
    let queue = cluster_queue(&study).unwrap_or_default();
    let live = queue
        .values()
        .filter(|s| !matches!(s, TaskState::Ended(_)))
        .count();
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string());
    let out = scancel_by_name(&name, &user)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| {
            CommandError::new(exit_codes::STAGE_FAILED, format!("cannot run scancel: {e}"))
                .help("is Slurm installed and on PATH?")
        })?;
    if !out.status.success() {
        return Err(CommandError::new(
            exit_codes::STAGE_FAILED,
            format!(
                "scancel failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    println!("cancelled {live} queued or running tasks of jobs named {name}");
    Ok(exit_codes::SUCCESS)
}

/// Sends SIGINT to the coordinator and waits (up to 30 s) for it to release the store.
fn interrupt(pid: u32) -> Result<(), CommandError> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let pid_t = i32::try_from(pid)
        .map_err(|_| CommandError::new(exit_codes::STORE_ERROR, format!("odd process id {pid}")))?;
    kill(Pid::from_raw(pid_t), Signal::SIGINT).map_err(|e| {
        CommandError::new(
            exit_codes::STORE_LOCKED,
            format!("cannot stop the coordinator (pid {pid}): {e}"),
        )
    })?;
    for _ in 0..300 {
        if kill(Pid::from_raw(pid_t), None).is_err() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(CommandError::new(
        exit_codes::STORE_LOCKED,
        format!("the coordinator (pid {pid}) did not stop within 30 s"),
    ))
}
