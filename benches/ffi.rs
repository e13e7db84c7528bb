//! C ABI benchmarks: the cost of going through `warren_*` (issue [c-abi]: "overhead at most
//! 10 %"), each case beside the same work through the safe Rust API in the same run (STYLE 13).
//!
//! The C side calls the `extern "C"` functions of [`warren::ffi`] from Rust, which is the path a
//! C caller takes: NULL and length checks, UTF-8 validation, the panic boundary, the status
//! mapping, output pointers, handles. Only the call instruction itself differs from a call out of
//! a C object file (no inlining across the boundary either way: the functions are
//! `#[no_mangle]`, and the bench links the rlib, so the C side is if anything *favoured* by
//! link-time visibility; it is not inlined in practice, see the method below).
//!
//! Group `ffi`, named by workload shape, each with `rust` (the baseline) and `c_abi`:
//!
//! - `topic_route`: one route per iteration over the seed-42 workload (`warren::workload`,
//!   10,000 bindings, binding line `i` to destination `i`), walking the 100,000-key distinct
//!   stream in order. `rust`: `TopicTrie::<u64>::route` into a reused `DestSet`, reading its
//!   length. `c_abi`: `warren_topic_route` into a caller array large enough for any key of the
//!   workload, reading the count. Both tries are built by binding the same lines in the same
//!   order (`TopicTrie::bind`, `warren_topic_bind`).
//! - `publish_consume`: one broker, one connection, one channel, one queue (`auto_delete`: the
//!   only queue flag the Rust side of a bench can pass through the C ABI's flag type, which has
//!   no "none" constant; both sides declare it so) with one `no_ack` consumer; one iteration publishes a 16-byte body to the default exchange (routing key the
//!   queue's name, no properties) and takes the delivery back on the same thread with a
//!   non-blocking receive, then reads its body and drops it. `rust`: `basic_publish` of
//!   `Bytes::copy_from_slice` of the body (what the C ABI does with the caller's buffer, so
//!   both sides copy it once), `Consumer::try_recv`, `Delivery::body`. `c_abi`:
//!   `warren_channel_basic_publish` with `properties` NULL, `warren_consumer_recv` with timeout
//!   0, `warren_delivery_body`, `warren_delivery_free`. Each side has its own broker.
//!
//! # Checks
//!
//! Setup routes the whole key stream once through each trie: both must find the AMQP reference
//! total of destinations (`warren::workload::reference_destinations`), else the bench panics.
//! Every timed C call must return `WARREN_STATUS_OK`, every receive must find the message just
//! published, with its 16 bytes, and the queues must be empty at the end.
//!
//! # Ratios
//!
//! After criterion, the binary prints each case's time per operation on both sides from this
//! run's criterion calls (warm-up included) and the ratio `c_abi / rust` against the goal
//! (≤ 1.10: overhead at most 10 %). Then the same ratios *paired*: 20 rounds, each running both
//! sides for about 100 ms, alternating which goes first, reported as the median of the
//! per-round ratios (with their range and the ratio of the totals), so that other work on the
//! machine weighs on both sides alike.
//!
//! `cargo bench --bench ffi -- --test` runs every case once and two 1 ms paired rounds.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use warren::broker::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use warren::ffi::warren_status::WARREN_STATUS_OK;
use warren::ffi::{
    warren_broker, warren_broker_connect, warren_broker_free, warren_broker_new, warren_channel,
    warren_channel_basic_consume, warren_channel_basic_publish, warren_channel_free,
    warren_channel_queue_declare, warren_connection, warren_connection_create_channel,
    warren_connection_free, warren_consumer, warren_consumer_free, warren_consumer_recv,
    warren_delivery, warren_delivery_body, warren_delivery_free, warren_last_error, warren_status,
    warren_topic, warren_topic_bind, warren_topic_free, warren_topic_new, warren_topic_route,
    WARREN_QUEUE_AUTO_DELETE,
};
use warren::message::FieldTable;
use warren::topic::{DestSet, TopicTrie};
use warren::{workload, BasicProperties, Broker, Channel, Connection, Consumer};

/// Bindings of the topic workload.
const BINDINGS: usize = 10_000;
/// The message body: 16 bytes, as `benches/broker.rs` publishes.
const BODY: &[u8; 16] = b"0123456789abcdef";
/// The queue each side publishes to and consumes from.
const QUEUE: &str = "ffi_bench";
/// The goal: C ABI time over Rust time per operation.
const GOAL: f64 = 1.10;
/// Paired rounds, and each side's time per round.
const PAIRED_ROUNDS: usize = 20;
const PAIRED_SLICE: Duration = Duration::from_millis(100);

/// The four cases: two workloads, each through Rust and through the C ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    RouteRust,
    RouteC,
    PubConRust,
    PubConC,
}

impl Case {
    const ALL: [Case; 4] = [
        Case::RouteRust,
        Case::RouteC,
        Case::PubConRust,
        Case::PubConC,
    ];

    fn workload(self) -> &'static str {
        match self {
            Case::RouteRust | Case::RouteC => "topic_route",
            Case::PubConRust | Case::PubConC => "publish_consume",
        }
    }

    fn side(self) -> &'static str {
        match self {
            Case::RouteRust | Case::PubConRust => "rust",
            Case::RouteC | Case::PubConC => "c_abi",
        }
    }

    fn name(self) -> String {
        format!("{}/{}", self.workload(), self.side())
    }
}

/// Each workload's C side and its Rust baseline.
const PAIRS: [(Case, Case); 2] = [
    (Case::RouteC, Case::RouteRust),
    (Case::PubConC, Case::PubConRust),
];

/// Per case: operations and time over every timed criterion call, for the ratio lines.
static TALLY: Mutex<Vec<(String, u64, Duration)>> = Mutex::new(Vec::new());

fn tally(case: Case, ops: u64, t: Duration) {
    let mut tally = TALLY.lock().unwrap_or_else(|e| e.into_inner());
    let name = case.name();
    match tally.iter_mut().find(|(n, _, _)| *n == name) {
        Some((_, o, d)) => {
            *o += ops;
            *d += t;
        }
        None => tally.push((name, ops, t)),
    }
}

/// Nanoseconds per operation of `case` over this run's criterion calls.
fn tallied_ns(case: Case) -> Option<f64> {
    let tally = TALLY.lock().unwrap_or_else(|e| e.into_inner());
    let name = case.name();
    tally
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, ops, t)| ns_per_op(ops, t))
}

fn ns_per_op(ops: u64, t: Duration) -> f64 {
    t.as_secs_f64() * 1e9 / float(ops.max(1))
}

/// `x` as f64, exact for the counts here (far below 2^53), without an `as` cast.
fn float(x: u64) -> f64 {
    Duration::from_secs(x).as_secs_f64()
}

/// `x` rounded down to a whole number (0 for NaN or below 0), without an `as` cast.
fn whole(x: f64) -> u64 {
    if x.is_nan() {
        return 0;
    }
    Duration::from_secs_f64(x.clamp(0.0, 1e15)).as_secs()
}

/// Panics with the status and this thread's last error unless `status` is OK.
fn check(status: warren_status, what: &str) {
    if status != WARREN_STATUS_OK {
        let mut buf = [0u8; 512];
        // SAFETY: `buf` has `buf.len()` writable bytes.
        let n = unsafe { warren_last_error(buf.as_mut_ptr().cast(), buf.len()) };
        let text = String::from_utf8_lossy(&buf[..n.min(buf.len() - 1)]);
        panic!("{what}: {status:?}: {text}");
    }
}

// ----- topic routing -----

/// The seed-42 workload bound into a Rust trie and a C matcher, and the key stream.
struct Route {
    keys: Vec<String>,
    trie: TopicTrie<u64>,
    dests: DestSet<u64>,
    topic: *mut warren_topic,
    /// The C caller's output array: room for the most destinations any key finds.
    c_dests: Vec<u64>,
    next_rust: usize,
    next_c: usize,
}

impl Route {
    fn new() -> Route {
        let patterns = workload::generate_bindings(workload::DEFAULT_SEED, BINDINGS);
        let keys =
            workload::generate_keys(workload::DEFAULT_SEED, &patterns, workload::DEFAULT_KEYS)
                .expect("the seed-42 workload generates");
        let trie = TopicTrie::new();
        let mut topic = std::ptr::null_mut();
        // SAFETY: `topic` is a writable `*mut warren_topic`.
        check(unsafe { warren_topic_new(&mut topic) }, "warren_topic_new");
        for (i, p) in patterns.iter().enumerate() {
            let dest = u64::try_from(i).expect("fits");
            assert!(trie.bind(p, dest).expect("workload patterns are valid"));
            let mut added = false;
            // SAFETY: `topic` is live; `p` is `p.len()` readable bytes; `added` is writable.
            let status = unsafe { warren_topic_bind(topic, p.as_ptr(), p.len(), dest, &mut added) };
            check(status, "warren_topic_bind");
            assert!(added, "every line is its own destination");
        }
        let mut route = Route {
            keys,
            trie,
            dests: DestSet::new(),
            topic,
            c_dests: Vec::new(),
            next_rust: 0,
            next_c: 0,
        };
        route.check_reference_total();
        route
    }

    /// One pass of the key stream through each side must find the reference total.
    fn check_reference_total(&mut self) {
        let mut total = 0u64;
        let mut most = 0;
        for k in &self.keys {
            self.dests.clear();
            self.trie.route(k, &mut self.dests).expect("valid key");
            total += u64::try_from(self.dests.len()).expect("fits");
            most = most.max(self.dests.len());
        }
        self.c_dests = vec![0; most];
        let mut c_total = 0u64;
        for k in &self.keys {
            let mut count = 0;
            // SAFETY: `topic` is live; the key is `k.len()` readable bytes; `c_dests` has
            // `c_dests.len()` writable u64s; `count` is writable.
            let status = unsafe {
                warren_topic_route(
                    self.topic,
                    k.as_ptr(),
                    k.len(),
                    self.c_dests.as_mut_ptr(),
                    self.c_dests.len(),
                    &mut count,
                )
            };
            check(status, "warren_topic_route");
            c_total += u64::try_from(count).expect("fits");
        }
        let reference = workload::reference_destinations(BINDINGS).expect("a known size");
        assert_eq!(total, reference, "destinations of one pass, Rust trie");
        assert_eq!(c_total, reference, "destinations of one pass, C matcher");
    }

    fn run_rust(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.dests.clear();
            self.trie
                .route(&self.keys[self.next_rust], &mut self.dests)
                .expect("valid key");
            black_box(self.dests.len());
            self.next_rust = (self.next_rust + 1) % self.keys.len();
        }
        start.elapsed()
    }

    fn run_c(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let k = &self.keys[self.next_c];
            let mut count = 0;
            // SAFETY: as in `check_reference_total`.
            let status = unsafe {
                warren_topic_route(
                    self.topic,
                    k.as_ptr(),
                    k.len(),
                    self.c_dests.as_mut_ptr(),
                    self.c_dests.len(),
                    &mut count,
                )
            };
            if status != WARREN_STATUS_OK {
                check(status, "warren_topic_route");
            }
            black_box(count);
            self.next_c = (self.next_c + 1) % self.keys.len();
        }
        start.elapsed()
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        // SAFETY: `topic` came from `warren_topic_new` and is not used after this.
        unsafe { warren_topic_free(self.topic) };
    }
}

// ----- publish → consume -----

/// The Rust side: a broker, a channel, the queue and its `no_ack` consumer.
struct RustPipe {
    broker: Broker,
    _connection: Connection,
    channel: Channel,
    consumer: Consumer,
}

impl RustPipe {
    fn new() -> RustPipe {
        let broker = Broker::new();
        let connection = broker.connect();
        let channel = connection.create_channel().expect("create_channel");
        channel
            .queue_declare(
                QUEUE,
                QueueDeclareOptions {
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                &FieldTable::new(),
            )
            .expect("queue_declare");
        let consumer = channel
            .basic_consume(
                QUEUE,
                "",
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                &FieldTable::new(),
            )
            .expect("basic_consume");
        RustPipe {
            broker,
            _connection: connection,
            channel,
            consumer,
        }
    }

    fn run(&self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.channel
                .basic_publish(
                    "",
                    QUEUE,
                    BasicPublishOptions::default(),
                    Bytes::copy_from_slice(BODY),
                    BasicProperties::default(),
                )
                .expect("basic_publish");
            let d = self
                .consumer
                .try_recv()
                .expect("try_recv")
                .expect("the message just published is waiting");
            assert_eq!(d.body().len(), BODY.len());
            black_box(d.body().as_ptr());
        }
        start.elapsed()
    }

    fn check_empty(&self) {
        // No message ready, the one consumer still there.
        assert_eq!(self.broker.queue_counts(QUEUE), Some((0, 1)), "rust queue");
    }
}

/// The C side: the same through handles.
struct CPipe {
    broker: *mut warren_broker,
    connection: *mut warren_connection,
    channel: *mut warren_channel,
    consumer: *mut warren_consumer,
}

impl CPipe {
    fn new() -> CPipe {
        let mut pipe = CPipe {
            broker: std::ptr::null_mut(),
            connection: std::ptr::null_mut(),
            channel: std::ptr::null_mut(),
            consumer: std::ptr::null_mut(),
        };
        // SAFETY: each output is a writable handle pointer; each handle passed in came from
        // the call before and is live; the queue name is `QUEUE.len()` readable bytes; the
        // arguments are NULL (none); the other outputs are NULL (not wanted), with a NULL
        // `name_buf` of capacity 0.
        unsafe {
            check(warren_broker_new(&mut pipe.broker), "warren_broker_new");
            check(
                warren_broker_connect(pipe.broker, &mut pipe.connection),
                "warren_broker_connect",
            );
            check(
                warren_connection_create_channel(pipe.connection, &mut pipe.channel),
                "warren_connection_create_channel",
            );
            check(
                warren_channel_queue_declare(
                    pipe.channel,
                    QUEUE.as_ptr(),
                    QUEUE.len(),
                    WARREN_QUEUE_AUTO_DELETE,
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                ),
                "warren_channel_queue_declare",
            );
            check(
                warren_channel_basic_consume(
                    pipe.channel,
                    QUEUE.as_ptr(),
                    QUEUE.len(),
                    std::ptr::null(),
                    0,
                    true,
                    false,
                    std::ptr::null(),
                    &mut pipe.consumer,
                ),
                "warren_channel_basic_consume",
            );
        }
        pipe
    }

    fn run(&self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let mut queues = 0;
            let mut d: *mut warren_delivery = std::ptr::null_mut();
            let (mut ptr, mut len) = (std::ptr::null(), 0);
            // SAFETY: the handles are live (`CPipe::new`); the exchange is (NULL, 0), the
            // routing key and body are readable for their lengths; `properties` is NULL; each
            // output is writable; `d` is a live delivery from the receive, freed once, and the
            // body pointer is not used after that.
            unsafe {
                let s = warren_channel_basic_publish(
                    self.channel,
                    std::ptr::null(),
                    0,
                    QUEUE.as_ptr(),
                    QUEUE.len(),
                    BODY.as_ptr(),
                    BODY.len(),
                    std::ptr::null(),
                    false,
                    &mut queues,
                );
                if s != WARREN_STATUS_OK {
                    check(s, "warren_channel_basic_publish");
                }
                let s = warren_consumer_recv(self.consumer, 0, &mut d);
                if s != WARREN_STATUS_OK {
                    check(
                        s,
                        "warren_consumer_recv: the message just published is waiting",
                    );
                }
                let s = warren_delivery_body(d, &mut ptr, &mut len);
                if s != WARREN_STATUS_OK {
                    check(s, "warren_delivery_body");
                }
                assert_eq!(len, BODY.len());
                black_box(ptr);
                warren_delivery_free(d);
            }
            assert_eq!(queues, 1, "the publish reached the queue");
        }
        start.elapsed()
    }

    fn check_empty(&self) {
        let mut d: *mut warren_delivery = std::ptr::null_mut();
        // SAFETY: the consumer is live; `d` is writable.
        let s = unsafe { warren_consumer_recv(self.consumer, 0, &mut d) };
        assert_ne!(s, WARREN_STATUS_OK, "c queue: a delivery left over");
    }
}

impl Drop for CPipe {
    fn drop(&mut self) {
        // SAFETY: each handle came from its `_new` or creating call in `CPipe::new` and is not
        // used after this; handles may be freed in any order.
        unsafe {
            warren_consumer_free(self.consumer);
            warren_channel_free(self.channel);
            warren_connection_free(self.connection);
            warren_broker_free(self.broker);
        }
    }
}

// ----- the rig -----

struct Rig {
    route: Route,
    rust: RustPipe,
    c: CPipe,
}

impl Rig {
    fn run(&mut self, case: Case, iters: u64) -> Duration {
        match case {
            Case::RouteRust => self.route.run_rust(iters),
            Case::RouteC => self.route.run_c(iters),
            Case::PubConRust => self.rust.run(iters),
            Case::PubConC => self.c.run(iters),
        }
    }
}

fn bench_ffi(c: &mut Criterion, rig: &mut Rig) {
    let mut g = c.benchmark_group("ffi");
    g.throughput(Throughput::Elements(1));
    for case in Case::ALL {
        g.bench_function(BenchmarkId::new(case.workload(), case.side()), |b| {
            b.iter_custom(|iters| {
                let t = rig.run(case, iters);
                tally(case, iters, t);
                t
            })
        });
    }
    g.finish();
}

fn verdict(ratio: f64) -> &'static str {
    if ratio <= GOAL {
        "met"
    } else {
        "MISSED"
    }
}

/// The time and goal lines from this run's criterion tallies.
fn print_ratios() {
    println!("\nffi: this run's time per operation (timed seconds over every criterion call):");
    for case in Case::ALL {
        if let Some(ns) = tallied_ns(case) {
            println!("  {:<28} {ns:>9.1} ns", case.name());
        }
    }
    for (c_case, rust_case) in PAIRS {
        if let (Some(c), Some(r)) = (tallied_ns(c_case), tallied_ns(rust_case)) {
            let ratio = c / r;
            println!(
                "  {} / {} = {ratio:.2}x (goal ffi overhead <= 10 %, <= {GOAL:.2}x: {})",
                c_case.name(),
                rust_case.name(),
                verdict(ratio)
            );
        }
    }
}

/// Each ratio measured paired (see the module docs).
fn paired_ratios(rig: &mut Rig, rounds: usize, slice: Duration) {
    println!(
        "\nffi: paired ratios ({rounds} rounds; per round about {} ms of each side, alternating \
         which goes first):",
        slice.as_millis()
    );
    for (c_case, rust_case) in PAIRS {
        if tallied_ns(c_case).is_none() || tallied_ns(rust_case).is_none() {
            // Left out by a criterion filter.
            continue;
        }
        let sides = [rust_case, c_case];
        let mut iters = [1u64; 2];
        for (side, case) in sides.iter().enumerate() {
            let t = rig.run(*case, 1_000);
            iters[side] = whole(1_000.0 * slice.as_secs_f64() / t.as_secs_f64().max(1e-9)).max(1);
        }
        let mut totals = [(0u64, Duration::ZERO); 2];
        let mut ratios = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut ns = [0.0f64; 2];
            for side in order {
                let t = rig.run(sides[side], iters[side]);
                totals[side].0 += iters[side];
                totals[side].1 += t;
                ns[side] = ns_per_op(iters[side], t);
            }
            ratios.push(ns[1] / ns[0]);
        }
        ratios.sort_by(f64::total_cmp);
        let median = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
        let (r, c) = (
            ns_per_op(totals[0].0, totals[0].1),
            ns_per_op(totals[1].0, totals[1].1),
        );
        println!(
            "  {} / {} = {median:.2}x median of rounds ({:.2}x..{:.2}x), {:.2}x overall \
             ({c:.1} vs {r:.1} ns) (goal ffi overhead <= 10 %, <= {GOAL:.2}x: {})",
            c_case.name(),
            rust_case.name(),
            ratios.first().copied().unwrap_or(f64::NAN),
            ratios.last().copied().unwrap_or(f64::NAN),
            c / r,
            verdict(median)
        );
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let test = args.iter().any(|a| a == "--test");
    let mut rig = Rig {
        route: Route::new(),
        rust: RustPipe::new(),
        c: CPipe::new(),
    };
    // What `criterion_group!` and `criterion_main!` expand to, minus their undocumented `pub fn`.
    let mut c = config().configure_from_args();
    bench_ffi(&mut c, &mut rig);
    c.final_summary();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    print_ratios();
    if test {
        paired_ratios(&mut rig, 2, Duration::from_millis(1));
    } else {
        paired_ratios(&mut rig, PAIRED_ROUNDS, PAIRED_SLICE);
    }
    rig.rust.check_empty();
    rig.c.check_empty();
}
