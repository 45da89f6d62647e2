//! What one refresh of the merged view (`live/report --attach`) costs with three instances that
//! have each analysed about a million spans:
//!
//! ```text
//! nice -n 10 cargo run --release --example attach_refresh -- 1000000 20
//! ```
//!
//! Three engines are fed the demo shop's traffic routed by trace id (as the Collector's
//! `loadbalancing` exporter does) until each has analysed the given number of spans; each
//! publishes its `ViewData` through a real `serve --api` server on loopback
//! (`api::service::ApiServer`). Then `Attached::refresh` runs the given number of times —
//! asking the three at once, encoding, sending, decoding and merging, as the TUI does every
//! `--refresh` — and its `Merged::took` is reported (p50, p90, max), with the snapshot size and
//! the parts of it: the instance's `Snapshot` build, and decode + merge alone.
//!
//! The snapshot holds aggregates, the kept per-trace findings' rows and 200 trace rows for the
//! Traces tab, never spans; each instance here holds all its traces (for those rows) and keeps
//! findings of the last 200,000 traces (`AnalysisConfig::default`), as `serve` does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use spantop::analysis::engine::Engine;
use spantop::analysis::findings::view::ViewData;
use spantop::api::attach::Attached;
use spantop::api::convert::snapshot;
use spantop::api::merge::{InstanceSnapshot, merged_findings};
use spantop::api::service::{ApiConfig, ApiServer};
use spantop::demo::shop::{Shop, ShopConfig};
use spantop::model::{Span, TraceId};
use spantop::store::{StoreSnapshot, Trace};

const INSTANCES: usize = 3;

/// The three engines, each fed the traces routed to it until it has `spans` spans, and the
/// traces (each instance's store holds all of its own).
fn engines(spans: usize) -> Vec<(Engine, Vec<Arc<Trace>>)> {
    let mut shop = Shop::new(ShopConfig::default());
    let mut engines: Vec<(Engine, Vec<Arc<Trace>>)> = (0..INSTANCES)
        .map(|_| (Engine::default(), Vec::new()))
        .collect();
    let mut held = [0usize; INSTANCES];
    let mut k = 0u64;
    while held.iter().any(|&n| n < spans) {
        let mut out = Vec::new();
        shop.request(1_700_000_000_000_000_000 + k * 2_000_000, &mut out);
        k += 1;
        let mut by_id: std::collections::BTreeMap<TraceId, Vec<Span>> = Default::default();
        for s in out {
            by_id.entry(s.trace_id).or_default().push(s);
        }
        for (id, spans_of) in by_id {
            let shard = id.shard(INSTANCES);
            if held[shard] >= spans {
                continue;
            }
            held[shard] += spans_of.len();
            let trace = Arc::new(Trace::from_spans(id, spans_of));
            engines[shard].0.add_trace(&trace);
            engines[shard].1.push(trace);
        }
    }
    engines
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let spans: usize = args.next().as_deref().unwrap_or("1000000").parse()?;
    let refreshes: usize = args.next().as_deref().unwrap_or("20").parse()?;
    let started = Instant::now();
    let engines = tokio::task::spawn_blocking(move || engines(spans)).await?;
    let views: Vec<Arc<ViewData>> = engines
        .iter()
        .map(|(e, traces)| {
            let store = StoreSnapshot {
                traces: traces.clone().into(),
                ..StoreSnapshot::default()
            };
            Arc::new(ViewData::build(store, e))
        })
        .collect();
    println!(
        "fed {} instances in {:.1} s: {}",
        INSTANCES,
        started.elapsed().as_secs_f64(),
        views
            .iter()
            .map(|v| format!(
                "{} spans / {} traces",
                v.aggregates.spans, v.aggregates.traces
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let t = Instant::now();
    let snaps: Vec<_> = views.iter().map(|v| snapshot(v)).collect();
    let build = t.elapsed() / INSTANCES as u32;
    let bytes: Vec<usize> = snaps.iter().map(|s| s.encoded_len()).collect();
    let mut decode_merge = Vec::new();
    for _ in 0..refreshes.max(1) {
        let t = Instant::now();
        let parts: Vec<InstanceSnapshot> = snaps
            .iter()
            .map(|s| InstanceSnapshot::decode(s.clone()))
            .collect::<anyhow::Result<_>>()?;
        let merged = merged_findings(&parts.iter().collect::<Vec<_>>());
        std::hint::black_box(&merged);
        decode_merge.push(t.elapsed());
    }
    decode_merge.sort();

    let mut servers = Vec::new();
    let mut senders = Vec::new();
    for v in &views {
        let (tx, rx) = tokio::sync::watch::channel(Arc::clone(v));
        senders.push(tx);
        servers.push(
            ApiServer::start(
                ApiConfig {
                    addr: "127.0.0.1:0".parse()?,
                    auth_token: None,
                    tls: None,
                    max_connections: 16,
                },
                rx,
            )
            .await?,
        );
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    let mut attached = Attached::new(&addrs, None, Duration::from_secs(30))?;
    // The first refresh connects; it is not what the TUI pays every second.
    let first = attached.refresh().await;
    anyhow::ensure!(first.up() == INSTANCES, "{:?}", first.instances);
    let mut took = Vec::new();
    for _ in 0..refreshes.max(1) {
        let m = attached.refresh().await;
        anyhow::ensure!(m.up() == INSTANCES, "{:?}", m.instances);
        took.push(m.took);
    }
    took.sort();
    println!(
        "snapshot per instance: {} KiB encoded (largest), built in {} (mean)",
        bytes.iter().max().copied().unwrap_or(0) / 1024,
        ms(build)
    );
    println!(
        "decode + merge of the 3 snapshots: p50 {}, max {} ({} runs)",
        ms(quantile(&decode_merge, 0.5)),
        ms(quantile(&decode_merge, 1.0)),
        decode_merge.len()
    );
    println!(
        "Attached::refresh (Merged::took, 3 instances over loopback gRPC): p50 {}, p90 {}, max {} ({} refreshes; first, connecting: {})",
        ms(quantile(&took, 0.5)),
        ms(quantile(&took, 0.9)),
        ms(quantile(&took, 1.0)),
        took.len(),
        ms(first.took)
    );
    drop(senders);
    for s in servers {
        s.stop().await?;
    }
    Ok(())
}
