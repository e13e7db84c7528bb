//! `queue`: one queue's ready messages and its consumers' rotation.
//!
//! A [`Queue`] holds ready messages in order (each has a sequence number given at enqueue), the
//! consumers attached to it and their [`Ring`]. Unacked deliveries are not here: the channel
//! that received them keeps them by delivery tag, with the queue they came from, and gives them
//! back through [`Queue::requeue`], which puts each at its original place (ahead of everything
//! enqueued after it; SEMANTICS A5).
//!
//! # Concurrency
//!
//! Per-queue state sits behind one short critical section (a mutex). Every hand-over happens
//! under it, so a queue's messages reach each consumer in queue order. [`Sink::deliver`] runs
//! under it too: a sink may take locks of the layers above (the channel's unacked table) but
//! must never call back into a queue. Credit follows the protocol of [`crate::dispatch`]:
//! a sink that gives credit back across "full" calls [`Queue::wake`].
//!
//! # Limits
//!
//! TTL, length limits, priorities and dead-lettering are not here yet (issue [limits]); the
//! broker refuses their arguments.

use crate::dispatch::Ring;
use crate::error::Error;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A message in a queue, with the per-queue facts about it.
#[derive(Debug)]
pub(crate) struct Entry<M> {
    /// Position in the queue: enqueue order, kept through requeues.
    pub(crate) seq: u64,
    /// The shared message (one allocation for every queue it reached).
    pub(crate) msg: M,
    /// Whether it was delivered before (SEMANTICS A5).
    pub(crate) redelivered: bool,
    /// RabbitMQ 4.3's failed delivery count (SEMANTICS A10).
    pub(crate) failed: u32,
    /// RabbitMQ 4.3's returned delivery count (SEMANTICS A10).
    pub(crate) returned: u32,
}

/// A consumer as a queue sees it. Implemented by the broker layer.
pub(crate) trait Sink<M>: Send + Sync {
    /// A number unique among the broker's consumers.
    fn id(&self) -> u64;
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
    ready: VecDeque<Entry<M>>,
    next_seq: u64,
    ring: Ring<SinkRef<M>>,
    /// Consumers out of the ring for lack of credit, in the order they left it: they rejoin
    /// in that order (SEMANTICS D1).
    parked: VecDeque<SinkRef<M>>,
    /// Every consumer, in registration order.
    consumers: Vec<SinkRef<M>>,
    /// An exclusive consumer holds the queue (SEMANTICS D7).
    exclusive: bool,
    deleted: bool,
}

/// One queue's messages and consumers. See the module docs.
pub(crate) struct Queue<M> {
    state: Mutex<State<M>>,
    /// The queue's id in the durable log, or 0 if nothing of it is logged.
    pub(crate) log_id: u64,
}

/// Why an enqueue did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Deleted;

/// Why a consumer could not be added.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AddError {
    /// The queue is gone.
    Deleted,
    /// An exclusive consumer holds it (SEMANTICS D7).
    ExclusiveHeld,
    /// An exclusive consume asked for a queue that has consumers (SEMANTICS D7).
    HasConsumers,
}

impl<M> Queue<M> {
    /// An empty queue.
    #[cfg(test)]
    pub(crate) fn new() -> Queue<M> {
        Queue::logged(0)
    }

    /// An empty queue whose messages the durable log knows by queue id `log_id` (0: none).
    pub(crate) fn logged(log_id: u64) -> Queue<M> {
        Queue {
            log_id,
            state: Mutex::new(State {
                ready: VecDeque::new(),
                next_seq: 0,
                ring: Ring::new(),
                parked: VecDeque::new(),
                consumers: Vec::new(),
                exclusive: false,
                deleted: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // No user code runs under this lock (sinks are ours), and every change is complete
        // before a call that could panic, so a poisoned lock guards consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `msg` at the tail and dispatches; `Err(Deleted)` if the queue is gone.
    pub(crate) fn enqueue(self: &Arc<Self>, msg: M) -> Result<(), Deleted> {
        let mut st = self.lock();
        if st.deleted {
            return Err(Deleted);
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let entry = Entry {
            seq,
            msg,
            redelivered: false,
            failed: 0,
            returned: 0,
        };
        if st.ready.is_empty() {
            // The common case: hand it straight to a consumer with credit.
            let st = &mut *st;
            if let Some(c) = pick(&mut st.ring, &mut st.parked) {
                if let Some(back) = c.deliver(self, entry) {
                    let c = c.clone();
                    refused(st, &c, back);
                }
                return Ok(());
            }
        }
        st.ready.push_back(entry);
        Ok(())
    }

    /// Puts `entries` back at their original places (SEMANTICS A5) and dispatches. Entries of
    /// a deleted queue are dropped (SEMANTICS Q9). The caller has set their flags and counts.
    pub(crate) fn requeue(self: &Arc<Self>, entries: impl IntoIterator<Item = Entry<M>>) {
        self.requeue_and_wake(entries, &[], false);
    }

    /// [`requeue`](Self::requeue), after first rejoining the parked consumers `woken` (whose
    /// credit just came back), or every parked one with `all` (a channel's global credit came
    /// back), that have credit now; then dispatches once. Credit first, as RabbitMQ does: a
    /// consumer that settles and gets its message back is not passed over for lack of the
    /// credit it was giving back.
    pub(crate) fn requeue_and_wake(
        self: &Arc<Self>,
        entries: impl IntoIterator<Item = Entry<M>>,
        woken: &[u64],
        all: bool,
    ) {
        let mut st = self.lock();
        if st.deleted {
            return;
        }
        unpark(&mut st, |c| all || woken.contains(&c.id()));
        for entry in entries {
            // Requeues land near the front: search from there.
            let at = st.ready.partition_point(|e| e.seq < entry.seq);
            st.ready.insert(at, entry);
        }
        self.dispatch(&mut st);
    }

    /// Adds a consumer at the back of the rotation (an `exclusive` one needs a queue without
    /// consumers and keeps others out) and dispatches.
    pub(crate) fn add_consumer(
        self: &Arc<Self>,
        sink: SinkRef<M>,
        exclusive: bool,
    ) -> Result<(), AddError> {
        let mut st = self.lock();
        if st.deleted {
            return Err(AddError::Deleted);
        }
        if st.exclusive {
            return Err(AddError::ExclusiveHeld);
        }
        if exclusive && !st.consumers.is_empty() {
            return Err(AddError::HasConsumers);
        }
        st.exclusive = exclusive;
        sink.set_parked(false);
        st.consumers.push(sink.clone());
        st.ring.join(sink);
        self.dispatch(&mut st);
        Ok(())
    }

    /// Removes consumer `id`; returns how many remain, or `None` if it was not there.
    pub(crate) fn remove_consumer(&self, id: u64) -> Option<usize> {
        let mut st = self.lock();
        let before = st.consumers.len();
        st.consumers.retain(|c| c.id() != id);
        if st.consumers.len() == before {
            return None;
        }
        st.ring.leave(|c| c.id() == id);
        st.parked.retain(|c| c.id() != id);
        if st.consumers.is_empty() {
            st.exclusive = false;
        }
        Some(st.consumers.len())
    }

    /// After consumer `id` got credit back across "full": rejoins it at the back if it was
    /// parked and has credit now, and dispatches.
    #[cfg(test)]
    pub(crate) fn wake(self: &Arc<Self>, id: u64) {
        self.requeue_and_wake([], &[id], false);
    }

    /// Rejoins every parked consumer that has credit (a channel's global credit returned), in
    /// the order they were parked, and dispatches.
    pub(crate) fn wake_all(self: &Arc<Self>) {
        self.requeue_and_wake([], &[], true);
    }

    fn dispatch(self: &Arc<Self>, st: &mut State<M>) {
        while !st.ready.is_empty() {
            let Some(c) = pick(&mut st.ring, &mut st.parked) else {
                return;
            };
            let entry = st.ready.pop_front().expect("checked non-empty");
            if let Some(back) = c.deliver(self, entry) {
                let c = c.clone();
                refused(st, &c, back);
            }
        }
    }

    /// Takes the head message for `basic_get` (SEMANTICS D9): the entry and the ready count
    /// left, or `None` when empty.
    pub(crate) fn get(&self) -> Option<(Entry<M>, usize)> {
        let mut st = self.lock();
        let entry = st.ready.pop_front()?;
        Some((entry, st.ready.len()))
    }

    /// Takes every ready message out (SEMANTICS Q10); the caller drops them, outside the lock.
    pub(crate) fn purge(&self) -> VecDeque<Entry<M>> {
        std::mem::take(&mut self.lock().ready)
    }

    /// Puts a recovered message at the tail, with its flags and counts (SEMANTICS S2, S3).
    /// Only before the queue has consumers.
    pub(crate) fn restore(&self, msg: M, redelivered: bool, failed: u32, returned: u32) {
        let mut st = self.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        st.ready.push_back(Entry {
            seq,
            msg,
            redelivered,
            failed,
            returned,
        });
    }

    /// Marks the queue deleted: drops its ready messages and returns their number and the
    /// consumers to cancel (SEMANTICS Q9). Later enqueues fail and requeues are dropped.
    pub(crate) fn delete(&self) -> (usize, Vec<SinkRef<M>>) {
        let mut st = self.lock();
        st.deleted = true;
        let n = st.ready.len();
        st.ready.clear();
        st.ring = Ring::new();
        st.parked.clear();
        (n, std::mem::take(&mut st.consumers))
    }

    /// (ready messages, consumers).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.ready.len(), st.consumers.len())
    }

    /// The ready messages' entries, in order, through `f`.
    #[cfg(test)]
    pub(crate) fn with_ready<R>(&self, f: impl FnOnce(&VecDeque<Entry<M>>) -> R) -> R {
        f(&self.lock().ready)
    }
}

/// A sink refused `entry`: it goes back to the head and the sink out of the rotation.
fn refused<M>(st: &mut State<M>, sink: &SinkRef<M>, entry: Entry<M>) {
    st.ready.push_front(entry);
    let id = sink.id();
    st.ring.leave(|c| c.id() == id);
    if !sink.parked() {
        sink.set_parked(true);
        st.parked.push_back(sink.clone());
    }
}

/// The next consumer with credit, borrowed from `ring`; parks the ones without, in order.
fn pick<'r, M>(
    ring: &'r mut Ring<SinkRef<M>>,
    parked: &mut VecDeque<SinkRef<M>>,
) -> Option<&'r SinkRef<M>> {
    ring.pick(
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
            st.ring.join(c);
        } else {
            i += 1;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::dispatch::Credit;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    struct TestSink {
        id: u64,
        credit: Credit,
        parked: AtomicBool,
        got: Mutex<Vec<(u64, u32, bool)>>,
    }

    impl Sink<u32> for TestSink {
        fn id(&self) -> u64 {
            self.id
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
        fn cancelled(&self, _why: &Error) {}
        fn deliver(&self, _q: &Arc<Queue<u32>>, e: Entry<u32>) -> Option<Entry<u32>> {
            self.got.lock().unwrap().push((e.seq, e.msg, e.redelivered));
            None
        }
    }

    fn sink(id: u64, prefetch: u32) -> Arc<TestSink> {
        Arc::new(TestSink {
            id,
            credit: Credit::new(prefetch),
            parked: AtomicBool::new(false),
            got: Mutex::new(Vec::new()),
        })
    }

    fn msgs(s: &TestSink) -> Vec<u32> {
        s.got.lock().unwrap().iter().map(|g| g.1).collect()
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
        let (first, _) = q.get().unwrap();
        let (second, _) = q.get().unwrap();
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
        assert_eq!(q.enqueue(3), Err(Deleted));
        assert_eq!(q.counts(), (0, 0));
    }
}
