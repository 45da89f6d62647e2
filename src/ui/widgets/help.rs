//! The `?` overlay: every key binding and what it does, centred over the body. As wide as its
//! text needs (up to the screen); descriptions too long for the screen wrap under themselves;
//! taller than the screen, it scrolls (j/k, PgDn/PgUp) and its title says where it is.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::ui::text::{fit, width};
use crate::ui::theme;

/// `text` in lines of at most `room` columns, broken at spaces (a word longer than the room
/// is cut with `…`).
fn wrap(text: &str, room: usize) -> Vec<String> {
    let room = room.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let word = fit(word, room);
        let need = if line.is_empty() { 0 } else { 1 } + width(&word);
        if !line.is_empty() && width(&line) + need > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    lines.push(line);
    lines
}

/// Draws `lines` of (keys, what they do) as a boxed list over `area`, from line `scroll` (which
/// is clamped to the last page and written back).
pub fn render(frame: &mut Frame, area: Rect, lines: &[(&str, &str)], scroll: &mut usize) {
    let key_w = lines.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let desc_w = lines.iter().map(|(_, d)| width(d)).max().unwrap_or(0);
    // Borders, a space either side of the keys, and a space after the text.
    let w = ((key_w + desc_w + 5) as u16).min(area.width);
    let room = (w as usize).saturating_sub(key_w + 5);
    let text: Vec<Line> = lines
        .iter()
        .flat_map(|(k, d)| {
            wrap(d, room).into_iter().enumerate().map(move |(i, part)| {
                let keys = if i == 0 { *k } else { "" };
                Line::from(vec![
                    TextSpan::styled(
                        format!(" {}{} ", keys, " ".repeat(key_w - width(keys))),
                        theme::KEY,
                    ),
                    TextSpan::raw(part),
                ])
            })
        })
        .collect();
    let h = (text.len() as u16 + 2).min(area.height);
    let visible = h.saturating_sub(2) as usize;
    *scroll = (*scroll).min(text.len().saturating_sub(visible));
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let title = if visible < text.len() {
        format!(
            " Keys {}-{} of {} (j/k scroll) ",
            *scroll + 1,
            (*scroll + visible).min(text.len()),
            text.len()
        )
    } else {
        " Keys ".to_owned()
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).scroll((*scroll as u16, 0)).block(
            Block::default()
                .borders(Borders::ALL)
                .title(TextSpan::styled(
                    fit(&title, (w as usize).saturating_sub(2)).into_owned(),
                    theme::TITLE,
                )),
        ),
        popup,
    );
}
