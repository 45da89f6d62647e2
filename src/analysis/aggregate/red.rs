//! RED figures (rate, errors, duration) per service and per operation, from entry spans: the
//! requests a service served (SERVER/CONSUMER spans and roots).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Sym, mem};

use crate::analysis::aggregate::stats::{Samples, Summary};
use crate::analysis::trace::errors;
use crate::analysis::trace::tree::TraceTree;

/// One request a service served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Request {
    pub service: Sym,
    pub operation: Sym,
    pub dur_ns: u64,
    pub error: bool,
}

pub fn requests(tree: &TraceTree<'_>) -> Vec<Request> {
    (0..tree.len())
        .filter(|&i| tree.entry[i])
        .map(|i| Request {
            service: tree.service(i),
            operation: tree.span(i).name,
            dur_ns: tree.dur(i),
            // The same meaning of "failed" as the error origins (status, 5xx, gRPC, exception).
            error: errors::failed(tree, i),
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RedAgg {
    pub(crate) count: usize,
    pub(crate) errors: usize,
    pub(crate) dur: Samples,
}

impl RedAgg {
    fn apply(&mut self, r: &Request, add: bool) {
        if add {
            self.count += 1;
            self.errors += usize::from(r.error);
            self.dur.push(r.dur_ns as i64);
        } else {
            self.count = self.count.saturating_sub(1);
            self.errors = self.errors.saturating_sub(usize::from(r.error));
            self.dur.remove(r.dur_ns as i64);
        }
    }

    fn merge(&mut self, other: &RedAgg) {
        self.count += other.count;
        self.errors += other.errors;
        self.dur.merge(&other.dur);
    }

    fn row(&self, service: Sym, operation: Option<Sym>, window_s: f64) -> RedRow {
        RedRow {
            service,
            operation,
            requests: self.count,
            rate_per_s: if window_s > 0.0 {
                self.count as f64 / window_s
            } else {
                0.0
            },
            errors: self.errors,
            error_rate: self.errors as f64 / self.count.max(1) as f64,
            duration: self.dur.summary(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Red {
    pub(crate) services: BTreeMap<Sym, RedAgg>,
    pub(crate) operations: BTreeMap<(Sym, Sym), RedAgg>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedRow {
    pub service: Sym,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<Sym>,
    pub requests: usize,
    pub rate_per_s: f64,
    pub errors: usize,
    pub error_rate: f64,
    pub duration: Summary,
}

impl Red {
    pub fn apply(&mut self, reqs: &[Request], add: bool) {
        for r in reqs {
            self.services.entry(r.service).or_default().apply(r, add);
            self.operations
                .entry((r.service, r.operation))
                .or_default()
                .apply(r, add);
        }
        self.services.retain(|_, a| a.count > 0);
        self.operations.retain(|_, a| a.count > 0);
    }

    /// Adds another instance's figures: counts exactly, durations as `Samples::merge`.
    pub fn merge(&mut self, other: &Red) {
        for (k, a) in &other.services {
            self.services.entry(*k).or_default().merge(a);
        }
        for (k, a) in &other.operations {
            self.operations.entry(*k).or_default().merge(a);
        }
    }

    /// Heap bytes held, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        mem::btree::<Sym, RedAgg>(self.services.len())
            + mem::btree::<(Sym, Sym), RedAgg>(self.operations.len())
            + self
                .services
                .values()
                .chain(self.operations.values())
                .map(|a| a.dur.heap_bytes())
                .sum::<usize>()
    }

    /// Rows per service; `window_s` is the time the data covers, for the rate.
    pub fn services(&self, window_s: f64) -> Vec<RedRow> {
        self.services
            .iter()
            .map(|(&s, a)| a.row(s, None, window_s))
            .collect()
    }

    pub fn operations(&self, window_s: f64) -> Vec<RedRow> {
        self.operations
            .iter()
            .map(|(&(s, o), a)| a.row(s, Some(o), window_s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_rows_count_rate_errors_and_percentiles() {
        let svc = Sym::new("svc");
        let reqs: Vec<Request> = (1..=4)
            .map(|k| Request {
                service: svc,
                operation: Sym::new("GET"),
                dur_ns: k * 10_000_000,
                error: k == 4,
            })
            .collect();
        let mut red = Red::default();
        red.apply(&reqs, true);
        let rows = red.services(2.0);
        assert_eq!(rows[0].requests, 4);
        assert_eq!(rows[0].rate_per_s, 2.0);
        assert_eq!(rows[0].error_rate, 0.25);
        assert_eq!(rows[0].duration.p50_ns, 25_000_000);
        red.apply(&reqs[3..], false);
        assert_eq!(red.operations(1.0)[0].errors, 0);
    }
}
