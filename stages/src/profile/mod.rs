//! The `profile` stage kind: every upstream network under secure inference, in each of
//! the study's network settings, several times.
//!
//! One shard per (network, setting, run), keyed `<network>.<setting>.r<run>`. A shard
//! starts the engine's server and client as two `snni party` child processes, shaped as
//! the setting says (see [`runner`]), and stores both parties' per-layer metering, the
//! network description and a `meta` record (setting, backend that ran, engine version, ℓ,
//! N, machine, attempts, timing). A failed attempt is retried up to `retries` times; a
//! shard that still fails stores nothing and reports the parties' stderr tails.
//!
//! Around each shard a short machine-speed probe runs (see [`probe`]); the probes before
//! and after, the load average and the CPU time the hypervisor stole go into `meta`. A
//! shard whose two probes differ by more than `probe.tolerance`, or whose probes are more
//! than `probe.slow` below the machine's usual speed, is measured again.
//!
//! Shards list run-major (run 0 of every network, then run 1, …) so that slow drifts of
//! the machine spread over all networks, unshaped settings first; shaped shards take the
//! whole machine unless `exclusive_shaped: false`.

mod lifeline;
mod machine;
mod metering;
mod params;
mod party;
pub mod probe;
pub mod runner;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Value};
use snni_artifacts::{Digest, Output};
use snni_engine::network::Network;

use crate::kind::{
    CheckContext, Kind, OutputData, PlanContext, Reservation, ShardContext, ShardOutputs,
};
use crate::seed::derived_seed;
use crate::{ParamIssue, StageError, UpstreamStage};

pub use lifeline::{die_with_parent, exit_when_stdin_closes, network_file, NetworkFile};
pub use machine::{cpu_limit, cpu_list, pin_current_thread, usable_cpus, Machine, PinError};
pub use params::{Backend, NamedSetting, Networks, ProbeParams, ProfileParams};
pub use party::{free_loopback_port, wait_both, PartyData, PartyLine, Role, RunningParty};
use probe::LoadStart;
pub use probe::{SpeedHistory, SpeedProbe};
use runner::{AttemptPlan, BackendUsed};

/// The engine version this kind's [`Kind::VERSION`] was last bumped for. The engine's
/// version is recorded in every shard's `meta`, but only the kind's version enters the
/// fingerprint, so a new engine must bump both (a test checks they agree).
pub const MEASURED_WITH_ENGINE: &str = "0.10.0";

/// Format of the `meta` output; bump when a field changes meaning.
pub const META_FORMAT: u32 = 1;
/// Environment variable naming the `snni` executable the parties run (default: the
/// running executable, which is `snni` itself under `snni run`).
pub const EXE_VARIABLE: &str = "SNNI_EXE";

/// Runs networks under secure inference in each setting.
pub struct ProfileKind;

/// A network an upstream stage produced.
#[derive(Debug, Clone)]
struct NetworkRef {
    /// Its id: the upstream shard key (`synth-0003`, `squeezenet`).
    id: String,
    /// The upstream stage's name.
    stage: String,
    /// The digest of its YAML description.
    digest: Digest,
}

/// A parsed shard key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ShardKey<'a> {
    network: &'a str,
    setting: &'a str,
    run: u32,
}

impl<'a> ShardKey<'a> {
    fn parse(key: &'a str) -> Option<Self> {
        let mut parts = key.rsplitn(3, '.');
        let run = parts.next()?.strip_prefix('r')?.parse().ok()?;
        let setting = parts.next()?;
        let network = parts.next()?;
        Some(ShardKey {
            network,
            setting,
            run,
        })
    }

    fn format(network: &str, setting: &str, run: u32) -> String {
        format!("{network}.{setting}.r{run:02}")
    }
}

/// Every network the upstream stages produced, in stage then shard order.
fn upstream_networks(upstream: &[UpstreamStage]) -> Result<Vec<NetworkRef>, StageError> {
    let mut networks: Vec<NetworkRef> = Vec::new();
    for stage in upstream {
        for (name, output) in &stage.record.outputs {
            let (Some(id), Output::Blob { digest, .. }) = (name.strip_suffix("/network"), output)
            else {
                continue;
            };
            if let Some(other) = networks.iter().find(|n| n.id == id) {
                return Err(StageError::Params {
                    kind: "profile",
                    message: format!(
                        "network `{id}` comes from both `{}` and `{}`; give one of them other network names",
                        other.stage, stage.name
                    ),
                });
            }
            networks.push(NetworkRef {
                id: id.to_string(),
                stage: stage.name.clone(),
                digest: *digest,
            });
        }
    }
    Ok(networks)
}

/// The upstream networks `selection` picks, in upstream order.
fn selected_networks(
    upstream: &[UpstreamStage],
    selection: &Networks,
) -> Result<Vec<NetworkRef>, StageError> {
    let all = upstream_networks(upstream)?;
    let Networks::List(names) = selection else {
        return Ok(all);
    };
    for name in names {
        if !all.iter().any(|n| &n.id == name || &n.stage == name) {
            let stages: Vec<&str> = upstream.iter().map(|s| s.name.as_str()).collect();
            return Err(StageError::Params {
                kind: "profile",
                message: format!(
                    "`networks` names `{name}`, which is neither a network nor a stage among the needed stages ({})",
                    stages.join(", ")
                ),
            });
        }
    }
    Ok(all
        .into_iter()
        .filter(|n| names.iter().any(|name| name == &n.id || name == &n.stage))
        .collect())
}

fn exe() -> Result<PathBuf, StageError> {
    if let Some(path) = std::env::var_os(EXE_VARIABLE) {
        return Ok(PathBuf::from(path));
    }
    std::env::current_exe().map_err(|e| StageError::Params {
        kind: "profile",
        message: format!("find the snni executable for the parties: {e} (set {EXE_VARIABLE})"),
    })
}

impl Kind for ProfileKind {
    type Params = ProfileParams;
    const NAME: &'static str = "profile";
    // 2: engine 0.2.0 (Ferret OT by default, `ot:` in the params, weights loaded before the
    // server listens): every shard re-measures.
    // 3: engine 0.3.0 (HE answers streamed as computed, Ferret refills in frames): the
    // timing profile changes, so every shard re-measures. A test ties this to
    // `MEASURED_WITH_ENGINE`.
    // 4: a machine-speed probe before and after every shard (`probe:` in the params,
    // `noise` and `probe` in `meta`); shards whose probes disagree are measured again.
    // 5: engine 0.4.0 (Ferret's LPN parameters from emp-ot's current table): other COTs,
    // refills and timings, so every shard re-measures.
    // 6: the probes are compared on their HE part alone (`SpeedProbe::deviation`): other
    // shards are measured again and `probe_deviation` means the HE part's change.
    // 7: engine 0.5.0 (convolution packings charge the upload): other ciphertext counts,
    // bytes and timings for most convolutions, so every shard re-measures.
    // 8: engine 0.6.0 (batch norm's channels at Salem–Spencer blocks): other batch-norm
    // packings, so every shard re-measures.
    // 9: engine 0.7.0 (answers summed as lazy dot products): the same bytes, faster linear
    // layers, so every shard re-measures.
    // 10: engine 0.8.0 (batch norm's split layout for channels of N/3 to N/2 positions):
    // other batch-norm packings, so every shard re-measures.
    // 11: engine 0.9.0 (per-layer weight bounds and flooding; uploads and answers drop the
    // low bits the noise budget allows): fewer bytes, so every shard re-measures.
    // 12: engine 0.10.0 (Ferret's trees are half-trees): fewer refill bytes and AES calls,
    // so every shard re-measures.
    // 13: a shard probed more than `probe.slow` below the machine's usual speed is
    // measured again (the same engine; the kept measurements change).
    const VERSION: u32 = 13;
    const SUMMARY: &'static str =
        "secure inference of every network per setting and run (one shard per run)";
    // Which networks, settings and runs exist, and how failures are handled, do not change
    // what one shard measures; the setting's link enters through `shard_inputs`.
    const SHARD_CHOICE: &'static [&'static str] =
        &["networks", "settings", "runs", "timeout", "retries"];

    fn check(
        &self,
        params: &Value,
        ctx: &CheckContext<'_>,
    ) -> Result<ProfileParams, Vec<ParamIssue>> {
        params::check(params, ctx)
    }

    fn plan(
        &self,
        params: &ProfileParams,
        ctx: &PlanContext<'_>,
    ) -> Result<Vec<String>, StageError> {
        let networks = selected_networks(ctx.upstream, &params.networks)?;
        let mut settings: Vec<&NamedSetting> = params.settings.iter().collect();
        settings.sort_by_key(|s| s.setting.is_shaped());
        let mut keys = Vec::with_capacity(settings.len() * networks.len() * params.runs as usize);
        for setting in settings {
            for run in 0..params.runs {
                for network in &networks {
                    keys.push(ShardKey::format(&network.id, &setting.name, run));
                }
            }
        }
        Ok(keys)
    }

    fn shard_inputs(
        &self,
        params: &ProfileParams,
        ctx: &PlanContext<'_>,
        shard: &str,
    ) -> Option<BTreeMap<String, Digest>> {
        let key = ShardKey::parse(shard)?;
        let setting = params.setting(key.setting)?;
        let network = upstream_networks(ctx.upstream)
            .ok()?
            .into_iter()
            .find(|n| n.id == key.network)?;
        let setting_json = serde_json::to_vec(&setting.setting).ok()?;
        Some(BTreeMap::from([
            ("network".to_string(), network.digest),
            ("setting".to_string(), Digest::of(&setting_json)),
        ]))
    }

    fn reserve(&self, params: &ProfileParams, shard: &str) -> Reservation {
        let Some(key) = ShardKey::parse(shard) else {
            return Reservation::Shared;
        };
        let shaped = params
            .setting(key.setting)
            .is_some_and(|s| s.setting.is_shaped());
        match (params.cpus.is_some(), shaped, params.shaped_cpus) {
            // Pinned parties would share their CPUs with any other shard.
            (true, _, _) => Reservation::Exclusive,
            (false, true, Some(n)) => Reservation::Pinned(n),
            (false, true, None) if params.exclusive_shaped => Reservation::Exclusive,
            // Two parties, each `threads` busy threads: two such shards on two CPUs would
            // time each other's load (ResNet-50 at 64×64×3 on Local took 28–34 s two at a
            // time against 23–26 s alone, BENCHMARKS.md).
            _ => Reservation::Cpus(2 * params.threads),
        }
    }

    fn guess_seconds(&self, params: &ProfileParams, shard: &str) -> f64 {
        // Without measurements, a shaped shard is assumed to take longer than a local one.
        let shaped = ShardKey::parse(shard)
            .and_then(|key| params.setting(key.setting).map(|s| s.setting.is_shaped()))
            .unwrap_or(false);
        if shaped {
            120.0
        } else {
            30.0
        }
    }

    fn run(
        &self,
        params: &ProfileParams,
        ctx: &ShardContext<'_>,
    ) -> Result<ShardOutputs, StageError> {
        let started = Instant::now();
        let unknown = || StageError::UnknownShard {
            kind: "profile",
            shard: ctx.shard.to_string(),
        };
        let key = ShardKey::parse(ctx.shard).ok_or_else(unknown)?;
        let setting = params.setting(key.setting).ok_or_else(unknown)?;
        // The machine is read before this thread is pinned, which would hide its cores.
        let this_machine = Machine::current();
        let pinned: Option<Vec<usize>> =
            match (&params.cpus, ctx.cpus) {
                // Checked here, not in the manifest check: the machine that runs the shard is
                // the one whose CPUs count. Parties would fail on every attempt.
                (Some(cpus), _) => Some(machine::resolve_relative(cpus).map_err(|message| {
                    StageError::Profile {
                        shard: ctx.shard.to_string(),
                        attempts: 0,
                        message: format!("{message}; change `cpus` in the manifest"),
                    }
                })?),
                (None, Some(reserved)) => Some(reserved.to_vec()),
                (None, None) => None,
            };
        // The relay (and its calibration) runs on this thread and the threads it starts,
        // which inherit its CPUs: a shard with CPUs of its own keeps its relay on them.
        let _pin = match (ctx.cpus, &pinned) {
            (Some(_), Some(cpus)) => {
                Some(
                    machine::PinGuard::pin(cpus).map_err(|error| StageError::Profile {
                        shard: ctx.shard.to_string(),
                        attempts: 0,
                        message: format!("could not pin the shard to its reserved CPUs: {error}"),
                    })?,
                )
            }
            _ => None,
        };
        let network_ref = upstream_networks(ctx.upstream)?
            .into_iter()
            .find(|n| n.id == key.network)
            .ok_or_else(unknown)?;
        let yaml = ctx
            .store
            .get_blob(&network_ref.digest)
            .map_err(|source| StageError::Store {
                name: format!("{}/{}/network", network_ref.stage, network_ref.id),
                source: Box::new(source),
            })?;
        let text = String::from_utf8_lossy(&yaml);
        let network = Network::from_yaml_str(&text)
            .and_then(|n| n.validate().map(|_| n))
            .map_err(|source| StageError::Network {
                name: network_ref.id.clone(),
                source,
            })?;
        let file = network_file(&yaml, ctx.shard)?;
        let backend = BackendUsed::choose(params.backend, &setting.setting);
        let digest = network.digest();
        let exe = exe()?;
        let plan = AttemptPlan {
            exe: &exe,
            network_file: file.path(),
            digest: &digest,
            layers: network.layers.len(),
            params,
            setting: &setting.setting,
            backend,
            weights_seed: derived_seed(ctx.seed, &["weights", key.network]),
            input_seed: derived_seed(ctx.seed, &["input", key.network, &key.run.to_string()]),
            cpus: pinned.as_deref(),
        };
        let probed = measure_probed(&plan, params, ctx.shard)?;
        let (measured, attempts) = (probed.measured, probed.attempts);
        let shard_s = started.elapsed().as_secs_f64();
        let meta = json!({
            "format": META_FORMAT,
            "network": key.network,
            "network_name": network.name,
            "family": network.family,
            "source_stage": network_ref.stage,
            "setting": setting.name,
            "link": setting.setting,
            "run": key.run,
            "warmup": params.warmup,
            "backend": backend,
            "relay": measured.relay.map(|stats| json!({
                "connections": stats.connections,
                "client_to_server_bytes": stats.client_to_server_bytes,
                "server_to_client_bytes": stats.server_to_client_bytes,
                "path_rtt_us": stats.path_rtt.as_secs_f64() * 1e6,
            })),
            "engine": {
                "version": snni_engine::VERSION,
                "protocol": snni_engine::runtime::PROTOCOL_VERSION,
                "record": snni_engine::runtime::RECORD_VERSION,
            },
            "ell": params.ell,
            "scale": params.scale,
            "he_degree": measured.he_degree,
            "threads": params.threads,
            "ot": params.ot,
            "flooding_bits": params.flooding_bits,
            "cpus": pinned,
            "cpu_reservation": ctx.cpus.map(<[usize]>::len),
            "machine": this_machine,
            "attempts": attempts,
            "noise": probed.noise,
            "probe": probed.probes.map(|(before, after)| json!({
                "before": before,
                "after": after,
                "reruns": probed.reruns,
                "tolerance": params.probe.tolerance,
                "slow_reruns": probed.slow_reruns,
                "waited_s": probed.waited_s,
                "usual_he_per_s": probed.usual_he_per_s,
                "slow": params.probe.slow,
                "he_threads": params.probe.threads,
            })),
            "timing": {
                "shard_s": shard_s,
                "engine_s": measured.engine_s,
                "overhead_s": (shard_s - measured.engine_s).max(0.0),
            },
        });
        let mut outputs = ShardOutputs::default();
        let ndjson = "application/x-ndjson";
        outputs.insert(
            "server",
            OutputData::Bytes {
                bytes: measured.server,
                media_type: ndjson,
            },
        );
        outputs.insert(
            "client",
            OutputData::Bytes {
                bytes: measured.client,
                media_type: ndjson,
            },
        );
        outputs.insert(
            "network",
            OutputData::Bytes {
                bytes: yaml,
                media_type: "application/yaml",
            },
        );
        outputs.insert("meta", OutputData::json("meta", &meta)?);
        Ok(outputs)
    }
}

/// A shard's measurements with the machine's speed and load around them.
struct Probed {
    measured: runner::Measured,
    /// Attempts of the kept measurement (failed ones retried included).
    attempts: u32,
    /// The probes before and after the kept measurement, when the probe is on.
    probes: Option<(SpeedProbe, SpeedProbe)>,
    /// Times the shard was measured again, for either reason.
    reruns: u32,
    /// Of those, the times because the machine ran slow under it.
    slow_reruns: u32,
    /// Seconds spent waiting for the machine's usual speed before measuring again.
    waited_s: f64,
    /// The machine's usual speed the kept measurement was compared with (`None` while the
    /// process had kept too few shards to say).
    usual_he_per_s: Option<f64>,
    /// What the dataset keeps of the probes and the load.
    noise: Option<Value>,
}

/// Why a shard is measured again.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Remeasure {
    /// The machine changed speed under the shard: the probes before and after differ by
    /// this fraction.
    Unsteady(f64),
    /// The machine ran slow throughout: the probes' mean is `slowness` (a fraction) below
    /// its `usual` speed.
    Slow { slowness: f64, usual: f64 },
}

/// Whether a measurement between the probes `before` and `after` is measured again, on a
/// machine whose usual speed is `usual` (if known): unsteady probes first, then slow ones.
fn remeasure(
    probe: &ProbeParams,
    before: &SpeedProbe,
    after: &SpeedProbe,
    usual: Option<f64>,
) -> Option<Remeasure> {
    let deviation = before.deviation(after);
    if deviation > probe.tolerance {
        return Some(Remeasure::Unsteady(deviation));
    }
    let usual = usual?;
    let slowness = probe::slowness(before.mean_he_per_s(after), usual);
    (slowness > probe.slow).then_some(Remeasure::Slow { slowness, usual })
}

/// Pause between the probes of a slow shard's wait.
const WAIT_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits, probing every [`WAIT_PAUSE`], until the machine is back within `probe.slow` of
/// `usual` or `probe.wait` seconds passed (or `cancelled()` says to stop); returns the
/// seconds waited.
fn wait_for_usual_speed(
    probe: &ProbeParams,
    usual: f64,
    run_probe: &dyn Fn() -> Result<SpeedProbe, StageError>,
    cancelled: &dyn Fn() -> bool,
) -> Result<f64, StageError> {
    let started = Instant::now();
    let wait = std::time::Duration::from_secs_f64(probe.wait);
    while started.elapsed() < wait && !cancelled() {
        std::thread::sleep(WAIT_PAUSE.min(wait.saturating_sub(started.elapsed())));
        if probe::slowness(run_probe()?.he_per_s, usual) <= probe.slow {
            break;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Measures the shard ([`measure_with_retries`]) between two speed probes. While the
/// probes disagree by more than `probe.tolerance`, or their mean is more than `probe.slow`
/// below the machine's usual speed (`probe.usual`, else this process's [`SpeedHistory`];
/// then after waiting up to `probe.wait` seconds for that speed), measures it again,
/// `probe.reruns` times at most, and keeps the last measurement with its deviation.
fn measure_probed(
    plan: &AttemptPlan<'_>,
    params: &ProfileParams,
    shard: &str,
) -> Result<Probed, StageError> {
    let probe = params.probe;
    let budget = std::time::Duration::from_secs_f64(probe.seconds);
    let run_probe = || {
        SpeedProbe::run_on(budget, probe.threads as usize).map_err(|error| StageError::Profile {
            shard: shard.to_string(),
            attempts: 0,
            message: error.to_string(),
        })
    };
    let history = SpeedHistory::process();
    let cancelled = || crate::cancel::requested().is_some();
    let (mut reruns, mut slow_reruns, mut waited_s) = (0, 0, 0.0);
    loop {
        let load = LoadStart::now();
        let before = (probe.seconds > 0.0).then(run_probe).transpose()?;
        let (measured, attempts) = measure_with_retries(plan, params, shard)?;
        let after = before.map(|_| run_probe()).transpose()?;
        let record = load.finish();
        let Some((before, after)) = before.zip(after) else {
            return Ok(Probed {
                measured,
                attempts,
                probes: None,
                reruns,
                slow_reruns,
                waited_s,
                usual_he_per_s: None,
                noise: None,
            });
        };
        let usual = probe.usual.or_else(|| history.usual());
        let again = remeasure(&probe, &before, &after, usual)
            .filter(|_| reruns < probe.reruns && !cancelled());
        match again {
            Some(Remeasure::Unsteady(deviation)) => {
                reruns += 1;
                tracing::warn!(
                    shard,
                    rerun = reruns,
                    "the machine's speed changed by {:.1} % during the shard (tolerance {:.1} %); \
                     measuring it again",
                    deviation * 100.0,
                    probe.tolerance * 100.0
                );
                continue;
            }
            Some(Remeasure::Slow { slowness, usual }) => {
                reruns += 1;
                slow_reruns += 1;
                tracing::warn!(
                    shard,
                    rerun = reruns,
                    "the machine ran {:.1} % below its usual speed ({usual:.1} HE layers/s) \
                     throughout the shard (limit {:.1} %); waiting up to {} s for that speed \
                     and measuring it again",
                    slowness * 100.0,
                    probe.slow * 100.0,
                    probe.wait
                );
                waited_s += wait_for_usual_speed(&probe, usual, &run_probe, &cancelled)?;
                continue;
            }
            None => {}
        }
        let he_per_s = before.mean_he_per_s(&after);
        history.record(he_per_s);
        let noise = json!({
            "probe_he_per_s": he_per_s,
            "probe_ot_per_s": (before.ot_per_s + after.ot_per_s) / 2.0,
            "probe_deviation": before.deviation(&after),
            "load_avg": (record.load_start + record.load_end) / 2.0,
            "steal_fraction": record.steal_fraction,
        });
        return Ok(Probed {
            measured,
            attempts,
            probes: Some((before, after)),
            reruns,
            slow_reruns,
            waited_s,
            usual_he_per_s: usual,
            noise: Some(noise),
        });
    }
}

/// Runs the parties until an attempt succeeds, `retries` times more at most after a
/// failure; returns the measurement and the attempts it took.
fn measure_with_retries(
    plan: &AttemptPlan<'_>,
    params: &ProfileParams,
    shard: &str,
) -> Result<(runner::Measured, u32), StageError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match runner::attempt(plan) {
            Ok(measured) => return Ok((measured, attempts)),
            Err(error) => {
                tracing::warn!(
                    shard,
                    attempt = attempts,
                    "profile attempt failed: {}",
                    error.message
                );
                let cancelled = crate::cancel::requested().is_some();
                if error.permanent || cancelled || attempts > params.retries {
                    return Err(StageError::Profile {
                        shard: shard.to_string(),
                        attempts,
                        message: error.message,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
