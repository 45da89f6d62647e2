//! Drawing one frame: header, tab bar, the current screen, footer, and the help overlay. Reads
//! `ViewData` and `Header`; the only state it writes is scroll offsets and cached row orders,
//! and it never reads the wall clock.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};

use super::app::{App, Tab};
use super::views::trace;
use super::widgets::footer::{self, Footer};
use super::widgets::header::{self, Header};
use super::widgets::{help, tabs};
use crate::analysis::view::ViewData;

/// Every key, for `?` and the README. One table so the help can't drift from the handling.
pub const KEYS: &[(&str, &str)] = &[
    (
        "1-7, Tab, S-Tab",
        "switch tab (Services, Traces, Trace, Cold starts, Fan-out, Hotspots, Map)",
    ),
    ("j/k, ↓/↑", "move; PgDn/PgUp, g/G page, first, last"),
    (
        "Enter",
        "open: a trace, a finding's evidence, a service's traces",
    ),
    (
        "Esc",
        "back to where Enter came from (clears the filter at the start)",
    ),
    (
        "/",
        "filter: words, service=X, KEY=VALUE, duration>250ms, error, coldstart, nplus1, fanout, orphan",
    ),
    ("s / h,l, ←/→", "sort by the next / previous column"),
    ("S or r", "reverse the sort"),
    ("Space", "pause the view (ingest goes on); again to resume"),
    ("Trace: h/←  l/→", "parent / first child (unfolds)"),
    ("Trace: ] [", "next / previous sibling"),
    ("Trace: Enter or c", "fold or unfold the subtree"),
    (
        "Trace: f",
        "follow a link (producer ⇄ consumer trace); again for the next link",
    ),
    ("mouse", "wheel scrolls; click a tab to open it"),
    ("?", "this help (any key closes it)"),
    ("q, Ctrl-C", "quit"),
];

const TRACE_HINTS: &[(&str, &str)] = &[
    ("?", "help"),
    ("j/k", "move"),
    ("h/l", "parent/child"),
    ("]/[", "sibling"),
    ("c", "fold"),
    ("f", "link"),
    ("Esc", "back"),
    ("q", "quit"),
];

const LIST_HINTS: &[(&str, &str)] = &[
    ("?", "help"),
    ("Enter", "open"),
    ("/", "filter"),
    ("s", "sort"),
    ("Space", "pause"),
    ("Esc", "back"),
    ("q", "quit"),
];

impl App {
    /// Draws the whole screen. `&mut self` only for scroll offsets and cached row orders.
    pub fn render(&mut self, frame: &mut Frame, data: &ViewData, header: &Header) {
        let [top, tab_bar, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        header::render(
            frame,
            top,
            header,
            self.source,
            self.paused,
            data.analysis_failures,
            self.listening.as_ref(),
        );
        tabs::render(frame, tab_bar, self.tab);
        match self.tab.list() {
            Some(list) => list
                .view()
                .render(frame, body, &mut self.lists[list as usize], data),
            None => trace::render(frame, body, self.trace.as_mut(), data),
        }
        let hints = if self.tab == Tab::Trace {
            TRACE_HINTS
        } else {
            LIST_HINTS
        };
        footer::render(
            frame,
            bottom,
            &Footer {
                editing: self.editing.as_deref(),
                status: self.status.as_deref(),
                hints,
            },
        );
        if self.help {
            help::render(frame, body, KEYS);
        }
    }
}
