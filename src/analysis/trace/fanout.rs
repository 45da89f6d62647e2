//! Fan-out (ANALYSIS.md §4.2–4.3): N+1 loops (repeated calls with one signature under one entry
//! span), parallel fan-outs, and fan-out chains across services with their amplification.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::model::{SpanId, SpanKind, Sym, TraceId, mem};

use crate::analysis::trace::attrs::{self, first_str};
use crate::analysis::trace::critical_path::inclusive_cp;
use crate::analysis::trace::self_time::union_within;
use crate::analysis::trace::signature::Signer;
use crate::analysis::trace::tree::TraceTree;

/// Smallest group reported as N+1 or parallel fan-out (spantop default; Sentry's is 5).
pub const MIN_DEGREE: usize = 3;
/// Longest repeated call sequence looked for, as Sentry's MN+1 detector.
const MAX_PATTERN_LEN: usize = 8;
/// Per-call quantile whose excess the tail-risk figure is about (p99 → q = 1 %).
const TAIL_Q: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FanOutKind {
    NPlusOne,
    Parallel,
    /// A short sequence of different calls repeated back-to-back (Sentry's MN+1).
    MnPlusOne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Sequential,
    Parallel,
    Mixed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FanOut {
    pub kind: FanOutKind,
    pub trace_id: TraceId,
    pub parent_span_id: SpanId,
    pub parent_service: Sym,
    pub parent_name: Sym,
    /// The shared call signature (N+1 only).
    pub signature: Option<String>,
    /// MN+1: the repeated sequence of signatures and how often it repeats back-to-back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pattern: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetitions: Option<usize>,
    pub degree: usize,
    pub target_services: Vec<Sym>,
    pub target_operations: Vec<Sym>,
    pub child_span_ids: Vec<SpanId>,
    pub shape: Shape,
    pub overlapping: bool,
    pub max_concurrency: usize,
    #[serde(
        rename = "sum_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub sum_ns: u64,
    #[serde(
        rename = "wall_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub wall_ns: u64,
    #[serde(
        rename = "union_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub union_ns: u64,
    /// `sum / union`: 1.0 is fully sequential.
    pub parallelism: f64,
    /// N+1: `union − max(dur)`, what one batched call would roughly save.
    #[serde(
        rename = "savings_if_batched_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub savings_if_batched_ns: u64,
    /// Critical-path time inside the members (and what they called).
    #[serde(
        rename = "cp_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_ns: u64,
    pub truncated_by_error: bool,
    /// Parallel: chance that at least one of `degree` calls exceeds its p99 (Dean & Barroso).
    pub tail_risk: Option<f64>,
    /// Parallel: services from the trace root through the parent and down the slowest member.
    pub chain: Vec<Sym>,
    /// Extra verdicts from Sentry's detectors with their defaults.
    pub sentry_n_plus_one_db: bool,
    pub sentry_consecutive_http: bool,
}

impl FanOut {
    /// Heap bytes held, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        self.signature.as_ref().map_or(0, String::capacity)
            + mem::vec::<String>(self.pattern.capacity())
            + self.pattern.iter().map(String::capacity).sum::<usize>()
            + mem::vec::<Sym>(self.target_services.capacity() + self.target_operations.capacity())
            + mem::vec::<SpanId>(self.child_span_ids.capacity())
            + mem::vec::<Sym>(self.chain.capacity())
    }
}

/// A chain of services where calls multiply (§4.3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FanOutChain {
    pub trace_id: TraceId,
    pub services: Vec<Sym>,
    /// Calls per parent invocation at each hop.
    pub hop_degrees: Vec<f64>,
    /// Invocations of the last service per invocation of the first.
    pub amplification: f64,
    pub invocations: usize,
    #[serde(
        rename = "cp_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_ns: u64,
}

/// `1 − (1 − q)^n`: probability that one of `n` parallel calls exceeds its (1−q)-quantile.
pub fn tail_risk(n: usize, q: f64) -> f64 {
    1.0 - (1.0 - q).powi(i32::try_from(n).unwrap_or(i32::MAX))
}

/// Fan-outs of the trace. `cp` is critical-path time per span.
pub fn fanouts(tree: &TraceTree<'_>, cp: &[u64]) -> Vec<FanOut> {
    let inclusive_cp = inclusive_cp(tree, cp);
    let mut signer = Signer::default();
    let mut out = Vec::new();
    for e in (0..tree.len()).filter(|&e| tree.entry[e]) {
        let calls: Vec<usize> = tree
            .local_subtree(e)
            .into_iter()
            .filter(|&c| is_call(tree, c))
            .collect();
        if calls.len() < MIN_DEGREE {
            continue;
        }
        // The call signatures of §4.2 (`signature` owns the conventions).
        let sigs: Vec<String> = calls
            .iter()
            .map(|&c| signer.call(tree.span(c), || callee(tree, c)))
            .collect();
        let mut by_sig: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (k, s) in sigs.iter().enumerate() {
            by_sig.entry(s).or_default().push(calls[k]);
        }
        let mut groups: Vec<(&str, Vec<usize>)> = by_sig
            .into_iter()
            .filter(|(_, g)| g.len() >= MIN_DEGREE)
            .collect();
        groups.sort_by_key(|(_, g)| g[0]);
        let mut in_group: FxHashSet<usize> = FxHashSet::default();
        for (sig, g) in groups {
            in_group.extend(g.iter().copied());
            let f = measure(tree, &g, &inclusive_cp);
            let kind = if f.shape == Shape::Parallel {
                FanOutKind::Parallel
            } else {
                FanOutKind::NPlusOne
            };
            out.push(finish(tree, e, &g, f, kind, Some(sig.to_owned())));
        }
        let mut in_order: Vec<(usize, &str)> = calls
            .iter()
            .zip(&sigs)
            .map(|(&c, s)| (c, s.as_str()))
            .collect();
        in_order.sort_by_key(|&(c, _)| (tree.start(c), c));
        let order_sigs: Vec<&str> = in_order.iter().map(|x| x.1).collect();
        // The pattern search compares signatures many times each: as numbers, not texts.
        let mut number: FxHashMap<&str, usize> = FxHashMap::default();
        let order_ids: Vec<usize> = order_sigs
            .iter()
            .map(|s| {
                let next = number.len();
                *number.entry(s).or_insert(next)
            })
            .collect();
        for (at, len, reps) in repeated_patterns(&order_ids) {
            let g: Vec<usize> = in_order[at..at + len * reps].iter().map(|x| x.0).collect();
            let f = measure(tree, &g, &inclusive_cp);
            let mut x = finish(tree, e, &g, f, FanOutKind::MnPlusOne, None);
            x.pattern = order_sigs[at..at + len]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            x.repetitions = Some(reps);
            // Batched, the `reps` rounds would take about one round's time.
            x.savings_if_batched_ns = x.union_ns - x.union_ns / reps.max(1) as u64;
            out.push(x);
        }
        // Distinct calls that run at the same time: overlap components of the entry's calls
        // not already in a same-signature group, so one call is in one finding (4 GetProduct
        // and 1 ListRecommendations at once are "GetProduct ×4 in parallel", not that and a
        // second fan-out of 5).
        let sig_of: FxHashMap<usize, &str> = calls
            .iter()
            .zip(&sigs)
            .map(|(&c, s)| (c, s.as_str()))
            .collect();
        let ungrouped: Vec<usize> = calls
            .iter()
            .copied()
            .filter(|c| !in_group.contains(c))
            .collect();
        for comp in overlap_components(tree, &ungrouped) {
            let one_signature = comp.iter().all(|c| sig_of.get(c) == sig_of.get(&comp[0]));
            if comp.len() >= MIN_DEGREE && !one_signature {
                let f = measure(tree, &comp, &inclusive_cp);
                out.push(finish(tree, e, &comp, f, FanOutKind::Parallel, None));
            }
        }
    }
    out
}

/// MN+1 candidates in a start-ordered signature list: `(start, pattern length, repetitions)`
/// for a pattern of 2..=8 signatures, not all equal (that is plain N+1), repeated at least
/// `MIN_DEGREE` times back-to-back. Shortest pattern first; matches do not overlap.
pub fn repeated_patterns<T: Eq>(sigs: &[T]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sigs.len() {
        let found = (2..=MAX_PATTERN_LEN).find_map(|len| {
            let pat = sigs.get(i..i + len)?;
            if pat.iter().all(|s| s == &pat[0]) {
                return None;
            }
            let reps = (0..)
                .take_while(|k| sigs.get(i + k * len..i + (k + 1) * len) == Some(pat))
                .count();
            (reps >= MIN_DEGREE).then_some((i, len, reps))
        });
        match found {
            Some((at, len, reps)) => {
                out.push((at, len, reps));
                i = at + len * reps;
            }
            None => i += 1,
        }
    }
    out
}

/// Calls of an entry span: outgoing CLIENT/PRODUCER spans, plus database spans of any kind.
fn is_call(tree: &TraceTree<'_>, c: usize) -> bool {
    let s = tree.span(c);
    matches!(s.kind, SpanKind::Client | SpanKind::Producer)
        || s.attr(attrs::DB_SYSTEM_NAME).is_some()
        || s.attr(attrs::DB_SYSTEM).is_some()
}

struct Measures {
    shape: Shape,
    overlapping: bool,
    max_concurrency: usize,
    sum: u64,
    wall: u64,
    union: u64,
    max_dur: u64,
    cp: u64,
}

fn measure(tree: &TraceTree<'_>, g: &[usize], inclusive_cp: &[u64]) -> Measures {
    let mut iv: Vec<(u64, u64)> = g.iter().map(|&c| (tree.start(c), tree.end(c))).collect();
    iv.sort_unstable();
    let lo = iv.iter().map(|x| x.0).min().unwrap_or(0);
    let hi = iv.iter().map(|x| x.1).max().unwrap_or(0);
    let max_concurrency = max_concurrency(&iv);
    let shape = if max_concurrency <= 1 {
        Shape::Sequential
    } else if max_concurrency == g.len() {
        Shape::Parallel
    } else {
        Shape::Mixed
    };
    Measures {
        shape,
        overlapping: iv.windows(2).any(|w| w[0].1 > w[1].0),
        max_concurrency,
        sum: iv.iter().map(|(s, e)| e - s).sum(),
        wall: hi - lo,
        union: union_within(&mut iv, lo, hi),
        max_dur: g.iter().map(|&c| tree.dur(c)).max().unwrap_or(0),
        cp: g.iter().map(|&c| inclusive_cp[c]).sum(),
    }
}

/// Sweep line over sorted intervals; an end at the same instant as a start comes first, so
/// touching calls are sequential.
fn max_concurrency(iv: &[(u64, u64)]) -> usize {
    let mut ev: Vec<(u64, i32)> = iv.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    ev.sort_unstable();
    let (mut cur, mut best) = (0i32, 0i32);
    for (_, d) in ev {
        cur += d;
        best = best.max(cur);
    }
    usize::try_from(best).unwrap_or(0)
}

fn finish(
    tree: &TraceTree<'_>,
    e: usize,
    g: &[usize],
    m: Measures,
    kind: FanOutKind,
    signature: Option<String>,
) -> FanOut {
    let mut services: Vec<Sym> = g.iter().filter_map(|&c| callee(tree, c)).collect();
    services.sort();
    services.dedup();
    let mut ops: Vec<Sym> = g.iter().map(|&c| tree.span(c).name).collect();
    ops.sort();
    ops.dedup();
    let last = g
        .iter()
        .copied()
        .max_by_key(|&c| (tree.end(c), tree.start(c)));
    let truncated_by_error = kind == FanOutKind::NPlusOne
        && last.is_some_and(|c| tree.span(c).is_error())
        && tree.span(e).is_error();
    let is_db = g
        .iter()
        .all(|&c| first_str(tree.span(c), &[attrs::DB_SYSTEM_NAME, attrs::DB_SYSTEM]).is_some());
    let is_http = g.iter().all(|&c| http_method(tree, c).is_some());
    FanOut {
        kind,
        trace_id: tree.trace.trace_id,
        parent_span_id: tree.span(e).span_id,
        parent_service: tree.service(e),
        parent_name: tree.span(e).name,
        signature,
        pattern: Vec::new(),
        repetitions: None,
        degree: g.len(),
        target_services: services,
        target_operations: ops,
        child_span_ids: g.iter().map(|&c| tree.span(c).span_id).collect(),
        shape: m.shape,
        overlapping: m.overlapping,
        max_concurrency: m.max_concurrency,
        sum_ns: m.sum,
        wall_ns: m.wall,
        union_ns: m.union,
        parallelism: if m.union > 0 {
            m.sum as f64 / m.union as f64
        } else {
            1.0
        },
        savings_if_batched_ns: if kind == FanOutKind::NPlusOne {
            m.union.saturating_sub(m.max_dur)
        } else {
            0
        },
        cp_ns: m.cp,
        truncated_by_error,
        tail_risk: (kind == FanOutKind::Parallel).then(|| tail_risk(g.len(), TAIL_Q)),
        chain: if kind == FanOutKind::Parallel {
            slowest_chain(tree, e, g)
        } else {
            Vec::new()
        },
        sentry_n_plus_one_db: is_db && g.len() >= 5 && m.union >= 50_000_000,
        sentry_consecutive_http: is_http
            && m.shape == Shape::Sequential
            && g.len() >= 3
            && g.iter().all(|&c| tree.dur(c) >= 500_000_000)
            && m.sum.saturating_sub(m.max_dur) >= 2_000_000_000,
    }
}

/// Connected components (by time overlap) of `calls`, each in start order.
fn overlap_components(tree: &TraceTree<'_>, calls: &[usize]) -> Vec<Vec<usize>> {
    let mut sorted = calls.to_vec();
    sorted.sort_by_key(|&c| (tree.start(c), c));
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut reach = 0;
    for c in sorted {
        match out.last_mut() {
            Some(comp) if tree.start(c) < reach => comp.push(c),
            _ => out.push(vec![c]),
        }
        reach = if out.last().is_some_and(|x| x.len() == 1) {
            tree.end(c)
        } else {
            reach.max(tree.end(c))
        };
    }
    out
}

/// The service a call reached: its server child's service, else the named peer.
fn callee(tree: &TraceTree<'_>, c: usize) -> Option<Sym> {
    tree.children[c]
        .iter()
        .find(|&&s| matches!(tree.span(s).kind, SpanKind::Server | SpanKind::Consumer))
        .map(|&s| tree.service(s))
        .or_else(|| {
            first_str(
                tree.span(c),
                &[
                    attrs::SERVICE_PEER_NAME,
                    attrs::PEER_SERVICE,
                    attrs::DB_SYSTEM_NAME,
                    attrs::DB_SYSTEM,
                    attrs::SERVER_ADDRESS,
                ],
            )
            .map(Sym::new)
        })
}

/// Services of the entry spans from the root to `e`, then down the member that finished last,
/// and on through each callee's last-finishing call.
fn slowest_chain(tree: &TraceTree<'_>, e: usize, g: &[usize]) -> Vec<Sym> {
    let mut up = vec![tree.service(e)];
    let mut cur = e;
    while let Some(pe) = tree.parent_entry(cur) {
        up.push(tree.service(pe));
        cur = pe;
    }
    up.reverse();
    let mut next = g.iter().copied().max_by_key(|&c| tree.end(c));
    while let Some(call) = next {
        let Some(&server) = tree.children[call].iter().find(|&&s| tree.entry[s]) else {
            break;
        };
        up.push(tree.service(server));
        next = tree
            .local_subtree(server)
            .into_iter()
            .filter(|&c| is_call(tree, c))
            .max_by_key(|&c| tree.end(c));
    }
    up.dedup();
    up
}

fn http_method<'t>(tree: &TraceTree<'t>, c: usize) -> Option<&'t str> {
    first_str(
        tree.span(c),
        &[attrs::HTTP_REQUEST_METHOD, attrs::HTTP_METHOD_OLD],
    )
}

/// Chains of services along which calls multiply (§4.3): at least two consecutive hops with
/// `d ≥ 2`, or an amplification from the root of at least 10.
pub fn chains(tree: &TraceTree<'_>, cp: &[u64]) -> Vec<FanOutChain> {
    // Call paths of entry spans as a trie: node = (parent node, service).
    let mut nodes: Vec<(Option<usize>, Sym)> = Vec::new();
    let mut index: FxHashMap<(Option<usize>, Sym), usize> = FxHashMap::default();
    let mut node_of = vec![usize::MAX; tree.len()];
    let mut count: Vec<usize> = Vec::new();
    let mut cp_of: Vec<u64> = Vec::new();
    for &i in &tree.preorder {
        if !tree.entry[i] {
            continue;
        }
        let parent_node = tree
            .parent_entry(i)
            .map(|p| node_of[p])
            .filter(|&n| n != usize::MAX);
        // An entry span under an entry of the same service (nested middleware, a Zipkin
        // server span inside another) is no new hop: it belongs to its parent's invocation.
        if let Some(p) = parent_node
            && nodes[p].1 == tree.service(i)
        {
            node_of[i] = p;
            continue;
        }
        let key = (parent_node, tree.service(i));
        let n = *index.entry(key).or_insert_with(|| {
            nodes.push(key);
            count.push(0);
            cp_of.push(0);
            nodes.len() - 1
        });
        node_of[i] = n;
        count[n] += 1;
    }
    for i in 0..tree.len() {
        let n = node_of[tree.entry_of[i]];
        if n != usize::MAX {
            cp_of[n] += cp[i];
        }
    }
    let degree = |n: usize| nodes[n].0.map(|p| count[n] as f64 / count[p] as f64);
    let mut has_fanning_child = vec![false; nodes.len()];
    // Per node (parents come before children): hops from the root, and the run of hops with
    // d ≥ 2 ending at it. Kept per node so that no node walks its path to the root, which made
    // a 100,000-deep chain quadratic; only the chains reported are walked.
    let mut hops_from_root = vec![0usize; nodes.len()];
    let mut fanning_run = vec![0usize; nodes.len()];
    let mut root_of: Vec<usize> = (0..nodes.len()).collect();
    for (n, &(parent, _)) in nodes.iter().enumerate() {
        let Some(p) = parent else { continue };
        hops_from_root[n] = hops_from_root[p] + 1;
        root_of[n] = root_of[p];
        if degree(n).is_some_and(|d| d >= 2.0) {
            has_fanning_child[p] = true;
            fanning_run[n] = fanning_run[p] + 1;
        }
    }
    let mut out = Vec::new();
    for n in 0..nodes.len() {
        if has_fanning_child[n] {
            continue; // a longer chain through a child covers this one
        }
        let hops = fanning_run[n];
        let root_af = count[n] as f64 / count[root_of[n]] as f64;
        let len = if hops >= 2 {
            hops
        } else if root_af >= 10.0 {
            hops_from_root[n]
        } else {
            continue;
        };
        // The chain's nodes, from its first service to `n`.
        let mut chain = vec![n];
        for _ in 0..len {
            match nodes[chain[chain.len() - 1]].0 {
                Some(p) => chain.push(p),
                None => break,
            }
        }
        chain.reverse();
        out.push(FanOutChain {
            trace_id: tree.trace.trace_id,
            services: chain.iter().map(|&k| nodes[k].1).collect(),
            hop_degrees: chain[1..].iter().filter_map(|&k| degree(k)).collect(),
            amplification: count[n] as f64 / count[chain[0]] as f64,
            invocations: count[n],
            cp_ns: chain[1..].iter().map(|&k| cp_of[k]).sum::<u64>(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::critical_path::{
        CpOptions, cp_time_per_span, critical_paths, trace_path,
    };
    use crate::analysis::trace::fixture::{MS, TraceBuilder};

    fn run(b: TraceBuilder) -> (Vec<FanOut>, Vec<FanOutChain>) {
        let t = b.build();
        let tree = TraceTree::new(&t);
        let paths = critical_paths(&tree, CpOptions::default());
        let cp = cp_time_per_span(tree.len(), &trace_path(&paths));
        (fanouts(&tree, &cp), chains(&tree, &cp))
    }

    fn http_call(b: &mut TraceBuilder, p: SpanId, url: &str, s: u64, e: u64) -> SpanId {
        b.span("order-service", "GET /inventory/{sku}")
            .kind(SpanKind::Client)
            .str_attr(attrs::HTTP_REQUEST_METHOD, "GET")
            .str_attr(attrs::URL_FULL, url)
            .at(s, e)
            .parent(p)
            .id()
    }

    #[test]
    fn f1_sequential_n_plus_one() {
        let mut b = TraceBuilder::new();
        let e = b
            .span("order-service", "POST /orders")
            .kind(SpanKind::Server)
            .at(0, 120)
            .id();
        for i in 0..8 {
            let url = format!("http://inv:8080/inventory/SKU-{}", 1000 + i * 7);
            http_call(&mut b, e, &url, 10 + 12 * i, 20 + 12 * i);
        }
        let (f, _) = run(b);
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f.kind, FanOutKind::NPlusOne);
        assert_eq!((f.degree, f.shape), (8, Shape::Sequential));
        assert_eq!(
            (f.union_ns, f.sum_ns, f.wall_ns),
            (80 * MS, 80 * MS, 94 * MS)
        );
        assert_eq!(f.savings_if_batched_ns, 70 * MS);
        assert!(!f.overlapping && !f.sentry_n_plus_one_db && !f.sentry_consecutive_http);
    }

    #[test]
    fn f2_db_n_plus_one_grouped_by_normalized_query() {
        let mut b = TraceBuilder::new();
        let e = b
            .span("svc", "GET /order")
            .kind(SpanKind::Server)
            .at(0, 200)
            .id();
        let db = |b: &mut TraceBuilder, q: &str, s, en| {
            b.span("svc", "SELECT")
                .kind(SpanKind::Client)
                .str_attr(attrs::DB_SYSTEM_NAME, "postgresql")
                .str_attr(attrs::DB_QUERY_TEXT, q)
                .at(s, en)
                .parent(e)
                .id()
        };
        db(&mut b, "SELECT * FROM orders WHERE id=1", 5, 15);
        for i in 0..6 {
            db(
                &mut b,
                &format!("SELECT * FROM items WHERE order_id={}", 40 + i),
                20 + 15 * i,
                32 + 15 * i,
            );
        }
        let (f, _) = run(b);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].degree, 6);
        assert_eq!(f[0].kind, FanOutKind::NPlusOne);
        assert!(f[0].sentry_n_plus_one_db, "count 6 ≥ 5 and union 72 ≥ 50");
    }

    #[test]
    fn f3_parallel_fanout_of_distinct_calls() {
        let mut b = TraceBuilder::new();
        let e = b
            .span("catalog", "GET /products/{id}")
            .kind(SpanKind::Server)
            .at(0, 100)
            .id();
        for (svc, end) in [
            ("pricing", 20),
            ("inventory", 30),
            ("reviews", 40),
            ("reco", 90),
        ] {
            let c = b
                .span("catalog", &format!("GET /{svc}"))
                .kind(SpanKind::Client)
                .at(10, end)
                .parent(e)
                .id();
            b.span(svc, "serve")
                .kind(SpanKind::Server)
                .at(11, end - 1)
                .parent(c)
                .id();
        }
        let (f, _) = run(b);
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f.kind, FanOutKind::Parallel);
        assert_eq!(
            (f.shape, f.max_concurrency, f.degree),
            (Shape::Parallel, 4, 4)
        );
        assert!(f.overlapping);
        assert_eq!(f.parallelism, (10.0 + 20.0 + 30.0 + 80.0) / 80.0);
        assert_eq!(
            f.chain.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            ["catalog", "reco"]
        );
        assert_eq!(f.target_services.len(), 4);
    }

    #[test]
    fn one_call_is_in_one_fan_out() {
        // The OTel Demo frontend: 4 GetProduct calls and 1 ListRecommendations at once are the
        // GetProduct fan-out, not also a second fan-out of degree 5.
        let mut b = TraceBuilder::new();
        let e = b
            .span("frontend", "HTTP GET")
            .kind(SpanKind::Server)
            .at(0, 100)
            .id();
        for (i, method) in [
            "GetProduct",
            "GetProduct",
            "GetProduct",
            "GetProduct",
            "ListRecommendations",
        ]
        .iter()
        .enumerate()
        {
            b.span("frontend", method)
                .kind(SpanKind::Client)
                .str_attr(attrs::RPC_SYSTEM, "grpc")
                .str_attr(attrs::RPC_METHOD, method)
                .at(10 + i as u64, 60 + i as u64)
                .parent(e)
                .id();
        }
        let (f, _) = run(b);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!((f[0].degree, f[0].kind), (4, FanOutKind::Parallel));
        assert!(
            f[0].signature
                .as_deref()
                .is_some_and(|s| s.contains("GetProduct"))
        );
    }

    #[test]
    fn f4_two_waves_are_a_mixed_n_plus_one() {
        let mut b = TraceBuilder::new();
        let e = b.span("svc", "job").kind(SpanKind::Server).at(0, 30).id();
        for (s, en) in [(0, 10), (0, 10), (0, 10), (12, 22), (12, 22), (12, 22)] {
            http_call(&mut b, e, "http://inv/inventory/1", s, en);
        }
        let (f, _) = run(b);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].shape, f[0].max_concurrency), (Shape::Mixed, 3));
        assert_eq!(f[0].kind, FanOutKind::NPlusOne);
    }

    #[test]
    fn f5_amplification_chain() {
        let mut b = TraceBuilder::new();
        let g = b
            .span("gateway", "GET")
            .kind(SpanKind::Server)
            .at(0, 1000)
            .id();
        let ca = b
            .span("gateway", "call A")
            .kind(SpanKind::Client)
            .at(1, 999)
            .parent(g)
            .id();
        let a = b
            .span("A", "a")
            .kind(SpanKind::Server)
            .at(2, 998)
            .parent(ca)
            .id();
        for i in 0..3 {
            let t0 = 10 + i * 300;
            let cb = b
                .span("A", "call B")
                .kind(SpanKind::Client)
                .at(t0, t0 + 290)
                .parent(a)
                .id();
            let bs = b
                .span("B", "b")
                .kind(SpanKind::Server)
                .at(t0 + 1, t0 + 289)
                .parent(cb)
                .id();
            for j in 0..4 {
                let t1 = t0 + 5 + j * 70;
                let cc = b
                    .span("B", "call C")
                    .kind(SpanKind::Client)
                    .at(t1, t1 + 60)
                    .parent(bs)
                    .id();
                b.span("C", "c")
                    .kind(SpanKind::Server)
                    .at(t1 + 1, t1 + 59)
                    .parent(cc)
                    .id();
            }
        }
        let (_, chains) = run(b);
        assert_eq!(chains.len(), 1);
        let c = &chains[0];
        assert_eq!(
            c.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
        assert_eq!(c.hop_degrees, vec![3.0, 4.0]);
        assert_eq!((c.amplification, c.invocations), (12.0, 12));
    }

    #[test]
    fn f6_tail_risk() {
        assert!((tail_risk(100, 0.01) - 0.634).abs() < 0.001);
    }

    #[test]
    fn f7_loop_truncated_by_error() {
        let mut b = TraceBuilder::new();
        let e = b
            .span("svc", "POST")
            .kind(SpanKind::Server)
            .at(0, 50)
            .error()
            .id();
        http_call(&mut b, e, "http://inv/inventory/1", 1, 10);
        http_call(&mut b, e, "http://inv/inventory/2", 11, 20);
        b.span("order-service", "GET /inventory/{sku}")
            .kind(SpanKind::Client)
            .str_attr(attrs::HTTP_REQUEST_METHOD, "GET")
            .str_attr(attrs::URL_FULL, "http://inv/inventory/3")
            .at(21, 30)
            .parent(e)
            .error()
            .id();
        let (f, _) = run(b);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].degree, 3);
        assert!(f[0].truncated_by_error);
    }

    #[test]
    fn patterns_of_numbered_signatures_are_those_of_the_texts() {
        // `fanouts` numbers the signatures before the search: same answer as on the texts.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..500 {
            let n = next(40) as usize;
            let alphabet = 1 + next(4);
            let texts: Vec<String> = (0..n).map(|_| format!("sig {}", next(alphabet))).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let mut number: FxHashMap<&str, usize> = FxHashMap::default();
            let ids: Vec<usize> = refs
                .iter()
                .map(|s| {
                    let next = number.len();
                    *number.entry(s).or_insert(next)
                })
                .collect();
            assert_eq!(
                repeated_patterns(&ids),
                repeated_patterns(&refs),
                "{refs:?}"
            );
        }
    }

    #[test]
    fn mn_plus_one_patterns() {
        let s = ["a", "b", "c", "b", "c", "b", "c", "d", "x", "x", "x"];
        assert_eq!(repeated_patterns(&s), vec![(1, 2, 3)]);
        assert!(
            repeated_patterns(&["a", "b", "a", "b"]).is_empty(),
            "two repetitions are not enough"
        );
        let mut b = TraceBuilder::new();
        let e = b.span("svc", "sync").kind(SpanKind::Server).at(0, 100).id();
        for i in 0..3 {
            let t = 10 + 20 * i;
            http_call(&mut b, e, &format!("http://inv/inventory/{i}"), t, t + 5);
            b.span("svc", "SELECT")
                .kind(SpanKind::Client)
                .str_attr(attrs::DB_SYSTEM_NAME, "postgresql")
                .str_attr(
                    attrs::DB_QUERY_TEXT,
                    &format!("SELECT * FROM t WHERE id = {i}"),
                )
                .at(t + 6, t + 15)
                .parent(e)
                .id();
        }
        let (f, _) = run(b);
        let mn: Vec<&FanOut> = f
            .iter()
            .filter(|x| x.kind == FanOutKind::MnPlusOne)
            .collect();
        assert_eq!(mn.len(), 1);
        assert_eq!(
            (mn[0].degree, mn[0].repetitions, mn[0].pattern.len()),
            (6, Some(3), 2)
        );
        assert_eq!(
            f.iter().filter(|x| x.kind == FanOutKind::NPlusOne).count(),
            2,
            "each signature is also an N+1"
        );
    }
}
