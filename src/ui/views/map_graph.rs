//! Map, graph mode (the default; `v` switches to the edge table): the service graph drawn in
//! layers (`graph_drawing`), one row per call edge with its calls, error % and p99, so the
//! shape of the system and the figures of each hop read together. Enter opens an edge's
//! evidence, as in the table.

use std::borrow::Cow;

use ratatui::layout::Constraint;

use super::{ListView, Open, contains, name_id, ns};
use crate::analysis::aggregate::callgraph::EdgeRow;
use crate::analysis::aggregate::graph_drawing::DrawnRow;
use crate::analysis::findings::view::ViewData;
use crate::ui::filter::Term;
use crate::ui::widgets::table::{Column, Key, RowId, Value, col, wide};

pub struct MapGraph;

fn edge<'d>(r: &DrawnRow, d: &'d ViewData) -> Option<&'d EdgeRow> {
    r.edge.and_then(|i| d.findings.service_map.get(i))
}

const COLUMNS: [Column<DrawnRow>; 7] = [
    col("Service graph", Constraint::Min(28), |r, _| {
        Value::Shown(r.tree_text(), Key::Num(r.order as f64))
    }),
    wide(col("Layer", Constraint::Length(5), |r, _| {
        Value::Count(r.layer as u64)
    })),
    wide(col("Kind", Constraint::Length(9), |r, d| {
        edge(r, d).map_or(Value::Missing, |e| Value::Text(e.kind.as_str().into()))
    })),
    col("Calls", Constraint::Length(7), |r, d| {
        edge(r, d).map_or(Value::Missing, |e| Value::Count(e.calls as u64))
    }),
    col("Err%", Constraint::Length(6), |r, d| {
        edge(r, d).map_or(Value::Missing, |e| Value::Percent(e.error_rate))
    }),
    col("p99", Constraint::Length(8), |r, d| {
        edge(r, d).map_or(Value::Missing, |e| Value::Duration(ns(e.client.p99_ns)))
    }),
    wide(col("Gap mean", Constraint::Length(9), |r, d| {
        match edge(r, d) {
            Some(e) if e.gap.n > 0 => Value::Duration(ns(e.gap.mean_ns)),
            _ => Value::Missing,
        }
    })),
];

impl ListView for MapGraph {
    type Row = DrawnRow;

    fn title(&self, data: &ViewData) -> Cow<'static, str> {
        let g = &data.findings.service_graph;
        let layers = g.drawing.iter().map(|r| r.layer + 1).max().unwrap_or(0);
        let mut t = format!(
            "Service graph: {} services, {} edges, {layers} layers",
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
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [DrawnRow] {
        &data.findings.service_graph.drawing
    }
    fn columns(&self) -> &'static [Column<DrawnRow>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (0, false)
    }
    fn matches(&self, r: &DrawnRow, term: &Term, data: &ViewData) -> bool {
        let e = edge(r, data);
        match term {
            Term::Text(w) | Term::Service(w) => {
                let w = w.to_ascii_lowercase();
                contains(r.service.as_str(), &w)
                    || e.is_some_and(|e| contains(e.caller.as_str(), &w))
            }
            Term::Error => e.is_some_and(|e| e.errors > 0),
            Term::LongerThan(t) => e.is_some_and(|e| ns(e.client.p99_ns) > *t),
            Term::ShorterThan(t) => e.is_some_and(|e| ns(e.client.p99_ns) < *t),
            _ => false,
        }
    }
    fn alarming(&self, _: &DrawnRow) -> bool {
        // Needs the edge (in `ViewData`), which this hook does not get: the Err% column shows it.
        false
    }
    fn open(&self, r: &DrawnRow, data: &ViewData) -> Option<Open> {
        match edge(r, data) {
            Some(e) => e.evidence().map(Open::Trace),
            None => Some(Open::TracesOf(r.service)),
        }
    }
    fn empty(&self) -> &'static str {
        "no calls between services yet: waiting for complete traces"
    }
    fn id(&self, r: &DrawnRow, data: &ViewData) -> RowId {
        match edge(r, data) {
            Some(e) => name_id(&[e.caller.as_str(), e.callee.as_str(), e.kind.as_str()]),
            None => name_id(&[r.service.as_str()]),
        }
    }
}
