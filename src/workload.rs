//! The shared benchmark workload: deterministic topic bindings and routing keys.
//!
//! A faithful port of `gen_workload.py` (the NATS Sublist anchor's generator, whose docstring is
//! the specification): for the same seed, binding count and key count, [`generate`] returns the
//! same lines and [`file_bytes`] the same file bytes, byte for byte, so `warren bench match`, the
//! criterion benches and the anchor harness all measure one workload.
//!
//! # The scheme
//!
//! * PRNG: [`SplitMix64`]; `below(n) = (next() * n) >> 64` on the 128-bit product, no rejection;
//!   a word is `w0`..`w999` (`"w"` + `below(1000)`).
//! * Bindings, drawn from `SplitMix64(seed)`: 60% literal (3–6 words), 25% with one `*` at a
//!   random position (3–6 words), 15% a prefix of 1–3 words then `#`. Line `i` is the same for
//!   every N (prefix property), and duplicate lines are kept: each line is its own destination.
//! * Keys, drawn from `SplitMix64(seed ^ 0xD1B54A32D192ED03)`: a coin picks "derived from a
//!   random binding" (wildcards filled in, at least one word after a `#` prefix) or "random 3–6
//!   words"; a key already emitted is redrawn in the same branch, so all keys are distinct. At
//!   most `100 * K` draws: beyond that [`generate`] returns an error where the script exits.
//!
//! # Files
//!
//! A workload file is its lines joined by `"\n"` plus a trailing `"\n"` ([`file_bytes`]). The
//! reader ([`read_line`], [`parse_lines`], [`read_file`]) splits on `\n` only and trims nothing:
//! `\r` and spaces are data, a trailing newline ends the last line, and a last line without one
//! still counts.
//!
//! # Reference totals
//!
//! [`reference_destinations`] gives the AMQP reference count of destinations found when every
//! key of the seed-42, 100,000-key workload is routed once (computed independently by the
//! anchor's `refcount.py`); a matcher that finds another total is wrong.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::Path;

/// The seed of the published workload (`--seed 42`).
pub const DEFAULT_SEED: u64 = 42;

/// The number of routing keys in the published workload (`--keys 100000`).
pub const DEFAULT_KEYS: usize = 100_000;

/// The key stream's seed is the binding seed XOR this constant.
const KEY_SEED_XOR: u64 = 0xD1B5_4A32_D192_ED03;

/// Words are `w0` .. `w{VOCABULARY - 1}`.
const VOCABULARY: u64 = 1000;

/// A generator gives up after `DRAW_LIMIT * K` key draws.
const DRAW_LIMIT: usize = 100;

/// (N, destinations) for the seed-42 workload with [`DEFAULT_KEYS`] keys.
const REFERENCE_DESTINATIONS: [(usize, u64); 4] = [
    (1_000, 55_868),
    (10_000, 97_465),
    (100_000, 537_104),
    (1_000_000, 5_061_412),
];

/// The total number of destinations found by routing every key of the seed-42,
/// [`DEFAULT_KEYS`]-key workload once against its `n` bindings (each line its own destination,
/// `#` matching zero or more words), where the reference is known: N = 1,000, 10,000, 100,000
/// and 1,000,000.
///
/// ```
/// assert_eq!(warren::workload::reference_destinations(1_000), Some(55_868));
/// assert_eq!(warren::workload::reference_destinations(1_234), None);
/// ```
pub fn reference_destinations(n: usize) -> Option<u64> {
    REFERENCE_DESTINATIONS
        .iter()
        .find(|&&(rn, _)| rn == n)
        .map(|&(_, total)| total)
}

/// The SplitMix64 pseudo-random generator (Steele, Lea and Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014), as `gen_workload.py` specifies it.
///
/// ```
/// let mut r = warren::workload::SplitMix64::new(0);
/// assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
/// ```
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose state starts at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (0 when `n` is 0): the high 64 bits of the 128-bit product
    /// `next() * n`, without rejection, exactly as the script computes it.
    pub fn below(&mut self, n: u64) -> u64 {
        let product = u128::from(self.next_u64()) * u128::from(n);
        // The high half of a 128-bit product of two u64s fits in a u64.
        u64::try_from(product >> 64).expect("high half of a u64 product fits in u64")
    }

    /// As [`below`](Self::below) for a length or index.
    fn below_usize(&mut self, n: usize) -> usize {
        // usize is at most 64 bits on every platform Rust supports, and the result is < n.
        let n = u64::try_from(n).expect("usize fits in u64");
        usize::try_from(self.below(n)).expect("a value below a usize fits in usize")
    }

    /// Draws one vocabulary word, `w0` .. `w999`, and appends it to `out`.
    fn push_word(&mut self, out: &mut String) {
        let w = self.below(VOCABULARY);
        push_numbered_word(out, w);
    }

    /// A length of 3 to 6 words (`3 + below(4)`).
    fn length_3_to_6(&mut self) -> usize {
        3 + self.below_usize(4)
    }
}

/// Appends the word `w{n}` to `out`.
fn push_numbered_word(out: &mut String, n: u64) {
    use fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "w{n}");
}

/// An error from generating or reading a workload.
#[derive(Debug)]
pub struct WorkloadError {
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    /// More than 100 * K key draws were needed to find K distinct keys.
    TooManyDraws { keys: usize },
    /// Derived keys need at least one binding.
    NoBindings,
    /// A line of a workload file (named when known) is not UTF-8.
    InvalidUtf8 {
        path: Option<String>,
        line: usize,
        valid_up_to: usize,
    },
    /// Reading or writing a workload (the named file, when known) failed.
    Io {
        action: &'static str,
        path: Option<String>,
        source: io::Error,
    },
}

impl WorkloadError {
    /// `action` ("reading", "writing") failed on `path` (or on an unnamed input).
    fn io(action: &'static str, path: Option<&Path>, source: io::Error) -> Self {
        let path = path.map(|p| p.display().to_string());
        WorkloadError {
            kind: ErrorKind::Io {
                action,
                path,
                source,
            },
        }
    }
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::TooManyDraws { keys } => write!(
                f,
                "could not draw {keys} distinct keys within {DRAW_LIMIT} draws per key"
            ),
            ErrorKind::NoBindings => {
                f.write_str("cannot derive keys from zero bindings: need at least one binding")
            }
            ErrorKind::InvalidUtf8 {
                path,
                line,
                valid_up_to,
            } => {
                if let Some(path) = path {
                    write!(f, "{path}: ")?;
                }
                write!(
                    f,
                    "line {line} is not valid UTF-8: invalid byte at offset {valid_up_to}"
                )
            }
            ErrorKind::Io {
                action,
                path: Some(path),
                source,
            } => {
                write!(f, "{action} {path}: {source}")
            }
            ErrorKind::Io {
                action,
                path: None,
                source,
            } => write!(f, "{action} workload: {source}"),
        }
    }
}

impl std::error::Error for WorkloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A generated workload: the binding patterns (line `i` bound to destination `i`) and the
/// routing keys, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The binding patterns, AMQP syntax, duplicates kept.
    pub bindings: Vec<String>,
    /// The routing keys, all distinct.
    pub keys: Vec<String>,
}

/// Generates the workload of `n` bindings and `keys` routing keys for `seed`, as
/// `gen_workload.py --n N --seed SEED --keys K` does.
///
/// # Errors
///
/// When `keys > 0` and `n == 0` (keys are partly derived from bindings), or when `keys`
/// distinct keys cannot be drawn within `100 * keys` draws (the script exits there).
///
/// ```
/// let w = warren::workload::generate(42, 10, 5)?;
/// assert_eq!((w.bindings.len(), w.keys.len()), (10, 5));
/// # Ok::<(), warren::workload::WorkloadError>(())
/// ```
pub fn generate(seed: u64, n: usize, keys: usize) -> Result<Workload, WorkloadError> {
    let bindings = generate_bindings(seed, n);
    let keys = generate_keys(seed, &bindings, keys)?;
    Ok(Workload { bindings, keys })
}

/// The first `n` binding patterns for `seed` (the script's `gen_bindings`). Line `i` does not
/// depend on `n`.
pub fn generate_bindings(seed: u64, n: usize) -> Vec<String> {
    let mut r = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(n);
    // Word numbers of a star pattern, before the `*` is placed (at most 6).
    let mut words: Vec<u64> = Vec::with_capacity(6);
    for _ in 0..n {
        let kind = r.below(100);
        let mut line = String::with_capacity(24);
        if kind < 60 {
            // Literal: L = 3 + below(4); L words.
            let len = r.length_3_to_6();
            for i in 0..len {
                if i > 0 {
                    line.push('.');
                }
                r.push_word(&mut line);
            }
        } else if kind < 85 {
            // Star: L words, then word below(L) becomes `*` (drawn after the words).
            let len = r.length_3_to_6();
            words.clear();
            words.extend((0..len).map(|_| r.below(VOCABULARY)));
            let star = r.below_usize(len);
            for (i, w) in words.iter().enumerate() {
                if i > 0 {
                    line.push('.');
                }
                if i == star {
                    line.push('*');
                } else {
                    push_numbered_word(&mut line, *w);
                }
            }
        } else {
            // Hash: k = 1 + below(3) words, then `#`.
            let k = 1 + r.below_usize(3);
            for _ in 0..k {
                r.push_word(&mut line);
                line.push('.');
            }
            line.push('#');
        }
        out.push(line);
    }
    out
}

/// `keys` distinct routing keys for `seed` over `bindings` (the script's `gen_keys`).
///
/// # Errors
///
/// As [`generate`].
pub fn generate_keys<S: AsRef<str>>(
    seed: u64,
    bindings: &[S],
    keys: usize,
) -> Result<Vec<String>, WorkloadError> {
    let mut r = SplitMix64::new(seed ^ KEY_SEED_XOR);
    let mut seen: ahash::HashSet<String> = ahash::HashSet::default();
    seen.reserve(keys);
    let mut out = Vec::with_capacity(keys);
    let limit = keys.saturating_mul(DRAW_LIMIT);
    let mut draws: usize = 0;
    while out.len() < keys {
        let derived = r.below(2) == 0;
        let key = loop {
            draws += 1;
            if draws > limit {
                return Err(WorkloadError {
                    kind: ErrorKind::TooManyDraws { keys },
                });
            }
            let key = if derived {
                if bindings.is_empty() {
                    return Err(WorkloadError {
                        kind: ErrorKind::NoBindings,
                    });
                }
                let i = r.below_usize(bindings.len());
                derive_key(&mut r, bindings[i].as_ref())
            } else {
                let len = r.length_3_to_6();
                let mut key = String::with_capacity(24);
                for i in 0..len {
                    if i > 0 {
                        key.push('.');
                    }
                    r.push_word(&mut key);
                }
                key
            };
            if !seen.contains(&key) {
                break key;
            }
        };
        seen.insert(key.clone());
        out.push(key);
    }
    Ok(out)
}

/// A key derived from `binding`: a `#` pattern keeps its prefix and gets words up to a length
/// of 3–6 (at least one after the prefix); otherwise each `*` becomes a word.
fn derive_key(r: &mut SplitMix64, binding: &str) -> String {
    let mut key = String::with_capacity(binding.len() + 8);
    // The script splits with Python's `str.split(".")`, which is `str::split('.')`: "" is one
    // empty word here, unlike a topic key.
    if let Some(prefix) = binding
        .strip_suffix('#')
        .filter(|p| p.is_empty() || p.ends_with('.'))
    {
        let prefix_len = if prefix.is_empty() {
            0
        } else {
            prefix.split('.').count() - 1
        };
        let mut len = r.length_3_to_6();
        if len <= prefix_len {
            len = prefix_len + 1;
        }
        key.push_str(prefix);
        for i in 0..len - prefix_len {
            if i > 0 {
                key.push('.');
            }
            r.push_word(&mut key);
        }
    } else {
        for (i, w) in binding.split('.').enumerate() {
            if i > 0 {
                key.push('.');
            }
            if w == "*" {
                r.push_word(&mut key);
            } else {
                key.push_str(w);
            }
        }
    }
    key
}

/// The exact bytes of a workload file: the lines joined by `"\n"`, plus a trailing `"\n"`
/// (so zero lines give `"\n"`, as the script writes them).
pub fn file_bytes<S: AsRef<str>>(lines: &[S]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.as_ref().len() + 1).sum::<usize>());
    // Writing to a Vec cannot fail.
    let _ = write_lines(&mut out, lines);
    if lines.is_empty() {
        out.push(b'\n');
    }
    out
}

/// Writes `lines` to `w`, each followed by `"\n"`; for at least one line these are the bytes
/// of [`file_bytes`].
///
/// # Errors
///
/// Any error of `w`.
pub fn write_lines<W: Write, S: AsRef<str>>(w: &mut W, lines: &[S]) -> io::Result<()> {
    for line in lines {
        w.write_all(line.as_ref().as_bytes())?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes `lines` to the file at `path` as [`file_bytes`] gives them, replacing it.
///
/// # Errors
///
/// Any I/O error, naming the path.
pub fn write_file<S: AsRef<str>>(path: &Path, lines: &[S]) -> Result<(), WorkloadError> {
    std::fs::write(path, file_bytes(lines)).map_err(|e| WorkloadError::io("writing", Some(path), e))
}

/// Reads the next line of `reader` into `buf` (cleared first), without its `\n`; returns
/// whether there was a line. Only `\n` ends a line: `\r` and every other byte are kept, and a
/// last line without a newline is still a line (`"a\nb"` and `"a\nb\n"` are both `a`, `b`;
/// `""` has no lines and `"\n"` one empty line).
///
/// ```
/// let mut input: &[u8] = b"a\r\n\nb";
/// let mut buf = Vec::new();
/// let mut lines = Vec::new();
/// while warren::workload::read_line(&mut input, &mut buf)? {
///     lines.push(buf.clone());
/// }
/// assert_eq!(lines, [b"a\r".to_vec(), b"".to_vec(), b"b".to_vec()]);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// Any error of `reader`.
pub fn read_line<R: BufRead + ?Sized>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    if reader.read_until(b'\n', buf)? == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(true)
}

/// The lines of a workload file's bytes, split as [`read_line`] does.
///
/// # Errors
///
/// A line that is not UTF-8, naming its 1-based number and the offset of the bad byte.
pub fn parse_lines(bytes: &[u8]) -> Result<Vec<String>, WorkloadError> {
    let mut reader = bytes;
    read_lines(&mut reader, None)
}

/// The lines of the workload file at `path`, split as [`read_line`] does.
///
/// # Errors
///
/// An I/O error or a line that is not UTF-8 (see [`parse_lines`]), naming the path.
pub fn read_file(path: &Path) -> Result<Vec<String>, WorkloadError> {
    let file =
        std::fs::File::open(path).map_err(|e| WorkloadError::io("reading", Some(path), e))?;
    let mut reader = io::BufReader::with_capacity(1 << 16, file);
    read_lines(&mut reader, Some(path))
}

/// Every line of `reader` as a `String`; errors name `path`, when given.
fn read_lines<R: BufRead>(
    reader: &mut R,
    path: Option<&Path>,
) -> Result<Vec<String>, WorkloadError> {
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    while read_line(reader, &mut buf).map_err(|e| WorkloadError::io("reading", path, e))? {
        let line = String::from_utf8(std::mem::take(&mut buf)).map_err(|e| WorkloadError {
            kind: ErrorKind::InvalidUtf8 {
                path: path.map(|p| p.display().to_string()),
                line: lines.len() + 1,
                valid_up_to: e.utf8_error().valid_up_to(),
            },
        })?;
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_outputs() {
        // From the script's own arithmetic (Python big integers masked to 64 bits).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        let mut r = SplitMix64::new(42);
        assert_eq!(r.next_u64(), 13_679_457_532_755_275_413);
        assert_eq!(r.next_u64(), 2_949_826_092_126_892_291);
    }

    #[test]
    fn below_is_the_high_half_of_the_product() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for n in [1u64, 2, 3, 1000, u64::MAX] {
            let x = b.next_u64();
            let want = u64::try_from((u128::from(x) * u128::from(n)) >> 64).unwrap();
            assert_eq!(a.below(n), want);
            assert!(want < n);
        }
        assert_eq!(SplitMix64::new(1).below(0), 0);
    }
}
