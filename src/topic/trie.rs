//! [`TopicTrie`]: the wildcard trie matcher.
//!
//! # Shape
//!
//! A trie over words. Each node has a table of literal children (an [`LfMap`] keyed by the
//! word's bytes), a `*` child and a `#` child in their own fields (as NATS' sublist does), the
//! destinations of the patterns that end there, and a *suffix table*: the literal words that
//! follow a pattern's last wildcard are not spelled out as nodes but kept, joined, as one key of
//! the node where the last wildcard leads (`a.*.b.c` is the node `a.*` with suffix `b.c`). A
//! literal pattern is a suffix of the root, so the root's suffix table is an exact-key table:
//! routing literal patterns costs one hash of the key and one probe, whatever their number,
//! and a pattern's literal tail costs one probe instead of one node per word (and the memory of
//! those nodes).
//!
//! # Routing
//!
//! A route walks states (node, key position) with an explicit stack; a key's word hashes are
//! computed once, lazily, and reused at every node. At a state (node, i) the suffix table is
//! probed with the rest of the key from word i and the child table with word i; both probes
//! request their first cache lines before either reads one, so over large binding sets their
//! misses overlap (5-7% off a route from 10k bindings up). `*` consumes one word; `#` at
//! position `i` stands for the states (`#`-node, j) for every j from i to the end of the key. With several
//! `#` on a path the same (`#`-node, j) can be reached many ways, which makes a naive walk
//! exponential; RabbitMQ's topic exchange notes the same and memoises
//! (`rabbit_db_topic_exchange.erl`). Here each `#`-node remembers the lowest position it was
//! expanded from during the route, and a later expansion only adds the positions below it, so
//! every state is visited at most once: at most nodes × (words + 1) states per route. A `#`-node
//! with no children only matters at the end of the key and is visited once.
//!
//! # Concurrency
//!
//! Readers pin an epoch and follow [`Published`] pointers; writers serialise on a mutex,
//! build new nodes and destination lists off to the side and publish each with one pointer
//! store. Unbinding prunes nodes left empty, bottom-up, so memory returns after churn (the
//! epoch collector frees what was unlinked once no reader can hold it).

use super::key_table::{add_dest, remove_dest, DestList, DestMap};
use super::lfmap::{KeyHasher, LfMap};
use super::{check_len, word_starts, words, DestSet, MAX_WORDS};

use crate::error::{Error, Input};
use crate::sync::{pin, write, Guard, Published};
use crossbeam_utils::CachePadded;
use smallvec::SmallVec;
use std::hash::Hash;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;

/// Words of a key kept on the stack (with their hashes) during a route.
const WORDS_INLINE: usize = 16;

/// What one routing call did, for tests and explanations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteStats {
    /// (trie node, key position) states visited; at most nodes × (words + 1).
    pub states: usize,
}

/// A trie node. Every field is published: readers load, the writer replaces.
struct Node<D> {
    /// Literal word → child.
    children: LfMap<Node<D>>,
    /// Literal tail (one or more words joined by `.`) → destinations.
    suffixes: DestMap<D>,
    /// The `*` child.
    star: Published<Node<D>>,
    /// The `#` child.
    hash: Published<Node<D>>,
    /// Destinations of the patterns ending here.
    dests: Published<DestList<D>>,
}

impl<D> Node<D> {
    fn new() -> Self {
        Node {
            children: LfMap::new(),
            suffixes: DestMap::new(),
            star: Published::null(),
            hash: Published::null(),
            dests: Published::null(),
        }
    }

    /// Whether nothing hangs below this node: it can be pruned. Writer only.
    fn is_empty_for_writer(&self) -> bool {
        self.children.is_empty_for_writer()
            && self.suffixes.is_empty_for_writer()
            && self.star.is_null_for_writer()
            && self.hash.is_null_for_writer()
            && self.dests.is_null_for_writer()
    }

    /// Whether the node has no outgoing edge (readers: a hint, exact for a stable subtree).
    #[inline]
    fn is_leaf(&self, guard: &Guard) -> bool {
        self.children.is_empty(guard)
            && self.suffixes.is_empty(guard)
            && self.star.load(guard).is_none()
            && self.hash.load(guard).is_none()
    }
}

/// How a node hangs from its parent, for pruning.
enum Edge<'p> {
    Star,
    Hash,
    Word(u64, &'p str),
}

/// A set of (pattern, destination) bindings that routes keys without taking a lock.
///
/// `D` is any small copyable id (a queue id, an index). Patterns follow SEMANTICS T: words split
/// at `.`, `*` is exactly one word, `#` zero or more, anywhere, any number of times.
///
/// # Memory ordering
///
/// Once [`bind`](Self::bind) returns, a [`route`](Self::route) that happens after it finds the
/// binding; once [`unbind`](Self::unbind) returns, a `route` that happens after it does not. A
/// `route` concurrent with changes always finds the bindings that no call changes, and for the
/// others finds them as before or after each change. Routing never blocks: writers serialise
/// among themselves only.
///
/// # Example
///
/// ```
/// use warren::topic::{DestSet, TopicTrie};
///
/// let trie = TopicTrie::new();
/// trie.bind("a.#.b", 'x')?;
/// trie.bind("a.b", 'y')?;
/// let mut out = DestSet::new();
/// trie.route("a.b", &mut out)?;
/// assert_eq!(out.len(), 2);
/// # Ok::<(), warren::Error>(())
/// ```
pub struct TopicTrie<D> {
    root: Node<D>,
    /// Hashes words and suffixes for every table of the trie, so a key's word is hashed once.
    hasher: KeyHasher,
    /// (pattern, destination) bindings. On its own cache line, with the writers' mutex: writers
    /// change both on every call, and routes read the root's fields on every call.
    len: CachePadded<AtomicUsize>,
    /// Serialises writers.
    writer: CachePadded<Mutex<()>>,
}

/// A pattern cut after its last wildcard: the words leading to a node, and the literal tail.
struct Split<'p> {
    /// Up to and including the last wildcard word (`""`, zero words, if there is none).
    head: &'p str,
    /// The words after it, joined; `None` if the pattern ends with its last wildcard (or is
    /// `""`).
    tail: Option<&'p str>,
}

fn split_pattern(pattern: &str) -> Split<'_> {
    let mut head_end = None;
    let mut start = 0;
    for word in words(pattern) {
        let end = start + word.len();
        if word == "*" || word == "#" {
            head_end = Some(end);
        }
        start = end + 1;
    }
    match head_end {
        None => Split {
            head: "",
            tail: (!pattern.is_empty()).then_some(pattern),
        },
        // `end` is followed by a `.` unless it is the end of the pattern, where `get` gives
        // `None`; a pattern ending in `.` after it has one empty word of tail (`""`).
        Some(end) => Split {
            head: &pattern[..end],
            tail: pattern.get(end + 1..),
        },
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> TopicTrie<D> {
    /// An empty trie.
    pub fn new() -> Self {
        TopicTrie {
            root: Node::new(),
            hasher: KeyHasher::new(),
            len: CachePadded::new(AtomicUsize::new(0)),
            writer: CachePadded::new(Mutex::new(())),
        }
    }

    /// Binds `pattern` to `dest`; returns whether the binding is new.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) if `pattern` is over 255 bytes;
    /// nothing changes.
    pub fn bind(&self, pattern: &str, dest: D) -> Result<bool, Error> {
        check_len(pattern, Input::Pattern)?;
        let _w = write(&self.writer);
        Ok(self.bind_locked(pattern, dest, &pin()))
    }

    /// Binds every (pattern, destination) pair, taking the writer lock once. All patterns are
    /// checked first: on error nothing is bound. Returns how many bindings were new.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) for the first pattern over 255 bytes.
    pub fn bind_many<'a, I>(&self, bindings: I) -> Result<usize, Error>
    where
        I: IntoIterator<Item = (&'a str, D)>,
    {
        let bindings: Vec<(&str, D)> = bindings.into_iter().collect();
        for (pattern, _) in &bindings {
            check_len(pattern, Input::Pattern)?;
        }
        let _w = write(&self.writer);
        let mut added = 0;
        for chunk in bindings.chunks(1024) {
            // A fresh guard per chunk lets the collector free what earlier chunks retired.
            let guard = pin();
            for &(pattern, dest) in chunk {
                added += usize::from(self.bind_locked(pattern, dest, &guard));
            }
        }
        Ok(added)
    }

    /// Binds a checked pattern; the caller holds the writer lock.
    fn bind_locked(&self, pattern: &str, dest: D, guard: &Guard) -> bool {
        let Split { head, tail } = split_pattern(pattern);
        let rehash = |k: &[u8]| self.hasher.hash(k);
        let mut node = &self.root;
        for word in words(head) {
            node = match word {
                "*" => node
                    .star
                    .load(guard)
                    .unwrap_or_else(|| node.star.publish(Node::new(), guard)),
                "#" => node
                    .hash
                    .load(guard)
                    .unwrap_or_else(|| node.hash.publish(Node::new(), guard)),
                _ => {
                    let h = self.hasher.hash(word.as_bytes());
                    match node.children.get(h, word.as_bytes(), guard) {
                        Some(child) => child,
                        None => {
                            node.children
                                .insert(h, word.as_bytes(), Node::new(), rehash, guard)
                        }
                    }
                }
            };
        }
        let added = match tail {
            None => add_dest(&node.dests, dest, guard),
            Some(tail) => node
                .suffixes
                .add(&self.hasher, tail.as_bytes(), dest, guard),
        };
        if added {
            self.len.fetch_add(1, Relaxed);
        }
        added
    }

    /// Removes the binding of `pattern` to `dest`; returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) if `pattern` is over 255 bytes.
    pub fn unbind(&self, pattern: &str, dest: D) -> Result<bool, Error> {
        check_len(pattern, Input::Pattern)?;
        let _w = write(&self.writer);
        let guard = &pin();
        let Split { head, tail } = split_pattern(pattern);
        let rehash = |k: &[u8]| self.hasher.hash(k);
        // The path from the root, each node with the edge it hangs from.
        let mut path: SmallVec<[(&Node<D>, Edge<'_>); 16]> = SmallVec::new();
        let mut node = &self.root;
        for word in words(head) {
            let (child, edge) = match word {
                "*" => (node.star.load(guard), Edge::Star),
                "#" => (node.hash.load(guard), Edge::Hash),
                _ => {
                    let h = self.hasher.hash(word.as_bytes());
                    (
                        node.children.get(h, word.as_bytes(), guard),
                        Edge::Word(h, word),
                    )
                }
            };
            let Some(child) = child else { return Ok(false) };
            path.push((node, edge));
            node = child;
        }
        let removed = match tail {
            None => remove_dest(&node.dests, dest, guard),
            Some(tail) => node
                .suffixes
                .remove(&self.hasher, tail.as_bytes(), dest, guard),
        };
        if !removed {
            return Ok(false);
        }
        self.len.fetch_sub(1, Relaxed);
        // Prune the nodes left empty, deepest first.
        let mut child = node;
        for (parent, edge) in path.iter().rev() {
            if !child.is_empty_for_writer() {
                break;
            }
            match *edge {
                Edge::Star => parent.star.replace(None, guard),
                Edge::Hash => parent.hash.replace(None, guard),
                Edge::Word(h, word) => {
                    parent.children.remove(h, word.as_bytes(), rehash, guard);
                }
            }
            child = parent;
        }
        Ok(true)
    }

    /// Adds every destination whose pattern matches `key` to `out` (once each).
    ///
    /// Allocates nothing for keys of up to 16 words and up to 8 destinations.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) if `key` is over 255 bytes.
    #[inline]
    pub fn route(&self, key: &str, out: &mut DestSet<D>) -> Result<(), Error> {
        self.route_with_stats(key, out).map(|_| ())
    }

    /// As [`route`](Self::route), also counting the trie states visited.
    ///
    /// # Errors
    ///
    /// As [`route`](Self::route).
    pub fn route_with_stats(&self, key: &str, out: &mut DestSet<D>) -> Result<RouteStats, Error> {
        check_len(key, Input::RoutingKey)?;
        // No shortcut through `len`: writers change it on every call, so reading it would cost
        // each route a cache miss while a writer is busy; an empty root costs a few loads.
        let mut stats = RouteStats::default();
        let guard = &pin();
        let bytes = key.as_bytes();
        // Where each word starts: a key has at most 255 bytes, so a start fits a byte.
        let mut starts = [0u8; MAX_WORDS];
        let n = word_starts(bytes, &mut starts);
        let start = |i: usize| usize::from(starts[i]);
        let word = |i: usize| {
            let end = if i + 1 < n {
                start(i + 1) - 1
            } else {
                bytes.len()
            };
            &bytes[start(i)..end]
        };
        // Hashes of the first words, computed on first use (0 = not yet; a real 0 is merely
        // recomputed); later words of long keys are hashed at each use.
        let mut hashes = [0u64; WORDS_INLINE];
        // `#`-nodes expanded so far, with the lowest position each was expanded from.
        let mut expanded: SmallVec<[(*const Node<D>, usize); 8]> = SmallVec::new();
        // States still to visit. The walk follows one successor of each state directly (`next`)
        // and stacks only the others.
        let mut stack: SmallVec<[(&Node<D>, usize); 16]> = SmallVec::new();
        let mut next = Some((&self.root, 0));
        while let Some((node, i)) = next.take().or_else(|| stack.pop()) {
            stats.states += 1;
            if i == n {
                if let Some(dests) = node.dests.load(guard) {
                    out.extend_from_distinct(dests);
                }
            } else {
                // Both probes' first lines are requested before either probe waits on one, so
                // over large tables their cache misses overlap.
                // A map holding one key needs no hash (see `LfMap`).
                let suffixes = node.suffixes.reader(guard).map(|table| {
                    let rest = &bytes[start(i)..];
                    let h = table.hash_for(|| self.hasher.hash(rest));
                    table.prefetch(h);
                    (table, h, rest)
                });
                let children = node.children.reader(guard).map(|table| {
                    let h = table.hash_for(|| match hashes.get_mut(i) {
                        Some(h) if *h != 0 => *h,
                        Some(h) => {
                            *h = self.hasher.hash(word(i));
                            *h
                        }
                        None => self.hasher.hash(word(i)),
                    });
                    table.prefetch(h);
                    (table, h)
                });
                if let Some((table, h, rest)) = suffixes {
                    if let Some(dests) = table.get(h, rest) {
                        out.extend_from_distinct(dests);
                    }
                }
                if let Some((table, h)) = children {
                    next = table.get(h, word(i)).map(|c| (c, i + 1));
                }
                if let Some(s) = node.star.load(guard) {
                    match next {
                        None => next = Some((s, i + 1)),
                        Some(_) => stack.push((s, i + 1)),
                    }
                }
            }
            if let Some(h) = node.hash.load(guard) {
                let id: *const Node<D> = h;
                let below = match expanded.iter_mut().find(|(p, _)| *p == id) {
                    Some((_, low)) => std::mem::replace(low, i.min(*low)),
                    None => {
                        expanded.push((id, i));
                        n + 1
                    }
                };
                if i < below {
                    if h.is_leaf(guard) {
                        // Only the end of the key can match; visit it once.
                        if below == n + 1 {
                            stack.push((h, n));
                        }
                    } else {
                        stack.extend((i..below).map(|j| (h, j)));
                    }
                }
            }
        }
        Ok(stats)
    }

    /// The number of (pattern, destination) bindings.
    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> Default for TopicTrie<D> {
    fn default() -> Self {
        TopicTrie::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::TopicTrie;

    /// Unbinding everything prunes every node: the root is left with no table and no child,
    /// so the memory of a churned trie returns (SEMANTICS-independent; DESIGN's memory rule).
    #[test]
    fn unbinding_everything_leaves_an_empty_root() {
        let trie = TopicTrie::new();
        let patterns = [
            "a.b.c", "a.*.c", "a.#", "#", "#.#", "*.b.#.d", "", ".", "a.", "*.", "#.", "a..b",
            "x.*.y.z", "#.a.#", "*", "a.b.*", "a.b.#",
        ];
        for _ in 0..2 {
            for (d, p) in patterns.iter().enumerate() {
                assert!(trie.bind(p, d).unwrap());
            }
            for (d, p) in patterns.iter().enumerate() {
                assert!(trie.unbind(p, d).unwrap());
            }
            assert!(trie.is_empty());
            assert!(trie.root.is_empty_for_writer(), "every node pruned");
        }
    }
}
