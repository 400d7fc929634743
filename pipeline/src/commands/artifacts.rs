//! `snni artifacts ls|show|export|import` and `snni gc`.

use std::collections::BTreeSet;

use snni_artifacts::{Digest, Output};

use super::progress::Activity;
use super::{
    load_study, open_for_reading, open_for_writing, store_dir, CommandError, CommandResult,
};
use crate::cli::{ArtifactsCommand, GcArgs, StoreArgs};
use crate::exit_codes;
use crate::plan::referenced_fingerprints;

/// Dispatches `snni artifacts …`.
pub fn run(command: ArtifactsCommand) -> CommandResult {
    match command {
        ArtifactsCommand::Ls { store, shards } => ls(&store, shards),
        ArtifactsCommand::Show {
            store,
            target,
            rows,
        } => show(&store, &target, rows),
        ArtifactsCommand::Export {
            store,
            output,
            manifests,
        } => {
            let dir = store_dir(&store);
            let opened = open_for_reading(&dir)?;
            let only = if manifests.is_empty() {
                None
            } else {
                let mut keep = BTreeSet::new();
                for manifest in &manifests {
                    let study = load_study(
                        manifest,
                        &StoreArgs {
                            store: Some(dir.clone()),
                        },
                    )?;
                    keep.extend(referenced_fingerprints(&study, &opened)?);
                }
                Some(keep)
            };
            let output = std::path::absolute(&output).map_err(|e| {
                CommandError::new(
                    exit_codes::USAGE,
                    format!("resolve {}: {e}", output.display()),
                )
            })?;
            let activity = Activity::start(format!("exporting to {}", output.display()));
            let summary = opened.export(&output, only.as_ref())?;
            drop(activity);
            println!(
                "exported {} records, {} blobs, {} tables ({}) to {}",
                summary.records,
                summary.blobs,
                summary.tables,
                human_bytes(summary.bytes),
                output.display()
            );
            if !summary.missing.is_empty() {
                eprintln!("warning: {} referenced outputs were not in the store and are not in the archive", summary.missing.len());
            }
            Ok(exit_codes::SUCCESS)
        }
        ArtifactsCommand::Verify { store, repair } => {
            super::verify::verify(&store_dir(&store), repair)
        }
        ArtifactsCommand::Import { store, archive } => {
            let dir = store_dir(&store);
            let opened = open_for_writing(&dir, true, false)?;
            let activity = Activity::start(format!("importing {}", archive.display()));
            let summary = opened.import(&archive)?;
            drop(activity);
            println!(
                "imported {} records ({} already present), {} blobs, {} tables ({}) into {}",
                summary.records_added,
                summary.records_present,
                summary.blobs,
                summary.tables,
                human_bytes(summary.bytes),
                dir.display()
            );
            Ok(exit_codes::SUCCESS)
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn ls(args: &StoreArgs, shards: bool) -> CommandResult {
    let store = open_for_reading(&store_dir(args))?;
    let mut records = store.records()?;
    records.sort_by(|a, b| {
        (&a.stage, &a.shard, a.created_unix_ms).cmp(&(&b.stage, &b.shard, b.created_unix_ms))
    });
    println!(
        "{:<24} {:<14} {:>8} {:>10}  current",
        "stage", "fingerprint", "outputs", "size"
    );
    for record in records.iter().filter(|r| r.shard.is_none()) {
        let current = store
            .stage_state(&record.stage)?
            .is_some_and(|s| s.fingerprint == record.fingerprint);
        println!(
            "{:<24} {:<14} {:>8} {:>10}  {}",
            record.stage,
            record.fingerprint.short(),
            record.outputs.len(),
            human_bytes(record.total_bytes()),
            if current { "yes" } else { "" }
        );
    }
    if shards {
        println!();
        println!("{:<40} {:<14} {:>10}", "shard", "fingerprint", "size");
        for record in records.iter().filter(|r| r.shard.is_some()) {
            println!(
                "{:<40} {:<14} {:>10}",
                record.label(),
                record.fingerprint.short(),
                human_bytes(record.total_bytes())
            );
        }
    }
    let shard_count = records.iter().filter(|r| r.shard.is_some()).count();
    println!(
        "{} stage records, {shard_count} shard records",
        records.len() - shard_count
    );
    Ok(exit_codes::SUCCESS)
}

fn show(args: &StoreArgs, target: &str, rows: usize) -> CommandResult {
    let store = open_for_reading(&store_dir(args))?;
    if let Ok(digest) = target.parse::<Digest>() {
        let bytes = store.get_blob(&digest)?;
        print!("{}", String::from_utf8_lossy(&bytes));
        return Ok(exit_codes::SUCCESS);
    }
    let (stage, output) = target.split_once('/').unwrap_or((target, ""));
    let Some(state) = store.stage_state(stage)? else {
        return Err(CommandError::new(
            exit_codes::MISSING_INPUT,
            format!("stage `{stage}` has no outputs in this store"),
        )
        .help("`snni artifacts ls` lists the stages"));
    };
    let Some(record) = store.get(&state.fingerprint)? else {
        return Err(CommandError::new(
            exit_codes::MISSING_INPUT,
            format!("the current outputs of stage `{stage}` are not in the store"),
        )
        .help(format!("run the study again to rebuild `{stage}`")));
    };
    if output.is_empty() {
        println!(
            "stage {stage} [{}], {} outputs:",
            record.fingerprint.short(),
            record.outputs.len()
        );
        for (name, out) in &record.outputs {
            println!(
                "  {stage}/{name}  {}  {}",
                out.digest().short(),
                human_bytes(out.bytes())
            );
        }
        return Ok(exit_codes::SUCCESS);
    }
    let Some(out) = record.outputs.get(output) else {
        let names: Vec<&str> = record.outputs.keys().map(String::as_str).collect();
        let help = match crate::manifest::closest(output, names.iter().copied()) {
            Some(best) => format!("did you mean `{stage}/{best}`?"),
            None => format!("`snni artifacts show {stage}` lists its outputs"),
        };
        return Err(CommandError::new(
            exit_codes::MISSING_INPUT,
            format!("stage `{stage}` has no output `{output}`"),
        )
        .help(help));
    };
    match out {
        Output::Blob { digest, .. } => {
            print!("{}", String::from_utf8_lossy(&store.get_blob(digest)?))
        }
        Output::Table(table) => {
            let frame = store.read_table(table)?;
            println!(
                "{} ({} rows) at {}",
                table.name,
                frame.height(),
                store.table_path(table).display()
            );
            println!("schema:");
            for (name, dtype) in frame.schema().iter() {
                println!("  {name}: {dtype}");
            }
            println!("{}", frame.head(Some(rows)));
        }
    }
    Ok(exit_codes::SUCCESS)
}

/// `snni gc`.
pub fn gc(args: GcArgs) -> CommandResult {
    let mut studies = Vec::new();
    for manifest in &args.manifests {
        studies.push(load_study(manifest, &args.store)?);
    }
    if studies.iter().any(|s| s.store != studies[0].store) {
        return Err(
            CommandError::new(exit_codes::USAGE, "the manifests use different stores")
                .help("collect one store at a time, or pass --store DIR"),
        );
    }
    let store = if args.dry_run {
        open_for_reading(&studies[0].store)?
    } else {
        open_for_writing(&studies[0].store, false, false)?
    };
    let activity = Activity::start("planning what the manifests reference");
    let mut keep = BTreeSet::new();
    for study in &studies {
        keep.extend(referenced_fingerprints(study, &store)?);
    }
    if args.dry_run {
        let records = store.records()?;
        drop(activity);
        let dropped: Vec<_> = records
            .iter()
            .filter(|r| !keep.contains(&r.fingerprint))
            .collect();
        println!(
            "would delete {} records ({} referenced)",
            dropped.len(),
            records.len() - dropped.len()
        );
        for record in dropped {
            println!("  {} [{}]", record.label(), record.fingerprint.short());
        }
        return Ok(exit_codes::SUCCESS);
    }
    activity.set("deleting what nothing references");
    let summary = store.gc(&keep)?;
    drop(activity);
    println!(
        "removed {} records, {} failures, {} blobs, {} tables; freed {}",
        summary.records_removed,
        summary.failures_removed,
        summary.blobs_removed,
        summary.tables_removed,
        human_bytes(summary.bytes_freed)
    );
    Ok(exit_codes::SUCCESS)
}
