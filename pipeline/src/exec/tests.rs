//! The scheduler against stage kinds that panic: a test-only kind ([`crate::test_kinds`],
//! never in the registry, so no manifest can name it) is put into a study by hand and run
//! with [`run_study`], the function `snni run` calls, and the run's exit code comes from
//! [`Summary::exit_code`], the mapping `snni run` returns.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use snni_artifacts::{OnLocked, Store};

use super::{run_study, Event, RunOptions, Summary};
use crate::exit_codes;
use crate::manifest::{ExecutorConfig, StageDecl, Study};
use crate::plan::Selection;
use crate::test_kinds::{PLANNING, SHARD};

/// A study of one stage `name` of `kind` and a stage `after` that needs it.
fn study(dir: &Path, name: &str, kind: &'static dyn snni_stages::StageKind) -> Study {
    let stage = |name: &str, needs: Vec<String>| StageDecl {
        name: name.to_string(),
        kind,
        needs,
        params: serde_json::json!({}),
        seed: 7,
        description: None,
    };
    Study {
        name: "panics".into(),
        description: None,
        seed: 7,
        store: dir.join("store"),
        manifest: dir.join("study.yaml"),
        settings: BTreeMap::new(),
        stages: vec![stage(name, vec![]), stage("after", vec![name.to_string()])],
        executor: ExecutorConfig::Local,
    }
}

/// Runs `study` as `snni run` does and returns its summary and events.
fn run(study: Study) -> (Summary, Vec<Event>) {
    let store = Store::open(&study.store, OnLocked::Fail).expect("open a fresh store");
    let options = RunOptions {
        jobs: 1,
        selection: Selection::default(),
        keep_going: false,
        executor: ExecutorConfig::Local,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let summary = runtime.block_on(run_study(Arc::new(study), store, options, sender));
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        events.push(event);
    }
    (summary, events)
}

/// The error of the `StageFailed` event of `stage`; fails the test if there is none.
fn stage_failed<'a>(events: &'a [Event], stage: &str) -> &'a str {
    events
        .iter()
        .find_map(|event| match event {
            Event::StageFailed { stage: name, error } if name == stage => Some(error.as_str()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no StageFailed event names `{stage}`: {events:#?}"))
}

#[test]
fn a_stage_task_that_panics_fails_that_stage_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, events) = run(study(dir.path(), "boom", &PLANNING));
    let error = stage_failed(&events, "boom");
    assert!(
        error.contains("panicked") && error.contains("planning went wrong on purpose"),
        "{error}"
    );
    assert!(
        events.iter().any(|event| matches!(
            event,
            Event::StageSkipped { stage, .. } if stage == "after"
        )),
        "the stage after it is skipped: {events:#?}"
    );
    assert_eq!((summary.failed, summary.store_errors), (1, 0), "{summary}");
    assert_eq!(summary.exit_code(), exit_codes::STAGE_FAILED);
}

#[test]
fn a_shard_that_panics_fails_its_stage_naming_the_shard_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, events) = run(study(dir.path(), "boom", &SHARD));
    assert!(
        events.iter().any(|event| matches!(
            event,
            Event::ShardFailed { stage, shard, error }
                if stage == "boom" && shard == "bad" && error.contains("shard `bad` went wrong")
        )),
        "a ShardFailed event names the shard: {events:#?}"
    );
    let error = stage_failed(&events, "boom");
    assert!(
        error.contains("bad") && error.contains("panicked"),
        "{error}"
    );
    assert_eq!((summary.failed, summary.store_errors), (1, 0), "{summary}");
    assert_eq!(summary.exit_code(), exit_codes::STAGE_FAILED);
}
