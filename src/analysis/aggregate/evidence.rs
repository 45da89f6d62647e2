//! The worst cases behind the hotspot and gap rows, folded in from let-go (retired) traces so
//! that those traces keep neither their per-operation times, their calls nor their paths.
//!
//! A retired trace cannot complete again (its spans are gone; a late fragment is counted stale),
//! so nothing is ever taken back out of these: only maxima are kept. The rows' evidence is the
//! largest value, the first in report order (trace start, then trace id) among equals; the
//! publish compares the folded worst with the worst of the traces still held, in that order.

use rustc_hash::FxHashMap;

use crate::model::{SpanId, Sym, TraceId, mem};

use crate::analysis::aggregate::callgraph::GapEvidence;
use crate::analysis::aggregate::hotspots::OpKey;
use crate::analysis::engine::TraceFindings;
use crate::analysis::trace::edges::CallKind;
use crate::analysis::trace::skew::SkewNote;

/// Where a trace stands in report order (`Engine::findings`): start, then id.
pub type Order = (u64, TraceId);

pub fn order_of(f: &TraceFindings) -> Order {
    (f.start_ns, f.trace_id)
}

/// Whether `(v, at)` beats `(best, best_at)`: larger, or equal and earlier in report order.
pub fn beats<V: Ord>(v: V, at: Order, best: V, best_at: Order) -> bool {
    v > best || (v == best && at < best_at)
}

/// The trace where an operation held the critical path longest, and its longest section there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpWorst {
    pub cp_ns: u64,
    pub at: Order,
    pub span_id: Option<SpanId>,
}

/// An edge's call with the largest client-vs-server gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapWorst {
    pub gap_ns: i64,
    pub at: Order,
    pub client_span_id: SpanId,
}

impl GapWorst {
    pub fn evidence(&self) -> GapEvidence {
        GapEvidence {
            trace_id: self.at.1,
            client_span_id: self.client_span_id,
            gap_ns: self.gap_ns,
        }
    }
}

pub type EdgeKey = (Sym, Sym, CallKind);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetiredEvidence {
    pub ops: FxHashMap<OpKey, OpWorst>,
    pub gaps: FxHashMap<EdgeKey, GapWorst>,
    /// What the retired traces whose findings left add to the input and coverage figures.
    pub gone: GoneTotals,
}

/// Sums over retired traces whose findings were let go of, for the figures that count every
/// kept trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoneTotals {
    pub traces: usize,
    pub orphan_spans: usize,
    pub traces_with_warnings: usize,
    pub clock_skew_adjusted_spans: usize,
    /// Σ path time and Σ extent (`Coverage::overall`).
    pub cp_total_ns: u64,
    pub duration_ns: u64,
}

impl GoneTotals {
    pub fn add(&mut self, f: &TraceFindings) {
        self.traces += 1;
        self.orphan_spans += f.orphan_spans;
        self.traces_with_warnings += usize::from(!f.warnings.is_empty());
        self.clock_skew_adjusted_spans += skew_adjusted(f);
        self.cp_total_ns += f.cp_total_ns;
        self.duration_ns += f.duration_ns;
    }
}

/// Spans the clock-skew adjustment shifted in a trace.
pub fn skew_adjusted(f: &TraceFindings) -> usize {
    f.clock_skew
        .iter()
        .filter(|n| matches!(n, SkewNote::Adjusted { .. }))
        .count()
}

impl RetiredEvidence {
    /// Folds in the worst cases of a trace about to be let go of.
    pub fn fold(&mut self, f: &TraceFindings) {
        self.fold_gaps(f);
        let at = order_of(f);
        let winners: Vec<(OpKey, u64)> = f
            .hotspots
            .cp_by_op
            .iter()
            .copied()
            .filter(|&(k, ns)| {
                self.ops
                    .get(&k)
                    .is_none_or(|w| beats(ns, at, w.cp_ns, w.at))
            })
            .collect();
        if winners.is_empty() {
            return;
        }
        let longest = longest_sections(f);
        for (k, cp_ns) in winners {
            let span_id = longest.get(&k).map(|&(_, id)| id);
            self.ops.insert(k, OpWorst { cp_ns, at, span_id });
        }
    }

    /// The gap half of `fold`: each edge's largest gap, the first call of equals.
    pub fn fold_gaps(&mut self, f: &TraceFindings) {
        let at = order_of(f);
        for c in &f.calls {
            let Some(gap_ns) = c.gap_ns.filter(|&g| g >= 0) else {
                continue;
            };
            let new = GapWorst {
                gap_ns,
                at,
                client_span_id: c.client_span,
            };
            self.gaps
                .entry((c.caller, c.callee, c.kind))
                .and_modify(|w| {
                    if beats(gap_ns, at, w.gap_ns, w.at) {
                        *w = new;
                    }
                })
                .or_insert(new);
        }
    }

    pub fn heap_bytes(&self) -> usize {
        mem::hash_table::<(OpKey, OpWorst)>(self.ops.capacity())
            + mem::hash_table::<(EdgeKey, GapWorst)>(self.gaps.capacity())
    }
}

/// Each operation's longest critical-path section in a trace, the last of equals in path order.
pub fn longest_sections(f: &TraceFindings) -> FxHashMap<OpKey, (u64, SpanId)> {
    let mut best: FxHashMap<OpKey, (u64, SpanId)> = FxHashMap::default();
    for s in f.critical_path.iter().flat_map(|p| &p.sections) {
        let len = s.end_ns.saturating_sub(s.start_ns);
        let b = best.entry((s.service, s.name)).or_insert((len, s.span_id));
        if len >= b.0 {
            *b = (len, s.span_id);
        }
    }
    best
}
