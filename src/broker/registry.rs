//! The topology: exchanges, queues and bindings, and the routing walk over them.
//!
//! Readers (the publish path) find exchanges and queues in lock-free [`NameMap`]s and route
//! through the lock-free exchange tables of [`crate::route`]. Writers (declare, bind, delete)
//! serialise on one topology mutex, which also keeps the binding index that deletes, `if_unused`
//! and auto-delete need; no route waits for it.
//!
//! Routing walks the exchange graph once (SEMANTICS E6): each exchange at most once per message,
//! an exchange that matches nothing passes the message to its alternate (E7), and the queues
//! reached are collected in a [`DestSet`], one copy each.

use super::args::{ExchangeArgs, Overflow, QueueArgs};
use super::deadletter::Undertaker;
use super::names::{id_key, NameMap};
use super::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use super::properties::{check_table, BasicProperties};
use super::{BrokerInner, REPLY_TO_PREFIX};
use crate::clock::Clock;
use crate::error::Error;
use crate::message::FieldTable;
use crate::queue::{self, Limits, Payload, Queue, SinkRef};
use crate::route::{route_with_cc, routing_keys, ExchangeTable, ExchangeType};
use crate::store::{DestId, MessageRef, Record, Recovered, Store};
use crate::sync::Guard;
use crate::topic::DestSet;
use bytes::Bytes;
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// A published message as queues hold it, through a [`Msg`]: owned by its one holder, or one
/// allocation shared by every queue it reached (SEMANTICS P5). The body inside is itself
/// shared, never copied.
#[derive(Debug, Default)]
pub(crate) struct MessageData {
    /// The exchange published to; `None` for the default exchange.
    exchange: Option<Arc<str>>,
    /// The routing key's bytes (valid UTF-8), inline up to 24 bytes: no allocation of its own.
    /// Not more: at 24 a queue entry is 128 bytes, which the compiler moves with inline
    /// stores; at 32 each of the handful of moves on the publish path was a `memcpy` call
    /// (the pinned pipe ran 10-15% slower).
    routing_key: SmallVec<[u8; 24]>,
    /// `None` when no property is set (most of the time in benchmarks; the struct is large).
    properties: Option<Box<BasicProperties>>,
    pub(crate) body: Bytes,
    /// Its id in the durable log, or 0: persistent and logged for at least one durable queue.
    pub(crate) store_id: u64,
}

impl MessageData {
    /// A message; `properties` is `None` when no property is set.
    pub(crate) fn new(
        exchange: Option<Arc<str>>,
        routing_key: &str,
        properties: Option<Box<BasicProperties>>,
        body: Bytes,
    ) -> MessageData {
        MessageData {
            exchange,
            routing_key: SmallVec::from_slice(routing_key.as_bytes()),
            properties,
            body,
            store_id: 0,
        }
    }

    /// Its properties.
    pub(crate) fn properties(&self) -> &BasicProperties {
        self.properties
            .as_deref()
            .unwrap_or(&BasicProperties::EMPTY)
    }

    /// The exchange it was published to (`""` for the default exchange).
    pub(crate) fn exchange(&self) -> &str {
        self.exchange.as_deref().unwrap_or("")
    }

    /// The routing key it was published with.
    pub(crate) fn routing_key(&self) -> &str {
        // Copied from a `&str`, so this never falls back.
        std::str::from_utf8(&self.routing_key).unwrap_or_default()
    }
}

/// The message handle queues store: the message itself while one holder has it, else one
/// shared allocation (SEMANTICS P5).
///
/// A publish that reaches a single queue hands the message over *owned*: it travels inside
/// its queue entry, through the consumer's mailbox, into the [`Delivery`](super::Delivery),
/// with no allocation. An allocation that the publishing thread makes and the consuming thread
/// frees crosses cores twice per message, through the allocator's shared bins; on the
/// one-queue pipe that was the publisher's largest single cost. A second holder (another
/// queue, an unacked record beside its delivery) asks for [`share`](Msg::share), which moves
/// an owned message into a shared allocation once.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Held by one holder: moved, never counted.
    Owned(MessageData),
    /// Held by several: reference counted.
    Shared(Arc<MessageData>),
}

impl Msg {
    /// Another handle to this message: an owned one moves into a shared allocation first.
    pub(crate) fn share(&mut self) -> Msg {
        Msg::Shared(self.share_arc())
    }

    /// [`share`](Self::share), as the allocation itself.
    pub(crate) fn share_arc(&mut self) -> Arc<MessageData> {
        let arc = match self {
            Msg::Shared(arc) => return arc.clone(),
            Msg::Owned(data) => Arc::new(std::mem::take(data)),
        };
        *self = Msg::Shared(arc.clone());
        arc
    }

    /// The shared allocation, made now for an owned message.
    pub(crate) fn into_arc(self) -> Arc<MessageData> {
        match self {
            Msg::Owned(data) => Arc::new(data),
            Msg::Shared(arc) => arc,
        }
    }
}

impl std::ops::Deref for Msg {
    type Target = MessageData;

    #[inline]
    fn deref(&self) -> &MessageData {
        match self {
            Msg::Owned(data) => data,
            Msg::Shared(arc) => arc,
        }
    }
}

impl Payload for Msg {
    #[inline]
    fn body_len(&self) -> usize {
        self.body.len()
    }

    #[inline]
    fn priority(&self) -> u8 {
        self.properties
            .as_ref()
            .and_then(|p| p.priority)
            .unwrap_or(0)
    }

    #[inline]
    fn expiration_ms(&self) -> Option<u64> {
        // Checked on publish (SEMANTICS P3): digits within the TTL range.
        self.properties
            .as_ref()?
            .expiration
            .as_deref()?
            .parse()
            .ok()
    }
}

/// A binding's destination in an exchange table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dest {
    Queue(u64),
    Exchange(u64),
}

/// An exchange.
pub(crate) struct ExchangeRec {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) kind: ExchangeType,
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
    pub(crate) internal: bool,
    pub(crate) args: ExchangeArgs,
    pub(crate) table: ExchangeTable<Dest>,
}

/// A queue.
pub(crate) struct QueueRec {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
    pub(crate) durable: bool,
    pub(crate) auto_delete: bool,
    /// The owning connection of an exclusive queue.
    pub(crate) owner: Option<u64>,
    pub(crate) args: QueueArgs,
    pub(crate) q: Arc<Queue<Msg>>,
    /// When it was last used (SEMANTICS L4: declared, consumed from, got from), ms on the
    /// broker's clock; only kept for a queue with `x-expires`.
    pub(crate) last_used: AtomicU64,
}

impl QueueRec {
    /// Notes a use of the queue (SEMANTICS L4).
    pub(crate) fn touch(&self, clock: &Clock) {
        if self.args.expires_ms.is_some() {
            self.last_used.fetch_max(clock.now_ms(), Relaxed);
        }
    }

    /// Whether `x-expires` ran out at `now_ms`: unused that long and without consumers.
    pub(crate) fn idle_expired(&self, now_ms: u64) -> bool {
        let Some(expires) = self.args.expires_ms else {
            return false;
        };
        now_ms.saturating_sub(self.last_used.load(Relaxed)) >= expires && self.q.counts().1 == 0
    }
}

impl QueueRec {
    /// 405 unless `conn` may use this queue (SEMANTICS Q3).
    pub(crate) fn check_owner(&self, conn: u64) -> Result<(), Error> {
        match self.owner {
            Some(owner) if owner != conn => Err(Error::amqp(
                405,
                format!(
                    "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{}' in vhost '/'",
                    self.name
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The limits a queue applies, from its arguments (SEMANTICS L, D6).
fn limits_of(args: &QueueArgs) -> Limits {
    Limits {
        message_ttl_ms: args.message_ttl_ms,
        max_length: args.max_length,
        max_length_bytes: args.max_length_bytes,
        overflow: match args.overflow {
            Overflow::DropHead => queue::Overflow::DropHead,
            Overflow::RejectPublish => queue::Overflow::RejectPublish,
            Overflow::RejectPublishDlx => queue::Overflow::RejectPublishDlx,
        },
        priority_levels: args.priority_levels(),
        delivery_limit: args.delivery_limit,
        single_active: args.single_active_consumer,
    }
}

/// The pre-declared exchanges (SEMANTICS E4).
pub(crate) const PREDECLARED: [(&str, ExchangeType); 5] = [
    ("amq.direct", ExchangeType::Direct),
    ("amq.fanout", ExchangeType::Fanout),
    ("amq.topic", ExchangeType::Topic),
    ("amq.headers", ExchangeType::Headers),
    ("amq.match", ExchangeType::Headers),
];

/// What a binding's key and arguments are, per (source, destination) pair, with the binding's
/// id (which the durable log names it by).
type PairBindings = Vec<(Box<str>, FieldTable, u64)>;

#[derive(Default)]
struct Topology {
    pairs: HashMap<(u64, Dest), PairBindings>,
    /// Destinations of each source exchange.
    by_source: HashMap<u64, HashSet<Dest>>,
    /// Sources of each destination.
    by_dest: HashMap<Dest, HashSet<u64>>,
}

/// What a queue delete took away.
pub(crate) struct QueueDeleted {
    pub(crate) ready: usize,
    pub(crate) consumers: Vec<SinkRef<Msg>>,
}

/// Exchanges, queues and bindings.
pub(crate) struct Registry {
    exchanges: NameMap<Arc<ExchangeRec>>,
    exchange_ids: NameMap<Arc<ExchangeRec>>,
    queues: NameMap<Arc<QueueRec>>,
    queue_ids: NameMap<Arc<QueueRec>>,
    topo: Mutex<Topology>,
    next_id: AtomicU64,
    /// The durable log, for a broker opened on a data directory.
    pub(crate) store: Option<Arc<Store>>,
    /// The broker's clock, for queue deadlines.
    clock: Clock,
    /// The broker, for the undertakers of its queues (dead-lettering).
    broker: Weak<BrokerInner>,
    /// Every queue declared, for the sweeper (message and queue expiry); pruned as they go.
    all_queues: Mutex<Vec<Weak<QueueRec>>>,
}

fn not_found(what: &str, name: &str) -> Error {
    Error::amqp(404, format!("NOT_FOUND - no {what} '{name}' in vhost '/'"))
}

fn precondition(text: String) -> Error {
    Error::amqp(406, format!("PRECONDITION_FAILED - {text}"))
}

fn refused(text: String) -> Error {
    Error::amqp(403, format!("ACCESS_REFUSED - {text}"))
}

/// A binding destination as the log names it.
fn dest_id(dest: Dest) -> DestId {
    match dest {
        Dest::Queue(id) => DestId::Queue(id),
        Dest::Exchange(id) => DestId::Exchange(id),
    }
}

/// The checks every queue or exchange name gets (SEMANTICS N2).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), Error> {
    if name.contains(['\r', '\n']) {
        return Err(precondition(format!(
            "{what} name {name:?} contains a carriage return or line feed"
        )));
    }
    Ok(())
}

impl Registry {
    pub(crate) fn new(
        store: Option<Arc<Store>>,
        clock: Clock,
        broker: Weak<BrokerInner>,
    ) -> Registry {
        let reg = Registry {
            store,
            clock,
            broker,
            all_queues: Mutex::new(Vec::new()),
            exchanges: NameMap::new(),
            exchange_ids: NameMap::new(),
            queues: NameMap::new(),
            queue_ids: NameMap::new(),
            topo: Mutex::new(Topology::default()),
            next_id: AtomicU64::new(1),
        };
        for (name, kind) in PREDECLARED {
            reg.insert_exchange(ExchangeRec {
                id: reg.next_id(),
                name: name.into(),
                kind,
                durable: true,
                auto_delete: false,
                internal: false,
                args: ExchangeArgs::default(),
                table: ExchangeTable::new(kind),
            });
        }
        reg
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    fn topo(&self) -> MutexGuard<'_, Topology> {
        // Every change to the index completes before anything that could panic.
        self.topo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert_exchange(&self, rec: ExchangeRec) {
        let rec = Arc::new(rec);
        self.exchange_ids.insert(&id_key(rec.id), rec.clone());
        let name = rec.name.clone();
        self.exchanges.insert(name.as_bytes(), rec);
    }

    /// The exchange `name`, valid while `guard` is pinned.
    #[inline]
    pub(crate) fn exchange<'g>(
        &self,
        name: &str,
        guard: &'g Guard,
    ) -> Option<&'g Arc<ExchangeRec>> {
        self.exchanges.get(name.as_bytes(), guard)
    }

    /// The queue `name`, valid while `guard` is pinned.
    #[inline]
    pub(crate) fn queue<'g>(&self, name: &str, guard: &'g Guard) -> Option<&'g Arc<QueueRec>> {
        self.queues.get(name.as_bytes(), guard)
    }

    /// The queue `name`, or 404.
    pub(crate) fn queue_arc(&self, name: &str) -> Result<Arc<QueueRec>, Error> {
        self.queues
            .get_cloned(name.as_bytes())
            .ok_or_else(|| not_found("queue", name))
    }

    /// The exchange `name`, or 404.
    pub(crate) fn exchange_arc(&self, name: &str) -> Result<Arc<ExchangeRec>, Error> {
        self.exchanges
            .get_cloned(name.as_bytes())
            .ok_or_else(|| not_found("exchange", name))
    }

    // ----- exchanges -----

    /// `exchange_declare` (SEMANTICS E1, E2, E4, E10, N3).
    pub(crate) fn declare_exchange(
        &self,
        name: &str,
        kind: ExchangeType,
        opts: ExchangeDeclareOptions,
        args: &FieldTable,
    ) -> Result<(), Error> {
        if name.is_empty() {
            return Err(refused(
                "operation not permitted on the default exchange".into(),
            ));
        }
        check_name("exchange", name)?;
        let _topo = self.topo();
        if let Some(x) = self.exchanges.get_cloned(name.as_bytes()) {
            if opts.passive {
                return Ok(());
            }
            let parsed = ExchangeArgs::parse(name, args)?;
            let differs = if x.kind != kind {
                Some("type")
            } else if x.durable != opts.durable {
                Some("durable")
            } else if x.auto_delete != opts.auto_delete {
                Some("auto_delete")
            } else if x.internal != opts.internal {
                Some("internal")
            } else if x.args.equivalent(&parsed).is_err() {
                Some("alternate-exchange")
            } else {
                None
            };
            return match differs {
                Some(field) => Err(precondition(format!(
                    "inequivalent arg '{field}' for exchange '{name}' in vhost '/'"
                ))),
                None => Ok(()),
            };
        }
        if opts.passive {
            return Err(not_found("exchange", name));
        }
        if name.starts_with("amq.") {
            return Err(refused(format!(
                "exchange name '{name}' contains reserved prefix 'amq.*'"
            )));
        }
        let parsed = ExchangeArgs::parse(name, args)?;
        let id = self.next_id();
        if opts.durable {
            self.log_topology(|| Record::Exchange {
                id,
                name: name.to_string(),
                kind,
                auto_delete: opts.auto_delete,
                internal: opts.internal,
                args: args.clone(),
            });
        }
        self.insert_exchange(ExchangeRec {
            id,
            name: name.into(),
            kind,
            durable: opts.durable,
            auto_delete: opts.auto_delete,
            internal: opts.internal,
            args: parsed,
            table: ExchangeTable::new(kind),
        });
        Ok(())
    }

    /// `exchange_delete` (SEMANTICS E11, N3).
    pub(crate) fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<(), Error> {
        if name.is_empty() {
            return Err(refused(
                "operation not permitted on the default exchange".into(),
            ));
        }
        if name.starts_with("amq.") {
            return Err(refused(format!(
                "deletion of system exchange '{name}' in vhost '/' not allowed"
            )));
        }
        let mut topo = self.topo();
        let Some(x) = self.exchanges.get_cloned(name.as_bytes()) else {
            return Ok(());
        };
        if if_unused
            && topo
                .by_source
                .get(&x.id)
                .is_some_and(|dests| !dests.is_empty())
        {
            return Err(precondition(format!(
                "exchange '{name}' in vhost '/' in use"
            )));
        }
        self.remove_exchange(&mut topo, &x);
        Ok(())
    }

    /// Removes `x` and every binding at either end, cascading auto-deletes.
    fn remove_exchange(&self, topo: &mut Topology, x: &Arc<ExchangeRec>) {
        if x.durable {
            self.log_topology(|| Record::ExchangeGone { id: x.id });
        }
        self.exchanges.remove(x.name.as_bytes());
        self.exchange_ids.remove(&id_key(x.id));
        let dests: Vec<Dest> = topo
            .by_source
            .remove(&x.id)
            .map(|d| d.into_iter().collect())
            .unwrap_or_default();
        for dest in dests {
            topo.pairs.remove(&(x.id, dest));
            if let Some(srcs) = topo.by_dest.get_mut(&dest) {
                srcs.remove(&x.id);
                if srcs.is_empty() {
                    topo.by_dest.remove(&dest);
                }
            }
        }
        self.drop_dest(topo, Dest::Exchange(x.id));
    }

    /// Drops every binding to `dest` (a deleted queue or exchange), auto-deleting sources that
    /// lose their last binding (SEMANTICS E9, E11, Q9).
    fn drop_dest(&self, topo: &mut Topology, dest: Dest) {
        let sources: Vec<u64> = topo
            .by_dest
            .remove(&dest)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        for src in sources {
            let bindings = topo.pairs.remove(&(src, dest)).unwrap_or_default();
            let Some(x) = self.exchange_ids.get_cloned(&id_key(src)) else {
                continue;
            };
            for (key, args, _) in &bindings {
                // Removing what bind added: cannot fail for a key that bound.
                let _ = x.table.unbind(key, args, dest);
            }
            let now_empty = topo.by_source.get_mut(&src).is_some_and(|d| {
                d.remove(&dest);
                d.is_empty()
            });
            if now_empty {
                topo.by_source.remove(&src);
                if x.auto_delete {
                    self.remove_exchange(topo, &x);
                }
            }
        }
    }

    // ----- queues -----

    /// A new queue object for the queue `name` with `args`, logged as `log_id` (0: not).
    fn new_queue(&self, name: &str, log_id: u64, args: &QueueArgs) -> Arc<Queue<Msg>> {
        let q = Arc::new(Queue::with_limits(
            log_id,
            limits_of(args),
            self.clock.clone(),
        ));
        q.set_undertaker(Box::new(Undertaker::new(
            self.broker.clone(),
            name,
            args.dead_letter_exchange.as_deref(),
            args.dead_letter_routing_key.as_deref(),
        )));
        q
    }

    /// Makes `rec` visible by name and id, and to the sweeper.
    fn register_queue(&self, rec: &Arc<QueueRec>) {
        self.queue_ids.insert(&id_key(rec.id), rec.clone());
        self.queues.insert(rec.name.as_bytes(), rec.clone());
        let mut all = self
            .all_queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if all.len() >= 64 && all.len().is_power_of_two() {
            all.retain(|q| q.strong_count() > 0);
        }
        all.push(Arc::downgrade(rec));
    }

    /// Every live queue, for the sweeper.
    pub(crate) fn live_queues(&self) -> Vec<Arc<QueueRec>> {
        let mut all = self
            .all_queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.retain(|q| q.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    }

    /// `queue_declare`'s registry part: the existing queue (after Q2/Q3 checks) or a new one.
    /// Returns the queue and whether it was created.
    pub(crate) fn declare_queue(
        &self,
        name: &str,
        server_named: bool,
        opts: QueueDeclareOptions,
        args: &FieldTable,
        conn: u64,
    ) -> Result<(Arc<QueueRec>, bool), Error> {
        check_name("queue", name)?;
        let _topo = self.topo();
        if let Some(q) = self.queues.get_cloned(name.as_bytes()) {
            q.check_owner(conn)?;
            if opts.passive {
                return Ok((q, false));
            }
            if opts.exclusive != q.owner.is_some() {
                return Err(Error::amqp(
                    405,
                    format!(
                        "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{name}' in vhost '/'"
                    ),
                ));
            }
            let parsed = QueueArgs::parse(name, args, opts.durable, opts.exclusive, server_named)?;
            let differs = if q.durable != opts.durable {
                Some("durable".to_string())
            } else if q.auto_delete != opts.auto_delete {
                Some("auto_delete".to_string())
            } else {
                q.args.equivalent(&parsed).err()
            };
            return match differs {
                Some(field) => Err(precondition(format!(
                    "inequivalent arg '{field}' for queue '{name}' in vhost '/'"
                ))),
                None => Ok((q, false)),
            };
        }
        if opts.passive {
            return Err(not_found("queue", name));
        }
        if !server_named && name.starts_with("amq.") {
            return Err(refused(format!(
                "queue name '{name}' contains reserved prefix 'amq.*'"
            )));
        }
        let parsed = QueueArgs::parse(name, args, opts.durable, opts.exclusive, server_named)?;
        let id = self.next_id();
        // Exclusive queues end with their connection: never logged.
        let logged = self.store.is_some() && opts.durable && !opts.exclusive;
        if logged {
            self.log_topology(|| Record::Queue {
                id,
                name: name.to_string(),
                auto_delete: opts.auto_delete,
                args: args.clone(),
            });
        }
        let q = self.new_queue(name, if logged { id } else { 0 }, &parsed);
        let rec = Arc::new(QueueRec {
            id,
            name: name.into(),
            durable: opts.durable,
            auto_delete: opts.auto_delete,
            owner: opts.exclusive.then_some(conn),
            args: parsed,
            q,
            last_used: AtomicU64::new(self.clock.now_ms()),
        });
        self.register_queue(&rec);
        Ok((rec, true))
    }

    /// Deletes `q` (if still registered): unregisters it, drops its bindings and messages.
    /// `check` runs under the topology lock first (for `if_unused` / `if_empty`).
    pub(crate) fn delete_queue(
        &self,
        q: &Arc<QueueRec>,
        check: impl FnOnce(&QueueRec) -> Result<(), Error>,
    ) -> Result<Option<QueueDeleted>, Error> {
        let mut topo = self.topo();
        match self.queue_ids.get_cloned(&id_key(q.id)) {
            Some(now) if Arc::ptr_eq(&now, q) => {}
            _ => return Ok(None),
        }
        check(q)?;
        if q.q.log_id != 0 {
            self.log_topology(|| Record::QueueGone { id: q.id });
        }
        self.queues.remove(q.name.as_bytes());
        self.queue_ids.remove(&id_key(q.id));
        self.drop_dest(&mut topo, Dest::Queue(q.id));
        let (ready, consumers) = q.q.delete();
        Ok(Some(QueueDeleted { ready, consumers }))
    }

    // ----- bindings -----

    /// Binds `dest` to `source` (SEMANTICS E5, E6): a set, binding twice is a no-op.
    pub(crate) fn bind(
        &self,
        source: &ExchangeRec,
        dest: Dest,
        key: &str,
        args: &FieldTable,
    ) -> Result<(), Error> {
        check_table(args)?;
        let mut topo = self.topo();
        self.check_live(source, dest)?;
        let headers = source.kind == ExchangeType::Headers;
        let durable = self.store.is_some() && source.durable && self.durable_dest(dest);
        let pair = topo.pairs.entry((source.id, dest)).or_default();
        if pair.iter().any(|(k, a, _)| &**k == key && a == args) {
            return Ok(());
        }
        let table_has = pair
            .iter()
            .any(|(k, a, _)| if headers { a == args } else { &**k == key });
        if !table_has {
            if let Err(e) = source.table.bind(key, args, dest) {
                if pair.is_empty() {
                    topo.pairs.remove(&(source.id, dest));
                }
                return Err(e);
            }
        }
        let id = self.next_id();
        if durable {
            self.log_topology(|| Record::Bind {
                id,
                source: source.id,
                dest: dest_id(dest),
                key: key.to_string(),
                args: args.clone(),
            });
        }
        pair.push((key.into(), args.clone(), id));
        topo.by_source.entry(source.id).or_default().insert(dest);
        topo.by_dest.entry(dest).or_default().insert(source.id);
        Ok(())
    }

    /// Removes a binding (SEMANTICS E11, Q10: idempotent), auto-deleting the source when it
    /// loses its last binding (E9).
    pub(crate) fn unbind(
        &self,
        source: &Arc<ExchangeRec>,
        dest: Dest,
        key: &str,
        args: &FieldTable,
    ) -> Result<(), Error> {
        let mut topo = self.topo();
        let headers = source.kind == ExchangeType::Headers;
        let Some(pair) = topo.pairs.get_mut(&(source.id, dest)) else {
            return Ok(());
        };
        let Some(at) = pair.iter().position(|(k, a, _)| &**k == key && a == args) else {
            return Ok(());
        };
        let (_, _, id) = pair.remove(at);
        let table_keeps = pair
            .iter()
            .any(|(k, a, _)| if headers { a == args } else { &**k == key });
        if !table_keeps {
            source.table.unbind(key, args, dest)?;
        }
        if self.store.is_some() && source.durable && self.durable_dest(dest) {
            self.log_topology(|| Record::Unbind { id });
        }
        if !pair.is_empty() {
            return Ok(());
        }
        topo.pairs.remove(&(source.id, dest));
        if let Some(srcs) = topo.by_dest.get_mut(&dest) {
            srcs.remove(&source.id);
            if srcs.is_empty() {
                topo.by_dest.remove(&dest);
            }
        }
        let now_empty = topo.by_source.get_mut(&source.id).is_some_and(|d| {
            d.remove(&dest);
            d.is_empty()
        });
        if now_empty {
            topo.by_source.remove(&source.id);
            if source.auto_delete {
                self.remove_exchange(&mut topo, source);
            }
        }
        Ok(())
    }

    /// 404 if either end of a binding was deleted meanwhile.
    fn check_live(&self, source: &ExchangeRec, dest: Dest) -> Result<(), Error> {
        if self.exchange_ids.get_cloned(&id_key(source.id)).is_none() {
            return Err(not_found("exchange", &source.name));
        }
        let live = match dest {
            Dest::Queue(id) => self.queue_ids.get_cloned(&id_key(id)).is_some(),
            Dest::Exchange(id) => self.exchange_ids.get_cloned(&id_key(id)).is_some(),
        };
        if live {
            Ok(())
        } else {
            Err(not_found("destination", "(deleted)"))
        }
    }

    /// The (key, arguments) of every binding from `source` to `dest`.
    pub(crate) fn pair_bindings(&self, source: u64, dest: Dest) -> Vec<(String, FieldTable)> {
        self.topo()
            .pairs
            .get(&(source, dest))
            .map(|p| {
                p.iter()
                    .map(|(k, a, _)| (k.to_string(), a.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    // ----- the durable log -----

    /// Appends a topology record (built only when there is a log), under the topology lock so
    /// the log keeps the registry's order; the caller waits for its sync
    /// ([`Store::take_mine`]).
    fn log_topology(&self, rec: impl FnOnce() -> Record) {
        if let Some(store) = &self.store {
            store.log_topology(&rec());
        }
    }

    /// Whether a binding to `dest` is logged (with a durable source): a durable exchange, or a
    /// durable queue that is logged (not exclusive).
    fn durable_dest(&self, dest: Dest) -> bool {
        match dest {
            Dest::Queue(id) => self
                .queue_ids
                .get_cloned(&id_key(id))
                .is_some_and(|q| q.q.log_id != 0),
            Dest::Exchange(id) => self
                .exchange_ids
                .get_cloned(&id_key(id))
                .is_some_and(|x| x.durable),
        }
    }

    /// Rebuilds the durable topology and messages recovered from the log (SEMANTICS S2), before
    /// any connection exists. Records that no longer parse are skipped.
    pub(crate) fn restore(&self, rec: Recovered) {
        self.next_id
            .fetch_max(rec.max_id.saturating_add(1), Relaxed);
        let mut topo = self.topo();
        let now = self.clock.now_ms();
        let mut restored = Vec::new();
        for x in rec.exchanges {
            let Ok(args) = ExchangeArgs::parse(&x.name, &x.args) else {
                continue;
            };
            self.insert_exchange(ExchangeRec {
                id: x.id,
                name: x.name.as_str().into(),
                kind: x.kind,
                durable: true,
                auto_delete: x.auto_delete,
                internal: x.internal,
                args,
                table: ExchangeTable::new(x.kind),
            });
        }
        let mut msgs: Vec<(Msg, u64)> = rec
            .messages
            .into_iter()
            .map(|m| {
                let exchange = (!m.exchange.is_empty()).then(|| Arc::<str>::from(m.exchange));
                let mut data = MessageData::new(exchange, &m.routing_key, m.properties, m.body);
                data.store_id = m.id;
                (Msg::Owned(data), m.time_ms)
            })
            .collect();
        for q in rec.queues {
            let server_named = q.name.starts_with("amq.gen-");
            let Ok(args) = QueueArgs::parse(&q.name, &q.args, true, false, server_named) else {
                continue;
            };
            let queue = self.new_queue(&q.name, q.id, &args);
            for &(at, redelivered, failed, returned) in &q.messages {
                if let Some((m, time_ms)) = msgs.get_mut(at) {
                    // SEMANTICS S6: deadlines are absolute, from when it entered.
                    queue.restore(m.share(), *time_ms, redelivered, failed, returned);
                }
            }
            let rec = Arc::new(QueueRec {
                id: q.id,
                name: q.name.as_str().into(),
                durable: true,
                auto_delete: q.auto_delete,
                owner: None,
                args,
                q: queue,
                // SEMANTICS S6: idle time restarts.
                last_used: AtomicU64::new(now),
            });
            restored.push(rec.q.clone());
            self.register_queue(&rec);
        }
        for b in rec.bindings {
            let dest = match b.dest {
                DestId::Queue(id) => Dest::Queue(id),
                DestId::Exchange(id) => Dest::Exchange(id),
            };
            let Some(source) = self.exchange_ids.get_cloned(&id_key(b.source)) else {
                continue;
            };
            let headers = source.kind == ExchangeType::Headers;
            let pair = topo.pairs.entry((source.id, dest)).or_default();
            let table_has = pair.iter().any(
                |(k, a, _)| {
                    if headers {
                        *a == b.args
                    } else {
                        **k == *b.key
                    }
                },
            );
            if !table_has && source.table.bind(&b.key, &b.args, dest).is_err() {
                continue;
            }
            pair.push((b.key.as_str().into(), b.args, b.id));
            topo.by_source.entry(source.id).or_default().insert(dest);
            topo.by_dest.entry(dest).or_default().insert(source.id);
        }
        drop(topo);
        // A crash between a drop-head publish's record and the record of the head it dropped
        // brings both back: the limits apply again now, the drops dead-lettered and logged as
        // any other (SEMANTICS L5, L6). Expired heads go at the first sweep (S6).
        for q in restored {
            q.enforce_limits();
        }
    }

    // ----- routing -----

    /// Routes through the default exchange (SEMANTICS E2): every queue named by `key` or, with
    /// `headers`, by a `CC` / `BCC` key (P4), once each, into `out`. A direct reply-to address
    /// (R2) goes to `reply` as its token instead. Keys are assumed checked (`routing_keys`
    /// would refuse them only for a `CC` that is not an array: then nothing routes).
    #[inline]
    pub(crate) fn route_by_name<'g>(
        &self,
        key: &str,
        headers: Option<&FieldTable>,
        guard: &'g Guard,
        out: &mut SmallVec<[&'g Arc<QueueRec>; 8]>,
        mut reply: impl FnMut(&str),
    ) {
        let mut by_name = |key: &str| {
            if let Some(token) = key.strip_prefix(REPLY_TO_PREFIX) {
                reply(token);
            } else if let Some(q) = self.queue(key, guard) {
                if !out.iter().any(|have| have.id == q.id) {
                    out.push(q);
                }
            }
        };
        if headers.is_none() {
            by_name(key);
        } else if let Ok(keys) = routing_keys(key, headers) {
            keys.for_each(by_name);
        }
    }

    /// Logs `data` for the durable queues among `targets` if it is persistent (SEMANTICS S2),
    /// settling the `replaces` pairs in the same record (X7), and gives it its log id.
    /// Returns the log position after its record, or `None` when nothing was to be logged.
    /// A record over the log's limit is not logged (an error: the message stays in memory
    /// only).
    #[inline]
    pub(crate) fn log_persistent(
        &self,
        clock: &Clock,
        data: &mut MessageData,
        targets: &[&Arc<QueueRec>],
        replaces: &[(u64, u64)],
    ) -> Option<Result<u64, Error>> {
        let store = self.store.as_ref()?;
        if !data.properties().is_persistent() {
            return None;
        }
        let queues: SmallVec<[u64; 4]> = targets
            .iter()
            .map(|q| q.q.log_id)
            .filter(|&id| id != 0)
            .collect();
        if queues.is_empty() {
            return None;
        }
        let id = store.next_message_id();
        let end = store.log_message(&MessageRef {
            id,
            time_ms: clock.now_ms(),
            queues: &queues,
            exchange: data.exchange(),
            routing_key: data.routing_key(),
            properties: Some(data.properties()),
            body: &data.body,
            replaces,
        });
        if end.is_ok() {
            data.store_id = id;
        }
        Some(end)
    }

    /// The queues a message published to `start` with `key` and `headers` reaches (SEMANTICS
    /// E6, E7, P4), each once, into `out`. Keys were checked by the caller.
    #[inline]
    pub(crate) fn route<'g>(
        &self,
        start: &'g Arc<ExchangeRec>,
        key: &str,
        headers: Option<&FieldTable>,
        guard: &'g Guard,
        out: &mut SmallVec<[&'g Arc<QueueRec>; 8]>,
    ) {
        let mut queues: DestSet<u64> = DestSet::new();
        self.walk(start, key, headers, guard, |_, _, d| {
            if let Dest::Queue(id) = d {
                queues.insert(id);
            }
        });
        for &id in queues.iter() {
            if let Some(q) = self.queue_ids.get(&id_key(id), guard) {
                out.push(q);
            }
        }
    }

    /// Walks the exchange graph from `start`, calling `seen(exchange, via_alternate, dest)` for
    /// every destination each visited exchange routes to (an alternate hop is reported as
    /// `Dest::Exchange` with `via_alternate`).
    pub(crate) fn walk<'g>(
        &self,
        start: &'g Arc<ExchangeRec>,
        key: &str,
        headers: Option<&FieldTable>,
        guard: &'g Guard,
        mut seen: impl FnMut(&ExchangeRec, bool, Dest),
    ) {
        let mut visited: SmallVec<[u64; 4]> = SmallVec::new();
        let mut stack: SmallVec<[&'g Arc<ExchangeRec>; 4]> = SmallVec::new();
        stack.push(start);
        let mut dests: DestSet<Dest> = DestSet::new();
        while let Some(x) = stack.pop() {
            if visited.contains(&x.id) {
                continue;
            }
            visited.push(x.id);
            dests.clear();
            // Keys were checked before the walk; an error here routes nothing from `x`.
            let _ = route_with_cc(&x.table, key, headers, &mut dests);
            if dests.is_empty() {
                if let Some(alt) = x
                    .args
                    .alternate
                    .as_deref()
                    .and_then(|a| self.exchanges.get(a.as_bytes(), guard))
                {
                    seen(x, true, Dest::Exchange(alt.id));
                    stack.push(alt);
                }
                continue;
            }
            for &d in dests.iter() {
                seen(x, false, d);
                if let Dest::Exchange(id) = d {
                    if let Some(next) = self.exchange_ids.get(&id_key(id), guard) {
                        stack.push(next);
                    }
                }
            }
        }
    }

    /// The exchange with `id`, valid while `guard` is pinned.
    pub(crate) fn exchange_by_id<'g>(
        &self,
        id: u64,
        guard: &'g Guard,
    ) -> Option<&'g Arc<ExchangeRec>> {
        self.exchange_ids.get(&id_key(id), guard)
    }

    /// The queue with `id`, valid while `guard` is pinned.
    pub(crate) fn queue_by_id_pinned<'g>(
        &self,
        id: u64,
        guard: &'g Guard,
    ) -> Option<&'g Arc<QueueRec>> {
        self.queue_ids.get(&id_key(id), guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_entry_stays_within_two_cache_lines() {
        // The publish path moves entries by value a handful of times; past 128 bytes each
        // move is a `memcpy` call (see `MessageData::routing_key`).
        assert!(std::mem::size_of::<crate::queue::Entry<Msg>>() <= 128);
    }

    #[test]
    fn share_moves_an_owned_message_into_one_allocation() {
        let mut m = Msg::Owned(MessageData::new(None, "k", None, Bytes::from_static(b"x")));
        let other = m.share();
        let (Msg::Shared(a), Msg::Shared(b)) = (&m, &other) else {
            panic!("both handles are shared after a share");
        };
        assert!(Arc::ptr_eq(a, b), "SEMANTICS P5: one copy");
        assert_eq!(other.routing_key(), "k");
        assert_eq!(&other.body[..], b"x");
    }
}
