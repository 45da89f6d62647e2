//! The TUI benches' data: the demo shop's traces in a store without a memory limit, analysed
//! by the engine and published as `ViewData`, as the pipeline would; optionally one huge trace
//! of `demo::shapes` among them.

use std::time::{Duration, Instant};

use spantop::analysis::engine::Engine;
use spantop::demo::shapes::{self, Shape};
use spantop::demo::{Shop, ShopConfig};
use spantop::model::{Batch, TraceId};
use spantop::store::{SpanStore, StoreConfig, StoreSnapshot};
use spantop::ui::{Header, ViewData};

/// Traces to hold: `TRACES` from the environment, else 100,000 (about 2.4 million spans).
pub fn traces_from_env() -> u64 {
    std::env::var("TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

pub struct Load {
    pub store: SpanStore,
    pub engine: Engine,
    shop: Shop,
    requests: u64,
}

impl Load {
    pub fn new() -> Self {
        Load {
            store: SpanStore::new(StoreConfig {
                max_memory: usize::MAX,
                ..StoreConfig::default()
            }),
            engine: Engine::default(),
            shop: Shop::new(ShopConfig::default()),
            requests: 0,
        }
    }

    /// Shop requests until `traces` are held, 200 a simulated second, 1,000 a batch.
    pub fn grow(&mut self, traces: u64) {
        let t0 = 1_767_225_600_000_000_000u64;
        let mut spans = Vec::new();
        while self.shop.traces() < traces {
            for _ in 0..1000 {
                self.shop
                    .request(t0 + self.requests * 5_000_000, &mut spans);
                self.requests += 1;
            }
            self.store
                .ingest(Batch::new(std::mem::take(&mut spans)), Instant::now());
        }
    }

    /// One `Mixed` trace of `spans` spans (a batch job's); its id.
    pub fn huge_trace(&mut self, spans: usize) -> TraceId {
        let s = shapes::trace(Shape::Mixed, spans, 1);
        let id = s[0].trace_id;
        for chunk in s.chunks(1000) {
            self.store
                .ingest(Batch::new(chunk.to_vec()), Instant::now());
        }
        id
    }

    /// Every trace complete, as 10 s of quiet would make them.
    pub fn snapshot(&mut self) -> StoreSnapshot {
        self.store.complete_all();
        self.store.snapshot()
    }

    /// What the deriver does per snapshot: offers every held trace to the engine.
    pub fn analyse(&mut self, snapshot: &StoreSnapshot) {
        for t in snapshot.traces.iter() {
            self.engine.add_trace(t);
        }
    }

    /// The view the pipeline would publish now.
    pub fn view(&mut self) -> ViewData {
        let snapshot = self.snapshot();
        self.analyse(&snapshot);
        ViewData::build(snapshot, &self.engine)
    }
}

/// The header a quiet live source shows over `data`.
pub fn header(data: &ViewData) -> Header {
    Header {
        spans_per_sec: 0.0,
        store: data.snapshot.stats,
        ingest: Default::default(),
        replay_progress: None,
        replay_problems: None,
    }
}

/// This thread's time spent waiting for a CPU so far (the kernel's run delay, ns, from
/// `/proc/thread-self/schedstat`; 0 where it is not available). It grows when the thread is
/// switched back in, so a sample's wall time minus its growth is the sample's time had no
/// other job shared the cores: on the 2-core VM at load 4-5, p99 was mostly these waits.
pub fn run_delay_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// `f`'s wall time, and the same without the waits for a CPU (`run_delay_ns`).
pub fn timed(f: impl FnOnce()) -> (Duration, Duration) {
    let waited = run_delay_ns();
    let started = Instant::now();
    f();
    let wall = started.elapsed();
    let waits = Duration::from_nanos(run_delay_ns().saturating_sub(waited));
    (wall, wall.saturating_sub(waits))
}

/// p50 / p99 / max of wall times and of the same without CPU waits, as one line.
pub fn percentiles(samples: &[(Duration, Duration)]) -> String {
    let mut wall: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    let mut own: Vec<Duration> = samples.iter().map(|s| s.1).collect();
    wall.sort();
    own.sort();
    let at = |d: &[Duration], p: f64| {
        let i = ((d.len() as f64 * p).ceil() as usize).clamp(1, d.len()) - 1;
        d[i]
    };
    match (wall.last(), own.last()) {
        (Some(wmax), Some(omax)) => format!(
            "p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?} | without CPU waits p99 {:>8.2?}  max {:>8.2?}",
            at(&wall, 0.5),
            at(&wall, 0.99),
            wmax,
            at(&own, 0.99),
            omax
        ),
        _ => String::new(),
    }
}
