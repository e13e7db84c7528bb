//! SEMANTICS L (lifetime and limits), X (dead-lettering), D5 and D6 (consumer priority, single
//! active consumer), the delivery limit on A10's counts, requeue at the tail, bad input, and
//! what of all this survives a restart (S6): one test per rule, named after it.
//!
//! Every broker runs on a manual clock starting at [`T0`]: `advance` runs the engine's timers
//! (message expiry, queue expiry, consumer timeouts) on the calling thread, so no test sleeps.
//! Deliveries are handed over inside the call that makes them possible, so mailboxes are read
//! with `try_recv` and never waited on. Counts are exact: [`Stats`] mirrors
//! `warren::broker::BrokerStats` so a whole snapshot is compared at once.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use warren::broker::{
    BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ExchangeDeclareOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use warren::clock::Clock;
use warren::message::{FieldTable, FieldValue};
use warren::route::ExchangeType;
use warren::store::StoreOptions;
use warren::{
    BasicProperties, Broker, BrokerOptions, Channel, Consumer, Delivery, Error, ErrorKind, Publish,
    Scope, Settled,
};

/// The manual clock's start, ms since the epoch (2023-11-14): `x-death` times are its seconds.
const T0: u64 = 1_700_000_000_000;

/// [`T0`] in seconds, as `x-death` records it.
const T0_S: u64 = T0 / 1000;

/// The longest a confirm wait may take: a guard against hangs, never a synchronisation.
const GUARD: Duration = Duration::from_secs(30);

// ----- helpers -----

/// An in-memory broker on a manual clock at [`T0`], consumer timeouts off.
fn broker() -> Broker {
    Broker::with_options(options(&Clock::manual(T0)))
}

fn options(clock: &Clock) -> BrokerOptions {
    BrokerOptions::default()
        .with_clock(clock.clone())
        .with_consumer_timeout(None)
}

/// A durable broker on `dir`, on `clock` (shared across reopens so time runs on).
fn open_at(dir: &Path, clock: &Clock) -> Broker {
    Broker::open_with(dir, options(clock), StoreOptions::default())
        .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

fn advance(b: &Broker, ms: u64) {
    b.clock()
        .advance(Duration::from_millis(ms))
        .expect("manual clock");
}

fn channel(b: &Broker) -> Channel {
    b.connect().create_channel().expect("open a channel")
}

fn no_args() -> FieldTable {
    FieldTable::new()
}

/// Dead-lettering through the default exchange to queue `dlq` (SEMANTICS X1, X3).
fn dlx_to(dlq: &str) -> FieldTable {
    FieldTable::new()
        .with("x-dead-letter-exchange", "")
        .with("x-dead-letter-routing-key", dlq)
}

/// `dlx_to(dlq)` plus `name = value`.
fn dlx_with(dlq: &str, name: &str, value: impl Into<FieldValue>) -> FieldTable {
    dlx_to(dlq).with(name, value)
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn declare(ch: &Channel, queue: &str, args: FieldTable) {
    ch.queue_declare(queue, QueueDeclareOptions::default(), &args)
        .unwrap_or_else(|e| panic!("declare {queue}: {e}"));
}

fn declare_durable(ch: &Channel, queue: &str, args: FieldTable) {
    ch.queue_declare(queue, durable(), &args)
        .unwrap_or_else(|e| panic!("declare {queue}: {e}"));
}

fn exchange(ch: &Channel, name: &str, kind: ExchangeType, args: FieldTable) {
    ch.exchange_declare(name, kind, ExchangeDeclareOptions::default(), &args)
        .unwrap_or_else(|e| panic!("declare exchange {name}: {e}"));
}

fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    ch.queue_bind(queue, exchange, key, &no_args())
        .unwrap_or_else(|e| panic!("bind {queue} to {exchange} with {key}: {e}"));
}

fn publish_to(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &str,
    props: BasicProperties,
) -> Publish {
    ch.basic_publish(
        exchange,
        key,
        BasicPublishOptions::default(),
        body.to_owned(),
        props,
    )
    .unwrap_or_else(|e| panic!("publish {body} to {exchange}/{key}: {e}"))
}

/// Publishes `body` to `queue` through the default exchange; it must be routed.
fn publish_props(ch: &Channel, queue: &str, body: &str, props: BasicProperties) {
    let r = publish_to(ch, "", queue, body, props);
    assert!(r.is_routed(), "{body} reached no queue: {r:?}");
}

fn publish(ch: &Channel, queue: &str, body: &str) {
    publish_props(ch, queue, body, BasicProperties::default());
}

/// Publishes `body` with per-message `expiration` (ms, SEMANTICS L1).
fn publish_exp(ch: &Channel, queue: &str, body: &str, expiration: &str) {
    publish_props(
        ch,
        queue,
        body,
        BasicProperties::default().with_expiration(expiration),
    );
}

fn publish_prio(ch: &Channel, queue: &str, body: &str, priority: Option<u8>) {
    let mut props = BasicProperties::default();
    props.priority = priority;
    publish_props(ch, queue, body, props);
}

/// Publishes `body` on a channel in confirm mode and returns its own outcome: `true` for an
/// ack, `false` for a nack (SEMANTICS C2, C3).
fn publish_confirmed(ch: &Channel, exchange: &str, key: &str, body: &str) -> bool {
    publish_confirmed_props(ch, exchange, key, body, BasicProperties::default())
}

fn publish_confirmed_props(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &str,
    props: BasicProperties,
) -> bool {
    let (_, confirmation) = ch
        .basic_publish_with_confirm(
            exchange,
            key,
            BasicPublishOptions::default(),
            body.to_owned(),
            props,
        )
        .unwrap_or_else(|e| panic!("publish {body}: {e}"));
    confirmation.wait(GUARD).expect("an outcome")
}

/// The head message for manual ack, if any (SEMANTICS D9).
fn get(ch: &Channel, queue: &str) -> Option<Delivery> {
    ch.basic_get(queue, BasicGetOptions::default())
        .unwrap_or_else(|e| panic!("get from {queue}: {e}"))
        .map(|m| m.delivery)
}

/// The head message, which must be there, for manual ack.
fn get_one(ch: &Channel, queue: &str) -> Delivery {
    get(ch, queue).unwrap_or_else(|| panic!("a ready message in {queue}"))
}

/// Takes every ready message of `queue` with no-ack gets, in order.
fn drain_deliveries(ch: &Channel, queue: &str) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue, BasicGetOptions { no_ack: true })
        .unwrap_or_else(|e| panic!("get from {queue}: {e}"))
    {
        out.push(m.delivery);
    }
    out
}

/// The bodies of every ready message of `queue`, taken in order.
fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    bodies(&drain_deliveries(ch, queue))
}

fn body(d: &Delivery) -> String {
    String::from_utf8(d.body().to_vec()).expect("utf-8 body")
}

fn bodies(ds: &[Delivery]) -> Vec<String> {
    ds.iter().map(body).collect()
}

fn ready(b: &Broker, queue: &str) -> usize {
    b.queue_counts(queue)
        .unwrap_or_else(|| panic!("queue {queue} exists"))
        .0
}

fn consume(ch: &Channel, queue: &str) -> Consumer {
    consume_args(ch, queue, &no_args())
}

fn consume_args(ch: &Channel, queue: &str, args: &FieldTable) -> Consumer {
    ch.basic_consume(queue, "", BasicConsumeOptions::default(), args)
        .unwrap_or_else(|e| panic!("consume {queue}: {e}"))
}

fn qos(ch: &Channel, prefetch: u16) {
    ch.basic_qos(prefetch, BasicQosOptions::default())
        .expect("basic_qos");
}

/// The delivery already waiting in `c`'s mailbox.
fn take(c: &Consumer) -> Delivery {
    c.try_recv()
        .expect("the consumer is live")
        .expect("a delivery is waiting")
}

/// Every delivery waiting in `c`'s mailbox.
fn take_all(c: &Consumer) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Some(d) = c.try_recv().expect("the consumer is live") {
        out.push(d);
    }
    out
}

#[track_caller]
fn assert_idle(c: &Consumer) {
    let got = c.try_recv().expect("the consumer is live");
    assert!(
        got.is_none(),
        "no delivery expected, got {:?}",
        got.map(|d| body(&d))
    );
}

fn requeue() -> BasicNackOptions {
    BasicNackOptions {
        requeue: true,
        ..Default::default()
    }
}

fn requeue_at_tail() -> BasicNackOptions {
    BasicNackOptions {
        requeue: true,
        at_tail: true,
        ..Default::default()
    }
}

fn reject_requeue(d: &Delivery) {
    assert_eq!(
        d.reject(BasicRejectOptions { requeue: true }),
        Ok(Settled::Done)
    );
}

fn reject_drop(d: &Delivery) {
    assert_eq!(
        d.reject(BasicRejectOptions { requeue: false }),
        Ok(Settled::Done)
    );
}

/// The error of a call that must fail.
fn fails<T: std::fmt::Debug, E: Into<Error>>(r: Result<T, E>) -> Error {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.into(),
    }
}

#[track_caller]
fn assert_amqp(err: &Error, code: u16, scope: Scope) {
    assert_eq!(
        (err.kind(), err.reply_code(), err.scope()),
        (ErrorKind::Amqp, Some(code), scope),
        "{err}"
    );
}

/// A snapshot of `BrokerStats`, comparable as a whole (the original is `non_exhaustive`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Stats {
    unroutable: u64,
    rejected: u64,
    expired: u64,
    maxlen: u64,
    delivery_limit: u64,
    dead_lettered: u64,
    dead_dropped: u64,
}

fn stats(b: &Broker) -> Stats {
    let s = b.stats();
    Stats {
        unroutable: s.unroutable,
        rejected: s.rejected,
        expired: s.expired,
        maxlen: s.maxlen,
        delivery_limit: s.delivery_limit,
        dead_lettered: s.dead_lettered,
        dead_dropped: s.dead_dropped,
    }
}

fn header<'d>(d: &'d Delivery, name: &str) -> Option<&'d FieldValue> {
    d.properties().headers.as_ref().and_then(|h| h.get(name))
}

fn header_str(d: &Delivery, name: &str) -> Option<String> {
    header(d, name).map(|v| {
        v.as_str()
            .unwrap_or_else(|| panic!("header {name} is a string, got {v:?}"))
            .to_owned()
    })
}

fn delivery_count(d: &Delivery) -> Option<i64> {
    header(d, "x-delivery-count").map(|v| {
        v.as_i64()
            .unwrap_or_else(|| panic!("x-delivery-count is an integer, got {v:?}"))
    })
}

/// One `x-death` table (SEMANTICS X5).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Death {
    queue: String,
    reason: String,
    count: i64,
    /// Seconds since the epoch.
    time: u64,
    exchange: String,
    routing_keys: Vec<String>,
    original_expiration: Option<String>,
}

fn death(queue: &str, reason: &str, count: i64, time: u64, exchange: &str, keys: &[&str]) -> Death {
    Death {
        queue: queue.into(),
        reason: reason.into(),
        count,
        time,
        exchange: exchange.into(),
        routing_keys: keys.iter().map(|k| k.to_string()).collect(),
        original_expiration: None,
    }
}

/// The `x-death` history of `d`, newest first; every table must hold exactly X5's fields,
/// with their types.
fn deaths(d: &Delivery) -> Vec<Death> {
    let Some(history) = header(d, "x-death") else {
        return Vec::new();
    };
    let history = history
        .as_array()
        .unwrap_or_else(|| panic!("x-death is an array, got {history:?}"));
    history
        .iter()
        .map(|v| {
            let t = v
                .as_table()
                .unwrap_or_else(|| panic!("an x-death entry is a table, got {v:?}"));
            let s = |name: &str| {
                t.get(name)
                    .and_then(FieldValue::as_str)
                    .unwrap_or_else(|| panic!("x-death field {name} is a string in {t:?}"))
                    .to_owned()
            };
            let time = match t.get("time") {
                Some(FieldValue::Timestamp(s)) => *s,
                other => panic!("x-death time is a timestamp, got {other:?}"),
            };
            let routing_keys = t
                .get("routing-keys")
                .and_then(FieldValue::as_array)
                .unwrap_or_else(|| panic!("x-death routing-keys is an array in {t:?}"))
                .iter()
                .map(|k| k.as_str().expect("a string routing key").to_owned())
                .collect();
            let original_expiration = t
                .get("original-expiration")
                .map(|v| v.as_str().expect("a string expiration").to_owned());
            let mut names: Vec<&str> = t.iter().map(|(n, _)| n).collect();
            names.retain(|n| *n != "original-expiration");
            assert_eq!(
                names,
                [
                    "count",
                    "exchange",
                    "queue",
                    "reason",
                    "routing-keys",
                    "time"
                ],
                "X5's fields, no others"
            );
            Death {
                queue: s("queue"),
                reason: s("reason"),
                count: t
                    .get("count")
                    .and_then(FieldValue::as_i64)
                    .expect("an integer count"),
                time,
                exchange: s("exchange"),
                routing_keys,
                original_expiration,
            }
        })
        .collect()
}

/// The reason of the newest death of `d`.
fn last_reason(d: &Delivery) -> String {
    header_str(d, "x-last-death-reason").expect("x-last-death-reason")
}

/// Declares `queue` with `args` on a fresh channel and expects a 406 naming `name`, nothing
/// declared.
#[track_caller]
fn assert_refused_406(b: &Broker, queue: &str, args: &FieldTable, name: &str) {
    let ch = channel(b);
    let err = fails(ch.queue_declare(queue, QueueDeclareOptions::default(), args));
    assert_amqp(&err, 406, Scope::Channel);
    assert!(
        err.text().contains(name),
        "the error names {name}: {err} (arguments {args:?})"
    );
    assert!(!ch.is_open(), "a 406 closes the channel");
    assert_eq!(b.queue_counts(queue), None, "nothing declared for {args:?}");
}

// ----- L1: message TTL -----

#[test]
fn l1_queue_ttl_expires_message() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l1", FieldTable::new().with("x-message-ttl", 1000i32));
    publish(&ch, "l1", "m0");
    advance(&b, 999);
    assert_eq!(ready(&b, "l1"), 1);
    advance(&b, 1);
    assert_eq!(ready(&b, "l1"), 0, "expired at entry + TTL");
    assert!(get(&ch, "l1").is_none());
    assert_eq!(
        stats(&b),
        Stats {
            expired: 1,
            dead_dropped: 1, // no dead-letter exchange
            ..Stats::default()
        }
    );
}

#[test]
fn l1_per_message_expiration_expires_message() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l1-exp", no_args());
    publish_exp(&ch, "l1-exp", "short", "500");
    publish(&ch, "l1-exp", "forever");
    advance(&b, 499);
    assert_eq!(ready(&b, "l1-exp"), 2);
    advance(&b, 1);
    assert_eq!(ready(&b, "l1-exp"), 1);
    assert_eq!(drain(&ch, "l1-exp"), ["forever"]);
    assert_eq!(stats(&b).expired, 1);
}

#[test]
fn l1_the_lower_of_queue_ttl_and_expiration_wins_both_ways() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l1-q-long",
        FieldTable::new().with("x-message-ttl", 1000i32),
    );
    declare(
        &ch,
        "l1-q-short",
        FieldTable::new().with("x-message-ttl", 300i32),
    );
    publish_exp(&ch, "l1-q-long", "msg-short", "300");
    publish_exp(&ch, "l1-q-short", "msg-long", "1000");
    advance(&b, 299);
    assert_eq!(ready(&b, "l1-q-long"), 1);
    assert_eq!(ready(&b, "l1-q-short"), 1);
    advance(&b, 1);
    assert_eq!(
        ready(&b, "l1-q-long"),
        0,
        "the message's 300 ms beats the queue's 1000"
    );
    assert_eq!(
        ready(&b, "l1-q-short"),
        0,
        "the queue's 300 ms beats the message's 1000"
    );
    assert_eq!(stats(&b).expired, 2);
}

#[test]
fn l1_each_queue_copy_expires_on_its_own() {
    let b = broker();
    let ch = channel(&b);
    exchange(&ch, "l1-fan", ExchangeType::Fanout, no_args());
    declare(
        &ch,
        "l1-fast",
        FieldTable::new().with("x-message-ttl", 100i32),
    );
    declare(
        &ch,
        "l1-slow",
        FieldTable::new().with("x-message-ttl", 1000i32),
    );
    declare(&ch, "l1-none", no_args());
    for q in ["l1-fast", "l1-slow", "l1-none"] {
        bind(&ch, q, "l1-fan", "");
    }
    let r = publish_to(&ch, "l1-fan", "", "m0", BasicProperties::default());
    assert!(matches!(r, Publish::Routed { queues: 3 }), "{r:?}");
    advance(&b, 100);
    assert_eq!(
        [
            ready(&b, "l1-fast"),
            ready(&b, "l1-slow"),
            ready(&b, "l1-none")
        ],
        [0, 1, 1]
    );
    advance(&b, 900);
    assert_eq!(
        [
            ready(&b, "l1-fast"),
            ready(&b, "l1-slow"),
            ready(&b, "l1-none")
        ],
        [0, 0, 1]
    );
    let kept = drain_deliveries(&ch, "l1-none");
    assert_eq!(bodies(&kept), ["m0"]);
    assert_eq!(kept[0].properties().expiration, None);
    assert_eq!(stats(&b).expired, 2, "one death per queue copy");
}

#[test]
fn l1_a_requeue_keeps_the_original_expiry() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l1-requeue",
        FieldTable::new().with("x-message-ttl", 1000i32),
    );
    publish(&ch, "l1-requeue", "m0");
    let d = get_one(&ch, "l1-requeue");
    advance(&b, 600);
    assert_eq!(d.nack(requeue()), Ok(Settled::Done));
    assert_eq!(ready(&b, "l1-requeue"), 1);
    advance(&b, 399);
    assert_eq!(ready(&b, "l1-requeue"), 1);
    advance(&b, 1);
    assert_eq!(
        ready(&b, "l1-requeue"),
        0,
        "expired 1000 ms after it first entered, not after the requeue"
    );
    assert_eq!(stats(&b).expired, 1);
}

#[test]
fn l1_unacked_deliveries_never_expire() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l1-unacked",
        dlx_with("l1-unacked-dlq", "x-message-ttl", 100i32),
    );
    declare(&ch, "l1-unacked-dlq", no_args());
    let c = consume(&ch, "l1-unacked");
    publish(&ch, "l1-unacked", "held");
    publish(&ch, "l1-unacked", "late");
    let held = take(&c);
    let late = take(&c);
    advance(&b, 10_000);
    assert_eq!(stats(&b).expired, 0, "nothing unacked expires");
    assert_eq!(held.ack(), Ok(Settled::Done));
    // A requeue keeps the expiry, long past: it dies on its way back, never delivered again.
    assert_eq!(late.nack(requeue()), Ok(Settled::Done));
    assert_idle(&c);
    assert_eq!(ready(&b, "l1-unacked"), 0);
    assert_eq!(drain(&ch, "l1-unacked-dlq"), ["late"]);
    assert_eq!(
        stats(&b),
        Stats {
            expired: 1,
            dead_lettered: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn l1_an_invalid_expiration_is_406_at_publish_routing_nothing() {
    let b = broker();
    declare(&channel(&b), "l1-invalid", no_args());
    for bad in [
        "-1",
        "abc",
        "1.5",
        "",
        " 5",
        "315360000001",
        "99999999999999999999",
    ] {
        let ch = channel(&b);
        let err = fails(ch.basic_publish(
            "",
            "l1-invalid",
            BasicPublishOptions::default(),
            "m",
            BasicProperties::default().with_expiration(bad),
        ));
        assert_amqp(&err, 406, Scope::Channel);
        assert!(err.text().contains("expiration"), "{bad:?}: {err}");
        assert!(!ch.is_open());
    }
    assert_eq!(ready(&b, "l1-invalid"), 0, "nothing routed");
    let ch = channel(&b);
    publish_exp(&ch, "l1-invalid", "max", "315360000000");
    publish_exp(&ch, "l1-invalid", "zero", "0"); // no consumer: expired at once (L3)
    assert_eq!(drain(&ch, "l1-invalid"), ["max"]);
}

// ----- L2: expiry at the head -----

#[test]
fn l2_the_timer_expires_the_head_and_dead_letters_it() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l2", dlx_with("l2-dlq", "x-message-ttl", 1000i32));
    declare(&ch, "l2-dlq", no_args());
    publish(&ch, "l2", "m0");
    advance(&b, 999);
    assert_eq!((ready(&b, "l2"), ready(&b, "l2-dlq")), (1, 0));
    advance(&b, 1); // no consumer, no get: the engine's own timer
    assert_eq!((ready(&b, "l2"), ready(&b, "l2-dlq")), (0, 1));
    let dead = drain_deliveries(&ch, "l2-dlq");
    assert_eq!(bodies(&dead), ["m0"]);
    assert_eq!(last_reason(&dead[0]), "expired");
    assert_eq!(
        stats(&b),
        Stats {
            expired: 1,
            dead_lettered: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn l2_an_expired_message_behind_a_live_head_waits_until_it_reaches_the_head() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l2-behind", dlx_to("l2-behind-dlq"));
    declare(&ch, "l2-behind-dlq", no_args());
    publish_exp(&ch, "l2-behind", "long", "10000");
    publish_exp(&ch, "l2-behind", "short", "100");
    advance(&b, 200);
    assert_eq!(
        ready(&b, "l2-behind"),
        2,
        "it waits behind the head, counted"
    );
    assert_eq!(ready(&b, "l2-behind-dlq"), 0);
    assert_eq!(stats(&b).expired, 0);
    let head = get_one(&ch, "l2-behind");
    assert_eq!(body(&head), "long");
    // Now at the head and past its time: it dies instead of being delivered.
    assert!(get(&ch, "l2-behind").is_none());
    assert_eq!(ready(&b, "l2-behind"), 0);
    let dead = drain_deliveries(&ch, "l2-behind-dlq");
    assert_eq!(bodies(&dead), ["short"]);
    assert_eq!(dead[0].properties().expiration, None, "X4");
    let mut expected = death("l2-behind", "expired", 1, T0_S, "", &["l2-behind"]);
    expected.original_expiration = Some("100".into());
    assert_eq!(deaths(&dead[0]), [expected]);
    assert_eq!(stats(&b).expired, 1);
}

#[test]
fn l2_expired_messages_are_never_delivered() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l2-never", no_args());
    publish(&ch, "l2-never", "live0");
    publish_exp(&ch, "l2-never", "dead", "100");
    publish(&ch, "l2-never", "live1");
    advance(&b, 100);
    // "dead" is still queued behind live0; a consumer arriving now never sees it.
    let c = consume(&ch, "l2-never");
    assert_eq!(bodies(&take_all(&c)), ["live0", "live1"]);
    assert_eq!(ready(&b, "l2-never"), 0);
    c.cancel().unwrap();
    // Nor does a get.
    publish_exp(&ch, "l2-never", "late", "100");
    advance(&b, 100);
    assert!(get(&ch, "l2-never").is_none());
    assert_eq!(stats(&b).expired, 2);
}

// ----- L3: TTL 0 -----

#[test]
fn l3_ttl_0_is_delivered_to_a_waiting_consumer_with_credit() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l3", dlx_with("l3-dlq", "x-message-ttl", 0i32));
    declare(&ch, "l3-dlq", no_args());
    declare(&ch, "l3-exp", no_args());
    let c = consume(&ch, "l3");
    let c_exp = consume(&ch, "l3-exp");
    publish(&ch, "l3", "queue-ttl-0");
    publish_exp(&ch, "l3-exp", "expiration-0", "0");
    assert_eq!(bodies(&take_all(&c)), ["queue-ttl-0"]);
    assert_eq!(bodies(&take_all(&c_exp)), ["expiration-0"]);
    assert_eq!(ready(&b, "l3-dlq"), 0);
    assert_eq!(stats(&b), Stats::default());
}

#[test]
fn l3_ttl_0_expires_at_once_without_a_consumer_that_can_take_it_never_returned() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l3-once",
        dlx_with("l3-once-dlq", "x-message-ttl", 0i32),
    );
    declare(&ch, "l3-once-dlq", no_args());
    let returns = Arc::new(AtomicUsize::new(0));
    let seen = returns.clone();
    ch.on_return(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    // No consumer at all: expired on arrival, with no clock move. Mandatory, yet not returned:
    // a queue took it.
    let r = ch
        .basic_publish(
            "",
            "l3-once",
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            "alone",
            BasicProperties::default(),
        )
        .unwrap();
    assert!(r.is_routed(), "{r:?}");
    assert_eq!(returns.load(Ordering::SeqCst), 0);
    assert_eq!(ready(&b, "l3-once"), 0);
    assert_eq!(ready(&b, "l3-once-dlq"), 1);
    // A consumer without credit cannot take it either.
    qos(&ch, 1);
    let c = consume(&ch, "l3-once");
    publish(&ch, "l3-once", "taken");
    let taken = take(&c);
    publish(&ch, "l3-once", "no-credit");
    assert_eq!(ready(&b, "l3-once"), 0);
    assert_eq!(taken.ack(), Ok(Settled::Done));
    assert_idle(&c);
    let dead = drain_deliveries(&ch, "l3-once-dlq");
    assert_eq!(bodies(&dead), ["alone", "no-credit"]);
    assert!(dead.iter().all(|d| last_reason(d) == "expired"));
    assert_eq!(
        stats(&b),
        Stats {
            expired: 2,
            dead_lettered: 2,
            ..Stats::default()
        }
    );
}

#[test]
fn l3_a_requeued_ttl_0_message_expires_at_once() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l3-requeue",
        dlx_with("l3-requeue-dlq", "x-message-ttl", 0i32),
    );
    declare(&ch, "l3-requeue-dlq", no_args());
    let c = consume(&ch, "l3-requeue");
    publish(&ch, "l3-requeue", "m0");
    let d = take(&c);
    assert_eq!(d.nack(requeue()), Ok(Settled::Done));
    assert_idle(&c);
    assert_eq!(ready(&b, "l3-requeue"), 0);
    assert_eq!(drain(&ch, "l3-requeue-dlq"), ["m0"]);
    assert_eq!(stats(&b).expired, 1);
}

// ----- L4: queue expiry -----

#[test]
fn l4_an_unused_queue_is_deleted_after_x_expires_its_messages_not_dead_lettered() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l4", dlx_with("l4-dlq", "x-expires", 1000i32));
    declare(&ch, "l4-dlq", no_args());
    publish(&ch, "l4", "m0");
    publish(&ch, "l4", "m1"); // a publish is no use (SEMANTICS L4)
    advance(&b, 999);
    assert_eq!(b.queue_counts("l4"), Some((2, 0)));
    advance(&b, 1);
    assert_eq!(b.queue_counts("l4"), None);
    assert_eq!(ready(&b, "l4-dlq"), 0);
    assert_eq!(stats(&b), Stats::default());
    let err = fails(channel(&b).basic_get("l4", BasicGetOptions::default()));
    assert_amqp(&err, 404, Scope::Channel);
}

#[test]
fn l4_a_consumer_keeps_the_queue_alive() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l4-consumed",
        FieldTable::new().with("x-expires", 1000i32),
    );
    let c = consume(&ch, "l4-consumed");
    advance(&b, 10_000);
    assert_eq!(b.queue_counts("l4-consumed"), Some((0, 1)));
    c.cancel().unwrap();
    // Unused from the cancel on.
    advance(&b, 999);
    assert_eq!(b.queue_counts("l4-consumed"), Some((0, 0)));
    advance(&b, 1);
    assert_eq!(b.queue_counts("l4-consumed"), None);
}

#[test]
fn l4_declare_and_get_reset_the_idle_time() {
    let b = broker();
    let ch = channel(&b);
    let args = FieldTable::new().with("x-expires", 1000i32);
    declare(&ch, "l4-reset", args.clone());
    advance(&b, 600);
    declare(&ch, "l4-reset", args); // redeclare: a use
    advance(&b, 600);
    assert!(
        b.queue_counts("l4-reset").is_some(),
        "1200 ms after creation, 600 unused"
    );
    assert!(get(&ch, "l4-reset").is_none()); // a get, even an empty one: a use
    advance(&b, 999);
    assert!(b.queue_counts("l4-reset").is_some());
    advance(&b, 1);
    assert_eq!(b.queue_counts("l4-reset"), None);
}

// ----- L5: length limits -----

#[test]
fn l5_x_max_length_counts_ready_messages_only() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l5", FieldTable::new().with("x-max-length", 2i32));
    qos(&ch, 1);
    let c = consume(&ch, "l5");
    publish(&ch, "l5", "m0"); // unacked: not counted
    publish(&ch, "l5", "m1");
    publish(&ch, "l5", "m2");
    assert_eq!(ready(&b, "l5"), 2);
    assert_eq!(stats(&b).maxlen, 0);
    publish(&ch, "l5", "m3"); // a third ready one: the oldest ready goes
    assert_eq!(ready(&b, "l5"), 2);
    assert_eq!(stats(&b).maxlen, 1);
    let held = take(&c);
    assert_eq!(body(&held), "m0");
    assert_eq!(held.ack(), Ok(Settled::Done));
    assert_eq!(body(&take(&c)), "m2");
    assert_eq!(drain(&channel(&b), "l5"), ["m3"]);
}

#[test]
fn l5_x_max_length_bytes_counts_body_bytes_of_ready_messages_only() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l5-bytes",
        FieldTable::new().with("x-max-length-bytes", 10i32),
    );
    qos(&ch, 1);
    let c = consume(&ch, "l5-bytes");
    publish(&ch, "l5-bytes", "0123456789"); // 10 bytes, unacked: not counted
    let _held = take(&c);
    // Properties and headers do not count, only bodies.
    let heavy = BasicProperties::default()
        .with_headers(FieldTable::new().with("padding", "x".repeat(1000)))
        .with_message_id("a-long-message-id-that-is-no-body");
    publish_props(&ch, "l5-bytes", "aaaa", heavy.clone());
    publish_props(&ch, "l5-bytes", "bbbb", heavy);
    publish(&ch, "l5-bytes", "cc"); // 10 bytes ready: at the limit, within it
    assert_eq!(ready(&b, "l5-bytes"), 3);
    assert_eq!(stats(&b).maxlen, 0);
    publish(&ch, "l5-bytes", "d"); // 11: the head goes
    assert_eq!(stats(&b).maxlen, 1);
    assert_eq!(drain(&channel(&b), "l5-bytes"), ["bbbb", "cc", "d"]);
}

#[test]
fn l5_both_limits_are_each_enforced() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l5-both",
        FieldTable::new()
            .with("x-max-length", 3i32)
            .with("x-max-length-bytes", 6i32),
    );
    for m in ["aa", "bb", "cc"] {
        publish(&ch, "l5-both", m);
    }
    assert_eq!(ready(&b, "l5-both"), 3);
    publish(&ch, "l5-both", "d"); // 4 messages > 3: drop aa
    assert_eq!(stats(&b).maxlen, 1);
    publish(&ch, "l5-both", "eeee"); // 4 messages: drop bb; then 7 bytes > 6: drop cc
    assert_eq!(stats(&b).maxlen, 3);
    assert_eq!(drain(&ch, "l5-both"), ["d", "eeee"]);
}

#[test]
fn l5_x_max_length_0_keeps_nothing_ready() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l5-zero", FieldTable::new().with("x-max-length", 0i32));
    publish(&ch, "l5-zero", "dropped");
    assert_eq!(ready(&b, "l5-zero"), 0);
    assert_eq!(stats(&b).maxlen, 1);
    // A consumer with credit takes it on arrival: it is never ready.
    let c = consume(&ch, "l5-zero");
    publish(&ch, "l5-zero", "taken");
    assert_eq!(bodies(&take_all(&c)), ["taken"]);
    assert_eq!(stats(&b).maxlen, 1);
}

// ----- L6: overflow -----

#[test]
fn l6_drop_head_drops_the_oldest_and_dead_letters_it_as_maxlen() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l6", dlx_with("l6-dlq", "x-max-length", 2i32));
    declare(&ch, "l6-dlq", no_args());
    for i in 0..5 {
        publish(&ch, "l6", &format!("m{i}"));
    }
    assert_eq!(drain(&ch, "l6"), ["m3", "m4"]);
    let dead = drain_deliveries(&ch, "l6-dlq");
    assert_eq!(bodies(&dead), ["m0", "m1", "m2"]);
    for d in &dead {
        assert_eq!(last_reason(d), "maxlen");
        assert_eq!(header_str(d, "x-last-death-queue").as_deref(), Some("l6"));
    }
    assert_eq!(
        stats(&b),
        Stats {
            maxlen: 3,
            dead_lettered: 3,
            ..Stats::default()
        }
    );
}

#[test]
fn l6_drop_head_is_the_default_and_can_be_named() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l6-named",
        FieldTable::new()
            .with("x-max-length", 1i32)
            .with("x-overflow", "drop-head"),
    );
    publish(&ch, "l6-named", "old");
    publish(&ch, "l6-named", "new");
    assert_eq!(drain(&ch, "l6-named"), ["new"]);
}

#[test]
fn l6_reject_publish_refuses_nacks_and_other_targets_keep_it() {
    let b = broker();
    let ch = channel(&b);
    exchange(&ch, "l6-fan", ExchangeType::Fanout, no_args());
    let mut full = dlx_with("l6-rp-dlq", "x-max-length", 1i32);
    full.insert("x-overflow", "reject-publish");
    declare(&ch, "l6-rp", full);
    declare(&ch, "l6-rp-other", no_args());
    declare(&ch, "l6-rp-dlq", no_args());
    bind(&ch, "l6-rp", "l6-fan", "");
    bind(&ch, "l6-rp-other", "l6-fan", "");
    ch.confirm_select().unwrap();
    assert!(publish_confirmed(&ch, "l6-fan", "", "m0"), "room: acked");
    assert!(
        !publish_confirmed(&ch, "l6-fan", "", "m1"),
        "refused: nacked"
    );
    assert_eq!(ready(&b, "l6-rp"), 1);
    assert_eq!(ready(&b, "l6-rp-other"), 2, "the other target took it");
    assert_eq!(
        ready(&b, "l6-rp-dlq"),
        0,
        "reject-publish dead-letters nothing"
    );
    // Only the full queue as target: still nacked, and not returned though mandatory.
    let r = ch
        .basic_publish(
            "",
            "l6-rp",
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            "m2",
            BasicProperties::default(),
        )
        .unwrap();
    assert!(
        !matches!(r, Publish::Returned(_) | Publish::Unroutable),
        "{r:?}"
    );
    assert_eq!(ch.wait_for_confirms(GUARD), Ok(false));
    // Room again after a get: accepted.
    assert_eq!(drain(&ch, "l6-rp"), ["m0"]);
    assert!(publish_confirmed(&ch, "", "l6-rp", "m3"));
    assert_eq!(drain(&ch, "l6-rp"), ["m3"]);
    assert_eq!(drain(&ch, "l6-rp-other"), ["m0", "m1"]);
    assert_eq!(stats(&b).dead_lettered, 0);
}

#[test]
fn l6_reject_publish_counts_ready_messages_only() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l6-rp-ready",
        FieldTable::new()
            .with("x-max-length", 1i32)
            .with("x-overflow", "reject-publish"),
    );
    ch.confirm_select().unwrap();
    qos(&ch, 1);
    let c = consume(&ch, "l6-rp-ready");
    assert!(publish_confirmed(&ch, "", "l6-rp-ready", "m0")); // delivered, unacked
    assert!(publish_confirmed(&ch, "", "l6-rp-ready", "m1")); // the one ready
    assert!(!publish_confirmed(&ch, "", "l6-rp-ready", "m2"));
    assert_eq!(body(&take(&c)), "m0");
    assert_idle(&c);
    assert_eq!(ready(&b, "l6-rp-ready"), 1);
}

#[test]
fn l6_reject_publish_dlx_refuses_and_dead_letters_as_maxlen() {
    let b = broker();
    let ch = channel(&b);
    let mut args = dlx_with("l6-rpd-dlq", "x-max-length", 1i32);
    args.insert("x-overflow", "reject-publish-dlx");
    declare(&ch, "l6-rpd", args);
    declare(&ch, "l6-rpd-dlq", no_args());
    ch.confirm_select().unwrap();
    assert!(publish_confirmed(&ch, "", "l6-rpd", "m0"));
    assert!(!publish_confirmed(&ch, "", "l6-rpd", "m1"));
    assert_eq!(
        drain(&ch, "l6-rpd"),
        ["m0"],
        "the newcomer is refused, the head kept"
    );
    let dead = drain_deliveries(&ch, "l6-rpd-dlq");
    assert_eq!(bodies(&dead), ["m1"]);
    assert_eq!(last_reason(&dead[0]), "maxlen");
    assert_eq!(
        deaths(&dead[0]),
        [death("l6-rpd", "maxlen", 1, T0_S, "", &["l6-rpd"])]
    );
    assert_eq!(
        stats(&b),
        Stats {
            maxlen: 1,
            dead_lettered: 1,
            ..Stats::default()
        }
    );
}

// ----- L7: message priorities -----

#[test]
fn l7_higher_priority_first_fifo_within_a_level_clamped_missing_is_0() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l7", FieldTable::new().with("x-max-priority", 10i32));
    for (m, p) in [
        ("a", Some(0)),
        ("b", Some(5)),
        ("c", Some(5)),
        ("d", None),
        ("e", Some(10)),
        ("f", Some(200)), // above the max: as 10
        ("g", Some(1)),
        ("h", Some(11)), // above the max: as 10
    ] {
        publish_prio(&ch, "l7", m, p);
    }
    assert_eq!(drain(&ch, "l7"), ["e", "f", "h", "b", "c", "g", "a", "d"]);
}

#[test]
fn l7_without_x_max_priority_or_with_0_nothing_is_reordered() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "l7-plain", no_args());
    declare(
        &ch,
        "l7-zero",
        FieldTable::new().with("x-max-priority", 0i32),
    );
    for q in ["l7-plain", "l7-zero"] {
        for (m, p) in [
            ("a", Some(1)),
            ("b", Some(9)),
            ("c", None),
            ("d", Some(255)),
        ] {
            publish_prio(&ch, q, m, p);
        }
        assert_eq!(drain(&ch, q), ["a", "b", "c", "d"], "{q}");
    }
}

#[test]
fn l7_priority_orders_what_a_consumer_receives_when_credit_returns() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l7-consumer",
        FieldTable::new().with("x-max-priority", 3i32),
    );
    qos(&ch, 1);
    let c = consume(&ch, "l7-consumer");
    publish_prio(&ch, "l7-consumer", "first", Some(0)); // straight to the consumer
    publish_prio(&ch, "l7-consumer", "low", Some(1));
    publish_prio(&ch, "l7-consumer", "high", Some(3));
    let mut got = Vec::new();
    for _ in 0..3 {
        let d = take(&c);
        got.push(body(&d));
        d.ack().unwrap();
    }
    assert_eq!(got, ["first", "high", "low"]);
}

#[test]
fn l7_a5_requeue_in_a_priority_queue_returns_to_its_place_within_its_level() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l7-requeue",
        FieldTable::new().with("x-max-priority", 5i32),
    );
    publish_prio(&ch, "l7-requeue", "a1", Some(1));
    publish_prio(&ch, "l7-requeue", "b5", Some(5));
    publish_prio(&ch, "l7-requeue", "c5", Some(5));
    publish_prio(&ch, "l7-requeue", "d1", Some(1));
    let b5 = get_one(&ch, "l7-requeue");
    let c5 = get_one(&ch, "l7-requeue");
    let a1 = get_one(&ch, "l7-requeue");
    assert_eq!(bodies(&[b5, c5, a1]), ["b5", "c5", "a1"]);
    publish_prio(&ch, "l7-requeue", "e5", Some(5));
    publish_prio(&ch, "l7-requeue", "f1", Some(1));
    // Requeue all three: each goes back ahead of what entered its level after it.
    ch.basic_nack(
        warren::DeliveryTag::new(3),
        BasicNackOptions {
            multiple: true,
            requeue: true,
            at_tail: false,
        },
    )
    .unwrap();
    let all = drain_deliveries(&ch, "l7-requeue");
    assert_eq!(bodies(&all), ["b5", "c5", "e5", "a1", "d1", "f1"]);
    let redelivered: Vec<bool> = all.iter().map(Delivery::redelivered).collect();
    assert_eq!(redelivered, [true, true, false, true, false, false]);
}

// ----- X1: dead-letter arguments -----

#[test]
fn x1_a_dead_letter_routing_key_without_exchange_is_406() {
    let b = broker();
    let args = FieldTable::new().with("x-dead-letter-routing-key", "dlq");
    assert_refused_406(&b, "x1-key-only", &args, "x-dead-letter-routing-key");
}

#[test]
fn x1_the_dead_letter_exchange_need_not_exist() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "x1",
        FieldTable::new().with("x-dead-letter-exchange", "x1-later"),
    );
    publish(&ch, "x1", "m0");
    reject_drop(&get_one(&ch, "x1"));
    assert_eq!(
        stats(&b),
        Stats {
            rejected: 1,
            dead_dropped: 1,
            ..Stats::default()
        },
        "a missing dead-letter exchange drops it, counted"
    );
    // Declared later, it takes the next one.
    exchange(&ch, "x1-later", ExchangeType::Fanout, no_args());
    declare(&ch, "x1-dlq", no_args());
    bind(&ch, "x1-dlq", "x1-later", "");
    publish(&ch, "x1", "m1");
    reject_drop(&get_one(&ch, "x1"));
    let dead = drain_deliveries(&ch, "x1-dlq");
    assert_eq!(bodies(&dead), ["m1"]);
    assert_eq!(dead[0].exchange(), "x1-later");
    assert_eq!(
        dead[0].routing_key(),
        "x1",
        "no dead-letter key: the original key"
    );
    assert_eq!(
        stats(&b),
        Stats {
            rejected: 2,
            dead_lettered: 1,
            dead_dropped: 1,
            ..Stats::default()
        }
    );
}

// ----- X2: triggers -----

#[test]
fn x2_reject_and_nack_without_requeue_dead_letter_as_rejected() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "x2-rej", dlx_to("x2-rej-dlq"));
    declare(&ch, "x2-rej-dlq", no_args());
    declare(&ch, "x2-rej-plain", no_args());
    for m in ["rejected", "nacked", "consumer-nacked"] {
        publish(&ch, "x2-rej", m);
    }
    reject_drop(&get_one(&ch, "x2-rej"));
    assert_eq!(
        get_one(&ch, "x2-rej").nack(BasicNackOptions::default()),
        Ok(Settled::Done)
    );
    let c = consume(&ch, "x2-rej");
    let d = take(&c);
    assert_eq!(d.nack(BasicNackOptions::default()), Ok(Settled::Done));
    let dead = drain_deliveries(&ch, "x2-rej-dlq");
    assert_eq!(bodies(&dead), ["rejected", "nacked", "consumer-nacked"]);
    assert!(dead.iter().all(|d| last_reason(d) == "rejected"));
    // Without a dead-letter exchange: discarded, counted.
    publish(&ch, "x2-rej-plain", "gone");
    reject_drop(&get_one(&ch, "x2-rej-plain"));
    assert_eq!(ready(&b, "x2-rej-plain"), 0);
    assert_eq!(
        stats(&b),
        Stats {
            rejected: 4,
            dead_lettered: 3,
            dead_dropped: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn x2_expiry_and_length_limits_dead_letter_with_their_reasons() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "x2-dlq", no_args());
    declare(&ch, "x2-ttl", dlx_with("x2-dlq", "x-message-ttl", 100i32));
    declare(&ch, "x2-len", dlx_with("x2-dlq", "x-max-length", 1i32));
    publish(&ch, "x2-ttl", "expired");
    advance(&b, 100);
    publish(&ch, "x2-len", "dropped");
    publish(&ch, "x2-len", "kept");
    let dead = drain_deliveries(&ch, "x2-dlq");
    assert_eq!(bodies(&dead), ["expired", "dropped"]);
    let reasons: Vec<String> = dead.iter().map(last_reason).collect();
    assert_eq!(reasons, ["expired", "maxlen"]);
    assert_eq!(
        stats(&b),
        Stats {
            expired: 1,
            maxlen: 1,
            dead_lettered: 2,
            ..Stats::default()
        }
    );
}

#[test]
fn x2_queue_delete_purge_expiry_and_auto_delete_dead_letter_nothing() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "x2-none-dlq", no_args());
    // Purge.
    declare(&ch, "x2-purged", dlx_to("x2-none-dlq"));
    publish(&ch, "x2-purged", "p0");
    publish(&ch, "x2-purged", "p1");
    assert_eq!(ch.queue_purge("x2-purged"), Ok(2));
    // Delete, with a delivery still unacked: settling it later changes nothing (Q9).
    declare(&ch, "x2-deleted", dlx_to("x2-none-dlq"));
    publish(&ch, "x2-deleted", "d0");
    publish(&ch, "x2-deleted", "d1");
    let held = get_one(&ch, "x2-deleted");
    assert_eq!(
        ch.queue_delete("x2-deleted", QueueDeleteOptions::default()),
        Ok(1)
    );
    assert!(
        held.nack(BasicNackOptions::default()).is_ok(),
        "a no-op (Q9)"
    );
    // Auto-delete, when its last consumer goes.
    let auto = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    ch.queue_declare("x2-auto", auto, &dlx_to("x2-none-dlq"))
        .unwrap();
    let consumer_ch = channel(&b);
    qos(&consumer_ch, 1);
    let c = consume(&consumer_ch, "x2-auto");
    publish(&ch, "x2-auto", "a0");
    publish(&ch, "x2-auto", "a1");
    c.cancel().unwrap();
    assert_eq!(b.queue_counts("x2-auto"), None);
    // Queue expiry.
    declare(
        &ch,
        "x2-expires",
        dlx_with("x2-none-dlq", "x-expires", 100i32),
    );
    publish(&ch, "x2-expires", "e0");
    advance(&b, 100);
    assert_eq!(b.queue_counts("x2-expires"), None);
    // Exclusive queue, with its connection.
    let conn = b.connect();
    let owner = conn.create_channel().unwrap();
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    owner
        .queue_declare("x2-exclusive", exclusive, &dlx_to("x2-none-dlq"))
        .unwrap();
    publish(&ch, "x2-exclusive", "x0");
    conn.close();
    assert_eq!(b.queue_counts("x2-exclusive"), None);
    assert_eq!(ready(&b, "x2-none-dlq"), 0);
    assert_eq!(stats(&b).dead_lettered, 0);
}

// ----- X3: routing keys -----

/// `source` bound to exchange `x3-in` with `k1`; the dead-letter exchange `x3-dlx` (direct)
/// feeds `x3-dq-k1`, `x3-dq-k2`, `x3-dq-k3` by those keys. Publishes `m` with key `k1`, `CC`
/// `[k2]` and `BCC` `[kb]`, rejects it without requeue and returns each dead-letter queue's
/// deliveries.
fn x3_dead_letter(args: FieldTable, source: &str) -> (Broker, Vec<Vec<Delivery>>) {
    let b = broker();
    let ch = channel(&b);
    exchange(&ch, "x3-in", ExchangeType::Direct, no_args());
    exchange(&ch, "x3-dlx", ExchangeType::Direct, no_args());
    declare(&ch, source, args);
    bind(&ch, source, "x3-in", "k1");
    for k in ["k1", "k2", "k3"] {
        let q = format!("x3-dq-{k}");
        declare(&ch, &q, no_args());
        bind(&ch, &q, "x3-dlx", k);
    }
    let headers = FieldTable::new()
        .with("CC", vec![FieldValue::from("k2")])
        .with("BCC", vec![FieldValue::from("kb")]);
    publish_to(
        &ch,
        "x3-in",
        "k1",
        "m",
        BasicProperties::default().with_headers(headers),
    );
    reject_drop(&get_one(&ch, source));
    let out = ["k1", "k2", "k3"]
        .iter()
        .map(|k| drain_deliveries(&ch, &format!("x3-dq-{k}")))
        .collect();
    (b, out)
}

#[test]
fn x3_without_a_dead_letter_key_the_original_key_and_cc_keys_route() {
    let args = FieldTable::new().with("x-dead-letter-exchange", "x3-dlx");
    let (b, got) = x3_dead_letter(args, "x3-orig");
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 1, 0], "k1 and CC k2, not k3");
    let d = &got[0][0];
    assert_eq!((d.exchange(), d.routing_key()), ("x3-dlx", "k1"));
    assert!(header(d, "CC").is_some(), "CC kept");
    assert!(header(d, "BCC").is_none(), "BCC never delivered");
    assert_eq!(
        deaths(d),
        [death(
            "x3-orig",
            "rejected",
            1,
            T0_S,
            "x3-in",
            &["k1", "k2"]
        )],
        "routing-keys: CC in, BCC out"
    );
    assert_eq!(stats(&b).dead_lettered, 1, "one dead message, two queues");
}

#[test]
fn x3_a_dead_letter_key_replaces_the_keys_and_removes_cc() {
    let args = FieldTable::new()
        .with("x-dead-letter-exchange", "x3-dlx")
        .with("x-dead-letter-routing-key", "k3");
    let (_b, got) = x3_dead_letter(args, "x3-key");
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    assert_eq!(counts, [0, 0, 1], "k3 only: neither k1 nor CC k2");
    let d = &got[2][0];
    assert_eq!((d.exchange(), d.routing_key()), ("x3-dlx", "k3"));
    assert!(header(d, "CC").is_none(), "CC removed");
    assert_eq!(
        deaths(d),
        [death("x3-key", "rejected", 1, T0_S, "x3-in", &["k1", "k2"])]
    );
}

// ----- X4: the republished copy -----

#[test]
fn x4_expiration_removed_other_properties_and_body_unchanged() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "x4", dlx_to("x4-dlq"));
    declare(&ch, "x4-dlq", no_args());
    let mut props = BasicProperties::default()
        .with_content_type("application/json")
        .with_content_encoding("identity")
        .with_headers(FieldTable::new().with("tenant", "acme").with("n", 7i32))
        .with_correlation_id("corr-1")
        .with_reply_to("replies")
        .with_expiration("60000")
        .with_message_id("id-1")
        .with_timestamp(1_600_000_000)
        .with_kind("order")
        .with_user_id("guest")
        .with_app_id("shop")
        .with_cluster_id("c1")
        .with_priority(3)
        .persistent();
    let body_bytes = "{\"order\":42}";
    publish_props(&ch, "x4", body_bytes, props.clone());
    let original = get_one(&ch, "x4");
    assert_eq!(original.properties(), &props);
    reject_drop(&original);
    let dead = drain_deliveries(&ch, "x4-dlq");
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.body(), body_bytes.as_bytes());
    assert!(!d.redelivered(), "a new message in its new queue");
    // Expected: as published, minus expiration, plus X5's headers.
    props.expiration = None;
    let mut got = d.properties().clone();
    let headers = got.headers.as_mut().expect("headers");
    for name in [
        "x-death",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-first-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-last-death-exchange",
    ] {
        assert!(headers.remove(name).is_some(), "{name} set");
    }
    assert_eq!(got, props);
    let mut expected = death("x4", "rejected", 1, T0_S, "", &["x4"]);
    expected.original_expiration = Some("60000".into());
    assert_eq!(deaths(d), [expected]);
}

#[test]
fn x4_the_alternate_exchange_of_the_dead_letter_exchange_applies() {
    let b = broker();
    let ch = channel(&b);
    exchange(&ch, "x4-ae", ExchangeType::Fanout, no_args());
    exchange(
        &ch,
        "x4-dlx",
        ExchangeType::Direct,
        FieldTable::new().with("alternate-exchange", "x4-ae"),
    );
    declare(&ch, "x4-caught", no_args());
    bind(&ch, "x4-caught", "x4-ae", "");
    declare(
        &ch,
        "x4-src",
        FieldTable::new()
            .with("x-dead-letter-exchange", "x4-dlx")
            .with("x-dead-letter-routing-key", "nobody"),
    );
    publish(&ch, "x4-src", "m0");
    reject_drop(&get_one(&ch, "x4-src"));
    let dead = drain_deliveries(&ch, "x4-caught");
    assert_eq!(bodies(&dead), ["m0"]);
    assert_eq!(dead[0].routing_key(), "nobody");
    assert_eq!(
        stats(&b),
        Stats {
            rejected: 1,
            dead_lettered: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn x4_an_empty_route_from_the_dead_letter_exchange_drops_it_counted() {
    let b = broker();
    let ch = channel(&b);
    exchange(&ch, "x4-empty", ExchangeType::Direct, no_args());
    declare(
        &ch,
        "x4-lost",
        FieldTable::new().with("x-dead-letter-exchange", "x4-empty"),
    );
    publish(&ch, "x4-lost", "m0");
    reject_drop(&get_one(&ch, "x4-lost"));
    assert_eq!(
        stats(&b),
        Stats {
            rejected: 1,
            dead_dropped: 1,
            ..Stats::default()
        }
    );
}

// ----- X5: the x-death history -----

#[test]
fn x5_x_death_counts_and_moves_first() {
    let b = broker();
    let ch = channel(&b);
    // A retry loop: work rejects to retry; retry expires back to work.
    exchange(&ch, "x5-in", ExchangeType::Direct, no_args());
    declare(&ch, "x5-work", dlx_to("x5-retry"));
    declare(
        &ch,
        "x5-retry",
        dlx_with("x5-work", "x-message-ttl", 5000i32),
    );
    bind(&ch, "x5-work", "x5-in", "job");
    publish_to(
        &ch,
        "x5-in",
        "job",
        "m",
        BasicProperties::default().with_expiration("600000"),
    );

    // First death: rejected in work, at T0.
    reject_drop(&get_one(&ch, "x5-work"));
    let mut rejected = death("x5-work", "rejected", 1, T0_S, "x5-in", &["job"]);
    rejected.original_expiration = Some("600000".into());
    let in_retry = get_one(&ch, "x5-retry");
    assert_eq!(deaths(&in_retry), [rejected.clone()]);
    assert_eq!(in_retry.properties().expiration, None);
    assert_eq!(
        (in_retry.exchange(), in_retry.routing_key()),
        ("", "x5-retry")
    );
    for (name, value) in [
        ("x-first-death-queue", "x5-work"),
        ("x-first-death-reason", "rejected"),
        ("x-first-death-exchange", "x5-in"),
        ("x-last-death-queue", "x5-work"),
        ("x-last-death-reason", "rejected"),
        ("x-last-death-exchange", "x5-in"),
    ] {
        assert_eq!(
            header_str(&in_retry, name).as_deref(),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(in_retry.nack(requeue()), Ok(Settled::Done));

    // Second death: expired in retry, 5 s later; newest first.
    advance(&b, 5000);
    let expired = death("x5-retry", "expired", 1, T0_S + 5, "", &["x5-retry"]);
    let back = get_one(&ch, "x5-work");
    assert_eq!(deaths(&back), [expired.clone(), rejected.clone()]);
    assert_eq!(
        header_str(&back, "x-first-death-queue").as_deref(),
        Some("x5-work")
    );
    assert_eq!(
        header_str(&back, "x-first-death-exchange").as_deref(),
        Some("x5-in")
    );
    assert_eq!(
        header_str(&back, "x-last-death-queue").as_deref(),
        Some("x5-retry")
    );
    assert_eq!(
        header_str(&back, "x-last-death-reason").as_deref(),
        Some("expired")
    );
    assert_eq!(
        header_str(&back, "x-last-death-exchange").as_deref(),
        Some("")
    );

    // Third: rejected in work again, later: the pair counts 2 and moves first, its time and
    // other fields those of its first event.
    advance(&b, 3000);
    reject_drop(&back);
    let again = get_one(&ch, "x5-retry");
    let mut rejected2 = rejected.clone();
    rejected2.count = 2;
    assert_eq!(deaths(&again), [rejected2.clone(), expired.clone()]);
    assert_eq!(
        header_str(&again, "x-first-death-queue").as_deref(),
        Some("x5-work")
    );
    assert_eq!(
        header_str(&again, "x-first-death-reason").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header_str(&again, "x-last-death-queue").as_deref(),
        Some("x5-work")
    );
    assert_eq!(
        header_str(&again, "x-last-death-reason").as_deref(),
        Some("rejected")
    );
    assert_eq!(
        header_str(&again, "x-last-death-exchange").as_deref(),
        Some("")
    );
    assert_eq!(again.nack(requeue()), Ok(Settled::Done));

    // Fourth: expired in retry again: count 2, first.
    advance(&b, 5000);
    let last = get_one(&ch, "x5-work");
    let mut expired2 = expired;
    expired2.count = 2;
    assert_eq!(deaths(&last), [expired2, rejected2]);
    assert_eq!(
        stats(&b),
        Stats {
            rejected: 2,
            expired: 2,
            dead_lettered: 4,
            ..Stats::default()
        }
    );
}

// ----- X6: cycles -----

#[test]
fn x6_an_expiry_cycle_drops_the_message_when_it_would_come_back() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "x6-a", dlx_with("x6-b", "x-message-ttl", 100i32));
    declare(&ch, "x6-b", dlx_with("x6-a", "x-message-ttl", 100i32));
    publish(&ch, "x6-a", "m0");
    advance(&b, 100);
    assert_eq!((ready(&b, "x6-a"), ready(&b, "x6-b")), (0, 1));
    advance(&b, 100);
    assert_eq!((ready(&b, "x6-a"), ready(&b, "x6-b")), (0, 0));
    assert_eq!(
        stats(&b),
        Stats {
            expired: 2,
            dead_lettered: 1,
            dead_dropped: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn x6_a_cycle_skips_only_the_queues_already_visited_other_targets_still_get_a_copy() {
    let b = broker();
    let ch = channel(&b);
    exchange(&ch, "x6-fan", ExchangeType::Fanout, no_args());
    declare(
        &ch,
        "x6-self",
        FieldTable::new()
            .with("x-dead-letter-exchange", "x6-fan")
            .with("x-message-ttl", 100i32),
    );
    declare(&ch, "x6-other", no_args());
    bind(&ch, "x6-self", "x6-fan", "");
    bind(&ch, "x6-other", "x6-fan", "");
    publish(&ch, "x6-self", "m0");
    advance(&b, 100);
    assert_eq!(
        ready(&b, "x6-self"),
        0,
        "it would reach x6-self again: no copy"
    );
    assert_eq!(drain(&ch, "x6-other"), ["m0"]);
    assert_eq!(
        stats(&b),
        Stats {
            expired: 1,
            dead_lettered: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn x6_a_cycle_with_a_rejection_in_it_continues() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "x6-work", dlx_to("x6-wait"));
    declare(&ch, "x6-wait", dlx_with("x6-work", "x-message-ttl", 100i32));
    publish(&ch, "x6-work", "m0");
    for round in 1..=3i64 {
        reject_drop(&get_one(&ch, "x6-work"));
        assert_eq!(ready(&b, "x6-wait"), 1, "round {round}");
        advance(&b, 100);
        assert_eq!(
            ready(&b, "x6-work"),
            1,
            "round {round}: back, a consumer drives it"
        );
        let d = get_one(&ch, "x6-work");
        let counts: Vec<(String, String, i64)> = deaths(&d)
            .into_iter()
            .map(|x| (x.queue, x.reason, x.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("x6-wait".into(), "expired".into(), round),
                ("x6-work".into(), "rejected".into(), round)
            ]
        );
        assert_eq!(d.nack(requeue()), Ok(Settled::Done));
    }
    assert_eq!(stats(&b).dead_dropped, 0);
}

// ----- D5: consumer priorities -----

fn prio(p: i32) -> FieldTable {
    FieldTable::new().with("x-priority", p)
}

#[test]
fn d5_the_higher_priority_consumer_with_credit_gets_the_messages() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "d5", no_args());
    let low = consume_args(&ch, "d5", &prio(1));
    let high = consume_args(&ch, "d5", &prio(10));
    let default = consume(&ch, "d5");
    let negative = consume_args(&ch, "d5", &prio(-5));
    for i in 0..5 {
        publish(&ch, "d5", &format!("m{i}"));
    }
    assert_eq!(take_all(&high).len(), 5, "no prefetch: high never blocks");
    assert_idle(&low);
    assert_idle(&default);
    assert_idle(&negative);
}

#[test]
fn d5_a_lower_priority_consumer_gets_messages_only_while_the_higher_one_is_blocked() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "d5-blocked", no_args());
    qos(&ch, 1);
    let low = consume_args(&ch, "d5-blocked", &prio(1));
    let high = consume_args(&ch, "d5-blocked", &prio(10));
    publish(&ch, "d5-blocked", "m0");
    let h0 = take(&high);
    assert_eq!(body(&h0), "m0");
    assert_idle(&low);
    publish(&ch, "d5-blocked", "m1"); // high is blocked: low takes it
    let l1 = take(&low);
    assert_eq!(body(&l1), "m1");
    publish(&ch, "d5-blocked", "m2"); // both blocked: it waits
    assert_eq!(ready(&b, "d5-blocked"), 1);
    assert_eq!(h0.ack(), Ok(Settled::Done));
    let h2 = take(&high);
    assert_eq!(body(&h2), "m2");
    assert_eq!(l1.ack(), Ok(Settled::Done));
    publish(&ch, "d5-blocked", "m3"); // high blocked again, low has credit
    assert_eq!(body(&take(&low)), "m3");
    assert_eq!(h2.ack(), Ok(Settled::Done));
    publish(&ch, "d5-blocked", "m4"); // both have credit: high
    assert_eq!(body(&take(&high)), "m4");
    assert_idle(&low);
}

#[test]
fn d5_equal_priorities_share_round_robin() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "d5-rr", no_args());
    let a = consume_args(&ch, "d5-rr", &prio(3));
    let bb = consume_args(&ch, "d5-rr", &prio(3));
    let low = consume(&ch, "d5-rr");
    for i in 0..4 {
        publish(&ch, "d5-rr", &format!("m{i}"));
    }
    assert_eq!(bodies(&take_all(&a)), ["m0", "m2"]);
    assert_eq!(bodies(&take_all(&bb)), ["m1", "m3"]);
    assert_idle(&low);
}

#[test]
fn d5_an_invalid_x_priority_is_406() {
    let b = broker();
    declare(&channel(&b), "d5-invalid", no_args());
    for bad in [
        FieldValue::from("high"),
        FieldValue::I64(i64::from(i32::MAX) + 1),
        FieldValue::I64(i64::from(i32::MIN) - 1),
        FieldValue::F64(1.0),
        FieldValue::Bool(true),
    ] {
        let ch = channel(&b);
        let args = FieldTable::new().with("x-priority", bad.clone());
        let err = fails(ch.basic_consume("d5-invalid", "", BasicConsumeOptions::default(), &args));
        assert_amqp(&err, 406, Scope::Channel);
        assert!(err.text().contains("x-priority"), "{bad:?}: {err}");
        assert!(!ch.is_open());
    }
    assert_eq!(
        b.queue_counts("d5-invalid"),
        Some((0, 0)),
        "no consumer added"
    );
    // Any integer width in range is fine.
    let ch = channel(&b);
    let kept: Vec<Consumer> = [
        FieldValue::I8(-3),
        FieldValue::U16(7),
        FieldValue::I64(-2_000_000_000),
    ]
    .into_iter()
    .map(|ok| consume_args(&ch, "d5-invalid", &FieldTable::new().with("x-priority", ok)))
    .collect();
    assert_eq!(b.queue_counts("d5-invalid"), Some((0, kept.len())));
}

// ----- D6: single active consumer -----

fn sac() -> FieldTable {
    FieldTable::new().with("x-single-active-consumer", true)
}

#[test]
fn d6_only_the_first_consumer_receives_even_without_credit_and_ignoring_priority() {
    let b = broker();
    declare(&channel(&b), "d6", sac());
    let ch1 = channel(&b);
    qos(&ch1, 1);
    let first = consume(&ch1, "d6");
    let ch2 = channel(&b);
    let second = consume_args(&ch2, "d6", &prio(100));
    let pub_ch = channel(&b);
    for i in 0..3 {
        publish(&pub_ch, "d6", &format!("m{i}"));
    }
    let d0 = take(&first);
    assert_eq!(body(&d0), "m0");
    assert_idle(&first);
    assert_idle(&second);
    assert_eq!(
        ready(&b, "d6"),
        2,
        "the others get nothing while the active one has no credit"
    );
    assert_eq!(d0.ack(), Ok(Settled::Done));
    assert_eq!(body(&take(&first)), "m1");
    assert_idle(&second);
}

#[test]
fn d6_on_cancel_the_earliest_remaining_consumer_takes_over() {
    let b = broker();
    declare(&channel(&b), "d6-cancel", sac());
    let ch1 = channel(&b);
    qos(&ch1, 1);
    let c1 = consume(&ch1, "d6-cancel");
    let ch2 = channel(&b);
    qos(&ch2, 1);
    let c2 = consume(&ch2, "d6-cancel");
    let ch3 = channel(&b);
    let c3 = consume(&ch3, "d6-cancel");
    let pub_ch = channel(&b);
    for i in 0..3 {
        publish(&pub_ch, "d6-cancel", &format!("m{i}"));
    }
    let d0 = take(&c1);
    assert_eq!(body(&d0), "m0");
    c1.cancel().unwrap();
    // c2, registered before c3, is active now.
    let d1 = take(&c2);
    assert_eq!(body(&d1), "m1");
    assert_idle(&c3);
    // c1's delivery stays ackable after its cancel (A6); closing its channel requeues it to
    // its place, for the new active consumer.
    ch1.close();
    assert_eq!(ready(&b, "d6-cancel"), 2);
    assert_idle(&c3);
    assert_eq!(d1.ack(), Ok(Settled::Done));
    let back = take(&c2);
    assert_eq!(body(&back), "m0");
    assert!(back.redelivered());
    assert_eq!(back.failed_count(), 1);
    assert_idle(&c3);
    // c2 cancels too: c3 is next.
    c2.cancel().unwrap();
    assert_eq!(bodies(&take_all(&c3)), ["m2"]);
}

#[test]
fn d6_on_channel_close_the_next_consumer_takes_over_with_the_unacked_redelivered() {
    let b = broker();
    declare(&channel(&b), "d6-close", sac());
    let ch1 = channel(&b);
    let c1 = consume(&ch1, "d6-close");
    let ch2 = channel(&b);
    let c2 = consume(&ch2, "d6-close");
    let pub_ch = channel(&b);
    for i in 0..3 {
        publish(&pub_ch, "d6-close", &format!("m{i}"));
    }
    assert_eq!(bodies(&take_all(&c1)), ["m0", "m1", "m2"]);
    assert_idle(&c2);
    ch1.close();
    let got = take_all(&c2);
    assert_eq!(bodies(&got), ["m0", "m1", "m2"], "in their order");
    assert!(got.iter().all(|d| d.redelivered() && d.failed_count() == 1));
    publish(&pub_ch, "d6-close", "m3");
    assert_eq!(bodies(&take_all(&c2)), ["m3"]);
}

#[test]
fn d6_a9_on_consumer_timeout_the_next_consumer_takes_over() {
    let b = broker();
    declare(&channel(&b), "d6-timeout", sac());
    let ch1 = channel(&b);
    let c1 = consume_args(
        &ch1,
        "d6-timeout",
        &FieldTable::new().with("x-consumer-timeout", 100i32),
    );
    let ch2 = channel(&b);
    let c2 = consume(&ch2, "d6-timeout");
    publish(&ch2, "d6-timeout", "m0");
    let _held = take(&c1);
    advance(&b, 100);
    let err = fails(c1.try_recv());
    assert_eq!(err.kind(), ErrorKind::ConsumerCancelled, "{err}");
    let back = take(&c2);
    assert_eq!(body(&back), "m0");
    assert!(back.redelivered());
    assert_eq!((back.failed_count(), back.returned_count()), (0, 1));
    assert!(ch1.is_open(), "the channel lives on (A9)");
}

#[test]
fn d6_an_exclusive_consume_on_a_single_active_consumer_queue_is_403() {
    let b = broker();
    declare(&channel(&b), "d6-exclusive", sac());
    let ch = channel(&b);
    let exclusive = BasicConsumeOptions {
        exclusive: true,
        ..Default::default()
    };
    let err = fails(ch.basic_consume("d6-exclusive", "", exclusive, &no_args()));
    assert_amqp(&err, 403, Scope::Channel);
    assert!(!ch.is_open());
    assert_eq!(b.queue_counts("d6-exclusive"), Some((0, 0)));
}

// ----- A10 and the delivery limit -----

#[test]
fn a10_delivery_limit_reject_with_requeue_counts_and_over_the_limit_dead_letters() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "dl", dlx_with("dl-dlq", "x-delivery-limit", 2i32));
    declare(&ch, "dl-dlq", no_args());
    publish(&ch, "dl", "m0");
    let first = get_one(&ch, "dl");
    assert_eq!((first.failed_count(), delivery_count(&first)), (0, None));
    reject_requeue(&first);
    let second = get_one(&ch, "dl");
    assert_eq!(
        (second.failed_count(), delivery_count(&second)),
        (1, Some(1))
    );
    reject_requeue(&second);
    let third = get_one(&ch, "dl");
    assert_eq!((third.failed_count(), delivery_count(&third)), (2, Some(2)));
    assert!(third.redelivered());
    reject_requeue(&third); // failed 3 > 2: dead-lettered instead of requeued
    assert_eq!(ready(&b, "dl"), 0);
    let dead = drain_deliveries(&ch, "dl-dlq");
    assert_eq!(bodies(&dead), ["m0"]);
    assert_eq!(
        deaths(&dead[0]),
        [death("dl", "delivery_limit", 1, T0_S, "", &["dl"])]
    );
    assert_eq!(last_reason(&dead[0]), "delivery_limit");
    assert_eq!(
        stats(&b),
        Stats {
            delivery_limit: 1,
            dead_lettered: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn a10_delivery_limit_nack_with_requeue_counts_returned_not_failed() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "dl-nack",
        FieldTable::new().with("x-delivery-limit", 0i32),
    );
    publish(&ch, "dl-nack", "m0");
    for n in 0..5u32 {
        let d = get_one(&ch, "dl-nack");
        assert_eq!((d.failed_count(), d.returned_count()), (0, n));
        assert_eq!(delivery_count(&d), None, "failed is 0: no header");
        assert_eq!(d.nack(requeue()), Ok(Settled::Done));
    }
    assert_eq!(ready(&b, "dl-nack"), 1, "returns never reach the limit");
    reject_requeue(&get_one(&ch, "dl-nack")); // failed 1 > 0
    assert_eq!(ready(&b, "dl-nack"), 0);
    assert_eq!(
        stats(&b),
        Stats {
            delivery_limit: 1,
            dead_dropped: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn a10_delivery_limit_a_consumer_loss_counts_as_failed() {
    let b = broker();
    let pub_ch = channel(&b);
    declare(
        &pub_ch,
        "dl-loss",
        dlx_with("dl-loss-dlq", "x-delivery-limit", 1i32),
    );
    declare(&pub_ch, "dl-loss-dlq", no_args());
    publish(&pub_ch, "dl-loss", "m0");
    for failed in 0..2u32 {
        let ch = channel(&b);
        let c = consume(&ch, "dl-loss");
        let d = take(&c);
        assert_eq!(d.failed_count(), failed);
        ch.close(); // A7: failed + 1
    }
    assert_eq!(ready(&b, "dl-loss"), 0, "the second loss made it 2 > 1");
    let dead = drain_deliveries(&pub_ch, "dl-loss-dlq");
    assert_eq!(bodies(&dead), ["m0"]);
    assert_eq!(last_reason(&dead[0]), "delivery_limit");
}

#[test]
fn a10_delivery_limit_minus_1_is_no_limit() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "dl-none",
        FieldTable::new().with("x-delivery-limit", -1i32),
    );
    publish(&ch, "dl-none", "m0");
    for _ in 0..20 {
        reject_requeue(&get_one(&ch, "dl-none"));
    }
    let d = get_one(&ch, "dl-none");
    assert_eq!((d.failed_count(), delivery_count(&d)), (20, Some(20)));
    assert_eq!(stats(&b), Stats::default());
}

// ----- requeue at the tail -----

#[test]
fn requeue_at_tail_puts_the_message_behind_every_queued_one() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "tail", no_args());
    for i in 0..4 {
        publish(&ch, "tail", &format!("m{i}"));
    }
    let m0 = get_one(&ch, "tail");
    let m1 = get_one(&ch, "tail");
    assert_eq!(m0.nack(requeue_at_tail()), Ok(Settled::Done));
    assert_eq!(m1.nack(requeue()), Ok(Settled::Done)); // its original place, for contrast
    let all = drain_deliveries(&ch, "tail");
    assert_eq!(bodies(&all), ["m1", "m2", "m3", "m0"]);
    let back = &all[3];
    assert!(back.redelivered());
    assert_eq!((back.failed_count(), back.returned_count()), (0, 1));
}

#[test]
fn requeue_at_tail_keeps_the_order_of_several_and_goes_behind_later_publishes() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "tail-many", no_args());
    for i in 0..4 {
        publish(&ch, "tail-many", &format!("m{i}"));
    }
    let _m0 = get_one(&ch, "tail-many");
    let _m1 = get_one(&ch, "tail-many");
    ch.basic_nack(
        warren::DeliveryTag::new(2),
        BasicNackOptions {
            multiple: true,
            requeue: true,
            at_tail: true,
        },
    )
    .unwrap();
    publish(&ch, "tail-many", "m4");
    assert_eq!(drain(&ch, "tail-many"), ["m2", "m3", "m0", "m1", "m4"]);
}

#[test]
fn requeue_at_tail_a_consumer_gets_the_others_first() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "tail-consumer", no_args());
    qos(&ch, 1);
    let c = consume(&ch, "tail-consumer");
    for i in 0..3 {
        publish(&ch, "tail-consumer", &format!("m{i}"));
    }
    let mut order = Vec::new();
    let d = take(&c);
    order.push(body(&d));
    assert_eq!(d.nack(requeue_at_tail()), Ok(Settled::Done));
    for _ in 0..3 {
        let d = take(&c);
        order.push(body(&d));
        d.ack().unwrap();
    }
    assert_eq!(order, ["m0", "m1", "m2", "m0"]);
}

#[test]
fn requeue_at_tail_in_a_priority_queue_goes_to_the_tail_of_its_level() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "tail-prio",
        FieldTable::new().with("x-max-priority", 5i32),
    );
    publish_prio(&ch, "tail-prio", "h0", Some(5));
    publish_prio(&ch, "tail-prio", "h1", Some(5));
    publish_prio(&ch, "tail-prio", "l0", Some(1));
    let h0 = get_one(&ch, "tail-prio");
    assert_eq!(h0.nack(requeue_at_tail()), Ok(Settled::Done));
    assert_eq!(drain(&ch, "tail-prio"), ["h1", "h0", "l0"]);
}

// ----- bad input -----

#[test]
fn bad_input_each_invalid_queue_argument_is_406_naming_it_nothing_declared() {
    let b = broker();
    let cases: Vec<(&str, FieldValue)> = vec![
        ("x-message-ttl", FieldValue::from("1000")),
        ("x-message-ttl", FieldValue::I32(-1)),
        ("x-message-ttl", FieldValue::I64(315_360_000_001)),
        ("x-message-ttl", FieldValue::F64(1000.0)),
        ("x-expires", FieldValue::I32(0)),
        ("x-expires", FieldValue::I32(-1000)),
        ("x-expires", FieldValue::from("1000")),
        ("x-expires", FieldValue::I64(315_360_000_001)),
        ("x-max-length", FieldValue::I32(-1)),
        ("x-max-length", FieldValue::from("10")),
        ("x-max-length", FieldValue::U64(u64::MAX)),
        ("x-max-length-bytes", FieldValue::I64(-1)),
        ("x-max-length-bytes", FieldValue::Bool(true)),
        ("x-overflow", FieldValue::from("drop-tail")),
        ("x-overflow", FieldValue::from("reject_publish")),
        ("x-overflow", FieldValue::from("")),
        ("x-overflow", FieldValue::I32(1)),
        ("x-max-priority", FieldValue::I32(256)),
        ("x-max-priority", FieldValue::I32(-1)),
        ("x-max-priority", FieldValue::from("10")),
        ("x-dead-letter-exchange", FieldValue::I32(5)),
        ("x-dead-letter-exchange", FieldValue::from("x".repeat(256))),
        ("x-single-active-consumer", FieldValue::from("true")),
        ("x-single-active-consumer", FieldValue::I32(1)),
        ("x-delivery-limit", FieldValue::I32(-2)),
        ("x-delivery-limit", FieldValue::from("3")),
        ("x-delivery-limit", FieldValue::I64(i64::from(u32::MAX) + 1)),
    ];
    for (i, (name, value)) in cases.into_iter().enumerate() {
        // Beside valid arguments: still nothing declared.
        let args = FieldTable::new()
            .with("x-queue-type", "classic")
            .with(name, value);
        assert_refused_406(&b, &format!("bad-{i}"), &args, name);
    }
    // A dead-letter key that is not a string, with an exchange.
    let args = FieldTable::new()
        .with("x-dead-letter-exchange", "")
        .with("x-dead-letter-routing-key", 5i32);
    assert_refused_406(&b, "bad-dlk", &args, "x-dead-letter-routing-key");
    assert_eq!(stats(&b), Stats::default());
}

#[test]
fn bad_input_the_edges_of_each_range_are_accepted() {
    let b = broker();
    let ch = channel(&b);
    let cases: Vec<(&str, FieldValue)> = vec![
        ("x-message-ttl", FieldValue::I32(0)),
        ("x-message-ttl", FieldValue::I64(315_360_000_000)),
        ("x-expires", FieldValue::I32(1)),
        ("x-expires", FieldValue::I64(315_360_000_000)),
        ("x-max-length", FieldValue::I32(0)),
        ("x-max-length-bytes", FieldValue::U8(0)),
        ("x-overflow", FieldValue::from("reject-publish")),
        ("x-max-priority", FieldValue::I32(0)),
        ("x-max-priority", FieldValue::U8(255)),
        ("x-max-priority", FieldValue::I16(255)),
        ("x-single-active-consumer", FieldValue::Bool(false)),
        ("x-delivery-limit", FieldValue::I32(-1)),
        ("x-delivery-limit", FieldValue::I32(0)),
        ("x-delivery-limit", FieldValue::U32(u32::MAX)),
    ];
    for (i, (name, value)) in cases.into_iter().enumerate() {
        let q = format!("edge-{i}");
        let args = FieldTable::new().with(name, value.clone());
        ch.queue_declare(&q, QueueDeclareOptions::default(), &args)
            .unwrap_or_else(|e| panic!("{name} = {value:?} is valid: {e}"));
    }
}

#[test]
fn bad_input_a_redeclare_with_another_limit_is_406_inequivalent_arg_nothing_changed() {
    let b = broker();
    let cases: Vec<(&str, FieldValue, FieldValue)> = vec![
        ("x-message-ttl", 1000i32.into(), 2000i32.into()),
        ("x-expires", 100_000i32.into(), 200_000i32.into()),
        ("x-max-length", 10i32.into(), 11i32.into()),
        ("x-max-length-bytes", 100i32.into(), 101i32.into()),
        ("x-overflow", "reject-publish".into(), "drop-head".into()),
        ("x-max-priority", 5i32.into(), 6i32.into()),
        ("x-dead-letter-exchange", "a".into(), "b".into()),
        ("x-single-active-consumer", true.into(), false.into()),
        ("x-delivery-limit", 3i32.into(), 4i32.into()),
    ];
    for (i, (name, first, other)) in cases.into_iter().enumerate() {
        let q = format!("redeclare-{i}");
        let ch = channel(&b);
        let args = FieldTable::new().with(name, first.clone());
        declare(&ch, &q, args.clone());
        // Another value, then absent on the redeclare: both differ.
        for redeclared in [FieldTable::new().with(name, other.clone()), no_args()] {
            let ch = channel(&b);
            let err = fails(ch.queue_declare(&q, QueueDeclareOptions::default(), &redeclared));
            assert_amqp(&err, 406, Scope::Channel);
            assert!(
                err.text().contains("inequivalent arg") && err.text().contains(name),
                "{name}: {err}"
            );
        }
        // The same value in another integer width is equivalent.
        let same = match first {
            FieldValue::I32(n) => FieldValue::I64(i64::from(n)),
            v => v,
        };
        channel(&b)
            .queue_declare(
                &q,
                QueueDeclareOptions::default(),
                &FieldTable::new().with(name, same),
            )
            .unwrap_or_else(|e| panic!("{name}: the same value is equivalent: {e}"));
    }
    // The dead-letter key, given with an exchange on both sides.
    let ch = channel(&b);
    declare(&ch, "redeclare-dlk", dlx_to("one"));
    let err = fails(ch.queue_declare(
        "redeclare-dlk",
        QueueDeclareOptions::default(),
        &dlx_to("two"),
    ));
    assert_amqp(&err, 406, Scope::Channel);
    assert!(err.text().contains("x-dead-letter-routing-key"), "{err}");
    // x-overflow given on one side only differs even with its default value (Q2).
    let ch = channel(&b);
    declare(&ch, "redeclare-default", no_args());
    let err = fails(ch.queue_declare(
        "redeclare-default",
        QueueDeclareOptions::default(),
        &FieldTable::new().with("x-overflow", "drop-head"),
    ));
    assert_amqp(&err, 406, Scope::Channel);
    assert!(err.text().contains("x-overflow"), "{err}");
}

#[test]
fn bad_input_a_refused_redeclare_leaves_the_old_limit_in_force() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "keep-limit",
        FieldTable::new().with("x-max-length", 2i32),
    );
    let err = fails(channel(&b).queue_declare(
        "keep-limit",
        QueueDeclareOptions::default(),
        &FieldTable::new().with("x-max-length", 5i32),
    ));
    assert_amqp(&err, 406, Scope::Channel);
    for i in 0..5 {
        publish(&ch, "keep-limit", &format!("m{i}"));
    }
    assert_eq!(drain(&ch, "keep-limit"), ["m3", "m4"]);
}

// ----- durability (S6, A10 with limits) -----

/// Publishes persistent `body` to `queue` on a channel in confirm mode and waits for its ack
/// (so it is on disk).
fn publish_persistent(ch: &Channel, queue: &str, body: &str) {
    assert!(
        publish_confirmed_props(ch, "", queue, body, BasicProperties::default().persistent()),
        "{body} confirmed"
    );
}

#[test]
fn s6_l1_a_persistent_message_expires_at_its_absolute_time_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    {
        let b = open_at(dir.path(), &clock);
        let ch = channel(&b);
        declare_durable(
            &ch,
            "s6-ttl",
            dlx_with("s6-ttl-dlq", "x-message-ttl", 1000i32),
        );
        declare_durable(&ch, "s6-ttl-dlq", no_args());
        declare_durable(&ch, "s6-exp", no_args());
        ch.confirm_select().unwrap();
        publish_persistent(&ch, "s6-ttl", "queue-ttl");
        assert!(publish_confirmed_props(
            &ch,
            "",
            "s6-exp",
            "expiration",
            BasicProperties::default()
                .persistent()
                .with_expiration("1000"),
        ));
        advance(&b, 400);
        b.close();
    }
    // The clock ran on: 400 ms of each TTL are gone.
    let b = open_at(dir.path(), &clock);
    assert_eq!(b.queue_counts("s6-ttl"), Some((1, 0)));
    assert_eq!(b.queue_counts("s6-exp"), Some((1, 0)));
    advance(&b, 599);
    assert_eq!(ready(&b, "s6-ttl"), 1);
    assert_eq!(ready(&b, "s6-exp"), 1);
    advance(&b, 1);
    assert_eq!(
        ready(&b, "s6-ttl"),
        0,
        "expired at publish + 1000 ms, not reopen + 1000"
    );
    assert_eq!(ready(&b, "s6-exp"), 0);
    assert_eq!(ready(&b, "s6-ttl-dlq"), 1);
    assert_eq!(stats(&b).expired, 2);
    b.close();
    drop(b);
    // Neither comes back; the dead-lettered copy stays.
    let b = open_at(dir.path(), &clock);
    assert_eq!(ready(&b, "s6-ttl"), 0);
    assert_eq!(ready(&b, "s6-exp"), 0);
    let dead = drain_deliveries(&channel(&b), "s6-ttl-dlq");
    assert_eq!(bodies(&dead), ["queue-ttl"]);
    assert_eq!(last_reason(&dead[0]), "expired");
}

#[test]
fn s6_l1_a_message_past_its_time_at_reopen_is_never_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    {
        let b = open_at(dir.path(), &clock);
        let ch = channel(&b);
        declare_durable(
            &ch,
            "s6-late",
            dlx_with("s6-late-dlq", "x-message-ttl", 1000i32),
        );
        declare_durable(&ch, "s6-late-dlq", no_args());
        ch.confirm_select().unwrap();
        publish_persistent(&ch, "s6-late", "m0");
        b.close();
    }
    // Down for 5 s: the message is due when the broker comes back.
    clock.set_ms(T0 + 5000).unwrap();
    let b = open_at(dir.path(), &clock);
    let ch = channel(&b);
    assert!(
        get(&ch, "s6-late").is_none(),
        "expiry applies after recovery"
    );
    let dead = drain_deliveries(&ch, "s6-late-dlq");
    assert_eq!(bodies(&dead), ["m0"]);
    assert_eq!(
        deaths(&dead[0]),
        [death("s6-late", "expired", 1, T0_S + 5, "", &["s6-late"])]
    );
}

#[test]
fn s6_l4_x_expires_idle_time_restarts_at_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    {
        let b = open_at(dir.path(), &clock);
        let ch = channel(&b);
        declare_durable(&ch, "s6-idle", FieldTable::new().with("x-expires", 1000i32));
        advance(&b, 900);
        b.close();
    }
    let b = open_at(dir.path(), &clock);
    advance(&b, 999);
    assert!(
        b.queue_counts("s6-idle").is_some(),
        "idle time restarted at reopen"
    );
    advance(&b, 1);
    assert_eq!(b.queue_counts("s6-idle"), None);
    b.close();
    drop(b);
    let b = open_at(dir.path(), &clock);
    assert_eq!(b.queue_counts("s6-idle"), None, "its deletion is durable");
}

#[test]
fn s6_a10_counts_survive_a_restart_and_the_delivery_limit_applies_after() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    {
        let b = open_at(dir.path(), &clock);
        let ch = channel(&b);
        declare_durable(
            &ch,
            "s6-dl",
            dlx_with("s6-dl-dlq", "x-delivery-limit", 3i32),
        );
        declare_durable(&ch, "s6-dl-dlq", no_args());
        ch.confirm_select().unwrap();
        publish_persistent(&ch, "s6-dl", "m0");
        reject_requeue(&get_one(&ch, "s6-dl"));
        reject_requeue(&get_one(&ch, "s6-dl"));
        assert_eq!(get_one(&ch, "s6-dl").nack(requeue()), Ok(Settled::Done));
        b.close();
    }
    let b = open_at(dir.path(), &clock);
    let ch = channel(&b);
    let d = get_one(&ch, "s6-dl");
    assert_eq!((d.failed_count(), d.returned_count()), (2, 1));
    assert_eq!(delivery_count(&d), Some(2));
    assert!(d.redelivered());
    reject_requeue(&d); // failed 3: still within the limit
    let d = get_one(&ch, "s6-dl");
    assert_eq!(d.failed_count(), 3);
    reject_requeue(&d); // failed 4 > 3: dead-lettered
    assert_eq!(ready(&b, "s6-dl"), 0);
    assert_eq!(stats(&b).delivery_limit, 1);
    b.close();
    drop(b);
    let b = open_at(dir.path(), &clock);
    assert_eq!(ready(&b, "s6-dl"), 0, "not back in its old queue");
    let dead = drain_deliveries(&channel(&b), "s6-dl-dlq");
    assert_eq!(bodies(&dead), ["m0"]);
    assert_eq!(last_reason(&dead[0]), "delivery_limit");
}

#[test]
fn s6_x4_a_dead_lettered_persistent_message_in_a_durable_queue_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    {
        let b = open_at(dir.path(), &clock);
        let ch = channel(&b);
        ch.exchange_declare(
            "s6-dlx-durable",
            ExchangeType::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            &no_args(),
        )
        .unwrap();
        declare_durable(
            &ch,
            "s6-src",
            FieldTable::new().with("x-dead-letter-exchange", "s6-dlx-durable"),
        );
        declare_durable(&ch, "s6-dead", no_args());
        bind(&ch, "s6-dead", "s6-dlx-durable", "");
        ch.confirm_select().unwrap();
        publish_persistent(&ch, "s6-src", "rejected");
        publish_persistent(&ch, "s6-src", "kept");
        reject_drop(&get_one(&ch, "s6-src"));
        assert_eq!(ready(&b, "s6-dead"), 1);
        b.close();
    }
    let b = open_at(dir.path(), &clock);
    let ch = channel(&b);
    assert_eq!(
        drain(&ch, "s6-src"),
        ["kept"],
        "the dead one is gone from its old queue"
    );
    let dead = drain_deliveries(&ch, "s6-dead");
    assert_eq!(bodies(&dead), ["rejected"]);
    assert!(dead[0].properties().is_persistent());
    assert_eq!(
        deaths(&dead[0]),
        [death("s6-src", "rejected", 1, T0_S, "", &["s6-src"])]
    );
    assert_eq!(dead[0].exchange(), "s6-dlx-durable");
    // The source queue's arguments survived too: it still dead-letters.
    publish_to(
        &ch,
        "",
        "s6-src",
        "again",
        BasicProperties::default().persistent(),
    );
    reject_drop(&get_one(&ch, "s6-src"));
    assert_eq!(drain(&ch, "s6-dead"), ["again"]);
}

// ----- more edges -----

#[test]
fn l5_l6_a_requeue_over_the_limit_drops_heads_as_maxlen() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l5-requeue",
        dlx_with("l5-requeue-dlq", "x-max-length", 1i32),
    );
    declare(&ch, "l5-requeue-dlq", no_args());
    publish(&ch, "l5-requeue", "m0");
    let m0 = get_one(&ch, "l5-requeue");
    publish(&ch, "l5-requeue", "m1"); // ready: m1 only, within the limit
    assert_eq!(stats(&b).maxlen, 0);
    assert_eq!(m0.nack(requeue()), Ok(Settled::Done)); // m0 back at the head: 2 ready
    assert_eq!(ready(&b, "l5-requeue"), 1, "the limit holds");
    assert_eq!(drain(&ch, "l5-requeue"), ["m1"]);
    let dead = drain_deliveries(&ch, "l5-requeue-dlq");
    assert_eq!(bodies(&dead), ["m0"], "the head went");
    assert_eq!(last_reason(&dead[0]), "maxlen");
}

#[test]
fn l5_a_body_over_x_max_length_bytes_alone_is_dropped_itself() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "l5-big",
        FieldTable::new().with("x-max-length-bytes", 5i32),
    );
    publish(&ch, "l5-big", "ab");
    publish(&ch, "l5-big", "123456"); // 8 bytes: drop ab; 6 bytes: drop it too
    assert_eq!(ready(&b, "l5-big"), 0);
    assert_eq!(stats(&b).maxlen, 2);
    publish(&ch, "l5-big", "12345");
    assert_eq!(drain(&ch, "l5-big"), ["12345"]);
}

#[test]
fn x3_through_the_default_exchange_the_original_key_and_cc_name_the_queues() {
    let b = broker();
    let ch = channel(&b);
    declare(
        &ch,
        "x3d-src",
        FieldTable::new().with("x-dead-letter-exchange", ""),
    );
    declare(&ch, "x3d-cc", no_args());
    let headers = FieldTable::new().with("CC", vec![FieldValue::from("x3d-cc")]);
    publish_props(
        &ch,
        "x3d-src",
        "m0",
        BasicProperties::default().with_headers(headers),
    );
    assert_eq!(ready(&b, "x3d-cc"), 1, "CC routed the original too");
    reject_drop(&get_one(&ch, "x3d-src"));
    // Rejected: no cycle check, so it may come back to its own queue.
    let back = drain_deliveries(&ch, "x3d-src");
    assert_eq!(bodies(&back), ["m0"]);
    assert_eq!(
        deaths(&back[0]),
        [death(
            "x3d-src",
            "rejected",
            1,
            T0_S,
            "",
            &["x3d-src", "x3d-cc"]
        )]
    );
    let cc = drain_deliveries(&ch, "x3d-cc");
    assert_eq!(bodies(&cc), ["m0", "m0"]);
    assert!(deaths(&cc[0]).is_empty() && deaths(&cc[1]).len() == 1);
    assert_eq!(stats(&b).dead_lettered, 1);
}

#[test]
fn x6_a_length_limit_cycle_drops_the_message_when_it_would_come_back() {
    let b = broker();
    let ch = channel(&b);
    declare(&ch, "x6-la", dlx_with("x6-lb", "x-max-length", 1i32));
    declare(&ch, "x6-lb", dlx_with("x6-la", "x-max-length", 1i32));
    publish(&ch, "x6-la", "m0");
    publish(&ch, "x6-la", "m1"); // m0 dropped to x6-lb
    assert_eq!(ready(&b, "x6-lb"), 1);
    publish(&ch, "x6-lb", "n0"); // m0 dropped again: back to x6-la would close the cycle
    assert_eq!(drain(&ch, "x6-la"), ["m1"]);
    assert_eq!(drain(&ch, "x6-lb"), ["n0"]);
    assert_eq!(
        stats(&b),
        Stats {
            maxlen: 2,
            dead_lettered: 1,
            dead_dropped: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn x6_a_rejection_newer_than_the_target_s_entry_lets_it_through() {
    let b = broker();
    let ch = channel(&b);
    // a --expired--> b --expired--> c --rejected--> a --expired--> b: b's entry is older than
    // c's rejection, so b takes it.
    declare(&ch, "x6-na", dlx_with("x6-nb", "x-message-ttl", 100i32));
    declare(&ch, "x6-nb", dlx_with("x6-nc", "x-message-ttl", 100i32));
    declare(&ch, "x6-nc", dlx_to("x6-na"));
    publish(&ch, "x6-na", "m0");
    advance(&b, 100);
    advance(&b, 100);
    assert_eq!(ready(&b, "x6-nc"), 1);
    reject_drop(&get_one(&ch, "x6-nc"));
    assert_eq!(ready(&b, "x6-na"), 1);
    advance(&b, 100);
    assert_eq!(ready(&b, "x6-nb"), 1, "b's entry predates the rejection");
    assert_eq!(stats(&b).dead_dropped, 0);
}

#[test]
fn x6_a_rejection_older_than_the_cycle_does_not_keep_it_going() {
    let b = broker();
    let ch = channel(&b);
    // a --rejected--> b --expired--> c --expired--> b: the cycle b, c has no rejection.
    declare(&ch, "x6-oa", dlx_to("x6-ob"));
    declare(&ch, "x6-ob", dlx_with("x6-oc", "x-message-ttl", 100i32));
    declare(&ch, "x6-oc", dlx_with("x6-ob", "x-message-ttl", 100i32));
    publish(&ch, "x6-oa", "m0");
    reject_drop(&get_one(&ch, "x6-oa"));
    advance(&b, 100);
    assert_eq!(ready(&b, "x6-oc"), 1);
    advance(&b, 100);
    assert_eq!(
        (ready(&b, "x6-oa"), ready(&b, "x6-ob"), ready(&b, "x6-oc")),
        (0, 0, 0)
    );
    assert_eq!(
        stats(&b),
        Stats {
            rejected: 1,
            expired: 2,
            dead_lettered: 2,
            dead_dropped: 1,
            ..Stats::default()
        }
    );
}

#[test]
fn d6_a7_when_the_active_consumer_s_handle_drops_the_next_takes_over() {
    let b = broker();
    declare(&channel(&b), "d6-drop", sac());
    let ch1 = channel(&b);
    let c1 = consume(&ch1, "d6-drop");
    let ch2 = channel(&b);
    let c2 = consume(&ch2, "d6-drop");
    publish(&ch2, "d6-drop", "m0");
    let _d = take(&c1);
    drop(c1); // loss without cancel: its delivery is taken back
    let back = take(&c2);
    assert_eq!(body(&back), "m0");
    assert!(back.redelivered());
    assert_eq!(back.failed_count(), 1);
    publish(&ch2, "d6-drop", "m1");
    assert_eq!(bodies(&take_all(&c2)), ["m1"]);
}

#[test]
fn s2_requeue_at_tail_order_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    {
        let b = open_at(dir.path(), &clock);
        let ch = channel(&b);
        declare_durable(&ch, "s2-tail", no_args());
        ch.confirm_select().unwrap();
        for i in 0..3 {
            publish_persistent(&ch, "s2-tail", &format!("m{i}"));
        }
        let m0 = get_one(&ch, "s2-tail");
        assert_eq!(m0.nack(requeue_at_tail()), Ok(Settled::Done));
        b.close();
    }
    let b = open_at(dir.path(), &clock);
    let got = drain_deliveries(&channel(&b), "s2-tail");
    assert_eq!(
        bodies(&got),
        ["m1", "m2", "m0"],
        "the queue's order at close"
    );
    assert_eq!(got[2].returned_count(), 1);
}

#[test]
fn s6_l1_a_dead_lettered_copy_s_ttl_counts_from_its_dead_lettering_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    {
        let b = open_at(dir.path(), &clock);
        let ch = channel(&b);
        declare_durable(&ch, "s6-dl-src", dlx_to("s6-dl-wait"));
        declare_durable(
            &ch,
            "s6-dl-wait",
            FieldTable::new().with("x-message-ttl", 1000i32),
        );
        ch.confirm_select().unwrap();
        publish_persistent(&ch, "s6-dl-src", "m0");
        advance(&b, 300);
        reject_drop(&get_one(&ch, "s6-dl-src")); // enters s6-dl-wait at T0 + 300
        advance(&b, 200);
        b.close();
    }
    let b = open_at(dir.path(), &clock);
    assert_eq!(ready(&b, "s6-dl-wait"), 1);
    advance(&b, 799);
    assert_eq!(
        ready(&b, "s6-dl-wait"),
        1,
        "1000 ms from T0 + 300, not from T0"
    );
    advance(&b, 1);
    assert_eq!(ready(&b, "s6-dl-wait"), 0);
}

#[test]
fn l2_l7_in_a_priority_queue_an_expired_message_behind_a_live_head_waits() {
    let b = broker();
    let ch = channel(&b);
    let args = dlx_with("l2-prio-dlq", "x-max-priority", 5i32);
    declare(&ch, "l2-prio", args);
    declare(&ch, "l2-prio-dlq", no_args());
    publish_prio(&ch, "l2-prio", "high", Some(5));
    publish_props(
        &ch,
        "l2-prio",
        "low",
        BasicProperties::default()
            .with_priority(1)
            .with_expiration("100"),
    );
    advance(&b, 100);
    // "low" is behind "high" in delivery order: it waits, counted.
    assert_eq!(ready(&b, "l2-prio"), 2);
    assert_eq!(ready(&b, "l2-prio-dlq"), 0);
    assert_eq!(body(&get_one(&ch, "l2-prio")), "high");
    assert!(
        get(&ch, "l2-prio").is_none(),
        "at the head now, and past its time"
    );
    assert_eq!(drain(&ch, "l2-prio-dlq"), ["low"]);
}
