//! The top line: LIVE or REPLAY badge, pause, intake rate, traces and memory held, what
//! was dropped, analysis failures when there were any, and where the receivers listen.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span as TextSpan};

use crate::analysis::findings::view::InstanceHealth;
use crate::ingest::IngestStats;
use crate::ingest::listen::Listening;
use crate::store::StoreStats;
use crate::ui::app::Playback;
use crate::ui::{text, theme};

/// Counters for the header, measured by the loop (rates need a clock; render has none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    pub spans_per_sec: f64,
    pub store: StoreStats,
    pub ingest: IngestStats,
    /// Share of the replayed spans sent so far.
    pub replay_progress: Option<f64>,
    /// Records, spans and files a replay skipped so far, with the first reason.
    pub replay_problems: Option<(u64, Arc<str>)>,
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

/// What the published view lists: complete traces (the Traces tab), open ones (in progress),
/// and traces left out because their analysis failed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Listed<'a> {
    pub complete: usize,
    pub open: usize,
    pub analysis_failures: usize,
    /// A merged view's instances (`live --attach`); empty for a local pipeline.
    pub instances: &'a [InstanceHealth],
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    h: &Header,
    playback: Playback,
    paused: bool,
    listening: Option<&Listening>,
    listed: Listed<'_>,
) {
    let analysis_failures = listed.analysis_failures;
    let instances = listed.instances;
    let badge = match playback {
        Playback::Live => {
            TextSpan::styled(" LIVE ", Style::new().bg(Color::Green).fg(Color::Black))
        }
        Playback::Replay => TextSpan::styled(
            match h.replay_progress {
                Some(p) => format!(" REPLAY {:.0}% ", p * 100.0),
                None => " REPLAY ".to_owned(),
            },
            Style::new().bg(Color::Blue).fg(Color::White),
        ),
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut spans = vec![TextSpan::styled(" spantop ", theme::TITLE), badge];
    // Next to the LIVE or REPLAY badge, so it survives a narrow terminal.
    if paused {
        spans.push(TextSpan::styled(
            " PAUSED ",
            Style::new().bg(Color::Yellow).fg(Color::Black),
        ));
    }
    // The traces as the tables list them (the published view), not the live store's count,
    // which also holds open traces and runs ahead of the view: the Traces title says the same.
    let open = if listed.open > 0 {
        format!(" +{} open", thousands(listed.open as u64))
    } else {
        String::new()
    };
    // Resident memory beside the count once the pipeline measured it (a live pipeline on Linux).
    let resident = if h.store.resident_bytes > 0 {
        format!(" rss {:.0}", mib(h.store.resident_bytes))
    } else {
        String::new()
    };
    spans.extend([TextSpan::raw(format!(
        " {} spans/s │ {} traces{open} │ {:.0}/{:.0} MiB{resident} │ ",
        thousands(h.spans_per_sec.round() as u64),
        thousands(listed.complete as u64),
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
    // A replay that lost part of its input says so while it plays, with the first reason.
    if let Some((n, first)) = &h.replay_problems {
        spans.push(TextSpan::styled(
            format!(" │ skipped {n}: {}", first.replace(char::is_control, " ")),
            theme::ERROR,
        ));
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
    frame.render_widget(
        Line::from(super::fit_spans(spans, area.width as usize)),
        area,
    );
}
