//! The span model -> OTLP protobuf types, for the exporter, the recorder and `convert`: the
//! inverse of `ingest::otlp::convert`, which reads them.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::resource::v1 as pr;
use opentelemetry_proto::tonic::trace::v1 as pt;

use crate::model::{AnyValue, KeyValue, Resource, Scope, Span, StatusCode};

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
