//! Every way bytes become `Batch`es: the OTLP receivers (gRPC and HTTP), `otlp/` (protobuf and
//! JSON decoding into the model) and the file readers (`file/`). Accepted batches are recorded
//! through `export::record`; everything else outbound lives in `export`.
//!
//! Receivers hand batches to the store over a bounded channel. When the store falls behind
//! for longer than `send_timeout`, the exporter gets a retryable status instead of the
//! request being queued without bound.

pub mod access;
pub mod compression;
pub mod cors;
pub mod deadlines;
pub mod file;
pub mod grpc;
pub mod http;
pub mod limits;
pub mod listen;
pub mod otlp;
pub mod signals;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::export::record;
use crate::model::Batch;
use otlp::convert;

/// The store's end of the ingest channel.
pub type BatchTx = mpsc::Sender<Batch>;

/// Request bodies (gRPC messages) larger than this are refused: 20 MiB, as the Collector's
/// OTLP/HTTP receiver.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 20 * 1024 * 1024;

/// A compressed body may inflate to this much; past it the request is refused, not expanded.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 20 * 1024 * 1024;

/// Connections held open at once per receiver; further connections are closed at accept.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Request size limits both receivers apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// A request body (gRPC message) as received.
    pub max_message_bytes: usize,
    /// A compressed body once inflated. tonic has one limit for both, so over gRPC the smaller
    /// of the two applies to the frame and to its inflated size.
    pub max_decompressed_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

impl BodyLimits {
    /// Both limits the same.
    pub fn both(bytes: usize) -> Self {
        BodyLimits {
            max_message_bytes: bytes,
            max_decompressed_bytes: bytes,
        }
    }
}

/// Attribute values nest (arrays of kv-lists of arrays...). Every decoder cuts deeper values
/// off (keeping them as empty values) so that hostile input cannot exhaust the stack.
pub const MAX_VALUE_DEPTH: usize = 16;

/// Requests decoded and converted at once, over both receivers. Requests beyond it wait on
/// their connection before their body is read, so in-flight memory stays below this many
/// times the message limit however many exporters connect.
pub const DEFAULT_MAX_INFLIGHT_REQUESTS: usize = 64;

/// The admission limit both receivers share (see `DEFAULT_MAX_INFLIGHT_REQUESTS`).
pub fn inflight_limit(max_inflight: usize) -> tower::limit::GlobalConcurrencyLimitLayer {
    tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(std::sync::Arc::new(
        tokio::sync::Semaphore::new(max_inflight.max(1)),
    ))
}

/// What the receivers counted; shared by every connection, read by the summary and views.
#[derive(Debug, Default)]
pub struct IngestCounters {
    pub requests: AtomicU64,
    pub spans_accepted: AtomicU64,
    /// Spans refused as invalid (bad ids), reported to the exporter as partial success.
    pub spans_rejected: AtomicU64,
    /// Requests refused because the store could not keep up (retryable for the exporter).
    pub requests_throttled: AtomicU64,
    /// Requests that could not be decoded at all, were too large, or wrongly compressed.
    pub requests_malformed: AtomicU64,
    /// Requests whose body did not arrive within the body deadline (`deadlines`).
    pub requests_timed_out: AtomicU64,
    /// Log records received; those naming a span are kept with it, the rest discarded.
    pub logs_received: AtomicU64,
    pub logs_with_span: AtomicU64,
    /// Metric data points received and discarded.
    pub metric_points: AtomicU64,
    /// Whether the first logs / metrics request has been logged.
    logs_said: AtomicBool,
    metrics_said: AtomicBool,
    /// Attribute values cut to the length limit (`limits::SpanLimits`).
    pub values_truncated: AtomicU64,
    /// Attributes, events and links dropped past the per-span limits.
    pub attributes_dropped: AtomicU64,
    pub events_dropped: AtomicU64,
    pub links_dropped: AtomicU64,
    /// Connections closed at accept because the connection limit was reached.
    pub connections_refused: AtomicU64,
    /// Requests refused for a missing or wrong bearer token.
    pub requests_unauthenticated: AtomicU64,
    /// TLS handshakes that failed or timed out (no or untrusted client certificate, plain
    /// text sent to a TLS port, ...).
    pub tls_handshakes_failed: AtomicU64,
}

/// A plain copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestStats {
    pub requests: u64,
    pub spans_accepted: u64,
    pub spans_rejected: u64,
    pub requests_throttled: u64,
    pub requests_malformed: u64,
    pub requests_timed_out: u64,
    pub logs_received: u64,
    pub logs_with_span: u64,
    pub metric_points: u64,
    pub values_truncated: u64,
    pub attributes_dropped: u64,
    pub events_dropped: u64,
    pub links_dropped: u64,
    pub connections_refused: u64,
    pub requests_unauthenticated: u64,
    pub tls_handshakes_failed: u64,
}

impl IngestStats {
    /// Every time a limit cut data or refused a connection: what the TUI header flags.
    pub fn limit_hits(&self) -> u64 {
        self.values_truncated
            + self.attributes_dropped
            + self.events_dropped
            + self.links_dropped
            + self.connections_refused
    }
}

impl IngestCounters {
    pub fn read(&self) -> IngestStats {
        IngestStats {
            requests: self.requests.load(Ordering::Relaxed),
            spans_accepted: self.spans_accepted.load(Ordering::Relaxed),
            spans_rejected: self.spans_rejected.load(Ordering::Relaxed),
            requests_throttled: self.requests_throttled.load(Ordering::Relaxed),
            requests_malformed: self.requests_malformed.load(Ordering::Relaxed),
            requests_timed_out: self.requests_timed_out.load(Ordering::Relaxed),
            logs_received: self.logs_received.load(Ordering::Relaxed),
            logs_with_span: self.logs_with_span.load(Ordering::Relaxed),
            metric_points: self.metric_points.load(Ordering::Relaxed),
            values_truncated: self.values_truncated.load(Ordering::Relaxed),
            attributes_dropped: self.attributes_dropped.load(Ordering::Relaxed),
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
            links_dropped: self.links_dropped.load(Ordering::Relaxed),
            connections_refused: self.connections_refused.load(Ordering::Relaxed),
            requests_unauthenticated: self.requests_unauthenticated.load(Ordering::Relaxed),
            tls_handshakes_failed: self.tls_handshakes_failed.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn add_cuts(&self, cuts: &limits::Cuts) {
        Self::add(&self.values_truncated, cuts.values_truncated);
        Self::add(&self.attributes_dropped, cuts.attributes_dropped);
        Self::add(&self.events_dropped, cuts.events_dropped);
        Self::add(&self.links_dropped, cuts.links_dropped);
    }
}

/// Why a decoded request could not be handed on.
#[derive(Debug, thiserror::Error)]
pub enum HandOffError {
    #[error("spantop is overloaded: the span store did not accept the batch in time")]
    Busy,
    #[error("spantop is shutting down")]
    Closed,
    /// The batch is in the store but not in the recording: the exporter retries, and the store
    /// drops the duplicate spans of the resend.
    #[error("{0}")]
    Record(#[from] record::RecordError),
}

/// Shared by both receivers: converts a request, sends its spans on, records them.
#[derive(Clone)]
pub struct Intake {
    tx: BatchTx,
    counters: Arc<IngestCounters>,
    recorder: Option<record::RecorderTx>,
    send_timeout: Duration,
    limits: limits::SpanLimits,
    auth: Option<access::AuthToken>,
    cors: Arc<cors::CorsOrigins>,
}

/// What happened to one request's spans.
#[derive(Debug)]
pub struct Accepted {
    pub rejected: u64,
    pub error_message: String,
}

impl Intake {
    pub fn new(
        tx: BatchTx,
        counters: Arc<IngestCounters>,
        recorder: Option<record::RecorderTx>,
        send_timeout: Duration,
    ) -> Self {
        Intake {
            tx,
            counters,
            recorder,
            send_timeout,
            limits: limits::SpanLimits::default(),
            auth: None,
            cors: Arc::new(cors::CorsOrigins::default()),
        }
    }

    /// The origins browser apps may post OTLP/HTTP from (`cors::DEFAULT_ALLOWED_ORIGINS`
    /// unless set).
    pub fn with_cors(mut self, origins: cors::CorsOrigins) -> Self {
        self.cors = Arc::new(origins);
        self
    }

    pub(crate) fn cors(&self) -> &cors::CorsOrigins {
        &self.cors
    }

    /// Requires `Authorization: Bearer TOKEN` on every request to both receivers.
    pub fn with_auth(mut self, token: Option<access::AuthToken>) -> Self {
        self.auth = token;
        self
    }

    /// Whether a request with these headers may export; a refusal is counted.
    pub(crate) fn admits(&self, headers: &axum::http::HeaderMap) -> bool {
        self.admits_value(
            headers
                .get(axum::http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        )
    }

    /// `admits`, given the `authorization` value alone.
    pub(crate) fn admits_value(&self, value: Option<&[u8]>) -> bool {
        let ok = self.auth.as_ref().is_none_or(|t| t.admits_value(value));
        if !ok {
            IngestCounters::add(&self.counters.requests_unauthenticated, 1);
        }
        ok
    }

    pub fn with_limits(mut self, limits: limits::SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn counters(&self) -> &Arc<IngestCounters> {
        &self.counters
    }

    pub(crate) fn count_malformed(&self) {
        IngestCounters::add(&self.counters.requests_malformed, 1);
    }

    pub(crate) fn count_timed_out(&self) {
        IngestCounters::add(&self.counters.requests_timed_out, 1);
    }

    /// Hands on the log records that name a span; counts the rest, which are discarded.
    pub async fn accept_logs(&self, logs: signals::Logs) -> Result<(), HandOffError> {
        IngestCounters::add(&self.counters.requests, 1);
        if !self.counters.logs_said.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "receiving OTLP logs: records with a trace and span id are shown with their span, the rest are counted and discarded"
            );
        }
        let kept = logs.with_span.len() as u64;
        if kept > 0 {
            let line = self
                .recorder
                .as_ref()
                .map(|_| crate::export::write::logs_json_line(&logs.with_span));
            let batch = Batch {
                spans: Vec::new(),
                logs: logs.with_span,
            };
            self.hand_off(batch).await?;
            // As for spans: acknowledged only once recorded.
            if let (Some(rec), Some(line)) = (&self.recorder, line) {
                rec.write(line).await?;
            }
        }
        IngestCounters::add(&self.counters.logs_received, logs.records);
        IngestCounters::add(&self.counters.logs_with_span, kept);
        Ok(())
    }

    /// Waits up to the send timeout for room in the store's queue; a full queue is counted as
    /// throttled and answered "retry later".
    async fn hand_off(&self, batch: Batch) -> Result<(), HandOffError> {
        match self.tx.send_timeout(batch, self.send_timeout).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                IngestCounters::add(&self.counters.requests_throttled, 1);
                Err(HandOffError::Busy)
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(HandOffError::Closed),
        }
    }

    /// Counts metric data points, which spantop does not analyse.
    pub fn accept_metrics(&self, points: u64) {
        IngestCounters::add(&self.counters.requests, 1);
        if !self.counters.metrics_said.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "receiving OTLP metrics: spantop analyses traces, so data points are counted and discarded"
            );
        }
        IngestCounters::add(&self.counters.metric_points, points);
    }

    /// Hands on spans converted to the model (`otlp_proto` for protobuf, `convert` for JSON).
    pub async fn accept_converted(
        &self,
        converted: convert::Converted,
    ) -> Result<Accepted, HandOffError> {
        IngestCounters::add(&self.counters.requests, 1);
        let accepted = Accepted {
            rejected: converted.rejected,
            error_message: converted.error_message(),
        };
        let mut batch = converted.batch;
        let cuts = self.limits.apply(&mut batch);
        self.counters.add_cuts(&cuts);
        let n = batch.spans.len() as u64;
        if n > 0 {
            // Serialise before the batch moves into the channel; written only once accepted.
            let line = self
                .recorder
                .as_ref()
                .map(|_| record::batch_to_json_line(&batch));
            self.hand_off(batch).await?;
            // Acknowledged only once the line is with the OS: a kill loses no answered batch.
            if let (Some(rec), Some(line)) = (&self.recorder, line) {
                rec.write(line).await?;
            }
        }
        IngestCounters::add(&self.counters.spans_accepted, n);
        IngestCounters::add(&self.counters.spans_rejected, accepted.rejected);
        Ok(accepted)
    }
}
