//! [`DirectTable`]: the direct exchange (SEMANTICS E1), exact routing key to destinations.
//!
//! The exchange-level name for [`KeyTable`], which holds the lock-free exact-key map and checks
//! keys against SEMANTICS N1, naming the input (binding key or routing key). Keys are compared
//! byte for byte with no wildcard meaning: a direct binding key `a.#` or `*` matches only the
//! routing key `a.#` or `*`.

use crate::error::Error;
use crate::topic::{DestSet, KeyTable};
use std::hash::Hash;

/// A direct exchange's bindings: a set of (binding key, destination) pairs; a message goes to
/// the destinations whose key equals its routing key.
///
/// ```
/// use warren::route::DirectTable;
/// use warren::topic::DestSet;
///
/// let table = DirectTable::new();
/// table.bind("jobs.#", 1u32)?; // literal: `#` has no meaning here
/// let mut out = DestSet::new();
/// table.route("jobs.x", &mut out)?;
/// assert!(out.is_empty());
/// table.route("jobs.#", &mut out)?;
/// assert_eq!(out.as_slice(), [1]);
/// # Ok::<(), warren::Error>(())
/// ```
///
/// # Memory ordering
///
/// As [`KeyTable`]: a `bind` or `unbind` that has returned is seen by every `route` that starts
/// after it (in happens-before order); a `route` running concurrently sees each binding either
/// bound or not, and always sees the bindings nobody is changing.
pub struct DirectTable<D> {
    keys: KeyTable<D>,
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> DirectTable<D> {
    /// An empty table.
    pub fn new() -> Self {
        DirectTable {
            keys: KeyTable::new(),
        }
    }

    /// Binds `key` to `dest`; returns whether the binding is new (binding twice is a no-op,
    /// SEMANTICS E5).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) naming the binding key when `key` is
    /// over 255 bytes (SEMANTICS N1); nothing changes.
    pub fn bind(&self, key: &str, dest: D) -> Result<bool, Error> {
        self.keys.bind(key, dest)
    }

    /// Removes the binding of `key` to `dest`; returns whether it existed (unbinding a missing
    /// binding is a no-op, SEMANTICS E11).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn unbind(&self, key: &str, dest: D) -> Result<bool, Error> {
        self.keys.unbind(key, dest)
    }

    /// Adds the destinations bound to exactly `routing_key` to `out`. Takes no lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) naming the routing key when it is over
    /// 255 bytes; `out` is unchanged.
    pub fn route(&self, routing_key: &str, out: &mut DestSet<D>) -> Result<(), Error> {
        self.keys.route(routing_key, out)
    }

    /// The number of (key, destination) bindings.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> Default for DirectTable<D> {
    fn default() -> Self {
        DirectTable::new()
    }
}
