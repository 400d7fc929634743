//! Running a study's shards on a Slurm cluster.
//!
//! `snni run` stays the only process that opens the store. For every stage that fans out
//! (all but the reductions that run on the coordinator), [`coordinator`] writes the stage's
//! context and inputs into a [`spool`] every node sees, submits job arrays whose tasks run
//! `snni shard run` ([`worker`]), and ingests the results nodes leave in the spool
//! ([`ingest`]). Submissions are journaled in the store, so a coordinator started again
//! reattaches to live tasks and submits only what is missing. No daemon of ours runs on
//! the nodes: Slurm is the scheduler.

mod bundle;
pub mod commands;
mod coordinator;
mod exe;
mod ingest;
pub mod spec;
mod spool;
pub mod worker;

pub(crate) use coordinator::run_remote;
pub use coordinator::{job_name, journal_prefix, Submission};
pub use spool::Spool;
