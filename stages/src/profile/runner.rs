//! One attempt of a profile shard: the shaped link (none, relay or tc namespaces), the
//! warm-up inferences and the measured one, each as a server and a client process.
//!
//! An attempt either returns both parties' checked metering or fails with the tail of
//! both processes' stderr; it never returns half a result. Every child is killed on a
//! failure or a timeout, and the parties also exit by themselves if this process dies
//! (their stdin is a pipe only this process writes to; see `snni party --exit-with-parent`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::metering;
use super::params::{Backend, ProfileParams};
use super::party::{free_loopback_port, wait_both, PartyData, PartyLine, Role, RunningParty};
use crate::shaping::relay::{Relay, RelayStats};
use crate::shaping::tc::{self, Probe, TcLink};
use crate::shaping::LinkSpec;
use crate::Setting;

/// Prefix of the network namespaces profiles create (`snni-<pid>-<n>-s|c`).
pub const NAMESPACE_PREFIX: &str = "snni";
/// The port the server listens on inside its namespace (the namespace is fresh, so any
/// port is free).
const TC_PORT: u16 = 7411;
/// How often running parties are checked.
const POLL: Duration = Duration::from_millis(1);

/// The shaping backend that actually ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendUsed {
    /// Loopback, no shaping (an unshaped setting).
    None,
    /// The built-in relay.
    Relay,
    /// tc in network namespaces.
    Tc,
}

impl BackendUsed {
    /// The backend for `setting` when the manifest asks for `backend`.
    pub fn choose(backend: Backend, setting: &Setting) -> BackendUsed {
        if !setting.is_shaped() {
            return BackendUsed::None;
        }
        match backend {
            Backend::Tc => BackendUsed::Tc,
            Backend::Relay => BackendUsed::Relay,
            Backend::Auto if probe().netem_works() => BackendUsed::Tc,
            Backend::Auto => BackendUsed::Relay,
        }
    }
}

/// The relay's own path round trip for `link`, measured once per process and link: each
/// measurement takes 0.06–0.2 s, which would otherwise count against every shard. Shaped
/// shards run alone, so the load it was measured under is the load they run under.
fn relay_path_rtt(link: &LinkSpec) -> std::io::Result<Duration> {
    static MEASURED: Mutex<BTreeMap<(Option<u64>, Duration), Duration>> =
        Mutex::new(BTreeMap::new());
    let key = (link.bandwidth_bps, link.one_way_delay());
    let mut measured = MEASURED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path_rtt) = measured.get(&key) {
        return Ok(*path_rtt);
    }
    let path_rtt = Relay::calibrate(link)?;
    tracing::debug!(?link, ?path_rtt, "relay path calibrated");
    measured.insert(key, path_rtt);
    Ok(path_rtt)
}

/// The tc probe, made once per process.
pub fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        let probe = tc::probe();
        tracing::debug!(%probe, "tc backend probe");
        probe
    })
}

/// Everything one attempt needs.
pub struct AttemptPlan<'a> {
    /// The `snni` executable.
    pub exe: &'a Path,
    /// The network description file.
    pub network_file: &'a Path,
    /// The network's digest, which both parties must report.
    pub digest: &'a str,
    /// Its layer count.
    pub layers: usize,
    /// Stage parameters.
    pub params: &'a ProfileParams,
    /// The setting's link.
    pub setting: &'a Setting,
    /// The backend to use.
    pub backend: BackendUsed,
    /// Seed of the server's weights.
    pub weights_seed: u64,
    /// Seed of the client's input.
    pub input_seed: u64,
    /// The CPUs both parties pin themselves to (absolute numbers), if any.
    pub cpus: Option<&'a [usize]>,
}

/// The measured inference of a successful attempt.
#[derive(Debug)]
pub struct Measured {
    /// The server's metering (JSON lines).
    pub server: Vec<u8>,
    /// The client's metering.
    pub client: Vec<u8>,
    /// The longer of the two parties' total run times, in seconds.
    pub engine_s: f64,
    /// HE polynomial degree N.
    pub he_degree: u64,
    /// What the relay delivered in the measured inference (relay backend only).
    pub relay: Option<RelayStats>,
}

/// Why an attempt failed; `permanent` failures are not retried.
#[derive(Debug)]
pub struct AttemptError {
    /// What happened, with the parties' stderr tails.
    pub message: String,
    /// Retrying cannot help (a missing capability, a bad network file).
    pub permanent: bool,
}

impl AttemptError {
    fn transient(message: String) -> Self {
        Self {
            message,
            permanent: false,
        }
    }
}

/// Runs the warm-ups and the measured inference.
pub fn attempt(plan: &AttemptPlan<'_>) -> Result<Measured, AttemptError> {
    let deadline = Instant::now() + Duration::from_secs(plan.params.timeout);
    let link = plan.setting.link();
    let tc_link = match plan.backend {
        BackendUsed::Tc => {
            if let Err(error) = tc::cleanup_stale(NAMESPACE_PREFIX) {
                tracing::warn!(%error, "could not remove namespaces of earlier runs");
            }
            Some(
                TcLink::create(&link, NAMESPACE_PREFIX).map_err(|error| AttemptError {
                    message: crate::error_chain(&error),
                    permanent: matches!(error, tc::TcError::Unavailable { .. }),
                })?,
            )
        }
        _ => None,
    };
    let mut measured = None;
    for pass in 0..=plan.params.warmup {
        let result = inference(plan, tc_link.as_ref(), deadline);
        measured = Some(result.map_err(|message| {
            let what = if pass < plan.params.warmup {
                format!("warm-up inference {} of {}", pass + 1, plan.params.warmup)
            } else {
                "measured inference".to_string()
            };
            AttemptError::transient(format!("{what}: {message}"))
        })?);
    }
    // Dropping the link deletes the namespaces; the parties have exited by now.
    drop(tc_link);
    Ok(measured.expect("at least one inference ran"))
}

/// One inference: server, then (once it listens) the client, both awaited.
fn inference(
    plan: &AttemptPlan<'_>,
    tc_link: Option<&TcLink>,
    deadline: Instant,
) -> Result<Measured, String> {
    // Only this process holds the writer; when it is dropped (or we die) both parties
    // read end of file on stdin and exit.
    let (lifeline, _lifeline_writer) =
        os_pipe::pipe().map_err(|e| format!("create a pipe: {e}"))?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    let command = |role, address: String, seed, namespace: Option<&str>| PartyLine {
        exe: plan.exe.to_path_buf(),
        role,
        network: plan.network_file.to_path_buf(),
        input_size: None,
        ell: plan.params.ell,
        scale: plan.params.scale,
        threads: plan.params.threads,
        peer_timeout_s: remaining.as_secs().clamp(10, 600),
        data: PartyData::Seed(seed),
        address,
        namespace: namespace.map(str::to_string),
        cpus: plan.cpus.map(<[usize]>::to_vec),
        ot: plan.params.ot,
        flooding_bits: plan.params.flooding_bits,
    };
    // Where the server listens, when it can be known before it starts: then the client
    // starts at the same time (it retries its connection until the server listens). The
    // relay instead needs the server's address to forward to, so it waits for it.
    let known = match (plan.backend, tc_link) {
        (BackendUsed::Tc, Some(link)) => Some(format!("{}:{TC_PORT}", link.server_addr())),
        (BackendUsed::None, _) => Some(format!(
            "127.0.0.1:{}",
            free_loopback_port().map_err(|e| format!("find a free loopback port: {e}"))?
        )),
        _ => None,
    };
    let listen = known.clone().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let mut server = command(
        Role::Server,
        listen,
        plan.weights_seed,
        tc_link.map(TcLink::server_namespace),
    )
    .start(&lifeline)
    .map_err(|e| format!("start the server: {e}"))?;
    let mut relay = None;
    let connect = match known {
        Some(address) => address,
        None => {
            let address = match listening_address(&mut server, deadline) {
                Ok(address) => address,
                Err(message) => {
                    server.kill();
                    return Err(format!(
                        "{message}\n--- server stderr ---\n{}",
                        server.stderr_tail()
                    ));
                }
            };
            let started = address
                .parse::<SocketAddr>()
                .map_err(|_| format!("the server reported an unreadable address `{address}`"))
                .and_then(|upstream| {
                    let link = plan.setting.link();
                    relay_path_rtt(&link)
                        .and_then(|path_rtt| Relay::start_calibrated(&link, upstream, path_rtt))
                        .map_err(|e| format!("start the relay: {e}"))
                });
            match started {
                Ok(started) => relay.insert(started).addr().to_string(),
                Err(message) => {
                    server.kill();
                    return Err(format!(
                        "{message}\n--- server stderr ---\n{}",
                        server.stderr_tail()
                    ));
                }
            }
        }
    };
    let client = command(
        Role::Client,
        connect,
        plan.input_seed,
        tc_link.map(TcLink::client_namespace),
    )
    .start(&lifeline);
    let mut client = match client {
        Ok(client) => client,
        Err(e) => {
            server.kill();
            return Err(format!("start the client: {e}"));
        }
    };
    let waited = wait_both(&server, &client, Some(deadline)).map_err(|message| {
        if message.starts_with("timed out") {
            format!("{message} (the limit is the stage's `timeout` param)")
        } else {
            message
        }
    });
    let relay_stats = relay.map(Relay::stop);
    let failure = |message: String, server: &mut RunningParty, client: &mut RunningParty| {
        format!(
            "{message}\n--- server stderr ---\n{}\n--- client stderr ---\n{}",
            server.stderr_tail(),
            client.stderr_tail()
        )
    };
    if let Err(message) = waited {
        return Err(failure(message, &mut server, &mut client));
    }
    let outputs = (server.handle.wait(), client.handle.wait());
    let (server_out, client_out) = match outputs {
        (Ok(s), Ok(c)) if s.status.success() && c.status.success() => (s.clone(), c.clone()),
        (s, c) => {
            let status = |r: std::io::Result<&std::process::Output>| match r {
                Ok(out) => out.status.to_string(),
                Err(e) => e.to_string(),
            };
            let message = format!("server {}, client {}", status(s), status(c));
            return Err(failure(message, &mut server, &mut client));
        }
    };
    let server_run = metering::check(&server_out.stdout, "server", plan.digest, plan.layers);
    let client_run = metering::check(&client_out.stdout, "client", plan.digest, plan.layers);
    let (server_run, client_run) = match (server_run, client_run) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(message), _) | (_, Err(message)) => {
            return Err(failure(message, &mut server, &mut client))
        }
    };
    Ok(Measured {
        server: server_out.stdout,
        client: client_out.stdout,
        engine_s: server_run.total_wall_s.max(client_run.total_wall_s),
        he_degree: client_run.he_degree,
        relay: relay_stats,
    })
}

/// Waits until the server reports where it listens.
fn listening_address(server: &mut RunningParty, deadline: Instant) -> Result<String, String> {
    loop {
        match server.address.recv_timeout(POLL * 5) {
            Ok(address) => return Ok(address),
            Err(RecvTimeoutError::Disconnected) => {
                return Err("the server exited before listening".to_string())
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Ok(Some(output)) = server.handle.try_wait() {
                    return Err(format!(
                        "the server exited ({}) before listening",
                        output.status
                    ));
                }
                if Instant::now() >= deadline {
                    return Err("timed out waiting for the server to listen".to_string());
                }
            }
        }
    }
}
