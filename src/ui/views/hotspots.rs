//! Hotspots: operations by critical-path time, edges by the client time spent outside the
//! server (the gap), and background work (streams, detached spans) that no request waited for,
//! listed apart with no share. The title says how much of the traces' time the critical path
//! explains. Rows are `HotspotEntry` indices into `Findings::hotspots`. Enter opens the
//! evidence.

use std::borrow::Cow;

use ratatui::layout::Constraint;

use super::{ListView, Open, contains, name_id, ns};
use crate::analysis::findings::view::{HotspotEntry, ViewData};
use crate::analysis::trace::background::BackgroundKind;
use crate::ui::filter::Term;
use crate::ui::widgets::table::{Column, Key, RowId, Value, col, wide};

pub struct Hotspots;

/// What a Hotspots row shows, from either of its sources in `Findings`.
struct Cells<'a> {
    kind: &'static str,
    service: &'a str,
    callee: Option<&'a str>,
    /// The operation, or for a gap the operations called over the edge.
    operation: Cow<'a, str>,
    /// Spans: of the operation, the edge's client calls, or the background work. One meaning
    /// for every row, and `mean_ns` is per span.
    count: u64,
    total_ns: u64,
    mean_ns: u64,
    /// Of the critical path (operations) or of the client time (gaps); none for background.
    share: Option<f64>,
}

fn cells<'a>(e: &HotspotEntry, d: &'a ViewData) -> Option<Cells<'a>> {
    let h = &d.findings.hotspots;
    Some(match *e {
        HotspotEntry::Operation(i) => {
            let r = h.operations.get(i)?;
            Cells {
                kind: "crit path",
                service: r.service.as_str(),
                callee: None,
                operation: r.operation.as_str().into(),
                count: r.count,
                total_ns: r.cp_total_ns,
                mean_ns: r.cp_total_ns / r.count.max(1),
                share: Some(r.cp_share),
            }
        }
        HotspotEntry::Gap(i) => {
            let r = h.edges_by_gap_mean.get(i)?;
            Cells {
                kind: "edge gap",
                service: r.caller.as_str(),
                callee: Some(r.callee.as_str()),
                operation: r
                    .operations
                    .keys()
                    .map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
                    .into(),
                count: r.gap.n as u64,
                total_ns: ns(r.gap.total_ns),
                mean_ns: ns(r.gap.mean_ns),
                share: Some(r.gap.total_ns as f64 / r.client.total_ns.max(1) as f64),
            }
        }
        HotspotEntry::Background(i) => {
            let r = h.background.get(i)?;
            Cells {
                kind: match r.kind {
                    BackgroundKind::Stream => "stream",
                    BackgroundKind::OutlivesRoot => "detached",
                    BackgroundKind::ConsumerLoop => "poll loop",
                },
                service: r.service.as_str(),
                callee: None,
                operation: r.operation.as_str().into(),
                count: r.spans,
                total_ns: r.total_ns,
                mean_ns: r.total_ns / r.spans.max(1),
                share: None,
            }
        }
    })
}

/// The column's value from the row's cells (`Missing` if the entry points nowhere).
fn with<'a>(
    e: &HotspotEntry,
    d: &'a ViewData,
    f: impl FnOnce(Cells<'a>) -> Value<'a>,
) -> Value<'a> {
    cells(e, d).map_or(Value::Missing, f)
}

const COLUMNS: [Column<HotspotEntry>; 7] = [
    col("Kind", Constraint::Length(9), |r, d| {
        with(r, d, |c| Value::Text(c.kind.into()))
    }),
    // Sorted by the service, so an edge's gap sits next to the caller's operations.
    col("Where", Constraint::Min(20), |r, d| {
        with(r, d, |c| {
            let text = match c.callee {
                Some(callee) => format!("{} → {callee}", c.service),
                None => c.service.to_owned(),
            };
            Value::Shown(text, Key::Text(c.service))
        })
    }),
    col("Operation", Constraint::Min(18), |r, d| {
        with(r, d, |c| Value::Text(c.operation))
    }),
    wide(col("Spans", Constraint::Length(6), |r, d| {
        with(r, d, |c| Value::Count(c.count))
    })),
    col("Total", Constraint::Length(8), |r, d| {
        with(r, d, |c| Value::Duration(c.total_ns))
    }),
    col("Mean", Constraint::Length(8), |r, d| {
        with(r, d, |c| Value::Duration(c.mean_ns))
    }),
    col("Share", Constraint::Length(6), |r, d| {
        with(r, d, |c| {
            c.share.map_or(Value::Missing, |share| {
                Value::Shown(format!("{:.1}%", share * 100.0), Key::Num(share))
            })
        })
    }),
];

impl ListView for Hotspots {
    type Row = HotspotEntry;

    fn title(&self, data: &ViewData) -> Cow<'static, str> {
        let c = &data.findings.hotspots.coverage;
        // A path that explains little of its traces (sessions, many roots) ranks poorly.
        let low = if c.low_traces > 0 {
            format!(", {} traces low", c.low_traces)
        } else {
            String::new()
        };
        format!(
            "Critical path (explains {:.1}% of trace time{low}); edge gaps; background apart",
            c.overall * 100.0
        )
        .into()
    }
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [HotspotEntry] {
        &data.hotspots
    }
    fn columns(&self) -> &'static [Column<HotspotEntry>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (4, true)
    }
    fn matches(&self, r: &HotspotEntry, term: &Term, data: &ViewData) -> bool {
        let Some(c) = cells(r, data) else {
            return false;
        };
        match term {
            Term::Text(w) | Term::Service(w) => {
                let w = w.to_ascii_lowercase();
                contains(c.service, &w)
                    || c.callee.is_some_and(|x| contains(x, &w))
                    || contains(&c.operation, &w)
            }
            Term::LongerThan(t) => c.mean_ns > *t,
            Term::ShorterThan(t) => c.mean_ns < *t,
            _ => false,
        }
    }
    fn open(&self, r: &HotspotEntry, data: &ViewData) -> Option<Open> {
        let h = &data.findings.hotspots;
        match *r {
            HotspotEntry::Operation(k) => h.operations.get(k)?.evidence(),
            HotspotEntry::Gap(k) => h.edges_by_gap_mean.get(k)?.evidence(),
            HotspotEntry::Background(_) => None,
        }
        .map(Open::Trace)
    }
    fn id(&self, r: &HotspotEntry, data: &ViewData) -> RowId {
        match cells(r, data) {
            Some(c) => name_id(&[c.kind, c.service, c.callee.unwrap_or(""), &c.operation]),
            None => RowId::Name(format!("{r:?}")),
        }
    }
}
