//! Zipkin v2 JSON: an array of spans, times in microseconds, 64- or 128-bit trace ids.
//!
//! Spans are read as written; shared client/server ids (B3, with or without `"shared": true`),
//! spans sent in parts and spans without a timestamp are repaired per file in `repair`.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::Decoded;
use crate::ingest::otlp::json::{array, string, take, u64_of};
use crate::model::{
    AnyValue, Event, KeyValue, Resource, SERVICE_NAME, Scope, Span, SpanId, SpanKind, Status,
    StatusCode, Sym, TraceId,
};

/// A Zipkin span object: lower-case `traceId` and `id` (Jaeger spells them `traceID`, `spanID`).
pub(super) fn looks_like(v: &Value) -> bool {
    let Value::Object(o) = v else { return false };
    o.contains_key("traceId") && o.contains_key("id")
}

pub(super) fn decode(doc: Value) -> Decoded {
    let mut d = Decoded::default();
    let Value::Array(items) = doc else {
        d.reject("Zipkin JSON must be an array of spans".to_owned());
        return d;
    };
    let mut resources: FxHashMap<String, Arc<Resource>> = FxHashMap::default();
    let scope = Arc::new(Scope::default());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(o) = item else {
            d.reject(format!("span #{i}: not a JSON object"));
            continue;
        };
        match span(o, &mut resources, &scope) {
            Ok(s) => d.spans.push(s),
            Err(e) => d.reject(format!("span #{i}: {e}")),
        }
    }
    d
}

fn span(
    mut o: Map<String, Value>,
    resources: &mut FxHashMap<String, Arc<Resource>>,
    scope: &Arc<Scope>,
) -> Result<Span, String> {
    let trace_id =
        TraceId::from_hex(&string(o.remove("traceId"))).map_err(|e| format!("traceId {e}"))?;
    let span_id = SpanId::from_hex(&string(o.remove("id"))).map_err(|e| format!("id {e}"))?;
    // Some writers set the parent of a root to the trace id or to zeros; both mean "none".
    let parent_span_id = match take(&mut o, "parentId", "parent_id").map(|v| string(Some(v))) {
        None => None,
        Some(p) if p.trim().is_empty() => None,
        Some(p) => match SpanId::from_hex(&p) {
            Ok(id) => Some(id),
            Err(crate::model::IdError::Zero) => None,
            Err(e) => return Err(format!("parentId {e}")),
        },
    };
    let kind = match string(o.remove("kind")).to_ascii_uppercase().as_str() {
        "SERVER" => SpanKind::Server,
        "CLIENT" => SpanKind::Client,
        "PRODUCER" => SpanKind::Producer,
        "CONSUMER" => SpanKind::Consumer,
        // No kind: a local span.
        _ => SpanKind::Internal,
    };

    let mut attributes = Vec::new();
    let local = match o.remove("localEndpoint") {
        Some(Value::Object(mut ep)) => {
            endpoint_attrs(&mut ep, LOCAL, &mut attributes);
            string(ep.remove("serviceName"))
        }
        _ => String::new(),
    };
    if let Some(Value::Object(mut ep)) = o.remove("remoteEndpoint") {
        let remote = string(ep.remove("serviceName"));
        if !remote.is_empty() {
            attributes.push(KeyValue::new("peer.service", AnyValue::Str(remote.into())));
        }
        endpoint_attrs(&mut ep, PEER, &mut attributes);
    }
    let resource = Arc::clone(resources.entry(local).or_insert_with_key(|service| {
        let attrs = if service.is_empty() {
            Vec::new()
        } else {
            vec![KeyValue::new(
                SERVICE_NAME,
                AnyValue::Str(service.as_str().into()),
            )]
        };
        Arc::new(Resource::new(attrs))
    }));

    let mut status = Status::default();
    if let Some(Value::Object(tags)) = o.remove("tags") {
        for (k, v) in tags {
            let v = string(Some(v));
            match k.as_str() {
                // Zipkin marks failure by the presence of `error`; its value is the message.
                "error" => {
                    status.code = StatusCode::Error;
                    status.message = (!v.is_empty()).then(|| v.into_boxed_str());
                }
                "otel.status_code" if v.eq_ignore_ascii_case("ERROR") => {
                    status.code = StatusCode::Error
                }
                "otel.status_code"
                    if v.eq_ignore_ascii_case("OK") && status.code != StatusCode::Error =>
                {
                    status.code = StatusCode::Ok
                }
                _ => attributes.push(KeyValue::new(&k, AnyValue::string(v))),
            }
        }
    }
    let events = array(o.remove("annotations"))
        .filter_map(|a| {
            let Value::Object(mut a) = a else { return None };
            Some(Event {
                time_ns: u64_of(a.get("timestamp")).unwrap_or(0).saturating_mul(1000),
                name: string(a.remove("value")).into_boxed_str(),
                attributes: Box::default(),
                dropped_attributes_count: 0,
            })
        })
        .collect();
    let start_ns = u64_of(o.get("timestamp")).unwrap_or(0).saturating_mul(1000);
    let duration_ns = u64_of(o.get("duration")).unwrap_or(0).saturating_mul(1000);
    let span = Span {
        trace_id,
        span_id,
        parent_span_id,
        name: Sym::new(&string(o.remove("name"))),
        kind,
        flags: 0,
        start_ns,
        end_ns: start_ns.saturating_add(duration_ns),
        status,
        attributes: attributes.into_boxed_slice(),
        events,
        links: Box::default(),
        resource,
        scope: Arc::clone(scope),
        extra: None,
    };
    Ok(span)
}

const LOCAL: [&str; 2] = ["network.local.address", "network.local.port"];
const PEER: [&str; 2] = ["network.peer.address", "network.peer.port"];

fn endpoint_attrs(
    ep: &mut Map<String, Value>,
    [addr_key, port_key]: [&str; 2],
    out: &mut Vec<KeyValue>,
) {
    let addr = take(ep, "ipv4", "ipv4").or_else(|| take(ep, "ipv6", "ipv6"));
    if let Some(Value::String(a)) = addr {
        out.push(KeyValue::new(addr_key, AnyValue::string(a)));
    }
    if let Some(port) = u64_of(ep.get("port")).and_then(|p| i64::try_from(p).ok()) {
        out.push(KeyValue::new(port_key, AnyValue::Int(port)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_tag_and_endpoints() {
        let d = decode(serde_json::json!([{
            "traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312",
            "kind": "CLIENT", "name": "get", "timestamp": 1_000_000u64, "duration": 250u64,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
            "remoteEndpoint": {"serviceName": "backend", "port": 8080},
            "tags": {"error": "connection refused", "http.method": "GET"},
            "annotations": [{"timestamp": 1_000_100u64, "value": "ws"}]
        }]));
        let s = &d.spans[0];
        assert_eq!((s.start_ns, s.end_ns), (1_000_000_000, 1_000_250_000));
        assert_eq!(s.status.code, StatusCode::Error);
        assert_eq!(s.status.message.as_deref(), Some("connection refused"));
        assert_eq!(s.service().as_str(), "frontend");
        assert_eq!(
            s.attr("peer.service").and_then(AnyValue::as_str),
            Some("backend")
        );
        assert_eq!(
            s.attr("network.peer.port").and_then(AnyValue::as_i64),
            Some(8080)
        );
        assert!(s.attr("error").is_none());
        assert_eq!(
            (s.events[0].time_ns, &*s.events[0].name),
            (1_000_100_000, "ws")
        );
    }
}
