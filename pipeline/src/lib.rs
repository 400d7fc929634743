//! snni-lab's pipeline: manifests → plan → cached, resumable execution, and the `snni`
//! command line.

pub mod cli;
pub mod commands;
pub mod exec;
pub mod exit_codes;
pub mod manifest;
pub mod plan;
pub mod report;
pub mod slurm;
#[cfg(test)]
mod test_kinds;

use std::ffi::OsString;

use clap::Parser;

/// Runs `snni` with `args` and returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                exit_codes::USAGE
            } else {
                exit_codes::SUCCESS
            };
        }
    };
    init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", err.message);
            if let Some(help) = &err.help {
                eprintln!("help: {help}");
            }
            err.code
        }
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // sled logs its own errors (raw debug text, once per buffer it could not write) before
    // returning them; the store reports them once, in words, so sled's log stays quiet
    // unless RUST_LOG asks for it.
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},sled=off")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_colour())
        .with_target(false)
        .try_init();
}

/// Whether stderr may carry colour codes: only on a terminal, and never when `NO_COLOR`
/// is set to anything but the empty string (<https://no-color.org>).
pub fn stderr_colour() -> bool {
    use std::io::IsTerminal;
    colour_allowed(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn colour_allowed(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_allowed(true, None));
        assert!(colour_allowed(true, Some("".as_ref())));
        assert!(!colour_allowed(true, Some("1".as_ref())));
        assert!(!colour_allowed(false, None));
    }
}
