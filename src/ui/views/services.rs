//! Services: rate, errors and latency per service (the report's RED rows), cold-start rate and
//! critical-path share. Enter lists the service's traces.

use std::borrow::Cow;

use ratatui::layout::Constraint;

use super::{ListView, Open, contains, name_id, ns};
use crate::analysis::findings::ServiceRow;
use crate::analysis::findings::view::ViewData;
use crate::ui::filter::Term;
use crate::ui::widgets::table::{Column, RowId, Value, col, wide};

pub struct Services;

/// A service that only called out served no request: no rate, errors or latency to show.
fn served<'a>(r: &ServiceRow, v: Value<'a>) -> Value<'a> {
    if r.red.requests > 0 {
        v
    } else {
        Value::Missing
    }
}

const COLUMNS: [Column<ServiceRow>; 8] = [
    col("Service", Constraint::Min(16), |r, _| {
        Value::Text(r.red.service.as_str().into())
    }),
    col("Req/s", Constraint::Length(7), |r, _| {
        served(r, Value::Float(r.red.rate_per_s, 1))
    }),
    col("Err%", Constraint::Length(6), |r, _| {
        served(r, Value::Percent(r.red.error_rate))
    }),
    col("p50", Constraint::Length(8), |r, _| {
        served(r, Value::Duration(ns(r.red.duration.p50_ns)))
    }),
    col("p95", Constraint::Length(8), |r, _| {
        served(r, Value::Duration(ns(r.red.duration.p95_ns)))
    }),
    col("p99", Constraint::Length(8), |r, _| {
        served(r, Value::Duration(ns(r.red.duration.p99_ns)))
    }),
    col("Cold%", Constraint::Length(6), |r, _| {
        r.cold_start_rate.map_or(Value::Missing, Value::Percent)
    }),
    wide(col("CP%", Constraint::Length(6), |r, _| {
        Value::Percent(r.cp_share)
    })),
];

impl ListView for Services {
    type Row = ServiceRow;

    fn title(&self, _: &ViewData) -> Cow<'static, str> {
        "Services".into()
    }
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [ServiceRow] {
        &data.findings.services
    }
    fn columns(&self) -> &'static [Column<ServiceRow>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (1, true)
    }
    fn matches(&self, r: &ServiceRow, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => {
                contains(r.red.service.as_str(), &w.to_ascii_lowercase())
            }
            Term::Error => r.red.errors > 0,
            Term::ColdStart => r.cold_starts > 0,
            Term::LongerThan(t) => ns(r.red.duration.p95_ns) > *t,
            Term::ShorterThan(t) => ns(r.red.duration.p95_ns) < *t,
            _ => false,
        }
    }
    fn alarming(&self, r: &ServiceRow) -> bool {
        r.red.error_rate >= 0.05
    }
    fn open(&self, r: &ServiceRow, _: &ViewData) -> Option<Open> {
        Some(Open::TracesOf(r.red.service))
    }
    fn id(&self, r: &ServiceRow, _: &ViewData) -> RowId {
        name_id(&[r.red.service.as_str()])
    }
}
