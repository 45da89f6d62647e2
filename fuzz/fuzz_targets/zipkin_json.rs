//! One Zipkin v2 JSON document (span array).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spantop::ingest::file::fuzzing::zipkin(data);
});
