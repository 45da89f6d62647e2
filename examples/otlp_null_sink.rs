//! An OTLP/HTTP endpoint that accepts and discards every request, to measure what a sender
//! (such as `spantop simulate --protocol http --rate max`) can push without a receiver's
//! decoding and storage costs in the way:
//!
//! ```sh
//! cargo run --release --example otlp_null_sink -- 127.0.0.1:4418
//! spantop simulate --endpoint http://127.0.0.1:4418 --protocol http --rate max --duration 10s
//! ```
//!
//! Prints requests and megabytes received per second. Loopback addresses only are sensible.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4418".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let c = Arc::clone(&counts);
    let app = Router::new()
        .route(
            "/v1/traces",
            post(move |body: Bytes| {
                let c = Arc::clone(&c);
                async move {
                    c.0.fetch_add(1, Ordering::Relaxed);
                    c.1.fetch_add(body.len() as u64, Ordering::Relaxed);
                    // An empty ExportTraceServiceResponse: full success.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    tokio::spawn(async move {
        let mut last = (0, 0);
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = (
                counts.0.load(Ordering::Relaxed),
                counts.1.load(Ordering::Relaxed),
            );
            println!(
                "{:.0} requests/s, {:.1} MB/s",
                (now.0 - last.0) as f64 / 2.0,
                (now.1 - last.1) as f64 / 2e6
            );
            last = now;
        }
    });
    println!("discarding OTLP/HTTP on http://{addr}/v1/traces");
    axum::serve(listener, app).await?;
    Ok(())
}
