//! CORS on the OTLP/HTTP receiver, as a browser app at `http://localhost:3000` meets it: the
//! preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered 204 with the allow
//! headers and without needing the bearer token; the POST that follows needs the token and its
//! answer carries `Access-Control-Allow-Origin`; an origin not allowed gets no CORS header.

use prost::Message;
use reqwest::header::HeaderMap;
use spantop::ingest::access::AuthToken;
use spantop::ingest::cors::CorsOrigins;
use spantop::server::{Server, ServerConfig};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

const TOKEN: &str = "cors-test-token-0123456789";

async fn start(cors: Option<&str>, auth: bool) -> Server {
    let mut config = ServerConfig::ephemeral();
    if let Some(origins) = cors {
        config.receivers.cors = origins.parse::<CorsOrigins>().expect("valid origins");
    }
    if auth {
        config.receivers.auth_token = Some(TOKEN.parse::<AuthToken>().expect("valid token"));
    }
    Server::start(config).await.expect("server starts")
}

fn one_span() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![3; 16],
                    span_id: vec![4; 8],
                    name: "browser click".into(),
                    start_time_unix_nano: 1_000,
                    end_time_unix_nano: 2_000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn preflight(
    http: std::net::SocketAddr,
    path: &str,
    origin: &str,
    headers: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("http://{http}{path}"))
        .header("origin", origin)
        .header("access-control-request-method", "POST");
    if let Some(h) = headers {
        req = req.header("access-control-request-headers", h);
    }
    req.send().await.expect("answers")
}

fn cors_headers(h: &HeaderMap) -> Vec<String> {
    h.keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

fn vary_has(h: &HeaderMap, what: &str) -> bool {
    h.get_all("vary").iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case(what)))
    })
}

#[tokio::test]
async fn preflight_from_an_allowed_origin_needs_no_token() {
    let server = start(None, true).await;
    for path in ["/v1/traces", "/v1/logs", "/v1/metrics"] {
        let resp = preflight(
            server.http_addr,
            path,
            "http://localhost:3000",
            Some("content-type,content-encoding,authorization,x-custom"),
        )
        .await;
        assert_eq!(resp.status(), 204, "{path}");
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], "http://localhost:3000");
        assert_eq!(h["access-control-allow-methods"], "POST");
        assert_eq!(
            h["access-control-allow-headers"],
            "content-type,content-encoding,authorization,x-custom"
        );
        let max_age: u32 = h["access-control-max-age"]
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("a max age in seconds");
        assert!(max_age > 0);
        assert!(vary_has(h, "origin"), "{h:?}");
    }
    // Naming no headers: the ones OTLP exporters send are allowed.
    let resp = preflight(
        server.http_addr,
        "/v1/traces",
        "http://127.0.0.1:5173",
        None,
    )
    .await;
    assert_eq!(resp.status(), 204);
    let allowed = resp.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for h in ["content-type", "content-encoding", "authorization"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let stopped = server.stop().await.expect("stops");
    assert_eq!(
        stopped.ingest.requests_unauthenticated, 0,
        "a preflight is no refused request"
    );
}

#[tokio::test]
async fn the_post_needs_the_token_and_its_answers_carry_the_origin() {
    let server = start(None, true).await;
    let post = |token: Option<&str>, origin: &str| {
        let mut req = reqwest::Client::new()
            .post(format!("http://{}/v1/traces", server.http_addr))
            .header("origin", origin)
            .header("content-type", "application/x-protobuf")
            .body(one_span());
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send()
    };
    let refused = post(None, "http://localhost:3000").await.expect("answers");
    assert_eq!(refused.status(), 401);
    // The browser app can read why it was refused.
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let ok = post(Some(TOKEN), "http://localhost:3000")
        .await
        .expect("answers");
    assert_eq!(ok.status(), 200);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:3000");
    assert!(vary_has(h, "origin"), "{h:?}");
    assert!(
        h["access-control-expose-headers"]
            .to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("retry-after")),
        "the browser exporter may read Retry-After"
    );
    // Not a browser's business to keep a server from answering: the span is taken, but no CORS
    // header lets a page from another origin read the answer.
    let other = post(Some(TOKEN), "http://evil.example")
        .await
        .expect("answers");
    assert_eq!(other.status(), 200);
    assert!(cors_headers(other.headers()).is_empty(), "{other:?}");
    let stopped = server.stop().await.expect("stops");
    assert_eq!(stopped.ingest.spans_accepted, 2);
    assert_eq!(stopped.ingest.requests_unauthenticated, 1);
}

#[tokio::test]
async fn an_origin_not_allowed_gets_no_cors_headers() {
    let server = start(None, false).await;
    for origin in [
        "http://evil.example",
        "https://localhost:3000",
        "http://localhost.evil.example:3000",
        "null",
    ] {
        let resp = preflight(server.http_addr, "/v1/traces", origin, None).await;
        assert_eq!(resp.status(), 403, "{origin}");
        assert!(
            cors_headers(resp.headers()).is_empty(),
            "{origin}: {resp:?}"
        );
        let body = resp.text().await.expect("body");
        assert!(body.contains("--cors-allowed-origins"), "{body}");
    }
    // Same policy on the gRPC port, where HTTP/1.1 clients are served OTLP/HTTP too.
    let resp = preflight(
        server.grpc_addr,
        "/v1/traces",
        "http://localhost:8080",
        None,
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    server.stop().await.expect("stops");
}

#[tokio::test]
async fn origins_are_configurable_any_explicitly_or_none() {
    let server = start(Some("https://*.shop.example, http://dev.test:8080"), false).await;
    let ok = preflight(
        server.http_addr,
        "/v1/traces",
        "https://web.shop.example",
        None,
    )
    .await;
    assert_eq!(ok.status(), 204);
    let ok = preflight(server.http_addr, "/v1/logs", "http://dev.test:8080", None).await;
    assert_eq!(ok.status(), 204);
    // The default loopback patterns are replaced, not added to.
    let no = preflight(
        server.http_addr,
        "/v1/traces",
        "http://localhost:3000",
        None,
    )
    .await;
    assert_eq!(no.status(), 403);
    server.stop().await.expect("stops");

    let server = start(Some("*"), false).await;
    let resp = preflight(server.http_addr, "/v1/traces", "https://any.example", None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://any.example"
    );
    server.stop().await.expect("stops");

    let server = start(Some(""), false).await;
    let resp = preflight(
        server.http_addr,
        "/v1/traces",
        "http://localhost:3000",
        None,
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert!(cors_headers(resp.headers()).is_empty());
    server.stop().await.expect("stops");
}

#[tokio::test]
async fn a_plain_options_request_is_told_what_is_allowed() {
    let server = start(None, false).await;
    let resp = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("http://{}/v1/traces", server.http_addr),
        )
        .send()
        .await
        .expect("answers");
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["allow"], "POST, OPTIONS");
    assert!(cors_headers(resp.headers()).is_empty());
    server.stop().await.expect("stops");
}

#[test]
fn a_malformed_origin_pattern_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spantop"))
        .args([
            "serve",
            "--grpc",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--cors-allowed-origins",
            "http://*.*.example",
        ])
        .output()
        .expect("spantop runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--cors-allowed-origins"), "{err}");
    assert!(err.contains("at most one `*`"), "{err}");
}
