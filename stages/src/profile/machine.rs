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

/// Why [`pin_current_thread`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// A CPU number beyond what an affinity mask can hold.
    #[error("CPU {cpu} is out of range")]
    OutOfRange {
        /// The CPU asked for.
        cpu: usize,
    },
    /// The OS refused the mask (e.g. none of its CPUs is online).
    #[error("{0}")]
    Refused(String),
    /// Not on Linux.
    #[error("pinning needs Linux (sched_setaffinity)")]
    Unsupported,
}

/// CPU numbers an affinity mask can hold are below this.
#[cfg(target_os = "linux")]
pub fn cpu_limit() -> usize {
    nix::sched::CpuSet::count()
}

/// CPU numbers an affinity mask can hold are below this (no masks off Linux).
#[cfg(not(target_os = "linux"))]
pub fn cpu_limit() -> usize {
    0
}

/// Restricts the calling thread, and every thread it starts afterwards, to `cpus` (no-op
/// when empty): call it before starting threads to pin a whole process.
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), PinError> {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;

    if cpus.is_empty() {
        return Ok(());
    }
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).map_err(|_| PinError::OutOfRange { cpu })?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| PinError::Refused(e.to_string()))
}

/// Pinning needs Linux's `sched_setaffinity`; elsewhere only "no CPUs" succeeds.
#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), PinError> {
    if cpus.is_empty() {
        Ok(())
    } else {
        Err(PinError::Unsupported)
    }
}

/// CPUs as the command line writes them: `0,2`.
pub fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Maps CPU positions in this process's CPU set (`cpus: [0]` is the first CPU it may use:
/// on a whole machine CPU 0, inside a cluster allocation its first CPU) to CPU numbers.
pub fn resolve_relative(positions: &[usize]) -> Result<Vec<usize>, String> {
    let Some(usable) = usable_cpus() else {
        return Ok(positions.to_vec());
    };
    let beyond: Vec<usize> = positions
        .iter()
        .copied()
        .filter(|&p| p >= usable.len())
        .collect();
    if !beyond.is_empty() {
        return Err(format!(
            "`cpus` names CPUs {beyond:?}, but this process may use only {} CPUs ({}), numbered 0..{} in `cpus`",
            usable.len(),
            cpu_list(&usable),
            usable.len()
        ));
    }
    Ok(positions.iter().map(|&p| usable[p]).collect())
}

/// Pins the calling thread (and the threads it starts from now on) to some CPUs, and
/// restores the CPUs it had when dropped: for a pool thread that runs one pinned shard.
#[derive(Debug)]
pub struct PinGuard {
    previous: Option<Vec<usize>>,
}

impl PinGuard {
    /// Pins the calling thread to `cpus`.
    pub fn pin(cpus: &[usize]) -> Result<PinGuard, PinError> {
        let previous = usable_cpus();
        pin_current_thread(cpus)?;
        Ok(PinGuard { previous })
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            if let Err(error) = pin_current_thread(previous) {
                tracing::warn!(%error, "could not restore a pool thread's CPUs");
            }
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

    #[test]
    #[cfg(target_os = "linux")]
    fn usable_cpus_are_the_affinity_mask() {
        let usable = usable_cpus().unwrap();
        assert!(!usable.is_empty());
        assert_eq!(resolve_relative(&[0]).unwrap(), vec![usable[0]]);
        let beyond = resolve_relative(&[usable.len()]).unwrap_err();
        assert!(beyond.contains("may use only"), "{beyond}");
    }
}
