//! Receivers + pipeline, started together: what `serve`, `live` and `demo` run, and what the
//! end-to-end tests start on `127.0.0.1:0`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::analysis::findings::view::ViewData;
use crate::export::record::{Opened, RecordConfig, Recorder};
use crate::ingest::listen::{Incoming, Listening};
use crate::ingest::{self, IngestCounters, IngestStats, Intake};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::store::{SpanStore, StoreSnapshot, StoreStats};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub body_limits: ingest::BodyLimits,
    pub span_limits: ingest::limits::SpanLimits,
    /// Connections open at once, per receiver.
    pub max_connections: usize,
    /// Bearer token both receivers require.
    pub auth_token: Option<ingest::access::AuthToken>,
    /// Serve both receivers over TLS.
    pub tls: Option<ingest::access::TlsFiles>,
    pub pipeline: PipelineConfig,
    /// How long a receiver waits for room in the store's queue before answering "retry later".
    pub send_timeout: Duration,
    /// Requests decoded at once over both receivers; the rest wait on their connections.
    pub max_inflight_requests: usize,
    /// How long slow and idle clients may hold a connection or a decode slot.
    pub deadlines: ingest::deadlines::Deadlines,
    pub record: Option<RecordConfig>,
    /// Origins browser apps may post OTLP/HTTP from.
    pub cors: ingest::cors::CorsOrigins,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 4317)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 4318)),
            body_limits: ingest::BodyLimits::default(),
            span_limits: ingest::limits::SpanLimits::default(),
            max_connections: ingest::DEFAULT_MAX_CONNECTIONS,
            auth_token: None,
            tls: None,
            pipeline: PipelineConfig::default(),
            send_timeout: Duration::from_millis(500),
            max_inflight_requests: ingest::DEFAULT_MAX_INFLIGHT_REQUESTS,
            deadlines: ingest::deadlines::Deadlines::default(),
            record: None,
            cors: ingest::cors::CorsOrigins::default(),
        }
    }
}

impl ServerConfig {
    /// Both receivers on free loopback ports: for tests and `demo`.
    pub fn ephemeral() -> Self {
        ServerConfig {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerConfig::default()
        }
    }
}

pub struct Server {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    tls: bool,
    pub snapshots: watch::Receiver<StoreSnapshot>,
    /// What the views show, published by the pipeline's analysis worker.
    pub view: watch::Receiver<Arc<ViewData>>,
    pub counters: Arc<IngestCounters>,
    /// What the recording file held when recording started.
    pub recording: Option<Opened>,
    shutdown: watch::Sender<bool>,
    grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    http: JoinHandle<std::io::Result<()>>,
    /// OTLP/HTTP for HTTP/1.1 clients that reach the gRPC port.
    http_on_grpc: JoinHandle<std::io::Result<()>>,
    pipeline: Pipeline,
    recorder: Option<Recorder>,
}

/// What was left when the server stopped.
pub struct Stopped {
    pub store: SpanStore,
    pub ingest: IngestStats,
    pub recorded_lines: Option<u64>,
    /// Traces whose analysis panicked (each cost only itself).
    pub analysis_failures: usize,
    /// Completed traces left unanalysed (the analysis fell behind, or had no time at stop).
    pub analysis_skipped: u64,
    /// Traces the analysis took in (evicted ones included).
    pub analysed_traces: usize,
}

impl Server {
    pub async fn start(config: ServerConfig) -> anyhow::Result<Server> {
        let grpc_listener = TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("cannot listen for OTLP/gRPC on {}", config.grpc_addr))?;
        let http_listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen for OTLP/HTTP on {}", config.http_addr))?;
        let (recorder, recorder_tx) = match &config.record {
            Some(rc) => {
                let (r, tx) = Recorder::start(rc)
                    .with_context(|| format!("cannot record to {}", rc.path.display()))?;
                (Some(r), Some(tx))
            }
            None => (None, None),
        };
        let pipeline = Pipeline::spawn(config.pipeline.clone());
        let counters = Arc::new(IngestCounters::default());
        let intake = Intake::new(
            pipeline.tx.clone(),
            Arc::clone(&counters),
            recorder_tx,
            config.send_timeout,
        )
        .with_limits(config.span_limits)
        .with_auth(config.auth_token.clone())
        .with_cors(config.cors.clone());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (grpc_tls, http_tls) = match &config.tls {
            Some(files) => (
                Some(files.acceptor(ingest::access::ALPN_GRPC)?),
                Some(files.acceptor(ingest::access::ALPN_HTTP)?),
            ),
            None => (None, None),
        };
        let grpc_in = Incoming::start_tls(
            grpc_listener,
            config.max_connections,
            Arc::clone(&counters),
            grpc_tls,
        )?;
        let http_in = Incoming::start_tls(
            http_listener,
            config.max_connections,
            Arc::clone(&counters),
            http_tls,
        )?;
        let grpc_addr = grpc_in.local_addr();
        let http_addr = http_in.local_addr();
        let limit = ingest::inflight_limit(config.max_inflight_requests);
        let (grpc_in, http_on_grpc_port) = grpc_in.split_http1();
        let http_on_grpc = tokio::spawn(ingest::http::serve(
            http_on_grpc_port,
            intake.clone(),
            config.body_limits,
            config.deadlines,
            limit.clone(),
            wait_for(shutdown_rx.clone()),
        ));
        let grpc = tokio::spawn(ingest::grpc::serve(
            grpc_in,
            intake.clone(),
            config.body_limits,
            config.deadlines,
            limit.clone(),
            wait_for(shutdown_rx.clone()),
        ));
        let http = tokio::spawn(ingest::http::serve(
            http_in,
            intake,
            config.body_limits,
            config.deadlines,
            limit,
            wait_for(shutdown_rx),
        ));
        Ok(Server {
            grpc_addr,
            http_addr,
            tls: config.tls.is_some(),
            snapshots: pipeline.snapshots.clone(),
            view: pipeline.view.clone(),
            counters,
            recording: recorder.as_ref().map(|r| r.opened),
            shutdown,
            grpc,
            http,
            http_on_grpc,
            pipeline,
            recorder,
        })
    }

    /// Where the receivers listen (the real ports when port 0 was asked for).
    pub fn listening(&self) -> Listening {
        Listening {
            grpc: self.grpc_addr,
            http: self.http_addr,
            tls: self.tls,
        }
    }

    /// A sender straight into the pipeline, beside the receivers: for in-process sources and
    /// tests.
    pub fn batch_sender(&self) -> crate::ingest::BatchTx {
        self.pipeline.tx.clone()
    }

    /// Stops accepting, lets requests in flight finish, drains the store's queue, completes
    /// every open trace, analyses what the pipeline's shutdown budget allows (the rest is
    /// counted as not analysed) and flushes the recording.
    pub async fn stop(self) -> anyhow::Result<Stopped> {
        let _ = self.shutdown.send(true);
        self.grpc.await?.context("OTLP/gRPC receiver failed")?;
        self.http.await?.context("OTLP/HTTP receiver failed")?;
        self.http_on_grpc
            .await?
            .context("OTLP/HTTP receiver on the gRPC port failed")?;
        let finished = self.pipeline.finish().await?;
        let recorded_lines = match self.recorder {
            Some(r) => Some(r.finish().context("writing the recording failed")?),
            None => None,
        };
        Ok(Stopped {
            store: finished.store,
            ingest: self.counters.read(),
            recorded_lines,
            analysis_failures: finished.engine.analysis_failures,
            analysis_skipped: finished.analysis_skipped,
            analysed_traces: finished.engine.aggregates().traces,
        })
    }
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The one-line summary `serve` logs: rates since the previous line, then totals.
pub fn summary_line(
    store: &StoreStats,
    ingest: &IngestStats,
    analysis_failures: usize,
    analysis_skipped: u64,
    prev_spans: u64,
    elapsed: Duration,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = store.spans_received.saturating_sub(prev_spans) as f64 / secs;
    format!(
        "{rate:.0} spans/s | held {} spans in {} traces ({} open), {} services | {:.1} MiB of {:.0} MiB counted (resident {:.0} MiB; shared {:.1}, queued {:.1}, analysis {:.1}, store limit {:.0}) | rejected {} spans, throttled {} requests, malformed {} requests, timed out {} requests, unauthenticated {} requests | evicted {} traces, {} duplicate spans | limits: truncated {} values, dropped {} attributes, {} events, {} links, {} spans over the per-trace limit, refused {} connections | logs: {} received, {} kept on spans; metrics: {} points discarded | {} analysis failures, {} traces not analysed",
        store.spans_held,
        store.traces_held,
        store.open_traces,
        store.services_seen,
        store.memory_bytes as f64 / (1024.0 * 1024.0),
        store.max_memory_bytes as f64 / (1024.0 * 1024.0),
        store.resident_bytes as f64 / (1024.0 * 1024.0),
        store.shared_bytes as f64 / (1024.0 * 1024.0),
        store.queued_bytes as f64 / (1024.0 * 1024.0),
        store.analysis_bytes as f64 / (1024.0 * 1024.0),
        store.effective_max_memory_bytes as f64 / (1024.0 * 1024.0),
        ingest.spans_rejected,
        ingest.requests_throttled,
        ingest.requests_malformed,
        ingest.requests_timed_out,
        ingest.requests_unauthenticated,
        store.evicted_traces,
        store.duplicate_spans,
        ingest.values_truncated,
        ingest.attributes_dropped,
        ingest.events_dropped,
        ingest.links_dropped,
        store.spans_over_trace_limit,
        ingest.connections_refused,
        ingest.logs_received,
        store.logs_held,
        ingest.metric_points,
        analysis_failures,
        analysis_skipped,
    )
}
