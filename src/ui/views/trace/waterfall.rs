//! The waterfall: one row per visible span (marks, name, service label, duration) and its bar
//! on the time axis, which `+`/`-` zoom and `[`/`]` pan (`TraceView::window`).

use rustc_hash::{FxHashMap, FxHashSet};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders};

use super::{INIT_SPAN_NAME, Layout, Marks};
use crate::model::SpanId;
use crate::store::Trace;
use crate::ui::app::{Focus, TraceView};
use crate::ui::text::{clean, dur, fit, width};
use crate::ui::theme;

/// Rows kept visible above and below the selected span.
const SCROLL_MARGIN: usize = 4;

/// What is drawn on the waterfall besides the rows.
pub struct Overlay<'a> {
    pub critical: &'a FxHashSet<SpanId>,
    pub marks: &'a FxHashMap<SpanId, Marks>,
    pub matches: &'a FxHashSet<SpanId>,
}

/// A service name as a row label: without a `-service`-like suffix every row would repeat.
fn short_service(name: &str) -> &str {
    ["-service", "_service", "-svc", "service"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix).filter(|s| !s.is_empty()))
        .unwrap_or(name)
}

/// The time window shown, `[lo, hi)` in absolute ns: the zoomed one, or the whole trace
/// (`layout`'s start and end: `Trace::start_ns` and `end_ns` each pass over the spans).
pub fn window(layout: &Layout, view: &TraceView) -> (u64, u64) {
    let (t0, t1) = (
        layout.start_ns,
        layout.start_ns + layout.duration_ns().max(1),
    );
    match view.window {
        Some((lo, hi)) if lo < hi => (lo.max(t0), hi.min(t1).max(lo.max(t0) + 1)),
        _ => (t0, t1),
    }
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    t: &Trace,
    layout: &Layout,
    selected: usize,
    view: &mut TraceView,
    overlay: &Overlay<'_>,
) {
    let rows = &layout.rows;
    let mut title = vec![
        TextSpan::styled(" Waterfall ", theme::TITLE),
        TextSpan::raw(format!("{}/{} ", selected + 1, rows.len())),
    ];
    if let Some(f) = &view.find {
        title.push(TextSpan::styled(
            format!("/{} {} ", clean(&f.text), f.label(view.selected)),
            theme::MATCH,
        ));
    }
    if let Some(svc) = view.only {
        title.push(TextSpan::styled(
            format!("only {} (v: all) ", clean(svc.as_str())),
            Style::default().fg(theme::service(svc.as_str())),
        ));
    }
    if view.window.is_some() {
        title.push(TextSpan::styled("zoomed (0 resets) ", theme::FANOUT));
    }
    let focused = view.focus == Focus::Waterfall;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { theme::FOCUS } else { theme::DIM })
        .title(Line::from(crate::ui::widgets::fit_spans(
            title,
            area.width.saturating_sub(2) as usize,
        )));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 2 || inner.width < 20 {
        return;
    }
    let width_all = inner.width as usize;
    let name_w = (width_all * 38 / 100).clamp(14, 56);
    let svc_w = (width_all * 12 / 100).clamp(6, 14);
    let dur_w = 8;
    let bar_w = width_all.saturating_sub(name_w + svc_w + dur_w + 4).max(1);
    let (lo, hi) = window(layout, view);
    let span_ns = hi - lo;
    // Columns are clipped to the window: before it is column 0, after it the last column.
    let x_of = |ns: u64| -> usize {
        let off = u128::from(ns.saturating_sub(lo).min(span_ns));
        (off * bar_w as u128 / u128::from(span_ns)) as usize
    };

    // Time axis: the window's start, middle and end as offsets from the trace's start.
    let base = layout.start_ns;
    let mut axis = vec![' '; bar_w];
    let mut put = |at: usize, label: &str| {
        for (k, ch) in label.chars().enumerate() {
            if let Some(c) = axis.get_mut(at + k) {
                *c = ch;
            }
        }
    };
    let start = if lo == base {
        "0".to_owned()
    } else {
        dur(lo - base)
    };
    put(0, &start);
    let mid = dur(lo - base + span_ns / 2);
    put((bar_w / 2).saturating_sub(mid.len() / 2), &mid);
    let end = dur(hi - base);
    put(bar_w.saturating_sub(end.chars().count()), &end);
    let axis_line = Line::from(vec![
        TextSpan::styled(format!("{:<w$}", " span", w = name_w + 1), theme::HEADER),
        TextSpan::styled(format!("{:<svc_w$} ", "service"), theme::HEADER),
        TextSpan::styled(format!("{:>dur_w$} ", "duration"), theme::HEADER),
        TextSpan::styled(axis.into_iter().collect::<String>(), theme::HEADER),
    ]);
    frame.render_widget(axis_line, Rect { height: 1, ..inner });

    let height = inner.height as usize - 1;
    // Keep a few rows of context around the selection, as editors do: a jump to a finding
    // shows what the span contains, not just the span.
    let margin = SCROLL_MARGIN.min(height.saturating_sub(1) / 2);
    if selected < view.offset + margin {
        view.offset = selected.saturating_sub(margin);
    } else if selected + margin >= view.offset + height {
        view.offset = selected + margin + 1 - height;
    }
    view.offset = view.offset.min(rows.len().saturating_sub(height));
    for (line, (pos, r)) in rows
        .iter()
        .enumerate()
        .skip(view.offset)
        .take(height)
        .enumerate()
    {
        let row_area = Rect {
            y: inner.y + 1 + line as u16,
            height: 1,
            ..inner
        };
        if r.hidden > 0 {
            let indent = "  ".repeat(r.depth.min(name_w / 4));
            let spans = if r.hidden == 1 { "span" } else { "spans" };
            let text = format!(" {indent}┄ {} {spans} hidden (other services)", r.hidden);
            let mut style = theme::DIM;
            if pos == selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            frame.render_widget(
                Line::styled(fit(&text, width_all).into_owned(), style),
                row_area,
            );
            continue;
        }
        let s = &t.spans[r.idx];
        let m = overlay.marks.get(&s.span_id).copied().unwrap_or_default();
        let on_path = overlay.critical.contains(&s.span_id);
        let fold = if r.children == 0 {
            ' '
        } else if r.collapsed {
            '▸'
        } else {
            '▾'
        };
        let mut tags = String::new();
        if m.cold {
            tags.push_str(" [cold]");
        }
        if s.name.as_str() == INIT_SPAN_NAME {
            tags.push_str(" [init]");
        }
        if m.nplus1 > 0 {
            tags.push_str(&format!(" [N+1 ×{}]", m.nplus1));
        }
        if m.fanout > 0 {
            tags.push_str(&format!(" [fan-out ×{}]", m.fanout));
        }
        if m.error_origin {
            tags.push_str(" [error origin]");
        }
        if r.collapsed {
            tags.push_str(&format!(" (+{})", r.children));
        }
        let indent = "  ".repeat(r.depth.min(name_w / 4));
        let name = format!("{indent}{fold}{}", clean(s.name.as_str()));
        let name_room = name_w.saturating_sub(width(&tags));
        let name = fit(&name, name_room.max(4)).into_owned();
        let name_style = if overlay.matches.contains(&s.span_id) {
            theme::MATCH
        } else if s.is_error() {
            theme::ERROR
        } else {
            Style::default()
        };
        let tag_style = if m.error_origin {
            theme::ERROR
        } else if m.cold {
            theme::COLD
        } else {
            theme::FANOUT
        };
        let pad = name_w.saturating_sub(width(&name) + width(&tags));
        let colour = theme::service(s.service().as_str());
        let label = clean(s.service().as_str());
        let label = fit(short_service(&label), svc_w).into_owned();
        let label_pad = svc_w.saturating_sub(width(&label));
        let end_ns = r.start_ns.saturating_add(s.duration_ns());
        let zoomed = view.window.is_some();
        let (bar_lead, bar) = if zoomed && (end_ns < lo || r.start_ns >= hi) {
            // Outside the zoomed window: an arrow says which way it is.
            if r.start_ns >= hi {
                (bar_w - 1, "▹".to_owned())
            } else {
                (0, "◃".to_owned())
            }
        } else {
            let x0 = x_of(r.start_ns).min(bar_w - 1);
            let x1 = x_of(end_ns).clamp(x0 + 1, bar_w);
            let bar_char = if on_path { "█" } else { "▒" };
            (x0, bar_char.repeat(x1 - x0))
        };
        let mut spans = vec![
            TextSpan::styled(
                if on_path {
                    "●"
                } else if s.is_error() {
                    "!"
                } else {
                    " "
                },
                if on_path {
                    theme::CRITICAL
                } else {
                    theme::ERROR
                },
            ),
            TextSpan::styled(name, name_style),
            TextSpan::styled(tags, tag_style),
            TextSpan::raw(" ".repeat(pad + 1)),
            TextSpan::styled(label, Style::default().fg(colour)),
            TextSpan::raw(" ".repeat(label_pad)),
            TextSpan::raw(format!("{:>dur_w$} ", dur(s.duration_ns()))),
            TextSpan::raw(" ".repeat(bar_lead)),
            TextSpan::styled(bar, Style::default().fg(colour)),
        ];
        let mut line_style = Style::default();
        if pos == selected {
            line_style = theme::SELECTED;
            for sp in &mut spans {
                sp.style = sp.style.add_modifier(Modifier::REVERSED);
            }
        }
        frame.render_widget(Line::from(spans).style(line_style), row_area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_labels_drop_the_suffix_every_row_repeats() {
        assert_eq!(short_service("inventory-service"), "inventory");
        assert_eq!(short_service("checkout-fn"), "checkout-fn");
        assert_eq!(short_service("service"), "service");
        assert_eq!(short_service("paymentservice"), "payment");
    }
}
