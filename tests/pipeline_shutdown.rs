//! Stopping with a large store held: the receivers stop, every open trace completes, the
//! analysis works within its shutdown budget and skips (and counts) the rest, so `stop` returns
//! in seconds whatever is held.

use std::time::{Duration, Instant};

use spantop::demo::{Shop, ShopConfig};
use spantop::model::Batch;
use spantop::server::{Server, ServerConfig};

const T0: u64 = 1_767_225_600_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_returns_within_five_seconds_with_a_large_store_held() {
    let mut config = ServerConfig::ephemeral();
    // Every trace stays open until the stop, the worst case: all of it is left to do then.
    config.pipeline.store.inactivity_timeout = Duration::from_secs(3600);
    config.pipeline.store.max_memory = 4 << 30;
    let mut server = Server::start(config).await.expect("server starts");
    let tx = server.batch_sender();
    let mut shop = Shop::new(ShopConfig::default());
    let mut sent = 0usize;
    for i in 0..4_000u64 {
        let mut spans = Vec::new();
        for j in 0..10 {
            shop.request(T0 + (i * 10 + j) * 1_000_000, &mut spans);
        }
        sent += spans.len();
        tx.send(Batch::new(spans)).await.expect("pipeline running");
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.snapshots.borrow_and_update().stats.spans_held < sent as u64 {
        assert!(Instant::now() < deadline, "spans did not arrive");
        let _ = tokio::time::timeout(Duration::from_secs(1), server.snapshots.changed()).await;
    }
    let held = server.snapshots.borrow().stats;
    assert_eq!(
        held.open_traces, held.traces_held,
        "all held traces are open"
    );
    let started = Instant::now();
    let stopped = server.stop().await.expect("clean stop");
    let took = started.elapsed();
    eprintln!(
        "stop with {} spans in {} traces held took {took:?}; {} traces analysed, {} skipped",
        held.spans_held, held.traces_held, stopped.analysed_traces, stopped.analysis_skipped
    );
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    // Every held trace is either analysed or counted as skipped: nothing silently lost.
    assert_eq!(
        stopped.analysed_traces as u64 + stopped.analysis_skipped,
        held.traces_held
    );
}
