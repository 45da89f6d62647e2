//! Panic isolation end to end: one trace whose analysis panics costs that trace only; the
//! receivers keep accepting and later traces are analysed. And the input that used to panic
//! the pipeline (a non-ASCII character inside `process.creation.time`) is simply not a time.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use spantop::analysis::engine::{AnalysisConfig, TraceFindings, analyse_trace};
use spantop::server::{Server, ServerConfig};
use spantop::store::Trace;

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// One single-span trace from a FaaS function whose process started at `created`.
fn request(trace: u8, name: &str, created: &str) -> ExportTraceServiceRequest {
    let start = 1_700_000_000_000_000_000 + u64::from(trace) * 1_000_000;
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout-fn"),
                    kv("faas.name", "checkout-fn"),
                    kv("faas.instance", &format!("i-{trace}")),
                    kv("process.creation.time", created),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![trace; 16],
                    span_id: vec![trace; 8],
                    name: name.into(),
                    kind: 2,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 5_000_000,
                    attributes: vec![kv("faas.trigger", "http")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The real analysis, except that a trace with a span named "boom" panics.
fn fragile(t: &Trace, cfg: &AnalysisConfig) -> TraceFindings {
    assert!(
        !t.spans.iter().any(|s| s.name.as_str() == "boom"),
        "injected analysis failure"
    );
    analyse_trace(t, cfg)
}

async fn start(fragile_analysis: bool) -> Server {
    let mut config = ServerConfig::ephemeral();
    config.pipeline.store.inactivity_timeout = Duration::from_millis(100);
    config.pipeline.tick_interval = Duration::from_millis(20);
    config.pipeline.findings_interval = Duration::from_millis(20);
    if fragile_analysis {
        config.pipeline.analyser = fragile;
    }
    Server::start(config).await.expect("server starts")
}

/// Waits until the published view counts `traces` analysed and `failures` failed.
async fn wait_for(server: &mut Server, traces: usize, failures: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (analysed, failed) = {
            let v = server.view.borrow_and_update();
            (v.analysed_traces, v.analysis_failures)
        };
        if (analysed, failed) == (traces, failures) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out: {analysed} traces analysed, {failed} failures"
        );
        let _ = tokio::time::timeout(left, server.view.changed()).await;
    }
}

async fn export(server: &Server, req: ExportTraceServiceRequest) {
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connect");
    let resp = client.export(req).await.expect("export accepted");
    assert!(
        resp.into_inner()
            .partial_success
            .is_none_or(|p| p.rejected_spans == 0),
        "no span rejected"
    );
}

const CREATED: &str = "2023-11-14T22:13:19.5Z";

#[tokio::test]
async fn a_trace_whose_analysis_panics_costs_only_that_trace() {
    let mut server = start(true).await;
    export(&server, request(1, "GET /cart", CREATED)).await;
    export(&server, request(2, "boom", CREATED)).await;
    export(&server, request(3, "GET /pay", CREATED)).await;
    wait_for(&mut server, 2, 1).await;
    // The pipeline and the receivers keep serving after the panic.
    export(&server, request(4, "GET /ship", CREATED)).await;
    wait_for(&mut server, 3, 1).await;
    let stopped = server.stop().await.expect("clean stop");
    assert_eq!(stopped.analysis_failures, 1);
    assert_eq!(stopped.store.stats().spans_received, 4);
}

#[tokio::test]
async fn a_non_ascii_process_creation_time_is_not_a_time_and_not_a_crash() {
    let mut server = start(false).await;
    // Each of these once panicked `parse_rfc3339_ns` (a byte slice inside a multi-byte char).
    export(
        &server,
        request(1, "GET /a", "2023-11-14T22:13:19.12345678é"),
    )
    .await;
    export(
        &server,
        request(2, "GET /b", "2023-11-14T22:13:19.1234567890é"),
    )
    .await;
    export(&server, request(3, "GET /c", CREATED)).await;
    wait_for(&mut server, 3, 0).await;
    let invocations: usize = server
        .view
        .borrow()
        .findings
        .cold_starts
        .by_function
        .iter()
        .map(|c| c.invocations)
        .sum();
    assert_eq!(invocations, 3, "every invocation is analysed");
    // Still serving.
    export(&server, request(4, "GET /d", CREATED)).await;
    wait_for(&mut server, 4, 0).await;
    server.stop().await.expect("clean stop");
}
