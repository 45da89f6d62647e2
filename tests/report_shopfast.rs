//! The shopfast sample against its answer key: every expectation the key states, checked on
//! the output of `spantop report --format json --per-trace`. The key is read at run time, so the same test holds for any seed or
//! rate of the generator (drop another sample + key pair into tests/data/shopfast/).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/shopfast")
}

struct Case {
    key: Value,
    /// `spantop report --format json --per-trace` on the sample.
    findings: Value,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data_dir()).expect("data dir") {
        let path = entry.expect("dir entry").path();
        let name = path.to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".answer-key.json") else {
            continue;
        };
        let key: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("key"))
            .expect("key is JSON");
        let output = Command::new(env!("CARGO_BIN_EXE_spantop"))
            .args(["report", "--format", "json", "--per-trace"])
            .arg(format!("{stem}.otlp.jsonl"))
            .output()
            .expect("spantop runs");
        assert!(output.status.success(), "report failed: {output:?}");
        let findings: Value = serde_json::from_slice(&output.stdout).expect("report is JSON");
        assert_eq!(findings["schema"], "spantop.report/v1");
        out.push(Case { key, findings });
    }
    assert!(!out.is_empty(), "no sample with an answer key found");
    out
}

fn s(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(s).collect()
}

fn set(v: &Value) -> BTreeSet<String> {
    strs(v).into_iter().collect()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: got {a}, key says {b}");
}

#[test]
fn cold_starts_match_the_key() {
    for c in cases() {
        let exp = &c.key["expectations"]["cold_starts"];
        let got = c.findings["cold_starts"].clone();
        assert_eq!(got["count"], exp["count"]);
        assert_eq!(got["traces_with_cold_start"], exp["traces_with_cold_start"]);
        let mut per_fn: HashMap<String, (u64, f64)> = HashMap::new();
        for row in got["by_function"].as_array().expect("rows") {
            let e = per_fn.entry(s(&row["function"])).or_default();
            e.0 += row["cold"].as_u64().expect("count");
            e.1 += f(&row["init"]["total_ms"]);
        }
        for (func, n) in exp["by_function"].as_object().expect("by_function") {
            let (cold, total) = per_fn[func.as_str()];
            assert_eq!(Some(cold), n.as_u64(), "cold starts of {func}");
            let mean = f(&exp["init_ms_mean_by_function"][func]);
            close(
                total / cold as f64,
                mean,
                0.002,
                &format!("mean init of {func}"),
            );
        }
        let key_of = |v: &Value| {
            (
                s(&v["trace_id"]),
                s(&v["invocation_span_id"]),
                s(&v["init_span_id"]),
                s(&v["function"]),
            )
        };
        let got_list: BTreeMap<_, f64> = got["list"]
            .as_array()
            .expect("list")
            .iter()
            .map(|v| (key_of(v), f(&v["init_ms"])))
            .collect();
        let exp_list: BTreeMap<_, f64> = exp["list"]
            .as_array()
            .expect("list")
            .iter()
            .map(|v| (key_of(v), f(&v["init_ms"])))
            .collect();
        assert_eq!(
            got_list.keys().collect::<Vec<_>>(),
            exp_list.keys().collect::<Vec<_>>()
        );
        for (k, v) in &exp_list {
            close(got_list[k], *v, 0.0011, &format!("init of {k:?}"));
        }
    }
}

/// Compares one key fan-out with ours: same parent, members, degree and times.
fn check_fanout(got: &Value, exp: &Value) {
    let what = format!("fan-out under {}", s(&exp["parent_span_id"]));
    assert_eq!(got["degree"], exp["degree"], "{what}");
    assert_eq!(
        set(&got["child_span_ids"]),
        set(&exp["child_span_ids"]),
        "{what}"
    );
    assert_eq!(
        set(&got["target_services"]),
        set(&exp["target_services"]),
        "{what}"
    );
    assert_eq!(
        set(&got["target_operations"]),
        set(&exp["target_operations"]),
        "{what}"
    );
    assert_eq!(
        s(&got["parent_service"]),
        s(&exp["parent_service"]),
        "{what}"
    );
    assert_eq!(s(&got["parent_name"]), s(&exp["parent_name"]), "{what}");
    assert_eq!(got["overlapping"], exp["overlapping"], "{what}");
    close(f(&got["wall_ms"]), f(&exp["wall_ms"]), 0.0011, &what);
    close(f(&got["sum_ms"]), f(&exp["sum_child_ms"]), 0.0011, &what);
}

fn by_parent(list: &Value) -> BTreeMap<(String, String), Value> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|v| ((s(&v["trace_id"]), s(&v["parent_span_id"])), v.clone()))
        .collect()
}

#[test]
fn n_plus_one_loops_match_the_key() {
    for c in cases() {
        let exp = &c.key["expectations"]["n_plus_one"];
        let got = c.findings["n_plus_one"].clone();
        assert_eq!(got["count"], exp["occurrences"]);
        let (g, e) = (by_parent(&got["list"]), by_parent(&exp["list"]));
        assert_eq!(g.keys().collect::<Vec<_>>(), e.keys().collect::<Vec<_>>());
        for (k, ev) in &e {
            check_fanout(&g[k], ev);
            assert_eq!(
                g[k]["truncated_by_error"], ev["truncated_by_error"],
                "{k:?}"
            );
            assert_eq!(s(&g[k]["shape"]), "sequential");
        }
        let complete: Vec<u64> = g
            .values()
            .filter(|v| v["truncated_by_error"] == false)
            .map(|v| v["degree"].as_u64().expect("degree"))
            .collect();
        assert_eq!(
            complete.len() as u64,
            exp["complete_occurrences"].as_u64().expect("n")
        );
        assert_eq!(complete.iter().min().copied(), exp["degree_min"].as_u64());
        assert_eq!(complete.iter().max().copied(), exp["degree_max"].as_u64());
        let truncated = g
            .values()
            .filter(|v| v["truncated_by_error"] == true)
            .count();
        assert_eq!(
            truncated as u64,
            exp["truncated_by_error_occurrences"].as_u64().expect("n")
        );
    }
}

#[test]
fn parallel_fanouts_match_the_key() {
    for c in cases() {
        let exp = &c.key["expectations"]["parallel_fanout"];
        let got = c.findings["parallel_fanouts"].clone();
        assert_eq!(got["count"], exp["occurrences"]);
        let (g, e) = (by_parent(&got["list"]), by_parent(&exp["list"]));
        assert_eq!(g.keys().collect::<Vec<_>>(), e.keys().collect::<Vec<_>>());
        for (k, ev) in &e {
            check_fanout(&g[k], ev);
            assert_eq!(strs(&g[k]["chain"]), strs(&exp["chain"]), "{k:?}");
        }
    }
}

fn check_edge(got: &Value, exp: &Value) {
    let what = format!("{} -> {}", s(&exp["caller"]), s(&exp["callee"]));
    assert_eq!(s(&got["caller"]), s(&exp["caller"]), "{what}");
    assert_eq!(s(&got["callee"]), s(&exp["callee"]), "{what}");
    assert_eq!(got["calls"], exp["calls"], "{what}");
    assert_eq!(got["operations"], exp["operations"], "{what}");
    for (ours, theirs) in [
        (&got["client"]["mean_ms"], &exp["client_ms_mean"]),
        (&got["server"]["mean_ms"], &exp["server_ms_mean"]),
        (&got["gap"]["mean_ms"], &exp["gap_ms_mean"]),
        (&got["gap"]["p50_ms"], &exp["gap_ms_p50"]),
        (&got["gap"]["p95_ms"], &exp["gap_ms_p95"]),
        (&got["gap"]["total_ms"], &exp["gap_ms_total"]),
    ] {
        close(f(ours), f(theirs), 0.0011, &what);
    }
}

#[test]
fn hotspot_edge_and_every_edge_match_the_key() {
    for c in cases() {
        let exp = &c.key["expectations"]["hotspot_edge"];
        let got = c.findings["hotspots"].clone();
        check_edge(&got["edges_by_gap_mean"][0], &exp["stats"]);
        check_edge(&got["edges_by_gap_total"][0], &exp["stats"]);
        check_edge(&got["edges_by_gap_mean"][1], &exp["runner_up_by_mean_gap"]);
        let rows = c.findings["service_map"].clone();
        for e in c.key["edges"].as_array().expect("edges") {
            let row = rows
                .as_array()
                .expect("rows")
                .iter()
                .find(|r| {
                    r["kind"] == "rpc" && r["caller"] == e["caller"] && r["callee"] == e["callee"]
                })
                .unwrap_or_else(|| panic!("edge {e} missing"));
            check_edge(row, e);
        }
    }
}

#[test]
fn error_origins_match_the_key() {
    for c in cases() {
        let got = c.findings["errors"]["list"].clone();
        let exp = &c.key["expectations"]["errors"];
        let mut want = 0;
        for group in ["propagating", "contained"] {
            for e in exp[group]["list"].as_array().expect("list") {
                want += 1;
                let g = got
                    .as_array()
                    .expect("list")
                    .iter()
                    .find(|g| g["trace_id"] == e["trace_id"])
                    .unwrap_or_else(|| panic!("no error origin in {}", e["trace_id"]));
                let what = s(&e["trace_id"]);
                assert_eq!(g["origin"]["span_id"], e["root_cause"]["span_id"], "{what}");
                assert_eq!(g["origin"]["name"], e["root_cause"]["name"], "{what}");
                assert_eq!(g["origin"]["service"], e["root_cause"]["service"], "{what}");
                assert_eq!(
                    s(&g["origin"]["kind"]).to_uppercase(),
                    s(&e["root_cause"]["kind"])
                );
                assert_eq!(g["error_span_count"], e["error_span_count"], "{what}");
                assert_eq!(
                    g["propagation_services"], e["propagation_services"],
                    "{what}"
                );
                assert_eq!(g["propagated_to_root"], e["propagated_to_root"], "{what}");
                assert_eq!(g["root_http_status"], e["root_http_status"], "{what}");
            }
            assert_eq!(
                exp[group]["traces"].as_u64(),
                Some(exp[group]["list"].as_array().expect("list").len() as u64)
            );
        }
        assert_eq!(
            got.as_array().expect("list").len(),
            want,
            "no extra origins"
        );
    }
}

#[test]
fn async_links_match_the_key() {
    for c in cases() {
        let exp = &c.key["expectations"]["async_messaging"];
        let got = c.findings["async_messaging"].clone();
        assert_eq!(got["consumer_traces"], exp["consumer_traces"]);
        assert_eq!(got["links"], exp["links"]);
        assert_eq!(
            got["resolved"], exp["links"],
            "every producer is in the file"
        );
        let ours: BTreeSet<(String, String, String, String, String)> = got["list"]
            .as_array()
            .expect("list")
            .iter()
            .map(|l| {
                (
                    s(&l["consumer_trace_id"]),
                    s(&l["consumer_span_id"]),
                    s(&l["producer_trace_id"]),
                    s(&l["producer_span_id"]),
                    s(&l["producer_service"]),
                )
            })
            .collect();
        let mut theirs = BTreeSet::new();
        for c in exp["list"].as_array().expect("list") {
            for l in c["links"].as_array().expect("links") {
                theirs.insert((
                    s(&c["consumer_trace_id"]),
                    s(&c["consumer_span_id"]),
                    s(&l["trace_id"]),
                    s(&l["span_id"]),
                    s(&l["producer_service"]),
                ));
            }
        }
        assert_eq!(ours, theirs);
        let edge = &got["edges"][0];
        assert_eq!(edge["producer_service"], exp["producer_service"]);
        assert_eq!(edge["consumer_service"], exp["consumer_service"]);
    }
}

#[test]
fn critical_path_of_every_trace_matches_the_key() {
    for c in cases() {
        let got = c.findings["traces"].clone();
        let by_id: HashMap<String, &Value> = got
            .as_array()
            .expect("traces")
            .iter()
            .map(|t| (s(&t["trace_id"]), t))
            .collect();
        for t in c.key["traces"].as_array().expect("traces") {
            let id = s(&t["trace_id"]);
            let g = by_id[id.as_str()];
            let cp = &t["critical_path"];
            assert_eq!(g["services_in_order"], cp["services_in_order"], "{id}");
            assert_eq!(g["services_first_seen"], cp["services_first_seen"], "{id}");
            close(
                f(&g["client_gap_on_path_ms"]),
                f(&cp["client_side_gap_ms_on_path"]),
                0.0011,
                &id,
            );
            let ours = g["critical_path"][0]["sections"]
                .as_array()
                .expect("sections");
            let theirs = cp["sections"].as_array().expect("sections");
            assert_eq!(ours.len(), theirs.len(), "{id}");
            for (a, b) in ours.iter().zip(theirs) {
                assert_eq!(a["span_id"], b["span_id"], "{id}");
                close(
                    f(&a["start_offset_ms"]),
                    f(&b["start_offset_ms"]),
                    0.0011,
                    &id,
                );
                close(f(&a["duration_ms"]), f(&b["duration_ms"]), 0.0011, &id);
            }
            for (svc, ms) in cp["self_time_ms_by_service"].as_object().expect("map") {
                close(
                    f(&g["cp_by_service_ms"][svc]),
                    f(ms),
                    0.0011,
                    &format!("{id} {svc}"),
                );
            }
        }
    }
}

#[test]
fn critical_path_by_scenario_matches_the_key() {
    for c in cases() {
        let got = c.findings["traces"].clone();
        let by_id: HashMap<String, &Value> = got
            .as_array()
            .expect("traces")
            .iter()
            .map(|t| (s(&t["trace_id"]), t))
            .collect();
        let mut scenario_traces: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for t in c.key["traces"].as_array().expect("traces") {
            scenario_traces
                .entry(s(&t["scenario"]))
                .or_default()
                .push(by_id[s(&t["trace_id"]).as_str()]);
        }
        for (scenario, exp) in c.key["expectations"]["critical_path_by_scenario"]
            .as_object()
            .expect("scenarios")
        {
            let traces = &scenario_traces[scenario];
            assert_eq!(traces.len() as u64, exp["traces"].as_u64().expect("n"));
            for field in ["services_first_seen", "services_in_order"] {
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                for t in traces {
                    *counts.entry(t[field].to_string()).or_default() += 1;
                }
                let (best, n) = counts
                    .iter()
                    .max_by_key(|(k, n)| (**n, std::cmp::Reverse((*k).clone())))
                    .expect("non-empty");
                let want = &exp[format!("most_common_{field}")];
                assert_eq!(best, &want.to_string(), "{scenario} {field}");
                let share = *n as f64 / traces.len() as f64;
                close(
                    share,
                    f(&exp[format!("most_common_{field}_share")]),
                    0.0006,
                    scenario,
                );
            }
            let mut totals: BTreeMap<String, f64> = BTreeMap::new();
            for t in traces {
                for (svc, ms) in t["cp_by_service_ms"].as_object().expect("map") {
                    *totals.entry(svc.clone()).or_default() += f(ms);
                }
            }
            for (svc, ms) in exp["self_time_ms_total_by_service"]
                .as_object()
                .expect("map")
            {
                close(totals[svc], f(ms), 0.01, &format!("{scenario} {svc}"));
            }
        }
    }
}
