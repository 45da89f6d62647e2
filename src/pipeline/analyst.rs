//! The analysis worker: a thread that owns the engine. The ingest task hands it completed and
//! evicted traces as they come (`Inbox::send` never blocks); it analyses each completed trace
//! once, forgets evicted ones, and publishes the view at most once per interval, only when
//! something changed, and never more than half its time (building the rows walks the held
//! findings). A backlog beyond its byte bound is skipped and counted rather than slowing
//! ingest; at shutdown it works until a deadline and skips (and counts) the rest.
//!
//! Live, the worker runs at the lowest scheduling priority (nice 19, on Linux): when the cores
//! are saturated the ingest tasks come first and the backlog bound (skip and count) gives,
//! rather than intake; with spare cores it runs as fast as ever.
//!
//! What it holds (the engine's findings and aggregates, and the view it published) is
//! published through the `MemoryGauge` after every change, so the store keeps the total within
//! `--max-memory`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::watch;

use super::analysis_helper::Helper;
use crate::analysis::engine::Engine;
use crate::analysis::findings::view::ViewData;
use crate::model::TraceId;
use crate::model::mem;
use crate::store::{MemoryGauge, StoreSnapshot, Trace};

enum Work {
    Traces {
        completed: Vec<Arc<Trace>>,
        evicted: Vec<TraceId>,
        /// Publish as soon as they are analysed, not at the next interval (end of input).
        at_once: bool,
    },
    /// The last message: finish what is queued (until the deadline) and stop.
    Finish,
}

/// Counters shared by the ingest side and the worker.
#[derive(Default)]
struct Shared {
    /// Bytes of the traces queued for analysis.
    backlog: AtomicUsize,
    skipped: AtomicU64,
    /// Set at shutdown, with the time after which queued traces are skipped (none: analyse
    /// them all).
    finishing: OnceLock<Option<Instant>>,
    /// Signalled after each hand-over is absorbed: the batch input's `settle` waits on it.
    progressed: tokio::sync::Notify,
}

impl Shared {
    /// Shutting down, and the time for analysis is over: what is left is skipped.
    fn past_deadline(&self) -> bool {
        self.finishing
            .get()
            .copied()
            .flatten()
            .is_some_and(|d| Instant::now() >= d)
    }
}

/// The ingest task's side: hands work over without ever waiting.
pub struct Inbox {
    tx: mpsc::Sender<Work>,
    shared: Arc<Shared>,
    backlog_limit: usize,
}

impl Inbox {
    /// Hands over completed and evicted traces; `open_changed` asks for a new view even
    /// when there are none (the snapshot's open list changed).
    pub fn send(&self, completed: Vec<Arc<Trace>>, evicted: Vec<TraceId>, open_changed: bool) {
        if completed.is_empty() && evicted.is_empty() && !open_changed {
            return;
        }
        self.hand_over(completed, evicted, false);
    }

    /// As `send`, and the view is published as soon as they are analysed: the input is over
    /// and someone waits for the last traces.
    pub fn send_now(&self, completed: Vec<Arc<Trace>>, evicted: Vec<TraceId>) {
        self.hand_over(completed, evicted, true);
    }

    fn hand_over(&self, completed: Vec<Arc<Trace>>, evicted: Vec<TraceId>, at_once: bool) {
        let mut kept = Vec::with_capacity(completed.len());
        for t in completed {
            let backlog = self.shared.backlog.load(Ordering::Relaxed);
            if backlog.saturating_add(t.memory_bytes) > self.backlog_limit {
                self.shared.skipped.fetch_add(1, Ordering::Relaxed);
            } else {
                self.shared
                    .backlog
                    .fetch_add(t.memory_bytes, Ordering::Relaxed);
                kept.push(t);
            }
        }
        // Fails only once the worker is gone, at the very end; nothing is left to analyse then.
        let _ = self.tx.send(Work::Traces {
            completed: kept,
            evicted,
            at_once,
        });
    }

    /// Bytes of the completed traces handed over and not analysed yet.
    pub fn backlog_bytes(&self) -> usize {
        self.shared.backlog.load(Ordering::Relaxed)
    }

    /// Resolves once the worker absorbed a hand-over (at once if it did since the last wait).
    pub async fn progressed(&self) {
        self.shared.progressed.notified().await;
    }
}

pub struct Analyst {
    pub view: watch::Receiver<Arc<ViewData>>,
    tx: mpsc::Sender<Work>,
    shared: Arc<Shared>,
    backlog_limit: usize,
    join: JoinHandle<Engine>,
}

impl Analyst {
    pub fn spawn(
        engine: Engine,
        snapshots: watch::Receiver<StoreSnapshot>,
        every: Option<Duration>,
        backlog_limit: usize,
        gauge: Arc<MemoryGauge>,
        keep_findings: bool,
    ) -> Analyst {
        // Unbounded, but bounded in bytes by `backlog_limit` on the sending side.
        let (tx, rx) = mpsc::channel();
        let (view_tx, view) = watch::channel(Arc::new(ViewData::default()));
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            engine,
            rx,
            snapshots,
            view_tx,
            shared: Arc::clone(&shared),
            every,
            gauge,
            view_bytes: 0,
            keep_findings,
            helper: None,
        };
        let join = std::thread::Builder::new()
            .name("spantop-analysis".into())
            .spawn(move || worker.run())
            // Only when the OS is out of threads, like `tokio::spawn` beside it.
            .expect("cannot start the analysis thread");
        Analyst {
            view,
            tx,
            shared,
            backlog_limit,
            join,
        }
    }

    pub fn inbox(&self) -> Inbox {
        Inbox {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
            backlog_limit: self.backlog_limit,
        }
    }

    /// Lets the worker analyse what is queued until `deadline` (all of it when `None`), then
    /// returns the engine and the number of completed traces never analysed. Blocks: call it
    /// off the async runtime.
    pub fn finish(self, deadline: Option<Instant>) -> anyhow::Result<(Engine, u64)> {
        let _ = self.shared.finishing.set(deadline);
        let _ = self.tx.send(Work::Finish);
        let engine = self
            .join
            .join()
            .map_err(|_| anyhow::anyhow!("the analysis thread panicked"))
            .context("stopping the analysis")?;
        Ok((engine, self.shared.skipped.load(Ordering::Relaxed)))
    }
}

struct Worker {
    engine: Engine,
    rx: mpsc::Receiver<Work>,
    snapshots: watch::Receiver<StoreSnapshot>,
    view_tx: watch::Sender<Arc<ViewData>>,
    shared: Arc<Shared>,
    /// How often the view may be rebuilt; `None` in batch mode, where no one watches it and
    /// the caller builds what it needs from the engine at the end.
    every: Option<Duration>,
    gauge: Arc<MemoryGauge>,
    /// Estimated bytes of the rows in the last published view (its traces and findings are
    /// `Arc`s counted by the store and the engine).
    view_bytes: usize,
    /// Batch mode: a trace the store let go of keeps its findings (the report is built from
    /// all of them at the end); only what the end needs of them is kept (`Engine::retire`).
    keep_findings: bool,
    /// Analyses part of each hand-over on a second thread (`analysis_helper`).
    helper: Option<Helper>,
}

/// The live worker's niceness: the lowest priority, so that analysis only ever takes what
/// the ingest tasks leave of the cores.
const LIVE_NICENESS: i32 = 19;

/// Lowers the calling thread's priority (Linux: a thread is a schedulable task with its own
/// niceness). Elsewhere, or if refused, the worker runs at normal priority.
fn lower_this_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), LIVE_NICENESS) {
            tracing::debug!("analysis worker keeps its priority: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = LIVE_NICENESS;
}

impl Worker {
    fn run(mut self) -> Engine {
        let live = self.every.is_some();
        if live {
            lower_this_thread_priority();
        }
        // Batch only: there the analysis is what a replay or a report waits for. Live, even
        // at nice 19 a second thread took cycles from intake (serve under load, traces
        // completing: 0.91-0.95x of the intake without completions with it, 0.95-1.00x
        // without, `benches/intake_ab.sh`).
        if !live {
            let shared = Arc::clone(&self.shared);
            self.helper =
                Helper::spawn(self.engine.trace_analyser(), move || shared.past_deadline());
        }
        let mut dirty = false;
        let mut next_build = Instant::now();
        loop {
            let wait = if dirty {
                next_build.saturating_duration_since(Instant::now())
            } else {
                Duration::from_secs(3600)
            };
            match self.rx.recv_timeout(wait) {
                Ok(Work::Traces {
                    completed,
                    evicted,
                    at_once,
                }) => {
                    self.absorb(completed, evicted);
                    // One stored permit: the waiting side never misses it.
                    self.shared.progressed.notify_one();
                    dirty = self.every.is_some();
                    if at_once {
                        next_build = Instant::now();
                    }
                }
                Ok(Work::Finish) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let Some(every) = self.every else {
                continue;
            };
            if dirty && Instant::now() >= next_build && self.shared.finishing.get().is_none() {
                let started = Instant::now();
                self.publish();
                dirty = false;
                // Building walks every held finding: with a very large store, wait at least as
                // long again, so publishing never takes more than half this thread.
                let took = started.elapsed();
                next_build = Instant::now() + every.max(took * 2).saturating_sub(took);
            }
        }
        self.engine
    }

    fn absorb(&mut self, completed: Vec<Arc<Trace>>, evicted: Vec<TraceId>) {
        let split = match &self.helper {
            Some(_) => Helper::split_point(&completed),
            None => completed.len(),
        };
        let (mine, theirs) = completed.split_at(split);
        let handed = !theirs.is_empty()
            && self
                .helper
                .as_ref()
                .is_some_and(|h| h.start(theirs.to_vec()));
        for t in mine {
            self.take(t);
        }
        match handed.then(|| self.helper.as_ref().and_then(Helper::collect)) {
            Some(Some(results)) => {
                for (t, analysis) in theirs.iter().zip(results) {
                    match analysis {
                        Some(a) => self.engine.add_analysed(t, a),
                        None => {
                            self.shared.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    self.analysed(t);
                }
            }
            // Not handed over, or the helper is gone: the worker does them itself.
            _ => {
                if !theirs.is_empty() {
                    self.helper = None;
                }
                for t in theirs {
                    self.take(t);
                }
            }
        }
        for id in evicted {
            if self.keep_findings {
                self.engine.retire(id);
            } else {
                self.engine.forget(id);
            }
        }
        self.publish_bytes();
    }

    /// Analyses one completed trace, unless the shutdown deadline passed (skipped, counted).
    fn take(&mut self, t: &Arc<Trace>) {
        if self.shared.past_deadline() {
            self.shared.skipped.fetch_add(1, Ordering::Relaxed);
        } else {
            self.engine.add_trace(t);
        }
        self.analysed(t);
    }

    /// Off the backlog once analysed and dropped: until then the trace is still held.
    fn analysed(&self, t: &Trace) {
        self.shared
            .backlog
            .fetch_sub(t.memory_bytes, Ordering::Relaxed);
    }

    fn publish_bytes(&self) {
        self.gauge
            .set_analysis_bytes(self.engine.held_bytes() + self.view_bytes);
    }

    fn publish(&mut self) {
        let snapshot = self.snapshots.borrow().clone();
        let previous = Arc::clone(&self.view_tx.borrow());
        let mut view = ViewData::rebuild(Some(&previous), snapshot, &self.engine);
        drop(previous);
        view.analysis_skipped = self.shared.skipped.load(Ordering::Relaxed);
        self.view_bytes = view_bytes(&view);
        self.view_tx.send_replace(Arc::new(view));
        self.publish_bytes();
    }
}

/// The rows a view holds per trace besides its `Arc`s (its snapshot's traces, its findings,
/// counted by the store and the engine): the Traces tab's rows and the two indexes by trace id.
/// The cross-trace `Findings` are not counted: their lists of occurrences are cut to
/// `VIEW_OCCURRENCES`, and their other rows are one per key of the counted aggregates.
fn view_bytes(view: &ViewData) -> usize {
    use crate::analysis::findings::view::{HotspotEntry, TraceRow};
    let traces = view.traces.len();
    mem::vec::<TraceRow>(view.traces.capacity())
        + mem::vec::<HotspotEntry>(view.hotspots.capacity())
        + mem::vec::<Arc<Trace>>(view.snapshot.traces.len())
        + mem::hash_table::<(TraceId, usize)>(traces)
        + mem::hash_table::<(TraceId, Arc<crate::analysis::engine::TraceFindings>)>(traces)
}
