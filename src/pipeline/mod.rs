//! The pipeline owns the `SpanStore` and the only analysis engine. Its ingest task applies
//! batches from the ingest channel and completes idle traces on a timer; it never analyses.
//! Completed and evicted traces go, as they come, to the analysis worker (`analyst`, a thread of
//! its own), which analyses each completed trace once (a panic costs that trace only), drops
//! the findings of evicted traces, and publishes one `Arc<ViewData>` at most once per interval
//! and only when something changed. Ingest never touches the store directly, views only ever
//! see snapshots, and nothing re-analyses the held traces at a tick or at exit. A TUI replay
//! says when its input is over (`InputEnd`): what is open completes and is shown at once.

mod analysis_helper;
pub mod analyst;
pub mod files;
pub mod receivers;
pub mod resident;
pub mod source;

pub use receivers::Receivers;
pub use source::{Ended, Running, Source, let_go, start, start_receivers};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::analysis::engine::{Analyser, AnalysisConfig, Engine, analyse_trace};
use crate::analysis::findings::view::ViewData;
use crate::ingest::BatchTx;
use crate::model::Batch;
use crate::store::{Completion, MemoryGauge, OpenTrace, SpanStore, StoreConfig, StoreSnapshot};

use analyst::Analyst;
use resident::ResidentLimit;

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub store: StoreConfig,
    /// Batches that may wait for the store; together with the receivers' send timeout this
    /// bounds memory held in flight.
    pub channel_capacity: usize,
    /// How often idle traces are completed and a store snapshot published.
    pub tick_interval: Duration,
    pub analysis: AnalysisConfig,
    /// The published view is rebuilt at most this often (and only when changed).
    pub findings_interval: Duration,
    /// The per-trace analysis: `analyse_trace`; tests swap in one that panics on cue.
    pub analyser: Analyser,
    /// At shutdown, how long the worker may go on analysing what is still queued; the rest is
    /// skipped and counted, so stopping never waits on a large backlog.
    pub shutdown_analysis: Duration,
    pub mode: Mode,
}

/// How the pipeline treats time and backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Receivers or a TUI replay: traces complete after the inactivity timeout, a backlog the
    /// analysis cannot keep up with is skipped (and counted) rather than slowing ingest, and
    /// stopping is bounded by `shutdown_analysis`.
    Live,
    /// Files for a report or a headless replay, as fast as they can be read: traces complete
    /// on the files' own clock (`Completion::FileTime`) and every completed trace is analysed,
    /// however long that takes. Within `--max-memory`: complete traces are let go of once
    /// analysed (their findings stay), the input waits for the analysis when the budget is
    /// full, and an open trace is dropped (counted in `evicted_open_traces`) only when the open
    /// traces alone outgrow it. What is still open at the end of the input completes then.
    Batch,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            store: StoreConfig::default(),
            channel_capacity: 1024,
            tick_interval: Duration::from_millis(200),
            analysis: AnalysisConfig::default(),
            findings_interval: Duration::from_secs(1),
            analyser: analyse_trace,
            shutdown_analysis: Duration::from_secs(2),
            mode: Mode::Live,
        }
    }
}

impl PipelineConfig {
    /// Batch mode over files (see `Mode::Batch`).
    pub fn batch(store: StoreConfig, analysis: AnalysisConfig) -> Self {
        PipelineConfig {
            store: StoreConfig {
                completion: Completion::FileTime,
                ..store
            },
            // The ids of the traces let go of are kept a while, not for the whole file.
            analysis: AnalysisConfig {
                gone_window_ns: analysis.gone_window_ns.or(Some(
                    crate::analysis::engine::gone_window(store.inactivity_timeout),
                )),
                ..analysis
            },
            mode: Mode::Batch,
            // The reader waits on a full channel: a longer queue would only be memory (counted
            // in the budget, so taken from the traces held).
            channel_capacity: 2,
            ..PipelineConfig::default()
        }
    }
}

pub struct Pipeline {
    pub tx: BatchTx,
    /// The store's state after every tick: stats for headers and summary lines.
    pub snapshots: watch::Receiver<StoreSnapshot>,
    /// What every view shows, from the one engine.
    pub view: watch::Receiver<Arc<ViewData>>,
    join: JoinHandle<Stopped>,
    analyst: Analyst,
    input_end: InputEnd,
    /// Set by `walk_away`: the stop analyses nothing.
    abandoned: Arc<AtomicBool>,
}

/// Says the input is over while the pipeline goes on (a TUI replay: every file read, or the
/// last span of a timed replay played). Every open trace is complete then, not an inactivity
/// timeout later, and the view is published at once: nothing more can join them.
#[derive(Clone, Default)]
pub struct InputEnd(Arc<Notify>);

impl InputEnd {
    /// Call it after the last batch was sent: the batches sent before it are taken first.
    pub fn signal(&self) {
        self.0.notify_one();
    }
}

/// What the ingest task hands back at the end.
struct Stopped {
    store: SpanStore,
    /// Until when the analysis may go on (batch mode: until it is done).
    deadline: Option<Instant>,
    /// Open traces there was no time to complete.
    left_open: usize,
}

/// Spans of the input the analysis never saw, so a batch run says what its figures leave out:
/// open traces dropped for the memory budget, and fragments that arrived after their trace was
/// analysed and let go of (more than the trace timeout out of order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unanalysed {
    pub evicted_traces: u64,
    pub evicted_spans: u64,
    pub late_fragments: u64,
    pub late_spans: u64,
}

impl Unanalysed {
    pub fn is_empty(&self) -> bool {
        self.evicted_traces == 0 && self.late_fragments == 0
    }
}

impl std::fmt::Display for Unanalysed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not analysed: {} open traces ({} spans) dropped for --max-memory, {} late fragments \
             ({} spans) that arrived after their trace was analysed and let go of (raise \
             --max-memory or --trace-timeout)",
            self.evicted_traces, self.evicted_spans, self.late_fragments, self.late_spans
        )
    }
}

/// What the pipeline left when it stopped.
pub struct Finished {
    pub store: SpanStore,
    pub engine: Engine,
    /// Completed traces never analysed: the worker fell behind, or had no time at shutdown.
    pub analysis_skipped: u64,
}

impl Finished {
    /// What the input had that was not analysed (batch mode).
    pub fn unanalysed(&self) -> Unanalysed {
        let stats = self.store.stats();
        Unanalysed {
            evicted_traces: stats.evicted_open_traces,
            evicted_spans: stats.evicted_open_spans,
            late_fragments: self.engine.stale_completions as u64,
            late_spans: self.engine.stale_spans as u64,
        }
    }

    /// What the views show of the finished pipeline: the held traces and every finding.
    pub fn view(&mut self) -> ViewData {
        let mut view = ViewData::build(self.store.snapshot(), &self.engine);
        view.analysis_skipped = self.analysis_skipped;
        view
    }
}

impl Pipeline {
    pub fn spawn(config: PipelineConfig) -> Pipeline {
        let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
        let (snap_tx, snapshots) = watch::channel(StoreSnapshot::default());
        let engine = Engine::with_analyser(config.analysis, config.analyser);
        // What the worker holds counts in the store's budget: it publishes, the store evicts.
        let gauge = Arc::new(MemoryGauge::default());
        // Traces waiting for analysis are held outside the store's budget; a quarter of it
        // more at most, beyond which new completions are skipped (and counted), never ingest.
        // In batch mode nothing is skipped: the traces are the input's, held until its end.
        let backlog_bytes = match config.mode {
            Mode::Live => config.store.max_memory / 4,
            Mode::Batch => usize::MAX,
        };
        let analyst = Analyst::spawn(
            engine,
            snapshots.clone(),
            (config.mode == Mode::Live).then_some(config.findings_interval),
            backlog_bytes,
            Arc::clone(&gauge),
            config.mode == Mode::Batch,
        );
        let view = analyst.view.clone();
        let store = SpanStore::new(config.store).with_gauge(gauge);
        let input_end = InputEnd::default();
        let abandoned = Arc::new(AtomicBool::new(false));
        let join = tokio::spawn(run(
            store,
            Input {
                batches: rx,
                end: Arc::clone(&input_end.0),
                abandoned: Arc::clone(&abandoned),
            },
            snap_tx,
            analyst.inbox(),
            config.tick_interval,
            match config.mode {
                Mode::Live => Some(config.shutdown_analysis),
                Mode::Batch => None,
            },
            config.mode,
        ));
        Pipeline {
            tx,
            snapshots,
            view,
            join,
            analyst,
            input_end,
            abandoned,
        }
    }

    /// The handle that says the input is over (see `InputEnd`).
    pub fn input_end(&self) -> InputEnd {
        self.input_end.clone()
    }

    /// Waits until every sender is gone and the channel is drained, then, within
    /// `shutdown_analysis`, completes the open traces and lets the worker analyse what it can;
    /// what there was no time for is counted in `analysis_skipped`. Returns the store and the
    /// engine.
    pub async fn finish(self) -> anyhow::Result<Finished> {
        drop(self.tx);
        let Stopped {
            store,
            deadline,
            left_open,
        } = self.join.await?;
        let analyst = self.analyst;
        let (engine, skipped) =
            tokio::task::spawn_blocking(move || analyst.finish(deadline)).await??;
        Ok(Finished {
            store,
            engine,
            analysis_skipped: skipped + left_open as u64,
        })
    }

    /// The user quit: nothing more is analysed, and the worker is not waited for. The store
    /// task drains the channel and stops; dropping the analyst's end of the hand-over lets the
    /// worker thread end on its own once its current work is done (a view rebuild at 100 k
    /// traces, which no one will see, was most of a live TUI's quit). Returns the store.
    pub async fn walk_away(self) -> anyhow::Result<SpanStore> {
        self.abandoned.store(true, Ordering::Relaxed);
        drop(self.tx);
        let Stopped { store, .. } = self.join.await?;
        drop(self.analyst);
        Ok(store)
    }
}

/// Whether two open lists name the same traces with the same spans (ages aside).
fn same_open(a: &[OpenTrace], b: &[OpenTrace]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.trace_id == y.trace_id && x.spans == y.spans && x.root == y.root)
}

/// How long `settle` waits for readers to let go of traces the worker no longer holds.
const RELEASE_WAIT: Duration = Duration::from_millis(50);

/// Batch mode, after each batch: hands what completed to the worker at once, then, while the
/// count is over the budget and the worker still holds traces the store let go of, waits for
/// it (woken as it absorbs each hand-over) instead of taking the next batch. A reader that
/// keeps them after the worker is done is waited for `RELEASE_WAIT` at most.
async fn settle(store: &mut SpanStore, inbox: &analyst::Inbox) {
    inbox.send(store.take_completed(), store.take_evicted(), false);
    let mut idle_until = None;
    loop {
        store.enforce_memory();
        if !store.over_budget() {
            break;
        }
        if inbox.backlog_bytes() == 0 {
            if store.unreleased_bytes() == 0 {
                break;
            }
            let until = *idle_until.get_or_insert_with(|| Instant::now() + RELEASE_WAIT);
            if Instant::now() >= until {
                break;
            }
        }
        // Bounded: a reader's release is not signalled, and a worker that died never signals.
        let _ = tokio::time::timeout(RELEASE_WAIT, inbox.progressed()).await;
    }
    // Evicted in the wait: the worker keeps their findings for the end.
    inbox.send(Vec::new(), store.take_evicted(), false);
    store.record_peak();
}

/// What the ingest task reads: the batches, the end of the input (`InputEnd`), and whether
/// the stop is to analyse nothing (`Pipeline::walk_away`).
struct Input {
    batches: mpsc::Receiver<Batch>,
    end: Arc<Notify>,
    abandoned: Arc<AtomicBool>,
}

/// Most batches the loop applies before it checks the timer, so a flood cannot starve ticks.
const MAX_BATCHES_PER_TURN: usize = 64;

async fn run(
    mut store: SpanStore,
    Input {
        mut batches,
        end,
        abandoned,
    }: Input,
    snap_tx: watch::Sender<StoreSnapshot>,
    inbox: analyst::Inbox,
    tick_interval: Duration,
    shutdown_budget: Option<Duration>,
    mode: Mode,
) -> Stopped {
    // Live only: a batch run's input bounds what it holds, and its answers must not depend on
    // how the allocator behaved.
    let mut resident = (mode == Mode::Live).then(|| ResidentLimit::new(store.config().max_memory));
    let mut ticker = tokio::time::interval(tick_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A snapshot lists every trace held (O(traces)): taken again only after three times as
    // long as the last one took, so it never costs this task more than a quarter of its time.
    let mut next_snapshot = Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = ticker.tick() => {
                let now = Instant::now();
                if mode == Mode::Live {
                    store.tick(now);
                }
                if let (Some(limit), Some(rss)) = (&mut resident, resident::resident_bytes()) {
                    let effective = limit.update(rss, store.counted_bytes());
                    store.set_resident(rss, effective);
                }
                store.enforce_memory();
                store.record_peak();
                if mode == Mode::Batch {
                    // No view is built from it: the stats alone, so no snapshot holds traces
                    // the store is to let go of.
                    let stats = StoreSnapshot { stats: store.stats(), ..StoreSnapshot::default() };
                    snap_tx.send_replace(stats);
                    inbox.send(store.take_completed(), store.take_evicted(), false);
                    continue;
                }
                if now < next_snapshot {
                    // The counters only; the completed traces wait for the next snapshot, so
                    // that the view built from it holds every trace the worker analysed.
                    let stats = store.stats();
                    snap_tx.send_modify(|s| s.stats = stats);
                    ticker.reset();
                    continue;
                }
                // The snapshot first: the worker builds its view from it as soon as it has the
                // completed traces, and they must be in it.
                let snapshot = store.snapshot_at(now);
                next_snapshot = Instant::now() + now.elapsed() * 3;
                // Spans arriving change the open list even when nothing completes: the view
                // shows it, so it is rebuilt then too (not for the clock alone).
                let open_changed = !same_open(&snapshot.open, &snap_tx.borrow().open);
                snap_tx.send_replace(snapshot);
                inbox.send(store.take_completed(), store.take_evicted(), open_changed);
                // The next tick a whole interval after this one's work: a tick that takes
                // longer than the interval (the snapshot grows with the traces held) would
                // otherwise be due again at once and, first in the biased order, starve the
                // batches (intake fell to 0 spans/s for seconds with 140 k traces held).
                ticker.reset();
            }
            batch = batches.recv() => {
                let Some(batch) = batch else { break };
                let now = Instant::now();
                // What still waits in the channel counts in the budget (the store evicts ahead).
                store.set_queued_batches(batches.len());
                store.ingest(batch, now);
                if mode == Mode::Batch {
                    settle(&mut store, &inbox).await;
                    continue;
                }
                for _ in 0..MAX_BATCHES_PER_TURN {
                    match batches.try_recv() {
                        Ok(b) => {
                            store.set_queued_batches(batches.len());
                            store.ingest(b, now);
                        }
                        Err(_) => break,
                    }
                }
            }
            // Last in the biased order: the batches sent before the signal are all in.
            _ = end.notified() => {
                store.complete_all();
                if mode == Mode::Batch {
                    settle(&mut store, &inbox).await;
                    continue;
                }
                snap_tx.send_replace(store.snapshot_at(Instant::now()));
                inbox.send_now(store.take_completed(), store.take_evicted());
            }
        }
    }
    // End of input (files) or shutdown: whatever is still open is complete now, as far as
    // the budget goes.
    let deadline = if abandoned.load(Ordering::Relaxed) {
        Some(Instant::now())
    } else {
        shutdown_budget.map(|b| Instant::now() + b)
    };
    let left_open = store.complete_all_until(deadline);
    snap_tx.send_replace(store.snapshot());
    inbox.send(store.take_completed(), store.take_evicted(), true);
    Stopped {
        store,
        deadline,
        left_open,
    }
}
