//! Error origins across traces: one row per origin operation, with how often the failure
//! reached a root, and for timeouts the span most often still running when they gave up.

use super::*;

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

/// `top` rows by origin, `each` single errors.
pub(super) fn errors(all: &[&std::sync::Arc<TraceFindings>], top: usize, each: usize) -> Errors {
    let list: Vec<ErrorOrigin> = all.iter().flat_map(|f| f.errors.iter().cloned()).collect();
    let mut by: BTreeMap<(Sym, Sym), OriginRow> = BTreeMap::new();
    let mut loci: BTreeMap<(Sym, Sym), BTreeMap<(Sym, Sym), LocusRow>> = BTreeMap::new();
    for e in &list {
        let key = (e.origin.service, e.origin.name);
        let r = by.entry(key).or_insert_with(|| OriginRow {
            service: e.origin.service,
            operation: e.origin.name,
            traces: 0,
            propagated_to_root: 0,
            absorbed: 0,
            propagation_services: e.propagation_services.clone(),
            example_trace: e.trace_id,
            timed_out: 0,
            timeout_locus: None,
        });
        r.traces += 1;
        if e.propagated_to_root {
            r.propagated_to_root += 1;
        } else {
            r.absorbed += 1;
        }
        if let Some(l) = &e.timeout_locus {
            r.timed_out += 1;
            loci.entry(key)
                .or_default()
                .entry((l.span.service, l.span.name))
                .or_insert_with(|| LocusRow {
                    service: l.span.service,
                    operation: l.span.name,
                    traces: 0,
                    example_trace: e.trace_id,
                })
                .traces += 1;
        }
    }
    for (key, rows) in loci {
        if let Some(r) = by.get_mut(&key) {
            // The most frequent locus; the first by name on ties (BTreeMap order).
            r.timeout_locus = rows
                .into_values()
                .reduce(|best, l| if l.traces > best.traces { l } else { best });
        }
    }
    let mut by_origin: Vec<OriginRow> = by.into_values().collect();
    by_origin.sort_by(|a, b| {
        b.traces
            .cmp(&a.traces)
            .then((a.service, a.operation).cmp(&(b.service, b.operation)))
    });
    Errors {
        traces_with_errors: distinct(list.iter().map(|e| e.trace_id)),
        reaching_root: list.iter().filter(|e| e.propagated_to_root).count(),
        absorbed: list.iter().filter(|e| !e.propagated_to_root).count(),
        by_origin: truncate(by_origin, top),
        list: truncate(list, each),
    }
}
