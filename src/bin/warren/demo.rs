//! `warren demo`: the seven messaging patterns of RabbitMQ's tutorials, run in-process and
//! checked.
//!
//! Each entry of [`PATTERNS`] builds a fresh [`Broker`], plays the tutorial's producer and
//! consumer sides against it and compares what was delivered with what the tutorial expects.
//! The durable entries (2's restart, 7) run on a scratch data directory under the system's
//! temporary directory (`warren-demo-<what>-<pid>-<n>`), removed when the entry ends.
//! The demo prints one line per entry on stdout, `ok <n> <name>` or `FAIL <n> <name>: <why>`,
//! and succeeds only if every entry passed. A panic inside a check fails that entry only.
//! What an entry reports besides (tutorial 7's timings) goes to stderr after its line, indented,
//! so stdout stays one line per entry.

use crate::CliError;
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt::Debug;
use std::fs;
use std::io::{self, Write};
use std::panic;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use warren::broker::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, Confirm, ExchangeDeclareOptions,
    QueueDeclareOptions,
};
use warren::message::FieldTable;
use warren::route::ExchangeType;
use warren::{BasicProperties, Broker, Channel, Connection, Consumer, Delivery, Publish};

/// What a check returns: `Err` says why the pattern failed.
type Outcome = Result<(), Box<dyn StdError>>;

/// One checked pattern: its number in the mission's list, its name and its check.
struct Pattern {
    number: u8,
    name: &'static str,
    check: fn() -> Outcome,
}

/// The patterns, in tutorial order. A pattern may have several entries (2 has its restart
/// part).
const PATTERNS: &[Pattern] = &[
    pattern(1, "simple", simple),
    pattern(2, "work queues", work_queues),
    pattern(2, "work queues (restart)", work_queues_restart),
    pattern(3, "publish/subscribe", publish_subscribe),
    pattern(4, "routing", routing),
    pattern(5, "topics", topics),
    pattern(6, "RPC", rpc),
    pattern(7, "publisher confirms", publisher_confirms),
];

/// A [`PATTERNS`] entry.
const fn pattern(number: u8, name: &'static str, check: fn() -> Outcome) -> Pattern {
    Pattern {
        number,
        name,
        check,
    }
}

/// The largest pattern number, for `--pattern`.
pub(crate) const LAST_PATTERN: u8 = 7;

/// How long a check waits for a delivery it expects before failing.
const WAIT: Duration = Duration::from_secs(5);

/// Runs every pattern (or those numbered `only`) and prints one line each.
///
/// # Errors
///
/// A failed write to stdout. A failed pattern is no error: it gives exit status 1.
pub(crate) fn run(only: Option<u8>) -> Result<ExitCode, CliError> {
    let quiet = QuietPanics::install();
    let mut out = io::stdout().lock();
    let mut all_ok = true;
    for pattern in PATTERNS
        .iter()
        .filter(|p| only.is_none_or(|n| p.number == n))
    {
        lock(&NOTES).clear();
        let line = match run_one(pattern.check) {
            Ok(()) => format!("ok {} {}", pattern.number, pattern.name),
            Err(why) => {
                all_ok = false;
                format!("FAIL {} {}: {why}", pattern.number, pattern.name)
            }
        };
        // Line by line, so a hanging pattern shows which ones finished.
        writeln!(out, "{line}")?;
        out.flush()?;
        let notes = std::mem::take(&mut *lock(&NOTES));
        if !notes.is_empty() {
            let mut err = io::stderr().lock();
            for n in notes {
                writeln!(err, "  {n}")?;
            }
        }
    }
    drop(quiet);
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs one check, turning an error or a panic into the reason it failed.
fn run_one(check: fn() -> Outcome) -> Result<(), String> {
    match panic::catch_unwind(check) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(payload) => Err(format!("panicked: {}", panic_text(&*payload))),
    }
}

/// The message of a panic payload, with where it happened when the hook saw it.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    match PANIC_AT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        Some(at) => format!("{msg} (at {at})"),
        None => msg,
    }
}

/// What the running entry reports besides its verdict ([`note`]), printed after its line.
static NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds a line to the running entry's report (stderr, after its `ok` or `FAIL` line).
fn note(line: String) {
    lock(&NOTES).push(line);
}

/// Locks `m`; a check that panicked while holding it left nothing half-done that matters here.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the last panic happened, kept by [`QuietPanics`]' hook.
static PANIC_AT: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the panic hook while the demo runs: a panicking check becomes its `FAIL` line
/// instead of a backtrace note on stderr.
struct QuietPanics;

impl QuietPanics {
    fn install() -> QuietPanics {
        panic::set_hook(Box::new(|info| {
            if let Some(at) = info.location() {
                *PANIC_AT.lock().unwrap_or_else(PoisonError::into_inner) = Some(at.to_string());
            }
        }));
        QuietPanics
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        drop(panic::take_hook());
    }
}

// ----- helpers shared by the checks -----

/// Fails with "`what`: got …, want …" unless `got == want`.
fn expect_eq<T: Debug + PartialEq>(what: &str, got: T, want: T) -> Outcome {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}").into())
    }
}

/// The next delivery of `consumer`, waiting at most [`WAIT`].
fn next(consumer: &Consumer, what: &str) -> Result<Delivery, Box<dyn StdError>> {
    match consumer.recv_timeout(WAIT)? {
        Some(d) => Ok(d),
        None => Err(format!("{what}: no delivery within {WAIT:?}").into()),
    }
}

/// Fails if `consumer` has a delivery waiting. A publish returns once its message is in the
/// consumers' mailboxes, so "nothing waiting" right after one is a reliable check.
fn expect_none(consumer: &Consumer, what: &str) -> Outcome {
    match consumer.try_recv()? {
        None => Ok(()),
        Some(d) => Err(format!("{what}: unexpected delivery {:?}", text(&d)).into()),
    }
}

/// A delivery's body as text.
fn text(d: &Delivery) -> String {
    String::from_utf8_lossy(d.body()).into_owned()
}

/// Publishes `body` and fails unless it reached exactly `queues` queues.
fn publish(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &str,
    props: BasicProperties,
    queues: usize,
) -> Outcome {
    let routed = ch.basic_publish(
        exchange,
        key,
        BasicPublishOptions::default(),
        body.to_string(),
        props,
    )?;
    match routed {
        Publish::Routed { queues: n } if n == queues => Ok(()),
        Publish::Unroutable if queues == 0 => Ok(()),
        other => Err(format!(
            "publish {body:?} to {exchange:?}/{key:?}: {other:?}, want {queues} queue(s)"
        )
        .into()),
    }
}

fn no_args() -> &'static FieldTable {
    static EMPTY: std::sync::OnceLock<FieldTable> = std::sync::OnceLock::new();
    EMPTY.get_or_init(FieldTable::new)
}

const AUTO_ACK: BasicConsumeOptions = BasicConsumeOptions {
    no_ack: true,
    exclusive: false,
    no_local: false,
};

const MANUAL_ACK: BasicConsumeOptions = BasicConsumeOptions {
    no_ack: false,
    exclusive: false,
    no_local: false,
};

/// An exclusive, server-named queue bound to `exchange` with each of `keys`, consumed with
/// auto-ack on its own connection (a subscriber of tutorials 3-5).
fn subscriber(
    broker: &Broker,
    exchange: &str,
    keys: &[&str],
) -> Result<(Connection, Consumer), Box<dyn StdError>> {
    let conn = broker.connect();
    let ch = conn.create_channel()?;
    let q = ch.queue_declare(
        "",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        no_args(),
    )?;
    if !q.name.starts_with("amq.gen-") {
        return Err(format!(
            "server-named queue {:?} does not start with amq.gen-",
            q.name
        )
        .into());
    }
    for key in keys {
        ch.queue_bind(&q.name, exchange, key, no_args())?;
    }
    let consumer = ch.basic_consume(&q.name, "", AUTO_ACK, no_args())?;
    Ok((conn, consumer))
}

/// Receives `n` deliveries and returns their `(routing key, body)` pairs.
fn receive(
    consumer: &Consumer,
    n: usize,
    who: &str,
) -> Result<Vec<(String, String)>, Box<dyn StdError>> {
    (0..n)
        .map(|_| {
            let d = next(consumer, who)?;
            Ok((d.routing_key().to_string(), text(&d)))
        })
        .collect()
}

// ----- the patterns -----

/// Tutorial 1: one producer sends "Hello World!" to queue `hello`, one consumer receives it.
fn simple() -> Outcome {
    let broker = Broker::new();
    let ch = broker.connect().create_channel()?;
    ch.queue_declare("hello", QueueDeclareOptions::default(), no_args())?;
    let consumer = ch.basic_consume("hello", "", AUTO_ACK, no_args())?;
    publish(
        &ch,
        "",
        "hello",
        "Hello World!",
        BasicProperties::default(),
        1,
    )?;
    expect_eq(
        "received",
        text(&next(&consumer, "hello")?),
        "Hello World!".into(),
    )?;
    expect_none(&consumer, "after the one message")
}

/// A worker of tutorial 2: its own connection, prefetch `prefetch`, manual ack.
fn worker(broker: &Broker, prefetch: u16) -> Result<(Connection, Consumer), Box<dyn StdError>> {
    let conn = broker.connect();
    let ch = conn.create_channel()?;
    ch.queue_declare("task_queue", durable(), no_args())?;
    ch.basic_qos(prefetch, BasicQosOptions::default())?;
    let consumer = ch.basic_consume("task_queue", "", MANUAL_ACK, no_args())?;
    Ok((conn, consumer))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

/// Tutorial 2: round robin between two workers; with prefetch 1 a worker that goes away
/// mid-message loses it to the other one, `redelivered`; a durable queue cannot be redeclared
/// non-durable.
fn work_queues() -> Outcome {
    let broker = Broker::new();
    let producer = broker.connect().create_channel()?;
    producer.queue_declare("task_queue", durable(), no_args())?;

    // Round robin: without prefetch, six tasks alternate between the two workers.
    let (_c1, w1) = worker(&broker, 0)?;
    let (_c2, w2) = worker(&broker, 0)?;
    let tasks: Vec<String> = (1..=6)
        .map(|i| format!("task {i}{}", ".".repeat(i)))
        .collect();
    for task in &tasks {
        publish(&producer, "", "task_queue", task, persistent(), 1)?;
    }
    let mut got = [Vec::new(), Vec::new()];
    for (i, w) in [&w1, &w2].into_iter().enumerate() {
        for _ in 0..3 {
            let d = next(w, "round robin")?;
            got[i].push(text(&d));
            d.ack()?;
        }
        expect_none(w, "round robin: a fourth task")?;
    }
    let odd: Vec<String> = tasks.iter().step_by(2).cloned().collect();
    let even: Vec<String> = tasks.iter().skip(1).step_by(2).cloned().collect();
    if got != [odd.clone(), even.clone()] && got != [even, odd] {
        return Err(format!("round robin: workers got {got:?}").into());
    }
    w1.cancel()?;
    w2.cancel()?;

    // Prefetch 1: worker A holds "A" unacked and gets nothing more; B takes "B".
    let (conn_a, wa) = worker(&broker, 1)?;
    publish(&producer, "", "task_queue", "A", persistent(), 1)?;
    let a = next(&wa, "worker A")?;
    expect_eq(
        "worker A got",
        (text(&a).as_str(), a.redelivered()),
        ("A", false),
    )?;
    let (_conn_b, wb) = worker(&broker, 1)?;
    publish(&producer, "", "task_queue", "B", persistent(), 1)?;
    expect_none(&wa, "worker A with prefetch 1 and one unacked")?;
    let b = next(&wb, "worker B")?;
    expect_eq("worker B got", text(&b), "B".into())?;
    publish(&producer, "", "task_queue", "C", persistent(), 1)?;
    expect_none(&wb, "worker B with prefetch 1 and one unacked")?;

    // Worker A goes away mid-message: "A" goes back to its place at the head of the queue.
    drop(wa);
    conn_a.close();
    expect_none(&wb, "worker B before its ack")?;
    expect_eq(
        "ready after worker A left",
        broker.queue_counts("task_queue"),
        Some((2, 1)),
    )?;
    b.ack()?;
    let again = next(&wb, "worker B after its ack")?;
    expect_eq(
        "worker B got",
        (text(&again).as_str(), again.redelivered()),
        ("A", true),
    )?;
    again.ack()?;
    let c = next(&wb, "worker B")?;
    expect_eq(
        "worker B got",
        (text(&c).as_str(), c.redelivered()),
        ("C", false),
    )?;
    c.ack()?;
    expect_eq(
        "left in task_queue",
        broker.queue_counts("task_queue"),
        Some((0, 1)),
    )?;

    // The durable queue cannot become non-durable: 406, and the channel closes.
    match producer.queue_declare("task_queue", QueueDeclareOptions::default(), no_args()) {
        Ok(_) => return Err("redeclaring durable task_queue non-durable succeeded".into()),
        Err(e) => expect_eq(
            "redeclare non-durable: reply code",
            e.reply_code(),
            Some(406),
        )?,
    }
    expect_eq("channel open after the 406", producer.is_open(), false)
}

/// A scratch data directory under the system's temporary directory, removed on drop (declare
/// it before the brokers that use it, so they close first).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(what: &str) -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "warren-demo-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Relaxed)
        ));
        // A leftover of an earlier run that had this pid: start empty.
        let _ = fs::remove_dir_all(&path);
        ScratchDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn persistent() -> BasicProperties {
    BasicProperties::default().persistent()
}

/// Tutorial 2's durability (SEMANTICS S2): persistent tasks in the durable `task_queue`
/// survive a restart of the broker, in order and not redelivered (the close was clean, S3);
/// a transient task and a non-durable queue do not. A worker with prefetch 1 then gets them
/// one at a time, and its acks are durable too: the next restart finds the queue empty.
fn work_queues_restart() -> Outcome {
    let dir = ScratchDir::new("restart");
    let tasks: Vec<String> = (1..=5)
        .map(|i| format!("task {i}{}", ".".repeat(i)))
        .collect();
    {
        let broker = Broker::open(dir.path())?;
        let ch = broker.connect().create_channel()?;
        ch.queue_declare("task_queue", durable(), no_args())?;
        ch.queue_declare("scratch", QueueDeclareOptions::default(), no_args())?;
        for (i, task) in tasks.iter().enumerate() {
            publish(&ch, "", "task_queue", task, persistent(), 1)?;
            if i == 1 {
                let transient = BasicProperties::default();
                publish(&ch, "", "task_queue", "transient task", transient, 1)?;
            }
        }
        publish(
            &ch,
            "",
            "scratch",
            "in a non-durable queue",
            persistent(),
            1,
        )?;
        expect_eq(
            "task_queue before the restart",
            broker.queue_counts("task_queue"),
            Some((tasks.len() + 1, 0)),
        )?;
        // Writes and syncs what the log holds and records a clean shutdown.
        broker.close();
    }

    let broker = Broker::open(dir.path())?;
    let report = broker.recovery().ok_or("no recovery report")?.clone();
    expect_eq("the previous run closed cleanly", report.clean, true)?;
    expect_eq(
        "persistent messages recovered",
        report.messages,
        tasks.len(),
    )?;
    expect_eq(
        "task_queue after the restart",
        broker.queue_counts("task_queue"),
        Some((tasks.len(), 0)),
    )?;
    expect_eq(
        "non-durable queue after the restart",
        broker.queue_counts("scratch"),
        None,
    )?;
    {
        let (_conn, w) = worker(&broker, 1)?;
        let mut got = Vec::new();
        for _ in &tasks {
            let d = next(&w, "worker after the restart")?;
            expect_none(&w, "worker with prefetch 1 and one unacked")?;
            got.push((text(&d), d.redelivered()));
            d.ack()?;
        }
        let want: Vec<(String, bool)> = tasks.iter().map(|t| (t.clone(), false)).collect();
        expect_eq("tasks after the restart (body, redelivered)", got, want)?;
        expect_none(&w, "worker after the last persistent task")?;
    }
    broker.close();
    drop(broker);

    let broker = Broker::open(dir.path())?;
    expect_eq(
        "task_queue after a second restart (the acks were logged)",
        broker.queue_counts("task_queue"),
        Some((0, 0)),
    )?;
    broker.close();
    Ok(())
}

/// Tutorial 3: `emit_log` publishes to fanout exchange `logs`; two `receive_logs` each get
/// every message on their own exclusive server-named queue, which goes with their connection.
fn publish_subscribe() -> Outcome {
    let broker = Broker::new();
    let ch = broker.connect().create_channel()?;
    ch.exchange_declare(
        "logs",
        ExchangeType::Fanout,
        ExchangeDeclareOptions::default(),
        no_args(),
    )?;
    // No subscriber yet: the message is dropped, as the tutorial warns.
    publish(&ch, "logs", "", "info: lost", BasicProperties::default(), 0)?;

    let (conn1, sub1) = subscriber(&broker, "logs", &[""])?;
    let (_conn2, sub2) = subscriber(&broker, "logs", &[""])?;
    let logs = [
        "info: Hello World!",
        "warning: disk 90% full",
        "error: disk full",
    ];
    for log in logs {
        publish(&ch, "logs", "", log, BasicProperties::default(), 2)?;
    }
    let want: Vec<(String, String)> = logs
        .iter()
        .map(|l| (String::new(), l.to_string()))
        .collect();
    for (name, sub) in [("subscriber 1", &sub1), ("subscriber 2", &sub2)] {
        expect_eq(name, receive(sub, logs.len(), name)?, want.clone())?;
        expect_none(sub, name)?;
    }

    // An exclusive queue is deleted with its connection: later logs reach one queue.
    drop(sub1);
    conn1.close();
    publish(
        &ch,
        "logs",
        "",
        "info: after",
        BasicProperties::default(),
        1,
    )?;
    expect_eq(
        "subscriber 2",
        text(&next(&sub2, "subscriber 2")?),
        "info: after".into(),
    )
}

/// Tutorial 4: direct exchange `direct_logs`; one subscriber binds `error`, the other
/// `info`, `warning` and `error`.
fn routing() -> Outcome {
    let broker = Broker::new();
    let ch = broker.connect().create_channel()?;
    ch.exchange_declare(
        "direct_logs",
        ExchangeType::Direct,
        ExchangeDeclareOptions::default(),
        no_args(),
    )?;
    let (_c1, errors) = subscriber(&broker, "direct_logs", &["error"])?;
    let (_c2, all) = subscriber(&broker, "direct_logs", &["info", "warning", "error"])?;
    let sent = [
        ("info", "Run. Run. Or it will explode.", 1),
        ("warning", "Careful, it is getting hot.", 1),
        ("error", "Run. Run. It exploded.", 2),
        ("debug", "nobody listens to debug", 0),
    ];
    for (severity, msg, queues) in sent {
        publish(
            &ch,
            "direct_logs",
            severity,
            msg,
            BasicProperties::default(),
            queues,
        )?;
    }
    let pairs = |want: &[&str]| -> Vec<(String, String)> {
        sent.iter()
            .filter(|(s, ..)| want.contains(s))
            .map(|(s, m, _)| (s.to_string(), m.to_string()))
            .collect()
    };
    expect_eq(
        "error subscriber",
        receive(&errors, 1, "error subscriber")?,
        pairs(&["error"]),
    )?;
    expect_eq(
        "info/warning/error subscriber",
        receive(&all, 3, "info/warning/error subscriber")?,
        pairs(&["info", "warning", "error"]),
    )?;
    expect_none(&errors, "error subscriber")?;
    expect_none(&all, "info/warning/error subscriber")
}

/// Tutorial 5: topic exchange `topic_logs`; Q1 binds `*.orange.*`, Q2 binds `*.*.rabbit` and
/// `lazy.#`. `#` matches zero or more words (RabbitMQ), so `lazy` reaches Q2;
/// `lazy.pink.rabbit` matches both of Q2's patterns and reaches it once.
fn topics() -> Outcome {
    // Each key with the subscribers it must reach.
    const KEYS: [(&str, bool, bool); 10] = [
        ("quick.orange.rabbit", true, true),
        ("lazy.orange.elephant", true, true),
        ("quick.orange.fox", true, false),
        ("lazy.brown.fox", false, true),
        ("lazy.pink.rabbit", false, true),
        ("quick.brown.fox", false, false),
        ("quick.orange.new.rabbit", false, false),
        ("lazy.orange.new.rabbit", false, true),
        ("lazy", false, true),
        ("orange", false, false),
    ];
    let broker = Broker::new();
    let ch = broker.connect().create_channel()?;
    ch.exchange_declare(
        "topic_logs",
        ExchangeType::Topic,
        ExchangeDeclareOptions::default(),
        no_args(),
    )?;
    let (_c1, q1) = subscriber(&broker, "topic_logs", &["*.orange.*"])?;
    let (_c2, q2) = subscriber(&broker, "topic_logs", &["*.*.rabbit", "lazy.#"])?;
    for (key, to1, to2) in KEYS {
        publish(
            &ch,
            "topic_logs",
            key,
            key,
            BasicProperties::default(),
            usize::from(to1) + usize::from(to2),
        )?;
    }
    for (name, q, pick) in [("Q1", &q1, 1), ("Q2", &q2, 2)] {
        let want: Vec<(String, String)> = KEYS
            .iter()
            .filter(|(_, to1, to2)| if pick == 1 { *to1 } else { *to2 })
            .map(|(k, ..)| (k.to_string(), k.to_string()))
            .collect();
        expect_eq(name, receive(q, want.len(), name)?, want)?;
        expect_none(q, name)?;
    }
    Ok(())
}

/// The tutorial's (deliberately naive) Fibonacci.
fn fib(n: u64) -> u64 {
    match n {
        0 => 0,
        1 => 1,
        n => fib(n - 1) + fib(n - 2),
    }
}

/// Tutorial 6: an RPC server thread consumes `rpc_queue` with prefetch 1 and answers
/// `fib(n)` to each request's `reply_to` with its `correlation_id`; the client sends several
/// requests at once from an exclusive callback queue and matches the replies by id.
fn rpc() -> Outcome {
    let broker = Broker::new();
    let server_conn = broker.connect();
    let server_ch = server_conn.create_channel()?;
    server_ch.queue_declare("rpc_queue", QueueDeclareOptions::default(), no_args())?;
    server_ch.basic_qos(1, BasicQosOptions::default())?;
    let requests = server_ch.basic_consume("rpc_queue", "", MANUAL_ACK, no_args())?;
    let server = thread::spawn(move || -> Result<usize, String> {
        let mut served = 0;
        // Ends when the client side closes the server's connection.
        for req in &requests {
            let n: u64 = String::from_utf8_lossy(req.body())
                .parse()
                .map_err(|e| format!("server: bad request {:?}: {e}", text(&req)))?;
            let props = req.properties();
            let reply_to = props
                .reply_to
                .clone()
                .ok_or("server: request without reply_to")?;
            let mut reply = BasicProperties::default();
            reply.correlation_id = props.correlation_id.clone();
            server_ch
                .basic_publish(
                    "",
                    &reply_to,
                    BasicPublishOptions::default(),
                    fib(n).to_string(),
                    reply,
                )
                .map_err(|e| format!("server: reply: {e}"))?;
            req.ack().map_err(|e| format!("server: ack: {e}"))?;
            served += 1;
        }
        Ok(served)
    });
    // Closes the server's connection whatever happens below, so the thread ends.
    struct CloseOnDrop(Connection);
    impl Drop for CloseOnDrop {
        fn drop(&mut self) {
            self.0.close();
        }
    }
    let server_guard = CloseOnDrop(server_conn);

    let client = broker.connect().create_channel()?;
    let callback = client.queue_declare(
        "",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        no_args(),
    )?;
    let replies = client.basic_consume(&callback.name, "", AUTO_ACK, no_args())?;
    let ns = [0u64, 1, 2, 10, 20, 30];
    let mut pending = BTreeMap::new();
    for (i, n) in ns.iter().enumerate() {
        let id = format!("req-{i}");
        let props = BasicProperties::default()
            .with_reply_to(callback.name.clone())
            .with_correlation_id(id.clone());
        publish(&client, "", "rpc_queue", &n.to_string(), props, 1)?;
        pending.insert(id, *n);
    }
    let mut answers = BTreeMap::new();
    while !pending.is_empty() {
        let d = next(&replies, "RPC reply")?;
        let id = d.properties().correlation_id.clone().unwrap_or_default();
        // The tutorial's client ignores a reply it did not ask for; here that is a failure.
        let n = pending
            .remove(&id)
            .ok_or_else(|| format!("reply with unknown or repeated correlation id {id:?}"))?;
        answers.insert(n, text(&d));
    }
    let want: BTreeMap<u64, String> = ns.iter().map(|&n| (n, fib(n).to_string())).collect();
    expect_eq("fib replies", answers, want)?;

    drop(server_guard);
    match server.join() {
        Ok(Ok(served)) => expect_eq("requests served", served, ns.len()),
        Ok(Err(why)) => Err(why.into()),
        Err(payload) => Err(format!("server panicked: {}", panic_text(&*payload)).into()),
    }
}

/// Messages each strategy of tutorial 7 publishes.
const CONFIRM_MESSAGES: usize = 1_000;
/// Tutorial 7's batch size.
const CONFIRM_BATCH: usize = 100;
/// The queue of tutorial 7.
const CONFIRM_QUEUE: &str = "confirms";

/// Tutorial 7: publisher confirms on a durable broker (SEMANTICS C5), persistent messages to a
/// durable queue, each confirm once the message is on disk (C2). The tutorial's three
/// strategies, 1,000 messages each, timed as the tutorial prints them: one at a time with
/// `wait_for_confirms_or_die`, in batches of 100 with `wait_for_confirms`, and asynchronously
/// with an `on_confirm` listener that removes outstanding messages from a map keyed by
/// `next_publish_seq_no` (a `multiple` confirm removes every one up to its number). Every
/// message must be acked; after a restart the queue holds all 3,000, in publish order.
fn publisher_confirms() -> Outcome {
    let dir = ScratchDir::new("confirms");
    let mut want = Vec::with_capacity(3 * CONFIRM_MESSAGES);
    {
        let broker = Broker::open(dir.path())?;
        let strategies: [(&str, &str, ConfirmStrategy); 3] = [
            ("individual", "individually", publish_individually),
            ("batch", "in batch", publish_in_batches),
            (
                "async",
                "and handled confirms asynchronously",
                handle_confirms_asynchronously,
            ),
        ];
        for (prefix, how, strategy) in strategies {
            let bodies: Vec<String> = (0..CONFIRM_MESSAGES)
                .map(|i| format!("{prefix} {i}"))
                .collect();
            let start = Instant::now();
            strategy(&broker, &bodies)?;
            note(format!(
                "Published {} messages {how} in {} ms",
                thousands(CONFIRM_MESSAGES),
                start.elapsed().as_millis()
            ));
            want.extend(bodies);
        }
        expect_eq(
            "confirms queue after the three strategies",
            broker.queue_counts(CONFIRM_QUEUE),
            Some((want.len(), 0)),
        )?;
        broker.close();
    }

    let broker = Broker::open(dir.path())?;
    let recovered = broker.recovery().ok_or("no recovery report")?.messages;
    expect_eq("messages recovered after a restart", recovered, want.len())?;
    let ch = broker.connect().create_channel()?;
    let consumer = ch.basic_consume(CONFIRM_QUEUE, "", AUTO_ACK, no_args())?;
    let got = receive(&consumer, want.len(), "after the restart")?;
    let got: Vec<String> = got.into_iter().map(|(_, body)| body).collect();
    if got != want {
        let at = got.iter().zip(&want).position(|(g, w)| g != w).unwrap_or(0);
        return Err(format!(
            "after the restart, message {at}: got {:?}, want {:?}",
            got[at], want[at]
        )
        .into());
    }
    expect_none(&consumer, "after the restart")?;
    broker.close();
    Ok(())
}

/// One of tutorial 7's strategies: publishes `bodies` to [`CONFIRM_QUEUE`] and returns once
/// every one is confirmed, failing on a nack or a timeout.
type ConfirmStrategy = fn(&Broker, &[String]) -> Outcome;

/// A channel of its own in confirm mode, with the durable [`CONFIRM_QUEUE`] declared.
fn confirm_channel(broker: &Broker) -> Result<Channel, Box<dyn StdError>> {
    let ch = broker.connect().create_channel()?;
    ch.queue_declare(CONFIRM_QUEUE, durable(), no_args())?;
    ch.confirm_select()?;
    Ok(ch)
}

/// Strategy 1: publish a message, wait for its confirm (an error on nack or timeout).
fn publish_individually(broker: &Broker, bodies: &[String]) -> Outcome {
    let ch = confirm_channel(broker)?;
    for body in bodies {
        publish(&ch, "", CONFIRM_QUEUE, body, persistent(), 1)?;
        ch.wait_for_confirms_or_die(WAIT)?;
    }
    Ok(())
}

/// Strategy 2: publish a batch of 100, wait for all its confirms.
fn publish_in_batches(broker: &Broker, bodies: &[String]) -> Outcome {
    let ch = confirm_channel(broker)?;
    for batch in bodies.chunks(CONFIRM_BATCH) {
        for body in batch {
            publish(&ch, "", CONFIRM_QUEUE, body, persistent(), 1)?;
        }
        if !ch.wait_for_confirms(WAIT)? {
            return Err(format!("a message of the batch from {:?} was nacked", batch[0]).into());
        }
    }
    Ok(())
}

/// The messages of strategy 3 still waiting for their confirm, by sequence number, and what
/// became of the others.
#[derive(Default)]
struct Outstanding {
    bodies: BTreeMap<u64, String>,
    acked: usize,
    nacked: Vec<String>,
}

/// Strategy 3: publish without waiting; the listener settles the outstanding map (every number
/// up to `seq` with `multiple`, else `seq` alone); the publisher waits at the end until the map
/// is empty.
fn handle_confirms_asynchronously(broker: &Broker, bodies: &[String]) -> Outcome {
    let ch = confirm_channel(broker)?;
    let shared = Arc::new((Mutex::new(Outstanding::default()), Condvar::new()));
    let listener = shared.clone();
    ch.on_confirm(move |c: Confirm| {
        let (state, changed) = &*listener;
        let mut o = lock(state);
        let settled: Vec<String> = if c.multiple {
            let above = o.bodies.split_off(&(c.seq.get() + 1));
            std::mem::replace(&mut o.bodies, above)
                .into_values()
                .collect()
        } else {
            o.bodies.remove(&c.seq.get()).into_iter().collect()
        };
        if c.ack {
            o.acked += settled.len();
        } else {
            o.nacked.extend(settled);
        }
        drop(o);
        changed.notify_all();
    });
    let (state, changed) = &*shared;
    for body in bodies {
        // Recorded before the publish: its confirm may come before `basic_publish` returns.
        lock(state)
            .bodies
            .insert(ch.next_publish_seq_no().get(), body.clone());
        publish(&ch, "", CONFIRM_QUEUE, body, persistent(), 1)?;
    }
    let deadline = Instant::now() + WAIT;
    let mut o = lock(state);
    while !o.bodies.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "{} confirms still outstanding after {WAIT:?}",
                o.bodies.len()
            )
            .into());
        }
        o = changed
            .wait_timeout(o, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    if let Some(body) = o.nacked.first() {
        return Err(format!("{} message(s) nacked, the first {body:?}", o.nacked.len()).into());
    }
    expect_eq("messages acked", o.acked, bodies.len())
}

/// `n` with thousands separators, as tutorial 7 prints counts.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_check_fails_with_its_message() {
        fn boom() -> Outcome {
            panic!("boom")
        }
        let quiet = QuietPanics::install();
        let got = run_one(boom);
        drop(quiet);
        let why = got.expect_err("a panic fails");
        assert!(why.starts_with("panicked: boom"), "{why}");
    }

    #[test]
    fn counts_print_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_mismatch_fails() {
        let why = expect_eq("x", 1, 2).expect_err("1 != 2").to_string();
        assert_eq!(why, "x: got 1, want 2");
    }

    #[test]
    fn pattern_numbers_are_in_order_and_cover_every_pattern() {
        let numbers: Vec<u8> = PATTERNS.iter().map(|p| p.number).collect();
        assert!(numbers.windows(2).all(|w| w[0] <= w[1]), "{numbers:?}");
        assert_eq!(numbers.first(), Some(&1));
        assert_eq!(numbers.last(), Some(&LAST_PATTERN));
    }
}
