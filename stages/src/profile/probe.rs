//! The machine-speed probe and the noise record of a profile shard.
//!
//! A virtual machine's speed drifts by ±10 % over minutes (BENCHMARKS.md), and a shard's
//! timings carry that drift. Before and after each shard, [`SpeedProbe::run`] times a
//! fixed workload made of what the engine spends its time on — BFV encryption, a
//! ciphertext × plaintext convolution and decryption on one thread (or on several side by
//! side, [`SpeedProbe::run_on`]), and OT extension between two threads — for a fixed short
//! time, and reports how many of each it completed per second. [`LoadRecord`] reads the
//! load average and the CPU time the hypervisor stole (`/proc/stat`'s `steal`) over the
//! shard. The profile stage stores both in `meta`; the dataset carries them as columns,
//! and a shard whose probes before and after differ by more than the stage's
//! `probe_tolerance` in their HE part is measured again ([`SpeedProbe::deviation`]), and so
//! is one whose probes are well below the machine's usual speed ([`SpeedHistory`]).

use std::sync::{Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use snni_engine::channel::{mem_pair, Channel};
use snni_engine::he::{ConvShape, HeClient, HeParams, HeServer, LinearLayer, LinearPlan, Padding};
use snni_engine::ot::{IknpPair, OtReceiver, OtSender, Role};

/// Share bit length of the probe's HE layer (the study's default ℓ).
const PROBE_ELL: u32 = 41;
/// Random OTs drawn per round of the probe's OT part.
const OT_BATCH: usize = 1 << 14;

/// What went wrong while probing (the engine refused its own fixed workload).
#[derive(Debug, thiserror::Error)]
#[error("the machine-speed probe failed: {0}")]
pub struct ProbeError(String);

/// Work per second of the probe's two parts on this machine, now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpeedProbe {
    /// HE layers (encrypt, ct × pt convolution, decrypt of one small conv) per second, per
    /// thread when the HE part ran on several.
    pub he_per_s: f64,
    /// Random OTs (IKNP extension, both parties on two threads) per second.
    pub ot_per_s: f64,
    /// Seconds the probe ran.
    pub seconds: f64,
}

impl SpeedProbe {
    /// Runs the probe for about `budget` (half HE, half OT; at least one round of each).
    pub fn run(budget: Duration) -> Result<SpeedProbe, ProbeError> {
        SpeedProbe::run_on(budget, 1)
    }

    /// [`run`](Self::run) with the HE part on `he_threads` threads at once, each its own
    /// client and server; `he_per_s` is their mean rate, so it reads like one thread's on a
    /// machine with a core for each.
    ///
    /// One thread sees the whole machine slowing down but not a neighbour that takes one
    /// core: on two cores it gets the other core to itself, while the shard's two parties
    /// share theirs with the neighbour (BENCHMARKS.md, "A slow machine under a shard").
    /// As many threads as the parties run feel what they feel.
    pub fn run_on(budget: Duration, he_threads: usize) -> Result<SpeedProbe, ProbeError> {
        let started = Instant::now();
        let he_per_s = he_rate_on(budget / 2, he_threads.max(1))?;
        let ot_per_s = ot_rate(budget / 2)?;
        Ok(SpeedProbe {
            he_per_s,
            ot_per_s,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The one figure both parts give: the geometric mean of the two rates (what
    /// [`deviation`](Self::deviation) compared before profile version 6).
    pub fn score(&self) -> f64 {
        (self.he_per_s * self.ot_per_s).sqrt()
    }

    /// The mean of this probe's HE rate and `later`'s: the speed a shard between them ran
    /// at, as the dataset and the slow-shard check see it.
    pub fn mean_he_per_s(&self, later: &SpeedProbe) -> f64 {
        (self.he_per_s + later.he_per_s) / 2.0
    }

    /// How far `later`'s HE rate is from this one's, as a fraction of this one's (0.1: ten
    /// percent faster or slower): what decides whether a shard is measured again.
    ///
    /// The OT part is recorded but not compared. Its two threads hand every batch to each
    /// other, and on a VM how fast a waiting thread wakes depends on what ran in the seconds
    /// before, not on how fast the machine computes: between two probes of a quiet machine
    /// it moved by up to 170 %, after a busy stretch (as after a shard) it ran 1.5–2× faster
    /// than after seconds of probing, while the one-thread HE part moved by 9–37 % at most
    /// (`cargo bench --workspace --bench probe`; BENCHMARKS.md, "The machine-speed probe's
    /// own scatter"). Compared on both parts, the probes reran shards of a quiet machine.
    pub fn deviation(&self, later: &SpeedProbe) -> f64 {
        if self.he_per_s > 0.0 {
            (later.he_per_s / self.he_per_s - 1.0).abs()
        } else {
            f64::INFINITY
        }
    }
}

/// HE layers per second, the mean over `threads` threads that start timing together once
/// each has set up its keys.
fn he_rate_on(budget: Duration, threads: usize) -> Result<f64, ProbeError> {
    if threads == 1 {
        return HeWorkload::new()?.rate(budget);
    }
    let start = Barrier::new(threads);
    let rates: Vec<Result<f64, ProbeError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    // Every thread reaches the barrier, so one whose setup failed or
                    // panicked cannot leave the others waiting.
                    let workload = std::panic::catch_unwind(HeWorkload::new).unwrap_or_else(|_| {
                        Err(ProbeError("the HE probe's setup panicked".into()))
                    });
                    start.wait();
                    workload?.rate(budget)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(ProbeError("an HE probe thread panicked".into())))
            })
            .collect()
    });
    let rates = rates.into_iter().collect::<Result<Vec<f64>, _>>()?;
    Ok(rates.iter().sum::<f64>() / rates.len() as f64)
}

/// The probe's HE layer, a 16×16×16 → 16, 3×3 convolution under the study's parameters,
/// with its keys, inputs and weights.
struct HeWorkload {
    plan: LinearPlan,
    client: HeClient,
    server: HeServer,
    x_client: Vec<u64>,
    x_server: Vec<u64>,
    weights: Vec<u64>,
}

/// The probe's error for an HE step the engine refused.
fn he_failure(what: &str, e: &dyn std::fmt::Display) -> ProbeError {
    ProbeError(format!("{what}: {e}"))
}

impl HeWorkload {
    /// Keys and data for the layer (outside any timing).
    fn new() -> Result<HeWorkload, ProbeError> {
        let params =
            HeParams::for_bitlen(PROBE_ELL).map_err(|e| he_failure("HE parameters", &e))?;
        let layer = LinearLayer::Conv(ConvShape {
            h: 16,
            w: 16,
            c: 16,
            kh: 3,
            kw: 3,
            m: 16,
            stride: 1,
            pad: Padding::same(1),
        });
        let plan = LinearPlan::new(layer, params.desc()).map_err(|e| he_failure("HE plan", &e))?;
        let mask = (1u64 << PROBE_ELL) - 1;
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
        let mut values = |n: usize| -> Vec<u64> { (0..n).map(|_| rng.next_u64() & mask).collect() };
        let (x_client, x_server) = (values(layer.input_len()), values(layer.input_len()));
        let weights: Vec<u64> = values(layer.weight_len())
            .into_iter()
            .map(|w| w & 0xfff)
            .collect();
        let mut client =
            HeClient::new(params.clone(), ChaCha20Rng::seed_from_u64(1)).with_threads(1);
        let key = client.public_key().map_err(|e| he_failure("HE key", &e))?;
        let server = HeServer::new(params, &key, ChaCha20Rng::seed_from_u64(2))
            .map_err(|e| he_failure("HE server", &e))?
            .with_threads(1);
        Ok(HeWorkload {
            plan,
            client,
            server,
            x_client,
            x_server,
            weights,
        })
    }

    /// Layers encrypted, evaluated and decrypted per second on the calling thread until
    /// `budget` passes (at least one).
    fn rate(mut self, budget: Duration) -> Result<f64, ProbeError> {
        let started = Instant::now();
        let mut layers = 0u32;
        while layers == 0 || started.elapsed() < budget {
            let cts = self
                .client
                .encrypt_input(&self.plan, &self.x_client)
                .map_err(|e| he_failure("HE encrypt", &e))?;
            let out = self
                .server
                .evaluate(&self.plan, &self.weights, &self.x_server, &cts)
                .map_err(|e| he_failure("HE evaluate", &e))?;
            self.client
                .decrypt_output(&self.plan, &out.cts)
                .map_err(|e| he_failure("HE decrypt", &e))?;
            layers += 1;
        }
        Ok(f64::from(layers) / started.elapsed().as_secs_f64())
    }
}

/// Random OTs per second: IKNP between two threads over an in-memory channel, in batches
/// of [`OT_BATCH`], until `budget` passes (base OTs outside the timing).
fn ot_rate(budget: Duration) -> Result<f64, ProbeError> {
    let fail = |e: snni_engine::ot::OtError| ProbeError(format!("OT: {e}"));
    let (mut server_ch, mut client_ch) = mem_pair();
    std::thread::scope(|scope| {
        let client = scope.spawn(move || -> Result<(), ProbeError> {
            let ch: &mut dyn Channel = &mut client_ch;
            let mut rng = ChaCha20Rng::seed_from_u64(3);
            let mut pair = IknpPair::setup(Role::Client, ch, 1, &mut rng).map_err(fail)?;
            // The server says after each batch whether another follows.
            loop {
                pair.receiver
                    .recv_random_choice(ch, OT_BATCH)
                    .map_err(fail)?;
                let more = ch.recv().map_err(|e| ProbeError(format!("OT: {e}")))?;
                if more.first() != Some(&1) {
                    return Ok(());
                }
            }
        });
        let ch: &mut dyn Channel = &mut server_ch;
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let served = (|| -> Result<f64, ProbeError> {
            let mut pair = IknpPair::setup(Role::Server, ch, 1, &mut rng).map_err(fail)?;
            let started = Instant::now();
            let mut batches = 0u32;
            loop {
                pair.sender.send_random_choice(ch, OT_BATCH).map_err(fail)?;
                batches += 1;
                let more = started.elapsed() < budget;
                ch.send(&[u8::from(more)])
                    .and_then(|()| ch.flush())
                    .map_err(|e| ProbeError(format!("OT: {e}")))?;
                if !more {
                    return Ok(
                        f64::from(batches) * OT_BATCH as f64 / started.elapsed().as_secs_f64()
                    );
                }
            }
        })();
        let client = client
            .join()
            .unwrap_or_else(|_| Err(ProbeError("the OT client thread panicked".into())));
        let rate = served?;
        client?;
        Ok(rate)
    })
}

/// The HE rates of this process's kept measurements: the machine's usual speed, to which a
/// shard's own probe is compared.
///
/// The probes before and after a shard can agree while the machine is slow throughout it: on
/// the mid study's VM a few shards ran at 28 HE layers/s against a median of 37, with the
/// two probes within 20 % of each other, and their runs stood out as the largest errors of
/// every predictor (BENCHMARKS.md, "A slow machine under a shard"). Such a stretch shows
/// only against the speed the machine usually has. The history lives in the process, so
/// shards stay independent of each other's outputs; under `snni run` and in a Slurm task
/// alike it fills as the process measures, and a process judges nothing before it has seen
/// [`HISTORY_BEFORE_JUDGING`] kept shards.
#[derive(Debug, Default)]
pub struct SpeedHistory {
    rates: Mutex<Vec<f64>>,
}

/// Kept shards a process has to have measured before it calls a shard slow.
pub const HISTORY_BEFORE_JUDGING: usize = 8;

impl SpeedHistory {
    /// An empty history.
    pub const fn new() -> SpeedHistory {
        SpeedHistory {
            rates: Mutex::new(Vec::new()),
        }
    }

    /// The history the profile stage keeps for this process.
    pub fn process() -> &'static SpeedHistory {
        static PROCESS: SpeedHistory = SpeedHistory::new();
        &PROCESS
    }

    /// Adds a kept shard's HE rate (the mean of its probes); a rate that is not a positive
    /// number is not a speed and is left out.
    pub fn record(&self, he_per_s: f64) {
        if he_per_s > 0.0 && he_per_s.is_finite() {
            self.lock().push(he_per_s);
        }
    }

    /// The median of the recorded rates, once there are [`HISTORY_BEFORE_JUDGING`] of them.
    pub fn usual(&self) -> Option<f64> {
        let mut rates = self.lock().clone();
        if rates.len() < HISTORY_BEFORE_JUDGING {
            return None;
        }
        rates.sort_by(f64::total_cmp);
        let mid = rates.len() / 2;
        Some(if rates.len() % 2 == 1 {
            rates[mid]
        } else {
            (rates[mid - 1] + rates[mid]) / 2.0
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<f64>> {
        // A panic elsewhere cannot leave a Vec of numbers half-written.
        self.rates.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How far `he_per_s` is below `usual`, as a fraction of `usual` (0.25: a quarter slower;
/// negative when faster).
pub fn slowness(he_per_s: f64, usual: f64) -> f64 {
    1.0 - he_per_s / usual
}

/// The load on the machine over a shard: the load average at its start and end, and the
/// share of CPU time the hypervisor stole meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadRecord {
    /// The 1-minute load average when the shard started.
    pub load_start: f64,
    /// The 1-minute load average when it ended.
    pub load_end: f64,
    /// Stolen CPU time over all CPU time in between (0 when the kernel does not say).
    pub steal_fraction: f64,
}

/// What [`LoadRecord`] reads at a shard's start.
#[derive(Debug, Clone, Copy)]
pub struct LoadStart {
    load: f64,
    cpu: CpuTimes,
}

impl LoadStart {
    /// Reads the load average and CPU times now.
    pub fn now() -> LoadStart {
        LoadStart {
            load: load_average(),
            cpu: CpuTimes::now(),
        }
    }

    /// The record from this start until now.
    pub fn finish(&self) -> LoadRecord {
        let end = CpuTimes::now();
        let total = end.total.saturating_sub(self.cpu.total);
        let steal = end.steal.saturating_sub(self.cpu.steal);
        LoadRecord {
            load_start: self.load,
            load_end: load_average(),
            steal_fraction: if total > 0 {
                steal as f64 / total as f64
            } else {
                0.0
            },
        }
    }
}

/// The 1-minute load average (`/proc/loadavg`; 0 where the kernel has none).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| parse_load_average(&text))
        .unwrap_or(0.0)
}

/// The first field of `/proc/loadavg`.
fn parse_load_average(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Jiffies of all CPUs: all of them and the stolen ones (`/proc/stat`'s `cpu` line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CpuTimes {
    total: u64,
    steal: u64,
}

impl CpuTimes {
    fn now() -> CpuTimes {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| parse_cpu_times(&text))
            .unwrap_or_default()
    }
}

/// The aggregate `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq
/// steal guest guest_nice. Guest time is already counted in user and nice, so the total
/// is the sum of the first eight fields.
fn parse_cpu_times(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    Some(CpuTimes {
        total: fields.iter().take(8).sum(),
        steal: fields.get(7).copied().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_does_both_parts_and_reports_positive_rates() {
        let probe = SpeedProbe::run(Duration::from_millis(200)).unwrap();
        assert!(
            probe.he_per_s > 0.0 && probe.he_per_s.is_finite(),
            "{probe:?}"
        );
        assert!(
            probe.ot_per_s > 0.0 && probe.ot_per_s.is_finite(),
            "{probe:?}"
        );
        assert!(probe.seconds > 0.0, "{probe:?}");
        assert_eq!(probe.deviation(&probe), 0.0);
    }

    #[test]
    fn the_he_part_runs_on_several_threads() {
        // More threads than this machine has cores: each sets up, meets the others at the
        // start and finishes at least one layer.
        let three = SpeedProbe::run_on(Duration::from_millis(100), 3).unwrap();
        assert!(
            three.he_per_s > 0.0 && three.he_per_s.is_finite(),
            "{three:?}"
        );
        assert!(three.ot_per_s > 0.0, "{three:?}");
        // `0` threads is one.
        assert!(
            SpeedProbe::run_on(Duration::from_millis(10), 0)
                .unwrap()
                .he_per_s
                > 0.0
        );
    }

    #[test]
    fn deviation_is_relative_to_the_first_probe_and_symmetric_in_sign() {
        let before = SpeedProbe {
            he_per_s: 10.0,
            ot_per_s: 1000.0,
            seconds: 1.0,
        };
        let slower = SpeedProbe {
            he_per_s: 9.0,
            ot_per_s: 900.0,
            ..before
        };
        let faster = SpeedProbe {
            he_per_s: 11.0,
            ot_per_s: 1100.0,
            ..before
        };
        assert!((before.deviation(&slower) - 0.1).abs() < 1e-12);
        assert!((before.deviation(&faster) - 0.1).abs() < 1e-12);
        let zero = SpeedProbe {
            he_per_s: 0.0,
            ..before
        };
        assert!(zero.deviation(&before).is_infinite());
    }

    #[test]
    fn only_the_he_part_decides_the_deviation() {
        let before = SpeedProbe {
            he_per_s: 36.0,
            ot_per_s: 11e6,
            seconds: 0.5,
        };
        let woken_faster = SpeedProbe {
            ot_per_s: 20e6,
            ..before
        };
        assert_eq!(before.deviation(&woken_faster), 0.0);
        let slower = SpeedProbe {
            he_per_s: 27.0,
            ..woken_faster
        };
        assert!((before.deviation(&slower) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn the_usual_speed_is_the_median_once_enough_shards_were_kept() {
        let history = SpeedHistory::new();
        for rate in [30.0, 40.0, 36.0, 35.0, 37.0, 38.0, 34.0] {
            history.record(rate);
        }
        assert_eq!(history.usual(), None, "seven shards are too few to judge");
        history.record(f64::NAN);
        history.record(0.0);
        assert_eq!(history.usual(), None, "what is not a speed does not count");
        history.record(33.0);
        assert_eq!(history.usual(), Some(35.5));
        history.record(1.0);
        assert_eq!(
            history.usual(),
            Some(35.0),
            "one very slow shard moves it little"
        );
        assert!((slowness(28.0, 35.0) - 0.2).abs() < 1e-12);
        assert!(slowness(40.0, 35.0) < 0.0);
    }

    #[test]
    fn proc_stat_and_loadavg_parse() {
        let stat = "cpu  100 5 50 800 10 1 2 32 0 0\ncpu0 50 2 25 400 5 0 1 16 0 0\nintr 1\n";
        assert_eq!(
            parse_cpu_times(stat),
            Some(CpuTimes {
                total: 1000,
                steal: 32
            })
        );
        assert_eq!(parse_cpu_times("cpu0 1 2 3\n"), None);
        assert_eq!(parse_cpu_times("cpu  1 x 3\n"), None);
        assert_eq!(
            parse_load_average("0.52 0.58 0.59 1/467 12345\n"),
            Some(0.52)
        );
        assert_eq!(parse_load_average(""), None);
    }

    #[test]
    fn a_load_record_covers_the_time_between_start_and_finish() {
        let start = LoadStart::now();
        let record = start.finish();
        assert!((0.0..=1.0).contains(&record.steal_fraction), "{record:?}");
        assert!(
            record.load_start >= 0.0 && record.load_end >= 0.0,
            "{record:?}"
        );
    }
}
