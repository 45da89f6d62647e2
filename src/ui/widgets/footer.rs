//! The bottom line: the filter prompt while one is typed, else the last key's status message,
//! else the main keys of the current screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span as TextSpan};

use crate::ui::text::clean;
use crate::ui::theme;

/// What the footer shows; the first that is set wins.
pub struct Footer<'a> {
    /// The text being typed at the prompt, and what the prompt says before it.
    pub editing: Option<&'a str>,
    pub prompt: &'a str,
    pub status: Option<&'a str>,
    /// (keys, what they do) for the current screen.
    pub hints: &'a [(&'a str, &'a str)],
}

pub fn render(frame: &mut Frame, area: Rect, footer: &Footer<'_>) {
    let line = if let Some(text) = footer.editing {
        Line::from(super::fit_spans(
            vec![
                TextSpan::styled(footer.prompt.to_owned(), theme::KEY),
                TextSpan::raw(clean(text).into_owned()),
                TextSpan::styled("█", theme::DIM),
                TextSpan::styled("  Enter keep  Esc undo  C-u clear", theme::DIM),
            ],
            area.width as usize,
        ))
    } else if let Some(status) = footer.status {
        Line::from(super::fitted(
            &clean(status),
            area.width as usize,
            Style::new().fg(Color::Yellow),
        ))
    } else {
        Line::from(super::fit_spans(
            footer
                .hints
                .iter()
                .flat_map(|(k, d)| {
                    [
                        TextSpan::styled(format!(" {k}"), theme::KEY),
                        TextSpan::styled(format!(" {d}"), theme::DIM),
                    ]
                })
                .collect::<Vec<_>>(),
            area.width as usize,
        ))
    };
    frame.render_widget(line, area);
}
