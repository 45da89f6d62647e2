//! The report's rendering: the one `Findings` the TUI shows, as text (read in 30 seconds),
//! Markdown (postmortems) or JSON (scripts; layout in docs/report-schema.md, versioned by its
//! `schema` field), and the `--fail-on` gate. The command itself is `cmd::report`.

pub mod gate;
pub mod render;

use anyhow::Context as _;

use crate::analysis::findings::Findings;

pub use gate::Condition;

/// Exit code when a `--fail-on` condition holds (1 is any other failure).
pub const GATE_EXIT: u8 = 3;

/// Exit code when some input was skipped: the report covers only the rest (as `replay`).
pub const SKIPPED_EXIT: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Md,
    Json,
}

pub fn render(findings: &Findings, format: OutputFormat, top: usize) -> anyhow::Result<String> {
    let mut out = Vec::new();
    write(findings, format, top, &mut out)?;
    String::from_utf8(out).context("the report is not UTF-8")
}

/// `render`, written to `w` as it goes: a large report's JSON is never held whole.
pub fn write(
    findings: &Findings,
    format: OutputFormat,
    top: usize,
    w: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Text => {
            w.write_all(render::text(&render::sections(findings, top)).as_bytes())
        }
        OutputFormat::Md => {
            w.write_all(render::markdown(&render::sections(findings, top)).as_bytes())
        }
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *w, findings).context("cannot encode JSON")?;
            w.write_all(b"\n")
        }
    }
    .context("cannot write the report")?;
    w.flush().context("cannot write the report")
}
