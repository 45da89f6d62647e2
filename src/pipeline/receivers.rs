//! The live source: the OTLP receivers (gRPC on 4317, HTTP on 4318, and OTLP/HTTP for
//! HTTP/1.1 clients on the gRPC port), feeding the pipeline until stopped, and the recorder
//! behind them (`--record`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::export::record::{Opened, RecordConfig, Recorder};
use crate::ingest::listen::{Incoming, Listening};
use crate::ingest::{self, BatchTx, IngestCounters, IngestStats, Intake};

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
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

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 4317)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 4318)),
            body_limits: ingest::BodyLimits::default(),
            span_limits: ingest::limits::SpanLimits::default(),
            max_connections: ingest::DEFAULT_MAX_CONNECTIONS,
            auth_token: None,
            tls: None,
            send_timeout: Duration::from_millis(500),
            max_inflight_requests: ingest::DEFAULT_MAX_INFLIGHT_REQUESTS,
            deadlines: ingest::deadlines::Deadlines::default(),
            record: None,
            cors: ingest::cors::CorsOrigins::default(),
        }
    }
}

impl ReceiverConfig {
    /// Both receivers on free loopback ports: for tests and `demo`.
    pub fn ephemeral() -> Self {
        ReceiverConfig {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ReceiverConfig::default()
        }
    }
}

/// Running receivers as the commands see them: where they listen, what they count, what the
/// recording file held. A copy: the listeners belong to the `Running`, which stops them.
#[derive(Debug, Clone)]
pub struct Receivers {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    tls: bool,
    pub counters: Arc<IngestCounters>,
    /// What the recording file held when recording started.
    pub recording: Option<Opened>,
}

/// The listeners' tasks and the recorder: held by the `Running` until it stops them.
pub(super) struct Serving {
    pub(super) receivers: Receivers,
    shutdown: watch::Sender<bool>,
    grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    http: JoinHandle<std::io::Result<()>>,
    /// OTLP/HTTP for HTTP/1.1 clients that reach the gRPC port.
    http_on_grpc: JoinHandle<std::io::Result<()>>,
    recorder: Option<Recorder>,
}

/// What the receivers counted when they stopped.
pub struct ReceiversStopped {
    pub ingest: IngestStats,
    pub recorded_lines: Option<u64>,
}

impl Serving {
    /// Binds both listeners and serves them into `tx`.
    pub(super) async fn start(config: ReceiverConfig, tx: BatchTx) -> anyhow::Result<Serving> {
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
        let counters = Arc::new(IngestCounters::default());
        let intake = Intake::new(tx, Arc::clone(&counters), recorder_tx, config.send_timeout)
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
        Ok(Serving {
            receivers: Receivers {
                grpc_addr,
                http_addr,
                tls: config.tls.is_some(),
                recording: recorder.as_ref().map(|r| r.opened),
                counters,
            },
            shutdown,
            grpc,
            http,
            http_on_grpc,
            recorder,
        })
    }

    /// Stops accepting and lets requests in flight finish: their senders are gone then.
    pub(super) async fn stop(self) -> anyhow::Result<ReceiversStopped> {
        let _ = self.shutdown.send(true);
        self.grpc.await?.context("OTLP/gRPC receiver failed")?;
        self.http.await?.context("OTLP/HTTP receiver failed")?;
        self.http_on_grpc
            .await?
            .context("OTLP/HTTP receiver on the gRPC port failed")?;
        // The intake's clones are gone with the receivers: the recorder has all it gets.
        let recorded_lines = match self.recorder {
            Some(r) => Some(r.finish().context("writing the recording failed")?),
            None => None,
        };
        Ok(ReceiversStopped {
            ingest: self.receivers.counters.read(),
            recorded_lines,
        })
    }
}

impl Receivers {
    /// Where the receivers listen (the real ports when port 0 was asked for).
    pub fn listening(&self) -> Listening {
        Listening {
            grpc: self.grpc_addr,
            http: self.http_addr,
            tls: self.tls,
        }
    }
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
