use rustc_hash::FxHashSet;

use crate::model::{Span, SpanId, SpanLog, TraceId};

/// The spans of one trace. Once complete, spans are ordered by start time (then span id, so
/// the order is deterministic) and `orphans` names the spans whose parent never arrived.
#[derive(Debug, Clone)]
pub struct Trace {
    pub trace_id: TraceId,
    pub spans: Vec<Span>,
    /// Spans whose parent is not in the trace (evidence of lost or unsampled spans).
    pub orphans: Vec<SpanId>,
    /// Log records naming spans of this trace, in arrival order (at most `MAX_LOGS_PER_TRACE`).
    pub logs: Vec<SpanLog>,
    /// Bumped each time the trace completes; a re-opened trace completes with a higher version,
    /// and its findings replace the earlier ones.
    pub version: u32,
    pub(crate) memory_bytes: usize,
}

impl Trace {
    pub(crate) fn new(trace_id: TraceId) -> Self {
        Trace {
            trace_id,
            spans: Vec::new(),
            orphans: Vec::new(),
            logs: Vec::new(),
            version: 0,
            memory_bytes: 0,
        }
    }

    /// A complete trace built directly from spans (tests, analysis of a single file trace).
    pub fn from_spans(trace_id: TraceId, spans: Vec<Span>) -> Self {
        let mut t = Trace::new(trace_id);
        for s in spans {
            let size = s.memory_size();
            t.push(s, size);
        }
        t.finish();
        t
    }

    /// Adds a span of `size` bytes (`Span::memory_size`, its own slot included). The vector's
    /// spare capacity is held memory too, so growth is counted when it happens.
    pub(crate) fn push(&mut self, span: Span, size: usize) {
        let slot = size_of::<Span>();
        let capacity = self.spans.capacity();
        self.spans.push(span);
        let grown = self.spans.capacity() - capacity;
        self.memory_bytes += size.saturating_sub(slot) + grown * slot;
    }

    /// Room for `additional` more spans (grown as `Vec::reserve` does), counted as held.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let capacity = self.spans.capacity();
        self.spans.reserve(additional);
        self.memory_bytes += (self.spans.capacity() - capacity) * size_of::<Span>();
    }

    pub(crate) fn push_log(&mut self, log: SpanLog, size: usize) {
        self.memory_bytes += size;
        self.logs.push(log);
    }

    /// The log records of one span, oldest first.
    pub fn logs_of(&self, span: SpanId) -> Vec<&SpanLog> {
        let mut logs: Vec<&SpanLog> = self.logs.iter().filter(|l| l.span_id == span).collect();
        logs.sort_by_key(|l| l.time_ns);
        logs
    }

    pub(crate) fn finish(&mut self) {
        // A complete trace rarely grows again: give back the vector's spare capacity.
        let capacity = self.spans.capacity();
        self.spans.shrink_to_fit();
        self.memory_bytes -= (capacity - self.spans.capacity()) * size_of::<Span>();
        self.spans.sort_by_key(|s| (s.start_ns, s.span_id));
        let ids: FxHashSet<SpanId> = self.spans.iter().map(|s| s.span_id).collect();
        self.orphans = self
            .spans
            .iter()
            .filter(|s| s.parent_span_id.is_some_and(|p| !ids.contains(&p)))
            .map(|s| s.span_id)
            .collect();
        self.version += 1;
    }

    /// Spans without a parent (true roots; orphans are not counted).
    pub fn roots(&self) -> impl Iterator<Item = &Span> {
        self.spans.iter().filter(|s| s.parent_span_id.is_none())
    }

    pub fn span(&self, id: SpanId) -> Option<&Span> {
        self.spans.iter().find(|s| s.span_id == id)
    }

    /// Earliest start; spans without timestamps (start 0) are left out, as the analysis
    /// places them at their parent's start, so one never stretches the trace to 1970.
    pub fn start_ns(&self) -> u64 {
        self.timed().map(|s| s.start_ns).min().unwrap_or(0)
    }

    pub fn end_ns(&self) -> u64 {
        self.timed()
            .map(|s| s.end_ns.max(s.start_ns))
            .max()
            .unwrap_or(0)
    }

    fn timed(&self) -> impl Iterator<Item = &Span> {
        self.spans.iter().filter(|s| s.start_ns != 0)
    }

    pub fn duration_ns(&self) -> u64 {
        self.end_ns().saturating_sub(self.start_ns())
    }

    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }
}
