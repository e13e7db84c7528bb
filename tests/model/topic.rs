//! Naive reference model of topic matching (SEMANTICS T), for tests, benches and fuzzing.
//!
//! This is deliberately the slowest correct thing: [`matches`] is the recursion of SEMANTICS T4
//! on word lists, word for word, and [`Bindings`] is a flat list of (pattern, destination)
//! pairs that tries every pattern on every route. It shares no code with `warren::topic`
//! (its own word splitter, its own matcher), so comparing the two can catch a bug in either.
//!
//! Limits: the recursion is exponential in the number of `#` words when a match fails late
//! (`#.a.#.a.#…` against a long key that does not match), so callers keep such cases small;
//! the length limit (SEMANTICS N1) is not modelled here, callers check it themselves.
//!
//! Included by the integration tests (`tests/integration/main.rs`), by `benches/topic.rs` and by
//! the fuzz targets through `#[path]`, so it needs nothing but `std`.

/// The words of a key or pattern (SEMANTICS T1): `""` is zero words, otherwise every `.`
/// separates two words, which may be empty.
pub(crate) fn split_words(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('.').collect()
    }
}

/// SEMANTICS T4, verbatim, on word lists:
///
/// - m([], []) = true; m([], K) = false if K ≠ []
/// - m(#:P, K) = m(P, K) or (K ≠ [] and m(#:P, tail K))
/// - m(w:P, []) = false if w ≠ #
/// - m(w:P, k:K) = (w = * or w = k) and m(P, K)
pub(crate) fn matches_words(pattern: &[&str], key: &[&str]) -> bool {
    match (pattern.split_first(), key.split_first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some((&"#", rest)), _) => {
            matches_words(rest, key) || (!key.is_empty() && matches_words(pattern, &key[1..]))
        }
        (Some(_), None) => false,
        (Some((&w, rest)), Some((&k, key_rest))) => {
            (w == "*" || w == k) && matches_words(rest, key_rest)
        }
    }
}

/// Whether `pattern` matches `key` (SEMANTICS T1, T4).
pub(crate) fn matches(pattern: &str, key: &str) -> bool {
    matches_words(&split_words(pattern), &split_words(key))
}

/// A naive binding set: a list of distinct (pattern, destination) pairs.
#[derive(Clone, Debug)]
pub(crate) struct Bindings<D> {
    pairs: Vec<(String, D)>,
}

impl<D: Copy + Ord> Default for Bindings<D> {
    fn default() -> Self {
        Bindings::new()
    }
}

impl<D: Copy + Ord> Bindings<D> {
    /// No bindings.
    pub(crate) fn new() -> Self {
        Bindings { pairs: Vec::new() }
    }

    /// Adds (pattern, dest); returns whether it was new (SEMANTICS E5: binding twice is a
    /// no-op).
    pub(crate) fn bind(&mut self, pattern: &str, dest: D) -> bool {
        if self.contains(pattern, dest) {
            return false;
        }
        self.pairs.push((pattern.to_owned(), dest));
        true
    }

    /// Removes (pattern, dest); returns whether it was there.
    pub(crate) fn unbind(&mut self, pattern: &str, dest: D) -> bool {
        match self
            .pairs
            .iter()
            .position(|(p, d)| p == pattern && *d == dest)
        {
            Some(i) => {
                self.pairs.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether (pattern, dest) is bound.
    pub(crate) fn contains(&self, pattern: &str, dest: D) -> bool {
        self.pairs.iter().any(|(p, d)| p == pattern && *d == dest)
    }

    /// The destinations of every pattern matching `key`, sorted, each once (SEMANTICS T2).
    pub(crate) fn route(&self, key: &str) -> Vec<D> {
        let key_words = split_words(key);
        let mut out: Vec<D> = self
            .pairs
            .iter()
            .filter(|(p, _)| matches_words(&split_words(p), &key_words))
            .map(|&(_, d)| d)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The number of bindings.
    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no bindings.
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The bindings, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, D)> + '_ {
        self.pairs.iter().map(|(p, d)| (p.as_str(), *d))
    }
}
