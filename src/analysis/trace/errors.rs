//! Where errors started and how far they got. A span failed when its status is ERROR, or when
//! it carries a failure the instrumentation did not turn into a status: an HTTP 5xx
//! (`http.response.status_code`, or the older `http.status_code`; 4xx too on a CLIENT span),
//! a gRPC status the semantic conventions count as an error, or a recorded `exception` event. Engineers read a 500 as a failure whatever the
//! status field says, and a span in between that only carries the 500 must not split one
//! failure into an "absorbed" origin and a second one. An error tree is a connected set of
//! failed spans (each one's parent also failed, up to its top). Its origin is the deepest error span,
//! following at each step the error child with the longest error chain below it; the services
//! from the origin up to the top are the propagation. A tree whose top is a root reached the
//! user; otherwise the top's parent absorbed it.
//!
//! A timeout is often marked only on the span that gave up (a proxy's 504, a client's
//! DEADLINE_EXCEEDED), while the time went into a deeper span that was still running at that
//! moment and carries no failure of its own. For an origin that reads as a timeout the likely
//! locus is named: following, from the origin down, the child still running when its parent
//! gave up (the one that ran longest past it), the deepest such span, with its evidence.

use serde::Serialize;

use crate::model::{AnyValue, SpanId, SpanKind, Sym, TraceId};

use crate::analysis::trace::attrs;
use crate::analysis::trace::edges::http_status;
use crate::analysis::trace::tree::TraceTree;

/// A span of the trace being analysed, with what a reader needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpanLabel {
    pub span_id: SpanId,
    pub service: Sym,
    pub name: Sym,
    pub kind: SpanKind,
}

impl SpanLabel {
    pub fn of(tree: &TraceTree<'_>, i: usize) -> Self {
        let s = tree.span(i);
        SpanLabel {
            span_id: s.span_id,
            service: s.service(),
            name: s.name,
            kind: s.kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorOrigin {
    pub trace_id: TraceId,
    pub origin: SpanLabel,
    /// The highest span of the error tree.
    pub top: SpanLabel,
    pub error_span_count: usize,
    /// Services from the origin up to the top, consecutive repeats merged.
    pub propagation_services: Vec<Sym>,
    pub propagated_to_root: bool,
    /// The non-error span that swallowed the failure, when it did not reach the root.
    pub absorbed_by: Option<SpanLabel>,
    pub root_http_status: Option<i64>,
    /// For an origin that timed out: the deeper span still running when it gave up.
    pub timeout_locus: Option<TimeoutLocus>,
}

/// Where a timeout's time most likely went (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeoutLocus {
    pub span: SpanLabel,
    #[serde(
        rename = "duration_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub duration_ns: u64,
    /// How long the origin waited before giving up (its own duration).
    #[serde(
        rename = "gave_up_after_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub gave_up_after_ns: u64,
    /// How long the locus went on after the origin gave up (0 when it ended with it).
    #[serde(
        rename = "ran_on_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub ran_on_ns: u64,
    /// Spans recorded under the locus (0: nothing shows what it was waiting for).
    pub children: usize,
}

/// gRPC codes the semantic conventions mark as errors on a server span (UNKNOWN,
/// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS); client spans count
/// every non-OK code.
const GRPC_SERVER_ERRORS: [i64; 6] = [2, 4, 12, 13, 14, 15];

/// The span's HTTP response status, under either semantic-convention name.
pub fn http_status_of(tree: &TraceTree<'_>, i: usize) -> Option<i64> {
    let s = tree.span(i);
    http_status(s.attr(attrs::HTTP_STATUS_CODE))
        .or_else(|| http_status(s.attr(attrs::HTTP_STATUS_CODE_OLD)))
}

/// Whether span `i` failed (see the module doc).
pub fn failed(tree: &TraceTree<'_>, i: usize) -> bool {
    let s = tree.span(i);
    if s.is_error() {
        return true;
    }
    // HTTP semantic conventions: a server fails on 5xx; a client also on 4xx (its request
    // was refused), since a 4xx is the caller's failure, not the server's.
    let failing_http = if s.kind == SpanKind::Client {
        400..600
    } else {
        500..600
    };
    if http_status_of(tree, i).is_some_and(|c| failing_http.contains(&c)) {
        return true;
    }
    // An exception recorded on the span (`exception` event), whatever the status says.
    if s.events.iter().any(|e| e.name.as_ref() == "exception") {
        return true;
    }
    match s
        .attr(attrs::RPC_GRPC_STATUS_CODE)
        .and_then(AnyValue::as_i64)
    {
        Some(0) | None => false,
        Some(code) => s.kind != SpanKind::Server || GRPC_SERVER_ERRORS.contains(&code),
    }
}

/// Failed spans, plus the unmarked INTERNAL spans that sit between a failed span of their
/// service above and one below (a Go handler's helper span that returned the error without
/// setting a status): the failure passed through them, so they join the error tree.
fn failure_marks(tree: &TraceTree<'_>) -> Vec<bool> {
    let n = tree.len();
    let marked: Vec<bool> = (0..n).map(|i| failed(tree, i)).collect();
    let bridge = |i: usize, j: usize| {
        tree.span(i).kind == SpanKind::Internal && tree.service(i) == tree.service(j)
    };
    // A failure above, reached through internal spans of the same service.
    let mut above = marked.clone();
    for &i in &tree.preorder {
        if let Some(p) = tree.parent[i]
            && !above[i]
            && above[p]
            && bridge(i, p)
        {
            above[i] = true;
        }
    }
    // A failure below, reached the same way.
    let mut below = marked.clone();
    for &i in tree.preorder.iter().rev() {
        if !below[i] && tree.children[i].iter().any(|&c| below[c] && bridge(i, c)) {
            below[i] = true;
        }
    }
    (0..n)
        .map(|i| {
            marked[i]
                || (tree.span(i).kind == SpanKind::Internal
                    && tree.parent[i].is_some_and(|p| above[p] && bridge(i, p))
                    && below[i])
        })
        .collect()
}

pub fn error_origins(tree: &TraceTree<'_>) -> Vec<ErrorOrigin> {
    let marks = failure_marks(tree);
    let err = |i: usize| marks[i];
    // Longest chain of error spans starting at each span (0 for a non-error span).
    let mut height = vec![0u32; tree.len()];
    for &i in tree.preorder.iter().rev() {
        if err(i) {
            height[i] = 1 + tree.children[i]
                .iter()
                .map(|&c| height[c])
                .max()
                .unwrap_or(0);
        }
    }
    let root_status = tree.effective_root().and_then(|r| http_status_of(tree, r));
    let mut out = Vec::new();
    for &top in &tree.preorder {
        if !err(top) || tree.parent[top].is_some_and(err) {
            continue;
        }
        let mut path = vec![top];
        let mut cur = top;
        while let Some(next) = deepest_error_child(tree, &height, cur) {
            path.push(next);
            cur = next;
        }
        let mut services: Vec<Sym> = path.iter().rev().map(|&i| tree.service(i)).collect();
        services.dedup();
        out.push(ErrorOrigin {
            trace_id: tree.trace.trace_id,
            origin: SpanLabel::of(tree, cur),
            top: SpanLabel::of(tree, top),
            error_span_count: count_error_tree(tree, &marks, top),
            propagation_services: services,
            propagated_to_root: tree.parent[top].is_none(),
            absorbed_by: tree.parent[top].map(|p| SpanLabel::of(tree, p)),
            root_http_status: root_status,
            timeout_locus: timed_out(tree, cur)
                .then(|| timeout_locus(tree, &marks, cur))
                .flatten(),
        });
    }
    out
}

/// Words that status messages, exception events and `error.type` use for a timeout.
const TIMEOUT_WORDS: [&str; 4] = ["timeout", "timed out", "deadline", "time out"];

fn says_timeout(text: &str) -> bool {
    let t = text.to_lowercase();
    TIMEOUT_WORDS.iter().any(|w| t.contains(w))
}

/// Whether span `i` failed by giving up on time: gRPC DEADLINE_EXCEEDED, HTTP 408 or 504,
/// Envoy's upstream-timeout flag (`UT`), or a status message, `error.type` or exception event
/// that says so.
pub fn timed_out(tree: &TraceTree<'_>, i: usize) -> bool {
    let s = tree.span(i);
    let grpc = s
        .attr(attrs::RPC_GRPC_STATUS_CODE)
        .and_then(AnyValue::as_i64);
    if grpc == Some(4) || matches!(http_status_of(tree, i), Some(408 | 504)) {
        return true;
    }
    let flags = s
        .attr(attrs::ENVOY_RESPONSE_FLAGS)
        .and_then(AnyValue::as_str);
    if flags.is_some_and(|f| f.split(',').any(|f| f.trim() == "UT")) {
        return true;
    }
    if s.status.message.as_deref().is_some_and(says_timeout)
        || s.attr(attrs::ERROR_TYPE)
            .and_then(AnyValue::as_str)
            .is_some_and(says_timeout)
    {
        return true;
    }
    s.events.iter().any(|e| {
        e.name.as_ref() == "exception"
            && [attrs::EXCEPTION_TYPE, attrs::EXCEPTION_MESSAGE]
                .iter()
                .any(|k| {
                    e.attributes
                        .iter()
                        .find(|kv| kv.key.as_str() == *k)
                        .and_then(|kv| kv.value.as_str())
                        .is_some_and(says_timeout)
                })
    })
}

/// The deepest span below `origin` still running when its parent gave up (see the module
/// doc), or `None` when no child of the origin was: then the origin's own time is the locus.
fn timeout_locus(tree: &TraceTree<'_>, marks: &[bool], origin: usize) -> Option<TimeoutLocus> {
    let gave_up = tree.end(origin);
    // A span ending this close to the give-up ran until its caller stopped waiting;
    // timestamps of two processes rarely agree closer than that.
    let slack = (tree.dur(origin) / 100).max(100_000);
    let running = |c: usize| tree.start(c) < gave_up && tree.end(c) + slack >= gave_up;
    let mut cur = origin;
    while let Some(c) = tree.children[cur]
        .iter()
        .copied()
        .filter(|&c| !marks[c] && running(c))
        .max_by_key(|&c| (tree.end(c), std::cmp::Reverse(tree.start(c))))
    {
        cur = c;
    }
    (cur != origin).then(|| TimeoutLocus {
        span: SpanLabel::of(tree, cur),
        duration_ns: tree.dur(cur),
        gave_up_after_ns: tree.dur(origin),
        ran_on_ns: tree.end(cur).saturating_sub(gave_up),
        children: tree.children[cur].len(),
    })
}

/// The error child with the longest error chain; the earliest-starting one on ties.
fn deepest_error_child(tree: &TraceTree<'_>, height: &[u32], i: usize) -> Option<usize> {
    let mut best: Option<usize> = None;
    for &c in &tree.children[i] {
        if height[c] > 0 && best.is_none_or(|b| height[c] > height[b]) {
            best = Some(c);
        }
    }
    best
}

fn count_error_tree(tree: &TraceTree<'_>, marks: &[bool], top: usize) -> usize {
    let mut stack = vec![top];
    let mut n = 0;
    while let Some(i) = stack.pop() {
        n += 1;
        stack.extend(tree.children[i].iter().copied().filter(|&c| marks[c]));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::{MS, TraceBuilder};

    fn names(v: &[Sym]) -> Vec<&'static str> {
        v.iter().map(|s| s.as_str()).collect()
    }

    #[test]
    fn error_propagating_to_the_root() {
        let mut b = TraceBuilder::new();
        let r = b
            .span("gw", "POST /orders")
            .kind(SpanKind::Server)
            .str_attr(attrs::HTTP_STATUS_CODE, "502")
            .at(0, 100)
            .error()
            .id();
        let c = b
            .span("gw", "call")
            .kind(SpanKind::Client)
            .at(1, 99)
            .parent(r)
            .error()
            .id();
        let s = b
            .span("inv", "GET")
            .kind(SpanKind::Server)
            .at(2, 98)
            .parent(c)
            .error()
            .id();
        b.span("inv", "SELECT ok")
            .kind(SpanKind::Client)
            .at(3, 10)
            .parent(s)
            .id();
        b.span("inv", "SELECT stock")
            .kind(SpanKind::Client)
            .at(11, 90)
            .parent(s)
            .error()
            .id();
        let t = b.build();
        let o = error_origins(&TraceTree::new(&t));
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].origin.name.as_str(), "SELECT stock");
        assert_eq!(o[0].error_span_count, 4);
        assert_eq!(names(&o[0].propagation_services), ["inv", "gw"]);
        assert!(o[0].propagated_to_root);
        assert_eq!(o[0].absorbed_by, None);
        assert_eq!(o[0].root_http_status, Some(502));
    }

    /// OpenTelemetry demo shape: the proxy's server span carries only `http.status_code=500`
    /// (status unset) between an ERROR client span above and the ERROR service below; that is
    /// one failure reaching the root, not an absorbed origin plus a second one.
    #[test]
    fn a_5xx_without_error_status_still_carries_the_failure() {
        let mut b = TraceBuilder::new();
        let r = b
            .span("frontend", "POST /api/checkout")
            .kind(SpanKind::Server)
            .int_attr(attrs::HTTP_STATUS_CODE_OLD, 500)
            .at(0, 100)
            .id();
        let proxy = b
            .span("frontend-proxy", "ingress")
            .kind(SpanKind::Server)
            .int_attr(attrs::HTTP_STATUS_CODE_OLD, 500)
            .at(1, 99)
            .parent(r)
            .id();
        let call = b
            .span("frontend-proxy", "router checkout")
            .kind(SpanKind::Client)
            .at(2, 98)
            .parent(proxy)
            .error()
            .id();
        b.span("checkout", "PlaceOrder")
            .kind(SpanKind::Server)
            .int_attr(attrs::RPC_GRPC_STATUS_CODE, 13)
            .at(3, 97)
            .parent(call)
            .id();
        let t = b.build();
        let o = error_origins(&TraceTree::new(&t));
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(o[0].origin.name.as_str(), "PlaceOrder");
        assert!(o[0].propagated_to_root);
        assert_eq!(o[0].error_span_count, 4);
        assert_eq!(o[0].root_http_status, Some(500));
    }

    /// OpenTelemetry demo (Go checkout service): PlaceOrder (ERROR) -> an internal helper span
    /// with no status -> GetCart client (ERROR): one failure, not one absorbed by the helper.
    #[test]
    fn an_unmarked_internal_span_between_failures_of_its_service_passes_the_failure_on() {
        let mut b = TraceBuilder::new();
        let r = b
            .span("checkout", "PlaceOrder")
            .kind(SpanKind::Server)
            .at(0, 100)
            .error()
            .id();
        let helper = b
            .span("checkout", "prepareOrderItems")
            .kind(SpanKind::Internal)
            .at(1, 99)
            .parent(r)
            .id();
        b.span("checkout", "CartService/GetCart")
            .kind(SpanKind::Client)
            .at(2, 98)
            .parent(helper)
            .error()
            .id();
        // A helper of another service, or one with no failure below, stays out.
        b.span("checkout", "log")
            .kind(SpanKind::Internal)
            .at(2, 3)
            .parent(r)
            .id();
        let t = b.build();
        let o = error_origins(&TraceTree::new(&t));
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(o[0].origin.name.as_str(), "CartService/GetCart");
        assert!(o[0].propagated_to_root);
        assert_eq!(o[0].error_span_count, 3);
    }

    #[test]
    fn a_4xx_or_a_client_side_ok_is_no_failure() {
        let mut b = TraceBuilder::new();
        let r = b
            .span("gw", "GET /item")
            .kind(SpanKind::Server)
            .int_attr(attrs::HTTP_STATUS_CODE, 404)
            .at(0, 100)
            .id();
        b.span("gw", "lookup")
            .kind(SpanKind::Client)
            .int_attr(attrs::RPC_GRPC_STATUS_CODE, 0)
            .at(1, 99)
            .parent(r)
            .id();
        let t = b.build();
        assert!(error_origins(&TraceTree::new(&t)).is_empty());
    }

    /// Semantic conventions: a CLIENT span fails on 4xx as well (its request was refused); a
    /// span that recorded an exception failed whatever its status says.
    #[test]
    fn a_client_4xx_and_a_recorded_exception_are_failures() {
        let mut b = TraceBuilder::new();
        let r = b
            .span("shop", "GET /cart")
            .kind(SpanKind::Server)
            .int_attr(attrs::HTTP_STATUS_CODE, 200)
            .at(0, 100)
            .id();
        b.span("shop", "GET")
            .kind(SpanKind::Client)
            .int_attr(attrs::HTTP_STATUS_CODE, 403)
            .at(1, 20)
            .parent(r)
            .id();
        b.span("shop", "render")
            .at(30, 40)
            .event("exception", &[("exception.type", "KeyError")])
            .parent(r)
            .id();
        let t = b.build();
        let o = error_origins(&TraceTree::new(&t));
        let mut names: Vec<&str> = o.iter().map(|e| e.origin.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["GET", "render"], "{o:?}");
        assert!(o.iter().all(|e| !e.propagated_to_root));
    }

    #[test]
    fn absorbed_error_names_the_absorber() {
        let mut b = TraceBuilder::new();
        let r = b
            .span("catalog", "GET /products")
            .kind(SpanKind::Server)
            .at(0, 100)
            .id();
        let c = b
            .span("catalog", "GET /reviews")
            .kind(SpanKind::Client)
            .at(1, 50)
            .parent(r)
            .error()
            .id();
        b.span("reviews", "GET /reviews")
            .kind(SpanKind::Server)
            .at(2, 49)
            .parent(c)
            .error()
            .id();
        let t = b.build();
        let o = error_origins(&TraceTree::new(&t));
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].origin.service.as_str(), "reviews");
        assert_eq!(names(&o[0].propagation_services), ["reviews", "catalog"]);
        assert!(!o[0].propagated_to_root);
        assert_eq!(
            o[0].absorbed_by.as_ref().map(|a| a.name.as_str()),
            Some("GET /products")
        );
    }

    /// Envoy's shape: only the proxy's egress span fails (504, `UT`) when its route timeout
    /// fires; the service behind it carries no error and runs on, waiting on a call of its own
    /// that never returned in time. The locus is that deepest call, not the proxy.
    #[test]
    fn a_timeout_names_the_deepest_span_still_running_when_the_caller_gave_up() {
        let mut b = TraceBuilder::new();
        let r = b
            .span("frontend-proxy", "ingress")
            .kind(SpanKind::Server)
            .int_attr(attrs::HTTP_STATUS_CODE_OLD, 504)
            .at(0, 1001)
            .id();
        let egress = b
            .span("frontend-proxy", "router recommendation egress")
            .kind(SpanKind::Client)
            .int_attr(attrs::HTTP_STATUS_CODE_OLD, 504)
            .str_attr(attrs::ENVOY_RESPONSE_FLAGS, "UT")
            .at(1, 1000)
            .parent(r)
            .error()
            .id();
        let server = b
            .span("recommendation", "ListRecommendations")
            .kind(SpanKind::Server)
            .at(2, 1500)
            .parent(egress)
            .id();
        b.span("recommendation", "SELECT products")
            .kind(SpanKind::Client)
            .at(3, 10)
            .parent(server)
            .id();
        b.span("recommendation", "GetProducts")
            .kind(SpanKind::Client)
            .at(11, 1490)
            .parent(server)
            .id();
        let t = b.build();
        let o = error_origins(&TraceTree::new(&t));
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(o[0].origin.name.as_str(), "router recommendation egress");
        let locus = o[0].timeout_locus.as_ref().expect("a locus");
        assert_eq!(locus.span.name.as_str(), "GetProducts");
        assert_eq!(locus.span.service.as_str(), "recommendation");
        assert_eq!(locus.gave_up_after_ns, 999 * MS);
        assert_eq!(locus.duration_ns, 1479 * MS);
        assert_eq!(locus.ran_on_ns, 490 * MS);
        assert_eq!(locus.children, 0);
    }

    #[test]
    fn timeouts_are_read_from_messages_codes_and_exceptions() {
        let mut b = TraceBuilder::new();
        let a = b
            .span("a", "grpc")
            .int_attr(attrs::RPC_GRPC_STATUS_CODE, 4)
            .at(0, 10)
            .id();
        let m = b
            .span("a", "msg")
            .error_message("context deadline exceeded")
            .at(0, 10)
            .id();
        let e = b
            .span("a", "exc")
            .at(0, 10)
            .error()
            .event(
                "exception",
                &[("exception.type", "java.net.SocketTimeoutException")],
            )
            .id();
        let plain = b.span("a", "plain").error_message("boom").at(0, 10).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        let idx = |id: SpanId| {
            (0..tree.len())
                .find(|&i| tree.span(i).span_id == id)
                .expect("span")
        };
        assert!(timed_out(&tree, idx(a)));
        assert!(timed_out(&tree, idx(m)));
        assert!(timed_out(&tree, idx(e)));
        assert!(!timed_out(&tree, idx(plain)));
    }

    /// A timeout whose callee finished long before (the time went into the origin itself),
    /// and a failure that is no timeout, name no locus.
    #[test]
    fn no_locus_without_a_timeout_or_a_span_still_running() {
        let mut b = TraceBuilder::new();
        let r = b
            .span("gw", "GET /slow")
            .kind(SpanKind::Server)
            .int_attr(attrs::HTTP_STATUS_CODE_OLD, 504)
            .at(0, 1000)
            .error()
            .id();
        b.span("gw", "cache").at(1, 5).parent(r).id();
        let mut b2 = TraceBuilder::with_trace_id(2);
        let r2 = b2.span("gw", "GET /x").at(0, 1000).error().id();
        b2.span("gw", "work").at(1, 1000).parent(r2).id();
        for t in [b.build(), b2.build()] {
            let o = error_origins(&TraceTree::new(&t));
            assert_eq!(o.len(), 1);
            assert_eq!(o[0].timeout_locus, None, "{o:?}");
        }
    }
}
