//! `basic_publish`: checks, the lock-free route, and the enqueue of one shared message.
//!
//! The path takes no lock until it enqueues (each target queue's own short lock). It allocates
//! nothing for a message that reaches one queue (it travels owned, see [`Msg`]) and, for up to
//! eight target queues, one thing otherwise: the shared message (its routing key inline when
//! short). Checks come first, so a failed publish routes nothing and hands the message back
//! (SEMANTICS P1, F4).

use super::args::Overflow;
use super::confirm::{Confirmation, Confirms};
use super::consumer::ConsumerShared;
use super::registry::{ExchangeRec, MessageData, Msg, QueueRec};
use super::{BasicProperties, BasicPublishOptions, Channel, REPLY_TO, REPLY_TO_PREFIX};
use crate::error::{Error, Input};
use crate::queue::Refused;
use crate::route::routing_keys;
use crate::store::ConfirmSink;
use crate::sync::{pin, Guard};
use crate::topic::check_len;
use bytes::Bytes;
use smallvec::SmallVec;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A message returned to its publisher as unroutable (`basic.return`, SEMANTICS P2).
#[derive(Clone, Debug)]
pub struct Return {
    /// 312.
    pub reply_code: u16,
    /// `NO_ROUTE`.
    pub reply_text: &'static str,
    /// The exchange it was published to.
    pub exchange: String,
    /// Its routing key.
    pub routing_key: String,
    /// Its properties.
    pub properties: BasicProperties,
    /// Its body (shared, not copied).
    pub body: Bytes,
}

/// What became of a published message (SEMANTICS P2).
#[derive(Clone, Debug)]
pub enum Publish {
    /// It reached this many queues (a direct reply-to consumer counts as one; a reply to a
    /// requester that is gone is routed to none and dropped, SEMANTICS R2).
    Routed {
        /// The number of queues.
        queues: usize,
    },
    /// No queue took it and it was mandatory: here it is, as the return handler got it.
    Returned(Box<Return>),
    /// No queue took it and it was not mandatory: dropped (and counted).
    Unroutable,
}

impl Publish {
    /// Whether at least one queue took the message.
    pub fn is_routed(&self) -> bool {
        matches!(self, Publish::Routed { .. })
    }
}

/// A failed publish: the error, and the message given back (SEMANTICS F4).
pub struct PublishError {
    /// Why it failed.
    pub error: Error,
    /// The body, untouched.
    pub body: Bytes,
    /// The properties, untouched (boxed: they are large, and this is the error path).
    pub properties: Box<BasicProperties>,
}

impl fmt::Debug for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishError")
            .field("error", &self.error)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for PublishError {}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Error {
        e.error
    }
}

/// The properties as the publish path carries them: a pointer, or nothing when none is set, so
/// the path copies no 300-byte struct. An empty one is forgotten rather than dropped: it owns
/// nothing, and its drop glue (a check per field) cost more than the rest of the conversion.
#[inline]
fn boxed(properties: BasicProperties) -> Option<Box<BasicProperties>> {
    if properties.is_empty() {
        std::mem::forget(properties);
        None
    } else {
        Some(Box::new(properties))
    }
}

/// Where a publish goes.
struct Targets<'g> {
    queues: SmallVec<[&'g Arc<QueueRec>; 8]>,
    /// Direct reply-to consumers (SEMANTICS R2).
    direct: SmallVec<[Arc<ConsumerShared>; 1]>,
    /// Whether a key named a direct reply-to address (routed even if its requester is gone).
    reply_address: bool,
}

impl Channel {
    /// Publishes a message (SEMANTICS P1-P5): routes it without a lock and enqueues it, one
    /// shared copy, in every queue it reaches.
    ///
    /// # Errors
    ///
    /// The message comes back in the [`PublishError`] (F4), nothing routed: 404 for a missing
    /// exchange, 403 for an internal one, 406 for a body over the size limit (N4), an invalid
    /// `expiration` or a `CC`/`BCC` that is not an array, or a `reply_to` of
    /// `amq.rabbitmq.reply-to` without a reply consumer on this channel (R2); 540 for
    /// `immediate`; local errors for names over 255 bytes or a closed channel.
    pub fn basic_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        body: impl Into<Bytes>,
        properties: BasicProperties,
    ) -> Result<Publish, PublishError> {
        self.publish(
            exchange,
            routing_key,
            options,
            body.into(),
            boxed(properties),
            false,
        )
        .map(|(publish, _)| publish)
    }

    /// [`basic_publish`](Self::basic_publish) on a channel in confirm mode, with a handle to
    /// this publish's own confirm (SEMANTICS C5): wait for it, or `.await` it.
    ///
    /// # Errors
    ///
    /// As [`basic_publish`](Self::basic_publish), and a local
    /// [`ErrorKind::InvalidState`](crate::ErrorKind::InvalidState) error without
    /// [`confirm_select`](Self::confirm_select) (nothing published).
    pub fn basic_publish_with_confirm(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        body: impl Into<Bytes>,
        properties: BasicProperties,
    ) -> Result<(Publish, Confirmation), PublishError> {
        let body = body.into();
        if self.shared().confirms().is_none() {
            return Err(PublishError {
                error: Error::invalid_state(
                    "basic_publish_with_confirm needs confirm mode (confirm_select)",
                ),
                body,
                properties: Box::new(properties),
            });
        }
        let (publish, confirm) = self.publish(
            exchange,
            routing_key,
            options,
            body,
            boxed(properties),
            true,
        )?;
        match confirm {
            Some(c) => Ok((publish, c)),
            None => unreachable!("confirm mode asked for a handle"),
        }
    }

    /// The publish path; `handle` asks for a confirmation handle (confirm mode only).
    fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        body: Bytes,
        props: Option<Box<BasicProperties>>,
        handle: bool,
    ) -> Result<(Publish, Option<Confirmation>), PublishError> {
        let give_back = |error, body, props: Option<Box<BasicProperties>>| PublishError {
            error,
            body,
            properties: props.unwrap_or_else(|| Box::new(BasicProperties::EMPTY)),
        };
        let checked = self.check_publish(exchange, routing_key, options, &body, props.as_deref());
        let reply_token = match checked {
            Ok(token) => token,
            Err(e) => return Err(give_back(e, body, props)),
        };
        let guard = pin();
        let start = match self.start_exchange(exchange, &guard) {
            Ok(start) => start,
            Err(e) => return Err(give_back(self.shared().fail(e), body, props)),
        };
        let headers = props.as_ref().and_then(|p| p.headers.as_ref());
        let targets = self.targets(start, routing_key, headers, &guard);
        // Checks passed: the publish takes its number (SEMANTICS C1).
        let confirms = self.shared().confirms();
        let (seq, confirmation) = match confirms {
            Some(c) => c.begin(handle),
            None => (0, None),
        };
        if targets.queues.is_empty() && !targets.reply_address {
            let props = props.map_or(BasicProperties::EMPTY, |p| *p);
            let publish = self.unroutable(exchange, routing_key, options, body, props);
            if let Some(c) = confirms {
                // SEMANTICS C2: unroutable is confirmed at once, after its return.
                c.resolve(&[seq], true);
            }
            return Ok((publish, confirmation));
        }
        let exchange = start.map(|x| x.name.clone());
        let (publish, logged, refused) =
            self.enqueue(exchange, routing_key, body, props, reply_token, targets);
        if let Some(c) = confirms {
            if refused {
                // SEMANTICS C3, L6: a `reject-publish` queue refused it; the others keep it.
                c.resolve(&[seq], false);
                return Ok((publish, confirmation));
            }
            // SEMANTICS C2: every target queue holds it now; a persistent message in a
            // durable queue is safe once the sync covering its record is done.
            let store = self.shared().broker().store();
            match (logged, store) {
                (Some(Ok(end)), Some(store)) => {
                    if let Some(ack) = store.confirm_when_synced(end, c.clone(), seq) {
                        c.resolve(&[seq], ack);
                    }
                }
                (Some(Err(_)), _) => c.resolve(&[seq], false),
                _ => c.resolve(&[seq], true),
            }
        }
        Ok((publish, confirmation))
    }

    /// The checks before routing (SEMANTICS N1, N4, P1, P3, P4, R2); returns the channel's
    /// direct reply-to token when `reply_to` asks for it.
    fn check_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        body: &Bytes,
        properties: Option<&BasicProperties>,
    ) -> Result<Option<Arc<str>>, Error> {
        let shared = self.shared();
        shared.check_open()?;
        check_len(exchange, Input::Exchange)?;
        check_len(routing_key, Input::RoutingKey)?;
        let empty = properties.is_none();
        let properties = properties.unwrap_or(&BasicProperties::EMPTY);
        let amqp = (|| {
            if !empty {
                properties.check()?;
            }
            if options.immediate {
                return Err(Error::amqp(540, "NOT_IMPLEMENTED - immediate=true"));
            }
            let max = shared.broker().options.max_message_size;
            if body.len() > max {
                return Err(Error::amqp(
                    406,
                    format!(
                        "PRECONDITION_FAILED - message size {} is larger than configured max size {max}",
                        body.len()
                    ),
                ));
            }
            if empty {
                return Ok(None);
            }
            if properties.headers.is_some() {
                // Checks every CC / BCC key (SEMANTICS P4); without headers there are none.
                routing_keys(routing_key, properties.headers.as_ref())?;
            }
            if properties.reply_to.as_deref() != Some(REPLY_TO) {
                return Ok(None);
            }
            match shared.reply_token() {
                Some(token) => Ok(Some(token)),
                None => Err(Error::amqp(
                    406,
                    "PRECONDITION_FAILED - fast reply consumer does not exist",
                )),
            }
        })();
        amqp.map_err(|e| shared.fail(e))
    }

    /// The exchange a publish starts at: `None` for the default exchange; 404 or 403.
    fn start_exchange<'g>(
        &self,
        exchange: &str,
        guard: &'g Guard,
    ) -> Result<Option<&'g Arc<ExchangeRec>>, Error> {
        if exchange.is_empty() {
            return Ok(None);
        }
        match self.shared().broker().registry.exchange(exchange, guard) {
            Some(x) if x.internal => Err(Error::amqp(
                403,
                format!(
                    "ACCESS_REFUSED - cannot publish to internal exchange '{exchange}' in vhost '/'"
                ),
            )),
            Some(x) => Ok(Some(x)),
            None => Err(Error::amqp(
                404,
                format!("NOT_FOUND - no exchange '{exchange}' in vhost '/'"),
            )),
        }
    }

    /// Routes a checked publish: lock-free reads only.
    fn targets<'g>(
        &self,
        start: Option<&'g Arc<ExchangeRec>>,
        routing_key: &str,
        headers: Option<&crate::message::FieldTable>,
        guard: &'g Guard,
    ) -> Targets<'g> {
        let broker = self.shared().broker();
        let reg = &broker.registry;
        let mut t = Targets {
            queues: SmallVec::new(),
            direct: SmallVec::new(),
            reply_address: false,
        };
        if let Some(x) = start {
            reg.route(x, routing_key, headers, guard, &mut t.queues);
            return t;
        }
        // The default exchange: every queue by its name (SEMANTICS E2), for every key (P4);
        // keys checked by `check_publish`.
        let (queues, direct) = (&mut t.queues, &mut t.direct);
        let mut reply_address = false;
        reg.route_by_name(routing_key, headers, guard, queues, |token| {
            reply_address = true;
            if let Some(c) = broker.reply_to.get(token.as_bytes(), guard) {
                direct.push(c.clone());
            }
        });
        t.reply_address = reply_address;
        t
    }

    /// No queue takes the message (SEMANTICS P2): returned if mandatory, else dropped and
    /// counted.
    fn unroutable(
        &self,
        exchange: &str,
        routing_key: &str,
        options: BasicPublishOptions,
        body: Bytes,
        properties: BasicProperties,
    ) -> Publish {
        if !options.mandatory {
            self.shared()
                .broker()
                .stats
                .unroutable
                .fetch_add(1, Relaxed);
            return Publish::Unroutable;
        }
        let ret = Return {
            reply_code: 312,
            reply_text: "NO_ROUTE",
            exchange: exchange.to_string(),
            routing_key: routing_key.to_string(),
            properties,
            body,
        };
        self.shared().return_message(&ret);
        Publish::Returned(Box::new(ret))
    }

    /// Enqueues one shared message in every target (SEMANTICS P5), logging it first if it is
    /// persistent and a target is durable (then returns the log position after its record),
    /// and whether a `reject-publish` queue refused it (SEMANTICS L6).
    fn enqueue(
        &self,
        exchange: Option<Arc<str>>,
        routing_key: &str,
        body: Bytes,
        mut props: Option<Box<BasicProperties>>,
        reply_token: Option<Arc<str>>,
        targets: Targets<'_>,
    ) -> (Publish, Option<Result<u64, Error>>, bool) {
        if let Some(p) = props.as_mut() {
            if let Some(token) = reply_token {
                p.reply_to = Some(format!("{REPLY_TO_PREFIX}{token}"));
            }
            if let Some(h) = p.headers.as_mut() {
                // SEMANTICS P4: BCC is removed before delivery.
                h.remove("BCC");
            }
        }
        let mut data = MessageData::new(exchange, routing_key, props, body);
        let broker = self.shared().broker();
        let logged = broker
            .registry
            .log_persistent(&broker.clock, &mut data, &targets.queues, &[]);
        let store_id = data.store_id;
        // The last target takes the message itself: a single target gets it owned, with no
        // allocation (see `Msg`); with more, the first share allocates once.
        let mut copies = targets.queues.len() + targets.direct.len();
        let mut msg = Some(Msg::Owned(data));
        let mut handle = || {
            copies -= 1;
            if copies == 0 {
                msg.take()
            } else {
                msg.as_mut().map(Msg::share)
            }
        };
        let mut queues = 0;
        let mut refused = false;
        let mut unlogged: Vec<(u64, u64)> = Vec::new();
        for q in &targets.queues {
            let Some(msg) = handle() else { break };
            match q.q.enqueue(msg) {
                Ok(()) => queues += 1,
                Err(Refused::Full) => {
                    refused = true;
                    if q.args.overflow == Overflow::RejectPublish {
                        // `reject-publish-dlx` refusals are counted as they are buried.
                        self.shared().broker().stats.maxlen.fetch_add(1, Relaxed);
                    }
                    if store_id != 0 && q.q.log_id != 0 {
                        // Logged for this queue above: take it out again.
                        unlogged.push((store_id, q.q.log_id));
                    }
                }
                Err(Refused::Deleted) => {}
            }
        }
        if !unlogged.is_empty() {
            self.shared().broker().log_settled(unlogged);
        }
        for c in &targets.direct {
            let Some(msg) = handle() else { break };
            c.deliver_direct(msg);
            queues += 1;
        }
        (Publish::Routed { queues }, logged, refused)
    }
}

impl ConfirmSink for Confirms {
    fn resolve(&self, seqs: &[u64], ack: bool) {
        Confirms::resolve(self, seqs, ack);
    }

    fn runs_user_code(&self) -> bool {
        self.has_listener()
    }
}
