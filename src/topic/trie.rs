//! [`TopicTrie`]: the wildcard trie matcher.
//!
//! # Shape
//!
//! Literal patterns (no `*` or `#` word) live in an exact-key [`KeyTable`]: routing them costs
//! one hash of the whole key and one probe, whatever their number. Patterns with a wildcard live
//! in a trie over words: each node has a table of literal children (an [`LfMap`] keyed by the
//! word's bytes), a `*` child and a `#` child in their own fields (as NATS' sublist does), and
//! the destinations of the patterns that end there.
//!
//! # Routing
//!
//! A route walks states (node, key position) with an explicit stack; a key's word hashes are
//! computed once, lazily, and reused at every node. `*` consumes one word; `#` at position `i`
//! stands for the states (`#`-node, j) for every j from i to the end of the key. With several
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

use super::key_table::{lock, with_dest, without_dest, DestList, KeyTable};
use super::lfmap::{KeyHasher, LfMap};
use super::{check_len, words, DestSet};

use crate::error::{Error, Input};
use crate::sync::{pin, Guard, Published};
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
    /// The `*` child.
    star: Published<Node<D>>,
    /// The `#` child.
    hash: Published<Node<D>>,
    /// Destinations of the patterns ending here.
    dests: Published<DestList<D>>,
}

impl<D> Node<D> {
    const fn new() -> Self {
        Node {
            children: LfMap::new(),
            star: Published::null(),
            hash: Published::null(),
            dests: Published::null(),
        }
    }

    /// Whether nothing hangs below this node: it can be pruned. Writer only.
    fn is_empty_for_writer(&self) -> bool {
        self.children.len() == 0
            && self.star.is_null_for_writer()
            && self.hash.is_null_for_writer()
            && self.dests.is_null_for_writer()
    }

    /// Whether the node has no outgoing edge (readers: a hint, exact for a stable subtree).
    #[inline]
    fn is_leaf(&self, guard: &Guard) -> bool {
        self.children.len() == 0
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
    /// Literal patterns.
    exact: KeyTable<D>,
    /// Root of the wildcard patterns.
    root: Node<D>,
    /// Hashes words for every child table of the trie, so a key's word is hashed once.
    hasher: KeyHasher,
    /// Bindings in the trie (not in `exact`).
    wild_len: AtomicUsize,
    /// Serialises trie writers.
    writer: Mutex<()>,
}

/// Whether a pattern has no wildcard word.
fn is_literal(pattern: &str) -> bool {
    words(pattern).all(|w| w != "*" && w != "#")
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> TopicTrie<D> {
    /// An empty trie.
    pub fn new() -> Self {
        TopicTrie {
            exact: KeyTable::new(),
            root: Node::new(),
            hasher: KeyHasher::new(),
            wild_len: AtomicUsize::new(0),
            writer: Mutex::new(()),
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
        if is_literal(pattern) {
            let _w = self.exact.writer();
            return Ok(self.exact.bind_locked(pattern, dest, &pin()));
        }
        let _w = lock(&self.writer);
        Ok(self.bind_wild(pattern, dest, &pin()))
    }

    /// Binds every (pattern, destination) pair, taking the writer locks once. All patterns are
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
        let _w = lock(&self.writer);
        let _x = self.exact.writer();
        let mut added = 0;
        for chunk in bindings.chunks(1024) {
            // A fresh guard per chunk lets the collector free what earlier chunks retired.
            let guard = pin();
            for &(pattern, dest) in chunk {
                let new = if is_literal(pattern) {
                    self.exact.bind_locked(pattern, dest, &guard)
                } else {
                    self.bind_wild(pattern, dest, &guard)
                };
                added += usize::from(new);
            }
        }
        Ok(added)
    }

    /// Binds a checked wildcard pattern; the caller holds the trie's writer lock.
    fn bind_wild(&self, pattern: &str, dest: D, guard: &Guard) -> bool {
        let mut node = &self.root;
        for word in words(pattern) {
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
                        None => node.children.insert(h, word.as_bytes(), Node::new(), guard),
                    }
                }
            };
        }
        let Some(list) = with_dest(node.dests.load(guard), dest) else {
            return false;
        };
        node.dests.publish(list, guard);
        self.wild_len.fetch_add(1, Relaxed);
        true
    }

    /// Removes the binding of `pattern` to `dest`; returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) if `pattern` is over 255 bytes.
    pub fn unbind(&self, pattern: &str, dest: D) -> Result<bool, Error> {
        check_len(pattern, Input::Pattern)?;
        if is_literal(pattern) {
            return self.exact.unbind(pattern, dest);
        }
        let _w = lock(&self.writer);
        let guard = &pin();
        // The path from the root, each node with the edge it hangs from.
        let mut path: SmallVec<[(&Node<D>, Edge<'_>); 16]> = SmallVec::new();
        let mut node = &self.root;
        for word in words(pattern) {
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
        let Some(list) = without_dest(node.dests.load(guard), dest) else {
            return Ok(false);
        };
        node.dests
            .replace(if list.is_empty() { None } else { Some(list) }, guard);
        self.wild_len.fetch_sub(1, Relaxed);
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
                    parent.children.remove(h, word.as_bytes(), guard);
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
        let guard = &pin();
        self.exact.route_pinned(key, out, guard);
        let mut stats = RouteStats::default();
        if self.wild_len.load(Relaxed) == 0 {
            return Ok(stats);
        }
        // Built in place (`collect` would move the inline buffer out of a call).
        let mut words: SmallVec<[&[u8]; WORDS_INLINE]> = SmallVec::new();
        for w in self::words(key) {
            words.push(w.as_bytes());
        }
        let n = words.len();
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
                    out.extend_from_slice(dests);
                }
            } else {
                if node.children.len() != 0 {
                    let h = match hashes.get_mut(i) {
                        Some(h) if *h != 0 => *h,
                        Some(h) => {
                            *h = self.hasher.hash(words[i]);
                            *h
                        }
                        None => self.hasher.hash(words[i]),
                    };
                    next = node.children.get(h, words[i], guard).map(|c| (c, i + 1));
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
        self.exact.len() + self.wild_len.load(Relaxed)
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
