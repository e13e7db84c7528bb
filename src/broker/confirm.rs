//! Publisher confirms: one channel's publish numbers, their outcomes, and who hears of them
//! (SEMANTICS C).
//!
//! [`Confirms`] numbers a confirming channel's publishes from 1 ([`Confirms::begin`], C1),
//! records each number's one outcome, ack or nack ([`Confirms::resolve`]), and tells three kinds
//! of observers: the channel's listener (C5c), threads in [`Confirms::wait`] (C5a, C5b, C6),
//! and per-publish [`Confirmation`] handles, blocking or as a `Future`. A close (C7) leaves the
//! pending numbers without an outcome and fails every wait and pending handle.
//!
//! # Coalescing
//!
//! As RabbitMQ's `rabbit_channel:coalesce_and_send`: of the numbers one `resolve` settles, those
//! below the lowest still-pending number (the *cutoff*) go to the listener as one report at the
//! highest of them, `multiple` when there are several; the others are reported one by one,
//! `multiple = false`, because a `multiple` at them would cover the pending lower number. Every
//! number is reported in the `resolve` call that settles it, so "unreported" and "pending"
//! are the same set, and a `multiple` report at `n` covers exactly the numbers its call
//! settled below the cutoff: the other numbers up to `n` were reported before, and C4's
//! "unreported" leaves them out. Such a run is consecutive among unreported numbers, not
//! necessarily among integers: with 2 acked early, settling 1 and 3 in one call reports
//! (3, multiple), covering 1 and 3.
//!
//! # The listener
//!
//! Listener calls never overlap (C5) and never run under the state lock. Reports go into an
//! outbox under the lock; the resolver that finds nobody dispatching becomes the dispatcher
//! (a combining scheme in the manner of flat combining, Hendler et al., SPAA 2010): it takes
//! the listener out of its slot, calls it on the outbox's reports outside the lock, and loops
//! until the outbox is empty. A resolver that finds a dispatcher leaves its reports behind for
//! it; the dispatcher decides to stop, and clears its flag, under the same lock as resolvers
//! append, so no report is stranded. A listener that publishes on its own channel therefore
//! re-enters `begin` and `resolve` without deadlock (its reports are delivered after it
//! returns), and one that calls `set_listener` replaces itself from the next report on.
//! A panicking listener is caught and kept; the reports go on.
//!
//! # Retiring a listener
//!
//! A listener replaced by [`Confirms::set_listener`], or made useless by
//! [`Confirms::close`], may still be running on the dispatching thread. `close` waits for a
//! dispatcher on another thread to stop; [`Confirms::quiesce`] lets a caller wait, with no
//! lock of its own held, until no call of a retired listener runs on another thread (the C
//! ABI then knows the old callback's userdata is unused). The dispatcher records the
//! generation of the listener it holds (`calling`) and clears it, and signals `idle`, once a
//! replaced listener is dropped. Neither waits when called from the listener itself: the
//! call in progress is that thread's own.
//!
//! The listener runs on whichever thread is dispatching: a publisher's (an immediate ack inside
//! `basic_publish`) or the store's (acks after an fsync). A resolver that finds a dispatcher
//! returns at once; the dispatcher delivers other threads' reports too, so while reports keep
//! coming its `resolve` returns late, and a slow listener delays it.
//!
//! # Limits
//!
//! Everything is behind one mutex (a handle's own outcome behind its own): a confirming
//! channel resolves at most once per publish, and a mutex uncontended on the publishing
//! thread costs less than the atomics a lock-free window would need. Pending numbers sit in a
//! `BTreeSet` (O(log n) per number); handles in a map, only for numbers that asked for one.

use crate::error::Error;
use crate::ids::SeqNo;
use crate::sync::blocking::{AtomicU64, Condvar, Mutex, MutexGuard};
use smallvec::SmallVec;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The identity of the running thread: loom's under `cfg(loom)` (its threads share one OS
/// thread), std's otherwise. (It belongs in `crate::sync`, with the other loom switches; it is
/// here while that module is not the C ABI work's to change.)
#[cfg(loom)]
use loom::thread::{current as current_thread, ThreadId};
#[cfg(not(loom))]
use std::thread::{current as current_thread, ThreadId};

/// One report to a channel's confirm listener (SEMANTICS C4, C5c).
///
/// With `multiple == false` it settles the publish numbered `seq`; with `multiple == true`,
/// every number at most `seq` not reported before. Reports may come out of order (a transient
/// publish can be acked before an earlier persistent one), each number is reported exactly
/// once, and a `multiple` report never covers a number still waiting for its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confirm {
    /// The publish sequence number (`next_publish_seq_no()` before the publish; SEMANTICS
    /// C1), or with `multiple` the highest number covered.
    pub seq: SeqNo,
    /// Whether the report covers every unreported number up to `seq`, not `seq` alone.
    pub multiple: bool,
    /// `true` for an ack (the message is safe, SEMANTICS C2), `false` for a nack (C3).
    pub ack: bool,
}

type Listener = Box<dyn FnMut(Confirm) + Send>;

/// A handle's outcome: `Ok(true)` ack, `Ok(false)` nack, or the close error.
type Outcome = Result<bool, Error>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update behind these locks is complete before anything that could panic, and user
    // code (the listener, a waker) runs with no lock held: a poisoned lock guards consistent
    // state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops a listener that was replaced or outlived its channel, with no lock held: its captures'
/// destructors are user code, and a panic in one is contained like a panic in a call.
fn drop_listener(f: Listener) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(f)));
}

struct State {
    /// The number the next `begin` takes (SEMANTICS C1: from 1).
    next: u64,
    /// Issued numbers without an outcome. Empty once closed.
    pending: BTreeSet<u64>,
    /// The slots of pending numbers whose publish asked for a [`Confirmation`].
    handles: HashMap<u64, Arc<Slot>>,
    /// A nack was given since the last successful [`Confirms::wait`] (SEMANTICS C6).
    nacked: bool,
    /// `Some` once closed, with the error waits and handles fail with (SEMANTICS C7).
    closed: Option<Error>,
    /// Threads blocked in [`Confirms::wait`], so a resolve signals `done` only when one is.
    waiters: usize,
    /// The listener, `None` when none is set or while the dispatcher is calling it.
    listener: Option<Listener>,
    /// A thread is dispatching: it owns the listener call sequence, and it alone empties
    /// `outbox`. Invariant: `outbox` is non-empty only while `dispatching`.
    dispatching: bool,
    /// The dispatching thread, so a close from inside the listener does not wait for itself.
    dispatcher: Option<ThreadId>,
    /// The generation (`listener_gen`) of the listener the dispatcher has taken out of
    /// `listener` to call, while it holds it; a replaced one until it is dropped. `None`
    /// otherwise.
    calling: Option<u64>,
    /// Reports not yet given to the listener, in the order they must be given: a `multiple`
    /// report covers the numbers not reported before it in this order.
    outbox: Vec<Confirm>,
}

/// One confirming channel's publish numbers and their outcomes (SEMANTICS C), shared as
/// `Arc<Confirms>` by the channel and whatever resolves its publishes. See the module docs.
///
/// # Memory ordering
///
/// Everything is decided under one mutex: a [`wait`](Confirms::wait) that returns, an outcome a
/// [`Confirmation`] shows, and a listener call each happen after the `resolve` that gave the
/// outcome, so after everything its caller did before (the enqueue, the fsync). Listener calls
/// are ordered: each happens after the previous one returned, on whatever thread.
pub(crate) struct Confirms {
    state: Mutex<State>,
    /// Signalled when a pending number gets its outcome or the tracker closes, for `wait`.
    done: Condvar,
    /// Signalled when a dispatcher stops, for `close`, which waits for the reports already
    /// made to be given on another thread, and when it drops a replaced listener, for
    /// `quiesce`.
    idle: Condvar,
    /// Bumped under `state` by every `set_listener`. The dispatcher reads it, without the
    /// lock, after each call, to notice a replacement (by the listener itself) mid-batch; under
    /// the lock it decides.
    listener_gen: AtomicU64,
}

impl Confirms {
    /// A tracker for a channel that has just entered confirm mode: the first number is 1.
    pub(crate) fn new() -> Arc<Confirms> {
        Arc::new(Confirms {
            state: Mutex::new(State {
                next: 1,
                pending: BTreeSet::new(),
                handles: HashMap::new(),
                nacked: false,
                closed: None,
                waiters: 0,
                listener: None,
                dispatching: false,
                dispatcher: None,
                calling: None,
                outbox: Vec::new(),
            }),
            done: Condvar::new(),
            idle: Condvar::new(),
            listener_gen: AtomicU64::new(0),
        })
    }

    /// Whether a listener was ever set: its calls are user code, which the store's writer
    /// thread must not run (it hands such outcomes to its confirm thread).
    pub(crate) fn has_listener(&self) -> bool {
        self.listener_gen.load(Relaxed) > 0
    }

    /// The number the next publish will get: 1 before any publish (SEMANTICS C1).
    pub(crate) fn next_seq(&self) -> u64 {
        lock(&self.state).next
    }

    /// Takes the next number for a publish that passed its checks; it is pending until
    /// [`resolve`](Confirms::resolve)d. With `handle`, also returns a [`Confirmation`] for it.
    ///
    /// After [`close`](Confirms::close) the number is still taken (numbers stay unique) but is
    /// not pending, and the handle has already failed with the close error.
    pub(crate) fn begin(&self, handle: bool) -> (u64, Option<Confirmation>) {
        let slot = handle.then(|| Arc::new(Slot::new()));
        let mut st = lock(&self.state);
        let seq = st.next;
        st.next += 1;
        if let Some(why) = &st.closed {
            let why = why.clone();
            drop(st);
            let handle = slot.map(|slot| {
                // No waker or waiter can be registered yet: nothing to wake.
                let _ = slot.complete(Err(why));
                Confirmation { seq, slot }
            });
            return (seq, handle);
        }
        st.pending.insert(seq);
        let handle = slot.map(|slot| {
            st.handles.insert(seq, Arc::clone(&slot));
            Confirmation { seq, slot }
        });
        (seq, handle)
    }

    /// Gives the numbers in `seqs` (ascending) the outcome `ack` (`true` ack, `false` nack).
    ///
    /// Numbers already resolved, never issued, or resolved after [`close`](Confirms::close)
    /// are ignored: each number gets exactly one outcome (SEMANTICS C1). Reports the new
    /// outcomes to the listener, coalesced (see the module docs), wakes waits and handles.
    /// May run the listener on this thread, for these reports and others'.
    pub(crate) fn resolve(&self, seqs: &[u64], ack: bool) {
        if seqs.is_empty() {
            return;
        }
        let mut wakers: SmallVec<[Waker; 2]> = SmallVec::new();
        let mut st = lock(&self.state);
        if st.closed.is_some() {
            return;
        }
        let mut fresh: SmallVec<[u64; 8]> = SmallVec::new();
        for &seq in seqs {
            if !st.pending.remove(&seq) {
                continue;
            }
            fresh.push(seq);
            if !st.handles.is_empty() {
                if let Some(slot) = st.handles.remove(&seq) {
                    // Under the state lock, so a `wait` that returns sees every handle settled.
                    wakers.extend(slot.complete(Ok(ack)));
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        if !ack {
            st.nacked = true;
        }
        if st.waiters > 0 {
            self.done.notify_all();
        }
        let mut must_dispatch = false;
        if st.listener.is_some() || st.dispatching {
            // Everything below the lowest pending number is settled: one report at the highest
            // of this call's numbers there covers them (the rest were reported before).
            let cutoff = st.pending.first().copied().unwrap_or(st.next);
            let (mut below, mut top) = (0_usize, 0_u64);
            for &seq in fresh.iter().filter(|&&seq| seq < cutoff) {
                below += 1;
                top = top.max(seq);
            }
            if below > 0 {
                st.outbox.push(Confirm {
                    seq: SeqNo::new(top),
                    multiple: below > 1,
                    ack,
                });
            }
            for &seq in fresh.iter().filter(|&&seq| seq >= cutoff) {
                st.outbox.push(Confirm {
                    seq: SeqNo::new(seq),
                    multiple: false,
                    ack,
                });
            }
            must_dispatch = !std::mem::replace(&mut st.dispatching, true);
        }
        drop(st);
        for waker in wakers {
            waker.wake();
        }
        if must_dispatch {
            self.dispatch();
        }
    }

    /// Gives the outbox's reports to the listener until the outbox is empty. The caller has
    /// set `dispatching`; this clears it, under the lock, when it finds nothing left to do.
    fn dispatch(&self) {
        // Two buffers swap roles: resolvers append to the state's while this one is read, and
        // the one given back keeps its capacity, so a steady stream of reports allocates once.
        let mut batch: Vec<Confirm> = Vec::new();
        let mut st = lock(&self.state);
        st.dispatcher = Some(current_thread().id());
        loop {
            debug_assert!(st.dispatching);
            let mut f = match st.listener.take() {
                Some(f) if !st.outbox.is_empty() => f,
                other => {
                    // Done, or no listener: reports without a listener are dropped.
                    st.listener = other;
                    st.outbox.clear();
                    st.dispatching = false;
                    st.dispatcher = None;
                    self.idle.notify_all();
                    if st.outbox.capacity() < batch.capacity() {
                        std::mem::swap(&mut st.outbox, &mut batch);
                    }
                    // A closed tracker reports nothing more: its listener can go (it may hold
                    // the channel, which holds this tracker).
                    let retired = if st.closed.is_some() {
                        st.listener.take()
                    } else {
                        None
                    };
                    drop(st);
                    if let Some(f) = retired {
                        drop_listener(f);
                    }
                    return;
                }
            };
            std::mem::swap(&mut st.outbox, &mut batch);
            // Under the lock, which `set_listener` bumps it under: `f`'s generation.
            let gen = self.listener_gen.load(Relaxed);
            st.calling = Some(gen);
            drop(st);

            let mut sent = 0;
            for &report in &batch {
                sent += 1;
                // User code, with no lock held; a panic is contained and the reports go on.
                let _ = catch_unwind(AssertUnwindSafe(|| f(report)));
                if self.listener_gen.load(Relaxed) != gen {
                    break;
                }
            }

            st = lock(&self.state);
            if sent < batch.len() {
                // The listener was replaced mid-batch: the rest goes to the new one, first.
                let mut rest = batch.split_off(sent);
                rest.append(&mut st.outbox);
                st.outbox = rest;
            }
            batch.clear();
            if self.listener_gen.load(Relaxed) == gen {
                st.listener = Some(f);
                st.calling = None;
            } else {
                drop(st);
                drop_listener(f);
                st = lock(&self.state);
                // The replaced listener is gone: `quiesce` may return.
                st.calling = None;
                self.idle.notify_all();
            }
        }
    }

    /// The channel closed (SEMANTICS C7): pending numbers get no outcome, waits now and later
    /// fail with `why` (the channel-closed error to return), and so do pending handles. Later
    /// resolves are ignored; reports already made are given before this returns (by the
    /// dispatcher, which it waits for), and no listener call runs after it (unless it was
    /// called from the listener). Only the first close counts.
    pub(crate) fn close(&self, why: Error) {
        let mut wakers: SmallVec<[Waker; 2]> = SmallVec::new();
        let mut st = lock(&self.state);
        if st.closed.is_some() {
            return;
        }
        st.pending.clear();
        for (_, slot) in st.handles.drain() {
            wakers.extend(slot.complete(Err(why.clone())));
        }
        st.closed = Some(why);
        if st.waiters > 0 {
            self.done.notify_all();
        }
        // A dispatcher on another thread gives the reports already made, then stops, before
        // close returns: after it, no listener call runs, so the caller may free what the
        // listener uses (the C ABI's userdata). From inside the listener itself, close cannot
        // wait: that dispatcher gives the rest after the call returns.
        let me = current_thread().id();
        while st.dispatching && st.dispatcher != Some(me) {
            st = self.idle.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        // A dispatcher still running (this thread's) drops the listener when it is done.
        let retired = if st.dispatching {
            None
        } else {
            st.listener.take()
        };
        drop(st);
        for waker in wakers {
            waker.wake();
        }
        if let Some(f) = retired {
            drop_listener(f);
        }
    }

    /// Waits until every number issued so far has its outcome (SEMANTICS C6
    /// `wait_for_confirms`), then says whether every outcome since the last successful wait
    /// was an ack: `Ok(true)`, or `Ok(false)` after any nack. Each `Ok` starts a new window;
    /// a failed wait does not.
    ///
    /// # Errors
    ///
    /// [`Error::timeout`] ("confirms") if `timeout` passes first; the close error once closed
    /// (SEMANTICS C7), even if every outcome is in.
    pub(crate) fn wait(&self, timeout: Duration) -> Result<bool, Error> {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = lock(&self.state);
        let target = st.next;
        loop {
            if let Some(why) = &st.closed {
                return Err(why.clone());
            }
            if st.pending.first().is_none_or(|&low| low >= target) {
                return Ok(!std::mem::replace(&mut st.nacked, false));
            }
            st.waiters += 1;
            st = match deadline {
                None => self.done.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        st.waiters -= 1;
                        return Err(Error::timeout("confirms"));
                    }
                    self.done
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            st.waiters -= 1;
        }
    }

    /// Sets the listener, replacing (and dropping) the previous one. Its calls never overlap
    /// (SEMANTICS C5); see the module docs for where it runs. A listener set after the close is
    /// dropped at once: nothing will be reported.
    pub(crate) fn set_listener(&self, f: Box<dyn FnMut(Confirm) + Send>) {
        let mut st = lock(&self.state);
        let old = if st.closed.is_some() && !st.dispatching {
            Some(f)
        } else {
            self.listener_gen.fetch_add(1, Relaxed);
            st.listener.replace(f)
        };
        drop(st);
        if let Some(old) = old {
            drop_listener(old);
        }
    }

    /// Waits until no listener call that the caller's last change retired runs on another
    /// thread: once closed, until a dispatcher on another thread has stopped (as
    /// [`close`](Confirms::close) does for the first close; a later caller, such as a second
    /// close of the channel, waits here too); otherwise until the dispatcher no longer holds a
    /// listener older than the current one (replaced by [`set_listener`](Self::set_listener))
    /// and has dropped it. Returns at once on the dispatching thread (from inside the
    /// listener), which cannot wait for itself. Call it with no lock held that the listener
    /// might take.
    pub(crate) fn quiesce(&self) {
        let me = current_thread().id();
        let mut st = lock(&self.state);
        // Under the lock, which `set_listener` bumps it under: the current listener's.
        let current = self.listener_gen.load(Relaxed);
        while st.dispatching
            && st.dispatcher != Some(me)
            && (st.closed.is_some() || st.calling.is_some_and(|held| held < current))
        {
            st = self.idle.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Numbers issued and not yet resolved (0 once closed).
    #[cfg_attr(not(test), allow(dead_code))] // introspection: the tests' for now
    pub(crate) fn pending(&self) -> usize {
        lock(&self.state).pending.len()
    }

    /// Threads blocked in `wait`, so tests can act once one is.
    #[cfg(all(test, not(loom)))]
    fn waiters(&self) -> usize {
        lock(&self.state).waiters
    }
}

impl fmt::Debug for Confirms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Confirms")
            .field("next", &st.next)
            .field("pending", &st.pending.len())
            .field("closed", &st.closed)
            .finish_non_exhaustive()
    }
}

/// A handle's shared slot: the tracker completes it, the [`Confirmation`] reads it.
struct Slot {
    inner: Mutex<SlotInner>,
    /// Signalled on completion when a thread is blocked in [`Confirmation::wait`].
    cv: Condvar,
}

struct SlotInner {
    /// Set once, by the first `complete`.
    outcome: Option<Outcome>,
    /// The waker of the last `poll` that found no outcome.
    waker: Option<Waker>,
    /// Threads blocked in `Confirmation::wait`.
    blocked: usize,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            inner: Mutex::new(SlotInner {
                outcome: None,
                waker: None,
                blocked: 0,
            }),
            cv: Condvar::new(),
        }
    }

    /// Sets the outcome (the first one given counts) and returns the waker to wake once no
    /// lock is held. Setting it and taking the waker under the slot's lock, which `poll` holds
    /// while it checks and registers, means a wake-up is never lost.
    fn complete(&self, outcome: Outcome) -> Option<Waker> {
        let mut s = lock(&self.inner);
        if s.outcome.is_some() {
            return None;
        }
        s.outcome = Some(outcome);
        if s.blocked > 0 {
            self.cv.notify_all();
        }
        s.waker.take()
    }
}

/// The outcome of one confirmed publish, to wait for or to `.await`.
///
/// Resolves to `Ok(true)` when the message was acked (it is safe, SEMANTICS C2), `Ok(false)`
/// when nacked (C3), or the channel's close error if it closed first (C7). As a `Future` it
/// works on any executor; it may be polled again after it is ready and gives the same outcome.
/// Dropping it changes nothing: the outcome still reaches the channel's listener and waits.
pub struct Confirmation {
    seq: u64,
    slot: Arc<Slot>,
}

impl Confirmation {
    /// The publish's sequence number (SEMANTICS C1).
    pub fn seq(&self) -> SeqNo {
        SeqNo::new(self.seq)
    }

    /// Blocks until the outcome is known: `Ok(true)` for an ack, `Ok(false)` for a nack.
    ///
    /// # Errors
    ///
    /// A [`Timeout`](crate::error::ErrorKind::Timeout) error if `timeout` passes first; the
    /// channel's close error if it closed before the outcome (SEMANTICS C7).
    pub fn wait(&self, timeout: Duration) -> Result<bool, Error> {
        let deadline = Instant::now().checked_add(timeout);
        let mut s = lock(&self.slot.inner);
        loop {
            if let Some(outcome) = &s.outcome {
                return outcome.clone();
            }
            s.blocked += 1;
            s = match deadline {
                None => self.slot.cv.wait(s).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        s.blocked -= 1;
                        return Err(Error::timeout("confirm"));
                    }
                    self.slot
                        .cv
                        .wait_timeout(s, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            s.blocked -= 1;
        }
    }

    /// The outcome if it is known, without blocking; `None` while pending.
    pub fn try_outcome(&self) -> Option<Result<bool, Error>> {
        lock(&self.slot.inner).outcome.clone()
    }
}

impl Future for Confirmation {
    type Output = Result<bool, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        let mut s = lock(&self.slot.inner);
        if let Some(outcome) = &s.outcome {
            return Poll::Ready(outcome.clone());
        }
        let old = match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => None,
            _ => s.waker.replace(cx.waker().clone()),
        };
        drop(s);
        // A waker's drop is executor code: not under our lock.
        drop(old);
        Poll::Pending
    }
}

impl fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Confirmation")
            .field("seq", &self.seq)
            .field("outcome", &self.try_outcome())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
    use std::sync::Barrier;
    use std::task::Wake;
    use std::thread;

    const LONG: Duration = Duration::from_secs(30);

    /// A tracker whose listener records every report.
    fn recorded() -> (Arc<Confirms>, Arc<Mutex<Vec<Confirm>>>) {
        let c = Confirms::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        c.set_listener(Box::new(move |r| lock(&sink).push(r)));
        (c, log)
    }

    fn take(log: &Mutex<Vec<Confirm>>) -> Vec<Confirm> {
        std::mem::take(&mut *lock(log))
    }

    fn one(seq: u64, ack: bool) -> Confirm {
        Confirm {
            seq: SeqNo::new(seq),
            multiple: false,
            ack,
        }
    }

    fn many(seq: u64, ack: bool) -> Confirm {
        Confirm {
            seq: SeqNo::new(seq),
            multiple: true,
            ack,
        }
    }

    fn closed_error() -> Error {
        Error::closed(
            false,
            Some(Error::amqp(406, "PRECONDITION_FAILED - test close")),
        )
    }

    /// Spins (yielding) until `cond` holds: for a thread to be blocked, never a sleep.
    fn until(cond: impl Fn() -> bool) {
        while !cond() {
            thread::yield_now();
        }
    }

    #[test]
    fn c1_numbers_start_at_one_and_each_gets_one_outcome() {
        let (c, log) = recorded();
        assert_eq!(c.next_seq(), 1);
        let handles: Vec<Confirmation> = (1..=3)
            .map(|want| {
                let (seq, h) = c.begin(true);
                assert_eq!(seq, want);
                h.unwrap()
            })
            .collect();
        assert_eq!(c.next_seq(), 4);
        assert_eq!(c.pending(), 3);

        c.resolve(&[2], true);
        c.resolve(&[2], false); // already resolved: ignored
        c.resolve(&[0, 9], false); // never issued: ignored
        assert_eq!(c.pending(), 2);
        c.resolve(&[1, 3], false);
        c.resolve(&[1, 2, 3], true); // all resolved: ignored
        assert_eq!(c.pending(), 0);

        // 2 alone (1 was pending); then 1 and 3 as one report: 2 was already reported.
        assert_eq!(take(&log), [one(2, true), many(3, false)]);
        let outcomes: Vec<_> = handles.iter().map(|h| h.try_outcome()).collect();
        assert_eq!(outcomes, [Some(Ok(false)), Some(Ok(true)), Some(Ok(false))]);
        assert_eq!(c.next_seq(), 4);
    }

    #[test]
    fn c4_head_run_coalesces_into_one_multiple() {
        let (c, log) = recorded();
        for _ in 0..5 {
            c.begin(false);
        }
        c.resolve(&[1, 2, 3], true);
        assert_eq!(take(&log), [many(3, true)]);
        c.resolve(&[4], false);
        assert_eq!(take(&log), [one(4, false)]);
        c.resolve(&[5], true);
        assert_eq!(take(&log), [one(5, true)]);

        // A run that becomes the head only with this call: 7 and 9 wait for 6, then 6 and 8
        // come together and reach the head: one report for 6 and 8, and 10 stays on its own.
        for _ in 6..=10 {
            c.begin(false);
        }
        c.resolve(&[7, 9], true);
        assert_eq!(take(&log), [one(7, true), one(9, true)]);
        c.resolve(&[6, 8], true);
        assert_eq!(take(&log), [many(8, true)]);
        c.resolve(&[10], true);
        assert_eq!(take(&log), [one(10, true)]);
    }

    #[test]
    fn c4_out_of_order_reported_individually() {
        let (c, log) = recorded();
        for _ in 0..6 {
            c.begin(false);
        }
        // 2 and 3 are above the pending 1: one by one, never multiple.
        c.resolve(&[2], true);
        c.resolve(&[3], true);
        assert_eq!(take(&log), [one(2, true), one(3, true)]);
        // 1 reaches the head alone: (1, false), not (3, true).
        c.resolve(&[1], true);
        assert_eq!(take(&log), [one(1, true)]);
        // Settled together above the pending 4: still one by one.
        c.resolve(&[5, 6], false);
        assert_eq!(take(&log), [one(5, false), one(6, false)]);
        c.resolve(&[4], true);
        assert_eq!(take(&log), [one(4, true)]);
    }

    #[test]
    fn c6_wait_true_when_all_acked_false_after_nack_and_window_resets() {
        let c = Confirms::new();
        assert_eq!(c.wait(Duration::ZERO), Ok(true)); // nothing issued
        c.begin(false);
        c.begin(false);
        c.resolve(&[1, 2], true);
        assert_eq!(c.wait(LONG), Ok(true));

        c.begin(false);
        c.begin(false);
        c.resolve(&[3], false);
        c.resolve(&[4], true);
        assert_eq!(c.wait(LONG), Ok(false));
        assert_eq!(c.wait(LONG), Ok(true)); // the window reset

        // A failed wait does not reset the window: the nack before it still counts.
        c.begin(false);
        c.begin(false);
        c.resolve(&[5], false);
        assert_eq!(
            c.wait(Duration::ZERO).map_err(|e| e.kind()),
            Err(crate::error::ErrorKind::Timeout)
        );
        c.resolve(&[6], true);
        assert_eq!(c.wait(LONG), Ok(false));

        // A wait blocked on another thread wakes when the last outcome arrives.
        c.begin(false);
        let waiter = {
            let c = Arc::clone(&c);
            thread::spawn(move || c.wait(LONG))
        };
        until(|| c.waiters() == 1);
        // A publish after the wait began is not waited for.
        c.begin(false);
        c.resolve(&[7], true);
        assert_eq!(waiter.join().unwrap(), Ok(true));
        assert_eq!(c.pending(), 1);
    }

    #[test]
    fn c6_wait_times_out() {
        let c = Confirms::new();
        c.begin(false);
        c.begin(false);
        c.resolve(&[2], true);
        let err = c.wait(Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Timeout);
        assert_eq!(err.to_string(), "timed out waiting for confirms");
        assert_eq!(c.waiters(), 0);
        c.resolve(&[1], true);
        assert_eq!(c.wait(Duration::ZERO), Ok(true));
    }

    /// C7, and the C ABI's promise: once `close` returns, no listener call runs (a caller may
    /// free the listener's data), and the reports made before it were all given.
    #[test]
    fn c7_close_waits_for_the_listener_then_no_call_runs() {
        let c = Confirms::new();
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let inside = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let (calls, inside) = (calls.clone(), inside.clone());
            c.set_listener(Box::new(move |_| {
                inside.store(true, Relaxed);
                thread::sleep(Duration::from_millis(30));
                calls.fetch_add(1, Relaxed);
                inside.store(false, Relaxed);
            }));
        }
        let seqs: Vec<u64> = (0..3).map(|_| c.begin(false).0).collect();
        let resolver = {
            let c = c.clone();
            // Three separate reports (out of order, so not coalesced): about 90 ms of calls.
            thread::spawn(move || {
                for &s in seqs.iter().rev() {
                    c.resolve(&[s], true);
                }
            })
        };
        while !inside.load(Relaxed) {
            thread::yield_now();
        }
        c.close(closed_error());
        assert!(
            !inside.load(Relaxed),
            "a listener call runs after close returned"
        );
        let after = calls.load(Relaxed);
        resolver.join().unwrap();
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            calls.load(Relaxed),
            after,
            "a listener call started after close"
        );
        assert!(after >= 1);
    }

    /// The C ABI's promise for a second close (the channel was closed by its connection on
    /// another thread, whose close waits; the application's own close returns at once) and
    /// for a replaced listener: once `quiesce` returns, no call of the old listener runs.
    #[test]
    fn quiesce_waits_for_a_retired_listener_on_another_thread() {
        for close in [false, true] {
            let c = Confirms::new();
            let inside = Arc::new(AtomicBool::new(false));
            let retired = Arc::new(AtomicBool::new(false));
            let late = Arc::new(AtomicUsize::new(0));
            {
                let (inside, retired, late) = (inside.clone(), retired.clone(), late.clone());
                c.set_listener(Box::new(move |_| {
                    if retired.load(SeqCst) {
                        late.fetch_add(1, SeqCst);
                    }
                    inside.store(true, SeqCst);
                    thread::sleep(Duration::from_millis(20));
                    inside.store(false, SeqCst);
                }));
            }
            let seqs: Vec<u64> = (0..4).map(|_| c.begin(false).0).collect();
            let resolver = {
                let c = c.clone();
                // Out of order: four reports, about 80 ms of calls.
                thread::spawn(move || {
                    for &s in seqs.iter().rev() {
                        c.resolve(&[s], true);
                    }
                })
            };
            until(|| inside.load(SeqCst));
            if close {
                // The first close (another thread's) waits; a second one returns at once.
                let closer = {
                    let c = c.clone();
                    thread::spawn(move || c.close(closed_error()))
                };
                until(|| lock(&c.state).closed.is_some());
                c.close(closed_error());
                c.quiesce();
                closer.join().unwrap();
            } else {
                c.set_listener(Box::new(|_| {}));
                c.quiesce();
            }
            assert!(
                !inside.load(SeqCst),
                "the old listener runs after quiesce (close {close})"
            );
            retired.store(true, SeqCst);
            resolver.join().unwrap();
            assert_eq!(late.load(SeqCst), 0, "the old listener ran after quiesce");
        }
    }

    /// `quiesce` from inside the listener (a replacement made by the listener itself) cannot
    /// wait for the call it is in: it returns.
    #[test]
    fn quiesce_from_the_listener_returns() {
        let c = Confirms::new();
        let calls = Arc::new(AtomicUsize::new(0));
        {
            let (me, calls) = (Arc::downgrade(&c), calls.clone());
            c.set_listener(Box::new(move |_| {
                calls.fetch_add(1, SeqCst);
                if let Some(c) = me.upgrade() {
                    c.set_listener(Box::new(|_| {}));
                    c.quiesce();
                }
            }));
        }
        c.begin(false);
        c.resolve(&[1], true);
        assert_eq!(calls.load(SeqCst), 1);
    }

    #[test]
    fn c7_close_fails_waits_and_handles_and_drops_pending() {
        let (c, log) = recorded();
        let (_, h1) = c.begin(true);
        let (_, h2) = c.begin(true);
        let (h1, h2) = (h1.unwrap(), h2.unwrap());
        c.resolve(&[2], true);
        assert_eq!(take(&log), [one(2, true)]);

        let waiter = {
            let c = Arc::clone(&c);
            thread::spawn(move || c.wait(LONG))
        };
        let blocked = {
            let h1 = Arc::new(h1);
            let h = Arc::clone(&h1);
            (h1, thread::spawn(move || h.wait(LONG)))
        };
        until(|| c.waiters() == 1 && lock(&blocked.0.slot.inner).blocked == 1);
        let why = closed_error();
        c.close(why.clone());

        assert_eq!(waiter.join().unwrap(), Err(why.clone()));
        assert_eq!(blocked.1.join().unwrap(), Err(why.clone()));
        assert_eq!(blocked.0.try_outcome(), Some(Err(why.clone())));
        assert_eq!(h2.try_outcome(), Some(Ok(true))); // settled before the close
        assert_eq!(c.pending(), 0);

        // Later resolves are ignored; later waits and handles fail.
        c.resolve(&[1], true);
        assert!(take(&log).is_empty());
        assert_eq!(blocked.0.try_outcome(), Some(Err(why.clone())));
        assert_eq!(c.wait(LONG), Err(why.clone()));
        let (seq, h3) = c.begin(true);
        assert_eq!(seq, 3);
        assert_eq!(h3.unwrap().wait(LONG), Err(why.clone()));
        assert_eq!(c.pending(), 0);
        c.close(Error::closed(false, None)); // the first close counts
        assert_eq!(c.wait(LONG), Err(why));
        // The listener went with the close (it may hold the channel): the log is ours alone.
        assert_eq!(Arc::strong_count(&log), 1);
    }

    #[test]
    fn c5_listener_may_publish_and_resolve_reentrantly() {
        let c = Confirms::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sink, weak) = (Arc::clone(&log), Arc::downgrade(&c));
        c.set_listener(Box::new(move |r: Confirm| {
            lock(&sink).push(r);
            // Publish again from inside, on the same channel and thread, up to number 4.
            let c = weak.upgrade().unwrap();
            if c.next_seq() <= 4 {
                let (seq, _) = c.begin(false);
                c.resolve(&[seq], seq % 2 == 0);
            }
        }));
        c.begin(false);
        c.resolve(&[1], true);
        assert_eq!(
            take(&log),
            [one(1, true), one(2, true), one(3, false), one(4, true)]
        );
        assert_eq!(c.pending(), 0);
        assert_eq!(c.wait(Duration::ZERO), Ok(false));
    }

    #[test]
    fn c5_listener_may_replace_itself() {
        let c = Confirms::new();
        let (first, second) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Mutex::new(Vec::new())),
        );
        let (sink, sink2, weak) = (Arc::clone(&first), Arc::clone(&second), Arc::downgrade(&c));
        c.set_listener(Box::new(move |r: Confirm| {
            lock(&sink).push(r);
            let sink2 = Arc::clone(&sink2);
            weak.upgrade()
                .unwrap()
                .set_listener(Box::new(move |r| lock(&sink2).push(r)));
        }));
        for _ in 0..4 {
            c.begin(false);
        }
        // 1 pending: one batch of three single reports; the first replaces the listener.
        c.resolve(&[2, 3, 4], true);
        assert_eq!(take(&first), [one(2, true)]);
        assert_eq!(take(&second), [one(3, true), one(4, true)]);
        c.resolve(&[1], false);
        assert!(take(&first).is_empty());
        assert_eq!(take(&second), [one(1, false)]);
        // The replaced listener was dropped, with its captures.
        assert_eq!(Arc::strong_count(&first), 1);
    }

    #[test]
    fn c5_listener_panic_does_not_break_later_reports() {
        let c = Confirms::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        c.set_listener(Box::new(move |r: Confirm| {
            if r.seq == 2 {
                panic!("listener panics on purpose");
            }
            lock(&sink).push(r);
        }));
        for _ in 0..4 {
            c.begin(false);
        }
        c.resolve(&[1], true);
        c.resolve(&[2], true);
        c.resolve(&[4], false);
        c.resolve(&[3], true);
        assert_eq!(take(&log), [one(1, true), one(4, false), one(3, true)]);
        assert_eq!(c.wait(Duration::ZERO), Ok(false));
        c.begin(false);
        c.resolve(&[5], true);
        assert_eq!(take(&log), [one(5, true)]);
    }

    #[test]
    fn c5_listener_calls_never_overlap_across_threads() {
        const THREADS: usize = 4;
        const EACH: usize = 3000;
        const TOTAL: usize = THREADS * EACH;
        const PENDING: u8 = 0;
        const ACK: u8 = 1;
        const NACK: u8 = 2;
        let c = Confirms::new();
        // Each number's outcome, stored by its worker before it resolves the number.
        let given: Arc<Vec<AtomicU8>> = Arc::new((0..=TOTAL).map(|_| AtomicU8::new(0)).collect());
        let busy = Arc::new(AtomicBool::new(false));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let covered = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(Mutex::new(Vec::<String>::new()));
        {
            let (busy, overlaps) = (Arc::clone(&busy), Arc::clone(&overlaps));
            let (covered, faults, given) = (
                Arc::clone(&covered),
                Arc::clone(&faults),
                Arc::clone(&given),
            );
            // The listener's own record: calls never overlap, so it needs no lock.
            let mut reported = vec![false; TOTAL + 1];
            let mut low = 0; // every number ≤ low is reported
            c.set_listener(Box::new(move |r: Confirm| {
                if busy.swap(true, SeqCst) {
                    overlaps.fetch_add(1, SeqCst);
                }
                let seq = usize::try_from(r.seq.get()).unwrap();
                let nums: Vec<usize> = if r.multiple {
                    (low + 1..=seq).filter(|&n| !reported[n]).collect()
                } else {
                    vec![seq]
                };
                if r.multiple && nums.len() < 2 {
                    lock(&faults).push(format!("{r:?} covers {nums:?}"));
                }
                for n in nums {
                    let want = if r.ack { ACK } else { NACK };
                    match given[n].load(SeqCst) {
                        PENDING => lock(&faults).push(format!("{r:?} covers pending {n}")),
                        got if got != want => lock(&faults).push(format!("{r:?} wrong at {n}")),
                        _ if reported[n] => lock(&faults).push(format!("{n} reported twice")),
                        _ => {
                            reported[n] = true;
                            covered.fetch_add(1, SeqCst);
                        }
                    }
                }
                while low < TOTAL && reported[low + 1] {
                    low += 1;
                }
                if r.seq.get().is_multiple_of(64) {
                    thread::yield_now(); // widen the window another dispatcher would overlap
                }
                busy.store(false, SeqCst);
            }));
        }
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (c, given, start) = (Arc::clone(&c), Arc::clone(&given), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let mut held = Vec::new();
                    for i in 0..EACH {
                        let (seq, _) = c.begin(false);
                        held.push(seq);
                        // Mostly one at a time, sometimes two; acks and nacks mixed.
                        if i == EACH - 1 || (i + t) % 3 != 0 {
                            let ack = held[0] % 5 != 0;
                            for &s in &held {
                                let s = usize::try_from(s).unwrap();
                                given[s].store(if ack { ACK } else { NACK }, SeqCst);
                            }
                            c.resolve(&held, ack);
                            held.clear();
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(overlaps.load(SeqCst), 0, "listener calls overlapped");
        assert_eq!(*lock(&faults), Vec::<String>::new());
        assert_eq!(c.pending(), 0);
        assert_eq!(covered.load(SeqCst), TOTAL, "reports lost");
    }

    /// A waker that counts its wakes and unparks the thread that made it.
    struct Unpark {
        thread: thread::Thread,
        wakes: AtomicUsize,
    }

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, SeqCst);
            self.thread.unpark();
        }
    }

    /// Polls `fut` to completion on this thread, parking between polls.
    fn block_on<F: Future + Unpin>(mut fut: F, unpark: &Arc<Unpark>) -> F::Output {
        let waker = Waker::from(Arc::clone(unpark));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = Pin::new(&mut fut).poll(&mut cx) {
                return out;
            }
            thread::park();
        }
    }

    #[test]
    fn handle_wait_try_outcome_and_future() {
        fn assert_traits<T: Send + Sync + Unpin + fmt::Debug>() {}
        assert_traits::<Confirmation>();

        let c = Confirms::new();
        let (s1, h1) = c.begin(true);
        let (_, none) = c.begin(false);
        assert!(none.is_none());
        let (_, h3) = c.begin(true);
        let (h1, h3) = (h1.unwrap(), h3.unwrap());
        assert_eq!((s1, h1.seq().get(), h3.seq().get()), (1, 1, 3));
        assert_eq!(h1.try_outcome(), None);
        assert!(format!("{h1:?}").contains("seq: 1"));
        let err = h1.wait(Duration::from_millis(5)).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Timeout);

        // Blocking wait on another thread.
        let h1 = Arc::new(h1);
        let blocked = {
            let h1 = Arc::clone(&h1);
            thread::spawn(move || h1.wait(LONG))
        };
        until(|| lock(&h1.slot.inner).blocked == 1);
        c.resolve(&[1, 2], true);
        assert_eq!(blocked.join().unwrap(), Ok(true));
        assert_eq!(h1.try_outcome(), Some(Ok(true)));
        assert_eq!(h1.wait(Duration::ZERO), Ok(true));

        // As a Future: pending, then woken by a resolve on another thread.
        let unpark = Arc::new(Unpark {
            thread: thread::current(),
            wakes: AtomicUsize::new(0),
        });
        let mut h3 = h3;
        {
            let waker = Waker::from(Arc::clone(&unpark));
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut h3).poll(&mut cx).is_pending());
        }
        let resolver = {
            let c = Arc::clone(&c);
            thread::spawn(move || c.resolve(&[3], false))
        };
        assert_eq!(block_on(&mut h3, &unpark), Ok(false));
        resolver.join().unwrap();
        assert_eq!(unpark.wakes.load(SeqCst), 1);
        // Ready again when polled again; the handle still answers.
        assert_eq!(block_on(&mut h3, &unpark), Ok(false));
        assert_eq!(h3.try_outcome(), Some(Ok(false)));

        // A future pending at the close completes with the close error.
        let (_, h4) = c.begin(true);
        let mut h4 = h4.unwrap();
        {
            let waker = Waker::from(Arc::clone(&unpark));
            assert!(Pin::new(&mut h4)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
        }
        c.close(closed_error());
        assert_eq!(unpark.wakes.load(SeqCst), 2);
        assert_eq!(block_on(&mut h4, &unpark), Err(closed_error()));
    }

    #[cfg(not(loom))]
    #[test]
    fn handle_future_on_tokio() {
        let c = Confirms::new();
        let (_, h) = c.begin(true);
        let h = h.unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let c2 = Arc::clone(&c);
            let resolver = std::thread::spawn(move || c2.resolve(&[1], true));
            let out = h.await;
            resolver.join().unwrap();
            out
        });
        assert_eq!(out, Ok(true));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Begin {
            handle: bool,
        },
        /// Raw picks, reduced modulo (issued + 3): some numbers were never issued.
        Resolve {
            picks: Vec<u16>,
            ack: bool,
        },
        Wait,
        Close,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<bool>().prop_map(|handle| Op::Begin { handle }),
            4 => (proptest::collection::vec(any::<u16>(), 0..6), any::<bool>())
                .prop_map(|(picks, ack)| Op::Resolve { picks, ack }),
            1 => Just(Op::Wait),
        ]
    }

    /// What the tracker must have done, by the rules.
    #[derive(Default)]
    struct Model {
        issued: u64,
        outcome: BTreeMap<u64, bool>,
        nacked: bool,
        closed: bool,
    }

    proptest! {
        #[test]
        fn prop_each_number_reported_once_and_multiple_never_covers_pending(
            ops in proptest::collection::vec(op(), 0..80),
            close_at in proptest::option::of(0_usize..80),
        ) {
            let (c, log) = recorded();
            let why = closed_error();
            let mut m = Model::default();
            let mut handles: Vec<Confirmation> = Vec::new();
            let mut reported: BTreeMap<u64, bool> = BTreeMap::new();
            for (i, op) in ops.into_iter().enumerate() {
                let op = if close_at == Some(i) { Op::Close } else { op };
                match op {
                    Op::Begin { handle } => {
                        let (seq, h) = c.begin(handle);
                        m.issued += 1;
                        prop_assert_eq!(seq, m.issued);
                        prop_assert_eq!(h.is_some(), handle);
                        handles.extend(h);
                    }
                    Op::Resolve { picks, ack } => {
                        let mut seqs: Vec<u64> =
                            picks.iter().map(|&p| u64::from(p) % (m.issued + 3)).collect();
                        seqs.sort_unstable();
                        seqs.dedup();
                        c.resolve(&seqs, ack);
                        if !m.closed {
                            for &s in &seqs {
                                if (1..=m.issued).contains(&s) && !m.outcome.contains_key(&s) {
                                    m.outcome.insert(s, ack);
                                    m.nacked |= !ack;
                                }
                            }
                        }
                    }
                    Op::Wait => {
                        let got = c.wait(Duration::ZERO);
                        let want = if m.closed {
                            Err(why.clone())
                        } else if m.outcome.len() == usize::try_from(m.issued).unwrap() {
                            Ok(!std::mem::replace(&mut m.nacked, false))
                        } else {
                            Err(Error::timeout("confirms"))
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::Close => {
                        c.close(why.clone());
                        m.closed = true;
                    }
                }
                // The listener ran synchronously inside the op: check its reports now, while
                // the model's pending set is the one they were made against.
                for r in take(&log) {
                    let covered: Vec<u64> = if r.multiple {
                        (1..=r.seq.get()).filter(|n| !reported.contains_key(n)).collect()
                    } else {
                        vec![r.seq.get()]
                    };
                    prop_assert!(!r.multiple || covered.len() > 1, "{:?} covers {:?}", r, covered);
                    for n in covered {
                        prop_assert!(!reported.contains_key(&n), "{} reported twice", n);
                        // Resolved (so not pending), with this outcome.
                        prop_assert_eq!(m.outcome.get(&n), Some(&r.ack), "{:?} at {}", r, n);
                        reported.insert(n, r.ack);
                    }
                }
                // Every outcome is reported in the call that gives it.
                prop_assert_eq!(&reported, &m.outcome);
                let pending = if m.closed {
                    0
                } else {
                    usize::try_from(m.issued).unwrap() - m.outcome.len()
                };
                prop_assert_eq!(c.pending(), pending);
                prop_assert_eq!(c.next_seq(), m.issued + 1);
                for h in &handles {
                    let want = match m.outcome.get(&h.seq().get()) {
                        Some(&ack) => Some(Ok(ack)),
                        None if m.closed => Some(Err(why.clone())),
                        None => None,
                    };
                    prop_assert_eq!(h.try_outcome(), want);
                }
            }
        }
    }
}

/// loom models of the confirm protocol: outcomes reach the listener exactly once, calls never
/// overlap, and a waiter is never left asleep (a lost wake-up is a loom deadlock).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering::SeqCst;

    /// A listener replaced while a resolver on another thread dispatches to it: once the
    /// replacing thread's `quiesce` returns, the old listener is not running and never runs
    /// again (what lets the C ABI free its userdata), and every report still reaches a
    /// listener.
    #[test]
    fn loom_quiesce_after_replacing_waits_for_the_old_listener() {
        loom::model(|| {
            let c = Confirms::new();
            let running = Arc::new(AtomicBool::new(false));
            let retired = Arc::new(AtomicBool::new(false));
            let late = Arc::new(AtomicBool::new(false));
            let reports = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            {
                let (running, retired, late, reports) = (
                    running.clone(),
                    retired.clone(),
                    late.clone(),
                    reports.clone(),
                );
                c.set_listener(Box::new(move |_| {
                    running.store(true, SeqCst);
                    if retired.load(SeqCst) {
                        late.store(true, SeqCst);
                    }
                    reports.fetch_add(1, SeqCst);
                    running.store(false, SeqCst);
                }));
            }
            let (one, _) = c.begin(false);
            let resolver = {
                let c = c.clone();
                loom::thread::spawn(move || c.resolve(&[one], true))
            };
            {
                let reports = reports.clone();
                c.set_listener(Box::new(move |_| {
                    reports.fetch_add(1, SeqCst);
                }));
            }
            c.quiesce();
            assert!(!running.load(SeqCst), "the old listener runs after quiesce");
            retired.store(true, SeqCst);
            resolver.join().unwrap();
            assert!(!late.load(SeqCst), "the old listener ran after quiesce");
            assert_eq!(
                reports.load(SeqCst),
                1,
                "the report was lost or given twice"
            );
        });
    }

    /// Two threads resolve different numbers while a third waits for all of them.
    #[test]
    fn loom_confirms_reported_once_without_overlap_and_waiters_woken() {
        loom::model(|| {
            let c = Confirms::new();
            let busy = Arc::new(AtomicBool::new(false));
            let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
            {
                let (busy, seen) = (busy.clone(), seen.clone());
                c.set_listener(Box::new(move |r: Confirm| {
                    assert!(!busy.swap(true, SeqCst), "listener calls overlap");
                    seen.lock().unwrap().push(r);
                    busy.store(false, SeqCst);
                }));
            }
            let (one, _) = c.begin(false);
            let (two, _) = c.begin(false);
            let threads: Vec<_> = [(one, true), (two, false)]
                .into_iter()
                .map(|(seq, ack)| {
                    let c = c.clone();
                    loom::thread::spawn(move || c.resolve(&[seq], ack))
                })
                .collect();
            let waiter = {
                let c = c.clone();
                loom::thread::spawn(move || c.wait(Duration::from_secs(60)))
            };
            for t in threads {
                t.join().unwrap();
            }
            // One nack among the outcomes since the last wait.
            assert_eq!(waiter.join().unwrap(), Ok(false));
            // Every number reported exactly once, by one report or a `multiple` one.
            let seen = seen.lock().unwrap().clone();
            let mut covered = Vec::new();
            for r in &seen {
                let seq = r.seq.get();
                if r.multiple {
                    let fresh: Vec<u64> = (1..=seq).filter(|n| !covered.contains(n)).collect();
                    covered.extend(fresh);
                } else {
                    assert!(!covered.contains(&seq), "{seq} reported twice: {seen:?}");
                    covered.push(seq);
                }
            }
            covered.sort_unstable();
            assert_eq!(covered, vec![1, 2], "{seen:?}");
        });
    }
}
