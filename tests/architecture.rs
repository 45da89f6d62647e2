//! The one-way data flow of DESIGN.md, checked on the source text: a module may use only the
//! layers before it, and only `ingest` and `export` may name the OTLP wire types.

use std::path::{Path, PathBuf};

/// For each layer, the crate modules it must never name.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "model",
        &[
            "ingest", "export", "store", "analysis", "ui", "report", "demo", "pipeline", "server",
            "cli", "cmd",
        ],
    ),
    (
        "ingest",
        &[
            "store", "analysis", "ui", "report", "pipeline", "server", "cli", "cmd",
        ],
    ),
    // Outbound code (model -> OTLP, the exporter, the recorder, file writers) reads only the
    // model: the receivers use it to record what they accept, never the other way round.
    (
        "export",
        &[
            "ingest", "store", "analysis", "ui", "report", "pipeline", "server", "cli", "cmd",
        ],
    ),
    (
        "store",
        &[
            "ingest", "analysis", "ui", "report", "demo", "pipeline", "server", "cli", "cmd",
        ],
    ),
    (
        "analysis",
        &[
            "ingest", "ui", "report", "demo", "pipeline", "server", "cli", "cmd",
        ],
    ),
    // The report renders the `Findings` it is given: it neither runs the engine nor reads
    // files itself (that is the pipeline's, wired by `cmd::report`).
    (
        "report",
        &[
            "ui",
            "demo",
            "server",
            "cli",
            "cmd",
            "pipeline",
            "ingest",
            "analysis::engine",
        ],
    ),
    // The TUI renders what the pipeline publishes: it runs no analysis of its own.
    (
        "ui",
        &[
            "cli",
            "cmd",
            "pipeline",
            "server",
            "analysis::engine",
            "report",
        ],
    ),
    ("pipeline", &["ui", "report", "cli", "cmd", "server"]),
    // spantop's own API serves the pipeline's published view and merges instances' snapshots:
    // it never renders (ui, report) nor parses arguments (cmd).
    ("api", &["ui", "report", "cli", "cmd", "demo", "server"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn layer_files(layer: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join(layer), &mut files);
    let single = src.join(format!("{layer}.rs"));
    if single.exists() {
        files.push(single);
    }
    files
}

/// Code lines only: comments may mention any module, and unit tests (from `#[cfg(test)]`
/// on) may build their fixtures with anything.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).expect("source file is readable");
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| {
            let t = l.trim_start();
            !(t.starts_with("//") || t.starts_with("*"))
        })
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

#[test]
fn layers_only_depend_downstream() {
    let mut violations = Vec::new();
    for (layer, forbidden) in FORBIDDEN {
        for file in layer_files(layer) {
            for (n, line) in code_lines(&file) {
                for target in *forbidden {
                    let pats = [
                        format!("crate::{target}::"),
                        format!("crate::{target};"),
                        format!("crate::{target}}}"),
                        format!("crate::{target},"),
                        format!("spantop::{target}::"),
                    ];
                    if pats.iter().any(|p| line.contains(p.as_str())) {
                        violations.push(format!(
                            "{}:{n}: `{layer}` must not use `{target}`: {}",
                            file.display(),
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn only_ingest_names_the_otlp_types() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 5, "found the sources");
    let wire_edges = [src.join("ingest"), src.join("export")];
    let mut violations = Vec::new();
    for file in files
        .iter()
        .filter(|f| !wire_edges.iter().any(|edge| f.starts_with(edge)))
    {
        for (n, line) in code_lines(file) {
            if line.contains("opentelemetry_proto") {
                violations.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "OTLP types outside ingest and export:\n{}",
        violations.join("\n")
    );
}

/// Arguments are parsed in one place: only the commands name clap.
#[test]
fn only_the_commands_name_clap() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let commands = [src.join("cmd")];
    let mut violations = Vec::new();
    for file in files
        .iter()
        .filter(|f| !commands.iter().any(|c| f.starts_with(c)))
    {
        for (n, line) in code_lines(file) {
            if line.contains("clap::") || line.contains("use clap") {
                violations.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "clap outside the commands:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_itself_catches_a_violation() {
    // Guards against a pattern list that silently matches nothing.
    let line = "use crate::ui::App;";
    assert!(line.contains("crate::ui::"));
    let lines = code_lines(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/architecture.rs"));
    assert!(lines.iter().any(|(_, l)| l.contains("crate::ui::App")));
}
