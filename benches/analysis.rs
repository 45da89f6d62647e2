//! Criterion benchmarks of the analysis, each reporting spans/s:
//!
//! - `trace/<shape>`: the engine's per-trace work (`Engine::add_trace`: tree, critical path,
//!   self time, edges and gaps, cold starts, fan-outs and N+1 signatures, chains, errors,
//!   hotspots and RED, folded into the aggregates) on one trace of 100,000 spans shaped `wide`
//!   (one root, every other span its child), `deep` (a 100,000-long chain) or `mixed`, and on
//!   5,000 `typical` 20-span traces; next to it `read/<shape>`, reading the same spans (decoding
//!   the OTLP protobuf file records, then assembling them in the store). Before the timed runs
//!   each shape prints `analysis / read`, the ratio the huge-trace target (<= 1.5) is about.
//! - `publish`: `Findings::build` and `ViewData::build` over an engine holding 100,000 typical
//!   traces, time per publish; `view_rebuild` is what the analyst thread does at a live
//!   publish (the previous view at hand, its traces unchanged).
//!
//! ```sh
//! cargo bench --bench analysis                 # everything
//! cargo bench --bench analysis -- trace/deep   # one shape
//! ```

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use spantop::analysis::engine::Engine;
use spantop::analysis::findings::view::ViewData;
use spantop::analysis::findings::{Findings, FindingsOptions};
use spantop::demo::shapes::{self, Shape};
use spantop::export::write::otlp_proto_record;
use spantop::ingest::file;
use spantop::model::Span;
use spantop::store::{SpanStore, StoreConfig, Trace};

// The same allocator as the binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HUGE: usize = 100_000;
const TYPICAL: usize = 20;
/// Spans per file record, as the recorder and `gen_large` write them.
const RECORD: usize = 1000;

fn store() -> SpanStore {
    SpanStore::new(StoreConfig {
        inactivity_timeout: Duration::from_secs(3600),
        max_memory: usize::MAX,
        ..StoreConfig::default()
    })
}

/// The spans as an OTLP protobuf file (length-prefixed records).
fn file_bytes(spans: &[Span]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in spans.chunks(RECORD) {
        otlp_proto_record(chunk, &mut out).expect("bench records encode");
    }
    out
}

/// What reading the file costs `replay` and `report`: decoding it, then assembling its traces.
fn read(bytes: &[u8]) -> Vec<Arc<Trace>> {
    let mut store = store();
    let now = Instant::now();
    file::read_from(Path::new("bench.otlp.pb"), Cursor::new(bytes), &mut |b| {
        store.ingest(b, now)
    })
    .expect("bench file reads");
    store.complete_all();
    store.take_completed()
}

fn analyse(traces: &[Arc<Trace>]) -> Engine {
    let mut engine = Engine::default();
    for t in traces {
        engine.add_trace(t);
    }
    engine
}

/// Median wall time of `runs` calls.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn shape_spans(name: &str) -> Vec<Span> {
    match name {
        "wide" => shapes::trace(Shape::Wide, HUGE, 1),
        "deep" => shapes::trace(Shape::Deep, HUGE, 1),
        "mixed" => shapes::trace(Shape::Mixed, HUGE, 1),
        _ => (1..=(HUGE / TYPICAL) as u64)
            .flat_map(|t| shapes::trace(Shape::Mixed, TYPICAL, t))
            .collect(),
    }
}

/// Whether the command line's filter (criterion's positional argument) may select `what`:
/// the inputs of the groups filtered out are not built, nor their ratios measured.
fn wanted(what: &str) -> bool {
    const VALUED: [&str; 10] = [
        "--profile-time",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--color",
        "--output-format",
        "--nresamples",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if VALUED.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    filters.is_empty()
        || filters
            .iter()
            .any(|f| what.contains(f.as_str()) || f.contains(what))
}

fn per_trace(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace");
    g.sample_size(10);
    for name in ["wide", "deep", "mixed", "typical"] {
        if !wanted(&format!("trace/{name}")) && !wanted(name) {
            continue;
        }
        let spans = shape_spans(name);
        let bytes = file_bytes(&spans);
        let traces = read(&bytes);
        let held: usize = traces.iter().map(|t| t.spans.len()).sum();
        assert_eq!(
            held,
            spans.len(),
            "every span of the {name} file is assembled"
        );
        let r = median(5, || read(&bytes));
        let a = median(5, || analyse(&traces));
        let rate = |d: Duration| spans.len() as f64 / d.as_secs_f64();
        println!(
            "{name}: {} spans in {} traces; read {r:.2?} ({:.0} spans/s), analysis {a:.2?} \
             ({:.0} spans/s); analysis / read = {:.2}",
            spans.len(),
            traces.len(),
            rate(r),
            rate(a),
            a.as_secs_f64() / r.as_secs_f64()
        );
        g.throughput(Throughput::Elements(spans.len() as u64));
        g.bench_function(format!("read/{name}"), |b| b.iter(|| read(&bytes)));
        g.bench_function(format!("analyse/{name}"), |b| b.iter(|| analyse(&traces)));
    }
    g.finish();
}

fn publish(c: &mut Criterion) {
    const TRACES: u64 = 100_000;
    if !wanted("publish") {
        return;
    }
    let spans: Vec<Span> = (1..=TRACES)
        .flat_map(|t| shapes::trace(Shape::Mixed, TYPICAL, t))
        .collect();
    let mut store = store();
    store.ingest(spantop::model::Batch::new(spans), Instant::now());
    store.complete_all();
    let traces = store.take_completed();
    let engine = analyse(&traces);
    assert_eq!(engine.findings().len(), TRACES as usize);
    let mut g = c.benchmark_group("publish");
    g.sample_size(10);
    g.bench_function("findings_build/100k_traces", |b| {
        b.iter(|| Findings::build(&engine, FindingsOptions::default()))
    });
    g.bench_function("view_build/100k_traces", |b| {
        b.iter_batched(
            || store.snapshot(),
            |snap| ViewData::build(snap, &engine),
            BatchSize::LargeInput,
        )
    });
    // What a live publish does: the previous view holds every trace, none changed since.
    let previous = ViewData::build(store.snapshot(), &engine);
    g.bench_function("view_rebuild/100k_traces", |b| {
        b.iter_batched(
            || store.snapshot(),
            |snap| ViewData::rebuild(Some(&previous), snap, &engine),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, per_trace, publish);
criterion_main!(benches);
