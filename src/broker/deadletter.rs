//! Dead-lettering (SEMANTICS X): what happens to a message that dies in a queue.
//!
//! Every queue gets an [`Undertaker`] at declare. When messages die there (rejected without
//! requeue, expired, dropped or refused by a length limit, over the delivery limit), the queue
//! hands them over, without its lock, and the undertaker:
//!
//! 1. republishes each to the queue's dead-letter exchange, if it has one (X3, X4): the body
//!    shared, the properties as published minus `expiration`, plus the `x-death` history and
//!    the `x-first-death-*` / `x-last-death-*` headers (X5), to the dead-letter routing key
//!    if set (then `CC` is dropped) or to the original keys; alternates apply, no mandatory, no
//!    confirm; a missing exchange or an empty route drops it, counted; a target queue that
//!    would close a cycle of expiries or length drops gets no copy (X6);
//! 2. logs the removal of the dead messages from a durable queue: in the same log record as
//!    its persistent copy into durable queues, when there is one (SEMANTICS X7: a crash
//!    neither loses nor duplicates it), else in a `Settle` record.
//!
//! # Invariants
//!
//! * **No recursion.** A dead-lettered message may die again at once (a full target with
//!   `drop-head`), and so on along a chain of queues. Each thread drains such chains from one
//!   work list ([`WORK`]), so the stack stays flat however long the chain; X6 bounds cycles
//!   that no consumer drives.
//! * The undertaker holds the broker weakly: a queue never keeps its broker alive.
//!
//! # Limits
//!
//! A dead message that goes only to transient queues, or is transient, is settled by its own
//! record after it is enqueued there: nothing of it was to survive a restart anyway.

use super::args::Overflow;
use super::registry::{MessageData, Msg, QueueRec};
use super::BrokerInner;
use crate::message::{FieldTable, FieldValue};
use crate::queue::{self, Dead, Queue, Reason, Refused};
use crate::sync::pin;
use smallvec::SmallVec;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};

/// What a queue's undertaker knows: where its dead go.
struct Grave {
    broker: Weak<BrokerInner>,
    /// The queue's name, for `x-death`.
    queue: Arc<str>,
    /// `x-dead-letter-exchange`.
    exchange: Option<Arc<str>>,
    /// `x-dead-letter-routing-key`.
    routing_key: Option<Arc<str>>,
}

/// A queue's undertaker. See the module docs.
pub(crate) struct Undertaker {
    grave: Arc<Grave>,
}

impl Undertaker {
    /// The undertaker of queue `name` dead-lettering to `exchange` with `routing_key`.
    pub(crate) fn new(
        broker: Weak<BrokerInner>,
        name: &str,
        exchange: Option<&str>,
        routing_key: Option<&str>,
    ) -> Undertaker {
        Undertaker {
            grave: Arc::new(Grave {
                broker,
                queue: name.into(),
                exchange: exchange.map(Arc::from),
                routing_key: routing_key.map(Arc::from),
            }),
        }
    }
}

/// Messages that died in one queue, waiting for their undertaker.
struct Job {
    grave: Arc<Grave>,
    /// The queue's log id (0: not logged).
    log_id: u64,
    dead: Vec<Dead<Msg>>,
}

thread_local! {
    /// The jobs of the chain this thread is draining; `None` when it drains none.
    static WORK: RefCell<Option<VecDeque<Job>>> = const { RefCell::new(None) };
}

/// Clears [`WORK`] when the drain ends, a panic included.
struct Drained;

impl Drop for Drained {
    fn drop(&mut self) {
        WORK.with(|w| *w.borrow_mut() = None);
    }
}

impl queue::Undertaker<Msg> for Undertaker {
    fn bury(&self, queue: &Arc<Queue<Msg>>, dead: Vec<Dead<Msg>>) {
        let job = Job {
            grave: self.grave.clone(),
            log_id: queue.log_id,
            dead,
        };
        let queued = WORK.with(|w| {
            let mut w = w.borrow_mut();
            match w.as_mut() {
                Some(list) => {
                    list.push_back(job);
                    None
                }
                None => {
                    *w = Some(VecDeque::new());
                    Some(job)
                }
            }
        });
        let Some(first) = queued else {
            // An outer bury on this thread drains it.
            return;
        };
        let _drained = Drained;
        let mut next = Some(first);
        while let Some(job) = next {
            job.run();
            next = WORK.with(|w| w.borrow_mut().as_mut().and_then(VecDeque::pop_front));
        }
    }
}

impl Job {
    fn run(self) {
        let Some(broker) = self.grave.broker.upgrade() else {
            return;
        };
        let mut settled: Vec<(u64, u64)> = Vec::new();
        let stats = &broker.stats;
        for (entry, reason) in &self.dead {
            stats.died(*reason);
            let logged = (self.log_id != 0 && entry.msg.store_id != 0)
                .then_some((entry.msg.store_id, self.log_id));
            let mut replaced = false;
            if !self
                .grave
                .dead_letter(&broker, &entry.msg, *reason, logged, &mut replaced)
            {
                stats.dead_dropped.fetch_add(1, Relaxed);
            }
            if let (Some(pair), false) = (logged, replaced) {
                settled.push(pair);
            }
        }
        if !settled.is_empty() {
            broker.log_settled(settled);
        }
    }
}

impl Grave {
    /// Republishes `old`, dead in this queue for `reason`, to the dead-letter exchange (X3-X6).
    /// Returns whether a queue took it. `logged` is the durable (message, queue) pair of the
    /// dead copy: if the new copy is logged, its record settles that pair too (X7) and
    /// `replaced` is set.
    fn dead_letter(
        &self,
        broker: &BrokerInner,
        old: &Msg,
        reason: Reason,
        logged: Option<(u64, u64)>,
        replaced: &mut bool,
    ) -> bool {
        let Some(exchange) = &self.exchange else {
            return false;
        };
        let now_s = broker.clock.now_ms() / 1000;
        let mut props = old.properties().clone();
        let original_expiration = props.expiration.take();
        let mut headers = props.headers.take().unwrap_or_default();
        // X5: the keys it was published with, CC included (BCC went at publish).
        let mut keys = vec![FieldValue::from(old.routing_key())];
        if let Some(cc) = headers.get("CC").and_then(FieldValue::as_array) {
            keys.extend(cc.iter().cloned());
        }
        record_death(
            &mut headers,
            &Death {
                queue: &self.queue,
                reason,
                exchange: old.exchange(),
                keys,
                original_expiration,
                time_s: now_s,
            },
        );
        let key: &str = match &self.routing_key {
            Some(k) => {
                // X3: the dead-letter key replaces every original key.
                headers.remove("CC");
                k
            }
            None => old.routing_key(),
        };
        let cycle_check = matches!(reason, Reason::Expired | Reason::Maxlen);
        props.headers = Some(headers);
        let mut data = MessageData::new(
            (!exchange.is_empty()).then(|| exchange.clone()),
            key,
            Some(Box::new(props)),
            old.body.clone(),
        );
        let guard = pin();
        let reg = &broker.registry;
        let headers = data.properties().headers.as_ref();
        let mut targets: SmallVec<[&Arc<QueueRec>; 8]> = SmallVec::new();
        if exchange.is_empty() {
            // A direct reply-to address is no queue: a dead letter does not reach it.
            reg.route_by_name(key, headers, &guard, &mut targets, |_| {});
        } else {
            let Some(x) = reg.exchange(exchange, &guard) else {
                return false;
            };
            reg.route(x, key, headers, &guard, &mut targets);
        }
        if cycle_check {
            let history = headers
                .and_then(|h| h.get(X_DEATH))
                .and_then(FieldValue::as_array);
            targets.retain(|q| !is_cycle(&q.name, history.unwrap_or(&[])));
        }
        if targets.is_empty() {
            return false;
        }
        // Persistent into durable queues: logged before it is enqueued (SEMANTICS S2), the
        // dead copy's removal in the same record (X7).
        let replaces: SmallVec<[(u64, u64); 1]> = logged.into_iter().collect();
        if let Some(Ok(_)) = reg.log_persistent(&broker.clock, &mut data, &targets, &replaces) {
            *replaced = logged.is_some();
        }
        let mut msg = Msg::Owned(data);
        let mut took = false;
        let mut refused: Vec<(u64, u64)> = Vec::new();
        for q in targets {
            match q.q.enqueue(msg.share()) {
                Ok(()) => took = true,
                Err(Refused::Full) => {
                    if q.args.overflow == Overflow::RejectPublish {
                        // `reject-publish-dlx` refusals are counted as they are buried.
                        broker.stats.maxlen.fetch_add(1, Relaxed);
                    }
                    if msg.store_id != 0 && q.q.log_id != 0 {
                        refused.push((msg.store_id, q.q.log_id));
                    }
                }
                Err(Refused::Deleted) => {}
            }
        }
        if !refused.is_empty() {
            broker.log_settled(refused);
        }
        if took {
            broker.stats.dead_lettered.fetch_add(1, Relaxed);
        }
        took
    }
}

/// The header holding the death history (SEMANTICS X5).
pub(crate) const X_DEATH: &str = "x-death";

/// One death, as [`record_death`] writes it.
struct Death<'a> {
    queue: &'a str,
    reason: Reason,
    /// The exchange the message was published to before.
    exchange: &'a str,
    /// Its routing keys: the publish key, then `CC`.
    keys: Vec<FieldValue>,
    original_expiration: Option<String>,
    time_s: u64,
}

/// Adds `death` to the `x-death` history in `headers` and sets the first and last death
/// headers (SEMANTICS X5): a (queue, reason) pair seen before gets `count` + 1 and moves to
/// the front, keeping its other fields; a new one goes in front with `count` 1.
fn record_death(headers: &mut FieldTable, death: &Death<'_>) {
    let reason = death.reason.as_str();
    let mut history = match headers.remove(X_DEATH) {
        Some(FieldValue::Array(a)) => a,
        _ => Vec::new(),
    };
    let same = |v: &FieldValue| {
        v.as_table().is_some_and(|t| {
            t.get("queue").and_then(FieldValue::as_str) == Some(death.queue)
                && t.get("reason").and_then(FieldValue::as_str) == Some(reason)
        })
    };
    let entry = match history.iter().position(same) {
        Some(at) => {
            let mut old = history.remove(at);
            if let FieldValue::Table(t) = &mut old {
                let count = t.get("count").and_then(FieldValue::as_i64).unwrap_or(0);
                t.insert("count", FieldValue::I64(count.saturating_add(1)));
            }
            old
        }
        None => {
            let mut t = FieldTable::new()
                .with("queue", death.queue)
                .with("reason", reason)
                .with("count", FieldValue::I64(1))
                .with("time", FieldValue::Timestamp(death.time_s))
                .with("exchange", death.exchange)
                .with("routing-keys", FieldValue::Array(death.keys.clone()));
            if let Some(e) = &death.original_expiration {
                t.insert("original-expiration", e.as_str());
            }
            FieldValue::Table(t)
        }
    };
    history.insert(0, entry);
    headers.insert(X_DEATH, FieldValue::Array(history));
    for (name, value) in [
        ("queue", death.queue),
        ("reason", reason),
        ("exchange", death.exchange),
    ] {
        let first = format!("x-first-death-{name}");
        if !headers.contains_key(&first) {
            headers.insert(first, value);
        }
        headers.insert(format!("x-last-death-{name}"), value);
    }
}

/// Whether dead-lettering into `queue` closes a cycle (SEMANTICS X6): the history, newest
/// first, names `queue` before any `rejected` death.
fn is_cycle(queue: &str, history: &[FieldValue]) -> bool {
    for death in history {
        let Some(t) = death.as_table() else { continue };
        if t.get("reason").and_then(FieldValue::as_str) == Some(Reason::Rejected.as_str()) {
            return false;
        }
        if t.get("queue").and_then(FieldValue::as_str) == Some(queue) {
            return true;
        }
    }
    false
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn death<'a>(queue: &'a str, reason: Reason, t: u64) -> Death<'a> {
        Death {
            queue,
            reason,
            exchange: "ex",
            keys: vec!["k".into()],
            original_expiration: None,
            time_s: t,
        }
    }

    fn history(h: &FieldTable) -> Vec<(String, String, i64, u64)> {
        h.get(X_DEATH)
            .and_then(FieldValue::as_array)
            .unwrap()
            .iter()
            .map(|d| {
                let t = d.as_table().unwrap();
                let s = |n: &str| t.get(n).and_then(FieldValue::as_str).unwrap().to_owned();
                let time = match t.get("time") {
                    Some(FieldValue::Timestamp(t)) => *t,
                    other => panic!("time is {other:?}"),
                };
                (
                    s("queue"),
                    s("reason"),
                    t.get("count").and_then(FieldValue::as_i64).unwrap(),
                    time,
                )
            })
            .collect()
    }

    #[test]
    fn x5_new_pairs_go_first_and_repeats_count_and_move_first() {
        let mut h = FieldTable::new();
        record_death(&mut h, &death("a", Reason::Expired, 10));
        record_death(&mut h, &death("b", Reason::Rejected, 20));
        record_death(&mut h, &death("a", Reason::Expired, 30));
        assert_eq!(
            history(&h),
            [
                ("a".into(), "expired".into(), 2, 10),
                ("b".into(), "rejected".into(), 1, 20)
            ]
        );
        let get =
            |h: &FieldTable, n: &str| h.get(n).and_then(FieldValue::as_str).unwrap().to_owned();
        assert_eq!(get(&h, "x-first-death-queue"), "a");
        assert_eq!(get(&h, "x-first-death-reason"), "expired");
        assert_eq!(get(&h, "x-last-death-queue"), "a");
        assert_eq!(get(&h, "x-last-death-reason"), "expired");
        record_death(&mut h, &death("b", Reason::Maxlen, 40));
        assert_eq!(get(&h, "x-first-death-queue"), "a");
        assert_eq!(get(&h, "x-last-death-reason"), "maxlen");
        assert_eq!(history(&h).len(), 3);
    }

    #[test]
    fn x5_original_expiration_and_keys_recorded() {
        let mut h = FieldTable::new();
        let mut d = death("a", Reason::Expired, 1);
        d.original_expiration = Some("500".into());
        d.keys = vec!["k".into(), "cc1".into()];
        record_death(&mut h, &d);
        let t = h.get(X_DEATH).unwrap().as_array().unwrap()[0]
            .as_table()
            .unwrap()
            .clone();
        assert_eq!(t.get("original-expiration").unwrap().as_str(), Some("500"));
        assert_eq!(t.get("exchange").unwrap().as_str(), Some("ex"));
        assert_eq!(t.get("routing-keys").unwrap().as_array().unwrap().len(), 2);
    }

    #[test]
    fn x6_cycle_unless_a_rejection_is_newer_or_equal() {
        let mut h = FieldTable::new();
        record_death(&mut h, &death("a", Reason::Expired, 1));
        record_death(&mut h, &death("b", Reason::Expired, 2));
        let hist = h.get(X_DEATH).unwrap().as_array().unwrap().to_vec();
        assert!(is_cycle("a", &hist));
        assert!(is_cycle("b", &hist));
        assert!(!is_cycle("c", &hist));
        record_death(&mut h, &death("b", Reason::Rejected, 3));
        let hist = h.get(X_DEATH).unwrap().as_array().unwrap().to_vec();
        // The rejection in b is newer than a's expiry: a consumer drives the loop.
        assert!(!is_cycle("a", &hist));
    }
}
