//! The `?` overlay: every key binding and what it does, centred over the body.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::ui::theme;

/// Draws `lines` of (keys, what they do) as a boxed list over `area`.
pub fn render(frame: &mut Frame, area: Rect, lines: &[(&str, &str)]) {
    let w = area.width.min(100);
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let key_w = lines
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let text: Vec<Line> = lines
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                TextSpan::styled(format!(" {k:<key_w$} "), theme::KEY),
                TextSpan::raw(*d),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).block(
            Block::default()
                .borders(Borders::ALL)
                .title(TextSpan::styled(" Keys ", theme::TITLE)),
        ),
        popup,
    );
}
