//! The input the benchmarks share: OTLP requests of realistic spans.
//!
//! Each bench uses part of this module; the rest would be dead code to it.
#![allow(dead_code)]

pub mod ui;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::Event};

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
pub fn request(first_trace: u128, n: usize) -> ExportTraceServiceRequest {
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
