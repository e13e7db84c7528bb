//! Channels: where every AMQP method is called, and where unacked deliveries live.
//!
//! A channel owns its unacked deliveries by tag: a deque indexed by `tag - base` (tags are
//! handed out in order), so an ack is O(1) and `multiple` walks only what it settles. A queue
//! registers a delivery here when it hands it to one of the channel's consumers (under the
//! queue's lock, then this channel's: the lock order is always queue, then channel), and gets
//! it back through [`crate::queue::Queue::requeue`] on nack, reject, close or loss.

use super::args::ConsumeArgs;
use super::confirm::{Confirm, Confirms};
use super::consumer::{ConsumerShared, Delivery, Source};
use super::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use super::publish::Return;
use super::registry::{Dest, ExchangeRec, Msg, QueueRec};
use super::unacked::{Found, Holder, Taken, Unacked, UnackedTable, UNSTAMPED};
use super::{BrokerInner, ConnShared, Connection, Consumer, REPLY_TO};
use crate::dispatch::Credit;
use crate::error::{Error, Input, Scope};
use crate::ids::{count_u32, DeliveryTag, SeqNo};
use crate::message::FieldTable;
use crate::queue::{AddError, Entry, Queue, Reason};
use crate::route::ExchangeType;
use crate::store::{Record, Store};
use crate::topic::check_len;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{
    AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

struct ChanState {
    /// `Some` once closed, with the error that closed it, if any.
    closed: Option<Option<Error>>,
    /// Unacked deliveries by tag.
    unacked: UnackedTable,
    consumers: HashMap<Arc<str>, Arc<ConsumerShared>>,
    /// The per-consumer prefetch given to consumers created from now on (SEMANTICS D3).
    prefetch: u32,
    last_queue: Option<Arc<str>>,
    /// This channel's direct reply-to consumer's token (SEMANTICS R2).
    reply_token: Option<Arc<str>>,
}

/// How a settle call settles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum How {
    Ack,
    /// Reject or nack without requeue: discarded (dead-lettering comes with [limits]).
    Discard,
    /// Nack with requeue: `returned` + 1 (SEMANTICS A10).
    NackRequeue,
    /// Nack with requeue at the tail of the queue: `returned` + 1.
    NackRequeueTail,
    /// Reject with requeue: `failed` + 1 (SEMANTICS A10).
    RejectRequeue,
}

impl How {
    pub(crate) fn nack(requeue: bool, at_tail: bool) -> How {
        if requeue && at_tail {
            How::NackRequeueTail
        } else if requeue {
            How::NackRequeue
        } else {
            How::Discard
        }
    }

    pub(crate) fn reject(requeue: bool) -> How {
        if requeue {
            How::RejectRequeue
        } else {
            How::Discard
        }
    }
}

/// Why deliveries go back to their queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// Channel closed or consumer handle dropped (SEMANTICS A7): `failed` + 1.
    Lost,
    /// Consumer timeout or recover (SEMANTICS A9, A11): `returned` + 1.
    Returned,
}

/// What a settle call found (SEMANTICS A8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The deliveries were settled.
    Done,
    /// The tag was taken back by the engine (its consumer was lost or timed out): nothing
    /// happened, the message is already back in its queue.
    Stale,
}

/// `queue_declare`'s answer (SEMANTICS Q1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDeclareOk {
    /// The queue's name (server-named ones are generated).
    pub name: String,
    /// Ready messages.
    pub message_count: u32,
    /// Consumers.
    pub consumer_count: u32,
}

/// `basic_get`'s answer (SEMANTICS D9).
#[derive(Debug)]
pub struct GetMessage {
    /// The message.
    pub delivery: Delivery,
    /// Ready messages left in the queue.
    pub message_count: u32,
}

type ReturnHandler = Box<dyn FnMut(Return) + Send>;

/// The channel's shared state. See the module docs.
///
/// Aligned to 128 bytes (a cache line pair, which x86 prefetches together) so that the
/// reference counts of its `Arc`, which the consuming thread changes for every [`Delivery`],
/// sit apart from the fields the publishing thread reads and writes for every delivery
/// (`open`, `last_tag`, `credit`, `state`): otherwise each delivery moves that line between
/// the two threads' cores.
#[repr(align(128))]
pub(crate) struct ChannelShared {
    pub(crate) number: u16,
    pub(crate) conn: Arc<ConnShared>,
    open: AtomicBool,
    /// The last tag handed out.
    last_tag: AtomicU64,
    /// The channel's global prefetch (SEMANTICS D4); 0 = unlimited.
    pub(crate) credit: Credit,
    state: Mutex<ChanState>,
    returns: Mutex<Option<ReturnHandler>>,
    /// Set by `confirm_select` (SEMANTICS C1).
    confirms: OnceLock<Arc<Confirms>>,
    /// A confirm listener set before `confirm_select`.
    listener: Mutex<Option<ConfirmListener>>,
}

type ConfirmListener = Box<dyn FnMut(Confirm) + Send>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // State behind these locks is complete before anything that could panic; user code (a
    // return handler) runs under `returns` only, which holds no engine state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ChannelShared {
    pub(crate) fn new(number: u16, conn: Arc<ConnShared>) -> ChannelShared {
        ChannelShared {
            number,
            conn,
            open: AtomicBool::new(true),
            last_tag: AtomicU64::new(0),
            credit: Credit::new(0),
            state: Mutex::new(ChanState {
                closed: None,
                unacked: UnackedTable::new(),
                consumers: HashMap::new(),
                prefetch: 0,
                last_queue: None,
                reply_token: None,
            }),
            returns: Mutex::new(None),
            confirms: OnceLock::new(),
            listener: Mutex::new(None),
        }
    }

    /// The channel's confirm state, once in confirm mode.
    pub(crate) fn confirms(&self) -> Option<&Arc<Confirms>> {
        self.confirms.get()
    }

    pub(crate) fn broker(&self) -> &Arc<BrokerInner> {
        &self.conn.broker
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Acquire)
    }

    /// The next delivery tag, for a delivery that is settled on hand-over.
    pub(crate) fn next_tag(&self) -> u64 {
        self.last_tag.fetch_add(1, Relaxed) + 1
    }

    /// Registers an unacked delivery of `entry` through `holder`; returns its tag, or `None`
    /// if the channel is closed.
    pub(crate) fn register(&self, holder: Holder, entry: &mut Entry<Msg>) -> Option<u64> {
        let clock = &self.broker().clock;
        let at_ms = if clock.is_manual() {
            clock.now_ms()
        } else {
            UNSTAMPED
        };
        let mut st = lock(&self.state);
        if st.closed.is_some() {
            return None;
        }
        // Under the lock, so registered tags enter the table in order.
        let tag = self.next_tag();
        st.unacked.push(tag, Unacked::new(holder, entry, at_ms));
        Some(tag)
    }

    /// The local error of a call on this channel once closed.
    fn closed_error(&self) -> Error {
        let st = lock(&self.state);
        match &st.closed {
            Some(cause) => Error::closed(false, cause.clone()),
            None => Error::closed(false, None),
        }
    }

    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.is_open() {
            Ok(())
        } else {
            Err(self.closed_error())
        }
    }

    /// Applies an error's scope (SEMANTICS F2): a channel error closes this channel, a
    /// connection error the connection. Returns the error.
    pub(crate) fn fail(&self, err: Error) -> Error {
        match err.scope() {
            Scope::Channel => self.close(Some(err.clone())),
            Scope::Connection => self.conn.close(Some(err.clone())),
            _ => {}
        }
        err
    }

    /// Closes the channel (SEMANTICS F2, A7): consumers end, unacked deliveries go back to
    /// their queues, `redelivered`.
    pub(crate) fn close(&self, cause: Option<Error>) {
        let (consumers, lost, token) = {
            let mut st = lock(&self.state);
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(cause.clone());
            self.open.store(false, Release);
            let consumers: Vec<_> = st.consumers.drain().map(|(_, c)| c).collect();
            let lost = st.unacked.drain();
            (consumers, lost, st.reply_token.take())
        };
        if let Some(token) = token {
            self.broker().reply_to.remove(token.as_bytes());
        }
        let why = Error::closed(false, cause);
        if let Some(c) = self.confirms() {
            // SEMANTICS C7: pending publishes get no outcome; waits fail with the close.
            c.close(why.clone());
        }
        // The channel is closed: the credit no longer matters, so none is given back.
        let back = lost
            .into_iter()
            .filter_map(|u| lost_entry(u, Loss::Lost))
            .collect();
        self.end_and_requeue(consumers, &why, 0, back);
    }

    /// Ends `consumers` and puts `back` in their queues, as RabbitMQ's queues do when a
    /// channel goes: the consumers leave (an auto-delete queue may go with them), the
    /// deliveries go back (`with_credit` units of the channel's credit returned), then the
    /// queues dispatch, so a single active consumer's successor finds the messages at their
    /// places (SEMANTICS A5, D6). Queues that get nothing back dispatch before the others,
    /// as the model in the test tree does (the order shows in delivery tags on another
    /// channel).
    fn end_and_requeue(
        &self,
        consumers: impl IntoIterator<Item = Arc<ConsumerShared>>,
        why: &Error,
        with_credit: u32,
        back: Vec<(Arc<Queue<Msg>>, Entry<Msg>)>,
    ) {
        let stopped: Vec<_> = consumers.into_iter().filter(|c| c.stop()).collect();
        for c in &stopped {
            c.detach(why.clone(), true);
        }
        // A queue that gets nothing back dispatches first (its single active successor has
        // nothing to wait for); the others once their deliveries are back.
        let (idle, touched): (Vec<_>, Vec<_>) = stopped
            .iter()
            .filter_map(|c| c.queue.as_ref())
            .partition(|rec| !back.iter().any(|(q, _)| Arc::ptr_eq(q, &rec.q)));
        for rec in idle {
            rec.q.dispatch_now();
        }
        self.return_and_requeue(SmallVec::new(), with_credit, back, false);
        for rec in touched {
            rec.q.dispatch_now();
        }
    }

    /// A consumer handle dropped without cancel (SEMANTICS A7): the consumer ends and its
    /// unacked deliveries go back, their tags stale (A8).
    pub(crate) fn lose_consumer(&self, c: &Arc<ConsumerShared>) {
        self.take_back(
            c,
            Loss::Lost,
            Error::cancelled("the consumer handle was dropped"),
        );
    }

    /// Ends consumer `c` and takes back its unacked deliveries.
    fn take_back(&self, c: &Arc<ConsumerShared>, loss: Loss, why: Error) {
        let lost = {
            let mut st = lock(&self.state);
            st.consumers.remove(&c.tag);
            st.unacked
                .take_back(|u| u.consumer().is_some_and(|uc| Arc::ptr_eq(uc, c)))
        };
        let n = count_u32(lost.len());
        let back = lost
            .into_iter()
            .filter_map(|u| lost_entry(u, loss))
            .collect();
        self.end_and_requeue([c.clone()], &why, n, back);
        // The ended consumer's own credit no longer matters, but its count stays exact.
        c.credit.give_back(n);
    }

    /// Consumer timeouts (SEMANTICS A9): ends every manual-ack consumer whose oldest unacked
    /// delivery is older than its timeout at `now_ms`, after stamping the deliveries
    /// registered since the last sweep (see [`UNSTAMPED`]).
    pub(crate) fn sweep(&self, now_ms: u64) {
        let expired: Vec<Arc<ConsumerShared>> = {
            let mut st = lock(&self.state);
            let mut stamp = None;
            let mut seen: SmallVec<[u64; 8]> = SmallVec::new();
            let mut expired = Vec::new();
            for u in st.unacked.open_mut() {
                if u.at_ms == UNSTAMPED {
                    // Read under the lock, so after the registration.
                    u.at_ms = *stamp.get_or_insert_with(|| self.broker().clock.now_ms());
                }
                let Some(c) = u.consumer() else { continue };
                if seen.contains(&c.id) {
                    continue;
                }
                seen.push(c.id);
                if let Some(t) = c.timeout_ms {
                    if now_ms.saturating_sub(u.at_ms) >= t {
                        expired.push(c.clone());
                    }
                }
            }
            expired
        };
        for c in expired {
            let why = Error::cancelled(format!(
                "consumer '{}' timed out: an unacked delivery exceeded {} ms",
                c.tag,
                c.timeout_ms.unwrap_or(0)
            ));
            self.take_back(&c, Loss::Returned, why);
        }
    }

    /// Wakes every queue of the channel's consumers but those `done` says were dispatched
    /// already (its global prefetch was raised, or its credit crossed from full).
    fn wake_queues(&self, done: impl Fn(&Arc<Queue<Msg>>) -> bool) {
        for q in self.consumer_queues() {
            if !done(&q) {
                q.wake_all();
            }
        }
    }

    /// Settles `tag` (and earlier ones with `multiple`) (SEMANTICS A2-A5, A8).
    pub(crate) fn settle(&self, tag: u64, multiple: bool, how: How) -> Result<Settled, Error> {
        let taken = {
            let mut st = lock(&self.state);
            if st.closed.is_some() {
                drop(st);
                return Err(self.closed_error());
            }
            let found = if multiple {
                st.unacked.settle(tag, true)
            } else {
                match st.unacked.settle_one(tag) {
                    Ok(u) if how == How::Ack => {
                        drop(st);
                        self.finish_ack(u);
                        return Ok(Settled::Done);
                    }
                    found => found.map(|u| smallvec::smallvec![u]),
                }
            };
            match found {
                Ok(taken) => taken,
                Err(Found::Stale) => return Ok(Settled::Stale),
                Err(Found::Unknown) => {
                    drop(st);
                    return Err(self.fail(Error::amqp(
                        406,
                        format!("PRECONDITION_FAILED - unknown delivery tag {tag}"),
                    )));
                }
            }
        };
        self.finish(taken, how);
        Ok(Settled::Done)
    }

    /// Gives back the credit of one acked delivery: the usual ack, with nothing to requeue
    /// and no plan to build.
    fn finish_ack(&self, u: Unacked) {
        if self.broker().store().is_some() {
            // Settled for good: durable queues log it (SEMANTICS S4).
            self.broker().log_settled(u.log_ref().into_iter().collect());
        }
        if let Holder::Consumer(c) = u.holder {
            self.give_back_one(&c);
        }
    }

    /// Requeues or drops settled deliveries, then gives their credit back.
    fn finish(&self, mut taken: Taken, how: How) {
        if how == How::Ack && taken.len() == 1 {
            if let Some(u) = taken.pop() {
                self.finish_ack(u);
            }
            return;
        }
        if how == How::Ack && self.broker().store().is_some() {
            // Settled for good: durable queues log it (SEMANTICS S4). Discarded ones are
            // logged by their queue's undertaker, after their dead-lettered copies.
            let refs: Vec<(u64, u64)> = taken.iter().filter_map(Unacked::log_ref).collect();
            self.broker().log_settled(refs);
        }
        let mut credit: SmallVec<[Arc<ConsumerShared>; 4]> = SmallVec::new();
        let mut with_credit = 0u32;
        let mut requeue: Vec<(Arc<Queue<Msg>>, Entry<Msg>)> = Vec::new();
        let mut dead: Vec<(Arc<Queue<Msg>>, Entry<Msg>)> = Vec::new();
        for u in taken {
            let queue = match how {
                How::Ack => None,
                How::Discard | How::NackRequeue | How::NackRequeueTail | How::RejectRequeue => {
                    u.queue()
                }
            };
            let entry = u.entry;
            if let Holder::Consumer(c) = u.holder {
                with_credit += 1;
                credit.push(c);
            }
            let Some(queue) = queue else { continue };
            let mut entry = entry.map(Msg::Shared);
            if how == How::Discard {
                // SEMANTICS A4: dead-lettered as `rejected` if the queue has a DLX.
                dead.push((queue, entry));
                continue;
            }
            if how != How::RejectRequeue {
                entry.returned += 1;
            } else {
                entry.failed += 1;
            }
            entry.redelivered = true;
            requeue.push((queue, entry));
        }
        self.return_and_requeue(credit, with_credit, requeue, how == How::NackRequeueTail);
        for (queue, entry) in dead {
            queue.dead_letter(vec![entry], Reason::Rejected);
        }
    }

    /// Gives back the credit of one delivery of consumer `c` settled for good: the same
    /// effects, in the same order, as [`return_and_requeue`](Self::return_and_requeue)'s plan
    /// for it.
    fn give_back_one(&self, c: &Arc<ConsumerShared>) {
        if c.queue.as_ref().is_some_and(|rec| rec.q.pass_credit(c.id)) {
            // Its queue's next message took the unit: no counter moved.
            return;
        }
        let crossed = c.credit.give_back(1);
        let channel_crossed = self.credit.give_back(1);
        let woken = c.queue.as_ref().filter(|_| crossed).map(|rec| &rec.q);
        if let Some(q) = woken {
            q.requeue_and_wake([], &[c.id], channel_crossed, false);
        }
        if channel_crossed {
            self.wake_queues(|q| woken.is_some_and(|w| Arc::ptr_eq(w, q)));
        }
    }

    /// Gives settled deliveries' credit back (one unit per consumer in `credit`, and
    /// `with_credit` units of the channel's), then puts `back` in their queues and dispatches
    /// each queue touched once. Credit comes first, as in RabbitMQ (SEMANTICS D1, A5): a
    /// consumer that frees its credit and sees its message requeued is not passed over for
    /// lack of it.
    fn return_and_requeue(
        &self,
        credit: SmallVec<[Arc<ConsumerShared>; 4]>,
        with_credit: u32,
        back: Vec<(Arc<Queue<Msg>>, Entry<Msg>)>,
        at_tail: bool,
    ) {
        type Plan = (Arc<Queue<Msg>>, Vec<Entry<Msg>>, SmallVec<[u64; 2]>);
        let mut plan: SmallVec<[Plan; 2]> = SmallVec::new();
        fn slot<'p>(plan: &'p mut SmallVec<[Plan; 2]>, q: &Arc<Queue<Msg>>) -> &'p mut Plan {
            let at = match plan.iter().position(|(pq, _, _)| Arc::ptr_eq(pq, q)) {
                Some(at) => at,
                None => {
                    plan.push((q.clone(), Vec::new(), SmallVec::new()));
                    plan.len() - 1
                }
            };
            &mut plan[at]
        }
        for c in &credit {
            if c.credit.give_back(1) {
                if let Some(rec) = &c.queue {
                    slot(&mut plan, &rec.q).2.push(c.id);
                }
            }
        }
        let channel_crossed = self.credit.give_back(with_credit);
        for (q, entry) in back {
            slot(&mut plan, &q).1.push(entry);
        }
        for (q, entries, woken) in &mut plan {
            self.log_requeued(q, entries, at_tail);
            q.requeue_and_wake(std::mem::take(entries), woken, channel_crossed, at_tail);
        }
        if channel_crossed {
            // The channel's other queues may have parked consumers waiting for this credit.
            self.wake_queues(|q| plan.iter().any(|(pq, _, _)| Arc::ptr_eq(pq, q)));
        }
    }

    /// Logs the new flags and counts of persistent messages going back to a durable queue
    /// (SEMANTICS A10: they survive a restart), and their new place if `at_tail`.
    fn log_requeued(&self, q: &Queue<Msg>, entries: &[Entry<Msg>], at_tail: bool) {
        let Some(store) = self.broker().store().filter(|_| q.log_id != 0) else {
            return;
        };
        let logged: Vec<(u64, u32, u32)> = entries
            .iter()
            .filter(|e| e.msg.store_id != 0)
            .map(|e| (e.msg.store_id, e.failed, e.returned))
            .collect();
        for chunk in logged.chunks(1 << 16) {
            // Chunks keep every record far below the log's record limit. Keys for the tail
            // come from the message id counter, so later publishes sort after them.
            let order = if at_tail {
                chunk
                    .iter()
                    .map(|&(m, _, _)| (m, store.next_message_id()))
                    .collect()
            } else {
                Vec::new()
            };
            let _small = store.log(&Record::Requeue {
                queue: q.log_id,
                entries: chunk.to_vec(),
                order,
            });
        }
    }

    /// The queues of this channel's consumers, each once.
    fn consumer_queues(&self) -> Vec<Arc<Queue<Msg>>> {
        let mut queues: Vec<Arc<Queue<Msg>>> = Vec::new();
        for c in lock(&self.state).consumers.values() {
            if let Some(rec) = &c.queue {
                if !queues.iter().any(|q| Arc::ptr_eq(q, &rec.q)) {
                    queues.push(rec.q.clone());
                }
            }
        }
        queues
    }

    /// The channel's direct reply-to token, if it has a reply consumer (SEMANTICS R2).
    pub(crate) fn reply_token(&self) -> Option<Arc<str>> {
        lock(&self.state).reply_token.clone()
    }

    pub(crate) fn return_message(&self, ret: &Return) {
        if let Some(handler) = lock(&self.returns).as_mut() {
            // The handler is user code: a panic in it must not poison engine state, and is
            // contained here (the message is still given back by `basic_publish`).
            let r = ret.clone();
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(r)));
        }
    }
}

/// SEMANTICS D8: a consumer tag live on the channel.
fn tag_in_use(tag: &str) -> Error {
    Error::amqp(
        530,
        format!("NOT_ALLOWED - attempt to reuse consumer tag '{tag}'"),
    )
}

/// A lost delivery's queue and entry, marked for its return (SEMANTICS A7, A9):
/// `redelivered`, counted.
fn lost_entry(u: Unacked, loss: Loss) -> Option<(Arc<Queue<Msg>>, Entry<Msg>)> {
    let queue = u.queue()?;
    let mut entry = u.into_entry();
    entry.redelivered = true;
    match loss {
        Loss::Lost => entry.failed += 1,
        Loss::Returned => entry.returned += 1,
    }
    Some((queue, entry))
}

/// A channel: the handle every AMQP method is called on. Cheap to clone; the channel closes
/// when [`close`](Self::close) is called, on a channel error, when its connection closes, or
/// when the last handle (clones and [`Consumer`]s) is dropped (SEMANTICS A7).
///
/// `Send + Sync`: several threads may call in at once.
#[derive(Clone)]
pub struct Channel {
    handle: Arc<ChannelHandle>,
}

struct ChannelHandle {
    shared: Arc<ChannelShared>,
    _conn: Connection,
}

impl Drop for ChannelHandle {
    fn drop(&mut self) {
        self.shared.close(None);
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("number", &self.shared().number)
            .field("open", &self.is_open())
            .finish()
    }
}

impl Channel {
    pub(crate) fn new(shared: Arc<ChannelShared>, conn: Connection) -> Channel {
        Channel {
            handle: Arc::new(ChannelHandle {
                shared,
                _conn: conn,
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<ChannelShared> {
        &self.handle.shared
    }

    fn broker(&self) -> &Arc<BrokerInner> {
        self.shared().broker()
    }

    /// The channel number (1 for a connection's first channel).
    pub fn number(&self) -> u16 {
        self.shared().number
    }

    /// Whether the channel is open.
    pub fn is_open(&self) -> bool {
        self.shared().is_open()
    }

    /// Closes the channel (SEMANTICS A7): consumers end and unacked deliveries go back to their
    /// queues, `redelivered`. Closing twice is a no-op.
    pub fn close(&self) {
        self.shared().close(None);
    }

    /// The error that closed the channel, if an error did.
    pub fn close_reason(&self) -> Option<Error> {
        if self.is_open() {
            return None;
        }
        self.shared().closed_error().cause().cloned()
    }

    /// Runs `f`, applying its error's scope (F2) and checking the channel first (F5).
    /// A durable topology change returns once its log record is synced (SEMANTICS S2).
    fn call<T>(&self, f: impl FnOnce(&Self) -> Result<T, Error>) -> Result<T, Error> {
        self.shared().check_open()?;
        let _stale = Store::take_mine();
        let out = f(self).map_err(|e| self.shared().fail(e))?;
        self.broker()
            .sync_topology()
            .map_err(|e| self.shared().fail(e))?;
        Ok(out)
    }

    fn conn_id(&self) -> u64 {
        self.shared().conn.id
    }

    /// The queue a call names: `""` is the channel's last declared queue (SEMANTICS Q6).
    fn queue_name(&self, queue: &str) -> Result<Arc<str>, Error> {
        if !queue.is_empty() {
            check_len(queue, Input::Queue)?;
            return Ok(queue.into());
        }
        lock(&self.shared().state)
            .last_queue
            .clone()
            .ok_or_else(|| Error::amqp(404, "NOT_FOUND - no previously declared queue".to_string()))
    }

    /// The queue `name` (after Q6), checked for exclusivity (Q3).
    fn usable_queue(&self, queue: &str) -> Result<Arc<QueueRec>, Error> {
        let name = self.queue_name(queue)?;
        let q = self.broker().registry.queue_arc(&name)?;
        q.check_owner(self.conn_id())?;
        Ok(q)
    }

    // ----- exchanges -----

    /// Declares an exchange (SEMANTICS E1, E4, E10, N2, N3).
    ///
    /// # Errors
    ///
    /// 403 for `""` or a new `amq.` name; 406 for a redeclare with other type, flags or
    /// alternate exchange, or invalid arguments; 404 for a passive declare of a missing one.
    pub fn exchange_declare(
        &self,
        exchange: &str,
        kind: ExchangeType,
        options: ExchangeDeclareOptions,
        arguments: &FieldTable,
    ) -> Result<(), Error> {
        check_len(exchange, Input::Exchange)?;
        self.call(|ch| {
            ch.broker()
                .registry
                .declare_exchange(exchange, kind, options, arguments)
        })
    }

    /// Deletes an exchange with its bindings (SEMANTICS E11); a missing one is no error.
    ///
    /// # Errors
    ///
    /// 403 for `""` and `amq.` exchanges; 406 with `if_unused` while it is a binding source.
    pub fn exchange_delete(
        &self,
        exchange: &str,
        options: ExchangeDeleteOptions,
    ) -> Result<(), Error> {
        check_len(exchange, Input::Exchange)?;
        self.call(|ch| {
            ch.broker()
                .registry
                .delete_exchange(exchange, options.if_unused)
        })
    }

    /// Binds exchange `destination` to exchange `source` (SEMANTICS E5, E6).
    ///
    /// # Errors
    ///
    /// 403 if either is the default exchange; 404 if either is missing.
    pub fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<(), Error> {
        self.exchange_binding(destination, source, routing_key, arguments, true)
    }

    /// Removes an exchange-to-exchange binding; a missing one is no error (SEMANTICS E11).
    ///
    /// # Errors
    ///
    /// 403 if either is the default exchange; 404 if either exchange is missing.
    pub fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<(), Error> {
        self.exchange_binding(destination, source, routing_key, arguments, false)
    }

    fn exchange_binding(
        &self,
        destination: &str,
        source: &str,
        key: &str,
        args: &FieldTable,
        bind: bool,
    ) -> Result<(), Error> {
        check_len(destination, Input::Exchange)?;
        check_len(source, Input::Exchange)?;
        check_len(key, Input::BindingKey)?;
        self.call(|ch| {
            let reg = &ch.broker().registry;
            let src = ch.source_exchange(source)?;
            let dest = ch.source_exchange(destination)?;
            if bind {
                reg.bind(&src, Dest::Exchange(dest.id), key, args)
            } else {
                reg.unbind(&src, Dest::Exchange(dest.id), key, args)
            }
        })
    }

    /// The exchange at one end of a binding: never the default one (SEMANTICS E2).
    fn source_exchange(&self, name: &str) -> Result<Arc<ExchangeRec>, Error> {
        if name.is_empty() {
            return Err(Error::amqp(
                403,
                "ACCESS_REFUSED - operation not permitted on the default exchange",
            ));
        }
        self.broker().registry.exchange_arc(name)
    }

    // ----- queues -----

    /// Declares a queue (SEMANTICS Q1-Q8); `""` asks for a server-named one (`amq.gen-…`). The
    /// channel remembers it as its last declared queue (Q6).
    ///
    /// # Errors
    ///
    /// 406 for a redeclare with other flags or arguments, or invalid arguments; 405 for another
    /// connection's exclusive queue; 404 for a passive declare of a missing one; 403 for a new
    /// `amq.` name.
    pub fn queue_declare(
        &self,
        queue: &str,
        options: QueueDeclareOptions,
        arguments: &FieldTable,
    ) -> Result<QueueDeclareOk, Error> {
        check_len(queue, Input::Queue)?;
        self.call(|ch| {
            let broker = ch.broker();
            if queue == REPLY_TO {
                // The pseudo-queue of direct reply-to always exists (SEMANTICS R2).
                return Ok(QueueDeclareOk {
                    name: REPLY_TO.into(),
                    message_count: 0,
                    consumer_count: 0,
                });
            }
            let (name, server_named) = if queue.is_empty() {
                if options.passive {
                    return Err(Error::amqp(404, "NOT_FOUND - no previously declared queue"));
                }
                (broker.server_name("amq.gen-"), true)
            } else {
                (queue.to_string(), false)
            };
            let (q, created) = broker.registry.declare_queue(
                &name,
                server_named,
                options,
                arguments,
                ch.conn_id(),
            )?;
            if created {
                if let Some(owner) = q.owner {
                    debug_assert_eq!(owner, ch.conn_id());
                    ch.shared().conn.own(q.clone());
                }
            }
            lock(&ch.shared().state).last_queue = Some(q.name.clone());
            q.touch(&broker.clock);
            let (ready, consumers) = q.q.counts();
            Ok(QueueDeclareOk {
                name,
                message_count: count_u32(ready),
                consumer_count: count_u32(consumers),
            })
        })
    }

    /// Binds a queue to an exchange (SEMANTICS E5, Q6): with `""` as the queue, the last
    /// declared queue, and with an empty key too, its name as the key.
    ///
    /// # Errors
    ///
    /// 403 for the default exchange or `amq.rabbitmq.reply-to`; 404 for a missing queue or
    /// exchange; 405 for another connection's exclusive queue; 406 for invalid headers
    /// arguments.
    pub fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<(), Error> {
        self.queue_binding(queue, exchange, routing_key, arguments, true)
    }

    /// Removes a queue binding; a missing binding is no error (SEMANTICS Q10).
    ///
    /// # Errors
    ///
    /// As [`queue_bind`](Self::queue_bind) for missing ends and access.
    pub fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: &FieldTable,
    ) -> Result<(), Error> {
        self.queue_binding(queue, exchange, routing_key, arguments, false)
    }

    fn queue_binding(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        args: &FieldTable,
        bind: bool,
    ) -> Result<(), Error> {
        check_len(queue, Input::Queue)?;
        check_len(exchange, Input::Exchange)?;
        check_len(key, Input::BindingKey)?;
        self.call(|ch| {
            if queue == REPLY_TO {
                return Err(Error::amqp(
                    403,
                    format!("ACCESS_REFUSED - cannot bind '{REPLY_TO}'"),
                ));
            }
            let src = ch.source_exchange(exchange)?;
            let q = ch.usable_queue(queue)?;
            let key = if queue.is_empty() && key.is_empty() {
                q.name.to_string()
            } else {
                key.to_string()
            };
            let reg = &ch.broker().registry;
            if bind {
                reg.bind(&src, Dest::Queue(q.id), &key, args)
            } else {
                reg.unbind(&src, Dest::Queue(q.id), &key, args)
            }
        })
    }

    /// Removes a queue's ready messages; returns how many (SEMANTICS Q10).
    ///
    /// # Errors
    ///
    /// 404 for a missing queue, 405 for another connection's exclusive queue.
    pub fn queue_purge(&self, queue: &str) -> Result<u32, Error> {
        self.call(|ch| {
            let q = ch.usable_queue(queue)?;
            let purged = q.q.purge();
            if q.q.log_id != 0 {
                let refs = purged
                    .iter()
                    .filter(|e| e.msg.store_id != 0)
                    .map(|e| (e.msg.store_id, q.q.log_id))
                    .collect();
                ch.broker().log_settled(refs);
            }
            Ok(count_u32(purged.len()))
        })
    }

    /// Deletes a queue (SEMANTICS Q9): its ready messages are discarded and their number
    /// returned, its bindings dropped, its consumers cancelled. A missing queue is no error.
    ///
    /// # Errors
    ///
    /// 406 with `if_unused` while it has consumers or `if_empty` while it has ready messages;
    /// 405 for another connection's exclusive queue.
    pub fn queue_delete(&self, queue: &str, options: QueueDeleteOptions) -> Result<u32, Error> {
        self.call(|ch| {
            let name = ch.queue_name(queue)?;
            let Ok(q) = ch.broker().registry.queue_arc(&name) else {
                return Ok(0);
            };
            q.check_owner(ch.conn_id())?;
            let deleted = ch.broker().delete_queue(&q, |q| {
                let (ready, consumers) = q.q.counts();
                if options.if_unused && consumers > 0 {
                    return Err(Error::amqp(
                        406,
                        format!(
                            "PRECONDITION_FAILED - queue '{}' in vhost '/' in use",
                            q.name
                        ),
                    ));
                }
                if options.if_empty && ready > 0 {
                    return Err(Error::amqp(
                        406,
                        format!(
                            "PRECONDITION_FAILED - queue '{}' in vhost '/' not empty",
                            q.name
                        ),
                    ));
                }
                Ok(())
            })?;
            Ok(count_u32(deleted))
        })
    }

    /// Sets the handler of returned messages (`basic.return`, SEMANTICS P2). It runs on the
    /// publishing thread, inside `basic_publish`, before it returns; it must not call back into
    /// this channel's `basic_publish`.
    pub fn on_return(&self, handler: impl FnMut(Return) + Send + 'static) {
        *lock(&self.shared().returns) = Some(Box::new(handler));
    }

    // ----- consuming -----

    /// Sets the prefetch (SEMANTICS D3, D4): per consumer created after the call, or with
    /// `global` one cap shared by the channel's consumers; 0 = unlimited.
    ///
    /// # Errors
    ///
    /// Local errors only (a closed channel).
    pub fn basic_qos(&self, prefetch_count: u16, options: BasicQosOptions) -> Result<(), Error> {
        self.call(|ch| {
            let shared = ch.shared();
            if options.global {
                if shared.credit.set_limit(u32::from(prefetch_count)) {
                    shared.wake_queues(|_| false);
                }
            } else {
                lock(&shared.state).prefetch = u32::from(prefetch_count);
            }
            Ok(())
        })
    }

    /// Starts a consumer on a queue (SEMANTICS D1-D8); `""` as the tag asks for a generated
    /// one (`amq.ctag-…`), `""` as the queue means the last declared one.
    ///
    /// # Errors
    ///
    /// 404 for a missing queue; 405 for another connection's exclusive queue; 403 when an
    /// exclusive consumer holds the queue, or an exclusive consume finds consumers; 406 for
    /// invalid arguments or a manual-ack or second direct reply-to consumer; 530 for a tag
    /// already live on the channel.
    pub fn basic_consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: BasicConsumeOptions,
        arguments: &FieldTable,
    ) -> Result<Consumer, Error> {
        check_len(queue, Input::Queue)?;
        check_len(consumer_tag, Input::ConsumerTag)?;
        let shared = self.call(|ch| ch.consume(queue, consumer_tag, options, arguments))?;
        Ok(Consumer::new(shared, self.clone()))
    }

    fn consume(
        &self,
        queue: &str,
        consumer_tag: &str,
        options: BasicConsumeOptions,
        arguments: &FieldTable,
    ) -> Result<Arc<ConsumerShared>, Error> {
        let shared = self.shared();
        let broker = self.broker();
        let args = ConsumeArgs::parse(arguments)?;
        let tag: Arc<str> = if consumer_tag.is_empty() {
            broker.server_name("amq.ctag-").into()
        } else {
            consumer_tag.into()
        };
        if lock(&shared.state).consumers.contains_key(&tag) {
            return Err(tag_in_use(&tag));
        }
        if queue == REPLY_TO {
            return self.consume_reply_to(tag, options);
        }
        let q = self.usable_queue(queue)?;
        q.touch(&broker.clock);
        let prefetch = lock(&shared.state).prefetch;
        let timeout_ms = args
            .consumer_timeout_ms
            .or(q.args.consumer_timeout_ms)
            .or(broker.options.consumer_timeout_ms());
        let c = ConsumerShared::new(
            broker.registry.next_id(),
            tag.clone(),
            shared.clone(),
            Some(q.clone()),
            options.no_ack,
            prefetch,
            timeout_ms,
            args.priority,
        );
        {
            // Registered with the channel first, so a close meanwhile ends it.
            let mut st = lock(&shared.state);
            if st.closed.is_some() {
                return Err(Error::closed(false, st.closed.clone().flatten()));
            }
            // Checked again under the lock that inserts: two consumes of one tag may race.
            if st.consumers.contains_key(&tag) {
                return Err(tag_in_use(&tag));
            }
            st.consumers.insert(tag.clone(), c.clone());
        }
        if let Err(e) = q.q.add_consumer(c.clone(), options.exclusive) {
            lock(&shared.state).consumers.remove(&tag);
            return Err(match e {
                AddError::Deleted => Error::amqp(
                    404,
                    format!("NOT_FOUND - no queue '{}' in vhost '/'", q.name),
                ),
                AddError::ExclusiveHeld | AddError::HasConsumers => Error::amqp(
                    403,
                    format!(
                        "ACCESS_REFUSED - queue '{}' in vhost '/' in exclusive use",
                        q.name
                    ),
                ),
                AddError::SingleActive => Error::amqp(
                    403,
                    format!(
                        "ACCESS_REFUSED - queue '{}' in vhost '/' has a single active consumer: \
                         exclusive consume refused",
                        q.name
                    ),
                ),
            });
        }
        if c.ended.load(Relaxed) {
            // The channel closed between the registration above and `add_consumer`: its close
            // ended the consumer before the queue had it, so take it off the queue here. (The
            // queue's lock orders the two: either the close's removal found it, or this load
            // sees the flag the close set before taking that lock.)
            let left = q.q.remove_consumer(c.id, false);
            q.touch(&broker.clock);
            if left == Some(0) && q.auto_delete {
                broker.auto_delete_queue(&q);
            }
            return Err(shared.closed_error());
        }
        Ok(c)
    }

    /// A direct reply-to consumer (SEMANTICS R2).
    fn consume_reply_to(
        &self,
        tag: Arc<str>,
        options: BasicConsumeOptions,
    ) -> Result<Arc<ConsumerShared>, Error> {
        let shared = self.shared();
        let broker = self.broker();
        if !options.no_ack {
            return Err(Error::amqp(
                406,
                "PRECONDITION_FAILED - reply consumer cannot acknowledge",
            ));
        }
        let mut st = lock(&shared.state);
        if st.reply_token.is_some() {
            return Err(Error::amqp(
                406,
                "PRECONDITION_FAILED - reply consumer already set",
            ));
        }
        let token: Arc<str> = broker.server_name("").into();
        let c = ConsumerShared::new(
            broker.registry.next_id(),
            tag.clone(),
            shared.clone(),
            None,
            true,
            0,
            None,
            0,
        );
        if st.consumers.contains_key(&tag) {
            return Err(tag_in_use(&tag));
        }
        st.consumers.insert(tag, c.clone());
        st.reply_token = Some(token.clone());
        broker.reply_to.insert(token.as_bytes(), c.clone());
        Ok(c)
    }

    /// Cancels a consumer (SEMANTICS A6): nothing new arrives; its unacked deliveries stay
    /// ackable. An unknown tag is no error.
    ///
    /// # Errors
    ///
    /// Local errors only (a closed channel).
    pub fn basic_cancel(&self, consumer_tag: &str) -> Result<(), Error> {
        self.call(|ch| {
            let shared = ch.shared();
            let c = {
                let mut st = lock(&shared.state);
                let c = st.consumers.remove(consumer_tag);
                if c.as_ref().is_some_and(|c| c.queue.is_none()) {
                    if let Some(token) = st.reply_token.take() {
                        ch.broker().reply_to.remove(token.as_bytes());
                    }
                }
                c
            };
            if let Some(c) = c {
                c.end(Error::cancelled(format!(
                    "consumer '{consumer_tag}' cancelled by basic_cancel"
                )));
            }
            Ok(())
        })
    }

    /// Takes the head message of a queue (SEMANTICS D9), ignoring prefetch.
    ///
    /// # Errors
    ///
    /// 404 for a missing queue, 405 for another connection's exclusive queue.
    pub fn basic_get(
        &self,
        queue: &str,
        options: BasicGetOptions,
    ) -> Result<Option<GetMessage>, Error> {
        check_len(queue, Input::Queue)?;
        self.call(|ch| {
            let q = ch.usable_queue(queue)?;
            q.touch(&ch.broker().clock);
            let shared = ch.shared();
            q.q.get(|got| {
                let Some((mut entry, left)) = got else {
                    return Ok(None);
                };
                let tag = if options.no_ack {
                    if entry.msg.store_id != 0 && q.q.log_id != 0 {
                        ch.broker()
                            .log_settled(vec![(entry.msg.store_id, q.q.log_id)]);
                    }
                    shared.next_tag()
                } else {
                    match shared.register(Holder::Get(q.q.clone()), &mut entry) {
                        Some(tag) => tag,
                        None => {
                            q.q.requeue([entry]);
                            return Err(shared.closed_error());
                        }
                    }
                };
                Ok(Some(GetMessage {
                    delivery: Delivery::new(Source::Get(shared.clone()), tag, entry),
                    message_count: count_u32(left),
                }))
            })
        })
    }

    /// Acknowledges a delivery, or with `multiple` every unacked one up to it (0 = all)
    /// (SEMANTICS A2).
    ///
    /// # Errors
    ///
    /// 406 "unknown delivery tag" for a tag never issued or already settled (A3), which closes
    /// the channel; a stale tag (A8) is `Ok(Settled::Stale)`.
    pub fn basic_ack(
        &self,
        delivery_tag: DeliveryTag,
        options: BasicAckOptions,
    ) -> Result<Settled, Error> {
        self.shared()
            .settle(delivery_tag.get(), options.multiple, How::Ack)
    }

    /// Rejects deliveries as `basic_ack` selects them (SEMANTICS A4): requeued to their places
    /// or discarded.
    ///
    /// # Errors
    ///
    /// As [`basic_ack`](Self::basic_ack).
    pub fn basic_nack(
        &self,
        delivery_tag: DeliveryTag,
        options: BasicNackOptions,
    ) -> Result<Settled, Error> {
        self.shared().settle(
            delivery_tag.get(),
            options.multiple,
            How::nack(options.requeue, options.at_tail),
        )
    }

    /// Rejects one delivery (SEMANTICS A4).
    ///
    /// # Errors
    ///
    /// As [`basic_ack`](Self::basic_ack).
    pub fn basic_reject(
        &self,
        delivery_tag: DeliveryTag,
        options: BasicRejectOptions,
    ) -> Result<Settled, Error> {
        self.shared()
            .settle(delivery_tag.get(), false, How::reject(options.requeue))
    }

    /// Requeues every unacked delivery of the channel (SEMANTICS A11), `returned` + 1.
    ///
    /// # Errors
    ///
    /// 540 with `requeue = false`.
    pub fn basic_recover(&self, requeue: bool) -> Result<(), Error> {
        self.call(|ch| {
            if !requeue {
                return Err(Error::amqp(540, "NOT_IMPLEMENTED - requeue=false"));
            }
            let shared = ch.shared();
            let taken = {
                let mut st = lock(&shared.state);
                st.unacked.take_open()
            };
            shared.finish(taken, How::NackRequeue);
            Ok(())
        })
    }

    /// Transactions are not implemented yet (SEMANTICS C8): 540.
    ///
    /// # Errors
    ///
    /// Always 540, which closes the connection.
    pub fn tx_select(&self) -> Result<(), Error> {
        self.call(|_| Err(Error::amqp(540, "NOT_IMPLEMENTED - tx.select")))
    }

    /// Puts the channel in confirm mode (SEMANTICS C1): from now on every publish that passes
    /// its checks gets a number, from 1, and exactly one outcome, ack or nack. Repeatable.
    ///
    /// Acks come at once for an unroutable message (after its return) and for one that no
    /// durable queue logs; a persistent message reaching a durable queue of a durable broker is
    /// acked once the fsync covering it is done (C2). Outcomes reach
    /// [`wait_for_confirms`](Self::wait_for_confirms), the [`on_confirm`](Self::on_confirm)
    /// listener and each [`Confirmation`](crate::broker::Confirmation).
    ///
    /// # Errors
    ///
    /// A local error if the channel is closed.
    pub fn confirm_select(&self) -> Result<(), Error> {
        let shared = self.shared();
        shared.check_open()?;
        // Under the listener slot's lock, so a listener set meanwhile is not lost.
        let mut waiting = lock(&shared.listener);
        let c = shared.confirms.get_or_init(Confirms::new);
        if let Some(listener) = waiting.take() {
            c.set_listener(listener);
        }
        Ok(())
    }

    /// The number the next publish will get in confirm mode (SEMANTICS C1); 0 outside it.
    pub fn next_publish_seq_no(&self) -> SeqNo {
        SeqNo::new(self.shared().confirms().map_or(0, |c| c.next_seq()))
    }

    /// Waits until every publish so far has its outcome (SEMANTICS C6): `Ok(true)` if all
    /// outcomes since the previous wait were acks, `Ok(false)` if one was a nack.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) when `timeout` passes first (nothing
    /// closes); the close error if the channel closes (C7); a local
    /// [`ErrorKind::InvalidState`](crate::ErrorKind::InvalidState) error outside confirm mode.
    pub fn wait_for_confirms(&self, timeout: std::time::Duration) -> Result<bool, Error> {
        let Some(c) = self.shared().confirms() else {
            return Err(Error::invalid_state(
                "wait_for_confirms needs confirm mode (confirm_select)",
            ));
        };
        c.wait(timeout)
    }

    /// [`wait_for_confirms`](Self::wait_for_confirms), closing the channel when it fails
    /// (SEMANTICS C6), as the Java client does.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Nacked`](crate::ErrorKind::Nacked) after a nack and 406 "TIMEOUT WAITING
    /// FOR ACK" ([`ErrorKind::Timeout`](crate::ErrorKind::Timeout)) on timeout, both closing
    /// the channel; otherwise as [`wait_for_confirms`](Self::wait_for_confirms).
    pub fn wait_for_confirms_or_die(&self, timeout: std::time::Duration) -> Result<(), Error> {
        let failed = match self.wait_for_confirms(timeout) {
            Ok(true) => return Ok(()),
            Ok(false) => Error::nacked(),
            Err(e) if e.kind() == crate::ErrorKind::Timeout => Error::confirm_timeout(),
            Err(e) => return Err(e),
        };
        self.shared().close(Some(failed.clone()));
        Err(failed)
    }

    /// Sets the confirm listener (SEMANTICS C5c), called with each outcome as a [`Confirm`]
    /// (`multiple` covers every unreported number up to `seq`, C4). One channel's calls never
    /// overlap. It runs on the publishing thread for outcomes known at once, and on the
    /// store's confirm thread for those that waited for an fsync: keep it short. It may
    /// publish on this channel. Without confirm mode it is kept for when it starts.
    ///
    /// Waits and the listener are told independently: a
    /// [`wait_for_confirms`](Self::wait_for_confirms) that returned may still see the listener
    /// called for the last outcomes afterwards (SEMANTICS C5 and C6 promise no order).
    pub fn on_confirm(&self, listener: impl FnMut(Confirm) + Send + 'static) {
        let shared = self.shared();
        let mut waiting = lock(&shared.listener);
        match shared.confirms() {
            Some(c) => c.set_listener(Box::new(listener)),
            None => *waiting = Some(Box::new(listener)),
        }
    }

    /// The connection this channel lives on.
    pub fn connection(&self) -> &Connection {
        &self.handle._conn
    }
}

impl ChannelShared {
    /// Forgets consumer `c` (its queue was deleted, SEMANTICS D10); its unacked deliveries
    /// stay, and settling them later changes nothing (Q9).
    pub(crate) fn forget_consumer(&self, c: &Arc<ConsumerShared>) {
        let mut st = lock(&self.state);
        if st
            .consumers
            .get(&c.tag)
            .is_some_and(|have| Arc::ptr_eq(have, c))
        {
            st.consumers.remove(&c.tag);
        }
    }
}
