//! The OTLP receivers at the protocol level: partial success, malformed bodies, size limits,
//! gzip, content types, backpressure and recording, with hand-built requests.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use spantop::ingest::deadlines::Deadlines;
use spantop::ingest::http::RpcStatus;
use spantop::ingest::listen::Incoming;
use spantop::ingest::{BodyLimits, IngestCounters, Intake};
use spantop::model::{SpanId, TraceId};

use spantop::server::{Server, ServerConfig};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;

mod common;
use common::{gzip, wait_for_spans};

fn span(trace: [u8; 16], id: u64, parent: u64, name: &str) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        parent_span_id: if parent == 0 {
            vec![]
        } else {
            parent.to_be_bytes().to_vec()
        },
        name: name.into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + id * 1000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + id * 1000 + 500,
        ..Default::default()
    }
}

fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
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

const T1: [u8; 16] = [1; 16];

async fn start(max_message_bytes: usize) -> Server {
    let mut config = ServerConfig::ephemeral();
    config.receivers.body_limits = BodyLimits::both(max_message_bytes);
    config.pipeline.store.inactivity_timeout = Duration::from_millis(200);
    config.pipeline.tick_interval = Duration::from_millis(50);
    Server::start(config).await.expect("server starts")
}

async fn post(
    server: &Server,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("http://{}/v1/traces", server.http_addr))
        .header("content-type", content_type)
        .body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    req.send().await.expect("request reaches the server")
}

#[tokio::test]
async fn grpc_rejects_bad_spans_with_partial_success_and_keeps_the_rest() {
    let mut server = start(1 << 20).await;
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects")
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let mut bad_len = span(T1, 3, 1, "short id");
    bad_len.span_id = vec![1, 2, 3];
    let zero_trace = span([0; 16], 4, 0, "zero trace");
    let req = request(
        "svc",
        vec![
            span(T1, 1, 0, "root"),
            bad_len,
            span(T1, 2, 1, "child"),
            zero_trace,
        ],
    );
    let resp = client
        .export(req)
        .await
        .expect("export answers")
        .into_inner();
    let partial = resp.partial_success.expect("partial success reported");
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("span_id"),
        "{}",
        partial.error_message
    );
    assert!(
        partial.error_message.contains("trace_id"),
        "{}",
        partial.error_message
    );
    wait_for_spans(&mut server, 2).await;

    // A fully valid request: no partial_success at all.
    let ok = client
        .export(request("svc", vec![span([2; 16], 9, 0, "other")]))
        .await
        .expect("export answers")
        .into_inner();
    assert_eq!(
        ok,
        ExportTraceServiceResponse {
            partial_success: None
        }
    );
    let stopped = server.stop().await.expect("stops");
    assert_eq!(stopped.ingest.spans_rejected, 2);
    assert_eq!(stopped.ingest.spans_accepted, 3);
    assert_eq!(stopped.store.stats().traces_held, 2);
}

#[tokio::test]
async fn grpc_refuses_messages_over_the_limit() {
    let server = start(64 * 1024).await;
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects");
    let big: Vec<Span> = (1..=2000)
        .map(|i| span(T1, i, 0, "a-fairly-long-operation-name"))
        .collect();
    let status = client
        .export(request("svc", big.clone()))
        .await
        .expect_err("refused");
    // Not retryable (tonic itself says OUT_OF_RANGE, which OTLP exporters retry).
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    // Compressed below the limit but far above it once inflated: refused all the same.
    let mut gz = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects")
        .send_compressed(CompressionEncoding::Gzip);
    let req = request("svc", big);
    assert!(
        gzip(&req.encode_to_vec()).len() < 64 * 1024,
        "compresses under the limit"
    );
    let status = gz.export(req).await.expect_err("refused after inflating");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    // Still serving.
    client
        .export(request("svc", vec![span(T1, 1, 0, "small")]))
        .await
        .expect("small request accepted");
    server.stop().await.expect("stops");
}

#[tokio::test]
async fn http_protobuf_gzip_and_json_bodies_are_accepted() {
    let mut server = start(1 << 20).await;
    let body = request(
        "proto-svc",
        vec![span(T1, 1, 0, "root"), span(T1, 2, 1, "child")],
    )
    .encode_to_vec();
    let resp = post(&server, "application/x-protobuf", Some("gzip"), gzip(&body)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let decoded = ExportTraceServiceResponse::decode(resp.bytes().await.expect("body"))
        .expect("protobuf response");
    assert_eq!(decoded.partial_success, None);

    let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},
      "scopeSpans":[{"spans":[
        {"traceId":"0202020202020202020202020202020a","spanId":"0000000000000001","name":"j","kind":2,
         "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"},
        {"traceId":"0202020202020202020202020202020a","spanId":"0000000000","name":"bad id","kind":1,
         "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"}]}]}]}"#;
    let resp = post(&server, "application/json", None, json.as_bytes().to_vec()).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json response");
    // int64 is a string in proto3 JSON; some writers use a number. Accept either.
    let rejected = &body["partialSuccess"]["rejectedSpans"];
    assert!(
        rejected == &serde_json::json!(1) || rejected == &serde_json::json!("1"),
        "{body}"
    );
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("span_id"))
    );
    wait_for_spans(&mut server, 3).await;
    let stopped = server.stop().await.expect("stops");
    assert_eq!(stopped.ingest.spans_rejected, 1);
    assert_eq!(stopped.store.stats().services_seen, 2);
}

#[tokio::test]
async fn http_errors_follow_the_otlp_spec_and_the_server_keeps_serving() {
    let mut server = start(64 * 1024).await;

    let resp = post(
        &server,
        "application/x-protobuf",
        None,
        b"\xff\xff\xff not protobuf".to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let status =
        RpcStatus::decode(resp.bytes().await.expect("body")).expect("google.rpc.Status body");
    assert!(status.message.contains("protobuf"), "{}", status.message);

    let resp = post(
        &server,
        "application/json",
        None,
        b"{\"resourceSpans\": [ {".to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json error body");
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("JSON")),
        "{body}"
    );

    let resp = post(&server, "text/plain", None, b"hello".to_vec()).await;
    assert_eq!(resp.status(), 415);

    // An encoding spantop cannot read: 400 with a Status naming the ones it can.
    let resp = post(
        &server,
        "application/x-protobuf",
        Some("br"),
        b"xx".to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let status =
        RpcStatus::decode(resp.bytes().await.expect("body")).expect("google.rpc.Status body");
    assert!(status.message.contains("zstd"), "{}", status.message);

    let resp = post(
        &server,
        "application/x-protobuf",
        Some("gzip"),
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 400);

    let resp = post(
        &server,
        "application/x-protobuf",
        None,
        vec![0u8; 100 * 1024],
    )
    .await;
    assert_eq!(resp.status(), 413);

    // A gzip bomb: 64 KiB on the wire, 8 MiB once inflated.
    let bomb = gzip(&vec![0u8; 8 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let resp = post(&server, "application/x-protobuf", Some("gzip"), bomb).await;
    assert_eq!(resp.status(), 413);

    // After all that, a good request still goes through.
    let body = request("svc", vec![span(T1, 1, 0, "root")]).encode_to_vec();
    let resp = post(&server, "application/x-protobuf", None, body).await;
    assert_eq!(resp.status(), 200);
    wait_for_spans(&mut server, 1).await;
    let stopped = server.stop().await.expect("stops");
    assert_eq!(stopped.ingest.requests_malformed, 7);
}

/// Every body encoding the Collector's confighttp reads, as real exporters produce it.
fn encode_body(encoding: &str, data: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" => gzip(data),
        "deflate" | "zlib" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).expect("zlib in memory");
            e.finish().expect("zlib in memory")
        }
        "zstd" => zstd::encode_all(data, 3).expect("zstd in memory"),
        "snappy" => snap::raw::Encoder::new()
            .compress_vec(data)
            .expect("snappy in memory"),
        "x-snappy-framed" => {
            let mut e = snap::write::FrameEncoder::new(Vec::new());
            e.write_all(data).expect("snappy in memory");
            e.into_inner().expect("snappy in memory")
        }
        "lz4" => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).expect("lz4 in memory");
            e.finish().expect("lz4 in memory")
        }
        other => panic!("no encoder for {other}"),
    }
}

const HTTP_ENCODINGS: [&str; 7] = [
    "gzip",
    "deflate",
    "zlib",
    "zstd",
    "snappy",
    "x-snappy-framed",
    "lz4",
];

#[tokio::test]
async fn http_accepts_every_collector_encoding_and_refuses_their_bombs() {
    let mut server = start(64 * 1024).await;
    for (i, encoding) in HTTP_ENCODINGS.iter().enumerate() {
        let id = i as u64 + 1;
        let body = request(encoding, vec![span(T1, id, 0, encoding)]).encode_to_vec();
        let resp = post(
            &server,
            "application/x-protobuf",
            Some(encoding),
            encode_body(encoding, &body),
        )
        .await;
        assert_eq!(resp.status(), 200, "{encoding}");

        // 1 MiB of zeros, a few KiB on the wire: refused once past the 64 KiB limit.
        let bomb = encode_body(encoding, &vec![0u8; 1 << 20]);
        assert!(bomb.len() < 64 * 1024, "{encoding}: {}", bomb.len());
        let resp = post(&server, "application/x-protobuf", Some(encoding), bomb).await;
        assert_eq!(resp.status(), 413, "{encoding}");
        let status =
            RpcStatus::decode(resp.bytes().await.expect("body")).expect("google.rpc.Status");
        assert!(status.message.contains("limit"), "{}", status.message);
    }
    wait_for_spans(&mut server, HTTP_ENCODINGS.len() as u64).await;
    let stopped = server.stop().await.expect("stops");
    assert_eq!(stopped.ingest.spans_accepted, HTTP_ENCODINGS.len() as u64);
    assert_eq!(
        stopped.ingest.requests_malformed,
        HTTP_ENCODINGS.len() as u64
    );
}

#[tokio::test]
async fn grpc_accepts_gzip_zstd_and_deflate() {
    let mut server = start(1 << 20).await;
    let encodings = [
        CompressionEncoding::Gzip,
        CompressionEncoding::Zstd,
        CompressionEncoding::Deflate,
    ];
    for (i, encoding) in encodings.into_iter().enumerate() {
        let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
            .await
            .expect("connects")
            .send_compressed(encoding)
            .accept_compressed(encoding);
        client
            .export(request("svc", vec![span(T1, i as u64 + 1, 0, "root")]))
            .await
            .unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
        // A bomb: small on the wire, over the limit once inflated.
        let mut big = span(T1, 100 + i as u64, 0, "big");
        big.name = "x".repeat(2 << 20);
        let status = client
            .export(request("svc", vec![big]))
            .await
            .expect_err("over the limit once inflated");
        assert_eq!(
            status.code(),
            tonic::Code::ResourceExhausted,
            "{encoding:?}"
        );
    }
    wait_for_spans(&mut server, 3).await;
    server.stop().await.expect("stops");
}

fn log_request(trace: [u8; 16], span: u64, body: &str) -> ExportLogsServiceRequest {
    let record = |trace_id: Vec<u8>, span_id: Vec<u8>, body: &str| LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000 + span * 1000 + 100,
        severity_number: 17,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        trace_id,
        span_id,
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(trace.to_vec(), span.to_be_bytes().to_vec(), body),
                    record(vec![], vec![], "no span"),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics_request(points: usize) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "requests".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint::default(); points],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn logs_and_metrics_are_accepted_on_both_transports() {
    let mut server = start(1 << 20).await;
    let grpc = format!("http://{}", server.grpc_addr);
    let mut logs = LogsServiceClient::connect(grpc.clone())
        .await
        .expect("connects")
        .send_compressed(CompressionEncoding::Gzip);
    logs.export(log_request(T1, 1, "grpc log"))
        .await
        .expect("logs accepted over gRPC");
    let mut metrics = MetricsServiceClient::connect(grpc).await.expect("connects");
    metrics
        .export(metrics_request(3))
        .await
        .expect("metrics accepted over gRPC");

    let http = |path: &str, content_type: &str, body: Vec<u8>| {
        reqwest::Client::new()
            .post(format!("http://{}{path}", server.http_addr))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let resp = http(
        "/v1/logs",
        "application/x-protobuf",
        log_request(T1, 2, "proto log").encode_to_vec(),
    )
    .await
    .expect("answers");
    assert_eq!(resp.status(), 200);
    let json_log = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000003000",
        "severityText":"WARN","body":{"stringValue":"json log"},
        "traceId":"01010101010101010101010101010101","spanId":"0000000000000003"}]}]}]}"#;
    let resp = http("/v1/logs", "application/json", json_log.into())
        .await
        .expect("answers");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "{}");
    let resp = http(
        "/v1/metrics",
        "application/x-protobuf",
        metrics_request(2).encode_to_vec(),
    )
    .await
    .expect("answers");
    assert_eq!(resp.status(), 200);
    let json_metrics = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"dataPoints":[{"asInt":"1"}]}}]}]}]}"#;
    let resp = http("/v1/metrics", "application/json", json_metrics.into())
        .await
        .expect("answers");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "{}");
    let resp = http("/v1/logs", "application/json", b"{not json".to_vec())
        .await
        .expect("answers");
    assert_eq!(resp.status(), 400);

    // The spans the logs name arrive afterwards; every log ends up with its span.
    let spans = request(
        "svc",
        vec![
            span(T1, 1, 0, "root"),
            span(T1, 2, 1, "child"),
            span(T1, 3, 1, "child"),
        ],
    );
    let resp = http(
        "/v1/traces",
        "application/json",
        serde_json::to_vec(&spans).expect("json"),
    )
    .await
    .expect("answers");
    assert_eq!(resp.text().await.expect("body"), "{}");
    wait_for_spans(&mut server, 3).await;
    let stopped = server.stop().await.expect("stops");
    let trace = stopped
        .store
        .get(TraceId::from_bytes(&T1).expect("id"))
        .expect("trace held");
    let bodies: Vec<String> = (1..=3u64)
        .flat_map(|id| {
            trace
                .logs_of(SpanId::from_u64(id).expect("id"))
                .into_iter()
                .map(|l| format!("{} {}", l.severity, l.body))
        })
        .collect();
    assert_eq!(
        bodies,
        ["ERROR grpc log", "ERROR proto log", "WARN json log"]
    );
    assert_eq!(stopped.ingest.logs_received, 5);
    assert_eq!(stopped.ingest.logs_with_span, 3);
    assert_eq!(stopped.ingest.metric_points, 6);
    assert_eq!(stopped.ingest.requests_malformed, 1);
}

#[tokio::test]
async fn http_answers_other_paths_and_methods_with_what_it_serves() {
    let server = start(1 << 20).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("http://{}/v1/trace", server.http_addr))
        .body("x")
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 404);
    let text = resp.text().await.expect("body");
    assert!(
        text.contains("/v1/trace not found") && text.contains("POST /v1/traces"),
        "{text}"
    );
    let resp = client
        .get(format!("http://{}/v1/traces", server.http_addr))
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 405);
    assert!(resp.text().await.expect("body").contains("POST /v1/traces"));
    server.stop().await.expect("stops");
}

/// Receivers wired to a store that never drains: the queue fills, and exporters are told to
/// retry later instead of the server buffering without bound.
#[tokio::test]
async fn backpressure_gives_retryable_statuses() {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let counters = Arc::new(IngestCounters::default());
    let intake = Intake::new(tx, Arc::clone(&counters), None, Duration::from_millis(50));
    let grpc_listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let grpc_addr = grpc_listener.local_addr().expect("addr");
    let http_addr = http_listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let limit = spantop::ingest::inflight_limit(8);
    let incoming = |l| Incoming::start(l, 16, Arc::clone(&counters)).expect("listens");
    let g = tokio::spawn(spantop::ingest::grpc::serve(
        incoming(grpc_listener),
        intake.clone(),
        BodyLimits::both(1 << 20),
        Deadlines::default(),
        limit.clone(),
        wait(stop_rx.clone()),
    ));
    let h = tokio::spawn(spantop::ingest::http::serve(
        incoming(http_listener),
        intake,
        BodyLimits::both(1 << 20),
        Deadlines::default(),
        limit,
        wait(stop_rx),
    ));

    let mut client = TraceServiceClient::connect(format!("http://{grpc_addr}"))
        .await
        .expect("connects");
    // The first batch fills the one slot; the rest cannot get in.
    client
        .export(request("svc", vec![span(T1, 1, 0, "a")]))
        .await
        .expect("first fits");
    for i in 2..5 {
        let status = client
            .export(request("svc", vec![span(T1, i, 0, "a")]))
            .await
            .expect_err("store is full");
        assert_eq!(status.code(), tonic::Code::Unavailable);
    }
    let resp = reqwest::Client::new()
        .post(format!("http://{http_addr}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(request("svc", vec![span(T1, 9, 0, "a")]).encode_to_vec())
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let stats = counters.read();
    assert_eq!(stats.requests_throttled, 4);
    assert_eq!(stats.spans_accepted, 1);
    assert_eq!(rx.len(), 1, "nothing queued beyond the bound");
    let _ = stop_tx.send(true);
    drop(rx);
    let _ = g.await;
    let _ = h.await;
}

#[tokio::test]
async fn record_writes_every_accepted_batch_as_otlp_json_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rec.jsonl");
    let mut config = ServerConfig::ephemeral();
    config.receivers.record = Some(spantop::export::record::RecordConfig::new(&path));
    let server = Server::start(config).await.expect("starts");
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects");
    for i in 0..5u64 {
        client
            .export(request(
                "rec",
                vec![
                    span(T1, i * 2 + 1, 0, "root"),
                    span(T1, i * 2 + 2, i * 2 + 1, "child"),
                ],
            ))
            .await
            .expect("accepted");
    }
    let stopped = server.stop().await.expect("stops");
    assert_eq!(stopped.recorded_lines, Some(5));
    let text = std::fs::read_to_string(&path).expect("recording exists");
    let mut spans = 0;
    for line in text.lines() {
        let req = spantop::ingest::otlp::json::decode_request(line.as_bytes())
            .expect("each line is an OTLP request");
        let converted = spantop::ingest::otlp::convert::request_to_batch(req);
        assert_eq!(converted.rejected, 0);
        for s in &converted.batch.spans {
            assert_eq!(s.trace_id, TraceId::from_bytes(&T1).expect("id"));
            assert_eq!(s.service().as_str(), "rec");
        }
        spans += converted.batch.spans.len();
    }
    assert_eq!(spans, 10);
    assert_eq!(text.lines().count(), 5);
}

/// An SDK left on its default protocol (http/protobuf) with only the endpoint set to 4317
/// sends HTTP/1.1 to the gRPC port: it is served OTLP/HTTP there, and gRPC keeps working.
#[tokio::test]
async fn http1_on_the_grpc_port_is_served_as_otlp_http() {
    let mut server = start(1 << 20).await;
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/traces", server.grpc_addr))
        .header("content-type", "application/x-protobuf")
        .body(request("h1", vec![span(T1, 1, 0, "root")]).encode_to_vec())
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 200);
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects");
    client
        .export(request("h2", vec![span(T1, 2, 1, "child")]))
        .await
        .expect("gRPC still served");
    wait_for_spans(&mut server, 2).await;
    let stopped = server.stop().await.expect("stops");
    assert_eq!(stopped.ingest.spans_accepted, 2);
}
