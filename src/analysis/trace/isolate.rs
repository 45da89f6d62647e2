//! Panic isolation for per-trace analysis: one trace whose analysis panics (a bug, or input no
//! one foresaw) costs that trace only. The panic is caught, its message kept for the log, and
//! the default hook is kept quiet for it, so a caught panic neither tears through the TUI's
//! screen nor, through ratatui's hook, restores the terminal under a running TUI.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs an isolated analysis.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Wraps the current panic hook so that panics inside [`catch`] are recorded instead of
/// printed. Call again after anything that installs its own hook on top (the TUI's terminal
/// set-up does), so that this filter runs first.
pub fn install_panic_filter() {
    let prev = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if CATCHING.get() {
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_string());
            MESSAGE.set(Some(format!("{what}{at}")));
        } else {
            prev(info);
        }
    }));
}

/// Runs `f`, turning a panic into `Err(message)`. `f` must leave no shared state half-changed
/// when it unwinds: the analyses are pure functions of their inputs, so nothing is.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(install_panic_filter);
    let was = CATCHING.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(was);
    result.map_err(|_| {
        MESSAGE
            .take()
            .unwrap_or_else(|| "panic (message not recorded)".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let r: Result<(), String> = catch(|| panic!("bad trace {}", 7));
        let msg = r.expect_err("the panic is caught");
        assert!(msg.starts_with("bad trace 7 at "), "{msg}");
        assert_eq!(catch(|| 5), Ok(5));
    }
}
