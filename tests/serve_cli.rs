//! The real `spantop serve` binary: starts on free loopback ports and says which, takes OTLP,
//! logs its summary, and on SIGTERM / SIGINT stops cleanly with the recording flushed; `live`
//! and `demo` say where they listen too.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Serve {
    fn start(record: &std::path::Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spantop"))
            .args([
                "serve",
                "--grpc",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--summary-every",
                "200ms",
            ])
            .arg("--record")
            .arg(record)
            .env("SPANTOP_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spantop binary starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Serve {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next log line containing `needle`, within a deadline.
    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(key)
        .map(|i| i + key.len())
        .expect("field present");
    line[start..].split_whitespace().next().expect("value")
}

fn spans(n: u64) -> ExportTraceServiceRequest {
    let spans = (1..=n)
        .map(|i| Span {
            trace_id: vec![7; 16],
            span_id: i.to_be_bytes().to_vec(),
            name: "op".into(),
            start_time_unix_nano: 1_000 + i,
            end_time_unix_nano: 2_000 + i,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn run_and_stop(sig: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().join("rec.jsonl");
    let mut serve = Serve::start(&record);
    let started = serve.wait_line("serving OTLP");
    let grpc = field(&started, "grpc=").to_owned();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
            .await
            .expect("connects");
        client.export(spans(25)).await.expect("accepted");
    });
    let summary = serve.wait_line("held 25 spans");
    assert!(summary.contains("spans/s"), "{summary}");
    assert!(summary.contains("rejected 0 spans"), "{summary}");
    serve.signal(sig);
    let fin = serve.wait_line("final:");
    assert!(fin.contains("held 25 spans in 1 traces (0 open)"), "{fin}");
    let status = serve.child.wait().expect("exits");
    assert!(status.success(), "clean exit after {sig}: {status:?}");
    let text = std::fs::read_to_string(&record).expect("recording written");
    assert_eq!(text.lines().count(), 1);
    assert_eq!(
        text.matches("\"spanId\"").count(),
        25,
        "every accepted span recorded"
    );
}

#[test]
fn serve_stops_cleanly_on_sigterm_with_recording_flushed() {
    run_and_stop("-TERM");
}

#[test]
fn serve_stops_cleanly_on_sigint() {
    run_and_stop("-INT");
}

/// Asked for port 0, `serve` says on stderr which ports it got, as endpoints an exporter takes;
/// both accept an export there.
#[test]
fn serve_prints_the_real_ports_it_listens_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut serve = Serve::start(&dir.path().join("rec.jsonl"));
    let started = serve.wait_line("serving OTLP/gRPC on http://127.0.0.1:");
    let endpoint = |after: &str| {
        let at = started.find(after).expect("endpoint named") + after.len();
        started[at..]
            .split([',', ';'])
            .next()
            .expect("endpoint")
            .to_owned()
    };
    let (grpc, http) = (endpoint("OTLP/gRPC on "), endpoint("OTLP/HTTP on "));
    for url in [&grpc, &http] {
        let port: u16 = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        assert_ne!(port, 0, "the real port, not the one asked for: {started}");
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(grpc.clone())
            .await
            .expect("connects");
        client.export(spans(3)).await.expect("accepted over gRPC");
        let resp = reqwest::Client::new()
            .post(format!("{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(prost::Message::encode_to_vec(&spans(5)))
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status(), 200, "accepted over HTTP");
    });
    // Spans 1..=3 again, then 4 and 5: the duplicates are dropped, 5 are held.
    serve.wait_line("held 5 spans");
    serve.signal("-TERM");
    assert!(serve.child.wait().expect("exits").success());
}

/// `live` and `demo` say where they listen on stderr before the TUI takes the screen. Run with
/// no controlling terminal (`setsid`, stdin from /dev/null) the TUI cannot start, so each
/// prints that line and exits with the terminal error: deterministic, and no terminal needed.
#[test]
fn live_and_demo_say_where_they_listen_before_the_tui_starts() {
    for args in [
        &["live", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"][..],
        &["demo"][..],
    ] {
        let out = Command::new("setsid")
            .arg(env!("CARGO_BIN_EXE_spantop"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
            .expect("setsid runs spantop");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "spantop {}: OTLP/gRPC on http://127.0.0.1:",
                    args[0]
                ))
            })
            .unwrap_or_else(|| panic!("{args:?}: no listening line on stderr:\n{err}"));
        for proto in ["OTLP/gRPC on ", "OTLP/HTTP on "] {
            let at = line.find(proto).expect("both endpoints") + proto.len();
            let port: u16 = line[at..]
                .split([',', ' '])
                .next()
                .and_then(|url| url.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("a port");
            assert_ne!(port, 0, "the bound port: {line}");
        }
        assert!(err.contains("cannot set up the terminal"), "{err}");
    }
}
