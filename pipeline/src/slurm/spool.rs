//! [`Spool`]: the folder every node sees, where the coordinator leaves work and nodes
//! leave results. Its layout:
//!
//! ```text
//! objects/<hex>                       inputs: upstream blobs and tables, by digest
//! stages/<stage fingerprint>.json     a stage's context (kind, params, upstream records)
//! batches/<batch>/tasks/<i>.json      array task i's shards; submit.sh; job (its job id)
//! started/<job>_<i>.r<n>.json         a task began (host, restart count)
//! work/…                              results being written (never read by the coordinator)
//! done/<fingerprint>.<job>_<i>.r<n>/  a finished shard: MANIFEST.json and objects/<hex>
//! failed/<fingerprint>.<job>_<i>.r<n>.json   a shard failed on a node (handled ones move to failed/handled/)
//! finished/<job>_<i>.r<n>.json        a task ended
//! rejected/…                          results that failed verification, kept for a look
//! logs/<stage>/<job>_<i>.out          each task's stdout and stderr
//! ```
//!
//! Every file is written under a temporary name and renamed into place, and a result folder
//! is complete (fsynced, with its manifest) before it is renamed into `done/`, so a reader
//! never sees half of anything. Listing a folder also refreshes NFS attribute caches.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use snni_artifacts::{Digest, ObjectDir};

use super::spec::FailedMarker;

/// The spool folder.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// A finished shard's result folder in `done/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoneEntry {
    /// The shard's fingerprint.
    pub fingerprint: Digest,
    /// `job_index.rN` of the task that wrote it.
    pub task: String,
    /// The folder.
    pub path: PathBuf,
}

const FOLDERS: &[&str] = &[
    "objects",
    "stages",
    "batches",
    "started",
    "work",
    "done",
    "failed/handled",
    "finished",
    "rejected",
    "logs",
];

impl Spool {
    /// The spool at `dir`, with its folders created.
    pub fn create(dir: &Path) -> std::io::Result<Spool> {
        for folder in FOLDERS {
            std::fs::create_dir_all(dir.join(folder))?;
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
        })
    }

    /// The spool at `dir` (not created).
    pub fn open(dir: &Path) -> Spool {
        Spool {
            dir: dir.to_path_buf(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The input objects.
    pub fn objects(&self) -> ObjectDir {
        ObjectDir::open(&self.dir.join("objects"))
    }

    /// Path of a stage's context file, relative to the spool.
    pub fn context_file(stage_fingerprint: &Digest) -> String {
        format!("stages/{}.json", stage_fingerprint.to_hex())
    }

    /// A path inside the spool.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The log folder of a stage (created).
    pub fn log_dir(&self, stage: &str) -> std::io::Result<PathBuf> {
        let dir = self.dir.join("logs").join(stage);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// A new, empty batch folder for a submission of `stage`.
    pub fn new_batch(&self, stage: &str) -> std::io::Result<PathBuf> {
        let stamp = super::spec::unix_ms();
        for n in 0.. {
            let dir = self
                .dir
                .join("batches")
                .join(format!("{stage}-{stamp}-{n}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    std::fs::create_dir(dir.join("tasks"))?;
                    return Ok(dir);
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            }
        }
        unreachable!("some batch name is free")
    }

    /// `started/<task>.json`.
    pub fn started_path(&self, task: &str) -> PathBuf {
        self.dir.join("started").join(format!("{task}.json"))
    }

    /// `finished/<task>.json`.
    pub fn finished_path(&self, task: &str) -> PathBuf {
        self.dir.join("finished").join(format!("{task}.json"))
    }

    /// `failed/<fingerprint>.<task>.json`.
    pub fn failed_path(&self, fingerprint: &Digest, task: &str) -> PathBuf {
        self.dir
            .join("failed")
            .join(format!("{}.{task}.json", fingerprint.to_hex()))
    }

    /// A fresh folder under `work/` to write one shard's result in.
    pub fn work_dir(&self, fingerprint: &Digest, task: &str) -> std::io::Result<PathBuf> {
        let dir = self.dir.join("work").join(format!(
            "{}.{task}.{}",
            fingerprint.to_hex(),
            std::process::id()
        ));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(dir.join("objects"))?;
        Ok(dir)
    }

    /// Moves a complete result folder from `work/` into `done/` (one rename).
    pub fn publish_done(
        &self,
        work: &Path,
        fingerprint: &Digest,
        task: &str,
    ) -> std::io::Result<()> {
        let target = self
            .dir
            .join("done")
            .join(format!("{}.{task}", fingerprint.to_hex()));
        if target.exists() {
            // The same task ran the shard before (a restart of the same attempt).
            std::fs::remove_dir_all(&target)?;
        }
        std::fs::rename(work, &target)?;
        sync_dir(&self.dir.join("done"))
    }

    /// Every result folder in `done/`.
    pub fn list_done(&self) -> std::io::Result<Vec<DoneEntry>> {
        let mut entries = Vec::new();
        for item in std::fs::read_dir(self.dir.join("done"))? {
            let item = item?;
            let name = item.file_name().to_string_lossy().into_owned();
            let Some((hex, task)) = name.split_once('.') else {
                continue;
            };
            let Ok(fingerprint) = hex.parse::<Digest>() else {
                continue;
            };
            entries.push(DoneEntry {
                fingerprint,
                task: task.to_string(),
                path: item.path(),
            });
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// Removes an ingested (or duplicate) result folder.
    pub fn remove_done(&self, entry: &DoneEntry) -> std::io::Result<()> {
        std::fs::remove_dir_all(&entry.path)
    }

    /// Moves a result folder that failed verification to `rejected/`.
    pub fn reject(&self, entry: &DoneEntry) -> std::io::Result<PathBuf> {
        let name = entry
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = self
            .dir
            .join("rejected")
            .join(format!("{name}.{}", super::spec::unix_ms()));
        std::fs::rename(&entry.path, &target)?;
        Ok(target)
    }

    /// Every unhandled failure marker, with its path.
    pub fn list_failed(&self) -> std::io::Result<Vec<(PathBuf, FailedMarker)>> {
        let mut markers = Vec::new();
        for item in std::fs::read_dir(self.dir.join("failed"))? {
            let item = item?;
            let path = item.path();
            if path.extension().is_none_or(|e| e != "json") || !item.file_type()?.is_file() {
                continue;
            }
            match std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<FailedMarker>(&bytes).ok())
            {
                Some(marker) => markers.push((path, marker)),
                None => tracing::warn!(path = %path.display(), "an unreadable failure marker"),
            }
        }
        markers.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(markers)
    }

    /// Moves a handled failure marker to `failed/handled/`.
    pub fn mark_handled(&self, path: &Path) -> std::io::Result<()> {
        let name = path.file_name().unwrap_or_default();
        std::fs::rename(path, self.dir.join("failed").join("handled").join(name))
    }

    /// The tasks (`job_index`, without the restart suffix) with a marker in `folder`
    /// (`started` or `finished`).
    pub fn tasks_with_marker(&self, folder: &str) -> std::io::Result<BTreeSet<String>> {
        let mut tasks = BTreeSet::new();
        for item in std::fs::read_dir(self.dir.join(folder))? {
            let name = item?.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json") {
                let task = stem.rsplit_once(".r").map_or(stem, |(task, _)| task);
                tasks.insert(task.to_string());
            }
        }
        Ok(tasks)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsynced, renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)?;
    sync_dir(dir)
}

/// fsyncs a folder so that renames into it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_entries_parse_and_markers_list_by_task() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::create(dir.path()).unwrap();
        let fp = Digest::of(b"shard");
        let work = spool.work_dir(&fp, "12_3.r0").unwrap();
        std::fs::write(work.join("MANIFEST.json"), b"{}").unwrap();
        spool.publish_done(&work, &fp, "12_3.r0").unwrap();
        let done = spool.list_done().unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].fingerprint, fp);
        assert_eq!(done[0].task, "12_3.r0");
        assert!(!work.exists());
        write_atomic(&spool.finished_path("12_3.r1"), b"{}").unwrap();
        let finished = spool.tasks_with_marker("finished").unwrap();
        assert_eq!(
            finished.into_iter().collect::<Vec<_>>(),
            vec!["12_3".to_string()]
        );
        let rejected = spool.reject(&done[0]).unwrap();
        assert!(rejected.starts_with(dir.path().join("rejected")));
        assert!(spool.list_done().unwrap().is_empty());
    }
}
