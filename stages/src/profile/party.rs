//! One party of a secure inference as a child process: the `snni party` command line (a
//! typed builder returning a `duct::Expression`, the only place that writes it: the profile
//! stage and `snni infer` both use it), the running child with the tail of its stderr and
//! the address it reports once listening, and waiting for a server and client together.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Lines of a party's stderr kept for error messages.
const TAIL_LINES: usize = 30;
/// What the server prints on stderr once it listens (`snni party server`).
const LISTENING: &str = "listening on ";
/// What a party's warnings start with after its role (`client: warning: …`).
const WARNING: &str = ": warning: ";
/// How long the other party may keep running after one failed.
const FAILURE_GRACE: Duration = Duration::from_secs(2);
/// How often running parties are checked.
const POLL: Duration = Duration::from_millis(1);

/// Which side of the inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds the weights; listens.
    Server,
    /// Holds the input; connects.
    Client,
}

impl Role {
    /// `server` or `client`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// Where a party's private data comes from: the server's weights or the client's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartyData {
    /// Generated from a seed (`seed:N`).
    Seed(u64),
    /// Read from a file.
    File(PathBuf),
}

impl std::fmt::Display for PartyData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartyData::Seed(seed) => write!(f, "seed:{seed}"),
            PartyData::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `snni party server|client …` for one inference, optionally inside a network namespace.
/// The party always runs with `--exit-with-parent`: [`PartyLine::start`] gives it a stdin
/// only its parent writes to.
#[derive(Debug, Clone)]
pub struct PartyLine {
    /// The `snni` executable.
    pub exe: PathBuf,
    /// Which party.
    pub role: Role,
    /// The network description file.
    pub network: PathBuf,
    /// The input size for built-in networks (`--input-size HxWxC`), if given.
    pub input_size: Option<String>,
    /// Share bit length ℓ.
    pub ell: u32,
    /// Fixed-point scale.
    pub scale: u32,
    /// Worker threads.
    pub threads: usize,
    /// Seconds to wait for the peer before failing.
    pub peer_timeout_s: u64,
    /// The weights (server) or the input (client).
    pub data: PartyData,
    /// Where the server listens or the client connects.
    pub address: String,
    /// Network namespace to run in (`ip netns exec`), for the tc backend.
    pub namespace: Option<String>,
    /// CPUs the party pins itself to (`--cpus`), if any.
    pub cpus: Option<Vec<usize>>,
    /// The OT extension (`--ot`).
    pub ot: snni_engine::ot::OtBackend,
    /// Bits of statistical flooding margin per inference (`--flooding-bits`), if asked.
    pub flooding_bits: Option<u32>,
}

impl PartyLine {
    /// The arguments after the program.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "party".to_string(),
            self.role.name().to_string(),
            "--network".into(),
            self.network.display().to_string(),
            "--ell".into(),
            self.ell.to_string(),
            "--scale".into(),
            self.scale.to_string(),
            "--threads".into(),
            self.threads.to_string(),
            "--timeout".into(),
            self.peer_timeout_s.to_string(),
            "--ot".into(),
            self.ot.to_string(),
            "--exit-with-parent".into(),
        ];
        if let Some(input_size) = &self.input_size {
            args.extend(["--input-size".to_string(), input_size.clone()]);
        }
        if let Some(cpus) = &self.cpus {
            args.extend(["--cpus".to_string(), super::machine::cpu_list(cpus)]);
        }
        if let Some(bits) = self.flooding_bits {
            args.extend(["--flooding-bits".to_string(), bits.to_string()]);
        }
        let (source, address) = match self.role {
            Role::Server => ("--weights", "--listen"),
            Role::Client => ("--input", "--connect"),
        };
        args.extend([
            source.to_string(),
            self.data.to_string(),
            address.to_string(),
            self.address.clone(),
        ]);
        args
    }

    /// The command as a duct expression (not started).
    pub fn expression(&self) -> duct::Expression {
        let expression = match &self.namespace {
            None => duct::cmd(&self.exe, self.args()),
            Some(namespace) => {
                let mut args = vec![
                    "netns".into(),
                    "exec".into(),
                    namespace.clone(),
                    self.exe.display().to_string(),
                ];
                args.extend(self.args());
                duct::cmd("ip", args)
            }
        };
        tracing::debug!(?expression, party = self.role.name(), "party command");
        expression
    }

    /// Starts the party. Its stdin is `lifeline` (the party exits when the last writer
    /// closes, i.e. when this process dies), its stdout is captured, and its stderr is
    /// read line by line into a tail; a server's listening address is sent to the
    /// returned receiver.
    pub fn start(&self, lifeline: &os_pipe::PipeReader) -> std::io::Result<RunningParty> {
        let (stderr, stderr_writer) = os_pipe::pipe()?;
        let handle = self
            .expression()
            .stdin_file(lifeline.try_clone()?)
            .stdout_capture()
            .stderr_file(stderr_writer)
            .unchecked()
            .start()?;
        // The expression (and with it our copy of the stderr writer) is gone now, so the
        // reader sees end of file when the child exits.
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address) = mpsc::channel();
        let warning_prefix = format!("{}{WARNING}", self.role.name());
        let reader = {
            let tail = Arc::clone(&tail);
            let warnings = Arc::clone(&warnings);
            std::thread::Builder::new()
                .name(format!("{}-stderr", self.role.name()))
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        if let Some((_, address)) = line.split_once(LISTENING) {
                            let _ = address_sender.send(address.trim().to_string());
                        }
                        if line.starts_with(&warning_prefix) {
                            warnings
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(line.clone());
                        }
                        let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                        if tail.len() == TAIL_LINES {
                            tail.pop_front();
                        }
                        tail.push_back(line);
                    }
                })?
        };
        Ok(RunningParty {
            handle,
            tail,
            warnings,
            address,
            reader: Some(reader),
        })
    }
}

/// A started party.
pub struct RunningParty {
    /// The child.
    pub handle: duct::Handle,
    tail: Arc<Mutex<VecDeque<String>>>,
    warnings: Arc<Mutex<Vec<String>>>,
    /// Receives the server's address once it listens.
    pub address: Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

impl RunningParty {
    /// The last lines of its stderr. Call after the child exited for the full tail.
    pub fn stderr_tail(&mut self) -> String {
        if self.handle.try_wait().is_ok_and(|status| status.is_some()) {
            if let Some(reader) = self.reader.take() {
                let _ = reader.join();
            }
        }
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Every warning line it printed (`client: warning: …`), however long its stderr. Call
    /// after the child exited for all of them.
    pub fn warnings(&mut self) -> Vec<String> {
        self.stderr_tail();
        self.warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Kills the child (if it still runs) and reaps it.
    pub fn kill(&self) {
        let _ = self.handle.kill();
    }
}

/// A free loopback port. It is released before the server binds it, so another process
/// may take it in between; the server then fails to bind and says so.
pub fn free_loopback_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
}

/// Waits for both parties; kills both at the deadline (if any), on a cancellation
/// ([`crate::cancel`]), and the survivor shortly after the other one failed. `Ok` means both
/// exited (successfully or not: read their statuses); `Err` says why both were killed.
pub fn wait_both(
    server: &RunningParty,
    client: &RunningParty,
    deadline: Option<Instant>,
) -> Result<(), String> {
    let mut failed_at: Option<Instant> = None;
    loop {
        let states = [&server, &client].map(|party| match party.handle.try_wait() {
            Ok(Some(output)) => Some(output.status.success()),
            Ok(None) => None,
            Err(_) => Some(false),
        });
        if states.iter().all(Option::is_some) {
            return Ok(());
        }
        let now = Instant::now();
        if failed_at.is_none() && states.contains(&Some(false)) {
            failed_at = Some(now);
        }
        if let Some(reason) = crate::cancel::requested() {
            server.kill();
            client.kill();
            return Err(format!(
                "cancelled: {}; both parties were killed",
                reason.describe()
            ));
        }
        let timed_out = deadline.is_some_and(|deadline| now >= deadline);
        if timed_out || failed_at.is_some_and(|at| now - at >= FAILURE_GRACE) {
            server.kill();
            client.kill();
            return Err(if timed_out {
                "timed out: the inference exceeded its time limit; both parties were killed"
                    .to_string()
            } else {
                "one party failed and the other did not finish; it was killed".to_string()
            });
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_name_everything() {
        let mut command = PartyLine {
            exe: PathBuf::from("/bin/snni"),
            role: Role::Server,
            network: PathBuf::from("/tmp/n.yaml"),
            input_size: None,
            ell: 41,
            scale: 12,
            threads: 1,
            peer_timeout_s: 60,
            data: PartyData::Seed(9),
            address: "127.0.0.1:0".into(),
            namespace: None,
            cpus: None,
            ot: snni_engine::ot::OtBackend::Iknp,
            flooding_bits: None,
        };
        let args = command.args();
        assert!(args.windows(2).any(|w| w == ["--ot", "iknp"]));
        assert!(!args.iter().any(|a| a == "--cpus"));
        assert_eq!(args[..2], ["party", "server"]);
        assert!(args.windows(2).any(|w| w == ["--weights", "seed:9"]));
        assert!(args.windows(2).any(|w| w == ["--listen", "127.0.0.1:0"]));
        command.role = Role::Client;
        let args = command.args();
        assert!(args.windows(2).any(|w| w == ["--input", "seed:9"]));
        assert!(args.windows(2).any(|w| w == ["--connect", "127.0.0.1:0"]));
        assert!(!args
            .iter()
            .any(|a| a == "--input-size" || a == "--flooding-bits"));
        command.cpus = Some(vec![0, 3]);
        command.input_size = Some("32x32x3".into());
        command.flooding_bits = Some(40);
        command.data = PartyData::File(PathBuf::from("/tmp/input.json"));
        let args = command.args();
        assert!(args.windows(2).any(|w| w == ["--cpus", "0,3"]));
        assert!(args.windows(2).any(|w| w == ["--input-size", "32x32x3"]));
        assert!(args.windows(2).any(|w| w == ["--flooding-bits", "40"]));
        assert!(args.windows(2).any(|w| w == ["--input", "/tmp/input.json"]));
    }
}
