//! The per-trace occurrences behind the cross-trace lists (fan-outs by kind, patterns, chains),
//! kept in report order as traces are added and taken back. Building the lists at a publish
//! then reads these compact entries, and clones only the rows it keeps, instead of cloning,
//! formatting and sorting every held trace's fan-outs each time.
//!
//! Entries name their trace and the index of the fan-out or chain in its findings, which stay
//! as they were while the trace is held, so a row is looked up there when it is shown. A
//! retired trace's entries leave for `FoldedLists` (`Engine::retire`); a group's row is its
//! held members' `PatternSummary` (or `ChainSummary`) merged with the folded one.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::analysis::engine::TraceFindings;
use crate::analysis::trace::fanout::{FanOut, FanOutChain, FanOutKind, Shape};
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
pub struct Ranked {
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

pub fn slot(kind: FanOutKind) -> usize {
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

/// Whether a retired trace, its fan-outs, chains, errors and coverage folded into
/// `FoldedLists`, is still read by a list (`Findings::build_from`), and keeps a `Remainder`:
/// cold starts are classified across every invocation, async links resolved against every
/// producer.
pub fn listed(f: &TraceFindings) -> bool {
    !(f.invocations.is_empty() && f.links.is_empty() && f.producers.is_empty())
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

/// One entry a trace's findings put in the index.
pub enum Entry<'f> {
    FanOut {
        fanout: &'f FanOut,
        ranked: Ranked,
        key: PatternKey,
        at: Member,
        occurrence: Occurrence,
    },
    Chain {
        chain: &'f FanOutChain,
        at: Member,
        occurrence: ChainOccurrence,
        /// A chain is a pattern under its trace's root operation (none without a root).
        pattern: Option<(PatternKey, Occurrence)>,
    },
}

/// The trace's fan-outs and chains as the index holds them, in the trace's order: what
/// `ListIndex::apply` puts in and takes back, and what `FoldedLists` sums.
pub fn entries(f: &TraceFindings) -> Vec<Entry<'_>> {
    let member = |chain: bool, i: usize| Member {
        start_ns: f.start_ns,
        trace_id: f.trace_id,
        chain,
        index: u32::try_from(i).unwrap_or(u32::MAX),
    };
    let fanouts = f.fanouts.iter().enumerate().map(|(i, x)| {
        let at = member(false, i);
        Entry::FanOut {
            fanout: x,
            ranked: Ranked {
                weight: Reverse(weight(x)),
                trace_id: f.trace_id,
                parent_span_id: x.parent_span_id,
                index: at.index,
            },
            key: pattern_key(x),
            at,
            occurrence: Occurrence {
                at: SpanRef::new(f.trace_id, x.parent_span_id),
                degree: x.degree as f64,
                cp_ns: x.cp_ns,
                fanout: Some(FanOutTimes {
                    union_ns: x.union_ns,
                    savings_ns: x.savings_if_batched_ns,
                    max_concurrency: x.max_concurrency,
                    truncated_by_error: x.truncated_by_error,
                }),
            },
        }
    });
    let chains = f.chains.iter().enumerate().map(|(i, c)| {
        let pattern = match (&f.root, c.services.first()) {
            (Some(root), Some(&first)) => Some((
                (
                    PatternKind::Chain,
                    first,
                    root.name,
                    Sym::join(&c.services, " → "),
                    None,
                ),
                Occurrence {
                    at: SpanRef::new(f.trace_id, root.span_id),
                    degree: c.amplification,
                    cp_ns: c.cp_ns,
                    fanout: None,
                },
            )),
            _ => None,
        };
        Entry::Chain {
            chain: c,
            at: member(true, i),
            occurrence: ChainOccurrence {
                amplification: c.amplification,
                invocations: c.invocations,
                cp_ns: c.cp_ns,
            },
            pattern,
        }
    });
    fanouts.chain(chains).collect()
}

impl ListIndex {
    /// Adds the trace's fan-outs and chains, or (`add == false`) takes back exactly what
    /// adding the same findings put in.
    pub fn apply(&mut self, f: &TraceFindings, add: bool) {
        for e in entries(f) {
            match e {
                Entry::FanOut {
                    fanout,
                    ranked,
                    key,
                    at,
                    occurrence,
                } => {
                    let list = &mut self.kinds[slot(fanout.kind)];
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
                    put(&mut self.patterns, key, at, occurrence, add);
                }
                Entry::Chain {
                    chain,
                    at,
                    occurrence,
                    pattern,
                } => {
                    put(
                        &mut self.chains,
                        chain.services.clone(),
                        at,
                        occurrence,
                        add,
                    );
                    if let Some((key, occurrence)) = pattern {
                        put(&mut self.patterns, key, at, occurrence, add);
                    }
                }
            }
        }
    }

    /// The fan-outs of one kind, worst first, with their rank and (trace, index into its
    /// `fanouts`).
    pub fn ranked_entries(
        &self,
        kind: FanOutKind,
    ) -> impl Iterator<Item = (Ranked, (TraceId, usize))> + '_ {
        self.kinds[slot(kind)]
            .ranked
            .iter()
            .map(|r| (*r, (r.trace_id, r.index as usize)))
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

/// Whether occurrence `a` is worse than `b`, for a group's worst: it held its parent longer
/// (a chain: more amplified); among equals the earlier parent span, then the later member (as
/// `Iterator::max_by` over members in order picks).
fn worse(a: (&Member, &Occurrence), b: (&Member, &Occurrence)) -> bool {
    a.1.badness()
        .total_cmp(&b.1.badness())
        .then(b.1.at.cmp(&a.1.at))
        .then(a.0.cmp(b.0))
        .is_gt()
}

/// What a pattern row shows of its worst fan-out.
#[derive(Debug, Clone, PartialEq)]
pub struct WorstFanOut {
    pub shape: Shape,
    pub chain: Vec<Sym>,
    pub tail_risk: Option<f64>,
}

impl WorstFanOut {
    fn of(x: &FanOut) -> Self {
        WorstFanOut {
            shape: x.shape,
            chain: x.chain.clone(),
            tail_risk: x.tail_risk,
        }
    }
}

/// A pattern's occurrences summed: what its row shows. Built from the held members of a group
/// and from folded (retired) traces alike, and merged exactly (the degree sum aside, whose
/// floating-point order differs).
#[derive(Debug, Clone, PartialEq)]
pub struct PatternSummary {
    pub occurrences: usize,
    pub traces: usize,
    pub min_degree: f64,
    pub max_degree: f64,
    pub sum_degree: f64,
    pub max_concurrency: usize,
    pub union_ns: u64,
    pub savings_ns: u64,
    pub cp_ns: u64,
    pub cut_by_error: usize,
    pub worst: (Member, Occurrence),
    pub worst_fanout: Option<WorstFanOut>,
}

impl PatternSummary {
    /// No occurrence yet; `(at, o)` stands for the worst until the first is added.
    pub fn empty(at: Member, o: Occurrence) -> Self {
        PatternSummary {
            occurrences: 0,
            traces: 0,
            min_degree: f64::INFINITY,
            max_degree: 0.0,
            sum_degree: 0.0,
            max_concurrency: 0,
            union_ns: 0,
            savings_ns: 0,
            cp_ns: 0,
            cut_by_error: 0,
            worst: (at, o),
            worst_fanout: None,
        }
    }

    /// Adds one occurrence (`fanout`: the fan-out it is, none for a chain); `new_trace` when
    /// it is the first of its trace in the group.
    pub fn add(&mut self, at: Member, o: Occurrence, fanout: Option<&FanOut>, new_trace: bool) {
        self.occurrences += 1;
        self.traces += usize::from(new_trace);
        self.min_degree = self.min_degree.min(o.degree);
        self.max_degree = self.max_degree.max(o.degree);
        self.sum_degree += o.degree;
        if let Some(x) = o.fanout {
            self.max_concurrency = self.max_concurrency.max(x.max_concurrency);
            self.union_ns = self.union_ns.saturating_add(x.union_ns);
            self.savings_ns = self.savings_ns.saturating_add(x.savings_ns);
            self.cut_by_error += usize::from(x.truncated_by_error);
        }
        self.cp_ns = self.cp_ns.saturating_add(o.cp_ns);
        if self.occurrences == 1 || worse((&at, &o), (&self.worst.0, &self.worst.1)) {
            self.worst = (at, o);
            self.worst_fanout = fanout.map(WorstFanOut::of);
        }
    }

    /// A held group, its worst fan-out looked up by `fanout`.
    pub fn of_group<'a>(
        group: &BTreeMap<Member, Occurrence>,
        fanout: impl Fn(&Member) -> Option<&'a FanOut>,
    ) -> Option<Self> {
        let (&first, &o) = group.first_key_value()?;
        let mut s = PatternSummary::empty(first, o);
        let mut last: Option<TraceId> = None;
        for (m, o) in group {
            // Members are in trace order: a trace's occurrences are side by side.
            s.add(*m, *o, None, last != Some(m.trace_id));
            last = Some(m.trace_id);
        }
        let worst = s.worst.0;
        s.worst_fanout = (!worst.chain)
            .then(|| fanout(&worst))
            .flatten()
            .map(WorstFanOut::of);
        Some(s)
    }

    /// Adds another set of occurrences (of other traces) to these.
    pub fn merge(&mut self, o: &PatternSummary) {
        self.occurrences += o.occurrences;
        self.traces += o.traces;
        self.min_degree = self.min_degree.min(o.min_degree);
        self.max_degree = self.max_degree.max(o.max_degree);
        self.sum_degree += o.sum_degree;
        self.max_concurrency = self.max_concurrency.max(o.max_concurrency);
        self.union_ns = self.union_ns.saturating_add(o.union_ns);
        self.savings_ns = self.savings_ns.saturating_add(o.savings_ns);
        self.cp_ns = self.cp_ns.saturating_add(o.cp_ns);
        self.cut_by_error += o.cut_by_error;
        if worse((&o.worst.0, &o.worst.1), (&self.worst.0, &self.worst.1)) {
            self.worst = o.worst;
            self.worst_fanout.clone_from(&o.worst_fanout);
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.worst_fanout
            .as_ref()
            .map_or(0, |w| mem::vec::<Sym>(w.chain.capacity()))
    }
}

/// The occurrences of one chain of services summed: what its row shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainSummary {
    pub traces: usize,
    pub max_amplification: f64,
    /// The earliest member of the largest amplification (of all, when none is above 0).
    pub example: Member,
    pub max_invocations: usize,
    pub cp_total_ns: u64,
}

impl ChainSummary {
    pub fn new(first: Member) -> Self {
        ChainSummary {
            traces: 0,
            max_amplification: 0.0,
            example: first,
            max_invocations: 0,
            cp_total_ns: 0,
        }
    }

    pub fn add(&mut self, at: Member, c: &ChainOccurrence) {
        if self.traces == 0 {
            self.example = at;
        }
        self.traces += 1;
        self.take_example(c.amplification, at);
        self.max_invocations = self.max_invocations.max(c.invocations);
        self.cp_total_ns = self.cp_total_ns.saturating_add(c.cp_ns);
    }

    fn take_example(&mut self, amplification: f64, at: Member) {
        if amplification > self.max_amplification
            || (amplification == self.max_amplification && at < self.example)
        {
            self.max_amplification = amplification;
            self.example = at;
        }
    }

    pub fn of_group(group: &BTreeMap<Member, ChainOccurrence>) -> Option<Self> {
        let (&first, _) = group.first_key_value()?;
        let mut s = ChainSummary::new(first);
        for (m, c) in group {
            s.add(*m, c);
        }
        Some(s)
    }

    pub fn merge(&mut self, o: &ChainSummary) {
        self.traces += o.traces;
        self.take_example(o.max_amplification, o.example);
        self.max_invocations = self.max_invocations.max(o.max_invocations);
        self.cp_total_ns = self.cp_total_ns.saturating_add(o.cp_total_ns);
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

    /// Traces let go of in any order (here: last first) fold into the findings of every trace
    /// held, each list of single occurrences cut to the cap.
    #[test]
    fn retired_traces_fold_into_the_held_findings_cut_to_the_cap() {
        use crate::analysis::engine::AnalysisConfig;
        const CAP: usize = 5;
        let config = AnalysisConfig {
            keep_retired_paths: false,
            retired_list_cap: CAP,
            ..AnalysisConfig::default()
        };
        let (mut held, mut folded) = (Engine::new(config), Engine::new(config));
        let all = traces(1..=60);
        for t in &all {
            held.add_trace(t);
            folded.add_trace(t);
        }
        // Two thirds let go of, the newest first; the rest stay held.
        for t in all.iter().rev().take(40) {
            folded.retire(t.trace_id);
        }
        assert_eq!(folded.findings().len(), 20);
        let json = |e: &Engine, each: usize| {
            let opts = FindingsOptions {
                occurrences: each,
                ..FindingsOptions::default()
            };
            serde_json::to_value(Findings::build(e, opts)).expect("json")
        };
        let (whole, mut got) = (json(&held, usize::MAX), json(&folded, usize::MAX));
        assert_eq!(got["input"]["lists_cut_to"], CAP);
        got["input"]
            .as_object_mut()
            .and_then(|i| i.remove("lists_cut_to"))
            .expect("said");
        let n = |v: &serde_json::Value, list: &str| v[list]["list"].as_array().map_or(0, Vec::len);
        assert!(n(&whole, "parallel_fanouts") > CAP, "the cut shows");
        assert_eq!(n(&got, "parallel_fanouts"), CAP);
        assert_eq!(got, json(&held, CAP));
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
