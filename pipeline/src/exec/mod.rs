//! Execution: the scheduler and the subscribers to its events.

mod display;
mod events;
mod scheduler;

pub use display::{show_events, Display};
pub use events::{Event, EventSender, Summary};
pub use scheduler::{error_chain, run_study, RunOptions};
