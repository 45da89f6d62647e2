//! OTLP protobuf `ExportTraceServiceRequest` bytes straight into the model (the gRPC codec,
//! OTLP/HTTP protobuf and protobuf files all use this decoder).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spantop::ingest::otlp_proto::decode_request(data);
});
