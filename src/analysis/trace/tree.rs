//! The index every per-trace analysis works on: spans by position, parent and children,
//! roots (true and orphan), entry spans and the process each span ran in (ANALYSIS.md §0, §5.3).

use rustc_hash::FxHashMap;

use crate::model::{Span, SpanKind, Sym};
use crate::store::Trace;

/// `flags & REMOTE_PARENT_MASK == REMOTE_PARENT_MASK`: the parent is known to be remote.
const REMOTE_PARENT_MASK: u32 = 0x300;

/// Problems found while building the tree; they travel with the trace's findings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TreeWarning {
    /// `end < start`: kept, treated as zero-length.
    NegativeDuration { span_id: String },
    /// The parent id is not in the trace; the span is analysed as an extra root.
    MissingParent { span_id: String },
    /// Parent ids form a loop; broken at this span.
    Cycle { span_id: String },
    /// A second span with an id already seen; only the first is linked into the tree.
    DuplicateSpanId { span_id: String },
    /// No start time (0): placed as a zero-length span at its parent's start.
    MissingTimestamp { span_id: String },
}

pub struct TraceTree<'t> {
    pub trace: &'t Trace,
    pub parent: Vec<Option<usize>>,
    /// Children in start order (the trace's spans are sorted by start, then id).
    pub children: Vec<Vec<usize>>,
    /// True roots and orphan roots, in start order.
    pub roots: Vec<usize>,
    pub orphan_root: Vec<bool>,
    pub entry: Vec<bool>,
    /// Nearest entry span at or above each span: whose local work it is.
    pub entry_of: Vec<usize>,
    pub depth: Vec<u32>,
    /// Pre-order over all roots (parents before children).
    pub preorder: Vec<usize>,
    /// Effective `(start, end)`: negative spans are zero-length, untimed ones sit at their
    /// parent's start. Every analysis reads times through `start`/`end`/`dur`.
    times: Vec<(u64, u64)>,
    /// Earliest start and latest end over `times`: asked for per invocation and per finding,
    /// so kept rather than recomputed over every span each time.
    extent: (u64, u64),
    pub warnings: Vec<TreeWarning>,
}

impl<'t> TraceTree<'t> {
    pub fn new(trace: &'t Trace) -> Self {
        let spans = &trace.spans;
        let n = spans.len();
        let mut warnings = Vec::new();
        let mut index: FxHashMap<_, usize> = FxHashMap::default();
        index.reserve(n);
        for (i, s) in spans.iter().enumerate() {
            if let std::collections::hash_map::Entry::Vacant(v) = index.entry(s.span_id) {
                v.insert(i);
            } else {
                warnings.push(TreeWarning::DuplicateSpanId {
                    span_id: s.span_id.to_string(),
                });
            }
            if s.start_ns == 0 {
                warnings.push(TreeWarning::MissingTimestamp {
                    span_id: s.span_id.to_string(),
                });
            } else if s.end_ns < s.start_ns {
                warnings.push(TreeWarning::NegativeDuration {
                    span_id: s.span_id.to_string(),
                });
            }
        }
        let mut parent = vec![None; n];
        let mut orphan_root = vec![false; n];
        let mut children = vec![Vec::new(); n];
        for (i, s) in spans.iter().enumerate() {
            let Some(pid) = s.parent_span_id else {
                continue;
            };
            match index.get(&pid) {
                Some(&p) if p != i => {
                    parent[i] = Some(p);
                    children[p].push(i);
                }
                _ => {
                    orphan_root[i] = true;
                    warnings.push(TreeWarning::MissingParent {
                        span_id: s.span_id.to_string(),
                    });
                }
            }
        }
        let mut tree = TraceTree {
            trace,
            parent,
            children,
            roots: Vec::new(),
            orphan_root,
            entry: vec![false; n],
            entry_of: (0..n).collect(),
            depth: vec![0; n],
            preorder: Vec::with_capacity(n),
            times: Vec::new(),
            extent: (0, 0),
            warnings,
        };
        tree.roots = (0..n).filter(|&i| tree.parent[i].is_none()).collect();
        tree.walk();
        tree.break_cycles();
        for i in 0..n {
            tree.entry[i] = tree.is_entry(i);
        }
        tree.times = effective_times(spans, &tree.preorder, &tree.parent);
        tree.extent = (
            tree.times.iter().map(|t| t.0).min().unwrap_or(0),
            tree.times.iter().map(|t| t.1).max().unwrap_or(0),
        );
        for k in 0..tree.preorder.len() {
            let i = tree.preorder[k];
            if let Some(p) = tree.parent[i] {
                tree.depth[i] = tree.depth[p] + 1;
                if !tree.entry[i] {
                    tree.entry_of[i] = tree.entry_of[p];
                }
            }
        }
        tree
    }

    /// Fills `preorder` from the roots, iteratively (traces can be deep).
    fn walk(&mut self) {
        self.preorder.clear();
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            self.preorder.push(i);
            stack.extend(self.children[i].iter().rev());
        }
    }

    /// Spans not reached from any root sit on a parent loop: make the earliest of each loop a
    /// root and walk again.
    fn break_cycles(&mut self) {
        while self.preorder.len() < self.parent.len() {
            let mut seen = vec![false; self.parent.len()];
            for &i in &self.preorder {
                seen[i] = true;
            }
            let Some(cut) = (0..self.parent.len()).find(|&i| !seen[i]) else {
                break;
            };
            if let Some(p) = self.parent[cut].take() {
                self.children[p].retain(|&c| c != cut);
            }
            self.warnings.push(TreeWarning::Cycle {
                span_id: self.trace.spans[cut].span_id.to_string(),
            });
            self.roots.push(cut);
            self.roots
                .sort_by_key(|&r| (self.trace.spans[r].start_ns, r));
            self.walk();
        }
    }

    fn is_entry(&self, i: usize) -> bool {
        let s = &self.trace.spans[i];
        matches!(s.kind, SpanKind::Server | SpanKind::Consumer)
            || s.flags & REMOTE_PARENT_MASK == REMOTE_PARENT_MASK
            || self.parent[i].is_none()
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    pub fn span(&self, i: usize) -> &'t Span {
        &self.trace.spans[i]
    }

    pub fn start(&self, i: usize) -> u64 {
        self.times[i].0
    }

    /// End, with negative spans treated as zero-length (ANALYSIS.md §0).
    pub fn end(&self, i: usize) -> u64 {
        self.times[i].1
    }

    pub fn dur(&self, i: usize) -> u64 {
        self.times[i].1 - self.times[i].0
    }

    /// Earliest start over the trace's spans (untimed spans excluded).
    pub fn trace_start(&self) -> u64 {
        self.extent.0
    }

    /// Trace duration: last end minus first start over all spans (§5.3), not the root's.
    pub fn trace_duration(&self) -> u64 {
        self.extent.1.saturating_sub(self.extent.0)
    }

    pub fn service(&self, i: usize) -> Sym {
        self.trace.spans[i].service()
    }

    /// Whether two spans ran in different processes (service, or instance within a service).
    pub fn other_process(&self, a: usize, b: usize) -> bool {
        process_key(self.span(a)) != process_key(self.span(b))
    }

    /// Spans of `e`'s local subtree (ANALYSIS.md §0), `e` excluded, in pre-order.
    pub fn local_subtree(&self, e: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.children[e].iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            if self.entry[i] {
                continue;
            }
            out.push(i);
            stack.extend(self.children[i].iter().rev());
        }
        out
    }

    /// The entry span above `e`'s entry (its caller's entry), if any.
    pub fn parent_entry(&self, e: usize) -> Option<usize> {
        self.parent[e].map(|p| self.entry_of[p])
    }

    /// The effective root: the first true root, else the earliest orphan root (§5.3).
    pub fn effective_root(&self) -> Option<usize> {
        self.roots
            .iter()
            .copied()
            .find(|&r| !self.orphan_root[r])
            .or_else(|| self.roots.first().copied())
    }
}

fn effective_times(
    spans: &[Span],
    preorder: &[usize],
    parent: &[Option<usize>],
) -> Vec<(u64, u64)> {
    let fallback = spans
        .iter()
        .map(|s| s.start_ns)
        .filter(|&t| t > 0)
        .min()
        .unwrap_or(0);
    let mut times = vec![(0, 0); spans.len()];
    for &i in preorder {
        let s = &spans[i];
        times[i] = if s.start_ns == 0 {
            let at = parent[i].map_or(fallback, |p| times[p].0);
            (at, at)
        } else {
            (s.start_ns, s.end_ns.max(s.start_ns))
        };
    }
    times
}

/// Identifies the process that emitted a span: service plus instance id when one is set.
pub fn process_key(s: &Span) -> (Sym, Option<&str>) {
    let r = &s.resource;
    let inst = r
        .attr(crate::analysis::trace::attrs::SERVICE_INSTANCE_ID)
        .or_else(|| r.attr(crate::analysis::trace::attrs::FAAS_INSTANCE))
        .and_then(|v| v.as_str());
    (r.service, inst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::TraceBuilder;

    #[test]
    fn orphans_become_extra_roots_and_entries() {
        let mut b = TraceBuilder::new();
        let r = b.span("svc", "root").at(0, 50).id();
        b.span("svc", "x").at(60, 80).parent_id(999).id();
        b.span("svc", "child").at(5, 10).parent(r).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        assert_eq!(tree.roots.len(), 2);
        assert_eq!(tree.orphan_root.iter().filter(|&&o| o).count(), 1);
        assert!(tree.entry[tree.roots[1]]);
        assert!(
            tree.warnings
                .iter()
                .any(|w| matches!(w, TreeWarning::MissingParent { .. }))
        );
        assert_eq!(tree.effective_root(), Some(tree.roots[0]));
    }

    #[test]
    fn parent_loop_is_broken_and_every_span_is_reached() {
        let mut b = TraceBuilder::new();
        b.span("svc", "a").at(0, 10).with_id(1).parent_id(2).id();
        b.span("svc", "b").at(1, 5).with_id(2).parent_id(1).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        assert_eq!(tree.preorder.len(), 2);
        assert_eq!(tree.roots.len(), 1);
        assert!(
            tree.warnings
                .iter()
                .any(|w| matches!(w, TreeWarning::Cycle { .. }))
        );
    }

    #[test]
    fn negative_span_counts_as_zero_length() {
        let mut b = TraceBuilder::new();
        b.span("svc", "neg").at(50, 40).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        assert_eq!(tree.end(0), tree.start(0));
        assert_eq!(tree.dur(0), 0);
    }

    #[test]
    fn remote_parent_flag_makes_an_internal_span_an_entry() {
        let mut b = TraceBuilder::new();
        let r = b.span("a", "root").at(0, 10).id();
        let local = b.span("a", "local").at(1, 2).parent(r).id();
        b.span("b", "remote child")
            .at(3, 4)
            .parent(r)
            .flags(0x301)
            .id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        let idx = |id| t.spans.iter().position(|s| s.span_id == id).expect("span");
        assert!(!tree.entry[idx(local)]);
        assert_eq!(tree.entry.iter().filter(|&&e| e).count(), 2);
    }

    #[test]
    fn untimed_span_sits_at_its_parent_start() {
        let mut b = TraceBuilder::new();
        let r = b.span("a", "root").at(10, 20).id();
        b.span("a", "untimed").at_ns(0, 0).parent(r).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        let u = t.spans.iter().position(|s| s.start_ns == 0).expect("span");
        assert_eq!((tree.start(u), tree.dur(u)), (tree.start(tree.roots[0]), 0));
        assert_eq!(
            tree.trace_duration(),
            10 * crate::analysis::trace::fixture::MS
        );
    }
}
