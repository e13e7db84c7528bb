//! Exchanges: the binding tables that turn a published message into a set of destinations.
//!
//! One table per exchange type of SEMANTICS E1, each usable on its own and generic over the
//! destination id (a queue id, or an exchange id for exchange-to-exchange bindings):
//!
//! * [`DirectTable`]: binding key equals routing key, byte for byte (`#` and `*` are literal);
//! * [`FanoutTable`]: every bound destination, keys ignored;
//! * [`TopicTable`]: the wildcard trie of [`topic`](crate::topic) (SEMANTICS T);
//! * [`HeadersTable`]: binding arguments matched against the message headers (SEMANTICS E3).
//!
//! [`ExchangeTable`] holds any one of them behind one `bind` / `unbind` / `route` interface,
//! chosen by [`ExchangeType`]; [`route_with_cc`] routes a message under its publish key and
//! the extra keys of its `CC` and `BCC` headers (SEMANTICS P4).
//!
//! # Invariants
//!
//! * **A binding is a set element.** For direct, fanout and topic tables a binding is a
//!   (key, destination) pair; for headers tables an (arguments, destination) pair. Binding a
//!   pair twice is a no-op and `bind` says whether it was new; unbinding a missing pair is a
//!   no-op and `unbind` says whether it existed (SEMANTICS E5, E11). SEMANTICS E5's full identity
//!   is (source, destination, key, arguments): the broker layer above keeps the arguments of
//!   direct, fanout and topic bindings and the keys of headers bindings, and binds a table pair
//!   with the first of its bindings that maps to it and unbinds it with the last.
//! * **One copy per destination.** A routing call adds to a caller-owned [`DestSet`], which
//!   keeps each destination once however many bindings, keys or tables match it; it holds a
//!   handful of destinations without allocating, so routing allocates nothing in the common case.
//! * **Routing takes no lock** and never waits for a writer; writers of one table serialise on
//!   its mutex and never block routing. Each table's `# Memory ordering` section says what a
//!   returned `bind` or `unbind` guarantees to a later `route`.
//! * **Keys are checked** against SEMANTICS N1 (at most 255 bytes) on every call that takes one,
//!   the error naming the input (binding key, pattern or routing key); a failed call changes
//!   nothing and adds nothing to the output.
//!
//! # Limits
//!
//! Exchange-to-exchange bindings and alternate exchanges (SEMANTICS E6, E7) walk a graph of
//! tables; that walk belongs to the broker layer, which calls these tables once per visited
//! exchange into one [`DestSet`].

mod direct;
mod fanout;
mod headers;
mod topic;

pub use direct::DirectTable;
pub use fanout::FanoutTable;
pub use headers::HeadersTable;
pub use topic::TopicTable;

use crate::error::{Error, Input};
use crate::message::{FieldTable, FieldValue};
use crate::topic::{check_len, validate_bytes, DestSet};
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

/// The type of an exchange (SEMANTICS E1).
///
/// ```
/// use warren::route::ExchangeType;
///
/// assert_eq!("topic".parse::<ExchangeType>()?, ExchangeType::Topic);
/// let err = "x-consistent-hash".parse::<ExchangeType>().unwrap_err();
/// assert_eq!(err.reply_code(), Some(406));
/// # Ok::<(), warren::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExchangeType {
    /// `direct`: routing key equals binding key.
    Direct,
    /// `fanout`: every binding, keys ignored.
    Fanout,
    /// `topic`: binding keys are patterns (SEMANTICS T).
    Topic,
    /// `headers`: binding arguments match message headers (SEMANTICS E3).
    Headers,
}

impl ExchangeType {
    /// Every type, in the order of SEMANTICS E1.
    pub const ALL: [ExchangeType; 4] = [
        ExchangeType::Direct,
        ExchangeType::Fanout,
        ExchangeType::Topic,
        ExchangeType::Headers,
    ];

    /// The AMQP name: `direct`, `fanout`, `topic` or `headers`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeType::Direct => "direct",
            ExchangeType::Fanout => "fanout",
            ExchangeType::Topic => "topic",
            ExchangeType::Headers => "headers",
        }
    }

    /// Whether routing depends on the routing key (direct and topic); fanout and headers
    /// exchanges ignore it.
    pub fn uses_routing_key(self) -> bool {
        matches!(self, ExchangeType::Direct | ExchangeType::Topic)
    }
}

impl FromStr for ExchangeType {
    type Err = Error;

    /// Parses an AMQP exchange type name, exactly (case matters, as in RabbitMQ).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Amqp`](crate::ErrorKind::Amqp) with reply code 406 for any other name
    /// (SEMANTICS E1), the message quoting it.
    fn from_str(name: &str) -> Result<ExchangeType, Error> {
        match name {
            "direct" => Ok(ExchangeType::Direct),
            "fanout" => Ok(ExchangeType::Fanout),
            "topic" => Ok(ExchangeType::Topic),
            "headers" => Ok(ExchangeType::Headers),
            _ => Err(Error::amqp(406, format!("invalid exchange type '{name}'"))),
        }
    }
}

impl fmt::Display for ExchangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bindings of one exchange of any type, behind one interface.
///
/// ```
/// use warren::message::FieldTable;
/// use warren::route::{ExchangeTable, ExchangeType};
/// use warren::topic::DestSet;
///
/// let table = ExchangeTable::new("topic".parse::<ExchangeType>()?);
/// table.bind("*.orange.*", &FieldTable::new(), 1u32)?;
/// table.bind("lazy.#", &FieldTable::new(), 2)?;
/// let mut out = DestSet::new();
/// table.route("lazy.orange.fox", None, &mut out)?;
/// let mut got = out.as_slice().to_vec();
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// # Ok::<(), warren::Error>(())
/// ```
///
/// # Memory ordering
///
/// That of the table inside: a returned `bind` or `unbind` is seen by every `route` that starts
/// after it (in happens-before order); a concurrent `route` never misses a binding nobody is
/// changing.
pub enum ExchangeTable<D> {
    /// A direct exchange's table.
    Direct(DirectTable<D>),
    /// A fanout exchange's table.
    Fanout(FanoutTable<D>),
    /// A topic exchange's table.
    Topic(TopicTable<D>),
    /// A headers exchange's table.
    Headers(HeadersTable<D>),
}

impl<D: Copy + Eq + Hash + Send + Sync + 'static> ExchangeTable<D> {
    /// An empty table for an exchange of type `kind`.
    pub fn new(kind: ExchangeType) -> Self {
        match kind {
            ExchangeType::Direct => ExchangeTable::Direct(DirectTable::new()),
            ExchangeType::Fanout => ExchangeTable::Fanout(FanoutTable::new()),
            ExchangeType::Topic => ExchangeTable::Topic(TopicTable::new()),
            ExchangeType::Headers => ExchangeTable::Headers(HeadersTable::new()),
        }
    }

    /// The exchange type.
    pub fn kind(&self) -> ExchangeType {
        match self {
            ExchangeTable::Direct(_) => ExchangeType::Direct,
            ExchangeTable::Fanout(_) => ExchangeType::Fanout,
            ExchangeTable::Topic(_) => ExchangeType::Topic,
            ExchangeTable::Headers(_) => ExchangeType::Headers,
        }
    }

    /// Binds `dest` with binding key `key` and arguments `args`; returns whether the binding is
    /// new. Direct, fanout and topic tables ignore `args` (a binding is a (key, destination)
    /// pair); headers tables ignore `key` (an (arguments, destination) pair).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) when `key` is over 255 bytes (named as
    /// a pattern for topic tables, a binding key otherwise); for headers tables, 406 for an
    /// invalid `x-match` (SEMANTICS E3). Nothing changes on error.
    pub fn bind(&self, key: &str, args: &FieldTable, dest: D) -> Result<bool, Error> {
        match self {
            ExchangeTable::Direct(t) => t.bind(key, dest),
            ExchangeTable::Fanout(t) => t.bind(key, dest),
            ExchangeTable::Topic(t) => t.bind(key, dest),
            ExchangeTable::Headers(t) => {
                check_len(key, Input::BindingKey)?;
                t.bind(args, dest)
            }
        }
    }

    /// Removes the binding made by [`bind`](Self::bind) with the same key (direct, fanout,
    /// topic) or equal arguments (headers); returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) when `key` is over 255 bytes. An
    /// invalid `x-match` is no error here: no such binding can exist, so nothing is removed.
    pub fn unbind(&self, key: &str, args: &FieldTable, dest: D) -> Result<bool, Error> {
        match self {
            ExchangeTable::Direct(t) => t.unbind(key, dest),
            ExchangeTable::Fanout(t) => t.unbind(key, dest),
            ExchangeTable::Topic(t) => t.unbind(key, dest),
            ExchangeTable::Headers(t) => {
                check_len(key, Input::BindingKey)?;
                Ok(t.unbind(args, dest))
            }
        }
    }

    /// Adds the destinations of a message with `routing_key` and `headers` to `out`, each once.
    /// Direct and topic tables ignore `headers`, fanout and headers tables `routing_key`
    /// (whose length is still checked). Takes no lock. For `CC` and `BCC`, see
    /// [`route_with_cc`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) naming the routing key when it is over
    /// 255 bytes; `out` is unchanged.
    pub fn route(
        &self,
        routing_key: &str,
        headers: Option<&FieldTable>,
        out: &mut DestSet<D>,
    ) -> Result<(), Error> {
        match self {
            ExchangeTable::Direct(t) => t.route(routing_key, out),
            ExchangeTable::Topic(t) => t.route(routing_key, out),
            ExchangeTable::Fanout(t) => {
                check_len(routing_key, Input::RoutingKey)?;
                t.route(out);
                Ok(())
            }
            ExchangeTable::Headers(t) => {
                check_len(routing_key, Input::RoutingKey)?;
                t.route(headers, out);
                Ok(())
            }
        }
    }

    /// The number of bindings.
    pub fn len(&self) -> usize {
        match self {
            ExchangeTable::Direct(t) => t.len(),
            ExchangeTable::Fanout(t) => t.len(),
            ExchangeTable::Topic(t) => t.len(),
            ExchangeTable::Headers(t) => t.len(),
        }
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The headers that carry extra routing keys (SEMANTICS P4), in the order they are routed.
pub const ROUTING_HEADERS: [&str; 2] = ["CC", "BCC"];

/// Every routing key of a published message: the publish key, then the string entries of its
/// `CC` array, then those of its `BCC` array (SEMANTICS P4), as [`routing_keys`] checked them.
///
/// Duplicates are kept (routing a key twice adds nothing to a [`DestSet`]). Iterating
/// allocates nothing.
#[derive(Clone, Debug)]
pub struct RoutingKeys<'a> {
    first: Option<&'a str>,
    cc: std::slice::Iter<'a, FieldValue>,
    bcc: std::slice::Iter<'a, FieldValue>,
}

impl<'a> Iterator for RoutingKeys<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if let Some(key) = self.first.take() {
            return Some(key);
        }
        self.cc
            .by_ref()
            .chain(self.bcc.by_ref())
            .find_map(header_key)
    }
}

/// The routing key in one `CC` / `BCC` array entry: long strings only, as RabbitMQ's
/// `rabbit_basic:header_routes`, which skips entries of other types.
fn header_key(entry: &FieldValue) -> Option<&str> {
    // `routing_keys` has checked every long-string entry, so this never skips one.
    entry
        .as_bytes()
        .and_then(|bytes| validate_bytes(bytes, Input::RoutingKey).ok())
}

/// The array of a routing header, checked: every long-string entry must be a valid routing key.
fn routing_header<'a>(
    headers: Option<&'a FieldTable>,
    name: &str,
) -> Result<&'a [FieldValue], Error> {
    let Some(value) = headers.and_then(|h| h.get(name)) else {
        return Ok(&[]);
    };
    let Some(entries) = value.as_array() else {
        // RabbitMQ refuses the publish: `rabbit_basic:header_routes` throws
        // `unacceptable_type_in_header`, which the channel turns into a 406.
        return Err(Error::amqp(
            406,
            format!(
                "invalid message: header '{name}' is a {}, expected an array",
                value.type_name()
            ),
        ));
    };
    for bytes in entries.iter().filter_map(FieldValue::as_bytes) {
        validate_bytes(bytes, Input::RoutingKey)?;
    }
    Ok(entries)
}

/// Checks the routing keys of a message published with `routing_key` and `headers` and returns
/// them all: the publish key and the long-string entries of the `CC` and `BCC` array headers
/// (SEMANTICS P4). Entries of other types are skipped, as in RabbitMQ.
///
/// # Errors
///
/// [`ErrorKind::TooLong`](crate::ErrorKind::TooLong) or
/// [`ErrorKind::InvalidUtf8`](crate::ErrorKind::InvalidUtf8) naming the routing key when the
/// publish key or an entry is not a valid key (SEMANTICS N1); 406 when `CC` or `BCC` is present
/// and not an array (RabbitMQ refuses such a message).
pub fn routing_keys<'a>(
    routing_key: &'a str,
    headers: Option<&'a FieldTable>,
) -> Result<RoutingKeys<'a>, Error> {
    check_len(routing_key, Input::RoutingKey)?;
    let [cc, bcc] = ROUTING_HEADERS;
    let cc = routing_header(headers, cc)?;
    let bcc = routing_header(headers, bcc)?;
    Ok(RoutingKeys {
        first: Some(routing_key),
        cc: cc.iter(),
        bcc: bcc.iter(),
    })
}

/// Routes a message through `table` under all its routing keys, the publish key and those of
/// its `CC` and `BCC` headers, into one [`DestSet`]: the union, one copy per destination
/// (SEMANTICS P4, T2). Fanout and headers tables ignore keys and are routed once.
///
/// Every key is checked before anything is routed, so on error `out` is unchanged. Removing
/// `BCC` before delivery is the caller's job.
///
/// ```
/// use warren::message::{FieldTable, FieldValue};
/// use warren::route::{route_with_cc, ExchangeTable, ExchangeType};
/// use warren::topic::DestSet;
///
/// let table = ExchangeTable::new(ExchangeType::Direct);
/// for (key, dest) in [("a", 1u32), ("b", 2), ("c", 3)] {
///     table.bind(key, &FieldTable::new(), dest)?;
/// }
/// let headers = FieldTable::new()
///     .with("CC", vec![FieldValue::from("b")])
///     .with("BCC", vec![FieldValue::from("c"), FieldValue::from("a")]);
/// let mut out = DestSet::new();
/// route_with_cc(&table, "a", Some(&headers), &mut out)?;
/// assert_eq!(out.as_slice(), [1, 2, 3]);
/// # Ok::<(), warren::Error>(())
/// ```
///
/// # Errors
///
/// As [`routing_keys`]; `out` is unchanged.
pub fn route_with_cc<D: Copy + Eq + Hash + Send + Sync + 'static>(
    table: &ExchangeTable<D>,
    routing_key: &str,
    headers: Option<&FieldTable>,
    out: &mut DestSet<D>,
) -> Result<(), Error> {
    let keys = routing_keys(routing_key, headers)?;
    if !table.kind().uses_routing_key() {
        return table.route(routing_key, headers, out);
    }
    for key in keys {
        table.route(key, headers, out)?;
    }
    Ok(())
}
