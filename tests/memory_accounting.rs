//! The memory budget's accounting against what is really allocated: a counting global
//! allocator (this test binary's own) measures the heap while the shop demo's traces go
//! through a store and the analysis engine, and the bytes the store counts against
//! `--max-memory` (spans, bookkeeping, findings, aggregates, interned names) must be within
//! 25 % of it, with everything held and at steady state under eviction.

use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cap::Cap;
use prost::Message;
use spantop::analysis::engine::Engine;
use spantop::demo::{Shop, ShopConfig};
use spantop::export::otlp::spans_to_request;
use spantop::ingest::otlp::{Encoding, decode};
use spantop::model::{Batch, Span};
use spantop::store::{MemoryGauge, SpanStore, StoreConfig, StoreStats};

#[global_allocator]
static ALLOCATED: Cap<System> = Cap::new(System, usize::MAX);

const T0: u64 = 1_767_225_600_000_000_000;

/// How the shop's spans reach the store.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// As the demo hands them over: model spans sharing the shop's resource `Arc`s.
    Model,
    /// Over the wire, as exporters send them: each shop request's spans grouped by service
    /// (one `ResourceSpans` per resource, as each function flushes its spans at the end of an
    /// invocation), encoded as an OTLP protobuf request and decoded by the receivers' decoder,
    /// which makes a resource and a scope per block of every request.
    Wire,
}

fn over_the_wire(spans: Vec<Span>) -> Batch {
    let mut grouped: Vec<Vec<Span>> = Vec::new();
    for s in spans {
        match grouped
            .iter_mut()
            .find(|g| Arc::ptr_eq(&g[0].resource, &s.resource))
        {
            Some(g) => g.push(s),
            None => grouped.push(vec![s]),
        }
    }
    let request = spans_to_request(grouped.iter().flatten());
    drop(grouped);
    let bytes = request.encode_to_vec();
    drop(request);
    let converted = decode(&bytes, Encoding::Protobuf).expect("a request we encoded decodes");
    assert_eq!(converted.rejected, 0);
    converted.batch
}

/// Feeds `requests` shop requests through a store and an engine the way the pipeline does
/// (complete, analyse, forget the evicted, publish the engine's bytes), then returns the
/// store's figures and the heap bytes allocated meanwhile that are still live.
fn run(requests: u64, max_memory: usize) -> (StoreStats, usize) {
    run_by(Path::Model, requests, max_memory)
}

fn run_by(path: Path, requests: u64, max_memory: usize) -> (StoreStats, usize) {
    let before = ALLOCATED.allocated();
    let gauge = Arc::new(MemoryGauge::default());
    let mut store = SpanStore::new(StoreConfig {
        inactivity_timeout: Duration::from_millis(10),
        max_memory,
        ..StoreConfig::default()
    })
    .with_gauge(Arc::clone(&gauge));
    let mut engine = Engine::default();
    let mut shop = Shop::new(ShopConfig::default());
    let now = Instant::now();
    for i in 0..requests / 10 {
        let mut batch = Batch::default();
        for j in 0..10 {
            let mut spans = Vec::new();
            shop.request(T0 + (i * 10 + j) * 1_000_000, &mut spans);
            match path {
                Path::Model => batch.spans.append(&mut spans),
                Path::Wire => batch.spans.append(&mut over_the_wire(spans).spans),
            }
        }
        let at = now + Duration::from_millis(i * 20);
        store.ingest(batch, at);
        store.tick(at + Duration::from_millis(15));
        for t in store.take_completed() {
            engine.add_trace(&t);
        }
        for id in store.take_evicted() {
            engine.forget(id);
        }
        gauge.set_analysis_bytes(engine.held_bytes());
        store.enforce_memory();
    }
    drop(shop);
    let stats = store.stats();
    let measured = ALLOCATED.allocated() - before;
    eprintln!(
        "{} {requests} requests, budget {max_memory}: counted {} bytes (spans {}, resources and \
         scopes {}, analysis {}, names {}, unreleased {}), allocated {measured}; {} traces held, \
         {} evicted",
        if path == Path::Wire { "wire" } else { "model" },
        stats.memory_bytes,
        stats.span_bytes,
        stats.shared_bytes,
        stats.analysis_bytes,
        stats.interned_bytes,
        stats.unreleased_bytes,
        stats.traces_held,
        stats.evicted_traces,
    );
    // Keep both alive until measured.
    drop((store, engine));
    (stats, measured)
}

fn assert_within_25_percent(stats: &StoreStats, measured: usize) {
    let ratio = stats.memory_bytes as f64 / measured as f64;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "counted {} bytes vs {measured} allocated: ratio {ratio:.3}",
        stats.memory_bytes
    );
}

/// One test runs both cases: the allocator is process-wide, and tests in one binary run on
/// threads at once.
#[test]
fn counted_bytes_match_the_measured_allocation() {
    let (all, measured_all) = run(5_000, usize::MAX);
    assert_eq!(all.evicted_traces, 0);
    assert!(all.analysis_bytes > 0 && all.interned_bytes > 0);
    assert_within_25_percent(&all, measured_all);

    // A budget a fraction of that: steady state with eviction, within the budget.
    let budget = (all.memory_bytes / 4) as usize;
    let (bounded, measured) = run(5_000, budget);
    assert!(bounded.evicted_traces > 0, "the budget was reached");
    assert!(bounded.memory_bytes <= budget as u64);
    assert_within_25_percent(&bounded, measured);

    // The same shop over the wire: every request decodes to resources and scopes of its own,
    // which the store shares again, so the wire costs what the model does (within 5 %).
    let (model, model_measured) = (all, measured_all);
    let (wire, measured) = run_by(Path::Wire, 5_000, usize::MAX);
    assert_eq!(wire.evicted_traces, 0);
    assert_within_25_percent(&wire, measured);
    let extra = measured as f64 / model_measured as f64;
    assert!(
        extra <= 1.05,
        "over the wire {measured} bytes vs {model_measured} as model spans: {extra:.3}x"
    );
    assert!(wire.memory_bytes.abs_diff(model.memory_bytes) * 20 <= model.memory_bytes);
    let budget = (wire.memory_bytes / 4) as usize;
    let (bounded, measured) = run_by(Path::Wire, 5_000, budget);
    assert!(bounded.evicted_traces > 0, "the budget was reached");
    assert!(bounded.memory_bytes <= budget as u64);
    assert_within_25_percent(&bounded, measured);
}
