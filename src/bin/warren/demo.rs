//! `warren demo`: RabbitMQ's tutorial examples, routed through warren.
//!
//! One function per messaging pattern, listed in [`PATTERNS`]; today only the topic exchange
//! (tutorial 5) exists here, the other patterns arrive with the broker.

use crate::CliError;
use std::io::{self, BufWriter, Write};
use warren::topic::{DestSet, TopicTrie};

/// One messaging pattern's demonstration: its name and the function printing it.
struct Pattern {
    name: &'static str,
    show: fn(&mut dyn Write) -> Result<(), CliError>,
}

/// The demonstrations, in tutorial order.
const PATTERNS: &[Pattern] = &[Pattern {
    name: "topics (tutorial 5)",
    show: topics,
}];

/// Prints every demonstration.
///
/// # Errors
///
/// A failed write, or a routing error (which would be a bug: the inputs are fixed).
pub(crate) fn run() -> Result<(), CliError> {
    let mut out = BufWriter::new(io::stdout().lock());
    for (i, pattern) in PATTERNS.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "== {} ==", pattern.name)?;
        (pattern.show)(&mut out)?;
    }
    out.flush()?;
    Ok(())
}

/// Tutorial 5, topics (SEMANTICS T5): `*.orange.*` → Q1; `*.*.rabbit` and `lazy.#` → Q2.
fn topics(out: &mut dyn Write) -> Result<(), CliError> {
    const BINDINGS: [(&str, &str); 3] =
        [("*.orange.*", "Q1"), ("*.*.rabbit", "Q2"), ("lazy.#", "Q2")];
    const KEYS: [&str; 10] = [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "quick.orange.new.rabbit",
        "lazy.orange.new.rabbit",
        "lazy",
        "orange",
    ];
    let trie: TopicTrie<&'static str> = TopicTrie::new();
    for (pattern, queue) in BINDINGS {
        trie.bind(pattern, queue)?;
        writeln!(out, "bind {pattern} -> {queue}")?;
    }
    let mut routed = DestSet::new();
    for key in KEYS {
        routed.clear();
        trie.route(key, &mut routed)?;
        let mut queues: Vec<&str> = routed.iter().copied().collect();
        queues.sort_unstable();
        writeln!(out, "{key} -> [{}]", queues.join(", "))?;
    }
    writeln!(
        out,
        "note: `#` matches zero or more words (RabbitMQ, AMQP 0-9-1), so `lazy.#` matches \
         `lazy`; `*` matches exactly one word, so `orange` matches nothing; a queue gets one \
         copy however many of its patterns match (`lazy.pink.rabbit`)"
    )?;
    Ok(())
}
