//! CORS for the OTLP/HTTP receiver, so a browser app (the OpenTelemetry JS web SDK on a dev
//! server at `http://localhost:3000`, say) can post its spans: `--cors-allowed-origins` takes
//! origin patterns as the Collector's `cors.allowed_origins` does. A pattern is an exact origin,
//! `*` (any origin), or an origin with one `*` standing for one or more characters of a host
//! name or port (`http://localhost:*`, `https://*.example.com`); matching ignores ASCII case.
//!
//! The receiver answers a preflight (`OPTIONS` with `Access-Control-Request-Method`) itself,
//! before the bearer-token check, because browsers never send credentials on a preflight; the
//! `POST` that follows still needs the token.

use std::fmt;
use std::str::FromStr;

/// The default: any port on the loopback names, as otel-tui allows.
pub const DEFAULT_ALLOWED_ORIGINS: &str = "http://localhost:*,http://127.0.0.1:*";

/// How long a browser may cache a preflight answer (Chromium caps it at 2 hours).
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 7200;

/// Request headers allowed when a preflight names none: what OTLP exporters send.
pub const OTLP_REQUEST_HEADERS: &str = "Content-Type, Content-Encoding, Authorization";

/// One allowed-origin pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
    /// `prefix*suffix`, both lower-cased.
    Wildcard {
        prefix: String,
        suffix: String,
    },
}

impl Pattern {
    fn matches(&self, origin: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(o) => origin.eq_ignore_ascii_case(o),
            Pattern::Wildcard { prefix, suffix } => {
                let origin = origin.to_ascii_lowercase();
                let Some(middle) = origin
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                else {
                    return false;
                };
                // A host name's labels or a port: never `/`, `:` or `@`, so
                // `http://localhost:*` cannot stand for `http://localhost:1@evil.example`.
                !middle.is_empty()
                    && middle
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            }
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Any => f.write_str("*"),
            Pattern::Exact(o) => f.write_str(o),
            Pattern::Wildcard { prefix, suffix } => write!(f, "{prefix}*{suffix}"),
        }
    }
}

/// The origins a browser app may post from; empty: CORS off (no browser app may).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigins(Vec<Pattern>);

impl CorsOrigins {
    /// No origin allowed.
    pub fn none() -> Self {
        CorsOrigins(Vec::new())
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|p| p.matches(origin))
    }
}

impl Default for CorsOrigins {
    fn default() -> Self {
        DEFAULT_ALLOWED_ORIGINS
            .parse()
            .unwrap_or_else(|_| CorsOrigins::none())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CorsPatternError {
    #[error("{0:?}: an origin pattern has at most one `*`")]
    TwoWildcards(String),
    #[error("{0:?}: an origin is scheme://host[:port] (http://localhost:3000), or `*`")]
    NotAnOrigin(String),
}

impl FromStr for CorsOrigins {
    type Err = CorsPatternError;

    /// Comma-separated patterns; an empty string allows no origin.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut patterns = Vec::new();
        for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if p == "*" {
                patterns.push(Pattern::Any);
                continue;
            }
            let Some((scheme, rest)) = p.split_once("://") else {
                return Err(CorsPatternError::NotAnOrigin(p.to_owned()));
            };
            if scheme.is_empty() || rest.is_empty() || rest.contains('/') {
                return Err(CorsPatternError::NotAnOrigin(p.to_owned()));
            }
            let lower = p.to_ascii_lowercase();
            patterns.push(match lower.split_once('*') {
                None => Pattern::Exact(lower),
                Some((_, suffix)) if suffix.contains('*') => {
                    return Err(CorsPatternError::TwoWildcards(p.to_owned()));
                }
                Some((prefix, suffix)) => Pattern::Wildcard {
                    prefix: prefix.to_owned(),
                    suffix: suffix.to_owned(),
                },
            });
        }
        Ok(CorsOrigins(patterns))
    }
}

impl fmt::Display for CorsOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_allows_loopback_dev_servers_on_any_port_only() {
        let d = CorsOrigins::default();
        assert!(d.allows("http://localhost:3000"));
        assert!(d.allows("http://127.0.0.1:5173"));
        assert!(d.allows("HTTP://LOCALHOST:8080"));
        assert!(!d.allows("http://localhost"), "the wildcard needs a port");
        assert!(!d.allows("https://localhost:3000"));
        assert!(!d.allows("http://localhost.evil.example:3000"));
        assert!(!d.allows("http://localhost:1@evil.example"));
        assert!(!d.allows("http://evil.example"));
        assert!(!d.allows("null"));
    }

    #[test]
    fn patterns_parse_as_the_collector_writes_them() {
        let o: CorsOrigins = "https://*.example.com, https://app.test:8443"
            .parse()
            .expect("valid patterns");
        assert!(o.allows("https://shop.example.com"));
        assert!(o.allows("https://a.b.example.com"));
        assert!(!o.allows("https://example.com"));
        assert!(!o.allows("https://evil.com/.example.com"));
        assert!(o.allows("https://APP.test:8443"));
        assert!(!o.allows("https://app.test"));
        assert_eq!(o.to_string(), "https://*.example.com,https://app.test:8443");

        let any: CorsOrigins = "*".parse().expect("valid");
        assert!(any.allows("https://anything.example"));

        let none: CorsOrigins = "".parse().expect("valid");
        assert_eq!(none, CorsOrigins::none());
        assert!(!none.allows("http://localhost:3000"));
        assert_eq!(none.to_string(), "none");
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(matches!(
            "http://*.*.example".parse::<CorsOrigins>(),
            Err(CorsPatternError::TwoWildcards(_))
        ));
        for bad in ["localhost:3000", "http://", "http://localhost:3000/app"] {
            assert!(
                matches!(
                    bad.parse::<CorsOrigins>(),
                    Err(CorsPatternError::NotAnOrigin(_))
                ),
                "{bad}"
            );
        }
    }
}
