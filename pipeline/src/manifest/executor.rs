//! The manifest's `executor:` block: where the shards of a study run — on this machine
//! (`local`, the default) or as Slurm job arrays (`slurm`) — decoded with serde, then
//! validated field by field with positioned diagnostics. Nothing here enters a
//! fingerprint: a shard computed on the cluster is the same cached shard as a local one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::diagnostic::{Code, Diagnostic};
use super::source::{join, SourceFile};
use super::units::parse_interval;

/// Keys allowed in `executor:`.
pub const EXECUTOR_KEYS: &[&str] = &[
    "kind",
    "spool",
    "max_concurrent",
    "poll",
    "lost_after",
    "resubmits",
    "bundle_minutes",
    "sbatch",
    "shaped",
    "extra",
];

/// sbatch options this executor sets itself; `extra` may not repeat them.
const MANAGED_OPTIONS: &[&str] = &[
    "--array",
    "-a",
    "--output",
    "-o",
    "--error",
    "-e",
    "--parsable",
    "--job-name",
    "-J",
    "--signal",
    "--wrap",
];

/// `executor:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExecutor {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    spool: Option<String>,
    #[serde(default)]
    max_concurrent: Option<u32>,
    #[serde(default)]
    poll: Option<String>,
    #[serde(default)]
    lost_after: Option<String>,
    #[serde(default)]
    resubmits: Option<u32>,
    #[serde(default)]
    bundle_minutes: Option<f64>,
    #[serde(default)]
    sbatch: Option<RawSbatch>,
    #[serde(default)]
    shaped: Option<RawShaped>,
    #[serde(default)]
    extra: Option<Vec<String>>,
}

/// `executor.sbatch` as written: the resources of every array task.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSbatch {
    #[serde(default)]
    partition: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    qos: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    mem: Option<String>,
    #[serde(default)]
    cpus_per_task: Option<u32>,
    #[serde(default)]
    constraint: Option<String>,
}

/// `executor.shaped` as written: what shaped shards' arrays add.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShaped {
    #[serde(default)]
    exclusive: Option<bool>,
    #[serde(default)]
    constraint: Option<String>,
}

/// Where a study's shards run.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorConfig {
    /// On this machine, `--jobs` at a time.
    Local,
    /// As Slurm job arrays, coordinated by `snni run`.
    Slurm(SlurmConfig),
}

impl ExecutorConfig {
    /// The kind's name, as written in manifests and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            ExecutorConfig::Local => "local",
            ExecutorConfig::Slurm(_) => "slurm",
        }
    }
}

/// The Slurm executor's settings, validated, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmConfig {
    /// A folder every node sees; `None` means `<store>/spool`.
    pub spool: Option<PathBuf>,
    /// Array throttle (`--array=…%N`).
    pub max_concurrent: u32,
    /// First squeue poll interval; it backs off to [`SlurmConfig::max_poll`] while
    /// nothing changes.
    pub poll: Duration,
    /// The longest poll interval.
    pub max_poll: Duration,
    /// A task gone from squeue this long without a result marker is lost.
    pub lost_after: Duration,
    /// Further submissions of a failed or lost shard.
    pub resubmits: u32,
    /// Short shards are packed into one array task of about this many minutes; 0 gives
    /// every shard its own task.
    pub bundle_minutes: f64,
    /// Resources of every task.
    pub sbatch: SbatchOptions,
    /// What shaped shards' arrays add.
    pub shaped: ShapedOptions,
    /// Further sbatch options, passed as written after ours.
    pub extra: Vec<String>,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            spool: None,
            max_concurrent: 50,
            poll: Duration::from_secs(30),
            max_poll: Duration::from_secs(180),
            lost_after: Duration::from_secs(300),
            resubmits: 2,
            bundle_minutes: 20.0,
            sbatch: SbatchOptions::default(),
            shaped: ShapedOptions {
                exclusive: true,
                constraint: None,
            },
            extra: Vec::new(),
        }
    }
}

impl SlurmConfig {
    /// The spool folder (absolute: it is written into task specs other machines read)
    /// for a study whose store is `store`.
    pub fn spool_dir(&self, store: &Path) -> PathBuf {
        let dir = self.spool.clone().unwrap_or_else(|| store.join("spool"));
        std::path::absolute(&dir).unwrap_or(dir)
    }
}

/// sbatch resource options; `None` leaves the cluster's default (or `SBATCH_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbatchOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// `--mem`.
    pub mem: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--constraint`.
    pub constraint: Option<String>,
}

/// Options of the arrays that run shaped shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapedOptions {
    /// `--exclusive`: the task has its node to itself (default true).
    pub exclusive: bool,
    /// `--constraint` for shaped tasks (replaces `sbatch.constraint`), so every shard of
    /// a setting runs on one kind of node.
    pub constraint: Option<String>,
}

/// Validates `executor:` into an [`ExecutorConfig`], pushing a diagnostic per bad field.
pub fn resolve_executor(
    source: &SourceFile,
    raw: Option<&RawExecutor>,
    diags: &mut Vec<Diagnostic>,
) -> ExecutorConfig {
    let Some(raw) = raw else {
        return ExecutorConfig::Local;
    };
    let base = "executor";
    let mut bad = |key: &str, message: String, help: &str| {
        diags.push(
            Diagnostic::new(
                Code::InvalidExecutor,
                source.value_span(&join(base, key)),
                format!("executor: {message}"),
            )
            .help(help.to_string()),
        );
    };
    let kind = raw.kind.as_deref().unwrap_or("slurm");
    if !matches!(kind, "local" | "slurm") {
        bad(
            "kind",
            format!("unknown executor kind `{kind}`"),
            "valid kinds: local, slurm",
        );
    }
    let mut config = SlurmConfig::default();
    let manifest_dir = source.path.parent().unwrap_or(Path::new("."));
    if let Some(spool) = &raw.spool {
        if spool.trim().is_empty() {
            bad(
                "spool",
                "`spool` is empty".into(),
                "name a folder every node sees, e.g. `/scratch/lab/snni-spool`",
            );
        } else {
            config.spool = Some(manifest_dir.join(spool));
        }
    }
    if let Some(n) = raw.max_concurrent {
        if n == 0 {
            bad(
                "max_concurrent",
                "`max_concurrent` must be at least 1".into(),
                "the most array tasks running at once, e.g. `max_concurrent: 50`",
            );
        }
        config.max_concurrent = n.max(1);
    }
    let interval = |key: &str, text: &Option<String>, bad: &mut dyn FnMut(&str, String, &str)| {
        text.as_deref().and_then(|text| match parse_interval(text) {
            Ok(d) if d >= Duration::from_millis(100) => Some(d),
            Ok(_) => {
                bad(key, format!("`{key}: {text}` is shorter than 100ms"), "e.g. `30s`");
                None
            }
            Err(message) => {
                bad(key, message, "write a duration such as `30s`, `5m` or `500ms`");
                None
            }
        })
    };
    if let Some(poll) = interval("poll", &raw.poll, &mut bad) {
        config.poll = poll;
        config.max_poll = config.max_poll.max(poll);
    }
    if let Some(lost) = interval("lost_after", &raw.lost_after, &mut bad) {
        config.lost_after = lost;
    }
    if let Some(n) = raw.resubmits {
        if n > 100 {
            bad(
                "resubmits",
                format!("`resubmits: {n}` is more than 100"),
                "further submissions of a failed shard, 0..=100",
            );
        }
        config.resubmits = n.min(100);
    }
    if let Some(minutes) = raw.bundle_minutes {
        if !(minutes.is_finite() && (0.0..=10_080.0).contains(&minutes)) {
            bad(
                "bundle_minutes",
                format!("`bundle_minutes: {minutes}` is outside 0..=10080"),
                "minutes of work per array task; 0 gives every shard its own task",
            );
        } else {
            config.bundle_minutes = minutes;
        }
    }
    if let Some(sbatch) = &raw.sbatch {
        let path = join(base, "sbatch");
        let mut word = |key: &str, value: &Option<String>| -> Option<String> {
            let value = value.as_ref()?;
            if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                diags.push(
                    Diagnostic::new(
                        Code::InvalidExecutor,
                        source.value_span(&join(&path, key)),
                        format!("executor: `sbatch.{key}` must be one word, got {value:?}"),
                    )
                    .help("leave it out to use the cluster's default"),
                );
                return None;
            }
            Some(value.clone())
        };
        config.sbatch.partition = word("partition", &sbatch.partition);
        config.sbatch.account = word("account", &sbatch.account);
        config.sbatch.qos = word("qos", &sbatch.qos);
        config.sbatch.constraint = word("constraint", &sbatch.constraint);
        config.sbatch.time = word("time", &sbatch.time);
        config.sbatch.mem = word("mem", &sbatch.mem);
        if let Some(time) = &config.sbatch.time {
            if !is_slurm_time(time) {
                diags.push(
                    Diagnostic::new(
                        Code::InvalidExecutor,
                        source.value_span(&join(&path, "time")),
                        format!("executor: `sbatch.time: {time}` is not a Slurm time limit"),
                    )
                    .help("write minutes (`90`), `HH:MM:SS`, `D-HH:MM:SS` or `MM:SS`"),
                );
            }
        }
        if let Some(mem) = &config.sbatch.mem {
            if !is_slurm_memory(mem) {
                diags.push(
                    Diagnostic::new(
                        Code::InvalidExecutor,
                        source.value_span(&join(&path, "mem")),
                        format!("executor: `sbatch.mem: {mem}` is not a Slurm memory size"),
                    )
                    .help("write a size such as `4G`, `500M` or `4096` (megabytes)"),
                );
            }
        }
        if let Some(cpus) = sbatch.cpus_per_task {
            if !(1..=4096).contains(&cpus) {
                diags.push(
                    Diagnostic::new(
                        Code::InvalidExecutor,
                        source.value_span(&join(&path, "cpus_per_task")),
                        format!("executor: `sbatch.cpus_per_task: {cpus}` is outside 1..=4096"),
                    )
                    .help("CPUs per array task, e.g. `cpus_per_task: 2`"),
                );
            } else {
                config.sbatch.cpus_per_task = Some(cpus);
            }
        }
    }
    if let Some(shaped) = &raw.shaped {
        config.shaped.exclusive = shaped.exclusive.unwrap_or(true);
        if let Some(constraint) = &shaped.constraint {
            if constraint.is_empty() || constraint.chars().any(char::is_whitespace) {
                diags.push(
                    Diagnostic::new(
                        Code::InvalidExecutor,
                        source.value_span(&join(&join(base, "shaped"), "constraint")),
                        format!("executor: `shaped.constraint` must be one word, got {constraint:?}"),
                    )
                    .help("a node feature every shaped shard's node has, e.g. `icelake`"),
                );
            } else {
                config.shaped.constraint = Some(constraint.clone());
            }
        }
    }
    for (i, option) in raw.extra.iter().flatten().enumerate() {
        let span = source.value_span(&join(&join(base, "extra"), &i.to_string()));
        let name = option.split('=').next().unwrap_or(option);
        if !option.starts_with('-') {
            diags.push(
                Diagnostic::new(
                    Code::InvalidExecutor,
                    span,
                    format!("executor: `extra` entries are sbatch options, got {option:?}"),
                )
                .help("write each option as sbatch takes it, e.g. `--mail-type=FAIL`"),
            );
        } else if MANAGED_OPTIONS.contains(&name) {
            diags.push(
                Diagnostic::new(
                    Code::InvalidExecutor,
                    span,
                    format!("executor: `{name}` is set by snni itself"),
                )
                .help("snni chooses the array, output files, job name and signal; remove it"),
            );
        } else {
            config.extra.push(option.clone());
        }
    }
    if kind == "local" {
        ExecutorConfig::Local
    } else {
        ExecutorConfig::Slurm(config)
    }
}

/// Slurm's time limit forms: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`, or
/// `infinite`/`unlimited`.
fn is_slurm_time(text: &str) -> bool {
    if matches!(text, "infinite" | "unlimited" | "UNLIMITED" | "INFINITE") {
        return true;
    }
    let (days, rest) = match text.split_once('-') {
        Some((days, rest)) => (Some(days), rest),
        None => (None, text),
    };
    let numeric = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    if days.is_some_and(|d| !numeric(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    (1..=3).contains(&parts.len()) && parts.iter().all(|p| numeric(p))
}

/// Slurm's memory sizes: digits with an optional K, M, G or T suffix.
fn is_slurm_memory(text: &str) -> bool {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    text.len() - digits.len() <= 1
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_times_and_sizes() {
        for good in ["90", "02:00:00", "1-00:00:00", "30:00", "2-12", "infinite"] {
            assert!(is_slurm_time(good), "{good}");
        }
        for bad in ["2h", "", "1-", "a:b", "1:2:3:4"] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
        for good in ["4G", "500M", "4096", "1t"] {
            assert!(is_slurm_memory(good), "{good}");
        }
        for bad in ["4GB", "G", "", "-1", "4.5G"] {
            assert!(!is_slurm_memory(bad), "{bad}");
        }
    }
}
