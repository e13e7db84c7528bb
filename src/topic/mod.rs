//! Topic words and patterns, and the wildcard trie matcher.
//!
//! A routing key or binding pattern is split at every `.` into words, which may be empty
//! (`a..b` has three words, `a.` two); the empty string has zero words (SEMANTICS T1). In a
//! pattern, `*` matches exactly one word and `#` zero or more; any other word, `a*` or `a#`
//! included, matches only itself, byte for byte (SEMANTICS T2, T3, T4). Keys and patterns are
//! UTF-8 of at most [`MAX_LEN`] bytes (SEMANTICS N1).
//!
//! [`TopicTrie`] matches keys against a set of bound patterns; [`KeyTable`] is its exact-key
//! part on its own (the direct exchange). Both take no lock to route: see their
//! `# Memory ordering` sections.

mod dest_set;
mod key_table;
pub(crate) mod lfmap;
mod trie;

pub use dest_set::DestSet;
pub use key_table::KeyTable;
pub use trie::{RouteStats, TopicTrie};

use crate::error::{Error, Input};

/// The longest key, pattern or name, in bytes (SEMANTICS N1).
pub const MAX_LEN: usize = 255;

/// Checks that `s` is at most [`MAX_LEN`] bytes.
///
/// # Errors
///
/// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) naming `input` when it is longer.
pub fn check_len(s: &str, input: Input) -> Result<(), Error> {
    if s.len() > MAX_LEN {
        return Err(Error::too_long(input, s.len(), MAX_LEN));
    }
    Ok(())
}

/// Checks raw bytes (from C, or a file) as a key or pattern: UTF-8 and at most [`MAX_LEN`] bytes.
///
/// # Errors
///
/// [`ErrorKind::InvalidUtf8`](crate::ErrorKind::InvalidUtf8) with the offset of the first bad
/// byte, or [`ErrorKind::TooLong`](crate::ErrorKind::TooLong).
pub fn validate_bytes(bytes: &[u8], input: Input) -> Result<&str, Error> {
    let s = std::str::from_utf8(bytes).map_err(|e| Error::invalid_utf8(input, e.valid_up_to()))?;
    check_len(s, input)?;
    Ok(s)
}

/// The words of a key or pattern: `""` has none, otherwise every `.` separates two words.
///
/// This is the crate's one word splitter; routing uses it on every key, so it is a plain byte
/// loop rather than `str::split` (whose searcher costs more than the search on short keys).
///
/// ```
/// let w: Vec<&str> = warren::topic::words("a..b.").collect();
/// assert_eq!(w, ["a", "", "b", ""]);
/// assert_eq!(warren::topic::words("").count(), 0);
/// ```
pub fn words(s: &str) -> Words<'_> {
    Words {
        rest: if s.is_empty() { None } else { Some(s) },
    }
}

/// The iterator of [`words`].
#[derive(Clone, Debug)]
pub struct Words<'a> {
    /// What is left to split; `None` once the last word is out.
    rest: Option<&'a str>,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    #[inline(always)]
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match find_dot(rest.as_bytes()) {
            Some(dot) => {
                // `dot` indexes an ASCII byte, so both sides are on char boundaries.
                self.rest = Some(&rest[dot + 1..]);
                Some(&rest[..dot])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// The most words a key or pattern of [`MAX_LEN`] bytes can have (all dots: one more than
/// the dots).
pub(crate) const MAX_WORDS: usize = MAX_LEN + 1;

/// Bit 7 of each byte of the result is set exactly where `chunk` (eight bytes, little-endian)
/// holds a `.`, and every other bit is clear.
#[inline]
fn dot_mask(chunk: &[u8]) -> u64 {
    const LOWS: u64 = u64::from_ne_bytes([0x7f; 8]);
    const DOTS: u64 = u64::from_ne_bytes([b'.'; 8]);
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    // A byte of `x` is zero where the chunk has a dot. Adding 0x7f to the low seven bits of a
    // byte carries into bit 7 unless they are all zero, and never into the next byte; or-ing
    // in `x` sets bit 7 for the bytes whose own bit 7 is set: what stays clear is a zero byte.
    let x = u64::from_le_bytes(word) ^ DOTS;
    !(((x & LOWS) + LOWS) | x | LOWS)
}

/// The index of the first `.` in `bytes`, eight bytes at a time.
#[inline]
fn find_dot(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        let found = dot_mask(chunk);
        if found != 0 {
            return Some(base + usize::try_from(found.trailing_zeros() / 8).unwrap_or(0));
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'.')
        .map(|i| base + i)
}

/// Writes where each word of `key` starts into `starts` and returns the number of words (the
/// same words as [`words`]). Word `i` ends one byte before word `i + 1` starts, the last one at
/// the end of the key. `key` must be at most [`MAX_LEN`] bytes, so every start fits a byte.
#[inline]
pub(crate) fn word_starts(key: &[u8], starts: &mut [u8; MAX_WORDS]) -> usize {
    if key.is_empty() {
        return 0;
    }
    debug_assert!(key.len() <= MAX_LEN);
    let mut n = 1;
    let mut record = |dot: usize| {
        // `dot + 1 <= MAX_LEN`, one byte; `n < MAX_WORDS` as a key has fewer dots than bytes.
        starts[n] = u8::try_from(dot + 1).unwrap_or(u8::MAX);
        n += 1;
    };
    let mut chunks = key.chunks_exact(8);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        let mut found = dot_mask(chunk);
        while found != 0 {
            record(base + usize::try_from(found.trailing_zeros() / 8).unwrap_or(0));
            found &= found - 1;
        }
        base += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b'.' {
            record(base + i);
        }
    }
    n
}

/// Whether `pattern` matches `key` (SEMANTICS T4), through a fresh [`TopicTrie`].
///
/// # Errors
///
/// As [`TopicTrie::bind`] and [`TopicTrie::route`].
pub fn is_match(pattern: &str, key: &str) -> Result<bool, Error> {
    let trie = TopicTrie::new();
    trie.bind(pattern, ())?;
    let mut out = DestSet::new();
    trie.route(key, &mut out)?;
    Ok(!out.is_empty())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{find_dot, word_starts, words, MAX_LEN, MAX_WORDS};

    /// The routing splitter (`word_starts`, SWAR) finds the same words as `words` on every key
    /// over a small alphabet up to 11 bytes (every alignment of dots within and across eight-byte
    /// chunks) and on the longest keys.
    #[test]
    fn word_starts_agree_with_words() {
        let mut keys: Vec<String> = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..11 {
            let mut next = Vec::new();
            for k in &frontier {
                for c in ['a', '.', 'é'] {
                    next.push(format!("{k}{c}"));
                }
            }
            keys.extend(next.iter().cloned());
            frontier = next;
        }
        keys.push(".".repeat(MAX_LEN));
        keys.push("a".repeat(MAX_LEN));
        keys.push("ab.".repeat(MAX_LEN / 3));
        for key in &keys {
            if key.len() > MAX_LEN {
                continue;
            }
            let bytes = key.as_bytes();
            let mut starts = [0u8; MAX_WORDS];
            let n = word_starts(bytes, &mut starts);
            let got: Vec<&[u8]> = (0..n)
                .map(|i| {
                    let start = usize::from(starts[i]);
                    let end = if i + 1 < n {
                        usize::from(starts[i + 1]) - 1
                    } else {
                        bytes.len()
                    };
                    &bytes[start..end]
                })
                .collect();
            let want: Vec<&[u8]> = words(key).map(str::as_bytes).collect();
            assert_eq!(got, want, "key {key:?}");
            assert_eq!(find_dot(bytes), key.find('.'), "key {key:?}");
        }
    }
}
