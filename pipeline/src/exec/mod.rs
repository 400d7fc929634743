//! Execution: the scheduler and the subscribers to its events.

mod cpu_pool;
mod display;
mod events;
mod failure;
mod local;
mod scheduler;
mod status;

#[cfg(test)]
mod tests;

pub use cpu_pool::{CpuPool, Grant, TooManyCpus};
pub use display::{show_events, Display};
pub use events::{Event, EventSender, Summary};
pub use failure::RunFailure;
pub(crate) use local::panic_message;
pub use scheduler::{run_study, RunOptions};
pub(crate) use scheduler::{Outcomes, PendingShard, ShardOutcome, Shared};
pub use status::{StageStatus, StatusBoard, STATUS_FILE};
