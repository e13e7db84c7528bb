//! [`DestSet`]: the caller-owned, deduplicated output buffer of one routing call.

use smallvec::SmallVec;
use std::hash::Hash;

/// How many destinations live inline before the buffer allocates, and how many are checked by a
/// linear scan before a hash index is built.
const INLINE: usize = 8;
const SCAN_LIMIT: usize = 16;

/// A deduplicated set of destinations in first-found order, reusable across routing calls.
///
/// Up to 8 destinations it allocates nothing; membership is a linear scan up to 16 and a hash
/// index beyond, so a key matching thousands of destinations stays linear.
#[derive(Clone, Debug)]
pub struct DestSet<D> {
    items: SmallVec<[D; INLINE]>,
    /// Every item once the set holds more than `SCAN_LIMIT`, else empty (see
    /// [`indexed`](Self::indexed)). Kept, emptied, across [`clear`](Self::clear) for its
    /// allocation: a set reused for many routes pays for hashing only in the routes that find
    /// many destinations.
    index: Option<ahash::HashSet<D>>,
}

impl<D: Copy + Eq + Hash> DestSet<D> {
    /// An empty set.
    pub fn new() -> Self {
        DestSet {
            items: SmallVec::new(),
            index: None,
        }
    }

    /// Whether membership is answered by the hash index (it then holds every item).
    #[inline]
    fn indexed(&self) -> bool {
        self.index.as_ref().is_some_and(|index| !index.is_empty())
    }

    /// Adds `dest` unless present; returns whether it was added.
    #[inline]
    pub fn insert(&mut self, dest: D) -> bool {
        let new = match &mut self.index {
            Some(index) if !index.is_empty() => index.insert(dest),
            _ if self.items.contains(&dest) => false,
            index => {
                if self.items.len() >= SCAN_LIMIT {
                    let index = index.get_or_insert_with(Default::default);
                    index.extend(self.items.iter().copied());
                    index.insert(dest);
                }
                true
            }
        };
        if new {
            self.items.push(dest);
        }
        new
    }

    /// Adds every destination of `dests` not yet present.
    #[inline]
    pub fn extend_from_slice(&mut self, dests: &[D]) {
        for &d in dests {
            self.insert(d);
        }
    }

    /// Adds `dests`, which holds no duplicates (a trie or table destination list), checking
    /// only against what was here before. A short list is pushed item by item after a scan of
    /// each. A longer one rarely repeats what a route found before it, so a small set is first
    /// scanned for a repeat and, finding none (or being empty), takes the list whole in one
    /// copy: the common route (a few lists, one of them long) builds no hash index and pushes
    /// nothing one by one.
    #[inline]
    pub(crate) fn extend_from_distinct(&mut self, dests: &[D]) {
        let before = self.items.len();
        if self.indexed() || before * dests.len() > 256 {
            self.extend_from_slice(dests);
        } else if dests.len() <= 4 || self.items.iter().any(|d| dests.contains(d)) {
            self.items.reserve(dests.len());
            for &d in dests {
                if !self.items[..before].contains(&d) {
                    self.items.push(d);
                }
            }
        } else {
            self.items.extend_from_slice(dests);
        }
    }

    /// Whether `dest` is in the set.
    pub fn contains(&self, dest: &D) -> bool {
        match &self.index {
            Some(index) if !index.is_empty() => index.contains(dest),
            _ => self.items.contains(dest),
        }
    }

    /// The destinations, in the order they were first added.
    pub fn as_slice(&self) -> &[D] {
        &self.items
    }

    /// The number of destinations.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Empties the set, keeping its allocations for reuse.
    pub fn clear(&mut self) {
        self.items.clear();
        if let Some(index) = &mut self.index {
            index.clear();
        }
    }

    /// Iterates over the destinations.
    pub fn iter(&self) -> std::slice::Iter<'_, D> {
        self.items.iter()
    }
}

impl<D: Copy + Eq + Hash> Default for DestSet<D> {
    fn default() -> Self {
        DestSet::new()
    }
}

impl<'a, D: Copy + Eq + Hash> IntoIterator for &'a DestSet<D> {
    type Item = &'a D;
    type IntoIter = std::slice::Iter<'a, D>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::DestSet;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Clear,
        Insert(u8),
        /// A destination list: no repeats within it, as the tables hold them.
        Extend(Vec<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => Just(Op::Clear),
            3 => any::<u8>().prop_map(Op::Insert),
            4 => prop::collection::btree_set(0u8..80, 0..60)
                .prop_map(|s| Op::Extend(s.into_iter().rev().collect())),
        ]
    }

    proptest! {
        /// One set reused through clears, small and large lists and single inserts (crossing
        /// the scan limit, the scan budget and back) holds what a first-found, deduplicated
        /// list holds, in the same order (the route output rule: each destination once).
        #[test]
        fn reused_set_matches_a_deduplicated_list(ops in prop::collection::vec(op(), 1..40)) {
            let mut set = DestSet::new();
            let mut model: Vec<u8> = Vec::new();
            for op in &ops {
                match op {
                    Op::Clear => {
                        set.clear();
                        model.clear();
                    }
                    Op::Insert(d) => {
                        prop_assert_eq!(set.insert(*d), !model.contains(d));
                        if !model.contains(d) {
                            model.push(*d);
                        }
                    }
                    Op::Extend(list) => {
                        set.extend_from_distinct(list);
                        for d in list {
                            if !model.contains(d) {
                                model.push(*d);
                            }
                        }
                    }
                }
                prop_assert_eq!(set.as_slice(), &model[..]);
                for d in 0..80u8 {
                    prop_assert_eq!(set.contains(&d), model.contains(&d));
                }
            }
        }
    }

    /// The hash index serves only the routes that need it: after a large result, clearing the
    /// set turns it off, so the next small route is scanned, not hashed.
    #[test]
    fn clear_turns_the_index_off() {
        let mut set = DestSet::new();
        set.extend_from_slice(&(0..40u32).collect::<Vec<_>>());
        assert!(set.indexed(), "40 items are indexed");
        set.clear();
        assert!(!set.indexed());
        set.extend_from_distinct(&[1, 2]);
        set.extend_from_distinct(&[2, 3]);
        assert!(!set.indexed());
        assert_eq!(set.as_slice(), [1, 2, 3]);
    }
}
