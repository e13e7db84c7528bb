//! Consumers and deliveries: the receiving half of a channel.

use super::channel::{ChannelShared, Settled};
pub(crate) use super::mailbox::Event;
use super::mailbox::Mailbox;
use super::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use super::properties::BasicProperties;
use super::registry::{Msg, QueueRec};
use super::unacked::Holder;
use super::Channel;
use crate::dispatch::Credit;
use crate::error::Error;
use crate::ids::DeliveryTag;
use crate::message::FieldValue;
use crate::queue::{Entry, Queue, Sink};
use bytes::Bytes;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// A consumer as its queue and channel see it.
pub(crate) struct ConsumerShared {
    pub(crate) id: u64,
    pub(crate) tag: Arc<str>,
    me: Weak<ConsumerShared>,
    pub(crate) channel: Arc<ChannelShared>,
    /// The queue it consumes from; `None` for a direct reply-to consumer.
    pub(crate) queue: Option<Arc<QueueRec>>,
    pub(crate) no_ack: bool,
    pub(crate) credit: Credit,
    parked: AtomicBool,
    /// Set once: cancelled by the application or the engine, or its channel closed.
    pub(crate) ended: AtomicBool,
    /// Consumer timeout in ms (manual ack only; SEMANTICS A9).
    pub(crate) timeout_ms: Option<u64>,
    /// Consumer priority (`x-priority`, SEMANTICS D5).
    priority: i32,
    mailbox: Mailbox,
}

impl ConsumerShared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u64,
        tag: Arc<str>,
        channel: Arc<ChannelShared>,
        queue: Option<Arc<QueueRec>>,
        no_ack: bool,
        prefetch: u32,
        timeout_ms: Option<u64>,
        priority: i32,
    ) -> Arc<ConsumerShared> {
        Arc::new_cyclic(|me| ConsumerShared {
            id,
            tag,
            me: me.clone(),
            channel,
            queue,
            no_ack,
            credit: Credit::new(prefetch),
            parked: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            timeout_ms: if no_ack { None } else { timeout_ms },
            priority,
            mailbox: Mailbox::new(super::mailbox::ring_slots(no_ack, prefetch)),
        })
    }

    /// Tells the receiver anything but a queue delivery (see [`Mailbox::post`]).
    pub(crate) fn send(&self, event: Event) {
        self.mailbox.post(event);
    }

    /// Delivers a direct reply-to message (SEMANTICS R2): no queue, settled on hand-over.
    pub(crate) fn deliver_direct(&self, msg: Msg) {
        if self.ended.load(Relaxed) || !self.channel.is_open() {
            return;
        }
        let tag = self.channel.next_tag();
        let entry = Entry::bare(msg);
        self.send(Event::Delivery(tag, entry));
    }

    /// Marks the consumer ended, takes it off its queue (deleting an auto-delete queue that
    /// loses its last consumer, SEMANTICS Q5) and tells the application why.
    pub(crate) fn end(&self, why: Error) {
        if self.stop() {
            self.detach(why, false);
        }
    }

    /// The first half of [`end`](Self::end): marks the consumer ended, so no queue hands it
    /// anything more. Returns whether this call ended it.
    pub(crate) fn stop(&self) -> bool {
        !self.ended.swap(true, Relaxed)
    }

    /// The second half of [`end`](Self::end), after [`stop`](Self::stop): takes the consumer
    /// off its queue (an auto-delete queue losing its last consumer goes, SEMANTICS Q5; a
    /// single-active-consumer queue hands over, D6) and tells the application why. With
    /// `quiet` the queue does not dispatch: the caller requeues the consumer's deliveries
    /// first, then dispatches, so a successor finds them at their places (A5), as RabbitMQ's
    /// queue does when a channel goes.
    pub(crate) fn detach(&self, why: Error, quiet: bool) {
        if let Some(rec) = &self.queue {
            let left = rec.q.remove_consumer(self.id, quiet);
            rec.touch(&self.channel.broker().clock);
            if left == Some(0) && rec.auto_delete {
                self.channel.broker().auto_delete_queue(rec);
            }
        }
        self.send(Event::Ended(why));
    }
}

impl Sink<Msg> for ConsumerShared {
    fn id(&self) -> u64 {
        self.id
    }

    fn priority(&self) -> i32 {
        self.priority
    }

    fn try_take(&self) -> bool {
        if self.ended.load(Relaxed) {
            return false;
        }
        if self.no_ack {
            // SEMANTICS D3: auto-ack deliveries are settled on hand-over, uncapped.
            return true;
        }
        if !self.credit.try_take() {
            return false;
        }
        if !self.channel.credit.try_take() {
            // Parked on the channel's credit: its return wakes every queue of the channel.
            self.credit.untake();
            return false;
        }
        true
    }

    fn parked(&self) -> bool {
        self.parked.load(Relaxed)
    }

    fn set_parked(&self, parked: bool) {
        self.parked.store(parked, Relaxed);
    }

    fn cancelled(&self, why: &Error) {
        if let Some(me) = self.me.upgrade() {
            self.channel.forget_consumer(&me);
        }
        self.end(why.clone());
    }

    fn has_credit(&self) -> bool {
        if self.ended.load(Relaxed) {
            return false;
        }
        self.no_ack || (self.credit.has_room() && self.channel.credit.has_room())
    }

    fn could_retake(&self) -> bool {
        !self.ended.load(Relaxed)
            && !self.no_ack
            && self.credit.could_retake()
            && self.channel.credit.could_retake()
    }

    fn deliver(&self, queue: &Arc<Queue<Msg>>, mut entry: Entry<Msg>) -> Option<Entry<Msg>> {
        if self.no_ack {
            if !self.channel.is_open() || self.ended.load(Relaxed) {
                return Some(entry);
            }
            if entry.msg.store_id != 0 && queue.log_id != 0 {
                // Settled on hand-over (SEMANTICS D3): for good, in the log too.
                self.channel
                    .broker()
                    .log_settled(vec![(entry.msg.store_id, queue.log_id)]);
            }
            let tag = self.channel.next_tag();
            self.mailbox.deliver(tag, entry);
            return None;
        }
        let Some(me) = self.me.upgrade() else {
            return Some(entry);
        };
        match self.channel.register(Holder::Consumer(me), &mut entry) {
            Some(tag) => {
                self.mailbox.deliver(tag, entry);
                None
            }
            None => {
                // The channel is closing: give the credit back and the entry to the queue.
                self.credit.untake();
                self.channel.credit.untake();
                Some(entry)
            }
        }
    }
}

/// A message handed to the application, by a consumer or `basic_get`.
///
/// It shares the published body (no copy). Settle it with [`ack`](Self::ack),
/// [`nack`](Self::nack) or [`reject`](Self::reject), or through its channel by
/// [`delivery_tag`](Self::delivery_tag).
pub struct Delivery {
    source: Source,
    tag: DeliveryTag,
    redelivered: bool,
    failed: u32,
    returned: u32,
    msg: Msg,
    /// Properties with `x-delivery-count` added (SEMANTICS A10), when `failed > 0`.
    with_count: Option<Box<BasicProperties>>,
}

/// Where a [`Delivery`] came from. One reference count per delivery: the consumer's holds
/// both its channel and its tag.
pub(crate) enum Source {
    /// A consumer.
    Consumer(Arc<ConsumerShared>),
    /// `basic_get` on this channel.
    Get(Arc<ChannelShared>),
}

impl Source {
    fn channel(&self) -> &ChannelShared {
        match self {
            Source::Consumer(c) => &c.channel,
            Source::Get(ch) => ch,
        }
    }
}

impl Delivery {
    pub(crate) fn new(source: Source, tag: u64, entry: Entry<Msg>) -> Delivery {
        let with_count = (entry.failed > 0).then(|| {
            let mut props = entry.msg.properties().clone();
            let headers = props.headers.get_or_insert_with(Default::default);
            headers.insert(
                "x-delivery-count",
                FieldValue::from(i64::from(entry.failed)),
            );
            Box::new(props)
        });
        Delivery {
            source,
            tag: DeliveryTag::new(tag),
            redelivered: entry.redelivered,
            failed: entry.failed,
            returned: entry.returned,
            msg: entry.msg,
            with_count,
        }
    }

    /// The channel-wide delivery tag (SEMANTICS A1).
    pub fn delivery_tag(&self) -> DeliveryTag {
        self.tag
    }

    /// Whether the message was delivered before (SEMANTICS A5, A7).
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// The exchange it was published to (`""` for the default exchange).
    pub fn exchange(&self) -> &str {
        self.msg.exchange()
    }

    /// The routing key it was published with.
    pub fn routing_key(&self) -> &str {
        self.msg.routing_key()
    }

    /// Its properties, as published (SEMANTICS P3), without `BCC` (P4), with
    /// `x-delivery-count` when it failed before (A10).
    pub fn properties(&self) -> &BasicProperties {
        match self.with_count.as_deref() {
            Some(p) => p,
            None => self.msg.properties(),
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.msg.body
    }

    /// The body as a shared buffer (a reference count, not a copy).
    pub fn body_bytes(&self) -> Bytes {
        self.msg.body.clone()
    }

    /// RabbitMQ 4.3's failed delivery count: rejects with requeue and consumer losses
    /// (SEMANTICS A10).
    pub fn failed_count(&self) -> u32 {
        self.failed
    }

    /// RabbitMQ 4.3's returned delivery count: nacks with requeue, recovers and consumer
    /// timeouts (SEMANTICS A10).
    pub fn returned_count(&self) -> u32 {
        self.returned
    }

    /// The tag of the consumer that received it; `None` for `basic_get`.
    pub fn consumer_tag(&self) -> Option<&str> {
        match &self.source {
            Source::Consumer(c) => Some(&c.tag),
            Source::Get(_) => None,
        }
    }

    /// Acknowledges this delivery (SEMANTICS A2).
    ///
    /// # Errors
    ///
    /// As [`Channel::basic_ack`].
    pub fn ack(&self) -> Result<Settled, Error> {
        self.source
            .channel()
            .settle(self.tag.get(), false, super::channel::How::Ack)
    }

    /// Rejects this delivery and the channel's earlier unacked ones when `multiple`
    /// (SEMANTICS A4); `requeue` puts them back.
    ///
    /// # Errors
    ///
    /// As [`Channel::basic_nack`].
    pub fn nack(&self, options: BasicNackOptions) -> Result<Settled, Error> {
        self.source.channel().settle(
            self.tag.get(),
            options.multiple,
            super::channel::How::nack(options.requeue, options.at_tail),
        )
    }

    /// Rejects this delivery (SEMANTICS A4).
    ///
    /// # Errors
    ///
    /// As [`Channel::basic_reject`].
    pub fn reject(&self, options: BasicRejectOptions) -> Result<Settled, Error> {
        self.source.channel().settle(
            self.tag.get(),
            false,
            super::channel::How::reject(options.requeue),
        )
    }

    /// Acknowledges with options (`multiple`).
    ///
    /// # Errors
    ///
    /// As [`Channel::basic_ack`].
    pub fn ack_with(&self, options: BasicAckOptions) -> Result<Settled, Error> {
        self.source
            .channel()
            .settle(self.tag.get(), options.multiple, super::channel::How::Ack)
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("delivery_tag", &self.tag)
            .field("redelivered", &self.redelivered)
            .field("exchange", &self.exchange())
            .field("routing_key", &self.routing_key())
            .field("body_len", &self.msg.body.len())
            .finish()
    }
}

/// A subscription to a queue (`basic_consume`): receive deliveries with [`recv`](Self::recv),
/// [`recv_timeout`](Self::recv_timeout), [`try_recv`](Self::try_recv), an iterator, or (feature
/// `stream`) as a `futures_core::Stream`.
///
/// Dropping the handle without [`cancel`](Self::cancel) is a consumer loss: its unacked
/// deliveries go back to the queue at once, `redelivered` (SEMANTICS A7); settling them later
/// is a no-op reported as [`Settled::Stale`] (A8). A `Consumer` keeps its channel open.
///
/// One thread receives at a time (`Send`, `Sync` for settling from others).
pub struct Consumer {
    shared: Arc<ConsumerShared>,
    ended: OnceLock<Error>,
    channel: Channel,
}

impl Consumer {
    pub(crate) fn new(shared: Arc<ConsumerShared>, channel: Channel) -> Self {
        Consumer {
            shared,
            ended: OnceLock::new(),
            channel,
        }
    }

    /// The consumer tag.
    pub fn tag(&self) -> &str {
        &self.shared.tag
    }

    /// Deliveries handed to this consumer and not yet settled (0 for an auto-ack consumer):
    /// never more than its prefetch (SEMANTICS D3).
    pub fn unacked_count(&self) -> u32 {
        self.shared.credit.used()
    }

    /// The channel it consumes on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    fn take(&self, event: Event) -> Result<Option<Delivery>, Error> {
        match event {
            Event::Delivery(tag, entry) => Ok(Some(Delivery::new(
                Source::Consumer(self.shared.clone()),
                tag,
                entry,
            ))),
            Event::Ended(e) => Err(self.ended.get_or_init(|| e).clone()),
            Event::Wake => Ok(None),
        }
    }

    fn finished(&self) -> Result<(), Error> {
        match self.ended.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Waits for the next delivery.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ConsumerCancelled`](crate::ErrorKind::ConsumerCancelled) once the consumer
    /// was cancelled (by [`cancel`](Self::cancel) or the engine: queue deleted, consumer
    /// timeout) and every delivery before that was received;
    /// [`ErrorKind::ChannelClosed`](crate::ErrorKind::ChannelClosed) once its channel closed.
    pub fn recv(&self) -> Result<Delivery, Error> {
        loop {
            self.finished()?;
            let Some(event) = self.shared.mailbox.recv(None) else {
                continue;
            };
            if let Some(d) = self.take(event)? {
                return Ok(d);
            }
        }
    }

    /// Waits at most `timeout` for the next delivery; `Ok(None)` when none came.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Delivery>, Error> {
        self.finished()?;
        match self.shared.mailbox.recv(Some(timeout)) {
            Some(event) => self.take(event),
            None => Ok(None),
        }
    }

    /// The next delivery if one is waiting; `Ok(None)` otherwise, and also while another
    /// thread is inside a receive on this consumer (it never waits for that thread).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv(&self) -> Result<Option<Delivery>, Error> {
        self.finished()?;
        match self.shared.mailbox.try_recv() {
            Some(event) => self.take(event),
            None => Ok(None),
        }
    }

    /// A blocking iterator over deliveries; it ends when the consumer is cancelled or its
    /// channel closes ([`recv`](Self::recv)'s error, which [`Consumer::end_reason`] keeps).
    pub fn iter(&self) -> Iter<'_> {
        Iter { consumer: self }
    }

    /// Why the consumer ended, once it has.
    pub fn end_reason(&self) -> Option<&Error> {
        self.ended.get()
    }

    /// Cancels the consumer (SEMANTICS A6): nothing new arrives; deliveries already handed
    /// over can still be received and stay ackable.
    ///
    /// # Errors
    ///
    /// As [`Channel::basic_cancel`].
    pub fn cancel(&self) -> Result<(), Error> {
        self.channel.basic_cancel(&self.shared.tag)
    }

    /// Wakes a blocked receive with no delivery (it returns `Ok(None)` from
    /// [`recv_timeout`](Self::recv_timeout)); for helpers that need to interrupt a wait.
    pub(crate) fn waker(&self) -> Arc<ConsumerShared> {
        self.shared.clone()
    }

    /// Wakes a blocked [`recv_timeout`](Self::recv_timeout), which returns `Ok(None)`: the C
    /// ABI's callback thread is stopped this way when its consumer is freed.
    pub(crate) fn wake(&self) {
        self.shared.send(Event::Wake);
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if !self.shared.ended.load(Relaxed) {
            // SEMANTICS A7: a handle dropped without cancel is a consumer loss.
            self.shared.channel.lose_consumer(&self.shared);
        }
        // Nobody can receive any more: what is still in the mailbox goes now, not when the
        // last of this consumer's deliveries is dropped (each one holds the mailbox).
        self.shared.mailbox.discard();
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("tag", &self.tag())
            .finish()
    }
}

/// A blocking iterator over a consumer's deliveries ([`Consumer::iter`]).
pub struct Iter<'a> {
    consumer: &'a Consumer,
}

impl Iterator for Iter<'_> {
    type Item = Delivery;
    fn next(&mut self) -> Option<Delivery> {
        self.consumer.recv().ok()
    }
}

impl<'a> IntoIterator for &'a Consumer {
    type Item = Delivery;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(feature = "stream")]
impl futures_core::Stream for Consumer {
    type Item = Result<Delivery, Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.ended.get().is_some() {
            return Poll::Ready(None);
        }
        loop {
            match this.shared.mailbox.poll(cx.waker()) {
                None => return Poll::Pending,
                Some(event) => match this.take(event) {
                    Ok(Some(d)) => return Poll::Ready(Some(Ok(d))),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                },
            }
        }
    }
}
