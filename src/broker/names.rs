//! [`NameMap`]: the broker's lock-free directories (exchanges and queues by name and by id).
//!
//! The publish path looks up its exchange and the queues it routes to here, without a lock:
//! the map is the trie's [`LfMap`], read under an epoch guard; writers (declare, delete)
//! serialise on the map's own mutex.

use crate::sync::{pin, write, Guard};
use crate::topic::lfmap::{KeyHasher, LfMap};
use std::sync::Mutex;

/// A map from byte keys to `V`, lock-free to read.
pub(crate) struct NameMap<V> {
    map: LfMap<V>,
    hasher: KeyHasher,
    writer: Mutex<()>,
}

impl<V: Send + Sync + 'static> NameMap<V> {
    pub(crate) fn new() -> Self {
        NameMap {
            map: LfMap::new(),
            hasher: KeyHasher::new(),
            writer: Mutex::new(()),
        }
    }

    /// The value at `key`, valid while `guard` is pinned.
    #[inline]
    pub(crate) fn get<'g>(&self, key: &[u8], guard: &'g Guard) -> Option<&'g V> {
        if self.map.is_empty(guard) {
            return None;
        }
        self.map.get(self.hasher.hash(key), key, guard)
    }

    /// A clone of the value at `key`.
    pub(crate) fn get_cloned(&self, key: &[u8]) -> Option<V>
    where
        V: Clone,
    {
        self.get(key, &pin()).cloned()
    }

    /// Sets the value at `key`.
    pub(crate) fn insert(&self, key: &[u8], val: V) {
        let _w = write(&self.writer);
        let hasher = &self.hasher;
        self.map
            .insert(hasher.hash(key), key, val, |k| hasher.hash(k), &pin());
    }

    /// Removes the value at `key`; returns whether there was one.
    pub(crate) fn remove(&self, key: &[u8]) -> bool {
        let _w = write(&self.writer);
        let hasher = &self.hasher;
        self.map
            .remove(hasher.hash(key), key, |k| hasher.hash(k), &pin())
    }
}

/// The key of an id in an id-keyed [`NameMap`].
pub(crate) fn id_key(id: u64) -> [u8; 8] {
    id.to_le_bytes()
}
