//! `Findings`: the ranked, cross-trace view of everything the engine found — what the report
//! prints and the TUI shows. Built on demand from an `Engine`; deterministic for a given input.

pub mod view;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{SpanId, SpanRef, Sym, TraceId};

use crate::analysis::aggregate::callgraph::{EdgeRow, GapEvidence};
use crate::analysis::aggregate::hotspots::{BackgroundRow, CallPathHotspot, Hotspot};
use crate::analysis::aggregate::red::RedRow;
use crate::analysis::aggregate::service_graph::ServiceGraph;
use crate::analysis::aggregate::stats::{Summary, ns_to_ms};
use crate::analysis::engine::{Aggregates, Engine, TraceFindings, TracePath};
use crate::analysis::trace::cold_start::{self, ColdStart, FunctionColdStarts};
use crate::analysis::trace::edges::CallKind;
use crate::analysis::trace::errors::ErrorOrigin;
use crate::analysis::trace::fanout::{FanOut, FanOutKind, Shape};

/// Version of the JSON layout; bumped on any incompatible change (docs/report-schema.md).
pub const SCHEMA: &str = "spantop.report/v1";

#[derive(Debug, Clone, Copy)]
pub struct FindingsOptions {
    /// Longest ranked list kept in each section.
    pub top: usize,
    /// Include one entry per trace (critical path and badges).
    pub per_trace: bool,
}

impl Default for FindingsOptions {
    fn default() -> Self {
        FindingsOptions {
            top: usize::MAX,
            per_trace: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub schema: &'static str,
    pub input: InputSummary,
    /// Trace durations (first span start to last span end).
    pub latency: Summary,
    pub cold_starts: ColdStarts,
    pub n_plus_one: FanOutList,
    pub mn_plus_one: FanOutList,
    pub parallel_fanouts: FanOutList,
    pub chains: Vec<ChainRow>,
    /// Every fan-out and chain above, one row per parent operation and call signature (per
    /// path for chains), summed over occurrences: what the report's tables and the TUI's
    /// Fan-out tab list.
    pub patterns: Vec<Pattern>,
    pub hotspots: Hotspots,
    pub service_map: Vec<EdgeRow>,
    /// The service map as a graph: depths, cycles, and where calls multiply across services.
    pub service_graph: ServiceGraph,
    pub errors: Errors,
    pub async_messaging: AsyncMessaging,
    pub services: Vec<ServiceRow>,
    pub operations: Vec<RedRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces: Option<Vec<TraceRow>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    pub traces: usize,
    pub spans: usize,
    pub services: usize,
    pub start_unix_nano: Option<u64>,
    pub end_unix_nano: Option<u64>,
    pub window_s: f64,
    pub orphan_spans: usize,
    pub traces_with_warnings: usize,
    /// Spans shifted by the clock-skew adjustment (`--max-clock-skew`).
    pub clock_skew_adjusted_spans: usize,
    /// Traces beyond the findings bound: counted in aggregates, not listed.
    pub traces_not_listed: usize,
    /// Traces whose analysis panicked: left out of every figure here (and logged).
    pub analysis_failures: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdStarts {
    pub count: usize,
    pub traces_with_cold_start: usize,
    pub invocations: usize,
    pub unknown: usize,
    pub rate: f64,
    pub by_function: Vec<FunctionColdStarts>,
    /// Costliest first (critical-path time, then init time).
    pub list: Vec<ColdStart>,
}

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
    pub time_held_ms: f64,
    pub batching_saves_ms: f64,
    /// Critical-path time inside the members, summed.
    pub cp_ms: f64,
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
    pub cp_total_ms: f64,
    pub example_trace: TraceId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hotspots {
    /// Bottom-up: every trace.
    pub operations: Vec<Hotspot>,
    /// Top-down: per endpoint (root service and operation), its traces only.
    pub by_endpoint: Vec<EndpointHotspots>,
    pub call_paths: Vec<CallPathHotspot>,
    /// Caller→callee edges by the critical-path time of their calls (client span and all
    /// under it), across traces.
    pub edges_by_cp: Vec<EdgeCpRow>,
    /// Caller→callee edges with a server span, by mean client-vs-server gap.
    pub edges_by_gap_mean: Vec<EdgeRow>,
    pub edges_by_gap_total: Vec<EdgeRow>,
    /// Streams and detached work (`trace::background`), kept out of the tables above.
    pub background: Vec<BackgroundRow>,
    pub coverage: Coverage,
}

/// How much of each trace's extent its critical path explains (`TraceFindings::cp_coverage`).
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Coverage below this is low: the path explains too little of the trace to rank by it.
    pub low_below: f64,
    /// Kept traces with low coverage.
    pub low_traces: usize,
    /// Σ path time / Σ extent over kept traces (1 when none).
    pub overall: f64,
    /// Lowest coverage first.
    pub lowest: Vec<CoverageRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    pub trace_id: TraceId,
    pub root_service: Option<Sym>,
    pub root_name: Option<Sym>,
    pub duration_ms: f64,
    pub cp_ms: f64,
    pub coverage: f64,
}

/// Below this share of its extent explained, a trace's path gets a warning.
pub const LOW_COVERAGE: f64 = 0.5;

fn coverage(all: &[&std::sync::Arc<TraceFindings>], top: usize) -> Coverage {
    let (path, extent) = all.iter().fold((0u64, 0u64), |(p, e), f| {
        (p + f.cp_total_ns, e + f.duration_ns)
    });
    let mut low: Vec<CoverageRow> = all
        .iter()
        .filter(|f| f.cp_coverage < LOW_COVERAGE)
        .map(|f| CoverageRow {
            trace_id: f.trace_id,
            root_service: f.root.as_ref().map(|r| r.service),
            root_name: f.root.as_ref().map(|r| r.name),
            duration_ms: ns_to_ms(f.duration_ns as f64),
            cp_ms: ns_to_ms(f.cp_total_ns as f64),
            coverage: f.cp_coverage,
        })
        .collect();
    low.sort_by(|a, b| {
        a.coverage
            .total_cmp(&b.coverage)
            .then(b.duration_ms.total_cmp(&a.duration_ms))
            .then(a.trace_id.cmp(&b.trace_id))
    });
    Coverage {
        low_below: LOW_COVERAGE,
        low_traces: low.len(),
        overall: if extent == 0 {
            1.0
        } else {
            path as f64 / extent as f64
        },
        lowest: truncate(low, top),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EdgeCpRow {
    pub caller: Sym,
    pub callee: Sym,
    pub kind: CallKind,
    pub calls: usize,
    pub cp_total_ms: f64,
    pub cp_share: f64,
    pub gap_mean_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointHotspots {
    pub service: Sym,
    pub operation: Sym,
    pub traces: usize,
    pub operations: Vec<Hotspot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OriginRow {
    pub service: Sym,
    pub operation: Sym,
    pub traces: usize,
    pub propagated_to_root: usize,
    pub absorbed: usize,
    pub propagation_services: Vec<Sym>,
    pub example_trace: TraceId,
    /// Origins of this row that timed out.
    pub timed_out: usize,
    /// The span most often still running when they gave up (see `errors::TimeoutLocus`).
    pub timeout_locus: Option<LocusRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocusRow {
    pub service: Sym,
    pub operation: Sym,
    /// Timed-out origins of the row that named this locus.
    pub traces: usize,
    pub example_trace: TraceId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    pub traces_with_errors: usize,
    /// Error origins (one per error tree) whose failure reached a root.
    pub reaching_root: usize,
    /// Error origins a non-error ancestor swallowed.
    pub absorbed: usize,
    pub by_origin: Vec<OriginRow>,
    pub list: Vec<ErrorOrigin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedLink {
    pub consumer_trace_id: TraceId,
    pub consumer_span_id: SpanId,
    pub consumer_service: Sym,
    pub consumer_name: Sym,
    pub producer_trace_id: TraceId,
    pub producer_span_id: SpanId,
    /// `None` when the producer span is not in the input.
    pub producer_service: Option<Sym>,
    pub producer_name: Option<Sym>,
    /// `consumer.start − producer.end`; across hosts, so subject to clock skew.
    pub publish_to_process_ms: Option<f64>,
    /// End of the consumer's trace minus start of the producer's trace (§3.3), when both are in.
    pub end_to_end_async_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AsyncEdge {
    pub producer_service: Option<Sym>,
    pub consumer_service: Sym,
    pub links: usize,
    pub publish_to_process: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct AsyncMessaging {
    pub links: usize,
    pub resolved: usize,
    pub consumer_traces: usize,
    pub edges: Vec<AsyncEdge>,
    pub list: Vec<ResolvedLink>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    #[serde(flatten)]
    pub red: RedRow,
    pub cp_total_ms: f64,
    pub cp_share: f64,
    /// Self time of all the service's spans (Jaeger's definition), for contrast with CP time.
    pub self_total_ms: f64,
    /// Cold starts / classified invocations, for services that are functions.
    pub cold_start_rate: Option<f64>,
    /// Invocations and cold starts, for services that are functions (0 otherwise).
    pub invocations: usize,
    pub cold_starts: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionRow {
    pub span_id: SpanId,
    pub service: Sym,
    pub name: Sym,
    pub kind: crate::model::SpanKind,
    pub start_offset_ms: f64,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathRow {
    pub root_span_id: SpanId,
    pub orphan: bool,
    pub sections: Vec<SectionRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceRow {
    pub trace_id: TraceId,
    pub root_service: Option<Sym>,
    pub root_name: Option<Sym>,
    pub duration_ms: f64,
    pub span_count: usize,
    pub orphan_spans: usize,
    pub cold_starts: usize,
    pub n_plus_one: usize,
    pub error: bool,
    pub services_in_order: Vec<Sym>,
    pub services_first_seen: Vec<Sym>,
    pub cp_by_service_ms: BTreeMap<Sym, f64>,
    pub client_gap_on_path_ms: f64,
    /// Time the trace path explains and its share of `duration_ms` (see `Coverage`).
    pub cp_ms: f64,
    pub cp_coverage: f64,
    pub critical_path: Vec<PathRow>,
}

/// What `Findings::build_from` reads besides the per-trace findings.
#[derive(Debug, Clone, Copy)]
pub struct FindingsSource<'a> {
    pub aggregates: &'a Aggregates,
    pub cold_start: cold_start::ColdStartConfig,
    pub traces_not_listed: usize,
    pub analysis_failures: usize,
}

impl Hotspot {
    pub fn evidence(&self) -> Option<SpanRef> {
        Some(SpanRef::new(self.worst_trace?, self.worst_span_id?))
    }
}

impl EdgeRow {
    /// The kept call with the largest client-vs-server gap.
    pub fn evidence(&self) -> Option<SpanRef> {
        self.worst_gap
            .as_ref()
            .map(|g| SpanRef::new(g.trace_id, g.client_span_id))
    }
}

impl Default for Findings {
    /// What an engine that has seen nothing finds.
    fn default() -> Self {
        Findings::build(&Engine::default(), FindingsOptions::default())
    }
}

impl Findings {
    pub fn build(engine: &Engine, opts: FindingsOptions) -> Findings {
        let source = FindingsSource {
            aggregates: engine.aggregates(),
            cold_start: engine.config().cold_start,
            traces_not_listed: engine.dropped_findings,
            analysis_failures: engine.analysis_failures,
        };
        Findings::build_from(&source, &engine.findings(), opts)
    }

    /// The rows from aggregates and the kept per-trace findings `all` (none for a view merged
    /// from several instances' aggregates: its per-trace sections come from them instead).
    pub fn build_from(
        source: &FindingsSource<'_>,
        all: &[&std::sync::Arc<TraceFindings>],
        opts: FindingsOptions,
    ) -> Findings {
        let agg = source.aggregates;
        let window = agg.window_s();
        let (cold_list, functions, invocations, unknown) = cold_starts(agg, source.cold_start, all);
        let cold_count = cold_list.len();
        let cold_traces = distinct(cold_list.iter().map(|c| c.trace_id));
        let classified: usize = functions.iter().map(|f| f.cold + f.warm).sum();
        let mut cold_list = cold_list;
        cold_list.sort_by(|a, b| {
            b.cold_cp_ms
                .total_cmp(&a.cold_cp_ms)
                .then(b.init_ms.total_cmp(&a.init_ms))
                .then((a.trace_id, a.invocation_span_id).cmp(&(b.trace_id, b.invocation_span_id)))
        });
        let cp_by_service = agg.hotspots.by_service();
        let self_by_service = agg.hotspots.self_by_service();
        // A function's figures over all its triggers.
        let mut fn_cold: FxHashMap<Sym, (usize, usize, usize)> = FxHashMap::default();
        for f in &functions {
            let e = fn_cold.entry(f.function).or_default();
            e.0 += f.invocations;
            e.1 += f.cold;
            e.2 += f.cold + f.warm;
        }
        // Every service that has spans, as Jaeger lists them: one that only called out (a
        // client-only root service, a Zipkin "unknown") still owns time, with 0 requests.
        let mut red_services = agg.red.services(window);
        let served = red_services.len();
        for &service in self_by_service.keys() {
            if red_services[..served]
                .binary_search_by(|r| r.service.cmp(&service))
                .is_err()
            {
                red_services.push(RedRow {
                    service,
                    operation: None,
                    requests: 0,
                    rate_per_s: 0.0,
                    errors: 0,
                    error_rate: 0.0,
                    duration: Summary::default(),
                });
            }
        }
        red_services.sort_by_key(|r| r.service);
        let services: Vec<ServiceRow> = red_services
            .iter()
            .cloned()
            .map(|red| {
                let (cp_total_ms, cp_share) = cp_by_service
                    .get(&red.service)
                    .copied()
                    .unwrap_or((0.0, 0.0));
                let cold = fn_cold.get(&red.service).copied();
                ServiceRow {
                    self_total_ms: self_by_service.get(&red.service).copied().unwrap_or(0.0),
                    cold_start_rate: cold
                        .map(|(_, c, classified)| ratio(c as f64, classified as f64)),
                    invocations: cold.map_or(0, |c| c.0),
                    cold_starts: cold.map_or(0, |c| c.1),
                    red,
                    cp_total_ms,
                    cp_share,
                }
            })
            .collect();
        let mut edge_rows = agg.service_map.rows();
        attach_gap_evidence(&mut edge_rows, all);
        let mut by_gap: Vec<EdgeRow> = edge_rows
            .iter()
            .filter(|e| e.kind == CallKind::Rpc && e.gap.n > 0)
            .cloned()
            .collect();
        by_gap.sort_by(|a, b| {
            b.gap
                .mean_ms
                .total_cmp(&a.gap.mean_ms)
                .then((a.caller, a.callee).cmp(&(b.caller, b.callee)))
        });
        let mut by_cp: Vec<EdgeCpRow> = edge_rows
            .iter()
            .filter(|e| e.cp_total_ms > 0.0)
            .map(|e| EdgeCpRow {
                caller: e.caller,
                callee: e.callee,
                kind: e.kind,
                calls: e.calls,
                cp_total_ms: e.cp_total_ms,
                cp_share: agg.hotspots.share((e.cp_total_ms * 1e6) as u64),
                gap_mean_ms: (e.gap.n > 0).then_some(e.gap.mean_ms),
            })
            .collect();
        by_cp.sort_by(|a, b| {
            b.cp_total_ms
                .total_cmp(&a.cp_total_ms)
                .then((a.caller, a.callee).cmp(&(b.caller, b.callee)))
        });
        let mut by_total = by_gap.clone();
        by_total.sort_by(|a, b| {
            b.gap
                .total_ms
                .total_cmp(&a.gap.total_ms)
                .then((a.caller, a.callee).cmp(&(b.caller, b.callee)))
        });
        let top = opts.top;
        Findings {
            schema: SCHEMA,
            input: InputSummary {
                traces: agg.traces,
                spans: agg.spans,
                services: red_services.len(),
                start_unix_nano: agg.min_start_ns,
                end_unix_nano: agg.max_end_ns,
                window_s: window,
                orphan_spans: all.iter().map(|f| f.orphan_spans).sum(),
                traces_with_warnings: all.iter().filter(|f| !f.warnings.is_empty()).count(),
                clock_skew_adjusted_spans: all
                    .iter()
                    .flat_map(|f| &f.clock_skew)
                    .filter(|n| {
                        matches!(n, crate::analysis::trace::skew::SkewNote::Adjusted { .. })
                    })
                    .count(),
                traces_not_listed: source.traces_not_listed,
                analysis_failures: source.analysis_failures,
            },
            latency: agg.durations.summary_ms(),
            cold_starts: ColdStarts {
                count: cold_count,
                traces_with_cold_start: cold_traces,
                invocations,
                unknown,
                rate: if classified > 0 {
                    cold_count as f64 / classified as f64
                } else {
                    0.0
                },
                by_function: functions,
                list: truncate(cold_list, top),
            },
            n_plus_one: fanout_list(all, FanOutKind::NPlusOne, top),
            mn_plus_one: fanout_list(all, FanOutKind::MnPlusOne, top),
            parallel_fanouts: fanout_list(all, FanOutKind::Parallel, top),
            chains: truncate(chain_rows(all), top),
            patterns: patterns(all, top),
            hotspots: Hotspots {
                operations: truncate(with_worst_traces(agg.hotspots.operations(), all), top),
                by_endpoint: truncate(by_endpoint(all, top), top),
                call_paths: truncate(agg.hotspots.call_paths(), top),
                edges_by_cp: truncate(by_cp, top),
                edges_by_gap_mean: truncate(by_gap, top),
                edges_by_gap_total: truncate(by_total, top),
                background: truncate(agg.hotspots.background(), top),
                coverage: coverage(all, top),
            },
            service_graph: ServiceGraph::build(&edge_rows, &red_services),
            service_map: edge_rows,
            errors: errors(all, top),
            async_messaging: async_messaging(all, top),
            services,
            operations: agg.red.operations(window),
            traces: opts
                .per_trace
                .then(|| all.iter().map(|f| trace_row(f)).collect()),
        }
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn truncate<T>(mut v: Vec<T>, n: usize) -> Vec<T> {
    v.truncate(n);
    v
}

fn distinct<T: Ord>(it: impl Iterator<Item = T>) -> usize {
    let mut v: Vec<T> = it.collect();
    v.sort();
    v.dedup();
    v.len()
}

fn cold_starts(
    agg: &Aggregates,
    cfg: cold_start::ColdStartConfig,
    all: &[&std::sync::Arc<TraceFindings>],
) -> (Vec<ColdStart>, Vec<FunctionColdStarts>, usize, usize) {
    let invs: Vec<cold_start::Invocation> = all
        .iter()
        .flat_map(|f| f.invocations.iter().cloned())
        .collect();
    let epoch = agg.min_start_ns.unwrap_or(0);
    let verdicts = cold_start::classify(&invs, epoch, cfg);
    let unknown = verdicts.iter().filter(|v| v.cold.is_none()).count();
    let (list, rows) = cold_start::function_costs(&invs, &verdicts);
    (list, rows, invs.len(), unknown)
}

fn fanout_list(all: &[&std::sync::Arc<TraceFindings>], kind: FanOutKind, top: usize) -> FanOutList {
    let mut list: Vec<FanOut> = all
        .iter()
        .flat_map(|f| f.fanouts.iter().filter(|x| x.kind == kind).cloned())
        .collect();
    let key = |f: &FanOut| match kind {
        FanOutKind::NPlusOne | FanOutKind::MnPlusOne => f.union_ms,
        FanOutKind::Parallel => f.cp_ms,
    };
    list.sort_by(|a, b| {
        key(b)
            .total_cmp(&key(a))
            .then((a.trace_id, a.parent_span_id).cmp(&(b.trace_id, b.parent_span_id)))
    });
    FanOutList {
        count: list.len(),
        traces: distinct(list.iter().map(|f| f.trace_id)),
        list: truncate(list, top),
    }
}

fn join(v: &[Sym], sep: &str) -> String {
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
    cp_ms: f64,
}

/// Groups every fan-out by kind, parent operation and what repeats (its call signature, so
/// different statements under one span name stay apart), and every chain by its path.
fn patterns(all: &[&std::sync::Arc<TraceFindings>], top: usize) -> Vec<Pattern> {
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
                cp_ms: x.cp_ms,
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
                cp_ms: c.cp_ms,
            });
        }
    }
    // The worst occurrence: the one that held its parent longest (a chain: most amplified).
    let badness = |o: &Occurrence<'_>| o.fanout.map_or(o.degree, |x| x.union_ms);
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
                time_held_ms: fans().map(|x| x.union_ms).sum(),
                batching_saves_ms: fans().map(|x| x.savings_if_batched_ms).sum(),
                cp_ms: occ.iter().map(|o| o.cp_ms).sum(),
                cut_by_error: fans().filter(|x| x.truncated_by_error).count(),
                worst_chain: worst.fanout.map(|x| x.chain.clone()).unwrap_or_default(),
                tail_risk: worst.fanout.and_then(|x| x.tail_risk),
                worst: worst.at,
            })
        })
        .collect();
    // Loops by the time they held requests, parallel fan-outs and chains by critical path.
    let weight = |p: &Pattern| match p.kind {
        PatternKind::NPlusOne | PatternKind::MnPlusOne => p.time_held_ms,
        PatternKind::Parallel | PatternKind::Chain => p.cp_ms,
    };
    rows.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(weight(b).total_cmp(&weight(a)))
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

fn chain_rows(all: &[&std::sync::Arc<TraceFindings>]) -> Vec<ChainRow> {
    let mut rows: BTreeMap<Vec<Sym>, ChainRow> = BTreeMap::new();
    for f in all {
        for c in &f.chains {
            let r = rows.entry(c.services.clone()).or_insert_with(|| ChainRow {
                services: c.services.clone(),
                traces: 0,
                max_amplification: 0.0,
                max_invocations: 0,
                cp_total_ms: 0.0,
                example_trace: c.trace_id,
            });
            r.traces += 1;
            if c.amplification > r.max_amplification {
                r.max_amplification = c.amplification;
                r.example_trace = c.trace_id;
            }
            r.max_invocations = r.max_invocations.max(c.invocations);
            r.cp_total_ms += c.cp_ms;
        }
    }
    let mut v: Vec<ChainRow> = rows.into_values().collect();
    v.sort_by(|a, b| {
        b.cp_total_ms
            .total_cmp(&a.cp_total_ms)
            .then(b.max_amplification.total_cmp(&a.max_amplification))
    });
    v
}

fn errors(all: &[&std::sync::Arc<TraceFindings>], top: usize) -> Errors {
    let list: Vec<ErrorOrigin> = all.iter().flat_map(|f| f.errors.iter().cloned()).collect();
    let mut by: BTreeMap<(Sym, Sym), OriginRow> = BTreeMap::new();
    let mut loci: BTreeMap<(Sym, Sym), BTreeMap<(Sym, Sym), LocusRow>> = BTreeMap::new();
    for e in &list {
        let key = (e.origin.service, e.origin.name);
        let r = by.entry(key).or_insert_with(|| OriginRow {
            service: e.origin.service,
            operation: e.origin.name,
            traces: 0,
            propagated_to_root: 0,
            absorbed: 0,
            propagation_services: e.propagation_services.clone(),
            example_trace: e.trace_id,
            timed_out: 0,
            timeout_locus: None,
        });
        r.traces += 1;
        if e.propagated_to_root {
            r.propagated_to_root += 1;
        } else {
            r.absorbed += 1;
        }
        if let Some(l) = &e.timeout_locus {
            r.timed_out += 1;
            loci.entry(key)
                .or_default()
                .entry((l.span.service, l.span.name))
                .or_insert_with(|| LocusRow {
                    service: l.span.service,
                    operation: l.span.name,
                    traces: 0,
                    example_trace: e.trace_id,
                })
                .traces += 1;
        }
    }
    for (key, rows) in loci {
        if let Some(r) = by.get_mut(&key) {
            // The most frequent locus; the first by name on ties (BTreeMap order).
            r.timeout_locus = rows
                .into_values()
                .reduce(|best, l| if l.traces > best.traces { l } else { best });
        }
    }
    let mut by_origin: Vec<OriginRow> = by.into_values().collect();
    by_origin.sort_by(|a, b| {
        b.traces
            .cmp(&a.traces)
            .then((a.service, a.operation).cmp(&(b.service, b.operation)))
    });
    Errors {
        traces_with_errors: distinct(list.iter().map(|e| e.trace_id)),
        reaching_root: list.iter().filter(|e| e.propagated_to_root).count(),
        absorbed: list.iter().filter(|e| !e.propagated_to_root).count(),
        by_origin: truncate(by_origin, top),
        list: truncate(list, top),
    }
}

/// Names, for each hotspot operation, the kept trace where it held the path longest, and in
/// it the operation's longest critical-path section.
fn with_worst_traces(
    mut rows: Vec<Hotspot>,
    all: &[&std::sync::Arc<TraceFindings>],
) -> Vec<Hotspot> {
    let mut worst: FxHashMap<(Sym, Sym), (u64, usize)> = FxHashMap::default();
    for (i, f) in all.iter().enumerate() {
        for &(k, ns) in &f.hotspots.cp_by_op {
            let w = worst.entry(k).or_insert((ns, i));
            if ns > w.0 {
                *w = (ns, i);
            }
        }
    }
    for r in &mut rows {
        let Some(&(_, i)) = worst.get(&(r.service, r.operation)) else {
            continue;
        };
        let f = all[i];
        r.worst_trace = Some(f.trace_id);
        r.worst_span_id = f
            .critical_path
            .iter()
            .flat_map(|p| &p.sections)
            .filter(|s| (s.service, s.name) == (r.service, r.operation))
            .max_by_key(|s| s.end_ns.saturating_sub(s.start_ns))
            .map(|s| s.span_id);
    }
    rows
}

/// Names, for each edge, the kept call with the largest client-vs-server gap.
fn attach_gap_evidence(rows: &mut [EdgeRow], all: &[&std::sync::Arc<TraceFindings>]) {
    let mut worst: FxHashMap<(Sym, Sym, CallKind), GapEvidence> = FxHashMap::default();
    for f in all {
        for c in &f.calls {
            let Some(g) = c.gap_ns.filter(|&g| g >= 0) else {
                continue;
            };
            let gap_ms = ns_to_ms(g as f64);
            let w = worst
                .entry((c.caller, c.callee, c.kind))
                .or_insert(GapEvidence {
                    trace_id: f.trace_id,
                    client_span_id: c.client_span,
                    gap_ms,
                });
            if gap_ms > w.gap_ms {
                *w = GapEvidence {
                    trace_id: f.trace_id,
                    client_span_id: c.client_span,
                    gap_ms,
                };
            }
        }
    }
    for r in rows {
        r.worst_gap = worst.remove(&(r.caller, r.callee, r.kind));
    }
}

/// CRISP top-down: the hotspot table of each endpoint over its own traces, busiest first.
fn by_endpoint(all: &[&std::sync::Arc<TraceFindings>], top: usize) -> Vec<EndpointHotspots> {
    let mut per: BTreeMap<(Sym, Sym), (usize, crate::analysis::aggregate::hotspots::HotspotAgg)> =
        BTreeMap::new();
    for f in all {
        if let Some(r) = &f.root {
            let e = per.entry((r.service, r.name)).or_default();
            e.0 += 1;
            e.1.apply(&f.hotspots, true);
        }
    }
    let mut rows: Vec<EndpointHotspots> = per
        .into_iter()
        .map(|((service, operation), (traces, agg))| EndpointHotspots {
            service,
            operation,
            traces,
            operations: truncate(agg.operations(), top),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.traces
            .cmp(&a.traces)
            .then((a.service, a.operation).cmp(&(b.service, b.operation)))
    });
    rows
}

fn async_messaging(all: &[&std::sync::Arc<TraceFindings>], top: usize) -> AsyncMessaging {
    let producers: FxHashMap<(TraceId, SpanId), &crate::analysis::trace::edges::ProducerRef> = all
        .iter()
        .flat_map(|f| {
            f.producers
                .iter()
                .map(move |p| ((f.trace_id, p.span_id), p))
        })
        .collect();
    let trace_start: FxHashMap<TraceId, u64> =
        all.iter().map(|f| (f.trace_id, f.start_ns)).collect();
    let mut list = Vec::new();
    let mut consumer_traces = Vec::new();
    for f in all {
        for l in &f.links {
            let p = producers.get(&(l.trace_id, l.span_id));
            consumer_traces.push(f.trace_id);
            list.push(ResolvedLink {
                consumer_trace_id: f.trace_id,
                consumer_span_id: l.consumer_span,
                consumer_service: l.consumer_service,
                consumer_name: l.consumer_name,
                producer_trace_id: l.trace_id,
                producer_span_id: l.span_id,
                producer_service: p.map(|p| p.service),
                producer_name: p.map(|p| p.name),
                publish_to_process_ms: p
                    .map(|p| ns_to_ms(l.consumer_start_ns as f64 - p.end_ns as f64)),
                end_to_end_async_ms: trace_start.get(&l.trace_id).map(|&producer_start| {
                    ns_to_ms((f.start_ns + f.duration_ns) as f64 - producer_start as f64)
                }),
            });
        }
    }
    let mut edges: BTreeMap<
        (Option<Sym>, Sym),
        (usize, crate::analysis::aggregate::stats::Samples),
    > = BTreeMap::new();
    for l in &list {
        let e = edges
            .entry((l.producer_service, l.consumer_service))
            .or_default();
        e.0 += 1;
        if let Some(ms) = l.publish_to_process_ms {
            e.1.push((ms * 1e6) as i64);
        }
    }
    AsyncMessaging {
        links: list.len(),
        resolved: list.iter().filter(|l| l.producer_service.is_some()).count(),
        consumer_traces: distinct(consumer_traces.into_iter()),
        edges: edges
            .into_iter()
            .map(|((p, c), (n, s))| AsyncEdge {
                producer_service: p,
                consumer_service: c,
                links: n,
                publish_to_process: s.summary_ms(),
            })
            .collect(),
        list: truncate(list, top),
    }
}

fn trace_row(f: &TraceFindings) -> TraceRow {
    let path_row = |p: &TracePath| PathRow {
        root_span_id: p.root.span_id,
        orphan: p.orphan,
        sections: p
            .sections
            .iter()
            .map(|s| SectionRow {
                span_id: s.span_id,
                service: s.service,
                name: s.name,
                kind: s.kind,
                start_offset_ms: ns_to_ms(s.start_ns.saturating_sub(f.start_ns) as f64),
                duration_ms: ns_to_ms((s.end_ns - s.start_ns) as f64),
            })
            .collect(),
    };
    TraceRow {
        trace_id: f.trace_id,
        root_service: f.root.as_ref().map(|r| r.service),
        root_name: f.root.as_ref().map(|r| r.name),
        duration_ms: ns_to_ms(f.duration_ns as f64),
        span_count: f.span_count,
        orphan_spans: f.orphan_spans,
        cold_starts: f
            .invocations
            .iter()
            .filter(|i| i.local_verdict().is_some_and(|v| v.cold == Some(true)))
            .count(),
        n_plus_one: f
            .fanouts
            .iter()
            .filter(|x| x.kind == FanOutKind::NPlusOne)
            .count(),
        error: f.errors.iter().any(|e| e.propagated_to_root),
        services_in_order: f.services_in_order.clone(),
        services_first_seen: f.services_first_seen.clone(),
        cp_by_service_ms: f
            .cp_by_service_ns
            .iter()
            .map(|&(s, ns)| (s, ns_to_ms(ns as f64)))
            .collect(),
        client_gap_on_path_ms: ns_to_ms(f.client_gap_on_path_ns as f64),
        cp_ms: ns_to_ms(f.cp_total_ns as f64),
        cp_coverage: f.cp_coverage,
        critical_path: f.critical_path.iter().map(path_row).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::{AnalysisConfig, Engine};
    use crate::analysis::trace::fixture::TraceBuilder;
    use crate::model::SpanKind;
    use crate::store::Trace;

    fn producer(trace: u128, span: u64) -> Trace {
        let mut b = TraceBuilder::with_trace_id(trace);
        let r = b
            .span("order-service", "POST /orders")
            .kind(SpanKind::Server)
            .at(0, 50)
            .id();
        b.span("order-service", "order-events publish")
            .kind(SpanKind::Producer)
            .at(10, 12)
            .parent(r)
            .with_id(span)
            .id();
        b.build()
    }

    fn consumer() -> Trace {
        let mut b = TraceBuilder::with_trace_id(99);
        let t1 = TraceId::from_u128(1).expect("id");
        let t2 = TraceId::from_u128(2).expect("id");
        b.span("notification-fn", "order-events process")
            .kind(SpanKind::Consumer)
            .at(100, 150)
            .link(t1, SpanId::from_u64(0x51).expect("id"))
            .link(t2, SpanId::from_u64(0x52).expect("id"))
            .id();
        b.build()
    }

    /// E5: a consumer linking producers in two other traces gives two async links to
    /// order-service, whichever trace arrives first.
    #[test]
    fn e5_batch_links_resolve_in_any_arrival_order() {
        let orders = [[0, 1, 2], [2, 0, 1], [1, 2, 0]];
        for order in orders {
            let traces = [producer(1, 0x51), producer(2, 0x52), consumer()];
            let mut engine = Engine::new(AnalysisConfig::default());
            for k in order {
                engine.add_trace(&traces[k]);
            }
            let f = Findings::build(&engine, FindingsOptions::default());
            let a = &f.async_messaging;
            assert_eq!(
                (a.links, a.resolved, a.consumer_traces),
                (2, 2, 1),
                "order {order:?}"
            );
            assert_eq!(a.edges.len(), 1);
            assert_eq!(
                a.edges[0].producer_service.map(Sym::as_str),
                Some("order-service")
            );
            assert_eq!(a.edges[0].consumer_service.as_str(), "notification-fn");
            assert_eq!(a.edges[0].links, 2);
            assert_eq!(a.list[0].publish_to_process_ms, Some(88.0));
            assert_eq!(a.list[0].end_to_end_async_ms, Some(150.0));
        }
    }

    #[test]
    fn unresolved_link_is_kept_with_unknown_producer() {
        let mut engine = Engine::new(AnalysisConfig::default());
        engine.add_trace(&consumer());
        let f = Findings::build(&engine, FindingsOptions::default());
        assert_eq!(
            (f.async_messaging.links, f.async_messaging.resolved),
            (2, 0)
        );
        assert_eq!(f.async_messaging.edges[0].producer_service, None);
    }

    #[test]
    fn top_down_hotspots_are_per_endpoint() {
        let mut engine = Engine::new(AnalysisConfig::default());
        for (id, root, child) in [
            (1, "GET /a", "db-a"),
            (2, "GET /a", "db-a"),
            (3, "GET /b", "db-b"),
        ] {
            let mut b = TraceBuilder::with_trace_id(id);
            let r = b.span("gw", root).kind(SpanKind::Server).at(0, 100).id();
            b.span("gw", child).at(10, 90).parent(r).id();
            engine.add_trace(&b.build());
        }
        let f = Findings::build(&engine, FindingsOptions::default());
        let eps = &f.hotspots.by_endpoint;
        assert_eq!(eps.len(), 2);
        assert_eq!((eps[0].operation.as_str(), eps[0].traces), ("GET /a", 2));
        assert_eq!(eps[0].operations[0].operation.as_str(), "db-a");
        assert_eq!(eps[0].operations[0].cp_share, 0.8);
        assert!(
            eps[1]
                .operations
                .iter()
                .all(|h| h.operation.as_str() != "db-a")
        );
    }

    #[test]
    fn hotspots_and_edges_name_their_worst_trace() {
        let mut engine = Engine::new(AnalysisConfig::default());
        for (id, server_end) in [(1, 90), (2, 70)] {
            let mut b = TraceBuilder::with_trace_id(id);
            let r = b.span("gw", "GET /").kind(SpanKind::Server).at(0, 100).id();
            let c = b
                .span("gw", "call")
                .kind(SpanKind::Client)
                .at(10, 95)
                .parent(r)
                .id();
            b.span("svc", "serve")
                .kind(SpanKind::Server)
                .at(20, server_end)
                .parent(c)
                .id();
            engine.add_trace(&b.build());
        }
        let f = Findings::build(&engine, FindingsOptions::default());
        let two = TraceId::from_u128(2).expect("id");
        let one = TraceId::from_u128(1).expect("id");
        let edge = &f.hotspots.edges_by_gap_mean[0];
        let worst = edge.worst_gap.as_ref().expect("evidence");
        assert_eq!((worst.trace_id, worst.gap_ms), (two, 35.0));
        let serve = f
            .hotspots
            .operations
            .iter()
            .find(|h| h.operation.as_str() == "serve")
            .expect("row");
        assert_eq!(serve.worst_trace, Some(one), "the longer server span");
    }
}
