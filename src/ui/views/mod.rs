//! One file per screen. The list tabs each implement `ListView`: where their rows are in
//! `ViewData`, their columns (as typed values), how a row answers the filter, which rows read
//! as a problem, what Enter opens, the default sort and the title. `widgets::table` does the
//! rest for all of them. `trace` is the waterfall screen.

pub mod cold_starts;
pub mod fanout;
pub mod hotspots;
pub mod map;
pub mod map_graph;
pub mod open;
pub mod services;
pub mod trace;
pub mod traces;

use std::borrow::Cow;
use std::cell::RefCell;

use rustc_hash::FxHashMap;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::filter::Term;
use super::widgets::table::{self, Column, ListState, RowId};
use crate::analysis::findings::view::ViewData;
use crate::model::{SpanRef, Sym, TraceId};

/// What Enter on a row leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// A trace in the Trace tab, at this span.
    Trace(SpanRef),
    /// The Traces tab, filtered to one service.
    TracesOf(Sym),
    /// An open trace: no waterfall until it completes.
    Pending(TraceId),
    /// A trace an attached instance lists but this merged view does not hold: the Trace tab
    /// asks for it (`live --attach` fetches it from the instance).
    Fetch(TraceId),
}

/// A screen that is a sortable, filterable table of rows from `ViewData`.
pub trait ListView {
    type Row: 'static;
    fn title(&self, data: &ViewData) -> Cow<'static, str>;
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [Self::Row];
    fn columns(&self) -> &'static [Column<Self::Row>];
    /// (column, descending) the table starts sorted by: the most telling order for each.
    fn default_sort(&self) -> (usize, bool);
    /// Whether the row passes one filter term.
    fn matches(&self, row: &Self::Row, term: &Term, data: &ViewData) -> bool;
    /// Whether the row reads as a problem (drawn in the error colour).
    fn alarming(&self, _row: &Self::Row) -> bool {
        false
    }
    fn open(&self, row: &Self::Row, data: &ViewData) -> Option<Open>;
    /// What an empty table says.
    fn empty(&self) -> &'static str {
        "nothing yet: waiting for complete traces"
    }
    /// What the row is, whatever its place: the selection follows it across new data.
    fn id(&self, row: &Self::Row, data: &ViewData) -> RowId;
}

/// A list view with its row type erased, so `App` can treat every list tab alike.
pub trait AnyList {
    fn column_count(&self) -> usize;
    fn default_sort(&self) -> (usize, bool);
    fn visible_len(&self, state: &mut ListState, data: &ViewData) -> usize;
    fn open_selected(&self, state: &mut ListState, data: &ViewData) -> Option<Open>;
    /// Pins the selected row (after a key moved the cursor).
    fn pin(&self, state: &mut ListState, data: &ViewData);
    fn render(&self, frame: &mut Frame, area: Rect, state: &mut ListState, data: &ViewData);
}

impl<V: ListView> AnyList for V {
    fn column_count(&self) -> usize {
        self.columns().len()
    }
    fn default_sort(&self) -> (usize, bool) {
        ListView::default_sort(self)
    }
    fn visible_len(&self, state: &mut ListState, data: &ViewData) -> usize {
        table::visible_len(self, state, data)
    }
    fn open_selected(&self, state: &mut ListState, data: &ViewData) -> Option<Open> {
        let row = table::selected(self, state, data)?;
        self.open(row, data).or_else(|| match self.id(row, data) {
            // A merged view lists traces the instances hold; opening one fetches it.
            RowId::Trace(id) if !data.instances.is_empty() && data.trace(id).is_none() => {
                Some(Open::Fetch(id))
            }
            RowId::Trace(_) | RowId::Name(_) => None,
        })
    }
    fn pin(&self, state: &mut ListState, data: &ViewData) {
        table::pin(self, state, data);
    }
    fn render(&self, frame: &mut Frame, area: Rect, state: &mut ListState, data: &ViewData) {
        table::draw(frame, area, self, state, data);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListTab {
    Services,
    Traces,
    ColdStarts,
    Fanout,
    Hotspots,
    Map,
    /// The Traces tab's other list (`i`): open traces.
    InProgress,
    /// The Map tab's first mode: the service graph drawn in layers (`v` for the table).
    MapGraph,
}

impl ListTab {
    pub const COUNT: usize = 8;
    pub const ALL: [ListTab; Self::COUNT] = [
        ListTab::Services,
        ListTab::Traces,
        ListTab::ColdStarts,
        ListTab::Fanout,
        ListTab::Hotspots,
        ListTab::Map,
        ListTab::InProgress,
        ListTab::MapGraph,
    ];

    pub fn view(self) -> &'static dyn AnyList {
        match self {
            ListTab::Services => &services::Services,
            ListTab::Traces => &traces::Traces,
            ListTab::ColdStarts => &cold_starts::ColdStarts,
            ListTab::Fanout => &fanout::Fanout,
            ListTab::Hotspots => &hotspots::Hotspots,
            ListTab::Map => &map::Map,
            ListTab::InProgress => &open::OpenTraces,
            ListTab::MapGraph => &map_graph::MapGraph,
        }
    }
}

/// Case-insensitive (ASCII) substring match; `word` is already lower case. Allocates
/// nothing: a filter applies as typed, over every span of every trace.
pub(crate) fn contains(hay: &str, word: &str) -> bool {
    let (h, w) = (hay.as_bytes(), word.as_bytes());
    w.is_empty() || h.windows(w.len()).any(|win| win.eq_ignore_ascii_case(w))
}

/// `contains` for an interned name, remembered per (word, name): a filter word that matches
/// nothing is tested against every span of every held trace (2.4 million at 100,000
/// traces), but against only the few hundred distinct names. The memo is the UI thread's
/// own and starts over when the word changes; interned text never changes.
pub(crate) fn sym_contains(sym: Sym, word: &str) -> bool {
    thread_local! {
        static MEMO: RefCell<(String, FxHashMap<Sym, bool>)> = RefCell::default();
    }
    MEMO.with_borrow_mut(|(memo_word, seen)| {
        if memo_word != word {
            memo_word.clear();
            memo_word.push_str(word);
            seen.clear();
        }
        *seen
            .entry(sym)
            .or_insert_with(|| contains(sym.as_str(), word))
    })
}

/// A row identity from the names that make it.
pub(crate) fn name_id(parts: &[&str]) -> RowId {
    RowId::Name(parts.join("\u{0}"))
}

/// A finding's duration (signed or not) as the nanoseconds the UI prints and filters by.
pub(crate) fn ns(v: impl crate::analysis::aggregate::stats::Nanos) -> u64 {
    v.as_duration_ns()
}
