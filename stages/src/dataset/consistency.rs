//! Checks across profile shards: no two shards measure the same (network, setting, run),
//! the shards of one setting ran the same OT backend (always), and on the same machine,
//! backend, engine, ℓ and thread count unless the stage allows mixing.

use std::collections::BTreeMap;

use crate::rows::profile::{error, ProfileShard};
use crate::StageError;

/// Fails when two shards describe the same (network, setting, run).
pub fn check_unique(shards: &[ProfileShard]) -> Result<(), StageError> {
    let mut seen: BTreeMap<(&str, &str, u64), &str> = BTreeMap::new();
    for shard in shards {
        let meta = &shard.meta;
        let key = (meta.network.as_str(), meta.setting.as_str(), meta.run);
        if let Some(first) = seen.insert(key, &shard.label) {
            return Err(error(
                &shard.label,
                format!(
                    "network `{}`, setting `{}`, run {} was already measured by shard `{first}`",
                    meta.network, meta.setting, meta.run
                ),
            ));
        }
    }
    Ok(())
}

/// Fails when two shards of one setting ran different OT backends: their costs differ by an
/// order of magnitude, so no `allow_mixed` makes such a dataset meaningful.
pub fn check_one_ot(shards: &[ProfileShard]) -> Result<(), StageError> {
    let mut first_by_setting: BTreeMap<&str, &ProfileShard> = BTreeMap::new();
    for shard in shards {
        let setting = shard.meta.setting.as_str();
        let first = *first_by_setting.entry(setting).or_insert(shard);
        let (ours, theirs) = (shard.meta.context.ot, first.meta.context.ot);
        if ours != theirs {
            return Err(error(
                &shard.label,
                format!(
                    "setting `{setting}` mixes OT backends: `{ours}` here but `{theirs}` in \
                     shard `{}`; profile every network of a setting with one `ot:`",
                    first.label
                ),
            ));
        }
    }
    Ok(())
}

/// Fails when two shards of one setting differ in machine, backend, engine version, ℓ or
/// thread count, naming both shards and what differs.
pub fn check_not_mixed(shards: &[ProfileShard]) -> Result<(), StageError> {
    let mut first_by_setting: BTreeMap<&str, &ProfileShard> = BTreeMap::new();
    for shard in shards {
        let setting = shard.meta.setting.as_str();
        let Some(first) = first_by_setting.get(setting) else {
            first_by_setting.insert(setting, shard);
            continue;
        };
        let ours = shard.meta.context.comparable();
        let theirs = first.meta.context.comparable();
        for ((name, ours), (_, theirs)) in ours.iter().zip(&theirs) {
            if ours != theirs {
                return Err(error(
                    &shard.label,
                    format!(
                        "setting `{setting}` mixes data: {name} is `{ours}` here but `{theirs}` \
                         in shard `{}` (profile them alike, or set `allow_mixed: true`)",
                        first.label
                    ),
                ));
            }
        }
    }
    Ok(())
}
