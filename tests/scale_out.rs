//! Three `serve` instances on loopback behind a sender that routes each trace to one instance
//! by a hash of its trace id (as the Collector's `loadbalancing` exporter does), an attached
//! merged report, and a fourth instance fed everything to compare against; then one instance
//! stops and comes back while attached.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use spantop::api::attach::{Attached, Health};
use spantop::api::service::{ApiConfig, ApiServer};
use spantop::demo::shop::{Shop, ShopConfig};
use spantop::model::Span;
use spantop::server::{Server, ServerConfig};

async fn api(server: &Server, addr: std::net::SocketAddr) -> ApiServer {
    ApiServer::start(
        ApiConfig {
            addr,
            auth_token: None,
            tls: None,
            max_connections: 16,
        },
        server.view.clone(),
    )
    .await
    .expect("api starts")
}

async fn wait_analysed(server: &mut Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if server.view.borrow_and_update().analysed_traces >= n {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {n} analysed traces");
        let _ = tokio::time::timeout(left, server.view.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_view_of_three_instances_equals_one_instance_fed_everything() {
    let mut shards = Vec::new();
    for _ in 0..3 {
        shards.push(common::start(ServerConfig::ephemeral()).await);
    }
    let mut whole = common::start(ServerConfig::ephemeral()).await;
    let mut shop = Shop::new(ShopConfig::default());
    // One request may start more than one trace (a message consumed in a trace of its own):
    // group by trace id, as the Collector's router sees them.
    let mut by_id: std::collections::BTreeMap<spantop::model::TraceId, Vec<Span>> =
        Default::default();
    for k in 0..300u64 {
        let mut spans = Vec::new();
        shop.request(1_700_000_000_000_000_000 + k * 5_000_000, &mut spans);
        for s in spans {
            by_id.entry(s.trace_id).or_default().push(s);
        }
    }
    let traces: Vec<Vec<Span>> = by_id.into_values().collect();
    let mut clients = Vec::new();
    for s in &shards {
        clients.push(
            TraceServiceClient::connect(format!("http://{}", s.grpc_addr))
                .await
                .expect("connects"),
        );
    }
    let mut all = TraceServiceClient::connect(format!("http://{}", whole.grpc_addr))
        .await
        .expect("connects");
    let mut per_shard = [0usize; 3];
    for spans in &traces {
        let Some(first) = spans.first() else { continue };
        // The Collector hashes the trace id; any stable hash routes whole traces the same way.
        let h = first
            .trace_id
            .to_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        let shard = (h % 3) as usize;
        per_shard[shard] += 1;
        clients[shard]
            .export(spantop::export::otlp::spans_to_request(spans.iter()))
            .await
            .expect("shard accepts");
        all.export(spantop::export::otlp::spans_to_request(spans.iter()))
            .await
            .expect("reference accepts");
    }
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    for (s, n) in shards.iter_mut().zip(per_shard) {
        wait_analysed(s, n).await;
    }
    wait_analysed(&mut whole, traces.len()).await;
    let mut apis = Vec::new();
    for s in &shards {
        apis.push(api(s, "127.0.0.1:0".parse().expect("addr")).await);
    }
    let addrs: Vec<String> = apis.iter().map(|a| a.addr.to_string()).collect();
    let mut attached = Attached::new(&addrs, None, Duration::from_secs(5)).expect("attach");
    let merged = attached.refresh().await;
    assert_eq!(merged.up(), 3);
    let m = &merged.findings;
    let w = Arc::clone(&whole.view.borrow().findings);
    assert_eq!(m.input.traces, traces.len());
    assert_eq!(
        (m.input.traces, m.input.spans),
        (w.input.traces, w.input.spans)
    );
    assert_eq!(m.services.len(), w.services.len());
    for (a, b) in m.services.iter().zip(&w.services) {
        assert_eq!(
            (a.red.service, a.red.requests, a.red.errors, a.cp_total_ms),
            (b.red.service, b.red.requests, b.red.errors, b.cp_total_ms)
        );
        let (x, y) = (a.red.duration.p95_ms, b.red.duration.p95_ms);
        assert!(
            (x - y).abs() <= 0.01 * y + 1e-3,
            "{}: p95 {x} vs {y}",
            a.red.service
        );
    }
    let edges = |f: &spantop::analysis::findings::Findings| {
        f.service_map
            .iter()
            .map(|e| {
                (
                    e.caller,
                    e.callee,
                    e.calls,
                    e.errors,
                    e.cp_total_ms.to_bits(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(edges(m), edges(&w));
    assert_eq!(m.cold_starts.count, w.cold_starts.count);
    assert_eq!(m.n_plus_one.count, w.n_plus_one.count);
    assert_eq!(m.errors.traces_with_errors, w.errors.traces_with_errors);

    // A trace from a finding comes from the instance that holds it.
    let first = traces[0][0].trace_id;
    let (from, batch) = attached
        .fetch_trace(first)
        .await
        .expect("fetch")
        .expect("held by one instance");
    assert!(addrs.contains(&from));
    assert_eq!(batch.spans.len(), traces[0].len());

    // One instance's API stops: shown down, left out; it comes back on the same address.
    let gone = apis.remove(1);
    let gone_addr = gone.addr;
    gone.stop().await.expect("stops");
    let merged = attached.refresh().await;
    assert!(
        matches!(merged.instances[1].health, Health::Down(_)),
        "{:?}",
        merged.instances[1]
    );
    assert_eq!(merged.findings.input.traces, traces.len() - per_shard[1]);
    let back = api(&shards[1], gone_addr).await;
    let merged = attached.refresh().await;
    assert_eq!(merged.up(), 3, "{:?}", merged.instances);
    assert_eq!(merged.findings.input.traces, traces.len());
    back.stop().await.expect("stops");
    for a in apis {
        a.stop().await.expect("stops");
    }
}
