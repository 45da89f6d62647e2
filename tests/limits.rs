//! Every receiver limit refuses or cuts as documented, counts it, and the next good request is
//! served: attribute value length, attributes/events/links per span, spans per trace, body
//! size and gzip bombs on both transports for all three signals (gRPC answering
//! RESOURCE_EXHAUSTED), undecodable and wrongly compressed gRPC counted as malformed,
//! throttling counted, connection limit.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use spantop::ingest::BodyLimits;
use spantop::ingest::limits::SpanLimits;
use spantop::server::{Server, ServerConfig};
use tokio::io::AsyncReadExt;
use tonic::codec::CompressionEncoding;

mod common;
use common::{gzip, start, wait_for_spans};

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

fn kv(key: &str, s: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(s.into())),
        }),
        ..Default::default()
    }
}

fn span(trace: u8, id: u64) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: id.to_be_bytes().to_vec(),
        name: "op".into(),
        start_time_unix_nano: 1_700_000_000_000_000_000 + id,
        end_time_unix_nano: 1_700_000_000_000_001_000 + id,
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn post_proto(server: &Server, body: Vec<u8>, encoding: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}/v1/traces", server.http_addr))
        .header("content-type", "application/x-protobuf")
        .body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    req.send().await.expect("reaches the server")
}

/// A hand-framed gRPC request (flag byte, length, payload): what a broken client might send.
async fn raw_grpc(
    server: &Server,
    compressed: bool,
    encoding: Option<&str>,
    payload: &[u8],
) -> String {
    raw_grpc_to(server, EXPORT, compressed, encoding, payload).await
}

async fn raw_grpc_to(
    server: &Server,
    path: &str,
    compressed: bool,
    encoding: Option<&str>,
    payload: &[u8],
) -> String {
    let mut body = vec![u8::from(compressed)];
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(payload);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let mut req = client
        .post(format!("http://{}{path}", server.grpc_addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body);
    if let Some(e) = encoding {
        req = req.header("grpc-encoding", e);
    }
    let resp = req.send().await.expect("reaches the server");
    resp.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_limits_truncate_and_drop_on_both_transports_and_say_so() {
    let mut config = ServerConfig::ephemeral();
    config.receivers.span_limits = SpanLimits {
        max_attribute_value_bytes: 8,
        max_attributes: 2,
        max_events: 1,
        max_links: 1,
    };
    config.pipeline.store.max_spans_per_trace = 4;
    let mut server = start(config).await;

    let mut big = span(1, 1);
    big.attributes = vec![
        kv("long", "0123456789abcdef"),
        kv("ok", "short"),
        kv("third", "x"),
    ];
    big.events = (0..3)
        .map(|i| Event {
            time_unix_nano: 1_700_000_000_000_000_000 + i,
            name: "e".into(),
            ..Default::default()
        })
        .collect();
    big.links = (0..2)
        .map(|i| Link {
            trace_id: vec![9; 16],
            span_id: (i + 1u64).to_be_bytes().to_vec(),
            ..Default::default()
        })
        .collect();
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects");
    client
        .export(request(vec![big.clone()]))
        .await
        .expect("accepted over gRPC");
    let mut over_http = big;
    over_http.trace_id = vec![2; 16];
    let resp = post_proto(&server, request(vec![over_http]).encode_to_vec(), None).await;
    assert_eq!(resp.status(), 200);
    // Trace 3 has 6 spans; 4 are kept.
    client
        .export(request((1..=6).map(|i| span(3, i)).collect()))
        .await
        .expect("accepted");
    wait_for_spans(&mut server, 6).await;

    let stats = server.counters.read();
    assert_eq!(stats.values_truncated, 2);
    assert_eq!(stats.attributes_dropped, 2);
    assert_eq!(stats.events_dropped, 4);
    assert_eq!(stats.links_dropped, 2);
    let store = server.snapshots.borrow().stats;
    assert_eq!(store.spans_over_trace_limit, 2);
    let line = spantop::server::summary_line(&store, &stats, 0, 0, 0, Duration::from_secs(1));
    assert!(
        line.contains("limits: truncated 2 values, dropped 2 attributes, 4 events, 2 links, 2 spans over the per-trace limit"),
        "{line}"
    );
    let mut stopped = server.stop().await.expect("stops");
    let snapshot = stopped.store.snapshot();
    for t in [1u8, 2] {
        let id = spantop::model::TraceId::from_bytes(&[t; 16]).expect("id");
        let trace = snapshot
            .traces
            .iter()
            .find(|t| t.trace_id == id)
            .cloned()
            .expect("trace held");
        let s = &trace.spans[0];
        assert_eq!(s.attributes.len(), 2);
        assert_eq!(s.attributes[0].value.as_str(), Some("01234567"));
        assert_eq!((s.events.len(), s.links.len()), (1, 1));
        let extra = s.extra.as_ref().expect("dropped counts");
        assert_eq!(extra.dropped_attributes_count, 1);
        assert_eq!(extra.dropped_events_count, 2);
        assert_eq!(extra.dropped_links_count, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bombs_and_broken_grpc_are_refused_counted_and_the_next_request_served() {
    let mut config = ServerConfig::ephemeral();
    config.receivers.body_limits = BodyLimits::both(64 * 1024);
    let mut server = start(config).await;
    let big = request((1..=3000).map(|i| span(1, i)).collect()).encode_to_vec();
    assert!(big.len() > 64 * 1024);
    let bomb = gzip(&vec![0u8; 40 << 20]);
    assert!(bomb.len() < 64 * 1024, "the bomb fits under the body limit");

    // gRPC: too large as sent, and a small compressed message inflating past the limit.
    assert_eq!(raw_grpc(&server, false, None, &big).await, "8");
    assert_eq!(raw_grpc(&server, true, Some("gzip"), &bomb).await, "8");
    let status = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects")
        .export(ExportTraceServiceRequest::decode(big.as_slice()).expect("decodes"))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    // Undecodable, and wrongly compressed (not gzip, or an encoding not offered).
    assert_eq!(raw_grpc(&server, false, None, b"\xff\xff\xff").await, "3");
    assert_ne!(
        raw_grpc(&server, true, Some("gzip"), b"not gzip").await,
        "0"
    );
    assert_ne!(raw_grpc(&server, true, Some("br"), b"whatever").await, "0");
    // HTTP: too large, a bomb, undecodable.
    assert_eq!(post_proto(&server, big.clone(), None).await.status(), 413);
    assert_eq!(post_proto(&server, bomb, Some("gzip")).await.status(), 413);
    assert_eq!(
        post_proto(&server, b"\xff\xff".to_vec(), None)
            .await
            .status(),
        400
    );
    assert_eq!(server.counters.read().requests_malformed, 9);

    // Both transports still take a good request, compressed too.
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects")
        .send_compressed(CompressionEncoding::Gzip);
    client
        .export(request(vec![span(5, 1)]))
        .await
        .expect("good gRPC request accepted");
    let body = gzip(&request(vec![span(6, 1)]).encode_to_vec());
    assert_eq!(post_proto(&server, body, Some("gzip")).await.status(), 200);
    wait_for_spans(&mut server, 2).await;
    assert_eq!(server.counters.read().requests_malformed, 9);
    server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_and_counted_and_freed_places_are_reused() {
    let mut config = ServerConfig::ephemeral();
    config.receivers.max_connections = 2;
    let mut server = start(config).await;
    let idle: Vec<tokio::net::TcpStream> = futures_connect(server.grpc_addr, 2).await;
    // Give the accept loop time to take both before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(server.grpc_addr)
        .await
        .expect("TCP connects");
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("closed promptly")
        .unwrap_or(0);
    assert_eq!(n, 0, "the connection over the limit is closed");
    assert_eq!(server.counters.read().connections_refused, 1);
    // The other receiver has its own places.
    let resp = post_proto(&server, request(vec![span(1, 1)]).encode_to_vec(), None).await;
    assert_eq!(resp.status(), 200);
    drop(idle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects once places are free")
        .export(request(vec![span(2, 1)]))
        .await
        .expect("accepted");
    wait_for_spans(&mut server, 2).await;
    let stats = server.counters.read();
    assert_eq!(stats.connections_refused, 1);
    assert!(stats.limit_hits() >= 1);
    server.stop().await.expect("stops");
}

async fn futures_connect(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(
            tokio::net::TcpStream::connect(addr)
                .await
                .expect("connects"),
        );
    }
    v
}

const LOGS_EXPORT: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const METRICS_EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

fn logs_request(records: usize, body: &str) -> ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..records)
                    .map(|i| LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                        body: kv("b", body).value,
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics_request(points: usize) -> ExportMetricsServiceRequest {
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric,
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "load".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: (0..points)
                            .map(|i| NumberDataPoint {
                                time_unix_nano: i as u64,
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn post_to(server: &Server, path: &str, body: Vec<u8>, encoding: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}{path}", server.http_addr))
        .header("content-type", "application/x-protobuf")
        .body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    req.send()
        .await
        .expect("reaches the server")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_logs_and_metrics_are_refused_resource_exhausted_and_counted_like_traces() {
    let mut config = ServerConfig::ephemeral();
    config.receivers.body_limits = BodyLimits::both(64 * 1024);
    let server = start(config).await;
    let endpoint = format!("http://{}", server.grpc_addr);
    let big_logs = logs_request(200, &"x".repeat(1024));
    let big_metrics = metrics_request(10_000);
    assert!(big_logs.encoded_len() > 64 * 1024 && big_metrics.encoded_len() > 64 * 1024);
    let bomb = gzip(&vec![0u8; 40 << 20]);

    // The real clients see RESOURCE_EXHAUSTED, which OTLP exporters do not retry.
    let mut logs = LogsServiceClient::connect(endpoint.clone())
        .await
        .expect("connects");
    let status = logs.export(big_logs.clone()).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
    let mut metrics = MetricsServiceClient::connect(endpoint)
        .await
        .expect("connects");
    let status = metrics
        .export(big_metrics.clone())
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
    // Bombs, and undecodable messages.
    assert_eq!(
        raw_grpc_to(&server, LOGS_EXPORT, true, Some("gzip"), &bomb).await,
        "8"
    );
    assert_eq!(
        raw_grpc_to(&server, METRICS_EXPORT, true, Some("gzip"), &bomb).await,
        "8"
    );
    // INVALID_ARGUMENT as for traces (tonic's codec says INTERNAL, which exporters retry).
    assert_eq!(
        raw_grpc_to(&server, LOGS_EXPORT, false, None, b"\xff\xff\xff").await,
        "3"
    );
    assert_eq!(server.counters.read().requests_malformed, 5);
    // Over HTTP, the same refusals as for traces.
    assert_eq!(
        post_to(&server, "/v1/logs", big_logs.encode_to_vec(), None).await,
        413
    );
    assert_eq!(
        post_to(&server, "/v1/metrics", bomb, Some("gzip")).await,
        413
    );
    assert_eq!(server.counters.read().requests_malformed, 7);

    // And the next good requests are served on the same connections.
    logs.export(logs_request(3, "fits"))
        .await
        .expect("good logs accepted");
    metrics
        .export(metrics_request(4))
        .await
        .expect("good metrics accepted");
    let stats = server.counters.read();
    assert_eq!((stats.logs_received, stats.metric_points), (3, 4));
    assert_eq!(stats.requests_malformed, 7, "good requests are not counted");
    server.stop().await.expect("stops");
}
