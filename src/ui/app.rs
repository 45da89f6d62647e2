//! `App`: view state only (tab, selections, sort, filters, the open trace, pause, help), and
//! `handle_key`, which changes it and returns the `Effect` the loop carries out. No I/O here,
//! and data is only read: it arrives as a `ViewData` the loop owns.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rustc_hash::FxHashSet;

use super::filter::Filter;
use super::keymap::{self, Action, Context};
use super::views::trace::{self, find::Find, stats::StatsView, waterfall};
use super::views::{ListTab, Open};
use super::widgets::table::ListState;
use crate::analysis::findings::view::ViewData;
use crate::ingest::listen::Listening;
use crate::model::{SpanId, SpanRef, Sym, TraceId};
use crate::store::Trace;
use crate::units::zone::Zone;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Services,
    Traces,
    Trace,
    ColdStarts,
    Fanout,
    Hotspots,
    Map,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Services,
        Tab::Traces,
        Tab::Trace,
        Tab::ColdStarts,
        Tab::Fanout,
        Tab::Hotspots,
        Tab::Map,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Services => "Services",
            Tab::Traces => "Traces",
            Tab::Trace => "Trace",
            Tab::ColdStarts => "Cold starts",
            Tab::Fanout => "Fan-out",
            Tab::Hotspots => "Hotspots",
            Tab::Map => "Map",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|&t| t == self).unwrap_or(0)
    }

    pub fn list(self) -> Option<ListTab> {
        match self {
            Tab::Services => Some(ListTab::Services),
            Tab::Traces => Some(ListTab::Traces),
            Tab::Trace => None,
            Tab::ColdStarts => Some(ListTab::ColdStarts),
            Tab::Fanout => Some(ListTab::Fanout),
            Tab::Hotspots => Some(ListTab::Hotspots),
            Tab::Map => Some(ListTab::Map),
        }
    }
}

/// What the TUI shows, for the header badge: spans as they are exported (`live`, `demo`) or
/// files played back (`replay`). Neither `pipeline::Source` (what feeds the pipeline) nor
/// `pipeline::Mode` (a TUI replay runs the pipeline live).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playback {
    /// Receivers take spans as they are exported.
    Live,
    /// Saved files played back; how far is in `Header::replay_progress`.
    Replay,
}

/// What the loop must do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    /// Stop taking new data into the view (ingest goes on).
    Pause,
    Resume,
    /// Put `App::clipboard` on the clipboard and say how in the status line.
    Copy,
}

/// Which pane of the Trace view has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    #[default]
    Waterfall,
    Detail,
}

/// What the text typed at the prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prompt {
    /// A list's filter (`/` on a list tab).
    #[default]
    Filter,
    /// Find in the open trace (`/` on the Trace view).
    Find,
    /// The attribute key trace statistics group by.
    GroupKey,
}

/// The Trace tab: which trace, which span, what is folded.
#[derive(Debug, Clone)]
pub struct TraceView {
    pub trace_id: TraceId,
    pub selected: Option<SpanId>,
    pub collapsed: FxHashSet<SpanId>,
    pub offset: usize,
    /// Which of the selected span's links `f` follows next.
    link_cursor: usize,
    pub focus: Focus,
    /// The span pane's first line shown (wrapped lines).
    pub detail_scroll: usize,
    /// The span pane's line under the cursor (before wrapping): what `y` copies there.
    pub detail_cursor: usize,
    /// The span pane takes the whole body (`z`).
    pub detail_full: bool,
    pub find: Option<Find>,
    /// The zoomed time window `[lo, hi)` in absolute ns; `None` is the whole trace.
    pub window: Option<(u64, u64)>,
    /// Trace statistics shown instead of the waterfall (`s`).
    pub stats: Option<StatsView>,
    /// Only this service's spans and their ancestors; the rest behind "N spans hidden" rows.
    pub only: Option<Sym>,
    /// The trace with its clock-skew shifts, when its analysis made any (`trace::shown`).
    pub(crate) adjusted: Option<Arc<Trace>>,
    /// The waterfall's rows as last built (`trace::layout`), and the critical path and marks
    /// (`trace::overlays`): kept between frames and keys while what they came from is the same.
    pub(crate) layout: Option<Arc<trace::Layout>>,
    pub(crate) overlays: Option<Arc<trace::Overlays>>,
    /// Every span in waterfall order, nothing folded (`trace::order_cached`): what find reads
    /// its matches in, kept per trace version.
    pub(crate) order: Option<(TraceId, u32, Arc<[usize]>)>,
}

impl TraceView {
    pub fn new(trace_id: TraceId, selected: Option<SpanId>) -> Self {
        TraceView {
            trace_id,
            selected,
            collapsed: FxHashSet::default(),
            offset: 0,
            link_cursor: 0,
            focus: Focus::Waterfall,
            detail_scroll: 0,
            detail_cursor: 0,
            detail_full: false,
            find: None,
            window: None,
            stats: None,
            only: None,
            adjusted: None,
            layout: None,
            overlays: None,
            order: None,
        }
    }
}

#[derive(Debug, Clone)]
enum Back {
    Tab(Tab),
    Trace(Box<TraceView>),
}

/// Rows a page key moves.
const PAGE: usize = 20;

#[derive(Debug, Clone)]
pub struct App {
    pub tab: Tab,
    pub playback: Playback,
    /// Where the receivers listen, shown in the header.
    pub listening: Option<Listening>,
    pub paused: bool,
    pub help: bool,
    /// The first help line shown (the help scrolls when taller than the screen).
    pub help_scroll: usize,
    /// The Traces tab shows the open traces (in progress) instead of the complete ones.
    pub in_progress: bool,
    /// The Map tab shows the edge table instead of the layered graph.
    pub map_table: bool,
    /// The text being typed at the prompt (a filter or find applies as typed).
    pub editing: Option<String>,
    pub prompt: Prompt,
    /// The filter from before `/`, which Esc puts back.
    before_edit: Filter,
    /// The selection and folds from before `/` on the Trace view, which Esc at the prompt
    /// puts back (with the find cleared, as Jaeger's Esc clears its highlights).
    before_find: Option<(Option<SpanId>, FxHashSet<SpanId>)>,
    /// What `Effect::Copy` asks the loop to copy.
    pub clipboard: Option<String>,
    /// Local times in the span pane are in this zone: UTC until the loop reads the system's
    /// (`Zone::system`), so tests draw the same frame everywhere.
    pub zone: Zone,
    pub lists: [ListState; ListTab::COUNT],
    pub trace: Option<TraceView>,
    /// One line of feedback (e.g. "linked trace not held"), cleared by the next key.
    pub status: Option<String>,
    back: Vec<Back>,
}

impl App {
    pub fn new(playback: Playback) -> Self {
        let lists =
            std::array::from_fn(|i| ListState::sorted_by(ListTab::ALL[i].view().default_sort()));
        App {
            tab: Tab::Services,
            playback,
            listening: None,
            paused: false,
            help: false,
            help_scroll: 0,
            in_progress: false,
            map_table: false,
            editing: None,
            prompt: Prompt::Filter,
            before_edit: Filter::default(),
            before_find: None,
            clipboard: None,
            zone: Zone::utc(),
            lists,
            trace: None,
            status: None,
            back: Vec::new(),
        }
    }

    /// The list on screen: the tab's, or on Traces the open traces after `i`.
    pub fn current_list(&self) -> Option<ListTab> {
        match self.tab.list() {
            Some(ListTab::Traces) if self.in_progress => Some(ListTab::InProgress),
            Some(ListTab::Map) if !self.map_table => Some(ListTab::MapGraph),
            other => other,
        }
    }

    pub fn list(&self, tab: ListTab) -> &ListState {
        &self.lists[tab as usize]
    }

    pub fn list_mut(&mut self, tab: ListTab) -> &mut ListState {
        &mut self.lists[tab as usize]
    }

    pub fn handle_key(&mut self, key: KeyEvent, data: &ViewData) -> Effect {
        self.status = None;
        self.clipboard = None;
        if self.editing.is_some() {
            self.prompt_key(key, data);
            return Effect::None;
        }
        let ctx = self.context();
        let action = keymap::lookup(ctx, &key);
        if self.help {
            // Moving keys scroll the help; any other key closes it; quit still quits.
            let s = &mut self.help_scroll;
            match action {
                Some(Action::Down) => *s += 1,
                Some(Action::Up) => *s = s.saturating_sub(1),
                Some(Action::PageDown) => *s += PAGE / 2,
                Some(Action::PageUp) => *s = s.saturating_sub(PAGE / 2),
                Some(Action::First) => *s = 0,
                Some(Action::Last) => *s = usize::MAX,
                Some(Action::Quit) => return Effect::Quit,
                _ => self.help = false,
            }
            return Effect::None;
        }
        let Some(action) = action else {
            return Effect::None;
        };
        match action {
            Action::Quit => return Effect::Quit,
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::Pause => {
                self.paused = !self.paused;
                return if self.paused {
                    Effect::Pause
                } else {
                    Effect::Resume
                };
            }
            Action::Tab(i) => {
                if let Some(&tab) = Tab::ALL.get(i) {
                    self.switch(tab);
                }
            }
            Action::NextTab => self.switch(Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()]),
            Action::PrevTab => {
                self.switch(Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]);
            }
            Action::Back => self.go_back(),
            _ => match self.current_list() {
                Some(tab) => self.list_action(tab, action, data),
                None => self.trace_action(action, data),
            },
        }
        if self.clipboard.is_some() {
            return Effect::Copy;
        }
        Effect::None
    }

    /// Where keys are read now: a list, the Trace view, or its statistics.
    pub fn context(&self) -> Context {
        if self.current_list().is_some() {
            Context::List
        } else if self.trace.as_ref().is_some_and(|v| v.stats.is_some()) {
            Context::Stats
        } else {
            Context::Trace
        }
    }

    /// A key at the prompt. A filter or find follows the text at every key; Enter keeps it,
    /// Esc puts back the one from before `/`, Ctrl-U clears the text. A group-by key is
    /// taken on Enter.
    fn prompt_key(&mut self, key: KeyEvent, data: &ViewData) {
        let Some(text) = &mut self.editing else {
            return;
        };
        match keymap::lookup(Context::Prompt, &key) {
            Some(Action::ApplyFilter) => {
                let text = self.editing.take().unwrap_or_default();
                if self.prompt == Prompt::GroupKey
                    && let Some(stats) = self.trace.as_mut().and_then(|v| v.stats.as_mut())
                {
                    stats.group_by_attribute(text.trim());
                }
                return;
            }
            Some(Action::CancelFilter) => {
                self.editing = None;
                match self.prompt {
                    Prompt::Filter => {
                        let before = std::mem::take(&mut self.before_edit);
                        self.set_filter(before);
                    }
                    Prompt::Find => {
                        if let Some(view) = &mut self.trace {
                            view.find = None;
                            if let Some((selected, collapsed)) = self.before_find.take() {
                                view.selected = selected;
                                view.collapsed = collapsed;
                            }
                        }
                    }
                    Prompt::GroupKey => {
                        if let Some(stats) = self.trace.as_mut().and_then(|v| v.stats.as_mut()) {
                            stats.group_by_attribute("");
                        }
                    }
                }
                return;
            }
            Some(Action::Erase) => {
                text.pop();
            }
            Some(Action::ClearFilter) => text.clear(),
            _ => match key.code {
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    text.push(c);
                }
                _ => return,
            },
        }
        let text = text.clone();
        match self.prompt {
            Prompt::Filter => self.set_filter(Filter::parse(&text)),
            Prompt::Find => self.set_find(&text, data),
            Prompt::GroupKey => {}
        }
    }

    /// Finds `text` in the open trace: its matches unfolded, the first drawn one selected.
    fn set_find(&mut self, text: &str, data: &ViewData) {
        let Some(view) = &mut self.trace else { return };
        let Some(t) = trace::shown(data, view.trace_id, &mut view.adjusted) else {
            return;
        };
        if text.trim().is_empty() {
            view.find = None;
            return;
        }
        let visible = trace::visible(&t, view.only);
        let narrowed = view
            .find
            .as_ref()
            .filter(|prev| prev.fits(&t, view.only))
            .and_then(|prev| prev.narrowed(text, &t, visible.as_deref()));
        let find = narrowed.unwrap_or_else(|| {
            let order = trace::order_cached(&mut view.order, &t);
            let mut find = Find::new(text, &t, &order, visible.as_deref());
            find.only = view.only;
            find
        });
        trace::unfold_all(&t, &mut view.collapsed, &find.matches);
        if let Some(&first) = find.matches.first() {
            view.selected = Some(first);
            view.detail_scroll = 0;
            view.detail_cursor = 0;
        }
        view.find = Some(find);
    }

    /// Sets the current table's filter (when it changed), from the top.
    fn set_filter(&mut self, filter: Filter) {
        if let Some(tab) = self.current_list() {
            let list = self.list_mut(tab);
            // The pinned row stays selected if it passes; else the first row (`ListState`).
            list.filter = filter;
        }
    }

    fn switch(&mut self, tab: Tab) {
        if tab != self.tab {
            self.back.push(Back::Tab(self.tab));
            self.tab = tab;
        }
    }

    fn go_back(&mut self) {
        // On the Trace view Esc first undoes what is laid over the waterfall.
        if self.tab == Tab::Trace
            && let Some(view) = &mut self.trace
        {
            if view.stats.take().is_some()
                || view.find.take().is_some()
                || view.only.take().is_some()
            {
                return;
            }
            if view.detail_full {
                view.detail_full = false;
                view.focus = Focus::Waterfall;
                return;
            }
        }
        match self.back.pop() {
            Some(Back::Tab(tab)) => self.tab = tab,
            Some(Back::Trace(view)) => {
                self.trace = Some(*view);
                self.tab = Tab::Trace;
            }
            None => {
                // Nothing to go back to: Esc clears the table's filter instead.
                if let Some(tab) = self.current_list() {
                    self.list_mut(tab).filter = Filter::default();
                }
            }
        }
    }

    /// Opens a trace in the Trace tab, remembering where we came from for Esc.
    pub fn open_trace(&mut self, ev: SpanRef) {
        self.open_trace_at(ev.trace_id, Some(ev.span_id));
    }

    /// The Trace tab on `trace_id`, at `span` (the root when `None`); Back returns here.
    fn open_trace_at(&mut self, trace_id: TraceId, span: Option<SpanId>) {
        let from = match (self.tab, self.trace.take()) {
            (Tab::Trace, Some(view)) => Back::Trace(Box::new(view)),
            (tab, prev) => {
                self.trace = prev;
                Back::Tab(tab)
            }
        };
        self.back.push(from);
        self.trace = Some(TraceView::new(trace_id, span));
        self.tab = Tab::Trace;
    }

    fn list_action(&mut self, tab: ListTab, action: Action, data: &ViewData) {
        let view = tab.view();
        let len = view.visible_len(self.list_mut(tab), data);
        let columns = view.column_count();
        let list = self.list_mut(tab);
        let last = len.saturating_sub(1);
        match action {
            Action::Down
            | Action::Up
            | Action::PageDown
            | Action::PageUp
            | Action::First
            | Action::Last => {
                list.selected = match action {
                    Action::Down => (list.selected + 1).min(last),
                    Action::Up => list.selected.saturating_sub(1),
                    Action::PageDown => (list.selected + PAGE).min(last),
                    Action::PageUp => list.selected.saturating_sub(PAGE),
                    Action::First => 0,
                    _ => last,
                };
                view.pin(list, data);
            }
            Action::SortNext => {
                list.sort = (list.sort + 1) % columns;
            }
            Action::SortPrev => {
                list.sort = (list.sort + columns - 1) % columns;
            }
            Action::Reverse => list.descending = !list.descending,
            Action::InProgress => match tab {
                ListTab::Traces | ListTab::InProgress => self.in_progress = !self.in_progress,
                _ => self.status = Some("i switches the Traces tab to open traces".into()),
            },
            Action::MapMode => match tab {
                ListTab::Map | ListTab::MapGraph => self.map_table = !self.map_table,
                _ => self.status = Some("v switches the Map tab between graph and table".into()),
            },
            Action::Filter => {
                self.before_edit = self.list(tab).filter.clone();
                self.editing = Some(self.before_edit.text().to_owned());
                self.prompt = Prompt::Filter;
            }
            Action::Open => match view.open_selected(self.list_mut(tab), data) {
                Some(Open::Trace(ev)) => self.open_trace(ev),
                Some(Open::TracesOf(service)) => {
                    self.switch(Tab::Traces);
                    self.in_progress = false;
                    let traces = self.list_mut(ListTab::Traces);
                    traces.filter = Filter::parse(&format!("service={service}"));
                    traces.to_top();
                }
                Some(Open::Fetch(id)) => self.open_trace_at(id, None),
                Some(Open::Pending(id)) => {
                    self.status = Some(format!(
                        "trace {id} is still open: it reaches Traces once it completes"
                    ));
                }
                None => self.status = Some("nothing to open here".into()),
            },
            _ => {}
        }
    }

    fn trace_action(&mut self, action: Action, data: &ViewData) {
        let Some(view) = &mut self.trace else {
            return;
        };
        let Some(trace) = trace::shown(data, view.trace_id, &mut view.adjusted) else {
            return;
        };
        if let Some(stats) = &mut view.stats {
            match action {
                Action::Down => stats.scroll += 1,
                Action::Up => stats.scroll = stats.scroll.saturating_sub(1),
                Action::PageDown => stats.scroll += PAGE,
                Action::PageUp => stats.scroll = stats.scroll.saturating_sub(PAGE),
                Action::First => stats.scroll = 0,
                Action::Last => stats.scroll = usize::MAX,
                Action::Stats => view.stats = None,
                Action::Group if stats.next_grouping() => {
                    self.editing = Some(stats.last_key.clone());
                    self.prompt = Prompt::GroupKey;
                }
                _ => {}
            }
            return;
        }
        if view.focus == Focus::Detail || view.detail_full {
            // Moving keys move the pane's cursor; the rest act on the trace as from the
            // waterfall. Past the end is clamped when the pane is drawn.
            let s = &mut view.detail_cursor;
            match action {
                Action::Down => *s = s.saturating_add(1),
                Action::Up => *s = s.saturating_sub(1),
                Action::PageDown => *s = s.saturating_add(PAGE / 2),
                Action::PageUp => *s = s.saturating_sub(PAGE / 2),
                Action::First => *s = 0,
                Action::Last => *s = usize::MAX,
                Action::Parent | Action::Focus if !view.detail_full => {
                    view.focus = Focus::Waterfall;
                }
                Action::ToggleFull => {
                    view.detail_full = !view.detail_full;
                    view.focus = if view.detail_full {
                        Focus::Detail
                    } else {
                        Focus::Waterfall
                    };
                }
                Action::Copy => {
                    let line = pane_lines(&trace, view, data, &self.zone).and_then(|lines| {
                        let last = lines.len().saturating_sub(1);
                        lines.into_iter().nth(view.detail_cursor.min(last))
                    });
                    match line.and_then(|l| l.copy) {
                        Some(value) => self.clipboard = Some(value),
                        None => self.status = Some("nothing to copy on this line".into()),
                    }
                }
                Action::Parent | Action::Focus | Action::Child => {}
                _ => return self.waterfall_action(action, data, &trace),
            }
            return;
        }
        self.waterfall_action(action, data, &trace);
    }

    /// A key on the Trace view that is not the span pane's own; `trace` is the open one as
    /// shown (`trace::shown`).
    fn waterfall_action(&mut self, action: Action, data: &ViewData, trace: &trace::Shown) {
        let Some(view) = &mut self.trace else {
            return;
        };
        let before = view.selected;
        let layout = trace::layout(&mut view.layout, trace, &view.collapsed, view.only);
        let rows = &layout.rows;
        let cur = view.selected.and_then(|id| layout.row_of(id)).unwrap_or(0);
        let last = rows.len().saturating_sub(1);
        let select_row = |view: &mut TraceView, row: usize| {
            if let Some(r) = rows.get(row) {
                view.selected = Some(trace.spans[r.idx].span_id);
            }
        };
        let selected = rows.get(cur).map(|r| &trace.spans[r.idx]);
        match action {
            Action::Down => select_row(view, (cur + 1).min(last)),
            Action::Up => select_row(view, cur.saturating_sub(1)),
            Action::PageDown => select_row(view, (cur + PAGE).min(last)),
            Action::PageUp => select_row(view, cur.saturating_sub(PAGE)),
            Action::First => select_row(view, 0),
            Action::Last => select_row(view, last),
            Action::Parent => {
                if let Some(p) = selected.and_then(|s| s.parent_span_id)
                    && trace.span(p).is_some()
                {
                    view.selected = Some(p);
                }
            }
            Action::Child => {
                if let Some(s) = selected {
                    if view.collapsed.remove(&s.span_id) {
                        return;
                    }
                    match rows.get(cur + 1).filter(|r| r.depth > rows[cur].depth) {
                        Some(child) => view.selected = Some(trace.spans[child.idx].span_id),
                        // A leaf: right goes on into the span pane.
                        None => view.focus = Focus::Detail,
                    }
                }
            }
            Action::Focus => view.focus = Focus::Detail,
            Action::ToggleFull => {
                view.detail_full = true;
                view.focus = Focus::Detail;
            }
            Action::Copy => {
                self.clipboard = view
                    .selected
                    .or(selected.map(|s| s.span_id))
                    .map(|id| id.to_string())
            }
            Action::NextSibling | Action::PrevSibling => {
                let forward = action == Action::NextSibling;
                if let Some(s) = selected {
                    let siblings: Vec<SpanId> = rows
                        .iter()
                        .map(|r| &trace.spans[r.idx])
                        .filter(|o| o.parent_span_id == s.parent_span_id)
                        .map(|o| o.span_id)
                        .collect();
                    if let Some(i) = siblings.iter().position(|&id| id == s.span_id) {
                        let j = if forward {
                            (i + 1).min(siblings.len() - 1)
                        } else {
                            i.saturating_sub(1)
                        };
                        view.selected = Some(siblings[j]);
                    }
                }
            }
            Action::Fold => {
                if let Some(s) = selected
                    && rows[cur].children > 0
                    && !view.collapsed.remove(&s.span_id)
                {
                    view.collapsed.insert(s.span_id);
                }
            }
            Action::ExpandAll => view.collapsed.clear(),
            Action::CollapseAll => {
                view.collapsed = trace::rows(trace, &FxHashSet::default(), None)
                    .iter()
                    .filter(|r| r.children > 0)
                    .map(|r| trace.spans[r.idx].span_id)
                    .collect();
                // The selection moves to its root, the one row of it left.
                let mut at = selected.map(|s| s.span_id);
                for _ in 0..trace.spans.len() {
                    match at
                        .and_then(|id| trace.span(id))
                        .and_then(|s| s.parent_span_id)
                    {
                        Some(p) if trace.span(p).is_some() => at = Some(p),
                        _ => break,
                    }
                }
                view.selected = at;
            }
            Action::Find => {
                self.before_find = Some((view.selected, view.collapsed.clone()));
                self.editing = Some(
                    view.find
                        .as_ref()
                        .map(|f| f.text.clone())
                        .unwrap_or_default(),
                );
                self.prompt = Prompt::Find;
            }
            Action::NextMatch | Action::PrevMatch => {
                let Some(prev) = view.find.take() else {
                    self.status = Some("/ finds spans in this trace; n, N go through them".into());
                    return;
                };
                // Found again only when the trace grew or `v` changed since (matches `v`
                // hides are skipped): each n ran the find over every span again (55 ms a key
                // at 100,000 spans).
                let mut find = if prev.fits(trace, view.only) {
                    prev
                } else {
                    let visible = trace::visible(trace, view.only);
                    let mut f =
                        Find::new(&prev.text, trace, &trace::order(trace), visible.as_deref());
                    f.only = view.only;
                    f
                };
                let text = find.text.clone();
                if find.matches.is_empty() {
                    self.status = Some(match find.hidden {
                        0 => format!("no span matches {text}"),
                        n => format!("{n} spans match {text}, all hidden by v (v again shows all)"),
                    });
                    view.find = Some(find);
                    return;
                }
                let n = find.matches.len();
                let here = selected.map(|s| s.span_id);
                find.current = match find.matches.iter().position(|&m| Some(m) == here) {
                    Some(i) if action == Action::NextMatch => (i + 1) % n,
                    Some(i) => (i + n - 1) % n,
                    None => {
                        // From a span that is no match: the nearest one below (or above).
                        let order = trace::order(trace);
                        let at = order
                            .iter()
                            .position(|&i| Some(trace.spans[i].span_id) == here)
                            .unwrap_or(0);
                        let set = find.set();
                        let below = order[at..]
                            .iter()
                            .map(|&i| trace.spans[i].span_id)
                            .find(|id| set.contains(id))
                            .and_then(|id| find.matches.iter().position(|&m| m == id));
                        match (action == Action::NextMatch, below) {
                            (true, Some(i)) => i,
                            (true, None) => 0,
                            (false, Some(i)) => (i + n - 1) % n,
                            (false, None) => n - 1,
                        }
                    }
                };
                let target = find.matches[find.current];
                trace::unfold_to(trace, &mut view.collapsed, target);
                view.selected = Some(target);
                view.find = Some(find);
            }
            Action::ZoomIn | Action::ZoomOut | Action::PanLeft | Action::PanRight => {
                let (t0, t1) = (
                    layout.start_ns,
                    layout.start_ns + layout.duration_ns().max(1),
                );
                let (lo, hi) = waterfall::window(&layout, view);
                let w = hi - lo;
                let (centre, w) = match action {
                    Action::ZoomIn => {
                        let c = selected.filter(|s| s.start_ns > 0).map_or(lo + w / 2, |s| {
                            s.start_ns.saturating_add(s.duration_ns() / 2)
                        });
                        (c, (w / 2).max(1))
                    }
                    Action::ZoomOut => (lo + w / 2, w.saturating_mul(2)),
                    Action::PanLeft => (lo + w / 2 - (w / 4).min(lo + w / 2 - t0), w),
                    _ => (lo + w / 2 + w / 4, w),
                };
                view.window = if w >= t1 - t0 {
                    None
                } else {
                    let lo = centre.saturating_sub(w / 2).clamp(t0, t1 - w);
                    Some((lo, lo + w))
                };
            }
            Action::ResetZoom => view.window = None,
            Action::OnlyService => {
                let svc = selected.map(|s| s.service());
                view.only = if view.only == svc { None } else { svc };
                // The find's count follows what is drawn.
                if let Some(text) = view.find.as_ref().map(|f| f.text.clone()) {
                    let visible = trace::visible(trace, view.only);
                    let mut find =
                        Find::new(&text, trace, &trace::order(trace), visible.as_deref());
                    find.only = view.only;
                    view.find = Some(find);
                }
            }
            Action::Stats => view.stats = Some(StatsView::default()),
            Action::FollowLink => {
                let Some(s) = selected else { return };
                let mut targets: Vec<SpanRef> = s
                    .links
                    .iter()
                    .map(|l| SpanRef::new(l.trace_id, l.span_id))
                    .collect();
                if targets.is_empty() {
                    targets = data.linked_from(trace.trace_id, s.span_id);
                }
                if targets.is_empty() {
                    self.status = Some("this span has no links".into());
                    return;
                }
                let target = targets[view.link_cursor % targets.len()];
                view.link_cursor += 1;
                // A merged view (`live --attach`) fetches a linked trace it does not hold.
                if data.trace(target.trace_id).is_some() || !data.instances.is_empty() {
                    self.open_trace(target);
                } else {
                    self.status = Some(format!("linked trace {} is not held", target.trace_id));
                }
                return;
            }
            _ => {}
        }
        if view.selected != before {
            view.detail_scroll = 0;
            view.detail_cursor = 0;
            view.link_cursor = 0;
        }
    }
}

/// The span pane's lines for the selected span of `view` (the first row's when none is).
fn pane_lines(
    t: &trace::Shown,
    view: &mut TraceView,
    data: &ViewData,
    zone: &Zone,
) -> Option<Vec<trace::detail::PaneLine>> {
    let layout = trace::layout(&mut view.layout, t, &view.collapsed, view.only);
    // The row the pane is drawn for (`trace::render`).
    let at = view.selected.and_then(|id| layout.row_of(id)).unwrap_or(0);
    let row = layout.rows.get(at)?;
    let over = trace::overlays(&mut view.overlays, data.trace_findings_arc(t.trace_id));
    Some(trace::detail::lines(
        t,
        &layout,
        &t.spans[row.idx],
        &over.critical,
        data,
        zone,
    ))
}
