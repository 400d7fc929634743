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

/// The CPUs this process may run on (its affinity mask), if the OS says.
#[cfg(target_os = "linux")]
pub fn usable_cpus() -> Option<Vec<usize>> {
    use nix::sched::{sched_getaffinity, CpuSet};
    use nix::unistd::Pid;

    let set = sched_getaffinity(Pid::from_raw(0)).ok()?;
    Some(
        (0..CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .collect(),
    )
}

/// The CPUs this process may run on: unknown off Linux.
#[cfg(not(target_os = "linux"))]
pub fn usable_cpus() -> Option<Vec<usize>> {
    None
}

/// The CPUs of `wanted` this process may not use (empty when the OS does not say).
pub fn unusable(wanted: &[usize]) -> Vec<usize> {
    let Some(usable) = usable_cpus() else {
        return Vec::new();
    };
    wanted
        .iter()
        .copied()
        .filter(|cpu| !usable.contains(cpu))
        .collect()
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

    #[test]
    #[cfg(target_os = "linux")]
    fn usable_cpus_are_the_affinity_mask() {
        let usable = usable_cpus().unwrap();
        assert!(!usable.is_empty());
        assert!(unusable(&usable).is_empty());
        assert_eq!(unusable(&[usable[0], 4000]), vec![4000]);
    }
}
