//! `warren torture`: a crash test of the durable store (SEMANTICS S, C, L and X).
//!
//! Each trial runs a child process (this binary's hidden `torture-child` subcommand) that
//! opens the data directory and works it as hard as it can, kills it with SIGKILL after a
//! random delay, reopens the directory in this process and checks what recovery kept. One
//! trial in four runs two children in a row, so a child also recovers a crashed log (perhaps
//! cut) and is killed in turn before the parent looks.
//!
//! # Scenarios
//!
//! `--scenario` picks the children's workload: `plain` or `ttl-dlx` (both below), or `mixed`
//! (the default), where each trial picks one of the two at random. The queues of both live in
//! the one directory, so every trial checks all of them: a `plain` trial also checks that the
//! `ttl-dlx` queues kept what the last trial left there, and that their messages expire on time.
//!
//! # The plain child
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
//! # The ttl-dlx child
//!
//! It declares the durable queues `torture.ttl` (`x-message-ttl` [`TTL_MS`], dead-lettering
//! through the durable direct exchange `torture.dlx` with the original routing key),
//! `torture.max` (`x-max-length` [`MAX_LENGTH`], `drop-head`, dead-lettering through
//! `torture.dlx` with the key `max`) and `torture.dlq`, bound to `torture.dlx` with both keys.
//! Message `n` goes through the default exchange to `torture.max` if `n % 4 == 0`, else to
//! `torture.ttl` ([`ttl_target`]), where one in four carries its own `expiration`, 0 to
//! `TTL_MS` ms ([`ttl_expiration`]). Its body is `g-n t` and padding: `t` is the time it entered
//! its queue, and the padding's length follows from the id ([`ttl_body`]), so the parent
//! checks every byte. The publisher works as in the plain child. The consumer of `torture.ttl`
//! (prefetch 20: slower than the publisher, so that many messages expire in the queue and many
//! are still there at the kill) acks, rejects without requeue (dead-lettered: announced
//! `J t g-n`), rejects with requeue (its failed count grows, SEMANTICS A10: announced
//! `F t g-n`), nacks with requeue or holds;
//! the consumer of `torture.dlq` acks, nacks or holds; `torture.max` has none, so each publish
//! past its limit drops its head into `torture.dlq` (L6).
//!
//! **Time is exact.** Every broker of a run, children and parent, runs on a manual clock
//! ([`Clock::manual`]) on one timeline ([`START_MS`] on). A child's clock starts where the
//! parent says, and only a ttl-dlx child's publisher moves it, following real time, right
//! before a publish ([`Timeline`]): so `t` is exactly the entry time the engine logs, and a
//! message's deadline is `t + min(TTL, expiration)` ([`ttl_deadline`]). Before its clock
//! passes the bound it announced last, the publisher announces a later one (`T ms`), so the
//! parent knows a time the child never reached. A plain child never moves its clock.
//!
//! # The checks, after each kill
//!
//! The parent reopens the directory (an error is a *recovery failure*) at the child's last
//! bound plus the time "spent dead": 0 to half of [`TTL_MS`], or one to three TTLs in one
//! trial out of four. It takes every message of the plain queues with `basic_get`. For each:
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
//! * **topology-lost**: a queue or an exchange is missing once a child had declared them.
//!
//! The ttl-dlx queues, opened at time `R`, are taken in this order: `torture.dlq` (as the reopen
//! left it: the recovered messages, all redelivered, then the copies of what the reopen dropped
//! from `torture.max` if it came back over its limit, L6), then the clock ticks once at `R`
//! (the engine's timer runs), `torture.dlq` again (what the tick dead-lettered), `torture.ttl`,
//! `torture.dlq` once more (what the gets dead-lettered: expired messages that waited behind a
//! live one, L2) and `torture.max`:
//!
//! * **lost** and **duplicated**: a message confirmed in this trial or kept from the last one,
//!   and settled by no consumer that announced it, is found exactly once across the queue it
//!   was published to and `torture.dlq` (SEMANTICS X7, S4); any other at most once;
//! * **expired-late**: a message still in `torture.ttl` at `R` although due (S6, L2), or one
//!   that was due at the head at `R` and that the tick did not move;
//! * **expired-early**: a message dead-lettered as `expired` before its deadline, or moved by
//!   the tick from behind a live one (L2);
//! * **malformed**: a body other than the one published, an `expiration` other than its own, or
//!   in `torture.dlq` an `expiration` at all (X4), an `x-death` other than one entry (its queue,
//!   reason `expired` or `rejected` from `torture.ttl` and `maxlen` from `torture.max`, count
//!   1, exchange `""`, its routing key, its `original-expiration`, a time not after `R`) with
//!   matching `x-first-death-*` and `x-last-death-*` headers (X5), or an `x-death` that changed
//!   since the parent kept the message;
//! * **bad-counts**: in `torture.ttl`, a failed count below what the parent left or above that
//!   plus the child's announced rejects with requeue, a returned count below what the parent
//!   left, or an `x-delivery-count` header other than the failed count (A10);
//! * **over-limit**: `torture.max` holds more than [`MAX_LENGTH`] ready messages when reopened
//!   (L5), or the reopen dropped more than one: a publish and the drop it causes are two log
//!   records, so a kill leaves it one over its limit at most;
//! * **out-of-order**: `torture.ttl` or `torture.max` out of publish order, or a message
//!   dropped from `torture.max` that is newer than one still there (drop-head, L6);
//! * **unexpected**: also a message in a queue it was not published to, or dead-lettered as
//!   `rejected` although no consumer announced rejecting it.
//!
//! Then the parent keeps a random part of each queue (requeued, at most [`KEEP_MAX`] a queue;
//! in `torture.ttl` one in three by a reject with requeue, which counts as failed) and acks the
//! rest, and closes the broker cleanly, so the next trial starts from a clean log that it
//! crashes again; its child starts at `R`. Every `--clean-every` trials (10) and after the last
//! one it also reopens right after that clean close: the report must say `clean`, count exactly
//! the kept messages, which must all be there in order, keep their `redelivered` flags (S3),
//! their counts and their `x-death`. A failure there counts as *inconsistent*, like a recovery
//! report whose message count differs from the distinct messages found after a kill.
//!
//! The run stops after the first trial with a failure. Before each reopen the parent reads the
//! directory into memory; on a failure it writes those copies beside the directory:
//! `DIR.fail-T` as the kill left it, `DIR.fail-T-before-last-child` before a second child,
//! `DIR.fail-T-closed` as the parent's clean close left it.
//!
//! Randomness is a splitmix64 generator seeded by `--seed`: the scenarios, the kill delays, the
//! time spent dead, the child's strategies and the parent's choices repeat with the seed; the
//! thread timing does not.

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
use warren::clock::Clock;
use warren::message::{FieldTable, FieldValue};
use warren::route::ExchangeType;
use warren::store::{RecoveryReport, StoreOptions};
use warren::{BasicProperties, Broker, BrokerOptions, Channel, Delivery, Error, Publish};

/// Extra help for `warren torture`.
pub(crate) const AFTER_HELP: &str = "\
Each trial starts a child process that publishes persistent messages with confirms while
consumers ack, reject, requeue or hold them; kills it with SIGKILL after a random delay;
reopens the data directory and checks that every confirmed message is still there unless it
was settled, that none is duplicated or out of order, that all come back redelivered, and that
recovery never fails. The survivors partly stay for the next trial; every --clean-every trials
(and after the last) a clean close and reopen is checked too. One trial in four kills two
children in a row before checking.

Scenarios: `plain` publishes to two durable queues (some messages to both). `ttl-dlx`
publishes to a queue with a message TTL and to one with x-max-length (drop-head), both
dead-lettering into a third; after each kill every confirmed message must be in exactly one
of its queue and the dead-letter queue, with the right x-death, and the reopened broker must
expire at once what fell due while the process was dead (a manual clock shared by child and
parent makes this exact). `mixed` (the default) picks one per trial.

Prints one summary line, `trials N, confirmed C, lost L, duplicated D, ...`, and with
--verbose one line per trial. Exit status: 0 if nothing was lost, duplicated, out of order,
unexpected, malformed, expired too early or too late, or inconsistent and every recovery
succeeded; 1 otherwise (the crashed directory is kept as DIR.fail-T*); 2 for a usage or I/O
error. The directory's torture.* queues and exchanges are deleted first.";

/// The queues, as the child announces them (`a`, `b`) and as declared.
const QUEUES: [(&str, &str); 2] = [("a", "torture.a"), ("b", "torture.b")];

/// The direct exchange bound to both queues.
const EXCHANGE: &str = "torture.x";

/// The ttl-dlx scenario's dead-letter exchange (durable, direct).
const DLX: &str = "torture.dlx";

/// The dead-letter routing key of `torture.max`.
const MAX_KEY: &str = "max";

/// `x-message-ttl` of `torture.ttl`, in ms: short enough that many messages expire in a
/// child's life of up to a few hundred ms, long enough that many are consumed first.
const TTL_MS: u64 = 50;

/// `x-max-length` of `torture.max`.
const MAX_LENGTH: usize = 40;

/// How far ahead of its clock a ttl-dlx child announces its bound (`T ms`), in ms.
const CEILING_STEP_MS: u64 = 5;

/// Where the run's manual clocks start, in ms since the epoch (2023-11-14).
const START_MS: u64 = 1_700_000_000_000;

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

/// A workload (`--scenario`); see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// Two plain durable queues, some messages in both.
    Plain,
    /// A queue with a message TTL and one with a length limit, dead-lettering into a third.
    TtlDlx,
    /// Each trial picks plain or ttl-dlx.
    Mixed,
}

impl Scenario {
    /// Its name on the command line.
    fn name(self) -> &'static str {
        match self {
            Scenario::Plain => "plain",
            Scenario::TtlDlx => "ttl-dlx",
            Scenario::Mixed => "mixed",
        }
    }
}

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

    /// A hash of the id: what a ttl-dlx message's padding and `expiration` follow from.
    fn mix(self) -> u64 {
        Rng::new(u64::from(self.generation), self.n).next()
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

/// The queues of the ttl-dlx scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TtlQueue {
    /// `torture.ttl`: `x-message-ttl`, dead-lettering with the original key.
    Ttl,
    /// `torture.dlq`: where both others dead-letter.
    Dlq,
    /// `torture.max`: `x-max-length`, `drop-head`, dead-lettering with the key `max`.
    Max,
}

impl TtlQueue {
    const ALL: [TtlQueue; 3] = [TtlQueue::Ttl, TtlQueue::Dlq, TtlQueue::Max];

    fn name(self) -> &'static str {
        match self {
            TtlQueue::Ttl => "torture.ttl",
            TtlQueue::Dlq => "torture.dlq",
            TtlQueue::Max => "torture.max",
        }
    }

    /// As a child announces it.
    fn short(self) -> &'static str {
        match self {
            TtlQueue::Ttl => "t",
            TtlQueue::Dlq => "d",
            TtlQueue::Max => "m",
        }
    }

    fn index(self) -> usize {
        match self {
            TtlQueue::Ttl => 0,
            TtlQueue::Dlq => 1,
            TtlQueue::Max => 2,
        }
    }

    /// Its arguments (SEMANTICS L1, L5, L6, X1).
    fn args(self) -> FieldTable {
        let int = |v: u64| FieldValue::I64(i64::try_from(v).unwrap_or(i64::MAX));
        match self {
            TtlQueue::Ttl => FieldTable::new()
                .with("x-message-ttl", int(TTL_MS))
                .with("x-dead-letter-exchange", DLX),
            TtlQueue::Dlq => FieldTable::new(),
            TtlQueue::Max => FieldTable::new()
                .with(
                    "x-max-length",
                    int(u64::try_from(MAX_LENGTH).unwrap_or(u64::MAX)),
                )
                .with("x-overflow", "drop-head")
                .with("x-dead-letter-exchange", DLX)
                .with("x-dead-letter-routing-key", MAX_KEY),
        }
    }
}

/// The queue ttl-dlx message number `n` is published to (through the default exchange).
fn ttl_target(n: u64) -> TtlQueue {
    if n.is_multiple_of(4) {
        TtlQueue::Max
    } else {
        TtlQueue::Ttl
    }
}

/// The `expiration` of ttl-dlx message `id`, in ms: one in four messages to `torture.ttl`
/// have one, 0 to [`TTL_MS`] (0: delivered at once or dead, SEMANTICS L3).
fn ttl_expiration(id: Id) -> Option<u64> {
    let h = id.mix();
    (ttl_target(id.n) == TtlQueue::Ttl && h.is_multiple_of(4)).then_some((h >> 8) % (TTL_MS + 1))
}

/// When ttl-dlx message `id`, which entered `torture.ttl` at `entered_ms`, expires there
/// (SEMANTICS L1: the lower of the queue's TTL and its `expiration`).
fn ttl_deadline(id: Id, entered_ms: u64) -> u64 {
    entered_ms + ttl_expiration(id).map_or(TTL_MS, |e| e.min(TTL_MS))
}

/// The body of ttl-dlx message `id` entering its queue at `entered_ms`: `g-n t ` and a
/// padding whose length follows from the id (up to 300 bytes, one in 32 up to 4 KiB).
fn ttl_body(id: Id, entered_ms: u64) -> Vec<u8> {
    let h = id.mix() >> 16;
    let pad = if h.is_multiple_of(32) {
        1_000 + (h >> 5) % 3_000
    } else {
        (h >> 5) % 300
    };
    let mut body = format!("{id} {entered_ms} ").into_bytes();
    body.resize(body.len() + usize::try_from(pad).unwrap_or(0), b'x');
    body
}

/// The entry time written in a ttl-dlx body (its second word).
fn entered_of(body: &[u8]) -> Option<u64> {
    let mut words = body.split(|&b| b == b' ');
    words.next()?;
    std::str::from_utf8(words.next()?).ok()?.parse().ok()
}

fn no_args() -> FieldTable {
    FieldTable::new()
}

fn store_options(segment_size: u64) -> StoreOptions {
    StoreOptions::default().with_segment_size(segment_size)
}

/// Opens `dir` on `clock`, waiting up to [`LOCK_WAIT`] for its lock.
///
/// # Errors
///
/// The open's error, once the lock is free or the wait is over.
fn open(dir: &Path, segment_size: u64, clock: &Clock) -> Result<Broker, Error> {
    let start = Instant::now();
    loop {
        let options = BrokerOptions::default().with_clock(clock.clone());
        match Broker::open_with(dir, options, store_options(segment_size)) {
            // The engine's only word for a held lock is its message.
            Err(e) if e.to_string().contains("in use") && start.elapsed() < LOCK_WAIT => {
                thread::sleep(Duration::from_millis(2));
            }
            other => return other,
        }
    }
}

/// Takes every ready message of `queue` with `basic_get` (not acked yet).
fn get_all(ch: &Channel, queue: &str) -> Result<Vec<Got>, Error> {
    let mut got = Vec::new();
    while let Some(m) = ch.basic_get(queue, BasicGetOptions { no_ack: false })? {
        got.push(Got {
            id: Id::from_body(m.delivery.body()),
            redelivered: m.delivery.redelivered(),
            delivery: m.delivery,
        });
    }
    Ok(got)
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
    let ttl = args.scenario == Scenario::TtlDlx;
    let clock = Clock::manual(args.start_ms);
    let broker = match open(&args.dir, args.segment_size, &clock) {
        Ok(b) => b,
        Err(e) => give_up("open", &e),
    };
    let publisher = match broker.connect().create_channel().and_then(|ch| {
        if ttl {
            declare_ttl(&ch)?;
        } else {
            declare(&ch)?;
        }
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
    let consumers: [(&'static str, &'static str, Policy); 2] = if ttl {
        [
            (TtlQueue::Ttl.short(), TtlQueue::Ttl.name(), TTL_POLICY),
            (TtlQueue::Dlq.short(), TtlQueue::Dlq.name(), DLQ_POLICY),
        ]
    } else {
        [
            (QUEUES[0].0, QUEUES[0].1, PLAIN_POLICY),
            (QUEUES[1].0, QUEUES[1].1, PLAIN_POLICY),
        ]
    };
    for (i, (short, queue, policy)) in consumers.into_iter().enumerate() {
        let broker = broker.clone();
        let rng = Rng::new(
            args.seed,
            (u64::from(generation) << 8) | (u64::try_from(i).unwrap_or(0) + 1),
        );
        let spawned = thread::Builder::new()
            .name(format!("consumer-{short}"))
            .spawn(move || consume(&broker, short, queue, policy, rng));
        if let Err(e) = spawned {
            give_up("starting a consumer", &e);
        }
    }
    let rng = Rng::new(args.seed, u64::from(generation) << 8);
    let source = Source {
        generation,
        next: 0,
        timeline: ttl.then(|| Timeline {
            clock,
            start_ms: args.start_ms,
            started: Instant::now(),
            ceiling: args.start_ms,
        }),
    };
    if let Err(e) = publish_forever(&broker, &publisher, generation, source, rng, deadline) {
        give_up("publish", &e);
    }
    say(&["E the kill did not come in time".to_string()]);
    ExitCode::from(4)
}

/// Declares the plain queues, the exchange and the bindings (all durable; idempotent).
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

/// Declares the ttl-dlx queues, their dead-letter exchange and its bindings (all durable;
/// idempotent).
fn declare_ttl(ch: &Channel) -> Result<(), Error> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for q in TtlQueue::ALL {
        ch.queue_declare(q.name(), durable, &q.args())?;
    }
    ch.exchange_declare(
        DLX,
        ExchangeType::Direct,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        &no_args(),
    )?;
    // torture.ttl dead-letters with the original key (its own name), torture.max with `max`.
    for key in [TtlQueue::Ttl.name(), MAX_KEY] {
        ch.queue_bind(TtlQueue::Dlq.name(), DLX, key, &no_args())?;
    }
    Ok(())
}

/// A ttl-dlx child's time: a manual clock that only the publisher moves, to the real time
/// elapsed since the start, right before a publish. So a message enters its queue at exactly
/// the time the publisher read, and the parent learns, before the clock passes it, a bound it
/// will not pass (`T ms`).
struct Timeline {
    clock: Clock,
    start_ms: u64,
    started: Instant,
    /// The last bound announced (the start, which the parent knows, until then).
    ceiling: u64,
}

impl Timeline {
    /// Moves the clock to the elapsed real time (announcing a new bound first when it would
    /// pass the last one) and returns the time: when the next publish enters its queue.
    fn now(&mut self) -> Result<u64, Error> {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let target = self.start_ms.saturating_add(elapsed);
        if target > self.clock.now_ms() {
            if target > self.ceiling {
                self.ceiling = target + CEILING_STEP_MS;
                say(&[format!("T {}", self.ceiling)]);
            }
            // Runs the engine's timer on this thread: expired heads die here.
            self.clock.set_ms(target)?;
        }
        Ok(self.clock.now_ms())
    }
}

/// One message for the publisher.
struct Outgoing {
    n: u64,
    exchange: &'static str,
    key: &'static str,
    /// How many queues must take it.
    queues: usize,
    properties: BasicProperties,
    body: Vec<u8>,
}

/// Makes a child's messages, numbered from 1, for its scenario.
struct Source {
    generation: u32,
    next: u64,
    /// The ttl-dlx clock; `None` in the plain scenario.
    timeline: Option<Timeline>,
}

impl Source {
    /// The next message.
    ///
    /// # Errors
    ///
    /// The clock's, which a manual one never has.
    fn next(&mut self, rng: &mut Rng) -> Result<Outgoing, Error> {
        self.next += 1;
        let n = self.next;
        let id = Id {
            generation: self.generation,
            n,
        };
        let mut properties = BasicProperties::default().persistent();
        let Some(time) = &mut self.timeline else {
            let len = if rng.percent(3) {
                rng.between(1_000, 4_000)
            } else {
                rng.below(300)
            };
            let mut body = format!("{id} ").into_bytes();
            body.resize(body.len() + usize::try_from(len).unwrap_or(0), b'x');
            let (exchange, key) = address(n);
            return Ok(Outgoing {
                n,
                exchange,
                key,
                queues: routes(n).iter().filter(|&&r| r).count(),
                properties,
                body,
            });
        };
        let entered = time.now()?;
        properties.expiration = ttl_expiration(id).map(|e| e.to_string());
        Ok(Outgoing {
            n,
            exchange: "",
            key: ttl_target(n).name(),
            queues: 1,
            properties,
            body: ttl_body(id, entered),
        })
    }
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
    mut source: Source,
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
    // One publish, tracked for the listener; checks the route.
    let publish = |m: Outgoing| -> Result<(), ChildError> {
        let seq = ch.next_publish_seq_no().get();
        pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(seq, m.n);
        let result = ch.basic_publish(
            m.exchange,
            m.key,
            BasicPublishOptions::default(),
            m.body,
            m.properties,
        );
        match result {
            Ok(p) => check_routed(m.n, m.queues, &p),
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
                    publish(source.next(&mut rng)?)?;
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
                    let m = source.next(&mut rng)?;
                    batch.push(m.n);
                    publish(m)?;
                }
                if ch.wait_for_confirms(CONFIRM_WAIT)? {
                    announce(&batch);
                }
            }
            // One at a time, each waited for (a nack or a timeout closes the channel).
            2 => {
                for _ in 0..rng.between(1, 10) {
                    let m = source.next(&mut rng)?;
                    let n = m.n;
                    publish(m)?;
                    ch.wait_for_confirms_or_die(CONFIRM_WAIT)?;
                    announce(&[n]);
                }
            }
            // Each publish with its own handle, waited for afterwards.
            _ => {
                let mut handles = Vec::new();
                for _ in 0..rng.between(1, 50) {
                    let m = source.next(&mut rng)?;
                    let seq = ch.next_publish_seq_no().get();
                    pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(seq, m.n);
                    match ch.basic_publish_with_confirm(
                        m.exchange,
                        m.key,
                        BasicPublishOptions::default(),
                        m.body,
                        m.properties,
                    ) {
                        Ok((p, c)) => {
                            check_routed(m.n, m.queues, &p)?;
                            handles.push((m.n, c));
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

/// Fails unless message `n` reached `want` queues.
fn check_routed(n: u64, want: usize, p: &Publish) -> Result<(), ChildError> {
    match p {
        Publish::Routed { queues } if *queues == want => Ok(()),
        other => Err(format!("message {n} routed as {other:?}, want {want} queues").into()),
    }
}

/// What a consumer does with one delivery; each that takes a message out of its queue is
/// announced first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Ack (`A q id`).
    Ack,
    /// Reject without requeue, from a queue without a dead-letter exchange: gone (`A q id`).
    Discard,
    /// Reject without requeue, from a queue with a dead-letter exchange: moved (`J q id`).
    DeadLetter,
    /// Reject with requeue: its failed count grows (`F q id`, SEMANTICS A10).
    Fail,
    /// Nack with requeue.
    Return,
    /// Hold it unacked (up to the policy's limit; then the oldest goes back with a nack).
    Hold,
}

/// How a consumer treats its deliveries.
#[derive(Clone, Copy)]
struct Policy {
    /// Its prefetch (SEMANTICS D3).
    prefetch: u16,
    /// How many deliveries it holds unacked at most (less than `prefetch`).
    hold: usize,
    /// What it does, for a roll in `0..100`.
    choose: fn(u64) -> Action,
}

/// The plain queues' consumers: they keep up with the publisher, more or less.
const PLAIN_POLICY: Policy = Policy {
    prefetch: 50,
    hold: 20,
    choose: plain_choice,
};

/// `torture.ttl`'s consumer: slower than the publisher (a small prefetch), so that many
/// messages expire in the queue and many are still there, live, at the kill.
const TTL_POLICY: Policy = Policy {
    prefetch: 20,
    hold: 8,
    choose: ttl_choice,
};

/// `torture.dlq`'s consumer.
const DLQ_POLICY: Policy = Policy {
    prefetch: 50,
    hold: 20,
    choose: dlq_choice,
};

/// The plain queues: ack about half, discard a few, requeue some, hold the rest.
fn plain_choice(roll: u64) -> Action {
    match roll {
        0..=44 => Action::Ack,
        45..=49 => Action::Discard,
        50..=64 => Action::Return,
        _ => Action::Hold,
    }
}

/// `torture.ttl`: ack, dead-letter, fail, requeue and hold.
fn ttl_choice(roll: u64) -> Action {
    match roll {
        0..=29 => Action::Ack,
        30..=39 => Action::DeadLetter,
        40..=49 => Action::Fail,
        50..=64 => Action::Return,
        _ => Action::Hold,
    }
}

/// `torture.dlq`: ack, requeue and hold.
fn dlq_choice(roll: u64) -> Action {
    match roll {
        0..=39 => Action::Ack,
        40..=59 => Action::Return,
        _ => Action::Hold,
    }
}

/// A consumer thread: treats each delivery as `policy` says, with its prefetch. It works in bursts of up to 60
/// deliveries with pauses of 2 to 15 ms between them.
fn consume(broker: &Broker, short: &str, queue: &str, policy: Policy, mut rng: Rng) {
    let mut run = || -> Result<(), Error> {
        let conn = broker.connect();
        let ch = conn.create_channel()?;
        ch.basic_qos(policy.prefetch, BasicQosOptions::default())?;
        let consumer = ch.basic_consume(queue, "", BasicConsumeOptions::default(), &no_args())?;
        let mut held: VecDeque<Delivery> = VecDeque::new();
        let mut burst = 0;
        let requeue = BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
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
            match (policy.choose)(rng.below(100)) {
                Action::Ack => {
                    say(&[format!("A {short} {id}")]);
                    d.ack()?;
                }
                Action::Discard => {
                    say(&[format!("A {short} {id}")]);
                    d.reject(BasicRejectOptions { requeue: false })?;
                }
                Action::DeadLetter => {
                    say(&[format!("J {short} {id}")]);
                    d.reject(BasicRejectOptions { requeue: false })?;
                }
                Action::Fail => {
                    say(&[format!("F {short} {id}")]);
                    d.reject(BasicRejectOptions { requeue: true })?;
                }
                Action::Return => {
                    d.nack(requeue)?;
                }
                Action::Hold => {
                    held.push_back(d);
                    if held.len() > policy.hold {
                        if let Some(old) = held.pop_front() {
                            old.nack(requeue)?;
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
    expired_late: u64,
    expired_early: u64,
    malformed: u64,
    bad_counts: u64,
    over_limit: u64,
    acked: u64,
    nacked: u64,
    recovered: u64,
    cuts: u64,
    clean_checks: u64,
    /// Trials that ran the ttl-dlx scenario.
    ttl_trials: u32,
    /// Dead-lettered messages found in `torture.dlq` after kills (kept ones again each time).
    dead_lettered: u64,
    /// Of those, the ones the reopened broker dead-lettered (expired while the process was
    /// dead, or held unacked by the child past their deadline).
    expired_at_reopen: u64,
    /// Dropped from `torture.max` by the reopen, recovered over its limit.
    dropped_at_reopen: u64,
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
            + self.expired_late
            + self.expired_early
            + self.malformed
            + self.bad_counts
            + self.over_limit
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trials {}, confirmed {}, lost {}, duplicated {}, not-redelivered {}, \
             out-of-order {}, unexpected {}, topology-lost {}, recovery-failures {}, \
             child-errors {}, inconsistent {}, expired-late {}, expired-early {}, malformed {}, \
             bad-counts {}, over-limit {}, kills {}, acked {}, nacked {}, recovered {}, \
             cuts {}, clean-checks {}, ttl-trials {}, dead-lettered {}, expired-at-reopen {}, \
             dropped-at-reopen {}, max-recovery-ms {}",
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
            self.expired_late,
            self.expired_early,
            self.malformed,
            self.bad_counts,
            self.over_limit,
            self.kills,
            self.acked,
            self.nacked,
            self.recovered,
            self.cuts,
            self.clean_checks,
            self.ttl_trials,
            self.dead_lettered,
            self.expired_at_reopen,
            self.dropped_at_reopen,
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
    /// Settled away (acked, or discarded without a dead-letter exchange), by queue as
    /// announced (`a`, `b`, `t`, `d`).
    settled: BTreeMap<String, BTreeSet<Id>>,
    acks: u64,
    /// Rejected without requeue from `torture.ttl`: dead-lettered (`J`).
    dead_lettered: BTreeSet<Id>,
    /// Rejects with requeue, by message (`F`).
    failed: BTreeMap<Id, u32>,
    /// The last bound of its clock announced (`T`); 0 if none.
    ceiling: u64,
    errors: Vec<String>,
    /// The last message number announced (a lower bound of what was published).
    last: u64,
    /// The last store counters reported: compaction's carried bytes, segments deleted.
    compaction: (u64, u64),
}

/// No messages.
static NONE: BTreeSet<Id> = BTreeSet::new();

impl Said {
    /// Reads the child's lines; a last line without its newline was cut by the kill.
    fn parse(out: &[u8]) -> Said {
        let mut said = Said::default();
        let complete = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for line in String::from_utf8_lossy(&out[..complete]).lines() {
            let mut words = line.splitn(3, ' ');
            let word = (words.next(), words.next(), words.next());
            let id = |s: Option<&str>| s.and_then(Id::parse);
            match word {
                (Some("O"), ..) => said.opened = true,
                (Some("C"), Some(i), None) => {
                    if let Some(i) = Id::parse(i) {
                        said.last = said.last.max(i.n);
                        said.confirmed.insert(i);
                    }
                }
                (Some("N"), Some(_), None) => said.nacked += 1,
                (Some("A"), Some(q), i) if id(i).is_some() => {
                    if let Some(i) = id(i) {
                        said.settled.entry(q.to_string()).or_default().insert(i);
                        said.acks += 1;
                    }
                }
                (Some("J"), Some(_), i) if id(i).is_some() => {
                    said.dead_lettered.extend(id(i));
                }
                (Some("F"), Some(_), i) if id(i).is_some() => {
                    if let Some(i) = id(i) {
                        *said.failed.entry(i).or_default() += 1;
                    }
                }
                (Some("T"), Some(ms), None) if ms.parse::<u64>().is_ok() => {
                    said.ceiling = said.ceiling.max(ms.parse().unwrap_or(0));
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

    /// What was settled away from queue `short`.
    fn settled(&self, short: &str) -> &BTreeSet<Id> {
        self.settled.get(short).unwrap_or(&NONE)
    }

    /// Adds what a later child said.
    fn merge(&mut self, later: Said) {
        self.opened |= later.opened;
        self.confirmed.extend(later.confirmed);
        self.nacked += later.nacked;
        for (q, ids) in later.settled {
            self.settled.entry(q).or_default().extend(ids);
        }
        self.acks += later.acks;
        self.dead_lettered.extend(later.dead_lettered);
        for (id, n) in later.failed {
            *self.failed.entry(id).or_default() += n;
        }
        self.ceiling = self.ceiling.max(later.ceiling);
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

/// When the parent took a message from a ttl-dlx queue after a kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// From `torture.dlq` before the clock ticked: as recovery left it.
    Recovered,
    /// From `torture.dlq` right after the tick at the reopen time: moved by the engine's timer.
    Tick,
    /// From `torture.ttl` or `torture.max`, after the tick.
    Ready,
    /// From `torture.dlq` once `torture.ttl` was empty: moved as the gets reached them.
    Behind,
}

/// One message the parent took from a ttl-dlx queue after a kill.
struct Taken {
    queue: TtlQueue,
    stage: Stage,
    got: Got,
}

/// A ttl-dlx message the parent kept for the next trial.
#[derive(Clone, Debug)]
struct Kept {
    queue: TtlQueue,
    /// Its failed and returned counts once requeued (SEMANTICS A10).
    failed: u32,
    returned: u32,
    /// Its `x-death` header, in `torture.dlq`.
    death: Option<FieldValue>,
}

/// What the parent knows of the ttl-dlx queues between trials.
#[derive(Default)]
struct TtlState {
    /// Whether a child declared them: they must exist from then on.
    declared: bool,
    /// What the parent kept at the end of the last trial.
    kept: BTreeMap<Id, Kept>,
    /// The messages kept in `torture.dlq`, in its order.
    dlq_order: Vec<Id>,
}

/// A dead-lettered message's one `x-death` entry, as checked by [`read_death`].
struct Death {
    reason: String,
    /// `time`, seconds since the epoch.
    time_s: u64,
    /// The whole `x-death` header, to compare later.
    header: FieldValue,
}

/// Reads and checks the dead-letter headers of ttl-dlx message `id` published to `from`
/// (SEMANTICS X4, X5): no `expiration`, one `x-death` entry naming `from`, count 1, the
/// default exchange, its routing key and its `original-expiration`, and the first and last
/// death headers agreeing with it. The error says what is wrong.
fn read_death(props: &BasicProperties, id: Id, from: TtlQueue) -> Result<Death, String> {
    if let Some(e) = &props.expiration {
        return Err(format!("kept its expiration {e:?}"));
    }
    let headers = props.headers.as_ref().ok_or("has no headers")?;
    let header = headers.get("x-death").ok_or("has no x-death")?;
    let deaths = header.as_array().ok_or("has an x-death that is no array")?;
    let [death] = deaths else {
        return Err(format!("has {} x-death entries", deaths.len()));
    };
    let t = death
        .as_table()
        .ok_or("has an x-death entry that is no table")?;
    let text = |name: &str| t.get(name).and_then(FieldValue::as_str);
    if text("queue") != Some(from.name()) {
        return Err(format!("died in {:?}", text("queue")));
    }
    let reason = text("reason").ok_or("has no x-death reason")?;
    if t.get("count").and_then(FieldValue::as_i64) != Some(1) {
        return Err(format!("has x-death count {:?}", t.get("count")));
    }
    if text("exchange") != Some("") {
        return Err(format!("was published to {:?}", text("exchange")));
    }
    let keys: Option<Vec<&str>> = t
        .get("routing-keys")
        .and_then(FieldValue::as_array)
        .map(|keys| keys.iter().filter_map(FieldValue::as_str).collect());
    if keys.as_deref() != Some(&[from.name()][..]) {
        return Err(format!("has routing-keys {keys:?}"));
    }
    let expiration = ttl_expiration(id).map(|e| e.to_string());
    if text("original-expiration") != expiration.as_deref() {
        return Err(format!(
            "has original-expiration {:?}, published with {expiration:?}",
            text("original-expiration")
        ));
    }
    let Some(FieldValue::Timestamp(time_s)) = t.get("time") else {
        return Err(format!("has x-death time {:?}", t.get("time")));
    };
    for (field, want) in [("queue", from.name()), ("reason", reason), ("exchange", "")] {
        for which in ["first", "last"] {
            let name = format!("x-{which}-death-{field}");
            let have = headers.get(&name).and_then(FieldValue::as_str);
            if have != Some(want) {
                return Err(format!("has {name} {have:?}, want {want:?}"));
            }
        }
    }
    Ok(Death {
        reason: reason.to_string(),
        time_s: *time_s,
        header: header.clone(),
    })
}

/// The parent: the run's state.
struct Torture<'a> {
    args: &'a TortureArgs,
    seed: u64,
    rng: Rng,
    /// What each plain queue must still hold: kept at the end of the previous trial.
    kept: [BTreeSet<Id>; 2],
    /// Whether a child declared the plain topology (its `O` line): it must exist from then on.
    declared: bool,
    /// The ttl-dlx queues.
    ttl: TtlState,
    /// The run's time, ms since the epoch, on every broker's manual clock: where the next
    /// child starts, and where the parent's brokers stand.
    now_ms: u64,
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
        ttl: TtlState::default(),
        now_ms: START_MS,
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

/// Deletes what an earlier run left in `dir` (the torture queues and exchanges), so the checks
/// start from nothing; creates `dir` if needed.
fn reset(dir: &Path, segment_size: u64) -> Result<(), CliError> {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::new(format!(
            "--dir '{}' is not a directory",
            dir.display()
        )));
    }
    let broker = open(dir, segment_size, &Clock::manual(START_MS))?;
    let ch = broker.connect().create_channel()?;
    let queues = QUEUES.iter().map(|(_, q)| *q);
    for queue in queues.chain(TtlQueue::ALL.iter().map(|q| q.name())) {
        if broker.queue_counts(queue).is_some() {
            ch.queue_delete(queue, QueueDeleteOptions::default())?;
        }
    }
    for exchange in [EXCHANGE, DLX] {
        if broker.exchange_exists(exchange) {
            ch.exchange_delete(exchange, ExchangeDeleteOptions::default())?;
        }
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

/// What the ttl-dlx check found, for the verbose line.
#[derive(Default)]
struct TtlSeen {
    /// Messages found in `torture.ttl`, `torture.dlq`, `torture.max`.
    counts: [usize; 3],
    /// Moved to `torture.dlq` by the reopened broker.
    expired_at_reopen: usize,
}

impl Torture<'_> {
    /// Starts child `generation` on `scenario` with its clock at `start_ms`, kills it after a
    /// random delay and reads what it said.
    fn crash_child(
        &mut self,
        exe: &Path,
        generation: u32,
        scenario: Scenario,
        start_ms: u64,
    ) -> Result<(Said, u64), CliError> {
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
            .args(["--scenario", scenario.name()])
            .args(["--start-ms", &start_ms.to_string()])
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
        match scenario {
            Scenario::TtlDlx => self.ttl.declared |= said.opened,
            _ => self.declared |= said.opened,
        }
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
        let scenario = match args.scenario {
            Scenario::Mixed if self.rng.percent(50) => Scenario::TtlDlx,
            Scenario::Mixed => Scenario::Plain,
            s => s,
        };
        if scenario == Scenario::TtlDlx {
            self.totals.ttl_trials += 1;
        }
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
            // The clock never goes back: a second child starts where the first one may be.
            let start = self.now_ms.max(said.ceiling);
            let (s, kill_ms) = self.crash_child(exe, self.generation, scenario, start)?;
            said.merge(s);
            kills.push(kill_ms.to_string());
        }
        let generations = first..=self.generation;
        let kill_ms = kills.join("+");
        // The time spent dead: up to half a TTL past what the child may have reached, or one
        // to three TTLs (everything due), so messages fall due while nobody runs.
        let dead_ms = if self.rng.percent(25) {
            self.rng.between(TTL_MS, 3 * TTL_MS)
        } else {
            self.rng.below(TTL_MS / 2 + 1)
        };
        self.now_ms = self.now_ms.max(said.ceiling) + dead_ms;
        let clock = Clock::manual(self.now_ms);

        let files = read_snapshot(&args.dir)?;
        let mut closed: Option<Snapshot> = None;
        let started = Instant::now();
        let opened = open(&args.dir, args.segment_size, &clock);
        let took = started.elapsed();
        self.totals.max_recovery = self.totals.max_recovery.max(took);
        let line = match opened {
            Err(e) => {
                self.totals.recovery_failures += 1;
                self.details.push(format!("recovery failed: {e}"));
                format!("trial {trial}: kill-ms {kill_ms}, recovery failed: {e}")
            }
            Ok(broker) => {
                let checked = Checked {
                    trial,
                    scenario,
                    generations,
                    dead_ms,
                    took,
                };
                let line = self.check(&broker, &checked, &kill_ms, &said)?;
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

    /// Takes every message of every plain queue (not acked yet); `None` for a missing queue.
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
            all[q] = Some(get_all(ch, queue)?);
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
        checked: &Checked,
        kill_ms: &str,
        said: &Said,
    ) -> Result<String, CliError> {
        let report = broker.recovery().cloned().unwrap_or_default();
        self.totals.recovered += u64::try_from(report.messages).unwrap_or(u64::MAX);
        if report.cut.is_some() {
            self.totals.cuts += 1;
        }
        let conn = broker.connect();
        let ch = conn.create_channel()?;
        let topology_lost = self.totals.topology_lost;
        let all = self.take_all(&ch, broker)?;
        let plain = checked.scenario == Scenario::Plain;
        let generations = &checked.generations;
        let mut distinct = BTreeSet::new();
        let mut counts = [0usize; 2];
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
                let may_be_here = if plain && generations.contains(&id.generation) {
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
            let confirmed = said.confirmed.iter().filter(|_| plain);
            let must: BTreeSet<Id> = self.kept[q]
                .iter()
                .chain(confirmed.filter(|id| routes(id.n)[q]))
                .copied()
                .filter(|id| !said.settled(short).contains(id))
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
        let taken = self.check_ttl(&ch, broker, checked, said, &mut distinct)?;
        let mut ttl_seen = TtlSeen::default();
        for t in taken.iter().flatten() {
            ttl_seen.counts[t.queue.index()] += 1;
            if matches!(t.stage, Stage::Tick | Stage::Behind) {
                ttl_seen.expired_at_reopen += 1;
            }
        }
        if distinct.len() != report.messages && self.totals.topology_lost == topology_lost {
            self.totals.inconsistent += 1;
            self.details.push(format!(
                "recovery reports {} messages, the queues hold {} distinct ones",
                report.messages,
                distinct.len()
            ));
        }
        // Keep some for the next trial, settle the rest.
        let mut kept: [BTreeSet<Id>; 2] = Default::default();
        let mut kept_counts = [0usize; 2];
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
        let ttl_kept = self.keep_ttl(taken.unwrap_or_default())?;
        drop(ch);
        drop(conn);
        let [t, d, m] = ttl_seen.counts;
        Ok(format!(
            "trial {}: kill-ms {kill_ms}, {}, opened {}, confirmed {}, last {}, acked {}, \
             child-compaction carried {} deleted {}, recovered {} (a {}, b {}, ttl {t}, dlq {d}, \
             max {m}), dead-ms {}, expired-at-reopen {}, kept a {} b {} ttl {} dlq {} max {}, \
             segments {}, cut {}, recovery-ms {}",
            checked.trial,
            checked.scenario.name(),
            said.opened,
            said.confirmed.len(),
            said.last,
            said.acks,
            said.compaction.0,
            said.compaction.1,
            report.messages,
            counts[0],
            counts[1],
            checked.dead_ms,
            ttl_seen.expired_at_reopen,
            kept_counts[0],
            kept_counts[1],
            ttl_kept[0],
            ttl_kept[1],
            ttl_kept[2],
            report.segments,
            report.cut.as_deref().unwrap_or("-"),
            checked.took.as_millis()
        ))
    }

    /// Checks the ttl-dlx queues after the kill (see the module docs); returns what it took
    /// from them, `None` if they do not exist.
    fn check_ttl(
        &mut self,
        ch: &Channel,
        broker: &Broker,
        checked: &Checked,
        said: &Said,
        distinct: &mut BTreeSet<Id>,
    ) -> Result<Option<Vec<Taken>>, CliError> {
        let present = TtlQueue::ALL
            .iter()
            .all(|q| broker.queue_counts(q.name()).is_some())
            && broker.exchange_exists(DLX);
        if !present {
            if self.ttl.declared {
                self.totals.topology_lost += 1;
                self.details
                    .push("a ttl-dlx queue or exchange is gone".to_string());
            }
            return Ok(None);
        }
        let current = checked.scenario == Scenario::TtlDlx;
        let r = broker.clock().now_ms();
        let max_ready = broker
            .queue_counts(TtlQueue::Max.name())
            .map_or(0, |(ready, _)| ready);
        if max_ready > MAX_LENGTH {
            self.totals.over_limit += 1;
            self.details.push(format!(
                "torture.max holds {max_ready} ready messages when reopened, its x-max-length \
                 is {MAX_LENGTH} (SEMANTICS L5)"
            ));
        }
        let mut taken = Vec::new();
        let mut take = |queue: TtlQueue, stage: Stage| -> Result<(), Error> {
            for got in get_all(ch, queue.name())? {
                taken.push(Taken { queue, stage, got });
            }
            Ok(())
        };
        take(TtlQueue::Dlq, Stage::Recovered)?;
        // The engine's timer at the reopen time: what is due at the head goes now (S6).
        broker.clock().advance(Duration::ZERO)?;
        take(TtlQueue::Dlq, Stage::Tick)?;
        take(TtlQueue::Ttl, Stage::Ready)?;
        take(TtlQueue::Dlq, Stage::Behind)?;
        take(TtlQueue::Max, Stage::Ready)?;

        // The head of torture.ttl at R once the tick was done: all before it were due.
        let first_live = taken
            .iter()
            .find(|t| t.queue == TtlQueue::Ttl)
            .and_then(|t| t.got.id);
        let oldest_max = taken
            .iter()
            .find(|t| t.queue == TtlQueue::Max)
            .and_then(|t| t.got.id);
        // What the reopen itself dropped from torture.max (recovered over its limit, L6): new
        // copies, not delivered before, behind everything recovered in torture.dlq. A publish
        // and the drop it causes are two records, so the kill leaves at most one too many.
        let recovered = taken
            .iter()
            .take_while(|t| t.stage == Stage::Recovered)
            .count();
        let at_open = taken[..recovered]
            .iter()
            .rev()
            .take_while(|t| {
                !t.got.redelivered && t.got.id.is_some_and(|id| ttl_target(id.n) == TtlQueue::Max)
            })
            .count();
        if at_open > 1 {
            self.totals.over_limit += 1;
            self.details.push(format!(
                "the reopen dropped {at_open} messages from torture.max, which can have been one                  over its limit at most (SEMANTICS L6)"
            ));
        }
        self.totals.dropped_at_reopen += u64::try_from(at_open).unwrap_or(u64::MAX);
        let mut newest_dropped: Option<Id> = None;
        let mut seen: BTreeMap<Id, TtlQueue> = BTreeMap::new();
        let mut previous: [Option<Id>; 3] = [None; 3];
        for (i, t) in taken.iter().enumerate() {
            let q = t.queue;
            let g = &t.got;
            let Some(id) = g.id else {
                self.totals.unexpected += 1;
                self.details.push(format!(
                    "{} holds {:?}",
                    q.name(),
                    String::from_utf8_lossy(g.delivery.body())
                ));
                continue;
            };
            distinct.insert(id);
            if let Some(before) = seen.insert(id, q) {
                self.totals.duplicated += 1;
                self.details.push(format!(
                    "{id} is both in {} and in {} (SEMANTICS X7)",
                    before.name(),
                    q.name()
                ));
            }
            let kept = self.ttl.kept.get(&id).cloned();
            let kept = kept.as_ref();
            let fresh = current && checked.generations.contains(&id.generation);
            let from = ttl_target(id.n);
            let may_be_here = (fresh || kept.is_some())
                && (q == TtlQueue::Dlq || q == from)
                && !kept.is_some_and(|k| k.queue == TtlQueue::Dlq && q != TtlQueue::Dlq);
            if !may_be_here {
                self.totals.unexpected += 1;
                self.details.push(format!(
                    "{} holds {id}, which cannot be there (published to {}, kept in {:?})",
                    q.name(),
                    from.name(),
                    kept.map(|k| k.queue.name())
                ));
                continue;
            }
            let body = g.delivery.body();
            let entered = entered_of(body).unwrap_or(0);
            if body != ttl_body(id, entered).as_slice() {
                self.totals.malformed += 1;
                self.details.push(format!(
                    "{} holds {id} with a body other than the one published",
                    q.name()
                ));
                continue;
            }
            let deadline = ttl_deadline(id, entered);
            let props = g.delivery.properties();
            if q == TtlQueue::Dlq {
                if t.stage == Stage::Recovered && !g.redelivered && i < recovered - at_open {
                    self.totals.not_redelivered += 1;
                    self.details.push(format!(
                        "torture.dlq: {id} came back with redelivered=false"
                    ));
                }
                self.check_death(t, id, kept, said, deadline, r, first_live);
                if from == TtlQueue::Max {
                    newest_dropped = newest_dropped.max(Some(id));
                }
                self.totals.dead_lettered += 1;
                if t.stage != Stage::Recovered {
                    self.totals.expired_at_reopen += 1;
                }
                continue;
            }
            if !g.redelivered {
                self.totals.not_redelivered += 1;
                self.details.push(format!(
                    "{}: {id} came back with redelivered=false",
                    q.name()
                ));
            }
            let last = &mut previous[q.index()];
            if last.is_some_and(|p| p > id) {
                self.totals.out_of_order += 1;
                self.details.push(format!(
                    "{}: {id} comes after {}",
                    q.name(),
                    last.map_or_else(String::new, |p| p.to_string())
                ));
            }
            *last = Some(last.map_or(id, |p| p.max(id)));
            let expiration = ttl_expiration(id).map(|e| e.to_string());
            if props.expiration != expiration {
                self.totals.malformed += 1;
                self.details.push(format!(
                    "{}: {id} has expiration {:?}, published with {expiration:?}",
                    q.name(),
                    props.expiration
                ));
            }
            if q == TtlQueue::Ttl {
                if deadline <= r {
                    self.totals.expired_late += 1;
                    self.details.push(format!(
                        "torture.ttl delivered {id} at the reopen time {r} ms, although it was \
                         due at {deadline} ms (SEMANTICS S6, L2)"
                    ));
                }
                self.check_counts(id, g, kept, said);
            }
        }
        if let (Some(dropped), Some(oldest)) = (newest_dropped, oldest_max) {
            if dropped > oldest {
                self.totals.out_of_order += 1;
                self.details.push(format!(
                    "torture.max dropped {dropped} while the older {oldest} stayed (SEMANTICS L6 \
                     drop-head)"
                ));
            }
        }
        // Every message that must be somewhere is somewhere (SEMANTICS X7, S4).
        let settled = |id: &Id| {
            said.settled(TtlQueue::Ttl.short()).contains(id)
                || said.settled(TtlQueue::Dlq.short()).contains(id)
        };
        let confirmed = said.confirmed.iter().filter(|_| current);
        let must: BTreeSet<Id> = self
            .ttl
            .kept
            .keys()
            .chain(confirmed)
            .copied()
            .filter(|id| !settled(id))
            .collect();
        for id in must {
            if !seen.contains_key(&id) {
                self.totals.lost += 1;
                self.details.push(format!(
                    "lost {id}: in neither {} nor torture.dlq (confirmed: {}, kept in: {:?})",
                    ttl_target(id.n).name(),
                    said.confirmed.contains(&id),
                    self.ttl.kept.get(&id).map(|k| k.queue.name())
                ));
            }
        }
        Ok(Some(taken))
    }

    /// Checks the dead-letter headers of `t`, found in `torture.dlq` (SEMANTICS X4-X6, L2, S6):
    /// see [`read_death`]; an expiry at or after its `deadline`, not after the reopen time
    /// `r`, and by the tick exactly when it was due before `first_live`, the live head at `r`;
    /// a rejection only if a consumer announced it.
    #[allow(clippy::too_many_arguments)]
    fn check_death(
        &mut self,
        t: &Taken,
        id: Id,
        kept: Option<&Kept>,
        said: &Said,
        deadline: u64,
        r: u64,
        first_live: Option<Id>,
    ) {
        let from = ttl_target(id.n);
        let death = match read_death(t.got.delivery.properties(), id, from) {
            Ok(d) => d,
            Err(why) => {
                self.totals.malformed += 1;
                self.details
                    .push(format!("torture.dlq: {id} from {} {why}", from.name()));
                return;
            }
        };
        if let Some(k) = kept.filter(|k| k.queue == TtlQueue::Dlq) {
            if k.death.as_ref() != Some(&death.header) {
                self.totals.malformed += 1;
                self.details
                    .push(format!("torture.dlq: the x-death of {id} changed"));
            }
        }
        if death.time_s.saturating_mul(1000) > r {
            self.totals.malformed += 1;
            self.details.push(format!(
                "torture.dlq: {id} died at {} s, after the reopen time {r} ms",
                death.time_s
            ));
        }
        match (from, death.reason.as_str(), t.stage) {
            (TtlQueue::Ttl, "expired", stage) => {
                // It died at a time of at least its deadline (x-death has whole seconds).
                if deadline > r || deadline > death.time_s.saturating_mul(1000) + 999 {
                    self.totals.expired_early += 1;
                    self.details.push(format!(
                        "torture.dlq: {id} expired at {} s, due only at {deadline} ms (reopened \
                         at {r} ms)",
                        death.time_s
                    ));
                }
                let behind_live = first_live.is_some_and(|h| h < id);
                if stage == Stage::Tick && behind_live {
                    self.totals.expired_early += 1;
                    self.details.push(format!(
                        "the tick at the reopen dead-lettered {id} from behind the live {} \
                         (SEMANTICS L2)",
                        first_live.map_or_else(String::new, |h| h.to_string())
                    ));
                }
                if stage == Stage::Behind && !behind_live {
                    self.totals.expired_late += 1;
                    self.details.push(format!(
                        "{id} was due at the head of torture.ttl when reopened, but the tick \
                         left it there (SEMANTICS S6)"
                    ));
                }
            }
            (TtlQueue::Ttl, "rejected", Stage::Recovered) => {
                let rejected = said.dead_lettered.contains(&id)
                    || kept.is_some_and(|k| k.queue == TtlQueue::Dlq);
                if !rejected {
                    self.totals.unexpected += 1;
                    self.details.push(format!(
                        "torture.dlq: {id} was dead-lettered as rejected, but no consumer \
                         rejected it"
                    ));
                }
            }
            (TtlQueue::Max, "maxlen", Stage::Recovered) => {}
            (_, reason, stage) => {
                self.totals.malformed += 1;
                self.details.push(format!(
                    "torture.dlq: {id} from {} was dead-lettered as {reason} ({stage:?})",
                    from.name()
                ));
            }
        }
    }

    /// Checks the counts of `g`, taken from `torture.ttl` (SEMANTICS A10): failed between what
    /// the parent left and that plus the child's announced rejects with requeue, returned not
    /// below what the parent left, `x-delivery-count` the failed count when positive.
    fn check_counts(&mut self, id: Id, g: &Got, kept: Option<&Kept>, said: &Said) {
        let (failed, returned) = kept.map_or((0, 0), |k| (k.failed, k.returned));
        let most = failed + said.failed.get(&id).copied().unwrap_or(0);
        let d = &g.delivery;
        if !(failed..=most).contains(&d.failed_count()) || d.returned_count() < returned {
            self.totals.bad_counts += 1;
            self.details.push(format!(
                "torture.ttl: {id} has failed count {} (want {failed}..={most}) and returned \
                 count {} (want at least {returned}) (SEMANTICS A10)",
                d.failed_count(),
                d.returned_count()
            ));
        }
        let header = d
            .properties()
            .headers
            .as_ref()
            .and_then(|h| h.get("x-delivery-count"))
            .and_then(FieldValue::as_i64);
        let want = (d.failed_count() > 0).then(|| i64::from(d.failed_count()));
        if header != want {
            self.totals.bad_counts += 1;
            self.details.push(format!(
                "torture.ttl: {id} has x-delivery-count {header:?}, failed count {}",
                d.failed_count()
            ));
        }
    }

    /// Keeps a random part of each ttl-dlx queue for the next trial (requeued; in `torture.ttl`
    /// one in three by a reject with requeue, so its failed count grows) and acks the rest.
    /// Returns how many it kept per queue.
    fn keep_ttl(&mut self, taken: Vec<Taken>) -> Result<[usize; 3], CliError> {
        let mut kept: BTreeMap<Id, Kept> = BTreeMap::new();
        let mut order = Vec::new();
        let mut counts = [0usize; 3];
        let shares = [(); 3].map(|()| self.rng.between(20, 80));
        for t in taken {
            let i = t.queue.index();
            let d = &t.got.delivery;
            let keep = t.got.id.filter(|id| {
                !kept.contains_key(id) && counts[i] < KEEP_MAX && self.rng.percent(shares[i])
            });
            let Some(id) = keep else {
                d.ack()?;
                continue;
            };
            let (mut failed, mut returned) = (d.failed_count(), d.returned_count());
            if t.queue == TtlQueue::Ttl && self.rng.percent(33) {
                d.reject(BasicRejectOptions { requeue: true })?;
                failed += 1;
            } else {
                d.nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })?;
                returned += 1;
            }
            let death = (t.queue == TtlQueue::Dlq)
                .then(|| {
                    d.properties()
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("x-death"))
                        .cloned()
                })
                .flatten();
            if t.queue == TtlQueue::Dlq {
                order.push(id);
            }
            kept.insert(
                id,
                Kept {
                    queue: t.queue,
                    failed,
                    returned,
                    death,
                },
            );
            counts[i] += 1;
        }
        self.ttl.kept = kept;
        self.ttl.dlq_order = order;
        Ok(counts)
    }

    /// Reopens after the parent's clean close: the report must say clean and count the kept
    /// messages, the queues must hold exactly them, in order, still redelivered (S3).
    fn clean_check(&mut self) -> Result<Snapshot, CliError> {
        self.totals.clean_checks += 1;
        let args = self.args;
        let closed = read_snapshot(&args.dir)?;
        let broker = match open(&args.dir, args.segment_size, &Clock::manual(self.now_ms)) {
            Ok(b) => b,
            Err(e) => {
                self.totals.recovery_failures += 1;
                self.details
                    .push(format!("reopening after a clean close failed: {e}"));
                return Ok(closed);
            }
        };
        let report: RecoveryReport = broker.recovery().cloned().unwrap_or_default();
        let distinct = self.kept[0].union(&self.kept[1]).count() + self.ttl.kept.len();
        if !report.clean || report.cut.is_some() || report.messages != distinct {
            self.totals.inconsistent += 1;
            self.details.push(format!(
                "after a clean close: clean {}, cut {:?}, messages {} (kept {distinct})",
                report.clean, report.cut, report.messages,
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
            self.requeue_clean(QUEUES[q].1, got)?;
        }
        self.clean_check_ttl(&ch, &broker)?;
        drop(ch);
        drop(conn);
        broker.close();
        Ok(closed)
    }

    /// The ttl-dlx part of [`clean_check`](Self::clean_check): each queue holds exactly what
    /// was kept, in order, with its counts (SEMANTICS A10) and `x-death`. Nothing ticks: every
    /// kept message was live at this time.
    fn clean_check_ttl(&mut self, ch: &Channel, broker: &Broker) -> Result<(), CliError> {
        if !TtlQueue::ALL
            .iter()
            .all(|q| broker.queue_counts(q.name()).is_some())
        {
            if self.ttl.declared {
                self.totals.topology_lost += 1;
                self.details
                    .push("after a clean close a ttl-dlx queue is gone".to_string());
            }
            return Ok(());
        }
        for q in TtlQueue::ALL {
            let got = get_all(ch, q.name())?;
            let ids: Vec<Option<Id>> = got.iter().map(|g| g.id).collect();
            let want: Vec<Option<Id>> = match q {
                TtlQueue::Dlq => self.ttl.dlq_order.iter().copied().map(Some).collect(),
                _ => self
                    .ttl
                    .kept
                    .iter()
                    .filter(|(_, k)| k.queue == q)
                    .map(|(id, _)| Some(*id))
                    .collect(),
            };
            if ids != want {
                self.totals.inconsistent += 1;
                self.details.push(format!(
                    "after a clean close {} holds {} messages, kept {} (or not in order)",
                    q.name(),
                    ids.len(),
                    want.len()
                ));
            }
            for g in &got {
                let Some((id, k)) = g.id.and_then(|id| Some((id, self.ttl.kept.get(&id)?))) else {
                    continue;
                };
                let d = &g.delivery;
                if q == TtlQueue::Ttl
                    && (d.failed_count(), d.returned_count()) != (k.failed, k.returned)
                {
                    self.totals.bad_counts += 1;
                    self.details.push(format!(
                        "after a clean close {id} has counts failed {} returned {}, kept with \
                         {} and {} (SEMANTICS A10)",
                        d.failed_count(),
                        d.returned_count(),
                        k.failed,
                        k.returned
                    ));
                }
                let death = d
                    .properties()
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("x-death"));
                if death != k.death.as_ref() {
                    self.totals.malformed += 1;
                    self.details
                        .push(format!("after a clean close the x-death of {id} changed"));
                }
            }
            for g in &got {
                if let Some(k) = g.id.and_then(|id| self.ttl.kept.get_mut(&id)) {
                    k.returned += 1;
                }
            }
            self.requeue_clean(q.name(), got)?;
        }
        Ok(())
    }

    /// Checks that messages taken after a clean close kept their `redelivered` flags, then puts
    /// them back.
    fn requeue_clean(&mut self, queue: &str, got: Vec<Got>) -> Result<(), CliError> {
        let fresh = got.iter().filter(|g| !g.redelivered).count();
        if fresh > 0 {
            self.totals.not_redelivered += u64::try_from(fresh).unwrap_or(u64::MAX);
            self.details.push(format!(
                "after a clean close {queue}: {fresh} messages lost their redelivered flag"
            ));
        }
        for g in got {
            g.delivery.nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })?;
        }
        Ok(())
    }
}

/// The facts of one trial that [`Torture::check`] needs.
struct Checked {
    trial: u32,
    scenario: Scenario,
    /// The generations of its children.
    generations: RangeInclusive<u32>,
    /// The time spent dead, ms.
    dead_ms: u64,
    /// How long the reopen took.
    took: Duration,
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

    #[test]
    fn ttl_lines_are_read_and_merged() {
        let mut said = Said::parse(b"T 100\nJ t 1-2\nF t 1-3\nF t 1-3\nA d 1-2\nT 90\n");
        assert!(said.errors.is_empty(), "{:?}", said.errors);
        assert_eq!(said.ceiling, 100);
        assert!(said.dead_lettered.contains(&Id {
            generation: 1,
            n: 2
        }));
        assert!(said.settled("d").contains(&Id {
            generation: 1,
            n: 2
        }));
        assert!(said.settled("t").is_empty());
        said.merge(Said::parse(b"T 120\nF t 1-3\n"));
        assert_eq!(said.ceiling, 120);
        assert_eq!(
            said.failed.get(&Id {
                generation: 1,
                n: 3
            }),
            Some(&3)
        );
        let bad = Said::parse(b"T x\nJ t\n");
        assert_eq!(bad.errors.len(), 2, "{:?}", bad.errors);
    }

    #[test]
    fn ttl_bodies_carry_their_entry_time_and_deadlines_follow() {
        let mut with_expiration = 0;
        for n in 1..=400 {
            let id = Id { generation: 3, n };
            let body = ttl_body(id, 1_234);
            assert_eq!(Id::from_body(&body), Some(id));
            assert_eq!(entered_of(&body), Some(1_234));
            assert_eq!(body, ttl_body(id, 1_234), "the padding follows from the id");
            let deadline = ttl_deadline(id, 1_234);
            assert!((1_234..=1_234 + TTL_MS).contains(&deadline));
            match ttl_expiration(id) {
                Some(e) => {
                    with_expiration += 1;
                    assert_eq!(ttl_target(n), TtlQueue::Ttl);
                    assert_eq!(deadline, 1_234 + e.min(TTL_MS));
                }
                None => assert_eq!(deadline, 1_234 + TTL_MS),
            }
        }
        assert!(
            (40..=120).contains(&with_expiration),
            "about one in four of 300: {with_expiration}"
        );
    }

    #[test]
    fn a_dead_letter_header_is_read_and_its_faults_named() {
        let id = (1..)
            .map(|n| Id { generation: 5, n })
            .find(|&id| ttl_expiration(id).is_some())
            .expect("some message has an expiration");
        let entry = |reason: &str, count: i64| {
            FieldValue::Table(
                FieldTable::new()
                    .with("queue", "torture.ttl")
                    .with("reason", reason)
                    .with("count", FieldValue::I64(count))
                    .with("time", FieldValue::Timestamp(1_700_000_000))
                    .with("exchange", "")
                    .with(
                        "routing-keys",
                        FieldValue::Array(vec![FieldValue::from("torture.ttl")]),
                    )
                    .with(
                        "original-expiration",
                        ttl_expiration(id).unwrap_or(0).to_string(),
                    ),
            )
        };
        let props = |deaths: Vec<FieldValue>| {
            let mut headers = FieldTable::new().with("x-death", FieldValue::Array(deaths));
            for (field, value) in [
                ("queue", "torture.ttl"),
                ("reason", "expired"),
                ("exchange", ""),
            ] {
                headers.insert(format!("x-first-death-{field}"), value);
                headers.insert(format!("x-last-death-{field}"), value);
            }
            BasicProperties::default().with_headers(headers)
        };
        let death = read_death(&props(vec![entry("expired", 1)]), id, TtlQueue::Ttl)
            .expect("a good header");
        assert_eq!(
            (death.reason.as_str(), death.time_s),
            ("expired", 1_700_000_000)
        );
        let err = |p: &BasicProperties, from| read_death(p, id, from).err().unwrap_or_default();
        assert!(err(&props(vec![entry("expired", 2)]), TtlQueue::Ttl).contains("count"));
        assert!(err(&props(vec![]), TtlQueue::Ttl).contains("0 x-death entries"));
        assert!(err(&props(vec![entry("expired", 1)]), TtlQueue::Max).contains("died in"));
        assert!(
            err(&props(vec![entry("rejected", 1)]), TtlQueue::Ttl).contains("x-first-death-reason")
        );
        let mut kept = props(vec![entry("expired", 1)]);
        kept.expiration = Some("5".into());
        assert!(err(&kept, TtlQueue::Ttl).contains("kept its expiration"));
    }
}
