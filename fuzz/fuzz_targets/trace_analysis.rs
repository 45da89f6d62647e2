//! The per-trace analysis over arbitrary span sets: ids and parents from a small range (so
//! duplicates, cycles, self-parents and orphans happen), any times, kinds and the attributes
//! the analyses read, with arbitrary (also non-ASCII) values. Then the engine's aggregates.
#![no_main]
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use spantop::analysis::engine::{AnalysisConfig, Engine, analyse_trace};
use spantop::model::{
    AnyValue, Batch, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode,
    Sym, TraceId,
};
use spantop::store::Trace;

const KEYS: [&str; 12] = [
    "faas.coldstart",
    "process.creation.time",
    "faas.invocation_id",
    "faas.instance",
    "http.route",
    "peer.service",
    "db.system",
    "db.statement",
    "messaging.system",
    "rpc.method",
    "cloud.resource_id",
    "process.pid",
];
const SERVICES: [&str; 4] = ["api", "orders", "Initialization", "db"];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u64(&mut self, n: usize) -> u64 {
        (0..n).fold(0, |acc, _| (acc << 8) | u64::from(self.u8()))
    }
    fn text(&mut self) -> String {
        let n = usize::from(self.u8() % 24);
        let bytes: Vec<u8> = (0..n).map(|_| self.u8()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn value(b: &mut Bytes<'_>) -> AnyValue {
    match b.u8() % 5 {
        0 => AnyValue::Bool(b.u8() % 2 == 0),
        1 => AnyValue::Int(b.u64(8) as i64),
        2 => AnyValue::Double(f64::from_bits(b.u64(8))),
        _ => AnyValue::Str(b.text().into()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let resources: Vec<Arc<Resource>> = SERVICES
        .iter()
        .map(|s| {
            Arc::new(Resource::new(vec![KeyValue::new(
                "service.name",
                AnyValue::Str((*s).into()),
            )]))
        })
        .collect();
    let scope = Arc::new(Scope::default());
    let trace_id = TraceId::from_u128(1).expect("non-zero");
    let mut spans = Vec::new();
    while !b.0.is_empty() && spans.len() < 64 {
        let id = u64::from(b.u8() % 16) + 1;
        let parent = b.u8() % 17;
        let start = b.u64(4) * 1_000;
        let end = start
            .wrapping_add(b.u64(3) * 1_000)
            .wrapping_sub(u64::from(b.u8() % 2) * 5_000_000);
        let kind = match b.u8() % 6 {
            0 => SpanKind::Unspecified,
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            _ => SpanKind::Consumer,
        };
        let n_attrs = b.u8() % 4;
        let attributes = (0..n_attrs)
            .map(|_| {
                let key = KEYS[usize::from(b.u8()) % KEYS.len()];
                KeyValue::new(key, value(&mut b))
            })
            .collect::<Vec<_>>();
        let links = if b.u8() % 5 == 0 {
            vec![Link {
                trace_id: TraceId::from_u128(u128::from(b.u8() % 3) + 1).expect("non-zero"),
                span_id: SpanId::from_u64(u64::from(b.u8() % 16) + 1).expect("non-zero"),
                attributes: Box::new([]),
                trace_state: None,
                flags: 0,
                dropped_attributes_count: 0,
            }]
        } else {
            Vec::new()
        };
        let code = match b.u8() % 3 {
            0 => StatusCode::Unset,
            1 => StatusCode::Ok,
            _ => StatusCode::Error,
        };
        spans.push(Span {
            trace_id,
            span_id: SpanId::from_u64(id).expect("non-zero"),
            parent_span_id: SpanId::from_u64(u64::from(parent)),
            name: Sym::new(&b.text()),
            kind,
            flags: 0,
            start_ns: start,
            end_ns: end,
            status: Status {
                code,
                message: None,
            },
            attributes: attributes.into_boxed_slice(),
            events: Box::new([]),
            links: links.into_boxed_slice(),
            resource: Arc::clone(&resources[usize::from(b.u8()) % resources.len()]),
            scope: Arc::clone(&scope),
            extra: None,
        });
    }
    // Through the store, as live ingest builds traces (duplicates dropped there).
    let mut store = spantop::store::SpanStore::new(spantop::store::StoreConfig::default());
    store.ingest(Batch::new(spans.clone()), std::time::Instant::now());
    store.complete_all();
    let config = AnalysisConfig::default();
    let mut engine = Engine::new(config);
    for t in store.take_completed() {
        let _ = analyse_trace(&t, &config);
        engine.add_trace(&t);
    }
    // And raw, duplicates and all, as a file's spans may arrive.
    let _ = analyse_trace(&Trace::from_spans(trace_id, spans), &config);
});
