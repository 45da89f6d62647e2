//! The task that owns the `SpanStore`: applies batches from the ingest channel, completes idle
//! traces on a timer, analyses each completed trace, and publishes snapshots (store and
//! findings) for the views. Ingest never touches the store directly, and views only ever see
//! snapshots.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::analysis::engine::{Analyser, AnalysisConfig, Engine, analyse_trace};
use crate::analysis::findings::{Findings, FindingsOptions};
use crate::ingest::BatchTx;
use crate::model::Batch;
use crate::store::{SpanStore, StoreConfig, StoreSnapshot};

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub store: StoreConfig,
    /// Batches that may wait for the store; together with the receivers' send timeout this
    /// bounds memory held in flight.
    pub channel_capacity: usize,
    /// How often idle traces are completed and a snapshot published.
    pub tick_interval: Duration,
    pub analysis: AnalysisConfig,
    /// Findings are rebuilt from all traces, so at most this often (and only when changed).
    pub findings_interval: Duration,
    /// Rows per ranked list in the published findings.
    pub findings_top: usize,
    /// The per-trace analysis: `analyse_trace`; tests swap in one that panics on cue.
    pub analyser: Analyser,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            store: StoreConfig::default(),
            channel_capacity: 1024,
            tick_interval: Duration::from_millis(200),
            analysis: AnalysisConfig::default(),
            findings_interval: Duration::from_secs(1),
            findings_top: 100,
            analyser: analyse_trace,
        }
    }
}

pub struct Pipeline {
    pub tx: BatchTx,
    pub snapshots: watch::Receiver<StoreSnapshot>,
    pub findings: watch::Receiver<Arc<Findings>>,
    join: JoinHandle<SpanStore>,
}

impl Pipeline {
    pub fn spawn(config: PipelineConfig) -> Pipeline {
        let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
        let (snap_tx, snapshots) = watch::channel(StoreSnapshot::default());
        let engine = Engine::with_analyser(config.analysis, config.analyser);
        let analysis = Analysis::new(engine, &config);
        let findings = analysis.tx.subscribe();
        let store = SpanStore::new(config.store);
        let join = tokio::spawn(run(store, rx, snap_tx, analysis, config.tick_interval));
        Pipeline {
            tx,
            snapshots,
            findings,
            join,
        }
    }

    /// Waits until every sender is gone and the channel is drained; returns the final store.
    pub async fn finish(self) -> anyhow::Result<SpanStore> {
        drop(self.tx);
        Ok(self.join.await?)
    }
}

/// The engine plus the throttle for publishing its findings.
struct Analysis {
    engine: Engine,
    tx: watch::Sender<Arc<Findings>>,
    every: Duration,
    top: usize,
    dirty: bool,
    last_built: Option<Instant>,
}

impl Analysis {
    fn new(engine: Engine, config: &PipelineConfig) -> Self {
        let empty = Findings::build(&engine, FindingsOptions::default());
        Analysis {
            engine,
            tx: watch::Sender::new(Arc::new(empty)),
            every: config.findings_interval,
            top: config.findings_top,
            dirty: false,
            last_built: None,
        }
    }

    /// Analyses newly completed traces (a re-completed trace replaces its findings) and
    /// publishes fresh findings when due, or always when `force`.
    fn absorb(&mut self, store: &mut SpanStore, now: Instant, force: bool) {
        for t in store.take_completed() {
            self.engine.add_trace(&t);
            self.dirty = true;
        }
        for id in store.take_evicted() {
            self.engine.forget(id);
            self.dirty = true;
        }
        let due = self
            .last_built
            .is_none_or(|at| now.saturating_duration_since(at) >= self.every);
        if self.dirty && (due || force) {
            let opts = FindingsOptions {
                top: self.top,
                per_trace: false,
            };
            self.tx
                .send_replace(Arc::new(Findings::build(&self.engine, opts)));
            self.dirty = false;
            self.last_built = Some(now);
        }
    }
}

/// Most batches the loop applies before it checks the timer, so a flood cannot starve ticks.
const MAX_BATCHES_PER_TURN: usize = 64;

async fn run(
    mut store: SpanStore,
    mut rx: mpsc::Receiver<Batch>,
    snap_tx: watch::Sender<StoreSnapshot>,
    mut analysis: Analysis,
    tick_interval: Duration,
) -> SpanStore {
    let mut ticker = tokio::time::interval(tick_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = ticker.tick() => {
                let now = Instant::now();
                store.tick(now);
                analysis.absorb(&mut store, now, false);
                snap_tx.send_replace(store.snapshot());
            }
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                let now = Instant::now();
                store.ingest(batch, now);
                for _ in 0..MAX_BATCHES_PER_TURN {
                    match rx.try_recv() {
                        Ok(b) => store.ingest(b, now),
                        Err(_) => break,
                    }
                }
            }
        }
    }
    let now = Instant::now();
    store.tick(now);
    analysis.absorb(&mut store, now, true);
    snap_tx.send_replace(store.snapshot());
    store
}
