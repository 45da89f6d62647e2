//! The one-way data flow of DESIGN.md, checked on the source text: a module may use only the
//! layers before it (in a path or anywhere in a `use` tree), only `ingest` and `export` may
//! name the OTLP wire types, `ui` and `report` never name the engine, and only `cmd/` names
//! clap.

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

/// Every path a file's `use` declarations import, the braces expanded and whitespace removed:
/// `use crate::analysis::{\n    engine::Engine,\n};` gives `crate::analysis::engine::Engine`,
/// which a line-by-line look at `crate::analysis::{` does not see.
fn used_paths(lines: &[(usize, String)]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut decl: Option<(usize, String)> = None;
    for (n, line) in lines {
        let t = line.trim_start();
        if decl.is_none() {
            let rest = ["pub(crate) use ", "pub(super) use ", "pub use ", "use "]
                .iter()
                .find_map(|p| t.strip_prefix(p));
            match rest {
                Some(rest) => decl = Some((*n, rest.to_owned())),
                None => continue,
            }
        } else if let Some((_, text)) = &mut decl {
            text.push_str(t);
        }
        if let Some((start, text)) = decl.take_if(|(_, text)| text.contains(';')) {
            // `x as y` kept as `x@y`: the rename is no path segment.
            let tree: String = text
                .split(';')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .map(|w| if w == "as" { "@" } else { w })
                .collect();
            for path in expand("", &tree) {
                out.push((start, path));
            }
        }
    }
    out
}

/// `a::{b,c::{d}}` -> `a::b`, `a::c::d`.
fn expand(prefix: &str, tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![format!("{prefix}{tree}")];
    };
    let head = format!("{prefix}{}", &tree[..open]);
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let (mut parts, mut depth, mut from) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[from..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| match p {
            "self" => vec![head.trim_end_matches("::").to_owned()],
            p => expand(&head, p),
        })
        .collect()
}

/// Whether `path` is `module` or something inside it.
fn names_module(path: &str, module: &str) -> bool {
    path.strip_prefix(module)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('@'))
}

#[test]
fn layers_only_depend_downstream() {
    let mut violations = Vec::new();
    for (layer, forbidden) in FORBIDDEN {
        for file in layer_files(layer) {
            let lines = code_lines(&file);
            for (n, path) in used_paths(&lines) {
                for target in *forbidden {
                    let named = ["crate", "spantop"]
                        .iter()
                        .any(|root| names_module(&path, &format!("{root}::{target}")));
                    if named {
                        violations.push(format!(
                            "{}:{n}: `{layer}` must not use `{target}`: use {path}",
                            file.display()
                        ));
                    }
                }
            }
            for (n, line) in lines {
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

/// The TUI and the report show the `Findings` the pipeline's one engine built: they name
/// neither its module (any path or `use` tree) nor its types, re-exported or not.
#[test]
fn ui_and_report_never_name_the_engine() {
    let engine_types = ["Engine", "AnalysisConfig", "Analyser", "analyse_trace"];
    let mut violations = Vec::new();
    for layer in ["ui", "report"] {
        let files = layer_files(layer);
        assert!(!files.is_empty(), "found the {layer} sources");
        for file in files {
            let lines = code_lines(&file);
            for (n, path) in used_paths(&lines) {
                if path.contains("analysis::engine") {
                    violations.push(format!("{}:{n}: use {path}", file.display()));
                }
            }
            for (n, line) in &lines {
                // base64's `Engine` (the clipboard's OSC 52) is not the analysis engine.
                if line.contains("base64") {
                    continue;
                }
                let named = line.contains("analysis::engine")
                    || line
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .any(|word| engine_types.contains(&word));
                if named {
                    violations.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the engine named by ui or report:\n{}",
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
        let lines = code_lines(file);
        for (n, path) in used_paths(&lines) {
            if names_module(path.trim_start_matches("::"), "clap") {
                violations.push(format!("{}:{n}: use {path}", file.display()));
            }
        }
        for (n, line) in lines {
            // The derive attributes: clap's, whatever path its macros came in by.
            let t = line.trim_start();
            let attribute = ["#[arg(", "#[command(", "#[clap(", "#[value("]
                .iter()
                .any(|a| t.starts_with(a));
            if line.contains("clap::") || attribute {
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
fn use_trees_are_expanded_across_lines() {
    let lines: Vec<(usize, String)> = [
        "use crate::analysis::{",
        "    findings::view::ViewData,",
        "    engine::{self, Engine as E},",
        "};",
        "pub use clap::Args;",
        "let x = 1;",
    ]
    .iter()
    .enumerate()
    .map(|(i, l)| (i + 1, (*l).to_owned()))
    .collect();
    let paths: Vec<String> = used_paths(&lines).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        paths,
        [
            "crate::analysis::findings::view::ViewData",
            "crate::analysis::engine",
            "crate::analysis::engine::Engine@E",
            "clap::Args",
        ]
    );
    assert!(names_module(&paths[1], "crate::analysis::engine"));
    assert!(names_module(&paths[3], "clap"));
    assert!(!names_module(
        "crate::analysis::engineer",
        "crate::analysis::engine"
    ));
    let renamed = used_paths(&[(1, "use crate::ui as u;".to_owned())]);
    assert!(names_module(&renamed[0].1, "crate::ui"));
}

#[test]
fn the_check_itself_catches_a_violation() {
    // Guards against a pattern list that silently matches nothing.
    let line = "use crate::ui::App;";
    assert!(line.contains("crate::ui::"));
    let lines = code_lines(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/architecture.rs"));
    assert!(lines.iter().any(|(_, l)| l.contains("crate::ui::App")));
}
