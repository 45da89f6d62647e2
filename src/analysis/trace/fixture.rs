//! Hand-built traces for unit tests: times in milliseconds from a fixed base, services and
//! resources by name, ids assigned in order unless given.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode,
    Sym, TraceId,
};
use crate::store::Trace;

/// 2023-11-14T22:13:20Z: far from zero, so no time is mistaken for "absent".
pub const BASE_NS: u64 = 1_700_000_000_000_000_000;
pub const MS: u64 = 1_000_000;

pub fn ms(v: u64) -> u64 {
    BASE_NS + v * MS
}

pub struct TraceBuilder {
    trace_id: TraceId,
    spans: Vec<Span>,
    resources: FxHashMap<String, Arc<Resource>>,
    next_id: u64,
}

impl Default for TraceBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceBuilder {
    pub fn new() -> Self {
        Self::with_trace_id(1)
    }

    pub fn with_trace_id(id: u128) -> Self {
        TraceBuilder {
            trace_id: TraceId::from_u128(id).expect("non-zero test trace id"),
            spans: Vec::new(),
            resources: FxHashMap::default(),
            next_id: 0x1000,
        }
    }

    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    pub fn span(&mut self, service: &str, name: &str) -> SpanDraft<'_> {
        self.next_id += 1;
        SpanDraft {
            id: self.next_id,
            service: service.to_owned(),
            name: name.to_owned(),
            kind: SpanKind::Internal,
            start: 0,
            end: 0,
            parent: None,
            attrs: Vec::new(),
            res_attrs: Vec::new(),
            error: false,
            message: None,
            events: Vec::new(),
            links: Vec::new(),
            flags: 0x100,
            b: self,
        }
    }

    pub fn build(self) -> Trace {
        Trace::from_spans(self.trace_id, self.spans)
    }

    fn resource(&mut self, service: &str, attrs: &[(String, AnyValue)]) -> Arc<Resource> {
        let key = format!("{service}|{attrs:?}");
        Arc::clone(self.resources.entry(key).or_insert_with(|| {
            let mut kv = vec![KeyValue::new(
                crate::model::SERVICE_NAME,
                AnyValue::Str(service.into()),
            )];
            kv.extend(attrs.iter().map(|(k, v)| KeyValue::new(k, v.clone())));
            Arc::new(Resource::new(kv))
        }))
    }
}

pub struct SpanDraft<'b> {
    b: &'b mut TraceBuilder,
    id: u64,
    service: String,
    name: String,
    kind: SpanKind,
    start: u64,
    end: u64,
    parent: Option<u64>,
    attrs: Vec<(String, AnyValue)>,
    res_attrs: Vec<(String, AnyValue)>,
    error: bool,
    message: Option<String>,
    events: Vec<Event>,
    links: Vec<(TraceId, SpanId)>,
    flags: u32,
}

impl SpanDraft<'_> {
    pub fn kind(mut self, k: SpanKind) -> Self {
        self.kind = k;
        self
    }
    /// Start and end in ms from the base.
    pub fn at(mut self, start: u64, end: u64) -> Self {
        self.start = ms(start);
        self.end = ms(end);
        self
    }
    /// Start and end in ns, absolute (0 = no timestamp).
    pub fn at_ns(mut self, start: u64, end: u64) -> Self {
        self.start = start;
        self.end = end;
        self
    }
    pub fn parent(mut self, p: SpanId) -> Self {
        self.parent = Some(p.as_u64());
        self
    }
    pub fn parent_id(mut self, p: u64) -> Self {
        self.parent = Some(p);
        self
    }
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = id;
        self
    }
    pub fn attr(mut self, k: &str, v: AnyValue) -> Self {
        self.attrs.push((k.to_owned(), v));
        self
    }
    pub fn str_attr(self, k: &str, v: &str) -> Self {
        self.attr(k, AnyValue::Str(v.into()))
    }
    pub fn int_attr(self, k: &str, v: i64) -> Self {
        self.attr(k, AnyValue::Int(v))
    }
    pub fn res(mut self, k: &str, v: &str) -> Self {
        self.res_attrs.push((k.to_owned(), AnyValue::Str(v.into())));
        self
    }
    pub fn error(mut self) -> Self {
        self.error = true;
        self
    }
    /// ERROR status with this message.
    pub fn error_message(mut self, m: &str) -> Self {
        self.error = true;
        self.message = Some(m.to_owned());
        self
    }
    /// An event at the span's start with string attributes.
    pub fn event(mut self, name: &str, attrs: &[(&str, &str)]) -> Self {
        self.events.push(Event {
            time_ns: self.start,
            name: name.into(),
            attributes: attrs
                .iter()
                .map(|&(k, v)| KeyValue::new(k, AnyValue::Str(v.into())))
                .collect(),
            dropped_attributes_count: 0,
        });
        self
    }
    pub fn link(mut self, trace: TraceId, span: SpanId) -> Self {
        self.links.push((trace, span));
        self
    }
    pub fn flags(mut self, f: u32) -> Self {
        self.flags = f;
        self
    }

    /// Adds the span to the trace and returns its id.
    pub fn id(self) -> SpanId {
        let resource = self.b.resource(&self.service, &self.res_attrs);
        let span_id = SpanId::from_u64(self.id).expect("non-zero test span id");
        let span = Span {
            trace_id: self.b.trace_id,
            span_id,
            parent_span_id: self.parent.and_then(SpanId::from_u64),
            name: Sym::new(&self.name),
            kind: self.kind,
            flags: self.flags,
            start_ns: self.start,
            end_ns: self.end,
            status: Status {
                code: if self.error {
                    StatusCode::Error
                } else {
                    StatusCode::Unset
                },
                message: self.message.map(String::into_boxed_str),
            },
            attributes: self
                .attrs
                .iter()
                .map(|(k, v)| KeyValue::new(k, v.clone()))
                .collect(),
            events: self.events.into_boxed_slice(),
            links: self
                .links
                .iter()
                .map(|&(trace_id, span_id)| Link::new(trace_id, span_id))
                .collect(),
            resource,
            scope: Arc::new(Scope::default()),
            extra: None,
        };
        self.b.spans.push(span);
        span_id
    }
}

/// Trace `id` of a three-span request (gw server -> gw client -> svc server) whose duration
/// varies with the id: the shape the merge tests spread over engines.
pub fn gateway_call(id: u128) -> Trace {
    let mut b = TraceBuilder::with_trace_id(id);
    let ms = (id % 97) as u64 + 1;
    let r = b
        .span("gw", "GET /")
        .kind(SpanKind::Server)
        .at(0, 10 * ms)
        .id();
    let c = b
        .span("gw", "call")
        .kind(SpanKind::Client)
        .at(1, 9 * ms)
        .parent(r)
        .id();
    b.span("svc", "serve")
        .kind(SpanKind::Server)
        .at(2, 8 * ms)
        .parent(c)
        .id();
    b.build()
}
