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
mod lfmap;
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

/// The index of the first `.` in `bytes`, eight bytes at a time.
#[inline]
fn find_dot(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const DOTS: u64 = u64::from_ne_bytes([b'.'; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // A byte of `x` is zero where the chunk has a dot; the classic zero-byte test marks the
        // lowest such byte exactly (bytes above it may be marked falsely, which `trailing_zeros`
        // on a little-endian load never reaches).
        let x = u64::from_le_bytes(word) ^ DOTS;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
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
