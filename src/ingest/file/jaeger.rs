//! Jaeger JSON, as the query API, the UI and the anonymizer write it.
//!
//! Envelopes: `{"data":[trace,...]}` (API response), a bare trace `{traceID, spans, processes}`,
//! the UI's `{"data": trace, "id", "state"}`, and a bare array of spans each carrying an inline
//! `process`. Times are microseconds.
//!
//! Elasticsearch/OpenSearch storage keeps one document per span (inline `process`, a
//! `startTimeMillis` beside `startTime`); with `tags-as-fields` some or all tags live in a
//! `tag` map whose keys have `.` replaced by `@` (Jaeger's default replacement), on the span
//! and on the process, beside the `tags` array. Such documents come one per line (an export
//! or `elasticdump`), as a search response `{"hits": {"hits": [{"_source": span}]}}`, or as
//! single hits. The first same-trace `CHILD_OF` reference (else
//! `FOLLOWS_FROM`) is the parent, every other reference a link; `span.kind`, `error` and
//! `otel.status_*` tags become the kind and status, process tags the resource.

use std::sync::Arc;

use base64::Engine as _;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::Decoded;
use crate::ingest::otlp::json::{
    array, bool_of, decode_hex, f64_of, i64_of, string, take, u32_of, u64_of,
};
use crate::model::{
    AnyValue, Event, KeyValue, Link, Resource, SERVICE_NAME, Scope, Span, SpanId, SpanKind, Status,
    StatusCode, Sym, TraceId,
};

/// True for any of the Jaeger envelopes, or a single Jaeger span.
pub(super) fn looks_like(v: &Value) -> bool {
    let Value::Object(o) = v else { return false };
    o.contains_key("spanID")
        || (o.contains_key("traceID") && o.contains_key("spans"))
        || matches!(o.get("data"), Some(Value::Array(_) | Value::Object(_)))
        || matches!(o.get("_source"), Some(Value::Object(s)) if s.contains_key("spanID"))
        || matches!(o.get("hits"), Some(Value::Object(h)) if h.contains_key("hits"))
}

pub(super) fn decode(doc: Value) -> Decoded {
    let mut d = Decoded::default();
    match doc {
        Value::Object(mut o) if o.contains_key("hits") || o.contains_key("_source") => {
            // A search response (`hits.hits[]`) or one hit: the span is each hit's `_source`.
            let hits = match o.remove("hits") {
                Some(Value::Object(mut h)) => array(h.remove("hits")).collect(),
                _ => vec![Value::Object(o)],
            };
            let mut ctx = Ctx::default();
            for (i, hit) in hits.into_iter().enumerate() {
                match hit {
                    Value::Object(mut h) => match h.remove("_source") {
                        Some(Value::Object(s)) => ctx.span(s, i, &mut d),
                        _ => d.reject(format!("hit #{i}: no _source span")),
                    },
                    _ => d.reject(format!("hit #{i}: not a JSON object")),
                }
            }
        }
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Array(traces)) => {
                for t in traces {
                    item(t, &mut d);
                }
            }
            Some(Value::Object(t)) => trace(t, &mut d),
            _ => item(Value::Object(o), &mut d),
        },
        Value::Array(items) => {
            // Bare spans with inline processes share resources through one cache.
            let mut ctx = Ctx::default();
            for (i, it) in items.into_iter().enumerate() {
                match it {
                    Value::Object(o) if o.contains_key("spans") => trace(o, &mut d),
                    Value::Object(o) => ctx.span(o, i, &mut d),
                    _ => d.reject(format!("span #{i}: not a JSON object")),
                }
            }
        }
        _ => d.reject("not a Jaeger document".to_owned()),
    }
    d
}

fn item(v: Value, d: &mut Decoded) {
    match v {
        Value::Object(o) if o.contains_key("spans") => trace(o, d),
        Value::Object(o) => Ctx::default().span(o, 0, d),
        _ => d.reject("trace is not a JSON object".to_owned()),
    }
}

fn trace(mut t: Map<String, Value>, d: &mut Decoded) {
    let mut ctx = Ctx {
        trace_id: trace_id(&string(take(&mut t, "traceID", "traceId")), None).ok(),
        ..Ctx::default()
    };
    if let Some(Value::Object(procs)) = t.remove("processes") {
        for (id, p) in procs {
            if let Value::Object(p) = p {
                let res = process(p, false);
                ctx.processes.insert(id, res);
            }
        }
    }
    for (i, s) in array(t.remove("spans")).enumerate() {
        match s {
            Value::Object(s) => ctx.span(s, i, d),
            _ => d.reject(format!("span #{i}: not a JSON object")),
        }
    }
}

fn process(mut p: Map<String, Value>, hex_binary: bool) -> Arc<Resource> {
    let service = string(take(&mut p, "serviceName", "service_name"));
    let mut attrs = Vec::new();
    if !service.is_empty() {
        attrs.push(KeyValue::new(SERVICE_NAME, AnyValue::Str(service.into())));
    }
    attrs.extend(tags(&mut p, hex_binary));
    Arc::new(Resource::new(attrs))
}

/// The `tags` array, then the `tag` map of Elasticsearch storage (`@` stands for `.`).
fn tags(o: &mut Map<String, Value>, hex_binary: bool) -> impl Iterator<Item = KeyValue> + use<> {
    let map = match o.remove("tag") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    array(o.remove("tags"))
        .filter_map(move |t| tag(t, hex_binary))
        .chain(map.into_iter().map(|(k, v)| {
            let value = match v {
                Value::String(s) => AnyValue::string(s),
                Value::Bool(b) => AnyValue::Bool(b),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => AnyValue::Int(i),
                    None => AnyValue::Double(n.as_f64().unwrap_or(f64::NAN)),
                },
                _ => AnyValue::Empty,
            };
            KeyValue::new(&k.replace('@', "."), value)
        }))
}

#[derive(Default)]
struct Ctx {
    /// The enclosing trace's id, for spans and references that leave theirs out.
    trace_id: Option<TraceId>,
    processes: FxHashMap<String, Arc<Resource>>,
    /// Inline processes seen so far, compared by value so equal ones share one resource.
    inline: Vec<(Map<String, Value>, Arc<Resource>)>,
    scopes: Vec<Arc<Scope>>,
}

impl Ctx {
    fn resource(&mut self, s: &mut Map<String, Value>, hex_binary: bool) -> Arc<Resource> {
        if let Some(Value::Object(p)) = s.remove("process") {
            if let Some((_, r)) = self.inline.iter().find(|(k, _)| *k == p) {
                return Arc::clone(r);
            }
            let r = process(p.clone(), hex_binary);
            self.inline.push((p, Arc::clone(&r)));
            return r;
        }
        let pid = string(take(s, "processID", "processId"));
        match self.processes.get(&pid) {
            Some(r) => Arc::clone(r),
            None => {
                let r = Arc::new(Resource::new(Vec::new()));
                self.processes.insert(pid, Arc::clone(&r));
                r
            }
        }
    }

    fn scope(&mut self, name: Option<Box<str>>, version: Option<Box<str>>) -> Arc<Scope> {
        let name = name.unwrap_or_default();
        if let Some(s) = self
            .scopes
            .iter()
            .find(|s| s.name == name && s.version == version)
        {
            return Arc::clone(s);
        }
        let s = Arc::new(Scope {
            name,
            version,
            ..Scope::default()
        });
        self.scopes.push(Arc::clone(&s));
        s
    }

    fn span(&mut self, mut s: Map<String, Value>, i: usize, d: &mut Decoded) {
        let trace_hex = string(take(&mut s, "traceID", "traceId"));
        let span_hex = string(take(&mut s, "spanID", "spanId"));
        let trace_id = match trace_id(&trace_hex, self.trace_id) {
            Ok(t) => t,
            Err(e) => return d.reject(format!("span #{i} ({span_hex}): traceID {e}")),
        };
        let span_id = match span_id(&span_hex) {
            Ok(id) => id,
            Err(e) => return d.reject(format!("span #{i}: spanID {e}")),
        };
        // Elasticsearch documents carry `startTimeMillis`; their binary tags are hex.
        let es = s.contains_key("startTimeMillis");
        let resource = self.resource(&mut s, es);

        let mut parent = None;
        let mut follows = None;
        let mut links = Vec::new();
        for r in array(s.remove("references")) {
            let Value::Object(mut r) = r else { continue };
            let kind = string(take(&mut r, "refType", "ref_type"));
            let (Ok(t), Ok(sid)) = (
                self::trace_id(&string(take(&mut r, "traceID", "traceId")), Some(trace_id)),
                self::span_id(&string(take(&mut r, "spanID", "spanId"))),
            ) else {
                continue;
            };
            if t == trace_id && kind.eq_ignore_ascii_case("CHILD_OF") && parent.is_none() {
                parent = Some(sid);
            } else if t == trace_id && follows.is_none() {
                follows = Some(sid);
            } else {
                links.push(Link::new(t, sid));
            }
        }
        // Older Jaeger JSON carries the parent as a field instead of a reference.
        if parent.is_none()
            && let Ok(p) = self::span_id(&string(take(&mut s, "parentSpanID", "parentSpanId")))
        {
            parent = Some(p);
        }
        match (parent, follows) {
            (None, f) => parent = f,
            (Some(_), Some(f)) => links.insert(0, Link::new(trace_id, f)),
            (Some(_), None) => {}
        }

        let mut kind = SpanKind::Internal;
        let mut status = Status::default();
        let mut scope_name = None;
        let mut scope_version = None;
        let mut attributes = Vec::new();
        for kv in tags(&mut s, es) {
            match kv.key.as_str() {
                "span.kind" => kind = kind_of(&kv.value),
                "error" if kv.value.as_bool() == Some(true) => status.code = StatusCode::Error,
                "error" => {}
                "otel.status_code" => match kv.value.as_str() {
                    Some(c) if c.eq_ignore_ascii_case("ERROR") => status.code = StatusCode::Error,
                    Some(c) if c.eq_ignore_ascii_case("OK") => status.code = StatusCode::Ok,
                    _ => {}
                },
                "otel.status_description" => status.message = text(kv.value),
                "otel.scope.name" | "otel.library.name" => scope_name = text(kv.value),
                "otel.scope.version" | "otel.library.version" => scope_version = text(kv.value),
                _ => attributes.push(kv),
            }
        }
        let scope = self.scope(scope_name, scope_version);

        let start_us = u64_of(take(&mut s, "startTime", "start_time").as_ref())
            .or_else(|| u64_of(s.get("startTimeMillis")).map(|ms| ms.saturating_mul(1000)))
            .unwrap_or(0);
        let duration_us = u64_of(s.get("duration")).unwrap_or(0);
        let start_ns = start_us.saturating_mul(1000);
        let events = array(s.remove("logs")).filter_map(|l| log(l, es)).collect();
        d.spans.push(Span {
            trace_id,
            span_id,
            parent_span_id: parent,
            name: Sym::new(&string(take(&mut s, "operationName", "operation_name"))),
            kind,
            // Jaeger's bit 0 is "sampled", like W3C's; its debug bit has no OTLP counterpart.
            flags: u32_of(s.get("flags")) & 0x1,
            start_ns,
            end_ns: start_ns.saturating_add(duration_us.saturating_mul(1000)),
            status,
            attributes: attributes.into_boxed_slice(),
            events,
            links: links.into_boxed_slice(),
            resource,
            scope,
            extra: None,
        });
    }
}

/// Ids are hex; test fixtures and hand-written files use names ("trace-123", "span-C"), which
/// are hashed into ids so that references between them still resolve. A missing trace id is
/// the enclosing trace's.
fn trace_id(text: &str, enclosing: Option<TraceId>) -> Result<TraceId, String> {
    let text = text.trim();
    if text.is_empty() {
        return enclosing.ok_or_else(|| "missing".to_owned());
    }
    TraceId::from_hex(text).or_else(|e| {
        let v = u128::from(fnv1a(text, 0)) << 64 | u128::from(fnv1a(text, 1));
        TraceId::from_u128(v).ok_or_else(|| e.to_string())
    })
}

fn span_id(text: &str) -> Result<SpanId, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("missing".to_owned());
    }
    SpanId::from_hex(text)
        .or_else(|e| SpanId::from_u64(fnv1a(text, 0)).ok_or_else(|| e.to_string()))
}

/// FNV-1a, seeded: stable across runs and versions, unlike the std hashers.
fn fnv1a(text: &str, seed: u8) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for b in std::iter::once(seed).chain(text.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn log(v: Value, hex_binary: bool) -> Option<Event> {
    let Value::Object(mut l) = v else { return None };
    let time_ns = u64_of(l.get("timestamp")).unwrap_or(0).saturating_mul(1000);
    let mut name: Option<Box<str>> = None;
    let mut attributes = Vec::new();
    for kv in array(l.remove("fields")).filter_map(|t| tag(t, hex_binary)) {
        if kv.key.as_str() == "event" && name.is_none() {
            name = text(kv.value);
        } else {
            attributes.push(kv);
        }
    }
    Some(Event {
        time_ns,
        name: name.unwrap_or_else(|| "log".into()),
        attributes: attributes.into_boxed_slice(),
        dropped_attributes_count: 0,
    })
}

/// A `{key, type, value}` tag; the value is read by its declared type, whatever JSON type
/// carries it (the anonymizer writes booleans as strings). Binary values are base64 in the
/// query API's JSON and hex in Elasticsearch documents (`hex_binary`).
fn tag(v: Value, hex_binary: bool) -> Option<KeyValue> {
    let Value::Object(mut t) = v else { return None };
    let key = match t.remove("key") {
        Some(Value::String(k)) => k,
        _ => return None,
    };
    let ty = string(t.remove("type")).to_ascii_lowercase();
    let value = t.remove("value").unwrap_or(Value::Null);
    let value = match ty.as_str() {
        "bool" => bool_of(&value).map(AnyValue::Bool),
        "int64" => i64_of(&value).map(AnyValue::Int),
        "float64" => f64_of(&value).map(AnyValue::Double),
        "binary" => match &value {
            Value::String(s) if hex_binary => {
                decode_hex(s).map(|b| AnyValue::Bytes(b.into_boxed_slice()))
            }
            Value::String(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .ok()
                .map(|b| AnyValue::Bytes(b.into_boxed_slice())),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_else(|| match value {
        Value::String(s) => AnyValue::string(s),
        Value::Bool(b) => AnyValue::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AnyValue::Int(i),
            None => AnyValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        _ => AnyValue::Empty,
    });
    Some(KeyValue::new(&key, value))
}

fn text(v: AnyValue) -> Option<Box<str>> {
    match v {
        AnyValue::Str(s) if !s.is_empty() => Some(s.as_str().into()),
        _ => None,
    }
}

fn kind_of(v: &AnyValue) -> SpanKind {
    match v.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("server") => SpanKind::Server,
        Some("client") => SpanKind::Client,
        Some("producer") => SpanKind::Producer,
        Some("consumer") => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_of_is_the_parent_and_other_references_are_links() {
        let d = decode(serde_json::json!({"traceID": "t1", "spans": [{
            "traceID": "00000000000000aa", "spanID": "03", "operationName": "op",
            "references": [
                {"refType": "FOLLOWS_FROM", "traceID": "00000000000000aa", "spanID": "01"},
                {"refType": "CHILD_OF", "traceID": "00000000000000aa", "spanID": "02"},
                {"refType": "CHILD_OF", "traceID": "00000000000000bb", "spanID": "09"}
            ],
            "startTime": 10, "duration": 5,
            "tags": [{"key": "otel.status_code", "type": "string", "value": "ERROR"},
                     {"key": "otel.status_description", "type": "string", "value": "boom"},
                     {"key": "otel.scope.name", "type": "string", "value": "lib"},
                     {"key": "n", "type": "int64", "value": "7"}],
            "logs": [{"timestamp": 12, "fields": [{"key": "event", "type": "string", "value": "retry"}]}],
            "processID": "p1"
        }], "processes": {"p1": {"serviceName": "svc", "tags": [{"key": "host", "type": "string", "value": "h"}]}}}));
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let s = &d.spans[0];
        assert_eq!(s.parent_span_id, SpanId::from_u64(2));
        let linked: Vec<u64> = s.links.iter().map(|l| l.span_id.as_u64()).collect();
        assert_eq!(linked, vec![1, 9]);
        assert_eq!(s.status.code, StatusCode::Error);
        assert_eq!(s.status.message.as_deref(), Some("boom"));
        assert_eq!(&*s.scope.name, "lib");
        assert_eq!(s.attr("n"), Some(&AnyValue::Int(7)));
        assert_eq!(s.service().as_str(), "svc");
        assert_eq!(
            s.resource.attr("host").and_then(AnyValue::as_str),
            Some("h")
        );
        assert_eq!((s.start_ns, s.end_ns), (10_000, 15_000));
        assert_eq!(&*s.events[0].name, "retry");
    }

    #[test]
    fn follows_from_alone_is_the_parent() {
        let d = decode(serde_json::json!([{
            "traceID": "aa", "spanID": "03", "operationName": "consume",
            "references": [{"refType": "FOLLOWS_FROM", "traceID": "aa", "spanID": "01"}],
            "process": {"serviceName": "worker"}
        }]));
        assert_eq!(d.spans[0].parent_span_id, SpanId::from_u64(1));
        assert!(d.spans[0].links.is_empty());
    }
}
