//! See `spantop::fuzzing::zipkin_json`: the same code the normal suite runs over seeds and
//! regressions (`tests/fuzz_regressions.rs`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| spantop::fuzzing::zipkin_json(data));
