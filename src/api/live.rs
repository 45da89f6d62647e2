//! The merged view for the TUI (`live --attach`): a task that refreshes the instances'
//! snapshots on an interval, merges them (`attach::Attached::refresh`) and publishes the same
//! `ViewData` a local pipeline publishes, so the TUI renders it unchanged. The instances'
//! health goes with it (`ViewData::instances`), and a trace the TUI asks for is fetched from
//! the instance that holds it, analysed here for its waterfall, and held in the next view
//! (the last `FETCHED_KEPT` of them). The Traces tab lists the fetched traces and those the
//! instances list in their snapshots; opening a listed one fetches it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::analysis::engine::{AnalysisConfig, Engine};
use crate::analysis::findings::Findings;
use crate::analysis::findings::view::{InstanceHealth, TraceRow, ViewData};
use crate::model::TraceId;
use crate::store::{StoreSnapshot, StoreStats, Trace};

use super::attach::{Attached, Health, Merged};

/// How often the attached TUI asks the instances for their snapshots.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(1);

/// Traces fetched for the Trace tab and kept, the latest last.
pub const FETCHED_KEPT: usize = 64;

/// What the TUI watches of the attached instances. The task stops on `stop`, when every
/// `fetch` sender is gone, or when nothing watches the view any more.
pub struct AttachedView {
    pub view: watch::Receiver<Arc<ViewData>>,
    /// The instances' store counters summed (traces and spans held, spans received, memory),
    /// for the header.
    pub snapshots: watch::Receiver<StoreSnapshot>,
    /// Ask for a trace: the next view holds it, or says why not (`ViewData::why_missing`).
    pub fetch: mpsc::Sender<TraceId>,
    /// The latest refresh: each instance's health and what merging took.
    pub merged: watch::Receiver<Option<Arc<Merged>>>,
    task: JoinHandle<()>,
}

impl AttachedView {
    /// Refreshes at once, then every `every`.
    pub fn spawn(attached: Attached, every: Duration) -> AttachedView {
        let (view_tx, view) = watch::channel(Arc::new(ViewData::default()));
        let (snap_tx, snapshots) = watch::channel(StoreSnapshot::default());
        let (merged_tx, merged) = watch::channel(None);
        let (fetch, fetch_rx) = mpsc::channel(16);
        let task = tokio::spawn(run(
            attached,
            every,
            fetch_rx,
            Outputs {
                view: view_tx,
                snapshots: snap_tx,
                merged: merged_tx,
            },
        ));
        AttachedView {
            view,
            snapshots,
            fetch,
            merged,
            task,
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

struct Outputs {
    view: watch::Sender<Arc<ViewData>>,
    snapshots: watch::Sender<StoreSnapshot>,
    merged: watch::Sender<Option<Arc<Merged>>>,
}

/// The fetched traces, their analysis, and the latest merge.
struct State {
    findings: Arc<Findings>,
    instances: Vec<InstanceHealth>,
    stats: StoreStats,
    fetched: VecDeque<Arc<Trace>>,
    engine: Engine,
    missing: FxHashMap<TraceId, String>,
    /// The traces the instances list (the Traces tab beside the fetched ones).
    listed: Vec<TraceRow>,
}

async fn run(
    mut attached: Attached,
    every: Duration,
    mut fetch_rx: mpsc::Receiver<TraceId>,
    out: Outputs,
) {
    let mut state = State {
        findings: Arc::default(),
        instances: Vec::new(),
        stats: StoreStats::default(),
        fetched: VecDeque::new(),
        engine: Engine::new(AnalysisConfig {
            max_traces_kept: FETCHED_KEPT,
            ..AnalysisConfig::default()
        }),
        missing: FxHashMap::default(),
        listed: Vec::new(),
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let merged = attached.refresh().await;
                state.take(&merged);
                let _ = out.merged.send(Some(Arc::new(merged)));
            }
            id = fetch_rx.recv() => {
                let Some(id) = id else { return };
                if state.fetched.iter().any(|t| t.trace_id == id) {
                    continue;
                }
                state
                    .missing
                    .insert(id, format!("Fetching trace {id} from the instances..."));
                state.publish(&out);
                let asked = state.instances.iter().filter(|i| i.down.is_none()).count();
                match attached.fetch_trace(id).await {
                    Ok(Some((_, batch))) => {
                        state.missing.remove(&id);
                        state.hold(Trace::from_spans(id, batch.spans));
                    }
                    Ok(None) => {
                        state.missing.insert(
                            id,
                            format!("Trace {id} is held by none of the {asked} instances that answer (evicted, or not complete yet)."),
                        );
                    }
                    Err(e) => {
                        state
                            .missing
                            .insert(id, format!("Trace {id} could not be fetched: {e:#}"));
                    }
                }
            }
        }
        state.publish(&out);
        if out.view.is_closed() {
            return;
        }
    }
}

impl State {
    fn take(&mut self, merged: &Merged) {
        self.findings = Arc::clone(&merged.findings);
        self.listed.clone_from(&merged.traces);
        self.instances = merged
            .instances
            .iter()
            .map(|i| InstanceHealth {
                addr: i.addr.clone(),
                down: match &i.health {
                    Health::Up => None,
                    Health::Unknown => Some("not asked yet".to_owned()),
                    Health::Down(why) => Some(why.clone()),
                },
            })
            .collect();
        let mut stats = StoreStats::default();
        for i in merged.instances.iter().filter(|i| i.health == Health::Up) {
            let c = &i.counters;
            stats.spans_received += c.spans_received;
            stats.spans_held += c.spans_held;
            stats.traces_held += c.traces_held;
            stats.memory_bytes += c.memory_bytes;
            stats.max_memory_bytes += c.max_memory_bytes;
            stats.evicted_traces += c.evicted_traces;
            stats.open_traces += c.open_traces;
        }
        self.stats = stats;
    }

    fn hold(&mut self, trace: Trace) {
        self.engine.add_trace(&trace);
        self.fetched.push_back(Arc::new(trace));
        while self.fetched.len() > FETCHED_KEPT {
            if let Some(old) = self.fetched.pop_front() {
                self.engine.forget(old.trace_id);
            }
        }
    }

    fn publish(&self, out: &Outputs) {
        let snapshot = StoreSnapshot {
            stats: self.stats,
            traces: self.fetched.iter().cloned().collect(),
            ..StoreSnapshot::default()
        };
        let _ = out.snapshots.send(snapshot.clone());
        let view = ViewData::build(snapshot, &self.engine).merged(
            Arc::clone(&self.findings),
            self.instances.clone(),
            self.missing.clone(),
            &self.listed,
        );
        let _ = out.view.send(Arc::new(view));
    }
}
