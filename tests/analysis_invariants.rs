//! Properties that must hold on any input, checked on every public sample (the copies in
//! `samples/`: real Zipkin, Jaeger and OpenTelemetry Demo captures) and on the shopfast sample:
//! each root's critical path tiles the root exactly, self time never exceeds duration, and the
//! whole engine runs without panicking.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use spantop::analysis::engine::{AnalysisConfig, Engine};
use spantop::analysis::findings::{Findings, FindingsOptions};
use spantop::analysis::trace::critical_path::{CpOptions, critical_paths};
use spantop::analysis::trace::self_time::self_times;
use spantop::analysis::trace::tree::TraceTree;
use spantop::ingest::file;
use spantop::store::{SpanStore, StoreConfig, Trace};

fn sample_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The repository's copies of the public samples (samples/PROVENANCE.md).
    let public = root.join("samples");
    let mut files = vec![root.join("tests/data/shopfast/shopfast-seed42-n100.otlp.jsonl")];
    for dir in ["zipkin-v2-json", "jaeger-json", "otlp-json"] {
        let entries = std::fs::read_dir(public.join(dir)).expect("samples/ is readable");
        files.extend(
            entries
                .map(|e| e.expect("dir entry").path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

fn traces(path: &Path) -> Vec<Arc<Trace>> {
    let mut store = SpanStore::new(StoreConfig {
        max_memory: usize::MAX,
        ..StoreConfig::default()
    });
    let now = Instant::now();
    file::read_path(path, &mut |b| store.ingest(b, now)).expect("sample readable");
    store.complete_all();
    store.take_completed()
}

#[test]
fn critical_path_tiles_every_root_of_every_sample() {
    let mut checked = 0;
    for path in sample_files() {
        for t in traces(&path) {
            let tree = TraceTree::new(&t);
            for strict in [false, true] {
                for p in critical_paths(
                    &tree,
                    CpOptions {
                        jaeger_strict: strict,
                    },
                ) {
                    let Some(last) = p.sections.first() else {
                        continue;
                    };
                    let first = p.sections.last().expect("non-empty");
                    let what = format!("{} {} root {}", path.display(), t.trace_id, p.root);
                    assert_eq!(
                        last.end,
                        tree.end(p.root),
                        "{what}: path ends at the root's end"
                    );
                    assert_eq!(
                        first.start,
                        tree.start(p.root),
                        "{what}: path starts at the root's start"
                    );
                    for w in p.sections.windows(2) {
                        assert_eq!(w[0].start, w[1].end, "{what}: sections are contiguous");
                    }
                    checked += 1;
                }
            }
            let selfs = self_times(&tree);
            for (i, s) in selfs.iter().enumerate() {
                assert!(
                    *s <= tree.dur(i),
                    "{}: self time exceeds duration",
                    path.display()
                );
            }
        }
    }
    assert!(checked > 100, "only {checked} paths checked");
}

#[test]
fn engine_and_findings_run_on_every_sample() {
    for path in sample_files() {
        let mut engine = Engine::new(AnalysisConfig {
            max_clock_skew_ns: Some(60_000_000_000),
            ..AnalysisConfig::default()
        });
        let ts = traces(&path);
        for t in &ts {
            engine.add_trace(t);
        }
        let f = Findings::build(
            &engine,
            FindingsOptions {
                per_trace: true,
                ..FindingsOptions::default()
            },
        );
        assert_eq!(f.input.traces, ts.len(), "{}", path.display());
        for x in f.n_plus_one.list.iter().chain(&f.parallel_fanouts.list) {
            assert!(x.degree >= 3, "{}", path.display());
        }
        serde_json::to_string(&f).expect("findings serialise");
    }
}
