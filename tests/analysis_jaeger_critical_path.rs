//! The nine Jaeger UI critical-path cases (tests/data/jaeger-critical-path, see PROVENANCE.md):
//! spantop's critical path must give Jaeger's sections, with the default `<=` rule and with
//! the `jaeger_strict` switch alike. The tiny Jaeger JSON files are parsed here directly,
//! because their span ids ("span-A") are not the hex ids a real reader accepts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use spantop::analysis::trace::critical_path::{CpOptions, critical_paths};
use spantop::analysis::trace::tree::TraceTree;
use spantop::model::{
    AnyValue, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, Sym, TraceId,
};
use spantop::store::Trace;

/// µs in the fixtures → ns; an offset keeps every time non-zero.
const US: u64 = 1_000;

fn load(case: u32) -> (Trace, HashMap<SpanId, String>, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jaeger-critical-path");
    let read = |name: String| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).expect("fixture"))
            .expect("fixture is JSON")
    };
    let trace = read(format!("critical-path-test{case}.trace.json"))["data"][0].clone();
    let expected = read(format!("critical-path-test{case}.expected.json"));
    let spans_json = trace["spans"].as_array().expect("spans");
    let ids: HashMap<String, SpanId> = spans_json
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let id = SpanId::from_u64(k as u64 + 1).expect("non-zero");
            (s["spanID"].as_str().expect("id").to_owned(), id)
        })
        .collect();
    let trace_id = TraceId::from_u128(1).expect("non-zero");
    let spans = spans_json
        .iter()
        .map(|s| {
            let refs = s["references"].as_array().cloned().unwrap_or_default();
            let parent = ["CHILD_OF", "FOLLOWS_FROM"].iter().find_map(|kind| {
                refs.iter()
                    .find(|r| r["refType"] == *kind)
                    .and_then(|r| ids.get(r["spanID"].as_str().unwrap_or("")).copied())
            });
            let kind = s["tags"]
                .as_array()
                .and_then(|t| t.iter().find(|t| t["key"] == "span.kind"))
                .and_then(|t| t["value"].as_str())
                .map_or(SpanKind::Internal, |k| match k {
                    "server" => SpanKind::Server,
                    "client" => SpanKind::Client,
                    "producer" => SpanKind::Producer,
                    "consumer" => SpanKind::Consumer,
                    _ => SpanKind::Internal,
                });
            let process = s["processID"].as_str().unwrap_or("");
            let service = trace["processes"][process]["serviceName"]
                .as_str()
                .unwrap_or("unknown");
            let start = s["startTime"].as_u64().expect("start") * US;
            Span {
                trace_id,
                span_id: ids[s["spanID"].as_str().expect("id")],
                parent_span_id: parent,
                name: Sym::new(s["operationName"].as_str().unwrap_or("")),
                kind,
                flags: 0,
                start_ns: start,
                end_ns: start + s["duration"].as_u64().expect("duration") * US,
                status: Status::default(),
                attributes: Box::new([]),
                events: Box::new([]),
                links: Box::new([]),
                resource: Arc::new(Resource::new(vec![KeyValue::new(
                    "service.name",
                    AnyValue::Str(service.into()),
                )])),
                scope: Arc::new(Scope::default()),
                extra: None,
            }
        })
        .collect();
    let names = ids.into_iter().map(|(k, v)| (v, k)).collect();
    (Trace::from_spans(trace_id, spans), names, expected)
}

/// `(spanID, start, end)` of the first root's path, latest first, in the fixture's µs.
fn ours(t: &Trace, names: &HashMap<SpanId, String>, opts: CpOptions) -> Vec<(String, u64, u64)> {
    let tree = TraceTree::new(t);
    let paths = critical_paths(&tree, opts);
    paths[0]
        .sections
        .iter()
        .map(|s| {
            (
                names[&tree.span(s.span).span_id].clone(),
                s.start / US,
                s.end / US,
            )
        })
        .collect()
}

fn theirs(expected: &Value) -> Vec<(String, u64, u64)> {
    expected["criticalPathSections"]
        .as_array()
        .expect("sections")
        .iter()
        .map(|s| {
            (
                s["spanID"].as_str().expect("id").to_owned(),
                s["sectionStart"].as_u64().expect("start"),
                s["sectionEnd"].as_u64().expect("end"),
            )
        })
        .collect()
}

#[test]
fn all_nine_jaeger_ui_cases() {
    for case in 1..=9 {
        let (trace, names, expected) = load(case);
        let want = theirs(&expected);
        for strict in [false, true] {
            let got = ours(
                &trace,
                &names,
                CpOptions {
                    jaeger_strict: strict,
                },
            );
            assert_eq!(got, want, "test{case}, jaeger_strict = {strict}");
        }
    }
}
