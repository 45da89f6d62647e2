//! `spantop serve`: the headless receiver; logs a summary line every few seconds and a final
//! one at shutdown.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::args::ReceiverArgs;
use super::shutdown_signal;
use crate::api::service::{ApiConfig, ApiServer};
use crate::pipeline;
use crate::server::summary_line;
use crate::units::parse_duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub receiver: ReceiverArgs,
    /// How often the summary line is logged.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub summary_every: Duration,
    /// Where spantop's own gRPC API listens (snapshots for `live`/`report --attach`, the watch
    /// of new findings, traces by id), with the receivers' token and TLS; `off` for none.
    #[arg(long, value_name = "ADDR|off", default_value = crate::api::DEFAULT_API_ADDR)]
    pub api: String,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.receiver.server_config();
    let receivers = &config.receivers;
    let api_config = match args.api.as_str() {
        "off" => None,
        addr => Some(ApiConfig {
            addr: addr
                .parse()
                .with_context(|| format!("--api {addr:?} is not an address (host:port) or off"))?,
            auth_token: receivers.auth_token.clone(),
            tls: receivers.tls.clone(),
            max_connections: receivers.max_connections,
        }),
    };
    let (running, server) = pipeline::start_receivers(config.receivers, config.pipeline).await?;
    let api = match api_config {
        Some(c) => Some(ApiServer::start(c, running.view.clone()).await?),
        None => None,
    };
    if let Some(api) = &api {
        tracing::info!(api = %api.addr, "spantop API serving (live/report --attach)");
    }
    tracing::info!(
        grpc = %server.grpc_addr,
        http = %server.http_addr,
        "spantop serving {}; Ctrl-C to stop",
        server.listening()
    );
    let r = &args.receiver;
    let tls = match (&r.tls_cert, &r.tls_client_ca) {
        (None, _) => "off",
        (Some(_), None) => "on",
        (Some(_), Some(_)) => "on, client certificates required",
    };
    let auth = if r.auth_token.is_some() {
        "bearer token required"
    } else {
        "none"
    };
    tracing::info!(
        "TLS {tls}; authentication: {auth}; browser apps (CORS) allowed from: {}",
        r.cors.cors_allowed_origins
    );
    if let (Some(path), Some(opened)) = (&args.receiver.record, server.recording) {
        tracing::info!("recording to {}: {opened}", path.display());
    }
    let mut ticker = tokio::time::interval(args.summary_every);
    ticker.tick().await;
    let mut prev_spans = 0;
    let mut prev_at = Instant::now();
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            _ = ticker.tick() => {
                let stats = running.snapshots.borrow().stats;
                let now = Instant::now();
                let view = Arc::clone(&running.view.borrow());
                tracing::info!("{}", summary_line(&stats, &server.counters.read(), view.analysis_failures, view.analysis_skipped, prev_spans, now - prev_at));
                prev_spans = stats.spans_received;
                prev_at = now;
            }
        }
    }
    tracing::info!("shutting down: finishing requests in flight and flushing");
    if let Some(api) = api {
        api.stop().await?;
    }
    let ended = running.finish().await?;
    let now = Instant::now();
    tracing::info!(
        "final: {}",
        summary_line(
            &ended.finished.store.stats(),
            &ended.ingest,
            ended.finished.engine.analysis_failures,
            ended.finished.analysis_skipped,
            prev_spans,
            now - prev_at
        )
    );
    if let (Some(lines), Some(path)) = (ended.recorded_lines, &args.receiver.record) {
        tracing::info!("recorded {lines} batches to {}", path.display());
    }
    ended.let_go();
    Ok(ExitCode::SUCCESS)
}
