//! The TUI and `report` say the same thing: for the same file, the rows the TUI renders (from
//! the view a TUI replay's pipeline publishes) carry the figures `spantop report --format json`
//! prints: services, traces, cold starts, fan-outs, hotspots, map and errors. Checked on the
//! simulated shop and two public captures from other instrumentations.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Value;
use spantop::analysis::engine::AnalysisConfig;
use spantop::ingest::file::replay::Speed;
use spantop::pipeline::files::FileSource;
use spantop::pipeline::{self, PipelineConfig};
use spantop::store::StoreConfig;
use spantop::ui::{App, Header, Playback, ViewData};

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(rel)
}

const FILES: [&str; 3] = [
    "generated/shopfast-seed42-n100.otlp.jsonl.gz",
    "otlp-json/otel-tui__test_data.jsonl",
    "zipkin-v2-json/smartthings-mobile-web-install.json",
];

fn report_json(path: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_spantop"))
        .args(["report", "--format", "json"])
        .arg(path)
        .output()
        .expect("spantop runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report prints JSON")
}

/// The view a TUI replay of `path` shows once the file is in: the same pipeline `spantop
/// replay` runs (live mode, traces completing after a second without spans).
fn tui_view(path: &Path) -> Arc<ViewData> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let source = pipeline::Source::Files(FileSource {
            paths: vec![path.to_owned()],
            speed: Speed::Max,
        });
        let config = PipelineConfig {
            store: StoreConfig {
                inactivity_timeout: Duration::from_secs(1),
                ..StoreConfig::default()
            },
            findings_interval: Duration::from_millis(100),
            analysis: AnalysisConfig::default(),
            ..PipelineConfig::default()
        };
        let mut running = pipeline::start(source, config).await.expect("starts");
        let input = running.input_over().await;
        assert!(input.is_clean(), "{path:?} reads whole");
        let spans = input.spans();
        let mut view = running.view.clone();
        let view = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                {
                    let v = view.borrow_and_update();
                    let s = v.snapshot.stats;
                    if s.spans_received == spans
                        && s.open_traces == 0
                        && v.analysed_traces as u64 == s.traces_completed
                    {
                        break Arc::clone(&v);
                    }
                }
                view.changed().await.expect("pipeline publishes");
            }
        })
        .await
        .expect("every trace is analysed and shown");
        running.finish().await.expect("clean stop");
        view
    })
}

fn screen(app: &mut App, data: &ViewData, keys: &[KeyCode]) -> String {
    for &k in keys {
        app.handle_key(KeyEvent::new(k, KeyModifiers::NONE), data);
    }
    let mut terminal = Terminal::new(TestBackend::new(200, 200)).expect("backend");
    let header = Header::default();
    terminal
        .draw(|f| app.render(f, data, &header))
        .expect("draw");
    let buf = terminal.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The "shown/total" count in a table's title.
fn title_count(screen: &str, title: &str) -> usize {
    let title = format!(" {title}");
    let line = screen
        .lines()
        .find(|l| l.contains(&title) && !l.contains('│'))
        .unwrap_or_else(|| panic!("{title} drawn:\n{screen}"));
    let after = line.split_once(&title).map_or("", |(_, rest)| rest);
    // The first "shown/total" after the title (it may go on, e.g. the map's summary).
    let total = after.split_whitespace().find_map(|w| {
        let (shown, total) = w.split_once('/')?;
        shown.parse::<usize>().ok()?;
        total.parse().ok()
    });
    total.unwrap_or_else(|| panic!("count after {title}: {line}"))
}

fn len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

#[test]
fn the_tui_rows_and_the_json_report_give_the_same_figures() {
    for rel in FILES {
        let path = sample(rel);
        let report = report_json(&path);
        let view = tui_view(&path);
        // The view holds the very `Findings` the report renders: every figure agrees. (Through
        // JSON text both sides, so floats take the same printing and parsing.)
        let shown: Value = serde_json::from_str(
            &serde_json::to_string(&*view.findings).expect("findings serialise"),
        )
        .expect("JSON");
        for key in [
            "input",
            "latency",
            "cold_starts",
            "n_plus_one",
            "mn_plus_one",
            "parallel_fanouts",
            "chains",
            "patterns",
            "hotspots",
            "service_map",
            "service_graph",
            "errors",
            "async_messaging",
            "services",
            "operations",
        ] {
            assert_eq!(shown[key], report[key], "{rel}: {key}");
        }
        // And the tabs draw those rows: as many as the report lists, with its figures.
        let mut app = App::new(Playback::Replay);
        let services = screen(&mut app, &view, &[KeyCode::Char('1')]);
        assert_eq!(
            title_count(&services, "Services"),
            len(&report["services"]),
            "{rel}"
        );
        for s in report["services"].as_array().into_iter().flatten() {
            let name = s["service"].as_str().expect("service name");
            assert!(
                services.lines().any(|l| l.contains(name)),
                "{rel}: {name} in\n{services}"
            );
        }
        let traces = screen(&mut app, &view, &[KeyCode::Char('2')]);
        assert_eq!(
            title_count(&traces, "Traces"),
            report["input"]["traces"].as_u64().expect("traces") as usize,
            "{rel}"
        );
        let cold = screen(&mut app, &view, &[KeyCode::Char('4')]);
        assert_eq!(
            title_count(&cold, "Cold starts by function"),
            len(&report["cold_starts"]["by_function"]),
            "{rel}"
        );
        let fan = screen(&mut app, &view, &[KeyCode::Char('5')]);
        assert_eq!(
            title_count(
                &fan,
                "N+1 loops, parallel fan-outs and chains, by critical-path time"
            ),
            len(&report["patterns"]),
            "{rel}"
        );
        let hot = screen(&mut app, &view, &[KeyCode::Char('6')]);
        assert_eq!(
            title_count(&hot, "edge gaps; background apart"),
            len(&report["hotspots"]["operations"])
                + len(&report["hotspots"]["edges_by_gap_mean"])
                + len(&report["hotspots"]["background"]),
            "{rel}"
        );
        if rel.contains("otel-tui") {
            // flagd's EventStream streams are listed as background, with no share.
            let row = hot
                .lines()
                .find(|l| l.contains("schema.v1.Service/EventStream"))
                .unwrap_or_else(|| panic!("background row drawn:\n{hot}"));
            assert!(
                row.contains("stream") && row.trim_end_matches(['│', ' ']).ends_with('-'),
                "{row}"
            );
        }
        // The graph draws every edge once (plus a row per entry point); `v` shows the table.
        let graph = screen(&mut app, &view, &[KeyCode::Char('7')]);
        let map = screen(&mut app, &view, &[KeyCode::Char('v')]);
        assert_eq!(
            title_count(
                &map,
                &format!(
                    "Service map: {} services, {} edges",
                    len(&report["service_graph"]["services"]),
                    report["service_graph"]["edges"]
                )
            ),
            len(&report["service_map"]),
            "{rel}"
        );
        for e in report["service_map"].as_array().into_iter().flatten() {
            let (caller, callee) = (
                e["caller"].as_str().expect("caller"),
                e["callee"].as_str().expect("callee"),
            );
            let calls = e["calls"].as_u64().expect("calls").to_string();
            assert!(
                map.lines()
                    .any(|l| l.contains(callee) && l.split_whitespace().any(|w| w == calls)),
                "{rel}: {caller} -> {callee} with {calls} calls in\n{map}"
            );
            assert!(
                graph.lines().any(|l| l.contains(&format!("─▶ {callee}"))
                    && l.split_whitespace().any(|w| w == calls)),
                "{rel}: {caller} -> {callee} with {calls} calls in\n{graph}"
            );
        }
        // The error-origin figures the Trace view and the report's error section give.
        let origins: usize = view
            .traces
            .iter()
            .filter_map(|t| view.trace_findings(t.trace_id))
            .map(|f| f.errors.len())
            .sum();
        assert_eq!(
            origins,
            report["errors"]["reaching_root"].as_u64().unwrap_or(0) as usize
                + report["errors"]["absorbed"].as_u64().unwrap_or(0) as usize,
            "{rel}"
        );
    }
}

/// One service count: the store's summary line (`replay --headless`), the report's overview
/// and its services table count the same services, including ones that only call out (a
/// client-only root service, Zipkin's "unknown"), as Jaeger lists them.
#[test]
fn every_output_counts_the_same_services() {
    for rel in [
        "zipkin-v2-json/yelp.json",
        "jaeger-json/jaeger-anonymizer__trace_success.json",
        "reader-shapes/jaeger-api-v3-get-trace.jsonl",
        "otlp-json/otel-tui__test_data.jsonl",
    ] {
        let path = sample(rel);
        let out = Command::new(env!("CARGO_BIN_EXE_spantop"))
            .args(["replay", "--headless", "--speed", "max"])
            .arg(&path)
            .output()
            .expect("spantop runs");
        let summary = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let held: usize = summary
            .split(" services")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{rel}: no service count in {summary}"));
        let v = report_json(&path);
        assert_eq!(v["input"]["services"], held, "{rel}: overview vs summary");
        assert_eq!(
            len(&v["services"]),
            held,
            "{rel}: services table vs summary"
        );
    }
}
