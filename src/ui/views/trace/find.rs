//! Find in the Trace view (`/`), after Jaeger's trace search: space-separated terms, each
//! matched as a case-insensitive substring of the service, the span name, the span id, an
//! attribute's key or value (the span's, its events' and its resource's), or as `key=value`
//! (the key in full, the value a substring). Every term must match; `-key` drops the spans
//! that carry attribute `key`.

use std::borrow::Cow;
use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::model::{AnyValue, KeyValue, Span, SpanId, Sym, TraceId};
use crate::store::Trace;
use crate::ui::views::{contains, sym_contains};

/// A parsed find text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Lower-cased terms that must all match.
    include: Vec<String>,
    /// Lower-cased attribute keys a match must not carry.
    exclude: Vec<String>,
}

impl Query {
    pub fn parse(text: &str) -> Self {
        let mut q = Query::default();
        for word in text.split_whitespace() {
            let word = word.to_lowercase();
            match word.strip_prefix('-') {
                Some("") => {}
                Some(key) => q.exclude.push(key.to_owned()),
                None => q.include.push(word),
            }
        }
        q
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn matches(&self, s: &Span) -> bool {
        if self.is_empty() {
            return false;
        }
        let attrs = || {
            s.attributes
                .iter()
                .chain(s.events.iter().flat_map(|e| e.attributes.iter()))
                .chain(s.resource.attributes.iter())
        };
        if self
            .exclude
            .iter()
            .any(|key| attrs().any(|kv| kv.key.as_str().eq_ignore_ascii_case(key)))
        {
            return false;
        }
        self.include.iter().all(|term| {
            sym_contains(s.service(), term)
                || sym_contains(s.name, term)
                || contains(&s.span_id.to_string(), term)
                || attrs().any(|kv| kv_matches(kv, term))
        })
    }
}

fn value_text(v: &AnyValue) -> Cow<'_, str> {
    match v.as_str() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.to_string()),
    }
}

fn kv_matches(kv: &KeyValue, term: &str) -> bool {
    if let Some((key, value)) = term.split_once('=')
        && kv.key.as_str().eq_ignore_ascii_case(key)
        && contains(&value_text(&kv.value), value)
    {
        return true;
    }
    contains(kv.key.as_str(), term) || contains(&value_text(&kv.value), term)
}

/// The find state of an open trace: the text and its matches in waterfall order. Matches the
/// service filter (`v`) hides are counted apart and skipped by `n`/`N`: the filter says what
/// to look at, and a jump must land on a drawn row.
#[derive(Debug, Clone, Default)]
pub struct Find {
    pub text: String,
    /// The drawn matches, top to bottom.
    pub matches: Vec<SpanId>,
    /// Matches in subtrees the service filter hides.
    pub hidden: usize,
    /// Which match `n`/`N` went to last (an index into `matches`).
    pub current: usize,
    /// `matches` as a set, built once: the waterfall looks each drawn row up in it per frame.
    set: Arc<FxHashSet<SpanId>>,
    /// The trace and version the matches were found in.
    trace: Option<(TraceId, u32)>,
    /// The service filter `visible` came from, as the caller says (`None` until it does).
    pub only: Option<Sym>,
    /// Span indices of every match, drawn or hidden, in waterfall order: what a narrower
    /// text has to look at (`narrowed`).
    found: Vec<usize>,
}

impl Find {
    /// Finds `text` in `t`. `order` is every span index in waterfall order (nothing folded),
    /// so `matches` reads top to bottom; `visible` is `trace::visible` (`None`: all drawn).
    pub fn new(text: &str, t: &Trace, order: &[usize], visible: Option<&[bool]>) -> Self {
        Find::among(text, t, order, visible)
    }

    /// The find of `text` when it only narrows this one (typed on at the end of it): only
    /// this one's matches can match, so only they are asked, in their order. A key typed into
    /// a find over a 100,000-span trace asked every span again. `None` when `text` may match
    /// others (a shorter text, or a `-key` typed on: it names another key).
    pub fn narrowed(&self, text: &str, t: &Trace, visible: Option<&[bool]>) -> Option<Find> {
        let extends = text.starts_with(self.text.as_str())
            && !self.text.trim().is_empty()
            && (self.text.ends_with(char::is_whitespace)
                || !self
                    .text
                    .split_whitespace()
                    .last()
                    .is_some_and(|w| w.starts_with('-')));
        if !extends || !self.fits(t, self.only) {
            return None;
        }
        let mut find = Find::among(text, t, &self.found, visible);
        find.only = self.only;
        Some(find)
    }

    /// Asks the spans `candidates` (indices into `t.spans`, in waterfall order).
    fn among(text: &str, t: &Trace, candidates: &[usize], visible: Option<&[bool]>) -> Self {
        let q = Query::parse(text);
        let mut hidden = 0;
        let mut matches = Vec::new();
        let mut found = Vec::new();
        for &i in candidates {
            let Some(s) = t.spans.get(i) else { continue };
            if !q.matches(s) {
                continue;
            }
            found.push(i);
            if visible.is_some_and(|v| !v.get(i).copied().unwrap_or(true)) {
                hidden += 1;
            } else {
                matches.push(s.span_id);
            }
        }
        Find {
            text: text.to_owned(),
            set: Arc::new(matches.iter().copied().collect()),
            matches,
            hidden,
            current: 0,
            trace: Some((t.trace_id, t.version)),
            only: None,
            found,
        }
    }

    /// Whether the matches are still those of `t` under the service filter `only`.
    pub fn fits(&self, t: &Trace, only: Option<Sym>) -> bool {
        self.trace == Some((t.trace_id, t.version)) && self.only == only
    }

    pub fn set(&self) -> Arc<FxHashSet<SpanId>> {
        Arc::clone(&self.set)
    }

    /// `match i/N` (i is the selected span when it is a match, else the last one gone
    /// to), or that nothing matched; with how many matches `v` hides.
    pub fn label(&self, selected: Option<SpanId>) -> String {
        let hidden = match self.hidden {
            0 => String::new(),
            n => format!(" (+{n} hidden by v)"),
        };
        if self.matches.is_empty() {
            return format!("no match{hidden}");
        }
        let i = selected
            .and_then(|id| self.matches.iter().position(|&m| m == id))
            .unwrap_or(self.current);
        format!("match {}/{}{hidden}", i + 1, self.matches.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trace::fixture::TraceBuilder;

    #[test]
    fn terms_all_match_and_minus_key_excludes() {
        let mut b = TraceBuilder::new();
        let root = b.span("api", "GET /orders").at(0, 100).id();
        let q = b
            .span("db", "SELECT orders")
            .parent(root)
            .at(10, 50)
            .str_attr("db.system", "postgresql")
            .id();
        b.span("db", "SELECT users")
            .parent(root)
            .at(60, 90)
            .str_attr("db.system", "postgresql")
            .str_attr("cache.hit", "true")
            .id();
        let t = b.build();
        let hits = |text: &str| -> Vec<String> {
            let order: Vec<usize> = (0..t.spans.len()).collect();
            Find::new(text, &t, &order, None)
                .matches
                .iter()
                .filter_map(|id| t.span(*id))
                .map(|s| s.name.as_str().to_owned())
                .collect()
        };
        assert_eq!(hits("select"), ["SELECT orders", "SELECT users"]);
        assert_eq!(hits("DB select orders"), ["SELECT orders"]);
        assert_eq!(
            hits("db.system=postgres"),
            ["SELECT orders", "SELECT users"]
        );
        assert_eq!(hits("db.system=mysql"), Vec::<String>::new());
        assert_eq!(hits("select -cache.hit"), ["SELECT orders"]);
        assert_eq!(hits("api"), ["GET /orders"]);
        let id = q.to_string();
        assert_eq!(hits(&id[10..]), ["SELECT orders"]);
        assert_eq!(hits(""), Vec::<String>::new());
    }

    #[test]
    fn matches_the_service_filter_hides_are_counted_apart() {
        let mut b = TraceBuilder::new();
        let root = b.span("api", "GET /orders").at(0, 100).id();
        b.span("db", "SELECT orders").parent(root).at(10, 50).id();
        b.span("cache", "GET orders").parent(root).at(60, 90).id();
        let t = b.build();
        let order: Vec<usize> = (0..t.spans.len()).collect();
        let db_only: Vec<bool> = t
            .spans
            .iter()
            .map(|s| s.service().as_str() != "cache")
            .collect();
        let f = Find::new("orders", &t, &order, Some(&db_only));
        assert_eq!(f.matches.len(), 2);
        assert_eq!(f.hidden, 1);
        assert_eq!(
            f.label(f.matches.get(1).copied()),
            "match 2/2 (+1 hidden by v)"
        );
        let none = Find::new("cache", &t, &order, Some(&db_only));
        assert_eq!(none.label(None), "no match (+1 hidden by v)");
        assert_eq!(
            Find::new("nothing", &t, &order, None).label(None),
            "no match"
        );
    }

    /// Typed key by key, each find narrowed from the last gives what a find over every span
    /// gives; a text that may match others (shorter, or a `-key` typed on) is not narrowed.
    #[test]
    fn a_find_typed_on_narrows_the_last_and_finds_what_a_full_find_does() {
        let mut b = TraceBuilder::new();
        let root = b.span("api", "GET /orders").at(0, 100).id();
        b.span("db", "SELECT orders")
            .parent(root)
            .at(10, 50)
            .str_attr("db.system", "postgresql")
            .str_attr("cache.hit", "false")
            .id();
        b.span("db", "SELECT users")
            .parent(root)
            .at(60, 90)
            .str_attr("db.system", "postgresql")
            .str_attr("cache.key", "u1")
            .id();
        let t = b.build();
        let order: Vec<usize> = (0..t.spans.len()).collect();
        let visible: Vec<bool> = t
            .spans
            .iter()
            .map(|s| s.name.as_str() != "SELECT users")
            .collect();
        let names = |f: &Find| -> Vec<String> {
            f.matches
                .iter()
                .filter_map(|id| t.span(*id))
                .map(|s| s.name.as_str().to_owned())
                .collect()
        };
        for full in ["db.system=postgres select -cache.hit", "o -cache.k r"] {
            let mut last: Option<Find> = None;
            for end in 1..=full.len() {
                let text = &full[..end];
                let whole = Find::new(text, &t, &order, Some(&visible));
                let narrowed = last
                    .as_ref()
                    .and_then(|l| l.narrowed(text, &t, Some(&visible)));
                if let Some(n) = &narrowed {
                    assert_eq!(names(n), names(&whole), "{text:?}");
                    assert_eq!(n.hidden, whole.hidden, "{text:?}");
                }
                last = Some(narrowed.unwrap_or(whole));
            }
        }
        let f = Find::new("select -cache.key", &t, &order, None);
        assert_eq!(names(&f), ["SELECT orders"]);
        // `-key` names a key in full: typed on, it names another key.
        assert!(
            f.narrowed("select -cache.key2", &t, None).is_none(),
            "excludes others"
        );
        assert!(f.narrowed("select", &t, None).is_none(), "shorter");
        let g = Find::new("select", &t, &order, None);
        let narrowed = g.narrowed("select users", &t, None).expect("typed on");
        assert_eq!(names(&narrowed), ["SELECT users"]);
    }

    /// n/N reuse a find while it `fits`: the same trace version under the same service
    /// filter; a newer version of the trace or another filter makes it be found again.
    #[test]
    fn a_find_fits_its_trace_version_and_service_filter_only() {
        let build = |late: bool| {
            let mut b = TraceBuilder::with_trace_id(0x5a);
            let root = b.span("api", "GET /orders").at(0, 100).id();
            b.span("db", "SELECT orders").parent(root).at(10, 50).id();
            let mut t = b.build();
            if late {
                t.version += 1;
            }
            t
        };
        let (t, newer) = (build(false), build(true));
        let order: Vec<usize> = (0..t.spans.len()).collect();
        let mut f = Find::new("orders", &t, &order, None);
        assert!(f.fits(&t, None));
        assert!(!f.fits(&newer, None), "a newer version is found again");
        let db = Some(Sym::new("db"));
        assert!(!f.fits(&t, db), "another service filter is found again");
        f.only = db;
        assert!(f.fits(&t, db) && !f.fits(&t, None));
    }
}
