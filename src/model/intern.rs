use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use lasso::{Spur, ThreadedRodeo};

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

/// Whether any interned name satisfies `f`. Walks every name: for a question asked once
/// per filter word, not per span.
pub fn any_interned(f: impl FnMut(&str) -> bool) -> bool {
    INTERNER.strings().any(f)
}

/// An interned string. Equality and hashing are on the 4-byte key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sym(Spur);

impl Sym {
    pub fn new(s: &str) -> Self {
        // The common case, a name seen before, costs one lookup as `get_or_intern` would.
        if let Some(key) = INTERNER.get(s) {
            return Sym(key);
        }
        let key = INTERNER.get_or_intern(s);
        // Two threads interning the same new name at once both count it: a few bytes over.
        TEXT_BYTES.fetch_add(s.len(), Ordering::Relaxed);
        STRINGS.fetch_add(1, Ordering::Relaxed);
        Sym(key)
    }

    /// The symbol for `s` if it was ever interned; lets lookups avoid growing the table.
    pub fn get(s: &str) -> Option<Self> {
        INTERNER.get(s).map(Sym)
    }

    pub fn as_str(self) -> &'static str {
        INTERNER.resolve(&self.0)
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
    fn join_puts_the_separator_between_names_only() {
        assert_eq!(Sym::join(&[], " → "), "");
        assert_eq!(Sym::join(&[Sym::new("cart")], " → "), "cart");
        let chain = [Sym::new("web"), Sym::new("cart"), Sym::new("db")];
        assert_eq!(Sym::join(&chain, " → "), "web → cart → db");
    }
}
