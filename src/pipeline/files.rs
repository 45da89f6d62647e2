//! The batch source: trace files fed into the pipeline, as fast as it takes them (`--speed
//! max`, decoded on a thread of their own with backpressure) or at their recorded pace
//! (`1x`, `10x`...). The pipeline's `Source::Files` reads through here, for `replay` (TUI and
//! headless) and `report`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

use crate::ingest::file::replay::{FeedProgress, Speed, feed_timed};
use crate::ingest::file::{FileError, FileSummary, read_from};
use crate::ingest::{BatchTx, IngestStats};
use crate::model::Batch;

/// Files and the pace to play them at.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub paths: Vec<PathBuf>,
    pub speed: Speed,
}

impl FileSource {
    /// Every file can be opened: checked before a TUI takes the screen.
    pub fn check_readable(&self) -> anyhow::Result<()> {
        for path in &self.paths {
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        }
        Ok(())
    }
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
/// enough to bound memory (they are not counted in `--max-memory`; the pipeline's channel
/// behind them is).
const DECODE_AHEAD: usize = 4;

/// A file that reads as ended once `cancel` is set, so a reader stops decoding when the user
/// quit (the rest of a large file would otherwise be read on a thread the runtime waits for).
struct Cancellable<'a> {
    file: File,
    cancel: &'a AtomicBool,
}

impl Read for Cancellable<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Ok(0);
        }
        self.file.read(buf)
    }
}

fn read_file(
    path: &Path,
    cancel: &AtomicBool,
    sink: &mut dyn FnMut(Batch),
) -> Result<FileSummary, FileError> {
    let file = File::open(path).map_err(|source| FileError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_from(path, Cancellable { file, cancel }, sink)
}

/// Feeds every file into `tx` and says what they came to. `progress` follows the input for the
/// TUI header. Stops early, without error, when the pipeline is gone or `cancel` is set (the
/// user quit the TUI).
pub(super) async fn feed(
    source: FileSource,
    tx: BatchTx,
    progress: Arc<FeedProgress>,
    cancel: Arc<AtomicBool>,
) -> InputOutcome {
    let set = |p: f64| progress.set_fraction(p);
    let outcome = match source.speed {
        Speed::Max => {
            let (btx, mut brx) = tokio::sync::mpsc::channel(DECODE_AHEAD);
            let paths = source.paths;
            let reading = Arc::clone(&progress);
            let reader = tokio::task::spawn_blocking(move || {
                let total = paths.len().max(1) as f64;
                let mut files = Vec::with_capacity(paths.len());
                for (i, path) in paths.iter().enumerate() {
                    let file = read_file(path, &cancel, &mut |b| {
                        // Fails only once the feeding side is gone; the rest is dropped then.
                        let _ = btx.blocking_send((b, i as f64 / total));
                    });
                    reading.file_done(&file);
                    files.push(file);
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
            let reading = Arc::clone(&progress);
            let (outcome, all) = tokio::task::spawn_blocking(move || {
                let mut all = Batch::default();
                let files = paths
                    .iter()
                    .map(|p| {
                        let file = read_file(p, &cancel, &mut |b| {
                            all.spans.extend(b.spans);
                            all.logs.extend(b.logs);
                        });
                        reading.file_done(&file);
                        file
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    /// The TUI header reads what a file had to skip while the replay goes on, not only after
    /// quitting: the feed records it as each file is done.
    #[tokio::test]
    async fn progress_reports_skipped_records_with_the_first_reason_as_files_finish() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bad = dir.path().join("bad.jsonl");
        let mut f = std::fs::File::create(&bad).expect("create");
        let good = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"GET","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
        writeln!(f, "{good}\n{{not json\n{good}").expect("write");
        drop(f);
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let progress = Arc::new(FeedProgress::default());
        let source = FileSource {
            paths: vec![bad, dir.path().join("missing.json")],
            speed: Speed::Max,
        };
        let outcome = feed(source, tx, Arc::clone(&progress), Arc::default()).await;
        drain.await.expect("drained");
        assert_eq!(outcome.skipped(), 1);
        assert_eq!(outcome.unreadable_files(), 1);
        assert_eq!(progress.problems(), 2, "one bad line, one missing file");
        let first = progress.first_problem().expect("a reason");
        assert!(first.contains("bad.jsonl:2"), "{first}");
        assert_eq!(progress.fraction(), 1.0);
    }
}
