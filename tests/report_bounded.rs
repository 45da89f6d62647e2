//! `report --max-memory`: a file many times the budget is read in batch mode, traces complete
//! on the file's clock, are analysed and let go of, and the findings are the same as with every
//! span held, each list of single occurrences cut to the fold's cap; the pipeline's count never
//! passes the budget meanwhile (its `peak_memory_bytes`), what the analysis holds of the traces
//! let go of does not grow with the file, and what a budget too small for the open traces drops
//! is counted, never silently lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spantop::analysis::engine::AnalysisConfig;
use spantop::analysis::findings::{Findings, FindingsOptions};
use spantop::cmd::report::{Analysed, analyse_files};
use spantop::demo::{Shop, ShopConfig};
use spantop::export::write::{OutputFormat, TraceWriter};
use spantop::model::{KeyValue, Resource, Span, SpanKind, TraceId};
use spantop::store::StoreConfig;

const T0: u64 = 1_767_225_600_000_000_000;
const REQUESTS: u64 = 3000;
/// Requests per record, 10 ms apart: a record covers 200 ms of the file's clock.
const PER_RECORD: u64 = 20;

/// The shop's traffic as one OTLP protobuf file, records in time order.
fn shop_file(dir: &Path) -> PathBuf {
    shop_file_of(dir, REQUESTS, false)
}

/// `plain`: without the functions and messaging (no invocations, span links or producers),
/// whose findings every retired trace keeps one entry each of (cold starts are classified
/// over every invocation, links resolved against every producer).
fn shop_file_of(dir: &Path, requests: u64, plain: bool) -> PathBuf {
    let path = dir.join(format!("shop-{requests}-{plain}.otlp.pb"));
    let file = std::fs::File::create(&path).expect("create");
    let mut w = TraceWriter::new(std::io::BufWriter::new(file), OutputFormat::OtlpProto);
    let mut shop = Shop::new(ShopConfig::default());
    let mut resources = HashMap::new();
    for r in 0..requests / PER_RECORD {
        let mut spans = Vec::new();
        for j in 0..PER_RECORD {
            shop.request(T0 + (r * PER_RECORD + j) * 10_000_000, &mut spans);
        }
        if plain {
            plain_spans(&mut spans, &mut resources);
        }
        w.write(&spans).expect("write");
    }
    w.finish().expect("finish");
    path
}

/// Single occurrences a list keeps of the traces let go of: fewer than the shop's loops, so
/// the cut shows.
const CAP: usize = 40;

fn analysis() -> AnalysisConfig {
    AnalysisConfig {
        max_traces_kept: usize::MAX,
        keep_retired_paths: false,
        retired_list_cap: CAP,
        ..AnalysisConfig::default()
    }
}

/// Takes out what makes a function invocation, a span link or a producer.
fn plain_spans(spans: &mut [Span], resources: &mut HashMap<*const Resource, Arc<Resource>>) {
    let keep = |kv: &KeyValue| {
        let k = kv.key.as_str();
        !(k.starts_with("faas.") || k == "cloud.platform")
    };
    for s in spans {
        let r = resources
            .entry(Arc::as_ptr(&s.resource))
            .or_insert_with(|| {
                let attrs = s.resource.attributes.iter().filter(|kv| keep(kv)).cloned();
                Arc::new(Resource::new(attrs.collect()))
            });
        s.resource = Arc::clone(r);
        let attrs: Vec<KeyValue> = s.attributes.iter().filter(|kv| keep(kv)).cloned().collect();
        s.attributes = attrs.into();
        s.links = Box::default();
        if s.kind == SpanKind::Producer {
            s.kind = SpanKind::Client;
        }
    }
}

async fn report(path: &Path, max_memory: usize) -> Analysed {
    report_with(path, max_memory, analysis()).await
}

async fn report_with(path: &Path, max_memory: usize, analysis: AnalysisConfig) -> Analysed {
    let store = StoreConfig {
        max_memory,
        inactivity_timeout: Duration::from_secs(2),
        ..StoreConfig::default()
    };
    analyse_files(&[path.to_path_buf()], store, analysis)
        .await
        .expect("analysed")
}

fn findings(a: &Analysed) -> serde_json::Value {
    findings_cut(a, usize::MAX)
}

/// The findings with each list of single occurrences cut to `each`.
fn findings_cut(a: &Analysed, each: usize) -> serde_json::Value {
    let opts = FindingsOptions {
        occurrences: each,
        ..FindingsOptions::default()
    };
    serde_json::to_value(Findings::build(&a.engine, opts)).expect("json")
}

const BUDGET: usize = 16 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_far_bigger_than_the_budget_reports_the_same_findings_cut_to_the_cap_within_it() {
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
    let (w, mut b) = (findings_cut(&whole, CAP), findings(&bounded));
    // The bounded run says its lists are cut, in JSON and text; held whole, nothing is.
    assert_eq!(b["input"]["lists_cut_to"], CAP);
    let text = |a: &Analysed| {
        let f = Findings::build(&a.engine, FindingsOptions::default());
        spantop::report::render(&f, spantop::report::OutputFormat::Text, 10).expect("text")
    };
    let says = format!("each list of single occurrences keeps its first {CAP}");
    assert!(text(&bounded).contains(&says));
    assert!(!text(&whole).contains("let go of"));
    assert!(w["input"].get("lists_cut_to").is_none());
    b["input"]
        .as_object_mut()
        .and_then(|i| i.remove("lists_cut_to"))
        .expect("said");
    // The cut matters: the shop has more loops and errors than the cap.
    let all = findings(&whole);
    for list in ["n_plus_one", "errors"] {
        let n = all[list]["list"].as_array().map_or(0, Vec::len);
        assert!(n > CAP, "{list}: {n} of {CAP}");
        assert_eq!(
            b[list]["list"].as_array().map(Vec::len),
            Some(CAP),
            "{list}"
        );
    }
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

/// What the analysis holds of the traces let go of is summaries, not their findings: four
/// times the requests, about the same bytes (the first file is already past every list's cap).
/// Without functions and messaging: those keep one entry per invocation and link. Measured
/// with every trace let go of: at the end of a run the store still holds some, up to the budget,
/// with their findings (how many depends on the analysis threads' timing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_bytes_of_retired_traces_stay_bounded_as_the_file_grows() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The ids of the traces that left are kept for a window of the input's time: a shorter one
    // than the files (30 s and 120 s), as a report's is of a long file.
    let analysis = AnalysisConfig {
        gone_window_ns: Some(10_000_000_000),
        ..analysis()
    };
    let small_file = shop_file_of(dir.path(), REQUESTS, true);
    let mut small = report_with(&small_file, BUDGET, analysis).await;
    let large_file = shop_file_of(dir.path(), 4 * REQUESTS, true);
    let mut large = report_with(&large_file, BUDGET, analysis).await;
    let held = |a: &mut Analysed| {
        let ids: Vec<TraceId> = a.engine.held().keys().copied().collect();
        for id in ids {
            a.engine.retire(id);
        }
        assert!(a.engine.held().is_empty());
        a.engine.held_bytes()
    };
    let (small_bytes, large_bytes) = (held(&mut small), held(&mut large));
    eprintln!(
        "analysis at the end {} / {} bytes, every trace let go of {small_bytes} / {large_bytes} \
         bytes, {} / {} traces let go of during the run",
        small.stats.analysis_bytes,
        large.stats.analysis_bytes,
        small.stats.evicted_traces,
        large.stats.evicted_traces,
    );
    assert!(large.stats.evicted_traces > 3 * small.stats.evicted_traces);
    assert!(large.unanalysed.is_empty(), "{:?}", large.unanalysed);
    let f = findings(&large);
    assert_eq!(f["cold_starts"]["invocations"], 0);
    assert_eq!(f["async_messaging"]["links"], 0);
    // What is folded: more loops and errors than the cap, cut to it.
    for list in ["n_plus_one", "errors"] {
        assert!(
            f[list]["count"]
                .as_u64()
                .or(f[list]["reaching_root"].as_u64())
                > Some(CAP as u64),
            "{list}"
        );
        assert_eq!(
            f[list]["list"].as_array().map(Vec::len),
            Some(CAP),
            "{list}"
        );
    }
    assert!(
        large_bytes * 5 <= small_bytes * 6,
        "{large_bytes} bytes for 4x the requests, {small_bytes} for 1x"
    );
}
