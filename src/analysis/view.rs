//! What the views show: rows built from one store snapshot plus the pipeline's engine (its
//! per-trace findings and aggregates), each finding carrying its evidence (trace id, span id)
//! so Enter can jump to it. The pipeline's analysis worker builds it at most once per interval
//! and publishes it as an `Arc`; the TUI only indexes and renders it, so a frame costs the
//! same whatever the ingest rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::analysis::cold_start;
use crate::analysis::edges::CallKind;
use crate::analysis::engine::Engine;
/// One trace's findings, as the views read them (the engine computes them).
pub use crate::analysis::engine::TraceFindings;
use crate::analysis::fanout::FanOutKind;
use crate::model::{AnyValue, SpanId, Sym, TraceId};
use crate::store::{StoreSnapshot, Trace};

/// Generation 0 is the empty `ViewData::default()`.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A finding's evidence: where to look in the Trace view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

fn ms_to_ns(ms: f64) -> u64 {
    (ms.max(0.0) * 1e6) as u64
}

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

#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub service: Sym,
    /// Entry spans (SERVER, CONSUMER or roots): the requests the service handled.
    pub requests: u64,
    pub errors: u64,
    pub rate_per_s: f64,
    pub p50_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
    pub invocations: u64,
    pub cold_starts: u64,
    /// Share of all critical-path time spent in this service.
    pub cp_share: f64,
}

#[derive(Debug, Clone)]
pub struct ColdStartRow {
    pub function: Sym,
    pub memory_mb: Option<i64>,
    pub instances: usize,
    pub invocations: u64,
    pub cold: u64,
    pub init_p50_ns: u64,
    pub init_p99_ns: u64,
    pub cold_p50_ns: u64,
    pub warm_p50_ns: u64,
    /// Cold minus warm median duration, when both sides have samples.
    pub penalty_ns: Option<u64>,
    /// Cold starts whose init time lay on their request's critical path.
    pub on_critical_path: u64,
    /// The cold start that cost its request the most critical-path time.
    pub worst: Option<Evidence>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FanoutKind {
    NPlus1,
    Parallel,
    /// A chain of fan-outs across services, and how much it multiplies the work.
    Chain,
}

#[derive(Debug, Clone)]
pub struct FanoutRow {
    pub kind: FanoutKind,
    pub service: Sym,
    pub parent: Sym,
    /// The repeated operation (N+1), the services called at once (parallel), the path (chain).
    pub target: String,
    pub occurrences: u64,
    /// Largest degree (calls per parent), or amplification for a chain.
    pub max_degree: f64,
    pub degree_sum: f64,
    /// Critical-path time the pattern cost, summed over occurrences.
    pub cost_ns: u64,
    pub worst: Evidence,
    worst_cost: f64,
}

impl FanoutRow {
    pub fn mean_degree(&self) -> f64 {
        self.degree_sum / self.occurrences.max(1) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HotspotKind {
    /// An operation's time on requests' critical paths.
    CriticalPath,
    /// Client time outside the server span on an edge: network, queues, proxies.
    EdgeGap,
}

#[derive(Debug, Clone)]
pub struct HotspotRow {
    pub kind: HotspotKind,
    pub service: Sym,
    /// The callee, for an edge.
    pub callee: Option<Sym>,
    pub operation: Sym,
    pub count: u64,
    pub total_ns: u64,
    /// Share of all critical-path time (critical path) or of the edge's client time (gap).
    pub share: f64,
    pub worst: Option<Evidence>,
}

impl HotspotRow {
    pub fn mean_ns(&self) -> u64 {
        self.total_ns / self.count.max(1)
    }
}

/// One service-to-service edge of the service map.
#[derive(Debug, Clone)]
pub struct MapEdge {
    pub caller: Sym,
    pub callee: Sym,
    pub kind: &'static str,
    pub calls: u64,
    pub errors: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// An example call: the one with the largest client/server gap.
    pub worst: Option<Evidence>,
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
    findings: FxHashMap<TraceId, Arc<TraceFindings>>,
    pub traces: Vec<TraceRow>,
    pub services: Vec<ServiceRow>,
    pub cold_starts: Vec<ColdStartRow>,
    pub fanouts: Vec<FanoutRow>,
    pub hotspots: Vec<HotspotRow>,
    pub map: Vec<MapEdge>,
}

impl ViewData {
    pub fn trace(&self, id: TraceId) -> Option<&Trace> {
        self.index
            .get(&id)
            .and_then(|&i| self.snapshot.traces.get(i))
            .map(|t| &**t)
    }

    pub fn trace_row(&self, id: TraceId) -> Option<&TraceRow> {
        self.index.get(&id).and_then(|&i| self.traces.get(i))
    }

    pub fn findings(&self, id: TraceId) -> Option<&TraceFindings> {
        self.findings.get(&id).map(|f| &**f)
    }

    /// Spans in other traces that link to `span` (consumers of a message it produced).
    pub fn linked_from(&self, trace_id: TraceId, span_id: SpanId) -> Vec<Evidence> {
        self.findings
            .values()
            .filter(|f| f.trace_id != trace_id)
            .flat_map(|f| {
                f.links
                    .iter()
                    .filter(|l| l.trace_id == trace_id && l.span_id == span_id)
                    .map(|l| Evidence {
                        trace_id: f.trace_id,
                        span_id: l.consumer_span,
                    })
            })
            .collect()
    }

    /// Analyses every trace of `snapshot` with a fresh engine: for tests and one-shot views.
    pub fn analyse(snapshot: StoreSnapshot) -> ViewData {
        let mut engine = Engine::default();
        for t in snapshot.traces.iter() {
            engine.add_trace(t);
        }
        ViewData::build(snapshot, &engine)
    }

    /// Rows for every tab from the store's snapshot and the engine that has seen its traces.
    pub fn build(snapshot: StoreSnapshot, engine: &Engine) -> ViewData {
        let findings: FxHashMap<TraceId, Arc<TraceFindings>> = engine
            .findings()
            .into_iter()
            .map(|f| (f.trace_id, Arc::clone(f)))
            .collect();
        let mut index = FxHashMap::default();
        let mut traces = Vec::with_capacity(snapshot.traces.len());
        for (i, t) in snapshot.traces.iter().enumerate() {
            index.insert(t.trace_id, i);
            traces.push(trace_row(t, findings.get(&t.trace_id).map(|f| &**f)));
        }
        let clock_ns = traces.iter().map(|t| t.end_ns).max().unwrap_or(0);
        let mut all: Vec<&TraceFindings> = findings.values().map(|f| &**f).collect();
        all.sort_by_key(|f| (f.start_ns, f.trace_id));
        let cold_starts = cold_start_rows(&all, engine, &snapshot, &index);
        ViewData {
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            analysed_traces: engine.aggregates().traces,
            analysis_failures: engine.analysis_failures,
            analysis_skipped: 0,
            services: service_rows(engine, &cold_starts),
            fanouts: fanout_rows(&all),
            hotspots: hotspot_rows(&all, engine),
            map: map_rows(&all, engine),
            cold_starts,
            snapshot,
            clock_ns,
            index,
            findings,
            traces,
        }
    }
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

fn service_rows(engine: &Engine, cold: &[ColdStartRow]) -> Vec<ServiceRow> {
    let agg = engine.aggregates();
    let cp = agg.hotspots.by_service();
    agg.red
        .services(agg.window_s().max(1.0))
        .into_iter()
        .map(|r| {
            let c = cold.iter().find(|c| c.function == r.service);
            ServiceRow {
                service: r.service,
                requests: r.requests as u64,
                errors: r.errors as u64,
                rate_per_s: r.rate_per_s,
                p50_ns: ms_to_ns(r.duration.p50_ms),
                p95_ns: ms_to_ns(r.duration.p95_ms),
                p99_ns: ms_to_ns(r.duration.p99_ms),
                invocations: c.map_or(0, |c| c.invocations),
                cold_starts: c.map_or(0, |c| c.cold),
                cp_share: cp.get(&r.service).map_or(0.0, |x| x.1),
            }
        })
        .collect()
}

fn cold_start_rows(
    all: &[&TraceFindings],
    engine: &Engine,
    snapshot: &StoreSnapshot,
    index: &FxHashMap<TraceId, usize>,
) -> Vec<ColdStartRow> {
    let invs: Vec<cold_start::Invocation> = all
        .iter()
        .flat_map(|f| f.invocations.iter().cloned())
        .collect();
    let epoch = engine.aggregates().min_start_ns.unwrap_or(0);
    let verdicts = cold_start::classify(&invs, epoch, engine.config().cold_start);
    let (starts, functions) = cold_start::function_costs(&invs, &verdicts);
    let mut rows: FxHashMap<Sym, ColdStartRow> = FxHashMap::default();
    for f in functions {
        let instances: FxHashSet<&str> = invs
            .iter()
            .filter(|i| i.function == f.function)
            .filter_map(|i| i.instance.as_deref())
            .collect();
        let row = rows.entry(f.function).or_insert_with(|| ColdStartRow {
            function: f.function,
            memory_mb: None,
            instances: 0,
            invocations: 0,
            cold: 0,
            init_p50_ns: 0,
            init_p99_ns: 0,
            cold_p50_ns: 0,
            warm_p50_ns: 0,
            penalty_ns: None,
            on_critical_path: 0,
            worst: None,
        });
        // One row per function; a function with several triggers keeps the busiest trigger's
        // percentiles and sums the counts.
        if f.invocations as u64 > row.invocations {
            row.init_p50_ns = ms_to_ns(f.init.p50_ms);
            row.init_p99_ns = ms_to_ns(f.init.p99_ms);
            row.cold_p50_ns = ms_to_ns(f.server_penalty.cold.p50_ms);
            row.warm_p50_ns = ms_to_ns(f.server_penalty.warm.p50_ms);
            row.penalty_ns = f.server_penalty.delta_p50_ms.map(ms_to_ns);
        }
        row.instances = instances.len();
        row.invocations += f.invocations as u64;
        row.cold += f.cold as u64;
        row.on_critical_path += f.on_critical_path as u64;
    }
    let mut worst: FxHashMap<Sym, (f64, f64, Evidence)> = FxHashMap::default();
    for s in &starts {
        let key = (s.cold_cp_ms, s.init_ms);
        let ev = Evidence {
            trace_id: s.trace_id,
            span_id: s.invocation_span_id,
        };
        let w = worst.entry(s.function).or_insert((key.0, key.1, ev));
        if key > (w.0, w.1) {
            *w = (key.0, key.1, ev);
        }
    }
    for (function, row) in rows.iter_mut() {
        row.worst = worst.get(function).map(|w| w.2);
        // Memory size is a resource attribute: read it from any held invocation span.
        row.memory_mb = invs
            .iter()
            .filter(|i| i.function == *function)
            .find_map(|i| {
                let t = snapshot.traces.get(*index.get(&i.trace_id)?)?;
                t.span(i.span_id)?
                    .resource
                    .attr("faas.max_memory")
                    .and_then(AnyValue::as_i64)
            })
            .map(|b| b / (1024 * 1024));
    }
    rows.into_values().collect()
}

fn fanout_rows(all: &[&TraceFindings]) -> Vec<FanoutRow> {
    let mut rows: FxHashMap<(FanoutKind, Sym, Sym, String), FanoutRow> = FxHashMap::default();
    let mut record = |kind, service, parent, target: String, degree: f64, cost_ms: f64, ev| {
        let row = rows
            .entry((kind, service, parent, target.clone()))
            .or_insert_with(|| FanoutRow {
                kind,
                service,
                parent,
                target,
                occurrences: 0,
                max_degree: 0.0,
                degree_sum: 0.0,
                cost_ns: 0,
                worst: ev,
                worst_cost: f64::MIN,
            });
        row.occurrences += 1;
        row.max_degree = row.max_degree.max(degree);
        row.degree_sum += degree;
        row.cost_ns += ms_to_ns(cost_ms);
        if cost_ms > row.worst_cost {
            row.worst_cost = cost_ms;
            row.worst = ev;
        }
    };
    for f in all {
        for x in &f.fanouts {
            let (kind, target) = match x.kind {
                FanOutKind::NPlusOne => (
                    FanoutKind::NPlus1,
                    x.target_operations.first().map_or_else(
                        || x.signature.clone().unwrap_or_default(),
                        |o| o.to_string(),
                    ),
                ),
                // A repeated sequence of calls is an N+1 loop over several operations.
                FanOutKind::MnPlusOne => (FanoutKind::NPlus1, x.pattern.join(" → ")),
                FanOutKind::Parallel => {
                    let mut t: Vec<&str> = x.target_services.iter().map(|s| s.as_str()).collect();
                    t.sort_unstable();
                    t.dedup();
                    (FanoutKind::Parallel, t.join(","))
                }
            };
            let ev = Evidence {
                trace_id: f.trace_id,
                span_id: x.parent_span_id,
            };
            record(
                kind,
                x.parent_service,
                x.parent_name,
                target,
                x.degree as f64,
                x.cp_ms,
                ev,
            );
        }
        let Some(root) = &f.root else { continue };
        for c in &f.chains {
            let path: Vec<&str> = c.services.iter().map(|s| s.as_str()).collect();
            let Some(&first) = c.services.first() else {
                continue;
            };
            let ev = Evidence {
                trace_id: f.trace_id,
                span_id: root.span_id,
            };
            record(
                FanoutKind::Chain,
                first,
                root.name,
                path.join("→"),
                c.amplification,
                c.cp_ms,
                ev,
            );
        }
    }
    rows.into_values().collect()
}

/// One edge operation's client/server gaps: calls, gap and client time, the widest gap.
#[derive(Default)]
struct GapAcc {
    calls: u64,
    gap_ns: u64,
    client_ns: u64,
    widest: Option<(u64, Evidence)>,
}

fn hotspot_rows(all: &[&TraceFindings], engine: &Engine) -> Vec<HotspotRow> {
    // Evidence for each operation: the trace where it held the critical path longest.
    let mut cp_worst: FxHashMap<(Sym, Sym), (u64, Evidence)> = FxHashMap::default();
    let mut gaps: FxHashMap<(Sym, Sym, Sym), GapAcc> = FxHashMap::default();
    for f in all {
        for p in &f.critical_path {
            for s in &p.sections {
                let len = s.end_ns.saturating_sub(s.start_ns);
                let e = cp_worst.entry((s.service, s.name)).or_insert((
                    0,
                    Evidence {
                        trace_id: f.trace_id,
                        span_id: s.span_id,
                    },
                ));
                if len > e.0 {
                    *e = (
                        len,
                        Evidence {
                            trace_id: f.trace_id,
                            span_id: s.span_id,
                        },
                    );
                }
            }
        }
        for c in &f.calls {
            let (Some(gap), CallKind::Rpc) = (c.gap_ns, c.kind) else {
                continue;
            };
            let gap = gap.max(0) as u64;
            let e = gaps.entry((c.caller, c.callee, c.operation)).or_default();
            e.calls += 1;
            e.gap_ns += gap;
            e.client_ns += c.client_ns;
            let ev = Evidence {
                trace_id: f.trace_id,
                span_id: c.client_span,
            };
            if e.widest.is_none_or(|(g, _)| gap > g) {
                e.widest = Some((gap, ev));
            }
        }
    }
    let mut rows: Vec<HotspotRow> = engine
        .aggregates()
        .hotspots
        .operations()
        .into_iter()
        .map(|h| HotspotRow {
            kind: HotspotKind::CriticalPath,
            service: h.service,
            callee: None,
            operation: h.operation,
            count: h.occurrence as u64,
            total_ns: ms_to_ns(h.cp_total_ms),
            share: h.cp_share,
            worst: cp_worst.get(&(h.service, h.operation)).map(|w| w.1),
        })
        .collect();
    rows.extend(
        gaps.into_iter()
            .map(|((caller, callee, op), g)| HotspotRow {
                kind: HotspotKind::EdgeGap,
                service: caller,
                callee: Some(callee),
                operation: op,
                count: g.calls,
                total_ns: g.gap_ns,
                share: g.gap_ns as f64 / g.client_ns.max(1) as f64,
                worst: g.widest.map(|w| w.1),
            }),
    );
    rows
}

fn map_rows(all: &[&TraceFindings], engine: &Engine) -> Vec<MapEdge> {
    let mut worst: FxHashMap<(Sym, Sym), (i64, Evidence)> = FxHashMap::default();
    for f in all {
        for c in &f.calls {
            let gap = c.gap_ns.unwrap_or(0);
            let ev = Evidence {
                trace_id: f.trace_id,
                span_id: c.client_span,
            };
            let e = worst.entry((c.caller, c.callee)).or_insert((gap, ev));
            if gap > e.0 {
                *e = (gap, ev);
            }
        }
    }
    engine
        .aggregates()
        .service_map
        .rows()
        .into_iter()
        .map(|r| MapEdge {
            caller: r.caller,
            callee: r.callee,
            kind: match r.kind {
                CallKind::Rpc => "rpc",
                CallKind::Messaging => "messaging",
                CallKind::Database => "database",
                CallKind::External => "external",
            },
            calls: r.calls as u64,
            errors: r.errors as u64,
            p50_ns: ms_to_ns(r.client.p50_ms),
            p99_ns: ms_to_ns(r.client.p99_ms),
            worst: worst.get(&(r.caller, r.callee)).map(|w| w.1),
        })
        .collect()
}

/// Spans on the trace's critical path, as the analysis found it.
pub fn critical_path(f: Option<&TraceFindings>) -> FxHashSet<SpanId> {
    f.into_iter()
        .flat_map(|f| f.critical_path.iter())
        .flat_map(|p| p.sections.iter().map(|s| s.span_id))
        .collect()
}
