//! Arguments shared by several commands: one `AnalysisArgs` flattened into every command that
//! analyses, one `ReplayArgs` for reading files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::export::record::RecordConfig;
use crate::ingest::BodyLimits;
use crate::ingest::access::{AuthToken, TlsFiles};
use crate::ingest::cors::{self, CorsOrigins};
use crate::ingest::deadlines::Deadlines;
use crate::ingest::limits::{self, SpanLimits};
use crate::pipeline::receivers::ReceiverConfig;
use crate::server::ServerConfig;
use crate::store::StoreConfig;

use crate::analysis::engine::AnalysisConfig;
use crate::analysis::trace::cold_start::ColdStartConfig;
use crate::analysis::trace::critical_path::CpOptions;
use crate::ingest::file::replay::Speed;
use crate::units::{parse_duration, parse_size};

/// How traces are analysed: the same flags, with the same defaults, on `serve`, `live`,
/// `demo`, `replay` and `report`.
#[derive(Args, Debug, Clone)]
pub struct AnalysisArgs {
    /// Exact Jaeger UI critical path: a child must end strictly before the point returned to.
    #[arg(long)]
    pub jaeger_strict: bool,
    /// Shift spans of a host whose clock is off by up to this much (Jaeger's adjuster); off by
    /// default, as in Jaeger. Client/server gaps need no adjustment either way.
    #[arg(long, value_parser = parse_duration)]
    pub max_clock_skew: Option<Duration>,
    /// First invocations of a FaaS instance this close to the start of the data are "unknown"
    /// rather than cold (the capture may have started after the instance).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub coldstart_warmup: Duration,
}

impl Default for AnalysisArgs {
    fn default() -> Self {
        AnalysisArgs {
            jaeger_strict: false,
            max_clock_skew: None,
            coldstart_warmup: Duration::from_secs(60),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl AnalysisArgs {
    /// For live data and the TUI: per-trace findings are kept for the default number of
    /// traces (aggregates count every trace).
    pub fn bounded(&self) -> AnalysisConfig {
        self.config(AnalysisConfig::default().max_traces_kept)
    }

    /// For a report: the findings of every trace are kept.
    pub fn unbounded(&self) -> AnalysisConfig {
        self.config(usize::MAX)
    }

    fn config(&self, max_traces_kept: usize) -> AnalysisConfig {
        AnalysisConfig {
            critical_path: CpOptions {
                jaeger_strict: self.jaeger_strict,
            },
            cold_start: ColdStartConfig {
                warmup_ns: nanos(self.coldstart_warmup),
            },
            max_traces_kept,
            max_clock_skew_ns: self.max_clock_skew.map(nanos),
            ..AnalysisConfig::default()
        }
    }
}

/// `spantop replay`: files, their pace, and what may be held.
#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// Trace files: OTLP JSON or JSON lines, OTLP protobuf, Jaeger JSON (also Elasticsearch /
    /// OpenSearch exports), Zipkin v2 JSON, Tempo and Jaeger API responses; gzipped or not.
    /// Formats may be mixed.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// `max` loads as fast as possible; `1x`, `10x`, ... re-play spans in their own timing.
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    #[command(flatten)]
    pub hold: HoldArgs,
    /// No TUI: load and analyse the files, print per-file summaries and the summary line
    /// `serve` logs. Exit status 1 if a file could not be read, 2 if anything was skipped.
    #[arg(long)]
    pub headless: bool,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// What a command reading files may hold, and when a trace in them is complete: `replay` and
/// `report`.
#[derive(Args, Debug, Clone)]
pub struct HoldArgs {
    /// Memory budget for what is held (spans, findings, aggregates); whole traces are let go
    /// of, complete (analysed) ones first, beyond it. Files read at full speed wait for the
    /// analysis rather than drop an open trace; what is dropped anyway is counted and said.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: usize,
    /// A trace is complete once its latest span ended this long before the newest span read
    /// (the files' own clock); in a timed replay, once no span of it arrived for this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trace_timeout: Duration,
}

impl HoldArgs {
    pub fn store(&self) -> StoreConfig {
        StoreConfig {
            max_memory: self.max_memory,
            inactivity_timeout: self.trace_timeout,
            ..StoreConfig::default()
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ReceiverArgs {
    /// Address for OTLP/gRPC. Binds loopback by default; 0.0.0.0:4317 is an explicit choice.
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub grpc: SocketAddr,
    /// Address for OTLP/HTTP (POST /v1/traces, protobuf or JSON).
    #[arg(long, default_value = "127.0.0.1:4318")]
    pub http: SocketAddr,
    /// Largest request body (gRPC message) accepted as received; larger ones are refused
    /// (HTTP 413, gRPC RESOURCE_EXHAUSTED) and counted as malformed.
    #[arg(long, default_value = "20MiB", value_parser = parse_size)]
    pub max_message_size: usize,
    /// Largest size a compressed body may inflate to; a bomb is refused, not expanded.
    #[arg(long, default_value = "20MiB", value_parser = parse_size)]
    pub max_decompressed_size: usize,
    /// Longer string/bytes attribute values are truncated (counted).
    #[arg(long, default_value = "64KiB", value_parser = parse_size)]
    pub max_attribute_value_size: usize,
    /// Attributes kept per span, event and link; the rest are dropped (counted, and added to
    /// the span's dropped count).
    #[arg(long, default_value_t = limits::DEFAULT_MAX_ATTRIBUTES)]
    pub max_attributes: usize,
    /// Events kept per span.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_EVENTS)]
    pub max_events: usize,
    /// Links kept per span.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_LINKS)]
    pub max_links: usize,
    /// Spans kept per trace; later spans of a bigger trace are dropped (counted).
    #[arg(long, default_value_t = crate::store::DEFAULT_MAX_SPANS_PER_TRACE)]
    pub max_spans_per_trace: usize,
    /// HTTP/1.1: a request's headers (or, on a kept-alive connection, the next request) must
    /// arrive within this long, or the connection is closed (the Collector's
    /// read_header_timeout).
    #[arg(long, visible_alias = "read-header-timeout", default_value = "15s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// A request body must arrive within this long of its request being taken up, or it is
    /// answered HTTP 408 / gRPC DEADLINE_EXCEEDED and counted as timed out.
    #[arg(long, visible_alias = "read-timeout", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// gRPC (HTTP/2): ping every connection this often (the Collector's
    /// keepalive.server_parameters.time).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub keepalive_time: Duration,
    /// gRPC (HTTP/2): close a connection whose ping is not answered within this long (the
    /// Collector's keepalive.server_parameters.timeout).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub keepalive_timeout: Duration,
    /// Connections open at once per receiver; more are closed at accept (counted).
    #[arg(long, default_value_t = crate::ingest::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Memory budget for held spans; whole traces are evicted, oldest complete first, beyond it.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: usize,
    /// A trace with no new span for this long is complete.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trace_timeout: Duration,
    /// Write every accepted batch to FILE as OTLP JSON lines (Collector file-exporter layout),
    /// appending to an existing file. A batch is acknowledged once its line is written.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Require `Authorization: Bearer TOKEN` on both receivers (gRPC UNAUTHENTICATED, HTTP 401
    /// otherwise). Prefer the environment variable: arguments are visible in `ps`.
    #[arg(
        long,
        env = "SPANTOP_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub auth_token: Option<AuthToken>,
    /// Serve both receivers over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: require client certificates signed by this CA (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// With --record: start the file empty instead of appending.
    #[arg(long, requires = "record")]
    pub record_truncate: bool,
    /// With --record: fsync before acknowledging, so acknowledged spans survive power loss.
    #[arg(long, requires = "record")]
    pub record_fsync: bool,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub cors: CorsArgs,
}

/// For the receivers of `serve`, `live` and `demo`.
#[derive(Args, Debug, Clone)]
pub struct CorsArgs {
    /// Origins browser apps may post OTLP/HTTP from (CORS), comma-separated, as the Collector's
    /// cors.allowed_origins: exact origins, `*` for any, or one `*` for a host-name part or a
    /// port (http://localhost:*). "" allows none.
    #[arg(long, value_name = "ORIGINS", default_value = cors::DEFAULT_ALLOWED_ORIGINS)]
    pub cors_allowed_origins: CorsOrigins,
}

impl ReceiverArgs {
    pub fn server_config(&self) -> ServerConfig {
        let receivers = ReceiverConfig {
            grpc_addr: self.grpc,
            http_addr: self.http,
            body_limits: BodyLimits {
                max_message_bytes: self.max_message_size,
                max_decompressed_bytes: self.max_decompressed_size,
            },
            span_limits: SpanLimits {
                max_attribute_value_bytes: self.max_attribute_value_size,
                max_attributes: self.max_attributes,
                max_events: self.max_events,
                max_links: self.max_links,
            },
            max_connections: self.max_connections,
            deadlines: Deadlines {
                header_read: self.header_timeout,
                request_read: self.body_timeout,
                keepalive_time: self.keepalive_time,
                keepalive_timeout: self.keepalive_timeout,
            },
            auth_token: self.auth_token.clone(),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                }),
                _ => None,
            },
            record: self.record.as_ref().map(|path| RecordConfig {
                path: path.clone(),
                truncate: self.record_truncate,
                fsync: self.record_fsync,
            }),
            cors: self.cors.cors_allowed_origins.clone(),
            ..ReceiverConfig::default()
        };
        let mut c = ServerConfig {
            receivers,
            pipeline: Default::default(),
        };
        c.pipeline.store.max_memory = self.max_memory;
        c.pipeline.store.inactivity_timeout = self.trace_timeout;
        c.pipeline.store.max_spans_per_trace = self.max_spans_per_trace;
        c.pipeline.analysis = self.analysis.bounded();
        c
    }
}

/// `live --attach`: the merged view of running `serve --api` instances instead of receivers.
#[derive(Args, Debug, Clone)]
pub struct AttachArgs {
    /// Watch the merged view of running `serve --api` instances (`ADDR[,ADDR...]`) instead of
    /// receiving OTLP: no receivers are started; `--auth-token` is sent to the instances.
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
    pub attach: Vec<String>,
    /// With --attach: how often the instances' snapshots are fetched and merged.
    #[arg(long, default_value = "1s", value_parser = parse_duration, requires = "attach")]
    pub refresh: Duration,
    /// With --attach: speak TLS to the instances, trusting server certificates this CA (PEM)
    /// signed (the instances' `serve --tls-cert`).
    #[arg(long, value_name = "PEM", requires = "attach")]
    pub tls_ca: Option<PathBuf>,
    #[command(flatten)]
    pub client_cert: ClientCertArgs,
}

/// Mutual TLS from the attached side (`live`/`report --attach`).
#[derive(Args, Debug, Clone, Default)]
pub struct ClientCertArgs {
    /// With --tls-ca: present this client certificate chain (PEM) to instances that require
    /// one (`serve --tls-client-ca`); needs --tls-client-key.
    #[arg(long, value_name = "PEM", requires_all = ["tls_ca", "tls_client_key"])]
    pub tls_client_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-client-cert.
    #[arg(long, value_name = "PEM", requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
}

impl ClientCertArgs {
    pub fn client_cert(&self) -> Option<crate::api::attach::ClientCert> {
        match (&self.tls_client_cert, &self.tls_client_key) {
            (Some(cert), Some(key)) => Some(crate::api::attach::ClientCert {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command};
    use crate::api::attach::ClientCert;

    fn client_cert(args: &[&str]) -> Result<Option<ClientCert>, clap::Error> {
        let cli = Cli::try_parse_from(args)?;
        Ok(match cli.command {
            Command::Live(l) => l.attach.client_cert.client_cert(),
            Command::Report(r) => r.client_cert.client_cert(),
            _ => None,
        })
    }

    /// `--tls-client-cert`/`--tls-client-key` on both attached commands: taken together,
    /// refused alone or without `--tls-ca`.
    #[test]
    fn client_certificate_flags_go_together_with_the_ca() {
        let want = Some(ClientCert {
            cert: "c.pem".into(),
            key: "c.key".into(),
        });
        for cmd in ["live", "report"] {
            let base = ["spantop", cmd, "--attach", "h:1", "--tls-ca", "ca.pem"];
            let full = [
                &base[..],
                &["--tls-client-cert", "c.pem", "--tls-client-key", "c.key"],
            ]
            .concat();
            assert_eq!(client_cert(&full).expect(cmd), want, "{cmd}");
            assert_eq!(client_cert(&base).expect(cmd), None, "{cmd}");
            let no_key = [&base[..], &["--tls-client-cert", "c.pem"]].concat();
            assert!(
                client_cert(&no_key).is_err(),
                "{cmd}: a cert without its key"
            );
            let no_cert = [&base[..], &["--tls-client-key", "c.key"]].concat();
            assert!(
                client_cert(&no_cert).is_err(),
                "{cmd}: a key without its cert"
            );
            let no_ca = [
                "spantop",
                cmd,
                "--attach",
                "h:1",
                "--tls-client-cert",
                "c.pem",
                "--tls-client-key",
                "c.key",
            ];
            assert!(
                client_cert(&no_ca).is_err(),
                "{cmd}: a client cert without --tls-ca"
            );
        }
    }
}
