//! The one table every list view renders with: filtering, sorting by any column, the row order
//! cached per data generation, scrolling, grouping of repeated first-column names, and
//! wide-only columns. A view only says what its columns hold, as typed `Value`s; the cell text
//! and the sort key both come from that value, so they cannot disagree.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Cell, Row as TableRow, Table};

use crate::analysis::findings::view::ViewData;
use crate::ui::filter::Filter;
use crate::ui::text::{clean, dur};
use crate::ui::theme;
use crate::ui::views::ListView;

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
        }
    }
}

fn cmp_keys(a: Key<'_>, b: Key<'_>) -> Ordering {
    match (a, b) {
        (Key::Num(x), Key::Num(y)) => x.total_cmp(&y),
        (Key::Text(x), Key::Text(y)) => x.cmp(y),
        (Key::Num(_), Key::Text(_)) => Ordering::Less,
        (Key::Text(_), Key::Num(_)) => Ordering::Greater,
    }
}

fn cmp_values(a: &Value<'_>, b: &Value<'_>) -> Ordering {
    cmp_keys(a.key(), b.key())
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
    /// The filtered, sorted row order of the last frame, and what it was computed for: with
    /// 100,000 traces, sorting on every frame would cost more than drawing it.
    order: Option<(OrderKey, Arc<[usize]>)>,
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

    /// The visible rows in display order: from the cache when nothing it depends on changed.
    fn order<V: ListView + ?Sized>(&mut self, view: &V, data: &ViewData) -> Arc<[usize]> {
        let key = self.order_key(data);
        match &self.order {
            Some((k, order)) if *k == key => Arc::clone(order),
            _ => {
                let order: Arc<[usize]> = visible(view, self, data).into();
                self.order = Some((key, Arc::clone(&order)));
                order
            }
        }
    }
}

/// Indices of the rows that pass the filter, in display order. Ties fall back to the other
/// columns in order, so the order is total and frames are stable.
fn visible<V: ListView + ?Sized>(view: &V, state: &ListState, data: &ViewData) -> Vec<usize> {
    let rows = view.rows(data);
    let cols = view.columns();
    let sort = state.sort.min(cols.len() - 1);
    // The sort column's values once per row; the other columns only when rows tie.
    let mut keyed: Vec<(usize, Value<'_>)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| state.filter.terms.iter().all(|t| view.matches(r, t, data)))
        .map(|(i, r)| (i, (cols[sort].value)(r, data)))
        .collect();
    keyed.sort_by(|(a, ka), (b, kb)| {
        let primary = cmp_values(ka, kb);
        let primary = if state.descending {
            primary.reverse()
        } else {
            primary
        };
        let (x, y) = (&rows[*a], &rows[*b]);
        cols.iter().fold(primary, |acc, c| {
            acc.then_with(|| cmp_values(&(c.value)(x, data), &(c.value)(y, data)))
        })
    });
    keyed.into_iter().map(|(i, _)| i).collect()
}

/// How many rows pass the filter.
pub fn visible_len<V: ListView + ?Sized>(
    view: &V,
    state: &mut ListState,
    data: &ViewData,
) -> usize {
    state.order(view, data).len()
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
    let shown: Vec<(usize, &Column<V::Row>)> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| area.width >= WIDE || !c.wide_only)
        .collect();
    // Borders and the header row take three lines.
    let height = area.height.saturating_sub(3) as usize;
    state.selected = state.selected.min(order.len().saturating_sub(1));
    if state.selected < state.offset {
        state.offset = state.selected;
    } else if height > 0 && state.selected >= state.offset + height {
        state.offset = state.selected + 1 - height;
    }
    let sort = state.sort.min(cols.len() - 1);
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
    let mut title_spans = vec![TextSpan::styled(
        format!(" {} ", view.title(data)),
        theme::TITLE,
    )];
    title_spans.push(TextSpan::raw(format!("{}/{} ", order.len(), items.len())));
    if !state.filter.is_empty() {
        title_spans.push(TextSpan::styled(
            format!("filter: {} ", clean(state.filter.text())),
            Style::default().fg(Color::Yellow),
        ));
    }
    let table = Table::new(rows, shown.iter().map(|(_, c)| c.width))
        .header(header)
        .column_spacing(1)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(Color::DarkGray))
                .title(Line::from(title_spans)),
        );
    frame.render_widget(table, area);
    if order.is_empty() && area.height > 4 {
        let msg = if items.is_empty() {
            "nothing yet: waiting for complete traces"
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
}
