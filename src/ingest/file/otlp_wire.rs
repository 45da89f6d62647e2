//! OTLP protobuf trace requests decoded straight from the wire into the model.
//!
//! prost + `convert` build every string, id and attribute twice (proto struct, then model)
//! and intern names through the process-wide table; in a replay that was most of the time
//! (allocator ~25%, interner hashing ~15%). Here strings are borrowed from the input until
//! they land in the model, and names go through a per-reader cache keyed by bytes. The
//! result is exactly what `prost` decoding plus `convert::request_to_batch` gives, which
//! the tests check on every sample and on damaged input.
//!
//! Schema (opentelemetry-proto, trace v1): ExportTraceServiceRequest / TracesData { 1:
//! ResourceSpans }, ResourceSpans { 1: Resource, 2: ScopeSpans, 3: schema_url }, Resource {
//! 1: KeyValue, 2: dropped }, ScopeSpans { 1: InstrumentationScope, 2: Span, 3: schema_url },
//! InstrumentationScope { 1: name, 2: version, 3: KeyValue, 4: dropped }, Span { 1: trace_id,
//! 2: span_id, 3: trace_state, 4: parent_span_id, 5: name, 6: kind, 7/8: start/end fixed64,
//! 9: KeyValue, 10: dropped, 11: Event, 12: dropped, 13: Link, 14: dropped, 15: Status,
//! 16: flags fixed32 }, Event { 1: time fixed64, 2: name, 3: KeyValue, 4: dropped }, Link {
//! 1: trace_id, 2: span_id, 3: trace_state, 4: KeyValue, 5: dropped, 6: flags fixed32 },
//! Status { 2: message, 3: code }, KeyValue { 1: key, 2: AnyValue }, AnyValue { 1: string,
//! 2: bool, 3: int, 4: double, 5: ArrayValue { 1: AnyValue }, 6: KeyValueList { 1: KeyValue
//! }, 7: bytes }.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::Decoded;
use crate::model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanExtra, SpanId, SpanKind, Status,
    StatusCode, Sym, TraceId,
};

/// Same cut-off as `convert`: deeper attribute values become empty.
const MAX_VALUE_DEPTH: usize = 16;

/// Names cached per reader before the cache is dropped: bounds memory when a file has
/// unbounded distinct keys or span names.
const MAX_CACHED_NAMES: usize = 64 * 1024;

/// Interned names by their bytes, so a repeated key costs one hash of a short slice.
#[derive(Default)]
pub(crate) struct Names {
    map: FxHashMap<Box<[u8]>, Sym>,
}

impl Names {
    fn sym(&mut self, s: &str) -> Sym {
        if let Some(sym) = self.map.get(s.as_bytes()) {
            return *sym;
        }
        if self.map.len() >= MAX_CACHED_NAMES {
            self.map.clear();
        }
        let sym = Sym::new(s);
        self.map.insert(s.as_bytes().into(), sym);
        sym
    }
}

type Result<T> = std::result::Result<T, String>;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Wire { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("truncated varint".into());
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("invalid varint".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or("truncated message")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field's number and wire type.
    fn key(&mut self) -> Result<(u64, u8)> {
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 {
            return Err("invalid field number 0".into());
        }
        Ok((field, (k & 7) as u8))
    }

    fn bytes(&mut self, wire: u8) -> Result<&'a [u8]> {
        expect(wire, LEN)?;
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| "length overflows")?)
    }

    fn str(&mut self, wire: u8) -> Result<&'a str> {
        std::str::from_utf8(self.bytes(wire)?).map_err(|_| "invalid UTF-8 in a string".into())
    }

    fn uint(&mut self, wire: u8) -> Result<u64> {
        expect(wire, VARINT)?;
        self.varint()
    }

    fn fixed64(&mut self, wire: u8) -> Result<u64> {
        expect(wire, FIXED64)?;
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| "truncated fixed64")?,
        ))
    }

    fn fixed32(&mut self, wire: u8) -> Result<u32> {
        expect(wire, FIXED32)?;
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(
            b.try_into().map_err(|_| "truncated fixed32")?,
        ))
    }

    /// Skips a field this decoder does not use, as protobuf readers must.
    fn skip(&mut self, wire: u8) -> Result<()> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes(LEN).map(drop),
            FIXED32 => self.take(4).map(drop),
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

fn expect(got: u8, want: u8) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("invalid wire type {got} (expected {want})"))
    }
}

fn boxed(s: &str) -> Option<Box<str>> {
    (!s.is_empty()).then(|| s.into())
}

/// Decodes one `ExportTraceServiceRequest` (or `TracesData`). An error means the message is
/// malformed and nothing of it is used; spans with invalid ids are rejected one by one.
pub(crate) fn decode_request(buf: &[u8], names: &mut Names) -> Result<Decoded> {
    let mut out = Decoded::default();
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (1, wire) => resource_spans(w.bytes(wire)?, names, &mut out)?,
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok(out)
}

fn resource_spans(buf: &[u8], names: &mut Names, out: &mut Decoded) -> Result<()> {
    // The resource and schema_url are needed by every span, but schema_url comes after them
    // on the wire: one pass for those, one for the spans.
    let mut resource = None;
    let mut schema_url = "";
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (1, wire) => resource = Some(w.bytes(wire)?),
            (3, wire) => schema_url = w.str(wire)?,
            (_, wire) => w.skip(wire)?,
        }
    }
    let mut res = Resource::new(Vec::new());
    if let Some(r) = resource {
        let mut attrs = Vec::new();
        let mut w = Wire::new(r);
        while !w.done() {
            match w.key()? {
                (1, wire) => attrs.push(key_value(w.bytes(wire)?, 0, names)?),
                (2, wire) => res.dropped_attributes_count = w.uint(wire)? as u32,
                (_, wire) => w.skip(wire)?,
            }
        }
        let dropped = res.dropped_attributes_count;
        res = Resource::new(attrs);
        res.dropped_attributes_count = dropped;
    }
    res.schema_url = boxed(schema_url);
    let res = Arc::new(res);
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (2, wire) => scope_spans(w.bytes(wire)?, &res, names, out)?,
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok(())
}

fn scope_spans(
    buf: &[u8],
    res: &Arc<Resource>,
    names: &mut Names,
    out: &mut Decoded,
) -> Result<()> {
    let mut scope = Scope::default();
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (1, wire) => {
                let mut s = Wire::new(w.bytes(wire)?);
                let mut attrs = Vec::new();
                while !s.done() {
                    match s.key()? {
                        (1, wire) => scope.name = s.str(wire)?.into(),
                        (2, wire) => scope.version = boxed(s.str(wire)?),
                        (3, wire) => attrs.push(key_value(s.bytes(wire)?, 0, names)?),
                        (4, wire) => scope.dropped_attributes_count = s.uint(wire)? as u32,
                        (_, wire) => s.skip(wire)?,
                    }
                }
                scope.attributes = attrs.into_boxed_slice();
            }
            (3, wire) => scope.schema_url = boxed(w.str(wire)?),
            (_, wire) => w.skip(wire)?,
        }
    }
    let scope = Arc::new(scope);
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (2, wire) => span(w.bytes(wire)?, res, &scope, names, out)?,
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok(())
}

fn span(
    buf: &[u8],
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
    names: &mut Names,
    out: &mut Decoded,
) -> Result<()> {
    let (mut trace_id, mut span_id, mut parent): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let (mut trace_state, mut name) = ("", "");
    let (mut kind, mut flags, mut start_ns, mut end_ns) = (0i32, 0u32, 0u64, 0u64);
    let mut attributes = Vec::new();
    let mut events = Vec::new();
    let mut links = Vec::new();
    let mut status = Status::default();
    let (mut dropped_attrs, mut dropped_events, mut dropped_links) = (0u32, 0u32, 0u32);
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (1, wire) => trace_id = w.bytes(wire)?,
            (2, wire) => span_id = w.bytes(wire)?,
            (3, wire) => trace_state = w.str(wire)?,
            (4, wire) => parent = w.bytes(wire)?,
            (5, wire) => name = w.str(wire)?,
            (6, wire) => kind = w.uint(wire)? as i32,
            (7, wire) => start_ns = w.fixed64(wire)?,
            (8, wire) => end_ns = w.fixed64(wire)?,
            (9, wire) => attributes.push(key_value(w.bytes(wire)?, 0, names)?),
            (10, wire) => dropped_attrs = w.uint(wire)? as u32,
            (11, wire) => events.push(event(w.bytes(wire)?, names)?),
            (12, wire) => dropped_events = w.uint(wire)? as u32,
            (13, wire) => {
                if let Some(l) = link(w.bytes(wire)?, names)? {
                    links.push(l);
                }
            }
            (14, wire) => dropped_links = w.uint(wire)? as u32,
            (15, wire) => {
                let mut s = Wire::new(w.bytes(wire)?);
                status = Status::default();
                while !s.done() {
                    match s.key()? {
                        (2, wire) => status.message = boxed(s.str(wire)?),
                        (3, wire) => status.code = StatusCode::from_otlp(s.uint(wire)? as i32),
                        (_, wire) => s.skip(wire)?,
                    }
                }
            }
            (16, wire) => flags = w.fixed32(wire)?,
            (_, wire) => w.skip(wire)?,
        }
    }
    // Same checks and messages as `convert::span_from_proto`.
    let trace_id = match TraceId::from_bytes(trace_id) {
        Ok(t) => t,
        Err(e) => {
            out.reject(format!("span {name:?}: trace_id {e}"));
            return Ok(());
        }
    };
    let span_id = match SpanId::from_bytes(span_id) {
        Ok(s) => s,
        Err(e) => {
            out.reject(format!("span {name:?}: span_id {e}"));
            return Ok(());
        }
    };
    let parent_span_id = if parent.iter().all(|b| *b == 0) {
        None
    } else {
        match SpanId::from_bytes(parent) {
            Ok(p) => Some(p),
            Err(e) => {
                out.reject(format!("span {name:?}: parent_span_id {e}"));
                return Ok(());
            }
        }
    };
    let extra = (!trace_state.is_empty()
        || dropped_attrs != 0
        || dropped_events != 0
        || dropped_links != 0)
        .then(|| {
            Box::new(SpanExtra {
                trace_state: boxed(trace_state),
                dropped_attributes_count: dropped_attrs,
                dropped_events_count: dropped_events,
                dropped_links_count: dropped_links,
            })
        });
    out.spans.push(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: names.sym(name),
        kind: SpanKind::from_otlp(kind),
        flags,
        start_ns,
        end_ns,
        status,
        attributes: attributes.into_boxed_slice(),
        events: events.into_boxed_slice(),
        links: links.into_boxed_slice(),
        resource: Arc::clone(resource),
        scope: Arc::clone(scope),
        extra,
    });
    Ok(())
}

fn event(buf: &[u8], names: &mut Names) -> Result<Event> {
    let mut e = Event {
        time_ns: 0,
        name: Box::default(),
        attributes: Box::default(),
        dropped_attributes_count: 0,
    };
    let mut attrs = Vec::new();
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (1, wire) => e.time_ns = w.fixed64(wire)?,
            (2, wire) => e.name = w.str(wire)?.into(),
            (3, wire) => attrs.push(key_value(w.bytes(wire)?, 0, names)?),
            (4, wire) => e.dropped_attributes_count = w.uint(wire)? as u32,
            (_, wire) => w.skip(wire)?,
        }
    }
    e.attributes = attrs.into_boxed_slice();
    Ok(e)
}

/// A link to an invalid context carries nothing to follow: dropped, as `convert` does.
fn link(buf: &[u8], names: &mut Names) -> Result<Option<Link>> {
    let (mut trace_id, mut span_id): (&[u8], &[u8]) = (&[], &[]);
    let mut trace_state = "";
    let mut attrs = Vec::new();
    let (mut dropped, mut flags) = (0u32, 0u32);
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (1, wire) => trace_id = w.bytes(wire)?,
            (2, wire) => span_id = w.bytes(wire)?,
            (3, wire) => trace_state = w.str(wire)?,
            (4, wire) => attrs.push(key_value(w.bytes(wire)?, 0, names)?),
            (5, wire) => dropped = w.uint(wire)? as u32,
            (6, wire) => flags = w.fixed32(wire)?,
            (_, wire) => w.skip(wire)?,
        }
    }
    let (Ok(trace_id), Ok(span_id)) = (TraceId::from_bytes(trace_id), SpanId::from_bytes(span_id))
    else {
        return Ok(None);
    };
    Ok(Some(Link {
        trace_id,
        span_id,
        attributes: attrs.into_boxed_slice(),
        trace_state: boxed(trace_state),
        flags,
        dropped_attributes_count: dropped,
    }))
}

fn key_value(buf: &[u8], depth: usize, names: &mut Names) -> Result<KeyValue> {
    let mut key = "";
    let mut value = AnyValue::Empty;
    let mut w = Wire::new(buf);
    while !w.done() {
        match w.key()? {
            (1, wire) => key = w.str(wire)?,
            (2, wire) => value = any_value(w.bytes(wire)?, depth, names)?,
            (_, wire) => w.skip(wire)?,
        }
    }
    Ok(KeyValue {
        key: names.sym(key),
        value,
    })
}

fn any_value(buf: &[u8], depth: usize, names: &mut Names) -> Result<AnyValue> {
    if depth >= MAX_VALUE_DEPTH {
        return Ok(AnyValue::Empty);
    }
    let mut value = AnyValue::Empty;
    let mut w = Wire::new(buf);
    while !w.done() {
        // `value` is a oneof: the last field present wins.
        value = match w.key()? {
            (1, wire) => AnyValue::Str(w.str(wire)?.into()),
            (2, wire) => AnyValue::Bool(w.uint(wire)? != 0),
            (3, wire) => AnyValue::Int(w.uint(wire)? as i64),
            (4, wire) => AnyValue::Double(f64::from_bits(w.fixed64(wire)?)),
            (5, wire) => {
                let body = w.bytes(wire)?;
                let mut items = Vec::new();
                let mut a = Wire::new(body);
                while !a.done() {
                    match a.key()? {
                        (1, wire) => items.push(any_value(a.bytes(wire)?, depth + 1, names)?),
                        (_, wire) => a.skip(wire)?,
                    }
                }
                AnyValue::Array(items.into_boxed_slice())
            }
            (6, wire) => {
                let body = w.bytes(wire)?;
                let mut kvs = Vec::new();
                let mut k = Wire::new(body);
                while !k.done() {
                    match k.key()? {
                        (1, wire) => kvs.push(key_value(k.bytes(wire)?, depth + 1, names)?),
                        (_, wire) => k.skip(wire)?,
                    }
                }
                AnyValue::KvList(kvs.into_boxed_slice())
            }
            (7, wire) => AnyValue::Bytes(w.bytes(wire)?.into()),
            (_, wire) => {
                w.skip(wire)?;
                continue;
            }
        };
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use super::*;
    use crate::ingest::convert::{request_to_batch, spans_to_request};
    use crate::ingest::file::read_path;

    /// prost + convert, the reference this decoder must match.
    fn reference(buf: &[u8]) -> Option<(String, u64)> {
        let req = ExportTraceServiceRequest::decode(buf).ok()?;
        let c = request_to_batch(req);
        Some((format!("{:?}", c.batch.spans), c.rejected))
    }

    fn ours(buf: &[u8]) -> Option<(String, u64)> {
        let d = decode_request(buf, &mut Names::default()).ok()?;
        Some((format!("{:?}", d.spans), d.rejected))
    }

    fn sample_messages() -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let mut out = Vec::new();
        for rel in [
            "otlp-json/otel-tui__test_data.traces-only.jsonl",
            "otlp-json/jaeger-integration__link_attributes_trace.json",
            "jaeger-json/jaeger-ui__genaiTestTrace.json",
            "zipkin-v2-json/yelp.json",
        ] {
            read_path(&dir.join(rel), &mut |b| {
                out.push(spans_to_request(&b.spans).encode_to_vec())
            })
            .expect("sample reads");
        }
        out
    }

    #[test]
    fn matches_prost_and_convert_on_samples() {
        for msg in sample_messages() {
            let want = reference(&msg).expect("valid message");
            assert_eq!(ours(&msg), Some(want));
        }
    }

    #[test]
    fn matches_prost_and_convert_on_damaged_messages() {
        let mut seed = 0x853c_49e6_748f_ea9b_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let (mut both_ok, mut cases) = (0, 0);
        for msg in sample_messages() {
            for _ in 0..30 {
                let mut m = msg.clone();
                match next(3) {
                    0 => m.truncate(next(m.len())),
                    _ => {
                        for _ in 0..1 + next(4) {
                            let i = next(m.len());
                            m[i] ^= 1 << next(8);
                        }
                    }
                }
                cases += 1;
                // Where both accept the bytes they must agree exactly; where prost refuses
                // them this decoder must not panic (it may refuse too).
                if let (Some(want), Some(got)) = (reference(&m), ours(&m)) {
                    both_ok += 1;
                    assert_eq!(got, want);
                }
            }
        }
        assert!(both_ok > cases / 10, "{both_ok} of {cases} compared");
    }

    #[test]
    fn rejects_bad_ids_like_convert() {
        use opentelemetry_proto::tonic::trace::v1 as pt;
        let req = ExportTraceServiceRequest {
            resource_spans: vec![pt::ResourceSpans {
                scope_spans: vec![pt::ScopeSpans {
                    spans: vec![
                        pt::Span {
                            trace_id: vec![1; 16],
                            span_id: vec![0; 8],
                            name: "zero".into(),
                            ..Default::default()
                        },
                        pt::Span {
                            trace_id: vec![1; 16],
                            span_id: vec![2; 8],
                            parent_span_id: vec![0; 8],
                            name: "ok".into(),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let buf = req.encode_to_vec();
        assert_eq!(ours(&buf), reference(&buf));
        let d = decode_request(&buf, &mut Names::default()).expect("valid");
        assert_eq!(
            d.problems,
            vec!["span \"zero\": span_id id is all zeros".to_owned()]
        );
        assert_eq!(d.spans[0].parent_span_id, None);
    }
}
