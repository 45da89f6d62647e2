//! Traces: every held trace, newest first, with badges for what was found in it. Filters
//! reach into the trace's spans (service, attributes, names). Enter opens the waterfall.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash, Hasher};

use rustc_hash::{FxHashMap, FxHashSet};

use ratatui::layout::Constraint;

use super::{ListView, Open, sym_contains};
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
    /// a `key=value` filter is answered from them, without the spans. Two pairs of one trace
    /// collide with odds of about its pairs / 2^64 (1e-16 for a thousand).
    attrs: Box<[u64]>,
}

/// A (key, value) pair hashed, the value as its text (a string as it is, another value as
/// it prints), 64 bits of foldhash with a fixed
/// seed (the key is its symbol, fixed for the process).
fn attr_hash(key: Sym, value: &str) -> u64 {
    static STATE: foldhash::quality::FixedState = foldhash::quality::FixedState::with_seed(0x5eed);
    let mut h = STATE.build_hasher();
    key.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

impl TraceNames {
    fn of(t: &Trace) -> Self {
        let mut names = FxHashSet::default();
        let mut services = FxHashSet::default();
        let mut attrs: Vec<u64> = Vec::new();
        // Non-string values as they print, into one reused buffer.
        let mut text = String::new();
        let mut add = |attrs: &mut Vec<u64>, kvs: &[KeyValue]| {
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
    /// Every span name and service the indexed traces ever had (names of traces no longer
    /// held stay: it only tells which words can match at all).
    seen: FxHashSet<Sym>,
    /// The last word asked of `seen`, its size then, and whether a name held the word.
    asked: (String, usize, bool),
    /// How many indexed traces hold each `attr_hash` pair: a `key=value` no trace holds is
    /// answered once, not per row. Typing `http.route=/orders`, each key after the `=` asked
    /// every one of 100,000 traces for a value none had (40-80 ms a key).
    pairs: FxHashMap<u64, u32>,
    /// The last `key=value` asked of `pairs` and its answer: the pair's hash when a held
    /// trace has it. `None` before any, and whenever the index changes.
    asked_pair: Option<(String, String, Option<u64>)>,
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
        self.asked_pair = None;
        let pairs = &mut self.pairs;
        self.by_trace.retain(|id, names| {
            let held = data.trace(*id).is_some_and(|t| t.version == names.version);
            if !held {
                forget_pairs(pairs, names);
            }
            held
        });
        for t in data.snapshot.traces.iter() {
            if !self.by_trace.contains_key(&t.trace_id) {
                let names = TraceNames::of(t);
                self.seen.extend(names.names.iter().chain(&names.services));
                for &p in names.attrs.iter() {
                    *self.pairs.entry(p).or_default() += 1;
                }
                self.by_trace.insert(t.trace_id, names);
            }
        }
    }

    /// The hash of `key=value` when a held trace has that pair; remembered for the next row.
    fn held_pair(&mut self, key: &str, value: &str) -> Option<u64> {
        if let Some((k, v, answer)) = &self.asked_pair
            && k == key
            && v == value
        {
            return *answer;
        }
        // Keys are interned: a key no span carries was never interned, and nothing matches.
        let answer = Sym::get(key)
            .map(|k| attr_hash(k, value))
            .filter(|h| self.pairs.contains_key(h));
        self.asked_pair = Some((key.to_owned(), value.to_owned(), answer));
        answer
    }
}

/// Takes a trace's pairs out of the counts, each pair no trace holds any more out altogether.
fn forget_pairs(pairs: &mut FxHashMap<u64, u32>, names: &TraceNames) {
    for p in names.attrs.iter() {
        if let Some(n) = pairs.get_mut(p) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pairs.remove(p);
            }
        }
    }
}

/// Indexes the names of the traces new in `data`: the loop calls it as each view arrives, so
/// the first filter key after a big load does not pay for it.
pub fn index_names(data: &ViewData) {
    NAMES.with_borrow_mut(|n| n.update(data));
}

/// Whether any span name or service of the held traces holds `word` (lower case). When
/// none does, only a trace id can match: a word typed on the way to `http.route=` (an
/// attribute key, interned like the names) is answered without a look at a row's names.
fn any_trace_name_contains(data: &ViewData, word: &str) -> bool {
    NAMES.with_borrow_mut(|n| {
        n.update(data);
        let (asked, size, any) = &mut n.asked;
        if *asked != word || *size != n.seen.len() {
            asked.clear();
            asked.push_str(word);
            *size = n.seen.len();
            *any = n.seen.iter().any(|&s| sym_contains(s, word));
        }
        *any
    })
}

/// `f` on the row's trace's names (false when the trace is not held).
fn with_names(data: &ViewData, r: &TraceRow, f: impl FnOnce(&TraceNames) -> bool) -> bool {
    NAMES.with_borrow_mut(|n| {
        n.update(data);
        n.by_trace.get(&r.trace_id).is_some_and(f)
    })
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
                // A pair no held trace has matches no row; the others are answered from the
                // trace's pair hashes, not its spans (2.4 million at 100,000 traces).
                NAMES.with_borrow_mut(|n| {
                    n.update(data);
                    n.held_pair(k, v).is_some_and(|want| {
                        n.by_trace
                            .get(&r.trace_id)
                            .is_some_and(|t| t.attrs.binary_search(&want).is_ok())
                    })
                })
            }
            Term::Text(w) => {
                // Names are interned, so each distinct one is searched once per word
                // (`sym_contains`); a word no name holds skips the spans altogether, and
                // the others look at each trace's distinct names (`NameIndex`), not its spans.
                let names = any_trace_name_contains(data, w);
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

    /// The view a store holding `traces`, all complete and analysed, publishes.
    fn view_of(traces: &[&Trace]) -> ViewData {
        use std::time::{Duration, Instant};

        use crate::analysis::engine::Engine;
        use crate::model::Batch;
        use crate::store::{SpanStore, StoreConfig};

        let mut store = SpanStore::new(StoreConfig {
            inactivity_timeout: Duration::from_secs(3600),
            ..StoreConfig::default()
        });
        for t in traces {
            store.ingest(Batch::new(t.spans.clone()), Instant::now());
        }
        store.complete_all();
        let mut engine = Engine::default();
        for t in store.take_completed() {
            engine.add_trace(&t);
        }
        ViewData::build(store.snapshot(), &engine)
    }

    /// `key=value` as typed: a pair no held trace has matches nothing (answered once, not per
    /// row), and the answer follows the data: a pair held only by a trace that is gone stops
    /// matching, one that arrives starts, even when the same pair was asked just before.
    #[test]
    fn a_pair_matches_while_a_held_trace_has_it() {
        use crate::analysis::trace::fixture::TraceBuilder;

        let pair_trace = |id: u128, value: &str| {
            let mut b = TraceBuilder::with_trace_id(id);
            b.span("qqpairs", "GET /qqpairs")
                .at(0, 10)
                .attr("qqpair.key", AnyValue::Str(value.into()))
                .id();
            b.build()
        };
        let (a, b) = (pair_trace(0x91, "one"), pair_trace(0x92, "two"));
        let first = view_of(&[&a]);
        let second = view_of(&[&b]);
        let attr = |k: &str, v: &str| Term::Attr(k.into(), v.into());
        let listed = |data: &ViewData, term: &Term| -> Vec<TraceId> {
            data.traces
                .iter()
                .filter(|r| Traces.matches(r, term, data))
                .map(|r| r.trace_id)
                .collect()
        };
        let held = |data: &ViewData, v: &str| {
            NAMES.with_borrow_mut(|n| {
                n.update(data);
                n.held_pair("qqpair.key", v).is_some()
            })
        };
        assert_eq!(listed(&first, &attr("qqpair.key", "one")), vec![a.trace_id]);
        assert!(listed(&first, &attr("qqpair.key", "two")).is_empty());
        assert!(listed(&first, &attr("qqpair.key", "on")).is_empty());
        // The same pair asked again, of a view where a trace has it.
        assert_eq!(
            listed(&second, &attr("qqpair.key", "two")),
            vec![b.trace_id]
        );
        assert!(listed(&second, &attr("qqpair.key", "one")).is_empty());
        assert!(
            !held(&second, "one"),
            "the pair left with the only trace that had it"
        );
        assert!(held(&first, "one") && !held(&first, "two"));
    }

    /// A word held only by an attribute key (interned like the names, typed on the way to
    /// `key=value`) matches no trace by its names; `key=value` matches from the pair hashes.
    #[test]
    fn names_and_pairs_match_without_the_spans_and_keys_are_not_names() {
        use std::time::{Duration, Instant};

        use crate::analysis::engine::Engine;
        use crate::analysis::trace::fixture::TraceBuilder;
        use crate::model::Batch;
        use crate::store::{SpanStore, StoreConfig};

        let mut b = TraceBuilder::with_trace_id(0x77);
        let root = b.span("qqcart", "GET /qqbasket").at(0, 10).id();
        b.span("qqcart", "SELECT qqitems")
            .at(2, 4)
            .parent(root)
            .attr("qqonly.a.key", AnyValue::Int(42))
            .id();
        let trace = b.build();
        let mut store = SpanStore::new(StoreConfig {
            inactivity_timeout: Duration::from_secs(3600),
            ..StoreConfig::default()
        });
        store.ingest(Batch::new(trace.spans.clone()), Instant::now());
        store.complete_all();
        let mut engine = Engine::default();
        for t in store.take_completed() {
            engine.add_trace(&t);
        }
        let data = ViewData::build(store.snapshot(), &engine);
        let row = data.trace_row(trace.trace_id).expect("listed");
        let matches = |term: Term| Traces.matches(row, &term, &data);
        let text = |w: &str| Term::Text(w.into());
        let attr = |k: &str, v: &str| Term::Attr(k.into(), v.into());
        assert!(Sym::get("qqonly.a.key").is_some(), "the key is interned");
        assert!(!matches(text("qqonly.a")));
        assert!(matches(text("qqitems")), "a span name below the root");
        assert!(matches(text("qqcart")));
        assert!(matches(attr("qqonly.a.key", "42")));
        assert!(!matches(attr("qqonly.a.key", "4")));
        assert!(!matches(attr("qqonly.a.key", "43")));
        assert!(!matches(attr("no.such.qqkey", "42")));
    }
}
