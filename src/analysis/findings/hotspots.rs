//! Where the time goes across traces: critical-path hotspots by operation, endpoint and edge,
//! the path's coverage of the traces' extent, and the worst trace behind each row.

use super::*;

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

/// Below this share of its extent explained, a trace's path gets a warning.
pub const LOW_COVERAGE: f64 = 0.5;

pub(super) fn coverage(all: &[&std::sync::Arc<TraceFindings>], top: usize) -> Coverage {
    let (path, extent) = all.iter().fold((0u64, 0u64), |(p, e), f| {
        (p + f.cp_total_ns, e + f.duration_ns)
    });
    let mut low: Vec<CoverageRow> = all
        .iter()
        .filter(|f| f.cp_coverage < LOW_COVERAGE)
        .map(|f| CoverageRow {
            trace_id: f.trace_id,
            root_service: f.root.as_ref().map(|r| r.service),
            root_name: f.root.as_ref().map(|r| r.name),
            duration_ns: f.duration_ns,
            cp_ns: f.cp_total_ns,
            coverage: f.cp_coverage,
        })
        .collect();
    low.sort_by(|a, b| {
        a.coverage
            .total_cmp(&b.coverage)
            .then(b.duration_ns.cmp(&a.duration_ns))
            .then(a.trace_id.cmp(&b.trace_id))
    });
    Coverage {
        low_below: LOW_COVERAGE,
        low_traces: low.len(),
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

/// Names, for each hotspot operation, the kept trace where it held the path longest, and in
/// it the operation's longest critical-path section.
pub(super) fn with_worst_traces(
    mut rows: Vec<Hotspot>,
    all: &[&std::sync::Arc<TraceFindings>],
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
        let Some(&(_, i)) = worst.get(&(r.service, r.operation)) else {
            continue;
        };
        let f = all[i];
        r.worst_trace = Some(f.trace_id);
        r.worst_span_id = f
            .critical_path
            .iter()
            .flat_map(|p| &p.sections)
            .filter(|s| (s.service, s.name) == (r.service, r.operation))
            .max_by_key(|s| s.end_ns.saturating_sub(s.start_ns))
            .map(|s| s.span_id);
    }
    rows
}

/// Names, for each edge, the kept call with the largest client-vs-server gap.
pub(super) fn attach_gap_evidence(rows: &mut [EdgeRow], all: &[&std::sync::Arc<TraceFindings>]) {
    let mut worst: FxHashMap<(Sym, Sym, CallKind), GapEvidence> = FxHashMap::default();
    for f in all {
        for c in &f.calls {
            let Some(g) = c.gap_ns.filter(|&g| g >= 0) else {
                continue;
            };
            let gap_ns = g;
            let w = worst
                .entry((c.caller, c.callee, c.kind))
                .or_insert(GapEvidence {
                    trace_id: f.trace_id,
                    client_span_id: c.client_span,
                    gap_ns,
                });
            if gap_ns > w.gap_ns {
                *w = GapEvidence {
                    trace_id: f.trace_id,
                    client_span_id: c.client_span,
                    gap_ns,
                };
            }
        }
    }
    for r in rows {
        r.worst_gap = worst.remove(&(r.caller, r.callee, r.kind));
    }
}

/// CRISP top-down: the hotspot table of each endpoint over its own traces, busiest first.
pub(super) fn by_endpoint(
    all: &[&std::sync::Arc<TraceFindings>],
    top: usize,
) -> Vec<EndpointHotspots> {
    let mut per: BTreeMap<(Sym, Sym), (usize, crate::analysis::aggregate::hotspots::HotspotAgg)> =
        BTreeMap::new();
    for f in all {
        if let Some(r) = &f.root {
            let e = per.entry((r.service, r.name)).or_default();
            e.0 += 1;
            e.1.apply(&f.hotspots, true);
        }
    }
    let mut rows: Vec<EndpointHotspots> = per
        .into_iter()
        .map(|((service, operation), (traces, agg))| EndpointHotspots {
            service,
            operation,
            traces,
            operations: truncate(agg.operations(), top),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.traces
            .cmp(&a.traces)
            .then((a.service, a.operation).cmp(&(b.service, b.operation)))
    });
    rows
}
