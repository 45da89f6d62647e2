//! Every key binding, once: keys, the context they work in, the action, and the help text.
//! `App::handle_key` looks keys up here, the `?` help lists these lines in order, and the
//! footer shows each screen's main bindings from their hints, so the three cannot drift apart.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Any list tab (everything but the Trace screen).
    List,
    Trace,
    /// The Trace view's statistics table (`s`).
    Stats,
    /// Typing at the prompt: a filter, a find, a group-by key.
    Prompt,
}

/// Which contexts a binding works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every screen (not while typing a filter).
    Global,
    List,
    Trace,
    Stats,
    /// Lists, the Trace screen and its statistics alike.
    Screens,
    Prompt,
}

impl Scope {
    fn covers(self, ctx: Context) -> bool {
        match self {
            Scope::Global | Scope::Screens => ctx != Context::Prompt,
            Scope::List => ctx == Context::List,
            Scope::Trace => ctx == Context::Trace,
            Scope::Stats => ctx == Context::Stats,
            Scope::Prompt => ctx == Context::Prompt,
        }
    }

    /// A binding for one screen only, which wins over the global and shared ones there.
    fn is_local(self) -> bool {
        !matches!(self, Scope::Global | Scope::Screens)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Pause,
    Tab(usize),
    NextTab,
    PrevTab,
    Back,
    Down,
    Up,
    PageDown,
    PageUp,
    First,
    Last,
    Open,
    Filter,
    SortNext,
    SortPrev,
    Reverse,
    Parent,
    Child,
    NextSibling,
    PrevSibling,
    Fold,
    FollowLink,
    ApplyFilter,
    CancelFilter,
    Erase,
    ClearFilter,
    InProgress,
    MapMode,
    Find,
    NextMatch,
    PrevMatch,
    /// Waterfall ⇄ span pane.
    Focus,
    /// The span pane full-screen and back.
    ToggleFull,
    Copy,
    ZoomIn,
    ZoomOut,
    PanLeft,
    PanRight,
    ResetZoom,
    ExpandAll,
    CollapseAll,
    /// Trace statistics and back.
    Stats,
    /// The statistics' next grouping.
    Group,
    /// Show only the selected span's service (and what leads to it), or everything again.
    OnlyService,
}

/// A key: its code, and whether Ctrl must be held. Other modifiers are ignored (a terminal
/// sends `S` with Shift, and Ctrl-J has always moved down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn k(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn c(ch: char) -> Key {
    k(KeyCode::Char(ch))
}

/// A footer hint: on which screen, its place there, the keys and the word.
#[derive(Debug, Clone, Copy)]
pub struct Hint {
    pub on: Context,
    pub at: u8,
    pub keys: &'static str,
    pub text: &'static str,
}

const fn hint(on: Context, at: u8, keys: &'static str, text: &'static str) -> Hint {
    Hint { on, at, keys, text }
}

/// One line of the help: its keys as shown, what they do, and the keys with their actions.
pub struct Binding {
    pub scope: Scope,
    pub label: &'static str,
    pub help: &'static str,
    pub keys: &'static [(Key, Action)],
    pub hints: &'static [Hint],
}

use Action as A;
use Context::{List as L, Stats as St, Trace as T};

pub const BINDINGS: &[Binding] = &[
    Binding {
        scope: Scope::Global,
        label: "1-7, Tab, S-Tab",
        help: "switch tab (Services, Traces, Trace, Cold starts, Fan-out, Hotspots, Map); on Trace, Tab moves the focus",
        keys: &[
            (c('1'), A::Tab(0)),
            (c('2'), A::Tab(1)),
            (c('3'), A::Tab(2)),
            (c('4'), A::Tab(3)),
            (c('5'), A::Tab(4)),
            (c('6'), A::Tab(5)),
            (c('7'), A::Tab(6)),
            (k(KeyCode::Tab), A::NextTab),
            (k(KeyCode::BackTab), A::PrevTab),
        ],
        hints: &[],
    },
    Binding {
        scope: Scope::Screens,
        label: "j/k, ↓/↑",
        help: "move; PgDn/PgUp, g/G page, first, last",
        keys: &[
            (c('j'), A::Down),
            (k(KeyCode::Down), A::Down),
            (c('k'), A::Up),
            (k(KeyCode::Up), A::Up),
            (k(KeyCode::PageDown), A::PageDown),
            (k(KeyCode::PageUp), A::PageUp),
            (c('g'), A::First),
            (k(KeyCode::Home), A::First),
            (c('G'), A::Last),
            (k(KeyCode::End), A::Last),
        ],
        hints: &[hint(T, 1, "j/k", "move"), hint(St, 1, "j/k", "scroll")],
    },
    Binding {
        scope: Scope::List,
        label: "Enter",
        help: "open: a trace, a finding's evidence, a service's traces",
        keys: &[(k(KeyCode::Enter), A::Open)],
        hints: &[hint(L, 1, "Enter", "open")],
    },
    Binding {
        scope: Scope::Global,
        label: "Esc",
        help: "back to where Enter came from (clears the filter at the start)",
        keys: &[(k(KeyCode::Esc), A::Back)],
        hints: &[
            hint(L, 6, "Esc", "back"),
            hint(T, 6, "Esc", "back"),
            hint(St, 6, "Esc", "back"),
        ],
    },
    Binding {
        scope: Scope::List,
        label: "/",
        help: "filter: words, service=X, KEY=VALUE, duration>250ms, error, coldstart, nplus1, fanout, orphan",
        keys: &[(c('/'), A::Filter)],
        hints: &[hint(L, 2, "/", "filter")],
    },
    Binding {
        scope: Scope::List,
        label: "s / h,l, ←/→",
        help: "sort by the next / previous column",
        keys: &[
            (c('s'), A::SortNext),
            (c('l'), A::SortNext),
            (k(KeyCode::Right), A::SortNext),
            (c('h'), A::SortPrev),
            (k(KeyCode::Left), A::SortPrev),
        ],
        hints: &[hint(L, 3, "s", "sort")],
    },
    Binding {
        scope: Scope::List,
        label: "i",
        help: "Traces: in progress (open traces, oldest first) / complete traces",
        keys: &[(c('i'), A::InProgress)],
        hints: &[],
    },
    Binding {
        scope: Scope::List,
        label: "v",
        help: "Map: the service graph in layers / the table of edges",
        keys: &[(c('v'), A::MapMode)],
        hints: &[],
    },
    Binding {
        scope: Scope::List,
        label: "S or r",
        help: "reverse the sort",
        keys: &[(c('S'), A::Reverse), (c('r'), A::Reverse)],
        hints: &[],
    },
    Binding {
        scope: Scope::Global,
        label: "Space",
        help: "pause the view (ingest goes on); again to resume",
        keys: &[(c(' '), A::Pause)],
        hints: &[hint(L, 4, "Space", "pause")],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: h/←  l/→",
        help: "parent / first child (unfolds); l on a leaf enters the span pane, h leaves it",
        keys: &[
            (c('h'), A::Parent),
            (k(KeyCode::Left), A::Parent),
            (c('l'), A::Child),
            (k(KeyCode::Right), A::Child),
        ],
        hints: &[],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: f",
        help: "follow a link (producer ⇄ consumer trace); again for the next link",
        keys: &[(c('f'), A::FollowLink)],
        hints: &[],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: Tab",
        help: "focus the span pane / the waterfall (j/k move the pane's cursor when it has the focus)",
        keys: &[(k(KeyCode::Tab), A::Focus)],
        hints: &[hint(T, 3, "Tab", "pane")],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: z, y",
        help: "span pane full-screen / back; copy the span id, or in the pane the value under the cursor (wl-copy, xclip, xsel, pbcopy, else OSC 52)",
        keys: &[(c('z'), A::ToggleFull), (c('y'), A::Copy)],
        hints: &[],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: /",
        help: "find: words match service, name, span id, attribute key or value; key=value; -key excludes",
        keys: &[(c('/'), A::Find)],
        hints: &[hint(T, 2, "/", "find")],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: n / N",
        help: "next / previous match of the find, skipping those v hides (Esc clears it)",
        keys: &[(c('n'), A::NextMatch), (c('N'), A::PrevMatch)],
        hints: &[],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: } {",
        help: "next / previous sibling",
        keys: &[(c('}'), A::NextSibling), (c('{'), A::PrevSibling)],
        hints: &[],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: Enter or c",
        help: "fold or unfold the subtree",
        keys: &[(k(KeyCode::Enter), A::Fold), (c('c'), A::Fold)],
        hints: &[hint(T, 4, "c", "fold")],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: E / C",
        help: "expand all / collapse all",
        keys: &[(c('E'), A::ExpandAll), (c('C'), A::CollapseAll)],
        hints: &[],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: + - [ ] 0",
        help: "time axis: zoom in (on the selected span) / out, pan left / right, reset",
        keys: &[
            (c('+'), A::ZoomIn),
            (c('='), A::ZoomIn),
            (c('-'), A::ZoomOut),
            (c('['), A::PanLeft),
            (c(']'), A::PanRight),
            (c('0'), A::ResetZoom),
        ],
        hints: &[],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: v",
        help: "only the selected span's service: other subtrees become \"N spans hidden\" rows; again for all",
        keys: &[(c('v'), A::OnlyService)],
        hints: &[],
    },
    Binding {
        scope: Scope::Trace,
        label: "Trace: s",
        help: "trace statistics: count, total, avg, min, max, self time, % of trace",
        keys: &[(c('s'), A::Stats)],
        hints: &[hint(T, 5, "s", "stats")],
    },
    Binding {
        scope: Scope::Stats,
        label: "Stats: g, s",
        help: "group by service › operation, operation, an attribute (asks its key), service; s back",
        keys: &[(c('g'), A::Group), (c('s'), A::Stats)],
        hints: &[hint(St, 2, "g", "group"), hint(St, 3, "s", "back")],
    },
    // The mouse arrives as keys (`ui::as_key`: wheel = ↓/↑, a click on the bar = its number).
    Binding {
        scope: Scope::Global,
        label: "mouse",
        help: "wheel scrolls; click a tab to open it",
        keys: &[],
        hints: &[],
    },
    Binding {
        scope: Scope::Global,
        label: "?",
        help: "this help (j/k scroll it, any other key closes it)",
        keys: &[(c('?'), A::Help)],
        hints: &[
            hint(L, 0, "?", "help"),
            hint(T, 0, "?", "help"),
            hint(St, 0, "?", "help"),
        ],
    },
    Binding {
        scope: Scope::Global,
        label: "q, Ctrl-C",
        help: "quit",
        keys: &[
            (c('q'), A::Quit),
            (
                Key {
                    code: KeyCode::Char('c'),
                    ctrl: true,
                },
                A::Quit,
            ),
        ],
        hints: &[
            hint(L, 7, "q", "quit"),
            hint(T, 7, "q", "quit"),
            hint(St, 7, "q", "quit"),
        ],
    },
    Binding {
        scope: Scope::Prompt,
        label: "Prompt: Enter/Esc",
        help: "a filter or find applies as typed; Enter keeps it; Esc puts back the filter from before /, or clears the find",
        keys: &[
            (k(KeyCode::Enter), A::ApplyFilter),
            (k(KeyCode::Esc), A::CancelFilter),
        ],
        hints: &[],
    },
    Binding {
        scope: Scope::Prompt,
        label: "Prompt: Bksp, C-u",
        help: "erase a character / clear the text",
        keys: &[
            (k(KeyCode::Backspace), A::Erase),
            (
                Key {
                    code: KeyCode::Char('u'),
                    ctrl: true,
                },
                A::ClearFilter,
            ),
        ],
        hints: &[],
    },
];

fn key_matches(want: Key, got: &KeyEvent) -> bool {
    want.code == got.code && (!want.ctrl || got.modifiers.contains(KeyModifiers::CONTROL))
}

/// The action `key` means in `ctx`. Ctrl bindings come first (Ctrl-C quits on the Trace
/// screen, where `c` folds); then the screen's own bindings (Tab moves the focus on the Trace
/// screen, `g` groups in its statistics), then the global ones, then the shared ones.
pub fn lookup(ctx: Context, key: &KeyEvent) -> Option<Action> {
    let covering = || BINDINGS.iter().filter(move |b| b.scope.covers(ctx));
    let keys = |pick: fn(&Binding) -> bool| {
        covering()
            .filter(move |b| pick(b))
            .flat_map(|b| b.keys.iter())
    };
    let ctrl = covering()
        .flat_map(|b| b.keys.iter())
        .filter(|(want, _)| want.ctrl);
    ctrl.chain(keys(|b| b.scope.is_local()))
        .chain(keys(|b| b.scope == Scope::Global))
        .chain(keys(|b| b.scope == Scope::Screens))
        .find(|(want, _)| key_matches(*want, key))
        .map(|&(_, action)| action)
}

/// The help overlay's lines, in table order.
pub fn help_lines() -> Vec<(&'static str, &'static str)> {
    BINDINGS.iter().map(|b| (b.label, b.help)).collect()
}

/// The footer's (keys, word) pairs for a screen, in their places.
pub fn hints(on: Context) -> Vec<(&'static str, &'static str)> {
    let mut h: Vec<Hint> = BINDINGS
        .iter()
        .flat_map(|b| b.hints.iter().copied())
        .filter(|h| h.on == on)
        .collect();
    h.sort_by_key(|h| h.at);
    h.into_iter().map(|h| (h.keys, h.text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: Key) -> KeyEvent {
        let mods = if key.ctrl {
            KeyModifiers::CONTROL
        } else {
            KeyModifiers::NONE
        };
        KeyEvent::new(key.code, mods)
    }

    #[test]
    fn every_action_is_reachable_by_its_listed_key() {
        for b in BINDINGS {
            let contexts: &[Context] = match b.scope {
                Scope::Global | Scope::Screens => &[Context::List, Context::Trace, Context::Stats],
                Scope::List => &[Context::List],
                Scope::Trace => &[Context::Trace],
                Scope::Stats => &[Context::Stats],
                Scope::Prompt => &[Context::Prompt],
            };
            for &(key, action) in b.keys {
                for &ctx in contexts {
                    // A screen's own binding for the same key wins there (listed below).
                    let shadowed = !b.scope.is_local()
                        && BINDINGS.iter().any(|o| {
                            o.scope.is_local()
                                && o.scope.covers(ctx)
                                && o.keys.iter().any(|(w, _)| *w == key)
                        });
                    if shadowed {
                        continue;
                    }
                    assert_eq!(
                        lookup(ctx, &event(key)),
                        Some(action),
                        "{key:?} in {ctx:?} ({})",
                        b.label
                    );
                }
            }
        }
        // Shift is ignored, Ctrl is not: `S` with Shift reverses, Ctrl-C quits, plain c folds.
        let shift_s = KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Context::List, &shift_s), Some(Action::Reverse));
        let fold = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(lookup(Context::Trace, &fold), Some(Action::Fold));
        assert_eq!(lookup(Context::Prompt, &fold), None);
        // The shadowed ones: Tab moves the focus on Trace, g groups the statistics.
        let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
        assert_eq!(lookup(Context::Trace, &tab), Some(Action::Focus));
        assert_eq!(lookup(Context::List, &tab), Some(Action::NextTab));
        let g = KeyEvent::new(KeyCode::Char('g'), KeyModifiers::NONE);
        assert_eq!(lookup(Context::Stats, &g), Some(Action::Group));
        assert_eq!(lookup(Context::Trace, &g), Some(Action::First));
    }

    #[test]
    fn the_footers_are_the_screens_main_bindings() {
        assert_eq!(
            hints(Context::List),
            [
                ("?", "help"),
                ("Enter", "open"),
                ("/", "filter"),
                ("s", "sort"),
                ("Space", "pause"),
                ("Esc", "back"),
                ("q", "quit")
            ]
        );
        assert_eq!(hints(Context::Trace).len(), 8);
        assert_eq!(help_lines().len(), BINDINGS.len());
    }
}
