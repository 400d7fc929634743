//! The local executor: a stage's pending shards run on this machine, in the order the kind
//! lists them, as the [`CpuPool`](super::cpu_pool::CpuPool) allows, each on a blocking
//! thread; every shard's outputs are committed to the store as soon as it finishes.

use std::sync::Arc;
use std::time::Instant;

use snni_artifacts::{Digest, Output, Record, StoreError};
use snni_stages::{OutputData, ShardContext};

use super::failure::RunFailure;
use super::scheduler::{Outcomes, PendingShard, ShardOutcome, Shared};
use crate::plan::StageInputs;

/// Runs `pending` shards of stage `index` here, sending each outcome to `outcomes`.
pub(crate) async fn dispatch(
    shared: Arc<Shared>,
    index: usize,
    inputs: Arc<StageInputs>,
    pending: Vec<PendingShard>,
    outcomes: Outcomes,
) {
    // Slots are taken in shard order (the order the kind chose, e.g. run-major for
    // profiles), so shards start in that order.
    for shard in pending {
        let grant = match shared.pool.acquire(shard.reservation).await {
            Ok(grant) => grant,
            Err(error) => {
                let _ = outcomes.send((shard.shard, ShardOutcome::Failed(error.into())));
                continue;
            }
        };
        if shared.stopping() {
            let _ = outcomes.send((shard.shard, ShardOutcome::NotStarted));
            continue;
        }
        let shared = shared.clone();
        let inputs = inputs.clone();
        let outcomes = outcomes.clone();
        tokio::task::spawn_blocking(move || {
            let run = std::panic::AssertUnwindSafe(|| {
                run_shard(
                    &shared,
                    index,
                    &inputs,
                    &shard.shard,
                    shard.fingerprint,
                    grant.cpus(),
                )
            });
            let outcome = match std::panic::catch_unwind(run) {
                Ok(Ok(record)) => ShardOutcome::Done(Box::new(record)),
                Ok(Err(failure)) => failure,
                Err(payload) => ShardOutcome::Failed(RunFailure::Panicked {
                    what: "the shard",
                    message: panic_message(&*payload),
                }),
            };
            // The stop is requested before the slot is released: otherwise the next shard
            // takes the slot and starts before the scheduler has seen this failure.
            if matches!(outcome, ShardOutcome::Failed(_)) {
                shared.request_stop();
            }
            drop(grant);
            let _ = outcomes.send((shard.shard, outcome));
        });
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Runs one shard and commits its outputs; returns the shard record.
fn run_shard(
    shared: &Shared,
    index: usize,
    inputs: &StageInputs,
    shard: &str,
    fingerprint: Digest,
    cpus: Option<&[usize]>,
) -> Result<Record, ShardOutcome> {
    let stage = &shared.study.stages[index];
    let started = Instant::now();
    let _span = tracing::debug_span!("shard", stage = %stage.name, shard).entered();
    let ctx = ShardContext {
        shard,
        params: &stage.params,
        seed: stage.seed,
        upstream: &inputs.upstream,
        store: &shared.store,
        cpus,
    };
    let outputs = stage
        .kind
        .run_shard(&ctx)
        .map_err(|e| ShardOutcome::Failed(e.into()))?;
    let store_failure = |e: StoreError| ShardOutcome::Failed(e.into());
    let mut record = Record::new(fingerprint, stage.name.clone(), Some(shard.to_string()));
    for (name, data) in outputs.items {
        let output = match data {
            OutputData::Bytes { bytes, media_type } => {
                let digest = shared.store.put_blob(&bytes).map_err(store_failure)?;
                Output::blob(digest, bytes.len() as u64, media_type)
            }
            OutputData::Table(mut frame) => {
                let table_name = format!("{}-{}-{}", stage.name, shard, name);
                Output::Table(
                    shared
                        .store
                        .write_table(&table_name, &mut frame)
                        .map_err(store_failure)?,
                )
            }
        };
        record = record.with_output(name, output);
    }
    let mut meta = serde_json::json!({ "ms": started.elapsed().as_millis() as u64 });
    if let Some(cpus) = cpus {
        meta["cpus"] = serde_json::json!(cpus);
    }
    record.meta = meta;
    shared.store.commit(&record).map_err(store_failure)?;
    tracing::debug!("committed in {:?}", started.elapsed());
    Ok(record)
}
