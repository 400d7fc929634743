//! The machine a profile ran on, recorded with every shard so that data from different
//! machines is never mixed silently.

use serde::{Deserialize, Serialize};

/// What identifies a machine's performance class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs this process may use.
    pub cores: usize,
    /// The CPU model (`model name` in /proc/cpuinfo), or `unknown`.
    pub cpu_model: String,
    /// The operating system.
    pub os: String,
}

impl Machine {
    /// This machine.
    pub fn current() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_string()),
            os: std::env::consts::OS.to_string(),
        }
    }
}

/// The first `model name` line of a /proc/cpuinfo text.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_model_name() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(text).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor : 0\n"), None);
        assert!(Machine::current().cores >= 1);
    }
}
