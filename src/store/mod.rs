//! `store`: the durable log behind [`Broker::open`](crate::Broker::open).
//!
//! One append-only log, in segment files, holds the durable topology (exchanges, queues, and
//! bindings between durable ends) and, for durable queues, persistent messages and what
//! becomes of them (settled, requeued with their counts). Every record is length-prefixed and
//! checksummed (`codec`).
//!
//! # Writing: group commit
//!
//! Appends go to an in-memory buffer under one short lock; a single writer thread takes
//! everything appended so far, writes it and runs one `fdatasync` for all of it, while the next
//! appends gather behind it. Throughput is bounded by the disk, not by one sync per message.
//! What waits for a sync (a publisher confirm, a durable declare) is told once a successful
//! sync covers its record (SEMANTICS C2). A failed write or sync nacks everything it covered
//! (C3) and keeps the bytes: the writer cuts the file back to its last synced length and
//! writes them again, so the file is always a prefix of the appended records and nothing
//! appended after a failure is confirmed before what came before it is on disk.
//!
//! # Space
//!
//! Segments roll at [`StoreOptions::segment_size`]. The oldest segments go once nothing in
//! them is live; one that is at most half live is emptied first by appending its live records
//! again (they keep their ids, so order is kept), then deleted once that append is synced.
//! Segments only ever go from the front, so a deletion record is never lost while what it
//! deletes is still in the log.
//!
//! # Recovery
//!
//! See `recover`: replay stops at the first torn or corrupt record, cuts there and reports it
//! (SEMANTICS S5). A clean close writes a last `Shutdown` record; without it, every recovered
//! message is redelivered (S3).

mod codec;
mod live;
mod record;
mod recover;

pub(crate) use codec::MessageRef;
pub(crate) use record::{DestId, Record};
pub(crate) use recover::Recovered;

use crate::error::Error;
use live::{Live, Span};
use recover::{SegInfo, HEADER_LEN};
use smallvec::SmallVec;
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many times `open` retries a held `LOCK` (5 ms apart) before it reports it in use.
const LOCK_RETRIES: u32 = 40;
/// The file extension of a segment.
pub(crate) const SEGMENT_EXT: &str = "wlog";
/// The first 8 bytes of every segment.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"WARRENL1";
/// How long the writer watches for more appends before a sync (see `Writer::gather`).
const GATHER_SPIN: Duration = Duration::from_micros(3);
/// How long the writer watches for the next append after a sync before it sleeps.
const LINGER: Duration = Duration::from_micros(50);
/// The longest the writer lets a burst of appends grow before it syncs.
const GATHER_MAX: Duration = Duration::from_micros(200);
/// The lock file that keeps a second process out of a data directory.
const LOCK_FILE: &str = "LOCK";

/// The durable store's settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// A segment rolls once it holds this many bytes (default 64 MiB; at least 4 KiB).
    pub segment_size: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            segment_size: 64 << 20,
        }
    }
}

impl StoreOptions {
    /// Sets the segment size.
    pub fn with_segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }
}

/// A store fault to inject ([`Broker::fail_next`](crate::Broker::fail_next)), so applications
/// can prove their error paths: the engine turns it into nacks and errors, never into an ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The next write of the log fails (nothing of it reaches the file).
    Write,
    /// The next fsync fails (the bytes were written but are not known to be safe).
    Sync,
    /// The next fsync takes at least this long (a slow disk): confirms wait, so timeouts of
    /// [`wait_for_confirms`](crate::Channel::wait_for_confirms) can be tested.
    SlowSync(Duration),
}

/// What recovery found when a data directory was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segments kept.
    pub segments: usize,
    /// Records replayed.
    pub records: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes cut off after the first torn or corrupt record (SEMANTICS S5).
    pub bytes_dropped: u64,
    /// Where and why the log was cut, if it was.
    pub cut: Option<String>,
    /// Whether the previous run closed cleanly (else every message comes back redelivered).
    pub clean: bool,
    /// Durable exchanges, queues and bindings recovered.
    pub exchanges: usize,
    /// Durable queues recovered.
    pub queues: usize,
    /// Bindings recovered.
    pub bindings: usize,
    /// Persistent messages recovered (each once, however many queues hold it).
    pub messages: usize,
    /// How long recovery took.
    pub elapsed: Duration,
}

/// Counters of a store's work so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Record bytes appended by the broker (messages, settles, topology).
    pub appended_bytes: u64,
    /// Record bytes appended by compaction (live records moved forward).
    pub carried_bytes: u64,
    /// Bytes written to segment files (rewrites after a failure included).
    pub written_bytes: u64,
    /// Successful fsyncs.
    pub syncs: u64,
    /// Failed writes or fsyncs (injected ones included).
    pub failures: u64,
    /// Segment files now.
    pub segments: u64,
    /// Segment files deleted by compaction.
    pub segments_deleted: u64,
}

/// Who waits for a sync to confirm a publish (a channel's confirm state).
pub(crate) trait ConfirmSink: Send + Sync {
    /// `seqs` (ascending) are now safe (`ack`) or failed (`!ack`).
    fn resolve(&self, seqs: &[u64], ack: bool);
    /// Whether `resolve` may call user code (a confirm listener): then it runs on the store's
    /// confirm thread, never on the writer's.
    fn runs_user_code(&self) -> bool;
}

struct Waiter {
    lsn: u64,
    seq: u64,
    sink: Arc<dyn ConfirmSink>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.lsn, self.seq) == (other.lsn, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.lsn, self.seq).cmp(&(other.lsn, other.seq))
    }
}

struct State {
    /// Appended, not yet taken by the writer.
    buf: Vec<u8>,
    /// The log position after the last appended byte.
    end: u64,
    /// Everything before this position is on disk.
    synced: u64,
    /// The log ranges `(after, through]` of recent writes or syncs that failed (the last
    /// [`FAILURES_KEPT`]), and the last failure's text. A record ending in one was nacked,
    /// even if a later attempt wrote it.
    failed: VecDeque<(u64, u64)>,
    failure: String,
    waiters: BinaryHeap<Reverse<Waiter>>,
    live: Live,
    segments: Vec<SegInfo>,
    /// Segments emptied by compaction: deleted (front first) once the log is synced past the
    /// position.
    doomed: Vec<(u64, u64)>,
    closing: bool,
    closed: bool,
    /// The writer waits for work: an append must wake it (otherwise it finds the append
    /// itself, and a wake-up would cost a system call per publish).
    writer_idle: bool,
    /// Injected faults, each with the log end when it was armed: it hits the first attempt
    /// that writes something appended after that, so the next publish is surely covered.
    faults: Vec<(Fault, u64)>,
    /// After an unclean stop, the first message id of this run: messages below it came back
    /// redelivered (SEMANTICS S3), which a clean close must write down. 0 after a clean stop.
    unclean_below: u64,
}

/// How many failed write ranges the store remembers for late confirms.
const FAILURES_KEPT: usize = 1024;

impl State {
    /// Takes the confirm waiters whose records end at or before `end`, with outcome `ack`.
    fn take_waiters(&mut self, end: u64, ack: bool) -> Resolved {
        let mut done = Vec::new();
        while self.waiters.peek().is_some_and(|w| w.0.lsn <= end) {
            if let Some(Reverse(w)) = self.waiters.pop() {
                done.push((w.sink, w.seq, ack));
            }
        }
        done
    }

    /// Whether a failed write or sync covered the record ending at `lsn`.
    fn failed_at(&self, lsn: u64) -> bool {
        self.failed
            .iter()
            .any(|&(after, through)| after < lsn && lsn <= through)
    }
}

struct Shared {
    state: Mutex<State>,
    /// The writer waits here for work.
    work: Condvar,
    /// Blocking waiters (durable declares, flushes) wait here for syncs.
    synced_cv: Condvar,
    next_msg: AtomicU64,
    /// Records appended so far (the writer watches it grow, `Writer::gather`).
    appends: AtomicU64,
    options: StoreOptions,
    dir: PathBuf,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    appended: AtomicU64,
    carried: AtomicU64,
    written: AtomicU64,
    syncs: AtomicU64,
    failures: AtomicU64,
    deleted: AtomicU64,
}

/// The durable log. See the module docs.
pub(crate) struct Store {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    confirmer: Mutex<Option<JoinHandle<()>>>,
    report: RecoveryReport,
    /// The locked `LOCK` file, released by `close`.
    lock: Mutex<Option<File>>,
}

thread_local! {
    /// The end of the last record this thread appended (see [`Store::take_mine`]).
    static MINE: Cell<u64> = const { Cell::new(0) };
}

/// A store error about `path`.
pub(crate) fn io_error(doing: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::store(format!("{doing} '{}': {e}", path.display()))
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // State changes complete before anything that could panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn segment_path(dir: &Path, no: u64) -> PathBuf {
    dir.join(format!("{no:020}.{SEGMENT_EXT}"))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates segment `no` with its header, synced, and syncs the directory entry.
fn create_segment(dir: &Path, no: u64) -> Result<(File, PathBuf), Error> {
    let path = segment_path(dir, no);
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("creating a segment", &path, &e))?;
    let mut header = SEGMENT_MAGIC.to_vec();
    header.extend_from_slice(&no.to_le_bytes());
    f.write_all(&header)
        .and_then(|()| f.sync_data())
        .and_then(|()| sync_dir(dir))
        .map_err(|e| io_error("writing a segment header", &path, &e))?;
    Ok((f, path))
}

impl Store {
    /// Opens (creating if needed) the data directory `dir`: takes its lock, recovers the log,
    /// and starts the writer. `fixed` is the number of predeclared exchanges (ids 1 to
    /// `fixed`), which always exist.
    pub(crate) fn open(
        dir: &Path,
        options: StoreOptions,
        fixed: u64,
    ) -> Result<(Arc<Store>, Recovered), Error> {
        if dir.as_os_str().is_empty() {
            return Err(Error::store("the data directory path is empty"));
        }
        fs::create_dir_all(dir).map_err(|e| io_error("creating the data directory", dir, &e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_error("opening the lock file", &lock_path, &e))?;
        // A lock just released may still be held for a moment: a child process forked by any
        // thread of this process shares the closed broker's lock until it execs (the file is
        // close-on-exec). A few short retries ride that out; a live broker holds it for good.
        let mut attempts = 0;
        loop {
            match lock_file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if attempts < LOCK_RETRIES => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::store(format!(
                    "the data directory '{}' is in use by another broker (its LOCK file is held)",
                    dir.display()
                )))
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(io_error("locking the data directory", dir, &e))
                }
            }
        }
        let (mut segments, replay, mut report) = recover::recover(dir)?;
        let (live, recovered) = replay.finish(fixed);
        report.exchanges = recovered.exchanges.len();
        report.queues = recovered.queues.len();
        report.bindings = recovered.bindings.len();
        report.messages = recovered.messages.len();
        let (file, good_len) = match segments.last() {
            Some(last) => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&last.path)
                    .map_err(|e| io_error("opening the last segment", &last.path, &e))?;
                (f, last.len + HEADER_LEN)
            }
            None => {
                let (f, path) = create_segment(dir, 1)?;
                segments.push(SegInfo {
                    no: 1,
                    path,
                    start: 0,
                    len: 0,
                });
                (f, HEADER_LEN)
            }
        };
        let end = segments.last().map_or(0, |s| s.start + s.len);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buf: Vec::new(),
                end,
                synced: end,
                failed: VecDeque::new(),
                failure: String::new(),
                waiters: BinaryHeap::new(),
                live,
                segments,
                doomed: Vec::new(),
                closing: false,
                closed: false,
                writer_idle: false,
                faults: Vec::new(),
                unclean_below: 0,
            }),
            work: Condvar::new(),
            synced_cv: Condvar::new(),
            next_msg: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            options: StoreOptions {
                segment_size: options.segment_size.max(4096),
            },
            dir: dir.to_path_buf(),
            stats: Counters::default(),
        });
        {
            let mut st = lock(&shared.state);
            let first_new = st.live.max_msg + 1;
            shared.next_msg.store(first_new, Relaxed);
            if !report.clean {
                st.unclean_below = first_new;
            }
        }
        let (tx, rx) = crossbeam_channel::unbounded::<Resolved>();
        let confirmer = std::thread::Builder::new()
            .name("warren-confirms".into())
            .spawn(move || confirm_loop(&rx))
            .map_err(|e| Error::store(format!("starting the confirm thread: {e}")))?;
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("warren-log".into())
            .spawn(move || {
                Writer {
                    shared: writer_shared,
                    file,
                    good_len,
                    retry: Vec::new(),
                    dirty: false,
                    confirms: tx,
                    inject: Vec::new(),
                    taken_appends: 0,
                }
                .run();
            })
            .map_err(|e| Error::store(format!("starting the log writer: {e}")))?;
        let store = Arc::new(Store {
            shared,
            writer: Mutex::new(Some(writer)),
            confirmer: Mutex::new(Some(confirmer)),
            report,
            lock: Mutex::new(Some(lock_file)),
        });
        Ok((store, recovered))
    }

    /// What recovery found.
    pub(crate) fn report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Appends `rec`; returns the log position after it.
    ///
    /// # Errors
    ///
    /// A record over the log's size limit (1 GiB) is not appended, nor anything once the store
    /// is closing.
    pub(crate) fn log(&self, rec: &Record) -> Result<u64, Error> {
        self.push(|st| append(&self.shared, st, rec, false))
    }

    /// Appends a persistent message's record (the bytes of `Record::Message`, without building
    /// one); returns the log position after it.
    ///
    /// # Errors
    ///
    /// As [`log`](Self::log).
    pub(crate) fn log_message(&self, m: &codec::MessageRef<'_>) -> Result<u64, Error> {
        self.push(|st| {
            append_with(
                &self.shared,
                st,
                false,
                |buf| codec::encode_message(m, buf),
                |live, span| {
                    live.settle(m.replaces, &mut SmallVec::new());
                    live.add_message(m.id, m.queues, span);
                },
            )
        })
    }

    /// Runs an append under the state lock, then wakes the writer if it sleeps.
    fn push(&self, append: impl FnOnce(&mut State) -> Result<u64, Error>) -> Result<u64, Error> {
        let mut st = lock(&self.shared.state);
        let end = append(&mut st)?;
        let wake = std::mem::take(&mut st.writer_idle);
        drop(st);
        if wake {
            self.shared.work.notify_one();
        }
        Ok(end)
    }

    /// [`log`](Self::log) for a topology change: the calling thread remembers the position for
    /// [`take_mine`](Self::take_mine), to wait for its sync once the registry's lock is released.
    /// (Topology records are small: declare arguments are checked, SEMANTICS N1.)
    pub(crate) fn log_topology(&self, rec: &Record) {
        let end = self.log(rec).unwrap_or(u64::MAX);
        MINE.with(|m| m.set(end));
    }

    /// A fresh message id: ids increase with every call, so recovered queues keep the order of
    /// one publisher's messages.
    pub(crate) fn next_message_id(&self) -> u64 {
        self.shared.next_msg.fetch_add(1, Relaxed)
    }

    /// The end of the last record this thread appended since the last call, if any: what a
    /// durable topology change must wait for.
    pub(crate) fn take_mine() -> Option<u64> {
        let end = MINE.with(|m| m.replace(0));
        (end > 0).then_some(end)
    }

    /// Blocks until a sync covers position `lsn`: `Ok` once it is on disk, an error (541) if
    /// a write or sync covering it failed first.
    pub(crate) fn wait_synced(&self, lsn: u64) -> Result<(), Error> {
        let mut st = lock(&self.shared.state);
        loop {
            if st.failed_at(lsn) {
                return Err(Error::amqp(
                    541,
                    format!("INTERNAL_ERROR - store: {}", st.failure),
                ));
            }
            if st.synced >= lsn {
                return Ok(());
            }
            if st.closed {
                return Err(Error::store("the store is closed".to_string()));
            }
            st = self
                .shared
                .synced_cv
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Confirms `seq` through `sink` once a sync covers `lsn`, or nacks it if a write or sync
    /// covering it fails. Returns the outcome if it is known already (the caller reports it).
    pub(crate) fn confirm_when_synced(
        &self,
        lsn: u64,
        sink: Arc<dyn ConfirmSink>,
        seq: u64,
    ) -> Option<bool> {
        let mut st = lock(&self.shared.state);
        if st.failed_at(lsn) {
            // Failed before the publisher got here (even if rewritten since): a nack, as the
            // waiter would have got (SEMANTICS C3).
            return Some(false);
        }
        if st.synced >= lsn {
            return Some(true);
        }
        st.waiters.push(Reverse(Waiter { lsn, seq, sink }));
        None
    }

    /// Makes the next write or sync fail (or be slow) that covers a record appended from now on.
    pub(crate) fn fail_next(&self, fault: Fault) {
        let mut st = lock(&self.shared.state);
        let armed = st.end;
        st.faults.push((fault, armed));
    }

    /// The counters so far.
    pub(crate) fn stats(&self) -> StoreStats {
        let c = &self.shared.stats;
        let segments = to_u64(lock(&self.shared.state).segments.len());
        StoreStats {
            appended_bytes: c.appended.load(Relaxed),
            carried_bytes: c.carried.load(Relaxed),
            written_bytes: c.written.load(Relaxed),
            syncs: c.syncs.load(Relaxed),
            failures: c.failures.load(Relaxed),
            segments,
            segments_deleted: c.deleted.load(Relaxed),
        }
    }

    /// Closes cleanly: appends the `Shutdown` record, waits for the writer to write and sync
    /// everything, and stops it. Later appends are dropped. Idempotent.
    pub(crate) fn close(&self) {
        {
            let mut st = lock(&self.shared.state);
            if st.closing {
                return;
            }
            // Messages recovered after an unclean stop were handed out as redelivered: the
            // log says so before it says the flags are exact.
            let below = st.unclean_below;
            for rec in redelivered_below(&st.live, below) {
                let _ = append(&self.shared, &mut st, &rec, false);
            }
            let _ = append(&self.shared, &mut st, &Record::Shutdown, false);
            st.closing = true;
        }
        self.shared.work.notify_one();
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // The last handle of a broker may drop on one of the store's own threads (a confirm
        // listener holding a channel): never join the current thread.
        let me = std::thread::current().id();
        if let Some(w) = writer.filter(|w| w.thread().id() != me) {
            let _ = w.join();
        }
        let confirmer = self
            .confirmer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(c) = confirmer.filter(|c| c.thread().id() != me) {
            let _ = c.join();
        }
        // Nothing more is written: another broker may open the directory now.
        drop(
            self.lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

/// Outcomes for the confirm thread: (sink, seq, ack), in position order.
type Resolved = Vec<(Arc<dyn ConfirmSink>, u64, bool)>;

/// Groups outcomes per channel and outcome, numbers ascending, so one channel's consecutive
/// numbers arrive in one call (which lets it coalesce them, SEMANTICS C4).
fn group(batch: Resolved) -> Vec<(Arc<dyn ConfirmSink>, Vec<u64>, bool)> {
    let mut groups: Vec<(Arc<dyn ConfirmSink>, Vec<u64>, bool)> = Vec::new();
    for (sink, seq, ack) in batch {
        let key = Arc::as_ptr(&sink).cast::<()>();
        match groups
            .iter_mut()
            .find(|(s, _, a)| Arc::as_ptr(s).cast::<()>() == key && *a == ack)
        {
            Some((_, seqs, _)) => seqs.push(seq),
            None => groups.push((sink, vec![seq], ack)),
        }
    }
    for (_, seqs, _) in &mut groups {
        seqs.sort_unstable();
    }
    groups
}

/// The confirm thread: tells channels with a listener their outcomes, so a slow listener
/// never holds up the next sync.
fn confirm_loop(rx: &crossbeam_channel::Receiver<Resolved>) {
    while let Ok(batch) = rx.recv() {
        for (sink, seqs, ack) in group(batch) {
            sink.resolve(&seqs, ack);
        }
    }
}

/// The writer thread's own state.
struct Writer {
    shared: Arc<Shared>,
    file: File,
    /// File length known good (synced).
    good_len: u64,
    /// Bytes since the last good sync, to write (again).
    retry: Vec<u8>,
    /// Whether the file may hold bytes past `good_len` from a failed attempt.
    dirty: bool,
    confirms: crossbeam_channel::Sender<Resolved>,
    /// The faults that hit the current attempt.
    inject: Vec<Fault>,
    /// The append count when the last batch was taken (see `linger`).
    taken_appends: u64,
}

impl Writer {
    fn run(mut self) {
        let mut backoff = Duration::from_millis(1);
        let mut failures_while_closing = 0;
        loop {
            let (batch, end, closing) = {
                if self.retry.is_empty() {
                    self.linger();
                }
                let mut st = lock(&self.shared.state);
                while st.buf.is_empty() && self.retry.is_empty() && !st.closing {
                    st.writer_idle = true;
                    st = self
                        .shared
                        .work
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                st.writer_idle = false;
                if st.buf.is_empty() && self.retry.is_empty() {
                    st.closed = true;
                    drop(st);
                    self.shared.synced_cv.notify_all();
                    return;
                }
                if !st.closing {
                    drop(st);
                    self.gather();
                    st = lock(&self.shared.state);
                }
                let end = st.end;
                // Faults armed before the last byte of this attempt hit it.
                let mut hits = Vec::new();
                st.faults.retain(|&(f, armed)| {
                    let hit = armed < end;
                    if hit {
                        hits.push(f);
                    }
                    !hit
                });
                self.inject = hits;
                // Under the lock: every append counted here is in this batch.
                self.taken_appends = self.shared.appends.load(Relaxed);
                (std::mem::take(&mut st.buf), end, st.closing)
            };
            if self.retry.is_empty() {
                self.retry = batch;
            } else {
                self.retry.extend_from_slice(&batch);
            }
            match self.write_and_sync() {
                Ok(()) => {
                    backoff = Duration::from_millis(1);
                    self.good_len += to_u64(self.retry.len());
                    self.retry.clear();
                    self.dirty = false;
                    self.synced(end);
                }
                Err((e, injected)) => {
                    self.dirty = true;
                    self.shared.stats.failures.fetch_add(1, Relaxed);
                    self.failed(end, e);
                    if closing {
                        failures_while_closing += 1;
                        if failures_while_closing >= 3 {
                            // Give up: the log on disk is a prefix of what was appended, and
                            // nothing past it was confirmed.
                            let mut st = lock(&self.shared.state);
                            st.closed = true;
                            st.buf.clear();
                            drop(st);
                            self.shared.synced_cv.notify_all();
                            return;
                        }
                    }
                    if !injected {
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
        }
    }

    /// Lets a burst of appends finish before a sync: while appends keep arriving (a batch
    /// being published), waits in short spins, up to [`GATHER_MAX`]. One sync then covers
    /// the burst instead of its first message alone, and a lone publish waits one spin.
    fn gather(&self) {
        let started = Instant::now();
        let mut seen = self.shared.appends.load(Relaxed);
        loop {
            spin_for(GATHER_SPIN);
            let now = self.shared.appends.load(Relaxed);
            if now == seen || started.elapsed() >= GATHER_MAX {
                return;
            }
            seen = now;
        }
    }

    /// After a sync, watches briefly for the next append before sleeping: a publisher that
    /// waits for each confirm publishes again within microseconds, and finding its append
    /// here saves a wake-up (a system call on both sides, tens of microseconds on a VM).
    fn linger(&self) {
        // Appends since the last batch was taken are waiting already: no linger.
        let seen = self.taken_appends;
        let started = Instant::now();
        while self.shared.appends.load(Relaxed) == seen && started.elapsed() < LINGER {
            spin_for(GATHER_SPIN);
        }
    }

    /// Writes `retry` at `good_len` (cutting off what a failed attempt left) and syncs.
    /// The error says whether it was injected.
    fn write_and_sync(&mut self) -> Result<(), (String, bool)> {
        let io = |e: std::io::Error| (e.to_string(), false);
        if self.dirty {
            self.file.set_len(self.good_len).map_err(io)?;
        }
        let injected = |f: fn(&Fault) -> bool| self.inject.iter().any(f);
        if injected(|f| *f == Fault::Write) {
            return Err(("injected write failure".into(), true));
        }
        self.file
            .seek(SeekFrom::Start(self.good_len))
            .and_then(|_| self.file.write_all(&self.retry))
            .map_err(io)?;
        self.shared
            .stats
            .written
            .fetch_add(to_u64(self.retry.len()), Relaxed);
        if injected(|f| *f == Fault::Sync) {
            return Err(("injected fsync failure".into(), true));
        }
        for f in &self.inject {
            if let Fault::SlowSync(d) = f {
                std::thread::sleep(*d);
            }
        }
        self.file.sync_data().map_err(io)?;
        self.shared.stats.syncs.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Everything before `end` is on disk: wake waiters, confirm, roll and compact.
    fn synced(&mut self, end: u64) {
        let done;
        let roll = {
            let mut st = lock(&self.shared.state);
            st.synced = end;
            done = st.take_waiters(end, true);
            if let Some(last) = st.segments.last_mut() {
                last.len = self.good_len - HEADER_LEN;
            }
            self.delete_doomed(&mut st);
            self.good_len >= self.shared.options.segment_size && !st.closing
        };
        self.shared.synced_cv.notify_all();
        self.tell(done);
        if roll {
            if let Err(e) = self.roll(end) {
                // Keep appending to the current segment; try again after the next sync.
                let mut st = lock(&self.shared.state);
                st.failure = e.to_string();
            }
        }
    }

    /// A write or sync covering up to `end` failed: nack its waiters, fail blocking waits.
    fn failed(&mut self, end: u64, why: String) {
        let done = {
            let mut st = lock(&self.shared.state);
            let after = st.synced;
            if st.failed.len() == FAILURES_KEPT {
                st.failed.pop_front();
            }
            st.failed.push_back((after, end));
            st.failure = why;
            st.take_waiters(end, false)
        };
        self.shared.synced_cv.notify_all();
        self.tell(done);
    }

    /// Gives channels their outcomes: at once when that runs no user code (a wake-up, not a
    /// thread hop, for `wait_for_confirms`), else through the confirm thread.
    fn tell(&self, done: Resolved) {
        if done.is_empty() {
            return;
        }
        let mut later: Resolved = Vec::new();
        for (sink, seqs, ack) in group(done) {
            if sink.runs_user_code() {
                later.extend(seqs.into_iter().map(|seq| (sink.clone(), seq, ack)));
            } else {
                sink.resolve(&seqs, ack);
            }
        }
        if !later.is_empty() {
            let _ = self.confirms.send(later);
        }
    }

    /// Starts a new segment at log position `end`, then compacts the oldest ones.
    fn roll(&mut self, end: u64) -> Result<(), Error> {
        let no = lock(&self.shared.state)
            .segments
            .last()
            .map_or(1, |s| s.no + 1);
        let (file, path) = create_segment(&self.shared.dir, no)?;
        self.file = file;
        self.good_len = HEADER_LEN;
        {
            let mut st = lock(&self.shared.state);
            st.segments.push(SegInfo {
                no,
                path,
                start: end,
                len: 0,
            });
        }
        self.compact();
        Ok(())
    }

    /// Dooms the oldest closed segments that are at most half live, carrying their live
    /// records forward first.
    fn compact(&mut self) {
        loop {
            let pick = {
                let st = lock(&self.shared.state);
                let doomed = st.doomed.len();
                // Closed segments not yet doomed: all but the active one.
                let Some(seg) = st
                    .segments
                    .get(doomed)
                    .filter(|_| doomed + 1 < st.segments.len())
                else {
                    return;
                };
                let live = live_bytes(&st.live, seg);
                if live * 2 > seg.len {
                    return;
                }
                (seg.clone(), live)
            };
            let (seg, live) = pick;
            if live > 0 && self.carry(&seg).is_err() {
                return;
            }
            let mut st = lock(&self.shared.state);
            if st.closing {
                // A close may have stopped the carry: keep the segment.
                return;
            }
            let after = st.end;
            st.doomed.push((seg.no, after));
            drop(st);
            self.shared.work.notify_one();
        }
    }

    /// Appends again every record of `seg` that is still live where it is; an error if an
    /// append failed (the store is closing), and then the segment must stay.
    fn carry(&mut self, seg: &SegInfo) -> Result<(), Error> {
        let bytes =
            fs::read(&seg.path).map_err(|e| io_error("reading a segment", &seg.path, &e))?;
        let body = bytes.get(16..).unwrap_or_default();
        let mut at = 0usize;
        while let codec::Decoded::Record(rec, n) = codec::decode(body.get(at..).unwrap_or_default())
        {
            let lsn = seg.start + to_u64(at);
            at += n;
            let mut st = lock(&self.shared.state);
            match &rec {
                Record::Exchange { id, .. }
                | Record::Queue { id, .. }
                | Record::Bind { id, .. }
                    if st.live.topo.get(id).is_some_and(|t| t.span.lsn == lsn) =>
                {
                    append(&self.shared, &mut st, &rec, true)?;
                }
                Record::Message {
                    id,
                    time_ms,
                    exchange,
                    routing_key,
                    properties,
                    body,
                    ..
                } => {
                    let Some(live) = st.live.msgs.get(id).filter(|m| m.span.lsn == lsn) else {
                        continue;
                    };
                    let refs = live.refs.clone();
                    let moved = Record::Message {
                        id: *id,
                        time_ms: *time_ms,
                        // Settled already: the pairs it replaced are in no live record.
                        replaces: Vec::new(),
                        queues: refs.iter().map(|r| r.queue).collect(),
                        exchange: exchange.clone(),
                        routing_key: routing_key.clone(),
                        properties: properties.clone(),
                        body: body.clone(),
                    };
                    append(&self.shared, &mut st, &moved, true)?;
                    for r in refs.iter().filter(|r| r.redelivered) {
                        let counts = Record::Requeue {
                            queue: r.queue,
                            entries: vec![(*id, r.failed, r.returned)],
                            order: if r.order == 0 {
                                Vec::new()
                            } else {
                                vec![(*id, r.order)]
                            },
                        };
                        append(&self.shared, &mut st, &counts, true)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes doomed segments, front first, once the log is synced past their carry.
    fn delete_doomed(&self, st: &mut State) {
        while let Some(&(no, after)) = st.doomed.first() {
            if st.synced < after || st.segments.first().map(|s| s.no) != Some(no) {
                return;
            }
            let seg = st.segments.remove(0);
            st.doomed.remove(0);
            if fs::remove_file(&seg.path).is_ok() {
                self.shared.stats.deleted.fetch_add(1, Relaxed);
            }
        }
    }
}

fn too_large(codec::TooLarge(n): codec::TooLarge) -> Error {
    Error::store(format!(
        "a log record of {n} bytes is over the limit of {} bytes",
        codec::MAX_PAYLOAD
    ))
}

/// Appends `rec` to the buffer and gives it its effect on the index; returns the position
/// after it.
fn append(shared: &Shared, st: &mut State, rec: &Record, carried: bool) -> Result<u64, Error> {
    append_with(
        shared,
        st,
        carried,
        |buf| codec::encode(rec, buf),
        |live, span| {
            live.apply(rec, span);
        },
    )
}

/// [`append`] with the record's encoding and its effect on the index given apart (the publish
/// path encodes a message from references, without a `Record`).
fn append_with(
    shared: &Shared,
    st: &mut State,
    carried: bool,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), codec::TooLarge>,
    index: impl FnOnce(&mut Live, Span),
) -> Result<u64, Error> {
    if st.closing {
        // `Shutdown` is the last record (compaction may still be running when close appends
        // it): nothing goes after it.
        return Err(Error::store("the store is closed".to_string()));
    }
    let before = st.buf.len();
    encode(&mut st.buf).map_err(too_large)?;
    let len = to_u64(st.buf.len() - before);
    let span = Span { lsn: st.end, len };
    st.end += len;
    index(&mut st.live, span);
    let counter = if carried {
        &shared.stats.carried
    } else {
        &shared.stats.appended
    };
    counter.fetch_add(len, Relaxed);
    // Under the lock: the writer reads it with the batch (see `Writer::linger`).
    shared.appends.fetch_add(1, Relaxed);
    Ok(st.end)
}

/// `Requeue` records that mark every live message with an id below `below` not yet marked
/// redelivered, per queue, in chunks.
fn redelivered_below(live: &Live, below: u64) -> Vec<Record> {
    let mut per_queue: std::collections::BTreeMap<u64, Vec<(u64, u32, u32)>> =
        std::collections::BTreeMap::new();
    for (&m, msg) in live.msgs.iter().filter(|(&m, _)| m < below) {
        for r in msg.refs.iter().filter(|r| !r.redelivered) {
            per_queue
                .entry(r.queue)
                .or_default()
                .push((m, r.failed, r.returned));
        }
    }
    let mut out = Vec::new();
    for (queue, mut entries) in per_queue {
        entries.sort_unstable();
        for chunk in entries.chunks(1 << 16) {
            out.push(Record::Requeue {
                queue,
                entries: chunk.to_vec(),
                order: Vec::new(),
            });
        }
    }
    out
}

/// Spins (no system call) for about `d`, reading the clock every few dozen pauses.
fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    loop {
        for _ in 0..32 {
            std::hint::spin_loop();
        }
        if Instant::now() >= until {
            return;
        }
    }
}

/// Bytes of live records in `seg`.
fn live_bytes(live: &Live, seg: &SegInfo) -> u64 {
    let within = |s: &Span| s.lsn >= seg.start && s.lsn < seg.start + seg.len;
    let topo: u64 = live
        .topo
        .values()
        .filter(|t| within(&t.span))
        .map(|t| t.span.len)
        .sum();
    let msgs: u64 = live
        .msgs
        .values()
        .filter(|m| within(&m.span))
        .map(|m| m.span.len)
        .sum();
    topo + msgs
}

/// Replays `segment` as the records of one segment (after its header), as recovery does, and
/// returns the length of the valid prefix it keeps. For the fuzz target: it must never panic.
#[doc(hidden)]
pub fn fuzz_replay(segment: &[u8]) -> usize {
    let mut replay = recover::Replay::new();
    let (valid, _) = replay.segment(segment, 0);
    let _ = replay.finish(5);
    valid
}
