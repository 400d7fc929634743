//! Reading the outputs of completed `profile` stages: for every shard key `K`, the blobs
//! `K/server`, `K/client` (JSON lines), `K/network` (YAML) and `K/meta` (JSON).
//!
//! Shard keys are never parsed; what a shard measured comes from its `meta`.

use std::collections::BTreeMap;

use snni_artifacts::BlobSource;
use snni_engine::network::Network;

use super::lines::PartyLines;
use super::meta::{ProfileMeta, META_FORMAT};
use crate::{StageError, UpstreamStage};

/// The kind of stage a dataset reads.
pub const PROFILE_KIND: &str = "profile";

/// The four outputs of a profile shard.
const PARTS: [&str; 4] = ["server", "client", "network", "meta"];

/// Everything one profile shard recorded, parsed but not yet checked against each other.
#[derive(Debug, Clone)]
pub struct ProfileShard {
    /// `stage/key`, for error messages.
    pub label: String,
    /// The shard's meta.
    pub meta: ProfileMeta,
    /// The network it ran.
    pub network: Network,
    /// The server's lines.
    pub server: PartyLines,
    /// The client's lines.
    pub client: PartyLines,
}

/// An error about the profile data at `label` (`stage/key`, or a stage name).
pub fn error(label: &str, message: impl Into<String>) -> StageError {
    StageError::Dataset {
        shard: label.to_string(),
        message: message.into(),
    }
}

/// Checks that every upstream stage is a profile stage.
pub fn check_kinds(upstream: &[UpstreamStage]) -> Result<(), StageError> {
    if upstream.is_empty() {
        return Err(error(
            "needs",
            "no profile stage is listed; name at least one under `needs:`",
        ));
    }
    for stage in upstream {
        if stage.kind != PROFILE_KIND {
            return Err(error(
                &stage.name,
                format!(
                    "stage `{}` is of kind `{}`, but a dataset reads only `{PROFILE_KIND}` stages",
                    stage.name, stage.kind
                ),
            ));
        }
    }
    Ok(())
}

/// Reads every shard of every upstream profile stage, in stage then key order.
pub fn read_all(
    upstream: &[UpstreamStage],
    store: &dyn BlobSource,
) -> Result<Vec<ProfileShard>, StageError> {
    check_kinds(upstream)?;
    let mut shards = Vec::new();
    for stage in upstream {
        let mut keys: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for name in stage.record.outputs.keys() {
            match name.rsplit_once('/') {
                Some((key, part)) if PARTS.contains(&part) => {
                    keys.entry(key).or_default().push(part)
                }
                _ => {
                    return Err(error(
                        &stage.name,
                        format!("unexpected output `{name}` in a profile stage"),
                    ))
                }
            }
        }
        for key in keys.keys() {
            shards.push(read_shard(stage, key, store)?);
        }
    }
    Ok(shards)
}

fn read_shard(
    stage: &UpstreamStage,
    key: &str,
    store: &dyn BlobSource,
) -> Result<ProfileShard, StageError> {
    let label = format!("{}/{key}", stage.name);
    let read = |part: &str| -> Result<String, StageError> {
        let name = format!("{key}/{part}");
        let output = stage
            .record
            .outputs
            .get(&name)
            .ok_or_else(|| error(&label, format!("the output `{name}` is missing")))?;
        let bytes = store
            .get_blob(&output.digest())
            .map_err(|source| StageError::Store {
                name: format!("{}/{name}", stage.name),
                source: Box::new(source),
            })?;
        String::from_utf8(bytes).map_err(|_| error(&label, format!("`{name}` is not UTF-8")))
    };
    let meta: ProfileMeta = serde_json::from_str(&read("meta")?)
        .map_err(|err| error(&label, format!("read `{key}/meta`: {err}")))?;
    if meta.format != META_FORMAT {
        return Err(error(
            &label,
            format!(
                "meta format {} is not {META_FORMAT}, the one this snni reads",
                meta.format
            ),
        ));
    }
    let network = Network::from_yaml_str(&read("network")?)
        .map_err(|err| error(&label, format!("read `{key}/network`: {err}")))?;
    let server = PartyLines::parse(&read("server")?, "server").map_err(|m| error(&label, m))?;
    let client = PartyLines::parse(&read("client")?, "client").map_err(|m| error(&label, m))?;
    Ok(ProfileShard {
        label,
        meta,
        network,
        server,
        client,
    })
}
