//! The `snni` binary: parse arguments, set up logging, run, map the outcome to an exit code.

fn main() {
    quiet_panics();
    std::process::exit(snni_pipeline::main_with_args(std::env::args_os()));
}

/// Two kinds of panic are not bugs to print a backtrace for:
///
/// - Rust ignores SIGPIPE, so `println!` panics when stdout is closed early
///   (`snni … | head`). Restoring SIGPIPE needs `unsafe` libc calls, which the workspace
///   forbids; instead a panic from printing to a closed stdout ends the process quietly,
///   like `cat` would.
/// - sled panics on some damaged databases; the store catches those panics and reports
///   them as one error naming the store and what to do, so their default message would
///   only repeat it.
fn quiet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if snni_artifacts::in_guarded_call() {
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
