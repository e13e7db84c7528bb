//! [`TopicTrie`]: the wildcard trie matcher.

use super::DestSet;
use crate::error::Error;
use std::hash::Hash;

/// What one routing call did, for tests and explanations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteStats {
    /// (trie node, key position) states visited; at most nodes × (words + 1).
    pub states: usize,
}

/// A set of (pattern, destination) bindings that routes keys without taking a lock.
pub struct TopicTrie<D> {
    _d: std::marker::PhantomData<D>,
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> TopicTrie<D> {
    /// An empty trie.
    pub fn new() -> Self {
        todo!()
    }

    /// Binds `pattern` to `dest`; returns whether the binding is new.
    pub fn bind(&self, pattern: &str, dest: D) -> Result<bool, Error> {
        let _ = (pattern, dest);
        todo!()
    }

    /// Binds every (pattern, destination) pair; all patterns are checked first, so on error
    /// nothing is bound. Returns how many bindings were new.
    pub fn bind_many<'a, I>(&self, bindings: I) -> Result<usize, Error>
    where
        I: IntoIterator<Item = (&'a str, D)>,
    {
        let _ = bindings.into_iter();
        todo!()
    }

    /// Removes the binding of `pattern` to `dest`; returns whether it existed.
    pub fn unbind(&self, pattern: &str, dest: D) -> Result<bool, Error> {
        let _ = (pattern, dest);
        todo!()
    }

    /// Adds every destination whose pattern matches `key` to `out` (once each).
    pub fn route(&self, key: &str, out: &mut DestSet<D>) -> Result<(), Error> {
        self.route_with_stats(key, out).map(|_| ())
    }

    /// As [`route`](Self::route), also counting the states visited.
    pub fn route_with_stats(&self, key: &str, out: &mut DestSet<D>) -> Result<RouteStats, Error> {
        let _ = (key, out);
        todo!()
    }

    /// The number of (pattern, destination) bindings.
    pub fn len(&self) -> usize {
        todo!()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> Default for TopicTrie<D> {
    fn default() -> Self {
        TopicTrie::new()
    }
}
