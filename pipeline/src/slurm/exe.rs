//! The identity of the running `snni` binary (path and blake3 digest of the file), which
//! the coordinator puts into every task spec so that a node with another build refuses
//! to run — its shards would not be the shards the fingerprints promise.

use std::sync::OnceLock;

use snni_artifacts::Digest;

use super::spec::ExeIdentity;

/// This process's binary, hashed once per process.
pub fn exe_identity() -> std::io::Result<ExeIdentity> {
    static IDENTITY: OnceLock<Result<ExeIdentity, String>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let path = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut hasher = blake3::Hasher::new();
            hasher
                .update_reader(std::fs::File::open(&path).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            Ok(ExeIdentity {
                path,
                digest: Digest::from(hasher.finalize()),
            })
        })
        .clone()
        .map_err(std::io::Error::other)
}
