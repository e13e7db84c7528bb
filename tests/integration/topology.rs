//! The broker's topology and publish calls against SEMANTICS N, E, Q, P, R and F: one test per
//! rule, each named after it. Every error case asserts the reply code, the scope, that a channel
//! error closes the channel (later calls fail locally with the same code, F2, F5) and that the
//! failed call changed nothing (F4).
//!
//! Brokers run on a manual clock, so no background thread runs and nothing here waits on time:
//! a publish returns once its message has reached its queues and consumers (the broker module's
//! contract), so absence is checked with `try_recv` and presence needs no sleep.

use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warren::broker::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions, Return, RpcClient, DEFAULT_MAX_MESSAGE_SIZE, REPLY_TO,
};
use warren::clock::Clock;
use warren::message::{FieldTable, FieldValue};
use warren::route::ExchangeType::{self, Direct, Fanout, Headers, Topic};
use warren::{
    BasicProperties, Broker, BrokerOptions, Channel, Connection, Delivery, DeliveryTag, Error,
    ErrorKind, Input, Publish, Scope, Settled,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Long enough never to fire when the engine is right; deliveries are in the mailbox before
/// `basic_publish` returns.
const WAIT: Duration = Duration::from_secs(5);

fn broker_with(options: BrokerOptions) -> Broker {
    Broker::with_options(options.with_clock(Clock::manual(0)))
}

fn broker() -> Broker {
    broker_with(BrokerOptions::default())
}

fn no_args() -> FieldTable {
    FieldTable::new()
}

/// A channel on a fresh connection.
fn open(b: &Broker) -> Channel {
    b.connect().create_channel().expect("open a channel")
}

fn declare(ch: &Channel, queue: &str) {
    ch.queue_declare(queue, QueueDeclareOptions::default(), &no_args())
        .expect("declare a queue");
}

fn declare_x(ch: &Channel, exchange: &str, kind: ExchangeType) {
    ch.exchange_declare(
        exchange,
        kind,
        ExchangeDeclareOptions::default(),
        &no_args(),
    )
    .expect("declare an exchange");
}

/// Declares `exchange` with `alternate` as its alternate exchange (SEMANTICS E7).
fn declare_with_ae(ch: &Channel, exchange: &str, kind: ExchangeType, alternate: &str) {
    ch.exchange_declare(
        exchange,
        kind,
        ExchangeDeclareOptions::default(),
        &ae(alternate),
    )
    .expect("declare an exchange with an alternate");
}

fn ae(alternate: &str) -> FieldTable {
    FieldTable::new().with("alternate-exchange", alternate)
}

fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    ch.queue_bind(queue, exchange, key, &no_args())
        .expect("bind a queue");
}

fn bind_x(ch: &Channel, destination: &str, source: &str, key: &str) {
    ch.exchange_bind(destination, source, key, &no_args())
        .expect("bind an exchange");
}

fn publish_with(
    ch: &Channel,
    exchange: &str,
    key: &str,
    mandatory: bool,
    body: &str,
    properties: BasicProperties,
) -> Publish {
    ch.basic_publish(
        exchange,
        key,
        BasicPublishOptions {
            mandatory,
            immediate: false,
        },
        body.as_bytes().to_vec(),
        properties,
    )
    .expect("publish")
}

fn publish(ch: &Channel, exchange: &str, key: &str, body: &str) -> Publish {
    publish_with(ch, exchange, key, false, body, BasicProperties::default())
}

fn publish_mandatory(ch: &Channel, exchange: &str, key: &str, body: &str) -> Publish {
    publish_with(ch, exchange, key, true, body, BasicProperties::default())
}

fn with_headers(headers: FieldTable) -> BasicProperties {
    BasicProperties::default().with_headers(headers)
}

/// The number of queues a publish reached (0 unless routed).
fn queues(p: &Publish) -> usize {
    match p {
        Publish::Routed { queues } => *queues,
        _ => 0,
    }
}

/// Takes the head message of `queue` (auto-ack).
fn get(ch: &Channel, queue: &str) -> Option<Delivery> {
    ch.basic_get(queue, BasicGetOptions { no_ack: true })
        .expect("basic_get")
        .map(|g| g.delivery)
}

/// Drains `queue` (auto-ack), returning the bodies in order.
fn bodies(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(d) = get(ch, queue) {
        out.push(String::from_utf8(d.body().to_vec()).expect("UTF-8 body"));
    }
    out
}

/// Ready messages of `queue`, which must exist.
fn ready(b: &Broker, queue: &str) -> usize {
    b.queue_counts(queue).expect("the queue exists").0
}

fn no_ack() -> BasicConsumeOptions {
    BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    }
}

fn manual_ack() -> BasicConsumeOptions {
    BasicConsumeOptions::default()
}

/// Asserts that `ch` is closed by an error with `code`, and that calls on it now fail locally
/// with that code (SEMANTICS F2, F5), a publish giving its message back.
#[track_caller]
fn assert_closed(ch: &Channel, code: u16) {
    assert!(!ch.is_open(), "the channel should be closed");
    let reason = ch.close_reason().expect("closed by an error");
    assert_eq!(reason.reply_code(), Some(code), "{reason}");
    let later = ch
        .queue_declare(
            "declared-after-close",
            QueueDeclareOptions::default(),
            &no_args(),
        )
        .expect_err("a call on a closed channel fails");
    assert_eq!(later.kind(), ErrorKind::ChannelClosed, "{later}");
    assert_eq!(later.reply_code(), Some(code), "{later}");
    assert_eq!(later.scope(), Scope::Local, "{later}");
    let later = ch
        .basic_publish(
            "",
            "declared-after-close",
            BasicPublishOptions::default(),
            "late",
            BasicProperties::default(),
        )
        .expect_err("a publish on a closed channel fails");
    assert_eq!(later.error.kind(), ErrorKind::ChannelClosed);
    assert_eq!(later.error.reply_code(), Some(code));
    assert_eq!(&later.body[..], b"late");
}

/// Asserts `err` is a channel error (SEMANTICS F1) with `code` that closed `ch` (F2), later
/// calls repeating its code and text.
#[track_caller]
fn assert_channel_error(ch: &Channel, err: &Error, code: u16) {
    assert_eq!(err.kind(), ErrorKind::Amqp, "{err}");
    assert_eq!(err.reply_code(), Some(code), "{err}");
    assert_eq!(err.scope(), Scope::Channel, "{err}");
    assert_closed(ch, code);
    let later = ch
        .basic_qos(0, BasicQosOptions::default())
        .expect_err("closed");
    assert_eq!(
        later.cause().map(Error::text),
        Some(err.text()),
        "a closed channel repeats its cause's text"
    );
    assert!(
        ch.connection().is_open(),
        "a channel error leaves the connection open"
    );
}

/// Asserts `err` is a connection error (SEMANTICS F1) with `code` that closed `ch`'s
/// connection and so `ch` (F2).
#[track_caller]
fn assert_connection_error(ch: &Channel, err: &Error, code: u16) {
    assert_eq!(err.kind(), ErrorKind::Amqp, "{err}");
    assert_eq!(err.reply_code(), Some(code), "{err}");
    assert_eq!(err.scope(), Scope::Connection, "{err}");
    let conn = ch.connection();
    assert!(!conn.is_open(), "a connection error closes the connection");
    assert_eq!(conn.close_reason().and_then(|e| e.reply_code()), Some(code));
    assert_closed(ch, code);
    let again = conn.create_channel().expect_err("the connection is closed");
    assert_eq!(again.kind(), ErrorKind::ConnectionClosed, "{again}");
    assert_eq!(again.reply_code(), Some(code), "{again}");
    assert_eq!(again.scope(), Scope::Local, "{again}");
}

/// Runs `f` on a fresh channel of `conn` and asserts it fails with channel error `code`,
/// closing that channel; returns the error.
#[track_caller]
fn fails_on<T>(
    conn: &Connection,
    code: u16,
    f: impl FnOnce(&Channel) -> Result<T, Error>,
) -> Error {
    let ch = conn.create_channel().expect("open a channel");
    let err = match f(&ch) {
        Ok(_) => panic!("the call should fail with {code}"),
        Err(e) => e,
    };
    assert_channel_error(&ch, &err, code);
    err
}

/// [`fails_on`] on a fresh connection.
#[track_caller]
fn fails<T>(b: &Broker, code: u16, f: impl FnOnce(&Channel) -> Result<T, Error>) -> Error {
    fails_on(&b.connect(), code, f)
}

/// Asserts a local `TooLong` error on `input` (SEMANTICS N1, F5).
#[track_caller]
fn assert_too_long(err: &Error, input: Input) {
    assert_eq!(err.kind(), ErrorKind::TooLong, "{err}");
    assert_eq!(err.scope(), Scope::Local, "{err}");
    assert_eq!(err.reply_code(), None, "{err}");
    assert_eq!(err.input(), Some(input), "{err}");
}

/// Return handler that records every return of `ch`.
fn record_returns(ch: &Channel) -> Arc<Mutex<Vec<Return>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    ch.on_return(move |r| sink.lock().unwrap().push(r));
    got
}

// ---------------------------------------------------------------------------------------------
// N. Names and limits

#[test]
fn n1_names_up_to_255_bytes_longer_local_too_long() {
    let b = broker();
    let ch = open(&b);
    let ok = "q".repeat(255);
    let long = "q".repeat(256);
    declare(&ch, &ok);
    declare_x(&ch, &"x".repeat(255), Direct);
    bind(&ch, &ok, &"x".repeat(255), &"k".repeat(255));
    let p = publish(&ch, &"x".repeat(255), &"k".repeat(255), "m");
    assert_eq!(queues(&p), 1);
    let c = ch
        .basic_consume(&ok, &"t".repeat(255), no_ack(), &no_args())
        .expect("255-byte consumer tag");
    assert_eq!(c.tag(), "t".repeat(255));
    assert_eq!(c.recv_timeout(WAIT).unwrap().unwrap().body(), b"m");

    let err = ch
        .queue_declare(&long, QueueDeclareOptions::default(), &no_args())
        .unwrap_err();
    assert_too_long(&err, Input::Queue);
    let err = ch
        .exchange_declare(&long, Direct, ExchangeDeclareOptions::default(), &no_args())
        .unwrap_err();
    assert_too_long(&err, Input::Exchange);
    let err = ch
        .queue_bind(&ok, "amq.direct", &long, &no_args())
        .unwrap_err();
    assert_too_long(&err, Input::BindingKey);
    let err = ch
        .exchange_bind("amq.fanout", &long, "", &no_args())
        .unwrap_err();
    assert_too_long(&err, Input::Exchange);
    let err = ch
        .basic_consume(&ok, &long, no_ack(), &no_args())
        .unwrap_err();
    assert_too_long(&err, Input::ConsumerTag);
    let err = ch
        .basic_publish(
            "",
            &long,
            BasicPublishOptions::default(),
            "m",
            BasicProperties::default(),
        )
        .unwrap_err();
    assert_too_long(&err.error, Input::RoutingKey);
    assert_eq!(&err.body[..], b"m");
    let props = BasicProperties::default().with_content_type(long.clone());
    let err = ch
        .basic_publish("", &ok, BasicPublishOptions::default(), "m", props.clone())
        .unwrap_err();
    assert_too_long(&err.error, Input::Property);
    assert_eq!(*err.properties, props);
    let err = ch
        .basic_publish(
            "",
            &ok,
            BasicPublishOptions::default(),
            "m",
            with_headers(FieldTable::new().with(long.clone(), 1u8)),
        )
        .unwrap_err();
    assert_too_long(&err.error, Input::Property);

    // F5: local errors close and change nothing.
    assert!(ch.is_open());
    assert_eq!(b.queue_counts(&long), None);
    assert!(!b.exchange_exists(&long));
    assert_eq!(b.queue_counts(&ok), Some((0, 1)));

    // Names compare bytewise: case and Unicode normalisation make different names.
    for name in ["Q", "q", "\u{e9}", "e\u{301}"] {
        declare(&ch, name);
    }
    publish(&ch, "", "\u{e9}", "m");
    assert_eq!(ready(&b, "\u{e9}"), 1);
    assert_eq!(ready(&b, "e\u{301}"), 0);
    assert_eq!(ready(&b, "Q"), 0);
}

#[test]
fn n2_name_with_newline_406() {
    let b = broker();
    for name in ["a\nb", "a\rb", "\n", "trailing\r\n"] {
        let err = fails(&b, 406, |ch| {
            ch.queue_declare(name, QueueDeclareOptions::default(), &no_args())
        });
        assert!(err.text().starts_with("PRECONDITION_FAILED"), "{err}");
        assert_eq!(b.queue_counts(name), None);
        fails(&b, 406, |ch| {
            ch.exchange_declare(name, Fanout, ExchangeDeclareOptions::default(), &no_args())
        });
        assert!(!b.exchange_exists(name));
    }
    // Stripped versions were not created either (warren refuses rather than strips).
    assert_eq!(b.queue_counts("ab"), None);
    assert!(!b.exchange_exists("ab"));
}

#[test]
fn n3_amq_prefix_reserved_403() {
    let b = broker();
    fails(&b, 403, |ch| {
        ch.queue_declare("amq.mine", QueueDeclareOptions::default(), &no_args())
    });
    assert_eq!(b.queue_counts("amq.mine"), None);
    fails(&b, 403, |ch| {
        ch.exchange_declare(
            "amq.mine",
            Topic,
            ExchangeDeclareOptions::default(),
            &no_args(),
        )
    });
    assert!(!b.exchange_exists("amq.mine"));

    let ch = open(&b);
    // Passive declares and redeclares of existing `amq.` objects are fine.
    ch.exchange_declare(
        "amq.direct",
        Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        &no_args(),
    )
    .expect("passive declare of amq.direct");
    ch.exchange_declare(
        "amq.direct",
        Direct,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        &no_args(),
    )
    .expect("redeclare of amq.direct");
    let server_named = ch
        .queue_declare("", QueueDeclareOptions::default(), &no_args())
        .unwrap()
        .name;
    assert!(server_named.starts_with("amq."));
    ch.queue_declare(&server_named, QueueDeclareOptions::default(), &no_args())
        .expect("redeclare of an existing amq. queue");
    ch.queue_declare(
        &server_named,
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        &no_args(),
    )
    .expect("passive declare of an existing amq. queue");
    assert!(ch.is_open());

    // Deleting an `amq.` exchange → 403, and it stays.
    for name in [
        "amq.direct",
        "amq.fanout",
        "amq.topic",
        "amq.headers",
        "amq.match",
    ] {
        fails(&b, 403, |ch| {
            ch.exchange_delete(name, ExchangeDeleteOptions::default())
        });
        assert!(b.exchange_exists(name), "{name}");
    }
    // Even one that does not exist: the prefix is reserved.
    fails(&b, 403, |ch| {
        ch.exchange_delete("amq.nothing", ExchangeDeleteOptions::default())
    });
}

#[test]
fn n4_body_over_max_message_size_406() {
    assert_eq!(DEFAULT_MAX_MESSAGE_SIZE, 16 * 1024 * 1024);
    assert_eq!(BrokerOptions::default().max_message_size, 16_777_216);
    let b = broker_with(BrokerOptions::default().with_max_message_size(8));
    let ch = open(&b);
    declare(&ch, "q");
    let p = publish(&ch, "", "q", "12345678");
    assert_eq!(queues(&p), 1, "a body of exactly the limit is accepted");

    let body = Bytes::from(b"123456789".to_vec());
    let props = BasicProperties::default().with_message_id("too-big");
    let err = ch
        .basic_publish(
            "",
            "q",
            BasicPublishOptions::default(),
            body.clone(),
            props.clone(),
        )
        .unwrap_err();
    assert_eq!(err.body, body);
    assert_eq!(
        err.body.as_ptr(),
        body.as_ptr(),
        "the body comes back, not a copy"
    );
    assert_eq!(*err.properties, props);
    assert_channel_error(&ch, &err.error, 406);
    assert_eq!(ready(&b, "q"), 1, "nothing routed");
}

#[test]
fn n5_channel_max_530_closes_connection() {
    let b = broker_with(BrokerOptions::default().with_channel_max(2));
    let conn = b.connect();
    let c1 = conn.create_channel().unwrap();
    let _c2 = conn.create_channel().unwrap();
    c1.queue_declare(
        "mine",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        &no_args(),
    )
    .unwrap();
    let err = conn.create_channel().unwrap_err();
    assert_connection_error(&c1, &err, 530);
    assert_eq!(
        b.queue_counts("mine"),
        None,
        "its exclusive queue went with it"
    );

    // Another connection has its own count, and closed channels do not count.
    let other = b.connect();
    let a = other.create_channel().unwrap();
    let _b2 = other.create_channel().unwrap();
    a.close();
    let c = other
        .create_channel()
        .expect("a closed channel frees its slot");
    assert!(c.is_open());
    assert!(other.is_open());
}

// ---------------------------------------------------------------------------------------------
// E. Exchanges

#[test]
fn e1_direct_routes_on_equal_key() {
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "d", Direct);
    for q in ["qa", "qb", "qab"] {
        declare(&ch, q);
    }
    bind(&ch, "qa", "d", "a");
    bind(&ch, "qb", "d", "b");
    bind(&ch, "qab", "d", "a");
    bind(&ch, "qab", "d", "b");
    assert_eq!(queues(&publish(&ch, "d", "a", "1")), 2);
    assert_eq!(queues(&publish(&ch, "d", "b", "2")), 2);
    assert!(matches!(publish(&ch, "d", "c", "3"), Publish::Unroutable));
    assert!(matches!(publish(&ch, "d", "A", "4"), Publish::Unroutable));
    assert!(matches!(publish(&ch, "d", "a.b", "5"), Publish::Unroutable));
    assert_eq!(bodies(&ch, "qa"), ["1"]);
    assert_eq!(bodies(&ch, "qb"), ["2"]);
    assert_eq!(bodies(&ch, "qab"), ["1", "2"]);
}

#[test]
fn e1_fanout_routes_to_every_binding_ignoring_keys() {
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "f", Fanout);
    declare(&ch, "q1");
    declare(&ch, "q2");
    bind(&ch, "q1", "f", "x");
    bind(&ch, "q2", "f", "");
    bind(&ch, "q2", "f", "y");
    assert_eq!(queues(&publish(&ch, "f", "z", "m")), 2);
    assert_eq!(bodies(&ch, "q1"), ["m"]);
    assert_eq!(bodies(&ch, "q2"), ["m"], "one copy per queue");
}

#[test]
fn e1_topic_routes_by_pattern() {
    // SEMANTICS T5, through the broker.
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "t", Topic);
    declare(&ch, "q1");
    declare(&ch, "q2");
    bind(&ch, "q1", "t", "*.orange.*");
    bind(&ch, "q2", "t", "*.*.rabbit");
    bind(&ch, "q2", "t", "lazy.#");
    for (key, want) in [
        ("quick.orange.rabbit", 2),
        ("lazy.pink.rabbit", 1),
        ("lazy", 1),
        ("orange", 0),
        ("quick.orange.new.rabbit", 0),
    ] {
        assert_eq!(queues(&publish(&ch, "t", key, key)), want, "{key}");
    }
    assert_eq!(bodies(&ch, "q1"), ["quick.orange.rabbit"]);
    assert_eq!(
        bodies(&ch, "q2"),
        ["quick.orange.rabbit", "lazy.pink.rabbit", "lazy"]
    );
}

#[test]
fn e1_other_exchange_types_406() {
    for name in ["x-consistent-hash", "Direct", "", "x-delayed-message"] {
        let err = name.parse::<ExchangeType>().unwrap_err();
        assert_eq!(err.reply_code(), Some(406), "{name}");
        assert_eq!(err.scope(), Scope::Channel);
    }
    for kind in ExchangeType::ALL {
        assert_eq!(kind.as_str().parse::<ExchangeType>().unwrap(), kind);
    }
}

#[test]
fn e2_default_exchange_routes_by_queue_name_and_is_fixed() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "jobs");
    assert_eq!(queues(&publish(&ch, "", "jobs", "m")), 1);
    assert!(matches!(
        publish(&ch, "", "nobody", "m"),
        Publish::Unroutable
    ));
    assert_eq!(ready(&b, "jobs"), 1);

    fails(&b, 403, |ch| {
        ch.exchange_declare("", Direct, ExchangeDeclareOptions::default(), &no_args())
    });
    fails(&b, 403, |ch| {
        ch.exchange_declare(
            "",
            Direct,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            &no_args(),
        )
    });
    fails(&b, 403, |ch| {
        ch.exchange_delete("", ExchangeDeleteOptions::default())
    });
    fails(&b, 403, |ch| ch.queue_bind("jobs", "", "other", &no_args()));
    fails(&b, 403, |ch| {
        ch.queue_unbind("jobs", "", "jobs", &no_args())
    });
    fails(&b, 403, |ch| {
        ch.exchange_bind("", "amq.fanout", "", &no_args())
    });
    fails(&b, 403, |ch| {
        ch.exchange_bind("amq.fanout", "", "", &no_args())
    });
    fails(&b, 403, |ch| {
        ch.exchange_unbind("", "amq.fanout", "", &no_args())
    });
    fails(&b, 403, |ch| {
        ch.exchange_unbind("amq.fanout", "", "", &no_args())
    });

    // The permanent binding survived the refused unbind; nothing was added.
    let ch = open(&b);
    assert_eq!(queues(&publish(&ch, "", "jobs", "m2")), 1);
    assert!(matches!(
        publish(&ch, "", "other", "m"),
        Publish::Unroutable
    ));

    // `amq.default` is no alias.
    let err = fails(&b, 404, |ch| {
        ch.basic_publish(
            "amq.default",
            "jobs",
            BasicPublishOptions::default(),
            "m",
            BasicProperties::default(),
        )
        .map_err(Error::from)
    });
    assert!(err.text().contains("amq.default"), "{err}");
    assert_eq!(ready(&b, "jobs"), 2);
}

/// Whether a message with `headers` reaches a queue bound to a headers exchange with
/// `binding` (SEMANTICS E3).
fn headers_route(binding: FieldTable, headers: Option<FieldTable>) -> bool {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    ch.queue_bind("q", "amq.headers", "ignored", &binding)
        .expect("bind to amq.headers");
    let mut props = BasicProperties::default();
    props.headers = headers;
    let p = publish_with(&ch, "amq.headers", "any-key", false, "m", props);
    assert_eq!(ready(&b, "q"), queues(&p));
    p.is_routed()
}

fn h() -> FieldTable {
    FieldTable::new()
}

#[test]
fn e3_headers_all_is_default() {
    let binding = h().with("format", "pdf").with("type", "report");
    let all = binding.clone().with("x-match", "all");
    for b in [binding, all] {
        assert!(headers_route(
            b.clone(),
            Some(
                h().with("format", "pdf")
                    .with("type", "report")
                    .with("extra", 1u8)
            )
        ));
        assert!(!headers_route(b.clone(), Some(h().with("format", "pdf"))));
        assert!(!headers_route(
            b.clone(),
            Some(h().with("format", "pdf").with("type", "log"))
        ));
        assert!(!headers_route(b, None));
    }
}

#[test]
fn e3_headers_any() {
    let b = h()
        .with("x-match", "any")
        .with("format", "pdf")
        .with("type", "report");
    assert!(headers_route(b.clone(), Some(h().with("format", "pdf"))));
    assert!(headers_route(b.clone(), Some(h().with("type", "report"))));
    assert!(headers_route(
        b.clone(),
        Some(h().with("format", "zip").with("type", "report"))
    ));
    assert!(!headers_route(
        b.clone(),
        Some(h().with("format", "zip").with("type", "log"))
    ));
    assert!(!headers_route(b, None));
}

#[test]
fn e3_headers_x_arguments_are_terms_only_with_x_modes() {
    // Plain modes skip `x-` arguments.
    let all = h()
        .with("x-match", "all")
        .with("x-tenant", "acme")
        .with("a", 1u8);
    assert!(headers_route(all.clone(), Some(h().with("a", 1u8))));
    let any = h().with("x-match", "any").with("x-tenant", "acme");
    assert!(
        !headers_route(any, Some(h().with("x-tenant", "acme"))),
        "any without terms matches nothing"
    );
    // `-with-x` modes count them; `x-match` itself is never a term.
    let all_x = h()
        .with("x-match", "all-with-x")
        .with("x-tenant", "acme")
        .with("a", 1u8);
    assert!(!headers_route(all_x.clone(), Some(h().with("a", 1u8))));
    assert!(headers_route(
        all_x.clone(),
        Some(h().with("a", 1u8).with("x-tenant", "acme"))
    ));
    assert!(!headers_route(
        all_x,
        Some(h().with("a", 1u8).with("x-tenant", "other"))
    ));
    let any_x = h()
        .with("x-match", "any-with-x")
        .with("x-tenant", "acme")
        .with("a", 1u8);
    assert!(headers_route(
        any_x.clone(),
        Some(h().with("x-tenant", "acme"))
    ));
    assert!(headers_route(any_x.clone(), Some(h().with("a", 1u8))));
    assert!(!headers_route(any_x, Some(h().with("x-tenant", "x"))));
    let only_match = h().with("x-match", "all-with-x");
    assert!(
        headers_route(only_match, None),
        "x-match is no term: all-with-x with no other argument matches everything"
    );
}

#[test]
fn e3_headers_void_term_needs_presence_only() {
    let b = h().with("flag", FieldValue::Void);
    assert!(headers_route(b.clone(), Some(h().with("flag", "anything"))));
    assert!(headers_route(b.clone(), Some(h().with("flag", 0u8))));
    assert!(headers_route(
        b.clone(),
        Some(h().with("flag", FieldValue::Void))
    ));
    assert!(!headers_route(b.clone(), Some(h().with("other", 1u8))));
    assert!(!headers_route(b, None));
    // A void header matches a void term only, not a valued one.
    assert!(!headers_route(
        h().with("flag", "x"),
        Some(h().with("flag", FieldValue::Void))
    ));
    let any = h()
        .with("x-match", "any")
        .with("flag", FieldValue::Void)
        .with("n", 5u8);
    assert!(headers_route(any.clone(), Some(h().with("flag", 1u8))));
    assert!(headers_route(any.clone(), Some(h().with("n", 5i64))));
    assert!(!headers_route(any, Some(h().with("n", 6i64))));
}

#[test]
fn e3_headers_integer_widths_are_one_class() {
    let ints = [
        FieldValue::I8(7),
        FieldValue::U8(7),
        FieldValue::I16(7),
        FieldValue::U16(7),
        FieldValue::I32(7),
        FieldValue::U32(7),
        FieldValue::I64(7),
        FieldValue::U64(7),
    ];
    for term in &ints {
        for value in &ints {
            assert!(
                headers_route(
                    h().with("n", term.clone()),
                    Some(h().with("n", value.clone()))
                ),
                "{term:?} vs {value:?}"
            );
        }
    }
    assert!(headers_route(
        h().with("n", FieldValue::I32(-5)),
        Some(h().with("n", FieldValue::I8(-5)))
    ));
    // Other classes are not integers.
    for other in [
        FieldValue::from("7"),
        FieldValue::F64(7.0),
        FieldValue::F32(7.0),
        FieldValue::Timestamp(7),
        FieldValue::Decimal { scale: 0, value: 7 },
        FieldValue::Bool(true),
        FieldValue::I64(8),
    ] {
        assert!(
            !headers_route(h().with("n", 7u8), Some(h().with("n", other.clone()))),
            "{other:?}"
        );
    }
}

#[test]
fn e3_headers_without_terms_all_matches_every_message_any_none() {
    assert!(headers_route(h(), None));
    assert!(headers_route(h(), Some(h().with("a", 1u8))));
    assert!(headers_route(h().with("x-match", "all"), None));
    assert!(!headers_route(h().with("x-match", "any"), None));
    assert!(!headers_route(
        h().with("x-match", "any"),
        Some(h().with("a", 1u8))
    ));
}

#[test]
fn e3_headers_invalid_x_match_406() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    for bad in [
        FieldValue::from("some"),
        FieldValue::from("ALL"),
        FieldValue::from(""),
        FieldValue::U8(1),
    ] {
        let args = h().with("x-match", bad.clone()).with("a", 1u8);
        let err = fails(&b, 406, |ch| ch.queue_bind("q", "amq.headers", "", &args));
        assert!(err.text().contains("x-match"), "{err}");
    }
    // Nothing was bound.
    let p = publish_with(
        &ch,
        "amq.headers",
        "",
        false,
        "m",
        with_headers(h().with("a", 1u8)),
    );
    assert!(matches!(p, Publish::Unroutable));
}

#[test]
fn e4_predeclared_exchanges_exist_durable_undeletable() {
    let b = broker();
    let ch = open(&b);
    for (name, kind) in [
        ("amq.direct", Direct),
        ("amq.fanout", Fanout),
        ("amq.topic", Topic),
        ("amq.headers", Headers),
        ("amq.match", Headers),
    ] {
        assert!(b.exchange_exists(name), "{name}");
        // A redeclare must match type and durable=true.
        ch.exchange_declare(
            name,
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            &no_args(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        fails(&b, 406, |ch| {
            ch.exchange_declare(name, kind, ExchangeDeclareOptions::default(), &no_args())
        });
        fails(&b, 403, |ch| {
            ch.exchange_delete(name, ExchangeDeleteOptions::default())
        });
        assert!(b.exchange_exists(name));
    }
    // amq.match is a headers exchange.
    declare(&ch, "q");
    ch.queue_bind("q", "amq.match", "", &h().with("a", 1u8))
        .unwrap();
    let p = publish_with(
        &ch,
        "amq.match",
        "zzz",
        false,
        "m",
        with_headers(h().with("a", 1u8)),
    );
    assert_eq!(queues(&p), 1);
}

#[test]
fn e5_binding_twice_is_a_no_op() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    declare_x(&ch, "f", Fanout);
    bind(&ch, "q", "f", "k");
    bind(&ch, "q", "f", "k");
    bind(&ch, "q", "amq.direct", "k");
    bind(&ch, "q", "amq.direct", "k");
    assert_eq!(queues(&publish(&ch, "f", "", "1")), 1);
    assert_eq!(queues(&publish(&ch, "amq.direct", "k", "2")), 1);
    assert_eq!(bodies(&ch, "q"), ["1", "2"]);
    // One unbind removes the binding: it was one element of a set.
    ch.queue_unbind("q", "f", "k", &no_args()).unwrap();
    ch.queue_unbind("q", "amq.direct", "k", &no_args()).unwrap();
    assert!(matches!(publish(&ch, "f", "", "3"), Publish::Unroutable));
    assert!(matches!(
        publish(&ch, "amq.direct", "k", "4"),
        Publish::Unroutable
    ));
    // Exchange bindings are a set too.
    declare_x(&ch, "g", Fanout);
    bind_x(&ch, "f", "g", "");
    bind_x(&ch, "f", "g", "");
    bind(&ch, "q", "f", "");
    assert_eq!(queues(&publish(&ch, "g", "", "5")), 1);
    ch.exchange_unbind("f", "g", "", &no_args()).unwrap();
    assert!(matches!(publish(&ch, "g", "", "6"), Publish::Unroutable));
    assert_eq!(bodies(&ch, "q"), ["5"]);
}

#[test]
fn e5_binding_with_a_missing_end_404() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    declare_x(&ch, "x", Fanout);
    let err = fails(&b, 404, |ch| ch.queue_bind("missing", "x", "", &no_args()));
    assert!(err.text().contains("missing"), "{err}");
    let err = fails(&b, 404, |ch| ch.queue_bind("q", "nowhere", "", &no_args()));
    assert!(err.text().contains("nowhere"), "{err}");
    fails(&b, 404, |ch| {
        ch.queue_unbind("missing", "x", "", &no_args())
    });
    fails(&b, 404, |ch| {
        ch.queue_unbind("q", "nowhere", "", &no_args())
    });
    fails(&b, 404, |ch| {
        ch.exchange_bind("nowhere", "x", "", &no_args())
    });
    fails(&b, 404, |ch| {
        ch.exchange_bind("x", "nowhere", "", &no_args())
    });
    fails(&b, 404, |ch| {
        ch.exchange_unbind("nowhere", "x", "", &no_args())
    });
    fails(&b, 404, |ch| {
        ch.exchange_unbind("x", "nowhere", "", &no_args())
    });
    // Nothing was created or bound.
    assert_eq!(b.queue_counts("missing"), None);
    assert!(!b.exchange_exists("nowhere"));
    assert!(matches!(publish(&ch, "x", "", "m"), Publish::Unroutable));
}

#[test]
fn e6_exchange_binding_feeds_the_destination() {
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "src", Direct);
    declare_x(&ch, "dst", Topic);
    declare(&ch, "q");
    bind_x(&ch, "dst", "src", "a.b");
    bind(&ch, "q", "dst", "a.*");
    assert_eq!(queues(&publish(&ch, "src", "a.b", "1")), 1);
    assert!(matches!(
        publish(&ch, "src", "a.c", "2"),
        Publish::Unroutable
    ));
    let d = get(&ch, "q").unwrap();
    assert_eq!(d.body(), b"1");
    assert_eq!(
        d.exchange(),
        "src",
        "the delivery names the exchange published to"
    );
    assert_eq!(d.routing_key(), "a.b");
}

#[test]
fn e6_exchange_cycle_delivers_once_per_queue() {
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "a", Fanout);
    declare_x(&ch, "b", Fanout);
    bind_x(&ch, "b", "a", "");
    bind_x(&ch, "a", "b", "");
    bind_x(&ch, "a", "a", "");
    for q in ["qa", "qb", "qboth"] {
        declare(&ch, q);
    }
    bind(&ch, "qa", "a", "");
    bind(&ch, "qb", "b", "");
    bind(&ch, "qboth", "a", "");
    bind(&ch, "qboth", "b", "");
    assert_eq!(queues(&publish(&ch, "a", "", "from-a")), 3);
    assert_eq!(queues(&publish(&ch, "b", "", "from-b")), 3);
    for q in ["qa", "qb", "qboth"] {
        assert_eq!(bodies(&ch, q), ["from-a", "from-b"], "{q}");
    }
}

#[test]
fn e6_diamond_delivers_one_copy() {
    let b = broker();
    let ch = open(&b);
    for x in ["a", "b", "c", "d"] {
        declare_x(&ch, x, Fanout);
    }
    bind_x(&ch, "b", "a", "");
    bind_x(&ch, "c", "a", "");
    bind_x(&ch, "d", "b", "");
    bind_x(&ch, "d", "c", "");
    declare(&ch, "q");
    declare(&ch, "deep");
    bind(&ch, "q", "b", "");
    bind(&ch, "q", "c", "");
    bind(&ch, "deep", "d", "");
    bind(&ch, "deep", "a", "");
    assert_eq!(queues(&publish(&ch, "a", "", "m")), 2);
    assert_eq!(bodies(&ch, "q"), ["m"]);
    assert_eq!(bodies(&ch, "deep"), ["m"]);
}

#[test]
fn e7_alternate_exchange_takes_unroutable() {
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "ae", Fanout);
    declare_with_ae(&ch, "x", Direct, "ae");
    declare(&ch, "main");
    declare(&ch, "lost");
    bind(&ch, "main", "x", "k");
    bind(&ch, "lost", "ae", "");
    assert_eq!(queues(&publish(&ch, "x", "k", "routed")), 1);
    assert_eq!(queues(&publish(&ch, "x", "other", "unroutable")), 1);
    assert_eq!(bodies(&ch, "main"), ["routed"]);
    let d = get(&ch, "lost").unwrap();
    assert_eq!(d.body(), b"unroutable");
    assert_eq!(d.routing_key(), "other");
    assert_eq!(d.exchange(), "x");
    assert!(
        get(&ch, "lost").is_none(),
        "a matched message skips the alternate"
    );
}

#[test]
fn e7_alternate_exchange_keeps_key_and_headers() {
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "ae-direct", Direct);
    declare_x(&ch, "ae-headers", Headers);
    declare_with_ae(&ch, "x1", Fanout, "ae-direct");
    declare_with_ae(&ch, "x2", Topic, "ae-headers");
    declare(&ch, "by-key");
    declare(&ch, "by-header");
    bind(&ch, "by-key", "ae-direct", "the.key");
    ch.queue_bind("by-header", "ae-headers", "", &h().with("kind", "audit"))
        .unwrap();
    assert_eq!(queues(&publish(&ch, "x1", "the.key", "k")), 1);
    assert!(matches!(
        publish(&ch, "x1", "other", "k2"),
        Publish::Unroutable
    ));
    let p = publish_with(
        &ch,
        "x2",
        "z",
        false,
        "h",
        with_headers(h().with("kind", "audit")),
    );
    assert_eq!(queues(&p), 1);
    assert_eq!(bodies(&ch, "by-key"), ["k"]);
    assert_eq!(bodies(&ch, "by-header"), ["h"]);
}

#[test]
fn e7_alternate_exchange_chain() {
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "x3", Fanout);
    declare_with_ae(&ch, "x2", Direct, "x3");
    declare_with_ae(&ch, "x1", Direct, "x2");
    declare(&ch, "end");
    bind(&ch, "end", "x3", "");
    assert_eq!(queues(&publish(&ch, "x1", "k", "chain")), 1);
    assert_eq!(bodies(&ch, "end"), ["chain"]);
    // An exchange reached through a binding passes to its alternate too.
    declare_x(&ch, "front", Fanout);
    declare_with_ae(&ch, "inner", Direct, "x3");
    bind_x(&ch, "inner", "front", "");
    assert_eq!(queues(&publish(&ch, "front", "k", "via-binding")), 1);
    assert_eq!(bodies(&ch, "end"), ["via-binding"]);
}

#[test]
fn e7_alternate_exchange_chain_stops_at_visited() {
    let b = broker();
    let ch = open(&b);
    let returns = record_returns(&ch);
    // A pure cycle of alternates, no queue anywhere.
    declare_with_ae(&ch, "a", Direct, "b");
    declare_with_ae(&ch, "b", Direct, "a");
    assert!(matches!(
        publish_mandatory(&ch, "a", "k", "m1"),
        Publish::Returned(_)
    ));
    // An exchange reached by binding whose alternate was already visited.
    declare_x(&ch, "c", Fanout);
    declare_with_ae(&ch, "d", Direct, "c");
    bind_x(&ch, "d", "c", "");
    assert!(matches!(
        publish_mandatory(&ch, "c", "k", "m2"),
        Publish::Returned(_)
    ));
    // A queue behind the loop still gets one copy.
    declare(&ch, "q");
    bind(&ch, "q", "d", "k");
    assert_eq!(queues(&publish_mandatory(&ch, "c", "k", "m3")), 1);
    assert_eq!(bodies(&ch, "q"), ["m3"]);
    assert_eq!(returns.lock().unwrap().len(), 2);
}

#[test]
fn e7_missing_alternate_is_skipped() {
    let b = broker();
    let ch = open(&b);
    declare_with_ae(&ch, "x", Direct, "not-there");
    assert!(matches!(publish(&ch, "x", "k", "m"), Publish::Unroutable));
    assert_eq!(b.unroutable_count(), 1);
    // A missing link in a chain is skipped.
    declare_with_ae(&ch, "y", Direct, "not-there");
    declare_with_ae(&ch, "z", Direct, "y");
    assert!(matches!(
        publish_mandatory(&ch, "z", "k", "m"),
        Publish::Returned(_)
    ));
    // The alternate may come into existence later.
    declare_x(&ch, "not-there", Fanout);
    declare(&ch, "q");
    bind(&ch, "q", "not-there", "");
    assert_eq!(queues(&publish(&ch, "x", "k", "now")), 1);
    assert_eq!(bodies(&ch, "q"), ["now"]);
}

#[test]
fn e7_alternate_reached_queues_count_as_routed() {
    let b = broker();
    let ch = open(&b);
    let returns = record_returns(&ch);
    declare_x(&ch, "ae", Fanout);
    declare_with_ae(&ch, "x", Direct, "ae");
    declare(&ch, "q");
    bind(&ch, "q", "ae", "");
    let p = publish_mandatory(&ch, "x", "nomatch", "m");
    assert!(matches!(p, Publish::Routed { queues: 1 }), "{p:?}");
    assert!(returns.lock().unwrap().is_empty(), "not returned");
    assert_eq!(b.unroutable_count(), 0);
    assert_eq!(ready(&b, "q"), 1);
}

#[test]
fn e8_internal_exchange_refuses_publish_reachable_by_binding() {
    let b = broker();
    let ch = open(&b);
    ch.exchange_declare(
        "int",
        Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        },
        &no_args(),
    )
    .unwrap();
    declare(&ch, "q");
    bind(&ch, "q", "int", "");
    let props = BasicProperties::default().with_app_id("x");
    let err = ch
        .basic_publish(
            "int",
            "",
            BasicPublishOptions::default(),
            "m",
            props.clone(),
        )
        .unwrap_err();
    assert_eq!(&err.body[..], b"m");
    assert_eq!(*err.properties, props);
    assert!(err.error.text().contains("int"), "{}", err.error);
    assert_channel_error(&ch, &err.error, 403);
    assert_eq!(ready(&b, "q"), 0);

    let ch = open(&b);
    declare_x(&ch, "front", Fanout);
    bind_x(&ch, "int", "front", "");
    assert_eq!(queues(&publish(&ch, "front", "", "via-binding")), 1);
    // As an alternate too.
    declare_with_ae(&ch, "edge", Direct, "int");
    assert_eq!(queues(&publish(&ch, "edge", "k", "via-alternate")), 1);
    assert_eq!(bodies(&ch, "q"), ["via-binding", "via-alternate"]);
}

fn auto_delete() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    }
}

#[test]
fn e9_auto_delete_exchange_goes_with_last_binding() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q1");
    declare(&ch, "q2");
    ch.exchange_declare("ad", Fanout, auto_delete(), &no_args())
        .unwrap();
    bind(&ch, "q1", "ad", "");
    bind(&ch, "q2", "ad", "");
    ch.queue_unbind("q1", "ad", "", &no_args()).unwrap();
    assert!(b.exchange_exists("ad"), "one binding left");
    ch.queue_unbind("q2", "ad", "", &no_args()).unwrap();
    assert!(!b.exchange_exists("ad"), "the last binding took it");
    fails(&b, 404, |ch| {
        ch.exchange_declare(
            "ad",
            Fanout,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            &no_args(),
        )
    });

    // Deleting the last destination counts.
    ch.exchange_declare("ad2", Direct, auto_delete(), &no_args())
        .unwrap();
    bind(&ch, "q1", "ad2", "k");
    ch.queue_delete("q1", QueueDeleteOptions::default())
        .unwrap();
    assert!(!b.exchange_exists("ad2"));

    // So does an exchange destination.
    declare_x(&ch, "plain", Fanout);
    ch.exchange_declare("ad3", Fanout, auto_delete(), &no_args())
        .unwrap();
    bind_x(&ch, "plain", "ad3", "");
    ch.exchange_delete("plain", ExchangeDeleteOptions::default())
        .unwrap();
    assert!(!b.exchange_exists("ad3"));
}

#[test]
fn e9_auto_delete_exchange_without_bindings_stays() {
    let b = broker();
    let ch = open(&b);
    ch.exchange_declare("ad", Fanout, auto_delete(), &no_args())
        .unwrap();
    assert!(b.exchange_exists("ad"));
    // Being a destination is no binding as source: unbinding it leaves it.
    declare_x(&ch, "src", Fanout);
    bind_x(&ch, "ad", "src", "");
    ch.exchange_unbind("ad", "src", "", &no_args()).unwrap();
    assert!(b.exchange_exists("ad"));
    // A refused publish or a no-op unbind does not delete it either.
    declare(&ch, "q");
    ch.queue_unbind("q", "ad", "", &no_args()).unwrap();
    assert!(b.exchange_exists("ad"));
    assert!(matches!(publish(&ch, "ad", "", "m"), Publish::Unroutable));
    assert!(b.exchange_exists("ad"));
}

#[test]
fn e10_exchange_redeclare_mismatch_406() {
    let b = broker();
    let ch = open(&b);
    let opts = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare("x", Direct, opts, &ae("ae").with("other", 1u8))
        .unwrap();
    declare_x(&ch, "ae", Fanout);
    declare(&ch, "q");
    declare(&ch, "alt");
    bind(&ch, "q", "x", "k");
    bind(&ch, "alt", "ae", "");

    let cases: [(&str, ExchangeType, ExchangeDeclareOptions, FieldTable); 6] = [
        ("type", Fanout, opts, ae("ae")),
        (
            "durable",
            Direct,
            ExchangeDeclareOptions::default(),
            ae("ae"),
        ),
        (
            "auto_delete",
            Direct,
            ExchangeDeclareOptions {
                auto_delete: true,
                ..opts
            },
            ae("ae"),
        ),
        (
            "internal",
            Direct,
            ExchangeDeclareOptions {
                internal: true,
                ..opts
            },
            ae("ae"),
        ),
        ("alternate-exchange", Direct, opts, ae("elsewhere")),
        ("alternate-exchange", Direct, opts, no_args()),
    ];
    for (field, kind, o, args) in cases {
        let err = fails(&b, 406, |ch| ch.exchange_declare("x", kind, o, &args));
        assert!(err.text().contains(field), "{field}: {err}");
    }

    // Unchanged: same type, flags and alternate.
    let ch = open(&b);
    assert_eq!(queues(&publish(&ch, "x", "k", "1")), 1);
    assert_eq!(queues(&publish(&ch, "x", "nomatch", "2")), 1);
    assert_eq!(bodies(&ch, "q"), ["1"]);
    assert_eq!(bodies(&ch, "alt"), ["2"]);
    // Other arguments are not compared.
    ch.exchange_declare("x", Direct, opts, &ae("ae").with("other", 2u8))
        .expect("other arguments differ: fine");
    ch.exchange_declare("x", Direct, opts, &ae("ae"))
        .expect("other arguments absent: fine");
    // A passive declare compares nothing...
    ch.exchange_declare(
        "x",
        Headers,
        ExchangeDeclareOptions {
            passive: true,
            internal: true,
            ..Default::default()
        },
        &no_args(),
    )
    .expect("passive compares nothing");
    assert!(ch.is_open());
    // ... and finds nothing absent.
    fails(&b, 404, |ch| {
        ch.exchange_declare(
            "absent",
            Direct,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            &no_args(),
        )
    });
    assert!(!b.exchange_exists("absent"));
}

#[test]
fn e11_exchange_delete_idempotent_and_if_unused() {
    let b = broker();
    let ch = open(&b);
    ch.exchange_delete("never-was", ExchangeDeleteOptions::default())
        .expect("deleting a missing exchange is fine");
    ch.exchange_delete("never-was", ExchangeDeleteOptions { if_unused: true })
        .unwrap();
    declare_x(&ch, "x", Fanout);
    declare(&ch, "q");
    bind(&ch, "q", "x", "");
    let err = fails(&b, 406, |ch| {
        ch.exchange_delete("x", ExchangeDeleteOptions { if_unused: true })
    });
    assert!(err.text().contains("'x'"), "{err}");
    assert!(b.exchange_exists("x"));
    assert_eq!(queues(&publish(&ch, "x", "", "m")), 1, "bindings kept");
    // Being only a destination is not "in use".
    declare_x(&ch, "dest-only", Fanout);
    bind_x(&ch, "dest-only", "x", "");
    ch.exchange_delete("dest-only", ExchangeDeleteOptions { if_unused: true })
        .expect("no binding has it as source");
    ch.exchange_delete("x", ExchangeDeleteOptions::default())
        .unwrap();
    ch.exchange_delete("x", ExchangeDeleteOptions::default())
        .expect("twice is fine");
    assert!(!b.exchange_exists("x"));
    // Unbinds of bindings that are not there are fine too.
    declare_x(&ch, "y", Direct);
    ch.exchange_unbind("y", "amq.fanout", "nope", &no_args())
        .unwrap();
    ch.queue_unbind("q", "y", "nope", &no_args()).unwrap();
    ch.queue_unbind("q", "y", "nope", &no_args()).unwrap();
    assert!(ch.is_open());
}

#[test]
fn e11_exchange_delete_drops_bindings_at_both_ends() {
    let b = broker();
    let ch = open(&b);
    declare_x(&ch, "up", Fanout);
    declare_x(&ch, "mid", Fanout);
    declare(&ch, "q");
    bind_x(&ch, "mid", "up", "");
    bind(&ch, "q", "mid", "");
    assert_eq!(queues(&publish(&ch, "up", "", "m")), 1);
    ch.exchange_delete("mid", ExchangeDeleteOptions::default())
        .unwrap();
    // Source end: `up` routes nowhere and is no longer "in use".
    assert!(matches!(publish(&ch, "up", "", "m"), Publish::Unroutable));
    // Redeclaring `mid` brings back no binding at either end.
    declare_x(&ch, "mid", Fanout);
    assert!(matches!(publish(&ch, "up", "", "m"), Publish::Unroutable));
    assert!(matches!(publish(&ch, "mid", "", "m"), Publish::Unroutable));
    ch.exchange_delete("up", ExchangeDeleteOptions { if_unused: true })
        .expect("up lost its binding with mid");
    assert_eq!(ready(&b, "q"), 1);
}

// ---------------------------------------------------------------------------------------------
// Q. Queues

#[test]
fn q1_declare_creates_and_returns_counts() {
    let b = broker();
    let ch = open(&b);
    let ok = ch
        .queue_declare("jobs", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    assert_eq!(ok.name, "jobs");
    assert_eq!((ok.message_count, ok.consumer_count), (0, 0));
    for i in 0..3 {
        publish(&ch, "", "jobs", &i.to_string());
    }
    let ok = ch
        .queue_declare("jobs", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    assert_eq!((ok.message_count, ok.consumer_count), (3, 0));
    let worker = open(&b);
    worker.basic_qos(1, BasicQosOptions::default()).unwrap();
    let c = worker
        .basic_consume("jobs", "", manual_ack(), &no_args())
        .unwrap();
    let d = c.recv_timeout(WAIT).unwrap().unwrap();
    let ok = ch
        .queue_declare("jobs", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    assert_eq!(
        (ok.message_count, ok.consumer_count),
        (2, 1),
        "ready count excludes the unacked delivery"
    );
    d.ack().unwrap();
}

#[test]
fn q2_queue_redeclare_must_match() {
    let b = broker();
    let ch = open(&b);
    let args = FieldTable::new()
        .with("x-consumer-timeout", FieldValue::I32(5000))
        .with("note", "kept");
    ch.queue_declare(
        "q",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        &args,
    )
    .unwrap();
    publish(&ch, "", "q", "m");
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let timeout = |v: FieldValue| FieldTable::new().with("x-consumer-timeout", v);
    let cases: [(&str, QueueDeclareOptions, FieldTable); 6] = [
        (
            "durable",
            QueueDeclareOptions::default(),
            timeout(5000u16.into()),
        ),
        (
            "auto_delete",
            QueueDeclareOptions {
                auto_delete: true,
                ..durable
            },
            timeout(5000u16.into()),
        ),
        ("x-consumer-timeout", durable, timeout(6000u16.into())),
        ("x-consumer-timeout", durable, no_args()),
        ("x-consumer-timeout", durable, timeout("5000".into())),
        (
            "x-queue-type",
            durable,
            timeout(5000u16.into()).with("x-queue-type", "quorum"),
        ),
    ];
    for (field, opts, args) in cases {
        let err = fails(&b, 406, |ch| ch.queue_declare("q", opts, &args));
        assert!(err.text().contains(field), "{field}: {err}");
    }
    // Nothing changed: the original declare still matches, the message is still there.
    let ch = open(&b);
    // Integers compare by value whatever the width; a missing x-queue-type is classic; other
    // arguments are kept, uncompared.
    let ok = ch
        .queue_declare(
            "q",
            durable,
            &timeout(FieldValue::U64(5000))
                .with("x-queue-type", "classic")
                .with("note", "different"),
        )
        .unwrap();
    assert_eq!(ok.message_count, 1);
    let err = fails(&b, 406, |ch| {
        ch.queue_declare("q", durable, &timeout(FieldValue::I8(0)))
    });
    assert!(err.text().contains("x-consumer-timeout"), "{err}");
    assert_eq!(ready(&b, "q"), 1);
}

fn exclusive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    }
}

#[test]
fn q3_exclusive_queue_other_connection_405() {
    let b = broker();
    let owner = b.connect();
    let ch = owner.create_channel().unwrap();
    ch.queue_declare("mine", exclusive(), &no_args()).unwrap();
    bind(&ch, "mine", "amq.direct", "k");
    publish(&ch, "", "mine", "m");

    let other = b.connect();
    fails_on(&other, 405, |ch| {
        ch.basic_consume("mine", "", no_ack(), &no_args())
    });
    fails_on(&other, 405, |ch| {
        ch.basic_get("mine", BasicGetOptions { no_ack: true })
    });
    fails_on(&other, 405, |ch| ch.queue_purge("mine"));
    fails_on(&other, 405, |ch| {
        ch.queue_delete("mine", QueueDeleteOptions::default())
    });
    fails_on(&other, 405, |ch| {
        ch.queue_bind("mine", "amq.fanout", "", &no_args())
    });
    fails_on(&other, 405, |ch| {
        ch.queue_unbind("mine", "amq.direct", "k", &no_args())
    });
    fails_on(&other, 405, |ch| {
        ch.queue_declare("mine", QueueDeclareOptions::default(), &no_args())
    });
    fails_on(&other, 405, |ch| {
        ch.queue_declare("mine", exclusive(), &no_args())
    });
    fails_on(&other, 405, |ch| {
        ch.queue_declare(
            "mine",
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            &no_args(),
        )
    });
    assert!(other.is_open(), "405 is a channel error");

    // Anyone may publish to it.
    let pub_ch = other.create_channel().unwrap();
    assert_eq!(queues(&publish(&pub_ch, "", "mine", "from-other")), 1);
    assert_eq!(
        queues(&publish(&pub_ch, "amq.direct", "k", "via-binding")),
        1
    );
    assert!(matches!(
        publish(&pub_ch, "amq.fanout", "", "x"),
        Publish::Unroutable
    ));

    // Nothing changed for the owner.
    assert_eq!(bodies(&ch, "mine"), ["m", "from-other", "via-binding"]);
}

#[test]
fn q3_exclusive_flag_flip_on_redeclare_405() {
    let b = broker();
    let conn = b.connect();
    let ch = conn.create_channel().unwrap();
    ch.queue_declare("ex", exclusive(), &no_args()).unwrap();
    declare(&ch, "shared");
    fails_on(&conn, 405, |ch| {
        ch.queue_declare("ex", QueueDeclareOptions::default(), &no_args())
    });
    fails_on(&conn, 405, |ch| {
        ch.queue_declare("shared", exclusive(), &no_args())
    });
    ch.queue_declare("ex", exclusive(), &no_args())
        .expect("the owner's same redeclare");
    assert!(b.queue_counts("ex").is_some());
    // `shared` stayed shared: another connection may use it.
    let other = open(&b);
    assert!(get(&other, "shared").is_none());
}

#[test]
fn q3_exclusive_queue_deleted_when_its_connection_closes() {
    let b = broker();
    let conn = b.connect();
    let ch = conn.create_channel().unwrap();
    ch.queue_declare("by-close", exclusive(), &no_args())
        .unwrap();
    bind(&ch, "by-close", "amq.fanout", "");
    publish(&ch, "", "by-close", "m");
    let watcher = open(&b);
    declare(&watcher, "shared");
    conn.close();
    assert_eq!(b.queue_counts("by-close"), None);
    assert_eq!(b.queue_counts("shared"), Some((0, 0)), "only its own");
    assert!(matches!(
        publish(&watcher, "amq.fanout", "", "x"),
        Publish::Unroutable
    ));
    // The name is free again, with no message and no binding.
    declare(&watcher, "by-close");
    assert_eq!(ready(&b, "by-close"), 0);

    // Dropping the last handle closes the connection too.
    let conn = b.connect();
    let ch = conn.create_channel().unwrap();
    ch.queue_declare("by-drop", exclusive(), &no_args())
        .unwrap();
    drop(conn);
    assert!(
        b.queue_counts("by-drop").is_some(),
        "the channel holds the connection"
    );
    drop(ch);
    assert_eq!(b.queue_counts("by-drop"), None);
}

#[test]
fn q4_passive_declare_creates_and_compares_nothing() {
    let b = broker();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    fails(&b, 404, |ch| {
        ch.queue_declare("absent", passive, &no_args())
    });
    assert_eq!(b.queue_counts("absent"), None);
    let ch = open(&b);
    declare(&ch, "q");
    publish(&ch, "", "q", "m");
    let ok = ch
        .queue_declare(
            "q",
            QueueDeclareOptions {
                passive: true,
                durable: true,
                auto_delete: true,
                exclusive: false,
            },
            &FieldTable::new().with("x-queue-type", "quorum"),
        )
        .expect("passive compares nothing");
    assert_eq!(
        (ok.name.as_str(), ok.message_count, ok.consumer_count),
        ("q", 1, 0)
    );
}

#[test]
fn q5_auto_delete_queue_goes_with_last_consumer() {
    let b = broker();
    let ch = open(&b);
    ch.queue_declare(
        "ad",
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        &no_args(),
    )
    .unwrap();
    bind(&ch, "ad", "amq.fanout", "");
    let c1 = ch
        .basic_consume("ad", "c1", manual_ack(), &no_args())
        .unwrap();
    let worker = open(&b);
    worker.basic_qos(1, BasicQosOptions::default()).unwrap();
    let c2 = worker
        .basic_consume("ad", "c2", manual_ack(), &no_args())
        .unwrap();
    c1.cancel().unwrap();
    assert!(b.queue_counts("ad").is_some(), "one consumer left");
    publish(&ch, "", "ad", "held");
    publish(&ch, "", "ad", "ready");
    let held = c2.recv_timeout(WAIT).unwrap().unwrap();
    assert_eq!(ready(&b, "ad"), 1);
    c2.cancel().unwrap();
    assert_eq!(b.queue_counts("ad"), None, "the last consumer took it");
    assert!(matches!(
        publish(&ch, "amq.fanout", "", "x"),
        Publish::Unroutable
    ));
    // Settling what it held changes nothing.
    assert!(held.ack().is_ok());
    assert_eq!(b.queue_counts("ad"), None);

    // Losing the consumer (handle dropped) counts as going.
    ch.queue_declare(
        "ad2",
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        &no_args(),
    )
    .unwrap();
    let c = ch.basic_consume("ad2", "", no_ack(), &no_args()).unwrap();
    drop(c);
    assert_eq!(b.queue_counts("ad2"), None);
}

#[test]
fn q5_auto_delete_queue_without_consumer_stays() {
    let b = broker();
    let ch = open(&b);
    ch.queue_declare(
        "ad",
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        &no_args(),
    )
    .unwrap();
    publish(&ch, "", "ad", "1");
    publish(&ch, "", "ad", "2");
    // basic_get is no consumer.
    assert_eq!(get(&ch, "ad").unwrap().body(), b"1");
    let g = ch
        .basic_get("ad", BasicGetOptions { no_ack: false })
        .unwrap()
        .unwrap();
    g.delivery.ack().unwrap();
    assert_eq!(b.queue_counts("ad"), Some((0, 0)));
    ch.close();
    assert_eq!(b.queue_counts("ad"), Some((0, 0)));
}

#[test]
fn q6_server_named_queues_are_unique() {
    let b = broker();
    let other = broker();
    let ch = open(&b);
    let ch2 = open(&other);
    let mut names = std::collections::HashSet::new();
    for _ in 0..200 {
        for c in [&ch, &ch2] {
            let ok = c
                .queue_declare("", QueueDeclareOptions::default(), &no_args())
                .unwrap();
            let suffix = ok
                .name
                .strip_prefix("amq.gen-")
                .unwrap_or_else(|| panic!("{} lacks amq.gen-", ok.name));
            assert!(!suffix.is_empty());
            assert!(
                suffix
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.~".contains(&c)),
                "{suffix} is URL-safe"
            );
            assert!(names.insert(ok.name.clone()), "{} repeated", ok.name);
        }
    }
    // Exclusive and transient server-named queues are fine (SEMANTICS Q7).
    let ok = ch.queue_declare("", exclusive(), &no_args()).unwrap();
    assert!(ok.name.starts_with("amq.gen-"));
}

#[test]
fn q6_empty_queue_name_means_last_declared() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "first");
    let name = ch
        .queue_declare("", QueueDeclareOptions::default(), &no_args())
        .unwrap()
        .name;
    // bind: "" is the last declared queue; with an empty key too, its name is the key.
    ch.queue_bind("", "amq.direct", "k", &no_args()).unwrap();
    ch.queue_bind("", "amq.direct", "", &no_args()).unwrap();
    assert_eq!(queues(&publish(&ch, "amq.direct", "k", "by-key")), 1);
    assert_eq!(queues(&publish(&ch, "amq.direct", &name, "by-name")), 1);
    assert!(matches!(
        publish(&ch, "amq.direct", "", "empty"),
        Publish::Unroutable
    ));
    assert_eq!(ready(&b, &name), 2);
    assert_eq!(ready(&b, "first"), 0);
    // get
    assert_eq!(get(&ch, "").unwrap().body(), b"by-key");
    // purge
    assert_eq!(ch.queue_purge("").unwrap(), 1);
    // unbind, with the same empty-key rule
    ch.queue_unbind("", "amq.direct", "", &no_args()).unwrap();
    assert!(matches!(
        publish(&ch, "amq.direct", &name, "x"),
        Publish::Unroutable
    ));
    ch.queue_unbind("", "amq.direct", "k", &no_args()).unwrap();
    assert!(matches!(
        publish(&ch, "amq.direct", "k", "x"),
        Publish::Unroutable
    ));
    // consume
    let c = ch.basic_consume("", "", no_ack(), &no_args()).unwrap();
    publish(&ch, "", &name, "consumed");
    assert_eq!(c.recv_timeout(WAIT).unwrap().unwrap().body(), b"consumed");
    c.cancel().unwrap();
    // delete
    publish(&ch, "", &name, "left");
    assert_eq!(
        ch.queue_delete("", QueueDeleteOptions::default()).unwrap(),
        1
    );
    assert_eq!(b.queue_counts(&name), None);
    assert!(b.queue_counts("first").is_some());
    // A named queue declared last is meant the same way.
    declare(&ch, "named");
    ch.queue_bind("", "amq.direct", "", &no_args()).unwrap();
    assert_eq!(queues(&publish(&ch, "amq.direct", "named", "n")), 1);
    assert_eq!(bodies(&ch, ""), ["n"]);
}

#[test]
fn q6_empty_queue_name_without_declared_queue_404() {
    let b = broker();
    let conn = b.connect();
    // Another channel's declare does not count: the memory is per channel.
    let ch = conn.create_channel().unwrap();
    declare(&ch, "elsewhere");
    fails_on(&conn, 404, |ch| {
        ch.queue_bind("", "amq.direct", "k", &no_args())
    });
    fails_on(&conn, 404, |ch| {
        ch.queue_unbind("", "amq.direct", "k", &no_args())
    });
    fails_on(&conn, 404, |ch| {
        ch.basic_consume("", "", no_ack(), &no_args())
    });
    fails_on(&conn, 404, |ch| {
        ch.basic_get("", BasicGetOptions { no_ack: true })
    });
    fails_on(&conn, 404, |ch| ch.queue_purge(""));
    fails_on(&conn, 404, |ch| {
        ch.queue_delete("", QueueDeleteOptions::default())
    });
    assert!(b.queue_counts("elsewhere").is_some());
    assert!(matches!(
        publish(&ch, "amq.direct", "k", "x"),
        Publish::Unroutable
    ));
}

#[test]
fn q7_transient_non_exclusive_queue_allowed() {
    let b = broker();
    let ch = open(&b);
    let ok = ch
        .queue_declare("plain", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    assert_eq!(ok.name, "plain");
    assert_eq!(queues(&publish(&ch, "", "plain", "m")), 1);
}

fn quorum() -> FieldTable {
    FieldTable::new().with("x-queue-type", "quorum")
}

#[test]
fn q8_quorum_queue_must_be_durable_non_exclusive_named() {
    let b = broker();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    fails(&b, 406, |ch| {
        ch.queue_declare("qq", QueueDeclareOptions::default(), &quorum())
    });
    fails(&b, 406, |ch| {
        ch.queue_declare(
            "qq",
            QueueDeclareOptions {
                exclusive: true,
                ..durable
            },
            &quorum(),
        )
    });
    fails(&b, 406, |ch| ch.queue_declare("", durable, &quorum()));
    assert_eq!(b.queue_counts("qq"), None);

    let ch = open(&b);
    ch.queue_declare("qq", durable, &quorum()).unwrap();
    publish(&ch, "", "qq", "m");
    ch.queue_declare("qq", durable, &quorum())
        .expect("same redeclare");
    // Compared on redeclare: a missing type is classic.
    for args in [no_args(), FieldTable::new().with("x-queue-type", "classic")] {
        let err = fails(&b, 406, |ch| ch.queue_declare("qq", durable, &args));
        assert!(err.text().contains("x-queue-type"), "{err}");
    }
    declare(&ch, "classic");
    let err = fails(&b, 406, |ch| {
        ch.queue_declare("classic", durable, &quorum())
    });
    assert!(
        err.text().contains("durable") || err.text().contains("x-queue-type"),
        "{err}"
    );
    let err = fails(&b, 406, |ch| {
        ch.queue_declare("classic", QueueDeclareOptions::default(), &quorum())
    });
    assert!(err.text().starts_with("PRECONDITION_FAILED"), "{err}");
    assert_eq!(ready(&b, "qq"), 1);
}

#[test]
fn q8_stream_and_unsupported_arguments_406_naming_them() {
    let b = broker();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for kind in ["stream", "priority", "Classic"] {
        let err = fails(&b, 406, |ch| {
            ch.queue_declare("s", durable, &FieldTable::new().with("x-queue-type", kind))
        });
        assert!(err.text().contains("x-queue-type"), "{err}");
    }
    let err = fails(&b, 406, |ch| {
        ch.queue_declare("s", durable, &FieldTable::new().with("x-queue-type", 1u8))
    });
    assert!(err.text().contains("x-queue-type"), "{err}");
    // Streams are not built: their retention argument is refused, not ignored.
    let err = fails(&b, 406, |ch| {
        ch.queue_declare("s", durable, &FieldTable::new().with("x-max-age", "7D"))
    });
    assert!(err.text().contains("x-max-age"), "{err}");
    // Arguments of built features are checked (L1, L4, L5, X1): a wrong type names them.
    for arg in [
        "x-message-ttl",
        "x-delivery-limit",
        "x-expires",
        "x-max-length",
        "x-dead-letter-exchange",
    ] {
        let err = fails(&b, 406, |ch| {
            ch.queue_declare(
                "s",
                durable,
                &FieldTable::new().with(arg, FieldValue::F64(1.5)),
            )
        });
        assert!(err.text().contains(arg), "{arg}: {err}");
    }
    assert_eq!(b.queue_counts("s"), None);
}

#[test]
fn q9_delete_if_unused_406() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    bind(&ch, "q", "amq.fanout", "");
    let c = ch.basic_consume("q", "", no_ack(), &no_args()).unwrap();
    let err = fails(&b, 406, |ch| {
        ch.queue_delete(
            "q",
            QueueDeleteOptions {
                if_unused: true,
                if_empty: false,
            },
        )
    });
    assert!(err.text().contains("'q'"), "{err}");
    assert_eq!(b.queue_counts("q"), Some((0, 1)));
    publish(&ch, "amq.fanout", "", "still-bound");
    assert_eq!(
        c.recv_timeout(WAIT).unwrap().unwrap().body(),
        b"still-bound"
    );
    c.cancel().unwrap();
    ch.queue_delete(
        "q",
        QueueDeleteOptions {
            if_unused: true,
            if_empty: false,
        },
    )
    .expect("no consumer now");
    assert_eq!(b.queue_counts("q"), None);
}

#[test]
fn q9_delete_if_empty_406() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    publish(&ch, "", "q", "m");
    fails(&b, 406, |ch| {
        ch.queue_delete(
            "q",
            QueueDeleteOptions {
                if_unused: false,
                if_empty: true,
            },
        )
    });
    assert_eq!(ready(&b, "q"), 1);
    // An unacked delivery is not ready: the queue counts as empty.
    let g = ch
        .basic_get("q", BasicGetOptions { no_ack: false })
        .unwrap()
        .unwrap();
    assert_eq!(
        ch.queue_delete(
            "q",
            QueueDeleteOptions {
                if_unused: false,
                if_empty: true,
            },
        )
        .unwrap(),
        0
    );
    assert_eq!(b.queue_counts("q"), None);
    // A later settle of its delivery is a no-op, requeue included.
    assert!(g
        .delivery
        .nack(BasicNackOptions {
            multiple: false,
            requeue: true,
            ..Default::default()
        })
        .is_ok());
    declare(&ch, "q");
    assert_eq!(ready(&b, "q"), 0, "nothing came back");
}

#[test]
fn q9_delete_returns_ready_count_and_cancels_consumers() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    bind(&ch, "q", "amq.topic", "#");
    let worker = open(&b);
    worker.basic_qos(1, BasicQosOptions::default()).unwrap();
    let c = worker
        .basic_consume("q", "w", manual_ack(), &no_args())
        .unwrap();
    for i in 0..4 {
        publish(&ch, "", "q", &i.to_string());
    }
    let held = c.recv_timeout(WAIT).unwrap().unwrap();
    assert_eq!(
        ch.queue_delete("q", QueueDeleteOptions::default()).unwrap(),
        3
    );
    assert_eq!(b.queue_counts("q"), None);
    // D10: the consumer reports the cancel and its reason, then yields nothing.
    let err = c.recv_timeout(WAIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConsumerCancelled, "{err}");
    assert!(err.to_string().contains("'q'"), "{err}");
    let again = c.recv().unwrap_err();
    assert_eq!(again.kind(), ErrorKind::ConsumerCancelled);
    assert!(c.try_recv().is_err());
    assert_eq!(
        c.end_reason().map(Error::kind),
        Some(ErrorKind::ConsumerCancelled)
    );
    // The channel lives on; settling the delivery is a no-op.
    assert!(worker.is_open());
    assert!(matches!(held.ack(), Ok(Settled::Done | Settled::Stale)));
    // Bindings were dropped: a new queue of that name is bound to nothing.
    declare(&ch, "q");
    assert!(matches!(
        publish(&ch, "amq.topic", "a", "x"),
        Publish::Unroutable
    ));
    assert!(worker.is_open());
}

#[test]
fn q9_delete_is_idempotent() {
    let b = broker();
    let ch = open(&b);
    assert_eq!(
        ch.queue_delete("never-was", QueueDeleteOptions::default())
            .unwrap(),
        0
    );
    declare(&ch, "q");
    publish(&ch, "", "q", "m");
    assert_eq!(
        ch.queue_delete("q", QueueDeleteOptions::default()).unwrap(),
        1
    );
    assert_eq!(
        ch.queue_delete("q", QueueDeleteOptions::default()).unwrap(),
        0
    );
    assert_eq!(
        ch.queue_delete(
            "q",
            QueueDeleteOptions {
                if_unused: true,
                if_empty: true
            }
        )
        .unwrap(),
        0
    );
    assert!(ch.is_open());
}

#[test]
fn q10_purge_removes_ready_only() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    for i in 0..4 {
        publish(&ch, "", "q", &i.to_string());
    }
    let held = ch
        .basic_get("q", BasicGetOptions { no_ack: false })
        .unwrap()
        .unwrap()
        .delivery;
    assert_eq!(ch.queue_purge("q").unwrap(), 3);
    assert_eq!(ch.queue_purge("q").unwrap(), 0);
    assert_eq!(ready(&b, "q"), 0);
    held.nack(BasicNackOptions {
        multiple: false,
        requeue: true,
        ..Default::default()
    })
    .unwrap();
    let back = get(&ch, "q").unwrap();
    assert_eq!(back.body(), b"0", "the unacked one survived the purge");
    assert!(back.redelivered());
    let err = fails(&b, 404, |ch| ch.queue_purge("missing"));
    assert!(err.text().contains("missing"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// P. Publishing

#[test]
fn p1_publish_to_missing_exchange_404() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q");
    bind(&ch, "q", "amq.fanout", "");
    let props = BasicProperties::default().with_correlation_id("c");
    let body = Bytes::from_static(b"payload");
    let err = ch
        .basic_publish(
            "nowhere",
            "q",
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            body.clone(),
            props.clone(),
        )
        .unwrap_err();
    assert_eq!(err.body, body);
    assert_eq!(*err.properties, props);
    assert!(err.error.text().contains("nowhere"), "{}", err.error);
    assert_channel_error(&ch, &err.error, 404);
    assert_eq!(ready(&b, "q"), 0);
    assert_eq!(b.unroutable_count(), 0);
}

#[test]
fn p1_immediate_540_closes_connection() {
    let b = broker();
    let conn = b.connect();
    let ch = conn.create_channel().unwrap();
    let sibling = conn.create_channel().unwrap();
    declare(&ch, "q");
    let err = ch
        .basic_publish(
            "",
            "q",
            BasicPublishOptions {
                mandatory: false,
                immediate: true,
            },
            "m",
            BasicProperties::default(),
        )
        .unwrap_err();
    assert_eq!(&err.body[..], b"m");
    assert_connection_error(&ch, &err.error, 540);
    assert_closed(&sibling, 540);
    assert_eq!(ready(&b, "q"), 0, "nothing routed");
}

#[test]
fn p1_checks_precede_routing() {
    // Every failing publish on a route that exists routes nothing (F4).
    let b = broker_with(BrokerOptions::default().with_max_message_size(4));
    let setup = open(&b);
    declare(&setup, "q");
    bind(&setup, "q", "amq.fanout", "");
    let bad: Vec<(u16, BasicPublishOptions, &str, BasicProperties)> = vec![
        (
            406,
            BasicPublishOptions::default(),
            "12345",
            BasicProperties::default(),
        ),
        (
            406,
            BasicPublishOptions::default(),
            "m",
            BasicProperties::default().with_expiration("soon"),
        ),
        (
            406,
            BasicPublishOptions::default(),
            "m",
            with_headers(h().with("CC", "q")),
        ),
        (
            406,
            BasicPublishOptions::default(),
            "m",
            BasicProperties::default().with_reply_to(REPLY_TO),
        ),
        (
            540,
            BasicPublishOptions {
                mandatory: true,
                immediate: true,
            },
            "m",
            BasicProperties::default(),
        ),
    ];
    for (code, opts, body, props) in bad {
        let ch = open(&b);
        let err = ch
            .basic_publish("amq.fanout", "q", opts, body, props.clone())
            .unwrap_err();
        assert_eq!(err.error.reply_code(), Some(code), "{}", err.error);
        assert_eq!(&err.body[..], body.as_bytes());
        assert_eq!(*err.properties, props);
        assert!(!ch.is_open());
        assert_eq!(ready(&b, "q"), 0, "{}", err.error);
    }
}

#[test]
fn p2_mandatory_unroutable_returned_312_to_handler() {
    let b = broker();
    let ch = open(&b);
    let returns = record_returns(&ch);
    declare_x(&ch, "x", Direct);
    let props = BasicProperties::default()
        .with_message_id("m-1")
        .with_headers(h().with("a", 1u8));
    let p = publish_with(&ch, "x", "no.route", true, "lost", props.clone());
    let ret = match p {
        Publish::Returned(ret) => ret,
        other => panic!("expected a return, got {other:?}"),
    };
    let recorded = returns.lock().unwrap()[0].clone();
    for r in [&*ret, &recorded] {
        assert_eq!(r.reply_code, 312);
        assert_eq!(r.reply_text, "NO_ROUTE");
        assert_eq!(r.exchange, "x");
        assert_eq!(r.routing_key, "no.route");
        assert_eq!(r.properties, props);
        assert_eq!(&r.body[..], b"lost");
    }
    assert_eq!(returns.lock().unwrap().len(), 1);
    assert_eq!(
        b.unroutable_count(),
        0,
        "a returned message is not counted as dropped"
    );
    // The default exchange returns too.
    assert!(matches!(
        publish_mandatory(&ch, "", "no-queue", "m"),
        Publish::Returned(_)
    ));
    assert_eq!(returns.lock().unwrap()[1].exchange, "");
    assert!(ch.is_open(), "a return is no error");
    // A routed mandatory publish is not returned.
    declare(&ch, "q");
    bind(&ch, "q", "x", "ok");
    assert_eq!(queues(&publish_mandatory(&ch, "x", "ok", "m")), 1);
    assert_eq!(returns.lock().unwrap().len(), 2);
}

#[test]
fn p2_non_mandatory_unroutable_dropped_and_counted() {
    let b = broker();
    let ch = open(&b);
    let returns = record_returns(&ch);
    declare_x(&ch, "x", Topic);
    assert_eq!(b.unroutable_count(), 0);
    assert!(matches!(publish(&ch, "x", "a", "1"), Publish::Unroutable));
    assert!(matches!(publish(&ch, "", "none", "2"), Publish::Unroutable));
    assert_eq!(b.unroutable_count(), 2);
    assert!(returns.lock().unwrap().is_empty());
    declare(&ch, "q");
    bind(&ch, "q", "x", "#");
    publish(&ch, "x", "a", "3");
    assert_eq!(b.unroutable_count(), 2);
    assert_eq!(
        bodies(&ch, "q"),
        ["3"],
        "earlier unroutable messages are gone"
    );
}

fn every_property() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json")
        .with_content_encoding("gzip")
        .with_headers(
            h().with("tenant", "acme")
                .with("n", FieldValue::I32(-7))
                .with("big", FieldValue::U64(u64::MAX))
                .with("f", 1.5f64)
                .with("nested", h().with("ok", true))
                .with(
                    "list",
                    vec![
                        FieldValue::from(1u8),
                        FieldValue::from("x"),
                        FieldValue::Void,
                    ],
                )
                .with("bin", FieldValue::ByteArray(vec![0, 255]))
                .with("when", FieldValue::Timestamp(1_700_000_000)),
        )
        .with_delivery_mode(2)
        .with_priority(255)
        .with_correlation_id("corr-1")
        .with_reply_to("replies")
        .with_expiration("315360000000")
        .with_message_id("msg-1")
        .with_timestamp(1_700_000_000)
        .with_kind("order.created")
        .with_user_id("not-the-login")
        .with_app_id("warren-tests")
        .with_cluster_id("cluster-9")
}

#[test]
fn p3_properties_arrive_unchanged() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "got");
    declare(&ch, "consumed");
    bind(&ch, "got", "amq.fanout", "");
    bind(&ch, "consumed", "amq.fanout", "");
    let c = ch
        .basic_consume("consumed", "", manual_ack(), &no_args())
        .unwrap();
    let props = every_property();
    for field in [
        props.content_type.is_some(),
        props.content_encoding.is_some(),
        props.headers.is_some(),
        props.delivery_mode.is_some(),
        props.priority.is_some(),
        props.correlation_id.is_some(),
        props.reply_to.is_some(),
        props.expiration.is_some(),
        props.message_id.is_some(),
        props.timestamp.is_some(),
        props.kind.is_some(),
        props.user_id.is_some(),
        props.app_id.is_some(),
        props.cluster_id.is_some(),
    ] {
        assert!(field, "every property is set");
    }
    assert!(props.is_persistent());
    assert_eq!(
        queues(&publish_with(
            &ch,
            "amq.fanout",
            "k",
            false,
            "m",
            props.clone()
        )),
        2
    );
    let d = get(&ch, "got").unwrap();
    assert_eq!(*d.properties(), props);
    let d = c.recv_timeout(WAIT).unwrap().unwrap();
    assert_eq!(*d.properties(), props);
    d.ack().unwrap();
    // Nothing is added either: no engine timestamp, no delivery mode.
    publish(&ch, "", "got", "plain");
    let d = get(&ch, "got").unwrap();
    assert_eq!(*d.properties(), BasicProperties::default());
    assert!(!d.properties().is_persistent());
    // delivery_mode other than 2 is transient, carried as given.
    publish_with(
        &ch,
        "",
        "got",
        false,
        "m",
        BasicProperties::default().with_delivery_mode(1),
    );
    let d = get(&ch, "got").unwrap();
    assert_eq!(d.properties().delivery_mode, Some(1));
    assert!(!d.properties().is_persistent());
}

#[test]
fn p3_invalid_expiration_406() {
    let b = broker();
    let setup = open(&b);
    declare(&setup, "q");
    for ok in ["0", "1000", "315360000000"] {
        let p = publish_with(
            &setup,
            "",
            "q",
            false,
            "m",
            BasicProperties::default().with_expiration(ok),
        );
        assert_eq!(queues(&p), 1, "{ok}");
    }
    for bad in [
        "",
        "-1",
        "+5",
        "1.5",
        "1e3",
        " 10",
        "ten",
        "315360000001",
        "99999999999999999999",
    ] {
        let props = BasicProperties::default().with_expiration(bad);
        let err = fails(&b, 406, |ch| {
            ch.basic_publish("", "q", BasicPublishOptions::default(), "m", props.clone())
                .map_err(Error::from)
        });
        assert!(err.text().contains("expiration"), "{bad:?}: {err}");
    }
    // Nothing failed was queued; "0" expired at once, no consumer taking it (L3).
    assert_eq!(ready(&b, "q"), 2);
}

#[test]
fn p4_cc_and_bcc_route_the_union_one_copy() {
    let b = broker();
    let ch = open(&b);
    for q in ["qa", "qb", "qc", "qd"] {
        declare(&ch, q);
    }
    bind(&ch, "qa", "amq.direct", "a");
    bind(&ch, "qb", "amq.direct", "b");
    bind(&ch, "qc", "amq.direct", "c");
    bind(&ch, "qd", "amq.topic", "d.#");
    let headers = h()
        .with("CC", vec![FieldValue::from("b"), FieldValue::from("a")])
        .with("BCC", vec![FieldValue::from("c"), FieldValue::from("b")])
        .with("other", 1u8);
    let p = publish_with(
        &ch,
        "amq.direct",
        "a",
        false,
        "m",
        with_headers(headers.clone()),
    );
    assert_eq!(queues(&p), 3);
    for q in ["qa", "qb", "qc"] {
        let d = get(&ch, q).unwrap_or_else(|| panic!("{q} got nothing"));
        let got = d.properties().headers.as_ref().expect("headers kept");
        assert_eq!(got.get("CC"), headers.get("CC"), "CC is kept");
        assert!(!got.contains_key("BCC"), "BCC is removed");
        assert_eq!(got.get("other"), Some(&FieldValue::U8(1)));
        assert!(get(&ch, q).is_none(), "{q}: one copy");
    }
    // Topic and default exchanges take CC keys too.
    let cc = |keys: &[&str]| {
        with_headers(
            h().with(
                "CC",
                keys.iter()
                    .map(|k| FieldValue::from(*k))
                    .collect::<Vec<_>>(),
            ),
        )
    };
    let p = publish_with(&ch, "amq.topic", "x", false, "t", cc(&["d.e", "d"]));
    assert_eq!(queues(&p), 1);
    assert_eq!(bodies(&ch, "qd"), ["t"]);
    let p = publish_with(&ch, "", "qa", false, "dflt", cc(&["qb", "qa", "nobody"]));
    assert_eq!(queues(&p), 2);
    assert_eq!(bodies(&ch, "qa"), ["dflt"]);
    assert_eq!(bodies(&ch, "qb"), ["dflt"]);
    // Only BCC: the message still routes by it, and arrives without it.
    let p = publish_with(
        &ch,
        "amq.direct",
        "none",
        false,
        "bcc",
        with_headers(h().with("BCC", vec![FieldValue::from("c")])),
    );
    assert_eq!(queues(&p), 1);
    let d = get(&ch, "qc").unwrap();
    assert!(d
        .properties()
        .headers
        .as_ref()
        .is_none_or(|h| !h.contains_key("BCC")));
}

#[test]
fn p4_cc_header_not_an_array_406() {
    let b = broker();
    let setup = open(&b);
    declare(&setup, "qa");
    declare(&setup, "qb");
    bind(&setup, "qa", "amq.direct", "a");
    for (name, value) in [
        ("CC", FieldValue::from("qb")),
        ("BCC", FieldValue::from("qb")),
        ("CC", FieldValue::U8(1)),
        ("CC", FieldValue::Table(h().with("k", "qb"))),
    ] {
        let props = with_headers(h().with(name, value));
        let ch = open(&b);
        let err = ch
            .basic_publish(
                "amq.direct",
                "a",
                BasicPublishOptions::default(),
                "m",
                props.clone(),
            )
            .unwrap_err();
        assert_eq!(
            *err.properties, props,
            "the message comes back with its headers"
        );
        assert_channel_error(&ch, &err.error, 406);
        assert!(err.error.text().contains(name), "{}", err.error);
    }
    assert_eq!(ready(&b, "qa"), 0);
    assert_eq!(ready(&b, "qb"), 0);
}

#[test]
fn p5_publish_order_kept_per_queue() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "q1");
    declare(&ch, "q2");
    bind(&ch, "q1", "amq.fanout", "");
    bind(&ch, "q2", "amq.fanout", "");
    let c = ch.basic_consume("q2", "", no_ack(), &no_args()).unwrap();
    let want: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    for (i, body) in want.iter().enumerate() {
        // Mix exchanges: order is per channel, whatever the route.
        let x = if i % 3 == 0 { "" } else { "amq.fanout" };
        if x.is_empty() {
            publish(&ch, "", "q1", body);
            publish(&ch, "", "q2", body);
        } else {
            publish(&ch, x, "", body);
        }
    }
    assert_eq!(bodies(&ch, "q1"), want);
    let consumed: Vec<String> = (0..200)
        .map(|_| String::from_utf8(c.recv_timeout(WAIT).unwrap().unwrap().body().to_vec()).unwrap())
        .collect();
    assert_eq!(consumed, want);
}

#[test]
fn p5_queues_share_one_body() {
    let b = broker();
    let ch = open(&b);
    for q in ["q1", "q2", "q3"] {
        declare(&ch, q);
        bind(&ch, q, "amq.fanout", "");
    }
    let c = ch.basic_consume("q3", "", no_ack(), &no_args()).unwrap();
    let body = Bytes::from(vec![7u8; 4096]);
    let p = ch
        .basic_publish(
            "amq.fanout",
            "",
            BasicPublishOptions::default(),
            body.clone(),
            BasicProperties::default(),
        )
        .unwrap();
    assert_eq!(queues(&p), 3);
    let d1 = get(&ch, "q1").unwrap();
    let d2 = get(&ch, "q2").unwrap();
    let d3 = c.recv_timeout(WAIT).unwrap().unwrap();
    assert_eq!(d1.body_bytes().as_ptr(), d2.body_bytes().as_ptr());
    assert_eq!(d1.body_bytes().as_ptr(), d3.body_bytes().as_ptr());
    assert_eq!(
        d1.body().as_ptr(),
        body.as_ptr(),
        "the published bytes, never copied"
    );
    assert_eq!(d1.body(), &body[..]);
}

// ---------------------------------------------------------------------------------------------
// R. RPC

#[test]
fn r1_reply_to_and_correlation_id_are_opaque() {
    let b = broker();
    let ch = open(&b);
    declare(&ch, "rpc");
    declare(&ch, "my-replies");
    let props = BasicProperties::default()
        .with_reply_to("my-replies")
        .with_correlation_id("\u{1F600} any bytes \u{0}");
    publish_with(&ch, "", "rpc", false, "req", props.clone());
    let req = get(&ch, "rpc").unwrap();
    assert_eq!(*req.properties(), props);
    // The responder publishes to "" with key = reply_to, copying correlation_id.
    let reply_to = req.properties().reply_to.clone().unwrap();
    let reply = BasicProperties::default()
        .with_correlation_id(req.properties().correlation_id.clone().unwrap());
    assert_eq!(
        queues(&publish_with(&ch, "", &reply_to, false, "resp", reply)),
        1
    );
    let d = get(&ch, "my-replies").unwrap();
    assert_eq!(d.properties().correlation_id, props.correlation_id);
}

#[test]
fn r2_reply_to_consumer_must_be_auto_ack_406() {
    let b = broker();
    let err = fails(&b, 406, |ch| {
        ch.basic_consume(REPLY_TO, "", manual_ack(), &no_args())
    });
    assert!(err.text().starts_with("PRECONDITION_FAILED"), "{err}");
}

#[test]
fn r2_second_reply_to_consumer_on_a_channel_406() {
    let b = broker();
    let conn = b.connect();
    let ch = conn.create_channel().unwrap();
    let first = ch
        .basic_consume(REPLY_TO, "one", no_ack(), &no_args())
        .unwrap();
    let err = match ch.basic_consume(REPLY_TO, "two", no_ack(), &no_args()) {
        Ok(_) => panic!("a second reply consumer should fail"),
        Err(e) => e,
    };
    assert_channel_error(&ch, &err, 406);
    // Each channel may have one of its own.
    let other = conn.create_channel().unwrap();
    let _mine = other
        .basic_consume(REPLY_TO, "", no_ack(), &no_args())
        .unwrap();
    drop(first);
}

#[test]
fn r2_reply_to_without_reply_consumer_406() {
    let b = broker();
    let conn = b.connect();
    let with_consumer = conn.create_channel().unwrap();
    let _replies = with_consumer
        .basic_consume(REPLY_TO, "", no_ack(), &no_args())
        .unwrap();
    declare(&with_consumer, "rpc");
    // Another channel's reply consumer does not count.
    let ch = conn.create_channel().unwrap();
    let props = BasicProperties::default().with_reply_to(REPLY_TO);
    let err = ch
        .basic_publish(
            "",
            "rpc",
            BasicPublishOptions::default(),
            "req",
            props.clone(),
        )
        .unwrap_err();
    assert_eq!(*err.properties, props);
    assert_channel_error(&ch, &err.error, 406);
    assert_eq!(ready(&b, "rpc"), 0);
    // After a cancel the channel has none either.
    let ch = conn.create_channel().unwrap();
    let c = ch
        .basic_consume(REPLY_TO, "", no_ack(), &no_args())
        .unwrap();
    c.cancel().unwrap();
    let err = ch
        .basic_publish("", "rpc", BasicPublishOptions::default(), "req", props)
        .unwrap_err();
    assert_channel_error(&ch, &err.error, 406);
    assert_eq!(ready(&b, "rpc"), 0);
}

#[test]
fn r2_binding_reply_to_403() {
    let b = broker();
    fails(&b, 403, |ch| {
        ch.queue_bind(REPLY_TO, "amq.direct", "k", &no_args())
    });
    let ch = open(&b);
    assert!(matches!(
        publish(&ch, "amq.direct", "k", "m"),
        Publish::Unroutable
    ));
}

#[test]
fn r2_reply_delivered_to_requester() {
    let b = broker();
    let server = open(&b);
    declare(&server, "rpc");
    let client = open(&b);
    let replies = client
        .basic_consume(REPLY_TO, "", no_ack(), &no_args())
        .unwrap();
    let p = publish_with(
        &client,
        "",
        "rpc",
        false,
        "req",
        BasicProperties::default()
            .with_reply_to(REPLY_TO)
            .with_correlation_id("c-1")
            .with_message_id("kept"),
    );
    assert_eq!(queues(&p), 1);
    let req = get(&server, "rpc").unwrap();
    let reply_to = req.properties().reply_to.clone().unwrap();
    let token = reply_to
        .strip_prefix("amq.rabbitmq.reply-to.")
        .unwrap_or_else(|| panic!("rewritten: {reply_to}"));
    assert!(!token.is_empty());
    assert_eq!(req.properties().correlation_id.as_deref(), Some("c-1"));
    assert_eq!(req.properties().message_id.as_deref(), Some("kept"));
    let returns = record_returns(&server);
    let p = publish_with(
        &server,
        "",
        &reply_to,
        true,
        "resp",
        BasicProperties::default().with_correlation_id("c-1"),
    );
    assert!(matches!(p, Publish::Routed { queues: 1 }), "{p:?}");
    assert!(returns.lock().unwrap().is_empty());
    let d = replies.recv_timeout(WAIT).unwrap().unwrap();
    assert_eq!(d.body(), b"resp");
    assert_eq!(d.properties().correlation_id.as_deref(), Some("c-1"));
    assert!(replies.try_recv().unwrap().is_none());
}

#[test]
fn r2_reply_dropped_when_requester_gone() {
    let b = broker();
    let server = open(&b);
    declare(&server, "rpc");
    let client = open(&b);
    let replies = client
        .basic_consume(REPLY_TO, "", no_ack(), &no_args())
        .unwrap();
    publish_with(
        &client,
        "",
        "rpc",
        false,
        "req",
        BasicProperties::default().with_reply_to(REPLY_TO),
    );
    let reply_to = get(&server, "rpc")
        .unwrap()
        .properties()
        .reply_to
        .clone()
        .unwrap();
    client.close();
    let returns = record_returns(&server);
    let p = publish_with(
        &server,
        "",
        &reply_to,
        true,
        "late",
        BasicProperties::default(),
    );
    assert!(p.is_routed(), "a reply counts as routed: {p:?}");
    assert!(returns.lock().unwrap().is_empty(), "not returned");
    assert_eq!(b.unroutable_count(), 0);
    assert!(server.is_open());
    // Dropped: the requester's consumer ended with its channel and got nothing.
    assert!(!matches!(replies.try_recv(), Ok(Some(_))));
}

#[test]
fn r3_rpc_client_fresh_ids_and_late_replies_discarded() {
    // SEMANTICS R3 (the helper's basics are in async_rpc.rs): each call has its own
    // correlation_id, and the late reply of a call that timed out is discarded and counted.
    let b = broker();
    let server = open(&b);
    declare(&server, "rpc");
    let ch = open(&b);
    let mut client = RpcClient::with_direct_reply_to(&ch).unwrap();
    let err = client
        .call("", "rpc", "first", Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(err.scope(), Scope::Local);
    assert!(ch.is_open());
    let first = get(&server, "rpc").unwrap();
    let first_id = first.properties().correlation_id.clone().unwrap();
    let reply_to = first.properties().reply_to.clone().unwrap();
    let late = publish_with(
        &server,
        "",
        &reply_to,
        false,
        "late",
        BasicProperties::default().with_correlation_id(first_id.clone()),
    );
    assert_eq!(queues(&late), 1);
    let responder = std::thread::spawn(move || {
        let requests = server
            .basic_consume("rpc", "", no_ack(), &no_args())
            .unwrap();
        let req = requests.recv().unwrap();
        let id = req.properties().correlation_id.clone().unwrap();
        publish_with(
            &server,
            "",
            req.properties().reply_to.as_deref().unwrap(),
            false,
            "answer",
            BasicProperties::default().with_correlation_id(id.clone()),
        );
        id
    });
    let reply = client.call("", "rpc", "second", WAIT).unwrap();
    let second_id = responder.join().unwrap();
    assert_ne!(first_id, second_id, "a fresh correlation_id per call");
    assert_eq!(reply.body(), b"answer");
    assert_eq!(
        reply.properties().correlation_id.as_deref(),
        Some(second_id.as_str())
    );
    assert_eq!(
        client.unknown_replies(),
        1,
        "the late reply was discarded and counted"
    );
}

// ---------------------------------------------------------------------------------------------
// F. Errors

#[test]
fn f1_reply_codes_and_scopes() {
    let b = broker();
    // 403, 404, 405, 406: channel errors.
    fails(&b, 403, |ch| {
        ch.exchange_declare(
            "amq.new",
            Direct,
            ExchangeDeclareOptions::default(),
            &no_args(),
        )
    });
    fails(&b, 404, |ch| {
        ch.queue_declare(
            "absent",
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            &no_args(),
        )
    });
    let owner = open(&b);
    owner.queue_declare("ex", exclusive(), &no_args()).unwrap();
    fails(&b, 405, |ch| ch.queue_purge("ex"));
    fails(&b, 406, |ch| {
        ch.basic_ack(DeliveryTag::new(5), BasicAckOptions::default())
    });
    // 530 and 540: connection errors.
    let ch = open(&b);
    declare(&ch, "q");
    let _c = ch.basic_consume("q", "tag", no_ack(), &no_args()).unwrap();
    let err = match ch.basic_consume("q", "tag", no_ack(), &no_args()) {
        Ok(_) => panic!("tag reuse should fail"),
        Err(e) => e,
    };
    assert_connection_error(&ch, &err, 530);
    let ch = open(&b);
    let err = ch.basic_recover(false).unwrap_err();
    assert_connection_error(&ch, &err, 540);
    let ch = open(&b);
    let err = ch.tx_select().unwrap_err();
    assert_connection_error(&ch, &err, 540);
    // Other connections live on.
    assert!(owner.is_open());
    assert!(b.queue_counts("ex").is_some());
}

#[test]
fn f2_channel_error_closes_channel_only_and_requeues_unacked() {
    let b = broker();
    let conn = b.connect();
    let ch = conn.create_channel().unwrap();
    let sibling = conn.create_channel().unwrap();
    declare(&ch, "q");
    publish(&ch, "", "q", "held");
    let c = ch.basic_consume("q", "", manual_ack(), &no_args()).unwrap();
    let d = c.recv_timeout(WAIT).unwrap().unwrap();
    assert!(!d.redelivered());
    assert_eq!(ready(&b, "q"), 0);
    let err = ch
        .basic_publish(
            "nowhere",
            "",
            BasicPublishOptions::default(),
            "x",
            BasicProperties::default(),
        )
        .unwrap_err()
        .error;
    assert_channel_error(&ch, &err, 404);
    // Consumers cancelled, unacked requeued (A7).
    let end = c.recv_timeout(WAIT).unwrap_err();
    assert_eq!(end.kind(), ErrorKind::ChannelClosed, "{end}");
    assert_eq!(end.reply_code(), Some(404));
    assert_eq!(b.queue_counts("q"), Some((1, 0)));
    // The sibling channel and the connection are untouched.
    assert!(sibling.is_open() && conn.is_open());
    let back = get(&sibling, "q").unwrap();
    assert_eq!(back.body(), b"held");
    assert!(back.redelivered());
    // Settling on the closed channel is a local error too.
    let late = d.ack().unwrap_err();
    assert_eq!(late.kind(), ErrorKind::ChannelClosed);
    assert_eq!(late.reply_code(), Some(404));
}

#[test]
fn f2_connection_error_closes_every_channel_and_drops_exclusive_queues() {
    let b = broker();
    let conn = b.connect();
    let chans: Vec<Channel> = (0..3).map(|_| conn.create_channel().unwrap()).collect();
    chans[0]
        .queue_declare("ex", exclusive(), &no_args())
        .unwrap();
    declare(&chans[1], "shared");
    publish(&chans[1], "", "shared", "m");
    let c = chans[2]
        .basic_consume("shared", "", manual_ack(), &no_args())
        .unwrap();
    let _held = c.recv_timeout(WAIT).unwrap().unwrap();
    let err = chans[1].tx_select().unwrap_err();
    assert_connection_error(&chans[1], &err, 540);
    for ch in &chans {
        assert_closed(ch, 540);
    }
    assert_eq!(b.queue_counts("ex"), None);
    assert_eq!(b.queue_counts("shared"), Some((1, 0)), "unacked requeued");
    let other = open(&b);
    assert!(other.is_open());
    assert!(get(&other, "shared").unwrap().redelivered());
}

#[test]
fn f3_errors_name_the_object() {
    let b = broker();
    let err = fails(&b, 404, |ch| {
        ch.basic_get("jobs", BasicGetOptions::default())
    });
    assert!(err.text().contains("NOT_FOUND"), "{err}");
    assert!(err.text().contains("queue 'jobs'"), "{err}");
    let err = fails(&b, 404, |ch| ch.queue_bind("", "x", "", &no_args()));
    assert!(err.text().starts_with("NOT_FOUND"), "{err}");
    let err = fails(&b, 404, |ch| {
        ch.exchange_declare(
            "orders",
            Direct,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            &no_args(),
        )
    });
    assert!(err.text().contains("exchange 'orders'"), "{err}");
    let ch = open(&b);
    declare(&ch, "tasks");
    let err = fails(&b, 406, |ch| {
        ch.queue_declare(
            "tasks",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            &no_args(),
        )
    });
    assert!(
        err.text().contains("'tasks'") && err.text().contains("durable"),
        "{err}"
    );
    assert!(err.to_string().contains("406"), "{err}");
    let err = fails(&b, 403, |ch| {
        ch.queue_declare("amq.reserved", QueueDeclareOptions::default(), &no_args())
    });
    assert!(
        err.text().starts_with("ACCESS_REFUSED") && err.text().contains("amq.reserved"),
        "{err}"
    );
}

#[test]
fn f4_failed_redeclare_leaves_queue_as_it_was() {
    let b = broker();
    let ch = open(&b);
    ch.queue_declare(
        "q",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        &FieldTable::new().with("note", "v1"),
    )
    .unwrap();
    bind(&ch, "q", "amq.fanout", "");
    publish(&ch, "", "q", "m");
    fails(&b, 406, |ch| {
        ch.queue_declare(
            "q",
            QueueDeclareOptions {
                durable: false,
                auto_delete: true,
                ..Default::default()
            },
            &no_args(),
        )
    });
    // Durability and auto-delete are as first declared: the same redeclares still fail or pass.
    fails(&b, 406, |ch| {
        ch.queue_declare("q", QueueDeclareOptions::default(), &no_args())
    });
    let ok = ch
        .queue_declare(
            "q",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            &no_args(),
        )
        .unwrap();
    assert_eq!((ok.message_count, ok.consumer_count), (1, 0), "{ok:?}");
    assert_eq!(queues(&publish(&ch, "amq.fanout", "", "bound")), 1);
    assert_eq!(bodies(&ch, "q"), ["m", "bound"]);
}

#[test]
fn f4_failed_exchange_redeclare_and_delete_change_nothing() {
    let b = broker();
    let ch = open(&b);
    declare_with_ae(&ch, "x", Direct, "ae");
    declare_x(&ch, "ae", Fanout);
    declare(&ch, "q");
    declare(&ch, "alt");
    bind(&ch, "q", "x", "k");
    bind(&ch, "alt", "ae", "");
    fails(&b, 406, |ch| {
        ch.exchange_declare("x", Fanout, ExchangeDeclareOptions::default(), &no_args())
    });
    fails(&b, 406, |ch| {
        ch.exchange_delete("x", ExchangeDeleteOptions { if_unused: true })
    });
    fails(&b, 406, |ch| {
        ch.queue_bind("q", "amq.headers", "", &h().with("x-match", "none"))
    });
    assert_eq!(queues(&publish(&ch, "x", "k", "1")), 1);
    assert_eq!(queues(&publish(&ch, "x", "z", "2")), 1);
    assert!(matches!(
        publish(&ch, "amq.headers", "", "3"),
        Publish::Unroutable
    ));
    assert_eq!(bodies(&ch, "q"), ["1"]);
    assert_eq!(bodies(&ch, "alt"), ["2"]);
}

#[test]
fn f5_local_errors_close_and_change_nothing() {
    let b = broker();
    let conn = b.connect();
    let ch = conn.create_channel().unwrap();
    declare(&ch, "q");
    let long = "x".repeat(256);
    let err = ch.queue_purge(&long).unwrap_err();
    assert_too_long(&err, Input::Queue);
    let err = ch
        .queue_delete(&long, QueueDeleteOptions::default())
        .unwrap_err();
    assert_too_long(&err, Input::Queue);
    let err = ch.basic_get(&long, BasicGetOptions::default()).unwrap_err();
    assert_too_long(&err, Input::Queue);
    assert!(ch.is_open() && conn.is_open());
    assert_eq!(ch.close_reason().map(|e| e.to_string()), None);

    // A plainly closed channel: local errors without a code.
    ch.close();
    let err = ch
        .queue_declare("after", QueueDeclareOptions::default(), &no_args())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ChannelClosed);
    assert_eq!(err.scope(), Scope::Local);
    assert_eq!(err.reply_code(), None);
    assert!(err.cause().is_none());
    let err = ch
        .basic_publish(
            "",
            "q",
            BasicPublishOptions::default(),
            "m",
            BasicProperties::default(),
        )
        .unwrap_err();
    assert_eq!(err.error.kind(), ErrorKind::ChannelClosed);
    assert_eq!(&err.body[..], b"m");
    assert_eq!(b.queue_counts("after"), None);
    assert_eq!(ready(&b, "q"), 0);
    assert!(conn.is_open(), "closing a channel leaves the connection");
    // A plainly closed connection: the same, ConnectionClosed.
    conn.close();
    let err = conn.create_channel().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed);
    assert_eq!(err.scope(), Scope::Local);
    assert_eq!(err.reply_code(), None);
}
