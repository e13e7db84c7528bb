//! Topic trie benchmarks on the seed-42 workload (`warren::workload`, the port of
//! `gen_workload.py`), with their baselines in the same run (STYLE 13).
//!
//! Groups, named by workload shape, for N = 1k, 10k, 100k bindings (1M with
//! `WARREN_BENCH_1M=1`); binding line `i` goes to destination `i`, keys are the 100,000-key
//! stream:
//!
//! - `match/distinct/N`: one route per iteration, walking the distinct-key stream in order;
//!   `match/hot/N`: the first 100 keys cycled. Baselines: `match/naive/N` (the reference model of
//!   `tests/model/topic.rs`, N ≤ 10k, over the first 1,000 keys) and `match/exact_map_floor/N`
//!   (a plain `AHashMap<String, Vec<u32>>` of the literal patterns, looked up with the same keys:
//!   the floor any matcher pays to hash the key and copy its destinations out), and
//!   `match/words_floor/N` (splitting the key at its dots and hashing each word once with the
//!   trie's hash: roughly what a matcher that looks a key up word by word pays before its first
//!   probe).
//! - `bind/N`, `unbind/N`: binding a fresh pattern into a trie of N (and unbinding it, untimed),
//!   and the reverse.
//! - `churn/with_writer/N`: routing the distinct stream on this thread while another thread
//!   binds and unbinds as fast as it can; `churn/quiet/N`: the same without the writer.
//! - `blowup/...`: 60 `#` words and `(#.a.)^63` patterns against 128-word keys (SEMANTICS T3),
//!   beside the naive model and a literal key of the same length.
//!
//! `WARREN_BENCH_TOPIC_PAIRS=1` first prints a paired report ([`topic_pairs`]): the route,
//! the exact-key floor, the words floor, the route under churn and the route beside a writer
//! churning a trie of its own (the control) timed in alternating passes, each ratio taken within
//! one round (`-- --test 'nothing^'` then skips the criterion cases).
//!
//! Setup checks the bench itself: one distinct pass must find the AMQP reference total of
//! destinations (`warren::workload::reference_destinations`), else the bench panics.
//!
//! `cargo bench --bench topic -- --test` runs every case once (setup included, about a second
//! in release).

use criterion::{BenchmarkId, Criterion, Throughput};
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use warren::topic::{DestSet, TopicTrie};
use warren::workload;

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/model/topic.rs"]
mod model;

/// Keys routed by the naive model: it tries every pattern on every key.
const NAIVE_KEYS: usize = 1_000;
/// The largest N the naive model is run at.
const NAIVE_MAX_N: usize = 10_000;
/// Keys cycled by `match/hot`.
const HOT_KEYS: usize = 100;
/// Fresh patterns (workload lines N..N+FRESH) for bind, unbind and churn.
const FRESH: usize = 1_024;
/// Bindings the churn writer keeps alive at once.
const CHURN_WINDOW: usize = 64;

/// One workload size, bound and checked.
struct Setup {
    n: usize,
    label: String,
    keys: Vec<String>,
    patterns: Vec<String>,
    /// Lines N..N+FRESH of the same workload: patterns not yet bound, with destinations N...
    fresh: Vec<String>,
    trie: TopicTrie<u32>,
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}m", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn dest(i: usize) -> u32 {
    u32::try_from(i).expect("destinations fit in u32")
}

impl Setup {
    fn new(n: usize) -> Setup {
        let mut all = workload::generate_bindings(workload::DEFAULT_SEED, n + FRESH);
        let fresh = all.split_off(n);
        let patterns = all;
        let keys =
            workload::generate_keys(workload::DEFAULT_SEED, &patterns, workload::DEFAULT_KEYS)
                .expect("the seed-42 workload generates");
        let trie = TopicTrie::new();
        let new = trie
            .bind_many(
                patterns
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.as_str(), dest(i))),
            )
            .expect("workload patterns are valid");
        assert_eq!(new, n, "every line is its own destination");
        let setup = Setup {
            n,
            label: label(n),
            keys,
            patterns,
            fresh,
            trie,
        };
        setup.check_reference_total();
        setup
    }

    /// One distinct pass must find the reference number of destinations.
    fn check_reference_total(&self) {
        let mut out = DestSet::new();
        let mut total = 0u64;
        for k in &self.keys {
            out.clear();
            self.trie
                .route(k, &mut out)
                .expect("workload keys are valid");
            total += u64::try_from(out.len()).expect("fits");
        }
        if let Some(reference) = workload::reference_destinations(self.n) {
            assert_eq!(
                total, reference,
                "destinations found in one distinct pass, N = {}",
                self.n
            );
        }
    }

    fn fresh_dest(&self, i: usize) -> u32 {
        dest(self.n + i % FRESH)
    }
}

fn sizes() -> Vec<usize> {
    let mut sizes = vec![1_000, 10_000, 100_000];
    if std::env::var_os("WARREN_BENCH_1M").is_some_and(|v| v == "1") {
        sizes.push(1_000_000);
    }
    sizes
}

/// Baseline: the exact-key floor. Literal patterns only: what a direct exchange does.
fn exact_map(s: &Setup) -> ahash::AHashMap<String, Vec<u32>> {
    let mut exact: ahash::AHashMap<String, Vec<u32>> = ahash::AHashMap::default();
    for (i, p) in s.patterns.iter().enumerate() {
        if !p.split('.').any(|w| w == "*" || w == "#") {
            exact.entry(p.clone()).or_default().push(dest(i));
        }
    }
    exact
}

/// Baseline: the words floor. Splits `key` at its dots and hashes each word once, as the trie's
/// `KeyHasher` does (ahash, keyed, over the bytes alone): roughly what a matcher that probes
/// hash tables word by word pays before its first probe. A yardstick, not a bound: the trie
/// skips the hash for a map holding one key, and hashes whole tails for its suffix tables.
fn hash_words(hasher: &ahash::RandomState, key: &str) -> u64 {
    key.as_bytes().split(|&b| b == b'.').fold(0, |acc, word| {
        let mut h = hasher.build_hasher();
        h.write(word);
        acc ^ h.finish()
    })
}

fn bench_match(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Elements(1));
    let mut out = DestSet::new();

    g.bench_function(BenchmarkId::new("distinct", &s.label), |b| {
        let mut i = 0;
        b.iter(|| {
            out.clear();
            s.trie.route(&s.keys[i], &mut out).expect("valid key");
            i = (i + 1) % s.keys.len();
            black_box(out.len())
        })
    });

    g.bench_function(BenchmarkId::new("hot", &s.label), |b| {
        let mut i = 0;
        b.iter(|| {
            out.clear();
            s.trie.route(&s.keys[i], &mut out).expect("valid key");
            i = (i + 1) % HOT_KEYS;
            black_box(out.len())
        })
    });

    let exact = exact_map(s);
    g.bench_function(BenchmarkId::new("exact_map_floor", &s.label), |b| {
        let mut i = 0;
        b.iter(|| {
            out.clear();
            if let Some(dests) = exact.get(s.keys[i].as_str()) {
                out.extend_from_slice(dests);
            }
            i = (i + 1) % s.keys.len();
            black_box(out.len())
        })
    });

    let hasher = ahash::RandomState::new();
    g.bench_function(BenchmarkId::new("words_floor", &s.label), |b| {
        let mut i = 0;
        b.iter(|| {
            let h = hash_words(&hasher, &s.keys[i]);
            i = (i + 1) % s.keys.len();
            black_box(h)
        })
    });

    // Baseline: the naive reference model, small N only.
    if s.n <= NAIVE_MAX_N {
        let mut naive = model::Bindings::new();
        for (i, p) in s.patterns.iter().enumerate() {
            naive.bind(p, dest(i));
        }
        g.bench_function(BenchmarkId::new("naive", &s.label), |b| {
            let mut i = 0;
            b.iter(|| {
                let found = naive.route(&s.keys[i]);
                i = (i + 1) % NAIVE_KEYS;
                black_box(found.len())
            })
        });
    }
    g.finish();
}

fn bench_bind(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("bind");
    g.throughput(Throughput::Elements(1));
    // Bind a fresh pattern (timed), unbind it later (untimed): the trie stays at N..N+FRESH.
    g.bench_function(BenchmarkId::from_parameter(&s.label), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let chunk = usize::try_from((iters - done).min(64)).expect("small");
                let start = Instant::now();
                for i in 0..chunk {
                    black_box(s.trie.bind(&s.fresh[i], s.fresh_dest(i)).expect("valid"));
                }
                total += start.elapsed();
                for i in 0..chunk {
                    s.trie.unbind(&s.fresh[i], s.fresh_dest(i)).expect("valid");
                }
                done += u64::try_from(chunk).expect("small");
            }
            total
        })
    });
    g.finish();

    let mut g = c.benchmark_group("unbind");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter(&s.label), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let chunk = usize::try_from((iters - done).min(64)).expect("small");
                for i in 0..chunk {
                    s.trie.bind(&s.fresh[i], s.fresh_dest(i)).expect("valid");
                }
                let start = Instant::now();
                for i in 0..chunk {
                    black_box(s.trie.unbind(&s.fresh[i], s.fresh_dest(i)).expect("valid"));
                }
                total += start.elapsed();
                done += u64::try_from(chunk).expect("small");
            }
            total
        })
    });
    g.finish();
    assert_eq!(
        s.trie.len(),
        s.n,
        "bind and unbind benches leave the trie as they found it"
    );
}

/// Routes `iters` keys of the distinct stream, starting at `*next`; returns the time taken.
fn route_keys(s: &Setup, iters: u64, next: &mut usize, out: &mut DestSet<u32>) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        out.clear();
        s.trie.route(&s.keys[*next], out).expect("valid key");
        black_box(out.len());
        *next = (*next + 1) % s.keys.len();
    }
    start.elapsed()
}

/// Binds and unbinds `s`'s fresh patterns in `trie` as fast as it can until `stop` (keeping
/// `CHURN_WINDOW` bound at a time), then leaves the trie as it found it; returns the changes
/// made.
fn churn_writer(s: &Setup, trie: &TopicTrie<u32>, stop: &AtomicBool, started: &AtomicBool) -> u64 {
    started.store(true, Ordering::Release);
    let mut i = 0usize;
    let mut ops = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let slot = i % FRESH;
        trie.bind(&s.fresh[slot], s.fresh_dest(slot))
            .expect("valid");
        if i >= CHURN_WINDOW {
            let old = (i - CHURN_WINDOW) % FRESH;
            trie.unbind(&s.fresh[old], s.fresh_dest(old))
                .expect("valid");
        }
        i += 1;
        ops += 1;
    }
    // Leave the trie as found: unbind the window still bound.
    for j in i.saturating_sub(CHURN_WINDOW)..i {
        let slot = j % FRESH;
        trie.unbind(&s.fresh[slot], s.fresh_dest(slot))
            .expect("valid");
    }
    ops
}

/// Routes `iters` keys as [`route_keys`] does while [`churn_writer`] runs on `target` (the
/// routed trie, or for a control one of the writer's own); returns the routing time.
fn route_keys_with_writer(
    s: &Setup,
    target: &TopicTrie<u32>,
    iters: u64,
    next: &mut usize,
    out: &mut DestSet<u32>,
) -> Duration {
    let stop = AtomicBool::new(false);
    let started = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| churn_writer(s, target, &stop, &started));
        while !started.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let elapsed = route_keys(s, iters, next, out);
        stop.store(true, Ordering::Relaxed);
        black_box(writer.join().expect("churn writer"));
        elapsed
    })
}

fn keys_u64(s: &Setup) -> u64 {
    u64::try_from(s.keys.len()).expect("fits")
}

/// Nanoseconds per key of a pass over the distinct stream.
fn per_key(s: &Setup, elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e9 / f64::from(u32::try_from(s.keys.len()).expect("fits"))
}

/// One pass of the exact-key floor over the distinct stream; ns per key.
fn floor_pass(s: &Setup, exact: &ahash::AHashMap<String, Vec<u32>>, out: &mut DestSet<u32>) -> f64 {
    let start = Instant::now();
    for k in &s.keys {
        out.clear();
        if let Some(dests) = exact.get(k.as_str()) {
            out.extend_from_slice(dests);
        }
        black_box(out.len());
    }
    per_key(s, start.elapsed())
}

/// One pass of the words floor over the distinct stream; ns per key.
fn words_pass(s: &Setup, hasher: &ahash::RandomState) -> f64 {
    let start = Instant::now();
    for k in &s.keys {
        black_box(hash_words(hasher, k));
    }
    per_key(s, start.elapsed())
}

/// Rounds of the paired report.
const PAIR_ROUNDS: usize = 9;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `WARREN_BENCH_TOPIC_PAIRS=1`: for each size, [`PAIR_ROUNDS`] rounds, each running five
/// passes over the distinct stream in an order rotated per round: the trie alone, the
/// exact-key floor, the words floor, the trie while [`churn_writer`] runs on it, and the trie
/// while the same writer runs on a trie of its own holding the same bindings (a control: what
/// a busy writer on the other core costs a router that shares no table with it). Each ratio
/// divides by a pass of its own round, so no ratio mixes two of a shared machine's moods
/// (criterion measures the cases minutes apart); prints the medians and the spread.
fn topic_pairs() {
    println!("topic pairs: median (min-max) of {PAIR_ROUNDS} rounds, distinct stream");
    for n in sizes() {
        let s = Setup::new(n);
        let exact = exact_map(&s);
        let own = TopicTrie::new();
        own.bind_many(s.patterns.iter().map(String::as_str).zip(0u32..))
            .expect("valid");
        let hasher = ahash::RandomState::new();
        let mut out = DestSet::new();
        let (mut alone, mut floor, mut words) = (Vec::new(), Vec::new(), Vec::new());
        let (mut churn, mut control) = (Vec::new(), Vec::new());
        for round in 0..PAIR_ROUNDS {
            let mut t = [0.0f64; 5];
            for k in 0..5 {
                let which = (k + round) % 5;
                let mut next = 0;
                t[which] = match which {
                    0 => per_key(&s, route_keys(&s, keys_u64(&s), &mut next, &mut out)),
                    1 => floor_pass(&s, &exact, &mut out),
                    2 => words_pass(&s, &hasher),
                    3 => per_key(
                        &s,
                        route_keys_with_writer(&s, &s.trie, keys_u64(&s), &mut next, &mut out),
                    ),
                    _ => per_key(
                        &s,
                        route_keys_with_writer(&s, &own, keys_u64(&s), &mut next, &mut out),
                    ),
                };
            }
            alone.push(t[0]);
            floor.push(t[0] / t[1]);
            words.push(t[2] / t[1]);
            churn.push(t[3] / t[0]);
            control.push(t[4] / t[0]);
        }
        let spread = |v: &mut Vec<f64>| {
            let m = median(v);
            format!("{m:.2} ({:.2}-{:.2})", v[0], v[v.len() - 1])
        };
        println!(
            "  {}: route {} ns; route / exact-map floor {}; words floor / exact-map floor {}; \
             with a churning writer / alone {}; with that writer on a trie of its own / alone {}",
            s.label,
            spread(&mut alone),
            spread(&mut floor),
            spread(&mut words),
            spread(&mut churn),
            spread(&mut control)
        );
        assert_eq!(s.trie.len(), s.n, "churn leaves the trie as it found it");
    }
}

fn bench_churn(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("churn");
    g.throughput(Throughput::Elements(1));
    let mut out = DestSet::new();
    let mut next = 0;

    g.bench_function(BenchmarkId::new("quiet", &s.label), |b| {
        b.iter_custom(|iters| route_keys(s, iters, &mut next, &mut out))
    });

    g.bench_function(BenchmarkId::new("with_writer", &s.label), |b| {
        b.iter_custom(|iters| route_keys_with_writer(s, &s.trie, iters, &mut next, &mut out))
    });
    g.finish();
    assert_eq!(s.trie.len(), s.n, "churn leaves the trie as it found it");
}

fn bench_sizes(c: &mut Criterion) {
    for n in sizes() {
        let s = Setup::new(n);
        bench_match(c, &s);
        bench_bind(c, &s);
        bench_churn(c, &s);
    }
}

fn bench_blowup(c: &mut Criterion) {
    // SEMANTICS T3: any number of `#`, anywhere; a 255-byte key has at most 128 words.
    let key_a128 = vec!["a"; 128].join(".");
    let h60 = vec!["#"; 60].join(".");
    let hash_a_miss = "#.a.".repeat(63) + "#.c"; // 255 bytes, 63 `a` then last word `c`
    let mut g = c.benchmark_group("blowup");
    g.throughput(Throughput::Elements(1));
    let mut out = DestSet::new();

    let trie = TopicTrie::new();
    trie.bind(&h60, 0u32).expect("valid");
    g.bench_function("60_hash_128_words", |b| {
        b.iter(|| {
            out.clear();
            trie.route(black_box(&key_a128), &mut out).expect("valid");
            assert_eq!(out.len(), 1);
        })
    });

    // Baseline: the naive model on the same pattern (it finds this match greedily).
    let mut naive = model::Bindings::new();
    naive.bind(&h60, 0u32);
    g.bench_function("naive_60_hash_128_words", |b| {
        b.iter(|| assert_eq!(naive.route(black_box(&key_a128)).len(), 1))
    });

    // Baseline: a literal 128-word pattern and key, no wildcard walk.
    let literal = TopicTrie::new();
    literal.bind(&key_a128, 0u32).expect("valid");
    g.bench_function("literal_128_words", |b| {
        b.iter(|| {
            out.clear();
            literal
                .route(black_box(&key_a128), &mut out)
                .expect("valid");
            assert_eq!(out.len(), 1);
        })
    });

    // The miss: every split of 128 words among 64 `#` fails (the naive model would not end).
    let miss = TopicTrie::new();
    miss.bind(&hash_a_miss, 0u32).expect("valid");
    g.bench_function("hash_a_63_miss_128_words", |b| {
        b.iter(|| {
            out.clear();
            miss.route(black_box(&key_a128), &mut out).expect("valid");
            assert!(out.is_empty());
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn main() {
    // What `criterion_group!` and `criterion_main!` expand to, minus their undocumented `pub fn`.
    if std::env::var_os("WARREN_BENCH_TOPIC_PAIRS").is_some_and(|v| v == "1") {
        topic_pairs();
    }
    let mut c = config().configure_from_args();
    bench_blowup(&mut c);
    bench_sizes(&mut c);
    c.final_summary();
}
