//! `snni run`, `snni plan` and `snni check`.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{load_study, open_for_planning, open_for_writing, CommandError, CommandResult};
use crate::cli::{CheckArgs, ExecutorChoice, PlanArgs, RunArgs, SelectArgs};
use crate::exec::{run_study, show_events, Display, RunOptions, STATUS_FILE};
use crate::exit_codes;
use crate::manifest::{self, ExecutorConfig, Study};
use crate::plan::{Plan, Selection, Status};

fn selection(study: &Study, args: &SelectArgs) -> Result<Selection, CommandError> {
    let selection = Selection {
        only: args.only.iter().cloned().collect::<BTreeSet<_>>(),
        from: args.from.clone(),
        force: args.force.iter().cloned().collect(),
    };
    let unknown = selection.unknown_stages(study);
    if let Some(name) = unknown.first() {
        let names: Vec<&str> = study.stages.iter().map(|s| s.name.as_str()).collect();
        let help = match manifest::closest(name, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("stages are: {}", names.join(", ")),
        };
        return Err(CommandError::new(
            exit_codes::USAGE,
            format!("`{name}` is not a stage of {}", study.manifest.display()),
        )
        .help(help));
    }
    Ok(selection)
}

/// How many shards may run at once per core: more only adds threads that wait for a core
/// (and memory: every running shard holds its inputs), so `--jobs` is capped here.
pub const JOBS_PER_CORE: usize = 4;

/// The shards to run at once: `--jobs` (default: the cores), at least 1 and at most
/// [`JOBS_PER_CORE`] × `cores`; a larger request is capped with a warning, 0 is an error.
fn jobs(requested: Option<usize>, cores: usize) -> Result<usize, CommandError> {
    let cap = JOBS_PER_CORE * cores.max(1);
    match requested {
        None => Ok(cores.max(1)),
        Some(0) => Err(CommandError::new(
            exit_codes::USAGE,
            "--jobs 0 would run nothing",
        )
        .help(format!(
            "give --jobs a number from 1 to {cap} ({JOBS_PER_CORE} per core), or leave it out for one per core ({cores})"
        ))),
        Some(n) if n > cap => {
            eprintln!(
                "warning: --jobs {n} is more than {JOBS_PER_CORE} per core on this machine ({cores} cores); running {cap} at a time"
            );
            Ok(cap)
        }
        Some(n) => Ok(n),
    }
}

/// `snni run`.
pub fn run(args: RunArgs) -> CommandResult {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = jobs(args.jobs, cores)?;
    let study = load_study(&args.manifest, &args.store)?;
    let selection = selection(&study, &args.select)?;
    let store = open_for_writing(&study.store, true, args.wait)?;
    let executor = match (args.executor, &study.executor) {
        (Some(ExecutorChoice::Local), _) => ExecutorConfig::Local,
        (Some(ExecutorChoice::Slurm), ExecutorConfig::Slurm(config)) => {
            ExecutorConfig::Slurm(config.clone())
        }
        (Some(ExecutorChoice::Slurm), ExecutorConfig::Local) => {
            ExecutorConfig::Slurm(Box::default())
        }
        (None, configured) => configured.clone(),
    };
    let options = RunOptions {
        jobs,
        selection,
        keep_going: args.keep_going,
        executor,
    };
    let status_file = study.store.join(STATUS_FILE);
    let display = if args.json {
        Display::Json
    } else {
        Display::Human
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(jobs.max(2))
        .enable_all()
        .build()
        .map_err(|e| {
            CommandError::new(
                exit_codes::STORE_ERROR,
                format!("start the async runtime: {e}"),
            )
        })?;
    let summary = runtime.block_on(async move {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let shower = tokio::spawn(show_events(receiver, display, Some(status_file)));
        let run = run_study(Arc::new(study), store, options, sender);
        tokio::select! {
            summary = run => {
                let _ = shower.await;
                Some(summary)
            }
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    match summary {
        None => {
            // Do not wait for shards still running (a profile shard may take minutes):
            // dropping the runtime would block on their threads. Their parties exit with
            // this process (the stdin lifeline); their uncommitted work is discarded.
            runtime.shutdown_background();
            // Shaped links of shards still running: their threads never get to drop them.
            for namespace in snni_stages::shaping::tc::teardown_live() {
                tracing::info!(%namespace, "removed the network namespace of an interrupted shard");
            }
            eprintln!("interrupted: finished shards are committed; `snni run` again resumes");
            Ok(exit_codes::INTERRUPTED)
        }
        Some(summary) => Ok(summary.exit_code()),
    }
}

/// `snni plan`.
pub fn plan(args: PlanArgs) -> CommandResult {
    let study = load_study(&args.manifest, &args.store)?;
    let selection = selection(&study, &args.select)?;
    let (store, exists) = open_for_planning(&study.store)?;
    let plan = Plan::make(&study, &store, &selection)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).expect("plan serializes")
        );
        return Ok(exit_codes::SUCCESS);
    }
    let note = if exists {
        ""
    } else {
        ", which does not exist yet: `snni run` creates it"
    };
    println!(
        "study {} (store {}{note})",
        study.name,
        study.store.display()
    );
    let width = plan.stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for stage in &plan.stages {
        let needs = if stage.needs.is_empty() {
            String::new()
        } else {
            format!(" <- {}", stage.needs.join(", "))
        };
        let shards = stage
            .shards
            .map_or(String::new(), |n| format!(", {n} shards"));
        let fingerprint = stage
            .fingerprint
            .as_deref()
            .map_or(String::new(), |f| format!(" [{}]", &f[..12]));
        println!(
            "  {:<width$}  {}{shards}{needs}{fingerprint}",
            stage.name, stage.kind
        );
        println!("  {:<width$}    {}", "", stage.status);
    }
    let runs = plan
        .stages
        .iter()
        .filter(|s| matches!(s.status, Status::Run { .. } | Status::Waits { .. }))
        .count();
    if plan.all_cached() {
        println!("nothing to run: every selected stage is cached");
    } else {
        println!("{runs} of {} stages will run", plan.stages.len());
    }
    Ok(exit_codes::SUCCESS)
}

/// `snni check`.
pub fn check(args: CheckArgs) -> CommandResult {
    let mut code = exit_codes::SUCCESS;
    for path in &args.manifests {
        match manifest::load(path, None) {
            Ok(study) => println!("ok: {} ({} stages)", path.display(), study.stages.len()),
            Err(err) => {
                eprintln!("{err}");
                code = exit_codes::INVALID_INPUT;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_default_to_the_cores_and_are_capped() {
        assert_eq!(jobs(None, 2).unwrap(), 2);
        assert_eq!(jobs(Some(3), 2).unwrap(), 3);
        assert_eq!(jobs(Some(99_999), 2).unwrap(), 2 * JOBS_PER_CORE);
        let err = jobs(Some(0), 2).unwrap_err();
        assert_eq!(err.code, exit_codes::USAGE);
        assert!(err.help.unwrap().contains("from 1 to 8"));
    }
}
