//! The records of the durable log: what each says, independent of its bytes (see `codec`).
//!
//! Every object a record names carries a broker-wide id that is never reused (exchanges,
//! queues and bindings share the registry's id space; messages have their own), so replay
//! resolves what is live by id and deletions need not follow what they delete in the log.

use crate::broker::BasicProperties;
use crate::message::FieldTable;
use crate::route::ExchangeType;
use bytes::Bytes;
use smallvec::SmallVec;

/// A binding's destination as the log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DestId {
    Queue(u64),
    Exchange(u64),
}

/// One log record.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Record {
    /// A durable exchange (SEMANTICS S2).
    Exchange {
        id: u64,
        name: String,
        kind: ExchangeType,
        auto_delete: bool,
        internal: bool,
        args: FieldTable,
    },
    /// The exchange `id` was deleted.
    ExchangeGone { id: u64 },
    /// A durable queue (SEMANTICS S2); its arguments as declared.
    Queue {
        id: u64,
        name: String,
        auto_delete: bool,
        args: FieldTable,
    },
    /// The queue `id` was deleted, with its messages.
    QueueGone { id: u64 },
    /// A binding between two durable ends.
    Bind {
        id: u64,
        source: u64,
        dest: DestId,
        key: String,
        args: FieldTable,
    },
    /// The binding `id` was removed.
    Unbind { id: u64 },
    /// A persistent message in the durable queues `queues` (ids), in this order of
    /// enqueue among messages: `id` increases with every message appended.
    Message {
        id: u64,
        /// When it entered its queues, ms on the broker's clock: its deadlines count from
        /// here (SEMANTICS S6).
        time_ms: u64,
        queues: SmallVec<[u64; 4]>,
        exchange: String,
        routing_key: String,
        properties: Option<Box<BasicProperties>>,
        body: Bytes,
        /// (message, queue) pairs this one replaces, settled by the same record: a
        /// dead-lettered copy and the removal of the dead message are one step (SEMANTICS X7).
        replaces: Vec<(u64, u64)>,
    },
    /// Each (message, queue) pair left its queue for good: acked, discarded or purged.
    Settle { refs: Vec<(u64, u64)> },
    /// Messages of queue `queue` went back to it: each (message, failed, returned) is now
    /// `redelivered` with these counts (SEMANTICS A10). Each (message, key) of `order` went to
    /// the tail: the queue's messages are in the order of their keys, a message's id being its
    /// key until it gets one here (keys come from the message id counter).
    Requeue {
        queue: u64,
        entries: Vec<(u64, u32, u32)>,
        order: Vec<(u64, u64)>,
    },
    /// The broker closed cleanly: the `redelivered` flags in the log are exact (SEMANTICS S3).
    /// Only ever the last record; any record after it means the stop after it was unclean.
    Shutdown,
}
