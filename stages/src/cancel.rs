//! Process-wide cancellation of running shards: a cluster worker that receives SIGTERM
//! (scancel, preemption) or its time-limit warning sets a reason here, and every shard
//! that waits on child processes (the profile stage's parties) kills them and fails with
//! that reason and the children's stderr tails instead of running on.

use std::sync::atomic::{AtomicU8, Ordering};

/// Why the running shards are being cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The cluster task reached the warning before its time limit (`--signal=B:USR2@…`).
    TimeLimit,
    /// The task was terminated (SIGTERM: scancel, preemption, or a limit without warning).
    Terminated,
    /// The user interrupted (SIGINT).
    Interrupted,
}

impl CancelReason {
    /// A sentence for error messages and `failed/` markers.
    pub fn describe(self) -> &'static str {
        match self {
            CancelReason::TimeLimit => {
                "the task reached its time limit (Slurm sent the warning signal before killing it)"
            }
            CancelReason::Terminated => {
                "the task was terminated (SIGTERM: scancel, preemption or a limit without warning)"
            }
            CancelReason::Interrupted => "the task was interrupted (SIGINT)",
        }
    }

    fn code(self) -> u8 {
        match self {
            CancelReason::TimeLimit => 1,
            CancelReason::Terminated => 2,
            CancelReason::Interrupted => 3,
        }
    }
}

static REQUESTED: AtomicU8 = AtomicU8::new(0);

/// Asks every running shard of this process to stop; the first reason given is kept.
pub fn request(reason: CancelReason) {
    let _ = REQUESTED.compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
}

/// The reason, once cancellation was requested.
pub fn requested() -> Option<CancelReason> {
    match REQUESTED.load(Ordering::SeqCst) {
        1 => Some(CancelReason::TimeLimit),
        2 => Some(CancelReason::Terminated),
        3 => Some(CancelReason::Interrupted),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_wins_and_reads_well() {
        // The flag is process-wide and never reset, so this is the only test that sets it.
        assert_eq!(requested(), None);
        request(CancelReason::TimeLimit);
        request(CancelReason::Terminated);
        assert_eq!(requested(), Some(CancelReason::TimeLimit));
        assert!(requested().unwrap().describe().contains("time limit"));
    }
}
