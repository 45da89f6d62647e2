//! `spantop replay FILE...` in a terminal: saved traces through the same store, analysis and
//! TUI as live data, as fast as possible or on the files' own clock (`--speed 1x`, `10x`...).
//! Without a terminal, `cmd_files::replay` loads them headless instead.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::cli::shutdown_signal;
use crate::cmd_files::ReplayArgs;
use crate::ingest::BatchTx;
use crate::ingest::file::read_paths;
use crate::ingest::file::replay::{Speed, feed_timed};
use crate::model::Batch;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::ui::{self, Feed, Source};

/// At `--speed max` a trace is complete this long after its last batch went in: the files
/// are read in one go, so nothing more is coming.
const MAX_SPEED_TRACE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let files = args.files.clone();
    let (batches, results) = tokio::task::spawn_blocking(move || read_paths(&files))
        .await
        .context("the file reader panicked")?;
    let mut problems = Vec::new();
    for r in results {
        match r {
            Ok(s) if s.is_clean() => {}
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
    config.store.inactivity_timeout = match args.speed {
        Speed::Max => MAX_SPEED_TRACE_TIMEOUT,
        Speed::Times(_) => args.trace_timeout,
    };
    let pipeline = Pipeline::spawn(config);
    let progress = Arc::new(AtomicU64::new(0f64.to_bits()));
    let player = tokio::spawn(play(
        batches,
        args.speed,
        pipeline.tx.clone(),
        Arc::clone(&progress),
    ));
    let feed = Feed {
        snapshots: pipeline.snapshots.clone(),
        counters: None,
        progress: Some(progress),
    };
    let result = ui::run(feed, Source::Replay, shutdown_signal()).await;
    player.abort();
    let _ = player.await;
    pipeline.finish().await?;
    result?;
    for p in problems {
        eprintln!("replay: {p}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the batches: all at once (`max`), or each span when it ended on the recorded clock
/// sped up (`feed_timed`). `progress` is the share of spans sent.
async fn play(batches: Vec<Batch>, speed: Speed, tx: BatchTx, progress: Arc<AtomicU64>) {
    let total: usize = batches.iter().map(Batch::len).sum();
    let set = |sent: usize| {
        progress.store(
            (sent as f64 / total.max(1) as f64).to_bits(),
            Ordering::Relaxed,
        );
    };
    match speed {
        Speed::Max => {
            let mut sent = 0;
            for b in batches {
                sent += b.len();
                if tx.send(b).await.is_err() {
                    return;
                }
                set(sent);
            }
        }
        Speed::Times(factor) => {
            // feed_timed paces the spans; this loop only counts them on their way through.
            let spans: Vec<_> = batches.into_iter().flat_map(|b| b.spans).collect();
            let (paced_tx, mut paced) = tokio::sync::mpsc::channel::<Batch>(16);
            let feeder = tokio::spawn(async move { feed_timed(spans, factor, &paced_tx).await });
            let mut sent = 0;
            while let Some(b) = paced.recv().await {
                sent += b.len();
                if tx.send(b).await.is_err() {
                    feeder.abort();
                    return;
                }
                set(sent);
            }
            let _ = feeder.await;
        }
    }
    set(total);
}
