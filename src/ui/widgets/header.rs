//! The top line: source badge, pause, intake rate, traces and memory held, what was dropped,
//! analysis failures when there were any, and where the receivers listen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span as TextSpan};

use crate::analysis::findings::view::{InstanceHealth, ViewData};
use crate::ingest::IngestStats;
use crate::ingest::listen::Listening;
use crate::store::StoreStats;
use crate::ui::app::Source;
use crate::ui::{text, theme};

/// Counters for the header, measured by the loop (rates need a clock; render has none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Header {
    pub spans_per_sec: f64,
    pub store: StoreStats,
    pub ingest: IngestStats,
    /// Share of the replayed spans sent so far.
    pub replay_progress: Option<f64>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "3 instances, 1 down: 127.0.0.1:4321", "2 instances, all up".
pub fn instances_line(instances: &[InstanceHealth]) -> String {
    let down: Vec<&str> = instances
        .iter()
        .filter(|i| i.down.is_some())
        .map(|i| i.addr.as_str())
        .collect();
    let n = instances.len();
    let noun = if n == 1 { "instance" } else { "instances" };
    if down.is_empty() {
        format!("{n} {noun}, all up")
    } else {
        format!("{n} {noun}, {} down: {}", down.len(), down.join(", "))
    }
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    h: &Header,
    source: Source,
    paused: bool,
    listening: Option<&Listening>,
    data: &ViewData,
) {
    let analysis_failures = data.analysis_failures;
    let instances = &data.instances;
    let badge = match source {
        Source::Live => TextSpan::styled(" LIVE ", Style::new().bg(Color::Green).fg(Color::Black)),
        Source::Replay => TextSpan::styled(
            match h.replay_progress {
                Some(p) => format!(" REPLAY {:.0}% ", p * 100.0),
                None => " REPLAY ".to_owned(),
            },
            Style::new().bg(Color::Blue).fg(Color::White),
        ),
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut spans = vec![TextSpan::styled(" spantop ", theme::TITLE), badge];
    // Next to the source badge, so it survives a narrow terminal.
    if paused {
        spans.push(TextSpan::styled(
            " PAUSED ",
            Style::new().bg(Color::Yellow).fg(Color::Black),
        ));
    }
    spans.extend([TextSpan::raw(format!(
        " {} spans/s │ {} traces │ {:.0}/{:.0} MiB │ ",
        thousands(h.spans_per_sec.round() as u64),
        thousands(h.store.traces_held),
        mib(h.store.memory_bytes),
        mib(h.store.max_memory_bytes),
    ))]);
    let drops = h.ingest.spans_rejected + h.ingest.requests_throttled + h.store.evicted_traces;
    spans.push(TextSpan::styled(
        format!(
            "rej {} thr {} evict {}",
            h.ingest.spans_rejected, h.ingest.requests_throttled, h.store.evicted_traces
        ),
        if drops > 0 { theme::ERROR } else { theme::DIM },
    ));
    // Shown only when it happened, like the limits: a slow client or network, not a bug.
    if h.ingest.requests_timed_out > 0 {
        spans.push(TextSpan::styled(
            format!(" timeout {}", h.ingest.requests_timed_out),
            theme::ERROR,
        ));
    }
    // Shown only once a limit was hit, so the usual header stays as short as it was.
    let cut = h.ingest.limit_hits() + h.store.spans_over_trace_limit;
    if cut > 0 {
        spans.push(TextSpan::styled(format!(" limit {cut}"), theme::ERROR));
    }
    // Shown only when it happened: each failure is a trace left out of every tab.
    if analysis_failures > 0 {
        spans.push(TextSpan::styled(
            format!(" │ analysis failures {analysis_failures}"),
            theme::ERROR,
        ));
    }
    // A merged view (`live --attach`): how many instances, which are down.
    if !instances.is_empty() {
        let line = instances_line(instances);
        let down = instances.iter().any(|i| i.down.is_some());
        spans.push(TextSpan::styled(
            format!(" │ {}", text::clean(&line)),
            if down { theme::ERROR } else { theme::DIM },
        ));
    }
    // Last: on a narrow terminal the counters matter more (serve/live/demo print it too).
    if let Some(at) = listening {
        spans.push(TextSpan::styled(format!(" │ {}", at.short()), theme::DIM));
    }
    frame.render_widget(Line::from(spans), area);
}
