//! Clock-skew adjustment, Jaeger's algorithm (ANALYSIS.md §5.4): a child on another host that
//! does not fit inside its parent is shifted so the network time splits evenly around it;
//! same-host descendants inherit the shift. Off by default (Jaeger parity); the client/server
//! gap (§3.2) is skew-invariant and `clock_skew_suspected` is counted either way.

use rustc_hash::FxHashMap;

use crate::model::{AnyValue, Resource, Span, SpanId};
use crate::store::Trace;

use crate::analysis::trace::attrs;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkewNote {
    Adjusted {
        span_id: SpanId,
        delta_ns: i64,
    },
    MaxExceeded {
        span_id: SpanId,
        delta_ns: i64,
        max_ns: u64,
    },
}

/// Host of a resource: `host.id`, `host.ip` (first of an array), `host.name`, then the
/// instance ids FaaS and container resources carry instead; `""` when none is set.
pub fn host_key(r: &Resource) -> String {
    let s = |k: &str| {
        r.attr(k)
            .and_then(AnyValue::as_str)
            .filter(|v| !v.is_empty())
    };
    let ip = r.attr("host.ip").and_then(|v| match v {
        AnyValue::Array(a) => a.first().and_then(AnyValue::as_str),
        other => other.as_str(),
    });
    s("host.id")
        .or(ip)
        .or_else(|| s("host.name"))
        .or_else(|| s(attrs::SERVICE_INSTANCE_ID))
        .or_else(|| s(attrs::FAAS_INSTANCE))
        .unwrap_or("")
        .to_owned()
}

/// Jaeger's `calculateSkew`, on already-adjusted parent times.
fn skew(child: (i64, i64), parent: (i64, i64)) -> i64 {
    let (cd, pd) = (child.1 - child.0, parent.1 - parent.0);
    if cd > pd {
        // Async child or a parent that timed out: only fix a child starting before its parent.
        return if child.0 < parent.0 {
            parent.0 - child.0
        } else {
            0
        };
    }
    if child.0 >= parent.0 && child.1 <= parent.1 {
        return 0;
    }
    let latency = (pd - cd) / 2;
    parent.0 + latency - child.0
}

/// The trace with skewed spans shifted, or `None` when nothing moved; notes say what was done.
pub fn adjust(trace: &Trace, max_delta_ns: u64) -> (Option<Trace>, Vec<SkewNote>) {
    let spans = &trace.spans;
    let index: FxHashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.and_then(|p| index.get(&p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    let hosts: Vec<String> = spans.iter().map(|s| host_key(&s.resource)).collect();
    let times = |s: &Span| (s.start_ns as i64, s.end_ns.max(s.start_ns) as i64);
    let mut adjusted: Vec<(i64, i64)> = spans.iter().map(times).collect();
    let mut delta = vec![0i64; spans.len()];
    let mut notes = Vec::new();
    let mut seen = vec![false; spans.len()];
    // (span, parent, host key of the inherited skew, inherited delta)
    let mut stack: Vec<(usize, Option<usize>, usize, i64)> =
        roots.iter().rev().map(|&r| (r, None, r, 0)).collect();
    while let Some((n, parent, skew_host, inherited)) = stack.pop() {
        if std::mem::replace(&mut seen[n], true) {
            continue; // a parent loop: visit once
        }
        let (mut host, mut d) = (skew_host, inherited);
        if let Some(p) = parent
            && (hosts[n] != hosts[skew_host] || hosts[n].is_empty())
        {
            host = n;
            d = skew(adjusted[n], adjusted[p]);
        }
        if d != 0 {
            if d.unsigned_abs() > max_delta_ns {
                notes.push(SkewNote::MaxExceeded {
                    span_id: spans[n].span_id,
                    delta_ns: d,
                    max_ns: max_delta_ns,
                });
                d = 0;
            } else {
                adjusted[n] = (adjusted[n].0 + d, adjusted[n].1 + d);
                delta[n] = d;
                notes.push(SkewNote::Adjusted {
                    span_id: spans[n].span_id,
                    delta_ns: d,
                });
            }
        }
        for &c in children[n].iter().rev() {
            stack.push((c, Some(n), host, d));
        }
    }
    if delta.iter().all(|&d| d == 0) {
        return (None, notes);
    }
    (Some(shifted(trace, &delta)), notes)
}

/// `trace` as `adjust` left it, from the notes it wrote (`Adjusted` ones), with its logs; or
/// `None` when nothing moved. What a view shows so its times agree with the findings.
pub fn apply(trace: &Trace, notes: &[SkewNote]) -> Option<Trace> {
    let by_span: FxHashMap<SpanId, i64> = notes
        .iter()
        .filter_map(|n| match *n {
            SkewNote::Adjusted { span_id, delta_ns } if delta_ns != 0 => Some((span_id, delta_ns)),
            _ => None,
        })
        .collect();
    if by_span.is_empty() {
        return None;
    }
    let delta: Vec<i64> = trace
        .spans
        .iter()
        .map(|s| by_span.get(&s.span_id).copied().unwrap_or(0))
        .collect();
    let mut t = shifted(trace, &delta);
    t.logs = trace.logs.clone();
    Some(t)
}

/// The trace with each span moved by its delta (ns), events with it.
fn shifted(trace: &Trace, delta: &[i64]) -> Trace {
    let spans = trace
        .spans
        .iter()
        .zip(delta)
        .map(|(s, &d)| {
            let mut s = s.clone();
            if d != 0 {
                let mv = |t: u64| t.saturating_add_signed(d);
                s.start_ns = mv(s.start_ns);
                s.end_ns = mv(s.end_ns);
                for e in s.events.iter_mut() {
                    e.time_ns = mv(e.time_ns);
                }
            }
            s
        })
        .collect();
    let mut t = Trace::from_spans(trace.trace_id, spans);
    t.version = trace.version;
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::{MS, TraceBuilder, ms};

    /// Parent on host a `[10,110]`, child on `child_host` at `child`; returns the child's
    /// start (ms from base) after adjustment and the notes.
    fn run(
        child_host: &str,
        child: (u64, u64),
        grandchild: Option<(u64, u64)>,
        max_ms: u64,
    ) -> (Vec<u64>, Vec<SkewNote>) {
        let mut b = TraceBuilder::new();
        let p = b.span("a", "parent").res("host.name", "a").at(10, 110).id();
        let c = b
            .span("b", "child")
            .res("host.name", child_host)
            .at(child.0, child.1)
            .parent(p)
            .id();
        if let Some(g) = grandchild {
            b.span("b", "grandchild")
                .res("host.name", child_host)
                .at(g.0, g.1)
                .parent(c)
                .id();
        }
        let t = b.build();
        let (adjusted, notes) = adjust(&t, max_ms * MS);
        let t = adjusted.unwrap_or(t);
        let mut starts: Vec<(String, u64)> = t
            .spans
            .iter()
            .map(|s| (s.name.to_string(), (s.start_ns - ms(0)) / MS))
            .collect();
        starts.sort();
        let order = ["child", "grandchild"];
        let v = order
            .iter()
            .filter_map(|n| starts.iter().find(|(k, _)| k == n).map(|x| x.1))
            .collect();
        (v, notes)
    }

    #[test]
    fn s1_child_shifted_to_split_latency() {
        assert_eq!(run("b", (0, 50), None, 1000).0, vec![35]);
    }

    #[test]
    fn s2_grandchild_inherits_the_delta() {
        assert_eq!(run("b", (50, 120), Some((60, 80)), 1000).0, vec![25, 35]);
    }

    #[test]
    fn apply_rebuilds_the_adjusted_trace_from_the_notes() {
        let mut b = TraceBuilder::new();
        let p = b.span("a", "parent").res("host.name", "a").at(10, 110).id();
        let c = b
            .span("b", "child")
            .res("host.name", "b")
            .at(50, 120)
            .parent(p)
            .id();
        b.span("b", "grandchild")
            .res("host.name", "b")
            .at(60, 80)
            .parent(c)
            .id();
        let t = b.build();
        let (adjusted, notes) = adjust(&t, 1000 * MS);
        let adjusted = adjusted.expect("the child is shifted");
        let applied = apply(&t, &notes).expect("the notes shift it");
        let times = |t: &Trace| -> Vec<(SpanId, u64, u64)> {
            t.spans
                .iter()
                .map(|s| (s.span_id, s.start_ns, s.end_ns))
                .collect()
        };
        assert_eq!(times(&applied), times(&adjusted));
        assert_ne!(times(&applied), times(&t));
        assert!(apply(&t, &[]).is_none());
    }

    #[test]
    fn s3_longer_child_aligned_to_parent_start() {
        assert_eq!(run("b", (0, 150), None, 1000).0, vec![10]);
    }

    #[test]
    fn s4_delta_over_the_maximum_is_not_applied() {
        let (starts, notes) = run("b", (0, 50), None, 10);
        assert_eq!(starts, vec![0]);
        assert!(
            matches!(notes[0], SkewNote::MaxExceeded { delta_ns, .. } if delta_ns == 35 * MS as i64)
        );
    }

    #[test]
    fn s5_same_host_is_not_shifted() {
        assert_eq!(run("a", (0, 50), None, 1000).0, vec![0]);
    }

    #[test]
    fn s6_orphan_is_a_root_and_not_shifted() {
        let mut b = TraceBuilder::new();
        b.span("b", "orphan")
            .res("host.name", "b")
            .at(0, 50)
            .parent_id(0xbad)
            .id();
        let (adjusted, notes) = adjust(&b.build(), 1000 * MS);
        assert!(adjusted.is_none() && notes.is_empty());
    }
}
