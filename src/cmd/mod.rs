//! The commands: clap arguments, a `pipeline::Source` and what to show of it, one file per
//! command. Kept thin; the work is in the library modules. Only this module names clap.

pub mod args;
pub mod convert;
pub mod live;
pub mod replay;
pub mod report;
pub mod serve;
pub mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "spantop",
    version,
    about = "Find the cold starts, fan-outs and critical paths in your OpenTelemetry traces"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Headless OTLP receiver: assembles traces and logs a summary line every few seconds.
    Serve(serve::ServeArgs),
    /// First run: a simulated serverless + microservice shop sending to a local receiver, in the TUI.
    Demo(live::DemoArgs),
    /// Receive OTLP and watch it in the live TUI.
    Live(live::LiveArgs),
    /// Saved trace files (OTLP JSON/protobuf, Jaeger, Zipkin; gzip ok) in the TUI, as fast as
    /// possible or at their recorded pace; `--headless` loads them and prints a summary.
    Replay(args::ReplayArgs),
    /// Analyse trace files headless: cold starts, N+1 loops, fan-outs, critical-path hotspots,
    /// gaps, error origins; text, Markdown or JSON; `--fail-on` for CI gates.
    Report(report::ReportArgs),
    /// Convert trace files to OTLP JSON lines or length-prefixed OTLP protobuf.
    Convert(convert::ConvertArgs),
    /// Send the demo system's traffic to any OTLP endpoint (also the load generator).
    Simulate(simulate::SimulateArgs),
}

/// Turns transparent huge pages off for this process (Linux), unless mimalloc's own
/// `MIMALLOC_ALLOW_THP` says otherwise. mimalloc asks for huge pages for its segments; the
/// kernel then zeroes 2 MiB at the first touch of each, and again after every partial purge
/// splits one: a file replay spent 1.8-2.5 s of system time in those faults against 0.4-0.5 s
/// with 4 KiB pages, and its peak resident memory was 5 % higher.
fn without_transparent_huge_pages() {
    // Refused (a seccomp filter), the process only runs as it would have: nothing to report.
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

pub fn main() -> ExitCode {
    without_transparent_huge_pages();
    let cli = Cli::parse();
    // Log lines on stderr would tear through the TUI's screen.
    let tui = match &cli.command {
        Command::Live(_) | Command::Demo(_) => true,
        Command::Replay(args) => !args.headless,
        _ => false,
    };
    if !tui {
        init_logging();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spantop: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Demo(args) => live::demo(args).await,
            Command::Live(args) => live::live(args).await,
            Command::Replay(args) => replay::run(args).await,
            Command::Report(args) => report::run(args).await,
            Command::Convert(args) => convert::convert(args).await,
            Command::Simulate(args) => simulate::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("spantop: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPANTOP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a signal that arrives while the TUI draws its first frame must end
/// the program cleanly (terminal restored, exit 0), not kill it with the default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                (Ok(mut term), Err(_)) => {
                    term.recv().await;
                }
                (Err(_), Ok(mut int)) => {
                    int.recv().await;
                }
                (Err(_), Err(_)) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
