//! The list tabs (everything but the waterfall): their columns, how a row matches a filter,
//! sorting by any column, what Enter opens, and the one table widget they all render with.

use std::cmp::Ordering;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Cell, Row as TableRow, Table};

use std::sync::Arc;

use super::app::{ListState, OrderKey};
use super::filter::Term;
use super::text::{clean, dur};
use super::theme;
use crate::analysis::view::{
    ColdStartRow, Evidence, FanoutKind, FanoutRow, HotspotKind, HotspotRow, MapEdge, ServiceRow,
    TraceRow, ViewData,
};
use crate::model::{AnyValue, Sym};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListTab {
    Services,
    Traces,
    ColdStarts,
    Fanout,
    Hotspots,
    Map,
}

impl ListTab {
    pub const COUNT: usize = 6;
    pub const ALL: [ListTab; Self::COUNT] = [
        ListTab::Services,
        ListTab::Traces,
        ListTab::ColdStarts,
        ListTab::Fanout,
        ListTab::Hotspots,
        ListTab::Map,
    ];

    /// (column, descending) a table starts sorted by: the most telling order for each.
    pub fn default_sort(self) -> (usize, bool) {
        match self {
            ListTab::Services => (1, true),
            ListTab::Traces => (0, false),
            ListTab::ColdStarts => (4, true),
            ListTab::Fanout => (6, true),
            ListTab::Hotspots => (4, true),
            ListTab::Map => (0, false),
        }
    }

    pub fn columns(self) -> usize {
        match self {
            ListTab::Services => SERVICE_COLS.len(),
            ListTab::Traces => TRACE_COLS.len(),
            ListTab::ColdStarts => COLD_COLS.len(),
            ListTab::Fanout => FANOUT_COLS.len(),
            ListTab::Hotspots => HOTSPOT_COLS.len(),
            ListTab::Map => MAP_COLS.len(),
        }
    }
}

/// A sort key: numbers compare as numbers, names as text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key<'a> {
    Num(f64),
    Text(&'a str),
}

fn cmp_keys(a: Key<'_>, b: Key<'_>) -> Ordering {
    match (a, b) {
        (Key::Num(x), Key::Num(y)) => x.total_cmp(&y),
        (Key::Text(x), Key::Text(y)) => x.cmp(y),
        (Key::Num(_), Key::Text(_)) => Ordering::Less,
        (Key::Text(_), Key::Num(_)) => Ordering::Greater,
    }
}

struct Col<T> {
    title: &'static str,
    width: Constraint,
    /// Shown only when the terminal is wide enough; keeps 80 columns readable.
    wide_only: bool,
    cell: fn(&T, &ViewData) -> String,
    key: for<'a> fn(&'a T) -> Key<'a>,
}

const fn col<T>(
    title: &'static str,
    width: Constraint,
    cell: fn(&T, &ViewData) -> String,
    key: for<'a> fn(&'a T) -> Key<'a>,
) -> Col<T> {
    Col {
        title,
        width,
        wide_only: false,
        cell,
        key,
    }
}

const fn wide<T>(c: Col<T>) -> Col<T> {
    Col {
        wide_only: true,
        ..c
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// How a row answers the filter terms.
trait Row {
    fn text_matches(&self, word: &str) -> bool;
    fn matches(&self, term: &Term, _data: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            _ => false,
        }
    }
    /// Whether the row reads as a problem (drawn in the error colour).
    fn alarming(&self) -> bool {
        false
    }
}

fn contains(hay: &str, word: &str) -> bool {
    hay.to_ascii_lowercase().contains(word)
}

// === Services ===

const SERVICE_COLS: [Col<ServiceRow>; 8] = [
    col(
        "Service",
        Constraint::Min(16),
        |r, _| clean(r.service.as_str()).into_owned(),
        |r| Key::Text(r.service.as_str()),
    ),
    col(
        "Req/s",
        Constraint::Length(7),
        |r, _| format!("{:.1}", r.rate_per_s),
        |r| Key::Num(r.rate_per_s),
    ),
    col(
        "Err%",
        Constraint::Length(6),
        |r, _| format!("{:.1}", pct(r.errors, r.requests)),
        |r| Key::Num(pct(r.errors, r.requests)),
    ),
    col(
        "p50",
        Constraint::Length(8),
        |r, _| dur(r.p50_ns),
        |r| Key::Num(r.p50_ns as f64),
    ),
    col(
        "p95",
        Constraint::Length(8),
        |r, _| dur(r.p95_ns),
        |r| Key::Num(r.p95_ns as f64),
    ),
    col(
        "p99",
        Constraint::Length(8),
        |r, _| dur(r.p99_ns),
        |r| Key::Num(r.p99_ns as f64),
    ),
    col(
        "Cold%",
        Constraint::Length(6),
        |r, _| {
            if r.invocations == 0 {
                "-".into()
            } else {
                format!("{:.1}", pct(r.cold_starts, r.invocations))
            }
        },
        |r| Key::Num(pct(r.cold_starts, r.invocations)),
    ),
    wide(col(
        "CP%",
        Constraint::Length(6),
        |r, _| format!("{:.1}", r.cp_share * 100.0),
        |r| Key::Num(r.cp_share),
    )),
];

impl Row for ServiceRow {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.service.as_str(), w)
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::Error => self.errors > 0,
            Term::ColdStart => self.cold_starts > 0,
            Term::LongerThan(ns) => self.p95_ns > *ns,
            Term::ShorterThan(ns) => self.p95_ns < *ns,
            _ => false,
        }
    }
    fn alarming(&self) -> bool {
        pct(self.errors, self.requests) >= 5.0
    }
}

// === Traces ===

fn badges(r: &TraceRow) -> String {
    let mut b = Vec::new();
    if r.errors > 0 {
        b.push("ERR");
    }
    if r.cold_starts > 0 {
        b.push("COLD");
    }
    if r.nplus1 {
        b.push("N+1");
    }
    if r.fanout {
        b.push("FAN");
    }
    if r.links > 0 {
        b.push("LINK");
    }
    if r.orphans > 0 {
        b.push("ORPHAN");
    }
    b.join(" ")
}

fn badge_score(r: &TraceRow) -> f64 {
    f64::from(u8::from(r.errors > 0)) * 8.0
        + f64::from(u8::from(r.cold_starts > 0)) * 4.0
        + f64::from(u8::from(r.nplus1)) * 2.0
        + f64::from(u8::from(r.fanout))
}

const TRACE_COLS: [Col<TraceRow>; 7] = [
    // Sorted ascending by age = newest first; the key is the negated end time.
    col(
        "Ago",
        Constraint::Length(7),
        |r, d| dur(d.clock_ns.saturating_sub(r.end_ns)),
        |r| Key::Num(-(r.end_ns as f64)),
    ),
    col(
        "Root",
        Constraint::Min(24),
        |r, _| {
            format!(
                "{}: {}",
                clean(r.root_service.as_str()),
                clean(r.root_name.as_str())
            )
        },
        |r| Key::Text(r.root_name.as_str()),
    ),
    col(
        "Duration",
        Constraint::Length(9),
        |r, _| dur(r.duration_ns()),
        |r| Key::Num(r.duration_ns() as f64),
    ),
    col(
        "Spans",
        Constraint::Length(6),
        |r, _| r.spans.to_string(),
        |r| Key::Num(r.spans as f64),
    ),
    wide(col(
        "Svcs",
        Constraint::Length(5),
        |r, _| r.services.to_string(),
        |r| Key::Num(r.services as f64),
    )),
    col(
        "Findings",
        Constraint::Length(18),
        |r, _| badges(r),
        |r| Key::Num(badge_score(r)),
    ),
    wide(col(
        "Trace",
        Constraint::Length(17),
        |r, _| r.trace_id.to_string()[..16].to_owned(),
        |r| Key::Num(r.trace_id.as_u128() as f64),
    )),
];

fn attr_eq(v: &AnyValue, want: &str) -> bool {
    match v {
        AnyValue::Str(s) => **s == *want,
        other => other.to_string() == want,
    }
}

impl Row for TraceRow {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.root_name.as_str(), w) || contains(self.root_service.as_str(), w)
    }
    fn matches(&self, term: &Term, data: &ViewData) -> bool {
        let spans = || {
            data.trace(self.trace_id)
                .into_iter()
                .flat_map(|t| t.spans.iter())
        };
        match term {
            Term::Error => self.errors > 0,
            Term::ColdStart => self.cold_starts > 0,
            Term::NPlus1 => self.nplus1,
            Term::Fanout => self.fanout,
            Term::Orphan => self.orphans > 0,
            Term::LongerThan(ns) => self.duration_ns() > *ns,
            Term::ShorterThan(ns) => self.duration_ns() < *ns,
            Term::Service(name) => {
                let sym = Sym::get(name);
                sym.is_some_and(|sym| spans().any(|s| s.service() == sym))
            }
            Term::Attr(k, v) => spans().any(|s| {
                s.attr(k).is_some_and(|a| attr_eq(a, v))
                    || s.resource.attr(k).is_some_and(|a| attr_eq(a, v))
            }),
            Term::Text(w) => {
                self.text_matches(w)
                    || self.trace_id.to_string().starts_with(w.as_str())
                    || spans()
                        .any(|s| contains(s.name.as_str(), w) || contains(s.service().as_str(), w))
            }
        }
    }
    fn alarming(&self) -> bool {
        self.errors > 0
    }
}

// === Cold starts ===

const COLD_COLS: [Col<ColdStartRow>; 12] = [
    col(
        "Function",
        Constraint::Min(16),
        |r, _| clean(r.function.as_str()).into_owned(),
        |r| Key::Text(r.function.as_str()),
    ),
    wide(col(
        "Memory",
        Constraint::Length(7),
        |r, _| r.memory_mb.map_or("-".into(), |m| format!("{m}MB")),
        |r| Key::Num(r.memory_mb.unwrap_or(0) as f64),
    )),
    wide(col(
        "Inst",
        Constraint::Length(5),
        |r, _| r.instances.to_string(),
        |r| Key::Num(r.instances as f64),
    )),
    col(
        "Invoc",
        Constraint::Length(6),
        |r, _| r.invocations.to_string(),
        |r| Key::Num(r.invocations as f64),
    ),
    col(
        "Cold",
        Constraint::Length(5),
        |r, _| r.cold.to_string(),
        |r| Key::Num(r.cold as f64),
    ),
    col(
        "Cold%",
        Constraint::Length(6),
        |r, _| format!("{:.1}", pct(r.cold, r.invocations)),
        |r| Key::Num(pct(r.cold, r.invocations)),
    ),
    col(
        "Init p50",
        Constraint::Length(9),
        |r, _| dur(r.init_p50_ns),
        |r| Key::Num(r.init_p50_ns as f64),
    ),
    wide(col(
        "Init p99",
        Constraint::Length(9),
        |r, _| dur(r.init_p99_ns),
        |r| Key::Num(r.init_p99_ns as f64),
    )),
    wide(col(
        "Cold p50",
        Constraint::Length(9),
        |r, _| dur(r.cold_p50_ns),
        |r| Key::Num(r.cold_p50_ns as f64),
    )),
    wide(col(
        "Warm p50",
        Constraint::Length(9),
        |r, _| dur(r.warm_p50_ns),
        |r| Key::Num(r.warm_p50_ns as f64),
    )),
    col(
        "Penalty",
        Constraint::Length(9),
        |r, _| r.penalty_ns.map_or("-".into(), |p| format!("+{}", dur(p))),
        |r| Key::Num(r.penalty_ns.unwrap_or(0) as f64),
    ),
    col(
        "On CP",
        Constraint::Length(6),
        |r, _| r.on_critical_path.to_string(),
        |r| Key::Num(r.on_critical_path as f64),
    ),
];

impl Row for ColdStartRow {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.function.as_str(), w)
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::ColdStart => self.cold > 0,
            Term::LongerThan(ns) => self.init_p50_ns > *ns,
            Term::ShorterThan(ns) => self.init_p50_ns < *ns,
            _ => false,
        }
    }
}

// === Fan-out ===

const FANOUT_COLS: [Col<FanoutRow>; 7] = [
    col(
        "Kind",
        Constraint::Length(8),
        |r, _| fanout_kind(r.kind).into(),
        |r| Key::Text(fanout_kind(r.kind)),
    ),
    col(
        "Service",
        Constraint::Min(14),
        |r, _| clean(r.service.as_str()).into_owned(),
        |r| Key::Text(r.service.as_str()),
    ),
    wide(col(
        "In",
        Constraint::Min(16),
        |r, _| clean(r.parent.as_str()).into_owned(),
        |r| Key::Text(r.parent.as_str()),
    )),
    col(
        "Calls",
        Constraint::Min(20),
        |r, _| clean(&r.target).into_owned(),
        |r| Key::Text(&r.target),
    ),
    col(
        "Seen",
        Constraint::Length(5),
        |r, _| r.occurrences.to_string(),
        |r| Key::Num(r.occurrences as f64),
    ),
    col(
        "Degree",
        Constraint::Length(9),
        |r, _| match r.kind {
            FanoutKind::Chain => format!("×{:.1}", r.max_degree),
            _ => format!("{:.1}/{:.0}", r.mean_degree(), r.max_degree),
        },
        |r| Key::Num(r.mean_degree()),
    ),
    col(
        "Cost",
        Constraint::Length(8),
        |r, _| dur(r.cost_ns),
        |r| Key::Num(r.cost_ns as f64),
    ),
];

fn fanout_kind(k: FanoutKind) -> &'static str {
    match k {
        FanoutKind::NPlus1 => "N+1",
        FanoutKind::Parallel => "parallel",
        FanoutKind::Chain => "chain",
    }
}

impl Row for FanoutRow {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.service.as_str(), w)
            || contains(self.parent.as_str(), w)
            || contains(&self.target, w)
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::NPlus1 => self.kind == FanoutKind::NPlus1,
            Term::Fanout => self.kind != FanoutKind::NPlus1,
            Term::LongerThan(ns) => self.cost_ns > *ns,
            Term::ShorterThan(ns) => self.cost_ns < *ns,
            _ => false,
        }
    }
}

// === Hotspots: operations by critical-path time, edges by client/server gap ===

fn hotspot_kind(k: HotspotKind) -> &'static str {
    match k {
        HotspotKind::CriticalPath => "crit path",
        HotspotKind::EdgeGap => "edge gap",
    }
}

fn hotspot_where(r: &HotspotRow) -> String {
    match r.callee {
        Some(callee) => format!("{} → {}", clean(r.service.as_str()), clean(callee.as_str())),
        None => clean(r.service.as_str()).into_owned(),
    }
}

const HOTSPOT_COLS: [Col<HotspotRow>; 7] = [
    col(
        "Kind",
        Constraint::Length(9),
        |r, _| hotspot_kind(r.kind).into(),
        |r| Key::Text(hotspot_kind(r.kind)),
    ),
    col(
        "Where",
        Constraint::Min(20),
        |r, _| hotspot_where(r),
        |r| Key::Text(r.service.as_str()),
    ),
    col(
        "Operation",
        Constraint::Min(18),
        |r, _| clean(r.operation.as_str()).into_owned(),
        |r| Key::Text(r.operation.as_str()),
    ),
    wide(col(
        "Count",
        Constraint::Length(6),
        |r, _| r.count.to_string(),
        |r| Key::Num(r.count as f64),
    )),
    col(
        "Total",
        Constraint::Length(8),
        |r, _| dur(r.total_ns),
        |r| Key::Num(r.total_ns as f64),
    ),
    col(
        "Mean",
        Constraint::Length(8),
        |r, _| dur(r.mean_ns()),
        |r| Key::Num(r.mean_ns() as f64),
    ),
    col(
        "Share",
        Constraint::Length(6),
        |r, _| format!("{:.1}%", r.share * 100.0),
        |r| Key::Num(r.share),
    ),
];

impl Row for HotspotRow {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.service.as_str(), w)
            || self.callee.is_some_and(|c| contains(c.as_str(), w))
            || contains(self.operation.as_str(), w)
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::LongerThan(ns) => self.mean_ns() > *ns,
            Term::ShorterThan(ns) => self.mean_ns() < *ns,
            _ => false,
        }
    }
}

// === Map ===

const MAP_COLS: [Col<MapEdge>; 7] = [
    col(
        "Caller",
        Constraint::Min(18),
        |r, _| clean(r.caller.as_str()).into_owned(),
        |r| Key::Text(r.caller.as_str()),
    ),
    col(
        "Callee",
        Constraint::Min(20),
        |r, _| format!("──▶ {}", clean(r.callee.as_str())),
        |r| Key::Text(r.callee.as_str()),
    ),
    wide(col(
        "Kind",
        Constraint::Length(9),
        |r, _| r.kind.into(),
        |r| Key::Text(r.kind),
    )),
    col(
        "Calls",
        Constraint::Length(7),
        |r, _| r.calls.to_string(),
        |r| Key::Num(r.calls as f64),
    ),
    col(
        "Err%",
        Constraint::Length(6),
        |r, _| format!("{:.1}", pct(r.errors, r.calls)),
        |r| Key::Num(pct(r.errors, r.calls)),
    ),
    col(
        "p50",
        Constraint::Length(8),
        |r, _| dur(r.p50_ns),
        |r| Key::Num(r.p50_ns as f64),
    ),
    col(
        "p99",
        Constraint::Length(8),
        |r, _| dur(r.p99_ns),
        |r| Key::Num(r.p99_ns as f64),
    ),
];

impl Row for MapEdge {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.caller.as_str(), w) || contains(self.callee.as_str(), w)
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::Error => self.errors > 0,
            Term::LongerThan(ns) => self.p50_ns > *ns,
            Term::ShorterThan(ns) => self.p50_ns < *ns,
            _ => false,
        }
    }
    fn alarming(&self) -> bool {
        pct(self.errors, self.calls) >= 5.0
    }
}

// === shared machinery ===

/// Indices of the rows that pass the filter, in display order. Ties fall back to the other
/// columns in order, so the order is total and frames are stable.
fn visible<T: Row>(items: &[T], cols: &[Col<T>], state: &ListState, data: &ViewData) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..items.len())
        .filter(|&i| state.filter.terms.iter().all(|t| items[i].matches(t, data)))
        .collect();
    let sort = state.sort.min(cols.len() - 1);
    idx.sort_by(|&a, &b| {
        let (x, y) = (&items[a], &items[b]);
        let primary = cmp_keys((cols[sort].key)(x), (cols[sort].key)(y));
        let primary = if state.descending {
            primary.reverse()
        } else {
            primary
        };
        cols.iter().fold(primary, |acc, c| {
            acc.then_with(|| cmp_keys((c.key)(x), (c.key)(y)))
        })
    });
    idx
}

pub fn visible_len(tab: ListTab, state: &ListState, data: &ViewData) -> usize {
    match tab {
        ListTab::Services => visible(&data.services, &SERVICE_COLS, state, data).len(),
        ListTab::Traces => visible(&data.traces, &TRACE_COLS, state, data).len(),
        ListTab::ColdStarts => visible(&data.cold_starts, &COLD_COLS, state, data).len(),
        ListTab::Fanout => visible(&data.fanouts, &FANOUT_COLS, state, data).len(),
        ListTab::Hotspots => visible(&data.hotspots, &HOTSPOT_COLS, state, data).len(),
        ListTab::Map => visible(&data.map, &MAP_COLS, state, data).len(),
    }
}

pub enum Activate {
    Open(Evidence),
    TracesOf(Sym),
}

/// What Enter on the selected row leads to.
pub fn activate(tab: ListTab, state: &ListState, data: &ViewData) -> Option<Activate> {
    fn pick<T: Row>(
        items: &[T],
        cols: &[Col<T>],
        state: &ListState,
        data: &ViewData,
    ) -> Option<usize> {
        visible(items, cols, state, data)
            .get(state.selected)
            .copied()
    }
    match tab {
        ListTab::Services => pick(&data.services, &SERVICE_COLS, state, data)
            .map(|i| Activate::TracesOf(data.services[i].service)),
        ListTab::Traces => pick(&data.traces, &TRACE_COLS, state, data).and_then(|i| {
            let row = &data.traces[i];
            let trace = data.trace(row.trace_id)?;
            let root = trace.roots().next().or(trace.spans.first())?;
            Some(Activate::Open(Evidence {
                trace_id: row.trace_id,
                span_id: root.span_id,
            }))
        }),
        ListTab::ColdStarts => pick(&data.cold_starts, &COLD_COLS, state, data)
            .and_then(|i| data.cold_starts[i].worst)
            .map(Activate::Open),
        ListTab::Fanout => pick(&data.fanouts, &FANOUT_COLS, state, data)
            .map(|i| Activate::Open(data.fanouts[i].worst)),
        ListTab::Hotspots => pick(&data.hotspots, &HOTSPOT_COLS, state, data)
            .and_then(|i| data.hotspots[i].worst)
            .map(Activate::Open),
        ListTab::Map => pick(&data.map, &MAP_COLS, state, data)
            .and_then(|i| data.map[i].worst)
            .map(Activate::Open),
    }
}

pub fn render(frame: &mut Frame, area: Rect, tab: ListTab, state: &mut ListState, data: &ViewData) {
    match tab {
        ListTab::Services => draw(
            frame,
            area,
            "Services",
            &data.services,
            &SERVICE_COLS,
            state,
            data,
        ),
        ListTab::Traces => draw(
            frame,
            area,
            "Traces",
            &data.traces,
            &TRACE_COLS,
            state,
            data,
        ),
        ListTab::ColdStarts => draw(
            frame,
            area,
            "Cold starts by function",
            &data.cold_starts,
            &COLD_COLS,
            state,
            data,
        ),
        ListTab::Fanout => draw(
            frame,
            area,
            "N+1 loops, parallel fan-outs and chains, by critical-path time",
            &data.fanouts,
            &FANOUT_COLS,
            state,
            data,
        ),
        ListTab::Hotspots => draw(
            frame,
            area,
            "Operations by critical-path time; edges by client time outside the server",
            &data.hotspots,
            &HOTSPOT_COLS,
            state,
            data,
        ),
        ListTab::Map => draw(
            frame,
            area,
            "Service map",
            &data.map,
            &MAP_COLS,
            state,
            data,
        ),
    }
}

/// Below this width the `wide_only` columns are left out.
const WIDE: u16 = 110;

#[allow(clippy::too_many_arguments)] // a table's title, rows, columns, state and data: all needed
fn draw<T: Row>(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    items: &[T],
    cols: &[Col<T>],
    state: &mut ListState,
    data: &ViewData,
) {
    let key = OrderKey {
        generation: data.generation,
        sort: state.sort,
        descending: state.descending,
        filter: state.filter.clone(),
    };
    let order = match &state.order {
        Some((k, order)) if *k == key => Arc::clone(order),
        _ => {
            let order: Arc<[usize]> = visible(items, cols, state, data).into();
            state.order = Some((key, Arc::clone(&order)));
            order
        }
    };
    let shown: Vec<(usize, &Col<T>)> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| area.width >= WIDE || !c.wide_only)
        .collect();
    // Borders and the header row take three lines.
    let height = area.height.saturating_sub(3) as usize;
    state.selected = state.selected.min(order.len().saturating_sub(1));
    if state.selected < state.offset {
        state.offset = state.selected;
    } else if height > 0 && state.selected >= state.offset + height {
        state.offset = state.selected + 1 - height;
    }
    let sort = state.sort.min(cols.len() - 1);
    let arrow = if state.descending { "▼" } else { "▲" };
    let header = TableRow::new(shown.iter().map(|(i, c)| {
        let t = if *i == sort {
            format!("{}{arrow}", c.title)
        } else {
            c.title.to_owned()
        };
        Cell::from(t)
    }))
    .style(theme::HEADER);
    // Sorted by a name in the first column, rows group under it: repeats are left blank
    // below the first row of a group (the Map reads as caller, then its callees).
    let group = sort == 0
        && order
            .first()
            .is_some_and(|&i| matches!((cols[0].key)(&items[i]), Key::Text(_)));
    let mut prev_first: Option<Key<'_>> = None;
    let rows = order
        .iter()
        .enumerate()
        .skip(state.offset)
        .take(height.max(1))
        .map(|(pos, &i)| {
            let item = &items[i];
            let style = if pos == state.selected {
                theme::SELECTED
            } else if item.alarming() {
                theme::ERROR
            } else {
                Style::default()
            };
            let first = (cols[0].key)(item);
            let repeat = group && prev_first == Some(first);
            prev_first = Some(first);
            TableRow::new(shown.iter().map(|&(ci, c)| {
                if ci == 0 && repeat {
                    Cell::from("")
                } else {
                    Cell::from((c.cell)(item, data))
                }
            }))
            .style(style)
        })
        .collect::<Vec<_>>();
    let mut title_spans = vec![TextSpan::styled(format!(" {title} "), theme::TITLE)];
    title_spans.push(TextSpan::raw(format!("{}/{} ", order.len(), items.len())));
    if !state.filter.is_empty() {
        title_spans.push(TextSpan::styled(
            format!("filter: {} ", clean(state.filter.text())),
            Style::default().fg(Color::Yellow),
        ));
    }
    let table = Table::new(rows, shown.iter().map(|(_, c)| c.width))
        .header(header)
        .column_spacing(1)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(Color::DarkGray))
                .title(Line::from(title_spans)),
        );
    frame.render_widget(table, area);
    if order.is_empty() && area.height > 4 {
        let msg = if items.is_empty() {
            "nothing yet: waiting for complete traces"
        } else {
            "no row matches the filter (Esc clears it)"
        };
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        frame.render_widget(
            Line::styled(msg, Style::default().add_modifier(Modifier::ITALIC)),
            inner,
        );
    }
}
