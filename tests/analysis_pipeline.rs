//! The live path: batches into the pipeline, completed traces analysed on the pipeline's
//! worker, one view published; evicted traces leave it.

use std::path::Path;
use std::time::Duration;

use spantop::analysis::findings::view::ViewData;
use spantop::ingest::otlp::{convert, json as otlp_json};
use spantop::model::Batch;
use spantop::pipeline::{Pipeline, PipelineConfig};

fn sample_batches(n: usize) -> Vec<Batch> {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/shopfast/shopfast-seed42-n100.otlp.jsonl");
    let text = std::fs::read_to_string(sample).expect("sample");
    text.lines()
        .take(n)
        .map(|line| {
            let req = otlp_json::decode_request(line.as_bytes()).expect("valid line");
            convert::request_to_batch(req).batch
        })
        .collect()
}

fn quick() -> PipelineConfig {
    let mut config = PipelineConfig::default();
    config.store.inactivity_timeout = Duration::from_millis(50);
    config.tick_interval = Duration::from_millis(20);
    config.findings_interval = Duration::from_millis(20);
    config
}

/// Waits for a published view for which `done` holds.
async fn wait_view(pipeline: &mut Pipeline, done: impl Fn(&ViewData) -> bool) -> ViewData {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        {
            let v = pipeline.view.borrow_and_update();
            if done(&v) {
                return (**v).clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out; {} traces analysed",
                v.analysed_traces
            );
        }
        tokio::time::timeout(Duration::from_secs(1), pipeline.view.changed())
            .await
            .ok();
    }
}

#[tokio::test]
async fn completed_traces_reach_the_published_view() {
    let mut pipeline = Pipeline::spawn(quick());
    let batches = sample_batches(5);
    let n = batches.len();
    for b in batches {
        pipeline.tx.send(b).await.expect("pipeline running");
    }
    let v = wait_view(&mut pipeline, |v| {
        v.analysed_traces == n && v.traces.len() == n
    })
    .await;
    assert!(
        v.findings
            .cold_starts
            .by_function
            .iter()
            .map(|c| c.invocations)
            .sum::<usize>()
            > 0
    );
    assert!(!v.findings.service_map.is_empty());
    assert!(
        v.traces
            .iter()
            .all(|t| v.trace_findings(t.trace_id).is_some())
    );
    let finished = pipeline.finish().await.expect("clean stop");
    assert_eq!(finished.engine.aggregates().traces, n);
    assert_eq!(finished.analysis_skipped, 0);
}

#[tokio::test]
async fn an_evicted_trace_leaves_the_published_view() {
    let batches = sample_batches(usize::MAX);
    let mut config = quick();
    // Room for a fraction of the sample: earlier traces are evicted as later ones arrive. This
    // process's RSS is far over any such budget, so the store is held to its floor, an eighth of
    // it (`pipeline::resident`): 64 KiB, a few traces.
    config.store.max_memory = 512 * 1024;
    let mut pipeline = Pipeline::spawn(config);
    let mut analysed_once = std::collections::HashSet::new();
    let mut batches = batches.into_iter().peekable();
    while batches.peek().is_some() {
        for b in batches.by_ref().take(4) {
            pipeline.tx.send(b).await.expect("pipeline running");
        }
        // Let these traces complete and be analysed before later ones push them out.
        tokio::time::sleep(Duration::from_millis(120)).await;
        let v = pipeline.view.borrow_and_update();
        analysed_once.extend(
            v.traces
                .iter()
                .filter(|t| v.trace_findings(t.trace_id).is_some())
                .map(|t| t.trace_id),
        );
    }
    let v = wait_view(&mut pipeline, |v| v.snapshot.stats.evicted_traces > 0).await;
    let gone: Vec<_> = analysed_once
        .iter()
        .copied()
        .filter(|id| v.trace(*id).is_none())
        .collect();
    assert!(!gone.is_empty(), "some analysed traces were evicted since");
    for id in gone {
        assert!(
            v.trace_findings(id).is_none(),
            "an evicted trace's findings are gone"
        );
        let f = &v.findings;
        let cited = f
            .cold_starts
            .by_function
            .iter()
            .filter_map(|c| c.worst)
            .chain(f.patterns.iter().map(|p| p.worst))
            .chain(f.hotspots.operations.iter().filter_map(|h| h.evidence()))
            .chain(f.service_map.iter().filter_map(|m| m.evidence()))
            .any(|e| e.trace_id == id);
        assert!(!cited, "no row cites an evicted trace as evidence");
    }
    // Their contribution to the aggregates stays: every trace analysed is counted.
    assert!(v.analysed_traces > v.traces.len());
    pipeline.finish().await.expect("clean stop");
}

/// The end of a TUI replay's input completes what is still open and publishes it at once: here
/// a trace would complete after an hour of quiet and the view is rebuilt once an hour.
#[tokio::test]
async fn the_end_of_the_input_completes_open_traces_and_shows_them_at_once() {
    let mut config = quick();
    config.store.inactivity_timeout = Duration::from_secs(3600);
    config.findings_interval = Duration::from_secs(3600);
    let mut pipeline = Pipeline::spawn(config);
    let batches = sample_batches(5);
    let n = batches.len();
    for b in batches {
        pipeline.tx.send(b).await.expect("pipeline running");
    }
    // The first view (the open traces) uses up the hour's build.
    let open = wait_view(&mut pipeline, |v| v.snapshot.open.len() == n).await;
    assert_eq!(open.analysed_traces, 0);
    pipeline.input_end().signal();
    let v = wait_view(&mut pipeline, |v| v.analysed_traces == n).await;
    assert_eq!(v.traces.len(), n);
    assert!(v.snapshot.open.is_empty());
    assert_eq!(v.snapshot.stats.open_traces, 0);
    let finished = pipeline.finish().await.expect("clean stop");
    assert_eq!(finished.analysis_skipped, 0);
}

/// The worker hands part of each batch of completed traces to a second thread and adds the
/// results in completion order: the findings must be exactly those of one engine fed the same
/// traces one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_analysis_threads_find_exactly_what_one_finds() {
    use spantop::analysis::engine::{AnalysisConfig, Engine};
    use spantop::analysis::findings::{Findings, FindingsOptions};
    use spantop::demo::{Shop, ShopConfig};
    use spantop::store::StoreConfig;

    const T0: u64 = 1_767_225_600_000_000_000;
    let analysis = AnalysisConfig::default();
    let store = StoreConfig {
        inactivity_timeout: Duration::from_secs(1),
        ..StoreConfig::default()
    };
    let pipeline = Pipeline::spawn(PipelineConfig::batch(store, analysis));
    let mut shop = Shop::new(ShopConfig::default());
    // 40 requests 10 ms apart per batch: each batch completes dozens of traces at once.
    for b in 0..30u64 {
        let mut spans = Vec::new();
        for r in 0..40u64 {
            shop.request(T0 + (b * 40 + r) * 10_000_000, &mut spans);
        }
        pipeline.tx.send(Batch::new(spans)).await.expect("running");
    }
    let mut finished = pipeline.finish().await.expect("finished");
    let completed = finished.store.snapshot().traces;
    assert!(completed.len() >= 1200, "every request completed and held");
    let mut one = Engine::new(analysis);
    for t in completed.iter() {
        one.add_trace(t);
    }
    let json = |e: &Engine| {
        serde_json::to_string(&Findings::build(e, FindingsOptions::default())).expect("json")
    };
    assert_eq!(finished.engine.aggregates().traces, completed.len());
    assert_eq!(json(&finished.engine), json(&one));
}
