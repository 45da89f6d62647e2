//! `spantop replay FILE...`: saved traces through the same pipeline, analysis and TUI as live
//! data, as fast as possible or on the files' own clock (`--speed 1x`, `10x`...); `--headless`
//! loads and analyses them and prints the per-file summaries and the summary line `serve` logs.
//!
//! Exit status: 0 when every file was read whole, 2 when something was skipped (bad lines,
//! spans or messages; each summary says what), 1 when a file could not be read at all.

use std::fs::File;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::args::ReplayArgs;
use super::shutdown_signal;
use crate::ingest::file::replay::{FeedProgress, Speed};
use crate::pipeline::files::{FileSource, InputOutcome, feed};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::server::summary_line;
use crate::store::StoreConfig;
use crate::ui::{self, Feed, Source};

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
    // A file that cannot even be opened ends the command before the TUI takes the screen.
    for path in &args.files {
        File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    }
    let store = StoreConfig {
        inactivity_timeout: match args.speed {
            Speed::Max => REPLAY_TRACE_TIMEOUT,
            Speed::Times(_) => args.hold.trace_timeout,
        },
        ..args.hold.store()
    };
    let pipeline = Pipeline::spawn(PipelineConfig {
        store,
        analysis: args.analysis.bounded(),
        ..PipelineConfig::default()
    });
    let progress = Arc::new(FeedProgress::default());
    // Once every file is read (or, timed, the last span played) the open traces are complete:
    // nothing waits out the trace timeout after the input is over.
    let (files, tx, reading, input_end) = (
        source(&args),
        pipeline.tx.clone(),
        Arc::clone(&progress),
        pipeline.input_end(),
    );
    let feeder = tokio::spawn(async move {
        let outcome = feed(files, tx, reading).await;
        input_end.signal();
        outcome
    });
    let feed_view = Feed {
        view: pipeline.view.clone(),
        snapshots: pipeline.snapshots.clone(),
        counters: None,
        progress: Some(progress),
        listening: None,
        fetch: None,
    };
    let result = ui::run(feed_view, Source::Replay, shutdown_signal()).await;
    // Quitting mid-replay stops the feed.
    let outcome = if feeder.is_finished() {
        feeder.await.ok()
    } else {
        feeder.abort();
        None
    };
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
    // The TUI is closed and nothing is left to write: the pipeline is not waited for. Its
    // last view build and the freeing of every held span took 1.8-3 s from `q` to the shell
    // at 2.4 M spans; the OS takes the memory back at once.
    std::process::exit(0);
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
    let pipeline = Pipeline::spawn(config);
    let progress = Arc::new(FeedProgress::default());
    let feeder = feed(source(&args), pipeline.tx.clone(), progress);
    tokio::pin!(feeder);
    let timed = matches!(args.speed, Speed::Times(_));
    let mut ticker = tokio::time::interval(SUMMARY_EVERY);
    ticker.tick().await;
    let (mut prev_spans, mut prev_at) = (0, Instant::now());
    let outcome = loop {
        tokio::select! {
            outcome = &mut feeder => break outcome,
            _ = ticker.tick(), if timed => {
                let stats = pipeline.snapshots.borrow().stats;
                let (failures, skipped) = {
                    let v = pipeline.view.borrow();
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
    };
    let finished = pipeline.finish().await?;
    print_files(&outcome);
    let unanalysed = finished.unanalysed();
    println!(
        "{}",
        summary_line(
            &finished.store.stats(),
            &outcome.ingest_stats(),
            finished.engine.analysis_failures,
            finished.analysis_skipped,
            0,
            started.elapsed()
        )
    );
    if !unanalysed.is_empty() {
        eprintln!("spantop: {unanalysed}");
    }
    Ok(if outcome.unreadable_files() > 0 {
        ExitCode::FAILURE
    } else if !outcome.is_clean() || !unanalysed.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_files(outcome: &InputOutcome) {
    for r in &outcome.files {
        match r {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("spantop: {e}"),
        }
    }
}
