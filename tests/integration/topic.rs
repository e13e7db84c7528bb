//! The topic trie against SEMANTICS T and N1: the golden table, errors, bind and unbind
//! results, memory after churn, the `#` blow-up bound, a proptest against the naive model
//! (`tests/model/topic.rs`) and a concurrency stress test of the visibility rules (T6).
//!
//! # The golden table
//!
//! `tests/data/topic_cases.tsv` is written by hand from SEMANTICS T (and N1's limits). Format:
//! UTF-8, every line ends with `\n`, three fields separated by single tabs: pattern, key, and
//! `1` (matches) or `0`. The first line is the header `pattern<TAB>key<TAB>match`. There are no
//! comment lines (a pattern may start with `#`), no escapes and no trimming: fields may be empty
//! and spaces are significant. Keys and patterns containing a tab or a newline are out of scope.
//! C tests read the same file.

use crate::model::topic as model;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Barrier;
use warren::topic::{check_len, is_match, validate_bytes, DestSet, TopicTrie, MAX_LEN};
use warren::{Error, ErrorKind, Input, Scope};

/// One row of the golden table.
struct Case {
    line: usize,
    pattern: &'static str,
    key: &'static str,
    expected: bool,
}

fn golden() -> Vec<Case> {
    let text: &'static str = include_str!("../data/topic_cases.tsv");
    let body = text
        .strip_suffix('\n')
        .expect("the table ends with a newline");
    let mut lines = body.split('\n').enumerate();
    let (_, header) = lines.next().expect("the table has a header");
    assert_eq!(header, "pattern\tkey\tmatch");
    let cases: Vec<Case> = lines
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                fields.len(),
                3,
                "line {}: want 3 tab-separated fields: {line:?}",
                i + 1
            );
            let expected = match fields[2] {
                "1" => true,
                "0" => false,
                other => panic!("line {}: match must be 1 or 0, not {other:?}", i + 1),
            };
            Case {
                line: i + 1,
                pattern: fields[0],
                key: fields[1],
                expected,
            }
        })
        .collect();
    assert!(
        cases.len() >= 80,
        "the golden table has {} rows",
        cases.len()
    );
    cases
}

/// Routes `key`, returning the destinations sorted but NOT deduplicated, so that a duplicate
/// in the trie's output shows up as a difference from the model.
fn routed<D: Copy + Ord + std::hash::Hash + Eq + Send + Sync + 'static>(
    trie: &TopicTrie<D>,
    key: &str,
) -> Vec<D> {
    let mut out = DestSet::new();
    trie.route(key, &mut out)
        .unwrap_or_else(|e| panic!("route {key:?}: {e}"));
    let mut v = out.as_slice().to_vec();
    v.sort_unstable();
    v
}

fn assert_local(err: &Error, kind: ErrorKind, input: Input) {
    // SEMANTICS N1, F5: a local error, no AMQP code, naming the input.
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(err.scope(), Scope::Local, "{err}");
    assert_eq!(err.reply_code(), None, "{err}");
    assert_eq!(err.input(), Some(input), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Golden table.

#[test]
fn golden_table_row_by_row() {
    // SEMANTICS T1-T5: every row through `is_match` (a fresh trie) and through the model.
    for c in golden() {
        let got = is_match(c.pattern, c.key).unwrap_or_else(|e| panic!("line {}: {e}", c.line));
        assert_eq!(
            got, c.expected,
            "line {}: is_match({:?}, {:?})",
            c.line, c.pattern, c.key
        );
        assert_eq!(
            model::matches(c.pattern, c.key),
            c.expected,
            "line {}: model({:?}, {:?})",
            c.line,
            c.pattern,
            c.key
        );
    }
}

#[test]
fn golden_table_in_one_trie_then_after_removals() {
    // RabbitMQ's routing test shape: bind every pattern of the table at once, assert each
    // key's full destination set, remove about half of the bindings, assert again.
    let cases = golden();
    let mut pattern_dest: BTreeMap<&str, u32> = BTreeMap::new();
    for c in &cases {
        let next = u32::try_from(pattern_dest.len()).unwrap();
        pattern_dest.entry(c.pattern).or_insert(next);
    }
    let mut keys: Vec<&str> = cases.iter().map(|c| c.key).collect();
    keys.sort_unstable();
    keys.dedup();

    let trie = TopicTrie::new();
    let mut naive = model::Bindings::new();
    for (&p, &d) in &pattern_dest {
        assert!(trie.bind(p, d).unwrap(), "bind {p:?}");
        assert!(naive.bind(p, d));
        // SEMANTICS T2: a destination gets one copy however many patterns match; shared
        // destinations 1000..1003 are each bound to many patterns.
        let shared = 1000 + d % 3;
        assert_eq!(
            trie.bind(p, shared).unwrap(),
            naive.bind(p, shared),
            "bind {p:?}"
        );
    }
    assert_eq!(trie.len(), naive.len());

    let check = |trie: &TopicTrie<u32>, naive: &model::Bindings<u32>, stage: &str| {
        for &k in &keys {
            assert_eq!(routed(trie, k), naive.route(k), "{stage}: key {k:?}");
        }
        for c in &cases {
            let d = pattern_dest[c.pattern];
            let bound = naive.contains(c.pattern, d);
            let got = routed(trie, c.key).contains(&d);
            assert_eq!(
                got,
                c.expected && bound,
                "{stage}: line {}: {:?} -> {:?} (bound: {bound})",
                c.line,
                c.pattern,
                c.key
            );
        }
    };
    check(&trie, &naive, "all bound");

    for (&p, &d) in &pattern_dest {
        if d % 2 == 0 {
            assert!(trie.unbind(p, d).unwrap(), "unbind {p:?}");
            assert!(naive.unbind(p, d));
        }
        if d % 4 == 1 {
            let shared = 1000 + d % 3;
            assert_eq!(
                trie.unbind(p, shared).unwrap(),
                naive.unbind(p, shared),
                "unbind {p:?}"
            );
        }
    }
    assert_eq!(trie.len(), naive.len());
    check(&trie, &naive, "after removals");
}

// ---------------------------------------------------------------------------------------------
// Errors (SEMANTICS N1, F4, F5).

#[test]
fn over_255_bytes_is_a_local_too_long_error() {
    // SEMANTICS N1: at most 255 bytes, counted in bytes, not characters.
    let ascii = "a".repeat(MAX_LEN + 1);
    let multibyte = "é".repeat(128); // 128 characters, 256 bytes
    let dots = "a.".repeat(128); // 256 bytes, 129 words
    let trie: TopicTrie<u32> = TopicTrie::new();
    for long in [&ascii, &multibyte, &dots] {
        assert_eq!(long.len(), 256);
        assert_local(
            &trie.bind(long, 1).unwrap_err(),
            ErrorKind::TooLong,
            Input::Pattern,
        );
        assert_local(
            &trie.unbind(long, 1).unwrap_err(),
            ErrorKind::TooLong,
            Input::Pattern,
        );
        let mut out = DestSet::new();
        let err = trie.route(long, &mut out).unwrap_err();
        assert_local(&err, ErrorKind::TooLong, Input::RoutingKey);
        let err = trie.route_with_stats(long, &mut out).unwrap_err();
        assert_local(&err, ErrorKind::TooLong, Input::RoutingKey);
        assert!(out.is_empty());
        assert_eq!(is_match(long, "a").unwrap_err().kind(), ErrorKind::TooLong);
        assert_eq!(is_match("#", long).unwrap_err().kind(), ErrorKind::TooLong);
        assert_local(
            &check_len(long, Input::Queue).unwrap_err(),
            ErrorKind::TooLong,
            Input::Queue,
        );
    }
    // 255 bytes is fine (the golden table also routes 255-byte keys and patterns).
    let max = "a".repeat(MAX_LEN);
    assert!(check_len(&max, Input::RoutingKey).is_ok());
    assert!(trie.bind(&max, 1).unwrap());
    assert_eq!(routed(&trie, &max), [1]);
    assert_eq!(trie.len(), 1);
}

#[test]
fn a_failed_bind_or_route_changes_nothing() {
    // SEMANTICS F4: a failing call changes only what it reports.
    let trie = TopicTrie::new();
    let mut naive = model::Bindings::new();
    for (p, d) in [("a.#", 1u32), ("#", 2), ("*.b", 3), ("a.b", 4)] {
        trie.bind(p, d).unwrap();
        naive.bind(p, d);
    }
    let probes = ["", "a", "a.b", "x.b", "a.a.a.a", "#", "a.#"];
    let long_patterns = [
        format!("#.{}", "a".repeat(254)),
        "#.".repeat(128),
        format!("a.{}", "*.".repeat(127)),
        format!("{}b", "é".repeat(128)),
    ];
    for long in &long_patterns {
        assert!(long.len() > MAX_LEN);
        assert_local(
            &trie.bind(long, 9).unwrap_err(),
            ErrorKind::TooLong,
            Input::Pattern,
        );
        assert_local(
            &trie.bind(long, 1).unwrap_err(),
            ErrorKind::TooLong,
            Input::Pattern,
        );
        assert_eq!(trie.len(), naive.len());
        for k in probes {
            assert_eq!(
                routed(&trie, k),
                naive.route(k),
                "after failed bind of {long:?}: {k:?}"
            );
        }
    }
    // A failed route leaves the caller's buffer as it was.
    let mut out = DestSet::new();
    trie.route("a.b", &mut out).unwrap();
    let before = out.as_slice().to_vec();
    assert!(trie.route(&"a.".repeat(200), &mut out).is_err());
    assert_eq!(out.as_slice(), before);
}

#[test]
fn validate_bytes_checks_utf8_then_length() {
    // SEMANTICS N1: UTF-8 of at most 255 bytes; invalid bytes are a local error.
    for (bytes, offset) in [
        (&b"a\xff"[..], 1usize),
        (b"\xc3", 0),
        (b"ab.\xed\xa0\x80", 3),
        (b"\x80", 0),
    ] {
        let err = validate_bytes(bytes, Input::RoutingKey).unwrap_err();
        assert_local(&err, ErrorKind::InvalidUtf8, Input::RoutingKey);
        assert!(
            err.to_string().contains(&format!("offset {offset}")),
            "{err}"
        );
    }
    assert_eq!(validate_bytes(b"", Input::Pattern).unwrap(), "");
    assert_eq!(
        validate_bytes("日本.#".as_bytes(), Input::Pattern).unwrap(),
        "日本.#"
    );
    let max = "é".repeat(127) + "a";
    assert_eq!(validate_bytes(max.as_bytes(), Input::Pattern).unwrap(), max);
    let long = "é".repeat(128);
    let err = validate_bytes(long.as_bytes(), Input::Pattern).unwrap_err();
    assert_local(&err, ErrorKind::TooLong, Input::Pattern);
}

#[test]
fn bind_many_checks_every_pattern_before_binding() {
    // SEMANTICS F4: on error nothing is bound.
    let trie = TopicTrie::new();
    trie.bind("keep.#", 7u32).unwrap();
    let long = "x".repeat(256);
    let batch = [("a.#", 1u32), ("b", 2), (long.as_str(), 3), ("#", 4)];
    let err = trie.bind_many(batch.iter().copied()).unwrap_err();
    assert_local(&err, ErrorKind::TooLong, Input::Pattern);
    assert_eq!(trie.len(), 1);
    assert_eq!(routed(&trie, "a.x"), Vec::<u32>::new());
    assert_eq!(routed(&trie, "b"), Vec::<u32>::new());
    assert_eq!(routed(&trie, "keep"), [7]);

    // SEMANTICS E5: duplicates, within the batch or already bound, are not new.
    let batch = [
        ("a.#", 1u32),
        ("b", 2),
        ("a.#", 1),
        ("keep.#", 7),
        ("keep.#", 8),
        ("#", 4),
    ];
    assert_eq!(trie.bind_many(batch.iter().copied()).unwrap(), 4);
    assert_eq!(trie.len(), 5);
    assert_eq!(routed(&trie, "keep"), [4, 7, 8]);
    assert_eq!(routed(&trie, "a"), [1, 4]);
    assert_eq!(trie.bind_many(std::iter::empty()).unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Bind and unbind results, len, memory after churn.

#[test]
fn bind_and_unbind_report_whether_anything_changed() {
    // SEMANTICS E5: bindings are a set; binding twice is a no-op. Q10/E11: unbind is idempotent.
    let trie = TopicTrie::new();
    assert!(trie.is_empty());
    assert!(trie.bind("a.*", 1u32).unwrap());
    assert!(!trie.bind("a.*", 1).unwrap());
    assert!(trie.bind("a.*", 2).unwrap());
    assert!(trie.bind("a.#", 1).unwrap());
    assert!(trie.bind("", 1).unwrap());
    assert!(!trie.bind("", 1).unwrap());
    assert_eq!(trie.len(), 4);
    assert!(!trie.is_empty());

    assert!(!trie.unbind("a.*", 3).unwrap(), "never bound to 3");
    assert!(!trie.unbind("b.*", 1).unwrap(), "pattern never bound");
    assert!(!trie.unbind("a", 1).unwrap(), "a prefix of a bound pattern");
    assert!(trie.unbind("a.*", 1).unwrap());
    assert!(!trie.unbind("a.*", 1).unwrap());
    assert_eq!(trie.len(), 3);
    assert_eq!(routed(&trie, "a.x"), [1, 2]); // via a.# and a.*
    assert_eq!(routed(&trie, ""), [1]); // SEMANTICS T1: "" is zero words
    assert!(trie.unbind("a.*", 2).unwrap());
    assert!(trie.unbind("a.#", 1).unwrap());
    assert!(trie.unbind("", 1).unwrap());
    assert_eq!(trie.len(), 0);
    assert!(trie.is_empty());
    assert_eq!(routed(&trie, "a.x"), Vec::<u32>::new());
}

/// A deterministic mix of literal, `*` and `#` patterns.
fn mixed_pattern(i: u32) -> String {
    match i % 5 {
        0 => format!("w{i}.x.y"),
        1 => format!("w{i}.*.y"),
        2 => format!("w{}.#", i / 5),
        3 => format!("#.w{i}"),
        _ => format!("*.w{}.#.z", i % 97),
    }
}

#[test]
fn binding_and_unbinding_10k_patterns_leaves_nothing() {
    // SEMANTICS E5, T6: every unbind of a bound pair succeeds and takes effect; afterwards the
    // trie is empty (its nodes pruned, issue 3's "memory returns after unbind") and reusable.
    let trie = TopicTrie::new();
    let n = 10_000u32;
    for i in 0..n {
        assert!(
            trie.bind(&mixed_pattern(i), i).unwrap(),
            "bind {}",
            mixed_pattern(i)
        );
    }
    assert_eq!(trie.len(), 10_000);
    let probes = [
        "w0.x.y", "w1.q.y", "w2", "w2.a.b", "a.w3", "q.w4.z", "q.w4.r.z", "w10.x.y", "",
    ];
    let mut naive = model::Bindings::new();
    for i in 0..n {
        naive.bind(&mixed_pattern(i), i);
    }
    for k in probes {
        assert_eq!(routed(&trie, k), naive.route(k), "{k:?}");
    }
    // Unbind in a different order than bound.
    for i in (0..n).rev() {
        assert!(
            trie.unbind(&mixed_pattern(i), i).unwrap(),
            "unbind {}",
            mixed_pattern(i)
        );
    }
    assert_eq!(trie.len(), 0);
    assert!(trie.is_empty());
    for k in probes {
        assert_eq!(
            routed(&trie, k),
            Vec::<u32>::new(),
            "{k:?} after unbinding all"
        );
    }
    // The emptied trie still works.
    assert!(trie.bind("w2.#", 5).unwrap());
    assert_eq!(routed(&trie, "w2.a.b"), [5]);
}

// ---------------------------------------------------------------------------------------------
// No combinatorial blow-up (SEMANTICS T3: any number of `#`, anywhere).

/// `(#.a.)^k #`: matches exactly the keys with at least `k` words equal to `a`.
fn hash_a(k: usize) -> String {
    "#.a.".repeat(k) + "#"
}

/// A key of `a_count` words `a` followed by `rest` (already dot-joined, may be empty).
fn a_key(a_count: usize, rest: &str) -> String {
    let mut words = vec!["a"; a_count];
    if !rest.is_empty() {
        words.push(rest);
    }
    words.join(".")
}

#[test]
fn many_hash_words_route_in_polynomial_states() {
    // SEMANTICS T3, T4. RouteStats.states counts distinct (trie node, key position) states, so
    // it is at most nodes × (words + 1); a trie has at most 1 + Σ words(pattern) nodes. A walk
    // that re-explores each way of splitting the key among 60 `#` would need ~C(188, 60) steps.
    let h60 = vec!["#"; 60].join(".");
    let b_tail = "b.".repeat(63) + "b";
    let patterns: Vec<(String, u32)> = vec![
        (h60.clone(), 0),               // every key
        (hash_a(30), 1),                // >= 30 words `a`
        ("#.a.".repeat(59) + "#.b", 2), // >= 59 `a`, last word b
        ("#.".repeat(60) + "c", 3),     // last word c
        ("#.*.".repeat(40) + "#", 4),   // >= 40 words
        (hash_a(63), 5),                // >= 63 words `a` (253 bytes)
    ];
    // (key, expected destinations), derived by hand from the comments above.
    let keys: Vec<(String, Vec<u32>)> = vec![
        (a_key(128, ""), vec![0, 1, 4, 5]),
        (a_key(127, "b"), vec![0, 1, 2, 4, 5]),
        (a_key(127, "c"), vec![0, 1, 3, 4, 5]),
        (a_key(20, ""), vec![0]),
        (a_key(64, &b_tail), vec![0, 1, 2, 4, 5]),
        (a_key(62, &("b.".repeat(64) + "c")), vec![0, 1, 3, 4]),
        (String::new(), vec![0]),
        ("c".to_owned(), vec![0, 3]),
        ("a.".repeat(29) + "c", vec![0, 3]),
    ];
    for (k, _) in &keys {
        assert!(k.len() <= MAX_LEN, "{} bytes", k.len());
    }
    for (p, _) in &patterns {
        assert!(p.len() <= MAX_LEN, "{} bytes", p.len());
    }
    let word_count = |s: &str| {
        if s.is_empty() {
            0
        } else {
            s.split('.').count()
        }
    };

    // Each pattern alone: the tight bound.
    for (p, d) in &patterns {
        let trie = TopicTrie::new();
        trie.bind(p, *d).unwrap();
        let nodes = 1 + word_count(p);
        for (k, want) in &keys {
            let mut out = DestSet::new();
            let stats = trie.route_with_stats(k, &mut out).unwrap();
            let expect_hit = want.contains(d);
            assert_eq!(
                out.as_slice() == [*d],
                expect_hit,
                "pattern {p:?} key {k:?}"
            );
            let bound = nodes * (word_count(k) + 1);
            assert!(
                stats.states >= 1,
                "a wildcard walk visits the root: {stats:?}"
            );
            assert!(
                stats.states <= bound,
                "{} states > {nodes} nodes × {} positions for {p:?} / {k:?}",
                stats.states,
                word_count(k) + 1
            );
            let mut again = DestSet::new();
            assert_eq!(
                trie.route_with_stats(k, &mut again).unwrap(),
                stats,
                "deterministic"
            );
        }
    }

    // All of them in one trie.
    let trie = TopicTrie::new();
    for (p, d) in &patterns {
        trie.bind(p, *d).unwrap();
    }
    let nodes = 1 + patterns.iter().map(|(p, _)| word_count(p)).sum::<usize>();
    for (k, want) in &keys {
        let mut out = DestSet::new();
        let stats = trie.route_with_stats(k, &mut out).unwrap();
        let mut got = out.as_slice().to_vec();
        got.sort_unstable();
        assert_eq!(&got, want, "key {k:?}");
        assert!(
            stats.states <= nodes * (word_count(k) + 1),
            "{stats:?} for {k:?}"
        );
        let mut again = DestSet::new();
        assert_eq!(
            trie.route_with_stats(k, &mut again).unwrap(),
            stats,
            "deterministic"
        );
    }

    // Where the naive model is fast enough (it short-circuits on these), it agrees.
    let mut naive = model::Bindings::new();
    naive.bind(&h60, 0);
    naive.bind(&hash_a(30), 1);
    for (k, want) in &keys {
        let expected: Vec<u32> = want.iter().copied().filter(|&d| d <= 1).collect();
        // Only matching keys: on a failing match the model's recursion is exponential.
        if want.contains(&1) {
            assert_eq!(naive.route(k), expected, "model, key {k:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Proptest against the model.

#[derive(Clone, Debug)]
enum Op {
    Bind(String, u8),
    Unbind(String, u8),
    /// Unbind the n-th (modulo) binding the model holds, so that unbinds often hit.
    UnbindNth(usize),
    Route(String),
    BindMany(Vec<(String, u8)>),
    /// A batch with a 256-byte pattern inserted at the given position (modulo): binds nothing.
    BindManyBad(Vec<(String, u8)>, usize),
}

fn topic_word() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "", "*", "#"])
}

/// Patterns and keys of 0 to 5 words over `a`, `b`, ``, `*`, `#` (in a key `*` and `#` are
/// plain words, SEMANTICS T2).
fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(topic_word(), 0..=5).prop_map(|w| w.join("."))
}

fn op() -> impl Strategy<Value = Op> {
    let dest = 0u8..4;
    prop_oneof![
        4 => (topic(), dest.clone()).prop_map(|(p, d)| Op::Bind(p, d)),
        1 => (topic(), dest.clone()).prop_map(|(p, d)| Op::Unbind(p, d)),
        2 => any::<usize>().prop_map(Op::UnbindNth),
        4 => topic().prop_map(Op::Route),
        1 => prop::collection::vec((topic(), dest.clone()), 0..6).prop_map(Op::BindMany),
        1 => (prop::collection::vec((topic(), dest), 0..4), any::<usize>())
            .prop_map(|(b, at)| Op::BindManyBad(b, at)),
    ]
}

/// Every key of up to 3 words over the alphabet: checked against the model at the end.
fn all_short_keys() -> Vec<String> {
    let alphabet = ["a", "b", "", "*", "#"];
    let mut keys = vec![String::new()];
    let mut layer = vec![String::new()];
    for depth in 0..3 {
        let mut next = Vec::new();
        for prefix in &layer {
            for w in alphabet {
                next.push(if depth == 0 {
                    w.to_owned()
                } else {
                    format!("{prefix}.{w}")
                });
            }
        }
        keys.extend(next.iter().filter(|k| !k.is_empty()).cloned());
        layer = next;
    }
    keys.sort();
    keys.dedup();
    keys
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn trie_matches_model_over_random_ops(ops in prop::collection::vec(op(), 1..60)) {
        // SEMANTICS T1-T4 (matching), E5 (set semantics), F4 (failed bind_many binds nothing).
        let trie = TopicTrie::new();
        let mut naive = model::Bindings::new();
        for op in &ops {
            match op {
                Op::Bind(p, d) => {
                    prop_assert_eq!(trie.bind(p, *d).unwrap(), naive.bind(p, *d), "bind {:?} {}", p, d);
                }
                Op::Unbind(p, d) => {
                    prop_assert_eq!(trie.unbind(p, *d).unwrap(), naive.unbind(p, *d), "unbind {:?} {}", p, d);
                }
                Op::UnbindNth(n) => {
                    let nth = if naive.is_empty() {
                        None
                    } else {
                        naive.iter().nth(n % naive.len()).map(|(p, d)| (p.to_owned(), d))
                    };
                    if let Some((p, d)) = nth {
                        prop_assert!(trie.unbind(&p, d).unwrap(), "unbind {:?} {}", p, d);
                        prop_assert!(naive.unbind(&p, d));
                    }
                }
                Op::Route(k) => {
                    prop_assert_eq!(routed(&trie, k), naive.route(k), "route {:?}", k);
                }
                Op::BindMany(batch) => {
                    let new = batch.iter().filter(|(p, d)| naive.bind(p, *d)).count();
                    let got = trie.bind_many(batch.iter().map(|(p, d)| (p.as_str(), *d))).unwrap();
                    prop_assert_eq!(got, new, "bind_many {:?}", batch);
                }
                Op::BindManyBad(batch, at) => {
                    let long = "#.".repeat(128);
                    let mut bad: Vec<(&str, u8)> = batch.iter().map(|(p, d)| (p.as_str(), *d)).collect();
                    bad.insert(at % (bad.len() + 1), (long.as_str(), 0));
                    let err = trie.bind_many(bad.iter().copied()).unwrap_err();
                    prop_assert_eq!(err.kind(), ErrorKind::TooLong);
                }
            }
            prop_assert_eq!(trie.len(), naive.len(), "len after {:?}", op);
        }
        for k in all_short_keys() {
            prop_assert_eq!(routed(&trie, &k), naive.route(&k), "final route {:?}", k);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency: routing threads while a writer churns (SEMANTICS T6).

/// Stable bindings, present for the whole test: every route must see them.
const STABLE: &[(&str, u32)] = &[
    ("a.b.c", 0),
    ("a.*.c", 1),
    ("a.#", 2),
    ("#.c", 3),
    ("*", 4),
    ("x.y", 5),
    ("a.b.c", 6),
    ("#", 7),
];
/// The first churn destination; churn binding `j` has destination `CHURN_BASE + j`, used once.
const CHURN_BASE: u32 = 100;
/// Churn binding `j` has pattern `CHURN[j % CHURN.len()]`: some equal to stable patterns (an
/// unbind of one destination must not drop another's), some prefixes or extensions of them.
const CHURN: &[&str] = &[
    "a.b.c", "a.b", "a.b.c.#", "a.#", "#", "a.*.c", "x.#", "*.b.*", "q.r.s", "a.b.c.d", "", "#.c",
];
const KEYS: &[&str] = &[
    "a.b.c", "a.b", "a.x.c", "x.y", "a", "", "a.b.c.d", "q.r.s", "z", "c",
];
/// Churn bindings alive at once.
const WINDOW: u64 = 8;
/// Churn bindings the writer makes (and unmakes): a second or so either way.
const WRITER_OPS: u64 = if cfg!(debug_assertions) {
    20_000
} else {
    200_000
};
const READERS: usize = 3;

/// Prefix counters published by the writer (SeqCst): churn bindings `j < n` have had the named
/// step happen. Each churn destination is bound once and unbound once, in order.
#[derive(Default)]
struct Progress {
    bind_started: AtomicU64,
    bound: AtomicU64,
    unbind_started: AtomicU64,
    unbound: AtomicU64,
    done: AtomicBool,
}

/// Sets `done` even if the writer panics, so the readers stop.
struct DoneOnDrop<'a>(&'a AtomicBool);
impl Drop for DoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

fn churn_dest(j: u64) -> u32 {
    CHURN_BASE + u32::try_from(j).unwrap()
}

fn churn_pattern(j: u64) -> &'static str {
    CHURN[usize::try_from(j).unwrap() % CHURN.len()]
}

#[test]
fn routes_see_stable_bindings_and_respect_returned_binds_and_unbinds() {
    // SEMANTICS T6: bind and unbind are linearizable with routing; unchanged bindings are never
    // missed. Checked per route, with the writer's counters read before and after it:
    // - every stable binding matching the key is seen, and no stable non-match;
    // - a churn binding whose unbind returned before the route started is not seen;
    // - a churn binding whose bind returned before the route started, and whose unbind had not
    //   started when it ended, is seen;
    // - a churn binding whose bind had not started when the route ended is not seen;
    // - nothing is seen twice, and nothing whose pattern does not match.
    let trie = TopicTrie::new();
    let mut stable = model::Bindings::new();
    for &(p, d) in STABLE {
        trie.bind(p, d).unwrap();
        stable.bind(p, d);
    }
    let stable_routes: Vec<Vec<u32>> = KEYS.iter().map(|k| stable.route(k)).collect();
    // churn_match[c][k]: does CHURN[c] match KEYS[k]?
    let churn_match: Vec<Vec<bool>> = CHURN
        .iter()
        .map(|p| KEYS.iter().map(|k| model::matches(p, k)).collect())
        .collect();

    let progress = Progress::default();
    let start = Barrier::new(READERS + 1);
    let routes_done = AtomicU64::new(0);

    std::thread::scope(|s| {
        s.spawn(|| {
            let _done = DoneOnDrop(&progress.done);
            start.wait();
            for j in 0..WRITER_OPS {
                progress.bind_started.store(j + 1, SeqCst);
                assert!(trie.bind(churn_pattern(j), churn_dest(j)).unwrap());
                progress.bound.store(j + 1, SeqCst);
                if j >= WINDOW {
                    let old = j - WINDOW;
                    progress.unbind_started.store(old + 1, SeqCst);
                    assert!(trie.unbind(churn_pattern(old), churn_dest(old)).unwrap());
                    progress.unbound.store(old + 1, SeqCst);
                }
            }
        });
        for r in 0..READERS {
            let (trie, progress, start, routes_done) = (&trie, &progress, &start, &routes_done);
            let (stable_routes, churn_match) = (&stable_routes, &churn_match);
            s.spawn(move || {
                start.wait();
                let mut out = DestSet::new();
                let mut i = r;
                loop {
                    let finished = progress.done.load(SeqCst);
                    let ki = i % KEYS.len();
                    let key = KEYS[ki];
                    i += 1;
                    let unbound_before = progress.unbound.load(SeqCst);
                    let bound_before = progress.bound.load(SeqCst);
                    out.clear();
                    trie.route(key, &mut out).unwrap();
                    let unbind_started_after = progress.unbind_started.load(SeqCst);
                    let bind_started_after = progress.bind_started.load(SeqCst);

                    let mut got = out.as_slice().to_vec();
                    got.sort_unstable();
                    let n = got.len();
                    got.dedup();
                    assert_eq!(
                        got.len(),
                        n,
                        "duplicate destination routing {key:?}: {got:?}"
                    );
                    let (stable_got, churn_got) =
                        got.split_at(got.partition_point(|&d| d < CHURN_BASE));
                    assert_eq!(
                        stable_got,
                        stable_routes[ki].as_slice(),
                        "stable bindings for {key:?}"
                    );
                    for &d in churn_got {
                        let j = u64::from(d - CHURN_BASE);
                        let c = usize::try_from(j).unwrap() % CHURN.len();
                        assert!(
                            churn_match[c][ki],
                            "{d} ({:?}) does not match {key:?}",
                            CHURN[c]
                        );
                        assert!(
                            j >= unbound_before,
                            "{d} seen after its unbind returned ({key:?})"
                        );
                        assert!(
                            j < bind_started_after,
                            "{d} seen before its bind started ({key:?})"
                        );
                    }
                    for j in unbind_started_after..bound_before {
                        let c = usize::try_from(j).unwrap() % CHURN.len();
                        if churn_match[c][ki] {
                            let d = churn_dest(j);
                            assert!(
                                churn_got.contains(&d),
                                "{d} ({:?}) bound before the route and not being unbound, \
                                 missed routing {key:?}: {got:?}",
                                CHURN[c]
                            );
                        }
                    }
                    routes_done.fetch_add(1, SeqCst);
                    if finished {
                        break;
                    }
                }
            });
        }
    });

    assert!(routes_done.load(SeqCst) >= u64::try_from(READERS).unwrap());
    // Drain the window: only the stable bindings remain.
    for j in WRITER_OPS - WINDOW..WRITER_OPS {
        assert!(trie.unbind(churn_pattern(j), churn_dest(j)).unwrap());
    }
    assert_eq!(trie.len(), STABLE.len());
    for (k, want) in KEYS.iter().zip(&stable_routes) {
        assert_eq!(&routed(&trie, k), want, "{k:?} after churn");
    }
}

/// STYLE 11: the golden table through the C matcher (`warren_topic_*`, called as a C program
/// would): every row bound alone, routed, unbound and routed again; then every pattern in one
/// matcher, each key's destinations against the rows.
#[test]
fn golden_table_through_the_c_matcher() {
    use warren::ffi::warren_status::WARREN_STATUS_OK;
    use warren::ffi::{
        warren_topic, warren_topic_bind, warren_topic_free, warren_topic_new, warren_topic_route,
        warren_topic_unbind,
    };
    /// The destinations `key` reaches, sorted.
    fn route(t: *mut warren_topic, key: &str) -> Vec<u64> {
        let mut out = [0u64; 256];
        let mut n = 0usize;
        // SAFETY: `t` is a live matcher; the key and output buffers are valid for the call.
        let st = unsafe {
            warren_topic_route(t, key.as_ptr(), key.len(), out.as_mut_ptr(), 256, &mut n)
        };
        assert_eq!(st, WARREN_STATUS_OK, "route {key:?}");
        let mut v = out[..n].to_vec();
        v.sort_unstable();
        v
    }
    fn bind(t: *mut warren_topic, pattern: &str, dest: u64) {
        let mut added = false;
        // SAFETY: as in `route`.
        let st = unsafe { warren_topic_bind(t, pattern.as_ptr(), pattern.len(), dest, &mut added) };
        assert_eq!(st, WARREN_STATUS_OK, "bind {pattern:?}");
    }
    let cases = golden();
    for c in &cases {
        let mut t: *mut warren_topic = std::ptr::null_mut();
        // SAFETY: `t` is writable.
        assert_eq!(unsafe { warren_topic_new(&mut t) }, WARREN_STATUS_OK);
        bind(t, c.pattern, 7);
        let want: Vec<u64> = if c.expected { vec![7] } else { vec![] };
        assert_eq!(
            route(t, c.key),
            want,
            "line {}: {:?} {:?}",
            c.line,
            c.pattern,
            c.key
        );
        let mut removed = false;
        // SAFETY: as in `route`.
        let st =
            unsafe { warren_topic_unbind(t, c.pattern.as_ptr(), c.pattern.len(), 7, &mut removed) };
        assert!(st == WARREN_STATUS_OK && removed, "line {}: unbind", c.line);
        assert!(route(t, c.key).is_empty(), "line {}: after unbind", c.line);
        // SAFETY: `t` is live and not used after this.
        unsafe { warren_topic_free(t) };
    }
    let mut t: *mut warren_topic = std::ptr::null_mut();
    // SAFETY: `t` is writable.
    assert_eq!(unsafe { warren_topic_new(&mut t) }, WARREN_STATUS_OK);
    let mut dests: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &cases {
        let next = u64::try_from(dests.len()).unwrap();
        if let std::collections::btree_map::Entry::Vacant(e) = dests.entry(c.pattern) {
            e.insert(next);
            bind(t, c.pattern, next);
        }
    }
    for c in &cases {
        let reached = route(t, c.key);
        assert_eq!(
            reached.contains(&dests[c.pattern]),
            c.expected,
            "line {}: {:?} {:?}",
            c.line,
            c.pattern,
            c.key
        );
    }
    // SAFETY: `t` is live and not used after this.
    unsafe { warren_topic_free(t) };
}
