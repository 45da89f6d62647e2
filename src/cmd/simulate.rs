//! `spantop simulate`: the demo system's traffic sent to any OTLP endpoint; also the load
//! generator for benchmarks (`--rate max`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::demo::{Protocol, Rate, SimulateConfig, simulate};
use crate::units::parse_duration;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// OTLP endpoint, e.g. http://127.0.0.1:4317 (gRPC) or http://127.0.0.1:4318 (HTTP).
    #[arg(long)]
    pub endpoint: String,
    /// `grpc` or `http` (OTLP/HTTP protobuf).
    #[arg(long, default_value = "grpc")]
    pub protocol: Protocol,
    /// User requests (traces) per second, or `max` to send as fast as the endpoint takes them.
    #[arg(long, default_value = "20")]
    pub rate: Rate,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Seed of the simulated system; the same seed sends the same traces.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// OTLP requests kept in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = SimulateConfig {
        protocol: args.protocol,
        rate: args.rate,
        duration: args.duration,
        seed: args.seed,
        concurrency: args.concurrency,
        ..SimulateConfig::new(args.endpoint)
    };
    tracing::info!(endpoint = %config.endpoint, protocol = ?config.protocol, rate = ?config.rate, "simulating shopfast traffic; Ctrl-C to stop");
    let stats = simulate(config, super::shutdown_signal()).await?;
    tracing::info!(
        "sent {} spans in {} traces over {} requests in {:.1} s: {:.0} spans/s; {} requests ({} spans) failed",
        stats.spans,
        stats.traces,
        stats.requests,
        stats.elapsed.as_secs_f64(),
        stats.spans_per_sec(),
        stats.failed_requests,
        stats.failed_spans,
    );
    Ok(if stats.failed_requests > 0 && stats.requests == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
