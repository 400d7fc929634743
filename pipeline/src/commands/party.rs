//! `snni party server|client` (one party of a secure inference) and `snni infer` (both
//! parties as child processes on loopback, with a per-layer table of their metering).

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use snni_engine::network::Network;
use snni_engine::runtime::{self, EngineConfig, InputSource, RunReport, WeightSource, Weights};
use snni_stages::error_chain;
use snni_stages::profile::{
    cpu_limit, cpu_list, free_loopback_port, pin_current_thread, wait_both, PartyData, PartyLine,
    PinError, Role,
};

use super::network::load_network;
use super::{CommandError, CommandResult};
use crate::cli::{EngineArgs, InferArgs, PartyCommand};
use crate::exit_codes;

fn engine_config(args: &EngineArgs, network: &Network) -> Result<EngineConfig, CommandError> {
    let he = match args.flooding_bits {
        None => None,
        Some(bits) => Some(
            runtime::he_params_for_inference_margin(network, args.ell, bits).map_err(|e| {
                CommandError::new(
                    exit_codes::USAGE,
                    format!("--flooding-bits {bits}: {}", error_chain(&e)),
                )
                .help("ask for fewer bits, or a larger ℓ leaves less room: lower --ell")
            })?,
        ),
    };
    Ok(EngineConfig {
        ell: args.ell,
        scale: args.scale,
        threads: args.threads.max(1),
        timeout: Duration::from_secs(args.timeout.max(1)),
        ot: args.ot,
        he,
        ..EngineConfig::default()
    })
}

fn network(args: &EngineArgs) -> Result<Network, CommandError> {
    let network = load_network(&args.network, &args.input_size)?;
    network.validate().map_err(|e| {
        CommandError::new(
            exit_codes::INVALID_INPUT,
            format!("{}: {}", args.network, error_chain(&e)),
        )
    })?;
    Ok(network)
}

/// Parses `seed:N` or a file path: where weights or an input come from.
fn source(text: &str, what: &str) -> Result<PartyData, CommandError> {
    match text.strip_prefix("seed:") {
        Some(seed) => seed.parse().map(PartyData::Seed).map_err(|_| {
            CommandError::new(exit_codes::USAGE, format!("`{text}` is not a seed")).help(format!(
                "write --{what} seed:N with a whole number N, or a file path"
            ))
        }),
        None => Ok(PartyData::File(PathBuf::from(text))),
    }
}

fn write_report(report: &RunReport, out: Option<&PathBuf>) -> Result<(), CommandError> {
    let io_error = |e: std::io::Error| {
        CommandError::new(exit_codes::STORE_ERROR, format!("write the metering: {e}"))
    };
    match out {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(io_error)?;
            let mut writer = std::io::BufWriter::new(file);
            report.write_json_lines(&mut writer).map_err(io_error)?;
            writer.flush().map_err(io_error)
        }
        None => report
            .write_json_lines(std::io::stdout().lock())
            .map_err(io_error),
    }
}

fn engine_failure(party: &str, err: &dyn std::error::Error) -> CommandError {
    CommandError::new(
        exit_codes::STAGE_FAILED,
        format!("{party}: {}", error_chain(err)),
    )
}

/// `snni party …`.
pub fn party(command: PartyCommand) -> CommandResult {
    match command {
        PartyCommand::Server {
            engine,
            weights,
            listen,
            out,
            exit_with_parent,
        } => {
            // First, so that every thread the party starts inherits the CPUs.
            pin_to(&engine.cpus)?;
            if exit_with_parent {
                exit_with_the_parent();
            }
            let network = network(&engine)?;
            let weights = match source(&weights, "weights")? {
                PartyData::Seed(seed) => WeightSource::Seed(seed),
                PartyData::File(path) => WeightSource::File(path),
            };
            // Weights first, as a deployed server has them before clients come: the
            // client's setup time must not include loading them.
            let config = engine_config(&engine, &network)?;
            let weights = Weights::load(&weights, &network, &config)
                .map_err(|e| engine_failure("server", &e))?;
            let listener = TcpListener::bind(&listen).map_err(|e| {
                CommandError::new(exit_codes::USAGE, format!("listen on {listen}: {e}"))
                    .help("choose a free address with --listen, e.g. 127.0.0.1:0 for any port")
            })?;
            let address = listener
                .local_addr()
                .map_err(|e| engine_failure("server", &e))?;
            eprintln!("server: listening on {address}");
            let report = runtime::serve(&network, &weights, &config, &listener)
                .map_err(|e| engine_failure("server", &e))?;
            write_report(&report, out.as_ref())?;
            Ok(exit_codes::SUCCESS)
        }
        PartyCommand::Client {
            engine,
            input,
            connect,
            out,
            exit_with_parent,
        } => {
            // First, so that every thread the party starts inherits the CPUs.
            pin_to(&engine.cpus)?;
            if exit_with_parent {
                exit_with_the_parent();
            }
            let network = network(&engine)?;
            let input = match source(&input, "input")? {
                PartyData::Seed(seed) => InputSource::Seed(seed),
                PartyData::File(path) => InputSource::File(path),
            };
            let config = engine_config(&engine, &network)?;
            let report = runtime::run_client(&network, &input, &config, connect.as_str())
                .map_err(|e| engine_failure("client", &e))?;
            for warning in report.warnings() {
                eprintln!("client: warning: {warning}");
            }
            write_report(&report, out.as_ref())?;
            Ok(exit_codes::SUCCESS)
        }
    }
}

/// Pins the party to `cpus` (nothing when empty). Called before the party starts any
/// thread, so that every thread it starts inherits the CPUs.
fn pin_to(cpus: &[usize]) -> Result<(), CommandError> {
    pin_current_thread(cpus).map_err(|error| {
        let list = cpu_list(cpus);
        match error {
            PinError::OutOfRange { .. } => {
                CommandError::new(exit_codes::USAGE, format!("--cpus {list}: {error}"))
                    .help(format!("CPU numbers run from 0 to {}", cpu_limit() - 1))
            }
            PinError::Refused(_) => CommandError::new(
                exit_codes::USAGE,
                format!("pin the party to CPUs {list}: {error}"),
            )
            .help("name CPUs this machine has and may use (`nproc`, `taskset -p $$`)"),
            PinError::Unsupported => {
                CommandError::new(exit_codes::USAGE, format!("--cpus {list}: {error}"))
            }
        }
    })
}

/// Ties this party's life to its parent's (`snni_stages::profile::die_with_parent` and
/// `exit_when_stdin_closes`), before the party starts any thread.
fn exit_with_the_parent() {
    if let Err(error) = snni_stages::profile::die_with_parent() {
        tracing::warn!(%error, "cannot ask to be killed with the parent; relying on stdin");
    }
    if let Err(error) = snni_stages::profile::exit_when_stdin_closes(exit_codes::INTERRUPTED) {
        tracing::warn!(%error, "cannot watch stdin; this party may outlive its parent");
    }
}

/// `snni infer`: both parties as children of this process, started from the same command
/// line builder as the profile stage's ([`PartyLine`]), tied to this process's life, and
/// the survivor killed shortly after the other one fails.
pub fn infer(args: InferArgs) -> CommandResult {
    // Validate here so that a bad network or margin is one clear error, not two from the
    // children.
    engine_config(&args.engine, &network(&args.engine)?)?;
    let weights = source(&args.weights, "weights")?;
    let input = source(&args.input, "input")?;
    let exe = std::env::current_exe().map_err(|e| {
        CommandError::new(
            exit_codes::STORE_ERROR,
            format!("find the snni binary: {e}"),
        )
    })?;
    let port = free_loopback_port().map_err(|e| {
        CommandError::new(
            exit_codes::STORE_ERROR,
            format!("find a free loopback port: {e}"),
        )
    })?;
    let engine = &args.engine;
    let line = |role, data| PartyLine {
        exe: exe.clone(),
        role,
        network: PathBuf::from(&engine.network),
        input_size: Some(engine.input_size.clone()),
        ell: engine.ell,
        scale: engine.scale,
        threads: engine.threads,
        peer_timeout_s: engine.timeout,
        data,
        address: format!("127.0.0.1:{port}"),
        namespace: None,
        cpus: (!engine.cpus.is_empty()).then(|| engine.cpus.clone()),
        ot: engine.ot,
        flooding_bits: engine.flooding_bits,
    };
    let start_failed = |e: std::io::Error| {
        CommandError::new(
            exit_codes::STORE_ERROR,
            format!("start a party process: {e}"),
        )
    };
    // Only this process holds the writer: when it exits, both parties read end of file on
    // stdin and exit too (and the kernel kills them with it; `--exit-with-parent`).
    let (lifeline, _lifeline_writer) = os_pipe::pipe().map_err(start_failed)?;
    let activity = super::progress::Activity::start(format!(
        "secure inference of {}: server and client running",
        engine.network
    ));
    let mut server = line(Role::Server, weights)
        .start(&lifeline)
        .map_err(start_failed)?;
    // The client retries its connection until the server listens.
    let mut client = match line(Role::Client, input).start(&lifeline) {
        Ok(client) => client,
        Err(e) => {
            server.kill();
            return Err(start_failed(e));
        }
    };
    let waited = wait_both(&server, &client, None);
    drop(activity);
    let outputs = (server.handle.wait(), client.handle.wait());
    let (server_out, client_out) = match (waited, outputs) {
        (Ok(()), (Ok(s), Ok(c))) if s.status.success() && c.status.success() => {
            (s.clone(), c.clone())
        }
        (waited, (s, c)) => {
            let status = |r: std::io::Result<&std::process::Output>| match r {
                Ok(out) => out.status.to_string(),
                Err(e) => e.to_string(),
            };
            let why = waited.err().map(|m| format!("; {m}")).unwrap_or_default();
            let message = format!(
                "secure inference failed (server {}, client {}{why})\n--- server stderr ---\n{}\n--- client stderr ---\n{}",
                status(s),
                status(c),
                server.stderr_tail(),
                client.stderr_tail()
            );
            return Err(CommandError::new(exit_codes::STAGE_FAILED, message));
        }
    };
    let parse = |bytes: &[u8]| -> Result<Vec<serde_json::Value>, CommandError> {
        String::from_utf8_lossy(bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| {
                    CommandError::new(
                        exit_codes::STAGE_FAILED,
                        format!("a party wrote an unreadable metering line: {e}"),
                    )
                })
            })
            .collect()
    };
    // The client's warnings (truncation inputs out of range) reach the user either way.
    for line in client.warnings() {
        eprintln!("{line}");
    }
    let server_lines = parse(&server_out.stdout)?;
    let client_lines = parse(&client_out.stdout)?;
    if args.json {
        let mut out = std::io::stdout().lock();
        for line in server_lines.iter().chain(&client_lines) {
            let _ = writeln!(out, "{line}");
        }
        return Ok(exit_codes::SUCCESS);
    }
    print_table(&server_lines, &client_lines);
    Ok(exit_codes::SUCCESS)
}

fn print_table(server: &[serde_json::Value], client: &[serde_json::Value]) {
    // Layer lines carry their measurements at the top level.
    let ms = |v: &serde_json::Value| v["wall_s"].as_f64().unwrap_or(0.0) * 1e3;
    let kib = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap_or(0.0) / 1024.0;
    println!(
        "{:>4}  {:<28} {:<16} {:>14} {:>11} {:>11} {:>11} {:>11} {:>6}",
        "#", "layer", "kind", "output", "server ms", "client ms", "c→s KiB", "s→c KiB", "rounds"
    );
    let layers = |lines: &[serde_json::Value]| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|l| l["record"] == "layer")
            .cloned()
            .collect()
    };
    for (s, c) in layers(server).iter().zip(layers(client).iter()) {
        let shape = &c["output"];
        println!(
            "{:>4}  {:<28} {:<16} {:>14} {:>11.1} {:>11.1} {:>11.1} {:>11.1} {:>6}",
            c["index"].as_u64().unwrap_or(0),
            c["name"].as_str().unwrap_or(""),
            c["kind"].as_str().unwrap_or(""),
            format!("{}x{}x{}", shape["h"], shape["w"], shape["c"]),
            ms(s),
            ms(c),
            kib(c, "bytes_sent"),
            kib(c, "bytes_received"),
            c["rounds"].as_u64().unwrap_or(0)
        );
    }
    for (party, lines) in [("server", server), ("client", client)] {
        if let Some(run) = lines.iter().find(|l| l["record"] == "run") {
            println!(
                "{party}: setup {:.2}s, inference {:.2}s wall / {:.2}s CPU, sent {:.1} MiB, received {:.1} MiB",
                run["setup"]["wall_s"].as_f64().unwrap_or(0.0),
                run["inference"]["wall_s"].as_f64().unwrap_or(0.0),
                run["inference"]["cpu_s"].as_f64().unwrap_or(0.0),
                run["total"]["bytes_sent"].as_f64().unwrap_or(0.0) / 1048576.0,
                run["total"]["bytes_received"].as_f64().unwrap_or(0.0) / 1048576.0,
            );
        }
    }
    if let Some(run) = client.iter().find(|l| l["record"] == "run") {
        let flooding = &run["flooding"];
        println!(
            "flooding: {:.1} bits per revealed coefficient, {:.1} bits per inference ({} coefficients revealed)",
            flooding["margin_per_coefficient_bits"].as_f64().unwrap_or(0.0),
            flooding["margin_per_inference_bits"].as_f64().unwrap_or(0.0),
            flooding["revealed_coefficients"].as_u64().unwrap_or(0),
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use snni_stages::profile::{cpu_limit, usable_cpus};

    use super::pin_to;

    /// Pinning applies to the calling thread and to every thread it starts afterwards (the
    /// test pins a thread of its own, not the test process).
    #[test]
    fn pinning_holds_for_the_thread_and_threads_it_starts() {
        let first = usable_cpus().unwrap()[0];
        std::thread::spawn(move || {
            pin_to(&[first]).unwrap();
            assert_eq!(usable_cpus().unwrap(), vec![first]);
            let child = std::thread::spawn(|| usable_cpus().unwrap());
            assert_eq!(child.join().unwrap(), vec![first]);
        })
        .join()
        .unwrap();
        assert!(pin_to(&[]).is_ok());
        let Err(error) = pin_to(&[cpu_limit()]) else {
            panic!("CPU {} accepted", cpu_limit());
        };
        assert!(error.message.contains("out of range"), "{}", error.message);
    }
}

/// The party command line the profile stage and `snni infer` build ([`PartyLine`]) is the
/// one these clap definitions accept, value for value.
#[cfg(test)]
mod line_tests {
    use std::path::PathBuf;

    use clap::Parser;
    use snni_engine::ot::OtBackend;
    use snni_stages::profile::{PartyData, PartyLine, Role};

    use crate::cli::{Cli, Command, PartyCommand};

    fn parsed(line: &PartyLine) -> PartyCommand {
        let mut argv = vec!["snni".to_string()];
        argv.extend(line.args());
        match Cli::try_parse_from(&argv) {
            Ok(Cli {
                command: Command::Party(party),
                ..
            }) => party,
            Ok(other) => panic!("{argv:?} parsed as {:?}", other.command),
            Err(error) => panic!("{argv:?} is not a valid party command line: {error}"),
        }
    }

    #[test]
    fn the_builder_writes_what_the_cli_reads() {
        let mut line = PartyLine {
            exe: PathBuf::from("/bin/snni"),
            role: Role::Server,
            network: PathBuf::from("/tmp/net.yaml"),
            input_size: Some("32x32x3".into()),
            ell: 37,
            scale: 11,
            threads: 3,
            peer_timeout_s: 42,
            data: PartyData::Seed(7),
            address: "127.0.0.1:9999".into(),
            namespace: None,
            cpus: Some(vec![0, 1]),
            ot: OtBackend::Iknp,
            flooding_bits: Some(40),
        };
        let check_engine = |engine: &crate::cli::EngineArgs, line: &PartyLine| {
            assert_eq!(engine.network, "/tmp/net.yaml");
            assert_eq!(Some(&engine.input_size), line.input_size.as_ref());
            assert_eq!(engine.ell, line.ell);
            assert_eq!(engine.scale, line.scale);
            assert_eq!(engine.threads, line.threads);
            assert_eq!(engine.timeout, line.peer_timeout_s);
            assert_eq!(Some(&engine.cpus), line.cpus.as_ref());
            assert_eq!(engine.ot, line.ot);
            assert_eq!(engine.flooding_bits, line.flooding_bits);
        };
        match parsed(&line) {
            PartyCommand::Server {
                engine,
                weights,
                listen,
                out,
                exit_with_parent,
            } => {
                check_engine(&engine, &line);
                assert_eq!(weights, "seed:7");
                assert_eq!(listen, "127.0.0.1:9999");
                assert_eq!(out, None);
                assert!(exit_with_parent);
            }
            other => panic!("a server line parsed as {other:?}"),
        }
        line.role = Role::Client;
        line.data = PartyData::File(PathBuf::from("/tmp/input.json"));
        line.ot = OtBackend::Ferret;
        line.cpus = None;
        line.input_size = None;
        line.flooding_bits = None;
        match parsed(&line) {
            PartyCommand::Client {
                engine,
                input,
                connect,
                exit_with_parent,
                ..
            } => {
                assert_eq!(engine.ot, OtBackend::Ferret);
                assert!(engine.cpus.is_empty());
                assert_eq!(engine.flooding_bits, None);
                assert_eq!(engine.input_size, crate::cli::DEFAULT_INPUT);
                assert_eq!(input, "/tmp/input.json");
                assert_eq!(connect, "127.0.0.1:9999");
                assert!(exit_with_parent);
            }
            other => panic!("a client line parsed as {other:?}"),
        }
    }
}
