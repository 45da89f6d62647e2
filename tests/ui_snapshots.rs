//! Frames of the real `App`, drawn with `TestBackend` from data the simulated shop produced and
//! the span store assembled, at 120x40 and 80x24; keys go through the same `handle_key` as in
//! production. Rendering uses the data clock, so every frame is the same on every run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use spantop::analysis::engine::{AnalysisConfig, Engine};
use spantop::demo::{Shop, ShopConfig};
use spantop::ingest::IngestStats;
use spantop::model::{
    AnyValue, Batch, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, Sym, TraceId,
};
use spantop::pipeline::{Pipeline, PipelineConfig};
use spantop::store::{SpanStore, StoreConfig, StoreStats};
use spantop::ui::views::ListTab;
use spantop::ui::{App, Effect, Header, Playback, Tab, ViewData};

/// 2026-01-01T00:00:00Z: a fixed simulated clock.
const T0: u64 = 1_767_225_600_000_000_000;

/// The spans through the pipeline (batch mode, as a replay of a file) and the view it
/// publishes.
fn view_data(spans: Vec<Span>) -> ViewData {
    view_data_with(spans, AnalysisConfig::default())
}

/// `view_data` with an analysis configuration of its own.
fn view_data_with(spans: Vec<Span>, analysis: AnalysisConfig) -> ViewData {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let pipeline = Pipeline::spawn(PipelineConfig::batch(StoreConfig::default(), analysis));
        pipeline
            .tx
            .send(Batch::new(spans))
            .await
            .expect("pipeline takes the batch");
        pipeline.finish().await.expect("pipeline finishes").view()
    })
}

/// 150 user requests at 25 per second from the demo shop, seed 42.
fn shop_data() -> ViewData {
    shop_requests(150)
}

/// The shop's first `n` requests: a longer run starts with the same traces.
fn shop_requests(n: u64) -> ViewData {
    let mut shop = Shop::new(ShopConfig::default());
    let mut spans = Vec::new();
    for i in 0..n {
        shop.request(T0 + i * 40_000_000, &mut spans);
    }
    view_data(spans)
}

fn header(data: &ViewData) -> Header {
    Header {
        spans_per_sec: 812.0,
        // The memory figure includes what the analysis worker held when the store's snapshot
        // was taken, which depends on thread timing: fixed here so frames compare.
        store: StoreStats {
            memory_bytes: 1 << 20,
            ..data.snapshot.stats
        },
        ingest: IngestStats::default(),
        replay_progress: Some(0.4),
        replay_problems: None,
    }
}

fn draw(app: &mut App, data: &ViewData, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    let header = header(data);
    terminal
        .draw(|f| app.render(f, data, &header))
        .expect("draw");
    terminal
}

fn press(app: &mut App, data: &ViewData, code: KeyCode) -> Effect {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), data)
}

fn type_text(app: &mut App, data: &ViewData, text: &str) {
    for c in text.chars() {
        press(app, data, KeyCode::Char(c));
    }
}

/// Cells drawn in the find highlight's colour.
fn highlighted_cells(t: &Terminal<TestBackend>) -> usize {
    t.backend()
        .buffer()
        .content()
        .iter()
        .filter(|c| c.bg == ratatui::style::Color::LightYellow)
        .count()
}

fn screen(t: &Terminal<TestBackend>) -> String {
    t.backend().to_string()
}

#[test]
fn every_tab_at_120x40_and_80x24() {
    let data = shop_data();
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = App::new(Playback::Live);
        for (i, tab) in Tab::ALL.iter().enumerate() {
            press(&mut app, &data, KeyCode::Char(char::from(b'1' + i as u8)));
            assert_eq!(app.tab, *tab);
            if *tab == Tab::Trace {
                // Nothing opened yet: the tab says how to open one.
                let t = draw(&mut app, &data, w, h);
                assert!(screen(&t).contains("No trace open"));
                continue;
            }
            let t = draw(&mut app, &data, w, h);
            insta::assert_snapshot!(
                format!(
                    "tab_{}_{w}x{h}",
                    tab.title().replace(' ', "_").to_lowercase()
                ),
                t.backend()
            );
        }
    }
}

#[test]
fn the_map_draws_the_service_graph_in_layers_and_v_switches_to_the_table() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('7'));
    let graph = screen(&draw(&mut app, &data, 120, 40));
    assert!(graph.contains("Service graph:"), "{graph}");
    // The shop's checkout path, one layer per hop, each hop with its figures.
    for row in [
        "● api-gateway",
        "└─▶ checkout-fn",
        "   └─▶ order-service",
        "      ├─▶ inventory-service",
    ] {
        assert!(graph.contains(row), "{row:?} missing:\n{graph}");
    }
    // A service drawn under another caller is pointed at, not drawn twice.
    assert!(graph.contains("postgresql ↑"), "{graph}");
    press(&mut app, &data, KeyCode::Char('v'));
    let t = draw(&mut app, &data, 80, 24);
    assert!(screen(&t).contains("Service map:"), "{}", screen(&t));
    insta::assert_snapshot!("tab_map_table_80x24", t.backend());
    press(&mut app, &data, KeyCode::Char('v'));
    // Enter on an edge opens its evidence trace.
    press(&mut app, &data, KeyCode::Char('j'));
    press(&mut app, &data, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Trace);
}

#[test]
fn enter_on_a_cold_start_opens_its_trace_and_esc_goes_back() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('4'));
    press(&mut app, &data, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Trace);
    let t = draw(&mut app, &data, 120, 40);
    let s = screen(&t);
    assert!(
        s.contains("[cold]") && s.contains("Initialization [init]"),
        "{s}"
    );
    insta::assert_snapshot!("trace_from_cold_start_120x40", t.backend());
    let t = draw(&mut app, &data, 80, 24);
    insta::assert_snapshot!("trace_from_cold_start_80x24", t.backend());

    // Navigate: first child, next sibling, parent; fold the root.
    press(&mut app, &data, KeyCode::Char('l'));
    press(&mut app, &data, KeyCode::Char('}'));
    press(&mut app, &data, KeyCode::Char('h'));
    press(&mut app, &data, KeyCode::Char('g'));
    press(&mut app, &data, KeyCode::Char('c'));
    let t = draw(&mut app, &data, 120, 40);
    assert!(screen(&t).contains('▸'));
    insta::assert_snapshot!("trace_root_folded", t.backend());

    press(&mut app, &data, KeyCode::Esc);
    assert_eq!(app.tab, Tab::ColdStarts);
}

#[test]
fn follow_a_link_from_the_consumer_to_the_producer_trace() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('2'));
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "service=notification-fn");
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Enter);
    let consumer = app.trace.as_ref().expect("trace open").trace_id;
    let t = draw(&mut app, &data, 120, 40);
    assert!(screen(&t).contains("order-events process"));
    insta::assert_snapshot!("consumer_trace", t.backend());

    press(&mut app, &data, KeyCode::Char('f'));
    let producer = app.trace.as_ref().expect("trace open").trace_id;
    assert_ne!(producer, consumer);
    let t = draw(&mut app, &data, 120, 40);
    let s = screen(&t);
    assert!(
        s.contains("Linked from") && s.contains(&consumer.to_string()),
        "{s}"
    );
    insta::assert_snapshot!("producer_trace_after_following_link", t.backend());

    // Esc returns to the consumer trace, then to the filtered list.
    press(&mut app, &data, KeyCode::Esc);
    assert_eq!(app.trace.as_ref().map(|v| v.trace_id), Some(consumer));
    press(&mut app, &data, KeyCode::Esc);
    assert_eq!(app.tab, Tab::Traces);
}

#[test]
fn filter_and_sort_the_traces_table() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('2'));
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "error duration>500ms");
    let t = draw(&mut app, &data, 80, 24);
    assert!(screen(&t).contains("/error duration>500ms"));
    press(&mut app, &data, KeyCode::Enter);
    // Sort by Duration (third column), longest first.
    press(&mut app, &data, KeyCode::Char('s'));
    press(&mut app, &data, KeyCode::Char('s'));
    press(&mut app, &data, KeyCode::Char('S'));
    let t = draw(&mut app, &data, 120, 40);
    let s = screen(&t);
    assert!(
        s.contains("Duration▼") && s.contains("filter: error duration>500ms"),
        "{s}"
    );
    let rows = data
        .traces
        .iter()
        .filter(|r| r.errors > 0 && r.duration_ns() > 500_000_000)
        .count();
    assert!(rows > 0);
    assert!(s.contains(&format!("{rows}/{}", data.traces.len())), "{s}");
    insta::assert_snapshot!("traces_filtered_sorted", t.backend());
}

fn ctrl(app: &mut App, data: &ViewData, c: char) -> Effect {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL), data)
}

fn traces_filter(app: &App) -> String {
    app.list(ListTab::Traces).filter.text().to_owned()
}

#[test]
fn the_filter_applies_as_typed_ctrl_u_clears_and_esc_undoes() {
    let data = shop_data();
    let all = data.traces.len();
    let errors = data.traces.iter().filter(|r| r.errors > 0).count();
    let slow_errors = data
        .traces
        .iter()
        .filter(|r| r.errors > 0 && r.duration_ns() > 500_000_000)
        .count();
    assert!(0 < slow_errors && slow_errors < errors && errors < all);
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('2'));
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "error");
    // No Enter yet: the table already shows the error traces only.
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(s.contains(&format!("{errors}/{all}")), "{s}");
    assert!(s.contains("Enter keep  Esc undo  C-u clear"), "{s}");
    press(&mut app, &data, KeyCode::Enter);
    assert_eq!(app.editing, None);
    assert_eq!(traces_filter(&app), "error");

    // Typing on narrows as typed; Esc puts back the filter from before `/`.
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, " duration>500ms");
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(s.contains(&format!("{slow_errors}/{all}")), "{s}");
    press(&mut app, &data, KeyCode::Esc);
    assert_eq!(app.editing, None);
    assert_eq!(traces_filter(&app), "error");
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(s.contains(&format!("{errors}/{all}")), "{s}");

    // Backspace erases as typed; Ctrl-U clears the whole filter at once, Enter keeps that.
    press(&mut app, &data, KeyCode::Char('/'));
    press(&mut app, &data, KeyCode::Backspace);
    assert_eq!(traces_filter(&app), "erro");
    ctrl(&mut app, &data, 'u');
    assert_eq!(app.editing.as_deref(), Some(""));
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(s.contains(&format!("{all}/{all}")), "{s}");
    press(&mut app, &data, KeyCode::Enter);
    assert_eq!(traces_filter(&app), "");
    // Esc after clearing and typing again undoes back to no filter.
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "coldstart");
    press(&mut app, &data, KeyCode::Esc);
    assert_eq!(traces_filter(&app), "");
}

/// The line drawn selected (reversed) in the table, below the tab bar.
fn selected_line(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    (3..buf.area.height)
        .find(|&y| {
            buf[(1, y)]
                .style()
                .add_modifier
                .contains(ratatui::style::Modifier::REVERSED)
        })
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .unwrap_or_default()
}

/// Enter on the Traces tab, the trace it opened, and Esc back.
fn open_selected_trace(app: &mut App, data: &ViewData) -> TraceId {
    press(app, data, KeyCode::Enter);
    let id = app.trace.as_ref().expect("a trace opened").trace_id;
    press(app, data, KeyCode::Esc);
    assert_eq!(app.tab, Tab::Traces);
    id
}

#[test]
fn the_selection_stays_on_the_same_trace_when_newer_traces_arrive_above_it() {
    let before = shop_requests(150);
    let after = shop_requests(200);
    assert!(after.traces.len() > before.traces.len());
    let mut app = App::new(Playback::Live);
    press(&mut app, &before, KeyCode::Char('2'));
    for _ in 0..5 {
        press(&mut app, &before, KeyCode::Char('j'));
    }
    let t = draw(&mut app, &before, 120, 40);
    assert_eq!(app.list(ListTab::Traces).selected, 5);
    let picked = open_selected_trace(&mut app, &before);
    let short = picked.to_string()[..16].to_owned();
    assert!(selected_line(&t).contains(&short), "{}", screen(&t));

    // New data: the newer traces sort above (newest first); the cursor moved down with its
    // trace, the highlighted row is still that trace, and Enter opens it.
    let t = draw(&mut app, &after, 120, 40);
    let now = app.list(ListTab::Traces).selected;
    assert!(now > 5, "newer rows were inserted above: at {now}");
    assert!(selected_line(&t).contains(&short), "{}", screen(&t));
    assert_eq!(open_selected_trace(&mut app, &after), picked);
    // Without a draw in between too: the key itself sees the new data.
    let mut app2 = App::new(Playback::Live);
    press(&mut app2, &before, KeyCode::Char('2'));
    for _ in 0..5 {
        press(&mut app2, &before, KeyCode::Char('j'));
    }
    assert_eq!(open_selected_trace(&mut app2, &after), picked);

    // Another sort and a filter it passes keep it selected too.
    press(&mut app, &after, KeyCode::Char('s'));
    assert_eq!(open_selected_trace(&mut app, &after), picked);
    press(&mut app, &after, KeyCode::Char('/'));
    type_text(&mut app, &after, &short);
    press(&mut app, &after, KeyCode::Enter);
    assert_eq!(open_selected_trace(&mut app, &after), picked);
}

#[test]
fn the_selected_service_stays_selected_across_a_sort() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('j'));
    press(&mut app, &data, KeyCode::Char('j'));
    let picked = selected_line(&draw(&mut app, &data, 120, 40));
    let service = picked
        .trim_matches(|c| c == '│' || c == ' ')
        .split_whitespace()
        .next()
        .expect("a service name")
        .to_owned();
    // Sort by the service name: the row moves, the selection with it.
    for _ in 0..7 {
        press(&mut app, &data, KeyCode::Char('s'));
    }
    let t = draw(&mut app, &data, 120, 40);
    assert!(screen(&t).contains("Service▼"), "{}", screen(&t));
    assert!(selected_line(&t).contains(&service), "{}", screen(&t));
    press(&mut app, &data, KeyCode::Enter);
    assert_eq!(traces_filter(&app), format!("service={service}"));
}

#[test]
fn the_row_counts_match_the_data_and_the_header() {
    let data = shop_data();
    let n = data.traces.len();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('2'));
    let s = screen(&draw(&mut app, &data, 120, 40));
    let first = s.lines().next().unwrap_or_default();
    assert!(first.contains(&format!(" {n} traces ")), "{first}");
    assert!(s.contains(&format!(" Traces {n}/{n} ")), "{s}");
    // Filtered: the title counts exactly the rows drawn (all fit in 200 lines).
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "error");
    press(&mut app, &data, KeyCode::Enter);
    let errors = data.traces.iter().filter(|r| r.errors > 0).count();
    let s = screen(&draw(&mut app, &data, 120, 200));
    assert!(s.contains(&format!(" Traces {errors}/{n} ")), "{s}");
    let drawn = s.lines().skip(3).filter(|l| l.contains(" ERR")).count();
    assert_eq!(drawn, errors, "{s}");
    // Every other list: the title's count is its rows.
    for (key, rows) in [
        ('1', data.findings.services.len()),
        ('4', data.findings.cold_starts.by_function.len()),
        ('5', data.findings.patterns.len()),
        ('6', data.hotspots.len()),
        ('7', data.findings.service_graph.drawing.len()),
    ] {
        press(&mut app, &data, KeyCode::Char(key));
        let s = screen(&draw(&mut app, &data, 160, 200));
        assert!(s.contains(&format!(" {rows}/{rows} ")), "tab {key}: {s}");
    }
    // The Map's table: one row per edge (the graph adds a row per entry point).
    press(&mut app, &data, KeyCode::Char('v'));
    let rows = data.findings.service_map.len();
    let s = screen(&draw(&mut app, &data, 160, 200));
    assert!(s.contains(&format!(" {rows}/{rows} ")), "map table: {s}");
}

/// The shop's first 150 requests complete, then two more whose roots have not arrived: one
/// whose spans came 7 s before the snapshot, one 2 s before. Built from the store and engine
/// directly, as the live pipeline does, with the snapshot taken at a fixed instant.
fn data_with_open_traces() -> (ViewData, [TraceId; 2]) {
    let mut shop = Shop::new(ShopConfig::default());
    let mut store = SpanStore::new(StoreConfig::default());
    let base = Instant::now();
    let mut spans = Vec::new();
    for i in 0..150 {
        shop.request(T0 + i * 40_000_000, &mut spans);
    }
    store.ingest(Batch::new(spans), base);
    store.complete_all();
    let mut hanging = Vec::new();
    for (i, at) in [(150u64, 1u64), (151, 6)] {
        let mut spans = Vec::new();
        shop.request(T0 + i * 40_000_000, &mut spans);
        // The root ends last: only its descendants have arrived.
        spans.retain(|s| s.parent_span_id.is_some());
        hanging.push(spans[0].trace_id);
        store.ingest(Batch::new(spans), base + Duration::from_secs(at));
    }
    let snapshot = store.snapshot_at(base + Duration::from_secs(8));
    let mut engine = Engine::default();
    for t in snapshot.traces.iter() {
        engine.add_trace(t);
    }
    (ViewData::build(snapshot, &engine), [hanging[0], hanging[1]])
}

#[test]
fn i_on_traces_lists_the_open_traces_so_a_hanging_request_shows_while_it_hangs() {
    let (data, [oldest, newer]) = data_with_open_traces();
    assert_eq!(data.open_traces().len(), 2);
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('2'));
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(s.contains("Traces (i: 2 in progress)"), "{s}");
    assert!(
        s.lines().next().is_some_and(|l| l.contains("+2 open")),
        "{s}"
    );
    press(&mut app, &data, KeyCode::Char('i'));
    assert_eq!(app.current_list(), Some(ListTab::InProgress));
    for (w, h) in [(120, 40), (80, 24)] {
        let t = draw(&mut app, &data, w, h);
        insta::assert_snapshot!(format!("in_progress_{w}x{h}"), t.backend());
    }
    let t = draw(&mut app, &data, 120, 40);
    let s = screen(&t);
    assert!(s.contains("In progress: open traces 2/2"), "{s}");
    // Oldest first: 7 s open, idle 7 s; then 2 s; the root has not arrived in either.
    let oldest_line = selected_line(&t);
    assert!(oldest_line.contains(&oldest.to_string()), "{s}");
    assert!(oldest_line.contains("7.00s") && oldest_line.contains("(root not arrived yet)"));
    press(&mut app, &data, KeyCode::Char('j'));
    let t = draw(&mut app, &data, 120, 40);
    assert!(
        selected_line(&t).contains(&newer.to_string()),
        "{}",
        screen(&t)
    );
    // Enter says why there is no waterfall yet; `i` goes back to the complete traces.
    press(&mut app, &data, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Traces);
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("still open")),
        "{:?}",
        app.status
    );
    press(&mut app, &data, KeyCode::Char('i'));
    assert_eq!(app.current_list(), Some(ListTab::Traces));
}

#[test]
fn space_pauses_and_resumes_the_view() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    assert_eq!(press(&mut app, &data, KeyCode::Char(' ')), Effect::Pause);
    let t = draw(&mut app, &data, 80, 24);
    assert!(
        screen(&t)
            .lines()
            .next()
            .is_some_and(|l| l.contains("PAUSED"))
    );
    assert_eq!(press(&mut app, &data, KeyCode::Char(' ')), Effect::Resume);
    let t = draw(&mut app, &data, 80, 24);
    assert!(!screen(&t).contains("PAUSED"));
}

#[test]
fn help_lists_every_key_and_any_key_closes_it() {
    let data = shop_data();
    let mut app = App::new(Playback::Replay);
    press(&mut app, &data, KeyCode::Char('?'));
    let t = draw(&mut app, &data, 120, 40);
    insta::assert_snapshot!("help_120x40", t.backend());
    press(&mut app, &data, KeyCode::Char('x'));
    assert!(!app.help);
    assert_eq!(press(&mut app, &data, KeyCode::Char('q')), Effect::Quit);
}

#[test]
fn at_80x24_the_help_wraps_and_scrolls_and_tables_name_their_hidden_columns() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('?'));
    let t = draw(&mut app, &data, 80, 24);
    let s = screen(&t);
    insta::assert_snapshot!("help_80x24", t.backend());
    assert!(s.contains(" Keys 1-"), "{s}");
    // The filter syntax wraps instead of being cut; the last lines are below, reachable.
    assert!(s.contains("duration>250ms") && s.contains("orphan"), "{s}");
    assert!(!s.contains("Prompt: Bksp"), "{s}");
    press(&mut app, &data, KeyCode::Char('G'));
    let t = draw(&mut app, &data, 80, 24);
    let s = screen(&t);
    assert!(app.help, "scrolling keeps the help open");
    assert!(s.contains("Prompt: Bksp, C-u"), "{s}");
    insta::assert_snapshot!("help_80x24_scrolled", t.backend());
    press(&mut app, &data, KeyCode::Char('k'));
    assert!(app.help);
    press(&mut app, &data, KeyCode::Esc);
    assert!(!app.help);

    // Every line fits: titles and the header elide with `…`, hidden columns are named.
    press(&mut app, &data, KeyCode::Char('2'));
    let s = screen(&draw(&mut app, &data, 80, 24));
    assert!(s.contains("hidden: Svcs, Trace"), "{s}");
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(
        &mut app,
        &data,
        "service=注文サービス-with-a-very-long-name-that-cannot-fit-here",
    );
    let t = draw(&mut app, &data, 80, 24);
    let buf = t.backend().buffer();
    // A full-width character fills two cells (the second one blank in the buffer).
    let top: String = (0..buf.area.width).map(|x| buf[(x, 2)].symbol()).collect();
    assert!(
        top.starts_with("┌ Traces 0/171 filter: service=注 文") && top.ends_with("-cannot-…┐"),
        "{top}"
    );
}

fn hostile_span(id: u64, parent: Option<u64>, name: &str, resource: &Arc<Resource>) -> Span {
    Span {
        trace_id: TraceId::from_u128(0xabc).expect("non-zero"),
        span_id: SpanId::from_u64(id).expect("non-zero"),
        parent_span_id: parent.and_then(SpanId::from_u64),
        name: Sym::new(name),
        kind: SpanKind::Server,
        flags: 0,
        start_ns: T0 + id * 1_000_000,
        end_ns: T0 + 50_000_000,
        status: Status::default(),
        attributes: vec![KeyValue::new(
            "user.agent",
            AnyValue::Str("\x1b]0;pwned\x07curl\r\n".into()),
        )]
        .into(),
        events: Box::new([]),
        links: Box::new([]),
        resource: Arc::clone(resource),
        scope: Arc::new(Scope::default()),
        extra: None,
    }
}

#[test]
fn escape_sequences_in_telemetry_render_as_visible_text() {
    let resource = Arc::new(Resource::new(vec![KeyValue::new(
        "service.name",
        AnyValue::Str("svc\x1b[2J".into()),
    )]));
    let data = view_data(vec![
        hostile_span(1, None, "GET /\x1b[31mred\x1b[0m", &resource),
        hostile_span(2, Some(1), "child\u{9b}6n\u{202e}", &resource),
    ]);
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('2'));
    let list = draw(&mut app, &data, 120, 40);
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Char('j'));
    let trace = draw(&mut app, &data, 120, 40);
    for t in [&list, &trace] {
        for cell in t.backend().buffer().content() {
            assert!(
                !cell
                    .symbol()
                    .chars()
                    .any(|c| c.is_control() || c == '\u{202e}'),
                "raw control character reached the screen: {:?}",
                cell.symbol()
            );
        }
    }
    assert!(screen(&list).contains("svc\\e[2J: GET /\\e[31mred\\e[0m"));
    let s = screen(&trace);
    assert!(s.contains("child\\u{9b}6n\\u{202e}"), "{s}");
    assert!(
        s.contains("user.agent = \\e]0;pwned\\u{7}curl\\r\\n"),
        "{s}"
    );
}

/// The shopfast sample (OpenTelemetry Python SDK, seed 42): 114 traces with an answer key.
fn sample_data() -> ViewData {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/generated/shopfast-seed42-n100.otlp.jsonl.gz");
    let (batches, results) = spantop::ingest::file::read_paths(&[path]);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|s| s.is_clean()))
    );
    view_data(batches.into_iter().flat_map(|b| b.spans).collect())
}

#[test]
fn sample_file_cold_starts_and_trace_match_the_answer_key() {
    let data = sample_data();
    assert_eq!(data.traces.len(), 114);
    let cold: Vec<(&str, usize)> = {
        let mut by_function = std::collections::BTreeMap::new();
        for r in &data.findings.cold_starts.by_function {
            *by_function.entry(r.function.as_str()).or_default() += r.cold;
        }
        by_function.into_iter().collect()
    };
    assert_eq!(
        cold,
        [
            ("auth-authorizer", 6),
            ("checkout-fn", 16),
            ("notification-fn", 2),
            ("reco-model-fn", 21)
        ]
    );
    let mut app = App::new(Playback::Replay);
    for (w, h) in [(120, 40), (80, 24)] {
        press(&mut app, &data, KeyCode::Char('4'));
        let t = draw(&mut app, &data, w, h);
        insta::assert_snapshot!(format!("sample_cold_starts_{w}x{h}"), t.backend());
        press(&mut app, &data, KeyCode::Enter);
        let t = draw(&mut app, &data, w, h);
        insta::assert_snapshot!(format!("sample_trace_{w}x{h}"), t.backend());
        press(&mut app, &data, KeyCode::Esc);
    }
    for (key, name) in [
        ('1', "services"),
        ('5', "fanout"),
        ('6', "hotspots"),
        ('7', "map"),
    ] {
        press(&mut app, &data, KeyCode::Char(key));
        let t = draw(&mut app, &data, 120, 40);
        insta::assert_snapshot!(format!("sample_{name}_120x40"), t.backend());
    }
}

#[test]
fn a_click_on_the_tab_bar_maps_to_the_tab_under_it() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    let t = draw(&mut app, &data, 120, 40);
    let buf = t.backend().buffer();
    let row = spantop::ui::widgets::tabs::TAB_BAR_ROW;
    let bar: String = (0..buf.area.width)
        .map(|x| buf[(x, row)].symbol())
        .collect();
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let label = format!("{} {}", i + 1, tab.title());
        let start = bar
            .find(&label)
            .map(|b| bar[..b].chars().count())
            .expect("tab drawn");
        let end = start + label.chars().count() - 1;
        for col in [start, end] {
            assert_eq!(
                spantop::ui::widgets::tabs::tab_at(col as u16),
                Some(i),
                "{label} at {col} in {bar:?}"
            );
        }
    }
}

#[test]
fn an_error_trace_shows_where_the_error_started() {
    let data = sample_data();
    let mut app = App::new(Playback::Replay);
    press(&mut app, &data, KeyCode::Char('2'));
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "error service=order-service");
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Char('G'));
    let t = draw(&mut app, &data, 120, 40);
    let s = screen(&t);
    // The answer key: errors start in inventory-service's stock query and reach the gateway.
    assert!(
        s.contains("error started in inventory-service: SELECT inventory.stock → order-service → checkout-fn → api-gateway"),
        "{s}"
    );
    assert!(s.contains("[error origin]"), "{s}");
    insta::assert_snapshot!("sample_error_trace_120x40", t.backend());
}

/// `live` and `demo` pass where the receivers listen into the App; the header's first line
/// ends with both addresses, and a replay (no receivers) shows none.
#[test]
fn header_shows_where_the_receivers_listen() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    app.listening = Some(spantop::ingest::listen::Listening {
        grpc: "127.0.0.1:43170".parse().expect("address"),
        http: "127.0.0.1:43180".parse().expect("address"),
        tls: false,
    });
    let t = draw(&mut app, &data, 140, 24);
    let s = screen(&t);
    let first = s.lines().next().expect("a header line");
    assert!(
        first.contains("LIVE") && first.contains("gRPC 127.0.0.1:43170  HTTP 127.0.0.1:43180"),
        "{first}"
    );
    let mut replay = App::new(Playback::Replay);
    let s = screen(&draw(&mut replay, &data, 140, 24));
    assert!(!s.contains("gRPC "), "{s}");
}

/// A replay that skipped input says so in the header while it plays, with the first reason.
#[test]
fn a_replay_shows_what_it_skipped_in_the_header() {
    let data = shop_data();
    let mut app = App::new(Playback::Replay);
    let mut terminal = Terminal::new(TestBackend::new(160, 10)).expect("test backend");
    let header = Header {
        replay_problems: Some((2, "bad.jsonl:2: expected value at line 1 column 2".into())),
        ..header(&data)
    };
    terminal
        .draw(|f| app.render(f, &data, &header))
        .expect("draw");
    let top = screen(&terminal)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        top.contains("skipped 2: bad.jsonl:2: expected value"),
        "{top}"
    );
}

/// Zipkin spans without timestamps (annotation-only parts) sit at their parent's start: the
/// trace keeps its own 49 ms extent instead of an axis from 1970.
#[test]
fn a_span_without_timestamps_does_not_stretch_the_waterfall() {
    let resource = Arc::new(Resource::new(vec![KeyValue::new(
        "service.name",
        AnyValue::Str("web".into()),
    )]));
    let mut untimed = hostile_span(3, Some(2), "untimed part", &resource);
    untimed.start_ns = 0;
    untimed.end_ns = 0;
    let data = view_data(vec![
        hostile_span(1, None, "GET /", &resource),
        hostile_span(2, Some(1), "child", &resource),
        untimed,
    ]);
    let mut app = App::new(Playback::Replay);
    press(&mut app, &data, KeyCode::Char('2'));
    let list = screen(&draw(&mut app, &data, 120, 40));
    press(&mut app, &data, KeyCode::Enter);
    let trace = screen(&draw(&mut app, &data, 120, 40));
    assert!(list.contains("49.0ms"), "{list}");
    let axis = trace
        .lines()
        .find(|l| l.contains(" span") && l.contains("duration"))
        .unwrap_or_else(|| panic!("axis drawn:\n{trace}"));
    // The axis ends at the trace's end (a pane may follow on the same line).
    assert!(
        axis.contains(" 24.5ms ") && axis.contains(" 49.0ms "),
        "{axis}"
    );
    assert!(trace.contains("untimed part"), "{trace}");
}

fn selected_span(app: &App) -> Option<SpanId> {
    app.trace.as_ref().and_then(|v| v.selected)
}

/// Find in the Trace view: the header counts the matches, `n`/`N` walk them, Esc clears.
#[test]
fn find_in_the_trace_view_counts_matches_and_n_moves_between_them() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('4'));
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "db.system");
    let n = app
        .trace
        .as_ref()
        .and_then(|v| v.find.as_ref())
        .map_or(0, |f| f.matches.len());
    assert!(n >= 2, "{n} matches");
    press(&mut app, &data, KeyCode::Enter);
    for (w, h) in [(120, 40), (80, 24)] {
        let t = draw(&mut app, &data, w, h);
        let s = screen(&t);
        assert!(s.contains(&format!("match 1/{n}")), "{s}");
        // The matches are highlighted.
        let lit = highlighted_cells(&t);
        assert!(lit > 10, "{lit} highlighted cells");
        insta::assert_snapshot!(format!("trace_find_{w}x{h}"), t.backend());
    }
    let first = selected_span(&app);
    press(&mut app, &data, KeyCode::Char('n'));
    assert_ne!(selected_span(&app), first);
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains(&format!("match 2/{n}")));
    press(&mut app, &data, KeyCode::Char('N'));
    assert_eq!(selected_span(&app), first);
    // Backwards from the first match wraps to the last.
    press(&mut app, &data, KeyCode::Char('N'));
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains(&format!("match {n}/{n}")));
    let last = selected_span(&app);
    assert_ne!(last, first);
    // Typing again finds as typed: the first match is selected.
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, " ");
    assert_eq!(selected_span(&app), first);
    // Terms must all match; -key drops the spans that carry it.
    type_text(&mut app, &data, "-db.system");
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains("no match"));
    // Esc at the prompt clears the find (Jaeger's Esc clears the highlights) and the
    // selection goes back to where it was before `/`, not to the first match.
    press(&mut app, &data, KeyCode::Esc);
    assert!(app.trace.as_ref().is_some_and(|v| v.find.is_none()));
    assert_eq!(selected_span(&app), last);
    let t = draw(&mut app, &data, 120, 40);
    let s = screen(&t);
    assert!(!s.contains("match") && app.tab == Tab::Trace, "{s}");
    let lit = highlighted_cells(&t);
    assert_eq!(lit, 0, "no highlight left:\n{s}");
    // Esc from a find kept with Enter clears it too, and stays on the match selected.
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "db.system");
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Char('n'));
    let second = selected_span(&app);
    press(&mut app, &data, KeyCode::Esc);
    assert!(app.trace.as_ref().is_some_and(|v| v.find.is_none()));
    assert_eq!((selected_span(&app), app.tab), (second, Tab::Trace));
}

/// `n`/`N` skip the matches the service filter (`v`) hides: every jump lands on a drawn row,
/// and the title counts the hidden ones apart.
#[test]
fn n_skips_matches_hidden_by_the_service_filter_and_the_count_says_so() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('4'));
    press(&mut app, &data, KeyCode::Enter);
    let id = app.trace.as_ref().expect("open").trace_id;
    let trace = data.trace(id).expect("held");
    let order = spantop::ui::views::trace::order(trace);
    let all = spantop::ui::views::trace::find::Find::new("db.system", trace, &order, None)
        .matches
        .len();
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "service.name=inventory");
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Esc);
    press(&mut app, &data, KeyCode::Char('v'));
    let only = app.trace.as_ref().and_then(|v| v.only);
    let visible = spantop::ui::views::trace::visible(trace, only).expect("a service filter");
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "db.system");
    press(&mut app, &data, KeyCode::Enter);
    let find = app
        .trace
        .as_ref()
        .and_then(|v| v.find.clone())
        .expect("find");
    let shown = find.matches.len();
    assert!(
        shown >= 1 && find.hidden >= 1,
        "{shown} shown, {} hidden",
        find.hidden
    );
    assert_eq!(shown + find.hidden, all);
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(
        s.contains(&format!("match 1/{shown} (+{} hidden by v)", find.hidden)),
        "{s}"
    );
    // Round the drawn matches and back to the first: never onto a hidden span.
    for step in 1..=shown {
        press(&mut app, &data, KeyCode::Char('n'));
        let at = selected_span(&app).expect("a selection");
        let i = trace
            .spans
            .iter()
            .position(|s| s.span_id == at)
            .expect("in the trace");
        assert!(visible[i], "n went to a hidden span");
        let s = screen(&draw(&mut app, &data, 120, 40));
        let want = step % shown + 1;
        assert!(s.contains(&format!("match {want}/{shown} (+")), "{s}");
    }
    // v again: every match is drawn and counted.
    press(&mut app, &data, KeyCode::Char('v'));
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(
        s.contains(&format!("/{all} ")) && !s.contains("hidden by v"),
        "{s}"
    );
}

/// One span with more attributes than the pane has lines, and an event after them.
fn span_with_a_long_detail() -> ViewData {
    let resource = Arc::new(Resource::new(vec![
        KeyValue::new("service.name", AnyValue::Str("web".into())),
        KeyValue::new("host.name", AnyValue::Str("web-1".into())),
    ]));
    let mut child = hostile_span(2, Some(1), "load profile", &resource);
    child.attributes = (0..30)
        .map(|i| KeyValue::new(&format!("attr.{i:02}"), AnyValue::Int(i)))
        .collect::<Vec<_>>()
        .into();
    child.events = vec![spantop::model::Event {
        time_ns: T0 + 30_000_000,
        name: "cache.miss.event".into(),
        attributes: vec![KeyValue::new("cache.key", AnyValue::Str("user:42".into()))].into(),
        dropped_attributes_count: 0,
    }]
    .into();
    child.scope = Arc::new(Scope {
        name: "io.opentelemetry.jdbc".into(),
        version: Some("2.1.0".into()),
        ..Default::default()
    });
    view_data(vec![
        hostile_span(1, None, "GET /profile", &resource),
        child,
    ])
}

#[test]
fn the_span_pane_takes_the_focus_and_scrolls_to_the_events() {
    let data = span_with_a_long_detail();
    let mut app = App::new(Playback::Replay);
    press(&mut app, &data, KeyCode::Char('2'));
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Char('j'));
    let s = screen(&draw(&mut app, &data, 120, 40));
    // Everything about the span: ids in full, times, scope.
    for want in [
        "span     0000000000000002",
        "parent   0000000000000001",
        "trace    00000000000000000000000000000abc",
        "start    2026-01-01T00:00:00.002000000Z",
        "  local  2026-01-01 00:00:00.002 UTC",
        "end      2026-01-01T00:00:00.050000000Z",
        "  local  2026-01-01 00:00:00.050 UTC",
        "scope    io.opentelemetry.jdbc 2.1.0",
    ] {
        assert!(s.contains(want), "{want}\n{s}");
    }
    let t = draw(&mut app, &data, 80, 24);
    assert!(!screen(&t).contains("cache.miss.event"));
    // l on a leaf moves into the pane; j scrolls it until the event shows.
    press(&mut app, &data, KeyCode::Char('l'));
    let mut presses = 0;
    while !screen(&draw(&mut app, &data, 80, 24)).contains("cache.miss.event") {
        press(&mut app, &data, KeyCode::Char('j'));
        presses += 1;
        assert!(presses < 60, "the event never scrolled into view");
    }
    assert!(presses > 0);
    // One more line shows the event's attribute.
    press(&mut app, &data, KeyCode::Char('j'));
    let t = draw(&mut app, &data, 80, 24);
    let s = screen(&t);
    assert!(s.contains("cache.key = user:42"), "{s}");
    insta::assert_snapshot!("span_pane_scrolled_80x24", t.backend());
    // The cursor is on that attribute: y copies its value, not the span id.
    assert_eq!(press(&mut app, &data, KeyCode::Char('y')), Effect::Copy);
    assert_eq!(app.clipboard.as_deref(), Some("user:42"));
    // Up to the event's name, then onto the "Events (1)" heading, which has no value.
    press(&mut app, &data, KeyCode::Char('k'));
    assert_eq!(press(&mut app, &data, KeyCode::Char('y')), Effect::Copy);
    assert_eq!(app.clipboard.as_deref(), Some("cache.miss.event"));
    press(&mut app, &data, KeyCode::Char('k'));
    assert_eq!(press(&mut app, &data, KeyCode::Char('y')), Effect::None);
    assert_eq!(app.status.as_deref(), Some("nothing to copy on this line"));
    // g: the first line, the span's name; the parent id a few lines down.
    press(&mut app, &data, KeyCode::Char('g'));
    press(&mut app, &data, KeyCode::Char('y'));
    assert_eq!(app.clipboard.as_deref(), Some("load profile"));
    for _ in 0..5 {
        press(&mut app, &data, KeyCode::Char('j'));
    }
    press(&mut app, &data, KeyCode::Char('y'));
    assert_eq!(app.clipboard.as_deref(), Some("0000000000000001"));
    // Back to where the snapshot above was taken.
    press(&mut app, &data, KeyCode::Char('G'));
    // The selection stays put while the pane has the keys.
    assert_eq!(selected_span(&app), SpanId::from_u64(2));
    // z: the pane full-screen; Esc puts it back; Tab returns to the waterfall.
    press(&mut app, &data, KeyCode::Char('z'));
    let t = draw(&mut app, &data, 120, 40);
    assert!(!screen(&t).contains("Waterfall"));
    insta::assert_snapshot!("span_pane_full_120x40", t.backend());
    press(&mut app, &data, KeyCode::Esc);
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains("Waterfall"));
    // y copies the span id (the loop runs the clipboard tool or sends OSC 52).
    assert_eq!(press(&mut app, &data, KeyCode::Char('y')), Effect::Copy);
    assert_eq!(app.clipboard.as_deref(), Some("0000000000000002"));
    assert_eq!(press(&mut app, &data, KeyCode::Char('k')), Effect::None);
    assert_eq!(app.clipboard, None);
}

#[test]
fn waterfall_rows_name_their_service_and_the_axis_zooms_and_pans() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('4'));
    press(&mut app, &data, KeyCode::Enter);
    let s = screen(&draw(&mut app, &data, 120, 40));
    let axis = |s: &str| {
        s.lines()
            .find(|l| l.contains(" span") && l.contains("duration"))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let whole = axis(&s);
    assert!(whole.contains("service"), "{whole}");
    // Every row carries its service's label (checkout-fn is the cold start's function).
    assert!(s.contains("checkout-fn"), "{s}");
    press(&mut app, &data, KeyCode::Char('+'));
    press(&mut app, &data, KeyCode::Char('+'));
    for (w, h) in [(120, 40), (80, 24)] {
        let t = draw(&mut app, &data, w, h);
        assert!(screen(&t).contains("zoomed"));
        insta::assert_snapshot!(format!("trace_zoomed_{w}x{h}"), t.backend());
    }
    let zoomed = axis(&screen(&draw(&mut app, &data, 120, 40)));
    assert_ne!(zoomed, whole);
    press(&mut app, &data, KeyCode::Char(']'));
    assert_ne!(axis(&screen(&draw(&mut app, &data, 120, 40))), zoomed);
    press(&mut app, &data, KeyCode::Char('0'));
    assert_eq!(axis(&screen(&draw(&mut app, &data, 120, 40))), whole);
    // Collapse all leaves the root; expand all brings every span back.
    let all = data
        .trace(app.trace.as_ref().expect("open").trace_id)
        .expect("held")
        .spans
        .len();
    press(&mut app, &data, KeyCode::Char('C'));
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains("Waterfall 1/1"));
    press(&mut app, &data, KeyCode::Char('E'));
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains(&format!("Waterfall 1/{all}")));
}

#[test]
fn trace_statistics_group_by_service_operation_and_an_attribute() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('4'));
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Char('s'));
    for (w, h) in [(120, 40), (80, 24)] {
        let t = draw(&mut app, &data, w, h);
        let s = screen(&t);
        assert!(
            s.contains("Trace statistics: by service › operation") && s.contains("% trace"),
            "{s}"
        );
        insta::assert_snapshot!(format!("trace_stats_{w}x{h}"), t.backend());
    }
    // The shares are self time over the trace: together they make the whole trace, at most.
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(s.contains("checkout-fn"), "{s}");
    press(&mut app, &data, KeyCode::Char('g'));
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains("by operation"));
    press(&mut app, &data, KeyCode::Char('g'));
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains("group by attribute:"));
    type_text(&mut app, &data, "db.system");
    press(&mut app, &data, KeyCode::Enter);
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(
        s.contains("by db.system › service") && s.contains("(none)"),
        "{s}"
    );
    press(&mut app, &data, KeyCode::Esc);
    let s = screen(&draw(&mut app, &data, 120, 40));
    assert!(s.contains("Waterfall") && app.tab == Tab::Trace, "{s}");
}

#[test]
fn v_keeps_one_service_and_hides_the_other_subtrees_behind_a_count() {
    let data = shop_data();
    let mut app = App::new(Playback::Live);
    press(&mut app, &data, KeyCode::Char('4'));
    press(&mut app, &data, KeyCode::Enter);
    let before = screen(&draw(&mut app, &data, 120, 40));
    assert!(before.contains("verify jwt"), "{before}");
    press(&mut app, &data, KeyCode::Char('/'));
    type_text(&mut app, &data, "service.name=inventory");
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Esc);
    press(&mut app, &data, KeyCode::Char('v'));
    for (w, h) in [(120, 40), (80, 24)] {
        let t = draw(&mut app, &data, w, h);
        let s = screen(&t);
        assert!(
            s.contains("only inventory-service") && s.contains("hidden (other services)"),
            "{s}"
        );
        assert!(!s.contains("verify jwt"), "{s}");
        insta::assert_snapshot!(format!("trace_only_service_{w}x{h}"), t.backend());
    }
    press(&mut app, &data, KeyCode::Char('v'));
    assert!(screen(&draw(&mut app, &data, 120, 40)).contains("verify jwt"));
}

/// The span pane's absolute times in UTC and in the local zone the loop reads from the
/// system (here set, so the frame is the same on every machine).
#[test]
fn the_span_pane_shows_start_and_end_in_utc_and_local_time() {
    let data = span_with_a_long_detail();
    let mut app = App::new(Playback::Replay);
    app.zone = spantop::units::zone::Zone::fixed("Asia/Kolkata", 5 * 3600 + 1800, "IST");
    press(&mut app, &data, KeyCode::Char('2'));
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Char('j'));
    let at_120 = screen(&draw(&mut app, &data, 120, 40));
    // At 80x24 the pane is short: full-screen (z) shows the times.
    press(&mut app, &data, KeyCode::Char('z'));
    let at_80 = screen(&draw(&mut app, &data, 80, 24));
    for s in [at_120, at_80] {
        for want in [
            "start    2026-01-01T00:00:00.002000000Z",
            "  local  2026-01-01 05:30:00.002 IST",
            "end      2026-01-01T00:00:00.050000000Z",
            "  local  2026-01-01 05:30:00.050 IST",
        ] {
            assert!(s.contains(want), "{want}\n{s}");
        }
    }
}

/// `y` in the span pane goes through the clipboard abstraction: a tool on PATH gets the
/// value on its stdin; without one the terminal gets OSC 52 and the status line says so.
#[test]
fn y_in_the_span_pane_copies_the_value_through_a_tool_or_says_there_is_none() {
    let data = span_with_a_long_detail();
    let mut app = App::new(Playback::Replay);
    press(&mut app, &data, KeyCode::Char('2'));
    press(&mut app, &data, KeyCode::Enter);
    press(&mut app, &data, KeyCode::Char('j'));
    press(&mut app, &data, KeyCode::Tab);
    // Down to the scope line ("scope    io.opentelemetry.jdbc 2.1.0").
    for _ in 0..11 {
        press(&mut app, &data, KeyCode::Char('j'));
    }
    assert_eq!(press(&mut app, &data, KeyCode::Char('y')), Effect::Copy);
    let value = app.clipboard.clone().expect("a value to copy");
    assert_eq!(value, "io.opentelemetry.jdbc 2.1.0");

    let none = tempfile::tempdir().expect("temp dir");
    let mut terminal = Vec::new();
    let status =
        spantop::ui::clipboard::copy_with(&value, Some(none.path().as_os_str()), &mut terminal);
    assert!(status.starts_with("no clipboard tool on PATH"), "{status}");
    assert_eq!(
        String::from_utf8(terminal).expect("utf-8"),
        spantop::ui::clipboard::osc52(&value)
    );

    // A stand-in `xclip` that keeps what it is given.
    let tools = tempfile::tempdir().expect("temp dir");
    let got = tools.path().join("got");
    let script = tools.path().join("xclip");
    std::fs::write(&script, format!("#!/bin/sh\ncat > '{}'\n", got.display())).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut terminal = Vec::new();
    let status =
        spantop::ui::clipboard::copy_with(&value, Some(tools.path().as_os_str()), &mut terminal);
    assert_eq!(status, format!("copied {value} (xclip)"));
    assert!(terminal.is_empty(), "no OSC 52 when a tool took it");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&got).ok().as_deref() != Some(value.as_str()) {
        assert!(Instant::now() < deadline, "the tool never got {value:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A parent on one host and its child on another whose clock runs 20 ms behind, analysed
/// with `--max-clock-skew`: the child is moved inside its parent.
fn skewed_trace(max_clock_skew_ns: Option<u64>) -> ViewData {
    let host = |service: &str, host: &str| {
        Arc::new(Resource::new(vec![
            KeyValue::new("service.name", AnyValue::Str(service.into())),
            KeyValue::new("host.name", AnyValue::Str(host.into())),
        ]))
    };
    let mut parent = hostile_span(1, None, "GET /cart", &host("web", "web-1"));
    parent.start_ns = T0 + 20_000_000;
    parent.end_ns = T0 + 120_000_000;
    let mut child = hostile_span(2, Some(1), "load cart", &host("cart", "cart-1"));
    child.start_ns = T0;
    child.end_ns = T0 + 50_000_000;
    view_data_with(
        vec![parent, child],
        AnalysisConfig {
            max_clock_skew_ns,
            ..AnalysisConfig::default()
        },
    )
}

/// Statistics (`s`) count the same times as the waterfall: with the skew adjustment on both
/// use the shifted trace its findings were computed on.
#[test]
fn trace_statistics_and_the_waterfall_use_the_clock_skew_adjusted_trace() {
    let stats_of = |data: &ViewData| {
        let mut app = App::new(Playback::Replay);
        press(&mut app, data, KeyCode::Char('2'));
        press(&mut app, data, KeyCode::Enter);
        press(&mut app, data, KeyCode::Char('j'));
        let waterfall = screen(&draw(&mut app, data, 120, 40));
        press(&mut app, data, KeyCode::Char('s'));
        press(&mut app, data, KeyCode::Char('g'));
        (waterfall, screen(&draw(&mut app, data, 120, 40)))
    };
    let row = |s: &str, name: &str| {
        s.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} in\n{s}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // As recorded: the child starts 20 ms before its parent; the parent's self time is what
    // the child's 30 ms inside it leave (70 ms).
    let (waterfall, stats) = stats_of(&skewed_trace(None));
    assert!(waterfall.contains("at +0ns"), "{waterfall}");
    assert!(row(&stats, "web GET /cart").contains("70.0ms"), "{stats}");
    // Adjusted: the child sits in the middle of its parent (25 ms from its start), the
    // parent's self time is 50 ms, and the trace is the parent's 100 ms.
    let (waterfall, stats) = stats_of(&skewed_trace(Some(1_000_000_000)));
    assert!(waterfall.contains("at +25.0ms"), "{waterfall}");
    assert!(
        waterfall.contains("start    2026-01-01T00:00:00.045000000Z"),
        "{waterfall}"
    );
    let parent = row(&stats, "web GET /cart");
    assert!(
        parent.contains("50.0ms") && parent.contains("50.0"),
        "{stats}"
    );
    assert!(!parent.contains("70.0ms"), "{stats}");
}

/// `key=value` in the Traces filter finds exactly the traces with a span (or its resource)
/// carrying that value, strings and formatted numbers and booleans alike: the per-trace
/// attribute index only skips traces, it never decides a match.
#[test]
fn key_value_filters_find_what_a_scan_of_the_spans_finds() {
    let data = shop_data();
    let all = data.traces.len();
    let scan = |key: &str, value: &str| {
        data.traces
            .iter()
            .filter(|r| {
                data.trace(r.trace_id).is_some_and(|t| {
                    t.spans.iter().any(|s| {
                        s.attributes
                            .iter()
                            .chain(s.resource.attributes.iter())
                            .any(|kv| kv.key.as_str() == key && kv.value.to_string() == value)
                    })
                })
            })
            .count()
    };
    let mut some = 0;
    for (key, value) in [
        ("http.route", "/orders"),
        ("http.route", "/ord"),
        ("http.response.status_code", "500"),
        ("http.response.status_code", "200"),
        ("cloud.region", "eu-west-1"),
        ("faas.coldstart", "true"),
        ("no.such.key", "x"),
    ] {
        let want = scan(key, value);
        some += usize::from(want > 0);
        let mut app = App::new(Playback::Live);
        press(&mut app, &data, KeyCode::Char('2'));
        press(&mut app, &data, KeyCode::Char('/'));
        type_text(&mut app, &data, &format!("{key}={value}"));
        let s = screen(&draw(&mut app, &data, 120, 40));
        assert!(
            s.contains(&format!("{want}/{all}")),
            "{key}={value}: {want}\n{s}"
        );
    }
    assert!(some >= 4, "the shop's attributes are found: {some}");
}

/// The shop's first 40 requests, and the same store after a late span reopened the first
/// trace and it completed again (a newer version with one more span, child of the root,
/// named `late-span`, carrying `late.key=late-value`).
fn data_before_and_after_a_late_span() -> (ViewData, ViewData, TraceId) {
    let mut shop = Shop::new(ShopConfig::default());
    let mut store = SpanStore::new(StoreConfig::default());
    let base = Instant::now();
    let mut spans = Vec::new();
    for i in 0..40 {
        shop.request(T0 + i * 40_000_000, &mut spans);
    }
    let root = spans
        .iter()
        .find(|s| s.parent_span_id.is_none())
        .cloned()
        .expect("a root");
    store.ingest(Batch::new(spans), base);
    store.complete_all();
    let view = |store: &mut SpanStore| {
        let snapshot = store.snapshot();
        let mut engine = Engine::default();
        for t in snapshot.traces.iter() {
            engine.add_trace(t);
        }
        ViewData::build(snapshot, &engine)
    };
    let before = view(&mut store);
    let mut late = root.clone();
    late.span_id = SpanId::from_u64(0x1a7e).expect("id");
    late.parent_span_id = Some(root.span_id);
    late.name = Sym::new("late-span");
    late.attributes = vec![KeyValue::new(
        "late.key",
        AnyValue::string("late-value".into()),
    )]
    .into();
    store.ingest(Batch::new(vec![late]), base + Duration::from_secs(1));
    store.complete_all();
    let after = view(&mut store);
    let (old, new) = (
        before.trace(root.trace_id).expect("held").version,
        after.trace(root.trace_id).expect("held").version,
    );
    assert!(
        new > old,
        "the late span made a newer version: {old} -> {new}"
    );
    (before, after, root.trace_id)
}

/// The per-trace indexes behind the Traces filter follow a trace's newer version: a value only
/// the late span carries is found once that version arrives, with the filter unchanged.
#[test]
fn the_traces_filter_sees_a_newer_version_of_a_trace() {
    let (before, after, _) = data_before_and_after_a_late_span();
    let all = before.traces.len();
    let mut app = App::new(Playback::Live);
    press(&mut app, &before, KeyCode::Char('2'));
    press(&mut app, &before, KeyCode::Char('/'));
    type_text(&mut app, &before, "late.key=late-value");
    press(&mut app, &before, KeyCode::Enter);
    let s = screen(&draw(&mut app, &before, 120, 40));
    assert!(s.contains(&format!("0/{all}")), "{s}");
    spantop::ui::views::traces::index_names(&after);
    let s = screen(&draw(&mut app, &after, 120, 40));
    assert!(s.contains(&format!("1/{all}")), "{s}");
    // The span's name too (a word of the filter).
    press(&mut app, &after, KeyCode::Char('/'));
    ctrl(&mut app, &after, 'u');
    type_text(&mut app, &after, "late-span");
    let s = screen(&draw(&mut app, &after, 120, 40));
    assert!(s.contains(&format!("1/{all}")), "{s}");
}

/// What the waterfall draws follows the fold state, the service filter and a newer version of
/// the trace, though the rows are kept between frames.
#[test]
fn the_waterfall_redraws_after_a_fold_a_service_filter_and_a_newer_version() {
    let (before, after, id) = data_before_and_after_a_late_span();
    let t = before.trace(id).expect("held");
    let root = t.roots().next().expect("a root").span_id;
    let spans = t.spans.len();
    let mut app = App::new(Playback::Live);
    app.open_trace(spantop::model::SpanRef::new(id, root));
    let count = |s: &str, rows: usize| s.contains(&format!(" 1/{rows} "));
    let s = screen(&draw(&mut app, &before, 160, 60));
    assert!(count(&s, spans), "{spans} rows\n{s}");
    // Enter folds the root: one row; again unfolds it.
    press(&mut app, &before, KeyCode::Enter);
    let s = screen(&draw(&mut app, &before, 160, 60));
    assert!(count(&s, 1), "folded\n{s}");
    press(&mut app, &before, KeyCode::Enter);
    let s = screen(&draw(&mut app, &before, 160, 60));
    assert!(count(&s, spans), "unfolded\n{s}");
    // C collapses all, E expands all.
    press(&mut app, &before, KeyCode::Char('C'));
    let s = screen(&draw(&mut app, &before, 160, 60));
    assert!(count(&s, 1), "collapsed all\n{s}");
    press(&mut app, &before, KeyCode::Char('E'));
    let s = screen(&draw(&mut app, &before, 160, 60));
    assert!(count(&s, spans), "expanded all\n{s}");
    assert!(!s.contains("late-span"), "{s}");
    // The newer version: one more row, the late span's.
    let s = screen(&draw(&mut app, &after, 160, 60));
    assert!(count(&s, spans + 1), "newer version\n{s}");
    assert!(s.contains("late-span"), "{s}");
    // The service filter (`v`: the selected span's service) changes the rows too.
    press(&mut app, &after, KeyCode::Char('v'));
    let s = screen(&draw(&mut app, &after, 160, 60));
    assert!(s.contains("(v: all)") && s.contains("hidden"), "{s}");
    assert!(!count(&s, spans + 1), "only one service\n{s}");
    press(&mut app, &after, KeyCode::Char('v'));
    let s = screen(&draw(&mut app, &after, 160, 60));
    assert!(count(&s, spans + 1), "all services again\n{s}");
}
