//! The `tc` shaping backend: two network namespaces joined by a veth pair.
//!
//! [`TcLink::create`] makes a server namespace and a client namespace, joins them with a
//! veth pair (created directly inside the namespaces, so the host's own interfaces are never
//! touched), gives the ends the addresses `10.213.0.1/30` (server) and `10.213.0.2/30`
//! (client) and shapes both ends: `netem delay rtt/2 [rate R] [loss L%]` when an RTT or a
//! loss is asked for, `tbf rate R` when only a rate is. Deleting a namespace removes its
//! veth end and qdiscs, so teardown is "delete the namespaces we created", done on drop and
//! on a failed creation alike. A killed run (SIGKILL, or SIGINT without a handler) can leave
//! namespaces behind; the next run removes them with [`cleanup_stale`].
//!
//! [`probe`] tries each capability in a throwaway namespace, so `auto` can choose between
//! this backend and `relay` and an error can name exactly what is missing.

use std::ffi::OsStr;
use std::fmt;
use std::net::Ipv4Addr;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::link::LinkSpec;

/// The server end's address inside its namespace.
const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);
/// The client end's address inside its namespace.
const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 2);
/// Name of the veth end in each namespace (names only need to be unique per namespace).
const VETH: &str = "snni0";
/// What a caller can do when this backend is unavailable.
const FALLBACK_HINT: &str = "use `backend: relay` or `auto`";

/// Distinguishes the links one process creates.
static NEXT_LINK: AtomicU32 = AtomicU32::new(0);

/// Namespaces of this process's live links, for [`teardown_live`] on Ctrl-C (when the
/// threads holding the links never get to drop them).
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<String>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Deletes the namespaces of every link this process still holds; returns their names.
///
/// For an interrupted run that is about to exit: the processes in the namespaces must be
/// stopping too (profile parties exit when their parent does), since the kernel frees a
/// namespace once its last process has left.
pub fn teardown_live() -> Vec<String> {
    let names = std::mem::take(&mut *live());
    for ns in &names {
        if let Err(error) = Tool::netns_delete(ns).run() {
            tracing::warn!(namespace = %ns, %error, "could not delete network namespace");
        }
    }
    names
}

/// Why the `tc` backend failed.
#[derive(Debug, thiserror::Error)]
pub enum TcError {
    /// A capability the backend needs is missing on this machine.
    #[error("tc backend needs {}; {hint}", missing.join(", "))]
    Unavailable {
        /// What is missing, each item readable on its own.
        missing: Vec<String>,
        /// What the caller can do instead.
        hint: String,
    },
    /// An external command could not be started.
    #[error("start `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// An external command exited unsuccessfully.
    #[error("run `{command}` ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote to stderr, trimmed.
        stderr: String,
    },
}

/// One external `ip`/`tc` invocation: built from typed constructors, logged at debug
/// level when run, with its exit status checked.
struct Tool {
    program: &'static str,
    args: Vec<String>,
}

impl Tool {
    fn ip(args: &[&str]) -> Self {
        Self::new("ip", args)
    }

    fn new(program: &'static str, args: &[&str]) -> Self {
        Tool {
            program,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn netns_add(name: &str) -> Self {
        Self::ip(&["netns", "add", name])
    }

    fn netns_delete(name: &str) -> Self {
        Self::ip(&["netns", "delete", name])
    }

    /// A veth pair with one end in `ns_a` and the other in `ns_b`.
    fn veth_pair(ns_a: &str, ns_b: &str) -> Self {
        Self::ip(&[
            "-n", ns_a, "link", "add", VETH, "type", "veth", "peer", "name", VETH, "netns", ns_b,
        ])
    }

    fn addr_add(ns: &str, addr: Ipv4Addr) -> Self {
        Self::ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", VETH])
    }

    fn link_up(ns: &str, dev: &str) -> Self {
        Self::ip(&["-n", ns, "link", "set", dev, "up"])
    }

    fn qdisc_add(ns: &str, qdisc: &Qdisc) -> Self {
        let mut args = vec!["-n", ns, "qdisc", "add", "dev", VETH, "root"];
        let spec = qdisc.args();
        args.extend(spec.iter().map(String::as_str));
        Self::new("tc", &args)
    }

    fn with_args(mut self, args: &[String]) -> Self {
        self.args.extend_from_slice(args);
        self
    }

    fn command_line(&self) -> String {
        std::iter::once(self.program)
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the command and returns its stdout; a non-zero exit is an error.
    fn run(&self) -> Result<String, TcError> {
        let command = self.command_line();
        tracing::debug!(%command, "running");
        let output = Command::new(self.program)
            .args(&self.args)
            .output()
            .map_err(|source| TcError::Spawn {
                command: command.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(TcError::Failed {
                command,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The root qdisc put on each veth end.
#[derive(Debug, Clone, PartialEq)]
enum Qdisc {
    /// Delay (one way), optional rate and loss: needs `sch_netem`.
    Netem {
        delay: Duration,
        rate_bps: Option<u64>,
        loss_percent: Option<f64>,
    },
    /// Rate only: token bucket.
    Tbf { rate_bps: u64 },
}

impl Qdisc {
    /// The qdisc for `spec`, or `None` when it asks for no shaping at all.
    fn for_spec(spec: &LinkSpec) -> Option<Qdisc> {
        let rtt = spec.rtt.filter(|rtt| !rtt.is_zero());
        let loss = spec.loss_percent.filter(|_| spec.has_loss());
        match (rtt, loss, spec.bandwidth_bps) {
            (None, None, None) => None,
            (None, None, Some(rate_bps)) => Some(Qdisc::Tbf { rate_bps }),
            (rtt, loss_percent, rate_bps) => Some(Qdisc::Netem {
                delay: rtt.unwrap_or_default() / 2,
                rate_bps,
                loss_percent,
            }),
        }
    }

    fn args(&self) -> Vec<String> {
        match *self {
            Qdisc::Netem {
                delay,
                rate_bps,
                loss_percent,
            } => {
                // Room for twice the bandwidth-delay product, so the queue limit itself
                // drops nothing a real link would carry.
                let bdp_packets = rate_bps.map_or(0, |r| {
                    (u128::from(r) * 2 * delay.as_micros() / 8 / 1_000_000 / 1500) as u64
                });
                let mut args = vec![
                    "netem".to_owned(),
                    "limit".to_owned(),
                    (1000 + 2 * bdp_packets).to_string(),
                    "delay".to_owned(),
                    format!("{}us", delay.as_micros()),
                ];
                if let Some(rate) = rate_bps {
                    args.extend(["rate".to_owned(), format!("{rate}bit")]);
                }
                if let Some(loss) = loss_percent {
                    args.extend(["loss".to_owned(), format!("{loss}%")]);
                }
                args
            }
            Qdisc::Tbf { rate_bps } => {
                // A burst of 4 ms at the target rate (at least 32 KiB, enough for the
                // timer granularity); queue up to 50 ms before dropping.
                let burst = (rate_bps / 8 / 250).max(32 * 1024);
                vec![
                    "tbf".to_owned(),
                    "rate".to_owned(),
                    format!("{rate_bps}bit"),
                    "burst".to_owned(),
                    burst.to_string(),
                    "latency".to_owned(),
                    "50ms".to_owned(),
                ]
            }
        }
    }
}

/// A shaped link between a server namespace and a client namespace; removed on drop.
#[derive(Debug)]
pub struct TcLink {
    server_ns: String,
    client_ns: String,
    /// Namespaces created and not yet deleted: exactly what teardown removes.
    created: Vec<String>,
}

impl TcLink {
    /// Creates the namespaces, the veth pair and the qdiscs for `spec`.
    ///
    /// Names are `{prefix}-{pid}-{n}-s` and `{prefix}-{pid}-{n}-c`; [`cleanup_stale`] with
    /// the same prefix finds them again. If any step fails, what was created so far is
    /// removed before the error is returned.
    pub fn create(spec: &LinkSpec, prefix: &str) -> Result<TcLink, TcError> {
        let qdisc = Qdisc::for_spec(spec);
        let probe = probe();
        let missing = probe.missing(matches!(qdisc, Some(Qdisc::Netem { .. })));
        if !missing.is_empty() {
            return Err(TcError::Unavailable {
                missing,
                hint: FALLBACK_HINT.to_owned(),
            });
        }
        let n = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
        Self::create_named(
            &format!("{prefix}-{}-{n}", std::process::id()),
            qdisc.as_ref(),
        )
    }

    /// Creates namespaces `{base}-s` and `{base}-c`, the veth pair and the qdiscs.
    fn create_named(base: &str, qdisc: Option<&Qdisc>) -> Result<TcLink, TcError> {
        let mut link = TcLink {
            server_ns: format!("{base}-s"),
            client_ns: format!("{base}-c"),
            created: Vec::new(),
        };
        // On error, `link` drops here and deletes whatever `created` holds.
        link.build(qdisc)?;
        Ok(link)
    }

    fn build(&mut self, qdisc: Option<&Qdisc>) -> Result<(), TcError> {
        for ns in [self.server_ns.clone(), self.client_ns.clone()] {
            Tool::netns_add(&ns).run()?;
            live().push(ns.clone());
            self.created.push(ns);
        }
        Tool::veth_pair(&self.server_ns, &self.client_ns).run()?;
        for (ns, addr) in [
            (&self.server_ns, SERVER_ADDR),
            (&self.client_ns, CLIENT_ADDR),
        ] {
            Tool::addr_add(ns, addr).run()?;
            Tool::link_up(ns, "lo").run()?;
            Tool::link_up(ns, VETH).run()?;
            if let Some(qdisc) = qdisc {
                Tool::qdisc_add(ns, qdisc).run()?;
            }
        }
        Ok(())
    }

    /// The server's address, reachable from the client namespace.
    pub fn server_addr(&self) -> Ipv4Addr {
        SERVER_ADDR
    }

    /// The client's address, reachable from the server namespace.
    pub fn client_addr(&self) -> Ipv4Addr {
        CLIENT_ADDR
    }

    /// The server namespace's name.
    pub fn server_namespace(&self) -> &str {
        &self.server_ns
    }

    /// The client namespace's name.
    pub fn client_namespace(&self) -> &str {
        &self.client_ns
    }

    /// `ip netns exec <server namespace> <program>`; add arguments to the result.
    pub fn server_command(&self, program: impl AsRef<OsStr>) -> Command {
        netns_exec(&self.server_ns, program.as_ref())
    }

    /// `ip netns exec <client namespace> <program>`; add arguments to the result.
    pub fn client_command(&self, program: impl AsRef<OsStr>) -> Command {
        netns_exec(&self.client_ns, program.as_ref())
    }

    /// Deletes the namespaces (and with them the veth pair and qdiscs). Stop the commands
    /// started with [`TcLink::server_command`]/[`TcLink::client_command`] first: the
    /// kernel frees a namespace only once no process runs in it. Idempotent: a
    /// second call does nothing. Every namespace is attempted; the first error is returned.
    pub fn teardown(&mut self) -> Result<(), TcError> {
        let mut first_error = None;
        let created = std::mem::take(&mut self.created);
        live().retain(|ns| !created.contains(ns));
        for ns in created {
            if let Err(error) = Tool::netns_delete(&ns).run() {
                tracing::warn!(namespace = %ns, %error, "could not delete network namespace");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for TcLink {
    fn drop(&mut self) {
        // Errors are already logged by `teardown`.
        let _ = self.teardown();
    }
}

fn netns_exec(ns: &str, program: &OsStr) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}

/// Deletes namespaces named `{prefix}-{pid}-…` whose process `pid` is no longer running,
/// i.e. leftovers of a killed run; returns the names it deleted.
///
/// Call it when a run starts. Namespaces of live processes (including this one) are left
/// alone, so within a running process — for instance in a Ctrl-C handler — stop the
/// commands running in the namespaces and drop (or [`TcLink::teardown`]) the live
/// [`TcLink`] instead.
pub fn cleanup_stale(prefix: &str) -> Result<Vec<String>, TcError> {
    let listing = Tool::ip(&["netns", "list"]).run()?;
    let mut deleted = Vec::new();
    for ns in listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
    {
        let Some(pid) = owner_pid(ns, prefix) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        Tool::netns_delete(ns).run()?;
        deleted.push(ns.to_owned());
    }
    Ok(deleted)
}

/// The pid in a namespace name made by [`TcLink::create`] with `prefix`.
fn owner_pid(ns: &str, prefix: &str) -> Option<u32> {
    let rest = ns.strip_prefix(prefix)?.strip_prefix('-')?;
    let mut parts = rest.split('-');
    let pid = parts.next()?.parse().ok()?;
    let _counter: u32 = parts.next()?.parse().ok()?;
    matches!(parts.next()?, "s" | "c").then_some(pid)
}

/// What this machine supports, found by trying each step in a throwaway namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// Running as root (effective uid 0).
    pub root: bool,
    /// `ip` (iproute2) runs.
    pub ip: bool,
    /// `tc` (iproute2) runs.
    pub tc: bool,
    /// A network namespace could be created.
    pub netns: bool,
    /// A veth pair could be created in it.
    pub veth: bool,
    /// A `tbf` qdisc could be added.
    pub tbf: bool,
    /// A `netem` qdisc could be added.
    pub netem: bool,
    /// Why `netem` is missing (the qdisc error and the `modprobe sch_netem` outcome).
    pub netem_error: Option<String>,
}

impl Probe {
    /// What is missing for a rate-only link, or with `netem` also for delay and loss.
    pub fn missing(&self, need_netem: bool) -> Vec<String> {
        let mut missing = Vec::new();
        let checks = [
            (self.root, "root (run as uid 0)"),
            (self.ip, "`ip` from iproute2 (apt-get install -y iproute2)"),
            (self.tc, "`tc` from iproute2 (apt-get install -y iproute2)"),
            (self.netns, "network namespaces (`ip netns add` failed)"),
            (
                self.veth,
                "veth interfaces (`ip link add … type veth` failed)",
            ),
        ];
        missing.extend(
            checks
                .iter()
                .filter(|(ok, _)| !ok)
                .map(|(_, m)| m.to_string()),
        );
        if !need_netem && !self.tbf {
            missing.push("the tbf qdisc (kernel module sch_tbf)".to_owned());
        }
        if need_netem && !self.netem {
            let why = self.netem_error.as_deref().unwrap_or("not probed");
            missing.push(format!("the sch_netem kernel module ({why})"));
        }
        missing
    }

    /// Whether delay and loss can be shaped, i.e. whether `auto` should pick `tc`.
    pub fn netem_works(&self) -> bool {
        self.missing(true).is_empty()
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |ok| if ok { "yes" } else { "no" };
        write!(
            f,
            "root={} ip={} tc={} netns={} veth={} tbf={} netem={}",
            flag(self.root),
            flag(self.ip),
            flag(self.tc),
            flag(self.netns),
            flag(self.veth),
            flag(self.tbf),
            flag(self.netem),
        )
    }
}

/// Tries each capability the backend needs, in a throwaway namespace it then deletes.
pub fn probe() -> Probe {
    let mut probe = Probe {
        root: effective_uid_is_root(),
        ip: Tool::ip(&["-V"]).run().is_ok(),
        tc: Tool::new("tc", &["-V"]).run().is_ok(),
        ..Probe::default()
    };
    if !(probe.ip && probe.tc) {
        return probe;
    }
    let n = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
    let ns = format!("snni-probe-{}-{n}", std::process::id());
    if Tool::netns_add(&ns).run().is_err() {
        return probe;
    }
    probe.netns = true;
    probe.veth = Tool::ip(&[
        "-n", &ns, "link", "add", VETH, "type", "veth", "peer", "name", "snni1",
    ])
    .run()
    .is_ok();
    if probe.veth {
        let tbf = Qdisc::Tbf {
            rate_bps: 1_000_000,
        };
        probe.tbf = Tool::qdisc_add(&ns, &tbf).run().is_ok();
        let netem = Qdisc::Netem {
            delay: Duration::from_millis(1),
            rate_bps: None,
            loss_percent: None,
        };
        let add_netem = || {
            Tool::new(
                "tc",
                &["-n", &ns, "qdisc", "replace", "dev", "snni1", "root"],
            )
            .with_args(&netem.args())
            .run()
        };
        match add_netem() {
            Ok(_) => probe.netem = true,
            Err(qdisc_error) => match Tool::new("modprobe", &["sch_netem"]).run() {
                Ok(_) => match add_netem() {
                    Ok(_) => probe.netem = true,
                    Err(error) => probe.netem_error = Some(error.to_string()),
                },
                Err(modprobe_error) => {
                    probe.netem_error = Some(format!(
                        "adding it failed: {qdisc_error}; modprobe sch_netem failed: {}",
                        with_causes(&modprobe_error)
                    ));
                }
            },
        }
    }
    if let Err(error) = Tool::netns_delete(&ns).run() {
        tracing::warn!(namespace = %ns, %error, "could not delete probe namespace");
    }
    probe
}

/// `error` followed by its sources, for messages that end up in a single string.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Reads the effective uid from `/proc/self/status` (no libc dependency needed).
fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Uid: real effective saved filesystem
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
