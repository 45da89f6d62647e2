//! The one table every list view renders with: filtering, sorting by any column, the row order
//! cached per data generation, scrolling, grouping of repeated first-column names, and
//! wide-only columns. A view only says what its columns hold, as typed `Value`s; the cell text
//! and the sort key both come from that value, so they cannot disagree.

use std::borrow::Cow;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Cell, Row as TableRow, Table};

use crate::analysis::findings::view::ViewData;
use crate::model::TraceId;
use crate::ui::filter::Filter;
use crate::ui::text::{clean, dur, width};
use crate::ui::theme;
use crate::ui::views::ListView;
use crate::ui::widgets::{fit_spans, fitted};

/// What a cell holds. The widget derives both the text (telemetry text made safe with `clean`)
/// and the sort key from it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A name; sorts as text.
    Text(Cow<'a, str>),
    /// Nanoseconds, shown as people read them (`840µs`, `12.3ms`, `2m18s`).
    Duration(u64),
    /// A fraction shown as a percentage with one decimal, no sign (the title carries the `%`).
    Percent(f64),
    Count(u64),
    /// A number with this many decimals.
    Float(f64, usize),
    /// No value: shown as `-`, sorts below every number.
    Missing,
    /// A composite cell ("7.0/12", "ERR COLD"): shown as the text, sorted by the key.
    Shown(String, Key<'a>),
    /// `label: text` (a trace's root as `service: name`), sorted by the text; builds no
    /// string unless drawn.
    Labelled(&'a str, &'a str),
}

/// A sort key: numbers compare as numbers, names as text; numbers sort before names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key<'a> {
    Num(f64),
    Text(&'a str),
}

impl Value<'_> {
    pub fn text(&self) -> String {
        match self {
            Value::Text(s) => clean(s).into_owned(),
            Value::Duration(ns) => dur(*ns),
            Value::Percent(f) => format!("{:.1}", f * 100.0),
            Value::Count(n) => n.to_string(),
            Value::Float(x, decimals) => format!("{x:.decimals$}"),
            Value::Missing => "-".to_owned(),
            Value::Shown(s, _) => clean(s).into_owned(),
            Value::Labelled(l, t) => format!("{}: {}", clean(l), clean(t)),
        }
    }

    pub fn key(&self) -> Key<'_> {
        match self {
            Value::Text(s) => Key::Text(s),
            Value::Duration(ns) => Key::Num(*ns as f64),
            Value::Percent(f) | Value::Float(f, _) => Key::Num(*f),
            Value::Count(n) => Key::Num(*n as f64),
            Value::Missing => Key::Num(f64::NEG_INFINITY),
            Value::Shown(_, k) => *k,
            Value::Labelled(_, t) => Key::Text(t),
        }
    }
}

impl<'a> Value<'a> {
    /// The sort key, owning what it borrowed from the value: computed once per row when the
    /// order is built, never inside the sort's comparisons.
    fn into_key(self) -> SortKey<'a> {
        match self {
            Value::Text(s) => SortKey::Text(s),
            Value::Shown(_, Key::Text(s)) => SortKey::Text(Cow::Borrowed(s)),
            Value::Labelled(_, s) => SortKey::Text(Cow::Borrowed(s)),
            other => match other.key() {
                Key::Num(x) => SortKey::Num(x),
                // Only the variants above carry text.
                Key::Text(_) => SortKey::Num(f64::NAN),
            },
        }
    }
}

/// A row's sort key for one column, held for the length of one sort.
#[derive(Debug, Clone, PartialEq)]
enum SortKey<'a> {
    Num(f64),
    Text(Cow<'a, str>),
}

/// The order of sort keys; `codes` turns a column's keys into integers in this order.
fn cmp_sort_keys(a: &SortKey<'_>, b: &SortKey<'_>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (SortKey::Num(x), SortKey::Num(y)) => x.total_cmp(y),
        (SortKey::Text(x), SortKey::Text(y)) => x.cmp(y),
        (SortKey::Num(_), SortKey::Text(_)) => Ordering::Less,
        (SortKey::Text(_), SortKey::Num(_)) => Ordering::Greater,
    }
}

#[cfg(test)]
fn cmp_values(a: &Value<'_>, b: &Value<'_>) -> std::cmp::Ordering {
    cmp_sort_keys(&a.clone().into_key(), &b.clone().into_key())
}

/// One column of a list view: its title, width and what its cell holds for a row.
pub struct Column<R> {
    pub title: &'static str,
    pub width: Constraint,
    /// Shown only when the terminal is wide enough; keeps 80 columns readable.
    pub wide_only: bool,
    pub value: for<'a> fn(&'a R, &'a ViewData) -> Value<'a>,
}

pub const fn col<R>(
    title: &'static str,
    width: Constraint,
    value: for<'a> fn(&'a R, &'a ViewData) -> Value<'a>,
) -> Column<R> {
    Column {
        title,
        width,
        wide_only: false,
        value,
    }
}

pub const fn wide<R>(c: Column<R>) -> Column<R> {
    Column {
        wide_only: true,
        ..c
    }
}

/// Selection, scroll, sort and filter of one table.
#[derive(Debug, Clone, Default)]
pub struct ListState {
    pub selected: usize,
    pub offset: usize,
    pub sort: usize,
    pub descending: bool,
    pub filter: Filter,
    /// The selected row's identity once a key moved to it: new data, another sort or another
    /// filter re-find it, so the cursor stays on the item rather than on the row number.
    pinned: Option<RowId>,
    /// The filtered, sorted row order of the last frame, and what it was computed for: with
    /// 100,000 traces, sorting on every frame would cost more than drawing it.
    order: Option<(OrderKey, Arc<[usize]>)>,
    /// Every row in sort order (the key's filter empty): a filter as typed only picks rows
    /// out of it, so no key of the filter sorts 100,000 rows again.
    sorted: Option<(OrderKey, Arc<[usize]>)>,
}

/// What a cached row order depends on.
#[derive(Debug, Clone, PartialEq)]
struct OrderKey {
    generation: u64,
    sort: usize,
    descending: bool,
    filter: Filter,
}

impl ListState {
    pub fn sorted_by((sort, descending): (usize, bool)) -> Self {
        ListState {
            sort,
            descending,
            ..ListState::default()
        }
    }

    fn order_key(&self, data: &ViewData) -> OrderKey {
        OrderKey {
            generation: data.generation,
            sort: self.sort,
            descending: self.descending,
            filter: self.filter.clone(),
        }
    }

    /// Back to the first row, nothing pinned (a new filter from elsewhere, e.g. a service's
    /// traces).
    pub fn to_top(&mut self) {
        self.selected = 0;
        self.offset = 0;
        self.pinned = None;
    }

    /// The visible rows in display order: from the cache when nothing it depends on changed.
    /// A new order re-finds the pinned row; when it is gone the position stays (clamped),
    /// or after a new filter the first row is selected.
    fn order<V: ListView + ?Sized>(&mut self, view: &V, data: &ViewData) -> Arc<[usize]> {
        let key = self.order_key(data);
        if let Some((k, order)) = &self.order
            && *k == key
        {
            return Arc::clone(order);
        }
        let new_filter = self
            .order
            .as_ref()
            .is_some_and(|(k, _)| k.filter != key.filter);
        let all = self.sorted(view, data);
        let rows = view.rows(data);
        let order: Arc<[usize]> = if self.filter.is_empty() {
            all
        } else {
            // Tested in memory order: in display order the same test read the rows at random
            // (10 ms instead of 1 ms over 100,000 traces).
            let pass: Vec<bool> = rows
                .iter()
                .map(|r| self.filter.terms.iter().all(|t| view.matches(r, t, data)))
                .collect();
            all.iter()
                .copied()
                .filter(|&i| pass.get(i).copied().unwrap_or(false))
                .collect()
        };
        // The pinned row found in memory order, then its index in the order: asking each row
        // of the order for its id read 100,000 rows at random (10-30 ms a key of a filter).
        let found = self.pinned.as_ref().and_then(|id| {
            let at = rows.iter().position(|r| view.id(r, data) == *id)?;
            order.iter().position(|&i| i == at)
        });
        match found {
            Some(pos) => self.selected = pos,
            None if new_filter => {
                self.selected = 0;
                self.offset = 0;
            }
            None => {}
        }
        self.selected = self.selected.min(order.len().saturating_sub(1));
        self.order = Some((key, Arc::clone(&order)));
        order
    }

    /// Every row in display order, unfiltered: from the cache while the data and the sort
    /// stay the same.
    fn sorted<V: ListView + ?Sized>(&mut self, view: &V, data: &ViewData) -> Arc<[usize]> {
        let key = OrderKey {
            filter: Filter::default(),
            ..self.order_key(data)
        };
        if let Some((k, all)) = &self.sorted
            && *k == key
        {
            return Arc::clone(all);
        }
        let all: Arc<[usize]> = sorted(view, self, data).into();
        self.sorted = Some((key, Arc::clone(&all)));
        all
    }

    /// Pins the row now at `selected` (after a key moved the cursor).
    fn pin<V: ListView + ?Sized>(&mut self, view: &V, data: &ViewData) {
        let order = self.order(view, data);
        self.pinned = order
            .get(self.selected)
            .and_then(|&i| view.rows(data).get(i))
            .map(|r| view.id(r, data));
    }
}

/// What identifies a row across refreshes: a trace by its id, anything else by the names
/// that make it (service; function and trigger; caller and callee...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowId {
    Trace(TraceId),
    Name(String),
}

fn sort_key<'d, R>(cols: &[Column<R>], c: usize, r: &'d R, data: &'d ViewData) -> SortKey<'d> {
    match cols.get(c) {
        Some(col) => (col.value)(r, data).into_key(),
        None => SortKey::Num(0.0),
    }
}

/// Indices of every row in display order. Each row's keys are computed once (the sort
/// column's, then the default sort's and the first column's for ties, then the row's place),
/// so the order is total (a filter's rows read in the same order), frames are stable, and no
/// comparison builds a value. The keys are sorted as integers (`codes`): sorting 100,000
/// rows of three `SortKey`s (104 bytes a row, text compared as text) took 15-40 ms a key.
fn sorted<V: ListView + ?Sized>(view: &V, state: &ListState, data: &ViewData) -> Vec<usize> {
    let rows = view.rows(data);
    let cols = view.columns();
    let last = cols.len().saturating_sub(1);
    let sort = state.sort.min(last);
    let (tie, tie_descending) = view.default_sort();
    let tie = tie.min(last);
    let column = |c: usize, descending: bool| -> Vec<u64> {
        codes(
            rows.iter().map(|r| sort_key(cols, c, r, data)).collect(),
            descending,
        )
    };
    let none = || vec![0u64; rows.len()];
    let first = column(sort, state.descending);
    let second = if tie != sort {
        column(tie, tie_descending)
    } else {
        none()
    };
    let third = if sort != 0 && tie != 0 {
        column(0, false)
    } else {
        none()
    };
    let mut keyed: Vec<(u64, u64, u64, usize)> = (0..rows.len())
        .map(|i| (first[i], second[i], third[i], i))
        .collect();
    // The row's place is part of the key: unstable sorting gives the stable order.
    keyed.sort_unstable();
    keyed.into_iter().map(|k| k.3).collect()
}

/// One column's sort keys as integers that order as `cmp_sort_keys` does, reversed when
/// `descending`: numbers by their bits in total order; a column with text by each key's rank
/// in one sort of the column (a binary search per row in the distinct keys read 100,000
/// trace ids at random: 150 ms).
fn codes(keys: Vec<SortKey<'_>>, descending: bool) -> Vec<u64> {
    // `f64::total_cmp`'s order, as an unsigned integer.
    let bits = |x: f64| {
        let b = x.to_bits();
        if b >> 63 == 1 { !b } else { b | 1 << 63 }
    };
    let out: Vec<u64> = if keys.iter().all(|k| matches!(k, SortKey::Num(_))) {
        keys.iter()
            .map(|k| match k {
                SortKey::Num(x) => bits(*x),
                SortKey::Text(_) => 0,
            })
            .collect()
    } else {
        let mut by_key: Vec<usize> = (0..keys.len()).collect();
        by_key.sort_unstable_by(|&a, &b| cmp_sort_keys(&keys[a], &keys[b]));
        let mut out = vec![0u64; keys.len()];
        let mut rank = 0u64;
        for (n, w) in by_key.iter().enumerate() {
            if n > 0 && cmp_sort_keys(&keys[by_key[n - 1]], &keys[*w]).is_ne() {
                rank += 1;
            }
            out[*w] = rank;
        }
        out
    };
    if descending {
        out.into_iter().map(|c| !c).collect()
    } else {
        out
    }
}

/// How many rows pass the filter.
pub fn visible_len<V: ListView + ?Sized>(
    view: &V,
    state: &mut ListState,
    data: &ViewData,
) -> usize {
    state.order(view, data).len()
}

/// Pins the selected row: the cursor follows it across new data, sorts and filters.
pub fn pin<V: ListView + ?Sized>(view: &V, state: &mut ListState, data: &ViewData) {
    state.pin(view, data);
}

/// The selected row, in display order.
pub fn selected<'d, V: ListView + ?Sized>(
    view: &V,
    state: &mut ListState,
    data: &'d ViewData,
) -> Option<&'d V::Row> {
    let i = *state.order(view, data).get(state.selected)?;
    view.rows(data).get(i)
}

/// Below this width the `wide_only` columns are left out.
const WIDE: u16 = 110;

/// The columns drawn in a table `width` wide: the `wide_only` ones only when wide, then
/// from the right those whose least width does not fit, never the sort column. The rest are
/// named in the title as hidden.
fn fitting_columns<R>(cols: &[Column<R>], sort: usize, width: u16) -> Vec<(usize, &Column<R>)> {
    let least = |c: &Column<R>| match c.width {
        Constraint::Length(n) | Constraint::Min(n) | Constraint::Max(n) => n as usize,
        _ => 0,
    };
    let inner = width.saturating_sub(2) as usize;
    let mut shown: Vec<(usize, &Column<R>)> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| width >= WIDE || !c.wide_only)
        .collect();
    // Each column after the first is one space from the one before.
    let need = |shown: &[(usize, &Column<R>)]| {
        shown.iter().map(|(_, c)| least(c)).sum::<usize>() + shown.len().saturating_sub(1)
    };
    while shown.len() > 1 && need(&shown) > inner {
        match shown.iter().rposition(|(i, _)| *i != sort) {
            Some(p) => {
                shown.remove(p);
            }
            None => break,
        }
    }
    shown
}

/// The table's title in `room` columns: the view's title, the rows shown of the rows held,
/// the filter, and the columns left out. The count always shows; the view's title gives way
/// first to the filter and the hidden columns, up to half the room, then each is cut with `…`.
fn table_title(
    title: &str,
    shown: usize,
    held: usize,
    filter: &Filter,
    hidden: &[&str],
    room: usize,
) -> Line<'static> {
    let title = format!(" {title} ");
    let count = format!("{shown}/{held} ");
    let filter = if filter.is_empty() {
        String::new()
    } else {
        format!("filter: {} ", clean(filter.text()))
    };
    let hidden = if hidden.is_empty() {
        String::new()
    } else {
        format!("hidden: {} ", hidden.join(", "))
    };
    let room = room.saturating_sub(width(&count));
    let extras = (width(&filter) + width(&hidden)).min(room / 2);
    let title_room = room.saturating_sub(extras).min(width(&title));
    let mut spans = if title_room < width(&title) {
        // Cut, the `…` then a space before the count.
        vec![
            fitted(title.trim_end(), title_room.saturating_sub(1), theme::TITLE),
            TextSpan::raw(" "),
        ]
    } else {
        vec![TextSpan::styled(title, theme::TITLE)]
    };
    spans.push(TextSpan::raw(count));
    let rest = fit_spans(
        vec![
            TextSpan::styled(filter, Style::default().fg(Color::Yellow)),
            TextSpan::styled(hidden, theme::DIM),
        ],
        room.saturating_sub(title_room),
    );
    spans.extend(rest);
    Line::from(spans)
}

pub fn draw<V: ListView + ?Sized>(
    frame: &mut Frame,
    area: Rect,
    view: &V,
    state: &mut ListState,
    data: &ViewData,
) {
    let items = view.rows(data);
    let cols = view.columns();
    let order = state.order(view, data);
    let sort = state.sort.min(cols.len() - 1);
    let shown = fitting_columns(cols, sort, area.width);
    let hidden: Vec<&str> = cols
        .iter()
        .enumerate()
        .filter(|(i, _)| !shown.iter().any(|(j, _)| j == i))
        .map(|(_, c)| c.title)
        .collect();
    // Borders and the header row take three lines.
    let height = area.height.saturating_sub(3) as usize;
    state.selected = state.selected.min(order.len().saturating_sub(1));
    if state.selected < state.offset {
        state.offset = state.selected;
    } else if height > 0 && state.selected >= state.offset + height {
        state.offset = state.selected + 1 - height;
    }
    let arrow = if state.descending { "▼" } else { "▲" };
    let header = TableRow::new(shown.iter().map(|(i, c)| {
        let t = if *i == sort {
            format!("{}{arrow}", c.title)
        } else {
            c.title.to_owned()
        };
        Cell::from(t)
    }))
    .style(theme::HEADER);
    // Sorted by a name in the first column, rows group under it: repeats are left blank
    // below the first row of a group (the Map reads as caller, then its callees).
    let first_value = |i: usize| (cols[0].value)(&items[i], data);
    let group = sort == 0
        && order
            .first()
            .is_some_and(|&i| matches!(first_value(i).key(), Key::Text(_)));
    let mut prev_first: Option<Value<'_>> = None;
    let rows = order
        .iter()
        .enumerate()
        .skip(state.offset)
        .take(height.max(1))
        .map(|(pos, &i)| {
            let item = &items[i];
            let style = if pos == state.selected {
                theme::SELECTED
            } else if view.alarming(item) {
                theme::ERROR
            } else {
                Style::default()
            };
            let first = first_value(i);
            let repeat = group && prev_first.as_ref().is_some_and(|p| p.key() == first.key());
            prev_first = Some(first);
            TableRow::new(shown.iter().map(|&(ci, c)| {
                if ci == 0 && repeat {
                    Cell::from("")
                } else {
                    Cell::from((c.value)(item, data).text())
                }
            }))
            .style(style)
        })
        .collect::<Vec<_>>();
    let title = table_title(
        &view.title(data),
        order.len(),
        items.len(),
        &state.filter,
        &hidden,
        area.width.saturating_sub(2) as usize,
    );
    let table = Table::new(rows, shown.iter().map(|(_, c)| c.width))
        .header(header)
        .column_spacing(1)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(Color::DarkGray))
                .title(title),
        );
    frame.render_widget(table, area);
    if order.is_empty() && area.height > 4 {
        let msg = if items.is_empty() {
            view.empty()
        } else {
            "no row matches the filter (Esc clears it)"
        };
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        frame.render_widget(
            Line::styled(msg, Style::default().add_modifier(Modifier::ITALIC)),
            inner,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;

    #[test]
    fn cell_text_and_sort_key_come_from_one_value() {
        assert_eq!(Value::Percent(0.123).text(), "12.3");
        assert_eq!(Value::Duration(12_345_678).text(), "12.3ms");
        assert_eq!(Value::Float(2.26, 1).text(), "2.3");
        assert_eq!(Value::Missing.text(), "-");
        assert_eq!(Value::Text("a\x1bb".into()).text(), "a\\eb");
        // Missing sorts below any number, numbers below names.
        let ordered = [
            Value::Missing,
            Value::Count(0),
            Value::Duration(5),
            Value::Text("a".into()),
            Value::Text("b".into()),
        ];
        for pair in ordered.windows(2) {
            assert_eq!(cmp_values(&pair[0], &pair[1]), Ordering::Less, "{pair:?}");
        }
        assert_eq!(
            Value::Shown("7.0/12".into(), Key::Num(7.0)).key(),
            Key::Num(7.0)
        );
    }

    /// The integers a sort compares order the keys exactly as `cmp_sort_keys` does, either
    /// way round, numbers (negative, zero, infinite) and names, alone or mixed.
    #[test]
    fn sort_codes_order_as_the_keys_do() {
        let num = |x: f64| SortKey::Num(x);
        let text = |t: &'static str| SortKey::Text(Cow::Borrowed(t));
        let columns = [
            vec![
                num(3.5),
                num(-2.0),
                num(0.0),
                num(f64::NEG_INFINITY),
                num(1e12),
                num(-0.0),
                num(3.5),
            ],
            vec![text("b"), text("a"), text("ab"), text("b"), text("")],
            vec![
                text("m"),
                num(7.0),
                num(f64::NEG_INFINITY),
                text("a"),
                num(-0.0),
                num(0.0),
                text("m"),
            ],
        ];
        for keys in columns {
            for descending in [false, true] {
                let c = codes(keys.clone(), descending);
                for (i, a) in keys.iter().enumerate() {
                    for (j, b) in keys.iter().enumerate() {
                        let want = cmp_sort_keys(a, b);
                        let want = if descending { want.reverse() } else { want };
                        assert_eq!(c[i].cmp(&c[j]), want, "{a:?} {b:?} descending {descending}");
                    }
                }
            }
        }
    }
}
