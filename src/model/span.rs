use std::sync::{Arc, Mutex};

use super::{AnyValue, KeyValue, SpanId, Sym, TraceId, find_attr};

/// OTLP span kind. `Unspecified` is treated like `Internal` by the analyses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_otlp(v: i32) -> Self {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_otlp(v: i32) -> Self {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub code: StatusCode,
    pub message: Option<Box<str>>,
}

/// What produced a group of spans: shared by every span of one `ResourceSpans`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `service.name`, or `unknown_service` when absent.
    pub service: Sym,
    pub attributes: Box<[KeyValue]>,
    pub dropped_attributes_count: u32,
    pub schema_url: Option<Box<str>>,
}

impl Resource {
    pub fn new(attributes: Vec<KeyValue>) -> Self {
        let service = find_attr(&attributes, super::SERVICE_NAME)
            .and_then(AnyValue::as_str)
            .filter(|s| !s.is_empty())
            .map(Sym::new)
            .unwrap_or_else(|| Sym::new(super::UNKNOWN_SERVICE));
        Resource {
            service,
            attributes: attributes.into_boxed_slice(),
            dropped_attributes_count: 0,
            schema_url: None,
        }
    }

    pub fn attr(&self, key: &str) -> Option<&AnyValue> {
        find_attr(&self.attributes, key)
    }
}

/// The instrumentation scope (library) that made a span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    pub name: Box<str>,
    pub version: Option<Box<str>>,
    pub attributes: Box<[KeyValue]>,
    pub dropped_attributes_count: u32,
    pub schema_url: Option<Box<str>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time_ns: u64,
    pub name: Box<str>,
    pub attributes: Box<[KeyValue]>,
    pub dropped_attributes_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub attributes: Box<[KeyValue]>,
    pub trace_state: Option<Box<str>>,
    pub flags: u32,
    pub dropped_attributes_count: u32,
}

impl Link {
    /// A link to a span with nothing else said about it.
    pub fn new(trace_id: TraceId, span_id: SpanId) -> Self {
        Link {
            trace_id,
            span_id,
            attributes: Box::default(),
            trace_state: None,
            flags: 0,
            dropped_attributes_count: 0,
        }
    }
}

/// Fields almost every span leaves empty, kept out of line so `Span` stays small.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanExtra {
    pub trace_state: Option<Box<str>>,
    pub dropped_attributes_count: u32,
    pub dropped_events_count: u32,
    pub dropped_links_count: u32,
}

/// One span, as every source (OTLP, files, demo) delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: Sym,
    pub kind: SpanKind,
    /// OTLP `Span.flags`: W3C trace flags in bits 0-7, parent-is-remote in bits 8-9.
    pub flags: u32,
    pub start_ns: u64,
    pub end_ns: u64,
    pub status: Status,
    pub attributes: Box<[KeyValue]>,
    pub events: Box<[Event]>,
    pub links: Box<[Link]>,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub extra: Option<Box<SpanExtra>>,
}

impl Span {
    /// Duration in ns; a span that ends before it starts counts as zero-length.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    pub fn service(&self) -> Sym {
        self.resource.service
    }

    pub fn attr(&self, key: &str) -> Option<&AnyValue> {
        find_attr(&self.attributes, key)
    }

    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error
    }

    /// Bytes this span holds, for the store's memory budget. Resource and scope are shared
    /// between many spans and are not counted here: the store interns them by content and
    /// counts each distinct one once.
    pub fn memory_size(&self) -> usize {
        let attrs = |kv: &[KeyValue]| {
            std::mem::size_of_val(kv) + kv.iter().map(|k| k.value.heap_size()).sum::<usize>()
        };
        size_of::<Span>()
            + attrs(&self.attributes)
            + self.status.message.as_ref().map_or(0, |m| m.len())
            + self
                .events
                .iter()
                .map(|e| size_of::<Event>() + e.name.len() + attrs(&e.attributes))
                .sum::<usize>()
            + self
                .links
                .iter()
                .map(|l| size_of::<Link>() + attrs(&l.attributes))
                .sum::<usize>()
            + self.extra.as_ref().map_or(0, |x| {
                size_of::<SpanExtra>() + x.trace_state.as_ref().map_or(0, |t| t.len())
            })
    }
}

/// A log record that names its span (OTLP logs carrying trace and span ids): kept with its
/// trace so the span's detail can show it, as a span event would be.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanLog {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub time_ns: u64,
    /// The severity text, or the name of the severity number when the text is empty.
    pub severity: Box<str>,
    pub body: Box<str>,
}

impl SpanLog {
    /// Bytes held, for the store's memory budget.
    pub fn memory_size(&self) -> usize {
        size_of::<SpanLog>() + self.severity.len() + self.body.len()
    }
}

/// What every source produces: spans in arrival order, any number of traces mixed, and the
/// log records that name a span.
#[derive(Debug, Default)]
pub struct Batch {
    pub spans: Vec<Span>,
    pub logs: Vec<SpanLog>,
}

impl Batch {
    pub fn new(spans: Vec<Span>) -> Self {
        Batch {
            spans,
            logs: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// An empty span vector with room for `capacity`, reused from an earlier batch when one
    /// was given back (`recycle`). A batch of a thousand spans is one allocation of about
    /// 170 KiB, which the allocator returns to the kernel soon after it is freed: decoding
    /// every batch into fresh memory cost a page fault per 4 KiB, the bulk of a file replay's.
    pub fn span_vec(capacity: usize) -> Vec<Span> {
        let reused = RECYCLED.lock().ok().and_then(|mut pool| pool.pop());
        let mut v = reused.unwrap_or_default();
        v.reserve(capacity);
        v
    }

    /// Gives a span vector, emptied, back for the next batch (see `span_vec`). At most a few
    /// of moderate size are kept: about what is decoded and not yet stored at once.
    pub fn recycle(mut spans: Vec<Span>) {
        spans.clear();
        if spans.capacity() == 0 || spans.capacity() > RECYCLED_MAX_SPANS {
            return;
        }
        if let Ok(mut pool) = RECYCLED.lock()
            && pool.len() < RECYCLED_VECS
        {
            pool.push(spans);
        }
    }
}

/// The recycled span vectors: at most `RECYCLED_VECS` of up to `RECYCLED_MAX_SPANS` each,
/// about 3 MiB in all.
static RECYCLED: Mutex<Vec<Vec<Span>>> = Mutex::new(Vec::new());
const RECYCLED_VECS: usize = 4;
const RECYCLED_MAX_SPANS: usize = 4096;
