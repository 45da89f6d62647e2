//! Where a pipeline's spans come from, and the one way every command starts one: `start`
//! spawns the pipeline, starts its `Source` feeding it, and hands back a `Running` with what
//! the views read (the published view, the store's snapshots, the files' progress) and the
//! ways out (`finish`, `quit`). No command feeds a pipeline itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::files::{FileSource, InputOutcome, feed};
use super::receivers::{ReceiverConfig, Receivers, Serving};
use super::{Finished, Pipeline, PipelineConfig};
use crate::analysis::findings::view::ViewData;
use crate::ingest::file::replay::FeedProgress;
use crate::ingest::{BatchTx, IngestStats};
use crate::store::StoreSnapshot;

/// What feeds a pipeline.
#[derive(Debug, Clone)]
pub enum Source {
    /// OTLP receivers: spans come until the pipeline is stopped (live mode).
    Receivers(Box<ReceiverConfig>),
    /// Trace files at a speed: the input ends when the last file is read, or its last span
    /// played. With `Mode::Live` what is open then completes at once (`InputEnd`).
    Files(FileSource),
}

/// A pipeline and the source feeding it.
pub struct Running {
    /// What every view shows, from the one engine.
    pub view: watch::Receiver<Arc<ViewData>>,
    /// The store's state after every tick: stats for headers and summary lines.
    pub snapshots: watch::Receiver<StoreSnapshot>,
    /// How far the files are read (the TUI header); untouched for receivers.
    pub progress: Arc<FeedProgress>,
    feeding: Feeding,
    pipeline: Pipeline,
}

enum Feeding {
    Receivers(Serving),
    Files {
        /// The feed, until its outcome is taken.
        task: Option<JoinHandle<InputOutcome>>,
        outcome: Option<InputOutcome>,
        /// Set when quitting: the file readers stop reading.
        cancel: Arc<AtomicBool>,
    },
}

/// What a finished run leaves: the pipeline's store and engine, and what its source came to.
pub struct Ended {
    pub finished: Finished,
    /// The files' outcome (none for receivers).
    pub input: Option<InputOutcome>,
    /// What the receivers counted, or the files' figures as if they had been received.
    pub ingest: IngestStats,
    /// Batches `--record` wrote.
    pub recorded_lines: Option<u64>,
}

impl Ended {
    /// Some input was skipped (an unreadable file, bad lines or spans) or not analysed (batch
    /// mode, `Unanalysed`): the figures cover the rest. The commands exit with status 2 then.
    pub fn left_something_out(&self) -> bool {
        self.input.as_ref().is_some_and(|i| !i.is_clean()) || !self.finished.unanalysed().is_empty()
    }

    /// Lets go of the store and the engine without waiting for it: see `let_go`.
    pub fn let_go(self) {
        let_go(self)
    }
}

/// Drops `held` on a thread of its own that the process does not wait for: freeing millions
/// of spans and their findings took seconds (2.5 s of a 5 s exit with 8.5 M spans held), and
/// at exit the kernel takes the memory back at once.
pub fn let_go<T: Send + 'static>(held: T) {
    std::thread::spawn(move || drop(held));
}

/// Spawns a pipeline and starts `source` feeding it.
pub async fn start(source: Source, config: PipelineConfig) -> anyhow::Result<Running> {
    match source {
        Source::Receivers(receivers) => Ok(start_receivers(*receivers, config).await?.0),
        Source::Files(files) => Ok(start_files(files, config)),
    }
}

/// `start` with receivers, handing back what they are (addresses, counters, the recording)
/// beside the `Running` that owns and stops them.
pub async fn start_receivers(
    receivers: ReceiverConfig,
    config: PipelineConfig,
) -> anyhow::Result<(Running, Receivers)> {
    let pipeline = Pipeline::spawn(config);
    let serving = Serving::start(receivers, pipeline.tx.clone()).await?;
    let receivers = serving.receivers.clone();
    let progress = Arc::new(FeedProgress::default());
    Ok((
        Running::new(pipeline, Feeding::Receivers(serving), progress),
        receivers,
    ))
}

fn start_files(files: FileSource, config: PipelineConfig) -> Running {
    let pipeline = Pipeline::spawn(config);
    let progress = Arc::new(FeedProgress::default());
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, reading, end, stop) = (
        pipeline.tx.clone(),
        Arc::clone(&progress),
        pipeline.input_end(),
        Arc::clone(&cancel),
    );
    let task = tokio::spawn(async move {
        let outcome = feed(files, tx, reading, stop).await;
        end.signal();
        outcome
    });
    let feeding = Feeding::Files {
        task: Some(task),
        outcome: None,
        cancel,
    };
    Running::new(pipeline, feeding, progress)
}

impl Running {
    fn new(pipeline: Pipeline, feeding: Feeding, progress: Arc<FeedProgress>) -> Running {
        Running {
            view: pipeline.view.clone(),
            snapshots: pipeline.snapshots.clone(),
            progress,
            feeding,
            pipeline,
        }
    }

    /// A sender straight into the pipeline, beside the source: for in-process sources and
    /// tests.
    pub fn batch_sender(&self) -> BatchTx {
        self.pipeline.tx.clone()
    }

    /// Resolves when the files are all read (or played) and returns what they came to; never
    /// for receivers, which feed until stopped. Cancel-safe.
    pub async fn input_over(&mut self) -> &InputOutcome {
        match &mut self.feeding {
            Feeding::Receivers(_) => std::future::pending().await,
            Feeding::Files { task, outcome, .. } => {
                // Awaited in place, not taken: a `select!` may drop this future and ask again.
                if let Some(t) = task {
                    // The feed ends on its own; it panics only with the reader, whose files
                    // are then unaccounted for.
                    let done = t.await.unwrap_or_default();
                    *task = None;
                    *outcome = Some(done);
                }
                outcome.get_or_insert_with(InputOutcome::default)
            }
        }
    }

    /// Ends the run as its mode says: the files are read to the end (receivers stop
    /// accepting and finish the requests in flight), then the pipeline finishes
    /// (`Pipeline::finish`) and the recording is flushed.
    pub async fn finish(mut self) -> anyhow::Result<Ended> {
        if let Feeding::Files { .. } = self.feeding {
            self.input_over().await;
        }
        let (input, stopped) = match self.feeding {
            Feeding::Files { outcome, .. } => (outcome, None),
            Feeding::Receivers(r) => (None, Some(r.stop().await?)),
        };
        let finished = self.pipeline.finish().await?;
        let (ingest, recorded_lines) = match stopped {
            Some(r) => (r.ingest, r.recorded_lines),
            None => (
                input
                    .as_ref()
                    .map(InputOutcome::ingest_stats)
                    .unwrap_or_default(),
                None,
            ),
        };
        Ok(Ended {
            finished,
            input,
            ingest,
            recorded_lines,
        })
    }

    /// The user quit a TUI: the files stop being read (receivers stop accepting), nothing more
    /// is analysed (the worker is not waited for), and the held traces are let go of on a
    /// thread of their own, which the process does not wait for (freeing millions of spans
    /// took seconds). Returns the files' outcome if they were all read by then.
    pub async fn quit(mut self) -> anyhow::Result<Option<InputOutcome>> {
        let outcome = match &mut self.feeding {
            Feeding::Files {
                task,
                outcome,
                cancel,
            } => {
                cancel.store(true, Ordering::Relaxed);
                match task.take() {
                    Some(t) if t.is_finished() => t.await.ok(),
                    Some(t) => {
                        t.abort();
                        None
                    }
                    None => outcome.take(),
                }
            }
            Feeding::Receivers(_) => None,
        };
        if let Feeding::Receivers(r) = self.feeding {
            r.stop().await?;
        }
        let_go(self.pipeline.walk_away().await?);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::time::Duration;

    use super::*;
    use crate::ingest::file::replay::Speed;

    /// A `select!` that drops `input_over` while a timed replay plays (the headless summary
    /// ticker) must not lose the files' outcome.
    #[tokio::test]
    async fn input_over_keeps_the_outcome_when_a_select_drops_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.jsonl");
        let mut f = std::fs::File::create(&path).expect("create");
        // Two spans ending 300 ms apart: played at 1x, the input lasts that long.
        for (span, end) in [
            ("b7ad6b7169203331", 2_000_000),
            ("b7ad6b7169203332", 302_000_000),
        ] {
            writeln!(
                f,
                r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"a"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"{span}","name":"GET","startTimeUnixNano":"1000000","endTimeUnixNano":"{end}"}}]}}]}}]}}"#
            )
            .expect("write");
        }
        drop(f);
        let source = Source::Files(FileSource {
            paths: vec![path],
            speed: Speed::Times(1.0),
        });
        let mut running = start(source, PipelineConfig::default())
            .await
            .expect("starts");
        let mut dropped = 0;
        loop {
            tokio::select! {
                _ = running.input_over() => break,
                _ = tokio::time::sleep(Duration::from_millis(10)) => dropped += 1,
            }
        }
        assert!(dropped > 0, "the select dropped input_over at least once");
        assert_eq!(running.input_over().await.spans(), 2);
        let ended = running.finish().await.expect("finishes");
        assert_eq!(ended.input.expect("files").spans(), 2);
        assert_eq!(ended.ingest.spans_accepted, 2);
    }
}
