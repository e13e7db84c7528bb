//! Random broker operations run against the engine and the reference broker of
//! `tests/model/broker.rs` side by side (STYLE 11, 12), shared by the proptest
//! (`tests/integration/broker_model.rs`) and the fuzz target (`broker_ops_vs_model`).
//!
//! The universe is small so that operations collide: queues `q0`-`q2`, exchanges `ed` (direct),
//! `ef` (fanout), `et` (topic) and the default one, a few binding and routing keys, two channel
//! slots on one connection (a closed channel is replaced by a fresh one in its slot), bodies
//! that start with unique ids (8, 12 or 16 bytes long), and a manual clock. [`Op::decode`]
//! turns five arbitrary bytes into an operation; tags, consumers, types and queue arguments
//! are resolved against the current state when the operation runs (a tag is one the channel
//! received, 0, or one never issued).
//!
//! The limits of SEMANTICS L, X, D5, D6 come in through the queue arguments a declare picks
//! (`x-message-ttl` including 0, `x-expires`, `x-max-length`, `x-max-length-bytes`,
//! `x-overflow`, `x-dead-letter-exchange` naming one of the universe's exchanges, the default
//! one or a missing one, `x-dead-letter-routing-key` naming a key or a queue,
//! `x-max-priority`, `x-single-active-consumer`, `x-delivery-limit`, each integer in a random
//! width), the properties a publish picks (`expiration`, sometimes invalid, `priority`, a
//! `CC` key), `x-priority` on consume, nack at the tail, and [`Op::Advance`], which moves the
//! clock and so runs the engine's timers (message expiry, `x-expires`). A declare of an
//! existing queue mostly repeats its arguments (in other integer widths), sometimes gives
//! others (Q2: 406), and often deletes the queue and declares it anew with new arguments.
//!
//! After each operation every live consumer's mailbox is drained with `try_recv` (the engine
//! dispatches synchronously inside the call, so one thread sees a deterministic result) and
//! compared with the model: the call's result or reply code, each consumer's deliveries (tag,
//! body id and length, exchange, routing key, redelivered, failed and returned counts, the
//! `priority` and `expiration` properties, the `CC` header, every `x-death` entry with all its
//! fields, the `x-first-death-*` and `x-last-death-*` headers) and end, every queue's ready and
//! consumer counts, the unroutable count, the death counters of `Broker::stats`, which
//! exchanges exist. Each delivery's consumer tag and `x-delivery-count` header (A10) are
//! checked against the delivery itself; any other header is a failure.
//!
//! SEMANTICS leaves open the order in which one call serves several queues (a publish or a
//! dead-letter to several, a settle or close that requeues to several, credit shared through a
//! global prefetch, the timer's round): the model is run under every order of the three queues
//! and every model state whose observations match is kept as a candidate; the run fails when
//! none is left.

use super::broker::{self as model, ChanId, ConsumerId, Kind, ModelError, Overflow, QueueArgs};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;
use warren::broker::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use warren::clock::Clock;
use warren::message::{FieldTable, FieldValue};
use warren::route::ExchangeType;
use warren::{
    BasicProperties, Broker, BrokerOptions, Channel, Connection, Consumer, Delivery, DeliveryTag,
    Error, ErrorKind, Publish,
};

/// The queues.
pub(crate) const QUEUES: [&str; 3] = ["q0", "q1", "q2"];
/// Which queues are declared auto-delete (Q5).
const AUTO_DELETE: [bool; 3] = [false, false, true];
/// The user exchanges and their fixed types.
pub(crate) const EXCHANGES: [(&str, Kind); 3] = [
    ("ed", Kind::Direct),
    ("ef", Kind::Fanout),
    ("et", Kind::Topic),
];
/// Binding keys (topic patterns for `et`).
pub(crate) const BIND_KEYS: [&str; 8] = ["a", "b", "a.b", "*", "#", "a.*", "*.b", "a.#"];
/// Routing keys for the user exchanges.
pub(crate) const ROUTING_KEYS: [&str; 6] = ["a", "b", "a.b", "b.b", "a.b.c", ""];
/// Routing keys for the default exchange: the queue names and one that names no queue.
pub(crate) const DEFAULT_KEYS: [&str; 4] = ["q0", "q1", "q2", "a"];
/// Clock steps, ms (TTLs are 0, 10, 25 and 60; `x-expires` is 100; `expiration` 0 to 50).
const STEPS: [u64; 8] = [0, 1, 5, 10, 20, 30, 60, 100];
/// Where the clock starts: 50 ms before a whole second, so that `x-death` times (seconds)
/// change during a run.
const START_MS: u64 = 4_999_950;
/// What every run starts with, so that random operations meet declared objects: the queues,
/// the exchanges and a binding to each exchange. q0 dead-letters to q1 by name; q1 has a TTL
/// of 60 ms and dead-letters back to q0 by name (a loop that X6 cuts unless a rejection
/// happened in it); q2 is plain.
const PROLOGUE: [Op; 9] = [
    Op::QueueDeclare {
        ch: 0,
        queue: 0,
        mode: 0,
        limits: [0, 9, 0],
    },
    Op::QueueDeclare {
        ch: 0,
        queue: 1,
        mode: 0,
        limits: [7, 1, 0],
    },
    Op::QueueDeclare {
        ch: 0,
        queue: 2,
        mode: 0,
        limits: [0; 3],
    },
    Op::ExchangeDeclare {
        ch: 0,
        exchange: 0,
        wrong_type: false,
    },
    Op::ExchangeDeclare {
        ch: 0,
        exchange: 1,
        wrong_type: false,
    },
    Op::ExchangeDeclare {
        ch: 0,
        exchange: 2,
        wrong_type: false,
    },
    // q0 <- ed "a", q1 <- ef, q2 <- et "a.#".
    Op::Bind {
        ch: 0,
        queue: 0,
        exchange: 1,
        key: 0,
    },
    Op::Bind {
        ch: 0,
        queue: 1,
        exchange: 2,
        key: 0,
    },
    Op::Bind {
        ch: 0,
        queue: 2,
        exchange: 3,
        key: 7,
    },
];
/// At most this many operations per run.
pub(crate) const MAX_OPS: usize = 96;
/// At most this many model candidates are kept (see the module docs).
const MAX_CANDIDATES: usize = 64;

/// One operation; fields are indices into the universe, resolved when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// A missing queue is declared with the arguments `limits` selects ([`queue_args`]). An
    /// existing one (by `mode % 16`): 0-5 redeclared with its own arguments, 6 with `limits`'
    /// (Q2), 7 with an invalid argument (406), 8 with the other auto-delete flag (Q2), 9-15
    /// deleted and declared anew with `limits`'. `mode` bit 4: integers as `I64` rather than
    /// the narrowest width.
    QueueDeclare {
        ch: u8,
        queue: u8,
        mode: u8,
        limits: [u8; 3],
    },
    QueueDelete {
        ch: u8,
        queue: u8,
        if_unused: bool,
        if_empty: bool,
    },
    QueuePurge {
        ch: u8,
        queue: u8,
    },
    /// `wrong_type`: redeclare an existing exchange with another type (E10).
    ExchangeDeclare {
        ch: u8,
        exchange: u8,
        wrong_type: bool,
    },
    ExchangeDelete {
        ch: u8,
        exchange: u8,
    },
    /// `exchange` 0 is the default one (E2: 403), 1-3 the user exchanges.
    Bind {
        ch: u8,
        queue: u8,
        exchange: u8,
        key: u8,
    },
    Unbind {
        ch: u8,
        queue: u8,
        exchange: u8,
        key: u8,
    },
    /// `exchange` 0 is the default one, 1-3 the user exchanges. `props`: bits 0-2 the
    /// `expiration`, 3-5 the `priority`, 6-7 the body padding; `cc`: a `CC` key;
    /// `bad_expiration`: an `expiration` that is not decimal digits (P3: 406).
    Publish {
        ch: u8,
        exchange: u8,
        key: u8,
        mandatory: bool,
        props: u8,
        cc: bool,
        bad_expiration: bool,
    },
    /// `priority` % 8: 0-3 no `x-priority`, 4-7 -1, 0, 1, 2 (D5).
    Consume {
        ch: u8,
        queue: u8,
        no_ack: bool,
        exclusive: bool,
        priority: u8,
    },
    Qos {
        ch: u8,
        prefetch: u8,
        global: bool,
    },
    /// `tag` picks one the channel holds unacked or stale, one it received, 0, or one never
    /// issued.
    Ack {
        ch: u8,
        tag: u8,
        multiple: bool,
    },
    /// `at_tail` (with `requeue`): requeued behind every queued message.
    Nack {
        ch: u8,
        tag: u8,
        multiple: bool,
        requeue: bool,
        at_tail: bool,
    },
    Reject {
        ch: u8,
        tag: u8,
        requeue: bool,
    },
    /// `consumer` picks one of the channel's live consumers, or an unknown tag.
    Cancel {
        ch: u8,
        consumer: u8,
    },
    /// Drops a live consumer's handle without cancel (A7).
    DropConsumer {
        ch: u8,
        consumer: u8,
    },
    Recover {
        ch: u8,
    },
    Get {
        ch: u8,
        queue: u8,
        no_ack: bool,
    },
    /// Closes the channel (if open) and opens a fresh one in its slot.
    CloseChannel {
        ch: u8,
    },
    /// Moves the clock by `STEPS[ms % 8]` ms: the engine's timers run (L2, L4).
    Advance {
        ms: u8,
    },
}

/// Operation weights for [`Op::decode`]: (kind, weight).
const WEIGHTS: [(u8, u8); 19] = [
    (0, 5),  // QueueDeclare
    (1, 1),  // QueueDelete
    (2, 1),  // QueuePurge
    (3, 2),  // ExchangeDeclare
    (4, 1),  // ExchangeDelete
    (5, 4),  // Bind
    (6, 1),  // Unbind
    (7, 10), // Publish
    (8, 4),  // Consume
    (9, 2),  // Qos
    (10, 4), // Ack
    (11, 4), // Nack
    (12, 3), // Reject
    (13, 1), // Cancel
    (14, 1), // DropConsumer
    (15, 1), // Recover
    (16, 3), // Get
    (17, 1), // CloseChannel
    (18, 4), // Advance
];

impl Op {
    /// The operation five bytes select: `kind` by weight, `args` its fields.
    pub(crate) fn decode(kind: u8, args: [u8; 4]) -> Op {
        let total: u32 = WEIGHTS.iter().map(|&(_, w)| u32::from(w)).sum();
        let mut pick = u32::from(kind) % total;
        let mut which = 0;
        for &(k, w) in &WEIGHTS {
            if pick < u32::from(w) {
                which = k;
                break;
            }
            pick -= u32::from(w);
        }
        let ch = args[0] & 1;
        let bit = |i: u8| (args[0] >> (i + 1)) & 1 == 1;
        let queue = args[1] % 3;
        match which {
            0 => Op::QueueDeclare {
                ch,
                queue,
                mode: args[0] >> 1,
                limits: [args[2], args[3], args[1] / 3],
            },
            1 => Op::QueueDelete {
                ch,
                queue,
                if_unused: bit(0) && bit(1),
                if_empty: bit(2) && bit(3),
            },
            2 => Op::QueuePurge { ch, queue },
            3 => Op::ExchangeDeclare {
                ch,
                exchange: args[1] % 3,
                wrong_type: bit(0) && bit(1) && bit(2),
            },
            4 => Op::ExchangeDelete {
                ch,
                exchange: args[1] % 3,
            },
            5 | 6 => {
                let (exchange, key) = (args[2] % 4, args[3] % 8);
                // The default exchange rarely: it only ever says 403.
                let exchange = if exchange == 0 && !(bit(0) && bit(1)) {
                    1 + args[2] % 3
                } else {
                    exchange
                };
                if which == 5 {
                    Op::Bind {
                        ch,
                        queue,
                        exchange,
                        key,
                    }
                } else {
                    Op::Unbind {
                        ch,
                        queue,
                        exchange,
                        key,
                    }
                }
            }
            7 => Op::Publish {
                ch,
                exchange: args[1] % 4,
                key: args[2],
                mandatory: bit(0),
                props: args[3],
                cc: bit(1) && bit(2),
                bad_expiration: bit(3) && bit(4) && bit(5) && bit(6) && args[3] & 7 == 7,
            },
            8 => Op::Consume {
                ch,
                queue,
                no_ack: bit(0) && bit(1),
                exclusive: bit(2) && bit(3) && bit(4),
                priority: args[2] % 8,
            },
            9 => Op::Qos {
                ch,
                prefetch: args[1] % 4,
                global: bit(0),
            },
            10 => Op::Ack {
                ch,
                tag: args[1],
                multiple: bit(0) && bit(1),
            },
            11 => Op::Nack {
                ch,
                tag: args[1],
                multiple: bit(0) && bit(1),
                requeue: !(bit(2) && bit(3)),
                at_tail: bit(4),
            },
            12 => Op::Reject {
                ch,
                tag: args[1],
                requeue: !bit(2),
            },
            13 => Op::Cancel {
                ch,
                consumer: args[1],
            },
            14 => Op::DropConsumer {
                ch,
                consumer: args[1],
            },
            15 => Op::Recover { ch },
            16 => Op::Get {
                ch,
                queue,
                no_ack: bit(0),
            },
            17 => Op::CloseChannel { ch },
            _ => Op::Advance { ms: args[1] },
        }
    }
}

/// The queue arguments three bytes select; all zero selects none. Each argument is absent
/// about half the time or more, so that queues mix a few limits; dead-lettering mostly goes
/// somewhere: to a queue by name through the default exchange, by the original keys (back
/// to the publish's queues: X6's cycles), or through a user exchange.
pub(crate) fn queue_args([a, b, c]: [u8; 3]) -> QueueArgs {
    let at = |bits: u8, n: u8| usize::from((bits >> n) & 7);
    let two = |bits: u8, n: u8| usize::from((bits >> n) & 3);
    let (max_length, max_length_bytes) = match at(a, 3) {
        4 => (Some(0), None),
        5 => (Some(1), None),
        6 => (Some(2), None),
        7 => (Some(3), Some(20)),
        _ => (None, None),
    };
    let key = at(b, 3);
    let (dlx, dlk) = match at(b, 0) {
        0 => (None, None),
        3 => (Some(""), None),
        4 => (Some("ed"), [None, None, Some("a"), Some("b")][key % 4]),
        5 => (Some("ef"), [None, None, None, Some("a")][key % 4]),
        6 => (Some("et"), [None, None, Some("a"), Some("a.b")][key % 4]),
        7 if key == 7 => (Some("nx"), None),
        _ => (Some(""), Some(QUEUES[key % 3])),
    };
    QueueArgs {
        message_ttl: [
            None,
            None,
            None,
            None,
            Some(0),
            Some(10),
            Some(25),
            Some(60),
        ][at(a, 0)],
        expires: [None, None, None, Some(100)][two(c, 4)],
        max_length,
        max_length_bytes,
        overflow: [
            None,
            Some(Overflow::DropHead),
            Some(Overflow::RejectPublish),
            Some(Overflow::RejectPublishDlx),
        ][two(a, 6)],
        dead_letter_exchange: dlx.map(str::to_string),
        dead_letter_routing_key: dlk.map(str::to_string),
        max_priority: [None, Some(0), Some(2), Some(3)][two(b, 6)],
        single_active_consumer: [None, None, Some(false), Some(true)][two(c, 0)],
        delivery_limit: [None, Some(-1), Some(0), Some(1)][two(c, 2)],
    }
}

/// Makes one of `args` invalid (SEMANTICS L1, L6, L7, X1: 406), `which` selecting it.
fn invalidate(args: &mut QueueArgs, which: u8) {
    match which % 4 {
        0 => {
            args.dead_letter_exchange = None;
            args.dead_letter_routing_key = Some("a".to_string());
        }
        1 => args.max_priority = Some(256),
        2 => args.message_ttl = Some(-1),
        _ => args.overflow = Some(Overflow::Unknown),
    }
}

/// Rust that replays `ops` in a `#[test]` next to this module.
pub(crate) fn reproducer(ops: &[Op]) -> String {
    let mut s = String::from("broker_ops::run(&[\n");
    for op in ops.iter().take(MAX_OPS) {
        let _ = writeln!(s, "    Op::{op:?},");
    }
    s.push_str("])\n");
    s
}

/// Runs `ops` (at most [`MAX_OPS`]) against a fresh engine and the model; the first
/// disagreement, with a reproducer, as the error.
pub(crate) fn run(ops: &[Op]) -> Result<(), String> {
    run_counting(ops, &mut Coverage::default())
}

/// What random runs reached, summed over runs: to check that the generator exercises the
/// limits (see `tests/integration/broker_model.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Coverage {
    /// Calls compared.
    pub(crate) calls: usize,
    /// Queue declares with limit arguments that succeeded, and those refused with 406.
    pub(crate) limited_declares: usize,
    pub(crate) refused_declares: usize,
    /// Deliveries (consumers and gets), those with an `x-death` history, with two or more
    /// entries, with a recurring entry (`count` > 1), with `CC`, with a `priority`.
    pub(crate) deliveries: usize,
    pub(crate) dead_lettered: usize,
    pub(crate) deaths_2: usize,
    pub(crate) recurring: usize,
    pub(crate) with_cc: usize,
    pub(crate) with_priority: usize,
    /// Publishes that a `reject-publish` queue refused somewhere (fewer queues took it than
    /// it reached is not visible; these are the ones no queue took).
    pub(crate) refused_everywhere: usize,
    /// The engine's counters at the end of each run, summed.
    pub(crate) stats: model::Stats,
    /// Calls by kind, and the channel errors they met by reply code (0: on a closed channel).
    pub(crate) kinds: BTreeMap<&'static str, usize>,
    pub(crate) errors: BTreeMap<u16, usize>,
    /// Ready messages left at the end of each run, summed.
    pub(crate) left: usize,
}

/// As [`run`], adding what the run reached to `cov`.
pub(crate) fn run_counting(ops: &[Op], cov: &mut Coverage) -> Result<(), String> {
    let mut h = Harness::new();
    for op in PROLOGUE {
        h.step(op).map_err(|e| format!("prologue {op:?}: {e}"))?;
    }
    for (i, op) in ops.iter().take(MAX_OPS).enumerate() {
        if let Err(e) = h.step(*op) {
            return Err(format!(
                "op {i} ({op:?}): {e}\nreplay:\n{}",
                reproducer(&ops[..=i])
            ));
        }
    }
    let c = &h.cov;
    cov.calls += c.calls;
    cov.limited_declares += c.limited_declares;
    cov.refused_declares += c.refused_declares;
    cov.deliveries += c.deliveries;
    cov.dead_lettered += c.dead_lettered;
    cov.deaths_2 += c.deaths_2;
    cov.recurring += c.recurring;
    cov.with_cc += c.with_cc;
    cov.with_priority += c.with_priority;
    cov.refused_everywhere += c.refused_everywhere;
    for (k, n) in &c.kinds {
        *cov.kinds.entry(k).or_default() += n;
    }
    for (k, n) in &c.errors {
        *cov.errors.entry(*k).or_default() += n;
    }
    cov.left += QUEUES
        .iter()
        .filter_map(|q| h.models[0].queue_counts(q))
        .map(|(r, _)| r)
        .sum::<usize>();
    let s = h.models[0].stats();
    let t = &mut cov.stats;
    t.rejected += s.rejected;
    t.expired += s.expired;
    t.maxlen += s.maxlen;
    t.delivery_limit += s.delivery_limit;
    t.dead_lettered += s.dead_lettered;
    t.dead_dropped += s.dead_dropped;
    Ok(())
}

/// An operation resolved against the current state.
#[derive(Clone, Debug)]
enum Call {
    /// Slot, queue, auto-delete, arguments, integers as `I64`.
    QueueDeclare(usize, &'static str, bool, QueueArgs, bool),
    QueueDelete(usize, &'static str, bool, bool),
    QueuePurge(usize, &'static str),
    ExchangeDeclare(usize, &'static str, Kind),
    ExchangeDelete(usize, &'static str),
    Bind(usize, &'static str, &'static str, &'static str),
    Unbind(usize, &'static str, &'static str, &'static str),
    Publish(usize, &'static str, &'static str, bool, model::Message),
    /// Slot, queue, tag, no_ack, exclusive, `x-priority`.
    Consume(usize, &'static str, String, bool, bool, Option<i32>),
    Qos(usize, u16, bool),
    Ack(usize, u64, bool),
    /// Slot, tag, multiple, requeue, at_tail.
    Nack(usize, u64, bool, bool, bool),
    Reject(usize, u64, bool),
    Cancel(usize, String),
    Lose(ConsumerId),
    Recover(usize),
    Get(usize, &'static str, bool),
    CloseChannel(usize),
    Advance(u64),
}

impl Call {
    /// The channel slot the call is made on.
    fn slot(&self) -> Option<usize> {
        match *self {
            Call::QueueDeclare(s, ..)
            | Call::QueueDelete(s, ..)
            | Call::QueuePurge(s, ..)
            | Call::ExchangeDeclare(s, ..)
            | Call::ExchangeDelete(s, ..)
            | Call::Bind(s, ..)
            | Call::Unbind(s, ..)
            | Call::Publish(s, ..)
            | Call::Consume(s, ..)
            | Call::Qos(s, ..)
            | Call::Ack(s, ..)
            | Call::Nack(s, ..)
            | Call::Reject(s, ..)
            | Call::Cancel(s, ..)
            | Call::Recover(s)
            | Call::Get(s, ..)
            | Call::CloseChannel(s) => Some(s),
            Call::Lose(_) | Call::Advance(_) => None,
        }
    }
}

/// The names of [`Call`]'s variants, for [`Coverage::kinds`].
const QUEUE_CALLS: [&str; 19] = [
    "QueueDeclare",
    "QueueDelete",
    "QueuePurge",
    "ExchangeDeclare",
    "ExchangeDelete",
    "Bind",
    "Unbind",
    "Publish",
    "Consume",
    "Qos",
    "Ack",
    "Nack",
    "Reject",
    "Cancel",
    "Lose",
    "Recover",
    "Get",
    "CloseChannel",
    "Advance",
];

/// A call's outcome, engine or model.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reply {
    Unit,
    Count(u32),
    Declared(u32, u32),
    Published(model::Published),
    Consumed(ConsumerId),
    Settled(model::Settled),
    Got(Option<model::Got>),
    Err(ModelError),
}

/// What one call let us see.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Obs {
    reply: Reply,
    /// Each consumer's mailbox events during the call, in order.
    events: BTreeMap<ConsumerId, Vec<model::Event>>,
    counts: Vec<Option<(usize, usize)>>,
    exchanges: Vec<bool>,
    unroutable: u64,
    stats: model::Stats,
}

struct Harness {
    broker: Broker,
    conn: Connection,
    slots: Vec<Channel>,
    /// The model's id of each slot's channel.
    chan_ids: Vec<ChanId>,
    /// Tags each slot's channel handed out, in order (consumer deliveries and gets).
    tags: Vec<Vec<u64>>,
    /// Consumer handles by model id; `None` once ended or dropped.
    consumers: Vec<Option<Consumer>>,
    /// Each consumer's model channel.
    consumer_chan: Vec<ChanId>,
    next_tag_name: usize,
    /// Channel errors after which the channel stayed closed for one more call.
    closed_calls: u32,
    /// The next body id.
    next_id: u64,
    /// What the run reached.
    cov: Coverage,
    /// Model states consistent with everything seen so far.
    models: Vec<model::Broker>,
}

fn to_engine(kind: Kind) -> ExchangeType {
    match kind {
        Kind::Direct => ExchangeType::Direct,
        Kind::Fanout => ExchangeType::Fanout,
        Kind::Topic => ExchangeType::Topic,
    }
}

fn other(kind: Kind) -> Kind {
    match kind {
        Kind::Direct => Kind::Fanout,
        Kind::Fanout => Kind::Topic,
        Kind::Topic => Kind::Direct,
    }
}

/// `v` as an integer field: `I64`, or the narrowest width that holds it (Q2 compares values).
fn int(v: i64, wide: bool) -> FieldValue {
    if wide {
        FieldValue::I64(v)
    } else if let Ok(n) = u8::try_from(v) {
        FieldValue::U8(n)
    } else if let Ok(n) = i16::try_from(v) {
        FieldValue::I16(n)
    } else if let Ok(n) = i32::try_from(v) {
        FieldValue::I32(n)
    } else {
        FieldValue::I64(v)
    }
}

/// The declare arguments table of `a`.
fn arg_table(a: &QueueArgs, wide: bool) -> FieldTable {
    let mut t = FieldTable::new();
    let ints = [
        ("x-message-ttl", a.message_ttl),
        ("x-expires", a.expires),
        ("x-max-length", a.max_length),
        ("x-max-length-bytes", a.max_length_bytes),
        ("x-max-priority", a.max_priority),
        ("x-delivery-limit", a.delivery_limit),
    ];
    for (name, v) in ints {
        if let Some(v) = v {
            t.insert(name, int(v, wide));
        }
    }
    if let Some(o) = a.overflow {
        t.insert("x-overflow", o.as_str());
    }
    if let Some(x) = &a.dead_letter_exchange {
        t.insert("x-dead-letter-exchange", x.as_str());
    }
    if let Some(k) = &a.dead_letter_routing_key {
        t.insert("x-dead-letter-routing-key", k.as_str());
    }
    if let Some(s) = a.single_active_consumer {
        t.insert("x-single-active-consumer", FieldValue::Bool(s));
    }
    t
}

/// The engine's error as the model states it; other kinds are a failure.
fn engine_err(e: &Error) -> Result<Reply, String> {
    match e.kind() {
        ErrorKind::Amqp => Ok(Reply::Err(ModelError::Amqp(
            e.reply_code().ok_or("an AMQP error without a code")?,
        ))),
        ErrorKind::ChannelClosed => Ok(Reply::Err(ModelError::ChannelClosed(e.reply_code()))),
        k => Err(format!("unexpected error kind {k:?}: {e}")),
    }
}

fn settled(r: Result<warren::Settled, Error>) -> Result<Reply, String> {
    match r {
        Ok(warren::Settled::Done) => Ok(Reply::Settled(model::Settled::Done)),
        Ok(warren::Settled::Stale) => Ok(Reply::Settled(model::Settled::Stale)),
        Err(e) => engine_err(&e),
    }
}

fn unit(r: Result<(), Error>) -> Result<Reply, String> {
    match r {
        Ok(()) => Ok(Reply::Unit),
        Err(e) => engine_err(&e),
    }
}

/// The id a body starts with.
fn body_id(body: &[u8]) -> Result<u64, String> {
    let bytes: [u8; 8] = body
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("a body of {} bytes", body.len()))?;
    Ok(u64::from_le_bytes(bytes))
}

fn text(name: &str, v: &FieldValue) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{name} is {v:?}, not a string"))
}

fn texts(name: &str, v: &FieldValue) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or_else(|| format!("{name} is {v:?}, not an array"))?
        .iter()
        .map(|k| text(name, k))
        .collect()
}

fn reason(name: &str, v: &FieldValue) -> Result<model::Reason, String> {
    let r = text(name, v)?;
    model::Reason::parse(&r).ok_or_else(|| format!("{name} is an unknown reason {r:?}"))
}

/// One `x-death` table: exactly X5's fields, with their types.
fn death(v: &FieldValue) -> Result<model::Death, String> {
    let t = v
        .as_table()
        .ok_or_else(|| format!("an x-death entry {v:?}"))?;
    let (mut queue, mut why, mut count, mut time, mut exchange, mut keys) =
        (None, None, None, None, None, None);
    let mut original_expiration = None;
    for (name, value) in t {
        match name {
            "queue" => queue = Some(text(name, value)?),
            "reason" => why = Some(reason(name, value)?),
            "count" => count = value.as_i64(),
            "time" => match value {
                FieldValue::Timestamp(s) => time = Some(*s),
                _ => return Err(format!("x-death time {value:?}")),
            },
            "exchange" => exchange = Some(text(name, value)?),
            "routing-keys" => keys = Some(texts(name, value)?),
            "original-expiration" => original_expiration = Some(text(name, value)?),
            _ => return Err(format!("x-death field {name} = {value:?}")),
        }
    }
    match (queue, why, count, time, exchange, keys) {
        (
            Some(queue),
            Some(reason),
            Some(count),
            Some(time),
            Some(exchange),
            Some(routing_keys),
        ) => Ok(model::Death {
            queue,
            reason,
            count,
            time,
            exchange,
            routing_keys,
            original_expiration,
        }),
        _ => Err(format!(
            "an x-death entry without all of X5's fields: {t:?}"
        )),
    }
}

/// The `x-first-death-*` or `x-last-death-*` headers: all three or none.
fn mark(
    which: &str,
    [q, r, x]: [Option<&FieldValue>; 3],
) -> Result<Option<model::DeathMark>, String> {
    match (q, r, x) {
        (None, None, None) => Ok(None),
        (Some(q), Some(r), Some(x)) => Ok(Some(model::DeathMark {
            queue: text(which, q)?,
            reason: reason(which, r)?,
            exchange: text(which, x)?,
        })),
        _ => Err(format!("x-{which}-death-* headers incomplete")),
    }
}

/// What a delivery carries, as the model states it; a header the model does not know is a
/// failure.
fn message(d: &Delivery) -> Result<model::Message, String> {
    let body = d.body();
    let p = d.properties();
    let mut m = model::Message {
        id: body_id(body)?,
        len: body.len(),
        exchange: d.exchange().to_string(),
        routing_key: d.routing_key().to_string(),
        priority: p.priority,
        expiration: p.expiration.clone(),
        cc: None,
        deaths: Vec::new(),
        first_death: None,
        last_death: None,
    };
    let Some(h) = &p.headers else {
        return Ok(m);
    };
    for (name, value) in h {
        match name {
            "CC" => m.cc = Some(texts(name, value)?),
            "x-death" => {
                m.deaths = value
                    .as_array()
                    .ok_or_else(|| format!("x-death is {value:?}"))?
                    .iter()
                    .map(death)
                    .collect::<Result<_, _>>()?;
            }
            "x-delivery-count"
            | "x-first-death-queue"
            | "x-first-death-reason"
            | "x-first-death-exchange"
            | "x-last-death-queue"
            | "x-last-death-reason"
            | "x-last-death-exchange" => {}
            _ => return Err(format!("unexpected header {name} = {value:?}")),
        }
    }
    let three = |which: &str| {
        ["queue", "reason", "exchange"].map(|f| h.get(&format!("x-{which}-death-{f}")))
    };
    m.first_death = mark("first", three("first"))?;
    m.last_death = mark("last", three("last"))?;
    Ok(m)
}

fn all_orders() -> Vec<[&'static str; 3]> {
    let [a, b, c] = QUEUES;
    vec![
        [a, b, c],
        [a, c, b],
        [b, a, c],
        [b, c, a],
        [c, a, b],
        [c, b, a],
    ]
}

impl Harness {
    fn new() -> Harness {
        let broker = Broker::with_options(
            BrokerOptions::default()
                .with_clock(Clock::manual(START_MS))
                .with_consumer_timeout(None),
        );
        let conn = broker.connect();
        let mut m = model::Broker::at(START_MS);
        let mut slots = Vec::new();
        let mut chan_ids = Vec::new();
        for _ in 0..2 {
            slots.push(conn.create_channel().expect("a channel opens"));
            chan_ids.push(m.open_channel());
        }
        Harness {
            broker,
            conn,
            slots,
            chan_ids,
            tags: vec![Vec::new(), Vec::new()],
            consumers: Vec::new(),
            consumer_chan: Vec::new(),
            next_tag_name: 0,
            closed_calls: 0,
            next_id: 0,
            cov: Coverage::default(),
            models: vec![m],
        }
    }

    /// The tag `pick` selects on `slot`'s channel: mostly one it holds unacked (or stale),
    /// sometimes any it received (settled or auto-ack ones too), 0, or one never issued; `None`
    /// when there is nothing of the kind to pick.
    fn pick_tag(&self, slot: usize, pick: u8) -> Option<u64> {
        let received = &self.tags[slot];
        let ch = self.chan_ids[slot];
        let held = [
            self.models[0].unacked_tags(ch),
            self.models[0].stale_tags(ch),
        ]
        .concat();
        let from = |tags: &[u64]| {
            let n = tags.len();
            (n > 0).then(|| tags[n - 1 - usize::from(pick / 16) % n])
        };
        match pick % 16 {
            0 => Some(0),
            1 => Some(received.last().copied().unwrap_or(0) + 1 + u64::from(pick / 16 % 3)),
            2..=4 => from(received),
            _ => from(&held),
        }
    }

    /// The message a publish sends: the next id, its padding and properties.
    fn message(&mut self, props: u8, cc: Option<&str>, bad_expiration: bool) -> model::Message {
        let mut m = model::Message::new(self.next_id);
        self.next_id += 1;
        m.len = 8 + [0, 4, 8, 8][usize::from(props >> 6)];
        m.expiration = match props & 7 {
            4 => Some("0"),
            5 => Some("5"),
            6 => Some("20"),
            7 => Some("50"),
            _ => None,
        }
        .map(str::to_string);
        if bad_expiration {
            m.expiration = Some("5s".to_string());
        }
        m.priority = [
            None,
            None,
            None,
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(7),
        ][usize::from((props >> 3) & 7)];
        m.cc = cc.map(|k| vec![k.to_string()]);
        m
    }

    /// Resolves `op` into the calls it makes (none: skipped).
    fn resolve(&mut self, op: Op) -> Vec<Call> {
        let q = |i: u8| QUEUES[usize::from(i) % 3];
        let x = |i: u8| EXCHANGES[usize::from(i) % 3];
        let any_x = |i: u8| match i % 4 {
            0 => "",
            n => EXCHANGES[usize::from(n - 1)].0,
        };
        let call = match op {
            Op::QueueDeclare {
                ch,
                queue,
                mode,
                limits,
            } => {
                let slot = usize::from(ch & 1);
                let name = q(queue);
                let wide = mode & 16 != 0;
                let args = queue_args(limits);
                let fresh = AUTO_DELETE[usize::from(queue) % 3];
                let m = &self.models[0];
                let (Some(have), Some(auto)) = (m.queue_args(name), m.queue_auto_delete(name))
                else {
                    return vec![Call::QueueDeclare(slot, name, fresh, args, wide)];
                };
                let declare = |auto, args| Call::QueueDeclare(slot, name, auto, args, wide);
                return match mode % 16 {
                    0..=5 => vec![declare(auto, have.clone())],
                    6 => vec![declare(auto, args)],
                    7 => {
                        let mut bad = have.clone();
                        invalidate(&mut bad, limits[0]);
                        vec![declare(auto, bad)]
                    }
                    8 => vec![declare(!auto, have.clone())],
                    _ => vec![
                        Call::QueueDelete(slot, name, false, false),
                        declare(fresh, args),
                    ],
                };
            }
            Op::QueueDelete {
                ch,
                queue,
                if_unused,
                if_empty,
            } => Call::QueueDelete(usize::from(ch & 1), q(queue), if_unused, if_empty),
            Op::QueuePurge { ch, queue } => Call::QueuePurge(usize::from(ch & 1), q(queue)),
            Op::ExchangeDeclare {
                ch,
                exchange,
                wrong_type,
            } => {
                let (name, kind) = x(exchange);
                let kind = if wrong_type && self.models[0].exchange_exists(name) {
                    other(kind)
                } else {
                    kind
                };
                Call::ExchangeDeclare(usize::from(ch & 1), name, kind)
            }
            Op::ExchangeDelete { ch, exchange } => {
                Call::ExchangeDelete(usize::from(ch & 1), x(exchange).0)
            }
            Op::Bind {
                ch,
                queue,
                exchange,
                key,
            } => Call::Bind(
                usize::from(ch & 1),
                q(queue),
                any_x(exchange),
                BIND_KEYS[usize::from(key) % BIND_KEYS.len()],
            ),
            Op::Unbind {
                ch,
                queue,
                exchange,
                key,
            } => Call::Unbind(
                usize::from(ch & 1),
                q(queue),
                any_x(exchange),
                BIND_KEYS[usize::from(key) % BIND_KEYS.len()],
            ),
            Op::Publish {
                ch,
                exchange,
                key,
                mandatory,
                props,
                cc,
                bad_expiration,
            } => {
                let exchange = any_x(exchange);
                let keys: &[&'static str] = if exchange.is_empty() {
                    &DEFAULT_KEYS
                } else {
                    &ROUTING_KEYS
                };
                let k = keys[usize::from(key) % keys.len()];
                let cc = cc.then(|| keys[usize::from(key / 16) % keys.len()]);
                let msg = self.message(props, cc, bad_expiration);
                Call::Publish(usize::from(ch & 1), exchange, k, mandatory, msg)
            }
            Op::Consume {
                ch,
                queue,
                no_ack,
                exclusive,
                priority,
            } => {
                let tag = format!("c{}", self.next_tag_name);
                self.next_tag_name += 1;
                let priority = [None, None, None, None, Some(-1), Some(0), Some(1), Some(2)]
                    [usize::from(priority % 8)];
                Call::Consume(
                    usize::from(ch & 1),
                    q(queue),
                    tag,
                    no_ack,
                    exclusive,
                    priority,
                )
            }
            Op::Qos {
                ch,
                prefetch,
                global,
            } => Call::Qos(usize::from(ch & 1), u16::from(prefetch % 4), global),
            Op::Ack { ch, tag, multiple } => {
                let slot = usize::from(ch & 1);
                let Some(t) = self.pick_tag(slot, tag) else {
                    return Vec::new();
                };
                Call::Ack(slot, t, multiple)
            }
            Op::Nack {
                ch,
                tag,
                multiple,
                requeue,
                at_tail,
            } => {
                let slot = usize::from(ch & 1);
                let Some(t) = self.pick_tag(slot, tag) else {
                    return Vec::new();
                };
                Call::Nack(slot, t, multiple, requeue, at_tail)
            }
            Op::Reject { ch, tag, requeue } => {
                let slot = usize::from(ch & 1);
                let Some(t) = self.pick_tag(slot, tag) else {
                    return Vec::new();
                };
                Call::Reject(slot, t, requeue)
            }
            Op::Cancel { ch, consumer } => {
                let slot = usize::from(ch & 1);
                let m = &self.models[0];
                let live = m.channel_consumers(self.chan_ids[slot]);
                let i = usize::from(consumer) % (live.len() + 1);
                let tag = match live.get(i) {
                    Some(&c) => m.consumer_tag(c).to_string(),
                    None => "nobody".to_string(),
                };
                Call::Cancel(slot, tag)
            }
            Op::DropConsumer { ch, consumer } => {
                let slot = usize::from(ch & 1);
                let live = self.models[0].channel_consumers(self.chan_ids[slot]);
                if live.is_empty() {
                    return Vec::new();
                }
                Call::Lose(live[usize::from(consumer) % live.len()])
            }
            Op::Recover { ch } => Call::Recover(usize::from(ch & 1)),
            Op::Get { ch, queue, no_ack } => Call::Get(usize::from(ch & 1), q(queue), no_ack),
            Op::CloseChannel { ch } => Call::CloseChannel(usize::from(ch & 1)),
            Op::Advance { ms } => Call::Advance(STEPS[usize::from(ms % 8)]),
        };
        vec![call]
    }

    fn step(&mut self, op: Op) -> Result<(), String> {
        for call in self.resolve(op) {
            self.call(&call)?;
        }
        Ok(())
    }

    /// Runs `call` on every candidate model under every queue order, then on the engine, and
    /// keeps the candidates that saw what the engine did.
    fn call(&mut self, call: &Call) -> Result<(), String> {
        let mut runs = Vec::new();
        for m in &self.models {
            for order in all_orders() {
                let mut m = m.clone();
                m.set_queue_order(&order);
                let obs = self.run_model(&mut m, call);
                m.set_queue_order(&[]);
                runs.push((m, obs));
            }
        }
        let engine = self.run_engine(call)?;
        let mut next: Vec<model::Broker> = Vec::new();
        let mut first: Option<Obs> = None;
        for (m, obs) in runs {
            if obs == engine {
                if next.len() < MAX_CANDIDATES && !next.contains(&m) {
                    next.push(m);
                }
            } else if first.is_none() {
                first = Some(obs);
            }
        }
        if next.is_empty() {
            return Err(format!(
                "engine and model disagree on {call:?}\nengine: {engine:#?}\nmodel:  {:#?}",
                first.expect("some order was tried")
            ));
        }
        self.models = next;
        self.after(call, &engine);
        Ok(())
    }

    /// Bookkeeping once the call's outcome is agreed.
    fn after(&mut self, call: &Call, obs: &Obs) {
        self.count(call, obs);
        match (call, &obs.reply) {
            (Call::Get(slot, ..), Reply::Got(Some(g))) => self.tags[*slot].push(g.delivery.tag),
            (Call::CloseChannel(slot), _) => self.reopen(*slot),
            // A channel an error closed answers the next call on it with the error (F5), a
            // few times per run; otherwise a fresh one takes its slot at once, so that errors
            // do not starve the run.
            (_, Reply::Err(ModelError::ChannelClosed(_))) => {
                if let Some(slot) = call.slot() {
                    self.reopen(slot);
                }
            }
            (_, Reply::Err(ModelError::Amqp(_))) => {
                if let Some(slot) = call.slot() {
                    if self.closed_calls >= 2 {
                        self.reopen(slot);
                    } else {
                        self.closed_calls += 1;
                    }
                }
            }
            _ => {}
        }
        for (&c, events) in &obs.events {
            for e in events {
                if let model::Event::Delivery(d) = e {
                    if let Some(slot) = self
                        .chan_ids
                        .iter()
                        .position(|&ch| ch == self.consumer_chan[c])
                    {
                        self.tags[slot].push(d.tag);
                    }
                }
            }
        }
    }

    /// Adds what `call` reached to the coverage.
    fn count(&mut self, call: &Call, obs: &Obs) {
        let c = &mut self.cov;
        c.calls += 1;
        let kind = format!("{call:?}");
        let kind: &'static str = QUEUE_CALLS
            .iter()
            .find(|k| kind.starts_with(*k))
            .copied()
            .unwrap_or("other");
        *c.kinds.entry(kind).or_default() += 1;
        match &obs.reply {
            Reply::Err(ModelError::Amqp(code)) => *c.errors.entry(*code).or_default() += 1,
            Reply::Err(ModelError::ChannelClosed(_)) => *c.errors.entry(0).or_default() += 1,
            _ => {}
        }
        match (call, &obs.reply) {
            (Call::QueueDeclare(_, _, _, args, _), Reply::Declared(..)) => {
                c.limited_declares += usize::from(*args != QueueArgs::default());
            }
            (Call::QueueDeclare(..), Reply::Err(ModelError::Amqp(406))) => c.refused_declares += 1,
            (Call::Publish(..), Reply::Published(model::Published::Routed(0))) => {
                c.refused_everywhere += 1;
            }
            _ => {}
        }
        let got = match &obs.reply {
            Reply::Got(Some(g)) => Some(&g.delivery),
            _ => None,
        };
        let events = obs.events.values().flatten().filter_map(|e| match e {
            model::Event::Delivery(d) => Some(d),
            model::Event::Ended(_) => None,
        });
        for d in got.into_iter().chain(events) {
            let m = &d.msg;
            c.deliveries += 1;
            c.dead_lettered += usize::from(!m.deaths.is_empty());
            c.deaths_2 += usize::from(m.deaths.len() >= 2);
            c.recurring += usize::from(m.deaths.iter().any(|d| d.count > 1));
            c.with_cc += usize::from(m.cc.is_some());
            c.with_priority += usize::from(m.priority.is_some());
        }
    }

    fn reopen(&mut self, slot: usize) {
        self.slots[slot] = self.conn.create_channel().expect("a channel opens");
        self.tags[slot].clear();
        for m in &mut self.models {
            self.chan_ids[slot] = m.open_channel();
        }
    }

    fn run_model(&self, m: &mut model::Broker, call: &Call) -> Obs {
        let id = |slot: &usize| self.chan_ids[*slot];
        let err = Reply::Err;
        let reply = match call {
            Call::QueueDeclare(s, q, ad, args, _) => {
                match m.queue_declare_with(id(s), q, *ad, args) {
                    Ok((r, c)) => Reply::Declared(r, c),
                    Err(e) => err(e),
                }
            }
            Call::QueueDelete(s, q, iu, ie) => m
                .queue_delete(id(s), q, *iu, *ie)
                .map_or_else(err, Reply::Count),
            Call::QueuePurge(s, q) => m.queue_purge(id(s), q).map_or_else(err, Reply::Count),
            Call::ExchangeDeclare(s, x, k) => m
                .exchange_declare(id(s), x, *k)
                .map_or_else(err, |()| Reply::Unit),
            Call::ExchangeDelete(s, x) => m
                .exchange_delete(id(s), x)
                .map_or_else(err, |()| Reply::Unit),
            Call::Bind(s, q, x, k) => m
                .queue_bind(id(s), q, x, k)
                .map_or_else(err, |()| Reply::Unit),
            Call::Unbind(s, q, x, k) => m
                .queue_unbind(id(s), q, x, k)
                .map_or_else(err, |()| Reply::Unit),
            Call::Publish(s, x, k, mandatory, msg) => m
                .publish_message(id(s), x, k, *mandatory, msg.clone())
                .map_or_else(err, Reply::Published),
            Call::Consume(s, q, tag, no_ack, exclusive, prio) => m
                .basic_consume_with(id(s), q, tag, *no_ack, *exclusive, prio.unwrap_or(0))
                .map_or_else(err, Reply::Consumed),
            Call::Qos(s, n, global) => m
                .basic_qos(id(s), u32::from(*n), *global)
                .map_or_else(err, |()| Reply::Unit),
            Call::Ack(s, t, multiple) => m
                .basic_ack(id(s), *t, *multiple)
                .map_or_else(err, Reply::Settled),
            Call::Nack(s, t, multiple, requeue, at_tail) => m
                .basic_nack_with(id(s), *t, *multiple, *requeue, *at_tail)
                .map_or_else(err, Reply::Settled),
            Call::Reject(s, t, requeue) => m
                .basic_reject(id(s), *t, *requeue)
                .map_or_else(err, Reply::Settled),
            Call::Cancel(s, tag) => m
                .basic_cancel(id(s), tag)
                .map_or_else(err, |()| Reply::Unit),
            Call::Lose(c) => {
                m.lose_consumer(*c);
                Reply::Unit
            }
            Call::Recover(s) => m.basic_recover(id(s)).map_or_else(err, |()| Reply::Unit),
            Call::Get(s, q, no_ack) => m.basic_get(id(s), q, *no_ack).map_or_else(err, Reply::Got),
            Call::CloseChannel(s) => {
                m.close_channel(id(s));
                Reply::Unit
            }
            Call::Advance(ms) => {
                m.advance(*ms);
                Reply::Unit
            }
        };
        let mut events: BTreeMap<ConsumerId, Vec<model::Event>> = BTreeMap::new();
        for (c, e) in m.take_events() {
            events.entry(c).or_default().push(e);
        }
        Obs {
            reply,
            events,
            counts: QUEUES.iter().map(|q| m.queue_counts(q)).collect(),
            exchanges: EXCHANGES
                .iter()
                .map(|(x, _)| m.exchange_exists(x))
                .collect(),
            unroutable: m.unroutable(),
            stats: m.stats(),
        }
    }

    fn run_engine(&mut self, call: &Call) -> Result<Obs, String> {
        let none = FieldTable::new();
        let reply = match call {
            Call::QueueDeclare(s, q, auto_delete, args, wide) => {
                let opts = QueueDeclareOptions {
                    auto_delete: *auto_delete,
                    ..Default::default()
                };
                match self.slots[*s].queue_declare(q, opts, &arg_table(args, *wide)) {
                    Ok(ok) => {
                        if ok.name != *q {
                            return Err(format!("declare of {q} answered {}", ok.name));
                        }
                        Reply::Declared(ok.message_count, ok.consumer_count)
                    }
                    Err(e) => engine_err(&e)?,
                }
            }
            Call::QueueDelete(s, q, if_unused, if_empty) => {
                let opts = QueueDeleteOptions {
                    if_unused: *if_unused,
                    if_empty: *if_empty,
                };
                match self.slots[*s].queue_delete(q, opts) {
                    Ok(n) => Reply::Count(n),
                    Err(e) => engine_err(&e)?,
                }
            }
            Call::QueuePurge(s, q) => match self.slots[*s].queue_purge(q) {
                Ok(n) => Reply::Count(n),
                Err(e) => engine_err(&e)?,
            },
            Call::ExchangeDeclare(s, x, k) => unit(self.slots[*s].exchange_declare(
                x,
                to_engine(*k),
                ExchangeDeclareOptions::default(),
                &none,
            ))?,
            Call::ExchangeDelete(s, x) => {
                unit(self.slots[*s].exchange_delete(x, ExchangeDeleteOptions::default()))?
            }
            Call::Bind(s, q, x, k) => unit(self.slots[*s].queue_bind(q, x, k, &none))?,
            Call::Unbind(s, q, x, k) => unit(self.slots[*s].queue_unbind(q, x, k, &none))?,
            Call::Publish(s, x, k, mandatory, msg) => {
                let opts = BasicPublishOptions {
                    mandatory: *mandatory,
                    ..Default::default()
                };
                let mut body = msg.id.to_le_bytes().to_vec();
                body.resize(msg.len, 0);
                let mut props = BasicProperties::default();
                props.priority = msg.priority;
                props.expiration = msg.expiration.clone();
                if let Some(cc) = &msg.cc {
                    let keys = cc.iter().map(|k| FieldValue::from(k.as_str())).collect();
                    props.headers = Some(FieldTable::new().with("CC", FieldValue::Array(keys)));
                }
                match self.slots[*s].basic_publish(x, k, opts, body, props) {
                    Ok(Publish::Routed { queues }) => {
                        Reply::Published(model::Published::Routed(queues))
                    }
                    Ok(Publish::Returned(r)) => {
                        if r.reply_code != 312 || body_id(&r.body)? != msg.id {
                            return Err(format!("a wrong return: {r:?}"));
                        }
                        Reply::Published(model::Published::Returned)
                    }
                    Ok(Publish::Unroutable) => Reply::Published(model::Published::Unroutable),
                    Err(e) => engine_err(&e.error)?,
                }
            }
            Call::Consume(s, q, tag, no_ack, exclusive, prio) => {
                let opts = BasicConsumeOptions {
                    no_ack: *no_ack,
                    exclusive: *exclusive,
                    ..Default::default()
                };
                let mut args = FieldTable::new();
                if let Some(p) = prio {
                    args.insert("x-priority", int(i64::from(*p), false));
                }
                match self.slots[*s].basic_consume(q, tag, opts, &args) {
                    Ok(c) => {
                        if c.tag() != tag {
                            return Err(format!("consumer tag {} for {tag}", c.tag()));
                        }
                        self.consumers.push(Some(c));
                        self.consumer_chan.push(self.chan_ids[*s]);
                        Reply::Consumed(self.consumers.len() - 1)
                    }
                    Err(e) => engine_err(&e)?,
                }
            }
            Call::Qos(s, n, global) => {
                unit(self.slots[*s].basic_qos(*n, BasicQosOptions { global: *global }))?
            }
            Call::Ack(s, t, multiple) => settled(self.slots[*s].basic_ack(
                DeliveryTag::new(*t),
                BasicAckOptions {
                    multiple: *multiple,
                },
            ))?,
            Call::Nack(s, t, multiple, requeue, at_tail) => settled(self.slots[*s].basic_nack(
                DeliveryTag::new(*t),
                BasicNackOptions {
                    multiple: *multiple,
                    requeue: *requeue,
                    at_tail: *at_tail,
                },
            ))?,
            Call::Reject(s, t, requeue) => settled(self.slots[*s].basic_reject(
                DeliveryTag::new(*t),
                BasicRejectOptions { requeue: *requeue },
            ))?,
            Call::Cancel(s, tag) => unit(self.slots[*s].basic_cancel(tag))?,
            Call::Lose(c) => {
                // SEMANTICS A7: dropped without cancel.
                drop(self.consumers[*c].take());
                Reply::Unit
            }
            Call::Recover(s) => unit(self.slots[*s].basic_recover(true))?,
            Call::Get(s, q, no_ack) => {
                match self.slots[*s].basic_get(q, BasicGetOptions { no_ack: *no_ack }) {
                    Ok(None) => Reply::Got(None),
                    Ok(Some(g)) => {
                        check_delivery(&g.delivery, None)?;
                        Reply::Got(Some(model::Got {
                            delivery: delivered(&g.delivery)?,
                            left: g.message_count,
                        }))
                    }
                    Err(e) => engine_err(&e)?,
                }
            }
            Call::CloseChannel(s) => {
                self.slots[*s].close();
                Reply::Unit
            }
            Call::Advance(ms) => {
                self.broker
                    .clock()
                    .advance(Duration::from_millis(*ms))
                    .map_err(|e| format!("the manual clock did not advance: {e}"))?;
                Reply::Unit
            }
        };
        let events = self.drain()?;
        let s = self.broker.stats();
        Ok(Obs {
            reply,
            events,
            counts: QUEUES.iter().map(|q| self.broker.queue_counts(q)).collect(),
            exchanges: EXCHANGES
                .iter()
                .map(|(x, _)| self.broker.exchange_exists(x))
                .collect(),
            unroutable: self.broker.unroutable_count(),
            stats: model::Stats {
                rejected: s.rejected,
                expired: s.expired,
                maxlen: s.maxlen,
                delivery_limit: s.delivery_limit,
                dead_lettered: s.dead_lettered,
                dead_dropped: s.dead_dropped,
            },
        })
    }

    /// Every live consumer's mailbox events, until empty; an ended consumer's handle is dropped.
    fn drain(&mut self) -> Result<BTreeMap<ConsumerId, Vec<model::Event>>, String> {
        let mut out: BTreeMap<ConsumerId, Vec<model::Event>> = BTreeMap::new();
        for i in 0..self.consumers.len() {
            while let Some(c) = &self.consumers[i] {
                match c.try_recv() {
                    Ok(None) => break,
                    Ok(Some(d)) => {
                        check_delivery(&d, Some(c.tag()))?;
                        let got = delivered(&d)?;
                        out.entry(i).or_default().push(model::Event::Delivery(got));
                    }
                    Err(e) => {
                        let ended = match e.kind() {
                            ErrorKind::ConsumerCancelled => model::Ended::Cancelled,
                            ErrorKind::ChannelClosed => model::Ended::ChannelClosed(e.reply_code()),
                            k => return Err(format!("consumer {i} ended with {k:?}: {e}")),
                        };
                        out.entry(i).or_default().push(model::Event::Ended(ended));
                        self.consumers[i] = None;
                    }
                }
            }
        }
        Ok(out)
    }
}

fn delivered(d: &Delivery) -> Result<model::Delivered, String> {
    Ok(model::Delivered {
        tag: d.delivery_tag().get(),
        msg: Rc::new(message(d)?),
        redelivered: d.redelivered(),
        failed: d.failed_count(),
        returned: d.returned_count(),
    })
}

/// What the model does not track: the consumer tag a delivery carries, and A10's
/// `x-delivery-count` header.
fn check_delivery(d: &Delivery, consumer_tag: Option<&str>) -> Result<(), String> {
    let id = body_id(d.body())?;
    if d.consumer_tag() != consumer_tag {
        return Err(format!(
            "body {id} for consumer {consumer_tag:?} carries {:?}",
            d.consumer_tag()
        ));
    }
    let count = d
        .properties()
        .headers
        .as_ref()
        .and_then(|h| h.get("x-delivery-count").cloned());
    let want = (d.failed_count() > 0).then(|| FieldValue::from(i64::from(d.failed_count())));
    if count != want {
        return Err(format!(
            "body {id} with failed = {} has x-delivery-count {count:?}",
            d.failed_count()
        ));
    }
    Ok(())
}
