//! The batch source: trace files fed into the pipeline, as fast as it takes them (`--speed
//! max`, decoded on a thread of their own with backpressure) or at their recorded pace
//! (`1x`, `10x`...). `replay` (TUI and headless) and `report` all read files through here.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ingest::file::replay::{Speed, feed_timed};
use crate::ingest::file::{FileError, FileSummary, read_path};
use crate::ingest::{BatchTx, IngestStats};
use crate::model::Batch;

/// Files and the pace to play them at.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub paths: Vec<PathBuf>,
    pub speed: Speed,
}

/// What the input files came to: every command's exit status and summary start here.
#[derive(Debug, Default)]
pub struct InputOutcome {
    /// One entry per file, in the order given.
    pub files: Vec<Result<FileSummary, FileError>>,
}

impl InputOutcome {
    /// Files that could not be opened or are no trace format at all.
    pub fn unreadable_files(&self) -> usize {
        self.files.iter().filter(|r| r.is_err()).count()
    }

    fn summaries(&self) -> impl Iterator<Item = &FileSummary> {
        self.files.iter().filter_map(|r| r.as_ref().ok())
    }

    /// Records and spans skipped inside readable files.
    pub fn skipped(&self) -> u64 {
        self.summaries().map(|s| s.skipped).sum()
    }

    pub fn spans(&self) -> u64 {
        self.summaries().map(|s| s.spans).sum()
    }

    /// Every readable file was read whole.
    pub fn is_clean(&self) -> bool {
        self.files
            .iter()
            .all(|r| r.as_ref().is_ok_and(FileSummary::is_clean))
    }

    /// The figures the summary line shows, as if the files had been received.
    pub fn ingest_stats(&self) -> IngestStats {
        IngestStats {
            requests: self.summaries().map(|s| s.records).sum(),
            spans_accepted: self.spans(),
            spans_rejected: self.skipped(),
            ..IngestStats::default()
        }
    }
}

/// Batches decoded ahead of the store at `--speed max`: enough to keep both threads busy, few
/// enough to bound memory.
const DECODE_AHEAD: usize = 64;

/// Feeds every file into `tx` and says what they came to. `progress` (0 to 1, as `f64` bits)
/// follows the input for the TUI header. Stops early, without error, when the pipeline is gone
/// (the user quit the TUI).
pub async fn feed(source: FileSource, tx: BatchTx, progress: Arc<AtomicU64>) -> InputOutcome {
    let set = |p: f64| progress.store(p.to_bits(), Ordering::Relaxed);
    let outcome = match source.speed {
        Speed::Max => {
            let (btx, mut brx) = tokio::sync::mpsc::channel(DECODE_AHEAD);
            let paths = source.paths;
            let reader = tokio::task::spawn_blocking(move || {
                let total = paths.len().max(1) as f64;
                let mut files = Vec::with_capacity(paths.len());
                for (i, path) in paths.iter().enumerate() {
                    files.push(read_path(path, &mut |b| {
                        // Fails only once the feeding side is gone; the rest is dropped then.
                        let _ = btx.blocking_send((b, i as f64 / total));
                    }));
                }
                InputOutcome { files }
            });
            while let Some((batch, at)) = brx.recv().await {
                if tx.send(batch).await.is_err() {
                    break;
                }
                set(at);
            }
            drop(brx);
            reader.await.unwrap_or_else(|_| InputOutcome::default())
        }
        Speed::Times(factor) => {
            // Spans of all files interleave by time, so all are loaded before the clock starts.
            let paths = source.paths;
            let (outcome, all) = tokio::task::spawn_blocking(move || {
                let mut all = Batch::default();
                let files = paths
                    .iter()
                    .map(|p| {
                        read_path(p, &mut |b| {
                            all.spans.extend(b.spans);
                            all.logs.extend(b.logs);
                        })
                    })
                    .collect();
                (InputOutcome { files }, all)
            })
            .await
            .unwrap_or_default();
            let total = all.spans.len().max(1) as f64;
            feed_timed(all, factor, &tx, |sent| set(sent as f64 / total)).await;
            outcome
        }
    };
    set(1.0);
    outcome
}
