//! Pieces every screen shares: the sortable table, the header line, the tab bar, the footer
//! (filter prompt, status or key hints) and the help overlay.

pub mod footer;
pub mod header;
pub mod help;
pub mod table;
pub mod tabs;

use ratatui::style::Style;
use ratatui::text::Span as TextSpan;

use crate::ui::text::{fit, width};

/// Fits a line's spans into `room` columns: spans are kept in order while they fit, and the
/// first that does not is cut with `…` (display width), so no line is cut mid-word unmarked.
pub fn fit_spans(spans: Vec<TextSpan<'_>>, room: usize) -> Vec<TextSpan<'static>> {
    let mut out = Vec::with_capacity(spans.len());
    let mut left = room;
    for s in spans {
        let w = width(&s.content);
        if w <= left {
            left -= w;
            out.push(TextSpan::styled(s.content.into_owned(), s.style));
        } else {
            if left > 0 {
                out.push(TextSpan::styled(
                    fit(&s.content, left).into_owned(),
                    s.style,
                ));
            }
            break;
        }
    }
    out
}

/// One styled piece of a line, cut to `room` columns.
pub fn fitted(text: &str, room: usize, style: Style) -> TextSpan<'static> {
    TextSpan::styled(fit(text, room).into_owned(), style)
}
