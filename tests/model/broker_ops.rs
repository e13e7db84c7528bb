//! Random broker operations run against the engine and the reference broker of
//! `tests/model/broker.rs` side by side (STYLE 11, 12), shared by the proptest
//! (`tests/integration/broker_model.rs`) and the fuzz target (`broker_ops_vs_model`).
//!
//! The universe is small so that operations collide: queues `q0`-`q2`, exchanges `ed` (direct),
//! `ef` (fanout), `et` (topic) and the default one, a few binding and routing keys, two channel
//! slots on one connection (a closed channel is replaced by a fresh one in its slot), bodies
//! that are unique ids. [`Op::decode`] turns five arbitrary bytes into an operation; tags,
//! consumers and types are resolved against the current state when the operation runs (a tag
//! is one the channel received, 0, or one never issued).
//!
//! After each operation every live consumer's mailbox is drained with `try_recv` (the engine
//! dispatches synchronously inside the call, so one thread sees a deterministic result) and
//! compared with the model: the call's result or reply code, each consumer's deliveries (tag,
//! body, redelivered, failed and returned counts) and end, every queue's ready and consumer
//! counts, the unroutable count, which exchanges exist. Each delivery's exchange, routing key,
//! consumer tag and `x-delivery-count` header (A10) are checked against what was published.
//!
//! SEMANTICS leaves open the order in which one call serves several queues (a publish to
//! several, a settle or close that requeues to several, credit shared through a global
//! prefetch): the model is run under every order of the three queues and every model state
//! whose observations match is kept as a candidate; the run fails when none is left.

use super::broker::{self as model, ChanId, ConsumerId, Kind, ModelError};
use std::collections::BTreeMap;
use std::fmt::Write as _;
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
/// What every run starts with, so that random operations meet declared objects: the queues,
/// the exchanges and a binding to each exchange.
const PROLOGUE: [Op; 9] = [
    Op::QueueDeclare {
        ch: 0,
        queue: 0,
        flip_auto_delete: false,
    },
    Op::QueueDeclare {
        ch: 0,
        queue: 1,
        flip_auto_delete: false,
    },
    Op::QueueDeclare {
        ch: 0,
        queue: 2,
        flip_auto_delete: false,
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
pub(crate) const MAX_OPS: usize = 64;
/// At most this many model candidates are kept (see the module docs).
const MAX_CANDIDATES: usize = 64;

/// One operation; fields are indices into the universe, resolved when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `flip_auto_delete`: declare with the other auto-delete flag than the queue's (Q2).
    QueueDeclare {
        ch: u8,
        queue: u8,
        flip_auto_delete: bool,
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
    /// `exchange` 0 is the default one, 1-3 the user exchanges.
    Publish {
        ch: u8,
        exchange: u8,
        key: u8,
        mandatory: bool,
    },
    Consume {
        ch: u8,
        queue: u8,
        no_ack: bool,
        exclusive: bool,
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
    Nack {
        ch: u8,
        tag: u8,
        multiple: bool,
        requeue: bool,
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
}

/// Operation weights for [`Op::decode`]: (kind, weight).
const WEIGHTS: [(u8, u8); 18] = [
    (0, 3),  // QueueDeclare
    (1, 1),  // QueueDelete
    (2, 1),  // QueuePurge
    (3, 2),  // ExchangeDeclare
    (4, 1),  // ExchangeDelete
    (5, 4),  // Bind
    (6, 1),  // Unbind
    (7, 9),  // Publish
    (8, 3),  // Consume
    (9, 2),  // Qos
    (10, 4), // Ack
    (11, 3), // Nack
    (12, 2), // Reject
    (13, 1), // Cancel
    (14, 1), // DropConsumer
    (15, 1), // Recover
    (16, 2), // Get
    (17, 1), // CloseChannel
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
                flip_auto_delete: bit(0) && bit(1) && bit(2),
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
                key: args[2] % 12,
                mandatory: bit(0),
            },
            8 => Op::Consume {
                ch,
                queue,
                no_ack: bit(0) && bit(1),
                exclusive: bit(2) && bit(3) && bit(4),
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
            },
            12 => Op::Reject {
                ch,
                tag: args[1],
                requeue: !(bit(2) && bit(3)),
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
            _ => Op::CloseChannel { ch },
        }
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
    Ok(())
}

/// An operation resolved against the current state.
#[derive(Clone, Debug)]
enum Call {
    QueueDeclare(usize, &'static str, bool),
    QueueDelete(usize, &'static str, bool, bool),
    QueuePurge(usize, &'static str),
    ExchangeDeclare(usize, &'static str, Kind),
    ExchangeDelete(usize, &'static str),
    Bind(usize, &'static str, &'static str, &'static str),
    Unbind(usize, &'static str, &'static str, &'static str),
    Publish(usize, &'static str, &'static str, bool, u64),
    Consume(usize, &'static str, String, bool, bool),
    Qos(usize, u16, bool),
    Ack(usize, u64, bool),
    Nack(usize, u64, bool, bool),
    Reject(usize, u64, bool),
    Cancel(usize, String),
    Lose(ConsumerId),
    Recover(usize),
    Get(usize, &'static str, bool),
    CloseChannel(usize),
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
            Call::Lose(_) => None,
        }
    }
}

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
    /// (exchange, routing key) of each published body id.
    published: Vec<(&'static str, &'static str)>,
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

fn body_id(body: &[u8]) -> Result<u64, String> {
    let bytes: [u8; 8] = body
        .try_into()
        .map_err(|_| format!("a body of {} bytes", body.len()))?;
    Ok(u64::from_le_bytes(bytes))
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
                .with_clock(Clock::manual(0))
                .with_consumer_timeout(None),
        );
        let conn = broker.connect();
        let mut m = model::Broker::new();
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
            published: Vec::new(),
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

    /// Resolves `op`; `None` skips it.
    fn resolve(&mut self, op: Op) -> Option<Call> {
        let m = &self.models[0];
        let q = |i: u8| QUEUES[usize::from(i) % 3];
        let x = |i: u8| EXCHANGES[usize::from(i) % 3];
        let any_x = |i: u8| match i % 4 {
            0 => "",
            n => EXCHANGES[usize::from(n - 1)].0,
        };
        Some(match op {
            Op::QueueDeclare {
                ch,
                queue,
                flip_auto_delete,
            } => Call::QueueDeclare(
                usize::from(ch & 1),
                q(queue),
                AUTO_DELETE[usize::from(queue) % 3] != flip_auto_delete,
            ),
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
                let kind = if wrong_type && m.exchange_exists(name) {
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
            } => {
                let exchange = any_x(exchange);
                let key = if exchange.is_empty() {
                    DEFAULT_KEYS[usize::from(key) % DEFAULT_KEYS.len()]
                } else {
                    ROUTING_KEYS[usize::from(key) % ROUTING_KEYS.len()]
                };
                let id = u64::try_from(self.published.len()).expect("few messages");
                self.published.push((exchange, key));
                Call::Publish(usize::from(ch & 1), exchange, key, mandatory, id)
            }
            Op::Consume {
                ch,
                queue,
                no_ack,
                exclusive,
            } => {
                let tag = format!("c{}", self.next_tag_name);
                self.next_tag_name += 1;
                Call::Consume(usize::from(ch & 1), q(queue), tag, no_ack, exclusive)
            }
            Op::Qos {
                ch,
                prefetch,
                global,
            } => Call::Qos(usize::from(ch & 1), u16::from(prefetch % 4), global),
            Op::Ack { ch, tag, multiple } => {
                let slot = usize::from(ch & 1);
                Call::Ack(slot, self.pick_tag(slot, tag)?, multiple)
            }
            Op::Nack {
                ch,
                tag,
                multiple,
                requeue,
            } => {
                let slot = usize::from(ch & 1);
                Call::Nack(slot, self.pick_tag(slot, tag)?, multiple, requeue)
            }
            Op::Reject { ch, tag, requeue } => {
                let slot = usize::from(ch & 1);
                Call::Reject(slot, self.pick_tag(slot, tag)?, requeue)
            }
            Op::Cancel { ch, consumer } => {
                let slot = usize::from(ch & 1);
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
                let live = m.channel_consumers(self.chan_ids[slot]);
                if live.is_empty() {
                    return None;
                }
                Call::Lose(live[usize::from(consumer) % live.len()])
            }
            Op::Recover { ch } => Call::Recover(usize::from(ch & 1)),
            Op::Get { ch, queue, no_ack } => Call::Get(usize::from(ch & 1), q(queue), no_ack),
            Op::CloseChannel { ch } => Call::CloseChannel(usize::from(ch & 1)),
        })
    }

    fn step(&mut self, op: Op) -> Result<(), String> {
        let Some(call) = self.resolve(op) else {
            return Ok(());
        };
        let engine = self.run_engine(&call)?;
        let mut next: Vec<model::Broker> = Vec::new();
        let mut first: Option<Obs> = None;
        for m in &self.models {
            for order in all_orders() {
                let mut m = m.clone();
                m.set_queue_order(&order);
                let obs = self.run_model(&mut m, &call);
                m.set_queue_order(&[]);
                if obs == engine {
                    if next.len() < MAX_CANDIDATES && !next.contains(&m) {
                        next.push(m);
                    }
                } else if first.is_none() {
                    first = Some(obs);
                }
            }
        }
        if next.is_empty() {
            return Err(format!(
                "engine and model disagree on {call:?}\nengine: {engine:#?}\nmodel:  {:#?}",
                first.expect("some order was tried")
            ));
        }
        self.models = next;
        self.after(&call, &engine);
        Ok(())
    }

    /// Bookkeeping once the call's outcome is agreed.
    fn after(&mut self, call: &Call, obs: &Obs) {
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
            Call::QueueDeclare(s, q, ad) => match m.queue_declare(id(s), q, *ad) {
                Ok((r, c)) => Reply::Declared(r, c),
                Err(e) => err(e),
            },
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
                .publish(id(s), x, k, *mandatory, *msg)
                .map_or_else(err, Reply::Published),
            Call::Consume(s, q, tag, no_ack, exclusive) => m
                .basic_consume(id(s), q, tag, *no_ack, *exclusive)
                .map_or_else(err, Reply::Consumed),
            Call::Qos(s, n, global) => m
                .basic_qos(id(s), u32::from(*n), *global)
                .map_or_else(err, |()| Reply::Unit),
            Call::Ack(s, t, multiple) => m
                .basic_ack(id(s), *t, *multiple)
                .map_or_else(err, Reply::Settled),
            Call::Nack(s, t, multiple, requeue) => m
                .basic_nack(id(s), *t, *multiple, *requeue)
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
        }
    }

    fn run_engine(&mut self, call: &Call) -> Result<Obs, String> {
        let none = FieldTable::new();
        let reply = match call {
            Call::QueueDeclare(s, q, auto_delete) => {
                let opts = QueueDeclareOptions {
                    auto_delete: *auto_delete,
                    ..Default::default()
                };
                match self.slots[*s].queue_declare(q, opts, &none) {
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
                let body = msg.to_le_bytes().to_vec();
                match self.slots[*s].basic_publish(x, k, opts, body, BasicProperties::default()) {
                    Ok(Publish::Routed { queues }) => {
                        Reply::Published(model::Published::Routed(queues))
                    }
                    Ok(Publish::Returned(r)) => {
                        if r.reply_code != 312 || body_id(&r.body)? != *msg {
                            return Err(format!("a wrong return: {r:?}"));
                        }
                        Reply::Published(model::Published::Returned)
                    }
                    Ok(Publish::Unroutable) => Reply::Published(model::Published::Unroutable),
                    Err(e) => engine_err(&e.error)?,
                }
            }
            Call::Consume(s, q, tag, no_ack, exclusive) => {
                let opts = BasicConsumeOptions {
                    no_ack: *no_ack,
                    exclusive: *exclusive,
                    ..Default::default()
                };
                match self.slots[*s].basic_consume(q, tag, opts, &none) {
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
            Call::Nack(s, t, multiple, requeue) => settled(self.slots[*s].basic_nack(
                DeliveryTag::new(*t),
                BasicNackOptions {
                    multiple: *multiple,
                    requeue: *requeue,
                    ..Default::default()
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
                        self.check_delivery(&g.delivery, None)?;
                        Reply::Got(Some(model::Got {
                            delivery: self.delivered(&g.delivery)?,
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
        };
        let events = self.drain()?;
        Ok(Obs {
            reply,
            events,
            counts: QUEUES.iter().map(|q| self.broker.queue_counts(q)).collect(),
            exchanges: EXCHANGES
                .iter()
                .map(|(x, _)| self.broker.exchange_exists(x))
                .collect(),
            unroutable: self.broker.unroutable_count(),
        })
    }

    fn delivered(&self, d: &Delivery) -> Result<model::Delivered, String> {
        Ok(model::Delivered {
            tag: d.delivery_tag().get(),
            msg: body_id(d.body())?,
            redelivered: d.redelivered(),
            failed: d.failed_count(),
            returned: d.returned_count(),
        })
    }

    /// What the model does not track: the exchange, key and consumer tag a delivery carries,
    /// and A10's `x-delivery-count` header.
    fn check_delivery(&self, d: &Delivery, consumer_tag: Option<&str>) -> Result<(), String> {
        let id = body_id(d.body())?;
        let &(x, k) = self
            .published
            .get(usize::try_from(id).map_err(|_| "a huge id")?)
            .ok_or_else(|| format!("body {id} was never published"))?;
        if d.exchange() != x || d.routing_key() != k {
            return Err(format!(
                "body {id} published to ({x:?}, {k:?}) arrived as ({:?}, {:?})",
                d.exchange(),
                d.routing_key()
            ));
        }
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

    /// Every live consumer's mailbox events, until empty; an ended consumer's handle is dropped.
    fn drain(&mut self) -> Result<BTreeMap<ConsumerId, Vec<model::Event>>, String> {
        let mut out: BTreeMap<ConsumerId, Vec<model::Event>> = BTreeMap::new();
        for i in 0..self.consumers.len() {
            while let Some(c) = &self.consumers[i] {
                match c.try_recv() {
                    Ok(None) => break,
                    Ok(Some(d)) => {
                        self.check_delivery(&d, Some(c.tag()))?;
                        let got = self.delivered(&d)?;
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
