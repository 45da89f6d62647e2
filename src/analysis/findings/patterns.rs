//! Repeated work across traces: fan-out lists by kind, patterns (one row per parent operation
//! and call signature, or per chain of services, summed over occurrences) and chain rows.

use super::*;
use crate::analysis::aggregate::lists::ListIndex;
pub use crate::analysis::aggregate::lists::PatternKind;

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

pub(super) fn fanout_list(lists: &Lists<'_>, kind: FanOutKind, top: usize) -> FanOutList {
    let (count, traces) = lists.index.counts(kind);
    FanOutList {
        count,
        traces,
        list: lists
            .index
            .ranked(kind)
            .filter_map(|(trace, i)| lists.fanout(trace, i).cloned())
            .take(top)
            .collect(),
    }
}

/// Sums every group's occurrences into a row (fan-outs by kind, parent operation and what
/// repeats; chains by their path), ranked within each kind, `top` rows of each.
pub(super) fn patterns(lists: &Lists<'_>, top: usize) -> Vec<Pattern> {
    let groups = &lists.index.patterns;
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
        .filter_map(|((kind, service, parent, target, signature), occ)| {
            let target = match signature {
                Some(sig) if same_name[&(*kind, *service, *parent, target.as_str())] > 1 => {
                    format!("{target} [{sig}]")
                }
                _ => target.clone(),
            };
            // The worst occurrence: the one that held its parent longest (a chain: most
            // amplified); among equals the first in report order.
            let (worst_at, worst) = occ.iter().max_by(|(_, a), (_, b)| {
                a.badness().total_cmp(&b.badness()).then(b.at.cmp(&a.at))
            })?;
            let worst_fanout = (!worst_at.chain)
                .then(|| lists.fanout(worst_at.trace_id, worst_at.index as usize))
                .flatten();
            let fans = || occ.values().filter_map(|o| o.fanout);
            let degrees = || occ.values().map(|o| o.degree);
            Some(Pattern {
                kind: *kind,
                service: *service,
                parent: *parent,
                target,
                signature: signature.clone(),
                occurrences: occ.len(),
                // Members are in trace order: a trace's occurrences are side by side.
                traces: 1 + occ
                    .keys()
                    .zip(occ.keys().skip(1))
                    .filter(|(a, b)| a.trace_id != b.trace_id)
                    .count(),
                min_degree: degrees().fold(f64::INFINITY, f64::min),
                max_degree: degrees().fold(0.0, f64::max),
                mean_degree: degrees().sum::<f64>() / occ.len() as f64,
                max_concurrency: fans().map(|x| x.max_concurrency).max().unwrap_or(0),
                shape: worst_fanout.map(|x| x.shape),
                time_held_ns: fans().fold(0u64, |t, x| t.saturating_add(x.union_ns)),
                batching_saves_ns: fans().fold(0u64, |t, x| t.saturating_add(x.savings_ns)),
                cp_ns: occ.values().fold(0u64, |t, o| t.saturating_add(o.cp_ns)),
                cut_by_error: fans().filter(|x| x.truncated_by_error).count(),
                worst_chain: worst_fanout.map(|x| x.chain.clone()).unwrap_or_default(),
                tail_risk: worst_fanout.and_then(|x| x.tail_risk),
                worst: worst.at,
            })
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

pub(super) fn chain_rows(lists: &Lists<'_>) -> Vec<ChainRow> {
    let mut v: Vec<ChainRow> = lists
        .index
        .chains
        .iter()
        .filter_map(|(services, occ)| {
            let (first, _) = occ.first_key_value()?;
            let mut r = ChainRow {
                services: services.clone(),
                traces: occ.len(),
                max_amplification: 0.0,
                max_invocations: 0,
                cp_total_ns: 0,
                example_trace: first.trace_id,
            };
            for (m, c) in occ {
                if c.amplification > r.max_amplification {
                    r.max_amplification = c.amplification;
                    r.example_trace = m.trace_id;
                }
                r.max_invocations = r.max_invocations.max(c.invocations);
                r.cp_total_ns = r.cp_total_ns.saturating_add(c.cp_ns);
            }
            Some(r)
        })
        .collect();
    v.sort_by(|a, b| {
        b.cp_total_ns
            .cmp(&a.cp_total_ns)
            .then(b.max_amplification.total_cmp(&a.max_amplification))
    });
    v
}

/// The lists' index and the findings it points into.
#[derive(Debug, Clone, Copy)]
pub struct Lists<'a> {
    pub index: &'a ListIndex,
    pub held: &'a FxHashMap<TraceId, std::sync::Arc<TraceFindings>>,
}

impl Lists<'_> {
    fn fanout(&self, trace: TraceId, i: usize) -> Option<&FanOut> {
        self.held.get(&trace).and_then(|f| f.fanouts.get(i))
    }
}
