//! What a run measures: one [`LayerRecord`] per layer and party, one [`RunRecord`] per run,
//! written as JSON lines; and the party's own clocks ([`Stopwatch`]).
//!
//! CPU time is the running thread's, read from `/proc/thread-self/schedstat` (Linux). Where
//! that file does not exist the CPU times are 0 and `cpu_time_available` is false.

use std::io::Write;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::channel::Meter;
use crate::he::{HeParamsDesc, LinearPlan};
use crate::network::{OpKind, Shape};
use crate::ot::OtBackend;

use super::config::Party;

/// Format version of the records; bump when a field changes meaning.
pub const RECORD_VERSION: u32 = 1;

/// The calling thread's CPU time in nanoseconds, if the platform reports it.
pub fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Wall clock, thread CPU clock and traffic at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu_ns: Option<u64>,
    meter: Meter,
}

/// What happened between a [`Stopwatch`] and now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Wall time in seconds.
    pub wall_s: f64,
    /// Thread CPU time in seconds (0 when not available).
    pub cpu_s: f64,
    /// Bytes sent, frame headers included.
    pub bytes_sent: u64,
    /// Bytes received, frame headers included.
    pub bytes_received: u64,
    /// Frames sent.
    pub messages_sent: u64,
    /// Frames received.
    pub messages_received: u64,
    /// Switches from sending to receiving.
    pub rounds: u64,
}

impl Stopwatch {
    /// Starts measuring now, against the channel's `meter`.
    pub fn start(meter: Meter) -> Self {
        Self {
            wall: Instant::now(),
            cpu_ns: thread_cpu_ns(),
            meter,
        }
    }

    /// The time and traffic since [`Stopwatch::start`].
    pub fn stop(&self, meter: Meter) -> Measured {
        let cpu_ns = match (self.cpu_ns, thread_cpu_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        let traffic = meter.since(&self.meter);
        Measured {
            wall_s: self.wall.elapsed().as_secs_f64(),
            cpu_s: cpu_ns as f64 * 1e-9,
            bytes_sent: traffic.bytes_sent,
            bytes_received: traffic.bytes_received,
            messages_sent: traffic.messages_sent,
            messages_received: traffic.messages_received,
            rounds: traffic.rounds,
        }
    }
}

/// Protocol counts of a layer known from planning, before any cryptography.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ProtocolCounts {
    /// Elements the layer writes.
    pub output_elements: u64,
    /// Secure comparisons (DReLU / millionaires' instances).
    pub comparisons: u64,
    /// Secure truncations.
    pub truncations: u64,
    /// Secure multiplications of two shared values (polynomial activations).
    pub multiplications: u64,
    /// 1-of-2 OTs the OT-based part extends (truncation, comparisons, triples).
    pub ots: u64,
    /// Ferret main iterations (COT pool refills) the layer runs, both directions together;
    /// 0 with IKNP. Their messages are in the planned bytes.
    #[serde(default)]
    pub ot_refills: u64,
    /// Planned bytes the server sends in the OT-based part (frame headers included, the
    /// runtime's 4-byte step tag per frame not); HE bytes are in the linear plan.
    pub ot_bytes_server: u64,
    /// Planned bytes the client sends in the OT-based part (as `ot_bytes_server`).
    pub ot_bytes_client: u64,
}

/// One layer as one party ran it: a JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerRecord {
    /// Always `"layer"`.
    pub record: &'static str,
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// Which party measured it.
    pub party: Party,
    /// The network's name.
    pub network: String,
    /// 0-based layer index.
    pub index: usize,
    /// Layer name.
    pub name: String,
    /// Layer kind.
    pub kind: OpKind,
    /// Input shapes, in input order.
    pub inputs: Vec<Shape>,
    /// Output shape.
    pub output: Shape,
    /// Time and traffic, from this party's own clock.
    #[serde(flatten)]
    pub measured: Measured,
    /// Truncation inputs the range check found outside `[−2^{ℓ−2}, 2^{ℓ−2})`, where the
    /// 1-ulp bound fails (the client counts; the server learns nothing and records 0).
    pub truncation_out_of_range: u64,
    /// Counts from planning.
    pub counts: ProtocolCounts,
    /// The HE plan of a conv, fc or batch_norm layer.
    pub linear: Option<LinearPlan>,
}

/// A short description of the HE parameters, for the run record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeSummary {
    /// Polynomial degree N.
    pub degree: usize,
    /// Bit sizes of the ciphertext moduli.
    pub moduli_bits: Vec<u32>,
    /// Moduli kept in the answers.
    pub final_moduli: usize,
    /// Flooding noise bits.
    pub flood_bits: u32,
    /// Bound on log2 of the weight L1 norm.
    pub weight_l1_bits: u32,
}

impl From<&HeParamsDesc> for HeSummary {
    fn from(desc: &HeParamsDesc) -> Self {
        Self {
            degree: desc.degree,
            moduli_bits: desc.moduli_bits.clone(),
            final_moduli: desc.final_moduli,
            flood_bits: desc.flood_bits,
            weight_l1_bits: desc.weight_l1_bits,
        }
    }
}

/// The whole run as one party saw it: the last JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// Always `"run"`.
    pub record: &'static str,
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// Which party measured it.
    pub party: Party,
    /// The network's name.
    pub network: String,
    /// The network's digest ([`crate::network::Network::digest`]).
    pub digest: String,
    /// Share bit length ℓ.
    pub ell: u32,
    /// Fixed-point scale.
    pub scale: u32,
    /// HE parameters.
    pub he: HeSummary,
    /// The flooding margin per revealed coefficient and per inference.
    pub flooding: super::flooding::FloodingSummary,
    /// The OT extension.
    pub ot: OtBackend,
    /// Configured worker threads.
    pub threads: usize,
    /// Whether CPU times were measured (false: they are 0).
    pub cpu_time_available: bool,
    /// Number of layers.
    pub layers: usize,
    /// Setup: handshake, HE public key, base OTs.
    pub setup: Measured,
    /// The layers and the output exchange (setup excluded).
    pub inference: Measured,
    /// Everything: setup plus inference.
    pub total: Measured,
}

/// What one party's run returns.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// One record per layer, in network order.
    pub layers: Vec<LayerRecord>,
    /// The run's totals.
    pub run: RunRecord,
    /// The network output as ring elements at scale s (client only; the server learns
    /// nothing).
    pub output: Option<Vec<u64>>,
}

impl RunReport {
    /// Warnings about the run, one per layer whose truncation inputs left the range the
    /// 1-ulp bound assumes (the client's report only).
    pub fn warnings(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter(|l| l.truncation_out_of_range > 0)
            .map(|l| {
                format!(
                    "layer {} '{}': {} truncation inputs outside ±2^{} (the output may be off by \
                     far more than 1 ulp; lower the scale or raise ℓ)",
                    l.index,
                    l.name,
                    l.truncation_out_of_range,
                    self.run.ell - 2
                )
            })
            .collect()
    }

    /// Writes one JSON line per layer, then the run line.
    pub fn write_json_lines(&self, mut out: impl Write) -> std::io::Result<()> {
        for layer in &self.layers {
            serde_json::to_writer(&mut out, layer)?;
            out.write_all(b"\n")?;
        }
        serde_json::to_writer(&mut out, &self.run)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// The output decoded to reals (client only).
    pub fn output_reals(&self) -> Option<Vec<f64>> {
        let (scale, ell) = (self.run.scale, self.run.ell);
        self.output.as_ref().map(|values| {
            values
                .iter()
                .map(|&x| crate::nonlinear::fixed::decode(x, scale, ell))
                .collect()
        })
    }
}
