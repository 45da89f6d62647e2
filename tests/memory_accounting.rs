//! The memory budget's accounting against what is really allocated: a counting global
//! allocator (this test binary's own) measures the heap while the shop demo's traces go
//! through a store and the analysis engine, and the bytes the store counts against
//! `--max-memory` (spans, bookkeeping, findings, aggregates, interned names) must be within
//! 25 % of it, with everything held and at steady state under eviction.

use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cap::Cap;
use spantop::analysis::engine::Engine;
use spantop::demo::{Shop, ShopConfig};
use spantop::model::Batch;
use spantop::store::{MemoryGauge, SpanStore, StoreConfig, StoreStats};

#[global_allocator]
static ALLOCATED: Cap<System> = Cap::new(System, usize::MAX);

const T0: u64 = 1_767_225_600_000_000_000;

/// Feeds `requests` shop requests through a store and an engine the way the pipeline does
/// (complete, analyse, forget the evicted, publish the engine's bytes), then returns the
/// store's figures and the heap bytes allocated meanwhile that are still live.
fn run(requests: u64, max_memory: usize) -> (StoreStats, usize) {
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
        let mut spans = Vec::new();
        for j in 0..10 {
            shop.request(T0 + (i * 10 + j) * 1_000_000, &mut spans);
        }
        let at = now + Duration::from_millis(i * 20);
        store.ingest(Batch::new(spans), at);
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
        "{requests} requests, budget {max_memory}: counted {} bytes (spans {}, analysis {}, \
         names {}, unreleased {}), allocated {measured}; {} traces held, {} evicted",
        stats.memory_bytes,
        stats.span_bytes,
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
    let (all, measured) = run(5_000, usize::MAX);
    assert_eq!(all.evicted_traces, 0);
    assert!(all.analysis_bytes > 0 && all.interned_bytes > 0);
    assert_within_25_percent(&all, measured);

    // A budget a fraction of that: steady state with eviction, within the budget.
    let budget = (all.memory_bytes / 4) as usize;
    let (bounded, measured) = run(5_000, budget);
    assert!(bounded.evicted_traces > 0, "the budget was reached");
    assert!(bounded.memory_bytes <= budget as u64);
    assert_within_25_percent(&bounded, measured);
}
