//! The span pane: everything about the selected span, wrapped to the pane's width and
//! scrolled by `TraceView::detail_scroll` (j/k once it has the focus; `z` gives it the body).

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

fn value_text(v: &AnyValue) -> String {
    clean(&v.to_string()).into_owned()
}

fn kv_lines(out: &mut Vec<Line<'static>>, attrs: &[KeyValue], indent: &str) {
    for kv in attrs {
        out.push(Line::from(vec![
            TextSpan::styled(format!("{indent}{}", clean(kv.key.as_str())), theme::DIM),
            TextSpan::raw(" = "),
            TextSpan::raw(value_text(&kv.value)),
        ]));
    }
}

fn field(name: &str, value: String) -> Line<'static> {
    Line::from(vec![
        TextSpan::styled(format!("{name:<9}"), theme::DIM),
        TextSpan::raw(value),
    ])
}

/// Every line the pane shows for `s`, before wrapping.
pub fn lines(
    t: &Trace,
    s: &Span,
    critical: &FxHashSet<SpanId>,
    data: &ViewData,
) -> Vec<Line<'static>> {
    let colour = theme::service(s.service().as_str());
    let mut lines = vec![
        Line::styled(
            clean(s.name.as_str()).into_owned(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
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
        StatusCode::Error => lines.push(Line::styled(
            format!(
                "{:<9}ERROR {}",
                "status",
                s.status.message.as_deref().map(clean).unwrap_or_default()
            ),
            theme::ERROR,
        )),
        StatusCode::Ok => lines.push(field("status", "OK".into())),
        StatusCode::Unset => lines.push(field("status", "unset".into())),
    }
    lines.push(field("span", s.span_id.to_string()));
    lines.push(field(
        "parent",
        match s.parent_span_id {
            None => "none (root)".into(),
            Some(p) if t.span(p).is_none() => format!("{p} (not in the trace)"),
            Some(p) => p.to_string(),
        },
    ));
    lines.push(field("trace", s.trace_id.to_string()));
    lines.push(field("start", utc(s.start_ns)));
    lines.push(field("end", utc(s.end_ns)));
    let scope = match (&*s.scope.name, s.scope.version.as_deref()) {
        ("", _) => "none".to_owned(),
        (name, Some(v)) => format!("{} {}", clean(name), clean(v)),
        (name, None) => clean(name).into_owned(),
    };
    lines.push(field("scope", scope));
    if !s.attributes.is_empty() {
        lines.push(Line::styled(
            format!("Attributes ({})", s.attributes.len()),
            theme::HEADER,
        ));
        kv_lines(&mut lines, &s.attributes, " ");
    }
    if !s.events.is_empty() {
        lines.push(Line::styled(
            format!("Events ({})", s.events.len()),
            theme::HEADER,
        ));
        for e in s.events.iter() {
            lines.push(Line::raw(format!(
                " +{} {}",
                dur(e.time_ns.saturating_sub(t.start_ns())),
                clean(&e.name)
            )));
            kv_lines(&mut lines, &e.attributes, "   ");
        }
    }
    let logs = t.logs_of(s.span_id);
    if !logs.is_empty() {
        lines.push(Line::styled("Logs", theme::HEADER));
        for l in logs {
            lines.push(Line::raw(format!(
                " +{} {} {}",
                dur(l.time_ns.saturating_sub(t.start_ns())),
                clean(&l.severity),
                clean(&l.body)
            )));
        }
    }
    if !s.links.is_empty() {
        lines.push(Line::from(vec![
            TextSpan::styled("Links", theme::HEADER),
            TextSpan::styled("  (f follows)", theme::DIM),
        ]));
        for l in s.links.iter() {
            let held = if data.trace(l.trace_id).is_some() {
                ""
            } else {
                " (not held)"
            };
            lines.push(Line::raw(format!(
                " → {} / {}{held}",
                l.trace_id, l.span_id
            )));
            kv_lines(&mut lines, &l.attributes, "   ");
        }
    }
    // Only producers are linked to; scanning every trace's links for other spans is wasted work.
    if s.kind == SpanKind::Producer {
        let from = data.linked_from(t.trace_id, s.span_id);
        if !from.is_empty() {
            lines.push(Line::from(vec![
                TextSpan::styled("Linked from", theme::HEADER),
                TextSpan::styled("  (f follows)", theme::DIM),
            ]));
            for e in from {
                lines.push(Line::raw(format!(" ← {} / {}", e.trace_id, e.span_id)));
            }
        }
    }
    lines.push(Line::styled(
        format!("Resource ({})", s.resource.attributes.len()),
        theme::HEADER,
    ));
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

pub fn render(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>, view: &mut TraceView) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let height = area.height.saturating_sub(2) as usize;
    let wrapped: Vec<Line<'static>> = lines.into_iter().flat_map(|l| wrap(l, inner_w)).collect();
    let total = wrapped.len();
    view.detail_scroll = view.detail_scroll.min(total.saturating_sub(height));
    let first = view.detail_scroll;
    let last = (first + height).min(total);
    let focused = view.focus == Focus::Detail;
    let mut title = vec![TextSpan::styled(" Span ", theme::TITLE)];
    if total > height {
        title.push(TextSpan::raw(format!("{}-{}/{} ", first + 1, last, total)));
    }
    if focused {
        title.push(TextSpan::styled(
            "j/k scroll  y copy id  z full ",
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
