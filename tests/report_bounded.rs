//! `report --max-memory`: a file many times the budget is read in batch mode, traces complete
//! on the file's clock, are analysed and let go of, and the findings are the same as with every
//! span held; the pipeline's count never passes the budget meanwhile (its `peak_memory_bytes`),
//! and what a budget too small for the open traces drops is counted, never silently lost.

use std::path::{Path, PathBuf};
use std::time::Duration;

use spantop::analysis::engine::AnalysisConfig;
use spantop::analysis::findings::{Findings, FindingsOptions};
use spantop::cmd::report::{Analysed, analyse_files};
use spantop::demo::{Shop, ShopConfig};
use spantop::export::write::{OutputFormat, TraceWriter};
use spantop::store::StoreConfig;

const T0: u64 = 1_767_225_600_000_000_000;
const REQUESTS: u64 = 3000;
/// Requests per record, 10 ms apart: a record covers 200 ms of the file's clock.
const PER_RECORD: u64 = 20;

/// The shop's traffic as one OTLP protobuf file, records in time order.
fn shop_file(dir: &Path) -> PathBuf {
    let path = dir.join("shop.otlp.pb");
    let file = std::fs::File::create(&path).expect("create");
    let mut w = TraceWriter::new(std::io::BufWriter::new(file), OutputFormat::OtlpProto);
    let mut shop = Shop::new(ShopConfig::default());
    for r in 0..REQUESTS / PER_RECORD {
        let mut spans = Vec::new();
        for j in 0..PER_RECORD {
            shop.request(T0 + (r * PER_RECORD + j) * 10_000_000, &mut spans);
        }
        w.write(&spans).expect("write");
    }
    w.finish().expect("finish");
    path
}

fn analysis() -> AnalysisConfig {
    AnalysisConfig {
        max_traces_kept: usize::MAX,
        keep_retired_paths: false,
        ..AnalysisConfig::default()
    }
}

async fn report(path: &Path, max_memory: usize) -> Analysed {
    let store = StoreConfig {
        max_memory,
        inactivity_timeout: Duration::from_secs(2),
        ..StoreConfig::default()
    };
    analyse_files(&[path.to_path_buf()], store, analysis())
        .await
        .expect("analysed")
}

fn findings(a: &Analysed) -> serde_json::Value {
    let f = Findings::build(&a.engine, FindingsOptions::default());
    serde_json::to_value(&f).expect("json")
}

const BUDGET: usize = 16 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_far_bigger_than_the_budget_reports_the_same_findings_within_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = shop_file(dir.path());
    let whole = report(&path, usize::MAX).await;
    let bounded = report(&path, BUDGET).await;
    eprintln!(
        "held at most {} bytes with every span, {} within {BUDGET} (analysis {}, {} traces let go of)",
        whole.stats.peak_memory_bytes,
        bounded.stats.peak_memory_bytes,
        bounded.stats.analysis_bytes,
        bounded.stats.evicted_traces,
    );
    assert!(
        whole.stats.peak_memory_bytes > 2 * BUDGET as u64,
        "the input must be far bigger than the budget: {}",
        whole.stats.peak_memory_bytes
    );
    assert!(
        bounded.stats.peak_memory_bytes <= BUDGET as u64,
        "held {} of {BUDGET}",
        bounded.stats.peak_memory_bytes
    );
    assert!(bounded.stats.evicted_traces > 1000, "traces were let go of");
    assert!(whole.unanalysed.is_empty() && bounded.unanalysed.is_empty());
    assert_eq!(whole.input.spans(), bounded.input.spans());
    let (w, b) = (findings(&whole), findings(&bounded));
    // The figures the brief names, for a readable failure, then everything else.
    for key in [
        "input",
        "services",
        "cold_starts",
        "n_plus_one",
        "parallel_fanouts",
    ] {
        assert_eq!(w[key], b[key], "{key}");
    }
    assert!(w["cold_starts"]["count"].as_u64().is_some_and(|n| n > 0));
    assert!(w["input"]["traces"].as_u64() >= Some(REQUESTS));
    assert_eq!(w, b);
}

/// A budget smaller than the traces open at once: the input cannot wait them out, so open
/// traces are dropped, and the run says how many and how many spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_traces_dropped_for_a_tiny_budget_are_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = shop_file(dir.path());
    let tiny = report(&path, 256 << 10).await;
    let lost = tiny.unanalysed;
    assert!(lost.evicted_traces > 0, "{lost:?}");
    assert_eq!(lost.evicted_traces, tiny.stats.evicted_open_traces);
    let analysed = findings(&tiny)["input"]["spans"].as_u64().expect("spans");
    // Every span read is either analysed, or counted as not analysed.
    assert_eq!(
        analysed + lost.evicted_spans + lost.late_spans,
        tiny.input.spans()
    );
}
