//! Parties never outlive the run that started them, and what they need on disk is reused.
//!
//! A profiled party (`snni party … --exit-with-parent`) has two lifelines to its parent:
//!
//! - [`die_with_parent`]: the kernel sends it SIGKILL the moment its parent dies
//!   (`PR_SET_PDEATHSIG`), whatever killed the parent — `kill -9` included — and whatever
//!   the party was doing (a long HE layer does not read stdin);
//! - [`exit_when_stdin_closes`]: its stdin is a pipe only the run writes to, so end of file
//!   means the run is gone. This also covers what the signal cannot: a parent that died
//!   before the signal was armed, and a party started through `ip netns exec`, whose parent
//!   is `ip`. The watcher never dies of the dead parent's closed stderr (EPIPE): it ignores
//!   write errors and exits.
//!
//! [`network_file`] writes a network description once per content, under a per-user
//! folder of the temporary directory, and reuses it: a killed run leaves no new file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StageError;

/// Arms `PR_SET_PDEATHSIG` with SIGKILL for this process (Linux; elsewhere a no-op that
/// returns `Ok`). Call it before starting any thread: the signal follows the thread that
/// forked this process, which for a party is the run's shard thread.
pub fn die_with_parent() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .map_err(std::io::Error::from)?;
    }
    Ok(())
}

/// Watches stdin on a thread and exits the process with `code` when it closes (the parent
/// died or gave up on this party). Returns an error if the thread cannot start.
pub fn exit_when_stdin_closes(code: i32) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin().lock();
            while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
            // The parent may be gone with the read end of our stderr: never panic here.
            let _ = writeln!(
                std::io::stderr(),
                "stdin closed: the parent process is gone; exiting"
            );
            std::process::exit(code);
        })
        .map(drop)
}

/// Writes `yaml` (a network description) where both parties can read it and returns the
/// path: `<temp>/snni-<uid>/networks/<digest>.yaml`, written once per content (to a
/// temporary name, then renamed) and reused by every later shard and run, so a killed run
/// leaves nothing new behind. If that folder cannot be used safely (it belongs to someone
/// else or others may write it), a fresh temporary file is used and removed with the
/// returned guard.
pub fn network_file(yaml: &[u8], shard: &str) -> Result<NetworkFile, StageError> {
    let io = |e: std::io::Error| StageError::Serialize {
        name: format!("{shard}: network file"),
        message: e.to_string(),
    };
    match shared_folder() {
        Some(folder) => {
            let hash = blake3::hash(yaml).to_hex();
            let path = folder.join(format!("{}.yaml", &hash[..32]));
            if std::fs::read(&path).ok().as_deref() != Some(yaml) {
                let mut temp = tempfile::Builder::new()
                    .prefix(".network-")
                    .tempfile_in(&folder)
                    .map_err(io)?;
                temp.write_all(yaml).map_err(io)?;
                temp.persist(&path).map_err(|e| io(e.error))?;
            }
            Ok(NetworkFile::Shared(path))
        }
        None => {
            let mut file = tempfile::Builder::new()
                .prefix("snni-network-")
                .suffix(".yaml")
                .tempfile()
                .map_err(io)?;
            file.write_all(yaml).map_err(io)?;
            file.flush().map_err(io)?;
            Ok(NetworkFile::Private(file))
        }
    }
}

/// A network description on disk, from [`network_file`].
#[derive(Debug)]
pub enum NetworkFile {
    /// In the per-user folder, kept for reuse.
    Shared(PathBuf),
    /// A temporary file, removed when dropped.
    Private(tempfile::NamedTempFile),
}

impl NetworkFile {
    /// Where the file is.
    pub fn path(&self) -> &Path {
        match self {
            NetworkFile::Shared(path) => path,
            NetworkFile::Private(file) => file.path(),
        }
    }
}

/// `<temp>/snni-<uid>/networks`, created with mode 0700 if needed, if it is ours and no one
/// else may write it.
fn shared_folder() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = nix::unistd::getuid().as_raw();
    let base = std::env::temp_dir().join(format!("snni-{uid}"));
    let folder = base.join("networks");
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&folder);
    for dir in [&base, &folder] {
        let meta = std::fs::symlink_metadata(dir).ok()?;
        let private = meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o022 == 0;
        if !private {
            tracing::warn!(folder = %dir.display(), "not a private folder of ours; using a temporary network file");
            return None;
        }
    }
    Some(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_files_are_written_once_and_reused() {
        let yaml = format!("name: lifeline-test-{}\n", std::process::id());
        let first = network_file(yaml.as_bytes(), "s").unwrap();
        let second = network_file(yaml.as_bytes(), "s").unwrap();
        assert_eq!(first.path(), second.path());
        assert!(matches!(first, NetworkFile::Shared(_)), "{first:?}");
        assert_eq!(std::fs::read(first.path()).unwrap(), yaml.as_bytes());
        // A damaged copy is rewritten.
        std::fs::write(first.path(), "garbage").unwrap();
        let third = network_file(yaml.as_bytes(), "s").unwrap();
        assert_eq!(std::fs::read(third.path()).unwrap(), yaml.as_bytes());
        std::fs::remove_file(third.path()).unwrap();
    }
}
