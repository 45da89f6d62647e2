//! `serve --record` with a real exporter (opentelemetry-otlp over gRPC) writes a file that
//! replays to the very traces the server assembled live.

use std::time::Instant;

use opentelemetry::trace::{
    Span as _, SpanKind as OtelKind, Status as OtelStatus, TraceContextExt, Tracer,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use spantop::export::record::RecordConfig;
use spantop::ingest::file::{Format, Framing, read_path};
use spantop::pipeline::receivers::ReceiverConfig;
use spantop::server::{Server, ServerConfig};
use spantop::store::{SpanStore, StoreConfig, Trace};

fn provider(service: &str, endpoint: String) -> SdkTracerProvider {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .expect("exporter builds");
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build()
}

/// Two services, a few traces; values of every kind an SDK sends, NaN included.
fn emit(api: &SdkTracerProvider, db: &SdkTracerProvider) {
    let api_t = api.tracer("record-api");
    let db_t = db.tracer("record-db");
    for i in 0..5i64 {
        let root = api_t
            .span_builder(format!("GET /items/{i}"))
            .with_kind(OtelKind::Server)
            .with_attributes(vec![
                KeyValue::new("http.response.status_code", 200i64),
                KeyValue::new("ratio", f64::NAN),
                KeyValue::new("cached", i % 2 == 0),
            ])
            .start(&api_t);
        let cx = Context::current_with_span(root);
        let mut query = db_t
            .span_builder("SELECT items")
            .with_kind(OtelKind::Client)
            .start_with_context(&db_t, &cx);
        query.add_event("rows", vec![KeyValue::new("count", i)]);
        if i == 3 {
            query.set_status(OtelStatus::error("timeout"));
        }
        query.end();
        cx.span().end();
    }
}

fn by_id(mut traces: Vec<std::sync::Arc<Trace>>) -> Vec<std::sync::Arc<Trace>> {
    traces.sort_by_key(|t| t.trace_id);
    traces
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replays_to_the_same_traces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("recorded.jsonl");
    let server = Server::start(ServerConfig {
        receivers: ReceiverConfig {
            record: Some(RecordConfig::new(&path)),
            ..ReceiverConfig::ephemeral()
        },
        ..ServerConfig::ephemeral()
    })
    .await
    .expect("server starts");
    let endpoint = format!("http://{}", server.grpc_addr);
    tokio::task::spawn_blocking(move || {
        let (api, db) = (provider("api", endpoint.clone()), provider("db", endpoint));
        emit(&api, &db);
        api.shutdown().expect("api flushes");
        db.shutdown().expect("db flushes");
    })
    .await
    .expect("exporters ran");
    let mut stopped = server.stop().await.expect("server stops");
    assert_eq!(stopped.store.stats().spans_held, 10);
    let live = by_id(stopped.store.snapshot().traces.to_vec());

    let mut store = SpanStore::new(StoreConfig::default());
    let now = Instant::now();
    let summary = read_path(&path, &mut |b| store.ingest(b, now)).expect("recording reads");
    assert!(summary.is_clean(), "{summary}");
    assert_eq!(summary.format, Some(Format::OtlpJson));
    assert_eq!(summary.framing, Framing::JsonLines);
    assert_eq!(Some(summary.records), stopped.recorded_lines);
    store.complete_all();
    let replayed = by_id(store.snapshot().traces.to_vec());

    assert_eq!(live.len(), 5);
    assert_eq!(live.len(), replayed.len());
    for (a, b) in live.iter().zip(&replayed) {
        assert_eq!(a.trace_id, b.trace_id);
        assert_eq!(a.spans.len(), b.spans.len());
        for (x, y) in a.spans.iter().zip(&b.spans) {
            // Debug prints every field (resource and scope included), and NaN as "NaN",
            // so equal text means the same span, NaN attributes too.
            assert_eq!(format!("{x:?}"), format!("{y:?}"));
        }
    }
}
