//! The `snni` binary: parse arguments, set up logging, run, map the outcome to an exit code.

fn main() {
    std::process::exit(snni_pipeline::main_with_args(std::env::args_os()));
}
