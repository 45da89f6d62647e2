//! `spantop report` exit status is honest about its input, before any `--fail-on`: 1 when
//! nothing could be read (and no empty report), 2 when anything was skipped (the report covers
//! the rest), then 3 for a gate that holds, else 0.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sample(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn report(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spantop"))
        .arg("report")
        .args(args)
        .output()
        .expect("spantop runs")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, text).expect("temp file");
    path.to_string_lossy().into_owned()
}

const GOOD: &str = "samples/zipkin-v2-json/simple-db-p6.json";

#[test]
fn a_clean_file_exits_zero_and_a_holding_gate_three() {
    let ok = report(&[&sample(GOOD)]);
    assert_eq!(ok.status.code(), Some(0));
    let gated = report(&[&sample(GOOD), "--fail-on", "traces>0"]);
    assert_eq!(gated.status.code(), Some(3));
}

#[test]
fn nothing_read_exits_one_with_no_report_whatever_the_gate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = write(&dir, "empty.json", "");
    let metrics = write(&dir, "metrics.jsonl", "{\"resourceMetrics\":[]}\n");
    let garbage = write(
        &dir,
        "bad.jsonl",
        "{not json\n{\"also\": \"not a trace\"}\n",
    );
    for files in [
        vec![empty.as_str()],
        vec![metrics.as_str()],
        vec![garbage.as_str()],
        vec!["/nonexistent/trace.json"],
        vec![empty.as_str(), "/nonexistent/trace.json"],
    ] {
        // A gate that an empty report would pass must not turn this into success.
        let mut args = files.clone();
        args.extend(["--fail-on", "errors.count>0"]);
        let out = report(&args);
        assert_eq!(out.status.code(), Some(1), "{files:?}");
        assert!(out.stdout.is_empty(), "no report for {files:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no spans could be read"), "{err}");
    }
}

#[test]
fn skipped_input_exits_two_with_the_report_of_the_rest_before_any_gate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good_line = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"}]}]}]}"#;
    let damaged = write(
        &dir,
        "damaged.jsonl",
        &format!("{good_line}\n{{\"resourceSpans\": [truncated\n"),
    );
    let cases: [Vec<&str>; 2] = [
        vec![damaged.as_str()],
        vec![GOOD, "/nonexistent/trace.json"],
    ];
    for files in cases {
        let files: Vec<String> = files
            .iter()
            .map(|f| {
                if f.starts_with('/') {
                    (*f).to_owned()
                } else {
                    sample(f)
                }
            })
            .collect();
        let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
        // Holds on any input; input problems still decide the status.
        args.extend(["--fail-on", "traces>0"]);
        let out = report(&args);
        assert_eq!(out.status.code(), Some(2), "{files:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("== OVERVIEW =="),
            "report of the rest: {text}"
        );
        assert!(text.contains("1 traces"), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--fail-on not evaluated"), "{err}");
    }
}
