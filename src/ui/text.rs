//! Telemetry text is untrusted: a span name or attribute value may carry escape sequences that
//! would move the cursor, change colours or retitle the terminal. Everything from the data goes
//! through `clean` before it reaches a widget, so such bytes show as visible escapes instead.

use std::borrow::Cow;
use std::fmt::Write;

fn needs_escape(c: char) -> bool {
    // C0, DEL and C1 controls, plus the invisible and bidi-override characters that can make
    // text read differently from what it is.
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `s` with every control or invisible character replaced by a visible escape (`\e`, `\n`,
/// `\u{9b}`...). Borrows when there is nothing to replace, which is almost always.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\x1b' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A duration in ns as people read it: `840us`, `12.3ms`, `1.24s`.
pub fn dur(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{:.0}us", ns / 1e3)
    } else if ns < 1e7 {
        format!("{:.2}ms", ns / 1e6)
    } else if ns < 1e9 {
        format!("{:.1}ms", ns / 1e6)
    } else if ns < 6e10 {
        format!("{:.2}s", ns / 1e9)
    } else {
        format!("{:.1}m", ns / 6e10)
    }
}

/// Truncates to `width` characters, marking the cut with `…`.
pub fn fit(s: &str, width: usize) -> Cow<'_, str> {
    if s.chars().count() <= width {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_visible_text() {
        assert_eq!(clean("GET /a"), "GET /a");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
        assert_eq!(
            clean("\x1b[2J\x1b]0;pwned\x07x"),
            "\\e[2J\\e]0;pwned\\u{7}x"
        );
        assert_eq!(clean("a\nb\u{9b}c\u{202e}d"), "a\\nb\\u{9b}c\\u{202e}d");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(dur(840_000), "840us");
        assert_eq!(dur(12_345_678), "12.3ms");
        assert_eq!(dur(1_240_000_000), "1.24s");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
