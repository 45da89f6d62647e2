//! Sends the simulated traffic as real OTLP: protobuf over gRPC (tonic client) or over HTTP
//! (`POST /v1/traces`).
//!
//! Generation runs on blocking threads (it is pure CPU) and hands finished requests over a
//! bounded channel to a dispatcher that keeps several requests in flight; the channel bound is
//! the backpressure that keeps a slow receiver from piling up requests in memory.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::sync::{Semaphore, mpsc};

use super::shop::{Shop, ShopConfig};
use crate::export::exporter::{Exporter, Payload, Protocol};

/// User requests (traces) per second, or as fast as the endpoint accepts them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    Max,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        match s.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => Ok(Rate::PerSecond(v)),
            _ => Err(format!(
                "expected requests per second (a positive number) or 'max', got {s:?}"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimulateConfig {
    /// `http://host:port`; for HTTP a URL without a path gets `/v1/traces`.
    pub endpoint: String,
    pub protocol: Protocol,
    pub rate: Rate,
    /// Stop after this long; `None` runs until the shutdown future resolves.
    pub duration: Option<Duration>,
    /// Stop after this many user requests (tests use it for an exact count).
    pub max_requests: Option<u64>,
    pub seed: u64,
    pub shop: ShopConfig,
    /// Requests kept in flight at once.
    pub concurrency: usize,
}

impl SimulateConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        SimulateConfig {
            endpoint: endpoint.into(),
            protocol: Protocol::Grpc,
            rate: Rate::PerSecond(20.0),
            duration: None,
            max_requests: None,
            seed: 42,
            shop: ShopConfig::default(),
            concurrency: 8,
        }
    }
}

/// What was sent. Spans in failed requests are counted apart, never as sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimulateStats {
    pub requests: u64,
    pub traces: u64,
    pub spans: u64,
    pub failed_requests: u64,
    pub failed_spans: u64,
    pub elapsed: Duration,
}

impl SimulateStats {
    pub fn spans_per_sec(&self) -> f64 {
        self.spans as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    traces: AtomicU64,
    spans: AtomicU64,
    failed_requests: AtomicU64,
    failed_spans: AtomicU64,
}

/// How many user requests go into one OTLP request: enough to amortise per-request costs when
/// flooding, and a tick's worth when paced so that traffic looks continuous.
const MAX_TRACES_PER_REQUEST: usize = 200;
/// A paced generator wakes this often.
const TICK: Duration = Duration::from_millis(50);
/// Requests generated ahead of the senders; bounds memory when the endpoint is slow.
const QUEUE_DEPTH: usize = 16;

/// Sends simulated traffic until the duration, request count or `shutdown` says stop.
pub async fn simulate(
    config: SimulateConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<SimulateStats> {
    let client = Exporter::connect(&config.endpoint, config.protocol).await?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::channel::<Payload>(QUEUE_DEPTH);
    // Flooding uses a generator per core; paced traffic one, so a seed gives one exact stream.
    let generators = match config.rate {
        Rate::Max => std::thread::available_parallelism().map_or(2, |n| n.get()),
        Rate::PerSecond(_) => 1,
    };
    let started = Instant::now();
    let mut gen_handles = Vec::new();
    for g in 0..generators {
        let tx = tx.clone();
        let stop = Arc::clone(&stop);
        let counters = Arc::clone(&counters);
        let config = config.clone();
        gen_handles.push(tokio::task::spawn_blocking(move || {
            generate(&config, g as u64, generators as u64, &tx, &stop, &counters)
        }));
    }
    drop(tx);

    let sem = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let dispatcher_counters = Arc::clone(&counters);
    let dispatcher = tokio::spawn(async move {
        let mut first_error: Option<String> = None;
        let mut tasks = tokio::task::JoinSet::new();
        while let Some(p) = rx.recv().await {
            let Ok(permit) = Arc::clone(&sem).acquire_owned().await else {
                break;
            };
            let mut client = client.clone();
            let counters = Arc::clone(&dispatcher_counters);
            tasks.spawn(async move {
                let spans = p.spans;
                let result = client.send(p).await;
                drop(permit);
                match result {
                    Ok(()) => {
                        counters.requests.fetch_add(1, Ordering::Relaxed);
                        counters.spans.fetch_add(spans, Ordering::Relaxed);
                        None
                    }
                    Err(e) => {
                        counters.failed_requests.fetch_add(1, Ordering::Relaxed);
                        counters.failed_spans.fetch_add(spans, Ordering::Relaxed);
                        Some(format!("{e:#}"))
                    }
                }
            });
            while let Some(done) = tasks.try_join_next() {
                if let Ok(Some(e)) = done {
                    first_error.get_or_insert(e);
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(Some(e)) = done {
                first_error.get_or_insert(e);
            }
        }
        first_error
    });

    let deadline = async {
        match config.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let mut gens = futures_join(gen_handles);
    let generators_done = tokio::select! {
        _ = shutdown => false,
        _ = deadline => false,
        _ = &mut gens => true,
    };
    stop.store(true, Ordering::Relaxed);
    if !generators_done {
        gens.await;
    }
    let first_error = dispatcher.await.context("the sending task panicked")?;
    if let Some(e) = first_error {
        tracing::warn!("some OTLP requests failed; the first: {e}");
    }
    Ok(SimulateStats {
        requests: counters.requests.load(Ordering::Relaxed),
        traces: counters.traces.load(Ordering::Relaxed),
        spans: counters.spans.load(Ordering::Relaxed),
        failed_requests: counters.failed_requests.load(Ordering::Relaxed),
        failed_spans: counters.failed_spans.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}

/// Waits for every generator thread; a panicked one has already stopped sending, so its
/// result is dropped after the others finish.
fn futures_join(
    handles: Vec<tokio::task::JoinHandle<()>>,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        for h in handles {
            let _ = h.await;
        }
    })
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One generator thread: builds traces stamped with the current time and queues requests.
/// Generator `g` of `n` takes its share of the rate and of `max_requests`.
fn generate(
    config: &SimulateConfig,
    g: u64,
    n: u64,
    tx: &mpsc::Sender<Payload>,
    stop: &AtomicBool,
    counters: &Counters,
) {
    let mut shop = Shop::new(ShopConfig {
        seed: config.seed.wrapping_add(g.wrapping_mul(0x9E37_79B9)),
        ..config.shop.clone()
    });
    let budget = config.max_requests.map(|m| m / n + u64::from(g < m % n));
    let mut made = 0u64;
    let mut spans = Vec::new();
    let mut carry = 0.0;
    let mut next_tick = Instant::now();
    let mut last_t0 = 0u64;
    while !stop.load(Ordering::Relaxed) && budget.is_none_or(|b| made < b) {
        let count = match config.rate {
            Rate::Max => MAX_TRACES_PER_REQUEST,
            Rate::PerSecond(r) => {
                let now = Instant::now();
                if now < next_tick {
                    std::thread::sleep(next_tick - now);
                }
                next_tick += TICK;
                carry += r / n as f64 * TICK.as_secs_f64();
                let c = carry.floor();
                carry -= c;
                (c as usize).min(MAX_TRACES_PER_REQUEST * 4)
            }
        };
        let count = budget.map_or(count, |b| count.min((b - made) as usize));
        if count == 0 {
            continue;
        }
        spans.clear();
        // Requests start spread over the time since the previous batch, so simulated load
        // matches the real send rate (and function instances get reused as in production).
        let t0 = now_ns();
        let window = t0.saturating_sub(last_t0).clamp(1_000_000, 1_000_000_000);
        let window = if last_t0 == 0 {
            TICK.as_nanos() as u64
        } else {
            window
        };
        last_t0 = t0;
        let spacing = window / count as u64;
        let t0 = t0.saturating_sub(window);
        let traces_before = shop.traces();
        for i in 0..count as u64 {
            shop.request(t0 + i * spacing, &mut spans);
        }
        made += count as u64;
        counters
            .traces
            .fetch_add(shop.traces() - traces_before, Ordering::Relaxed);
        let payload = Payload::encode(&spans, config.protocol);
        if tx.blocking_send(payload).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_parses_numbers_and_max() {
        assert_eq!("max".parse::<Rate>(), Ok(Rate::Max));
        assert_eq!("12.5".parse::<Rate>(), Ok(Rate::PerSecond(12.5)));
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
    }
}
