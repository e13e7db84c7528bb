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

    /// Adds `dest` unless present; returns whether it was added.
    #[inline]
    pub fn insert(&mut self, dest: D) -> bool {
        if let Some(index) = &mut self.index {
            if !index.insert(dest) {
                return false;
            }
        } else if self.items.contains(&dest) {
            return false;
        } else if self.items.len() >= SCAN_LIMIT {
            let mut index: ahash::HashSet<D> = self.items.iter().copied().collect();
            index.insert(dest);
            self.index = Some(index);
        }
        self.items.push(dest);
        true
    }

    /// Adds every destination of `dests` not yet present.
    #[inline]
    pub fn extend_from_slice(&mut self, dests: &[D]) {
        for &d in dests {
            self.insert(d);
        }
    }

    /// Adds `dests`, which holds no duplicates (a trie or table destination list), checking
    /// only against what was here before: an empty set takes them whole, a small one is scanned,
    /// so the common route (one or two lists) builds no hash index.
    #[inline]
    pub(crate) fn extend_from_distinct(&mut self, dests: &[D]) {
        let before = self.items.len();
        if self.index.is_none() && before * dests.len() <= 256 {
            for &d in dests {
                if !self.items[..before].contains(&d) {
                    self.items.push(d);
                }
            }
        } else {
            self.extend_from_slice(dests);
        }
    }

    /// Whether `dest` is in the set.
    pub fn contains(&self, dest: &D) -> bool {
        match &self.index {
            Some(index) => index.contains(dest),
            None => self.items.contains(dest),
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
        // A cleared index stays (holding every item, none now): the next call likely finds as
        // many destinations.
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
