//! OTLP protobuf types <-> the span model. The only module that names `opentelemetry_proto`
//! trace types besides the wire adapters in `ingest`.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::resource::v1 as pr;
use opentelemetry_proto::tonic::trace::v1 as pt;

use crate::model::{
    AnyValue, Batch, Event, KeyValue, Link, Resource, Scope, Span, SpanExtra, SpanId, SpanKind,
    Status, StatusCode, Sym, TraceId,
};

use super::MAX_VALUE_DEPTH;

/// The result of converting one request: the good spans, and what was wrong with the rest.
#[derive(Debug, Default)]
pub struct Converted {
    pub batch: Batch,
    pub rejected: u64,
    /// The first few problems, for the OTLP partial-success `error_message` and logs.
    pub errors: Vec<String>,
}

const MAX_ERRORS_KEPT: usize = 5;

impl Converted {
    pub(crate) fn reject(&mut self, what: String) {
        self.rejected += 1;
        if self.errors.len() < MAX_ERRORS_KEPT {
            self.errors.push(what);
        }
    }

    /// One message summing up the rejected spans, as OTLP partial success wants it.
    pub fn error_message(&self) -> String {
        if self.rejected == 0 {
            return String::new();
        }
        let mut msg = format!(
            "rejected {} invalid span(s): {}",
            self.rejected,
            self.errors.join("; ")
        );
        if self.rejected as usize > self.errors.len() {
            msg.push_str("; ...");
        }
        msg
    }
}

/// Converts a whole request. Spans with invalid ids are skipped and counted, never failing
/// the rest of the request.
pub fn request_to_batch(req: ExportTraceServiceRequest) -> Converted {
    let mut out = Converted::default();
    let n: usize = req
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len())
        .sum();
    out.batch.spans.reserve(n);
    for rs in req.resource_spans {
        let resource = Arc::new(resource_from_proto(rs.resource, rs.schema_url));
        for ss in rs.scope_spans {
            let scope = Arc::new(scope_from_proto(ss.scope, ss.schema_url));
            for span in ss.spans {
                match span_from_proto(span, &resource, &scope) {
                    Ok(s) => out.batch.spans.push(s),
                    Err(e) => out.reject(e),
                }
            }
        }
    }
    out
}

fn non_empty(s: String) -> Option<Box<str>> {
    (!s.is_empty()).then(|| s.into_boxed_str())
}

pub fn resource_from_proto(r: Option<pr::Resource>, schema_url: String) -> Resource {
    let (attrs, dropped) = match r {
        Some(r) => (r.attributes, r.dropped_attributes_count),
        None => (Vec::new(), 0),
    };
    let mut res = Resource::new(attrs_from_proto(attrs));
    res.dropped_attributes_count = dropped;
    res.schema_url = non_empty(schema_url);
    res
}

pub fn scope_from_proto(s: Option<pc::InstrumentationScope>, schema_url: String) -> Scope {
    let s = s.unwrap_or_default();
    Scope {
        name: s.name.into_boxed_str(),
        version: non_empty(s.version),
        attributes: attrs_from_proto(s.attributes).into_boxed_slice(),
        dropped_attributes_count: s.dropped_attributes_count,
        schema_url: non_empty(schema_url),
    }
}

fn span_from_proto(
    s: pt::Span,
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
) -> Result<Span, String> {
    let trace_id =
        TraceId::from_bytes(&s.trace_id).map_err(|e| format!("span {:?}: trace_id {e}", s.name))?;
    let span_id =
        SpanId::from_bytes(&s.span_id).map_err(|e| format!("span {:?}: span_id {e}", s.name))?;
    // An empty or all-zero parent means "root"; any other length is a broken span.
    let parent_span_id = match s.parent_span_id.len() {
        0 => None,
        _ if s.parent_span_id.iter().all(|b| *b == 0) => None,
        _ => Some(
            SpanId::from_bytes(&s.parent_span_id)
                .map_err(|e| format!("span {:?}: parent_span_id {e}", s.name))?,
        ),
    };
    let mut links = Vec::with_capacity(s.links.len());
    for l in s.links {
        // A link to an invalid context carries nothing to follow; drop the link, keep the span.
        if let (Ok(trace_id), Ok(span_id)) = (
            TraceId::from_bytes(&l.trace_id),
            SpanId::from_bytes(&l.span_id),
        ) {
            links.push(Link {
                trace_id,
                span_id,
                attributes: attrs_from_proto(l.attributes).into_boxed_slice(),
                trace_state: non_empty(l.trace_state),
                flags: l.flags,
                dropped_attributes_count: l.dropped_attributes_count,
            });
        }
    }
    let extra = (!s.trace_state.is_empty()
        || s.dropped_attributes_count != 0
        || s.dropped_events_count != 0
        || s.dropped_links_count != 0)
        .then(|| {
            Box::new(SpanExtra {
                trace_state: non_empty(s.trace_state),
                dropped_attributes_count: s.dropped_attributes_count,
                dropped_events_count: s.dropped_events_count,
                dropped_links_count: s.dropped_links_count,
            })
        });
    let status = s.status.map_or_else(Status::default, |st| Status {
        code: StatusCode::from_otlp(st.code),
        message: non_empty(st.message),
    });
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: Sym::new(&s.name),
        kind: SpanKind::from_otlp(s.kind),
        flags: s.flags,
        start_ns: s.start_time_unix_nano,
        end_ns: s.end_time_unix_nano,
        status,
        attributes: attrs_from_proto(s.attributes).into_boxed_slice(),
        events: s
            .events
            .into_iter()
            .map(|e| Event {
                time_ns: e.time_unix_nano,
                name: e.name.into_boxed_str(),
                attributes: attrs_from_proto(e.attributes).into_boxed_slice(),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        links: links.into_boxed_slice(),
        resource: Arc::clone(resource),
        scope: Arc::clone(scope),
        extra,
    })
}

pub fn attrs_from_proto(attrs: Vec<pc::KeyValue>) -> Vec<KeyValue> {
    attrs_at_depth(attrs, 0)
}

fn attrs_at_depth(attrs: Vec<pc::KeyValue>, depth: usize) -> Vec<KeyValue> {
    attrs
        .into_iter()
        .map(|kv| KeyValue {
            key: Sym::new(&kv.key),
            value: kv
                .value
                .map_or(AnyValue::Empty, |v| value_from_proto(v, depth)),
        })
        .collect()
}

/// One OTLP value in the model (a log body, for instance).
pub fn any_value_from_proto(v: pc::AnyValue) -> AnyValue {
    value_from_proto(v, 0)
}

fn value_from_proto(v: pc::AnyValue, depth: usize) -> AnyValue {
    use pc::any_value::Value;
    if depth >= MAX_VALUE_DEPTH {
        return AnyValue::Empty;
    }
    match v.value {
        None => AnyValue::Empty,
        Some(Value::StringValue(s)) => AnyValue::string(s),
        Some(Value::BoolValue(b)) => AnyValue::Bool(b),
        Some(Value::IntValue(i)) => AnyValue::Int(i),
        Some(Value::DoubleValue(d)) => AnyValue::Double(d),
        Some(Value::BytesValue(b)) => AnyValue::Bytes(b.into_boxed_slice()),
        Some(Value::ArrayValue(a)) => AnyValue::Array(
            a.values
                .into_iter()
                .map(|v| value_from_proto(v, depth + 1))
                .collect(),
        ),
        Some(Value::KvlistValue(kv)) => {
            AnyValue::KvList(attrs_at_depth(kv.values, depth + 1).into_boxed_slice())
        }
        // Newer OTLP versions add value kinds (string table references); older writers never
        // send them, and we keep the attribute rather than fail the span.
        #[allow(unreachable_patterns)]
        Some(_) => AnyValue::Empty,
    }
}

// === model -> OTLP, for recording and `convert` ===

fn opt_string(s: &Option<Box<str>>) -> String {
    s.as_deref().unwrap_or_default().to_owned()
}

pub fn attrs_to_proto(attrs: &[KeyValue]) -> Vec<pc::KeyValue> {
    attrs
        .iter()
        .map(|kv| pc::KeyValue {
            key: kv.key.as_str().to_owned(),
            value: Some(value_to_proto(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn value_to_proto(v: &AnyValue) -> pc::AnyValue {
    use pc::any_value::Value;
    let value = match v {
        AnyValue::Str(s) => Some(Value::StringValue(s.to_string())),
        AnyValue::Bool(b) => Some(Value::BoolValue(*b)),
        AnyValue::Int(i) => Some(Value::IntValue(*i)),
        AnyValue::Double(d) => Some(Value::DoubleValue(*d)),
        AnyValue::Bytes(b) => Some(Value::BytesValue(b.to_vec())),
        AnyValue::Array(a) => Some(Value::ArrayValue(pc::ArrayValue {
            values: a.iter().map(value_to_proto).collect(),
        })),
        AnyValue::KvList(kv) => Some(Value::KvlistValue(pc::KeyValueList {
            values: attrs_to_proto(kv),
        })),
        AnyValue::Empty => None,
    };
    pc::AnyValue { value }
}

pub fn span_to_proto(s: &Span) -> pt::Span {
    let extra = s.extra.as_deref();
    pt::Span {
        trace_id: s.trace_id.to_bytes().to_vec(),
        span_id: s.span_id.to_bytes().to_vec(),
        trace_state: extra
            .map(|x| opt_string(&x.trace_state))
            .unwrap_or_default(),
        parent_span_id: s
            .parent_span_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        flags: s.flags,
        name: s.name.as_str().to_owned(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.end_ns,
        attributes: attrs_to_proto(&s.attributes),
        dropped_attributes_count: extra.map_or(0, |x| x.dropped_attributes_count),
        events: s
            .events
            .iter()
            .map(|e| pt::span::Event {
                time_unix_nano: e.time_ns,
                name: e.name.to_string(),
                attributes: attrs_to_proto(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: extra.map_or(0, |x| x.dropped_events_count),
        links: s
            .links
            .iter()
            .map(|l| pt::span::Link {
                trace_id: l.trace_id.to_bytes().to_vec(),
                span_id: l.span_id.to_bytes().to_vec(),
                trace_state: opt_string(&l.trace_state),
                attributes: attrs_to_proto(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: extra.map_or(0, |x| x.dropped_links_count),
        status: (s.status.code != StatusCode::Unset || s.status.message.is_some()).then(|| {
            pt::Status {
                message: opt_string(&s.status.message),
                code: s.status.code as i32,
            }
        }),
    }
}

/// Groups spans back into resource and scope blocks (spans sharing an `Arc` share a block),
/// keeping their order.
pub fn spans_to_request<'a>(
    spans: impl IntoIterator<Item = &'a Span>,
) -> ExportTraceServiceRequest {
    let mut out: Vec<pt::ResourceSpans> = Vec::new();
    let mut last_res: Option<*const Resource> = None;
    let mut last_scope: Option<*const Scope> = None;
    for s in spans {
        let res_ptr = Arc::as_ptr(&s.resource);
        let scope_ptr = Arc::as_ptr(&s.scope);
        if last_res != Some(res_ptr) {
            let r = &s.resource;
            out.push(pt::ResourceSpans {
                resource: Some(pr::Resource {
                    attributes: attrs_to_proto(&r.attributes),
                    dropped_attributes_count: r.dropped_attributes_count,
                    entity_refs: Vec::new(),
                }),
                scope_spans: Vec::new(),
                schema_url: opt_string(&r.schema_url),
            });
            last_res = Some(res_ptr);
            last_scope = None;
        }
        let Some(rs) = out.last_mut() else { continue };
        if last_scope != Some(scope_ptr) {
            let sc = &s.scope;
            rs.scope_spans.push(pt::ScopeSpans {
                scope: Some(pc::InstrumentationScope {
                    name: sc.name.to_string(),
                    version: opt_string(&sc.version),
                    attributes: attrs_to_proto(&sc.attributes),
                    dropped_attributes_count: sc.dropped_attributes_count,
                }),
                spans: Vec::new(),
                schema_url: opt_string(&sc.schema_url),
            });
            last_scope = Some(scope_ptr);
        }
        if let Some(ss) = rs.scope_spans.last_mut() {
            ss.spans.push(span_to_proto(s));
        }
    }
    ExportTraceServiceRequest {
        resource_spans: out,
    }
}
