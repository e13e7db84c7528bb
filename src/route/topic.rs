//! [`TopicTable`]: the topic exchange (SEMANTICS E1, T), a layer over [`TopicTrie`].
//!
//! The exchange-level name for the trie, which does the matching (SEMANTICS T1–T4: words split
//! at `.`, `*` one word, `#` zero or more, anywhere), the lock-free publication and the N1
//! length checks naming the input (pattern or routing key).

use crate::error::Error;
use crate::topic::{DestSet, TopicTrie};
use std::hash::Hash;

/// A topic exchange's bindings: a set of (pattern, destination) pairs; a message goes to every
/// destination with a pattern matching its routing key, once however many patterns match.
///
/// ```
/// use warren::route::TopicTable;
/// use warren::topic::DestSet;
///
/// let table = TopicTable::new();
/// table.bind("*.orange.*", 1u32)?;
/// table.bind("lazy.#", 2)?;
/// let mut out = DestSet::new();
/// table.route("lazy", &mut out)?; // `#` matches zero words (SEMANTICS T3)
/// assert_eq!(out.as_slice(), [2]);
/// # Ok::<(), warren::Error>(())
/// ```
///
/// # Memory ordering
///
/// As [`TopicTrie`]: a `bind` or `unbind` that has returned is seen by every `route` that
/// starts after it (in happens-before order); a concurrent `route` sees each changing binding
/// either bound or not and never misses a binding nobody is changing (SEMANTICS T6).
pub struct TopicTable<D> {
    trie: TopicTrie<D>,
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> TopicTable<D> {
    /// An empty table.
    pub fn new() -> Self {
        TopicTable {
            trie: TopicTrie::new(),
        }
    }

    /// Binds `pattern` to `dest`; returns whether the binding is new (binding twice is a no-op,
    /// SEMANTICS E5).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) naming the pattern when it is over 255
    /// bytes (SEMANTICS N1), or any error of [`TopicTrie::bind`]; nothing changes.
    pub fn bind(&self, pattern: &str, dest: D) -> Result<bool, Error> {
        self.trie.bind(pattern, dest)
    }

    /// Removes the binding of `pattern` to `dest`; returns whether it existed (SEMANTICS E11).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn unbind(&self, pattern: &str, dest: D) -> Result<bool, Error> {
        self.trie.unbind(pattern, dest)
    }

    /// Adds every destination with a pattern matching `routing_key` to `out`. Takes no lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) naming the routing key when it is over
    /// 255 bytes; `out` is unchanged.
    pub fn route(&self, routing_key: &str, out: &mut DestSet<D>) -> Result<(), Error> {
        self.trie.route(routing_key, out)
    }

    /// The number of (pattern, destination) bindings.
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> Default for TopicTable<D> {
    fn default() -> Self {
        TopicTable::new()
    }
}
