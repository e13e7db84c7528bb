//! Where retired values wait for a writer to free them.
//!
//! crossbeam-epoch runs a retired value's destructor in whichever thread collects garbage, and
//! every `pin` collects now and then, so routers would free what writers allocated: measured
//! with `perf` while one thread binds and unbinds at full speed, a router spent about a sixth
//! of its time in `free` (glibc returns another thread's chunk to that thread's arena). Here the
//! deferred function only pushes the values onto a lock-free queue; writers pop and free after
//! each change ([`reclaim`]). While no writer comes, at most [`LIMIT`] batches wait here: past
//! it the collecting thread frees directly.
//!
//! A thread gathers what it retires into a batch of [`BATCH`] values and defers the whole batch
//! as one function: a router that collects runs one function, and pushes once, per batch
//! instead of per value (per value, the pushes onto this queue, whose lines the writer's pops
//! keep moving, took 5-8% of a router's time under full-speed churn). So up to `BATCH - 1`
//! values per writing thread wait to be handed over (as crossbeam's own per-thread bag holds
//! deferred functions until it fills); a thread that exits hands its batch over.
#![allow(unsafe_code)]

use super::{epoch::Shared, Guard};
use crossbeam_epoch::Owned;
use crossbeam_queue::SegQueue;
use std::cell::RefCell;

/// Batches the collector has declared safe to free, waiting for a writer.
static LIMBO: SegQueue<Vec<Garbage>> = SegQueue::new();

/// Queue length (in batches) past which the collecting thread frees directly.
const LIMIT: usize = 1 << 6;

/// Values a thread gathers before it defers them together.
const BATCH: usize = 64;

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

/// What this thread has retired and not yet deferred.
struct Pending(Vec<Garbage>);

impl Drop for Pending {
    /// A thread that exits hands its batch over (crossbeam pins a thread whose own handle is
    /// already gone through a fresh one).
    fn drop(&mut self) {
        if !self.0.is_empty() {
            defer_batch(std::mem::take(&mut self.0), &crossbeam_epoch::pin());
        }
    }
}

thread_local! {
    static PENDING: RefCell<Pending> = const { RefCell::new(Pending(Vec::new())) };
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
    let mut garbage = Some(Garbage { ptr, free });
    let full = PENDING.try_with(|pending| {
        let batch = &mut pending.borrow_mut().0;
        batch.extend(garbage.take());
        (batch.len() >= BATCH).then(|| std::mem::take(batch))
    });
    match full {
        Ok(Some(batch)) => defer_batch(batch, guard),
        Ok(None) => {}
        // The thread is exiting and its batch is gone: this value goes alone.
        Err(_) => defer_batch(garbage.into_iter().collect(), guard),
    }
}

/// Defers `batch` as one function and hands it to the global collector at once.
fn defer_batch(batch: Vec<Garbage>, guard: &Guard) {
    let park = move || {
        if LIMBO.len() < LIMIT {
            LIMBO.push(batch);
        } else {
            batch.into_iter().for_each(Garbage::free);
        }
    };
    // SAFETY: every value in `batch` was unlinked before this call (`retire`'s condition 1),
    // so a reader that can still reach one pinned before this call: `defer_unchecked` runs
    // `park` once no guard pinned before this call is alive, and only once (condition 2);
    // `park` may run on any thread, which condition 3 allows.
    unsafe { guard.defer_unchecked(park) };
    // Without this, the function would wait in this thread's own bag of deferred functions.
    guard.flush();
}

/// See [`super::reclaim`].
pub(super) fn reclaim() {
    for _ in 0..LIMBO.len() {
        match LIMBO.pop() {
            Some(batch) => batch.into_iter().for_each(Garbage::free),
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BATCH;
    use crate::sync::{reclaim, retire};
    use crossbeam_epoch::{pin, Owned};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// Counts its drops.
    struct Counted(&'static AtomicUsize);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    /// Collects and reclaims until `dropped` reaches `n` or a generous bound passes; returns
    /// the count.
    fn settle(dropped: &AtomicUsize, n: usize) -> usize {
        for _ in 0..100_000 {
            pin().flush();
            reclaim();
            if dropped.load(Relaxed) >= n {
                break;
            }
            std::thread::yield_now();
        }
        dropped.load(Relaxed)
    }

    /// Whole batches are handed over as they fill, and a thread that exits with part of a
    /// batch hands that over too: every value retired is freed, once.
    #[test]
    fn every_retired_value_is_freed_with_a_thread_s_last_part_batch() {
        static DROPPED: AtomicUsize = AtomicUsize::new(0);
        let n = BATCH * 2 + 5;
        std::thread::spawn(move || {
            let guard = pin();
            for _ in 0..n {
                let value = Owned::new(Counted(&DROPPED)).into_shared(&guard);
                // SAFETY: the value was never linked anywhere, is retired once, and is `Send`.
                unsafe { retire(value, &guard) };
            }
        })
        .join()
        .unwrap();
        assert_eq!(settle(&DROPPED, n), n);
    }
}
