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
