//! Real captures against their answer keys: every `samples/**/NAME.expected.json` that names a
//! `sample` states what an engineer who read the trace agrees with (how it was decided is in
//! the key); `spantop report --format json` on the sample must say exactly that.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn keys(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("samples dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            keys(&path, out);
        } else if path.to_string_lossy().ends_with(".expected.json") {
            out.push(path);
        }
    }
}

fn report(sample: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_spantop"))
        .args(["report", "--format", "json"])
        .arg(sample)
        .output()
        .expect("spantop runs");
    assert!(out.status.success(), "{}: {out:?}", sample.display());
    serde_json::from_slice(&out.stdout).expect("report is JSON")
}

fn list<'a>(v: &'a Value, section: &str) -> &'a [Value] {
    v[section]["list"].as_array().map_or(&[], Vec::as_slice)
}

/// Repeated calls of one signature, whichever list the report files them under.
fn repeated_calls(r: &Value) -> Vec<&Value> {
    ["n_plus_one", "parallel_fanouts"]
        .iter()
        .flat_map(|s| list(r, s))
        .filter(|x| x["signature"].is_string())
        .collect()
}

fn matches(want: &Value, got: &Value) -> bool {
    let call = want["call"].as_str().unwrap_or_default();
    let sequential = got["shape"] == "sequential";
    got["parent_service"] == want["parent_service"]
        && got["parent_name"] == want["parent_name"]
        && got["degree"] == want["degree"]
        && got["signature"].as_str().is_some_and(|s| s.contains(call))
        && want["sequential"].as_bool() == Some(sequential)
        && (want["max_concurrency"].is_null() || want["max_concurrency"] == got["max_concurrency"])
}

fn check(key_path: &Path, key: &Value) {
    let name = key["sample"].as_str().expect("sample name");
    let sample = key_path.with_file_name(name);
    let r = report(&sample);
    let at = key_path.display();
    for field in ["spans", "traces", "orphan_spans"] {
        assert_eq!(r["input"][field], key[field], "{at}: {field}");
    }

    let want = key["repeated_calls"].as_array().expect("repeated_calls");
    let mut got = repeated_calls(&r);
    let mut missing = Vec::new();
    for w in want {
        match got.iter().position(|g| matches(w, g)) {
            Some(i) => {
                got.remove(i);
            }
            None => missing.push(w),
        }
    }
    let extra: Vec<String> = got
        .iter()
        .map(|g| {
            format!(
                "{} {} ×{} {}",
                g["parent_service"], g["parent_name"], g["degree"], g["signature"]
            )
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{at}: repeated calls not found: {missing:?}; reported but not in the key: {extra:#?}"
    );

    let origins = key["error_origins"].as_array().expect("error_origins");
    let by_origin = r["errors"]["by_origin"].as_array().expect("by_origin");
    let got: Vec<(String, String, bool)> = by_origin
        .iter()
        .map(|o| {
            (
                o["service"].as_str().unwrap_or_default().to_owned(),
                o["operation"].as_str().unwrap_or_default().to_owned(),
                o["propagated_to_root"].as_u64().unwrap_or(0) > 0,
            )
        })
        .collect();
    let want: Vec<(String, String, bool)> = origins
        .iter()
        .map(|o| {
            (
                o["service"].as_str().unwrap_or_default().to_owned(),
                o["operation"].as_str().unwrap_or_default().to_owned(),
                o["reached_root"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(got, want, "{at}: error origins");

    // Long-lived streams and detached work, set apart from request hotspots.
    if let Some(want) = key.get("background").and_then(Value::as_array) {
        let row = |b: &Value| {
            (
                b["service"].as_str().unwrap_or_default().to_owned(),
                b["operation"].as_str().unwrap_or_default().to_owned(),
                b["kind"].as_str().unwrap_or_default().to_owned(),
                b["spans"].as_u64().unwrap_or(0),
            )
        };
        let mut got: Vec<_> = r["hotspots"]["background"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(row)
            .collect();
        let mut want: Vec<_> = want.iter().map(row).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{at}: background work");
    }
    if let Some(n) = key.get("low_coverage_traces") {
        assert_eq!(
            &r["hotspots"]["coverage"]["low_traces"], n,
            "{at}: traces whose critical path explains little of their extent"
        );
    }
}

#[test]
fn real_captures_match_their_answer_keys() {
    let mut paths = Vec::new();
    keys(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"),
        &mut paths,
    );
    let mut checked = 0;
    for p in paths {
        let key: Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("key")).expect("key JSON");
        // Critical-path expectations share the suffix; answer keys name their sample.
        if key.get("sample").is_some() {
            check(&p, &key);
            checked += 1;
        }
    }
    assert!(checked >= 2, "the real-capture answer keys in samples/");
}

/// The OpenTelemetry Demo capture (otel-tui's test data): every failed request is one failure
/// that reached its root, even where a span in between carries only `http.status_code=500`
/// (status unset) or is an unmarked internal helper of the failing service. The count of
/// failed requests is read from the raw OTLP JSON here, independently of spantop's readers.
#[test]
fn otel_demo_failures_are_one_origin_per_failed_request() {
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/otlp-json/otel-tui__test_data.jsonl");
    let text = std::fs::read_to_string(&sample).expect("sample");
    let mut failed_traces = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value = serde_json::from_str(line).expect("OTLP JSON line");
        for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let error = s["status"]["code"].as_u64() == Some(2);
                    let http_5xx = s["attributes"].as_array().into_iter().flatten().any(|a| {
                        a["key"] == "http.status_code"
                            && a["value"]["intValue"]
                                .as_str()
                                .and_then(|v| v.parse::<i64>().ok())
                                .or_else(|| a["value"]["intValue"].as_i64())
                                .is_some_and(|c| c >= 500)
                    });
                    if error || http_5xx {
                        failed_traces.insert(s["traceId"].as_str().unwrap_or_default().to_owned());
                    }
                }
            }
        }
    }
    assert_eq!(failed_traces.len(), 59, "failed requests in the capture");
    let r = report(&sample);
    let e = &r["errors"];
    assert_eq!(e["traces_with_errors"], 59);
    assert_eq!(e["reaching_root"], 59, "one origin per failed request");
    assert_eq!(e["absorbed"], 0, "no failure split into an absorbed origin");
    // The proxy answered 20 of its 75 requests with a 500 and left the status unset: the
    // services table counts them as its errors, with the same meaning as the origins.
    let proxy = r["services"]
        .as_array()
        .and_then(|v| v.iter().find(|s| s["service"] == "frontend-proxy"))
        .expect("frontend-proxy row");
    assert_eq!(
        (&proxy["requests"], &proxy["errors"]),
        (&75.into(), &20.into())
    );
}
