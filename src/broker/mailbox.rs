//! A consumer's mailbox: what its queue hands over, in order, and what else it is told.
//!
//! Two lanes:
//!
//! * **The ring**: a bounded single-producer ring ([`rtrb`]) for the queue's deliveries. A
//!   consumer belongs to one queue, which hands over under its lock, so the ring has one
//!   producer at a time (a mutex that is never contended keeps that true for the type system).
//!   Pushing and popping are a slot write and an index store: no allocation, no
//!   read-modify-write on a line the other side writes. This is the pipe's hot path. A slot
//!   holds a shared message's handle; an owned one (see [`Msg`]) rides a *side ring* beside
//!   it, pushed before its slot and taken after it, so slots stay small for fan-out.
//! * **The lane**: a locked deque for everything else, from any thread: direct reply-to
//!   deliveries, the consumer's end, wake-ups, and queue deliveries that found the ring full
//!   (*overflow*: the mailbox is unbounded, as SEMANTICS D2 and D3 need). While overflow is
//!   pending, later queue deliveries join it, so the ring only ever holds deliveries older
//!   than every pending overflow one and the queue's order holds.
//!
//! The receiver takes the ring's head first, then the lane's events, which it moves to its own
//! batch in one swap (so overflow costs a lock per batch on its side, not per event). Before an
//! `Ended` it looks at the ring again: a delivery pushed before the end is received before it.
//!
//! # Waking
//!
//! A receiver that finds nothing spins briefly, then sets `waiting` and looks again before it
//! sleeps; a producer stores its event, then reads `waiting`. A fence on each side between the
//! store and the load (Dekker's pattern) makes at least one of them see the other: no wake-up
//! is lost. The fences are asymmetric ([`crate::sync::barrier`]): the producer's, paid per
//! event, is a compiler fence; the receiver's, paid before a sleep, is the kernel's barrier
//! across the process. The async receiver registers its waker the same way.

use super::registry::{MessageData, Msg};
use crate::error::Error;
use crate::queue::Entry;
use crate::sync::{barrier, blocking};
use crossbeam_utils::{Backoff, CachePadded};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// Queue deliveries the ring holds (a 48-byte slot each, and 96 bytes in the side ring for an
/// owned message) when nothing bounds them (auto-ack, or no prefetch); more overflow into the
/// lane.
pub(crate) const RING: usize = 64;

/// The most a ring holds: a manual-ack consumer's ring holds its whole prefetch up to this.
pub(crate) const RING_MAX: usize = 256;

/// The ring for a consumer: a manual-ack one never has more queue deliveries waiting than its
/// prefetch, so a ring that size never overflows. (A consumer that falls behind has its whole
/// prefetch waiting; at prefetch 100 a 64-slot ring sent every delivery of the manual-ack
/// pipe through the lane.)
pub(crate) fn ring_slots(no_ack: bool, prefetch: u32) -> usize {
    if no_ack || prefetch == 0 {
        return RING;
    }
    usize::try_from(prefetch).map_or(RING_MAX, |p| p.min(RING_MAX))
}

/// Pause instructions a receiver waits after finding nothing, before it looks again (on top
/// of its backoff; 16 are about 0.4 µs on the machines measured). Looking sooner pulls the
/// ring's tail line, and the slot line being filled, back from the producer between two of its
/// writes, so each push pays a cross-core transfer. Measured on the pipe, 8 runs each: with no
/// floor 5 runs stayed at 1.7-1.9 M/s; with this one all 8 ran at 4.9-5.9 M/s. (Slow streaks
/// that remain come and go with the machine, the issue notes say more.)
const IDLE_PAUSES: u32 = 16;

/// How far ahead a receiver prefetches the message of a waiting delivery. One ahead hides a
/// hot transfer; a receiver that fell behind reads messages that left the caches, and needs
/// several misses in flight at once to catch up.
const PREFETCH_AHEAD: usize = 4;

/// The longest sleep when the heavy fence failed (see [`barrier::heavy`]).
const UNPAIRED: Duration = Duration::from_millis(1);

/// What a consumer's mailbox carries.
pub(crate) enum Event {
    /// A delivery with its tag. The application's [`Delivery`](super::Delivery) is built on
    /// the receiving thread, so the publishing thread touches no reference count of the
    /// channel.
    Delivery(u64, Entry<Msg>),
    /// The consumer ended: cancelled or its channel closed; the error says which.
    Ended(Error),
    /// Wakes a blocked receive without a delivery (an RPC call's cancellation).
    Wake,
}

/// A ring slot: a delivery with its tag, its message shared (`Some`) or owned (`None`: then
/// the message is the next one in the side ring). Owned messages (96 bytes) travel in a ring
/// of their own so that a shared one, as every fan-out delivery is, fills a 48-byte slot:
/// a fan-out publish writes one slot per queue, and each consumer reads its own.
type Item = (u64, Entry<Option<Arc<MessageData>>>);

/// The producer's side: both rings, pushed together under the queue's lock.
struct Sending {
    items: rtrb::Producer<Item>,
    owned: rtrb::Producer<MessageData>,
}

/// An event as the lane keeps it: a delivery's message shared, so that an event is small
/// (a lane grows while its receiver is descheduled, and its events are moved about).
enum Kept {
    Delivery(u64, Entry<Arc<MessageData>>),
    Ended(Error),
    Wake,
}

impl From<Event> for Kept {
    fn from(event: Event) -> Kept {
        match event {
            Event::Delivery(tag, entry) => Kept::Delivery(tag, entry.map(Msg::into_arc)),
            Event::Ended(why) => Kept::Ended(why),
            Event::Wake => Kept::Wake,
        }
    }
}

impl From<Kept> for Event {
    fn from(kept: Kept) -> Event {
        match kept {
            Kept::Delivery(tag, entry) => Event::Delivery(tag, entry.map(Msg::Shared)),
            Kept::Ended(why) => Event::Ended(why),
            Kept::Wake => Event::Wake,
        }
    }
}

/// Lane events, each marked when it is an overflowed queue delivery.
type Events = VecDeque<(Kept, bool)>;

/// The receiver's side.
struct Receiving {
    ring: rtrb::Consumer<Item>,
    /// The owned messages of the ring's `None` slots, in the same order.
    owned: rtrb::Consumer<MessageData>,
    /// Lane events taken in one swap, served in order.
    batch: Events,
    /// Overflowed deliveries taken from the batch since the last report to `pending`.
    taken: usize,
}

/// The wake-up protocol between producers and the receiver (see the module docs), apart
/// from what it guards so that a loom model checks it (`loom_tests`).
struct Doorbell {
    /// A receiver sleeps (or a waker is registered): producers must ring.
    waiting: blocking::AtomicBool,
    /// The async receiver's waker.
    #[cfg(feature = "stream")]
    waker: blocking::Mutex<Option<std::task::Waker>>,
    #[cfg(not(feature = "stream"))]
    waker: blocking::Mutex<()>,
    bell: blocking::Condvar,
}

impl Doorbell {
    fn new() -> Doorbell {
        barrier::init();
        Doorbell {
            waiting: blocking::AtomicBool::new(false),
            #[cfg(feature = "stream")]
            waker: blocking::Mutex::new(None),
            #[cfg(not(feature = "stream"))]
            waker: blocking::Mutex::new(()),
            bell: blocking::Condvar::new(),
        }
    }

    /// After a producer made something visible: wakes a receiver that may sleep.
    #[inline]
    fn ring(&self) {
        // Pairs with the heavy fence in `sleep` / `register`: either this load sees
        // `waiting`, or the receiver's look after its fence sees what was stored before this.
        barrier::light();
        if !self.waiting.load(Ordering::Relaxed) {
            return;
        }
        let slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        // Under the lock, so a receiver between setting `waiting` and sleeping is not missed.
        self.waiting.store(false, Ordering::Relaxed);
        #[cfg(feature = "stream")]
        let waker = { slot }.take();
        #[cfg(not(feature = "stream"))]
        drop(slot);
        self.bell.notify_all();
        #[cfg(feature = "stream")]
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Sleeps until rung or `wait` passes (forever with `None`), unless `idle` (a look at
    /// what producers store) says there is something already.
    fn sleep(&self, idle: impl Fn() -> bool, wait: Option<Duration>) {
        let slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.store(true, Ordering::Relaxed);
        let paired = barrier::heavy();
        if !idle() {
            return;
        }
        // Unpaired (the kernel refused the barrier): a ring may be missed, so look again soon.
        let wait = if paired {
            wait
        } else {
            Some(wait.map_or(UNPAIRED, |d| d.min(UNPAIRED)))
        };
        let slot = match wait {
            None => self.bell.wait(slot).unwrap_or_else(PoisonError::into_inner),
            Some(d) => {
                self.bell
                    .wait_timeout(slot, d)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        drop(slot);
    }

    /// Registers `waker` to be woken by the next ring; returns whether `idle` still holds
    /// after registering (the caller may return `Pending`).
    #[cfg(feature = "stream")]
    fn register(&self, waker: &std::task::Waker, idle: impl Fn() -> bool) -> bool {
        {
            let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
            *slot = Some(waker.clone());
            self.waiting.store(true, Ordering::Relaxed);
        }
        if !barrier::heavy() {
            // Unpaired: a ring may be missed; poll again instead of waiting for it.
            waker.wake_by_ref();
            return false;
        }
        idle()
    }
}

/// A consumer's mailbox. See the module docs.
///
/// The producer's and the receiver's halves sit on lines of their own: each side writes its
/// mutex for every event.
pub(crate) struct Mailbox {
    ring_tx: CachePadded<Mutex<Sending>>,
    rx: CachePadded<Mutex<Receiving>>,
    lane: Mutex<Events>,
    /// Whether the lane may hold something: the receiver locks it only then.
    lane_busy: AtomicBool,
    /// Overflowed deliveries not yet received. Only a producer (holding `ring_tx`) raises
    /// it, so one that reads 0 may use the ring: nothing older is pending.
    pending: AtomicUsize,
    doorbell: Doorbell,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing under these locks can panic halfway through a change.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] if it is free now.
fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Pushes a delivery onto the rings, or gives it back when they are full: an owned message
/// goes into the side ring first, so a receiver that sees its slot finds it. (The side ring
/// holds at most one message more than the ring, for a moment, while the receiver takes a
/// slot and then its message; should it be full then, the delivery takes the lane.)
#[inline]
fn push(tx: &mut Sending, tag: u64, entry: Entry<Msg>) -> Option<Entry<Msg>> {
    if tx.items.is_full() || (matches!(entry.msg, Msg::Owned(_)) && tx.owned.is_full()) {
        return Some(entry);
    }
    // The holder of `tx` is the only producer, and both rings have room.
    let slot = entry.map(|msg| match msg {
        Msg::Shared(arc) => Some(arc),
        Msg::Owned(data) => {
            if tx.owned.push(data).is_err() {
                unreachable!("a side ring found not full took no message");
            }
            None
        }
    });
    if tx.items.push((tag, slot)).is_err() {
        unreachable!("a ring found not full took no slot");
    }
    None
}

impl Mailbox {
    /// A mailbox whose ring holds `slots` queue deliveries (see [`ring_slots`]).
    pub(crate) fn new(slots: usize) -> Mailbox {
        let (items, ring) = rtrb::RingBuffer::new(slots);
        let (owned_tx, owned) = rtrb::RingBuffer::new(slots);
        Mailbox {
            ring_tx: CachePadded::new(Mutex::new(Sending {
                items,
                owned: owned_tx,
            })),
            rx: CachePadded::new(Mutex::new(Receiving {
                ring,
                owned,
                batch: VecDeque::new(),
                taken: 0,
            })),
            lane: Mutex::new(VecDeque::new()),
            lane_busy: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            doorbell: Doorbell::new(),
        }
    }

    /// A delivery from the consumer's queue, after every earlier one.
    #[inline]
    pub(crate) fn deliver(&self, tag: u64, entry: Entry<Msg>) {
        let mut tx = lock(&self.ring_tx);
        let entry = if self.pending.load(Ordering::Acquire) == 0 {
            match push(&mut tx, tag, entry) {
                None => {
                    drop(tx);
                    self.doorbell.ring();
                    return;
                }
                Some(entry) => entry,
            }
        } else {
            entry
        };
        // Overflow, counted before `ring_tx` is released: no later delivery takes the ring
        // while this one is pending.
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.push_lane((Event::Delivery(tag, entry).into(), true));
        drop(tx);
    }

    /// Anything but a queue delivery, from any thread.
    pub(crate) fn post(&self, event: Event) {
        self.push_lane((event.into(), false));
    }

    fn push_lane(&self, event: (Kept, bool)) {
        {
            let mut lane = lock(&self.lane);
            lane.push_back(event);
            self.lane_busy.store(true, Ordering::Release);
        }
        self.doorbell.ring();
    }

    /// Drops every event waiting (the receiving handle is gone). Manual-ack deliveries among
    /// them are the channel's to requeue; auto-ack ones were settled on hand-over.
    pub(crate) fn discard(&self) {
        let mut rx = lock(&self.rx);
        while self.pop(&mut rx).is_some() {}
    }

    /// The next event, if one is there.
    pub(crate) fn try_recv(&self) -> Option<Event> {
        // Never waits: while another thread receives, there is nothing for this caller.
        let mut rx = try_lock(&self.rx)?;
        self.pop(&mut rx)
    }

    /// The next event, waiting at most `timeout` (forever with `None`); `None` on timeout.
    pub(crate) fn recv(&self, timeout: Option<Duration>) -> Option<Event> {
        let mut rx = lock(&self.rx);
        let backoff = Backoff::new();
        // The clock is read only once there is nothing to take: a busy pipe never reads it.
        let mut deadline: Option<Instant> = None;
        loop {
            if let Some(e) = self.pop(&mut rx) {
                return Some(e);
            }
            if !backoff.is_completed() {
                // Not straight back at the ring: see `IDLE_PAUSES`.
                for _ in 0..IDLE_PAUSES {
                    std::hint::spin_loop();
                }
                backoff.snooze();
                continue;
            }
            let wait = match timeout {
                None => None,
                Some(t) => {
                    let now = Instant::now();
                    let at = *deadline.get_or_insert_with(|| now.checked_add(t).unwrap_or(now));
                    if now >= at {
                        return None;
                    }
                    Some(at - now)
                }
            };
            let lane_busy = &self.lane_busy;
            let ring = &rx.ring;
            self.doorbell.sleep(
                || ring.is_empty() && !lane_busy.load(Ordering::Relaxed),
                wait,
            );
        }
    }

    /// The next event; if there is none, registers `waker` to be woken by the next push.
    #[cfg(feature = "stream")]
    pub(crate) fn poll(&self, waker: &std::task::Waker) -> Option<Event> {
        let Some(mut rx) = try_lock(&self.rx) else {
            // Another thread receives: never block an executor; be woken by the next push.
            self.doorbell.register(waker, || true);
            return None;
        };
        loop {
            if let Some(e) = self.pop(&mut rx) {
                return Some(e);
            }
            let (ring, lane_busy) = (&rx.ring, &self.lane_busy);
            if self.doorbell.register(waker, || {
                ring.is_empty() && !lane_busy.load(Ordering::Relaxed)
            }) {
                return None;
            }
        }
    }

    /// Takes the next event: the ring's head, else the batch's, refilled from the lane (see
    /// the module docs). The batch is empty whenever this returns `None`.
    #[inline]
    fn pop(&self, rx: &mut Receiving) -> Option<Event> {
        loop {
            if let Ok((tag, mut entry)) = rx.ring.pop() {
                // A later message's lines start coming while this one is handed over.
                let ahead = rx.ring.cached_slots().min(PREFETCH_AHEAD);
                if let Ok(chunk) = rx.ring.read_chunk(ahead) {
                    let (a, b) = chunk.as_slices();
                    if let Some(Some(arc)) = b.last().or(a.last()).map(|(_, e)| &e.msg) {
                        crate::sync::prefetch(Arc::as_ptr(arc));
                    }
                }
                let msg = match entry.msg.take() {
                    Some(arc) => Msg::Shared(arc),
                    None => match rx.owned.pop() {
                        Ok(data) => Msg::Owned(data),
                        // Its producer pushed it before the slot this receiver just took.
                        Err(_) => unreachable!("an owned slot without its message"),
                    },
                };
                return Some(Event::Delivery(tag, entry.map(|_| msg)));
            }
            if let Some((event, overflow)) = rx.batch.pop_front() {
                if matches!(event, Kept::Ended(_)) && !rx.ring.is_empty() {
                    // Deliveries pushed before the end come first.
                    rx.batch.push_front((event, overflow));
                    continue;
                }
                if overflow {
                    rx.taken += 1;
                }
                let ahead = rx.batch.len().min(PREFETCH_AHEAD);
                if let Some((Kept::Delivery(_, next), _)) = rx.batch.get(ahead.wrapping_sub(1)) {
                    crate::sync::prefetch(Arc::as_ptr(&next.msg));
                }
                if rx.batch.is_empty() && rx.taken > 0 {
                    // Once every pending delivery is taken, the producer may use the ring.
                    self.pending.fetch_sub(rx.taken, Ordering::Release);
                    rx.taken = 0;
                }
                return Some(event.into());
            }
            if !self.lane_busy.load(Ordering::Acquire) {
                return None;
            }
            let mut lane = lock(&self.lane);
            // The batch is empty: swap buffers, so neither side allocates in steady state.
            std::mem::swap(&mut *lane, &mut rx.batch);
            self.lane_busy.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::registry::MessageData;
    use bytes::Bytes;
    use std::sync::Arc;

    fn entry(seq: u64) -> Entry<Msg> {
        let key = seq.to_string();
        let mut e = Entry::bare(Msg::Owned(MessageData::new(None, &key, None, Bytes::new())));
        e.seq = seq;
        e
    }

    #[test]
    fn a_manual_ack_ring_holds_the_whole_prefetch() {
        // SEMANTICS D3: a manual-ack consumer never has more than its prefetch outstanding,
        // so its deliveries never overflow a ring that size; unbounded ones get the default.
        assert_eq!(ring_slots(false, 100), 100);
        assert_eq!(ring_slots(false, 1), 1);
        assert_eq!(ring_slots(true, 100), RING);
        assert_eq!(ring_slots(false, 0), RING);
        assert_eq!(ring_slots(false, u32::MAX), RING_MAX);
    }

    fn tag_of(e: Option<Event>) -> Option<u64> {
        match e {
            Some(Event::Delivery(tag, _)) => Some(tag),
            Some(Event::Ended(_)) => Some(u64::MAX),
            Some(Event::Wake) => Some(0),
            None => None,
        }
    }

    #[test]
    fn overflow_keeps_the_queue_order_and_the_ring_comes_back() {
        let m = Mailbox::new(RING);
        let ring = u64::try_from(RING).expect("small");
        let n = ring * 3;
        for tag in 1..=n {
            m.deliver(tag, entry(tag));
            if tag == ring + 10 {
                // Half the ring drained while overflowing: later deliveries still queue
                // behind the overflow, not in the freed slots.
                for want in 1..=ring / 2 {
                    assert_eq!(tag_of(m.try_recv()), Some(want));
                }
            }
        }
        assert_eq!(m.pending.load(Ordering::Relaxed), RING * 2);
        for want in ring / 2 + 1..=n {
            assert_eq!(tag_of(m.try_recv()), Some(want));
        }
        assert!(m.try_recv().is_none());
        assert_eq!(m.pending.load(Ordering::Relaxed), 0);
        m.deliver(n + 1, entry(n + 1));
        assert!(!m.lane_busy.load(Ordering::Relaxed), "the ring again");
        assert_eq!(tag_of(m.try_recv()), Some(n + 1));
    }

    #[test]
    fn the_end_comes_after_earlier_deliveries() {
        let m = Mailbox::new(RING);
        m.deliver(1, entry(1));
        m.post(Event::Wake);
        m.deliver(2, entry(2));
        m.post(Event::Ended(Error::cancelled("gone")));
        // Ring deliveries first (they were pushed before the lane's events), then the lane.
        assert_eq!(tag_of(m.try_recv()), Some(1));
        assert_eq!(tag_of(m.try_recv()), Some(2));
        assert_eq!(tag_of(m.try_recv()), Some(0));
        assert_eq!(tag_of(m.try_recv()), Some(u64::MAX));
        assert!(m.try_recv().is_none());
    }

    #[test]
    fn an_end_taken_into_the_batch_waits_for_a_later_ring_delivery() {
        let m = Mailbox::new(RING);
        m.post(Event::Wake);
        m.post(Event::Ended(Error::cancelled("gone")));
        // The receiver swaps both into its batch and returns the wake-up...
        assert_eq!(tag_of(m.try_recv()), Some(0));
        // ...then a delivery pushed before the end (as a queue may, racing the close) lands
        // in the ring while the end waits in the batch: it comes first.
        m.deliver(5, entry(5));
        assert_eq!(tag_of(m.try_recv()), Some(5));
        assert_eq!(tag_of(m.try_recv()), Some(u64::MAX));
    }

    #[test]
    fn try_recv_does_not_wait_for_a_blocked_receiver() {
        let m = Arc::new(Mailbox::new(RING));
        let blocked = {
            let m = m.clone();
            std::thread::spawn(move || tag_of(m.recv(Some(Duration::from_secs(10)))))
        };
        // The other thread holds the receiving side while it waits.
        while m.rx.try_lock().is_ok() {
            std::thread::yield_now();
        }
        assert!(
            m.try_recv().is_none(),
            "returned at once, not after the wait"
        );
        m.deliver(3, entry(3));
        assert_eq!(blocked.join().expect("receiver"), Some(3));
    }

    #[test]
    fn discard_empties_every_lane() {
        let m = Mailbox::new(RING);
        let ring = u64::try_from(RING).expect("small");
        for tag in 1..=ring + 5 {
            m.deliver(tag, entry(tag));
        }
        m.post(Event::Wake);
        m.discard();
        assert!(m.try_recv().is_none());
        assert_eq!(m.pending.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn recv_times_out_when_nothing_comes() {
        let m = Mailbox::new(RING);
        assert!(m.recv(Some(Duration::from_millis(5))).is_none());
        m.deliver(7, entry(7));
        assert_eq!(tag_of(m.recv(Some(Duration::from_millis(5)))), Some(7));
    }

    /// Stress: a producer delivers in bursts (overflowing the ring at times) and a second
    /// thread posts wake-ups, while the receiver alternates blocking and polling receives.
    /// Every delivery arrives once, in order, before the end; a lost wake-up shows as a
    /// receive that times out with deliveries outstanding (the producer never pauses that
    /// long).
    #[test]
    fn stress_no_lost_wakeup_and_order_kept() {
        const N: u64 = 200_000;
        let m = Arc::new(Mailbox::new(RING));
        let producer = {
            let m = m.clone();
            std::thread::spawn(move || {
                for tag in 1..=N {
                    let mut e = entry(tag);
                    if tag % 3 == 0 {
                        // Shared messages fill the ring's slots alone, owned ones the side
                        // ring too: both kinds, interleaved, keep their order.
                        e.msg.share();
                    }
                    m.deliver(tag, e);
                    if tag.is_multiple_of(5_000) {
                        // Let the receiver catch up and fall asleep now and then.
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                m.post(Event::Ended(Error::cancelled("done")));
            })
        };
        let poster = {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    m.post(Event::Wake);
                    std::thread::yield_now();
                }
            })
        };
        let mut next = 1;
        let mut i = 0u64;
        loop {
            i += 1;
            let e = if i.is_multiple_of(3) {
                m.try_recv()
            } else {
                let e = m.recv(Some(Duration::from_secs(10)));
                assert!(e.is_some(), "lost wake-up: waiting for {next}");
                e
            };
            match e {
                Some(Event::Delivery(tag, en)) => {
                    assert_eq!(tag, next, "order");
                    assert_eq!(en.seq, tag);
                    assert_eq!(en.msg.routing_key(), tag.to_string(), "its own message");
                    next += 1;
                }
                Some(Event::Ended(_)) => break,
                Some(Event::Wake) | None => {}
            }
        }
        assert_eq!(next, N + 1, "every delivery before the end");
        producer.join().expect("producer");
        poster.join().expect("poster");
        // Wake-ups posted after the end may still wait behind it; once they are taken, no
        // overflowed delivery is counted pending.
        while let Some(e) = m.try_recv() {
            assert!(matches!(e, Event::Wake), "only wake-ups after the end");
        }
        assert_eq!(m.pending.load(Ordering::Relaxed), 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;

    /// The doorbell with a counter standing for the ring's tail (a `Release` store by the one
    /// producer, an `Acquire` load by the receiver): a receiver that finds nothing and sleeps
    /// is always woken by a later push, so it sees both. Without either fence loom finds the
    /// lost wake-up (the receiver sleeps for ever).
    #[test]
    fn loom_a_push_never_misses_a_sleeping_receiver() {
        loom::model(|| {
            let bell = Arc::new(Doorbell::new());
            let tail = Arc::new(AtomicUsize::new(0));
            let producer = {
                let (bell, tail) = (bell.clone(), tail.clone());
                loom::thread::spawn(move || {
                    for n in 1..=2 {
                        tail.store(n, Ordering::Release);
                        bell.ring();
                    }
                })
            };
            let mut seen = 0;
            while seen < 2 {
                let now = tail.load(Ordering::Acquire);
                if now > seen {
                    seen = now;
                    continue;
                }
                bell.sleep(|| tail.load(Ordering::Acquire) == seen, None);
            }
            producer.join().unwrap();
        });
    }
}
