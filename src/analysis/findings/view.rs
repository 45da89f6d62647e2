//! What the views show: rows built from one store snapshot plus the pipeline's engine (its
//! per-trace findings and aggregates), each finding carrying its evidence (trace id, span id)
//! so Enter can jump to it. The pipeline's analysis worker builds it at most once per interval
//! and publishes it as an `Arc`; the TUI only indexes and renders it, so a frame costs the
//! same whatever the ingest rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::{FxHashMap, FxHashSet};

/// One trace's findings, as the views read them (the engine computes them).
pub use crate::analysis::engine::TraceFindings;
use crate::analysis::engine::{Aggregates, Engine};
use crate::analysis::findings::{Findings, FindingsOptions};
use crate::analysis::trace::fanout::FanOutKind;
use crate::model::{SpanId, SpanRef, Sym, TraceId};
use crate::store::{StoreSnapshot, Trace};

/// Single occurrences (fan-outs, chains, cold starts, errors, links) kept per list in the
/// published view: the views list the rows that sum them (patterns, functions, hotspots),
/// every count is over all, and a publish clones the worst fan-outs, not every one held.
pub const VIEW_OCCURRENCES: usize = 1000;

/// Generation 0 is the empty `ViewData::default()`.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone)]
pub struct TraceRow {
    pub trace_id: TraceId,
    pub root_service: Sym,
    pub root_name: Sym,
    pub start_ns: u64,
    pub end_ns: u64,
    pub spans: usize,
    pub services: usize,
    pub errors: usize,
    pub cold_starts: usize,
    pub nplus1: bool,
    pub fanout: bool,
    pub orphans: usize,
    pub links: usize,
}

impl TraceRow {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// One row of the Hotspots tab: an operation by critical-path time, an edge by its
/// client-vs-server gap, or background work kept apart from both; an index into
/// `Findings::hotspots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotspotEntry {
    Operation(usize),
    Gap(usize),
    Background(usize),
}

/// One attached instance as the merged view last saw it (`live --attach`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceHealth {
    pub addr: String,
    /// Why the last refresh got nothing from it; `None` while it answers.
    pub down: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ViewData {
    /// Unique per build: lets views cache what they computed from this data.
    pub generation: u64,
    pub snapshot: StoreSnapshot,
    /// Traces the engine has analysed (counted in the aggregates), evicted ones included.
    pub analysed_traces: usize,
    /// Traces whose analysis panicked: left out of every row (the header says how many).
    pub analysis_failures: usize,
    /// Completed traces the analysis had no time for (it fell behind, or at shutdown).
    pub analysis_skipped: u64,
    /// The data clock: the latest span end held. Views measure "ago" from it, never from the
    /// wall clock, so replays and snapshot tests render the same frame every time.
    pub clock_ns: u64,
    index: FxHashMap<TraceId, usize>,
    per_trace: FxHashMap<TraceId, Arc<TraceFindings>>,
    /// The held traces, one row each (the Traces tab).
    pub traces: Vec<TraceRow>,
    /// Every cross-trace row any view shows, exactly as `report` renders it.
    pub findings: Arc<Findings>,
    /// The Hotspots tab's rows, into `findings`.
    pub hotspots: Vec<HotspotEntry>,
    /// The engine's mergeable aggregates as of this build: what `serve --api` publishes.
    pub aggregates: Arc<Aggregates>,
    /// The instances a merged view (`live --attach`) was built from; empty for a local
    /// pipeline.
    pub instances: Vec<InstanceHealth>,
    /// Traces asked for but not here, and why ("fetching ...", "held by none ..."): a merged
    /// view holds only the traces it fetched from the instances.
    pub missing: FxHashMap<TraceId, String>,
}

impl ViewData {
    pub fn trace(&self, id: TraceId) -> Option<&Trace> {
        self.index
            .get(&id)
            .and_then(|&i| self.snapshot.traces.get(i))
            .map(|t| &**t)
    }

    /// The oldest open (incomplete) traces as the store last listed them, oldest first (at
    /// most `store::MAX_OPEN_LISTED`): the "in progress" view.
    pub fn open_traces(&self) -> &[crate::store::OpenTrace] {
        &self.snapshot.open
    }

    /// Why `id` is not held, when the view knows (a merged view that asked for it).
    pub fn why_missing(&self, id: TraceId) -> Option<&str> {
        self.missing.get(&id).map(String::as_str)
    }

    /// A view of several instances (`live --attach`): `self` holds the traces fetched from
    /// them (built as usual from those traces and an engine that analysed them), and the
    /// cross-trace rows are `findings`, merged from the instances' snapshots.
    /// This view (the fetched traces) as the merged view of `instances`: their findings, and
    /// the traces they list after the fetched ones (not held here: opening one fetches it).
    pub fn merged(
        mut self,
        findings: Arc<Findings>,
        instances: Vec<InstanceHealth>,
        missing: FxHashMap<TraceId, String>,
        listed: &[TraceRow],
    ) -> ViewData {
        for r in listed {
            if !self.index.contains_key(&r.trace_id) {
                self.clock_ns = self.clock_ns.max(r.end_ns);
                self.traces.push(r.clone());
            }
        }
        self.analysed_traces = findings.input.traces;
        self.analysis_failures = findings.input.analysis_failures;
        self.hotspots = hotspot_entries(&findings);
        self.findings = findings;
        // The merged aggregates stay with the attached side; nothing reads them from here.
        self.aggregates = Arc::default();
        self.instances = instances;
        self.missing = missing;
        self
    }

    pub fn trace_row(&self, id: TraceId) -> Option<&TraceRow> {
        self.index.get(&id).and_then(|&i| self.traces.get(i))
    }

    pub fn trace_findings(&self, id: TraceId) -> Option<&TraceFindings> {
        self.per_trace.get(&id).map(|f| &**f)
    }

    /// `trace_findings` shared: a view keeps what it derived from them while they stay the
    /// same `Arc`.
    pub fn trace_findings_arc(&self, id: TraceId) -> Option<&Arc<TraceFindings>> {
        self.per_trace.get(&id)
    }

    /// Spans in other traces that link to `span` (consumers of a message it produced).
    pub fn linked_from(&self, trace_id: TraceId, span_id: SpanId) -> Vec<SpanRef> {
        self.per_trace
            .values()
            .filter(|f| f.trace_id != trace_id)
            .flat_map(|f| {
                f.links
                    .iter()
                    .filter(|l| l.trace_id == trace_id && l.span_id == span_id)
                    .map(|l| SpanRef::new(f.trace_id, l.consumer_span))
            })
            .collect()
    }

    /// Rows for every tab from the store's snapshot and the engine that has seen its traces.
    pub fn build(snapshot: StoreSnapshot, engine: &Engine) -> ViewData {
        ViewData::rebuild(None, snapshot, engine)
    }

    /// As `build`, taking from `previous` the row of every trace that neither the store nor
    /// the engine changed since (the same `Arc`s): a publish walks the spans of the traces
    /// that came or changed, not of every trace held.
    pub fn rebuild(
        previous: Option<&ViewData>,
        snapshot: StoreSnapshot,
        engine: &Engine,
    ) -> ViewData {
        let per_trace = engine.held().clone();
        let mut index = FxHashMap::default();
        let mut traces = Vec::with_capacity(snapshot.traces.len());
        for (i, t) in snapshot.traces.iter().enumerate() {
            index.insert(t.trace_id, i);
            let f = per_trace.get(&t.trace_id);
            // `previous` holds its snapshot, so the store changed a trace it lists into a new
            // `Arc` (copy on write): the same pointers mean the same trace and findings.
            let unchanged = previous.and_then(|p| {
                let &j = p.index.get(&t.trace_id)?;
                let same_trace = Arc::ptr_eq(p.snapshot.traces.get(j)?, t);
                let same_findings = match (p.per_trace.get(&t.trace_id), f) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                };
                (same_trace && same_findings).then(|| p.traces.get(j).cloned())?
            });
            traces.push(unchanged.unwrap_or_else(|| trace_row(t, f.map(|f| &**f))));
        }
        let clock_ns = traces.iter().map(|t| t.end_ns).max().unwrap_or(0);
        let findings = Findings::build(
            engine,
            FindingsOptions {
                occurrences: VIEW_OCCURRENCES,
                ..FindingsOptions::default()
            },
        );
        let hotspots = hotspot_entries(&findings);
        ViewData {
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            analysed_traces: engine.aggregates().traces,
            analysis_failures: engine.analysis_failures,
            analysis_skipped: 0,
            findings: Arc::new(findings),
            hotspots,
            aggregates: Arc::new(engine.aggregates().clone()),
            snapshot,
            clock_ns,
            index,
            per_trace,
            traces,
            instances: Vec::new(),
            missing: FxHashMap::default(),
        }
    }
}

fn hotspot_entries(findings: &Findings) -> Vec<HotspotEntry> {
    (0..findings.hotspots.operations.len())
        .map(HotspotEntry::Operation)
        .chain((0..findings.hotspots.edges_by_gap_mean.len()).map(HotspotEntry::Gap))
        .chain((0..findings.hotspots.background.len()).map(HotspotEntry::Background))
        .collect()
}

fn trace_row(t: &Trace, f: Option<&TraceFindings>) -> TraceRow {
    let root = t
        .roots()
        .next()
        .or_else(|| t.spans.iter().find(|s| t.orphans.contains(&s.span_id)))
        .or(t.spans.first());
    let services: FxHashSet<Sym> = t.spans.iter().map(|s| s.service()).collect();
    TraceRow {
        trace_id: t.trace_id,
        root_service: root.map_or_else(|| Sym::new(crate::model::UNKNOWN_SERVICE), |r| r.service()),
        root_name: root.map_or_else(|| Sym::new(""), |r| r.name),
        start_ns: t.start_ns(),
        end_ns: t.end_ns(),
        spans: t.spans.len(),
        services: services.len(),
        errors: t.spans.iter().filter(|s| s.is_error()).count(),
        cold_starts: f.map_or(0, |f| {
            f.invocations
                .iter()
                .filter(|i| i.local_verdict().and_then(|v| v.cold) == Some(true))
                .count()
        }),
        nplus1: f.is_some_and(|f| f.fanouts.iter().any(|x| x.kind == FanOutKind::NPlusOne)),
        fanout: f.is_some_and(|f| f.fanouts.iter().any(|x| x.kind == FanOutKind::Parallel)),
        orphans: t.orphans.len(),
        links: t.spans.iter().map(|s| s.links.len()).sum(),
    }
}

/// Spans on the trace's critical path, as the analysis found it.
pub fn critical_path(f: Option<&TraceFindings>) -> FxHashSet<SpanId> {
    f.into_iter()
        .flat_map(|f| f.critical_path.iter())
        .flat_map(|p| p.sections.iter().map(|s| s.span_id))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::analysis::engine::AnalysisConfig;
    use crate::demo::shapes::{self, Shape};
    use crate::model::Batch;
    use crate::store::{SpanStore, StoreConfig};

    fn rows(view: &ViewData) -> Vec<String> {
        view.traces.iter().map(|r| format!("{r:?}")).collect()
    }

    /// Rows taken from the previous view are those a fresh build gives: for the traces
    /// that stayed, that came, and that re-opened with more spans.
    #[test]
    fn rebuilt_rows_equal_a_fresh_build() {
        let mut store = SpanStore::new(StoreConfig {
            inactivity_timeout: Duration::from_secs(3600),
            max_memory: usize::MAX,
            ..StoreConfig::default()
        });
        let mut engine = Engine::new(AnalysisConfig::default());
        let feed = |store: &mut SpanStore, engine: &mut Engine, spans| {
            store.ingest(Batch::new(spans), Instant::now());
            store.complete_all();
            for t in store.take_completed() {
                engine.add_trace(&t);
            }
        };
        // Trace 3 comes in two halves: its second half re-opens it.
        let mut third = shapes::trace(Shape::Mixed, 20, 3);
        let late = third.split_off(10);
        let id = third[0].trace_id;
        let first: Vec<_> = (1..=40)
            .filter(|&t| t != 3)
            .flat_map(|t| shapes::trace(Shape::Mixed, 20, t))
            .chain(third)
            .collect();
        feed(&mut store, &mut engine, first);
        let v1 = ViewData::build(store.snapshot(), &engine);
        let before = v1.trace_row(id).map(|r| r.spans);
        let next: Vec<_> = (41..=60)
            .flat_map(|t| shapes::trace(Shape::Mixed, 20, t))
            .chain(late)
            .collect();
        feed(&mut store, &mut engine, next);
        let snapshot = store.snapshot();
        let v2 = ViewData::rebuild(Some(&v1), snapshot.clone(), &engine);
        let fresh = ViewData::build(snapshot, &engine);
        assert_eq!(rows(&v2), rows(&fresh));
        let after = v2.trace_row(id).map(|r| r.spans);
        assert!(after > before, "{before:?} -> {after:?}");
        assert_eq!(v2.traces.len(), 60);
    }

    /// The view keeps the worst `VIEW_OCCURRENCES` fan-outs, and counts every one: the
    /// patterns that sum them are whole.
    #[test]
    fn the_view_lists_the_worst_occurrences_and_counts_all() {
        let mut engine = Engine::new(AnalysisConfig::default());
        let mut store = SpanStore::new(StoreConfig {
            inactivity_timeout: Duration::from_secs(3600),
            max_memory: usize::MAX,
            ..StoreConfig::default()
        });
        let spans: Vec<_> = (1..=1500)
            .flat_map(|t| shapes::trace(Shape::Mixed, 20, t))
            .collect();
        store.ingest(Batch::new(spans), Instant::now());
        store.complete_all();
        for t in store.take_completed() {
            engine.add_trace(&t);
        }
        let view = ViewData::build(store.snapshot(), &engine);
        let all = Findings::build(&engine, FindingsOptions::default());
        let (shown, whole) = (&view.findings, &all);
        let lists = [
            (&shown.n_plus_one, &whole.n_plus_one),
            (&shown.parallel_fanouts, &whole.parallel_fanouts),
        ];
        assert!(
            lists.iter().any(|(_, w)| w.list.len() > VIEW_OCCURRENCES),
            "the shape gives more fan-outs than the view keeps"
        );
        for (s, w) in lists {
            assert_eq!((s.count, s.traces), (w.count, w.traces));
            let n = w.list.len().min(VIEW_OCCURRENCES);
            assert_eq!(format!("{:?}", s.list), format!("{:?}", &w.list[..n]));
        }
        let json =
            |p: &[crate::analysis::findings::Pattern]| serde_json::to_string(p).expect("json");
        assert_eq!(json(&shown.patterns), json(&whole.patterns));
    }
}
