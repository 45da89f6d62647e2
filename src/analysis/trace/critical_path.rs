//! Critical path, Jaeger-UI compatible (ANALYSIS.md §2.1) with spantop's two documented
//! choices: back-to-back children are both on the path (`<=`, unless `jaeger_strict`), and
//! orphan subtrees get their own path flagged `orphan` instead of being dropped.
//!
//! Traces with several roots (concurrent requests of one session, a capture with the root cut
//! off) get one trace path (`trace_path`): every root under a virtual root over the trace's
//! extent, walked as Jaeger walks children. Time no root covers belongs to no span, so the trace
//! path's time never exceeds the extent and no share of it passes 100 %. `coverage` is how much
//! of the extent the path explains; low coverage (a short root in a long session, spans that
//! outlive their root) is reported as a warning.
//!
//! The path is a list of sections `(span, start, end)` that tile each root exactly. Children
//! that outlive their parent are clipped to it; children wholly outside it are dropped with
//! their subtree; a CONSUMER under a PRODUCER is non-blocking and never followed.

use crate::model::SpanKind;

use crate::analysis::trace::tree::TraceTree;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpOptions {
    /// Follow a child only if it ends strictly before the point being returned to, exactly as
    /// Jaeger UI does (then back-to-back siblings leave the earlier one off the path).
    pub jaeger_strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub span: usize,
    pub start: u64,
    pub end: u64,
}

impl Section {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The path of one root, sections latest first (Jaeger's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPath {
    pub root: usize,
    pub orphan: bool,
    pub sections: Vec<Section>,
}

/// Critical paths of every root of the trace, in root start order.
pub fn critical_paths(tree: &TraceTree<'_>, opts: CpOptions) -> Vec<RootPath> {
    let clip = sanitize(tree);
    let mut by_end = ByEnd::new(tree, &clip);
    tree.roots
        .iter()
        .map(|&root| RootPath {
            root,
            orphan: tree.orphan_root[root],
            sections: path_of_root(tree, &clip, &mut by_end, root, opts),
        })
        .collect()
}

/// Each span's kept children, latest clipped end first (on equal ends, in start order), with a
/// cursor per span past the children that can no longer be followed. The point the walk
/// returns to a span at only moves back in time, so a child out of reach stays out of reach:
/// over the whole walk each span's children are looked at once, where a search of every child
/// at every return made a wide span's path quadratic (100,000 sequential calls under a root).
struct ByEnd {
    order: Vec<usize>,
    /// `order[offsets[i]..offsets[i + 1]]` are span `i`'s children.
    offsets: Vec<usize>,
    cursor: Vec<usize>,
}

impl ByEnd {
    fn new(tree: &TraceTree<'_>, clip: &Clipped) -> Self {
        let mut order = Vec::with_capacity(tree.len());
        let mut offsets = Vec::with_capacity(tree.len() + 1);
        for i in 0..tree.len() {
            let from = order.len();
            offsets.push(from);
            order.extend(
                tree.children[i]
                    .iter()
                    .copied()
                    .filter(|&c| clip[c].is_some()),
            );
            // Stable: children are in start order, so the earlier start stays first on ties.
            order[from..].sort_by_key(|&c| std::cmp::Reverse(clip[c].map_or(0, |x| x.1)));
        }
        offsets.push(order.len());
        let cursor = offsets[..tree.len()].to_vec();
        ByEnd {
            order,
            offsets,
            cursor,
        }
    }
}

/// A span's interval after clipping to its parent, or `None` when it was dropped.
type Clipped = Vec<Option<(u64, u64)>>;

/// Jaeger's `sanitizeOverFlowingChildren` plus `createCPSpanMap`'s producer/consumer cut, in
/// pre-order so each parent is clipped before its children.
fn sanitize(tree: &TraceTree<'_>) -> Clipped {
    let mut clip: Clipped = vec![None; tree.len()];
    for &i in &tree.preorder {
        let (s, e) = (tree.start(i), tree.end(i));
        let Some(p) = tree.parent[i] else {
            clip[i] = Some((s, e));
            continue;
        };
        let Some((ps, pe)) = clip[p] else {
            continue; // the parent was dropped: so is its subtree
        };
        let non_blocking =
            tree.span(p).kind == SpanKind::Producer && tree.span(i).kind == SpanKind::Consumer;
        if non_blocking {
            continue;
        }
        clip[i] = if s >= ps {
            if s >= pe { None } else { Some((s, e.min(pe))) }
        } else if e <= ps {
            None
        } else {
            Some((ps, e.min(pe)))
        };
    }
    clip
}

/// Jaeger's `computeCriticalPath`, iteratively: from the end of the root, descend into the
/// child that finished last before the current point; when none is left, charge the rest to
/// the span and return to its parent at the span's start.
fn path_of_root(
    tree: &TraceTree<'_>,
    clip: &Clipped,
    by_end: &mut ByEnd,
    root: usize,
    opts: CpOptions,
) -> Vec<Section> {
    let mut out = Vec::new();
    let Some((root_start, root_end)) = clip[root] else {
        return out;
    };
    if root_end == root_start && tree.children[root].is_empty() {
        return out;
    }
    let mut cur = root;
    let mut returning: Option<u64> = None;
    while let Some((cs, ce)) = clip[cur] {
        let hi = returning.unwrap_or(ce);
        match last_finishing_child(clip, by_end, cur, returning, opts) {
            Some((child, child_end)) => {
                if child_end != hi {
                    out.push(Section {
                        span: cur,
                        start: child_end,
                        end: hi,
                    });
                }
                cur = child;
                returning = None;
            }
            None => {
                if cs != hi {
                    out.push(Section {
                        span: cur,
                        start: cs,
                        end: hi,
                    });
                }
                match tree.parent[cur] {
                    Some(p) if cur != root => {
                        returning = Some(cs);
                        cur = p;
                    }
                    _ => break,
                }
            }
        }
    }
    out
}

/// The child that finished last before the point being returned to (any child on the way
/// down, `returning` None); on equal ends the child that started first, as in Jaeger.
fn last_finishing_child(
    clip: &Clipped,
    by_end: &mut ByEnd,
    cur: usize,
    returning: Option<u64>,
    opts: CpOptions,
) -> Option<(usize, u64)> {
    let end = by_end.offsets[cur + 1];
    while by_end.cursor[cur] < end {
        let c = by_end.order[by_end.cursor[cur]];
        let (cs, ce) = clip[c]?;
        let eligible = match returning {
            None => true,
            Some(r) if opts.jaeger_strict => ce < r,
            // `cs < r` keeps a zero-length child at the return point from being re-entered.
            Some(r) => ce <= r && cs < r,
        };
        if eligible {
            return Some((c, ce));
        }
        // Out of reach now, so for good: the next return point is earlier still.
        by_end.cursor[cur] += 1;
    }
    None
}

/// The trace's one path, latest first: the roots' paths under a virtual root spanning the
/// trace. Walking back from the trace's end, the root reaching latest before the current point
/// is followed (its path clipped at that point; on equal reach the earlier-starting root, and
/// of roots equal in both the later one in `paths`) and the walk goes on from that root's
/// start. Sections never overlap, so their sum is at most the trace's extent; with one root
/// this is that root's path.
///
/// The roots that start before the current point are a prefix of the roots in start order, and
/// the point only moves back, so each step is two binary searches over prefix maxima of the
/// roots' ends, where a scan of every root at every step made a trace of many roots (a capture
/// with its root cut off: every child a root) quadratic.
pub fn trace_path(paths: &[RootPath]) -> Vec<Section> {
    // (start, end, index) of each root with a path; in start order, equal starts the later
    // root first, so "earliest in this order" is the tie-break above.
    let mut roots: Vec<(u64, u64, usize)> = paths
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((p.sections.last()?.start, p.sections.first()?.end, i)))
        .collect();
    roots.sort_by_key(|&(start, _, i)| (start, std::cmp::Reverse(i)));
    // best[k]: the root of `roots[..=k]` that ends latest, the earliest of them on equal ends.
    // Its end never decreases with k.
    let mut best: Vec<usize> = Vec::with_capacity(roots.len());
    for k in 0..roots.len() {
        let keep = k > 0 && roots[best[k - 1]].1 >= roots[k].1;
        best.push(if keep { best[k - 1] } else { k });
    }
    let mut out = Vec::new();
    let mut cur = u64::MAX;
    loop {
        // Roots starting before `cur`: `roots[..n]`.
        let n = roots.partition_point(|r| r.0 < cur);
        if n == 0 {
            break;
        }
        // A root reaching `cur` or past it reaches exactly `cur`: the first such in start
        // order wins. Otherwise the latest end wins.
        let first_reaching = best[..n].partition_point(|&b| roots[b].1 < cur);
        let k = if first_reaching < n {
            first_reaching
        } else {
            best[n - 1]
        };
        let (start, _, i) = roots[k];
        out.extend(
            paths[i]
                .sections
                .iter()
                .filter(|s| s.start < cur)
                .map(|s| Section {
                    span: s.span,
                    start: s.start,
                    end: s.end.min(cur),
                }),
        );
        cur = start;
    }
    out
}

/// Time of the trace path (ns): what the path explains of the trace.
pub fn path_time(sections: &[Section]) -> u64 {
    sections.iter().map(Section::len).sum()
}

/// Share of the trace's extent the path explains, 0..=1 (1 for an empty trace: nothing is
/// unexplained).
pub fn coverage(path_ns: u64, extent_ns: u64) -> f64 {
    if extent_ns == 0 {
        1.0
    } else {
        (path_ns as f64 / extent_ns as f64).min(1.0)
    }
}

/// Critical-path time per span (ns) over the trace path's sections.
pub fn cp_time_per_span(n: usize, sections: &[Section]) -> Vec<u64> {
    let mut t = vec![0; n];
    for s in sections {
        t[s.span] += s.len();
    }
    t
}

/// Critical-path time of each span's whole subtree (the span and everything under it).
pub fn inclusive_cp(tree: &TraceTree<'_>, cp: &[u64]) -> Vec<u64> {
    let mut inc = cp.to_vec();
    for &i in tree.preorder.iter().rev() {
        if let Some(p) = tree.parent[i] {
            inc[p] += inc[i];
        }
    }
    inc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::{TraceBuilder, ms};
    use crate::model::SpanId;
    use crate::store::Trace;

    /// Sections as `(name, start_ms, end_ms)`, latest first, for the given root index.
    fn sections(t: &Trace, opts: CpOptions) -> Vec<Vec<(String, u64, u64)>> {
        let tree = TraceTree::new(t);
        critical_paths(&tree, opts)
            .into_iter()
            .map(|p| {
                p.sections
                    .iter()
                    .map(|s| {
                        (
                            tree.span(s.span).name.as_str().to_owned(),
                            (s.start - ms(0)) / 1_000_000,
                            (s.end - ms(0)) / 1_000_000,
                        )
                    })
                    .collect()
            })
            .collect()
    }

    fn v(items: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
        items
            .iter()
            .map(|&(n, a, b)| (n.to_owned(), a, b))
            .collect()
    }

    fn child(b: &mut TraceBuilder, name: &str, p: SpanId, s: u64, e: u64) -> SpanId {
        b.span("svc", name).at(s, e).parent(p).id()
    }

    #[test]
    fn cp1_parallel_fanout_follows_the_last_finisher() {
        let mut b = TraceBuilder::new();
        let p = b.span("svc", "P").at(0, 100).id();
        child(&mut b, "A", p, 10, 50);
        child(&mut b, "B", p, 10, 90);
        child(&mut b, "C", p, 10, 70);
        let got = sections(&b.build(), CpOptions::default());
        assert_eq!(got, vec![v(&[("P", 90, 100), ("B", 10, 90), ("P", 0, 10)])]);
    }

    #[test]
    fn cp2_nested_n_plus_one() {
        let mut b = TraceBuilder::new();
        let r = b.span("svc", "R").at(0, 100).id();
        let c = b
            .span("svc", "C")
            .kind(SpanKind::Client)
            .at(5, 95)
            .parent(r)
            .id();
        let s = b
            .span("db", "S")
            .kind(SpanKind::Server)
            .at(10, 90)
            .parent(c)
            .id();
        child(&mut b, "D1", s, 20, 30);
        child(&mut b, "D2", s, 35, 45);
        child(&mut b, "D3", s, 50, 60);
        let got = sections(&b.build(), CpOptions::default());
        let want = v(&[
            ("R", 95, 100),
            ("C", 90, 95),
            ("S", 60, 90),
            ("D3", 50, 60),
            ("S", 45, 50),
            ("D2", 35, 45),
            ("S", 30, 35),
            ("D1", 20, 30),
            ("S", 10, 20),
            ("C", 5, 10),
            ("R", 0, 5),
        ]);
        assert_eq!(got, vec![want]);
    }

    #[test]
    fn cp3_touching_siblings_both_on_path_unless_strict() {
        let mut b = TraceBuilder::new();
        let p = b.span("svc", "P").at(0, 40).id();
        child(&mut b, "A", p, 10, 20);
        child(&mut b, "B", p, 20, 30);
        let t = b.build();
        assert_eq!(
            sections(&t, CpOptions::default()),
            vec![v(&[
                ("P", 30, 40),
                ("B", 20, 30),
                ("A", 10, 20),
                ("P", 0, 10)
            ])]
        );
        assert_eq!(
            sections(
                &t,
                CpOptions {
                    jaeger_strict: true
                }
            ),
            vec![v(&[("P", 30, 40), ("B", 20, 30), ("P", 0, 20)])]
        );
    }

    #[test]
    fn cp4_overlapping_siblings_charge_the_overlap_to_the_parent() {
        let mut b = TraceBuilder::new();
        let p = b.span("svc", "P").at(0, 100).id();
        child(&mut b, "A", p, 10, 60);
        child(&mut b, "B", p, 50, 90);
        assert_eq!(
            sections(&b.build(), CpOptions::default()),
            vec![v(&[("P", 90, 100), ("B", 50, 90), ("P", 0, 50)])]
        );
    }

    #[test]
    fn cp5_orphan_subtree_gets_its_own_path() {
        let mut b = TraceBuilder::new();
        b.span("svc", "R").at(0, 50).id();
        let x = b.span("svc", "X").at(60, 80).parent_id(0xdead).id();
        child(&mut b, "Y", x, 65, 75);
        let t = b.build();
        let tree = TraceTree::new(&t);
        let paths = critical_paths(&tree, CpOptions::default());
        assert_eq!(paths.len(), 2);
        assert!(!paths[0].orphan && paths[1].orphan);
        assert_eq!(
            sections(&t, CpOptions::default()),
            vec![
                v(&[("R", 0, 50)]),
                v(&[("X", 75, 80), ("Y", 65, 75), ("X", 60, 65)])
            ]
        );
    }

    #[test]
    fn child_outliving_parent_is_clipped_and_path_tiles_the_root() {
        let mut b = TraceBuilder::new();
        let p = b.span("svc", "P").at(0, 100).id();
        let a = child(&mut b, "A", p, 40, 150);
        child(&mut b, "A1", a, 120, 140); // starts after A's clipped end: dropped
        let t = b.build();
        assert_eq!(
            sections(&t, CpOptions::default()),
            vec![v(&[("A", 40, 100), ("P", 0, 40)])]
        );
        let tree = TraceTree::new(&t);
        let paths = critical_paths(&tree, CpOptions::default());
        let total: u64 = paths[0].sections.iter().map(Section::len).sum();
        assert_eq!(total, tree.dur(paths[0].root));
        for w in paths[0].sections.windows(2) {
            assert_eq!(w[0].start, w[1].end, "sections are contiguous");
        }
    }

    #[test]
    fn zero_length_and_negative_children_terminate() {
        let mut b = TraceBuilder::new();
        let p = b.span("svc", "P").at(0, 30).id();
        child(&mut b, "Z", p, 10, 10);
        child(&mut b, "Z2", p, 10, 10);
        child(&mut b, "N", p, 20, 15); // negative: zero-length at 20
        let got = sections(&b.build(), CpOptions::default());
        assert_eq!(got, vec![v(&[("P", 20, 30), ("P", 10, 20), ("P", 0, 10)])]);
    }

    #[test]
    fn two_roots_each_get_a_path() {
        let mut b = TraceBuilder::new();
        b.span("svc", "R1").at(0, 10).id();
        b.span("svc", "R2").at(20, 30).id();
        let got = sections(&b.build(), CpOptions::default());
        assert_eq!(got, vec![v(&[("R1", 0, 10)]), v(&[("R2", 20, 30)])]);
    }

    #[test]
    fn concurrent_roots_share_one_virtual_root() {
        let mut b = TraceBuilder::new();
        // Three overlapping requests of one session and a later one: the path never counts an
        // instant twice, and the gap between them belongs to no span.
        b.span("svc", "R1").at(0, 60).id();
        b.span("svc", "R2").at(10, 50).id();
        let r3 = b.span("svc", "R3").at(40, 80).id();
        child(&mut b, "C3", r3, 45, 70);
        b.span("svc", "R4").at(100, 120).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        let merged = trace_path(&critical_paths(&tree, CpOptions::default()));
        let got: Vec<(&str, u64, u64)> = merged
            .iter()
            .map(|s| {
                (
                    tree.span(s.span).name.as_str(),
                    (s.start - ms(0)) / 1_000_000,
                    (s.end - ms(0)) / 1_000_000,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("R4", 100, 120),
                ("R3", 70, 80),
                ("C3", 45, 70),
                ("R3", 40, 45),
                ("R1", 0, 40)
            ]
        );
        let total = path_time(&merged);
        assert_eq!(total, 100 * 1_000_000);
        assert!(total <= tree.trace_duration());
        assert!((coverage(total, tree.trace_duration()) - 100.0 / 120.0).abs() < 1e-9);
        let cp = cp_time_per_span(tree.len(), &merged);
        assert_eq!(cp.iter().sum::<u64>(), total);
    }

    /// The scan of every root at every step that `trace_path` replaced, as the reference.
    fn trace_path_by_scan(paths: &[RootPath]) -> Vec<Section> {
        let mut out = Vec::new();
        let mut cur = u64::MAX;
        loop {
            let best = paths
                .iter()
                .filter_map(|p| {
                    let start = p.sections.last()?.start;
                    let end = p.sections.first()?.end;
                    (start < cur).then_some((p, start, end.min(cur)))
                })
                .max_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1)));
            let Some((p, start, _)) = best else { break };
            out.extend(
                p.sections
                    .iter()
                    .filter(|s| s.start < cur)
                    .map(|s| Section {
                        span: s.span,
                        start: s.start,
                        end: s.end.min(cur),
                    }),
            );
            cur = start;
        }
        out
    }

    #[test]
    fn trace_path_matches_the_scan_of_every_root_ties_included() {
        // Small coordinates so equal starts and ends (the tie-breaks) are common.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..500 {
            let n = 1 + next(12) as usize;
            let paths: Vec<RootPath> = (0..n)
                .map(|root| {
                    let start = next(20);
                    let end = start + next(15);
                    let mid = start + (end - start) / 2;
                    let sections = if next(8) == 0 {
                        Vec::new()
                    } else {
                        vec![
                            Section {
                                span: root,
                                start: mid,
                                end,
                            },
                            Section {
                                span: root + 100,
                                start,
                                end: mid,
                            },
                        ]
                    };
                    RootPath {
                        root,
                        orphan: false,
                        sections,
                    }
                })
                .collect();
            assert_eq!(trace_path(&paths), trace_path_by_scan(&paths), "{paths:?}");
        }
    }

    #[test]
    fn one_root_trace_path_is_its_path() {
        let mut b = TraceBuilder::new();
        let p = b.span("svc", "P").at(0, 100).id();
        child(&mut b, "A", p, 10, 50);
        let t = b.build();
        let tree = TraceTree::new(&t);
        let paths = critical_paths(&tree, CpOptions::default());
        assert_eq!(trace_path(&paths), paths[0].sections);
    }

    #[test]
    fn producer_consumer_child_is_non_blocking() {
        let mut b = TraceBuilder::new();
        let a = b.span("svc", "A").kind(SpanKind::Producer).at(1, 31).id();
        let c = b
            .span("svc", "B")
            .kind(SpanKind::Consumer)
            .at(10, 20)
            .parent(a)
            .id();
        child(&mut b, "C", c, 12, 14);
        assert_eq!(
            sections(&b.build(), CpOptions::default()),
            vec![v(&[("A", 1, 31)])]
        );
    }
}
