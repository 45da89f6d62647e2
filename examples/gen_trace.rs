//! Writes one trace of a given shape and size (`demo::shapes`) as an OTLP protobuf file, for
//! timing `report` against `replay --headless` on one huge trace:
//!
//! ```text
//! cargo run --release --example gen_trace -- mixed 100000 /tmp/huge
//! # -> /tmp/huge.otlp.pb; shapes: wide, deep, mixed
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use spantop::demo::shapes::{self, Shape};
use spantop::export::write::{OutputFormat, TraceWriter};

/// Spans per record, as the recorder writes them.
const RECORD: usize = 1000;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let shape = match args.next().as_deref().unwrap_or("mixed") {
        "wide" => Shape::Wide,
        "deep" => Shape::Deep,
        "mixed" => Shape::Mixed,
        other => anyhow::bail!("unknown shape {other:?}: wide, deep or mixed"),
    };
    let n: usize = args.next().as_deref().unwrap_or("100000").parse()?;
    let path =
        PathBuf::from(args.next().unwrap_or_else(|| "/tmp/huge".into())).with_extension("otlp.pb");
    let spans = shapes::trace(shape, n, 1);
    let mut out = TraceWriter::new(
        BufWriter::with_capacity(1 << 20, File::create(&path)?),
        OutputFormat::OtlpProto,
    );
    for chunk in spans.chunks(RECORD) {
        out.write(chunk)?;
    }
    out.finish()?;
    println!(
        "{}: one {} trace of {} spans",
        path.display(),
        shape.name(),
        spans.len()
    );
    Ok(())
}
