//! OTLP/JSON: the typed fast path and the lenient path (which must accept whatever the fast
//! path declines), as one JSON line of a file or an OTLP/HTTP JSON body.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spantop::ingest::file::fuzzing::otlp_json_fast(data);
    if let Ok(req) = spantop::ingest::otlp_json::decode_request(data) {
        let _ = spantop::ingest::convert::request_to_batch(req);
    }
});
