//! Three `serve` instances on loopback behind a sender that routes each trace to one instance
//! by a hash of its trace id (as the Collector's `loadbalancing` exporter does), an attached
//! merged report, and a fourth instance fed everything to compare against; then one instance
//! stops and comes back while attached.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pki::Pki;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use spantop::api::attach::{Attached, ClientCert, ClientOptions, Health};
use spantop::api::live::AttachedView;
use spantop::api::service::{ApiConfig, ApiServer};
use spantop::demo::shop::{Shop, ShopConfig};
use spantop::ingest::access::{AuthToken, TlsFiles};
use spantop::model::Span;
use spantop::server::{Server, ServerConfig};
use spantop::ui::{App, Header, Playback, Tab, ViewData};

async fn api(server: &Server, addr: std::net::SocketAddr) -> ApiServer {
    api_with(server, addr, None, None).await
}

async fn api_with(
    server: &Server,
    addr: std::net::SocketAddr,
    auth_token: Option<AuthToken>,
    tls: Option<TlsFiles>,
) -> ApiServer {
    ApiServer::start(
        ApiConfig {
            addr,
            auth_token,
            tls,
            max_connections: 16,
        },
        server.view.clone(),
    )
    .await
    .expect("api starts")
}

async fn wait_analysed(server: &mut Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if server.view.borrow_and_update().analysed_traces >= n {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {n} analysed traces");
        let _ = tokio::time::timeout(left, server.view.changed()).await;
    }
}

/// The demo shop's traces for `requests` user requests, each trace's spans together. One
/// request may start more than one trace (a message consumed in a trace of its own): grouped
/// by trace id, as the Collector's router sees them.
fn shop_traces(requests: u64) -> Vec<Vec<Span>> {
    let mut shop = Shop::new(ShopConfig::default());
    let mut by_id: std::collections::BTreeMap<spantop::model::TraceId, Vec<Span>> =
        Default::default();
    for k in 0..requests {
        let mut spans = Vec::new();
        shop.request(1_700_000_000_000_000_000 + k * 5_000_000, &mut spans);
        for s in spans {
            by_id.entry(s.trace_id).or_default().push(s);
        }
    }
    by_id.into_values().collect()
}

/// Every `every`th trace gets fire-and-forget work: one child span moved to start after its
/// root ended (background work, `trace::background`), 5 ms long.
fn with_background(mut traces: Vec<Vec<Span>>, every: usize) -> Vec<Vec<Span>> {
    for spans in traces.iter_mut().step_by(every) {
        let Some(root_end) = spans
            .iter()
            .filter(|s| s.parent_span_id.is_none())
            .map(|s| s.end_ns)
            .max()
        else {
            continue;
        };
        if let Some(child) = spans.iter_mut().rfind(|s| s.parent_span_id.is_some()) {
            child.start_ns = root_end + 1_000_000;
            child.end_ns = child.start_ns + 5_000_000;
        }
    }
    traces
}

/// Sends each trace to its shard; how many went to each.
async fn send_routed(shards: &[Server], traces: &[Vec<Span>]) -> Vec<usize> {
    let mut clients = Vec::new();
    for s in shards {
        clients.push(
            TraceServiceClient::connect(format!("http://{}", s.grpc_addr))
                .await
                .expect("connects"),
        );
    }
    let mut per_shard = vec![0usize; shards.len()];
    for spans in traces {
        let Some(first) = spans.first() else { continue };
        let shard = first.trace_id.shard(shards.len());
        per_shard[shard] += 1;
        clients[shard]
            .export(spantop::export::otlp::spans_to_request(spans.iter()))
            .await
            .expect("shard accepts");
    }
    per_shard
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_view_of_three_instances_equals_one_instance_fed_everything() {
    let mut shards = Vec::new();
    for _ in 0..3 {
        shards.push(common::start(ServerConfig::ephemeral()).await);
    }
    let mut whole = common::start(ServerConfig::ephemeral()).await;
    let traces = with_background(shop_traces(300), 10);
    let per_shard = send_routed(&shards, &traces).await;
    let mut all = TraceServiceClient::connect(format!("http://{}", whole.grpc_addr))
        .await
        .expect("connects");
    for spans in &traces {
        all.export(spantop::export::otlp::spans_to_request(spans.iter()))
            .await
            .expect("reference accepts");
    }
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    for (s, &n) in shards.iter_mut().zip(&per_shard) {
        wait_analysed(s, n).await;
    }
    wait_analysed(&mut whole, traces.len()).await;
    let mut apis = Vec::new();
    for s in &shards {
        apis.push(api(s, "127.0.0.1:0".parse().expect("addr")).await);
    }
    let addrs: Vec<String> = apis.iter().map(|a| a.addr.to_string()).collect();
    let mut attached = Attached::new(&addrs, None, Duration::from_secs(5)).expect("attach");
    let merged = attached.refresh().await;
    assert_eq!(merged.up(), 3);
    let m = &merged.findings;
    let w = Arc::clone(&whole.view.borrow().findings);
    assert_eq!(m.input.traces, traces.len());
    assert_eq!(
        (m.input.traces, m.input.spans),
        (w.input.traces, w.input.spans)
    );
    assert_eq!(m.services.len(), w.services.len());
    for (a, b) in m.services.iter().zip(&w.services) {
        assert_eq!(
            (a.red.service, a.red.requests, a.red.errors, a.cp_total_ns),
            (b.red.service, b.red.requests, b.red.errors, b.cp_total_ns)
        );
        let (x, y) = (a.red.duration.p95_ns as f64, b.red.duration.p95_ns as f64);
        assert!(
            (x - y).abs() <= 0.01 * y + 1.0,
            "{}: p95 {x} vs {y}",
            a.red.service
        );
    }
    let edges = |f: &spantop::analysis::findings::Findings| {
        f.service_map
            .iter()
            .map(|e| (e.caller, e.callee, e.calls, e.errors, e.cp_total_ns))
            .collect::<Vec<_>>()
    };
    assert_eq!(edges(m), edges(&w));
    assert_eq!(m.cold_starts.count, w.cold_starts.count);
    // Cold starts per function: counts exact, init and cold/warm percentiles from the merged
    // distributions within the bound, instances counted once across spantop instances.
    let cold_rows = |f: &spantop::analysis::findings::Findings| {
        let mut rows = f.cold_starts.by_function.clone();
        rows.sort_by_key(|r| (r.function, r.trigger));
        rows
    };
    let (mc, wc) = (cold_rows(m), cold_rows(&w));
    assert_eq!(mc.len(), wc.len());
    assert!(
        wc.iter().any(|r| r.cold > 0
            && r.init.n > 0
            && r.instances > 1
            && r.server_penalty.delta_p50_ns.is_some()),
        "the shop's functions have cold starts with init times, instances and a penalty: {wc:?}"
    );
    let near = |what: &str, x: f64, y: f64| {
        assert!((x - y).abs() <= 0.01 * y.abs() + 1.0, "{what}: {x} vs {y}");
    };
    for (a, b) in mc.iter().zip(&wc) {
        let name = format!("{} ({:?})", a.function, a.trigger);
        assert_eq!(
            (
                a.function,
                a.trigger,
                a.invocations,
                a.cold,
                a.warm,
                a.unknown,
                a.on_critical_path,
                a.instances,
                a.memory_mb
            ),
            (
                b.function,
                b.trigger,
                b.invocations,
                b.cold,
                b.warm,
                b.unknown,
                b.on_critical_path,
                b.instances,
                b.memory_mb
            ),
            "{name}"
        );
        assert_eq!(a.init.n, b.init.n, "{name}");
        near(
            &format!("{name} init total"),
            a.init.total_ns as f64,
            b.init.total_ns as f64,
        );
        near(
            &format!("{name} init p50"),
            a.init.p50_ns as f64,
            b.init.p50_ns as f64,
        );
        near(
            &format!("{name} init p99"),
            a.init.p99_ns as f64,
            b.init.p99_ns as f64,
        );
        for (side, x, y) in [
            ("server", &a.server_penalty, &b.server_penalty),
            ("caller", &a.caller_penalty, &b.caller_penalty),
        ] {
            assert_eq!((x.cold.n, x.warm.n), (y.cold.n, y.warm.n), "{name} {side}");
            near(
                &format!("{name} {side} cold p50"),
                x.cold.p50_ns as f64,
                y.cold.p50_ns as f64,
            );
            near(
                &format!("{name} {side} warm p50"),
                x.warm.p50_ns as f64,
                y.warm.p50_ns as f64,
            );
            assert_eq!(
                x.delta_p50_ns.is_some(),
                y.delta_p50_ns.is_some(),
                "{name} {side}"
            );
        }
    }
    // Background work per operation: exact.
    let background = |f: &spantop::analysis::findings::Findings| {
        let mut rows = f.hotspots.background.clone();
        rows.sort_by_key(|r| (r.service, r.operation, r.kind));
        rows
    };
    assert!(!background(&w).is_empty(), "the shop has background work");
    assert_eq!(background(m), background(&w));
    assert_eq!(m.n_plus_one.count, w.n_plus_one.count);
    assert_eq!(m.errors.traces_with_errors, w.errors.traces_with_errors);
    // Hotspots per endpoint: traces, critical-path and self totals, counts and shares exact;
    // the per-trace percentiles within the sketches' bound.
    let exact = |f: &spantop::analysis::findings::Findings| {
        f.hotspots
            .by_endpoint
            .iter()
            .map(|e| {
                let ops = e
                    .operations
                    .iter()
                    .map(|h| {
                        (
                            h.service,
                            h.operation,
                            h.cp_total_ns,
                            h.cp_share.to_bits(),
                            h.occurrence,
                            h.self_total_ns,
                            h.count,
                        )
                    })
                    .collect::<Vec<_>>();
                (e.service, e.operation, e.traces, ops)
            })
            .collect::<Vec<_>>()
    };
    assert!(
        w.hotspots.by_endpoint.len() > 1,
        "the shop has several endpoints: {:?}",
        w.hotspots.by_endpoint.len()
    );
    assert_eq!(exact(m), exact(&w));
    for (a, b) in m.hotspots.by_endpoint.iter().zip(&w.hotspots.by_endpoint) {
        for (x, y) in a.operations.iter().zip(&b.operations) {
            let name = format!(
                "{}:{} {}:{}",
                a.service, a.operation, x.service, x.operation
            );
            near(
                &format!("{name} cp p50"),
                x.cp_p50_ns as f64,
                y.cp_p50_ns as f64,
            );
            near(
                &format!("{name} cp p95"),
                x.cp_p95_ns as f64,
                y.cp_p95_ns as f64,
            );
        }
    }

    // A trace from a finding comes from the instance that holds it.
    let first = traces[0][0].trace_id;
    let (from, batch) = attached
        .fetch_trace(first)
        .await
        .expect("fetch")
        .expect("held by one instance");
    assert!(addrs.contains(&from));
    assert_eq!(batch.spans.len(), traces[0].len());

    // One instance's API stops: shown down, left out; it comes back on the same address.
    let gone = apis.remove(1);
    let gone_addr = gone.addr;
    gone.stop().await.expect("stops");
    let merged = attached.refresh().await;
    assert!(
        matches!(merged.instances[1].health, Health::Down(_)),
        "{:?}",
        merged.instances[1]
    );
    assert_eq!(merged.findings.input.traces, traces.len() - per_shard[1]);
    let back = api(&shards[1], gone_addr).await;
    let merged = attached.refresh().await;
    assert_eq!(merged.up(), 3, "{:?}", merged.instances);
    assert_eq!(merged.findings.input.traces, traces.len());
    back.stop().await.expect("stops");
    for a in apis {
        a.stop().await.expect("stops");
    }
}

/// Waits until the attached view satisfies `pred`; the latest view.
async fn wait_view(
    view: &mut tokio::sync::watch::Receiver<Arc<ViewData>>,
    what: &str,
    pred: impl Fn(&ViewData) -> bool,
) -> Arc<ViewData> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = Arc::clone(&view.borrow_and_update());
        if pred(&v) {
            return v;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        let _ = tokio::time::timeout(left, view.changed()).await;
    }
}

fn frame(app: &mut App, data: &ViewData) -> String {
    let mut t = Terminal::new(TestBackend::new(150, 30)).expect("test backend");
    let header = Header {
        store: data.snapshot.stats,
        ..Header::default()
    };
    t.draw(|f| app.render(f, data, &header)).expect("draw");
    t.backend().to_string()
}

fn press(app: &mut App, data: &ViewData, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), data);
}

/// `live --attach` without a terminal: the attached view task two instances feed, and the
/// real `App` drawn from what it publishes. The header counts the instances and names the
/// one that is down; the Services tab shows the merged figures; Enter on a cold start opens
/// a trace the merged view fetches from the instance holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_tui_shows_the_merged_view_a_down_instance_and_a_fetched_trace() {
    let mut shards = vec![
        common::start(ServerConfig::ephemeral()).await,
        common::start(ServerConfig::ephemeral()).await,
    ];
    let traces = shop_traces(200);
    let per_shard = send_routed(&shards, &traces).await;
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    for (s, &n) in shards.iter_mut().zip(&per_shard) {
        wait_analysed(s, n).await;
    }
    let any = || "127.0.0.1:0".parse().expect("addr");
    let mut apis = vec![api(&shards[0], any()).await, api(&shards[1], any()).await];
    let addrs: Vec<String> = apis.iter().map(|a| a.addr.to_string()).collect();
    let attached = Attached::new(&addrs, None, Duration::from_secs(5)).expect("attach");
    let live = AttachedView::spawn(attached, Duration::from_millis(100));
    let mut view = live.view.clone();
    let data = wait_view(&mut view, "both instances merged", |v| {
        v.analysed_traces == traces.len() && v.instances.iter().all(|i| i.down.is_none())
    })
    .await;
    let mut app = App::new(Playback::Live);
    let s = frame(&mut app, &data);
    let first = s.lines().next().expect("header line");
    assert!(first.contains("2 instances, all up"), "{first}");
    // The merged services table: every service either instance saw, requests summed.
    let held: u64 = shards
        .iter()
        .map(|s| s.snapshots.borrow().stats.traces_held)
        .sum();
    assert!(first.contains(&format!("{held} traces")), "{first}");
    let mut services: Vec<_> = shards
        .iter()
        .flat_map(|s| {
            s.view
                .borrow()
                .findings
                .services
                .iter()
                .map(|r| (r.red.service, r.red.requests))
                .collect::<Vec<_>>()
        })
        .fold(std::collections::BTreeMap::new(), |mut m, (svc, n)| {
            *m.entry(svc).or_insert(0) += n;
            m
        })
        .into_iter()
        .collect::<Vec<_>>();
    services.sort();
    let mut merged: Vec<_> = data
        .findings
        .services
        .iter()
        .map(|r| (r.red.service, r.red.requests))
        .collect();
    merged.sort();
    assert_eq!(merged, services);
    for (svc, _) in &services {
        assert!(s.contains(svc.as_str()), "{svc} missing:\n{s}");
    }

    // Enter on the worst cold start: the trace is not held here, so it is asked for, fetched
    // from its instance and drawn.
    press(&mut app, &data, KeyCode::Char('4'));
    press(&mut app, &data, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Trace);
    let id = spantop::ui::wanted_trace(&app, &data).expect("the opened trace is wanted");
    live.fetch
        .send(id)
        .await
        .expect("the view task takes requests");
    let data = wait_view(&mut view, "the fetched trace", |v| v.trace(id).is_some()).await;
    assert_eq!(spantop::ui::wanted_trace(&app, &data), None);
    let s = frame(&mut app, &data);
    assert!(s.contains("Waterfall") && s.contains("[cold]"), "{s}");
    let holder = id.shard(2);
    assert_eq!(
        data.trace(id).map(|t| t.spans.len()),
        shards[holder]
            .view
            .borrow()
            .trace(id)
            .map(|t| t.spans.len())
    );
    // The Traces tab lists the instances' traces, not only the one fetched: the most recent
    // and slowest of each, every one held by the instance it was routed to.
    for k in 0..2 {
        let on_k = data
            .traces
            .iter()
            .filter(|r| r.trace_id.shard(2) == k)
            .inspect(|r| {
                assert!(
                    shards[k].view.borrow().trace(r.trace_id).is_some(),
                    "{} listed but not held by instance {k}",
                    r.trace_id
                );
            })
            .count();
        assert!(
            on_k >= per_shard[k].min(spantop::api::convert::LISTED_TRACES),
            "instance {k}: {on_k} listed of {}",
            per_shard[k]
        );
    }
    // Opening one not held here fetches it from its instance (typed into the filter by id).
    let other = data
        .traces
        .iter()
        .map(|r| r.trace_id)
        .find(|t| data.trace(*t).is_none())
        .expect("a listed trace not fetched yet");
    press(&mut app, &data, KeyCode::Esc);
    press(&mut app, &data, KeyCode::Char('2'));
    assert_eq!(app.tab, Tab::Traces);
    press(&mut app, &data, KeyCode::Char('/'));
    for c in other.to_string().chars().take(16) {
        press(&mut app, &data, KeyCode::Char(c));
    }
    press(&mut app, &data, KeyCode::Enter);
    let s = frame(&mut app, &data);
    assert!(s.contains(&other.to_string()[..16]), "{s}");
    press(&mut app, &data, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Trace, "Enter on a listed trace opens it");
    assert_eq!(spantop::ui::wanted_trace(&app, &data), Some(other));
    live.fetch.send(other).await.expect("takes requests");
    let data = wait_view(&mut view, "the listed trace fetched", |v| {
        v.trace(other).is_some()
    })
    .await;
    let s = frame(&mut app, &data);
    assert!(s.contains("Waterfall"), "{s}");
    assert_eq!(
        data.trace(other).map(|t| t.spans.len()),
        shards[other.shard(2)]
            .view
            .borrow()
            .trace(other)
            .map(|t| t.spans.len())
    );

    // `f` on a span linking to another trace opens it, and the merged view fetches it.
    let (linking, target) = shards
        .iter()
        .find_map(|s| {
            let v = s.view.borrow();
            v.snapshot.traces.iter().find_map(|t| {
                t.spans.iter().find_map(|sp| {
                    sp.links
                        .iter()
                        .find(|l| l.trace_id != t.trace_id && data.trace(l.trace_id).is_none())
                        .map(|l| {
                            (
                                spantop::model::SpanRef::new(t.trace_id, sp.span_id),
                                l.trace_id,
                            )
                        })
                })
            })
        })
        .expect("the shop's consumers link to their producers' traces");
    live.fetch
        .send(linking.trace_id)
        .await
        .expect("takes requests");
    let data = wait_view(&mut view, "the linking trace fetched", |v| {
        v.trace(linking.trace_id).is_some()
    })
    .await;
    app.open_trace(linking);
    press(&mut app, &data, KeyCode::Char('f'));
    assert_eq!(
        spantop::ui::wanted_trace(&app, &data),
        Some(target),
        "{:?}",
        app.status
    );
    live.fetch.send(target).await.expect("takes requests");
    let data = wait_view(&mut view, "the linked trace fetched", |v| {
        v.trace(target).is_some()
    })
    .await;
    assert!(frame(&mut app, &data).contains("Waterfall"));

    // A trace no instance holds says so instead of waiting.
    let nobody = spantop::model::TraceId::from_bytes(&[7; 16]).expect("id");
    live.fetch.send(nobody).await.expect("takes requests");
    let data = wait_view(&mut view, "the answer for an unknown trace", |v| {
        v.why_missing(nobody)
            .is_some_and(|w| w.contains("none of the 2"))
    })
    .await;
    assert!(data.trace(nobody).is_none());

    // One instance goes away: the header names it and its figures leave the merged view.
    let gone = apis.remove(1);
    let gone_addr = gone.addr;
    gone.stop().await.expect("stops");
    let data = wait_view(&mut view, "one instance down", |v| {
        v.instances.get(1).is_some_and(|i| i.down.is_some())
    })
    .await;
    assert_eq!(data.analysed_traces, per_shard[0]);
    press(&mut app, &data, KeyCode::Char('1'));
    let s = frame(&mut app, &data);
    let first = s.lines().next().expect("header line");
    assert!(
        first.contains(&format!("2 instances, 1 down: {gone_addr}")),
        "{first}"
    );
    // It comes back on its address: up again, its traces merged again.
    let back = api(&shards[1], gone_addr).await;
    let data = wait_view(&mut view, "the instance back", |v| {
        v.analysed_traces == traces.len() && v.instances.iter().all(|i| i.down.is_none())
    })
    .await;
    let s = frame(&mut app, &data);
    assert!(
        s.lines().next().is_some_and(|l| l.contains("all up")),
        "{s}"
    );
    live.stop();
    back.stop().await.expect("stops");
    for a in apis {
        a.stop().await.expect("stops");
    }
}

/// `--attach` over TLS: an instance whose API serves TLS with a token is merged when the
/// client trusts its CA (`--tls-ca`) and sends the token; plain HTTP/2, another CA or no token
/// leave it down. `report --attach --tls-ca` renders it from the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_speaks_tls_trusting_the_ca_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::generate(dir.path());
    let mut shard = common::start(ServerConfig::ephemeral()).await;
    let traces = shop_traces(40);
    send_routed(std::slice::from_ref(&shard), &traces).await;
    wait_analysed(&mut shard, traces.len()).await;
    let token: AuthToken = "attach-t0ken".parse().expect("token");
    let api = api_with(
        &shard,
        "127.0.0.1:0".parse().expect("addr"),
        Some(token.clone()),
        Some(pki.server_tls(false)),
    )
    .await;
    let addrs = vec![api.addr.to_string()];
    let refresh = |options: ClientOptions| {
        let addrs = addrs.clone();
        async move {
            let mut a = Attached::connect(&addrs, &options).expect("clients");
            a.refresh().await
        }
    };
    let timeout = Duration::from_secs(5);
    let trusted = ClientOptions {
        token: Some(token.clone()),
        timeout,
        tls_ca: Some(pki.ca.clone()),
        tls_client: None,
    };
    let merged = refresh(trusted.clone()).await;
    assert_eq!(merged.up(), 1, "{:?}", merged.instances);
    assert_eq!(merged.findings.input.traces, traces.len());
    // The same certificate verifies by host name too.
    let by_name = vec![format!("localhost:{}", api.addr.port())];
    let mut a = Attached::connect(&by_name, &trusted).expect("clients");
    assert_eq!(a.refresh().await.up(), 1);
    for (what, options) in [
        (
            "plain HTTP/2",
            ClientOptions {
                tls_ca: None,
                ..trusted.clone()
            },
        ),
        (
            "another CA",
            ClientOptions {
                tls_ca: Some(pki.other_ca.clone()),
                ..trusted.clone()
            },
        ),
        (
            "no token",
            ClientOptions {
                token: None,
                ..trusted.clone()
            },
        ),
    ] {
        let merged = refresh(options).await;
        assert_eq!(merged.up(), 0, "{what}: {:?}", merged.instances);
    }
    let merged = refresh(ClientOptions {
        token: None,
        ..trusted.clone()
    })
    .await;
    assert!(
        matches!(&merged.instances[0].health, Health::Down(why) if why.contains("token")),
        "{:?}",
        merged.instances
    );
    let missing = dir.path().join("missing.pem");
    let err = Attached::connect(
        &addrs,
        &ClientOptions {
            tls_ca: Some(missing),
            ..trusted.clone()
        },
    )
    .err()
    .expect("a missing CA file is an error");
    assert!(format!("{err:#}").contains("--tls-ca"), "{err:#}");

    let bin = env!("CARGO_BIN_EXE_spantop");
    let ca = pki.ca.clone();
    let addr = addrs[0].clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(["report", "--attach", &addr, "--tls-ca"])
            .arg(&ca)
            .args(["--format", "json"])
            .env("SPANTOP_AUTH_TOKEN", "attach-t0ken")
            .output()
            .expect("report runs")
    })
    .await
    .expect("joins");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(
        json["input"]["traces"].as_u64(),
        Some(traces.len() as u64),
        "{json}"
    );
    api.stop().await.expect("stops");
}

/// Mutual TLS for `--attach`: an instance whose API requires client certificates signed by its
/// CA (`serve --tls-client-ca`) refuses an attached client without one, or with one another CA
/// signed, and is merged (and serves traces) when the client presents its certificate
/// (`--tls-client-cert/--tls-client-key`); `report --attach` from the binary too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_presents_a_client_certificate_to_a_mutual_tls_instance() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::generate(dir.path());
    let mut shard = common::start(ServerConfig::ephemeral()).await;
    let traces = shop_traces(40);
    send_routed(std::slice::from_ref(&shard), &traces).await;
    wait_analysed(&mut shard, traces.len()).await;
    let api = api_with(
        &shard,
        "127.0.0.1:0".parse().expect("addr"),
        None,
        Some(pki.server_tls(true)),
    )
    .await;
    let addrs = vec![api.addr.to_string()];
    let ours = ClientCert {
        cert: pki.client_cert.clone(),
        key: pki.client_key.clone(),
    };
    let options = |tls_client: Option<ClientCert>| ClientOptions {
        timeout: Duration::from_secs(5),
        tls_ca: Some(pki.ca.clone()),
        tls_client,
        ..ClientOptions::default()
    };
    for (what, client) in [
        ("no client certificate", None),
        (
            "a certificate another CA signed",
            Some(ClientCert {
                cert: pki.other_client_cert.clone(),
                key: pki.other_client_key.clone(),
            }),
        ),
    ] {
        let mut a = Attached::connect(&addrs, &options(client)).expect("clients");
        let merged = a.refresh().await;
        assert_eq!(merged.up(), 0, "{what}: {:?}", merged.instances);
        let fetched = a.fetch_trace(traces[0][0].trace_id).await.expect("asks");
        assert!(fetched.is_none(), "{what}: a trace came through");
    }
    let mut a = Attached::connect(&addrs, &options(Some(ours.clone()))).expect("clients");
    let merged = a.refresh().await;
    assert_eq!(merged.up(), 1, "{:?}", merged.instances);
    assert_eq!(merged.findings.input.traces, traces.len());
    let (_, batch) = a
        .fetch_trace(traces[0][0].trace_id)
        .await
        .expect("fetch")
        .expect("served over mutual TLS");
    assert_eq!(batch.spans.len(), traces[0].len());
    // A client certificate is TLS: without a CA to trust it is refused up front.
    let err = Attached::connect(
        &addrs,
        &ClientOptions {
            tls_ca: None,
            ..options(Some(ours.clone()))
        },
    )
    .err()
    .expect("a client certificate without --tls-ca");
    assert!(format!("{err:#}").contains("--tls-ca"), "{err:#}");
    // A key file that holds no key is named.
    let err = Attached::connect(
        &addrs,
        &options(Some(ClientCert {
            cert: pki.client_cert.clone(),
            key: pki.client_cert.clone(),
        })),
    )
    .err()
    .expect("a certificate given as the key");
    assert!(format!("{err:#}").contains("--tls-client-key"), "{err:#}");

    let bin = env!("CARGO_BIN_EXE_spantop");
    let report = |with_cert: bool| {
        let mut cmd = std::process::Command::new(bin);
        cmd.args(["report", "--attach", &addrs[0], "--tls-ca"])
            .arg(&pki.ca)
            .args(["--format", "json"]);
        if with_cert {
            cmd.arg("--tls-client-cert")
                .arg(&pki.client_cert)
                .arg("--tls-client-key")
                .arg(&pki.client_key);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("report runs"))
    };
    let out = report(true).await.expect("joins");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(
        json["input"]["traces"].as_u64(),
        Some(traces.len() as u64),
        "{json}"
    );
    let out = report(false).await.expect("joins");
    assert_eq!(
        out.status.code(),
        Some(1),
        "no answer without a certificate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    api.stop().await.expect("stops");
}

/// `Watch` while spans arrive: the stream opened on an empty instance carries each cold-start
/// row and the error count as they grow, so what it says adds up to the instance's final
/// figures; the evidence it names is a trace `GetTrace` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_findings_while_spans_arrive() {
    use spantop::api::pb;
    use spantop::api::pb::spantop_client::SpantopClient;
    let mut shard = common::start(ServerConfig::ephemeral()).await;
    let api = api(&shard, "127.0.0.1:0".parse().expect("addr")).await;
    let mut client = SpantopClient::connect(format!("http://{}", api.addr))
        .await
        .expect("connects");
    let mut stream = client
        .watch(pb::WatchRequest {})
        .await
        .expect("watch opens")
        .into_inner();
    let traces = shop_traces(240);
    // Three bursts, each analysed before the next is sent: the stream sees growth each time.
    let mut sent = 0;
    for chunk in traces.chunks(traces.len().div_ceil(3)) {
        send_routed(std::slice::from_ref(&shard), chunk).await;
        sent += chunk.len();
        wait_analysed(&mut shard, sent).await;
    }
    let last = Arc::clone(&shard.view.borrow());
    let f = &last.findings;
    let want_cold: std::collections::BTreeMap<(String, String), u64> = f
        .cold_starts
        .by_function
        .iter()
        .filter(|c| c.cold > 0)
        .map(|c| {
            (
                (
                    c.function.to_string(),
                    c.trigger.map(|t| t.to_string()).unwrap_or_default(),
                ),
                c.cold as u64,
            )
        })
        .collect();
    assert!(!want_cold.is_empty(), "the shop has cold starts");
    let want_errors = f.errors.traces_with_errors as u64;
    assert!(want_errors > 0, "the shop has errors");

    let mut cold: std::collections::BTreeMap<(String, String), (u64, u64)> = Default::default();
    let mut errors = (0u64, 0u64);
    let mut generations = std::collections::BTreeSet::new();
    let mut evidence = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while cold
        .iter()
        .map(|(k, v)| (k.clone(), v.0))
        .collect::<std::collections::BTreeMap<_, _>>()
        != want_cold
        || errors.0 != want_errors
    {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "stream fell short: cold {cold:?} of {want_cold:?}, errors {errors:?} of {want_errors}"
        );
        let Ok(next) = tokio::time::timeout(left, stream.message()).await else {
            continue;
        };
        let ev = next.expect("stream ok").expect("stream open");
        generations.insert(ev.generation);
        match pb::FindingKind::try_from(ev.kind) {
            Ok(pb::FindingKind::ColdStart) => {
                let e = cold
                    .entry((ev.service.clone(), ev.target.clone()))
                    .or_default();
                // Totals only grow, and `new` is the step from the previous event.
                assert_eq!(ev.total, e.0 + ev.new, "{ev:?}");
                *e = (ev.total, e.1 + ev.new);
                evidence = evidence.or(ev.evidence);
            }
            Ok(pb::FindingKind::Error) => {
                assert_eq!(ev.total, errors.0 + ev.new, "{ev:?}");
                errors = (ev.total, errors.1 + ev.new);
            }
            _ => {}
        }
    }
    assert!(
        generations.len() > 1,
        "events came from one published view only: {generations:?}"
    );
    let evidence = evidence.expect("cold starts name their evidence");
    let got = client
        .get_trace(pb::GetTraceRequest {
            trace_id: evidence.trace_id.clone(),
        })
        .await
        .expect("the evidence trace is held")
        .into_inner();
    assert!(!got.traces_data.is_empty());
    // Stopping the server ends the open stream (its graceful shutdown waits for it).
    api.stop().await.expect("stops with a watcher attached");
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the stream ends when the server stops");
    drop(end);
}
