//! Exit codes of `snni`, in one place. README.md lists them; never renumber.

/// Everything worked.
pub const SUCCESS: i32 = 0;
/// A stage failed (its error is printed and recorded in the store).
pub const STAGE_FAILED: i32 = 1;
/// The command line is wrong (clap's own code).
pub const USAGE: i32 = 2;
/// A manifest or network file is invalid.
pub const INVALID_INPUT: i32 = 3;
/// Another `snni` process holds the store (use `--wait`).
pub const STORE_LOCKED: i32 = 4;
/// The store is unreadable or corrupt, or an I/O error occurred.
pub const STORE_ERROR: i32 = 5;
/// Something the command needs is not in the store (the message names the stage to run).
pub const MISSING_INPUT: i32 = 6;
/// Interrupted by Ctrl-C; finished shards are committed.
pub const INTERRUPTED: i32 = 130;
