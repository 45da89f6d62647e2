//! The span pane: everything about the selected span, wrapped to the pane's width. Once it has
//! the focus j/k move a cursor over its lines (the pane scrolls to keep it in view) and `y`
//! copies the value under it; `z` gives the pane the whole body.

use rustc_hash::FxHashSet;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthChar;

use crate::analysis::findings::view::ViewData;
use crate::model::{AnyValue, KeyValue, Span, SpanId, SpanKind, StatusCode};
use crate::store::Trace;
use crate::ui::app::{Focus, TraceView};
use crate::ui::text::{clean, dur};
use crate::ui::theme;
use crate::units::utc;
use crate::units::zone::Zone;

fn value_text(v: &AnyValue) -> String {
    clean(&v.to_string()).into_owned()
}

/// One line of the pane and what `y` copies when the cursor is on it (the value as sent,
/// not as made safe for the screen).
#[derive(Debug, Clone)]
pub struct PaneLine {
    pub line: Line<'static>,
    pub copy: Option<String>,
}

impl PaneLine {
    fn new(line: Line<'static>, copy: Option<String>) -> Self {
        PaneLine { line, copy }
    }

    /// A heading or note: nothing to copy.
    fn plain(line: Line<'static>) -> Self {
        PaneLine { line, copy: None }
    }
}

fn kv_lines(out: &mut Vec<PaneLine>, attrs: &[KeyValue], indent: &str) {
    for kv in attrs {
        out.push(PaneLine::new(
            Line::from(vec![
                TextSpan::styled(format!("{indent}{}", clean(kv.key.as_str())), theme::DIM),
                TextSpan::raw(" = "),
                TextSpan::raw(value_text(&kv.value)),
            ]),
            Some(kv.value.to_string()),
        ));
    }
}

/// A labelled field whose value is what `y` copies.
fn field(name: &str, value: String) -> PaneLine {
    let line = Line::from(vec![
        TextSpan::styled(format!("{name:<9}"), theme::DIM),
        TextSpan::raw(clean(&value).into_owned()),
    ]);
    PaneLine::new(line, Some(value))
}

/// Every line the pane shows for `s`, before wrapping; absolute times in UTC and in `zone`.
pub fn lines(
    t: &Trace,
    layout: &super::Layout,
    s: &Span,
    critical: &FxHashSet<SpanId>,
    data: &ViewData,
    zone: &Zone,
) -> Vec<PaneLine> {
    let colour = theme::service(s.service().as_str());
    let mut lines = vec![
        PaneLine::new(
            Line::styled(
                clean(s.name.as_str()).into_owned(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Some(s.name.as_str().to_owned()),
        ),
        PaneLine::new(
            Line::from(vec![
                TextSpan::styled(
                    clean(s.service().as_str()).into_owned(),
                    Style::default().fg(colour),
                ),
                TextSpan::raw(format!("  {}", s.kind.as_str())),
                if critical.contains(&s.span_id) {
                    TextSpan::styled("  on critical path", theme::CRITICAL)
                } else {
                    TextSpan::raw("")
                },
            ]),
            Some(s.service().as_str().to_owned()),
        ),
        field(
            "took",
            format!(
                "{}  at +{}",
                dur(s.duration_ns()),
                dur(s.start_ns.saturating_sub(t.start_ns()))
            ),
        ),
    ];
    match s.status.code {
        StatusCode::Error => {
            let message = s.status.message.as_deref().unwrap_or_default();
            lines.push(PaneLine::new(
                Line::styled(
                    format!("{:<9}ERROR {}", "status", clean(message)),
                    theme::ERROR,
                ),
                Some(format!("ERROR {message}").trim_end().to_owned()),
            ));
        }
        StatusCode::Ok => lines.push(field("status", "OK".into())),
        StatusCode::Unset => lines.push(field("status", "unset".into())),
    }
    lines.push(field("span", s.span_id.to_string()));
    lines.push(match s.parent_span_id {
        None => PaneLine::plain(field("parent", "none (root)".into()).line),
        Some(p) if !layout.holds(p) => PaneLine::new(
            field("parent", format!("{p} (not in the trace)")).line,
            Some(p.to_string()),
        ),
        Some(p) => field("parent", p.to_string()),
    });
    lines.push(field("trace", s.trace_id.to_string()));
    for (name, at) in [("start", s.start_ns), ("end", s.end_ns)] {
        lines.push(field(name, utc(at)));
        lines.push(field("  local", zone.local(at)));
    }
    let scope = match (&*s.scope.name, s.scope.version.as_deref()) {
        ("", _) => None,
        (name, Some(v)) => Some(format!("{name} {v}")),
        (name, None) => Some(name.to_owned()),
    };
    lines.push(match scope {
        Some(scope) => field("scope", scope),
        None => PaneLine::plain(field("scope", "none".into()).line),
    });
    let heading = |text: String| PaneLine::plain(Line::styled(text, theme::HEADER));
    if !s.attributes.is_empty() {
        lines.push(heading(format!("Attributes ({})", s.attributes.len())));
        kv_lines(&mut lines, &s.attributes, " ");
    }
    if !s.events.is_empty() {
        lines.push(heading(format!("Events ({})", s.events.len())));
        for e in s.events.iter() {
            lines.push(PaneLine::new(
                Line::raw(format!(
                    " +{} {}",
                    dur(e.time_ns.saturating_sub(t.start_ns())),
                    clean(&e.name)
                )),
                Some(e.name.to_string()),
            ));
            kv_lines(&mut lines, &e.attributes, "   ");
        }
    }
    let logs = t.logs_of(s.span_id);
    if !logs.is_empty() {
        lines.push(heading("Logs".into()));
        for l in logs {
            lines.push(PaneLine::new(
                Line::raw(format!(
                    " +{} {} {}",
                    dur(l.time_ns.saturating_sub(t.start_ns())),
                    clean(&l.severity),
                    clean(&l.body)
                )),
                Some(l.body.to_string()),
            ));
        }
    }
    if !s.links.is_empty() {
        lines.push(PaneLine::plain(Line::from(vec![
            TextSpan::styled("Links", theme::HEADER),
            TextSpan::styled("  (f follows)", theme::DIM),
        ])));
        for l in s.links.iter() {
            let held = if data.trace(l.trace_id).is_some() {
                ""
            } else {
                " (not held)"
            };
            lines.push(PaneLine::new(
                Line::raw(format!(" → {} / {}{held}", l.trace_id, l.span_id)),
                Some(l.trace_id.to_string()),
            ));
            kv_lines(&mut lines, &l.attributes, "   ");
        }
    }
    // Only producers are linked to; scanning every trace's links for other spans is wasted work.
    if s.kind == SpanKind::Producer {
        let from = data.linked_from(t.trace_id, s.span_id);
        if !from.is_empty() {
            lines.push(PaneLine::plain(Line::from(vec![
                TextSpan::styled("Linked from", theme::HEADER),
                TextSpan::styled("  (f follows)", theme::DIM),
            ])));
            for e in from {
                lines.push(PaneLine::new(
                    Line::raw(format!(" ← {} / {}", e.trace_id, e.span_id)),
                    Some(e.trace_id.to_string()),
                ));
            }
        }
    }
    lines.push(heading(format!(
        "Resource ({})",
        s.resource.attributes.len()
    )));
    kv_lines(&mut lines, &s.resource.attributes, " ");
    lines
}

/// `line` cut into pieces of at most `width` columns (display width), styles kept.
fn wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut cur: Vec<TextSpan<'static>> = Vec::new();
    let mut used = 0;
    for sp in line.spans {
        let mut piece = String::new();
        for c in sp.content.chars() {
            let w = UnicodeWidthChar::width(c).unwrap_or(0);
            if used + w > width {
                if !piece.is_empty() {
                    cur.push(TextSpan::styled(std::mem::take(&mut piece), sp.style));
                }
                out.push(Line::from(std::mem::take(&mut cur)).style(line.style));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            cur.push(TextSpan::styled(piece, sp.style));
        }
    }
    out.push(Line::from(cur).style(line.style));
    out
}

/// Draws the pane. The cursor (`TraceView::detail_cursor`, a line before wrapping) is clamped
/// to the lines there are, kept in view, and marked while the pane has the focus.
pub fn render(frame: &mut Frame, area: Rect, lines: Vec<PaneLine>, view: &mut TraceView) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let height = area.height.saturating_sub(2) as usize;
    let focused = view.focus == Focus::Detail;
    view.detail_cursor = view.detail_cursor.min(lines.len().saturating_sub(1));
    let mut wrapped: Vec<Line<'static>> = Vec::new();
    let mut cursor_rows = (0, 0);
    for (i, l) in lines.into_iter().enumerate() {
        let first = wrapped.len();
        wrapped.extend(wrap(l.line, inner_w));
        if i == view.detail_cursor {
            cursor_rows = (first, wrapped.len());
        }
    }
    let total = wrapped.len();
    if focused {
        // The cursor's line stays in view: scrolled to when it goes past either edge.
        let s = &mut view.detail_scroll;
        if cursor_rows.0 < *s {
            *s = cursor_rows.0;
        } else if cursor_rows.1 > *s + height {
            *s = cursor_rows.1.saturating_sub(height);
        }
        for l in &mut wrapped[cursor_rows.0..cursor_rows.1] {
            *l = std::mem::take(l).patch_style(theme::SELECTED);
        }
    }
    view.detail_scroll = view.detail_scroll.min(total.saturating_sub(height));
    let first = view.detail_scroll;
    let last = (first + height).min(total);
    let mut title = vec![TextSpan::styled(" Span ", theme::TITLE)];
    if total > height {
        title.push(TextSpan::raw(format!("{}-{}/{} ", first + 1, last, total)));
    }
    if focused {
        title.push(TextSpan::styled(
            "j/k move  y copy value  z full ",
            theme::DIM,
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { theme::FOCUS } else { theme::DIM })
        .title(Line::from(crate::ui::widgets::fit_spans(title, inner_w)));
    let shown: Vec<Line<'static>> = wrapped.into_iter().skip(first).take(height).collect();
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_cuts_by_display_width_and_keeps_every_character() {
        let line = Line::from(vec![
            TextSpan::raw("key = "),
            TextSpan::raw("注文サービス-long"),
        ]);
        let out = wrap(line, 8);
        let text: Vec<String> = out
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(text, ["key = 注", "文サービ", "ス-long"]);
    }
}
