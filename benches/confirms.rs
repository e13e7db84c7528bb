//! Publisher-confirm benchmarks: tutorial 7's three strategies on a durable broker, each beside
//! its baseline in the same run and on the same file system (STYLE 13): raw appends and
//! `fdatasync`s of records the size of the broker's log record for one message.
//!
//! Every message is the same 64 static bytes (the RabbitMQ anchor's body size), persistent,
//! published to the default exchange and one durable queue (`confirms`) with no consumer, as
//! the anchor's confirms scenario does.
//!
//! Group `confirms`, named by strategy:
//!
//! - `raw_sync_1` (baseline of `individual`): `write_all` of one record, then `sync_data`, per
//!   message. The record is as long as the broker's log record for one message (measured at
//!   start-up from the store's `appended_bytes`, printed). The file rolls, untimed, at 64 MiB
//!   (the store's default segment size), so both grow a file the same way.
//! - `individual`: publish one message, then `wait_for_confirms_or_die`. One iteration is one
//!   message.
//! - `raw_sync_100` (baseline of `batch_100` and `async`): 100 records, one `write_all` each,
//!   then one `sync_data`. `raw_sync_100_one_write` does the same with a single `write_all` of
//!   the 100 records (what group commit can at best do), for reference.
//! - `batch_100`: 100 publishes, then `wait_for_confirms` (which must say all were acked). One
//!   iteration is 100 messages.
//! - `async`: an `on_confirm` listener tracks the outcomes (a watermark under which every
//!   number is settled plus the out-of-order numbers above it, so `multiple` reports count
//!   exactly what they cover); the publisher keeps at most 1,000 confirms outstanding (the
//!   anchor's window), waiting on a condvar when the window is full. One iteration is 1,000
//!   messages; a sample waits until every confirm it caused has arrived, so none is
//!   outstanding across samples.
//!
//! Between samples (untimed), the queue is purged (`queue_purge` must return exactly the
//! messages the sample published, all acked: a lost message fails the bench) and the store is
//! flushed (a durable queue declared and deleted, each waiting for its sync), so a sample never
//! pays for the previous one's settle record and the queue never grows past one sample.
//!
//! After criterion, this binary prints each strategy's rate and its ratio to its baseline,
//! both from this run: messages over the time timed in every call of that benchmark (warm-up
//! included), so they track criterion's `thrpt` lines. The cases run one after another, so on a
//! machine where other work moves the fsync latency (on a shared ext4 the journal commit an
//! appending `fdatasync` waits for carries every file's metadata, and in `data=ordered` mode
//! their dirty data too) these ratios drift with it. The *paired* ratios that follow do not:
//! 20 rounds, each running the baseline and the strategy for about 150 ms, alternating which
//! goes first, reported as the median of the per-round ratios (and the ratio of the totals);
//! pairs a criterion filter left out are skipped. Last, the store's fsyncs per 100 messages of
//! each strategy (each fsync is a disk round trip: where the time goes).
//!
//! The goals: `individual` ≥ 0.8 × `raw_sync_1`, `batch_100` and `async` ≥ 0.8 ×
//! `raw_sync_100`. The RabbitMQ anchor (`shared/anchors/rabbitmq`, loopback, whole machine)
//! measured 1,183 / 8,405 / 11,720 msg/s.
//!
//! Then two measurements outside criterion, each on its own fresh data directory (skipped with
//! `WARREN_BENCH_ONEOFF=0`):
//!
//! - Write amplification: 50,000 messages by the async strategy; bytes the store wrote to its
//!   files over body bytes, beside the record bytes per message, the fsyncs, and the bytes of
//!   page cache the process dirtied (`/proc/self/io` `write_bytes`: whole 4 KiB pages, what
//!   the device is asked to write, file-system journal excluded).
//! - Recovery: a 256 MiB log of 4 KiB persistent messages, left unacked in a durable queue,
//!   closed cleanly; then `Broker::open` is timed three times: first (which also grows the
//!   heap to hold the bodies), again with the log in the page cache (warm), and after
//!   evicting its files from it (`posix_fadvise(DONTNEED)`, cold; Linux only), each reported
//!   as MiB/s and seconds per GiB of log.
//!
//! # Data directory
//!
//! A temporary directory under `target/tmp` (a real disk in a normal checkout, not tmpfs),
//! removed at the end; `WARREN_BENCH_DIR=<dir>` puts it elsewhere (a subdirectory per run, also
//! removed). The file system is printed once.
//!
//! `cargo bench --bench confirms -- --test` runs every case once and shrinks the one-off
//! measurements (2,000 messages; an 8 MiB log), so CI stays quick.

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Release};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use warren::broker::{BasicPublishOptions, Confirm, QueueDeclareOptions, QueueDeleteOptions};
use warren::message::FieldTable;
use warren::{BasicProperties, Broker, Channel, Publish};

/// Every body of the timed groups: 64 bytes, static (cloning the `Bytes` copies nothing).
const BODY: &[u8; 64] = b"warren-confirms-bench-64-bytes-body-0123456789abcdefghijklmnopqr";
/// The queue every message goes to.
const QUEUE: &str = "confirms";
/// A durable queue declared and deleted to flush the store between samples.
const FLUSH_QUEUE: &str = "confirms.flush";
/// Messages per iteration of `batch_100` and `raw_sync_100`.
const BATCH: u64 = 100;
/// Messages per iteration of `async`.
const ASYNC_ITER: u64 = 1_000;
/// At most this many confirms outstanding in `async` (the anchor's window).
const WINDOW: u64 = 1_000;
/// The raw baseline's file rolls at this size, as the store's segments do by default.
const RAW_SEGMENT: u64 = 64 << 20;
/// Longest wait for a confirm: past it the bench panics (a lost confirm or a hang).
const STALL: Duration = Duration::from_secs(30);
/// Messages of the write-amplification run (and in `--test` mode).
const WA_MESSAGES: u64 = 50_000;
const WA_MESSAGES_TEST: u64 = 2_000;
/// Body of the recovery run's messages.
const RECOVERY_BODY: usize = 4096;
/// Log bytes the recovery run builds (and in `--test` mode).
const RECOVERY_LOG: u64 = 256 << 20;
const RECOVERY_LOG_TEST: u64 = 8 << 20;
/// Rounds of the paired ratio measurement, and each side's time per round.
const PAIRED_ROUNDS: usize = 20;
const PAIRED_SLICE: Duration = Duration::from_millis(150);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `n` as a float, without an `as` cast (denied crate-wide): exact below 2^53.
fn float(n: u64) -> f64 {
    let hi = u32::try_from(n >> 32).unwrap_or(u32::MAX);
    let lo = u32::try_from(n & 0xffff_ffff).unwrap_or(u32::MAX);
    f64::from(hi) * 4_294_967_296.0 + f64::from(lo)
}

/// `n` with thousands separators.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate rounded to a whole number, with separators.
fn per_sec(rate: f64) -> String {
    thousands(whole(rate.round()))
}

// ----- this run's rates -----

/// Per benchmark: elements and time over every timed call, for the ratio lines.
static TALLY: Mutex<Vec<(&'static str, u64, Duration)>> = Mutex::new(Vec::new());

fn tally(name: &'static str, elements: u64, t: Duration) {
    let mut tally = lock(&TALLY);
    match tally.iter_mut().find(|(n, ..)| *n == name) {
        Some((_, e, d)) => {
            *e += elements;
            *d += t;
        }
        None => tally.push((name, elements, t)),
    }
}

/// Elements per second of benchmark `name` in this run, if it ran.
fn rate(name: &str) -> Option<f64> {
    lock(&TALLY)
        .iter()
        .find(|(n, ..)| *n == name)
        .filter(|(_, _, d)| !d.is_zero())
        .map(|(_, e, d)| float(*e) / d.as_secs_f64())
}

// ----- the data directory -----

/// Where the bench writes: a fresh directory, removed on drop.
struct BenchDir {
    path: PathBuf,
}

impl BenchDir {
    fn new() -> BenchDir {
        let parent = std::env::var_os("WARREN_BENCH_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
        fs::create_dir_all(&parent)
            .unwrap_or_else(|e| panic!("creating '{}': {e}", parent.display()));
        let dir = tempfile::Builder::new()
            .prefix("warren-confirms-")
            .tempdir_in(&parent)
            .unwrap_or_else(|e| panic!("a directory in '{}': {e}", parent.display()));
        BenchDir {
            // Kept until `drop`, which removes it.
            path: dir.keep(),
        }
    }

    fn sub(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The file system holding `path`: type, source and mount point, from `/proc/self/mountinfo`
/// (the longest mount point that is a prefix of the path).
fn file_system(path: &Path) -> String {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return "an unknown file system (no /proc/self/mountinfo)".into();
    };
    let mut best: Option<(PathBuf, String, String)> = None;
    for line in info.lines() {
        // `id parent major:minor root mount-point options [optional...] - type source super`
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(mount), Some(kind), Some(source)) =
            (fields.get(4), fields.get(dash + 1), fields.get(dash + 2))
        else {
            continue;
        };
        let mount = PathBuf::from(mount.replace("\\040", " "));
        let longer = best
            .as_ref()
            .is_none_or(|(m, ..)| mount.components().count() >= m.components().count());
        if path.starts_with(&mount) && longer {
            best = Some((mount, (*kind).to_string(), (*source).to_string()));
        }
    }
    match best {
        Some((mount, kind, source)) => {
            let warn = if matches!(kind.as_str(), "tmpfs" | "ramfs") {
                " (WARNING: memory, not a disk: fsync costs nothing here)"
            } else {
                ""
            };
            format!("{kind} ({source}, mounted at {}){warn}", mount.display())
        }
        None => "an unknown file system".into(),
    }
}

// ----- the raw baseline -----

/// An append-only file written with `write_all` and synced with `sync_data`.
struct RawLog {
    dir: PathBuf,
    no: u64,
    file: File,
    len: u64,
    /// One record: as long as the broker's log record for one message.
    record: Vec<u8>,
    /// `BATCH` records, for the single-write variant.
    records: Vec<u8>,
}

impl RawLog {
    fn new(dir: PathBuf, record_len: usize) -> RawLog {
        fs::create_dir_all(&dir).expect("creating the raw log directory");
        let record = vec![0x5a; record_len];
        let records = record.repeat(usize::try_from(BATCH).expect("fits"));
        let file = RawLog::create(&dir, 1);
        RawLog {
            dir,
            no: 1,
            file,
            len: 0,
            record,
            records,
        }
    }

    fn path(dir: &Path, no: u64) -> PathBuf {
        dir.join(format!("{no:08}.raw"))
    }

    fn create(dir: &Path, no: u64) -> File {
        let path = RawLog::path(dir, no);
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("creating '{}': {e}", path.display()))
    }

    /// `records` appends of one record each, then one `sync_data`.
    fn append_sync(&mut self, records: u64) {
        for _ in 0..records {
            self.file.write_all(&self.record).expect("raw append");
        }
        self.file.sync_data().expect("raw fdatasync");
        self.len += records * u64::try_from(self.record.len()).expect("fits");
    }

    /// One append of `BATCH` records, then one `sync_data`.
    fn append_batch_sync(&mut self) {
        self.file.write_all(&self.records).expect("raw append");
        self.file.sync_data().expect("raw fdatasync");
        self.len += u64::try_from(self.records.len()).expect("fits");
    }

    /// Starts a new file once this one holds [`RAW_SEGMENT`] bytes (untimed), deleting the
    /// old one.
    fn roll_if_full(&mut self) {
        if self.len < RAW_SEGMENT {
            return;
        }
        self.no += 1;
        self.file = RawLog::create(&self.dir, self.no);
        self.len = 0;
        let _ = fs::remove_file(RawLog::path(&self.dir, self.no - 1));
    }
}

// ----- the broker side -----

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn persistent() -> BasicProperties {
    BasicProperties::default().persistent()
}

/// Publishes `body` persistent to [`QUEUE`]; panics unless it reached that one queue.
fn publish(ch: &Channel, body: &Bytes) {
    match ch.basic_publish(
        "",
        QUEUE,
        BasicPublishOptions::default(),
        body.clone(),
        persistent(),
    ) {
        Ok(Publish::Routed { queues: 1 }) => {}
        Ok(other) => panic!("publish to '{QUEUE}': {other:?}"),
        Err(e) => panic!("publish to '{QUEUE}' failed: {}", e.error),
    }
}

/// A confirming channel on `broker` with [`QUEUE`] declared durable.
fn confirming_channel(broker: &Broker) -> Channel {
    let ch = broker.connect().create_channel().expect("create_channel");
    ch.queue_declare(QUEUE, durable(), &FieldTable::new())
        .expect("queue_declare");
    ch.confirm_select().expect("confirm_select");
    ch
}

/// Purges [`QUEUE`], which must hold exactly `published` messages, then flushes the store:
/// a durable declare and delete each return once their record is synced, and one sync covers
/// every earlier record (the purge's settle record included).
fn settle(ch: &Channel, published: u64) {
    let purged = ch.queue_purge(QUEUE).expect("queue_purge");
    assert_eq!(
        u64::from(purged),
        published,
        "the queue holds every message the sample published"
    );
    ch.queue_declare(FLUSH_QUEUE, durable(), &FieldTable::new())
        .expect("flush: declare");
    ch.queue_delete(FLUSH_QUEUE, QueueDeleteOptions::default())
        .expect("flush: delete");
}

/// The async strategy's confirm tracking, fed by the channel's `on_confirm` listener.
#[derive(Default)]
struct Tracker {
    state: Mutex<Track>,
    /// Signalled after every report.
    changed: Condvar,
    /// `acked + nacked`, readable without the lock (written under it).
    settled: AtomicU64,
}

#[derive(Default)]
struct Track {
    /// Every number up to this one has its outcome.
    below: u64,
    /// Numbers above `below` with their outcome (reported out of order).
    above: BTreeSet<u64>,
    acked: u64,
    nacked: u64,
}

impl Tracker {
    /// The listener's body: counts the numbers a report covers (SEMANTICS C4: with `multiple`,
    /// every number up to `seq` not reported before).
    fn report(&self, c: Confirm) {
        let seq = c.seq.get();
        let mut t = lock(&self.state);
        let covered = if c.multiple {
            let before = u64::try_from(t.above.range(..=seq).count()).expect("fits");
            let n = seq.saturating_sub(t.below) - before;
            t.above = t.above.split_off(&(seq + 1));
            t.below = t.below.max(seq);
            n
        } else {
            let fresh = seq > t.below && t.above.insert(seq);
            assert!(fresh, "confirm {seq} reported twice");
            1
        };
        while t.above.first() == Some(&(t.below + 1)) {
            t.above.pop_first();
            t.below += 1;
        }
        if c.ack {
            t.acked += covered;
        } else {
            t.nacked += covered;
        }
        let settled = t.acked + t.nacked;
        debug_assert_eq!(
            settled,
            t.below + u64::try_from(t.above.len()).expect("fits")
        );
        self.settled.store(settled, Release);
        drop(t);
        self.changed.notify_all();
    }

    /// Blocks until at least `n` numbers have their outcome; panics after [`STALL`] without
    /// progress.
    fn wait_settled(&self, n: u64) {
        if self.settled.load(Acquire) >= n {
            return;
        }
        let mut t = lock(&self.state);
        let mut last = (t.acked + t.nacked, Instant::now());
        while t.acked + t.nacked < n {
            t = self
                .changed
                .wait_timeout(t, STALL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            let now = t.acked + t.nacked;
            if now != last.0 {
                last = (now, Instant::now());
            }
            assert!(
                last.1.elapsed() < STALL,
                "async: {now} of {n} confirms after {STALL:?} without progress"
            );
        }
    }

    fn nacked(&self) -> u64 {
        lock(&self.state).nacked
    }
}

/// A confirming channel whose listener feeds a fresh [`Tracker`].
fn async_channel(broker: &Broker) -> (Channel, Arc<Tracker>) {
    let ch = confirming_channel(broker);
    let tracker = Arc::new(Tracker::default());
    let t = tracker.clone();
    ch.on_confirm(move |c| t.report(c));
    (ch, tracker)
}

/// Publishes `n` messages of `body` on `ch` keeping at most [`WINDOW`] confirms outstanding,
/// and returns once all `n` have their outcome. `ch` must be fed to `tracker` and have no
/// publish without an outcome.
fn publish_async(ch: &Channel, tracker: &Tracker, body: &Bytes, n: u64) {
    let first = ch.next_publish_seq_no().get();
    for seq in first..first + n {
        // Outstanding before this publish: seq - 1 - settled; keep it below WINDOW.
        if seq - 1 - tracker.settled.load(Acquire) >= WINDOW {
            tracker.wait_settled(seq - WINDOW);
        }
        publish(ch, body);
    }
    tracker.wait_settled(first + n - 1);
}

/// The broker's log record bytes for one message of [`BODY`] to [`QUEUE`]: the store's
/// `appended_bytes` over 100 publishes.
fn record_len(broker: &Broker, ch: &Channel) -> usize {
    let before = broker
        .store_stats()
        .expect("a durable broker")
        .appended_bytes;
    let body = Bytes::from_static(BODY);
    for _ in 0..BATCH {
        publish(ch, &body);
    }
    assert!(ch.wait_for_confirms(STALL).expect("wait_for_confirms"));
    let after = broker
        .store_stats()
        .expect("a durable broker")
        .appended_bytes;
    settle(ch, BATCH);
    usize::try_from((after - before) / BATCH).expect("fits")
}

/// One benchmark of group `confirms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    RawSync1,
    Individual,
    RawSync100,
    RawSync100OneWrite,
    Batch100,
    Async,
}

impl Case {
    /// Every case, in run order: each baseline right before what it is compared with.
    const ALL: [Case; 6] = [
        Case::RawSync1,
        Case::Individual,
        Case::RawSync100,
        Case::RawSync100OneWrite,
        Case::Batch100,
        Case::Async,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::RawSync1 => "raw_sync_1",
            Case::Individual => "individual",
            Case::RawSync100 => "raw_sync_100",
            Case::RawSync100OneWrite => "raw_sync_100_one_write",
            Case::Batch100 => "batch_100",
            Case::Async => "async",
        }
    }

    /// Messages per iteration.
    fn per_iter(self) -> u64 {
        match self {
            Case::RawSync1 | Case::Individual => 1,
            Case::RawSync100 | Case::RawSync100OneWrite | Case::Batch100 => BATCH,
            Case::Async => ASYNC_ITER,
        }
    }

    /// The anchor's figure, msg/s.
    fn anchor(self) -> Option<u64> {
        match self {
            Case::Individual => Some(1_183),
            Case::Batch100 => Some(8_405),
            Case::Async => Some(11_720),
            _ => None,
        }
    }
}

/// Each strategy, its baseline, and the least ratio the issue asks for.
const GOALS: [(Case, Case, f64); 3] = [
    (Case::Individual, Case::RawSync1, 0.8),
    (Case::Batch100, Case::RawSync100, 0.8),
    (Case::Async, Case::RawSync100, 0.8),
];

/// The durable broker, its two confirming channels and the raw log the cases run on.
struct Rig {
    broker: Broker,
    /// `individual` and `batch_100`.
    ch: Channel,
    /// `async`, whose listener feeds `tracker`.
    async_ch: Channel,
    tracker: Arc<Tracker>,
    body: Bytes,
    raw: RawLog,
    /// Per broker case: messages published and the store's fsyncs meanwhile, over every run.
    syncs: Vec<(Case, u64, u64)>,
}

impl Rig {
    fn new(dir: &BenchDir) -> Rig {
        let broker = Broker::open(dir.sub("broker")).expect("Broker::open");
        let ch = confirming_channel(&broker);
        let (async_ch, tracker) = async_channel(&broker);
        let rec_len = record_len(&broker, &ch);
        println!(
            "confirms: the log record of one {}-byte message is {rec_len} bytes; the raw \
             baselines write records of that length",
            BODY.len()
        );
        Rig {
            broker,
            ch,
            async_ch,
            tracker,
            body: Bytes::from_static(BODY),
            raw: RawLog::new(dir.sub("raw"), rec_len),
            syncs: Vec::new(),
        }
    }

    /// Runs `iters` iterations of `case`; returns the time they took. Untimed: the raw file's
    /// roll before, the purge and flush after (see the module docs).
    fn run(&mut self, case: Case, iters: u64) -> Duration {
        let syncs_before = self.store_syncs();
        let start = Instant::now();
        match case {
            Case::RawSync1 | Case::RawSync100 | Case::RawSync100OneWrite => {
                self.raw.roll_if_full();
                let start = Instant::now();
                for _ in 0..iters {
                    match case {
                        Case::RawSync100OneWrite => self.raw.append_batch_sync(),
                        _ => self.raw.append_sync(case.per_iter()),
                    }
                }
                return start.elapsed();
            }
            Case::Individual => {
                for _ in 0..iters {
                    publish(&self.ch, &self.body);
                    self.ch
                        .wait_for_confirms_or_die(STALL)
                        .expect("wait_for_confirms_or_die");
                }
            }
            Case::Batch100 => {
                for _ in 0..iters {
                    for _ in 0..BATCH {
                        publish(&self.ch, &self.body);
                    }
                    assert!(
                        self.ch.wait_for_confirms(STALL).expect("wait_for_confirms"),
                        "batch_100: a nack"
                    );
                }
            }
            Case::Async => {
                publish_async(
                    &self.async_ch,
                    &self.tracker,
                    &self.body,
                    iters * ASYNC_ITER,
                );
                assert_eq!(self.tracker.nacked(), 0, "async: a nack");
            }
        }
        let t = start.elapsed();
        let msgs = iters * case.per_iter();
        let syncs = self.store_syncs() - syncs_before;
        match self.syncs.iter_mut().find(|(c, ..)| *c == case) {
            Some((_, m, s)) => {
                *m += msgs;
                *s += syncs;
            }
            None => self.syncs.push((case, msgs, syncs)),
        }
        let ch = match case {
            Case::Async => &self.async_ch,
            _ => &self.ch,
        };
        settle(ch, msgs);
        t
    }

    fn store_syncs(&self) -> u64 {
        self.broker.store_stats().expect("a durable broker").syncs
    }

    /// The fsyncs per 100 messages of each broker case so far (where the time goes: each is a
    /// disk round trip).
    fn print_syncs(&self) {
        let line: Vec<String> = self
            .syncs
            .iter()
            .map(|(c, m, s)| format!("{} {:.2}", c.name(), 100.0 * float(*s) / float((*m).max(1))))
            .collect();
        println!(
            "  store fsyncs per 100 messages (the raw baselines: 100, 1, 1): {}",
            line.join(", ")
        );
    }
}

fn bench_confirms(c: &mut Criterion, rig: &mut Rig) {
    let mut g = c.benchmark_group("confirms");
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    for case in Case::ALL {
        g.throughput(Throughput::Elements(case.per_iter()));
        g.bench_function(case.name(), |b| {
            b.iter_custom(|iters| {
                let t = rig.run(case, iters);
                tally(case.name(), iters * case.per_iter(), t);
                t
            })
        });
    }
    g.finish();
}

/// The rate and goal lines, from this run's criterion tallies.
fn print_ratios() {
    println!(
        "\nconfirms: this run's rates (messages / timed seconds over every criterion call, \
         warm-up included; the cases ran one after another):"
    );
    for case in Case::ALL {
        if let Some(r) = rate(case.name()) {
            let anchor = case
                .anchor()
                .map(|a| format!("   (RabbitMQ anchor {} msg/s)", thousands(a)))
                .unwrap_or_default();
            println!("  {:<24} {:>10} msg/s{anchor}", case.name(), per_sec(r));
        }
    }
    for (case, base, goal) in GOALS {
        if let (Some(r), Some(b)) = (rate(case.name()), rate(base.name())) {
            let ratio = r / b;
            println!(
                "  {} / {} = {ratio:.2}x (goal >= {goal}x: {})",
                case.name(),
                base.name(),
                verdict(ratio, goal)
            );
        }
    }
    for case in [Case::Batch100, Case::Async] {
        if let (Some(r), Some(b)) = (rate(case.name()), rate(Case::RawSync100OneWrite.name())) {
            println!(
                "  {} / raw_sync_100_one_write = {:.2}x (reference)",
                case.name(),
                r / b
            );
        }
    }
}

fn verdict(ratio: f64, goal: f64) -> &'static str {
    if ratio >= goal {
        "met"
    } else {
        "MISSED"
    }
}

/// `x` rounded down to a whole number (0 for NaN or below 0), without an `as` cast: through
/// `Duration`, exact for the rates and counts here (far below 2^53).
fn whole(x: f64) -> u64 {
    if x.is_nan() {
        return 0;
    }
    Duration::from_secs_f64(x.clamp(0.0, 1e15)).as_secs()
}

/// Each goal's ratio measured paired: `rounds` rounds, each running the baseline and the
/// strategy for about `slice` each, in alternating order, so a disk whose fsync latency drifts
/// (other work on the machine) weighs on both sides alike. Prints the median of the per-round
/// ratios and the ratio of the totals.
fn paired_ratios(rig: &mut Rig, rounds: usize, slice: Duration) {
    println!(
        "\nconfirms: paired ratios ({rounds} rounds; per round about {} ms of the baseline and \
         of the strategy, alternating which goes first):",
        slice.as_millis()
    );
    for (case, base, goal) in GOALS {
        if rate(case.name()).is_none() || rate(base.name()).is_none() {
            // Left out by a criterion filter.
            continue;
        }
        let sides = [base, case];
        // One calibration run each, untallied: iterations for about `slice`.
        let mut iters = [1u64; 2];
        for (side, c) in sides.iter().enumerate() {
            let t = rig.run(*c, 1);
            iters[side] = whole(slice.as_secs_f64() / t.as_secs_f64().max(1e-9)).max(1);
        }
        let mut totals = [(0u64, Duration::ZERO); 2];
        let mut ratios = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut rates = [0.0f64; 2];
            for side in order {
                let c = sides[side];
                let t = rig.run(c, iters[side]);
                let msgs = iters[side] * c.per_iter();
                totals[side].0 += msgs;
                totals[side].1 += t;
                rates[side] = float(msgs) / t.as_secs_f64().max(1e-9);
                let next = float(iters[side]) * slice.as_secs_f64() / t.as_secs_f64().max(1e-9);
                iters[side] = whole(next).max(1);
            }
            ratios.push(rates[1] / rates[0]);
        }
        ratios.sort_by(f64::total_cmp);
        let median = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
        let total_rate = |(m, t): (u64, Duration)| float(m) / t.as_secs_f64().max(1e-9);
        let (b, s) = (total_rate(totals[0]), total_rate(totals[1]));
        println!(
            "  {} / {} = {median:.2}x median of rounds ({:.2}x..{:.2}x), {:.2}x overall \
             ({} vs {} msg/s) (goal >= {goal}x: {})",
            case.name(),
            base.name(),
            ratios.first().copied().unwrap_or(f64::NAN),
            ratios.last().copied().unwrap_or(f64::NAN),
            s / b,
            per_sec(s),
            per_sec(b),
            verdict(median, goal)
        );
    }
}

// ----- one-off measurements -----

/// This process's `write_bytes` from `/proc/self/io`: bytes of page cache it dirtied.
fn io_write_bytes() -> Option<u64> {
    let io = fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
}

/// Write amplification of the async strategy over `n` messages on a fresh store.
fn write_amplification(dir: &BenchDir, n: u64) {
    let broker = Broker::open(dir.sub("write-amplification")).expect("Broker::open");
    let (ch, tracker) = async_channel(&broker);
    let body = Bytes::from_static(BODY);
    let stats = || broker.store_stats().expect("a durable broker");
    let (s0, io0) = (stats(), io_write_bytes());
    publish_async(&ch, &tracker, &body, n);
    let (s1, io1) = (stats(), io_write_bytes());
    assert_eq!(tracker.nacked(), 0, "write amplification: a nack");
    assert_eq!(
        broker.queue_counts(QUEUE),
        Some((usize::try_from(n).expect("fits"), 0))
    );
    settle(&ch, n);
    let s2 = stats();

    let payload = float(n) * float(u64::try_from(BODY.len()).expect("fits"));
    let written = s1.written_bytes - s0.written_bytes;
    let syncs = s1.syncs - s0.syncs;
    println!(
        "\nwrite amplification (async, window {WINDOW}, {} persistent {}-byte messages): the \
         store wrote {} bytes = {:.2}x the body bytes ({:.1} bytes per message; {} fsyncs, \
         {:.1} messages per fsync)",
        thousands(n),
        BODY.len(),
        thousands(written),
        float(written) / payload,
        float(written) / float(n),
        thousands(syncs),
        float(n) / float(syncs.max(1)),
    );
    if let (Some(a), Some(b)) = (io0, io1) {
        let dirtied = b.saturating_sub(a);
        println!(
            "  page cache dirtied (/proc/self/io write_bytes, whole pages): {} bytes = {:.2}x \
             the body bytes",
            thousands(dirtied),
            float(dirtied) / payload
        );
    }
    println!(
        "  settling them (queue_purge) then appended {} bytes ({:.2} per message)",
        thousands(s2.appended_bytes - s1.appended_bytes),
        float(s2.appended_bytes - s1.appended_bytes) / float(n)
    );
    broker.close();
}

/// Drops `path`'s pages from the page cache (they are clean after a clean close).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn evict(path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    extern "C" {
        // glibc and musl, LP64: off_t is 64-bit.
        fn posix_fadvise(fd: i32, offset: i64, len: i64, advice: i32) -> i32;
    }
    const POSIX_FADV_DONTNEED: i32 = 4;
    let Ok(f) = File::open(path) else {
        return false;
    };
    // SAFETY: `posix_fadvise` takes plain integers; the descriptor is `f`'s, open for the whole
    // call (`f` lives to the end of this function), and length 0 means "to the end of file".
    unsafe { posix_fadvise(f.as_raw_fd(), 0, 0, POSIX_FADV_DONTNEED) == 0 }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn evict(_path: &Path) -> bool {
    false
}

/// Times `Broker::open` on `dir`, which must recover `messages` ready messages in [`QUEUE`].
fn timed_open(dir: &Path, messages: u64) -> (Duration, u64, Duration) {
    let start = Instant::now();
    let broker = Broker::open(dir).expect("Broker::open");
    let t = start.elapsed();
    let report = broker.recovery().expect("a durable broker").clone();
    assert!(report.clean, "the log was closed cleanly: {report:?}");
    assert_eq!(report.bytes_dropped, 0, "{report:?}");
    assert_eq!(
        broker.queue_counts(QUEUE),
        Some((usize::try_from(messages).expect("fits"), 0)),
        "every message recovered"
    );
    broker.close();
    (t, report.bytes_read, report.elapsed)
}

/// Recovery time of a log of about `target` bytes of 4 KiB messages.
fn recovery(dir: &BenchDir, target: u64) {
    let path = dir.sub("recovery");
    let body = Bytes::from(
        (0..RECOVERY_BODY)
            .map(|i| u8::try_from(i % 251).expect("fits"))
            .collect::<Vec<u8>>(),
    );
    let mut messages = 0;
    {
        let broker = Broker::open(&path).expect("Broker::open");
        let (ch, tracker) = async_channel(&broker);
        while broker.store_stats().expect("durable").appended_bytes < target {
            publish_async(&ch, &tracker, &body, ASYNC_ITER);
            messages += ASYNC_ITER;
        }
        assert_eq!(tracker.nacked(), 0, "recovery: a nack");
        broker.close();
    }
    let log_bytes: u64 = fs::read_dir(&path)
        .expect("read_dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "wlog"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let mib = |b: u64| float(b) / float(1 << 20);
    println!(
        "\nrecovery: {} persistent {}-byte messages in a durable queue, unacked; log {:.1} MiB",
        thousands(messages),
        RECOVERY_BODY,
        mib(log_bytes)
    );
    let line = |what: &str, (t, read, inner): (Duration, u64, Duration)| {
        let secs = t.as_secs_f64();
        println!(
            "  {what}: Broker::open {:.3} s for {:.1} MiB read = {:.0} MiB/s, {:.2} s per GiB of \
             log (the store's own recovery: {:.3} s)",
            secs,
            mib(read),
            mib(read) / secs,
            secs * float(1 << 30) / float(read.max(1)),
            inner.as_secs_f64()
        );
    };
    // The first open after the log was built also grows this process's heap to hold every
    // body (page faults the later opens do not pay: the allocator keeps the freed memory), so
    // it is reported apart.
    line(
        "first open (log in the page cache)",
        timed_open(&path, messages),
    );
    line("warm (log in the page cache)", timed_open(&path, messages));
    let files: Vec<PathBuf> = fs::read_dir(&path)
        .expect("read_dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wlog"))
        .collect();
    if files.iter().all(|f| evict(f)) {
        line(
            "cold (its pages evicted with posix_fadvise DONTNEED)",
            timed_open(&path, messages),
        );
    } else {
        println!("  cold: SKIPPED (cannot evict the log from the page cache on this system)");
    }
}

// ----- main -----

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        // Criterion lists the benchmarks without running them: no disk needed.
        let mut c = config().configure_from_args();
        let mut g = c.benchmark_group("confirms");
        for case in Case::ALL {
            g.bench_function(case.name(), |b| b.iter(|| ()));
        }
        g.finish();
        return;
    }
    let test = args.iter().any(|a| a == "--test");
    let dir = BenchDir::new();
    println!(
        "confirms: data directory {} on {}",
        dir.path.display(),
        file_system(&dir.path)
    );
    let mut rig = Rig::new(&dir);
    // What `criterion_group!` and `criterion_main!` expand to, minus their undocumented `pub fn`.
    let mut c = config().configure_from_args();
    bench_confirms(&mut c, &mut rig);
    c.final_summary();
    print_ratios();
    rig.print_syncs();
    if test {
        paired_ratios(&mut rig, 2, Duration::from_millis(1));
    } else {
        paired_ratios(&mut rig, PAIRED_ROUNDS, PAIRED_SLICE);
    }
    rig.broker.close();
    drop(rig);
    if std::env::var_os("WARREN_BENCH_ONEOFF").is_some_and(|v| v == "0") {
        return;
    }
    write_amplification(&dir, if test { WA_MESSAGES_TEST } else { WA_MESSAGES });
    let log = if test {
        RECOVERY_LOG_TEST
    } else {
        RECOVERY_LOG
    };
    recovery(&dir, log);
}
