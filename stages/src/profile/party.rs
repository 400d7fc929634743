//! One party of a profiled inference as a child process: the `snni party` command line
//! (a typed builder returning a `duct::Expression`), and the running child with the tail
//! of its stderr and the address it reports once listening.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Lines of a party's stderr kept for error messages.
const TAIL_LINES: usize = 30;
/// What the server prints on stderr once it listens (`snni party server`).
const LISTENING: &str = "listening on ";

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

/// `snni party server|client …` for one inference, optionally inside a network namespace.
#[derive(Debug, Clone)]
pub struct PartyCommand {
    /// The `snni` executable.
    pub exe: PathBuf,
    /// Which party.
    pub role: Role,
    /// The network description file.
    pub network: PathBuf,
    /// Share bit length ℓ.
    pub ell: u32,
    /// Fixed-point scale.
    pub scale: u32,
    /// Worker threads.
    pub threads: usize,
    /// Seconds to wait for the peer before failing.
    pub peer_timeout_s: u64,
    /// Seed of the weights (server) or the input (client).
    pub seed: u64,
    /// Where the server listens or the client connects.
    pub address: String,
    /// Network namespace to run in (`ip netns exec`), for the tc backend.
    pub namespace: Option<String>,
    /// CPUs the party pins itself to (`--cpus`), if any.
    pub cpus: Option<Vec<usize>>,
    /// The OT extension (`--ot`).
    pub ot: snni_engine::ot::OtBackend,
}

impl PartyCommand {
    /// The arguments after the program.
    fn args(&self) -> Vec<String> {
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
        if let Some(cpus) = &self.cpus {
            args.extend(["--cpus".to_string(), super::machine::cpu_list(cpus)]);
        }
        let (source, address) = match self.role {
            Role::Server => ("--weights", "--listen"),
            Role::Client => ("--input", "--connect"),
        };
        args.extend([
            source.to_string(),
            format!("seed:{}", self.seed),
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
        let (address_sender, address) = mpsc::channel();
        let reader = {
            let tail = Arc::clone(&tail);
            std::thread::Builder::new()
                .name(format!("{}-stderr", self.role.name()))
                .spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        if let Some((_, address)) = line.split_once(LISTENING) {
                            let _ = address_sender.send(address.trim().to_string());
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

    /// Kills the child (if it still runs) and reaps it.
    pub fn kill(&self) {
        let _ = self.handle.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_name_everything() {
        let mut command = PartyCommand {
            exe: PathBuf::from("/bin/snni"),
            role: Role::Server,
            network: PathBuf::from("/tmp/n.yaml"),
            ell: 41,
            scale: 12,
            threads: 1,
            peer_timeout_s: 60,
            seed: 9,
            address: "127.0.0.1:0".into(),
            namespace: None,
            cpus: None,
            ot: snni_engine::ot::OtBackend::Iknp,
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
        command.cpus = Some(vec![0, 3]);
        assert!(command.args().windows(2).any(|w| w == ["--cpus", "0,3"]));
    }
}
