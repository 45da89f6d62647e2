//! `spantop replay FILE...`: saved traces through the same pipeline, analysis and TUI as live
//! data, as fast as possible or on the files' own clock (`--speed 1x`, `10x`...); `--headless`
//! loads and analyses them and prints the per-file summaries and the summary line `serve` logs.
//!
//! Exit status: 0 when every file was read whole, 2 when something was skipped (bad lines,
//! spans or messages; each summary says what), 1 when a file could not be read at all.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::args::ReplayArgs;
use super::shutdown_signal;
use crate::ingest::file::replay::Speed;
use crate::pipeline::files::{FileSource, InputOutcome};
use crate::pipeline::{self, PipelineConfig, Source};
use crate::report::SKIPPED_EXIT;
use crate::server::summary_line;
use crate::store::StoreConfig;
use crate::ui::{self, Feed};

/// In the TUI at `--speed max`, a trace is complete this long after its last batch was
/// played, so traces show while the files load (what is open when they are read completes
/// then).
const REPLAY_TRACE_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a headless timed replay logs the summary line.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

fn source(args: &ReplayArgs) -> FileSource {
    FileSource {
        paths: args.files.clone(),
        speed: args.speed,
    }
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    if args.headless {
        return headless(args).await;
    }
    let files = source(&args);
    // A file that cannot even be opened ends the command before the TUI takes the screen.
    files.check_readable()?;
    let store = StoreConfig {
        inactivity_timeout: match args.speed {
            Speed::Max => REPLAY_TRACE_TIMEOUT,
            Speed::Times(_) => args.hold.trace_timeout,
        },
        ..args.hold.store()
    };
    // Once every file is read (or, timed, the last span played) the open traces are complete:
    // nothing waits out the trace timeout after the input is over.
    let running = pipeline::start(
        Source::Files(files),
        PipelineConfig {
            store,
            analysis: args.analysis.bounded(),
            ..PipelineConfig::default()
        },
    )
    .await?;
    let feed = Feed {
        view: running.view.clone(),
        snapshots: running.snapshots.clone(),
        counters: None,
        progress: Some(running.progress.clone()),
        listening: None,
        fetch: None,
    };
    let result = ui::run(feed, ui::Playback::Replay, shutdown_signal()).await;
    // Quitting mid-replay stops the feed; the held traces are not waited for.
    let outcome = running.quit().await?;
    result?;
    if let Some(outcome) = outcome {
        for r in &outcome.files {
            match r {
                Ok(s) if s.is_clean() => {}
                Ok(s) => eprintln!(
                    "replay: {}: skipped {} records or spans: {}",
                    s.path.display(),
                    s.skipped,
                    s.problems.join("; ")
                ),
                Err(e) => eprintln!("replay: {e}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn headless(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let store = args.hold.store();
    let analysis = args.analysis.bounded();
    // At `max` traces complete on the files' clock and every one is analysed, as for `report`;
    // a timed replay behaves as live data, completing traces by wall-time inactivity.
    let config = match args.speed {
        Speed::Max => PipelineConfig::batch(store, analysis),
        Speed::Times(_) => PipelineConfig {
            store,
            analysis,
            ..PipelineConfig::default()
        },
    };
    let mut running = pipeline::start(Source::Files(source(&args)), config).await?;
    let timed = matches!(args.speed, Speed::Times(_));
    let mut ticker = tokio::time::interval(SUMMARY_EVERY);
    ticker.tick().await;
    let (mut prev_spans, mut prev_at) = (0, Instant::now());
    loop {
        let (snapshots, view) = (running.snapshots.clone(), running.view.clone());
        tokio::select! {
            _ = running.input_over() => break,
            _ = ticker.tick(), if timed => {
                let stats = snapshots.borrow().stats;
                let (failures, skipped) = {
                    let v = view.borrow();
                    (v.analysis_failures, v.analysis_skipped)
                };
                let now = Instant::now();
                println!(
                    "{}",
                    summary_line(&stats, &Default::default(), failures, skipped, prev_spans, now - prev_at)
                );
                (prev_spans, prev_at) = (stats.spans_received, now);
            }
        }
    }
    let ended = running.finish().await?;
    let input = ended.input.as_ref();
    if let Some(input) = input {
        print_files(input);
    }
    let unanalysed = ended.finished.unanalysed();
    println!(
        "{}",
        summary_line(
            &ended.finished.store.stats(),
            &ended.ingest,
            ended.finished.engine.analysis_failures,
            ended.finished.analysis_skipped,
            0,
            started.elapsed()
        )
    );
    if !unanalysed.is_empty() {
        eprintln!("spantop: {unanalysed}");
    }
    let code = if input.is_some_and(|i| i.unreadable_files() > 0) {
        ExitCode::FAILURE
    } else if ended.left_something_out() {
        ExitCode::from(SKIPPED_EXIT)
    } else {
        ExitCode::SUCCESS
    };
    ended.let_go();
    Ok(code)
}

fn print_files(outcome: &InputOutcome) {
    for r in &outcome.files {
        match r {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("spantop: {e}"),
        }
    }
}
