//! The `meta` output of a profile shard: which network, setting and run it measured, and
//! the context (link, backend, engine, machine) that the dataset keeps beside every row.
//!
//! Unknown fields are ignored, so a profile stage that records more does not break the
//! dataset; `format` says when a field changed meaning.

use serde::Deserialize;
use snni_engine::ot::OtBackend;

/// The `format` this build reads.
pub const META_FORMAT: u32 = 1;

/// A profile shard's `meta` JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct ProfileMeta {
    /// Format of this JSON ([`META_FORMAT`]).
    pub format: u32,
    /// The network's id in the study (the upstream shard key, e.g. `synth-0003`).
    pub network: String,
    /// The name inside the network description.
    pub network_name: String,
    /// The network's family, e.g. `conv_maxpool`.
    pub family: String,
    /// The stage that produced the network.
    pub source_stage: String,
    /// The network setting's name, e.g. `lan`.
    pub setting: String,
    /// The 1-based run number.
    pub run: u64,
    /// The machine's speed and load around the shard; absent from shards measured before
    /// the profile stage recorded it, or with its probe switched off.
    #[serde(default)]
    pub noise: Option<Noise>,
    /// Everything else that is the same for every row of the shard.
    #[serde(flatten)]
    pub context: Context,
}

/// How and where a shard was measured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Context {
    /// The emulated link.
    pub link: Link,
    /// The shaping backend: `none`, `relay` or `tc`.
    pub backend: String,
    /// The engine that ran.
    pub engine: Engine,
    /// Share bit length ℓ.
    pub ell: u64,
    /// Fixed-point scale.
    pub scale: u64,
    /// HE polynomial degree N.
    pub he_degree: u64,
    /// Worker threads per party.
    pub threads: u64,
    /// The OT extension the parties ran; shards measured before the field existed ran IKNP.
    #[serde(default = "legacy_ot")]
    pub ot: OtBackend,
    /// The flooding margin per inference the parties were asked for (absent or null: the
    /// default per-coefficient margin).
    #[serde(default)]
    pub flooding_bits: Option<u32>,
    /// CPUs both parties were pinned to (absent or null: placed by the OS).
    #[serde(default)]
    pub cpus: Option<Vec<usize>>,
    /// When the shard reserved CPUs of its own (`shaped_cpus`), how many: then `cpus`
    /// differ from shard to shard and only their number must agree.
    #[serde(default)]
    pub cpu_reservation: Option<usize>,
    /// The machine.
    pub machine: Machine,
}

/// The emulated link of a setting (all absent for an unshaped one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Link {
    /// Bandwidth in bits per second.
    #[serde(default)]
    pub bandwidth_bps: Option<u64>,
    /// Round-trip time in microseconds.
    #[serde(default)]
    pub rtt_us: Option<f64>,
    /// Packet loss in percent.
    #[serde(default)]
    pub loss_percent: Option<f64>,
}

/// The engine's versions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Engine {
    /// Crate version, e.g. `0.1.0`.
    pub version: String,
    /// Wire protocol version.
    pub protocol: u32,
    /// Record (JSON line) version.
    pub record: u32,
}

/// The machine the shard ran on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Machine {
    /// Logical cores.
    pub cores: u64,
    /// CPU model string.
    pub cpu_model: String,
    /// Operating system.
    pub os: String,
}

/// The machine's speed and load around one shard (see `crate::profile::probe`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Noise {
    /// HE layers per second of the probe, mean of the probes before and after the shard.
    pub probe_he_per_s: f64,
    /// Random OTs per second of the probe, mean of before and after.
    pub probe_ot_per_s: f64,
    /// How far the probe after the shard is from the one before, as a fraction.
    pub probe_deviation: f64,
    /// The 1-minute load average, mean of the shard's start and end.
    pub load_avg: f64,
    /// The share of CPU time the hypervisor stole during the shard.
    pub steal_fraction: f64,
}

/// The OT backend of shards whose `meta` predates the field: the engine had only IKNP.
fn legacy_ot() -> OtBackend {
    OtBackend::Iknp
}

impl Context {
    /// The properties that must agree between shards of one setting unless mixing is
    /// allowed, as (name, value) pairs.
    pub fn comparable(&self) -> [(&'static str, String); 10] {
        [
            ("ot", self.ot.to_string()),
            (
                "flooding bits",
                self.flooding_bits
                    .map_or_else(|| "default".to_string(), |bits| bits.to_string()),
            ),
            ("cpu_model", self.machine.cpu_model.clone()),
            ("cores", self.machine.cores.to_string()),
            ("os", self.machine.os.clone()),
            ("backend", self.backend.clone()),
            (
                "engine version",
                format!(
                    "{} (protocol {}, record {})",
                    self.engine.version, self.engine.protocol, self.engine.record
                ),
            ),
            ("ell", self.ell.to_string()),
            ("threads", self.threads.to_string()),
            ("pinned cpus", {
                let cpus = self.pinned_cpus();
                match self.cpu_reservation {
                    Some(n) => format!("{n} reserved per shard"),
                    None if cpus.is_empty() => "none".to_string(),
                    None => cpus,
                }
            }),
        ]
    }

    /// The CPUs the parties were pinned to, comma-separated (empty: not pinned).
    pub fn pinned_cpus(&self) -> String {
        let cpus = self.cpus.as_deref().unwrap_or_default();
        cpus.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meta_and_ignores_unknown_fields() {
        let text = r#"{"format":1,"network":"synth-0003","network_name":"synth-0003",
            "family":"conv_maxpool","source_stage":"synth","setting":"lan",
            "link":{"bandwidth_bps":7000000000,"rtt_us":500.0,"loss_percent":null},
            "run":1,"warmup":0,"backend":"relay",
            "engine":{"version":"0.1.0","protocol":1,"record":1},
            "ell":41,"scale":12,"he_degree":8192,"threads":1,
            "machine":{"cores":2,"cpu_model":"AMD EPYC 7B13","os":"linux"},
            "attempts":1,"timing":{"shard_s":1.93,"engine_s":1.85,"overhead_s":0.08},
            "future":"ignored"}"#;
        let meta: ProfileMeta = serde_json::from_str(text).unwrap();
        assert_eq!(meta.run, 1);
        assert_eq!(meta.context.link.bandwidth_bps, Some(7_000_000_000));
        assert_eq!(meta.context.link.loss_percent, None);
        assert_eq!(meta.context.machine.cpu_model, "AMD EPYC 7B13");
        assert_eq!(meta.context.pinned_cpus(), "");
        assert_eq!(meta.context.ot, OtBackend::Iknp, "older shards ran IKNP");
        let ferret: ProfileMeta =
            serde_json::from_str(&text.replace(r#""threads":1,"#, r#""threads":1,"ot":"ferret","#))
                .unwrap();
        assert_eq!(ferret.context.ot, OtBackend::Ferret);
        assert_ne!(ferret.context.comparable(), meta.context.comparable());
        let pinned: ProfileMeta =
            serde_json::from_str(&text.replace(r#""threads":1,"#, r#""threads":1,"cpus":[0,2],"#))
                .unwrap();
        assert_eq!(pinned.context.pinned_cpus(), "0,2");
        assert_ne!(pinned.context.comparable(), meta.context.comparable());
        let flooded: ProfileMeta = serde_json::from_str(
            &text.replace(r#""threads":1,"#, r#""threads":1,"flooding_bits":40,"#),
        )
        .unwrap();
        assert_eq!(flooded.context.flooding_bits, Some(40));
        assert_ne!(flooded.context.comparable(), meta.context.comparable());
    }
}
