//! [`RpcClient`]: request/reply over `reply_to` and `correlation_id` (SEMANTICS R1-R3).
//!
//! The client publishes each request with a fresh `correlation_id` and its reply address in
//! `reply_to`, then waits for the reply with that id, discarding (and counting) replies with
//! unknown ids: late replies of calls that timed out, or duplicates. Servers should be
//! idempotent: a request whose reply was lost may be sent again by the application.

use super::consumer::{ConsumerShared, Event};
use super::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use super::{BasicProperties, Channel, Consumer, Delivery, Publish, REPLY_TO};
use crate::error::Error;
use crate::message::FieldTable;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An RPC client on one channel: one call at a time (`&mut self`); use one client per thread
/// for concurrent calls.
///
/// ```
/// use std::time::Duration;
/// use warren::broker::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions, RpcClient};
/// use warren::message::FieldTable;
/// use warren::{BasicProperties, Broker};
///
/// let broker = Broker::new();
/// let server = broker.connect().create_channel()?;
/// server.queue_declare("rpc_queue", QueueDeclareOptions::default(), &FieldTable::new())?;
/// let requests = server.basic_consume("rpc_queue", "", BasicConsumeOptions::default(), &FieldTable::new())?;
/// let responder = std::thread::spawn(move || -> Result<(), warren::Error> {
///     let request = requests.recv()?;
///     let props = request.properties();
///     let reply = BasicProperties::default()
///         .with_correlation_id(props.correlation_id.clone().unwrap_or_default());
///     let to = props.reply_to.clone().unwrap_or_default();
///     server.basic_publish("", &to, BasicPublishOptions::default(), request.body_bytes(), reply)?;
///     request.ack()?;
///     Ok(())
/// });
///
/// let mut client = RpcClient::new(&broker.connect().create_channel()?)?;
/// let reply = client.call("", "rpc_queue", "ping", Duration::from_secs(5))?;
/// assert_eq!(reply.body(), b"ping");
/// responder.join().unwrap()?;
/// # Ok::<(), warren::Error>(())
/// ```
pub struct RpcClient {
    channel: Channel,
    consumer: Consumer,
    reply_to: String,
    prefix: String,
    next: u64,
    unknown: u64,
    cancel: RpcCancel,
}

/// Cancels an [`RpcClient`]'s pending call from another thread.
#[derive(Clone)]
pub struct RpcCancel {
    flag: Arc<AtomicBool>,
    wake: Arc<ConsumerShared>,
}

impl RpcCancel {
    /// Makes the pending call (or the next one) return a
    /// [`ConsumerCancelled`](crate::ErrorKind::ConsumerCancelled) error at once.
    pub fn cancel(&self) {
        self.flag.store(true, Relaxed);
        self.wake.send(Event::Wake);
    }
}

static CLIENTS: AtomicU64 = AtomicU64::new(0);

impl RpcClient {
    /// A client with an exclusive, server-named callback queue on `channel` (tutorial 6).
    ///
    /// # Errors
    ///
    /// Those of `queue_declare` and `basic_consume`.
    pub fn new(channel: &Channel) -> Result<RpcClient, Error> {
        let q = channel.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            &FieldTable::new(),
        )?;
        RpcClient::on(channel, &q.name, q.name.clone())
    }

    /// A client using direct reply-to (SEMANTICS R2): no callback queue.
    ///
    /// # Errors
    ///
    /// 406 if the channel already has a direct reply-to consumer.
    pub fn with_direct_reply_to(channel: &Channel) -> Result<RpcClient, Error> {
        RpcClient::on(channel, REPLY_TO, REPLY_TO.to_string())
    }

    fn on(channel: &Channel, queue: &str, reply_to: String) -> Result<RpcClient, Error> {
        let consumer = channel.basic_consume(
            queue,
            "",
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            &FieldTable::new(),
        )?;
        let cancel = RpcCancel {
            flag: Arc::new(AtomicBool::new(false)),
            wake: consumer.waker(),
        };
        Ok(RpcClient {
            channel: channel.clone(),
            consumer,
            reply_to,
            prefix: format!("rpc-{}-", CLIENTS.fetch_add(1, Relaxed)),
            next: 0,
            unknown: 0,
            cancel,
        })
    }

    /// Sends `body` to `exchange` with `routing_key` and waits at most `timeout` for the reply.
    ///
    /// # Errors
    ///
    /// [`Timeout`](crate::ErrorKind::Timeout) when no reply came in time;
    /// [`ConsumerCancelled`](crate::ErrorKind::ConsumerCancelled) when cancelled through
    /// [`canceller`](Self::canceller); 312 NO_ROUTE (scope local) when no queue took the
    /// request; the publish's errors.
    pub fn call(
        &mut self,
        exchange: &str,
        routing_key: &str,
        body: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Delivery, Error> {
        self.call_with(
            exchange,
            routing_key,
            body,
            BasicProperties::default(),
            timeout,
        )
    }

    /// [`call`](Self::call) with properties; `reply_to` and `correlation_id` are set by the
    /// client.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_with(
        &mut self,
        exchange: &str,
        routing_key: &str,
        body: impl Into<Bytes>,
        properties: BasicProperties,
        timeout: Duration,
    ) -> Result<Delivery, Error> {
        self.next += 1;
        let id = format!("{}{}", self.prefix, self.next);
        let props = properties
            .with_reply_to(self.reply_to.clone())
            .with_correlation_id(id.clone());
        let sent = self.channel.basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            props,
        )?;
        if let Publish::Returned(_) = sent {
            return Err(Error::amqp(
                312,
                format!("NO_ROUTE - no queue took the request to exchange '{exchange}' with key '{routing_key}'"),
            ));
        }
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if self.cancel.flag.swap(false, Relaxed) {
                return Err(Error::cancelled("the RPC call was cancelled"));
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Err(Error::timeout("an RPC reply"));
            }
            let Some(reply) = self.consumer.recv_timeout(left)? else {
                continue;
            };
            if reply.properties().correlation_id.as_deref() == Some(id.as_str()) {
                return Ok(reply);
            }
            // SEMANTICS R3: a reply to another (timed-out) call, or a stray one.
            self.unknown += 1;
        }
    }

    /// A handle that cancels the pending call from another thread.
    pub fn canceller(&self) -> RpcCancel {
        self.cancel.clone()
    }

    /// Replies discarded so far because their `correlation_id` matched no pending call.
    pub fn unknown_replies(&self) -> u64 {
        self.unknown
    }

    /// The address replies come to (`reply_to`).
    pub fn reply_to(&self) -> &str {
        &self.reply_to
    }
}
