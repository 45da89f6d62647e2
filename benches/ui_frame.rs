//! Frame render time of the TUI with a big store: 100,000 traces (about 2.4 million spans) from
//! the demo shop, analysed by the engine, then every tab drawn at 120x40 on `TestBackend`.
//! Also times the once-a-second derivation of `ViewData`, which runs off the render path.
//!
//! ```sh
//! cargo bench --bench ui_frame                 # 100,000 traces
//! TRACES=20000 cargo bench --bench ui_frame
//! ```

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use spantop::analysis::engine::Engine;
use spantop::demo::{Shop, ShopConfig};
use spantop::model::Batch;
use spantop::store::{SpanStore, StoreConfig};
use spantop::ui::{App, Header, Source, Tab, ViewData};

const FRAMES: u32 = 20;

fn main() {
    let traces: u64 = std::env::var("TRACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let started = Instant::now();
    let mut shop = Shop::new(ShopConfig::default());
    let mut store = SpanStore::new(StoreConfig {
        max_memory: usize::MAX,
        ..StoreConfig::default()
    });
    let t0 = 1_767_225_600_000_000_000u64;
    let mut spans = Vec::new();
    let mut i = 0;
    while shop.traces() < traces {
        spans.clear();
        for _ in 0..1000 {
            // 200 requests per simulated second.
            shop.request(t0 + i * 5_000_000, &mut spans);
            i += 1;
        }
        store.ingest(Batch::new(std::mem::take(&mut spans)), Instant::now());
    }
    store.complete_all();
    let snapshot = store.snapshot();
    println!(
        "generated {} traces, {} spans in {:.1?}",
        snapshot.traces.len(),
        snapshot.stats.spans_held,
        started.elapsed()
    );

    let started = Instant::now();
    let mut engine = Engine::default();
    for t in snapshot.traces.iter() {
        engine.add_trace(t);
    }
    println!("analysed every trace in {:.1?}", started.elapsed());

    let started = Instant::now();
    let data = ViewData::build(snapshot.clone(), &engine);
    println!(
        "ViewData::build (once a second, off the render path): {:.1?}",
        started.elapsed()
    );
    let started = Instant::now();
    for t in snapshot.traces.iter() {
        engine.add_trace(t); // already analysed: what the deriver pays per snapshot
    }
    println!(
        "re-offering every held trace to the engine: {:.1?}",
        started.elapsed()
    );

    let header = Header {
        spans_per_sec: 0.0,
        store: snapshot.stats,
        ingest: Default::default(),
        replay_progress: None,
        replay_problems: None,
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    let mut app = App::new(Source::Live);
    for (k, tab) in Tab::ALL.iter().enumerate() {
        app.handle_key(
            KeyEvent::new(
                KeyCode::Char(char::from(b'1' + k as u8)),
                KeyModifiers::NONE,
            ),
            &data,
        );
        if *tab == Tab::Trace {
            // Open the longest trace, as a user hunting the slowest request would.
            app.handle_key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE), &data);
            for c in ['s', 's', 'S'] {
                app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE), &data);
            }
            app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &data);
        }
        let mut total = Duration::ZERO;
        let mut worst = Duration::ZERO;
        for _ in 0..FRAMES {
            let s = Instant::now();
            terminal
                .draw(|f| app.render(f, &data, &header))
                .expect("draw");
            let d = s.elapsed();
            total += d;
            worst = worst.max(d);
        }
        println!(
            "frame {:<12} mean {:>8.2?}  max {:>8.2?}",
            tab.title(),
            total / FRAMES,
            worst
        );
    }
}
