//! Fan-out: N+1 loops, parallel fan-outs and chains across traces, by the critical-path time
//! they cost. Enter opens the worst occurrence.

use std::borrow::Cow;

use ratatui::layout::Constraint;

use super::{ListView, Open, contains, name_id, ns};
use crate::analysis::findings::view::ViewData;
use crate::analysis::findings::{Pattern, PatternKind};
use crate::analysis::trace::fanout::Shape;
use crate::ui::filter::Term;
use crate::ui::widgets::table::{Column, Key, RowId, Value, col, wide};

pub struct Fanout;

fn kind(k: PatternKind) -> &'static str {
    match k {
        PatternKind::NPlusOne => "N+1",
        PatternKind::MnPlusOne => "MN+1",
        PatternKind::Parallel => "parallel",
        PatternKind::Chain => "chain",
    }
}

/// How the calls of a pattern ran: a loop that overlaps is not a plain N+1.
fn shape(r: &Pattern) -> String {
    match r.shape {
        Some(Shape::Sequential) => "serial".into(),
        Some(Shape::Parallel) => "parallel".into(),
        Some(Shape::Mixed) => format!("≤{} at once", r.max_concurrency),
        None => "-".into(),
    }
}

const COLUMNS: [Column<Pattern>; 8] = [
    col("Kind", Constraint::Length(8), |r, _| {
        Value::Text(kind(r.kind).into())
    }),
    col("Service", Constraint::Min(14), |r, _| {
        Value::Text(r.service.as_str().into())
    }),
    wide(col("In", Constraint::Min(16), |r, _| {
        Value::Text(r.parent.as_str().into())
    })),
    col("Calls", Constraint::Min(20), |r, _| {
        Value::Text(r.target.as_str().into())
    }),
    wide(col("Shape", Constraint::Length(11), |r, _| {
        Value::Shown(shape(r), Key::Num(r.max_concurrency as f64))
    })),
    col("Seen", Constraint::Length(5), |r, _| {
        Value::Count(r.occurrences as u64)
    }),
    // A loop's mean/max calls per parent; a chain's multiplication end to end.
    col("Degree", Constraint::Length(9), |r, _| {
        let text = match r.kind {
            PatternKind::Chain => format!("×{:.1}", r.max_degree),
            _ => format!("{:.1}/{:.0}", r.mean_degree, r.max_degree),
        };
        Value::Shown(text, Key::Num(r.mean_degree))
    }),
    col("Cost", Constraint::Length(8), |r, _| {
        Value::Duration(ns(r.cp_ns))
    }),
];

impl ListView for Fanout {
    type Row = Pattern;

    fn title(&self, _: &ViewData) -> Cow<'static, str> {
        "N+1 loops, parallel fan-outs and chains, by critical-path time".into()
    }
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [Pattern] {
        &data.findings.patterns
    }
    fn columns(&self) -> &'static [Column<Pattern>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (7, true)
    }
    fn matches(&self, r: &Pattern, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => {
                let w = w.to_ascii_lowercase();
                contains(r.service.as_str(), &w)
                    || contains(r.parent.as_str(), &w)
                    || contains(&r.target, &w)
            }
            Term::NPlus1 => matches!(r.kind, PatternKind::NPlusOne | PatternKind::MnPlusOne),
            Term::Fanout => matches!(r.kind, PatternKind::Parallel | PatternKind::Chain),
            Term::LongerThan(t) => ns(r.cp_ns) > *t,
            Term::ShorterThan(t) => ns(r.cp_ns) < *t,
            _ => false,
        }
    }
    fn open(&self, r: &Pattern, _: &ViewData) -> Option<Open> {
        Some(Open::Trace(r.worst))
    }
    fn id(&self, r: &Pattern, _: &ViewData) -> RowId {
        name_id(&[
            kind(r.kind),
            r.service.as_str(),
            r.parent.as_str(),
            &r.target,
        ])
    }
}
