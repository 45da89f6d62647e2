//! Access control on both receivers: a bearer token (missing, wrong and right, gRPC and HTTP;
//! never logged), TLS with certificates generated here by rcgen and real OpenTelemetry
//! exporters sending over it, and mutual TLS refusing clients without a certificate.

use std::time::{Duration, Instant};

use opentelemetry::trace::{Span as _, Tracer, TracerProvider as _};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prost::Message;
use spantop::server::{Server, ServerConfig};
use tonic::transport::Channel;

mod common;
use common::pki::{Pki, pem};
use common::{Serve, quick, wait_for_spans, with_token};

const TOKEN: &str = "t0ken-for-tests-only";

fn request(trace: u8, id: u64) -> ExportTraceServiceRequest {
    request_from("raw", trace, id)
}

fn request_from(service: &str, trace: u8, id: u64) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![opentelemetry_proto::tonic::common::v1::KeyValue {
                    key: "service.name".into(),
                    value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                        value: Some(
                            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                                service.into(),
                            ),
                        ),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![trace; 16],
                    span_id: id.to_be_bytes().to_vec(),
                    name: "op".into(),
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_000_001_000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_is_required_on_both_transports() {
    let mut config = quick(ServerConfig::ephemeral());
    config.receivers.auth_token = Some(TOKEN.parse().expect("token"));
    let mut server = Server::start(config).await.expect("starts");
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .expect("connects");
    for token in [None, Some("wrong"), Some("t0ken-for-tests-onl")] {
        let status = client
            .export(with_token(request(1, 1), token))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{token:?}");
    }
    client
        .export(with_token(request(1, 1), Some(TOKEN)))
        .await
        .expect("the right token is accepted");
    // Logs and metrics over gRPC are guarded too.
    let mut logs = opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient::connect(
        format!("http://{}", server.grpc_addr),
    )
    .await
    .expect("connects");
    let empty =
        opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::default();
    let status = logs.export(empty.clone()).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut with = tonic::Request::new(empty);
    with.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    logs.export(with)
        .await
        .expect("logs with the token accepted");

    let http = reqwest::Client::new();
    let post = |token: Option<&str>, trace: u8| {
        let mut req = http
            .post(format!("http://{}/v1/traces", server.http_addr))
            .header("content-type", "application/x-protobuf")
            .body(request(trace, 1).encode_to_vec());
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send()
    };
    for token in [None, Some("wrong")] {
        let resp = post(token, 2).await.expect("answers");
        assert_eq!(resp.status(), 401, "{token:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
    assert_eq!(post(Some(TOKEN), 2).await.expect("answers").status(), 200);
    wait_for_spans(&mut server, 2).await;
    let stats = server.counters.read();
    assert_eq!(stats.requests_unauthenticated, 6);
    assert_eq!(stats.spans_accepted, 2);
    server.stop().await.expect("stops");
}

/// The real binary with the token in its environment: refusals are counted in the summary,
/// and the token appears nowhere in what it logs, even at trace level.
#[test]
fn the_token_is_never_logged() {
    let mut serve = Serve::start::<&str>(
        &[],
        &[("SPANTOP_AUTH_TOKEN", TOKEN), ("SPANTOP_LOG", "trace")],
    );
    let (grpc, _) = serve.addresses();
    assert!(
        serve
            .wait_line("authentication:")
            .contains("bearer token required")
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
            .await
            .expect("connects");
        client
            .export(with_token(request(1, 1), Some("not-it")))
            .await
            .expect_err("refused");
        client
            .export(with_token(request(1, 2), Some(TOKEN)))
            .await
            .expect("accepted");
    });
    let fin = serve.stop();
    assert!(fin.contains("unauthenticated 1 requests"), "{fin}");
    serve.drain();
    let all = serve.seen.join("\n");
    assert!(!all.contains(TOKEN), "token logged:\n{all}");
}

fn tls_server_config(pki: &Pki, mutual: bool) -> ServerConfig {
    let mut config = quick(ServerConfig::ephemeral());
    config.receivers.tls = Some(pki.server_tls(mutual));
    config
}

fn ca_pem(pki: &Pki) -> String {
    pem(&pki.ca)
}

fn provider(exporter: opentelemetry_otlp::SpanExporter, service: &str) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build()
}

fn emit(p: &SdkTracerProvider, n: usize) {
    let tracer = p.tracer("access-test");
    for i in 0..n {
        tracer.start(format!("op {i}")).end();
    }
}

/// A real opentelemetry-otlp gRPC exporter and an OTLP/HTTP client, over TLS with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_exporters_send_over_tls_with_the_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::generate(dir.path());
    let mut config = tls_server_config(&pki, false);
    config.receivers.auth_token = Some(TOKEN.parse().expect("token"));
    let mut server = Server::start(config).await.expect("starts");
    let (grpc, http, ca) = (server.grpc_addr, server.http_addr, ca_pem(&pki));
    tokio::task::spawn_blocking(move || {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            "authorization",
            format!("Bearer {TOKEN}").parse().expect("ascii"),
        );
        let grpc_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("https://{grpc}"))
            .with_tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(&ca))
                    .domain_name("localhost"),
            )
            .with_metadata(metadata)
            .build()
            .expect("gRPC exporter builds");
        let g = provider(grpc_exporter, "over-grpc");
        emit(&g, 3);
        g.shutdown().expect("gRPC exporter flushes");
    })
    .await
    .expect("exporter ran");
    // OTLP/HTTP over TLS (opentelemetry-otlp's HTTP client is reqwest 0.13, which this crate
    // does not build with rustls; a plain reqwest client sends the same protobuf body).
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem(&pki).as_bytes()).expect("CA"))
        .build()
        .expect("client");
    for (trace, id) in [(7u8, 1u64), (7, 2), (8, 1), (8, 2)] {
        let resp = https
            .post(format!("https://{http}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(request_from("over-http", trace, id).encode_to_vec())
            .send()
            .await
            .expect("served over TLS");
        assert_eq!(resp.status(), 200);
    }
    wait_for_spans(&mut server, 7).await;
    let stats = server.counters.read();
    assert_eq!(stats.spans_accepted, 7);
    assert_eq!(stats.requests_unauthenticated, 0);

    // Plain text to a TLS port gets nowhere and is counted.
    let plain = TraceServiceClient::connect(format!("http://{grpc}")).await;
    if let Ok(mut c) = plain {
        c.export(with_token(request(9, 9), Some(TOKEN)))
            .await
            .expect_err("no plain text on a TLS port");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.counters.read().tls_handshakes_failed == 0 {
        assert!(Instant::now() < deadline, "failed handshake not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = server.stop().await.expect("stops");
    assert_eq!(stopped.store.stats().services_seen, 2);
}

async fn grpc_tls_client(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<Identity>,
) -> Option<TraceServiceClient<Channel>> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(id);
    }
    let channel = Channel::from_shared(format!("https://{addr}"))
        .expect("uri")
        .tls_config(tls)
        .expect("tls config")
        .connect()
        .await
        .ok()?;
    Some(TraceServiceClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_clients_without_a_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::generate(dir.path());
    let mut server = Server::start(tls_server_config(&pki, true))
        .await
        .expect("starts");
    let ca = ca_pem(&pki);

    // No client certificate: the handshake fails (at connect or at the first request).
    if let Some(mut c) = grpc_tls_client(server.grpc_addr, &ca, None).await {
        c.export(request(1, 1))
            .await
            .expect_err("refused without a certificate");
    }
    let no_cert = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"))
        .build()
        .expect("client");
    let url = format!("https://{}/v1/traces", server.http_addr);
    let body = request(2, 1).encode_to_vec();
    no_cert
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(body.clone())
        .send()
        .await
        .expect_err("refused without a certificate");

    // With a certificate from the CA: served on both.
    let (client_cert, client_key) = (pem(&pki.client_cert), pem(&pki.client_key));
    let identity = Identity::from_pem(&client_cert, &client_key);
    grpc_tls_client(server.grpc_addr, &ca, Some(identity))
        .await
        .expect("connects with a certificate")
        .export(request(1, 1))
        .await
        .expect("accepted");
    let both = format!("{client_cert}{client_key}");
    let with_cert = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"))
        .identity(reqwest::Identity::from_pem(both.as_bytes()).expect("identity"))
        .build()
        .expect("client");
    let resp = with_cert
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("served");
    assert_eq!(resp.status(), 200);
    wait_for_spans(&mut server, 2).await;
    assert!(server.counters.read().tls_handshakes_failed >= 2);
    server.stop().await.expect("stops");
}
