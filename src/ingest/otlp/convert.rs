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

use crate::ingest::MAX_VALUE_DEPTH;

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
