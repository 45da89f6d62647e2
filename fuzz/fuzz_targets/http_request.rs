//! See `spantop::fuzzing::HttpRequest`: the OTLP/HTTP request path, from headers to the
//! store's queue; the same code the normal suite runs over seeds and regressions
//! (`tests/fuzz_regressions.rs`).
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use spantop::fuzzing::HttpRequest;

fuzz_target!(|data: &[u8]| {
    static HARNESS: OnceLock<HttpRequest> = OnceLock::new();
    HARNESS
        .get_or_init(|| HttpRequest::new().expect("a tokio runtime"))
        .run(data);
});
