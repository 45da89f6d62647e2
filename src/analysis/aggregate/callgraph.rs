//! Graphs: per trace, the span graph (child-of edges plus link edges between spans of the
//! trace) and the service call graph; across traces, the service map with per-edge call count,
//! error rate and latency percentiles (ANALYSIS.md §3.2 edge aggregation).

use std::collections::BTreeMap;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::graphmap::DiGraphMap;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{Sym, mem};

use crate::analysis::aggregate::stats::{Samples, Summary};
use crate::analysis::trace::edges::{Call, CallKind};
use crate::analysis::trace::tree::TraceTree;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanEdge {
    ChildOf,
    /// A span link to another span of the same trace (links to other traces are `LinkRef`s).
    Link,
}

/// Nodes are span positions in the trace.
pub fn span_graph(tree: &TraceTree<'_>) -> DiGraph<usize, SpanEdge> {
    let mut g = DiGraph::with_capacity(tree.len(), tree.len());
    let nodes: Vec<NodeIndex> = (0..tree.len()).map(|i| g.add_node(i)).collect();
    let mut by_id: FxHashMap<_, usize> = FxHashMap::default();
    for (i, s) in tree.trace.spans.iter().enumerate() {
        by_id.entry(s.span_id).or_insert(i);
    }
    for i in 0..tree.len() {
        if let Some(p) = tree.parent[i] {
            g.add_edge(nodes[p], nodes[i], SpanEdge::ChildOf);
        }
        for l in tree.span(i).links.iter() {
            if l.trace_id == tree.trace.trace_id
                && let Some(&src) = by_id.get(&l.span_id)
            {
                g.add_edge(nodes[src], nodes[i], SpanEdge::Link);
            }
        }
    }
    g
}

/// Service call graph of one trace: edge weight = number of calls.
pub fn service_graph(calls: &[Call]) -> DiGraphMap<Sym, usize> {
    let mut g = DiGraphMap::new();
    for c in calls {
        if let Some(w) = g.edge_weight_mut(c.caller, c.callee) {
            *w += 1;
        } else {
            g.add_edge(c.caller, c.callee, 1);
        }
    }
    g
}

/// Mergeable per-edge figures. Gap percentiles exclude negative gaps (server outlived client),
/// which are counted apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeAgg {
    pub calls: usize,
    pub errors: usize,
    pub operations: BTreeMap<Sym, usize>,
    pub client: Samples,
    pub server: Samples,
    pub gap: Samples,
    pub negative_gaps: usize,
    pub clock_skew_suspected: usize,
    /// Critical-path time of the calls (client span and everything under it).
    pub cp_ns: u64,
}

pub type EdgeKey = (Sym, Sym, CallKind);

/// The cross-trace service dependency map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceMap {
    pub edges: BTreeMap<EdgeKey, EdgeAgg>,
}

impl ServiceMap {
    /// Adds (`add = true`) or takes back one trace's calls.
    pub fn apply(&mut self, calls: &[Call], add: bool) {
        let count = |x: &mut usize| *x = if add { *x + 1 } else { x.saturating_sub(1) };
        let sample = |s: &mut Samples, v: i64| {
            if add {
                s.push(v);
            } else {
                s.remove(v);
            }
        };
        for c in calls {
            let e = self.edges.entry((c.caller, c.callee, c.kind)).or_default();
            count(&mut e.calls);
            if c.error {
                count(&mut e.errors);
            }
            count(e.operations.entry(c.operation).or_default());
            sample(&mut e.client, c.client_ns as i64);
            if let Some(s) = c.server_ns {
                sample(&mut e.server, s as i64);
            }
            match c.gap_ns {
                Some(g) if g >= 0 => sample(&mut e.gap, g),
                Some(_) => count(&mut e.negative_gaps),
                None => {}
            }
            if c.clock_skew_suspected {
                count(&mut e.clock_skew_suspected);
            }
            e.cp_ns = if add {
                e.cp_ns + c.cp_ns
            } else {
                e.cp_ns.saturating_sub(c.cp_ns)
            };
        }
        if !add {
            self.edges.retain(|_, e| e.calls > 0);
            for e in self.edges.values_mut() {
                e.operations.retain(|_, n| *n > 0);
            }
        }
    }

    /// Adds another instance's map: counts and sums exactly, latencies as `Samples::merge`.
    pub fn merge(&mut self, other: &ServiceMap) {
        for (k, o) in &other.edges {
            let e = self.edges.entry(*k).or_default();
            e.calls += o.calls;
            e.errors += o.errors;
            for (op, n) in &o.operations {
                *e.operations.entry(*op).or_default() += n;
            }
            e.client.merge(&o.client);
            e.server.merge(&o.server);
            e.gap.merge(&o.gap);
            e.negative_gaps += o.negative_gaps;
            e.clock_skew_suspected += o.clock_skew_suspected;
            e.cp_ns += o.cp_ns;
        }
    }

    /// Heap bytes held, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        mem::btree::<EdgeKey, EdgeAgg>(self.edges.len())
            + self
                .edges
                .values()
                .map(|e| {
                    mem::btree::<Sym, usize>(e.operations.len())
                        + e.client.heap_bytes()
                        + e.server.heap_bytes()
                        + e.gap.heap_bytes()
                })
                .sum::<usize>()
    }

    /// The map as a petgraph graph, for views that lay it out.
    pub fn graph(&self) -> DiGraphMap<Sym, usize> {
        let mut g = DiGraphMap::new();
        for (&(a, b, _), e) in &self.edges {
            let w = g.edge_weight(a, b).copied().unwrap_or(0) + e.calls;
            g.add_edge(a, b, w);
        }
        g
    }

    pub fn rows(&self) -> Vec<EdgeRow> {
        self.edges
            .iter()
            .map(|(&(caller, callee, kind), e)| EdgeRow {
                caller,
                callee,
                kind,
                calls: e.calls,
                errors: e.errors,
                error_rate: e.errors as f64 / e.calls.max(1) as f64,
                operations: e.operations.clone(),
                client: e.client.summary(),
                server: e.server.summary(),
                gap: e.gap.summary(),
                negative_gaps: e.negative_gaps,
                clock_skew_suspected: e.clock_skew_suspected,
                cp_total_ns: e.cp_ns,
                worst_gap: None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeRow {
    pub caller: Sym,
    pub callee: Sym,
    pub kind: CallKind,
    pub calls: usize,
    pub errors: usize,
    pub error_rate: f64,
    pub operations: BTreeMap<Sym, usize>,
    pub client: Summary,
    pub server: Summary,
    pub gap: Summary,
    pub negative_gaps: usize,
    pub clock_skew_suspected: usize,
    #[serde(
        rename = "cp_total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_total_ns: u64,
    /// Evidence: the kept call with the largest gap.
    pub worst_gap: Option<GapEvidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapEvidence {
    pub trace_id: crate::model::TraceId,
    pub client_span_id: crate::model::SpanId,
    #[serde(
        rename = "gap_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub gap_ns: i64,
}

/// An RPC edge with `calls` calls and nothing else, for the graph tests.
#[cfg(test)]
pub(crate) fn test_edge(caller: &str, callee: &str, calls: usize) -> EdgeRow {
    EdgeRow {
        caller: Sym::new(caller),
        callee: Sym::new(callee),
        kind: CallKind::Rpc,
        calls,
        errors: 0,
        error_rate: 0.0,
        operations: Default::default(),
        client: Samples::default().summary(),
        server: Samples::default().summary(),
        gap: Samples::default().summary(),
        negative_gaps: 0,
        clock_skew_suspected: 0,
        cp_total_ns: 0,
        worst_gap: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::edges::calls;
    use crate::analysis::trace::fixture::TraceBuilder;
    use crate::model::SpanKind;

    #[test]
    fn service_map_merges_and_takes_back_traces() {
        let mut traces = Vec::new();
        for (k, (c, s)) in [((0, 100), (20, 90)), ((0, 50), (10, 30))]
            .into_iter()
            .enumerate()
        {
            let mut b = TraceBuilder::with_trace_id(k as u128 + 1);
            let cid = b.span("A", "call").kind(SpanKind::Client).at(c.0, c.1).id();
            b.span("B", "serve")
                .kind(SpanKind::Server)
                .at(s.0, s.1)
                .parent(cid)
                .id();
            traces.push(b.build());
        }
        let per: Vec<Vec<Call>> = traces
            .iter()
            .map(|t| {
                let tree = TraceTree::new(t);
                calls(&tree, &vec![0; tree.len()])
            })
            .collect();
        let mut map = ServiceMap::default();
        for c in &per {
            map.apply(c, true);
        }
        let rows = map.rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].calls, 2);
        assert_eq!(rows[0].gap.mean_ns, 30_000_000);
        assert_eq!(
            map.graph().edge_weight(Sym::new("A"), Sym::new("B")),
            Some(&2)
        );
        map.apply(&per[1], false);
        assert_eq!(map.rows()[0].gap.n, 1);
        map.apply(&per[0], false);
        assert!(map.rows().is_empty());
    }

    #[test]
    fn span_graph_has_child_and_same_trace_link_edges() {
        let mut b = TraceBuilder::new();
        let tid = b.trace_id();
        let p = b
            .span("A", "produce")
            .kind(SpanKind::Producer)
            .at(0, 10)
            .id();
        b.span("A", "child").at(1, 2).parent(p).id();
        b.span("B", "consume")
            .kind(SpanKind::Consumer)
            .at(20, 30)
            .link(tid, p)
            .id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        let g = span_graph(&tree);
        let kinds: Vec<SpanEdge> = g.edge_weights().copied().collect();
        assert_eq!(kinds.iter().filter(|&&k| k == SpanEdge::ChildOf).count(), 1);
        assert_eq!(kinds.iter().filter(|&&k| k == SpanEdge::Link).count(), 1);
        assert_eq!(service_graph(&calls(&tree, &[0; 3])).edge_count(), 0);
    }
}
