//! Command line: parses arguments and wires sources -> store -> views. Kept thin; the work is in
//! the library modules.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::ingest::BodyLimits;
use crate::ingest::access::{AuthToken, TlsFiles};
use crate::ingest::cors::{self, CorsOrigins};
use crate::ingest::limits::{self, SpanLimits};
use crate::ingest::record::RecordConfig;
use crate::server::{Server, ServerConfig, summary_line};
use crate::units::{parse_duration, parse_size};

#[derive(Parser, Debug)]
#[command(
    name = "spantop",
    version,
    about = "Find the cold starts, fan-outs and critical paths in your OpenTelemetry traces"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Headless OTLP receiver: assembles traces and logs a summary line every few seconds.
    Serve(ServeArgs),
    /// First run: a simulated serverless + microservice shop sending to a local receiver, in the TUI.
    Demo(crate::cmd_live::DemoArgs),
    /// Receive OTLP and watch it in the live TUI.
    Live(crate::cmd_live::LiveArgs),
    /// Saved trace files (OTLP JSON/protobuf, Jaeger, Zipkin; gzip ok) in the TUI, as fast as
    /// possible or at their recorded pace; `--headless` loads them and prints a summary.
    Replay(crate::cmd::args::ReplayArgs),
    /// Analyse trace files headless: cold starts, N+1 loops, fan-outs, critical-path hotspots,
    /// gaps, error origins; text, Markdown or JSON; `--fail-on` for CI gates.
    Report(crate::cmd::report::ReportArgs),
    /// Convert trace files to OTLP JSON lines or length-prefixed OTLP protobuf.
    Convert(crate::cmd::convert::ConvertArgs),
    /// Send the demo system's traffic to any OTLP endpoint (also the load generator).
    Simulate(crate::cmd::simulate::SimulateArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ReceiverArgs {
    /// Address for OTLP/gRPC. Binds loopback by default; 0.0.0.0:4317 is an explicit choice.
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub grpc: SocketAddr,
    /// Address for OTLP/HTTP (POST /v1/traces, protobuf or JSON).
    #[arg(long, default_value = "127.0.0.1:4318")]
    pub http: SocketAddr,
    /// Largest request body (gRPC message) accepted as received; larger ones are refused
    /// (HTTP 413, gRPC RESOURCE_EXHAUSTED) and counted as malformed.
    #[arg(long, default_value = "20MiB", value_parser = parse_size)]
    pub max_message_size: usize,
    /// Largest size a compressed body may inflate to; a bomb is refused, not expanded.
    #[arg(long, default_value = "20MiB", value_parser = parse_size)]
    pub max_decompressed_size: usize,
    /// Longer string/bytes attribute values are truncated (counted).
    #[arg(long, default_value = "64KiB", value_parser = parse_size)]
    pub max_attribute_value_size: usize,
    /// Attributes kept per span, event and link; the rest are dropped (counted, and added to
    /// the span's dropped count).
    #[arg(long, default_value_t = limits::DEFAULT_MAX_ATTRIBUTES)]
    pub max_attributes: usize,
    /// Events kept per span.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_EVENTS)]
    pub max_events: usize,
    /// Links kept per span.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_LINKS)]
    pub max_links: usize,
    /// Spans kept per trace; later spans of a bigger trace are dropped (counted).
    #[arg(long, default_value_t = crate::store::DEFAULT_MAX_SPANS_PER_TRACE)]
    pub max_spans_per_trace: usize,
    /// Connections open at once per receiver; more are closed at accept (counted).
    #[arg(long, default_value_t = crate::ingest::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Memory budget for held spans; whole traces are evicted, oldest complete first, beyond it.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: usize,
    /// A trace with no new span for this long is complete.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trace_timeout: Duration,
    /// Write every accepted batch to FILE as OTLP JSON lines (Collector file-exporter layout),
    /// appending to an existing file. A batch is acknowledged once its line is written.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Require `Authorization: Bearer TOKEN` on both receivers (gRPC UNAUTHENTICATED, HTTP 401
    /// otherwise). Prefer the environment variable: arguments are visible in `ps`.
    #[arg(
        long,
        env = "SPANTOP_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub auth_token: Option<AuthToken>,
    /// Serve both receivers over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: require client certificates signed by this CA (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// With --record: start the file empty instead of appending.
    #[arg(long, requires = "record")]
    pub record_truncate: bool,
    /// With --record: fsync before acknowledging, so acknowledged spans survive power loss.
    #[arg(long, requires = "record")]
    pub record_fsync: bool,
    #[command(flatten)]
    pub analysis: crate::cmd::args::AnalysisArgs,
    #[command(flatten)]
    pub cors: CorsArgs,
}

/// For the receivers of `serve`, `live` and `demo`.
#[derive(Args, Debug, Clone)]
pub struct CorsArgs {
    /// Origins browser apps may post OTLP/HTTP from (CORS), comma-separated, as the Collector's
    /// cors.allowed_origins: exact origins, `*` for any, or one `*` for a host-name part or a
    /// port (http://localhost:*). "" allows none.
    #[arg(long, value_name = "ORIGINS", default_value = cors::DEFAULT_ALLOWED_ORIGINS)]
    pub cors_allowed_origins: CorsOrigins,
}

impl ReceiverArgs {
    pub fn server_config(&self) -> ServerConfig {
        let mut c = ServerConfig {
            grpc_addr: self.grpc,
            http_addr: self.http,
            body_limits: BodyLimits {
                max_message_bytes: self.max_message_size,
                max_decompressed_bytes: self.max_decompressed_size,
            },
            span_limits: SpanLimits {
                max_attribute_value_bytes: self.max_attribute_value_size,
                max_attributes: self.max_attributes,
                max_events: self.max_events,
                max_links: self.max_links,
            },
            max_connections: self.max_connections,
            auth_token: self.auth_token.clone(),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                }),
                _ => None,
            },
            record: self.record.as_ref().map(|path| RecordConfig {
                path: path.clone(),
                truncate: self.record_truncate,
                fsync: self.record_fsync,
            }),
            cors: self.cors.cors_allowed_origins.clone(),
            ..ServerConfig::default()
        };
        c.pipeline.store.max_memory = self.max_memory;
        c.pipeline.store.inactivity_timeout = self.trace_timeout;
        c.pipeline.store.max_spans_per_trace = self.max_spans_per_trace;
        c.pipeline.analysis = self.analysis.bounded();
        c
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub receiver: ReceiverArgs,
    /// How often the summary line is logged.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub summary_every: Duration,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Log lines on stderr would tear through the TUI's screen.
    let tui = match &cli.command {
        Command::Live(_) | Command::Demo(_) => true,
        Command::Replay(args) => !args.headless,
        _ => false,
    };
    if !tui {
        init_logging();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spantop: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Demo(args) => crate::cmd_live::demo(args).await,
            Command::Live(args) => crate::cmd_live::live(args).await,
            Command::Replay(args) => crate::cmd::replay::run(args).await,
            Command::Report(args) => crate::cmd::report::run(args).await,
            Command::Convert(args) => crate::cmd::convert::convert(args).await,
            Command::Simulate(args) => crate::cmd::simulate::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spantop: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPANTOP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a signal that arrives while the TUI draws its first frame must end
/// the program cleanly (terminal restored, exit 0), not kill it with the default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                (Ok(mut term), Err(_)) => {
                    term.recv().await;
                }
                (Err(_), Ok(mut int)) => {
                    int.recv().await;
                }
                (Err(_), Err(_)) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let server = Server::start(args.receiver.server_config()).await?;
    tracing::info!(
        grpc = %server.grpc_addr,
        http = %server.http_addr,
        "spantop serving {}; Ctrl-C to stop",
        server.listening()
    );
    let r = &args.receiver;
    let tls = match (&r.tls_cert, &r.tls_client_ca) {
        (None, _) => "off",
        (Some(_), None) => "on",
        (Some(_), Some(_)) => "on, client certificates required",
    };
    let auth = if r.auth_token.is_some() {
        "bearer token required"
    } else {
        "none"
    };
    tracing::info!(
        "TLS {tls}; authentication: {auth}; browser apps (CORS) allowed from: {}",
        r.cors.cors_allowed_origins
    );
    if let (Some(path), Some(opened)) = (&args.receiver.record, server.recording) {
        tracing::info!("recording to {}: {opened}", path.display());
    }
    let mut ticker = tokio::time::interval(args.summary_every);
    ticker.tick().await;
    let mut prev_spans = 0;
    let mut prev_at = Instant::now();
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            _ = ticker.tick() => {
                let stats = server.snapshots.borrow().stats;
                let now = Instant::now();
                let view = Arc::clone(&server.view.borrow());
                tracing::info!("{}", summary_line(&stats, &server.counters.read(), view.analysis_failures, view.analysis_skipped, prev_spans, now - prev_at));
                prev_spans = stats.spans_received;
                prev_at = now;
            }
        }
    }
    tracing::info!("shutting down: finishing requests in flight and flushing");
    let stopped = server.stop().await?;
    let now = Instant::now();
    tracing::info!(
        "final: {}",
        summary_line(
            &stopped.store.stats(),
            &stopped.ingest,
            stopped.analysis_failures,
            stopped.analysis_skipped,
            prev_spans,
            now - prev_at
        )
    );
    if let (Some(lines), Some(path)) = (stopped.recorded_lines, &args.receiver.record) {
        tracing::info!("recorded {lines} batches to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
