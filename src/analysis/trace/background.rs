//! Work that is not part of a request: long-lived streams and spans detached from their
//! request. Their time is reported apart from request hotspots, because a flagd `EventStream`
//! held open for 48 s is not what a request waited for, yet on the critical path of its own
//! one-span trace it would outweigh every request in the capture.
//!
//! The rule, from evidence in the span only (never its name):
//! - **stream**: an RPC span (`rpc.system` set) whose message events (`message` or
//!   `rpc.message`, with `message.type` / `rpc.message.type` SENT or RECEIVED, as the
//!   OpenTelemetry gRPC and Connect instrumentations record them) show more than one message in
//!   one direction; a unary call sends and receives at most one each.
//! - **outlives root**: a span that runs on after its request root ended, for more than half
//!   of its own duration (fire-and-forget work, a goroutine or consumer loop started by the
//!   request): the request did not wait for it. The half keeps clock skew of a few
//!   microseconds on an ordinary child from counting. Spans shorter than 1 ms hold too little
//!   time to set apart (a zero-length `redirect` client span recorded after its root ended
//!   would otherwise be listed as background work of 0 ms).
//!
//! - **consumer loop**: a pull-based consumer's `receive` span (`messaging.operation.type`, or
//!   the older `messaging.operation`) that holds the processing of more than one message (two
//!   or more children that are CONSUMER spans or `process`/`deliver` operations): the loop
//!   that polls, not a request; each message's processing is what a request would be.
//!
//! Only the topmost such span is named; its subtree goes with it. A consumer loop still open
//! when the capture ends is not in it at all (spans are exported when they end).

use serde::Serialize;

use crate::model::{AnyValue, Span, SpanKind};

use crate::analysis::trace::attrs;
use crate::analysis::trace::tree::TraceTree;

/// Shortest span that counts as outliving its root (see the module doc).
const MIN_OUTLIVING_NS: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackgroundKind {
    /// A streaming RPC: several messages in one direction.
    Stream,
    /// Ends after the request root it belongs to ended.
    OutlivesRoot,
    /// A pull consumer's receive span holding several messages' processing.
    ConsumerLoop,
}

/// Why each span is background work, for the topmost span of each background subtree only.
pub fn background(tree: &TraceTree<'_>) -> Vec<Option<BackgroundKind>> {
    let mut top: Vec<Option<BackgroundKind>> = vec![None; tree.len()];
    let mut inside = vec![false; tree.len()];
    let mut root_end = vec![0u64; tree.len()];
    for &i in &tree.preorder {
        let (parent_inside, end_of_root) = match tree.parent[i] {
            Some(p) => (inside[p], root_end[p]),
            None => (false, tree.end(i)),
        };
        root_end[i] = end_of_root;
        if parent_inside {
            inside[i] = true;
            continue;
        }
        let kind = if is_stream(tree.span(i)) {
            Some(BackgroundKind::Stream)
        } else if is_consumer_loop(tree, i) {
            Some(BackgroundKind::ConsumerLoop)
        } else if tree.parent[i].is_some()
            && tree.dur(i) >= MIN_OUTLIVING_NS
            && tree.end(i).saturating_sub(end_of_root) > tree.dur(i) / 2
        {
            Some(BackgroundKind::OutlivesRoot)
        } else {
            None
        };
        inside[i] = kind.is_some();
        top[i] = kind;
    }
    top
}

/// Every span of a background subtree (the flagged span and all under it).
pub fn in_background(tree: &TraceTree<'_>, top: &[Option<BackgroundKind>]) -> Vec<bool> {
    let mut inside = vec![false; tree.len()];
    for &i in &tree.preorder {
        inside[i] = top[i].is_some() || tree.parent[i].is_some_and(|p| inside[p]);
    }
    inside
}

/// The messaging operation of a span, under the current or the older convention name.
fn messaging_operation(s: &Span) -> Option<&str> {
    s.attr(attrs::MESSAGING_OPERATION_TYPE)
        .or_else(|| s.attr(attrs::MESSAGING_OPERATION_OLD))
        .and_then(AnyValue::as_str)
}

fn is_consumer_loop(tree: &TraceTree<'_>, i: usize) -> bool {
    if messaging_operation(tree.span(i)) != Some("receive") {
        return false;
    }
    let processing = tree.children[i]
        .iter()
        .filter(|&&c| {
            let s = tree.span(c);
            s.kind == SpanKind::Consumer
                || matches!(messaging_operation(s), Some("process" | "deliver"))
        })
        .count();
    processing >= 2
}

fn is_stream(s: &Span) -> bool {
    if s.attr(attrs::RPC_SYSTEM).is_none() {
        return false;
    }
    let (mut sent, mut received) = (0u32, 0u32);
    for e in s.events.iter() {
        if !matches!(&*e.name, "message" | "rpc.message") {
            continue;
        }
        let direction = crate::model::find_attr(&e.attributes, "message.type")
            .or_else(|| crate::model::find_attr(&e.attributes, "rpc.message.type"))
            .and_then(AnyValue::as_str);
        match direction {
            Some(d) if d.eq_ignore_ascii_case("SENT") => sent += 1,
            Some(d) if d.eq_ignore_ascii_case("RECEIVED") => received += 1,
            _ => {}
        }
    }
    sent > 1 || received > 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::TraceBuilder;
    use crate::model::{Event, KeyValue, SpanKind};

    fn message(direction: &str, id: i64) -> Event {
        Event {
            time_ns: 0,
            name: "message".into(),
            attributes: vec![
                KeyValue::new("message.type", AnyValue::Str(direction.into())),
                KeyValue::new("message.id", AnyValue::Int(id)),
            ]
            .into(),
            dropped_attributes_count: 0,
        }
    }

    #[test]
    fn streaming_rpc_is_background_and_unary_is_not() {
        // As otelconnect records flagd's EventStream: one request, two responses.
        let mut b = TraceBuilder::new();
        b.span("flagd", "flagd.evaluation.v1.Service/EventStream")
            .kind(SpanKind::Server)
            .str_attr("rpc.system", "grpc")
            .at(0, 30_000)
            .id();
        b.span("cart", "oteldemo.CartService/GetCart")
            .kind(SpanKind::Server)
            .str_attr("rpc.system", "grpc")
            .at(10, 20)
            .id();
        let mut t = b.build();
        for s in &mut t.spans {
            s.events = if s.name.as_str().ends_with("EventStream") {
                vec![
                    message("RECEIVED", 1),
                    message("SENT", 1),
                    message("SENT", 2),
                ]
            } else {
                vec![message("RECEIVED", 1), message("SENT", 1)]
            }
            .into();
        }
        let tree = TraceTree::new(&t);
        let top = background(&tree);
        let by_name = |n: &str| {
            (0..tree.len())
                .find(|&i| tree.span(i).name.as_str().ends_with(n))
                .map(|i| top[i])
        };
        assert_eq!(by_name("EventStream"), Some(Some(BackgroundKind::Stream)));
        assert_eq!(by_name("GetCart"), Some(None));
    }

    #[test]
    fn span_outliving_its_root_is_background_with_its_subtree() {
        let mut b = TraceBuilder::new();
        let r = b.span("api", "POST /orders").at(0, 50).id();
        let inline = b.span("api", "validate").at(5, 20).parent(r).id();
        let detached = b.span("api", "send email").at(40, 900).parent(r).id();
        let under = b.span("mail", "smtp").at(100, 800).parent(detached).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        let top = background(&tree);
        let inside = in_background(&tree, &top);
        let at = |id| (0..tree.len()).find(|&i| tree.span(i).span_id == id);
        let (r, inline, detached, under) = (at(r), at(inline), at(detached), at(under));
        let idx = |x: Option<usize>| x.expect("span in tree");
        assert_eq!(top[idx(detached)], Some(BackgroundKind::OutlivesRoot));
        assert_eq!(top[idx(under)], None, "only the topmost span is named");
        assert!(inside[idx(under)] && inside[idx(detached)]);
        assert!(!inside[idx(r)] && !inside[idx(inline)]);
    }

    /// SmartThings' Brave capture: a zero-length `redirect` CLIENT span recorded after its
    /// root ended holds no time; it is no background work.
    #[test]
    fn a_span_too_short_to_hold_time_is_not_background() {
        let mut b = TraceBuilder::new();
        let r = b.span("web", "GET /install").at(0, 50).id();
        let redirect = b.span("web", "redirect").at(60, 60).parent(r).id();
        let t = b.build();
        let tree = TraceTree::new(&t);
        let top = background(&tree);
        let i = (0..tree.len())
            .find(|&i| tree.span(i).span_id == redirect)
            .expect("span in tree");
        assert_eq!(top[i], None);
    }

    /// A pull consumer (Kafka/SQS poll loop) whose `receive` span holds three messages'
    /// processing: the loop is background work; a receive that fetched one message is not.
    #[test]
    fn a_receive_span_holding_several_messages_is_a_consumer_loop() {
        let mut b = TraceBuilder::new();
        let poll = b
            .span("worker", "orders receive")
            .kind(SpanKind::Consumer)
            .str_attr(attrs::MESSAGING_OPERATION_TYPE, "receive")
            .at(0, 30_000)
            .id();
        for k in 0..3u64 {
            b.span("worker", "orders process")
                .kind(SpanKind::Consumer)
                .str_attr(attrs::MESSAGING_OPERATION_TYPE, "process")
                .at(k * 10_000 + 1, k * 10_000 + 50)
                .parent(poll)
                .id();
        }
        let mut one = TraceBuilder::with_trace_id(2);
        let single = one
            .span("worker", "orders receive")
            .kind(SpanKind::Consumer)
            .str_attr(attrs::MESSAGING_OPERATION_OLD, "receive")
            .at(0, 60)
            .id();
        one.span("worker", "orders process")
            .kind(SpanKind::Consumer)
            .at(1, 50)
            .parent(single)
            .id();
        let (loop_trace, single_trace) = (b.build(), one.build());
        let tree = TraceTree::new(&loop_trace);
        let top = background(&tree);
        let root = tree.roots[0];
        assert_eq!(top[root], Some(BackgroundKind::ConsumerLoop));
        let tree = TraceTree::new(&single_trace);
        assert!(background(&tree).iter().all(Option::is_none));
    }
}
