//! Slow and idle clients do not starve good exporters: hundreds of idle sockets, clients
//! trickling their headers (slowloris) and clients trickling their bodies into every shared
//! decode slot, while a good exporter's requests keep being answered. The idle and
//! trickling connections are closed once their deadline passes, the slow bodies answered
//! 408 and counted, and the health check answers throughout without the token.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use spantop::ingest::deadlines::Deadlines;
use spantop::server::{Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn request(first: u64, n: u64) -> ExportTraceServiceRequest {
    let spans = (first..first + n)
        .map(|i| Span {
            trace_id: u128::from(i / 10 + 1).to_be_bytes().to_vec(),
            span_id: i.to_be_bytes().to_vec(),
            name: "op".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_000_001_000 + i,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends `head` at once, then one byte of `trickle` every `every` until the server closes
/// the connection; returns what the server answered (empty if it only closed).
async fn trickle(mut sock: TcpStream, head: Vec<u8>, every: Duration) -> String {
    let _ = sock.write_all(&head).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // Bounded: the deadlines under test are a second; give up after 20 s.
    for _ in 0..(20_000 / every.as_millis().max(1)) {
        tokio::select! {
            n = sock.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(every) => {
                if sock.write_all(b"x").await.is_err() {
                    // Closed for writing: read what was said before the close.
                    let _ = tokio::time::timeout(Duration::from_secs(1), sock.read_to_end(&mut answer)).await;
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Whether the server closes `sock` (read returns 0 or fails) within `within`.
async fn closed_within(mut sock: TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within, sock.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_clients_do_not_starve_a_good_exporter() {
    let mut config = ServerConfig::ephemeral();
    config.deadlines = Deadlines {
        header_read: Duration::from_secs(1),
        request_read: Duration::from_secs(1),
    };
    // Two decode slots, both taken by slow bodies below.
    config.max_inflight_requests = 2;
    config.auth_token = Some("t0ken".parse().expect("token"));
    config.pipeline.store.inactivity_timeout = Duration::from_millis(200);
    let server = Server::start(config).await.expect("starts");
    let addr = server.http_addr;

    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.expect("idle connection"));
    }
    let every = Duration::from_millis(100);
    let mut slowloris = Vec::new();
    for _ in 0..50 {
        let sock = TcpStream::connect(addr).await.expect("connects");
        let head = b"POST /v1/traces HTTP/1.1\r\nHost: spantop\r\nX-Slow: ".to_vec();
        slowloris.push(tokio::spawn(trickle(sock, head, every)));
    }
    let mut slow_bodies = Vec::new();
    for _ in 0..4 {
        let sock = TcpStream::connect(addr).await.expect("connects");
        let head = b"POST /v1/traces HTTP/1.1\r\nHost: spantop\r\nAuthorization: Bearer t0ken\r\n\
            Content-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\n"
            .to_vec();
        slow_bodies.push(tokio::spawn(trickle(sock, head, every)));
    }
    // Let the slow bodies take the slots before the good exporter starts.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A good exporter for 4 s, well past the deadlines: every request answered 200.
    let client = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(4);
    let mut answered = 0u64;
    let mut k = 0u64;
    while Instant::now() < until {
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            client
                .post(format!("http://{addr}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .header("authorization", "Bearer t0ken")
                .body(request(1 + k * 10, 10).encode_to_vec())
                .send(),
        )
        .await
        .expect("the good exporter is answered within 5 s")
        .expect("reaches the server");
        assert_eq!(resp.status(), 200);
        answered += 1;
        k += 1;
        // The probe answers without the token, throughout.
        let health = client
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .expect("health answers");
        assert_eq!(health.status(), 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered >= 10, "only {answered} requests answered");

    // Every slow body was cut off at its deadline with a 408, and counted.
    for s in slow_bodies {
        let answer = s.await.expect("slow body client ran");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
    // The slowloris connections were closed (408 or plainly).
    for s in slowloris {
        let answer = s.await.expect("slowloris client ran");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer:?}"
        );
    }
    // So were the idle ones, freeing their places under the connection limit.
    for sock in idle {
        assert!(
            closed_within(sock, Duration::from_secs(5)).await,
            "an idle connection was left open"
        );
    }
    let stats = server.counters.read();
    assert_eq!(stats.requests_malformed, 4, "the four slow bodies");
    assert_eq!(stats.connections_refused, 0);
    assert_eq!(stats.spans_accepted, answered * 10);
    server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_200_json_without_the_token_and_export_still_needs_it() {
    let mut config = ServerConfig::ephemeral();
    config.auth_token = Some("t0ken".parse().expect("token"));
    let server = Server::start(config).await.expect("starts");
    let client = reqwest::Client::new();
    for path in ["/health", "/"] {
        let resp = client
            .get(format!("http://{}{path}", server.http_addr))
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let body: serde_json::Value =
            serde_json::from_str(&resp.text().await.expect("body")).expect("JSON");
        assert_eq!(body["status"], "Server available", "{path}");
        assert!(body["uptime"].as_str().is_some_and(|u| u.ends_with('s')));
    }
    // HTTP/1.1 on the gRPC port is the same router: the probe works there too.
    let resp = client
        .get(format!("http://{}/health", server.grpc_addr))
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 200);
    // The token is still required for everything else.
    let resp = client
        .post(format!("http://{}/v1/traces", server.http_addr))
        .header("content-type", "application/x-protobuf")
        .body(request(1, 1).encode_to_vec())
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 401);
    let resp = client
        .get(format!("http://{}/nope", server.http_addr))
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 401, "only the health paths are open");
    server.stop().await.expect("stops");
}
