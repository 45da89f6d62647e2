//! One Jaeger JSON document (API response, UI export, bare trace or span array).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spantop::ingest::file::fuzzing::jaeger(data);
});
