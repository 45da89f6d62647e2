//! `spantop convert IN... --to otlp-json|otlp-proto OUT`: trace files rewritten as OTLP, with
//! the span logs they hold (a recording's `LogsData` lines) in OTLP JSON.
//!
//! Exit status: 0 when every file was read whole, 2 when something was skipped (bad lines,
//! spans or messages; each summary says what), 1 when a file could not be read at all.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::export::write::{OutputFormat, TraceWriter};
use crate::ingest::file::{FileError, FileSummary, read_path};

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
                && let Err(e) = writer
                    .write(&batch.spans)
                    .and_then(|()| writer.write_logs(&batch.logs))
            {
                write_error = Some(e);
            }
        });
        outcome.file(result);
        if let Some(e) = write_error.take() {
            return Err(e).with_context(|| format!("writing {}", out_path.display()));
        }
    }
    let (records, spans, logs, logs_not_written) = (
        writer.records,
        writer.spans,
        writer.logs,
        writer.logs_not_written,
    );
    writer
        .finish()
        .and_then(Output::finish)
        .with_context(|| format!("writing {}", out_path.display()))?;
    let logs = if logs > 0 {
        format!(" and {logs} span logs")
    } else {
        String::new()
    };
    println!(
        "wrote {spans} spans{logs} in {records} records to {}",
        out_path.display()
    );
    if logs_not_written > 0 {
        eprintln!(
            "spantop: {logs_not_written} span logs not written: OTLP protobuf trace files hold spans only (--to otlp-json keeps them)"
        );
        outcome.skipped = true;
    }
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
