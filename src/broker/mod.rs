//! `broker`: the safe API users hold: [`Broker`], [`Connection`], [`Channel`], [`Consumer`],
//! [`Delivery`].
//!
//! Names follow AMQP 0-9-1 and its Rust clients (lapin, amqprs): `queue_declare`,
//! `basic_publish`, `basic_consume`, `basic_ack`... with typed option structs and a
//! [`BasicProperties`] builder, so a RabbitMQ user finds their way. Everything runs in-process:
//! a call returns once its effect is done (a publish has reached its queues; an ack has given
//! its credit back).
//!
//! # Data flow
//!
//! `basic_publish` routes without a lock (the exchange and queue directories and the exchange
//! tables are lock-free to read), then enqueues one shared message in each queue reached,
//! under that queue's short lock; the queue hands it at once to a consumer with credit
//! ([`crate::dispatch`]), which registers it as unacked on its channel and puts it in the
//! consumer's mailbox. An ack settles it on the channel and gives the credit back; a nack,
//! reject, close or consumer loss puts it back in its queue at its original place.
//!
//! # Durability
//!
//! [`Broker::new`] keeps everything in memory (durable flags are recorded and compared,
//! SEMANTICS S1). [`Broker::open`] runs on a data directory: durable exchanges and queues,
//! bindings between durable ends and persistent messages in durable queues are logged by
//! [`crate::store`] and recovered when the directory is opened again (S2-S5); publisher
//! confirms ([`Channel::confirm_select`]) tell a publisher once its message is safe (C2).
//!
//! # Limits
//!
//! TTL, length limits, dead-lettering, priorities and single active consumer come later; their
//! arguments are refused (406) rather than ignored.

mod args;
mod channel;
mod confirm;
mod connection;
mod consumer;
mod deadletter;
mod explain;
mod mailbox;
mod names;
mod options;
pub(crate) mod properties;
mod publish;
mod registry;
mod rpc;
mod unacked;

pub use channel::{Channel, GetMessage, QueueDeclareOk, Settled};
pub use confirm::{Confirm, Confirmation};
pub use connection::Connection;
pub use consumer::{Consumer, Delivery, Iter};
pub use explain::{Explain, Hop, HopTarget};
pub use options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
pub use properties::BasicProperties;
pub use publish::{Publish, PublishError, Return};
pub use rpc::{RpcCancel, RpcClient};

use crate::clock::Clock;
use crate::error::Error;
use crate::store::{Fault, Record, RecoveryReport, Store, StoreOptions, StoreStats};
use channel::ChannelShared;
use connection::ConnShared;
use consumer::ConsumerShared;
use names::NameMap;
use registry::{QueueRec, Registry};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// The pseudo-queue of direct reply-to (SEMANTICS R2).
pub const REPLY_TO: &str = "amq.rabbitmq.reply-to";
/// The prefix of a rewritten direct reply-to address.
pub(crate) const REPLY_TO_PREFIX: &str = "amq.rabbitmq.reply-to.";

/// The default of [`BrokerOptions::max_message_size`]: 16 MiB (SEMANTICS N4).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// The largest allowed [`BrokerOptions::max_message_size`]: 512 MiB.
pub const MAX_MESSAGE_SIZE_LIMIT: usize = 512 * 1024 * 1024;

/// A broker's settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BrokerOptions {
    /// The largest body accepted, in bytes (SEMANTICS N4); at most 512 MiB.
    pub max_message_size: usize,
    /// Channels one connection may have open (SEMANTICS N5).
    pub channel_max: u16,
    /// The consumer timeout for manual-ack consumers whose queue and consume arguments set
    /// none (SEMANTICS A9); `None` turns it off.
    pub consumer_timeout: Option<Duration>,
    /// The source of time: the system clock, or a manual one that tests advance.
    pub clock: Clock,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            channel_max: 2047,
            consumer_timeout: Some(Duration::from_millis(1_800_000)),
            clock: Clock::system(),
        }
    }
}

impl BrokerOptions {
    /// Sets the clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the default consumer timeout (`None` = off).
    pub fn with_consumer_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.consumer_timeout = timeout;
        self
    }

    /// Sets the largest body accepted.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the channel limit per connection.
    pub fn with_channel_max(mut self, channels: u16) -> Self {
        self.channel_max = channels;
        self
    }

    fn consumer_timeout_ms(&self) -> Option<u64> {
        self.consumer_timeout
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
    }
}

/// Counters of what the broker dropped by rule.
#[derive(Default)]
pub(crate) struct Stats {
    /// Non-mandatory publishes that reached no queue (SEMANTICS P2).
    pub(crate) unroutable: AtomicU64,
    /// Messages that died rejected, expired, by a length limit, by the delivery limit
    /// (SEMANTICS X2), per queue copy.
    pub(crate) rejected: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) maxlen: AtomicU64,
    pub(crate) delivery_limit: AtomicU64,
    /// Dead copies republished to a queue through a dead-letter exchange (SEMANTICS X4).
    pub(crate) dead_lettered: AtomicU64,
    /// Dead copies that reached no queue: no dead-letter exchange, a missing one, an empty
    /// route, or only cycles (SEMANTICS X4, X6).
    pub(crate) dead_dropped: AtomicU64,
}

impl Stats {
    /// Counts a death.
    pub(crate) fn died(&self, reason: crate::queue::Reason) {
        use crate::queue::Reason;
        let counter = match reason {
            Reason::Rejected => &self.rejected,
            Reason::Expired => &self.expired,
            Reason::Maxlen => &self.maxlen,
            Reason::DeliveryLimit => &self.delivery_limit,
        };
        counter.fetch_add(1, Relaxed);
    }
}

/// A snapshot of the broker's message counters ([`Broker::stats`]). Deaths count queue
/// copies: a message dropped from two queues counts twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerStats {
    /// Non-mandatory publishes that reached no queue (SEMANTICS P2).
    pub unroutable: u64,
    /// Deliveries rejected or nacked without requeue (SEMANTICS A4, X2).
    pub rejected: u64,
    /// Messages whose TTL ran out (SEMANTICS L2).
    pub expired: u64,
    /// Messages dropped or refused by a length limit (SEMANTICS L6).
    pub maxlen: u64,
    /// Messages over their queue's `x-delivery-limit`.
    pub delivery_limit: u64,
    /// Dead messages republished through a dead-letter exchange to at least one queue (X4).
    pub dead_lettered: u64,
    /// Dead messages that reached no queue: no dead-letter exchange, a missing one, an empty
    /// route, or only cycles (SEMANTICS X4, X6).
    pub dead_dropped: u64,
}

/// The broker's shared state.
pub(crate) struct BrokerInner {
    pub(crate) registry: Registry,
    pub(crate) options: BrokerOptions,
    pub(crate) clock: Clock,
    /// Direct reply-to consumers by token (SEMANTICS R2).
    pub(crate) reply_to: NameMap<Arc<ConsumerShared>>,
    /// Every channel, for consumer timeouts.
    channels: Mutex<Vec<Weak<ChannelShared>>>,
    pub(crate) stats: Stats,
    names: AtomicU64,
    /// A per-broker random part of generated names, so names from two brokers differ.
    salt: u64,
    /// Set by [`Broker::close`]: connections opened later start closed.
    closed: std::sync::atomic::AtomicBool,
    /// The manual clock's callback, which the clock holds weakly.
    tick: std::sync::OnceLock<Arc<dyn Fn(u64) + Send + Sync>>,
    /// The system-clock sweeper thread, stopped and joined when the broker goes.
    sweeper: Mutex<Option<Sweeper>>,
}

/// The sweeper thread and its stop signal.
struct Sweeper {
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: std::thread::JoinHandle<()>,
}

impl Drop for BrokerInner {
    fn drop(&mut self) {
        let sweeper = self
            .sweeper
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(s) = sweeper {
            let (stop, cv) = &*s.stop;
            *stop.lock().unwrap_or_else(PoisonError::into_inner) = true;
            cv.notify_all();
            // The sweeper may hold the last handle itself (for one sweep): it stops on its own.
            if s.thread.thread().id() != std::thread::current().id() {
                let _ = s.thread.join();
            }
        }
    }
}

impl BrokerInner {
    /// A fresh name: `prefix` and a unique URL-safe suffix (SEMANTICS Q6, D8).
    pub(crate) fn server_name(&self, prefix: &str) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let n = self.names.fetch_add(1, Relaxed);
        // Mix the counter with the salt (splitmix64) so names look random but never repeat:
        // the mix is a bijection of the counter.
        let mut x = n.wrapping_add(self.salt);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        let mut name = String::with_capacity(prefix.len() + 22);
        name.push_str(prefix);
        for i in 0..11 {
            let six = usize::try_from((x >> (i * 6)) & 63).unwrap_or(0);
            name.push(char::from(ALPHABET[six]));
        }
        // The counter itself keeps names unique even if the mix had a collision.
        name.push('.');
        name.push_str(&n.to_string());
        name
    }

    pub(crate) fn track_channel(&self, ch: &Arc<ChannelShared>) {
        let mut chans = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if chans.len() >= 64 && chans.len().is_power_of_two() {
            chans.retain(|c| c.strong_count() > 0);
        }
        chans.push(Arc::downgrade(ch));
    }

    /// Runs the engine's timers at `now_ms`: message expiry (SEMANTICS L2), queue expiry (L4)
    /// and consumer timeouts (A9).
    pub(crate) fn sweep(&self, now_ms: u64) {
        for q in self.registry.live_queues() {
            q.q.sweep();
            if q.idle_expired(now_ms) {
                // Not dead-lettered (SEMANTICS L4); checked again under the topology lock.
                let clock = &self.clock;
                let _ = self.delete_queue(&q, |q| {
                    if q.idle_expired(clock.now_ms()) {
                        Ok(())
                    } else {
                        Err(Error::amqp(406, "in use"))
                    }
                });
            }
        }
        let chans: Vec<Arc<ChannelShared>> = {
            let mut chans = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
            chans.retain(|c| c.strong_count() > 0);
            chans.iter().filter_map(Weak::upgrade).collect()
        };
        for ch in chans {
            ch.sweep(now_ms);
        }
    }

    /// The durable log, for a broker opened on a data directory.
    pub(crate) fn store(&self) -> Option<&Arc<Store>> {
        self.registry.store.as_ref()
    }

    /// Logs that these (message, queue) pairs left their durable queues for good.
    pub(crate) fn log_settled(&self, refs: Vec<(u64, u64)>) {
        let Some(store) = self.store() else { return };
        // Chunks keep every record far below the log's record limit (a purge can settle
        // millions); each is a few bytes per pair.
        for chunk in refs.chunks(1 << 16) {
            let _small = store.log(&Record::Settle {
                refs: chunk.to_vec(),
            });
        }
    }

    /// Waits for the sync of a durable topology change this thread just logged (SEMANTICS
    /// S2): a declare of a durable queue returns once it is on disk.
    pub(crate) fn sync_topology(&self) -> Result<(), Error> {
        match (self.store(), Store::take_mine()) {
            (Some(store), Some(end)) => store.wait_synced(end),
            _ => Ok(()),
        }
    }

    /// Deletes `q` after `check` (SEMANTICS Q9): consumers are cancelled (D10). Returns the
    /// number of ready messages discarded.
    pub(crate) fn delete_queue(
        &self,
        q: &Arc<QueueRec>,
        check: impl FnOnce(&QueueRec) -> Result<(), Error>,
    ) -> Result<usize, Error> {
        let Some(deleted) = self.registry.delete_queue(q, check)? else {
            return Ok(0);
        };
        let why = Error::cancelled(format!("queue '{}' was deleted", q.name));
        for c in deleted.consumers {
            c.cancelled(&why);
        }
        Ok(deleted.ready)
    }

    /// An auto-delete queue lost its last consumer (SEMANTICS Q5).
    pub(crate) fn auto_delete_queue(&self, q: &Arc<QueueRec>) {
        let _ = self.delete_queue(q, |q| {
            if q.q.counts().1 > 0 {
                // A consumer came back meanwhile: keep the queue.
                return Err(Error::amqp(406, "in use"));
            }
            Ok(())
        });
    }

    /// An exclusive queue's connection closed (SEMANTICS Q3).
    pub(crate) fn drop_exclusive(&self, q: &Arc<QueueRec>) {
        let _ = self.delete_queue(q, |_| Ok(()));
    }
}

/// An in-process broker: exchanges, queues, consumers. Cheap to clone (a shared handle);
/// `Send + Sync`.
///
/// ```
/// use warren::{BasicProperties, Broker};
/// use warren::broker::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
/// use warren::message::FieldTable;
///
/// let broker = Broker::new();
/// let channel = broker.connect().create_channel()?;
/// channel.queue_declare("hello", QueueDeclareOptions::default(), &FieldTable::new())?;
/// let consumer = channel.basic_consume(
///     "hello",
///     "",
///     BasicConsumeOptions { no_ack: true, ..Default::default() },
///     &FieldTable::new(),
/// )?;
/// channel.basic_publish("", "hello", BasicPublishOptions::default(), "Hello World!", BasicProperties::default())?;
/// assert_eq!(consumer.recv()?.body(), b"Hello World!");
/// # Ok::<(), warren::Error>(())
/// ```
#[derive(Clone)]
pub struct Broker {
    inner: Arc<BrokerInner>,
}

impl Broker {
    /// An in-memory broker with default options.
    pub fn new() -> Broker {
        Broker::with_options(BrokerOptions::default())
    }

    /// An in-memory broker with `options`.
    ///
    /// With the system clock a background thread checks consumer timeouts every 10 ms (it
    /// ends with the broker); with a manual clock the checks run inside each
    /// [`Clock::advance`], to the millisecond.
    pub fn with_options(options: BrokerOptions) -> Broker {
        Broker::build(options, None)
    }

    /// A durable broker on the data directory `dir` (created if missing), with default
    /// options: what the directory holds is recovered first (SEMANTICS S2-S5).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the directory cannot be created,
    /// read or written, or another broker holds it (its `LOCK` file). A torn or corrupt log is
    /// no error: it is cut at the first bad record and reported by [`recovery`](Self::recovery).
    pub fn open(dir: impl AsRef<Path>) -> Result<Broker, Error> {
        Broker::open_with(dir, BrokerOptions::default(), StoreOptions::default())
    }

    /// [`open`](Self::open) with broker and store options.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(
        dir: impl AsRef<Path>,
        options: BrokerOptions,
        store: StoreOptions,
    ) -> Result<Broker, Error> {
        let fixed = u64::try_from(registry::PREDECLARED.len()).unwrap_or(0);
        let (store, recovered) = Store::open(dir.as_ref(), store, fixed)?;
        let broker = Broker::build(options, Some(store));
        broker.inner.registry.restore(recovered);
        Ok(broker)
    }

    fn build(mut options: BrokerOptions, store: Option<Arc<Store>>) -> Broker {
        options.max_message_size = options.max_message_size.min(MAX_MESSAGE_SIZE_LIMIT);
        let salt = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0);
            h.finish()
        };
        let inner = Arc::new_cyclic(|me| BrokerInner {
            registry: Registry::new(store, options.clock.clone(), me.clone()),
            clock: options.clock.clone(),
            options,
            reply_to: NameMap::new(),
            channels: Mutex::new(Vec::new()),
            stats: Stats::default(),
            names: AtomicU64::new(0),
            salt,
            closed: std::sync::atomic::AtomicBool::new(false),
            tick: std::sync::OnceLock::new(),
            sweeper: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        if inner.clock.is_manual() {
            let tick: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |now| {
                if let Some(b) = weak.upgrade() {
                    b.sweep(now);
                }
            });
            inner.clock.on_tick(Arc::downgrade(&tick));
            // The clock holds the callback weakly; the broker keeps it alive.
            let _ = inner.tick.set(tick);
        } else {
            let sweeper = spawn_sweeper(weak);
            *inner.sweeper.lock().unwrap_or_else(PoisonError::into_inner) = sweeper;
        }
        Broker { inner }
    }

    /// What recovery found when this broker's data directory was opened; `None` in memory.
    pub fn recovery(&self) -> Option<&RecoveryReport> {
        self.inner.store().map(|s| s.report())
    }

    /// The durable store's counters; `None` in memory.
    pub fn store_stats(&self) -> Option<StoreStats> {
        self.inner.store().map(|s| s.stats())
    }

    /// Makes the store's next write or fsync fail, so an application can test its error paths:
    /// the publishes it covered are nacked (SEMANTICS C3) and durable declares waiting for it
    /// fail with 541; the engine writes the bytes again afterwards. No effect in memory.
    pub fn fail_next(&self, fault: Fault) {
        if let Some(s) = self.inner.store() {
            s.fail_next(fault);
        }
    }

    /// Closes the broker cleanly: every channel closes (unacked messages go back to their
    /// queues), then the store writes what it holds, syncs and records a clean shutdown, so
    /// the next [`open`](Self::open) keeps the `redelivered` flags (SEMANTICS S3). Later calls
    /// on its connections and channels fail as closed. Dropping the last handle of a durable
    /// broker and of its connections does the same.
    pub fn close(&self) {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let chans: Vec<Arc<ChannelShared>> = {
            let chans = self
                .inner
                .channels
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            chans.iter().filter_map(Weak::upgrade).collect()
        };
        for ch in chans {
            ch.conn.close(None);
        }
        if let Some(s) = self.inner.store() {
            s.close();
        }
    }

    /// Opens a connection (closed at once after [`close`](Self::close): its calls fail as
    /// closed).
    pub fn connect(&self) -> Connection {
        let id = self.inner.registry.next_id();
        let conn = Arc::new(ConnShared::new(id, self.inner.clone()));
        if self.inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
            conn.close(None);
        }
        Connection::new(conn)
    }

    /// The broker's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Non-mandatory publishes that reached no queue so far (SEMANTICS P2).
    pub fn unroutable_count(&self) -> u64 {
        self.inner.stats.unroutable.load(Relaxed)
    }

    /// The broker's counters of unroutable and dead messages so far.
    pub fn stats(&self) -> BrokerStats {
        let s = &self.inner.stats;
        BrokerStats {
            unroutable: s.unroutable.load(Relaxed),
            rejected: s.rejected.load(Relaxed),
            expired: s.expired.load(Relaxed),
            maxlen: s.maxlen.load(Relaxed),
            delivery_limit: s.delivery_limit.load(Relaxed),
            dead_lettered: s.dead_lettered.load(Relaxed),
            dead_dropped: s.dead_dropped.load(Relaxed),
        }
    }

    /// The ready and consumer counts of queue `name`, if it exists (introspection; no
    /// exclusivity check, no side effect).
    pub fn queue_counts(&self, name: &str) -> Option<(usize, usize)> {
        self.inner
            .registry
            .queue_arc(name)
            .ok()
            .map(|q| q.q.counts())
    }

    /// Whether exchange `name` exists.
    pub fn exchange_exists(&self, name: &str) -> bool {
        name.is_empty() || self.inner.registry.exchange_arc(name).is_ok()
    }
}

impl Default for Broker {
    fn default() -> Self {
        Broker::new()
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

/// The system-clock sweeper: checks consumer timeouts every 10 ms until the broker goes.
fn spawn_sweeper(weak: Weak<BrokerInner>) -> Option<Sweeper> {
    let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let signal = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("warren-timeouts".into())
        .spawn(move || {
            let (stopped, cv) = &*signal;
            loop {
                {
                    let guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
                    let (guard, _) = cv
                        .wait_timeout_while(guard, Duration::from_millis(10), |s| !*s)
                        .unwrap_or_else(PoisonError::into_inner);
                    if *guard {
                        return;
                    }
                }
                let Some(b) = weak.upgrade() else {
                    return;
                };
                let now = b.clock.now_ms();
                b.sweep(now);
            }
        });
    // Without the thread, timeouts do not fire; everything else works.
    spawned.ok().map(|thread| Sweeper { stop, thread })
}
