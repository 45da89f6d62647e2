//! Drawing one frame: header, tab bar, the current tab, footer, and the help overlay. Reads
//! `ViewData` and `Header`; the only state it writes is scroll offsets (to keep the selection
//! in view), and it never reads the wall clock.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs};

use super::app::{App, Source, Tab};
use super::text::clean;
use super::{tables, theme, waterfall};
use crate::analysis::view::ViewData;
use crate::ingest::IngestStats;
use crate::store::StoreStats;

/// Counters for the header, measured by the loop (rates need a clock; render has none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Header {
    pub spans_per_sec: f64,
    pub store: StoreStats,
    pub ingest: IngestStats,
    /// Share of the replayed spans sent so far.
    pub replay_progress: Option<f64>,
}

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

/// The screen row of the tab bar (under the header).
pub const TAB_BAR_ROW: u16 = 1;

/// Which tab's title is at `column` of the tab bar, laid out as `render` draws it:
/// "1 Services│2 Traces│...".
pub fn tab_at(column: u16) -> Option<usize> {
    let mut x = 0u16;
    for (i, t) in Tab::ALL.iter().enumerate() {
        let w = (t.title().chars().count() + 2) as u16;
        if column < x + w {
            return Some(i);
        }
        x += w + 1; // the divider
    }
    None
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl App {
    /// Draws the whole screen. `&mut self` only for scroll offsets.
    pub fn render(&mut self, frame: &mut Frame, data: &ViewData, header: &Header) {
        let area = frame.area();
        let [top, tabs, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_header(frame, top, header, data.analysis_failures);
        let titles = Tab::ALL
            .iter()
            .enumerate()
            .map(|(i, t)| Line::from(format!("{} {}", i + 1, t.title())));
        let selected = Tab::ALL.iter().position(|&t| t == self.tab).unwrap_or(0);
        frame.render_widget(
            Tabs::new(titles)
                .select(selected)
                .divider("│")
                .padding("", "")
                .highlight_style(theme::KEY.add_modifier(Modifier::REVERSED)),
            tabs,
        );
        match self.tab.list() {
            Some(list) => tables::render(frame, body, list, &mut self.lists[list as usize], data),
            None => waterfall::render(frame, body, self.trace.as_mut(), data),
        }
        self.render_footer(frame, footer);
        if self.help {
            render_help(frame, body);
        }
    }

    fn render_header(&self, frame: &mut Frame, area: Rect, h: &Header, analysis_failures: usize) {
        let badge = match self.source {
            Source::Live => {
                TextSpan::styled(" LIVE ", Style::new().bg(Color::Green).fg(Color::Black))
            }
            Source::Replay => TextSpan::styled(
                match h.replay_progress {
                    Some(p) => format!(" REPLAY {:.0}% ", p * 100.0),
                    None => " REPLAY ".to_owned(),
                },
                Style::new().bg(Color::Blue).fg(Color::White),
            ),
        };
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut spans = vec![TextSpan::styled(" spantop ", theme::TITLE), badge];
        // Next to the source badge, so it survives a narrow terminal.
        if self.paused {
            spans.push(TextSpan::styled(
                " PAUSED ",
                Style::new().bg(Color::Yellow).fg(Color::Black),
            ));
        }
        spans.extend([TextSpan::raw(format!(
            " {} spans/s │ {} traces │ {:.0}/{:.0} MiB │ ",
            thousands(h.spans_per_sec.round() as u64),
            thousands(h.store.traces_held),
            mib(h.store.memory_bytes),
            mib(h.store.max_memory_bytes),
        ))]);
        let drops = h.ingest.spans_rejected + h.ingest.requests_throttled + h.store.evicted_traces;
        spans.push(TextSpan::styled(
            format!(
                "rej {} thr {} evict {}",
                h.ingest.spans_rejected, h.ingest.requests_throttled, h.store.evicted_traces
            ),
            if drops > 0 { theme::ERROR } else { theme::DIM },
        ));
        // Shown only once a limit was hit, so the usual header stays as short as it was.
        let cut = h.ingest.limit_hits() + h.store.spans_over_trace_limit;
        if cut > 0 {
            spans.push(TextSpan::styled(format!(" limit {cut}"), theme::ERROR));
        }
        // Shown only when it happened: each failure is a trace left out of every tab.
        if analysis_failures > 0 {
            spans.push(TextSpan::styled(
                format!(" │ analysis failures {analysis_failures}"),
                theme::ERROR,
            ));
        }
        // Last: on a narrow terminal the counters matter more (serve/live/demo print it too).
        if let Some(at) = &self.listening {
            spans.push(TextSpan::styled(format!(" │ {}", at.short()), theme::DIM));
        }
        frame.render_widget(Line::from(spans), area);
    }

    fn render_footer(&self, frame: &mut Frame, area: Rect) {
        let line = if let Some(text) = &self.editing {
            Line::from(vec![
                TextSpan::styled("/", theme::KEY),
                TextSpan::raw(clean(text).into_owned()),
                TextSpan::styled("█", theme::DIM),
                TextSpan::styled("  Enter apply  Esc cancel", theme::DIM),
            ])
        } else if let Some(status) = &self.status {
            Line::styled(clean(status).into_owned(), Style::new().fg(Color::Yellow))
        } else {
            let hints: &[(&str, &str)] = if self.tab == Tab::Trace {
                &[
                    ("?", "help"),
                    ("j/k", "move"),
                    ("h/l", "parent/child"),
                    ("]/[", "sibling"),
                    ("c", "fold"),
                    ("f", "link"),
                    ("Esc", "back"),
                    ("q", "quit"),
                ]
            } else {
                &[
                    ("?", "help"),
                    ("Enter", "open"),
                    ("/", "filter"),
                    ("s", "sort"),
                    ("Space", "pause"),
                    ("Esc", "back"),
                    ("q", "quit"),
                ]
            };
            Line::from(
                hints
                    .iter()
                    .flat_map(|(k, d)| {
                        [
                            TextSpan::styled(format!(" {k}"), theme::KEY),
                            TextSpan::styled(format!(" {d}"), theme::DIM),
                        ]
                    })
                    .collect::<Vec<_>>(),
            )
        };
        frame.render_widget(line, area);
    }
}

fn render_help(frame: &mut Frame, area: Rect) {
    let w = area.width.min(100);
    let h = (KEYS.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let key_w = KEYS
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                TextSpan::styled(format!(" {k:<key_w$} "), theme::KEY),
                TextSpan::raw(*d),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(TextSpan::styled(" Keys ", theme::TITLE)),
        ),
        popup,
    );
}
