//! Repeated work across traces: fan-out lists by kind, patterns (one row per parent operation
//! and call signature, or per chain of services, summed over occurrences) and chain rows.

use super::*;
use crate::analysis::aggregate::folded::FoldedLists;
pub use crate::analysis::aggregate::lists::PatternKind;
use crate::analysis::aggregate::lists::{
    ChainSummary, ListIndex, PatternKey, PatternSummary, Ranked,
};

#[derive(Debug, Clone, Serialize)]
pub struct FanOutList {
    pub count: usize,
    pub traces: usize,
    /// Worst first: N+1 by the time the loop held the request, parallel by critical-path time.
    pub list: Vec<FanOut>,
}

/// Fan-outs of one shape under one parent operation (or one chain of services), summed over
/// every occurrence.
#[derive(Debug, Clone, Serialize)]
pub struct Pattern {
    pub kind: PatternKind,
    /// The parent span's service and operation; for a chain, its first service and the root
    /// operation of its worst trace.
    pub service: Sym,
    pub parent: Sym,
    /// What repeats: the called services and operations (N+1; with the call signature when
    /// several loops under one parent share those names), the loop body (MN+1), the services
    /// called at once (parallel), the path of services (chain).
    pub target: String,
    /// N+1: the normalised call signature the loop repeats (statement, method and URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    pub occurrences: usize,
    pub traces: usize,
    /// Calls per parent (a chain: its amplification).
    pub min_degree: f64,
    pub max_degree: f64,
    pub mean_degree: f64,
    /// Most member calls in flight at once in any occurrence: 1 is a strict loop.
    pub max_concurrency: usize,
    /// The shape of the worst occurrence (none for chains).
    pub shape: Option<Shape>,
    /// Time the members held their parent (union of their intervals), summed.
    #[serde(
        rename = "time_held_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub time_held_ns: u64,
    #[serde(
        rename = "batching_saves_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub batching_saves_ns: u64,
    /// Critical-path time inside the members, summed.
    #[serde(
        rename = "cp_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_ns: u64,
    pub cut_by_error: usize,
    /// Parallel: the worst occurrence's slowest chain of services and its tail risk.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub worst_chain: Vec<Sym>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail_risk: Option<f64>,
    /// Evidence: the parent span of the occurrence that held its request longest (a chain:
    /// the root of its most amplified trace).
    pub worst: SpanRef,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainRow {
    pub services: Vec<Sym>,
    pub traces: usize,
    pub max_amplification: f64,
    pub max_invocations: usize,
    #[serde(
        rename = "cp_total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_total_ns: u64,
    pub example_trace: TraceId,
}

/// The held fan-outs of the kind and the folded worst, merged in rank order.
pub(super) fn fanout_list(lists: &Lists<'_>, kind: FanOutKind, top: usize) -> FanOutList {
    let (count, traces) = lists.index.counts(kind);
    let (folded_count, folded_traces, folded) = lists.folded.kind(kind);
    let mut list: Vec<(Ranked, &FanOut)> = lists
        .index
        .ranked_entries(kind)
        .filter_map(|(r, (trace, i))| Some((r, lists.fanout(trace, i)?)))
        .take(top)
        .collect();
    list.extend(folded.take(top).map(|(r, x)| (*r, x)));
    list.sort_by_key(|x| x.0);
    list.truncate(top);
    FanOutList {
        count: count + folded_count,
        traces: traces + folded_traces,
        list: list.into_iter().map(|(_, x)| x.clone()).collect(),
    }
}

/// Sums every group's occurrences into a row (fan-outs by kind, parent operation and what
/// repeats; chains by their path), held and folded, ranked within each kind, `top` rows of
/// each.
pub(super) fn patterns(lists: &Lists<'_>, top: usize) -> Vec<Pattern> {
    let mut groups: BTreeMap<&PatternKey, PatternSummary> = lists
        .index
        .patterns
        .iter()
        .filter_map(|(key, occ)| {
            let s = PatternSummary::of_group(occ, |m| lists.fanout(m.trace_id, m.index as usize))?;
            Some((key, s))
        })
        .collect();
    for (key, s) in &lists.folded.patterns {
        groups
            .entry(key)
            .and_modify(|g| g.merge(s))
            .or_insert_with(|| s.clone());
    }
    // Loops whose names alone would read the same (`get` x4 for four statements) are told
    // apart by their signatures.
    let mut same_name: FxHashMap<(PatternKind, Sym, Sym, &str), usize> = FxHashMap::default();
    for (kind, service, parent, target, _) in groups.keys() {
        *same_name
            .entry((*kind, *service, *parent, target.as_str()))
            .or_default() += 1;
    }
    let mut rows: Vec<Pattern> = groups
        .iter()
        .map(|((kind, service, parent, target, signature), s)| {
            let target = match signature {
                Some(sig) if same_name[&(*kind, *service, *parent, target.as_str())] > 1 => {
                    format!("{target} [{sig}]")
                }
                _ => target.clone(),
            };
            let worst = s.worst_fanout.as_ref();
            Pattern {
                kind: *kind,
                service: *service,
                parent: *parent,
                target,
                signature: signature.clone(),
                occurrences: s.occurrences,
                traces: s.traces,
                min_degree: s.min_degree,
                max_degree: s.max_degree,
                mean_degree: s.sum_degree / s.occurrences as f64,
                max_concurrency: s.max_concurrency,
                shape: worst.map(|x| x.shape),
                time_held_ns: s.union_ns,
                batching_saves_ns: s.savings_ns,
                cp_ns: s.cp_ns,
                cut_by_error: s.cut_by_error,
                worst_chain: worst.map(|x| x.chain.clone()).unwrap_or_default(),
                tail_risk: worst.and_then(|x| x.tail_risk),
                worst: s.worst.1.at,
            }
        })
        .collect();
    // Loops by the time they held requests, parallel fan-outs and chains by critical path.
    let weight = |p: &Pattern| match p.kind {
        PatternKind::NPlusOne | PatternKind::MnPlusOne => p.time_held_ns,
        PatternKind::Parallel | PatternKind::Chain => p.cp_ns,
    };
    rows.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(weight(b).cmp(&weight(a)))
            .then((a.service, a.parent).cmp(&(b.service, b.parent)))
            .then(a.target.cmp(&b.target))
    });
    // `top` rows of each kind.
    let mut kept: FxHashMap<PatternKind, usize> = FxHashMap::default();
    rows.retain(|p| {
        let n = kept.entry(p.kind).or_default();
        *n += 1;
        *n <= top
    });
    rows
}

/// One row per chain of services, held and folded.
pub(super) fn chain_rows(lists: &Lists<'_>) -> Vec<ChainRow> {
    let mut groups: BTreeMap<&Vec<Sym>, ChainSummary> = lists
        .index
        .chains
        .iter()
        .filter_map(|(services, occ)| Some((services, ChainSummary::of_group(occ)?)))
        .collect();
    for (services, s) in &lists.folded.chains {
        groups
            .entry(services)
            .and_modify(|g| g.merge(s))
            .or_insert(*s);
    }
    let mut v: Vec<ChainRow> = groups
        .into_iter()
        .map(|(services, s)| ChainRow {
            services: services.clone(),
            traces: s.traces,
            max_amplification: s.max_amplification,
            max_invocations: s.max_invocations,
            cp_total_ns: s.cp_total_ns,
            example_trace: s.example.trace_id,
        })
        .collect();
    v.sort_by(|a, b| {
        b.cp_total_ns
            .cmp(&a.cp_total_ns)
            .then(b.max_amplification.total_cmp(&a.max_amplification))
    });
    v
}

/// The lists' index and the findings it points into, and what the retired traces folded in.
#[derive(Debug, Clone, Copy)]
pub struct Lists<'a> {
    pub index: &'a ListIndex,
    pub held: &'a FxHashMap<TraceId, std::sync::Arc<TraceFindings>>,
    pub folded: &'a FoldedLists,
}

impl Lists<'_> {
    fn fanout(&self, trace: TraceId, i: usize) -> Option<&FanOut> {
        self.held.get(&trace).and_then(|f| f.fanouts.get(i))
    }
}
