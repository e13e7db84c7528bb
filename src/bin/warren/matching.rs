//! `warren match`: one pattern against one key, or a batch of `PATTERN<TAB>KEY` lines.
//!
//! Both go through the production matcher, a fresh [`TopicTrie`](warren::topic::TopicTrie)
//! per pair ([`warren::topic::is_match`]), and validate raw bytes with
//! [`warren::topic::validate_bytes`], so an over-long or non-UTF-8 input is an error line, never
//! a crash.

use crate::CliError;
use std::ffi::OsStr;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use warren::topic::{is_match, validate_bytes};
use warren::Input;

/// `warren match PATTERN KEY`: prints `match` (exit 0) or `no match` (exit 1).
///
/// # Errors
///
/// An invalid pattern or key (the caller prints it and exits 2), or a failed write.
pub(crate) fn single(pattern: &OsStr, key: &OsStr) -> Result<ExitCode, CliError> {
    // On Unix these are the argument's bytes as given; elsewhere, valid UTF-8 is kept as is.
    let pattern = validate_bytes(pattern.as_encoded_bytes(), Input::Pattern)?;
    let key = validate_bytes(key.as_encoded_bytes(), Input::RoutingKey)?;
    let matched = is_match(pattern, key)?;
    let (text, code) = if matched {
        ("match", ExitCode::SUCCESS)
    } else {
        ("no match", ExitCode::from(1))
    };
    match writeln!(io::stdout().lock(), "{text}") {
        // The exit status still answers the question when nobody reads stdout.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(code),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(code),
    }
}

/// `warren match --batch`: one output line per stdin line.
///
/// # Errors
///
/// Failing to read stdin or to write stdout.
pub(crate) fn batch() -> Result<(), CliError> {
    let mut input = io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = Vec::new();
    while warren::workload::read_line(&mut input, &mut line)
        .map_err(|e| CliError::new(format!("reading stdin: {e}")))?
    {
        match batch_line(&line) {
            Ok(true) => out.write_all(b"1\n")?,
            Ok(false) => out.write_all(b"0\n")?,
            Err(reason) => writeln!(out, "error: {reason}")?,
        }
    }
    out.flush()?;
    Ok(())
}

/// Whether the pattern before the line's first tab matches the key after it.
fn batch_line(line: &[u8]) -> Result<bool, String> {
    let tab = line
        .iter()
        .position(|&b| b == b'\t')
        .ok_or_else(|| "missing tab: expected PATTERN<TAB>KEY".to_owned())?;
    let pattern = validate_bytes(&line[..tab], Input::Pattern).map_err(|e| e.to_string())?;
    let key = validate_bytes(&line[tab + 1..], Input::RoutingKey).map_err(|e| e.to_string())?;
    is_match(pattern, key).map_err(|e| e.to_string())
}
