//! The real `spantop serve` binary: starts on free loopback ports and says which, takes OTLP,
//! logs its summary, and on SIGTERM / SIGINT stops cleanly with the recording flushed; `live`
//! and `demo` say where they listen too.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

mod common;
use common::{Serve, field, numbered_request};

/// `serve` with a summary line every 200 ms, recording to `record`.
fn start(record: &Path) -> Serve {
    Serve::start(
        &[
            OsStr::new("--summary-every"),
            OsStr::new("200ms"),
            OsStr::new("--record"),
            record.as_os_str(),
        ],
        &[],
    )
}

fn run_and_stop(sig: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().join("rec.jsonl");
    let mut serve = start(&record);
    let started = serve.wait_line("serving OTLP");
    let grpc = field(&started, "grpc=").to_owned();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
            .await
            .expect("connects");
        client
            .export(numbered_request(1, 25, 1000))
            .await
            .expect("accepted");
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
    let mut serve = start(&dir.path().join("rec.jsonl"));
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
        client
            .export(numbered_request(1, 3, 1000))
            .await
            .expect("accepted over gRPC");
        let resp = reqwest::Client::new()
            .post(format!("{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(prost::Message::encode_to_vec(&numbered_request(1, 5, 1000)))
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
