//! `LfMap`: a byte-string map that readers search without locks while one writer changes it.
//!
//! This is the trie's publication module: the child tables of trie nodes and the exact-key
//! table are `LfMap`s. It is an open-addressing hash table with linear probing whose slots are
//! epoch-protected pointers to immutable entries (`Entry`: the value and, up to
//! [`KEY_INLINE`] bytes, the key, inline, so a hit compares the key and reads the value in one
//! allocation, without another pointer hop), with a tag byte per slot; a table's counts, tags
//! and slots are one allocation, published as one tagged pointer ([`Table`]); a map with one key
//! publishes that key's entry alone, without a table ([`View::Lone`]). The hash is the owner's
//! (a [`KeyHasher`], one per trie, so a key word hashed once serves every node's table) and is
//! not stored: a rebuild rehashes.
//!
//! # Protocol
//!
//! - Writers are serialised by the owner (every owner holds a writer mutex around each call of
//!   `insert` and `remove`); readers call `get` at any time under a pinned epoch guard.
//! - An entry is fully written before the `Release` store that puts it into a slot, so a reader
//!   that finds it (`Acquire`) sees its key and value.
//! - Each slot has a tag byte in the table's tag array: 0 while the slot is empty, else
//!   seven bits of the entry's hash with the high bit set, stored (`Release`) after the slot's
//!   pointer. A probe reads tags, which sit 64 to a cache line, and follows a pointer only on a
//!   tag match; a reader that sees a tag (`Acquire`) sees the pointer stored before it. A probe
//!   ends at a zero tag.
//! - Giving a key a new value stores a new entry into its slot (`Release`) and retires the old
//!   one (copy on write): a reader sees the old entry or the new one, whole.
//! - Removing a key clears its slot's pointer and retires the entry; the tag stays, so the slot
//!   is a tombstone (probe chains stay intact), never reused by this table. A reader that read
//!   the tag before the removal and the pointer after it finds null and goes on.
//! - When the table fills (live entries plus tombstones over 3/4 of the slots) or empties
//!   (more than 3/4 of the used slots are tombstones), the writer builds a new table holding the
//!   same live entries (shared, not copied), publishes it (`Release`), and retires the old
//!   table. A reader still in the old table finds the same live entries there.
//! - Every table keeps at least one empty slot, so a probe always ends.
//! - A map with one key publishes its entry itself, in place of a table (the entry's address
//!   with bit 0 set): a probe compares the key at once, without hash, tags or slots. Most maps
//!   of a large trie hold one key (95% of the child tables at 1M bindings), and this form saves
//!   their probes one dependent miss and their tables' memory. A second key builds a table
//!   holding both entries (shared, not copied); a removal that leaves one live key publishes
//!   that entry alone again. Replacing or removing the lone key publishes the new entry, or
//!   null, and retires the old one.
//!
//! # Ownership
//!
//! Entries belong to the map, not to a table: freeing a retired table frees only its block of
//! counts, tags and slots; an entry is retired when it is replaced or removed; the map's `Drop`
//! frees the entries of the current table, then the table.
//!
//! # Memory ordering
//!
//! Once `insert` returns, a `get` that happens after it finds the value; once `remove`
//! returns, a `get` that happens after it does not. A `get` concurrent with a change finds
//! either the old or the new state of that key, and always finds keys that no call changes.
#![allow(unsafe_code)]

use crate::sync::epoch::{Atomic, Owned, Shared};
use crate::sync::{
    load_ptr_for_writer, load_u8_for_writer, prefetch, retire, retire_with, shared_addr, shared_at,
    unprotected, AtomicPtr, AtomicU32, AtomicU8, Guard, WriterLoad,
};
use smallvec::SmallVec;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{self, Acquire, Relaxed, Release};

/// Key bytes an entry holds inline; longer keys (rare: a routing key or literal tail of six or
/// more typical words) go to a heap block of their own. A key in its own block was one more
/// dependent miss per hit over large tables: inline, routes from 1k to 1M bindings took 3-8%
/// less time (paired runs).
const KEY_INLINE: usize = 24;

/// One key of the map with its value. Immutable once in a slot.
struct Entry<V> {
    key: SmallVec<[u8; KEY_INLINE]>,
    val: V,
}

/// Tables are aligned to this, so the low bits of a table's address are free: bits 1 to 5 hold
/// log2 of its capacity (up to 2^31 slots, as many as a `u32` count can track) and bit 0 is
/// clear ([`LONE`]).
const TABLE_ALIGN: usize = 64;

/// Bit 0 of a map's word: set when the word is the address of the map's one entry rather than
/// a table (entries are aligned to at least 8, so the bit is free in their addresses too).
const LONE: usize = 1;

/// The head of a table's allocation; its tags, then its slots, follow it.
#[repr(C)]
struct Header {
    /// Non-null slots (live entries and tombstones). Writer only.
    used: AtomicU32,
    /// Entries holding a value. Writer only.
    live: AtomicU32,
    /// log2 of the capacity, for freeing the block from its address alone (a retired table is
    /// queued by its plain address: leak checkers such as valgrind's take a pointer into a
    /// block's middle, as the published word is, for a possible leak).
    log2: u32,
}

/// Where a table's tags start in its allocation.
const TAGS_AT: usize = size_of::<Header>().next_multiple_of(align_of::<AtomicU8>());

/// Where the slots of a table of `capacity` start in its allocation.
#[inline]
fn slots_at<V>(capacity: usize) -> usize {
    (TAGS_AT + capacity * size_of::<AtomicU8>()).next_multiple_of(align_of::<Atomic<Entry<V>>>())
}

/// The allocation of a table of `capacity` slots.
fn table_layout<V>(capacity: usize) -> Layout {
    // A checked upper bound first (the padding before the slots is under one slot's
    // alignment): below it, the exact size, and the offsets later computed from the capacity
    // of a table that exists, cannot overflow.
    let bound = capacity
        .checked_mul(size_of::<AtomicU8>() + size_of::<Atomic<Entry<V>>>())
        .and_then(|arrays| arrays.checked_add(TAGS_AT + align_of::<Atomic<Entry<V>>>()));
    bound
        .map(|_| slots_at::<V>(capacity) + capacity * size_of::<Atomic<Entry<V>>>())
        .and_then(|size| Layout::from_size_align(size, TABLE_ALIGN).ok())
        .expect("a table's size fits the address space")
}

/// A table: a [`Header`], then one tag per slot, then the slots (their number a power of two),
/// in one allocation. The map publishes it as one pointer, its address with log2 of the
/// capacity in the low bits, so a probe finds the tags and slots from that word alone: with the
/// counts and the two arrays in separate blocks, reading the block that located the arrays was
/// one more dependent miss per probe over large tries.
///
/// A copyable view, valid for `'g`; freeing the table does not free its entries: they belong
/// to the map.
struct Table<'g, V> {
    base: NonNull<u8>,
    log2: u32,
    _slots: PhantomData<&'g [Atomic<Entry<V>>]>,
}

impl<V> Clone for Table<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Table<'_, V> {}

impl<'g, V> Table<'g, V> {
    /// Allocates an empty table of `capacity` slots (a power of two, at least 4) and returns its
    /// published form: the address with log2(`capacity`) in bits 1 to 5.
    fn alloc(capacity: usize) -> *mut u8 {
        debug_assert!(capacity.is_power_of_two() && capacity >= 4);
        // log2(capacity) must fit the address's free low bits above `LONE`: up to 2^31 slots,
        // more than a `u32` count can track (the map would run out of memory for its entries
        // long before).
        let log2 = capacity.trailing_zeros();
        assert!(
            u32_to_usize(log2) << 1 < TABLE_ALIGN,
            "a table of {capacity} slots"
        );
        let layout = table_layout::<V>(capacity);
        // SAFETY: the layout is not zero-sized (it holds at least the header).
        let Some(base) = NonNull::new(unsafe { alloc(layout) }) else {
            handle_alloc_error(layout);
        };
        let table = Table::<V>::at(base, log2);
        // SAFETY: `base` is a fresh allocation of `layout`, which holds the header at 0 and
        // `capacity` tags and slots where `tags_ptr` and `slots_ptr` point, each offset a
        // multiple of its type's alignment; every part is written once, before any read.
        unsafe {
            base.cast::<Header>().write(Header {
                used: AtomicU32::new(0),
                live: AtomicU32::new(0),
                log2,
            });
            for i in 0..capacity {
                table.tags_ptr().add(i).write(AtomicU8::new(EMPTY));
                table.slots_ptr().add(i).write(Atomic::null());
            }
        }
        base.as_ptr().map_addr(|a| a | u32_to_usize(log2) << 1)
    }

    /// The view of the block at `base`, of 2^`log2` slots.
    #[inline]
    fn at(base: NonNull<u8>, log2: u32) -> Self {
        Table {
            base,
            log2,
            _slots: PhantomData,
        }
    }

    /// The table published as `word`, or `None` for null.
    ///
    /// # Safety
    ///
    /// `word` is null or came from [`alloc`](Self::alloc), and that table is not freed during
    /// `'g` (it is reachable by a guard pinned for `'g`, or owned by the caller).
    #[inline]
    unsafe fn from_word(word: *mut u8) -> Option<Self> {
        let base = NonNull::new(word.map_addr(|a| a & !(TABLE_ALIGN - 1)))?;
        let log2 = u32::try_from((word.addr() & (TABLE_ALIGN - 1)) >> 1).unwrap_or(0);
        Some(Table::at(base, log2))
    }

    /// The block's address, without the capacity bits.
    fn base(self) -> *mut () {
        self.base.as_ptr().cast()
    }

    /// Frees the table at `base` (its [`base`](Self::base); not its entries).
    ///
    /// # Safety
    ///
    /// `base` is the block of a table from [`alloc`](Self::alloc), no one can reach the table
    /// any more, and it is freed once.
    unsafe fn free(base: *mut ()) {
        let Some(base) = NonNull::new(base.cast::<u8>()) else {
            return;
        };
        // SAFETY: the caller's promise: `alloc` wrote the header at `base`.
        let table = Table::<V>::at(base, unsafe { base.cast::<Header>().as_ref() }.log2);
        let capacity = table.capacity();
        // SAFETY: the parts were written by `alloc` with these types and offsets and are dropped
        // once (a no-op for std's atomics); then the block goes with the layout it came from.
        unsafe {
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(table.tags_ptr(), capacity));
            ptr::drop_in_place(ptr::slice_from_raw_parts_mut(table.slots_ptr(), capacity));
            ptr::drop_in_place(base.cast::<Header>().as_ptr());
            dealloc(base.as_ptr(), table_layout::<V>(capacity));
        }
    }

    /// Where the tags start: `TAGS_AT` into the block.
    #[inline]
    fn tags_ptr(self) -> *mut AtomicU8 {
        // SAFETY: the block of a table of this capacity extends past `TAGS_AT` (`table_layout`).
        unsafe { self.base.as_ptr().add(TAGS_AT).cast() }
    }

    /// Where the slots start: `slots_at(capacity)` into the block.
    #[inline]
    fn slots_ptr(self) -> *mut Atomic<Entry<V>> {
        // SAFETY: as for `tags_ptr`, with the slots' offset.
        unsafe {
            self.base
                .as_ptr()
                .add(slots_at::<V>(self.capacity()))
                .cast()
        }
    }

    #[inline]
    fn capacity(self) -> usize {
        1 << self.log2
    }

    #[inline]
    fn mask(self) -> usize {
        self.capacity() - 1
    }

    #[inline]
    fn header(self) -> &'g Header {
        // SAFETY: `alloc` wrote the header at the start of the block, which lives for `'g`
        // (`from_word`'s contract).
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    /// One tag per slot (see the module docs).
    #[inline]
    fn tags(self) -> &'g [AtomicU8] {
        // SAFETY: `alloc` wrote `capacity` tags there; the block lives for `'g`.
        unsafe { std::slice::from_raw_parts(self.tags_ptr(), self.capacity()) }
    }

    #[inline]
    fn slots(self) -> &'g [Atomic<Entry<V>>] {
        // SAFETY: `alloc` wrote `capacity` slots there; the block lives for `'g`.
        unsafe { std::slice::from_raw_parts(self.slots_ptr(), self.capacity()) }
    }

    /// Puts `entry` into the first empty slot of `hash`'s probe and counts it. Writer only;
    /// `order` is `Release` for a table readers can reach (the pointer before the tag, see the
    /// module docs), `Relaxed` for one that is published later.
    fn place(self, hash: u64, entry: Shared<'_, Entry<V>>, order: Ordering) {
        let mask = self.mask();
        let (tags, slots) = (self.tags(), self.slots());
        let mut i = start_slot(hash, mask);
        while load_u8_for_writer(&tags[i]) != EMPTY {
            i = (i + 1) & mask;
        }
        slots[i].store(entry, order);
        tags[i].store(tag_of(hash), order);
        self.header().used.fetch_add(1, Relaxed);
        self.header().live.fetch_add(1, Relaxed);
    }

    /// The live entries, each with its key's hash under `rehash`. Writer only.
    fn live(
        self,
        rehash: &'g impl Fn(&[u8]) -> u64,
        guard: &'g Guard,
    ) -> impl Iterator<Item = (u64, Shared<'g, Entry<V>>)> {
        self.slots().iter().filter_map(move |slot| {
            let ptr = slot.load_for_writer(guard);
            // SAFETY: slots of the current table point to live allocations owned by the map;
            // only the (serialised) writer retires them.
            let entry = unsafe { ptr.as_ref() }?;
            Some((rehash(&entry.key), ptr))
        })
    }
}

/// A new table with room for `room` keys (at most half full) holding `entries` (each with its
/// key's hash), in its published form; not yet published. Writer only.
fn build_table<'g, V: 'g>(
    room: usize,
    entries: impl IntoIterator<Item = (u64, Shared<'g, Entry<V>>)>,
) -> *mut u8 {
    let word = Table::<V>::alloc((room * 2).max(4).next_power_of_two());
    // SAFETY: `word` was just allocated by `Table::alloc`; only this function holds it.
    let table = unsafe { Table::<V>::from_word(word) }.expect("a new table");
    for (hash, entry) in entries {
        // Relaxed: the caller publishes the table with `Release`.
        table.place(hash, entry, Relaxed);
    }
    word
}

/// The map: one pointer, null while the map is empty (see [`Table`] for its form). See the
/// module documentation for the protocol.
pub(crate) struct LfMap<V> {
    table: AtomicPtr<u8>,
    /// The map owns entries of `V` and hands them between threads, as crossbeam's `Atomic` does.
    _entries: PhantomData<Atomic<Entry<V>>>,
}

/// The tag of an empty slot.
const EMPTY: u8 = 0;

/// The tag of a slot holding an entry whose key hashes to `hash`: its top seven bits (the low
/// bits choose the slot) with the high bit set, so it is never `EMPTY`.
#[inline]
fn tag_of(hash: u64) -> u8 {
    u8::try_from(hash >> 57).unwrap_or(0) | 0x80
}

/// The slot where a probe for `hash` starts, in a table of `mask + 1` slots.
#[inline]
fn start_slot(hash: u64, mask: usize) -> usize {
    // Truncating the hash to the platform word is intended: only the low bits are used.
    #[allow(clippy::as_conversions)]
    let h = hash as usize;
    h & mask
}

/// The hash function of an [`LfMap`]'s keys: ahash, randomly keyed per owner (so a publisher
/// cannot choose keys that collide), over the bytes alone (no length prefix: the map compares
/// the bytes anyway).
pub(crate) struct KeyHasher(ahash::RandomState);

impl KeyHasher {
    /// A hasher with fresh random keys.
    pub(crate) fn new() -> Self {
        KeyHasher(ahash::RandomState::new())
    }

    /// The hash of `key`.
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.0.build_hasher();
        h.write(key);
        h.finish()
    }
}

/// A table count as a `usize` (lossless on the 32- and 64-bit targets warren supports).
fn u32_to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `a == b`, without a call to `memcmp` for the short words and keys routing compares: whole
/// words of eight bytes, then the tail as one overlapping load (four bytes as two, three or
/// fewer byte by byte). Two empty slices are equal without a load: an empty `Vec` or `Box`
/// points at a dangling address, where glibc's AVX-512 `memcmp`, which `==` on slices calls
/// even for zero bytes, costs over 100 ns on the machines measured here (the headers exchange
/// compares string values through this function for that reason).
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let u64_at = |s: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let u32_at = |s: &[u8], i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&s[i..i + 4]);
        u32::from_le_bytes(w)
    };
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if u64_at(a, i) != u64_at(b, i) {
                return false;
            }
            i += 8;
        }
        u64_at(a, n - 8) == u64_at(b, n - 8)
    } else if n >= 4 {
        u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4)
    } else {
        n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
    }
}

/// What a map's word publishes: a table, or the map's one entry alone.
enum View<'g, V> {
    /// A table (at least one live key, or tombstones on their way out).
    Table(Table<'g, V>),
    /// The map's one key, without a table: the word is the entry's address with [`LONE`] set.
    Lone(Shared<'g, Entry<V>>),
}

impl<'g, V> View<'g, V> {
    /// What `word` publishes, or `None` for null.
    ///
    /// # Safety
    ///
    /// `word` is null, a table from [`Table::alloc`], or [`lone_word`] of a live entry; and
    /// neither is freed during `'g` (reachable by a guard pinned for `'g`, or owned by the
    /// caller).
    #[inline]
    unsafe fn from_word(word: *mut u8) -> Option<Self> {
        if word.addr() & LONE != 0 {
            return Some(View::Lone(shared_at(word.map_addr(|a| a & !LONE))));
        }
        // SAFETY: the caller's promise, for a table's word.
        unsafe { Table::from_word(word) }.map(View::Table)
    }
}

/// The word that publishes `entry` as a map's one key.
fn lone_word<V>(entry: Shared<'_, Entry<V>>) -> *mut u8 {
    const { assert!(align_of::<Entry<V>>() > LONE) };
    shared_addr(entry).map_addr(|a| a | LONE)
}

impl<V> LfMap<V> {
    /// An empty map; allocates nothing.
    pub(crate) fn new() -> Self {
        LfMap {
            table: AtomicPtr::new(ptr::null_mut()),
            _entries: PhantomData,
        }
    }

    /// What the map publishes now, for a reader.
    #[inline]
    fn current<'g>(&self, _guard: &'g Guard) -> Option<View<'g, V>> {
        // SAFETY: the word is null, a table from `Table::alloc` or a lone entry, each freed
        // only through `retire_with` / `retire` once unlinked, after every guard pinned before
        // the unlink (`_guard` is one, and the `Acquire` load saw it linked) is gone.
        unsafe { View::from_word(self.table.load(Acquire)) }
    }

    /// What the map publishes now, for the serialised writer (see [`WriterLoad`]).
    #[inline]
    fn current_for_writer<'g>(&self, _guard: &'g Guard) -> Option<View<'g, V>> {
        // SAFETY: as in `current`; only writers unlink, and this one is the only writer.
        unsafe { View::from_word(load_ptr_for_writer(&self.table)) }
    }

    /// Publishes `word` (a table from `Table::alloc`, a [`lone_word`], or null) and retires the
    /// table it replaces. A lone entry it replaces is the caller's to retire or keep (in the
    /// new table). Writer only.
    fn publish(&self, word: *mut u8, guard: &Guard) {
        let old = self.table.swap(word, Release);
        // SAFETY: `old` is null, a lone entry or a table from `Table::alloc`, owned by this map
        // until now.
        if let Some(View::Table(old)) = unsafe { View::<V>::from_word(old) } {
            // SAFETY: (1) `old` was just unlinked, so no reader pinned after the swap can reach
            // it; (2) writers are serialised, so no one else retires it; (3) `Table::free`
            // frees only the block of counts, tags and slots, which any thread may free.
            unsafe { retire_with(old.base(), Table::<V>::free, guard) };
        }
    }

    /// Whether the map has no key with a value (its table is dropped when the last goes).
    #[inline]
    pub(crate) fn is_empty(&self, guard: &Guard) -> bool {
        self.current(guard).is_none()
    }

    /// Whether the map is empty, for the writer.
    pub(crate) fn is_empty_for_writer(&self) -> bool {
        load_ptr_for_writer(&self.table).is_null()
    }

    /// What the map publishes, for a reader that wants to start a probe's loads early
    /// ([`Reader::prefetch`]) and finish it later; `None` while the map is empty.
    #[inline]
    pub(crate) fn reader<'g>(&self, guard: &'g Guard) -> Option<Reader<'g, V>> {
        Some(Reader {
            view: self.current(guard)?,
            guard,
        })
    }

    /// The value for `key`, valid while `guard` is pinned. `hash` must be the owner's hash of
    /// `key` (the same function for every call on this map).
    #[inline]
    pub(crate) fn get<'g>(&self, hash: u64, key: &[u8], guard: &'g Guard) -> Option<&'g V> {
        self.reader(guard)?.get(hash, key)
    }

    /// As [`get`](Self::get), requesting the lines of the probe's first tag and slot together
    /// ([`Reader::prefetch`]) before reading either: for a writer, which stores into that slot
    /// when the key is new and reads it when not. Over a large table the two misses overlap
    /// (binding into 1M bindings: 0.80 of the time).
    #[inline]
    pub(crate) fn get_prefetched<'g>(
        &self,
        hash: u64,
        key: &[u8],
        guard: &'g Guard,
    ) -> Option<&'g V> {
        let table = self.reader(guard)?;
        table.prefetch(hash);
        table.get(hash, key)
    }

    /// Sets the value of `key` and returns it. A key already present gets a new entry (the old
    /// one is retired: readers holding its value keep it until they unpin).
    ///
    /// Writer only: the caller holds the owner's writer lock.
    pub(crate) fn insert<'g>(
        &self,
        hash: u64,
        key: &[u8],
        val: V,
        rehash: impl Fn(&[u8]) -> u64,
        guard: &'g Guard,
    ) -> &'g V {
        let new = Owned::new(Entry {
            key: SmallVec::from_slice(key),
            val,
        })
        .into_shared(guard);
        // SAFETY: `new` is a live allocation made above; only a later writer can unlink it, and
        // it would retire it through `retire`, which waits for `guard`.
        let val = unsafe { &new.deref().val };
        match self.current_for_writer(guard) {
            None => self.publish(lone_word(new), guard),
            Some(View::Lone(old)) => {
                // SAFETY: the published entry is live; only this (serialised) writer retires it.
                let old_key = &unsafe { old.deref() }.key;
                if bytes_eq(old_key, key) {
                    self.publish(lone_word(new), guard);
                    // SAFETY: as for a replaced slot below: `old` was just unlinked, writers are
                    // serialised, and entries are `Send` when their values are.
                    unsafe { retire(old, guard) };
                } else {
                    // A second key: a table holding both (the old entry moves, shared).
                    let both = [(rehash(old_key), old), (hash, new)];
                    self.publish(build_table(2, both), guard);
                }
            }
            Some(View::Table(table)) => self.insert_in(table, hash, key, new, &rehash, guard),
        }
        val
    }

    /// [`insert`](Self::insert) of the entry `new` when the map has a table.
    fn insert_in(
        &self,
        table: Table<'_, V>,
        hash: u64,
        key: &[u8],
        new: Shared<'_, Entry<V>>,
        rehash: &impl Fn(&[u8]) -> u64,
        guard: &Guard,
    ) {
        if let Some((i, _)) = find_in::<V, true>(table, hash, key, guard) {
            let old = table.slots()[i].swap(new, Release, guard);
            // SAFETY: (1) `old` came from `Owned` and was just unlinked from the current table;
            // the older tables that also held it were retired before, so no reader pinned after
            // this swap can reach it; (2) writers are serialised, so no one else unlinks it;
            // (3) entries are `Send` when their values are.
            unsafe { retire(old, guard) };
            return;
        }
        let header = table.header();
        let (used, live) = (header.used.load(Relaxed), header.live.load(Relaxed));
        if (u64::from(used) + 1) * 4 > u64::try_from(table.capacity()).unwrap_or(u64::MAX) * 3 {
            // Full: a bigger table with the live entries and the new one.
            let entries = table.live(rehash, guard).chain([(hash, new)]);
            self.publish(build_table(u32_to_usize(live) + 1, entries), guard);
        } else {
            table.place(hash, new, Release);
        }
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// Writer only: the caller holds the owner's writer lock.
    pub(crate) fn remove(
        &self,
        hash: u64,
        key: &[u8],
        rehash: impl Fn(&[u8]) -> u64,
        guard: &Guard,
    ) -> bool {
        match self.current_for_writer(guard) {
            None => false,
            Some(View::Lone(old)) => {
                // SAFETY: the published entry is live; only this (serialised) writer retires it.
                if !bytes_eq(&unsafe { old.deref() }.key, key) {
                    return false;
                }
                self.publish(ptr::null_mut(), guard);
                // SAFETY: as in `insert_in`'s replacement: `old` was just unlinked, and writers
                // are serialised.
                unsafe { retire(old, guard) };
                true
            }
            Some(View::Table(table)) => {
                let Some((i, _)) = find_in::<V, true>(table, hash, key, guard) else {
                    return false;
                };
                let old = table.slots()[i].swap(Shared::null(), Release, guard);
                // SAFETY: as in `insert_in`'s replacement: `old` is unlinked from every table a
                // new reader can reach, and writers are serialised.
                unsafe { retire(old, guard) };
                let live = table.header().live.fetch_sub(1, Relaxed) - 1;
                let used = table.header().used.load(Relaxed);
                if live <= 1 || (used > 8 && u64::from(live) * 4 < u64::from(used)) {
                    self.shrink(table, u32_to_usize(live), &rehash, guard);
                }
                true
            }
        }
    }

    /// After a removal left `live` keys in `old` (the current table): publishes what holds
    /// them (nothing for none, the entry alone for one, else a table sized for them) and
    /// retires `old`.
    fn shrink(
        &self,
        old: Table<'_, V>,
        live: usize,
        rehash: &impl Fn(&[u8]) -> u64,
        guard: &Guard,
    ) {
        let mut entries = old.live(rehash, guard);
        let word = match live {
            0 => ptr::null_mut(),
            1 => entries
                .next()
                .map_or(ptr::null_mut(), |(_, entry)| lone_word(entry)),
            _ => build_table(live, entries),
        };
        self.publish(word, guard);
    }
}

/// The slot and entry of `key` in `table`. `WRITER` selects the writer's loads (see
/// [`WriterLoad`]); readers pass `false`.
#[inline]
fn find_in<'g, V, const WRITER: bool>(
    table: Table<'g, V>,
    hash: u64,
    key: &[u8],
    guard: &'g Guard,
) -> Option<(usize, &'g Entry<V>)> {
    let mask = table.mask();
    let (tags, slots) = (table.tags(), table.slots());
    let tag = tag_of(hash);
    let mut i = start_slot(hash, mask);
    loop {
        let t = if WRITER {
            load_u8_for_writer(&tags[i])
        } else {
            tags[i].load(Acquire)
        };
        if t == EMPTY {
            return None;
        }
        if t == tag {
            let slot = &slots[i];
            let ptr = if WRITER {
                slot.load_for_writer(guard)
            } else {
                slot.load(Acquire, guard)
            };
            // SAFETY: a non-null slot pointer points to an entry that is freed only through
            // `retire` once it is unlinked from every table readers can still reach (replaced,
            // removed), or by the map's `Drop`, which needs `&mut self`; `guard` was pinned
            // before that retirement could complete, so the entry outlives `'g`. A tombstone's
            // pointer is null.
            if let Some(entry) = unsafe { ptr.as_ref() } {
                if bytes_eq(&entry.key, key) {
                    return Some((i, entry));
                }
            }
        }
        // Ends: every table keeps an empty slot (module docs).
        i = (i + 1) & mask;
    }
}

/// A reader's hold on an [`LfMap`]'s table, valid while its guard is pinned: a probe that
/// requests its first lines early and reads them later, so the misses of several independent
/// probes overlap instead of following one another.
pub(crate) struct Reader<'g, V> {
    view: View<'g, V>,
    guard: &'g Guard,
}

impl<'g, V> Reader<'g, V> {
    /// The hash a probe for a key needs: `hash()` for a table; a lone entry is compared
    /// without one, so `hash` is not called (and 0 stands in).
    #[inline]
    pub(crate) fn hash_for(&self, hash: impl FnOnce() -> u64) -> u64 {
        match self.view {
            View::Table(_) => hash(),
            View::Lone(_) => 0,
        }
    }

    /// Starts loading the lines a [`get`](Self::get) of `hash` reads first: its tag and slot,
    /// or the lone entry.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        match self.view {
            View::Table(table) => {
                let i = start_slot(hash, table.mask());
                prefetch(&table.tags()[i]);
                prefetch(&table.slots()[i]);
            }
            View::Lone(entry) => prefetch(shared_addr(entry)),
        }
    }

    /// As [`LfMap::get`], in what this reader holds.
    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&'g V> {
        match self.view {
            View::Table(table) => {
                find_in::<V, false>(table, hash, key, self.guard).map(|(_, e)| &e.val)
            }
            View::Lone(entry) => {
                // SAFETY: the map published this entry when the reader loaded its word under
                // `self.guard`; it is freed only through `retire` once unlinked, after that
                // guard is gone.
                let entry = unsafe { entry.deref() };
                bytes_eq(&entry.key, key).then_some(&entry.val)
            }
        }
    }
}

impl<V> Drop for LfMap<V> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no reader or writer can reach this map any more (a map that
        // readers could reach is retired and dropped only after them), so the entries of the
        // current table, and the table, can be freed at once. Entries of retired tables are
        // either in the current table or were retired already.
        unsafe {
            let guard = unprotected();
            match View::<V>::from_word(load_ptr_for_writer(&self.table)) {
                None => {}
                Some(View::Lone(entry)) => drop(entry.into_owned()),
                Some(View::Table(table)) => {
                    for slot in table.slots() {
                        let ptr = slot.load_for_writer(guard);
                        if !ptr.is_null() {
                            drop(ptr.into_owned());
                        }
                    }
                    Table::<V>::free(table.base());
                }
            }
        }
    }
}

/// loom models of the protocol: `RUSTFLAGS="--cfg loom" cargo test --lib loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::LfMap;
    use crate::sync::pin;
    use loom::sync::Arc;
    use loom::thread;

    /// Every key hashes alike, so all probes walk one chain: the worst case for a reader racing
    /// a writer that inserts into, removes from and rebuilds the table.
    const H: u64 = 7;

    /// The hash of every key (a rebuild rehashes with it).
    fn same(_: &[u8]) -> u64 {
        H
    }

    /// A stable key is found during inserts, a removal and the rebuild they trigger; a changing
    /// key is found either before or after its change, and the writer's result is final.
    #[test]
    fn stable_key_survives_rebuild() {
        loom::model(|| {
            let map = Arc::new(LfMap::<u32>::new());
            {
                let g = pin();
                map.insert(H, b"stable", 1, same, &g);
                map.insert(H, b"gone", 2, same, &g);
                map.insert(H, b"x", 3, same, &g);
            }
            let writer = {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    let g = pin();
                    // The fourth key fills a 4-slot table to 3/4: it rebuilds.
                    map.insert(H, b"new", 4, same, &g);
                    map.remove(H, b"gone", same, &g);
                })
            };
            {
                let g = pin();
                assert_eq!(map.get(H, b"stable", &g), Some(&1));
                let new = map.get(H, b"new", &g);
                assert!(new.is_none() || new == Some(&4));
                let gone = map.get(H, b"gone", &g);
                assert!(gone.is_none() || gone == Some(&2));
                assert_eq!(map.get(H, b"stable", &g), Some(&1));
            }
            writer.join().unwrap();
            let g = pin();
            assert_eq!(map.get(H, b"new", &g), Some(&4));
            assert_eq!(map.get(H, b"gone", &g), None);
            assert_eq!(map.get(H, b"stable", &g), Some(&1));
        });
    }

    /// A map's one key stays found while a second key comes and goes (the map moves from a lone
    /// entry to a table and back to a lone entry); the second is found or not, never torn.
    #[test]
    fn lone_key_survives_a_table_and_back() {
        loom::model(|| {
            let map = Arc::new(LfMap::<u32>::new());
            map.insert(H, b"stable", 1, same, &pin());
            let writer = {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    let g = pin();
                    map.insert(H, b"other", 2, same, &g);
                    map.remove(H, b"other", same, &g);
                })
            };
            {
                let g = pin();
                assert_eq!(map.get(H, b"stable", &g), Some(&1));
                let other = map.get(H, b"other", &g);
                assert!(other.is_none() || other == Some(&2));
                assert_eq!(map.get(H, b"stable", &g), Some(&1));
            }
            writer.join().unwrap();
            let g = pin();
            assert_eq!(map.get(H, b"other", &g), None);
            assert_eq!(map.get(H, b"stable", &g), Some(&1));
        });
    }

    /// A value replaced in place is seen whole: old or new, with its contents.
    #[test]
    fn replaced_value_is_seen_whole() {
        loom::model(|| {
            let map = Arc::new(LfMap::<(u32, u32)>::new());
            map.insert(H, b"k", (1, 1), same, &pin());
            let writer = {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    map.insert(H, b"k", (2, 2), same, &pin());
                })
            };
            let g = pin();
            let &(a, b) = map.get(H, b"k", &g).unwrap();
            assert_eq!(a, b);
            writer.join().unwrap();
            assert_eq!(map.get(H, b"k", &pin()), Some(&(2, 2)));
        });
    }

    /// Once the writer's removal is known to have happened (joined), no reader finds the key,
    /// and a reader racing it finds it or not, never a torn entry.
    #[test]
    fn removal_is_final() {
        loom::model(|| {
            let map = Arc::new(LfMap::<u32>::new());
            {
                let g = pin();
                map.insert(H, b"a", 1, same, &g);
                map.insert(H, b"b", 2, same, &g);
            }
            let writer = {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    let g = pin();
                    map.remove(H, b"a", same, &g);
                    map.remove(H, b"b", same, &g);
                })
            };
            {
                let g = pin();
                let b = map.get(H, b"b", &g);
                assert!(b.is_none() || b == Some(&2));
            }
            writer.join().unwrap();
            let g = pin();
            assert!(map.is_empty(&g));
            assert_eq!(map.get(H, b"a", &g), None);
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{KeyHasher, LfMap, View};
    use crate::sync::pin;

    /// Growth, tombstones, shrinking and emptying keep every count exact: after removing every
    /// key the table is gone (an over-count once kept maps, and the nodes holding them, alive).
    #[test]
    fn counts_stay_exact_through_growth_shrink_and_reuse() {
        let hasher = KeyHasher::new();
        let h = |k: &[u8]| hasher.hash(k);
        let map = LfMap::<usize>::new();
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        for round in 0..3 {
            let g = pin();
            for (i, k) in keys.iter().enumerate() {
                map.insert(h(k.as_bytes()), k.as_bytes(), i + round, h, &g);
            }
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(
                    map.get(h(k.as_bytes()), k.as_bytes(), &g),
                    Some(&(i + round))
                );
            }
            // Remove the odd keys (tombstones, then a shrinking rebuild), then the rest.
            for k in keys.iter().skip(1).step_by(2) {
                assert!(map.remove(h(k.as_bytes()), k.as_bytes(), h, &g));
                assert!(!map.remove(h(k.as_bytes()), k.as_bytes(), h, &g));
            }
            for (i, k) in keys.iter().enumerate() {
                let want = (i % 2 == 0).then_some(i + round);
                assert_eq!(map.get(h(k.as_bytes()), k.as_bytes(), &g).copied(), want);
            }
            assert!(!map.is_empty(&g));
            for k in keys.iter().step_by(2) {
                assert!(map.remove(h(k.as_bytes()), k.as_bytes(), h, &g));
            }
            assert!(
                map.is_empty(&g),
                "round {round}: a map with no keys drops its table"
            );
        }
    }

    /// A map with one key publishes its entry alone; a second key builds a table; a removal
    /// that leaves one key publishes it alone again. Each form finds, replaces and removes.
    #[test]
    fn one_key_is_published_alone_and_a_second_builds_a_table() {
        let hasher = KeyHasher::new();
        let h = |k: &[u8]| hasher.hash(k);
        let map = LfMap::<u32>::new();
        let g = pin();
        let lone = |map: &LfMap<u32>| {
            map.current_for_writer(&g)
                .map(|view| matches!(view, View::Lone(_)))
        };
        let get = |map: &LfMap<u32>, k: &[u8]| map.get(h(k), k, &g).copied();
        assert_eq!(lone(&map), None);
        map.insert(h(b"a"), b"a", 1, h, &g);
        assert_eq!(lone(&map), Some(true));
        assert_eq!((get(&map, b"a"), get(&map, b"b")), (Some(1), None));
        map.insert(h(b"a"), b"a", 2, h, &g);
        assert_eq!(lone(&map), Some(true), "a replaced lone key stays alone");
        assert_eq!(get(&map, b"a"), Some(2));
        map.insert(h(b"b"), b"b", 3, h, &g);
        assert_eq!(lone(&map), Some(false));
        assert_eq!((get(&map, b"a"), get(&map, b"b")), (Some(2), Some(3)));
        assert!(map.remove(h(b"a"), b"a", h, &g));
        assert_eq!(lone(&map), Some(true));
        assert_eq!((get(&map, b"a"), get(&map, b"b")), (None, Some(3)));
        assert!(
            !map.remove(h(b"a"), b"a", h, &g),
            "a lone map removes only its key"
        );
        assert!(map.remove(h(b"b"), b"b", h, &g));
        assert_eq!(lone(&map), None);
        assert!(map.is_empty(&g));
    }

    /// A table's capacity rides in the low bits of its pointer: through every size up to 2^18
    /// slots (growing, then shrinking as keys go), every key is found with its value and no
    /// removed key is found.
    #[test]
    fn every_capacity_up_to_2_pow_18_finds_its_keys() {
        let hasher = KeyHasher::new();
        let h = |k: &[u8]| hasher.hash(k);
        let map = LfMap::<u32>::new();
        let keys: Vec<String> = (0..100_000).map(|i| format!("key.{i}")).collect();
        let g = pin();
        for (v, k) in (0u32..).zip(&keys) {
            map.insert(h(k.as_bytes()), k.as_bytes(), v, h, &g);
        }
        for (v, k) in (0u32..).zip(&keys) {
            assert_eq!(map.get(h(k.as_bytes()), k.as_bytes(), &g), Some(&v), "{k}");
        }
        for k in keys.iter().skip(1000) {
            assert!(map.remove(h(k.as_bytes()), k.as_bytes(), h, &g));
        }
        for (v, k) in (0u32..).zip(&keys) {
            let want = (v < 1000).then_some(v);
            assert_eq!(
                map.get(h(k.as_bytes()), k.as_bytes(), &g).copied(),
                want,
                "{k}"
            );
        }
    }
}

#[cfg(all(test, not(loom)))]
mod bytes_eq_tests {
    use super::bytes_eq;

    /// The overlapping-load compare agrees with `==` for every length up to 40 and a difference
    /// at every position.
    #[test]
    fn agrees_with_slice_eq() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect();
            assert!(bytes_eq(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!bytes_eq(&a, &b), "n {n} at {at}");
            }
            assert!(!bytes_eq(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }
}
