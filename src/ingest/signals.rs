//! Logs and metrics, the two signals spantop receives but does not analyse. SDKs send all
//! three signals to one endpoint by default, so both are accepted on both transports: log
//! records that name a span are kept with it (shown in the span's detail), the rest and every
//! metric data point are counted and discarded.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::logs::v1 as pl;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use serde_json::{Map, Value};

use super::otlp::{convert, json as j};
use crate::model::{SpanId, SpanLog, TraceId};

/// Longer bodies are cut (at a character boundary): the detail view shows a line or two.
const MAX_BODY_CHARS: usize = 2048;

/// The records of one logs request, and those of them that name a span.
#[derive(Debug, Default)]
pub struct Logs {
    pub records: u64,
    pub with_span: Vec<SpanLog>,
}

/// Keeps the records of a decoded request that carry valid trace and span ids.
pub fn logs_from_proto(req: ExportLogsServiceRequest) -> Logs {
    let mut out = Logs::default();
    for rl in req.resource_logs {
        for sl in rl.scope_logs {
            for r in sl.log_records {
                out.records += 1;
                if let Some(log) = span_log(r) {
                    out.with_span.push(log);
                }
            }
        }
    }
    out
}

fn span_log(r: pl::LogRecord) -> Option<SpanLog> {
    let trace_id = TraceId::from_bytes(&r.trace_id).ok()?;
    let span_id = SpanId::from_bytes(&r.span_id).ok()?;
    let severity = if r.severity_text.is_empty() {
        severity_name(r.severity_number).into()
    } else {
        r.severity_text.into_boxed_str()
    };
    let body = match r.body.map(convert::any_value_from_proto) {
        Some(v) => v.to_string().chars().take(MAX_BODY_CHARS).collect(),
        None => String::new(),
    };
    Some(SpanLog {
        trace_id,
        span_id,
        // Records without a time of their own carry the time they were observed.
        time_ns: if r.time_unix_nano != 0 {
            r.time_unix_nano
        } else {
            r.observed_time_unix_nano
        },
        severity,
        body: body.into_boxed_str(),
    })
}

/// The short names of OTLP's severity number ranges.
fn severity_name(n: i32) -> &'static str {
    match n {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "",
    }
}

/// Metric data points in a request, over every kind of metric.
pub fn metric_points_proto(req: &ExportMetricsServiceRequest) -> u64 {
    let mut n = 0;
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                n += match &m.data {
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                } as u64;
            }
        }
    }
    n
}

fn object(bytes: &[u8], top: (&str, &str)) -> Result<Vec<Value>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    items(value, top)
}

fn items(value: Value, top: (&str, &str)) -> Result<Vec<Value>, String> {
    let Value::Object(mut o) = value else {
        return Err(format!(
            "expected a JSON object, found {}",
            j::type_name(&value)
        ));
    };
    Ok(j::array(j::take(&mut o, top.0, top.1)).collect())
}

fn nested(v: Value, key: (&str, &str)) -> impl Iterator<Item = Value> {
    match v {
        Value::Object(mut o) => j::array(j::take(&mut o, key.0, key.1)),
        _ => j::array(None),
    }
}

/// Decodes an OTLP/JSON logs request as leniently as trace requests are (hex or base64 ids,
/// integers as strings, snake_case keys); `{}` is an empty request.
pub fn logs_from_json(bytes: &[u8]) -> Result<Logs, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    logs_from_value(value)
}

/// `logs_from_json` for a document already parsed (a line of a recording, say).
pub fn logs_from_value(value: Value) -> Result<Logs, String> {
    let mut req = ExportLogsServiceRequest::default();
    let mut records = Vec::new();
    for rl in items(value, ("resourceLogs", "resource_logs"))? {
        for sl in nested(rl, ("scopeLogs", "scope_logs")) {
            for r in nested(sl, ("logRecords", "log_records")) {
                let Value::Object(mut o) = r else { continue };
                records.push(log_record(&mut o));
            }
        }
    }
    req.resource_logs.push(pl::ResourceLogs {
        scope_logs: vec![pl::ScopeLogs {
            log_records: records,
            ..Default::default()
        }],
        ..Default::default()
    });
    Ok(logs_from_proto(req))
}

fn log_record(o: &mut Map<String, Value>) -> pl::LogRecord {
    let time = |o: &mut Map<String, Value>, camel, snake| {
        j::u64_of(j::take(o, camel, snake).as_ref()).unwrap_or(0)
    };
    pl::LogRecord {
        time_unix_nano: time(o, "timeUnixNano", "time_unix_nano"),
        observed_time_unix_nano: time(o, "observedTimeUnixNano", "observed_time_unix_nano"),
        severity_number: j::take(o, "severityNumber", "severity_number")
            .as_ref()
            .and_then(j::i64_of)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0),
        severity_text: j::string(j::take(o, "severityText", "severity_text")),
        body: j::take(o, "body", "body").map(|v| j::any_value(v, 0)),
        trace_id: j::id_bytes(j::take(o, "traceId", "trace_id").as_ref(), 16),
        span_id: j::id_bytes(j::take(o, "spanId", "span_id").as_ref(), 8),
        ..Default::default()
    }
}

/// Counts the data points of an OTLP/JSON metrics request.
pub fn metric_points_json(bytes: &[u8]) -> Result<u64, String> {
    const KINDS: [(&str, &str); 5] = [
        ("gauge", "gauge"),
        ("sum", "sum"),
        ("histogram", "histogram"),
        ("exponentialHistogram", "exponential_histogram"),
        ("summary", "summary"),
    ];
    let mut n = 0;
    for rm in object(bytes, ("resourceMetrics", "resource_metrics"))? {
        for sm in nested(rm, ("scopeMetrics", "scope_metrics")) {
            for m in nested(sm, ("metrics", "metrics")) {
                let Value::Object(mut o) = m else { continue };
                for kind in KINDS {
                    if let Some(data) = j::take(&mut o, kind.0, kind.1) {
                        n += nested(data, ("dataPoints", "data_points")).count() as u64;
                    }
                }
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_logs_keep_the_records_that_name_a_span() {
        let json = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
            {"timeUnixNano":"1700000000000000001","severityNumber":9,"body":{"stringValue":"hello"},
             "traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"},
            {"observedTimeUnixNano":1700000000000000002,"severityText":"warning","body":{"intValue":"7"},
             "trace_id":"AQIDBAUGBwgJCgsMDQ4PEA==","span_id":"AQIDBAUGBwg="},
            {"body":{"stringValue":"no ids"}},
            {"traceId":"00000000000000000000000000000000","spanId":"0102030405060708"}
        ]}]}]}"#;
        let logs = logs_from_json(json).expect("decodes");
        assert_eq!(logs.records, 4);
        assert_eq!(logs.with_span.len(), 2);
        let first = &logs.with_span[0];
        assert_eq!(first.time_ns, 1_700_000_000_000_000_001);
        assert_eq!(&*first.severity, "INFO");
        assert_eq!(&*first.body, "hello");
        let second = &logs.with_span[1];
        assert_eq!(second.trace_id, first.trace_id);
        assert_eq!(second.span_id, first.span_id);
        assert_eq!(second.time_ns, 1_700_000_000_000_000_002);
        assert_eq!(&*second.severity, "warning");
        assert_eq!(&*second.body, "7");
        assert!(logs_from_json(b"[1]").is_err());
        assert_eq!(logs_from_json(b"{}").expect("empty").records, 0);
    }

    #[test]
    fn json_metrics_count_every_kind_of_point() {
        let json = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"name":"a","gauge":{"dataPoints":[{"asDouble":1},{"asDouble":2}]}},
            {"name":"b","sum":{"dataPoints":[{"asInt":"1"}],"isMonotonic":true}},
            {"name":"c","histogram":{"dataPoints":[{"count":"3"}]}},
            {"name":"d","exponential_histogram":{"data_points":[{"count":"3"}]}},
            {"name":"e","summary":{"dataPoints":[]}}
        ]}]}]}"#;
        assert_eq!(metric_points_json(json).expect("decodes"), 5);
        assert!(metric_points_json(b"not json").is_err());
    }

    #[test]
    fn long_bodies_are_cut_at_a_character() {
        let body = "é".repeat(MAX_BODY_CHARS + 10);
        let record = pl::LogRecord {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            body: Some(j::any_value(Value::String(body), 0)),
            ..Default::default()
        };
        let log = span_log(record).expect("has ids");
        assert_eq!(log.body.chars().count(), MAX_BODY_CHARS);
    }
}
