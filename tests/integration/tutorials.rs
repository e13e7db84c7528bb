//! RabbitMQ's six tutorials (https://www.rabbitmq.com/tutorials) as scenarios: MISSION patterns
//! 1-6 from Rust, each program of a tutorial (producer, workers, subscribers, RPC server and
//! client) played by a connection of its own, checked against what the tutorial shows.
//!
//! Deliveries are handed over inside the call that makes them possible, so single-threaded
//! scenarios read mailboxes with `try_recv`; scenarios with threads (a dying worker, the RPC
//! server) synchronise with channels and joins, and every blocking receive is bounded by
//! [`GUARD`] so a bug fails the test instead of hanging it. No test sleeps.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use warren::broker::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ExchangeDeclareOptions, Publish,
    QueueDeclareOptions, REPLY_TO,
};
use warren::message::FieldTable;
use warren::route::ExchangeType;
use warren::{
    BasicProperties, Broker, Channel, Connection, Consumer, Delivery, Error, ErrorKind, Scope,
    Settled,
};

/// The longest any blocking receive waits: a guard against hangs, never a synchronisation.
const GUARD: Duration = Duration::from_secs(10);

// ----- helpers -----

fn no_args() -> FieldTable {
    FieldTable::new()
}

fn open(conn: &Connection) -> Channel {
    conn.create_channel().expect("open a channel")
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

/// A server-named exclusive queue, as the tutorials' subscribers and RPC clients declare.
fn exclusive_queue(ch: &Channel) -> String {
    let ok = ch
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            &no_args(),
        )
        .expect("declare a server-named queue");
    assert!(ok.name.starts_with("amq.gen-"), "{}", ok.name);
    ok.name
}

fn auto_ack() -> BasicConsumeOptions {
    BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    }
}

fn consume(ch: &Channel, queue: &str, options: BasicConsumeOptions) -> Consumer {
    ch.basic_consume(queue, "", options, &no_args())
        .unwrap_or_else(|e| panic!("consume {queue}: {e}"))
}

fn send(ch: &Channel, exchange: &str, key: &str, body: &str, props: BasicProperties) -> Publish {
    ch.basic_publish(
        exchange,
        key,
        BasicPublishOptions::default(),
        body.to_owned(),
        props,
    )
    .unwrap_or_else(|e| panic!("publish {body}: {e}"))
}

fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeType) {
    ch.exchange_declare(name, kind, ExchangeDeclareOptions::default(), &no_args())
        .unwrap_or_else(|e| panic!("declare exchange {name}: {e}"));
}

fn body(d: &Delivery) -> String {
    String::from_utf8(d.body().to_vec()).expect("utf-8 body")
}

/// Every delivery waiting in `c`'s mailbox.
fn take_all(c: &Consumer) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Some(d) = c.try_recv().expect("the consumer is live") {
        out.push(d);
    }
    out
}

fn bodies(c: &Consumer) -> Vec<String> {
    take_all(c).iter().map(body).collect()
}

/// The next delivery, waiting at most [`GUARD`].
fn recv(c: &Consumer) -> Delivery {
    c.recv_timeout(GUARD)
        .expect("the consumer is live")
        .expect("a delivery within the guard")
}

fn routed_to(p: &Publish) -> usize {
    match p {
        Publish::Routed { queues } => *queues,
        _ => 0,
    }
}

fn fails<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

fn assert_amqp(err: &Error, code: u16, scope: Scope) {
    assert_eq!(err.kind(), ErrorKind::Amqp, "{err}");
    assert_eq!(err.reply_code(), Some(code), "{err}");
    assert_eq!(err.scope(), scope, "{err}");
}

// ----- 1. "Hello World!" -----

#[test]
fn tutorial_1_hello_world() {
    let broker = Broker::new();
    // send.rs
    let sender = open(&broker.connect());
    sender
        .queue_declare("hello", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    let p = send(
        &sender,
        "",
        "hello",
        "Hello World!",
        BasicProperties::default(),
    );
    assert_eq!(routed_to(&p), 1);
    // receive.rs: declares the queue too (idempotent), then consumes with auto-ack.
    let receiver = open(&broker.connect());
    let ok = receiver
        .queue_declare("hello", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    assert_eq!((ok.message_count, ok.consumer_count), (1, 0));
    let consumer = consume(&receiver, "hello", auto_ack());
    let d = recv(&consumer);
    assert_eq!(body(&d), "Hello World!");
    assert_eq!((d.exchange(), d.routing_key()), ("", "hello"));
    assert!(!d.redelivered());
    assert_eq!(broker.queue_counts("hello"), Some((0, 1)));
    assert!(consumer.try_recv().unwrap().is_none());
}

// ----- 2. Work queues -----

/// A worker of tutorial 2: its own connection, prefetch 1, manual acks on `task_queue`.
struct Worker {
    conn: Connection,
    channel: Channel,
    consumer: Consumer,
}

fn worker(broker: &Broker, prefetch: u16) -> Worker {
    let conn = broker.connect();
    let channel = open(&conn);
    channel
        .queue_declare("task_queue", durable(), &no_args())
        .unwrap();
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .unwrap();
    let consumer = consume(&channel, "task_queue", BasicConsumeOptions::default());
    Worker {
        conn,
        channel,
        consumer,
    }
}

/// new_task.rs: a persistent task on the durable `task_queue`.
fn new_task(ch: &Channel, task: &str) {
    let p = send(
        ch,
        "",
        "task_queue",
        task,
        BasicProperties::default().persistent(),
    );
    assert_eq!(routed_to(&p), 1);
}

fn producer(broker: &Broker) -> Channel {
    let ch = open(&broker.connect());
    ch.queue_declare("task_queue", durable(), &no_args())
        .unwrap();
    ch
}

#[test]
fn tutorial_2_work_queues_round_robin() {
    let broker = Broker::new();
    let tasks = producer(&broker);
    let (w1, w2) = (worker(&broker, 0), worker(&broker, 0));
    for t in [
        "First message.",
        "Second message..",
        "Third message...",
        "Fourth....",
        "Fifth.....",
    ] {
        new_task(&tasks, t);
    }
    // The tutorial's output: worker 1 gets the 1st, 3rd and 5th, worker 2 the 2nd and 4th.
    let got1 = take_all(&w1.consumer);
    let got2 = take_all(&w2.consumer);
    let names = |ds: &[Delivery]| ds.iter().map(body).collect::<Vec<_>>();
    assert_eq!(
        names(&got1),
        ["First message.", "Third message...", "Fifth....."]
    );
    assert_eq!(names(&got2), ["Second message..", "Fourth...."]);
    for d in got1.iter().chain(&got2) {
        assert!(d.properties().is_persistent());
        assert_eq!(d.ack(), Ok(Settled::Done));
    }
    assert_eq!(broker.queue_counts("task_queue"), Some((0, 2)));
}

#[test]
fn tutorial_2_fair_dispatch_with_prefetch_1() {
    let broker = Broker::new();
    let tasks = producer(&broker);
    let (busy, quick) = (worker(&broker, 1), worker(&broker, 1));
    for i in 0..4 {
        new_task(&tasks, &format!("task {i}"));
    }
    // The busy worker holds task 0 and is given nothing more while it does.
    let long = recv(&busy.consumer);
    assert_eq!(body(&long), "task 0");
    for expected in ["task 1", "task 2", "task 3"] {
        let d = recv(&quick.consumer);
        assert_eq!(body(&d), expected);
        assert!(busy.consumer.try_recv().unwrap().is_none());
        d.ack().unwrap();
    }
    long.ack().unwrap();
    assert!(busy.consumer.try_recv().unwrap().is_none());
    assert_eq!(broker.queue_counts("task_queue"), Some((0, 2)));
}

/// Tutorial 2's point about acks: worker 1 stops in the middle of task 0 (`die` receives it and
/// kills the worker without acking); worker 2, idle with prefetch 1, gets it, `redelivered`.
fn a_dying_worker_hands_its_task_to_the_other(die: impl FnOnce(Worker)) {
    let broker = Broker::new();
    let tasks = producer(&broker);
    let w1 = worker(&broker, 1);
    let w2 = worker(&broker, 1);
    new_task(&tasks, "task 0"); // to worker 1
    new_task(&tasks, "task 1"); // to worker 2
    let done = recv(&w2.consumer);
    assert_eq!(body(&done), "task 1");
    done.ack().unwrap();
    die(w1);
    let again = recv(&w2.consumer);
    assert_eq!(body(&again), "task 0");
    assert!(again.redelivered());
    assert!(again.properties().is_persistent());
    again.ack().unwrap();
    assert_eq!(broker.queue_counts("task_queue"), Some((0, 1)));
}

#[test]
fn tutorial_2_worker_drops_its_consumer_mid_task() {
    a_dying_worker_hands_its_task_to_the_other(|w| {
        let task = recv(&w.consumer);
        assert_eq!(body(&task), "task 0");
        drop(w.consumer);
        // The channel lives on; the taken-back task is stale for it (SEMANTICS A8).
        assert!(w.channel.is_open());
        assert_eq!(task.ack(), Ok(Settled::Stale));
    });
}

#[test]
fn tutorial_2_worker_closes_its_channel_mid_task() {
    a_dying_worker_hands_its_task_to_the_other(|w| {
        let task = recv(&w.consumer);
        w.channel.close();
        assert_eq!(fails(task.ack()).kind(), ErrorKind::ChannelClosed);
    });
}

#[test]
fn tutorial_2_worker_closes_its_connection_mid_task() {
    a_dying_worker_hands_its_task_to_the_other(|w| {
        let _task = recv(&w.consumer);
        w.conn.close();
        assert!(!w.channel.is_open());
    });
}

#[test]
fn tutorial_2_worker_thread_panics_mid_task() {
    a_dying_worker_hands_its_task_to_the_other(|w| {
        let (got_tx, got_rx) = mpsc::channel();
        let crashed = thread::spawn(move || {
            let task = recv(&w.consumer);
            got_tx.send(body(&task)).unwrap();
            panic!("worker crashed in the middle of {}", body(&task));
        });
        assert!(crashed.join().is_err());
        assert_eq!(got_rx.recv_timeout(GUARD).unwrap(), "task 0");
    });
}

#[test]
fn tutorial_2_durable_queue_redeclared_with_other_durability_is_406() {
    let broker = Broker::new();
    let tasks = producer(&broker);
    new_task(&tasks, "kept");
    // The tutorial's trap: `hello` already exists as non-durable, `task_queue` as durable.
    let ch = open(&broker.connect());
    let err = fails(ch.queue_declare("task_queue", QueueDeclareOptions::default(), &no_args()));
    assert_amqp(&err, 406, Scope::Channel);
    assert!(err.text().contains("durable"), "{err}");
    assert!(!ch.is_open());
    let ch = open(&broker.connect());
    ch.queue_declare("hello", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    let err = fails(ch.queue_declare("hello", durable(), &no_args()));
    assert_amqp(&err, 406, Scope::Channel);
    // Nothing changed: the queue is still durable and keeps its message.
    let ch = open(&broker.connect());
    let ok = ch
        .queue_declare("task_queue", durable(), &no_args())
        .unwrap();
    assert_eq!(ok.message_count, 1);
}

// ----- 3. Publish/Subscribe -----

/// receive_logs.rs: a server-named exclusive queue bound to `logs`.
fn subscriber(broker: &Broker) -> (Connection, String, Consumer) {
    let conn = broker.connect();
    let ch = open(&conn);
    let queue = exclusive_queue(&ch);
    ch.queue_bind(&queue, "logs", "", &no_args()).unwrap();
    let consumer = consume(&ch, &queue, auto_ack());
    (conn, queue, consumer)
}

#[test]
fn tutorial_3_publish_subscribe() {
    let broker = Broker::new();
    let emit = open(&broker.connect());
    declare_exchange(&emit, "logs", ExchangeType::Fanout);
    // Nobody listens yet: the message is dropped (and counted), not kept for later.
    let early = send(
        &emit,
        "logs",
        "",
        "lost: no queue bound",
        BasicProperties::default(),
    );
    assert!(matches!(early, Publish::Unroutable), "{early:?}");
    assert_eq!(broker.unroutable_count(), 1);

    let (conn1, q1, sub1) = subscriber(&broker);
    let (_conn2, q2, sub2) = subscriber(&broker);
    assert_ne!(q1, q2);
    for i in 1..=3 {
        let p = send(
            &emit,
            "logs",
            "ignored",
            &format!("info: {i}"),
            BasicProperties::default(),
        );
        assert_eq!(routed_to(&p), 2, "fanout copies to every bound queue");
    }
    let expected = ["info: 1", "info: 2", "info: 3"];
    assert_eq!(bodies(&sub1), expected);
    assert_eq!(bodies(&sub2), expected);
    // Another connection may not use a subscriber's exclusive queue (SEMANTICS Q3).
    let stranger = open(&broker.connect());
    let err = fails(stranger.basic_consume(&q1, "", auto_ack(), &no_args()));
    assert_amqp(&err, 405, Scope::Channel);
    // A subscriber that goes away takes its queue with it.
    conn1.close();
    assert_eq!(broker.queue_counts(&q1), None);
    let p = send(&emit, "logs", "", "info: 4", BasicProperties::default());
    assert_eq!(routed_to(&p), 1);
    assert_eq!(bodies(&sub2), ["info: 4"]);
    assert_eq!(broker.unroutable_count(), 1);
}

// ----- 4. Routing -----

#[test]
fn tutorial_4_routing_by_severity() {
    let broker = Broker::new();
    let emit = open(&broker.connect());
    declare_exchange(&emit, "direct_logs", ExchangeType::Direct);
    // receive_logs_direct.rs error > logs_from_rabbit.log
    let disk = open(&broker.connect());
    let disk_q = exclusive_queue(&disk);
    disk.queue_bind(&disk_q, "direct_logs", "error", &no_args())
        .unwrap();
    let to_disk = consume(&disk, &disk_q, auto_ack());
    // receive_logs_direct.rs info warning error: one queue, several binding keys
    let console = open(&broker.connect());
    let console_q = exclusive_queue(&console);
    for severity in ["info", "warning", "error", "error"] {
        // binding twice is a no-op (SEMANTICS E5)
        console
            .queue_bind(&console_q, "direct_logs", severity, &no_args())
            .unwrap();
    }
    let to_console = consume(&console, &console_q, auto_ack());

    for (severity, queues) in [("info", 1), ("warning", 1), ("error", 2), ("debug", 0)] {
        let p = send(
            &emit,
            "direct_logs",
            severity,
            &format!("{severity}: Run. Run. Or it will explode."),
            BasicProperties::default(),
        );
        assert_eq!(routed_to(&p), queues, "{severity}");
    }
    let keys = |c: &Consumer| {
        take_all(c)
            .iter()
            .map(|d| d.routing_key().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&to_disk), ["error"]);
    assert_eq!(keys(&to_console), ["info", "warning", "error"]);
    assert_eq!(broker.unroutable_count(), 1, "debug reached nobody");
}

// ----- 5. Topics -----

#[test]
fn tutorial_5_topics() {
    let broker = Broker::new();
    let emit = open(&broker.connect());
    declare_exchange(&emit, "topic_logs", ExchangeType::Topic);
    let listen = |patterns: &[&str]| {
        let ch = open(&broker.connect());
        let q = exclusive_queue(&ch);
        for p in patterns {
            ch.queue_bind(&q, "topic_logs", p, &no_args()).unwrap();
        }
        consume(&ch, &q, auto_ack())
    };
    let q1 = listen(&["*.orange.*"]);
    let q2 = listen(&["*.*.rabbit", "lazy.#"]);

    // (routing key, copies to Q1, copies to Q2): the tutorial's examples and SEMANTICS T5.
    let cases: [(&str, usize, usize); 11] = [
        ("quick.orange.rabbit", 1, 1),
        ("lazy.orange.elephant", 1, 1),
        ("quick.orange.fox", 1, 0),
        ("lazy.brown.fox", 0, 1),
        ("lazy.pink.rabbit", 0, 1), // two bindings match: delivered once
        ("quick.brown.fox", 0, 0),
        ("orange", 0, 0),
        ("quick.orange.new.rabbit", 0, 0),
        ("quick.orange.male.rabbit", 0, 0),
        ("lazy.orange.new.rabbit", 0, 1),
        ("lazy", 0, 1), // `#` matches zero words (SEMANTICS T3)
    ];
    for (key, to1, to2) in cases {
        let p = send(&emit, "topic_logs", key, key, BasicProperties::default());
        assert_eq!(routed_to(&p), to1 + to2, "{key}");
        let got1 = bodies(&q1);
        let got2 = bodies(&q2);
        assert_eq!(got1.len(), to1, "{key} to Q1: {got1:?}");
        assert_eq!(got2.len(), to2, "{key} to Q2: {got2:?}");
        assert!(got1.iter().chain(&got2).all(|b| b == key));
    }
    assert_eq!(broker.unroutable_count(), 4);
}

// ----- 6. RPC -----

/// The tutorial's (deliberately slow) service.
fn fib(n: u64) -> u64 {
    match n {
        0 => 0,
        1 => 1,
        n => fib(n - 1) + fib(n - 2),
    }
}

/// rpc_server.rs: prefetch 1 on `rpc_queue`; each request is answered on `reply_to` with
/// its `correlation_id`, then acked. Returns how many it served once cancelled; fails if it
/// ever held two requests.
fn serve_rpc(broker: &Broker) -> (Channel, String, thread::JoinHandle<Result<usize, String>>) {
    let ch = open(&broker.connect());
    ch.queue_declare("rpc_queue", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    ch.basic_qos(1, BasicQosOptions::default()).unwrap();
    let requests = consume(&ch, "rpc_queue", BasicConsumeOptions::default());
    let tag = requests.tag().to_owned();
    let server = ch.clone();
    let handle = thread::spawn(move || {
        let mut served = 0;
        loop {
            let req = match requests.recv_timeout(GUARD) {
                Ok(Some(d)) => d,
                Ok(None) => return Err("no request within the guard".to_string()),
                Err(e) if e.kind() == ErrorKind::ConsumerCancelled => return Ok(served),
                Err(e) => return Err(e.to_string()),
            };
            if requests.try_recv().map_err(|e| e.to_string())?.is_some() {
                return Err("a second request arrived before the ack (prefetch 1)".into());
            }
            let n: u64 = body(&req).parse().map_err(|_| "a numeric request")?;
            let props = req.properties();
            let reply_to = props.reply_to.clone().ok_or("a reply_to")?;
            let mut reply = BasicProperties::default();
            if let Some(id) = &props.correlation_id {
                reply = reply.with_correlation_id(id.clone());
            }
            server
                .basic_publish(
                    "",
                    &reply_to,
                    BasicPublishOptions::default(),
                    fib(n).to_string(),
                    reply,
                )
                .map_err(|e| e.to_string())?;
            req.ack().map_err(|e| e.to_string())?;
            served += 1;
        }
    });
    (ch, tag, handle)
}

/// rpc_client.rs: sends every request of `ns` at once with `reply_to` and a fresh correlation
/// id, then matches each reply to its request by id. Replies with an unknown id are discarded
/// and counted. Returns fib(n) by n and the number discarded.
fn call_all(
    client: &Channel,
    replies: &Consumer,
    reply_to: &str,
    ns: &[u64],
) -> (HashMap<u64, u64>, usize) {
    let mut pending: HashMap<String, u64> = HashMap::new();
    for (i, &n) in ns.iter().enumerate() {
        let id = format!("call-{i}-of-{n}");
        let props = BasicProperties::default()
            .with_reply_to(reply_to)
            .with_correlation_id(id.clone());
        let p = send(client, "", "rpc_queue", &n.to_string(), props);
        assert_eq!(routed_to(&p), 1);
        pending.insert(id, n);
    }
    let mut results = HashMap::new();
    let mut discarded = 0;
    while !pending.is_empty() {
        let reply = recv(replies);
        let id = reply.properties().correlation_id.clone();
        match id.and_then(|id| pending.remove(&id)) {
            Some(n) => {
                results.insert(n, body(&reply).parse().expect("a number"));
            }
            None => discarded += 1,
        }
    }
    (results, discarded)
}

fn check_fibs(results: &HashMap<u64, u64>, ns: &[u64]) {
    assert_eq!(results.len(), ns.len());
    for &n in ns {
        assert_eq!(results.get(&n), Some(&fib(n)), "fib({n})");
    }
}

#[test]
fn tutorial_6_rpc_with_a_callback_queue() {
    let broker = Broker::new();
    let (server, tag, handle) = serve_rpc(&broker);
    let client = open(&broker.connect());
    let callback = exclusive_queue(&client);
    let replies = consume(&client, &callback, auto_ack());
    // A stray reply with an id this client never used: discarded, not mistaken for an answer.
    let stray = BasicProperties::default().with_correlation_id("not-mine");
    send(&server, "", &callback, "999", stray);
    let ns: Vec<u64> = (0..=15).collect();
    let (results, discarded) = call_all(&client, &replies, &callback, &ns);
    check_fibs(&results, &ns);
    assert_eq!(discarded, 1);
    server.basic_cancel(&tag).unwrap();
    assert_eq!(handle.join().expect("server thread"), Ok(ns.len()));
    assert_eq!(broker.queue_counts("rpc_queue"), Some((0, 0)));
}

#[test]
fn tutorial_6_rpc_with_direct_reply_to() {
    let broker = Broker::new();
    let (server, tag, handle) = serve_rpc(&broker);
    let client = open(&broker.connect());
    let replies = consume(&client, REPLY_TO, auto_ack());
    let ns: Vec<u64> = vec![10, 3, 7, 0, 1, 20];
    let (results, discarded) = call_all(&client, &replies, REPLY_TO, &ns);
    check_fibs(&results, &ns);
    assert_eq!(discarded, 0);
    server.basic_cancel(&tag).unwrap();
    assert_eq!(handle.join().expect("server thread"), Ok(ns.len()));
    assert_eq!(broker.queue_counts("rpc_queue"), Some((0, 0)));
}

#[test]
fn tutorial_6_direct_reply_to_rewrites_reply_to_and_follows_r2() {
    let broker = Broker::new();
    let server = open(&broker.connect());
    server
        .queue_declare("rpc_queue", QueueDeclareOptions::default(), &no_args())
        .unwrap();
    let client = open(&broker.connect());
    // Without a reply consumer on the channel: 406.
    let err = fails(
        client
            .basic_publish(
                "",
                "rpc_queue",
                BasicPublishOptions::default(),
                "1",
                BasicProperties::default().with_reply_to(REPLY_TO),
            )
            .map_err(Error::from),
    );
    assert_amqp(&err, 406, Scope::Channel);
    // Manual ack: 406. A second reply consumer on one channel: 406. Binding it: 403.
    let client = open(&broker.connect());
    let err = fails(client.basic_consume(REPLY_TO, "", BasicConsumeOptions::default(), &no_args()));
    assert_amqp(&err, 406, Scope::Channel);
    let client = open(&broker.connect());
    let replies = consume(&client, REPLY_TO, auto_ack());
    let err = fails(client.basic_consume(REPLY_TO, "", auto_ack(), &no_args()));
    assert_amqp(&err, 406, Scope::Channel);
    let binder = open(&broker.connect());
    let err = fails(binder.queue_bind(REPLY_TO, "amq.direct", "x", &no_args()));
    assert_amqp(&err, 403, Scope::Channel);

    // The request carries a rewritten address that routes straight to the requester.
    let client = open(&broker.connect());
    let replies2 = consume(&client, REPLY_TO, auto_ack());
    drop(replies);
    let props = BasicProperties::default()
        .with_reply_to(REPLY_TO)
        .with_correlation_id("c1");
    send(&client, "", "rpc_queue", "7", props);
    let req = server
        .basic_get("rpc_queue", Default::default())
        .unwrap()
        .expect("the request")
        .delivery;
    let address = req.properties().reply_to.clone().unwrap();
    assert!(
        address.starts_with("amq.rabbitmq.reply-to."),
        "rewritten: {address}"
    );
    assert_eq!(req.properties().correlation_id.as_deref(), Some("c1"));
    let p = send(
        &server,
        "",
        &address,
        "13",
        BasicProperties::default().with_correlation_id("c1"),
    );
    assert!(p.is_routed(), "a reply counts as routed: {p:?}");
    let reply = recv(&replies2);
    assert_eq!(
        (body(&reply), reply.properties().correlation_id.as_deref()),
        ("13".to_string(), Some("c1"))
    );
    req.ack().unwrap();
    // The requester gone, a late reply is dropped without error.
    client.close();
    let late = server.basic_publish(
        "",
        &address,
        BasicPublishOptions::default(),
        "late",
        BasicProperties::default(),
    );
    assert!(late.is_ok());
    assert!(server.is_open());
}
