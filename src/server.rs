//! Receivers + pipeline, started together through `pipeline::start_receivers`: what the
//! end-to-end tests start on `127.0.0.1:0`; and `summary_line`, the line `serve` and
//! `replay --headless` log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::analysis::findings::view::ViewData;
use crate::export::record::Opened;
use crate::ingest::listen::Listening;
use crate::ingest::{IngestCounters, IngestStats};
use crate::pipeline::receivers::ReceiverConfig;
use crate::pipeline::{self, PipelineConfig, Running};
use crate::store::{SpanStore, StoreSnapshot, StoreStats};

/// The receivers and the pipeline behind them.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub receivers: ReceiverConfig,
    pub pipeline: PipelineConfig,
}

impl ServerConfig {
    /// Both receivers on free loopback ports: for tests and `demo`.
    pub fn ephemeral() -> Self {
        ServerConfig {
            receivers: ReceiverConfig::ephemeral(),
            pipeline: PipelineConfig::default(),
        }
    }
}

/// A pipeline fed by receivers (`pipeline::start_receivers`), with the receivers' figures at
/// hand.
pub struct Server {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub snapshots: watch::Receiver<StoreSnapshot>,
    /// What the views show, published by the pipeline's analysis worker.
    pub view: watch::Receiver<Arc<ViewData>>,
    pub counters: Arc<IngestCounters>,
    /// What the recording file held when recording started.
    pub recording: Option<Opened>,
    listening: Listening,
    running: Running,
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
        let (running, r) = pipeline::start_receivers(config.receivers, config.pipeline).await?;
        Ok(Server {
            grpc_addr: r.grpc_addr,
            http_addr: r.http_addr,
            counters: r.counters.clone(),
            recording: r.recording,
            listening: r.listening(),
            snapshots: running.snapshots.clone(),
            view: running.view.clone(),
            running,
        })
    }

    /// Where the receivers listen (the real ports when port 0 was asked for).
    pub fn listening(&self) -> Listening {
        self.listening
    }

    /// A sender straight into the pipeline, beside the receivers: for in-process sources and
    /// tests.
    pub fn batch_sender(&self) -> crate::ingest::BatchTx {
        self.running.batch_sender()
    }

    /// Stops accepting, lets requests in flight finish, drains the store's queue, completes
    /// every open trace, analyses what the pipeline's shutdown budget allows (the rest is
    /// counted as not analysed) and flushes the recording.
    pub async fn stop(self) -> anyhow::Result<Stopped> {
        let ended = self.running.finish().await?;
        Ok(Stopped {
            analysis_failures: ended.finished.engine.analysis_failures,
            analysis_skipped: ended.finished.analysis_skipped,
            analysed_traces: ended.finished.engine.aggregates().traces,
            store: ended.finished.store,
            ingest: ended.ingest,
            recorded_lines: ended.recorded_lines,
        })
    }
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
