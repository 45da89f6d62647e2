//! The live TUI (ratatui + crossterm).
//!
//! - `ViewData` (from `analysis::findings::view`): what the tabs show, published by the pipeline; the
//!   TUI imports no engine, it only indexes and renders what it is given.
//! - `app`: `App`, view state only; `handle_key` updates it and returns an `Effect`.
//! - `keymap`: every binding once (keys, context, action, help text); key handling, the `?`
//!   help and the footer hints all read it.
//! - `views/`: one file per screen. The list tabs (`services`, `traces`, `cold_starts`,
//!   `fanout`, `hotspots`, `map`) each implement `views::ListView`: rows from `&ViewData`,
//!   columns as typed `Value`s (text, duration, percent, count...) that give both the cell and
//!   the sort key, filter matching, what Enter opens. `trace` is the waterfall screen.
//! - `widgets/`: what the screens share: `table` (sorting, filtering, the cached order per data
//!   generation, scrolling, grouping), `header`, `tabs`, `footer` (filter prompt), `help`.
//! - `frame`: lays one frame out from those, from `&ViewData` and the data clock only.
//! - `filter`: the `/` language; `text`: every string from telemetry is made safe here;
//!   `clipboard`: `y`, the one place the TUI writes outside its frame.
//!
//! The loop below joins them: keys, new snapshots and a frame timer; it draws at most once a
//! frame and only when something changed. Nothing else in the crate imports `ui`.

pub mod app;
pub mod clipboard;
pub mod filter;
mod frame;
pub mod keymap;
pub mod text;
mod theme;
pub mod views;
pub mod widgets;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{
    self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind,
};
use tokio::sync::{mpsc, watch};

pub use crate::analysis::findings::view::ViewData;
pub use app::{App, Effect, Playback, Tab};
pub use widgets::header::Header;

use crate::ingest::IngestCounters;
use crate::ingest::file::replay::FeedProgress;
use crate::ingest::listen::Listening;
use crate::model::TraceId;
use crate::store::StoreSnapshot;

/// What the TUI watches: the pipeline's published view, the store's stats for the header and
/// the receivers' counters.
pub struct Feed {
    pub view: watch::Receiver<Arc<ViewData>>,
    pub snapshots: watch::Receiver<StoreSnapshot>,
    pub counters: Option<Arc<IngestCounters>>,
    /// A replay's progress and what its files had to skip so far.
    pub progress: Option<Arc<FeedProgress>>,
    /// Where the receivers listen, for the header (live and demo).
    pub listening: Option<Listening>,
    /// A merged view (`live --attach`) holds only the traces it fetched: the Trace tab asks
    /// for the one it opens here.
    pub fetch: Option<mpsc::Sender<TraceId>>,
}

/// The trace the Trace tab shows but the view neither holds nor knows why: the one to ask a
/// merged view's `Feed::fetch` for.
pub fn wanted_trace(app: &App, data: &ViewData) -> Option<TraceId> {
    let id = app
        .trace
        .as_ref()
        .filter(|_| app.tab == Tab::Trace)?
        .trace_id;
    (data.trace(id).is_none() && data.why_missing(id).is_none()).then_some(id)
}

const FRAME: Duration = Duration::from_millis(66);

/// Puts the terminal back however the TUI ends: return, error or panic (ratatui's panic hook
/// restores first, then this guard's drop is a harmless second restore).
struct TerminalGuard {
    terminal: ratatui::DefaultTerminal,
}

impl TerminalGuard {
    fn enter() -> anyhow::Result<Self> {
        let terminal = ratatui::try_init().context("cannot set up the terminal")?;
        if let Err(e) = crossterm::execute!(std::io::stdout(), event::EnableMouseCapture) {
            ratatui::restore();
            return Err(e).context("cannot enable mouse reporting");
        }
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(std::io::stdout(), event::DisableMouseCapture);
        ratatui::restore();
    }
}

/// Reads terminal events on a thread of its own (crossterm's reader blocks) until `stop`.
fn spawn_input(stop: Arc<AtomicBool>) -> mpsc::Receiver<Event> {
    // A few keys of slack; a human can't outrun 15 frames a second by more.
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.blocking_send(ev).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
    rx
}

/// Maps a terminal event to the key `App` understands: presses only (no repeats or
/// releases), the mouse wheel as up/down, and a click on the tab bar as the tab's number.
fn as_key(ev: Event) -> Option<KeyEvent> {
    let key = |code| Some(KeyEvent::new(code, KeyModifiers::NONE));
    match ev {
        Event::Key(k) if k.kind == KeyEventKind::Press => Some(k),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollDown => key(KeyCode::Down),
            MouseEventKind::ScrollUp => key(KeyCode::Up),
            MouseEventKind::Down(MouseButton::Left) if m.row == widgets::tabs::TAB_BAR_ROW => {
                widgets::tabs::tab_at(m.column)
                    .map(|i| KeyCode::Char(char::from(b'1' + i as u8)))
                    .and_then(key)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Runs the TUI until `q`, Ctrl-C or `shutdown` (SIGTERM). The terminal is restored on every
/// way out.
pub async fn run(
    feed: Feed,
    playback: Playback,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut guard = TerminalGuard::enter()?;
    // The terminal set-up installed ratatui's restoring hook; a panic caught in one trace's
    // analysis must not restore the terminal under the running TUI, so filter it first.
    crate::analysis::trace::isolate::install_panic_filter();
    let stop = Arc::new(AtomicBool::new(false));
    let mut input = spawn_input(Arc::clone(&stop));
    let result = event_loop(&mut guard, feed, playback, &mut input, shutdown).await;
    stop.store(true, Ordering::Relaxed);
    drop(guard);
    result
}

async fn event_loop(
    guard: &mut TerminalGuard,
    feed: Feed,
    playback: Playback,
    input: &mut mpsc::Receiver<Event>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let mut derived = feed.view.clone();
    let mut data = Arc::clone(&derived.borrow_and_update());
    views::traces::index_names(&data);
    let mut app = App::new(playback);
    app.listening = feed.listening;
    app.zone = crate::units::zone::Zone::system();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut rate = RateMeter::default();
    let mut header = Header::default();
    let mut dirty = true;
    // What was asked of `feed.fetch` last, so one open trace is asked for once.
    let mut asked: Option<TraceId> = None;
    loop {
        if let Some(fetch) = &feed.fetch {
            let wanted = wanted_trace(&app, &data);
            if let Some(id) = wanted
                && asked != Some(id)
            {
                // Full means a fetch is under way; the next pass asks again.
                if fetch.try_send(id).is_ok() {
                    asked = Some(id);
                }
            } else if wanted.is_none() {
                asked = None;
            }
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            ev = input.recv() => {
                let Some(ev) = ev else { return Ok(()) };
                if matches!(ev, Event::Resize(..)) {
                    dirty = true;
                }
                if let Some(key) = as_key(ev) {
                    match app.handle_key(key, &data) {
                        Effect::Quit => return Ok(()),
                        Effect::Resume => {
                            data = Arc::clone(&derived.borrow_and_update());
                            views::traces::index_names(&data);
                        }
                        Effect::Copy => {
                            if let Some(text) = app.clipboard.take() {
                                app.status = Some(clipboard::copy(&text));
                            }
                        }
                        Effect::Pause | Effect::None => {}
                    }
                    dirty = true;
                }
            }
            changed = derived.changed() => {
                if changed.is_err() {
                    // The pipeline stopped; keep showing what we have.
                    derived = watch::channel(Arc::clone(&data)).1;
                    continue;
                }
                if !app.paused {
                    data = Arc::clone(&derived.borrow_and_update());
                    views::traces::index_names(&data);
                    dirty = true;
                }
            }
            _ = frame.tick() => {
                let stats = feed.snapshots.borrow().stats;
                let next = Header {
                    spans_per_sec: rate.update(stats.spans_received),
                    store: stats,
                    ingest: feed.counters.as_ref().map(|c| c.read()).unwrap_or_default(),
                    replay_progress: feed.progress.as_ref().map(|p| p.fraction()),
                    replay_problems: feed
                        .progress
                        .as_ref()
                        .filter(|p| p.problems() > 0)
                        .map(|p| (p.problems(), p.first_problem().unwrap_or_default())),
                };
                if next != header {
                    header = next;
                    dirty = true;
                }
                if dirty {
                    guard
                        .terminal
                        .draw(|f| app.render(f, &data, &header))
                        .context("cannot draw to the terminal")?;
                    dirty = false;
                }
            }
        }
    }
}

/// Spans per second received, over a window of about a second.
#[derive(Default)]
struct RateMeter {
    since: Option<(Instant, u64)>,
    rate: f64,
}

impl RateMeter {
    fn update(&mut self, total: u64) -> f64 {
        let now = Instant::now();
        match self.since {
            Some((at, base)) if now.duration_since(at) >= Duration::from_secs(1) => {
                self.rate =
                    total.saturating_sub(base) as f64 / now.duration_since(at).as_secs_f64();
                self.since = Some((now, total));
            }
            Some(_) => {}
            None => self.since = Some((now, total)),
        }
        self.rate
    }
}
