//! Telemetry text is untrusted: a span name or attribute value may carry escape sequences that
//! would move the cursor, change colours or retitle the terminal. Everything from the data goes
//! through `clean` before it reaches a widget, so such bytes show as visible escapes instead.

use std::borrow::Cow;
use std::fmt::Write;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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

/// A duration in ns as people read it, its unit always written out and never ambiguous:
/// `420ns`, `4.2µs`, `850µs`, `12.3ms`, `1.24s`, `2m18s`, `1h02m`, `3d04h`. Each unit is used
/// up to where its rounded figure would reach the next one, so no `1000µs` or `60.00s`.
pub fn dur(ns: u64) -> String {
    const US: u64 = 1_000;
    const S: u64 = 1_000_000_000;
    const MIN: u64 = 60 * S;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let f = ns as f64;
    if ns < US {
        format!("{ns}ns")
    } else if ns < 9_950 {
        format!("{:.1}µs", f / 1e3)
    } else if ns < 999_500 {
        format!("{:.0}µs", f / 1e3)
    } else if ns < 9_995_000 {
        format!("{:.2}ms", f / 1e6)
    } else if ns < 999_950_000 {
        format!("{:.1}ms", f / 1e6)
    } else if ns < 59_995_000_000 {
        format!("{:.2}s", f / 1e9)
    } else if ns < HOUR - S / 2 {
        let secs = (ns + S / 2) / S;
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else if ns < DAY - MIN / 2 {
        let mins = (ns + MIN / 2) / MIN;
        format!("{}h{:02}m", mins / 60, mins % 60)
    } else {
        let hours = ns.saturating_add(HOUR / 2) / HOUR;
        format!("{}d{:02}h", hours / 24, hours % 24)
    }
}

/// Display width in terminal columns: a CJK character takes two, a combining mark none.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Fits `s` into `width` terminal columns, marking a cut with `…` (display width, so
/// full-width characters are never split and the result never overflows).
pub fn fit(s: &str, width: usize) -> Cow<'_, str> {
    if self::width(s) <= width {
        return Cow::Borrowed(s);
    }
    if width == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::with_capacity(width + 3);
    let mut used = 0;
    for c in s.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
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
    fn fit_elides_by_display_width() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abc", 0), "");
        // Full-width characters are two columns: never split, never past the width.
        assert_eq!(width("注文サービス"), 12);
        assert_eq!(fit("注文サービス", 6), "注文…");
        assert_eq!(fit("注文サービス", 5), "注文…");
        assert!(width(&fit("注文サービス", 5)) <= 5);
    }

    #[test]
    fn every_duration_names_its_unit_unambiguously() {
        let cases: &[(u64, &str)] = &[
            (0, "0ns"),
            (1, "1ns"),
            (420, "420ns"),
            (999, "999ns"),
            (1_000, "1.0µs"),
            (4_240, "4.2µs"),
            (9_949, "9.9µs"),
            (9_950, "10µs"),
            (850_000, "850µs"),
            (999_499, "999µs"),
            (999_500, "1.00ms"),
            (2_345_000, "2.35ms"),
            (12_345_678, "12.3ms"),
            (999_949_999, "999.9ms"),
            (999_950_000, "1.00s"),
            (1_240_000_000, "1.24s"),
            (59_994_999_999, "59.99s"),
            (59_995_000_000, "1m00s"),
            (138_000_000_000, "2m18s"),
            (3_599_400_000_000, "59m59s"),
            (3_599_500_000_000, "1h00m"),
            (3_720_000_000_000, "1h02m"),
            (86_369_000_000_000, "23h59m"),
            (86_370_000_000_000, "1d00h"),
            (273_600_000_000_000, "3d04h"),
            (u64::MAX, "213503d23h"),
        ];
        for &(ns, want) in cases {
            assert_eq!(dur(ns), want, "{ns} ns");
        }
        // Never a bare minute figure, never a zero for a sub-microsecond span.
        for ns in [60_000_000_000, 61_000_000_000, 7_000_000_000_000] {
            let d = dur(ns);
            assert!(!d.contains('.'), "{d}");
        }
    }
}
