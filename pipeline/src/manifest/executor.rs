//! The manifest's `executor:` block: where the shards of a study run — on this machine
//! (`local`, the default) or as Slurm job arrays (`slurm`) — decoded with serde, then
//! validated field by field with positioned diagnostics. Nothing here enters a
//! fingerprint: a shard computed on the cluster is the same cached shard as a local one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diagnostic::{closest, Code, Diagnostic};
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

/// `executor:` as written: decoded field by field in [`resolve_executor`], so that every
/// bad field is reported, not just the first.
#[derive(Debug, Clone)]
pub struct RawExecutor(pub serde_yaml::Value);

/// Keys allowed in `executor.sbatch`.
const SBATCH_KEYS: &[&str] = &[
    "partition",
    "account",
    "qos",
    "time",
    "mem",
    "cpus_per_task",
    "constraint",
];

/// Keys allowed in `executor.shaped`.
const SHAPED_KEYS: &[&str] = &["exclusive", "constraint"];

/// Where a study's shards run.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorConfig {
    /// On this machine, `--jobs` at a time.
    Local,
    /// As Slurm job arrays, coordinated by `snni run`.
    Slurm(Box<SlurmConfig>),
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
    let mut check = Checker {
        source,
        diags,
        manifest_dir: source.path.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    let mut config = SlurmConfig::default();
    let mut kind = "slurm".to_string();
    for (key, value) in check.mapping("executor", &raw.0, EXECUTOR_KEYS) {
        let path = join("executor", &key);
        match key.as_str() {
            "kind" => {
                if let Some(word) = check.string(&path, value) {
                    if matches!(word.as_str(), "local" | "slurm") {
                        kind = word;
                    } else {
                        check.bad(&path, format!("unknown executor kind `{word}`"), "valid kinds: local, slurm");
                    }
                }
            }
            "spool" => match check.string(&path, value) {
                Some(spool) if !spool.trim().is_empty() => {
                    config.spool = Some(check.manifest_dir.join(spool));
                }
                Some(_) => check.bad(&path, "`spool` is empty".into(), "name a folder every node sees, e.g. `/scratch/lab/snni-spool`"),
                None => {}
            },
            "max_concurrent" => {
                if let Some(n) = check.integer(&path, value, 1, 1_000_000, "the most array tasks running at once, e.g. `max_concurrent: 50`") {
                    config.max_concurrent = n as u32;
                }
            }
            "poll" => {
                if let Some(poll) = check.interval(&path, value) {
                    config.poll = poll;
                    config.max_poll = config.max_poll.max(poll);
                }
            }
            "lost_after" => {
                if let Some(lost) = check.interval(&path, value) {
                    config.lost_after = lost;
                }
            }
            "resubmits" => {
                if let Some(n) = check.integer(&path, value, 0, 100, "further submissions of a failed shard, e.g. `resubmits: 2`") {
                    config.resubmits = n as u32;
                }
            }
            "bundle_minutes" => match value.as_f64() {
                Some(minutes) if minutes.is_finite() && (0.0..=10_080.0).contains(&minutes) => {
                    config.bundle_minutes = minutes;
                }
                _ => check.bad(
                    &path,
                    format!("`executor.bundle_minutes` must be a number of minutes in 0..=10080, got {}", show(value)),
                    "minutes of work per array task; 0 gives every shard its own task",
                ),
            },
            "sbatch" => config.sbatch = check.sbatch(&path, value),
            "shaped" => config.shaped = check.shaped(&path, value),
            "extra" => config.extra = check.extra(&path, value),
            _ => unreachable!("mapping() reports unknown keys"),
        }
    }
    if kind == "local" {
        ExecutorConfig::Local
    } else {
        ExecutorConfig::Slurm(Box::new(config))
    }
}

/// Decodes `executor:` fields, pushing positioned diagnostics.
struct Checker<'a> {
    source: &'a SourceFile,
    diags: &'a mut Vec<Diagnostic>,
    manifest_dir: PathBuf,
}

impl Checker<'_> {
    fn bad(&mut self, path: &str, message: String, help: &str) {
        self.diags.push(
            Diagnostic::new(
                Code::InvalidExecutor,
                self.source.value_span(path),
                format!("executor: {message}"),
            )
            .help(help.to_string()),
        );
    }

    /// The entries of a mapping; unknown keys are reported with the closest valid one.
    fn mapping<'v>(
        &mut self,
        path: &str,
        value: &'v serde_yaml::Value,
        keys: &[&str],
    ) -> Vec<(String, &'v serde_yaml::Value)> {
        let Some(map) = value.as_mapping() else {
            if !value.is_null() {
                self.bad(
                    path,
                    format!("`{path}` must be a mapping, got {}", show(value)),
                    &format!("valid keys: {}", keys.join(", ")),
                );
            }
            return Vec::new();
        };
        let mut entries = Vec::new();
        for (key, value) in map {
            let Some(key) = key.as_str() else {
                self.bad(
                    path,
                    format!("keys of `{path}` must be strings"),
                    &format!("valid keys: {}", keys.join(", ")),
                );
                continue;
            };
            if keys.contains(&key) {
                entries.push((key.to_string(), value));
                continue;
            }
            let diag = Diagnostic::new(
                Code::UnknownKey,
                self.source.key_span(&join(path, key)),
                format!("unknown key `{key}` in `{path}`"),
            );
            self.diags.push(match closest(key, keys.iter().copied()) {
                Some(best) => diag.help(format!("did you mean `{best}`?")),
                None => diag.help(format!("valid keys: {}", keys.join(", "))),
            });
        }
        entries
    }

    fn string(&mut self, path: &str, value: &serde_yaml::Value) -> Option<String> {
        match value.as_str() {
            Some(text) => Some(text.to_string()),
            None => {
                self.bad(
                    path,
                    format!("`{path}` must be a string, got {}", show(value)),
                    "quote it if in doubt",
                );
                None
            }
        }
    }

    /// A value passed to sbatch as one word: no whitespace or control characters.
    fn word(&mut self, path: &str, value: &serde_yaml::Value, help: &str) -> Option<String> {
        let text = match value {
            serde_yaml::Value::Number(n) => n.to_string(),
            other => self.string(path, other)?,
        };
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.bad(
                path,
                format!("`{path}` must be one word, got {text:?}"),
                help,
            );
            return None;
        }
        Some(text)
    }

    fn integer(
        &mut self,
        path: &str,
        value: &serde_yaml::Value,
        min: u64,
        max: u64,
        help: &str,
    ) -> Option<u64> {
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.bad(
                    path,
                    format!(
                        "`{path}` must be a whole number in {min}..={max}, got {}",
                        show(value)
                    ),
                    help,
                );
                None
            }
        }
    }

    /// An interval: `30s`, `5m`, `500ms`, or a number of seconds; at least 100 ms.
    fn interval(&mut self, path: &str, value: &serde_yaml::Value) -> Option<Duration> {
        let parsed = match value {
            serde_yaml::Value::Number(n) => match n.as_f64() {
                Some(s) if s.is_finite() && (0.0..=30.0 * 86400.0).contains(&s) => {
                    Ok(Duration::from_secs_f64(s))
                }
                _ => Err(format!("`{n}` seconds is outside 0..=30 days")),
            },
            serde_yaml::Value::String(text) => parse_interval(text),
            other => Err(format!("expected a duration, got {}", show(other))),
        };
        match parsed {
            Ok(d) if d >= Duration::from_millis(100) => Some(d),
            Ok(_) => {
                self.bad(
                    path,
                    format!("`{path}` is shorter than 100ms"),
                    "e.g. `30s`",
                );
                None
            }
            Err(message) => {
                self.bad(
                    path,
                    format!("`{path}`: {message}"),
                    "write a duration such as `30s`, `5m` or `500ms`",
                );
                None
            }
        }
    }

    fn sbatch(&mut self, path: &str, value: &serde_yaml::Value) -> SbatchOptions {
        let mut options = SbatchOptions::default();
        for (key, value) in self.mapping(path, value, SBATCH_KEYS) {
            let field = join(path, &key);
            let default = "leave it out to use the cluster's default (or SBATCH_* variables)";
            match key.as_str() {
                "partition" => options.partition = self.word(&field, value, default),
                "account" => options.account = self.word(&field, value, default),
                "qos" => options.qos = self.word(&field, value, default),
                "constraint" => options.constraint = self.word(&field, value, default),
                "time" => {
                    let help = "write minutes (`90`), `HH:MM:SS`, `D-HH:MM:SS` or `MM:SS`";
                    if let Some(time) = self.word(&field, value, help) {
                        if is_slurm_time(&time) {
                            options.time = Some(time);
                        } else {
                            self.bad(
                                &field,
                                format!("`{field}: {time}` is not a Slurm time limit"),
                                help,
                            );
                        }
                    }
                }
                "mem" => {
                    let help = "write a size such as `4G`, `500M` or `4096` (megabytes)";
                    if let Some(mem) = self.word(&field, value, help) {
                        if is_slurm_memory(&mem) {
                            options.mem = Some(mem);
                        } else {
                            self.bad(
                                &field,
                                format!("`{field}: {mem}` is not a Slurm memory size"),
                                help,
                            );
                        }
                    }
                }
                "cpus_per_task" => {
                    options.cpus_per_task = self
                        .integer(
                            &field,
                            value,
                            1,
                            4096,
                            "CPUs per array task, e.g. `cpus_per_task: 2`",
                        )
                        .map(|n| n as u32);
                }
                _ => unreachable!("mapping() reports unknown keys"),
            }
        }
        options
    }

    fn shaped(&mut self, path: &str, value: &serde_yaml::Value) -> ShapedOptions {
        let mut options = SlurmConfig::default().shaped;
        for (key, value) in self.mapping(path, value, SHAPED_KEYS) {
            let field = join(path, &key);
            match key.as_str() {
                "exclusive" => match value.as_bool() {
                    Some(exclusive) => options.exclusive = exclusive,
                    None => self.bad(
                        &field,
                        format!("`{field}` must be true or false, got {}", show(value)),
                        "true gives each shaped task its node alone",
                    ),
                },
                "constraint" => {
                    options.constraint = self.word(
                        &field,
                        value,
                        "a node feature every shaped shard's node has, e.g. `icelake`",
                    );
                }
                _ => unreachable!("mapping() reports unknown keys"),
            }
        }
        options
    }

    fn extra(&mut self, path: &str, value: &serde_yaml::Value) -> Vec<String> {
        let Some(items) = value.as_sequence() else {
            self.bad(
                path,
                format!(
                    "`{path}` must be a list of sbatch options, got {}",
                    show(value)
                ),
                "e.g. `extra: [\"--mail-type=FAIL\"]`",
            );
            return Vec::new();
        };
        let mut extra = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = join(path, &i.to_string());
            let Some(option) = self.string(&field, item) else {
                continue;
            };
            let name = option.split('=').next().unwrap_or(&option).to_string();
            if !option.starts_with('-') {
                self.bad(
                    &field,
                    format!("`extra` entries are sbatch options, got {option:?}"),
                    "write each option as sbatch takes it, e.g. `--mail-type=FAIL`",
                );
            } else if MANAGED_OPTIONS.contains(&name.as_str()) {
                self.bad(
                    &field,
                    format!("`{name}` is set by snni itself"),
                    "snni chooses the array, output files, job name and signal; remove it",
                );
            } else {
                extra.push(option);
            }
        }
        extra
    }
}

/// A YAML value as a short phrase for messages.
fn show(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::Null => "nothing".to_string(),
        serde_yaml::Value::String(s) => format!("{s:?}"),
        serde_yaml::Value::Mapping(_) => "a mapping".to_string(),
        serde_yaml::Value::Sequence(_) => "a list".to_string(),
        other => serde_yaml::to_string(other).map_or_else(|_| "?".into(), |s| s.trim().to_string()),
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
