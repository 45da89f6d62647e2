//! Traces: every held trace, newest first, with badges for what was found in it. Filters
//! reach into the trace's spans (service, attributes, names). Enter opens the waterfall.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use ratatui::layout::Constraint;

use super::{ListView, Open, any_name_contains, sym_contains};
use crate::analysis::findings::view::{TraceRow, ViewData};
use crate::model::{AnyValue, KeyValue, SpanRef, Sym, TraceId};
use crate::store::Trace;
use crate::ui::filter::Term;
use crate::ui::widgets::table::{Column, Key, RowId, Value, col, wide};

pub struct Traces;

fn badges(r: &TraceRow) -> String {
    let mut b = Vec::new();
    if r.errors > 0 {
        b.push("ERR");
    }
    if r.cold_starts > 0 {
        b.push("COLD");
    }
    if r.nplus1 {
        b.push("N+1");
    }
    if r.fanout {
        b.push("FAN");
    }
    if r.links > 0 {
        b.push("LINK");
    }
    if r.orphans > 0 {
        b.push("ORPHAN");
    }
    b.join(" ")
}

/// Errors first, then cold starts, N+1 loops, fan-outs.
fn badge_score(r: &TraceRow) -> f64 {
    f64::from(u8::from(r.errors > 0)) * 8.0
        + f64::from(u8::from(r.cold_starts > 0)) * 4.0
        + f64::from(u8::from(r.nplus1)) * 2.0
        + f64::from(u8::from(r.fanout))
}

const COLUMNS: [Column<TraceRow>; 7] = [
    // Measured from the data clock (the latest span end), so ascending is newest first.
    col("Ago", Constraint::Length(7), |r, d| {
        Value::Duration(d.clock_ns.saturating_sub(r.end_ns))
    }),
    col("Root", Constraint::Min(24), |r, _| {
        Value::Labelled(r.root_service.as_str(), r.root_name.as_str())
    }),
    col("Duration", Constraint::Length(9), |r, _| {
        Value::Duration(r.duration_ns())
    }),
    col("Spans", Constraint::Length(6), |r, _| {
        Value::Count(r.spans as u64)
    }),
    wide(col("Svcs", Constraint::Length(5), |r, _| {
        Value::Count(r.services as u64)
    })),
    col("Findings", Constraint::Length(18), |r, _| {
        Value::Shown(badges(r), Key::Num(badge_score(r)))
    }),
    // The first 16 hex digits: enough to tell traces apart and to type into the filter.
    wide(col("Trace", Constraint::Length(17), |r, _| {
        Value::Text(r.trace_id.to_string().chars().take(16).collect())
    })),
];

/// Whether the trace id's hex digits start with `word` (lower case), without formatting it.
fn id_starts_with(id: TraceId, word: &str) -> bool {
    let digits = word.len();
    if digits == 0 || digits > 32 || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    u128::from_str_radix(word, 16).is_ok_and(|want| id.as_u128() >> (4 * (32 - digits)) == want)
}

/// One trace's distinct span names and services, and its attributes' `key=value` hashes.
#[derive(Debug, Default)]
struct TraceNames {
    version: u32,
    names: Box<[Sym]>,
    services: Box<[Sym]>,
    /// `attr_hash` of every distinct (key, value) of the trace's spans and resources, sorted:
    /// a `key=value` filter skips the traces whose hashes miss it and scans only the others'
    /// spans (a hit may be a collision; the scan decides).
    attrs: Box<[u32]>,
}

/// A (key, value as `attr_eq` compares it) pair hashed: the upper half of FxHash, whose
/// final multiply mixes the upper bits best.
fn attr_hash(key: Sym, value: &str) -> u32 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    value.hash(&mut h);
    (h.finish() >> 32) as u32
}

impl TraceNames {
    fn of(t: &Trace) -> Self {
        let mut names = FxHashSet::default();
        let mut services = FxHashSet::default();
        let mut attrs: Vec<u32> = Vec::new();
        // Non-string values as `attr_eq` formats them, into one reused buffer.
        let mut text = String::new();
        let mut add = |attrs: &mut Vec<u32>, kvs: &[KeyValue]| {
            for kv in kvs {
                let value = match &kv.value {
                    AnyValue::Str(s) => s.as_str(),
                    other => {
                        text.clear();
                        let _ = write!(text, "{other}");
                        text.as_str()
                    }
                };
                attrs.push(attr_hash(kv.key, value));
            }
        };
        // Spans share their resource: its attributes are hashed once per distinct one.
        let mut resources: FxHashSet<*const crate::model::Resource> = FxHashSet::default();
        for s in &t.spans {
            names.insert(s.name);
            services.insert(s.service());
            add(&mut attrs, &s.attributes);
            if resources.insert(std::sync::Arc::as_ptr(&s.resource)) {
                add(&mut attrs, &s.resource.attributes);
            }
        }
        attrs.sort_unstable();
        attrs.dedup();
        TraceNames {
            version: t.version,
            names: names.into_iter().collect(),
            services: services.into_iter().collect(),
            attrs: attrs.into(),
        }
    }
}

/// The distinct span names, services and attribute hashes of every held trace, kept on the UI thread per trace
/// version: a filter word or `service=` is tested against a trace's dozen or so names, not
/// against each of its spans (2.4 million at 100,000 traces: ~150 ms a key). Brought up to
/// date when a new view arrives (`index_names`); traces no longer held are dropped then.
#[derive(Default)]
struct NameIndex {
    generation: u64,
    by_trace: FxHashMap<TraceId, TraceNames>,
}

thread_local! {
    static NAMES: RefCell<NameIndex> = RefCell::default();
}

impl NameIndex {
    fn update(&mut self, data: &ViewData) {
        if self.generation == data.generation {
            return;
        }
        self.generation = data.generation;
        self.by_trace.retain(|id, _| data.trace(*id).is_some());
        for t in data.snapshot.traces.iter() {
            if self
                .by_trace
                .get(&t.trace_id)
                .is_none_or(|n| n.version != t.version)
            {
                self.by_trace.insert(t.trace_id, TraceNames::of(t));
            }
        }
    }
}

/// Indexes the names of the traces new in `data`: the loop calls it as each view arrives, so
/// the first filter key after a big load does not pay for it.
pub fn index_names(data: &ViewData) {
    NAMES.with_borrow_mut(|n| n.update(data));
}

/// `f` on the row's trace's names (false when the trace is not held).
fn with_names(data: &ViewData, r: &TraceRow, f: impl FnOnce(&TraceNames) -> bool) -> bool {
    NAMES.with_borrow_mut(|n| {
        n.update(data);
        n.by_trace.get(&r.trace_id).is_some_and(f)
    })
}

fn attr_eq(v: &AnyValue, want: &str) -> bool {
    match v {
        AnyValue::Str(s) => **s == *want,
        other => other.to_string() == want,
    }
}

impl ListView for Traces {
    type Row = TraceRow;

    fn title(&self, data: &ViewData) -> Cow<'static, str> {
        match data.snapshot.stats.open_traces {
            0 => "Traces".into(),
            n => format!("Traces (i: {n} in progress)").into(),
        }
    }
    fn rows<'d>(&self, data: &'d ViewData) -> &'d [TraceRow] {
        &data.traces
    }
    fn columns(&self) -> &'static [Column<TraceRow>] {
        &COLUMNS
    }
    fn default_sort(&self) -> (usize, bool) {
        (0, false)
    }
    fn matches(&self, r: &TraceRow, term: &Term, data: &ViewData) -> bool {
        let spans = || {
            data.trace(r.trace_id)
                .into_iter()
                .flat_map(|t| t.spans.iter())
        };
        match term {
            Term::Error => r.errors > 0,
            Term::ColdStart => r.cold_starts > 0,
            Term::NPlus1 => r.nplus1,
            Term::Fanout => r.fanout,
            Term::Orphan => r.orphans > 0,
            Term::LongerThan(ns) => r.duration_ns() > *ns,
            Term::ShorterThan(ns) => r.duration_ns() < *ns,
            Term::Service(name) => {
                let sym = Sym::get(name);
                sym.is_some_and(|sym| with_names(data, r, |n| n.services.contains(&sym)))
            }
            Term::Attr(k, v) => {
                // Keys are interned: looked up once per row, not per span (a key no span
                // carries was never interned, and nothing matches).
                let Some(key) = Sym::get(k) else {
                    return false;
                };
                // Only a trace whose pairs hash to this one can hold it: the others are
                // known from their index, without their spans (2.4 million at 100,000
                // traces: ~25 ms a key).
                let want = attr_hash(key, v);
                if !with_names(data, r, |n| n.attrs.binary_search(&want).is_ok()) {
                    return false;
                }
                let has = |attrs: &[KeyValue]| {
                    attrs
                        .iter()
                        .any(|kv| kv.key == key && attr_eq(&kv.value, v))
                };
                spans().any(|s| has(&s.attributes) || has(&s.resource.attributes))
            }
            Term::Text(w) => {
                // Names are interned, so each distinct one is searched once per word
                // (`sym_contains`); a word no name holds skips the spans altogether, and
                // the others look at each trace's distinct names (`NameIndex`), not its spans.
                let names = any_name_contains(w);
                (names && (sym_contains(r.root_name, w) || sym_contains(r.root_service, w)))
                    || id_starts_with(r.trace_id, w)
                    || (names
                        && with_names(data, r, |n| {
                            n.services
                                .iter()
                                .chain(&n.names)
                                .any(|&s| sym_contains(s, w))
                        }))
            }
        }
    }
    fn alarming(&self, r: &TraceRow) -> bool {
        r.errors > 0
    }
    fn open(&self, r: &TraceRow, data: &ViewData) -> Option<Open> {
        let trace = data.trace(r.trace_id)?;
        let root = trace.roots().next().or(trace.spans.first())?;
        Some(Open::Trace(SpanRef::new(r.trace_id, root.span_id)))
    }
    fn id(&self, r: &TraceRow, _: &ViewData) -> RowId {
        RowId::Trace(r.trace_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::views::any_name_contains;

    #[test]
    fn trace_id_prefixes_match_without_formatting_the_id() {
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex");
        for (word, want) in [
            ("0", true),
            ("0af7", true),
            ("0af7651916cd43dd8448eb211c80319c", true),
            ("af7", false),
            ("0af8", false),
            ("0af7651916cd43dd8448eb211c80319c0", false),
            ("0ag", false),
        ] {
            assert_eq!(id_starts_with(id, word), want, "{word}");
            assert_eq!(id.to_string().starts_with(word), want, "{word}");
        }
    }

    #[test]
    fn a_word_no_interned_name_holds_is_known_without_the_spans() {
        Sym::new("checkout-fn");
        assert!(any_name_contains("kout-f"));
        assert!(!any_name_contains("qqqq-no-such-name-qqqq"));
        // A name interned later is seen: the answer is not kept past it.
        Sym::new("later qqqq-no-such-name-qqqq");
        assert!(any_name_contains("qqqq-no-such-name-qqqq"));
    }
}
