use std::cell::RefCell;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use lasso::{Key, Spur, ThreadedRodeo};

/// Names that repeat across millions of spans (services, operations, attribute keys) are stored
/// once, process-wide; a span holds 4-byte symbols. Values stay un-interned: they are often unique.
/// foldhash: several times faster than SipHash on short keys, and still seeded per process, since
/// the keys come from the network.
static INTERNER: LazyLock<ThreadedRodeo<Spur, foldhash::fast::RandomState>> =
    LazyLock::new(|| ThreadedRodeo::with_hasher(foldhash::fast::RandomState::default()));

/// Bytes of the interned strings' text, and how many there are (kept here: the interner's own
/// `len` locks every shard, too slow for the budget check on each batch).
static TEXT_BYTES: AtomicUsize = AtomicUsize::new(0);
static STRINGS: AtomicUsize = AtomicUsize::new(0);

/// Per string besides its text: an entry in each of the interner's two maps (string to key
/// and key to string, 24 bytes each with their hash-table overhead) and arena slack.
const PER_STRING_BYTES: usize = 64;

/// Heap bytes the process-wide interner holds, for the memory budget. Interned names are never
/// freed: a sender that makes every name unique grows this for as long as it runs.
pub fn interned_bytes() -> usize {
    TEXT_BYTES.load(Ordering::Relaxed) + STRINGS.load(Ordering::Relaxed) * PER_STRING_BYTES
}

/// How many names were interned so far (a name interned by two threads at once counts twice):
/// lets a reader that scanned every name know when to scan again.
pub fn interned_count() -> usize {
    STRINGS.load(Ordering::Relaxed)
}

/// An interned string. Equality and hashing are on the 4-byte key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sym(Spur);

/// Slots of each thread's caches (direct-mapped, so a thread's memory for them is fixed).
/// The interner's maps are DashMaps: every lookup takes a shard's read lock, two atomic
/// writes to a cache line the decoder and analysis threads share; a profile of a 100,000-span
/// trace's analysis spent a third of its time there, resolving symbols and looking up the
/// attribute keys the analyses read.
const CACHE_SLOTS: usize = 1024;
/// Longer texts are looked up uncached: they are rarely names, and a slot keeps its buffer.
const CACHED_TEXT_MAX: usize = 256;

/// A name looked up by text: the symbol, or its absence while no name was interned since.
struct Found {
    text: String,
    sym: Option<Sym>,
    /// `interned_count()` read before the lookup: an absence holds while it is unchanged.
    count: usize,
}

struct Caches {
    /// Symbol to text, slot `index % CACHE_SLOTS` (keys are handed out in sequence).
    text: Vec<Option<(Spur, &'static str)>>,
    /// Text to symbol, slot by hash of the text.
    sym: Vec<Option<Found>>,
    hasher: foldhash::fast::FixedState,
}

thread_local! {
    static CACHES: RefCell<Caches> = RefCell::new(Caches {
        text: vec![None; CACHE_SLOTS],
        sym: std::iter::repeat_with(|| None).take(CACHE_SLOTS).collect(),
        hasher: foldhash::fast::FixedState::default(),
    });
}

/// `INTERNER.get(s)` through this thread's cache.
fn lookup(s: &str) -> Option<Sym> {
    let uncached = || {
        let count = interned_count();
        (INTERNER.get(s).map(Sym), count)
    };
    if s.len() > CACHED_TEXT_MAX {
        return uncached().0;
    }
    // A thread being torn down looks up without its cache.
    CACHES
        .try_with(|c| {
            let mut c = c.borrow_mut();
            let slot = usize::try_from(c.hasher.hash_one(s)).unwrap_or(0) % CACHE_SLOTS;
            if let Some(f) = &c.sym[slot]
                && *f.text == *s
                && (f.sym.is_some() || f.count == interned_count())
            {
                return f.sym;
            }
            let (sym, count) = uncached();
            // The slot's buffer is reused: names that never repeat cost no allocation here.
            match &mut c.sym[slot] {
                Some(f) => {
                    f.text.clear();
                    f.text.push_str(s);
                    f.sym = sym;
                    f.count = count;
                }
                empty => {
                    *empty = Some(Found {
                        text: s.to_owned(),
                        sym,
                        count,
                    })
                }
            }
            sym
        })
        .unwrap_or_else(|_| uncached().0)
}

impl Sym {
    pub fn new(s: &str) -> Self {
        // The common case, a name seen before, costs one lookup as `get_or_intern` would.
        if let Some(sym) = lookup(s) {
            return sym;
        }
        let key = INTERNER.get_or_intern(s);
        // Two threads interning the same new name at once both count it: a few bytes over.
        TEXT_BYTES.fetch_add(s.len(), Ordering::Relaxed);
        STRINGS.fetch_add(1, Ordering::Relaxed);
        Sym(key)
    }

    /// The symbol for `s` if it was ever interned; lets lookups avoid growing the table.
    pub fn get(s: &str) -> Option<Self> {
        lookup(s)
    }

    pub fn as_str(self) -> &'static str {
        let slot = self.0.into_usize() % CACHE_SLOTS;
        CACHES
            .try_with(|c| {
                let mut c = c.borrow_mut();
                match c.text[slot] {
                    Some((k, text)) if k == self.0 => text,
                    _ => {
                        let text = INTERNER.resolve(&self.0);
                        c.text[slot] = Some((self.0, text));
                        text
                    }
                }
            })
            .unwrap_or_else(|_| INTERNER.resolve(&self.0))
    }

    /// The names' text with `sep` between them: a chain of services (`a → b`), a fan-out's
    /// targets (`a,b`), the same in the lists' keys and the report.
    pub fn join(syms: &[Sym], sep: &str) -> String {
        let mut out = String::new();
        for (i, s) in syms.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(s.as_str());
        }
        out
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl PartialOrd for Sym {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
/// Orders by text, so sorted output is stable across runs whatever the interning order.
impl Ord for Sym {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Sorting and dedup of repeated names compare a symbol with itself most of the time.
        if self.0 == other.0 {
            return std::cmp::Ordering::Equal;
        }
        self.as_str().cmp(other.as_str())
    }
}
impl serde::Serialize for Sym {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl From<&str> for Sym {
    fn from(s: &str) -> Self {
        Sym::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_caches_answer_as_the_interner() {
        // More names than cache slots, so slots are shared and replaced.
        let names: Vec<String> = (0..3 * CACHE_SLOTS)
            .map(|i| format!("intern-test-{i}"))
            .collect();
        let syms: Vec<Sym> = names.iter().map(|n| Sym::new(n)).collect();
        for _ in 0..2 {
            for (n, s) in names.iter().zip(&syms) {
                assert_eq!(s.as_str(), n);
                assert_eq!(Sym::get(n), Some(*s));
                assert_eq!(Sym::new(n), *s);
                assert_eq!(INTERNER.get(n.as_str()), Some(s.0));
            }
        }
        let long = "x".repeat(CACHED_TEXT_MAX + 1);
        assert_eq!(Sym::new(&long).as_str(), long);
    }

    #[test]
    fn an_absent_name_is_found_once_interned_elsewhere() {
        let name = "intern-test-interned-by-another-thread";
        assert_eq!(Sym::get(name), None);
        // Cached as absent; then interned by another thread.
        assert_eq!(Sym::get(name), None);
        let there = std::thread::spawn(move || Sym::new(name))
            .join()
            .expect("the interning thread ends");
        assert_eq!(Sym::get(name), Some(there));
        assert_eq!(there.as_str(), name);
    }

    #[test]
    fn symbols_order_by_text() {
        let (a, b) = (Sym::new("intern-test-b"), Sym::new("intern-test-a"));
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Greater);
        assert_eq!(a.cmp(&a), std::cmp::Ordering::Equal);
    }

    #[test]
    fn join_puts_the_separator_between_names_only() {
        assert_eq!(Sym::join(&[], " → "), "");
        assert_eq!(Sym::join(&[Sym::new("cart")], " → "), "cart");
        let chain = [Sym::new("web"), Sym::new("cart"), Sym::new("db")];
        assert_eq!(Sym::join(&chain, " → "), "web → cart → db");
    }
}
