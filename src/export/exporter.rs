//! The OTLP exporter side: model spans sent to any OTLP endpoint as protobuf, over gRPC (tonic
//! client) or HTTP (`POST /v1/traces`). `demo` and `simulate` use it; it lives here because it
//! is the only other code that speaks the wire types.

use std::sync::Arc;

use anyhow::Context;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic::transport::Channel;

use crate::export::otlp::spans_to_request;
use crate::model::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    Http,
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "grpc" => Ok(Protocol::Grpc),
            "http" | "http/protobuf" => Ok(Protocol::Http),
            other => Err(format!("unknown protocol {other:?}: grpc or http")),
        }
    }
}

/// One request, encoded for its protocol ahead of sending (encoding is CPU work best done on
/// the generating threads), with its span count.
pub struct Payload {
    pub spans: u64,
    body: Body,
}

enum Body {
    Grpc(ExportTraceServiceRequest),
    Http(Vec<u8>),
}

impl Payload {
    pub fn encode(spans: &[Span], protocol: Protocol) -> Payload {
        let request = spans_to_request(spans);
        let body = match protocol {
            Protocol::Grpc => Body::Grpc(request),
            Protocol::Http => Body::Http(request.encode_to_vec()),
        };
        Payload {
            spans: spans.len() as u64,
            body,
        }
    }
}

/// A connection to one OTLP endpoint; clones share it.
#[derive(Clone)]
pub enum Exporter {
    Grpc(TraceServiceClient<Channel>),
    Http(reqwest::Client, Arc<str>),
}

impl Exporter {
    /// `endpoint` is `http://host:port`; for HTTP a URL without a path gets `/v1/traces`.
    pub async fn connect(endpoint: &str, protocol: Protocol) -> anyhow::Result<Exporter> {
        Ok(match protocol {
            Protocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
                    .with_context(|| format!("invalid gRPC endpoint {endpoint}"))?
                    .connect()
                    .await
                    .with_context(|| format!("cannot connect to {endpoint}"))?;
                Exporter::Grpc(TraceServiceClient::new(channel))
            }
            Protocol::Http => Exporter::Http(reqwest::Client::new(), http_url(endpoint).into()),
        })
    }

    pub async fn send(&mut self, payload: Payload) -> anyhow::Result<()> {
        match (self, payload.body) {
            (Exporter::Grpc(c), Body::Grpc(req)) => {
                c.export(req).await.context("OTLP/gRPC export failed")?;
            }
            (Exporter::Http(c, url), Body::Http(bytes)) => {
                let resp = c
                    .post(&**url)
                    .header("content-type", "application/x-protobuf")
                    .body(bytes)
                    .send()
                    .await
                    .context("OTLP/HTTP export failed")?;
                anyhow::ensure!(
                    resp.status().is_success(),
                    "OTLP/HTTP export answered {}",
                    resp.status()
                );
            }
            _ => anyhow::bail!("request encoded for the other protocol"),
        }
        Ok(())
    }
}

fn http_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    let has_path = trimmed
        .split_once("://")
        .map_or(trimmed, |(_, rest)| rest)
        .contains('/');
    if has_path {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1/traces")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_url_gets_the_otlp_path_only_when_it_has_none() {
        assert_eq!(
            http_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(http_url("http://h:1/"), "http://h:1/v1/traces");
        assert_eq!(
            http_url("http://h:1/custom/traces"),
            "http://h:1/custom/traces"
        );
    }
}
