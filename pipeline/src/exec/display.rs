//! Subscribers that show a run's events: progress bars on a terminal (indicatif), plain
//! lines when stderr is not a terminal, or one JSON object per line with `--json`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use super::events::Event;
use super::status::StatusBoard;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Progress on stderr (bars on a terminal, plain lines otherwise).
    Human,
    /// One JSON event per line on stdout.
    Json,
}

/// Consumes events until the sender is dropped; with `status`, also keeps a
/// [`StatusBoard`] published at that path (at most twice a second, and at the end).
pub async fn show_events(
    mut events: UnboundedReceiver<Event>,
    display: Display,
    status: Option<PathBuf>,
) {
    let mut human = Human::new();
    let mut board = StatusBoard::new();
    // The board is published at most twice a second, and the last change is never left
    // unpublished: while something is unpublished, waiting for the next event times out.
    let every = Duration::from_millis(500);
    let mut published = Instant::now() - every;
    let mut dirty = false;
    loop {
        let next = if dirty {
            match tokio::time::timeout(every.saturating_sub(published.elapsed()), events.recv())
                .await
            {
                Ok(next) => next,
                Err(_) => {
                    if let Some(path) = &status {
                        publish(&mut board, path);
                    }
                    published = Instant::now();
                    dirty = false;
                    continue;
                }
            }
        } else {
            events.recv().await
        };
        let Some(event) = next else { break };
        log(&event, display);
        if let Some(path) = &status {
            board.apply(&event);
            dirty = true;
            if matches!(event, Event::RunFinished(_)) || published.elapsed() >= every {
                publish(&mut board, path);
                published = Instant::now();
                dirty = false;
            }
        }
        match display {
            Display::Json => {
                let mut out = std::io::stdout().lock();
                // A closed stdout (e.g. `| head`) must not abort the run.
                let _ = serde_json::to_writer(&mut out, &event);
                let _ = writeln!(out);
            }
            Display::Human => human.show(&event),
        }
    }
}

fn publish(board: &mut StatusBoard, path: &std::path::Path) {
    if let Err(error) = board.publish(path) {
        tracing::debug!(%error, path = %path.display(), "could not publish the run status");
    }
}

/// Logs `event`. Failures are logged only beside JSON output: the human display prints
/// each one itself, and one cause should read once.
fn log(event: &Event, display: Display) {
    match event {
        Event::ShardFailed {
            stage,
            shard,
            error,
        } if display == Display::Json => tracing::warn!(%stage, %shard, "shard failed: {error}"),
        Event::StageFailed { stage, error } if display == Display::Json => {
            tracing::error!(%stage, "stage failed: {error}")
        }
        other => tracing::debug!(?other, "event"),
    }
}

struct Human {
    terminal: bool,
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    /// Plain mode: per stage, shards done, total and the last time a line was printed.
    plain: HashMap<String, (usize, usize, Instant)>,
}

impl Human {
    fn new() -> Self {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            terminal,
            multi: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
            plain: HashMap::new(),
        }
    }

    fn line(&self, text: &str) {
        if self.terminal {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn show(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                study,
                stages,
                jobs,
                executor,
            } => {
                let on = if executor == "local" {
                    format!("{jobs} jobs")
                } else {
                    format!("shards on {executor}, {jobs} local jobs")
                };
                self.line(&format!("study {study}: {stages} stages, {on}"))
            }
            Event::StageCached { stage, fingerprint } => {
                self.line(&format!("  cached  {stage} ({})", &fingerprint[..12]))
            }
            Event::StageStarted {
                stage,
                shards,
                resumed,
                ..
            } => {
                let resumed_note = if *resumed > 0 {
                    format!(", {resumed} done before")
                } else {
                    String::new()
                };
                if self.terminal {
                    let bar = self.multi.add(ProgressBar::new(*shards as u64));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "  {prefix:>12} [{bar:30}] {pos}/{len} shards {msg} eta {eta}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(stage.clone());
                    bar.set_position(*resumed as u64);
                    bar.enable_steady_tick(Duration::from_millis(200));
                    self.bars.insert(stage.clone(), bar);
                } else {
                    self.line(&format!("  running {stage}: {shards} shards{resumed_note}"));
                    self.plain
                        .insert(stage.clone(), (*resumed, *shards, Instant::now()));
                }
            }
            Event::ShardFinished { stage, .. } => {
                if let Some(bar) = self.bars.get(stage) {
                    bar.inc(1);
                } else if let Some((done, total, last)) = self.plain.get_mut(stage) {
                    *done += 1;
                    if last.elapsed() >= Duration::from_secs(2) {
                        *last = Instant::now();
                        let line = format!("  {stage}: {done}/{total} shards");
                        self.line(&line);
                    }
                }
            }
            Event::ShardFailed {
                stage,
                shard,
                error,
            } => self.line(&format!("  failed  {stage}[{shard}]: {error}")),
            Event::StageFinished { stage, ran, ms } => {
                if let Some(bar) = self.bars.remove(stage) {
                    bar.finish_and_clear();
                }
                self.line(&format!(
                    "  done    {stage}: {ran} shards in {:.2}s",
                    *ms as f64 / 1000.0
                ));
            }
            Event::StageFailed { stage, error } => {
                if let Some(bar) = self.bars.remove(stage) {
                    bar.abandon();
                }
                self.line(&format!("  FAILED  {stage}: {error}"));
            }
            Event::StageSkipped { stage, reason } => {
                if let Some(bar) = self.bars.remove(stage) {
                    bar.abandon();
                }
                self.line(&format!("  skipped {stage}: {reason}"))
            }
            Event::ShardsSubmitted {
                stage,
                job,
                tasks,
                shards,
            } => self.line(&format!(
                "  submit  {stage}: job {job}, {tasks} tasks for {shards} shards"
            )),
            Event::ClusterProgress {
                stage,
                running,
                pending,
                retrying,
                ..
            } => {
                let queued: usize = pending.values().sum();
                let reasons = pending
                    .iter()
                    .map(|(reason, n)| format!("{n} {reason}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let text = format!(
                    "{running} running, {queued} queued{}{}",
                    if reasons.is_empty() {
                        String::new()
                    } else {
                        format!(" ({reasons})")
                    },
                    if *retrying > 0 {
                        format!(", {retrying} to resubmit")
                    } else {
                        String::new()
                    }
                );
                if let Some(bar) = self.bars.get(stage) {
                    bar.set_message(text);
                } else {
                    self.line(&format!("  {stage}: {text}"));
                }
            }
            Event::RunFinished(summary) => self.line(&format!("{summary}")),
        }
    }
}
