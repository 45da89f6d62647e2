//! Zipkin v2 JSON: an array of spans, times in microseconds, 64- or 128-bit trace ids.
//!
//! In B3 "shared span" instrumentation a SERVER span reuses the id of the CLIENT span that
//! called it (`"shared": true`). The model wants one id per span, so the server half gets a
//! distinct id derived deterministically from the shared one, with the client as its parent;
//! spans of the server's own service that name the shared id as parent are re-parented onto
//! the server half, as Zipkin's own tree builder does.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::Decoded;
use crate::ingest::otlp_json::{array, string, take, u64_of};
use crate::model::{
    AnyValue, Event, KeyValue, Resource, SERVICE_NAME, Scope, Span, SpanId, SpanKind, Status,
    StatusCode, Sym, TraceId,
};

/// A Zipkin span object: lower-case `traceId` and `id` (Jaeger spells them `traceID`, `spanID`).
pub(super) fn looks_like(v: &Value) -> bool {
    let Value::Object(o) = v else { return false };
    o.contains_key("traceId") && o.contains_key("id")
}

/// The id the server half of a shared span gets: a splitmix64 mix of the shared id, never
/// zero and never the id itself.
pub fn shared_server_id(shared: SpanId) -> SpanId {
    let mut z = shared.as_u64().wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if z == 0 || z == shared.as_u64() {
        z = z.wrapping_add(1).max(1);
    }
    SpanId::from_u64(z).unwrap_or(shared)
}

pub(super) fn decode(doc: Value) -> Decoded {
    let mut d = Decoded::default();
    let Value::Array(items) = doc else {
        d.reject("Zipkin JSON must be an array of spans".to_owned());
        return d;
    };
    let mut resources: FxHashMap<String, Arc<Resource>> = FxHashMap::default();
    let scope = Arc::new(Scope::default());
    // (trace, shared id) -> (id of the server half, the server's service)
    let mut shared: FxHashMap<(TraceId, SpanId), (SpanId, Sym)> = FxHashMap::default();
    let first = d.spans.len();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(o) = item else {
            d.reject(format!("span #{i}: not a JSON object"));
            continue;
        };
        match span(o, &mut resources, &scope) {
            Ok((mut s, is_shared_server)) => {
                if is_shared_server {
                    let server_id = shared_server_id(s.span_id);
                    shared.insert((s.trace_id, s.span_id), (server_id, s.service()));
                    s.parent_span_id = Some(s.span_id);
                    s.span_id = server_id;
                }
                d.spans.push(s);
            }
            Err(e) => d.reject(format!("span #{i}: {e}")),
        }
    }
    if !shared.is_empty() {
        for s in &mut d.spans[first..] {
            let Some(p) = s.parent_span_id else { continue };
            if let Some(&(server_id, service)) = shared.get(&(s.trace_id, p))
                && service == s.service()
                && server_id != s.span_id
            {
                s.parent_span_id = Some(server_id);
            }
        }
    }
    d
}

fn span(
    mut o: Map<String, Value>,
    resources: &mut FxHashMap<String, Arc<Resource>>,
    scope: &Arc<Scope>,
) -> Result<(Span, bool), String> {
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
    let is_shared = matches!(o.get("shared"), Some(Value::Bool(true)));

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
    Ok((span, is_shared && kind != SpanKind::Client))
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
    fn shared_server_ids_are_stable_and_distinct() {
        let ids = [1u64, 2, 0xecc0_0062_ceef_4bf0, u64::MAX];
        let derived: Vec<SpanId> = ids
            .iter()
            .map(|&i| shared_server_id(SpanId::from_u64(i).expect("non-zero")))
            .collect();
        for (i, d) in ids.iter().zip(&derived) {
            assert_ne!(d.as_u64(), *i);
        }
        let mut unique = derived.clone();
        unique.dedup();
        assert_eq!(unique.len(), derived.len());
        // Fixed by the algorithm: a recording made today must re-read to the same ids later.
        assert_eq!(
            shared_server_id(SpanId::from_u64(1).expect("non-zero")),
            shared_server_id(SpanId::from_u64(1).expect("non-zero"))
        );
    }

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
