//! Per-span limits applied to every received batch before it reaches the store, as the SDKs'
//! and the Collector's span limits do: long attribute values are truncated, attributes, events
//! and links past the limit are dropped (and added to the span's dropped counts, so the span
//! says it lost them). Each cut is counted for the summary line and the TUI header.
//!
//! Applied once, on the decoded batch, so every decoder and transport gets the same limits.

use crate::model::{AnyValue, Batch, KeyValue, Span, SpanExtra};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanLimits {
    /// Longest string or bytes attribute value kept, in bytes (strings cut on a char boundary).
    pub max_attribute_value_bytes: usize,
    pub max_attributes: usize,
    pub max_events: usize,
    pub max_links: usize,
}

pub const DEFAULT_MAX_ATTRIBUTE_VALUE_BYTES: usize = 64 * 1024;
pub const DEFAULT_MAX_ATTRIBUTES: usize = 1024;
pub const DEFAULT_MAX_EVENTS: usize = 1024;
pub const DEFAULT_MAX_LINKS: usize = 1024;

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            max_attribute_value_bytes: DEFAULT_MAX_ATTRIBUTE_VALUE_BYTES,
            max_attributes: DEFAULT_MAX_ATTRIBUTES,
            max_events: DEFAULT_MAX_EVENTS,
            max_links: DEFAULT_MAX_LINKS,
        }
    }
}

/// What one batch lost to the limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cuts {
    pub values_truncated: u64,
    pub attributes_dropped: u64,
    pub events_dropped: u64,
    pub links_dropped: u64,
}

impl SpanLimits {
    pub fn apply(&self, batch: &mut Batch) -> Cuts {
        let mut cuts = Cuts::default();
        for span in &mut batch.spans {
            self.apply_span(span, &mut cuts);
        }
        cuts
    }

    fn apply_span(&self, span: &mut Span, cuts: &mut Cuts) {
        let attrs = cap(&mut span.attributes, self.max_attributes);
        let events = cap(&mut span.events, self.max_events);
        let links = cap(&mut span.links, self.max_links);
        if attrs + events + links > 0 {
            let extra = span
                .extra
                .get_or_insert_with(|| Box::new(SpanExtra::default()));
            extra.dropped_attributes_count = extra.dropped_attributes_count.saturating_add(attrs);
            extra.dropped_events_count = extra.dropped_events_count.saturating_add(events);
            extra.dropped_links_count = extra.dropped_links_count.saturating_add(links);
            cuts.attributes_dropped += u64::from(attrs);
            cuts.events_dropped += u64::from(events);
            cuts.links_dropped += u64::from(links);
        }
        self.truncate_all(&mut span.attributes, cuts);
        for event in &mut span.events {
            let n = cap(&mut event.attributes, self.max_attributes);
            event.dropped_attributes_count = event.dropped_attributes_count.saturating_add(n);
            cuts.attributes_dropped += u64::from(n);
            self.truncate_all(&mut event.attributes, cuts);
        }
        for link in &mut span.links {
            let n = cap(&mut link.attributes, self.max_attributes);
            link.dropped_attributes_count = link.dropped_attributes_count.saturating_add(n);
            cuts.attributes_dropped += u64::from(n);
            self.truncate_all(&mut link.attributes, cuts);
        }
    }

    fn truncate_all(&self, attrs: &mut [KeyValue], cuts: &mut Cuts) {
        for kv in attrs {
            self.truncate_value(&mut kv.value, cuts);
        }
    }

    fn truncate_value(&self, value: &mut AnyValue, cuts: &mut Cuts) {
        let max = self.max_attribute_value_bytes;
        match value {
            AnyValue::Str(s) if s.len() > max => {
                // The longest prefix that ends on a char boundary.
                let end = (0..=max)
                    .rev()
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(0);
                s.truncate(end);
                cuts.values_truncated += 1;
            }
            AnyValue::Bytes(b) if b.len() > max => {
                *b = b.iter().take(max).copied().collect();
                cuts.values_truncated += 1;
            }
            AnyValue::Array(items) => {
                for item in items.iter_mut() {
                    self.truncate_value(item, cuts);
                }
            }
            AnyValue::KvList(kvs) => self.truncate_all(kvs, cuts),
            _ => {}
        }
    }
}

/// Keeps the first `max` items; returns how many went.
fn cap<T>(items: &mut Box<[T]>, max: usize) -> u32 {
    if items.len() <= max {
        return 0;
    }
    let dropped = items.len() - max;
    let mut v = std::mem::take(items).into_vec();
    v.truncate(max);
    *items = v.into_boxed_slice();
    u32::try_from(dropped).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::model::{Event, Link, Resource, Scope, SpanId, SpanKind, Status, Sym, TraceId};

    fn span_with(attrs: Vec<KeyValue>, events: usize, links: usize) -> Span {
        Span {
            trace_id: TraceId::from_u128(1).expect("non-zero"),
            span_id: SpanId::from_u64(1).expect("non-zero"),
            parent_span_id: None,
            name: Sym::new("op"),
            kind: SpanKind::default(),
            flags: 0,
            start_ns: 1,
            end_ns: 2,
            status: Status::default(),
            attributes: attrs.into_boxed_slice(),
            events: (0..events)
                .map(|i| Event {
                    time_ns: i as u64,
                    name: "e".into(),
                    attributes: Box::new([]),
                    dropped_attributes_count: 0,
                })
                .collect(),
            links: (0..links)
                .map(|i| Link {
                    trace_id: TraceId::from_u128(7).expect("non-zero"),
                    span_id: SpanId::from_u64(i as u64 + 1).expect("non-zero"),
                    attributes: Box::new([]),
                    trace_state: None,
                    flags: 0,
                    dropped_attributes_count: 0,
                })
                .collect(),
            resource: Arc::new(Resource::new(Vec::new())),
            scope: Arc::new(Scope::default()),
            extra: None,
        }
    }

    #[test]
    fn long_values_are_cut_on_char_boundaries_and_counted() {
        let limits = SpanLimits {
            max_attribute_value_bytes: 5,
            ..SpanLimits::default()
        };
        let attrs = vec![
            KeyValue::new("ascii", AnyValue::Str("abcdefgh".into())),
            // 'é' is two bytes: bytes 4..6; a cut at 5 would split it.
            KeyValue::new("utf8", AnyValue::Str("abcdé".into())),
            KeyValue::new("short", AnyValue::Str("abc".into())),
            KeyValue::new("bytes", AnyValue::Bytes(vec![1u8; 9].into_boxed_slice())),
            KeyValue::new(
                "nested",
                AnyValue::Array(vec![AnyValue::Str("0123456789".into())].into_boxed_slice()),
            ),
        ];
        let mut batch = Batch::new(vec![span_with(attrs, 0, 0)]);
        let cuts = limits.apply(&mut batch);
        assert_eq!(cuts.values_truncated, 4);
        let a = &batch.spans[0].attributes;
        assert_eq!(a[0].value, AnyValue::Str("abcde".into()));
        assert_eq!(a[1].value, AnyValue::Str("abcd".into()));
        assert_eq!(a[2].value, AnyValue::Str("abc".into()));
        assert_eq!(a[3].value, AnyValue::Bytes(vec![1u8; 5].into_boxed_slice()));
        assert_eq!(
            a[4].value,
            AnyValue::Array(vec![AnyValue::Str("01234".into())].into_boxed_slice())
        );
    }

    #[test]
    fn attributes_events_and_links_past_the_limit_are_dropped_and_counted_on_the_span() {
        let limits = SpanLimits {
            max_attributes: 2,
            max_events: 1,
            max_links: 3,
            ..SpanLimits::default()
        };
        let attrs = (0..5)
            .map(|i| KeyValue::new(&format!("k{i}"), AnyValue::Int(i)))
            .collect();
        let mut batch = Batch::new(vec![span_with(attrs, 4, 5), span_with(Vec::new(), 1, 0)]);
        let cuts = limits.apply(&mut batch);
        assert_eq!(
            cuts,
            Cuts {
                values_truncated: 0,
                attributes_dropped: 3,
                events_dropped: 3,
                links_dropped: 2
            }
        );
        let s = &batch.spans[0];
        assert_eq!(s.attributes.len(), 2);
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.links.len(), 3);
        let extra = s.extra.as_ref().expect("dropped counts recorded");
        assert_eq!(
            (
                extra.dropped_attributes_count,
                extra.dropped_events_count,
                extra.dropped_links_count
            ),
            (3, 3, 2)
        );
        assert!(
            batch.spans[1].extra.is_none(),
            "an untouched span stays as it was"
        );
    }
}
