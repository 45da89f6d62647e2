//! Repairs that Zipkin and Jaeger data need before the model's "one id per span" holds.
//!
//! - **Parts of one span.** Zipkin lets a tracer report a span in several parts (Brave flushes
//!   a late tag or annotation as a part with no kind and no timestamp). A part without a
//!   timestamp is merged into the span with the same id and the same service.
//! - **Shared client/server ids.** B3 instrumentation (Brave, Envoy, Jaeger clients in
//!   Zipkin mode) gives the SERVER span the id of the CLIENT span that called it, with or
//!   without Zipkin's `shared` flag. Where a client and its server halves share an id, the
//!   client keeps it and each server (or consumer) half gets a distinct id derived from it,
//!   with the client as parent; spans of a half's own process that name the shared id as
//!   parent move under that half (the same host first, then the half whose time holds them).
//!   A server half with no client beside it keeps its id: it is the root it looks like.
//! - **Spans without a timestamp** start where their parent starts (else where the trace's
//!   earliest span starts), so no time axis stretches back to 1970.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{AnyValue, Span, SpanId, SpanKind, StatusCode, TraceId};

/// The id the `n`-th server half (0-based) of a shared span gets: splitmix64 steps from the
/// shared id, never zero and never the id itself. Fixed by the algorithm, so a recording made
/// today re-reads to the same ids later.
pub(super) fn shared_server_id(shared: SpanId, n: usize) -> SpanId {
    let mut z = shared.as_u64();
    for _ in 0..=n {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut m = z;
        m = (m ^ (m >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        m = (m ^ (m >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        m ^= m >> 31;
        z = m;
    }
    if z == 0 || z == shared.as_u64() {
        z = z.wrapping_add(1).max(1);
    }
    SpanId::from_u64(z).unwrap_or(shared)
}

/// All three repairs, in order, over the spans of one file (or document).
pub fn repair(spans: &mut Vec<Span>) {
    merge_parts(spans);
    split_shared_ids(spans);
    place_untimed(spans);
}

fn untimed(s: &Span) -> bool {
    s.start_ns == 0
}

fn is_half(kind: SpanKind) -> bool {
    matches!(kind, SpanKind::Server | SpanKind::Consumer)
}

/// Groups of two or more spans sharing (trace, span id), as index lists in input order.
fn same_id_groups(spans: &[Span]) -> Vec<Vec<usize>> {
    let mut by_id: FxHashMap<(TraceId, SpanId), Vec<usize>> = FxHashMap::default();
    for (i, s) in spans.iter().enumerate() {
        by_id.entry((s.trace_id, s.span_id)).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by_id.into_values().filter(|g| g.len() > 1).collect();
    groups.sort_unstable_by_key(|g| g[0]);
    groups
}

/// Merges timestamp-less parts into the timed span of the same id and service.
fn merge_parts(spans: &mut Vec<Span>) {
    let mut drop = FxHashSet::default();
    for group in same_id_groups(spans) {
        let parts: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| untimed(&spans[i]))
            .collect();
        for part in parts {
            let service = spans[part].service();
            // Prefer the half that is not the client: a part comes from the process that
            // reported it, and a shared id's server half is that process's own span.
            let target = group
                .iter()
                .copied()
                .filter(|&i| i != part && !untimed(&spans[i]) && spans[i].service() == service)
                .max_by_key(|&i| (spans[i].kind != SpanKind::Client, std::cmp::Reverse(i)));
            let Some(target) = target else { continue };
            let part_span = spans[part].clone();
            absorb(&mut spans[target], part_span);
            drop.insert(part);
        }
    }
    if !drop.is_empty() {
        let mut i = 0;
        spans.retain(|_| {
            i += 1;
            !drop.contains(&(i - 1))
        });
    }
}

fn absorb(into: &mut Span, part: Span) {
    let mut attrs = into.attributes.to_vec();
    for kv in part.attributes.into_vec() {
        if !attrs.iter().any(|a| a.key == kv.key) {
            attrs.push(kv);
        }
    }
    into.attributes = attrs.into_boxed_slice();
    if !part.events.is_empty() {
        let mut events = into.events.to_vec();
        events.extend(part.events.into_vec());
        into.events = events.into_boxed_slice();
    }
    if !part.links.is_empty() {
        let mut links = into.links.to_vec();
        links.extend(part.links.into_vec());
        into.links = links.into_boxed_slice();
    }
    if into.name.as_str().is_empty() {
        into.name = part.name;
    }
    if into.kind == SpanKind::Internal {
        into.kind = part.kind;
    }
    if part.status.code == StatusCode::Error && into.status.code != StatusCode::Error {
        into.status = part.status;
    }
    if into.parent_span_id.is_none() {
        into.parent_span_id = part.parent_span_id;
    }
}

/// Gives each server half of a shared id its own id under the client.
fn split_shared_ids(spans: &mut [Span]) {
    // (trace, shared id) -> indexes of the halves that were given new ids
    let mut halves: FxHashMap<(TraceId, SpanId), Vec<usize>> = FxHashMap::default();
    let mut used: FxHashSet<(TraceId, SpanId)> =
        spans.iter().map(|s| (s.trace_id, s.span_id)).collect();
    for group in same_id_groups(spans) {
        let Some(&client) = group.iter().find(|&&i| spans[i].kind == SpanKind::Client) else {
            continue;
        };
        let shared = spans[client].span_id;
        let trace = spans[client].trace_id;
        let mut renamed: Vec<usize> = Vec::new();
        let mut members: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| i != client && is_half(spans[i].kind))
            .collect();
        members.sort_by_key(|&i| (spans[i].start_ns, i));
        for i in members {
            // A half reported twice stays a duplicate (the store drops and counts it).
            if let Some(&twin) = renamed.iter().find(|&&r| same_report(&spans[r], &spans[i])) {
                spans[i].span_id = spans[twin].span_id;
                spans[i].parent_span_id = Some(shared);
                continue;
            }
            let mut n = renamed.len();
            let id = loop {
                let id = shared_server_id(shared, n);
                if used.insert((trace, id)) {
                    break id;
                }
                n += 1;
            };
            spans[i].span_id = id;
            // Instrumentation that did not propagate the server's parent leaves it to the client.
            spans[i].parent_span_id = Some(shared);
            renamed.push(i);
        }
        if !renamed.is_empty() {
            halves.insert((trace, shared), renamed);
        }
    }
    if halves.is_empty() {
        return;
    }
    let moved: FxHashSet<usize> = halves.values().flatten().copied().collect();
    for c in 0..spans.len() {
        if moved.contains(&c) {
            continue;
        }
        let Some(p) = spans[c].parent_span_id else {
            continue;
        };
        let Some(hs) = halves.get(&(spans[c].trace_id, p)) else {
            continue;
        };
        let child = &spans[c];
        let same_service: Vec<usize> = hs
            .iter()
            .copied()
            .filter(|&h| spans[h].service() == child.service())
            .collect();
        let pick = same_service
            .iter()
            .copied()
            .find(|&h| same_host(&spans[h], child))
            .or_else(|| {
                same_service.iter().copied().find(|&h| {
                    spans[h].start_ns <= child.start_ns && child.start_ns <= spans[h].end_ns
                })
            })
            .or_else(|| same_service.first().copied());
        if let Some(h) = pick {
            spans[c].parent_span_id = Some(spans[h].span_id);
        }
    }
}

fn same_report(a: &Span, b: &Span) -> bool {
    a.service() == b.service()
        && a.start_ns == b.start_ns
        && a.end_ns == b.end_ns
        && a.name == b.name
        && same_host(a, b)
}

/// Same process: one resource, or the same local address (Zipkin's `localEndpoint`).
fn same_host(a: &Span, b: &Span) -> bool {
    if std::sync::Arc::ptr_eq(&a.resource, &b.resource) && a.resource.attributes.len() > 1 {
        return true;
    }
    let addr = |s: &Span| {
        s.attr("network.local.address")
            .or_else(|| s.resource.attr("host.name"))
            .or_else(|| s.resource.attr("hostname"))
            .or_else(|| s.resource.attr("ip"))
            .and_then(AnyValue::as_str)
            .map(str::to_owned)
    };
    matches!((addr(a), addr(b)), (Some(x), Some(y)) if x == y)
}

/// Timestamp-less spans start where their parent starts; their recorded duration is kept.
pub(super) fn place_untimed(spans: &mut [Span]) {
    if !spans.iter().any(untimed) {
        return;
    }
    let mut index: FxHashMap<(TraceId, SpanId), usize> = FxHashMap::default();
    let mut earliest: FxHashMap<TraceId, u64> = FxHashMap::default();
    for (i, s) in spans.iter().enumerate() {
        index.entry((s.trace_id, s.span_id)).or_insert(i);
        if !untimed(s) {
            let e = earliest.entry(s.trace_id).or_insert(s.start_ns);
            *e = (*e).min(s.start_ns);
        }
    }
    for i in 0..spans.len() {
        if !untimed(&spans[i]) {
            continue;
        }
        // Walk up to the first timed ancestor, bounded so a cycle cannot loop.
        let mut at = i;
        let mut start = None;
        for _ in 0..spans.len() {
            let Some(p) = spans[at].parent_span_id else {
                break;
            };
            let Some(&pi) = index.get(&(spans[at].trace_id, p)) else {
                break;
            };
            if !untimed(&spans[pi]) {
                start = Some(spans[pi].start_ns);
                break;
            }
            at = pi;
        }
        let Some(start) = start.or_else(|| earliest.get(&spans[i].trace_id).copied()) else {
            continue;
        };
        let s = &mut spans[i];
        let duration = s.end_ns.saturating_sub(s.start_ns);
        s.start_ns = start;
        s.end_ns = start.saturating_add(duration);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{KeyValue, Resource, SERVICE_NAME, Scope, Status, Sym};

    fn span(
        id: u64,
        parent: Option<u64>,
        kind: SpanKind,
        service: &Arc<Resource>,
        t: (u64, u64),
    ) -> Span {
        Span {
            trace_id: TraceId::from_u128(7).expect("non-zero"),
            span_id: SpanId::from_u64(id).expect("non-zero"),
            parent_span_id: parent.and_then(SpanId::from_u64),
            name: Sym::new("op"),
            kind,
            flags: 0,
            start_ns: t.0,
            end_ns: t.1,
            status: Status::default(),
            attributes: Box::default(),
            events: Box::default(),
            links: Box::default(),
            resource: Arc::clone(service),
            scope: Arc::new(Scope::default()),
            extra: None,
        }
    }

    fn resource(service: &str, host: &str) -> Arc<Resource> {
        Arc::new(Resource::new(vec![
            KeyValue::new(SERVICE_NAME, AnyValue::Str(service.into())),
            KeyValue::new("hostname", AnyValue::Str(host.into())),
        ]))
    }

    /// Jaeger clients in Zipkin-compatible mode: the server span reuses the client's id and
    /// names the client's parent as its own (as Jaeger's span-id deduper expects).
    #[test]
    fn jaeger_shared_ids_split_and_children_follow_their_process() {
        let (fe, be) = (resource("frontend", "fe-1"), resource("backend", "be-1"));
        let mut spans = vec![
            span(1, None, SpanKind::Server, &fe, (100, 900)),
            span(2, Some(1), SpanKind::Client, &fe, (200, 800)),
            span(2, Some(1), SpanKind::Server, &be, (250, 750)),
            span(3, Some(2), SpanKind::Client, &be, (300, 400)),
        ];
        repair(&mut spans);
        let server = &spans[2];
        assert_eq!(
            server.span_id,
            shared_server_id(SpanId::from_u64(2).expect("id"), 0)
        );
        assert_eq!(server.parent_span_id, SpanId::from_u64(2));
        assert_eq!(
            spans[3].parent_span_id,
            Some(server.span_id),
            "backend's call"
        );
        assert_eq!(
            spans[1].span_id,
            SpanId::from_u64(2).expect("id"),
            "client keeps it"
        );
    }

    #[test]
    fn untimed_spans_start_with_their_first_timed_ancestor() {
        let r = resource("svc", "h");
        let mut spans = vec![
            span(1, None, SpanKind::Server, &r, (5_000, 9_000)),
            span(2, Some(1), SpanKind::Internal, &r, (0, 0)),
            span(3, Some(2), SpanKind::Internal, &r, (0, 300)),
            span(4, Some(99), SpanKind::Internal, &r, (0, 0)),
        ];
        place_untimed(&mut spans);
        let starts: Vec<(u64, u64)> = spans.iter().map(|s| (s.start_ns, s.end_ns)).collect();
        // The orphan starts where the trace's earliest span does.
        assert_eq!(
            starts,
            vec![
                (5_000, 9_000),
                (5_000, 5_000),
                (5_000, 5_300),
                (5_000, 5_000)
            ]
        );
    }

    #[test]
    fn shared_server_ids_are_stable_and_distinct() {
        let ids = [1u64, 2, 0xecc0_0062_ceef_4bf0, u64::MAX];
        let mut derived = Vec::new();
        for &i in &ids {
            let id = SpanId::from_u64(i).expect("non-zero");
            for n in 0..3 {
                let d = shared_server_id(id, n);
                assert_ne!(d, id);
                derived.push(d);
            }
        }
        let unique: FxHashSet<SpanId> = derived.iter().copied().collect();
        assert_eq!(unique.len(), derived.len());
        // The algorithm is part of the file format: the same input always gives these ids.
        let one = SpanId::from_u64(1).expect("non-zero");
        assert_eq!(shared_server_id(one, 0), shared_server_id(one, 0));
        assert_eq!(shared_server_id(one, 0).as_u64(), 0x910a_2dec_8902_5cc1);
    }
}
