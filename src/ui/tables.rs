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
use crate::analysis::callgraph::EdgeRow;
use crate::analysis::cold_start::FunctionColdStarts;
use crate::analysis::edges::CallKind;
use crate::analysis::fanout::Shape;
use crate::analysis::findings::{Pattern, PatternKind, ServiceRow};
use crate::analysis::view::{HotspotEntry, TraceRow, ViewData};
use crate::model::{AnyValue, SpanRef, Sym};

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
            ListTab::Fanout => (7, true),
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
    key: for<'a> fn(&'a T, &'a ViewData) -> Key<'a>,
}

const fn col<T>(
    title: &'static str,
    width: Constraint,
    cell: fn(&T, &ViewData) -> String,
    key: for<'a> fn(&'a T, &'a ViewData) -> Key<'a>,
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

/// The report's milliseconds as the nanoseconds `dur` prints.
fn ns(ms: f64) -> u64 {
    (ms.max(0.0) * 1e6) as u64
}

const SERVICE_COLS: [Col<ServiceRow>; 8] = [
    col(
        "Service",
        Constraint::Min(16),
        |r, _| clean(r.red.service.as_str()).into_owned(),
        |r, _| Key::Text(r.red.service.as_str()),
    ),
    col(
        "Req/s",
        Constraint::Length(7),
        |r, _| format!("{:.1}", r.red.rate_per_s),
        |r, _| Key::Num(r.red.rate_per_s),
    ),
    col(
        "Err%",
        Constraint::Length(6),
        |r, _| format!("{:.1}", r.red.error_rate * 100.0),
        |r, _| Key::Num(r.red.error_rate),
    ),
    col(
        "p50",
        Constraint::Length(8),
        |r, _| dur(ns(r.red.duration.p50_ms)),
        |r, _| Key::Num(r.red.duration.p50_ms),
    ),
    col(
        "p95",
        Constraint::Length(8),
        |r, _| dur(ns(r.red.duration.p95_ms)),
        |r, _| Key::Num(r.red.duration.p95_ms),
    ),
    col(
        "p99",
        Constraint::Length(8),
        |r, _| dur(ns(r.red.duration.p99_ms)),
        |r, _| Key::Num(r.red.duration.p99_ms),
    ),
    col(
        "Cold%",
        Constraint::Length(6),
        |r, _| {
            r.cold_start_rate
                .map_or("-".into(), |c| format!("{:.1}", c * 100.0))
        },
        |r, _| Key::Num(r.cold_start_rate.unwrap_or(-1.0)),
    ),
    wide(col(
        "CP%",
        Constraint::Length(6),
        |r, _| format!("{:.1}", r.cp_share * 100.0),
        |r, _| Key::Num(r.cp_share),
    )),
];

impl Row for ServiceRow {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.red.service.as_str(), w)
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::Error => self.red.errors > 0,
            Term::ColdStart => self.cold_starts > 0,
            Term::LongerThan(t) => ns(self.red.duration.p95_ms) > *t,
            Term::ShorterThan(t) => ns(self.red.duration.p95_ms) < *t,
            _ => false,
        }
    }
    fn alarming(&self) -> bool {
        self.red.error_rate >= 0.05
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
        |r, _| Key::Num(-(r.end_ns as f64)),
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
        |r, _| Key::Text(r.root_name.as_str()),
    ),
    col(
        "Duration",
        Constraint::Length(9),
        |r, _| dur(r.duration_ns()),
        |r, _| Key::Num(r.duration_ns() as f64),
    ),
    col(
        "Spans",
        Constraint::Length(6),
        |r, _| r.spans.to_string(),
        |r, _| Key::Num(r.spans as f64),
    ),
    wide(col(
        "Svcs",
        Constraint::Length(5),
        |r, _| r.services.to_string(),
        |r, _| Key::Num(r.services as f64),
    )),
    col(
        "Findings",
        Constraint::Length(18),
        |r, _| badges(r),
        |r, _| Key::Num(badge_score(r)),
    ),
    wide(col(
        "Trace",
        Constraint::Length(17),
        |r, _| r.trace_id.to_string()[..16].to_owned(),
        |r, _| Key::Num(r.trace_id.as_u128() as f64),
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

fn function_label(r: &FunctionColdStarts) -> String {
    match r.trigger {
        Some(t) => format!("{} ({})", clean(r.function.as_str()), clean(t.as_str())),
        None => clean(r.function.as_str()).into_owned(),
    }
}

const COLD_COLS: [Col<FunctionColdStarts>; 12] = [
    col(
        "Function",
        Constraint::Min(16),
        |r, _| function_label(r),
        |r, _| Key::Text(r.function.as_str()),
    ),
    wide(col(
        "Memory",
        Constraint::Length(7),
        |r, _| r.memory_mb.map_or("-".into(), |m| format!("{m}MB")),
        |r, _| Key::Num(r.memory_mb.unwrap_or(0) as f64),
    )),
    wide(col(
        "Inst",
        Constraint::Length(5),
        |r, _| r.instances.to_string(),
        |r, _| Key::Num(r.instances as f64),
    )),
    col(
        "Invoc",
        Constraint::Length(6),
        |r, _| r.invocations.to_string(),
        |r, _| Key::Num(r.invocations as f64),
    ),
    col(
        "Cold",
        Constraint::Length(5),
        |r, _| r.cold.to_string(),
        |r, _| Key::Num(r.cold as f64),
    ),
    col(
        "Cold%",
        Constraint::Length(6),
        |r, _| format!("{:.1}", r.cold_rate * 100.0),
        |r, _| Key::Num(r.cold_rate),
    ),
    col(
        "Init p50",
        Constraint::Length(9),
        |r, _| dur(ns(r.init.p50_ms)),
        |r, _| Key::Num(r.init.p50_ms),
    ),
    wide(col(
        "Init p99",
        Constraint::Length(9),
        |r, _| dur(ns(r.init.p99_ms)),
        |r, _| Key::Num(r.init.p99_ms),
    )),
    wide(col(
        "Cold p50",
        Constraint::Length(9),
        |r, _| dur(ns(r.server_penalty.cold.p50_ms)),
        |r, _| Key::Num(r.server_penalty.cold.p50_ms),
    )),
    wide(col(
        "Warm p50",
        Constraint::Length(9),
        |r, _| dur(ns(r.server_penalty.warm.p50_ms)),
        |r, _| Key::Num(r.server_penalty.warm.p50_ms),
    )),
    col(
        "Penalty",
        Constraint::Length(9),
        |r, _| {
            r.server_penalty.delta_p50_ms.map_or("-".into(), |p| {
                format!("{}{}", if p < 0.0 { "-" } else { "+" }, dur(ns(p.abs())))
            })
        },
        |r, _| Key::Num(r.server_penalty.delta_p50_ms.unwrap_or(0.0)),
    ),
    col(
        "On CP",
        Constraint::Length(6),
        |r, _| r.on_critical_path.to_string(),
        |r, _| Key::Num(r.on_critical_path as f64),
    ),
];

impl Row for FunctionColdStarts {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.function.as_str(), w) || self.trigger.is_some_and(|t| contains(t.as_str(), w))
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::ColdStart => self.cold > 0,
            Term::LongerThan(t) => ns(self.init.p50_ms) > *t,
            Term::ShorterThan(t) => ns(self.init.p50_ms) < *t,
            _ => false,
        }
    }
}

// === Fan-out ===

fn pattern_kind(k: PatternKind) -> &'static str {
    match k {
        PatternKind::NPlusOne => "N+1",
        PatternKind::MnPlusOne => "MN+1",
        PatternKind::Parallel => "parallel",
        PatternKind::Chain => "chain",
    }
}

/// How the calls of a pattern ran: a loop that overlaps is not a plain N+1.
fn pattern_shape(r: &Pattern) -> String {
    match r.shape {
        Some(Shape::Sequential) => "serial".into(),
        Some(Shape::Parallel) => "parallel".into(),
        Some(Shape::Mixed) => format!("≤{} at once", r.max_concurrency),
        None => "-".into(),
    }
}

const FANOUT_COLS: [Col<Pattern>; 8] = [
    col(
        "Kind",
        Constraint::Length(8),
        |r, _| pattern_kind(r.kind).into(),
        |r, _| Key::Text(pattern_kind(r.kind)),
    ),
    col(
        "Service",
        Constraint::Min(14),
        |r, _| clean(r.service.as_str()).into_owned(),
        |r, _| Key::Text(r.service.as_str()),
    ),
    wide(col(
        "In",
        Constraint::Min(16),
        |r, _| clean(r.parent.as_str()).into_owned(),
        |r, _| Key::Text(r.parent.as_str()),
    )),
    col(
        "Calls",
        Constraint::Min(20),
        |r, _| clean(&r.target).into_owned(),
        |r, _| Key::Text(&r.target),
    ),
    wide(col(
        "Shape",
        Constraint::Length(11),
        |r, _| pattern_shape(r),
        |r, _| Key::Num(r.max_concurrency as f64),
    )),
    col(
        "Seen",
        Constraint::Length(5),
        |r, _| r.occurrences.to_string(),
        |r, _| Key::Num(r.occurrences as f64),
    ),
    col(
        "Degree",
        Constraint::Length(9),
        |r, _| match r.kind {
            PatternKind::Chain => format!("×{:.1}", r.max_degree),
            _ => format!("{:.1}/{:.0}", r.mean_degree, r.max_degree),
        },
        |r, _| Key::Num(r.mean_degree),
    ),
    col(
        "Cost",
        Constraint::Length(8),
        |r, _| dur(ns(r.cp_ms)),
        |r, _| Key::Num(r.cp_ms),
    ),
];

impl Row for Pattern {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.service.as_str(), w)
            || contains(self.parent.as_str(), w)
            || contains(&self.target, w)
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::NPlus1 => matches!(self.kind, PatternKind::NPlusOne | PatternKind::MnPlusOne),
            Term::Fanout => matches!(self.kind, PatternKind::Parallel | PatternKind::Chain),
            Term::LongerThan(t) => ns(self.cp_ms) > *t,
            Term::ShorterThan(t) => ns(self.cp_ms) < *t,
            _ => false,
        }
    }
}

// === Hotspots: operations by critical-path time, edges by client/server gap ===

/// What a Hotspots row shows, from either of its sources in `Findings`.
struct HotspotCells<'a> {
    kind: &'static str,
    service: &'a str,
    callee: Option<&'a str>,
    operation: &'a str,
    count: u64,
    total_ms: f64,
    mean_ms: f64,
    share: f64,
}

fn hotspot<'a>(e: &HotspotEntry, d: &'a ViewData) -> Option<HotspotCells<'a>> {
    let h = &d.findings.hotspots;
    Some(match *e {
        HotspotEntry::Operation(i) => {
            let r = h.operations.get(i)?;
            HotspotCells {
                kind: "crit path",
                service: r.service.as_str(),
                callee: None,
                operation: r.operation.as_str(),
                count: r.occurrence as u64,
                total_ms: r.cp_total_ms,
                mean_ms: r.cp_total_ms / r.occurrence.max(1) as f64,
                share: r.cp_share,
            }
        }
        HotspotEntry::Gap(i) => {
            let r = h.edges_by_gap_mean.get(i)?;
            HotspotCells {
                kind: "edge gap",
                service: r.caller.as_str(),
                callee: Some(r.callee.as_str()),
                operation: "",
                count: r.gap.n as u64,
                total_ms: r.gap.total_ms,
                mean_ms: r.gap.mean_ms,
                share: r.gap.total_ms / r.client.total_ms.max(1e-9),
            }
        }
    })
}

fn hotspot_where(c: &HotspotCells<'_>) -> String {
    match c.callee {
        Some(callee) => format!("{} → {}", clean(c.service), clean(callee)),
        None => clean(c.service).into_owned(),
    }
}

fn hotspot_operation(e: &HotspotEntry, d: &ViewData) -> String {
    match *e {
        HotspotEntry::Gap(i) => d
            .findings
            .hotspots
            .edges_by_gap_mean
            .get(i)
            .map(|r| {
                r.operations
                    .keys()
                    .map(|o| clean(o.as_str()).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        HotspotEntry::Operation(_) => hotspot(e, d)
            .map(|c| clean(c.operation).into_owned())
            .unwrap_or_default(),
    }
}

fn hkey<'a>(
    e: &HotspotEntry,
    d: &'a ViewData,
    f: impl Fn(&HotspotCells<'a>) -> Key<'a>,
) -> Key<'a> {
    hotspot(e, d).map_or(Key::Num(0.0), |c| f(&c))
}

const HOTSPOT_COLS: [Col<HotspotEntry>; 7] = [
    col(
        "Kind",
        Constraint::Length(9),
        |r, d| hotspot(r, d).map_or("", |c| c.kind).into(),
        |r, d| hkey(r, d, |c| Key::Text(c.kind)),
    ),
    col(
        "Where",
        Constraint::Min(20),
        |r, d| hotspot(r, d).map(|c| hotspot_where(&c)).unwrap_or_default(),
        |r, d| hkey(r, d, |c| Key::Text(c.service)),
    ),
    col(
        "Operation",
        Constraint::Min(18),
        hotspot_operation,
        |r, d| hkey(r, d, |c| Key::Text(c.operation)),
    ),
    wide(col(
        "Count",
        Constraint::Length(6),
        |r, d| hotspot(r, d).map_or(0, |c| c.count).to_string(),
        |r, d| hkey(r, d, |c| Key::Num(c.count as f64)),
    )),
    col(
        "Total",
        Constraint::Length(8),
        |r, d| dur(ns(hotspot(r, d).map_or(0.0, |c| c.total_ms))),
        |r, d| hkey(r, d, |c| Key::Num(c.total_ms)),
    ),
    col(
        "Mean",
        Constraint::Length(8),
        |r, d| dur(ns(hotspot(r, d).map_or(0.0, |c| c.mean_ms))),
        |r, d| hkey(r, d, |c| Key::Num(c.mean_ms)),
    ),
    col(
        "Share",
        Constraint::Length(6),
        |r, d| format!("{:.1}%", hotspot(r, d).map_or(0.0, |c| c.share) * 100.0),
        |r, d| hkey(r, d, |c| Key::Num(c.share)),
    ),
];

impl Row for HotspotEntry {
    fn text_matches(&self, _: &str) -> bool {
        false
    }
    fn matches(&self, term: &Term, data: &ViewData) -> bool {
        let Some(c) = hotspot(self, data) else {
            return false;
        };
        match term {
            Term::Text(w) | Term::Service(w) => {
                let w = w.to_ascii_lowercase();
                contains(c.service, &w)
                    || c.callee.is_some_and(|x| contains(x, &w))
                    || contains(&hotspot_operation(self, data), &w)
            }
            Term::LongerThan(t) => ns(c.mean_ms) > *t,
            Term::ShorterThan(t) => ns(c.mean_ms) < *t,
            _ => false,
        }
    }
}

// === Map ===

fn call_kind(k: CallKind) -> &'static str {
    match k {
        CallKind::Rpc => "rpc",
        CallKind::Messaging => "messaging",
        CallKind::Database => "database",
        CallKind::External => "external",
    }
}

/// Hops from the entry points to the edge's caller, from the service graph.
fn caller_depth(r: &EdgeRow, d: &ViewData) -> Option<usize> {
    d.findings
        .service_graph
        .services
        .iter()
        .find(|n| n.service == r.caller)
        .and_then(|n| n.depth)
}

const MAP_COLS: [Col<EdgeRow>; 9] = [
    col(
        "Caller",
        Constraint::Min(18),
        |r, _| clean(r.caller.as_str()).into_owned(),
        |r, _| Key::Text(r.caller.as_str()),
    ),
    col(
        "Callee",
        Constraint::Min(20),
        |r, _| format!("──▶ {}", clean(r.callee.as_str())),
        |r, _| Key::Text(r.callee.as_str()),
    ),
    wide(col(
        "Kind",
        Constraint::Length(9),
        |r, _| call_kind(r.kind).into(),
        |r, _| Key::Text(call_kind(r.kind)),
    )),
    col(
        "Calls",
        Constraint::Length(7),
        |r, _| r.calls.to_string(),
        |r, _| Key::Num(r.calls as f64),
    ),
    col(
        "Err%",
        Constraint::Length(6),
        |r, _| format!("{:.1}", r.error_rate * 100.0),
        |r, _| Key::Num(r.error_rate),
    ),
    col(
        "p50",
        Constraint::Length(8),
        |r, _| dur(ns(r.client.p50_ms)),
        |r, _| Key::Num(r.client.p50_ms),
    ),
    col(
        "p99",
        Constraint::Length(8),
        |r, _| dur(ns(r.client.p99_ms)),
        |r, _| Key::Num(r.client.p99_ms),
    ),
    wide(col(
        "Depth",
        Constraint::Length(5),
        |r, d| caller_depth(r, d).map_or("-".into(), |n| n.to_string()),
        |r, d| Key::Num(caller_depth(r, d).map_or(f64::MAX, |n| n as f64)),
    )),
    wide(col(
        "Gap mean",
        Constraint::Length(9),
        |r, _| {
            if r.gap.n == 0 {
                "-".into()
            } else {
                dur(ns(r.gap.mean_ms))
            }
        },
        |r, _| Key::Num(r.gap.mean_ms),
    )),
];

impl Row for EdgeRow {
    fn text_matches(&self, w: &str) -> bool {
        contains(self.caller.as_str(), w) || contains(self.callee.as_str(), w)
    }
    fn matches(&self, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => self.text_matches(&w.to_ascii_lowercase()),
            Term::Error => self.errors > 0,
            Term::LongerThan(t) => ns(self.client.p50_ms) > *t,
            Term::ShorterThan(t) => ns(self.client.p50_ms) < *t,
            _ => false,
        }
    }
    fn alarming(&self) -> bool {
        self.error_rate >= 0.05
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
        let primary = cmp_keys((cols[sort].key)(x, data), (cols[sort].key)(y, data));
        let primary = if state.descending {
            primary.reverse()
        } else {
            primary
        };
        cols.iter().fold(primary, |acc, c| {
            acc.then_with(|| cmp_keys((c.key)(x, data), (c.key)(y, data)))
        })
    });
    idx
}

pub fn visible_len(tab: ListTab, state: &ListState, data: &ViewData) -> usize {
    match tab {
        ListTab::Services => visible(&data.findings.services, &SERVICE_COLS, state, data).len(),
        ListTab::Traces => visible(&data.traces, &TRACE_COLS, state, data).len(),
        ListTab::ColdStarts => visible(
            &data.findings.cold_starts.by_function,
            &COLD_COLS,
            state,
            data,
        )
        .len(),
        ListTab::Fanout => visible(&data.findings.patterns, &FANOUT_COLS, state, data).len(),
        ListTab::Hotspots => visible(&data.hotspots, &HOTSPOT_COLS, state, data).len(),
        ListTab::Map => visible(&data.findings.service_map, &MAP_COLS, state, data).len(),
    }
}

pub enum Activate {
    Open(SpanRef),
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
    let f = &data.findings;
    match tab {
        ListTab::Services => pick(&f.services, &SERVICE_COLS, state, data)
            .map(|i| Activate::TracesOf(f.services[i].red.service)),
        ListTab::Traces => pick(&data.traces, &TRACE_COLS, state, data).and_then(|i| {
            let row = &data.traces[i];
            let trace = data.trace(row.trace_id)?;
            let root = trace.roots().next().or(trace.spans.first())?;
            Some(Activate::Open(SpanRef::new(row.trace_id, root.span_id)))
        }),
        ListTab::ColdStarts => pick(&f.cold_starts.by_function, &COLD_COLS, state, data)
            .and_then(|i| f.cold_starts.by_function[i].worst)
            .map(Activate::Open),
        ListTab::Fanout => pick(&f.patterns, &FANOUT_COLS, state, data)
            .map(|i| Activate::Open(f.patterns[i].worst)),
        ListTab::Hotspots => pick(&data.hotspots, &HOTSPOT_COLS, state, data)
            .and_then(|i| match data.hotspots[i] {
                HotspotEntry::Operation(k) => f.hotspots.operations.get(k)?.evidence(),
                HotspotEntry::Gap(k) => f.hotspots.edges_by_gap_mean.get(k)?.evidence(),
            })
            .map(Activate::Open),
        ListTab::Map => pick(&f.service_map, &MAP_COLS, state, data)
            .and_then(|i| f.service_map[i].evidence())
            .map(Activate::Open),
    }
}

pub fn render(frame: &mut Frame, area: Rect, tab: ListTab, state: &mut ListState, data: &ViewData) {
    match tab {
        ListTab::Services => draw(
            frame,
            area,
            "Services",
            &data.findings.services,
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
            &data.findings.cold_starts.by_function,
            &COLD_COLS,
            state,
            data,
        ),
        ListTab::Fanout => draw(
            frame,
            area,
            "N+1 loops, parallel fan-outs and chains, by critical-path time",
            &data.findings.patterns,
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
            &map_title(data),
            &data.findings.service_map,
            &MAP_COLS,
            state,
            data,
        ),
    }
}

/// The map's title sums up the graph: its size and cycles.
fn map_title(data: &ViewData) -> String {
    let g = &data.findings.service_graph;
    let mut t = format!(
        "Service map: {} services, {} edges",
        g.services.len(),
        g.edges
    );
    match g.cycles.len() {
        0 => {}
        1 => t.push_str(", 1 cycle"),
        n => t.push_str(&format!(", {n} cycles")),
    }
    t
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
            .is_some_and(|&i| matches!((cols[0].key)(&items[i], data), Key::Text(_)));
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
            let first = (cols[0].key)(item, data);
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
