//! The workload generator against the Python script's published output (sha256 of the files
//! `gen_workload.py` writes, from ../shared/anchors/nats-sublist/README.md), and the file reader.

use sha2::{Digest, Sha256};
use warren::workload;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_files(n: usize, bindings_sha: &str, keys_sha: &str) {
    let w = workload::generate(42, n, 100_000).expect("the seed-42 workload generates");
    assert_eq!(w.bindings.len(), n);
    assert_eq!(w.keys.len(), 100_000);
    assert_eq!(
        sha256_hex(&workload::file_bytes(&w.bindings)),
        bindings_sha,
        "bindings, N={n}"
    );
    assert_eq!(
        sha256_hex(&workload::file_bytes(&w.keys)),
        keys_sha,
        "keys, N={n}"
    );
}

#[test]
fn seed_42_n_1000_is_byte_identical_to_the_script() {
    check_files(
        1_000,
        "75faa02e4220cf14e3f1ac77909ebe8e636015fe5a2c53eebdd7dda7e37e8c68",
        "2815887243a2313429c9253d953827dbba6b0d872bead318cbde4b5857449b96",
    );
}

#[test]
fn seed_42_n_10000_is_byte_identical_to_the_script() {
    check_files(
        10_000,
        "54ebb86ddcf06e29dc6809dcca8431e40572c943df5c088ab639660ff41deb4a",
        "a061e5fe11f1ae7025631bb6523c3d1fc05362010751e7b032b7cf6644e33f44",
    );
}

/// N = 100,000 and 1,000,000 (about 2 s in release); run with `--ignored`.
#[test]
#[ignore = "slow in debug builds; run with --ignored in release"]
fn seed_42_large_n_is_byte_identical_to_the_script() {
    check_files(
        100_000,
        "61d30be9399bf1216f0fccbfb3ac981ea73a69a2a9b6d1ac4add09753ba16b0f",
        "3cb1b9bd476fb2b500c446696971f11a0d66a75f911842162264d8ce95d72da7",
    );
    check_files(
        1_000_000,
        "de61358de1b36c87fe40e920108197ab2c5a51b7d79becad888c804759fa64f5",
        "22a1f2fdb5d102be099bf91f0f1ecc9602d96dcdb3bcbc4ede98d9117337a788",
    );
}

#[test]
fn bindings_have_the_prefix_property() {
    let small = workload::generate_bindings(42, 1_000);
    let large = workload::generate_bindings(42, 10_000);
    assert_eq!(small[..], large[..1_000]);
    // And the full generator agrees with the bindings-only one.
    let w = workload::generate(42, 1_000, 10).unwrap();
    assert_eq!(w.bindings, small);
}

#[test]
fn keys_are_distinct_and_bindings_have_the_published_shape() {
    let w = workload::generate(42, 1_000, 100_000).unwrap();
    let distinct: std::collections::HashSet<&str> = w.keys.iter().map(String::as_str).collect();
    assert_eq!(distinct.len(), w.keys.len());
    // Every binding has the published shape: 3-6 words with at most one `*`, or 1-3 words + `#`.
    for b in &w.bindings {
        let words: Vec<&str> = b.split('.').collect();
        if words.last() == Some(&"#") {
            assert!((2..=4).contains(&words.len()), "{b}");
        } else {
            assert!((3..=6).contains(&words.len()), "{b}");
            assert!(words.iter().filter(|w| **w == "*").count() <= 1, "{b}");
        }
    }
}

#[test]
fn zero_bindings_cannot_derive_keys() {
    let err = workload::generate_keys::<&str>(42, &[], 10).unwrap_err();
    assert!(err.to_string().contains("zero bindings"), "{err}");
    // Zero keys need no bindings.
    assert!(workload::generate_keys::<&str>(42, &[], 0)
        .unwrap()
        .is_empty());
}

#[test]
fn the_draw_limit_returns_an_error() {
    // With the single binding `a`, the first derived coin gives the key `a`; the second derived
    // coin can only redraw `a` (the coin is not flipped again), so only the limit of 100 draws
    // per key stops it. With 1,000 keys wanted, a second derived coin comes long before.
    let err = workload::generate_keys(42, &["a"], 1_000).unwrap_err();
    assert!(
        err.to_string()
            .contains("could not draw 1000 distinct keys"),
        "{err}"
    );
}

#[test]
fn file_bytes_match_the_script_format() {
    assert_eq!(workload::file_bytes(&["a", "b"]), b"a\nb\n");
    assert_eq!(workload::file_bytes(&["", "x"]), b"\nx\n");
    // "\n".join([]) + "\n"
    assert_eq!(workload::file_bytes::<&str>(&[]), b"\n");
}

#[test]
fn reader_splits_on_newline_only_and_trims_nothing() {
    let lines = workload::parse_lines(b"a.b\r\n c \n\n#\tx").unwrap();
    assert_eq!(lines, ["a.b\r", " c ", "", "#\tx"]);
    assert_eq!(workload::parse_lines(b"a\nb\n").unwrap(), ["a", "b"]);
    assert_eq!(workload::parse_lines(b"a\nb").unwrap(), ["a", "b"]);
    assert!(workload::parse_lines(b"").unwrap().is_empty());
    assert_eq!(workload::parse_lines(b"\n").unwrap(), [""]);
    let err = workload::parse_lines(b"ok\nbad\xff\n").unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn files_round_trip() {
    let w = workload::generate(7, 200, 500).unwrap();
    let dir = std::env::temp_dir().join(format!("warren-workload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bindings.txt");
    workload::write_file(&path, &w.bindings).unwrap();
    assert_eq!(workload::read_file(&path).unwrap(), w.bindings);
    std::fs::write(&path, b"a.b\nc.\xc3\n").unwrap();
    let bad = workload::read_file(&path).unwrap_err().to_string();
    assert!(
        bad.contains("bindings.txt: line 2 is not valid UTF-8"),
        "{bad}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = workload::read_file(&dir.join("nope.txt")).unwrap_err();
    assert!(missing.to_string().contains("nope.txt"), "{missing}");
}

#[test]
fn reference_totals_are_published_for_the_four_sizes() {
    assert_eq!(workload::reference_destinations(1_000), Some(55_868));
    assert_eq!(workload::reference_destinations(10_000), Some(97_465));
    assert_eq!(workload::reference_destinations(100_000), Some(537_104));
    assert_eq!(workload::reference_destinations(1_000_000), Some(5_061_412));
    assert_eq!(workload::reference_destinations(999), None);
}
