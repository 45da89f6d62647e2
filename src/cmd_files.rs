//! `spantop replay` and `spantop convert`: trace files into the store, or into other files.
//!
//! Exit status: 0 when every file was read whole, 2 when something was skipped (bad lines,
//! spans or messages; each summary says what), 1 when a file could not be read at all.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::ingest::IngestStats;
use crate::ingest::file::replay::{Speed, feed_timed};
use crate::ingest::file::write::{OutputFormat, TraceWriter};
use crate::ingest::file::{FileError, FileSummary, read_path};
use crate::model::Span;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::server::summary_line;
use crate::store::{SpanStore, StoreConfig, StoreStats};
use crate::units::{parse_duration, parse_size};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Trace files: OTLP JSON or JSON lines, OTLP protobuf, Jaeger JSON, Zipkin v2 JSON;
    /// gzipped or not. Formats may be mixed.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// `max` loads as fast as possible; `1x`, `10x`, ... re-play spans in their own timing.
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// Memory budget for held spans; whole traces are evicted, oldest complete first, beyond it.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: usize,
    /// In timed replay, a trace with no new span for this long (wall time) is complete.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trace_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConvertTo {
    /// OTLP JSON lines, as the Collector's file exporter writes them.
    OtlpJson,
    /// OTLP protobuf, each message after its 4-byte big-endian length (Collector file exporter).
    OtlpProto,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Input files, then the output file (gzipped when its name ends in `.gz`).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum)]
    pub to: ConvertTo,
}

/// What all files of one command came to.
#[derive(Default)]
struct Outcome {
    fatal: bool,
    skipped: bool,
    records: u64,
    spans: u64,
    rejected: u64,
}

impl Outcome {
    fn file(&mut self, result: Result<FileSummary, FileError>) {
        match result {
            Ok(s) => {
                println!("{s}");
                self.skipped |= !s.is_clean();
                self.records += s.records;
                self.spans += s.spans;
                self.rejected += s.skipped;
            }
            Err(e) => {
                eprintln!("spantop: {e}");
                self.fatal = true;
            }
        }
    }

    fn exit_code(&self) -> ExitCode {
        match (self.fatal, self.skipped) {
            (true, _) => ExitCode::FAILURE,
            (false, true) => ExitCode::from(2),
            (false, false) => ExitCode::SUCCESS,
        }
    }

    fn ingest_stats(&self) -> IngestStats {
        IngestStats {
            requests: self.records,
            spans_accepted: self.spans,
            spans_rejected: self.rejected,
            ..IngestStats::default()
        }
    }
}

pub async fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let store_config = StoreConfig {
        inactivity_timeout: args.trace_timeout,
        max_memory: args.max_memory,
        ..StoreConfig::default()
    };
    let started = Instant::now();
    let (outcome, stats) = match args.speed {
        Speed::Max => {
            let files = args.files;
            tokio::task::spawn_blocking(move || replay_max(&files, store_config)).await?
        }
        Speed::Times(factor) => replay_timed(args.files, factor, store_config).await?,
    };
    println!(
        "{}",
        summary_line(&stats, &outcome.ingest_stats(), 0, 0, 0, started.elapsed())
    );
    Ok(outcome.exit_code())
}

/// Batches decoded but not yet in the store, in `replay --speed max`: enough to keep both
/// threads busy, few enough to bound memory.
const DECODE_AHEAD: usize = 64;

/// Everything straight into one store; traces complete at the end of the input. Files are
/// decoded on their own thread while this one feeds the store, so the two overlap.
fn replay_max(files: &[PathBuf], config: StoreConfig) -> (Outcome, StoreStats) {
    let (tx, rx) = std::sync::mpsc::sync_channel(DECODE_AHEAD);
    let files = files.to_vec();
    let reader = std::thread::spawn(move || {
        let mut outcome = Outcome::default();
        for path in &files {
            // A send fails only if the store side is gone; then there is nothing left to do.
            outcome.file(read_path(path, &mut |b| {
                let _ = tx.send(b);
            }));
        }
        outcome
    });
    let mut store = SpanStore::new(config);
    let now = std::time::Instant::now();
    for batch in rx {
        store.ingest(batch, now);
    }
    store.complete_all();
    let outcome = reader.join().unwrap_or_else(|_| Outcome {
        fatal: true,
        ..Outcome::default()
    });
    (outcome, store.stats())
}

/// Loads every file first (spans of all files interleave by time), then feeds the pipeline
/// at the recorded pace, logging the summary line as the live views would see it.
async fn replay_timed(
    files: Vec<PathBuf>,
    factor: f64,
    store: StoreConfig,
) -> anyhow::Result<(Outcome, StoreStats)> {
    let (outcome, spans) = tokio::task::spawn_blocking(move || {
        let mut outcome = Outcome::default();
        let mut spans: Vec<Span> = Vec::new();
        for path in &files {
            outcome.file(read_path(path, &mut |b| spans.extend(b.spans)));
        }
        (outcome, spans)
    })
    .await?;
    let pipeline = Pipeline::spawn(PipelineConfig {
        store,
        ..PipelineConfig::default()
    });
    let tx = pipeline.tx.clone();
    let feeder = tokio::spawn(async move { feed_timed(spans, factor, &tx, |_| {}).await });
    let snapshots = pipeline.snapshots.clone();
    let view = pipeline.view.clone();
    let ingest = outcome.ingest_stats();
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    ticker.tick().await;
    let (mut prev_spans, mut prev_at) = (0, Instant::now());
    tokio::pin!(feeder);
    loop {
        tokio::select! {
            done = &mut feeder => { done?; break; }
            _ = ticker.tick() => {
                let stats = snapshots.borrow().stats;
                let now = Instant::now();
                let (failures, skipped) = {
                    let v = view.borrow();
                    (v.analysis_failures, v.analysis_skipped)
                };
                println!("{}", summary_line(&stats, &ingest, failures, skipped, prev_spans, now - prev_at));
                (prev_spans, prev_at) = (stats.spans_received, now);
            }
        }
    }
    let finished = pipeline.finish().await?;
    Ok((outcome, finished.store.stats()))
}

pub async fn convert(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || convert_blocking(&args)).await?
}

fn convert_blocking(args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let (out_path, inputs) = match args.paths.split_last() {
        Some((out, inputs)) if !inputs.is_empty() => (out, inputs),
        _ => anyhow::bail!("convert needs input files and then the output file"),
    };
    let format = match args.to {
        ConvertTo::OtlpJson => OutputFormat::OtlpJson,
        ConvertTo::OtlpProto => OutputFormat::OtlpProto,
    };
    let file =
        File::create(out_path).with_context(|| format!("cannot create {}", out_path.display()))?;
    let file = BufWriter::with_capacity(1 << 20, file);
    let out = if is_gz(out_path) {
        Output::Gz(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ))
    } else {
        Output::Plain(file)
    };
    let mut writer = TraceWriter::new(out, format);
    let mut outcome = Outcome::default();
    let mut write_error = None;
    for path in inputs {
        let result = read_path(path, &mut |batch| {
            if write_error.is_none()
                && let Err(e) = writer.write(&batch.spans)
            {
                write_error = Some(e);
            }
        });
        outcome.file(result);
        if let Some(e) = write_error.take() {
            return Err(e).with_context(|| format!("writing {}", out_path.display()));
        }
    }
    let (records, spans) = (writer.records, writer.spans);
    writer
        .finish()
        .and_then(Output::finish)
        .with_context(|| format!("writing {}", out_path.display()))?;
    println!(
        "wrote {spans} spans in {records} records to {}",
        out_path.display()
    );
    Ok(outcome.exit_code())
}

enum Output {
    Plain(BufWriter<File>),
    Gz(flate2::write::GzEncoder<BufWriter<File>>),
}

impl Output {
    /// Flushes to disk; a gzip stream is complete only once its trailer is written.
    fn finish(self) -> std::io::Result<()> {
        let file = match self {
            Output::Plain(w) => w,
            Output::Gz(gz) => gz.finish()?,
        };
        file.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Plain(w) => w.write(buf),
            Output::Gz(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Plain(w) => w.write_all(buf),
            Output::Gz(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(w) => w.flush(),
            Output::Gz(w) => w.flush(),
        }
    }
}

fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}
