//! A channel's unacked deliveries by delivery tag (SEMANTICS A1-A8).
//!
//! Tags are handed out in order, so the table is a deque indexed by `tag - base`: registering
//! and settling one delivery are O(1), and `multiple` walks only what it settles. Settled slots
//! leave the front as soon as they reach it. A delivery the engine took back (its consumer was
//! lost or timed out) leaves a *stale* slot: settling its tag later is a no-op reported as
//! stale (A8), once; stale tags that reach the front move to a small set.
//!
//! The table is plain data behind its channel's lock; it never calls out.

use super::consumer::ConsumerShared;
use super::registry::{MessageData, Msg};
use crate::queue::{Entry, Queue};
use smallvec::SmallVec;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// An unacked delivery.
pub(crate) struct Unacked {
    pub(crate) holder: Holder,
    /// Its queue entry, the message shared with the delivery: a 40-byte entry rather than a
    /// queue's 128-byte one (which has room for an owned message), as every ack moves the
    /// record a few times.
    pub(crate) entry: Entry<Arc<MessageData>>,
    /// When it was handed over (the clock's ms), for consumer timeouts; [`UNSTAMPED`] until
    /// the sweeper's next round when the clock is the system's.
    pub(crate) at_ms: u64,
}

/// The `at_ms` of a delivery registered under the system clock and not yet seen by a sweep.
///
/// Reading the system clock costs more than the rest of a registration, so the channel's `register` reads only a manual clock (a load, and tests need its exact time). The sweeper
/// stamps new deliveries on its next round with a time read under the channel's lock, so never
/// earlier than their hand-over: a timeout fires at most one sweep period (10 ms) later than
/// with a stamp at hand-over, never earlier.
pub(crate) const UNSTAMPED: u64 = u64::MAX;

/// What an unacked delivery came through, and so the queue it goes back to.
///
/// A consumer's delivery keeps only the consumer: its queue is the consumer's. One reference
/// count less is taken on the publishing thread and dropped on the acking one, and the one
/// left out is the queue's, which shares a cache line with the queue's lock.
pub(crate) enum Holder {
    /// A consumer, which holds credit for the delivery.
    Consumer(Arc<ConsumerShared>),
    /// `basic_get`: no credit; the queue it came from.
    Get(Arc<Queue<Msg>>),
}

impl Unacked {
    /// The record of a delivery of `entry` through `holder`, registered at `at_ms`: it shares
    /// the message with the delivery.
    pub(crate) fn new(holder: Holder, entry: &mut Entry<Msg>, at_ms: u64) -> Unacked {
        let msg = entry.msg.share_arc();
        Unacked {
            holder,
            entry: entry.with_msg(msg),
            at_ms,
        }
    }

    /// Its entry, to go back to its queue.
    pub(crate) fn into_entry(self) -> Entry<Msg> {
        self.entry.map(Msg::Shared)
    }

    /// The consumer that holds credit for it; `None` for `basic_get`.
    pub(crate) fn consumer(&self) -> Option<&Arc<ConsumerShared>> {
        match &self.holder {
            Holder::Consumer(c) => Some(c),
            Holder::Get(_) => None,
        }
    }

    /// (message, queue) as the durable log names them, if both are logged.
    pub(crate) fn log_ref(&self) -> Option<(u64, u64)> {
        let queue = match &self.holder {
            Holder::Consumer(c) => c.queue.as_ref().map_or(0, |rec| rec.q.log_id),
            Holder::Get(q) => q.log_id,
        };
        let msg = self.entry.msg.store_id;
        (msg != 0 && queue != 0).then_some((msg, queue))
    }

    /// The queue it goes back to; `None` only for a consumer without a queue (a direct
    /// reply-to consumer, whose deliveries are never registered).
    pub(crate) fn queue(&self) -> Option<Arc<Queue<Msg>>> {
        match &self.holder {
            Holder::Consumer(c) => c.queue.as_ref().map(|rec| rec.q.clone()),
            Holder::Get(q) => Some(q.clone()),
        }
    }
}

enum Slot {
    Open(Unacked),
    /// Settled by the application (or a tag given to an auto-ack delivery).
    Done,
    /// Taken back by the engine (SEMANTICS A8).
    Stale,
}

/// The deliveries one settle call takes: inline for the common single ack, so an ack
/// allocates nothing.
pub(crate) type Taken = SmallVec<[Unacked; 1]>;

/// What [`UnackedTable::settle`] could not settle.
pub(crate) enum Found {
    /// The tag was taken back by the engine (SEMANTICS A8).
    Stale,
    /// The tag was never issued or is already settled (SEMANTICS A3).
    Unknown,
}

/// A channel's unacked deliveries. See the module docs.
pub(crate) struct UnackedTable {
    /// The tag of `slots[0]`.
    base: u64,
    slots: VecDeque<Slot>,
    /// Stale tags that left the front of `slots`.
    stale: HashSet<u64>,
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl UnackedTable {
    pub(crate) fn new() -> UnackedTable {
        UnackedTable {
            base: 1,
            slots: VecDeque::new(),
            stale: HashSet::new(),
        }
    }

    /// Registers `u` under `tag`, which is above every tag registered before; tags skipped
    /// (given to auto-ack deliveries) leave settled gaps.
    pub(crate) fn push(&mut self, tag: u64, u: Unacked) {
        if self.slots.is_empty() {
            self.base = tag;
        }
        while self.base + to_u64(self.slots.len()) < tag {
            self.slots.push_back(Slot::Done);
        }
        self.slots.push_back(Slot::Open(u));
    }

    /// Takes the one delivery the application settles with `tag` (SEMANTICS A2-A4, A8): what
    /// [`settle`](Self::settle) does without `multiple`, without a list. The usual ack settles
    /// the oldest tag, which leaves the front at once.
    pub(crate) fn settle_one(&mut self, tag: u64) -> Result<Unacked, Found> {
        if tag == self.base && matches!(self.slots.front(), Some(Slot::Open(_))) {
            let Some(Slot::Open(u)) = self.slots.pop_front() else {
                unreachable!("the front was just seen open");
            };
            self.base += 1;
            self.trim();
            return Ok(u);
        }
        let at = self.open_slot(tag)?;
        let Slot::Open(u) = std::mem::replace(&mut self.slots[at], Slot::Done) else {
            unreachable!("open_slot found it open");
        };
        self.trim();
        Ok(u)
    }

    /// The index of `tag`'s open slot. A stale tag (in the table or the set) is reported
    /// once, then settled (SEMANTICS A8); any other tag without an open slot, 0 included (the
    /// base is at least 1), is unknown (A3).
    fn open_slot(&mut self, tag: u64) -> Result<usize, Found> {
        if tag < self.base || tag >= self.base + to_u64(self.slots.len()) {
            return if self.stale.remove(&tag) {
                Err(Found::Stale)
            } else {
                Err(Found::Unknown)
            };
        }
        let at = usize::try_from(tag - self.base).map_err(|_| Found::Unknown)?;
        match self.slots[at] {
            Slot::Open(_) => Ok(at),
            Slot::Stale => {
                self.slots[at] = Slot::Done;
                self.trim();
                Err(Found::Stale)
            }
            Slot::Done => Err(Found::Unknown),
        }
    }

    /// Takes the deliveries the application settles with `tag` (with `multiple`, every
    /// earlier one too; 0 with `multiple` = all) (SEMANTICS A2-A4, A8).
    pub(crate) fn settle(&mut self, tag: u64, multiple: bool) -> Result<Taken, Found> {
        if !multiple {
            return self.settle_one(tag).map(|u| smallvec::smallvec![u]);
        }
        if tag == 0 {
            // Everything, stale tags included: a later settle of any of them is unknown (A3).
            let mut all = Taken::new();
            for slot in self.slots.iter_mut() {
                if let Slot::Open(u) = std::mem::replace(slot, Slot::Done) {
                    all.push(u);
                }
            }
            self.stale.clear();
            self.trim();
            return Ok(all);
        }
        let at = self.open_slot(tag)?;
        let mut taken = Taken::new();
        // A `multiple` settle consumes the stale tags it covers (SEMANTICS A8): a later
        // settle of one is unknown (A3), wherever it sits.
        self.stale.retain(|&t| t > tag);
        for slot in self.slots.range_mut(..=at) {
            match std::mem::replace(slot, Slot::Done) {
                Slot::Open(u) => taken.push(u),
                Slot::Stale | Slot::Done => {}
            }
        }
        self.trim();
        Ok(taken)
    }

    /// Takes every open delivery `which` selects for the engine (a lost or timed-out
    /// consumer), leaving its tag stale (SEMANTICS A8).
    pub(crate) fn take_back(&mut self, mut which: impl FnMut(&Unacked) -> bool) -> Vec<Unacked> {
        let mut taken = Vec::new();
        for slot in self.slots.iter_mut() {
            if matches!(slot, Slot::Open(u) if which(u)) {
                if let Slot::Open(u) = std::mem::replace(slot, Slot::Stale) {
                    taken.push(u);
                }
            }
        }
        self.trim();
        taken
    }

    /// Takes every open delivery for `basic_recover` (SEMANTICS A11): no settle, so stale
    /// tags stay stale.
    pub(crate) fn take_open(&mut self) -> Taken {
        let mut open = Taken::new();
        for slot in self.slots.iter_mut() {
            if matches!(slot, Slot::Open(_)) {
                if let Slot::Open(u) = std::mem::replace(slot, Slot::Done) {
                    open.push(u);
                }
            }
        }
        self.trim();
        open
    }

    /// Empties the table (its channel closed) and returns the open deliveries.
    pub(crate) fn drain(&mut self) -> Vec<Unacked> {
        self.stale.clear();
        self.slots
            .drain(..)
            .filter_map(|s| match s {
                Slot::Open(u) => Some(u),
                Slot::Done | Slot::Stale => None,
            })
            .collect()
    }

    /// The open deliveries, oldest tag first.
    pub(crate) fn open_mut(&mut self) -> impl Iterator<Item = &mut Unacked> {
        self.slots.iter_mut().filter_map(|s| match s {
            Slot::Open(u) => Some(u),
            Slot::Done | Slot::Stale => None,
        })
    }

    /// Pops settled and stale slots off the front (stale tags move to the `stale` set).
    fn trim(&mut self) {
        while let Some(front) = self.slots.front() {
            match front {
                Slot::Open(_) => break,
                Slot::Stale => {
                    self.stale.insert(self.base);
                }
                Slot::Done => {}
            }
            self.slots.pop_front();
            self.base += 1;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::broker::registry::MessageData;
    use bytes::Bytes;

    fn delivery() -> Unacked {
        Unacked {
            holder: Holder::Get(Arc::new(Queue::new())),
            entry: Entry::bare(Arc::new(MessageData::new(None, "k", None, Bytes::new()))),
            at_ms: 0,
        }
    }

    fn table(tags: &[u64]) -> UnackedTable {
        let mut t = UnackedTable::new();
        for &tag in tags {
            t.push(tag, delivery());
        }
        t
    }

    #[test]
    fn a2_multiple_settles_up_to_the_tag_and_skips_gaps() {
        // Tags 2 and 4 went to auto-ack deliveries: gaps, not unacked.
        let mut t = table(&[1, 3, 5]);
        assert_eq!(t.settle(3, true).ok().map(|v| v.len()), Some(2));
        assert!(matches!(t.settle(1, false), Err(Found::Unknown)));
        assert!(matches!(t.settle(4, false), Err(Found::Unknown)));
        assert_eq!(t.settle(5, false).ok().map(|v| v.len()), Some(1));
        assert!(t.slots.is_empty(), "settled slots leave the front");
    }

    #[test]
    fn a2_single_settles_in_any_order_and_the_front_clears_behind_them() {
        let mut t = table(&[1, 2, 3, 5]);
        assert!(t.settle_one(2).is_ok(), "out of order: a settled gap");
        assert!(t.settle_one(1).is_ok(), "the front, and the gap behind it");
        assert_eq!((t.base, t.slots.len()), (3, 3), "3, a gap for 4, then 5");
        assert!(matches!(t.settle_one(2), Err(Found::Unknown)));
        assert!(matches!(t.settle_one(4), Err(Found::Unknown)));
        assert!(t.settle_one(5).is_ok());
        assert!(t.settle_one(3).is_ok());
        assert!(t.slots.is_empty());
        assert!(matches!(t.settle_one(6), Err(Found::Unknown)));
        assert!(matches!(t.settle_one(0), Err(Found::Unknown)));
    }

    #[test]
    fn a3_zero_needs_multiple_and_settles_everything_once() {
        let mut t = table(&[1, 2]);
        assert!(matches!(t.settle(0, false), Err(Found::Unknown)));
        assert_eq!(t.settle(0, true).ok().map(|v| v.len()), Some(2));
        assert!(matches!(t.settle(2, false), Err(Found::Unknown)));
    }

    #[test]
    fn a8_a_taken_back_tag_is_stale_once() {
        let mut t = table(&[1, 2, 3]);
        assert_eq!(t.take_back(|_| true).len(), 3);
        assert!(matches!(t.settle(2, false), Err(Found::Stale)));
        assert!(matches!(t.settle(2, false), Err(Found::Unknown)));
        // Tag 1 reached the front and moved to the set: still stale once.
        assert!(matches!(t.settle(1, false), Err(Found::Stale)));
        assert!(matches!(t.settle(1, false), Err(Found::Unknown)));
    }

    #[test]
    fn a8_a_multiple_settle_consumes_the_stale_tags_it_covers() {
        let mut t = table(&[1, 2]);
        let mut first = true;
        assert_eq!(
            t.take_back(|_| std::mem::replace(&mut first, false)).len(),
            1
        );
        t.push(3, delivery());
        assert_eq!(t.settle(3, true).ok().map(|v| v.len()), Some(2));
        assert!(matches!(t.settle(1, false), Err(Found::Unknown)));
    }

    #[test]
    fn a11_recover_leaves_stale_tags_stale() {
        let mut t = table(&[1, 2]);
        let mut first = true;
        t.take_back(|_| std::mem::replace(&mut first, false));
        assert_eq!(t.take_open().len(), 1);
        assert!(matches!(t.settle(1, false), Err(Found::Stale)));
        assert!(matches!(t.settle(2, false), Err(Found::Unknown)));
    }
}
