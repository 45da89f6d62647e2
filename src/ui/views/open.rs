//! In progress: the open traces (spans still arriving, not yet complete), oldest first, with
//! their age, how long since their last span, the root once it arrived and the spans so far.
//! A request that hangs shows here while it hangs, long before it completes (or never does)
//! and reaches Traces. `i` on the Traces tab switches between the two.

use std::borrow::Cow;

use ratatui::layout::Constraint;

use super::{ListView, Open, contains};
use crate::analysis::findings::view::ViewData;
use crate::model::{SpanRef, Sym};
use crate::store::OpenTrace;
use crate::ui::filter::Term;
use crate::ui::widgets::table::{Column, Key, RowId, Value, col, wide};

pub struct OpenTraces;

/// Open this long with no span for as long reads as hanging (drawn as a problem).
const HANGING_NS: u64 = 10_000_000_000;

fn age_ns(r: &OpenTrace) -> u64 {
    u64::try_from(r.age.as_nanos()).unwrap_or(u64::MAX)
}

fn idle_ns(r: &OpenTrace) -> u64 {
    u64::try_from(r.idle.as_nanos()).unwrap_or(u64::MAX)
}

const COLUMNS: [Column<OpenTrace>; 6] = [
    // Wall time since the first span arrived, as of the store's snapshot.
    col("Age", Constraint::Length(7), |r, _| {
        Value::Duration(age_ns(r))
    }),
    col("Idle", Constraint::Length(7), |r, _| {
        Value::Duration(idle_ns(r))
    }),
    col("Root", Constraint::Min(24), |r, _| match r.root {
        Some((service, name)) => Value::Labelled(service.as_str(), name.as_str()),
        None => Value::Shown("(root not arrived yet)".into(), Key::Text("")),
    }),
    col("Spans", Constraint::Length(6), |r, _| {
        Value::Count(r.spans as u64)
    }),
    // The data's extent so far: first span start to latest span end.
    col("So far", Constraint::Length(8), |r, _| {
        Value::Duration(r.end_ns.saturating_sub(r.start_ns))
    }),
    wide(col("Trace", Constraint::Length(33), |r, _| {
        Value::Text(r.trace_id.to_string().into())
    })),
];

impl ListView for OpenTraces {
    type Row = OpenTrace;

    fn title(&self, data: &ViewData) -> Cow<'static, str> {
        let open = data.snapshot.stats.open_traces;
        let listed = data.open_traces().len() as u64;
        if open > listed {
            format!("In progress: the {listed} oldest of {open} open traces").into()
        } else {
            "In progress: open traces".into()
        }
    }
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [OpenTrace] {
        data.open_traces()
    }
    fn columns(&self) -> &'static [Column<OpenTrace>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (0, true)
    }
    fn matches(&self, r: &OpenTrace, term: &Term, _: &ViewData) -> bool {
        let (service, name) = r.root.map_or(("", ""), |(s, n)| (s.as_str(), n.as_str()));
        match term {
            Term::Text(w) => {
                contains(service, w)
                    || contains(name, w)
                    || r.trace_id.to_string().starts_with(w.as_str())
            }
            Term::Service(s) => Sym::get(s).is_some_and(|s| r.root.is_some_and(|(r, _)| r == s)),
            Term::LongerThan(ns) => age_ns(r) > *ns,
            Term::ShorterThan(ns) => age_ns(r) < *ns,
            _ => false,
        }
    }
    fn alarming(&self, r: &OpenTrace) -> bool {
        idle_ns(r) >= HANGING_NS
    }
    fn open(&self, r: &OpenTrace, data: &ViewData) -> Option<Open> {
        // A late span may have reopened a trace the view still holds complete.
        match data.trace(r.trace_id) {
            Some(t) => {
                let root = t.roots().next().or(t.spans.first())?;
                Some(Open::Trace(SpanRef::new(r.trace_id, root.span_id)))
            }
            None => Some(Open::Pending(r.trace_id)),
        }
    }
    fn empty(&self) -> &'static str {
        "no open trace: every trace received so far is complete"
    }
    fn id(&self, r: &OpenTrace, _: &ViewData) -> RowId {
        RowId::Trace(r.trace_id)
    }
}
