//! OTLP/gRPC receiver: the `TraceService` any OpenTelemetry exporter speaks on port 4317.

use std::future::Future;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::{HandOffError, Intake};

pub struct OtlpGrpc {
    intake: Intake,
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self.intake.accept(request.into_inner()).await {
            Ok(acc) => Ok(Response::new(ExportTraceServiceResponse {
                // OTLP: leave partial_success unset when everything was accepted.
                partial_success: (acc.rejected > 0).then_some(ExportTracePartialSuccess {
                    rejected_spans: acc.rejected as i64,
                    error_message: acc.error_message,
                }),
            })),
            // UNAVAILABLE is retryable for every OTLP exporter; they back off and resend.
            Err(e @ HandOffError::Busy) | Err(e @ HandOffError::Closed) => {
                Err(Status::unavailable(e.to_string()))
            }
        }
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves. gzip is accepted (and used for
/// responses when the client asks); requests over `max_message_bytes` are refused by tonic
/// (OUT_OF_RANGE on the wire, RESOURCE_EXHAUSTED once inflated; neither is retryable).
pub async fn serve(
    listener: TcpListener,
    intake: Intake,
    max_message_bytes: usize,
    limit: tower::limit::GlobalConcurrencyLimitLayer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let service = TraceServiceServer::new(OtlpGrpc { intake })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes);
    tonic::transport::Server::builder()
        .layer(limit)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}
