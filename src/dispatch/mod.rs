//! `dispatch`: the fair scheduler's bookkeeping: credit counters and the round-robin ring.
//!
//! A consumer may take a message while it has *credit*: its prefetch minus its unacked
//! deliveries (SEMANTICS D3), and, when its channel has a global limit, the channel's too (D4).
//! [`Credit`] is that counter. Queues take credit under their own lock when they hand a message
//! over; acks give it back from any thread, without the queue's lock.
//!
//! [`Ring`] is the rotation of SEMANTICS D1: consumers that may take a message, front first; the
//! front one takes the head message and moves to the back; one found without credit is *parked*
//! (out of the ring) until credit returns, then rejoins at the back. A pick is O(1) amortised:
//! each consumer is skipped at most once per parking.
//!
//! # The credit protocol (no lost wake-up)
//!
//! * A queue takes credit ([`Credit::try_take`]) and parks a consumer only under the queue's
//!   lock.
//! * Whoever gives credit back ([`Credit::give_back`]) and sees the counter cross from "full" to
//!   "not full" (the return value) must then take the queue's lock, unpark the consumer and
//!   dispatch. Giving back without a crossing needs nothing more: the consumer was not full, so
//!   it cannot have been parked by a failed take that this give-back happened after.
//!
//! `used` is one atomic word, so all takes and give-backs are totally ordered: a failed take saw
//! `used >= limit`, so the give-back that makes room comes later in that order and is the
//! crossing one; its owner locks the queue after the parker released it, and finds the consumer
//! parked. The loom model below checks it.
//!
//! This module knows nothing of messages or channels: the queue layer owns the ring, the broker
//! layer the counters.

use crate::sync::AtomicU32;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// A credit counter: `used` deliveries out of `limit` (0 = unlimited).
///
/// # Memory ordering
///
/// `try_take` and `give_back` are read-modify-write operations on one word (`AcqRel`), so they
/// are totally ordered; see the module docs for the protocol built on that order.
#[derive(Debug)]
pub(crate) struct Credit {
    /// Deliveries that hold credit: taken and not yet given back.
    used: AtomicU32,
    /// The cap; 0 means unlimited. Changed only by `set_limit` (a global `basic_qos`).
    limit: AtomicU32,
}

impl Credit {
    /// A counter with `limit` (0 = unlimited) and nothing used.
    pub(crate) fn new(limit: u32) -> Credit {
        Credit {
            used: AtomicU32::new(0),
            limit: AtomicU32::new(limit),
        }
    }

    /// Takes one unit if the limit allows; returns whether it did.
    pub(crate) fn try_take(&self) -> bool {
        let mut used = self.used.load(Acquire);
        loop {
            let limit = self.limit.load(Relaxed);
            if limit != 0 && used >= limit {
                return false;
            }
            // A CAS, not a fetch_add: the check and the increment must be one step, or two
            // queues could both take the last unit of a shared (channel) counter.
            match self
                .used
                .compare_exchange_weak(used, used + 1, AcqRel, Acquire)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Gives `n` units back; returns whether the counter went from full to not full, in which
    /// case the caller must wake the queues that may have parked its consumers.
    pub(crate) fn give_back(&self, n: u32) -> bool {
        if n == 0 {
            return false;
        }
        let before = self.used.fetch_sub(n, AcqRel);
        debug_assert!(before >= n, "credit given back twice");
        let limit = self.limit.load(Relaxed);
        limit != 0 && before >= limit && before - n < limit
    }

    /// Whether a [`try_take`](Self::try_take) would succeed now (a snapshot: another thread
    /// may take or give back right after).
    pub(crate) fn has_room(&self) -> bool {
        let limit = self.limit.load(Relaxed);
        limit == 0 || self.used.load(Acquire) < limit
    }

    /// Whether one unit given back now would be taken again by a [`try_take`](Self::try_take)
    /// (a snapshot, as [`has_room`](Self::has_room)): the caller holds a unit, and the count
    /// including it is within the limit.
    pub(crate) fn could_retake(&self) -> bool {
        let limit = self.limit.load(Relaxed);
        limit == 0 || self.used.load(Acquire) <= limit
    }

    /// Undoes a [`try_take`](Self::try_take) made under the queue's lock just now, by a
    /// dispatcher that parks the consumer instead (a second counter refused). Reports no
    /// crossing: the consumer is parked under the same lock, and whoever makes room later
    /// crosses and wakes it.
    pub(crate) fn untake(&self) {
        self.used.fetch_sub(1, AcqRel);
    }

    /// Sets a new limit (0 = unlimited); returns whether consumers may have been parked that
    /// can now take more (the caller wakes their queues, as after a crossing).
    pub(crate) fn set_limit(&self, limit: u32) -> bool {
        let old = self.limit.swap(limit, AcqRel);
        limit == 0 || (old != 0 && limit > old)
    }

    /// Units in use.
    pub(crate) fn used(&self) -> u32 {
        self.used.load(Acquire)
    }

    /// The limit (0 = unlimited).
    #[cfg(test)]
    pub(crate) fn limit(&self) -> u32 {
        self.limit.load(Relaxed)
    }
}

/// The round-robin rotation of consumers that may take a message (SEMANTICS D1), over handles
/// `C` (the queue layer's consumer handles, compared by identity through `same`).
#[derive(Debug)]
pub(crate) struct Ring<C> {
    active: VecDeque<C>,
}

impl<C> Ring<C> {
    /// An empty ring.
    pub(crate) fn new() -> Ring<C> {
        Ring {
            active: VecDeque::new(),
        }
    }

    /// Adds a consumer at the back.
    pub(crate) fn join(&mut self, c: C) {
        self.active.push_back(c);
    }

    /// Removes the consumers for which `is_it` holds; returns whether one was there.
    pub(crate) fn leave(&mut self, mut is_it: impl FnMut(&C) -> bool) -> bool {
        let before = self.active.len();
        self.active.retain(|c| !is_it(c));
        before != self.active.len()
    }

    /// The front consumer that `take` accepts (it took credit), moved to the back and
    /// borrowed from there (no handle is cloned); every consumer refused on the way is moved
    /// out of the ring into `park`.
    pub(crate) fn pick(
        &mut self,
        mut take: impl FnMut(&C) -> bool,
        mut park: impl FnMut(C),
    ) -> Option<&C> {
        if self.active.len() == 1 {
            // A lone consumer (the usual pipe): nothing to rotate.
            if take(&self.active[0]) {
                return self.active.front();
            }
            park(self.active.pop_front()?);
            return None;
        }
        while let Some(c) = self.active.pop_front() {
            if take(&c) {
                self.active.push_back(c);
                return self.active.back();
            }
            park(c);
        }
        None
    }

    /// Whether no consumer is in the ring.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The consumers in rotation order, front first.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &C> {
        self.active.iter()
    }
}

/// The rotations of a queue's consumers by consumer priority (SEMANTICS D5): a message goes
/// to the highest-priority ring that has a consumer with credit, round-robin within it; lower
/// rings get messages only while every consumer of the higher ones is parked.
///
/// Without `x-priority` every consumer is at 0, so there is one ring and a pick costs what a
/// plain [`Ring`] pick does.
#[derive(Debug)]
pub(crate) struct Rings<C> {
    /// Highest priority first; no two with one priority.
    levels: Vec<(i32, Ring<C>)>,
}

impl<C> Rings<C> {
    /// No consumers.
    pub(crate) fn new() -> Rings<C> {
        Rings { levels: Vec::new() }
    }

    /// Adds a consumer of priority `priority` at the back of its ring.
    pub(crate) fn join(&mut self, priority: i32, c: C) {
        match self.levels.binary_search_by(|(p, _)| priority.cmp(p)) {
            Ok(i) => self.levels[i].1.join(c),
            Err(i) => {
                let mut ring = Ring::new();
                ring.join(c);
                self.levels.insert(i, (priority, ring));
            }
        }
    }

    /// Removes the consumers for which `is_it` holds; returns whether one was there.
    pub(crate) fn leave(&mut self, mut is_it: impl FnMut(&C) -> bool) -> bool {
        let mut found = false;
        for (_, ring) in &mut self.levels {
            found |= ring.leave(&mut is_it);
        }
        found
    }

    /// The consumer of the highest ring that `take` accepts, as [`Ring::pick`]; consumers
    /// refused on the way go to `park`.
    pub(crate) fn pick(
        &mut self,
        mut take: impl FnMut(&C) -> bool,
        mut park: impl FnMut(C),
    ) -> Option<&C> {
        if self.levels.len() == 1 {
            // One priority (the usual case): a plain ring.
            return self.levels[0].1.pick(take, park);
        }
        for (_, ring) in &mut self.levels {
            if let Some(c) = ring.pick(&mut take, &mut park) {
                return Some(c);
            }
        }
        None
    }

    /// The consumer in rotation when it is the only one (at any priority; rings emptied by
    /// consumers that left stay behind).
    pub(crate) fn lone(&self) -> Option<&C> {
        let mut found = None;
        for (_, ring) in &self.levels {
            match (ring.active.len(), found) {
                (0, _) => {}
                (1, None) => found = ring.active.front(),
                _ => return None,
            }
        }
        found
    }

    /// Whether no consumer is in rotation.
    pub(crate) fn is_empty(&self) -> bool {
        self.levels.iter().all(|(_, ring)| ring.active.is_empty())
    }

    /// Empties every ring.
    pub(crate) fn clear(&mut self) {
        self.levels.clear();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn credit_counts_to_its_limit_and_reports_crossings() {
        let c = Credit::new(2);
        assert!(c.try_take());
        assert!(c.try_take());
        assert!(!c.try_take(), "SEMANTICS D3: no delivery past the prefetch");
        assert!(c.give_back(1), "full to not full is a crossing");
        assert!(c.try_take());
        assert!(c.give_back(2));
        assert!(!c.give_back(0));
        assert_eq!(c.used(), 0);
    }

    #[test]
    fn unlimited_credit_never_refuses_nor_crosses() {
        let c = Credit::new(0);
        for _ in 0..1000 {
            assert!(c.try_take());
        }
        assert!(!c.give_back(1000));
    }

    #[test]
    fn raising_the_limit_wakes() {
        let c = Credit::new(1);
        assert!(c.try_take());
        assert!(!c.try_take());
        assert!(c.set_limit(2));
        assert!(c.try_take());
        assert!(
            !c.set_limit(1),
            "lowering takes nothing back and wakes nobody"
        );
        assert_eq!(c.limit(), 1);
    }

    #[test]
    fn ring_rotates_and_parks() {
        // SEMANTICS D1: the front one takes and moves to the back; one without credit leaves.
        let mut ring = Ring::new();
        for c in [1, 2, 3] {
            ring.join(c);
        }
        let mut parked = Vec::new();
        assert_eq!(ring.pick(|_| true, |c| parked.push(c)), Some(&1));
        assert_eq!(ring.pick(|&c| c != 2, |c| parked.push(c)), Some(&3));
        assert_eq!(parked, [2]);
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [1, 3]);
        ring.join(2);
        assert_eq!(ring.pick(|_| true, |_| {}), Some(&1));
        assert_eq!(ring.pick(|_| true, |_| {}), Some(&3));
        assert_eq!(ring.pick(|_| true, |_| {}), Some(&2));
        assert!(ring.leave(|&c| c == 3));
        assert!(!ring.leave(|&c| c == 3));
        assert_eq!(ring.pick(|_| false, |_| {}), None);
        assert!(ring.is_empty());
    }

    #[test]
    fn the_lone_consumer_is_found_past_emptied_priority_rings() {
        let mut rings = Rings::new();
        rings.join(5, 1);
        rings.join(0, 2);
        assert_eq!(rings.lone(), None);
        assert!(rings.leave(|&c| c == 1));
        assert_eq!(rings.lone(), Some(&2));
        assert!(rings.leave(|&c| c == 2));
        assert!(rings.is_empty() && rings.lone().is_none());
        rings.join(0, 3);
        rings.join(0, 4);
        assert_eq!(rings.lone(), None);
    }

    #[test]
    fn a_lone_consumer_stays_until_refused() {
        // SEMANTICS D1 with one consumer (the pick's shortcut): it takes every message while
        // it has credit, then leaves the ring for the parked ones.
        let mut ring = Ring::new();
        ring.join(7);
        let mut parked = Vec::new();
        for _ in 0..3 {
            assert_eq!(ring.pick(|_| true, |c| parked.push(c)), Some(&7));
        }
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [7]);
        assert_eq!(ring.pick(|_| false, |c| parked.push(c)), None);
        assert_eq!(parked, [7]);
        assert!(ring.is_empty());
        assert_eq!(ring.pick(|_| true, |c| parked.push(c)), None);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The credit protocol of the module docs: a dispatcher parks a consumer it finds without
    //! credit while an acker gives credit back; the message must still be delivered.
    use super::Credit;
    use loom::sync::{Arc, Mutex};

    struct Queue {
        ready: u32,
        parked: bool,
        delivered: u32,
    }

    /// Under the queue lock: deliver while there is a ready message and credit; park on failure.
    fn dispatch(q: &mut Queue, credit: &Credit) {
        q.parked = false;
        while q.ready > 0 {
            if !credit.try_take() {
                q.parked = true;
                return;
            }
            q.ready -= 1;
            q.delivered += 1;
        }
    }

    #[test]
    fn loom_credit_no_lost_wakeup() {
        loom::model(|| {
            // Prefetch 1, one delivery outstanding, one message waiting.
            let credit = Arc::new(Credit::new(1));
            assert!(credit.try_take());
            let queue = Arc::new(Mutex::new(Queue {
                ready: 1,
                parked: false,
                delivered: 1,
            }));
            let acker = {
                let (credit, queue) = (credit.clone(), queue.clone());
                loom::thread::spawn(move || {
                    if credit.give_back(1) {
                        let mut q = queue.lock().unwrap();
                        if q.parked {
                            dispatch(&mut q, &credit);
                        }
                    }
                })
            };
            // The publisher's enqueue path: dispatch under the lock.
            {
                let mut q = queue.lock().unwrap();
                dispatch(&mut q, &credit);
            }
            acker.join().unwrap();
            let q = queue.lock().unwrap();
            assert_eq!(q.ready, 0, "the waiting message was delivered");
            assert_eq!(q.delivered, 2);
            assert!(credit.used() <= 1, "never past the prefetch");
        });
    }

    #[test]
    fn loom_shared_credit_never_overdrawn() {
        loom::model(|| {
            // Two queues take from one channel-global credit of 1 at once.
            let credit = Arc::new(Credit::new(1));
            let other = {
                let credit = credit.clone();
                loom::thread::spawn(move || credit.try_take())
            };
            let mine = credit.try_take();
            let theirs = other.join().unwrap();
            assert!(mine ^ theirs, "exactly one takes the last unit");
            assert_eq!(credit.used(), 1);
        });
    }
}
