//! Cold starts of FaaS invocations (ANALYSIS.md §1.4–1.5).
//!
//! Per trace, `invocations` finds each function invocation and what the trace alone says about
//! it: the `faas.coldstart` attribute, an `Initialization` span, the caller's gap, and how much of
//! the init time lay on the critical path. Across traces, `classify` applies the fallbacks that
//! need every invocation of an instance (first invocation per instance, process age), and
//! `function_costs` turns the verdicts into init time and cold-vs-warm penalties per function.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::model::{AnyValue, SpanId, SpanKind, SpanRef, Sym, TraceId};

use crate::analysis::aggregate::stats::{Samples, Summary};
use crate::analysis::trace::attrs::{self, span_or_resource};
use crate::analysis::trace::critical_path::Section;
use crate::analysis::trace::tree::{TraceTree, process_key};

/// Span names that mark an init phase. Exact names only: substrings would catch app spans
/// such as `initPayment` (§1.4 failure mode 6).
pub const INIT_NAMES: &[&str] = &["Initialization"];
/// How far an init span may end after the handler starts and still count as before it.
const INIT_EPSILON_NS: u64 = 1_000_000;
/// Process age up to which a first invocation is cold (the JS instrumentation's proactive-init
/// rule, and Lambda's on-demand init limit).
const MAX_INIT_AGE_NS: u64 = 10_000_000_000;
/// Below this many cold or warm samples, p99 penalties are "n too small" (§1.5).
pub const MIN_SAMPLES_FOR_P99: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    High,
    Medium,
    Low,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    Attribute,
    InitSpan {
        span_id: SpanId,
    },
    LaterInvocationOfInstance,
    ProcessAge {
        #[serde(
            rename = "age_ms",
            serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
        )]
        age_ns: u64,
    },
    FirstOfInstance,
    FirstOfInstanceBeforeWarmup,
    /// The instance key served overlapping invocations, so it is not one Lambda environment.
    InstanceKeyNotExclusive,
    NoEvidence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// `Some(true)` cold, `Some(false)` warm, `None` unknown.
    pub cold: Option<bool>,
    pub evidence: Evidence,
    pub confidence: Confidence,
}

/// The caller's CLIENT span around an invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Caller {
    pub span_id: SpanId,
    pub service: Sym,
    pub client_ns: u64,
    pub gap_ns: i64,
    pub start_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InitSpan {
    pub span_id: SpanId,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// One function invocation and what its own trace says about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invocation {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub function: Sym,
    pub trigger: Option<Sym>,
    pub instance: Option<Box<str>>,
    /// `faas.max_memory`, in bytes.
    pub memory_bytes: Option<i64>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub caller: Option<Caller>,
    pub attribute: Option<bool>,
    pub init_span: Option<InitSpan>,
    pub process_creation_ns: Option<u64>,
    /// Critical-path time inside the init span (and its subtree).
    pub init_cp_ns: u64,
    /// Critical-path time of the caller's span between its start and the handler's start.
    pub pre_handler_cp_ns: u64,
    pub trace_duration_ns: u64,
    /// `faas.coldstart=false` while an init span is present (attribute wins, §1.6 CS1).
    pub inconsistent: bool,
}

impl Invocation {
    pub fn dur_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// What the trace alone decides: the attribute, else an init span (both High confidence).
    pub fn local_verdict(&self) -> Option<Verdict> {
        if let Some(a) = self.attribute {
            return Some(Verdict {
                cold: Some(a),
                evidence: Evidence::Attribute,
                confidence: Confidence::High,
            });
        }
        self.init_span.as_ref().map(|x| Verdict {
            cold: Some(true),
            evidence: Evidence::InitSpan { span_id: x.span_id },
            confidence: Confidence::High,
        })
    }

    /// Critical-path time a cold start of this invocation cost its request (§1.5 `cold_cp_ms`).
    pub fn cold_cp_ns(&self) -> u64 {
        if self.init_span.is_some() {
            self.init_cp_ns
        } else {
            self.pre_handler_cp_ns
        }
    }
}

/// The FaaS resource predicate of §1.1: a FaaS platform, a function name or an instance id.
fn is_faas(tree: &TraceTree<'_>, i: usize) -> bool {
    let s = tree.span(i);
    let platform = span_or_resource(s, attrs::CLOUD_PLATFORM)
        .and_then(AnyValue::as_str)
        .is_some_and(|p| attrs::FAAS_PLATFORMS.contains(&p));
    platform
        || span_or_resource(s, attrs::FAAS_NAME).is_some()
        || span_or_resource(s, attrs::FAAS_INSTANCE).is_some()
}

fn str_attr(tree: &TraceTree<'_>, i: usize, key: &str) -> Option<Box<str>> {
    span_or_resource(tree.span(i), key)
        .and_then(AnyValue::as_str)
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// Invocation spans of the trace: entry spans of FaaS resources, the earliest per invocation id.
pub fn invocations(tree: &TraceTree<'_>, paths: &[Section]) -> Vec<Invocation> {
    let mut seen_ids: FxHashSet<Box<str>> = FxHashSet::default();
    let mut out = Vec::new();
    let mut index: Option<Index> = None;
    for i in 0..tree.len() {
        if !tree.entry[i] || !is_faas(tree, i) {
            continue;
        }
        if let Some(id) = str_attr(tree, i, attrs::FAAS_INVOCATION_ID)
            && !seen_ids.insert(id)
        {
            continue; // spans are in start order, so the first kept is the earliest
        }
        let index = index.get_or_insert_with(|| Index::new(tree, paths));
        out.push(invocation(tree, index, i));
    }
    out
}

/// What every invocation looks up, indexed once a trace: the path's sections by span, and the
/// spans named like an init span by parent. Searching the whole path, or every sibling, per
/// invocation made traces with thousands of invocations quadratic.
struct Index {
    sections: FxHashMap<usize, Vec<(u64, u64)>>,
    inits: FxHashMap<usize, Vec<usize>>,
}

impl Index {
    fn new(tree: &TraceTree<'_>, paths: &[Section]) -> Self {
        let mut sections: FxHashMap<usize, Vec<(u64, u64)>> = FxHashMap::default();
        for s in paths {
            sections.entry(s.span).or_default().push((s.start, s.end));
        }
        let mut inits: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
        // In span order, so each list is in its parent's children order.
        for x in 0..tree.len() {
            if let Some(p) = tree.parent[x]
                && INIT_NAMES.contains(&tree.span(x).name.as_str())
            {
                inits.entry(p).or_default().push(x);
            }
        }
        Index { sections, inits }
    }

    fn inits_under(&self, p: usize) -> &[usize] {
        self.inits.get(&p).map_or(&[], Vec::as_slice)
    }

    /// Critical-path time of `spans` within `[lo, hi]`.
    fn cp_overlap(&self, spans: &[usize], lo: u64, hi: u64) -> u64 {
        spans
            .iter()
            .filter_map(|s| self.sections.get(s))
            .flatten()
            .map(|&(s, e)| e.min(hi).saturating_sub(s.max(lo)))
            .sum()
    }
}

fn invocation(tree: &TraceTree<'_>, index: &Index, i: usize) -> Invocation {
    let s = tree.span(i);
    let caller = tree.parent[i]
        .filter(|&p| tree.span(p).kind == SpanKind::Client)
        .map(|p| Caller {
            span_id: tree.span(p).span_id,
            service: tree.service(p),
            client_ns: tree.dur(p),
            gap_ns: tree.dur(p) as i64 - tree.dur(i) as i64,
            start_ns: tree.start(p),
        });
    let init = init_span(tree, index, i);
    let attribute = span_or_resource(s, attrs::FAAS_COLDSTART).and_then(AnyValue::as_bool);
    let init_cp_ns = init.map_or(0, |x| {
        index.cp_overlap(&subtree(tree, x), tree.start(x), tree.end(x))
    });
    let pre_handler_cp_ns =
        tree.parent[i].map_or(0, |p| index.cp_overlap(&[p], tree.start(p), tree.start(i)));
    Invocation {
        trace_id: tree.trace.trace_id,
        span_id: s.span_id,
        function: str_attr(tree, i, attrs::FAAS_NAME).map_or(s.service(), |n| Sym::new(&n)),
        trigger: str_attr(tree, i, attrs::FAAS_TRIGGER).map(|t| Sym::new(&t)),
        instance: instance_key(tree, i),
        memory_bytes: span_or_resource(s, attrs::FAAS_MAX_MEMORY).and_then(AnyValue::as_i64),
        start_ns: tree.start(i),
        end_ns: tree.end(i),
        caller,
        attribute,
        init_span: init.map(|x| InitSpan {
            span_id: tree.span(x).span_id,
            start_ns: tree.start(x),
            end_ns: tree.end(x),
        }),
        process_creation_ns: str_attr(tree, i, attrs::PROCESS_CREATION_TIME)
            .and_then(|t| parse_rfc3339_ns(&t)),
        init_cp_ns,
        pre_handler_cp_ns,
        trace_duration_ns: tree.trace_duration(),
        inconsistent: attribute == Some(false) && init.is_some(),
    }
}

/// `faas.instance`, else `service.instance.id` (§1.4 instance key).
fn instance_key(tree: &TraceTree<'_>, i: usize) -> Option<Box<str>> {
    str_attr(tree, i, attrs::FAAS_INSTANCE)
        .or_else(|| str_attr(tree, i, attrs::SERVICE_INSTANCE_ID))
}

/// An init span of invocation `i`: a child of `i` or of `i`'s parent (X-Ray layout), in the same
/// process, ending before the handler starts or lying inside the invocation.
fn init_span(tree: &TraceTree<'_>, index: &Index, i: usize) -> Option<usize> {
    let siblings = tree.parent[i].map_or(&[][..], |p| index.inits_under(p));
    index
        .inits_under(i)
        .iter()
        .chain(siblings)
        .copied()
        .find(|&x| {
            x != i
                && process_key(tree.span(x)) == process_key(tree.span(i))
                && (tree.end(x) <= tree.start(i) + INIT_EPSILON_NS
                    || (tree.start(x) >= tree.start(i) && tree.end(x) <= tree.end(i)))
        })
}

fn subtree(tree: &TraceTree<'_>, x: usize) -> Vec<usize> {
    let mut out = vec![x];
    let mut k = 0;
    while k < out.len() {
        out.extend(tree.children[out[k]].iter().copied());
        k += 1;
    }
    out
}

#[derive(Debug, Clone, Copy)]
pub struct ColdStartConfig {
    /// First invocations of an instance within this long of `epoch` are "unknown": the capture
    /// may have started after the instance (§1.4 failure mode 1).
    pub warmup_ns: u64,
}

impl Default for ColdStartConfig {
    fn default() -> Self {
        ColdStartConfig {
            warmup_ns: 60_000_000_000,
        }
    }
}

/// Verdicts for every invocation, in the input order. `epoch_ns` is the start of the capture
/// (earliest span in replay). Fallbacks follow start time, not arrival order.
pub fn classify(invs: &[&Invocation], epoch_ns: u64, cfg: ColdStartConfig) -> Vec<Verdict> {
    let mut out: Vec<Option<Verdict>> = invs.iter().map(|i| i.local_verdict()).collect();
    let mut by_instance: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    for (k, inv) in invs.iter().enumerate() {
        if let Some(key) = inv.instance.as_deref() {
            by_instance.entry(key).or_default().push(k);
        }
    }
    for members in by_instance.values_mut() {
        members.sort_by_key(|&k| (invs[k].start_ns, invs[k].span_id));
        // A Lambda environment serves one request at a time (§1.4 failure mode 7).
        let exclusive = members
            .windows(2)
            .all(|w| invs[w[1]].start_ns >= invs[w[0]].end_ns);
        for (rank, &k) in members.iter().enumerate() {
            if out[k].is_some() {
                continue;
            }
            out[k] = Some(if !exclusive {
                unknown(Evidence::InstanceKeyNotExclusive)
            } else if rank > 0 {
                Verdict {
                    cold: Some(false),
                    evidence: Evidence::LaterInvocationOfInstance,
                    confidence: Confidence::Medium,
                }
            } else {
                first_of_instance(invs[k], epoch_ns, cfg)
            });
        }
    }
    out.into_iter()
        .map(|v| v.unwrap_or_else(|| unknown(Evidence::NoEvidence)))
        .collect()
}

fn unknown(evidence: Evidence) -> Verdict {
    Verdict {
        cold: None,
        evidence,
        confidence: Confidence::None,
    }
}

fn first_of_instance(inv: &Invocation, epoch_ns: u64, cfg: ColdStartConfig) -> Verdict {
    if let Some(created) = inv.process_creation_ns {
        let age = inv.start_ns.saturating_sub(created);
        return Verdict {
            cold: Some(age <= MAX_INIT_AGE_NS),
            evidence: Evidence::ProcessAge { age_ns: age },
            confidence: Confidence::Medium,
        };
    }
    if inv.start_ns >= epoch_ns.saturating_add(cfg.warmup_ns) {
        Verdict {
            cold: Some(true),
            evidence: Evidence::FirstOfInstance,
            confidence: Confidence::Low,
        }
    } else {
        unknown(Evidence::FirstOfInstanceBeforeWarmup)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InitSource {
    /// (a) duration of the init span
    InitSpan,
    /// (b) caller gap minus the warm p50 gap on the same edge
    CallerGap,
    /// (c) invocation duration minus the warm p50 duration
    Duration,
    /// A cold start told by no attribute and no init span (first invocation of an instance,
    /// process age): the init may have run before the handler (the caller's gap) or inside it
    /// (a longer invocation), so both excesses over the warm medians are added. An estimate.
    Estimate,
}

impl InitSource {
    /// How the init time was told, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            InitSource::InitSpan => "init span",
            InitSource::CallerGap => "from the caller's gap",
            InitSource::Duration => "from the longer invocation",
            InitSource::Estimate => "estimate: gap and duration over warm medians",
        }
    }
}

/// One cold start with its cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdStart {
    pub function: Sym,
    pub trace_id: TraceId,
    pub invocation_span_id: SpanId,
    pub init_span_id: Option<SpanId>,
    pub instance: Option<Box<str>>,
    #[serde(
        rename = "init_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub init_ns: u64,
    pub init_source: InitSource,
    pub evidence: Evidence,
    pub confidence: Confidence,
    /// Critical-path time the init cost the request, and its share of the trace duration.
    #[serde(
        rename = "cold_cp_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cold_cp_ns: u64,
    pub cold_cp_share: f64,
}

/// Cold-vs-warm percentiles; `None` where there are too few samples to say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Penalty {
    pub cold: Summary,
    pub warm: Summary,
    #[serde(
        rename = "delta_p50_ms",
        serialize_with = "crate::analysis::aggregate::stats::opt_ns_as_ms"
    )]
    pub delta_p50_ns: Option<i64>,
    #[serde(
        rename = "delta_p95_ms",
        serialize_with = "crate::analysis::aggregate::stats::opt_ns_as_ms"
    )]
    pub delta_p95_ns: Option<i64>,
    /// Only when both sides have at least `MIN_SAMPLES_FOR_P99` samples.
    #[serde(
        rename = "delta_p99_ms",
        serialize_with = "crate::analysis::aggregate::stats::opt_ns_as_ms"
    )]
    pub delta_p99_ns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionColdStarts {
    pub function: Sym,
    pub trigger: Option<Sym>,
    pub invocations: usize,
    pub cold: usize,
    pub warm: usize,
    pub unknown: usize,
    pub cold_rate: f64,
    pub init: Summary,
    /// Server-side duration of the invocation span, cold vs warm.
    pub server_penalty: Penalty,
    /// What callers felt: duration of the CLIENT span around the invocation.
    pub caller_penalty: Penalty,
    /// Cold starts whose init time lay on their request's critical path.
    pub on_critical_path: usize,
    pub inconsistent_telemetry: usize,
    /// Distinct instances (`faas.instance` or `service.instance.id`) seen.
    pub instances: usize,
    /// `faas.max_memory` of the function, in MiB, when any invocation says.
    pub memory_mb: Option<i64>,
    /// Evidence: the cold start that cost its request the most critical-path time.
    pub worst: Option<SpanRef>,
    /// The distributions `init` and the penalties summarise, and the instance ids: what a
    /// snapshot carries so several spantop instances' rows merge (`api::merge`).
    #[serde(skip)]
    pub samples: ColdSamples,
}

/// Function instance ids a row keeps for merging; past this the merged count is a lower bound.
pub const MAX_INSTANCE_IDS: usize = 1024;

/// A function row's mergeable parts (nanoseconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColdSamples {
    pub init: Samples,
    pub cold_dur: Samples,
    pub warm_dur: Samples,
    pub cold_client: Samples,
    pub warm_client: Samples,
    /// Distinct instance ids, sorted, at most `MAX_INSTANCE_IDS` of them.
    pub instance_ids: Vec<String>,
}

impl ColdSamples {
    /// The row's summaries from these distributions (one place for both the single-instance
    /// analysis and the merge).
    pub fn summarise(&self, row: &mut FunctionColdStarts) {
        row.init = self.init.summary();
        row.server_penalty = penalty(&self.cold_dur, &self.warm_dur);
        row.caller_penalty = penalty(&self.cold_client, &self.warm_client);
    }

    /// Adds another instance's: distributions as `Samples::merge`, instance ids as a set.
    pub fn merge(&mut self, other: &ColdSamples) {
        self.init.merge(&other.init);
        self.cold_dur.merge(&other.cold_dur);
        self.warm_dur.merge(&other.warm_dur);
        self.cold_client.merge(&other.cold_client);
        self.warm_client.merge(&other.warm_client);
        self.instance_ids.extend(other.instance_ids.iter().cloned());
        self.instance_ids.sort_unstable();
        self.instance_ids.dedup();
        self.instance_ids.truncate(MAX_INSTANCE_IDS);
    }
}

/// Cold starts and per-function figures from classified invocations (§1.5).
pub fn function_costs(
    invs: &[&Invocation],
    verdicts: &[Verdict],
) -> (Vec<ColdStart>, Vec<FunctionColdStarts>) {
    let mut groups: FxHashMap<(Sym, Option<Sym>), Vec<usize>> = FxHashMap::default();
    for (k, inv) in invs.iter().enumerate() {
        groups
            .entry((inv.function, inv.trigger))
            .or_default()
            .push(k);
    }
    let mut starts = Vec::new();
    let mut rows = Vec::new();
    for ((function, trigger), members) in groups {
        let is = |k: &usize, c: bool| verdicts[*k].cold == Some(c);
        let cold: Vec<usize> = members.iter().copied().filter(|k| is(k, true)).collect();
        let warm: Vec<usize> = members.iter().copied().filter(|k| is(k, false)).collect();
        let warm_dur = samples(warm.iter().map(|&k| invs[k].dur_ns() as i64));
        let warm_client = samples(
            warm.iter()
                .filter_map(|&k| invs[k].caller.as_ref().map(|c| c.client_ns as i64)),
        );
        let mut warm_gap_by_caller: FxHashMap<Sym, Samples> = FxHashMap::default();
        for &k in &warm {
            if let Some(c) = &invs[k].caller {
                warm_gap_by_caller
                    .entry(c.service)
                    .or_default()
                    .push(c.gap_ns);
            }
        }
        let mut warm_dur_by_instance: FxHashMap<&str, Samples> = FxHashMap::default();
        for &k in &warm {
            if let Some(i) = invs[k].instance.as_deref() {
                warm_dur_by_instance
                    .entry(i)
                    .or_default()
                    .push(invs[k].dur_ns() as i64);
            }
        }
        let mut init = Samples::default();
        let mut on_cp = 0;
        let mut worst: Option<((u64, i64), SpanRef)> = None;
        for &k in &cold {
            let inv = &invs[k];
            let (init_ns, source) = if told_by_timing_only(&verdicts[k].evidence) {
                // The instance's own warm invocations are the closest baseline.
                let own = inv
                    .instance
                    .as_deref()
                    .and_then(|i| warm_dur_by_instance.get(i))
                    .filter(|s| s.len() >= MIN_INSTANCE_BASELINE);
                estimate_init(inv, &warm_gap_by_caller, own.unwrap_or(&warm_dur))
            } else {
                init_cost(inv, &warm_gap_by_caller, &warm_dur)
            };
            init.push(init_ns);
            let cp = inv.cold_cp_ns();
            on_cp += usize::from(cp > 0);
            let cost = (cp, init_ns);
            if worst.as_ref().is_none_or(|(w, _)| cost > *w) {
                worst = Some((cost, SpanRef::new(inv.trace_id, inv.span_id)));
            }
            starts.push(ColdStart {
                function,
                trace_id: inv.trace_id,
                invocation_span_id: inv.span_id,
                init_span_id: inv.init_span.as_ref().map(|x| x.span_id),
                instance: inv.instance.clone(),
                init_ns: init_ns.max(0).unsigned_abs(),
                init_source: source,
                evidence: verdicts[k].evidence.clone(),
                confidence: verdicts[k].confidence,
                cold_cp_ns: cp,
                cold_cp_share: ratio(cp as f64, inv.trace_duration_ns as f64),
            });
        }
        let cold_dur = samples(cold.iter().map(|&k| invs[k].dur_ns() as i64));
        let cold_client = samples(
            cold.iter()
                .filter_map(|&k| invs[k].caller.as_ref().map(|c| c.client_ns as i64)),
        );
        let mut ids: Vec<&str> = members
            .iter()
            .filter_map(|&k| invs[k].instance.as_deref())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let parts = ColdSamples {
            init,
            cold_dur,
            warm_dur,
            cold_client,
            warm_client,
            instance_ids: ids
                .iter()
                .take(MAX_INSTANCE_IDS)
                .map(|i| (*i).to_owned())
                .collect(),
        };
        let mut row = FunctionColdStarts {
            function,
            trigger,
            invocations: members.len(),
            cold: cold.len(),
            warm: warm.len(),
            unknown: members.len() - cold.len() - warm.len(),
            cold_rate: ratio(cold.len() as f64, (cold.len() + warm.len()) as f64),
            init: Summary::default(),
            server_penalty: penalty(&Samples::default(), &Samples::default()),
            caller_penalty: penalty(&Samples::default(), &Samples::default()),
            on_critical_path: on_cp,
            inconsistent_telemetry: members.iter().filter(|&&k| invs[k].inconsistent).count(),
            instances: ids.len(),
            memory_mb: members
                .iter()
                .find_map(|&k| invs[k].memory_bytes)
                .map(|b| b / (1024 * 1024)),
            worst: worst.map(|(_, at)| at),
            samples: ColdSamples::default(),
        };
        parts.summarise(&mut row);
        row.samples = parts;
        rows.push(row);
    }
    starts.sort_by(|a, b| {
        (a.function, a.trace_id, a.invocation_span_id).cmp(&(
            b.function,
            b.trace_id,
            b.invocation_span_id,
        ))
    });
    rows.sort_by_key(|r| (r.function, r.trigger));
    (starts, rows)
}

/// Init time of a cold invocation, from the first source available (§1.5 a/b/c).
fn init_cost(
    inv: &Invocation,
    warm_gap_by_caller: &FxHashMap<Sym, Samples>,
    warm_dur: &Samples,
) -> (i64, InitSource) {
    if let Some(x) = &inv.init_span {
        return ((x.end_ns - x.start_ns) as i64, InitSource::InitSpan);
    }
    if let Some(c) = &inv.caller
        && let Some(p50) = warm_gap_by_caller
            .get(&c.service)
            .and_then(|s| s.percentile(0.5))
    {
        return (
            ((c.gap_ns as f64 - p50).max(0.0)) as i64,
            InitSource::CallerGap,
        );
    }
    let p50 = warm_dur.percentile(0.5).unwrap_or(0.0);
    (
        ((inv.dur_ns() as f64 - p50).max(0.0)) as i64,
        InitSource::Duration,
    )
}

/// Warm invocations an instance needs before its own median is the baseline of an estimate.
const MIN_INSTANCE_BASELINE: usize = 3;

/// Cold verdicts that neither the attribute nor an init span gave.
fn told_by_timing_only(e: &Evidence) -> bool {
    matches!(
        e,
        Evidence::FirstOfInstance
            | Evidence::FirstOfInstanceBeforeWarmup
            | Evidence::ProcessAge { .. }
    )
}

/// Init time of a cold start told by timing only (`InitSource::Estimate`): the caller's gap
/// over the warm median gap on that edge plus the invocation's duration over the warm median
/// duration, each clamped at 0.
fn estimate_init(
    inv: &Invocation,
    warm_gap_by_caller: &FxHashMap<Sym, Samples>,
    warm_dur: &Samples,
) -> (i64, InitSource) {
    let gap_excess = inv.caller.as_ref().map_or(0.0, |c| {
        warm_gap_by_caller
            .get(&c.service)
            .and_then(|s| s.percentile(0.5))
            .map_or(0.0, |p50| (c.gap_ns as f64 - p50).max(0.0))
    });
    let dur_excess = warm_dur
        .percentile(0.5)
        .map_or(0.0, |p50| (inv.dur_ns() as f64 - p50).max(0.0));
    ((gap_excess + dur_excess) as i64, InitSource::Estimate)
}

fn samples(it: impl Iterator<Item = i64>) -> Samples {
    let mut s = Samples::default();
    for v in it {
        s.push(v);
    }
    s
}

/// Cold against warm: each side's summary and the differences of their percentiles.
pub fn penalty(cold: &Samples, warm: &Samples) -> Penalty {
    let (c, w) = (cold.summary(), warm.summary());
    let both = c.n > 0 && w.n > 0;
    let d = |a: i64, b: i64| both.then(|| a.saturating_sub(b));
    let enough = c.n >= MIN_SAMPLES_FOR_P99 && w.n >= MIN_SAMPLES_FOR_P99;
    Penalty {
        delta_p50_ns: d(c.p50_ns, w.p50_ns),
        delta_p95_ns: d(c.p95_ns, w.p95_ns),
        delta_p99_ns: if enough { d(c.p99_ns, w.p99_ns) } else { None },
        cold: c,
        warm: w,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Parses an RFC 3339 / ISO 8601 timestamp (`2024-01-01T00:00:00.5Z`, `+02:00` offsets) to Unix ns.
/// Walks the text char by char: the value comes from the wire, so anything unexpected (a
/// non-ASCII digit, a missing field) gives `None`, never a panic.
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let mut c = s.trim().chars().peekable();
    let y = digits(&mut c, 4)?;
    expect(&mut c, &['-'])?;
    let mo = digits(&mut c, 2)?;
    expect(&mut c, &['-'])?;
    let da = digits(&mut c, 2)?;
    expect(&mut c, &['T', 't', ' '])?;
    let h = digits(&mut c, 2)?;
    expect(&mut c, &[':'])?;
    let mi = digits(&mut c, 2)?;
    let sec = if c.next_if_eq(&':').is_some() {
        digits(&mut c, 2)?
    } else {
        0
    };
    let mut frac_ns = 0i64;
    if c.next_if_eq(&'.').is_some() {
        let mut scale = 100_000_000i64;
        let mut any = false;
        while let Some(d) = c.next_if(char::is_ascii_digit) {
            any = true;
            frac_ns += i64::from(d.to_digit(10)?) * scale;
            scale /= 10; // digits past nanoseconds add nothing
        }
        if !any {
            return None;
        }
    }
    let offset_s = match c.next() {
        None | Some('Z' | 'z') => 0,
        Some(sign @ ('+' | '-')) => {
            let oh = digits(&mut c, 2)?;
            c.next_if_eq(&':');
            let om = if c.peek().is_some() {
                digits(&mut c, 2)?
            } else {
                0
            };
            let off = oh * 3600 + om * 60;
            if sign == '-' { -off } else { off }
        }
        Some(_) => return None,
    };
    if c.next().is_some()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let days = days_from_civil(y, mo, da);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::try_from(frac_ns).ok()?)
}

/// Exactly `n` ASCII digits as a number.
fn digits(c: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize) -> Option<i64> {
    let mut v = 0i64;
    for _ in 0..n {
        let d = c.next_if(char::is_ascii_digit)?;
        v = v * 10 + i64::from(d.to_digit(10)?);
    }
    Some(v)
}

fn expect(c: &mut std::iter::Peekable<std::str::Chars<'_>>, any_of: &[char]) -> Option<()> {
    c.next_if(|ch| any_of.contains(ch)).map(|_| ())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::critical_path::{CpOptions, critical_paths, trace_path};
    use crate::analysis::trace::fixture::{BASE_NS, MS, TraceBuilder, ms};
    use crate::model::AnyValue;

    fn analyse(t: &crate::store::Trace) -> Vec<Invocation> {
        let tree = TraceTree::new(t);
        let paths = trace_path(&critical_paths(&tree, CpOptions::default()));
        invocations(&tree, &paths)
    }

    fn lambda_call(
        b: &mut TraceBuilder,
        client: (u64, u64),
        server: (u64, u64),
        cold: Option<bool>,
        instance: &str,
    ) -> SpanId {
        let root = b
            .span("gw", "GET /")
            .kind(SpanKind::Server)
            .at(client.0, client.1)
            .id();
        let c = b
            .span("gw", "fn invoke")
            .kind(SpanKind::Client)
            .at(client.0, client.1)
            .parent(root)
            .id();
        let mut s = b
            .span("fn", "fn")
            .kind(SpanKind::Server)
            .res(attrs::FAAS_NAME, "fn")
            .res(attrs::FAAS_INSTANCE, instance)
            .at(server.0, server.1)
            .parent(c);
        if let Some(v) = cold {
            s = s.attr(attrs::FAAS_COLDSTART, AnyValue::Bool(v));
        }
        s.id()
    }

    #[test]
    fn cs1_attribute_beats_init_span_and_warns() {
        let mut b = TraceBuilder::new();
        let i = lambda_call(&mut b, (0, 100), (5, 95), Some(false), "i1");
        b.span("fn", "Initialization")
            .res(attrs::FAAS_NAME, "fn")
            .res(attrs::FAAS_INSTANCE, "i1")
            .at(6, 50)
            .parent(i)
            .id();
        let invs = analyse(&b.build());
        assert_eq!(invs.len(), 1);
        let v = classify(&refs(&invs), BASE_NS, ColdStartConfig::default());
        assert_eq!(v[0].cold, Some(false));
        assert_eq!(v[0].evidence, Evidence::Attribute);
        assert!(invs[0].inconsistent);
    }

    #[test]
    fn cs2_generator_layout_init_span_on_critical_path() {
        let mut b = TraceBuilder::new();
        let c = b
            .span("api-gateway", "auth-authorizer invoke")
            .kind(SpanKind::Client)
            .at(0, 270)
            .id();
        let i = b
            .span("auth-authorizer", "auth-authorizer")
            .kind(SpanKind::Server)
            .res(attrs::FAAS_NAME, "auth-authorizer")
            .attr(attrs::FAAS_COLDSTART, AnyValue::Bool(true))
            .at(5, 265)
            .parent(c)
            .id();
        b.span("auth-authorizer", "Initialization")
            .res(attrs::FAAS_NAME, "auth-authorizer")
            .at(8, 261)
            .parent(i)
            .id();
        let invs = analyse(&b.build());
        let v = classify(&refs(&invs), BASE_NS, ColdStartConfig::default());
        let (starts, rows) = function_costs(&refs(&invs), &v);
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].init_ns, 253 * MS);
        assert_eq!(starts[0].init_source, InitSource::InitSpan);
        assert_eq!(starts[0].cold_cp_ns, 253 * MS);
        assert_eq!(rows[0].cold_rate, 1.0);
    }

    #[test]
    fn cs3_init_from_caller_gap_minus_warm_gap() {
        let mut invs = Vec::new();
        for k in 0..20 {
            let mut b = TraceBuilder::with_trace_id(100 + k);
            lambda_call(&mut b, (0, 110), (5, 105), Some(false), "w");
            invs.extend(analyse(&b.build()));
        }
        let mut b = TraceBuilder::with_trace_id(7);
        lambda_call(&mut b, (0, 900), (640, 880), Some(true), "c");
        let cold = analyse(&b.build());
        assert_eq!(cold[0].pre_handler_cp_ns, 640 * MS);
        invs.extend(cold);
        let v = classify(&refs(&invs), BASE_NS, ColdStartConfig::default());
        let (starts, rows) = function_costs(&refs(&invs), &v);
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].init_source, InitSource::CallerGap);
        assert_eq!(starts[0].init_ns, 650 * MS);
        assert_eq!(starts[0].cold_cp_ns, 640 * MS);
        assert_eq!((rows[0].cold, rows[0].warm), (1, 20));
    }

    fn refs(invs: &[Invocation]) -> Vec<&Invocation> {
        invs.iter().collect()
    }

    fn fallback_pair(first_in_file_is_later: bool) -> Vec<Invocation> {
        let inst = "2024/01/01/[$LATEST]abc";
        let mut a = TraceBuilder::with_trace_id(1);
        lambda_call(&mut a, (0, 100), (5, 95), None, inst);
        let mut b = TraceBuilder::with_trace_id(2);
        lambda_call(&mut b, (200, 300), (205, 295), None, inst);
        let (a, b) = (analyse(&a.build()), analyse(&b.build()));
        if first_in_file_is_later {
            [b, a].concat()
        } else {
            [a, b].concat()
        }
    }

    #[test]
    fn cs4_first_invocation_of_instance_by_start_time() {
        let no_warmup = ColdStartConfig { warmup_ns: 0 };
        for reversed in [false, true] {
            let invs = fallback_pair(reversed);
            let v = classify(&refs(&invs), BASE_NS, no_warmup);
            let (first, second) = if reversed { (1, 0) } else { (0, 1) };
            assert_eq!(v[first].cold, Some(true));
            assert_eq!(v[first].confidence, Confidence::Low);
            assert_eq!(v[second].cold, Some(false));
            assert_eq!(v[second].confidence, Confidence::Medium);
        }
        let v = classify(
            &refs(&fallback_pair(false)),
            BASE_NS,
            ColdStartConfig::default(),
        );
        assert_eq!(v[0].cold, None);
        assert_eq!(v[0].evidence, Evidence::FirstOfInstanceBeforeWarmup);
    }

    /// No attribute and no init span (a Node function that loads its modules inside the
    /// handler): the first invocation of the instance ran 1,200 ms against a warm 100 ms with
    /// no caller gap to speak of; the init is estimated from its excess, not read as ~0.
    #[test]
    fn init_told_by_timing_only_is_estimated_from_both_excesses() {
        let inst = "2024/01/01/[$LATEST]abc";
        let mut invs = Vec::new();
        let mut first = TraceBuilder::with_trace_id(1);
        lambda_call(&mut first, (0, 1_210), (5, 1_205), None, inst);
        invs.extend(analyse(&first.build()));
        for k in 0..5u64 {
            let mut b = TraceBuilder::with_trace_id(2 + u128::from(k));
            let t0 = 2_000 + k * 200;
            lambda_call(&mut b, (t0, t0 + 110), (t0 + 5, t0 + 105), None, inst);
            invs.extend(analyse(&b.build()));
        }
        let v = classify(&refs(&invs), BASE_NS, ColdStartConfig { warmup_ns: 0 });
        let (starts, _) = function_costs(&refs(&invs), &v);
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].init_source, InitSource::Estimate);
        assert_eq!(starts[0].init_ns, 1_100 * MS);
    }

    #[test]
    fn cs5_process_age_separates_provisioned_from_cold() {
        for (age_ms, want) in [(300_000, false), (2_000, true)] {
            let mut invs = fallback_pair(false);
            for inv in &mut invs {
                inv.process_creation_ns = Some(ms(0) - age_ms * MS);
            }
            let v = classify(&refs(&invs), BASE_NS, ColdStartConfig::default());
            assert_eq!(v[0].cold, Some(want), "age {age_ms} ms");
            assert_eq!(v[0].confidence, Confidence::Medium);
            assert_eq!(v[1].cold, Some(false));
        }
    }

    #[test]
    fn overlapping_invocations_disable_first_seen() {
        let mut a = TraceBuilder::with_trace_id(1);
        lambda_call(&mut a, (0, 100), (5, 95), None, "shared");
        let mut b = TraceBuilder::with_trace_id(2);
        lambda_call(&mut b, (50, 150), (55, 145), None, "shared");
        let invs = [analyse(&a.build()), analyse(&b.build())].concat();
        let v = classify(&refs(&invs), BASE_NS, ColdStartConfig { warmup_ns: 0 });
        assert!(v.iter().all(|v| v.cold.is_none()));
    }

    #[test]
    fn cs6_cold_warm_penalty_uses_linear_percentiles() {
        let mut invs = Vec::new();
        for (k, (d, cold)) in [
            (300, true),
            (320, true),
            (340, true),
            (360, true),
            (20, false),
            (22, false),
            (24, false),
            (26, false),
        ]
        .into_iter()
        .enumerate()
        {
            let mut b = TraceBuilder::with_trace_id(10 + k as u128);
            lambda_call(&mut b, (0, d + 10), (5, 5 + d), Some(cold), "x");
            invs.extend(analyse(&b.build()));
        }
        let v = classify(&refs(&invs), BASE_NS, ColdStartConfig::default());
        let (_, rows) = function_costs(&refs(&invs), &v);
        let p = &rows[0].server_penalty;
        assert_eq!(
            (p.cold.p50_ns, p.warm.p50_ns),
            (330 * MS as i64, 23 * MS as i64)
        );
        assert_eq!(p.delta_p50_ns, Some(307 * MS as i64));
        assert_eq!(p.delta_p99_ns, None, "n too small");
    }

    #[test]
    fn rfc3339_parsing() {
        assert_eq!(
            parse_rfc3339_ns("1970-01-01T00:00:01Z"),
            Some(1_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-01-01T00:00:00.5Z"),
            Some(1_704_067_200_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2024-01-01T02:00:00+02:00"),
            Some(1_704_067_200_000_000_000)
        );
        assert_eq!(parse_rfc3339_ns("yesterday"), None);
        assert_eq!(
            parse_rfc3339_ns("2024-01-01T00:00:00.123456789123Z"),
            Some(1_704_067_200_123_456_789),
            "digits past nanoseconds are ignored"
        );
        assert_eq!(
            parse_rfc3339_ns("2024-01-01T00:00:00-01:30"),
            Some(1_704_072_600_000_000_000)
        );
    }

    #[test]
    fn rfc3339_with_non_ascii_chars_is_rejected_not_a_panic() {
        for s in [
            "2024-01-01T00:00:00.12345678é",
            "2024-01-01T00:00:00.1234567890é",
            "2024-01-01T00:00:00+é",
            "2024-01-01T00:00:00+0é:00",
            "2024-01-01T00:00:0é",
            "é024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.٣Z",
            "2024-01-01T00:00:00Zé",
        ] {
            assert_eq!(parse_rfc3339_ns(s), None, "{s}");
        }
    }
}
