//! A study in a scratch folder run through the cluster: its manifest (with an `executor:`
//! block pointing at a spool in the folder and short poll intervals), commands with the
//! cluster's `SLURM_CONF`, and reads of its store and spool.

use std::path::{Path, PathBuf};
use std::process::Command;

use snni_artifacts::{OnLocked, Record, Store};

use crate::cluster::Cluster;
use crate::common::{Run, Scratch};

/// A study using the cluster.
pub struct Study<'a> {
    /// Its folder.
    pub scratch: Scratch,
    /// Its manifest.
    pub manifest: PathBuf,
    /// The cluster.
    pub cluster: &'a Cluster,
    /// A folder put first on PATH (stand-ins for Slurm commands), if any.
    pub path_prefix: Option<PathBuf>,
}

/// `count` tiny synthesized networks.
pub fn synth(count: usize) -> String {
    format!(
        "  synth:\n    kind: synthesize\n    params:\n      count: {count}\n      input: {{h: 8, w: 8, c: 3}}\n      layers: {{min: 2, max: 3}}\n      filters: [8]\n"
    )
}

/// A profile of every synthesized network; `params` are extra lines indented by six.
pub fn profile(params: &str) -> String {
    format!(
        "  profile:\n    kind: profile\n    needs: [synth]\n    params:\n      runs: 1\n      retries: 0\n      timeout: 600\n{params}"
    )
}

impl<'a> Study<'a> {
    /// A study of `stages` whose executor block has the test defaults, changed or extended
    /// by `executor` (`key: value` lines indented by two).
    pub fn new(cluster: &'a Cluster, stages: &str, executor: &str) -> Study<'a> {
        let scratch = Scratch::new();
        let mut block: Vec<(String, String)> = [
            ("kind", "slurm"),
            ("spool", "spool"),
            ("poll", "300ms"),
            ("lost_after", "4s"),
            ("resubmits", "1"),
            ("bundle_minutes", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for line in executor.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.trim().split_once(':').expect("a `key: value` line");
            let value = value.trim().to_string();
            match block.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value,
                None => block.push((key.to_string(), value)),
            }
        }
        let block: String = block.iter().map(|(k, v)| format!("  {k}: {v}\n")).collect();
        let text = format!(
            "name: slurmy\nseed: 5\nstore: store\nsettings:\n  local: {{}}\nexecutor:\n{block}stages:\n{stages}"
        );
        let manifest = scratch.write("study.yaml", &text);
        Study {
            scratch,
            manifest,
            cluster,
            path_prefix: None,
        }
    }

    /// A study from a manifest's full text.
    pub fn from_text(cluster: &'a Cluster, text: &str) -> Study<'a> {
        let scratch = Scratch::new();
        let manifest = scratch.write("study.yaml", text);
        Study {
            scratch,
            manifest,
            cluster,
            path_prefix: None,
        }
    }

    /// The manifest path as a string.
    pub fn manifest(&self) -> &str {
        self.manifest.to_str().unwrap()
    }

    /// `snni args…` with the cluster's configuration.
    pub fn snni(&self, args: &[&str]) -> Command {
        let mut command = self.scratch.snni(args);
        command.env("SLURM_CONF", &self.cluster.conf);
        if let Some(prefix) = &self.path_prefix {
            let path = std::env::var("PATH").unwrap_or_default();
            command.env("PATH", format!("{}:{path}", prefix.display()));
        }
        command
    }

    /// Runs `snni args…` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.snni(args).output().expect("run snni"))
    }

    /// `snni run MANIFEST --json` plus `extra`, to completion.
    pub fn run_study(&self, extra: &[&str]) -> Run {
        let mut args = vec!["run", self.manifest(), "--json"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// A path in the study's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.scratch.path(name)
    }

    /// The spool folder.
    pub fn spool(&self) -> PathBuf {
        self.path("spool")
    }

    /// The store (open it only when no run holds it).
    pub fn store(&self) -> Store {
        Store::open(&self.path("store"), OnLocked::Fail).expect("open the study's store")
    }

    /// Every shard record of `stage`, by shard key (opens the store: call it when no run
    /// and no other handle holds it).
    pub fn shard_records(&self, stage: &str) -> Vec<Record> {
        shard_records(&self.store(), stage)
    }
}

/// Every shard record of `stage` in `store`, by shard key.
pub fn shard_records(store: &Store, stage: &str) -> Vec<Record> {
    let mut records: Vec<Record> = store
        .records()
        .unwrap()
        .into_iter()
        .filter(|r| r.stage == stage && r.shard.is_some())
        .collect();
    records.sort_by(|a, b| a.shard.cmp(&b.shard));
    records
}

/// Events of `kind` (for `stage`, when given).
pub fn events(run: &Run, kind: &str, stage: Option<&str>) -> Vec<serde_json::Value> {
    run.events()
        .into_iter()
        .filter(|e| e["event"] == kind && stage.is_none_or(|s| e["stage"] == s))
        .collect()
}

/// The fingerprints and shard keys of every task spec the coordinator wrote.
pub fn spooled_shards(spool: &Path) -> Vec<(String, String, PathBuf)> {
    let mut shards = Vec::new();
    for batch in crate::cluster::files_in(&spool.join("batches")) {
        for task in crate::cluster::files_in(&batch.join("tasks")) {
            let spec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&task).unwrap()).unwrap();
            for shard in spec["shards"].as_array().unwrap() {
                shards.push((
                    shard["shard"].as_str().unwrap().to_string(),
                    shard["fingerprint"].as_str().unwrap().to_string(),
                    task.clone(),
                ));
            }
        }
    }
    shards
}
