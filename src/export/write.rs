//! Writing spans back out: OTLP JSON lines (what the Collector's file exporter writes and its
//! `otlpjsonfile` receiver reads) and OTLP protobuf in the file exporter's length-prefixed
//! framing. Both read back through `read_path` to the same spans. Span logs (log records
//! that name a span) go as OTLP/JSON `LogsData` lines among the trace lines, as the file
//! exporter writes every signal to one file; the protobuf framing holds trace requests only.
//!
//! JSON is encoded by hand from the model, not through opentelemetry-proto's serde: that maps
//! a NaN or infinite `doubleValue` to `null` (lossy), and going through the proto types would
//! copy every string once more.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;

use base64::Engine as _;
use prost::Message;

use crate::export::otlp as convert;
use crate::model::{AnyValue, KeyValue, Resource, Scope, Span, SpanLog, StatusCode};

/// The formats `convert` and the recorder write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One `ExportTraceServiceRequest` per line.
    OtlpJson,
    /// `ExportTraceServiceRequest` messages, each after its 4-byte big-endian length.
    OtlpProto,
}

/// Writes batches of spans as records of one format.
pub struct TraceWriter<W: Write> {
    out: W,
    format: OutputFormat,
    buf: Vec<u8>,
    text: String,
    pub records: u64,
    pub spans: u64,
    /// Span logs written, and those the format could not hold (protobuf).
    pub logs: u64,
    pub logs_not_written: u64,
}

impl<W: Write> TraceWriter<W> {
    pub fn new(out: W, format: OutputFormat) -> Self {
        TraceWriter {
            out,
            format,
            buf: Vec::new(),
            text: String::new(),
            records: 0,
            spans: 0,
            logs: 0,
            logs_not_written: 0,
        }
    }

    /// Writes one record holding `spans` (nothing for an empty slice).
    pub fn write(&mut self, spans: &[Span]) -> io::Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        match self.format {
            OutputFormat::OtlpJson => {
                self.text.clear();
                otlp_json_line(spans, &mut self.text);
                self.out.write_all(self.text.as_bytes())?;
            }
            OutputFormat::OtlpProto => {
                self.buf.clear();
                otlp_proto_record(spans, &mut self.buf)?;
                self.out.write_all(&self.buf)?;
            }
        }
        self.records += 1;
        self.spans += spans.len() as u64;
        Ok(())
    }

    /// Writes one `LogsData` record holding `logs` in OTLP JSON lines; in protobuf they are
    /// only counted in `logs_not_written`.
    pub fn write_logs(&mut self, logs: &[SpanLog]) -> io::Result<()> {
        if logs.is_empty() {
            return Ok(());
        }
        match self.format {
            OutputFormat::OtlpJson => {
                self.out.write_all(&logs_json_line(logs))?;
                self.records += 1;
                self.logs += logs.len() as u64;
            }
            OutputFormat::OtlpProto => self.logs_not_written += logs.len() as u64,
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One OTLP/JSON `LogsData` line, newline included: what `SpanLog` keeps of each record
/// (time, severity, body as a string, trace and span ids).
pub fn logs_json_line(logs: &[SpanLog]) -> Vec<u8> {
    let records: Vec<serde_json::Value> = logs
        .iter()
        .map(|l| {
            serde_json::json!({
                "timeUnixNano": l.time_ns.to_string(),
                "severityText": &*l.severity,
                "body": { "stringValue": &*l.body },
                "traceId": l.trace_id.to_string(),
                "spanId": l.span_id.to_string(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "resourceLogs": [{ "resource": {}, "scopeLogs": [{ "scope": {}, "logRecords": records }] }]
    });
    let mut line = doc.to_string().into_bytes();
    line.push(b'\n');
    line
}

/// One length-prefixed protobuf `ExportTraceServiceRequest`.
pub fn otlp_proto_record(spans: &[Span], out: &mut Vec<u8>) -> io::Result<()> {
    let req = convert::spans_to_request(spans);
    let len = u32::try_from(req.encoded_len())
        .map_err(|_| io::Error::other("batch too large for one length-prefixed message"))?;
    out.reserve(4 + len as usize);
    out.extend_from_slice(&len.to_be_bytes());
    req.encode(out).map_err(io::Error::other)
}

/// One `ExportTraceServiceRequest` as a JSON line (newline included). Spans that share a
/// resource and scope (`Arc`) and come together share one block, as in `spans_to_request`.
pub fn otlp_json_line(spans: &[Span], s: &mut String) {
    s.reserve(spans.len() * 512);
    s.push_str(r#"{"resourceSpans":["#);
    let mut i = 0;
    let mut first_rs = true;
    while i < spans.len() {
        let res = &spans[i].resource;
        let res_end = i + spans[i..]
            .iter()
            .position(|x| !Arc::ptr_eq(&x.resource, res))
            .unwrap_or(spans.len() - i);
        if !first_rs {
            s.push(',');
        }
        first_rs = false;
        resource_spans(s, res, &spans[i..res_end]);
        i = res_end;
    }
    s.push_str("]}\n");
}

fn resource_spans(s: &mut String, res: &Resource, spans: &[Span]) {
    s.push_str(r#"{"resource":{"attributes":"#);
    attributes(s, &res.attributes);
    if res.dropped_attributes_count != 0 {
        let _ = write!(
            s,
            r#","droppedAttributesCount":{}"#,
            res.dropped_attributes_count
        );
    }
    s.push_str(r#"},"scopeSpans":["#);
    let mut i = 0;
    while i < spans.len() {
        let scope = &spans[i].scope;
        let end = i + spans[i..]
            .iter()
            .position(|x| !Arc::ptr_eq(&x.scope, scope))
            .unwrap_or(spans.len() - i);
        if i > 0 {
            s.push(',');
        }
        scope_spans(s, scope, &spans[i..end]);
        i = end;
    }
    s.push(']');
    opt_str_field(s, "schemaUrl", res.schema_url.as_deref());
    s.push('}');
}

fn scope_spans(s: &mut String, scope: &Scope, spans: &[Span]) {
    s.push_str(r#"{"scope":{"name":"#);
    json_str(s, &scope.name);
    opt_str_field(s, "version", scope.version.as_deref());
    if !scope.attributes.is_empty() {
        s.push_str(r#","attributes":"#);
        attributes(s, &scope.attributes);
    }
    if scope.dropped_attributes_count != 0 {
        let _ = write!(
            s,
            r#","droppedAttributesCount":{}"#,
            scope.dropped_attributes_count
        );
    }
    s.push_str(r#"},"spans":["#);
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write_span(s, span);
    }
    s.push(']');
    opt_str_field(s, "schemaUrl", scope.schema_url.as_deref());
    s.push('}');
}

fn write_span(s: &mut String, sp: &Span) {
    let _ = write!(
        s,
        r#"{{"traceId":"{}","spanId":"{}""#,
        sp.trace_id, sp.span_id
    );
    if let Some(p) = sp.parent_span_id {
        let _ = write!(s, r#","parentSpanId":"{p}""#);
    }
    let extra = sp.extra.as_deref();
    opt_str_field(
        s,
        "traceState",
        extra.and_then(|x| x.trace_state.as_deref()),
    );
    if sp.flags != 0 {
        let _ = write!(s, r#","flags":{}"#, sp.flags);
    }
    s.push_str(r#","name":"#);
    json_str(s, sp.name.as_str());
    let _ = write!(
        s,
        r#","kind":{},"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":"#,
        sp.kind as i32, sp.start_ns, sp.end_ns
    );
    attributes(s, &sp.attributes);
    if let Some(x) = extra {
        for (name, v) in [
            ("droppedAttributesCount", x.dropped_attributes_count),
            ("droppedEventsCount", x.dropped_events_count),
            ("droppedLinksCount", x.dropped_links_count),
        ] {
            if v != 0 {
                let _ = write!(s, r#","{name}":{v}"#);
            }
        }
    }
    if !sp.events.is_empty() {
        s.push_str(r#","events":["#);
        for (i, e) in sp.events.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, r#"{{"timeUnixNano":"{}","name":"#, e.time_ns);
            json_str(s, &e.name);
            s.push_str(r#","attributes":"#);
            attributes(s, &e.attributes);
            if e.dropped_attributes_count != 0 {
                let _ = write!(
                    s,
                    r#","droppedAttributesCount":{}"#,
                    e.dropped_attributes_count
                );
            }
            s.push('}');
        }
        s.push(']');
    }
    if !sp.links.is_empty() {
        s.push_str(r#","links":["#);
        for (i, l) in sp.links.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                r#"{{"traceId":"{}","spanId":"{}""#,
                l.trace_id, l.span_id
            );
            opt_str_field(s, "traceState", l.trace_state.as_deref());
            s.push_str(r#","attributes":"#);
            attributes(s, &l.attributes);
            if l.dropped_attributes_count != 0 {
                let _ = write!(
                    s,
                    r#","droppedAttributesCount":{}"#,
                    l.dropped_attributes_count
                );
            }
            if l.flags != 0 {
                let _ = write!(s, r#","flags":{}"#, l.flags);
            }
            s.push('}');
        }
        s.push(']');
    }
    if sp.status.code != StatusCode::Unset || sp.status.message.is_some() {
        s.push_str(r#","status":{"#);
        let _ = write!(s, r#""code":{}"#, sp.status.code as i32);
        opt_str_field(s, "message", sp.status.message.as_deref());
        s.push('}');
    }
    s.push('}');
}

fn attributes(s: &mut String, attrs: &[KeyValue]) {
    s.push('[');
    for (i, kv) in attrs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#"{"key":"#);
        json_str(s, kv.key.as_str());
        s.push_str(r#","value":"#);
        any_value(s, &kv.value);
        s.push('}');
    }
    s.push(']');
}

fn any_value(s: &mut String, v: &AnyValue) {
    match v {
        AnyValue::Str(x) => {
            s.push_str(r#"{"stringValue":"#);
            json_str(s, x);
        }
        AnyValue::Bool(b) => {
            let _ = write!(s, r#"{{"boolValue":{b}"#);
        }
        // 64-bit integers are strings in OTLP/JSON, so JavaScript readers keep every digit.
        AnyValue::Int(i) => {
            let _ = write!(s, r#"{{"intValue":"{i}""#);
        }
        AnyValue::Double(d) if d.is_nan() => s.push_str(r#"{"doubleValue":"NaN""#),
        AnyValue::Double(d) if d.is_infinite() => {
            let text = if *d > 0.0 { "Infinity" } else { "-Infinity" };
            let _ = write!(s, r#"{{"doubleValue":"{text}""#);
        }
        // Debug prints the shortest text that parses back to the same bits.
        AnyValue::Double(d) => {
            let _ = write!(s, r#"{{"doubleValue":{d:?}"#);
        }
        AnyValue::Bytes(b) => {
            s.push_str(r#"{"bytesValue":""#);
            base64::engine::general_purpose::STANDARD.encode_string(b, s);
            s.push('"');
        }
        AnyValue::Array(a) => {
            s.push_str(r#"{"arrayValue":{"values":["#);
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                any_value(s, v);
            }
            s.push_str("]}");
        }
        AnyValue::KvList(kv) => {
            s.push_str(r#"{"kvlistValue":{"values":"#);
            attributes(s, kv);
            s.push('}');
        }
        AnyValue::Empty => s.push('{'),
    }
    s.push('}');
}

fn opt_str_field(s: &mut String, name: &str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        let _ = write!(s, r#","{name}":"#);
        json_str(s, v);
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
fn json_str(s: &mut String, v: &str) {
    s.reserve(v.len() + 2);
    s.push('"');
    let mut start = 0;
    for (i, c) in v.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        s.push_str(&v[start..i]);
        if esc.is_empty() {
            let _ = write!(s, "\\u{:04x}", c as u32);
        } else {
            s.push_str(esc);
        }
        start = i + c.len_utf8();
    }
    s.push_str(&v[start..]);
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_what_json_requires() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        let back: String = serde_json::from_str(&s).expect("valid JSON string");
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
