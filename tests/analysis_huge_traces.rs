//! One trace of 100,000 spans, as wide, as deep and as mixed as it gets: the per-trace analysis
//! finishes (no quadratic step, no recursion deep enough to overflow a test thread's 2 MiB
//! stack) and finds what the shape holds. Speed itself is `benches/analysis.rs`'s business.

use spantop::analysis::aggregate::hotspots::MAX_CALL_PATH_HOPS;
use spantop::analysis::engine::{AnalysisConfig, TraceFindings, analyse_trace};
use spantop::analysis::trace::fanout::FanOutKind;
use spantop::demo::shapes::{self, Shape};
use spantop::store::Trace;

const N: usize = 100_000;

fn analyse(shape: Shape) -> TraceFindings {
    let spans = shapes::trace(shape, N, 1);
    assert_eq!(spans.len(), N);
    let trace = Trace::from_spans(spans[0].trace_id, spans);
    analyse_trace(&trace, &AnalysisConfig::default())
}

#[test]
fn a_wide_trace_is_one_n_plus_one_and_its_path_visits_every_call() {
    let f = analyse(Shape::Wide);
    assert_eq!(f.span_count, N);
    // 99,999 sequential calls under the root: each on the path, the root between them.
    assert_eq!(f.critical_path.len(), 1);
    assert_eq!(f.critical_path[0].sections.len(), 2 * (N - 1) + 1);
    assert_eq!(f.cp_total_ns, f.duration_ns);
    assert_eq!(f.fanouts.len(), 1);
    assert_eq!(f.fanouts[0].kind, FanOutKind::NPlusOne);
    assert_eq!(f.fanouts[0].degree, N - 1);
    assert_eq!(f.calls.len(), N - 1);
}

#[test]
fn a_deep_chain_is_analysed_without_recursion_or_runaway_paths() {
    let f = analyse(Shape::Deep);
    assert_eq!(f.span_count, N);
    // Every span nests in its parent: each lies on the path twice (before and after its child),
    // the innermost once.
    assert_eq!(f.critical_path[0].sections.len(), 2 * N - 1);
    assert_eq!(f.cp_total_ns, f.duration_ns);
    // A client span every other level; the four services' edges repeat every four levels, so
    // only the outermost call of each edge holds critical-path time.
    assert_eq!(
        f.calls.len(),
        N / 2 - 1,
        "the innermost client span reaches no one"
    );
    assert_eq!(f.calls.iter().filter(|c| c.cp_ns > 0).count(), 4);
    let longest = f
        .hotspots
        .cp_by_call_path
        .iter()
        .map(|(p, _)| p.as_str().split("->").count())
        .max()
        .expect("call paths");
    // The hops named, the elision mark, and a local span's own operation.
    assert!(longest <= MAX_CALL_PATH_HOPS + 2, "{longest} hops");
    assert!(
        f.hotspots
            .cp_by_call_path
            .iter()
            .any(|(p, _)| p.as_str().starts_with("gateway:handle->…->")),
        "deep paths keep their root"
    );
}

#[test]
fn a_mixed_trace_finds_its_fan_outs_cold_starts_and_errors() {
    let f = analyse(Shape::Mixed);
    assert_eq!(f.span_count, N);
    assert!(f.fanouts.iter().any(|x| x.kind == FanOutKind::NPlusOne));
    assert!(f.fanouts.iter().any(|x| x.kind == FanOutKind::Parallel));
    assert!(
        f.invocations.len() > 100,
        "{} invocations",
        f.invocations.len()
    );
    assert!(f.invocations.iter().any(|i| i.init_span.is_some()));
    assert!(!f.errors.is_empty());
    assert!(f.cp_total_ns <= f.duration_ns);
}
