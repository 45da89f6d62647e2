//! Writes a large OTLP JSON lines file and its OTLP protobuf twin (same spans, same records),
//! for replay throughput measurements:
//!
//! ```text
//! cargo run --release --example gen_large -- 1000000 /tmp/large
//! # -> /tmp/large.otlp.jsonl and /tmp/large.otlp.pb
//! cargo run --release --example gen_large -- 100000 /tmp/one 100000   # one 100,000-span trace
//! ```
//!
//! Spans look like instrumented services produce them: traces of 20 spans over 5 services,
//! HTTP and database attributes, an event on every fifth span. Deterministic for a given count.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

use spantop::export::write::{OutputFormat, TraceWriter};
use spantop::model::{
    AnyValue, Event, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Sym,
    TraceId,
};

/// Spans per trace unless the third argument says otherwise.
const SPANS_PER_TRACE: u64 = 20;
/// Traces per record: about 1000 spans a line, like a Collector batch.
const TRACES_PER_RECORD: u64 = 50;
/// A record is cut here too, so a trace of 100,000 spans is many lines.
const SPANS_PER_RECORD: usize = (SPANS_PER_TRACE * TRACES_PER_RECORD) as usize;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().as_deref().unwrap_or("1000000").parse()?;
    let base = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/large".into()));
    let per_trace: u64 = match args.next() {
        Some(v) => v.parse::<u64>()?.max(1),
        None => SPANS_PER_TRACE,
    };
    // Longer traces pack their spans closer, so a big one stays well under a minute.
    let step_ns = 1_000_000 / (per_trace / SPANS_PER_TRACE).max(1);
    let json_path = base.with_extension("otlp.jsonl");
    let proto_path = base.with_extension("otlp.pb");
    let mut json = TraceWriter::new(
        BufWriter::with_capacity(1 << 20, File::create(&json_path)?),
        OutputFormat::OtlpJson,
    );
    let mut proto = TraceWriter::new(
        BufWriter::with_capacity(1 << 20, File::create(&proto_path)?),
        OutputFormat::OtlpProto,
    );
    let services = ["frontend", "checkout", "cart", "payment", "inventory"];
    let resources: Vec<Arc<Resource>> = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Arc::new(Resource::new(vec![
                KeyValue::new("service.name", AnyValue::Str((*s).into())),
                KeyValue::new("service.version", AnyValue::Str("1.4.2".into())),
                KeyValue::new("host.name", AnyValue::Str(format!("node-{i}").into())),
                KeyValue::new("telemetry.sdk.language", AnyValue::Str("rust".into())),
            ]))
        })
        .collect();
    let scope = Arc::new(Scope {
        name: "io.opentelemetry.http".into(),
        version: Some("0.33.0".into()),
        ..Scope::default()
    });
    let traces = n.div_ceil(per_trace);
    let mut batch: Vec<Span> = Vec::new();
    // One record of both files.
    let mut write = |batch: &mut Vec<Span>| -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Group by resource within the record, as an SDK batch would.
        batch.sort_by_key(|s| Arc::as_ptr(&s.resource) as usize);
        json.write(batch)?;
        proto.write(batch)?;
        batch.clear();
        Ok(())
    };
    let mut written = 0u64;
    for t in 0..traces {
        let trace_id =
            TraceId::from_u128(0x5b8e_fff7_9803_8103_0000_0000_0000_0000 | (u128::from(t) + 1))
                .ok_or_else(|| anyhow::anyhow!("zero trace id"))?;
        let t0 = 1_700_000_000_000_000_000 + t * 50_000_000;
        for i in 0..per_trace.min(n - written) {
            let id = t * per_trace + i + 1;
            let span_id = SpanId::from_u64(id).ok_or_else(|| anyhow::anyhow!("zero span id"))?;
            // A chain with fan-out: span i's parent is span (i-1)/2.
            let parent = (i > 0).then(|| t * per_trace + (i - 1) / 2 + 1);
            let svc = (i as usize) % services.len();
            let start = t0 + i * step_ns;
            batch.push(Span {
                trace_id,
                span_id,
                parent_span_id: parent.and_then(SpanId::from_u64),
                name: Sym::new(["GET /api/cart", "SELECT cart", "POST /pay", "reserve"][svc % 4]),
                kind: if i % 2 == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                },
                flags: 1,
                start_ns: start,
                end_ns: start + 40_000_000 - (i % SPANS_PER_TRACE) * 1_500_000,
                status: Status {
                    code: if id.is_multiple_of(97) {
                        StatusCode::Error
                    } else {
                        StatusCode::Unset
                    },
                    message: None,
                },
                attributes: vec![
                    KeyValue::new("http.request.method", AnyValue::Str("GET".into())),
                    KeyValue::new("http.route", AnyValue::Str("/api/cart/{id}".into())),
                    KeyValue::new("http.response.status_code", AnyValue::Int(200)),
                    KeyValue::new("server.address", AnyValue::Str(services[svc].into())),
                    KeyValue::new("db.system", AnyValue::Str("postgresql".into())),
                    KeyValue::new("app.cart.items", AnyValue::Int((id % 7) as i64)),
                ]
                .into(),
                events: if id.is_multiple_of(5) {
                    vec![Event {
                        time_ns: start + 1000,
                        name: "cache.miss".into(),
                        attributes: vec![KeyValue::new(
                            "cache.key",
                            AnyValue::Str(format!("cart:{id}").into()),
                        )]
                        .into(),
                        dropped_attributes_count: 0,
                    }]
                    .into()
                } else {
                    Box::default()
                },
                links: Box::default(),
                resource: Arc::clone(&resources[svc]),
                scope: Arc::clone(&scope),
                extra: None,
            });
            written += 1;
            if batch.len() >= SPANS_PER_RECORD {
                write(&mut batch)?;
            }
        }
        if (t + 1).is_multiple_of(TRACES_PER_RECORD) || t + 1 == traces {
            write(&mut batch)?;
        }
    }
    let records = json.records;
    json.finish()?;
    proto.finish()?;
    for p in [&json_path, &proto_path] {
        println!("{}: {} bytes", p.display(), std::fs::metadata(p)?.len());
    }
    println!("{written} spans in {traces} traces, {records} records each");
    Ok(())
}
