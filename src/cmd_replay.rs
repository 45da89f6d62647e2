//! `spantop replay FILE...`: saved traces through the same store, analysis and TUI as live
//! data, as fast as possible or on the files' own clock (`--speed 1x`, `10x`...).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::cli::shutdown_signal;
use crate::ingest::file::read_paths;
use crate::ingest::file::replay::Speed;
use crate::model::Batch;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::ui::{self, Feed, Source};
use crate::units::{parse_duration, parse_size};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Trace files: OTLP JSON or protobuf, Jaeger or Zipkin JSON, gzipped or not.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// `max`, or a multiple of the recorded pace (`1x`, `10x`).
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// Memory budget for held spans.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: usize,
    /// No TUI: load the files into the store and print per-file summaries and the summary
    /// line `serve` logs. Exit status 2 if anything was skipped.
    #[arg(long)]
    pub headless: bool,
    /// In a headless timed replay, a trace with no new span for this long (wall time) is
    /// complete.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trace_timeout: Duration,
}

impl ReplayArgs {
    pub fn into_headless(self) -> crate::cmd_files::ReplayArgs {
        crate::cmd_files::ReplayArgs {
            files: self.files,
            speed: self.speed,
            max_memory: self.max_memory,
            trace_timeout: self.trace_timeout,
        }
    }
}

/// A replayed trace is complete this long after its last batch was played.
const REPLAY_TRACE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let files = args.files.clone();
    let (batches, results) = tokio::task::spawn_blocking(move || read_paths(&files))
        .await
        .context("the file reader panicked")?;
    let mut problems = Vec::new();
    for r in results {
        match r {
            Ok(summary) if summary.is_clean() => {}
            Ok(s) => problems.push(format!(
                "{}: skipped {} records or spans: {}",
                s.path.display(),
                s.skipped,
                s.problems.join("; ")
            )),
            Err(e) => anyhow::bail!("{e}"),
        }
    }
    let mut config = PipelineConfig::default();
    config.store.max_memory = args.max_memory;
    config.store.inactivity_timeout = REPLAY_TRACE_TIMEOUT;
    let pipeline = Pipeline::spawn(config);
    let progress = Arc::new(AtomicU64::new(0f64.to_bits()));
    let stop = Arc::new(AtomicBool::new(false));
    let player = {
        let (tx, progress, stop) = (
            pipeline.tx.clone(),
            Arc::clone(&progress),
            Arc::clone(&stop),
        );
        tokio::task::spawn_blocking(move || play(batches, args.speed, &tx, &progress, &stop))
    };
    let feed = Feed {
        snapshots: pipeline.snapshots.clone(),
        counters: None,
        progress: Some(progress),
    };
    let result = ui::run(feed, Source::Replay, shutdown_signal()).await;
    stop.store(true, Ordering::Relaxed);
    player.await.context("the replay task panicked")?;
    pipeline.finish().await?;
    result?;
    for p in problems {
        eprintln!("replay: {p}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the batches in order; with a speed factor, each when its earliest span is due.
fn play(
    batches: Vec<Batch>,
    speed: Speed,
    tx: &crate::ingest::BatchTx,
    progress: &AtomicU64,
    stop: &AtomicBool,
) {
    let total: usize = batches.iter().map(Batch::len).sum();
    let first = batches
        .iter()
        .flat_map(|b| b.spans.iter().map(|s| s.start_ns))
        .min()
        .unwrap_or(0);
    let started = Instant::now();
    let mut sent = 0usize;
    for batch in batches {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Speed::Times(factor) = speed {
            let at = batch
                .spans
                .iter()
                .map(|s| s.start_ns)
                .min()
                .unwrap_or(first);
            let due = Duration::from_secs_f64(at.saturating_sub(first) as f64 / 1e9 / factor);
            // Sleep in slices so a quit is noticed promptly during long gaps.
            while started.elapsed() < due && !stop.load(Ordering::Relaxed) {
                std::thread::sleep((due - started.elapsed()).min(Duration::from_millis(100)));
            }
        }
        sent += batch.len();
        if tx.blocking_send(batch).is_err() {
            return;
        }
        progress.store(
            (sent as f64 / total.max(1) as f64).to_bits(),
            Ordering::Relaxed,
        );
    }
    progress.store(1f64.to_bits(), Ordering::Relaxed);
}
