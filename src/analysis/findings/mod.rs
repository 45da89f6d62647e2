//! `Findings`: the ranked, cross-trace view of everything the engine found — what the report
//! prints and the TUI shows. Built on demand from an `Engine`; deterministic for a given input.
//! This file holds `Findings` and its build; each section's rows and how they are ranked live
//! beside it (`patterns`, `hotspots`, `errors`, `messaging`), and `view` is what the TUI indexes.

mod errors;
mod hotspots;
mod messaging;
mod patterns;
pub mod view;

use errors::errors;
pub use errors::{ErrorAt, ErrorSummary, Errors, LocusRow, OriginRow};
pub use hotspots::{Coverage, CoverageRow, EdgeCpRow, EndpointHotspots, Hotspots, LOW_COVERAGE};
use hotspots::{attach_gap_evidence, by_endpoint, coverage, with_worst_traces};
use messaging::async_messaging;
pub use messaging::{AsyncEdge, AsyncMessaging, ResolvedLink};
pub use patterns::{ChainRow, FanOutList, Lists, Pattern, PatternKind};
use patterns::{chain_rows, fanout_list, patterns};

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{SpanId, SpanRef, Sym, TraceId};

use crate::analysis::aggregate::callgraph::EdgeRow;
use crate::analysis::aggregate::evidence::{RetiredEvidence, skew_adjusted};
use crate::analysis::aggregate::hotspots::{BackgroundRow, CallPathHotspot, Hotspot};
use crate::analysis::aggregate::red::RedRow;
use crate::analysis::aggregate::service_graph::ServiceGraph;
use crate::analysis::aggregate::stats::Summary;
use crate::analysis::engine::{Aggregates, AsyncPart, Engine, Remainder, TraceFindings, TracePath};
use crate::analysis::trace::cold_start::{self, ColdStart, FunctionColdStarts};
use crate::analysis::trace::edges::CallKind;
use crate::analysis::trace::errors::ErrorOrigin;
use crate::analysis::trace::fanout::{FanOut, FanOutKind, Shape};

/// Version of the JSON layout; bumped on any incompatible change (docs/report-schema.md).
pub const SCHEMA: &str = "spantop.report/v1";

#[derive(Debug, Clone, Copy)]
pub struct FindingsOptions {
    /// Longest ranked list of rows kept in each section (patterns, hotspots, edges, errors
    /// by origin, ...).
    pub top: usize,
    /// Longest list of single occurrences kept (fan-outs, chains, cold starts, error
    /// origins, async links, lowest-coverage traces): the rows above sum them, and every
    /// count is over all of them.
    pub occurrences: usize,
    /// Include one entry per trace (critical path and badges).
    pub per_trace: bool,
}

impl Default for FindingsOptions {
    fn default() -> Self {
        FindingsOptions {
            top: usize::MAX,
            occurrences: usize::MAX,
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
    /// Set when traces were analysed and let go of to stay within `--max-memory`: each list
    /// of single occurrences keeps at most this many, the first in its order; every count and
    /// row summed over occurrences still covers all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lists_cut_to: Option<usize>,
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
pub struct ServiceRow {
    #[serde(flatten)]
    pub red: RedRow,
    #[serde(
        rename = "cp_total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_total_ns: u64,
    pub cp_share: f64,
    /// Self time of all the service's spans (Jaeger's definition), for contrast with CP time.
    #[serde(
        rename = "self_total_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub self_total_ns: u64,
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
    #[serde(
        rename = "start_offset_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub start_offset_ns: u64,
    #[serde(
        rename = "duration_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub duration_ns: u64,
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
    #[serde(
        rename = "duration_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub duration_ns: u64,
    pub span_count: usize,
    pub orphan_spans: usize,
    pub cold_starts: usize,
    pub n_plus_one: usize,
    pub error: bool,
    pub services_in_order: Vec<Sym>,
    pub services_first_seen: Vec<Sym>,
    #[serde(
        rename = "cp_by_service_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_map_as_ms"
    )]
    pub cp_by_service_ns: BTreeMap<Sym, u64>,
    #[serde(
        rename = "client_gap_on_path_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub client_gap_on_path_ns: u64,
    /// Time the trace path explains and its share of `duration_ms` (see `Coverage`).
    #[serde(
        rename = "cp_ms",
        serialize_with = "crate::analysis::aggregate::stats::ns_as_ms"
    )]
    pub cp_ns: u64,
    pub cp_coverage: f64,
    pub critical_path: Vec<PathRow>,
}

/// What `Findings::build_from` reads besides the per-trace findings.
#[derive(Debug, Clone, Copy)]
pub struct FindingsSource<'a> {
    pub aggregates: &'a Aggregates,
    /// The worst cases of the traces let go of (`Engine::retire`), besides those of `all`.
    pub retired: &'a RetiredEvidence,
    pub cold_start: cold_start::ColdStartConfig,
    pub traces_not_listed: usize,
    pub analysis_failures: usize,
    /// The fan-outs, patterns and chains of the held traces, ranked as they came.
    pub lists: Lists<'a>,
    /// What cold starts and async links read of the retired traces that left.
    pub rest: &'a [Remainder],
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
            retired: engine.retired_evidence(),
            cold_start: engine.config().cold_start,
            traces_not_listed: engine.dropped_findings,
            analysis_failures: engine.analysis_failures,
            lists: Lists {
                index: engine.lists(),
                held: engine.held(),
                folded: engine.folded(),
            },
            rest: engine.rest(),
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
        let gone = &source.retired.gone;
        let window = agg.window_s();
        // Held and retired traces in report order, as cold starts and async links read them.
        let mut parts: Vec<AsyncPart<'_>> = all.iter().map(|f| f.part()).collect();
        parts.extend(source.rest.iter().map(Remainder::part));
        parts.sort_by_key(|p| (p.start_ns, p.trace_id));
        let (cold_list, functions, invocations, unknown) =
            cold_starts(agg, source.cold_start, &parts);
        let cold_count = cold_list.len();
        let cold_traces = distinct(cold_list.iter().map(|c| c.trace_id));
        let classified: usize = functions.iter().map(|f| f.cold + f.warm).sum();
        let mut cold_list = cold_list;
        cold_list.sort_by(|a, b| {
            b.cold_cp_ns
                .cmp(&a.cold_cp_ns)
                .then(b.init_ns.cmp(&a.init_ns))
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
                let (cp_total_ns, cp_share) =
                    cp_by_service.get(&red.service).copied().unwrap_or((0, 0.0));
                let cold = fn_cold.get(&red.service).copied();
                ServiceRow {
                    self_total_ns: self_by_service.get(&red.service).copied().unwrap_or(0),
                    cold_start_rate: cold
                        .map(|(_, c, classified)| ratio(c as f64, classified as f64)),
                    invocations: cold.map_or(0, |c| c.0),
                    cold_starts: cold.map_or(0, |c| c.1),
                    red,
                    cp_total_ns,
                    cp_share,
                }
            })
            .collect();
        let mut edge_rows = agg.service_map.rows();
        attach_gap_evidence(&mut edge_rows, all, source.retired);
        let mut by_gap: Vec<EdgeRow> = edge_rows
            .iter()
            .filter(|e| e.kind == CallKind::Rpc && e.gap.n > 0)
            .cloned()
            .collect();
        by_gap.sort_by(|a, b| {
            b.gap
                .mean_ns
                .cmp(&a.gap.mean_ns)
                .then((a.caller, a.callee).cmp(&(b.caller, b.callee)))
        });
        let mut by_cp: Vec<EdgeCpRow> = edge_rows
            .iter()
            .filter(|e| e.cp_total_ns > 0)
            .map(|e| EdgeCpRow {
                caller: e.caller,
                callee: e.callee,
                kind: e.kind,
                calls: e.calls,
                cp_total_ns: e.cp_total_ns,
                cp_share: agg.hotspots.share(e.cp_total_ns),
                gap_mean_ns: (e.gap.n > 0).then_some(e.gap.mean_ns),
            })
            .collect();
        by_cp.sort_by(|a, b| {
            b.cp_total_ns
                .cmp(&a.cp_total_ns)
                .then((a.caller, a.callee).cmp(&(b.caller, b.callee)))
        });
        let mut by_total = by_gap.clone();
        by_total.sort_by(|a, b| {
            b.gap
                .total_ns
                .cmp(&a.gap.total_ns)
                .then((a.caller, a.callee).cmp(&(b.caller, b.callee)))
        });
        // Once traces are folded, their single occurrences are kept up to the fold's cap.
        let cut_to = source.lists.folded.list_cap();
        let (top, each) = (opts.top, opts.occurrences.min(cut_to.unwrap_or(usize::MAX)));
        Findings {
            schema: SCHEMA,
            input: InputSummary {
                traces: agg.traces,
                spans: agg.spans,
                services: red_services.len(),
                start_unix_nano: agg.min_start_ns,
                end_unix_nano: agg.max_end_ns,
                window_s: window,
                orphan_spans: gone.orphan_spans + all.iter().map(|f| f.orphan_spans).sum::<usize>(),
                traces_with_warnings: gone.traces_with_warnings
                    + all.iter().filter(|f| !f.warnings.is_empty()).count(),
                clock_skew_adjusted_spans: gone.clock_skew_adjusted_spans
                    + all.iter().map(|f| skew_adjusted(f)).sum::<usize>(),
                traces_not_listed: source.traces_not_listed,
                analysis_failures: source.analysis_failures,
                lists_cut_to: cut_to,
            },
            latency: agg.durations.summary(),
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
                list: truncate(cold_list, each),
            },
            n_plus_one: fanout_list(&source.lists, FanOutKind::NPlusOne, each),
            mn_plus_one: fanout_list(&source.lists, FanOutKind::MnPlusOne, each),
            parallel_fanouts: fanout_list(&source.lists, FanOutKind::Parallel, each),
            chains: truncate(chain_rows(&source.lists), each),
            patterns: patterns(&source.lists, top),
            hotspots: Hotspots {
                operations: truncate(
                    with_worst_traces(agg.hotspots.operations(), all, source.retired),
                    top,
                ),
                by_endpoint: truncate(by_endpoint(agg, top), top),
                call_paths: truncate(agg.hotspots.call_paths(), top),
                edges_by_cp: truncate(by_cp, top),
                edges_by_gap_mean: truncate(by_gap, top),
                edges_by_gap_total: truncate(by_total, top),
                background: truncate(agg.hotspots.background(), top),
                coverage: coverage(all, gone, source.lists.folded, each),
            },
            service_graph: ServiceGraph::build(&edge_rows, &red_services),
            service_map: edge_rows,
            errors: errors(all, source.lists.folded, top, each),
            async_messaging: async_messaging(&parts, each),
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
    parts: &[AsyncPart<'_>],
) -> (Vec<ColdStart>, Vec<FunctionColdStarts>, usize, usize) {
    let invs: Vec<&cold_start::Invocation> =
        parts.iter().flat_map(|f| f.invocations.iter()).collect();
    let epoch = agg.min_start_ns.unwrap_or(0);
    let verdicts = cold_start::classify(&invs, epoch, cfg);
    let unknown = verdicts.iter().filter(|v| v.cold.is_none()).count();
    let (list, rows) = cold_start::function_costs(&invs, &verdicts);
    (list, rows, invs.len(), unknown)
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
                start_offset_ns: s.start_ns.saturating_sub(f.start_ns),
                duration_ns: s.end_ns - s.start_ns,
            })
            .collect(),
    };
    TraceRow {
        trace_id: f.trace_id,
        root_service: f.root.as_ref().map(|r| r.service),
        root_name: f.root.as_ref().map(|r| r.name),
        duration_ns: f.duration_ns,
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
        cp_by_service_ns: f.cp_by_service_ns.iter().copied().collect(),
        client_gap_on_path_ns: f.client_gap_on_path_ns,
        cp_ns: f.cp_total_ns,
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
            assert_eq!(a.list[0].publish_to_process_ns, Some(88_000_000));
            assert_eq!(a.list[0].end_to_end_async_ns, Some(150_000_000));
        }
    }

    /// Producers and consumers let go of as soon as analysed (`retire`) keep what the links
    /// and cold starts read: the same async section as with every trace held.
    #[test]
    fn links_resolve_against_retired_producers() {
        let config = AnalysisConfig {
            keep_retired_paths: false,
            ..AnalysisConfig::default()
        };
        let (mut held, mut let_go) = (Engine::new(config), Engine::new(config));
        for t in [producer(1, 0x51), consumer(), producer(2, 0x52)] {
            held.add_trace(&t);
            let_go.add_trace(&t);
            let_go.retire(t.trace_id);
        }
        assert!(let_go.findings().is_empty());
        assert_eq!(let_go.rest().len(), 3);
        let json = |e: &Engine| {
            let f = Findings::build(e, FindingsOptions::default());
            serde_json::to_value((f.async_messaging, f.cold_starts)).expect("json")
        };
        let (a, b) = (json(&held), json(&let_go));
        assert_eq!(a[0]["resolved"], 2);
        assert_eq!(a, b);
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

    /// Ties on purpose (server ends repeat every 7 traces): the evidence is the first in
    /// report order among equals, whether the trace is held or was let go of.
    fn call_trace(id: u128) -> Trace {
        let mut b = TraceBuilder::with_trace_id(id);
        let root = if id.is_multiple_of(3) {
            "GET /b"
        } else {
            "GET /a"
        };
        let r = b.span("gw", root).kind(SpanKind::Server).at(0, 100).id();
        let c = b
            .span("gw", "call")
            .kind(SpanKind::Client)
            .at(10, 95)
            .parent(r)
            .id();
        let serve = b
            .span("svc", "serve")
            .kind(SpanKind::Server)
            .at(20, 30 + (id % 7) as u64 * 9)
            .parent(c);
        // An error every 10 traces: those stay listed when retired.
        if id.is_multiple_of(10) {
            serve.error().id();
        } else {
            serve.id();
        }
        b.build()
    }

    #[test]
    fn retired_traces_keep_their_evidence_and_endpoints() {
        let traces: Vec<Trace> = (1..=60).map(call_trace).collect();
        let config = AnalysisConfig {
            keep_retired_paths: false,
            ..AnalysisConfig::default()
        };
        let (mut held, mut let_go) = (Engine::new(config), Engine::new(config));
        for t in &traces {
            held.add_trace(t);
            let_go.add_trace(t);
        }
        // Retired and held traces both hold worst cases: every other one is let go of.
        for t in traces.iter().skip(1).step_by(2) {
            let_go.retire(t.trace_id);
        }
        // Every retired trace left: the six with an error too, their errors folded.
        let kept = let_go.findings();
        assert_eq!(kept.len(), 30);
        assert!(kept.iter().all(|f| f.trace_id.as_u128() % 2 == 1));
        let (a, mut b) = (
            Findings::build(&held, FindingsOptions::default()),
            Findings::build(&let_go, FindingsOptions::default()),
        );
        // The lists are shorter than the cap: only saying so differs.
        assert_eq!(b.input.lists_cut_to, Some(config.retired_list_cap));
        b.input.lists_cut_to = None;
        let json = |f: &Findings| serde_json::to_value(f).expect("json");
        assert_eq!(json(&a), json(&b));
        assert_eq!(a.errors.list.len(), 6, "{:?}", a.errors);
        // A late fragment of a trace that left is stale, as one whose findings are held.
        let_go.add_trace(&call_trace(2));
        assert_eq!(let_go.stale_completions, 1);
        let serve = a
            .hotspots
            .operations
            .iter()
            .find(|h| h.operation.as_str() == "serve");
        let worst = serve.and_then(|h| h.worst_trace).expect("evidence");
        // Trace 6 is the first of those with the longest server span (id % 7 == 6), and was
        // let go of; trace 13, held, ties with it.
        assert_eq!(worst, TraceId::from_u128(6).expect("id"));
        assert_eq!(a.hotspots.by_endpoint.len(), 2);
        assert_eq!(a.hotspots.by_endpoint[0].traces, 40);
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
        assert_eq!((worst.trace_id, worst.gap_ns), (two, 35_000_000));
        let serve = f
            .hotspots
            .operations
            .iter()
            .find(|h| h.operation.as_str() == "serve")
            .expect("row");
        assert_eq!(serve.worst_trace, Some(one), "the longer server span");
    }
}
