//! `App`: view state only (tab, selections, sort, filters, the open trace, pause, help), and
//! `handle_key`, which changes it and returns the `Effect` the loop carries out. No I/O here,
//! and data is only read: it arrives as a `ViewData` the loop owns.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rustc_hash::FxHashSet;

use super::filter::Filter;
use super::keymap::{self, Action, Context};
use super::views::{ListTab, Open, trace};
use super::widgets::table::ListState;
use crate::analysis::findings::view::ViewData;
use crate::ingest::listen::Listening;
use crate::model::{SpanId, SpanRef, TraceId};

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

/// Where the data comes from, for the header badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
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
}

impl TraceView {
    pub fn new(trace_id: TraceId, selected: Option<SpanId>) -> Self {
        TraceView {
            trace_id,
            selected,
            collapsed: FxHashSet::default(),
            offset: 0,
            link_cursor: 0,
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
    pub source: Source,
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
    /// The filter being typed after `/`; it applies as typed.
    pub editing: Option<String>,
    /// The filter from before `/`, which Esc puts back.
    before_edit: Filter,
    pub lists: [ListState; ListTab::COUNT],
    pub trace: Option<TraceView>,
    /// One line of feedback (e.g. "linked trace not held"), cleared by the next key.
    pub status: Option<String>,
    back: Vec<Back>,
}

impl App {
    pub fn new(source: Source) -> Self {
        let lists =
            std::array::from_fn(|i| ListState::sorted_by(ListTab::ALL[i].view().default_sort()));
        App {
            tab: Tab::Services,
            source,
            listening: None,
            paused: false,
            help: false,
            help_scroll: 0,
            in_progress: false,
            map_table: false,
            editing: None,
            before_edit: Filter::default(),
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
        if self.editing.is_some() {
            self.prompt_key(key);
            return Effect::None;
        }
        let ctx = if self.current_list().is_some() {
            Context::List
        } else {
            Context::Trace
        };
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
        Effect::None
    }

    /// A key while a filter is typed: the table's filter follows the text at every key; Enter
    /// keeps it, Esc puts back the one from before `/`, Ctrl-U clears the text.
    fn prompt_key(&mut self, key: KeyEvent) {
        let Some(text) = &mut self.editing else {
            return;
        };
        match keymap::lookup(Context::Prompt, &key) {
            Some(Action::ApplyFilter) => {
                self.editing = None;
                return;
            }
            Some(Action::CancelFilter) => {
                self.editing = None;
                let before = std::mem::take(&mut self.before_edit);
                self.set_filter(before);
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
        let filter = Filter::parse(text);
        self.set_filter(filter);
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
        let from = match (self.tab, self.trace.take()) {
            (Tab::Trace, Some(view)) => Back::Trace(Box::new(view)),
            (tab, prev) => {
                self.trace = prev;
                Back::Tab(tab)
            }
        };
        self.back.push(from);
        self.trace = Some(TraceView::new(ev.trace_id, Some(ev.span_id)));
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
        let Some(trace) = data.trace(view.trace_id) else {
            return;
        };
        let rows = trace::rows(trace, &view.collapsed);
        let cur = view
            .selected
            .and_then(|id| rows.iter().position(|r| trace.spans[r.idx].span_id == id))
            .unwrap_or(0);
        let last = rows.len().saturating_sub(1);
        let select_row = |view: &mut TraceView, row: usize| {
            if let Some(r) = rows.get(row) {
                view.selected = Some(trace.spans[r.idx].span_id);
                view.link_cursor = 0;
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
                    if let Some(child) = rows.get(cur + 1).filter(|r| r.depth > rows[cur].depth) {
                        view.selected = Some(trace.spans[child.idx].span_id);
                    }
                }
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
                if data.trace(target.trace_id).is_some() {
                    self.open_trace(target);
                } else {
                    self.status = Some(format!("linked trace {} is not held", target.trace_id));
                }
            }
            _ => {}
        }
    }
}
