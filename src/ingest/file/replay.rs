//! Re-playing spans in their own timing, so live views can re-watch an incident: spans are
//! released when they ended (that is when an exporter would have sent them), on a clock that
//! runs `speed` times faster than the recorded one, through a bounded channel.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{FileError, FileSummary};

/// How far a feed has got, read by the TUI header while the files play: the share sent, and
/// what the files read so far had to skip, with the first reason.
#[derive(Debug, Default)]
pub struct FeedProgress {
    /// 0 to 1, as `f64` bits.
    fraction: AtomicU64,
    skipped: AtomicU64,
    unreadable: AtomicU64,
    first_problem: Mutex<Option<Arc<str>>>,
}

impl FeedProgress {
    pub fn fraction(&self) -> f64 {
        f64::from_bits(self.fraction.load(Ordering::Relaxed))
    }

    /// Records and spans skipped, plus files that could not be read, in the files done so far.
    pub fn problems(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed) + self.unreadable.load(Ordering::Relaxed)
    }

    /// The first problem met, as `file:line: what was wrong`.
    pub fn first_problem(&self) -> Option<Arc<str>> {
        self.first_problem.lock().ok().and_then(|p| p.clone())
    }

    pub(crate) fn set_fraction(&self, p: f64) {
        self.fraction.store(p.to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn file_done(&self, r: &Result<FileSummary, FileError>) {
        let problem = match r {
            Ok(s) => {
                self.skipped.fetch_add(s.skipped, Ordering::Relaxed);
                s.problems.first().cloned()
            }
            Err(e) => {
                self.unreadable.fetch_add(1, Ordering::Relaxed);
                Some(e.to_string())
            }
        };
        if let (Some(p), Ok(mut first)) = (problem, self.first_problem.lock())
            && first.is_none()
        {
            *first = Some(p.into());
        }
    }
}

use tokio::sync::mpsc;
use tokio::time::Instant;

use rustc_hash::FxHashMap;

use crate::model::{Batch, SpanId, SpanLog, TraceId};

/// How fast a replay runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the store takes spans; traces complete at end of input.
    Max,
    /// Recorded time divided by this factor (`1x` real time, `10x` ten times faster).
    Times(f64),
}

impl FromStr for Speed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let n = s.strip_suffix(['x', 'X']).unwrap_or(s);
        match n.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Times(f)),
            _ => Err(format!(
                "speed must be `max` or a positive factor like `1x` or `10x`, not {s:?}"
            )),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Max => f.write_str("max"),
            Speed::Times(x) => write!(f, "{x}x"),
        }
    }
}

/// Spans due within this much wall time of each other go out as one batch: fewer wakeups
/// and channel sends, and no visible difference at any replay speed.
const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// Most spans in one batch, so one burst cannot hold the store for long.
const MAX_BATCH: usize = 4096;

/// Sends `input`'s spans on `tx` in the order and at the pace they ended, `factor` times
/// faster than recorded, telling `on_sent` the running count after each batch. Each span log
/// goes in the batch of the span it names (logs naming no span of the input go last, for the
/// store to count). Returns the number of spans sent, or stops early (with the count so far)
/// when the receiver is gone. The clock is tokio's, so tests can run it paused.
pub async fn feed_timed(
    input: Batch,
    factor: f64,
    tx: &mpsc::Sender<Batch>,
    mut on_sent: impl FnMut(u64),
) -> u64 {
    let Batch { mut spans, logs } = input;
    let mut logs_of: FxHashMap<(TraceId, SpanId), Vec<SpanLog>> = FxHashMap::default();
    for log in logs {
        logs_of
            .entry((log.trace_id, log.span_id))
            .or_default()
            .push(log);
    }
    spans.sort_by_key(|s| s.end_ns);
    let t0 = spans.first().map_or(0, |s| s.end_ns);
    let factor = if factor.is_finite() && factor > 0.0 {
        factor
    } else {
        1.0
    };
    let start = Instant::now();
    let due = |end_ns: u64| {
        let offset = Duration::from_secs_f64((end_ns - t0) as f64 / 1e9 / factor);
        start + offset
    };
    let mut sent = 0u64;
    let mut spans = spans.into_iter().peekable();
    while let Some(first) = spans.next() {
        let at = due(first.end_ns);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match spans.peek() {
                Some(s) if due(s.end_ns) <= at + BATCH_WINDOW => {
                    batch.extend(spans.next());
                }
                _ => break,
            }
        }
        let logs: Vec<SpanLog> = batch
            .iter()
            .filter_map(|s| logs_of.remove(&(s.trace_id, s.span_id)))
            .flatten()
            .collect();
        tokio::time::sleep_until(at).await;
        let n = batch.len() as u64;
        if tx.send(Batch { spans: batch, logs }).await.is_err() {
            return sent;
        }
        sent += n;
        on_sent(sent);
    }
    let orphans: Vec<SpanLog> = logs_of.into_values().flatten().collect();
    if !orphans.is_empty() {
        let _ = tx
            .send(Batch {
                spans: Vec::new(),
                logs: orphans,
            })
            .await;
    }
    sent
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Resource, Scope, Span, SpanKind, Status, Sym};

    fn span(id: u64, end_s: u64) -> Span {
        Span {
            trace_id: TraceId::from_u128(7).expect("non-zero"),
            span_id: SpanId::from_u64(id).expect("non-zero"),
            parent_span_id: None,
            name: Sym::new("op"),
            kind: SpanKind::Internal,
            flags: 0,
            start_ns: 0,
            end_ns: end_s * 1_000_000_000,
            status: Status::default(),
            attributes: Box::default(),
            events: Box::default(),
            links: Box::default(),
            resource: Arc::new(Resource::new(Vec::new())),
            scope: Arc::new(Scope::default()),
            extra: None,
        }
    }

    #[test]
    fn parses_speeds() {
        assert_eq!("max".parse(), Ok(Speed::Max));
        assert_eq!("1x".parse(), Ok(Speed::Times(1.0)));
        assert_eq!("10X".parse(), Ok(Speed::Times(10.0)));
        assert_eq!("0.5x".parse(), Ok(Speed::Times(0.5)));
        assert!("0x".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
        assert!("-2x".parse::<Speed>().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn spans_arrive_in_end_order_at_the_replayed_pace() {
        let (tx, mut rx) = mpsc::channel(1);
        // Out of order in the input; ends at 0 s, 10 s and 30 s.
        let spans = vec![span(3, 30), span(1, 0), span(2, 10)];
        let start = Instant::now();
        let feeder =
            tokio::spawn(async move { feed_timed(Batch::new(spans), 10.0, &tx, |_| {}).await });
        let mut arrivals = Vec::new();
        while let Some(b) = rx.recv().await {
            let ids: Vec<u64> = b.spans.iter().map(|s| s.span_id.as_u64()).collect();
            arrivals.push((ids, (Instant::now() - start).as_millis()));
        }
        assert_eq!(
            arrivals,
            vec![(vec![1], 0), (vec![2], 1000), (vec![3], 3000)],
            "at 10x, 10 s of recorded time take 1 s"
        );
        assert_eq!(feeder.await.expect("feeder ran"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn spans_ending_together_share_a_batch_and_a_gone_receiver_stops_the_feed() {
        let (tx, mut rx) = mpsc::channel(1);
        let spans = vec![span(1, 5), span(2, 5), span(3, 100)];
        let feeder =
            tokio::spawn(async move { feed_timed(Batch::new(spans), 1.0, &tx, |_| {}).await });
        let first = rx.recv().await.expect("first batch");
        assert_eq!(first.spans.len(), 2);
        drop(rx);
        assert_eq!(feeder.await.expect("feeder ran"), 2);
    }

    fn log(span: u64, body: &str) -> SpanLog {
        SpanLog {
            trace_id: TraceId::from_u128(7).expect("non-zero"),
            span_id: SpanId::from_u64(span).expect("non-zero"),
            time_ns: 0,
            severity: "INFO".into(),
            body: body.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn span_logs_go_with_their_span_and_unnamed_ones_last() {
        let (tx, mut rx) = mpsc::channel(4);
        let input = Batch {
            spans: vec![span(1, 0), span(2, 10)],
            logs: vec![log(2, "second"), log(9, "no such span"), log(1, "first")],
        };
        let feeder = tokio::spawn(async move { feed_timed(input, 10.0, &tx, |_| {}).await });
        let mut arrivals = Vec::new();
        while let Some(b) = rx.recv().await {
            let spans: Vec<u64> = b.spans.iter().map(|s| s.span_id.as_u64()).collect();
            let logs: Vec<String> = b.logs.iter().map(|l| l.body.to_string()).collect();
            arrivals.push((spans, logs));
        }
        assert_eq!(
            arrivals,
            vec![
                (vec![1], vec!["first".to_owned()]),
                (vec![2], vec!["second".to_owned()]),
                (vec![], vec!["no such span".to_owned()]),
            ]
        );
        assert_eq!(feeder.await.expect("feeder ran"), 2);
    }
}
