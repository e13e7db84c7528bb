//! A naive, single-threaded reference broker (STYLE 11), written from SEMANTICS E, Q, P, D, A
//! and F as plainly as they read, for the differential tests of the real engine
//! (`tests/integration/broker_model.rs`, `fuzz/fuzz_targets/broker_ops_vs_model.rs`).
//!
//! What it models:
//!
//! * Queues: ready messages in a list ordered by enqueue sequence; a requeue puts a message back
//!   at its original place (A5). Delete (Q9: consumers cancelled, D10; unacked deliveries of the
//!   deleted queue are dropped when settled), purge (Q10), auto-delete with the last consumer
//!   (Q5), exclusive consumers (D7).
//! * Exchanges: direct, fanout and topic (E1, topic by the T4 recursion of
//!   `tests/model/topic.rs`), the default exchange (E2); bindings are a set (E5); delete drops
//!   them (E11).
//! * Channels: delivery tags from 1 (A1), the unacked deliveries by tag, per-consumer prefetch
//!   taken by consumers created later (D3), global prefetch (D4), ack / nack / reject with
//!   `multiple` and `requeue` (A2-A4), recover (A11), close (A7), channel errors (F2), calls on
//!   a channel an error closed (F5).
//! * Dispatch (D1): each queue has a rotation of consumers. A newcomer joins at the back; the
//!   head message goes to the front consumer, which moves to the back; a consumer found at the
//!   front without credit leaves the rotation (as RabbitMQ's classic queues find out: when its
//!   turn comes) and rejoins at the back once it has credit again, under both caps (D4).
//!   Settling gives credit back before the settled messages are requeued, so a requeued message
//!   may go straight back to the consumer that released it.
//! * Consumer loss (A7, A8): a handle dropped without cancel; its unacked deliveries are
//!   requeued and their tags become stale (settling one reports it once).
//! * Counts (A10): `failed` + 1 per reject with requeue and per loss (close, dropped handle);
//!   `returned` + 1 per nack with requeue and per recover; `redelivered` once delivered before.
//!
//! Where SEMANTICS leaves an order open, the model takes it as a parameter: several queues
//! touched by one call (a publish to several, a settle or close that requeues to several, credit
//! shared by queues through a global prefetch) are visited in [`Broker::set_queue_order`]'s
//! order, so a test can try every order. It models no TTL, limits, dead-lettering, priorities,
//! headers exchanges, exchange-to-exchange bindings, confirms, timeouts or exclusive queues;
//! 5xx errors are not modelled (callers avoid them).
//!
//! Deliberately slow: every credit check counts the channel's unacked deliveries, every call
//! ends by letting every queue hand out what it can.

use super::topic;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A channel, numbered in opening order from 0.
pub(crate) type ChanId = usize;
/// A consumer, numbered in creation order from 0.
pub(crate) type ConsumerId = usize;
/// A message: the caller's unique id for its body.
pub(crate) type MsgId = u64;

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
    /// Enqueued in this many queues.
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

/// A message handed to a consumer or returned by `basic_get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) tag: u64,
    pub(crate) msg: MsgId,
    pub(crate) redelivered: bool,
    pub(crate) failed: u32,
    pub(crate) returned: u32,
}

/// `basic_get`'s answer: the delivery and the ready count left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Delivery(Delivered),
    Ended(Ended),
}

/// One queued message with its per-queue facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    seq: u64,
    msg: MsgId,
    redelivered: bool,
    failed: u32,
    returned: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Queue {
    /// Distinguishes a queue from a later one with the same name.
    id: u64,
    auto_delete: bool,
    /// Held by an exclusive consumer (D7).
    exclusive: bool,
    /// Ready messages, ordered by `seq`.
    ready: Vec<Entry>,
    next_seq: u64,
    /// Consumers in registration order.
    consumers: Vec<ConsumerId>,
    /// The rotation of D1, front first.
    ring: VecDeque<ConsumerId>,
    /// Consumers out of the rotation for lack of credit, in the order they left.
    parked: Vec<ConsumerId>,
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
    live: bool,
}

/// How a settle call treats what it settles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Ack,
    Discard,
    /// Nack with requeue: `returned` + 1.
    NackRequeue,
    /// Reject with requeue: `failed` + 1.
    RejectRequeue,
}

/// The reference broker. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Broker {
    queues: BTreeMap<String, Queue>,
    next_queue_id: u64,
    exchanges: BTreeMap<String, Exchange>,
    channels: Vec<Channel>,
    consumers: Vec<Consumer>,
    unroutable: u64,
    /// Mailbox events not yet taken, in the order they happened.
    events: Vec<(ConsumerId, Event)>,
    /// The order calls visit several queues in (names; others after them, by name).
    queue_order: Vec<String>,
}

impl Default for Broker {
    fn default() -> Self {
        Broker::new()
    }
}

impl Broker {
    /// No queues, no user exchanges, no channels.
    pub(crate) fn new() -> Broker {
        Broker {
            queues: BTreeMap::new(),
            next_queue_id: 0,
            exchanges: BTreeMap::new(),
            channels: Vec::new(),
            consumers: Vec::new(),
            unroutable: 0,
            events: Vec::new(),
            queue_order: Vec::new(),
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

    /// Whether exchange `name` exists (`""` always does).
    pub(crate) fn exchange_exists(&self, name: &str) -> bool {
        name.is_empty() || self.exchanges.contains_key(name)
    }

    /// Non-mandatory publishes that reached no queue.
    pub(crate) fn unroutable(&self) -> u64 {
        self.unroutable
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
        self.queues
            .iter()
            .find(|(_, q)| q.id == u.queue)
            .map(|(n, _)| n.as_str())
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

    /// F2, A7: consumers end, then every unacked delivery goes back to its queue, `failed` + 1.
    fn close(&mut self, ch: ChanId, cause: Option<u16>) {
        if self.channels[ch].closed.is_some() {
            return;
        }
        self.channels[ch].closed = Some(cause);
        for c in self.channels[ch].consumers.clone() {
            self.end_consumer(c, Some(Ended::ChannelClosed(cause)));
        }
        let unacked = std::mem::take(&mut self.channels[ch].unacked);
        self.channels[ch].stale.clear();
        for (_, u) in unacked {
            self.requeue(u, How::RejectRequeue);
        }
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

    // ----- queues -----

    /// Q1, Q2 (auto_delete compared): the ready and consumer counts.
    pub(crate) fn queue_declare(
        &mut self,
        ch: ChanId,
        name: &str,
        auto_delete: bool,
    ) -> Result<(u32, u32), ModelError> {
        self.check_open(ch)?;
        if let Some(q) = self.queues.get(name) {
            if q.auto_delete != auto_delete {
                return Err(self.fail(ch, 406));
            }
            return Ok((count(q.ready.len()), count(q.consumers.len())));
        }
        self.queues.insert(
            name.to_string(),
            Queue {
                id: self.next_queue_id,
                auto_delete,
                exclusive: false,
                ready: Vec::new(),
                next_seq: 0,
                consumers: Vec::new(),
                ring: VecDeque::new(),
                parked: Vec::new(),
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

    /// Q10: removes the ready messages, returns their number; a missing queue → 404.
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

    /// Removes queue `name`: messages discarded, bindings dropped, consumers cancelled (D10).
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

    // ----- publishing -----

    /// P1, P2, E1, E2: routes `msg` and enqueues it in every queue reached.
    pub(crate) fn publish(
        &mut self,
        ch: ChanId,
        exchange: &str,
        key: &str,
        mandatory: bool,
        msg: MsgId,
    ) -> Result<Published, ModelError> {
        self.check_open(ch)?;
        let targets: Vec<String> = if exchange.is_empty() {
            self.queues.keys().filter(|q| *q == key).cloned().collect()
        } else {
            let Some(x) = self.exchanges.get(exchange) else {
                return Err(self.fail(ch, 404));
            };
            let mut t: Vec<String> = x
                .bindings
                .iter()
                .filter(|(bk, _)| match x.kind {
                    Kind::Direct => bk == key,
                    Kind::Fanout => true,
                    Kind::Topic => topic::matches(bk, key),
                })
                .map(|(_, q)| q.clone())
                .collect();
            t.sort();
            t.dedup();
            t
        };
        if targets.is_empty() {
            if mandatory {
                return Ok(Published::Returned);
            }
            self.unroutable += 1;
            return Ok(Published::Unroutable);
        }
        for name in &targets {
            let q = self
                .queues
                .get_mut(name)
                .expect("bindings name live queues");
            q.ready.push(Entry {
                seq: q.next_seq,
                msg,
                redelivered: false,
                failed: 0,
                returned: 0,
            });
            q.next_seq += 1;
        }
        self.run_queues();
        Ok(Published::Routed(targets.len()))
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

    /// D1, D3, D7: a new consumer at the back of the rotation. The caller keeps tags unique on
    /// the channel (a reused one is a 530, not modelled).
    pub(crate) fn basic_consume(
        &mut self,
        ch: ChanId,
        queue: &str,
        tag: &str,
        no_ack: bool,
        exclusive: bool,
    ) -> Result<ConsumerId, ModelError> {
        self.check_open(ch)?;
        let Some(q) = self.queues.get(queue) else {
            return Err(self.fail(ch, 404));
        };
        if q.exclusive || (exclusive && !q.consumers.is_empty()) {
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
            live: true,
        });
        let q = self.queues.get_mut(queue).expect("checked");
        q.exclusive = exclusive;
        q.consumers.push(c);
        q.ring.push_back(c);
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
            self.end_consumer(c, Some(Ended::Cancelled));
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
        self.end_consumer(c, None);
        let tags: Vec<u64> = self.channels[ch]
            .unacked
            .iter()
            .filter(|(_, u)| u.consumer == Some(c))
            .map(|(&t, _)| t)
            .collect();
        for t in tags {
            let u = self.channels[ch].unacked.remove(&t).expect("listed");
            self.channels[ch].stale.insert(t);
            self.requeue(u, How::RejectRequeue);
        }
        self.run_queues();
    }

    /// Takes consumer `c` off its queue and channel; an auto-delete queue that loses its last
    /// consumer goes (Q5). `event` is what its mailbox gets.
    fn end_consumer(&mut self, c: ConsumerId, event: Option<Ended>) {
        if !self.consumers[c].live {
            return;
        }
        self.consumers[c].live = false;
        let ch = self.consumers[c].channel;
        self.channels[ch].consumers.retain(|&o| o != c);
        if let Some(e) = event {
            self.events.push((c, Event::Ended(e)));
        }
        let name = self.consumers[c].queue_name.clone();
        let qid = self.consumers[c].queue;
        let Some(q) = self.queues.get_mut(&name).filter(|q| q.id == qid) else {
            return;
        };
        q.consumers.retain(|&o| o != c);
        q.ring.retain(|&o| o != c);
        q.parked.retain(|&o| o != c);
        if q.consumers.is_empty() {
            q.exclusive = false;
            if q.auto_delete {
                self.delete_queue(&name);
            }
        }
    }

    /// D9: the head message and the ready count left; prefetch ignored; takes the next tag.
    pub(crate) fn basic_get(
        &mut self,
        ch: ChanId,
        queue: &str,
        no_ack: bool,
    ) -> Result<Option<Got>, ModelError> {
        self.check_open(ch)?;
        let Some(q) = self.queues.get_mut(queue) else {
            return Err(self.fail(ch, 404));
        };
        if q.ready.is_empty() {
            return Ok(None);
        }
        let entry = q.ready.remove(0);
        let left = count(q.ready.len());
        let qid = q.id;
        let chan = &mut self.channels[ch];
        chan.last_tag += 1;
        let tag = chan.last_tag;
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
        Ok(Some(Got {
            delivery: delivered(tag, &entry),
            left,
        }))
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

    /// A4: like ack; requeue puts them back (`returned` + 1), else they are discarded.
    pub(crate) fn basic_nack(
        &mut self,
        ch: ChanId,
        tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> Result<Settled, ModelError> {
        let how = if requeue {
            How::NackRequeue
        } else {
            How::Discard
        };
        self.settle(ch, tag, multiple, how)
    }

    /// A4: one delivery; requeue puts it back (`failed` + 1), else it is discarded.
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
        for (_, u) in unacked {
            self.requeue(u, How::NackRequeue);
        }
        self.run_queues();
        Ok(())
    }

    /// A2-A4, A8: which deliveries `tag` settles, then their credit back, then the requeues.
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
        // Settled first (their credit is back), then requeued.
        let settled: Vec<Unacked> = tags
            .iter()
            .map(|t| chan.unacked.remove(t).expect("listed"))
            .collect();
        for u in settled {
            self.requeue(u, how);
        }
        self.run_queues();
        Ok(Settled::Done)
    }

    /// Puts a settled or lost delivery back in its queue at its original place (A5), unless
    /// `how` drops it or its queue is gone (Q9).
    fn requeue(&mut self, u: Unacked, how: How) {
        let mut entry = u.entry;
        match how {
            How::Ack | How::Discard => return,
            How::NackRequeue => entry.returned += 1,
            How::RejectRequeue => entry.failed += 1,
        }
        entry.redelivered = true;
        let Some(q) = self.queues.values_mut().find(|q| q.id == u.queue) else {
            return;
        };
        let at = q.ready.iter().position(|e| e.seq > entry.seq);
        match at {
            Some(i) => q.ready.insert(i, entry),
            None => q.ready.push(entry),
        }
    }

    // ----- dispatch -----

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

    /// Every queue, in the chosen order, takes back the parked consumers that have credit
    /// again (at the back of its rotation, in the order they left) and hands out what it can
    /// (D1).
    fn run_queues(&mut self) {
        let mut names: Vec<String> = self.queues.keys().cloned().collect();
        names.sort_by_key(|n| {
            (
                self.queue_order
                    .iter()
                    .position(|o| o == n)
                    .unwrap_or(usize::MAX),
                n.clone(),
            )
        });
        for name in names {
            let parked = self.queues[&name].parked.clone();
            for c in parked {
                if self.has_credit(c) {
                    let q = self.queues.get_mut(&name).expect("live");
                    q.parked.retain(|&o| o != c);
                    q.ring.push_back(c);
                }
            }
            self.dispatch(&name);
        }
    }

    /// D1: the head message goes to the front consumer, which moves to the back; one without
    /// credit leaves the rotation.
    fn dispatch(&mut self, name: &str) {
        loop {
            let q = &self.queues[name];
            if q.ready.is_empty() {
                return;
            }
            let Some(&c) = q.ring.front() else {
                return;
            };
            let credit = self.has_credit(c);
            let q = self.queues.get_mut(name).expect("live");
            q.ring.pop_front();
            if !credit {
                q.parked.push(c);
                continue;
            }
            q.ring.push_back(c);
            let entry = q.ready.remove(0);
            let qid = q.id;
            let con = &self.consumers[c];
            let chan = &mut self.channels[con.channel];
            chan.last_tag += 1;
            let tag = chan.last_tag;
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
            self.events
                .push((c, Event::Delivery(delivered(tag, &entry))));
        }
    }
}

fn delivered(tag: u64, e: &Entry) -> Delivered {
    Delivered {
        tag,
        msg: e.msg,
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
