//! Arguments shared by several commands: one `AnalysisArgs` flattened into every command that
//! analyses, one `ReplayArgs` for reading files.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::analysis::cold_start::ColdStartConfig;
use crate::analysis::critical_path::CpOptions;
use crate::analysis::engine::AnalysisConfig;
use crate::ingest::file::replay::Speed;
use crate::units::{parse_duration, parse_size};

/// How traces are analysed: the same flags, with the same defaults, on `serve`, `live`,
/// `demo`, `replay` and `report`.
#[derive(Args, Debug, Clone)]
pub struct AnalysisArgs {
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

impl Default for AnalysisArgs {
    fn default() -> Self {
        AnalysisArgs {
            jaeger_strict: false,
            max_clock_skew: None,
            coldstart_warmup: Duration::from_secs(60),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl AnalysisArgs {
    /// For live data and the TUI: per-trace findings are kept for the default number of
    /// traces (aggregates count every trace).
    pub fn bounded(&self) -> AnalysisConfig {
        self.config(AnalysisConfig::default().max_traces_kept)
    }

    /// For a report: the findings of every trace are kept.
    pub fn unbounded(&self) -> AnalysisConfig {
        self.config(usize::MAX)
    }

    fn config(&self, max_traces_kept: usize) -> AnalysisConfig {
        AnalysisConfig {
            critical_path: CpOptions {
                jaeger_strict: self.jaeger_strict,
            },
            cold_start: ColdStartConfig {
                warmup_ns: nanos(self.coldstart_warmup),
            },
            max_traces_kept,
            max_clock_skew_ns: self.max_clock_skew.map(nanos),
        }
    }
}

/// `spantop replay`: files, their pace, and what may be held.
#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// Trace files: OTLP JSON or JSON lines, OTLP protobuf, Jaeger JSON (also Elasticsearch /
    /// OpenSearch exports), Zipkin v2 JSON, Tempo and Jaeger API responses; gzipped or not.
    /// Formats may be mixed.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// `max` loads as fast as possible; `1x`, `10x`, ... re-play spans in their own timing.
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// Memory budget for held spans; whole traces are evicted, oldest complete first, beyond it.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: usize,
    /// No TUI: load and analyse the files, print per-file summaries and the summary line
    /// `serve` logs. Exit status 1 if a file could not be read, 2 if anything was skipped.
    #[arg(long)]
    pub headless: bool,
    /// In a timed replay, a trace with no new span for this long (wall time) is complete.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trace_timeout: Duration,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}
