//! [`HeadersTable`]: the headers exchange (SEMANTICS E3), binding arguments matched against the
//! message `headers`.
//!
//! # Matching (SEMANTICS E3, RabbitMQ's `rabbit_exchange_type_headers`)
//!
//! A binding's `x-match` argument says how its *terms* combine: `all` (the default when absent)
//! needs every term to hold, `any` at least one; `all-with-x` and `any-with-x` do the same and
//! also count the arguments whose names start with `x-` as terms, which the plain modes skip.
//! `x-match` itself is never a term. Any other `x-match` value, or one that is not a long
//! string, fails the bind with 406 naming the argument. With no terms `all` matches every message
//! and `any` none; a message without headers matches as an empty table.
//!
//! A term holds when the message has a header of its name and:
//!
//! * the term's value is void: any value (a presence test, void included);
//! * an integer (`I8`..`U64`, any width or signedness): an integer header of the same numeric
//!   value (`U8(1)` matches `I64(1)`);
//! * a float (`F32`, `F64`): a float header equal as an `f64` (`-0.0` matches `0.0`; a NaN term
//!   matches nothing). An integer never matches a float, nor a float an integer;
//! * a long string or byte array: a long-string or byte-array header with the same bytes (both
//!   are binaries in RabbitMQ, which compares their bytes and not their tags);
//! * a boolean: the same boolean; a decimal: a decimal with the same scale and digits (`1.0` and
//!   `1` differ, as RabbitMQ compares the pair);
//! * a timestamp: a timestamp header of the same seconds. **warren:** its own class, unlike an
//!   integer: RabbitMQ 3.x compared a timestamp with integers by value and 4.x converts header
//!   timestamps to milliseconds before comparing, so no cross-type rule is portable;
//! * an array or a table: an identical array or table ([`FieldValue`]'s `==`: element types
//!   count, `[I32(1)]` does not match `[I64(1)]`). RabbitMQ 4.x likewise erases only the type tag
//!   of the header's own value, and compares nested values with their tags.
//!
//! Integers never match floats (RabbitMQ 4.x compares with Erlang's exact `=:=`, SEMANTICS E3's
//! "same type class").
//!
//! # Invariants and algorithm
//!
//! * Bindings are a set of (arguments, destination) pairs, arguments compared by identity
//!   ([`FieldValue`]'s `==`): binding the same pair twice is a no-op and unbinding needs equal
//!   arguments. The binding key plays no part here (the broker layer tracks it).
//! * Arguments are parsed once, at bind time, into a mode and a list of terms with their values
//!   normalised to the class they match (an integer as an `i128`, a float as an `f64`, ...);
//!   routing never looks at `x-match` again.
//! * Copy-on-write: writers serialise on a mutex and publish a fresh list of (shared, immutable)
//!   parsed bindings through [`Published`]; a route loads the list under an epoch guard and scans
//!   it linearly, as RabbitMQ does, skipping bindings whose destination is already in the output.
//!
//! # Limits
//!
//! Routing costs O(bindings × terms × log headers); bind and unbind cost O(bindings) (the
//! duplicate check and the list copy). A headers exchange with very many bindings is better
//! served by a topic exchange, as RabbitMQ's documentation also advises.

use crate::error::Error;
use crate::message::{FieldTable, FieldValue};
use crate::sync::{pin, write, Published, Writing};
use crate::topic::lfmap::bytes_eq;
use crate::topic::DestSet;
use std::hash::Hash;
// `std`'s `Arc`, not one from `crate::sync`: its count is only touched by writers (under the
// writer mutex) and by the epoch collector dropping a retired list, never by a route, so it is
// not part of the lock-free protocol a loom model would check.
use std::sync::{Arc, Mutex};

/// The `x-match` argument's name.
const X_MATCH: &str = "x-match";

/// A headers exchange's bindings: each is a table of arguments and a destination; a message goes
/// to the destinations of every binding its headers match (see the module doc).
///
/// ```
/// use warren::message::FieldTable;
/// use warren::route::HeadersTable;
/// use warren::topic::DestSet;
///
/// let table = HeadersTable::new();
/// table.bind(&FieldTable::new().with("format", "pdf").with("type", "report"), 1u32)?;
/// table.bind(&FieldTable::new().with("x-match", "any").with("format", "pdf").with("type", "log"), 2)?;
///
/// let mut out = DestSet::new();
/// table.route(Some(&FieldTable::new().with("format", "pdf").with("type", "log")), &mut out);
/// assert_eq!(out.as_slice(), [2]);
/// # Ok::<(), warren::Error>(())
/// ```
///
/// # Memory ordering
///
/// Each change is published with one `Release` pointer swap of the whole binding list and each
/// route loads it with `Acquire`: once `bind` or `unbind` has returned, every `route` that starts
/// after it (in happens-before order) sees the change; a concurrent `route` sees the list before
/// or after it, so a binding nobody removes is never missed.
pub struct HeadersTable<D> {
    /// The bindings in bind order; `None` (null) when there are none.
    snapshot: Published<Box<[Arc<Binding<D>>]>>,
    /// The writers' copy of the same list.
    writer: Mutex<Vec<Arc<Binding<D>>>>,
}

/// One parsed binding.
struct Binding<D> {
    /// The arguments as bound: the binding's identity, with `dest`.
    args: FieldTable,
    dest: D,
    /// `x-match` is `any` or `any-with-x` (else `all` or `all-with-x`).
    any: bool,
    /// The arguments that are terms under this binding's mode, in name order.
    terms: Box<[Term]>,
}

/// One argument that is a match term.
struct Term {
    name: Box<str>,
    test: Test,
}

/// What a term asks of the header of its name, its value normalised to the class it matches.
enum Test {
    /// A void term: the header is present.
    Present,
    /// An integer of any width: an integer header of this numeric value.
    Int(i128),
    /// A float of either width: a float header equal as an `f64`.
    Float(f64),
    /// A long string or byte array: either, with these bytes.
    Bytes(Box<[u8]>),
    /// A boolean.
    Bool(bool),
    /// A decimal: the same scale and digits.
    Decimal { scale: u8, value: u32 },
    /// A timestamp: the same seconds.
    Timestamp(u64),
    /// An array or a table: an identical value.
    Exact(FieldValue),
}

impl Test {
    fn new(value: &FieldValue) -> Test {
        if let Some(n) = value.integer() {
            return Test::Int(n);
        }
        match value {
            FieldValue::Void => Test::Present,
            FieldValue::F32(x) => Test::Float(f64::from(*x)),
            FieldValue::F64(x) => Test::Float(*x),
            FieldValue::LongString(b) | FieldValue::ByteArray(b) => Test::Bytes(b[..].into()),
            FieldValue::Bool(b) => Test::Bool(*b),
            FieldValue::Decimal { scale, value } => Test::Decimal {
                scale: *scale,
                value: *value,
            },
            FieldValue::Timestamp(t) => Test::Timestamp(*t),
            // Integers were handled above; arrays and tables compare whole.
            other => Test::Exact(other.clone()),
        }
    }

    #[inline]
    fn accepts(&self, header: &FieldValue) -> bool {
        match self {
            Test::Present => true,
            Test::Int(n) => header.integer() == Some(*n),
            Test::Float(x) => match header {
                FieldValue::F32(y) => f64::from(*y) == *x,
                FieldValue::F64(y) => *y == *x,
                _ => false,
            },
            Test::Bytes(b) => match header {
                FieldValue::LongString(h) | FieldValue::ByteArray(h) => bytes_eq(h, b),
                _ => false,
            },
            Test::Bool(b) => header.as_bool() == Some(*b),
            Test::Decimal { scale, value } => matches!(
                header,
                FieldValue::Decimal { scale: s, value: v } if s == scale && v == value
            ),
            Test::Timestamp(t) => matches!(header, FieldValue::Timestamp(h) if h == t),
            Test::Exact(v) => v == header,
        }
    }
}

impl<D> Binding<D> {
    /// Parses `args` (SEMANTICS E3).
    fn parse(args: &FieldTable, dest: D) -> Result<Binding<D>, Error> {
        let (any, with_x) = match args.get(X_MATCH) {
            None => (false, false),
            Some(FieldValue::LongString(mode)) => match &mode[..] {
                b"all" => (false, false),
                b"any" => (true, false),
                b"all-with-x" => (false, true),
                b"any-with-x" => (true, true),
                _ => {
                    return Err(Error::amqp(
                        406,
                        format!(
                            "invalid x-match field value '{}' in binding arguments; expected \
                             all, any, all-with-x or any-with-x",
                            String::from_utf8_lossy(mode)
                        ),
                    ))
                }
            },
            Some(other) => {
                return Err(Error::amqp(
                    406,
                    format!(
                        "invalid x-match field type {} (value {other}) in binding arguments; \
                         expected long string",
                        other.type_name()
                    ),
                ))
            }
        };
        let terms = args
            .iter()
            .filter(|(name, _)| *name != X_MATCH && (with_x || !name.starts_with("x-")))
            .map(|(name, value)| Term {
                name: name.into(),
                test: Test::new(value),
            })
            .collect();
        Ok(Binding {
            args: args.clone(),
            dest,
            any,
            terms,
        })
    }

    /// Whether a message with `headers` matches.
    #[inline]
    fn matches(&self, headers: Option<&FieldTable>) -> bool {
        let holds = |term: &Term| {
            headers
                .and_then(|h| h.get(&term.name))
                .is_some_and(|value| term.test.accepts(value))
        };
        if self.any {
            self.terms.iter().any(holds)
        } else {
            self.terms.iter().all(holds)
        }
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> HeadersTable<D> {
    /// An empty table.
    pub fn new() -> Self {
        HeadersTable {
            snapshot: Published::null(),
            writer: Mutex::new(Vec::new()),
        }
    }

    /// Binds `dest` with the arguments `args`; returns whether the (arguments, destination)
    /// binding is new (binding twice is a no-op, SEMANTICS E5).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Amqp`](crate::ErrorKind::Amqp) with reply code 406 when `x-match` is
    /// present and is not one of the long strings `all`, `any`, `all-with-x`, `any-with-x`;
    /// nothing changes.
    pub fn bind(&self, args: &FieldTable, dest: D) -> Result<bool, Error> {
        let binding = Binding::parse(args, dest)?;
        let mut list = self.lock();
        if list.iter().any(|b| b.dest == dest && b.args == *args) {
            return Ok(false);
        }
        list.push(Arc::new(binding));
        self.publish(&list);
        Ok(true)
    }

    /// Removes the binding of `dest` with arguments equal to `args`; returns whether it existed
    /// (unbinding a missing binding is a no-op, SEMANTICS E11, even with arguments that could
    /// never have been bound).
    pub fn unbind(&self, args: &FieldTable, dest: D) -> bool {
        let mut list = self.lock();
        let Some(at) = list.iter().position(|b| b.dest == dest && b.args == *args) else {
            return false;
        };
        list.remove(at);
        self.publish(&list);
        true
    }

    /// Adds the destination of every binding that `headers` match to `out` (`None`: a message
    /// without headers, matched as an empty table). Takes no lock.
    pub fn route(&self, headers: Option<&FieldTable>, out: &mut DestSet<D>) {
        let guard = pin();
        let Some(bindings) = self.snapshot.load(&guard) else {
            return;
        };
        for binding in bindings.iter() {
            if !out.contains(&binding.dest) && binding.matches(headers) {
                out.insert(binding.dest);
            }
        }
    }

    /// The number of (arguments, destination) bindings.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Publishes `list` as the new snapshot. Called with the writer mutex held.
    fn publish(&self, list: &[Arc<Binding<D>>]) {
        self.snapshot
            .replace((!list.is_empty()).then(|| Box::from(list)), &pin());
    }

    /// The writer list. Every change runs `D`'s `Eq` and the arguments' comparison before it
    /// mutates anything, and nothing else can panic with the lock held (allocation failure
    /// aborts), so a poisoned lock still guards a consistent list and is taken over.
    fn lock(&self) -> Writing<'_, Vec<Arc<Binding<D>>>> {
        write(&self.writer)
    }
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> Default for HeadersTable<D> {
    fn default() -> Self {
        HeadersTable::new()
    }
}
