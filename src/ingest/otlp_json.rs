//! OTLP/JSON decoding (the JSON mapping of `ExportTraceServiceRequest` / `TracesData`).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// Decodes one OTLP/JSON trace request.
pub fn decode_request(bytes: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}
