//! The OTLP/HTTP request path, from headers to the store's queue: path, content type and
//! encoding picked by the first bytes, the rest the body (compressed or not).
#![no_main]
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use spantop::ingest::{BodyLimits, IngestCounters, Intake, inflight_limit};
use tokio::sync::mpsc;
use tower::ServiceExt;

const PATHS: [&str; 4] = ["/v1/traces", "/v1/logs", "/v1/metrics", "/nope"];
const TYPES: [&str; 4] = [
    "application/x-protobuf",
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
];
const ENCODINGS: [&str; 9] = [
    "",
    "gzip",
    "zstd",
    "deflate",
    "zlib",
    "snappy",
    "x-snappy-framed",
    "lz4",
    "br",
];

struct World {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    rx: std::sync::Mutex<mpsc::Receiver<spantop::model::Batch>>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (tx, rx) = mpsc::channel(1 << 16);
        let intake = Intake::new(
            tx,
            Arc::new(IngestCounters::default()),
            None,
            Duration::ZERO,
        );
        let router = {
            let _guard = rt.enter();
            spantop::ingest::http::router(intake, BodyLimits::both(1 << 20), inflight_limit(4))
        };
        World {
            rt,
            router,
            rx: std::sync::Mutex::new(rx),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [a, b, c, body @ ..] = data else { return };
    let w = world();
    let mut req = Request::post(PATHS[usize::from(*a) % PATHS.len()])
        .header("content-type", TYPES[usize::from(*b) % TYPES.len()]);
    let enc = ENCODINGS[usize::from(*c) % ENCODINGS.len()];
    if !enc.is_empty() {
        req = req.header("content-encoding", enc);
    }
    let Ok(req) = req.body(Body::from(body.to_vec())) else {
        return;
    };
    let _ = w.rt.block_on(w.router.clone().oneshot(req));
    if let Ok(mut rx) = w.rx.lock() {
        while rx.try_recv().is_ok() {}
    }
});
