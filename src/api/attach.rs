//! The attached side: one client per instance, a refresh that asks each for its snapshot and
//! merges what answered, and trace fetch from the instance that holds the trace. An instance
//! that does not answer is marked down (its figures leave the merged view, the status says
//! so) and comes back on the first refresh it answers again: the channels reconnect by
//! themselves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use rustc_hash::FxHashMap;

use crate::analysis::findings::Findings;
use crate::analysis::findings::view::TraceRow;
use crate::ingest::access::AuthToken;
use crate::model::{Batch, TraceId};

use super::merge::{InstanceSnapshot, merged_findings};
use super::pb;
use super::pb::spantop_client::SpantopClient;

/// How long one instance may take to answer a refresh before it counts as down.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not asked yet.
    Unknown,
    Up,
    /// Why the last refresh got nothing from it.
    Down(String),
}

struct Instance {
    addr: String,
    client: SpantopClient<Channel>,
    health: Health,
    last: Option<InstanceSnapshot>,
}

/// Where each instance stands after a refresh.
#[derive(Debug, Clone)]
pub struct InstanceStatus {
    pub addr: String,
    pub health: Health,
    /// Its counters as of its last answer (default before the first).
    pub counters: pb::Counters,
}

impl InstanceStatus {
    /// Traces it has analysed (as of its last answer).
    pub fn traces(&self) -> u64 {
        self.counters.traces
    }
}

/// The merged view one refresh built.
#[derive(Debug, Clone)]
pub struct Merged {
    pub findings: Arc<Findings>,
    pub instances: Vec<InstanceStatus>,
    /// The traces the instances that answered list (`convert::LISTED_TRACES` most recent and
    /// slowest each), for the Traces tab.
    pub traces: Vec<TraceRow>,
    /// What the refresh took: asking every instance, decoding and merging.
    pub took: Duration,
}

impl Merged {
    pub fn up(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| i.health == Health::Up)
            .count()
    }
}

pub struct Attached {
    instances: Vec<Instance>,
    /// Which instance listed each trace in the last refresh.
    holders: FxHashMap<TraceId, usize>,
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
    timeout: Duration,
}

/// How the attached side reaches the instances.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Sent as `Authorization: Bearer ...` (the instances' `--auth-token`).
    pub token: Option<AuthToken>,
    /// How long one instance may take to answer before it counts as down.
    pub timeout: Duration,
    /// Speak TLS, trusting the server certificates this CA (PEM) signed; without it a bare
    /// `host:port` is plain HTTP/2.
    pub tls_ca: Option<PathBuf>,
    /// With `tls_ca`: the certificate this client presents, for instances that require client
    /// certificates (`serve --tls-client-ca`).
    pub tls_client: Option<ClientCert>,
}

/// A client certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            token: None,
            timeout: DEFAULT_TIMEOUT,
            tls_ca: None,
            tls_client: None,
        }
    }
}

/// `host:port` or a URL; a bare address is `https://` with `tls`, else `http://`. The server
/// certificate must name the host (a DNS name or an IP address) as given.
fn endpoint(
    addr: &str,
    timeout: Duration,
    tls: Option<&ClientTlsConfig>,
) -> anyhow::Result<Endpoint> {
    let url = if addr.contains("://") {
        addr.to_owned()
    } else if tls.is_some() {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    };
    let mut e = Endpoint::from_shared(url)
        .with_context(|| format!("bad instance address {addr:?}"))?
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(tls) = tls {
        e = e
            .tls_config(tls.clone())
            .with_context(|| format!("TLS set-up for {addr}"))?;
    }
    Ok(e)
}

/// A PEM file, checked for the block `what` names (`CERTIFICATE`, `PRIVATE KEY`) so a wrong
/// file is named here rather than as a failed handshake later.
fn read_pem(path: &Path, flag: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))?;
    let text = String::from_utf8_lossy(&pem);
    anyhow::ensure!(
        text.lines()
            .any(|l| l.starts_with("-----BEGIN ") && l.contains(what)),
        "no PEM {} in {flag} {}",
        what.to_lowercase(),
        path.display()
    );
    Ok(pem)
}

fn tls_config(ca: &Path, client: Option<&ClientCert>) -> anyhow::Result<ClientTlsConfig> {
    let pem = read_pem(ca, "--tls-ca", "CERTIFICATE")?;
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
    if let Some(c) = client {
        let cert = read_pem(&c.cert, "--tls-client-cert", "CERTIFICATE")?;
        let key = read_pem(&c.key, "--tls-client-key", "PRIVATE KEY")?;
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Ok(tls)
}

impl Attached {
    /// Clients for `addrs` (`host:port`, comma lists split by the caller); connects lazily.
    pub fn new(
        addrs: &[String],
        token: Option<&AuthToken>,
        timeout: Duration,
    ) -> anyhow::Result<Attached> {
        Attached::connect(
            addrs,
            &ClientOptions {
                token: token.cloned(),
                timeout,
                ..ClientOptions::default()
            },
        )
    }

    /// As `new`, with every client option (TLS, a client certificate).
    pub fn connect(addrs: &[String], options: &ClientOptions) -> anyhow::Result<Attached> {
        if addrs.is_empty() {
            bail!("--attach needs at least one instance address");
        }
        let timeout = options.timeout;
        let tls = match (&options.tls_ca, &options.tls_client) {
            (Some(ca), client) => Some(tls_config(ca, client.as_ref())?),
            (None, Some(_)) => bail!("a client certificate needs --tls-ca (TLS to the instances)"),
            (None, None) => None,
        };
        let instances = addrs
            .iter()
            .map(|a| {
                Ok(Instance {
                    addr: a.clone(),
                    client: SpantopClient::new(endpoint(a, timeout, tls.as_ref())?.connect_lazy())
                        .max_decoding_message_size(256 * 1024 * 1024),
                    health: Health::Unknown,
                    last: None,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let token = options
            .token
            .as_ref()
            .map(|t| MetadataValue::try_from(t.bearer()))
            .transpose()
            .context("the auth token cannot be sent as a header")?;
        Ok(Attached {
            instances,
            holders: FxHashMap::default(),
            token,
            timeout,
        })
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.timeout);
        if let Some(t) = &self.token {
            req.metadata_mut().insert("authorization", t.clone());
        }
        req
    }

    /// Asks every instance at once and merges the ones that answered.
    pub async fn refresh(&mut self) -> Merged {
        let started = Instant::now();
        let asks = self.instances.iter().map(|i| {
            let mut client = i.client.clone();
            let req = self.request(pb::SnapshotRequest {});
            async move {
                let s = client.snapshot(req).await.map_err(|e| status_text(&e))?;
                InstanceSnapshot::decode(s.into_inner()).map_err(|e| format!("{e:#}"))
            }
        });
        let answers = futures_join_all(asks).await;
        for (inst, answer) in self.instances.iter_mut().zip(answers) {
            match answer {
                Ok(s) => {
                    inst.health = Health::Up;
                    inst.last = Some(s);
                }
                Err(why) => inst.health = Health::Down(why),
            }
        }
        let up: Vec<&InstanceSnapshot> = self
            .instances
            .iter()
            .filter(|i| i.health == Health::Up)
            .filter_map(|i| i.last.as_ref())
            .collect();
        let findings = Arc::new(merged_findings(&up));
        // Traces are routed whole, so each is listed by one instance only.
        let traces = up.iter().flat_map(|s| s.traces.iter().cloned()).collect();
        self.holders = self
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.health == Health::Up)
            .flat_map(|(k, i)| {
                i.last
                    .iter()
                    .flat_map(move |s| s.traces.iter().map(move |t| (t.trace_id, k)))
            })
            .collect();
        Merged {
            findings,
            traces,
            instances: self
                .instances
                .iter()
                .map(|i| InstanceStatus {
                    addr: i.addr.clone(),
                    health: i.health.clone(),
                    counters: i.last.as_ref().map(|s| s.counters).unwrap_or_default(),
                })
                .collect(),
            took: started.elapsed(),
        }
    }

    /// The trace's spans from whichever instance holds it (traces are routed whole to one);
    /// `None` when no instance that answers holds it.
    pub async fn fetch_trace(&self, id: TraceId) -> anyhow::Result<Option<(String, Batch)>> {
        // The instance that listed it first, then the others (it may list it no more).
        let first = self.holders.get(&id).copied();
        let order = first
            .into_iter()
            .chain((0..self.instances.len()).filter(|&k| Some(k) != first));
        for inst in order.filter_map(|k| self.instances.get(k)) {
            let mut client = inst.client.clone();
            let req = self.request(pb::GetTraceRequest {
                trace_id: id.to_bytes().to_vec(),
            });
            match client.get_trace(req).await {
                Ok(r) => {
                    let converted =
                        crate::ingest::otlp::proto::decode_request(&r.into_inner().traces_data)
                            .map_err(|e| anyhow::anyhow!("{e}"))
                            .with_context(|| format!("trace {id} from {}", inst.addr))?;
                    return Ok(Some((inst.addr.clone(), converted.batch)));
                }
                Err(s) if s.code() == tonic::Code::NotFound => continue,
                // One instance down must not hide a trace another holds.
                Err(_) => continue,
            }
        }
        Ok(None)
    }
}

fn status_text(s: &tonic::Status) -> String {
    match s.code() {
        tonic::Code::Unavailable => "unreachable".to_owned(),
        tonic::Code::DeadlineExceeded => "no answer in time".to_owned(),
        tonic::Code::Unauthenticated => "refused the token".to_owned(),
        _ => format!("{}: {}", s.code(), s.message()),
    }
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}
