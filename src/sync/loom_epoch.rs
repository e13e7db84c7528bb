//! A stand-in for the part of crossbeam-epoch that warren uses, over loom's atomics, so that
//! loom can check the publication protocols built on it (`cfg(loom)` only).
//!
//! Guards protect nothing and retired values are never freed: a loom model is small and short,
//! and what it checks is the ordering of publication, not reclamation (that is crossbeam's,
//! and crossbeam checks it with loom itself). Each value lives in a loom `UnsafeCell`, so every
//! dereference is a tracked read: a value reached through a pointer published without
//! `Release`/`Acquire` is a causality violation that fails the model.
#![allow(unsafe_code)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicPtr;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::Ordering;

/// A pinned "epoch": nothing to pin under loom.
pub(crate) struct Guard {
    _private: (),
}

static UNPROTECTED: Guard = Guard { _private: () };

/// Pins the current thread (a no-op here).
pub(crate) fn pin() -> Guard {
    Guard { _private: () }
}

/// A guard for code that owns what it touches.
///
/// # Safety
///
/// As crossbeam's: only for data no other thread can reach.
pub(crate) unsafe fn unprotected() -> &'static Guard {
    &UNPROTECTED
}

impl Guard {
    /// Retires `ptr`. Never frees under loom (see the module docs).
    ///
    /// # Safety
    ///
    /// As crossbeam's: `ptr` is unlinked and retired once.
    pub(crate) unsafe fn defer_destroy<T>(&self, ptr: Shared<'_, T>) {
        let _ = ptr;
    }
}

/// An atomic pointer to a heap value, as crossbeam's `Atomic`.
pub(crate) struct Atomic<T> {
    ptr: AtomicPtr<UnsafeCell<T>>,
}

impl<T> Atomic<T> {
    /// A null pointer.
    pub(crate) fn null() -> Self {
        Atomic {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Loads the pointer.
    pub(crate) fn load<'g>(&self, ord: Ordering, _guard: &'g Guard) -> Shared<'g, T> {
        Shared {
            ptr: self.ptr.load(ord),
            _life: PhantomData,
        }
    }

    /// Loads the pointer without synchronisation (writers only: see `WriterLoad`).
    pub(crate) fn unsync_load<'g>(&self, _guard: &'g Guard) -> Shared<'g, T> {
        // SAFETY: only the serialised writer calls this, and only writers store.
        Shared {
            ptr: unsafe { self.ptr.unsync_load() },
            _life: PhantomData,
        }
    }

    /// Stores an owned or shared pointer.
    pub(crate) fn store<P: Pointer<T>>(&self, new: P, ord: Ordering) {
        self.ptr.store(new.into_raw(), ord);
    }

    /// Swaps in `new`, returning the previous pointer.
    pub(crate) fn swap<'g>(
        &self,
        new: Shared<'_, T>,
        ord: Ordering,
        _: &'g Guard,
    ) -> Shared<'g, T> {
        Shared {
            ptr: self.ptr.swap(new.ptr, ord),
            _life: PhantomData,
        }
    }
}

/// What [`Atomic::store`] takes.
pub(crate) trait Pointer<T> {
    /// The raw pointer, ownership passing to the atomic.
    fn into_raw(self) -> *mut UnsafeCell<T>;
}

/// An owned heap value, as crossbeam's `Owned`.
pub(crate) struct Owned<T> {
    ptr: *mut UnsafeCell<T>,
}

impl<T> Owned<T> {
    /// Boxes `value`.
    pub(crate) fn new(value: T) -> Self {
        let cell = UnsafeCell::new(value);
        // Record the initialisation as a write, so a read that does not happen after it fails.
        cell.with_mut(|_| ());
        Owned {
            ptr: Box::into_raw(Box::new(cell)),
        }
    }

    /// Gives up ownership to the data structure.
    pub(crate) fn into_shared<'g>(self, _guard: &'g Guard) -> Shared<'g, T> {
        let ptr = self.ptr;
        std::mem::forget(self);
        Shared {
            ptr,
            _life: PhantomData,
        }
    }
}

impl<T> std::ops::Deref for Owned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `ptr` came from `Box::into_raw` and is owned by `self`; the cell is only
        // read through shared references.
        unsafe { (*self.ptr).with(|p| &*p) }
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `Box::into_raw` and is owned by `self`.
        drop(unsafe { Box::from_raw(self.ptr) });
    }
}

impl<T> Pointer<T> for Owned<T> {
    fn into_raw(self) -> *mut UnsafeCell<T> {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }
}

/// A pointer valid while a guard lives, as crossbeam's `Shared`.
pub(crate) struct Shared<'g, T> {
    ptr: *mut UnsafeCell<T>,
    _life: PhantomData<&'g T>,
}

impl<T> Clone for Shared<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shared<'_, T> {}

impl<'g, T> Shared<'g, T> {
    /// A null pointer.
    pub(crate) fn null() -> Self {
        Shared {
            ptr: ptr::null_mut(),
            _life: PhantomData,
        }
    }

    /// Whether it is null.
    pub(crate) fn is_null(&self) -> bool {
        self.ptr.is_null()
    }

    /// The value, if not null.
    ///
    /// # Safety
    ///
    /// As crossbeam's: the value is alive for `'g`.
    pub(crate) unsafe fn as_ref(&self) -> Option<&'g T> {
        // SAFETY: the caller's promise; `with` records the read for loom.
        unsafe { self.ptr.as_ref().map(|cell| cell.with(|p| &*p)) }
    }

    /// The value.
    ///
    /// # Safety
    ///
    /// As crossbeam's: not null, and alive for `'g`.
    pub(crate) unsafe fn deref(&self) -> &'g T {
        // SAFETY: the caller's promise; `with` records the read for loom.
        unsafe { (*self.ptr).with(|p| &*p) }
    }

    /// Takes ownership back.
    ///
    /// # Safety
    ///
    /// As crossbeam's: not null, and no one else holds it.
    pub(crate) unsafe fn into_owned(self) -> Owned<T> {
        Owned { ptr: self.ptr }
    }

    /// The address, as a byte pointer (see `sync::shared_addr`).
    pub(crate) fn addr(self) -> *mut u8 {
        self.ptr.cast()
    }

    /// The pointer at `addr`, from [`addr`](Self::addr).
    pub(crate) fn from_addr(addr: *mut u8) -> Self {
        Shared {
            ptr: addr.cast(),
            _life: PhantomData,
        }
    }
}

impl<T> Pointer<T> for Shared<'_, T> {
    fn into_raw(self) -> *mut UnsafeCell<T> {
        self.ptr
    }
}
