//! What in the log is still live: the index that replay builds and appends keep current.
//!
//! One function, [`Live::apply`], gives every record its effect, both when recovery replays the
//! log and when the running store appends: the two can never disagree about what a record
//! means. The index knows where each live record sits ([`Span`]), which is all compaction
//! needs: a segment whose records are all dead can go, and a mostly dead one is emptied by
//! appending its live records again.

use super::record::{DestId, Record};
use smallvec::SmallVec;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where a record sits: its first byte in the log's sequence of bytes, and its framed length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) lsn: u64,
    pub(crate) len: u64,
}

/// One durable queue's hold on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ref {
    pub(crate) queue: u64,
    pub(crate) redelivered: bool,
    pub(crate) failed: u32,
    pub(crate) returned: u32,
    /// Its place in the queue: 0 for the message's id, else the key of its last requeue at
    /// the tail.
    pub(crate) order: u64,
}

/// A live message: where its record is, and the queues that still hold it.
#[derive(Debug)]
pub(crate) struct MsgLive {
    pub(crate) span: Span,
    pub(crate) refs: SmallVec<[Ref; 2]>,
}

/// What a live topology record defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Topo {
    Exchange,
    Queue,
    Bind { source: u64, dest: DestId },
}

/// A live topology record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TopoLive {
    pub(crate) span: Span,
    pub(crate) what: Topo,
}

/// The index of live records. See the module docs.
#[derive(Default, Debug)]
pub(crate) struct Live {
    /// Exchanges, queues and bindings by id (one id space).
    pub(crate) topo: HashMap<u64, TopoLive>,
    /// Messages by id: a B-tree, because ids grow with every publish, so inserts land at the
    /// right edge and FIFO settles at the left (a hash map would miss the cache on both).
    pub(crate) msgs: BTreeMap<u64, MsgLive>,
    /// Ids deleted, kept while replaying only: a deletion is final even if an older copy of
    /// its object's record comes later in the log (left there by an interrupted compaction).
    pub(crate) gone: Option<HashSet<u64>>,
    /// The largest object id and message id any record named.
    pub(crate) max_id: u64,
    pub(crate) max_msg: u64,
}

impl Live {
    /// An empty index for replay (tracks deleted ids).
    pub(crate) fn replaying() -> Live {
        Live {
            gone: Some(HashSet::new()),
            ..Live::default()
        }
    }

    fn is_gone(&self, id: u64) -> bool {
        self.gone.as_ref().is_some_and(|g| g.contains(&id))
    }

    fn bury(&mut self, id: u64) {
        self.topo.remove(&id);
        if let Some(g) = self.gone.as_mut() {
            g.insert(id);
        }
    }

    fn define(&mut self, id: u64, span: Span, what: Topo) {
        self.max_id = self.max_id.max(id);
        if !self.is_gone(id) {
            self.topo.insert(id, TopoLive { span, what });
        }
    }

    /// Gives `rec`, found or appended at `span`, its effect. Returns the messages it killed
    /// (so replay can drop their contents).
    pub(crate) fn apply(&mut self, rec: &Record, span: Span) -> SmallVec<[u64; 4]> {
        let mut dead = SmallVec::new();
        match rec {
            Record::Exchange { id, .. } => self.define(*id, span, Topo::Exchange),
            Record::Queue { id, .. } => self.define(*id, span, Topo::Queue),
            Record::Bind {
                id, source, dest, ..
            } => {
                self.max_id = self.max_id.max(*source);
                self.define(
                    *id,
                    span,
                    Topo::Bind {
                        source: *source,
                        dest: *dest,
                    },
                );
            }
            Record::ExchangeGone { id } => {
                self.max_id = self.max_id.max(*id);
                self.bury(*id);
                let me = DestId::Exchange(*id);
                self.topo.retain(|_, t| match t.what {
                    Topo::Bind { source, dest } => source != *id && dest != me,
                    _ => true,
                });
            }
            Record::QueueGone { id } => {
                self.max_id = self.max_id.max(*id);
                self.bury(*id);
                let me = DestId::Queue(*id);
                self.topo
                    .retain(|_, t| !matches!(t.what, Topo::Bind { dest, .. } if dest == me));
                self.msgs.retain(|m, live| {
                    live.refs.retain(|r| r.queue != *id);
                    if live.refs.is_empty() {
                        dead.push(*m);
                    }
                    !live.refs.is_empty()
                });
            }
            Record::Unbind { id } => {
                self.max_id = self.max_id.max(*id);
                self.bury(*id);
            }
            Record::Message {
                id,
                queues,
                replaces,
                ..
            } => {
                // The replaced pairs go first: one step with the new message (SEMANTICS X7).
                self.settle(replaces, &mut dead);
                if !self.add_message(*id, queues, span) {
                    dead.push(*id);
                }
            }
            Record::Settle { refs } => self.settle(refs, &mut dead),
            Record::Requeue {
                queue,
                entries,
                order,
            } => {
                for &(m, key) in order {
                    self.max_msg = self.max_msg.max(key);
                    let Some(live) = self.msgs.get_mut(&m) else {
                        continue;
                    };
                    if let Some(r) = live.refs.iter_mut().find(|r| r.queue == *queue) {
                        r.order = key;
                    }
                }
                for &(m, failed, returned) in entries {
                    self.max_msg = self.max_msg.max(m);
                    let Some(live) = self.msgs.get_mut(&m) else {
                        continue;
                    };
                    if let Some(r) = live.refs.iter_mut().find(|r| r.queue == *queue) {
                        r.redelivered = true;
                        r.failed = failed;
                        r.returned = returned;
                    }
                }
            }
            Record::Shutdown => {}
        }
        dead
    }

    /// A message record for `queues` at `span` (a new message, or one moved by compaction,
    /// whose holds keep their flags). Returns whether any queue holds it.
    /// Takes each (message, queue) pair out; messages left in no queue go to `dead`.
    pub(crate) fn settle(&mut self, refs: &[(u64, u64)], dead: &mut SmallVec<[u64; 4]>) {
        for &(m, q) in refs {
            self.max_msg = self.max_msg.max(m);
            let Some(live) = self.msgs.get_mut(&m) else {
                continue;
            };
            live.refs.retain(|r| r.queue != q);
            if live.refs.is_empty() {
                self.msgs.remove(&m);
                dead.push(m);
            }
        }
    }

    pub(crate) fn add_message(&mut self, id: u64, queues: &[u64], span: Span) -> bool {
        self.max_msg = self.max_msg.max(id);
        let old = self.msgs.remove(&id);
        let refs: SmallVec<[Ref; 2]> = queues
            .iter()
            .filter(|q| match &self.gone {
                // Replaying: the queue's record may come later (compaction moved it).
                Some(gone) => !gone.contains(q),
                // Running: a queue deleted while the message was routed holds nothing.
                None => self.topo.get(q).is_some_and(|t| t.what == Topo::Queue),
            })
            .map(|&queue| {
                let was = old
                    .as_ref()
                    .and_then(|o| o.refs.iter().find(|r| r.queue == queue));
                was.copied().unwrap_or(Ref {
                    order: 0,
                    queue,
                    redelivered: false,
                    failed: 0,
                    returned: 0,
                })
            })
            .collect();
        if refs.is_empty() {
            return false;
        }
        self.msgs.insert(id, MsgLive { span, refs });
        true
    }

    /// Drops what refers to objects that do not exist at the end of replay: bindings whose
    /// ends are gone (predeclared exchanges, ids up to `fixed`, always exist), message holds
    /// of unknown queues. Returns the messages left with no queue.
    pub(crate) fn resolve(&mut self, fixed: u64) -> Vec<u64> {
        let exists = |topo: &HashMap<u64, TopoLive>, id: u64, want: Topo| {
            (want == Topo::Exchange && id <= fixed) || topo.get(&id).is_some_and(|t| t.what == want)
        };
        let snapshot: Vec<(u64, Topo)> = self.topo.iter().map(|(id, t)| (*id, t.what)).collect();
        for (id, what) in snapshot {
            if let Topo::Bind { source, dest } = what {
                let dest_ok = match dest {
                    DestId::Queue(q) => exists(&self.topo, q, Topo::Queue),
                    DestId::Exchange(x) => exists(&self.topo, x, Topo::Exchange),
                };
                if !exists(&self.topo, source, Topo::Exchange) || !dest_ok {
                    self.topo.remove(&id);
                }
            }
        }
        let mut dead = Vec::new();
        let topo = &self.topo;
        self.msgs.retain(|m, live| {
            live.refs.retain(|r| exists(topo, r.queue, Topo::Queue));
            if live.refs.is_empty() {
                dead.push(*m);
            }
            !live.refs.is_empty()
        });
        dead
    }
}
