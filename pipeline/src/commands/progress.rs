//! [`Activity`]: what a long command outside `snni run` is doing, as a spinner with the
//! elapsed time on stderr — drawn only when stderr is a terminal, like `snni run`'s bars,
//! so logs and pipes stay quiet. Used by `snni infer`, `snni artifacts export/import`,
//! `snni gc` and `snni tables`; each then prints its own one-line summary.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A running step of a command; the spinner disappears when it is dropped.
pub struct Activity {
    bar: ProgressBar,
}

impl Activity {
    /// Starts showing `message` (on a terminal only).
    pub fn start(message: impl Into<String>) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    /// Replaces the message (the next step of the same command).
    pub fn set(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    /// Whether anything is drawn (false when stderr is not a terminal).
    #[cfg(test)]
    fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_quiet_off_a_terminal() {
        // Test runs capture stderr, so it is not a terminal here: nothing is drawn.
        if !std::io::stderr().is_terminal() {
            let activity = Activity::start("working");
            activity.set("still working");
            assert!(!activity.is_visible());
        }
    }
}
