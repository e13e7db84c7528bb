//! Limits benchmarks: what a queue with a TTL or with priorities costs per message, against a
//! plain queue carrying the same messages in the same run (STYLE 13; issue [limits]: goals
//! TTL ≤ 1.3×, 10 priority levels ≤ 1.5×).
//!
//! Everything runs on this thread: the engine dispatches inside the publishing call, so a
//! single thread measures the queue's own work without scheduler noise. Bodies are the same
//! 16 static bytes. Groups, one iteration = [`BATCH`] messages:
//!
//! - `limits/handover`: an auto-ack consumer is attached, so each publish is handed over at
//!   once (the common case of a consumer keeping up); the mailbox is drained with `try_recv`.
//! - `limits/backlog`: the queue has no consumer; the batch is published, then taken back
//!   with `basic_get` (no ack): every message enters the ready list and leaves it from the head.
//!
//! Cases in each group:
//!
//! - `plain` (baseline) and `ttl`: messages without properties, to a plain queue and to one
//!   with `x-message-ttl` = 60 s (nothing expires; the cost is the deadline kept per message).
//! - `plain_priority_props` (baseline) and `priority10`: messages with priorities 0-9 in turn,
//!   to a plain queue (which ignores them) and to one with `x-max-priority` = 9.
//!
//! `WARREN_BENCH_MEM=1` first prints the heap bytes per queued message for each kind of queue
//! (100,000 messages, counting global allocator, requested sizes net of frees).
//!
//! # Checks
//!
//! Every publish must reach its one queue, every drain must return exactly the batch (bodies
//! checked; in `priority10`'s backlog, in priority order), and the queue must be empty after.

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use warren::broker::{BasicConsumeOptions, BasicGetOptions, BasicPublishOptions};
use warren::broker::{QueueDeclareOptions, QueueDeleteOptions};
use warren::message::{FieldTable, FieldValue};
use warren::{BasicProperties, Broker, Channel, Consumer, Publish};

/// Messages per iteration.
const BATCH: u64 = 1_000;
const BODY: &[u8; 16] = b"0123456789abcdef";

/// A global allocator that counts live requested bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the counter
// is a side effect that never touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(signed(layout.size()), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(signed(layout.size()), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(signed(new_size) - signed(layout.size()), Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A kind of queue and the messages published to it.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Ttl,
    PlainPriorityProps,
    Priority10,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Plain,
        Kind::Ttl,
        Kind::PlainPriorityProps,
        Kind::Priority10,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Ttl => "ttl",
            Kind::PlainPriorityProps => "plain_priority_props",
            Kind::Priority10 => "priority10",
        }
    }

    fn args(self) -> FieldTable {
        match self {
            Kind::Plain | Kind::PlainPriorityProps => FieldTable::new(),
            Kind::Ttl => FieldTable::new().with("x-message-ttl", FieldValue::I32(60_000)),
            Kind::Priority10 => FieldTable::new().with("x-max-priority", FieldValue::U8(9)),
        }
    }

    /// The properties of the `i`th message.
    fn properties(self, i: u64) -> BasicProperties {
        match self {
            Kind::Plain | Kind::Ttl => BasicProperties::default(),
            Kind::PlainPriorityProps | Kind::Priority10 => {
                BasicProperties::default().with_priority(u8::try_from(i % 10).unwrap_or(0))
            }
        }
    }
}

fn declare(ch: &Channel, kind: Kind, tag: &str) -> String {
    let name = format!("limits.{}.{tag}", kind.name());
    ch.queue_declare(&name, QueueDeclareOptions::default(), &kind.args())
        .expect("declare");
    name
}

fn publish(ch: &Channel, queue: &str, props: BasicProperties) {
    let body = Bytes::from_static(BODY);
    match ch.basic_publish("", queue, BasicPublishOptions::default(), body, props) {
        Ok(Publish::Routed { queues: 1 }) => {}
        other => panic!("publish to '{queue}': {other:?}"),
    }
}

fn drain_consumer(c: &Consumer, n: u64) {
    for _ in 0..n {
        match c.try_recv() {
            Ok(Some(d)) => assert_eq!(d.body(), BODY),
            other => panic!("expected a delivery: {other:?}"),
        }
    }
}

fn drain_get(ch: &Channel, queue: &str, n: u64, priorities: bool) {
    let mut last = u8::MAX;
    for _ in 0..n {
        let got = ch
            .basic_get(queue, BasicGetOptions { no_ack: true })
            .expect("get")
            .expect("a message");
        assert_eq!(got.delivery.body(), BODY);
        if priorities {
            let p = got.delivery.properties().priority.unwrap_or(0);
            assert!(p <= last, "priority order");
            last = p;
        }
    }
}

fn bench_handover(c: &mut Criterion) {
    let broker = Broker::new();
    let conn = broker.connect();
    let pub_ch = conn.create_channel().expect("channel");
    let sub_ch = conn.create_channel().expect("channel");
    let mut g = c.benchmark_group("limits/handover");
    g.throughput(Throughput::Elements(BATCH));
    g.sampling_mode(SamplingMode::Flat).sample_size(30);
    for kind in Kind::ALL {
        let q = declare(&pub_ch, kind, "handover");
        let consumer = sub_ch
            .basic_consume(
                &q,
                "",
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                &FieldTable::new(),
            )
            .expect("consume");
        let props: Vec<BasicProperties> = (0..BATCH).map(|i| kind.properties(i)).collect();
        g.bench_function(kind.name(), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for p in &props {
                        publish(&pub_ch, &q, p.clone());
                    }
                    drain_consumer(&consumer, BATCH);
                }
                start.elapsed()
            })
        });
        assert_eq!(broker.queue_counts(&q), Some((0, 1)));
    }
    g.finish();
}

fn bench_backlog(c: &mut Criterion) {
    let broker = Broker::new();
    let ch = broker.connect().create_channel().expect("channel");
    let mut g = c.benchmark_group("limits/backlog");
    g.throughput(Throughput::Elements(BATCH));
    g.sampling_mode(SamplingMode::Flat).sample_size(30);
    for kind in Kind::ALL {
        let q = declare(&ch, kind, "backlog");
        let props: Vec<BasicProperties> = (0..BATCH).map(|i| kind.properties(i)).collect();
        let priorities = matches!(kind, Kind::Priority10);
        g.bench_function(kind.name(), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for p in &props {
                        publish(&ch, &q, p.clone());
                    }
                    drain_get(&ch, &q, BATCH, priorities);
                }
                start.elapsed()
            })
        });
        assert_eq!(broker.queue_counts(&q), Some((0, 0)));
    }
    g.finish();
}

/// Heap bytes per queued message for each kind of queue.
fn memory_per_message() {
    const N: u64 = 100_000;
    let broker = Broker::new();
    let ch = broker.connect().create_channel().expect("channel");
    for kind in Kind::ALL {
        let q = declare(&ch, kind, "memory");
        // Built first and kept until after the count: only the queue's growth is measured.
        let props: Vec<BasicProperties> = (0..N).map(|i| kind.properties(i)).collect();
        let before = LIVE.load(Relaxed);
        for p in &props {
            publish(&ch, &q, p.clone());
        }
        let after = LIVE.load(Relaxed);
        drop(props);
        let per = (after - before) / signed(usize::try_from(N).unwrap_or(usize::MAX));
        println!(
            "memory {:<22} {per} heap bytes per queued message",
            kind.name()
        );
        ch.queue_delete(&q, QueueDeleteOptions::default())
            .expect("delete");
    }
}

fn main() {
    if std::env::var("WARREN_BENCH_MEM").is_ok_and(|v| v == "1") {
        memory_per_message();
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_handover(&mut c);
    bench_backlog(&mut c);
    c.final_summary();
}
