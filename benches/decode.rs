//! Criterion benchmarks of the ingest stages, each reporting spans/s (and bytes/s for the
//! decoders), next to the reference crates' bare decoding of the same bytes:
//!
//! - `protobuf`: `otlp::decode` (straight into the model) vs prost into the generated types.
//! - `json`: `otlp::decode` (the typed fast path) and the lenient path vs
//!   opentelemetry-proto's serde into the generated types.
//! - `store`: assembling decoded spans into traces (`SpanStore::ingest`, then completion).
//!
//! ```sh
//! cargo bench --bench decode                 # all groups
//! cargo bench --bench decode -- json         # one group
//! ```

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use spantop::export::write::otlp_json_line;
use spantop::ingest::otlp::{self, Encoding, convert, json};
use spantop::store::{SpanStore, StoreConfig};

mod common;

// The same allocator as the binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Spans per request: what an SDK's batch processor sends at most by default is 512.
const SPANS: usize = 1000;

fn protobuf_body() -> Vec<u8> {
    common::request(1, SPANS).encode_to_vec()
}

/// The same spans as one OTLP/JSON line in the canonical shape (what the recorder writes).
fn json_body() -> Vec<u8> {
    let spans = otlp::decode(&protobuf_body(), Encoding::Protobuf)
        .expect("bench input decodes")
        .batch
        .spans;
    let mut line = String::new();
    otlp_json_line(&spans, &mut line);
    line.into_bytes()
}

fn protobuf(c: &mut Criterion) {
    let body = protobuf_body();
    let mut g = c.benchmark_group("protobuf");
    for (unit, throughput) in [
        ("spans", Throughput::Elements(SPANS as u64)),
        ("bytes", Throughput::Bytes(body.len() as u64)),
    ] {
        g.throughput(throughput);
        g.bench_function(format!("spantop_decode/{unit}"), |b| {
            b.iter(|| otlp::decode(&body, Encoding::Protobuf).expect("decodes"))
        });
        g.bench_function(format!("prost_reference/{unit}"), |b| {
            b.iter(|| ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes"))
        });
    }
    g.finish();
}

fn json_decoding(c: &mut Criterion) {
    let body = json_body();
    let mut g = c.benchmark_group("json");
    for (unit, throughput) in [
        ("spans", Throughput::Elements(SPANS as u64)),
        ("bytes", Throughput::Bytes(body.len() as u64)),
    ] {
        g.throughput(throughput);
        g.bench_function(format!("spantop_decode/{unit}"), |b| {
            b.iter(|| otlp::decode(&body, Encoding::Json).expect("decodes"))
        });
        g.bench_function(format!("lenient_path/{unit}"), |b| {
            b.iter(|| convert::request_to_batch(json::decode_request(&body).expect("decodes")))
        });
        g.bench_function(format!("serde_reference/{unit}"), |b| {
            b.iter(|| serde_json::from_slice::<ExportTraceServiceRequest>(&body).expect("decodes"))
        });
    }
    g.finish();
}

fn store_assembly(c: &mut Criterion) {
    let body = protobuf_body();
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("ingest_and_complete/spans", |b| {
        b.iter_batched(
            || {
                let store = SpanStore::new(StoreConfig {
                    inactivity_timeout: Duration::from_secs(3600),
                    max_memory: usize::MAX,
                    ..StoreConfig::default()
                });
                let batch = otlp::decode(&body, Encoding::Protobuf)
                    .expect("decodes")
                    .batch;
                (store, batch)
            },
            |(mut store, batch)| {
                store.ingest(batch, Instant::now());
                store.complete_all();
                store.take_completed()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, protobuf, json_decoding, store_assembly);
criterion_main!(benches);
