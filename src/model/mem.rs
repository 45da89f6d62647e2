//! Estimates of heap bytes held by collections, for the memory budget (`--max-memory`).
//!
//! They follow the std layouts closely enough for a budget (within a few percent for maps
//! that are not tiny): a `Vec` holds its capacity; a hash map (hashbrown) one slot per bucket
//! plus a control byte, buckets a power of two ≥ 8/7 of the entries; a `BTreeMap` node holds
//! up to 11 entries, about two thirds full on average, with two words of links per entry.

/// Heap bytes of a `Vec<T>` (or `VecDeque<T>`) with this capacity.
pub fn vec<T>(capacity: usize) -> usize {
    capacity * size_of::<T>()
}

/// Heap bytes of a hash map or set whose entries are `T` (`(K, V)` for a map).
pub fn hash_table<T>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    buckets * (size_of::<T>() + 1)
}

/// Heap bytes of a `BTreeMap<K, V>` with `len` entries.
pub fn btree<K, V>(len: usize) -> usize {
    len * ((size_of::<K>() + size_of::<V>()) * 3 / 2 + 2 * size_of::<usize>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_the_collections() {
        assert_eq!(vec::<u64>(10), 80);
        assert_eq!(hash_table::<u64>(0), 0);
        // 100 entries: 128 buckets of 8 bytes plus a control byte each.
        assert_eq!(hash_table::<u64>(100), 128 * 9);
        assert!(btree::<u32, u64>(100) > 100 * 12);
    }
}
