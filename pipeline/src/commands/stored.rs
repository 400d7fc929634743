//! A study's stored outputs as `snni tables` reads them: the record of the study's stage of
//! a kind, and that record's tables and JSON blobs by output-name suffix. Shared by the
//! per-layer tables (`tables.rs`) and the rest of the report (`report.rs`).

use std::collections::BTreeMap;

use polars::prelude::DataFrame;
use serde_json::Value;
use snni_artifacts::{Output, Record, Store};

use super::CommandError;
use crate::exit_codes;
use crate::manifest::Study;

/// The stored record of the study's stage of `kind`, if the study has one.
pub(crate) fn record(
    study: &Study,
    store: &Store,
    kind: &str,
) -> Result<Option<Record>, CommandError> {
    let Some(stage) = study.stages.iter().find(|s| s.kind.name() == kind) else {
        return Ok(None);
    };
    let missing = || {
        CommandError::new(
            exit_codes::MISSING_INPUT,
            format!(
                "stage `{}` has no outputs in {}",
                stage.name,
                study.store.display()
            ),
        )
        .help(format!(
            "run it first: snni run {}",
            study.manifest.display()
        ))
    };
    let state = store.stage_state(&stage.name)?.ok_or_else(missing)?;
    Ok(Some(store.get(&state.fingerprint)?.ok_or_else(missing)?))
}

/// Every table output of `record` whose name ends with `suffix`, read.
pub(crate) fn tables(
    store: &Store,
    record: &Record,
    suffix: &str,
) -> Result<Vec<DataFrame>, CommandError> {
    let mut out = Vec::new();
    for (name, output) in &record.outputs {
        if let (true, Output::Table(table)) = (name.ends_with(suffix), output) {
            out.push(store.read_table(table)?);
        }
    }
    Ok(out)
}

/// Every JSON blob of `record` whose name ends with `suffix`, by output name.
pub(crate) fn blobs(
    store: &Store,
    record: &Record,
    suffix: &str,
) -> Result<BTreeMap<String, Value>, CommandError> {
    let mut out = BTreeMap::new();
    for (name, output) in &record.outputs {
        if let (true, Output::Blob { digest, .. }) = (name.ends_with(suffix), output) {
            let bytes = store.get_blob(digest)?;
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                CommandError::new(exit_codes::STORE_ERROR, format!("read {name}: {e}"))
            })?;
            out.insert(name.clone(), value);
        }
    }
    Ok(out)
}
