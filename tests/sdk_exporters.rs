//! End to end with the OpenTelemetry SDKs users run, installed by the test itself: the JS SDK
//! 2.x and 3.x (`tests/sdk/node2`, `tests/sdk/node3`: `npm ci` from the committed lock) and the
//! Python SDK with its distro (`tests/sdk/python/requirements.txt`, every package pinned, into
//! a venv), each into a cache under the target directory that is reused while its lock file is
//! unchanged.
//!
//! Each test starts the real `spantop serve` on 127.0.0.1 port 0 with `--record`, runs the
//! app (`tests/sdk/app.js`, `tests/sdk/app.py`: the SDK's default setup, which exports traces,
//! metrics and logs) configured only by the `OTEL_EXPORTER_OTLP_*` variables exactly as the
//! README's "Sending traces" snippet writes them (with the real port), and requires: the app
//! exited 0 and printed nothing on stderr (no exporter error), the recording holds every span
//! of every trace the app made and nothing else, and spantop counted the app's log records
//! (each kept with its span) and metric points, with nothing malformed or throttled.
//!
//! Python's SDK has no OTLP/HTTP JSON exporter on PyPI, so it runs gRPC and http/protobuf.
//! When `node`/`npm` or `python3` is missing the tests say so loudly and pass.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

mod common;
use common::{Serve, field};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sdk {
    Node2,
    Node3,
    Python,
}

impl Sdk {
    fn dir(self) -> &'static str {
        match self {
            Sdk::Node2 => "node2",
            Sdk::Node3 => "node3",
            Sdk::Python => "python",
        }
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The installs, outside the repo tree: `target/tmp/sdk/<dir>`.
fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk")
}

fn tool_present(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs the SDK into its cache directory unless the lock there is the committed one; the
/// marker (a copy of the lock) is written last, so an interrupted install is redone.
fn install(sdk: Sdk) -> PathBuf {
    static INSTALLS: OnceLock<Mutex<HashMap<&'static str, PathBuf>>> = OnceLock::new();
    let mut done = INSTALLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = done.get(sdk.dir()) {
        return dir.clone();
    }
    let src = repo().join("tests/sdk").join(sdk.dir());
    let dest = cache_root().join(sdk.dir());
    let lock_name = match sdk {
        Sdk::Python => "requirements.txt",
        Sdk::Node2 | Sdk::Node3 => "package-lock.json",
    };
    let lock = std::fs::read(src.join(lock_name)).expect("the committed lock file");
    // Across processes too (nextest runs each test in its own): one installs, the others wait.
    std::fs::create_dir_all(cache_root()).expect("cache dir");
    let install_lock = std::fs::File::create(cache_root().join(format!("{}.lock", sdk.dir())))
        .expect("install lock file");
    install_lock.lock().expect("install lock");
    let marker = dest.join(".spantop-installed");
    if std::fs::read(&marker).ok().as_deref() != Some(lock.as_slice()) {
        let started = Instant::now();
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::create_dir_all(&dest).expect("cache dir");
        match sdk {
            Sdk::Node2 | Sdk::Node3 => {
                for f in ["package.json", "package-lock.json"] {
                    std::fs::copy(src.join(f), dest.join(f)).expect("copy the manifest");
                }
                run_checked(
                    Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                        .current_dir(&dest),
                    "npm ci",
                );
            }
            Sdk::Python => {
                run_checked(
                    Command::new("python3").args(["-m", "venv"]).arg(&dest),
                    "python3 -m venv",
                );
                run_checked(
                    Command::new(dest.join("bin/pip"))
                        .args(["install", "-q", "--disable-pip-version-check", "-r"])
                        .arg(src.join("requirements.txt")),
                    "pip install",
                );
            }
        }
        std::fs::write(&marker, &lock).expect("install marker");
        eprintln!(
            "installed {} into {} in {:.1}s",
            sdk.dir(),
            dest.display(),
            started.elapsed().as_secs_f64()
        );
    }
    done.insert(sdk.dir(), dest.clone());
    dest
}

/// `false` (after saying why, loudly) when the SDK's runtime is not on this machine.
fn runtime_present(sdk: Sdk) -> bool {
    let (present, what) = match sdk {
        Sdk::Node2 | Sdk::Node3 => (
            tool_present("node", "--version") && tool_present("npm", "--version"),
            "node and npm",
        ),
        Sdk::Python => (tool_present("python3", "--version"), "python3"),
    };
    if !present {
        eprintln!(
            "\n!!!!! SKIPPED: {what} not found, the {} SDK end-to-end test did not run !!!!!\n",
            sdk.dir()
        );
    }
    present
}

/// The README's lines for `protocol` (and compression), with the real port: the snippet is
/// what the test runs, so the README cannot drift from what works.
fn readme_env(
    protocol: &str,
    compression: Option<&str>,
    grpc: &str,
    http: &str,
) -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let exports: Vec<(&str, &str)> = readme
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export OTEL_EXPORTER_OTLP_"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|l| l.split_once('='))
        .collect();
    let at = exports
        .iter()
        .position(|&(k, v)| k == "PROTOCOL" && v == protocol)
        .unwrap_or_else(|| panic!("README: no `export OTEL_EXPORTER_OTLP_PROTOCOL={protocol}`"));
    let (k, endpoint) = exports
        .get(at + 1)
        .copied()
        .unwrap_or_else(|| panic!("README: nothing after the {protocol} line"));
    assert_eq!(
        k, "ENDPOINT",
        "README: the {protocol} line is followed by the endpoint"
    );
    let endpoint = endpoint
        .replace("127.0.0.1:4317", grpc)
        .replace("127.0.0.1:4318", http);
    assert!(
        endpoint.contains(grpc) || endpoint.contains(http),
        "README's {protocol} endpoint is not on a spantop default port: {endpoint}"
    );
    let mut env = vec![
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
            protocol.to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint),
    ];
    if let Some(c) = compression {
        assert!(
            exports.contains(&("COMPRESSION", c)),
            "README: no `export OTEL_EXPORTER_OTLP_COMPRESSION={c}`"
        );
        env.push(("OTEL_EXPORTER_OTLP_COMPRESSION".to_owned(), c.to_owned()));
    }
    env
}

/// The number just before `unit` in the summary line (`"... 12 received"`).
fn count_before(line: &str, unit: &str) -> u64 {
    let at = line
        .find(unit)
        .unwrap_or_else(|| panic!("{unit:?} in {line}"));
    line[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count before {unit:?} in {line}"))
}

/// Spans per trace id in a `--record` file (OTLP JSON lines), and the largest batch.
fn recorded_spans(record: &Path) -> (HashMap<String, usize>, usize) {
    let text = std::fs::read_to_string(record).expect("the recording");
    let mut per_trace = HashMap::new();
    let mut largest = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let mut in_batch = 0;
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    let id = span["traceId"].as_str().expect("hex trace id");
                    *per_trace.entry(id.to_ascii_lowercase()).or_insert(0) += 1;
                    in_batch += 1;
                }
            }
        }
        largest = largest.max(in_batch);
    }
    (per_trace, largest)
}

struct Run {
    sdk: Sdk,
    protocol: &'static str,
    compression: Option<&'static str>,
    traces: usize,
    spans_per_trace: usize,
    /// Beyond the exporter's configuration: the batch size of the large-batch test.
    extra_env: &'static [(&'static str, &'static str)],
}

impl Run {
    fn new(sdk: Sdk, protocol: &'static str, compression: Option<&'static str>) -> Run {
        Run {
            sdk,
            protocol,
            compression,
            traces: 30,
            spans_per_trace: 10,
            extra_env: &[],
        }
    }

    /// Runs the app against a fresh `spantop serve`; returns the largest recorded batch.
    fn check(&self) -> Option<usize> {
        if !runtime_present(self.sdk) {
            return None;
        }
        let installed = install(self.sdk);
        let dir = tempfile::tempdir().expect("temp dir");
        let record = dir.path().join("rec.jsonl");
        let mut serve = Serve::start(
            &[
                OsStr::new("--summary-every"),
                OsStr::new("1h"),
                OsStr::new("--record"),
                record.as_os_str(),
            ],
            &[],
        );
        let started = serve.wait_line("serving OTLP");
        let (grpc, http) = (field(&started, "grpc="), field(&started, "http="));
        let env = readme_env(self.protocol, self.compression, grpc, http);

        let mut cmd = match self.sdk {
            Sdk::Node2 | Sdk::Node3 => {
                let mut c = Command::new("node");
                c.arg(repo().join("tests/sdk/app.js"))
                    .env("NODE_PATH", installed.join("node_modules"));
                c
            }
            Sdk::Python => {
                // As in an activated venv: `opentelemetry-instrument python app.py`.
                let path = std::env::join_paths(std::iter::once(installed.join("bin")).chain(
                    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
                ))
                .expect("PATH");
                let mut c = Command::new(installed.join("bin/opentelemetry-instrument"));
                c.arg("python")
                    .arg(repo().join("tests/sdk/app.py"))
                    .env("PATH", path)
                    .env("VIRTUAL_ENV", &installed);
                c
            }
        };
        // Only what the test sets: nothing the developer's shell exports.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OTEL_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(self.extra_env.iter().copied())
            .env("SPANTOP_TEST_TRACES", self.traces.to_string())
            .env(
                "SPANTOP_TEST_SPANS_PER_TRACE",
                self.spans_per_trace.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started_app = Instant::now();
        let (status, stdout, stderr) = run_with_deadline(cmd, Duration::from_secs(120));
        let app_secs = started_app.elapsed().as_secs_f64();
        let fin = serve.stop();
        let label = format!(
            "{} {} {} {:?}",
            self.sdk.dir(),
            self.protocol,
            self.compression.unwrap_or("none"),
            env
        );
        assert!(
            status.success() && stderr.trim().is_empty(),
            "{label}: the app exited {status:?}; stderr:\n{stderr}\nstdout:\n{stdout}\nspantop: {fin}"
        );
        let out: serde_json::Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{label}: app output {stdout:?}: {e}"));
        let ids: Vec<String> = out["traceIds"]
            .as_array()
            .expect("traceIds")
            .iter()
            .map(|v| v.as_str().expect("hex id").to_ascii_lowercase())
            .collect();
        assert_eq!(ids.len(), self.traces, "{label}");

        let (per_trace, largest) = recorded_spans(&record);
        for id in &ids {
            assert_eq!(
                per_trace.get(id).copied(),
                Some(self.spans_per_trace),
                "{label}: spans recorded for trace {id}; spantop: {fin}"
            );
        }
        assert_eq!(per_trace.len(), ids.len(), "{label}: no other traces");
        let spans = self.traces * self.spans_per_trace;
        assert!(
            fin.contains(&format!("held {spans} spans in {} traces", self.traces)),
            "{label}: {fin}"
        );
        for clean in [
            "rejected 0 spans",
            "throttled 0 requests",
            "malformed 0 requests",
        ] {
            assert!(fin.contains(clean), "{label}: {fin}");
        }
        // One log record per trace, in its root span's context; metrics are counted.
        let logs = count_before(&fin, " received, ");
        let kept = count_before(&fin, " kept on spans");
        assert_eq!(
            (logs, kept),
            (self.traces as u64, self.traces as u64),
            "{label}: {fin}"
        );
        assert!(
            count_before(&fin, " points discarded") > 0,
            "{label}: {fin}"
        );
        println!(
            "RESULT | {} | {} | {} | {} spans in {} traces, largest batch {largest}, {logs} logs, app {app_secs:.1}s | ok",
            self.sdk.dir(),
            self.protocol,
            self.compression.unwrap_or("none"),
            spans,
            self.traces
        );
        Some(largest)
    }
}

/// Runs `cmd` to completion or kills it at the deadline; (status, stdout, stderr).
fn run_with_deadline(
    mut cmd: Command,
    deadline: Duration,
) -> (std::process::ExitStatus, String, String) {
    let mut child = cmd.spawn().expect("the app starts");
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let until = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the app") {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the app did not finish within {deadline:?}; stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

const GZIP: Option<&str> = Some("gzip");

#[test]
fn node_sdk2_grpc() {
    Run::new(Sdk::Node2, "grpc", None).check();
}

#[test]
fn node_sdk2_grpc_gzip() {
    Run::new(Sdk::Node2, "grpc", GZIP).check();
}

#[test]
fn node_sdk2_http_protobuf() {
    Run::new(Sdk::Node2, "http/protobuf", None).check();
}

#[test]
fn node_sdk2_http_protobuf_gzip() {
    Run::new(Sdk::Node2, "http/protobuf", GZIP).check();
}

#[test]
fn node_sdk2_http_json() {
    Run::new(Sdk::Node2, "http/json", None).check();
}

#[test]
fn node_sdk2_http_json_gzip() {
    Run::new(Sdk::Node2, "http/json", GZIP).check();
}

#[test]
fn node_sdk3_grpc() {
    Run::new(Sdk::Node3, "grpc", None).check();
}

#[test]
fn node_sdk3_grpc_gzip() {
    Run::new(Sdk::Node3, "grpc", GZIP).check();
}

#[test]
fn node_sdk3_http_protobuf() {
    Run::new(Sdk::Node3, "http/protobuf", None).check();
}

#[test]
fn node_sdk3_http_protobuf_gzip() {
    Run::new(Sdk::Node3, "http/protobuf", GZIP).check();
}

#[test]
fn node_sdk3_http_json() {
    Run::new(Sdk::Node3, "http/json", None).check();
}

#[test]
fn node_sdk3_http_json_gzip() {
    Run::new(Sdk::Node3, "http/json", GZIP).check();
}

#[test]
fn python_sdk_grpc() {
    Run::new(Sdk::Python, "grpc", None).check();
}

#[test]
fn python_sdk_grpc_gzip() {
    Run::new(Sdk::Python, "grpc", GZIP).check();
}

#[test]
fn python_sdk_http_protobuf() {
    Run::new(Sdk::Python, "http/protobuf", None).check();
}

#[test]
fn python_sdk_http_protobuf_gzip() {
    Run::new(Sdk::Python, "http/protobuf", GZIP).check();
}

/// 10,000 spans in one export request: the batch processor's queue and batch size raised to
/// 10,000 (`OTEL_BSP_*`, as a user sending big batches sets them).
#[test]
fn node_sdk3_http_protobuf_gzip_10000_spans_in_one_batch() {
    let run = Run {
        traces: 100,
        spans_per_trace: 100,
        extra_env: &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "10000"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10000"),
        ],
        ..Run::new(Sdk::Node3, "http/protobuf", GZIP)
    };
    if let Some(largest) = run.check() {
        assert_eq!(largest, 10_000, "one request carried every span");
    }
}
