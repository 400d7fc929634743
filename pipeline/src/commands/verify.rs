//! `snni artifacts verify [--repair]`: check every stored byte of a store against its
//! digest, list what is damaged, and with `--repair` drop it so that the next `snni run`
//! recomputes exactly that.

use std::path::Path;

use snni_artifacts::{OnLocked, Store, StoreError, VerifyReport};

use super::{no_store, open_for_writing, CommandError, CommandResult};
use crate::exit_codes;

/// `snni artifacts verify [--repair]` on the store in `dir`.
pub fn verify(dir: &Path, repair: bool) -> CommandResult {
    if repair {
        return verify_and_repair(dir);
    }
    // Not `open_for_reading`: a copy taken while a run writes trails the commits the run
    // records, which verify would report as damage. It needs the store to itself.
    if !dir.exists() {
        return Err(no_store(dir));
    }
    let store = Store::open_read_only(dir, OnLocked::Fail)?;
    let report = store.verify()?;
    print_report(&report);
    if report.is_clean() {
        println!("the store at {} is sound", dir.display());
        return Ok(exit_codes::SUCCESS);
    }
    Err(CommandError::new(
        exit_codes::STORE_ERROR,
        format!(
            "{} damaged in the store at {}",
            items(report.damage.len()),
            dir.display()
        ),
    )
    .help(format!(
        "`snni artifacts verify --repair --store {}` drops them; the next `snni run` recomputes exactly those",
        dir.display()
    )))
}

/// `--repair`: move an unopenable database aside, then drop every damaged item.
fn verify_and_repair(dir: &Path) -> CommandResult {
    if !dir.exists() {
        return Err(no_store(dir));
    }
    // A database sled cannot open, or cannot read through, is moved aside whole: sled
    // offers no way to read around a damaged page.
    let quarantine = |problem: String| -> Result<Store, CommandError> {
        let moved = Store::quarantine_db(dir, OnLocked::Fail)?;
        println!(
            "the database cannot be read ({problem});\nmoved it to {}: the store starts empty and every stage runs again",
            moved.display()
        );
        open_for_writing(dir, false, false)
    };
    let mut store = match Store::open_for_repair(dir, OnLocked::Fail) {
        Ok(store) => store,
        Err(StoreError::Damaged { problem, .. }) => quarantine(problem)?,
        Err(error) => return Err(error.into()),
    };
    let report = match store.verify() {
        Ok(report) => report,
        Err(StoreError::Damaged { problem, .. }) => {
            drop(store);
            store = quarantine(problem)?;
            store.verify()?
        }
        Err(error) => return Err(error.into()),
    };
    print_report(&report);
    let summary = store.repair(&report)?;
    let after = store.verify()?;
    if !after.is_clean() {
        print_report(&after);
        return Err(CommandError::new(
            exit_codes::STORE_ERROR,
            format!(
                "{} still damaged in the store at {} after the repair",
                items(after.damage.len()),
                dir.display()
            ),
        ));
    }
    if report.is_clean() {
        println!("nothing to repair");
    } else {
        println!(
            "repaired: dropped {} records, {} blobs, {} tables and {} other entries{}; `snni run` recomputes them",
            summary.records,
            summary.blobs,
            summary.tables,
            summary.other,
            if summary.accepted_lost_commits {
                ", and accepted the database as it is"
            } else {
                ""
            }
        );
    }
    println!("the store at {} is sound", dir.display());
    Ok(exit_codes::SUCCESS)
}

/// Prints what was checked and every damaged item, one per line.
fn print_report(report: &VerifyReport) {
    println!(
        "checked {} records, {} blobs, {} tables",
        report.records, report.blobs, report.tables
    );
    for damage in &report.damage {
        println!("damaged: {}: {}", damage.item, damage.problem);
    }
}

fn items(n: usize) -> String {
    if n == 1 {
        "1 item is".to_string()
    } else {
        format!("{n} items are")
    }
}
