//! Where errors started and how far they got. An error tree is a connected set of ERROR spans
//! (each one's parent is also ERROR, up to its top). Its origin is the deepest error span,
//! following at each step the error child with the longest error chain below it; the services
//! from the origin up to the top are the propagation. A tree whose top is a root reached the
//! user; otherwise the top's parent absorbed it.

use serde::Serialize;

use crate::model::{SpanId, SpanKind, Sym, TraceId};

use super::attrs;
use super::edges::http_status;
use super::tree::TraceTree;

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
}

pub fn error_origins(tree: &TraceTree<'_>) -> Vec<ErrorOrigin> {
    let err = |i: usize| tree.span(i).is_error();
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
    let root_status = tree
        .effective_root()
        .and_then(|r| http_status(tree.span(r).attr(attrs::HTTP_STATUS_CODE)));
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
            error_span_count: count_error_tree(tree, top),
            propagation_services: services,
            propagated_to_root: tree.parent[top].is_none(),
            absorbed_by: tree.parent[top].map(|p| SpanLabel::of(tree, p)),
            root_http_status: root_status,
        });
    }
    out
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

fn count_error_tree(tree: &TraceTree<'_>, top: usize) -> usize {
    let mut stack = vec![top];
    let mut n = 0;
    while let Some(i) = stack.pop() {
        n += 1;
        stack.extend(
            tree.children[i]
                .iter()
                .copied()
                .filter(|&c| tree.span(c).is_error()),
        );
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixture::TraceBuilder;

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
}
