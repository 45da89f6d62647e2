//! A minimal Rust OTLP/gRPC load generator for measuring `spantop serve` ingest:
//!
//! ```sh
//! cargo run --release --example otlp_load -- http://127.0.0.1:4317 [seconds] [concurrency] [spans_per_request]
//! ```
//!
//! Sends realistic spans (ten attributes, one event, shared resource) in requests of
//! `spans_per_request`, 20 spans per trace, fresh trace ids every request, from `concurrency`
//! tasks over one HTTP/2 connection each, for `seconds`. Prints spans/s accepted, bytes per
//! span on the wire, and how many requests were throttled.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};
use prost::Message;

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn template(spans_per_request: usize) -> ExportTraceServiceRequest {
    let base = 1_700_000_000_000_000_000u64;
    let spans = (0..spans_per_request)
        .map(|i| {
            let in_trace = (i % 20) as u64;
            Span {
                trace_id: vec![0; 16],
                span_id: (in_trace + 1).to_be_bytes().to_vec(),
                parent_span_id: if in_trace == 0 {
                    vec![]
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: [
                    "GET /api/orders",
                    "SELECT orders",
                    "inventory.Reserve",
                    "charge",
                ][i % 4]
                    .into(),
                kind: [2, 3, 1, 3][i % 4],
                start_time_unix_nano: base + in_trace * 1_000_000,
                end_time_unix_nano: base + in_trace * 1_000_000 + 800_000,
                attributes: vec![
                    kv("http.request.method", s("GET")),
                    kv("url.path", s("/api/orders/12345")),
                    kv("http.response.status_code", any_value::Value::IntValue(200)),
                    kv("server.address", s("orders.internal")),
                    kv("server.port", any_value::Value::IntValue(8080)),
                    kv("db.system.name", s("postgresql")),
                    kv("db.query.text", s("SELECT * FROM orders WHERE id = $1")),
                    kv("network.peer.address", s("10.0.3.17")),
                    kv("user_agent.original", s("Mozilla/5.0 (X11; Linux x86_64)")),
                    kv("app.retry", any_value::Value::BoolValue(false)),
                ],
                events: vec![Event {
                    time_unix_nano: base + in_trace * 1_000_000 + 100,
                    name: "cache.miss".into(),
                    attributes: vec![kv("cache.key", s("order:12345"))],
                    dropped_attributes_count: 0,
                }],
                status: Some(Status {
                    code: 0,
                    message: String::new(),
                }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("orders")),
                    kv("service.version", s("1.4.2")),
                    kv("service.instance.id", s("orders-7d9f8b-x2x9q")),
                    kv("telemetry.sdk.language", s("rust")),
                    kv("telemetry.sdk.name", s("opentelemetry")),
                    kv("host.name", s("ip-10-0-3-17")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "load".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:4317".into());
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let concurrency: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(4);
    let per_request: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let tmpl = template(per_request);
    let bytes_per_span = tmpl.encoded_len() as f64 / per_request as f64;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = TraceServiceClient::connect(endpoint.clone())
            .await?
            .max_encoding_message_size(64 << 20);
        let mut req = tmpl.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut throttled) = (0u64, 0u64);
            let mut seq = (worker as u128) << 96;
            while Instant::now() < deadline {
                // Fresh trace ids each request: 20 spans per trace.
                for (i, span) in req.resource_spans[0].scope_spans[0]
                    .spans
                    .iter_mut()
                    .enumerate()
                {
                    let id = seq + (i / 20) as u128 + 1;
                    span.trace_id.copy_from_slice(&id.to_be_bytes());
                }
                seq += (per_request / 20 + 1) as u128;
                match client.export(req.clone()).await {
                    Ok(_) => sent += per_request as u64,
                    Err(s) if s.code() == tonic::Code::Unavailable => throttled += 1,
                    Err(s) => return Err(s),
                }
            }
            Ok((sent, throttled))
        }));
    }
    let (mut sent, mut throttled) = (0, 0);
    for t in tasks {
        let (s, th) = t.await??;
        sent += s;
        throttled += th;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {sent} spans in {secs:.1}s = {:.0} spans/s ({:.1} MB/s of protobuf, {bytes_per_span:.0} bytes/span), {throttled} requests throttled",
        sent as f64 / secs,
        sent as f64 * bytes_per_span / secs / 1e6
    );
    Ok(())
}
