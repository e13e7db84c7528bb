//! Arbitrary bind / unbind / route / bind_many sequences on a `TopicTrie`, differential against
//! the naive model of `tests/model/topic.rs` (SEMANTICS T1-T4, E5, N1, F4).
//!
//! Words come from a small alphabet (`a`, `b`, ``, `*`, `#`, the literal `a*`, and a 120-byte
//! word so that some topics exceed 255 bytes), at most 8 per topic, destinations 0-3. After every
//! operation the results, `len()` and the routed sets must equal the model's. A failing input is
//! printed (`cargo fuzz fmt`) as Rust that replays it.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::fmt;
use warren::topic::{DestSet, TopicTrie, MAX_LEN};
use warren::ErrorKind;

#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/model/topic.rs"]
mod model;

const MAX_WORDS: usize = 8;
const MAX_OPS: usize = 64;

#[derive(Clone, Copy, Debug)]
enum Word {
    A,
    B,
    Empty,
    Star,
    Hash,
    AStar,
    Long,
}

const WORDS: [Word; 7] = [
    Word::A,
    Word::B,
    Word::Empty,
    Word::Star,
    Word::Hash,
    Word::AStar,
    Word::Long,
];

/// At most [`MAX_WORDS`] words: a length byte, then about a byte per word, so that fuzzer
/// mutations stay meaningful.
#[derive(Clone, Debug)]
struct Topic(Vec<Word>);

impl<'a> Arbitrary<'a> for Topic {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = usize::from(u.arbitrary::<u8>()?) % (MAX_WORDS + 1);
        let mut words = Vec::with_capacity(len);
        for _ in 0..len {
            words.push(*u.choose(&WORDS)?);
        }
        Ok(Topic(words))
    }
}

impl Topic {
    fn text(&self) -> String {
        let words: Vec<String> = self
            .0
            .iter()
            .map(|w| match w {
                Word::A => "a".to_owned(),
                Word::B => "b".to_owned(),
                Word::Empty => String::new(),
                Word::Star => "*".to_owned(),
                Word::Hash => "#".to_owned(),
                Word::AStar => "a*".to_owned(),
                Word::Long => "x".repeat(120),
            })
            .collect();
        words.join(".")
    }
}

#[derive(Arbitrary, Clone, Debug)]
enum Op {
    Bind(Topic, u8),
    Unbind(Topic, u8),
    Route(Topic),
    BindMany(Vec<(Topic, u8)>),
}

#[derive(Arbitrary)]
struct Ops(Vec<Op>);

/// Prints the input as Rust that replays it against the trie.
impl fmt::Debug for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "// replay in a #[test]:")?;
        writeln!(f, "let trie = warren::topic::TopicTrie::new();")?;
        writeln!(f, "let mut out = warren::topic::DestSet::new();")?;
        for op in self.0.iter().take(MAX_OPS) {
            match op {
                Op::Bind(t, d) => writeln!(f, "let _ = trie.bind({:?}, {}u8);", t.text(), d % 4)?,
                Op::Unbind(t, d) => {
                    writeln!(f, "let _ = trie.unbind({:?}, {}u8);", t.text(), d % 4)?
                }
                Op::Route(t) => writeln!(
                    f,
                    "out.clear(); let _ = trie.route({:?}, &mut out); println!(\"{{:?}}\", out);",
                    t.text()
                )?,
                Op::BindMany(b) => {
                    let pairs: Vec<String> = b
                        .iter()
                        .map(|(t, d)| format!("({:?}, {}u8)", t.text(), d % 4))
                        .collect();
                    writeln!(f, "let _ = trie.bind_many([{}]);", pairs.join(", "))?
                }
            }
            writeln!(f, "println!(\"len {{}}\", trie.len());")?;
        }
        Ok(())
    }
}

fn routed(trie: &TopicTrie<u8>, key: &str) -> Vec<u8> {
    let mut out = DestSet::new();
    trie.route(key, &mut out).expect("a valid key routes");
    let mut v = out.as_slice().to_vec();
    v.sort_unstable(); // not deduplicated: a duplicate would differ from the model
    v
}

fuzz_target!(|ops: Ops| {
    let trie = TopicTrie::new();
    let mut naive = model::Bindings::new();
    let mut keys: Vec<String> = Vec::new();
    for op in ops.0.iter().take(MAX_OPS) {
        match op {
            Op::Bind(t, d) => {
                let (p, d) = (t.text(), d % 4);
                if p.len() > MAX_LEN {
                    assert_eq!(trie.bind(&p, d).unwrap_err().kind(), ErrorKind::TooLong);
                } else {
                    assert_eq!(
                        trie.bind(&p, d).unwrap(),
                        naive.bind(&p, d),
                        "bind {p:?} {d}"
                    );
                }
            }
            Op::Unbind(t, d) => {
                let (p, d) = (t.text(), d % 4);
                if p.len() > MAX_LEN {
                    assert_eq!(trie.unbind(&p, d).unwrap_err().kind(), ErrorKind::TooLong);
                } else {
                    assert_eq!(
                        trie.unbind(&p, d).unwrap(),
                        naive.unbind(&p, d),
                        "unbind {p:?} {d}"
                    );
                }
            }
            Op::Route(t) => {
                let k = t.text();
                if k.len() > MAX_LEN {
                    let mut out = DestSet::new();
                    assert_eq!(
                        trie.route(&k, &mut out).unwrap_err().kind(),
                        ErrorKind::TooLong
                    );
                    assert!(out.is_empty());
                } else {
                    assert_eq!(routed(&trie, &k), naive.route(&k), "route {k:?}");
                    keys.push(k);
                }
            }
            Op::BindMany(batch) => {
                let batch: Vec<(String, u8)> =
                    batch.iter().map(|(t, d)| (t.text(), d % 4)).collect();
                let got = trie.bind_many(batch.iter().map(|(p, d)| (p.as_str(), *d)));
                if batch.iter().any(|(p, _)| p.len() > MAX_LEN) {
                    // SEMANTICS F4: all checked first, nothing bound.
                    assert_eq!(got.unwrap_err().kind(), ErrorKind::TooLong);
                } else {
                    let new = batch.iter().filter(|(p, d)| naive.bind(p, *d)).count();
                    assert_eq!(got.unwrap(), new, "bind_many {batch:?}");
                }
            }
        }
        assert_eq!(trie.len(), naive.len(), "len");
    }
    for (p, _) in naive.iter() {
        keys.push(p.to_owned());
    }
    keys.push(String::new());
    for k in &keys {
        assert_eq!(routed(&trie, k), naive.route(k), "final route {k:?}");
    }
});
