//! What each fuzz target (`fuzz/`) runs on one input, here so that the normal test suite runs
//! the same code on stable over every seed and every input a fuzzer ever crashed on
//! (`tests/fuzz_regressions.rs`). An input is fine when the call returns; any panic is a bug.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::analysis::engine::{AnalysisConfig, Engine, analyse_trace};
use crate::ingest::deadlines::Deadlines;
use crate::ingest::{
    BodyLimits, IngestCounters, Intake, file, inflight_limit, otlp::json as otlp_json,
};
use crate::model::{
    AnyValue, Batch, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode,
    Sym, TraceId,
};
use crate::store::{SpanStore, StoreConfig, Trace};

/// The fuzz targets, by the name `fuzz/run.sh` and `tests/data/fuzz/` use.
pub const TARGETS: [&str; 6] = [
    "otlp_proto",
    "otlp_json",
    "jaeger_json",
    "zipkin_json",
    "http_request",
    "trace_analysis",
];

/// OTLP protobuf `ExportTraceServiceRequest` bytes straight into the model (the gRPC codec,
/// OTLP/HTTP protobuf and protobuf files all use this decoder).
pub fn otlp_proto(data: &[u8]) {
    let _ = crate::ingest::otlp::proto::decode_request(data);
}

/// OTLP/JSON: the typed fast path and the lenient path (which must accept whatever the fast
/// path declines), as one JSON line of a file or an OTLP/HTTP JSON body.
pub fn otlp_json(data: &[u8]) {
    let _ = file::fuzzing::otlp_json_fast(data);
    if let Ok(req) = otlp_json::decode_request(data) {
        let _ = crate::ingest::otlp::convert::request_to_batch(req);
    }
}

/// One Jaeger JSON document (API response, UI export, bare trace or span array).
pub fn jaeger_json(data: &[u8]) {
    let _ = file::fuzzing::jaeger(data);
}

/// One Zipkin v2 JSON document (span array).
pub fn zipkin_json(data: &[u8]) {
    let _ = file::fuzzing::zipkin(data);
}

const PATHS: [&str; 5] = ["/v1/traces", "/v1/logs", "/v1/metrics", "/health", "/nope"];
const TYPES: [&str; 4] = [
    "application/x-protobuf",
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
];
const ENCODINGS: [&str; 9] = [
    "",
    "gzip",
    "zstd",
    "deflate",
    "zlib",
    "snappy",
    "x-snappy-framed",
    "lz4",
    "br",
];

/// The OTLP/HTTP request path, from headers to the store's queue, with one runtime and router
/// for every input.
pub struct HttpRequest {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    rx: Mutex<tokio::sync::mpsc::Receiver<Batch>>,
}

impl HttpRequest {
    pub fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::mpsc::channel(1 << 16);
        let intake = Intake::new(
            tx,
            Arc::new(IngestCounters::default()),
            None,
            Duration::ZERO,
        );
        let router = {
            let _guard = rt.enter();
            crate::ingest::http::router(
                intake,
                BodyLimits::both(1 << 20),
                Deadlines::default(),
                inflight_limit(4),
            )
        };
        Ok(HttpRequest {
            rt,
            router,
            rx: Mutex::new(rx),
        })
    }

    /// Byte 0 picks the path, 1 the content type, 2 the encoding; the rest is the body.
    pub fn run(&self, data: &[u8]) {
        use tower::ServiceExt;
        let [a, b, c, body @ ..] = data else { return };
        let mut req = axum::http::Request::post(PATHS[usize::from(*a) % PATHS.len()])
            .header("content-type", TYPES[usize::from(*b) % TYPES.len()]);
        let enc = ENCODINGS[usize::from(*c) % ENCODINGS.len()];
        if !enc.is_empty() {
            req = req.header("content-encoding", enc);
        }
        let Ok(req) = req.body(axum::body::Body::from(body.to_vec())) else {
            return;
        };
        let _ = self.rt.block_on(self.router.clone().oneshot(req));
        if let Ok(mut rx) = self.rx.lock() {
            while rx.try_recv().is_ok() {}
        }
    }
}

const KEYS: [&str; 12] = [
    "faas.coldstart",
    "process.creation.time",
    "faas.invocation_id",
    "faas.instance",
    "http.route",
    "peer.service",
    "db.system",
    "db.statement",
    "messaging.system",
    "rpc.method",
    "cloud.resource_id",
    "process.pid",
];
const SERVICES: [&str; 4] = ["api", "orders", "Initialization", "db"];

/// Reads the input a byte at a time; past its end, zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u64(&mut self, n: usize) -> u64 {
        (0..n).fold(0, |acc, _| (acc << 8) | u64::from(self.u8()))
    }
    fn text(&mut self) -> String {
        let n = usize::from(self.u8() % 24);
        let bytes: Vec<u8> = (0..n).map(|_| self.u8()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn value(b: &mut Bytes<'_>) -> AnyValue {
    match b.u8() % 5 {
        0 => AnyValue::Bool(b.u8().is_multiple_of(2)),
        1 => AnyValue::Int(b.u64(8) as i64),
        2 => AnyValue::Double(f64::from_bits(b.u64(8))),
        _ => AnyValue::Str(b.text().into()),
    }
}

/// The spans of one trace the input describes: ids and parents from a small range (so
/// duplicates, cycles, self-parents and orphans happen), any times, kinds and the attributes
/// the analyses read, with arbitrary (also non-ASCII) values.
pub fn spans_from_bytes(data: &[u8]) -> Vec<Span> {
    let mut b = Bytes(data);
    let resources: Vec<Arc<Resource>> = SERVICES
        .iter()
        .map(|s| {
            Arc::new(Resource::new(vec![KeyValue::new(
                "service.name",
                AnyValue::Str((*s).into()),
            )]))
        })
        .collect();
    let scope = Arc::new(Scope::default());
    let Some(trace_id) = TraceId::from_u128(1) else {
        return Vec::new();
    };
    let mut spans = Vec::new();
    while !b.0.is_empty() && spans.len() < 64 {
        let id = u64::from(b.u8() % 16) + 1;
        let parent = b.u8() % 17;
        let start = b.u64(4) * 1_000;
        let end = start
            .wrapping_add(b.u64(3) * 1_000)
            .wrapping_sub(u64::from(b.u8() % 2) * 5_000_000);
        let kind = match b.u8() % 6 {
            0 => SpanKind::Unspecified,
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            _ => SpanKind::Consumer,
        };
        let n_attrs = b.u8() % 4;
        let attributes = (0..n_attrs)
            .map(|_| {
                let key = KEYS[usize::from(b.u8()) % KEYS.len()];
                KeyValue::new(key, value(&mut b))
            })
            .collect::<Vec<_>>();
        let link = if b.u8() % 5 == 0 {
            let trace = TraceId::from_u128(u128::from(b.u8() % 3) + 1);
            let span = SpanId::from_u64(u64::from(b.u8() % 16) + 1);
            trace
                .zip(span)
                .map(|(trace_id, span_id)| Link::new(trace_id, span_id))
        } else {
            None
        };
        let code = match b.u8() % 3 {
            0 => StatusCode::Unset,
            1 => StatusCode::Ok,
            _ => StatusCode::Error,
        };
        let Some(span_id) = SpanId::from_u64(id) else {
            continue;
        };
        spans.push(Span {
            trace_id,
            span_id,
            parent_span_id: SpanId::from_u64(u64::from(parent)),
            name: Sym::new(&b.text()),
            kind,
            flags: 0,
            start_ns: start,
            end_ns: end,
            status: Status {
                code,
                message: None,
            },
            attributes: attributes.into_boxed_slice(),
            events: Box::new([]),
            links: link.into_iter().collect(),
            resource: Arc::clone(&resources[usize::from(b.u8()) % resources.len()]),
            scope: Arc::clone(&scope),
            extra: None,
        });
    }
    spans
}

/// The per-trace analysis over the spans the input describes (`spans_from_bytes`): through
/// the store, as live ingest builds traces (duplicates dropped there), then the engine's
/// aggregates; and raw, duplicates and all, as a file's spans may arrive.
pub fn trace_analysis(data: &[u8]) {
    let spans = spans_from_bytes(data);
    let Some(trace_id) = spans.first().map(|s| s.trace_id) else {
        return;
    };
    let mut store = SpanStore::new(StoreConfig::default());
    store.ingest(Batch::new(spans.clone()), std::time::Instant::now());
    store.complete_all();
    let config = AnalysisConfig::default();
    let mut engine = Engine::new(config);
    for t in store.take_completed() {
        let _ = analyse_trace(&t, &config);
        engine.add_trace(&t);
    }
    let _ = analyse_trace(&Trace::from_spans(trace_id, spans), &config);
}
