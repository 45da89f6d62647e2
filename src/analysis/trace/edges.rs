//! Cross-service calls (ANALYSIS.md §3.2–3.3): a CLIENT/PRODUCER span matched to its
//! SERVER/CONSUMER children (`S.parent == C`, the Collector servicegraph rule), the gap the
//! callee's server span does not explain, and span links to producers in other traces.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{AnyValue, SpanId, SpanKind, Sym, TraceId};

use crate::analysis::trace::attrs::{self, first_str};
use crate::analysis::trace::errors;
use crate::analysis::trace::self_time::union_within;
use crate::analysis::trace::tree::TraceTree;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// A client span with an instrumented server span under it.
    Rpc,
    /// PRODUCER → CONSUMER in the same trace (non-blocking).
    Messaging,
    /// A client span with database attributes and no server span.
    Database,
    /// A client span to a named, uninstrumented peer (external API).
    External,
}

impl CallKind {
    /// The name reports and the TUI show (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Rpc => "rpc",
            CallKind::Messaging => "messaging",
            CallKind::Database => "database",
            CallKind::External => "external",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub client_span: SpanId,
    pub server_spans: Vec<SpanId>,
    pub caller: Sym,
    /// The server's service, or a virtual node named from the client's peer attributes.
    pub callee: Sym,
    pub operation: Sym,
    pub kind: CallKind,
    pub client_ns: u64,
    pub server_ns: Option<u64>,
    /// `dur(C) − dur(S)`: network, queueing, or an unseen cold start. Negative means the server
    /// outlived the client (async server, timeout, clock drift).
    pub gap_ns: Option<i64>,
    /// `S.start − C.start` and `C.end − S.end`; only when both are ≥ 0 (they are skew-sensitive).
    pub legs_ns: Option<(i64, i64)>,
    pub clock_skew_suspected: bool,
    pub error: bool,
    /// Critical-path time of the client span and everything under it: what this call cost
    /// the request.
    pub cp_ns: u64,
}

impl Call {
    pub fn server_outlives_client(&self) -> bool {
        self.gap_ns.is_some_and(|g| g < 0)
    }
}

/// A span link: `consumer` (in this trace) was caused by `(trace_id, span_id)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkRef {
    pub consumer_span: SpanId,
    pub consumer_service: Sym,
    pub consumer_name: Sym,
    pub consumer_start_ns: u64,
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

/// A PRODUCER span, kept so links from other traces can be resolved in either arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProducerRef {
    pub span_id: SpanId,
    pub service: Sym,
    pub name: Sym,
    pub end_ns: u64,
}

/// Every call made in the trace, in span order. `inclusive_cp` is the critical-path time of
/// each span's subtree (`critical_path::inclusive_cp`). A call nested under another call of
/// the same caller→callee edge (a retry wrapper, an HTTP client span around the library's own)
/// gets `cp_ns` 0: the enclosing call already holds that time, and the edge counts it once.
pub fn calls(tree: &TraceTree<'_>, inclusive_cp: &[u64]) -> Vec<Call> {
    let mut edge_of: Vec<Option<(Sym, Sym)>> = vec![None; tree.len()];
    let mut out = Vec::new();
    for c in 0..tree.len() {
        if let Some(call) = call_of(tree, c, inclusive_cp[c]) {
            edge_of[c] = Some((call.caller, call.callee));
            out.push((c, call));
        }
    }
    let nested = nested_in_same_edge(tree, &edge_of);
    for (c, call) in &mut out {
        if nested[*c] {
            call.cp_ns = 0;
        }
    }
    out.into_iter().map(|(_, call)| call).collect()
}

/// Whether each call has an ancestor call of the same edge: one walk down the tree counting,
/// per edge, the calls open between the root and the span (walking up from every call made a
/// 100,000-deep chain of calls quadratic).
fn nested_in_same_edge(tree: &TraceTree<'_>, edge_of: &[Option<(Sym, Sym)>]) -> Vec<bool> {
    let mut nested = vec![false; tree.len()];
    let mut open: FxHashMap<(Sym, Sym), u32> = FxHashMap::default();
    // (span, leaving): a call is popped a second time to close it once its subtree is done.
    let mut stack: Vec<(usize, bool)> = tree.roots.iter().rev().map(|&r| (r, false)).collect();
    while let Some((i, leaving)) = stack.pop() {
        let edge = edge_of[i];
        if leaving {
            if let Some(n) = edge.and_then(|e| open.get_mut(&e)) {
                *n -= 1;
            }
            continue;
        }
        if let Some(e) = edge {
            let n = open.entry(e).or_default();
            nested[i] = *n > 0;
            *n += 1;
            stack.push((i, true));
        }
        stack.extend(tree.children[i].iter().rev().map(|&c| (c, false)));
    }
    nested
}

fn call_of(tree: &TraceTree<'_>, c: usize, cp_ns: u64) -> Option<Call> {
    let span = tree.span(c);
    if !matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        return None;
    }
    let servers: Vec<usize> = tree.children[c]
        .iter()
        .copied()
        .filter(|&s| matches!(tree.span(s).kind, SpanKind::Server | SpanKind::Consumer))
        .collect();
    let client_ns = tree.dur(c);
    let base = |callee, kind, server_ns: Option<u64>| Call {
        client_span: span.span_id,
        server_spans: servers.iter().map(|&s| tree.span(s).span_id).collect(),
        caller: span.service(),
        callee,
        operation: span.name,
        kind,
        client_ns,
        server_ns,
        gap_ns: None,
        legs_ns: None,
        clock_skew_suspected: false,
        // The meaning the error origins and RED use (status, HTTP, gRPC, exception).
        error: errors::failed(tree, c) || servers.iter().any(|&s| errors::failed(tree, s)),
        cp_ns,
    };
    let Some(&first) = servers.first() else {
        let (callee, kind) = virtual_callee(tree, c)?;
        return Some(base(callee, kind, None));
    };
    let kind = if span.kind == SpanKind::Producer {
        CallKind::Messaging
    } else {
        CallKind::Rpc
    };
    let server_ns = if servers.len() == 1 {
        tree.dur(first)
    } else {
        // Retries or a fan-out proxy under one client span: time covered by any server.
        let mut iv: Vec<_> = servers
            .iter()
            .map(|&s| (tree.start(s), tree.end(s)))
            .collect();
        union_within(&mut iv, tree.start(c), tree.end(c))
    };
    let mut call = base(tree.service(first), kind, Some(server_ns));
    if kind == CallKind::Rpc {
        call.gap_ns = Some(client_ns as i64 - server_ns as i64);
        if servers.len() == 1 {
            let req = tree.start(first) as i64 - tree.start(c) as i64;
            let resp = tree.end(c) as i64 - tree.end(first) as i64;
            call.legs_ns = (req >= 0 && resp >= 0).then_some((req, resp));
            call.clock_skew_suspected = (req < 0 || resp < 0) && server_ns <= client_ns;
        }
    }
    Some(call)
}

/// Name of the uninstrumented peer of a client span, and what kind of peer it is.
fn virtual_callee(tree: &TraceTree<'_>, c: usize) -> Option<(Sym, CallKind)> {
    let s = tree.span(c);
    let db = first_str(s, &[attrs::DB_SYSTEM_NAME, attrs::DB_SYSTEM]);
    let kind = if db.is_some() {
        CallKind::Database
    } else if s.kind == SpanKind::Producer || s.attr(attrs::MESSAGING_SYSTEM).is_some() {
        CallKind::Messaging
    } else {
        CallKind::External
    };
    let name = first_str(
        s,
        &[
            attrs::SERVICE_PEER_NAME,
            attrs::PEER_SERVICE,
            attrs::DB_SYSTEM_NAME,
            attrs::DB_SYSTEM,
            attrs::MESSAGING_SYSTEM,
            attrs::SERVER_ADDRESS,
        ],
    )?;
    Some((Sym::new(name), kind))
}

/// Links carried by spans of the trace, and the trace's producer spans.
pub fn links_and_producers(tree: &TraceTree<'_>) -> (Vec<LinkRef>, Vec<ProducerRef>) {
    let mut links = Vec::new();
    let mut producers = Vec::new();
    for (i, s) in tree.trace.spans.iter().enumerate() {
        for l in s.links.iter() {
            links.push(LinkRef {
                consumer_span: s.span_id,
                consumer_service: s.service(),
                consumer_name: s.name,
                consumer_start_ns: tree.start(i),
                trace_id: l.trace_id,
                span_id: l.span_id,
            });
        }
        if s.kind == SpanKind::Producer {
            producers.push(ProducerRef {
                span_id: s.span_id,
                service: s.service(),
                name: s.name,
                end_ns: tree.end(i),
            });
        }
    }
    (links, producers)
}

/// `http.response.status_code` as a number, however the writer encoded it.
pub fn http_status(v: Option<&AnyValue>) -> Option<i64> {
    v.and_then(AnyValue::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::{MS, TraceBuilder};

    fn one_call(b: TraceBuilder) -> Call {
        let t = b.build();
        let tree = TraceTree::new(&t);
        let mut c = calls(&tree, &vec![0; tree.len()]);
        assert_eq!(c.len(), 1);
        c.remove(0)
    }

    #[test]
    fn nested_call_of_one_edge_is_counted_once() {
        // An HTTP client span naming its peer, wrapping the library's own client span: A → B
        // twice, one wait.
        let mut b = TraceBuilder::new();
        let outer = b
            .span("A", "GET")
            .kind(SpanKind::Client)
            .str_attr("peer.service", "B")
            .at(0, 100)
            .id();
        let inner = b
            .span("A", "HTTP GET")
            .kind(SpanKind::Client)
            .at(5, 95)
            .parent(outer)
            .id();
        b.span("B", "serve")
            .kind(SpanKind::Server)
            .at(10, 90)
            .parent(inner)
            .id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        let inclusive: Vec<u64> = (0..tree.len()).map(|i| tree.dur(i)).collect();
        let all = calls(&tree, &inclusive);
        let cp_of = |name: &str| {
            all.iter()
                .find(|c| c.operation.as_str() == name)
                .map(|c| (c.callee.as_str(), c.cp_ns))
        };
        assert_eq!(cp_of("GET"), Some(("B", 100 * MS)));
        assert_eq!(cp_of("HTTP GET"), Some(("B", 0)));
    }

    fn client_server(c: (u64, u64), s: (u64, u64)) -> TraceBuilder {
        let mut b = TraceBuilder::new();
        let cid = b
            .span("A", "call B")
            .kind(SpanKind::Client)
            .at(c.0, c.1)
            .id();
        b.span("B", "serve")
            .kind(SpanKind::Server)
            .at(s.0, s.1)
            .parent(cid)
            .id();
        b
    }

    #[test]
    fn e1_clean_edge_gap_and_legs() {
        let c = one_call(client_server((0, 100), (20, 90)));
        assert_eq!((c.caller.as_str(), c.callee.as_str()), ("A", "B"));
        assert_eq!(c.gap_ns, Some(30 * MS as i64));
        assert_eq!(c.legs_ns, Some((20 * MS as i64, 10 * MS as i64)));
        assert!(!c.clock_skew_suspected);
    }

    #[test]
    fn e2_clock_skew_keeps_gap_hides_legs() {
        let c = one_call(client_server((0, 100), (70, 140)));
        assert_eq!(c.gap_ns, Some(30 * MS as i64));
        assert_eq!(c.legs_ns, None);
        assert!(c.clock_skew_suspected);
    }

    #[test]
    fn e3_server_outliving_client_is_flagged() {
        let c = one_call(client_server((0, 10), (2, 40)));
        assert_eq!(c.gap_ns, Some(-28 * MS as i64));
        assert!(c.server_outlives_client());
        assert!(!c.clock_skew_suspected);
    }

    #[test]
    fn e4_database_call_goes_to_a_virtual_node() {
        let mut b = TraceBuilder::new();
        b.span("A", "SELECT")
            .kind(SpanKind::Client)
            .str_attr(attrs::DB_SYSTEM_NAME, "postgresql")
            .at(0, 12)
            .id();
        let c = one_call(b);
        assert_eq!(c.callee.as_str(), "postgresql");
        assert_eq!(c.kind, CallKind::Database);
        assert_eq!(c.gap_ns, None);
    }

    /// A call fails by the same marks as an error origin: here the server half answered 503
    /// and left its status unset.
    #[test]
    fn a_5xx_with_unset_status_is_a_failed_call() {
        let mut b = TraceBuilder::new();
        let c = b.span("A", "GET").kind(SpanKind::Client).at(0, 10).id();
        b.span("B", "GET /x")
            .kind(SpanKind::Server)
            .int_attr(attrs::HTTP_STATUS_CODE, 503)
            .at(1, 9)
            .parent(c)
            .id();
        assert!(one_call(b).error);
    }

    #[test]
    fn retries_under_one_client_use_the_union_of_servers() {
        let mut b = TraceBuilder::new();
        let cid = b.span("A", "c").kind(SpanKind::Client).at(0, 100).id();
        for (s, e) in [(10, 40), (30, 60)] {
            b.span("B", "s")
                .kind(SpanKind::Server)
                .at(s, e)
                .parent(cid)
                .id();
        }
        let c = one_call(b);
        assert_eq!(c.server_spans.len(), 2);
        assert_eq!(c.server_ns, Some(50 * MS));
        assert_eq!(c.gap_ns, Some(50 * MS as i64));
    }
}
