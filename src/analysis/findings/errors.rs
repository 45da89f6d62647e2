//! Error origins across traces: one row per origin operation, with how often the failure
//! reached a root, and for timeouts the span most often still running when they gave up.

use super::*;
use crate::analysis::aggregate::folded::FoldedLists;
use crate::model::mem;

#[derive(Debug, Clone, Serialize)]
pub struct OriginRow {
    pub service: Sym,
    pub operation: Sym,
    pub traces: usize,
    pub propagated_to_root: usize,
    pub absorbed: usize,
    pub propagation_services: Vec<Sym>,
    pub example_trace: TraceId,
    /// Origins of this row that timed out.
    pub timed_out: usize,
    /// The span most often still running when they gave up (see `errors::TimeoutLocus`).
    pub timeout_locus: Option<LocusRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocusRow {
    pub service: Sym,
    pub operation: Sym,
    /// Timed-out origins of the row that named this locus.
    pub traces: usize,
    pub example_trace: TraceId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    pub traces_with_errors: usize,
    /// Error origins (one per error tree) whose failure reached a root.
    pub reaching_root: usize,
    /// Error origins a non-error ancestor swallowed.
    pub absorbed: usize,
    pub by_origin: Vec<OriginRow>,
    pub list: Vec<ErrorOrigin>,
}

/// An error's place in report order: its trace's start and id, then its index in the trace.
pub type ErrorAt = (u64, TraceId, usize);

/// The error origins of a set of traces summed: the counts, and per origin operation what its
/// row shows. Built from the held traces and folded from retired ones alike, and merged
/// exactly (the examples are the first in report order, whichever side they come from).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorSummary {
    pub traces: usize,
    pub reaching_root: usize,
    pub absorbed: usize,
    origins: BTreeMap<(Sym, Sym), OriginSummary>,
}

#[derive(Debug, Clone, PartialEq)]
struct OriginSummary {
    /// The first error of the origin, and what the row takes from it.
    first: ErrorAt,
    propagation_services: Vec<Sym>,
    traces: usize,
    propagated_to_root: usize,
    absorbed: usize,
    timed_out: usize,
    /// Per locus operation: timed-out origins that named it, and the first of them.
    loci: BTreeMap<(Sym, Sym), (usize, ErrorAt)>,
}

impl OriginSummary {
    fn merge(&mut self, o: &OriginSummary) {
        if o.first < self.first {
            self.first = o.first;
            self.propagation_services
                .clone_from(&o.propagation_services);
        }
        self.traces += o.traces;
        self.propagated_to_root += o.propagated_to_root;
        self.absorbed += o.absorbed;
        self.timed_out += o.timed_out;
        for (k, &(n, at)) in &o.loci {
            let l = self.loci.entry(*k).or_insert((0, at));
            l.0 += n;
            l.1 = l.1.min(at);
        }
    }
}

impl ErrorSummary {
    /// Adds the error origins of one trace.
    pub fn add_trace(&mut self, f: &TraceFindings) {
        self.traces += usize::from(!f.errors.is_empty());
        for (i, e) in f.errors.iter().enumerate() {
            let at = (f.start_ns, f.trace_id, i);
            let mut one = OriginSummary {
                first: at,
                propagation_services: e.propagation_services.clone(),
                traces: 1,
                propagated_to_root: usize::from(e.propagated_to_root),
                absorbed: usize::from(!e.propagated_to_root),
                timed_out: usize::from(e.timeout_locus.is_some()),
                loci: BTreeMap::new(),
            };
            if let Some(l) = &e.timeout_locus {
                one.loci.insert((l.span.service, l.span.name), (1, at));
            }
            self.reaching_root += one.propagated_to_root;
            self.absorbed += one.absorbed;
            self.put((e.origin.service, e.origin.name), one);
        }
    }

    fn put(&mut self, key: (Sym, Sym), o: OriginSummary) {
        match self.origins.entry(key) {
            std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&o),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(o);
            }
        }
    }

    pub fn merge(&mut self, o: &ErrorSummary) {
        self.traces += o.traces;
        self.reaching_root += o.reaching_root;
        self.absorbed += o.absorbed;
        for (k, v) in &o.origins {
            self.put(*k, v.clone());
        }
    }

    /// One row per origin operation, most traces first.
    fn rows(&self) -> Vec<OriginRow> {
        let mut by_origin: Vec<OriginRow> = self
            .origins
            .iter()
            .map(|(&(service, operation), o)| OriginRow {
                service,
                operation,
                traces: o.traces,
                propagated_to_root: o.propagated_to_root,
                absorbed: o.absorbed,
                propagation_services: o.propagation_services.clone(),
                example_trace: o.first.1,
                timed_out: o.timed_out,
                // The most frequent locus; the first by name on ties (BTreeMap order).
                timeout_locus: o
                    .loci
                    .iter()
                    .map(|(&(service, operation), &(traces, at))| LocusRow {
                        service,
                        operation,
                        traces,
                        example_trace: at.1,
                    })
                    .reduce(|best, l| if l.traces > best.traces { l } else { best }),
            })
            .collect();
        by_origin.sort_by(|a, b| {
            b.traces
                .cmp(&a.traces)
                .then((a.service, a.operation).cmp(&(b.service, b.operation)))
        });
        by_origin
    }

    pub fn heap_bytes(&self) -> usize {
        mem::btree::<(Sym, Sym), OriginSummary>(self.origins.len())
            + self
                .origins
                .values()
                .map(|o| {
                    mem::vec::<Sym>(o.propagation_services.capacity())
                        + mem::btree::<(Sym, Sym), (usize, ErrorAt)>(o.loci.len())
                })
                .sum::<usize>()
    }
}

/// `top` rows by origin, `each` single errors, over the held traces `all` and the `folded`
/// retired ones.
pub(super) fn errors(
    all: &[&std::sync::Arc<TraceFindings>],
    folded: &FoldedLists,
    top: usize,
    each: usize,
) -> Errors {
    let mut summary = ErrorSummary::default();
    for f in all {
        summary.add_trace(f);
    }
    summary.merge(&folded.errors);
    // The held errors are in report order, and so are the first of the folded.
    let held = all.iter().flat_map(|f| {
        f.errors
            .iter()
            .enumerate()
            .map(|(i, e)| ((f.start_ns, f.trace_id, i), e))
    });
    let mut list: Vec<(ErrorAt, &ErrorOrigin)> = held.take(each).collect();
    list.extend(folded.first_errors().take(each).map(|(at, e)| (*at, e)));
    list.sort_by_key(|(at, _)| *at);
    list.truncate(each);
    Errors {
        traces_with_errors: summary.traces,
        reaching_root: summary.reaching_root,
        absorbed: summary.absorbed,
        by_origin: truncate(summary.rows(), top),
        list: list.into_iter().map(|(_, e)| e.clone()).collect(),
    }
}
