//! Broker benchmarks: whole-path throughput and latency of the in-process broker, each group
//! with its baseline in the same run (STYLE 13): a bare crossbeam channel carrying the same
//! 16-byte `Bytes` payloads between the same threads, or, for the topic scenario, routing alone
//! through the same `TopicTrie`.
//!
//! Groups, named by workload shape (all bodies are the same 16 static bytes, so no benchmark
//! times the allocator on the body):
//!
//! - `pipe/1p1c_16b`: this thread publishes to the default exchange, one queue, one consumer
//!   thread. `auto_ack`; `manual_ack_prefetch100` (prefetch 100, one `ack` per delivery: the
//!   primary manual-ack figure); `manual_ack_multiple50_prefetch100` (the same, acking with
//!   `multiple` every 50 deliveries); baseline `crossbeam_unbounded`. One iteration is a batch
//!   of 10,000 messages; throughput in messages.
//! - `fanout/10_queues`: a fanout exchange bound to 10 queues, one auto-ack consumer thread per
//!   queue. Baseline `crossbeam_10_channels`: the publisher sends a `Bytes` clone into each of
//!   10 unbounded channels. One iteration publishes 1,000 messages (10,000 deliveries);
//!   throughput in messages published.
//! - `topic/1000q_x10`: the RabbitMQ anchor's topic scenario (`shared/anchors/rabbitmq`): a
//!   topic exchange, 1,000 exclusive queues, queue `q` bound with lines `10q..10q+9` of the
//!   seed-42 workload (`warren::workload`, 10,000 bindings), one auto-ack consumer per queue on
//!   10 channels; the 100,000 keys published in order. One iteration is the whole key stream;
//!   throughput in *delivered* messages. The consumers are drained by `DRAINERS` threads (1:
//!   with the publisher, one busy thread per core of the 2-core bench machine), each owning a
//!   contiguous share of the consumers and sweeping them with `try_recv` (yielding after an
//!   empty sweep). Baseline `trie_route_only`: the same keys through a `TopicTrie<u32>` with the
//!   same 10,000 bindings to queue numbers, counting destinations (no broker). The anchor's
//!   RabbitMQ figure (6.5k msg/s delivered, whole machine) is quoted in the README, not
//!   measured here.
//! - `workqueue/4c_prefetch1`: one queue, 4 consumer threads (own channels, prefetch 1, an ack
//!   after each delivery), one publisher keeping at most 1,000 messages un-acked (as the anchor
//!   does, so the figure is steady-state dispatch, not backlog growth). Baseline
//!   `crossbeam_mpmc`: 4 threads receiving from one unbounded channel under the same window.
//!   One iteration is 10,000 messages; throughput in acks.
//! - `rpc/roundtrip`: a server thread consumes `rpc_queue` (prefetch 1, manual ack), publishes
//!   a reply to `reply_to` with the request's `correlation_id`, then acks; the client (this
//!   thread, an exclusive server-named callback queue, auto-ack) makes sequential calls and
//!   checks each reply's `correlation_id`. Baseline `crossbeam_2_channels`: a round trip over a
//!   request and a reply channel between the same two threads. One iteration is one call.
//!
//! Two measurements outside criterion, run before it when their variable is `1`:
//!
//! - `WARREN_BENCH_RPC_PCT=1`: 20,000 sequential calls each way (after 2,000 warm-up calls),
//!   printing `rpc p50 X us p99 Y us (crossbeam baseline p50 A us p99 B us)`.
//! - `WARREN_BENCH_PIPE_PAIRS=1`: the pipe and its baseline in alternating rounds (see
//!   [`pipe_pairs`]): each ratio from one round, where the two ran seconds apart, not minutes
//!   as in criterion's groups; beside them whether the two threads share a core, and what each
//!   side of the manual-ack pipe costs alone on one thread.
//! - `WARREN_BENCH_MEM=1`: 1,000,000 16-byte messages published to a queue with no consumer;
//!   prints the heap bytes per queued message from this binary's counting global allocator
//!   (requested sizes, net of frees; the body is a static buffer, so nothing of it is counted),
//!   with the VmRSS growth per message beside it as a cross-check.
//!
//! # Method
//!
//! Broker, queues and consumers are set up once per group and reused by every sample; each
//! sample drains everything it publishes. A sample (`iter_custom` call) spawns its receiving
//! threads in a `std::thread::scope`; they and the publisher (this thread) meet at a barrier,
//! the clock starts when it opens and stops at the latest instant a receiving thread records
//! after its last receive (or ack), so spawning and joining are not timed. The thread-heavy
//! groups use flat sampling (every sample the same number of iterations).
//!
//! The machine the figures come from has 2 cores: beyond 2 threads (fanout, topic, workqueue)
//! the benchmarks measure the broker under oversubscription, blocking receives included, as the
//! baselines do.
//!
//! # Checks
//!
//! A broken engine cannot produce a fast number: every sample checks that every publish reached
//! the expected number of queues, that each consumer received exactly its messages (the topic
//! scenario: each queue its own expected count, computed from the trie) with the 16-byte body,
//! that every ack settled, and afterwards that the queues are empty and no consumer holds an
//! extra delivery. No wait is unbounded: a receive or window wait that sees no progress for
//! `STALL` panics, and the scope joins every thread before the panic propagates.
//!
//! `cargo bench --bench broker -- --test` runs every case once (about a second in release,
//! once built).

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{
    AtomicBool, AtomicIsize, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Barrier;
use std::time::{Duration, Instant};
use warren::broker::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueDeclareOptions,
};
use warren::clock::Clock;
use warren::message::FieldTable;
use warren::route::ExchangeType;
use warren::topic::{DestSet, TopicTrie};
use warren::{
    workload, BasicProperties, Broker, BrokerOptions, Channel, Consumer, Delivery, Publish, Settled,
};

/// Every body: 16 bytes, static (cloning the `Bytes` copies nothing and allocates nothing).
const BODY: &[u8; 16] = b"warren-bench-16b";
/// Messages per iteration of `pipe`.
const PIPE_BATCH: u64 = 10_000;
/// Prefetch of the manual-ack pipe consumers.
const PIPE_PREFETCH: u16 = 100;
/// `manual_ack_multiple50_prefetch100` acks with `multiple` every this many deliveries.
const ACK_EVERY: u64 = 50;
/// Messages published per iteration of `fanout`.
const FANOUT_BATCH: u64 = 1_000;
/// Queues (and consumer threads) of `fanout`.
const FANOUT_QUEUES: usize = 10;
/// Queues (and consumers) of the topic scenario.
const TOPIC_QUEUES: usize = 1_000;
/// Workload lines bound to each topic queue.
const BINDINGS_PER_QUEUE: usize = 10;
/// Channels the topic consumers are spread over (as the anchor's loadgen).
const TOPIC_CHANNELS: usize = 10;
/// Threads draining the 1,000 topic consumers.
const DRAINERS: usize = 1;
/// Messages per iteration of `workqueue`.
const WORK_BATCH: u64 = 10_000;
/// Consumer threads of `workqueue`.
const WORKERS: usize = 4;
/// At most this many messages published and not yet acked in `workqueue`.
const WORK_WINDOW: u64 = 1_000;
/// A thread that sees no progress for this long panics: a lost message or a hang.
const STALL: Duration = Duration::from_secs(20);
/// Receive timeout of threads that must also notice the end of a run (`workqueue`).
const POLL: Duration = Duration::from_millis(1);
/// Calls timed by `WARREN_BENCH_RPC_PCT=1`, after the warm-up ones.
const RPC_PCT_CALLS: usize = 20_000;
const RPC_PCT_WARMUP: usize = 2_000;
/// Messages queued by `WARREN_BENCH_MEM=1`.
const MEM_MESSAGES: usize = 1_000_000;

// ----- counting allocator (WARREN_BENCH_MEM) -----

/// Whether [`Counting`] counts. Set only around the memory measurement, so the timed benches
/// pay one relaxed load of a line nobody writes per allocation, not a shared counter.
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Net bytes allocated while counting (requested sizes, not the allocator's blocks). Signed:
/// blocks allocated before counting began may be freed (or grown) while it runs. Relaxed is
/// enough: it is read by the thread that made the allocations, after them.
static NET: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting net bytes while [`COUNTING`] is set.
struct Counting;

fn note(delta: isize) {
    if COUNTING.load(Relaxed) {
        NET.fetch_add(delta, Relaxed);
    }
}

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// implementation of the `GlobalAlloc` contract is ours; the counter only observes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller meets `GlobalAlloc::alloc`'s conditions (non-zero size), which are
        // `System::alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note(signed(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`: the caller's conditions are `System::alloc_zeroed`'s.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note(signed(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from `System`, which
        // made every block) with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        note(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from `System`) with
        // `layout`, and that `new_size` is non-zero and valid for `layout`'s alignment.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // On failure the old block is untouched and nothing changed.
            note(signed(new_size) - signed(layout.size()));
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ----- helpers -----

fn body() -> Bytes {
    Bytes::from_static(BODY)
}

fn check_body(b: &[u8]) {
    assert_eq!(b, BODY, "a delivery carries the published body");
}

/// Publishes the bench body; returns the number of queues it reached (0: unroutable).
fn publish(ch: &Channel, exchange: &str, key: &str, props: BasicProperties) -> usize {
    match ch.basic_publish(exchange, key, BasicPublishOptions::default(), body(), props) {
        Ok(Publish::Routed { queues }) => queues,
        Ok(Publish::Unroutable) => 0,
        Ok(other) => panic!("publish to '{exchange}' with key '{key}': {other:?}"),
        Err(e) => panic!(
            "publish to '{exchange}' with key '{key}' failed: {}",
            e.error
        ),
    }
}

/// The next delivery of `c`; panics after [`STALL`] without one (a lost message or a hang).
fn next(c: &Consumer) -> Delivery {
    match c.recv_timeout(STALL) {
        Ok(Some(d)) => d,
        Ok(None) => panic!("consumer '{}': no delivery within {STALL:?}", c.tag()),
        Err(e) => panic!("consumer '{}' ended: {e}", c.tag()),
    }
}

/// The next message of a baseline channel; panics after [`STALL`] without one.
fn next_cb<T>(rx: &crossbeam_channel::Receiver<T>) -> T {
    rx.recv_timeout(STALL)
        .unwrap_or_else(|e| panic!("baseline channel: {e} within {STALL:?}"))
}

/// Panics when `progress` has not moved for [`STALL`] across calls; `since` remembers when it
/// last moved. Called only off the hot path (after a timed-out receive, in a window wait).
fn stall_check(progress: u64, since: &mut Option<(u64, Instant)>, what: &str) {
    let now = Instant::now();
    match since {
        Some((p, t)) if *p == progress => {
            assert!(
                now.duration_since(*t) < STALL,
                "{what}: no progress for {STALL:?} at {progress}"
            );
        }
        _ => *since = Some((progress, now)),
    }
}

/// Checks that queue `name` is empty with `consumers` consumers, and that none of `cs` holds a
/// delivery: nothing was lost in the queue, nothing delivered twice.
fn assert_drained<'a>(
    broker: &Broker,
    name: &str,
    consumers: usize,
    cs: impl IntoIterator<Item = &'a Consumer>,
) {
    assert_eq!(
        broker.queue_counts(name),
        Some((0, consumers)),
        "queue '{name}' is drained"
    );
    for c in cs {
        assert!(
            matches!(c.try_recv(), Ok(None)),
            "consumer '{}' received more than was published",
            c.tag()
        );
    }
}

/// Runs `consume(i)` for `i` in `0..consumers` on scoped threads and `produce()` on this
/// thread, released together by a barrier; returns the time from the release to the latest
/// instant a consumer returned. Spawning and joining are not timed.
fn timed(
    consumers: usize,
    produce: impl FnOnce(),
    consume: impl Fn(usize) -> Instant + Sync,
) -> Duration {
    let go = Barrier::new(consumers + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..consumers)
            .map(|i| {
                let (go, consume) = (&go, &consume);
                s.spawn(move || {
                    go.wait();
                    consume(i)
                })
            })
            .collect();
        go.wait();
        let start = Instant::now();
        produce();
        let end = handles
            .into_iter()
            .map(|h| h.join().expect("a consumer thread panicked"))
            .max()
            .expect("at least one consumer");
        end.saturating_duration_since(start)
    })
}

fn declare(ch: &Channel, name: &str, options: QueueDeclareOptions) -> String {
    ch.queue_declare(name, options, &FieldTable::new())
        .expect("queue_declare")
        .name
}

fn consume(ch: &Channel, queue: &str, no_ack: bool) -> Consumer {
    ch.basic_consume(
        queue,
        "",
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        &FieldTable::new(),
    )
    .expect("basic_consume")
}

/// A fresh channel with per-consumer prefetch `prefetch` (0 = none set).
fn channel(conn: &warren::Connection, prefetch: u16) -> Channel {
    let ch = conn.create_channel().expect("create_channel");
    if prefetch > 0 {
        ch.basic_qos(prefetch, BasicQosOptions::default())
            .expect("basic_qos");
    }
    ch
}

fn ack(d: &Delivery, multiple: bool) {
    assert_eq!(
        d.ack_with(BasicAckOptions { multiple }).expect("ack"),
        Settled::Done,
        "ack settles the delivery"
    );
}

/// Publishes `n` bench messages to `queue` through the default exchange.
fn publish_to(ch: &Channel, queue: &str, n: u64) {
    for _ in 0..n {
        assert_eq!(publish(ch, "", queue, BasicProperties::default()), 1);
    }
}

/// Receives `n` deliveries of the auto-ack consumer `c`, checking each body.
fn receive(c: &Consumer, n: u64) {
    for _ in 0..n {
        check_body(next(c).body());
    }
}

/// Receives `n` deliveries of the manual-ack consumer `c`, acking each on its own.
fn receive_and_ack(c: &Consumer, n: u64) {
    for _ in 0..n {
        let d = next(c);
        check_body(d.body());
        ack(&d, false);
    }
}

// ----- pipe/1p1c_16b -----

fn bench_pipe(c: &mut Criterion) {
    let broker = Broker::new();
    let conn = broker.connect();
    let pub_ch = channel(&conn, 0);
    let q_auto = declare(&pub_ch, "pipe.auto", QueueDeclareOptions::default());
    let q_manual = declare(&pub_ch, "pipe.manual", QueueDeclareOptions::default());
    let q_multi = declare(&pub_ch, "pipe.multiple", QueueDeclareOptions::default());
    let auto = consume(&channel(&conn, 0), &q_auto, true);
    let manual = consume(&channel(&conn, PIPE_PREFETCH), &q_manual, false);
    let multi = consume(&channel(&conn, PIPE_PREFETCH), &q_multi, false);

    let mut g = c.benchmark_group("pipe/1p1c_16b");
    g.throughput(Throughput::Elements(PIPE_BATCH));
    g.sampling_mode(SamplingMode::Flat).sample_size(20);

    g.bench_function("auto_ack", |b| {
        b.iter_custom(|iters| {
            let n = iters * PIPE_BATCH;
            let t = timed(
                1,
                || publish_to(&pub_ch, &q_auto, n),
                |_| {
                    receive(&auto, n);
                    Instant::now()
                },
            );
            assert_drained(&broker, &q_auto, 1, [&auto]);
            t
        })
    });

    g.bench_function("manual_ack_prefetch100", |b| {
        b.iter_custom(|iters| {
            let n = iters * PIPE_BATCH;
            let t = timed(
                1,
                || publish_to(&pub_ch, &q_manual, n),
                |_| {
                    receive_and_ack(&manual, n);
                    Instant::now()
                },
            );
            assert_drained(&broker, &q_manual, 1, [&manual]);
            t
        })
    });

    g.bench_function("manual_ack_multiple50_prefetch100", |b| {
        b.iter_custom(|iters| {
            let n = iters * PIPE_BATCH;
            let t = timed(
                1,
                || publish_to(&pub_ch, &q_multi, n),
                |_| {
                    for i in 1..=n {
                        let d = next(&multi);
                        check_body(d.body());
                        if i % ACK_EVERY == 0 || i == n {
                            ack(&d, true);
                        }
                    }
                    Instant::now()
                },
            );
            assert_drained(&broker, &q_multi, 1, [&multi]);
            t
        })
    });

    // Baseline: the same payloads over a bare unbounded channel between the same two threads.
    let (tx, rx) = crossbeam_channel::unbounded::<Bytes>();
    g.bench_function("crossbeam_unbounded", |b| {
        b.iter_custom(|iters| {
            let n = iters * PIPE_BATCH;
            let t = timed(
                1,
                || {
                    for _ in 0..n {
                        tx.send(body()).expect("the receiver lives");
                    }
                },
                |_| {
                    for _ in 0..n {
                        check_body(&next_cb(&rx));
                    }
                    Instant::now()
                },
            );
            assert!(rx.is_empty());
            t
        })
    });
    g.finish();
}

// ----- fanout/10_queues -----

fn bench_fanout(c: &mut Criterion) {
    let broker = Broker::new();
    let conn = broker.connect();
    let pub_ch = channel(&conn, 0);
    let exchange = "fanout.10";
    pub_ch
        .exchange_declare(
            exchange,
            ExchangeType::Fanout,
            ExchangeDeclareOptions::default(),
            &FieldTable::new(),
        )
        .expect("exchange_declare");
    let queues: Vec<String> = (0..FANOUT_QUEUES)
        .map(|i| {
            let q = declare(
                &pub_ch,
                &format!("fanout.10.q{i}"),
                QueueDeclareOptions::default(),
            );
            pub_ch
                .queue_bind(&q, exchange, "", &FieldTable::new())
                .expect("queue_bind");
            q
        })
        .collect();
    let consumers: Vec<Consumer> = queues
        .iter()
        .map(|q| consume(&channel(&conn, 0), q, true))
        .collect();

    let mut g = c.benchmark_group("fanout/10_queues");
    g.throughput(Throughput::Elements(FANOUT_BATCH));
    g.sampling_mode(SamplingMode::Flat).sample_size(20);

    g.bench_function("broker_auto_ack", |b| {
        b.iter_custom(|iters| {
            let n = iters * FANOUT_BATCH;
            let t = timed(
                FANOUT_QUEUES,
                || {
                    for _ in 0..n {
                        assert_eq!(
                            publish(&pub_ch, exchange, "", BasicProperties::default()),
                            FANOUT_QUEUES
                        );
                    }
                },
                |i| {
                    for _ in 0..n {
                        check_body(next(&consumers[i]).body());
                    }
                    Instant::now()
                },
            );
            for (q, c) in queues.iter().zip(&consumers) {
                assert_drained(&broker, q, 1, [c]);
            }
            t
        })
    });

    // Baseline: the same publish as one `Bytes` clone sent into each of 10 unbounded channels.
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..FANOUT_QUEUES)
        .map(|_| crossbeam_channel::unbounded::<Bytes>())
        .unzip();
    g.bench_function("crossbeam_10_channels", |b| {
        b.iter_custom(|iters| {
            let n = iters * FANOUT_BATCH;
            let t = timed(
                FANOUT_QUEUES,
                || {
                    for _ in 0..n {
                        let m = body();
                        for tx in &txs {
                            tx.send(m.clone()).expect("the receiver lives");
                        }
                    }
                },
                |i| {
                    for _ in 0..n {
                        check_body(&next_cb(&rxs[i]));
                    }
                    Instant::now()
                },
            );
            assert!(rxs.iter().all(|rx| rx.is_empty()));
            t
        })
    });
    g.finish();
}

// ----- topic/1000q_x10 -----

/// The topic scenario's workload and what routing it must deliver.
struct TopicWorld {
    bindings: Vec<String>,
    keys: Vec<String>,
    /// The bindings as a trie to queue numbers: the baseline.
    trie: TopicTrie<u32>,
    /// Deliveries per queue in one pass over the keys.
    per_queue: Vec<u64>,
    /// Deliveries in one pass over the keys.
    expected: u64,
}

fn queue_of(line: usize) -> u32 {
    u32::try_from(line / BINDINGS_PER_QUEUE).expect("queue numbers fit in u32")
}

fn topic_world() -> TopicWorld {
    let lines = TOPIC_QUEUES * BINDINGS_PER_QUEUE;
    let bindings = workload::generate_bindings(workload::DEFAULT_SEED, lines);
    let keys = workload::generate_keys(workload::DEFAULT_SEED, &bindings, workload::DEFAULT_KEYS)
        .expect("the seed-42 workload generates");
    let mut out = DestSet::new();

    // The workload itself: one line per destination must find the AMQP reference total.
    let by_line = TopicTrie::new();
    by_line
        .bind_many(
            bindings
                .iter()
                .enumerate()
                .map(|(i, p)| (p.as_str(), u32::try_from(i).expect("fits"))),
        )
        .expect("workload patterns are valid");
    let mut line_total = 0u64;
    for k in &keys {
        out.clear();
        by_line.route(k, &mut out).expect("workload keys are valid");
        line_total += u64::try_from(out.len()).expect("fits");
    }
    assert_eq!(
        Some(line_total),
        workload::reference_destinations(lines),
        "the seed-42 workload's reference total"
    );

    // Queue q gets lines 10q..10q+9: a key reaches a queue once however many of its lines
    // match (AMQP delivers one copy per queue).
    let trie = TopicTrie::new();
    trie.bind_many(
        bindings
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), queue_of(i))),
    )
    .expect("workload patterns are valid");
    let mut per_queue = vec![0u64; TOPIC_QUEUES];
    for k in &keys {
        out.clear();
        trie.route(k, &mut out).expect("workload keys are valid");
        for &q in out.iter() {
            per_queue[usize::try_from(q).expect("fits")] += 1;
        }
    }
    let expected = per_queue.iter().sum();
    TopicWorld {
        bindings,
        keys,
        trie,
        per_queue,
        expected,
    }
}

/// Receives, by sweeping `owned` (queue number, consumer) with `try_recv`, exactly
/// `per_queue[q] * iters` deliveries on each; yields after an empty sweep. Returns the instant
/// of the last one.
fn drain(owned: &[(usize, &Consumer)], per_queue: &[u64], iters: u64) -> Instant {
    let mut active: Vec<(&Consumer, u64)> = owned
        .iter()
        .filter(|(q, _)| per_queue[*q] > 0)
        .map(|&(q, c)| (c, per_queue[q] * iters))
        .collect();
    let mut received = 0u64;
    let mut since = None;
    while !active.is_empty() {
        let before = received;
        let mut i = 0;
        while i < active.len() {
            let (c, left) = &mut active[i];
            while *left > 0 {
                match c.try_recv() {
                    Ok(Some(d)) => {
                        check_body(d.body());
                        *left -= 1;
                        received += 1;
                    }
                    Ok(None) => break,
                    Err(e) => panic!("consumer '{}' ended: {e}", c.tag()),
                }
            }
            if *left == 0 {
                active.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if received == before {
            stall_check(received, &mut since, "topic drainer");
            std::thread::yield_now();
        }
    }
    Instant::now()
}

fn bench_topic(c: &mut Criterion) {
    let w = topic_world();
    let exchange = "topic.1000q";
    let broker = Broker::new();
    let conn = broker.connect();
    let pub_ch = channel(&conn, 0);
    pub_ch
        .exchange_declare(
            exchange,
            ExchangeType::Topic,
            ExchangeDeclareOptions::default(),
            &FieldTable::new(),
        )
        .expect("exchange_declare");
    let chans: Vec<Channel> = (0..TOPIC_CHANNELS).map(|_| channel(&conn, 0)).collect();
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let mut queues = Vec::with_capacity(TOPIC_QUEUES);
    let mut consumers = Vec::with_capacity(TOPIC_QUEUES);
    for q in 0..TOPIC_QUEUES {
        let ch = &chans[q % TOPIC_CHANNELS];
        let name = declare(ch, &format!("topic.q{q:04}"), exclusive);
        for line in &w.bindings[q * BINDINGS_PER_QUEUE..(q + 1) * BINDINGS_PER_QUEUE] {
            ch.queue_bind(&name, exchange, line, &FieldTable::new())
                .expect("queue_bind");
        }
        consumers.push(consume(ch, &name, true));
        queues.push(name);
    }
    let numbered: Vec<(usize, &Consumer)> = consumers.iter().enumerate().collect();
    let owned: Vec<&[(usize, &Consumer)]> =
        numbered.chunks(TOPIC_QUEUES.div_ceil(DRAINERS)).collect();
    assert_eq!(owned.len(), DRAINERS, "every drainer owns consumers");

    let mut g = c.benchmark_group("topic/1000q_x10");
    g.throughput(Throughput::Elements(w.expected));
    g.sampling_mode(SamplingMode::Flat).sample_size(10);

    g.bench_function("broker_auto_ack", |b| {
        b.iter_custom(|iters| {
            let mut routed = 0u64;
            let t = timed(
                DRAINERS,
                || {
                    for _ in 0..iters {
                        for k in &w.keys {
                            let n = publish(&pub_ch, exchange, k, BasicProperties::default());
                            routed += u64::try_from(n).expect("fits");
                        }
                    }
                },
                |t| drain(owned[t], &w.per_queue, iters),
            );
            assert_eq!(routed, w.expected * iters, "publishes reached the queues");
            for (q, c) in queues.iter().zip(&consumers) {
                assert_drained(&broker, q, 1, [c]);
            }
            t
        })
    });

    // Baseline: routing alone, the same keys through a trie of the same bindings.
    let mut out = DestSet::new();
    g.bench_function("trie_route_only", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for k in &w.keys {
                out.clear();
                w.trie.route(k, &mut out).expect("valid key");
                total += u64::try_from(black_box(out.len())).expect("fits");
            }
            assert_eq!(total, w.expected);
        })
    });
    g.finish();
}

// ----- workqueue/4c_prefetch1 -----

/// Publishes `n` messages with `send`, keeping at most [`WORK_WINDOW`] not yet counted by
/// `acked`; yields while the window is full.
fn publish_windowed(n: u64, acked: &AtomicU64, mut send: impl FnMut()) {
    let mut since = None;
    for i in 0..n {
        loop {
            let a = acked.load(Acquire);
            if i.saturating_sub(a) < WORK_WINDOW {
                break;
            }
            stall_check(a, &mut since, "workqueue publisher");
            std::thread::yield_now();
        }
        send();
    }
}

/// A worker: `take()` receives one message (waiting at most [`POLL`]) and acks it; loops until
/// `acked` reaches `n`. Returns the instant of its last ack.
fn work(n: u64, acked: &AtomicU64, what: &str, mut take: impl FnMut() -> bool) -> Instant {
    let mut last = Instant::now();
    let mut since = None;
    loop {
        let a = acked.load(Acquire);
        if a >= n {
            return last;
        }
        if take() {
            acked.fetch_add(1, Release);
            last = Instant::now();
        } else {
            stall_check(a, &mut since, what);
        }
    }
}

fn bench_workqueue(c: &mut Criterion) {
    let broker = Broker::new();
    let conn = broker.connect();
    let pub_ch = channel(&conn, 0);
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let queue = declare(&pub_ch, "work", durable);
    let workers: Vec<Consumer> = (0..WORKERS)
        .map(|_| consume(&channel(&conn, 1), &queue, false))
        .collect();

    let mut g = c.benchmark_group("workqueue/4c_prefetch1");
    g.throughput(Throughput::Elements(WORK_BATCH));
    g.sampling_mode(SamplingMode::Flat).sample_size(20);

    g.bench_function("broker_manual_ack", |b| {
        b.iter_custom(|iters| {
            let n = iters * WORK_BATCH;
            let acked = AtomicU64::new(0);
            let t = timed(
                WORKERS,
                || {
                    publish_windowed(n, &acked, || {
                        let props = BasicProperties::default().persistent();
                        assert_eq!(publish(&pub_ch, "", &queue, props), 1);
                    })
                },
                |i| {
                    work(n, &acked, "workqueue worker", || {
                        match workers[i].recv_timeout(POLL) {
                            Ok(Some(d)) => {
                                check_body(d.body());
                                ack(&d, false);
                                true
                            }
                            Ok(None) => false,
                            Err(e) => panic!("worker {i} ended: {e}"),
                        }
                    })
                },
            );
            assert_eq!(acked.load(Acquire), n, "every message acked once");
            assert_drained(&broker, &queue, WORKERS, &workers);
            t
        })
    });

    // Baseline: 4 threads receiving from one MPMC channel under the same window.
    let (tx, rx) = crossbeam_channel::unbounded::<Bytes>();
    g.bench_function("crossbeam_mpmc", |b| {
        b.iter_custom(|iters| {
            let n = iters * WORK_BATCH;
            let acked = AtomicU64::new(0);
            let t = timed(
                WORKERS,
                || publish_windowed(n, &acked, || tx.send(body()).expect("receivers live")),
                |_| {
                    work(n, &acked, "baseline worker", || {
                        match rx.recv_timeout(POLL) {
                            Ok(m) => {
                                check_body(&m);
                                true
                            }
                            Err(_) => false,
                        }
                    })
                },
            );
            assert_eq!(acked.load(Acquire), n, "every message received once");
            assert!(rx.is_empty());
            t
        })
    });
    g.finish();
}

// ----- rpc/roundtrip -----

/// The RPC scenario: a server on `rpc_queue`, a client with an exclusive callback queue.
struct Rpc {
    broker: Broker,
    server_ch: Channel,
    server: Consumer,
    client_ch: Channel,
    callback_queue: String,
    callback: Consumer,
}

const RPC_QUEUE: &str = "rpc_queue";

impl Rpc {
    fn new() -> Rpc {
        let broker = Broker::new();
        let server_conn = broker.connect();
        let server_ch = channel(&server_conn, 1);
        declare(&server_ch, RPC_QUEUE, QueueDeclareOptions::default());
        let server = consume(&server_ch, RPC_QUEUE, false);
        let client_ch = channel(&broker.connect(), 0);
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        };
        let callback_queue = declare(&client_ch, "", exclusive);
        let callback = consume(&client_ch, &callback_queue, true);
        Rpc {
            broker,
            server_ch,
            server,
            client_ch,
            callback_queue,
            callback,
        }
    }

    /// Serves `n` requests: reply to `reply_to` with the request's `correlation_id`, then ack.
    fn serve(&self, n: usize) {
        for _ in 0..n {
            let d = next(&self.server);
            check_body(d.body());
            let props = d.properties();
            let reply_to = props.reply_to.as_deref().expect("requests carry reply_to");
            let corr = props
                .correlation_id
                .clone()
                .expect("requests carry correlation_id");
            let reply = BasicProperties::default().with_correlation_id(corr);
            assert_eq!(publish(&self.server_ch, "", reply_to, reply), 1);
            ack(&d, false);
        }
    }

    /// One call, checked by its correlation id.
    fn call(&self, id: u64) {
        let corr = id.to_string();
        let props = BasicProperties::default()
            .with_reply_to(self.callback_queue.as_str())
            .with_correlation_id(corr.as_str());
        assert_eq!(publish(&self.client_ch, "", RPC_QUEUE, props), 1);
        let reply = next(&self.callback);
        check_body(reply.body());
        assert_eq!(
            reply.properties().correlation_id.as_deref(),
            Some(corr.as_str()),
            "the reply answers this call"
        );
    }

    fn assert_drained(&self) {
        assert_drained(&self.broker, RPC_QUEUE, 1, [&self.server]);
        assert_drained(&self.broker, &self.callback_queue, 1, [&self.callback]);
    }
}

/// One direction of the baseline: a call id and a body.
type Link = (
    crossbeam_channel::Sender<(u64, Bytes)>,
    crossbeam_channel::Receiver<(u64, Bytes)>,
);

/// The baseline's two channels: requests and replies.
struct Pair {
    req: Link,
    rep: Link,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            req: crossbeam_channel::unbounded(),
            rep: crossbeam_channel::unbounded(),
        }
    }

    fn serve(&self, n: usize) {
        for _ in 0..n {
            let (id, b) = next_cb(&self.req.1);
            check_body(&b);
            self.rep.0.send((id, body())).expect("the client lives");
        }
    }

    fn call(&self, id: u64) {
        self.req.0.send((id, body())).expect("the server lives");
        let (got, b) = next_cb(&self.rep.1);
        check_body(&b);
        assert_eq!(got, id, "the reply answers this call");
    }
}

/// Runs `serve(n)` on a scoped thread and `client()` here, released together; returns what the
/// client returns.
fn with_server<T>(serve: impl FnOnce() + Send, client: impl FnOnce() -> T) -> T {
    let go = Barrier::new(2);
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            go.wait();
            serve();
        });
        go.wait();
        let out = client();
        server.join().expect("the server thread panicked");
        out
    })
}

fn bench_rpc(c: &mut Criterion) {
    let rpc = Rpc::new();
    let pair = Pair::new();
    let mut g = c.benchmark_group("rpc/roundtrip");
    g.throughput(Throughput::Elements(1));

    g.bench_function("broker", |b| {
        b.iter_custom(|iters| {
            let n = usize::try_from(iters).expect("fits");
            let t = with_server(
                || rpc.serve(n),
                || {
                    let start = Instant::now();
                    for id in 0..iters {
                        rpc.call(id);
                    }
                    start.elapsed()
                },
            );
            rpc.assert_drained();
            t
        })
    });

    g.bench_function("crossbeam_2_channels", |b| {
        b.iter_custom(|iters| {
            let n = usize::try_from(iters).expect("fits");
            with_server(
                || pair.serve(n),
                || {
                    let start = Instant::now();
                    for id in 0..iters {
                        pair.call(id);
                    }
                    start.elapsed()
                },
            )
        })
    });
    g.finish();
}

/// p50 and p99 of `calls` timed calls after `warmup` untimed ones, in microseconds.
fn percentiles(
    serve: impl FnOnce(usize) + Send,
    call: impl Fn(u64),
    warmup: usize,
    calls: usize,
) -> (f64, f64) {
    let mut lat = with_server(
        || serve(warmup + calls),
        || {
            let mut id = 0u64;
            for _ in 0..warmup {
                call(id);
                id += 1;
            }
            let mut lat = Vec::with_capacity(calls);
            for _ in 0..calls {
                let start = Instant::now();
                call(id);
                lat.push(start.elapsed());
                id += 1;
            }
            lat
        },
    );
    lat.sort_unstable();
    let at = |pct: usize| lat[(lat.len() * pct / 100).min(lat.len() - 1)].as_secs_f64() * 1e6;
    (at(50), at(99))
}

/// `WARREN_BENCH_RPC_PCT=1`: RPC latency percentiles, beside the crossbeam round trip.
fn rpc_percentiles() {
    let rpc = Rpc::new();
    let (p50, p99) = percentiles(
        |n| rpc.serve(n),
        |id| rpc.call(id),
        RPC_PCT_WARMUP,
        RPC_PCT_CALLS,
    );
    rpc.assert_drained();
    let pair = Pair::new();
    let (b50, b99) = percentiles(
        |n| pair.serve(n),
        |id| pair.call(id),
        RPC_PCT_WARMUP,
        RPC_PCT_CALLS,
    );
    println!(
        "rpc p50 {p50:.1} us p99 {p99:.1} us (crossbeam baseline p50 {b50:.1} us p99 {b99:.1} us) \
         over {RPC_PCT_CALLS} sequential calls"
    );
}

// ----- pipe pairs -----

/// Messages per run of [`pipe_pairs`].
const PAIR_MESSAGES: u32 = 200_000;
/// Rounds of [`pipe_pairs`].
const PAIR_ROUNDS: usize = 12;
/// Baselines at or above this rate are counted apart in [`pipe_pairs`]' summary: on the
/// machines measured, the bare channel runs mostly at 10-13 M/s or at 19-22 M/s, with the
/// host's placement of the two threads.
const FAST_BASELINE: f64 = 15e6;

/// Messages per second of `n` messages published on this thread and received on another.
fn pipe_rate(n: u32, produce: impl FnOnce(), consume: impl Fn() + Sync) -> f64 {
    let t = timed(1, produce, |_| {
        consume();
        Instant::now()
    });
    f64::from(n) / t.as_secs_f64()
}

/// A fixed integer loop with four independent chains, for the probe of [`pipe_pairs`]: two
/// threads sharing one core's execution units take longer each than one alone.
fn probe_work() -> Duration {
    let t = Instant::now();
    let (mut a, mut b, mut c, mut d) = (1u64, 2u64, 3u64, 4u64);
    for i in 0..black_box(10_000_000u64) {
        a = a.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
        b = b.rotate_left(7) ^ i;
        c = c.wrapping_add(b) ^ a;
        d = d.wrapping_sub(c).rotate_right(3);
    }
    black_box(a ^ b ^ c ^ d);
    t.elapsed()
}

/// Median of `v` (sorted here); `NaN` when empty.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `WARREN_BENCH_PIPE_PAIRS=1`: [`PAIR_ROUNDS`] rounds, each running the bare channel, the
/// auto-ack pipe and the manual-ack pipe (prefetch 100, one ack each) once over
/// [`PAIR_MESSAGES`] messages, in an order rotated per round; each ratio divides by the
/// baseline of its own round. Each round also times the probe loop alone and on both threads
/// at once (`probe` = the pair's time over the lone one: about 1 when the two threads run on
/// cores of their own). Last, one thread publishes [`PAIR_MESSAGES`] to a queue and then
/// receives and acks them all: what each side of the manual-ack pipe costs with nothing
/// concurrent.
fn pipe_pairs() {
    let broker = Broker::new();
    let conn = broker.connect();
    let pub_ch = channel(&conn, 0);
    let q_auto = declare(&pub_ch, "pairs.auto", QueueDeclareOptions::default());
    let q_manual = declare(&pub_ch, "pairs.manual", QueueDeclareOptions::default());
    let auto = consume(&channel(&conn, 0), &q_auto, true);
    let manual = consume(&channel(&conn, PIPE_PREFETCH), &q_manual, false);
    let n = u64::from(PAIR_MESSAGES);
    let (tx, rx) = crossbeam_channel::unbounded::<Bytes>();
    // 0: the bare channel, 1: the auto-ack pipe, 2: the manual-ack pipe.
    let run = |which: usize| match which {
        0 => pipe_rate(
            PAIR_MESSAGES,
            || {
                for _ in 0..PAIR_MESSAGES {
                    tx.send(body()).expect("the receiver lives");
                }
            },
            || {
                for _ in 0..PAIR_MESSAGES {
                    check_body(&next_cb(&rx));
                }
            },
        ),
        1 => pipe_rate(
            PAIR_MESSAGES,
            || publish_to(&pub_ch, &q_auto, n),
            || receive(&auto, n),
        ),
        _ => pipe_rate(
            PAIR_MESSAGES,
            || publish_to(&pub_ch, &q_manual, n),
            || receive_and_ack(&manual, n),
        ),
    };
    println!(
        "pipe pairs: {PAIR_ROUNDS} rounds of {PAIR_MESSAGES} messages; ratio = warren / the bare \
         channel of the same round"
    );
    println!("round  crossbeam M/s  auto M/s (ratio)  manual M/s (ratio)  probe");
    let mut slow: Vec<(f64, f64)> = Vec::new();
    let mut fast: Vec<(f64, f64)> = Vec::new();
    for round in 0..PAIR_ROUNDS {
        let mut rate = [0.0f64; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            rate[which] = run(which);
        }
        let lone = probe_work();
        let pair = std::thread::scope(|s| {
            let other = s.spawn(probe_work);
            let mine = probe_work();
            (mine + other.join().expect("the probe thread panicked")) / 2
        });
        let (auto_r, manual_r) = (rate[1] / rate[0], rate[2] / rate[0]);
        println!(
            "{round:5}  {:13.2}  {:8.2} ({auto_r:.2})  {:10.2} ({manual_r:.2})  {:.2}",
            rate[0] / 1e6,
            rate[1] / 1e6,
            rate[2] / 1e6,
            pair.as_secs_f64() / lone.as_secs_f64()
        );
        if rate[0] < FAST_BASELINE {
            slow.push((auto_r, manual_r));
        } else {
            fast.push((auto_r, manual_r));
        }
    }
    assert_drained(&broker, &q_auto, 1, [&auto]);
    assert_drained(&broker, &q_manual, 1, [&manual]);
    for (what, rounds) in [("below", &slow), ("at or above", &fast)] {
        let mut a: Vec<f64> = rounds.iter().map(|r| r.0).collect();
        let mut m: Vec<f64> = rounds.iter().map(|r| r.1).collect();
        println!(
            "  baseline {what} {:.0} M/s: {} rounds, median ratio auto {:.2} manual {:.2}",
            FAST_BASELINE / 1e6,
            rounds.len(),
            median(&mut a),
            median(&mut m)
        );
    }

    // Each side alone: publish everything, then receive and ack it all, on this thread.
    let (mut publish_ns, mut consume_ns) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        publish_to(&pub_ch, &q_manual, n);
        publish_ns.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(PAIR_MESSAGES));
        let t = Instant::now();
        receive_and_ack(&manual, n);
        consume_ns.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(PAIR_MESSAGES));
    }
    assert_drained(&broker, &q_manual, 1, [&manual]);
    println!(
        "  one thread, nothing concurrent (medians of 5): publish {:.0} ns, receive + ack \
         {:.0} ns per message (manual ack, prefetch 100)",
        median(&mut publish_ns),
        median(&mut consume_ns)
    );
}

// ----- memory per queued message -----

/// This process's resident set in bytes (`VmRSS` of `/proc/self/status`), where readable.
fn vm_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `WARREN_BENCH_MEM=1`: heap bytes per message queued with no consumer.
fn memory_per_message() {
    // A manual clock: no timeout thread allocating while the counter runs.
    let broker = Broker::with_options(BrokerOptions::default().with_clock(Clock::manual(0)));
    let ch = channel(&broker.connect(), 0);
    let queue = declare(&ch, "mem", QueueDeclareOptions::default());

    let rss_before = vm_rss();
    NET.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    for _ in 0..MEM_MESSAGES {
        assert_eq!(publish(&ch, "", &queue, BasicProperties::default()), 1);
    }
    // Counted once the queue has settled them: counts move what waits in its intake (the
    // publishes that met a backlog) into the ready messages.
    assert_eq!(broker.queue_counts(&queue), Some((MEM_MESSAGES, 0)));
    COUNTING.store(false, Relaxed);
    let net = NET.load(Relaxed);
    let rss_after = vm_rss();

    let n = signed(MEM_MESSAGES);
    println!(
        "memory per queued message: {} bytes (excluding the 16-byte body: a static buffer, \
         not counted); {net} net heap bytes for {MEM_MESSAGES} messages, requested sizes",
        net / n
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let grew = after.saturating_sub(before);
        println!(
            "  cross-check: VmRSS grew {grew} bytes, {} bytes per message (allocator blocks and \
             pages included)",
            grew / u64::try_from(MEM_MESSAGES).expect("fits")
        );
    }
    println!(
        "  for reference: size_of BasicProperties {} bytes, Bytes {} bytes",
        std::mem::size_of::<BasicProperties>(),
        std::mem::size_of::<Bytes>()
    );
    let purged = ch.queue_purge(&queue).expect("queue_purge");
    assert_eq!(
        usize::try_from(purged).expect("fits"),
        MEM_MESSAGES,
        "purge removes every queued message"
    );
}

// ----- main -----

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn main() {
    if env_flag("WARREN_BENCH_MEM") {
        memory_per_message();
    }
    if env_flag("WARREN_BENCH_RPC_PCT") {
        rpc_percentiles();
    }
    if env_flag("WARREN_BENCH_PIPE_PAIRS") {
        pipe_pairs();
    }
    // What `criterion_group!` and `criterion_main!` expand to, minus their undocumented `pub fn`.
    let mut c = config().configure_from_args();
    bench_pipe(&mut c);
    bench_fanout(&mut c);
    bench_topic(&mut c);
    bench_workqueue(&mut c);
    bench_rpc(&mut c);
    c.final_summary();
}
