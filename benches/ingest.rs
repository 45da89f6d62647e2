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
use prost::Message;
use spantop::ingest::otlp::convert::request_to_batch;
use spantop::ingest::otlp::proto::decode_request;
use spantop::store::{SpanStore, StoreConfig};

mod common;
use common::request;

// The same allocator as the binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
