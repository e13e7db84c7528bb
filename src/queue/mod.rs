//! `queue`: one queue's ready messages, its limits and its consumers' rotation.
//!
//! A [`Queue`] holds ready messages in order (each has a sequence number given at enqueue), the
//! consumers attached to it and their rotation. Unacked deliveries are not here: the channel
//! that received them keeps them by delivery tag, with the queue they came from, and gives them
//! back through [`Queue::requeue_and_wake`], which puts each at its original place (ahead of
//! everything enqueued after it; SEMANTICS A5), or at the tail when asked.
//!
//! # Limits
//!
//! A queue applies its [`Limits`] (SEMANTICS L, D5, D6) itself:
//!
//! * **Priorities** (L7): ready messages sit in one FIFO per level ([`ready::Ready`]).
//! * **TTL** (L1-L3): each entry carries its deadline, fixed at enqueue (the lower of the
//!   queue's TTL and the message's `expiration`) and kept through requeues. A head found
//!   expired when the queue dispatches, serves a get or is swept ([`Queue::sweep`], the
//!   engine's timer) dies; one behind a live head waits (in a priority queue, behind the head
//!   of the highest non-empty level). A message that cannot be handed
//!   over on arrival and is already due (TTL 0) dies at once.
//! * **Length** (L5, L6): `drop-head` enqueues and then drops heads until within the limits;
//!   `reject-publish(-dlx)` refuses the message ([`Refused::Full`]).
//! * **Delivery limit**: a requeued entry whose failed count exceeds it dies instead.
//! * **Consumer priority** (D5) and **single active consumer** (D6): the rotation is one ring
//!   per consumer priority ([`Rings`]); with a single active consumer only the earliest
//!   registered one is in it.
//!
//! Messages that die go, with their [`Reason`], to the queue's [`Undertaker`] once the lock is
//! released: the broker logs their removal and dead-letters them (SEMANTICS X). A queue
//! without limits never produces one, and pays nothing for them: no clock read, no check
//! beyond a few flag tests.
//!
//! # Concurrency
//!
//! Per-queue state sits behind one short critical section (a mutex). Every hand-over happens
//! under it, so a queue's messages reach each consumer in queue order. [`Sink::deliver`] runs
//! under it too: a sink may take locks of the layers above (the channel's unacked table) but
//! must never call back into a queue. Credit follows the protocol of [`crate::dispatch`]:
//! a sink that gives credit back across "full" requeues or wakes through
//! [`Queue::requeue_and_wake`]. The undertaker runs without the lock and may enqueue into
//! other queues (or this one).
//!
//! # Intake
//!
//! A publisher and a consumer that acks would otherwise take the same lock for every message:
//! the publisher to enqueue, the consumer to get its next message when its credit comes back.
//! While a queue has a backlog, a publish has nothing to decide (the message goes to the tail,
//! no consumer can take it now), so it goes to the *intake* instead: chunks of entries behind a
//! lock of their own, which the state lock's holder empties into `ready` in one trade when
//! it needs those messages (its ready messages ran out) or needs to see them all (counts,
//! `get`, purge, delete, a tail requeue). Logically the intake is the tail of `ready`, so
//! nothing observable changes: every operation that takes the state lock sees the queue as
//! if each message had been enqueued under it. A publish makes its queue entry there, `seq`
//! included, and the chunks go into `ready` whole (see [`ready`]): no entry is copied on the
//! way. A chunk holds at most [`CHUNK`] entries, so however long the backlog grows, its memory
//! comes in pieces the allocator reuses: buffers grown with the backlog were fresh pages each
//! time, and faulting them in was a sixth of the publisher's time on the pipe.
//!
//! The intake is *open* while there is a backlog: a publish that leaves its message in `ready`
//! opens it, and a dispatch that finds `ready` and the intake both empty closes it (the next
//! publisher then tries a hand-over again, under the state lock). `open` is written with both
//! locks held, so a publisher that reads it under the intake's lock, or a dispatcher under the
//! state lock, reads its exact value; while it is false the intake is empty. A message with a
//! deadline, and any message of a queue with a length limit, a TTL or priorities, never uses
//! it: those go through the checks under the state lock (behind whatever the intake holds).

mod ready;

use crate::clock::Clock;
use crate::dispatch::Rings;
use crate::error::Error;
// loom's under `cfg(loom)`: its model of the intake runs this queue.
use crate::sync::blocking::{AtomicBool, AtomicU64, Mutex, MutexGuard};
use crossbeam_utils::CachePadded;
use ready::Ready;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock, PoisonError};

/// A buffer traded out of the intake is kept for the next trade while it has room for at most
/// this many entries (see [`Queue::take_spare`]).
const SPARE_KEPT: usize = 1024;

/// The most entries an intake chunk holds: 64 KiB of 128-byte entries, under glibc's default
/// threshold (128 KiB) above which a block is mapped on its own and unmapped when freed, so a
/// chunk's memory is reused by later ones instead of coming back as fresh pages.
const CHUNK: usize = 512;

/// The deadline of an entry that never expires.
pub(crate) const NEVER: u64 = u64::MAX;

/// What a queue reads of its messages to apply its limits.
pub(crate) trait Payload {
    /// Body bytes, for `x-max-length-bytes` (SEMANTICS L5).
    fn body_len(&self) -> usize;
    /// The `priority` property, 0 when absent (SEMANTICS L7).
    fn priority(&self) -> u8;
    /// The `expiration` property in ms, when set (SEMANTICS L1).
    fn expiration_ms(&self) -> Option<u64>;

    /// [`body_len`](Self::body_len) as a `u64`.
    fn body_bytes(&self) -> u64 {
        u64::try_from(self.body_len()).unwrap_or(u64::MAX)
    }
}

/// A message in a queue, with the per-queue facts about it.
#[derive(Clone, Debug)]
pub(crate) struct Entry<M> {
    /// Position in the queue: enqueue order, kept through requeues (but tail requeues).
    pub(crate) seq: u64,
    /// The shared message (one allocation for every queue it reached).
    pub(crate) msg: M,
    /// When it expires (ms on the broker's clock), or [`NEVER`] (SEMANTICS L1).
    pub(crate) expires_at: u64,
    /// Whether it was delivered before (SEMANTICS A5).
    pub(crate) redelivered: bool,
    /// Its priority level in this queue (0 in a queue without priorities).
    pub(crate) level: u8,
    /// RabbitMQ 4.3's failed delivery count (SEMANTICS A10).
    pub(crate) failed: u32,
    /// RabbitMQ 4.3's returned delivery count (SEMANTICS A10).
    pub(crate) returned: u32,
}

impl<M> Entry<M> {
    /// The same facts about the message, with `msg` as its handle.
    pub(crate) fn with_msg<N>(&self, msg: N) -> Entry<N> {
        Entry {
            seq: self.seq,
            msg,
            expires_at: self.expires_at,
            redelivered: self.redelivered,
            level: self.level,
            failed: self.failed,
            returned: self.returned,
        }
    }

    /// The same entry with its message handle converted by `f`.
    pub(crate) fn map<N>(self, f: impl FnOnce(M) -> N) -> Entry<N> {
        let facts = self.with_msg(());
        facts.with_msg(f(self.msg))
    }

    /// A message outside any queue (a direct reply-to delivery, SEMANTICS R2).
    pub(crate) fn bare(msg: M) -> Entry<M> {
        Entry {
            seq: 0,
            msg,
            expires_at: NEVER,
            redelivered: false,
            level: 0,
            failed: 0,
            returned: 0,
        }
    }
}

/// `x-overflow` (SEMANTICS L6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Enqueue, then drop (and dead-letter) heads until within the limits.
    #[default]
    DropHead,
    /// Refuse the message.
    RejectPublish,
    /// Refuse the message and dead-letter it.
    RejectPublishDlx,
}

/// A queue's limits (SEMANTICS L, D6 and the delivery limit); the default has none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `x-message-ttl` in ms.
    pub(crate) message_ttl_ms: Option<u64>,
    /// `x-max-length`: ready messages.
    pub(crate) max_length: Option<u64>,
    /// `x-max-length-bytes`: body bytes of ready messages.
    pub(crate) max_length_bytes: Option<u64>,
    /// `x-overflow`.
    pub(crate) overflow: Overflow,
    /// Priority levels: `x-max-priority` + 1, or 1 (0 counts as 1).
    pub(crate) priority_levels: usize,
    /// `x-delivery-limit`: the failed count a message may reach and still be requeued.
    pub(crate) delivery_limit: Option<u32>,
    /// `x-single-active-consumer`.
    pub(crate) single_active: bool,
}

impl Limits {
    fn has_length_limit(&self) -> bool {
        self.max_length.is_some() || self.max_length_bytes.is_some()
    }

    /// Whether `len` ready messages of `bytes` body bytes exceed the length limits.
    fn over(&self, len: usize, bytes: u64) -> bool {
        self.max_length
            .is_some_and(|m| u64::try_from(len).unwrap_or(u64::MAX) > m)
            || self.max_length_bytes.is_some_and(|m| bytes > m)
    }
}

/// Why a message died in a queue: the `reason` of its `x-death` entry (SEMANTICS X2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Reason {
    /// Rejected or nacked without requeue.
    Rejected,
    /// Its TTL ran out.
    Expired,
    /// Dropped or refused by a length limit.
    Maxlen,
    /// Requeued once too often (`x-delivery-limit`).
    DeliveryLimit,
}

impl Reason {
    /// The name RabbitMQ gives it in `x-death`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::Maxlen => "maxlen",
            Reason::DeliveryLimit => "delivery_limit",
        }
    }
}

/// A message that died, and why.
pub(crate) type Dead<M> = (Entry<M>, Reason);

/// Takes the messages a queue dropped (logs their removal, dead-letters them). Called without
/// the queue's lock.
pub(crate) trait Undertaker<M>: Send + Sync {
    /// `dead` died in `queue`, in queue order.
    fn bury(&self, queue: &Arc<Queue<M>>, dead: Vec<Dead<M>>);
}

/// A consumer as a queue sees it. Implemented by the broker layer.
pub(crate) trait Sink<M>: Send + Sync {
    /// A number unique among the broker's consumers.
    fn id(&self) -> u64;
    /// Its consumer priority (`x-priority`, SEMANTICS D5).
    fn priority(&self) -> i32 {
        0
    }
    /// Takes credit for one delivery (consumer's and channel's); `false` if either is full.
    fn try_take(&self) -> bool;
    /// Whether the queue parked it (out of the ring for lack of credit). Read and written only
    /// under the queue's lock.
    fn parked(&self) -> bool;
    /// Sets [`parked`](Self::parked), under the queue's lock.
    fn set_parked(&self, parked: bool);
    /// Whether [`try_take`](Self::try_take) would succeed now (nothing taken): a parked sink
    /// rejoins the rotation only then.
    fn has_credit(&self) -> bool;
    /// Whether, after giving back one unit of credit it holds, a
    /// [`try_take`](Self::try_take) would take it again (nothing given back or taken): see
    /// [`Queue::pass_credit`].
    fn could_retake(&self) -> bool;
    /// The queue was deleted (SEMANTICS D10): the sink ends with `why`. Called without the
    /// queue's lock, for each consumer [`Queue::delete`] returned.
    fn cancelled(&self, why: &Error);
    /// Hands `entry` over, under the queue's lock, credit already taken. A sink that can no
    /// longer take messages (its channel is closing) gives its credit back and returns the
    /// entry, which goes back to the head; the queue parks the sink.
    fn deliver(&self, queue: &Arc<Queue<M>>, entry: Entry<M>) -> Option<Entry<M>>;
}

/// A shared consumer handle.
pub(crate) type SinkRef<M> = Arc<dyn Sink<M>>;

struct State<M> {
    ready: Ready<M>,
    rings: Rings<SinkRef<M>>,
    /// Consumers out of the rotation for lack of credit, in the order they left it: they
    /// rejoin in that order (SEMANTICS D1).
    parked: VecDeque<SinkRef<M>>,
    /// Every consumer, in registration order. With a single active consumer only the first
    /// is in the rotation (or parked).
    consumers: Vec<SinkRef<M>>,
    /// An exclusive consumer holds the queue (SEMANTICS D7).
    exclusive: bool,
    deleted: bool,
    /// An empty batch to trade with the intake's (see [`Queue::drain`]).
    spare: Batch<M>,
}

/// Entries published behind a backlog, in `seq` order, with their body bytes.
struct Batch<M> {
    /// The chunk being filled, behind `full`.
    entries: Vec<Entry<M>>,
    /// Chunks of [`CHUNK`] entries, oldest first.
    full: Vec<Vec<Entry<M>>>,
    bytes: u64,
}

impl<M> Default for Batch<M> {
    fn default() -> Self {
        Batch {
            entries: Vec::new(),
            full: Vec::new(),
            bytes: 0,
        }
    }
}

/// The messages published behind a backlog, not yet in `ready`: logically behind the last
/// ready message, in publish order, each entry already made (its `seq` given).
struct Intake<M> {
    /// Whether publishers add to `items` instead of taking the state lock. Written only
    /// with both locks held, so either lock gives its exact value; read without them as a
    /// hint. While it is false `items` is empty.
    open: AtomicBool,
    /// The `seq` of the next entry to join the tail. Only whoever may add at the tail writes
    /// it: the state lock's holder while the intake is closed; while it is open, the holder of
    /// the intake's lock (a publisher, or a state-lock holder moving the intake into `ready`
    /// first). As `open` changes with both locks held, each writer's lock excludes the
    /// others, so plain loads and stores suffice (see [`Queue::tail_seq`]).
    next_seq: AtomicU64,
    items: Mutex<Batch<M>>,
}

/// One queue's messages and consumers. See the module docs.
pub(crate) struct Queue<M> {
    state: Mutex<State<M>>,
    /// Messages published behind a backlog (see "Intake" in the module docs), on a line of
    /// their own: publishers write it, the state lock's holder only at a trade.
    intake: CachePadded<Intake<M>>,
    /// Whether the queue may open its intake at all: no length limit, one priority level,
    /// no queue TTL.
    intake_ok: bool,
    /// The queue's id in the durable log, or 0 if nothing of it is logged.
    pub(crate) log_id: u64,
    limits: Limits,
    clock: Clock,
    /// Whether a ready entry may have a deadline: [`sweep`](Self::sweep) skips the queue
    /// otherwise. Set under the lock when one enters, cleared under it when none is left.
    timed: AtomicBool,
    undertaker: OnceLock<Box<dyn Undertaker<M>>>,
}

/// Why an enqueue did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue is gone.
    Deleted,
    /// A `reject-publish` limit refused it (SEMANTICS L6).
    Full,
}

/// Why a consumer could not be added.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AddError {
    /// The queue is gone.
    Deleted,
    /// An exclusive consumer holds it (SEMANTICS D7).
    ExclusiveHeld,
    /// An exclusive consume asked for a queue that has consumers (SEMANTICS D7).
    HasConsumers,
    /// An exclusive consume asked for a single-active-consumer queue (SEMANTICS D6).
    SingleActive,
}

impl<M: Payload> Queue<M> {
    /// An empty queue without limits, on the system clock.
    #[cfg(test)]
    pub(crate) fn new() -> Queue<M> {
        Queue::with_limits(0, Limits::default(), Clock::system())
    }

    /// An empty queue whose messages the durable log knows by queue id `log_id` (0: none),
    /// applying `limits` with time from `clock`.
    pub(crate) fn with_limits(log_id: u64, limits: Limits, clock: Clock) -> Queue<M> {
        let ready = Ready::new(limits.priority_levels);
        Queue {
            log_id,
            state: Mutex::new(State {
                ready,
                rings: Rings::new(),
                parked: VecDeque::new(),
                consumers: Vec::new(),
                exclusive: false,
                deleted: false,
                spare: Batch::default(),
            }),
            intake: CachePadded::new(Intake {
                open: AtomicBool::new(false),
                next_seq: AtomicU64::new(0),
                items: Mutex::new(Batch::default()),
            }),
            intake_ok: !limits.has_length_limit()
                && limits.priority_levels <= 1
                && limits.message_ttl_ms.is_none(),
            limits,
            clock,
            timed: AtomicBool::new(false),
            undertaker: OnceLock::new(),
        }
    }

    /// Sets who takes the messages that die here (once; later calls are ignored). Without
    /// one they are dropped.
    pub(crate) fn set_undertaker(&self, u: Box<dyn Undertaker<M>>) {
        let _ = self.undertaker.set(u);
    }

    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // No user code runs under this lock (sinks are ours), and every change is complete
        // before a call that could panic, so a poisoned lock guards consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The intake's lock (see "Intake" in the module docs).
    fn intake_items(&self) -> MutexGuard<'_, Batch<M>> {
        // As `lock`: nothing under it can panic halfway through a change.
        self.intake
            .items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `dead` to the undertaker; call without the lock. Inlined to its emptiness check:
    /// every enqueue ends here, and nearly always with nothing dead.
    #[inline(always)]
    fn bury(self: &Arc<Self>, dead: Vec<Dead<M>>) {
        if !dead.is_empty() {
            self.bury_some(dead);
        }
    }

    #[cold]
    fn bury_some(self: &Arc<Self>, dead: Vec<Dead<M>>) {
        if let Some(u) = self.undertaker.get() {
            u.bury(self, dead);
        }
    }

    /// The deadline of `msg` entering at `at` (SEMANTICS L1): the lower of the queue's TTL and
    /// the message's `expiration`.
    fn deadline(&self, msg: &M, at: u64) -> u64 {
        let ttl = match (self.limits.message_ttl_ms, msg.expiration_ms()) {
            (None, None) => return NEVER,
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(0),
        };
        // Never NEVER itself: a deadline exists.
        at.saturating_add(ttl).min(NEVER - 1)
    }

    /// A new entry for `msg` entering now with `seq`; the second value is the time read, if
    /// one was.
    #[inline(always)]
    fn entry(&self, st: &State<M>, seq: u64, msg: M) -> (Entry<M>, Option<u64>) {
        let timed = self.limits.message_ttl_ms.is_some() || msg.expiration_ms().is_some();
        let now = timed.then(|| self.clock.now_ms());
        let expires_at = now.map_or(NEVER, |now| self.deadline(&msg, now));
        let level = if st.ready.level_count() > 1 {
            st.ready.level_of(msg.priority())
        } else {
            0
        };
        let entry = Entry {
            expires_at,
            level,
            ..Self::untimed(seq, msg)
        };
        (entry, now)
    }

    /// A new entry for `msg`, without deadline, at level 0.
    #[inline(always)]
    fn untimed(seq: u64, msg: M) -> Entry<M> {
        Entry {
            seq,
            msg,
            expires_at: NEVER,
            redelivered: false,
            level: 0,
            failed: 0,
            returned: 0,
        }
    }

    /// Takes the next `seq` (see [`Intake::next_seq`]); the caller holds the lock that owns it.
    #[inline(always)]
    fn bump_seq(&self) -> u64 {
        let seq = self.intake.next_seq.load(Relaxed);
        self.intake.next_seq.store(seq + 1, Relaxed);
        seq
    }

    /// The `seq` of an entry the state lock's holder adds at the tail: behind every message
    /// published so far, so the intake's move into `ready` first, under the intake's lock
    /// while it is open (a publisher may add meanwhile, and must come behind).
    fn tail_seq(&self, st: &mut State<M>) -> u64 {
        if !self.intake.open.load(Relaxed) {
            return self.bump_seq();
        }
        let seq = {
            let mut intake = self.intake_items();
            std::mem::swap(&mut *intake, &mut st.spare);
            self.bump_seq()
        };
        Self::take_spare(st);
        seq
    }

    /// Moves the intake's messages to the tail of `ready`; with `close`, an empty intake
    /// closes (the caller found `ready` empty: publishers go back to handing over under the
    /// lock). Returns whether anything moved.
    fn drain(&self, st: &mut State<M>, close: bool) -> bool {
        if !self.intake.open.load(Relaxed) {
            return false;
        }
        {
            let mut intake = self.intake_items();
            // A full chunk is set aside only as the next entry goes in: no chunk being filled,
            // nothing at all.
            if intake.entries.is_empty() {
                if close {
                    self.intake.open.store(false, Relaxed);
                    // Idle: a burst's large buffer goes back to the system.
                    st.ready.trim(SPARE_KEPT);
                }
                return false;
            }
            std::mem::swap(&mut *intake, &mut st.spare);
        }
        Self::take_spare(st);
        true
    }

    /// Closes the intake for good (the queue is being deleted), moving what it holds first.
    fn shut(&self, st: &mut State<M>) {
        if !self.intake.open.load(Relaxed) {
            return;
        }
        {
            let mut intake = self.intake_items();
            self.intake.open.store(false, Relaxed);
            std::mem::swap(&mut *intake, &mut st.spare);
        }
        Self::take_spare(st);
    }

    /// Moves the chunks traded out of the intake to the tail of `ready`, whole (see
    /// [`Ready::append_plain`]). A buffer that comes back (`ready`'s old one, when nothing was
    /// ready) becomes the publishers' next chunk unless requeues grew it past [`SPARE_KEPT`].
    fn take_spare(st: &mut State<M>) {
        let Batch {
            entries,
            mut full,
            mut bytes,
        } = std::mem::take(&mut st.spare);
        for chunk in full.drain(..).chain(std::iter::once(entries)) {
            let emptied = st.ready.append_plain(chunk, std::mem::take(&mut bytes));
            if emptied.capacity() > 0 && emptied.capacity() <= SPARE_KEPT {
                st.spare.entries = emptied;
            }
        }
        // Its own buffer is kept too: the list of chunks is small.
        st.spare.full = full;
    }

    /// Opens the intake: `ready` is not empty, so publishers may add behind it without the
    /// lock (the caller holds it).
    fn open_intake(&self) {
        if self.intake_ok && !self.intake.open.load(Relaxed) {
            let _intake = self.intake_items();
            self.intake.open.store(true, Relaxed);
        }
    }

    /// Adds `msg` to the open intake; gives it back if the intake closed meanwhile.
    fn try_intake(&self, msg: M) -> Option<M> {
        let mut intake = self.intake_items();
        if !self.intake.open.load(Relaxed) {
            return Some(msg);
        }
        let seq = self.bump_seq();
        intake.bytes += msg.body_bytes();
        if intake.entries.len() >= CHUNK {
            // A full chunk waits whole; the next one is allocated at its final size.
            let chunk = std::mem::replace(&mut intake.entries, Vec::with_capacity(CHUNK));
            intake.full.push(chunk);
        }
        intake.entries.push(Self::untimed(seq, msg));
        None
    }

    /// Adds `msg` at the tail (of its priority level) and dispatches.
    ///
    /// # Errors
    ///
    /// [`Refused::Deleted`] if the queue is gone, [`Refused::Full`] if a `reject-publish`
    /// limit refused it (a `reject-publish-dlx` one dead-letters it too; SEMANTICS L6).
    pub(crate) fn enqueue(self: &Arc<Self>, msg: M) -> Result<(), Refused> {
        let mut dead = Vec::new();
        let r = self.enqueue_locked(msg, &mut dead);
        self.bury(dead);
        r
    }

    fn enqueue_locked(self: &Arc<Self>, msg: M, dead: &mut Vec<Dead<M>>) -> Result<(), Refused> {
        let mut msg = msg;
        if self.intake.open.load(Relaxed) && msg.expiration_ms().is_none() {
            // Behind a backlog: no hand-over to try, so no need for the lock.
            match self.try_intake(msg) {
                None => return Ok(()),
                Some(back) => msg = back,
            }
        }
        let mut st = self.lock();
        if st.deleted {
            return Err(Refused::Deleted);
        }
        let st = &mut *st;
        // Behind what the intake holds: a timed message, or one that met it closing.
        let seq = self.tail_seq(st);
        let (entry, now) = self.entry(st, seq, msg);
        let limits = &self.limits;
        if limits.overflow != Overflow::DropHead
            && limits.has_length_limit()
            && limits.over(
                st.ready.len() + 1,
                st.ready.bytes().saturating_add(entry.msg.body_bytes()),
            )
        {
            if limits.overflow == Overflow::RejectPublishDlx {
                dead.push((entry, Reason::Maxlen));
            }
            return Err(Refused::Full);
        }
        if st.ready.is_empty() {
            // The common case: hand it straight to a consumer with credit.
            if let Some(c) = pick(&mut st.rings, &mut st.parked) {
                if let Some(back) = c.deliver(self, entry) {
                    let c = c.clone();
                    self.mark_timed(&back);
                    refused(st, &c, back);
                    self.open_intake();
                }
                return Ok(());
            }
        }
        if now.is_some_and(|now| entry.expires_at <= now) {
            // Due on arrival and nobody took it (TTL 0, SEMANTICS L3).
            dead.push((entry, Reason::Expired));
            return Ok(());
        }
        self.mark_timed(&entry);
        st.ready.push_back(entry);
        self.open_intake();
        self.drop_heads(st, dead);
        Ok(())
    }

    /// Notes that `entry`, about to enter the ready messages, may expire.
    fn mark_timed(&self, entry: &Entry<M>) {
        if entry.expires_at != NEVER && !self.timed.load(Relaxed) {
            self.timed.store(true, Relaxed);
        }
    }

    /// `drop-head`: drops heads until within the length limits (SEMANTICS L6). Inlined to
    /// its check: most queues have no such limit.
    #[inline(always)]
    fn drop_heads(&self, st: &mut State<M>, dead: &mut Vec<Dead<M>>) {
        let limits = &self.limits;
        if limits.overflow == Overflow::DropHead && limits.has_length_limit() {
            self.drop_heads_over(st, dead);
        }
    }

    #[cold]
    fn drop_heads_over(&self, st: &mut State<M>, dead: &mut Vec<Dead<M>>) {
        let limits = &self.limits;
        let before = dead.len();
        while limits.over(st.ready.len(), st.ready.bytes()) {
            let Some(e) = st.ready.pop_front() else { break };
            dead.push((e, Reason::Maxlen));
        }
        if dead.len() != before {
            // The new head may be due: it goes too (SEMANTICS L2).
            self.expire(st, dead, &mut None);
        }
    }

    /// Drops the head while it expired (SEMANTICS L2).
    /// The clock is read only for a head with a deadline, and once per `now` (a call's cache).
    fn expire(&self, st: &mut State<M>, dead: &mut Vec<Dead<M>>, now: &mut Option<u64>) {
        if st.ready.timed() == 0 {
            return;
        }
        while let Some(head) = st.ready.front() {
            if head.expires_at == NEVER
                || head.expires_at > *now.get_or_insert_with(|| self.clock.now_ms())
            {
                return;
            }
            let e = st.ready.pop_front().expect("checked non-empty");
            dead.push((e, Reason::Expired));
        }
    }

    /// Puts `entries` back (SEMANTICS A5), after first rejoining the parked consumers `woken`
    /// (whose credit just came back), or every parked one with `all` (a channel's global credit
    /// came back), that have credit now; then dispatches once. Credit first, as RabbitMQ does:
    /// a consumer that settles and gets its message back is not passed over for lack of the
    /// credit it was giving back.
    ///
    /// Each entry regains its original place, or goes to the tail with `at_tail`; one whose
    /// failed count exceeds the delivery limit dies instead. Entries of a deleted queue are
    /// dropped (SEMANTICS Q9). The caller has set their flags and counts.
    pub(crate) fn requeue_and_wake(
        self: &Arc<Self>,
        entries: impl IntoIterator<Item = Entry<M>>,
        woken: &[u64],
        all: bool,
        at_tail: bool,
    ) {
        let mut dead = Vec::new();
        {
            let mut st = self.lock();
            if st.deleted {
                return;
            }
            unpark(&mut st, |c| all || woken.contains(&c.id()));
            for mut entry in entries {
                if self
                    .limits
                    .delivery_limit
                    .is_some_and(|limit| entry.failed > limit)
                {
                    dead.push((entry, Reason::DeliveryLimit));
                    continue;
                }
                self.mark_timed(&entry);
                if at_tail {
                    // Behind everything published so far, the intake's messages too.
                    entry.seq = self.tail_seq(&mut st);
                    st.ready.push_back(entry);
                } else {
                    st.ready.insert_by_seq(entry);
                }
            }
            self.drop_heads(&mut st, &mut dead);
            self.dispatch(&mut st, &mut dead);
        }
        self.bury(dead);
    }

    /// `entries`, taken from this queue, die for `reason` (rejected without requeue, SEMANTICS
    /// A4): they go to the undertaker, unless the queue was deleted meanwhile (Q9).
    pub(crate) fn dead_letter(self: &Arc<Self>, entries: Vec<Entry<M>>, reason: Reason) {
        if self.lock().deleted {
            return;
        }
        self.bury(entries.into_iter().map(|e| (e, reason)).collect());
    }

    /// Hands ready messages to consumers with credit (after a quiet
    /// [`remove_consumer`](Self::remove_consumer)).
    pub(crate) fn dispatch_now(self: &Arc<Self>) {
        self.requeue_and_wake([], &[], false, false);
    }

    /// Puts `entries` back at their original places and dispatches.
    pub(crate) fn requeue(self: &Arc<Self>, entries: impl IntoIterator<Item = Entry<M>>) {
        self.requeue_and_wake(entries, &[], false, false);
    }

    /// Adds a consumer at the back of its rotation (an `exclusive` one needs a queue without
    /// consumers and keeps others out) and dispatches.
    pub(crate) fn add_consumer(
        self: &Arc<Self>,
        sink: SinkRef<M>,
        exclusive: bool,
    ) -> Result<(), AddError> {
        let mut dead = Vec::new();
        {
            let mut st = self.lock();
            if st.deleted {
                return Err(AddError::Deleted);
            }
            if st.exclusive {
                return Err(AddError::ExclusiveHeld);
            }
            if exclusive && self.limits.single_active {
                return Err(AddError::SingleActive);
            }
            if exclusive && !st.consumers.is_empty() {
                return Err(AddError::HasConsumers);
            }
            st.exclusive = exclusive;
            sink.set_parked(false);
            st.consumers.push(sink.clone());
            if !self.limits.single_active || st.consumers.len() == 1 {
                st.rings.join(sink.priority(), sink);
            }
            self.dispatch(&mut st, &mut dead);
        }
        self.bury(dead);
        Ok(())
    }

    /// Removes consumer `id`; returns how many remain, or `None` if it was not there. With a
    /// single active consumer, the earliest remaining one takes over (SEMANTICS D6) and gets
    /// the ready messages, unless `quiet`: then the caller dispatches later (after requeuing
    /// the removed consumer's deliveries, so the successor finds them at their places, A5).
    pub(crate) fn remove_consumer(self: &Arc<Self>, id: u64, quiet: bool) -> Option<usize> {
        let mut dead = Vec::new();
        let left = {
            let mut st = self.lock();
            let at = st.consumers.iter().position(|c| c.id() == id)?;
            st.consumers.remove(at);
            st.rings.leave(|c| c.id() == id);
            st.parked.retain(|c| c.id() != id);
            if st.consumers.is_empty() {
                st.exclusive = false;
            }
            if self.limits.single_active && at == 0 {
                if let Some(next) = st.consumers.first().cloned() {
                    next.set_parked(false);
                    st.rings.join(next.priority(), next);
                    if !quiet {
                        self.dispatch(&mut st, &mut dead);
                    }
                }
            }
            st.consumers.len()
        };
        self.bury(dead);
        Some(left)
    }

    /// After consumer `id` got credit back across "full": rejoins it at the back if it was
    /// parked and has credit now, and dispatches.
    #[cfg(test)]
    pub(crate) fn wake(self: &Arc<Self>, id: u64) {
        self.requeue_and_wake([], &[id], false, false);
    }

    /// Consumer `id` settled a delivery for good and still holds its unit of credit. If it is
    /// the queue's only consumer (in the rotation, or parked with the rotation empty), the
    /// head is ready and not expired, and the unit given back would be taken again, the
    /// head is handed to it now and the unit stays taken: what giving the unit back and
    /// waking the queue would do (unpark, deliver, and park again at the next refusal),
    /// without the round trip through the credit counters. Returns whether the unit was
    /// used; if not, nothing changed and the caller gives it back.
    pub(crate) fn pass_credit(self: &Arc<Self>, id: u64) -> bool {
        let mut dead = Vec::new();
        let passed = {
            let mut st = self.lock();
            self.pass_to_only(&mut st, &mut dead, id)
        };
        self.bury(dead);
        passed
    }

    fn pass_to_only(self: &Arc<Self>, st: &mut State<M>, dead: &mut Vec<Dead<M>>, id: u64) -> bool {
        if st.deleted {
            return false;
        }
        let is_it = |c: &SinkRef<M>| c.id() == id && c.could_retake();
        // Whether it is parked (the rotation empty), or alone in the rotation.
        let parked = match (st.rings.lone(), st.parked.len()) {
            (Some(c), 0) if is_it(c) => false,
            (None, 1) if st.rings.is_empty() && is_it(&st.parked[0]) => true,
            _ => return false,
        };
        if !self.deliverable_head(st) {
            return false;
        }
        let entry = st.ready.pop_front().expect("checked non-empty");
        let c = if parked {
            &st.parked[0]
        } else {
            st.rings.lone().expect("checked")
        };
        if let Some(back) = c.deliver(self, entry) {
            // Refused as in `dispatch` (the sink gave the unit back).
            let c = c.clone();
            refused(st, &c, back);
            return true;
        }
        if parked && !c.has_credit() && self.deliverable_head(st) {
            // The next head finds it full: a pick would park it again, where it is.
            return true;
        }
        if parked {
            // As `unpark` would have, before the delivery: it rejoins, alone.
            let c = st.parked.pop_front().expect("checked");
            c.set_parked(false);
            st.rings.join(c.priority(), c);
        }
        // On as `dispatch` goes on (expired heads die, more credit takes more).
        self.dispatch(st, dead);
        true
    }

    /// Whether the head (the intake's first message if nothing else is ready) can be handed
    /// over: it exists and has not expired. An expired head dies first, and is dead-lettered
    /// only once the credit is back, as in `requeue_and_wake`: the usual path.
    fn deliverable_head(&self, st: &mut State<M>) -> bool {
        if st.ready.is_empty() {
            self.drain(st, false);
        }
        st.ready
            .front()
            .is_some_and(|head| head.expires_at == NEVER || head.expires_at > self.clock.now_ms())
    }

    /// Rejoins every parked consumer that has credit (a channel's global credit returned), in
    /// the order they were parked, and dispatches.
    pub(crate) fn wake_all(self: &Arc<Self>) {
        self.requeue_and_wake([], &[], true, false);
    }

    /// Hands ready messages to consumers with credit while both last; expired heads die on
    /// the way (SEMANTICS L2).
    fn dispatch(self: &Arc<Self>, st: &mut State<M>, dead: &mut Vec<Dead<M>>) {
        let mut now = None;
        loop {
            let Some(expires_at) = st.ready.front().map(|head| head.expires_at) else {
                if self.drain(st, true) {
                    continue;
                }
                return;
            };
            if expires_at != NEVER && expires_at <= *now.get_or_insert_with(|| self.clock.now_ms())
            {
                let e = st.ready.pop_front().expect("checked non-empty");
                dead.push((e, Reason::Expired));
                continue;
            }
            let Some(c) = pick(&mut st.rings, &mut st.parked) else {
                return;
            };
            let entry = st.ready.pop_front().expect("checked non-empty");
            if let Some(back) = c.deliver(self, entry) {
                let c = c.clone();
                refused(st, &c, back);
            }
        }
    }

    /// Takes the head message for `basic_get` (SEMANTICS D9) and hands `then` the entry and
    /// the ready count left, or `None` when empty. Expired heads die before and after it (the
    /// count left excludes a due head, as RabbitMQ's fetch does); they are dead-lettered once
    /// `then` has run, so the get's delivery tag comes first.
    pub(crate) fn get<R>(self: &Arc<Self>, then: impl FnOnce(Option<(Entry<M>, usize)>) -> R) -> R {
        let mut dead = Vec::new();
        let got = {
            let mut st = self.lock();
            self.drain(&mut st, false);
            let mut now = None;
            self.expire(&mut st, &mut dead, &mut now);
            let got = st.ready.pop_front();
            self.expire(&mut st, &mut dead, &mut now);
            got.map(|e| (e, st.ready.len()))
        };
        let r = then(got);
        self.bury(dead);
        r
    }

    /// Runs the queue's timer at the clock's time: expired heads die (SEMANTICS L2). Cheap for
    /// a queue without deadlines.
    pub(crate) fn sweep(self: &Arc<Self>) {
        if !self.timed.load(Relaxed) {
            return;
        }
        let mut dead = Vec::new();
        {
            let mut st = self.lock();
            self.drain(&mut st, false);
            self.expire(&mut st, &mut dead, &mut None);
            if st.ready.timed() == 0 {
                self.timed.store(false, Relaxed);
            }
            if !dead.is_empty() {
                self.dispatch(&mut st, &mut dead);
            }
        }
        self.bury(dead);
    }

    /// The head's deadline, or [`NEVER`].
    #[cfg(test)]
    pub(crate) fn next_deadline(&self) -> u64 {
        self.lock().ready.next_deadline()
    }

    /// Takes every ready message out (SEMANTICS Q10); the caller drops them, outside the lock.
    pub(crate) fn purge(&self) -> Vec<Entry<M>> {
        let mut st = self.lock();
        self.drain(&mut st, false);
        st.ready.take_all()
    }

    /// Puts a recovered message at the tail, with its flags and counts (SEMANTICS S2, S3),
    /// its deadline counted from `entered_ms`, when it entered the queue (S6). Only before the
    /// queue has consumers.
    pub(crate) fn restore(
        &self,
        msg: M,
        entered_ms: u64,
        redelivered: bool,
        failed: u32,
        returned: u32,
    ) {
        let mut st = self.lock();
        let seq = self.tail_seq(&mut st);
        let (mut entry, _) = self.entry(&st, seq, msg);
        entry.expires_at = self.deadline(&entry.msg, entered_ms);
        entry.redelivered = redelivered;
        entry.failed = failed;
        entry.returned = returned;
        self.mark_timed(&entry);
        st.ready.push_back(entry);
    }

    /// Drops heads until within the length limits (`drop-head`; SEMANTICS L6), as an enqueue
    /// would: for a queue rebuilt over its limits by recovery.
    pub(crate) fn enforce_limits(self: &Arc<Self>) {
        let mut dead = Vec::new();
        {
            let mut st = self.lock();
            self.drop_heads(&mut st, &mut dead);
        }
        self.bury(dead);
    }

    /// Marks the queue deleted: drops its ready messages and returns their number and the
    /// consumers to cancel (SEMANTICS Q9). Later enqueues fail and requeues are dropped.
    pub(crate) fn delete(&self) -> (usize, Vec<SinkRef<M>>) {
        let (dropped, consumers) = {
            let mut st = self.lock();
            self.shut(&mut st);
            st.deleted = true;
            st.rings.clear();
            st.parked.clear();
            (st.ready.take_all(), std::mem::take(&mut st.consumers))
        };
        (dropped.len(), consumers)
    }

    /// (ready messages, consumers).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let mut st = self.lock();
        self.drain(&mut st, false);
        (st.ready.len(), st.consumers.len())
    }

    /// Body bytes of the ready messages.
    #[cfg(test)]
    pub(crate) fn ready_bytes(&self) -> u64 {
        let mut st = self.lock();
        self.drain(&mut st, false);
        st.ready.bytes()
    }

    /// The ready messages' entries, in delivery order, through `f`.
    #[cfg(test)]
    pub(crate) fn with_ready<R>(&self, f: impl FnOnce(Vec<&Entry<M>>) -> R) -> R {
        let mut st = self.lock();
        self.drain(&mut st, false);
        f(st.ready.iter().collect())
    }
}

/// A sink refused `entry`: it goes back to the head and the sink out of the rotation.
fn refused<M: Payload>(st: &mut State<M>, sink: &SinkRef<M>, entry: Entry<M>) {
    st.ready.push_front(entry);
    let id = sink.id();
    st.rings.leave(|c| c.id() == id);
    if !sink.parked() {
        sink.set_parked(true);
        st.parked.push_back(sink.clone());
    }
}

/// The next consumer with credit, borrowed from `rings`; parks the ones without, in order.
fn pick<'r, M>(
    rings: &'r mut Rings<SinkRef<M>>,
    parked: &mut VecDeque<SinkRef<M>>,
) -> Option<&'r SinkRef<M>> {
    rings.pick(
        |c| c.try_take(),
        |c| {
            c.set_parked(true);
            parked.push_back(c);
        },
    )
}

/// Rejoins, in parking order, the parked consumers `which` selects that have credit now.
fn unpark<M>(st: &mut State<M>, mut which: impl FnMut(&SinkRef<M>) -> bool) {
    let mut i = 0;
    while i < st.parked.len() {
        let c = &st.parked[i];
        if which(c) && c.has_credit() {
            let c = st.parked.remove(i).expect("index checked");
            c.set_parked(false);
            st.rings.join(c.priority(), c);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod test_sink {
    //! A consumer for the queue's own tests, unit and loom alike (its locks and flags are
    //! loom's under `cfg(loom)`, as the queue's are).
    use super::*;
    use crate::dispatch::Credit;

    impl Payload for u32 {
        fn body_len(&self) -> usize {
            1
        }
        fn priority(&self) -> u8 {
            0
        }
        fn expiration_ms(&self) -> Option<u64> {
            None
        }
    }

    /// A consumer that records the messages handed to it, and their `seq`s.
    pub(super) struct TestSink<T> {
        pub(super) id: u64,
        pub(super) prio: i32,
        pub(super) credit: Credit,
        pub(super) parked: AtomicBool,
        pub(super) got: Mutex<Vec<T>>,
        pub(super) seqs: Mutex<Vec<u64>>,
    }

    impl<T: Send> Sink<T> for TestSink<T> {
        fn id(&self) -> u64 {
            self.id
        }
        fn priority(&self) -> i32 {
            self.prio
        }
        fn try_take(&self) -> bool {
            self.credit.try_take()
        }
        fn parked(&self) -> bool {
            self.parked.load(Relaxed)
        }
        fn set_parked(&self, parked: bool) {
            self.parked.store(parked, Relaxed)
        }
        fn has_credit(&self) -> bool {
            self.credit.has_room()
        }
        fn could_retake(&self) -> bool {
            self.credit.could_retake()
        }
        fn cancelled(&self, _why: &Error) {}
        fn deliver(&self, _q: &Arc<Queue<T>>, e: Entry<T>) -> Option<Entry<T>> {
            self.seqs.lock().unwrap().push(e.seq);
            self.got.lock().unwrap().push(e.msg);
            None
        }
    }

    pub(super) fn sink(id: u64, prefetch: u32) -> Arc<TestSink<u32>> {
        Arc::new(TestSink {
            id,
            prio: 0,
            credit: Credit::new(prefetch),
            parked: AtomicBool::new(false),
            got: Mutex::new(Vec::new()),
            seqs: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn msgs(s: &TestSink<u32>) -> Vec<u32> {
        s.got.lock().unwrap().clone()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::test_sink::{msgs, sink, TestSink};
    use super::*;
    use crate::clock::Clock;
    use crate::dispatch::Credit;
    use std::sync::atomic::Ordering::Relaxed;

    /// A consumer without credit: what it was handed, and the queue's ready messages, in order.
    fn backlog(q: &Arc<Queue<u32>>, s: &TestSink<u32>) -> (Vec<u32>, Vec<u32>) {
        (msgs(s), q.with_ready(|r| r.iter().map(|e| e.msg).collect()))
    }

    #[test]
    fn intake_is_the_tail_of_the_ready_messages() {
        let q = Arc::new(Queue::new());
        let s = sink(1, 1);
        q.add_consumer(s.clone(), false).unwrap();
        q.enqueue(0).unwrap();
        q.enqueue(1).unwrap();
        assert!(
            q.intake.open.load(Relaxed),
            "a message left in ready opens the intake"
        );
        q.enqueue(2).unwrap();
        q.enqueue(3).unwrap();
        assert_eq!(
            q.intake.items.lock().unwrap().entries.len(),
            2,
            "publishes behind a backlog"
        );
        // Counts see the intake (moved into ready first).
        assert_eq!(q.counts(), (3, 1));
        assert_eq!(backlog(&q, &s), (vec![0], vec![1, 2, 3]));
        q.enqueue(4).unwrap();
        for _ in 0..4 {
            assert!(s.credit.give_back(1));
            q.wake(1);
        }
        assert_eq!(msgs(&s), [0, 1, 2, 3, 4]);
        // All handed over: the intake closed, and the next publish is handed over at once.
        assert!(!q.intake.open.load(Relaxed));
        assert!(s.credit.give_back(1));
        q.wake(1);
        q.enqueue(5).unwrap();
        assert_eq!(msgs(&s), [0, 1, 2, 3, 4, 5]);
    }

    /// Hands `n` messages to `s`, one credit at a time.
    fn serve(q: &Arc<Queue<u32>>, s: &TestSink<u32>, n: usize) {
        for _ in 0..n {
            assert!(s.credit.give_back(1));
            q.wake(1);
        }
    }

    #[test]
    fn a_backlog_moves_in_chunks_and_an_idle_queue_keeps_nothing_large() {
        let q = Arc::new(Queue::new());
        let s = sink(1, 1);
        q.add_consumer(s.clone(), false).unwrap();
        let mut next = 0..;
        let mut publish = |n| {
            for m in next.by_ref().take(n) {
                q.enqueue(m).unwrap();
            }
        };
        let largest = |q: &Queue<u32>| {
            let intake = q.intake.items.lock().unwrap();
            assert!(intake.full.iter().all(|c| c.len() == CHUNK), "full chunks");
            let chunks = intake.full.iter().map(Vec::capacity);
            chunks
                .chain([intake.entries.capacity(), q.lock().ready.largest_buffer()])
                .max()
                .unwrap_or(0)
        };
        // 0 is handed over, 1 waits, then a steady backlog: each batch of 3,000 is published
        // while the one before is served. No buffer grows with it.
        publish(2);
        publish(3_000);
        serve(&q, &s, 1);
        for _ in 0..2 {
            publish(3_000);
            assert!(
                largest(&q) <= SPARE_KEPT,
                "chunks, not one buffer per backlog"
            );
            serve(&q, &s, 3_000);
        }
        assert_eq!(q.counts().0, 3_000);
        assert!(largest(&q) <= SPARE_KEPT);
        // The backlog shrinks to a small batch, then runs out: nothing large is kept.
        publish(10);
        serve(&q, &s, 3_010);
        assert_eq!(msgs(&s).len(), 9_012);
        assert!(!q.intake.open.load(Relaxed));
        let st = q.lock();
        assert!(st.spare.entries.capacity() <= SPARE_KEPT);
        assert!(st.ready.capacity() <= SPARE_KEPT);
        drop(st);
        assert!(largest(&q) <= SPARE_KEPT);
        assert!(msgs(&s).iter().copied().eq(0..9_012), "in publish order");
    }

    /// What the chunked-backlog proptest does to a queue with one consumer of prefetch 1.
    #[derive(Clone, Debug)]
    enum BacklogOp {
        /// Publishes this many messages.
        Publish(u16),
        /// Settles the held delivery this many times (each hands over the next).
        Serve(u16),
        /// Requeues the delivery this far from the last one still out, in place or at the tail.
        Requeue { back: u8, at_tail: bool },
        /// `basic_get` of the head.
        Get,
    }

    /// The reference: ready messages by `seq`, handed over lowest first.
    #[derive(Default)]
    struct BacklogModel {
        ready: std::collections::BTreeMap<u64, u32>,
        next_seq: u64,
        next_msg: u32,
        /// Whether the consumer holds its one unit of credit.
        held: bool,
        /// (seq, msg) handed over, in order.
        delivered: Vec<(u64, u32)>,
        /// Deliveries not requeued yet.
        out: Vec<(u64, u32)>,
    }

    impl BacklogModel {
        fn hand_over(&mut self) {
            if self.held {
                return;
            }
            if let Some((seq, msg)) = self.ready.pop_first() {
                self.held = true;
                self.delivered.push((seq, msg));
                self.out.push((seq, msg));
            }
        }
    }

    fn backlog_op() -> impl proptest::strategy::Strategy<Value = BacklogOp> {
        use proptest::prelude::*;
        prop_oneof![
            (1u16..1_200).prop_map(BacklogOp::Publish),
            (1u16..1_200).prop_map(BacklogOp::Serve),
            (any::<u8>(), any::<bool>())
                .prop_map(|(back, at_tail)| BacklogOp::Requeue { back, at_tail }),
            Just(BacklogOp::Get),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// SEMANTICS A5 and D1 over a backlog long enough to span many intake chunks: the
        /// queue hands over, requeues and serves `get` exactly as a queue ordered by `seq`.
        #[test]
        fn a_chunked_backlog_keeps_the_order_of_a_seq_ordered_queue(
            ops in proptest::collection::vec(backlog_op(), 1..40)
        ) {
            let q = Arc::new(Queue::new());
            let s = sink(1, 1);
            q.add_consumer(s.clone(), false).unwrap();
            let mut m = BacklogModel::default();
            for op in ops {
                match op {
                    BacklogOp::Publish(n) => {
                        for _ in 0..n {
                            q.enqueue(m.next_msg).unwrap();
                            m.ready.insert(m.next_seq, m.next_msg);
                            m.next_seq += 1;
                            m.next_msg += 1;
                            m.hand_over();
                        }
                    }
                    BacklogOp::Serve(n) => {
                        for _ in 0..n {
                            if !m.held {
                                break;
                            }
                            m.out.pop();
                            m.held = false;
                            serve(&q, &s, 1);
                            m.hand_over();
                        }
                    }
                    BacklogOp::Requeue { back, at_tail } => {
                        let Some(at) = m.out.len().checked_sub(1 + usize::from(back) % 4) else {
                            continue;
                        };
                        let (seq, msg) = m.out.remove(at);
                        let entry = Entry { seq, ..Entry::bare(msg) };
                        q.requeue_and_wake([entry], &[], false, at_tail);
                        let seq = if at_tail {
                            m.next_seq += 1;
                            m.next_seq - 1
                        } else {
                            seq
                        };
                        m.ready.insert(seq, msg);
                        m.hand_over();
                    }
                    BacklogOp::Get => {
                        let got = q.get(|g| g.map(|(e, left)| (e.seq, e.msg, left)));
                        let want = m.ready.pop_first().map(|(seq, msg)| (seq, msg, m.ready.len()));
                        proptest::prop_assert_eq!(got, want);
                    }
                }
            }
            let seqs = s.seqs.lock().unwrap().clone();
            let delivered: Vec<(u64, u32)> = seqs.into_iter().zip(msgs(&s)).collect();
            proptest::prop_assert_eq!(delivered, m.delivered);
            let ready: Vec<(u64, u32)> = q.with_ready(|r| r.iter().map(|e| (e.seq, e.msg)).collect());
            proptest::prop_assert_eq!(ready, m.ready.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_growing_backlog_keeps_no_spare_buffer_as_large_as_itself() {
        let q = Arc::new(Queue::new());
        q.enqueue(0).unwrap();
        for m in 1..5_000 {
            q.enqueue(m).unwrap();
        }
        assert_eq!(q.counts(), (5_000, 0));
        assert!(q.lock().spare.entries.capacity() <= SPARE_KEPT);
    }

    #[test]
    fn get_purge_and_delete_see_the_intake() {
        let q = Arc::new(Queue::new());
        let s = sink(1, 1);
        q.add_consumer(s.clone(), false).unwrap();
        for m in 0..5 {
            q.enqueue(m).unwrap();
        }
        assert_eq!(q.get(|g| g.map(|(e, left)| (e.msg, left))), Some((1, 3)));
        assert_eq!(
            q.purge().iter().map(|e| e.msg).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        q.enqueue(5).unwrap();
        q.enqueue(6).unwrap();
        let (dropped, consumers) = q.delete();
        assert_eq!((dropped, consumers.len()), (2, 1));
        assert!(
            !q.intake.open.load(Relaxed),
            "a deleted queue takes nothing"
        );
        assert_eq!(q.enqueue(7), Err(Refused::Deleted));
    }

    #[test]
    fn a_tail_requeue_and_a_timed_message_go_behind_the_intake() {
        let clock = Clock::manual(0);
        let (q, _graves) = limited(Limits::default(), &clock);
        let s = msink(1, 0, 1);
        q.add_consumer(s.clone(), false).unwrap();
        q.enqueue(m(0)).unwrap();
        q.enqueue(m(1)).unwrap();
        q.enqueue(m(2)).unwrap();
        q.enqueue(M {
            exp: Some(60_000),
            ..m(3)
        })
        .unwrap();
        let mut e = q.with_ready(|r| r[0].clone());
        e.msg = m(9);
        q.requeue_and_wake([e], &[], false, true);
        assert_eq!(ids(&q), [1, 2, 3, 9]);
    }

    #[test]
    fn d1_the_only_consumer_passes_its_credit_to_the_next_message() {
        let q = Arc::new(Queue::new());
        let s = sink(1, 1);
        q.add_consumer(s.clone(), false).unwrap();
        assert!(!q.pass_credit(1), "nothing ready");
        for m in 0..4 {
            q.enqueue(m).unwrap();
        }
        assert!(s.parked(), "refused at 1");
        assert!(q.pass_credit(1), "the head takes the unit");
        assert_eq!((msgs(&s), s.credit.used()), (vec![0, 1], 1));
        assert!(s.parked(), "and the next head finds it full again");
        assert!(!q.pass_credit(2), "not the queue's consumer");
        // Nothing ready behind the passed message: it waits in the rotation, not parked.
        let r = Arc::new(Queue::new());
        let one = sink(3, 1);
        r.add_consumer(one.clone(), false).unwrap();
        r.enqueue(0).unwrap();
        r.enqueue(1).unwrap();
        assert!(one.parked());
        assert!(r.pass_credit(3));
        assert_eq!(msgs(&one), [0, 1]);
        assert!(!one.parked());
        r.enqueue(2).unwrap();
        assert!(one.parked(), "refused at 2");
        // With two consumers the round robin decides, not the ack.
        let t = sink(2, 1);
        q.add_consumer(t.clone(), false).unwrap();
        assert_eq!(msgs(&t), [2]);
        assert!(!q.pass_credit(1));
        assert!(!q.pass_credit(2));
        assert_eq!((msgs(&s), msgs(&t)), (vec![0, 1], vec![2]));
        assert_eq!(q.counts(), (1, 2));
    }

    #[test]
    fn d2_round_robin_without_prefetch() {
        let q = Arc::new(Queue::new());
        let (a, b) = (sink(1, 0), sink(2, 0));
        q.add_consumer(a.clone(), false).unwrap();
        q.add_consumer(b.clone(), false).unwrap();
        for m in 0..5 {
            q.enqueue(m).unwrap();
        }
        assert_eq!(msgs(&a), [0, 2, 4]);
        assert_eq!(msgs(&b), [1, 3]);
    }

    #[test]
    fn d3_prefetch_parks_and_wake_resumes() {
        let q = Arc::new(Queue::new());
        let a = sink(1, 1);
        q.add_consumer(a.clone(), false).unwrap();
        for m in 0..3 {
            q.enqueue(m).unwrap();
        }
        assert_eq!(msgs(&a), [0]);
        assert!(a.parked());
        assert_eq!(q.counts(), (2, 1));
        assert!(a.credit.give_back(1));
        q.wake(1);
        assert_eq!(msgs(&a), [0, 1]);
    }

    #[test]
    fn a5_requeue_restores_original_position() {
        let q: Arc<Queue<u32>> = Arc::new(Queue::new());
        for m in 0..4 {
            q.enqueue(m).unwrap();
        }
        let (first, _) = q.get(|g| g).unwrap();
        let (second, _) = q.get(|g| g).unwrap();
        q.requeue([second, first]);
        let order = q.with_ready(|r| r.iter().map(|e| e.msg).collect::<Vec<_>>());
        assert_eq!(order, [0, 1, 2, 3]);
    }

    #[test]
    fn q9_delete_drops_and_refuses() {
        let q = Arc::new(Queue::new());
        let a = sink(1, 1);
        q.add_consumer(a.clone(), false).unwrap();
        q.enqueue(1).unwrap();
        q.enqueue(2).unwrap();
        let (ready, consumers) = q.delete();
        assert_eq!((ready, consumers.len()), (1, 1));
        assert_eq!(q.enqueue(3), Err(Refused::Deleted));
        assert_eq!(q.counts(), (0, 0));
    }

    /// A message with the facts limits read.
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct M {
        id: u32,
        prio: u8,
        exp: Option<u64>,
        len: usize,
    }

    impl Payload for M {
        fn body_len(&self) -> usize {
            self.len
        }
        fn priority(&self) -> u8 {
            self.prio
        }
        fn expiration_ms(&self) -> Option<u64> {
            self.exp
        }
    }

    fn m(id: u32) -> M {
        M {
            id,
            prio: 0,
            exp: None,
            len: 10,
        }
    }

    /// Collects what died, as (id, reason).
    #[derive(Default)]
    struct Graves(Mutex<Vec<(u32, Reason)>>);

    struct Collect(Arc<Graves>);

    impl Undertaker<M> for Collect {
        fn bury(&self, _q: &Arc<Queue<M>>, dead: Vec<Dead<M>>) {
            let mut g = self.0 .0.lock().unwrap();
            g.extend(dead.into_iter().map(|(e, r)| (e.msg.id, r)));
        }
    }

    fn limited(limits: Limits, clock: &Clock) -> (Arc<Queue<M>>, Arc<Graves>) {
        let q = Arc::new(Queue::with_limits(0, limits, clock.clone()));
        let graves = Arc::new(Graves::default());
        q.set_undertaker(Box::new(Collect(graves.clone())));
        (q, graves)
    }

    fn ids(q: &Queue<M>) -> Vec<u32> {
        q.with_ready(|r| r.iter().map(|e| e.msg.id).collect())
    }

    fn dead(g: &Graves) -> Vec<(u32, Reason)> {
        g.0.lock().unwrap().clone()
    }

    fn msink(id: u64, prio: i32, prefetch: u32) -> Arc<TestSink<M>> {
        Arc::new(TestSink {
            id,
            prio,
            credit: Credit::new(prefetch),
            parked: AtomicBool::new(false),
            got: Mutex::new(Vec::new()),
            seqs: Mutex::new(Vec::new()),
        })
    }

    fn got(s: &TestSink<M>) -> Vec<u32> {
        s.got.lock().unwrap().iter().map(|m| m.id).collect()
    }

    #[test]
    fn l7_priorities_serve_highest_first_fifo_within_and_clamp() {
        let clock = Clock::manual(0);
        let limits = Limits {
            priority_levels: 4,
            ..Limits::default()
        };
        let (q, _) = limited(limits, &clock);
        for (id, prio) in [(1, 0), (2, 3), (3, 1), (4, 200), (5, 3), (6, 0)] {
            q.enqueue(M { prio, ..m(id) }).unwrap();
        }
        // 200 is clamped to the top level (3), behind 2 and 5 which came first.
        assert_eq!(ids(&q), [2, 4, 5, 3, 1, 6]);
        let (first, _) = q.get(|g| g).unwrap();
        assert_eq!(first.msg.id, 2);
        q.requeue([first]);
        assert_eq!(
            ids(&q),
            [2, 4, 5, 3, 1, 6],
            "requeue keeps its place in its level"
        );
    }

    #[test]
    fn l7_no_priority_levels_reorder_nothing() {
        let clock = Clock::manual(0);
        let (q, _) = limited(Limits::default(), &clock);
        for (id, prio) in [(1, 0), (2, 9), (3, 5)] {
            q.enqueue(M { prio, ..m(id) }).unwrap();
        }
        assert_eq!(ids(&q), [1, 2, 3]);
    }

    #[test]
    fn l1_l2_ttl_expires_heads_by_the_timer_and_lower_ttl_wins() {
        let clock = Clock::manual(1_000);
        let limits = Limits {
            message_ttl_ms: Some(100),
            ..Limits::default()
        };
        let (q, graves) = limited(limits, &clock);
        q.enqueue(m(1)).unwrap(); // due at 1100
        q.enqueue(M {
            exp: Some(10),
            ..m(2)
        })
        .unwrap(); // due at 1010, but behind 1: waits (L2)
        q.enqueue(M {
            exp: Some(500),
            ..m(3)
        })
        .unwrap(); // queue TTL is lower: due at 1100
        assert_eq!(q.next_deadline(), 1_100);
        clock.advance(std::time::Duration::from_millis(50)).unwrap();
        q.sweep();
        assert_eq!(ids(&q), [1, 2, 3]);
        clock.advance(std::time::Duration::from_millis(50)).unwrap();
        q.sweep();
        assert!(ids(&q).is_empty());
        assert_eq!(
            dead(&graves),
            [
                (1, Reason::Expired),
                (2, Reason::Expired),
                (3, Reason::Expired)
            ]
        );
        assert_eq!(q.next_deadline(), NEVER);
    }

    #[test]
    fn l2_get_never_returns_an_expired_head() {
        let clock = Clock::manual(0);
        let (q, graves) = limited(Limits::default(), &clock);
        q.enqueue(M {
            exp: Some(5),
            ..m(1)
        })
        .unwrap();
        q.enqueue(m(2)).unwrap();
        clock.advance(std::time::Duration::from_millis(5)).unwrap();
        assert_eq!(q.get(|g| g).unwrap().0.msg.id, 2);
        assert_eq!(dead(&graves), [(1, Reason::Expired)]);
    }

    #[test]
    fn l3_ttl_zero_delivered_only_on_arrival() {
        let clock = Clock::manual(0);
        let limits = Limits {
            message_ttl_ms: Some(0),
            ..Limits::default()
        };
        let (q, graves) = limited(limits, &clock);
        let a = msink(1, 0, 1);
        q.add_consumer(a.clone(), false).unwrap();
        q.enqueue(m(1)).unwrap();
        q.enqueue(m(2)).unwrap(); // a is out of credit
        assert_eq!(got(&a), [1]);
        assert!(ids(&q).is_empty());
        assert_eq!(dead(&graves), [(2, Reason::Expired)]);
    }

    #[test]
    fn a5_requeue_keeps_the_original_deadline() {
        let clock = Clock::manual(0);
        let limits = Limits {
            message_ttl_ms: Some(100),
            ..Limits::default()
        };
        let (q, graves) = limited(limits, &clock);
        q.enqueue(m(1)).unwrap();
        let (e, _) = q.get(|g| g).unwrap();
        clock
            .advance(std::time::Duration::from_millis(100))
            .unwrap();
        // Unacked deliveries never expire; back in the queue, it is due.
        q.requeue([e]);
        assert!(ids(&q).is_empty());
        assert_eq!(dead(&graves), [(1, Reason::Expired)]);
    }

    #[test]
    fn l6_drop_head_drops_oldest_by_count_and_bytes() {
        let clock = Clock::manual(0);
        let limits = Limits {
            max_length: Some(2),
            max_length_bytes: Some(25),
            ..Limits::default()
        };
        let (q, graves) = limited(limits, &clock);
        for id in 1..=3 {
            q.enqueue(m(id)).unwrap();
        }
        assert_eq!(ids(&q), [2, 3]);
        q.enqueue(M { len: 20, ..m(4) }).unwrap(); // 10 + 20 > 25: 3 goes too
        assert_eq!(ids(&q), [4]);
        assert_eq!(q.ready_bytes(), 20);
        assert_eq!(
            dead(&graves),
            [
                (1, Reason::Maxlen),
                (2, Reason::Maxlen),
                (3, Reason::Maxlen)
            ]
        );
    }

    #[test]
    fn l6_reject_publish_refuses_and_dlx_variant_buries() {
        let clock = Clock::manual(0);
        for (overflow, buried) in [
            (Overflow::RejectPublish, vec![]),
            (Overflow::RejectPublishDlx, vec![(3, Reason::Maxlen)]),
        ] {
            let limits = Limits {
                max_length: Some(2),
                overflow,
                ..Limits::default()
            };
            let (q, graves) = limited(limits, &clock);
            q.enqueue(m(1)).unwrap();
            q.enqueue(m(2)).unwrap();
            assert_eq!(q.enqueue(m(3)), Err(Refused::Full));
            assert_eq!(ids(&q), [1, 2]);
            assert_eq!(dead(&graves), buried);
        }
    }

    #[test]
    fn l5_max_length_zero_with_drop_head_still_hands_over_to_a_waiting_consumer() {
        let clock = Clock::manual(0);
        let limits = Limits {
            max_length: Some(0),
            ..Limits::default()
        };
        let (q, graves) = limited(limits, &clock);
        let a = msink(1, 0, 1);
        q.add_consumer(a.clone(), false).unwrap();
        q.enqueue(m(1)).unwrap();
        q.enqueue(m(2)).unwrap();
        assert_eq!(got(&a), [1]);
        assert_eq!(dead(&graves), [(2, Reason::Maxlen)]);
    }

    #[test]
    fn delivery_limit_buries_instead_of_requeueing() {
        let clock = Clock::manual(0);
        let limits = Limits {
            delivery_limit: Some(1),
            ..Limits::default()
        };
        let (q, graves) = limited(limits, &clock);
        q.enqueue(m(1)).unwrap();
        let (mut e, _) = q.get(|g| g).unwrap();
        e.failed = 1;
        q.requeue([e]);
        let (mut e, _) = q.get(|g| g).unwrap();
        e.failed = 2;
        q.requeue([e]);
        assert!(ids(&q).is_empty());
        assert_eq!(dead(&graves), [(1, Reason::DeliveryLimit)]);
    }

    #[test]
    fn requeue_at_tail_goes_behind_everything() {
        let clock = Clock::manual(0);
        let (q, _) = limited(Limits::default(), &clock);
        for id in 1..=3 {
            q.enqueue(m(id)).unwrap();
        }
        let (e, _) = q.get(|g| g).unwrap();
        q.requeue_and_wake([e], &[], false, true);
        assert_eq!(ids(&q), [2, 3, 1]);
    }

    #[test]
    fn d5_higher_consumer_priority_first_lower_only_while_blocked() {
        let clock = Clock::manual(0);
        let (q, _) = limited(Limits::default(), &clock);
        let low = msink(1, -5, 0);
        let high = msink(2, 10, 2);
        q.add_consumer(low.clone(), false).unwrap();
        q.add_consumer(high.clone(), false).unwrap();
        for id in 1..=4 {
            q.enqueue(m(id)).unwrap();
        }
        assert_eq!(got(&high), [1, 2]);
        assert_eq!(got(&low), [3, 4]);
        assert!(high.credit.give_back(1));
        q.wake(2);
        q.enqueue(m(5)).unwrap();
        assert_eq!(got(&high), [1, 2, 5]);
    }

    #[test]
    fn d6_single_active_consumer_hands_over_to_the_earliest_remaining() {
        let clock = Clock::manual(0);
        let limits = Limits {
            single_active: true,
            ..Limits::default()
        };
        let (q, _) = limited(limits, &clock);
        let (a, b, c) = (msink(1, 0, 1), msink(2, 9, 0), msink(3, 0, 0));
        q.add_consumer(a.clone(), false).unwrap();
        q.add_consumer(b.clone(), false).unwrap();
        q.add_consumer(c.clone(), false).unwrap();
        for id in 1..=3 {
            q.enqueue(m(id)).unwrap();
        }
        // Only a receives, and only within its credit; b's priority does not matter.
        assert_eq!((got(&a), got(&b), got(&c)), (vec![1], vec![], vec![]));
        assert_eq!(q.remove_consumer(1, false), Some(2));
        assert_eq!(got(&b), [2, 3]);
        assert!(got(&c).is_empty());
        assert_eq!(
            q.add_consumer(msink(4, 0, 0), true),
            Err(AddError::SingleActive)
        );
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The intake (module docs): publishers add behind a backlog while a consumer's credit comes
    //! back and the dispatcher empties the intake and closes it; no message may be lost, handed
    //! over twice or overtake an earlier one of its publisher.
    use super::test_sink::{msgs, sink, TestSink};
    use super::*;

    /// A queue whose consumer (prefetch 1) holds 0 while 1 waits: the intake is open.
    fn backlogged() -> (Arc<Queue<u32>>, Arc<TestSink<u32>>) {
        let q = Arc::new(Queue::with_limits(0, Limits::default(), Clock::manual(0)));
        let c = sink(1, 1);
        q.add_consumer(c.clone(), false).unwrap();
        q.enqueue(0).unwrap();
        q.enqueue(1).unwrap();
        (q, c)
    }

    /// Acks until `c` got `n` messages; returns them, having checked that their positions
    /// were handed out in queue order (which a requeue relies on, A5).
    fn serve_all(q: &Arc<Queue<u32>>, c: &TestSink<u32>, n: usize) -> Vec<u32> {
        while msgs(c).len() < n {
            assert!(c.credit.give_back(1), "the consumer was full");
            q.wake(1);
        }
        let got = msgs(c);
        let seqs = c.seqs.lock().unwrap().clone();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "seqs {seqs:?} of {got:?}"
        );
        got
    }

    #[test]
    fn loom_intake_loses_nothing_and_keeps_each_publishers_order() {
        loom::model(|| {
            let (q, c) = backlogged();
            let publishers: Vec<_> = [&[10, 11][..], &[20][..]]
                .into_iter()
                .map(|batch| {
                    let q = q.clone();
                    loom::thread::spawn(move || {
                        for &m in batch {
                            q.enqueue(m).unwrap();
                        }
                    })
                })
                .collect();
            // The consumer acks meanwhile, which hands over the next message.
            assert!(c.credit.give_back(1));
            q.wake(1);
            for p in publishers {
                p.join().unwrap();
            }
            let got = serve_all(&q, &c, 5);
            assert_eq!(&got[..2], [0, 1]);
            let at = |m| got.iter().position(|&g| g == m).expect("delivered");
            assert!(at(10) < at(11), "publish order kept: {got:?}");
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 10, 11, 20]);
            assert_eq!(q.counts().0, 0);
        });
    }

    #[test]
    fn loom_a_tail_requeue_goes_behind_every_publish_before_it() {
        loom::model(|| {
            let (q, c) = backlogged();
            let publisher = {
                let q = q.clone();
                loom::thread::spawn(move || {
                    q.enqueue(10).unwrap();
                    q.enqueue(11).unwrap();
                })
            };
            // A delivery comes back to the tail (as 5) while the publisher adds.
            q.requeue_and_wake([Entry::bare(5)], &[], false, true);
            publisher.join().unwrap();
            let got = serve_all(&q, &c, 5);
            let at = |m| got.iter().position(|&g| g == m).expect("delivered");
            assert!(at(1) < at(5) && at(10) < at(11), "order: {got:?}");
        });
    }
}
