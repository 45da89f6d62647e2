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

/// An analysis that takes far longer than any quit may.
fn slow_analysis(
    trace: &spantop::store::Trace,
    config: &spantop::analysis::engine::AnalysisConfig,
) -> spantop::analysis::engine::TraceFindings {
    std::thread::sleep(Duration::from_secs(30));
    spantop::analysis::engine::analyse_trace(trace, config)
}

/// Quitting a TUI (`Running::quit`) analyses nothing more and does not wait for the worker,
/// even in the middle of a trace's analysis: nothing reads the findings after the screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_does_not_wait_for_an_analysis_under_way() {
    let mut config = ServerConfig::ephemeral();
    config.pipeline.store.inactivity_timeout = Duration::from_millis(50);
    config.pipeline.tick_interval = Duration::from_millis(20);
    config.pipeline.analyser = slow_analysis;
    let (running, _receivers) =
        spantop::pipeline::start_receivers(config.receivers, config.pipeline)
            .await
            .expect("receivers start");
    let mut snapshots = running.snapshots.clone();
    let mut spans = Vec::new();
    let mut shop = Shop::new(ShopConfig::default());
    for i in 0..20u64 {
        shop.request(T0 + i * 1_000_000, &mut spans);
    }
    running
        .batch_sender()
        .send(Batch::new(spans))
        .await
        .expect("pipeline running");
    // Every trace completed and handed to the worker, which is now inside an analysis.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = snapshots.borrow_and_update().stats;
        if stats.traces_held > 0 && stats.open_traces == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "traces did not complete: {stats:?}"
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), snapshots.changed()).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    running.quit().await.expect("quits");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "quit waited {took:?} for an analysis of 30 s"
    );
}
