//! warren: an embeddable message routing and dispatch engine with RabbitMQ's semantics.
//!
//! # Overview
//!
//! Exchanges route published messages to queues by routing key; this release holds the routing
//! core: the lock-free topic trie ([`topic::TopicTrie`]), the exact-key table
//! ([`topic::KeyTable`]) and the exchange tables of [`route`] (direct, fanout, topic, headers).
//!
//! Topic patterns follow RabbitMQ and AMQP 0-9-1: words are separated by `.`, `*` matches exactly
//! one word and `#` matches **zero or more** words, so `item.#` matches `item`. (The user's notes
//! say "one or more"; warren follows RabbitMQ, SEMANTICS T3.)
//!
//! # Example
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
pub mod ids;
pub mod message;
pub(crate) mod queue;
pub mod route;
pub(crate) mod sync;
pub mod topic;
pub mod workload;

pub use broker::{
    BasicProperties, Broker, BrokerOptions, Channel, Connection, Consumer, Delivery, Publish,
    Settled,
};
pub use error::{Error, ErrorKind, Input, Scope};
pub use ids::DeliveryTag;
