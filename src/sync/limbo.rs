//! Where retired values wait for a writer to free them.
//!
//! crossbeam-epoch runs a retired value's destructor in whichever thread collects garbage, and
//! every `pin` collects now and then, so routers would free what writers allocated: measured
//! with `perf` while one thread binds and unbinds at full speed, a router spent about a sixth
//! of its time in `free` (glibc returns another thread's chunk to that thread's arena). Here the
//! deferred function only pushes the value onto a lock-free queue; writers pop and free after
//! each change ([`reclaim`]). While no writer comes, at most [`LIMIT`] values wait here: past it
//! the collecting thread frees directly. So after the last change, memory the change unlinked
//! returns at the next change of any structure, or stays bounded by `LIMIT` values.
#![allow(unsafe_code)]

use super::{epoch::Shared, Guard};
use crossbeam_epoch::Owned;
use crossbeam_queue::SegQueue;

/// Values the collector has declared safe to free, waiting for a writer.
static LIMBO: SegQueue<Garbage> = SegQueue::new();

/// Queue length past which the collecting thread frees directly.
const LIMIT: usize = 1 << 12;

/// A retired value and the function that frees it.
struct Garbage {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

// SAFETY: a retired value is reachable by no one but this record, which is moved once to the
// thread that frees it; `retire`'s condition 3 makes dropping it there sound.
unsafe impl Send for Garbage {}

impl Garbage {
    fn free(self) {
        // SAFETY: `free` was built for `ptr`'s type in `retire`, and the record is consumed.
        unsafe { (self.free)(self.ptr) }
    }
}

/// Drops the `Owned<T>` behind `ptr`.
///
/// # Safety
///
/// `ptr` is an `Owned<T>` turned raw by `retire`, freed once.
unsafe fn free_owned<T>(ptr: *mut ()) {
    // SAFETY: the caller's promise.
    drop(unsafe { Owned::<T>::from_raw(ptr.cast::<T>()) });
}

/// See [`super::retire`].
///
/// # Safety
///
/// As [`super::retire`].
pub(super) unsafe fn retire<T>(ptr: Shared<'_, T>, guard: &Guard) {
    // SAFETY: the caller's conditions; `free_owned::<T>` frees an `Owned<T>` made raw.
    unsafe { retire_with(ptr.as_raw().cast_mut().cast::<()>(), free_owned::<T>, guard) };
}

/// See [`super::retire_with`].
///
/// # Safety
///
/// As [`super::retire_with`].
pub(super) unsafe fn retire_with(ptr: *mut (), free: unsafe fn(*mut ()), guard: &Guard) {
    let garbage = Garbage { ptr, free };
    let park = move || {
        if LIMBO.len() < LIMIT {
            LIMBO.push(garbage);
        } else {
            garbage.free();
        }
    };
    // SAFETY: `defer_unchecked` runs `park` once no guard pinned before this call is alive,
    // so no reader holds the value any more (the caller's condition 1), and only once (2);
    // `park` may run on any thread, which condition 3 allows.
    unsafe { guard.defer_unchecked(park) };
}

/// See [`super::reclaim`].
pub(super) fn reclaim() {
    for _ in 0..LIMBO.len() {
        match LIMBO.pop() {
            Some(garbage) => garbage.free(),
            None => break,
        }
    }
}
