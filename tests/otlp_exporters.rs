//! End to end with real OpenTelemetry exporters: the `opentelemetry-otlp` crate sends a small
//! multi-service trace through `SdkTracerProvider`s to spantop on 127.0.0.1:0, over gRPC (gzip),
//! HTTP protobuf (gzip) and HTTP JSON, and the assembled trace must hold every span once, with
//! the right parents, services, kinds, attributes and links.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::trace::{
    Link, Span as _, SpanKind as OtelKind, Status as OtelStatus, TraceContextExt, Tracer,
    TracerProvider as _,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use spantop::model::{AnyValue, SpanId, SpanKind, StatusCode, TraceId};
use spantop::server::{Server, ServerConfig};

mod common;
use common::wait_for;

#[derive(Clone, Copy, Debug)]
enum Transport {
    GrpcGzip,
    HttpProtoGzip,
    HttpJson,
}

fn provider(
    service: &str,
    grpc: SocketAddr,
    http: SocketAddr,
    transport: Transport,
) -> SdkTracerProvider {
    let exporter = match transport {
        Transport::GrpcGzip => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{}", grpc))
            .with_compression(opentelemetry_otlp::Compression::Gzip)
            .build(),
        Transport::HttpProtoGzip => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("http://{http}/v1/traces"))
            .with_compression(opentelemetry_otlp::Compression::Gzip)
            .build(),
        Transport::HttpJson => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(format!("http://{http}/v1/traces"))
            .build(),
    }
    .expect("exporter builds");
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .with_attribute(KeyValue::new("service.instance.id", format!("{service}-1")))
                .build(),
        )
        .build()
}

fn sid(cx: &opentelemetry::trace::SpanContext) -> SpanId {
    SpanId::from_bytes(&cx.span_id().to_bytes()).expect("sdk span ids are valid")
}

fn tid(cx: &opentelemetry::trace::SpanContext) -> TraceId {
    TraceId::from_bytes(&cx.trace_id().to_bytes()).expect("sdk trace ids are valid")
}

struct Expected {
    trace: TraceId,
    other_trace: TraceId,
    spans: HashMap<SpanId, (&'static str, &'static str, Option<SpanId>, SpanKind)>,
    linked: (TraceId, SpanId),
    payments_server: SpanId,
    validate: SpanId,
}

/// gateway (transport A) -> orders (transport B) -> payments (transport C); payments links to
/// a span of another trace (a batch job), as messaging consumers do.
fn emit_trace(
    gw: &SdkTracerProvider,
    orders: &SdkTracerProvider,
    pay: &SdkTracerProvider,
) -> Expected {
    let gw_t = gw.tracer("e2e-gateway");
    let orders_t = orders.tracer("e2e-orders");
    let pay_t = pay.tracer("e2e-payments");
    let mut spans = HashMap::new();

    let mut job = orders_t
        .span_builder("nightly-batch")
        .with_kind(OtelKind::Producer)
        .start(&orders_t);
    let job_cx = job.span_context().clone();
    job.end();
    spans.insert(
        sid(&job_cx),
        ("nightly-batch", "orders", None, SpanKind::Producer),
    );

    let root = gw_t
        .span_builder("GET /checkout")
        .with_kind(OtelKind::Server)
        .start(&gw_t);
    let root_cx = root.span_context().clone();
    let cx = Context::current_with_span(root);
    spans.insert(
        sid(&root_cx),
        ("GET /checkout", "gateway", None, SpanKind::Server),
    );

    let client = gw_t
        .span_builder("POST /orders")
        .with_kind(OtelKind::Client)
        .start_with_context(&gw_t, &cx);
    let client_cx = client.span_context().clone();
    spans.insert(
        sid(&client_cx),
        (
            "POST /orders",
            "gateway",
            Some(sid(&root_cx)),
            SpanKind::Client,
        ),
    );
    let remote = Context::new().with_remote_span_context(client_cx.clone());

    let server = orders_t
        .span_builder("POST /orders")
        .with_kind(OtelKind::Server)
        .start_with_context(&orders_t, &remote);
    let server_cx = server.span_context().clone();
    spans.insert(
        sid(&server_cx),
        (
            "POST /orders",
            "orders",
            Some(sid(&client_cx)),
            SpanKind::Server,
        ),
    );
    let orders_cx = Context::current_with_span(server);

    let mut validate = orders_t
        .span_builder("validate")
        .with_kind(OtelKind::Internal)
        .with_attributes(vec![
            KeyValue::new("order.items", 3i64),
            KeyValue::new("order.total", 59.5f64),
            KeyValue::new("order.express", true),
            KeyValue::new("order.id", "o-42"),
            KeyValue::new(
                "order.skus",
                Value::Array(Array::String(vec![
                    StringValue::from("a1"),
                    StringValue::from("b2"),
                ])),
            ),
        ])
        .start_with_context(&orders_t, &orders_cx);
    validate.add_event("validated", vec![KeyValue::new("rules", 7i64)]);
    validate.set_status(OtelStatus::error("stock check failed"));
    let validate_cx = validate.span_context().clone();
    validate.end();
    spans.insert(
        sid(&validate_cx),
        (
            "validate",
            "orders",
            Some(sid(&server_cx)),
            SpanKind::Internal,
        ),
    );

    let charge = orders_t
        .span_builder("charge")
        .with_kind(OtelKind::Client)
        .start_with_context(&orders_t, &orders_cx);
    let charge_cx = charge.span_context().clone();
    spans.insert(
        sid(&charge_cx),
        ("charge", "orders", Some(sid(&server_cx)), SpanKind::Client),
    );
    let remote = Context::new().with_remote_span_context(charge_cx.clone());
    let mut pay_server = pay_t
        .span_builder("charge")
        .with_kind(OtelKind::Server)
        .with_links(vec![Link::with_context(job_cx.clone())])
        .start_with_context(&pay_t, &remote);
    let pay_cx = pay_server.span_context().clone();
    spans.insert(
        sid(&pay_cx),
        (
            "charge",
            "payments",
            Some(sid(&charge_cx)),
            SpanKind::Server,
        ),
    );
    pay_server.end();

    let mut charge = charge;
    charge.end();
    orders_cx.span().end();
    let mut client = client;
    client.end();
    cx.span().end();

    Expected {
        trace: tid(&root_cx),
        other_trace: tid(&job_cx),
        spans,
        linked: (tid(&job_cx), sid(&job_cx)),
        payments_server: sid(&pay_cx),
        validate: sid(&validate_cx),
    }
}

async fn run_scenario(a: Transport, b: Transport, c: Transport) {
    let mut config = ServerConfig::ephemeral();
    config.pipeline.store.inactivity_timeout = Duration::from_millis(300);
    config.pipeline.tick_interval = Duration::from_millis(50);
    let mut server = Server::start(config).await.expect("server starts");
    let (grpc, http) = (server.grpc_addr, server.http_addr);
    // The SDK exports from its own thread and flushing blocks; the blocking HTTP client must not
    // live on an async worker either. The gRPC client still finds this runtime from here.
    let expected = tokio::task::spawn_blocking(move || {
        let gw = provider("gateway", grpc, http, a);
        let orders = provider("orders", grpc, http, b);
        let pay = provider("payments", grpc, http, c);
        let expected = emit_trace(&gw, &orders, &pay);
        for p in [gw, orders, pay] {
            p.shutdown().expect("provider flushes and shuts down");
        }
        expected
    })
    .await
    .expect("exporting task");

    let want = expected.spans.len() - 1; // the batch-job span is in its own trace
    let snap = wait_for(&mut server, "the trace to complete", |s| {
        let held = |id| s.traces.iter().find(|t| t.trace_id == id);
        held(expected.trace).is_some_and(|t| t.spans.len() == want)
            && held(expected.other_trace).is_some()
    })
    .await;
    let trace = snap
        .traces
        .iter()
        .find(|t| t.trace_id == expected.trace)
        .expect("trace completed");
    assert_eq!(trace.spans.len(), want, "every span once");
    assert!(trace.orphans.is_empty(), "every parent arrived");
    for span in &trace.spans {
        let (name, service, parent, kind) =
            expected.spans.get(&span.span_id).expect("known span id");
        assert_eq!(span.name.as_str(), *name);
        assert_eq!(span.service().as_str(), *service);
        assert_eq!(span.parent_span_id, *parent, "parent of {name}");
        assert_eq!(span.kind, *kind, "kind of {name}");
        assert!(span.end_ns >= span.start_ns && span.start_ns > 0);
        assert_eq!(
            span.resource
                .attr("service.instance.id")
                .and_then(AnyValue::as_str),
            Some(format!("{service}-1").as_str())
        );
    }
    let validate = trace.span(expected.validate).expect("validate span");
    assert_eq!(validate.attr("order.items"), Some(&AnyValue::Int(3)));
    assert_eq!(validate.attr("order.total"), Some(&AnyValue::Double(59.5)));
    assert_eq!(validate.attr("order.express"), Some(&AnyValue::Bool(true)));
    assert_eq!(
        validate.attr("order.id"),
        Some(&AnyValue::Str("o-42".into()))
    );
    assert_eq!(
        validate.attr("order.skus"),
        Some(&AnyValue::Array(
            vec![AnyValue::Str("a1".into()), AnyValue::Str("b2".into())].into()
        ))
    );
    assert_eq!(validate.status.code, StatusCode::Error);
    assert_eq!(
        validate.status.message.as_deref(),
        Some("stock check failed")
    );
    assert_eq!(validate.events.len(), 1);
    assert_eq!(&*validate.events[0].name, "validated");
    assert_eq!(validate.scope.name.as_ref(), "e2e-orders");
    let pay = trace.span(expected.payments_server).expect("payments span");
    assert_eq!(pay.links.len(), 1);
    assert_eq!(
        (pay.links[0].trace_id, pay.links[0].span_id),
        expected.linked
    );

    let stopped = server.stop().await.expect("server stops");
    assert_eq!(stopped.ingest.spans_rejected, 0);
    assert_eq!(stopped.ingest.requests_malformed, 0);
    assert_eq!(stopped.store.stats().duplicate_spans, 0);
    assert_eq!(
        stopped.store.stats().spans_held as usize,
        expected.spans.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_gzip_exporters() {
    run_scenario(
        Transport::GrpcGzip,
        Transport::GrpcGzip,
        Transport::GrpcGzip,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_gzip_exporters() {
    run_scenario(
        Transport::HttpProtoGzip,
        Transport::HttpProtoGzip,
        Transport::HttpProtoGzip,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_transports_including_http_json() {
    run_scenario(
        Transport::GrpcGzip,
        Transport::HttpJson,
        Transport::HttpProtoGzip,
    )
    .await;
}
