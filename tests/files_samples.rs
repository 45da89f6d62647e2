//! Every sample file is read with the span, trace and service counts its provenance line gives
//! (`samples/PROVENANCE.md`, *content* column), and with the parent links the files say.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use spantop::ingest::file::{FileSummary, Format, Framing, read_path};
use spantop::model::{Span, SpanId, SpanKind, StatusCode, TraceId, UNKNOWN_SERVICE};
use spantop::store::{SpanStore, StoreConfig, StoreSnapshot};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

struct Expected {
    path: PathBuf,
    spans: u64,
    traces: u64,
    services: u64,
}

/// The rows of the provenance tables that describe trace files, with their counts.
fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(samples().join("PROVENANCE.md")).expect("provenance file");
    let mut dir = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            // "## OTLP JSON (`otlp-json/`)"
            dir = h.split('`').nth(1).unwrap_or_default().to_owned();
            continue;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || !cols[1].starts_with('`') {
            continue;
        }
        let (mut spans, mut traces, mut services) = (None, None, None);
        for part in cols[3].split(',') {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            // "53 span links" counts links, not spans.
            if words.next().is_some() {
                continue;
            }
            match what {
                "span" | "spans" => spans = Some(n),
                "trace" | "traces" => traces = Some(n),
                "service" | "services" => services = Some(n),
                _ => {}
            }
        }
        if let (Some(spans), Some(traces), Some(services)) = (spans, traces, services) {
            out.push(Expected {
                path: samples().join(&dir).join(cols[1].trim_matches('`')),
                spans,
                traces,
                services,
            });
        }
    }
    out
}

/// Every file under `dir` but the notes and the critical-path answer files.
fn trace_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("samples dir") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            out.extend(trace_files(&path));
        } else if !name.ends_with(".md") && !name.ends_with(".expected.json") {
            out.push(path);
        }
    }
    out
}

fn load(path: &Path) -> (FileSummary, StoreSnapshot) {
    let mut store = SpanStore::new(StoreConfig::default());
    let now = Instant::now();
    let summary = read_path(path, &mut |b| store.ingest(b, now)).expect("file opens");
    store.complete_all();
    (summary, store.snapshot())
}

/// Services named in the traces. Zipkin counts a remote endpoint's service name as a service
/// (its UI lists them), and the Zipkin reader keeps those as `peer.service`.
fn named_services(snap: &StoreSnapshot, format: Option<Format>) -> BTreeSet<String> {
    let spans = || snap.traces.iter().flat_map(|t| t.spans.iter());
    let mut names: BTreeSet<String> = spans()
        .map(|s| s.service().as_str().to_owned())
        .filter(|s| s != UNKNOWN_SERVICE)
        .collect();
    if format == Some(Format::ZipkinJson) {
        names.extend(spans().filter_map(|s| s.attr("peer.service")?.as_str().map(str::to_owned)));
    }
    names
}

#[test]
fn every_sample_reads_with_its_provenance_counts() {
    let rows = expected();
    let mut listed: Vec<PathBuf> = rows.iter().map(|r| r.path.clone()).collect();
    let mut on_disk = trace_files(&samples());
    listed.sort();
    on_disk.sort();
    assert_eq!(
        listed, on_disk,
        "every trace file has a provenance row with counts"
    );
    let mut failures = Vec::new();
    for row in &rows {
        let (summary, snap) = load(&row.path);
        // Files may hold a span twice (same id); the store keeps one, the file count has both.
        assert_eq!(
            snap.stats.spans_held + snap.stats.duplicate_spans,
            summary.spans,
            "{}",
            row.path.display()
        );
        let got = (
            summary.spans,
            snap.stats.traces_held,
            named_services(&snap, summary.format).len() as u64,
        );
        if got != (row.spans, row.traces, row.services) || !summary.is_clean() {
            failures.push(format!(
                "{}: got {got:?} spans/traces/services, want {:?}; {summary}",
                row.path.display(),
                (row.spans, row.traces, row.services)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn formats_are_detected_from_content() {
    let cases = [
        (
            "otlp-json/opentelemetry-proto__examples__trace.json",
            Format::OtlpJson,
            Framing::Document,
        ),
        (
            "otlp-json/otel-tui__test_data.jsonl",
            Format::OtlpJson,
            Framing::JsonLines,
        ),
        (
            "jaeger-json/jaeger-ui__genaiTestTrace.json",
            Format::JaegerJson,
            Framing::Document,
        ),
        (
            "jaeger-json/jaeger-anonymizer__trace_success.json",
            Format::JaegerJson,
            Framing::Document,
        ),
        (
            "zipkin-v2-json/yelp.json",
            Format::ZipkinJson,
            Framing::Document,
        ),
        (
            "generated/shopfast-seed42-n100.otlp.jsonl.gz",
            Format::OtlpJson,
            Framing::JsonLines,
        ),
    ];
    for (file, format, framing) in cases {
        let (summary, _) = load(&samples().join(file));
        assert_eq!(summary.format, Some(format), "{file}");
        assert_eq!(summary.framing, framing, "{file}");
        assert_eq!(summary.gzip, file.ends_with(".gz"), "{file}");
    }
}

#[test]
fn metrics_lines_are_skipped_and_logs_lines_read_not_errors() {
    let (mixed, snap) = load(&samples().join("otlp-json/otel-tui__test_data.jsonl"));
    let (only, _) = load(&samples().join("otlp-json/otel-tui__test_data.traces-only.jsonl"));
    assert!(mixed.is_clean(), "{mixed}");
    assert_eq!(mixed.records, 41, "the 41 lines holding spans");
    assert_eq!(
        mixed.other_signals,
        97 - 41 - 16,
        "all but the 16 logs lines"
    );
    assert_eq!(mixed.logs, 13, "the 13 of 23 log records that name a span");
    assert_eq!(mixed.spans, only.spans);
    let links: usize = snap
        .traces
        .iter()
        .flat_map(|t| &t.spans)
        .map(|s| s.links.len())
        .sum();
    assert_eq!(links, 53, "span links, per the provenance note");
}

fn span<'a>(snap: &'a StoreSnapshot, id: &str) -> &'a Span {
    let id = SpanId::from_hex(id).expect("test id");
    snap.traces
        .iter()
        .flat_map(|t| &t.spans)
        .find(|s| s.span_id == id)
        .unwrap_or_else(|| panic!("span {id} present"))
}

fn parent(snap: &StoreSnapshot, id: &str) -> Option<SpanId> {
    span(snap, id).parent_span_id
}

fn sid(hex: &str) -> Option<SpanId> {
    Some(SpanId::from_hex(hex).expect("test id"))
}

#[test]
fn zipkin_shared_server_spans_get_their_own_id_under_the_client() {
    let (_, snap) = load(&samples().join("zipkin-v2-json/ascend.json"));
    // Client ecc00062ceef4bf0 (mobile-gateway) and its shared server half (content-service).
    let client = span(&snap, "ecc00062ceef4bf0");
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.service().as_str(), "mobile-gateway");
    let trace = snap
        .traces
        .iter()
        .find(|t| t.trace_id == client.trace_id)
        .expect("trace");
    let server = trace
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && s.parent_span_id == Some(client.span_id))
        .expect("server half under the client");
    assert_eq!(server.service().as_str(), "content-service");
    assert_eq!(server.name.as_str(), "get /content/personal");
    // content-service's own outgoing call hangs under the server half, not the client.
    assert_eq!(parent(&snap, "c21c6c51ac71b3ba"), Some(server.span_id));
    // The root's parentId equals its own trace id in this file: the root is ef86c83c0a05a6d6.
    assert_eq!(client.parent_span_id, sid("ef86c83c0a05a6d6"));
    assert!(trace.orphans.is_empty(), "orphans: {:?}", trace.orphans);
}

#[test]
fn zipkin_128_bit_ids_tags_and_annotations() {
    let (_, snap) = load(&samples().join("zipkin-v2-json/messaging.json"));
    let t = &snap.traces[0];
    assert!(
        t.trace_id.as_u128() > u128::from(u64::MAX),
        "128-bit trace id kept whole"
    );
    let kinds: BTreeSet<&str> = t.spans.iter().map(|s| s.kind.as_str()).collect();
    assert!(
        kinds.contains("producer") && kinds.contains("consumer"),
        "{kinds:?}"
    );
    let (_, yelp) = load(&samples().join("zipkin-v2-json/yelp.json"));
    let annotated = yelp.traces[0]
        .spans
        .iter()
        .filter(|s| !s.events.is_empty())
        .count();
    let tagged = yelp.traces[0]
        .spans
        .iter()
        .filter(|s| !s.attributes.is_empty())
        .count();
    assert!(annotated > 0 && tagged > 0);
}

#[test]
fn jaeger_references_tags_and_processes() {
    let (_, snap) = load(&samples().join("jaeger-json/jaeger-anonymizer__trace_success.json"));
    let child = span(&snap, "7bd66f09ba90ea3d");
    assert_eq!(child.parent_span_id, sid("7606ddfe69932d34"));
    assert_eq!(child.kind, SpanKind::Client);
    // `error` tag, a boolean written as the string "true".
    assert_eq!(child.status.code, StatusCode::Error);
    assert_eq!(child.service().as_str(), "3c220036602f839e");
    assert_eq!(child.start_ns, 1_605_223_981_965_074_000);
    assert_eq!(child.duration_ns(), 32_782_000);
    assert!(
        child.attr("span.kind").is_none(),
        "mapped tags are not kept twice"
    );
    let root = span(&snap, "7606ddfe69932d34");
    assert_eq!(root.kind, SpanKind::Server);
    // Its parent is not in the file: an orphan.
    assert_eq!(snap.traces[0].orphans, vec![root.span_id]);
    assert_eq!(
        snap.traces[0].trace_id,
        TraceId::from_hex("2be38093ead7a083").expect("id")
    );
}

#[test]
fn jaeger_envelopes_all_read() {
    // API response, bare trace, UI wrapper: each has spans with parents inside the trace.
    for file in [
        "jaeger-json/critical-path/critical-path-test1.trace.json",
        "jaeger-json/jaeger-ui__genaiTestTrace.json",
        "jaeger-json/jaeger-ui__flamegraph_testTrace.json",
    ] {
        let (summary, snap) = load(&samples().join(file));
        assert!(summary.spans > 0 && summary.is_clean(), "{summary}");
        let t = &snap.traces[0];
        assert_eq!(t.roots().count(), 1, "{file}: one root");
        assert!(t.orphans.is_empty(), "{file}: every parent present");
    }
}
