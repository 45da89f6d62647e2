//! OTLP/JSON decoding (the JSON mapping of `ExportTraceServiceRequest` / `TracesData`).
//!
//! Real files and exporters are messier than the protobuf JSON mapping that
//! opentelemetry-proto's serde accepts: empty `{"arrayValue":{}}`, `null` fields, integers as
//! strings (or strings as integers), `"NaN"`/`"Infinity"` doubles, upper-case hex ids, base64
//! ids (the generic protobuf JSON mapping of `bytes`), snake_case keys and enum names instead
//! of numbers. So the document is parsed into a `serde_json::Value` and walked by hand: a
//! value of the wrong type becomes "absent" and costs only itself, never the request.
//!
//! The small lenient accessors here are shared by the Jaeger and Zipkin readers.

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::resource::v1 as pr;
use opentelemetry_proto::tonic::trace::v1 as pt;
use serde_json::{Map, Value};

use crate::ingest::MAX_VALUE_DEPTH;

/// What kind of OTLP signal a JSON document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    /// `resourceMetrics` / `resourceLogs` / `resourceProfiles`: valid OTLP, not ours to read.
    Other,
    /// Not an OTLP document at all.
    Unknown,
}

/// Tells a trace document from a metrics or logs one by its top-level key.
pub fn signal_of(doc: &Map<String, Value>) -> Signal {
    if doc.contains_key("resourceSpans") || doc.contains_key("resource_spans") {
        Signal::Traces
    } else if [
        "resourceMetrics",
        "resource_metrics",
        "resourceLogs",
        "resource_logs",
        "resourceProfiles",
        "resource_profiles",
    ]
    .iter()
    .any(|k| doc.contains_key(*k))
    {
        Signal::Other
    } else {
        Signal::Unknown
    }
}

/// Decodes one OTLP/JSON trace request (the OTLP/HTTP JSON body, or one line of a file).
pub fn decode_request(bytes: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    request_from_value(value)
}

/// Decodes an already parsed document. `{}` is a valid empty request; a document of another
/// signal or shape is an error.
pub fn request_from_value(value: Value) -> Result<ExportTraceServiceRequest, String> {
    let Value::Object(mut doc) = value else {
        return Err(format!(
            "expected an OTLP JSON object, found {}",
            type_name(&value)
        ));
    };
    if signal_of(&doc) == Signal::Other {
        return Err("OTLP document holds metrics, logs or profiles, not traces".into());
    }
    let resource_spans = match take(&mut doc, "resourceSpans", "resource_spans") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.into_iter().filter_map(resource_spans).collect(),
        Some(other) => {
            return Err(format!(
                "resourceSpans should be an array, found {}",
                type_name(&other)
            ));
        }
    };
    Ok(ExportTraceServiceRequest { resource_spans })
}

fn resource_spans(v: Value) -> Option<pt::ResourceSpans> {
    let Value::Object(mut o) = v else { return None };
    let resource = match take(&mut o, "resource", "resource") {
        Some(Value::Object(mut r)) => Some(pr::Resource {
            attributes: attributes(take(&mut r, "attributes", "attributes"), 0),
            dropped_attributes_count: u32_of(
                take(&mut r, "droppedAttributesCount", "dropped_attributes_count").as_ref(),
            ),
            entity_refs: Vec::new(),
        }),
        _ => None,
    };
    // `instrumentationLibrarySpans` is what OTLP before 0.15 called `scopeSpans`.
    let scopes = take(&mut o, "scopeSpans", "scope_spans").or_else(|| {
        take(
            &mut o,
            "instrumentationLibrarySpans",
            "instrumentation_library_spans",
        )
    });
    Some(pt::ResourceSpans {
        resource,
        scope_spans: array(scopes).filter_map(scope_spans).collect(),
        schema_url: string(take(&mut o, "schemaUrl", "schema_url")),
    })
}

fn scope_spans(v: Value) -> Option<pt::ScopeSpans> {
    let Value::Object(mut o) = v else { return None };
    let scope = take(&mut o, "scope", "scope")
        .or_else(|| take(&mut o, "instrumentationLibrary", "instrumentation_library"));
    let scope = match scope {
        Some(Value::Object(mut s)) => Some(pc::InstrumentationScope {
            name: string(take(&mut s, "name", "name")),
            version: string(take(&mut s, "version", "version")),
            attributes: attributes(take(&mut s, "attributes", "attributes"), 0),
            dropped_attributes_count: u32_of(
                take(&mut s, "droppedAttributesCount", "dropped_attributes_count").as_ref(),
            ),
        }),
        _ => None,
    };
    Some(pt::ScopeSpans {
        scope,
        spans: array(take(&mut o, "spans", "spans"))
            .filter_map(span)
            .collect(),
        schema_url: string(take(&mut o, "schemaUrl", "schema_url")),
    })
}

/// A span that is not even an object is dropped here; one with unreadable ids is kept with
/// empty ids, so that conversion rejects and counts it like any other invalid span.
fn span(v: Value) -> Option<pt::Span> {
    let Value::Object(mut o) = v else { return None };
    let status = match take(&mut o, "status", "status") {
        Some(Value::Object(mut s)) => Some(pt::Status {
            message: string(take(&mut s, "message", "message")),
            code: status_code(take(&mut s, "code", "code").as_ref()),
        }),
        _ => None,
    };
    Some(pt::Span {
        trace_id: id_bytes(take(&mut o, "traceId", "trace_id").as_ref(), 16),
        span_id: id_bytes(take(&mut o, "spanId", "span_id").as_ref(), 8),
        trace_state: string(take(&mut o, "traceState", "trace_state")),
        parent_span_id: id_bytes(take(&mut o, "parentSpanId", "parent_span_id").as_ref(), 8),
        flags: u32_of(take(&mut o, "flags", "flags").as_ref()),
        name: string(take(&mut o, "name", "name")),
        kind: span_kind(take(&mut o, "kind", "kind").as_ref()),
        start_time_unix_nano: u64_of(
            take(&mut o, "startTimeUnixNano", "start_time_unix_nano").as_ref(),
        )
        .unwrap_or(0),
        end_time_unix_nano: u64_of(take(&mut o, "endTimeUnixNano", "end_time_unix_nano").as_ref())
            .unwrap_or(0),
        attributes: attributes(take(&mut o, "attributes", "attributes"), 0),
        dropped_attributes_count: u32_of(
            take(&mut o, "droppedAttributesCount", "dropped_attributes_count").as_ref(),
        ),
        events: array(take(&mut o, "events", "events"))
            .filter_map(event)
            .collect(),
        dropped_events_count: u32_of(
            take(&mut o, "droppedEventsCount", "dropped_events_count").as_ref(),
        ),
        links: array(take(&mut o, "links", "links"))
            .filter_map(link)
            .collect(),
        dropped_links_count: u32_of(
            take(&mut o, "droppedLinksCount", "dropped_links_count").as_ref(),
        ),
        status,
    })
}

fn event(v: Value) -> Option<pt::span::Event> {
    let Value::Object(mut o) = v else { return None };
    Some(pt::span::Event {
        time_unix_nano: u64_of(take(&mut o, "timeUnixNano", "time_unix_nano").as_ref())
            .unwrap_or(0),
        name: string(take(&mut o, "name", "name")),
        attributes: attributes(take(&mut o, "attributes", "attributes"), 0),
        dropped_attributes_count: u32_of(
            take(&mut o, "droppedAttributesCount", "dropped_attributes_count").as_ref(),
        ),
    })
}

fn link(v: Value) -> Option<pt::span::Link> {
    let Value::Object(mut o) = v else { return None };
    Some(pt::span::Link {
        trace_id: id_bytes(take(&mut o, "traceId", "trace_id").as_ref(), 16),
        span_id: id_bytes(take(&mut o, "spanId", "span_id").as_ref(), 8),
        trace_state: string(take(&mut o, "traceState", "trace_state")),
        attributes: attributes(take(&mut o, "attributes", "attributes"), 0),
        dropped_attributes_count: u32_of(
            take(&mut o, "droppedAttributesCount", "dropped_attributes_count").as_ref(),
        ),
        flags: u32_of(take(&mut o, "flags", "flags").as_ref()),
    })
}

fn attributes(v: Option<Value>, depth: usize) -> Vec<pc::KeyValue> {
    array(v).filter_map(|kv| key_value(kv, depth)).collect()
}

fn key_value(v: Value, depth: usize) -> Option<pc::KeyValue> {
    let Value::Object(mut o) = v else { return None };
    let key = match take(&mut o, "key", "key") {
        Some(Value::String(k)) => k,
        _ => return None,
    };
    Some(pc::KeyValue {
        key,
        value: take(&mut o, "value", "value").map(|v| any_value(v, depth)),
        key_strindex: 0,
    })
}

pub(crate) fn any_value(v: Value, depth: usize) -> pc::AnyValue {
    use pc::any_value::Value as V;
    if depth >= MAX_VALUE_DEPTH {
        return pc::AnyValue { value: None };
    }
    let value = match v {
        // Some writers put the bare JSON value where the AnyValue wrapper belongs.
        Value::String(s) => Some(V::StringValue(s)),
        Value::Bool(b) => Some(V::BoolValue(b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::Null | Value::Array(_) => None,
        Value::Object(mut o) => {
            // The first field of a known name that has a usable value wins.
            if let Some(s) = take(&mut o, "stringValue", "string_value") {
                match s {
                    Value::String(s) => Some(V::StringValue(s)),
                    other => scalar_text(&other).map(V::StringValue),
                }
            } else if let Some(b) = take(&mut o, "boolValue", "bool_value") {
                bool_of(&b).map(V::BoolValue)
            } else if let Some(i) = take(&mut o, "intValue", "int_value") {
                i64_of(&i).map(V::IntValue)
            } else if let Some(d) = take(&mut o, "doubleValue", "double_value") {
                f64_of(&d).map(V::DoubleValue)
            } else if let Some(b) = take(&mut o, "bytesValue", "bytes_value") {
                match b {
                    Value::String(s) => decode_base64(&s).map(V::BytesValue),
                    _ => None,
                }
            } else if let Some(a) = take(&mut o, "arrayValue", "array_value") {
                Some(V::ArrayValue(pc::ArrayValue {
                    values: values_of(a).map(|v| any_value(v, depth + 1)).collect(),
                }))
            } else {
                take(&mut o, "kvlistValue", "kvlist_value").map(|kv| {
                    V::KvlistValue(pc::KeyValueList {
                        values: values_of(kv)
                            .filter_map(|kv| key_value(kv, depth + 1))
                            .collect(),
                    })
                })
            }
        }
    };
    pc::AnyValue { value }
}

/// `{"values":[...]}`, `{}` or `null` (both meaning empty), or a bare array.
fn values_of(v: Value) -> impl Iterator<Item = Value> {
    match v {
        Value::Object(mut o) => array(take(&mut o, "values", "values")),
        other => array(Some(other)),
    }
}

// === lenient accessors, shared by the file readers ===

/// Removes a field under its camelCase or snake_case name; `null` counts as absent.
pub(crate) fn take(o: &mut Map<String, Value>, camel: &str, snake: &str) -> Option<Value> {
    let v = match o.remove(camel) {
        Some(v) => Some(v),
        None if camel != snake => o.remove(snake),
        None => None,
    };
    v.filter(|v| !v.is_null())
}

/// The elements of an array value; anything else is empty.
pub(crate) fn array(v: Option<Value>) -> impl Iterator<Item = Value> {
    match v {
        Some(Value::Array(a)) => a.into_iter(),
        _ => Vec::new().into_iter(),
    }
}

/// A string field; numbers and booleans are taken as their text, anything else is empty.
pub(crate) fn string(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(other) => scalar_text(&other).unwrap_or_default(),
        None => String::new(),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An unsigned integer given as a number or a decimal string (64-bit values are strings in
/// OTLP/JSON; some writers quote 32-bit ones too, others leave 64-bit ones bare).
pub(crate) fn u64_of(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn u32_of(v: Option<&Value>) -> u32 {
    u64_of(v).and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

pub(crate) fn i64_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A double as a number or a string, including the `"NaN"`, `"Infinity"` and `"-Infinity"`
/// the protobuf JSON mapping uses for values JSON numbers cannot hold.
pub(crate) fn f64_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => f64_from_str(s),
        _ => None,
    }
}

pub(crate) fn f64_from_str(s: &str) -> Option<f64> {
    match s.trim() {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "+Infinity" | "inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

pub(crate) fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// An id of `len` bytes: hex (any case) per the OTLP/JSON spec, or base64 as the generic
/// protobuf JSON mapping writes `bytes`. Unreadable text gives an empty (invalid) id.
pub(crate) fn id_bytes(v: Option<&Value>, len: usize) -> Vec<u8> {
    match v {
        Some(Value::String(s)) => id_from_str(s, len),
        _ => Vec::new(),
    }
}

pub(crate) fn id_from_str(s: &str, len: usize) -> Vec<u8> {
    let s = s.trim();
    if s.len() == len * 2
        && let Some(bytes) = decode_hex(s)
    {
        return bytes;
    }
    match decode_base64(s) {
        Some(bytes) if bytes.len() == len => bytes,
        _ => Vec::new(),
    }
}

pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| Some((digit(p[0])? << 4 | digit(p[1])?) as u8))
        .collect()
}

pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let engine = &base64::engine::general_purpose::STANDARD;
    engine
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
        .ok()
}

/// `kind` as a number, or as the enum name (`SPAN_KIND_SERVER`, or just `SERVER`).
pub(crate) fn span_kind(v: Option<&Value>) -> i32 {
    const NAMES: [&str; 6] = [
        "UNSPECIFIED",
        "INTERNAL",
        "SERVER",
        "CLIENT",
        "PRODUCER",
        "CONSUMER",
    ];
    enum_value(v, "SPAN_KIND_", &NAMES)
}

pub(crate) fn status_code(v: Option<&Value>) -> i32 {
    enum_value(v, "STATUS_CODE_", &["UNSET", "OK", "ERROR"])
}

fn enum_value(v: Option<&Value>, prefix: &str, names: &[&str]) -> i32 {
    match v {
        Some(Value::Number(n)) => n.as_i64().and_then(|i| i32::try_from(i).ok()).unwrap_or(0),
        Some(Value::String(s)) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i32>() {
                return i;
            }
            let upper = s.to_ascii_uppercase();
            let bare = upper.strip_prefix(prefix).unwrap_or(&upper);
            names
                .iter()
                .position(|n| *n == bare)
                .and_then(|i| i32::try_from(i).ok())
                .unwrap_or(0)
        }
        _ => 0,
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pc::any_value::Value as V;

    fn decode(json: &str) -> ExportTraceServiceRequest {
        decode_request(json.as_bytes()).expect("lenient decoding accepts this")
    }

    fn only_span(req: &ExportTraceServiceRequest) -> &pt::Span {
        &req.resource_spans[0].scope_spans[0].spans[0]
    }

    #[test]
    fn accepts_the_messy_shapes_real_writers_produce() {
        let req = decode(
            r#"{"resource_spans":[{"resource":{"attributes":[
                {"key":"service.name","value":{"stringValue":"svc"}},
                {"key":"empty_array","value":{"arrayValue":{}}},
                {"key":"empty_kv","value":{"kvlistValue":{}}},
                {"key":"nul","value":null}]},
              "scope_spans":[{"scope":null,"spans":[{
                "trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B174",
                "parent_span_id":"","name":"op","kind":"SPAN_KIND_SERVER",
                "start_time_unix_nano":1544712660000000000,"endTimeUnixNano":"1544712661000000000",
                "flags":"257","status":{"code":"STATUS_CODE_ERROR","message":null},
                "attributes":[
                  {"key":"i","value":{"intValue":"42"}},
                  {"key":"i2","value":{"intValue":7}},
                  {"key":"nan","value":{"doubleValue":"NaN"}},
                  {"key":"inf","value":{"doubleValue":"-Infinity"}},
                  {"key":"b","value":{"boolValue":"true"}},
                  {"key":"bytes","value":{"bytesValue":"AQID"}}],
                "events":null,"links":[]}]}]}]}"#,
        );
        let rs = &req.resource_spans[0];
        let res_attrs = &rs.resource.as_ref().expect("resource").attributes;
        assert_eq!(res_attrs.len(), 4);
        assert_eq!(
            res_attrs[1].value.as_ref().and_then(|v| v.value.clone()),
            Some(V::ArrayValue(pc::ArrayValue { values: vec![] }))
        );
        assert_eq!(
            res_attrs[2].value.as_ref().and_then(|v| v.value.clone()),
            Some(V::KvlistValue(pc::KeyValueList { values: vec![] }))
        );
        assert!(res_attrs[3].value.is_none());
        let s = only_span(&req);
        assert_eq!(hex(&s.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(hex(&s.span_id), "eee19b7ec3c1b174");
        assert!(s.parent_span_id.is_empty());
        assert_eq!(s.kind, 2);
        assert_eq!(s.flags, 257);
        assert_eq!(s.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(s.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(s.status.as_ref().map(|st| st.code), Some(2));
        let vals: Vec<Option<V>> = s
            .attributes
            .iter()
            .map(|kv| kv.value.as_ref().and_then(|v| v.value.clone()))
            .collect();
        assert_eq!(vals[0], Some(V::IntValue(42)));
        assert_eq!(vals[1], Some(V::IntValue(7)));
        assert!(matches!(vals[2], Some(V::DoubleValue(d)) if d.is_nan()));
        assert_eq!(vals[3], Some(V::DoubleValue(f64::NEG_INFINITY)));
        assert_eq!(vals[4], Some(V::BoolValue(true)));
        assert_eq!(vals[5], Some(V::BytesValue(vec![1, 2, 3])));
    }

    #[test]
    fn base64_ids_and_old_instrumentation_library_names() {
        let req = decode(
            r#"{"resourceSpans":[{"instrumentationLibrarySpans":[{
                "instrumentationLibrary":{"name":"lib"},
                "spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ=","kind":3}]}]}]}"#,
        );
        let ss = &req.resource_spans[0].scope_spans[0];
        assert_eq!(ss.scope.as_ref().map(|s| s.name.as_str()), Some("lib"));
        let s = &ss.spans[0];
        assert_eq!(hex(&s.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(hex(&s.span_id), "eee19b7ec3c1b174");
        assert_eq!(s.kind, 3);
    }

    #[test]
    fn bad_values_cost_only_themselves() {
        let req = decode(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
                "not a span",
                {"traceId":"zz","spanId":"eee19b7ec3c1b174","name":["odd"],
                 "attributes":[{"key":"x","value":{"intValue":"twelve"}},{"value":{"stringValue":"no key"}}]}]}]}]}"#,
        );
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 1, "the non-object span is dropped");
        assert!(
            spans[0].trace_id.is_empty(),
            "bad id left for conversion to reject"
        );
        assert_eq!(spans[0].name, "");
        assert_eq!(spans[0].attributes.len(), 1);
        assert!(
            spans[0].attributes[0]
                .value
                .as_ref()
                .is_some_and(|v| v.value.is_none())
        );
    }

    #[test]
    fn refuses_other_signals_and_non_objects() {
        assert!(decode_request(br#"{"resourceMetrics":[]}"#).is_err());
        assert!(decode_request(b"[1,2]").is_err());
        assert!(decode_request(br#"{"resourceSpans":{}}"#).is_err());
        assert!(decode_request(b"{\"resourceSpans\":[").is_err());
        assert!(decode("{}").resource_spans.is_empty());
    }

    #[test]
    fn deep_values_are_cut_off_not_recursed() {
        let mut v = String::from(r#"{"stringValue":"leaf"}"#);
        for _ in 0..30 {
            v = format!(r#"{{"arrayValue":{{"values":[{v}]}}}}"#);
        }
        let json = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{{"key":"deep","value":{v}}}]}}]}}]}}]}}"#
        );
        // Three JSON levels per value level: 90 stays under serde_json's limit of 128, so this reaches our walk.
        let req = decode(&json);
        let mut depth = 0;
        let mut cur = only_span(&req).attributes[0].value.clone();
        while let Some(pc::AnyValue {
            value: Some(V::ArrayValue(a)),
        }) = cur
        {
            depth += 1;
            cur = a.values.into_iter().next();
        }
        assert_eq!(depth, MAX_VALUE_DEPTH);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
