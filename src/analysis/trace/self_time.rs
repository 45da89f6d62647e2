//! Self (exclusive) time per span, Jaeger UI's definition (ANALYSIS.md §3.1):
//! `self(s) = dur(s) − |⋃ children ∩ s|`, every child of any kind, overlaps counted once.

use crate::analysis::trace::tree::TraceTree;

/// Length of the union of `intervals` clipped to `[lo, hi]`.
pub fn union_within(intervals: &mut [(u64, u64)], lo: u64, hi: u64) -> u64 {
    intervals.sort_unstable();
    let mut covered = 0;
    let mut reach = lo;
    for &(s, e) in intervals.iter() {
        let (s, e) = (s.max(reach), e.min(hi));
        if e > s {
            covered += e - s;
            reach = e;
        }
    }
    covered
}

/// Self time (ns) of every span of the tree.
pub fn self_times(tree: &TraceTree<'_>) -> Vec<u64> {
    let mut buf = Vec::new();
    (0..tree.len())
        .map(|i| {
            buf.clear();
            buf.extend(
                tree.children[i]
                    .iter()
                    .map(|&c| (tree.start(c), tree.end(c))),
            );
            let (s, e) = (tree.start(i), tree.end(i));
            (e - s).saturating_sub(union_within(&mut buf, s, e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::{MS, TraceBuilder};

    /// The eleven cases of Jaeger UI's compute-span-self-time.test.ts.
    #[test]
    fn jaeger_self_time_cases() {
        type Case = ((u64, u64), &'static [(u64, u64)], u64);
        let cases: &[Case] = &[
            ((0, 100), &[], 100),
            ((0, 100), &[(10, 50)], 60),
            ((0, 100), &[(10, 30), (50, 70)], 60),
            ((0, 100), &[(10, 60), (30, 80)], 30),
            ((0, 100), &[(50, 150)], 50),
            ((0, 100), &[(120, 150)], 100),
            ((0, 100), &[(10, 70), (20, 50)], 40),
            ((0, 100), &[(0, 100)], 0),
            ((0, 100), &[(0, 60), (0, 120)], 0),
            ((0, 100), &[(10, 40), (30, 60), (70, 90)], 30),
            ((10, 50), &[(0, 100)], 0),
        ];
        for (k, &((ps, pe), kids, want)) in cases.iter().enumerate() {
            let mut b = TraceBuilder::new();
            let p = b.span("svc", "p").at(ps, pe).id();
            for &(s, e) in kids {
                b.span("svc", "c").at(s, e).parent(p).id();
            }
            let t = b.build();
            let tree = TraceTree::new(&t);
            let root = tree.roots[0];
            assert_eq!(self_times(&tree)[root], want * MS, "case {k}");
        }
    }

    #[test]
    fn self_times_sum_to_root_duration_for_a_clean_tree() {
        let mut b = TraceBuilder::new();
        let r = b.span("svc", "r").at(0, 100).id();
        let a = b.span("svc", "a").at(10, 60).parent(r).id();
        b.span("svc", "a1").at(20, 30).parent(a).id();
        b.span("svc", "b").at(70, 90).parent(r).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        assert_eq!(self_times(&tree).iter().sum::<u64>(), 100 * MS);
    }
}
