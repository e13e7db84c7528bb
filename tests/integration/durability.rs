//! The durable store through the broker: what survives a reopen (SEMANTICS S), publisher
//! confirms (SEMANTICS C).
//!
//! Crashes are simulated in-process: the `*.wlog` files of an open broker are copied into a
//! fresh directory ([`crash_image`]) after a confirmed publish, so everything the test expects
//! is synced, and the copy, which has no `Shutdown` record, is opened as after an unclean stop.
//! A real SIGKILL is tested elsewhere (`warren torture`). Torn and corrupt logs are made by hand
//! from such images, byte by byte ([`frames`] reads the record framing of `store::codec`).

use crate::model::durable::{self as model, Op};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use warren::broker::{
    BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicRejectOptions, Confirm, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use warren::message::{FieldTable, FieldValue};
use warren::route::ExchangeType;
use warren::store::{Fault, StoreOptions};
use warren::{BasicProperties, Broker, BrokerOptions, Channel, Error, ErrorKind, Publish, Scope};

/// Long enough for any sync on a loaded machine; only a hang reaches it.
const LONG: Duration = Duration::from_secs(30);

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn durable_x() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn transient_q() -> QueueDeclareOptions {
    QueueDeclareOptions::default()
}

fn no_args() -> FieldTable {
    FieldTable::new()
}

fn persistent() -> BasicProperties {
    BasicProperties::default().persistent()
}

fn open(dir: &Path) -> Broker {
    Broker::open(dir).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

fn open_small(dir: &Path, segment_size: u64) -> Broker {
    Broker::open_with(
        dir,
        BrokerOptions::default(),
        StoreOptions::default().with_segment_size(segment_size),
    )
    .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

fn channel(b: &Broker) -> Channel {
    b.connect().create_channel().unwrap()
}

/// A channel in confirm mode.
fn confirming(b: &Broker) -> Channel {
    let ch = channel(b);
    ch.confirm_select().unwrap();
    ch
}

fn publish(ch: &Channel, queue: &str, body: &str, props: BasicProperties) -> Publish {
    ch.basic_publish(
        "",
        queue,
        BasicPublishOptions::default(),
        body.to_string(),
        props,
    )
    .unwrap_or_else(|e| panic!("publish to {queue}: {e}"))
}

fn publish_p(ch: &Channel, queue: &str, body: &str) {
    publish(ch, queue, body, persistent());
}

/// Asserts an error's kind, reply code and scope (SEMANTICS F3).
#[track_caller]
fn assert_err(e: &Error, kind: ErrorKind, code: Option<u16>, scope: Scope) {
    assert_eq!(
        (e.kind(), e.reply_code(), e.scope()),
        (kind, code, scope),
        "{e}"
    );
}

/// A message as taken from a queue: body, redelivered, failed and returned counts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Got {
    body: String,
    redelivered: bool,
    failed: u32,
    returned: u32,
}

fn got(body: &str, redelivered: bool) -> Got {
    Got {
        body: body.to_string(),
        redelivered,
        failed: 0,
        returned: 0,
    }
}

/// Takes every ready message of `queue` (no-ack gets), in order.
fn drain(ch: &Channel, queue: &str) -> Vec<Got> {
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue, BasicGetOptions { no_ack: true })
        .unwrap_or_else(|e| panic!("get from {queue}: {e}"))
    {
        let d = &m.delivery;
        out.push(Got {
            body: String::from_utf8(d.body().to_vec()).unwrap(),
            redelivered: d.redelivered(),
            failed: d.failed_count(),
            returned: d.returned_count(),
        });
    }
    out
}

fn bodies(got: &[Got]) -> Vec<&str> {
    got.iter().map(|g| g.body.as_str()).collect()
}

/// The segment files of `dir`, in order.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut segs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wlog"))
        .collect();
    segs.sort();
    segs
}

fn segment_path(dir: &Path, no: u64) -> PathBuf {
    dir.join(format!("{no:020}.wlog"))
}

/// Copies the segments of `from` (an open broker's directory) into a fresh directory: the
/// log as a crash at this moment would leave it, with no `Shutdown` record.
fn crash_image(from: &Path) -> TempDir {
    let to = tempfile::tempdir().unwrap();
    copy_segments(from, to.path());
    to
}

fn copy_segments(from: &Path, to: &Path) {
    for seg in segments(from) {
        fs::copy(&seg, to.join(seg.file_name().unwrap())).unwrap();
    }
}

/// Forces a sync of everything appended so far: a persistent publish to the durable queue
/// `sync` is confirmed once a sync covers it, and the log is written in order. (Settles are
/// appended but not waited for by the engine.)
fn force_sync(b: &Broker) {
    let ch = confirming(b);
    ch.queue_declare("sync", durable(), &no_args()).unwrap();
    publish_p(&ch, "sync", "sync");
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    ch.close();
}

/// One record's frame in a segment: its offset in the file, framed length and record tag.
#[derive(Clone, Copy, Debug)]
struct Frame {
    at: usize,
    len: usize,
    tag: u8,
}

/// Record tags of `store::codec` used here.
const TAG_MESSAGE: u8 = 7;
const TAG_SHUTDOWN: u8 = 10;
const SEGMENT_HEADER: usize = 16;

/// The frames of a segment file's bytes: `[u32 len][u32 crc][payload]` after the 16-byte
/// header, up to the first incomplete one.
fn frames(file: &[u8]) -> Vec<Frame> {
    assert_eq!(&file[..8], b"WARRENL1");
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER;
    while at + 8 <= file.len() {
        let len =
            usize::try_from(u32::from_le_bytes(file[at..at + 4].try_into().unwrap())).unwrap();
        if at + 8 + len > file.len() || len == 0 {
            break;
        }
        let crc = u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap());
        assert_eq!(crc, crc32(&file[at + 8..at + 8 + len]), "frame at {at}");
        out.push(Frame {
            at,
            len: 8 + len,
            tag: file[at + 8],
        });
        at += 8 + len;
    }
    out
}

/// CRC-32/IEEE, bit by bit (the test's own, independent of the engine's).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

// ---------------------------------------------------------------------------------------------
// S2: what survives

#[test]
fn s2_durable_queue_and_persistent_messages_survive_a_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Broker::open(dir.path()).unwrap();
        let ch = b.connect().create_channel().unwrap();
        ch.queue_declare("jobs", durable(), &FieldTable::new())
            .unwrap();
        ch.queue_declare("temp", QueueDeclareOptions::default(), &FieldTable::new())
            .unwrap();
        for i in 0..3 {
            ch.basic_publish(
                "",
                "jobs",
                BasicPublishOptions::default(),
                format!("m{i}"),
                persistent(),
            )
            .unwrap();
        }
        ch.basic_publish(
            "",
            "jobs",
            BasicPublishOptions::default(),
            "transient",
            BasicProperties::default(),
        )
        .unwrap();
        ch.basic_publish(
            "",
            "temp",
            BasicPublishOptions::default(),
            "gone",
            persistent(),
        )
        .unwrap();
        b.close();
    }
    let b = Broker::open(dir.path()).unwrap();
    let report = b.recovery().unwrap().clone();
    assert!(report.clean, "{report:?}");
    assert_eq!(report.messages, 3);
    assert_eq!(b.queue_counts("jobs"), Some((3, 0)));
    assert_eq!(b.queue_counts("temp"), None);
    let ch = b.connect().create_channel().unwrap();
    for i in 0..3 {
        let m = ch
            .basic_get("jobs", BasicGetOptions { no_ack: true })
            .unwrap()
            .unwrap();
        assert_eq!(m.delivery.body(), format!("m{i}").as_bytes());
        assert!(!m.delivery.redelivered());
    }
    let c = ch
        .basic_consume(
            "jobs",
            "",
            BasicConsumeOptions::default(),
            &FieldTable::new(),
        )
        .unwrap();
    assert!(c.recv_timeout(Duration::from_millis(10)).unwrap().is_none());
}

/// The topology of `s2_durable_topology_*`: durable exchanges of every type, durable queues
/// with arguments, queue and exchange-to-exchange bindings, a headers binding, a server-named
/// durable queue; and what must not survive (transient and exclusive queues, a transient
/// exchange, bindings with a transient end, deleted objects, an unbinding). Returns the
/// server-named queue's name.
fn build_topology(ch: &Channel) -> String {
    ch.exchange_declare("logs", ExchangeType::Fanout, durable_x(), &no_args())
        .unwrap();
    ch.exchange_declare("hx", ExchangeType::Headers, durable_x(), &no_args())
        .unwrap();
    ch.exchange_declare("tx", ExchangeType::Topic, durable_x(), &no_args())
        .unwrap();
    let ae = FieldTable::new().with("alternate-exchange", "logs");
    ch.exchange_declare("dx", ExchangeType::Direct, durable_x(), &ae)
        .unwrap();
    ch.exchange_declare(
        "transient-x",
        ExchangeType::Direct,
        ExchangeDeclareOptions::default(),
        &no_args(),
    )
    .unwrap();
    let dq_args = FieldTable::new()
        .with("x-consumer-timeout", 60_000i64)
        .with("x-custom", "kept");
    ch.queue_declare("dq", durable(), &dq_args).unwrap();
    let quorum = FieldTable::new().with("x-queue-type", "quorum");
    ch.queue_declare("qq", durable(), &quorum).unwrap();
    let named = ch.queue_declare("", durable(), &no_args()).unwrap().name;
    assert!(named.starts_with("amq.gen-"), "{named}");
    ch.queue_declare("tq", transient_q(), &no_args()).unwrap();
    ch.queue_declare(
        "xq",
        QueueDeclareOptions {
            durable: true,
            exclusive: true,
            ..Default::default()
        },
        &no_args(),
    )
    .unwrap();
    // Bindings between durable ends.
    ch.queue_bind("dq", "logs", "", &no_args()).unwrap();
    ch.queue_bind(&named, "logs", "", &no_args()).unwrap();
    ch.exchange_bind("tx", "logs", "", &no_args()).unwrap();
    ch.queue_bind("qq", "tx", "a.#", &no_args()).unwrap();
    let red = FieldTable::new()
        .with("x-match", "any")
        .with("color", "red")
        .with("size", 3i32);
    ch.queue_bind("qq", "hx", "", &red).unwrap();
    ch.queue_bind("dq", "amq.direct", "kept", &no_args())
        .unwrap();
    // Bindings with a transient end.
    ch.queue_bind("tq", "logs", "", &no_args()).unwrap();
    ch.queue_bind("xq", "logs", "", &no_args()).unwrap();
    ch.queue_bind("dq", "transient-x", "k", &no_args()).unwrap();
    ch.exchange_bind(
        "transient-x",
        "hx",
        "",
        &FieldTable::new().with("x-match", "all"),
    )
    .unwrap();
    // Deleted and unbound: they stay so.
    ch.exchange_declare("gone-x", ExchangeType::Fanout, durable_x(), &no_args())
        .unwrap();
    ch.queue_declare("gone-q", durable(), &no_args()).unwrap();
    ch.queue_bind("gone-q", "gone-x", "", &no_args()).unwrap();
    ch.queue_bind("dq", "gone-x", "", &no_args()).unwrap();
    ch.queue_bind("gone-q", "logs", "", &no_args()).unwrap();
    ch.exchange_bind("gone-x", "amq.topic", "#", &no_args())
        .unwrap();
    ch.queue_delete("gone-q", QueueDeleteOptions::default())
        .unwrap();
    ch.exchange_delete("gone-x", ExchangeDeleteOptions::default())
        .unwrap();
    ch.queue_bind("dq", "amq.direct", "unbound", &no_args())
        .unwrap();
    ch.queue_unbind("dq", "amq.direct", "unbound", &no_args())
        .unwrap();
    ch.queue_bind("qq", "tx", "b.*", &no_args()).unwrap();
    ch.queue_unbind("qq", "tx", "b.*", &no_args()).unwrap();
    named
}

/// Checks a broker reopened on `build_topology`'s log (SEMANTICS S2, E10, Q2).
fn check_topology(b: &Broker, named: &str) {
    let report = b.recovery().unwrap().clone();
    assert_eq!(report.cut, None, "{report:?}");
    assert_eq!(
        (report.exchanges, report.queues, report.bindings),
        (4, 3, 6),
        "{report:?}"
    );
    for x in ["logs", "hx", "tx", "dx", "amq.direct"] {
        assert!(b.exchange_exists(x), "{x}");
    }
    for x in ["transient-x", "gone-x"] {
        assert!(!b.exchange_exists(x), "{x}");
    }
    for q in ["dq", "qq", named] {
        assert_eq!(b.queue_counts(q), Some((0, 0)), "{q}");
    }
    for q in ["tq", "xq", "gone-q"] {
        assert_eq!(b.queue_counts(q), None, "{q}");
    }
    let ch = channel(b);
    // Flags and arguments came back: an equal redeclare passes, another is refused.
    ch.exchange_declare("logs", ExchangeType::Fanout, durable_x(), &no_args())
        .unwrap();
    let ae = FieldTable::new().with("alternate-exchange", "logs");
    ch.exchange_declare("dx", ExchangeType::Direct, durable_x(), &ae)
        .unwrap();
    let dq_args = FieldTable::new().with("x-consumer-timeout", 60_000i32);
    ch.queue_declare("dq", durable(), &dq_args).unwrap();
    ch.queue_declare(
        "qq",
        durable(),
        &FieldTable::new().with("x-queue-type", "quorum"),
    )
    .unwrap();
    let e = ch.queue_declare("qq", durable(), &no_args()).unwrap_err();
    assert_err(&e, ErrorKind::Amqp, Some(406), Scope::Channel);
    let ch = channel(b);
    let e = ch
        .exchange_declare("dx", ExchangeType::Direct, durable_x(), &no_args())
        .unwrap_err();
    assert_err(&e, ErrorKind::Amqp, Some(406), Scope::Channel);
    // Routing through the recovered bindings.
    let ch = channel(b);
    let routed = |x: &str, key: &str, headers: Option<FieldTable>| -> usize {
        let props = match headers {
            Some(h) => BasicProperties::default().with_headers(h),
            None => BasicProperties::default(),
        };
        match ch
            .basic_publish(x, key, BasicPublishOptions::default(), "probe", props)
            .unwrap()
        {
            Publish::Routed { queues } => queues,
            Publish::Unroutable => 0,
            other => panic!("{other:?}"),
        }
    };
    // logs -> dq, named, tx -> (a.# -> qq).
    assert_eq!(routed("logs", "a.b", None), 3);
    assert_eq!(routed("logs", "b.c", None), 2);
    assert_eq!(
        routed("hx", "", Some(FieldTable::new().with("color", "red"))),
        1
    );
    assert_eq!(
        routed("hx", "", Some(FieldTable::new().with("size", 3i64))),
        1
    );
    assert_eq!(
        routed("hx", "", Some(FieldTable::new().with("color", "blue"))),
        0
    );
    assert_eq!(routed("amq.direct", "kept", None), 1);
    assert_eq!(routed("amq.direct", "unbound", None), 0);
    assert_eq!(routed("amq.topic", "any", None), 0);
    // dx has no binding: its alternate (logs) takes it.
    assert_eq!(routed("dx", "a.z", None), 3);
    assert_eq!(b.queue_counts("dq"), Some((4, 0)));
    assert_eq!(b.queue_counts("qq"), Some((4, 0)));
    assert_eq!(b.queue_counts(named), Some((3, 0)));
}

#[test]
fn s2_durable_topology_survives_clean_reopen_and_crash_image() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = channel(&b);
    let named = build_topology(&ch);
    // Durable declares, binds and deletes return once synced: the image holds them all.
    let image = crash_image(dir.path());
    b.close();
    drop((ch, b));
    let b = open(dir.path());
    assert!(b.recovery().unwrap().clean);
    check_topology(&b, &named);
    b.close();
    drop(b);
    let b = open(image.path());
    assert!(!b.recovery().unwrap().clean);
    check_topology(&b, &named);
}

/// SEMANTICS S2: persistent messages of durable queues, in order, settled ones gone, unacked
/// ones back ready and redelivered; A10's counts kept; a message in two queues back in both.
#[test]
fn s2_messages_survive_in_order_and_settled_ones_stay_gone() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = channel(&b);
    let declare = |q: &str| {
        ch.queue_declare(q, durable(), &no_args()).unwrap();
    };
    for q in [
        "order",
        "get-ack",
        "get-no-ack",
        "consume-auto",
        "nack",
        "reject",
        "purged",
        "unacked",
        "counts",
        "a",
        "b",
    ] {
        declare(q);
    }
    ch.queue_declare("tq", transient_q(), &no_args()).unwrap();
    ch.exchange_declare("fan", ExchangeType::Fanout, durable_x(), &no_args())
        .unwrap();
    ch.queue_bind("a", "fan", "", &no_args()).unwrap();
    ch.queue_bind("b", "fan", "", &no_args()).unwrap();

    for i in 0..5 {
        publish_p(&ch, "order", &format!("m{i}"));
        if i == 2 {
            publish(&ch, "order", "transient", BasicProperties::default());
        }
    }
    publish_p(&ch, "tq", "in a transient queue");
    let get = |q: &str| {
        ch.basic_get(q, BasicGetOptions::default())
            .unwrap()
            .unwrap_or_else(|| panic!("{q} is empty"))
            .delivery
    };
    for q in ["get-ack", "get-no-ack", "nack", "reject"] {
        publish_p(&ch, q, "settled");
        publish_p(&ch, q, "keep");
    }
    get("get-ack").ack().unwrap();
    let m = ch
        .basic_get("get-no-ack", BasicGetOptions { no_ack: true })
        .unwrap()
        .unwrap();
    assert_eq!(m.delivery.body(), b"settled");
    get("nack")
        .nack(BasicNackOptions {
            requeue: false,
            ..Default::default()
        })
        .unwrap();
    get("reject")
        .reject(BasicRejectOptions { requeue: false })
        .unwrap();
    publish_p(&ch, "consume-auto", "settled");
    let c = ch
        .basic_consume(
            "consume-auto",
            "",
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            &no_args(),
        )
        .unwrap();
    assert_eq!(c.recv_timeout(LONG).unwrap().unwrap().body(), b"settled");
    c.cancel().unwrap();
    for i in 0..3 {
        publish_p(&ch, "purged", &format!("p{i}"));
    }
    assert_eq!(ch.queue_purge("purged").unwrap(), 3);
    // A message in two durable queues: acked in one, kept in the other.
    ch.basic_publish(
        "fan",
        "",
        BasicPublishOptions::default(),
        "both",
        persistent(),
    )
    .unwrap();
    get("a").ack().unwrap();
    // And one in both, settled in neither.
    ch.basic_publish(
        "fan",
        "",
        BasicPublishOptions::default(),
        "in both",
        persistent(),
    )
    .unwrap();
    // Counts (A10): returned by nack-requeue, failed by reject-requeue and by loss (close).
    publish_p(&ch, "counts", "c");
    get("counts")
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .unwrap();
    get("counts")
        .reject(BasicRejectOptions { requeue: true })
        .unwrap();
    get("counts")
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .unwrap();
    let ch2 = channel(&b);
    let lost = ch2
        .basic_get("counts", BasicGetOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(lost.delivery.returned_count(), 2);
    ch2.close();
    // Unacked at close: back ready, redelivered, failed + 1 (A7).
    for i in 0..3 {
        publish_p(&ch, "unacked", &format!("u{i}"));
    }
    let u0 = get("unacked");
    let u1 = get("unacked");
    assert!(!u0.redelivered() && !u1.redelivered());
    // A queue deleted with its messages and declared again under its name starts empty.
    declare("reborn");
    publish_p(&ch, "reborn", "old");
    ch.queue_delete("reborn", QueueDeleteOptions::default())
        .unwrap();
    declare("reborn");
    publish_p(&ch, "reborn", "new");
    b.close();
    drop((c, ch, ch2, b));

    let b = open(dir.path());
    let report = b.recovery().unwrap().clone();
    assert!(report.clean, "{report:?}");
    assert_eq!(report.cut, None);
    let ch = channel(&b);
    let order = drain(&ch, "order");
    assert_eq!(
        order,
        (0..5)
            .map(|i| got(&format!("m{i}"), false))
            .collect::<Vec<_>>()
    );
    assert_eq!(b.queue_counts("tq"), None);
    for q in ["get-ack", "get-no-ack", "nack", "reject"] {
        assert_eq!(drain(&ch, q), vec![got("keep", false)], "{q}");
    }
    for q in ["consume-auto", "purged"] {
        assert_eq!(drain(&ch, q), vec![], "{q}");
    }
    assert_eq!(drain(&ch, "a"), vec![got("in both", false)]);
    assert_eq!(
        drain(&ch, "b"),
        vec![got("both", false), got("in both", false)]
    );
    assert_eq!(
        drain(&ch, "counts"),
        vec![Got {
            body: "c".into(),
            redelivered: true,
            failed: 2,
            returned: 2,
        }]
    );
    let unacked = drain(&ch, "unacked");
    let with_loss = |body: &str| Got {
        failed: 1,
        ..got(body, true)
    };
    assert_eq!(
        unacked,
        vec![with_loss("u0"), with_loss("u1"), got("u2", false)]
    );
    assert_eq!(drain(&ch, "reborn"), vec![got("new", false)]);
    // 5 in order, keep x4, both, in both (once), c, u0-u2, new.
    assert_eq!(report.messages, 5 + 4 + 1 + 1 + 1 + 3 + 1, "{report:?}");
}

/// SEMANTICS A10: `x-delivery-count` comes from the recovered failed count.
#[test]
fn s2_failed_count_header_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = open(dir.path());
        let ch = channel(&b);
        ch.queue_declare("q", durable(), &no_args()).unwrap();
        publish_p(&ch, "q", "x");
        for _ in 0..3 {
            ch.basic_get("q", BasicGetOptions::default())
                .unwrap()
                .unwrap()
                .delivery
                .reject(BasicRejectOptions { requeue: true })
                .unwrap();
        }
        b.close();
    }
    let b = open(dir.path());
    let m = channel(&b)
        .basic_get("q", BasicGetOptions { no_ack: true })
        .unwrap()
        .unwrap();
    assert_eq!(m.delivery.failed_count(), 3);
    let headers = m.delivery.properties().headers.clone().unwrap_or_default();
    assert_eq!(
        headers.get("x-delivery-count").and_then(FieldValue::as_i64),
        Some(3),
        "{headers:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// S3: the redelivered flag

#[test]
fn s3_clean_close_keeps_redelivered_false_for_never_delivered_messages() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = open(dir.path());
        let ch = channel(&b);
        ch.queue_declare("q", durable(), &no_args()).unwrap();
        for i in 0..3 {
            publish_p(&ch, "q", &format!("m{i}"));
        }
        ch.basic_get("q", BasicGetOptions::default())
            .unwrap()
            .unwrap()
            .delivery
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .unwrap();
        b.close();
    }
    let b = open(dir.path());
    assert!(b.recovery().unwrap().clean);
    let ch = channel(&b);
    assert_eq!(
        drain(&ch, "q"),
        vec![
            Got {
                returned: 1,
                ..got("m0", true)
            },
            got("m1", false),
            got("m2", false)
        ]
    );
}

/// Dropping the last handles of a durable broker closes it cleanly (as `close`).
#[test]
fn s3_dropping_the_last_handles_closes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = open(dir.path());
        let ch = channel(&b);
        ch.queue_declare("q", durable(), &no_args()).unwrap();
        publish_p(&ch, "q", "m0");
        publish_p(&ch, "q", "m1");
        let held = ch.basic_get("q", BasicGetOptions::default()).unwrap();
        drop(b);
        // The channel keeps the broker alive.
        publish_p(&ch, "q", "m2");
        drop((held, ch));
    }
    let b = open(dir.path());
    assert!(b.recovery().unwrap().clean);
    assert_eq!(
        drain(&channel(&b), "q"),
        vec![
            Got {
                failed: 1,
                ..got("m0", true)
            },
            got("m1", false),
            got("m2", false)
        ]
    );
}

#[test]
fn s3_crash_image_makes_every_message_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    for i in 0..3 {
        publish_p(&ch, "q", &format!("m{i}"));
    }
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    let image = crash_image(dir.path());
    let crashed = open(image.path());
    let report = crashed.recovery().unwrap().clone();
    assert!(!report.clean, "{report:?}");
    assert_eq!(report.cut, None);
    assert_eq!(report.messages, 3);
    assert_eq!(
        drain(&channel(&crashed), "q"),
        vec![got("m0", true), got("m1", true), got("m2", true)]
    );
}

/// SEMANTICS S3: "false means never delivered before". A message delivered before a crash
/// comes back redelivered; a clean close and reopen after that must not turn the flag back to
/// false, since the engine cannot know it was never delivered.
#[test]
fn s3_redelivered_after_a_crash_stays_after_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    publish_p(&ch, "q", "delivered");
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    let m = ch
        .basic_get("q", BasicGetOptions::default())
        .unwrap()
        .unwrap();
    assert!(!m.delivery.redelivered());
    let image = crash_image(dir.path());
    {
        let crashed = open(image.path());
        assert_eq!(crashed.queue_counts("q"), Some((1, 0)));
        crashed.close();
    }
    let again = open(image.path());
    assert!(again.recovery().unwrap().clean);
    assert_eq!(drain(&channel(&again), "q"), vec![got("delivered", true)]);
}

// ---------------------------------------------------------------------------------------------
// Q2 on recovered queues

#[test]
fn q2_recovered_durable_queue_compares_flags_and_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let args = FieldTable::new().with("x-consumer-timeout", 5_000i64);
    let named = {
        let b = open(dir.path());
        let ch = channel(&b);
        ch.queue_declare("q", durable(), &args).unwrap();
        publish_p(&ch, "q", "m");
        let named = ch.queue_declare("", durable(), &no_args()).unwrap().name;
        publish_p(&ch, &named, "n");
        b.close();
        named
    };
    let b = open(dir.path());
    let refused = [
        (transient_q(), args.clone()),
        (
            QueueDeclareOptions {
                auto_delete: true,
                ..durable()
            },
            args.clone(),
        ),
        (durable(), no_args()),
        (
            durable(),
            FieldTable::new().with("x-consumer-timeout", 6_000i64),
        ),
        (durable(), args.clone().with("x-queue-type", "quorum")),
    ];
    for (opts, a) in refused {
        let ch = channel(&b);
        let e = ch.queue_declare("q", opts, &a).unwrap_err();
        assert_err(&e, ErrorKind::Amqp, Some(406), Scope::Channel);
        assert!(e.text().contains("inequivalent arg"), "{e}");
        assert!(!ch.is_open());
    }
    // Nothing changed (Q2).
    assert_eq!(b.queue_counts("q"), Some((1, 0)));
    let ch = channel(&b);
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let ok = ch.queue_declare("q", passive, &no_args()).unwrap();
    assert_eq!((ok.name.as_str(), ok.message_count), ("q", 1));
    // Integers compare by value; a missing x-queue-type is classic.
    let same = FieldTable::new()
        .with("x-consumer-timeout", 5_000i32)
        .with("x-queue-type", "classic");
    assert_eq!(
        ch.queue_declare("q", durable(), &same)
            .unwrap()
            .message_count,
        1
    );
    // The server-named queue keeps its name.
    let ok = ch.queue_declare(&named, passive, &no_args()).unwrap();
    assert_eq!((ok.name.as_str(), ok.message_count), (named.as_str(), 1));
    assert_eq!(drain(&ch, &named), vec![got("n", false)]);
}

// ---------------------------------------------------------------------------------------------
// S5: torn and corrupt logs

/// A crash image whose single segment ends with the message record of `last`, after the
/// messages `first` in durable queue `q`.
fn image_ending_in_a_message(first: &[&str], last: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    for m in first.iter().chain([&last]) {
        publish_p(&ch, "q", m);
    }
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    crash_image(dir.path())
}

#[test]
fn s5_a_cut_at_every_byte_of_the_last_record_keeps_the_rest() {
    let first = ["m0", "m1", "m2", "m3"];
    let last = "m4, the last record, cut at every byte";
    let image = image_ending_in_a_message(&first, last);
    let segs = segments(image.path());
    assert_eq!(segs.len(), 1);
    let bytes = fs::read(&segs[0]).unwrap();
    let fr = frames(&bytes);
    let rec = *fr.last().unwrap();
    assert_eq!(rec.tag, TAG_MESSAGE, "{fr:?}");
    assert_eq!(
        rec.at + rec.len,
        bytes.len(),
        "the image ends with that record"
    );
    let kept: Vec<Got> = first.iter().map(|m| got(m, true)).collect();
    for k in 0..rec.len {
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join(segs[0].file_name().unwrap());
        fs::write(&seg, &bytes[..rec.at + k]).unwrap();
        let b = open(dir.path());
        let report = b.recovery().unwrap().clone();
        assert_eq!(report.bytes_dropped, to_u64(k), "cut {k}: {report:?}");
        assert_eq!(report.cut.is_some(), k > 0, "cut {k}: {report:?}");
        assert!(!report.clean);
        assert_eq!(report.messages, first.len(), "cut {k}");
        assert_eq!(
            file_len(&seg),
            to_u64(rec.at),
            "cut {k}: the torn tail is cut off"
        );
        let ch = channel(&b);
        assert_eq!(drain(&ch, "q"), kept, "cut {k}");
        if k == rec.len / 2 {
            // The broker keeps working after a cut, and the next reopen finds no cut.
            publish_p(&ch, "q", "after");
            b.close();
            drop((ch, b));
            let b = open(dir.path());
            let report = b.recovery().unwrap().clone();
            assert!(report.clean && report.cut.is_none(), "{report:?}");
            assert_eq!(report.bytes_dropped, 0);
            assert_eq!(drain(&channel(&b), "q"), vec![got("after", false)]);
        }
    }
}

/// A crash image of `n` persistent messages of about 600 bytes in queue `q`, confirmed one at
/// a time on 4 KiB segments, so the log spans several segments. Returns the image and the
/// number of messages whose records each segment holds.
fn multi_segment_image(n: usize) -> (TempDir, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let b = open_small(dir.path(), 4096);
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    for i in 0..n {
        publish_p(&ch, "q", &big(i));
        ch.wait_for_confirms_or_die(LONG).unwrap();
    }
    let image = crash_image(dir.path());
    let per_segment = segments(image.path())
        .iter()
        .map(|s| {
            let bytes = fs::read(s).unwrap();
            let fr = frames(&bytes);
            assert_eq!(
                fr.last().map_or(SEGMENT_HEADER, |f| f.at + f.len),
                bytes.len()
            );
            fr.iter().filter(|f| f.tag == TAG_MESSAGE).count()
        })
        .collect::<Vec<_>>();
    assert_eq!(per_segment.iter().sum::<usize>(), n);
    (image, per_segment)
}

fn big(i: usize) -> String {
    format!("m{i:03}:{}", "x".repeat(600))
}

/// The first `n` messages of `multi_segment_image`, as recovered from a crash.
fn first_bigs(n: usize) -> Vec<Got> {
    (0..n).map(|i| got(&big(i), true)).collect()
}

#[test]
fn s5_a_corrupt_middle_record_cuts_it_and_everything_after() {
    let (image, per_segment) = multi_segment_image(30);
    assert!(per_segment.len() >= 4, "{per_segment:?}");
    let segs = segments(image.path());
    // Flip one payload byte of the third message record of segment 2.
    let mut bytes = fs::read(&segs[1]).unwrap();
    let fr = frames(&bytes);
    let victim = *fr.iter().filter(|f| f.tag == TAG_MESSAGE).nth(2).unwrap();
    bytes[victim.at + victim.len - 10] ^= 0x20;
    fs::write(&segs[1], &bytes).unwrap();
    let later: u64 = segs[2..].iter().map(|s| file_len(s)).sum();
    let b = open_small(image.path(), 4096);
    let report = b.recovery().unwrap().clone();
    let cut = report.cut.clone().unwrap();
    assert!(
        cut.contains("segment 2") && cut.contains("checksum"),
        "{cut}"
    );
    assert_eq!(
        report.bytes_dropped,
        to_u64(bytes.len() - victim.at) + later,
        "{report:?}"
    );
    assert_eq!(report.segments, 2);
    assert_eq!(
        segments(image.path()),
        segs[..2].to_vec(),
        "later segments deleted"
    );
    assert_eq!(file_len(&segs[1]), to_u64(victim.at));
    let kept = per_segment[0] + 2;
    assert_eq!(report.messages, kept);
    let ch = channel(&b);
    assert_eq!(drain(&ch, "q"), first_bigs(kept));
    publish_p(&ch, "q", "after");
    b.close();
    drop((ch, b));
    let b = open_small(image.path(), 4096);
    let report = b.recovery().unwrap().clone();
    assert!(report.clean && report.cut.is_none(), "{report:?}");
    assert_eq!(drain(&channel(&b), "q"), vec![got("after", false)]);
}

#[test]
fn s5_a_missing_middle_segment_cuts_the_log_there() {
    let (image, per_segment) = multi_segment_image(30);
    assert!(per_segment.len() >= 4, "{per_segment:?}");
    let segs = segments(image.path());
    fs::remove_file(&segs[1]).unwrap();
    let later: u64 = segs[2..].iter().map(|s| file_len(s)).sum();
    let b = open_small(image.path(), 4096);
    let report = b.recovery().unwrap().clone();
    assert!(
        report
            .cut
            .as_deref()
            .unwrap()
            .contains("segment 2 is missing"),
        "{report:?}"
    );
    assert_eq!(report.bytes_dropped, later);
    assert_eq!(report.segments, 1);
    assert_eq!(segments(image.path()), segs[..1].to_vec());
    assert_eq!(drain(&channel(&b), "q"), first_bigs(per_segment[0]));
}

#[test]
fn s5_a_segment_with_a_wrong_magic_cuts_the_log_there() {
    let (image, per_segment) = multi_segment_image(30);
    assert!(per_segment.len() >= 4, "{per_segment:?}");
    let segs = segments(image.path());
    let mut bytes = fs::read(&segs[2]).unwrap();
    bytes[..8].copy_from_slice(b"GARBAGE!");
    fs::write(&segs[2], &bytes).unwrap();
    let later: u64 = segs[2..].iter().map(|s| file_len(s)).sum();
    // Files that are not segments are left alone.
    fs::write(image.path().join("notes.txt"), "not a segment").unwrap();
    let b = open_small(image.path(), 4096);
    let report = b.recovery().unwrap().clone();
    assert!(
        report.cut.as_deref().unwrap().contains("segment 3"),
        "{report:?}"
    );
    assert_eq!(report.bytes_dropped, later);
    assert_eq!(segments(image.path()), segs[..2].to_vec());
    assert!(image.path().join("notes.txt").exists());
    assert_eq!(
        drain(&channel(&b), "q"),
        first_bigs(per_segment[0] + per_segment[1])
    );
}

#[test]
fn s5_a_garbage_file_after_the_last_segment_is_cut() {
    let (image, per_segment) = multi_segment_image(10);
    let segs = segments(image.path());
    let garbage = segment_path(image.path(), to_u64(segs.len()) + 1);
    let noise: Vec<u8> = (0..300u32)
        .map(|i| u8::try_from((i * 7 + 3) % 256).unwrap())
        .collect();
    fs::write(&garbage, &noise).unwrap();
    let b = open_small(image.path(), 4096);
    let report = b.recovery().unwrap().clone();
    assert!(report.cut.is_some(), "{report:?}");
    assert_eq!(report.bytes_dropped, 300);
    assert!(!garbage.exists());
    assert_eq!(drain(&channel(&b), "q"), first_bigs(10));
    assert_eq!(per_segment.iter().sum::<usize>(), 10);
}

#[test]
fn s5_an_empty_last_segment_is_cut_and_a_header_only_one_kept() {
    // Empty (0 bytes): created just before the crash, no header yet.
    let (image, _) = multi_segment_image(10);
    let segs = segments(image.path());
    let empty = segment_path(image.path(), to_u64(segs.len()) + 1);
    fs::write(&empty, b"").unwrap();
    let b = open_small(image.path(), 4096);
    let report = b.recovery().unwrap().clone();
    assert!(report.cut.is_some(), "{report:?}");
    assert_eq!(report.bytes_dropped, 0);
    assert!(!empty.exists());
    assert_eq!(report.segments, segs.len());
    let ch = channel(&b);
    assert_eq!(drain(&ch, "q"), first_bigs(10));
    publish_p(&ch, "q", "after");
    b.close();
    drop((ch, b));
    let b = open_small(image.path(), 4096);
    assert!(b.recovery().unwrap().clean);
    assert_eq!(drain(&channel(&b), "q"), vec![got("after", false)]);
    drop(b);

    // Header only: a valid, empty segment; nothing is cut and appends go on there.
    let (image, _) = multi_segment_image(10);
    let segs = segments(image.path());
    let next = to_u64(segs.len()) + 1;
    let header_only = segment_path(image.path(), next);
    let mut header = b"WARRENL1".to_vec();
    header.extend_from_slice(&next.to_le_bytes());
    fs::write(&header_only, &header).unwrap();
    let b = open_small(image.path(), 4096);
    let report = b.recovery().unwrap().clone();
    assert_eq!(report.cut, None, "{report:?}");
    assert_eq!((report.bytes_dropped, report.segments), (0, segs.len() + 1));
    let ch = channel(&b);
    assert_eq!(drain(&ch, "q"), first_bigs(10));
    publish_p(&ch, "q", "after");
    b.close();
    drop((ch, b));
    assert!(
        file_len(&header_only) > 16,
        "appends went to the header-only segment"
    );
    let b = open_small(image.path(), 4096);
    assert!(b.recovery().unwrap().clean);
    assert_eq!(drain(&channel(&b), "q"), vec![got("after", false)]);
}

/// `store::fuzz_replay` (the fuzz target's entry) on real segment bytes: a whole log is valid,
/// and each truncation keeps exactly the whole records before it. With `WARREN_WRITE_SEEDS`
/// set to a directory, writes these logs there as seeds for `fuzz/seeds/store_recover`.
#[test]
fn s5_fuzz_replay_keeps_the_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.exchange_declare("logs", ExchangeType::Fanout, durable_x(), &no_args())
        .unwrap();
    ch.queue_declare("q", durable(), &FieldTable::new().with("x-custom", 1i32))
        .unwrap();
    ch.queue_declare("r", durable(), &no_args()).unwrap();
    ch.queue_bind("q", "logs", "", &no_args()).unwrap();
    ch.queue_bind("r", "logs", "", &no_args()).unwrap();
    let props = persistent().with_headers(FieldTable::new().with("k", "v").with("n", 7i64));
    ch.basic_publish(
        "logs",
        "key",
        BasicPublishOptions::default(),
        "hello",
        props,
    )
    .unwrap();
    publish_p(&ch, "q", "two");
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    ch.basic_get("q", BasicGetOptions::default())
        .unwrap()
        .unwrap()
        .delivery
        .reject(BasicRejectOptions { requeue: true })
        .unwrap();
    ch.basic_get("r", BasicGetOptions { no_ack: true }).unwrap();
    ch.queue_unbind("r", "logs", "", &no_args()).unwrap();
    ch.queue_delete("r", QueueDeleteOptions::default()).unwrap();
    ch.exchange_bind("logs", "amq.topic", "a.#", &no_args())
        .unwrap();
    ch.exchange_delete("logs", ExchangeDeleteOptions::default())
        .unwrap();
    b.close();
    drop((ch, b));
    let bytes = fs::read(&segments(dir.path())[0]).unwrap();
    let fr = frames(&bytes);
    assert_eq!(fr.last().unwrap().tag, TAG_SHUTDOWN);
    let body = &bytes[SEGMENT_HEADER..];
    assert_eq!(warren::store::fuzz_replay(body), body.len());
    let ends: BTreeSet<usize> = fr.iter().map(|f| f.at + f.len - SEGMENT_HEADER).collect();
    for cut in 0..=body.len() {
        let want = ends.range(..=cut).next_back().copied().unwrap_or(0);
        assert_eq!(warren::store::fuzz_replay(&body[..cut]), want, "cut {cut}");
    }
    if let Some(out) = std::env::var_os("WARREN_WRITE_SEEDS") {
        write_store_recover_seeds(&PathBuf::from(out), body, &fr);
    }
}

/// Seeds for `fuzz/fuzz_targets/store_recover.rs` from a real log's records (`body`, the
/// bytes after the header; `fr`, its frames): a first byte 0 gives the bytes as they are, 1 a
/// list of `u16`-length-prefixed payloads that the target frames itself.
fn write_store_recover_seeds(out: &Path, body: &[u8], fr: &[Frame]) {
    fs::create_dir_all(out).unwrap();
    let raw = |bytes: &[u8]| [&[0u8][..], bytes].concat();
    let first_msg = fr.iter().find(|f| f.tag == TAG_MESSAGE).unwrap();
    let upto = first_msg.at + first_msg.len - SEGMENT_HEADER;
    let mut flipped = body.to_vec();
    flipped[upto - 3] ^= 1;
    let mut framed = vec![1u8];
    for f in fr {
        let at = f.at - SEGMENT_HEADER;
        let payload = &body[at + 8..at + f.len];
        framed.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_le_bytes());
        framed.extend_from_slice(payload);
    }
    let seeds: [(&str, Vec<u8>); 5] = [
        ("raw_log", raw(body)),
        ("raw_up_to_first_message", raw(&body[..upto])),
        ("raw_torn_message", raw(&body[..upto - 5])),
        ("raw_corrupt_message", raw(&flipped)),
        ("framed_log", framed),
    ];
    for (name, bytes) in seeds {
        fs::write(out.join(name), bytes).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// S4, C3: a failed write or sync

/// A listener that sends every report here.
fn collect_confirms(ch: &Channel) -> mpsc::Receiver<Confirm> {
    let (tx, rx) = mpsc::channel();
    ch.on_confirm(move |c| {
        let _ = tx.send(c);
    });
    rx
}

/// The reports of `rx` until every number up to `published` is covered. The listener may run
/// a little after `wait_for_confirms` returns (on the store's confirm thread), so this waits
/// for them.
fn reports(rx: &mpsc::Receiver<Confirm>, published: u64) -> Vec<Confirm> {
    let mut all = Vec::new();
    while to_u64(outcomes(&all, published).len()) < published {
        match rx.recv_timeout(LONG) {
            Ok(c) => all.push(c),
            Err(e) => panic!("{e}: got {all:?}"),
        }
    }
    all
}

/// The outcome each number got from a sequence of reports (SEMANTICS C4): panics if a number
/// is reported twice.
fn outcomes(reports: &[Confirm], published: u64) -> HashMap<u64, bool> {
    let mut out: HashMap<u64, bool> = HashMap::new();
    for r in reports {
        let seq = r.seq.get();
        assert!(seq >= 1 && seq <= published, "{r:?}");
        assert!(!out.contains_key(&seq), "{seq} reported twice: {reports:?}");
        if r.multiple {
            for n in 1..=seq {
                out.entry(n).or_insert(r.ack);
            }
        } else {
            out.insert(seq, r.ack);
        }
    }
    out
}

/// Makes `fault` hit the batch of the next publish, deterministically.
///
/// `Broker::fail_next` alone races: the writer may take a publish's record, fail and write it
/// again before the publisher has registered for its confirm, which then sees it synced and
/// acks it (see /tmp/warren-bugs.md). So the writer is first held in a slow sync of a pacer
/// record (a persistent message to the durable queue `pacer`, from its own channel), and the
/// fault is armed once that batch is written: the next publish's record waits for the next
/// batch, which fails, and its confirm is registered long before.
fn fail_the_next_batch(b: &Broker, fault: Fault) {
    let ch = channel(b);
    ch.queue_declare("pacer", durable(), &no_args()).unwrap();
    let written = b.store_stats().unwrap().written_bytes;
    b.fail_next(Fault::SlowSync(Duration::from_millis(300)));
    publish_p(&ch, "pacer", "pacer");
    let deadline = Instant::now() + LONG;
    while b.store_stats().unwrap().written_bytes == written {
        assert!(Instant::now() < deadline, "the pacer was never written");
        std::thread::yield_now();
    }
    b.fail_next(fault);
}

fn s4_failed_io_is_nacked_and_loses_nothing_confirmed(fault: Fault) {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    let seen = collect_confirms(&ch);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    publish_p(&ch, "q", "before");
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    fail_the_next_batch(&b, fault);
    publish_p(&ch, "q", "failed");
    assert_eq!(
        ch.wait_for_confirms(LONG),
        Ok(false),
        "{fault:?}: nacked (C3)"
    );
    publish_p(&ch, "q", "after");
    assert_eq!(
        ch.wait_for_confirms(LONG),
        Ok(true),
        "{fault:?}: since the last wait"
    );
    let stats = b.store_stats().unwrap();
    assert!(stats.failures >= 1, "{stats:?}");
    let image = crash_image(dir.path());
    let got_seen = outcomes(&reports(&seen, 3), 3);
    assert_eq!(
        got_seen,
        HashMap::from([(1, true), (2, false), (3, true)]),
        "{fault:?}"
    );
    // The confirmed ones survive a crash, in order; the nacked one may or may not (its bytes
    // are written again after the failure), but never out of place.
    let crashed = open(image.path());
    let kept = drain(&channel(&crashed), "q");
    let bodies = bodies(&kept);
    assert!(
        bodies == ["before", "after"] || bodies == ["before", "failed", "after"],
        "{fault:?}: {bodies:?}"
    );
    assert!(kept.iter().all(|g| g.redelivered));
    // The live broker holds all three.
    assert_eq!(b.queue_counts("q"), Some((3, 0)));
}

/// SEMANTICS C3 and `Broker::fail_next`'s doc ("the publishes it covered are nacked"), without
/// the pacer of [`fail_the_next_batch`]: a plain `fail_next` then a publish, many times.
#[test]
fn c3_the_publish_a_fault_hits_is_nacked_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    for round in 0..50 {
        let fault = if round % 2 == 0 {
            Fault::Write
        } else {
            Fault::Sync
        };
        b.fail_next(fault);
        publish_p(&ch, "q", "x");
        assert_eq!(
            ch.wait_for_confirms(LONG),
            Ok(false),
            "round {round}, {fault:?}"
        );
    }
}

#[test]
fn s4_c3_a_failed_write_is_nacked_and_loses_nothing_confirmed() {
    s4_failed_io_is_nacked_and_loses_nothing_confirmed(Fault::Write);
}

#[test]
fn s4_c3_a_failed_sync_is_nacked_and_loses_nothing_confirmed() {
    s4_failed_io_is_nacked_and_loses_nothing_confirmed(Fault::Sync);
}

/// SEMANTICS F6, S2: a durable declare whose record cannot be written fails with 541, which
/// closes the connection.
#[test]
fn s2_f6_a_durable_declare_whose_write_fails_is_541() {
    for fault in [Fault::Write, Fault::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let b = open(dir.path());
        let conn = b.connect();
        let ch = conn.create_channel().unwrap();
        b.fail_next(fault);
        // The retry after the failure is slow, so the declare sees the failure first.
        b.fail_next(Fault::SlowSync(Duration::from_millis(300)));
        let e = ch.queue_declare("q", durable(), &no_args()).unwrap_err();
        assert_err(&e, ErrorKind::Amqp, Some(541), Scope::Connection);
        assert!(!ch.is_open());
        let e = conn.create_channel().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionClosed, "{e}");
        assert_eq!(e.reply_code(), Some(541));
        // A new connection works, and the store too.
        let ch = confirming(&b);
        ch.queue_declare("r", durable(), &no_args()).unwrap();
        publish_p(&ch, "r", "m");
        assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    }
}

// ---------------------------------------------------------------------------------------------
// C: publisher confirms

#[test]
fn c1_numbers_from_one_and_a_failing_publish_takes_none() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = channel(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    assert_eq!(ch.next_publish_seq_no().get(), 0);
    publish_p(&ch, "q", "before confirm mode");
    assert_eq!(ch.next_publish_seq_no().get(), 0);
    ch.confirm_select().unwrap();
    assert_eq!(ch.next_publish_seq_no().get(), 1);
    ch.confirm_select().unwrap();
    assert_eq!(ch.next_publish_seq_no().get(), 1, "repeatable");
    publish_p(&ch, "q", "1");
    publish(&ch, "nowhere", "2 unroutable", BasicProperties::default());
    assert_eq!(ch.next_publish_seq_no().get(), 3);
    // A local error takes no number.
    let long = "k".repeat(256);
    let e = ch
        .basic_publish("", &long, BasicPublishOptions::default(), "x", persistent())
        .unwrap_err();
    assert_eq!(e.error.kind(), ErrorKind::TooLong);
    assert_eq!(ch.next_publish_seq_no().get(), 3);
    let (_, c) = ch
        .basic_publish_with_confirm("", "q", BasicPublishOptions::default(), "3", persistent())
        .unwrap();
    assert_eq!(c.seq(), 3);
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    // A channel error takes none either.
    let e = ch
        .basic_publish(
            "missing",
            "",
            BasicPublishOptions::default(),
            "x",
            persistent(),
        )
        .unwrap_err();
    assert_err(&e.error, ErrorKind::Amqp, Some(404), Scope::Channel);
    assert_eq!(ch.next_publish_seq_no().get(), 4);
}

#[test]
fn c1_publish_with_confirm_needs_confirm_mode() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = channel(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    let e = ch
        .basic_publish_with_confirm("", "q", BasicPublishOptions::default(), "x", persistent())
        .unwrap_err();
    assert_err(&e.error, ErrorKind::InvalidState, None, Scope::Local);
    assert_eq!(&e.body[..], b"x", "handed back (F4)");
    assert!(ch.is_open());
    assert_eq!(b.queue_counts("q"), Some((0, 0)), "nothing published");
}

#[test]
fn c2_unroutable_is_acked_at_once_after_its_return() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let e = events.clone();
    ch.on_return(move |r| e.lock().unwrap().push(format!("return {}", r.routing_key)));
    let e = events.clone();
    ch.on_confirm(move |c| {
        e.lock()
            .unwrap()
            .push(format!("confirm {} {}", c.seq, c.ack))
    });
    let (publish, c) = ch
        .basic_publish_with_confirm(
            "",
            "no-such-queue",
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            "x",
            persistent(),
        )
        .unwrap();
    assert!(matches!(publish, Publish::Returned(_)), "{publish:?}");
    assert_eq!(c.try_outcome(), Some(Ok(true)), "acked at once");
    assert_eq!(
        *events.lock().unwrap(),
        ["return no-such-queue", "confirm 1 true"]
    );
    let (publish, c) = ch
        .basic_publish_with_confirm(
            "",
            "no-such-queue",
            BasicPublishOptions::default(),
            "y",
            persistent(),
        )
        .unwrap();
    assert!(matches!(publish, Publish::Unroutable), "{publish:?}");
    assert_eq!(c.try_outcome(), Some(Ok(true)));
    assert_eq!(ch.wait_for_confirms(Duration::ZERO), Ok(true));
}

/// SEMANTICS C2: a persistent message on a durable queue is acked once a sync covers it; a
/// transient one, or one on a transient queue, at once.
#[test]
fn c2_persistent_on_a_durable_queue_is_acked_after_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("dq", durable(), &no_args()).unwrap();
    ch.queue_declare("tq", transient_q(), &no_args()).unwrap();
    let syncs = b.store_stats().unwrap().syncs;
    b.fail_next(Fault::SlowSync(Duration::from_millis(300)));
    let with_confirm = |q: &str, props: BasicProperties| {
        ch.basic_publish_with_confirm("", q, BasicPublishOptions::default(), "x", props)
            .unwrap()
            .1
    };
    let slow = with_confirm("dq", persistent());
    let transient = with_confirm("dq", BasicProperties::default());
    let on_transient_q = with_confirm("tq", persistent());
    assert_eq!(transient.try_outcome(), Some(Ok(true)));
    assert_eq!(on_transient_q.try_outcome(), Some(Ok(true)));
    assert_eq!(slow.try_outcome(), None, "waits for the slow sync");
    // The consumer may get it before the ack (C2).
    assert_eq!(b.queue_counts("dq"), Some((2, 0)));
    assert_eq!(slow.wait(LONG), Ok(true));
    assert!(b.store_stats().unwrap().syncs > syncs);
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
}

/// SEMANTICS C4: 1,000 persistent publishes; every number reported exactly once, coalesced.
#[test]
fn c4_the_listener_gets_every_number_once_coalesced() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    let seen = collect_confirms(&ch);
    // The first sync is slow, so the next ones gather many publishes (group commit).
    b.fail_next(Fault::SlowSync(Duration::from_millis(50)));
    for i in 0..1000 {
        publish_p(&ch, "q", &format!("m{i}"));
    }
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    let reports = reports(&seen, 1000);
    let got = outcomes(&reports, 1000);
    assert_eq!(got.len(), 1000);
    assert!(got.values().all(|&ack| ack));
    assert!(reports.len() < 1000, "coalesced: {} reports", reports.len());
    assert!(reports.iter().any(|r| r.multiple));
}

#[test]
fn c6_wait_for_confirms_true_false_and_outside_confirm_mode() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = channel(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    let e = ch.wait_for_confirms(LONG).unwrap_err();
    assert_err(&e, ErrorKind::InvalidState, None, Scope::Local);
    let e = ch.wait_for_confirms_or_die(LONG).unwrap_err();
    assert_err(&e, ErrorKind::InvalidState, None, Scope::Local);
    assert!(ch.is_open(), "a local error closes nothing (F5)");
    ch.confirm_select().unwrap();
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true), "nothing to wait for");
    publish_p(&ch, "q", "1");
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
    fail_the_next_batch(&b, Fault::Sync);
    publish_p(&ch, "q", "2");
    assert_eq!(ch.wait_for_confirms(LONG), Ok(false));
    publish_p(&ch, "q", "3");
    assert_eq!(
        ch.wait_for_confirms(LONG),
        Ok(true),
        "only since the last wait"
    );
    // A timeout closes nothing.
    b.fail_next(Fault::SlowSync(Duration::from_millis(300)));
    publish_p(&ch, "q", "4");
    let e = ch.wait_for_confirms(Duration::from_millis(10)).unwrap_err();
    assert_err(&e, ErrorKind::Timeout, None, Scope::Local);
    assert!(ch.is_open());
    assert_eq!(ch.wait_for_confirms(LONG), Ok(true));
}

#[test]
fn c6_wait_for_confirms_or_die_closes_the_channel_on_a_nack() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    publish_p(&ch, "q", "1");
    ch.wait_for_confirms_or_die(LONG).unwrap();
    fail_the_next_batch(&b, Fault::Sync);
    publish_p(&ch, "q", "2");
    let e = ch.wait_for_confirms_or_die(LONG).unwrap_err();
    assert_err(&e, ErrorKind::Nacked, None, Scope::Channel);
    assert!(!ch.is_open());
    let later = ch.wait_for_confirms_or_die(LONG).unwrap_err();
    assert_eq!(later.kind(), ErrorKind::ChannelClosed, "{later}");
    assert_eq!(later.cause().map(Error::kind), Some(ErrorKind::Nacked));
    let later = ch
        .basic_publish("", "q", BasicPublishOptions::default(), "3", persistent())
        .unwrap_err();
    assert_eq!(later.error.kind(), ErrorKind::ChannelClosed);
    // What was enqueued stays (C7).
    assert_eq!(b.queue_counts("q"), Some((2, 0)));
}

#[test]
fn c6_wait_for_confirms_or_die_times_out_with_406() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    b.fail_next(Fault::SlowSync(Duration::from_millis(500)));
    publish_p(&ch, "q", "slow");
    let e = ch
        .wait_for_confirms_or_die(Duration::from_millis(10))
        .unwrap_err();
    assert_err(&e, ErrorKind::Timeout, Some(406), Scope::Channel);
    assert!(e.text().contains("TIMEOUT WAITING FOR ACK"), "{e}");
    assert!(!ch.is_open());
    let later = ch.wait_for_confirms(LONG).unwrap_err();
    assert_eq!(later.kind(), ErrorKind::ChannelClosed, "{later}");
    assert_eq!(later.reply_code(), Some(406));
}

/// SEMANTICS C7: a close leaves pending publishes without an outcome; waits fail with the
/// close error; the enqueued message stays.
#[test]
fn c7_a_close_with_pending_confirms_fails_the_waits() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    let seen = collect_confirms(&ch);
    b.fail_next(Fault::SlowSync(Duration::from_millis(500)));
    let (_, pending) = ch
        .basic_publish_with_confirm("", "q", BasicPublishOptions::default(), "x", persistent())
        .unwrap();
    assert_eq!(pending.try_outcome(), None);
    ch.close();
    let e = pending.wait(LONG).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ChannelClosed, "{e}");
    let e = ch.wait_for_confirms(LONG).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ChannelClosed, "{e}");
    // Once the slow sync is done (another channel's confirm comes after it), still nothing.
    force_sync(&b);
    assert_eq!(seen.try_iter().collect::<Vec<_>>(), vec![]);
    assert_eq!(pending.try_outcome().map(|o| o.is_err()), Some(true));
    assert_eq!(b.queue_counts("q"), Some((1, 0)));
}

#[tokio::test]
async fn c5_a_confirmation_can_be_awaited() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = confirming(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    let publish = |body: &str| {
        ch.basic_publish_with_confirm(
            "",
            "q",
            BasicPublishOptions::default(),
            body.to_string(),
            persistent(),
        )
        .unwrap()
        .1
    };
    let first = publish("1");
    assert_eq!(first.seq(), 1);
    assert_eq!(first.await, Ok(true));
    fail_the_next_batch(&b, Fault::Sync);
    let nacked = publish("2");
    assert_eq!(nacked.await, Ok(false));
    let third = publish("3");
    assert_eq!(third.wait(LONG), Ok(true));
    assert_eq!(third.await, Ok(true), "ready again after the wait");
}

// ---------------------------------------------------------------------------------------------
// Tutorial 7 on a durable broker (SEMANTICS C5)

#[test]
fn c5_tutorial_7_strategies_on_a_durable_broker() {
    const N: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    // (a) one by one.
    let ch = confirming(&b);
    let q = ch.queue_declare("", durable(), &no_args()).unwrap().name;
    for i in 0..N {
        publish_p(&ch, &q, &i.to_string());
        ch.wait_for_confirms_or_die(Duration::from_secs(5)).unwrap();
    }
    // (b) in batches of 100.
    let ch = confirming(&b);
    let q2 = ch.queue_declare("", durable(), &no_args()).unwrap().name;
    for i in 0..N {
        publish_p(&ch, &q2, &i.to_string());
        if (i + 1) % 100 == 0 {
            ch.wait_for_confirms_or_die(Duration::from_secs(5)).unwrap();
        }
    }
    ch.wait_for_confirms_or_die(Duration::from_secs(5)).unwrap();
    // (c) asynchronously: outstanding numbers cleared by the listener.
    let ch = confirming(&b);
    let q3 = ch.queue_declare("", durable(), &no_args()).unwrap().name;
    let outstanding = Arc::new(Mutex::new(std::collections::BTreeMap::<u64, String>::new()));
    let nacked = Arc::new(Mutex::new(Vec::new()));
    let (o, n) = (outstanding.clone(), nacked.clone());
    let (tx, handled) = mpsc::channel();
    ch.on_confirm(move |c| {
        let mut o = o.lock().unwrap();
        let done: Vec<u64> = if c.multiple {
            o.range(..=c.seq.get()).map(|(k, _)| *k).collect()
        } else {
            vec![c.seq.get()]
        };
        for k in done {
            let body = o.remove(&k);
            if !c.ack {
                n.lock().unwrap().extend(body);
            }
        }
        let _ = tx.send(());
    });
    for i in 0..N {
        let body = i.to_string();
        outstanding
            .lock()
            .unwrap()
            .insert(ch.next_publish_seq_no().get(), body.clone());
        publish_p(&ch, &q3, &body);
    }
    assert_eq!(ch.wait_for_confirms(Duration::from_secs(60)), Ok(true));
    // The listener may run a little after the wait returns.
    while !outstanding.lock().unwrap().is_empty() {
        handled.recv_timeout(LONG).unwrap();
    }
    assert!(nacked.lock().unwrap().is_empty());
    b.close();
    drop((ch, b));
    let b = open(dir.path());
    let report = b.recovery().unwrap().clone();
    assert_eq!(report.messages, 3 * N, "{report:?}");
    let ch = channel(&b);
    for q in [&q, &q2, &q3] {
        let got = drain(&ch, q);
        let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
        assert_eq!(bodies(&got), want, "{q}");
    }
}

// ---------------------------------------------------------------------------------------------
// Compaction

/// 20,000 small persistent messages published and acked on 4 KiB segments, while 10
/// long-lived ones (3 of them requeued once) stay in another durable queue: old segments go,
/// the live records are carried forward, and both a clean reopen and a crash image find the
/// 10, in order, with their flags and counts, and nothing else.
#[test]
fn s2_compaction_keeps_long_lived_messages_and_bounds_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_small(dir.path(), 4096);
    let ch = channel(&b);
    ch.queue_declare("keep", durable(), &no_args()).unwrap();
    ch.queue_declare("work", durable(), &no_args()).unwrap();
    for i in 0..10 {
        publish_p(&ch, "keep", &format!("keep{i}"));
    }
    let mut most = 0;
    for i in 0..20_000 {
        if i % 500 == 0 {
            most = most.max(b.store_stats().unwrap().segments);
        }
        publish_p(&ch, "work", &format!("w{i}"));
        if i % 7 == 0 {
            ch.basic_get("work", BasicGetOptions::default())
                .unwrap()
                .unwrap()
                .delivery
                .ack()
                .unwrap();
        } else {
            ch.basic_get("work", BasicGetOptions { no_ack: true })
                .unwrap()
                .unwrap();
        }
        if i == 10_000 {
            // Three long-lived ones requeued once mid-way: the counts are carried too.
            let mut held = Vec::new();
            for _ in 0..3 {
                held.push(
                    ch.basic_get("keep", BasicGetOptions::default())
                        .unwrap()
                        .unwrap()
                        .delivery,
                );
            }
            ch.basic_nack(
                held[2].delivery_tag(),
                BasicNackOptions {
                    multiple: true,
                    requeue: true,
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }
    force_sync(&b);
    force_sync(&b);
    let stats = b.store_stats().unwrap();
    assert!(stats.segments_deleted > 0, "{stats:?}");
    assert!(stats.segments < 10, "{stats:?}");
    assert!(most < 10, "{most} segments at one point");
    assert!(stats.carried_bytes > 0, "{stats:?}");
    let on_disk = to_u64(segments(dir.path()).len());
    assert!(on_disk < 10, "{on_disk} segment files");
    let image = crash_image(dir.path());
    b.close();
    drop((ch, b));
    let keep = |redelivered_all: bool| -> Vec<Got> {
        (0..10)
            .map(|i| Got {
                returned: u32::from(i < 3),
                ..got(&format!("keep{i}"), i < 3 || redelivered_all)
            })
            .collect()
    };
    for (path, clean) in [(dir.path(), true), (image.path(), false)] {
        let b = open_small(path, 4096);
        let report = b.recovery().unwrap().clone();
        assert_eq!(report.clean, clean, "{report:?}");
        assert_eq!(report.cut, None, "{report:?}");
        assert!(report.segments < 10, "{report:?}");
        // The 10 and the two sync markers.
        assert_eq!(report.messages, 12, "{report:?}");
        let ch = channel(&b);
        assert_eq!(drain(&ch, "keep"), keep(!clean), "clean: {clean}");
        assert_eq!(drain(&ch, "work"), vec![], "clean: {clean}");
    }
}

// ---------------------------------------------------------------------------------------------
// The data directory's lock

#[test]
fn s1_a_data_directory_is_opened_by_one_broker_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    let ch = channel(&b);
    ch.queue_declare("q", durable(), &no_args()).unwrap();
    let e = Broker::open(dir.path()).unwrap_err();
    assert_err(&e, ErrorKind::Store, None, Scope::Local);
    assert!(e.to_string().contains("LOCK"), "{e}");
    let e = Broker::open(dir.path()).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Store,
        "a failed open releases nothing: {e}"
    );
    // `close` releases the directory, even with handles left; they fail as closed.
    b.close();
    let b2 = open(dir.path());
    assert!(b2.recovery().unwrap().clean);
    assert_eq!(b2.queue_counts("q"), Some((0, 0)));
    let e = ch.queue_declare("q", durable(), &no_args()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ChannelClosed, "{e}");
    let e = Broker::open(dir.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");
    drop((ch, b));
    let e = Broker::open(dir.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");
    // Dropping the last handles closes too.
    drop(b2);
    let b3 = open(dir.path());
    assert!(b3.recovery().unwrap().clean);
}

/// SEMANTICS C1: every number gets exactly one outcome. A durable broker that was closed
/// hands out closed connections, and a publish racing the close fails or is nacked, never
/// waits forever.
#[test]
fn c1_a_publish_after_close_gets_an_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path());
    channel(&b)
        .queue_declare("q", durable(), &no_args())
        .unwrap();
    b.close();
    let Ok(ch) = b.connect().create_channel() else {
        return;
    };
    if ch.confirm_select().is_err() {
        return;
    }
    match ch.basic_publish_with_confirm("", "q", BasicPublishOptions::default(), "x", persistent())
    {
        Err(_) => {}
        Ok((_, c)) => assert_eq!(c.wait(Duration::from_secs(2)), Ok(false)),
    }
}

#[test]
fn s1_a_data_directory_that_is_a_file_or_unwritable_is_a_store_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "not a directory").unwrap();
    let e = Broker::open(&file).unwrap_err();
    assert_err(&e, ErrorKind::Store, None, Scope::Local);
    let e = Broker::open(file.join("below")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");

    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("read-only");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores the permission bits: then there is nothing to test.
    let probe = ro.join("probe");
    if fs::write(&probe, "").is_err() {
        let e = Broker::open(&ro).unwrap_err();
        assert_err(&e, ErrorKind::Store, None, Scope::Local);
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The durable broker against `tests/model/durable.rs`

/// The broker under test: its directory, the broker and a channel.
struct Sut {
    dir: TempDir,
    broker: Broker,
    ch: Channel,
}

impl Sut {
    fn open(dir: TempDir) -> Result<Sut, String> {
        let broker = Broker::open(dir.path()).map_err(|e| format!("open: {e}"))?;
        let ch = channel(&broker);
        Ok(Sut { dir, broker, ch })
    }

    /// Closes cleanly, then opens `dir` (this broker's, or a crash image).
    fn reopen(self, dir: Option<TempDir>) -> Result<Sut, String> {
        let Sut {
            dir: old,
            broker,
            ch,
        } = self;
        broker.close();
        drop((ch, broker));
        Sut::open(dir.unwrap_or(old))
    }
}

fn delivered(m: &model::Msg) -> Got {
    Got {
        body: m.id.to_string(),
        redelivered: m.redelivered,
        failed: m.failed,
        returned: m.returned,
    }
}

fn as_got(d: &warren::Delivery) -> Got {
    Got {
        body: String::from_utf8_lossy(d.body()).into_owned(),
        redelivered: d.redelivered(),
        failed: d.failed_count(),
        returned: d.returned_count(),
    }
}

/// Compares a call's result with the model's: equal values, or an error with the model's
/// reply code (then the channel is replaced, as it closed).
fn same<T: PartialEq + std::fmt::Debug>(
    sut: &mut Sut,
    got: Result<T, Error>,
    want: Result<T, model::Code>,
    what: &str,
) -> Result<(), String> {
    match (got, want) {
        (Ok(g), Ok(w)) if g == w => Ok(()),
        (Err(e), Err(code)) if e.reply_code() == Some(code) && e.scope() == Scope::Channel => {
            sut.ch = channel(&sut.broker);
            Ok(())
        }
        (g, w) => Err(format!("{what}: got {g:?}, want {w:?}")),
    }
}

/// Runs `ops` on a durable broker and on the model, comparing every result, every queue's
/// ready count after each operation, the recovery report after each reopen, and at the end
/// every queue's messages.
fn run_durable(ops: &[Op]) -> Result<(), String> {
    let mut m = model::Model::new();
    let mut sut = Sut::open(tempfile::tempdir().unwrap())?;
    let get = |no_ack: bool| BasicGetOptions { no_ack };
    for (i, &op) in ops.iter().enumerate() {
        let at = format!("op {i} {op:?}");
        match op {
            Op::Declare { q, durable } => {
                let opts = QueueDeclareOptions {
                    durable,
                    ..Default::default()
                };
                let got = sut
                    .ch
                    .queue_declare(model::QUEUES[q], opts, &no_args())
                    .map(|_| ());
                same(&mut sut, got, m.declare(q, durable), &at)?;
            }
            Op::Publish { q, persistent } => {
                let (id, routed) = m.publish(q, persistent);
                let props = if persistent {
                    self::persistent()
                } else {
                    BasicProperties::default()
                };
                let got = sut
                    .ch
                    .basic_publish(
                        "",
                        model::QUEUES[q],
                        BasicPublishOptions::default(),
                        id.to_string(),
                        props,
                    )
                    .map_err(|e| format!("{at}: {e}"))?;
                if got.is_routed() != routed {
                    return Err(format!("{at}: got {got:?}, routed: {routed}"));
                }
            }
            Op::Get { q, no_ack } => {
                let got = sut.ch.basic_get(model::QUEUES[q], get(no_ack)).map(|g| {
                    g.map(|g| {
                        if !no_ack {
                            g.delivery.ack().unwrap();
                        }
                        as_got(&g.delivery)
                    })
                });
                let want = m.get(q).map(|o| o.as_ref().map(delivered));
                same(&mut sut, got, want, &at)?;
            }
            Op::NackRequeue { q } | Op::RejectRequeue { q } => {
                let nack = matches!(op, Op::NackRequeue { .. });
                let got = sut.ch.basic_get(model::QUEUES[q], get(false)).map(|g| {
                    g.map(|g| {
                        if nack {
                            g.delivery
                                .nack(BasicNackOptions {
                                    requeue: true,
                                    ..Default::default()
                                })
                                .unwrap();
                        } else {
                            g.delivery
                                .reject(BasicRejectOptions { requeue: true })
                                .unwrap();
                        }
                        as_got(&g.delivery)
                    })
                });
                let want = m.get_requeue(q, nack).map(|o| o.as_ref().map(delivered));
                same(&mut sut, got, want, &at)?;
            }
            Op::Purge { q } => {
                let got = sut.ch.queue_purge(model::QUEUES[q]);
                same(&mut sut, got, m.purge(q), &at)?;
            }
            Op::Delete { q } => {
                let got = sut
                    .ch
                    .queue_delete(model::QUEUES[q], QueueDeleteOptions::default());
                same(&mut sut, got, Ok(m.delete(q)), &at)?;
            }
            Op::Reopen | Op::Crash => {
                let crash = op == Op::Crash;
                let image = crash.then(|| {
                    force_sync(&sut.broker);
                    crash_image(sut.dir.path())
                });
                sut = sut.reopen(image)?;
                m.reopen(crash);
                let report = sut.broker.recovery().unwrap();
                if report.clean == crash || report.cut.is_some() {
                    return Err(format!("{at}: {report:?}"));
                }
            }
        }
        for (q, name) in model::QUEUES.iter().enumerate() {
            let got = sut.broker.queue_counts(name).map(|(ready, _)| ready);
            if got != m.ready(q) {
                return Err(format!("{at}: {name} holds {got:?}, want {:?}", m.ready(q)));
            }
        }
    }
    for (q, name) in model::QUEUES.iter().enumerate() {
        let want: Vec<Got> = m.queues[q]
            .as_ref()
            .map(|queue| queue.ready.iter().map(delivered).collect())
            .unwrap_or_default();
        if m.queues[q].is_some() {
            let got = drain(&sut.ch, name);
            if got != want {
                return Err(format!("at the end, {name}: got {got:?}, want {want:?}"));
            }
        }
    }
    Ok(())
}

fn durable_op() -> impl Strategy<Value = Op> {
    let q = 0..model::QUEUES.len();
    prop_oneof![
        3 => (q.clone(), prop::bool::weighted(0.8)).prop_map(|(q, durable)| Op::Declare { q, durable }),
        6 => (q.clone(), prop::bool::weighted(0.8)).prop_map(|(q, persistent)| Op::Publish { q, persistent }),
        3 => (q.clone(), any::<bool>()).prop_map(|(q, no_ack)| Op::Get { q, no_ack }),
        2 => q.clone().prop_map(|q| Op::NackRequeue { q }),
        1 => q.clone().prop_map(|q| Op::RejectRequeue { q }),
        1 => q.clone().prop_map(|q| Op::Purge { q }),
        1 => q.prop_map(|q| Op::Delete { q }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// SEMANTICS S2, S3, A5, A10 against `tests/model/durable.rs`.
    #[test]
    fn s2_s3_durable_broker_matches_model(ops in prop::collection::vec(durable_op(), 0..48)) {
        if let Err(e) = run_durable(&ops) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The model on a case worked out by hand from SEMANTICS S2, S3 and A10.
#[test]
fn model_s2_s3_by_hand() {
    let mut m = model::Model::new();
    assert_eq!(m.declare(0, true), Ok(()));
    assert_eq!(m.declare(0, false), Err(406));
    assert_eq!(m.declare(1, false), Ok(()));
    assert_eq!(m.publish(0, true), (1, true));
    assert_eq!(m.publish(0, false), (2, true));
    assert_eq!(m.publish(0, true), (3, true));
    assert_eq!(m.publish(1, true), (4, true));
    assert_eq!(m.publish(2, true), (5, false));
    let first = m.get_requeue(0, true).unwrap().unwrap();
    assert_eq!((first.id, first.redelivered), (1, false));
    m.reopen(false);
    assert_eq!((m.ready(0), m.ready(1)), (Some(2), None));
    let again = m.get_requeue(0, false).unwrap().unwrap();
    assert_eq!(
        (again.id, again.redelivered, again.failed, again.returned),
        (1, true, 0, 1)
    );
    m.reopen(true);
    let ids: Vec<(u64, bool)> = m.queues[0]
        .as_ref()
        .unwrap()
        .ready
        .iter()
        .map(|m| (m.id, m.redelivered))
        .collect();
    assert_eq!(ids, [(1, true), (3, true)]);
    assert_eq!(m.purge(1), Err(404));
    assert_eq!(m.delete(0), 2);
    assert_eq!(m.delete(0), 0);
}
