//! What the views show, derived from one store snapshot: per-service, per-function, per-edge
//! and per-trace rows, each finding carrying its evidence (trace id, span id) so Enter can jump
//! to it. Built off the render path (once per snapshot, at most once a second) and shared as an
//! `Arc`, so a frame costs the same whatever the ingest rate.
//!
//! These are the views' own summaries of what the store holds: a span marked
//! `faas.coldstart`, CLIENT calls repeated one after another, CLIENT calls in flight together,
//! client/server time on an edge. When `crate::analysis` publishes findings, they replace the
//! derivations here row for row.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{AnyValue, Span, SpanId, SpanKind, Sym, TraceId};
use crate::store::{StoreSnapshot, Trace};

pub const INIT_SPAN_NAME: &str = "Initialization";
/// Repeated sequential calls to one operation from one parent count as an N+1 from this many.
pub const NPLUS1_MIN: usize = 3;
/// Calls in flight together from one parent count as a parallel fan-out from this many.
pub const FANOUT_MIN: usize = 3;

/// A finding's evidence: where to look in the Trace view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    pub trace_id: TraceId,
    pub span_id: SpanId,
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
    pub spans: u64,
    /// Entry spans (SERVER, CONSUMER or roots): the requests the service handled.
    pub requests: u64,
    pub errors: u64,
    pub rate_per_s: f64,
    pub p50_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
    pub invocations: u64,
    pub cold_starts: u64,
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
    /// The slowest cold invocation held.
    pub worst: Option<Evidence>,
}

impl ColdStartRow {
    pub fn penalty_ns(&self) -> u64 {
        self.cold_p50_ns.saturating_sub(self.warm_p50_ns)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FanoutKind {
    NPlus1,
    Parallel,
}

#[derive(Debug, Clone)]
pub struct FanoutRow {
    pub kind: FanoutKind,
    pub service: Sym,
    pub parent: Sym,
    /// The repeated operation (N+1) or the services called at once (parallel).
    pub target: String,
    pub occurrences: u64,
    pub max_degree: usize,
    pub degree_sum: u64,
    /// Time spent in the calls (N+1) or waiting for the slowest of them (parallel).
    pub cost_ns: u64,
    pub worst: Evidence,
    worst_cost: u64,
}

impl FanoutRow {
    pub fn mean_degree(&self) -> f64 {
        self.degree_sum as f64 / self.occurrences.max(1) as f64
    }
}

#[derive(Debug, Clone)]
pub struct EdgeRow {
    pub caller: Sym,
    pub callee: Sym,
    pub operation: Sym,
    pub calls: u64,
    pub errors: u64,
    pub client_ns: u64,
    pub server_ns: u64,
    /// Client time outside the server span (network, queues, proxies), summed.
    pub gap_ns: u64,
    pub p50_ns: u64,
    pub worst: Evidence,
    worst_gap: u64,
}

impl EdgeRow {
    pub fn gap_mean_ns(&self) -> u64 {
        self.gap_ns / self.calls.max(1)
    }
}

/// One service-to-service edge summed over operations, for the Map.
#[derive(Debug, Clone)]
pub struct MapEdge {
    pub caller: Sym,
    pub callee: Sym,
    pub calls: u64,
    pub errors: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// An example call: the one with the largest client/server gap.
    pub worst: Evidence,
}

#[derive(Debug, Clone, Default)]
pub struct ViewData {
    pub snapshot: StoreSnapshot,
    /// The data clock: the latest span end held. Views measure "ago" from it, never from the
    /// wall clock, so replays and snapshot tests render the same frame every time.
    pub clock_ns: u64,
    pub first_ns: u64,
    index: FxHashMap<TraceId, usize>,
    pub traces: Vec<TraceRow>,
    pub services: Vec<ServiceRow>,
    pub cold_starts: Vec<ColdStartRow>,
    pub fanouts: Vec<FanoutRow>,
    pub edges: Vec<EdgeRow>,
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

    /// Spans in other traces that link to `span` (consumers of a message it produced).
    pub fn linked_from(&self, trace_id: TraceId, span_id: SpanId) -> Vec<Evidence> {
        self.snapshot
            .traces
            .iter()
            .filter(|t| t.trace_id != trace_id)
            .flat_map(|t| t.spans.iter())
            .filter(|s| {
                s.links
                    .iter()
                    .any(|l| l.trace_id == trace_id && l.span_id == span_id)
            })
            .map(|s| Evidence {
                trace_id: s.trace_id,
                span_id: s.span_id,
            })
            .collect()
    }

    pub fn build(snapshot: StoreSnapshot) -> ViewData {
        let mut b = Builder::default();
        let mut traces = Vec::with_capacity(snapshot.traces.len());
        let mut index = FxHashMap::default();
        for (i, t) in snapshot.traces.iter().enumerate() {
            index.insert(t.trace_id, i);
            traces.push(b.trace(t));
        }
        let clock_ns = traces.iter().map(|t| t.end_ns).max().unwrap_or(0);
        let first_ns = traces.iter().map(|t| t.start_ns).min().unwrap_or(0);
        let window_s = (clock_ns.saturating_sub(first_ns) as f64 / 1e9).max(1.0);
        ViewData {
            services: b.services(window_s),
            cold_starts: b.cold_starts(),
            fanouts: b.fanouts.into_values().collect(),
            map: map_edges(&b.edges),
            edges: b.edges.into_values().map(|(row, _)| row).collect(),
            snapshot,
            clock_ns,
            first_ns,
            index,
            traces,
        }
    }
}

#[derive(Default)]
struct ServiceAcc {
    spans: u64,
    errors: u64,
    durations: Vec<u64>,
    invocations: u64,
    cold: u64,
}

#[derive(Default)]
struct FunctionAcc {
    memory_mb: Option<i64>,
    instances: FxHashSet<Box<str>>,
    cold: Vec<u64>,
    warm: Vec<u64>,
    init: Vec<u64>,
    worst: Option<(u64, Evidence)>,
}

#[derive(Default)]
struct Builder {
    services: FxHashMap<Sym, ServiceAcc>,
    functions: FxHashMap<Sym, FunctionAcc>,
    fanouts: FxHashMap<(FanoutKind, Sym, Sym, String), FanoutRow>,
    edges: FxHashMap<(Sym, Sym, Sym), (EdgeRow, Vec<u64>)>,
}

fn is_faas(span: &Span) -> bool {
    let r = &span.resource;
    r.attr("faas.name").is_some()
        || r.attr("cloud.platform")
            .and_then(AnyValue::as_str)
            .is_some_and(|p| p == "aws_lambda" || p.contains("function"))
}

fn is_entry(span: &Span) -> bool {
    matches!(span.kind, SpanKind::Server | SpanKind::Consumer) || span.parent_span_id.is_none()
}

impl Builder {
    fn trace(&mut self, t: &Trace) -> TraceRow {
        let pos: FxHashMap<SpanId, usize> = t
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); t.spans.len()];
        for (i, s) in t.spans.iter().enumerate() {
            if let Some(&p) = s.parent_span_id.and_then(|p| pos.get(&p)) {
                children[p].push(i);
            }
        }
        let mut services = FxHashSet::default();
        let mut row = TraceRow {
            trace_id: t.trace_id,
            root_service: Sym::new(crate::model::UNKNOWN_SERVICE),
            root_name: Sym::new(""),
            start_ns: t.start_ns(),
            end_ns: t.end_ns(),
            spans: t.spans.len(),
            services: 0,
            errors: 0,
            cold_starts: 0,
            nplus1: false,
            fanout: false,
            orphans: t.orphans.len(),
            links: 0,
        };
        let root = t
            .roots()
            .next()
            .or_else(|| t.spans.iter().find(|s| t.orphans.contains(&s.span_id)))
            .or(t.spans.first());
        if let Some(r) = root {
            row.root_service = r.service();
            row.root_name = r.name;
        }
        for (i, s) in t.spans.iter().enumerate() {
            services.insert(s.service());
            row.links += s.links.len();
            let acc = self.services.entry(s.service()).or_default();
            acc.spans += 1;
            if s.is_error() {
                row.errors += 1;
            }
            if is_entry(s) {
                acc.durations.push(s.duration_ns());
                if s.is_error() {
                    acc.errors += 1;
                }
                if is_faas(s) {
                    let cold = s.attr("faas.coldstart").and_then(AnyValue::as_bool) == Some(true);
                    acc.invocations += 1;
                    if cold {
                        acc.cold += 1;
                        row.cold_starts += 1;
                    }
                    self.invocation(t, s, cold, &children[i]);
                }
            }
            if s.kind == SpanKind::Client {
                self.edge(t, s, &children[i]);
            }
            let (n1, par) = self.fanout(t, s, &children[i]);
            row.nplus1 |= n1;
            row.fanout |= par;
        }
        row.services = services.len();
        row
    }

    fn invocation(&mut self, t: &Trace, s: &Span, cold: bool, kids: &[usize]) {
        let name = s
            .resource
            .attr("faas.name")
            .and_then(AnyValue::as_str)
            .map_or(s.service(), Sym::new);
        let f = self.functions.entry(name).or_default();
        if f.memory_mb.is_none() {
            f.memory_mb = s
                .resource
                .attr("faas.max_memory")
                .and_then(AnyValue::as_i64)
                .map(|b| b / (1024 * 1024));
        }
        if let Some(inst) = s.resource.attr("faas.instance").and_then(AnyValue::as_str)
            && !f.instances.contains(inst)
        {
            f.instances.insert(inst.into());
        }
        let d = s.duration_ns();
        if cold {
            f.cold.push(d);
            if let Some(init) = kids
                .iter()
                .map(|&k| &t.spans[k])
                .find(|k| k.name.as_str() == INIT_SPAN_NAME)
            {
                f.init.push(init.duration_ns());
            }
            if f.worst.is_none_or(|(w, _)| d > w) {
                f.worst = Some((
                    d,
                    Evidence {
                        trace_id: t.trace_id,
                        span_id: s.span_id,
                    },
                ));
            }
        } else {
            f.warm.push(d);
        }
    }

    fn edge(&mut self, t: &Trace, client: &Span, kids: &[usize]) {
        let server = kids
            .iter()
            .map(|&k| &t.spans[k])
            .find(|k| matches!(k.kind, SpanKind::Server | SpanKind::Consumer));
        let callee = match server {
            Some(s) => s.service(),
            None => match client.attr("peer.service").and_then(AnyValue::as_str) {
                Some(p) => Sym::new(p),
                None => match client.attr("db.system").and_then(AnyValue::as_str) {
                    Some(db) => Sym::new(db),
                    None => return,
                },
            },
        };
        if callee == client.service() && server.is_none() {
            return;
        }
        let gap = server.map_or(0, |s| client.duration_ns().saturating_sub(s.duration_ns()));
        let evidence = Evidence {
            trace_id: t.trace_id,
            span_id: client.span_id,
        };
        let (row, durations) = self
            .edges
            .entry((client.service(), callee, client.name))
            .or_insert_with(|| {
                (
                    EdgeRow {
                        caller: client.service(),
                        callee,
                        operation: client.name,
                        calls: 0,
                        errors: 0,
                        client_ns: 0,
                        server_ns: 0,
                        gap_ns: 0,
                        p50_ns: 0,
                        worst: evidence,
                        worst_gap: 0,
                    },
                    Vec::new(),
                )
            });
        row.calls += 1;
        row.errors += u64::from(client.is_error());
        row.client_ns += client.duration_ns();
        row.server_ns += server.map_or(0, Span::duration_ns);
        row.gap_ns += gap;
        if gap > row.worst_gap {
            row.worst_gap = gap;
            row.worst = evidence;
        }
        durations.push(client.duration_ns());
    }

    /// N+1: at least `NPLUS1_MIN` CLIENT children with one name, each starting after the
    /// previous ended. Parallel: at least `FANOUT_MIN` CLIENT children in flight at one instant.
    fn fanout(&mut self, t: &Trace, parent: &Span, kids: &[usize]) -> (bool, bool) {
        let mut calls: Vec<&Span> = kids
            .iter()
            .map(|&k| &t.spans[k])
            .filter(|k| k.kind == SpanKind::Client)
            .collect();
        if calls.len() < NPLUS1_MIN.min(FANOUT_MIN) {
            return (false, false);
        }
        calls.sort_by_key(|c| (c.start_ns, c.span_id));
        let mut found_n1 = false;
        let mut by_name: FxHashMap<Sym, Vec<&Span>> = FxHashMap::default();
        for c in &calls {
            by_name.entry(c.name).or_default().push(c);
        }
        for (name, group) in by_name {
            let sequential = group.windows(2).all(|w| w[0].end_ns <= w[1].start_ns);
            if group.len() >= NPLUS1_MIN && sequential {
                found_n1 = true;
                let cost = group.iter().map(|c| c.duration_ns()).sum();
                self.record_fanout(
                    FanoutKind::NPlus1,
                    t,
                    parent,
                    name.as_str().to_owned(),
                    group.len(),
                    cost,
                );
            }
        }
        // Sweep: the most calls in flight at once, and who they were.
        let mut best: &[&Span] = &[];
        for (i, c) in calls.iter().enumerate() {
            let overlapping = calls[i..]
                .iter()
                .take_while(|o| o.start_ns < c.end_ns)
                .count();
            if overlapping > best.len() {
                best = &calls[i..i + overlapping];
            }
        }
        let found_par = best.len() >= FANOUT_MIN;
        if found_par {
            let mut targets: Vec<&str> = best
                .iter()
                .map(|c| {
                    c.attr("peer.service")
                        .and_then(AnyValue::as_str)
                        .unwrap_or(c.name.as_str())
                })
                .collect();
            targets.sort_unstable();
            targets.dedup();
            let start = best.iter().map(|c| c.start_ns).min().unwrap_or(0);
            let end = best.iter().map(|c| c.end_ns).max().unwrap_or(0);
            self.record_fanout(
                FanoutKind::Parallel,
                t,
                parent,
                targets.join(","),
                best.len(),
                end.saturating_sub(start),
            );
        }
        (found_n1, found_par)
    }

    fn record_fanout(
        &mut self,
        kind: FanoutKind,
        t: &Trace,
        parent: &Span,
        target: String,
        degree: usize,
        cost: u64,
    ) {
        let evidence = Evidence {
            trace_id: t.trace_id,
            span_id: parent.span_id,
        };
        let row = self
            .fanouts
            .entry((kind, parent.service(), parent.name, target.clone()))
            .or_insert_with(|| FanoutRow {
                kind,
                service: parent.service(),
                parent: parent.name,
                target,
                occurrences: 0,
                max_degree: 0,
                degree_sum: 0,
                cost_ns: 0,
                worst: evidence,
                worst_cost: 0,
            });
        row.occurrences += 1;
        row.max_degree = row.max_degree.max(degree);
        row.degree_sum += degree as u64;
        row.cost_ns += cost;
        if cost > row.worst_cost {
            row.worst_cost = cost;
            row.worst = evidence;
        }
    }

    fn services(&mut self, window_s: f64) -> Vec<ServiceRow> {
        self.services
            .iter_mut()
            .map(|(&service, acc)| {
                acc.durations.sort_unstable();
                let requests = acc.durations.len() as u64;
                ServiceRow {
                    service,
                    spans: acc.spans,
                    requests,
                    errors: acc.errors,
                    rate_per_s: requests as f64 / window_s,
                    p50_ns: percentile(&acc.durations, 0.50),
                    p95_ns: percentile(&acc.durations, 0.95),
                    p99_ns: percentile(&acc.durations, 0.99),
                    invocations: acc.invocations,
                    cold_starts: acc.cold,
                }
            })
            .collect()
    }

    fn cold_starts(&mut self) -> Vec<ColdStartRow> {
        self.functions
            .iter_mut()
            .map(|(&function, f)| {
                f.cold.sort_unstable();
                f.warm.sort_unstable();
                f.init.sort_unstable();
                ColdStartRow {
                    function,
                    memory_mb: f.memory_mb,
                    instances: f.instances.len(),
                    invocations: (f.cold.len() + f.warm.len()) as u64,
                    cold: f.cold.len() as u64,
                    init_p50_ns: percentile(&f.init, 0.50),
                    init_p99_ns: percentile(&f.init, 0.99),
                    cold_p50_ns: percentile(&f.cold, 0.50),
                    warm_p50_ns: percentile(&f.warm, 0.50),
                    worst: f.worst.map(|(_, e)| e),
                }
            })
            .collect()
    }
}

#[derive(Default)]
struct MapAcc {
    calls: u64,
    errors: u64,
    durations: Vec<u64>,
    worst: Option<(u64, Evidence)>,
}

fn map_edges(edges: &FxHashMap<(Sym, Sym, Sym), (EdgeRow, Vec<u64>)>) -> Vec<MapEdge> {
    let mut by_pair: FxHashMap<(Sym, Sym), MapAcc> = FxHashMap::default();
    for ((caller, callee, _), (row, durations)) in edges {
        let e = by_pair.entry((*caller, *callee)).or_default();
        e.calls += row.calls;
        e.errors += row.errors;
        e.durations.extend_from_slice(durations);
        if e.worst.is_none_or(|(gap, _)| row.worst_gap > gap) {
            e.worst = Some((row.worst_gap, row.worst));
        }
    }
    by_pair
        .into_iter()
        .filter_map(|((caller, callee), mut acc)| {
            acc.durations.sort_unstable();
            Some(MapEdge {
                caller,
                callee,
                calls: acc.calls,
                errors: acc.errors,
                p50_ns: percentile(&acc.durations, 0.50),
                p99_ns: percentile(&acc.durations, 0.99),
                worst: acc.worst?.1,
            })
        })
        .collect()
}

/// Linear-interpolated percentile of sorted values (numpy "linear"), 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    match sorted.len() {
        0 => 0,
        1 => sorted[0],
        n => {
            let k = (n - 1) as f64 * p;
            let lo = k.floor() as usize;
            let hi = k.ceil() as usize;
            let (a, b) = (sorted[lo] as f64, sorted[hi] as f64);
            (a + (b - a) * (k - lo as f64)) as u64
        }
    }
}

/// Spans on the critical path, Jaeger style: from the root's end, repeatedly descend into the
/// child that finished last before the current point, then continue before that child began.
pub fn critical_path(t: &Trace) -> FxHashSet<SpanId> {
    let pos: FxHashMap<SpanId, usize> = t
        .spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); t.spans.len()];
    for (i, s) in t.spans.iter().enumerate() {
        if let Some(&p) = s.parent_span_id.and_then(|p| pos.get(&p)) {
            children[p].push(i);
        }
    }
    let mut on_path = FxHashSet::default();
    let Some(root) = t
        .spans
        .iter()
        .position(|s| s.parent_span_id.is_none())
        .or_else(|| (!t.spans.is_empty()).then_some(0))
    else {
        return on_path;
    };
    // Explicit stack: (span, point in time to look back from); deep traces must not overflow.
    let mut stack = vec![(root, t.spans[root].end_ns)];
    while let Some((i, limit)) = stack.pop() {
        on_path.insert(t.spans[i].span_id);
        let mut cursor = limit.min(t.spans[i].end_ns);
        loop {
            let next = children[i]
                .iter()
                .copied()
                .filter(|&c| t.spans[c].start_ns < cursor)
                .max_by_key(|&c| (t.spans[c].end_ns.min(cursor), t.spans[c].start_ns));
            let Some(c) = next else { break };
            stack.push((c, cursor));
            cursor = t.spans[c].start_ns;
        }
    }
    on_path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates() {
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[10, 20, 30, 40], 0.5), 25);
        assert_eq!(percentile(&[10, 20, 30, 40], 0.99), 39);
    }
}
