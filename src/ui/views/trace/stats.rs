//! Trace statistics (`s` in the Trace view), after Jaeger's: the open trace's spans grouped by
//! service, operation or an attribute's value, optionally sub-grouped, with count, total, avg,
//! min and max duration, self time and self time as a share of the trace. Self time is the
//! analysis' own (`analysis::trace::self_time`), never a second definition.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::analysis::trace::self_time::self_times;
use crate::analysis::trace::tree::TraceTree;
use crate::model::{Span, TraceId};
use crate::store::Trace;
use crate::ui::text::{clean, dur, fit, width};
use crate::ui::theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    Service,
    /// Services, each with its operations under it.
    ServiceOperation,
    /// Operations (service and span name).
    Operation,
    /// The value of one attribute (the span's, else its resource's), services under each.
    Attribute(String),
}

impl Grouping {
    fn label(&self) -> String {
        match self {
            Grouping::Service => "service".into(),
            Grouping::ServiceOperation => "service › operation".into(),
            Grouping::Operation => "operation".into(),
            Grouping::Attribute(key) => format!("{} › service", clean(key)),
        }
    }
}

/// One line of the table: a group, or a sub-group under the one above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    pub sub: bool,
    pub label: String,
    pub count: u64,
    pub total_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    pub self_ns: u64,
}

impl StatRow {
    fn new(sub: bool, label: String) -> Self {
        StatRow {
            sub,
            label,
            count: 0,
            total_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            self_ns: 0,
        }
    }

    fn add(&mut self, dur_ns: u64, self_ns: u64) {
        self.count += 1;
        self.total_ns = self.total_ns.saturating_add(dur_ns);
        self.min_ns = self.min_ns.min(dur_ns);
        self.max_ns = self.max_ns.max(dur_ns);
        self.self_ns = self.self_ns.saturating_add(self_ns);
    }

    pub fn avg_ns(&self) -> u64 {
        self.total_ns.checked_div(self.count).unwrap_or(0)
    }
}

/// The table's rows: groups by self time (largest first), each followed by its sub-groups.
pub fn table(t: &Trace, grouping: &Grouping) -> Vec<StatRow> {
    let tree = TraceTree::new(t);
    let self_ns = self_times(&tree);
    let keys = |s: &Span| -> (String, Option<String>) {
        let service = clean(s.service().as_str()).into_owned();
        let op = || format!("{service} {}", clean(s.name.as_str()));
        match grouping {
            Grouping::Service => (service, None),
            Grouping::ServiceOperation => (service.clone(), Some(clean(s.name.as_str()).into())),
            Grouping::Operation => (op(), None),
            Grouping::Attribute(key) => {
                let value = s
                    .attr(key)
                    .or_else(|| s.resource.attr(key))
                    .map_or_else(|| "(none)".to_owned(), |v| clean(&v.to_string()).into());
                (value, Some(service))
            }
        }
    };
    let mut groups: FxHashMap<String, (StatRow, FxHashMap<String, StatRow>)> = FxHashMap::default();
    for (i, s) in t.spans.iter().enumerate() {
        let d = tree.dur(i);
        let own = self_ns.get(i).copied().unwrap_or(0);
        let (group, sub) = keys(s);
        let entry = groups
            .entry(group.clone())
            .or_insert_with(|| (StatRow::new(false, group), FxHashMap::default()));
        entry.0.add(d, own);
        if let Some(sub) = sub {
            entry
                .1
                .entry(sub.clone())
                .or_insert_with(|| StatRow::new(true, sub))
                .add(d, own);
        }
    }
    let by_self = |a: &StatRow, b: &StatRow| b.self_ns.cmp(&a.self_ns).then(a.label.cmp(&b.label));
    let mut groups: Vec<_> = groups.into_values().collect();
    groups.sort_by(|a, b| by_self(&a.0, &b.0));
    let mut out = Vec::new();
    for (row, subs) in groups {
        out.push(row);
        let mut subs: Vec<StatRow> = subs.into_values().collect();
        subs.sort_by(by_self);
        out.extend(subs);
    }
    out
}

/// What a computed table is for: trace, version, span count, grouping.
type CacheKey = (TraceId, u32, usize, Grouping);

/// The statistics screen's state: the grouping, the scroll, and the table for one trace.
#[derive(Debug, Clone)]
pub struct StatsView {
    pub grouping: Grouping,
    /// The attribute key last grouped by, offered again at the prompt.
    pub last_key: String,
    pub scroll: usize,
    /// The rows for (trace, version, span count, grouping): self time is worked out once.
    cache: Option<(CacheKey, Arc<Vec<StatRow>>)>,
}

impl Default for StatsView {
    fn default() -> Self {
        StatsView {
            grouping: Grouping::ServiceOperation,
            last_key: String::new(),
            scroll: 0,
            cache: None,
        }
    }
}

impl StatsView {
    /// The next grouping; `true` when it is the attribute one, whose key must be asked for.
    pub fn next_grouping(&mut self) -> bool {
        self.scroll = 0;
        self.grouping = match self.grouping {
            Grouping::Service => Grouping::ServiceOperation,
            Grouping::ServiceOperation => Grouping::Operation,
            Grouping::Operation => return true,
            Grouping::Attribute(_) => Grouping::Service,
        };
        false
    }

    /// Groups by attribute `key`; an empty key goes back to services.
    pub fn group_by_attribute(&mut self, key: &str) {
        self.scroll = 0;
        if key.is_empty() {
            self.grouping = Grouping::Service;
        } else {
            self.last_key = key.to_owned();
            self.grouping = Grouping::Attribute(key.to_owned());
        }
    }

    fn rows(&mut self, t: &Trace) -> Arc<Vec<StatRow>> {
        let key: CacheKey = (t.trace_id, t.version, t.spans.len(), self.grouping.clone());
        if let Some((k, rows)) = &self.cache
            && *k == key
        {
            return Arc::clone(rows);
        }
        let rows = Arc::new(table(t, &self.grouping));
        self.cache = Some((key, Arc::clone(&rows)));
        rows
    }
}

/// Column widths: count, five durations, the share.
const NUM_W: usize = 6;
const DUR_W: usize = 8;
const PCT_W: usize = 8;

pub fn render(frame: &mut Frame, area: Rect, t: &Trace, stats: &mut StatsView) {
    let rows = stats.rows(t);
    let title = format!(
        " Trace statistics: by {}  {} groups ",
        stats.grouping.label(),
        rows.iter().filter(|r| !r.sub).count()
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::FOCUS)
        .title(TextSpan::styled(
            fit(&title, area.width.saturating_sub(2) as usize).into_owned(),
            theme::TITLE,
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let label_w = w.saturating_sub(NUM_W + 5 * DUR_W + PCT_W + 7).max(8);
    let header = format!(
        "{:<label_w$} {:>NUM_W$} {:>DUR_W$} {:>DUR_W$} {:>DUR_W$} {:>DUR_W$} {:>DUR_W$} {:>PCT_W$}",
        "group", "count", "total", "avg", "min", "max", "self", "% trace"
    );
    let trace_ns = t.duration_ns().max(1);
    let mut height = (inner.height as usize).saturating_sub(1);
    let scrolls = rows.len() > height;
    if scrolls {
        height = height.saturating_sub(1); // for the "rows i-j of n" line
    }
    stats.scroll = stats.scroll.min(rows.len().saturating_sub(height));
    let mut lines = vec![Line::styled(header, theme::HEADER)];
    for r in rows.iter().skip(stats.scroll).take(height) {
        let label = if r.sub {
            format!("  {}", r.label)
        } else {
            r.label.clone()
        };
        let label = fit(&label, label_w).into_owned();
        let pad = label_w.saturating_sub(width(&label));
        let pct = r.self_ns as f64 * 100.0 / trace_ns as f64;
        let style = if r.sub {
            Style::default()
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        };
        lines.push(Line::from(vec![
            TextSpan::styled(format!("{label}{}", " ".repeat(pad)), style),
            TextSpan::raw(format!(
                " {:>NUM_W$} {:>DUR_W$} {:>DUR_W$} {:>DUR_W$} {:>DUR_W$} {:>DUR_W$} {:>PCT_W$}",
                r.count,
                dur(r.total_ns),
                dur(r.avg_ns()),
                dur(r.min_ns),
                dur(r.max_ns),
                dur(r.self_ns),
                format!("{pct:.1}%"),
            )),
        ]));
    }
    if scrolls {
        lines.push(Line::styled(
            format!(
                "rows {}-{} of {}",
                stats.scroll + 1,
                (stats.scroll + height).min(rows.len()),
                rows.len()
            ),
            theme::DIM,
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::TraceBuilder;

    #[test]
    fn groups_sum_the_analysis_self_time_and_sub_group_by_operation() {
        let mut b = TraceBuilder::new();
        let root = b.span("api", "GET /").at(0, 100).id();
        b.span("db", "SELECT")
            .parent(root)
            .at(10, 40)
            .str_attr("db.system", "pg")
            .id();
        b.span("db", "SELECT")
            .parent(root)
            .at(30, 60)
            .str_attr("db.system", "pg")
            .id();
        b.span("db", "UPDATE").parent(root).at(70, 80).id();
        let t = b.build();
        let ms = 1_000_000;
        let rows = table(&t, &Grouping::ServiceOperation);
        let labels: Vec<(bool, &str, u64, u64)> = rows
            .iter()
            .map(|r| (r.sub, r.label.as_str(), r.count, r.self_ns / ms))
            .collect();
        // api: 100 ms less the union of its children (10-60 and 70-80) = 40 ms.
        assert_eq!(
            labels,
            [
                (false, "db", 3, 70),
                (true, "SELECT", 2, 60),
                (true, "UPDATE", 1, 10),
                (false, "api", 1, 40),
                (true, "GET /", 1, 40),
            ]
        );
        let select = &rows[1];
        assert_eq!(
            (
                select.total_ns,
                select.min_ns,
                select.max_ns,
                select.avg_ns()
            ),
            (60 * ms, 30 * ms, 30 * ms, 30 * ms)
        );
        let by_attr = table(&t, &Grouping::Attribute("db.system".into()));
        let groups: Vec<(&str, u64)> = by_attr
            .iter()
            .filter(|r| !r.sub)
            .map(|r| (r.label.as_str(), r.count))
            .collect();
        assert_eq!(groups, [("pg", 2), ("(none)", 2)]);
    }
}
