//! OTLP/gRPC receiver: the `TraceService/Export` method any OpenTelemetry exporter calls on
//! port 4317, and the logs and metrics services SDKs call on the same port by default.
//!
//! The service is written out rather than generated so that its codec can decode requests
//! straight into the span model (`otlp::decode`), skipping the generated message structs: the
//! largest single cost of ingest. Responses use the generated types.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Buf;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings};
use tonic::codegen::{BoxFuture, StdError, http};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::deadlines::{DeadlineBody, Deadlines};
use super::listen::Incoming;
use super::otlp::convert::Converted;
use super::otlp::{self, Encoding};
use super::{BodyLimits, Intake, signals};

/// The gRPC service and method names of OTLP trace export.
pub const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Decodes `ExportTraceServiceRequest` bytes into model spans; encodes responses with prost.
#[derive(Clone, Copy, Default)]
struct DirectCodec;

struct DirectDecoder;

impl Decoder for DirectDecoder {
    type Item = Converted;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Converted>, Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        otlp::decode(&bytes, Encoding::Protobuf)
            .map(Some)
            .map_err(|e| Status::invalid_argument(e.to_string()))
    }
}

impl Codec for DirectCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Converted;
    type Encoder = tonic_prost::ProstEncoder<ExportTraceServiceResponse>;
    type Decoder = DirectDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::new(Default::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        DirectDecoder
    }
}

struct Export {
    intake: Intake,
    /// Set once tonic has decoded the request: an error status without it came from the
    /// transport side (size, compression, decoding) and counts as malformed.
    reached: Reached,
}

impl UnaryService<Converted> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Response<ExportTraceServiceResponse>, Status>;

    fn call(&mut self, request: Request<Converted>) -> Self::Future {
        self.reached.0.store(true, Ordering::Relaxed);
        let intake = self.intake.clone();
        Box::pin(async move {
            match intake.accept_converted(request.into_inner()).await {
                Ok(acc) => Ok(Response::new(ExportTraceServiceResponse {
                    // OTLP: leave partial_success unset when everything was accepted.
                    partial_success: (acc.rejected > 0).then_some(ExportTracePartialSuccess {
                        rejected_spans: acc.rejected as i64,
                        error_message: acc.error_message,
                    }),
                })),
                // UNAVAILABLE is retryable for every OTLP exporter; they back off and resend.
                Err(e) => Err(Status::unavailable(e.to_string())),
            }
        })
    }
}

/// `TraceService` as a tower service, for `tonic::transport::Server::add_service`.
#[derive(Clone)]
pub struct OtlpGrpc {
    intake: Intake,
    max_message_bytes: usize,
    request_read: std::time::Duration,
    compression: EnabledCompressionEncodings,
}

impl OtlpGrpc {
    pub fn new(intake: Intake, max_message_bytes: usize, deadlines: Deadlines) -> Self {
        let mut compression = EnabledCompressionEncodings::default();
        for e in ENCODINGS {
            compression.enable(e);
        }
        OtlpGrpc {
            intake,
            max_message_bytes,
            request_read: deadlines.request_read,
            compression,
        }
    }
}

impl NamedService for OtlpGrpc {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tower::Service<http::Request<B>> for OtlpGrpc
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if !self.intake.admits(req.headers()) {
            return Box::pin(async {
                Ok(Status::unauthenticated(UNAUTHENTICATED_MESSAGE).into_http())
            });
        }
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async {
                Ok(Status::unimplemented("spantop serves TraceService/Export only").into_http())
            });
        }
        // Inside the decode-slot limit: the deadline runs from taking a slot.
        let req = req.map(|b| DeadlineBody::grpc(b, self.request_read));
        let reached = Reached::default();
        let export = Export {
            intake: self.intake.clone(),
            reached: reached.clone(),
        };
        let intake = self.intake.clone();
        // gzip, zstd and deflate accepted, and used for responses when the client asks.
        let mut grpc = tonic::server::Grpc::new(DirectCodec)
            .apply_compression_config(self.compression, self.compression)
            .apply_max_message_size_config(Some(self.max_message_bytes), None);
        Box::pin(async move {
            let mut resp = grpc.unary(export, req).await;
            if !reached.0.load(Ordering::Relaxed) {
                refused_before_export(&mut resp, &intake);
            }
            Ok(resp)
        })
    }
}

/// `LogsService` and `MetricsService`: SDKs export every signal to one endpoint by default.
/// Wrapped in `Guarded`, which checks the token and counts refusals as `OtlpGrpc` does.
#[derive(Clone)]
struct OtherSignals(Intake);

/// Set by a handler once tonic has decoded its request (see `Guarded`).
#[derive(Clone, Default)]
struct Reached(Arc<AtomicBool>);

impl Reached {
    fn mark<T>(request: &Request<T>) {
        if let Some(r) = request.extensions().get::<Reached>() {
            r.0.store(true, Ordering::Relaxed);
        }
    }
}

const UNAUTHENTICATED_MESSAGE: &str =
    "missing or wrong bearer token (send authorization: Bearer TOKEN)";

#[tonic::async_trait]
impl LogsService for OtherSignals {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        Reached::mark(&request);
        let logs = signals::logs_from_proto(request.into_inner());
        match self.0.accept_logs(logs).await {
            Ok(()) => Ok(Response::new(ExportLogsServiceResponse::default())),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }
}

#[tonic::async_trait]
impl MetricsService for OtherSignals {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        Reached::mark(&request);
        self.0
            .accept_metrics(signals::metric_points_proto(request.get_ref()));
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// A generated service behind the same front door as `OtlpGrpc`: the bearer token checked
/// before the message is read, and a request tonic refused before the handler (too large,
/// undecodable, wrongly compressed) counted as malformed and answered RESOURCE_EXHAUSTED
/// when too large (`refused_before_export`).
#[derive(Clone)]
struct Guarded<S> {
    inner: S,
    intake: Intake,
    request_read: std::time::Duration,
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for Guarded<S>
where
    S: tower::Service<
            http::Request<DeadlineBody<B>>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Send,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        if !self.intake.admits(req.headers()) {
            return Box::pin(async {
                Ok(Status::unauthenticated(UNAUTHENTICATED_MESSAGE).into_http())
            });
        }
        let reached = Reached::default();
        req.extensions_mut().insert(reached.clone());
        let intake = self.intake.clone();
        let answer = self
            .inner
            .call(req.map(|b| DeadlineBody::grpc(b, self.request_read)));
        Box::pin(async move {
            let mut resp = answer.await?;
            if !reached.0.load(Ordering::Relaxed) {
                refused_before_export(&mut resp, &intake);
            }
            Ok(resp)
        })
    }
}

const ENCODINGS: [CompressionEncoding; 3] = [
    CompressionEncoding::Gzip,
    CompressionEncoding::Zstd,
    CompressionEncoding::Deflate,
];

fn logs_service(
    intake: Intake,
    max_message_bytes: usize,
    deadlines: Deadlines,
) -> Guarded<LogsServiceServer<OtherSignals>> {
    let service = ENCODINGS.into_iter().fold(
        LogsServiceServer::new(OtherSignals(intake.clone()))
            .max_decoding_message_size(max_message_bytes),
        |s, e| s.accept_compressed(e).send_compressed(e),
    );
    Guarded {
        inner: service,
        intake,
        request_read: deadlines.request_read,
    }
}

fn metrics_service(
    intake: Intake,
    max_message_bytes: usize,
    deadlines: Deadlines,
) -> Guarded<MetricsServiceServer<OtherSignals>> {
    let service = ENCODINGS.into_iter().fold(
        MetricsServiceServer::new(OtherSignals(intake.clone()))
            .max_decoding_message_size(max_message_bytes),
        |s, e| s.accept_compressed(e).send_compressed(e),
    );
    Guarded {
        inner: service,
        intake,
        request_read: deadlines.request_read,
    }
}

/// gRPC status codes tonic puts in the header of a trailers-only error response.
const OK: &str = "0";
const INVALID_ARGUMENT: &str = "3";
const DEADLINE_EXCEEDED: &str = "4";
const RESOURCE_EXHAUSTED: &str = "8";
const OUT_OF_RANGE: &str = "11";
const INTERNAL: &str = "13";

/// A request tonic refused before it reached its handler. A body past its deadline
/// (`DeadlineBody::grpc`) is counted as timed out; anything else as malformed, with the
/// status an OTLP exporter reads right:
/// - a message over the size limit: RESOURCE_EXHAUSTED (tonic says OUT_OF_RANGE, which OTLP
///   exporters retry: a 20 MB request resent over and over). RESOURCE_EXHAUSTED without retry
///   info is not retried, as the Collector answers.
/// - an undecodable or wrongly compressed message: INVALID_ARGUMENT (tonic's prost codec says
///   INTERNAL, which OTLP lists as retryable), as the trace service answers.
fn refused_before_export(resp: &mut http::Response<tonic::body::Body>, intake: &Intake) {
    let headers = resp.headers_mut();
    let Some(code) = headers.get("grpc-status").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let answer = match code {
        OK => return,
        DEADLINE_EXCEEDED => {
            intake.count_timed_out();
            return;
        }
        OUT_OF_RANGE => RESOURCE_EXHAUSTED,
        INTERNAL => INVALID_ARGUMENT,
        _ => {
            intake.count_malformed();
            return;
        }
    };
    headers.insert("grpc-status", http::HeaderValue::from_static(answer));
    intake.count_malformed();
}

/// Serves OTLP/gRPC on `incoming` until `shutdown` resolves. Requests over
/// `max_message_bytes` (on the wire or once inflated) are answered RESOURCE_EXHAUSTED.
pub async fn serve(
    incoming: Incoming,
    intake: Intake,
    limits: BodyLimits,
    deadlines: Deadlines,
    limit: tower::limit::GlobalConcurrencyLimitLayer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let max_message_bytes = limits.max_message_bytes.min(limits.max_decompressed_bytes);
    let logs = logs_service(intake.clone(), max_message_bytes, deadlines);
    let metrics = metrics_service(intake.clone(), max_message_bytes, deadlines);
    let service = OtlpGrpc::new(intake, max_message_bytes, deadlines);
    tonic::transport::Server::builder()
        // A connection that does not answer a ping (an idle socket after the preface) goes.
        .http2_keepalive_interval(Some(deadlines.keepalive_time))
        .http2_keepalive_timeout(Some(deadlines.keepalive_timeout))
        .layer(limit)
        .add_service(service)
        .add_service(logs)
        .add_service(metrics)
        .serve_with_incoming_shutdown(incoming.into_stream(), shutdown)
        .await
}
