//! Text and Markdown renderings of `Findings`. Both come from one list of sections (a title,
//! a few sentences, an optional table), so the two formats always say the same thing. Long
//! lists are grouped (43 identical N+1 loops are one row with a count) and cut to `top` rows.

use std::fmt::Write as _;

use crate::analysis::aggregate::stats::Nanos;
use crate::analysis::findings::{Findings, Pattern, PatternKind};
use crate::analysis::trace::background::BackgroundKind;
use crate::analysis::trace::fanout::Shape;
use crate::model::Sym;

pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
    pub table: Option<Table>,
}

pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// A duration held in nanoseconds, as an on-call engineer reads it: `12.3 ms`, `1.43 s`.
pub fn ms(ns: impl Nanos) -> String {
    let v = ns.as_f64() / 1e6;
    if v.abs() >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v.abs() >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

pub fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

pub fn sections(f: &Findings, top: usize) -> Vec<Section> {
    vec![
        overview(f),
        cold_starts(f, top),
        n_plus_one(f, top),
        mn_plus_one(f, top),
        parallel(f, top),
        chains(f, top),
        service_graph(f, top),
        hotspots(f, top),
        background(f, top),
        edge_hotspots(f, top),
        gaps(f, top),
        errors(f, top),
        messaging(f),
        services(f, top),
    ]
}

fn overview(f: &Findings) -> Section {
    let i = &f.input;
    let l = &f.latency;
    let mut lines = vec![
        format!(
            "{} traces, {} spans, {} services over {:.1} s of data.",
            i.traces, i.spans, i.services, i.window_s
        ),
        format!(
            "Trace latency: p50 {}, p95 {}, p99 {}{} (n={}).",
            ms(l.p50_ns),
            ms(l.p95_ns),
            ms(l.p99_ns),
            if l.p99_is_max { " (≈max)" } else { "" },
            l.n
        ),
    ];
    if i.orphan_spans > 0 || i.traces_with_warnings > 0 {
        lines.push(format!(
            "Data quality: {} spans with a missing parent; {} traces with warnings (negative durations, duplicate ids, cycles, orphans).",
            i.orphan_spans, i.traces_with_warnings
        ));
    }
    if i.analysis_failures > 0 {
        lines.push(format!(
            "{} traces could not be analysed (analysis failures; the log names them) and are left out.",
            i.analysis_failures
        ));
    }
    if let Some(n) = i.lists_cut_to {
        lines.push(format!(
            "Traces were analysed and let go of for --max-memory: each list of single occurrences keeps its first {n} (counts and grouped rows cover all)."
        ));
    }
    if i.traces_not_listed > 0 {
        lines.push(format!(
            "{} traces are counted but not listed (findings bound).",
            i.traces_not_listed
        ));
    }
    Section {
        title: "Overview".into(),
        lines,
        table: None,
    }
}

fn cold_starts(f: &Findings, top: usize) -> Section {
    let c = &f.cold_starts;
    let mut lines = vec![format!(
        "{} cold starts in {} traces; {} of {} classified invocations ({}), {} unknown.",
        c.count,
        c.traces_with_cold_start,
        c.count,
        c.invocations - c.unknown,
        pct(c.rate),
        c.unknown
    )];
    if let Some(w) = c.list.first() {
        lines.push(format!(
            "Costliest: {} in trace {}: init {} ({}), {} on the critical path ({} of the request).",
            w.function,
            w.trace_id,
            ms(w.init_ns),
            w.init_source.describe(),
            ms(w.cold_cp_ns),
            pct(w.cold_cp_share)
        ));
    }
    let mut rows: Vec<_> = c.by_function.iter().filter(|r| r.cold > 0).collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.init.total_ns));
    let delta =
        |d: Option<i64>| d.map_or_else(|| "n too small".to_owned(), |v| format!("+{}", ms(v)));
    Section {
        title: "Cold starts".into(),
        lines,
        table: Some(Table {
            headers: vec![
                "function",
                "trigger",
                "cold/inv",
                "rate",
                "init p50",
                "init max",
                "on CP",
                "Δp50 caller",
                "Δp99 caller",
            ],
            rows: rows
                .into_iter()
                .take(top)
                .map(|r| {
                    vec![
                        r.function.to_string(),
                        r.trigger.map_or("-".into(), |t| t.to_string()),
                        format!("{}/{}", r.cold, r.invocations),
                        pct(r.cold_rate),
                        ms(r.init.p50_ns),
                        ms(r.init.max_ns),
                        r.on_critical_path.to_string(),
                        delta(
                            r.caller_penalty
                                .delta_p50_ns
                                .or(r.server_penalty.delta_p50_ns),
                        ),
                        delta(r.caller_penalty.delta_p99_ns),
                    ]
                })
                .collect(),
        }),
    }
}

/// The patterns of one kind, in the order `Findings` ranks them.
fn patterns(f: &Findings, kind: PatternKind) -> impl Iterator<Item = &Pattern> {
    f.patterns.iter().filter(move |p| p.kind == kind)
}

fn degrees(p: &Pattern) -> String {
    format!("{:.0}–{:.0}", p.min_degree, p.max_degree)
}

/// A loop whose calls overlap is bounded concurrency, not a plain N+1: say so.
fn shape(p: &Pattern) -> String {
    match p.shape {
        Some(Shape::Sequential) | None => "serial".into(),
        Some(Shape::Parallel) => "parallel".into(),
        Some(Shape::Mixed) => format!("≤{} at once", p.max_concurrency),
    }
}

fn n_plus_one(f: &Findings, top: usize) -> Section {
    let l = &f.n_plus_one;
    let overlapping = patterns(f, PatternKind::NPlusOne)
        .filter(|p| p.max_concurrency > 1)
        .count();
    let mut lines = vec![format!(
        "{} loops in {} traces (same call repeated ≥ 3 times).",
        l.count, l.traces
    )];
    if overlapping > 0 {
        lines.push(format!(
            "{overlapping} of these run with bounded concurrency (calls overlap): see the shape column."
        ));
    }
    Section {
        title: "N+1 loops".into(),
        lines,
        table: Some(Table {
            headers: vec![
                "loop",
                "times",
                "degree",
                "shape",
                "time held",
                "batching saves",
                "on CP",
                "cut by error",
                "worst trace",
            ],
            rows: patterns(f, PatternKind::NPlusOne)
                .take(top)
                .map(|p| {
                    vec![
                        format!("{} {} → {}", p.service, p.parent, p.target),
                        p.occurrences.to_string(),
                        degrees(p),
                        shape(p),
                        ms(p.time_held_ns),
                        ms(p.batching_saves_ns),
                        ms(p.cp_ns),
                        p.cut_by_error.to_string(),
                        p.worst.trace_id.to_string(),
                    ]
                })
                .collect(),
        }),
    }
}

fn mn_plus_one(f: &Findings, top: usize) -> Section {
    let l = &f.mn_plus_one;
    Section {
        title: "MN+1 loops".into(),
        lines: vec![format!(
            "{} repeated call sequences in {} traces (2–8 different calls repeated ≥ 3 times).",
            l.count, l.traces
        )],
        table: Some(Table {
            headers: vec![
                "loop body",
                "times",
                "calls",
                "time held",
                "batching saves",
                "worst trace",
            ],
            rows: patterns(f, PatternKind::MnPlusOne)
                .take(top)
                .map(|p| {
                    vec![
                        format!("{} {}: [{}]", p.service, p.parent, p.target),
                        p.occurrences.to_string(),
                        degrees(p),
                        ms(p.time_held_ns),
                        ms(p.batching_saves_ns),
                        p.worst.trace_id.to_string(),
                    ]
                })
                .collect(),
        }),
    }
}

fn parallel(f: &Findings, top: usize) -> Section {
    let l = &f.parallel_fanouts;
    Section {
        title: "Parallel fan-outs".into(),
        lines: vec![format!(
            "{} parallel fan-outs in {} traces.",
            l.count, l.traces
        )],
        table: Some(Table {
            headers: vec![
                "fan-out",
                "times",
                "degree",
                "slowest chain",
                "tail risk",
                "on CP",
                "example trace",
            ],
            rows: patterns(f, PatternKind::Parallel)
                .take(top)
                .map(|p| {
                    vec![
                        format!("{} {} → {}", p.service, p.parent, p.target),
                        p.occurrences.to_string(),
                        degrees(p),
                        Sym::join(&p.worst_chain, " → "),
                        p.tail_risk.map_or("-".into(), pct),
                        ms(p.cp_ns),
                        p.worst.trace_id.to_string(),
                    ]
                })
                .collect(),
        }),
    }
}

fn chains(f: &Findings, top: usize) -> Section {
    Section {
        title: "Fan-out chains".into(),
        lines: vec![format!(
            "{} chains where calls multiply across services (≥ 2 hops fanning out, or ×10 from the root).",
            f.chains.len()
        )],
        table: Some(Table {
            headers: vec![
                "chain",
                "traces",
                "max amplification",
                "max calls",
                "on CP",
                "example trace",
            ],
            rows: f
                .chains
                .iter()
                .take(top)
                .map(|c| {
                    vec![
                        Sym::join(&c.services, " → "),
                        c.traces.to_string(),
                        format!("×{:.1}", c.max_amplification),
                        c.max_invocations.to_string(),
                        ms(c.cp_total_ns),
                        c.example_trace.to_string(),
                    ]
                })
                .collect(),
        }),
    }
}

fn service_graph(f: &Findings, top: usize) -> Section {
    let g = &f.service_graph;
    let entries: Vec<Sym> = g
        .services
        .iter()
        .filter(|n| n.depth == Some(0))
        .map(|n| n.service)
        .collect();
    let deepest = g.services.iter().filter_map(|n| n.depth).max().unwrap_or(0);
    let peers = g.services.iter().filter(|n| n.requests == 0).count();
    let mut lines = vec![format!(
        "{} services and {} uninstrumented peers (databases, queues, external APIs), {} caller→callee edges, {} hops deep from the entry points ({}).",
        g.services.len() - peers,
        peers,
        g.edges,
        deepest,
        Sym::join(&entries, ", ")
    )];
    for c in &g.cycles {
        lines.push(format!("Cycle: {} call each other.", Sym::join(c, " ⇄ ")));
    }
    lines.push(
        "In layers (each service drawn once, under a caller one layer up; ↑ drawn under another caller, ↻ a call back into a cycle), calls, errors and client p99 per edge:"
            .into(),
    );
    let width = g
        .drawing
        .iter()
        .map(|r| r.tree_text().chars().count())
        .max()
        .unwrap_or(0);
    for r in &g.drawing {
        let text = r.tree_text();
        let pad = " ".repeat(width - text.chars().count());
        lines.push(match r.edge.and_then(|i| f.service_map.get(i)) {
            Some(e) => format!(
                "  {text}{pad}  {:<9} {} calls  {} errors  p99 {}",
                e.kind.as_str(),
                e.calls,
                pct(e.error_rate),
                ms(e.client.p99_ns)
            ),
            None => format!("  {text}"),
        });
    }
    lines.push(format!(
        "{} paths where calls multiply across services (calls on each edge per request its caller handled, over all traces):",
        g.amplified_paths.len()
    ));
    Section {
        title: "Service graph".into(),
        lines,
        table: Some(Table {
            headers: vec!["path", "calls per request, hop by hop", "amplification"],
            rows: g
                .amplified_paths
                .iter()
                .take(top)
                .map(|p| {
                    vec![
                        Sym::join(&p.services, " → "),
                        p.hop_ratios
                            .iter()
                            .map(|r| format!("×{r:.1}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                        format!("×{:.1}", p.amplification),
                    ]
                })
                .collect(),
        }),
    }
}

/// What the critical path explains of the traces, and a warning naming the traces where it
/// explains little (a short root in a long session: ranking by its path misleads).
fn coverage_lines(f: &Findings) -> Vec<String> {
    let c = &f.hotspots.coverage;
    let mut lines = vec![format!(
        "Critical-path coverage: the paths explain {} of the traced time.",
        pct(c.overall)
    )];
    if c.low_traces > 0 {
        let worst = c
            .lowest
            .iter()
            .take(3)
            .map(|r| {
                format!(
                    "{} ({} of {}, {})",
                    r.trace_id,
                    ms(r.cp_ns),
                    ms(r.duration_ns),
                    pct(r.coverage)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        lines.push(format!(
            "WARNING: low coverage in {} traces (path explains under {} of the trace; spans run \
             outside their root): {worst}.",
            c.low_traces,
            pct(c.low_below)
        ));
    }
    lines
}

fn hotspots(f: &Findings, top: usize) -> Section {
    let mut lines = vec![
        "Operations ranked by their time on the critical path, summed over all traces.".into(),
    ];
    lines.extend(coverage_lines(f));
    Section {
        title: "Critical-path hotspots".into(),
        lines,
        table: Some(Table {
            headers: vec![
                "service",
                "operation",
                "CP time",
                "share",
                "traces",
                "p50/trace",
                "p95/trace",
                "self time",
                "worst trace",
            ],
            rows: f
                .hotspots
                .operations
                .iter()
                .take(top)
                .map(|h| {
                    vec![
                        h.service.to_string(),
                        h.operation.to_string(),
                        ms(h.cp_total_ns),
                        pct(h.cp_share),
                        h.occurrence.to_string(),
                        ms(h.cp_p50_ns),
                        ms(h.cp_p95_ns),
                        ms(h.self_total_ns),
                        h.worst_trace.map_or("-".into(), |t| t.to_string()),
                    ]
                })
                .collect(),
        }),
    }
}

fn background(f: &Findings, top: usize) -> Section {
    let rows = &f.hotspots.background;
    Section {
        title: "Background work".into(),
        lines: vec![format!(
            "{} operations ran as streams or outlived their request (kept out of the hotspots \
             above).",
            rows.len()
        )],
        table: (!rows.is_empty()).then(|| Table {
            headers: vec![
                "service",
                "operation",
                "why",
                "spans",
                "wall time",
                "longest",
            ],
            rows: rows
                .iter()
                .take(top)
                .map(|b| {
                    vec![
                        b.service.to_string(),
                        b.operation.to_string(),
                        match b.kind {
                            BackgroundKind::Stream => "stream",
                            BackgroundKind::OutlivesRoot => "outlives its request",
                            BackgroundKind::ConsumerLoop => "consumer poll loop",
                        }
                        .into(),
                        b.spans.to_string(),
                        ms(b.total_ns),
                        ms(b.longest_ns),
                    ]
                })
                .collect(),
        }),
    }
}

fn edge_hotspots(f: &Findings, top: usize) -> Section {
    Section {
        title: "Critical-path edges".into(),
        lines: vec!["Calls between services ranked by the critical-path time they held (the call and everything under it).".into()],
        table: Some(Table {
            headers: vec!["caller → callee", "kind", "calls", "CP time", "share", "gap mean"],
            rows: f
                .hotspots
                .edges_by_cp
                .iter()
                .take(top)
                .map(|e| {
                    vec![
                        format!("{} → {}", e.caller, e.callee),
                        format!("{:?}", e.kind).to_lowercase(),
                        e.calls.to_string(),
                        ms(e.cp_total_ns),
                        pct(e.cp_share),
                        e.gap_mean_ns.map_or("-".into(), ms),
                    ]
                })
                .collect(),
        }),
    }
}

fn gaps(f: &Findings, top: usize) -> Section {
    Section {
        title: "Client/server gaps".into(),
        lines: vec!["Time a client waited that the callee's server span does not explain (network, queueing, unseen cold starts), by mean.".into()],
        table: Some(Table {
            headers: vec!["caller → callee", "calls", "gap mean", "gap p50", "gap p95", "gap total", "server outlived client", "skew?", "worst call (trace/span)"],
            rows: f
                .hotspots
                .edges_by_gap_mean
                .iter()
                .take(top)
                .map(|e| {
                    vec![
                        format!("{} → {}", e.caller, e.callee),
                        e.calls.to_string(),
                        ms(e.gap.mean_ns),
                        ms(e.gap.p50_ns),
                        ms(e.gap.p95_ns),
                        ms(e.gap.total_ns),
                        e.negative_gaps.to_string(),
                        e.clock_skew_suspected.to_string(),
                        e.worst_gap
                            .as_ref()
                            .map_or("-".into(), |w| format!("{}/{}", w.trace_id, w.client_span_id)),
                    ]
                })
                .collect(),
        }),
    }
}

fn errors(f: &Findings, top: usize) -> Section {
    let e = &f.errors;
    Section {
        title: "Error origins".into(),
        lines: vec![format!(
            "{} error origins in {} traces: {} reached a root (the user saw them), {} were absorbed on the way.",
            e.reaching_root + e.absorbed,
            e.traces_with_errors,
            e.reaching_root,
            e.absorbed
        )],
        table: Some(Table {
            headers: vec![
                "origin",
                "traces",
                "to root",
                "absorbed",
                "propagation",
                "timeout locus",
                "example trace",
            ],
            rows: e
                .by_origin
                .iter()
                .take(top)
                .map(|o| {
                    vec![
                        format!("{} {}", o.service, o.operation),
                        o.traces.to_string(),
                        o.propagated_to_root.to_string(),
                        o.absorbed.to_string(),
                        Sym::join(&o.propagation_services, " → "),
                        o.timeout_locus.as_ref().map_or("-".into(), |l| {
                            format!(
                                "{} {} (still running in {} of {} timeouts)",
                                l.service, l.operation, l.traces, o.timed_out
                            )
                        }),
                        o.example_trace.to_string(),
                    ]
                })
                .collect(),
        }),
    }
}

fn messaging(f: &Findings) -> Section {
    let a = &f.async_messaging;
    Section {
        title: "Async messaging".into(),
        lines: vec![format!(
            "{} span links from {} consumer traces; {} resolved to a producer span in the input.",
            a.links, a.consumer_traces, a.resolved
        )],
        table: Some(Table {
            headers: vec![
                "producer → consumer",
                "links",
                "publish→process p50 (clock-sensitive)",
            ],
            rows: a
                .edges
                .iter()
                .map(|e| {
                    vec![
                        format!(
                            "{} → {}",
                            e.producer_service.map_or("(not in input)", |s| s.as_str()),
                            e.consumer_service
                        ),
                        e.links.to_string(),
                        if e.publish_to_process.n > 0 {
                            ms(e.publish_to_process.p50_ns)
                        } else {
                            "-".into()
                        },
                    ]
                })
                .collect(),
        }),
    }
}

fn services(f: &Findings, top: usize) -> Section {
    let mut rows: Vec<_> = f.services.iter().collect();
    rows.sort_by(|a, b| {
        b.cp_share
            .total_cmp(&a.cp_share)
            .then(a.red.service.cmp(&b.red.service))
    });
    Section {
        title: "Services".into(),
        lines: vec![
            "Requests served (SERVER/CONSUMER spans and roots), by share of critical-path time; a service that only called out serves 0."
                .into(),
        ],
        table: Some(Table {
            headers: vec![
                "service", "requests", "rate/s", "errors", "p50", "p95", "p99", "CP share", "cold",
            ],
            rows: rows
                .into_iter()
                .take(top.max(20))
                .map(|s| {
                    let d = &s.red.duration;
                    // No request served: no rate, error rate or latency to show.
                    let served = |v: String| if s.red.requests > 0 { v } else { "-".into() };
                    vec![
                        s.red.service.to_string(),
                        s.red.requests.to_string(),
                        served(format!("{:.2}", s.red.rate_per_s)),
                        served(pct(s.red.error_rate)),
                        served(ms(d.p50_ns)),
                        served(ms(d.p95_ns)),
                        served(format!(
                            "{}{}",
                            ms(d.p99_ns),
                            if d.p99_is_max { "≈max" } else { "" }
                        )),
                        pct(s.cp_share),
                        s.cold_start_rate.map_or("-".into(), pct),
                    ]
                })
                .collect(),
        }),
    }
}

/// Names come from telemetry: control characters (newlines in span names) would break lines.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Plain text with aligned columns; empty tables are left out.
pub fn text(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        let _ = writeln!(out, "== {} ==", s.title.to_uppercase());
        for l in &s.lines {
            let _ = writeln!(out, "{l}");
        }
        if let Some(t) = s.table.as_ref().filter(|t| !t.rows.is_empty()) {
            let rows: Vec<Vec<String>> = t
                .rows
                .iter()
                .map(|r| r.iter().map(|c| clean(c)).collect())
                .collect();
            let widths: Vec<usize> = (0..t.headers.len())
                .map(|c| {
                    rows.iter()
                        .map(|r| r[c].chars().count())
                        .chain([t.headers[c].chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<&str>| {
                let mut l = String::from(" ");
                for (c, cell) in cells.iter().enumerate() {
                    let pad = widths[c] - cell.chars().count();
                    let _ = write!(l, " {cell}{}", " ".repeat(pad));
                }
                l.trim_end().to_owned()
            };
            let _ = writeln!(out, "{}", line(t.headers.clone()));
            for r in &rows {
                let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
            }
        }
        out.push('\n');
    }
    out
}

/// GitHub-flavoured Markdown for postmortems.
pub fn markdown(sections: &[Section]) -> String {
    let mut out = String::from("# spantop report\n\n");
    let esc = |s: &str| s.replace('|', "\\|");
    for s in sections {
        let _ = writeln!(out, "## {}\n", s.title);
        for l in &s.lines {
            let _ = writeln!(out, "{l}\n");
        }
        if let Some(t) = s.table.as_ref().filter(|t| !t.rows.is_empty()) {
            let _ = writeln!(out, "| {} |", t.headers.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(t.headers.len()));
            for r in &t.rows {
                let cells: Vec<String> = r.iter().map(|c| esc(&clean(c))).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(ms(12_340_000_u64), "12.3 ms");
        assert_eq!(ms(317_100_000_u64), "317 ms");
        assert_eq!(ms(1_430_000_000_u64), "1.43 s");
        assert_eq!(pct(0.2105), "21.1%");
    }

    /// Every table's rows have as many cells as it has headers, on a trace that fills every
    /// section (a cold start, an N+1 loop, a gap, an error).
    #[test]
    fn every_table_is_rectangular() {
        use crate::analysis::engine::{AnalysisConfig, Engine};
        use crate::analysis::findings::FindingsOptions;
        use crate::analysis::trace::attrs;
        use crate::analysis::trace::fixture::TraceBuilder;
        use crate::model::{AnyValue, SpanKind};
        let mut b = TraceBuilder::new();
        let r = b
            .span("gw", "POST")
            .kind(SpanKind::Server)
            .at(0, 200)
            .error()
            .id();
        let c = b
            .span("gw", "fn invoke")
            .kind(SpanKind::Client)
            .at(1, 199)
            .parent(r)
            .error()
            .id();
        let f = b
            .span("fn", "fn")
            .kind(SpanKind::Server)
            .res(attrs::FAAS_NAME, "fn")
            .attr(attrs::FAAS_COLDSTART, AnyValue::Bool(true))
            .at(5, 190)
            .parent(c)
            .error()
            .id();
        b.span("fn", "Initialization")
            .res(attrs::FAAS_NAME, "fn")
            .at(6, 50)
            .parent(f)
            .id();
        for i in 0..4 {
            b.span("fn", "GET /x")
                .kind(SpanKind::Client)
                .str_attr(attrs::HTTP_REQUEST_METHOD, "GET")
                .str_attr(attrs::URL_FULL, &format!("http://x/items/{i}"))
                .at(60 + 20 * i, 70 + 20 * i)
                .parent(f)
                .error()
                .id();
        }
        let mut engine = Engine::new(AnalysisConfig::default());
        engine.add_trace(&b.build());
        let findings = Findings::build(&engine, FindingsOptions::default());
        let secs = sections(&findings, 10);
        let mut rows = 0;
        for s in &secs {
            if let Some(t) = &s.table {
                for r in &t.rows {
                    assert_eq!(r.len(), t.headers.len(), "section {}", s.title);
                    rows += 1;
                }
            }
        }
        assert!(rows >= 6, "the trace fills most tables ({rows} rows)");
        assert!(text(&secs).contains("== COLD STARTS =="));
    }

    #[test]
    fn text_aligns_and_markdown_escapes() {
        let s = vec![Section {
            title: "T".into(),
            lines: vec!["hello".into()],
            table: Some(Table {
                headers: vec!["a", "bb"],
                rows: vec![vec!["x|y".into(), "1".into()]],
            }),
        }];
        assert_eq!(text(&s), "== T ==\nhello\n  a   bb\n  x|y 1\n\n");
        assert!(markdown(&s).contains("| x\\|y | 1 |"));
    }
}
