//! `spantop report FILE...`: the files through the pipeline in batch mode (traces complete on
//! the files' clock, every one is analysed, and spans are let go of once analysed, within
//! `--max-memory`), then the one `Findings` the TUI shows, rendered as text, Markdown or JSON.
//! `--fail-on` turns findings into an exit code.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::args::{AnalysisArgs, HoldArgs};
use crate::analysis::engine::{AnalysisConfig, Engine, RETIRED_LIST_CAP};
use crate::analysis::findings::{Findings, FindingsOptions};
use crate::ingest::file::replay::Speed;
use crate::pipeline::files::{FileSource, InputOutcome};
use crate::pipeline::{self, PipelineConfig, Source, Unanalysed};
use crate::report::{self, Condition, GATE_EXIT, SKIPPED_EXIT};
use crate::store::{StoreConfig, StoreStats};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    #[value(alias = "markdown")]
    Md,
    Json,
}

impl From<FormatArg> for report::OutputFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Text => report::OutputFormat::Text,
            FormatArg::Md => report::OutputFormat::Md,
            FormatArg::Json => report::OutputFormat::Json,
        }
    }
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Exit status: 0 ok; 1 nothing could be read (no report) or another error; 2 some \
input was skipped (unreadable file, bad lines or spans, or spans not analysed for \
--max-memory): the report covers the rest and --fail-on is not evaluated; 3 a --fail-on condition held.\n\
Metrics for --fail-on: coldstart.rate coldstart.count coldstart.cp_ms nplus1.count \
nplus1.max_degree parallel.count chains.count chains.max_amplification errors.count \
errors.rate p50 p95 p99 max traces orphans. Values take ms, s, us, m or %."
)]
pub struct ReportArgs {
    /// Trace files: OTLP JSON / JSON lines / protobuf, Jaeger JSON, Zipkin v2 JSON (.gz too).
    #[arg(required_unless_present = "attach", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Report the merged view of running `serve --api` instances instead of files
    /// (`ADDR[,ADDR...]`); figures that are approximate are listed in the README.
    #[arg(
        long,
        value_name = "ADDR,...",
        value_delimiter = ',',
        conflicts_with = "files"
    )]
    pub attach: Vec<String>,
    /// Bearer token the attached instances require.
    #[arg(long, env = "SPANTOP_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<crate::ingest::access::AuthToken>,
    /// With --attach: speak TLS to the instances, trusting server certificates this CA (PEM)
    /// signed.
    #[arg(long, value_name = "PEM", requires = "attach")]
    pub tls_ca: Option<PathBuf>,
    #[command(flatten)]
    pub client_cert: super::args::ClientCertArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: FormatArg,
    /// Rows per ranked list (default 10 for text and md, every row for json).
    #[arg(long)]
    pub top: Option<usize>,
    /// Exit with status 3 when the condition holds, e.g. `coldstart.rate>0.05`, `p99>800ms`.
    /// Repeatable; any condition holding fails the run.
    #[arg(long, value_name = "EXPR")]
    pub fail_on: Vec<Condition>,
    /// JSON: add one entry per trace (critical path sections, badges).
    #[arg(long)]
    pub per_trace: bool,
    #[command(flatten)]
    pub hold: HoldArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// The status input alone decides, before any `--fail-on`: 1 when nothing could be read, 2
/// when anything was skipped or not analysed, none when every file was read and analysed whole.
fn input_exit_code(analysed: &Analysed) -> Option<u8> {
    if analysed.input.spans() == 0 {
        Some(1)
    } else if analysed.left_something_out {
        Some(SKIPPED_EXIT)
    } else {
        None
    }
}

/// What reading the files came to.
pub struct Analysed {
    /// It analysed every trace, and kept every trace's findings.
    pub engine: Engine,
    pub input: InputOutcome,
    pub unanalysed: Unanalysed,
    /// `Ended::left_something_out`: the exit status is 2.
    pub left_something_out: bool,
    /// The store's figures at the end (`peak_memory_bytes`: the most it held).
    pub stats: StoreStats,
}

/// Reads every file through the pipeline in batch mode. A file that cannot be read is reported
/// and counted; the others are still analysed.
pub async fn analyse_files(
    files: &[PathBuf],
    store: StoreConfig,
    analysis: AnalysisConfig,
) -> anyhow::Result<Analysed> {
    let source = Source::Files(FileSource {
        paths: files.to_vec(),
        speed: Speed::Max,
    });
    let mut ended = pipeline::start(source, PipelineConfig::batch(store, analysis))
        .await?
        .finish()
        .await?;
    let left_something_out = ended.left_something_out();
    let input = ended.input.take().unwrap_or_default();
    for r in &input.files {
        match r {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) => eprintln!("spantop: cannot read {e}"),
        }
    }
    let analysed = Analysed {
        left_something_out,
        unanalysed: ended.finished.unanalysed(),
        stats: ended.finished.store.stats(),
        engine: ended.finished.engine,
        input,
    };
    // The report needs the engine only; the spans go on a thread of their own.
    pipeline::let_go(ended.finished.store);
    Ok(analysed)
}

pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if !args.attach.is_empty() {
        return run_attached(args).await;
    }
    let analysis = AnalysisConfig {
        // The cross-trace findings name one section per operation; only the per-trace
        // entries list whole paths.
        keep_retired_paths: args.per_trace,
        // What a list of single occurrences keeps of the traces let go of.
        retired_list_cap: args.top.unwrap_or(RETIRED_LIST_CAP),
        ..args.analysis.unbounded()
    };
    let analysed = analyse_files(&args.files, args.hold.store(), analysis).await?;
    let code = input_exit_code(&analysed);
    let Analysed {
        engine,
        input,
        unanalysed,
        ..
    } = analysed;
    if input.spans() == 0 {
        // An empty report would read as "all clear", and pass any --fail-on gate.
        eprintln!("spantop: no spans could be read from the input; no report");
        return Ok(ExitCode::FAILURE);
    }
    let format = report::OutputFormat::from(args.format);
    let top = args.top.unwrap_or(default_top(format));
    // Text and Markdown group the full lists (43 loops of one kind are one row) and cut the
    // groups to `top`; JSON cuts the lists themselves.
    let list_top = match format {
        report::OutputFormat::Json => top,
        report::OutputFormat::Text | report::OutputFormat::Md => usize::MAX,
    };
    let findings = Findings::build(
        &engine,
        FindingsOptions {
            top: list_top,
            occurrences: list_top,
            per_trace: args.per_trace,
        },
    );
    // The engine's findings are in `findings` now: let them go before the report is written.
    drop(engine);
    report::write(
        &findings,
        format,
        top,
        &mut std::io::BufWriter::new(std::io::stdout().lock()),
    )?;
    if !unanalysed.is_empty() {
        eprintln!("spantop: {unanalysed}");
    }
    if let Some(code) = code {
        eprintln!(
            "spantop: input was skipped ({} unreadable files, {} records or spans, {} spans not analysed); the report covers the rest{}",
            input.unreadable_files(),
            input.skipped(),
            unanalysed.evicted_spans + unanalysed.late_spans,
            if args.fail_on.is_empty() {
                ""
            } else {
                "; --fail-on not evaluated"
            }
        );
        return Ok(ExitCode::from(code));
    }
    let hit = report::gate::tripped(&findings, &args.fail_on);
    for (c, v) in &hit {
        eprintln!("spantop: --fail-on {c} holds (value {v})");
    }
    Ok(if hit.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GATE_EXIT)
    })
}

/// `report --attach`: one refresh of the merged view, rendered as a file report is. Exit 1
/// when no instance answered, 2 when some did not (the report covers the rest).
async fn run_attached(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut attached = crate::api::attach::Attached::connect(
        &args.attach,
        &crate::api::attach::ClientOptions {
            token: args.auth_token.clone(),
            tls_ca: args.tls_ca.clone(),
            tls_client: args.client_cert.client_cert(),
            ..Default::default()
        },
    )?;
    let merged = attached.refresh().await;
    for i in &merged.instances {
        if let crate::api::attach::Health::Down(why) = &i.health {
            eprintln!("spantop: instance {} is down ({why}); left out", i.addr);
        }
    }
    if merged.up() == 0 {
        eprintln!("spantop: no attached instance answered; no report");
        return Ok(ExitCode::FAILURE);
    }
    let format = report::OutputFormat::from(args.format);
    let top = args.top.unwrap_or(default_top(format));
    let out = report::render(&merged.findings, format, top)?;
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("cannot write the report")?;
    if merged.up() < merged.instances.len() {
        return Ok(ExitCode::from(SKIPPED_EXIT));
    }
    let hit = report::gate::tripped(&merged.findings, &args.fail_on);
    for (c, v) in &hit {
        eprintln!("spantop: --fail-on {c} holds (value {v})");
    }
    Ok(if hit.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GATE_EXIT)
    })
}

/// `--top` when not given: JSON keeps every entry, text and Markdown the first ten.
fn default_top(format: report::OutputFormat) -> usize {
    match format {
        report::OutputFormat::Json => usize::MAX,
        report::OutputFormat::Text | report::OutputFormat::Md => 10,
    }
}
