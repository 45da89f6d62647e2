//! Cold starts by function and trigger: how often, how long the init took, what it cost the
//! request against warm ones, and how often it sat on the critical path. Enter opens the
//! worst cold start's trace.

use std::borrow::Cow;

use ratatui::layout::Constraint;

use super::{ListView, Open, contains, name_id, ns};
use crate::analysis::findings::view::ViewData;
use crate::analysis::trace::cold_start::FunctionColdStarts;
use crate::ui::filter::Term;
use crate::ui::text::dur;
use crate::ui::widgets::table::{Column, Key, RowId, Value, col, wide};

pub struct ColdStarts;

const COLUMNS: [Column<FunctionColdStarts>; 12] = [
    // Sorted and grouped by the function; the trigger tells its rows apart.
    col("Function", Constraint::Min(16), |r, _| match r.trigger {
        Some(t) => Value::Shown(
            format!("{} ({})", r.function.as_str(), t.as_str()),
            Key::Text(r.function.as_str()),
        ),
        None => Value::Text(r.function.as_str().into()),
    }),
    wide(col("Memory", Constraint::Length(7), |r, _| {
        r.memory_mb.map_or(Value::Missing, |m| {
            Value::Shown(format!("{m}MB"), Key::Num(m as f64))
        })
    })),
    wide(col("Inst", Constraint::Length(5), |r, _| {
        Value::Count(r.instances as u64)
    })),
    col("Invoc", Constraint::Length(6), |r, _| {
        Value::Count(r.invocations as u64)
    }),
    col("Cold", Constraint::Length(5), |r, _| {
        Value::Count(r.cold as u64)
    }),
    col("Cold%", Constraint::Length(6), |r, _| {
        Value::Percent(r.cold_rate)
    }),
    col("Init p50", Constraint::Length(9), |r, _| {
        Value::Duration(ns(r.init.p50_ns))
    }),
    wide(col("Init p99", Constraint::Length(9), |r, _| {
        Value::Duration(ns(r.init.p99_ns))
    })),
    wide(col("Cold p50", Constraint::Length(9), |r, _| {
        Value::Duration(ns(r.server_penalty.cold.p50_ns))
    })),
    wide(col("Warm p50", Constraint::Length(9), |r, _| {
        Value::Duration(ns(r.server_penalty.warm.p50_ns))
    })),
    col("Penalty", Constraint::Length(9), |r, _| {
        r.server_penalty.delta_p50_ns.map_or(Value::Missing, |p| {
            let sign = if p < 0 { "-" } else { "+" };
            Value::Shown(
                format!("{sign}{}", dur(p.unsigned_abs())),
                Key::Num(p as f64),
            )
        })
    }),
    col("On CP", Constraint::Length(6), |r, _| {
        Value::Count(r.on_critical_path as u64)
    }),
];

impl ListView for ColdStarts {
    type Row = FunctionColdStarts;

    fn title(&self, _: &ViewData) -> Cow<'static, str> {
        "Cold starts by function".into()
    }
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [FunctionColdStarts] {
        &data.findings.cold_starts.by_function
    }
    fn columns(&self) -> &'static [Column<FunctionColdStarts>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (4, true)
    }
    fn matches(&self, r: &FunctionColdStarts, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => {
                let w = w.to_ascii_lowercase();
                contains(r.function.as_str(), &w)
                    || r.trigger.is_some_and(|t| contains(t.as_str(), &w))
            }
            Term::ColdStart => r.cold > 0,
            Term::LongerThan(t) => ns(r.init.p50_ns) > *t,
            Term::ShorterThan(t) => ns(r.init.p50_ns) < *t,
            _ => false,
        }
    }
    fn open(&self, r: &FunctionColdStarts, _: &ViewData) -> Option<Open> {
        r.worst.map(Open::Trace)
    }
    fn id(&self, r: &FunctionColdStarts, _: &ViewData) -> RowId {
        name_id(&[r.function.as_str(), r.trigger.map_or("", |t| t.as_str())])
    }
}
