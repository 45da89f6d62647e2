//! Ingest throughput and memory per held span, in process (no network):
//! protobuf decode -> OTLP->model conversion -> `SpanStore::ingest`, then trace completion.
//!
//! ```sh
//! cargo bench --bench ingest            # 1,000,000 spans, direct protobuf -> model decoding
//! VIA_PROST=1 cargo bench --bench ingest   # through the generated prost types instead
//! SPANS=5000000 cargo bench --bench ingest
//! ```
//! Prints spans/s for each stage and resident memory per held span next to the protobuf size
//! of the same spans (the product target: resident memory no larger than that).

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::Event};
use prost::Message;
use spantop::ingest::otlp::convert::request_to_batch;
use spantop::ingest::otlp::proto::decode_request;
use spantop::store::{SpanStore, StoreConfig};

// The same allocator as the binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn st(v: String) -> any_value::Value {
    any_value::Value::StringValue(v)
}

/// One request of `n` spans, 20 per trace, realistic attributes with some unique values.
fn request(first_trace: u128, n: usize) -> ExportTraceServiceRequest {
    let base = 1_700_000_000_000_000_000u64;
    let spans = (0..n)
        .map(|i| {
            let trace = first_trace + (i / 20) as u128;
            let k = (i % 20) as u64;
            Span {
                trace_id: trace.to_be_bytes().to_vec(),
                span_id: (k + 1).to_be_bytes().to_vec(),
                parent_span_id: if k == 0 {
                    vec![]
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: [
                    "GET /api/orders/{id}",
                    "SELECT orders",
                    "inventory.Reserve",
                    "charge",
                ][i % 4]
                    .into(),
                kind: [2, 3, 1, 3][i % 4],
                start_time_unix_nano: base + k * 1_000_000,
                end_time_unix_nano: base + k * 1_000_000 + 800_000,
                attributes: vec![
                    kv("http.request.method", st("GET".into())),
                    kv("url.path", st(format!("/api/orders/{}", trace % 100_000))),
                    kv("http.response.status_code", any_value::Value::IntValue(200)),
                    kv("server.address", st("orders.internal".into())),
                    kv("server.port", any_value::Value::IntValue(8080)),
                    kv("db.system.name", st("postgresql".into())),
                    kv(
                        "db.query.text",
                        st("SELECT * FROM orders WHERE id = $1".into()),
                    ),
                    kv("network.peer.address", st("10.0.3.17".into())),
                    kv(
                        "user_agent.original",
                        st("Mozilla/5.0 (X11; Linux x86_64)".into()),
                    ),
                    kv("app.retry", any_value::Value::BoolValue(false)),
                ],
                events: vec![Event {
                    time_unix_nano: base + k * 1_000_000 + 100,
                    name: "cache.miss".into(),
                    attributes: vec![kv("cache.key", st(format!("order:{trace}")))],
                    dropped_attributes_count: 0,
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", st("orders".into())),
                    kv("service.instance.id", st("orders-7d9f8b-x2x9q".into())),
                    kv("telemetry.sdk.language", st("rust".into())),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let total: usize = std::env::var("SPANS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let per_request = 1000;
    let rounds = total / per_request;
    let spans = rounds * per_request;
    let mut store = SpanStore::new(StoreConfig {
        inactivity_timeout: Duration::from_secs(3600),
        max_memory: usize::MAX,
        ..StoreConfig::default()
    });
    // Requests are made one at a time (untimed) so that what stays resident is the store.
    let rss_before = rss_bytes();
    let (mut convert, mut ingest, mut wire_bytes) = (Duration::ZERO, Duration::ZERO, 0usize);
    let now = Instant::now();
    for r in 0..rounds {
        let body = request(1 + (r * per_request) as u128, per_request).encode_to_vec();
        wire_bytes += body.len();
        let t = Instant::now();
        let batch = if std::env::var_os("VIA_PROST").is_some() {
            let req =
                ExportTraceServiceRequest::decode(body.as_slice()).expect("bench input decodes");
            request_to_batch(req).batch
        } else {
            decode_request(body.as_slice())
                .expect("bench input decodes")
                .batch
        };
        convert += t.elapsed();
        let t = Instant::now();
        store.ingest(batch, now);
        ingest += t.elapsed();
    }
    let t = Instant::now();
    store.complete_all();
    let completed = store.take_completed().len();
    let complete = t.elapsed();
    let rss_after = rss_bytes();
    let stats = store.stats();

    let rate = |d: Duration| spans as f64 / d.as_secs_f64();
    println!(
        "spans: {spans} in {completed} traces, {:.0} protobuf bytes/span",
        wire_bytes as f64 / spans as f64
    );
    println!(
        "decode+convert: {:>10.0} spans/s ({:.1} MB/s)",
        rate(convert),
        wire_bytes as f64 / convert.as_secs_f64() / 1e6
    );
    println!("store ingest:   {:>10.0} spans/s", rate(ingest));
    println!("complete all:   {:>10.0} spans/s", rate(complete));
    println!(
        "end to end:     {:>10.0} spans/s",
        rate(convert + ingest + complete)
    );
    println!(
        "memory: store accounts {:.0} bytes/span; resident grew {:.0} bytes/span (protobuf {:.0})",
        stats.memory_bytes as f64 / spans as f64,
        rss_after.saturating_sub(rss_before) as f64 / spans as f64,
        wire_bytes as f64 / spans as f64
    );
}
