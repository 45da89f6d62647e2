//! Drawing one frame: header, tab bar, the current screen, footer, and the help overlay. Reads
//! `ViewData` and `Header`; the only state it writes is scroll offsets and cached row orders,
//! and it never reads the wall clock.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};

use super::app::{App, Prompt};
use super::keymap;
use super::views::trace;
use super::widgets::footer::{self, Footer};
use super::widgets::header::{self, Header};
use super::widgets::{help, tabs};
use crate::analysis::findings::view::ViewData;

impl App {
    /// Draws the whole screen. `&mut self` only for scroll offsets and cached row orders.
    pub fn render(&mut self, frame: &mut Frame, data: &ViewData, header: &Header) {
        let [top, tab_bar, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        header::render(
            frame,
            top,
            header,
            self.playback,
            self.paused,
            self.listening.as_ref(),
            header::Listed {
                // A merged view lists only the traces it fetched: the instances' count instead.
                complete: if data.instances.is_empty() {
                    data.traces.len()
                } else {
                    usize::try_from(data.snapshot.stats.traces_held).unwrap_or(usize::MAX)
                },
                open: data.snapshot.stats.open_traces as usize,
                analysis_failures: data.analysis_failures,
                instances: &data.instances,
            },
        );
        tabs::render(frame, tab_bar, self.tab);
        match self.current_list() {
            Some(list) => list
                .view()
                .render(frame, body, &mut self.lists[list as usize], data),
            None => trace::render(frame, body, self.trace.as_mut(), data, &self.zone),
        }
        let hints = keymap::hints(self.context());
        footer::render(
            frame,
            bottom,
            &Footer {
                editing: self.editing.as_deref(),
                prompt: match self.prompt {
                    Prompt::Filter | Prompt::Find => "/",
                    Prompt::GroupKey => "group by attribute: ",
                },
                status: self.status.as_deref(),
                hints: &hints,
            },
        );
        if self.help {
            help::render(frame, body, &keymap::help_lines(), &mut self.help_scroll);
        }
    }
}
