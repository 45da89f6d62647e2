//! Who may send: a bearer token both receivers require (`--auth-token` /
//! `SPANTOP_AUTH_TOKEN`), and TLS (rustls) for both, with client certificates optionally
//! required (mutual TLS).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::http;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The token exporters must present as `Authorization: Bearer TOKEN`. Its `Debug` never shows
/// the token, so it cannot end up in a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(Arc<str>);

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

impl std::str::FromStr for AuthToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("the auth token is empty".into());
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the auth token must be printable ASCII without spaces".into());
        }
        Ok(AuthToken(t.into()))
    }
}

impl AuthToken {
    /// True when `headers` carry `Authorization: Bearer <this token>`.
    pub fn admits(&self, headers: &http::HeaderMap) -> bool {
        self.admits_value(
            headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        )
    }

    /// The `authorization` value a client presents this token with (spantop's own API client).
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// The same, given the `authorization` value (gRPC metadata, say).
    pub fn admits_value(&self, value: Option<&[u8]>) -> bool {
        let Some(v) = value else {
            return false;
        };
        let scheme = b"bearer ";
        if v.len() < scheme.len() || !v[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return false;
        }
        let given = v[scheme.len()..].trim_ascii();
        constant_time_eq(self.0.as_bytes(), given)
    }
}

/// Compares in time that depends only on `expected`'s length, not on where `given` differs.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut diff = u8::from(expected.len() != given.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

/// Certificate and key (PEM) the receivers serve TLS with; with `client_ca`, clients must
/// present a certificate signed by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// ALPN for each receiver: gRPC needs HTTP/2, the OTLP/HTTP receiver speaks HTTP/1.1.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
pub const ALPN_HTTP: &[&[u8]] = &[b"http/1.1"];

impl TlsFiles {
    /// A rustls server configuration for one receiver.
    pub fn acceptor(&self, alpn: &[&[u8]]) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .with_context(|| format!("cannot read TLS certificate {}", self.cert.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("invalid PEM in {}", self.cert.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "no certificate in {}",
            self.cert.display()
        );
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("cannot read TLS private key {}", self.key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca)
                    .with_context(|| format!("cannot read client CA {}", ca.display()))?
                {
                    let cert = cert.with_context(|| format!("invalid PEM in {}", ca.display()))?;
                    roots
                        .add(cert)
                        .with_context(|| format!("unusable CA certificate in {}", ca.display()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .context("client certificate verifier")?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .context("the TLS certificate and key do not match")?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(v).expect("header"),
        );
        h
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let t: AuthToken = "s3cret-Token".parse().expect("token");
        assert!(t.admits(&headers("Bearer s3cret-Token")));
        assert!(t.admits(&headers("bearer  s3cret-Token ")));
        assert!(!t.admits(&headers("Bearer s3cret-Toke")));
        assert!(!t.admits(&headers("Bearer s3cret-Token2")));
        assert!(!t.admits(&headers("Basic s3cret-Token")));
        assert!(!t.admits(&headers("s3cret-Token")));
        assert!(!t.admits(&http::HeaderMap::new()));
        assert_eq!(format!("{t:?}"), "AuthToken(<redacted>)");
        assert!("".parse::<AuthToken>().is_err());
        assert!("two words".parse::<AuthToken>().is_err());
    }
}
