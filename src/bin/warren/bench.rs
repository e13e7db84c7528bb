//! `warren bench match`: bind a workload into a [`TopicTrie`] and route its keys, measuring.
//!
//! What is measured, and how:
//!
//! * **bind**: line `i` of the bindings is bound to destination `i` (a `u32`; duplicate lines
//!   stay separate destinations), one [`TopicTrie::bind`] call at a time, each timed with
//!   [`Instant`]; the median and the mean (total / N) are reported. The timer's own cost (tens
//!   of nanoseconds) is inside every sample.
//! * **heap**: the counting global allocator's current bytes after building the trie minus
//!   before it (binding strings and the sample buffer are allocated before the first reading),
//!   divided by N. Garbage the epoch collector has not freed yet counts: it is heap the
//!   process holds.
//! * **match_ns_distinct**: every key routed once into one reused [`DestSet`] (cleared per
//!   key), total time / keys; `destinations_distinct` is the sum of the set sizes over that pass.
//! * **match_ns_hot**: the first 100 keys cycled 1,000 times, total time / routes.
//! * Both routing passes run `--repeat` times (default 3); the median pass is reported.
//! * **peak_rss_kib**: `VmHWM` of `/proc/self/status` (absent elsewhere than Linux).
//!
//! Figures are printed with one decimal, computed in integers (no float conversions).

use crate::{alloc, note, BenchMatchArgs, CliError};
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::time::Instant;
use warren::topic::{check_len, DestSet, TopicTrie};
use warren::workload;
use warren::Input;

/// Extra help for `warren bench match`.
pub(crate) const AFTER_HELP: &str = "\
Examples:
  warren bench match --n 100000
  warren bench match --bindings workload/n1000/bindings.txt --keys workload/n1000/keys.txt --json

Measures: median and mean ns per bind (one bind at a time), ns per route over every key once
(match_ns_distinct) and over the first 100 keys cycled 1,000 times (match_ns_hot), the
destinations found in one distinct pass, heap bytes per binding (counting allocator) and peak
RSS. For the seed-42 workload with 100,000 keys, a destinations total other than the AMQP
reference (55,868 / 97,465 / 537,104 / 5,061,412 at N = 1k / 10k / 100k / 1M) prints a
warning on stderr.";

/// From this many bindings on, progress lines go to stderr.
const LONG_RUN: usize = 100_000;

/// The hot stream: the first `HOT_KEYS` keys, cycled `HOT_ROUNDS` times.
const HOT_KEYS: usize = 100;
const HOT_ROUNDS: usize = 1_000;

/// A quantity in tenths, printed with one decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tenths(i128);

impl Tenths {
    /// `num / den`, rounded to the nearest tenth (halves away from zero); 0 when `den` is 0.
    fn ratio(num: i128, den: i128) -> Tenths {
        if den == 0 {
            return Tenths(0);
        }
        let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
        let scaled = num.abs() * 10;
        let rounded = (scaled + den / 2) / den;
        Tenths(if num < 0 { -rounded } else { rounded })
    }

    /// The median of `values` (the mean of the middle two for an even count); sorts them.
    fn median(values: &mut [Tenths]) -> Tenths {
        values.sort_unstable();
        let mid = values.len() / 2;
        match values.len() {
            0 => Tenths(0),
            len if len % 2 == 1 => values[mid],
            _ => Tenths::ratio(values[mid - 1].0 + values[mid].0, 20),
        }
    }
}

impl fmt::Display for Tenths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        f.pad(&format!("{sign}{}.{}", abs / 10, abs % 10))
    }
}

/// Converts a count to `i128` for the integer arithmetic of [`Tenths`].
fn wide(x: usize) -> i128 {
    // usize is at most 64 bits on every platform Rust supports.
    i128::try_from(x).unwrap_or(i128::MAX)
}

/// Elapsed nanoseconds as `i128`.
fn nanos(since: Instant) -> i128 {
    i128::try_from(since.elapsed().as_nanos()).unwrap_or(i128::MAX)
}

/// Everything one run measured.
struct Report {
    bindings: usize,
    keys: usize,
    /// The generator's seed, or `None` for files.
    seed: Option<u64>,
    repeat: u32,
    bind_ns_median: Tenths,
    bind_ns_mean: Tenths,
    bind_total_ns: i128,
    match_ns_distinct: Tenths,
    match_ns_hot: Tenths,
    hot_keys: usize,
    destinations_distinct: usize,
    /// The seed-42 reference total, when this run's shape has one.
    reference: Option<u64>,
    heap_bytes: i128,
    bytes_per_binding: Tenths,
    peak_rss_kib: Option<u64>,
}

/// Runs `warren bench match`.
///
/// # Errors
///
/// Unreadable or invalid workload files (naming the line), a failed write, or a workload too
/// large for `u32` destinations.
pub(crate) fn run(args: &BenchMatchArgs) -> Result<(), CliError> {
    let Loaded {
        bindings,
        keys,
        seed,
    } = load(args)?;
    let long = bindings.len() >= LONG_RUN;
    if bindings.is_empty() {
        return Err(CliError::new(
            "the bindings file has no lines: nothing to bind",
        ));
    }
    if keys.is_empty() {
        return Err(CliError::new(
            "the keys file has no lines: nothing to route",
        ));
    }
    if u32::try_from(bindings.len() - 1).is_err() {
        return Err(CliError::new(format!(
            "{} bindings: destinations are u32, at most {} bindings",
            bindings.len(),
            u64::from(u32::MAX) + 1
        )));
    }
    for (i, key) in keys.iter().enumerate() {
        check_len(key, Input::RoutingKey)
            .map_err(|e| CliError::new(format!("keys line {}: {e}", i + 1)))?;
    }

    // --- bind, one at a time ---
    if long {
        note(format_args!("binding {} patterns...", bindings.len()));
    }
    let mut samples: Vec<i128> = Vec::with_capacity(bindings.len());
    let heap_before = alloc::current_bytes();
    let trie: TopicTrie<u32> = TopicTrie::new();
    for (dest, pattern) in (0u32..).zip(&bindings) {
        let start = Instant::now();
        let bound = trie.bind(pattern, dest);
        let ns = nanos(start);
        bound.map_err(|e| CliError::new(format!("bindings line {}: {e}", u64::from(dest) + 1)))?;
        samples.push(ns);
    }
    let heap_after = alloc::current_bytes();
    let heap_bytes = wide(heap_after) - wide(heap_before);
    let bind_total_ns: i128 = samples.iter().sum();
    let n = wide(bindings.len());
    let bind_ns_median = {
        samples.sort_unstable();
        let mid = samples.len() / 2;
        if samples.len() % 2 == 1 {
            Tenths::ratio(samples[mid], 1)
        } else {
            Tenths::ratio(samples[mid - 1] + samples[mid], 2)
        }
    };

    // --- route ---
    let hot = &keys[..keys.len().min(HOT_KEYS)];
    if long {
        note(format_args!(
            "routing {} distinct keys and {} hot keys x {HOT_ROUNDS}, {} pass{}...",
            keys.len(),
            hot.len(),
            args.repeat,
            if args.repeat == 1 { "" } else { "es" }
        ));
    }
    let mut out = DestSet::new();
    let mut distinct_runs = Vec::new();
    let mut hot_runs = Vec::new();
    let mut destinations: Option<usize> = None;
    for _ in 0..args.repeat {
        let (ns, found) = distinct_pass(&trie, &keys, &mut out)?;
        distinct_runs.push(Tenths::ratio(ns, wide(keys.len())));
        match destinations {
            None => destinations = Some(found),
            Some(first) if first != found => note(format_args!(
                "warning: routing passes disagree: {first} then {found} destinations"
            )),
            Some(_) => {}
        }
        let ns = hot_pass(&trie, hot, &mut out)?;
        hot_runs.push(Tenths::ratio(ns, wide(hot.len() * HOT_ROUNDS)));
    }
    let destinations_distinct = destinations.unwrap_or(0);

    let reference = workload::reference_destinations(bindings.len())
        .filter(|_| keys.len() == workload::DEFAULT_KEYS)
        .filter(|_| !matches!(seed, Some(s) if s != workload::DEFAULT_SEED));
    if let Some(expected) = reference {
        let found = u64::try_from(destinations_distinct).unwrap_or(u64::MAX);
        if found != expected {
            let which = if seed.is_some() {
                "the matcher is wrong"
            } else {
                "if these files are that workload, the matcher is wrong"
            };
            note(format_args!(
                "warning: destinations_distinct is {found}, but the AMQP reference for the \
                 seed-42 workload with N = {} and {} keys is {expected}: {which}",
                bindings.len(),
                keys.len()
            ));
        }
    }

    let report = Report {
        bindings: bindings.len(),
        keys: keys.len(),
        seed,
        repeat: args.repeat,
        bind_ns_median,
        bind_ns_mean: Tenths::ratio(bind_total_ns, n),
        bind_total_ns,
        match_ns_distinct: Tenths::median(&mut distinct_runs),
        match_ns_hot: Tenths::median(&mut hot_runs),
        hot_keys: hot.len(),
        destinations_distinct,
        reference,
        heap_bytes,
        bytes_per_binding: Tenths::ratio(heap_bytes, n),
        peak_rss_kib: peak_rss_kib(),
    };
    // The trie and the strings stay alive until here, so the heap reading above saw them.
    drop(trie);

    let mut stdout = BufWriter::new(io::stdout().lock());
    if args.json {
        write_json(&mut stdout, &report)?;
    } else {
        write_table(&mut stdout, &report)?;
    }
    stdout.flush()?;
    Ok(())
}

/// A workload to measure.
struct Loaded {
    bindings: Vec<String>,
    keys: Vec<String>,
    /// The generator's seed, or `None` for files.
    seed: Option<u64>,
}

/// Generates the workload or reads its files.
fn load(args: &BenchMatchArgs) -> Result<Loaded, CliError> {
    if let Some(n) = args.n {
        let too_big = |what: &str| CliError::new(format!("{what} is too large for this platform"));
        let n = usize::try_from(n).map_err(|_| too_big("--n"))?;
        let k = usize::try_from(args.keys_count).map_err(|_| too_big("--keys-count"))?;
        if n >= LONG_RUN {
            note(format_args!(
                "generating the workload: {n} bindings, {k} keys, seed {}...",
                args.seed
            ));
        }
        let w = workload::generate(args.seed, n, k)?;
        return Ok(Loaded {
            bindings: w.bindings,
            keys: w.keys,
            seed: Some(args.seed),
        });
    }
    match (&args.bindings, &args.keys) {
        (Some(bindings), Some(keys)) => {
            let bindings = workload::read_file(bindings)?;
            let keys = workload::read_file(keys)?;
            Ok(Loaded {
                bindings,
                keys,
                seed: None,
            })
        }
        // clap requires --n, or --bindings with --keys.
        _ => Err(CliError::new(
            "give --n N, or --bindings FILE and --keys FILE",
        )),
    }
}

/// Routes every key once; returns the elapsed nanoseconds and the destinations found.
fn distinct_pass(
    trie: &TopicTrie<u32>,
    keys: &[String],
    out: &mut DestSet<u32>,
) -> Result<(i128, usize), CliError> {
    let mut found = 0usize;
    let start = Instant::now();
    for key in keys {
        out.clear();
        trie.route(key, out)?;
        found += out.len();
    }
    let ns = nanos(start);
    Ok((ns, std::hint::black_box(found)))
}

/// Routes `hot` [`HOT_ROUNDS`] times; returns the elapsed nanoseconds.
fn hot_pass(
    trie: &TopicTrie<u32>,
    hot: &[String],
    out: &mut DestSet<u32>,
) -> Result<i128, CliError> {
    let mut found = 0usize;
    let start = Instant::now();
    for _ in 0..HOT_ROUNDS {
        for key in hot {
            out.clear();
            trie.route(key, out)?;
            found += out.len();
        }
    }
    let ns = nanos(start);
    std::hint::black_box(found);
    Ok(ns)
}

/// The peak resident set size in KiB (`VmHWM`), where `/proc/self/status` has it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// One JSON object on one line, numbers only (`null` for an unavailable peak RSS).
fn write_json(out: &mut impl Write, r: &Report) -> io::Result<()> {
    write!(out, "{{\"bindings\":{},\"keys\":{}", r.bindings, r.keys)?;
    if let Some(seed) = r.seed {
        write!(out, ",\"seed\":{seed}")?;
    }
    write!(out, ",\"repeat\":{}", r.repeat)?;
    write!(
        out,
        ",\"bind_ns\":{},\"bind_ns_mean\":{}",
        r.bind_ns_median, r.bind_ns_mean
    )?;
    write!(out, ",\"bind_total_ns\":{}", r.bind_total_ns)?;
    write!(out, ",\"match_ns_distinct\":{}", r.match_ns_distinct)?;
    write!(
        out,
        ",\"match_ns_hot\":{},\"hot_keys\":{}",
        r.match_ns_hot, r.hot_keys
    )?;
    write!(out, ",\"hot_rounds\":{HOT_ROUNDS}")?;
    write!(
        out,
        ",\"destinations_distinct\":{}",
        r.destinations_distinct
    )?;
    match r.reference {
        Some(reference) => write!(out, ",\"destinations_reference\":{reference}")?,
        None => write!(out, ",\"destinations_reference\":null")?,
    }
    write!(
        out,
        ",\"heap_bytes\":{},\"bytes_per_binding\":{}",
        r.heap_bytes, r.bytes_per_binding
    )?;
    match r.peak_rss_kib {
        Some(kib) => writeln!(out, ",\"peak_rss_kib\":{kib}}}"),
        None => writeln!(out, ",\"peak_rss_kib\":null}}"),
    }
}

/// A human-readable table.
fn write_table(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let source = match r.seed {
        Some(seed) => format!("generated, seed {seed}"),
        None => "from files".to_owned(),
    };
    writeln!(
        out,
        "warren bench match: {} bindings ({source}), {} keys, median of {} passes",
        r.bindings, r.keys, r.repeat
    )?;
    let check = match r.reference {
        Some(reference) if u64::try_from(r.destinations_distinct).ok() == Some(reference) => {
            format!("= seed-42 reference {reference}")
        }
        Some(reference) => format!("!= seed-42 reference {reference}"),
        None => "one distinct pass".to_owned(),
    };
    let rows: [(&str, String, String); 8] = [
        (
            "bind_ns (median)",
            r.bind_ns_median.to_string(),
            "one bind at a time".into(),
        ),
        (
            "bind_ns_mean",
            r.bind_ns_mean.to_string(),
            format!("{} ns total", r.bind_total_ns),
        ),
        (
            "match_ns_distinct",
            r.match_ns_distinct.to_string(),
            "every key once".into(),
        ),
        (
            "match_ns_hot",
            r.match_ns_hot.to_string(),
            format!("first {} keys x {HOT_ROUNDS}", r.hot_keys),
        ),
        (
            "destinations_distinct",
            r.destinations_distinct.to_string(),
            check,
        ),
        (
            "heap_bytes",
            r.heap_bytes.to_string(),
            "after building - before".into(),
        ),
        (
            "bytes_per_binding",
            r.bytes_per_binding.to_string(),
            "heap_bytes / bindings".into(),
        ),
        (
            "peak_rss_kib",
            r.peak_rss_kib
                .map_or_else(|| "n/a".to_owned(), |k| k.to_string()),
            "VmHWM".into(),
        ),
    ];
    writeln!(out, "{:<24}{:>14}  note", "metric", "value")?;
    for (name, value, comment) in rows {
        writeln!(out, "{name:<24}{value:>14}  {comment}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Tenths;

    #[test]
    fn tenths_round_and_print() {
        assert_eq!(Tenths::ratio(10, 4).to_string(), "2.5");
        assert_eq!(Tenths::ratio(1, 3).to_string(), "0.3");
        assert_eq!(Tenths::ratio(2, 3).to_string(), "0.7");
        assert_eq!(Tenths::ratio(-2, 3).to_string(), "-0.7");
        assert_eq!(Tenths::ratio(5, 0).to_string(), "0.0");
        let mut v = [Tenths(30), Tenths(10), Tenths(20)];
        assert_eq!(Tenths::median(&mut v), Tenths(20));
        let mut v = [Tenths(30), Tenths(10), Tenths(20), Tenths(41)];
        assert_eq!(Tenths::median(&mut v).to_string(), "2.5");
    }
}
