//! The concurrency primitives every lock-free structure imports (STYLE 6).
//!
//! Readers pin an epoch ([`pin`]) and read through [`Published`] pointers; a writer, serialised
//! with the other writers of its structure, replaces what a pointer publishes and hands the old
//! value to the epoch collector, which frees it once no pinned reader can still hold it. Readers
//! therefore never take a lock and never wait for a writer.
//!
//! Reclamation is crossbeam-epoch's (Fraser's epoch-based reclamation, as in crossbeam). Under
//! `cfg(loom)` the [`epoch`] module is a stand-in over loom's atomics with the same interface,
//! so loom checks the publication protocols built on it; atomics that take part in a protocol
//! ([`AtomicU32`]) come from here for the same reason.
//!
//! # Memory ordering
//!
//! A store into a [`Published`] is `Release` and a load is `Acquire`: a reader that sees a new
//! value sees everything the writer wrote into it before publishing. Because a store is a single
//! pointer swap, a reader sees either the old value or the new one, never a mix.
#![allow(unsafe_code)]

#[cfg(not(loom))]
pub(crate) use crossbeam_epoch as epoch;
pub(crate) mod barrier;
#[cfg(not(loom))]
mod limbo;
#[cfg(loom)]
pub(crate) mod loom_epoch;
#[cfg(loom)]
pub(crate) use loom_epoch as epoch;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU8};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU8};

/// Blocking primitives for protocols that loom checks (confirm tracking, a mailbox's
/// wake-ups): loom's under `cfg(loom)`, std's otherwise.
pub(crate) mod blocking {
    #[cfg(loom)]
    pub(crate) use loom::sync::{
        atomic::{fence, AtomicBool, AtomicU64},
        Condvar, Mutex, MutexGuard,
    };
    #[cfg(not(loom))]
    pub(crate) use std::sync::{
        atomic::{fence, AtomicBool, AtomicU64},
        Condvar, Mutex, MutexGuard,
    };
}

pub(crate) use epoch::{pin, unprotected, Guard};
use epoch::{Atomic, Owned, Shared};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Retires `ptr`, which the serialised writer has just unlinked: it is freed once no pinned
/// reader can still hold it.
///
/// Freeing is the writers' work: the epoch collector, which may run inside any thread's `pin`
/// (a router's too), only moves the retired value to a queue that writers empty after each
/// change ([`reclaim`]), so a router never frees what a writer allocated (see `limbo`).
///
/// # Safety
///
/// 1. `ptr` came from `Owned` and no new reader can reach it (it is unlinked).
/// 2. It is retired once.
/// 3. `T` may be dropped on another thread (every retired type here is `Send`).
pub(crate) unsafe fn retire<T>(ptr: Shared<'_, T>, guard: &Guard) {
    #[cfg(not(loom))]
    // SAFETY: the caller's 1-3, which are `limbo::retire`'s.
    unsafe {
        limbo::retire(ptr, guard)
    };
    #[cfg(loom)]
    // SAFETY: the caller's 1 and 2 are `defer_destroy`'s.
    unsafe {
        guard.defer_destroy(ptr)
    };
}

/// Retires a block that is not an `Owned` value (a table of several parts in one allocation):
/// `free(ptr)` runs once no pinned reader can still hold it, as for [`retire`].
///
/// # Safety
///
/// As [`retire`], with `free` the function that frees `ptr`, callable on any thread.
pub(crate) unsafe fn retire_with(ptr: *mut (), free: unsafe fn(*mut ()), guard: &Guard) {
    #[cfg(not(loom))]
    // SAFETY: the caller's conditions, which are `limbo::retire_with`'s.
    unsafe {
        limbo::retire_with(ptr, free, guard)
    };
    // Under loom nothing retired is freed (see `loom_epoch`).
    #[cfg(loom)]
    let _ = (ptr, free, guard);
}

/// The address `p` holds, as a byte pointer: a structure that publishes it in a word of its own
/// can tag its low bits (free up to `T`'s alignment).
#[inline]
pub(crate) fn shared_addr<T>(p: Shared<'_, T>) -> *mut u8 {
    #[cfg(not(loom))]
    return p.as_raw().cast_mut().cast();
    #[cfg(loom)]
    return p.addr();
}

/// The pointer whose address [`shared_addr`] gave (with any tag bits cleared): dereferencing it
/// is sound where dereferencing the original was.
#[inline]
pub(crate) fn shared_at<'g, T>(addr: *mut u8) -> Shared<'g, T> {
    #[cfg(not(loom))]
    return Shared::from(addr.cast::<T>().cast_const());
    #[cfg(loom)]
    return Shared::from_addr(addr);
}

/// Frees what the collector has found safe to free; writers call it after each change, once
/// their lock is released. Bounded by what was queued when it started.
pub(crate) fn reclaim() {
    #[cfg(not(loom))]
    limbo::reclaim();
}

/// A writer's hold on its structure's mutex: on drop it unlocks, then frees what the collector
/// has cleared ([`reclaim`]), so writers, not routers, pay for freeing.
pub(crate) struct Writing<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
}

/// Locks a writers' mutex. Every structure publishes each change with one pointer store and
/// runs no user code that can panic halfway through one, so a poisoned lock guards consistent
/// state and is taken over.
pub(crate) fn write<T>(mutex: &Mutex<T>) -> Writing<'_, T> {
    Writing {
        guard: Some(mutex.lock().unwrap_or_else(PoisonError::into_inner)),
    }
}

impl<T> Deref for Writing<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("held until drop")
    }
}

impl<T> DerefMut for Writing<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("held until drop")
    }
}

impl<T> Drop for Writing<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        reclaim();
    }
}

/// A load by the serialised writer of a pointer that only writers store.
///
/// `Relaxed` is enough: the writers' mutex orders their stores and loads. Under loom it is an
/// unsynchronised load, which loom checks against concurrent stores but which, unlike an atomic
/// load, does not hide a reader's earlier load from loom's exploration (loom keeps one "last
/// access" per atomic, so a writer's own load just before its store would make loom skip the
/// interleavings where a reader's load comes after the store).
pub(crate) trait WriterLoad<T> {
    /// Loads the pointer for the writer.
    fn load_for_writer<'g>(&self, guard: &'g Guard) -> Shared<'g, T>;
}

impl<T> WriterLoad<T> for Atomic<T> {
    #[inline]
    fn load_for_writer<'g>(&self, guard: &'g Guard) -> Shared<'g, T> {
        #[cfg(not(loom))]
        return self.load(Relaxed, guard);
        #[cfg(loom)]
        return self.unsync_load(guard);
    }
}

/// [`WriterLoad`] for a raw pointer that only writers store.
#[inline]
pub(crate) fn load_ptr_for_writer<T>(p: &AtomicPtr<T>) -> *mut T {
    #[cfg(not(loom))]
    return p.load(Relaxed);
    // SAFETY: only the serialised writer calls this, and only writers store.
    #[cfg(loom)]
    return unsafe { p.unsync_load() };
}

/// [`WriterLoad`] for a byte that only writers store.
#[inline]
pub(crate) fn load_u8_for_writer(byte: &AtomicU8) -> u8 {
    #[cfg(not(loom))]
    return byte.load(Relaxed);
    // SAFETY: only the serialised writer calls this, and only writers store.
    #[cfg(loom)]
    return unsafe { byte.unsync_load() };
}

/// An optional heap value that readers load under an epoch guard and one writer at a time
/// replaces.
///
/// Writers must be serialised by the owner (every owner holds a writer mutex); loads may run on
/// any thread at any time.
pub(crate) struct Published<T> {
    ptr: Atomic<T>,
}

impl<T> Published<T> {
    /// An empty pointer.
    pub(crate) fn null() -> Self {
        Published {
            ptr: Atomic::null(),
        }
    }

    /// The published value, valid for as long as `guard` is pinned.
    #[inline]
    pub(crate) fn load<'g>(&self, guard: &'g Guard) -> Option<&'g T> {
        let shared = self.ptr.load(Acquire, guard);
        // SAFETY: every non-null pointer stored here came from `Owned` (a live allocation), and
        // it is only freed through `retire` after being unlinked, which waits until no
        // guard pinned before the unlink is alive; `guard` is such a guard, so the value outlives
        // `'g`.
        unsafe { shared.as_ref() }
    }

    /// Publishes `value` (or nothing) and retires the previous value.
    ///
    /// The caller must be the only writer of this pointer for the duration of the call.
    pub(crate) fn replace(&self, value: Option<T>, guard: &Guard) {
        let new = match value {
            Some(v) => Owned::new(v).into_shared(guard),
            None => Shared::null(),
        };
        let old = self.ptr.swap(new, Release, guard);
        if !old.is_null() {
            // SAFETY: (1) `old` came from `Owned` and was just unlinked by the swap, so no reader
            // pinned after this point can reach it; (2) no other writer can unlink it again
            // (writers are serialised by the owner, per this type's contract); (3) the values
            // warren publishes are `Send`.
            unsafe { retire(old, guard) };
        }
    }

    /// Publishes `value`, retires the previous value and returns the new one, valid for as long
    /// as `guard` is pinned.
    ///
    /// The caller must be the only writer of this pointer for the duration of the call.
    pub(crate) fn publish<'g>(&self, value: T, guard: &'g Guard) -> &'g T {
        let new = Owned::new(value).into_shared(guard);
        let old = self.ptr.swap(new, Release, guard);
        if !old.is_null() {
            // SAFETY: as in `replace`: `old` is unlinked and writers are serialised.
            unsafe { retire(old, guard) };
        }
        // SAFETY: `new` is a live allocation made above; only a later writer can unlink it, and
        // it would retire it through `retire`, which waits for `guard`.
        unsafe { new.deref() }
    }

    /// Whether nothing is published, for the serialised writer (see [`WriterLoad`]).
    pub(crate) fn is_null_for_writer(&self) -> bool {
        // SAFETY: `unprotected` is fine for a null check: the pointer is not dereferenced.
        self.ptr.load_for_writer(unsafe { unprotected() }).is_null()
    }
}

impl<T> Drop for Published<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no reader can hold a reference through this pointer any more
        // (readers borrow the owner), so the value can be freed at once.
        unsafe {
            let guard = unprotected();
            let old = self.ptr.swap(Shared::null(), Relaxed, guard);
            if !old.is_null() {
                drop(old.into_owned());
            }
        }
    }
}

impl<T> Default for Published<T> {
    fn default() -> Self {
        Published::null()
    }
}

/// Asks the CPU to start loading the cache line at `p` (a hint: no effect on what the program
/// computes). A receiver issues it for the message behind its next delivery while it hands
/// over the current one, so the cross-core transfer of that message overlaps with useful work.
#[inline]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` never faults and has no architectural effect, whatever the address
    // (SSE is part of the x86_64 baseline).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
