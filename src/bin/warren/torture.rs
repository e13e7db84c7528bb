//! `warren torture`: a crash test of the durable store (SEMANTICS S and C).
//!
//! Each trial runs a child process (this binary's hidden `torture-child` subcommand) that
//! opens the data directory and works it as hard as it can, kills it with SIGKILL after a
//! random delay, reopens the directory in this process and checks what recovery kept. One
//! trial in four runs two children in a row, so a child also recovers a crashed log (perhaps
//! cut) and is killed in turn before the parent looks.
//!
//! # The child
//!
//! It declares durable queues `torture.a` and `torture.b` and a durable direct exchange
//! `torture.x` bound to `a` with keys `a` and `both`, to `b` with `b` and `both`. Each child
//! has a number, its *generation*; its message `n` (from 1) has the body `g-n`, then a space
//! and up to 4 KiB of padding (so 64 KiB segments roll and compaction runs), and goes, by
//! `n % 3`, to both queues (`torture.x`, key `both`), to `a` (the default exchange) or to `b`
//! (`torture.x`, key `b`): [`routes`]. It publishes persistent messages in confirm mode as
//! fast as it can, mixing the strategies of SEMANTICS C5: runs without waiting (the
//! `on_confirm` listener reports them), batches closed by `wait_for_confirms`, single
//! publishes with `wait_for_confirms_or_die`, and publishes with a `Confirmation` handle each.
//! Every path that learns of an ack announces the message on stdout (`C g-n`), so each is held
//! to the promise that an ack means durable; nacked ones are only counted (`N g-n`). One
//! consumer per queue (manual ack, prefetch 50), in bursts with pauses so the queues fill up,
//! acks about half of what it gets, discards a few (reject without requeue), requeues some and
//! holds the rest unacked. It announces `A q g-n` **before** it settles a message away, so a
//! message that is gone was always announced. Lines are written and flushed whole: what
//! reached the pipe survives the kill, what was still buffered is simply not checked. It also
//! reports the store's compaction counters now and then (`S carried deleted`, for --verbose).
//!
//! # The checks, after each kill
//!
//! The parent reopens the directory (an error is a *recovery failure*) and takes every message
//! of both queues with `basic_get`. For each queue:
//!
//! * **lost**: a message confirmed in this trial and routed to the queue, or kept there at the
//!   end of the previous trial, is missing although nobody announced settling it there
//!   (SEMANTICS S4, C2);
//! * **duplicated**: a message is there twice;
//! * **not-redelivered**: a message comes back with `redelivered = false`: after this unclean
//!   stop every recovered message must be flagged (S3), and the older ones were all delivered
//!   before anyway;
//! * **out-of-order**: the queue is not in publish order: one publisher at a time, and a
//!   requeued message regains its place (S2, A5);
//! * **unexpected**: a message that cannot be there: routed to the other queue only, or from an
//!   earlier trial but settled by the parent, which closed cleanly since;
//! * **topology-lost**: a queue or the exchange is missing once a child had declared them.
//!
//! Then the parent keeps a random part of each queue (nack with requeue, at most
//! [`KEEP_MAX`] a queue) and acks the rest, and closes the broker cleanly, so the next trial
//! starts from a clean log that it crashes again. Every `--clean-every` trials (10) and after
//! the last one it also reopens right after that clean close: the report must say `clean`,
//! count exactly the kept messages, which must all be there in order and keep their
//! `redelivered` flags (S3). A failure there counts as *inconsistent*, like a recovery report
//! whose message count differs from the distinct messages found after a kill.
//!
//! The run stops after the first trial with a failure. Before each reopen the parent reads the
//! directory into memory; on a failure it writes those copies beside the directory:
//! `DIR.fail-T` as the kill left it, `DIR.fail-T-before-last-child` before a second child,
//! `DIR.fail-T-closed` as the parent's clean close left it.
//!
//! Randomness is a splitmix64 generator seeded by `--seed`: the kill delays, the child's
//! strategies and the parent's choices repeat with the seed; the thread timing does not.

use crate::{CliError, TortureArgs, TortureChildArgs};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use warren::broker::{
    BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, Confirm, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use warren::message::FieldTable;
use warren::route::ExchangeType;
use warren::store::{RecoveryReport, StoreOptions};
use warren::{BasicProperties, Broker, BrokerOptions, Channel, Delivery, Error, Publish};

/// Extra help for `warren torture`.
pub(crate) const AFTER_HELP: &str = "\
Each trial starts a child process that publishes persistent messages with confirms to two
durable queues (some to both) while consumers ack, reject, requeue or hold them; kills it with
SIGKILL after a random delay; reopens the data directory and checks that every confirmed
message is still there unless it was settled, that none is duplicated or out of order, that
all come back redelivered, and that recovery never fails. The survivors partly stay for the
next trial; every --clean-every trials (and after the last) a clean close and reopen is checked
too. One trial in four kills two children in a row before checking.

Prints one summary line, `trials N, confirmed C, lost L, duplicated D, ...`, and with
--verbose one line per trial. Exit status: 0 if nothing was lost, duplicated, out of order,
unexpected or inconsistent and every recovery succeeded; 1 otherwise (the crashed directory
is kept as DIR.fail-T*); 2 for a usage or I/O error. The directory's torture.* queues and
exchange are deleted first.";

/// The queues, as the child announces them (`a`, `b`) and as declared.
const QUEUES: [(&str, &str); 2] = [("a", "torture.a"), ("b", "torture.b")];

/// The direct exchange bound to both queues.
const EXCHANGE: &str = "torture.x";

/// The shortest delay before the kill, unless `--max-kill-ms` is shorter.
const MIN_KILL_MS: u64 = 20;

/// The most messages the parent keeps in one queue for the next trial.
const KEEP_MAX: usize = 1_500;

/// How long a child's or the parent's wait for confirms may take before it is a failure.
const CONFIRM_WAIT: Duration = Duration::from_secs(10);

/// How long the child may run past `--max-kill-ms` before it gives up on its own.
const CHILD_GRACE: Duration = Duration::from_secs(20);

/// How long an open waits for the directory's lock, in case the process that held it is still
/// letting go (a handle dropped on another thread a moment after `close`).
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// At most this many failure details are printed per trial.
const DETAILS_MAX: usize = 10;

/// The exit status of a child that gave up (an `E` line says why).
const CHILD_FAILED: i32 = 3;

// ----- shared by both sides -----

/// splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
/// small, fast, and good enough to pick delays and strategies.
struct Rng(u64);

impl Rng {
    /// A generator for stream `stream` of `seed`: each trial and thread gets its own.
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `percent` / 100.
    fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A message's identity: the child (`generation`) that published it, and its number `n`
/// there, from 1. Written `generation-n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Id {
    generation: u32,
    n: u64,
}

impl Id {
    fn parse(s: &str) -> Option<Id> {
        let (t, n) = s.split_once('-')?;
        Some(Id {
            generation: t.parse().ok()?,
            n: n.parse().ok()?,
        })
    }

    /// The id at the start of a body (up to the first space).
    fn from_body(body: &[u8]) -> Option<Id> {
        let end = body.iter().position(|&b| b == b' ').unwrap_or(body.len());
        Id::parse(std::str::from_utf8(&body[..end]).ok()?)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.generation, self.n)
    }
}

/// Which queues message number `n` goes to (indexes into [`QUEUES`]).
fn routes(n: u64) -> [bool; 2] {
    match n % 3 {
        0 => [true, true],
        1 => [true, false],
        _ => [false, true],
    }
}

/// Where message number `n` is published: (exchange, routing key).
fn address(n: u64) -> (&'static str, &'static str) {
    match n % 3 {
        0 => (EXCHANGE, "both"),
        1 => ("", QUEUES[0].1),
        _ => (EXCHANGE, "b"),
    }
}

fn no_args() -> FieldTable {
    FieldTable::new()
}

fn store_options(segment_size: u64) -> StoreOptions {
    StoreOptions::default().with_segment_size(segment_size)
}

/// Opens `dir`, waiting up to [`LOCK_WAIT`] for its lock.
///
/// # Errors
///
/// The open's error, once the lock is free or the wait is over.
fn open(dir: &Path, segment_size: u64) -> Result<Broker, Error> {
    let start = Instant::now();
    loop {
        match Broker::open_with(dir, BrokerOptions::default(), store_options(segment_size)) {
            // The engine's only word for a held lock is its message.
            Err(e) if e.to_string().contains("in use") && start.elapsed() < LOCK_WAIT => {
                thread::sleep(Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

// ----- the child -----

/// Writes whole lines to stdout and flushes them, so each reaches the pipe in one piece; a
/// failed write (the parent went away) ends the process.
fn say(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    let mut out = io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(CHILD_FAILED);
    }
}

/// Announces a failure and ends the child.
fn give_up(what: &str, e: &dyn fmt::Display) -> ! {
    say(&[format!("E {what}: {e}")]);
    std::process::exit(CHILD_FAILED);
}

/// The child: works the directory until it is killed (or fails, or outlives its grace).
pub(crate) fn child(args: &TortureChildArgs) -> ExitCode {
    let deadline = Instant::now() + Duration::from_millis(args.max_kill_ms) + CHILD_GRACE;
    let generation = args.generation;
    let broker = match open(&args.dir, args.segment_size) {
        Ok(b) => b,
        Err(e) => give_up("open", &e),
    };
    let publisher = match broker.connect().create_channel().and_then(|ch| {
        declare(&ch)?;
        Ok(ch)
    }) {
        Ok(ch) => ch,
        Err(e) => give_up("declare", &e),
    };
    let clean = broker.recovery().is_some_and(|r| r.clean);
    say(&[format!(
        "O clean={clean} messages={}",
        broker.recovery().map_or(0, |r| r.messages)
    )]);
    for (i, (short, queue)) in QUEUES.iter().enumerate() {
        let broker = broker.clone();
        let rng = Rng::new(
            args.seed,
            (u64::from(generation) << 8) | (u64::try_from(i).unwrap_or(0) + 1),
        );
        let spawned = thread::Builder::new()
            .name(format!("consumer-{short}"))
            .spawn(move || consume(&broker, short, queue, rng));
        if let Err(e) = spawned {
            give_up("starting a consumer", &e);
        }
    }
    let rng = Rng::new(args.seed, u64::from(generation) << 8);
    if let Err(e) = publish_forever(&broker, &publisher, generation, rng, deadline) {
        give_up("publish", &e);
    }
    say(&["E the kill did not come in time".to_string()]);
    ExitCode::from(4)
}

/// Declares the queues, the exchange and the bindings (all durable; idempotent).
fn declare(ch: &Channel) -> Result<(), Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for (_, queue) in QUEUES {
        ch.queue_declare(queue, durable, &no_args())?;
    }
    ch.exchange_declare(
        EXCHANGE,
        ExchangeType::Direct,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        &no_args(),
    )?;
    for (key, queue) in [
        ("a", QUEUES[0].1),
        ("both", QUEUES[0].1),
        ("b", QUEUES[1].1),
        ("both", QUEUES[1].1),
    ] {
        ch.queue_bind(queue, EXCHANGE, key, &no_args())?;
    }
    Ok(())
}

/// Why the child gave up.
type ChildError = Box<dyn std::error::Error>;

/// Publish numbers waiting for their outcome, by sequence number, for the listener.
type Pending = Arc<Mutex<BTreeMap<u64, u64>>>;

/// Publishes until `deadline`, mixing the confirm strategies of SEMANTICS C5.
fn publish_forever(
    broker: &Broker,
    ch: &Channel,
    generation: u32,
    mut rng: Rng,
    deadline: Instant,
) -> Result<(), ChildError> {
    ch.confirm_select()?;
    let pending: Pending = Arc::new(Mutex::new(BTreeMap::new()));
    {
        let pending = pending.clone();
        ch.on_confirm(move |c: Confirm| {
            let settled: Vec<u64> = {
                let mut p = pending.lock().unwrap_or_else(PoisonError::into_inner);
                if c.multiple {
                    let later = p.split_off(&(c.seq.get() + 1));
                    std::mem::replace(&mut *p, later).into_values().collect()
                } else {
                    p.remove(&c.seq.get()).into_iter().collect()
                }
            };
            let tag = if c.ack { "C" } else { "N" };
            let lines: Vec<String> = settled
                .iter()
                .map(|&n| format!("{tag} {}", Id { generation, n }))
                .collect();
            say(&lines);
        });
    }
    let mut pad = Vec::new();
    let mut next = 0u64;
    let mut body = |rng: &mut Rng| -> (u64, Vec<u8>) {
        next += 1;
        let len = if rng.percent(3) {
            usize::try_from(rng.between(1_000, 4_000)).unwrap_or(0)
        } else {
            usize::try_from(rng.below(300)).unwrap_or(0)
        };
        pad.resize(len, b'x');
        let mut b = format!(
            "{} ",
            Id {
                generation,
                n: next
            }
        )
        .into_bytes();
        b.extend_from_slice(&pad);
        (next, b)
    };
    let persistent = BasicProperties::default().persistent();
    // One publish, tracked for the listener; checks the route.
    let publish = |n: u64, b: Vec<u8>| -> Result<(), ChildError> {
        let seq = ch.next_publish_seq_no().get();
        pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(seq, n);
        let (exchange, key) = address(n);
        let result = ch.basic_publish(
            exchange,
            key,
            BasicPublishOptions::default(),
            b,
            persistent.clone(),
        );
        match result {
            Ok(p) => check_routed(n, &p),
            Err(e) => {
                pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&seq);
                Err(e.error.into())
            }
        }
    };
    let announce = |ids: &[u64]| {
        let lines: Vec<String> = ids
            .iter()
            .map(|&n| format!("C {}", Id { generation, n }))
            .collect();
        say(&lines);
    };
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        rounds += 1;
        if rounds.is_multiple_of(16) {
            if let Some(stats) = broker.store_stats() {
                say(&[format!(
                    "S {} {}",
                    stats.carried_bytes, stats.segments_deleted
                )]);
            }
        }
        match rng.below(4) {
            // A run without waiting: the listener reports each outcome.
            0 => {
                for _ in 0..rng.between(1, 200) {
                    let (n, b) = body(&mut rng);
                    publish(n, b)?;
                }
                let waiting = pending.lock().unwrap_or_else(PoisonError::into_inner).len();
                if waiting > 2_000 {
                    ch.wait_for_confirms(CONFIRM_WAIT)?;
                }
            }
            // A batch, then one wait: all acked means every one of them is safe.
            1 => {
                let mut batch = Vec::new();
                for _ in 0..rng.between(1, 100) {
                    let (n, b) = body(&mut rng);
                    publish(n, b)?;
                    batch.push(n);
                }
                if ch.wait_for_confirms(CONFIRM_WAIT)? {
                    announce(&batch);
                }
            }
            // One at a time, each waited for (a nack or a timeout closes the channel).
            2 => {
                for _ in 0..rng.between(1, 10) {
                    let (n, b) = body(&mut rng);
                    publish(n, b)?;
                    ch.wait_for_confirms_or_die(CONFIRM_WAIT)?;
                    announce(&[n]);
                }
            }
            // Each publish with its own handle, waited for afterwards.
            _ => {
                let mut handles = Vec::new();
                for _ in 0..rng.between(1, 50) {
                    let (n, b) = body(&mut rng);
                    let (exchange, key) = address(n);
                    let seq = ch.next_publish_seq_no().get();
                    pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(seq, n);
                    match ch.basic_publish_with_confirm(
                        exchange,
                        key,
                        BasicPublishOptions::default(),
                        b,
                        persistent.clone(),
                    ) {
                        Ok((p, c)) => {
                            check_routed(n, &p)?;
                            handles.push((n, c));
                        }
                        Err(e) => {
                            pending
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .remove(&seq);
                            return Err(e.error.into());
                        }
                    }
                }
                for (n, c) in handles {
                    if c.wait(CONFIRM_WAIT)? {
                        announce(&[n]);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Fails unless message `n` reached the queues [`routes`] says.
fn check_routed(n: u64, p: &Publish) -> Result<(), ChildError> {
    let want = routes(n).iter().filter(|&&r| r).count();
    match p {
        Publish::Routed { queues } if *queues == want => Ok(()),
        other => Err(format!("message {n} routed as {other:?}, want {want} queues").into()),
    }
}

/// A consumer thread: acks about half of what it gets, discards a few, requeues some and
/// holds the rest unacked (at most 20; the oldest goes back when more come). It works in
/// bursts of up to 60 deliveries with pauses of 2 to 15 ms between them.
fn consume(broker: &Broker, short: &str, queue: &str, mut rng: Rng) {
    let mut run = || -> Result<(), Error> {
        let conn = broker.connect();
        let ch = conn.create_channel()?;
        ch.basic_qos(50, BasicQosOptions::default())?;
        let consumer = ch.basic_consume(queue, "", BasicConsumeOptions::default(), &no_args())?;
        let mut held: VecDeque<Delivery> = VecDeque::new();
        let mut burst = 0;
        loop {
            // Bursts and pauses: slower than the publisher, so the queues fill up.
            if burst == 0 {
                thread::sleep(Duration::from_millis(rng.between(2, 15)));
                burst = rng.between(1, 60);
            }
            burst -= 1;
            let Some(d) = consumer.recv_timeout(Duration::from_millis(100))? else {
                continue;
            };
            let id = Id::from_body(d.body()).map_or_else(
                || String::from_utf8_lossy(d.body()).into_owned(),
                |i| i.to_string(),
            );
            match rng.below(100) {
                0..=44 => {
                    say(&[format!("A {short} {id}")]);
                    d.ack()?;
                }
                45..=49 => {
                    say(&[format!("A {short} {id}")]);
                    d.reject(BasicRejectOptions { requeue: false })?;
                }
                50..=64 => {
                    d.nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })?;
                }
                _ => {
                    held.push_back(d);
                    if held.len() > 20 {
                        if let Some(old) = held.pop_front() {
                            old.nack(BasicNackOptions {
                                requeue: true,
                                ..Default::default()
                            })?;
                        }
                    }
                }
            }
        }
    };
    if let Err(e) = run() {
        give_up(&format!("consumer {short}"), &e);
    }
}

// ----- the parent -----

/// Totals over the run; the failure counters come first.
#[derive(Debug, Default)]
struct Totals {
    trials: u32,
    kills: u32,
    confirmed: u64,
    lost: u64,
    duplicated: u64,
    not_redelivered: u64,
    out_of_order: u64,
    unexpected: u64,
    topology_lost: u64,
    recovery_failures: u64,
    child_errors: u64,
    inconsistent: u64,
    acked: u64,
    nacked: u64,
    recovered: u64,
    cuts: u64,
    clean_checks: u64,
    max_recovery: Duration,
}

impl Totals {
    fn failures(&self) -> u64 {
        self.lost
            + self.duplicated
            + self.not_redelivered
            + self.out_of_order
            + self.unexpected
            + self.topology_lost
            + self.recovery_failures
            + self.child_errors
            + self.inconsistent
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trials {}, confirmed {}, lost {}, duplicated {}, not-redelivered {}, \
             out-of-order {}, unexpected {}, topology-lost {}, recovery-failures {}, \
             child-errors {}, inconsistent {}, kills {}, acked {}, nacked {}, recovered {}, \
             cuts {}, clean-checks {}, max-recovery-ms {}",
            self.trials,
            self.confirmed,
            self.lost,
            self.duplicated,
            self.not_redelivered,
            self.out_of_order,
            self.unexpected,
            self.topology_lost,
            self.recovery_failures,
            self.child_errors,
            self.inconsistent,
            self.kills,
            self.acked,
            self.nacked,
            self.recovered,
            self.cuts,
            self.clean_checks,
            self.max_recovery.as_millis()
        )
    }
}

/// What a child said before it died.
#[derive(Debug, Default)]
struct Said {
    opened: bool,
    confirmed: BTreeSet<Id>,
    nacked: u64,
    /// Settled away, by queue.
    acked: [BTreeSet<Id>; 2],
    acks: u64,
    errors: Vec<String>,
    /// The last message number announced (a lower bound of what was published).
    last: u64,
    /// The last store counters reported: compaction's carried bytes, segments deleted.
    compaction: (u64, u64),
}

impl Said {
    /// Reads the child's lines; a last line without its newline was cut by the kill.
    fn parse(out: &[u8]) -> Said {
        let mut said = Said::default();
        let complete = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for line in String::from_utf8_lossy(&out[..complete]).lines() {
            let mut words = line.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("O"), ..) => said.opened = true,
                (Some("C"), Some(id), None) => {
                    if let Some(id) = Id::parse(id) {
                        said.last = said.last.max(id.n);
                        said.confirmed.insert(id);
                    }
                }
                (Some("N"), Some(_), None) => said.nacked += 1,
                (Some("A"), Some(q), Some(id)) => {
                    let q = QUEUES.iter().position(|(short, _)| *short == q);
                    if let (Some(q), Some(id)) = (q, Id::parse(id)) {
                        said.acked[q].insert(id);
                        said.acks += 1;
                    }
                }
                (Some("S"), Some(carried), Some(deleted)) => {
                    if let (Ok(c), Ok(d)) = (carried.parse(), deleted.parse()) {
                        said.compaction = (c, d);
                    }
                }
                (Some("E"), ..) => said.errors.push(line[2.min(line.len())..].to_string()),
                _ => said.errors.push(format!("unreadable line {line:?}")),
            }
        }
        said
    }

    /// Adds what a later child said.
    fn merge(&mut self, later: Said) {
        self.opened |= later.opened;
        self.confirmed.extend(later.confirmed);
        self.nacked += later.nacked;
        for (mine, theirs) in self.acked.iter_mut().zip(later.acked) {
            mine.extend(theirs);
        }
        self.acks += later.acks;
        self.errors.extend(later.errors);
        self.last = later.last;
        self.compaction.0 += later.compaction.0;
        self.compaction.1 += later.compaction.1;
    }
}

/// One message as the parent took it from a queue.
struct Got {
    id: Option<Id>,
    redelivered: bool,
    delivery: Delivery,
}

/// The parent: the run's state.
struct Torture<'a> {
    args: &'a TortureArgs,
    seed: u64,
    rng: Rng,
    /// What each queue must still hold: kept at the end of the previous trial.
    kept: [BTreeSet<Id>; 2],
    /// Whether a child declared the topology (its `O` line): it must exist from then on.
    declared: bool,
    /// The last child's number: the first part of its message ids.
    generation: u32,
    totals: Totals,
    /// Failure details of the current trial.
    details: Vec<String>,
}

/// Runs `warren torture`.
///
/// # Errors
///
/// An unusable directory, a child that cannot be started, or a failed write to stdout. A
/// failed check is no error: it gives exit status 1.
pub(crate) fn run(args: &TortureArgs) -> Result<ExitCode, CliError> {
    let seed = args.seed.unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        now.as_secs() ^ u64::from(now.subsec_nanos()).rotate_left(32)
    });
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("finding this program to start children: {e}")))?;
    reset(&args.dir, args.segment_size)?;
    let mut t = Torture {
        args,
        seed,
        rng: Rng::new(seed, 0),
        kept: Default::default(),
        declared: false,
        generation: 0,
        totals: Totals::default(),
        details: Vec::new(),
    };
    let mut out = io::stdout().lock();
    for trial in 1..=args.trials {
        let line = t.trial(&exe, trial)?;
        t.totals.trials = trial;
        if args.verbose {
            writeln!(out, "{line}")?;
            out.flush()?;
        }
        if !t.details.is_empty() {
            for d in t.details.iter().take(DETAILS_MAX) {
                crate::note(format_args!("trial {trial}: {d}"));
            }
            if t.details.len() > DETAILS_MAX {
                crate::note(format_args!(
                    "trial {trial}: ... and {} more",
                    t.details.len() - DETAILS_MAX
                ));
            }
        }
        if t.totals.failures() > 0 {
            crate::note(format_args!("trial {trial} failed (seed {seed}); stopping"));
            break;
        }
    }
    writeln!(out, "{}, seed {seed}", t.totals)?;
    out.flush()?;
    Ok(if t.totals.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Deletes what an earlier run left in `dir` (the torture queues and exchange), so the checks
/// start from nothing; creates `dir` if needed.
fn reset(dir: &Path, segment_size: u64) -> Result<(), CliError> {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::new(format!(
            "--dir '{}' is not a directory",
            dir.display()
        )));
    }
    let broker = open(dir, segment_size)?;
    let ch = broker.connect().create_channel()?;
    for (_, queue) in QUEUES {
        if broker.queue_counts(queue).is_some() {
            ch.queue_delete(queue, QueueDeleteOptions::default())?;
        }
    }
    if broker.exchange_exists(EXCHANGE) {
        ch.exchange_delete(EXCHANGE, ExchangeDeleteOptions::default())?;
    }
    drop(ch);
    broker.close();
    Ok(())
}

/// The directory's files, read before recovery may cut them.
type Snapshot = Vec<(PathBuf, Vec<u8>)>;

fn snapshot(dir: &Path) -> io::Result<Snapshot> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push((PathBuf::from(entry.file_name()), fs::read(entry.path())?));
        }
    }
    Ok(files)
}

/// [`snapshot`], as the CLI's error.
fn read_snapshot(dir: &Path) -> Result<Snapshot, CliError> {
    snapshot(dir).map_err(|e| {
        CliError::new(format!(
            "reading the data directory '{}': {e}",
            dir.display()
        ))
    })
}

/// Writes `files` to `DIR.fail-T` beside `dir`; returns where.
fn keep_snapshot(dir: &Path, trial: &str, files: &Snapshot) -> io::Result<PathBuf> {
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".fail-{trial}"));
    let to = PathBuf::from(name);
    fs::create_dir_all(&to)?;
    for (file, bytes) in files {
        fs::write(to.join(file), bytes)?;
    }
    Ok(to)
}

/// Reads all of a child's pipe on a thread (so the child never blocks on a full pipe).
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Whether a child ended by itself rather than by the kill.
fn exited_by_itself(status: ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal().is_none()
    }
    #[cfg(not(unix))]
    {
        // Elsewhere the kill ends it with status 1; a child that gave up says so with `E`.
        status.code() != Some(1)
    }
}

impl Torture<'_> {
    /// Starts child `generation`, kills it after a random delay and reads what it said.
    fn crash_child(&mut self, exe: &Path, generation: u32) -> Result<(Said, u64), CliError> {
        let args = self.args;
        let kill_ms = self
            .rng
            .between(MIN_KILL_MS.min(args.max_kill_ms), args.max_kill_ms);
        let mut child: Child = Command::new(exe)
            .arg("torture-child")
            .arg("--dir")
            .arg(&args.dir)
            .args(["--generation", &generation.to_string()])
            .args(["--seed", &self.seed.to_string()])
            .args(["--segment-size", &args.segment_size.to_string()])
            .args(["--max-kill-ms", &args.max_kill_ms.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| CliError::new(format!("starting a child ({}): {e}", exe.display())))?;
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        thread::sleep(Duration::from_millis(kill_ms));
        // Fails only if it is gone already, which the status tells.
        let _ = child.kill();
        let status = child
            .wait()
            .map_err(|e| CliError::new(format!("waiting for a child: {e}")))?;
        let said = Said::parse(&out.join().unwrap_or_default());
        let stderr = err.join().unwrap_or_default();
        if exited_by_itself(status) || !said.errors.is_empty() {
            self.totals.child_errors += 1;
            self.details.push(format!(
                "child {generation} failed ({status}): {} {}",
                said.errors.join("; "),
                String::from_utf8_lossy(&stderr).trim_end()
            ));
        }
        self.totals.kills += 1;
        self.declared |= said.opened;
        self.totals.confirmed += u64::try_from(said.confirmed.len()).unwrap_or(u64::MAX);
        self.totals.nacked += said.nacked;
        self.totals.acked += said.acks;
        Ok((said, kill_ms))
    }

    /// Runs trial `trial`: one child (or, one time in four, two in a row, so a child also
    /// recovers a crashed log and is killed in turn), then reopen, check, keep some, close.
    /// Returns the verbose line.
    fn trial(&mut self, exe: &Path, trial: u32) -> Result<String, CliError> {
        self.details.clear();
        let args = self.args;
        let children = if self.rng.percent(25) { 2 } else { 1 };
        let first = self.generation + 1;
        let mut said = Said::default();
        let mut kills = Vec::new();
        let mut before_last: Option<Snapshot> = None;
        for i in 0..children {
            if i > 0 {
                before_last = Some(read_snapshot(&args.dir)?);
            }
            self.generation += 1;
            let (s, kill_ms) = self.crash_child(exe, self.generation)?;
            said.merge(s);
            kills.push(kill_ms.to_string());
        }
        let generations = first..=self.generation;
        let kill_ms = kills.join("+");

        let files = read_snapshot(&args.dir)?;
        let mut closed: Option<Snapshot> = None;
        let started = Instant::now();
        let opened = open(&args.dir, args.segment_size);
        let took = started.elapsed();
        self.totals.max_recovery = self.totals.max_recovery.max(took);
        let line = match opened {
            Err(e) => {
                self.totals.recovery_failures += 1;
                self.details.push(format!("recovery failed: {e}"));
                format!("trial {trial}: kill-ms {kill_ms}, recovery failed: {e}")
            }
            Ok(broker) => {
                let line = self.check(&broker, trial, &generations, &kill_ms, &said, took)?;
                broker.close();
                drop(broker);
                let every = args.clean_every;
                if self.totals.failures() == 0
                    && every > 0
                    && (trial.is_multiple_of(every) || trial == args.trials)
                {
                    closed = Some(self.clean_check()?);
                }
                line
            }
        };
        if self.totals.failures() > 0 {
            let mut keep = vec![(String::new(), files)];
            if let Some(before) = before_last {
                keep.push(("-before-last-child".to_string(), before));
            }
            if let Some(closed) = closed {
                keep.push(("-closed".to_string(), closed));
            }
            for (suffix, files) in keep {
                match keep_snapshot(&args.dir, &format!("{trial}{suffix}"), &files) {
                    Ok(to) => self
                        .details
                        .push(format!("the crashed directory is kept in {}", to.display())),
                    Err(e) => self
                        .details
                        .push(format!("keeping the crashed directory failed: {e}")),
                }
            }
        }
        Ok(line)
    }

    /// Takes every message of every queue (not acked yet); `None` for a missing queue.
    fn take_all(
        &mut self,
        ch: &Channel,
        broker: &Broker,
    ) -> Result<[Option<Vec<Got>>; 2], CliError> {
        let mut all: [Option<Vec<Got>>; 2] = [None, None];
        for (q, (short, queue)) in QUEUES.iter().enumerate() {
            if broker.queue_counts(queue).is_none() {
                if self.declared {
                    self.totals.topology_lost += 1;
                    self.details.push(format!("queue {short} is gone"));
                }
                continue;
            }
            let mut got = Vec::new();
            while let Some(m) = ch.basic_get(queue, BasicGetOptions { no_ack: false })? {
                got.push(Got {
                    id: Id::from_body(m.delivery.body()),
                    redelivered: m.delivery.redelivered(),
                    delivery: m.delivery,
                });
            }
            all[q] = Some(got);
        }
        if self.declared && !broker.exchange_exists(EXCHANGE) {
            self.totals.topology_lost += 1;
            self.details.push(format!("exchange {EXCHANGE} is gone"));
        }
        Ok(all)
    }

    /// Checks what recovery kept after the kill, then keeps part of it for the next trial.
    fn check(
        &mut self,
        broker: &Broker,
        trial: u32,
        generations: &RangeInclusive<u32>,
        kill_ms: &str,
        said: &Said,
        took: Duration,
    ) -> Result<String, CliError> {
        let report = broker.recovery().cloned().unwrap_or_default();
        self.totals.recovered += u64::try_from(report.messages).unwrap_or(u64::MAX);
        if report.cut.is_some() {
            self.totals.cuts += 1;
        }
        let conn = broker.connect();
        let ch = conn.create_channel()?;
        let all = self.take_all(&ch, broker)?;
        let mut distinct = BTreeSet::new();
        let mut counts = [0usize; 2];
        let mut kept_counts = [0usize; 2];
        for (q, got) in all.iter().enumerate() {
            let Some(got) = got else { continue };
            let short = QUEUES[q].0;
            counts[q] = got.len();
            let mut seen = BTreeSet::new();
            let mut previous: Option<Id> = None;
            for g in got {
                let Some(id) = g.id else {
                    self.totals.unexpected += 1;
                    self.details.push(format!(
                        "queue {short} holds {:?}",
                        String::from_utf8_lossy(g.delivery.body())
                    ));
                    continue;
                };
                distinct.insert(id);
                if !seen.insert(id) {
                    self.totals.duplicated += 1;
                    self.details.push(format!("queue {short} holds {id} twice"));
                }
                if !g.redelivered {
                    self.totals.not_redelivered += 1;
                    self.details.push(format!(
                        "queue {short}: {id} came back with redelivered=false"
                    ));
                }
                if previous.is_some_and(|p| p > id) {
                    self.totals.out_of_order += 1;
                    self.details.push(format!(
                        "queue {short}: {id} comes after {}",
                        previous.map_or_else(String::new, |p| p.to_string())
                    ));
                }
                previous = Some(previous.map_or(id, |p| p.max(id)));
                let may_be_here = if generations.contains(&id.generation) {
                    routes(id.n)[q]
                } else {
                    self.kept[q].contains(&id)
                };
                if !may_be_here {
                    self.totals.unexpected += 1;
                    self.details
                        .push(format!("queue {short} holds {id}, which cannot be there"));
                }
            }
            let must: BTreeSet<Id> = self.kept[q]
                .iter()
                .copied()
                .chain(said.confirmed.iter().copied().filter(|id| routes(id.n)[q]))
                .filter(|id| !said.acked[q].contains(id))
                .collect();
            for id in must.difference(&seen) {
                self.totals.lost += 1;
                self.details.push(format!(
                    "lost {id} from queue {short} (confirmed: {}, kept from before: {})",
                    said.confirmed.contains(id),
                    self.kept[q].contains(id)
                ));
            }
        }
        if distinct.len() != report.messages && all.iter().all(Option::is_some) {
            self.totals.inconsistent += 1;
            self.details.push(format!(
                "recovery reports {} messages, the queues hold {} distinct ones",
                report.messages,
                distinct.len()
            ));
        }
        // Keep some for the next trial, settle the rest.
        let mut kept: [BTreeSet<Id>; 2] = Default::default();
        for (q, got) in all.into_iter().enumerate() {
            let Some(got) = got else { continue };
            let share = self.rng.between(20, 80);
            for g in got {
                let keep = g.id.is_some()
                    && kept[q].len() < KEEP_MAX
                    && self.rng.percent(share)
                    && g.id.is_some_and(|id| !kept[q].contains(&id));
                if keep {
                    g.delivery.nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })?;
                    if let Some(id) = g.id {
                        kept[q].insert(id);
                    }
                } else {
                    g.delivery.ack()?;
                }
            }
            kept_counts[q] = kept[q].len();
        }
        self.kept = kept;
        drop(ch);
        drop(conn);
        Ok(format!(
            "trial {trial}: kill-ms {kill_ms}, opened {}, confirmed {}, last {}, acked {}, \
             child-compaction carried {} deleted {}, recovered {} (a {}, b {}), kept a {} b {}, \
             segments {}, cut {}, recovery-ms {}",
            said.opened,
            said.confirmed.len(),
            said.last,
            said.acks,
            said.compaction.0,
            said.compaction.1,
            report.messages,
            counts[0],
            counts[1],
            kept_counts[0],
            kept_counts[1],
            report.segments,
            report.cut.as_deref().unwrap_or("-"),
            took.as_millis()
        ))
    }

    /// Reopens after the parent's clean close: the report must say clean and count the kept
    /// messages, the queues must hold exactly them, in order, still redelivered (S3).
    fn clean_check(&mut self) -> Result<Snapshot, CliError> {
        self.totals.clean_checks += 1;
        let args = self.args;
        let closed = read_snapshot(&args.dir)?;
        let broker = match open(&args.dir, args.segment_size) {
            Ok(b) => b,
            Err(e) => {
                self.totals.recovery_failures += 1;
                self.details
                    .push(format!("reopening after a clean close failed: {e}"));
                return Ok(closed);
            }
        };
        let report: RecoveryReport = broker.recovery().cloned().unwrap_or_default();
        let distinct: BTreeSet<Id> = self.kept[0].union(&self.kept[1]).copied().collect();
        if !report.clean || report.cut.is_some() || report.messages != distinct.len() {
            self.totals.inconsistent += 1;
            self.details.push(format!(
                "after a clean close: clean {}, cut {:?}, messages {} (kept {})",
                report.clean,
                report.cut,
                report.messages,
                distinct.len()
            ));
        }
        let conn = broker.connect();
        let ch = conn.create_channel()?;
        let all = self.take_all(&ch, &broker)?;
        for (q, got) in all.into_iter().enumerate() {
            let Some(got) = got else { continue };
            let ids: Vec<Option<Id>> = got.iter().map(|g| g.id).collect();
            let want: Vec<Option<Id>> = self.kept[q].iter().copied().map(Some).collect();
            if ids != want {
                self.totals.inconsistent += 1;
                self.details.push(format!(
                    "after a clean close queue {} holds {} messages, kept {} (or not in order)",
                    QUEUES[q].0,
                    ids.len(),
                    want.len()
                ));
            }
            let fresh = got.iter().filter(|g| !g.redelivered).count();
            if fresh > 0 {
                self.totals.not_redelivered += u64::try_from(fresh).unwrap_or(u64::MAX);
                self.details.push(format!(
                    "after a clean close queue {}: {fresh} messages lost their redelivered flag",
                    QUEUES[q].0
                ));
            }
            for g in got {
                g.delivery.nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })?;
            }
        }
        drop(ch);
        drop(conn);
        broker.close();
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_bodies() {
        let id = Id {
            generation: 12,
            n: 345,
        };
        assert_eq!(Id::parse(&id.to_string()), Some(id));
        assert_eq!(Id::from_body(b"12-345 xxxx"), Some(id));
        assert_eq!(Id::from_body(b"12-345"), Some(id));
        assert_eq!(Id::from_body(b"12345"), None);
    }

    #[test]
    fn routes_match_addresses() {
        for n in 0..6 {
            let (exchange, key) = address(n);
            let r = routes(n);
            match (exchange, key) {
                (EXCHANGE, "both") => assert_eq!(r, [true, true]),
                ("", q) => assert_eq!((q, r), (QUEUES[0].1, [true, false])),
                (EXCHANGE, "b") => assert_eq!(r, [false, true]),
                other => panic!("unknown address {other:?}"),
            }
        }
    }

    #[test]
    fn the_generator_repeats_with_its_seed_and_stays_in_range() {
        let (mut a, mut b) = (Rng::new(7, 1), Rng::new(7, 1));
        for _ in 0..1_000 {
            let x = a.between(20, 300);
            assert_eq!(x, b.between(20, 300));
            assert!((20..=300).contains(&x));
        }
        assert_ne!(Rng::new(7, 1).next(), Rng::new(7, 2).next());
    }

    #[test]
    fn a_cut_last_line_is_ignored() {
        let said = Said::parse(b"O clean=true messages=0\nC 1-1\nA a 1-1\nA b 1-2\nC 1-");
        assert!(said.opened);
        assert_eq!(said.confirmed.len(), 1);
        assert_eq!(said.acks, 2);
        assert!(said.errors.is_empty(), "{:?}", said.errors);
    }
}
