//! `--record` keeps what it acknowledged: a restart appends to the same file (closing a partial
//! last line first), `--record-truncate` starts fresh, `kill -9` of the real binary in the
//! middle of a recording loses no span an exporter was told was accepted, and the span logs
//! recorded beside the spans come back with their spans on replay.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;
use spantop::export::record::{Opened, RecordConfig};
use spantop::ingest::file::{FileSummary, read_path};
use spantop::pipeline::receivers::ReceiverConfig;
use spantop::server::{Server, ServerConfig};
use spantop::store::{SpanStore, StoreConfig};

mod common;
use common::numbered_request;

/// Span ids in a recording, and what the reader said about it.
fn recorded(path: &Path) -> (HashSet<u64>, FileSummary) {
    let mut ids = HashSet::new();
    let summary = read_path(path, &mut |b| {
        ids.extend(b.spans.iter().map(|s| s.span_id.as_u64()));
    })
    .expect("recording readable");
    (ids, summary)
}

fn record_config(path: &Path) -> ServerConfig {
    ServerConfig {
        receivers: ReceiverConfig {
            record: Some(RecordConfig::new(path)),
            ..ReceiverConfig::ephemeral()
        },
        ..ServerConfig::ephemeral()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_the_same_file_keeps_both_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rec.jsonl");

    let first = Server::start(record_config(&path)).await.expect("starts");
    assert_eq!(first.recording, Some(Opened::New));
    let mut client = TraceServiceClient::connect(format!("http://{}", first.grpc_addr))
        .await
        .expect("connects");
    for k in 0..3 {
        client
            .export(numbered_request(1 + k * 100, 20, 10))
            .await
            .expect("accepted");
    }
    drop(client);
    let stopped = first.stop().await.expect("stops");
    assert_eq!(stopped.recorded_lines, Some(3));

    // A run killed in the middle of a write leaves a partial last line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("opens");
    f.write_all(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00"#)
        .expect("writes");
    drop(f);
    let before = std::fs::metadata(&path).expect("exists").len();

    let second = Server::start(record_config(&path)).await.expect("starts");
    assert_eq!(
        second.recording,
        Some(Opened::Appending {
            existing_bytes: before,
            closed_partial_line: true
        })
    );
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/traces", second.http_addr))
        .header("content-type", "application/x-protobuf")
        .body(numbered_request(1001, 20, 10).encode_to_vec())
        .send()
        .await
        .expect("reaches the server");
    assert_eq!(resp.status(), 200);
    let stopped = second.stop().await.expect("stops");
    assert_eq!(stopped.recorded_lines, Some(1));

    let (ids, summary) = recorded(&path);
    let want: HashSet<u64> = [1u64, 101, 201, 1001]
        .iter()
        .flat_map(|&s| s..s + 20)
        .collect();
    assert_eq!(ids, want, "both runs' spans, nothing else");
    assert_eq!(summary.skipped, 1, "{:?}", summary.problems);
    assert!(
        summary.problems[0].contains(":4: invalid JSON: incomplete line"),
        "the reader names the cut-off line: {:?}",
        summary.problems
    );

    // --record-truncate starts over and says how much it threw away.
    let size = std::fs::metadata(&path).expect("exists").len();
    let mut config = record_config(&path);
    if let Some(rc) = config.receivers.record.as_mut() {
        rc.truncate = true;
        rc.fsync = true;
    }
    let third = Server::start(config).await.expect("starts");
    assert_eq!(
        third.recording,
        Some(Opened::Truncated {
            previous_bytes: size
        })
    );
    let mut client = TraceServiceClient::connect(format!("http://{}", third.grpc_addr))
        .await
        .expect("connects");
    client
        .export(numbered_request(5000, 5, 10))
        .await
        .expect("accepted");
    drop(client);
    third.stop().await.expect("stops");
    let (ids, summary) = recorded(&path);
    assert_eq!(ids, (5000..5005).collect());
    assert_eq!(summary.skipped, 0);
}

/// The real binary, killed with SIGKILL while four clients export as fast as they can: every
/// span whose request was answered OK is in the file, and at most the last line is lost.
#[test]
fn kill_9_mid_recording_loses_no_acknowledged_span() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rec.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spantop"))
        .args([
            "serve",
            "--grpc",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
        ])
        .arg("--record")
        .arg(&path)
        .env("SPANTOP_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spantop starts");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let grpc = loop {
        let line = lines
            .next()
            .expect("spantop logs its addresses")
            .expect("readable");
        if let Some(at) = line.find("grpc=") {
            let rest = &line[at + 5..];
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep draining stderr so logging never blocks the server.
    std::thread::spawn(move || for _ in lines {});

    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let pid = child.id();
    rt.block_on(async {
        let mut senders = Vec::new();
        for w in 0..4u64 {
            let acked = Arc::clone(&acked);
            let endpoint = format!("http://{grpc}");
            senders.push(tokio::spawn(async move {
                let mut client = TraceServiceClient::connect(endpoint)
                    .await
                    .expect("connects");
                for k in 0.. {
                    let first = 1 + w * 100_000_000 + k * 50;
                    match client.export(numbered_request(first, 50, 10)).await {
                        Ok(_) => acked
                            .lock()
                            .expect("not poisoned")
                            .extend(first..first + 50),
                        Err(_) => break,
                    }
                }
            }));
        }
        // Kill once plenty was acknowledged, while the senders are still going.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().expect("not poisoned").len() < 20_000 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let killed = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        for s in senders {
            s.await.expect("sender finished");
        }
    });
    let status = child.wait().expect("reaped");
    assert!(!status.success(), "killed, not exited: {status:?}");

    let acked = acked.lock().expect("not poisoned").clone();
    assert!(
        acked.len() >= 20_000,
        "only {} spans acknowledged",
        acked.len()
    );
    let (ids, summary) = recorded(&path);
    let missing: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|id| !ids.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged spans missing from the recording",
        missing.len(),
        acked.len()
    );
    assert!(summary.skipped <= 1, "{:?}", summary.problems);
    if summary.skipped == 1 {
        assert!(
            summary.problems[0].contains("incomplete last line"),
            "{:?}",
            summary.problems
        );
    }
}

/// `LogsService/Export` request: one record per `(span id, body)`, plus one naming no span.
fn logs_request(trace: u128, records: &[(u64, &str)]) -> ExportLogsServiceRequest {
    let mut log_records: Vec<LogRecord> = records
        .iter()
        .map(|&(span, body)| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_500 + span,
            severity_number: 13,
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(body.into())),
            }),
            trace_id: trace.to_be_bytes().to_vec(),
            span_id: span.to_be_bytes().to_vec(),
            ..Default::default()
        })
        .collect();
    log_records.push(LogRecord {
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue("names no span".into())),
        }),
        ..Default::default()
    });
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_logs_are_recorded_and_attached_to_their_spans_on_replay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rec.jsonl");
    let server = Server::start(record_config(&path)).await.expect("starts");
    let endpoint = format!("http://{}", server.grpc_addr);
    // Trace 11 holds spans 101..=110 (`request` puts 10 span ids in a trace).
    let mut logs = LogsServiceClient::connect(endpoint.clone())
        .await
        .expect("connects");
    // Logs first, as SDKs often export them before the spans end.
    logs.export(logs_request(11, &[(101, "cache miss"), (102, "retrying")]))
        .await
        .expect("logs accepted");
    TraceServiceClient::connect(endpoint)
        .await
        .expect("connects")
        .export(numbered_request(101, 9, 10))
        .await
        .expect("spans accepted");
    let json = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000900",
        "severityText":"ERROR","body":{"stringValue":"over HTTP"},
        "traceId":"0000000000000000000000000000000b","spanId":"0000000000000067"}]}]}]}"#;
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/logs", server.http_addr))
        .header("content-type", "application/json")
        .body(json)
        .send()
        .await
        .expect("reaches the server");
    assert_eq!(resp.status(), 200);
    let stopped = server.stop().await.expect("stops");
    assert_eq!(
        stopped.recorded_lines,
        Some(3),
        "two logs lines, one spans line"
    );

    // The logs lines have the layout the Collector's file exporter writes.
    let text = std::fs::read_to_string(&path).expect("recording");
    let logs_line: serde_json::Value = text
        .lines()
        .find(|l| l.contains("resourceLogs"))
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .expect("a logs line");
    let record = &logs_line["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(record["traceId"], "0000000000000000000000000000000b");
    assert_eq!(record["spanId"], "0000000000000065");
    assert_eq!(record["severityText"], "WARN");
    assert_eq!(record["body"]["stringValue"], "cache miss");

    // Replayed as `report` and `replay --speed max` read it: into a store, logs with spans.
    let mut store = SpanStore::new(StoreConfig::default());
    let now = Instant::now();
    let summary = read_path(&path, &mut |b| store.ingest(b, now)).expect("readable");
    assert!(summary.is_clean(), "{summary}");
    assert_eq!((summary.spans, summary.logs), (9, 3), "{summary}");
    store.complete_all();
    let trace_id = spantop::model::TraceId::from_u128(11).expect("non-zero");
    let snapshot = store.snapshot();
    let trace = snapshot
        .traces
        .iter()
        .find(|t| t.trace_id == trace_id)
        .expect("trace replayed");
    let shown = |span: u64| -> Vec<(String, String)> {
        let id = spantop::model::SpanId::from_u64(span).expect("non-zero");
        trace
            .logs_of(id)
            .into_iter()
            .map(|l| (l.severity.to_string(), l.body.to_string()))
            .collect()
    };
    assert_eq!(shown(101), [("WARN".to_owned(), "cache miss".to_owned())]);
    assert_eq!(
        shown(102),
        [("WARN".to_owned(), "retrying".to_owned())],
        "severity number 13 is recorded as its name"
    );
    assert_eq!(shown(103), [("ERROR".to_owned(), "over HTTP".to_owned())]);
}
