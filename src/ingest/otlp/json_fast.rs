//! The fast path for OTLP/JSON trace lines in the canonical shape: typed serde decoding with
//! strings borrowed from the line, straight into the model. The lenient path (`otlp_json`)
//! builds a `serde_json::Value` tree first, and in a replay that tree and its maps were most
//! of the time. Anything off the canonical shape (a value of another JSON type, an unknown
//! key inside an attribute value, a duplicated key) makes this path give up, and the line
//! is decoded by the lenient path instead; where this path succeeds its result is the
//! lenient path's, which the tests check on every sample and on damaged lines.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::ingest::otlp::convert::Converted;
use crate::ingest::otlp::json::{decode_base64, f64_from_str, id_from_str, span_kind, status_code};
use crate::model::{
    AnyValue, Batch, Event, KeyValue, Link, Resource, Scope, Span, SpanExtra, SpanId, SpanKind,
    Status, StatusCode, Sym, TraceId,
};

use crate::ingest::MAX_VALUE_DEPTH;

/// Decodes one OTLP/JSON trace document, or `None` when it is not in the canonical shape
/// (or not a trace document at all): the caller then takes the lenient path.
pub(crate) fn decode(text: &[u8]) -> Option<Converted> {
    // Only worth trying on what looks like a trace request; everything else is rarer.
    let head = &text[..text.len().min(64)];
    if text.first() != Some(&b'{') || !contains(head, b"resourceSpans") {
        return None;
    }
    // One UTF-8 check for the whole line is cheaper than serde_json's check per string.
    let text = std::str::from_utf8(text).ok()?;
    let req: Request<'_> = serde_json::from_str(text).ok()?;
    if req.resource_metrics.is_some() || req.resource_logs.is_some() {
        return None;
    }
    let requested = req.resource_spans?;
    let mut out = Converted::default();
    // One allocation for the batch, reused from an earlier one (see `Batch::span_vec`).
    let spans: usize = requested
        .iter()
        .flat_map(|rs| rs.scope_spans.iter().flatten())
        .map(|ss| ss.spans.as_ref().map_or(0, Vec::len))
        .sum();
    out.batch.spans = Batch::span_vec(spans);
    for rs in requested {
        resource_spans(rs, &mut out);
    }
    Some(out)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

type Str<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request<'a> {
    #[serde(borrow, rename = "resourceSpans")]
    resource_spans: Option<Vec<ResourceSpans<'a>>>,
    #[serde(rename = "resourceMetrics")]
    resource_metrics: Option<IgnoredAny>,
    #[serde(rename = "resourceLogs")]
    resource_logs: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResourceSpans<'a> {
    #[serde(borrow)]
    resource: Option<JResource<'a>>,
    #[serde(borrow)]
    scope_spans: Option<Vec<ScopeSpans<'a>>>,
    #[serde(borrow)]
    schema_url: Str<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JResource<'a> {
    #[serde(borrow)]
    attributes: Option<Vec<Kv<'a>>>,
    #[serde(borrow)]
    dropped_attributes_count: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScopeSpans<'a> {
    #[serde(borrow)]
    scope: Option<JScope<'a>>,
    #[serde(borrow)]
    spans: Option<Vec<JSpan<'a>>>,
    #[serde(borrow)]
    schema_url: Str<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JScope<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    version: Str<'a>,
    #[serde(borrow)]
    attributes: Option<Vec<Kv<'a>>>,
    #[serde(borrow)]
    dropped_attributes_count: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JSpan<'a> {
    #[serde(borrow)]
    trace_id: Str<'a>,
    #[serde(borrow)]
    span_id: Str<'a>,
    #[serde(borrow)]
    trace_state: Str<'a>,
    #[serde(borrow)]
    parent_span_id: Str<'a>,
    #[serde(borrow)]
    flags: Option<Scalar<'a>>,
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    kind: Option<Scalar<'a>>,
    #[serde(borrow)]
    start_time_unix_nano: Option<Scalar<'a>>,
    #[serde(borrow)]
    end_time_unix_nano: Option<Scalar<'a>>,
    #[serde(borrow)]
    attributes: Option<Vec<Kv<'a>>>,
    #[serde(borrow)]
    dropped_attributes_count: Option<Scalar<'a>>,
    #[serde(borrow)]
    events: Option<Vec<JEvent<'a>>>,
    #[serde(borrow)]
    dropped_events_count: Option<Scalar<'a>>,
    #[serde(borrow)]
    links: Option<Vec<JLink<'a>>>,
    #[serde(borrow)]
    dropped_links_count: Option<Scalar<'a>>,
    #[serde(borrow)]
    status: Option<JStatus<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JEvent<'a> {
    #[serde(borrow)]
    time_unix_nano: Option<Scalar<'a>>,
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    attributes: Option<Vec<Kv<'a>>>,
    #[serde(borrow)]
    dropped_attributes_count: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JLink<'a> {
    #[serde(borrow)]
    trace_id: Str<'a>,
    #[serde(borrow)]
    span_id: Str<'a>,
    #[serde(borrow)]
    trace_state: Str<'a>,
    #[serde(borrow)]
    attributes: Option<Vec<Kv<'a>>>,
    #[serde(borrow)]
    dropped_attributes_count: Option<Scalar<'a>>,
    #[serde(borrow)]
    flags: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JStatus<'a> {
    #[serde(borrow)]
    message: Str<'a>,
    #[serde(borrow)]
    code: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Kv<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: Option<Any<'a>>,
}

/// A JSON number or string where OTLP/JSON has an integer (64-bit ones are strings).
enum Scalar<'a> {
    U(u64),
    I(i64),
    F(f64),
    S(Cow<'a, str>),
}

impl Scalar<'_> {
    /// As `otlp_json::u64_of`.
    fn u64(&self) -> Option<u64> {
        match self {
            Scalar::U(u) => Some(*u),
            Scalar::I(_) => None,
            Scalar::F(f) => {
                (f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64).then_some(*f as u64)
            }
            Scalar::S(s) => s.trim().parse().ok(),
        }
    }

    fn u32(&self) -> u32 {
        self.u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
    }

    /// The same JSON value, for the lenient path's enum readers (kind, status code).
    fn to_value(&self) -> serde_json::Value {
        match self {
            Scalar::U(u) => (*u).into(),
            Scalar::I(i) => (*i).into(),
            Scalar::F(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Scalar::S(s) => serde_json::Value::String(s.to_string()),
        }
    }
}

fn u32_of(s: &Option<Scalar<'_>>) -> u32 {
    s.as_ref().map_or(0, Scalar::u32)
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::U(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::I(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::F(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::S(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::S(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An attribute value in its canonical one-key wrapper; anything else is left to the
/// lenient path (by failing).
enum Any<'a> {
    Empty,
    Str(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<Any<'a>>),
    KvList(Vec<Kv<'a>>),
}

/// `{"values":[...]}` of an `arrayValue` or `kvlistValue`; `{}` is empty.
struct Values<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Values<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Values<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with `values`")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Values<T>, M::Error> {
                let mut values = None;
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    if k != "values" || values.is_some() {
                        return Err(de::Error::custom("not the canonical shape"));
                    }
                    values = Some(m.next_value::<Option<Vec<T>>>()?.unwrap_or_default());
                }
                Ok(Values(values.unwrap_or_default()))
            }
        }
        // Maps only: a bare array here means something the lenient path handles.
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Any<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Any<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an OTLP AnyValue object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Any<'a>, M::Error> {
                let Some(k) = m.next_key::<Cow<'de, str>>()? else {
                    return Ok(Any::Empty);
                };
                let odd = || de::Error::custom("not the canonical shape");
                let v = match &*k {
                    "stringValue" => Any::Str(m.next_value::<Cow<'a, str>>()?),
                    "boolValue" => Any::Bool(m.next_value::<bool>()?),
                    "intValue" => match m.next_value::<Scalar<'a>>()? {
                        Scalar::U(u) => Any::Int(i64::try_from(u).map_err(|_| odd())?),
                        Scalar::I(i) => Any::Int(i),
                        Scalar::S(s) => Any::Int(s.trim().parse().map_err(|_| odd())?),
                        Scalar::F(_) => return Err(odd()),
                    },
                    "doubleValue" => Any::Double(match m.next_value::<Scalar<'a>>()? {
                        Scalar::U(u) => u as f64,
                        Scalar::I(i) => i as f64,
                        Scalar::F(f) => f,
                        Scalar::S(s) => f64_from_str(&s).ok_or_else(odd)?,
                    }),
                    "bytesValue" => {
                        let s = m.next_value::<Cow<'a, str>>()?;
                        Any::Bytes(decode_base64(&s).ok_or_else(odd)?)
                    }
                    "arrayValue" => Any::Array(m.next_value::<Values<Any<'a>>>()?.0),
                    "kvlistValue" => Any::KvList(m.next_value::<Values<Kv<'a>>>()?.0),
                    _ => return Err(odd()),
                };
                if m.next_key::<IgnoredAny>()?.is_some() {
                    return Err(odd());
                }
                Ok(v)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

// === to the model, as `otlp_json` + `convert` do ===

fn boxed(s: Str<'_>) -> Option<Box<str>> {
    s.filter(|s| !s.is_empty()).map(|s| s.into())
}

fn text(s: Str<'_>) -> Box<str> {
    s.map(Into::into).unwrap_or_default()
}

fn attrs(kvs: Option<Vec<Kv<'_>>>, depth: usize) -> Box<[KeyValue]> {
    kvs.unwrap_or_default()
        .into_iter()
        .map(|kv| KeyValue {
            key: Sym::new(&kv.key),
            value: kv.value.map_or(AnyValue::Empty, |v| value(v, depth)),
        })
        .collect()
}

fn value(v: Any<'_>, depth: usize) -> AnyValue {
    if depth >= MAX_VALUE_DEPTH {
        return AnyValue::Empty;
    }
    match v {
        Any::Empty => AnyValue::Empty,
        Any::Str(s) => AnyValue::Str(s.as_ref().into()),
        Any::Bool(b) => AnyValue::Bool(b),
        Any::Int(i) => AnyValue::Int(i),
        Any::Double(d) => AnyValue::Double(d),
        Any::Bytes(b) => AnyValue::Bytes(b.into_boxed_slice()),
        Any::Array(a) => AnyValue::Array(a.into_iter().map(|v| value(v, depth + 1)).collect()),
        Any::KvList(kv) => AnyValue::KvList(attrs(Some(kv), depth + 1)),
    }
}

fn resource_spans(rs: ResourceSpans<'_>, out: &mut Converted) {
    let (attributes, dropped) = match rs.resource {
        Some(r) => (attrs(r.attributes, 0), u32_of(&r.dropped_attributes_count)),
        None => (Box::default(), 0),
    };
    let mut res = Resource::new(attributes.into_vec());
    res.dropped_attributes_count = dropped;
    res.schema_url = boxed(rs.schema_url);
    let res = Arc::new(res);
    for ss in rs.scope_spans.unwrap_or_default() {
        let scope = match ss.scope {
            Some(s) => Scope {
                name: text(s.name),
                version: boxed(s.version),
                attributes: attrs(s.attributes, 0),
                dropped_attributes_count: u32_of(&s.dropped_attributes_count),
                schema_url: boxed(ss.schema_url),
            },
            None => Scope {
                schema_url: boxed(ss.schema_url),
                ..Scope::default()
            },
        };
        let scope = Arc::new(scope);
        let spans = ss.spans.unwrap_or_default();
        for s in spans {
            span(s, &res, &scope, out);
        }
    }
}

fn id(s: &Str<'_>, len: usize) -> Vec<u8> {
    s.as_deref().map_or_else(Vec::new, |s| id_from_str(s, len))
}

fn span(s: JSpan<'_>, resource: &Arc<Resource>, scope: &Arc<Scope>, out: &mut Converted) {
    let name = s.name.as_deref().unwrap_or_default();
    // Same checks and messages as `convert`.
    let trace_id = match TraceId::from_bytes(&id(&s.trace_id, 16)) {
        Ok(t) => t,
        Err(e) => return out.reject(format!("span {name:?}: trace_id {e}")),
    };
    let span_id = match SpanId::from_bytes(&id(&s.span_id, 8)) {
        Ok(t) => t,
        Err(e) => return out.reject(format!("span {name:?}: span_id {e}")),
    };
    let parent = id(&s.parent_span_id, 8);
    let parent_span_id = if parent.iter().all(|b| *b == 0) {
        None
    } else {
        match SpanId::from_bytes(&parent) {
            Ok(p) => Some(p),
            Err(e) => return out.reject(format!("span {name:?}: parent_span_id {e}")),
        }
    };
    let dropped = (
        u32_of(&s.dropped_attributes_count),
        u32_of(&s.dropped_events_count),
        u32_of(&s.dropped_links_count),
    );
    let trace_state = boxed(s.trace_state);
    let extra = (trace_state.is_some() || dropped != (0, 0, 0)).then(|| {
        Box::new(SpanExtra {
            trace_state,
            dropped_attributes_count: dropped.0,
            dropped_events_count: dropped.1,
            dropped_links_count: dropped.2,
        })
    });
    let status = s.status.map_or_else(Status::default, |st| Status {
        code: StatusCode::from_otlp(status_code(st.code.map(|c| c.to_value()).as_ref())),
        message: boxed(st.message),
    });
    let events = s
        .events
        .unwrap_or_default()
        .into_iter()
        .map(|e| Event {
            time_ns: e.time_unix_nano.and_then(|t| t.u64()).unwrap_or(0),
            name: text(e.name),
            attributes: attrs(e.attributes, 0),
            dropped_attributes_count: u32_of(&e.dropped_attributes_count),
        })
        .collect();
    let links = s
        .links
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| {
            let trace_id = TraceId::from_bytes(&id(&l.trace_id, 16)).ok()?;
            let span_id = SpanId::from_bytes(&id(&l.span_id, 8)).ok()?;
            Some(Link {
                trace_id,
                span_id,
                attributes: attrs(l.attributes, 0),
                trace_state: boxed(l.trace_state),
                flags: u32_of(&l.flags),
                dropped_attributes_count: u32_of(&l.dropped_attributes_count),
            })
        })
        .collect();
    out.batch.spans.push(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: Sym::new(name),
        kind: SpanKind::from_otlp(span_kind(s.kind.map(|k| k.to_value()).as_ref())),
        flags: u32_of(&s.flags),
        start_ns: s.start_time_unix_nano.and_then(|t| t.u64()).unwrap_or(0),
        end_ns: s.end_time_unix_nano.and_then(|t| t.u64()).unwrap_or(0),
        status,
        attributes: attrs(s.attributes, 0),
        events,
        links,
        resource: Arc::clone(resource),
        scope: Arc::clone(scope),
        extra,
    });
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::Path;

    use super::*;
    use crate::export::write::otlp_json_line;
    use crate::ingest::file::read_path;
    use crate::ingest::otlp::convert::request_to_batch;
    use crate::ingest::otlp::json as otlp_json;

    /// The lenient path, the reference: `Value` -> proto -> `convert`.
    fn lenient(text: &[u8]) -> Option<(String, u64, Vec<String>)> {
        let c = request_to_batch(otlp_json::decode_request(text).ok()?);
        Some((format!("{:?}", c.batch.spans), c.rejected, c.errors))
    }

    fn fast(text: &[u8]) -> Option<(String, u64, Vec<String>)> {
        let c = decode(text)?;
        Some((format!("{:?}", c.batch.spans), c.rejected, c.errors))
    }

    /// Trace lines as real writers made them, and as spantop writes them.
    fn lines() -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut out = Vec::new();
        let mut text = Vec::new();
        let gz = std::fs::File::open(dir.join("generated/shopfast-seed42-n100.otlp.jsonl.gz"))
            .expect("sample");
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut text)
            .expect("gzip");
        text.extend(
            std::fs::read(dir.join("otlp-json/otel-tui__test_data.traces-only.jsonl"))
                .expect("sample"),
        );
        out.extend(
            text.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
        for rel in [
            "jaeger-json/jaeger-ui__genaiTestTrace.json",
            "zipkin-v2-json/yelp.json",
        ] {
            read_path(&dir.join(rel), &mut |b| {
                let mut line = String::new();
                otlp_json_line(&b.spans, &mut line);
                out.push(line.trim_end().as_bytes().to_vec());
            })
            .expect("sample");
        }
        out
    }

    #[test]
    fn canonical_lines_take_the_fast_path_and_match_the_lenient_one() {
        for line in lines() {
            let want = lenient(&line).expect("valid");
            assert_eq!(fast(&line), Some(want));
        }
    }

    #[test]
    fn damaged_lines_either_fall_back_or_match_the_lenient_path() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let odd: &[&[u8]] = &[
            b"null", b"\"7\"", b"{}", b"[]", b"-1", b"1.5", b"\"NaN\"", b"\"x\"",
        ];
        let (mut compared, mut cases) = (0, 0);
        for line in lines().iter().take(60) {
            for _ in 0..20 {
                let mut m = line.clone();
                // Replace a value after some `:` with an odd one, or flip a byte.
                let colons: Vec<usize> = (0..m.len()).filter(|&i| m[i] == b':').collect();
                if next(2) == 0 && !colons.is_empty() {
                    let at = colons[next(colons.len())] + 1;
                    let end = (at..m.len())
                        .find(|&i| matches!(m[i], b',' | b'}' | b']'))
                        .unwrap_or(m.len());
                    m.splice(at..end, odd[next(odd.len())].iter().copied());
                } else {
                    let i = next(m.len());
                    let noise = b" ,:{}[]\"0aZ_";
                    m[i] = noise[next(noise.len())];
                }
                cases += 1;
                if let Some(got) = fast(&m) {
                    compared += 1;
                    assert_eq!(Some(got), lenient(&m), "{}", String::from_utf8_lossy(&m));
                }
            }
        }
        assert!(compared > cases / 10, "{compared} of {cases} compared");
    }

    #[test]
    fn other_shapes_are_left_to_the_lenient_path() {
        for text in [
            &br#"{"resource_spans":[]}"#[..],
            br#"{"resourceSpans":[{"instrumentationLibrarySpans":[]}]}"#,
            br#"{"resourceSpans":[],"resourceMetrics":[]}"#,
            br#"{"resourceSpans":null}"#,
            br#"[{"traceId":"1","id":"2"}]"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"trace_id":"aa"}]}]}]}"#,
        ] {
            assert!(decode(text).is_none(), "{}", String::from_utf8_lossy(text));
        }
    }
}
