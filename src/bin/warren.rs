//! `warren`: the command-line face of the warren routing engine.
//!
//! * `warren match PATTERN KEY` tests one topic pattern against one routing key through the
//!   production trie: prints `match` (exit 0) or `no match` (exit 1); an invalid pattern or key
//!   (over 255 bytes, not UTF-8) prints `error: <reason>` on stderr and exits 2.
//! * `warren match --batch` reads `PATTERN<TAB>KEY` lines from stdin and prints `1`, `0` or
//!   `error: <reason>` for each.
//! * `warren bench match` measures the trie on the shared workload (generated, or from files):
//!   bind cost, routing cost over distinct and hot keys, heap per binding and peak RSS.
//! * `warren demo` runs the seven messaging patterns of RabbitMQ's tutorials in-process and
//!   checks each: one line per pattern, `ok <n> <name>` or `FAIL <n> <name>: <why>`; exit 0 only
//!   if all pass (1 otherwise). `--pattern N` runs one.
//! * `warren torture --dir DIR --trials N` crash-tests the durable store: a child process
//!   publishes with confirms and consumes, is killed with SIGKILL at a random moment, and the
//!   reopened directory must hold every confirmed message not settled; one summary line
//!   (`trials N, confirmed C, lost L, ...`), exit 0 only if nothing failed (1 otherwise).
//!
//! Topic patterns follow RabbitMQ: `*` matches exactly one word and `#` matches **zero** or
//! more words, so `lazy.#` matches `lazy` (SEMANTICS T3).
//!
//! Exit status: 0 success (or a match), 1 no match, a failed demo pattern or a failed torture
//! check, 2 an invalid input, a usage error or an I/O error. A closed stdout
//! (`warren ... | head`) ends the program quietly.
#![deny(unsafe_code)]

// The counting global allocator is the one place this binary needs `unsafe`: implementing
// `GlobalAlloc` is an unsafe trait. Each block there says which caller condition it relies on.
// (A crate root's modules resolve beside it, in src/bin/, hence the `path`s: the files live in
// src/bin/warren/ with this binary.)
#[allow(unsafe_code)]
#[path = "warren/alloc.rs"]
mod alloc;
#[path = "warren/bench.rs"]
mod bench;
#[path = "warren/demo.rs"]
mod demo;
#[path = "warren/matching.rs"]
mod matching;
#[path = "warren/torture.rs"]
mod torture;

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Every allocation of the process goes through the counter, so `bench match` can measure the
/// trie's heap.
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// warren: embeddable message routing with RabbitMQ's semantics.
///
/// Topic patterns: words are separated by `.`, `*` matches exactly one word and `#` matches
/// zero or more words (RabbitMQ, AMQP 0-9-1), so `lazy.#` matches `lazy`.
#[derive(Parser, Debug)]
#[command(name = "warren", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Test a topic pattern against a routing key (or many, with --batch).
    #[command(after_help = MATCH_AFTER_HELP)]
    Match(MatchArgs),
    /// Measure warren's routing structures.
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
    /// Run RabbitMQ's seven tutorial patterns in-process and check each one.
    #[command(after_help = DEMO_AFTER_HELP)]
    Demo(DemoArgs),
    /// Crash-test the durable store: SIGKILL a publishing child, reopen, check what survived.
    #[command(after_help = torture::AFTER_HELP)]
    Torture(TortureArgs),
    /// The child process of `warren torture` (internal).
    #[command(hide = true)]
    TortureChild(TortureChildArgs),
}

/// Arguments of `warren torture`.
#[derive(Args, Debug)]
struct TortureArgs {
    /// The data directory (created if missing; its torture.* queues and exchange are deleted
    /// first).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,

    /// How many crash trials to run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    trials: u32,

    /// The seed of the kill delays and of every random choice (default: from the clock; the
    /// summary prints it).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,

    /// The child is killed after a random delay between 20 ms and this many ms.
    #[arg(
        long,
        value_name = "M",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    max_kill_ms: u64,

    /// The store's segment size: small segments roll and compact during the trials.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 64 * 1024,
        value_parser = clap::value_parser!(u64).range(4096..)
    )]
    segment_size: u64,

    /// Every N trials (and after the last one) also reopen right after the clean close and
    /// check that the report says clean and the messages kept their flags; 0: never.
    #[arg(long, value_name = "N", default_value_t = 10)]
    clean_every: u32,

    /// The workload: `plain` (two queues, some messages in both), `ttl-dlx` (a queue with a
    /// message TTL and one with x-max-length, dead-lettering into a third) or `mixed` (each
    /// trial picks one).
    #[arg(long, value_enum, value_name = "SCENARIO", default_value_t = torture::Scenario::Mixed)]
    scenario: torture::Scenario,

    /// Print one line per trial.
    #[arg(long, short)]
    verbose: bool,
}

/// Arguments of `warren torture-child`, set by `warren torture`.
#[derive(Args, Debug)]
struct TortureChildArgs {
    /// The data directory.
    #[arg(long)]
    dir: PathBuf,
    /// This child's number: the first part of its message ids.
    #[arg(long)]
    generation: u32,
    /// The run's seed.
    #[arg(long)]
    seed: u64,
    /// The store's segment size.
    #[arg(long)]
    segment_size: u64,
    /// The parent's `--max-kill-ms`: past it (and a grace) the child gives up by itself.
    #[arg(long)]
    max_kill_ms: u64,
    /// The workload (`plain` or `ttl-dlx`).
    #[arg(long, value_enum)]
    scenario: torture::Scenario,
    /// Where the child's manual clock starts, ms since the epoch.
    #[arg(long)]
    start_ms: u64,
}

const DEMO_AFTER_HELP: &str = "\
Prints one line per pattern: `ok <n> <name>` or `FAIL <n> <name>: <why>`.
Exit status: 0 if every pattern passed, 1 otherwise.";

/// Arguments of `warren demo`.
#[derive(Args, Debug)]
struct DemoArgs {
    /// Run only pattern N (1 simple, 2 work queues, 3 publish/subscribe, 4 routing, 5 topics,
    /// 6 RPC, 7 publisher confirms).
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u8).range(1..=i64::from(demo::LAST_PATTERN))
    )]
    pattern: Option<u8>,
}

const MATCH_AFTER_HELP: &str = "\
Exit status: 0 match, 1 no match, 2 invalid pattern or key (printed as `error: <reason>`).
With --batch: one output line per input line (`1`, `0` or `error: <reason>`), exit 0 unless
stdin cannot be read.

A pattern may be empty or start with `#` or `-`: `warren match '#' ''` matches (`#` is zero or
more words and the empty key has zero words). Quote patterns for the shell.";

/// Arguments of `warren match`.
#[derive(Args, Debug)]
#[command(override_usage = "warren match <PATTERN> <KEY>\n       warren match --batch < LINES")]
struct MatchArgs {
    /// Read `PATTERN<TAB>KEY` lines from stdin instead: split at the first tab, nothing trimmed,
    /// only `\n` ends a line; print `1`, `0` or `error: <reason>` per line.
    #[arg(long, conflicts_with_all = ["pattern", "key"])]
    batch: bool,

    /// The binding pattern, e.g. `*.orange.*` or `lazy.#` (may be empty).
    #[arg(required_unless_present = "batch", allow_hyphen_values = true)]
    pattern: Option<OsString>,

    /// The routing key, e.g. `quick.orange.rabbit` (may be empty: zero words).
    #[arg(required_unless_present = "batch", allow_hyphen_values = true)]
    key: Option<OsString>,
}

/// What `warren bench` measures.
#[derive(Subcommand, Debug)]
enum BenchTarget {
    /// Bind a workload into a topic trie one binding at a time, then route its keys.
    #[command(after_help = bench::AFTER_HELP)]
    Match(BenchMatchArgs),
}

/// Arguments of `warren bench match`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["bindings", "n"])))]
struct BenchMatchArgs {
    /// Binding patterns, one per line; line i is bound to destination i.
    #[arg(long, value_name = "FILE", requires = "keys")]
    bindings: Option<PathBuf>,

    /// Routing keys, one per line.
    #[arg(long, value_name = "FILE", requires = "bindings")]
    keys: Option<PathBuf>,

    /// Generate the shared workload with N bindings instead of reading files.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    n: Option<u64>,

    /// Seed of the generated workload.
    #[arg(long, default_value_t = warren::workload::DEFAULT_SEED, conflicts_with = "bindings")]
    seed: u64,

    /// Number of routing keys of the generated workload.
    #[arg(
        long,
        value_name = "K",
        default_value_t = 100_000,
        value_parser = clap::value_parser!(u64).range(1..),
        conflicts_with = "bindings"
    )]
    keys_count: u64,

    /// Run the routing passes R times and report the median.
    #[arg(
        long,
        value_name = "R",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    repeat: u32,

    /// Print one JSON object (numbers only) instead of a table.
    #[arg(long)]
    json: bool,
}

/// A failure that ends the program with exit status 2 (or quietly, for a closed stdout).
#[derive(Debug)]
struct CliError {
    message: String,
    /// Writing to stdout failed because its reader went away: end quietly.
    broken_pipe: bool,
}

impl CliError {
    fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            broken_pipe: false,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// An error writing the output (stdout).
impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError {
            broken_pipe: e.kind() == io::ErrorKind::BrokenPipe,
            message: format!("writing output: {e}"),
        }
    }
}

impl From<warren::Error> for CliError {
    fn from(e: warren::Error) -> Self {
        CliError::new(e.to_string())
    }
}

impl From<warren::workload::WorkloadError> for CliError {
    fn from(e: warren::workload::WorkloadError) -> Self {
        CliError::new(e.to_string())
    }
}

/// Writes one line to stderr, ignoring failure: diagnostics must not turn into a panic.
fn note(line: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Match(args) => {
            if args.batch {
                matching::batch()?;
                Ok(ExitCode::SUCCESS)
            } else {
                match (args.pattern, args.key) {
                    (Some(pattern), Some(key)) => matching::single(&pattern, &key),
                    // clap requires both unless --batch.
                    _ => Err(CliError::new("match needs PATTERN and KEY, or --batch")),
                }
            }
        }
        Command::Bench {
            target: BenchTarget::Match(args),
        } => {
            bench::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => demo::run(args.pattern),
        Command::Torture(args) => torture::run(&args),
        Command::TortureChild(args) => Ok(torture::child(&args)),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.broken_pipe => ExitCode::SUCCESS,
        Err(e) => {
            note(format_args!("error: {e}"));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
