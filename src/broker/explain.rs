//! Route explain: a dry run of the routing walk that says which bindings, exchange-to-exchange
//! hops and alternate exchanges a message would go through, or why it would reach no queue.
//! It changes nothing: no enqueue, no return, no counter.

use super::registry::Dest;
use super::{Broker, REPLY_TO_PREFIX};
use crate::error::{Error, Input};
use crate::message::FieldTable;
use crate::route::{routing_keys, ExchangeType};
use crate::sync::pin;
use crate::topic::{check_len, is_match};
use std::fmt;

/// One step of a route: `exchange` passed the message to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The exchange the message was at.
    pub exchange: String,
    /// Where it went.
    pub to: HopTarget,
    /// How: the matching bindings' keys (for a headers exchange, every binding's key: its
    /// arguments decided), or `None` when the exchange matched nothing and passed the message
    /// to its alternate (SEMANTICS E7).
    pub binding_keys: Option<Vec<String>>,
}

/// Where a hop leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HopTarget {
    /// A queue.
    Queue(String),
    /// An exchange (bound to the previous one, or its alternate).
    Exchange(String),
}

/// What [`Broker::explain`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explain {
    /// Every hop of the walk, in walk order.
    pub hops: Vec<Hop>,
    /// The queues reached, each once, in the order first reached.
    pub queues: Vec<String>,
    /// Why no queue is reached, when none is.
    pub unroutable: Option<String>,
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for hop in &self.hops {
            let to = match &hop.to {
                HopTarget::Queue(q) => format!("queue '{q}'"),
                HopTarget::Exchange(x) => format!("exchange '{x}'"),
            };
            match &hop.binding_keys {
                Some(keys) => writeln!(f, "'{}' -> {to} by {keys:?}", hop.exchange)?,
                None => writeln!(f, "'{}' -> {to} (alternate)", hop.exchange)?,
            }
        }
        match &self.unroutable {
            Some(why) => write!(f, "unroutable: {why}"),
            None => write!(f, "queues: {:?}", self.queues),
        }
    }
}

impl Broker {
    /// Explains where a message published to `exchange` with `routing_key` and `headers`
    /// would go, without publishing it.
    ///
    /// # Errors
    ///
    /// As `basic_publish`'s checks: local errors for over-long names, 404 for a missing
    /// exchange, 406 for a `CC`/`BCC` header that is not an array. Nothing closes.
    pub fn explain(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: Option<&FieldTable>,
    ) -> Result<Explain, Error> {
        check_len(exchange, Input::Exchange)?;
        let keys: Vec<&str> = routing_keys(routing_key, headers)?.collect();
        let reg = &self.inner.registry;
        let guard = pin();
        let mut out = Explain {
            hops: Vec::new(),
            queues: Vec::new(),
            unroutable: None,
        };
        if exchange.is_empty() {
            for key in &keys {
                if key.starts_with(REPLY_TO_PREFIX) {
                    if let Some(token) = key.strip_prefix(REPLY_TO_PREFIX) {
                        if self.inner.reply_to.get(token.as_bytes(), &guard).is_some() {
                            out.hops.push(Hop {
                                exchange: String::new(),
                                to: HopTarget::Queue((*key).to_string()),
                                binding_keys: Some(vec![(*key).to_string()]),
                            });
                        }
                    }
                } else if let Some(q) = reg.queue(key, &guard) {
                    if !out.queues.iter().any(|n| n == &*q.name) {
                        out.queues.push(q.name.to_string());
                        out.hops.push(Hop {
                            exchange: String::new(),
                            to: HopTarget::Queue(q.name.to_string()),
                            binding_keys: Some(vec![(*key).to_string()]),
                        });
                    }
                }
            }
            if out.hops.is_empty() {
                out.unroutable = Some(format!(
                    "the default exchange has no queue named {:?}",
                    keys
                ));
            }
            return Ok(out);
        }
        let start = reg.exchange(exchange, &guard).ok_or_else(|| {
            Error::amqp(
                404,
                format!("NOT_FOUND - no exchange '{exchange}' in vhost '/'"),
            )
        })?;
        let mut visited = Vec::new();
        reg.walk(start, routing_key, headers, &guard, |x, alternate, dest| {
            if !visited.contains(&x.name.to_string()) {
                visited.push(x.name.to_string());
            }
            let to = match dest {
                Dest::Queue(id) => match reg.queue_by_id_pinned(id, &guard) {
                    Some(q) => HopTarget::Queue(q.name.to_string()),
                    None => return,
                },
                Dest::Exchange(id) => match reg.exchange_by_id(id, &guard) {
                    Some(e) => HopTarget::Exchange(e.name.to_string()),
                    None => return,
                },
            };
            let binding_keys = (!alternate).then(|| {
                reg.pair_bindings(x.id, dest)
                    .into_iter()
                    .map(|(k, _)| k)
                    .filter(|k| match x.kind {
                        ExchangeType::Direct => keys.contains(&k.as_str()),
                        ExchangeType::Topic => keys.iter().any(|key| is_match(k, key) == Ok(true)),
                        ExchangeType::Fanout | ExchangeType::Headers => true,
                    })
                    .collect()
            });
            if let HopTarget::Queue(q) = &to {
                if !out.queues.contains(q) {
                    out.queues.push(q.clone());
                }
            }
            out.hops.push(Hop {
                exchange: x.name.to_string(),
                to,
                binding_keys,
            });
        });
        if out.queues.is_empty() {
            out.unroutable = Some(if out.hops.is_empty() {
                format!(
                    "no binding of exchange '{exchange}' matches (and no alternate exchange took it)"
                )
            } else {
                format!("the walk visited {visited:?} but reached no queue")
            });
        }
        Ok(out)
    }
}
