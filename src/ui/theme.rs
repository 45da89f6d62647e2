//! Colours and styles, in one place. Services get stable colours from their names.

use ratatui::style::{Color, Modifier, Style};

pub const TITLE: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
pub const HEADER: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
pub const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
pub const ERROR: Style = Style::new().fg(Color::Red);
pub const DIM: Style = Style::new().fg(Color::DarkGray);
pub const KEY: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
pub const CRITICAL: Style = Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD);
pub const COLD: Style = Style::new()
    .fg(Color::LightBlue)
    .add_modifier(Modifier::BOLD);
pub const FANOUT: Style = Style::new().fg(Color::Yellow);
/// A span that find (`/` in the Trace view) matched.
pub const MATCH: Style = Style::new()
    .fg(Color::Black)
    .bg(Color::LightYellow)
    .add_modifier(Modifier::BOLD);
/// The border of the pane that has the keys.
pub const FOCUS: Style = Style::new().fg(Color::Cyan);

const PALETTE: [Color; 10] = [
    Color::Green,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::Yellow,
    Color::LightGreen,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::LightYellow,
];

/// A colour per service, from a hash of its name: the same across runs and frames.
pub fn service(name: &str) -> Color {
    // FNV-1a; interning order must not decide colours.
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    PALETTE[(h % PALETTE.len() as u64) as usize]
}
