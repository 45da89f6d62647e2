//! Resources and scopes interned by content. A decoder makes a new `Arc<Resource>` and
//! `Arc<Scope>` for each block of every request; the store swaps them for one shared copy per
//! distinct content, so a service sending a thousand requests is held once, and counts each
//! copy once in the budget. A copy no span refers to any more is purged.
//!
//! Spans of one block arrive together sharing the decoder's `Arc`: the content is hashed
//! only when the pointer differs from the previous span's, never per span.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::{AnyValue, KeyValue, Resource, Scope, Span, mem};

/// One kind of interned value (resources or scopes), by content hash.
#[derive(Debug)]
struct Table<T> {
    /// Almost always one entry per hash; values that compare unequal to themselves (a NaN
    /// attribute) are kept apart and purged like any other.
    by_hash: FxHashMap<u64, Vec<Arc<T>>>,
    len: usize,
    bytes: usize,
    /// The previous span's incoming `Arc` and the interned one it maps to. Holding the incoming
    /// one keeps its address from being reused while it is compared against.
    last: Option<(Arc<T>, Arc<T>)>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            by_hash: FxHashMap::default(),
            len: 0,
            bytes: 0,
            last: None,
        }
    }
}

/// Per interned value besides its content: its place in the table (key, vector, slot) and the
/// `Arc` header.
const ENTRY_BYTES: usize = size_of::<(u64, Vec<usize>)>() * 8 / 7 + size_of::<usize>() + 16;

impl<T: PartialEq> Table<T> {
    /// The shared copy of `value`, interned if new. `hash` and `size` are only called when
    /// the `Arc` differs from the previous call's.
    fn intern(
        &mut self,
        value: &Arc<T>,
        hash: impl FnOnce(&T) -> u64,
        size: impl FnOnce(&T) -> usize,
    ) -> Arc<T> {
        if let Some((incoming, interned)) = &self.last
            && Arc::ptr_eq(incoming, value)
        {
            return Arc::clone(interned);
        }
        let h = hash(value);
        let bucket = self.by_hash.entry(h).or_default();
        let interned = match bucket
            .iter()
            .find(|v| Arc::ptr_eq(v, value) || ***v == **value)
        {
            Some(v) => Arc::clone(v),
            None => {
                self.len += 1;
                self.bytes += size(value) + ENTRY_BYTES;
                bucket.push(Arc::clone(value));
                Arc::clone(value)
            }
        };
        self.last = Some((Arc::clone(value), Arc::clone(&interned)));
        interned
    }

    /// Drops the copies only the table still refers to; returns how many went.
    fn purge(&mut self, size: impl Fn(&T) -> usize) -> usize {
        self.last = None;
        let before = self.len;
        let (len, bytes) = (&mut self.len, &mut self.bytes);
        self.by_hash.retain(|_, bucket| {
            bucket.retain(|v| {
                let held = Arc::strong_count(v) > 1;
                if !held {
                    *len -= 1;
                    *bytes -= size(v) + ENTRY_BYTES;
                }
                held
            });
            !bucket.is_empty()
        });
        if self.by_hash.len() * 4 < self.by_hash.capacity() {
            self.by_hash.shrink_to_fit();
        }
        before - self.len
    }

    fn table_bytes(&self) -> usize {
        mem::hash_table::<(u64, Vec<Arc<T>>)>(self.by_hash.capacity()) + self.bytes
    }
}

/// The store's interned resources and scopes.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Seeded per process: the content comes from the network, and colliding hashes would
    /// make one bucket long.
    seed: foldhash::fast::RandomState,
    resources: Table<Resource>,
    scopes: Table<Scope>,
    /// Spans let go of since the last purge: a purge walks the tables, so it waits until
    /// about as many spans went as there are entries (amortised, whatever the input).
    released_spans: usize,
}

impl Shared {
    /// Points `span` at the shared copies of its resource and scope.
    pub(super) fn intern(&mut self, span: &mut Span) {
        let seed = &self.seed;
        span.resource = self.resources.intern(
            &span.resource,
            |r| {
                let mut h = seed.build_hasher();
                hash_resource(r, &mut h);
                h.finish()
            },
            resource_bytes,
        );
        span.scope = self.scopes.intern(
            &span.scope,
            |s| {
                let mut h = seed.build_hasher();
                hash_scope(s, &mut h);
                h.finish()
            },
            scope_bytes,
        );
    }

    /// The end of a batch: the decoder's `Arc`s held for comparison can go.
    pub(super) fn end_batch(&mut self) {
        self.resources.last = None;
        self.scopes.last = None;
    }

    /// Bytes held by the interned copies and their tables.
    pub(super) fn bytes(&self) -> usize {
        self.resources.table_bytes() + self.scopes.table_bytes()
    }

    pub(super) fn released(&mut self, spans: usize) {
        self.released_spans += spans;
    }

    /// Purges when enough spans went since the last purge; returns how many copies went.
    pub(super) fn purge_if_due(&mut self) -> usize {
        if self.released_spans < self.resources.len + self.scopes.len {
            return 0;
        }
        self.purge()
    }

    /// Purges if any span was let go of since the last purge.
    pub(super) fn purge_if_released(&mut self) -> usize {
        if self.released_spans == 0 {
            return 0;
        }
        self.purge()
    }

    /// Drops every copy no span refers to any more.
    pub(super) fn purge(&mut self) -> usize {
        self.released_spans = 0;
        self.resources.purge(resource_bytes) + self.scopes.purge(scope_bytes)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> (usize, usize) {
        (self.resources.len, self.scopes.len)
    }
}

fn attrs_bytes(kv: &[KeyValue]) -> usize {
    std::mem::size_of_val(kv) + kv.iter().map(|k| k.value.heap_size()).sum::<usize>()
}

fn opt_len(s: &Option<Box<str>>) -> usize {
    s.as_ref().map_or(0, |s| s.len())
}

fn resource_bytes(r: &Resource) -> usize {
    size_of::<Resource>() + attrs_bytes(&r.attributes) + opt_len(&r.schema_url)
}

fn scope_bytes(s: &Scope) -> usize {
    size_of::<Scope>()
        + s.name.len()
        + opt_len(&s.version)
        + attrs_bytes(&s.attributes)
        + opt_len(&s.schema_url)
}

fn hash_value(v: &AnyValue, h: &mut impl Hasher) {
    std::mem::discriminant(v).hash(h);
    match v {
        AnyValue::Str(s) => s.as_str().hash(h),
        AnyValue::Bool(b) => b.hash(h),
        AnyValue::Int(i) => i.hash(h),
        AnyValue::Double(d) => d.to_bits().hash(h),
        AnyValue::Bytes(b) => b.hash(h),
        AnyValue::Array(a) => {
            a.len().hash(h);
            a.iter().for_each(|v| hash_value(v, h));
        }
        AnyValue::KvList(kv) => hash_attrs(kv, h),
        AnyValue::Empty => {}
    }
}

fn hash_attrs(kv: &[KeyValue], h: &mut impl Hasher) {
    kv.len().hash(h);
    for k in kv {
        k.key.hash(h);
        hash_value(&k.value, h);
    }
}

fn hash_resource(r: &Resource, h: &mut impl Hasher) {
    hash_attrs(&r.attributes, h);
    r.dropped_attributes_count.hash(h);
    r.schema_url.hash(h);
}

fn hash_scope(s: &Scope, h: &mut impl Hasher) {
    s.name.hash(h);
    s.version.hash(h);
    hash_attrs(&s.attributes, h);
    s.dropped_attributes_count.hash(h);
    s.schema_url.hash(h);
}
