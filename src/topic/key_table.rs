//! [`KeyTable`]: exact routing key to destinations, lock-free to read.

use super::lfmap::{KeyHasher, LfMap, Reader};
use super::{check_len, DestSet};
use crate::error::{Error, Input};
use crate::sync::{pin, write, Guard, Published};
use crossbeam_utils::CachePadded;
use smallvec::SmallVec;
use std::hash::Hash;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;

/// The destinations bound at one key or trie node: immutable, replaced whole (copy on write).
pub(super) type DestList<D> = SmallVec<[D; 2]>;

/// `cur` plus `dest`, or `None` if `dest` is already in it.
fn with_dest<D: Copy + Eq>(cur: Option<&DestList<D>>, dest: D) -> Option<DestList<D>> {
    let cur = cur.map_or(&[][..], |c| c.as_slice());
    if cur.contains(&dest) {
        return None;
    }
    let mut list = DestList::with_capacity(cur.len() + 1);
    list.extend_from_slice(cur);
    list.push(dest);
    Some(list)
}

/// `cur` without `dest` (possibly empty), or `None` if `dest` is not in it.
fn without_dest<D: Copy + Eq>(cur: Option<&DestList<D>>, dest: D) -> Option<DestList<D>> {
    let cur = cur?;
    if !cur.contains(&dest) {
        return None;
    }
    Some(cur.iter().copied().filter(|&d| d != dest).collect())
}

/// Adds `dest` to the list `slot` publishes; returns whether it was absent. Writer only.
pub(super) fn add_dest<D: Copy + Eq>(
    slot: &Published<DestList<D>>,
    dest: D,
    guard: &Guard,
) -> bool {
    let Some(list) = with_dest(slot.load(guard), dest) else {
        return false;
    };
    slot.publish(list, guard);
    true
}

/// Removes `dest` from the list `slot` publishes (publishing nothing once it is empty); returns
/// whether it was present. Writer only.
pub(super) fn remove_dest<D: Copy + Eq>(
    slot: &Published<DestList<D>>,
    dest: D,
    guard: &Guard,
) -> bool {
    let Some(list) = without_dest(slot.load(guard), dest) else {
        return false;
    };
    slot.replace((!list.is_empty()).then_some(list), guard);
    true
}

/// Keys to destination lists: the exact-key table, and each trie node's suffix table. A key's
/// entry goes when its last destination does.
pub(super) struct DestMap<D> {
    map: LfMap<DestList<D>>,
}

impl<D> DestMap<D> {
    pub(super) fn new() -> Self {
        DestMap { map: LfMap::new() }
    }

    /// The current table, for a probe that starts its loads early ([`LfMap::reader`]).
    #[inline]
    pub(super) fn reader<'g>(&self, guard: &'g Guard) -> Option<Reader<'g, DestList<D>>> {
        self.map.reader(guard)
    }

    /// Whether no key has a destination.
    #[inline]
    pub(super) fn is_empty(&self, guard: &Guard) -> bool {
        self.map.is_empty(guard)
    }

    /// Whether no key has a destination, for the writer.
    pub(super) fn is_empty_for_writer(&self) -> bool {
        self.map.is_empty_for_writer()
    }
}

impl<D: Copy + Eq> DestMap<D> {
    /// Adds `dest` to `key`; returns whether it was absent. Writer only.
    pub(super) fn add(&self, hasher: &KeyHasher, key: &[u8], dest: D, guard: &Guard) -> bool {
        let hash = hasher.hash(key);
        // A new key is stored into the slot where the probe ends: request its line now.
        let Some(list) = with_dest(self.map.get_prefetched(hash, key, guard), dest) else {
            return false;
        };
        self.map.insert(hash, key, list, |k| hasher.hash(k), guard);
        true
    }

    /// Removes `dest` from `key`; returns whether it was there. Writer only.
    pub(super) fn remove(&self, hasher: &KeyHasher, key: &[u8], dest: D, guard: &Guard) -> bool {
        let hash = hasher.hash(key);
        let Some(list) = without_dest(self.map.get(hash, key, guard), dest) else {
            return false;
        };
        if list.is_empty() {
            self.map.remove(hash, key, |k| hasher.hash(k), guard);
        } else {
            self.map.insert(hash, key, list, |k| hasher.hash(k), guard);
        }
        true
    }
}

/// An exact-key table: the direct exchange's bindings (a [`TopicTrie`] keeps its literal
/// patterns the same way, as the suffixes of its root).
///
/// A routing call hashes the key once and probes one open-addressing table; it takes no lock.
/// Writers serialise on an internal mutex.
///
/// # Memory ordering
///
/// Once [`bind`](Self::bind) returns, a [`route`](Self::route) that happens after it finds the
/// binding; once [`unbind`](Self::unbind) returns, a `route` that happens after it does not.
/// A `route` concurrent with a change sees the key's bindings before or after that change, and
/// always sees bindings no call changes.
///
/// [`TopicTrie`]: super::TopicTrie
pub struct KeyTable<D> {
    map: DestMap<D>,
    hasher: KeyHasher,
    /// (key, destination) pairs. With the writers' mutex on their own cache lines: writers
    /// change both on every call, routes read `map` on every call.
    len: CachePadded<AtomicUsize>,
    writer: CachePadded<Mutex<()>>,
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> KeyTable<D> {
    /// An empty table.
    pub fn new() -> Self {
        KeyTable {
            map: DestMap::new(),
            hasher: KeyHasher::new(),
            len: CachePadded::new(AtomicUsize::new(0)),
            writer: CachePadded::new(Mutex::new(())),
        }
    }

    /// Binds `key` to `dest`; returns whether the binding is new.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) if `key` is over 255 bytes; nothing
    /// changes.
    pub fn bind(&self, key: &str, dest: D) -> Result<bool, Error> {
        check_len(key, Input::BindingKey)?;
        let _w = write(&self.writer);
        let added = self.map.add(&self.hasher, key.as_bytes(), dest, &pin());
        if added {
            self.len.fetch_add(1, Relaxed);
        }
        Ok(added)
    }

    /// Removes the binding of `key` to `dest`; returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) if `key` is over 255 bytes.
    pub fn unbind(&self, key: &str, dest: D) -> Result<bool, Error> {
        check_len(key, Input::BindingKey)?;
        let _w = write(&self.writer);
        let removed = self.map.remove(&self.hasher, key.as_bytes(), dest, &pin());
        if removed {
            self.len.fetch_sub(1, Relaxed);
        }
        Ok(removed)
    }

    /// Adds the destinations bound to exactly `key` to `out`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) if `key` is over 255 bytes.
    pub fn route(&self, key: &str, out: &mut DestSet<D>) -> Result<(), Error> {
        check_len(key, Input::RoutingKey)?;
        self.route_pinned(key, out, &pin());
        Ok(())
    }

    /// [`route`](Self::route) with a checked key, under the caller's guard.
    #[inline]
    fn route_pinned(&self, key: &str, out: &mut DestSet<D>, guard: &Guard) {
        let Some(table) = self.map.reader(guard) else {
            return;
        };
        // A table with one key is compared without a hash (see `LfMap`).
        let hash = table.hash_for(|| self.hasher.hash(key.as_bytes()));
        if let Some(dests) = table.get(hash, key.as_bytes()) {
            out.extend_from_distinct(dests);
        }
    }

    /// The number of (key, destination) bindings.
    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> Default for KeyTable<D> {
    fn default() -> Self {
        KeyTable::new()
    }
}
