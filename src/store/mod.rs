//! `SpanStore`: owns every span, assembles traces from out-of-order batches, decides when a
//! trace is complete, and keeps memory under a budget by evicting whole traces.
//!
//! The budget covers everything the pipeline holds, not only spans: traces a reader still
//! holds after the store let them go (a published snapshot or view, the analysis queue) stay
//! counted until the last reader drops them, and with a `MemoryGauge` attached the bytes the
//! analysis worker holds (findings, aggregates) and the interned names count as well. The
//! store evicts its own traces to keep the total within the budget.
//!
//! One writer (the pipeline task) calls `ingest` and `tick`; readers get `Arc` snapshots.
//! Time is passed in (`now`), never read here, so tests and replays control the clock.

mod shared;
mod trace;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{Batch, Span, Sym, TraceId};

pub use trace::Trace;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// A trace with no new span for this long is complete.
    pub inactivity_timeout: Duration,
    /// Budget in bytes for what the pipeline holds (estimated from the models' own sizes): the
    /// spans, plus what a `MemoryGauge` reports when one is attached.
    pub max_memory: usize,
    /// Spans kept per trace; later spans of a trace that big are dropped and counted (a
    /// runaway loop or a hostile sender must not make one trace take the whole budget).
    pub max_spans_per_trace: usize,
    /// Which clock the inactivity timeout runs on.
    pub completion: Completion,
}

/// When an open trace is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Completion {
    /// Live data: no new span for `inactivity_timeout` of wall time (`tick`).
    #[default]
    WallClock,
    /// Files read as fast as possible: the trace's latest span end is more than
    /// `inactivity_timeout` older than the newest span end seen in the input (the file's own
    /// clock), checked after every batch. Files are roughly time-ordered, so a batch out of
    /// order by less than the timeout still joins its trace; a later one re-opens a trace still
    /// held, and one whose trace was already let go of forms a fragment of its own.
    FileTime,
}

pub const DEFAULT_MAX_SPANS_PER_TRACE: usize = 100_000;

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            inactivity_timeout: Duration::from_secs(10),
            max_memory: 1 << 30,
            max_spans_per_trace: DEFAULT_MAX_SPANS_PER_TRACE,
            completion: Completion::WallClock,
        }
    }
}

/// Counters the views and the `serve` summary line show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Spans handed to the store, duplicates included.
    pub spans_received: u64,
    pub duplicate_spans: u64,
    /// Spans dropped because their trace already held `max_spans_per_trace`.
    pub spans_over_trace_limit: u64,
    pub spans_held: u64,
    pub traces_held: u64,
    pub open_traces: u64,
    pub traces_completed: u64,
    /// Completed traces that a late span opened again.
    pub traces_reopened: u64,
    pub evicted_traces: u64,
    pub evicted_spans: u64,
    /// Of the evicted traces, those still open (only when no complete trace was left to evict):
    /// dropped before they were analysed.
    pub evicted_open_traces: u64,
    pub evicted_open_spans: u64,
    /// Most `memory_bytes` held at rest (`record_peak`: after each tick, and in batch mode after
    /// each batch settled), not counting the overshoot while a batch is applied and analysed.
    pub peak_memory_bytes: u64,
    /// Everything counted against the budget: the parts below added up.
    pub memory_bytes: u64,
    pub max_memory_bytes: u64,
    /// Spans and logs the store holds, with its bookkeeping per trace.
    pub span_bytes: u64,
    /// The resources and scopes the spans share, each distinct one counted once.
    pub shared_bytes: u64,
    /// Batches waiting in the ingest channel (received, acknowledged or about to be, not yet
    /// applied): their count times the average bytes of the batches applied lately.
    pub queued_bytes: u64,
    /// Traces the store let go of (evicted, or replaced by a newer version) that a reader
    /// still holds: a published snapshot or view, or the analysis queue.
    pub unreleased_bytes: u64,
    /// Per-trace findings and aggregates the analysis worker holds (from the `MemoryGauge`).
    pub analysis_bytes: u64,
    /// The process-wide interned names (counted with a `MemoryGauge` attached).
    pub interned_bytes: u64,
    /// The process's resident memory at the last tick (0 where the pipeline cannot read it).
    pub resident_bytes: u64,
    /// The budget the store holds its count to: `max_memory_bytes` less what resident memory
    /// shows beyond the count (see `pipeline::resident`).
    pub effective_max_memory_bytes: u64,
    pub services_seen: u64,
    /// Log records held with their spans' traces.
    pub logs_held: u64,
    /// Log records dropped: over `MAX_LOGS_PER_TRACE`, or their trace never had a span.
    pub logs_dropped: u64,
}

/// Bytes held outside the store that count against its budget. The analysis worker publishes
/// what it holds here; the store reads it whenever it enforces the budget, and also counts
/// the interned names (process-wide, so only a pipeline's store should count them).
#[derive(Debug, Default)]
pub struct MemoryGauge {
    analysis_bytes: AtomicUsize,
}

impl MemoryGauge {
    pub fn set_analysis_bytes(&self, bytes: usize) {
        self.analysis_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn analysis_bytes(&self) -> usize {
        self.analysis_bytes.load(Ordering::Relaxed)
    }
}

/// Log records kept per trace; a chatty trace keeps its first ones.
pub const MAX_LOGS_PER_TRACE: usize = 1000;

/// What readers get: counters, the complete traces held (oldest completion first) and a
/// summary of the oldest open ones.
#[derive(Debug, Clone, Default)]
pub struct StoreSnapshot {
    pub stats: StoreStats,
    pub traces: Arc<[Arc<Trace>]>,
    /// At most `MAX_OPEN_LISTED` open (incomplete) traces, the longest open first: what an
    /// "in progress" view shows. Rebuilt at every `snapshot`.
    pub open: Arc<[OpenTrace]>,
}

/// Open traces listed in a snapshot: the oldest, where a stuck or slow request shows.
pub const MAX_OPEN_LISTED: usize = 500;

/// One open trace as it stands: what arrived so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTrace {
    pub trace_id: TraceId,
    /// The root span's service and name, once a span without a parent has arrived.
    pub root: Option<(Sym, Sym)>,
    pub spans: usize,
    /// Earliest span start and latest span end so far (the data's clock).
    pub start_ns: u64,
    pub end_ns: u64,
    /// Wall time since its first span arrived, and since its last one (when `now` was the
    /// snapshot's time).
    pub age: Duration,
    pub idle: Duration,
}

#[derive(Debug)]
enum SlotState {
    Open {
        last_activity: Instant,
    },
    /// `seq` tells a live entry in `complete_order` from a stale one.
    Complete {
        seq: u64,
    },
}

#[derive(Debug)]
struct TraceSlot {
    trace: Arc<Trace>,
    /// Span ids seen, built only once a trace is large enough that a linear scan would cost.
    ids: Option<FxHashSet<crate::model::SpanId>>,
    state: SlotState,
    /// When its first span (or log) arrived.
    opened: Instant,
    /// Latest span end (or start, when later) so far: the trace's place on the file clock.
    data_end: u64,
}

const DEDUP_SET_THRESHOLD: usize = 32;

impl TraceSlot {
    fn contains(&self, span: &Span) -> bool {
        match &self.ids {
            Some(ids) => ids.contains(&span.span_id),
            None => self.trace.spans.iter().any(|s| s.span_id == span.span_id),
        }
    }

    fn note_id(&mut self) {
        let n = self.trace.spans.len();
        match &mut self.ids {
            Some(ids) => {
                if let Some(last) = self.trace.spans.last() {
                    ids.insert(last.span_id);
                }
            }
            None if n >= DEDUP_SET_THRESHOLD => {
                self.ids = Some(self.trace.spans.iter().map(|s| s.span_id).collect());
            }
            None => {}
        }
    }
}

pub struct SpanStore {
    config: StoreConfig,
    slots: FxHashMap<TraceId, TraceSlot>,
    /// (time of activity, trace): scanned from the front by `tick`; entries go stale when a
    /// trace sees later activity, and are skipped then.
    activity: VecDeque<(Instant, TraceId)>,
    /// Complete traces in completion order, for eviction and snapshots; may hold stale entries.
    complete_order: VecDeque<(u64, TraceId)>,
    next_seq: u64,
    /// Traces completed since the last `take_completed`, for the analysis stage.
    newly_completed: Vec<Arc<Trace>>,
    /// Traces evicted since the last `take_evicted`, so downstream state can follow.
    newly_evicted: Vec<TraceId>,
    services: FxHashSet<Sym>,
    stats: StoreStats,
    snapshot_cache: Option<Arc<[Arc<Trace>]>>,
    /// Traces let go of while a reader still held them; dropped (and uncounted) once the store's
    /// is the last reference.
    unreleased: Unreleased,
    gauge: Option<Arc<MemoryGauge>>,
    /// Resources and scopes by content, one copy each.
    shared: shared::Shared,
    /// Batches waiting in the ingest channel, as the pipeline last said.
    queued_batches: usize,
    /// Moving average of the bytes a batch adds when applied (spans and logs).
    batch_bytes: usize,
    /// The budget less the resident overhead the pipeline measured (unlimited until it says).
    resident_limit: usize,
    /// `Completion::FileTime`: open traces by `data_end` (may hold stale entries, re-checked
    /// when popped), and the newest span end seen.
    by_data_end: BinaryHeap<Reverse<(u64, TraceId)>>,
    data_now: u64,
}

/// Traces the store let go of while a reader still held them, with their bytes.
#[derive(Debug, Default)]
struct Unreleased {
    traces: Vec<Arc<Trace>>,
    bytes: usize,
}

impl Unreleased {
    /// Keeps counting `trace` if someone besides the caller holds it.
    fn hold_if_shared(&mut self, trace: &Arc<Trace>) {
        if Arc::strong_count(trace) > 1 {
            self.bytes += trace.memory_bytes;
            self.traces.push(Arc::clone(trace));
        }
    }

    /// Drops the traces whose last reader let go (ours is then the only reference).
    fn release(&mut self) {
        let bytes = &mut self.bytes;
        self.traces.retain(|t| {
            let held = Arc::strong_count(t) > 1;
            if !held {
                *bytes -= t.memory_bytes;
            }
            held
        });
    }
}

/// Bytes of a trace slot besides its spans: the slot map entry, the activity and completion
/// queue entries, and the `Arc` header.
const SLOT_OVERHEAD_BYTES: usize = size_of::<(TraceId, TraceSlot)>() * 8 / 7
    + size_of::<(Instant, TraceId)>()
    + 2 * size_of::<(u64, TraceId)>()
    + size_of::<Trace>()
    + 16;

impl SpanStore {
    pub fn new(config: StoreConfig) -> Self {
        let stats = StoreStats {
            max_memory_bytes: config.max_memory as u64,
            ..StoreStats::default()
        };
        SpanStore {
            slots: FxHashMap::default(),
            activity: VecDeque::new(),
            complete_order: VecDeque::new(),
            next_seq: 0,
            newly_completed: Vec::new(),
            newly_evicted: Vec::new(),
            services: FxHashSet::default(),
            stats,
            snapshot_cache: None,
            unreleased: Unreleased::default(),
            gauge: None,
            shared: shared::Shared::default(),
            queued_batches: 0,
            batch_bytes: 0,
            resident_limit: usize::MAX,
            by_data_end: BinaryHeap::new(),
            data_now: 0,
            config,
        }
    }

    /// Counts the bytes `gauge` reports, and the interned names, against the budget.
    pub fn with_gauge(mut self, gauge: Arc<MemoryGauge>) -> Self {
        self.gauge = Some(gauge);
        self
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn stats(&self) -> StoreStats {
        let mut stats = self.stats;
        self.fill_memory(&mut stats);
        stats
    }

    /// The memory figures: what the store holds, what readers still hold of what it let go,
    /// and (with a gauge) the analysis worker's bytes and the interned names.
    fn fill_memory(&self, stats: &mut StoreStats) {
        stats.max_memory_bytes = self.config.max_memory as u64;
        stats.effective_max_memory_bytes = self.limit() as u64;
        // The published open list: a row per open trace, at most `MAX_OPEN_LISTED`.
        stats.span_bytes += stats.traces_held * SLOT_OVERHEAD_BYTES as u64
            + stats.open_traces.min(MAX_OPEN_LISTED as u64) * size_of::<OpenTrace>() as u64;
        stats.unreleased_bytes = self.unreleased.bytes as u64;
        stats.shared_bytes = self.shared.bytes() as u64;
        stats.queued_bytes = (self.queued_batches * self.batch_bytes) as u64;
        if self.gauge.is_some() {
            stats.analysis_bytes = self.gauge.as_ref().map_or(0, |g| g.analysis_bytes()) as u64;
            stats.interned_bytes = crate::model::interned_bytes() as u64;
        }
        stats.memory_bytes = stats.span_bytes
            + stats.shared_bytes
            + stats.queued_bytes
            + stats.unreleased_bytes
            + stats.analysis_bytes
            + stats.interned_bytes;
    }

    fn total_bytes(&self) -> u64 {
        let mut stats = self.stats;
        self.fill_memory(&mut stats);
        stats.memory_bytes
    }

    /// Adds a batch. Spans may belong to any traces, in any order; a span already held is
    /// dropped and counted. A span for a complete trace re-opens it.
    pub fn ingest(&mut self, batch: Batch, now: Instant) {
        self.stats.spans_received += batch.spans.len() as u64;
        let bytes_before = self.stats.span_bytes;
        // A batch usually holds runs of spans from one trace; touch the activity queue once a run.
        let mut last_touched: Option<TraceId> = None;
        // Spans of one resource share its `Arc`: look the service up once per run, not per span.
        let mut last_resource: *const crate::model::Resource = std::ptr::null();
        let mut emptied = batch.spans;
        let mut spans = emptied.drain(..);
        while let Some(mut span) = spans.next() {
            let id = span.trace_id;
            if !std::ptr::eq(Arc::as_ptr(&span.resource), last_resource) {
                last_resource = Arc::as_ptr(&span.resource);
                if self.services.insert(span.service()) {
                    self.stats.services_seen = self.services.len() as u64;
                }
            }
            let mut opened = false;
            let slot = self.slots.entry(id).or_insert_with(|| {
                self.stats.traces_held += 1;
                self.stats.open_traces += 1;
                opened = true;
                TraceSlot {
                    trace: Arc::new(Trace::new(id)),
                    ids: None,
                    state: SlotState::Open { last_activity: now },
                    opened: now,
                    data_end: 0,
                }
            });
            if slot.contains(&span) {
                self.stats.duplicate_spans += 1;
                continue;
            }
            if slot.trace.spans.len() >= self.config.max_spans_per_trace {
                self.stats.spans_over_trace_limit += 1;
                continue;
            }
            if let SlotState::Complete { .. } = slot.state {
                self.stats.traces_reopened += 1;
                self.stats.open_traces += 1;
                self.snapshot_cache = None;
                opened = true;
            }
            slot.state = SlotState::Open { last_activity: now };
            let end = span.end_ns.max(span.start_ns);
            slot.data_end = slot.data_end.max(end);
            self.data_now = self.data_now.max(end);
            if opened && self.config.completion == Completion::FileTime {
                self.by_data_end.push(Reverse((slot.data_end, id)));
            }
            self.shared.intern(&mut span);
            let size = span.memory_size();
            // Clones the trace only if a reader still holds the completed version.
            let trace = make_mut(&mut slot.trace, &mut self.unreleased);
            let before = trace.memory_bytes;
            if trace.spans.len() == trace.spans.capacity() {
                // The rest of this run is the same trace's: one growth for it, not a doubling
                // at 4, 8, 16 (each a copy into fresh memory, and up to twice the slots held).
                let run = 1 + spans
                    .as_slice()
                    .iter()
                    .take_while(|s| s.trace_id == id)
                    .count();
                trace.reserve(run);
            }
            trace.push(span, size);
            self.stats.span_bytes += (trace.memory_bytes - before) as u64;
            slot.note_id();
            self.stats.spans_held += 1;
            if last_touched != Some(id) {
                self.activity.push_back((now, id));
                last_touched = Some(id);
            }
        }
        drop(spans);
        Batch::recycle(emptied);
        self.shared.end_batch();
        for log in batch.logs {
            self.add_log(log, now);
        }
        // Spans apart, a batch adds bytes (duplicates add none): a rough average is enough.
        let added = self.stats.span_bytes.saturating_sub(bytes_before) as usize;
        self.batch_bytes = (self.batch_bytes * 7 + added) / 8;
        if self.config.completion == Completion::FileTime {
            // Before the budget: what completes here is evicted ahead of open traces.
            self.complete_by_file_time();
        }
        self.enforce_budget();
    }

    /// `Completion::FileTime`: completes every open trace whose latest span end is more than
    /// the timeout older than the newest span end seen.
    fn complete_by_file_time(&mut self) {
        let timeout = u64::try_from(self.config.inactivity_timeout.as_nanos()).unwrap_or(u64::MAX);
        while let Some(&Reverse((end, id))) = self.by_data_end.peek() {
            if end.saturating_add(timeout) >= self.data_now {
                break;
            }
            self.by_data_end.pop();
            let Some(slot) = self.slots.get(&id) else {
                continue;
            };
            if !matches!(slot.state, SlotState::Open { .. }) {
                continue;
            }
            if slot.data_end > end {
                // Grew since this entry: wait for its own end.
                self.by_data_end.push(Reverse((slot.data_end, id)));
            } else {
                self.complete(id);
            }
        }
        // `tick` does not run on this clock: drop the activity entries that went stale, so the
        // queue holds about one entry per open trace (it orders open traces for eviction).
        while let Some(&(at, id)) = self.activity.front() {
            let live = matches!(
                self.slots.get(&id),
                Some(TraceSlot { state: SlotState::Open { last_activity }, .. }) if *last_activity <= at
            );
            if live {
                break;
            }
            self.activity.pop_front();
        }
    }

    /// Keeps a log record with its trace. Logs are often exported before their spans (on a
    /// shorter interval), so a trace not seen yet is opened for them; one that never gets a
    /// span is dropped when it completes. A log does not re-open or extend a trace.
    fn add_log(&mut self, log: crate::model::SpanLog, now: Instant) {
        let id = log.trace_id;
        let slot = self.slots.entry(id).or_insert_with(|| {
            self.stats.traces_held += 1;
            self.stats.open_traces += 1;
            self.activity.push_back((now, id));
            if self.config.completion == Completion::FileTime {
                self.by_data_end.push(Reverse((log.time_ns, id)));
            }
            TraceSlot {
                trace: Arc::new(Trace::new(id)),
                ids: None,
                state: SlotState::Open { last_activity: now },
                opened: now,
                data_end: log.time_ns,
            }
        });
        if slot.trace.logs.len() >= MAX_LOGS_PER_TRACE {
            self.stats.logs_dropped += 1;
            return;
        }
        if let SlotState::Complete { .. } = slot.state {
            self.snapshot_cache = None;
        }
        let size = log.memory_size();
        make_mut(&mut slot.trace, &mut self.unreleased).push_log(log, size);
        self.stats.logs_held += 1;
        self.stats.span_bytes += size as u64;
    }

    /// Completes every open trace idle for the inactivity timeout (wall time; on the file clock
    /// `ingest` completes them instead).
    pub fn tick(&mut self, now: Instant) {
        if self.config.completion == Completion::FileTime {
            return;
        }
        let timeout = self.config.inactivity_timeout;
        while let Some(&(at, id)) = self.activity.front() {
            if now.saturating_duration_since(at) < timeout {
                break;
            }
            self.activity.pop_front();
            let idle = match self.slots.get(&id) {
                Some(TraceSlot {
                    state: SlotState::Open { last_activity },
                    ..
                }) => now.saturating_duration_since(*last_activity) >= timeout,
                _ => false,
            };
            if idle {
                self.complete(id);
            }
        }
    }

    /// Completes every open trace now: end of a file in replay, or shutdown.
    pub fn complete_all(&mut self) {
        self.complete_all_until(None);
    }

    /// Completes open traces, least recently active first, until `deadline` (if any); returns
    /// how many were left open for want of time (at shutdown, with a very large store).
    pub fn complete_all_until(&mut self, deadline: Option<Instant>) -> usize {
        let mut open: Vec<(Instant, TraceId)> = self
            .slots
            .iter()
            .filter_map(|(id, s)| match s.state {
                SlotState::Open { last_activity } => Some((last_activity, *id)),
                SlotState::Complete { .. } => None,
            })
            .collect();
        open.sort();
        let total = open.len();
        for (done, (_, id)) in open.into_iter().enumerate() {
            // Checking the clock every trace would cost more than completing small ones.
            if done % 256 == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                return total - done;
            }
            self.complete(id);
        }
        self.activity.clear();
        self.by_data_end.clear();
        0
    }

    fn complete(&mut self, id: TraceId) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        if let SlotState::Complete { .. } = slot.state {
            return;
        }
        if slot.trace.spans.is_empty() {
            // Only logs ever named this trace: nothing to analyse or show.
            if let Some(slot) = self.slots.remove(&id) {
                let logs = slot.trace.logs.len() as u64;
                self.stats.logs_held -= logs;
                self.stats.logs_dropped += logs;
                self.stats.span_bytes -= slot.trace.memory_bytes as u64;
                self.stats.traces_held -= 1;
                self.stats.open_traces -= 1;
            }
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        slot.state = SlotState::Complete { seq };
        let trace = make_mut(&mut slot.trace, &mut self.unreleased);
        let before = trace.memory_bytes;
        trace.finish();
        self.stats.span_bytes -= (before - trace.memory_bytes) as u64;
        self.newly_completed.push(Arc::clone(&slot.trace));
        self.complete_order.push_back((seq, id));
        self.stats.open_traces -= 1;
        self.stats.traces_completed += 1;
        self.snapshot_cache = None;
    }

    /// Traces completed (or completed again after a late span) since the last call.
    pub fn take_completed(&mut self) -> Vec<Arc<Trace>> {
        std::mem::take(&mut self.newly_completed)
    }

    /// Traces evicted (for the memory budget) since the last call. Their findings can go;
    /// their contribution to aggregates stays.
    pub fn take_evicted(&mut self) -> Vec<TraceId> {
        std::mem::take(&mut self.newly_evicted)
    }

    /// Evicts until the total is within the budget. The gauge and the unreleased traces change
    /// beside the loop (readers drop, the worker publishes), so the total is read each turn.
    /// The resources and scopes only evicted spans used go too, in a purge once about as many
    /// spans went as there are interned copies (and at every `enforce_memory`).
    ///
    /// On the file clock an open trace is dropped before it was analysed, and the input waits
    /// for the analysis rather than lose one: open traces go only when what readers still hold
    /// would not bring the total back under the budget once they let go.
    fn enforce_budget(&mut self) {
        while self.total_bytes() > self.limit() as u64 {
            if self.evict_oldest_complete() {
                self.shared.purge_if_due();
                continue;
            }
            if self.config.completion == Completion::FileTime
                && self
                    .total_bytes()
                    .saturating_sub(self.unreleased.bytes as u64)
                    <= self.limit() as u64
            {
                break;
            }
            if self.evict_oldest_open() {
                self.shared.purge_if_due();
            } else if self.shared.purge() == 0 {
                break;
            }
        }
    }

    fn evict_oldest_complete(&mut self) -> bool {
        while let Some((seq, id)) = self.complete_order.pop_front() {
            let live = matches!(
                self.slots.get(&id),
                Some(TraceSlot { state: SlotState::Complete { seq: s }, .. }) if *s == seq
            );
            if live {
                self.remove(id);
                return true;
            }
        }
        false
    }

    /// Last resort when only open traces are left: memory must stay bounded whatever the input.
    fn evict_oldest_open(&mut self) -> bool {
        while let Some((_, id)) = self.activity.pop_front() {
            if matches!(
                self.slots.get(&id),
                Some(TraceSlot {
                    state: SlotState::Open { .. },
                    ..
                })
            ) {
                self.stats.evicted_open_traces += 1;
                self.stats.open_traces -= 1;
                self.stats.evicted_open_spans +=
                    self.slots.get(&id).map_or(0, |s| s.trace.spans.len()) as u64;
                self.remove(id);
                return true;
            }
        }
        false
    }

    fn remove(&mut self, id: TraceId) {
        if let Some(slot) = self.slots.remove(&id) {
            self.newly_evicted.push(id);
            self.stats.evicted_traces += 1;
            self.stats.evicted_spans += slot.trace.spans.len() as u64;
            self.shared.released(slot.trace.spans.len());
            self.stats.spans_held -= slot.trace.spans.len() as u64;
            self.stats.logs_held -= slot.trace.logs.len() as u64;
            self.stats.span_bytes -= slot.trace.memory_bytes as u64;
            self.stats.traces_held -= 1;
            self.snapshot_cache = None;
            self.unreleased.hold_if_shared(&slot.trace);
        }
    }

    /// Complete traces held, in completion order, and the oldest open ones as of `now`. The
    /// complete list is cheap when nothing changed since the last call; the open list costs a
    /// pass over the slots.
    pub fn snapshot_at(&mut self, now: Instant) -> StoreSnapshot {
        StoreSnapshot {
            open: self.open_traces(now).into(),
            ..self.snapshot()
        }
    }

    /// The `MAX_OPEN_LISTED` open traces opened first, oldest first.
    fn open_traces(&self, now: Instant) -> Vec<OpenTrace> {
        let mut open: Vec<(Instant, Instant, &Trace)> = self
            .slots
            .values()
            .filter_map(|s| match s.state {
                SlotState::Open { last_activity } if !s.trace.spans.is_empty() => {
                    Some((s.opened, last_activity, &*s.trace))
                }
                _ => None,
            })
            .collect();
        if open.len() > MAX_OPEN_LISTED {
            open.select_nth_unstable_by_key(MAX_OPEN_LISTED, |&(opened, _, t)| {
                (opened, t.trace_id)
            });
            open.truncate(MAX_OPEN_LISTED);
        }
        open.sort_unstable_by_key(|&(opened, _, t)| (opened, t.trace_id));
        open.into_iter()
            .map(|(opened, last, t)| OpenTrace {
                trace_id: t.trace_id,
                root: t.roots().next().map(|r| (r.service(), r.name)),
                spans: t.spans.len(),
                start_ns: t.start_ns(),
                end_ns: t.end_ns(),
                age: now.saturating_duration_since(opened),
                idle: now.saturating_duration_since(last),
            })
            .collect()
    }

    /// Complete traces held, in completion order (no open list). Cheap when nothing changed
    /// since the last call.
    pub fn snapshot(&mut self) -> StoreSnapshot {
        let traces = match &self.snapshot_cache {
            Some(t) => Arc::clone(t),
            None => {
                let slots = &self.slots;
                self.complete_order.retain(|(seq, id)| {
                    matches!(slots.get(id), Some(TraceSlot { state: SlotState::Complete { seq: s }, .. }) if s == seq)
                });
                let traces: Arc<[Arc<Trace>]> = self
                    .complete_order
                    .iter()
                    .filter_map(|(_, id)| slots.get(id).map(|s| Arc::clone(&s.trace)))
                    .collect();
                self.snapshot_cache = Some(Arc::clone(&traces));
                traces
            }
        };
        StoreSnapshot {
            stats: self.stats(),
            traces,
            open: Arc::new([]),
        }
    }

    /// How many batches wait in the ingest channel: they are memory held (decoded, most of
    /// them acknowledged) that the store will hold next, so they count against the budget and
    /// the store makes room for them ahead.
    pub fn set_queued_batches(&mut self, batches: usize) {
        self.queued_batches = batches;
    }

    /// The process's resident memory and the budget the count is held to (at most
    /// `max_memory`), from the pipeline's tick; `enforce_memory` applies it.
    pub fn set_resident(&mut self, resident: usize, effective_max: usize) {
        self.stats.resident_bytes = resident as u64;
        self.resident_limit = effective_max;
    }

    /// What the count is held to: the budget, lowered by the resident overhead.
    fn limit(&self) -> usize {
        self.config.max_memory.min(self.resident_limit)
    }

    /// The store's count of what the pipeline holds (`StoreStats::memory_bytes`).
    pub fn counted_bytes(&self) -> usize {
        self.total_bytes() as usize
    }

    /// Drops what readers let go of and evicts if the budget is exceeded: the analysis
    /// worker's bytes grow between batches, so this runs at every tick as well as on ingest.
    pub fn enforce_memory(&mut self) {
        self.unreleased.release();
        self.shared.purge();
        self.enforce_budget();
    }

    /// Notes the count as held at rest (after a tick, or a batch settled) for
    /// `peak_memory_bytes`.
    pub fn record_peak(&mut self) {
        let total = self.total_bytes();
        self.stats.peak_memory_bytes = self.stats.peak_memory_bytes.max(total);
    }

    /// Bytes of traces the store let go of that a reader still holds.
    pub fn unreleased_bytes(&self) -> usize {
        self.unreleased.bytes
    }

    /// Whether the count is over the budget (readers hold traces the store let go of, or the
    /// analysis grew since the last batch).
    pub fn over_budget(&self) -> bool {
        self.total_bytes() > self.limit() as u64
    }

    /// A trace by id, open or complete.
    pub fn get(&self, id: TraceId) -> Option<&Arc<Trace>> {
        self.slots.get(&id).map(|s| &s.trace)
    }

    pub fn is_complete(&self, id: TraceId) -> bool {
        matches!(
            self.slots.get(&id),
            Some(TraceSlot {
                state: SlotState::Complete { .. },
                ..
            })
        )
    }
}

#[cfg(test)]
mod tests;

/// `Arc::make_mut` that keeps counting the old version when a reader still holds it: the
/// clone is new memory while the reader's copy lives on.
fn make_mut<'a>(trace: &'a mut Arc<Trace>, unreleased: &mut Unreleased) -> &'a mut Trace {
    unreleased.hold_if_shared(trace);
    Arc::make_mut(trace)
}
