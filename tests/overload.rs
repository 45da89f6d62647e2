//! Overload, bounded and on loopback: senders far above what a deliberately small store queue
//! takes, plus hundreds of idle connections. Throttled exports get retryable statuses and are
//! counted, a probe exporter and the health check are answered throughout, memory stays under
//! the budget, and every acknowledged span is in the recording.
//!
//! Short in the normal suite (10 s); the long run:
//!   SPANTOP_OVERLOAD_SECS=60 cargo test --release --test overload -- --nocapture

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use spantop::export::record::RecordConfig;
use spantop::ingest::file::read_path;
use spantop::server::{Server, ServerConfig};

mod common;
use common::numbered_request;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_throttled_counted_and_loses_no_acknowledged_span() {
    let secs: u64 = std::env::var("SPANTOP_OVERLOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("overload.jsonl");
    let mut config = ServerConfig::ephemeral();
    // A small queue and a short wait: the senders below are many times what gets through.
    config.pipeline.channel_capacity = 4;
    config.receivers.send_timeout = Duration::from_millis(20);
    config.pipeline.store.max_memory = 64 << 20;
    config.pipeline.store.inactivity_timeout = Duration::from_millis(500);
    config.receivers.record = Some(RecordConfig::new(&path));
    let mut server = Server::start(config).await.expect("starts");
    let endpoint = format!("http://{}", server.grpc_addr);

    // Hundreds of idle connections, as a slowloris would hold.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(
            tokio::net::TcpStream::connect(server.grpc_addr)
                .await
                .expect("idle connection"),
        );
    }

    let deadline = Instant::now() + Duration::from_secs(secs);
    // Acknowledged id ranges, not ids: at release speed a 60 s run acknowledges ~15 M spans, and
    // the checker's memory would swamp the server's in this process's VmHWM.
    let acked = Arc::new(Mutex::new(Vec::<std::ops::Range<u64>>::new()));
    let unavailable = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for w in 0..6u64 {
        let (acked, unavailable, endpoint) = (
            Arc::clone(&acked),
            Arc::clone(&unavailable),
            endpoint.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut client = TraceServiceClient::connect(endpoint)
                .await
                .expect("connects");
            let mut k = 0u64;
            while Instant::now() < deadline {
                let first = 1 + w * 1_000_000_000 + k * 100;
                k += 1;
                match client.export(numbered_request(first, 100, 20)).await {
                    Ok(_) => acked.lock().expect("not poisoned").push(first..first + 100),
                    Err(s) => {
                        assert_eq!(s.code(), tonic::Code::Unavailable, "retryable: {s}");
                        unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // A probe exporter on its own connection: every request answered, latency recorded.
    let mut probe = TraceServiceClient::connect(endpoint.clone())
        .await
        .expect("probe connects");
    let mut latencies = Vec::new();
    let mut health_latencies = Vec::new();
    let health = reqwest::Client::new();
    let health_url = format!("http://{}/health", server.http_addr);
    let mut probe_ok = 0u64;
    let mut k = 0u64;
    let mut peak_memory = 0u64;
    let mut at_limit = false;
    while Instant::now() < deadline {
        let first = 9_000_000_000_000 + k * 10;
        k += 1;
        let t = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            probe.export(numbered_request(first, 10, 20)),
        )
        .await
        .expect("the probe is answered within 5 s under load");
        latencies.push(t.elapsed());
        match answer {
            Ok(_) => {
                probe_ok += 1;
                acked.lock().expect("not poisoned").push(first..first + 10);
            }
            Err(s) => assert_eq!(s.code(), tonic::Code::Unavailable, "retryable: {s}"),
        }
        // The health check answers throughout, without waiting behind the senders.
        let t = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(5), health.get(&health_url).send())
            .await
            .expect("the health check is answered within 5 s under load")
            .expect("reaches the server");
        assert_eq!(answer.status(), 200);
        health_latencies.push(t.elapsed());
        let stats = server.snapshots.borrow_and_update().stats;
        peak_memory = peak_memory.max(stats.memory_bytes);
        // The store's limit is the budget lowered by the resident overhead it measured.
        at_limit |= stats.memory_bytes as f64 >= stats.effective_max_memory_bytes as f64 * 0.9;
        // What the store itself holds never passes the budget; the total may pass it for a
        // moment by what readers still hold (a published view, the analysis queue) and what
        // the analysis worker added since the store last read its gauge.
        assert!(
            stats.span_bytes <= stats.max_memory_bytes,
            "store over its budget: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in senders {
        s.await.expect("sender ran");
    }
    drop(idle);
    let counters = server.counters.read();
    let stopped = server.stop().await.expect("stops");

    // Read before the recording is checked: the checker's sets are not the server's.
    // The test process holds the clients as well as the server: an upper bound on the server's.
    let peak_rss_kib: Option<u64> =
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            });
    let acked = acked.lock().expect("not poisoned").clone();
    let acked_spans: u64 = acked.iter().map(|r| r.end - r.start).sum();
    let mut recorded = HashSet::new();
    let summary = read_path(&path, &mut |b| {
        recorded.extend(b.spans.iter().map(|s| s.span_id.as_u64()));
    })
    .expect("recording reads");
    let missing = acked
        .iter()
        .flat_map(|r| r.clone())
        .filter(|id| !recorded.contains(id))
        .count();
    latencies.sort();
    health_latencies.sort();
    let pct = |l: &[Duration], p: f64| l[((l.len() - 1) as f64 * p) as usize];
    let peak_rss = peak_rss_kib.map_or("unknown".into(), |k| format!("{k} kB"));
    println!(
        "overload {secs}s: acknowledged {} spans, recorded {}, missing {missing}; throttled {} (client saw {} UNAVAILABLE); probe ok {probe_ok}/{}, latency p50 {:?} p99 {:?} max {:?}; health p50 {:?} p99 {:?} max {:?}; store peak {:.1} MiB of {:.0} MiB; process VmHWM {peak_rss} (server and clients)",
        acked_spans,
        recorded.len(),
        counters.requests_throttled,
        unavailable.load(Ordering::Relaxed),
        latencies.len(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0),
        pct(&health_latencies, 0.5),
        pct(&health_latencies, 0.99),
        pct(&health_latencies, 1.0),
        peak_memory as f64 / (1 << 20) as f64,
        stopped.store.stats().max_memory_bytes as f64 / (1 << 20) as f64,
    );
    assert!(summary.is_clean(), "{summary}");
    assert_eq!(missing, 0, "every acknowledged span is in the recording");
    // Overloaded means the senders were throttled or the store was held at its budget
    // (evicting): which of the two a machine shows depends on its speed, so either counts.
    let budget = stopped.store.stats().max_memory_bytes;
    assert!(
        counters.requests_throttled > 0 || at_limit,
        "neither throttled nor at the memory budget: the test did not overload anything"
    );
    assert_eq!(
        counters.requests_throttled,
        unavailable.load(Ordering::Relaxed) + (latencies.len() as u64 - probe_ok),
        "every UNAVAILABLE the clients saw was counted"
    );
    assert!(probe_ok > 0, "the probe got through at least once");
    // Resident memory: generous, since this process also holds the senders, 300 idle
    // connections and the recorder, and a debug build's allocations are larger (~122 MiB
    // measured here for a 64 MiB budget). The 1.25x goal is measured on the release server
    // alone by benches/overload_rss.sh.
    if let Some(kib) = peak_rss_kib {
        assert!(
            kib * 1024 < 3 * budget,
            "peak RSS {kib} kB against a {budget} byte budget"
        );
    }
}
