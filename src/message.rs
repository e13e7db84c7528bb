//! AMQP 0-9-1 field tables: the values of message `headers` and of binding, queue and consume
//! arguments, as RabbitMQ uses them.
//!
//! [`FieldValue`] has one variant per field type of RabbitMQ's table grammar (its AMQP 0-9-1
//! errata): booleans, signed and unsigned integers of 8, 16, 32 and 64 bits, 32- and 64-bit
//! floats, decimals, long strings, arrays, timestamps, nested tables, byte arrays and void.
//! [`FieldTable`] maps field names to values, ordered by name.
//!
//! # Invariants
//!
//! * A table holds each name once, iterated in bytewise name order (what RabbitMQ's
//!   `rabbit_misc:sort_field_table` produces before matching). Inserting a name again replaces
//!   its value; RabbitMQ looks up the first of duplicate names on the wire, and an in-process
//!   table has no wire form with duplicates.
//! * `==` on values is *identity*: same variant and same value, floats by bit pattern (so a NaN
//!   equals itself and `0.0 != -0.0`). Binding sets and argument comparisons use it, so a
//!   binding made with some arguments is always found again by an unbind with equal ones. Header
//!   matching uses a looser, type-class rule: see [`route`](crate::route)'s headers exchange.
//!
//! # Limits
//!
//! * There is no short-string variant: RabbitMQ never sends table strings as short strings (its
//!   tag `s` is a signed 16-bit integer), so every table string is a [`FieldValue::LongString`].
//! * Field names are not checked here for AMQP's 255-byte limit: the layer that accepts a table
//!   from a user (the broker, the C ABI) checks what it accepts. Routing code only reads tables.
//! * Long strings hold bytes, not `str`: AMQP long strings need not be UTF-8.
//!   [`FieldValue::as_str`] reads one as UTF-8 where a string is expected.

use std::collections::btree_map::{self, BTreeMap};
use std::fmt;

/// One value of an AMQP 0-9-1 field table, per RabbitMQ's type grammar.
///
/// Values are built with the variants or with `From` (`FieldValue::from(5u8)`,
/// `FieldValue::from("text")`). See the module doc for what `==` means.
#[derive(Clone, Debug)]
pub enum FieldValue {
    /// A boolean (`t`).
    Bool(bool),
    /// A signed 8-bit integer (`b`).
    I8(i8),
    /// An unsigned 8-bit integer (`B`).
    U8(u8),
    /// A signed 16-bit integer (`s` in RabbitMQ's grammar).
    I16(i16),
    /// An unsigned 16-bit integer (`u`).
    U16(u16),
    /// A signed 32-bit integer (`I`).
    I32(i32),
    /// An unsigned 32-bit integer (`i`).
    U32(u32),
    /// A signed 64-bit integer (`l`).
    I64(i64),
    /// An unsigned 64-bit integer (`L` in the AMQP 0-9-1 specification; RabbitMQ has none, and
    /// reads it as a 64-bit integer).
    U64(u64),
    /// A 32-bit IEEE 754 float (`f`).
    F32(f32),
    /// A 64-bit IEEE 754 float (`d`).
    F64(f64),
    /// A decimal (`D`): `value` × 10^-`scale`. Two decimals are the same value only with the
    /// same scale and digits, as in RabbitMQ (`1.0` and `1` differ).
    Decimal {
        /// The number of decimal digits after the point.
        scale: u8,
        /// The unscaled value.
        value: u32,
    },
    /// A long string (`S`): bytes, conventionally UTF-8.
    LongString(Vec<u8>),
    /// An array of values (`A`), possibly of mixed types.
    Array(Vec<FieldValue>),
    /// A timestamp (`T`): seconds since the Unix epoch.
    Timestamp(u64),
    /// A nested table (`F`).
    Table(FieldTable),
    /// A byte array (`x`).
    ByteArray(Vec<u8>),
    /// No value (`V`). As a headers binding argument it asks only that the header be present.
    Void,
}

impl FieldValue {
    /// The AMQP name of this value's type, for messages (`"long string"`, `"signed 32-bit
    /// integer"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Bool(_) => "boolean",
            FieldValue::I8(_) => "signed 8-bit integer",
            FieldValue::U8(_) => "unsigned 8-bit integer",
            FieldValue::I16(_) => "signed 16-bit integer",
            FieldValue::U16(_) => "unsigned 16-bit integer",
            FieldValue::I32(_) => "signed 32-bit integer",
            FieldValue::U32(_) => "unsigned 32-bit integer",
            FieldValue::I64(_) => "signed 64-bit integer",
            FieldValue::U64(_) => "unsigned 64-bit integer",
            FieldValue::F32(_) => "32-bit float",
            FieldValue::F64(_) => "64-bit float",
            FieldValue::Decimal { .. } => "decimal",
            FieldValue::LongString(_) => "long string",
            FieldValue::Array(_) => "array",
            FieldValue::Timestamp(_) => "timestamp",
            FieldValue::Table(_) => "table",
            FieldValue::ByteArray(_) => "byte array",
            FieldValue::Void => "void",
        }
    }

    /// The bytes of a [`LongString`](FieldValue::LongString); `None` for any other type (a
    /// [`ByteArray`](FieldValue::ByteArray) included).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            FieldValue::LongString(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// A [`LongString`](FieldValue::LongString) read as UTF-8; `None` for other types and for a
    /// long string that is not valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Any integer variant as an `i64`, when its value fits (a [`U64`](FieldValue::U64) above
    /// `i64::MAX` does not); `None` for other types. Integer widths are encoding details: a
    /// value's width never changes what it means (SEMANTICS E3, Q2).
    pub fn as_i64(&self) -> Option<i64> {
        self.integer().and_then(|n| i64::try_from(n).ok())
    }

    /// The value of a [`Bool`](FieldValue::Bool).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements of an [`Array`](FieldValue::Array).
    pub fn as_array(&self) -> Option<&[FieldValue]> {
        match self {
            FieldValue::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The table of a [`Table`](FieldValue::Table).
    pub fn as_table(&self) -> Option<&FieldTable> {
        match self {
            FieldValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Whether this is [`Void`](FieldValue::Void).
    pub fn is_void(&self) -> bool {
        matches!(self, FieldValue::Void)
    }

    /// The numeric value of any integer variant (`I8` to `U64`), widened losslessly; `None`
    /// for every other type, timestamps included.
    pub(crate) fn integer(&self) -> Option<i128> {
        match *self {
            FieldValue::I8(n) => Some(i128::from(n)),
            FieldValue::U8(n) => Some(i128::from(n)),
            FieldValue::I16(n) => Some(i128::from(n)),
            FieldValue::U16(n) => Some(i128::from(n)),
            FieldValue::I32(n) => Some(i128::from(n)),
            FieldValue::U32(n) => Some(i128::from(n)),
            FieldValue::I64(n) => Some(i128::from(n)),
            FieldValue::U64(n) => Some(i128::from(n)),
            _ => None,
        }
    }
}

/// Identity: same variant, same value; floats compared by bit pattern (see the module doc).
impl PartialEq for FieldValue {
    fn eq(&self, other: &Self) -> bool {
        use FieldValue as V;
        match (self, other) {
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::I8(a), V::I8(b)) => a == b,
            (V::U8(a), V::U8(b)) => a == b,
            (V::I16(a), V::I16(b)) => a == b,
            (V::U16(a), V::U16(b)) => a == b,
            (V::I32(a), V::I32(b)) => a == b,
            (V::U32(a), V::U32(b)) => a == b,
            (V::I64(a), V::I64(b)) => a == b,
            (V::U64(a), V::U64(b)) => a == b,
            (V::F32(a), V::F32(b)) => a.to_bits() == b.to_bits(),
            (V::F64(a), V::F64(b)) => a.to_bits() == b.to_bits(),
            (
                V::Decimal {
                    scale: sa,
                    value: va,
                },
                V::Decimal {
                    scale: sb,
                    value: vb,
                },
            ) => sa == sb && va == vb,
            (V::LongString(a), V::LongString(b)) => a == b,
            (V::Array(a), V::Array(b)) => a == b,
            (V::Timestamp(a), V::Timestamp(b)) => a == b,
            (V::Table(a), V::Table(b)) => a == b,
            (V::ByteArray(a), V::ByteArray(b)) => a == b,
            (V::Void, V::Void) => true,
            _ => false,
        }
    }
}

/// Floats compare by bit pattern, so identity is reflexive.
impl Eq for FieldValue {}

impl fmt::Display for FieldValue {
    /// A short human form for messages: strings quoted (lossily decoded), arrays and tables
    /// bracketed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Bool(b) => write!(f, "{b}"),
            FieldValue::I8(n) => write!(f, "{n}"),
            FieldValue::U8(n) => write!(f, "{n}"),
            FieldValue::I16(n) => write!(f, "{n}"),
            FieldValue::U16(n) => write!(f, "{n}"),
            FieldValue::I32(n) => write!(f, "{n}"),
            FieldValue::U32(n) => write!(f, "{n}"),
            FieldValue::I64(n) => write!(f, "{n}"),
            FieldValue::U64(n) => write!(f, "{n}"),
            FieldValue::F32(x) => write!(f, "{x}"),
            FieldValue::F64(x) => write!(f, "{x}"),
            FieldValue::Decimal { scale, value } => write!(f, "{value}e-{scale}"),
            FieldValue::LongString(b) | FieldValue::ByteArray(b) => {
                write!(f, "'{}'", String::from_utf8_lossy(b))
            }
            FieldValue::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            FieldValue::Timestamp(t) => write!(f, "timestamp {t}"),
            FieldValue::Table(t) => write!(f, "{t}"),
            FieldValue::Void => f.write_str("void"),
        }
    }
}

macro_rules! from_scalar {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for FieldValue {
            fn from(v: $t) -> FieldValue {
                FieldValue::$variant(v)
            }
        }
    )*};
}

from_scalar! {
    bool => Bool, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, u64 => U64, f32 => F32, f64 => F64, FieldTable => Table,
    Vec<FieldValue> => Array,
}

impl From<&str> for FieldValue {
    /// A [`LongString`](FieldValue::LongString) holding the string's bytes.
    fn from(s: &str) -> FieldValue {
        FieldValue::LongString(s.as_bytes().to_vec())
    }
}

impl From<String> for FieldValue {
    /// A [`LongString`](FieldValue::LongString) holding the string's bytes.
    fn from(s: String) -> FieldValue {
        FieldValue::LongString(s.into_bytes())
    }
}

/// An AMQP field table: names mapped to [`FieldValue`]s, ordered bytewise by name.
///
/// ```
/// use warren::message::{FieldTable, FieldValue};
///
/// let args = FieldTable::new().with("x-match", "any").with("format", "pdf").with("size", 3u8);
/// assert_eq!(args.get("size"), Some(&FieldValue::U8(3)));
/// let names: Vec<&str> = args.iter().map(|(name, _)| name).collect();
/// assert_eq!(names, ["format", "size", "x-match"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldTable {
    entries: BTreeMap<String, FieldValue>,
}

impl FieldTable {
    /// An empty table (allocates nothing).
    pub const fn new() -> FieldTable {
        FieldTable {
            entries: BTreeMap::new(),
        }
    }

    /// This table with `name` set to `value`, replacing any earlier value: the builder form of
    /// [`insert`](Self::insert).
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<FieldValue>) -> FieldTable {
        self.insert(name, value);
        self
    }

    /// Sets `name` to `value`; returns the value it replaces.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        value: impl Into<FieldValue>,
    ) -> Option<FieldValue> {
        self.entries.insert(name.into(), value.into())
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.entries.get(name)
    }

    /// Whether `name` is present (with any value, void included).
    pub fn contains_key(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Removes `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<FieldValue> {
        self.entries.remove(name)
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fields in bytewise name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.entries.iter(),
        }
    }
}

impl fmt::Display for FieldTable {
    /// `{name: value, ...}` in name order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (name, value)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}: {value}")?;
        }
        f.write_str("}")
    }
}

/// The fields of a [`FieldTable`] in name order, from [`FieldTable::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    inner: btree_map::Iter<'a, String, FieldValue>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a FieldValue);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (k.as_str(), v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(k, v)| (k.as_str(), v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a FieldTable {
    type Item = (&'a str, &'a FieldValue);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: Into<String>, V: Into<FieldValue>> FromIterator<(K, V)> for FieldTable {
    /// A table of the pairs; a later pair with a name already seen replaces the earlier value.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> FieldTable {
        let mut table = FieldTable::new();
        table.extend(pairs);
        table
    }
}

impl<K: Into<String>, V: Into<FieldValue>> Extend<(K, V)> for FieldTable {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, pairs: I) {
        for (name, value) in pairs {
            self.insert(name, value);
        }
    }
}
