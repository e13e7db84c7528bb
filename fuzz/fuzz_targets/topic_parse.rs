//! Arbitrary bytes as a pattern and a routing key (SEMANTICS N1, T1-T4).
//!
//! The input is split at its first tab into pattern and key (the `warren match --batch` line
//! shape); without a tab it is both. Then: `validate_bytes` accepts exactly the UTF-8 strings of
//! at most 255 bytes and names the right error otherwise; `words` splits as T1 says; and
//! `is_match` (the production trie) agrees with T4 computed here by dynamic programming, or
//! returns `TooLong` for an over-long UTF-8 input. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren::topic::{is_match, validate_bytes, words, MAX_LEN};
use warren::{ErrorKind, Input, Scope};

/// SEMANTICS T1: `""` is zero words, otherwise every `.` separates two words.
fn split(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('.').collect()
    }
}

/// SEMANTICS T4, tabulated: `m[i][j]` is m(pattern[i..], key[j..]). Polynomial, so that the
/// fuzzer's `#.a.#.a.#…` inputs cannot time the model out.
fn t4(pattern: &[&str], key: &[&str]) -> bool {
    let (p, k) = (pattern.len(), key.len());
    let mut m = vec![vec![false; k + 1]; p + 1];
    m[p][k] = true;
    for i in (0..p).rev() {
        for j in (0..=k).rev() {
            m[i][j] = if pattern[i] == "#" {
                m[i + 1][j] || (j < k && m[i][j + 1])
            } else {
                j < k && (pattern[i] == "*" || pattern[i] == key[j]) && m[i + 1][j + 1]
            };
        }
    }
    m[0][0]
}

/// Checks `validate_bytes` on `bytes`; returns the string if the bytes are UTF-8 at all.
fn check_validate(bytes: &[u8], input: Input) -> Option<&str> {
    let got = validate_bytes(bytes, input);
    let utf8 = std::str::from_utf8(bytes);
    match (&utf8, &got) {
        (Err(e), Err(err)) => {
            assert_eq!(err.kind(), ErrorKind::InvalidUtf8, "{err}");
            assert!(
                err.to_string()
                    .contains(&format!("offset {}", e.valid_up_to())),
                "{err}"
            );
        }
        (Ok(s), Err(err)) if s.len() > MAX_LEN => assert_eq!(err.kind(), ErrorKind::TooLong),
        (Ok(s), Ok(v)) if s.len() <= MAX_LEN => assert_eq!(s, v),
        _ => panic!("validate_bytes({bytes:?}) = {got:?}"),
    }
    if let Err(err) = &got {
        // SEMANTICS F5: local, no reply code, names the input.
        assert_eq!(err.scope(), Scope::Local);
        assert_eq!(err.reply_code(), None);
        assert_eq!(err.input(), Some(input));
    }
    utf8.ok()
}

fuzz_target!(|data: &[u8]| {
    let (p, k) = match data.iter().position(|&b| b == b'\t') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let pattern = check_validate(p, Input::Pattern);
    let key = check_validate(k, Input::RoutingKey);
    let (Some(pattern), Some(key)) = (pattern, key) else {
        return;
    };
    assert_eq!(words(pattern).collect::<Vec<_>>(), split(pattern));
    assert_eq!(words(key).collect::<Vec<_>>(), split(key));
    match is_match(pattern, key) {
        Ok(got) => {
            assert!(pattern.len() <= MAX_LEN && key.len() <= MAX_LEN);
            assert_eq!(
                got,
                t4(&split(pattern), &split(key)),
                "is_match({pattern:?}, {key:?})"
            );
            if p == k {
                // A pattern matches itself read as a key: `*` and `#` match themselves.
                assert!(got, "{pattern:?} does not match itself");
            }
        }
        Err(err) => {
            assert!(pattern.len() > MAX_LEN || key.len() > MAX_LEN, "{err}");
            assert_eq!(err.kind(), ErrorKind::TooLong);
        }
    }
});
