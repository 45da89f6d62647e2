use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::model::{Resource, Scope, Span, SpanId, SpanKind, Status, Sym, TraceId};

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource::new(vec![crate::model::KeyValue::new(
        "service.name",
        crate::model::AnyValue::Str(service.into()),
    )]))
}

fn span(trace: u128, id: u64, parent: Option<u64>, service: &str) -> Span {
    Span {
        trace_id: TraceId::from_u128(trace).expect("non-zero"),
        span_id: SpanId::from_u64(id).expect("non-zero"),
        parent_span_id: parent.and_then(SpanId::from_u64),
        name: Sym::new("op"),
        kind: SpanKind::Internal,
        flags: 0,
        start_ns: id * 10,
        end_ns: id * 10 + 5,
        status: Status::default(),
        attributes: Box::new([]),
        events: Box::new([]),
        links: Box::new([]),
        resource: resource(service),
        scope: Arc::new(Scope::default()),
        extra: None,
    }
}

fn config(timeout_ms: u64, max_memory: usize) -> StoreConfig {
    StoreConfig {
        inactivity_timeout: Duration::from_millis(timeout_ms),
        max_memory,
        ..StoreConfig::default()
    }
}

#[test]
fn assembles_out_of_order_spans_across_batches() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(100, usize::MAX));
    // Children first, root last, interleaved with another trace.
    store.ingest(
        Batch::new(vec![span(1, 3, Some(2), "db"), span(2, 1, None, "b")]),
        t0,
    );
    store.ingest(Batch::new(vec![span(1, 2, Some(1), "api")]), t0);
    store.ingest(
        Batch::new(vec![span(1, 1, None, "gw")]),
        t0 + Duration::from_millis(50),
    );
    store.tick(t0 + Duration::from_millis(120));
    // Trace 2 idle for 120 ms: complete. Trace 1 saw a span at 50 ms: still open.
    assert!(store.is_complete(TraceId::from_u128(2).expect("id")));
    assert!(!store.is_complete(TraceId::from_u128(1).expect("id")));
    store.tick(t0 + Duration::from_millis(151));
    let done = store.take_completed();
    assert_eq!(done.len(), 2);
    let t1 = done
        .iter()
        .find(|t| t.trace_id.as_u128() == 1)
        .expect("trace 1 completed");
    let ids: Vec<u64> = t1.spans.iter().map(|s| s.span_id.as_u64()).collect();
    assert_eq!(ids, vec![1, 2, 3], "sorted by start time");
    assert!(t1.orphans.is_empty());
    let stats = store.stats();
    assert_eq!(stats.spans_held, 4);
    assert_eq!(stats.traces_held, 2);
    assert_eq!(stats.open_traces, 0);
    assert_eq!(stats.services_seen, 4);
}

#[test]
fn duplicate_span_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(100, usize::MAX));
    store.ingest(
        Batch::new(vec![span(1, 1, None, "a"), span(1, 2, Some(1), "a")]),
        t0,
    );
    store.ingest(Batch::new(vec![span(1, 2, Some(1), "a")]), t0);
    let stats = store.stats();
    assert_eq!(stats.spans_received, 3);
    assert_eq!(stats.duplicate_spans, 1);
    assert_eq!(stats.spans_held, 2);
}

#[test]
fn duplicates_are_found_in_large_traces_too() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(100, usize::MAX));
    let spans: Vec<Span> = (1..=100).map(|i| span(7, i, None, "a")).collect();
    store.ingest(Batch::new(spans.clone()), t0);
    store.ingest(Batch::new(spans), t0);
    assert_eq!(store.stats().duplicate_spans, 100);
    assert_eq!(store.stats().spans_held, 100);
}

#[test]
fn orphan_is_reported_when_parent_never_arrives() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(10, usize::MAX));
    store.ingest(
        Batch::new(vec![span(1, 1, None, "a"), span(1, 5, Some(4), "b")]),
        t0,
    );
    store.tick(t0 + Duration::from_millis(20));
    let done = store.take_completed();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].orphans, vec![SpanId::from_u64(5).expect("id")]);
}

#[test]
fn late_span_reopens_a_completed_trace() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(10, usize::MAX));
    store.ingest(Batch::new(vec![span(1, 1, None, "a")]), t0);
    store.tick(t0 + Duration::from_millis(20));
    let first = store.take_completed();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].version, 1);
    let snap = store.snapshot();
    assert_eq!(snap.traces.len(), 1);

    store.ingest(
        Batch::new(vec![span(1, 2, Some(1), "b")]),
        t0 + Duration::from_millis(30),
    );
    assert!(!store.is_complete(TraceId::from_u128(1).expect("id")));
    assert_eq!(store.stats().traces_reopened, 1);
    assert_eq!(store.stats().open_traces, 1);
    assert!(
        store.snapshot().traces.is_empty(),
        "open traces are not in snapshots"
    );
    // The snapshot taken earlier still sees the trace as it was.
    assert_eq!(snap.traces[0].spans.len(), 1);

    store.tick(t0 + Duration::from_millis(45));
    let again = store.take_completed();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].version, 2);
    assert_eq!(again[0].spans.len(), 2);
    assert_eq!(store.stats().traces_completed, 2);
}

#[test]
fn eviction_keeps_memory_under_budget_oldest_complete_first() {
    let t0 = Instant::now();
    // Eight spans: the span vector's capacity is then exactly its length, open or complete.
    let one_trace = {
        let s: Vec<Span> = (1..=8).map(|i| span(1, i, None, "a")).collect();
        s.iter().map(Span::memory_size).sum::<usize>() + SLOT_OVERHEAD_BYTES
    };
    // Room for about three traces of eight spans.
    let mut store = SpanStore::new(config(10, one_trace * 3 + one_trace / 2));
    for t in 1..=3u128 {
        let spans: Vec<Span> = (1..=8).map(|i| span(t, i, None, "a")).collect();
        store.ingest(Batch::new(spans), t0 + Duration::from_millis(t as u64));
        store.tick(t0 + Duration::from_millis(t as u64 + 15));
        // The analysis took them: no reader holds them any more.
        drop(store.take_completed());
    }
    let stats = store.stats();
    assert_eq!(stats.evicted_traces, 0);
    // The one resource and scope all spans share count once, beside the traces.
    assert!(stats.shared_bytes > 0);
    assert_eq!(
        stats.memory_bytes - stats.shared_bytes,
        3 * one_trace as u64
    );
    for t in 4..=5u128 {
        let spans: Vec<Span> = (1..=8).map(|i| span(t, i, None, "a")).collect();
        store.ingest(Batch::new(spans), t0 + Duration::from_millis(100));
    }
    let stats = store.stats();
    assert!(stats.memory_bytes <= stats.max_memory_bytes);
    assert_eq!(stats.evicted_traces, 2);
    assert_eq!(stats.evicted_spans, 16);
    assert_eq!(stats.evicted_open_traces, 0, "complete traces go first");
    assert!(store.get(TraceId::from_u128(1).expect("id")).is_none());
    assert!(store.get(TraceId::from_u128(2).expect("id")).is_none());
    assert_eq!(
        store.take_evicted(),
        vec![
            TraceId::from_u128(1).expect("id"),
            TraceId::from_u128(2).expect("id")
        ],
        "downstream learns what went"
    );
    assert!(store.take_evicted().is_empty());
    assert!(store.get(TraceId::from_u128(3).expect("id")).is_some());
    assert!(store.get(TraceId::from_u128(5).expect("id")).is_some());
}

#[test]
fn open_traces_are_evicted_when_nothing_else_is_left() {
    let t0 = Instant::now();
    // An open one-span trace: the span, the vector's spare capacity (it starts at four), the
    // slot's bookkeeping and its row in the published open list.
    let size = span(1, 1, None, "a").memory_size()
        + 3 * size_of::<Span>()
        + SLOT_OVERHEAD_BYTES
        + size_of::<OpenTrace>();
    // The resource and scope they all share, counted once.
    let shared = {
        let mut store = SpanStore::new(config(1000, usize::MAX));
        store.ingest(Batch::new(vec![span(1, 1, None, "a")]), t0);
        store.stats().shared_bytes as usize
    };
    let mut store = SpanStore::new(config(1000, size * 5 + shared));
    for t in 1..=20u128 {
        store.ingest(Batch::new(vec![span(t, 1, None, "a")]), t0);
    }
    let stats = store.stats();
    assert!(stats.memory_bytes <= stats.max_memory_bytes);
    assert_eq!(stats.evicted_open_traces, 15);
    assert_eq!(stats.open_traces, 5);
    assert!(store.get(TraceId::from_u128(20).expect("id")).is_some());
}

#[test]
fn complete_all_finishes_everything() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(10_000, usize::MAX));
    store.ingest(
        Batch::new(vec![span(1, 1, None, "a"), span(2, 1, None, "a")]),
        t0,
    );
    store.complete_all();
    assert_eq!(store.take_completed().len(), 2);
    assert_eq!(store.snapshot().traces.len(), 2);
    assert_eq!(store.stats().open_traces, 0);
}

fn log(trace: u128, span: u64, time_ns: u64, body: &str) -> crate::model::SpanLog {
    crate::model::SpanLog {
        trace_id: TraceId::from_u128(trace).expect("non-zero"),
        span_id: SpanId::from_u64(span).expect("non-zero"),
        time_ns,
        severity: "INFO".into(),
        body: body.into(),
    }
}

fn logs(logs: Vec<crate::model::SpanLog>) -> Batch {
    Batch {
        spans: Vec::new(),
        logs,
    }
}

#[test]
fn logs_attach_to_their_trace_whether_they_come_before_or_after_its_spans() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(100, usize::MAX));
    // Logs first (SDKs export them on a shorter interval), then the spans, then a late log.
    store.ingest(
        logs(vec![log(1, 2, 25, "second"), log(1, 2, 21, "first")]),
        t0,
    );
    store.ingest(
        Batch::new(vec![span(1, 1, None, "api"), span(1, 2, Some(1), "api")]),
        t0,
    );
    store.tick(t0 + Duration::from_millis(150));
    assert!(store.is_complete(TraceId::from_u128(1).expect("id")));
    store.ingest(logs(vec![log(1, 1, 11, "late")]), t0);
    let snap = store.snapshot();
    let id = TraceId::from_u128(1).expect("id");
    let trace = snap.traces.iter().find(|t| t.trace_id == id).expect("held");
    let of_2: Vec<&str> = trace
        .logs_of(SpanId::from_u64(2).expect("id"))
        .iter()
        .map(|l| &*l.body)
        .collect();
    assert_eq!(of_2, ["first", "second"]);
    assert_eq!(trace.logs_of(SpanId::from_u64(1).expect("id")).len(), 1);
    // A log does not re-open a complete trace.
    assert!(store.is_complete(trace.trace_id));
    let stats = store.stats();
    assert_eq!(stats.logs_held, 3);
    assert_eq!(
        stats.span_bytes,
        (trace.memory_bytes() + SLOT_OVERHEAD_BYTES) as u64
    );
    // The late log came while the completed version waited for the analysis: both count.
    assert!(stats.unreleased_bytes > 0);
    assert_eq!(
        stats.memory_bytes,
        stats.span_bytes + stats.shared_bytes + stats.unreleased_bytes
    );
}

#[test]
fn logs_of_a_trace_without_spans_are_dropped_when_it_completes() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(100, usize::MAX));
    store.ingest(logs(vec![log(7, 1, 1, "alone")]), t0);
    assert_eq!(store.stats().traces_held, 1);
    store.tick(t0 + Duration::from_millis(150));
    let stats = store.stats();
    assert_eq!(
        (stats.traces_held, stats.open_traces, stats.traces_completed),
        (0, 0, 0)
    );
    assert_eq!((stats.logs_held, stats.logs_dropped), (0, 1));
    assert_eq!(stats.memory_bytes, 0);
    assert!(store.snapshot().traces.is_empty());
}

#[test]
fn logs_per_trace_are_capped_and_count_in_the_memory_budget() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(100, usize::MAX));
    store.ingest(Batch::new(vec![span(1, 1, None, "api")]), t0);
    let before = store.stats().memory_bytes;
    let many = (0..MAX_LOGS_PER_TRACE as u64 + 5)
        .map(|i| log(1, 1, i, "x"))
        .collect();
    store.ingest(logs(many), t0);
    let stats = store.stats();
    assert_eq!(stats.logs_held, MAX_LOGS_PER_TRACE as u64);
    assert_eq!(stats.logs_dropped, 5);
    assert!(stats.memory_bytes > before + MAX_LOGS_PER_TRACE as u64 * 8);
    // Evicting the trace releases its logs too.
    let mut small = SpanStore::new(config(100, 4096));
    small.ingest(Batch::new(vec![span(1, 1, None, "api")]), t0);
    small.ingest(logs((0..100).map(|i| log(1, 1, i, "y")).collect()), t0);
    let stats = small.stats();
    assert!(stats.memory_bytes <= 4096, "{stats:?}");
    assert_eq!(stats.logs_held, 0);
}

#[test]
fn spans_past_the_per_trace_limit_are_dropped_and_counted_other_traces_unaffected() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(StoreConfig {
        max_spans_per_trace: 3,
        ..config(100, usize::MAX)
    });
    store.ingest(
        Batch::new((1..=5).map(|i| span(1, i, None, "api")).collect()),
        t0,
    );
    // A duplicate of a kept span is still a duplicate, not a limit hit.
    store.ingest(
        Batch::new(vec![span(1, 2, None, "api"), span(2, 1, None, "api")]),
        t0,
    );
    let stats = store.stats();
    assert_eq!(stats.spans_over_trace_limit, 2);
    assert_eq!(stats.duplicate_spans, 1);
    assert_eq!(stats.spans_held, 4);
    store.complete_all();
    let done = store.take_completed();
    let t1 = done
        .iter()
        .find(|t| t.trace_id.as_u128() == 1)
        .expect("trace 1");
    assert_eq!(t1.spans.len(), 3);
}

fn ten_span_trace(t: u128) -> Batch {
    Batch::new((1..=10).map(|i| span(t, i, None, "a")).collect())
}

#[test]
fn traces_a_reader_still_holds_stay_counted_until_it_lets_go() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(10, usize::MAX));
    store.ingest(ten_span_trace(1), t0);
    store.tick(t0 + Duration::from_millis(20));
    drop(store.take_completed());
    let held = store.stats().memory_bytes;
    // A published snapshot keeps the trace alive after the store lets it go.
    let snapshot = store.snapshot();
    store.config.max_memory = 0;
    store.enforce_memory();
    let stats = store.stats();
    assert_eq!((stats.traces_held, stats.evicted_traces), (0, 1));
    assert!(stats.unreleased_bytes > 0);
    // The snapshot's spans still use their resource and scope.
    assert_eq!(
        stats.memory_bytes,
        stats.unreleased_bytes + stats.shared_bytes
    );
    assert!(stats.memory_bytes < held, "the slot's bookkeeping is freed");
    drop(snapshot);
    store.enforce_memory();
    let stats = store.stats();
    assert_eq!((stats.unreleased_bytes, stats.memory_bytes), (0, 0));
}

#[test]
fn a_reopened_trace_counts_the_copy_a_reader_holds() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(10, usize::MAX));
    store.ingest(ten_span_trace(1), t0);
    store.tick(t0 + Duration::from_millis(20));
    let completed = store.take_completed();
    assert_eq!(completed.len(), 1);
    let before = store.stats();
    // A late span while the analysis queue still holds the completed version: two copies.
    store.ingest(Batch::new(vec![span(1, 11, None, "a")]), t0);
    let stats = store.stats();
    assert_eq!(stats.unreleased_bytes, completed[0].memory_bytes() as u64);
    assert!(stats.memory_bytes > before.memory_bytes + stats.unreleased_bytes);
    drop(completed);
    store.enforce_memory();
    assert_eq!(store.stats().unreleased_bytes, 0);
}

#[test]
fn the_gauge_counts_against_the_budget() {
    let t0 = Instant::now();
    let gauge = Arc::new(MemoryGauge::default());
    let mut store = SpanStore::new(config(10, usize::MAX)).with_gauge(Arc::clone(&gauge));
    for t in 1..=4u128 {
        store.ingest(ten_span_trace(t), t0);
    }
    store.tick(t0 + Duration::from_millis(20));
    drop(store.take_completed());
    let stats = store.stats();
    let per_trace = stats.span_bytes / 4;
    assert_eq!(
        stats.memory_bytes,
        stats.span_bytes + stats.shared_bytes + stats.interned_bytes,
        "nothing published yet"
    );
    assert!(stats.interned_bytes > 0, "the names count with a gauge");
    // The analysis worker now holds two traces' worth: two traces must go.
    store.config.max_memory = (stats.memory_bytes + per_trace / 2) as usize;
    gauge.set_analysis_bytes(2 * per_trace as usize);
    store.enforce_memory();
    let stats = store.stats();
    assert_eq!(stats.analysis_bytes, 2 * per_trace);
    assert_eq!(stats.evicted_traces, 2);
    assert!(stats.memory_bytes <= stats.max_memory_bytes, "{stats:?}");
    assert_eq!(
        stats.memory_bytes,
        stats.span_bytes + stats.shared_bytes + stats.analysis_bytes + stats.interned_bytes
    );
}

#[test]
fn snapshot_lists_the_oldest_open_traces_with_what_arrived() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(1000, usize::MAX));
    // Trace 1 has only a child so far; trace 2 has its root; trace 3 completes.
    store.ingest(Batch::new(vec![span(1, 2, Some(1), "db")]), t0);
    store.ingest(
        Batch::new(vec![span(2, 1, None, "gw"), span(2, 3, Some(1), "api")]),
        t0 + Duration::from_millis(10),
    );
    store.ingest(Batch::new(vec![span(3, 1, None, "b")]), t0);
    store.complete(TraceId::from_u128(3).expect("id"));
    let now = t0 + Duration::from_millis(100);
    let snap = store.snapshot_at(now);
    let ids: Vec<u128> = snap.open.iter().map(|o| o.trace_id.as_u128()).collect();
    assert_eq!(ids.len(), 2, "the complete trace is not listed");
    let first = &snap.open[0];
    let second = &snap.open[1];
    assert_eq!(first.trace_id.as_u128(), 1, "opened first, listed first");
    assert_eq!(first.root, None, "no root arrived yet");
    assert_eq!(first.spans, 1);
    assert_eq!(first.age, Duration::from_millis(100));
    assert_eq!(second.root, Some((Sym::new("gw"), Sym::new("op"))));
    assert_eq!((second.spans, second.start_ns, second.end_ns), (2, 10, 35));
    assert_eq!(second.idle, Duration::from_millis(90));
    // The plain snapshot (batch callers) does not pay for the list.
    assert!(store.snapshot().open.is_empty());
}

#[test]
fn open_list_is_capped_at_the_oldest() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(60_000, usize::MAX));
    let n = MAX_OPEN_LISTED as u128 + 50;
    for i in 1..=n {
        store.ingest(
            Batch::new(vec![span(i, 1, None, "s")]),
            t0 + Duration::from_millis(i as u64),
        );
    }
    let snap = store.snapshot_at(t0 + Duration::from_secs(10));
    assert_eq!(snap.open.len(), MAX_OPEN_LISTED);
    assert_eq!(snap.open[0].trace_id.as_u128(), 1);
    assert_eq!(
        snap.open[MAX_OPEN_LISTED - 1].trace_id.as_u128(),
        MAX_OPEN_LISTED as u128,
        "the youngest 50 are left out"
    );
}

#[test]
fn identical_resources_from_separate_requests_are_held_once() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(10, usize::MAX));
    // Every span brings its own `Arc`s, as a decoder makes per block of every request.
    for t in 1..=50u128 {
        store.ingest(
            Batch::new(vec![span(t, 1, None, "api"), span(t, 2, Some(1), "db")]),
            t0,
        );
    }
    assert_eq!(store.shared.len(), (2, 1), "two services, one scope");
    let snap = {
        store.tick(t0 + Duration::from_millis(20));
        store.snapshot()
    };
    let api: Vec<_> = snap
        .traces
        .iter()
        .flat_map(|t| t.spans.iter())
        .filter(|s| s.service().as_str() == "api")
        .collect();
    assert_eq!(api.len(), 50);
    assert!(
        api.iter()
            .all(|s| Arc::ptr_eq(&s.resource, &api[0].resource))
    );
    drop(api);
    let stats = store.stats();
    assert!(stats.shared_bytes > 0);
    assert_eq!(
        stats.memory_bytes,
        stats.span_bytes + stats.shared_bytes + stats.unreleased_bytes
    );
    // Once no span refers to them, the copies go and stop counting.
    drop((snap, store.take_completed()));
    store.config.max_memory = 0;
    store.enforce_memory();
    assert_eq!(store.stats().traces_held, 0);
    assert_eq!(store.shared.len(), (0, 0));
    assert_eq!(store.stats().shared_bytes, 0);
}

#[test]
fn batches_waiting_in_the_channel_count_and_make_room_ahead() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(10, usize::MAX));
    for t in 1..=8u128 {
        store.ingest(ten_span_trace(t), t0);
    }
    let before = store.stats();
    assert_eq!(before.queued_bytes, 0);
    store.set_queued_batches(3);
    let stats = store.stats();
    // About three batches' worth (the average is still warming up).
    assert!(stats.queued_bytes > 0 && stats.queued_bytes <= 3 * before.span_bytes / 8);
    assert_eq!(stats.memory_bytes, before.memory_bytes + stats.queued_bytes);
    // With the budget just over what is held, the queue makes the store evict ahead.
    store.config.max_memory = before.memory_bytes as usize + 1;
    store.enforce_memory();
    let stats = store.stats();
    assert!(stats.evicted_traces > 0);
    assert!(stats.memory_bytes <= stats.max_memory_bytes);
}

/// A span at `at_ms` on the file's clock.
fn timed(trace: u128, id: u64, parent: Option<u64>, at_ms: u64) -> Span {
    let mut s = span(trace, id, parent, "api");
    s.start_ns = at_ms * 1_000_000;
    s.end_ns = s.start_ns + 1_000_000;
    s
}

/// On the file clock a trace completes once the input has moved a timeout past its latest
/// span end, whatever the wall clock says: a batch out of order by less than the timeout joins
/// its trace, one later still re-opens the held trace, and `tick` (wall time) does nothing.
#[test]
fn file_time_completes_by_the_inputs_clock_and_keeps_out_of_order_spans_together() {
    let now = Instant::now();
    let mut store = SpanStore::new(StoreConfig {
        completion: Completion::FileTime,
        ..config(1000, usize::MAX)
    });
    store.ingest(Batch::new(vec![timed(1, 1, None, 0)]), now);
    // 500 ms later on the file's clock: within the timeout, trace 1 stays open.
    store.ingest(Batch::new(vec![timed(2, 10, None, 500)]), now);
    store.tick(now + Duration::from_secs(60));
    assert!(
        store.take_completed().is_empty(),
        "wall time does not complete"
    );
    // Trace 1's child arrives out of order, and the input moves on past its timeout.
    store.ingest(
        Batch::new(vec![timed(1, 2, Some(1), 100), timed(3, 20, None, 1050)]),
        now,
    );
    assert!(
        store.take_completed().is_empty(),
        "1.05 s is within a timeout of 0.1 s"
    );
    store.ingest(Batch::new(vec![timed(3, 21, Some(20), 1900)]), now);
    let done = store.take_completed();
    assert_eq!(done.len(), 2, "traces 1 and 2, a timeout behind 1.9 s");
    let one = done
        .iter()
        .find(|t| t.trace_id == TraceId::from_u128(1).expect("id"));
    assert_eq!(
        one.map(|t| t.spans.len()),
        Some(2),
        "assembled across batches"
    );
    // A span later than the timeout re-opens the held trace and completes it again.
    store.ingest(Batch::new(vec![timed(1, 3, Some(1), 200)]), now);
    let again = store.take_completed();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].spans.len(), again[0].version), (3, 2));
    assert_eq!(store.stats().traces_reopened, 1);
    assert!(!store.is_complete(TraceId::from_u128(3).expect("id")));
}

#[test]
fn a_run_of_one_traces_spans_grows_its_vector_once_and_counts_it() {
    let t0 = Instant::now();
    let mut store = SpanStore::new(config(1000, usize::MAX));
    // 20 spans of trace 1, then one of trace 2, then 3 more of trace 1.
    let mut spans: Vec<Span> = (1..=20).map(|i| span(1, i, None, "a")).collect();
    spans.push(span(2, 1, None, "a"));
    spans.extend((21..=23).map(|i| span(1, i, None, "a")));
    store.ingest(Batch::new(spans), t0);
    let trace = store.get(TraceId::from_u128(1).expect("id")).expect("held");
    assert_eq!(trace.spans.len(), 23);
    // Room for the first run at once (20), then amortised growth for the second.
    assert_eq!(trace.spans.capacity(), 40);
    let sizes: usize = trace.spans.iter().map(Span::memory_size).sum();
    assert_eq!(
        trace.memory_bytes(),
        sizes + (40 - 23) * size_of::<Span>(),
        "the spare slots are counted as held"
    );
}
