//! warren: an embeddable message routing and dispatch engine with RabbitMQ's semantics.
//!
//! # Overview
//!
//! What a RabbitMQ broker does over the network, warren does inside one process, with
//! RabbitMQ's semantics (the rule book is `SEMANTICS.md`, cited as "SEMANTICS T3"):
//!
//! * [`broker`]: the API users hold. A [`Broker`] opens [`Connection`]s, which open
//!   [`Channel`]s; a channel declares exchanges and queues, binds them, publishes, consumes
//!   ([`Consumer`], [`Delivery`]) and settles deliveries, with AMQP 0-9-1's names
//!   (`queue_declare`, `basic_publish`, `basic_consume`, `basic_ack`...). [`broker::RpcClient`]
//!   does tutorial 6's request/reply.
//! * [`route`]: the exchange tables (direct, fanout, topic, headers) that the publish path
//!   reads without a lock.
//! * [`topic`]: the lock-free wildcard trie matcher, usable on its own.
//! * [`store`]: the durable log behind [`Broker::open`]: durable exchanges, queues, bindings
//!   and persistent messages survive a restart (or a crash), and publisher confirms
//!   ([`Channel::confirm_select`]) say when a message is on disk.
//!
//! Topic patterns follow RabbitMQ and AMQP 0-9-1: words are separated by `.`, `*` matches exactly
//! one word and `#` matches **zero or more** words, so `item.#` matches `item`. (The user's notes
//! say "one or more"; warren follows RabbitMQ, SEMANTICS T3.)
//!
//! # Example: a work queue
//!
//! ```
//! use warren::broker::{BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions};
//! use warren::message::FieldTable;
//! use warren::{BasicProperties, Broker};
//!
//! let broker = Broker::new();
//! let channel = broker.connect().create_channel()?;
//! let durable = QueueDeclareOptions { durable: true, ..Default::default() };
//! channel.queue_declare("task_queue", durable, &FieldTable::new())?;
//! channel.basic_qos(1, BasicQosOptions::default())?; // fair dispatch: one unacked at a time
//! let worker = channel.basic_consume("task_queue", "", BasicConsumeOptions::default(), &FieldTable::new())?;
//!
//! for task in ["first", "second"] {
//!     let props = BasicProperties::default().persistent();
//!     channel.basic_publish("", "task_queue", BasicPublishOptions::default(), task, props)?;
//! }
//! let first = worker.recv()?;
//! assert_eq!(first.body(), b"first");
//! assert!(worker.try_recv()?.is_none()); // prefetch 1: the second waits for the ack
//! first.ack()?;
//! assert_eq!(worker.recv()?.body(), b"second");
//! # Ok::<(), warren::Error>(())
//! ```
//!
//! # Example: durable, with publisher confirms
//!
//! ```
//! use std::time::Duration;
//! use warren::broker::{BasicPublishOptions, QueueDeclareOptions};
//! use warren::message::FieldTable;
//! use warren::{BasicProperties, Broker};
//!
//! let dir = std::env::temp_dir().join(format!("warren-doc-{}", std::process::id()));
//! {
//!     let broker = Broker::open(&dir)?;
//!     let channel = broker.connect().create_channel()?;
//!     let durable = QueueDeclareOptions { durable: true, ..Default::default() };
//!     channel.queue_declare("orders", durable, &FieldTable::new())?;
//!     channel.confirm_select()?;
//!     let props = BasicProperties::default().persistent();
//!     channel.basic_publish("", "orders", BasicPublishOptions::default(), "order 1", props)?;
//!     // Returns once the fsync that covers the message is done.
//!     channel.wait_for_confirms_or_die(Duration::from_secs(5))?;
//! }
//! // Later, or after a crash: the message is still there.
//! let broker = Broker::open(&dir)?;
//! assert_eq!(broker.queue_counts("orders"), Some((1, 0)));
//! # broker.close();
//! # drop(broker);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), warren::Error>(())
//! ```
//!
//! # Example: the matcher alone
//!
//! ```
//! use warren::topic::{DestSet, TopicTrie};
//!
//! let trie = TopicTrie::new();
//! trie.bind("*.orange.*", 1u32)?;
//! trie.bind("*.*.rabbit", 2)?;
//! trie.bind("lazy.#", 2)?;
//!
//! let mut out = DestSet::new();
//! trie.route("quick.orange.rabbit", &mut out)?;
//! let mut got = out.as_slice().to_vec();
//! got.sort();
//! assert_eq!(got, [1, 2]);
//!
//! out.clear();
//! trie.route("lazy", &mut out)?; // `#` matches zero words
//! assert_eq!(out.as_slice(), [2]);
//! # Ok::<(), warren::Error>(())
//! ```
#![deny(unsafe_code)]

pub mod broker;
pub mod clock;
pub(crate) mod dispatch;
pub mod error;
pub mod ffi;
pub mod ids;
pub mod message;
pub(crate) mod queue;
pub mod route;
pub mod store;
pub(crate) mod sync;
pub mod topic;
pub mod workload;

pub use broker::{
    BasicProperties, Broker, BrokerOptions, Channel, Connection, Consumer, Delivery, Publish,
    Settled,
};
pub use error::{Error, ErrorKind, Input, Scope};
pub use ids::{DeliveryTag, SeqNo};
