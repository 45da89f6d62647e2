//! Frame render time of the TUI with a big store: 100,000 traces (about 2.4 million spans) from
//! the demo shop and one trace of 100,000 spans, analysed by the engine, then every tab (and the
//! Trace view's find, span pane and statistics, the Map's table, the huge trace's waterfall)
//! drawn 200 times at 120x40 on `TestBackend`: p50, p99, max.
//! Also times the once-a-second derivation of `ViewData`, which runs off the render path.
//!
//! ```sh
//! cargo bench --bench ui_frame                 # 100,000 traces
//! TRACES=20000 HUGE=10000 cargo bench --bench ui_frame
//! ```

mod common;

// The same allocator as the binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use common::ui::{Load, header, percentiles, timed, traces_from_env};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use spantop::model::{SpanRef, TraceId};
use spantop::ui::{App, Header, Playback, Tab, ViewData};

/// Spans of the one huge trace held beside the shop's (`HUGE` from the environment).
fn huge_spans() -> usize {
    std::env::var("HUGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Frames drawn per screen; p99 is the 198th fastest of 200.
const FRAMES: usize = 200;

/// Draws the screen `FRAMES` times; prints p50, p99 and the slowest, of the wall time and of
/// the same without CPU waits (`common::ui::timed`).
fn frames(
    name: &str,
    terminal: &mut Terminal<TestBackend>,
    app: &mut App,
    data: &ViewData,
    header: &Header,
) {
    let d: Vec<(Duration, Duration)> = (0..FRAMES)
        .map(|_| {
            timed(|| {
                terminal
                    .draw(|f| app.render(f, data, header))
                    .expect("draw");
            })
        })
        .collect();
    println!("frame {name:<22} {}", percentiles(&d));
}

/// The root of the longest trace other than `huge`.
fn longest_shop_trace(data: &ViewData, huge: TraceId) -> SpanRef {
    data.traces
        .iter()
        .filter(|r| r.trace_id != huge)
        .max_by_key(|r| r.duration_ns())
        .and_then(|r| {
            let t = data.trace(r.trace_id)?;
            let root = t.roots().next()?;
            Some(SpanRef::new(r.trace_id, root.span_id))
        })
        .expect("a shop trace is held")
}

fn press(app: &mut App, data: &ViewData, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), data);
}

fn main() {
    let traces = traces_from_env();
    let started = Instant::now();
    let mut load = Load::new();
    load.grow(traces);
    let huge = load.huge_trace(huge_spans());
    let snapshot = load.snapshot();
    println!(
        "generated {} traces (one of {} spans), {} spans in {:.1?}",
        snapshot.traces.len(),
        huge_spans(),
        snapshot.stats.spans_held,
        started.elapsed()
    );

    let started = Instant::now();
    load.analyse(&snapshot);
    println!("analysed every trace in {:.1?}", started.elapsed());

    let started = Instant::now();
    let data = ViewData::build(snapshot.clone(), &load.engine);
    println!(
        "ViewData::build (once a second, off the render path): {:.1?}",
        started.elapsed()
    );
    let started = Instant::now();
    load.analyse(&snapshot); // already analysed: what the deriver pays per snapshot
    println!(
        "re-offering every held trace to the engine: {:.1?}",
        started.elapsed()
    );

    let header = header(&data);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    let mut app = App::new(Playback::Live);
    for (k, tab) in Tab::ALL.iter().enumerate() {
        app.handle_key(
            KeyEvent::new(
                KeyCode::Char(char::from(b'1' + k as u8)),
                KeyModifiers::NONE,
            ),
            &data,
        );
        if *tab == Tab::Trace {
            // The longest shop trace, as a user hunting the slowest request would open: by id,
            // since sorting the table would pick the huge trace (timed apart below).
            app.open_trace(longest_shop_trace(&data, huge));
        }
        frames(tab.title(), &mut terminal, &mut app, &data, &header);
        if *tab == Tab::Trace {
            // The Trace view's other screens: a find, the span pane, the statistics.
            press(&mut app, &data, KeyCode::Char('/'));
            for c in "db.system".chars() {
                press(&mut app, &data, KeyCode::Char(c));
            }
            press(&mut app, &data, KeyCode::Enter);
            frames("Trace, find", &mut terminal, &mut app, &data, &header);
            press(&mut app, &data, KeyCode::Tab);
            press(&mut app, &data, KeyCode::Char('z'));
            frames(
                "Trace, span pane full",
                &mut terminal,
                &mut app,
                &data,
                &header,
            );
            press(&mut app, &data, KeyCode::Char('z'));
            press(&mut app, &data, KeyCode::Char('s'));
            frames("Trace, statistics", &mut terminal, &mut app, &data, &header);
            press(&mut app, &data, KeyCode::Char('s'));
        }
        if *tab == Tab::Map {
            press(&mut app, &data, KeyCode::Char('v'));
            frames("Map, table", &mut terminal, &mut app, &data, &header);
        }
    }
    // The huge trace's waterfall, where frame time grows with the trace: opened at its root,
    // then a find over its spans.
    let root = data
        .trace(huge)
        .and_then(|t| t.roots().next().map(|s| s.span_id))
        .expect("the huge trace is held");
    app.open_trace(SpanRef::new(huge, root));
    frames("Trace, huge", &mut terminal, &mut app, &data, &header);
    press(&mut app, &data, KeyCode::Char('/'));
    for c in "db.system".chars() {
        press(&mut app, &data, KeyCode::Char(c));
    }
    press(&mut app, &data, KeyCode::Enter);
    frames("Trace, huge, find", &mut terminal, &mut app, &data, &header);
}
