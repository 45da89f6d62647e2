//! One test per reader shape of `samples/reader-shapes/` (each fixture is written in the
//! shape its producer writes; `samples/PROVENANCE.md` cites the producer): what each span's
//! tags, kind, parent, service and times become.

use std::path::{Path, PathBuf};
use std::time::Instant;

use spantop::ingest::file::{FileSummary, Format, Framing, read_path};
use spantop::model::{AnyValue, Span, SpanId, SpanKind, StatusCode};
use spantop::store::{SpanStore, StoreConfig, StoreSnapshot};

fn shape(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/reader-shapes")
        .join(name)
}

fn load(name: &str) -> (FileSummary, StoreSnapshot) {
    let mut store = SpanStore::new(StoreConfig::default());
    let now = Instant::now();
    let summary = read_path(&shape(name), &mut |b| store.ingest(b, now)).expect("file opens");
    store.complete_all();
    let snap = store.snapshot();
    assert!(summary.is_clean(), "{summary}");
    assert_eq!(snap.stats.duplicate_spans, 0, "{name}: no span id twice");
    (summary, snap)
}

fn spans(snap: &StoreSnapshot) -> impl Iterator<Item = &Span> {
    snap.traces.iter().flat_map(|t| t.spans.iter())
}

fn span<'a>(snap: &'a StoreSnapshot, id: &str) -> &'a Span {
    let id = SpanId::from_hex(id).expect("test id");
    spans(snap)
        .find(|s| s.span_id == id)
        .unwrap_or_else(|| panic!("span {id} present"))
}

fn str_attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    s.attr(key).and_then(AnyValue::as_str)
}

fn sid(hex: &str) -> Option<SpanId> {
    Some(SpanId::from_hex(hex).expect("test id"))
}

#[test]
fn jaeger_elasticsearch_documents_keep_tag_maps_and_inline_processes() {
    let (summary, snap) = load("jaeger-es-span-documents.jsonl");
    assert_eq!(
        (summary.format, summary.framing, summary.spans),
        (Some(Format::JaegerJson), Framing::JsonLines, 5)
    );
    let root = span(&snap, "b7ad6b7169203331");
    // `span@kind` in the `tag` map is `span.kind`: the kind, not an attribute.
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(str_attr(root, "http.route"), Some("/cart"));
    assert_eq!(root.attr("http.status_code"), Some(&AnyValue::Int(200)));
    assert_eq!(str_attr(root, "internal.span.format"), Some("proto"));
    assert!(root.attr("span.kind").is_none() && root.attr("http@route").is_none());
    // The inline process, its `tags` array and its `tag` map.
    assert_eq!(root.service().as_str(), "frontend");
    let host = root.resource.attr("hostname").and_then(AnyValue::as_str);
    assert_eq!(host, Some("fe-1"));
    let version = root
        .resource
        .attr("jaeger.version")
        .and_then(AnyValue::as_str);
    assert_eq!(version, Some("Go-2.30.0"));
    assert_eq!(
        root.resource.attr("ip").and_then(AnyValue::as_str),
        Some("10.0.0.5")
    );
    assert_eq!(root.start_ns, 1_714_557_600_000_000_000);
    let query = span(&snap, "1a2b3c4d5e6f7081");
    assert_eq!(query.kind, SpanKind::Client);
    assert_eq!(query.parent_span_id, Some(root.span_id));
    assert_eq!(str_attr(query, "db.system"), Some("postgresql"));
    assert_eq!(str_attr(query, "peer.service"), Some("inventory-db"));
    let failed = span(&snap, "3c4d5e6f708192a3");
    assert_eq!(failed.status.code, StatusCode::Error);
    assert_eq!(failed.service().as_str(), "inventory");
    assert_eq!(str_attr(failed, "rpc.method"), Some("GetStock"));
}

#[test]
fn jaeger_elasticsearch_search_response_reads_each_hit_source() {
    let (summary, snap) = load("jaeger-es-search-response.json");
    assert_eq!(
        (summary.format, summary.framing, summary.spans),
        (Some(Format::JaegerJson), Framing::Document, 2)
    );
    let child = span(&snap, "00f067aa0ba902b7");
    assert_eq!(child.parent_span_id, sid("b7ad6b7169203331"));
    assert_eq!(child.kind, SpanKind::Client);
    assert_eq!(
        str_attr(child, "db.statement"),
        Some("SELECT * FROM items WHERE id = 17")
    );
}

#[test]
fn a_document_with_only_start_time_millis_is_placed_by_it_and_binary_is_hex() {
    let doc = r#"{"traceID":"0af7651916cd43dd8448eb211c80319c","spanID":"b7ad6b7169203331","operationName":"op","references":[],"startTimeMillis":1714557600123,"duration":5,"tags":[{"key":"blob","type":"binary","value":"00003039"}],"tag":{"span@kind":"producer"},"process":{"serviceName":"s","tags":[]}}"#;
    let mut got = Vec::new();
    let summary =
        spantop::ingest::file::read_from(Path::new("es.jsonl"), doc.as_bytes(), &mut |b| {
            got.extend(b.spans)
        })
        .expect("readable");
    assert!(summary.is_clean(), "{summary}");
    assert_eq!(got[0].start_ns, 1_714_557_600_123_000_000);
    assert_eq!(got[0].kind, SpanKind::Producer);
    // Elasticsearch storage writes binary tags in hex (jaeger's es_01.json: "00003039").
    assert_eq!(
        got[0].attr("blob"),
        Some(&AnyValue::Bytes(vec![0, 0, 0x30, 0x39].into_boxed_slice()))
    );
}

fn check_tempo(name: &str) {
    let (summary, snap) = load(name);
    assert_eq!(
        (summary.format, summary.spans),
        (Some(Format::OtlpJson), 3),
        "{name}"
    );
    // base64 ids decode to the hex ids Tempo was queried with.
    let root = span(&snap, "eee19b7ec3c1b174");
    assert_eq!(
        snap.traces[0].trace_id.to_string(),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.service().as_str(), "checkout");
    let server = span(&snap, "eee19b7ec3c1b176");
    assert_eq!(server.parent_span_id, sid("eee19b7ec3c1b175"));
    assert_eq!(server.service().as_str(), "payment");
    assert_eq!(server.status.code, StatusCode::Error);
    assert_eq!(server.status.message.as_deref(), Some("card declined"));
}

#[test]
fn tempo_v1_trace_by_id_batches_with_base64_ids() {
    check_tempo("tempo-v1-trace-by-id.json");
}

#[test]
fn tempo_v2_trace_by_id_wrapped_in_trace() {
    check_tempo("tempo-v2-trace-by-id.json");
}

#[test]
fn jaeger_api_v3_result_stream() {
    let (summary, snap) = load("jaeger-api-v3-get-trace.jsonl");
    assert_eq!(
        (
            summary.format,
            summary.framing,
            summary.records,
            summary.spans
        ),
        (Some(Format::OtlpJson), Framing::JsonLines, 2, 2)
    );
    let redis = span(&snap, "00f067aa0ba902b8");
    assert_eq!(redis.parent_span_id, sid("00f067aa0ba902b7"));
    assert_eq!(redis.kind, SpanKind::Client);
    assert_eq!(redis.service().as_str(), "redis");
}

#[test]
fn an_api_error_message_is_reported_not_dropped() {
    let text = "{\"result\":{\"resourceSpans\":[]}}\n{\"error\":{\"grpcCode\":5,\"httpCode\":404,\"message\":\"trace not found\",\"httpStatus\":\"Not Found\"}}\n";
    let summary =
        spantop::ingest::file::read_from(Path::new("v3.json"), text.as_bytes(), &mut |_| {})
            .expect("readable");
    assert_eq!(summary.skipped, 1);
    assert!(summary.problems[0].contains("trace not found"), "{summary}");
}

#[test]
fn zipkin_shared_ids_parts_and_untimed_spans() {
    let (summary, snap) = load("zipkin-shared-ids-parts.json");
    // 11 records: the late part merges into its span.
    assert_eq!(summary.spans, 10);
    let trace = &snap.traces[0];
    assert!(trace.orphans.is_empty(), "orphans: {:?}", trace.orphans);
    // The edge's shared SERVER has no client in the capture: it keeps its id and is the root.
    let gateway = span(&snap, "a000000000000001");
    assert_eq!(
        (gateway.kind, gateway.parent_span_id),
        (SpanKind::Server, None)
    );
    // Client keeps the shared id; the server half (no "shared" flag) gets its own, under it.
    let client = span(&snap, "b000000000000002");
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.service().as_str(), "gateway");
    let api = spans(&snap)
        .find(|s| s.service().as_str() == "api" && s.kind == SpanKind::Server)
        .expect("api's server half");
    assert_eq!(api.parent_span_id, Some(client.span_id));
    assert_ne!(api.span_id, client.span_id);
    // The late part's tag is on the server half; nothing else of it remains.
    assert_eq!(str_attr(api, "customer.tier"), Some("gold"));
    assert_eq!(str_attr(api, "http.status_code"), Some("200"));
    // api's own work hangs under its server half, not under the gateway's client span.
    let load_orders = span(&snap, "c000000000000003");
    assert_eq!(load_orders.parent_span_id, Some(api.span_id));
    // A span without a timestamp starts where its parent does.
    let untimed = span(&snap, "c000000000000004");
    assert_eq!(untimed.start_ns, load_orders.start_ns);
    let earliest = spans(&snap).map(|s| s.start_ns).min().unwrap_or(0);
    assert_eq!(earliest, 1_700_000_000_000_000_000, "no span at 1970");
    // One send, two workers: each SERVER half has its own id; each worker's processing
    // hangs under the half recorded on its own host.
    let send = span(&snap, "d000000000000005");
    let halves: Vec<&Span> = spans(&snap)
        .filter(|s| s.service().as_str() == "worker" && s.kind == SpanKind::Server)
        .collect();
    assert_eq!(halves.len(), 2);
    assert_ne!(halves[0].span_id, halves[1].span_id);
    for h in &halves {
        assert_eq!(h.parent_span_id, Some(send.span_id));
        let host = str_attr(h, "network.local.address").expect("host");
        let under: Vec<&str> = spans(&snap)
            .filter(|s| s.parent_span_id == Some(h.span_id))
            .filter_map(|s| str_attr(s, "network.local.address"))
            .collect();
        assert_eq!(under, vec![host], "half on {host}");
    }
}

#[test]
fn envoy_edge_span_with_shared_flag_and_no_client_stays_a_root() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/zipkin-v2-json/envoy.json");
    let mut store = SpanStore::new(StoreConfig::default());
    read_path(&path, &mut |b| store.ingest(b, Instant::now())).expect("file opens");
    store.complete_all();
    let snap = store.snapshot();
    let s = span(&snap, "978883983d506fa5");
    assert_eq!((s.kind, s.parent_span_id), (SpanKind::Server, None));
    assert!(snap.traces[0].orphans.is_empty());
}

#[test]
fn smartthings_keeps_every_server_half_and_merges_late_parts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/zipkin-v2-json/smartthings-mobile-web-install.json");
    let mut store = SpanStore::new(StoreConfig::default());
    let summary = read_path(&path, &mut |b| store.ingest(b, Instant::now())).expect("opens");
    store.complete_all();
    let snap = store.snapshot();
    // 1041 records; 84 are timestamp-less parts of a server span (same id and host).
    assert_eq!(summary.spans, 957);
    assert_eq!(snap.stats.duplicate_spans, 0);
    // bouncer's one "send iot-events360" reached five pusher hosts: five server halves.
    let send = span(&snap, "cbab506b53f336fc");
    assert_eq!(send.kind, SpanKind::Client);
    let receivers = spans(&snap)
        .filter(|s| s.parent_span_id == Some(send.span_id) && s.kind == SpanKind::Server)
        .count();
    assert_eq!(receivers, 5);
    assert!(snap.traces[0].orphans.is_empty());
    assert!(
        spans(&snap).all(|s| s.start_ns > 0),
        "every span placed in time"
    );
}

#[test]
fn otlp_spans_without_a_start_time_start_with_their_parent() {
    let line = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"},{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174","name":"work"}]}]}]}"#;
    let mut got = Vec::new();
    let summary =
        spantop::ingest::file::read_from(Path::new("t.jsonl"), line.as_bytes(), &mut |b| {
            got.extend(b.spans)
        })
        .expect("readable");
    assert!(summary.is_clean(), "{summary}");
    let child = got
        .iter()
        .find(|s| s.name.as_str() == "work")
        .expect("child");
    assert_eq!(child.start_ns, 1_700_000_000_000_000_000);
}
