//! A counting global allocator: [`std::alloc::System`] plus one atomic counter of the bytes
//! currently allocated, so `warren bench match` measures heap use instead of estimating it.
//!
//! The counter is updated with relaxed atomics: the bench reads it on the thread that did the
//! allocations, where program order already makes its own updates visible, and the figure is a
//! measurement, not a synchronisation point. Every allocation pays one uncontended atomic add
//! (a few nanoseconds), which the bind timings include.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes currently allocated through [`Counting`] (requested sizes, not the allocator's
/// rounded-up blocks).
static CURRENT: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes it hands out and takes back.
pub(crate) struct Counting;

/// The bytes currently allocated by the whole process through the global allocator.
pub(crate) fn current_bytes() -> usize {
    CURRENT.load(Relaxed)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// implementation of the `GlobalAlloc` contract is ours; the counter only observes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller meets `GlobalAlloc::alloc`'s conditions (non-zero size), which are
        // `System::alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            CURRENT.fetch_add(layout.size(), Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`: the caller's conditions are `System::alloc_zeroed`'s.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            CURRENT.fetch_add(layout.size(), Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from `System`, which
        // made every block) with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from `System`) with
        // `layout`, and that `new_size` is non-zero and valid for `layout`'s alignment.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // On failure the old block is untouched and still counted.
            CURRENT.fetch_add(new_size, Relaxed);
            CURRENT.fetch_sub(layout.size(), Relaxed);
        }
        new
    }
}
