//! The live path: batches into the pipeline, completed traces analysed, findings published.

use std::path::Path;
use std::time::Duration;

use spantop::ingest::{convert, otlp_json};
use spantop::pipeline::{Pipeline, PipelineConfig};

#[tokio::test]
async fn completed_traces_reach_the_published_findings() {
    let mut config = PipelineConfig::default();
    config.store.inactivity_timeout = Duration::from_millis(50);
    config.tick_interval = Duration::from_millis(20);
    config.findings_interval = Duration::from_millis(20);
    let mut pipeline = Pipeline::spawn(config);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/shopfast/shopfast-seed42-n100.otlp.jsonl");
    let text = std::fs::read_to_string(sample).expect("sample");
    let lines: Vec<&str> = text.lines().take(5).collect();
    for line in &lines {
        let req = otlp_json::decode_request(line.as_bytes()).expect("valid line");
        pipeline
            .tx
            .send(convert::request_to_batch(req).batch)
            .await
            .expect("pipeline running");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let traces = pipeline.findings.borrow_and_update().input.traces;
        if traces == lines.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {traces} traces analysed"
        );
        tokio::time::timeout(Duration::from_secs(1), pipeline.findings.changed())
            .await
            .ok();
    }
    let f = pipeline.findings.borrow().clone();
    assert!(f.cold_starts.invocations > 0);
    assert!(!f.service_map.is_empty());
    pipeline.finish().await.expect("clean stop");
}
