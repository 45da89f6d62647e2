//! Map: the service map as caller ──▶ callee edges (grouped under the caller when sorted by
//! it), with the service graph's size, cycles and each caller's depth. Enter opens an edge's
//! evidence.

use std::borrow::Cow;

use ratatui::layout::Constraint;

use super::{ListView, Open, contains, name_id, ns};
use crate::analysis::aggregate::callgraph::EdgeRow;
use crate::analysis::findings::view::ViewData;
use crate::ui::filter::Term;
use crate::ui::widgets::table::{Column, Key, RowId, Value, col, wide};

pub struct Map;

/// Hops from the entry points to the edge's caller, from the service graph.
fn caller_depth(r: &EdgeRow, d: &ViewData) -> Option<usize> {
    d.findings
        .service_graph
        .services
        .iter()
        .find(|n| n.service == r.caller)
        .and_then(|n| n.depth)
}

const COLUMNS: [Column<EdgeRow>; 9] = [
    col("Caller", Constraint::Min(18), |r, _| {
        Value::Text(r.caller.as_str().into())
    }),
    col("Callee", Constraint::Min(20), |r, _| {
        Value::Shown(
            format!("──▶ {}", r.callee.as_str()),
            Key::Text(r.callee.as_str()),
        )
    }),
    wide(col("Kind", Constraint::Length(9), |r, _| {
        Value::Text(r.kind.as_str().into())
    })),
    col("Calls", Constraint::Length(7), |r, _| {
        Value::Count(r.calls as u64)
    }),
    col("Err%", Constraint::Length(6), |r, _| {
        Value::Percent(r.error_rate)
    }),
    col("p50", Constraint::Length(8), |r, _| {
        Value::Duration(ns(r.client.p50_ns))
    }),
    col("p99", Constraint::Length(8), |r, _| {
        Value::Duration(ns(r.client.p99_ns))
    }),
    // Missing for a caller no entry point reaches (only inside a cycle).
    wide(col("Depth", Constraint::Length(5), |r, d| {
        caller_depth(r, d).map_or(Value::Missing, |n| Value::Count(n as u64))
    })),
    wide(col("Gap mean", Constraint::Length(9), |r, _| {
        if r.gap.n == 0 {
            Value::Missing
        } else {
            Value::Duration(ns(r.gap.mean_ns))
        }
    })),
];

impl ListView for Map {
    type Row = EdgeRow;

    /// The title sums up the graph: its size and cycles.
    fn title(&self, data: &ViewData) -> Cow<'static, str> {
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
        t.into()
    }
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [EdgeRow] {
        &data.findings.service_map
    }
    fn columns(&self) -> &'static [Column<EdgeRow>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (0, false)
    }
    fn matches(&self, r: &EdgeRow, term: &Term, _: &ViewData) -> bool {
        match term {
            Term::Text(w) | Term::Service(w) => {
                let w = w.to_ascii_lowercase();
                contains(r.caller.as_str(), &w) || contains(r.callee.as_str(), &w)
            }
            Term::Error => r.errors > 0,
            Term::LongerThan(t) => ns(r.client.p50_ns) > *t,
            Term::ShorterThan(t) => ns(r.client.p50_ns) < *t,
            _ => false,
        }
    }
    fn alarming(&self, r: &EdgeRow) -> bool {
        r.error_rate >= 0.05
    }
    fn open(&self, r: &EdgeRow, _: &ViewData) -> Option<Open> {
        r.evidence().map(Open::Trace)
    }
    fn id(&self, r: &EdgeRow, _: &ViewData) -> RowId {
        name_id(&[r.caller.as_str(), r.callee.as_str(), r.kind.as_str()])
    }
}
