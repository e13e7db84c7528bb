//! The `warren` binary, run as a user runs it: `match` (single and `--batch`), `bench match`,
//! `demo`, and `--help` on every subcommand.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

fn warren() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warren"))
}

/// Runs `warren args...` with no stdin.
fn run(args: &[&str]) -> Output {
    warren()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("warren runs")
}

/// Runs `warren args...` feeding `input` on stdin (from a thread, so a large input cannot
/// deadlock against a full stdout pipe).
fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = warren()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("warren runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("warren finishes");
    writer
        .join()
        .expect("stdin writer")
        .expect("stdin accepted");
    output
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts `warren match pattern key` prints `want` and exits with `code`.
fn check_match(pattern: &str, key: &str, matched: bool) {
    let o = run(&["match", pattern, key]);
    let (text, code) = if matched {
        ("match\n", 0)
    } else {
        ("no match\n", 1)
    };
    assert_eq!(
        stdout(&o),
        text,
        "match {pattern:?} {key:?}; stderr: {}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(code), "match {pattern:?} {key:?}");
    assert!(
        o.stderr.is_empty(),
        "match {pattern:?} {key:?}: {}",
        stderr(&o)
    );
}

#[test]
fn match_and_no_match_exit_0_and_1() {
    // SEMANTICS T5: the tutorial's patterns.
    check_match("*.orange.*", "quick.orange.rabbit", true);
    check_match("*.orange.*", "quick.orange.new.rabbit", false);
    check_match("*.*.rabbit", "lazy.pink.rabbit", true);
    check_match("lazy.#", "lazy.orange.new.rabbit", true);
}

#[test]
fn hash_matches_zero_words() {
    // SEMANTICS T3: `#` is zero or more words, so `lazy.#` matches `lazy`.
    check_match("lazy.#", "lazy", true);
    // SEMANTICS T4: `#` matches the empty key (zero words); `#` may lead the pattern.
    check_match("#", "", true);
    check_match("#.b", "b", true);
    check_match("#.b", "a.c", false);
}

#[test]
fn star_is_exactly_one_possibly_empty_word() {
    // SEMANTICS T4: `a.*` matches `a.` (one empty word) but not `a`.
    check_match("a.*", "a.", true);
    check_match("a.*", "a", false);
    // SEMANTICS T2: `a*` is a literal word, not a wildcard.
    check_match("a*", "ab", false);
    check_match("a*", "a*", true);
}

#[test]
fn empty_and_hyphen_leading_arguments_are_values() {
    // SEMANTICS T1: "" is zero words, so the empty pattern matches exactly the empty key.
    check_match("", "", true);
    check_match("", "a", false);
    check_match("-a.#", "-a", true);
    check_match("-", "-x", false);
    check_match("#", "-", true);
}

#[test]
fn over_long_input_is_an_error_with_exit_2() {
    // SEMANTICS N1: at most 255 bytes; 255 is fine, 256 is an error naming the input.
    let ok = "a".repeat(255);
    check_match(&ok, &ok, true);
    let long = "a".repeat(256);
    let o = run(&["match", "#", &long]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: routing key too long: 256 bytes"),
        "{err}"
    );
    let o = run(&["match", &long, "a"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: pattern too long"),
        "{}",
        stderr(&o)
    );
}

#[cfg(unix)]
#[test]
fn non_utf8_argument_is_an_error_with_exit_2() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    // SEMANTICS N1: keys and patterns are UTF-8.
    let o = warren()
        .arg("match")
        .arg("#")
        .arg(OsStr::from_bytes(b"a.\xff"))
        .output()
        .expect("warren runs");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: routing key is not valid UTF-8"),
        "{err}"
    );
    assert!(err.contains("offset 2"), "{err}");
}

#[test]
fn match_without_arguments_is_a_usage_error() {
    let o = run(&["match"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("PATTERN"), "{}", stderr(&o));
    let o = run(&["match", "--batch", "a", "b"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn batch_handles_tricky_lines() {
    let long_key = "b".repeat(256);
    let mut input: Vec<u8> = Vec::new();
    let mut want: Vec<String> = Vec::new();
    let mut case = |line: &[u8], out: &str| {
        input.extend_from_slice(line);
        input.push(b'\n');
        want.push(out.to_owned());
    };
    // SEMANTICS T1: empty pattern = zero words, matches only the empty key.
    case(b"\tx", "0");
    case(b"\t", "1");
    // SEMANTICS T4: `#` matches the empty key; a leading `#` is a pattern, not a comment.
    case(b"#\t", "1");
    case(b"#\ta.b", "1");
    // SEMANTICS T3: `lazy.#` matches `lazy`.
    case(b"lazy.#\tlazy", "1");
    // Nothing is trimmed: `\r` is data on either side.
    case(b"a\tb\r", "0");
    case(b"a\ta\r", "0");
    case(b"a\r\ta\r", "1");
    case(b" a\ta", "0");
    // Split at the FIRST tab: the key may contain tabs.
    case(b"x\ty\tz", "0");
    case(b"x\t\tx", "0");
    case(b"notab", "error: missing tab: expected PATTERN<TAB>KEY");
    case(b"", "error: missing tab: expected PATTERN<TAB>KEY");
    // SEMANTICS N1: invalid UTF-8 and over-long inputs are error lines, not crashes.
    case(
        b"\xff\ta",
        "error: pattern is not valid UTF-8: invalid byte at offset 0",
    );
    case(
        b"a\ta.\xfe",
        "error: routing key is not valid UTF-8: invalid byte at offset 2",
    );
    let long_line = format!("#\t{long_key}");
    case(
        long_line.as_bytes(),
        "error: routing key too long: 256 bytes, at most 255 (bytes 255.. are over the limit)",
    );
    // SEMANTICS T4: `a.*` needs exactly one more word.
    case(b"a.*\ta", "0");
    // A final line without a newline still counts.
    input.extend_from_slice(b"x\tx");
    want.push("1".to_owned());

    let o = run_with_stdin(&["match", "--batch"], &input);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = stdout(&o);
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got, want);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn batch_on_empty_input_prints_nothing() {
    let o = run_with_stdin(&["match", "--batch"], b"");
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
}

#[test]
fn batch_survives_a_closed_stdout() {
    let mut child = warren()
        .args(["match", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("warren runs");
    // Close the reading end before warren writes anything: every write then fails with EPIPE.
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    // Far more output than any buffer holds. warren may exit before reading all of it, so a
    // failed write here is expected.
    let input = b"a.#\ta.b\n".repeat(200_000);
    let _ = stdin.write_all(&input);
    drop(stdin);
    let mut err = String::new();
    stderr_pipe
        .read_to_string(&mut err)
        .expect("stderr readable");
    let status = child.wait().expect("warren finishes");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
    assert_eq!(status.code(), Some(0));
}

/// The fields of a flat JSON object whose values are numbers or `null`.
fn json_fields(json: &str) -> Vec<(String, String)> {
    let body = json
        .trim_end()
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not one JSON object: {json}"));
    body.split(',')
        .map(|field| {
            let (name, value) = field
                .split_once(':')
                .unwrap_or_else(|| panic!("bad field {field}"));
            let name = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .unwrap_or_else(|| panic!("unquoted name {name}"));
            assert!(
                value == "null" || value.parse::<f64>().is_ok(),
                "{name} is not a number: {value}"
            );
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
}

#[test]
fn bench_json_finds_the_reference_destinations_at_1k() {
    // SEMANTICS T3, T4: the seed-42 N=1,000 workload has 55,868 AMQP matches (each binding line
    // its own destination, `#` zero or more words), per the anchor's independent refcount.py.
    let o = run(&["bench", "match", "--n", "1000", "--json", "--repeat", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "one JSON object on one line: {out}");
    let fields = json_fields(&out);
    for name in [
        "bindings",
        "keys",
        "bind_ns",
        "bind_ns_mean",
        "match_ns_distinct",
        "match_ns_hot",
        "destinations_distinct",
        "bytes_per_binding",
        "peak_rss_kib",
    ] {
        let value = field(&fields, name);
        if name != "peak_rss_kib" || cfg!(target_os = "linux") {
            assert_ne!(value, "null", "{name}");
        }
    }
    assert_eq!(field(&fields, "bindings"), "1000");
    assert_eq!(field(&fields, "keys"), "100000");
    assert_eq!(field(&fields, "destinations_distinct"), "55868");
    // The trie holds 1,000 bindings: it must have taken some heap.
    let bytes: f64 = field(&fields, "bytes_per_binding").parse().unwrap();
    assert!(bytes > 0.0, "bytes_per_binding {bytes}");
}

#[test]
fn bench_reads_workload_files() {
    let dir = std::env::temp_dir().join(format!("warren-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bindings = dir.join("bindings.txt");
    let keys = dir.join("keys.txt");
    // Duplicated lines are separate destinations; the keys file lacks its final newline.
    std::fs::write(&bindings, "a.*\na.#\na.#\n#\n").unwrap();
    std::fs::write(&keys, "a.b\na\nc").unwrap();
    let o = run(&[
        "bench",
        "match",
        "--bindings",
        bindings.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--json",
        "--repeat",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let fields = json_fields(&stdout(&o));
    assert_eq!(field(&fields, "bindings"), "4");
    assert_eq!(field(&fields, "keys"), "3");
    // SEMANTICS T3: a.b → a.*, a.#, a.#, # (4); a → a.#, a.#, # (3); c → # (1).
    assert_eq!(field(&fields, "destinations_distinct"), "8");

    // A bad line is an error naming the file's line, exit 2.
    std::fs::write(&bindings, format!("a\n{}\n", "x".repeat(256))).unwrap();
    let o = run(&[
        "bench",
        "match",
        "--bindings",
        bindings.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: bindings line 2: pattern too long"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_warns_when_a_reference_shaped_run_misses_the_reference() {
    // Files shaped like the seed-42 N=1,000 workload (1,000 bindings, 100,000 keys) but drawn
    // from another seed: the total differs from 55,868 and the bench must say so on stderr
    // (while still reporting what it found).
    let w = warren::workload::generate(7, 1_000, 100_000).unwrap();
    let dir = std::env::temp_dir().join(format!("warren-cli-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bindings = dir.join("bindings.txt");
    let keys = dir.join("keys.txt");
    warren::workload::write_file(&bindings, &w.bindings).unwrap();
    warren::workload::write_file(&keys, &w.keys).unwrap();
    let o = run(&[
        "bench",
        "match",
        "--bindings",
        bindings.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--json",
        "--repeat",
        "1",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let fields = json_fields(&stdout(&o));
    let found = field(&fields, "destinations_distinct");
    assert_ne!(found, "55868");
    let err = stderr(&o);
    assert!(
        err.contains(&format!("warning: destinations_distinct is {found}"))
            && err.contains("55868"),
        "{err}"
    );
}

#[test]
fn bench_needs_a_workload() {
    let o = run(&["bench", "match"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "bench",
        "match",
        "--n",
        "10",
        "--bindings",
        "x",
        "--keys",
        "y",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "bench",
        "match",
        "--bindings",
        "/nonexistent/warren/b.txt",
        "--keys",
        "k",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/warren/b.txt"),
        "{}",
        stderr(&o)
    );
}

/// The lines `warren demo` prints for the patterns that work today.
const DEMO_OK: [&str; 8] = [
    "ok 1 simple",
    "ok 2 work queues",
    "ok 2 work queues (restart)",
    "ok 3 publish/subscribe",
    "ok 4 routing",
    "ok 5 topics",
    "ok 6 RPC",
    "ok 7 publisher confirms",
];

#[test]
fn demo_checks_the_seven_patterns() {
    let o = run(&["demo"]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, DEMO_OK, "stderr: {}", stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}");
}

#[test]
fn demo_runs_one_pattern() {
    let o = run(&["demo", "--pattern", "5"]);
    assert_eq!(stdout(&o), "ok 5 topics\n", "stderr: {}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));

    let o = run(&["demo", "--pattern", "2"]);
    assert_eq!(
        stdout(&o),
        format!("{}\n{}\n", DEMO_OK[1], DEMO_OK[2]),
        "stderr: {}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));

    let o = run(&["demo", "--pattern", "7"]);
    assert_eq!(
        stdout(&o),
        "ok 7 publisher confirms\n",
        "stderr: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("individually"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));

    let o = run(&["demo", "--pattern", "8"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["match", "--help"],
        &["bench", "--help"],
        &["bench", "match", "--help"],
        &["demo", "--help"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(stdout(&o).contains("Usage:"), "{args:?}: {}", stdout(&o));
    }
}

// ----- `warren torture` -----

/// Runs `warren torture` on a fresh directory inside a temporary one.
fn torture(extra: &[&str]) -> Output {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let data = scratch.path().join("data");
    let data = data.to_str().expect("a UTF-8 temporary path");
    let mut args = vec!["torture", "--dir", data];
    args.extend_from_slice(extra);
    run(&args)
}

/// The number after `name ` in a summary line.
fn summary_field(line: &str, name: &str) -> u64 {
    let at = line
        .find(&format!("{name} "))
        .unwrap_or_else(|| panic!("no {name:?} in {line:?}"));
    line[at + name.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {name:?} in {line:?}"))
}

/// SEMANTICS S3-S5, C2: a few SIGKILLed children, every confirmed message found again.
#[test]
fn torture_kills_children_and_finds_every_confirmed_message() {
    let o = torture(&[
        "--trials",
        "3",
        "--seed",
        "7",
        "--clean-every",
        "0",
        "--verbose",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\nstderr: {}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "three trial lines and the summary: {out}");
    for (i, line) in lines[..3].iter().enumerate() {
        assert!(
            line.starts_with(&format!("trial {}: kill-ms ", i + 1)),
            "{line}"
        );
    }
    let summary = lines[3];
    assert!(summary.starts_with("trials 3, confirmed "), "{summary}");
    assert!(
        summary.contains(", lost 0, duplicated 0, not-redelivered 0, "),
        "{summary}"
    );
    assert!(
        summary_field(summary, "confirmed") > 0,
        "nothing was confirmed: {summary}"
    );
    assert!(summary_field(summary, "kills") >= 3, "{summary}");
    assert!(summary.ends_with(", seed 7"), "{summary}");
}

/// SEMANTICS X7, S6, L2, L6, A10: the ttl-dlx scenario (a queue with a message TTL and one with
/// `x-max-length`, both dead-lettering into a third, on a clock the child and the parent share):
/// after each kill every confirmed message is exactly once in its queue or the dead-letter
/// queue with the right `x-death`, and what fell due while the process was dead expires at the
/// reopen; the clean close after the last trial keeps the counts.
#[test]
fn torture_with_ttl_and_dead_lettering_keeps_every_message_once() {
    let o = torture(&[
        "--trials",
        "4",
        "--seed",
        "7",
        "--scenario",
        "ttl-dlx",
        "--verbose",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\nstderr: {}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "four trial lines and the summary: {out}");
    for (i, line) in lines[..4].iter().enumerate() {
        let head = format!("trial {}: kill-ms ", i + 1);
        assert!(line.starts_with(&head), "{line}");
        assert!(line.contains(", ttl-dlx, "), "{line}");
    }
    let summary = lines[4];
    assert!(summary.starts_with("trials 4, confirmed "), "{summary}");
    for failure in [
        "lost",
        "duplicated",
        "not-redelivered",
        "out-of-order",
        "unexpected",
        "inconsistent",
        "expired-late",
        "expired-early",
        "malformed",
        "bad-counts",
        "over-limit",
    ] {
        assert_eq!(summary_field(summary, failure), 0, "{failure}: {summary}");
    }
    assert_eq!(summary_field(summary, "ttl-trials"), 4, "{summary}");
    assert_eq!(summary_field(summary, "clean-checks"), 1, "{summary}");
    assert!(
        summary_field(summary, "confirmed") > 0,
        "nothing was confirmed: {summary}"
    );
    assert!(
        summary_field(summary, "dead-lettered") > 0,
        "nothing was dead-lettered: {summary}"
    );
}

/// SEMANTICS S3: the clean-close check (after the last trial) passes too.
#[test]
fn torture_checks_a_clean_close_after_the_last_trial() {
    let o = torture(&["--trials", "3"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\nstderr: {}", stderr(&o));
    let summary = out.lines().last().unwrap_or_default();
    assert!(summary.starts_with("trials 3, confirmed "), "{summary}");
    assert!(summary.contains(", lost 0, "), "{summary}");
    assert_eq!(summary_field(summary, "clean-checks"), 1, "{summary}");
    assert_eq!(summary_field(summary, "inconsistent"), 0, "{summary}");
}

#[test]
fn torture_has_help_and_hides_its_child() {
    let o = run(&["torture", "--help"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let help = stdout(&o);
    for want in [
        "Usage:",
        "--dir",
        "--trials",
        "--seed",
        "--max-kill-ms",
        "--segment-size",
        "--scenario",
        "ttl-dlx",
        "mixed",
    ] {
        assert!(help.contains(want), "{want:?} missing from: {help}");
    }
    let o = run(&[
        "torture",
        "--dir",
        "unused",
        "--trials",
        "1",
        "--scenario",
        "ttl",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown scenario is a usage error"
    );
    let top = stdout(&run(&["--help"]));
    assert!(top.contains("torture"), "{top}");
    assert!(!top.contains("torture-child"), "{top}");
}

#[test]
fn torture_on_a_regular_file_fails_cleanly() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let file = scratch.path().join("not-a-directory");
    std::fs::write(&file, b"x").expect("a regular file");
    let path = file.to_str().expect("a UTF-8 temporary path");
    let o = run(&["torture", "--dir", path, "--trials", "1"]);
    assert_eq!(o.status.code(), Some(2), "stdout: {}", stdout(&o));
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("not-a-directory"),
        "the error names the path: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));

    let o = run(&["torture", "--dir", path, "--trials", "0"]);
    assert_eq!(o.status.code(), Some(2), "--trials 0 is a usage error");
}
