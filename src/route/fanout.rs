//! [`FanoutTable`]: the fanout exchange (SEMANTICS E1), every bound destination, keys ignored.
//!
//! # Invariants
//!
//! * Bindings are a set of (binding key, destination) pairs (SEMANTICS E5): the key does not
//!   affect routing but is part of a binding's identity, so a destination bound under keys `a`
//!   and `b` stays routed until both are unbound, as in RabbitMQ.
//! * The published snapshot is the list of distinct destinations with at least one binding, in
//!   the order they were first bound. A route copies it into the caller's [`DestSet`].
//!
//! # Algorithm and limits
//!
//! Copy-on-write: writers serialise on a mutex, keep the bookkeeping (keys per destination)
//! beside it, and publish a fresh destination list through [`Published`] whenever the set of
//! destinations changes; readers load the list under an epoch guard without a lock. A bind or
//! unbind that adds or removes a destination therefore costs O(destinations); one that only adds
//! or removes a further key of a bound destination costs O(keys of that destination) and
//! publishes nothing.

use crate::error::{Error, Input};
use crate::sync::{pin, write, Published, Writing};
use crate::topic::{check_len, DestSet};
use std::hash::Hash;
use std::sync::Mutex;

/// A fanout exchange's bindings: a message goes to every bound destination, whatever its key.
///
/// ```
/// use warren::route::FanoutTable;
/// use warren::topic::DestSet;
///
/// let table = FanoutTable::new();
/// table.bind("", 1u32)?;
/// table.bind("ignored", 1)?; // a second binding of the same destination
/// table.bind("", 2)?;
/// let mut out = DestSet::new();
/// table.route(&mut out);
/// assert_eq!(out.as_slice(), [1, 2]);
/// table.unbind("", 1)?;
/// out.clear();
/// table.route(&mut out);
/// assert_eq!(out.as_slice(), [1, 2]); // still bound under "ignored"
/// # Ok::<(), warren::Error>(())
/// ```
///
/// # Memory ordering
///
/// Each change of the destination set is published with one `Release` pointer swap and each
/// route loads it with `Acquire`: once `bind` or `unbind` has returned, every `route` that starts
/// after it (in happens-before order) sees the change; a concurrent `route` sees the whole list
/// before or after it, so a destination nobody unbinds is never missed.
pub struct FanoutTable<D> {
    /// The distinct bound destinations; `None` (null) when there are none.
    snapshot: Published<Box<[D]>>,
    writer: Mutex<Writer<D>>,
}

/// The writers' bookkeeping, behind the writer mutex.
struct Writer<D> {
    /// The distinct bound destinations in first-bound order: what `snapshot` publishes.
    dests: Vec<D>,
    /// The binding keys of each bound destination; never an empty list.
    keys: ahash::HashMap<D, Vec<Box<str>>>,
    /// The number of (key, destination) bindings.
    bindings: usize,
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> FanoutTable<D> {
    /// An empty table.
    pub fn new() -> Self {
        FanoutTable {
            snapshot: Published::null(),
            writer: Mutex::new(Writer {
                dests: Vec::new(),
                keys: ahash::HashMap::default(),
                bindings: 0,
            }),
        }
    }

    /// Binds `dest` under `key`; returns whether the (key, destination) binding is new (binding
    /// twice is a no-op, SEMANTICS E5).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) naming the binding key when `key` is
    /// over 255 bytes (SEMANTICS N1); nothing changes.
    pub fn bind(&self, key: &str, dest: D) -> Result<bool, Error> {
        check_len(key, Input::BindingKey)?;
        let mut writer = self.lock();
        let w = &mut *writer;
        let keys = w.keys.entry(dest).or_default();
        if keys.iter().any(|k| **k == *key) {
            return Ok(false);
        }
        let first = keys.is_empty();
        keys.push(key.into());
        w.bindings += 1;
        if first {
            w.dests.push(dest);
            self.publish(&w.dests);
        }
        Ok(true)
    }

    /// Removes the binding of `dest` under `key`; returns whether it existed (unbinding a
    /// missing binding is a no-op, SEMANTICS E11). The destination stops receiving messages when
    /// its last key is unbound.
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn unbind(&self, key: &str, dest: D) -> Result<bool, Error> {
        check_len(key, Input::BindingKey)?;
        let mut writer = self.lock();
        let w = &mut *writer;
        let Some(keys) = w.keys.get_mut(&dest) else {
            return Ok(false);
        };
        let Some(i) = keys.iter().position(|k| **k == *key) else {
            return Ok(false);
        };
        if keys.len() > 1 {
            keys.swap_remove(i);
            w.bindings -= 1;
            return Ok(true);
        }
        // The destination's last key: find it in the list (D's `Eq` is user code, so it runs
        // before anything changes), then drop it from both.
        let at = w.dests.iter().position(|d| *d == dest);
        w.keys.remove(&dest);
        if let Some(at) = at {
            w.dests.remove(at);
        }
        w.bindings -= 1;
        self.publish(&w.dests);
        Ok(true)
    }

    /// Adds every bound destination to `out`. Takes no lock and cannot fail: a fanout exchange
    /// ignores the routing key (the caller checks its length, as [`ExchangeTable`] does).
    ///
    /// [`ExchangeTable`]: super::ExchangeTable
    pub fn route(&self, out: &mut DestSet<D>) {
        let guard = pin();
        if let Some(dests) = self.snapshot.load(&guard) {
            // The snapshot holds each destination once.
            out.extend_from_distinct(dests);
        }
    }

    /// The number of (key, destination) bindings.
    pub fn len(&self) -> usize {
        self.lock().bindings
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Publishes `dests` as the new snapshot. Called with the writer mutex held.
    fn publish(&self, dests: &[D]) {
        self.snapshot
            .replace((!dests.is_empty()).then(|| Box::from(dests)), &pin());
    }

    /// The writer state. Every change calls `D`'s `Hash` and `Eq` (the only user code here)
    /// before it mutates anything (a `HashMap` lookup or removal that panics in them leaves the
    /// map as it was), and nothing else can panic with the lock held (allocation failure aborts),
    /// so a poisoned lock still guards consistent state and is taken over.
    fn lock(&self) -> Writing<'_, Writer<D>> {
        write(&self.writer)
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> Default for FanoutTable<D> {
    fn default() -> Self {
        FanoutTable::new()
    }
}
