//! A queue's ready messages: one FIFO per priority level, with the totals its limits read.
//!
//! A plain queue has one level, so its head is `levels[0].front()`. A queue declared with
//! `x-max-priority = n` has `n + 1` levels (SEMANTICS L7): the head is the front of the highest
//! non-empty level, found through a 256-bit mask in O(1). Within a level, entries are in `seq`
//! order, so a requeue finds its original place by binary search (SEMANTICS A5).
//!
//! A plain queue's intake arrives in chunks of bounded size ([`Ready::append_plain`]): the
//! first one traded into an empty level becomes its deque as it is; those traded behind
//! waiting messages queue whole in `later`, and each becomes the level's deque when the one
//! before runs out. No entry is copied on the way, and no buffer grows with the backlog, so a
//! growing backlog reuses the allocator's freed chunks instead of faulting in fresh pages.
//!
//! # Invariants
//!
//! * `len` and `bytes` are the count and body bytes of every entry of every level
//!   (SEMANTICS L5 counts ready messages only).
//! * `timed` counts the entries with a deadline (`expires_at != NEVER`): the sweeper skips a
//!   queue whose count is 0.
//! * Bit `l` of `mask` is set exactly when level `l` is not empty.
//! * `later` holds chunks only while level 0 is not empty; each chunk is non-empty, in `seq`
//!   order and behind every entry of level 0 and of the chunks before it (they are level 0's
//!   tail). Their entries count in `len`, `bytes` and `timed`.

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
    /// Intake chunks behind level 0, in order (see the module docs).
    later: VecDeque<Vec<Entry<M>>>,
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
            later: VecDeque::new(),
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
        if self.levels[l].is_empty() {
            if let Some(next) = self.later.pop_front() {
                // The next chunk takes over; the emptied buffer goes back to the allocator.
                self.levels[l] = VecDeque::from(next);
            }
        }
        self.count_out(&e);
        Some(e)
    }

    /// Puts `e` back at the head of its level (a consumer refused it).
    pub(crate) fn push_front(&mut self, e: Entry<M>) {
        self.count_in(&e);
        self.levels[usize::from(e.level)].push_front(e);
    }

    /// Adds `e` at the tail of its level (behind the chunks waiting, which are level 0's).
    pub(crate) fn push_back(&mut self, e: Entry<M>) {
        self.count_in(&e);
        match self.later.back_mut() {
            Some(last) => {
                debug_assert_eq!(e.level, 0, "only a plain queue has chunks");
                last.push(e);
            }
            None => self.levels[usize::from(e.level)].push_back(e),
        }
    }

    /// Adds `chunk` (of level 0, without deadline, in `seq` order, behind every entry), whose
    /// body bytes are `bytes`: a chunk of a plain queue's intake. No entry moves: when nothing
    /// was ready, the chunk's buffer becomes the level's and the level's old one comes back;
    /// otherwise the chunk waits whole in `later` and an empty `Vec` comes back.
    pub(crate) fn append_plain(&mut self, chunk: Vec<Entry<M>>, bytes: u64) -> Vec<Entry<M>> {
        debug_assert!(chunk.iter().all(|e| e.level == 0 && e.expires_at == NEVER));
        debug_assert!(chunk.windows(2).all(|w| w[0].seq < w[1].seq));
        if chunk.is_empty() {
            return chunk;
        }
        debug_assert!(self.tail_seq().is_none_or(|t| t < chunk[0].seq));
        self.len += chunk.len();
        self.bytes += bytes;
        self.mask[0] |= 1;
        let level = &mut self.levels[0];
        if level.is_empty() {
            // An empty deque gives its buffer back without moving anything.
            Vec::from(std::mem::replace(level, VecDeque::from(chunk)))
        } else {
            self.later.push_back(chunk);
            Vec::new()
        }
    }

    /// The `seq` of level 0's last entry, its waiting chunks included.
    fn tail_seq(&self) -> Option<u64> {
        match self.later.back() {
            Some(last) => last.last().map(|e| e.seq),
            None => self.levels[0].back().map(|e| e.seq),
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

    /// The room of the largest buffer: a level's deque or a waiting chunk.
    #[cfg(test)]
    pub(crate) fn largest_buffer(&self) -> usize {
        let chunks = self.later.iter().map(Vec::capacity);
        chunks
            .chain(self.levels.iter().map(VecDeque::capacity))
            .max()
            .unwrap_or(0)
    }

    /// Room for entries, over every level.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        let chunks: usize = self.later.iter().map(Vec::capacity).sum();
        chunks + self.levels.iter().map(VecDeque::capacity).sum::<usize>()
    }

    /// Puts `e` back at its original place in its level: ahead of every entry with a higher
    /// `seq` (SEMANTICS A5).
    pub(crate) fn insert_by_seq(&mut self, e: Entry<M>) {
        self.count_in(&e);
        let level = usize::from(e.level);
        // The last waiting chunk that starts ahead of it, if any, is its place. (A requeued
        // entry was delivered from the head, ahead of every chunk, so this is rare.)
        if level == 0 {
            if let Some(chunk) = self.later.iter_mut().rev().find(|c| c[0].seq < e.seq) {
                let at = chunk.partition_point(|x| x.seq < e.seq);
                chunk.insert(at, e);
                return;
            }
        }
        let level = &mut self.levels[level];
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
        for chunk in self.later.drain(..) {
            all.extend(chunk);
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
        self.levels
            .iter()
            .rev()
            .flat_map(|l| l.iter())
            .chain(self.later.iter().flatten())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn entry(seq: u64) -> Entry<u32> {
        Entry {
            seq,
            ..Entry::bare(0)
        }
    }

    fn chunk(seqs: std::ops::Range<u64>) -> Vec<Entry<u32>> {
        seqs.map(entry).collect()
    }

    fn seqs(r: &Ready<u32>) -> Vec<u64> {
        r.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn chunks_wait_whole_behind_the_level_and_take_over_in_order() {
        let mut r = Ready::new(1);
        assert!(
            r.append_plain(chunk(0..3), 3).is_empty(),
            "adopted: an empty deque back"
        );
        assert!(r.append_plain(chunk(3..6), 3).is_empty());
        assert!(r.append_plain(chunk(8..10), 2).is_empty());
        assert_eq!((r.len(), r.bytes()), (8, 8));
        assert_eq!(r.later.len(), 2, "waiting whole, not copied");
        // A tail push goes behind the last chunk; a requeue to its place, wherever it is
        // (10 was never ready here: the place of a tail requeue's seq, past a gap).
        r.push_back(entry(20));
        let mut taken: Vec<u64> = (0..5).map(|_| r.pop_front().expect("ready").seq).collect();
        r.insert_by_seq(entry(1));
        r.insert_by_seq(entry(7));
        r.insert_by_seq(entry(10));
        assert_eq!(seqs(&r), [1, 5, 7, 8, 9, 10, 20]);
        while let Some(e) = r.pop_front() {
            taken.push(e.seq);
        }
        assert_eq!(taken, [0, 1, 2, 3, 4, 1, 5, 7, 8, 9, 10, 20]);
        assert!(r.is_empty() && r.later.is_empty());
        assert_eq!((r.len(), r.bytes()), (0, 0));
    }

    #[test]
    fn take_all_takes_the_waiting_chunks_too() {
        let mut r = Ready::new(1);
        r.append_plain(chunk(0..2), 2);
        r.append_plain(chunk(2..4), 2);
        let all: Vec<u64> = r.take_all().iter().map(|e| e.seq).collect();
        assert_eq!(all, [0, 1, 2, 3]);
        assert!(r.is_empty() && r.later.is_empty() && r.front().is_none());
    }
}
