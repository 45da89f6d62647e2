//! The Trace screen: the span tree as a waterfall on a time axis, the critical path, cold starts
//! and fan-outs marked on their spans, and the selected span's details beside it.

use rustc_hash::{FxHashMap, FxHashSet};

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::analysis::findings::view::TraceFindings;
use crate::analysis::findings::view::{ViewData, critical_path};
use crate::analysis::trace::fanout::FanOutKind;
use crate::model::{AnyValue, KeyValue, Span, SpanId, SpanKind, StatusCode};
use crate::store::Trace;
use crate::ui::app::TraceView;
use crate::ui::text::{clean, dur, fit};
use crate::ui::theme;

/// The span name spantop's demo and the shopfast samples give a cold start's init phase.
const INIT_SPAN_NAME: &str = "Initialization";

/// One visible line of the waterfall.
#[derive(Debug, Clone, Copy)]
pub struct WRow {
    /// Index into `trace.spans`.
    pub idx: usize,
    pub depth: usize,
    pub children: usize,
    pub collapsed: bool,
    /// Where the bar starts: the span's start, or for a span without timestamps (Zipkin
    /// annotations-only parts) its parent's, so it never stretches the axis to 1970.
    pub start_ns: u64,
}

/// The visible rows: depth-first in start order, skipping folded subtrees. Spans whose parent
/// is missing (orphans) start their own subtree at depth 0.
pub fn rows(t: &Trace, collapsed: &FxHashSet<SpanId>) -> Vec<WRow> {
    let pos: FxHashMap<SpanId, usize> = t
        .spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); t.spans.len()];
    let mut roots = Vec::new();
    for (i, s) in t.spans.iter().enumerate() {
        match s.parent_span_id.and_then(|p| pos.get(&p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    let mut out = Vec::with_capacity(t.spans.len());
    // Explicit stack: a trace may be thousands of spans deep.
    let trace_start = t.start_ns();
    let mut stack: Vec<(usize, usize, u64)> =
        roots.iter().rev().map(|&r| (r, 0, trace_start)).collect();
    let mut seen = vec![false; t.spans.len()];
    while let Some((i, depth, parent_start)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue; // a parent cycle in bad input
        }
        let folded = collapsed.contains(&t.spans[i].span_id);
        let start_ns = match t.spans[i].start_ns {
            0 => parent_start,
            at => at,
        };
        out.push(WRow {
            idx: i,
            depth,
            children: children[i].len(),
            collapsed: folded && !children[i].is_empty(),
            start_ns,
        });
        if !folded {
            stack.extend(children[i].iter().rev().map(|&c| (c, depth + 1, start_ns)));
        }
    }
    out
}

/// What a span is marked with in the waterfall.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    cold: bool,
    /// This span makes an N+1 loop of this many calls.
    nplus1: usize,
    /// This span has this many calls in flight at once.
    fanout: usize,
    /// An error started here (the deepest span of an error chain).
    error_origin: bool,
}

/// Cold starts, N+1 loops and fan-outs of the trace, by the span they are marked on.
fn marks(f: Option<&TraceFindings>) -> FxHashMap<SpanId, Marks> {
    let mut out: FxHashMap<SpanId, Marks> = FxHashMap::default();
    let Some(f) = f else { return out };
    for inv in &f.invocations {
        if inv.local_verdict().and_then(|v| v.cold) == Some(true) {
            out.entry(inv.span_id).or_default().cold = true;
        }
    }
    for e in &f.errors {
        out.entry(e.origin.span_id).or_default().error_origin = true;
    }
    for x in &f.fanouts {
        let m = out.entry(x.parent_span_id).or_default();
        match x.kind {
            FanOutKind::NPlusOne | FanOutKind::MnPlusOne => m.nplus1 = m.nplus1.max(x.degree),
            FanOutKind::Parallel => m.fanout = m.fanout.max(x.degree),
        }
    }
    out
}

/// Rows kept visible above and below the selected span.
const SCROLL_MARGIN: usize = 4;

/// Below this width the details go under the waterfall instead of beside it.
const SIDE_BY_SIDE: u16 = 110;

pub fn render(frame: &mut Frame, area: Rect, view: Option<&mut TraceView>, data: &ViewData) {
    let Some(view) = view else {
        let msg = Paragraph::new(vec![
            Line::raw(""),
            Line::raw("  No trace open."),
            Line::raw("  Press Enter on a row in Traces, Cold starts, Fan-out, Hotspots or Map."),
        ])
        .block(Block::default().borders(Borders::ALL).title(" Trace "));
        frame.render_widget(msg, area);
        return;
    };
    let Some(trace) = data.trace(view.trace_id) else {
        let msg = Paragraph::new(match data.why_missing(view.trace_id) {
            Some(why) => format!("  {}", clean(why)),
            None => format!(
                "  Trace {} is no longer held (evicted from memory).",
                view.trace_id
            ),
        })
        .block(Block::default().borders(Borders::ALL).title(" Trace "));
        frame.render_widget(msg, area);
        return;
    };
    let error_line = data
        .trace_findings(trace.trace_id)
        .is_some_and(|f| !f.errors.is_empty());
    let summary_height = if error_line { 3 } else { 2 };
    let [summary, body] =
        Layout::vertical([Constraint::Length(summary_height), Constraint::Min(3)]).areas(area);
    render_summary(frame, summary, trace, data);
    let direction = if area.width >= SIDE_BY_SIDE {
        Direction::Horizontal
    } else {
        Direction::Vertical
    };
    let split = if area.width >= SIDE_BY_SIDE {
        [Constraint::Percentage(64), Constraint::Percentage(36)]
    } else {
        [Constraint::Percentage(58), Constraint::Percentage(42)]
    };
    let [left, right] = Layout::default()
        .direction(direction)
        .constraints(split)
        .areas(body);
    let rows = rows(trace, &view.collapsed);
    let findings = data.trace_findings(trace.trace_id);
    let critical = critical_path(findings);
    let marks = marks(findings);
    let selected_row = view
        .selected
        .and_then(|id| rows.iter().position(|r| trace.spans[r.idx].span_id == id))
        .unwrap_or(0);
    render_waterfall(
        frame,
        left,
        trace,
        &rows,
        selected_row,
        view,
        &critical,
        &marks,
    );
    if let Some(r) = rows.get(selected_row) {
        render_details(frame, right, trace, &trace.spans[r.idx], &critical, data);
    }
}

fn render_summary(frame: &mut Frame, area: Rect, t: &Trace, data: &ViewData) {
    let row = data.trace_row(t.trace_id);
    let mut first = vec![
        TextSpan::styled(format!(" {} ", t.trace_id), theme::TITLE),
        TextSpan::styled(
            row.map(|r| {
                format!(
                    "{}: {}",
                    clean(r.root_service.as_str()),
                    clean(r.root_name.as_str())
                )
            })
            .unwrap_or_default(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        TextSpan::raw(format!(
            "  {}  {} spans  {} services  ended {} ago",
            dur(t.duration_ns()),
            t.spans.len(),
            row.map_or(0, |r| r.services),
            dur(data.clock_ns.saturating_sub(t.end_ns())),
        )),
    ];
    if !t.orphans.is_empty() {
        first.push(TextSpan::styled(
            format!("  {} orphans", t.orphans.len()),
            theme::ERROR,
        ));
    }
    let legend = Line::from(vec![
        TextSpan::styled(" ● critical path ", theme::CRITICAL),
        TextSpan::styled(" [cold] cold start ", theme::COLD),
        TextSpan::styled(" [N+1 ×n] [fan-out ×n] ", theme::FANOUT),
        TextSpan::styled(" ! error ", theme::ERROR),
        TextSpan::styled(" ▸ folded", theme::DIM),
    ]);
    let mut lines = vec![Line::from(first)];
    // Where the trace's first error started and how far it climbed.
    if let Some(e) = data
        .trace_findings(t.trace_id)
        .and_then(|f| f.errors.first())
    {
        // The services it climbed through, after the one where it started.
        let path: Vec<&str> = e
            .propagation_services
            .iter()
            .skip(1)
            .map(|s| s.as_str())
            .collect();
        let reached = if path.is_empty() {
            String::new()
        } else {
            format!(" → {}", clean(&path.join(" → ")))
        };
        // A timeout's time went into the span still running when it gave up.
        let locus = e.timeout_locus.as_ref().map_or(String::new(), |l| {
            format!(
                "; timed out while {}: {} was still running",
                clean(l.span.service.as_str()),
                clean(l.span.name.as_str()),
            )
        });
        lines.push(Line::styled(
            format!(
                " error started in {}: {}{reached}{locus}",
                clean(e.origin.service.as_str()),
                clean(e.origin.name.as_str()),
            ),
            theme::ERROR,
        ));
    }
    lines.push(legend);
    frame.render_widget(Paragraph::new(lines), area);
}

#[allow(clippy::too_many_arguments)] // the frame, the trace and everything marked on it
fn render_waterfall(
    frame: &mut Frame,
    area: Rect,
    t: &Trace,
    rows: &[WRow],
    selected: usize,
    view: &mut TraceView,
    critical: &FxHashSet<SpanId>,
    marks: &FxHashMap<SpanId, Marks>,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::DIM)
        .title(Line::from(vec![
            TextSpan::styled(" Waterfall ", theme::TITLE),
            TextSpan::raw(format!("{}/{} ", selected + 1, rows.len())),
        ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 2 || inner.width < 20 {
        return;
    }
    let width = inner.width as usize;
    let name_w = (width * 45 / 100).clamp(16, 60);
    let dur_w = 8;
    let bar_w = width.saturating_sub(name_w + dur_w + 3).max(1);
    let t0 = t.start_ns();
    let total = t.duration_ns().max(1);
    let x_of = |ns: u64| -> usize {
        ((u128::from(ns.saturating_sub(t0)) * bar_w as u128) / u128::from(total)) as usize
    };

    // Time axis: labels at 0, 1/2 and the end of the trace.
    let mut axis = vec![' '; bar_w];
    let mut put = |at: usize, label: &str| {
        for (k, ch) in label.chars().enumerate() {
            if let Some(c) = axis.get_mut(at + k) {
                *c = ch;
            }
        }
    };
    put(0, "0");
    let mid = dur(total / 2);
    put((bar_w / 2).saturating_sub(mid.len() / 2), &mid);
    let end = dur(total);
    put(bar_w.saturating_sub(end.len()), &end);
    let axis_line = Line::from(vec![
        TextSpan::styled(format!("{:<w$}", " span", w = name_w + 1), theme::HEADER),
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
        let s = &t.spans[r.idx];
        let m = marks.get(&s.span_id).copied().unwrap_or_default();
        let on_path = critical.contains(&s.span_id);
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
        let name_room = name_w.saturating_sub(tags.chars().count());
        let name = fit(&name, name_room.max(4)).into_owned();
        let name_style = if s.is_error() {
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
        let pad = name_w.saturating_sub(name.chars().count() + tags.chars().count());
        let x0 = x_of(r.start_ns).min(bar_w - 1);
        let x1 = x_of(r.start_ns + s.duration_ns()).clamp(x0 + 1, bar_w);
        let colour = theme::service(s.service().as_str());
        let bar_char = if on_path { "█" } else { "▒" };
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
            TextSpan::raw(" ".repeat(pad)),
            TextSpan::raw(format!("{:>dur_w$} ", dur(s.duration_ns()))),
            TextSpan::raw(" ".repeat(x0)),
            TextSpan::styled(bar_char.repeat(x1 - x0), Style::default().fg(colour)),
        ];
        let mut line_style = Style::default();
        if pos == selected {
            line_style = theme::SELECTED;
            for sp in &mut spans {
                sp.style = sp.style.add_modifier(Modifier::REVERSED);
            }
        }
        let area = Rect {
            y: inner.y + 1 + line as u16,
            height: 1,
            ..inner
        };
        frame.render_widget(Line::from(spans).style(line_style), area);
    }
}

fn value_text(v: &AnyValue) -> String {
    clean(&v.to_string()).into_owned()
}

fn kv_lines<'a>(out: &mut Vec<Line<'a>>, attrs: &[KeyValue], indent: &str) {
    for kv in attrs {
        out.push(Line::from(vec![
            TextSpan::styled(format!("{indent}{}", clean(kv.key.as_str())), theme::DIM),
            TextSpan::raw(" = "),
            TextSpan::raw(value_text(&kv.value)),
        ]));
    }
}

fn render_details(
    frame: &mut Frame,
    area: Rect,
    t: &Trace,
    s: &Span,
    critical: &FxHashSet<SpanId>,
    data: &ViewData,
) {
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
        Line::raw(format!(
            "at +{}  took {}",
            dur(s.start_ns.saturating_sub(t.start_ns())),
            dur(s.duration_ns())
        )),
        Line::styled(format!("span {}", s.span_id), theme::DIM),
    ];
    match s.status.code {
        StatusCode::Error => lines.push(Line::styled(
            format!(
                "ERROR {}",
                s.status.message.as_deref().map(clean).unwrap_or_default()
            ),
            theme::ERROR,
        )),
        StatusCode::Ok => lines.push(Line::raw("status OK")),
        StatusCode::Unset => {}
    }
    if !s.attributes.is_empty() {
        lines.push(Line::styled("Attributes", theme::HEADER));
        kv_lines(&mut lines, &s.attributes, " ");
    }
    if !s.events.is_empty() {
        lines.push(Line::styled("Events", theme::HEADER));
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
    lines.push(Line::styled("Resource", theme::HEADER));
    kv_lines(&mut lines, &s.resource.attributes, " ");
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::DIM)
        .title(TextSpan::styled(" Span ", theme::TITLE));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
