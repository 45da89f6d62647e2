//! The mergeable aggregates to and from `spantop.v1` messages. Decoding checks what it reads
//! (ids, sketch counts) and names what is wrong: a bad snapshot is refused whole, never half
//! merged.

use std::collections::BTreeMap;

use anyhow::{Context, bail};

use crate::analysis::aggregate::callgraph::{EdgeAgg, ServiceMap};
use crate::analysis::aggregate::hotspots::{
    BackgroundAgg, CpAgg, EndpointAgg, HotspotAgg, OpTimes, PathAgg,
};
use crate::analysis::aggregate::red::{Red, RedAgg};
use crate::analysis::aggregate::stats::{Buckets, Repr, Samples, Sketch};
use crate::analysis::engine::Aggregates;
use crate::analysis::findings::view::{TraceRow, ViewData};
use crate::analysis::findings::{Findings, PatternKind};
use crate::analysis::trace::background::BackgroundKind;
use crate::analysis::trace::cold_start::{ColdSamples, MAX_INSTANCE_IDS};
use crate::analysis::trace::edges::CallKind;
use crate::model::{SpanId, SpanRef, Sym, TraceId};

use super::pb;

/// What one instance publishes, as its `Snapshot` message.
pub fn snapshot(view: &ViewData) -> pb::Snapshot {
    let agg = &view.aggregates;
    let f: &Findings = &view.findings;
    let stats = &view.snapshot.stats;
    pb::Snapshot {
        generation: view.generation,
        counters: Some(pb::Counters {
            traces: agg.traces as u64,
            spans: agg.spans as u64,
            min_start_ns: agg.min_start_ns,
            max_end_ns: agg.max_end_ns,
            analysis_failures: view.analysis_failures as u64,
            analysis_skipped: view.analysis_skipped,
            traces_not_listed: f.input.traces_not_listed as u64,
            spans_held: stats.spans_held,
            traces_held: stats.traces_held,
            spans_received: stats.spans_received,
            orphan_spans: f.input.orphan_spans as u64,
            memory_bytes: stats.memory_bytes,
            max_memory_bytes: stats.max_memory_bytes,
            evicted_traces: stats.evicted_traces,
            open_traces: stats.open_traces,
        }),
        durations: Some(samples_to_pb(&agg.durations)),
        services: agg
            .red
            .services
            .iter()
            .map(|(s, a)| red_to_pb(*s, None, a))
            .collect(),
        operations: agg
            .red
            .operations
            .iter()
            .map(|((s, o), a)| red_to_pb(*s, Some(*o), a))
            .collect(),
        edges: agg
            .service_map
            .edges
            .iter()
            .map(|((caller, callee, kind), e)| edge_to_pb(*caller, *callee, *kind, e))
            .collect(),
        hotspots: Some(hotspots_to_pb(&agg.hotspots)),
        endpoints: agg
            .endpoints
            .iter()
            .map(|((s, o), e)| pb::EndpointHotspots {
                service: s.to_string(),
                operation: o.to_string(),
                traces: e.traces as u64,
                hotspots: Some(hotspots_to_pb(&e.hotspots)),
            })
            .collect(),
        cold_starts: Some(pb::ColdStarts {
            invocations: f.cold_starts.invocations as u64,
            unknown: f.cold_starts.unknown as u64,
            traces_with_cold_start: f.cold_starts.traces_with_cold_start as u64,
            by_function: f
                .cold_starts
                .by_function
                .iter()
                .map(|c| pb::FunctionColdStarts {
                    function: c.function.to_string(),
                    trigger: c.trigger.map(|t| t.to_string()).unwrap_or_default(),
                    invocations: c.invocations as u64,
                    cold: c.cold as u64,
                    warm: c.warm as u64,
                    unknown: c.unknown as u64,
                    on_critical_path: c.on_critical_path as u64,
                    inconsistent_telemetry: c.inconsistent_telemetry as u64,
                    memory_mb: c.memory_mb,
                    worst: c.worst.map(span_ref_to_pb),
                    init: Some(samples_to_pb(&c.samples.init)),
                    cold_duration: Some(samples_to_pb(&c.samples.cold_dur)),
                    warm_duration: Some(samples_to_pb(&c.samples.warm_dur)),
                    cold_client: Some(samples_to_pb(&c.samples.cold_client)),
                    warm_client: Some(samples_to_pb(&c.samples.warm_client)),
                    instances: c.instances as u64,
                    instance_ids: c.samples.instance_ids.clone(),
                })
                .collect(),
        }),
        fan_outs: Some(pb::FanOuts {
            n_plus_one: Some(count_to_pb(&f.n_plus_one)),
            mn_plus_one: Some(count_to_pb(&f.mn_plus_one)),
            parallel: Some(count_to_pb(&f.parallel_fanouts)),
            patterns: f
                .patterns
                .iter()
                .map(|p| pb::Pattern {
                    kind: pattern_kind_to_pb(p.kind) as i32,
                    service: p.service.to_string(),
                    parent: p.parent.to_string(),
                    target: p.target.clone(),
                    signature: p.signature.clone(),
                    occurrences: p.occurrences as u64,
                    traces: p.traces as u64,
                    min_degree: p.min_degree,
                    max_degree: p.max_degree,
                    degree_sum: p.mean_degree * p.occurrences as f64,
                    max_concurrency: p.max_concurrency as u64,
                    time_held_ns: p.time_held_ns,
                    batching_saves_ns: p.batching_saves_ns,
                    cp_ns: p.cp_ns,
                    cut_by_error: p.cut_by_error as u64,
                    worst: Some(span_ref_to_pb(p.worst)),
                    worst_weight_ns: worst_weight(p),
                })
                .collect(),
        }),
        errors: Some(pb::ErrorCounts {
            traces_with_errors: f.errors.traces_with_errors as u64,
            reaching_root: f.errors.reaching_root as u64,
            absorbed: f.errors.absorbed as u64,
        }),
        traces: listed_traces(&view.traces)
            .into_iter()
            .map(trace_row_to_pb)
            .collect(),
    }
}

/// Traces each instance lists for the attached Traces tab, of each kind (most recent,
/// slowest): enough to pick from, small beside the aggregates.
pub const LISTED_TRACES: usize = 100;

/// The `LISTED_TRACES` most recent and slowest of `rows`, each once, most recent first.
/// Selected, not sorted whole: an instance holds tens of thousands of traces per snapshot.
fn listed_traces(rows: &[TraceRow]) -> Vec<&TraceRow> {
    let top = |cmp: fn(&&TraceRow, &&TraceRow) -> std::cmp::Ordering| {
        let mut v: Vec<&TraceRow> = rows.iter().collect();
        if v.len() > LISTED_TRACES {
            v.select_nth_unstable_by(LISTED_TRACES - 1, cmp);
            v.truncate(LISTED_TRACES);
        }
        v.sort_by(cmp);
        v
    };
    let recent = top(|a, b| b.end_ns.cmp(&a.end_ns).then(a.trace_id.cmp(&b.trace_id)));
    let slowest = top(|a, b| {
        b.duration_ns()
            .cmp(&a.duration_ns())
            .then(a.trace_id.cmp(&b.trace_id))
    });
    let mut out = recent;
    for r in slowest {
        if !out.iter().any(|o| o.trace_id == r.trace_id) {
            out.push(r);
        }
    }
    out
}

fn trace_row_to_pb(r: &TraceRow) -> pb::TraceSummary {
    pb::TraceSummary {
        trace_id: r.trace_id.to_bytes().to_vec(),
        root_service: r.root_service.to_string(),
        root_name: r.root_name.to_string(),
        start_ns: r.start_ns,
        end_ns: r.end_ns,
        spans: r.spans as u64,
        services: r.services as u64,
        errors: r.errors as u64,
        cold_starts: r.cold_starts as u64,
        n_plus_one: r.nplus1,
        fan_out: r.fanout,
        orphans: r.orphans as u64,
        links: r.links as u64,
    }
}

pub fn trace_row_from_pb(t: &pb::TraceSummary) -> anyhow::Result<TraceRow> {
    Ok(TraceRow {
        trace_id: TraceId::from_bytes(&t.trace_id).context("listed trace: bad trace id")?,
        root_service: Sym::new(&t.root_service),
        root_name: Sym::new(&t.root_name),
        start_ns: t.start_ns,
        end_ns: t.end_ns,
        spans: usize_of(t.spans),
        services: usize_of(t.services),
        errors: usize_of(t.errors),
        cold_starts: usize_of(t.cold_starts),
        nplus1: t.n_plus_one,
        fanout: t.fan_out,
        orphans: usize_of(t.orphans),
        links: usize_of(t.links),
    })
}

/// How bad a pattern's worst occurrence is, to pick the worst across instances: the patterns
/// carry sums only, so the instance's own pick stands for it, weighed by its sum.
fn worst_weight(p: &crate::analysis::findings::Pattern) -> u64 {
    match p.kind {
        PatternKind::NPlusOne | PatternKind::MnPlusOne => p.time_held_ns,
        PatternKind::Parallel | PatternKind::Chain => p.cp_ns,
    }
}

fn count_to_pb(l: &crate::analysis::findings::FanOutList) -> pb::FanOutCount {
    pb::FanOutCount {
        count: l.count as u64,
        traces: l.traces as u64,
    }
}

pub fn pattern_kind_to_pb(k: PatternKind) -> pb::PatternKind {
    match k {
        PatternKind::NPlusOne => pb::PatternKind::NPlusOne,
        PatternKind::MnPlusOne => pb::PatternKind::MnPlusOne,
        PatternKind::Parallel => pb::PatternKind::Parallel,
        PatternKind::Chain => pb::PatternKind::Chain,
    }
}

pub fn pattern_kind_from_pb(k: i32) -> anyhow::Result<PatternKind> {
    Ok(match pb::PatternKind::try_from(k) {
        Ok(pb::PatternKind::NPlusOne) => PatternKind::NPlusOne,
        Ok(pb::PatternKind::MnPlusOne) => PatternKind::MnPlusOne,
        Ok(pb::PatternKind::Parallel) => PatternKind::Parallel,
        Ok(pb::PatternKind::Chain) => PatternKind::Chain,
        _ => bail!("unknown pattern kind {k}"),
    })
}

pub fn span_ref_to_pb(r: SpanRef) -> pb::SpanRef {
    pb::SpanRef {
        trace_id: r.trace_id.to_bytes().to_vec(),
        span_id: r.span_id.to_bytes().to_vec(),
    }
}

pub fn span_ref_from_pb(r: &pb::SpanRef) -> anyhow::Result<SpanRef> {
    Ok(SpanRef::new(
        TraceId::from_bytes(&r.trace_id).context("bad trace id")?,
        SpanId::from_bytes(&r.span_id).context("bad span id")?,
    ))
}

fn red_to_pb(service: Sym, operation: Option<Sym>, a: &RedAgg) -> pb::RedRow {
    pb::RedRow {
        service: service.to_string(),
        operation: operation.map(|o| o.to_string()).unwrap_or_default(),
        count: a.count as u64,
        errors: a.errors as u64,
        duration: Some(samples_to_pb(&a.dur)),
    }
}

fn call_kind_to_pb(k: CallKind) -> pb::CallKind {
    match k {
        CallKind::Rpc => pb::CallKind::Rpc,
        CallKind::Messaging => pb::CallKind::Messaging,
        CallKind::Database => pb::CallKind::Database,
        CallKind::External => pb::CallKind::External,
    }
}

fn call_kind_from_pb(k: i32) -> anyhow::Result<CallKind> {
    Ok(match pb::CallKind::try_from(k) {
        Ok(pb::CallKind::Rpc) => CallKind::Rpc,
        Ok(pb::CallKind::Messaging) => CallKind::Messaging,
        Ok(pb::CallKind::Database) => CallKind::Database,
        Ok(pb::CallKind::External) => CallKind::External,
        _ => bail!("unknown call kind {k}"),
    })
}

fn edge_to_pb(caller: Sym, callee: Sym, kind: CallKind, e: &EdgeAgg) -> pb::Edge {
    pb::Edge {
        caller: caller.to_string(),
        callee: callee.to_string(),
        kind: call_kind_to_pb(kind) as i32,
        calls: e.calls as u64,
        errors: e.errors as u64,
        operations: e
            .operations
            .iter()
            .map(|(op, n)| pb::OperationCount {
                operation: op.to_string(),
                count: *n as u64,
            })
            .collect(),
        client: Some(samples_to_pb(&e.client)),
        server: Some(samples_to_pb(&e.server)),
        gap: Some(samples_to_pb(&e.gap)),
        negative_gaps: e.negative_gaps as u64,
        clock_skew_suspected: e.clock_skew_suspected as u64,
        cp_ns: e.cp_ns,
    }
}

fn hotspots_to_pb(h: &HotspotAgg) -> pb::Hotspots {
    pb::Hotspots {
        root_ns: h.root_ns,
        operations: h
            .ops
            .iter()
            .map(|((s, o), a)| pb::OperationCp {
                service: s.to_string(),
                operation: o.to_string(),
                total_ns: a.total,
                per_trace: Some(samples_to_pb(&a.per_trace)),
            })
            .collect(),
        times: h
            .times
            .iter()
            .map(|((s, o), t)| pb::OperationTimes {
                service: s.to_string(),
                operation: o.to_string(),
                count: t.count,
                total_ns: t.total_ns,
                self_ns: t.self_ns,
            })
            .collect(),
        call_paths: h
            .paths
            .iter()
            .map(|(p, a)| pb::CallPathCp {
                call_path: p.to_string(),
                total_ns: a.total,
                traces: a.traces as u64,
            })
            .collect(),
        background: h
            .background
            .iter()
            .map(|(((s, o), kind), a)| pb::BackgroundWork {
                service: s.to_string(),
                operation: o.to_string(),
                kind: background_kind_to_pb(*kind) as i32,
                spans: a.spans,
                total_ns: a.total_ns,
                longest_ns: a.longest_ns,
            })
            .collect(),
    }
}

fn background_kind_to_pb(k: BackgroundKind) -> pb::BackgroundKind {
    match k {
        BackgroundKind::Stream => pb::BackgroundKind::Stream,
        BackgroundKind::OutlivesRoot => pb::BackgroundKind::OutlivesRoot,
        BackgroundKind::ConsumerLoop => pb::BackgroundKind::ConsumerLoop,
    }
}

fn background_kind_from_pb(k: i32) -> anyhow::Result<BackgroundKind> {
    Ok(match pb::BackgroundKind::try_from(k) {
        Ok(pb::BackgroundKind::Stream) => BackgroundKind::Stream,
        Ok(pb::BackgroundKind::OutlivesRoot) => BackgroundKind::OutlivesRoot,
        Ok(pb::BackgroundKind::ConsumerLoop) => BackgroundKind::ConsumerLoop,
        _ => bail!("unknown background kind {k}"),
    })
}

/// A cold-start row's distributions and instance ids from the wire.
pub fn cold_samples_from_pb(c: &pb::FunctionColdStarts) -> anyhow::Result<ColdSamples> {
    let get = |s: Option<&pb::Samples>, what: &str| {
        samples_from_pb(s).with_context(|| format!("cold starts of {}: {what}", c.function))
    };
    let parts = ColdSamples {
        init: get(c.init.as_ref(), "init")?,
        cold_dur: get(c.cold_duration.as_ref(), "cold duration")?,
        warm_dur: get(c.warm_duration.as_ref(), "warm duration")?,
        cold_client: get(c.cold_client.as_ref(), "cold client")?,
        warm_client: get(c.warm_client.as_ref(), "warm client")?,
        instance_ids: {
            let mut ids = c.instance_ids.clone();
            ids.sort_unstable();
            ids.dedup();
            ids.truncate(MAX_INSTANCE_IDS);
            ids
        },
    };
    // Old instances send no distributions; a count that disagrees is a corrupt snapshot.
    let has = |s: &Option<pb::Samples>| s.is_some();
    if has(&c.init) && parts.init.len() as u64 != c.cold {
        bail!(
            "cold starts of {}: {} cold but {} init times",
            c.function,
            c.cold,
            parts.init.len()
        );
    }
    if has(&c.cold_duration) && parts.cold_dur.len() as u64 != c.cold
        || has(&c.warm_duration) && parts.warm_dur.len() as u64 != c.warm
    {
        bail!(
            "cold starts of {}: durations do not match the cold/warm counts",
            c.function
        );
    }
    Ok(parts)
}

pub fn samples_to_pb(s: &Samples) -> pb::Samples {
    let (exact, sketch) = match &s.repr {
        Repr::Exact(v) => (v.clone(), None),
        Repr::Sketch(k) => (
            Vec::new(),
            Some(pb::Sketch {
                count: k.count,
                zeros: k.zeros,
                positive: Some(buckets_to_pb(&k.positive)),
                negative: Some(buckets_to_pb(&k.negative)),
            }),
        ),
    };
    pb::Samples {
        sum_high: (s.sum >> 64) as i64,
        sum_low: s.sum as u64,
        exact,
        sketch,
    }
}

fn buckets_to_pb(b: &Buckets) -> pb::Buckets {
    pb::Buckets {
        offset: b.offset,
        counts: b.counts.clone(),
    }
}

/// A `Samples` from the wire. The sum must be the values' (exact mode) and the sketch's count
/// its buckets': anything else is a corrupt snapshot.
pub fn samples_from_pb(p: Option<&pb::Samples>) -> anyhow::Result<Samples> {
    let Some(p) = p else {
        return Ok(Samples::default());
    };
    let sum = (i128::from(p.sum_high) << 64) | i128::from(p.sum_low);
    match &p.sketch {
        None => {
            let mut s = Samples::default();
            for &v in &p.exact {
                s.push(v);
            }
            if s.sum != sum {
                bail!("a distribution's sum does not match its values");
            }
            Ok(s)
        }
        Some(k) => {
            if !p.exact.is_empty() {
                bail!("a distribution is both exact and a sketch");
            }
            let positive = buckets_from_pb(k.positive.as_ref())?;
            let negative = buckets_from_pb(k.negative.as_ref())?;
            let held = positive
                .counts
                .iter()
                .chain(&negative.counts)
                .try_fold(k.zeros, |a, &c| a.checked_add(c));
            if held != Some(k.count) {
                bail!("a sketch's count does not match its buckets");
            }
            Ok(Samples {
                repr: Repr::Sketch(Box::new(Sketch {
                    count: k.count,
                    zeros: k.zeros,
                    positive,
                    negative,
                })),
                sum,
            })
        }
    }
}

/// Buckets trimmed of empty ends, as the sketch keeps them (so equal contents compare equal).
fn buckets_from_pb(b: Option<&pb::Buckets>) -> anyhow::Result<Buckets> {
    let Some(b) = b else {
        return Ok(Buckets::default());
    };
    let mut counts = b.counts.clone();
    while counts.last() == Some(&0) {
        counts.pop();
    }
    let lead = counts.iter().take_while(|&&c| c == 0).count();
    counts.drain(..lead);
    let offset = if counts.is_empty() {
        0
    } else {
        b.offset
            .checked_add(i32::try_from(lead).context("sketch too wide")?)
            .context("sketch bucket out of range")?
    };
    if i32::try_from(counts.len()).is_err() || offset.checked_add(counts.len() as i32).is_none() {
        bail!("sketch bucket out of range");
    }
    Ok(Buckets { offset, counts })
}

fn usize_of(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The aggregates of a `Snapshot`.
pub fn aggregates_from_pb(s: &pb::Snapshot) -> anyhow::Result<Aggregates> {
    let c = s.counters.unwrap_or_default();
    let mut red = Red::default();
    for r in &s.services {
        let a = red_from_pb(r).with_context(|| format!("service {}", r.service))?;
        red.services.insert(Sym::new(&r.service), a);
    }
    for r in &s.operations {
        let a = red_from_pb(r).with_context(|| format!("operation {}", r.operation))?;
        red.operations
            .insert((Sym::new(&r.service), Sym::new(&r.operation)), a);
    }
    let mut service_map = ServiceMap::default();
    for e in &s.edges {
        let key = (
            Sym::new(&e.caller),
            Sym::new(&e.callee),
            call_kind_from_pb(e.kind)?,
        );
        let ctx = || format!("edge {} -> {}", e.caller, e.callee);
        let agg = EdgeAgg {
            calls: usize_of(e.calls),
            errors: usize_of(e.errors),
            operations: e
                .operations
                .iter()
                .map(|o| (Sym::new(&o.operation), usize_of(o.count)))
                .collect::<BTreeMap<_, _>>(),
            client: samples_from_pb(e.client.as_ref()).with_context(ctx)?,
            server: samples_from_pb(e.server.as_ref()).with_context(ctx)?,
            gap: samples_from_pb(e.gap.as_ref()).with_context(ctx)?,
            negative_gaps: usize_of(e.negative_gaps),
            clock_skew_suspected: usize_of(e.clock_skew_suspected),
            cp_ns: e.cp_ns,
        };
        service_map.edges.insert(key, agg);
    }
    let hotspots = match &s.hotspots {
        Some(h) => hotspots_from_pb(h)?,
        None => HotspotAgg::default(),
    };
    let mut endpoints = BTreeMap::new();
    for e in &s.endpoints {
        let ctx = || format!("endpoint {}:{}", e.service, e.operation);
        let hotspots = match &e.hotspots {
            Some(h) => hotspots_from_pb(h).with_context(ctx)?,
            None => HotspotAgg::default(),
        };
        let key = (Sym::new(&e.service), Sym::new(&e.operation));
        let agg = EndpointAgg {
            traces: usize_of(e.traces),
            hotspots,
        };
        if endpoints.insert(key, agg).is_some() {
            bail!("{} twice", ctx());
        }
    }
    Ok(Aggregates {
        traces: usize_of(c.traces),
        spans: usize_of(c.spans),
        min_start_ns: c.min_start_ns,
        max_end_ns: c.max_end_ns,
        hotspots,
        endpoints,
        red,
        service_map,
        durations: samples_from_pb(s.durations.as_ref()).context("trace durations")?,
    })
}

fn hotspots_from_pb(h: &pb::Hotspots) -> anyhow::Result<HotspotAgg> {
    let mut hotspots = HotspotAgg {
        root_ns: h.root_ns,
        ..HotspotAgg::default()
    };
    for o in &h.operations {
        let per_trace = samples_from_pb(o.per_trace.as_ref())
            .with_context(|| format!("hotspot {}:{}", o.service, o.operation))?;
        hotspots.ops.insert(
            (Sym::new(&o.service), Sym::new(&o.operation)),
            CpAgg {
                total: o.total_ns,
                per_trace,
            },
        );
    }
    for t in &h.times {
        hotspots.times.insert(
            (Sym::new(&t.service), Sym::new(&t.operation)),
            OpTimes {
                count: t.count,
                total_ns: t.total_ns,
                self_ns: t.self_ns,
            },
        );
    }
    for b in &h.background {
        let kind = background_kind_from_pb(b.kind)?;
        hotspots.background.insert(
            ((Sym::new(&b.service), Sym::new(&b.operation)), kind),
            BackgroundAgg {
                spans: b.spans,
                total_ns: b.total_ns,
                longest_ns: b.longest_ns,
            },
        );
    }
    for p in &h.call_paths {
        hotspots.paths.insert(
            Sym::new(&p.call_path),
            PathAgg {
                total: p.total_ns,
                traces: usize_of(p.traces),
            },
        );
    }
    Ok(hotspots)
}

fn red_from_pb(r: &pb::RedRow) -> anyhow::Result<RedAgg> {
    let dur = samples_from_pb(r.duration.as_ref())?;
    if dur.len() as u64 != r.count {
        bail!("{} requests but {} durations", r.count, dur.len());
    }
    Ok(RedAgg {
        count: usize_of(r.count),
        errors: usize_of(r.errors),
        dur,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most recent and the slowest `LISTED_TRACES`, each once, most recent first.
    #[test]
    fn listed_traces_are_the_most_recent_and_the_slowest() {
        let rows: Vec<TraceRow> = (0..1000u64)
            .map(|i| TraceRow {
                trace_id: TraceId::from_bytes(&u128::from(i + 1).to_be_bytes()).expect("id"),
                root_service: Sym::new("s"),
                root_name: Sym::new("op"),
                // Late traces are short, early ones long (and trace 500 the longest).
                start_ns: if i == 500 { 0 } else { 1_000_000 + i * 4 },
                end_ns: 1_000_000 + i * 3 + 10_000,
                spans: 1,
                services: 1,
                errors: 0,
                cold_starts: 0,
                nplus1: false,
                fanout: false,
                orphans: 0,
                links: 0,
            })
            .collect();
        let listed = listed_traces(&rows);
        let ends: Vec<u64> = listed.iter().map(|r| r.end_ns).collect();
        let recent: Vec<u64> = (900..1000)
            .rev()
            .map(|i| 1_000_000 + i * 3 + 10_000)
            .collect();
        assert_eq!(ends[..LISTED_TRACES], recent[..]);
        assert_eq!(listed.len(), 2 * LISTED_TRACES);
        // Then the slowest, slowest first: trace 500, then the earliest (10 µs less 1 ns each).
        assert_eq!(listed[LISTED_TRACES].start_ns, 0);
        assert_eq!(listed[LISTED_TRACES + 1].duration_ns(), 10_000);
        let mut ids: Vec<TraceId> = listed.iter().map(|r| r.trace_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), listed.len());
        assert_eq!(listed_traces(&rows[..10]).len(), 10);
    }
}
