//! [`StatusBoard`]: where every stage of a running study stands, built from the run's
//! events and published atomically as `<store>/status.json` (temporary file, rename), so
//! `snni status` can read it while the run holds the store.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::events::Event;

/// The status file's name inside the store folder.
pub const STATUS_FILE: &str = "status.json";

/// A running study's stages, as last published.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusBoard {
    /// Study name.
    pub study: String,
    /// The process that runs it.
    pub pid: u32,
    /// Where shards run.
    pub executor: String,
    /// Seconds since the Unix epoch when this was written.
    pub updated_unix: u64,
    /// Whether the run has ended.
    pub finished: bool,
    /// Stages in the order the run reported them.
    pub stages: Vec<StageStatus>,
}

/// One stage of a [`StatusBoard`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageStatus {
    /// Stage name.
    pub name: String,
    /// `cached`, `running`, `done`, `failed` or `skipped`.
    pub state: String,
    /// Shards in all (0 until the stage starts).
    pub shards: usize,
    /// Shards committed.
    pub done: usize,
    /// Shards running on the cluster.
    pub running: usize,
    /// Shards queued on the cluster, by Slurm's reason.
    pub pending: BTreeMap<String, usize>,
    /// Shards waiting to be resubmitted.
    pub retrying: usize,
    /// Shards that failed in this run.
    pub failed: usize,
    /// The stage's live cluster job ids.
    pub jobs: Vec<String>,
    /// Why it failed or was skipped.
    pub message: Option<String>,
}

impl StatusBoard {
    /// An empty board for the run of `study` by this process.
    pub fn new() -> StatusBoard {
        StatusBoard {
            pid: std::process::id(),
            ..StatusBoard::default()
        }
    }

    fn stage(&mut self, name: &str) -> &mut StageStatus {
        if let Some(i) = self.stages.iter().position(|s| s.name == name) {
            return &mut self.stages[i];
        }
        self.stages.push(StageStatus {
            name: name.to_string(),
            ..StageStatus::default()
        });
        self.stages.last_mut().expect("just pushed")
    }

    /// Takes one event into account.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                study, executor, ..
            } => {
                self.study = study.clone();
                self.executor = executor.clone();
            }
            Event::StageCached { stage, .. } => self.stage(stage).state = "cached".into(),
            Event::StageStarted {
                stage,
                shards,
                resumed,
                ..
            } => {
                let entry = self.stage(stage);
                entry.state = "running".into();
                entry.shards = *shards;
                entry.done = *resumed;
            }
            Event::ShardFinished { stage, .. } => self.stage(stage).done += 1,
            Event::ShardFailed { stage, .. } => self.stage(stage).failed += 1,
            Event::ShardsSubmitted { stage, job, .. } => {
                let entry = self.stage(stage);
                if !entry.jobs.contains(job) {
                    entry.jobs.push(job.clone());
                }
            }
            Event::ClusterProgress {
                stage,
                running,
                pending,
                retrying,
                jobs,
                ..
            } => {
                let entry = self.stage(stage);
                entry.running = *running;
                entry.pending = pending.clone();
                entry.retrying = *retrying;
                entry.jobs = jobs.clone();
            }
            Event::StageFinished { stage, .. } => {
                let entry = self.stage(stage);
                entry.state = "done".into();
                entry.running = 0;
                entry.pending.clear();
                entry.jobs.clear();
            }
            Event::StageFailed { stage, error } => {
                let entry = self.stage(stage);
                entry.state = "failed".into();
                entry.message = Some(error.clone());
            }
            Event::StageSkipped { stage, reason } => {
                let entry = self.stage(stage);
                entry.state = "skipped".into();
                entry.message = Some(reason.clone());
            }
            Event::RunFinished(_) => self.finished = true,
        }
    }

    /// Writes the board to `path` atomically (a reader sees the old or the new board).
    pub fn publish(&mut self, path: &Path) -> std::io::Result<()> {
        self.updated_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let temp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&temp, json)?;
        std::fs::rename(&temp, path)
    }

    /// Reads a published board.
    pub fn read(path: &Path) -> std::io::Result<StatusBoard> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_build_the_board_and_it_round_trips() {
        let mut board = StatusBoard::new();
        board.apply(&Event::RunStarted {
            study: "s".into(),
            stages: 2,
            jobs: 2,
            executor: "slurm".into(),
        });
        board.apply(&Event::StageCached {
            stage: "synth".into(),
            fingerprint: "f".repeat(64),
        });
        board.apply(&Event::StageStarted {
            stage: "profile".into(),
            fingerprint: "f".repeat(64),
            shards: 4,
            resumed: 1,
        });
        board.apply(&Event::ShardsSubmitted {
            stage: "profile".into(),
            job: "12".into(),
            tasks: 3,
            shards: 3,
        });
        board.apply(&Event::ClusterProgress {
            stage: "profile".into(),
            done: 2,
            running: 1,
            pending: BTreeMap::from([("Priority".to_string(), 1)]),
            retrying: 0,
            jobs: vec!["12".into()],
        });
        board.apply(&Event::ShardFinished {
            stage: "profile".into(),
            shard: "a".into(),
            ms: 1,
        });
        let profile = board.stages.iter().find(|s| s.name == "profile").unwrap();
        assert_eq!((profile.done, profile.shards, profile.running), (2, 4, 1));
        assert_eq!(profile.pending["Priority"], 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATUS_FILE);
        board.publish(&path).unwrap();
        assert_eq!(StatusBoard::read(&path).unwrap(), board);
    }
}
