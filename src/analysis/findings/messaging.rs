//! Asynchronous messaging across traces: span links from consumers resolved to producers, and
//! publish-to-process times per producer -> consumer edge.

use super::*;

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
    #[serde(
        rename = "publish_to_process_ms",
        serialize_with = "crate::analysis::aggregate::stats::opt_ns_as_ms"
    )]
    pub publish_to_process_ns: Option<i64>,
    /// End of the consumer's trace minus start of the producer's trace (§3.3), when both are in.
    #[serde(
        rename = "end_to_end_async_ms",
        serialize_with = "crate::analysis::aggregate::stats::opt_ns_as_ms"
    )]
    pub end_to_end_async_ns: Option<i64>,
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

pub(super) fn async_messaging(all: &[AsyncPart<'_>], each: usize) -> AsyncMessaging {
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
        for l in f.links {
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
                publish_to_process_ns: p.map(|p| signed_diff(l.consumer_start_ns, p.end_ns)),
                end_to_end_async_ns: trace_start.get(&l.trace_id).map(|&producer_start| {
                    signed_diff(f.start_ns.saturating_add(f.duration_ns), producer_start)
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
        if let Some(ns) = l.publish_to_process_ns {
            e.1.push(ns);
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
                publish_to_process: s.summary(),
            })
            .collect(),
        list: truncate(list, each),
    }
}

/// `a - b` in signed nanoseconds (saturating): across hosts the difference can be negative.
fn signed_diff(a: u64, b: u64) -> i64 {
    (i128::from(a) - i128::from(b)).clamp(i64::MIN.into(), i64::MAX.into()) as i64
}
