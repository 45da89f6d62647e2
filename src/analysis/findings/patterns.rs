//! Repeated work across traces: fan-out lists by kind, patterns (one row per parent operation
//! and call signature, or per chain of services, summed over occurrences) and chain rows.

use super::*;

#[derive(Debug, Clone, Serialize)]
pub struct FanOutList {
    pub count: usize,
    pub traces: usize,
    /// Worst first: N+1 by the time the loop held the request, parallel by critical-path time.
    pub list: Vec<FanOut>,
}

/// What kind of repeated work a `Pattern` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    NPlusOne,
    MnPlusOne,
    Parallel,
    Chain,
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

pub(super) fn fanout_list(
    all: &[&std::sync::Arc<TraceFindings>],
    kind: FanOutKind,
    top: usize,
) -> FanOutList {
    let mut list: Vec<FanOut> = all
        .iter()
        .flat_map(|f| f.fanouts.iter().filter(|x| x.kind == kind).cloned())
        .collect();
    let key = |f: &FanOut| match kind {
        FanOutKind::NPlusOne | FanOutKind::MnPlusOne => f.union_ns,
        FanOutKind::Parallel => f.cp_ns,
    };
    list.sort_by(|a, b| {
        key(b)
            .cmp(&key(a))
            .then((a.trace_id, a.parent_span_id).cmp(&(b.trace_id, b.parent_span_id)))
    });
    FanOutList {
        count: list.len(),
        traces: distinct(list.iter().map(|f| f.trace_id)),
        list: truncate(list, top),
    }
}

pub(super) fn join(v: &[Sym], sep: &str) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(sep)
}

/// One occurrence of a pattern, before summing.
struct Occurrence<'f> {
    kind: PatternKind,
    service: Sym,
    parent: Sym,
    target: String,
    signature: Option<String>,
    trace_id: TraceId,
    at: SpanRef,
    degree: f64,
    fanout: Option<&'f FanOut>,
    cp_ns: u64,
}

/// Groups every fan-out by kind, parent operation and what repeats (its call signature, so
/// different statements under one span name stay apart), and every chain by its path.
pub(super) fn patterns(all: &[&std::sync::Arc<TraceFindings>], top: usize) -> Vec<Pattern> {
    let mut occurrences: Vec<Occurrence<'_>> = Vec::new();
    for f in all {
        for x in &f.fanouts {
            let (kind, target) = match x.kind {
                FanOutKind::NPlusOne => (
                    PatternKind::NPlusOne,
                    format!(
                        "{} {}",
                        join(&x.target_services, ","),
                        join(&x.target_operations, ",")
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
            occurrences.push(Occurrence {
                kind,
                service: x.parent_service,
                parent: x.parent_name,
                target,
                signature: x
                    .signature
                    .clone()
                    .filter(|_| x.kind == FanOutKind::NPlusOne),
                trace_id: f.trace_id,
                at: SpanRef::new(f.trace_id, x.parent_span_id),
                degree: x.degree as f64,
                fanout: Some(x),
                cp_ns: x.cp_ns,
            });
        }
        let Some(root) = &f.root else { continue };
        for c in &f.chains {
            let Some(&first) = c.services.first() else {
                continue;
            };
            occurrences.push(Occurrence {
                kind: PatternKind::Chain,
                service: first,
                parent: root.name,
                target: join(&c.services, " → "),
                signature: None,
                trace_id: f.trace_id,
                at: SpanRef::new(f.trace_id, root.span_id),
                degree: c.amplification,
                fanout: None,
                cp_ns: c.cp_ns,
            });
        }
    }
    // The worst occurrence: the one that held its parent longest (a chain: most amplified).
    let badness = |o: &Occurrence<'_>| o.fanout.map_or(o.degree, |x| x.union_ns as f64);
    type Key = (PatternKind, Sym, Sym, String, Option<String>);
    let mut groups: BTreeMap<Key, Vec<Occurrence<'_>>> = BTreeMap::new();
    for o in occurrences {
        groups
            .entry((
                o.kind,
                o.service,
                o.parent,
                o.target.clone(),
                o.signature.clone(),
            ))
            .or_default()
            .push(o);
    }
    // Loops whose names alone would read the same (`get` x4 for four statements) are told
    // apart by their signatures.
    let mut same_name: FxHashMap<(PatternKind, Sym, Sym, String), usize> = FxHashMap::default();
    for (kind, service, parent, target, _) in groups.keys() {
        *same_name
            .entry((*kind, *service, *parent, target.clone()))
            .or_default() += 1;
    }
    let mut rows: Vec<Pattern> = groups
        .into_iter()
        .filter_map(|((kind, service, parent, target, signature), occ)| {
            let target = match &signature {
                Some(sig) if same_name[&(kind, service, parent, target.clone())] > 1 => {
                    format!("{target} [{sig}]")
                }
                _ => target,
            };
            let worst = occ
                .iter()
                .max_by(|a, b| badness(a).total_cmp(&badness(b)).then(b.at.cmp(&a.at)))?;
            let fans = || occ.iter().filter_map(|o| o.fanout);
            let degrees = || occ.iter().map(|o| o.degree);
            Some(Pattern {
                kind,
                service,
                parent,
                target,
                signature,
                occurrences: occ.len(),
                traces: distinct(occ.iter().map(|o| o.trace_id)),
                min_degree: degrees().fold(f64::INFINITY, f64::min),
                max_degree: degrees().fold(0.0, f64::max),
                mean_degree: degrees().sum::<f64>() / occ.len() as f64,
                max_concurrency: fans().map(|x| x.max_concurrency).max().unwrap_or(0),
                shape: worst.fanout.map(|x| x.shape),
                time_held_ns: fans().fold(0u64, |t, x| t.saturating_add(x.union_ns)),
                batching_saves_ns: fans()
                    .fold(0u64, |t, x| t.saturating_add(x.savings_if_batched_ns)),
                cp_ns: occ.iter().fold(0u64, |t, o| t.saturating_add(o.cp_ns)),
                cut_by_error: fans().filter(|x| x.truncated_by_error).count(),
                worst_chain: worst.fanout.map(|x| x.chain.clone()).unwrap_or_default(),
                tail_risk: worst.fanout.and_then(|x| x.tail_risk),
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

pub(super) fn chain_rows(all: &[&std::sync::Arc<TraceFindings>]) -> Vec<ChainRow> {
    let mut rows: BTreeMap<Vec<Sym>, ChainRow> = BTreeMap::new();
    for f in all {
        for c in &f.chains {
            let r = rows.entry(c.services.clone()).or_insert_with(|| ChainRow {
                services: c.services.clone(),
                traces: 0,
                max_amplification: 0.0,
                max_invocations: 0,
                cp_total_ns: 0,
                example_trace: c.trace_id,
            });
            r.traces += 1;
            if c.amplification > r.max_amplification {
                r.max_amplification = c.amplification;
                r.example_trace = c.trace_id;
            }
            r.max_invocations = r.max_invocations.max(c.invocations);
            r.cp_total_ns = r.cp_total_ns.saturating_add(c.cp_ns);
        }
    }
    let mut v: Vec<ChainRow> = rows.into_values().collect();
    v.sort_by(|a, b| {
        b.cp_total_ns
            .cmp(&a.cp_total_ns)
            .then(b.max_amplification.total_cmp(&a.max_amplification))
    });
    v
}
