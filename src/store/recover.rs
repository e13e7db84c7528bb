//! Recovery: read the segments in order, give each record its effect, cut the log at the first
//! torn or corrupt record (SEMANTICS S5), and hand the broker what is live.
//!
//! A segment is `<number>.wlog`: a 16-byte header (magic, then the number) and framed records
//! (see `codec`). Numbers are consecutive; the first may be above 1 once compaction has
//! deleted old segments. A gap, a bad header, a torn or corrupt record all end the log there:
//! everything before is kept, the rest is cut (truncated or deleted) and reported, because a
//! record may depend on any record before it.

use super::codec::{self, Decoded};
use super::live::{Live, Span};
use super::record::{DestId, Record};
use super::{io_error, RecoveryReport, SEGMENT_EXT, SEGMENT_MAGIC};
use crate::broker::BasicProperties;
use crate::error::Error;
use crate::message::FieldTable;
use crate::route::ExchangeType;
use bytes::Bytes;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The length of a segment's header.
pub(crate) const HEADER_LEN: u64 = 16;

/// A segment file and where its records sit in the log's byte sequence.
#[derive(Debug, Clone)]
pub(crate) struct SegInfo {
    pub(crate) no: u64,
    pub(crate) path: PathBuf,
    /// The log position of its first record byte.
    pub(crate) start: u64,
    /// Record bytes in it (file length minus the header).
    pub(crate) len: u64,
}

/// A recovered exchange.
#[derive(Debug)]
pub(crate) struct RecExchange {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) kind: ExchangeType,
    pub(crate) auto_delete: bool,
    pub(crate) internal: bool,
    pub(crate) args: FieldTable,
}

/// A recovered queue and its messages in order: (index into `Recovered::messages`,
/// redelivered, failed, returned).
#[derive(Debug)]
pub(crate) struct RecQueue {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) auto_delete: bool,
    pub(crate) args: FieldTable,
    pub(crate) messages: Vec<(usize, bool, u32, u32)>,
}

/// A recovered binding.
#[derive(Debug)]
pub(crate) struct RecBind {
    pub(crate) id: u64,
    pub(crate) source: u64,
    pub(crate) dest: DestId,
    pub(crate) key: String,
    pub(crate) args: FieldTable,
}

/// A recovered message's contents.
#[derive(Debug)]
pub(crate) struct RecMessage {
    pub(crate) id: u64,
    /// When it entered its queues (SEMANTICS S6).
    pub(crate) time_ms: u64,
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    pub(crate) properties: Option<Box<BasicProperties>>,
    pub(crate) body: Bytes,
}

/// What recovery hands the broker.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) exchanges: Vec<RecExchange>,
    pub(crate) queues: Vec<RecQueue>,
    pub(crate) bindings: Vec<RecBind>,
    pub(crate) messages: Vec<RecMessage>,
    /// The largest object id the log named (new ids start above it).
    pub(crate) max_id: u64,
}

/// Replay's working state: the index, and the contents of live records.
pub(crate) struct Replay {
    pub(crate) live: Live,
    defs: HashMap<u64, Record>,
    bodies: HashMap<u64, Record>,
    records: u64,
    clean: bool,
}

impl Replay {
    pub(crate) fn new() -> Replay {
        Replay {
            live: Live::replaying(),
            defs: HashMap::new(),
            bodies: HashMap::new(),
            records: 0,
            clean: false,
        }
    }

    /// Replays the records of one segment's bytes (after its header), starting at log position
    /// `lsn`. Returns the length of the valid prefix and, if it stopped early, why.
    pub(crate) fn segment(&mut self, bytes: &[u8], lsn: u64) -> (usize, Option<&'static str>) {
        let mut at = 0;
        loop {
            let rest = bytes.get(at..).unwrap_or_default();
            match codec::decode(rest) {
                Decoded::End => return (at, None),
                Decoded::Torn => return (at, Some("torn record")),
                Decoded::Corrupt(why) => return (at, Some(why)),
                Decoded::Record(rec, n) => {
                    let span = Span {
                        lsn: lsn + u64::try_from(at).unwrap_or(u64::MAX),
                        len: u64::try_from(n).unwrap_or(u64::MAX),
                    };
                    self.record(rec, span);
                    at += n;
                }
            }
        }
    }

    fn record(&mut self, rec: Record, span: Span) {
        self.records += 1;
        self.clean = matches!(rec, Record::Shutdown);
        let dead = self.live.apply(&rec, span);
        for m in &dead {
            self.bodies.remove(m);
        }
        match &rec {
            Record::Exchange { id, .. } | Record::Queue { id, .. } | Record::Bind { id, .. } => {
                if self.live.topo.contains_key(id) {
                    self.defs.insert(*id, rec);
                }
            }
            Record::ExchangeGone { id } | Record::QueueGone { id } | Record::Unbind { id } => {
                // Bindings that went with it stay in `defs` until `finish`, which reads only
                // what is live.
                self.defs.remove(id);
            }
            Record::Message { id, .. } => {
                if self.live.msgs.contains_key(id) {
                    self.bodies.insert(*id, rec);
                }
            }
            Record::Settle { .. } | Record::Requeue { .. } | Record::Shutdown => {}
        }
    }

    /// Whether the last record replayed was a clean shutdown's.
    pub(crate) fn clean(&self) -> bool {
        self.clean
    }

    /// Resolves what is live and builds the broker's view. With `unclean`, every message
    /// comes back `redelivered` (SEMANTICS S3).
    pub(crate) fn finish(mut self, fixed: u64) -> (Live, Recovered) {
        for m in self.live.resolve(fixed) {
            self.bodies.remove(&m);
        }
        let unclean = !self.clean;
        let mut out = Recovered {
            max_id: self.live.max_id,
            ..Recovered::default()
        };
        let mut ids: Vec<u64> = self.live.topo.keys().copied().collect();
        ids.sort_unstable();
        let mut queue_at: HashMap<u64, usize> = HashMap::new();
        for id in ids {
            match self.defs.remove(&id) {
                Some(Record::Exchange {
                    id,
                    name,
                    kind,
                    auto_delete,
                    internal,
                    args,
                }) => out.exchanges.push(RecExchange {
                    id,
                    name,
                    kind,
                    auto_delete,
                    internal,
                    args,
                }),
                Some(Record::Queue {
                    id,
                    name,
                    auto_delete,
                    args,
                }) => {
                    queue_at.insert(id, out.queues.len());
                    out.queues.push(RecQueue {
                        id,
                        name,
                        auto_delete,
                        args,
                        messages: Vec::new(),
                    });
                }
                Some(Record::Bind {
                    id,
                    source,
                    dest,
                    key,
                    args,
                }) => out.bindings.push(RecBind {
                    id,
                    source,
                    dest,
                    key,
                    args,
                }),
                _ => {}
            }
        }
        let mut msg_ids: Vec<u64> = self.live.msgs.keys().copied().collect();
        msg_ids.sort_unstable();
        // Each queue's order keys, beside its messages (the id unless requeued at the tail).
        let mut keys: Vec<Vec<u64>> = vec![Vec::new(); out.queues.len()];
        for m in msg_ids {
            let (
                Some(live),
                Some(Record::Message {
                    id,
                    time_ms,
                    exchange,
                    routing_key,
                    properties,
                    body,
                    ..
                }),
            ) = (self.live.msgs.get(&m), self.bodies.remove(&m))
            else {
                continue;
            };
            let at = out.messages.len();
            out.messages.push(RecMessage {
                id,
                time_ms,
                exchange,
                routing_key,
                properties,
                body,
            });
            for r in &live.refs {
                if let Some(&q) = queue_at.get(&r.queue) {
                    keys[q].push(if r.order == 0 { id } else { r.order });
                    out.queues[q].messages.push((
                        at,
                        r.redelivered || unclean,
                        r.failed,
                        r.returned,
                    ));
                }
            }
        }
        for (q, keys) in out.queues.iter_mut().zip(keys) {
            if keys.windows(2).any(|w| w[0] > w[1]) {
                let mut keyed: Vec<_> = keys.into_iter().zip(q.messages.drain(..)).collect();
                keyed.sort_unstable_by_key(|&(key, _)| key);
                q.messages = keyed.into_iter().map(|(_, m)| m).collect();
            }
        }
        self.live.gone = None;
        (self.live, out)
    }

    pub(crate) fn records(&self) -> u64 {
        self.records
    }
}

/// The segments in `dir`, in order.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let mut segs = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| io_error("reading the data directory", dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("reading the data directory", dir, &e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
            continue;
        }
        let no = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(no) = no {
            segs.push((no, path));
        }
    }
    segs.sort_unstable();
    Ok(segs)
}

/// Replays every segment of `dir`, cutting the log at the first bad record. Returns the
/// segments kept (the last is where appends go on), the replay, and the report.
pub(crate) fn recover(dir: &Path) -> Result<(Vec<SegInfo>, Replay, RecoveryReport), Error> {
    let started = Instant::now();
    let mut replay = Replay::new();
    let mut kept: Vec<SegInfo> = Vec::new();
    let mut report = RecoveryReport::default();
    let mut cut: Option<String> = None;
    let mut lsn = 0u64;
    for (no, path) in list(dir)? {
        if cut.is_some() {
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            report.bytes_dropped += len;
            fs::remove_file(&path).map_err(|e| io_error("removing a cut segment", &path, &e))?;
            continue;
        }
        if let Some(prev) = kept.last() {
            if no != prev.no + 1 {
                cut = Some(format!("segment {} is missing", prev.no + 1));
                let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                report.bytes_dropped += len;
                fs::remove_file(&path)
                    .map_err(|e| io_error("removing a cut segment", &path, &e))?;
                continue;
            }
        }
        let bytes = fs::read(&path).map_err(|e| io_error("reading a segment", &path, &e))?;
        report.bytes_read += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let header_ok = bytes.len() >= 16
            && bytes.get(..8) == Some(&SEGMENT_MAGIC[..])
            && bytes.get(8..16) == Some(&no.to_le_bytes()[..]);
        if !header_ok {
            // A segment created just before a crash may have no header yet.
            cut = Some(format!("segment {no} has no valid header"));
            report.bytes_dropped += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            fs::remove_file(&path).map_err(|e| io_error("removing a cut segment", &path, &e))?;
            continue;
        }
        let body = bytes.get(16..).unwrap_or_default();
        let (valid, why) = replay.segment(body, lsn);
        let valid = u64::try_from(valid).unwrap_or(u64::MAX);
        if let Some(why) = why {
            let total = u64::try_from(body.len()).unwrap_or(u64::MAX);
            report.bytes_dropped += total - valid;
            cut = Some(format!(
                "segment {no} at byte {}: {why}",
                valid + HEADER_LEN
            ));
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io_error("opening a segment to cut it", &path, &e))?;
            f.set_len(valid + HEADER_LEN)
                .and_then(|()| f.sync_all())
                .map_err(|e| io_error("cutting a torn segment", &path, &e))?;
        }
        kept.push(SegInfo {
            no,
            path,
            start: lsn,
            len: valid,
        });
        lsn += valid;
    }
    report.segments = kept.len();
    report.records = replay.records();
    report.cut = cut;
    report.clean = replay.clean() && report.cut.is_none();
    report.elapsed = started.elapsed();
    Ok((kept, replay, report))
}
