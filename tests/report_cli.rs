//! `spantop report` as a user runs it: formats, `--fail-on` exit codes, bad input.

use std::path::Path;
use std::process::{Command, Output};

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/shopfast/shopfast-seed42-n100.otlp.jsonl")
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

#[test]
fn text_summary_names_the_worst_findings() {
    let out = report(&[&sample()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for needle in [
        "== COLD STARTS ==",
        "45 cold starts in 39 traces",
        "order-service POST /orders → inventory-service GET /inventory/{sku}",
        "order-service → payment-service",
        "inventory-service SELECT inventory.stock",
        "order-service → notification-fn",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(stderr.contains("2707 spans in 114 traces"), "{stderr}");
}

#[test]
fn markdown_has_tables() {
    let out = report(&[&sample(), "--format", "md", "--top", "3"]);
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).expect("utf-8");
    assert!(md.starts_with("# spantop report"));
    assert!(md.contains("| function | trigger |"));
    let hotspot_rows = md
        .split("## Critical-path hotspots")
        .nth(1)
        .and_then(|s| s.split("## ").next())
        .map_or(0, |s| {
            s.lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| service"))
                .count()
        });
    assert_eq!(hotspot_rows, 3, "--top 3 limits the rows");
}

#[test]
fn json_top_cuts_lists_but_not_counts() {
    let out = report(&[&sample(), "--format", "json", "--top", "2"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["schema"], "spantop.report/v1");
    assert_eq!(v["n_plus_one"]["count"], 43);
    assert_eq!(v["n_plus_one"]["list"].as_array().map(Vec::len), Some(2));
    assert!(
        v.get("traces").is_none(),
        "per-trace entries only on request"
    );
}

#[test]
fn fail_on_gates_the_exit_status() {
    let held = report(&[
        &sample(),
        "--fail-on",
        "coldstart.rate>0.05",
        "--fail-on",
        "p99>10s",
    ]);
    assert_eq!(held.status.code(), Some(3));
    let stderr = String::from_utf8(held.stderr).expect("utf-8");
    assert!(stderr.contains("coldstart.rate"), "{stderr}");
    assert!(
        !stderr.contains("p99"),
        "only conditions that hold are named: {stderr}"
    );
    let clean = report(&[
        &sample(),
        "--fail-on",
        "nplus1.count>100",
        "--fail-on",
        "errors.rate>50%",
    ]);
    assert_eq!(clean.status.code(), Some(0));
}

#[test]
fn bad_condition_and_missing_file_fail_clearly() {
    let bad = report(&[&sample(), "--fail-on", "latency>1"]);
    assert_eq!(bad.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown metric"));
    let missing = report(&["/nonexistent/trace.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/trace.json"));
}

#[test]
fn clock_skew_is_flagged_and_optionally_adjusted() {
    let skew = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/zipkin/skew.json")
        .to_string_lossy()
        .into_owned();
    let json = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![skew.as_str(), "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_slice(&report(&args).stdout).expect("JSON")
    };
    let raw = json(&[]);
    assert_eq!(raw["service_map"][0]["clock_skew_suspected"], 1);
    assert_eq!(raw["input"]["clock_skew_adjusted_spans"], 0);
    let fixed = json(&["--max-clock-skew", "1m"]);
    assert_eq!(fixed["service_map"][0]["clock_skew_suspected"], 0);
    assert!(fixed["input"]["clock_skew_adjusted_spans"].as_u64() > Some(0));
    assert_eq!(
        raw["service_map"][0]["gap"]["mean_ms"], fixed["service_map"][0]["gap"]["mean_ms"],
        "the gap does not depend on clock offsets"
    );
}

/// A proxy's route timeout is blamed on the proxy by the statuses alone; the report names
/// the span that was still running when it gave up (tests/data/PROVENANCE.md).
#[test]
fn a_timeout_names_its_locus_in_json_and_text() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/timeout/envoy-route-timeout.otlp.json")
        .to_string_lossy()
        .into_owned();
    let out = report(&["--format", "json", &file]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let e = &v["errors"];
    assert_eq!(e["reaching_root"], 1, "{e}");
    let origin = &e["list"][0];
    assert_eq!(origin["origin"]["name"], "router recommendation egress");
    let locus = &origin["timeout_locus"];
    assert_eq!(locus["span"]["service"], "recommendation");
    assert_eq!(locus["span"]["name"], "SELECT recommendations");
    assert_eq!(locus["gave_up_after_ms"], 1001.0);
    assert_eq!(locus["ran_on_ms"], 636.0);
    assert_eq!(locus["children"], 0);
    let row = &e["by_origin"][0];
    assert_eq!(row["timed_out"], 1);
    assert_eq!(row["timeout_locus"]["operation"], "SELECT recommendations");

    let text = String::from_utf8(report(&[&file]).stdout).expect("utf-8");
    assert!(
        text.contains("recommendation SELECT recommendations (still running in 1 of 1 timeouts)"),
        "{text}"
    );
}
