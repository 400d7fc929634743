//! The parameters of the `profile` stage: which networks, settings and runs, how each run
//! is executed (engine options, shaping backend) and how failures are handled.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use snni_engine::ot::OtBackend;

use crate::{decode_params_lenient, CheckContext, ParamIssue, Setting};

/// The most runs per network and setting a manifest may ask for.
pub const MAX_RUNS: u32 = 1_000;
/// CPU numbers must be below this (the size of Linux's `cpu_set_t`).
pub const MAX_CPUS: usize = 1_024;

/// How a shaped setting's link is emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `tc` when a probe shows that netem works, else `relay`.
    Auto,
    /// Network namespaces, a veth pair and netem/tbf qdiscs (root).
    Tc,
    /// The built-in user-space link emulator.
    Relay,
}

/// Which upstream networks to profile: `all`, or a list of network ids (`synth-0003`,
/// `squeezenet`) and upstream stage names (all of that stage's networks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub enum Networks {
    /// Every network the upstream stages produce.
    All,
    /// Network ids or upstream stage names.
    List(Vec<String>),
}

impl TryFrom<Value> for Networks {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        const EXPECTED: &str = "expected `all` or a list of network ids and stage names";
        match value {
            Value::String(word) if word == "all" => Ok(Networks::All),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(name) => Ok(name),
                    other => Err(format!("{EXPECTED}, found {other}")),
                })
                .collect::<Result<_, _>>()
                .map(Networks::List),
            other => Err(format!("{EXPECTED}, found {other}")),
        }
    }
}

impl From<Networks> for Value {
    fn from(networks: Networks) -> Value {
        match networks {
            Networks::All => Value::from("all"),
            Networks::List(names) => Value::from(names),
        }
    }
}

/// The parameters as written (every field optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfileParams {
    #[serde(default)]
    networks: Option<Networks>,
    #[serde(default)]
    settings: Option<Vec<String>>,
    // Whole numbers are read signed, so that a negative one is reported with the field's
    // valid range rather than as "expected u32".
    #[serde(default)]
    runs: Option<i64>,
    #[serde(default)]
    warmup: Option<i64>,
    #[serde(default)]
    timeout: Option<i64>,
    #[serde(default)]
    retries: Option<i64>,
    #[serde(default)]
    threads: Option<i64>,
    #[serde(default)]
    ell: Option<i64>,
    #[serde(default)]
    scale: Option<i64>,
    #[serde(default)]
    backend: Option<Backend>,
    #[serde(default)]
    exclusive_shaped: Option<bool>,
    #[serde(default)]
    cpus: Option<Vec<usize>>,
    #[serde(default)]
    shaped_cpus: Option<usize>,
    ot: Option<OtBackend>,
    #[serde(default)]
    probe: Option<RawProbeParams>,
    #[serde(default)]
    flooding_bits: Option<i64>,
}

/// The `probe` mapping as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbeParams {
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    tolerance: Option<f64>,
    #[serde(default)]
    reruns: Option<i64>,
    #[serde(default)]
    slow: Option<f64>,
    #[serde(default)]
    wait: Option<f64>,
    #[serde(default)]
    usual: Option<f64>,
    #[serde(default)]
    threads: Option<i64>,
}

/// The machine-speed probe around each shard (see `crate::profile::probe`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeParams {
    /// Seconds each probe runs, before and after the shard; 0 switches the probe off.
    pub seconds: f64,
    /// Largest relative change of the probe's speed between before and after the shard
    /// that is accepted; beyond it the shard is measured again.
    pub tolerance: f64,
    /// Times a shard is measured again because its probes disagree or the machine ran
    /// slow under it; after the last, its measurements are kept with both recorded.
    pub reruns: u32,
    /// How far below the machine's usual speed (the median probe of the shards this
    /// process kept) a shard's probes may be; a slower shard waits for the machine and is
    /// measured again. 1 switches the check off.
    pub slow: f64,
    /// Seconds a slow shard waits, probing, for the machine to reach its usual speed again
    /// before it is measured again.
    pub wait: f64,
    /// The machine's usual speed in HE layers per second, when given (a figure from an
    /// earlier study's `meta` on the same machines, say); otherwise this process's history
    /// of kept shards says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usual: Option<f64>,
    /// Threads the probe's HE part runs on side by side (their mean rate is the probe's).
    /// One sees the whole machine slow down; as many as the shard's parties run
    /// (`2 × threads`) also see a neighbour that takes a core from them. Absent from the
    /// canonical params when 1, so stores probed before it existed keep their shards.
    #[serde(default = "one_thread", skip_serializing_if = "is_one_thread")]
    pub threads: u32,
}

fn one_thread() -> u32 {
    1
}

fn is_one_thread(threads: &u32) -> bool {
    *threads == 1
}

impl Default for ProbeParams {
    fn default() -> Self {
        ProbeParams {
            seconds: 0.5,
            tolerance: 0.2,
            reruns: 1,
            slow: 0.2,
            wait: 10.0,
            usual: None,
            threads: 1,
        }
    }
}

/// A setting as the profile stage records it: its name and link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedSetting {
    /// The setting's name in the study.
    pub name: String,
    /// Its link.
    #[serde(flatten)]
    pub setting: Setting,
}

/// Canonical, validated parameters (what enters the fingerprint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileParams {
    /// Which networks.
    pub networks: Networks,
    /// The settings, in the order written, with their links resolved.
    pub settings: Vec<NamedSetting>,
    /// Measured runs per network and setting.
    pub runs: u32,
    /// Inferences run and discarded before each measured one (same processes' setup).
    pub warmup: u32,
    /// Seconds one attempt (warm-ups and the measured run) may take.
    pub timeout: u64,
    /// Further attempts after a failed one.
    pub retries: u32,
    /// Worker threads per party.
    pub threads: usize,
    /// Share bit length ℓ.
    pub ell: u32,
    /// Fixed-point scale.
    pub scale: u32,
    /// Shaping backend for shaped settings.
    pub backend: Backend,
    /// Shaped shards run alone (no other shard shares the machine).
    pub exclusive_shaped: bool,
    /// CPUs both parties are pinned to (sorted, distinct), or `None` to let the OS place
    /// them. Pinned shards run alone. Absent from the canonical params when `None`, so
    /// stores measured before this field existed keep their shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Vec<usize>>,
    /// CPUs each shard of a shaped setting reserves: its parties and its relay are pinned
    /// to them, and shaped shards run side by side on disjoint CPUs (instead of alone).
    /// `None`: shaped shards follow `exclusive_shaped`. Absent from the canonical params
    /// when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shaped_cpus: Option<usize>,
    /// The OT extension both parties run (default `ferret`). Always in the canonical params,
    /// so it enters every shard's fingerprint.
    pub ot: OtBackend,
    /// The machine-speed probe around each shard.
    pub probe: ProbeParams,
    /// Bits of statistical flooding margin per inference the parties must reach
    /// (`snni party --flooding-bits`), or `None` for the default ≥ 40 bits per revealed
    /// coefficient. Absent from the canonical params when `None`, so stores measured
    /// before this field existed keep their shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flooding_bits: Option<u32>,
}

impl ProfileParams {
    /// The setting named `name`.
    pub fn setting(&self, name: &str) -> Option<&NamedSetting> {
        self.settings.iter().find(|s| s.name == name)
    }
}

/// Validates `params` against the study's settings and fills in defaults.
pub fn check(params: &Value, ctx: &CheckContext<'_>) -> Result<ProfileParams, Vec<ParamIssue>> {
    let (raw, mut issues) = decode_params_lenient::<RawProfileParams>(params);
    let Some(raw) = raw else {
        return Err(issues);
    };
    let names = raw.settings.unwrap_or_else(|| vec!["local".to_string()]);
    if names.is_empty() {
        issues.push(ParamIssue::new(
            &["settings"],
            "must name at least one setting",
        ));
    }
    let mut settings = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let index = i.to_string();
        if names[..i].contains(name) {
            issues.push(ParamIssue::new(
                &["settings", &index],
                format!("`{name}` is listed twice"),
            ));
            continue;
        }
        match ctx.settings.get(name) {
            Some(setting) => settings.push(NamedSetting {
                name: name.clone(),
                setting: *setting,
            }),
            None => {
                let known: Vec<&str> = ctx.settings.keys().map(String::as_str).collect();
                issues.push(
                    ParamIssue::new(
                        &["settings", &index],
                        format!("`{name}` is not a setting of this study"),
                    )
                    .with_hint(format!(
                        "declare it under `settings:` (with bandwidth and rtt) or use one of: {}",
                        known.join(", ")
                    )),
                );
            }
        }
    }
    // Each whole number within its range (reported with it), or its default. A value that
    // was not a whole number at all (reported while decoding) gets its range added.
    let mut bounded = |key: &str, value: Option<i64>, default: i64, min: i64, max: i64| {
        for issue in issues.iter_mut().filter(|i| i.path == [key]) {
            if let Some(got) = issue.message.strip_prefix("must be a whole number, ") {
                issue.message = format!("must be a whole number in {min}..={max}, {got}");
            }
        }
        let value = value.unwrap_or(default);
        if (min..=max).contains(&value) {
            value
        } else {
            issues.push(ParamIssue::new(
                &[key],
                format!("must be in {min}..={max}, got {value}"),
            ));
            default
        }
    };
    let runs = bounded("runs", raw.runs, 10, 1, MAX_RUNS.into()) as u32;
    let warmup = bounded("warmup", raw.warmup, 0, 0, 100) as u32;
    let timeout = bounded("timeout", raw.timeout, 1800, 1, 7 * 24 * 3600) as u64;
    let retries = bounded("retries", raw.retries, 2, 0, 100) as u32;
    let threads = bounded("threads", raw.threads, 1, 1, 256) as usize;
    let ell = bounded("ell", raw.ell, 41, 16, 62) as u32;
    let scale = bounded("scale", raw.scale, 12, 1, i64::from(ell.saturating_sub(4))) as u32;
    let flooding_bits = raw
        .flooding_bits
        .map(|bits| bounded("flooding_bits", Some(bits), 40, 1, 120) as u32);
    if let Some(Networks::List(list)) = &raw.networks {
        if list.is_empty() {
            issues.push(
                ParamIssue::new(&["networks"], "must name at least one network")
                    .with_hint("write `networks: all` to profile every upstream network"),
            );
        }
    }
    let cpus = raw.cpus.map(|mut cpus| {
        cpus.sort_unstable();
        cpus.dedup();
        cpus
    });
    match cpus.as_deref() {
        Some([]) => issues.push(
            ParamIssue::new(&["cpus"], "must name at least one CPU")
                .with_hint("leave `cpus` out to let the OS place the parties"),
        ),
        Some(list) if list.iter().any(|&cpu| cpu >= MAX_CPUS) => issues.push(ParamIssue::new(
            &["cpus"],
            format!("CPU numbers must be below {MAX_CPUS}"),
        )),
        _ => {}
    }
    if let Some(n) = raw.shaped_cpus {
        if !(1..=MAX_CPUS).contains(&n) {
            issues.push(ParamIssue::new(
                &["shaped_cpus"],
                format!("must be in 1..={MAX_CPUS}, got {n}"),
            ));
        }
        if raw.exclusive_shaped == Some(true) {
            issues.push(
                ParamIssue::new(
                    &["shaped_cpus"],
                    "`shaped_cpus` runs shaped shards side by side, `exclusive_shaped: true` alone",
                )
                .with_hint("keep one of the two"),
            );
        }
        if cpus.is_some() {
            issues.push(
                ParamIssue::new(
                    &["shaped_cpus"],
                    "`cpus` pins every shard to the same CPUs, so shaped shards cannot reserve their own",
                )
                .with_hint("keep one of the two"),
            );
        }
    }
    let probe = check_probe(raw.probe, &mut issues);
    let backend = raw.backend.unwrap_or(Backend::Auto);
    if backend == Backend::Relay {
        for (i, named) in settings.iter().enumerate() {
            if named.setting.loss_percent.is_some_and(|loss| loss > 0.0) {
                issues.push(
                    ParamIssue::new(
                        &["settings", &i.to_string()],
                        format!(
                            "setting `{}` asks for packet loss, which the relay backend cannot emulate",
                            named.name
                        ),
                    )
                    .with_hint("use `backend: tc` (needs root and sch_netem) or drop `loss`"),
                );
            }
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(ProfileParams {
        networks: raw.networks.unwrap_or(Networks::All),
        settings,
        runs,
        warmup,
        timeout,
        retries,
        threads,
        ell,
        scale,
        backend,
        exclusive_shaped: raw.exclusive_shaped.unwrap_or(raw.shaped_cpus.is_none()),
        cpus,
        shaped_cpus: raw.shaped_cpus,
        ot: raw.ot.unwrap_or_default(),
        probe,
        flooding_bits,
    })
}

/// The `probe` mapping with its defaults filled in; out-of-range values are reported.
fn check_probe(raw: Option<RawProbeParams>, issues: &mut Vec<ParamIssue>) -> ProbeParams {
    let default = ProbeParams::default();
    let Some(raw) = raw else {
        return default;
    };
    let seconds = raw.seconds.unwrap_or(default.seconds);
    if !(0.0..=60.0).contains(&seconds) {
        issues.push(
            ParamIssue::new(
                &["probe", "seconds"],
                format!("must be in 0..=60, got {seconds}"),
            )
            .with_hint("0 switches the probe off; 0.5 (the default) is enough to see drift"),
        );
    }
    let tolerance = raw.tolerance.unwrap_or(default.tolerance);
    if !(tolerance > 0.0 && tolerance.is_finite()) {
        issues.push(ParamIssue::new(
            &["probe", "tolerance"],
            format!("must be a positive fraction (0.2: 20 %), got {tolerance}"),
        ));
    }
    let reruns = raw.reruns.unwrap_or(i64::from(default.reruns));
    if !(0..=100).contains(&reruns) {
        issues.push(ParamIssue::new(
            &["probe", "reruns"],
            format!("must be in 0..=100, got {reruns}"),
        ));
    }
    let slow = raw.slow.unwrap_or(default.slow);
    if !(slow > 0.0 && slow <= 1.0) {
        issues.push(
            ParamIssue::new(
                &["probe", "slow"],
                format!("must be a fraction in (0, 1], got {slow}"),
            )
            .with_hint("0.2 (the default) re-measures a shard probed 20 % below the machine's usual speed; 1 never does"),
        );
    }
    let wait = raw.wait.unwrap_or(default.wait);
    if !(0.0..=3600.0).contains(&wait) {
        issues.push(ParamIssue::new(
            &["probe", "wait"],
            format!("must be seconds in 0..=3600, got {wait}"),
        ));
    }
    if let Some(usual) = raw.usual.filter(|u| !(*u > 0.0 && u.is_finite())) {
        issues.push(
            ParamIssue::new(
                &["probe", "usual"],
                format!("must be a positive speed in HE layers per second, got {usual}"),
            )
            .with_hint("leave it out to compare with the median of the shards this process kept"),
        );
    }
    let threads = raw.threads.unwrap_or(i64::from(default.threads));
    if !(1..=256).contains(&threads) {
        issues.push(
            ParamIssue::new(
                &["probe", "threads"],
                format!("must be in 1..=256, got {threads}"),
            )
            .with_hint("1 (the default) probes on one thread; 2 × the parties' `threads` also sees a neighbour taking a core"),
        );
    }
    ProbeParams {
        seconds,
        tolerance,
        reruns: reruns.clamp(0, 100) as u32,
        slow,
        wait,
        usual: raw.usual,
        threads: threads.clamp(1, 256) as u32,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::kind::decode;
    use crate::ProfileKind;

    fn ctx() -> BTreeMap<String, Setting> {
        Setting::builtins()
    }

    #[test]
    fn defaults_are_the_study_s() {
        let settings = ctx();
        let params = check(
            &json!({}),
            &CheckContext {
                settings: &settings,
                files: None,
            },
        )
        .unwrap();
        assert_eq!(params.runs, 10);
        assert_eq!(params.settings.len(), 1);
        assert_eq!(params.settings[0].name, "local");
        assert_eq!(params.backend, Backend::Auto);
        assert_eq!(params.networks, Networks::All);
        assert_eq!(params.ot, OtBackend::Ferret);
        let round = decode::<ProfileKind>(&serde_json::to_value(&params).unwrap()).unwrap();
        assert_eq!(round, params);
    }

    #[test]
    fn settings_resolve_and_unknown_ones_are_named() {
        let settings = ctx();
        let ctx = CheckContext {
            settings: &settings,
            files: None,
        };
        let params = check(
            &json!({"settings": ["lan", "wan"], "networks": ["squeezenet"]}),
            &ctx,
        )
        .unwrap();
        assert_eq!(params.setting("wan").unwrap().setting, Setting::WAN);
        let issues = check(&json!({"settings": ["lan", "wna"], "runs": 0}), &ctx).unwrap_err();
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert_eq!(issues[0].path, vec!["settings", "1"]);
        assert!(issues[0].hint.as_deref().unwrap().contains("wan"));
        assert_eq!(issues[1].path, vec!["runs"]);
        let issues = check(&json!({"runz": 3}), &ctx).unwrap_err();
        assert!(
            issues[0].message.contains("unknown field `runz`"),
            "{issues:?}"
        );
    }

    #[test]
    fn cpus_are_canonical_and_absent_unless_given() {
        let settings = ctx();
        let ctx = CheckContext {
            settings: &settings,
            files: None,
        };
        let unpinned = serde_json::to_value(check(&json!({}), &ctx).unwrap()).unwrap();
        assert!(unpinned.get("cpus").is_none(), "{unpinned}");
        let pinned = check(&json!({"cpus": [1, 0, 1]}), &ctx).unwrap();
        assert_eq!(pinned.cpus, Some(vec![0, 1]));
        let round = decode::<ProfileKind>(&serde_json::to_value(&pinned).unwrap()).unwrap();
        assert_eq!(round, pinned);
        let issues = check(&json!({"cpus": []}), &ctx).unwrap_err();
        assert_eq!(issues[0].path, vec!["cpus"]);
        let issues = check(&json!({"cpus": [4096]}), &ctx).unwrap_err();
        assert!(issues[0].message.contains("below 1024"), "{issues:?}");
    }

    #[test]
    fn shaped_cpus_replace_exclusive_shaped_and_conflict_with_cpus() {
        let settings = ctx();
        let ctx = CheckContext {
            settings: &settings,
            files: None,
        };
        let reserved = check(&json!({"shaped_cpus": 2}), &ctx).unwrap();
        assert_eq!(reserved.shaped_cpus, Some(2));
        assert!(!reserved.exclusive_shaped);
        let plain = serde_json::to_value(check(&json!({}), &ctx).unwrap()).unwrap();
        assert!(plain.get("shaped_cpus").is_none(), "{plain}");
        for bad in [
            json!({"shaped_cpus": 0}),
            json!({"shaped_cpus": 1, "exclusive_shaped": true}),
            json!({"shaped_cpus": 1, "cpus": [0]}),
        ] {
            let issues = check(&bad, &ctx).unwrap_err();
            assert_eq!(issues[0].path, vec!["shaped_cpus"], "{bad}: {issues:?}");
        }
    }

    #[test]
    fn ot_is_canonical_and_checked() {
        let settings = ctx();
        let ctx = CheckContext {
            settings: &settings,
            files: None,
        };
        let default = serde_json::to_value(check(&json!({}), &ctx).unwrap()).unwrap();
        assert_eq!(default["ot"], "ferret");
        let iknp = check(&json!({"ot": "iknp"}), &ctx).unwrap();
        assert_eq!(iknp.ot, OtBackend::Iknp);
        let round = decode::<ProfileKind>(&serde_json::to_value(&iknp).unwrap()).unwrap();
        assert_eq!(round, iknp);
        let issues = check(&json!({"ot": "silent"}), &ctx).unwrap_err();
        assert!(
            issues[0].message.contains("unknown variant `silent`"),
            "{issues:?}"
        );
    }

    #[test]
    fn probe_is_canonical_and_checked_at_its_path() {
        let settings = ctx();
        let ctx = CheckContext {
            settings: &settings,
            files: None,
        };
        let default = serde_json::to_value(check(&json!({}), &ctx).unwrap()).unwrap();
        assert_eq!(
            default["probe"],
            json!({"seconds": 0.5, "tolerance": 0.2, "reruns": 1, "slow": 0.2, "wait": 10.0})
        );
        let off = check(&json!({"probe": {"seconds": 0}}), &ctx).unwrap();
        assert_eq!(off.probe.seconds, 0.0);
        assert_eq!(off.probe.tolerance, 0.2);
        let given = check(&json!({"probe": {"usual": 37.5}}), &ctx).unwrap();
        assert_eq!(given.probe.usual, Some(37.5));
        assert_eq!(
            serde_json::to_value(&given).unwrap()["probe"]["usual"],
            37.5
        );
        // One thread is the default and stays out of the canonical params; more enter them.
        let one = check(&json!({"probe": {"threads": 1}}), &ctx).unwrap();
        assert_eq!(one, check(&json!({}), &ctx).unwrap());
        let two = check(&json!({"probe": {"threads": 2}}), &ctx).unwrap();
        assert_eq!(two.probe.threads, 2);
        let canonical = serde_json::to_value(&two).unwrap();
        assert_eq!(canonical["probe"]["threads"], 2);
        assert_eq!(decode::<ProfileKind>(&canonical).unwrap(), two);
        let round: ProfileParams =
            serde_json::from_value(serde_json::to_value(&off).unwrap()).unwrap();
        assert_eq!(round, off);
        let issues = check(
            &json!({"probe": {"seconds": -1, "tolerance": 0, "reruns": 101, "slow": 0, "wait": -1, "usual": 0, "threads": 0}}),
            &ctx,
        )
        .unwrap_err();
        let paths: Vec<Vec<String>> = issues.iter().map(|i| i.path.clone()).collect();
        assert_eq!(
            paths,
            [
                ["probe", "seconds"],
                ["probe", "tolerance"],
                ["probe", "reruns"],
                ["probe", "slow"],
                ["probe", "wait"],
                ["probe", "usual"],
                ["probe", "threads"]
            ]
        );
        let issues = check(&json!({"probe": {"secs": 1}}), &ctx).unwrap_err();
        assert_eq!(issues[0].path, ["probe", "secs"], "{issues:?}");
    }

    #[test]
    fn flooding_bits_are_absent_unless_given_and_checked() {
        let settings = ctx();
        let ctx = CheckContext {
            settings: &settings,
            files: None,
        };
        let default = serde_json::to_value(check(&json!({}), &ctx).unwrap()).unwrap();
        assert!(default.get("flooding_bits").is_none(), "{default}");
        let forty = check(&json!({"flooding_bits": 40}), &ctx).unwrap();
        assert_eq!(forty.flooding_bits, Some(40));
        let round: ProfileParams =
            serde_json::from_value(serde_json::to_value(&forty).unwrap()).unwrap();
        assert_eq!(round, forty);
        let issues = check(&json!({"flooding_bits": 0}), &ctx).unwrap_err();
        assert_eq!(issues[0].path, ["flooding_bits"]);
        assert!(issues[0].message.contains("1..=120"), "{issues:?}");
    }

    #[test]
    fn relay_refuses_loss() {
        let mut settings = ctx();
        settings.insert(
            "lossy".into(),
            Setting {
                loss_percent: Some(1.0),
                ..Setting::WAN
            },
        );
        let ctx = CheckContext {
            settings: &settings,
            files: None,
        };
        let issues = check(&json!({"settings": ["lossy"], "backend": "relay"}), &ctx).unwrap_err();
        assert!(issues[0].message.contains("packet loss"));
        assert!(check(&json!({"settings": ["lossy"], "backend": "tc"}), &ctx).is_ok());
    }
}
