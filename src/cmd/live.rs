//! `spantop live` (receivers + TUI) and `spantop demo` (receivers on free local ports, the
//! built-in simulated system sending to them, and the TUI).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::args::{AttachArgs, CorsArgs, ReceiverArgs};
use super::shutdown_signal;
use crate::api::attach::{Attached, ClientOptions};
use crate::api::live::AttachedView;
use crate::demo::{Rate, SimulateConfig, simulate};
use crate::pipeline::{self, Receivers, Running};
use crate::server::ServerConfig;
use crate::ui::{self, Feed};

#[derive(Args, Debug)]
pub struct LiveArgs {
    #[command(flatten)]
    pub receiver: ReceiverArgs,
    #[command(flatten)]
    pub attach: AttachArgs,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// User requests per second the simulated shop serves.
    #[arg(long, default_value = "25")]
    pub rate: Rate,
    /// Seed of the simulated shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub analysis: super::args::AnalysisArgs,
    #[command(flatten)]
    pub cors: CorsArgs,
}

pub async fn live(args: LiveArgs) -> anyhow::Result<ExitCode> {
    if !args.attach.attach.is_empty() {
        return live_attached(args).await;
    }
    let config = args.receiver.server_config();
    let (running, receivers) = pipeline::start_receivers(config.receivers, config.pipeline).await?;
    let feed = live_feed(&running, &receivers);
    // Before the TUI takes the screen: it is there again after quitting.
    eprintln!("spantop live: {}", receivers.listening());
    let result = ui::run(feed, ui::Playback::Live, shutdown_signal()).await;
    // Nothing reads the findings after the TUI: no analysis at the end, no wait to free.
    running
        .quit()
        .await
        .context("stopping the receivers failed")?;
    result.map(|()| ExitCode::SUCCESS)
}

/// `live --attach`: no receivers; the TUI over the merged view of the instances, refreshed
/// every `--refresh`, with the bearer token of `--auth-token` (and TLS with `--tls-ca`, a client certificate with `--tls-client-cert`).
async fn live_attached(args: LiveArgs) -> anyhow::Result<ExitCode> {
    let attached = Attached::connect(
        &args.attach.attach,
        &ClientOptions {
            token: args.receiver.auth_token.clone(),
            tls_ca: args.attach.tls_ca.clone(),
            tls_client: args.attach.client_cert.client_cert(),
            ..ClientOptions::default()
        },
    )?;
    eprintln!(
        "spantop live: attached to {}",
        args.attach.attach.join(", ")
    );
    let merged = AttachedView::spawn(attached, args.attach.refresh);
    let feed = Feed {
        view: merged.view.clone(),
        snapshots: merged.snapshots.clone(),
        counters: None,
        progress: None,
        listening: None,
        fetch: Some(merged.fetch.clone()),
    };
    let result = ui::run(feed, ui::Playback::Live, shutdown_signal()).await;
    merged.stop();
    result.map(|()| ExitCode::SUCCESS)
}

/// What the TUI watches of a running receiver: its published view, store stats, counters and
/// listen addresses.
fn live_feed(running: &Running, receivers: &Receivers) -> Feed {
    Feed {
        view: running.view.clone(),
        snapshots: running.snapshots.clone(),
        counters: Some(receivers.counters.clone()),
        progress: None,
        listening: Some(receivers.listening()),
        fetch: None,
    }
}

/// Simulated traces finish within a few seconds; a short inactivity timeout shows them sooner.
const DEMO_TRACE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut config = ServerConfig::ephemeral();
    config.pipeline.store.inactivity_timeout = DEMO_TRACE_TIMEOUT;
    config.receivers.cors = args.cors.cors_allowed_origins;
    config.pipeline.analysis = args.analysis.bounded();
    let (running, receivers) = pipeline::start_receivers(config.receivers, config.pipeline).await?;
    let listening = receivers.listening();
    eprintln!("spantop demo: {listening}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim = SimulateConfig {
        rate: args.rate,
        seed: args.seed,
        ..SimulateConfig::new(format!("http://{}", listening.grpc))
    };
    let simulator = tokio::spawn(simulate(sim, async {
        let _ = stop_rx.await;
    }));
    let feed = live_feed(&running, &receivers);
    let result = ui::run(feed, ui::Playback::Live, shutdown_signal()).await;
    let _ = stop_tx.send(());
    let sent = simulator.await.context("the simulator panicked")?;
    running
        .quit()
        .await
        .context("stopping the receivers failed")?;
    result?;
    let sent = sent.context("the simulator failed")?;
    eprintln!(
        "demo: sent {} spans in {} traces ({} requests failed)",
        sent.spans, sent.traces, sent.failed_requests
    );
    Ok(ExitCode::SUCCESS)
}
