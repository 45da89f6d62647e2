//! Critical-path hotspots across traces, CRISP-style (ANALYSIS.md §2.4): per (service,
//! operation) and per call path, the critical-path time summed over traces, its share of all
//! root time, in how many traces it was on the path, and p50/p95 of the per-trace time where
//! it was. Self time is kept beside it for contrast.
//!
//! Background work (`trace::background`: streaming RPCs, spans outliving their request root)
//! is kept out of the request tables and out of the time shares are taken of; it is listed
//! apart with its span count and wall time.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{Sym, mem};

use crate::analysis::aggregate::stats::Samples;
use crate::analysis::trace::background::BackgroundKind;
use crate::analysis::trace::tree::TraceTree;

pub type OpKey = (Sym, Sym);

/// One trace's contribution to the hotspot tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TraceHotspots {
    /// Critical-path time of the trace's requests: the trace path less background work.
    pub root_ns: u64,
    pub cp_by_op: Vec<(OpKey, u64)>,
    pub self_by_op: Vec<(OpKey, OpTimes)>,
    /// CRISP calling context: `svc:op->svc:op` of the entry spans above, then the span's op.
    /// Interned: the same paths recur in every trace of a kind, and findings are kept per trace.
    pub cp_by_call_path: Vec<(Sym, u64)>,
    /// The topmost span of each background subtree: operation, why, and its duration.
    pub background: Vec<(OpKey, BackgroundKind, u64)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OpTimes {
    pub count: u64,
    pub total_ns: u64,
    pub self_ns: u64,
}

/// Sums critical-path and self time per operation and call path for one trace; `path_ns` is
/// the trace path's time, `top` what `background::background` found and `apart` the spans it
/// puts in the background (`background::in_background`, computed once by the caller).
pub fn trace_hotspots(
    tree: &TraceTree<'_>,
    cp: &[u64],
    self_ns: &[u64],
    path_ns: u64,
    top: &[Option<BackgroundKind>],
    apart: &[bool],
) -> TraceHotspots {
    let mut root_ns = path_ns;
    let mut apart_list = Vec::new();
    let op = |i: usize| (tree.service(i), tree.span(i).name);
    let mut cp_by_op: FxHashMap<OpKey, u64> = FxHashMap::default();
    let mut self_by_op: FxHashMap<OpKey, OpTimes> = FxHashMap::default();
    let mut cp_by_path: FxHashMap<Sym, u64> = FxHashMap::default();
    let mut paths = CallPaths::default();
    // The call path of each entry span (an index into `paths`).
    let mut path_of = vec![u32::MAX; tree.len()];
    for &i in &tree.preorder {
        if tree.entry[i] {
            let up = tree.parent_entry(i).map(|p| path_of[p]);
            path_of[i] = paths.below(up, op(i));
        }
        let t = self_by_op.entry(op(i)).or_default();
        // Saturating: a crafted span may last up to u64::MAX ns (found by fuzzing).
        t.count += 1;
        t.total_ns = t.total_ns.saturating_add(tree.dur(i));
        t.self_ns = t.self_ns.saturating_add(self_ns[i]);
        if let Some(kind) = top[i] {
            apart_list.push((op(i), kind, tree.dur(i)));
        }
        if apart[i] {
            root_ns = root_ns.saturating_sub(cp[i]);
            continue;
        }
        if cp[i] > 0 {
            let total = cp_by_op.entry(op(i)).or_default();
            *total = total.saturating_add(cp[i]);
            let local = (!tree.entry[i]).then(|| tree.span(i).name);
            let key = paths.key(path_of[tree.entry_of[i]], local);
            let total = cp_by_path.entry(key).or_default();
            *total = total.saturating_add(cp[i]);
        }
    }
    let mut h = TraceHotspots {
        root_ns,
        cp_by_op: cp_by_op.into_iter().collect(),
        self_by_op: self_by_op.into_iter().collect(),
        cp_by_call_path: cp_by_path.into_iter().collect(),
        background: apart_list,
    };
    h.cp_by_op.sort();
    h.self_by_op.sort_by_key(|(k, _)| *k);
    h.cp_by_call_path.sort();
    h
}

/// Entry spans named in a call path at most: a deeper path keeps its root and its last hops,
/// `…` between. Whole paths cost a deep recursion's depth per span, so a 100,000-deep chain
/// held gigabytes of path text (and interned each path for good).
pub const MAX_CALL_PATH_HOPS: usize = 16;

/// A trace's call paths, each built and interned once: entry spans with the same path above
/// and the same operation share theirs (a loop's thousand calls, a recursion's repeating hops).
#[derive(Default)]
struct CallPaths {
    /// (path above, operation of the entry span) -> path.
    index: FxHashMap<(u32, OpKey), u32>,
    /// Per path: the operations named, root first, and whether hops were left out after it.
    hops: Vec<(Vec<OpKey>, bool)>,
    /// The same, to path: past the cap a recursion's paths repeat, and are built once.
    by_hops: FxHashMap<(Vec<OpKey>, bool), u32>,
    text: Vec<String>,
    /// (path, operation of a span run locally under its entry span; `None`: the entry span).
    interned: FxHashMap<(u32, Option<Sym>), Sym>,
}

impl CallPaths {
    /// The path of an entry span running `op` below the path `up` (`None`: a root).
    fn below(&mut self, up: Option<u32>, op: OpKey) -> u32 {
        let up = up.unwrap_or(u32::MAX);
        if let Some(&p) = self.index.get(&(up, op)) {
            return p;
        }
        let (mut hops, mut elided) = self.hops.get(up as usize).cloned().unwrap_or_default();
        hops.push(op);
        if hops.len() > MAX_CALL_PATH_HOPS {
            hops.remove(1);
            elided = true;
        }
        if let Some(&p) = self.by_hops.get(&(hops.clone(), elided)) {
            self.index.insert((up, op), p);
            return p;
        }
        let mut text = String::new();
        for (k, (service, name)) in hops.iter().enumerate() {
            if k > 0 {
                text.push_str("->");
            }
            if k == 1 && elided {
                text.push_str("…->");
            }
            text.push_str(service.as_str());
            text.push(':');
            text.push_str(name.as_str());
        }
        let p = self.hops.len() as u32;
        self.by_hops.insert((hops.clone(), elided), p);
        self.hops.push((hops, elided));
        self.text.push(text);
        self.index.insert((up, op), p);
        p
    }

    /// The interned call path of a span: its entry span's path, then its own operation when it
    /// ran locally.
    fn key(&mut self, path: u32, local: Option<Sym>) -> Sym {
        let text = &self.text;
        *self.interned.entry((path, local)).or_insert_with(|| {
            let ctx = text.get(path as usize).map_or("", String::as_str);
            match local {
                None => Sym::new(ctx),
                Some(name) => Sym::new(&format!("{ctx}->{name}")),
            }
        })
    }
}

/// An operation's critical-path time: the total, and the per-trace distribution (its
/// percentiles are shown).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CpAgg {
    pub(crate) total: u64,
    pub(crate) per_trace: Samples,
}

/// A call path's critical-path time: only the total and the traces it was in are shown, so no
/// distribution is kept (there can be many more call paths than operations).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PathAgg {
    pub(crate) total: u64,
    pub(crate) traces: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HotspotAgg {
    pub(crate) root_ns: u64,
    pub(crate) ops: BTreeMap<OpKey, CpAgg>,
    pub(crate) times: BTreeMap<OpKey, OpTimes>,
    pub(crate) paths: BTreeMap<Sym, PathAgg>,
    pub(crate) background: BTreeMap<(OpKey, BackgroundKind), BackgroundAgg>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct BackgroundAgg {
    pub(crate) spans: u64,
    pub(crate) total_ns: u64,
    pub(crate) longest_ns: u64,
}

/// Background work of one operation (`trace::background`), apart from request hotspots.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackgroundRow {
    pub service: Sym,
    pub operation: Sym,
    pub kind: BackgroundKind,
    pub spans: u64,
    /// Wall time of those spans, summed.
    #[serde(
        rename = "total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub total_ns: u64,
    /// Longest single span (kept while adding; after a removal it may overstate).
    #[serde(
        rename = "longest_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub longest_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hotspot {
    pub service: Sym,
    pub operation: Sym,
    #[serde(
        rename = "cp_total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_total_ns: u64,
    pub cp_share: f64,
    /// Traces where the operation was on the critical path.
    pub occurrence: usize,
    #[serde(
        rename = "cp_p50_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_p50_ns: u64,
    #[serde(
        rename = "cp_p95_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_p95_ns: u64,
    #[serde(
        rename = "self_total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub self_total_ns: u64,
    pub count: u64,
    /// Evidence: the kept trace where the operation held the critical path longest.
    pub worst_trace: Option<crate::model::TraceId>,
    /// The operation's longest critical-path section in that trace.
    pub worst_span_id: Option<crate::model::SpanId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallPathHotspot {
    pub call_path: Box<str>,
    #[serde(
        rename = "cp_total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_total_ns: u64,
    pub cp_share: f64,
    pub occurrence: usize,
}

/// One endpoint's traces (root service and operation) and their hotspots, for the top-down
/// tables; only the operation figures are kept (`HotspotAgg::apply_ops`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointAgg {
    pub traces: usize,
    pub hotspots: HotspotAgg,
}

impl HotspotAgg {
    pub fn apply(&mut self, h: &TraceHotspots, add: bool) {
        self.apply_ops(h, add);
        for (k, v) in &h.cp_by_call_path {
            let a = self.paths.entry(*k).or_default();
            upd(&mut a.total, *v, add);
            a.traces = if add {
                a.traces + 1
            } else {
                a.traces.saturating_sub(1)
            };
            if a.traces == 0 {
                self.paths.remove(k);
            }
        }
        for &(k, kind, dur) in &h.background {
            let a = self.background.entry((k, kind)).or_default();
            upd(&mut a.spans, 1, add);
            upd(&mut a.total_ns, dur, add);
            if add {
                a.longest_ns = a.longest_ns.max(dur);
            }
            if a.spans == 0 {
                self.background.remove(&(k, kind));
            }
        }
    }

    /// The request time and the per-operation figures only (what `operations` reads): emptied
    /// entries are removed one by one, so a trace costs its own operations, not the table's.
    pub fn apply_ops(&mut self, h: &TraceHotspots, add: bool) {
        upd(&mut self.root_ns, h.root_ns, add);
        for (k, v) in &h.cp_by_op {
            let a = self.ops.entry(*k).or_default();
            apply_cp(a, *v, add);
            if a.per_trace.is_empty() {
                self.ops.remove(k);
            }
        }
        for (k, v) in &h.self_by_op {
            let t = self.times.entry(*k).or_default();
            upd(&mut t.count, v.count, add);
            upd(&mut t.total_ns, v.total_ns, add);
            upd(&mut t.self_ns, v.self_ns, add);
            if t.count == 0 {
                self.times.remove(k);
            }
        }
    }

    /// Adds another instance's figures: totals and counts exactly, per-trace distributions as
    /// `Samples::merge`.
    pub fn merge(&mut self, other: &HotspotAgg) {
        self.root_ns = self.root_ns.saturating_add(other.root_ns);
        for (k, a) in &other.ops {
            let mine = self.ops.entry(*k).or_default();
            mine.total = mine.total.saturating_add(a.total);
            mine.per_trace.merge(&a.per_trace);
        }
        for (k, t) in &other.times {
            let mine = self.times.entry(*k).or_default();
            mine.count += t.count;
            mine.total_ns = mine.total_ns.saturating_add(t.total_ns);
            mine.self_ns = mine.self_ns.saturating_add(t.self_ns);
        }
        for (k, a) in &other.paths {
            let mine = self.paths.entry(*k).or_default();
            mine.total = mine.total.saturating_add(a.total);
            mine.traces += a.traces;
        }
        for (k, a) in &other.background {
            let mine = self.background.entry(*k).or_default();
            mine.spans += a.spans;
            mine.total_ns = mine.total_ns.saturating_add(a.total_ns);
            mine.longest_ns = mine.longest_ns.max(a.longest_ns);
        }
    }

    /// Heap bytes held, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        mem::btree::<OpKey, CpAgg>(self.ops.len())
            + self
                .ops
                .values()
                .map(|a| a.per_trace.heap_bytes())
                .sum::<usize>()
            + mem::btree::<OpKey, OpTimes>(self.times.len())
            + mem::btree::<Sym, PathAgg>(self.paths.len())
            + mem::btree::<(OpKey, BackgroundKind), BackgroundAgg>(self.background.len())
    }

    /// Background work by wall time, largest first.
    pub fn background(&self) -> Vec<BackgroundRow> {
        let mut rows: Vec<BackgroundRow> = self
            .background
            .iter()
            .map(|(&((service, operation), kind), a)| BackgroundRow {
                service,
                operation,
                kind,
                spans: a.spans,
                total_ns: a.total_ns,
                longest_ns: a.longest_ns,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.total_ns
                .cmp(&a.total_ns)
                .then((a.service, a.operation, a.kind).cmp(&(b.service, b.operation, b.kind)))
        });
        rows
    }

    /// Share of all request time (Σ over traces of their request critical-path time) that `ns` is.
    pub fn share(&self, ns: u64) -> f64 {
        if self.root_ns == 0 {
            0.0
        } else {
            ns as f64 / self.root_ns as f64
        }
    }

    /// Operations by critical-path time, largest first.
    pub fn operations(&self) -> Vec<Hotspot> {
        let mut rows: Vec<Hotspot> = self
            .ops
            .iter()
            .map(|(&(service, operation), a)| {
                let p = |q| a.per_trace.percentile(q).unwrap_or(0.0).round() as u64;
                let t = self
                    .times
                    .get(&(service, operation))
                    .copied()
                    .unwrap_or_default();
                Hotspot {
                    service,
                    operation,
                    cp_total_ns: a.total,
                    cp_share: self.share(a.total),
                    occurrence: a.per_trace.len(),
                    cp_p50_ns: p(0.5),
                    cp_p95_ns: p(0.95),
                    self_total_ns: t.self_ns,
                    count: t.count,
                    worst_trace: None,
                    worst_span_id: None,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.cp_total_ns
                .cmp(&a.cp_total_ns)
                .then((a.service, a.operation).cmp(&(b.service, b.operation)))
        });
        rows
    }

    pub fn call_paths(&self) -> Vec<CallPathHotspot> {
        let mut rows: Vec<CallPathHotspot> = self
            .paths
            .iter()
            .map(|(k, a)| CallPathHotspot {
                call_path: k.as_str().into(),
                cp_total_ns: a.total,
                cp_share: self.share(a.total),
                occurrence: a.traces,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.cp_total_ns
                .cmp(&a.cp_total_ns)
                .then(a.call_path.cmp(&b.call_path))
        });
        rows
    }

    /// Critical-path time and share per service.
    pub fn by_service(&self) -> BTreeMap<Sym, (u64, f64)> {
        let mut m: BTreeMap<Sym, u64> = BTreeMap::new();
        for (&(svc, _), a) in &self.ops {
            let t = m.entry(svc).or_default();
            *t = t.saturating_add(a.total);
        }
        m.into_iter()
            .map(|(k, v)| (k, (v, self.share(v))))
            .collect()
    }
}

impl HotspotAgg {
    /// Self time per service (ns), summed over operations and traces.
    pub fn self_by_service(&self) -> BTreeMap<Sym, u64> {
        let mut m: BTreeMap<Sym, u64> = BTreeMap::new();
        for (&(svc, _), t) in &self.times {
            let total = m.entry(svc).or_default();
            *total = total.saturating_add(t.self_ns);
        }
        m
    }
}

fn upd(x: &mut u64, v: u64, add: bool) {
    *x = if add {
        x.saturating_add(v)
    } else {
        x.saturating_sub(v)
    }
}

fn apply_cp(a: &mut CpAgg, v: u64, add: bool) {
    if add {
        a.total = a.total.saturating_add(v);
        a.per_trace.push(v as i64);
    } else {
        a.total = a.total.saturating_sub(v);
        a.per_trace.remove(v as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::MS;

    #[test]
    fn cp6_aggregation_over_traces() {
        let op = (Sym::new("db"), Sym::new("query"));
        let mut agg = HotspotAgg::default();
        let traces: Vec<TraceHotspots> = [(10, 100), (0, 80), (30, 120)]
            .into_iter()
            .map(|(cp, root)| TraceHotspots {
                root_ns: root * MS,
                cp_by_op: if cp > 0 { vec![(op, cp * MS)] } else { vec![] },
                ..TraceHotspots::default()
            })
            .collect();
        for t in &traces {
            agg.apply(t, true);
        }
        let rows = agg.operations();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].occurrence, 2);
        assert_eq!(rows[0].cp_p50_ns, 20_000_000);
        assert!((rows[0].cp_share - 40.0 / 300.0).abs() < 1e-12);
        agg.apply(&traces[2], false);
        assert_eq!(agg.operations()[0].cp_total_ns, 10_000_000);
    }
}
