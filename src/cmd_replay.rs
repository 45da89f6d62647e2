//! `spantop replay FILE...`: saved traces through the same store, analysis and TUI as live
//! data, as fast as possible or on the files' own clock (`--speed 1x`, `10x`...).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::cli::shutdown_signal;
use crate::ingest::BatchTx;
use crate::ingest::file::read_paths;
use crate::ingest::file::replay::{Speed, feed_timed};
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
    let player = tokio::spawn(play(
        batches,
        args.speed,
        pipeline.tx.clone(),
        Arc::clone(&progress),
    ));
    let feed = Feed {
        view: pipeline.view.clone(),
        snapshots: pipeline.snapshots.clone(),
        counters: None,
        progress: Some(progress),
        listening: None,
    };
    let result = ui::run(feed, Source::Replay, shutdown_signal()).await;
    // Quitting mid-replay stops the feed; its sender goes with it, so the pipeline can finish.
    player.abort();
    let _ = player.await;
    pipeline.finish().await?;
    result?;
    for p in problems {
        eprintln!("replay: {p}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the batches into the pipeline: as they are at `max`, else every span at its
/// recorded pace (`feed_timed`), keeping `progress` (0..1, as f64 bits) for the header.
async fn play(batches: Vec<Batch>, speed: Speed, tx: BatchTx, progress: Arc<AtomicU64>) {
    let total = batches.iter().map(Batch::len).sum::<usize>().max(1) as f64;
    let report = |sent: u64| progress.store((sent as f64 / total).to_bits(), Ordering::Relaxed);
    match speed {
        Speed::Max => {
            let mut sent = 0;
            for batch in batches {
                sent += batch.len() as u64;
                if tx.send(batch).await.is_err() {
                    return;
                }
                report(sent);
            }
        }
        Speed::Times(factor) => {
            let spans = batches.into_iter().flat_map(|b| b.spans).collect();
            feed_timed(spans, factor, &tx, report).await;
        }
    }
    progress.store(1f64.to_bits(), Ordering::Relaxed);
}
