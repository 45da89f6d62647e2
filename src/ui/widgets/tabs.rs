//! The tab bar under the header, and which tab a mouse click on it means.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;
use ratatui::widgets::Tabs;

use crate::ui::app::Tab;
use crate::ui::theme;

/// The screen row of the tab bar (under the header).
pub const TAB_BAR_ROW: u16 = 1;

/// Which tab's title is at `column` of the tab bar, laid out as `render` draws it:
/// "1 Services│2 Traces│...".
pub fn tab_at(column: u16) -> Option<usize> {
    let mut x = 0u16;
    for (i, t) in Tab::ALL.iter().enumerate() {
        let w = (t.title().chars().count() + 2) as u16;
        if column < x + w {
            return Some(i);
        }
        x += w + 1; // the divider
    }
    None
}

pub fn render(frame: &mut Frame, area: Rect, current: Tab) {
    let titles = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| Line::from(format!("{} {}", i + 1, t.title())));
    let selected = Tab::ALL.iter().position(|&t| t == current).unwrap_or(0);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .divider("│")
            .padding("", "")
            .highlight_style(theme::KEY.add_modifier(Modifier::REVERSED)),
        area,
    );
}
