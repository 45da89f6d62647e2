//! Key to drawn frame in the TUI with a big store: 100,000 traces from the demo shop, the
//! real `App` driven by the same `handle_key` as production and drawn at 120x40 on
//! `TestBackend`. Each sample is one key and the frame after it; the figures are p50 / p99 /
//! max per kind of key: moving, sorting, switching tabs, typing a filter (it applies as
//! typed; also a word nothing matches, and a `key=value`), the first key after a new view
//! arrived (the row order is rebuilt and the selection re-found), the Trace view's keys (find
//! as typed, n/N, the span pane, zoom, the service filter, statistics) and the Map's
//! graph/table toggle; last the Trace view's keys on one trace of 100,000 spans (`HUGE`).
//!
//! ```sh
//! cargo bench --bench ui_keys                  # 100,000 traces
//! TRACES=20000 HUGE=10000 cargo bench --bench ui_keys
//! SAMPLES=1 cargo bench --bench ui_keys        # also every key's own time, in order
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
use spantop::ui::{App, Header, Playback, ViewData};

/// Spans of the one huge trace held beside the shop's (`HUGE` from the environment).
fn huge_spans() -> usize {
    std::env::var("HUGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

struct Bench {
    app: App,
    terminal: Terminal<TestBackend>,
    header: Header,
    /// Each key's kind, wall time and the same without CPU waits (`common::ui::timed`).
    samples: Vec<(&'static str, (Duration, Duration))>,
}

impl Bench {
    /// One key and the frame it leads to.
    fn key(&mut self, kind: &'static str, data: &ViewData, code: KeyCode, mods: KeyModifiers) {
        let Bench {
            app,
            terminal,
            header,
            samples,
        } = self;
        let sample = timed(|| {
            app.handle_key(KeyEvent::new(code, mods), data);
            terminal
                .draw(|f| app.render(f, data, header))
                .expect("draw");
        });
        samples.push((kind, sample));
    }

    fn press(&mut self, kind: &'static str, data: &ViewData, c: char) {
        self.key(kind, data, KeyCode::Char(c), KeyModifiers::NONE);
    }

    /// `c` pressed `n` times, each key and its frame one sample.
    fn press_n(&mut self, kind: &'static str, data: &ViewData, c: char, n: usize) {
        for _ in 0..n {
            self.press(kind, data, c);
        }
    }

    /// Each character of `text` typed, each one sample.
    fn type_str(&mut self, kind: &'static str, data: &ViewData, text: &str) {
        for c in text.chars() {
            self.press(kind, data, c);
        }
    }

    /// The Trace view's keys on the newest trace, and the Map's graph/table toggle.
    fn trace_view(&mut self, data: &ViewData) {
        let none = KeyModifiers::NONE;
        self.press("tab switch", data, '2');
        self.key("open a trace (Enter)", data, KeyCode::Enter, none);
        self.press("trace: / find as typed", data, '/');
        self.type_str("trace: / find as typed", data, "db.system");
        self.key("trace: / find as typed", data, KeyCode::Enter, none);
        self.press_n("trace: n / N", data, 'n', 10);
        self.press_n("trace: n / N", data, 'N', 5);
        self.press_n("trace: j/k, g", data, 'j', 10);
        self.press("trace: j/k, g", data, 'g');
        self.key("trace: Tab, pane j, z", data, KeyCode::Tab, none);
        self.press_n("trace: Tab, pane j, z", data, 'j', 10);
        self.press("trace: Tab, pane j, z", data, 'z');
        self.press("trace: Tab, pane j, z", data, 'z');
        self.key("trace: Tab, pane j, z", data, KeyCode::Tab, none);
        for c in ['+', '+', '-', '-', ']', '['] {
            self.press("trace: + - [ ] zoom, pan", data, c);
        }
        self.press("trace: v only service", data, 'v');
        self.press("trace: v only service", data, 'n');
        self.press("trace: v only service", data, 'v');
        self.press("trace: s stats, g group", data, 's');
        self.press("trace: s stats, g group", data, 'g');
        self.press("trace: s stats, g group", data, 'g');
        self.press("trace: s stats, g group", data, 's');
        self.key("trace: Esc", data, KeyCode::Esc, none);
        self.key("trace: Esc", data, KeyCode::Esc, none);
        self.press("tab switch", data, '7');
        self.press("map: v graph / table", data, 'v');
        self.press("map: v graph / table", data, 'v');
        self.press("tab switch", data, '2');
    }

    /// The Trace view's keys on the one huge trace: opened at its root (as Enter on its row
    /// would), find as typed, n/N, j/k, the span pane.
    fn huge_trace(&mut self, data: &ViewData, id: TraceId) {
        let none = KeyModifiers::NONE;
        let Some(root) = data
            .trace(id)
            .and_then(|t| t.roots().next().map(|s| s.span_id))
        else {
            return;
        };
        let Bench {
            app,
            terminal,
            header,
            samples,
        } = self;
        let sample = timed(|| {
            app.open_trace(SpanRef::new(id, root));
            terminal
                .draw(|f| app.render(f, data, header))
                .expect("draw");
        });
        samples.push(("huge trace: open", sample));
        self.press("huge trace: / find as typed", data, '/');
        self.type_str("huge trace: / find as typed", data, "db.system");
        self.key("huge trace: / find as typed", data, KeyCode::Enter, none);
        self.press_n("huge trace: n / N", data, 'n', 5);
        self.press_n("huge trace: n / N", data, 'N', 5);
        self.press_n("huge trace: j/k", data, 'j', 10);
        self.press_n("huge trace: j/k", data, 'k', 5);
        self.key("huge trace: Tab, pane j", data, KeyCode::Tab, none);
        self.press_n("huge trace: Tab, pane j", data, 'j', 5);
        self.key("huge trace: Tab, pane j", data, KeyCode::Tab, none);
        self.key("huge trace: Esc", data, KeyCode::Esc, none);
    }

    fn report(&self) {
        if std::env::var_os("SAMPLES").is_some() {
            for (i, (kind, (wall, own))) in self.samples.iter().enumerate() {
                println!("sample {i:>4} {kind:<28} {wall:>9.2?} (without CPU waits {own:>9.2?})");
            }
        }
        let kinds: std::collections::BTreeSet<&str> =
            self.samples.iter().map(|(k, _)| *k).collect();
        for kind in kinds {
            let d: Vec<(Duration, Duration)> = self
                .samples
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, d)| *d)
                .collect();
            print_row(kind, &d);
        }
        let all: Vec<(Duration, Duration)> = self.samples.iter().map(|(_, d)| *d).collect();
        print_row("every key", &all);
    }
}

fn print_row(kind: &str, d: &[(Duration, Duration)]) {
    if d.is_empty() {
        return;
    }
    println!("key->frame {kind:<28} n {:>4}  {}", d.len(), percentiles(d));
}

fn main() {
    let traces = traces_from_env();
    let started = Instant::now();
    let mut load = Load::new();
    // Two views: the second holds 1,000 newer traces, as a publish a second later would.
    // Both hold one huge trace (`HUGE` spans) for the Trace view's keys on it.
    load.grow(traces);
    let huge = load.huge_trace(huge_spans());
    let data = &load.view();
    load.grow(traces + 1000);
    let newer = &load.view();
    // The loop indexes each arriving view's new traces (their names, for the filter) before
    // any key reads it; here as the views are first used, outside the timed keys.
    spantop::ui::views::traces::index_names(data);
    println!(
        "{} traces, {} spans, built in {:.1?}",
        data.traces.len(),
        data.snapshot.stats.spans_held,
        started.elapsed()
    );

    let mut b = Bench {
        app: App::new(Playback::Live),
        terminal: Terminal::new(TestBackend::new(120, 40)).expect("test backend"),
        header: header(data),
        samples: Vec::new(),
    };
    for _ in 0..3 {
        // Tabs: each switch draws a table whose order may need building.
        for c in ['1', '2', '4', '5', '6', '7', '2'] {
            b.press("tab switch", data, c);
        }
        b.press_n("j/k on Traces", data, 'j', 100);
        b.press_n("j/k on Traces", data, 'k', 50);
        b.press_n("sort (s) on Traces", data, 's', 7);
        b.press("sort (s) on Traces", data, 'S');
        b.press("filter: / and typing", data, '/');
        b.type_str("filter: / and typing", data, "error");
        b.key(
            "filter: / and typing",
            data,
            KeyCode::Enter,
            KeyModifiers::NONE,
        );
        b.press("filter: / and typing", data, '/');
        b.type_str("filter: / and typing", data, " service=checkout-fn");
        b.key(
            "filter: Ctrl-U, Esc",
            data,
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        );
        // Esc puts back "error"; then clear it for the next round.
        b.key(
            "filter: Ctrl-U, Esc",
            data,
            KeyCode::Esc,
            KeyModifiers::NONE,
        );
        b.press("filter: Ctrl-U, Esc", data, '/');
        b.key(
            "filter: Ctrl-U, Esc",
            data,
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        );
        b.key(
            "filter: Ctrl-U, Esc",
            data,
            KeyCode::Enter,
            KeyModifiers::NONE,
        );
        // A new view arrived: the first key after it rebuilds the order and re-finds the row.
        spantop::ui::views::traces::index_names(newer);
        b.press("first key on a new view", newer, 'j');
        spantop::ui::views::traces::index_names(data);
        b.press("first key on a new view", data, 'k');
        b.press("i (in progress) toggle", data, 'i');
        b.press("i (in progress) toggle", data, 'i');
        // A word no name holds: every held trace's spans are looked through per key.
        b.press("filter: typing, no match", data, '/');
        b.type_str("filter: typing, no match", data, "qqqq");
        b.type_str("filter: typing, no match", data, " http.route=/none");
        b.key(
            "filter: typing, no match",
            data,
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        );
        b.key(
            "filter: typing, no match",
            data,
            KeyCode::Enter,
            KeyModifiers::NONE,
        );
        // key=value on a key most spans carry: each key after the `=` tests a value.
        b.press("filter: key=value typing", data, '/');
        b.type_str("filter: key=value typing", data, "http.route=/orders");
        b.key(
            "filter: key=value typing",
            data,
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        );
        b.key(
            "filter: key=value typing",
            data,
            KeyCode::Enter,
            KeyModifiers::NONE,
        );
        b.trace_view(data);
    }
    b.huge_trace(data, huge);
    b.report();
}
