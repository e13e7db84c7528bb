//! A naive, single-threaded reference broker (STYLE 11), written from SEMANTICS E, Q, P, D, A,
//! L, X and F as plainly as they read, for the differential tests of the real engine
//! (`tests/integration/broker_model.rs`, `fuzz/fuzz_targets/broker_ops_vs_model.rs`).
//!
//! What it models:
//!
//! * Queues: ready messages in a list in delivery order (higher priority first, L7; then by
//!   enqueue sequence); a requeue puts a message back at its original place within its level
//!   (A5), or at the tail of its level when asked (a nack option). Delete (Q9: consumers
//!   cancelled, D10; unacked deliveries of the deleted queue are dropped when settled), purge
//!   (Q10), auto-delete with the last consumer (Q5), exclusive consumers (D7).
//! * Queue arguments (Q2 compares them: presence on one side only differs), each checked as
//!   SEMANTICS says (→ 406): `x-message-ttl` and per-message `expiration` (L1-L3: the deadline
//!   is fixed when a copy enters a queue, each copy on its own, kept through requeues, unacked
//!   deliveries never expire, TTL 0 is delivered only to a consumer that takes it on arrival);
//!   `x-expires` (L4: unused = no consumer, get or declare, for that long; deleted at a clock
//!   tick, messages not dead-lettered); `x-max-length` / `x-max-length-bytes` with `x-overflow`
//!   (L5, L6: ready messages and body bytes only; `drop-head` drops heads after the enqueue,
//!   `reject-publish(-dlx)` refuses it, before any hand-over); `x-max-priority` (L7);
//!   `x-single-active-consumer` (D6); `x-delivery-limit` (A10's failed count above it at a
//!   requeue: the message dies as `delivery_limit`); `x-dead-letter-exchange` and
//!   `x-dead-letter-routing-key` (X1).
//! * Expiry (L2): a queue's head is never an expired message at the end of a step: heads are
//!   expired when the clock moves ([`Broker::advance`], the engine's timer), and whenever a
//!   removal or a requeue makes an expired message the head. An expired message behind a live
//!   one waits, counted. Expired messages are never delivered.
//! * Dead-lettering (X2-X6): rejected / nacked without requeue, expired, dropped or refused by
//!   a length limit, over the delivery limit. The copy is republished to the DLX (missing: the
//!   death is dropped, counted) with the `x-death` history (newest first, one entry per
//!   (queue, reason), a recurring one counted and moved first, `time` and the other fields of
//!   its first event), `x-first-death-*` set once and `x-last-death-*` every time, `expiration`
//!   removed, routed by the dead-letter key (then `CC` removed) or by the original keys
//!   (publish key and `CC`); X6's cycle rule for `expired` and `maxlen`.
//! * Exchanges: direct, fanout and topic (E1, topic by the T4 recursion of
//!   `tests/model/topic.rs`), the default exchange (E2); bindings are a set (E5); delete drops
//!   them (E11); `CC` keys route like the publish key (P4).
//! * Channels: delivery tags from 1 (A1), the unacked deliveries by tag, per-consumer prefetch
//!   taken by consumers created later (D3), global prefetch (D4), ack / nack / reject with
//!   `multiple` and `requeue` (A2-A4), recover (A11), close (A7), channel errors (F2), calls on
//!   a channel an error closed (F5).
//! * Dispatch (D1, D5, D6): each queue has one rotation of consumers per consumer priority
//!   (`x-priority`); a message goes to the highest rotation that has a consumer with credit. A
//!   newcomer joins at the back of its rotation; the head message goes to the front consumer,
//!   which moves to the back; a consumer found at the front without credit leaves its rotation
//!   (as RabbitMQ's classic queues find out: when its turn comes) and rejoins at the back once
//!   it has credit again, under both caps (D4). With a single active consumer only the
//!   earliest registered consumer is in a rotation; when it goes the next earliest takes over.
//!   Settling gives credit back before the settled messages are requeued or dead-lettered, so
//!   a requeued message may go straight back to the consumer that released it.
//! * Consumer loss (A7, A8): a handle dropped without cancel; its unacked deliveries are
//!   requeued and their tags become stale (settling one reports it once). On a loss or a
//!   close the consumers go first, then the deliveries are requeued, then queues dispatch
//!   (RabbitMQ's `requeue_and_run`): a single-active consumer taking over gets the requeued
//!   messages first.
//! * Counts (A10): `failed` + 1 per reject with requeue and per loss (close, dropped handle);
//!   `returned` + 1 per nack with requeue and per recover; `redelivered` once delivered before.
//! * The engine's counters ([`Stats`]): each death counted by reason, then as dead-lettered
//!   (a queue took the copy) or dropped; a `reject-publish` refusal counts as `maxlen` too,
//!   though nothing dies.
//!
//! Where SEMANTICS leaves an order open, the model takes it as a parameter: several queues
//! touched by one call (a publish or a dead-letter to several, a settle or close that requeues
//! to several, credit shared by queues through a global prefetch, the timer's round) are
//! visited in [`Broker::set_queue_order`]'s order, so a test can try every order. Deaths are
//! handled as they happen: the messages that die in one queue step (an enqueue, a requeue of
//! one queue's deliveries, a get, one queue's timer round) are dead-lettered once that step is
//! over, in the order they died; messages that die while being dead-lettered wait until the
//! current batch is done (first in, first out). Several deliveries rejected by one call are
//! dead-lettered one by one in tag order, after the queues whose consumers got credit back
//! have dispatched.
//!
//! It models no headers exchanges, exchange-to-exchange bindings, alternates, confirms,
//! consumer timeouts, exclusive queues or durability; 5xx errors are not modelled (callers
//! avoid them).
//!
//! Deliberately slow: every credit check counts the channel's unacked deliveries, every call
//! ends by letting every queue hand out what it can.

use super::topic;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

/// A channel, numbered in opening order from 0.
pub(crate) type ChanId = usize;
/// A consumer, numbered in creation order from 0.
pub(crate) type ConsumerId = usize;
/// A message: the caller's unique id for its body.
pub(crate) type MsgId = u64;

/// The longest `x-message-ttl` and `expiration`, in ms: ten years (SEMANTICS L1).
pub(crate) const MAX_TTL_MS: i64 = 315_360_000_000;

/// An exchange type the model knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Direct,
    Fanout,
    Topic,
}

/// A failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModelError {
    /// An AMQP channel error with this reply code; the channel is closed (F2).
    Amqp(u16),
    /// A call on a channel that is closed: a local error repeating the code of the error that
    /// closed it, if any (F5).
    ChannelClosed(Option<u16>),
}

/// What became of a publish (P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Published {
    /// Routed to queues; this many took it (a `reject-publish` refusal does not count, L6).
    Routed(usize),
    /// Unroutable and mandatory: returned.
    Returned,
    /// Unroutable, not mandatory: dropped and counted.
    Unroutable,
}

/// What a settle call did (A8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    Done,
    Stale,
}

/// Why a message died in a queue: its `x-death` reason (X2, delivery limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Rejected,
    Expired,
    Maxlen,
    DeliveryLimit,
}

impl Reason {
    /// The name `x-death` gives it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::Maxlen => "maxlen",
            Reason::DeliveryLimit => "delivery_limit",
        }
    }

    /// The reason `name` names.
    pub(crate) fn parse(name: &str) -> Option<Reason> {
        [
            Reason::Rejected,
            Reason::Expired,
            Reason::Maxlen,
            Reason::DeliveryLimit,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// `x-overflow` (L6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    DropHead,
    RejectPublish,
    RejectPublishDlx,
    /// A string naming no mode: → 406.
    Unknown,
}

impl Overflow {
    /// The argument's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Overflow::DropHead => "drop-head",
            Overflow::RejectPublish => "reject-publish",
            Overflow::RejectPublishDlx => "reject-publish-dlx",
            Overflow::Unknown => "drop-tail",
        }
    }
}

/// The queue arguments a declare gives, as given: `None` is absent (Q2 compares presence).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueueArgs {
    /// `x-message-ttl`, ms (L1).
    pub(crate) message_ttl: Option<i64>,
    /// `x-expires`, ms (L4).
    pub(crate) expires: Option<i64>,
    /// `x-max-length` (L5).
    pub(crate) max_length: Option<i64>,
    /// `x-max-length-bytes` (L5).
    pub(crate) max_length_bytes: Option<i64>,
    /// `x-overflow` (L6).
    pub(crate) overflow: Option<Overflow>,
    /// `x-dead-letter-exchange` (X1).
    pub(crate) dead_letter_exchange: Option<String>,
    /// `x-dead-letter-routing-key` (X1).
    pub(crate) dead_letter_routing_key: Option<String>,
    /// `x-max-priority` (L7).
    pub(crate) max_priority: Option<i64>,
    /// `x-single-active-consumer` (D6).
    pub(crate) single_active_consumer: Option<bool>,
    /// `x-delivery-limit`; -1 is no limit.
    pub(crate) delivery_limit: Option<i64>,
}

impl QueueArgs {
    /// Whether a declare with these arguments passes their checks (L1, L4-L7, X1; the
    /// delivery limit is -1 or a count).
    pub(crate) fn valid(&self) -> bool {
        let within = |v: Option<i64>, lo: i64, hi: i64| v.is_none_or(|v| (lo..=hi).contains(&v));
        within(self.message_ttl, 0, MAX_TTL_MS)
            && within(self.expires, 1, MAX_TTL_MS)
            && within(self.max_length, 0, i64::MAX)
            && within(self.max_length_bytes, 0, i64::MAX)
            && self.overflow != Some(Overflow::Unknown)
            && within(self.max_priority, 0, 255)
            && (self.dead_letter_routing_key.is_none() || self.dead_letter_exchange.is_some())
            && within(self.delivery_limit, -1, i64::from(u32::MAX))
    }

    fn overflow(&self) -> Overflow {
        self.overflow.unwrap_or(Overflow::DropHead)
    }

    fn single_active(&self) -> bool {
        self.single_active_consumer == Some(true)
    }

    /// The highest priority level (L7): 0 reorders nothing.
    fn top_level(&self) -> u8 {
        self.max_priority
            .and_then(|m| u8::try_from(m).ok())
            .unwrap_or(0)
    }

    fn delivery_limit(&self) -> Option<u32> {
        self.delivery_limit.and_then(|l| u32::try_from(l).ok())
    }

    /// Whether `len` ready messages of `bytes` body bytes exceed a length limit (L5).
    fn over(&self, len: usize, bytes: usize) -> bool {
        let above = |limit: Option<i64>, n: usize| {
            limit.is_some_and(|l| i64::try_from(n).unwrap_or(i64::MAX) > l)
        };
        above(self.max_length, len) || above(self.max_length_bytes, bytes)
    }

    fn has_length_limit(&self) -> bool {
        self.max_length.is_some() || self.max_length_bytes.is_some()
    }
}

/// One `x-death` entry (X5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Death {
    pub(crate) queue: String,
    pub(crate) reason: Reason,
    pub(crate) count: i64,
    /// Seconds, at the pair's first event.
    pub(crate) time: u64,
    /// The exchange the message had been published to.
    pub(crate) exchange: String,
    /// Its publish key and `CC` keys.
    pub(crate) routing_keys: Vec<String>,
    pub(crate) original_expiration: Option<String>,
}

/// The `x-first-death-*` or `x-last-death-*` headers (X5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeathMark {
    pub(crate) queue: String,
    pub(crate) reason: Reason,
    pub(crate) exchange: String,
}

/// A message as a consumer sees it: what the model tracks of its properties and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Message {
    /// The caller's id for its body.
    pub(crate) id: MsgId,
    /// Body bytes (L5).
    pub(crate) len: usize,
    /// The exchange it was (last) published to.
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    /// The `priority` property.
    pub(crate) priority: Option<u8>,
    /// The `expiration` property.
    pub(crate) expiration: Option<String>,
    /// The `CC` header.
    pub(crate) cc: Option<Vec<String>>,
    /// `x-death`, newest first.
    pub(crate) deaths: Vec<Death>,
    pub(crate) first_death: Option<DeathMark>,
    pub(crate) last_death: Option<DeathMark>,
}

impl Message {
    /// Message `id`: an 8-byte body, no properties (the exchange and key are set at publish).
    pub(crate) fn new(id: MsgId) -> Message {
        Message {
            id,
            len: 8,
            exchange: String::new(),
            routing_key: String::new(),
            priority: None,
            expiration: None,
            cc: None,
            deaths: Vec::new(),
            first_death: None,
            last_death: None,
        }
    }
}

/// A message handed to a consumer or returned by `basic_get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) tag: u64,
    pub(crate) msg: Rc<Message>,
    pub(crate) redelivered: bool,
    pub(crate) failed: u32,
    pub(crate) returned: u32,
}

/// `basic_get`'s answer: the delivery and the ready count left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Got {
    pub(crate) delivery: Delivered,
    pub(crate) left: u32,
}

/// Why a consumer ended, as its mailbox reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Cancelled by the application or the engine (queue deleted, D10).
    Cancelled,
    /// Its channel closed; the code of the error that closed it, if any.
    ChannelClosed(Option<u16>),
}

/// What a consumer's mailbox receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Delivery(Delivered),
    Ended(Ended),
}

/// The engine's message counters (`Broker::stats`): deaths by reason, then what became of
/// each dead copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) rejected: u64,
    pub(crate) expired: u64,
    pub(crate) maxlen: u64,
    pub(crate) delivery_limit: u64,
    /// Dead copies a queue took (X4).
    pub(crate) dead_lettered: u64,
    /// Dead copies no queue took: no or a missing DLX, an empty route, cycles (X4, X6).
    pub(crate) dead_dropped: u64,
}

/// One queued message with its per-queue facts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    seq: u64,
    /// Its priority level in this queue (L7).
    level: u8,
    /// Its deadline in this queue, ms (L1).
    expires_at: Option<u64>,
    msg: Rc<Message>,
    redelivered: bool,
    failed: u32,
    returned: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Queue {
    /// Distinguishes a queue from a later one with the same name.
    id: u64,
    auto_delete: bool,
    args: QueueArgs,
    /// Held by an exclusive consumer (D7).
    exclusive: bool,
    /// Ready messages in delivery order: by level, highest first, then by `seq`.
    ready: Vec<Entry>,
    next_seq: u64,
    /// Consumers in registration order.
    consumers: Vec<ConsumerId>,
    /// The rotations of D1 by consumer priority (D5), highest first, each front first.
    rings: Vec<(i32, VecDeque<ConsumerId>)>,
    /// Consumers out of their rotation for lack of credit, in the order they left.
    parked: Vec<ConsumerId>,
    /// When it was last used (L4): declared, consumed from, got from, or left by a consumer.
    last_used: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Exchange {
    kind: Kind,
    /// (binding key, queue name): a set (E5).
    bindings: BTreeSet<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Unacked {
    /// The queue's `id`.
    queue: u64,
    /// The consumer it was delivered to; `None` for `basic_get`.
    consumer: Option<ConsumerId>,
    entry: Entry,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Channel {
    /// `Some` once closed, with the code of the error that closed it, if any.
    closed: Option<Option<u16>>,
    last_tag: u64,
    unacked: BTreeMap<u64, Unacked>,
    /// Tags of deliveries the engine took back (A8).
    stale: BTreeSet<u64>,
    /// The per-consumer prefetch for consumers created from now on (D3); 0 = unlimited.
    prefetch: u32,
    /// The global prefetch (D4); 0 = unlimited.
    global: u32,
    /// Live consumers in creation order.
    consumers: Vec<ConsumerId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Consumer {
    channel: ChanId,
    queue: u64,
    queue_name: String,
    tag: String,
    no_ack: bool,
    prefetch: u32,
    /// `x-priority` (D5).
    priority: i32,
    live: bool,
}

/// Messages that died in one queue step, waiting to be dead-lettered.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Job {
    queue: String,
    dlx: Option<String>,
    dlk: Option<String>,
    dead: Vec<(Rc<Message>, Reason)>,
}

/// How a settle call treats what it settles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Ack,
    /// Reject or nack without requeue: dead-lettered as `rejected` (A4).
    Discard,
    /// Nack with requeue (and recover): `returned` + 1.
    NackRequeue,
    /// Nack with requeue at the tail: `returned` + 1.
    NackRequeueTail,
    /// Reject with requeue, and loss: `failed` + 1.
    RejectRequeue,
}

type Dead = Vec<(Rc<Message>, Reason)>;

/// The reference broker. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Broker {
    queues: BTreeMap<String, Queue>,
    next_queue_id: u64,
    exchanges: BTreeMap<String, Exchange>,
    channels: Vec<Channel>,
    consumers: Vec<Consumer>,
    unroutable: u64,
    stats: Stats,
    /// The clock, ms.
    now: u64,
    /// Mailbox events not yet taken, in the order they happened.
    events: Vec<(ConsumerId, Event)>,
    /// The order calls visit several queues in (names; others after them, by name).
    queue_order: Vec<String>,
    /// Dead-letter batches waiting (see the module docs), and whether they are being drained.
    jobs: VecDeque<Job>,
    draining: bool,
}

impl Default for Broker {
    fn default() -> Self {
        Broker::new()
    }
}

impl Broker {
    /// No queues, no user exchanges, no channels; the clock at 0.
    pub(crate) fn new() -> Broker {
        Broker::at(0)
    }

    /// As [`new`](Self::new), the clock at `now_ms`.
    pub(crate) fn at(now_ms: u64) -> Broker {
        Broker {
            queues: BTreeMap::new(),
            next_queue_id: 0,
            exchanges: BTreeMap::new(),
            channels: Vec::new(),
            consumers: Vec::new(),
            unroutable: 0,
            stats: Stats::default(),
            now: now_ms,
            events: Vec::new(),
            queue_order: Vec::new(),
            jobs: VecDeque::new(),
            draining: false,
        }
    }

    /// Sets the order in which one call visits several queues (SEMANTICS leaves it open).
    pub(crate) fn set_queue_order(&mut self, names: &[&str]) {
        self.queue_order = names.iter().map(|n| n.to_string()).collect();
    }

    /// The mailbox events since the last call, in order.
    pub(crate) fn take_events(&mut self) -> Vec<(ConsumerId, Event)> {
        std::mem::take(&mut self.events)
    }

    /// (ready messages, consumers) of queue `name`, if it exists.
    pub(crate) fn queue_counts(&self, name: &str) -> Option<(usize, usize)> {
        self.queues
            .get(name)
            .map(|q| (q.ready.len(), q.consumers.len()))
    }

    /// The arguments queue `name` was declared with, if it exists.
    pub(crate) fn queue_args(&self, name: &str) -> Option<&QueueArgs> {
        self.queues.get(name).map(|q| &q.args)
    }

    /// Whether queue `name` was declared auto-delete, if it exists.
    pub(crate) fn queue_auto_delete(&self, name: &str) -> Option<bool> {
        self.queues.get(name).map(|q| q.auto_delete)
    }

    /// Whether exchange `name` exists (`""` always does).
    pub(crate) fn exchange_exists(&self, name: &str) -> bool {
        name.is_empty() || self.exchanges.contains_key(name)
    }

    /// Non-mandatory publishes that reached no queue.
    pub(crate) fn unroutable(&self) -> u64 {
        self.unroutable
    }

    /// The death counters.
    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    /// The clock, ms.
    pub(crate) fn now_ms(&self) -> u64 {
        self.now
    }

    /// Whether channel `ch` is open.
    pub(crate) fn channel_open(&self, ch: ChanId) -> bool {
        self.channels[ch].closed.is_none()
    }

    /// The live consumers of channel `ch`, in creation order.
    pub(crate) fn channel_consumers(&self, ch: ChanId) -> Vec<ConsumerId> {
        self.channels[ch].consumers.clone()
    }

    /// The tags of channel `ch`'s unacked deliveries, in order.
    pub(crate) fn unacked_tags(&self, ch: ChanId) -> Vec<u64> {
        self.channels[ch].unacked.keys().copied().collect()
    }

    /// The stale tags of channel `ch` (A8), in order.
    pub(crate) fn stale_tags(&self, ch: ChanId) -> Vec<u64> {
        self.channels[ch].stale.iter().copied().collect()
    }

    /// The queue name of channel `ch`'s unacked delivery `tag`, while that queue lives.
    pub(crate) fn unacked_queue(&self, ch: ChanId, tag: u64) -> Option<&str> {
        let u = self.channels[ch].unacked.get(&tag)?;
        self.queue_name(u.queue)
    }

    /// The queue live consumer `c` consumes from.
    pub(crate) fn consumer_queue(&self, c: ConsumerId) -> Option<&str> {
        let con = &self.consumers[c];
        (con.live).then_some(con.queue_name.as_str())
    }

    /// Whether consumer `c`'s credit has a cap: manual ack with its own or its channel's
    /// prefetch (D3, D4).
    pub(crate) fn credit_capped(&self, c: ConsumerId) -> bool {
        let con = &self.consumers[c];
        !con.no_ack && (con.prefetch > 0 || self.channels[con.channel].global > 0)
    }

    /// The consumers of queue `name`, in registration order.
    pub(crate) fn queue_consumers(&self, name: &str) -> Vec<ConsumerId> {
        self.queues
            .get(name)
            .map(|q| q.consumers.clone())
            .unwrap_or_default()
    }

    /// Channel `ch`'s global prefetch (D4); 0 = none.
    pub(crate) fn channel_global(&self, ch: ChanId) -> u32 {
        self.channels[ch].global
    }

    /// The channel of consumer `c`.
    pub(crate) fn consumer_channel(&self, c: ConsumerId) -> ChanId {
        self.consumers[c].channel
    }

    /// Consumer `c`'s tag.
    pub(crate) fn consumer_tag(&self, c: ConsumerId) -> &str {
        &self.consumers[c].tag
    }

    fn queue_name(&self, id: u64) -> Option<&str> {
        self.queues
            .iter()
            .find(|(_, q)| q.id == id)
            .map(|(n, _)| n.as_str())
    }

    /// Where `name` comes in the chosen queue order.
    fn order_key(&self, name: &str) -> (usize, String) {
        (
            self.queue_order
                .iter()
                .position(|o| o == name)
                .unwrap_or(usize::MAX),
            name.to_string(),
        )
    }

    /// The live queues in the chosen order.
    fn ordered_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.queues.keys().cloned().collect();
        names.sort_by_key(|n| self.order_key(n));
        names
    }

    // ----- channels -----

    /// Opens a channel: tags from 1, no prefetch.
    pub(crate) fn open_channel(&mut self) -> ChanId {
        self.channels.push(Channel {
            closed: None,
            last_tag: 0,
            unacked: BTreeMap::new(),
            stale: BTreeSet::new(),
            prefetch: 0,
            global: 0,
            consumers: Vec::new(),
        });
        self.channels.len() - 1
    }

    /// Closes channel `ch` (A7); closing a closed channel does nothing.
    pub(crate) fn close_channel(&mut self, ch: ChanId) {
        self.close(ch, None);
        self.run_queues();
    }

    fn check_open(&self, ch: ChanId) -> Result<(), ModelError> {
        match self.channels[ch].closed {
            None => Ok(()),
            Some(code) => Err(ModelError::ChannelClosed(code)),
        }
    }

    /// A channel error (F2): closes the channel, returns the error.
    fn fail(&mut self, ch: ChanId, code: u16) -> ModelError {
        self.close(ch, Some(code));
        self.run_queues();
        ModelError::Amqp(code)
    }

    /// F2, A7: consumers end, then every unacked delivery goes back to its queue, `failed` + 1,
    /// then the queues dispatch.
    fn close(&mut self, ch: ChanId, cause: Option<u16>) {
        if self.channels[ch].closed.is_some() {
            return;
        }
        self.channels[ch].closed = Some(cause);
        let lost: BTreeSet<u64> = self.channels[ch]
            .unacked
            .values()
            .map(|u| u.queue)
            .collect();
        let mut takeovers = Vec::new();
        for c in self.channels[ch].consumers.clone() {
            takeovers.extend(self.end_consumer(c, Some(Ended::ChannelClosed(cause)), Some(&lost)));
        }
        // The queues whose next single active consumer took over, and that get nothing back,
        // dispatch first (the engine ends a channel's consumers in no fixed order).
        for name in self.ordered_names() {
            if takeovers.contains(&name) {
                let mut dead = Vec::new();
                self.dispatch(&name, &mut dead);
                self.bury(&name, dead);
            }
        }
        let unacked = std::mem::take(&mut self.channels[ch].unacked);
        self.channels[ch].stale.clear();
        self.requeue(unacked.into_values().collect(), How::RejectRequeue);
    }

    // ----- the clock -----

    /// The clock moves `ms` forward and the timers run (the engine's tick): every queue, in
    /// the chosen order, expires its heads (L2) and dispatches, then goes if `x-expires` ran
    /// out (L4).
    pub(crate) fn advance(&mut self, ms: u64) {
        self.now = self.now.saturating_add(ms);
        for name in self.ordered_names() {
            if !self.queues.contains_key(&name) {
                continue;
            }
            let mut dead = Vec::new();
            self.dispatch(&name, &mut dead);
            self.bury(&name, dead);
            let now = self.now;
            let idle = self.queues.get(&name).is_some_and(|q| {
                q.consumers.is_empty()
                    && q.args.expires.is_some_and(|e| {
                        i64::try_from(now.saturating_sub(q.last_used)).unwrap_or(i64::MAX) >= e
                    })
            });
            if idle {
                // Not dead-lettered (X2).
                self.delete_queue(&name);
            }
        }
        self.run_queues();
    }

    // ----- exchanges -----

    /// E1, E2, E10 (type only).
    pub(crate) fn exchange_declare(
        &mut self,
        ch: ChanId,
        name: &str,
        kind: Kind,
    ) -> Result<(), ModelError> {
        self.check_open(ch)?;
        if name.is_empty() {
            return Err(self.fail(ch, 403));
        }
        match self.exchanges.get(name) {
            Some(x) if x.kind != kind => Err(self.fail(ch, 406)),
            Some(_) => Ok(()),
            None => {
                self.exchanges.insert(
                    name.to_string(),
                    Exchange {
                        kind,
                        bindings: BTreeSet::new(),
                    },
                );
                Ok(())
            }
        }
    }

    /// E11: idempotent, drops the bindings.
    pub(crate) fn exchange_delete(&mut self, ch: ChanId, name: &str) -> Result<(), ModelError> {
        self.check_open(ch)?;
        if name.is_empty() {
            return Err(self.fail(ch, 403));
        }
        self.exchanges.remove(name);
        Ok(())
    }

    /// E2, E5: the default exchange → 403, a missing end → 404, binding twice is a no-op.
    pub(crate) fn queue_bind(
        &mut self,
        ch: ChanId,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> Result<(), ModelError> {
        self.binding(ch, queue, exchange, key, true)
    }

    /// Q10: idempotent; missing ends as for bind.
    pub(crate) fn queue_unbind(
        &mut self,
        ch: ChanId,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> Result<(), ModelError> {
        self.binding(ch, queue, exchange, key, false)
    }

    fn binding(
        &mut self,
        ch: ChanId,
        queue: &str,
        exchange: &str,
        key: &str,
        bind: bool,
    ) -> Result<(), ModelError> {
        self.check_open(ch)?;
        if exchange.is_empty() {
            return Err(self.fail(ch, 403));
        }
        if !self.exchanges.contains_key(exchange) || !self.queues.contains_key(queue) {
            return Err(self.fail(ch, 404));
        }
        let x = self.exchanges.get_mut(exchange).expect("checked");
        let pair = (key.to_string(), queue.to_string());
        if bind {
            x.bindings.insert(pair);
        } else {
            x.bindings.remove(&pair);
        }
        Ok(())
    }

    /// The queues that `key` and the `cc` keys reach from `exchange` (E1, E2, P4), each once,
    /// in the chosen order; `None` if the exchange is missing.
    fn route(&self, exchange: &str, key: &str, cc: Option<&[String]>) -> Option<Vec<String>> {
        let keys: Vec<&str> = std::iter::once(key)
            .chain(cc.into_iter().flatten().map(String::as_str))
            .collect();
        let mut t: Vec<String> = if exchange.is_empty() {
            self.queues
                .keys()
                .filter(|q| keys.contains(&q.as_str()))
                .cloned()
                .collect()
        } else {
            let x = self.exchanges.get(exchange)?;
            x.bindings
                .iter()
                .filter(|(bk, _)| {
                    keys.iter().any(|k| match x.kind {
                        Kind::Direct => bk == k,
                        Kind::Fanout => true,
                        Kind::Topic => topic::matches(bk, k),
                    })
                })
                .map(|(_, q)| q.clone())
                .collect()
        };
        t.sort_by_key(|n| self.order_key(n));
        t.dedup();
        Some(t)
    }

    // ----- queues -----

    /// Q1, Q2 (auto_delete compared): the ready and consumer counts.
    pub(crate) fn queue_declare(
        &mut self,
        ch: ChanId,
        name: &str,
        auto_delete: bool,
    ) -> Result<(u32, u32), ModelError> {
        self.queue_declare_with(ch, name, auto_delete, &QueueArgs::default())
    }

    /// Q1, Q2 (auto_delete and the arguments compared; invalid arguments → 406), L4 (a
    /// declare uses the queue): the ready and consumer counts.
    pub(crate) fn queue_declare_with(
        &mut self,
        ch: ChanId,
        name: &str,
        auto_delete: bool,
        args: &QueueArgs,
    ) -> Result<(u32, u32), ModelError> {
        self.check_open(ch)?;
        if !args.valid() {
            return Err(self.fail(ch, 406));
        }
        let now = self.now;
        if let Some(q) = self.queues.get_mut(name) {
            if q.auto_delete != auto_delete || q.args != *args {
                return Err(self.fail(ch, 406));
            }
            q.last_used = now;
            return Ok((count(q.ready.len()), count(q.consumers.len())));
        }
        self.queues.insert(
            name.to_string(),
            Queue {
                id: self.next_queue_id,
                auto_delete,
                args: args.clone(),
                exclusive: false,
                ready: Vec::new(),
                next_seq: 0,
                consumers: Vec::new(),
                rings: Vec::new(),
                parked: Vec::new(),
                last_used: now,
            },
        );
        self.next_queue_id += 1;
        Ok((0, 0))
    }

    /// Q9: idempotent; `if_unused` / `if_empty` → 406; returns the ready count discarded.
    pub(crate) fn queue_delete(
        &mut self,
        ch: ChanId,
        name: &str,
        if_unused: bool,
        if_empty: bool,
    ) -> Result<u32, ModelError> {
        self.check_open(ch)?;
        let Some(q) = self.queues.get(name) else {
            return Ok(0);
        };
        if (if_unused && !q.consumers.is_empty()) || (if_empty && !q.ready.is_empty()) {
            return Err(self.fail(ch, 406));
        }
        let n = count(q.ready.len());
        self.delete_queue(name);
        Ok(n)
    }

    /// Q10: removes the ready messages (not dead-lettered), returns their number; a missing
    /// queue → 404.
    pub(crate) fn queue_purge(&mut self, ch: ChanId, name: &str) -> Result<u32, ModelError> {
        self.check_open(ch)?;
        match self.queues.get_mut(name) {
            None => Err(self.fail(ch, 404)),
            Some(q) => {
                let n = count(q.ready.len());
                q.ready.clear();
                Ok(n)
            }
        }
    }

    /// Removes queue `name`: messages discarded (not dead-lettered), bindings dropped,
    /// consumers cancelled (D10).
    fn delete_queue(&mut self, name: &str) {
        let Some(q) = self.queues.remove(name) else {
            return;
        };
        for x in self.exchanges.values_mut() {
            x.bindings.retain(|(_, qn)| qn != name);
        }
        for c in q.consumers {
            self.consumers[c].live = false;
            let ch = self.consumers[c].channel;
            self.channels[ch].consumers.retain(|&o| o != c);
            self.events.push((c, Event::Ended(Ended::Cancelled)));
        }
    }

    // ----- one queue's steps -----

    /// Enqueues `msg` in live queue `name` (L1-L3, L5-L7) and hands it over if it can;
    /// whether the queue took it (`false`: a `reject-publish` limit refused it).
    fn enqueue(&mut self, name: &str, msg: Rc<Message>) -> bool {
        let now = self.now;
        let q = self
            .queues
            .get_mut(name)
            .expect("enqueue into a live queue");
        let entry = Entry {
            seq: q.next_seq,
            level: msg.priority.unwrap_or(0).min(q.args.top_level()),
            expires_at: deadline(now, &q.args, &msg),
            msg,
            redelivered: false,
            failed: 0,
            returned: 0,
        };
        q.next_seq += 1;
        let overflow = q.args.overflow();
        // L6: a `reject-publish` queue refuses what would exceed a limit, before any hand-over.
        if overflow != Overflow::DropHead
            && q.args.has_length_limit()
            && q.args
                .over(q.ready.len() + 1, ready_bytes(&q.ready) + entry.msg.len)
        {
            if overflow == Overflow::RejectPublishDlx {
                self.bury(name, vec![(entry.msg, Reason::Maxlen)]);
            } else {
                // Refused, not dead: counted all the same (`BrokerStats::maxlen`).
                self.stats.maxlen += 1;
            }
            return false;
        }
        if q.ready.is_empty() {
            if let Some(c) = self.pick(name) {
                self.deliver(name, c, entry);
                return true;
            }
        }
        if entry.expires_at.is_some_and(|t| t <= now) {
            // L3: due on arrival and no consumer took it.
            self.bury(name, vec![(entry.msg, Reason::Expired)]);
            return true;
        }
        let q = self.queues.get_mut(name).expect("live");
        place(&mut q.ready, entry);
        let mut dead = Vec::new();
        self.drop_heads(name, &mut dead);
        // A head that was already due stays for the timer (its round may be under way, L2);
        // one that a drop made the head dies now.
        if !dead.is_empty() && self.head_expired(name) {
            self.expire_heads(name, &mut dead);
        }
        self.bury(name, dead);
        true
    }

    /// L6 `drop-head`: drops heads while over a length limit.
    fn drop_heads(&mut self, name: &str, dead: &mut Dead) {
        let q = self.queues.get_mut(name).expect("live");
        if q.args.overflow() != Overflow::DropHead {
            return;
        }
        while !q.ready.is_empty() && q.args.over(q.ready.len(), ready_bytes(&q.ready)) {
            dead.push((q.ready.remove(0).msg, Reason::Maxlen));
        }
    }

    fn head_expired(&self, name: &str) -> bool {
        let now = self.now;
        self.queues[name]
            .ready
            .first()
            .is_some_and(|e| e.expires_at.is_some_and(|t| t <= now))
    }

    /// L2: expired heads die.
    fn expire_heads(&mut self, name: &str, dead: &mut Dead) {
        while self.head_expired(name) {
            let q = self.queues.get_mut(name).expect("live");
            dead.push((q.ready.remove(0).msg, Reason::Expired));
        }
    }

    /// D1, D5: the front consumer with credit of the highest rotation that has one, moved to
    /// the back; those found without credit on the way leave their rotation.
    fn pick(&mut self, name: &str) -> Option<ConsumerId> {
        for r in 0..self.queues[name].rings.len() {
            while let Some(&c) = self.queues[name].rings[r].1.front() {
                let credit = self.has_credit(c);
                let q = self.queues.get_mut(name).expect("live");
                q.rings[r].1.pop_front();
                if credit {
                    q.rings[r].1.push_back(c);
                    return Some(c);
                }
                q.parked.push(c);
            }
        }
        None
    }

    /// Hands `entry` of queue `name` to consumer `c`: the channel's next tag; unacked unless
    /// auto-ack (D3).
    fn deliver(&mut self, name: &str, c: ConsumerId, entry: Entry) {
        let qid = self.queues[name].id;
        let con = &self.consumers[c];
        let chan = &mut self.channels[con.channel];
        chan.last_tag += 1;
        let tag = chan.last_tag;
        let event = Event::Delivery(delivered(tag, &entry));
        if !con.no_ack {
            chan.unacked.insert(
                tag,
                Unacked {
                    queue: qid,
                    consumer: Some(c),
                    entry,
                },
            );
        }
        self.events.push((c, event));
    }

    /// D1: expired heads die (L2); the head goes to the consumer [`pick`](Self::pick) finds,
    /// while there are both.
    fn dispatch(&mut self, name: &str, dead: &mut Dead) {
        loop {
            self.expire_heads(name, dead);
            if self.queues[name].ready.is_empty() {
                return;
            }
            let Some(c) = self.pick(name) else {
                return;
            };
            let entry = self.queues.get_mut(name).expect("live").ready.remove(0);
            self.deliver(name, c, entry);
        }
    }

    /// The parked consumers of queue `name` that have credit again rejoin the back of their
    /// rotation, in the order they left.
    fn unpark(&mut self, name: &str) {
        for c in self.queues[name].parked.clone() {
            if self.has_credit(c) {
                let prio = self.consumers[c].priority;
                let q = self.queues.get_mut(name).expect("live");
                q.parked.retain(|&o| o != c);
                join(&mut q.rings, prio, c);
            }
        }
    }

    /// Every queue, in the chosen order, takes back the parked consumers that have credit
    /// again and hands out what it can.
    fn run_queues(&mut self) {
        for name in self.ordered_names() {
            if self.queues.contains_key(&name) {
                self.unpark(&name);
                let mut dead = Vec::new();
                self.dispatch(&name, &mut dead);
                self.bury(&name, dead);
            }
        }
    }

    /// Puts settled or lost deliveries back (A5), queue by queue in the chosen order, each
    /// queue's in tag order: `redelivered`, counted; over the delivery limit they die instead.
    /// Then the queue drops heads over its length limit (L6), dispatches, and its dead are
    /// dead-lettered. Deliveries of a deleted queue are dropped (Q9).
    fn requeue(&mut self, items: Vec<Unacked>, how: How) {
        for name in self.ordered_names() {
            let Some(q) = self.queues.get(&name) else {
                continue;
            };
            let qid = q.id;
            let limit = q.args.delivery_limit();
            let mine: Vec<Entry> = items
                .iter()
                .filter(|u| u.queue == qid)
                .map(|u| u.entry.clone())
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut dead = Vec::new();
            for mut e in mine {
                e.redelivered = true;
                match how {
                    How::NackRequeue | How::NackRequeueTail => e.returned += 1,
                    How::RejectRequeue => e.failed += 1,
                    How::Ack | How::Discard => unreachable!("not requeued"),
                }
                if limit.is_some_and(|l| e.failed > l) {
                    dead.push((e.msg, Reason::DeliveryLimit));
                    continue;
                }
                let q = self.queues.get_mut(&name).expect("live");
                if how == How::NackRequeueTail {
                    e.seq = q.next_seq;
                    q.next_seq += 1;
                }
                place(&mut q.ready, e);
            }
            self.drop_heads(&name, &mut dead);
            self.unpark(&name);
            self.dispatch(&name, &mut dead);
            self.bury(&name, dead);
        }
    }

    // ----- dead-lettering -----

    /// Messages that died in queue `queue`, in order: dead-lettered now, or after the batch
    /// being dead-lettered when one is (see the module docs).
    fn bury(&mut self, queue: &str, dead: Dead) {
        if dead.is_empty() {
            return;
        }
        let args = &self.queues[queue].args;
        self.jobs.push_back(Job {
            queue: queue.to_string(),
            dlx: args.dead_letter_exchange.clone(),
            dlk: args.dead_letter_routing_key.clone(),
            dead,
        });
        if self.draining {
            return;
        }
        self.draining = true;
        while let Some(job) = self.jobs.pop_front() {
            for (msg, reason) in &job.dead {
                let s = &mut self.stats;
                match reason {
                    Reason::Rejected => s.rejected += 1,
                    Reason::Expired => s.expired += 1,
                    Reason::Maxlen => s.maxlen += 1,
                    Reason::DeliveryLimit => s.delivery_limit += 1,
                }
                if self.dead_letter(&job, msg, *reason) {
                    self.stats.dead_lettered += 1;
                } else {
                    self.stats.dead_dropped += 1;
                }
            }
        }
        self.draining = false;
    }

    /// X3-X6: republishes `old`, dead in `job.queue` for `reason`, to the DLX; whether a queue
    /// took it.
    fn dead_letter(&mut self, job: &Job, old: &Message, reason: Reason) -> bool {
        let Some(dlx) = &job.dlx else {
            return false;
        };
        let mut m = old.clone();
        let original_expiration = m.expiration.take();
        let mut keys = vec![m.routing_key.clone()];
        keys.extend(m.cc.iter().flatten().cloned());
        match m
            .deaths
            .iter()
            .position(|d| d.queue == job.queue && d.reason == reason)
        {
            Some(at) => {
                let mut d = m.deaths.remove(at);
                d.count += 1;
                m.deaths.insert(0, d);
            }
            None => m.deaths.insert(
                0,
                Death {
                    queue: job.queue.clone(),
                    reason,
                    count: 1,
                    time: self.now / 1000,
                    exchange: m.exchange.clone(),
                    routing_keys: keys,
                    original_expiration,
                },
            ),
        }
        let mark = DeathMark {
            queue: job.queue.clone(),
            reason,
            exchange: m.exchange.clone(),
        };
        if m.first_death.is_none() {
            m.first_death = Some(mark.clone());
        }
        m.last_death = Some(mark);
        if let Some(key) = &job.dlk {
            m.routing_key = key.clone();
            m.cc = None;
        }
        m.exchange = dlx.clone();
        let Some(mut targets) = self.route(dlx, &m.routing_key, m.cc.as_deref()) else {
            return false;
        };
        if matches!(reason, Reason::Expired | Reason::Maxlen) {
            targets.retain(|t| !is_cycle(t, &m.deaths));
        }
        let m = Rc::new(m);
        let mut took = false;
        for t in targets {
            if self.queues.contains_key(&t) && self.enqueue(&t, m.clone()) {
                took = true;
            }
        }
        took
    }

    // ----- publishing -----

    /// As [`publish_message`](Self::publish_message), for message `id` without properties.
    pub(crate) fn publish(
        &mut self,
        ch: ChanId,
        exchange: &str,
        key: &str,
        mandatory: bool,
        id: MsgId,
    ) -> Result<Published, ModelError> {
        self.publish_message(ch, exchange, key, mandatory, Message::new(id))
    }

    /// P1-P4, E1, E2: checks `msg` (an invalid `expiration` → 406, P3), routes it by `key`
    /// and its `CC` keys and enqueues it in every queue reached, in the chosen order.
    pub(crate) fn publish_message(
        &mut self,
        ch: ChanId,
        exchange: &str,
        key: &str,
        mandatory: bool,
        mut msg: Message,
    ) -> Result<Published, ModelError> {
        self.check_open(ch)?;
        if msg
            .expiration
            .as_deref()
            .is_some_and(|e| parse_expiration(e).is_none())
        {
            return Err(self.fail(ch, 406));
        }
        let Some(targets) = self.route(exchange, key, msg.cc.as_deref()) else {
            return Err(self.fail(ch, 404));
        };
        if targets.is_empty() {
            if mandatory {
                return Ok(Published::Returned);
            }
            self.unroutable += 1;
            return Ok(Published::Unroutable);
        }
        msg.exchange = exchange.to_string();
        msg.routing_key = key.to_string();
        let msg = Rc::new(msg);
        let mut took = 0;
        for name in &targets {
            if self.enqueue(name, msg.clone()) {
                took += 1;
            }
        }
        self.run_queues();
        Ok(Published::Routed(took))
    }

    // ----- consuming -----

    /// D3 (`global = false`: consumers created later) and D4 (`global = true`).
    pub(crate) fn basic_qos(
        &mut self,
        ch: ChanId,
        prefetch: u32,
        global: bool,
    ) -> Result<(), ModelError> {
        self.check_open(ch)?;
        if global {
            self.channels[ch].global = prefetch;
        } else {
            self.channels[ch].prefetch = prefetch;
        }
        self.run_queues();
        Ok(())
    }

    /// As [`basic_consume_with`](Self::basic_consume_with), at consumer priority 0.
    pub(crate) fn basic_consume(
        &mut self,
        ch: ChanId,
        queue: &str,
        tag: &str,
        no_ack: bool,
        exclusive: bool,
    ) -> Result<ConsumerId, ModelError> {
        self.basic_consume_with(ch, queue, tag, no_ack, exclusive, 0)
    }

    /// D1, D3, D5-D7, L4 (a consume uses the queue): a new consumer at the back of its
    /// priority's rotation (with a single active consumer, only if it is the first). The
    /// caller keeps tags unique on the channel (a reused one is a 530, not modelled).
    pub(crate) fn basic_consume_with(
        &mut self,
        ch: ChanId,
        queue: &str,
        tag: &str,
        no_ack: bool,
        exclusive: bool,
        priority: i32,
    ) -> Result<ConsumerId, ModelError> {
        self.check_open(ch)?;
        let now = self.now;
        let Some(q) = self.queues.get_mut(queue) else {
            return Err(self.fail(ch, 404));
        };
        q.last_used = now;
        if q.exclusive || (exclusive && (q.args.single_active() || !q.consumers.is_empty())) {
            return Err(self.fail(ch, 403));
        }
        let c = self.consumers.len();
        self.consumers.push(Consumer {
            channel: ch,
            queue: q.id,
            queue_name: queue.to_string(),
            tag: tag.to_string(),
            no_ack,
            prefetch: self.channels[ch].prefetch,
            priority,
            live: true,
        });
        q.exclusive = exclusive;
        q.consumers.push(c);
        if !q.args.single_active() || q.consumers.len() == 1 {
            join(&mut q.rings, priority, c);
        }
        self.channels[ch].consumers.push(c);
        self.run_queues();
        Ok(c)
    }

    /// A6: the consumer ends; its unacked deliveries stay. An unknown tag is no error.
    pub(crate) fn basic_cancel(&mut self, ch: ChanId, tag: &str) -> Result<(), ModelError> {
        self.check_open(ch)?;
        let found = self.channels[ch]
            .consumers
            .iter()
            .copied()
            .find(|&c| self.consumers[c].tag == tag);
        if let Some(c) = found {
            self.end_consumer(c, Some(Ended::Cancelled), None);
        }
        self.run_queues();
        Ok(())
    }

    /// A7, A8: consumer `c`'s handle is dropped without cancel. It ends (its mailbox is gone:
    /// no event); its unacked deliveries go back (`failed` + 1) and their tags turn stale.
    pub(crate) fn lose_consumer(&mut self, c: ConsumerId) {
        if !self.consumers[c].live {
            return;
        }
        let ch = self.consumers[c].channel;
        let tags: Vec<u64> = self.channels[ch]
            .unacked
            .iter()
            .filter(|(_, u)| u.consumer == Some(c))
            .map(|(&t, _)| t)
            .collect();
        let lost: BTreeSet<u64> = tags
            .iter()
            .map(|t| self.channels[ch].unacked[t].queue)
            .collect();
        if let Some(name) = self.end_consumer(c, None, Some(&lost)) {
            let mut dead = Vec::new();
            self.dispatch(&name, &mut dead);
            self.bury(&name, dead);
        }
        let mut back = Vec::new();
        for t in tags {
            back.push(self.channels[ch].unacked.remove(&t).expect("listed"));
            self.channels[ch].stale.insert(t);
        }
        self.requeue(back, How::RejectRequeue);
        self.run_queues();
    }

    /// Takes consumer `c` off its queue and channel; an auto-delete queue that loses its last
    /// consumer goes (Q5); with a single active consumer the earliest remaining one takes over
    /// (D6). `event` is what its mailbox gets. `lost`: the ids of the queues a close or loss
    /// is about to requeue deliveries to, which dispatch after their requeue. Returns the
    /// queue whose next consumer took over if it is to dispatch now (it gets nothing back).
    fn end_consumer(
        &mut self,
        c: ConsumerId,
        event: Option<Ended>,
        lost: Option<&BTreeSet<u64>>,
    ) -> Option<String> {
        if !self.consumers[c].live {
            return None;
        }
        self.consumers[c].live = false;
        let ch = self.consumers[c].channel;
        self.channels[ch].consumers.retain(|&o| o != c);
        if let Some(e) = event {
            self.events.push((c, Event::Ended(e)));
        }
        let name = self.consumers[c].queue_name.clone();
        let qid = self.consumers[c].queue;
        let now = self.now;
        let q = self.queues.get_mut(&name).filter(|q| q.id == qid)?;
        let was_active = q.consumers.first() == Some(&c);
        q.consumers.retain(|&o| o != c);
        for (_, ring) in &mut q.rings {
            ring.retain(|&o| o != c);
        }
        q.parked.retain(|&o| o != c);
        q.last_used = now;
        if q.consumers.is_empty() {
            q.exclusive = false;
            if q.auto_delete {
                self.delete_queue(&name);
            }
            return None;
        }
        if !(q.args.single_active() && was_active) {
            return None;
        }
        let next = q.consumers[0];
        join(&mut q.rings, self.consumers[next].priority, next);
        if !lost.is_some_and(|l| l.contains(&qid)) {
            return Some(name);
        }
        None
    }

    /// D9, L4 (a get uses the queue): the head message and the ready count left; prefetch
    /// ignored; takes the next tag.
    pub(crate) fn basic_get(
        &mut self,
        ch: ChanId,
        queue: &str,
        no_ack: bool,
    ) -> Result<Option<Got>, ModelError> {
        self.check_open(ch)?;
        let now = self.now;
        let Some(q) = self.queues.get_mut(queue) else {
            return Err(self.fail(ch, 404));
        };
        q.last_used = now;
        if q.ready.is_empty() {
            return Ok(None);
        }
        let entry = q.ready.remove(0);
        let mut dead = Vec::new();
        self.expire_heads(queue, &mut dead);
        let q = &self.queues[queue];
        let left = count(q.ready.len());
        let qid = q.id;
        let chan = &mut self.channels[ch];
        chan.last_tag += 1;
        let tag = chan.last_tag;
        let delivery = delivered(tag, &entry);
        if !no_ack {
            chan.unacked.insert(
                tag,
                Unacked {
                    queue: qid,
                    consumer: None,
                    entry,
                },
            );
        }
        self.bury(queue, dead);
        Ok(Some(Got { delivery, left }))
    }

    // ----- acknowledgements -----

    /// A2.
    pub(crate) fn basic_ack(
        &mut self,
        ch: ChanId,
        tag: u64,
        multiple: bool,
    ) -> Result<Settled, ModelError> {
        self.settle(ch, tag, multiple, How::Ack)
    }

    /// As [`basic_nack_with`](Self::basic_nack_with), requeueing at the original place.
    pub(crate) fn basic_nack(
        &mut self,
        ch: ChanId,
        tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<Settled, ModelError> {
        self.basic_nack_with(ch, tag, multiple, requeue, false)
    }

    /// A4: like ack; requeue puts them back (`returned` + 1), at the tail with `at_tail`,
    /// else they are dead-lettered (`rejected`).
    pub(crate) fn basic_nack_with(
        &mut self,
        ch: ChanId,
        tag: u64,
        multiple: bool,
        requeue: bool,
        at_tail: bool,
    ) -> Result<Settled, ModelError> {
        let how = match (requeue, at_tail) {
            (false, _) => How::Discard,
            (true, false) => How::NackRequeue,
            (true, true) => How::NackRequeueTail,
        };
        self.settle(ch, tag, multiple, how)
    }

    /// A4: one delivery; requeue puts it back (`failed` + 1), else it is dead-lettered
    /// (`rejected`).
    pub(crate) fn basic_reject(
        &mut self,
        ch: ChanId,
        tag: u64,
        requeue: bool,
    ) -> Result<Settled, ModelError> {
        let how = if requeue {
            How::RejectRequeue
        } else {
            How::Discard
        };
        self.settle(ch, tag, false, how)
    }

    /// A11 (`requeue = true`): every unacked delivery of the channel goes back, `returned` + 1;
    /// their tags are settled.
    pub(crate) fn basic_recover(&mut self, ch: ChanId) -> Result<(), ModelError> {
        self.check_open(ch)?;
        let unacked = std::mem::take(&mut self.channels[ch].unacked);
        self.requeue(unacked.into_values().collect(), How::NackRequeue);
        self.run_queues();
        Ok(())
    }

    /// A2-A4, A8: which deliveries `tag` settles, then their credit back, then the requeues or
    /// dead-letters.
    fn settle(
        &mut self,
        ch: ChanId,
        tag: u64,
        multiple: bool,
        how: How,
    ) -> Result<Settled, ModelError> {
        self.check_open(ch)?;
        let chan = &mut self.channels[ch];
        let tags: Vec<u64> = if tag == 0 && multiple {
            chan.stale.clear();
            chan.unacked.keys().copied().collect()
        } else if chan.unacked.contains_key(&tag) {
            if multiple {
                chan.stale.retain(|&t| t > tag);
                chan.unacked.range(..=tag).map(|(&t, _)| t).collect()
            } else {
                vec![tag]
            }
        } else if chan.stale.remove(&tag) {
            return Ok(Settled::Stale);
        } else {
            // A3: never issued, already settled, or 0 without multiple.
            return Err(self.fail(ch, 406));
        };
        // Settled first (their credit is back), then requeued or dead-lettered.
        let settled: Vec<Unacked> = tags
            .iter()
            .map(|t| chan.unacked.remove(t).expect("listed"))
            .collect();
        match how {
            How::Ack => {}
            How::Discard => {
                self.run_queues();
                for u in settled {
                    // Q9: a deleted queue's deliveries are dropped.
                    if let Some(name) = self.queue_name(u.queue).map(str::to_string) {
                        self.bury(&name, vec![(u.entry.msg, Reason::Rejected)]);
                    }
                }
            }
            How::NackRequeue | How::NackRequeueTail | How::RejectRequeue => {
                self.requeue(settled, how)
            }
        }
        self.run_queues();
        Ok(Settled::Done)
    }

    // ----- credit -----

    /// Whether consumer `c` may take a message now: auto-ack always (D3); manual ack under its
    /// own prefetch and its channel's global one (D4).
    pub(crate) fn has_credit(&self, c: ConsumerId) -> bool {
        let con = &self.consumers[c];
        if con.no_ack {
            return true;
        }
        let chan = &self.channels[con.channel];
        let own = chan
            .unacked
            .values()
            .filter(|u| u.consumer == Some(c))
            .count();
        let all = chan
            .unacked
            .values()
            .filter(|u| u.consumer.is_some())
            .count();
        (con.prefetch == 0 || own < to_usize(con.prefetch))
            && (chan.global == 0 || all < to_usize(chan.global))
    }
}

/// Places `e` in `ready`: after every entry of a higher level or of its level with a lower
/// `seq` (L7, A5).
fn place(ready: &mut Vec<Entry>, e: Entry) {
    let at = ready
        .iter()
        .position(|x| x.level < e.level || (x.level == e.level && x.seq > e.seq))
        .unwrap_or(ready.len());
    ready.insert(at, e);
}

/// Adds consumer `c` at the back of its priority's rotation (D5).
fn join(rings: &mut Vec<(i32, VecDeque<ConsumerId>)>, priority: i32, c: ConsumerId) {
    match rings.iter().position(|(p, _)| *p <= priority) {
        Some(i) if rings[i].0 == priority => rings[i].1.push_back(c),
        Some(i) => rings.insert(i, (priority, VecDeque::from([c]))),
        None => rings.push((priority, VecDeque::from([c]))),
    }
}

fn ready_bytes(ready: &[Entry]) -> usize {
    ready.iter().map(|e| e.msg.len).sum()
}

/// P3, L1: an `expiration` is decimal digits, at most [`MAX_TTL_MS`].
pub(crate) fn parse_expiration(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = text.parse().ok()?;
    (i64::try_from(ms).ok()? <= MAX_TTL_MS).then_some(ms)
}

/// L1: entry time plus the lower of the queue's TTL and the message's `expiration`.
fn deadline(now: u64, args: &QueueArgs, msg: &Message) -> Option<u64> {
    let queue = args.message_ttl.and_then(|t| u64::try_from(t).ok());
    let own = msg.expiration.as_deref().and_then(parse_expiration);
    let ttl = match (queue, own) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(now.saturating_add(ttl))
}

/// X6: whether `queue` is named in `deaths` (newest first) before any `rejected` entry.
fn is_cycle(queue: &str, deaths: &[Death]) -> bool {
    for d in deaths {
        if d.reason == Reason::Rejected {
            return false;
        }
        if d.queue == queue {
            return true;
        }
    }
    false
}

fn delivered(tag: u64, e: &Entry) -> Delivered {
    Delivered {
        tag,
        msg: e.msg.clone(),
        redelivered: e.redelivered,
        failed: e.failed,
        returned: e.returned,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
