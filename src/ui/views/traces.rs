//! Traces: every held trace, newest first, with badges for what was found in it. Filters
//! reach into the trace's spans (service, attributes, names). Enter opens the waterfall.

use std::borrow::Cow;

use ratatui::layout::Constraint;

use super::{ListView, Open, sym_contains};
use crate::analysis::findings::view::{TraceRow, ViewData};
use crate::model::{AnyValue, SpanRef, Sym};
use crate::ui::filter::Term;
use crate::ui::widgets::table::{Column, Key, RowId, Value, col, wide};

pub struct Traces;

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

/// Errors first, then cold starts, N+1 loops, fan-outs.
fn badge_score(r: &TraceRow) -> f64 {
    f64::from(u8::from(r.errors > 0)) * 8.0
        + f64::from(u8::from(r.cold_starts > 0)) * 4.0
        + f64::from(u8::from(r.nplus1)) * 2.0
        + f64::from(u8::from(r.fanout))
}

const COLUMNS: [Column<TraceRow>; 7] = [
    // Measured from the data clock (the latest span end), so ascending is newest first.
    col("Ago", Constraint::Length(7), |r, d| {
        Value::Duration(d.clock_ns.saturating_sub(r.end_ns))
    }),
    col("Root", Constraint::Min(24), |r, _| {
        Value::Labelled(r.root_service.as_str(), r.root_name.as_str())
    }),
    col("Duration", Constraint::Length(9), |r, _| {
        Value::Duration(r.duration_ns())
    }),
    col("Spans", Constraint::Length(6), |r, _| {
        Value::Count(r.spans as u64)
    }),
    wide(col("Svcs", Constraint::Length(5), |r, _| {
        Value::Count(r.services as u64)
    })),
    col("Findings", Constraint::Length(18), |r, _| {
        Value::Shown(badges(r), Key::Num(badge_score(r)))
    }),
    // The first 16 hex digits: enough to tell traces apart and to type into the filter.
    wide(col("Trace", Constraint::Length(17), |r, _| {
        Value::Text(r.trace_id.to_string().chars().take(16).collect())
    })),
];

fn attr_eq(v: &AnyValue, want: &str) -> bool {
    match v {
        AnyValue::Str(s) => **s == *want,
        other => other.to_string() == want,
    }
}

impl ListView for Traces {
    type Row = TraceRow;

    fn title(&self, data: &ViewData) -> Cow<'static, str> {
        match data.snapshot.stats.open_traces {
            0 => "Traces".into(),
            n => format!("Traces (i: {n} in progress)").into(),
        }
    }
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [TraceRow] {
        &data.traces
    }
    fn columns(&self) -> &'static [Column<TraceRow>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (0, false)
    }
    fn matches(&self, r: &TraceRow, term: &Term, data: &ViewData) -> bool {
        let spans = || {
            data.trace(r.trace_id)
                .into_iter()
                .flat_map(|t| t.spans.iter())
        };
        match term {
            Term::Error => r.errors > 0,
            Term::ColdStart => r.cold_starts > 0,
            Term::NPlus1 => r.nplus1,
            Term::Fanout => r.fanout,
            Term::Orphan => r.orphans > 0,
            Term::LongerThan(ns) => r.duration_ns() > *ns,
            Term::ShorterThan(ns) => r.duration_ns() < *ns,
            Term::Service(name) => {
                let sym = Sym::get(name);
                sym.is_some_and(|sym| spans().any(|s| s.service() == sym))
            }
            Term::Attr(k, v) => spans().any(|s| {
                s.attr(k).is_some_and(|a| attr_eq(a, v))
                    || s.resource.attr(k).is_some_and(|a| attr_eq(a, v))
            }),
            Term::Text(w) => {
                // Only a hex word can start a trace id; names are interned, so each distinct
                // one is searched once per word (`sym_contains`).
                let hex = w.bytes().all(|b| b.is_ascii_hexdigit());
                sym_contains(r.root_name, w)
                    || sym_contains(r.root_service, w)
                    || (hex && r.trace_id.to_string().starts_with(w.as_str()))
                    || spans().any(|s| sym_contains(s.name, w) || sym_contains(s.service(), w))
            }
        }
    }
    fn alarming(&self, r: &TraceRow) -> bool {
        r.errors > 0
    }
    fn open(&self, r: &TraceRow, data: &ViewData) -> Option<Open> {
        let trace = data.trace(r.trace_id)?;
        let root = trace.roots().next().or(trace.spans.first())?;
        Some(Open::Trace(SpanRef::new(r.trace_id, root.span_id)))
    }
    fn id(&self, r: &TraceRow, _: &ViewData) -> RowId {
        RowId::Trace(r.trace_id)
    }
}
