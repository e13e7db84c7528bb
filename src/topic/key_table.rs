//! [`KeyTable`]: exact routing key to destinations, lock-free to read.

use super::DestSet;
use crate::error::Error;
use std::hash::Hash;

/// An exact-key table: the direct exchange, and the literal patterns of a [`TopicTrie`].
///
/// [`TopicTrie`]: super::TopicTrie
pub struct KeyTable<D> {
    _d: std::marker::PhantomData<D>,
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> KeyTable<D> {
    /// An empty table.
    pub fn new() -> Self {
        todo!()
    }

    /// Binds `key` to `dest`; returns whether the binding is new.
    pub fn bind(&self, key: &str, dest: D) -> Result<bool, Error> {
        let _ = (key, dest);
        todo!()
    }

    /// Removes the binding of `key` to `dest`; returns whether it existed.
    pub fn unbind(&self, key: &str, dest: D) -> Result<bool, Error> {
        let _ = (key, dest);
        todo!()
    }

    /// Adds the destinations bound to exactly `key` to `out`.
    pub fn route(&self, key: &str, out: &mut DestSet<D>) -> Result<(), Error> {
        let _ = (key, out);
        todo!()
    }

    /// The number of (key, destination) bindings.
    pub fn len(&self) -> usize {
        todo!()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
