//! `y` in the Trace view: a value onto the clipboard, through the first clipboard tool on
//! PATH, or else as an OSC 52 escape the terminal (or tmux with `set-clipboard on`) may take.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;

/// Clipboard tools in the order tried, with the arguments that make them read stdin.
const TOOLS: &[(&str, &[&str])] = &[
    ("wl-copy", &[]),
    ("xclip", &["-selection", "clipboard"]),
    ("xsel", &["--clipboard", "--input"]),
    ("pbcopy", &[]),
];

fn on_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| Path::new(p).is_file())
}

/// The OSC 52 sequence that sets the clipboard to `text`.
pub fn osc52(text: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    format!("\x1b]52;c;{b64}\x07")
}

/// Copies `text`; says how, for the status line. `path` is the PATH searched; `terminal`
/// takes the OSC 52 escape when no tool is found.
pub fn copy_with(text: &str, path: Option<&OsStr>, terminal: &mut dyn Write) -> String {
    let tool = path.and_then(|path| {
        TOOLS
            .iter()
            .find_map(|&(name, args)| on_path(name, path).map(|p| (name, p, args)))
    });
    if let Some((name, exe, args)) = tool {
        let piped = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(text.as_bytes())?;
                }
                // Reaped off the UI thread: xclip and xsel stay to serve the selection.
                std::thread::spawn(move || child.wait());
                Ok(())
            });
        return match piped {
            Ok(()) => format!("copied {text} ({name})"),
            Err(e) => format!("{name} failed: {e}"),
        };
    }
    let sent = terminal
        .write_all(osc52(text).as_bytes())
        .and_then(|()| terminal.flush());
    match sent {
        Ok(()) => format!("no clipboard tool on PATH: sent {text} to the terminal (OSC 52)"),
        Err(_) => "no clipboard tool on PATH, and the terminal took no OSC 52".into(),
    }
}

/// `copy_with` on this process' PATH and terminal.
pub fn copy(text: &str) -> String {
    let path = std::env::var_os("PATH");
    copy_with(text, path.as_deref(), &mut std::io::stdout())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_tool_the_terminal_gets_osc52_and_the_status_says_so() {
        let mut out = Vec::new();
        let empty = std::env::temp_dir().join("spantop-no-clipboard-tools");
        let status = copy_with("00f067aa0ba902b7", Some(empty.as_os_str()), &mut out);
        assert!(status.contains("no clipboard tool"), "{status}");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "\x1b]52;c;MDBmMDY3YWEwYmE5MDJiNw==\x07"
        );
    }
}
