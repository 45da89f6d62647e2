//! Where the time goes across traces: critical-path hotspots by operation, endpoint and edge,
//! the path's coverage of the traces' extent, and the worst trace behind each row.

use super::*;
use crate::analysis::aggregate::evidence::{
    GapWorst, GoneTotals, RetiredEvidence, beats, longest_sections, order_of,
};
use crate::analysis::aggregate::folded::{FoldedLists, coverage_key};

#[derive(Debug, Clone, Serialize)]
pub struct Hotspots {
    /// Bottom-up: every trace.
    pub operations: Vec<Hotspot>,
    /// Top-down: per endpoint (root service and operation), its traces only.
    pub by_endpoint: Vec<EndpointHotspots>,
    pub call_paths: Vec<CallPathHotspot>,
    /// Caller→callee edges by the critical-path time of their calls (client span and all
    /// under it), across traces.
    pub edges_by_cp: Vec<EdgeCpRow>,
    /// Caller→callee edges with a server span, by mean client-vs-server gap.
    pub edges_by_gap_mean: Vec<EdgeRow>,
    pub edges_by_gap_total: Vec<EdgeRow>,
    /// Streams and detached work (`trace::background`), kept out of the tables above.
    pub background: Vec<BackgroundRow>,
    pub coverage: Coverage,
}

/// How much of each trace's extent its critical path explains (`TraceFindings::cp_coverage`).
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Coverage below this is low: the path explains too little of the trace to rank by it.
    pub low_below: f64,
    /// Kept traces with low coverage.
    pub low_traces: usize,
    /// Σ path time / Σ extent over kept traces (1 when none).
    pub overall: f64,
    /// Lowest coverage first.
    pub lowest: Vec<CoverageRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    pub trace_id: TraceId,
    pub root_service: Option<Sym>,
    pub root_name: Option<Sym>,
    #[serde(
        rename = "duration_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub duration_ns: u64,
    #[serde(
        rename = "cp_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_ns: u64,
    pub coverage: f64,
}

pub use crate::analysis::aggregate::lists::LOW_COVERAGE;

impl CoverageRow {
    pub fn of(f: &TraceFindings) -> Self {
        CoverageRow {
            trace_id: f.trace_id,
            root_service: f.root.as_ref().map(|r| r.service),
            root_name: f.root.as_ref().map(|r| r.name),
            duration_ns: f.duration_ns,
            cp_ns: f.cp_total_ns,
            coverage: f.cp_coverage,
        }
    }
}

/// Over the kept traces `all` and those retired that left (`gone`, and of low coverage among
/// them the lowest `folded` kept).
pub(super) fn coverage(
    all: &[&std::sync::Arc<TraceFindings>],
    gone: &GoneTotals,
    folded: &FoldedLists,
    top: usize,
) -> Coverage {
    let start = (gone.cp_total_ns, gone.duration_ns);
    let (path, extent) = all
        .iter()
        .fold(start, |(p, e), f| (p + f.cp_total_ns, e + f.duration_ns));
    let mut low: Vec<CoverageRow> = all
        .iter()
        .filter(|f| f.cp_coverage < LOW_COVERAGE)
        .map(|f| CoverageRow::of(f))
        .collect();
    let low_traces = low.len() + folded.low_coverage;
    low.extend(folded.lowest().map(|(_, r)| r.clone()));
    low.sort_by_key(coverage_key);
    Coverage {
        low_below: LOW_COVERAGE,
        low_traces,
        overall: if extent == 0 {
            1.0
        } else {
            path as f64 / extent as f64
        },
        lowest: truncate(low, top),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EdgeCpRow {
    pub caller: Sym,
    pub callee: Sym,
    pub kind: CallKind,
    pub calls: usize,
    #[serde(
        rename = "cp_total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_total_ns: u64,
    pub cp_share: f64,
    #[serde(
        rename = "gap_mean_ms",
        serialize_with = "crate::analysis::aggregate::stats::opt_ns_as_ms"
    )]
    pub gap_mean_ns: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointHotspots {
    pub service: Sym,
    pub operation: Sym,
    pub traces: usize,
    pub operations: Vec<Hotspot>,
}

impl Hotspot {
    pub fn evidence(&self) -> Option<SpanRef> {
        Some(SpanRef::new(self.worst_trace?, self.worst_span_id?))
    }
}

impl EdgeRow {
    /// The kept call with the largest client-vs-server gap.
    pub fn evidence(&self) -> Option<SpanRef> {
        self.worst_gap
            .as_ref()
            .map(|g| SpanRef::new(g.trace_id, g.client_span_id))
    }
}

/// Names, for each hotspot operation, the trace where it held the path longest (among the
/// kept traces `all` and the retired ones' folded worst), and in it the operation's longest
/// critical-path section.
pub(super) fn with_worst_traces(
    mut rows: Vec<Hotspot>,
    all: &[&std::sync::Arc<TraceFindings>],
    retired: &RetiredEvidence,
) -> Vec<Hotspot> {
    let mut worst: FxHashMap<(Sym, Sym), (u64, usize)> = FxHashMap::default();
    for (i, f) in all.iter().enumerate() {
        for &(k, ns) in &f.hotspots.cp_by_op {
            let w = worst.entry(k).or_insert((ns, i));
            if ns > w.0 {
                *w = (ns, i);
            }
        }
    }
    for r in &mut rows {
        let key = (r.service, r.operation);
        let held = worst.get(&key).map(|&(ns, i)| (ns, all[i]));
        let folded = retired.ops.get(&key);
        match (held, folded) {
            (Some((ns, f)), w) if w.is_none_or(|w| beats(ns, order_of(f), w.cp_ns, w.at)) => {
                r.worst_trace = Some(f.trace_id);
                r.worst_span_id = longest_sections(f).get(&key).map(|&(_, id)| id);
            }
            (_, Some(w)) => {
                r.worst_trace = Some(w.at.1);
                r.worst_span_id = w.span_id;
            }
            (_, None) => {}
        }
    }
    rows
}

/// Names, for each edge, the call with the largest client-vs-server gap, among the kept
/// traces `all` and the retired ones' folded worst.
pub(super) fn attach_gap_evidence(
    rows: &mut [EdgeRow],
    all: &[&std::sync::Arc<TraceFindings>],
    retired: &RetiredEvidence,
) {
    let mut worst = RetiredEvidence::default();
    for f in all {
        worst.fold_gaps(f);
    }
    for r in rows {
        let key = (r.caller, r.callee, r.kind);
        let best = match (worst.gaps.get(&key), retired.gaps.get(&key)) {
            (Some(h), Some(w)) => Some(if beats(h.gap_ns, h.at, w.gap_ns, w.at) {
                h
            } else {
                w
            }),
            (h, w) => h.or(w),
        };
        r.worst_gap = best.map(GapWorst::evidence);
    }
}

/// CRISP top-down: the hotspot table of each endpoint over its own traces, busiest first.
pub(super) fn by_endpoint(agg: &Aggregates, top: usize) -> Vec<EndpointHotspots> {
    let mut rows: Vec<EndpointHotspots> = agg
        .endpoints
        .iter()
        .map(|(&(service, operation), e)| EndpointHotspots {
            service,
            operation,
            traces: e.traces,
            operations: truncate(e.hotspots.operations(), top),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.traces
            .cmp(&a.traces)
            .then((a.service, a.operation).cmp(&(b.service, b.operation)))
    });
    rows
}
