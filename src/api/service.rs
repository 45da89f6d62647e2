//! The `spantop.v1.Spantop` server `serve --api` runs: it answers from the pipeline's latest
//! published `ViewData` (never the store or the engine directly), behind the same bearer token
//! and TLS as the receivers.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::analysis::findings::view::ViewData;
use crate::export::otlp::spans_to_request;
use crate::ingest::IngestCounters;
use crate::ingest::access::{ALPN_GRPC, AuthToken, TlsFiles};
use crate::ingest::listen::Incoming;
use crate::model::TraceId;

use super::convert::{pattern_kind_to_pb, snapshot, span_ref_to_pb};
use super::pb;
use super::pb::spantop_server::{Spantop, SpantopServer};

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub addr: SocketAddr,
    pub auth_token: Option<AuthToken>,
    pub tls: Option<TlsFiles>,
    pub max_connections: usize,
}

/// A running API server; stops when `stop` is called (or it is dropped with the runtime).
pub struct ApiServer {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    join: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ApiServer {
    pub async fn start(
        config: ApiConfig,
        view: watch::Receiver<Arc<ViewData>>,
    ) -> anyhow::Result<ApiServer> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen for the spantop API on {}", config.addr))?;
        let tls = match &config.tls {
            Some(files) => Some(files.acceptor(ALPN_GRPC)?),
            None => None,
        };
        let incoming = Incoming::start_tls(
            listener,
            config.max_connections,
            Arc::new(IngestCounters::default()),
            tls,
        )?;
        let addr = incoming.local_addr();
        let (shutdown, mut rx) = watch::channel(false);
        let stopping = rx.clone();
        let token = config.auth_token.clone();
        let service =
            SpantopServer::with_interceptor(Api { view, stopping }, move |req: Request<()>| {
                match &token {
                    Some(t)
                        if !t.admits_value(
                            req.metadata().get("authorization").map(|v| v.as_bytes()),
                        ) =>
                    {
                        Err(Status::unauthenticated("a valid bearer token is required"))
                    }
                    _ => Ok(req),
                }
            });
        let join = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming.into_stream(), async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                }),
        );
        Ok(ApiServer {
            addr,
            shutdown,
            join,
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.join.await?.context("the spantop API server failed")
    }
}

struct Api {
    view: watch::Receiver<Arc<ViewData>>,
    /// Set when the server stops: open `Watch` streams end, so the graceful shutdown (which
    /// waits for every open stream) does not wait on a watcher forever.
    stopping: watch::Receiver<bool>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::FindingEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Spantop for Api {
    async fn snapshot(
        &self,
        _: Request<pb::SnapshotRequest>,
    ) -> Result<Response<pb::Snapshot>, Status> {
        let view = Arc::clone(&self.view.borrow());
        Ok(Response::new(snapshot(&view)))
    }

    type WatchStream = EventStream;

    async fn watch(&self, _: Request<pb::WatchRequest>) -> Result<Response<EventStream>, Status> {
        let mut rx = self.view.clone();
        let mut stopping = self.stopping.clone();
        let (tx, out) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            // Everything already published counts as seen: the stream carries what is new.
            let mut seen = Seen::of(&rx.borrow_and_update());
            loop {
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { return },
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
                let view = Arc::clone(&rx.borrow_and_update());
                for event in seen.advance(&view) {
                    tokio::select! {
                        sent = tx.send(Ok(event)) => if sent.is_err() { return },
                        _ = stopping.wait_for(|stop| *stop) => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out),
        )))
    }

    async fn get_trace(
        &self,
        req: Request<pb::GetTraceRequest>,
    ) -> Result<Response<pb::GetTraceResponse>, Status> {
        let id = TraceId::from_bytes(&req.get_ref().trace_id)
            .map_err(|e| Status::invalid_argument(format!("bad trace id: {e}")))?;
        let view = Arc::clone(&self.view.borrow());
        let trace = view
            .trace(id)
            .ok_or_else(|| Status::not_found(format!("trace {id} is not held here")))?;
        Ok(Response::new(pb::GetTraceResponse {
            traces_data: spans_to_request(&trace.spans).encode_to_vec(),
        }))
    }
}

type PatternKey = (
    crate::analysis::findings::PatternKind,
    crate::model::Sym,
    crate::model::Sym,
    String,
    Option<String>,
);

/// What a watcher has been told: occurrences per pattern and cold starts per function.
struct Seen {
    patterns: rustc_hash::FxHashMap<PatternKey, usize>,
    cold: rustc_hash::FxHashMap<String, usize>,
    error_traces: usize,
}

impl Seen {
    fn of(view: &ViewData) -> Seen {
        let mut s = Seen {
            patterns: Default::default(),
            cold: Default::default(),
            error_traces: 0,
        };
        s.advance(view);
        s
    }

    /// Events for what grew since the last view.
    fn advance(&mut self, view: &ViewData) -> Vec<pb::FindingEvent> {
        let f = &view.findings;
        let mut out = Vec::new();
        for p in &f.patterns {
            // Keyed as `Findings::build` groups them: the signature tells loops apart whose
            // names read the same.
            let key = (
                p.kind,
                p.service,
                p.parent,
                super::merge::bare_target(&p.target, p.signature.as_deref()).to_owned(),
                p.signature.clone(),
            );
            let before = self.patterns.insert(key, p.occurrences).unwrap_or(0);
            if p.occurrences > before {
                out.push(pb::FindingEvent {
                    generation: view.generation,
                    kind: pb::FindingKind::Pattern as i32,
                    pattern_kind: pattern_kind_to_pb(p.kind) as i32,
                    service: p.service.to_string(),
                    operation: p.parent.to_string(),
                    target: p.target.clone(),
                    total: p.occurrences as u64,
                    new: (p.occurrences - before) as u64,
                    evidence: Some(span_ref_to_pb(p.worst)),
                });
            }
        }
        for c in &f.cold_starts.by_function {
            let trigger = c.trigger.map(|t| t.to_string()).unwrap_or_default();
            let key = format!("{}|{trigger}", c.function);
            let before = self.cold.insert(key, c.cold).unwrap_or(0);
            if c.cold > before {
                out.push(pb::FindingEvent {
                    generation: view.generation,
                    kind: pb::FindingKind::ColdStart as i32,
                    pattern_kind: 0,
                    service: c.function.to_string(),
                    operation: String::new(),
                    target: trigger,
                    total: c.cold as u64,
                    new: (c.cold - before) as u64,
                    evidence: c.worst.map(span_ref_to_pb),
                });
            }
        }
        let errors = f.errors.traces_with_errors;
        if errors > self.error_traces {
            let worst = f.errors.list.first();
            out.push(pb::FindingEvent {
                generation: view.generation,
                kind: pb::FindingKind::Error as i32,
                pattern_kind: 0,
                service: worst
                    .map(|e| e.origin.service.to_string())
                    .unwrap_or_default(),
                operation: worst.map(|e| e.origin.name.to_string()).unwrap_or_default(),
                target: String::new(),
                total: errors as u64,
                new: (errors - self.error_traces) as u64,
                evidence: worst.map(|e| {
                    span_ref_to_pb(crate::model::SpanRef::new(e.trace_id, e.origin.span_id))
                }),
            });
        }
        self.error_traces = errors;
        out
    }
}
