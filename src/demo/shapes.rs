//! One trace of a chosen shape and size, for the per-trace analysis benchmarks
//! (`benches/analysis.rs`), the end-to-end timing of one huge trace (`examples/gen_trace.rs`)
//! and the tests that no analysis step is quadratic or recursive on wide and deep trees.
//!
//! Deterministic for a shape, size and trace number. Children always lie inside their parent,
//! so every span takes part in the critical path, self time and fan-out analyses.

use std::collections::VecDeque;
use std::sync::Arc;

use super::rng::Rng;
use crate::model::{
    AnyValue, Event, KeyValue, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Sym,
    TraceId,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One root with every other span a sequential database call under it (an N+1 of `n - 1`).
    Wide,
    /// One chain `n` deep: client and server spans of four services, each inside its parent.
    Deep,
    /// What a large batch job's trace looks like: a gateway, services fanning out in parallel,
    /// database loops, nested middleware, Lambda functions with cold starts, a few errors.
    Mixed,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Wide => "wide",
            Shape::Deep => "deep",
            Shape::Mixed => "mixed",
        }
    }
}

const BASE_NS: u64 = 1_700_000_000_000_000_000;
const SERVICES: [&str; 6] = [
    "gateway",
    "orders",
    "catalog",
    "pricing",
    "resize-fn",
    "notify-fn",
];
/// Services from this index on are Lambda functions (FaaS resources).
const FIRST_FUNCTION: usize = 4;
const INSTANCES: usize = 3;

/// The spans of one trace of `shape` with `n` spans (at least 1), trace id `trace_no`.
pub fn trace(shape: Shape, n: usize, trace_no: u64) -> Vec<Span> {
    let mut g = Gen::new(trace_no, n);
    match shape {
        Shape::Wide => g.wide(),
        Shape::Deep => g.deep(),
        Shape::Mixed => g.mixed(),
    }
    // A server's last few spans may go past `n`; parents come before their children, so the
    // cut leaves a whole tree.
    g.spans.truncate(n);
    g.spans
}

struct Gen {
    trace_id: TraceId,
    n: usize,
    spans: Vec<Span>,
    /// Per service, one resource per instance.
    resources: Vec<Vec<Arc<Resource>>>,
    scope: Arc<Scope>,
    rng: Rng,
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue::new(k, AnyValue::Str(v.into()))
}

impl Gen {
    fn new(trace_no: u64, n: usize) -> Self {
        let resources = SERVICES
            .iter()
            .enumerate()
            .map(|(s, name)| {
                (0..INSTANCES)
                    .map(|k| {
                        let mut attrs = vec![
                            kv("service.name", name),
                            kv("service.instance.id", &format!("{name}-{k}")),
                            kv("host.name", &format!("node-{s}-{k}")),
                        ];
                        if s >= FIRST_FUNCTION {
                            attrs.push(kv("cloud.platform", "aws_lambda"));
                            attrs.push(kv("faas.name", name));
                            attrs.push(kv("faas.instance", &format!("2026/12/03/[$LATEST]{k}")));
                        }
                        Arc::new(Resource::new(attrs))
                    })
                    .collect()
            })
            .collect();
        Gen {
            trace_id: TraceId::from_u128(0x7ace << 112 | u128::from(trace_no))
                .expect("the high bits make it non-zero"),
            n: n.max(1),
            spans: Vec::with_capacity(n),
            resources,
            scope: Arc::new(Scope {
                name: "shapes".into(),
                ..Scope::default()
            }),
            rng: Rng::new(trace_no),
        }
    }

    fn full(&self) -> bool {
        self.spans.len() >= self.n
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        parent: Option<SpanId>,
        svc: usize,
        inst: usize,
        name: &str,
        kind: SpanKind,
        (start, end): (u64, u64),
        attributes: Vec<KeyValue>,
    ) -> SpanId {
        let id = self.spans.len() as u64 + 1;
        let span_id = SpanId::from_u64(id).expect("ids start at 1");
        self.spans.push(Span {
            trace_id: self.trace_id,
            span_id,
            parent_span_id: parent,
            name: Sym::new(name),
            kind,
            flags: 0x101,
            start_ns: BASE_NS + start,
            end_ns: BASE_NS + end,
            status: Status::default(),
            attributes: attributes.into_boxed_slice(),
            events: Box::new([]),
            links: Box::new([]),
            resource: Arc::clone(&self.resources[svc][inst]),
            scope: Arc::clone(&self.scope),
            extra: None,
        });
        span_id
    }

    fn db_call(&mut self, parent: SpanId, svc: usize, at: (u64, u64)) {
        self.push(
            Some(parent),
            svc,
            0,
            "SELECT items",
            SpanKind::Client,
            at,
            vec![
                kv("db.system.name", "postgresql"),
                kv("db.query.text", "SELECT * FROM items WHERE id = $1"),
            ],
        );
    }

    fn wide(&mut self) {
        let children = (self.n - 1) as u64;
        let root = self.push(
            None,
            0,
            0,
            "GET /export",
            SpanKind::Server,
            (0, 10_000 * (children + 1)),
            vec![kv("http.request.method", "GET")],
        );
        for k in 0..children {
            let s = 10_000 * k + 5_000;
            self.db_call(root, 1, (s, s + 8_000));
        }
    }

    fn deep(&mut self) {
        // Span k: [k µs, (2n - k) µs]; even spans serve, odd ones call the next service.
        let n = self.n as u64;
        let mut parent = None;
        for k in 0..n {
            let svc = ((k / 2) % 4) as usize;
            let (kind, name) = if k % 2 == 0 {
                (SpanKind::Server, "handle")
            } else {
                (SpanKind::Client, "call")
            };
            let at = (k * 1_000, (2 * n - k) * 1_000);
            parent = Some(self.push(parent, svc, 0, name, kind, at, Vec::new()));
        }
    }

    fn mixed(&mut self) {
        // (server span, service, start, end, depth): breadth first, so the size cut keeps
        // every level of the tree.
        let mut queue: VecDeque<(SpanId, usize, u64, u64, u32)> = VecDeque::new();
        let end = 600_000_000_000; // a 10-minute batch job
        let root = self.push(
            None,
            0,
            0,
            "POST /batch",
            SpanKind::Server,
            (0, end),
            vec![kv("http.request.method", "POST")],
        );
        queue.push_back((root, 0, 0, end, 0));
        while let Some((server, svc, s, e, depth)) = queue.pop_front() {
            if self.full() {
                break;
            }
            self.serve(server, svc, (s, e), depth, &mut queue);
        }
    }

    /// The work of one server span: maybe a cold start, maybe nested middleware, a database
    /// loop in the first third, a parallel fan-out to other services in the rest.
    fn serve(
        &mut self,
        mut server: SpanId,
        svc: usize,
        (s, e): (u64, u64),
        depth: u32,
        queue: &mut VecDeque<(SpanId, usize, u64, u64, u32)>,
    ) {
        let len = e - s;
        if len < 10_000 {
            return;
        }
        let mut lo = s + len / 50;
        let hi = e - len / 50;
        if svc >= FIRST_FUNCTION && self.rng.chance(0.2) {
            let init = (lo, lo + (hi - lo) / 10);
            self.push(
                Some(server),
                svc,
                0,
                "Initialization",
                SpanKind::Internal,
                init,
                Vec::new(),
            );
            lo = init.1;
        }
        if self.rng.chance(0.1) {
            for k in 0..5 {
                let pad = (hi - lo) / 100 * k;
                server = self.push(
                    Some(server),
                    svc,
                    0,
                    "middleware",
                    SpanKind::Internal,
                    (lo + pad, hi - pad),
                    Vec::new(),
                );
            }
        }
        let third = lo + (hi - lo) / 3;
        let loops = self.rng.range(0, 12);
        let slot = (third - lo) / (loops + 1);
        for k in 0..loops {
            if self.full() {
                return;
            }
            let at = (lo + k * slot + 1, lo + (k + 1) * slot);
            self.db_call(server, svc, at);
            if self.rng.chance(0.01) {
                self.fail_last();
            }
        }
        let fan = if depth < 12 { self.rng.range(1, 6) } else { 0 };
        for _ in 0..fan {
            if self.full() {
                return;
            }
            let callee =
                (svc + 1 + self.rng.range(0, SERVICES.len() as u64 - 2) as usize) % SERVICES.len();
            let cs = third + (hi - third) / 20 * self.rng.range(0, 3);
            let ce = hi - (hi - third) / 20 * self.rng.range(0, 3);
            let op = [
                "GetItem",
                "Reprice",
                "Resize",
                "Notify",
                "ListOrders",
                "Reserve",
            ][callee];
            let client = self.push(
                Some(server),
                svc,
                0,
                op,
                SpanKind::Client,
                (cs, ce),
                vec![kv("rpc.system", "grpc")],
            );
            if self.full() {
                return;
            }
            let inst = self.rng.range(0, INSTANCES as u64 - 1) as usize;
            let gap = (ce - cs) / 50;
            let at = (cs + gap, ce - gap);
            let callee_span = self.push(
                Some(client),
                callee,
                inst,
                op,
                SpanKind::Server,
                at,
                Vec::new(),
            );
            queue.push_back((callee_span, callee, at.0, at.1, depth + 1));
        }
    }

    /// Marks the last span failed with an exception event, as the SDKs record errors.
    fn fail_last(&mut self) {
        if let Some(s) = self.spans.last_mut() {
            s.status = Status {
                code: StatusCode::Error,
                message: Some("deadlock detected".into()),
            };
            s.events = Box::new([Event {
                time_ns: s.end_ns,
                name: "exception".into(),
                attributes: Box::new([kv("exception.type", "DbError")]),
                dropped_attributes_count: 0,
            }]);
        }
    }
}
