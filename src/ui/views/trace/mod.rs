//! The Trace screen: the span tree as a waterfall on a time axis, the critical path, cold starts
//! and fan-outs marked on their spans, and the selected span's details beside it.
//! `waterfall` draws the rows, `detail` the span pane, `find` is `/` inside the trace and
//! `stats` the trace statistics table (`s`).

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Paragraph};

pub mod detail;
pub mod find;
pub mod stats;
pub mod waterfall;

use crate::analysis::findings::view::TraceFindings;
use crate::analysis::findings::view::{ViewData, critical_path};
use crate::analysis::trace::fanout::FanOutKind;
use crate::analysis::trace::skew;
use crate::model::{SpanId, Sym, TraceId};
use crate::store::Trace;
use crate::ui::app::TraceView;
use crate::ui::text::{clean, dur};
use crate::ui::theme;
use crate::units::zone::Zone;

/// The span name spantop's demo and the shopfast samples give a cold start's init phase.
pub(super) const INIT_SPAN_NAME: &str = "Initialization";

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
    /// Not a span but this many spans of other services, hidden by the service filter (`v`);
    /// `idx` is the first of them.
    pub hidden: usize,
}

/// The visible rows: depth-first in start order, skipping folded subtrees. Spans whose parent
/// is missing (orphans) start their own subtree at depth 0. With `only`, subtrees without a
/// span of that service shrink to one "N spans hidden" row each run of siblings.
pub fn rows(t: &Trace, collapsed: &FxHashSet<SpanId>, only: Option<Sym>) -> Vec<WRow> {
    let (_, children, roots) = tree(t);
    rows_of(t, &children, &roots, t.start_ns(), collapsed, only)
}

/// `rows` from the trace's tree (`tree`) and timed start.
fn rows_of(
    t: &Trace,
    children: &[Vec<usize>],
    roots: &[usize],
    start_ns: u64,
    collapsed: &FxHashSet<SpanId>,
    only: Option<Sym>,
) -> Vec<WRow> {
    let kept = only.map(|svc| kept_subtrees(t, children, roots, svc));
    // Children as stack entries, each run of hidden siblings as one entry.
    let entries = |list: &[usize], depth: usize, start: u64| -> Vec<(usize, usize, u64, usize)> {
        let mut out: Vec<(usize, usize, u64, usize)> = Vec::new();
        for &c in list {
            match &kept {
                Some((keep, size)) if !keep[c] => match out.last_mut() {
                    Some(last) if last.3 > 0 => last.3 += size[c],
                    _ => out.push((c, depth, start, size[c])),
                },
                _ => out.push((c, depth, start, 0)),
            }
        }
        out.reverse();
        out
    };
    let mut out = Vec::with_capacity(t.spans.len());
    // Explicit stack: a trace may be thousands of spans deep.
    let mut stack = entries(roots, 0, start_ns);
    let mut seen = vec![false; t.spans.len()];
    while let Some((i, depth, parent_start, hidden)) = stack.pop() {
        if hidden > 0 {
            out.push(WRow {
                idx: i,
                depth,
                children: 0,
                collapsed: false,
                start_ns: parent_start,
                hidden,
            });
            continue;
        }
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
            hidden: 0,
        });
        if !folded {
            stack.extend(entries(&children[i], depth + 1, start_ns));
        }
    }
    out
}

/// Each span's index by id, each span's children (indices, in start order) and the roots
/// (spans without a parent in the trace).
type Tree = (FxHashMap<SpanId, usize>, Vec<Vec<usize>>, Vec<usize>);

fn tree(t: &Trace) -> Tree {
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
    (pos, children, roots)
}

/// Which spans the service filter `only` leaves drawn (`None`: all of them). A span is drawn
/// when its subtree holds a span of that service, so its ancestors are drawn too.
pub fn visible(t: &Trace, only: Option<Sym>) -> Option<Vec<bool>> {
    let svc = only?;
    let (_, children, roots) = tree(t);
    Some(kept_subtrees(t, &children, &roots, svc).0)
}

/// For the service filter: whether each span's subtree holds a span of `svc`, and each
/// subtree's size.
fn kept_subtrees(
    t: &Trace,
    children: &[Vec<usize>],
    roots: &[usize],
    svc: Sym,
) -> (Vec<bool>, Vec<usize>) {
    let n = t.spans.len();
    let mut pre = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            pre.push(i);
            stack.extend(&children[i]);
        }
    }
    let mut keep: Vec<bool> = t.spans.iter().map(|s| s.service() == svc).collect();
    let mut size = vec![1usize; n];
    // Children before parents.
    for &i in pre.iter().rev() {
        for &c in &children[i] {
            if seen[c] {
                keep[i] |= keep[c];
                size[i] += size[c];
            }
        }
    }
    (keep, size)
}

/// The waterfall's rows and what is looked up in them each frame, built once per trace version,
/// fold state and service filter and kept in the `TraceView` (`layout`): rebuilt every frame,
/// a 100,000-span trace's rows, and the passes over its spans for the selection's row and the
/// trace's start and end, took 17-19 ms a frame (`ui_frame`'s `Trace, huge`).
pub struct Layout {
    key: LayoutKey,
    /// The fold state the rows were built with (compared in full, so no fold is missed).
    collapsed: FxHashSet<SpanId>,
    pub rows: Vec<WRow>,
    /// Each span's index in `trace.spans`, by id.
    index: FxHashMap<SpanId, usize>,
    /// Each span's row by its index, `usize::MAX` when no row is its.
    row_of: Vec<usize>,
    /// The trace's timed start and end (`Trace::start_ns`, `end_ns`, each a pass over the spans).
    pub start_ns: u64,
    pub end_ns: u64,
}

/// What a `Layout` was built from besides the fold state. The adjusted copy (`Shown`) is
/// built once per version, so the version tells it apart too.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LayoutKey {
    trace: TraceId,
    version: u32,
    adjusted: bool,
    only: Option<Sym>,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("key", &self.key)
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl Layout {
    fn key(t: &Shown, only: Option<Sym>) -> LayoutKey {
        LayoutKey {
            trace: t.trace_id,
            version: t.version,
            adjusted: matches!(t, Shown::Adjusted(_)),
            only,
        }
    }

    fn build(t: &Shown, collapsed: &FxHashSet<SpanId>, only: Option<Sym>) -> Layout {
        let (index, children, roots) = tree(t);
        let (start_ns, end_ns) = (t.start_ns(), t.end_ns());
        let rows = rows_of(t, &children, &roots, start_ns, collapsed, only);
        let mut row_of = vec![usize::MAX; t.spans.len()];
        // A "spans hidden" row is selected as its first span (`idx`), as a drawn span is.
        for (at, r) in rows.iter().enumerate() {
            if row_of[r.idx] == usize::MAX {
                row_of[r.idx] = at;
            }
        }
        Layout {
            key: Layout::key(t, only),
            collapsed: collapsed.clone(),
            rows,
            index,
            row_of,
            start_ns,
            end_ns,
        }
    }

    fn fits(&self, t: &Shown, collapsed: &FxHashSet<SpanId>, only: Option<Sym>) -> bool {
        self.key == Layout::key(t, only) && self.collapsed == *collapsed
    }

    /// The row of span `id`: the one it is drawn on, or the "spans hidden" row it starts.
    pub fn row_of(&self, id: SpanId) -> Option<usize> {
        self.index
            .get(&id)
            .and_then(|&i| self.row_of.get(i))
            .copied()
            .filter(|&r| r != usize::MAX)
    }

    /// Whether span `id` is in the trace.
    pub fn holds(&self, id: SpanId) -> bool {
        self.index.contains_key(&id)
    }

    /// `Trace::duration_ns` without its passes over the spans.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// The layout of `t` with this fold state and filter: the one in `cache` when it was built
/// for them, else a new one, kept there.
pub fn layout(
    cache: &mut Option<Arc<Layout>>,
    t: &Shown,
    collapsed: &FxHashSet<SpanId>,
    only: Option<Sym>,
) -> Arc<Layout> {
    match cache {
        Some(l) if l.fits(t, collapsed, only) => Arc::clone(l),
        _ => {
            let l = Arc::new(Layout::build(t, collapsed, only));
            *cache = Some(Arc::clone(&l));
            l
        }
    }
}

/// The critical path and marks of one trace's findings, kept while the findings are the same
/// (the `Arc` is held, so a new one is never mistaken for it).
#[derive(Default)]
pub struct Overlays {
    findings: Option<Arc<TraceFindings>>,
    pub critical: FxHashSet<SpanId>,
    pub marks: FxHashMap<SpanId, Marks>,
}

impl std::fmt::Debug for Overlays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlays")
            .field("critical", &self.critical.len())
            .field("marks", &self.marks.len())
            .finish_non_exhaustive()
    }
}

/// The overlays for `findings`: the ones in `cache` when built from the same findings, else
/// new ones, kept there.
pub fn overlays(
    cache: &mut Option<Arc<Overlays>>,
    findings: Option<&Arc<TraceFindings>>,
) -> Arc<Overlays> {
    let same = |o: &Overlays| match (&o.findings, findings) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    };
    match cache {
        Some(o) if same(o) => Arc::clone(o),
        _ => {
            let f = findings.map(|f| &**f);
            let o = Arc::new(Overlays {
                findings: findings.cloned(),
                critical: critical_path(f),
                marks: marks(f),
            });
            *cache = Some(Arc::clone(&o));
            o
        }
    }
}

/// What a span is marked with in the waterfall.
#[derive(Debug, Clone, Copy, Default)]
pub struct Marks {
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

/// Below this width the details go under the waterfall instead of beside it.
const SIDE_BY_SIDE: u16 = 110;

/// The trace as the Trace view draws it. With `--max-clock-skew` the analysis worked on a
/// shifted copy (`skew::adjust`); the view shows that copy, rebuilt from the findings' notes,
/// so bars, statistics, the span pane and the critical path all use the same times.
pub enum Shown<'d> {
    Held(&'d Trace),
    Adjusted(Arc<Trace>),
}

impl std::ops::Deref for Shown<'_> {
    type Target = Trace;
    fn deref(&self) -> &Trace {
        match self {
            Shown::Held(t) => t,
            Shown::Adjusted(t) => t,
        }
    }
}

/// The open trace as shown (see `Shown`); `cache` keeps the adjusted copy, built once per
/// trace version.
pub fn shown<'d>(
    data: &'d ViewData,
    id: TraceId,
    cache: &mut Option<Arc<Trace>>,
) -> Option<Shown<'d>> {
    let held = data.trace(id)?;
    let Some(f) = data
        .trace_findings(id)
        .filter(|f| f.version == held.version && !f.clock_skew.is_empty())
    else {
        return Some(Shown::Held(held));
    };
    if let Some(t) = cache
        .as_ref()
        .filter(|t| t.trace_id == id && t.version == held.version)
    {
        return Some(Shown::Adjusted(Arc::clone(t)));
    }
    match skew::apply(held, &f.clock_skew) {
        Some(t) => {
            let t = Arc::new(t);
            *cache = Some(Arc::clone(&t));
            Some(Shown::Adjusted(t))
        }
        None => Some(Shown::Held(held)),
    }
}

/// Every span index in waterfall order with nothing folded: the order find's matches read in.
pub fn order(t: &Trace) -> Vec<usize> {
    rows(t, &FxHashSet::default(), None)
        .into_iter()
        .map(|r| r.idx)
        .collect()
}

/// `order` of `t`, kept in `cache` per trace version: find as typed asked for it at every
/// key (a 100,000-span trace's tree and rows rebuilt, ~20 ms a key).
pub fn order_cached(cache: &mut Option<(TraceId, u32, Arc<[usize]>)>, t: &Trace) -> Arc<[usize]> {
    match cache {
        Some((id, version, order)) if *id == t.trace_id && *version == t.version => {
            Arc::clone(order)
        }
        _ => {
            let order: Arc<[usize]> = order(t).into();
            *cache = Some((t.trace_id, t.version, Arc::clone(&order)));
            order
        }
    }
}

/// Unfolds every ancestor of `id`, so the span shows in the waterfall.
pub fn unfold_to(t: &Trace, collapsed: &mut FxHashSet<SpanId>, id: SpanId) {
    unfold_all(t, collapsed, &[id]);
}

/// Unfolds every ancestor of each of `ids`. Parents are looked up in one map and each
/// ancestor is climbed once: a find with 100,000 matches in a 100,000-span trace looked each
/// parent up by a scan of the spans, per match (minutes in `ui_frame`).
pub fn unfold_all(t: &Trace, collapsed: &mut FxHashSet<SpanId>, ids: &[SpanId]) {
    let parent: FxHashMap<SpanId, Option<SpanId>> = t
        .spans
        .iter()
        .map(|s| (s.span_id, s.parent_span_id))
        .collect();
    let mut climbed: FxHashSet<SpanId> = FxHashSet::default();
    for &id in ids {
        let mut at = parent.get(&id).copied().flatten();
        // Stops at an ancestor climbed before, so a parent cycle in bad input ends too.
        while let Some(p) = at {
            if !climbed.insert(p) {
                break;
            }
            collapsed.remove(&p);
            at = parent.get(&p).copied().flatten();
        }
    }
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    view: Option<&mut TraceView>,
    data: &ViewData,
    zone: &Zone,
) {
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
    let Some(trace) = shown(data, view.trace_id, &mut view.adjusted) else {
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
    let layout = layout(&mut view.layout, &trace, &view.collapsed, view.only);
    let trace = &*trace;
    let error_line = data
        .trace_findings(trace.trace_id)
        .is_some_and(|f| !f.errors.is_empty());
    let summary_height = if error_line { 3 } else { 2 };
    let [summary, body] =
        ratatui::layout::Layout::vertical([Constraint::Length(summary_height), Constraint::Min(3)])
            .areas(area);
    render_summary(frame, summary, trace, &layout, data);
    let rows = &layout.rows;
    let over = overlays(&mut view.overlays, data.trace_findings_arc(trace.trace_id));
    let selected_row = view.selected.and_then(|id| layout.row_of(id)).unwrap_or(0);
    let detail_lines = rows.get(selected_row).map(|r| {
        detail::lines(
            trace,
            &layout,
            &trace.spans[r.idx],
            &over.critical,
            data,
            zone,
        )
    });
    if let Some(st) = &mut view.stats {
        stats::render(frame, body, trace, st);
        return;
    }
    if view.detail_full {
        detail::render(frame, body, detail_lines.unwrap_or_default(), view);
        return;
    }
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
    let [left, right] = ratatui::layout::Layout::default()
        .direction(direction)
        .constraints(split)
        .areas(body);
    let matches = view.find.as_ref().map(|f| f.set()).unwrap_or_default();
    let overlay = waterfall::Overlay {
        critical: &over.critical,
        marks: &over.marks,
        matches: &matches,
    };
    waterfall::render(frame, left, trace, &layout, selected_row, view, &overlay);
    if let Some(lines) = detail_lines {
        detail::render(frame, right, lines, view);
    }
}

fn render_summary(frame: &mut Frame, area: Rect, t: &Trace, layout: &Layout, data: &ViewData) {
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
            dur(layout.duration_ns()),
            t.spans.len(),
            row.map_or(0, |r| r.services),
            dur(data.clock_ns.saturating_sub(layout.end_ns)),
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
