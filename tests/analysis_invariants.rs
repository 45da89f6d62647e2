//! Properties that must hold on any input, checked on every public sample (the copies in
//! `samples/`: real Zipkin, Jaeger and OpenTelemetry Demo captures) and on the shopfast sample:
//! each root's critical path tiles the root exactly, self time never exceeds duration, and the
//! whole engine runs without panicking. Over every readable file under `samples/` (and
//! `/work/shared/samples` where that copy exists): the trace path never explains more than the
//! trace's extent and no share passes 100 %.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use spantop::analysis::engine::{AnalysisConfig, Engine};
use spantop::analysis::findings::{Findings, FindingsOptions};
use spantop::analysis::trace::critical_path::{
    CpOptions, coverage, critical_paths, path_time, trace_path,
};
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

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Traces of a file, or `None` when it is not a trace file (answer keys, READMEs).
fn traces_if_readable(path: &Path) -> Option<Vec<Arc<Trace>>> {
    let mut store = SpanStore::new(StoreConfig {
        max_memory: usize::MAX,
        ..StoreConfig::default()
    });
    let now = Instant::now();
    file::read_path(path, &mut |b| store.ingest(b, now)).ok()?;
    store.complete_all();
    let ts = store.take_completed();
    (!ts.is_empty()).then_some(ts)
}

#[test]
fn trace_path_never_exceeds_the_trace_and_no_share_passes_100_percent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    files_under(&root.join("samples"), &mut files);
    files_under(&root.join("tests/data/shopfast"), &mut files);
    files_under(Path::new("/work/shared/samples"), &mut files);
    files.sort();
    let (mut read, mut traces_checked, mut multi_root) = (0, 0, 0);
    for path in &files {
        let Some(ts) = traces_if_readable(path) else {
            continue;
        };
        read += 1;
        let mut engine = Engine::new(AnalysisConfig::default());
        for t in &ts {
            let tree = TraceTree::new(t);
            let paths = critical_paths(&tree, CpOptions::default());
            if paths.len() > 1 {
                multi_root += 1;
            }
            let merged = trace_path(&paths);
            let what = format!("{} {}", path.display(), t.trace_id);
            for w in merged.windows(2) {
                assert!(w[0].start >= w[1].end, "{what}: sections overlap");
            }
            let total = path_time(&merged);
            assert!(
                total <= tree.trace_duration(),
                "{what}: path {total} ns > extent {} ns",
                tree.trace_duration()
            );
            let c = coverage(total, tree.trace_duration());
            assert!((0.0..=1.0).contains(&c), "{what}: coverage {c}");
            engine.add_trace(t);
            traces_checked += 1;
        }
        let f = Findings::build(
            &engine,
            FindingsOptions {
                per_trace: true,
                ..FindingsOptions::default()
            },
        );
        let share_ok = |s: f64| (0.0..=1.0 + 1e-9).contains(&s);
        for h in &f.hotspots.operations {
            assert!(share_ok(h.cp_share), "{}: {h:?}", path.display());
        }
        for p in &f.hotspots.call_paths {
            assert!(share_ok(p.cp_share), "{}: {p:?}", path.display());
        }
        for e in &f.hotspots.edges_by_cp {
            assert!(share_ok(e.cp_share), "{}: {e:?}", path.display());
        }
        let op_total: f64 = f.hotspots.operations.iter().map(|h| h.cp_share).sum();
        assert!(
            share_ok(op_total),
            "{}: shares sum to {op_total}",
            path.display()
        );
        for t in f.traces.iter().flatten() {
            assert!(
                t.cp_ns <= t.duration_ns && share_ok(t.cp_coverage),
                "{}: {} path {} ns of {} ns",
                path.display(),
                t.trace_id,
                t.cp_ns,
                t.duration_ns
            );
        }
    }
    assert!(read >= 30, "only {read} sample files read");
    assert!(traces_checked > 200, "only {traces_checked} traces checked");
    assert!(multi_root > 0, "no sample has a trace with several roots");
}
