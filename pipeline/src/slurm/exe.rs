//! The identity of the running `snni` binary, which the coordinator puts into every task
//! spec so that a node with another build refuses to run — its shards would not be the
//! shards the fingerprints promise. The identity is the file's blake3 digest; a node whose
//! binary has the coordinator's path, size and modification time (a shared filesystem) is
//! taken to hold the same file without hashing it again (a debug build is ~1 GB).

use std::path::Path;
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use snni_artifacts::Digest;

use super::spec::ExeIdentity;

/// This process's binary, hashed once per process.
pub fn exe_identity() -> std::io::Result<ExeIdentity> {
    static IDENTITY: OnceLock<Result<ExeIdentity, String>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let path = std::env::current_exe().map_err(|e| e.to_string())?;
            let (size, modified_ns) = stat(&path).map_err(|e| e.to_string())?;
            Ok(ExeIdentity {
                digest: hash(&path).map_err(|e| e.to_string())?,
                path,
                size,
                modified_ns,
            })
        })
        .clone()
        .map_err(std::io::Error::other)
}

/// Whether this process runs the binary `expected` names: the same file by path, size and
/// modification time, or else the same contents.
pub fn is_same_build(expected: &ExeIdentity) -> std::io::Result<(bool, ExeIdentity)> {
    let path = std::env::current_exe()?;
    let (size, modified_ns) = stat(&path)?;
    if path == expected.path && size == expected.size && modified_ns == expected.modified_ns {
        return Ok((true, expected.clone()));
    }
    let own = exe_identity()?;
    Ok((own.digest == expected.digest, own))
}

fn stat(path: &Path) -> std::io::Result<(u64, u128)> {
    let meta = std::fs::metadata(path)?;
    let modified = meta
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok((meta.len(), modified))
}

fn hash(path: &Path) -> std::io::Result<Digest> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(Digest::from(hasher.finalize()))
}
