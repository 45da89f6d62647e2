//! What the lists keep of retired traces once their findings are let go of (`Engine::retire`
//! without `keep_retired_paths`, i.e. `report` without `--per-trace`): each pattern and chain
//! of services summed, the error origins counted per operation, and of the lists of single
//! occurrences (fan-outs by kind, errors, lowest coverage) the first `cap` in each list's
//! order. Memory then grows with the kinds of findings, not with the traces: a file of any
//! size reports within `--max-memory`, its single-occurrence lists cut to `cap`.
//!
//! A retired trace cannot complete again, so nothing is taken back out of these. The held
//! traces' entries (`ListIndex`) are merged with them when the findings are built: every count
//! and pattern row is the same as with every trace's findings held, and each cut list is the
//! held run's list cut to `cap`.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use rustc_hash::FxHashSet;

use crate::analysis::aggregate::lists::{
    self, ChainSummary, Entry, PatternKey, PatternSummary, Ranked,
};
use crate::analysis::engine::TraceFindings;
use crate::analysis::findings::{CoverageRow, ErrorAt, ErrorSummary, LOW_COVERAGE};
use crate::analysis::trace::errors::ErrorOrigin;
use crate::analysis::trace::fanout::{FanOut, FanOutKind};
use crate::model::{Sym, TraceId, mem};

/// The first `cap` of many items by key (keys distinct). Items past the `cap` kept are
/// dropped in batches: at most `2 * cap` are held.
#[derive(Debug, Clone)]
pub struct FirstK<K, V> {
    items: Vec<(K, V)>,
    cap: usize,
    /// Once `cap` are kept, the last of them: a key after it can never be among the first.
    bound: Option<K>,
}

impl<K: Ord + Copy, V> FirstK<K, V> {
    pub fn new(cap: usize) -> Self {
        FirstK {
            items: Vec::new(),
            cap,
            bound: None,
        }
    }

    /// Whether an item with this key could be among the first `cap`.
    pub fn admits(&self, k: &K) -> bool {
        self.cap > 0 && self.bound.is_none_or(|b| *k < b)
    }

    pub fn push(&mut self, k: K, v: V) {
        if !self.admits(&k) {
            return;
        }
        self.items.push((k, v));
        if self.items.len() >= self.cap.saturating_mul(2) {
            self.items.sort_unstable_by_key(|x| x.0);
            self.items.truncate(self.cap);
            self.bound = self.items.last().map(|x| x.0);
        }
    }

    /// The first `cap`, in key order.
    pub fn first(&self) -> impl Iterator<Item = &(K, V)> {
        let mut v: Vec<&(K, V)> = self.items.iter().collect();
        v.sort_unstable_by_key(|x| x.0);
        v.truncate(self.cap);
        v.into_iter()
    }

    pub fn heap_bytes(&self, each: impl Fn(&V) -> usize) -> usize {
        mem::vec::<(K, V)>(self.items.capacity())
            + self.items.iter().map(|x| each(&x.1)).sum::<usize>()
    }
}

/// A coverage row's place in the lowest-coverage list (`coverage_order`): lowest first, then
/// the longest, then by trace.
pub type CoverageKey = (i64, Reverse<u64>, TraceId);

/// `f64::total_cmp` as an integer key.
fn total_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

pub fn coverage_key(r: &CoverageRow) -> CoverageKey {
    (total_key(r.coverage), Reverse(r.duration_ns), r.trace_id)
}

#[derive(Debug, Clone)]
struct FoldedKind {
    count: usize,
    traces: usize,
    worst: FirstK<Ranked, FanOut>,
}

#[derive(Debug, Clone)]
pub struct FoldedLists {
    /// Entries kept of each list of single occurrences.
    pub cap: usize,
    /// Traces folded in: once there is one, every list of single occurrences is cut to `cap`.
    pub traces: usize,
    /// N+1, MN+1 and parallel, as `ListIndex` orders them.
    kinds: [FoldedKind; 3],
    pub patterns: BTreeMap<PatternKey, PatternSummary>,
    pub chains: BTreeMap<Vec<Sym>, ChainSummary>,
    pub errors: ErrorSummary,
    first_errors: FirstK<ErrorAt, ErrorOrigin>,
    /// Folded traces of low coverage, and the lowest of them.
    pub low_coverage: usize,
    lowest: FirstK<CoverageKey, CoverageRow>,
}

impl Default for FoldedLists {
    fn default() -> Self {
        FoldedLists::new(0)
    }
}

impl FoldedLists {
    pub fn new(cap: usize) -> Self {
        let kind = || FoldedKind {
            count: 0,
            traces: 0,
            worst: FirstK::new(cap),
        };
        FoldedLists {
            cap,
            traces: 0,
            kinds: [kind(), kind(), kind()],
            patterns: BTreeMap::new(),
            chains: BTreeMap::new(),
            errors: ErrorSummary::default(),
            first_errors: FirstK::new(cap),
            low_coverage: 0,
            lowest: FirstK::new(cap),
        }
    }

    /// The cap on the lists of single occurrences, once anything is folded.
    pub fn list_cap(&self) -> Option<usize> {
        (self.traces > 0).then_some(self.cap)
    }

    /// Folds in a retired trace's fan-outs, chains and errors (what `ListIndex` and the error
    /// list read of it).
    pub fn fold(&mut self, f: &TraceFindings) {
        self.traces += 1;
        let mut kinds_seen = [false; 3];
        // A trace counts once per pattern: its occurrences after the first are not new traces.
        let mut once: FxHashSet<PatternKey> = FxHashSet::default();
        for e in lists::entries(f) {
            match e {
                Entry::FanOut {
                    fanout,
                    ranked,
                    key,
                    at,
                    occurrence,
                } => {
                    let slot = lists::slot(fanout.kind);
                    let k = &mut self.kinds[slot];
                    k.count += 1;
                    k.traces += usize::from(!kinds_seen[slot]);
                    kinds_seen[slot] = true;
                    if k.worst.admits(&ranked) {
                        k.worst.push(ranked, fanout.clone());
                    }
                    self.add_occurrence(&mut once, key, at, occurrence, Some(fanout));
                }
                Entry::Chain {
                    chain,
                    at,
                    occurrence,
                    pattern,
                } => {
                    self.chains
                        .entry(chain.services.clone())
                        .or_insert_with(|| ChainSummary::new(at))
                        .add(at, &occurrence);
                    if let Some((key, o)) = pattern {
                        self.add_occurrence(&mut once, key, at, o, None);
                    }
                }
            }
        }
        self.errors.add_trace(f);
        for (i, e) in f.errors.iter().enumerate() {
            let at = (f.start_ns, f.trace_id, i);
            if self.first_errors.admits(&at) {
                self.first_errors.push(at, e.clone());
            }
        }
    }

    fn add_occurrence(
        &mut self,
        once: &mut FxHashSet<PatternKey>,
        key: PatternKey,
        at: lists::Member,
        o: lists::Occurrence,
        x: Option<&FanOut>,
    ) {
        let new_trace = !once.contains(&key);
        if new_trace {
            once.insert(key.clone());
        }
        self.patterns
            .entry(key)
            .or_insert_with(|| PatternSummary::empty(at, o))
            .add(at, o, x, new_trace);
    }

    /// Folds in a retired trace's coverage, as it leaves (while it is held, the coverage
    /// list reads it there).
    pub fn fold_coverage(&mut self, f: &TraceFindings) {
        if f.cp_coverage < LOW_COVERAGE {
            self.low_coverage += 1;
            let row = CoverageRow::of(f);
            let k = coverage_key(&row);
            if self.lowest.admits(&k) {
                self.lowest.push(k, row);
            }
        }
    }

    /// Folded fan-outs of the kind and the traces they are in, and the worst `cap` of them.
    pub fn kind(
        &self,
        kind: FanOutKind,
    ) -> (usize, usize, impl Iterator<Item = &(Ranked, FanOut)>) {
        let k = &self.kinds[lists::slot(kind)];
        (k.count, k.traces, k.worst.first())
    }

    /// The first `cap` folded errors, in report order.
    pub fn first_errors(&self) -> impl Iterator<Item = &(ErrorAt, ErrorOrigin)> {
        self.first_errors.first()
    }

    /// The `cap` folded traces of lowest coverage, lowest first.
    pub fn lowest(&self) -> impl Iterator<Item = &(CoverageKey, CoverageRow)> {
        self.lowest.first()
    }

    /// Heap bytes held, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        let kinds: usize = self
            .kinds
            .iter()
            .map(|k| k.worst.heap_bytes(FanOut::heap_bytes))
            .sum();
        let patterns: usize = self
            .patterns
            .iter()
            .map(|((_, _, _, target, sig), s)| {
                target.capacity() + sig.as_ref().map_or(0, String::capacity) + s.heap_bytes()
            })
            .sum();
        let chains: usize = self
            .chains
            .keys()
            .map(|path| mem::vec::<Sym>(path.capacity()))
            .sum();
        kinds
            + mem::btree::<PatternKey, PatternSummary>(self.patterns.len())
            + patterns
            + mem::btree::<Vec<Sym>, ChainSummary>(self.chains.len())
            + chains
            + self.errors.heap_bytes()
            + self
                .first_errors
                .heap_bytes(|e| mem::vec::<Sym>(e.propagation_services.capacity()))
            + self.lowest.heap_bytes(|_| 0)
    }
}

#[cfg(test)]
mod tests {
    use super::FirstK;

    #[test]
    fn first_k_keeps_the_first_of_many_in_any_order() {
        let mut k = FirstK::new(10);
        // 1000 keys, scrambled (7 is coprime with 1000).
        for i in 0..1000u32 {
            let key = (i * 7) % 1000;
            k.push(key, key * 2);
        }
        let kept: Vec<(u32, u32)> = k.first().copied().collect();
        let want: Vec<(u32, u32)> = (0..10).map(|i| (i, i * 2)).collect();
        assert_eq!(kept, want);
        assert!(k.items.len() < 20, "{} held", k.items.len());
        assert!(!k.admits(&500) && k.admits(&3));
    }
}
