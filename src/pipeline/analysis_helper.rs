//! A second analysis thread beside the worker, in batch mode (a replay, a report). The
//! per-trace analyses are pure and independent, so while the worker analyses and adds the
//! first part of a hand-over, this thread analyses the rest; the worker adds those results
//! after its own, in completion order, so every figure is the same as with one thread. In a
//! replay the analysis was the slowest stage: one thread with more than half of the samples
//! while the process used 0.85 of its 2 cores.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::analysis::engine::{Analysis, TraceAnalyser};
use crate::store::Trace;

/// Hand-overs smaller than this are not split: a round trip to the helper costs about what
/// the analysis of a small trace does.
const MIN_SPLIT: usize = 4;

pub(super) struct Helper {
    tx: SyncSender<Vec<Arc<Trace>>>,
    /// Per trace sent, its analysis, or `None` when it was skipped (past the deadline).
    rx: Receiver<Vec<Option<Analysis>>>,
}

impl Helper {
    /// The helper, unless the machine has one core (it would only take turns with the worker)
    /// or the OS has no thread to give. `skip` says when the shutdown deadline has passed.
    pub(super) fn spawn(
        analyser: TraceAnalyser,
        skip: impl Fn() -> bool + Send + 'static,
    ) -> Option<Helper> {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return None;
        }
        let (tx, jobs) = sync_channel::<Vec<Arc<Trace>>>(1);
        let (done, rx) = sync_channel(1);
        std::thread::Builder::new()
            .name("spantop-analysis-2".into())
            .spawn(move || {
                for traces in jobs {
                    let results = traces
                        .iter()
                        .map(|t| (!skip()).then(|| analyser.run(t)))
                        .collect();
                    if done.send(results).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Helper { tx, rx })
    }

    /// Where to split `traces` between the worker (before) and the helper (from it on): about
    /// half the spans each, whole traces.
    pub(super) fn split_point(traces: &[Arc<Trace>]) -> usize {
        if traces.len() < MIN_SPLIT {
            return traces.len();
        }
        let total: usize = traces.iter().map(|t| t.spans.len()).sum();
        let mut mine = 0;
        for (i, t) in traces.iter().enumerate() {
            if 2 * mine >= total {
                return i;
            }
            mine += t.spans.len();
        }
        traces.len()
    }

    /// Starts the analysis of `traces`; false if the helper is gone (the worker then analyses
    /// them itself).
    pub(super) fn start(&self, traces: Vec<Arc<Trace>>) -> bool {
        self.tx.send(traces).is_ok()
    }

    /// The results of the last `start`, in its order; `None` if the helper is gone.
    pub(super) fn collect(&self) -> Option<Vec<Option<Analysis>>> {
        self.rx.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::TraceBuilder;

    fn trace_of(spans: usize) -> Arc<Trace> {
        let mut b = TraceBuilder::new();
        let root = b.span("gw", "GET /").at(0, 100).id();
        for i in 1..spans as u64 {
            b.span("gw", "step").at(i, i + 1).parent(root).id();
        }
        Arc::new(b.build())
    }

    #[test]
    fn the_split_gives_each_side_about_half_the_spans_in_whole_traces() {
        let small: Vec<_> = (0..3).map(|_| trace_of(10)).collect();
        assert_eq!(Helper::split_point(&small), 3, "too few to split");
        let even: Vec<_> = (0..8).map(|_| trace_of(10)).collect();
        assert_eq!(Helper::split_point(&even), 4);
        let lopsided = vec![trace_of(100), trace_of(10), trace_of(10), trace_of(10)];
        assert_eq!(Helper::split_point(&lopsided), 1, "the big one alone");
    }
}
