//! A queue's ready messages: one FIFO per priority level, with the totals its limits read.
//!
//! A plain queue has one level, so its head is `levels[0].front()`. A queue declared with
//! `x-max-priority = n` has `n + 1` levels (SEMANTICS L7): the head is the front of the highest
//! non-empty level, found through a 256-bit mask in O(1). Within a level, entries are in `seq`
//! order, so a requeue finds its original place by binary search (SEMANTICS A5).
//!
//! # Invariants
//!
//! * `len` and `bytes` are the count and body bytes of every entry of every level
//!   (SEMANTICS L5 counts ready messages only).
//! * `timed` counts the entries with a deadline (`expires_at != NEVER`): the sweeper skips a
//!   queue whose count is 0.
//! * Bit `l` of `mask` is set exactly when level `l` is not empty.

use super::{Entry, Payload, NEVER};

/// `u32` to `usize`, lossless on every target warren builds for.
trait ToUsize {
    fn to_usize(self) -> usize;
}

impl ToUsize for u32 {
    fn to_usize(self) -> usize {
        usize::try_from(self).unwrap_or(usize::MAX)
    }
}
use std::collections::VecDeque;

/// The ready messages of one queue. See the module docs.
#[derive(Debug)]
pub(crate) struct Ready<M> {
    levels: Vec<VecDeque<Entry<M>>>,
    mask: [u64; 4],
    len: usize,
    bytes: u64,
    timed: usize,
}

impl<M: Payload> Ready<M> {
    /// No messages, with `levels` priority levels (1 to 256).
    pub(crate) fn new(levels: usize) -> Ready<M> {
        let levels = levels.clamp(1, 256);
        Ready {
            levels: (0..levels).map(|_| VecDeque::new()).collect(),
            mask: [0; 4],
            len: 0,
            bytes: 0,
            timed: 0,
        }
    }

    /// The number of priority levels.
    pub(crate) fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// The level a message of priority `priority` joins: the highest one if above it
    /// (SEMANTICS L7).
    pub(crate) fn level_of(&self, priority: u8) -> u8 {
        let top = u8::try_from(self.levels.len() - 1).unwrap_or(u8::MAX);
        priority.min(top)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// How many entries have a deadline.
    pub(crate) fn timed(&self) -> usize {
        self.timed
    }

    fn count_in(&mut self, e: &Entry<M>) {
        self.len += 1;
        self.bytes += e.msg.body_bytes();
        self.timed += usize::from(e.expires_at != NEVER);
        let l = usize::from(e.level);
        self.mask[l / 64] |= 1 << (l % 64);
    }

    fn count_out(&mut self, e: &Entry<M>) {
        self.len -= 1;
        self.bytes -= e.msg.body_bytes();
        self.timed -= usize::from(e.expires_at != NEVER);
        let l = usize::from(e.level);
        if self.levels[l].is_empty() {
            self.mask[l / 64] &= !(1 << (l % 64));
        }
    }

    /// The highest non-empty level.
    fn top(&self) -> Option<usize> {
        if self.levels.len() == 1 {
            // A plain queue: no mask to scan.
            return (self.len != 0).then_some(0);
        }
        (0..4).rev().find_map(|w| {
            let bits = self.mask[w];
            (bits != 0).then(|| w * 64 + 63 - bits.leading_zeros().to_usize())
        })
    }

    /// The head: the next message to deliver.
    pub(crate) fn front(&self) -> Option<&Entry<M>> {
        self.levels[self.top()?].front()
    }

    /// Takes the head.
    pub(crate) fn pop_front(&mut self) -> Option<Entry<M>> {
        let l = self.top()?;
        let e = self.levels[l].pop_front()?;
        self.count_out(&e);
        Some(e)
    }

    /// Puts `e` back at the head of its level (a consumer refused it).
    pub(crate) fn push_front(&mut self, e: Entry<M>) {
        self.count_in(&e);
        self.levels[usize::from(e.level)].push_front(e);
    }

    /// Adds `e` at the tail of its level.
    pub(crate) fn push_back(&mut self, e: Entry<M>) {
        self.count_in(&e);
        self.levels[usize::from(e.level)].push_back(e);
    }

    /// Adds `entries` (of level 0, without deadline, in `seq` order, behind every entry),
    /// whose body bytes are `bytes`: a plain queue's intake. Returns the emptied buffer: when
    /// nothing was ready, `entries`' own buffer becomes the level's (no entry moves) and the
    /// level's old one comes back.
    pub(crate) fn append_plain(&mut self, mut entries: Vec<Entry<M>>, bytes: u64) -> Vec<Entry<M>> {
        debug_assert!(entries
            .iter()
            .all(|e| e.level == 0 && e.expires_at == NEVER));
        debug_assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
        if entries.is_empty() {
            return entries;
        }
        self.len += entries.len();
        self.bytes += bytes;
        self.mask[0] |= 1;
        let level = &mut self.levels[0];
        debug_assert!(level.back().is_none_or(|b| b.seq < entries[0].seq));
        if level.is_empty() {
            // An empty deque gives its buffer back without moving anything.
            Vec::from(std::mem::replace(level, VecDeque::from(entries)))
        } else {
            level.extend(entries.drain(..));
            entries
        }
    }

    /// Frees the buffer of each empty level with room for more than `keep` entries.
    pub(crate) fn trim(&mut self, keep: usize) {
        for level in &mut self.levels {
            if level.is_empty() && level.capacity() > keep {
                *level = VecDeque::new();
            }
        }
    }

    /// Room for entries, over every level.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.levels.iter().map(VecDeque::capacity).sum()
    }

    /// Puts `e` back at its original place in its level: ahead of every entry with a higher
    /// `seq` (SEMANTICS A5).
    pub(crate) fn insert_by_seq(&mut self, e: Entry<M>) {
        self.count_in(&e);
        let level = &mut self.levels[usize::from(e.level)];
        // Requeues land near the front: search from there.
        let at = level.partition_point(|x| x.seq < e.seq);
        level.insert(at, e);
    }

    /// The head's deadline, or [`NEVER`].
    #[cfg(test)]
    pub(crate) fn next_deadline(&self) -> u64 {
        self.front().map_or(NEVER, |e| e.expires_at)
    }

    /// Takes every entry out, in delivery order.
    pub(crate) fn take_all(&mut self) -> Vec<Entry<M>> {
        let mut all = Vec::with_capacity(self.len);
        for level in self.levels.iter_mut().rev() {
            all.extend(level.drain(..));
        }
        self.mask = [0; 4];
        self.len = 0;
        self.bytes = 0;
        self.timed = 0;
        all
    }

    /// The entries in delivery order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry<M>> {
        self.levels.iter().rev().flat_map(|l| l.iter())
    }
}
