//! `spantop report`: reads trace files, runs the analysis engine over every trace, and prints
//! the findings as text (read in 30 seconds), Markdown (postmortems) or JSON (scripts; layout
//! in docs/report-schema.md, versioned by its `schema` field). `--fail-on` turns findings into
//! an exit code for CI gates.

pub mod gate;
pub mod render;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::analysis::cold_start::ColdStartConfig;
use crate::analysis::critical_path::CpOptions;
use crate::analysis::engine::{AnalysisConfig, Engine};
use crate::analysis::findings::{Findings, FindingsOptions};
use crate::ingest::file;
use crate::store::{SpanStore, StoreConfig};
use crate::units::parse_duration;

pub use gate::Condition;

/// Exit code when a `--fail-on` condition holds (1 is any other failure).
pub const GATE_EXIT: u8 = 3;

/// Exit code when some input was skipped: the report covers only the rest (as `replay`).
pub const SKIPPED_EXIT: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    #[value(alias = "markdown")]
    Md,
    Json,
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Exit status: 0 ok; 1 nothing could be read (no report) or another error; 2 some \
input was skipped (unreadable file, bad lines or spans): the report covers the rest and \
--fail-on is not evaluated; 3 a --fail-on condition held.\n\
Metrics for --fail-on: coldstart.rate coldstart.count coldstart.cp_ms nplus1.count \
nplus1.max_degree parallel.count chains.count chains.max_amplification errors.count \
errors.rate p50 p95 p99 max traces orphans. Values take ms, s, us, m or %."
)]
pub struct ReportArgs {
    /// Trace files: OTLP JSON / JSON lines / protobuf, Jaeger JSON, Zipkin v2 JSON (.gz too).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
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
    /// Exact Jaeger UI critical path: a child must end strictly before the point returned to.
    #[arg(long)]
    pub jaeger_strict: bool,
    /// Shift spans of a host whose clock is off by up to this much (Jaeger's adjuster); off by
    /// default, as in Jaeger. Client/server gaps need no adjustment either way.
    #[arg(long, value_parser = parse_duration)]
    pub max_clock_skew: Option<Duration>,
    /// First invocations of a FaaS instance this close to the start of the data are "unknown"
    /// rather than cold (the capture may have started after the instance).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub coldstart_warmup: Duration,
}

impl ReportArgs {
    fn analysis_config(&self) -> AnalysisConfig {
        AnalysisConfig {
            critical_path: CpOptions {
                jaeger_strict: self.jaeger_strict,
            },
            cold_start: ColdStartConfig {
                warmup_ns: u64::try_from(self.coldstart_warmup.as_nanos()).unwrap_or(u64::MAX),
            },
            // Replay lists every trace; memory is bounded by the input, not by time.
            max_traces_kept: usize::MAX,
            max_clock_skew_ns: self
                .max_clock_skew
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        }
    }
}

/// What the input files came to, for the exit status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InputOutcome {
    /// Files that could not be opened or are no trace format at all.
    pub unreadable_files: usize,
    /// Records and spans skipped inside readable files.
    pub skipped: u64,
    pub spans: u64,
}

impl InputOutcome {
    /// The status input alone decides, before any `--fail-on`: 1 when nothing could be read,
    /// 2 when anything was skipped, none when every file was read whole.
    pub fn exit_code(&self) -> Option<u8> {
        if self.spans == 0 {
            Some(1)
        } else if self.unreadable_files > 0 || self.skipped > 0 {
            Some(SKIPPED_EXIT)
        } else {
            None
        }
    }
}

/// Reads every file, completes every trace (end of file = complete) and analyses them. A file
/// that cannot be read is reported and counted; the others are still analysed.
pub fn analyse_files(args: &ReportArgs) -> (Engine, InputOutcome) {
    let mut store = SpanStore::new(StoreConfig {
        max_memory: usize::MAX,
        ..StoreConfig::default()
    });
    let now = Instant::now();
    let mut input = InputOutcome::default();
    for path in &args.files {
        match file::read_path(path, &mut |b| store.ingest(b, now)) {
            Ok(summary) => {
                eprintln!("{summary}");
                input.skipped += summary.skipped;
                input.spans += summary.spans;
            }
            Err(e) => {
                eprintln!("spantop: cannot read {e}");
                input.unreadable_files += 1;
            }
        }
    }
    store.complete_all();
    let traces = store.take_completed();
    drop(store); // the completed traces are all that is needed now
    let mut engine = Engine::new(args.analysis_config());
    for t in traces {
        engine.add_trace(&t);
    }
    (engine, input)
}

pub fn render(findings: &Findings, format: OutputFormat, top: usize) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Text => render::text(&render::sections(findings, top)),
        OutputFormat::Md => render::markdown(&render::sections(findings, top)),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(findings).context("cannot encode JSON")?;
            s.push('\n');
            s
        }
    })
}

pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let (engine, input) = analyse_files(args);
    if input.spans == 0 {
        // An empty report would read as "all clear", and pass any --fail-on gate.
        eprintln!("spantop: no spans could be read from the input; no report");
        return Ok(ExitCode::FAILURE);
    }
    let top = args.top.unwrap_or(match args.format {
        OutputFormat::Json => usize::MAX,
        OutputFormat::Text | OutputFormat::Md => 10,
    });
    // Text and Markdown group the full lists (43 loops of one kind are one row) and cut the
    // groups to `top`; JSON cuts the lists themselves.
    let list_top = match args.format {
        OutputFormat::Json => top,
        OutputFormat::Text | OutputFormat::Md => usize::MAX,
    };
    let findings = Findings::build(
        &engine,
        FindingsOptions {
            top: list_top,
            per_trace: args.per_trace,
        },
    );
    let out = render(&findings, args.format, top)?;
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("cannot write the report")?;
    if let Some(code) = input.exit_code() {
        eprintln!(
            "spantop: input was skipped ({} unreadable files, {} records or spans); the report covers the rest{}",
            input.unreadable_files,
            input.skipped,
            if args.fail_on.is_empty() {
                ""
            } else {
                "; --fail-on not evaluated"
            }
        );
        return Ok(ExitCode::from(code));
    }
    let hit = gate::tripped(&findings, &args.fail_on);
    for (c, v) in &hit {
        eprintln!("spantop: --fail-on {c} holds (value {v})");
    }
    Ok(if hit.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GATE_EXIT)
    })
}
