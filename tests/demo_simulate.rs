//! `simulate` end to end: the demo system's traffic over real OTLP (gRPC and HTTP) into an
//! in-process spantop on loopback, then the shape of what the store assembled.

use std::time::{Duration, Instant};

use spantop::demo::{Protocol, Rate, SimulateConfig, simulate};
use spantop::model::{AnyValue, SpanKind, StatusCode};
use spantop::server::{Server, ServerConfig};
use spantop::store::StoreSnapshot;

const REQUESTS: u64 = 120;

async fn run(protocol: Protocol) -> StoreSnapshot {
    let mut config = ServerConfig::ephemeral();
    config.pipeline.store.inactivity_timeout = Duration::from_millis(300);
    config.pipeline.tick_interval = Duration::from_millis(50);
    let server = Server::start(config)
        .await
        .expect("server starts on loopback");
    let addr = match protocol {
        Protocol::Grpc => server.grpc_addr,
        Protocol::Http => server.http_addr,
    };
    let sim = SimulateConfig {
        protocol,
        // Fast enough for a quick test, slow enough that function instances get reused.
        rate: Rate::PerSecond(150.0),
        max_requests: Some(REQUESTS),
        seed: 7,
        ..SimulateConfig::new(format!("http://{addr}"))
    };
    let stats = simulate(sim, std::future::pending())
        .await
        .expect("simulation runs");
    assert_eq!(stats.failed_requests, 0);
    assert!(stats.traces >= REQUESTS, "{stats:?}");

    let mut snapshots = server.snapshots.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let snap = snapshots.borrow_and_update().clone();
        if snap.traces.len() as u64 == stats.traces && snap.stats.open_traces == 0 {
            assert_eq!(snap.stats.spans_received, stats.spans);
            assert_eq!(snap.stats.duplicate_spans, 0);
            server.stop().await.expect("server stops");
            return snap;
        }
        assert!(
            Instant::now() < deadline,
            "store never held every trace: {:?}",
            snap.stats
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), snapshots.changed()).await;
    }
}

fn assert_shop_shape(snap: &StoreSnapshot) {
    let spans = || snap.traces.iter().flat_map(|t| t.spans.iter());
    assert_eq!(
        snap.stats.services_seen, 13,
        "gateway, 9 services... and 4 functions"
    );
    assert!(
        snap.traces.iter().all(|t| t.orphans.is_empty()),
        "every parent arrives"
    );

    // Cold starts: an invocation marked cold has an Initialization child; warm ones don't.
    let cold: Vec<_> = spans()
        .filter(|s| s.attr("faas.coldstart").and_then(AnyValue::as_bool) == Some(true))
        .collect();
    let warm = spans()
        .filter(|s| s.attr("faas.coldstart").and_then(AnyValue::as_bool) == Some(false))
        .count();
    assert!(
        !cold.is_empty() && warm > 0,
        "cold {} warm {warm}",
        cold.len()
    );
    for inv in &cold {
        let trace = snap
            .traces
            .iter()
            .find(|t| t.trace_id == inv.trace_id)
            .expect("trace held");
        let init = trace
            .spans
            .iter()
            .find(|s| s.parent_span_id == Some(inv.span_id) && s.name.as_str() == "Initialization");
        assert!(
            init.is_some(),
            "cold invocation {} has no init span",
            inv.span_id
        );
        assert_eq!(
            inv.resource
                .attr("cloud.platform")
                .and_then(AnyValue::as_str),
            Some("aws_lambda")
        );
        assert!(inv.resource.attr("faas.instance").is_some());
        assert!(
            inv.resource
                .attr("faas.max_memory")
                .and_then(AnyValue::as_i64)
                .is_some()
        );
    }

    // The N+1: order-service's POST /orders calls GET /inventory/{sku} one after the other.
    let order_servers =
        spans().filter(|s| s.service().as_str() == "order-service" && s.kind == SpanKind::Server);
    let mut loops = 0;
    for server in order_servers {
        let trace = snap
            .traces
            .iter()
            .find(|t| t.trace_id == server.trace_id)
            .expect("trace held");
        let calls: Vec<_> = trace
            .spans
            .iter()
            .filter(|s| {
                s.parent_span_id == Some(server.span_id)
                    && s.name.as_str() == "GET /inventory/{sku}"
            })
            .collect();
        assert!(!calls.is_empty());
        assert!(
            calls.windows(2).all(|w| w[0].end_ns <= w[1].start_ns),
            "sequential calls"
        );
        if calls.len() >= 4 {
            loops += 1;
        }
    }
    assert!(loops > 0);

    // Errors start in a database call and reach the gateway's root span.
    let failed_roots = snap
        .traces
        .iter()
        .filter(|t| {
            t.roots()
                .any(|r| r.is_error() && r.service().as_str() == "api-gateway")
        })
        .count();
    assert!(failed_roots > 0);
    assert!(spans().any(|s| s.is_error()
        && s.name.as_str() == "SELECT inventory.stock"
        && !s.events.is_empty()));

    // Async messaging: consumer roots link to producer spans in other held traces.
    let consumers: Vec<_> = spans().filter(|s| s.kind == SpanKind::Consumer).collect();
    assert!(!consumers.is_empty());
    for c in consumers {
        assert!(c.parent_span_id.is_none() && !c.links.is_empty());
        for link in c.links.iter() {
            assert_ne!(link.trace_id, c.trace_id);
            let producer = snap
                .traces
                .iter()
                .find(|t| t.trace_id == link.trace_id)
                .and_then(|t| t.span(link.span_id))
                .expect("linked producer span held");
            assert_eq!(producer.kind, SpanKind::Producer);
        }
    }
    // The slow edge: payment's client span outlasts its server span by 200 ms or more.
    let charge_clients = spans()
        .filter(|s| s.kind == SpanKind::Client && s.name.as_str() == "POST /payments/charge");
    for client in charge_clients {
        let trace = snap
            .traces
            .iter()
            .find(|t| t.trace_id == client.trace_id)
            .expect("trace held");
        let server = trace
            .spans
            .iter()
            .find(|s| s.parent_span_id == Some(client.span_id))
            .expect("server span");
        assert!(client.duration_ns() - server.duration_ns() >= 200_000_000);
        assert_ne!(server.status.code, StatusCode::Error);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_shop_over_grpc_arrives_with_every_planted_problem() {
    let snap = run(Protocol::Grpc).await;
    assert_shop_shape(&snap);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_shop_over_http_arrives_too() {
    let snap = run(Protocol::Http).await;
    assert_shop_shape(&snap);
}
