//! "shopfast": the simulated system. An API gateway in front of four Lambda-style functions and
//! a handful of microservices, with each problem spantop is built to find planted in it:
//! cold starts (new function instances, `Initialization` spans), an N+1 loop (order-service
//! reads stock item by item), a parallel fan-out (catalog-service), a slow edge (the
//! order -> payment client span is far longer than the server span), errors that start in a
//! database call and propagate to the gateway, and SQS messaging whose consumer runs in a trace
//! of its own, linked to the producers.
//!
//! Time is simulated: callers pass the start of each request, and every span's times follow
//! from latencies drawn from a seeded `Rng`, so the same seed gives the same traces.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use super::rng::{Rng, ms};
use crate::model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode,
    Sym, TraceId,
};

pub const FAAS_COLDSTART: &str = "faas.coldstart";
pub const INIT_SPAN_NAME: &str = "Initialization";

/// Knobs of the simulated system.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    pub seed: u64,
    /// How long a function instance lives before the platform recycles it (simulated time).
    /// Short lifetimes keep cold starts coming in a long-running demo.
    pub instance_lifetime_ms: (f64, f64),
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            seed: 42,
            instance_lifetime_ms: (30_000.0, 90_000.0),
        }
    }
}

/// The user-facing request kinds, in the proportions the simulator sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    BrowseProduct,
    PlaceOrder,
    OrderFailure,
}

#[derive(Clone, Copy)]
enum Svc {
    Gateway,
    Catalog,
    Pricing,
    Inventory,
    Reviews,
    Recommendation,
    Order,
    Payment,
    Customer,
}

const SERVICES: [(&str, &str); 9] = [
    ("api-gateway", "3.4.1"),
    ("catalog-service", "2.8.0"),
    ("pricing-service", "1.4.2"),
    ("inventory-service", "4.2.0"),
    ("reviews-service", "1.3.7"),
    ("recommendation-service", "0.9.5"),
    ("order-service", "5.0.3"),
    ("payment-service", "2.1.0"),
    ("customer-service", "1.12.4"),
];

const PODS_PER_SERVICE: usize = 3;

#[derive(Clone, Copy)]
enum Fun {
    Auth,
    Checkout,
    Reco,
    Notification,
}

struct FunctionSpec {
    name: &'static str,
    runtime: &'static str,
    memory_mb: i64,
    init_median_ms: f64,
}

const FUNCTIONS: [FunctionSpec; 4] = [
    FunctionSpec {
        name: "auth-authorizer",
        runtime: "nodejs",
        memory_mb: 256,
        init_median_ms: 250.0,
    },
    FunctionSpec {
        name: "checkout-fn",
        runtime: "java",
        memory_mb: 1024,
        init_median_ms: 1000.0,
    },
    FunctionSpec {
        name: "reco-model-fn",
        runtime: "python",
        memory_mb: 3008,
        init_median_ms: 1400.0,
    },
    FunctionSpec {
        name: "notification-fn",
        runtime: "python",
        memory_mb: 512,
        init_median_ms: 430.0,
    },
];

struct Instance {
    resource: Arc<Resource>,
    busy_until: u64,
    retire_at: u64,
}

/// The execution environments of one function. A Lambda environment serves one request at a
/// time: an invocation reuses an idle one (warm) or the platform starts a new one (cold).
#[derive(Default)]
struct Pool {
    instances: Vec<Instance>,
    busy: BinaryHeap<Reverse<(u64, usize)>>,
    idle: Vec<usize>,
    /// Slots of retired instances, reused so the pool does not grow without bound.
    free: Vec<usize>,
}

/// How far down the idle stack to look for an instance free at `t`. Requests are generated
/// slightly out of time order (a trace's nested calls run later than the next trace's start),
/// so the top of the stack may still be busy at an earlier `t`.
const IDLE_SCAN: usize = 8;

struct Message {
    trace_id: TraceId,
    span_id: SpanId,
    sent_at: u64,
}

pub struct Shop {
    rng: Rng,
    config: ShopConfig,
    scope: Arc<Scope>,
    /// Pods of each microservice, indexed like `SERVICES`.
    pods: Vec<Vec<Arc<Resource>>>,
    pools: [Pool; 4],
    queue: Vec<Message>,
    /// Messages the consumer takes per invocation (SQS batch); drawn anew after each batch.
    batch_target: usize,
    trace_id: TraceId,
    out: Vec<Span>,
    traces: u64,
}

impl Shop {
    pub fn new(config: ShopConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let scope = Arc::new(Scope {
            name: "spantop.demo".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
            ..Scope::default()
        });
        let pods = SERVICES
            .iter()
            .map(|(name, version)| {
                (0..PODS_PER_SERVICE)
                    .map(|_| Arc::new(pod_resource(&mut rng, name, version)))
                    .collect()
            })
            .collect();
        let batch_target = rng.range(1, 3) as usize;
        Shop {
            rng,
            config,
            scope,
            pods,
            pools: Default::default(),
            queue: Vec::new(),
            batch_target,
            trace_id: TraceId::from_u128(1).expect("1 is non-zero"),
            out: Vec::new(),
            traces: 0,
        }
    }

    /// Traces generated so far, async consumer traces included.
    pub fn traces(&self) -> u64 {
        self.traces
    }

    /// Generates one user request starting at `start_ns` (plus, when enough order events are
    /// queued, the consumer trace that processes them) and appends the spans to `out`.
    pub fn request(&mut self, start_ns: u64, out: &mut Vec<Span>) -> Scenario {
        let roll = self.rng.f64();
        let scenario = if roll < 0.55 {
            Scenario::BrowseProduct
        } else if roll < 0.85 {
            Scenario::PlaceOrder
        } else {
            Scenario::OrderFailure
        };
        self.generate(scenario, start_ns, out);
        scenario
    }

    /// Generates one trace of the given scenario.
    pub fn generate(&mut self, scenario: Scenario, start_ns: u64, out: &mut Vec<Span>) {
        self.out = std::mem::take(out);
        self.begin_trace();
        match scenario {
            Scenario::BrowseProduct => self.browse_product(start_ns),
            Scenario::PlaceOrder => self.place_order(start_ns, false),
            Scenario::OrderFailure => self.place_order(start_ns, true),
        }
        if self.queue.len() >= self.batch_target {
            self.begin_trace();
            self.consume_messages();
        }
        *out = std::mem::take(&mut self.out);
    }

    fn begin_trace(&mut self) {
        let v = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
        // A zero id is invalid in OTLP; the chance is nil but the fallback costs nothing.
        self.trace_id = TraceId::from_u128(v).unwrap_or(self.trace_id);
        self.traces += 1;
    }

    // === the scenarios ===

    fn browse_product(&mut self, t0: u64) {
        let gw = self.pod(Svc::Gateway);
        let product = self.rng.range(1000, 9999);
        let mut root = self.open(None, &gw, "GET /products/{id}", SpanKind::Server, t0);
        let auth_at = t0 + self.rng.between(0.2, 0.8);
        let t = self.authorize(root.span_id, &gw, auth_at);
        let path = format!("/products/{product}");
        let call_at = t + self.rng.between(0.1, 0.4);
        let (end, _) = self.http(
            root.span_id,
            &gw,
            Svc::Catalog,
            ("GET", "/products/{id}", &path),
            call_at,
            0,
            |shop, server, res, t| {
                let t = shop.db(server, &res, "SELECT", "catalog", "products", t, 3.0, false);
                shop.catalog_fanout(server, &res, product, t)
            },
        );
        root.end_ns = end + self.rng.between(0.2, 1.0);
        root.attributes = gateway_attrs("GET", "/products/{id}", &path, 200, &mut self.rng);
        self.close(root);
    }

    /// catalog-service asks four services at once and waits for the slowest: the parallel
    /// fan-out, with recommendation -> reco-model-fn as the long (and sometimes cold) branch.
    fn catalog_fanout(
        &mut self,
        parent: SpanId,
        res: &Arc<Resource>,
        product: u64,
        t: u64,
    ) -> (u64, bool) {
        let mut end = t;
        let p = format!("/prices/{product}");
        let (e, _) = self.http(
            parent,
            res,
            Svc::Pricing,
            ("GET", "/prices/{id}", &p),
            t,
            0,
            |s, srv, r, t| {
                (
                    s.db(srv, &r, "SELECT", "pricing", "prices", t, 2.0, false),
                    true,
                )
            },
        );
        end = end.max(e);
        let sku = format!("/inventory/SKU-{product}");
        let (e, _) = self.http(
            parent,
            res,
            Svc::Inventory,
            ("GET", "/inventory/{sku}", &sku),
            t + ms(0.1),
            0,
            |s, srv, r, t| {
                (
                    s.db(srv, &r, "SELECT", "inventory", "stock", t, 4.0, false),
                    true,
                )
            },
        );
        end = end.max(e);
        let rv = format!("/reviews/{product}");
        let (e, _) = self.http(
            parent,
            res,
            Svc::Reviews,
            ("GET", "/reviews/{id}", &rv),
            t + ms(0.2),
            0,
            |s, srv, r, t| {
                (
                    s.db(srv, &r, "SELECT", "reviews", "reviews", t, 8.0, false),
                    true,
                )
            },
        );
        end = end.max(e);
        let rc = format!("/recommendations/{product}");
        let (e, _) = self.http(
            parent,
            res,
            Svc::Recommendation,
            ("GET", "/recommendations/{id}", &rc),
            t + ms(0.3),
            0,
            |s, srv, r, t| {
                let end = s.invoke(srv, &r, Fun::Reco, t + ms(0.5), |s, inv, fr, t| {
                    let mut predict =
                        s.open(Some(inv), &fr, "model.predict", SpanKind::Internal, t);
                    predict.end_ns = t + s.rng.latency(30.0);
                    predict.attributes = vec![kv_str("ml.model.name", "two-tower-v7")].into();
                    let e = predict.end_ns;
                    s.close(predict);
                    (e, true)
                });
                (end.0 + s.rng.between(0.2, 1.0), true)
            },
        );
        end = end.max(e);
        (end + self.rng.between(0.3, 1.5), true)
    }

    fn place_order(&mut self, t0: u64, fail: bool) {
        let gw = self.pod(Svc::Gateway);
        let mut root = self.open(None, &gw, "POST /orders", SpanKind::Server, t0);
        let auth_at = t0 + self.rng.between(0.2, 0.8);
        let t = self.authorize(root.span_id, &gw, auth_at);
        let (end, ok) = self.invoke(
            root.span_id,
            &gw,
            Fun::Checkout,
            t + ms(0.3),
            |s, inv, fr, t| {
                let mut validate = s.open(Some(inv), &fr, "validate cart", SpanKind::Internal, t);
                validate.end_ns = t + s.rng.latency(3.0);
                let t = validate.end_ns;
                s.close(validate);
                let (end, ok) = s.http(
                    inv,
                    &fr,
                    Svc::Order,
                    ("POST", "/orders", "/orders"),
                    t + ms(0.2),
                    0,
                    |s, srv, r, t| s.order_service(srv, &r, t, fail),
                );
                (end + s.rng.between(0.5, 2.0), ok)
            },
        );
        root.end_ns = end + self.rng.between(0.2, 1.0);
        let status = if ok { 201 } else { 502 };
        root.attributes = gateway_attrs("POST", "/orders", "/orders", status, &mut self.rng);
        if !ok {
            root.status = error_status("upstream checkout-fn failed with HTTP 500".into());
        }
        self.close(root);
    }

    /// The N+1: one `GET /inventory/{sku}` per order item, one after the other. With `fail`,
    /// the stock lookup of one item times out, and the error climbs back up every caller.
    fn order_service(
        &mut self,
        server: SpanId,
        res: &Arc<Resource>,
        t: u64,
        fail: bool,
    ) -> (u64, bool) {
        let mut t = self.db(server, res, "INSERT", "orders", "orders", t, 4.0, false);
        let items = self.rng.range(4, 12);
        let fail_at = fail.then(|| self.rng.range(0, items - 1));
        for i in 0..items {
            let failing = fail_at == Some(i);
            let sku = format!("/inventory/SKU-{}", self.rng.range(10000, 99999));
            let (end, ok) = self.http(
                server,
                res,
                Svc::Inventory,
                ("GET", "/inventory/{sku}", &sku),
                t + ms(0.2),
                0,
                |s, srv, r, t| {
                    let end = s.db(srv, &r, "SELECT", "inventory", "stock", t, 6.0, failing);
                    (end, !failing)
                },
            );
            t = end;
            if !ok {
                return (t + self.rng.between(0.5, 2.0), false);
            }
        }
        // The slow edge: payment-service answers in ~35 ms, but its client waits 200-450 ms
        // longer (a congested egress proxy in the story).
        let gap = self.rng.between(200.0, 450.0);
        let (t, _) = self.http(
            server,
            res,
            Svc::Payment,
            ("POST", "/payments/charge", "/payments/charge"),
            t + ms(0.3),
            gap,
            |s, srv, r, t| {
                let mut ext = s.open(
                    Some(srv),
                    &r,
                    "POST /v1/charges",
                    SpanKind::Client,
                    t + ms(1.0),
                );
                ext.end_ns = ext.start_ns + s.rng.latency(28.0);
                ext.attributes = vec![
                    kv_str("http.request.method", "POST"),
                    kv_str(
                        "url.full",
                        "https://api.payment-provider.example/v1/charges",
                    ),
                    kv_str("server.address", "api.payment-provider.example"),
                    kv_str("peer.service", "payment-provider"),
                    kv_int("http.response.status_code", 200),
                ]
                .into();
                let e = ext.end_ns;
                s.close(ext);
                (e + s.rng.between(1.0, 4.0), true)
            },
        );
        let publish_start = t + ms(0.3);
        let mut publish = self.open(
            Some(server),
            res,
            "order-events publish",
            SpanKind::Producer,
            publish_start,
        );
        publish.end_ns = publish_start + self.rng.latency(5.0);
        publish.attributes = vec![
            kv_str("messaging.system", "aws_sqs"),
            kv_str("messaging.operation.type", "send"),
            kv_str("messaging.operation.name", "SendMessage"),
            kv_str("messaging.destination.name", "order-events"),
            kv_str("messaging.message.id", &self.rng.hex(32)),
            kv_str("server.address", "sqs.eu-west-1.amazonaws.com"),
        ]
        .into();
        let end = publish.end_ns;
        self.queue.push(Message {
            trace_id: self.trace_id,
            span_id: publish.span_id,
            sent_at: end,
        });
        self.close(publish);
        (end + self.rng.between(0.5, 2.0), true)
    }

    /// The SQS consumer: a trace of its own whose root links to every producer span it took.
    fn consume_messages(&mut self) {
        let messages = std::mem::take(&mut self.queue);
        self.batch_target = self.rng.range(1, 3) as usize;
        let sent = messages.iter().map(|m| m.sent_at).max().unwrap_or(0);
        let t0 = sent + self.rng.between(20.0, 300.0);
        let links: Box<[Link]> = messages
            .iter()
            .map(|m| Link {
                trace_id: m.trace_id,
                span_id: m.span_id,
                attributes: Box::new([]),
                trace_state: None,
                flags: 0,
                dropped_attributes_count: 0,
            })
            .collect();
        let Acquired {
            idx,
            resource: fr,
            cold,
        } = self.acquire(Fun::Notification, t0);
        let mut root = self.open(None, &fr, "order-events process", SpanKind::Consumer, t0);
        let root_id = root.span_id;
        let mut t = t0 + ms(0.5);
        if cold {
            t = self.initialization(root_id, &fr, Fun::Notification, t);
        }
        let (t, _) = self.http(
            root_id,
            &fr,
            Svc::Customer,
            ("GET", "/customers", "/customers"),
            t,
            0,
            |s, srv, r, t| {
                (
                    s.db(srv, &r, "SELECT", "customers", "customers", t, 4.0, false),
                    true,
                )
            },
        );
        let mut ses = self.open(
            Some(root_id),
            &fr,
            "SES.SendBulkEmail",
            SpanKind::Client,
            t + ms(0.5),
        );
        ses.end_ns = ses.start_ns + self.rng.latency(45.0);
        ses.attributes = vec![
            kv_str("rpc.system", "aws-api"),
            kv_str("rpc.service", "SES"),
            kv_str("rpc.method", "SendBulkEmail"),
            kv_str("peer.service", "aws-ses"),
        ]
        .into();
        let t = ses.end_ns;
        self.close(ses);
        root.end_ns = t + self.rng.between(0.5, 2.0);
        root.links = links;
        let mut attrs = invocation_attrs(Fun::Notification, "pubsub", cold, &mut self.rng);
        attrs.extend([
            kv_str("messaging.system", "aws_sqs"),
            kv_str("messaging.operation.type", "process"),
            kv_str("messaging.destination.name", "order-events"),
            kv_int("messaging.batch.message_count", messages.len() as i64),
        ]);
        root.attributes = attrs.into();
        self.release(Fun::Notification, idx, root.end_ns);
        self.close(root);
    }

    // === building blocks ===

    fn authorize(&mut self, parent: SpanId, caller: &Arc<Resource>, t: u64) -> u64 {
        let (end, _) = self.invoke(parent, caller, Fun::Auth, t, |s, inv, fr, t| {
            let mut verify = s.open(Some(inv), &fr, "verify jwt", SpanKind::Internal, t);
            verify.end_ns = t + s.rng.latency(5.0);
            let e = verify.end_ns;
            s.close(verify);
            (e + s.rng.between(0.2, 1.0), true)
        });
        end + self.rng.between(0.1, 0.5)
    }

    /// A synchronous Lambda invoke: the caller's CLIENT span, the function's SERVER span on the
    /// instance that took it and, on a new instance, the `Initialization` child before the handler.
    fn invoke(
        &mut self,
        parent: SpanId,
        caller: &Arc<Resource>,
        fun: Fun,
        t: u64,
        body: impl FnOnce(&mut Self, SpanId, Arc<Resource>, u64) -> (u64, bool),
    ) -> (u64, bool) {
        let spec = &FUNCTIONS[fun as usize];
        let name = spec.name;
        let mut client = self.open(
            Some(parent),
            caller,
            &format!("{name} invoke"),
            SpanKind::Client,
            t,
        );
        let server_start = t + self.rng.between(3.0, 8.0);
        let Acquired {
            idx,
            resource: fr,
            cold,
        } = self.acquire(fun, server_start);
        let mut server = self.open(
            Some(client.span_id),
            &fr,
            name,
            SpanKind::Server,
            server_start,
        );
        let mut body_start = server_start + ms(0.3);
        if cold {
            body_start = self.initialization(server.span_id, &fr, fun, body_start);
        }
        let (end, ok) = body(self, server.span_id, Arc::clone(&fr), body_start);
        server.end_ns = end;
        server.attributes = invocation_attrs(fun, "http", cold, &mut self.rng).into();
        if !ok {
            server.status =
                error_status("handler failed: downstream call returned HTTP 500".into());
        }
        self.release(fun, idx, server.end_ns);
        self.close(server);
        client.end_ns = end + self.rng.between(1.0, 4.0);
        client.attributes = vec![
            kv_str("rpc.system", "aws-api"),
            kv_str("rpc.service", "Lambda"),
            kv_str("rpc.method", "Invoke"),
            kv_str("faas.invoked_name", name),
            kv_str("faas.invoked_provider", "aws"),
            kv_str("faas.invoked_region", "eu-west-1"),
            kv_str("peer.service", name),
        ]
        .into();
        if !ok {
            client.status = error_status(format!("{name} returned a function error"));
        }
        let end = client.end_ns;
        self.close(client);
        (end, ok)
    }

    fn initialization(&mut self, parent: SpanId, fr: &Arc<Resource>, fun: Fun, t: u64) -> u64 {
        let spec = &FUNCTIONS[fun as usize];
        let mut init = self.open(Some(parent), fr, INIT_SPAN_NAME, SpanKind::Internal, t);
        init.end_ns = t + self.rng.latency(spec.init_median_ms);
        init.attributes = vec![kv_str("faas.name", spec.name)].into();
        let end = init.end_ns;
        self.close(init);
        end + ms(0.2)
    }

    /// An HTTP call between services: CLIENT in the caller, SERVER in a pod of the callee.
    /// `extra_gap_ns` is time the client waits outside the server (the slow edge).
    #[allow(clippy::too_many_arguments)] // (method, route, path) already grouped; the rest is the call's shape
    fn http(
        &mut self,
        parent: SpanId,
        caller: &Arc<Resource>,
        callee: Svc,
        (method, route, path): (&str, &str, &str),
        t: u64,
        extra_gap_ns: u64,
        body: impl FnOnce(&mut Self, SpanId, Arc<Resource>, u64) -> (u64, bool),
    ) -> (u64, bool) {
        let callee_name = SERVICES[callee as usize].0;
        let res = self.pod(callee);
        let name = format!("{method} {route}");
        let mut client = self.open(Some(parent), caller, &name, SpanKind::Client, t);
        let server_start = t + self.rng.between(0.3, 1.5) + extra_gap_ns / 2;
        let mut server = self.open(
            Some(client.span_id),
            &res,
            &name,
            SpanKind::Server,
            server_start,
        );
        let (end, ok) = body(
            self,
            server.span_id,
            Arc::clone(&res),
            server_start + ms(0.2),
        );
        let code = if ok {
            if method == "POST" { 201 } else { 200 }
        } else {
            500
        };
        server.end_ns = end + self.rng.between(0.1, 0.4);
        let host = format!("{callee_name}.shopfast.svc.cluster.local");
        server.attributes = vec![
            kv_str("http.request.method", method),
            kv_str("http.route", route),
            kv_str("url.path", path),
            kv_str("server.address", &host),
            kv_int("http.response.status_code", code),
        ]
        .into();
        client.end_ns = server.end_ns + self.rng.between(0.3, 1.5) + extra_gap_ns / 2;
        client.attributes = vec![
            kv_str("http.request.method", method),
            kv_str("url.full", &format!("http://{host}:8080{path}")),
            kv_str("server.address", &host),
            kv_str("peer.service", callee_name),
            kv_int("http.response.status_code", code),
        ]
        .into();
        if !ok {
            server.status = error_status(format!("HTTP 500 from {route}"));
            client.status = error_status(format!("{callee_name} returned HTTP 500"));
        }
        let end = client.end_ns;
        self.close(server);
        self.close(client);
        (end, ok)
    }

    #[allow(clippy::too_many_arguments)] // one argument per part of a database call
    fn db(
        &mut self,
        parent: SpanId,
        res: &Arc<Resource>,
        op: &str,
        db: &str,
        table: &str,
        t: u64,
        median_ms: f64,
        fail: bool,
    ) -> u64 {
        let mut span = self.open(
            Some(parent),
            res,
            &format!("{op} {db}.{table}"),
            SpanKind::Client,
            t,
        );
        span.end_ns = if fail {
            // A lock wait that hits the statement timeout.
            t + self.rng.between(250.0, 400.0)
        } else {
            t + self.rng.latency(median_ms)
        };
        span.attributes = vec![
            kv_str("db.system", "postgresql"),
            kv_str("db.namespace", db),
            kv_str("db.operation.name", op),
            kv_str("db.collection.name", table),
            kv_str("server.address", &format!("{db}.shopfast.internal")),
        ]
        .into();
        if fail {
            let msg = "canceling statement due to lock timeout";
            span.status = error_status(msg.into());
            span.events = vec![Event {
                time_ns: span.end_ns,
                name: "exception".into(),
                attributes: vec![
                    kv_str("exception.type", "psycopg.errors.LockNotAvailable"),
                    kv_str("exception.message", msg),
                ]
                .into(),
                dropped_attributes_count: 0,
            }]
            .into();
        }
        let end = span.end_ns;
        self.close(span);
        end
    }

    fn open(
        &mut self,
        parent: Option<SpanId>,
        res: &Arc<Resource>,
        name: &str,
        kind: SpanKind,
        start_ns: u64,
    ) -> Span {
        Span {
            trace_id: self.trace_id,
            span_id: SpanId::from_u64(self.rng.next_u64() | 1).expect("odd ids are non-zero"),
            parent_span_id: parent,
            name: Sym::new(name),
            kind,
            // W3C sampled; the parent-is-remote bits as the SDKs set them.
            flags: if kind == SpanKind::Server || kind == SpanKind::Consumer {
                0x301
            } else {
                0x101
            },
            start_ns,
            end_ns: start_ns,
            status: Status::default(),
            attributes: Box::new([]),
            events: Box::new([]),
            links: Box::new([]),
            resource: Arc::clone(res),
            scope: Arc::clone(&self.scope),
            extra: None,
        }
    }

    fn close(&mut self, span: Span) {
        self.out.push(span);
    }

    fn pod(&mut self, svc: Svc) -> Arc<Resource> {
        let pods = &self.pods[svc as usize];
        Arc::clone(self.rng.pick(pods))
    }

    /// Takes an instance of `fun` free at `t`; `cold` when the platform had to start a new one.
    fn acquire(&mut self, fun: Fun, t: u64) -> Acquired {
        let pool = &mut self.pools[fun as usize];
        while let Some(&Reverse((until, idx))) = pool.busy.peek() {
            if until > t {
                break;
            }
            pool.busy.pop();
            pool.idle.push(idx);
        }
        let mut found = None;
        let mut pos = pool.idle.len();
        let scan_to = pool.idle.len().saturating_sub(IDLE_SCAN);
        while pos > scan_to {
            pos -= 1;
            let idx = pool.idle[pos];
            let inst = &pool.instances[idx];
            if inst.retire_at <= t {
                // Recycled by the platform while idle.
                pool.idle.swap_remove(pos);
                pool.free.push(idx);
            } else if inst.busy_until <= t {
                pool.idle.swap_remove(pos);
                found = Some(idx);
                break;
            }
        }
        let (idx, cold) = match found {
            Some(idx) => (idx, false),
            None => {
                let (lo, hi) = self.config.instance_lifetime_ms;
                let inst = Instance {
                    resource: Arc::new(function_resource(&mut self.rng, fun, t)),
                    busy_until: t,
                    retire_at: t + self.rng.between(lo, hi),
                };
                let pool = &mut self.pools[fun as usize];
                match pool.free.pop() {
                    Some(idx) => {
                        pool.instances[idx] = inst;
                        (idx, true)
                    }
                    None => {
                        pool.instances.push(inst);
                        (pool.instances.len() - 1, true)
                    }
                }
            }
        };
        let inst = &mut self.pools[fun as usize].instances[idx];
        // In flight: in none of busy, idle or free until released.
        inst.busy_until = u64::MAX;
        Acquired {
            idx,
            resource: Arc::clone(&inst.resource),
            cold,
        }
    }

    fn release(&mut self, fun: Fun, idx: usize, end: u64) {
        let pool = &mut self.pools[fun as usize];
        pool.instances[idx].busy_until = end;
        pool.busy.push(Reverse((end, idx)));
    }
}

struct Acquired {
    idx: usize,
    resource: Arc<Resource>,
    cold: bool,
}

fn pod_resource(rng: &mut Rng, name: &str, version: &str) -> Resource {
    let uid = format!(
        "{}-{}-{}-{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(4),
        rng.hex(4),
        rng.hex(12)
    );
    let pod = format!("{name}-{}-{}", rng.hex(10), rng.hex(5));
    Resource::new(vec![
        kv_str("service.name", name),
        kv_str("service.namespace", "shopfast"),
        kv_str("service.version", version),
        kv_str("service.instance.id", &uid),
        kv_str("deployment.environment.name", "demo"),
        kv_str("cloud.provider", "aws"),
        kv_str("cloud.platform", "aws_eks"),
        kv_str("cloud.region", "eu-west-1"),
        kv_str("k8s.namespace.name", "shopfast"),
        kv_str("k8s.pod.name", &pod),
    ])
}

fn function_resource(rng: &mut Rng, fun: Fun, t: u64) -> Resource {
    let spec = &FUNCTIONS[fun as usize];
    let (y, m, d) = crate::units::civil_date(t);
    let instance = format!("{y:04}/{m:02}/{d:02}/[$LATEST]{}", rng.hex(32));
    Resource::new(vec![
        kv_str("service.name", spec.name),
        kv_str("service.namespace", "shopfast"),
        kv_str("cloud.provider", "aws"),
        kv_str("cloud.platform", "aws_lambda"),
        kv_str("cloud.region", "eu-west-1"),
        kv_str("faas.name", spec.name),
        kv_str("faas.version", "$LATEST"),
        kv_str("faas.instance", &instance),
        kv_int("faas.max_memory", spec.memory_mb * 1024 * 1024),
        kv_str("process.runtime.name", spec.runtime),
    ])
}

fn invocation_attrs(fun: Fun, trigger: &str, cold: bool, rng: &mut Rng) -> Vec<KeyValue> {
    let spec = &FUNCTIONS[fun as usize];
    vec![
        kv_str("faas.trigger", trigger),
        kv_str("faas.invocation_id", &rng.hex(32)),
        KeyValue::new(FAAS_COLDSTART, AnyValue::Bool(cold)),
        kv_str(
            "cloud.resource_id",
            &format!(
                "arn:aws:lambda:eu-west-1:123456789012:function:{}",
                spec.name
            ),
        ),
    ]
}

fn gateway_attrs(
    method: &str,
    route: &str,
    path: &str,
    code: i64,
    rng: &mut Rng,
) -> Box<[KeyValue]> {
    vec![
        kv_str("http.request.method", method),
        kv_str("http.route", route),
        kv_str("url.path", path),
        kv_str("server.address", "api.shopfast.example"),
        kv_str(
            "client.address",
            &format!("203.0.113.{}", rng.range(1, 254)),
        ),
        kv_int("http.response.status_code", code),
    ]
    .into()
}

fn error_status(message: String) -> Status {
    Status {
        code: StatusCode::Error,
        message: Some(message.into()),
    }
}

fn kv_str(key: &str, v: &str) -> KeyValue {
    KeyValue::new(key, AnyValue::Str(v.into()))
}

fn kv_int(key: &str, v: i64) -> KeyValue {
    KeyValue::new(key, AnyValue::Int(v))
}
