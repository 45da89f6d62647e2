use std::fmt;
use std::sync::LazyLock;

use lasso::{Spur, ThreadedRodeo};

/// Names that repeat across millions of spans (services, operations, attribute keys) are stored
/// once, process-wide; a span holds 4-byte symbols. Values stay un-interned: they are often unique.
/// foldhash: several times faster than SipHash on short keys, and still seeded per process, since
/// the keys come from the network.
static INTERNER: LazyLock<ThreadedRodeo<Spur, foldhash::fast::RandomState>> =
    LazyLock::new(|| ThreadedRodeo::with_hasher(foldhash::fast::RandomState::default()));

/// An interned string. Equality and hashing are on the 4-byte key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sym(Spur);

impl Sym {
    pub fn new(s: &str) -> Self {
        Sym(INTERNER.get_or_intern(s))
    }

    /// The symbol for `s` if it was ever interned; lets lookups avoid growing the table.
    pub fn get(s: &str) -> Option<Self> {
        INTERNER.get(s).map(Sym)
    }

    pub fn as_str(self) -> &'static str {
        INTERNER.resolve(&self.0)
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
