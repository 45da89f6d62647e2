//! Slow and idle clients do not starve good exporters: hundreds of idle sockets, clients
//! trickling their headers (slowloris) and clients trickling their bodies into every shared
//! decode slot, while a good exporter's requests keep being answered. The idle and
//! trickling connections are closed once their deadline passes, the slow bodies answered
//! 408 and counted, and the health check answers throughout without the token.

use std::time::{Duration, Instant};

use prost::Message;
use spantop::ingest::deadlines::Deadlines;
use spantop::server::{Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::numbered_request;

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
    config.receivers.deadlines = Deadlines {
        header_read: Duration::from_secs(1),
        request_read: Duration::from_secs(1),
        keepalive_time: Duration::from_secs(1),
        keepalive_timeout: Duration::from_secs(1),
    };
    // Two decode slots, both taken by slow bodies below.
    config.receivers.max_inflight_requests = 2;
    config.receivers.auth_token = Some("t0ken".parse().expect("token"));
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
                .body(numbered_request(1 + k * 10, 10, 10).encode_to_vec())
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
    assert_eq!(stats.requests_timed_out, 4, "the four slow bodies");
    assert_eq!(stats.requests_malformed, 0, "timed out is not malformed");
    assert_eq!(stats.connections_refused, 0);
    assert_eq!(stats.spans_accepted, answered * 10);
    server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_200_json_without_the_token_and_export_still_needs_it() {
    let mut config = ServerConfig::ephemeral();
    config.receivers.auth_token = Some("t0ken".parse().expect("token"));
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
        .body(numbered_request(1, 1, 10).encode_to_vec())
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

/// Deadlines of a second each, so the tests below wait seconds, not minutes.
fn quick_deadlines() -> Deadlines {
    Deadlines {
        header_read: Duration::from_secs(1),
        request_read: Duration::from_secs(1),
        keepalive_time: Duration::from_secs(1),
        keepalive_timeout: Duration::from_secs(1),
    }
}

/// An HTTP/2 connection whose client side (h2) answers the server's pings.
async fn h2_connection(addr: std::net::SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = TcpStream::connect(addr).await.expect("connects");
    let (send, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

fn grpc_request(path: &str) -> axum::http::Request<()> {
    axum::http::Request::builder()
        .method("POST")
        .uri(format!("http://spantop{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request")
}

/// A gRPC message frame: uncompressed flag, big-endian length, then the message.
fn grpc_frame(message: &[u8]) -> bytes::Bytes {
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame.into()
}

/// The gRPC status of an answer: in the headers of a trailers-only answer, else the trailers.
async fn grpc_status(answer: h2::client::ResponseFuture) -> (String, String) {
    let resp = tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("answered within 10 s")
        .expect("an HTTP/2 answer");
    let text = |h: &axum::http::HeaderMap, k: &str| {
        h.get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if resp.headers().contains_key("grpc-status") {
        return (
            text(resp.headers(), "grpc-status"),
            text(resp.headers(), "grpc-message"),
        );
    }
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        let _ = chunk.expect("body");
    }
    let trailers = body.trailers().await.expect("trailers").unwrap_or_default();
    (
        text(&trailers, "grpc-status"),
        text(&trailers, "grpc-message"),
    )
}

/// `grpc-message` is percent-encoded; the messages here only escape spaces.
fn unescaped(message: &str) -> String {
    message.replace("%20", " ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_body_past_its_deadline_answers_deadline_exceeded_and_is_counted_apart() {
    let mut config = ServerConfig::ephemeral();
    config.receivers.deadlines = quick_deadlines();
    let server = Server::start(config).await.expect("starts");
    let mut send = h2_connection(server.grpc_addr).await;
    // Traces (spantop's own codec) and logs (a generated service behind the same guard): a
    // frame announcing 1000 bytes, 10 of them sent, then nothing more.
    let mut answers = Vec::new();
    for path in [
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    ] {
        send = send.ready().await.expect("ready");
        let (answer, mut body) = send.send_request(grpc_request(path), false).expect("sent");
        let mut part = grpc_frame(&[0u8; 1000]).to_vec();
        part.truncate(15);
        body.send_data(part.into(), false).expect("part sent");
        answers.push((path, answer, body));
    }
    for (path, answer, _held_open) in answers {
        let (status, message) = grpc_status(answer).await;
        assert_eq!(
            status, "4",
            "{path}: DEADLINE_EXCEEDED, got {status} {message:?}"
        );
        assert!(
            unescaped(&message).contains("did not arrive within"),
            "{message:?}"
        );
    }
    // The same connection still serves a whole request.
    send = send.ready().await.expect("ready");
    let (answer, mut body) = send
        .send_request(
            grpc_request("/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
            false,
        )
        .expect("sent");
    body.send_data(
        grpc_frame(&numbered_request(1, 3, 10).encode_to_vec()),
        true,
    )
    .expect("sent");
    assert_eq!(grpc_status(answer).await.0, "0");
    let stats = server.counters.read();
    assert_eq!(stats.requests_timed_out, 2);
    assert_eq!(stats.requests_malformed, 0, "timed out is not malformed");
    assert_eq!(stats.spans_accepted, 3);
    server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_grpc_logs_and_metrics_answer_invalid_argument() {
    let server = Server::start(ServerConfig::ephemeral())
        .await
        .expect("starts");
    let mut send = h2_connection(server.grpc_addr).await;
    for path in [
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    ] {
        send = send.ready().await.expect("ready");
        let (answer, mut body) = send.send_request(grpc_request(path), false).expect("sent");
        // Field 1, length-delimited, claiming 127 bytes that are not there.
        body.send_data(grpc_frame(&[0x0a, 0x7f, 0x01]), true)
            .expect("sent");
        let (status, message) = grpc_status(answer).await;
        assert_eq!(
            status, "3",
            "{path}: INVALID_ARGUMENT, got {status} {message:?}"
        );
    }
    let stats = server.counters.read();
    assert_eq!(stats.requests_malformed, 3);
    assert_eq!(stats.requests_timed_out, 0);
    server.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_that_does_not_answer_pings_is_closed() {
    let mut config = ServerConfig::ephemeral();
    config.receivers.deadlines = quick_deadlines();
    let server = Server::start(config).await.expect("starts");
    // Dead: the preface and an empty SETTINGS frame, then silence (no SETTINGS or PING ack).
    let mut dead = TcpStream::connect(server.grpc_addr)
        .await
        .expect("connects");
    dead.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .expect("preface");
    // Alive: h2 answers every ping.
    let mut alive = h2_connection(server.grpc_addr).await;
    let started = Instant::now();
    assert!(
        closed_within(dead, Duration::from_secs(10)).await,
        "a connection that answers no ping was left open"
    );
    let closed_after = started.elapsed();
    // Past the ping interval and its timeout, the live connection still serves an export.
    tokio::time::sleep(Duration::from_secs(3)).await;
    alive = alive.ready().await.expect("still open");
    let (answer, mut body) = alive
        .send_request(
            grpc_request("/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
            false,
        )
        .expect("sent");
    body.send_data(
        grpc_frame(&numbered_request(1, 2, 10).encode_to_vec()),
        true,
    )
    .expect("sent");
    assert_eq!(grpc_status(answer).await.0, "0");
    assert!(
        closed_after >= Duration::from_secs(1),
        "closed after {closed_after:?}: before any ping could go unanswered"
    );
    server.stop().await.expect("stops");
}
