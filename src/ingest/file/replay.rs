//! Re-playing spans in their own timing, so live views can re-watch an incident: spans are
//! released when they ended (that is when an exporter would have sent them), on a clock that
//! runs `speed` times faster than the recorded one, through a bounded channel.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::model::{Batch, Span};

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

/// Sends `spans` on `tx` in the order and at the pace they ended, `factor` times faster than
/// recorded, telling `on_sent` the running count after each batch. Returns the number of spans
/// sent, or stops early (with the count so far) when the receiver is gone. The clock is
/// tokio's, so tests can run it paused.
pub async fn feed_timed(
    mut spans: Vec<Span>,
    factor: f64,
    tx: &mpsc::Sender<Batch>,
    mut on_sent: impl FnMut(u64),
) -> u64 {
    spans.sort_by_key(|s| s.end_ns);
    let Some(t0) = spans.first().map(|s| s.end_ns) else {
        return 0;
    };
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
        tokio::time::sleep_until(at).await;
        let n = batch.len() as u64;
        if tx.send(Batch::new(batch)).await.is_err() {
            return sent;
        }
        sent += n;
        on_sent(sent);
    }
    sent
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Resource, Scope, SpanId, SpanKind, Status, Sym, TraceId};

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
        let feeder = tokio::spawn(async move { feed_timed(spans, 10.0, &tx, |_| {}).await });
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
        let feeder = tokio::spawn(async move { feed_timed(spans, 1.0, &tx, |_| {}).await });
        let first = rx.recv().await.expect("first batch");
        assert_eq!(first.spans.len(), 2);
        drop(rx);
        assert_eq!(feeder.await.expect("feeder ran"), 2);
    }
}
