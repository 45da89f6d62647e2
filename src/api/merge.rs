//! One `Findings` from several instances' snapshots: the aggregates merge exactly for counts
//! and sums (`Aggregates::merge`; percentiles from merged sketches within 1 %), and the
//! sections that come from per-trace findings (cold starts per function, fan-out patterns,
//! error counts) add up row by row. Traces are routed whole to one instance, so per-trace
//! counts (traces with a cold start, with an N+1) add up exactly too. Lists of single
//! occurrences stay on the instances (each row's evidence says where).

use std::collections::BTreeMap;

use anyhow::Context;
use rustc_hash::FxHashMap;

use crate::analysis::aggregate::evidence::RetiredEvidence;
use crate::analysis::aggregate::folded::FoldedLists;
use crate::analysis::aggregate::lists::ListIndex;
use crate::analysis::aggregate::stats::{Samples, Summary};
use crate::analysis::engine::Aggregates;
use crate::analysis::findings::view::TraceRow;
use crate::analysis::findings::{
    FanOutList, Findings, FindingsOptions, FindingsSource, Lists, Pattern, PatternKind,
};
use crate::analysis::trace::cold_start::{
    ColdSamples, ColdStartConfig, FunctionColdStarts, penalty,
};
use crate::model::{SpanRef, Sym};

use super::convert::{
    aggregates_from_pb, cold_samples_from_pb, pattern_kind_from_pb, span_ref_from_pb,
    trace_row_from_pb,
};
use super::pb;

/// One instance's snapshot, decoded and checked.
#[derive(Debug, Clone)]
pub struct InstanceSnapshot {
    pub generation: u64,
    pub aggregates: Aggregates,
    pub counters: pb::Counters,
    cold_starts: pb::ColdStarts,
    /// Each `cold_starts.by_function` row's distributions, decoded.
    cold_samples: Vec<ColdSamples>,
    fan_outs: pb::FanOuts,
    errors: pb::ErrorCounts,
    /// The traces it lists (`convert::LISTED_TRACES` of each kind), decoded.
    pub traces: Vec<TraceRow>,
}

impl InstanceSnapshot {
    pub fn decode(s: pb::Snapshot) -> anyhow::Result<InstanceSnapshot> {
        let aggregates = aggregates_from_pb(&s)?;
        let fan_outs = s.fan_outs.unwrap_or_default();
        for p in &fan_outs.patterns {
            pattern_kind_from_pb(p.kind)?;
            if let Some(w) = &p.worst {
                span_ref_from_pb(w).context("pattern evidence")?;
            }
        }
        let cold_starts = s.cold_starts.unwrap_or_default();
        let mut cold_samples = Vec::with_capacity(cold_starts.by_function.len());
        for c in &cold_starts.by_function {
            if let Some(w) = &c.worst {
                span_ref_from_pb(w).context("cold-start evidence")?;
            }
            cold_samples.push(cold_samples_from_pb(c)?);
        }
        let traces = s
            .traces
            .iter()
            .map(trace_row_from_pb)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(InstanceSnapshot {
            generation: s.generation,
            aggregates,
            counters: s.counters.unwrap_or_default(),
            cold_starts,
            cold_samples,
            fan_outs,
            errors: s.errors.unwrap_or_default(),
            traces,
        })
    }
}

fn usize_of(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The merged view of `parts`.
pub fn merged_findings(parts: &[&InstanceSnapshot]) -> Findings {
    let mut agg = Aggregates::default();
    for p in parts {
        agg.merge(&p.aggregates);
    }
    let sum = |f: fn(&pb::Counters) -> u64| parts.iter().map(|p| f(&p.counters)).sum::<u64>();
    let source = FindingsSource {
        aggregates: &agg,
        retired: &RetiredEvidence::default(),
        cold_start: ColdStartConfig::default(),
        traces_not_listed: usize_of(sum(|c| c.traces_not_listed)),
        analysis_failures: usize_of(sum(|c| c.analysis_failures)),
        // The per-trace sections come from the instances' own lists below.
        lists: Lists {
            index: &ListIndex::default(),
            held: &FxHashMap::default(),
            folded: &FoldedLists::default(),
        },
        rest: &[],
    };
    let mut f = Findings::build_from(&source, &[], FindingsOptions::default());
    f.input.orphan_spans = usize_of(sum(|c| c.orphan_spans));
    merge_cold_starts(&mut f, parts);
    merge_fan_outs(&mut f, parts);
    f.errors.traces_with_errors = parts
        .iter()
        .map(|p| usize_of(p.errors.traces_with_errors))
        .sum();
    f.errors.reaching_root = parts.iter().map(|p| usize_of(p.errors.reaching_root)).sum();
    f.errors.absorbed = parts.iter().map(|p| usize_of(p.errors.absorbed)).sum();
    f
}

fn ratio(a: usize, b: usize) -> f64 {
    if b > 0 { a as f64 / b as f64 } else { 0.0 }
}

fn merge_cold_starts(f: &mut Findings, parts: &[&InstanceSnapshot]) {
    let mut rows: BTreeMap<(Sym, Option<Sym>), FunctionColdStarts> = BTreeMap::new();
    for p in parts {
        for (c, samples) in p.cold_starts.by_function.iter().zip(&p.cold_samples) {
            let function = Sym::new(&c.function);
            let trigger = (!c.trigger.is_empty()).then(|| Sym::new(&c.trigger));
            let row = rows
                .entry((function, trigger))
                .or_insert_with(|| FunctionColdStarts {
                    function,
                    trigger,
                    invocations: 0,
                    cold: 0,
                    warm: 0,
                    unknown: 0,
                    cold_rate: 0.0,
                    init: Summary::default(),
                    server_penalty: penalty(&Samples::default(), &Samples::default()),
                    caller_penalty: penalty(&Samples::default(), &Samples::default()),
                    on_critical_path: 0,
                    inconsistent_telemetry: 0,
                    instances: 0,
                    memory_mb: None,
                    worst: None,
                    samples: ColdSamples::default(),
                });
            row.invocations += usize_of(c.invocations);
            row.cold += usize_of(c.cold);
            row.warm += usize_of(c.warm);
            row.unknown += usize_of(c.unknown);
            row.on_critical_path += usize_of(c.on_critical_path);
            row.inconsistent_telemetry += usize_of(c.inconsistent_telemetry);
            // A function instance serves traces routed to several spantop instances: its ids
            // are united, not counted twice (the largest count stands when a list was cut).
            row.instances = row.instances.max(usize_of(c.instances));
            row.memory_mb = row.memory_mb.or(c.memory_mb);
            row.samples.merge(samples);
            if row.worst.is_none() {
                row.worst = c.worst.as_ref().and_then(|w| span_ref_from_pb(w).ok());
            }
        }
    }
    let mut by_function: Vec<FunctionColdStarts> = rows.into_values().collect();
    for r in &mut by_function {
        r.cold_rate = ratio(r.cold, r.cold + r.warm);
        r.instances = r.instances.max(r.samples.instance_ids.len());
        let samples = std::mem::take(&mut r.samples);
        samples.summarise(r);
        r.samples = samples;
    }
    by_function.sort_by(|a, b| b.cold.cmp(&a.cold).then(a.function.cmp(&b.function)));
    let cs = &mut f.cold_starts;
    cs.count = by_function.iter().map(|r| r.cold).sum();
    let classified: usize = by_function.iter().map(|r| r.cold + r.warm).sum();
    cs.rate = ratio(cs.count, classified);
    cs.invocations = parts
        .iter()
        .map(|p| usize_of(p.cold_starts.invocations))
        .sum();
    cs.unknown = parts.iter().map(|p| usize_of(p.cold_starts.unknown)).sum();
    cs.traces_with_cold_start = parts
        .iter()
        .map(|p| usize_of(p.cold_starts.traces_with_cold_start))
        .sum();
    // A service's cold-start columns over all its triggers, as `Findings::build` has them.
    let mut per_fn: FxHashMap<Sym, (usize, usize, usize)> = FxHashMap::default();
    for r in &by_function {
        let e = per_fn.entry(r.function).or_default();
        e.0 += r.invocations;
        e.1 += r.cold;
        e.2 += r.cold + r.warm;
    }
    for s in &mut f.services {
        if let Some(&(inv, cold, classified)) = per_fn.get(&s.red.service) {
            s.invocations = inv;
            s.cold_starts = cold;
            s.cold_start_rate = Some(ratio(cold, classified));
        }
    }
    cs.by_function = by_function;
}

type PatternKey = (PatternKind, Sym, Sym, String, Option<String>);

fn merge_fan_outs(f: &mut Findings, parts: &[&InstanceSnapshot]) {
    let count = |get: fn(&pb::FanOuts) -> Option<&pb::FanOutCount>| FanOutList {
        count: parts
            .iter()
            .filter_map(|p| get(&p.fan_outs))
            .map(|c| usize_of(c.count))
            .sum(),
        traces: parts
            .iter()
            .filter_map(|p| get(&p.fan_outs))
            .map(|c| usize_of(c.traces))
            .sum(),
        list: Vec::new(),
    };
    f.n_plus_one = count(|x| x.n_plus_one.as_ref());
    f.mn_plus_one = count(|x| x.mn_plus_one.as_ref());
    f.parallel_fanouts = count(|x| x.parallel.as_ref());
    let mut rows: BTreeMap<PatternKey, (Pattern, f64, Option<u64>)> = BTreeMap::new();
    for p in parts {
        for x in &p.fan_outs.patterns {
            let (Ok(kind), Some(Ok(worst))) = (
                pattern_kind_from_pb(x.kind),
                x.worst.as_ref().map(span_ref_from_pb),
            ) else {
                continue;
            };
            let key = (
                kind,
                Sym::new(&x.service),
                Sym::new(&x.parent),
                bare_target(&x.target, x.signature.as_deref()).to_owned(),
                x.signature.clone(),
            );
            let (row, degree_sum, worst_weight) = rows
                .entry(key)
                .or_insert_with(|| (empty_pattern(kind, x, worst), 0.0, None));
            row.occurrences += usize_of(x.occurrences);
            row.traces += usize_of(x.traces);
            row.min_degree = row.min_degree.min(x.min_degree);
            row.max_degree = row.max_degree.max(x.max_degree);
            row.max_concurrency = row.max_concurrency.max(usize_of(x.max_concurrency));
            row.time_held_ns = row.time_held_ns.saturating_add(x.time_held_ns);
            row.batching_saves_ns = row.batching_saves_ns.saturating_add(x.batching_saves_ns);
            row.cp_ns = row.cp_ns.saturating_add(x.cp_ns);
            row.cut_by_error += usize_of(x.cut_by_error);
            *degree_sum += x.degree_sum;
            if worst_weight.is_none_or(|w| x.worst_weight_ns > w) {
                *worst_weight = Some(x.worst_weight_ns);
                row.worst = worst;
            }
        }
    }
    // Names that read the same for several signatures are told apart by them, as
    // `Findings::build` does: an instance that saw one of them wrote the name bare.
    let mut same_name: FxHashMap<(PatternKind, Sym, Sym, &str), usize> = FxHashMap::default();
    for (kind, service, parent, target, _) in rows.keys() {
        *same_name
            .entry((*kind, *service, *parent, target.as_str()))
            .or_default() += 1;
    }
    let shared: Vec<bool> = rows
        .keys()
        .map(|(kind, service, parent, target, _)| {
            same_name[&(*kind, *service, *parent, target.as_str())] > 1
        })
        .collect();
    let mut patterns: Vec<Pattern> = rows
        .into_iter()
        .zip(shared)
        .map(
            |(((.., target, signature), (mut p, degree_sum, _)), shared)| {
                p.mean_degree = degree_sum / p.occurrences.max(1) as f64;
                p.target = match &signature {
                    Some(sig) if shared => format!("{target} [{sig}]"),
                    _ => target,
                };
                p
            },
        )
        .collect();
    // The order `Findings::build` gives them.
    let weight = |p: &Pattern| match p.kind {
        PatternKind::NPlusOne | PatternKind::MnPlusOne => p.time_held_ns,
        PatternKind::Parallel | PatternKind::Chain => p.cp_ns,
    };
    patterns.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(weight(b).cmp(&weight(a)))
            .then((a.service, a.parent).cmp(&(b.service, b.parent)))
            .then(a.target.cmp(&b.target))
    });
    f.patterns = patterns;
}

/// A pattern's target without the ` [signature]` an instance added to tell it from another
/// signature of the same name.
pub fn bare_target<'a>(target: &'a str, signature: Option<&str>) -> &'a str {
    signature
        .and_then(|sig| {
            target
                .strip_suffix(']')
                .and_then(|t| t.strip_suffix(sig))
                .and_then(|t| t.strip_suffix(" ["))
        })
        .unwrap_or(target)
}

fn empty_pattern(kind: PatternKind, x: &pb::Pattern, worst: SpanRef) -> Pattern {
    Pattern {
        kind,
        service: Sym::new(&x.service),
        parent: Sym::new(&x.parent),
        target: x.target.clone(),
        signature: x.signature.clone(),
        occurrences: 0,
        traces: 0,
        min_degree: f64::INFINITY,
        max_degree: 0.0,
        mean_degree: 0.0,
        max_concurrency: 0,
        shape: None,
        time_held_ns: 0,
        batching_saves_ns: 0,
        cp_ns: 0,
        cut_by_error: 0,
        worst_chain: Vec::new(),
        tail_risk: None,
        worst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::engine::Engine;
    use crate::analysis::findings::view::ViewData;
    use crate::analysis::trace::fixture::gateway_call;
    use crate::api::convert::{snapshot, span_ref_to_pb};
    use crate::model::TraceId;
    use crate::store::StoreSnapshot;

    /// Three engines' snapshots, through the wire types and back, merge to the figures of one
    /// engine fed every trace: counts and totals exactly, percentiles within the sketch bound.
    #[test]
    fn merged_snapshots_equal_one_engine_fed_everything() {
        let mut one = Engine::default();
        let mut shards = [Engine::default(), Engine::default(), Engine::default()];
        for id in 1..=3000u128 {
            let t = gateway_call(id);
            one.add_trace(&t);
            shards[(id % 3) as usize].add_trace(&t);
        }
        let parts: Vec<InstanceSnapshot> = shards
            .iter()
            .map(|e| {
                let view = ViewData::build(StoreSnapshot::default(), e);
                InstanceSnapshot::decode(snapshot(&view)).expect("own snapshot decodes")
            })
            .collect();
        let merged = merged_findings(&parts.iter().collect::<Vec<_>>());
        let whole = Findings::build(&one, FindingsOptions::default());
        assert_eq!(merged.input.traces, 3000);
        assert_eq!(
            (
                merged.input.traces,
                merged.input.spans,
                merged.input.window_s
            ),
            (whole.input.traces, whole.input.spans, whole.input.window_s)
        );
        assert_eq!(merged.services.len(), whole.services.len());
        for (m, w) in merged.services.iter().zip(&whole.services) {
            assert_eq!(
                (m.red.service, m.red.requests, m.red.errors),
                (w.red.service, w.red.requests, w.red.errors)
            );
            assert_eq!(m.cp_total_ns, w.cp_total_ns);
            assert_eq!(m.red.duration.total_ns, w.red.duration.total_ns);
            let p99 = (m.red.duration.p99_ns as f64, w.red.duration.p99_ns as f64);
            assert!((p99.0 - p99.1).abs() <= 0.01 * p99.1 + 1.0, "{p99:?}");
        }
        assert_eq!(merged.service_map.len(), whole.service_map.len());
        for (m, w) in merged.service_map.iter().zip(&whole.service_map) {
            assert_eq!(
                (m.calls, m.errors, m.cp_total_ns),
                (w.calls, w.errors, w.cp_total_ns)
            );
        }
        let ops = |f: &Findings| {
            f.hotspots
                .operations
                .iter()
                .map(|h| (h.service, h.operation, h.cp_total_ns, h.occurrence))
                .collect::<Vec<_>>()
        };
        assert_eq!(ops(&merged), ops(&whole));
        let lat = (merged.latency.p95_ns as f64, whole.latency.p95_ns as f64);
        assert!((lat.0 - lat.1).abs() <= 0.01 * lat.1 + 1.0, "{lat:?}");
    }

    /// An instance that saw one signature of a loop wrote its name bare, one that saw two wrote
    /// `name [signature]`: the merge keys them as the analysis does (by signature) and tells
    /// them apart again.
    #[test]
    fn patterns_merge_by_signature_whatever_each_instance_wrote() {
        let pattern = |target: &str, sig: &str, n: u64| pb::Pattern {
            kind: pb::PatternKind::NPlusOne as i32,
            service: "orders".into(),
            parent: "GET /orders".into(),
            target: target.into(),
            signature: Some(sig.into()),
            occurrences: n,
            traces: n,
            worst: Some(span_ref_to_pb(SpanRef::new(
                TraceId::from_bytes(&[1; 16]).expect("id"),
                crate::model::SpanId::from_bytes(&[2; 8]).expect("id"),
            ))),
            ..Default::default()
        };
        let part = |patterns: Vec<pb::Pattern>| {
            InstanceSnapshot::decode(pb::Snapshot {
                fan_outs: Some(pb::FanOuts {
                    patterns,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .expect("decodes")
        };
        let a = part(vec![pattern("db get", "SELECT a", 3)]);
        let b = part(vec![
            pattern("db get [SELECT a]", "SELECT a", 2),
            pattern("db get [SELECT b]", "SELECT b", 4),
        ]);
        let c = part(vec![pattern("db get", "SELECT a", 1)]);
        let rows = |parts: &[&InstanceSnapshot]| {
            let mut r: Vec<(String, usize)> = merged_findings(parts)
                .patterns
                .iter()
                .map(|p| (p.target.clone(), p.occurrences))
                .collect();
            r.sort();
            r
        };
        assert_eq!(
            rows(&[&a, &b]),
            vec![
                ("db get [SELECT a]".to_owned(), 5),
                ("db get [SELECT b]".to_owned(), 4)
            ]
        );
        // One signature only: the bare name, as a single instance would write it.
        assert_eq!(rows(&[&a, &c]), vec![("db get".to_owned(), 4)]);
        assert_eq!(bare_target("x [y]", Some("y")), "x");
        assert_eq!(bare_target("x [y]", Some("z")), "x [y]");
        assert_eq!(bare_target("x", None), "x");
    }

    #[test]
    fn a_corrupt_sketch_is_refused() {
        let mut e = Engine::default();
        for id in 1..=1100u128 {
            e.add_trace(&gateway_call(id));
        }
        let mut s = snapshot(&ViewData::build(StoreSnapshot::default(), &e));
        if let Some(k) = s.durations.as_mut().and_then(|d| d.sketch.as_mut()) {
            k.count += 1;
        }
        let err = InstanceSnapshot::decode(s).expect_err("count and buckets disagree");
        assert!(format!("{err:#}").contains("sketch"), "{err:#}");
    }
}
