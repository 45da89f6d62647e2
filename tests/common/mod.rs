//! Helpers the integration tests share: OTLP requests to send, a server started for quick
//! tests, waiting on its snapshots, and request encodings. Each test binary uses a part of
//! this module, so the rest is dead code there.
#![allow(dead_code)]

pub mod pki;

use std::io::Write;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use spantop::server::{Server, ServerConfig};
use spantop::store::StoreSnapshot;

/// One request holding `spans` under an empty resource and scope.
pub fn request_of(spans: Vec<Span>) -> ExportTraceServiceRequest {
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

/// `n` spans with ids `first..first+n`, one trace per `per_trace` span ids (trace id
/// `id / per_trace + 1`), each 100 µs long in 2023.
pub fn numbered_request(first: u64, n: u64, per_trace: u64) -> ExportTraceServiceRequest {
    let spans = (first..first + n)
        .map(|i| Span {
            trace_id: u128::from(i / per_trace.max(1) + 1).to_be_bytes().to_vec(),
            span_id: i.to_be_bytes().to_vec(),
            name: "op".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_000_100_000 + i,
            ..Default::default()
        })
        .collect();
    request_of(spans)
}

/// Traces complete and snapshots publish within a few dozen milliseconds.
pub fn quick(config: ServerConfig) -> ServerConfig {
    let mut c = config;
    c.pipeline.store.inactivity_timeout = Duration::from_millis(100);
    c.pipeline.tick_interval = Duration::from_millis(20);
    c
}

/// `quick(config)`, started.
pub async fn start(config: ServerConfig) -> Server {
    Server::start(quick(config)).await.expect("server starts")
}

/// Waits for the condition on published snapshots, failing after 20 s (no fixed sleeps).
pub async fn wait_for(
    server: &mut Server,
    what: &str,
    mut done: impl FnMut(&StoreSnapshot) -> bool,
) -> StoreSnapshot {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        {
            let snap = server.snapshots.borrow_and_update();
            if done(&snap) {
                return snap.clone();
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        let _ = tokio::time::timeout(left, server.snapshots.changed()).await;
    }
}

/// Waits until the store holds at least `n` spans.
pub async fn wait_for_spans(server: &mut Server, n: u64) {
    wait_for(server, &format!("{n} spans"), |s| s.stats.spans_held >= n).await;
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

/// A tonic request with `authorization: Bearer TOKEN` when a token is given.
pub fn with_token<T>(req: T, token: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(req);
    if let Some(t) = token {
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("ascii"),
        );
    }
    r
}

/// The real `spantop serve` binary on free loopback ports, its log lines read as they come.
pub struct Serve {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line read so far, for failure messages and for what a test looks for in all.
    pub seen: Vec<String>,
}

impl Serve {
    /// `spantop serve --grpc 127.0.0.1:0 --http 127.0.0.1:0 ARGS...` with `envs` and
    /// `SPANTOP_LOG=info` unless `envs` says otherwise.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S], envs: &[(&str, &str)]) -> Serve {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spantop"));
        cmd.args([
            "serve",
            "--grpc",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("SPANTOP_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spantop binary starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, lines) = std::sync::mpsc::channel();
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

    /// The next log line containing `needle`, within 30 s.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// The gRPC and HTTP addresses from the `serving OTLP` line.
    pub fn addresses(&mut self) -> (String, String) {
        let started = self.wait_line("serving OTLP");
        (
            field(&started, "grpc=").to_owned(),
            field(&started, "http=").to_owned(),
        )
    }

    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// SIGTERM; the final summary line, once the process exited successfully.
    pub fn stop(&mut self) -> String {
        self.signal("-TERM");
        let fin = self.wait_line("final:");
        let status = self.child.wait().expect("spantop exits");
        assert!(status.success(), "spantop serve exit: {status:?}");
        fin
    }

    /// Reads what is left to read after the process exited.
    pub fn drain(&mut self) {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // Only if a failed assertion left it running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The word after `key` in a log line (`grpc=127.0.0.1:4317 ...`).
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line
        .find(key)
        .map(|i| i + key.len())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"));
    line.get(at..)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no value after {key} in {line:?}"))
}
