//! The broker against the reference broker of `tests/model/broker.rs` (STYLE 11): random
//! sequences of declare, bind, publish, consume, qos, ack / nack / reject, cancel, consumer
//! loss, recover, get, purge, delete and channel close over a small universe, compared after
//! every operation (SEMANTICS E, Q, P, D, A, F; `tests/model/broker_ops.rs` says what is
//! compared and how).

use crate::model::broker_ops::{self, Op};
use proptest::prelude::*;

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (any::<u8>(), any::<[u8; 4]>()).prop_map(|(kind, args)| Op::decode(kind, args)),
        0..broker_ops::MAX_OPS,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn broker_matches_model(ops in ops()) {
        if let Err(e) = broker_ops::run(&ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The generator reaches the limits: over fixed pseudo-random runs, limited queues are
/// declared, every death reason happens, copies are dead-lettered (some twice, some around a
/// cycle) and dropped. Guards the
/// comparison above against a generator that silently stopped exercising SEMANTICS L and X.
#[test]
fn random_runs_reach_the_limits() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        // xorshift64*: fixed, so the run is the same everywhere.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut cov = broker_ops::Coverage::default();
    for _ in 0..300 {
        let ops: Vec<Op> = (0..broker_ops::MAX_OPS)
            .map(|_| {
                let b = next().to_le_bytes();
                Op::decode(b[0], [b[1], b[2], b[3], b[4]])
            })
            .collect();
        if let Err(e) = broker_ops::run_counting(&ops, &mut cov) {
            panic!("{e}");
        }
    }
    println!("{cov:#?}");
    let s = cov.stats;
    let at_least = |what: &str, n: usize, min: usize| {
        assert!(n >= min, "{what}: {n} < {min}\n{cov:#?}");
    };
    let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    at_least("declares with limits", cov.limited_declares, 1500);
    at_least("declares refused", cov.refused_declares, 150);
    at_least("rejected", n(s.rejected), 30);
    at_least("expired", n(s.expired), 300);
    at_least("maxlen", n(s.maxlen), 60);
    at_least("delivery_limit", n(s.delivery_limit), 15);
    at_least("dead-lettered copies", n(s.dead_lettered), 200);
    at_least("dropped dead copies", n(s.dead_dropped), 200);
    at_least("deliveries with x-death", cov.dead_lettered, 140);
    at_least("deliveries with 2 deaths", cov.deaths_2, 8);
    at_least("deliveries with a recurring death", cov.recurring, 1);
    at_least("deliveries with CC", cov.with_cc, 200);
    at_least("deliveries with a priority", cov.with_priority, 500);
    at_least("publishes refused everywhere", cov.refused_everywhere, 20);
}

// The model itself, on cases worked out by hand from SEMANTICS, so that the comparison above
// rests on a model that is right and not merely in step with the engine.

use crate::model::broker::{Broker as Model, Ended, Event, ModelError, Published};

fn deliveries(m: &mut Model, c: usize) -> Vec<(u64, u64, bool)> {
    m.take_events()
        .into_iter()
        .filter(|&(to, _)| to == c)
        .filter_map(|(_, e)| match e {
            Event::Delivery(d) => Some((d.tag, d.msg.id, d.redelivered)),
            Event::Ended(_) => None,
        })
        .collect()
}

/// SEMANTICS D1, D3: a consumer out of credit leaves the rotation when its turn finds it so
/// (RabbitMQ's classic queues) and rejoins at the back once an ack gives credit back.
#[test]
fn model_d1_rotation_with_prefetch() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "q", false).unwrap();
    m.basic_qos(ch, 1, false).unwrap();
    let a = m.basic_consume(ch, "q", "a", false, false).unwrap();
    m.basic_qos(ch, 0, false).unwrap();
    let b = m.basic_consume(ch, "q", "b", false, false).unwrap();
    for id in 0..4 {
        assert_eq!(m.publish(ch, "", "q", false, id), Ok(Published::Routed(1)));
    }
    let events = m.take_events();
    let to = |c: usize| -> Vec<u64> {
        events
            .iter()
            .filter(|&&(to, _)| to == c)
            .filter_map(|(_, e)| match e {
                Event::Delivery(d) => Some(d.msg.id),
                Event::Ended(_) => None,
            })
            .collect()
    };
    assert_eq!((to(a), to(b)), (vec![0], vec![1, 2, 3]));
    m.basic_ack(ch, 1, false).unwrap();
    m.publish(ch, "", "q", false, 4).unwrap();
    m.publish(ch, "", "q", false, 5).unwrap();
    let events = m.take_events();
    let got: Vec<(usize, u64)> = events
        .iter()
        .filter_map(|(c, e)| match e {
            Event::Delivery(d) => Some((*c, d.msg.id)),
            Event::Ended(_) => None,
        })
        .collect();
    assert_eq!(got, [(b, 4), (a, 5)]);
}

/// SEMANTICS A5, A10, D9: requeued messages regain their places, redelivered, `returned` + 1
/// per nack.
#[test]
fn model_a5_requeue_keeps_place() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "q", false).unwrap();
    for id in 0..3 {
        m.publish(ch, "", "q", false, id).unwrap();
    }
    let first = m.basic_get(ch, "q", false).unwrap().unwrap();
    let second = m.basic_get(ch, "q", false).unwrap().unwrap();
    assert_eq!(
        (first.delivery.tag, second.delivery.tag, second.left),
        (1, 2, 1)
    );
    m.basic_nack(ch, 2, false, true).unwrap();
    m.basic_nack(ch, 1, false, true).unwrap();
    let again = m.basic_get(ch, "q", true).unwrap().unwrap();
    let d = &again.delivery;
    assert_eq!(
        (d.tag, d.msg.id, d.redelivered, d.failed, d.returned),
        (3, 0, true, 0, 1)
    );
    assert_eq!(m.queue_counts("q"), Some((2, 0)));
}

/// SEMANTICS A3, A7, A10, F2, F5: an unknown tag is a 406 that closes the channel; its unacked
/// deliveries go back with `failed` + 1, its consumers end; later calls repeat the code.
#[test]
fn model_a3_unknown_tag_closes_the_channel() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "q", false).unwrap();
    let c = m.basic_consume(ch, "q", "c", false, false).unwrap();
    m.publish(ch, "", "q", false, 7).unwrap();
    m.basic_reject(ch, 1, true).unwrap();
    assert_eq!(deliveries(&mut m, c), [(1, 7, false), (2, 7, true)]);
    assert_eq!(m.basic_ack(ch, 9, false), Err(ModelError::Amqp(406)));
    assert_eq!(
        m.take_events(),
        [(c, Event::Ended(Ended::ChannelClosed(Some(406))))]
    );
    assert_eq!(
        m.publish(ch, "", "q", false, 8),
        Err(ModelError::ChannelClosed(Some(406)))
    );
    let other = m.open_channel();
    let got = m.basic_get(other, "q", true).unwrap().unwrap();
    assert_eq!((got.delivery.failed, got.delivery.returned), (2, 0));
}

/// SEMANTICS D4, Q5: a global prefetch caps the channel's consumers together; an auto-delete
/// queue goes with its last consumer, and settling its deliveries later changes nothing.
#[test]
fn model_d4_global_prefetch_and_q5_auto_delete() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "a", true).unwrap();
    m.queue_declare(ch, "b", false).unwrap();
    m.basic_qos(ch, 1, true).unwrap();
    let ca = m.basic_consume(ch, "a", "ca", false, false).unwrap();
    let cb = m.basic_consume(ch, "b", "cb", false, false).unwrap();
    m.publish(ch, "", "a", false, 0).unwrap();
    m.publish(ch, "", "b", false, 1).unwrap();
    assert_eq!(deliveries(&mut m, ca), [(1, 0, false)]);
    assert_eq!(m.queue_counts("b"), Some((1, 1)));
    m.basic_cancel(ch, "ca").unwrap();
    assert_eq!(m.queue_counts("a"), None);
    m.basic_nack(ch, 1, false, true).unwrap();
    assert_eq!(deliveries(&mut m, cb), [(2, 1, false)]);
}

// The limits (SEMANTICS L, X, D5, D6, the delivery limit), worked out by hand.

use crate::model::broker::{Death, DeathMark, Message, Overflow, QueueArgs, Reason, Stats};
use std::rc::Rc;

/// The messages consumer `c` received since the last take (other events dropped).
fn received(m: &mut Model, c: usize) -> Vec<Rc<Message>> {
    m.take_events()
        .into_iter()
        .filter(|(to, _)| *to == c)
        .filter_map(|(_, e)| match e {
            Event::Delivery(d) => Some(d.msg),
            Event::Ended(_) => None,
        })
        .collect()
}

fn ids(msgs: &[Rc<Message>]) -> Vec<u64> {
    msgs.iter().map(|m| m.id).collect()
}

/// Dead-letters to queue `q` through the default exchange.
fn dead_letters_to(q: &str) -> QueueArgs {
    QueueArgs {
        dead_letter_exchange: Some(String::new()),
        dead_letter_routing_key: Some(q.to_string()),
        ..QueueArgs::default()
    }
}

fn expiring(id: u64, ms: &str) -> Message {
    let mut m = Message::new(id);
    m.expiration = Some(ms.to_string());
    m
}

fn get_msg(m: &mut Model, ch: usize, q: &str) -> Rc<Message> {
    m.basic_get(ch, q, true).unwrap().unwrap().delivery.msg
}

/// SEMANTICS L1, L2, X4, X5: an expired message behind a live head waits, counted; once a get
/// makes it the head it dies at once (RabbitMQ drops expired heads after each fetch), so the
/// get's `left` does not count it; it is dead-lettered without `expiration`, with one `x-death`
/// entry and the first and last death headers. The model notes the engine's deviation B1.
#[test]
fn model_l2_expired_behind_a_live_head_waits_then_dies_at_the_head() {
    let mut m = Model::at(10_000);
    let ch = m.open_channel();
    m.queue_declare_with(ch, "q", false, &dead_letters_to("dlq"))
        .unwrap();
    m.queue_declare(ch, "dlq", false).unwrap();
    m.publish(ch, "", "q", false, 0).unwrap();
    m.publish_message(ch, "", "q", false, expiring(1, "5"))
        .unwrap();
    m.advance(10);
    assert_eq!(m.queue_counts("q"), Some((2, 0)), "it waits, counted");
    assert_eq!(m.stats().expired, 0);
    let got = m.basic_get(ch, "q", true).unwrap().unwrap();
    assert_eq!((got.delivery.msg.id, got.left), (0, 0));
    let dead = get_msg(&mut m, ch, "dlq");
    assert_eq!(dead.id, 1);
    assert_eq!(dead.expiration, None, "X4");
    assert_eq!(
        (dead.exchange.as_str(), dead.routing_key.as_str()),
        ("", "dlq")
    );
    assert_eq!(
        dead.deaths,
        [Death {
            queue: "q".into(),
            reason: Reason::Expired,
            count: 1,
            time: 10,
            exchange: String::new(),
            routing_keys: vec!["q".into()],
            original_expiration: Some("5".into()),
        }]
    );
    let mark = DeathMark {
        queue: "q".into(),
        reason: Reason::Expired,
        exchange: String::new(),
    };
    assert_eq!(dead.first_death, Some(mark.clone()));
    assert_eq!(dead.last_death, Some(mark));
    assert_eq!(
        m.stats(),
        Stats {
            expired: 1,
            dead_lettered: 1,
            ..Stats::default()
        }
    );
}

/// SEMANTICS L1, L3: TTL 0 reaches only a consumer that takes it on arrival, else it dies at
/// once; each queue's copy expires on its own; an unacked delivery never expires, and a
/// requeue keeps the original deadline (here long past: it dies at once).
#[test]
fn model_l1_l3_ttl_per_copy_requeue_keeps_it() {
    let mut m = Model::new();
    let ch = m.open_channel();
    let ttl = |ms| QueueArgs {
        message_ttl: Some(ms),
        ..QueueArgs::default()
    };
    m.queue_declare_with(ch, "zero", false, &ttl(0)).unwrap();
    m.queue_declare_with(ch, "long", false, &ttl(100)).unwrap();
    m.queue_declare_with(ch, "short", false, &ttl(10)).unwrap();
    let mut msg = Message::new(0);
    msg.cc = Some(vec!["long".into(), "short".into()]);
    assert_eq!(
        m.publish_message(ch, "", "zero", false, msg),
        Ok(Published::Routed(3))
    );
    assert_eq!(m.queue_counts("zero"), Some((0, 0)), "L3: no consumer");
    assert_eq!(m.stats().expired, 1);
    let c = m.basic_consume(ch, "zero", "c", true, false).unwrap();
    m.publish(ch, "", "zero", false, 1).unwrap();
    assert_eq!(ids(&received(&mut m, c)), [1], "L3: taken on arrival");
    m.advance(10);
    assert_eq!(m.queue_counts("short"), Some((0, 0)));
    assert_eq!(m.queue_counts("long"), Some((1, 0)));
    let got = m.basic_get(ch, "long", false).unwrap().unwrap();
    m.advance(200);
    assert_eq!(m.stats().expired, 2, "unacked: not expired");
    m.basic_nack(ch, got.delivery.tag, false, true).unwrap();
    assert_eq!(m.queue_counts("long"), Some((0, 0)));
    assert_eq!(m.stats().expired, 3, "requeued with its deadline");
}

/// SEMANTICS L5, L6, X2: `drop-head` takes the message and drops the oldest as `maxlen`;
/// `reject-publish` refuses it (the other targets keep it; nothing dies, but the refusal is
/// counted); `reject-publish-dlx` refuses and dead-letters it; only ready messages count.
#[test]
fn model_l6_overflow_modes() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "dlq", false).unwrap();
    let limited = |overflow| QueueArgs {
        max_length: Some(1),
        overflow,
        ..dead_letters_to("dlq")
    };
    m.queue_declare_with(ch, "drop", false, &limited(None))
        .unwrap();
    m.queue_declare_with(ch, "reject", false, &limited(Some(Overflow::RejectPublish)))
        .unwrap();
    m.queue_declare_with(ch, "dlx", false, &limited(Some(Overflow::RejectPublishDlx)))
        .unwrap();
    let to_all = |id| {
        let mut msg = Message::new(id);
        msg.cc = Some(vec!["reject".into(), "dlx".into()]);
        msg
    };
    assert_eq!(
        m.publish_message(ch, "", "drop", false, to_all(0)),
        Ok(Published::Routed(3))
    );
    assert_eq!(
        m.publish_message(ch, "", "drop", false, to_all(1)),
        Ok(Published::Routed(1)),
        "only drop-head takes it"
    );
    for q in ["drop", "reject", "dlx"] {
        assert_eq!(m.queue_counts(q), Some((1, 0)));
    }
    assert_eq!(ids(&[get_msg(&mut m, ch, "drop")]), [1]);
    let mut dead: Vec<(u64, String)> = (0..2)
        .map(|_| {
            let d = get_msg(&mut m, ch, "dlq");
            (d.id, d.deaths[0].queue.clone())
        })
        .collect();
    dead.sort();
    assert_eq!(dead, [(0, "drop".into()), (1, "dlx".into())]);
    assert_eq!(
        m.stats(),
        Stats {
            maxlen: 3,
            dead_lettered: 2,
            ..Stats::default()
        }
    );
    // L5: an unacked delivery does not count.
    let held = m.basic_get(ch, "reject", false).unwrap().unwrap();
    assert_eq!(held.delivery.msg.id, 0);
    assert_eq!(
        m.publish(ch, "", "reject", false, 2),
        Ok(Published::Routed(1))
    );
}

/// SEMANTICS X5, X6: two queues that dead-letter expired messages to each other pass a message
/// round once; when it would return to a queue named in `x-death` without a rejection since,
/// it is dropped. A rejection in the cycle lets it go on: the recurring (queue, reason) counts
/// up and moves first, keeping the time of its first event.
#[test]
fn model_x5_x6_cycles_and_recurring_deaths() {
    let mut m = Model::at(990);
    let ch = m.open_channel();
    let to = |q: &str| QueueArgs {
        message_ttl: Some(10),
        ..dead_letters_to(q)
    };
    m.queue_declare_with(ch, "a", false, &to("b")).unwrap();
    m.queue_declare_with(ch, "b", false, &to("a")).unwrap();
    m.publish(ch, "", "a", false, 0).unwrap();
    m.advance(10);
    assert_eq!(m.queue_counts("b"), Some((1, 0)));
    m.advance(10);
    assert_eq!(m.queue_counts("a"), Some((0, 0)), "X6: dropped");
    assert_eq!(
        m.stats(),
        Stats {
            expired: 2,
            dead_lettered: 1,
            dead_dropped: 1,
            ..Stats::default()
        }
    );
    m.publish(ch, "", "a", false, 1).unwrap();
    m.advance(10);
    let got = m.basic_get(ch, "b", false).unwrap().unwrap();
    m.basic_reject(ch, got.delivery.tag, false).unwrap();
    assert_eq!(
        m.queue_counts("a"),
        Some((1, 0)),
        "rejected: no cycle check"
    );
    m.advance(1000);
    let d = get_msg(&mut m, ch, "b");
    let summary: Vec<(&str, Reason, i64, u64, &[String])> = d
        .deaths
        .iter()
        .map(|x| {
            (
                x.queue.as_str(),
                x.reason,
                x.count,
                x.time,
                x.routing_keys.as_slice(),
            )
        })
        .collect();
    let (ka, kb) = (["a".to_string()], ["b".to_string()]);
    assert_eq!(
        summary,
        [
            ("a", Reason::Expired, 2, 1, &ka[..]),
            ("b", Reason::Rejected, 1, 1, &kb[..])
        ]
    );
    let first = d.first_death.as_ref().map(|f| (f.queue.as_str(), f.reason));
    let last = d.last_death.as_ref().map(|f| (f.queue.as_str(), f.reason));
    assert_eq!(first, Some(("a", Reason::Expired)));
    assert_eq!(last, Some(("a", Reason::Expired)));
}

/// SEMANTICS L7, A5: higher priorities first, FIFO within one, missing = 0, above the maximum
/// = the maximum; a requeue regains its place within its level; a nack at the tail goes behind
/// its level. With `x-max-priority` 0 nothing is reordered.
#[test]
fn model_l7_priorities_and_requeue_within_a_level() {
    let mut m = Model::new();
    let ch = m.open_channel();
    let prio = |max| QueueArgs {
        max_priority: Some(max),
        ..QueueArgs::default()
    };
    m.queue_declare_with(ch, "p", false, &prio(2)).unwrap();
    m.queue_declare_with(ch, "flat", false, &prio(0)).unwrap();
    for (id, priority) in [
        (0, None),
        (1, Some(5)),
        (2, Some(1)),
        (3, Some(2)),
        (4, Some(0)),
    ] {
        let mut msg = Message::new(id);
        msg.priority = priority;
        msg.cc = Some(vec!["flat".into()]);
        m.publish_message(ch, "", "p", false, msg).unwrap();
    }
    let first = m.basic_get(ch, "p", false).unwrap().unwrap().delivery;
    let second = m.basic_get(ch, "p", false).unwrap().unwrap().delivery;
    assert_eq!((first.msg.id, second.msg.id), (1, 3));
    m.basic_nack(ch, second.tag, false, true).unwrap();
    m.basic_nack_with(ch, first.tag, false, true, true).unwrap();
    let order: Vec<u64> = (0..5).map(|_| get_msg(&mut m, ch, "p").id).collect();
    assert_eq!(order, [3, 1, 2, 0, 4]);
    let flat: Vec<u64> = (0..5).map(|_| get_msg(&mut m, ch, "flat").id).collect();
    assert_eq!(flat, [0, 1, 2, 3, 4]);
}

/// SEMANTICS D5: the highest-priority consumers with credit get messages, round-robin; a lower
/// one only while they are all blocked. D6: only the earliest registered consumer of a
/// single-active queue receives; when its channel closes the next one takes over and gets the
/// requeued delivery first (A5, A7: requeued at once), then the rest in order. The model notes
/// the engine's deviation B3 there.
#[test]
fn model_d5_consumer_priority_and_d6_single_active_takeover() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "p", false).unwrap();
    m.basic_qos(ch, 1, false).unwrap();
    let hi1 = m
        .basic_consume_with(ch, "p", "hi1", false, false, 1)
        .unwrap();
    let hi2 = m
        .basic_consume_with(ch, "p", "hi2", false, false, 1)
        .unwrap();
    m.basic_qos(ch, 0, false).unwrap();
    let lo = m
        .basic_consume_with(ch, "p", "lo", false, false, -1)
        .unwrap();
    for id in 0..4 {
        m.publish(ch, "", "p", false, id).unwrap();
    }
    let events = m.take_events();
    let to = |c: usize| -> Vec<u64> {
        events
            .iter()
            .filter(|(to, _)| *to == c)
            .filter_map(|(_, e)| match e {
                Event::Delivery(d) => Some(d.msg.id),
                Event::Ended(_) => None,
            })
            .collect()
    };
    assert_eq!((to(hi1), to(hi2), to(lo)), (vec![0], vec![1], vec![2, 3]));

    let sac = QueueArgs {
        single_active_consumer: Some(true),
        ..QueueArgs::default()
    };
    let ch1 = m.open_channel();
    let ch2 = m.open_channel();
    m.queue_declare_with(ch1, "s", false, &sac).unwrap();
    m.basic_qos(ch1, 1, false).unwrap();
    let first = m.basic_consume(ch1, "s", "first", false, false).unwrap();
    let next = m.basic_consume(ch2, "s", "next", false, false).unwrap();
    for id in 10..13 {
        m.publish(ch1, "", "s", false, id).unwrap();
    }
    assert_eq!(ids(&received(&mut m, first)), [10]);
    assert_eq!(m.queue_counts("s"), Some((2, 2)));
    m.close_channel(ch1);
    let got = received(&mut m, next);
    assert_eq!(ids(&got), [10, 11, 12]);
}

/// The delivery limit (SEMANTICS A10, "Beyond RabbitMQ"): a requeue that takes the failed
/// count above `x-delivery-limit` dead-letters the message as `delivery_limit` instead; a nack
/// with requeue counts as returned, not failed.
#[test]
fn model_delivery_limit() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "dlq", false).unwrap();
    let limited = QueueArgs {
        delivery_limit: Some(1),
        ..dead_letters_to("dlq")
    };
    m.queue_declare_with(ch, "q", false, &limited).unwrap();
    m.publish(ch, "", "q", false, 0).unwrap();
    let d = m.basic_get(ch, "q", false).unwrap().unwrap().delivery;
    m.basic_reject(ch, d.tag, true).unwrap();
    let d = m.basic_get(ch, "q", false).unwrap().unwrap().delivery;
    assert_eq!((d.failed, d.returned), (1, 0));
    m.basic_nack(ch, d.tag, false, true).unwrap();
    let d = m.basic_get(ch, "q", false).unwrap().unwrap().delivery;
    assert_eq!((d.failed, d.returned), (1, 1), "still within the limit");
    m.basic_reject(ch, d.tag, true).unwrap();
    assert_eq!(m.queue_counts("q"), Some((0, 0)));
    let dead = get_msg(&mut m, ch, "dlq");
    assert_eq!(
        (dead.deaths[0].queue.as_str(), dead.deaths[0].reason),
        ("q", Reason::DeliveryLimit)
    );
    assert_eq!(m.stats().delivery_limit, 1);
}

/// SEMANTICS L4, X2: a queue unused (no consumer, get or declare) for `x-expires` goes at the
/// timer, its messages not dead-lettered; a redeclare restarts the count, a consumer holds it,
/// and the count starts again when the last consumer goes.
#[test]
fn model_l4_x_expires() {
    let mut m = Model::new();
    let ch = m.open_channel();
    m.queue_declare(ch, "dlq", false).unwrap();
    let expires = QueueArgs {
        expires: Some(100),
        ..dead_letters_to("dlq")
    };
    m.queue_declare_with(ch, "q", false, &expires).unwrap();
    m.publish(ch, "", "q", false, 0).unwrap();
    m.advance(60);
    m.queue_declare_with(ch, "q", false, &expires).unwrap();
    m.advance(60);
    assert_eq!(m.queue_counts("q"), Some((1, 0)), "declared 60 ms ago");
    m.basic_consume(ch, "q", "c", false, false).unwrap();
    m.advance(500);
    assert_eq!(m.queue_counts("q"), Some((0, 1)), "a consumer holds it");
    m.basic_cancel(ch, "c").unwrap();
    m.basic_recover(ch).unwrap();
    m.advance(99);
    assert_eq!(m.queue_counts("q"), Some((1, 0)));
    m.advance(1);
    assert_eq!(m.queue_counts("q"), None);
    assert_eq!(m.queue_counts("dlq"), Some((0, 0)), "X2: not dead-lettered");
    assert_eq!(m.stats(), Stats::default());
}

/// SEMANTICS Q2, X1, L7: a redeclare must give the same limit arguments, an argument given on
/// one side only differing even at its default; invalid arguments are a 406.
#[test]
fn model_q2_redeclare_compares_limits() {
    let mut m = Model::new();
    let ch = m.open_channel();
    let one = QueueArgs {
        max_length: Some(1),
        ..QueueArgs::default()
    };
    m.queue_declare_with(ch, "q", false, &one).unwrap();
    assert_eq!(m.queue_declare_with(ch, "q", false, &one), Ok((0, 0)));
    assert_eq!(m.queue_declare(ch, "q", false), Err(ModelError::Amqp(406)));
    let ch = m.open_channel();
    let explicit = QueueArgs {
        overflow: Some(Overflow::DropHead),
        ..one.clone()
    };
    assert_eq!(
        m.queue_declare_with(ch, "q", false, &explicit),
        Err(ModelError::Amqp(406))
    );
    let ch = m.open_channel();
    let key_only = QueueArgs {
        dead_letter_routing_key: Some("k".into()),
        ..QueueArgs::default()
    };
    assert_eq!(
        m.queue_declare_with(ch, "new", false, &key_only),
        Err(ModelError::Amqp(406))
    );
    let ch = m.open_channel();
    let too_high = QueueArgs {
        max_priority: Some(256),
        ..QueueArgs::default()
    };
    assert_eq!(
        m.queue_declare_with(ch, "new", false, &too_high),
        Err(ModelError::Amqp(406))
    );
    assert_eq!(m.queue_counts("new"), None);
}
