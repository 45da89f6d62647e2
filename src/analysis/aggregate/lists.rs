//! The per-trace occurrences behind the cross-trace lists (fan-outs by kind, patterns, chains),
//! kept in report order as traces are added and taken back. Building the lists at a publish
//! then reads these compact entries, and clones only the rows it keeps, instead of cloning,
//! formatting and sorting every held trace's fan-outs each time.
//!
//! Entries name their trace and the index of the fan-out or chain in its findings, which stay
//! as they were while the trace is held (`Engine::retire` keeps fan-outs and chains), so a row
//! is looked up there when it is shown.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::analysis::engine::TraceFindings;
use crate::analysis::trace::fanout::{FanOut, FanOutKind};
use crate::model::{SpanId, SpanRef, Sym, TraceId, mem};

/// What kind of repeated work a pattern is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    NPlusOne,
    MnPlusOne,
    Parallel,
    Chain,
}

/// A pattern's group: kind, parent service and operation, what repeats (services and
/// operations, loop body, services called at once, or path of services) and, for N+1, the
/// call signature, so different statements under one span name stay apart.
pub type PatternKey = (PatternKind, Sym, Sym, String, Option<String>);

/// Where an occurrence is, in report order: trace start, trace, then the trace's fan-outs in
/// their order before its chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub start_ns: u64,
    pub trace_id: TraceId,
    pub chain: bool,
    /// Into the trace's `fanouts` (or `chains`).
    pub index: u32,
}

/// One occurrence of a pattern: what summing its group needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Occurrence {
    pub at: SpanRef,
    /// Calls per parent (a chain: its amplification).
    pub degree: f64,
    pub cp_ns: u64,
    /// Fan-outs only (a chain has none of these).
    pub fanout: Option<FanOutTimes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOutTimes {
    pub union_ns: u64,
    pub savings_ns: u64,
    pub max_concurrency: usize,
    pub truncated_by_error: bool,
}

impl Occurrence {
    /// How bad it is, for the group's worst: the time it held its parent (a chain: its
    /// amplification).
    pub fn badness(&self) -> f64 {
        self.fanout.map_or(self.degree, |x| x.union_ns as f64)
    }
}

/// One chain of services in one trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainOccurrence {
    pub amplification: f64,
    pub invocations: usize,
    pub cp_ns: u64,
}

/// A fan-out's place in its kind's list: worst first, then by trace and parent span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ranked {
    weight: Reverse<u64>,
    trace_id: TraceId,
    parent_span_id: SpanId,
    index: u32,
}

#[derive(Debug, Clone, Default)]
struct KindList {
    ranked: BTreeSet<Ranked>,
    /// Fan-outs of this kind per trace, for the distinct-trace count.
    traces: FxHashMap<TraceId, u32>,
}

#[derive(Debug, Clone, Default)]
pub struct ListIndex {
    /// N+1, MN+1 and parallel, in that order.
    kinds: [KindList; 3],
    pub patterns: BTreeMap<PatternKey, BTreeMap<Member, Occurrence>>,
    /// Chains grouped by their path of services.
    pub chains: BTreeMap<Vec<Sym>, BTreeMap<Member, ChainOccurrence>>,
}

fn slot(kind: FanOutKind) -> usize {
    match kind {
        FanOutKind::NPlusOne => 0,
        FanOutKind::MnPlusOne => 1,
        FanOutKind::Parallel => 2,
    }
}

/// N+1 loops rank by the time they held the request, parallel fan-outs by critical path.
fn weight(x: &FanOut) -> u64 {
    match x.kind {
        FanOutKind::NPlusOne | FanOutKind::MnPlusOne => x.union_ns,
        FanOutKind::Parallel => x.cp_ns,
    }
}

/// Below this share of its extent explained, a trace's path gets a warning (and the trace
/// is listed among the lowest coverage).
pub const LOW_COVERAGE: f64 = 0.5;

/// Whether any cross-trace list reads the trace's own findings (`Findings::build_from`):
/// a retired trace that no list reads lets go of them.
pub fn listed(f: &TraceFindings) -> bool {
    !(f.invocations.is_empty()
        && f.fanouts.is_empty()
        && f.chains.is_empty()
        && f.errors.is_empty()
        && f.links.is_empty()
        && f.producers.is_empty())
        || f.cp_coverage < LOW_COVERAGE
}

/// The pattern a fan-out belongs to.
fn pattern_key(x: &FanOut) -> PatternKey {
    let (kind, target) = match x.kind {
        FanOutKind::NPlusOne => (
            PatternKind::NPlusOne,
            format!(
                "{} {}",
                Sym::join(&x.target_services, ","),
                Sym::join(&x.target_operations, ",")
            ),
        ),
        FanOutKind::MnPlusOne => (PatternKind::MnPlusOne, x.pattern.join("; ")),
        FanOutKind::Parallel => {
            let mut t: Vec<&str> = x.target_services.iter().map(|s| s.as_str()).collect();
            t.sort_unstable();
            t.dedup();
            (PatternKind::Parallel, t.join(","))
        }
    };
    let signature = x
        .signature
        .clone()
        .filter(|_| x.kind == FanOutKind::NPlusOne);
    (kind, x.parent_service, x.parent_name, target, signature)
}

fn put<K: Ord, V>(map: &mut BTreeMap<K, BTreeMap<Member, V>>, key: K, m: Member, v: V, add: bool) {
    if add {
        map.entry(key).or_default().insert(m, v);
    } else if let Some(group) = map.get_mut(&key) {
        group.remove(&m);
        if group.is_empty() {
            map.remove(&key);
        }
    }
}

impl ListIndex {
    /// Adds the trace's fan-outs and chains, or (`add == false`) takes back exactly what
    /// adding the same findings put in.
    pub fn apply(&mut self, f: &TraceFindings, add: bool) {
        let member = |chain: bool, i: usize| Member {
            start_ns: f.start_ns,
            trace_id: f.trace_id,
            chain,
            index: u32::try_from(i).unwrap_or(u32::MAX),
        };
        for (i, x) in f.fanouts.iter().enumerate() {
            let list = &mut self.kinds[slot(x.kind)];
            let at = member(false, i);
            let ranked = Ranked {
                weight: Reverse(weight(x)),
                trace_id: f.trace_id,
                parent_span_id: x.parent_span_id,
                index: at.index,
            };
            if add {
                list.ranked.insert(ranked);
                *list.traces.entry(f.trace_id).or_default() += 1;
            } else if list.ranked.remove(&ranked)
                && let Some(n) = list.traces.get_mut(&f.trace_id)
            {
                *n -= 1;
                if *n == 0 {
                    list.traces.remove(&f.trace_id);
                }
            }
            let occurrence = Occurrence {
                at: SpanRef::new(f.trace_id, x.parent_span_id),
                degree: x.degree as f64,
                cp_ns: x.cp_ns,
                fanout: Some(FanOutTimes {
                    union_ns: x.union_ns,
                    savings_ns: x.savings_if_batched_ns,
                    max_concurrency: x.max_concurrency,
                    truncated_by_error: x.truncated_by_error,
                }),
            };
            put(&mut self.patterns, pattern_key(x), at, occurrence, add);
        }
        for (i, c) in f.chains.iter().enumerate() {
            let occurrence = ChainOccurrence {
                amplification: c.amplification,
                invocations: c.invocations,
                cp_ns: c.cp_ns,
            };
            put(
                &mut self.chains,
                c.services.clone(),
                member(true, i),
                occurrence,
                add,
            );
            // A chain is a pattern under its trace's root operation.
            let (Some(root), Some(&first)) = (&f.root, c.services.first()) else {
                continue;
            };
            let key = (
                PatternKind::Chain,
                first,
                root.name,
                Sym::join(&c.services, " → "),
                None,
            );
            let occurrence = Occurrence {
                at: SpanRef::new(f.trace_id, root.span_id),
                degree: c.amplification,
                cp_ns: c.cp_ns,
                fanout: None,
            };
            put(&mut self.patterns, key, member(true, i), occurrence, add);
        }
    }

    /// The fan-outs of one kind, worst first, as (trace, index into its `fanouts`).
    pub fn ranked(&self, kind: FanOutKind) -> impl Iterator<Item = (TraceId, usize)> + '_ {
        self.kinds[slot(kind)]
            .ranked
            .iter()
            .map(|r| (r.trace_id, r.index as usize))
    }

    /// Fan-outs of the kind, and the traces they are in.
    pub fn counts(&self, kind: FanOutKind) -> (usize, usize) {
        let list = &self.kinds[slot(kind)];
        (list.ranked.len(), list.traces.len())
    }

    /// Heap bytes held, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        let kinds: usize = self
            .kinds
            .iter()
            .map(|k| {
                mem::btree::<Ranked, ()>(k.ranked.len())
                    + mem::hash_table::<(TraceId, u32)>(k.traces.capacity())
            })
            .sum();
        let patterns: usize = self
            .patterns
            .iter()
            .map(|((_, _, _, target, sig), g)| {
                target.capacity()
                    + sig.as_ref().map_or(0, String::capacity)
                    + mem::btree::<Member, Occurrence>(g.len())
            })
            .sum();
        let chains: usize = self
            .chains
            .iter()
            .map(|(path, g)| {
                mem::vec::<Sym>(path.capacity()) + mem::btree::<Member, ChainOccurrence>(g.len())
            })
            .sum();
        kinds
            + patterns
            + chains
            + mem::btree::<PatternKey, BTreeMap<Member, Occurrence>>(self.patterns.len())
            + mem::btree::<Vec<Sym>, BTreeMap<Member, ChainOccurrence>>(self.chains.len())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::analysis::engine::Engine;
    use crate::analysis::findings::{Findings, FindingsOptions};
    use crate::demo::shapes::{self, Shape};
    use crate::model::Batch;
    use crate::store::{SpanStore, StoreConfig};

    fn traces(ids: impl Iterator<Item = u64>) -> Vec<std::sync::Arc<crate::store::Trace>> {
        let mut store = SpanStore::new(StoreConfig {
            inactivity_timeout: Duration::from_secs(3600),
            max_memory: usize::MAX,
            ..StoreConfig::default()
        });
        let spans = ids
            .flat_map(|t| shapes::trace(Shape::Mixed, 20, t))
            .collect();
        store.ingest(Batch::new(spans), Instant::now());
        store.complete_all();
        store.take_completed()
    }

    /// The lists read only the index: taking traces back out leaves exactly the lists of an
    /// engine that never saw them.
    #[test]
    fn taking_traces_back_leaves_the_lists_of_the_rest() {
        let (mut all, mut odd) = (Engine::default(), Engine::default());
        for t in traces(1..=60) {
            all.add_trace(&t);
        }
        for t in traces((1..=60).step_by(2)) {
            odd.add_trace(&t);
        }
        for t in traces((2..=60).step_by(2)) {
            all.forget(t.trace_id);
        }
        let lists = |e: &Engine| {
            let f = Findings::build(e, FindingsOptions::default());
            serde_json::to_value((
                f.n_plus_one,
                f.mn_plus_one,
                f.parallel_fanouts,
                f.chains,
                f.patterns,
            ))
            .expect("json")
        };
        let expected = lists(&odd);
        assert!(
            expected.to_string().len() > 1000,
            "the shapes have fan-outs: {expected}"
        );
        assert_eq!(lists(&all), expected);
        assert!(odd.lists().patterns.values().all(|g| !g.is_empty()));
    }
}
