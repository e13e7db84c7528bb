//! The bytes of one log record: a checksummed frame around a compact payload (see `record` for
//! what each record means).
//!
//! # Format
//!
//! A frame is `[u32 payload length][u32 CRC-32 of the payload][payload]`, both numbers little
//! endian; the checksum is CRC-32/IEEE (`crc32fast`). The payload is one record tag byte
//! (`Exchange` 1, `ExchangeGone` 2, `Queue` 3, `QueueGone` 4, `Bind` 5, `Unbind` 6,
//! `Message` 7, `Settle` 8, `Requeue` 9, `Shutdown` 10) followed by the record's fields in
//! declaration order:
//!
//! * ids, counts and lengths, and the `u32` redelivery counts: unsigned LEB128 varints, minimal;
//! * bools: one byte, 0 or 1; an exchange type: one byte (direct 0, fanout 1, topic 2,
//!   headers 3); a [`DestId`]: one byte (queue 0, exchange 1) then the id;
//! * strings: a varint byte length, then UTF-8; a body: a varint length, then its bytes;
//! * lists (`queues`, `refs`, `entries`): a varint count, then the elements;
//! * a [`FieldTable`]: a varint count, then each field's name (a string) and value, names in
//!   the table's own order (strictly ascending bytes); a [`FieldValue`]: its AMQP type letter
//!   (`t b B s u I i l L f d D S A T F x V`, as in `message`) then its contents: numbers in
//!   fixed-width little endian (floats as their bit pattern, so every NaN comes back as
//!   itself), a decimal as its scale byte and `u32` value, long strings and byte arrays as a
//!   varint length and bytes, arrays as a varint count and values, tables as above, void as
//!   nothing;
//! * `properties`: one byte, 0 for `None` or 1 for `Some`, then a `u16` little-endian bitmask
//!   (bit *i* for the *i*-th field of [`BasicProperties`], `content_type` first, `cluster_id`
//!   bit 13) and each present field in that order: strings and `headers` as above,
//!   `delivery_mode` and `priority` one byte, `timestamp` a varint.
//!
//! # Invariants
//!
//! * `decode(encode(r))` is `r` exactly, and consumes every byte `encode` appended.
//! * The encoding is canonical: `decode` accepts one byte string per record and refuses every
//!   other (overlong varints, bools other than 0 or 1, unsorted or repeated field names,
//!   unknown bits, trailing bytes), so a frame that decodes re-encodes to the same bytes.
//! * `decode` never panics, and allocates in proportion to the bytes it was given: every
//!   length and count is checked against the bytes left before anything is reserved for it.
//!
//! # Limits
//!
//! * Tables and arrays nest at most [`MAX_DEPTH`] deep (a record's own table is level 1): a
//!   deeper payload decodes as corrupt, which bounds `decode`'s recursion. `encode` cannot
//!   refuse a record, and writes deeper values anyway (it walks them with a heap stack, so even
//!   a value nested 100,000 deep cannot overflow the call stack): whoever persists a table must
//!   keep it within the limit, or its record will not be read back.
//! * The length prefix has no checksum of its own: a length damaged to a larger value looks
//!   like a torn tail ([`Decoded::Torn`]) when its frame is last in the buffer. A reader tells a
//!   torn tail from damage by where it occurs.
//! * A frame of zeroes (a preallocated, never-written tail) passes its checksum (the CRC of no
//!   bytes is 0) and decodes as [`Decoded::Corrupt`]: an empty payload has no record tag.

use super::record::{DestId, Record};
use crate::broker::BasicProperties;
use crate::message::{self, FieldTable, FieldValue};
use crate::route::ExchangeType;
use bytes::Bytes;
use smallvec::SmallVec;

/// Bytes of framing before a payload.
pub(crate) const HEADER: usize = 8;

/// The largest payload accepted on decode (guards allocation on corrupt input): 1 GiB.
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;

/// The deepest nesting of tables and arrays a payload may hold, a record's own table being
/// level 1.
const MAX_DEPTH: usize = crate::broker::properties::MAX_NESTING;

// Record tags: the first byte of a payload. 0 is never a tag.
const REC_EXCHANGE: u8 = 1;
const REC_EXCHANGE_GONE: u8 = 2;
const REC_QUEUE: u8 = 3;
const REC_QUEUE_GONE: u8 = 4;
const REC_BIND: u8 = 5;
const REC_UNBIND: u8 = 6;
const REC_MESSAGE: u8 = 7;
const REC_SETTLE: u8 = 8;
const REC_REQUEUE: u8 = 9;
const REC_SHUTDOWN: u8 = 10;

// Field value tags: the AMQP type letters of `message::FieldValue`'s docs.
const V_BOOL: u8 = b't';
const V_I8: u8 = b'b';
const V_U8: u8 = b'B';
const V_I16: u8 = b's';
const V_U16: u8 = b'u';
const V_I32: u8 = b'I';
const V_U32: u8 = b'i';
const V_I64: u8 = b'l';
const V_U64: u8 = b'L';
const V_F32: u8 = b'f';
const V_F64: u8 = b'd';
const V_DECIMAL: u8 = b'D';
const V_LONG_STRING: u8 = b'S';
const V_ARRAY: u8 = b'A';
const V_TIMESTAMP: u8 = b'T';
const V_TABLE: u8 = b'F';
const V_BYTE_ARRAY: u8 = b'x';
const V_VOID: u8 = b'V';

/// The bits of the properties mask that name fields (14 of them).
const PROPERTY_BITS: u16 = (1 << 14) - 1;

/// A record too large for the log: its payload would exceed [`MAX_PAYLOAD`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooLarge(pub(crate) usize);

/// Appends `rec`, framed, to `out`.
///
/// # Errors
///
/// If the payload would exceed [`MAX_PAYLOAD`] (a body near 1 GiB, or tables as large), which
/// `decode` would refuse: `out` is restored to its length before the call.
pub(crate) fn encode(rec: &Record, out: &mut Vec<u8>) -> Result<(), TooLarge> {
    framed(out, |out| put_record(out, rec))
}

/// [`encode`] for a message given by reference: the same bytes as its `Record::Message`.
///
/// # Errors
///
/// As [`encode`].
pub(crate) fn encode_message(m: &MessageRef<'_>, out: &mut Vec<u8>) -> Result<(), TooLarge> {
    framed(out, |out| put_message(out, m))
}

/// Appends the frame header, the payload `put` writes, then fills the header in.
fn framed(out: &mut Vec<u8>, put: impl FnOnce(&mut Vec<u8>)) -> Result<(), TooLarge> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    put(out);
    let payload = out.get(start + HEADER..).unwrap_or_default();
    let len = payload.len();
    let len32 = match u32::try_from(len) {
        Ok(n) if len <= MAX_PAYLOAD => n,
        _ => {
            out.truncate(start);
            return Err(TooLarge(len));
        }
    };
    let [l0, l1, l2, l3] = len32.to_le_bytes();
    let [c0, c1, c2, c3] = crc32fast::hash(payload).to_le_bytes();
    if let Some(header) = out.get_mut(start..start + HEADER) {
        header.copy_from_slice(&[l0, l1, l2, l3, c0, c1, c2, c3]);
    }
    Ok(())
}

/// What `decode` found at the start of a buffer.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A whole, valid record and the bytes it took, header included.
    Record(Record, usize),
    /// The buffer ends inside a frame (a torn tail): fewer than [`HEADER`] bytes, or fewer
    /// than the length prefix announces.
    Torn,
    /// The frame is damaged: the checksum does not match, the length exceeds [`MAX_PAYLOAD`],
    /// or the payload does not parse (unknown tag, bad varint, invalid UTF-8, trailing bytes,
    /// nesting deeper than [`MAX_DEPTH`], ...). The text says which.
    Corrupt(&'static str),
    /// The buffer is empty.
    End,
}

/// Decodes the record at the start of `buf`.
///
/// Never panics, and never allocates more than the input justifies: a length prefix larger
/// than the bytes present is [`Decoded::Torn`] (or [`Decoded::Corrupt`] past
/// [`MAX_PAYLOAD`]) before anything is allocated.
pub(crate) fn decode(buf: &[u8]) -> Decoded {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER>() else {
        return if buf.is_empty() {
            Decoded::End
        } else {
            Decoded::Torn
        };
    };
    let [l0, l1, l2, l3, c0, c1, c2, c3] = *header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    let len = match usize::try_from(len) {
        Ok(len) if len <= MAX_PAYLOAD => len,
        _ => return Decoded::Corrupt("payload length exceeds MAX_PAYLOAD"),
    };
    let Some(payload) = rest.get(..len) else {
        return Decoded::Torn;
    };
    if crc32fast::hash(payload) != crc {
        return Decoded::Corrupt("checksum mismatch");
    }
    let reader = Reader { buf: payload };
    match reader.record() {
        Ok(rec) => Decoded::Record(rec, HEADER + len),
        Err(why) => Decoded::Corrupt(why),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// A `Record::Message` by reference: the publish path logs a message without copying its
/// parts into a `Record` first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MessageRef<'a> {
    pub(crate) id: u64,
    pub(crate) time_ms: u64,
    pub(crate) queues: &'a [u64],
    pub(crate) exchange: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) properties: Option<&'a BasicProperties>,
    pub(crate) body: &'a [u8],
    pub(crate) replaces: &'a [(u64, u64)],
}

fn put_message(out: &mut Vec<u8>, m: &MessageRef<'_>) {
    out.push(REC_MESSAGE);
    put_varint(out, m.id);
    put_varint(out, m.time_ms);
    put_len(out, m.queues.len());
    for q in m.queues {
        put_varint(out, *q);
    }
    put_bytes(out, m.exchange.as_bytes());
    put_bytes(out, m.routing_key.as_bytes());
    match m.properties {
        None => out.push(0),
        Some(p) => {
            out.push(1);
            put_properties(out, p);
        }
    }
    put_bytes(out, m.body);
    put_len(out, m.replaces.len());
    for (message, queue) in m.replaces {
        put_varint(out, *message);
        put_varint(out, *queue);
    }
}

fn put_record(out: &mut Vec<u8>, rec: &Record) {
    match rec {
        Record::Exchange {
            id,
            name,
            kind,
            auto_delete,
            internal,
            args,
        } => {
            out.push(REC_EXCHANGE);
            put_varint(out, *id);
            put_bytes(out, name.as_bytes());
            out.push(match kind {
                ExchangeType::Direct => 0,
                ExchangeType::Fanout => 1,
                ExchangeType::Topic => 2,
                ExchangeType::Headers => 3,
            });
            out.push(u8::from(*auto_delete));
            out.push(u8::from(*internal));
            put_table(out, args);
        }
        Record::ExchangeGone { id } => {
            out.push(REC_EXCHANGE_GONE);
            put_varint(out, *id);
        }
        Record::Queue {
            id,
            name,
            auto_delete,
            args,
        } => {
            out.push(REC_QUEUE);
            put_varint(out, *id);
            put_bytes(out, name.as_bytes());
            out.push(u8::from(*auto_delete));
            put_table(out, args);
        }
        Record::QueueGone { id } => {
            out.push(REC_QUEUE_GONE);
            put_varint(out, *id);
        }
        Record::Bind {
            id,
            source,
            dest,
            key,
            args,
        } => {
            out.push(REC_BIND);
            put_varint(out, *id);
            put_varint(out, *source);
            let (dest_kind, dest_id) = match dest {
                DestId::Queue(q) => (0, q),
                DestId::Exchange(e) => (1, e),
            };
            out.push(dest_kind);
            put_varint(out, *dest_id);
            put_bytes(out, key.as_bytes());
            put_table(out, args);
        }
        Record::Unbind { id } => {
            out.push(REC_UNBIND);
            put_varint(out, *id);
        }
        Record::Message {
            id,
            time_ms,
            queues,
            exchange,
            routing_key,
            properties,
            body,
            replaces,
        } => {
            put_message(
                out,
                &MessageRef {
                    id: *id,
                    time_ms: *time_ms,
                    queues,
                    exchange,
                    routing_key,
                    properties: properties.as_deref(),
                    body,
                    replaces,
                },
            );
        }
        Record::Settle { refs } => {
            out.push(REC_SETTLE);
            put_len(out, refs.len());
            for (message, queue) in refs {
                put_varint(out, *message);
                put_varint(out, *queue);
            }
        }
        Record::Requeue {
            queue,
            entries,
            order,
        } => {
            out.push(REC_REQUEUE);
            put_varint(out, *queue);
            put_len(out, entries.len());
            for (message, failed, returned) in entries {
                put_varint(out, *message);
                put_varint(out, u64::from(*failed));
                put_varint(out, u64::from(*returned));
            }
            put_len(out, order.len());
            for (message, key) in order {
                put_varint(out, *message);
                put_varint(out, *key);
            }
        }
        Record::Shutdown => out.push(REC_SHUTDOWN),
    }
}

/// The mask and fields of `Some(properties)`.
fn put_properties(out: &mut Vec<u8>, p: &BasicProperties) {
    // A destructuring without `..`, so a new field cannot be forgotten here.
    let BasicProperties {
        content_type,
        content_encoding,
        headers,
        delivery_mode,
        priority,
        correlation_id,
        reply_to,
        expiration,
        message_id,
        timestamp,
        kind,
        user_id,
        app_id,
        cluster_id,
    } = p;
    let present = [
        content_type.is_some(),
        content_encoding.is_some(),
        headers.is_some(),
        delivery_mode.is_some(),
        priority.is_some(),
        correlation_id.is_some(),
        reply_to.is_some(),
        expiration.is_some(),
        message_id.is_some(),
        timestamp.is_some(),
        kind.is_some(),
        user_id.is_some(),
        app_id.is_some(),
        cluster_id.is_some(),
    ];
    let mask = present
        .iter()
        .enumerate()
        .filter(|(_, set)| **set)
        .fold(0u16, |mask, (bit, _)| mask | (1 << bit));
    out.extend_from_slice(&mask.to_le_bytes());
    let put_opt_str = |out: &mut Vec<u8>, s: &Option<String>| {
        if let Some(s) = s {
            put_bytes(out, s.as_bytes());
        }
    };
    put_opt_str(out, content_type);
    put_opt_str(out, content_encoding);
    if let Some(headers) = headers {
        put_table(out, headers);
    }
    out.extend(*delivery_mode);
    out.extend(*priority);
    put_opt_str(out, correlation_id);
    put_opt_str(out, reply_to);
    put_opt_str(out, expiration);
    put_opt_str(out, message_id);
    if let Some(t) = timestamp {
        put_varint(out, *t);
    }
    put_opt_str(out, kind);
    put_opt_str(out, user_id);
    put_opt_str(out, app_id);
    put_opt_str(out, cluster_id);
}

/// A table or array being written: the entries not yet written.
enum Frame<'a> {
    Table(message::Iter<'a>),
    Array(std::slice::Iter<'a, FieldValue>),
}

/// Writes `table`, walking nested tables and arrays with an explicit stack (heap-allocated
/// only past eight levels), so no nesting depth can overflow the call stack.
fn put_table(out: &mut Vec<u8>, table: &FieldTable) {
    put_len(out, table.len());
    let mut stack: SmallVec<[Frame<'_>; 8]> = SmallVec::new();
    stack.push(Frame::Table(table.iter()));
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Frame::Table(fields) => fields.next().map(|(name, value)| {
                put_bytes(out, name.as_bytes());
                value
            }),
            Frame::Array(items) => items.next(),
        };
        match next {
            Some(value) => stack.extend(put_value(out, value)),
            None => {
                stack.pop();
            }
        }
    }
}

/// Writes `value`'s tag and contents; for a table or an array, only its tag and count, and
/// returns the frame of its entries for the caller to write.
fn put_value<'a>(out: &mut Vec<u8>, value: &'a FieldValue) -> Option<Frame<'a>> {
    match value {
        FieldValue::Bool(b) => out.extend([V_BOOL, u8::from(*b)]),
        FieldValue::I8(n) => put_fixed(out, V_I8, &n.to_le_bytes()),
        FieldValue::U8(n) => out.extend([V_U8, *n]),
        FieldValue::I16(n) => put_fixed(out, V_I16, &n.to_le_bytes()),
        FieldValue::U16(n) => put_fixed(out, V_U16, &n.to_le_bytes()),
        FieldValue::I32(n) => put_fixed(out, V_I32, &n.to_le_bytes()),
        FieldValue::U32(n) => put_fixed(out, V_U32, &n.to_le_bytes()),
        FieldValue::I64(n) => put_fixed(out, V_I64, &n.to_le_bytes()),
        FieldValue::U64(n) => put_fixed(out, V_U64, &n.to_le_bytes()),
        FieldValue::F32(x) => put_fixed(out, V_F32, &x.to_bits().to_le_bytes()),
        FieldValue::F64(x) => put_fixed(out, V_F64, &x.to_bits().to_le_bytes()),
        FieldValue::Decimal { scale, value } => {
            out.extend([V_DECIMAL, *scale]);
            out.extend_from_slice(&value.to_le_bytes());
        }
        FieldValue::LongString(bytes) => {
            out.push(V_LONG_STRING);
            put_bytes(out, bytes);
        }
        FieldValue::Array(items) => {
            out.push(V_ARRAY);
            put_len(out, items.len());
            return Some(Frame::Array(items.iter()));
        }
        FieldValue::Timestamp(t) => put_fixed(out, V_TIMESTAMP, &t.to_le_bytes()),
        FieldValue::Table(table) => {
            out.push(V_TABLE);
            put_len(out, table.len());
            return Some(Frame::Table(table.iter()));
        }
        FieldValue::ByteArray(bytes) => {
            out.push(V_BYTE_ARRAY);
            put_bytes(out, bytes);
        }
        FieldValue::Void => out.push(V_VOID),
    }
    None
}

fn put_fixed(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(bytes);
}

/// An unsigned LEB128 varint: seven bits a byte, low first, the high bit set on all but the
/// last byte.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v.to_le_bytes()[0] | 0x80);
        v >>= 7;
    }
    out.push(v.to_le_bytes()[0]);
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Cannot fail where `usize` has at most 64 bits; were it to, decode would refuse the length.
    put_varint(out, u64::try_from(len).unwrap_or(u64::MAX));
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Why a payload does not parse.
type Parse<T> = Result<T, &'static str>;

/// The unread rest of a payload.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The whole payload as one record, with nothing left over.
    fn record(mut self) -> Parse<Record> {
        let rec = match self.u8().map_err(|_| "empty payload")? {
            REC_EXCHANGE => Record::Exchange {
                id: self.varint()?,
                name: self.string()?,
                kind: match self.u8()? {
                    0 => ExchangeType::Direct,
                    1 => ExchangeType::Fanout,
                    2 => ExchangeType::Topic,
                    3 => ExchangeType::Headers,
                    _ => return Err("unknown exchange type"),
                },
                auto_delete: self.bool()?,
                internal: self.bool()?,
                args: self.table(1)?,
            },
            REC_EXCHANGE_GONE => Record::ExchangeGone { id: self.varint()? },
            REC_QUEUE => Record::Queue {
                id: self.varint()?,
                name: self.string()?,
                auto_delete: self.bool()?,
                args: self.table(1)?,
            },
            REC_QUEUE_GONE => Record::QueueGone { id: self.varint()? },
            REC_BIND => Record::Bind {
                id: self.varint()?,
                source: self.varint()?,
                dest: match self.u8()? {
                    0 => DestId::Queue(self.varint()?),
                    1 => DestId::Exchange(self.varint()?),
                    _ => return Err("unknown destination kind"),
                },
                key: self.string()?,
                args: self.table(1)?,
            },
            REC_UNBIND => Record::Unbind { id: self.varint()? },
            REC_MESSAGE => Record::Message {
                id: self.varint()?,
                time_ms: self.varint()?,
                queues: {
                    let n = self.count(1)?;
                    let mut queues = SmallVec::with_capacity(n);
                    for _ in 0..n {
                        queues.push(self.varint()?);
                    }
                    queues
                },
                exchange: self.string()?,
                routing_key: self.string()?,
                properties: match self.u8()? {
                    0 => None,
                    1 => Some(Box::new(self.properties()?)),
                    _ => return Err("unknown properties marker"),
                },
                body: Bytes::copy_from_slice(self.bytes()?),
                replaces: {
                    let n = self.count(2)?;
                    let mut pairs = Vec::with_capacity(n);
                    for _ in 0..n {
                        pairs.push((self.varint()?, self.varint()?));
                    }
                    pairs
                },
            },
            REC_SETTLE => {
                let n = self.count(2)?;
                let mut refs = Vec::with_capacity(n);
                for _ in 0..n {
                    refs.push((self.varint()?, self.varint()?));
                }
                Record::Settle { refs }
            }
            REC_REQUEUE => {
                let queue = self.varint()?;
                let n = self.count(3)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push((self.varint()?, self.varint_u32()?, self.varint_u32()?));
                }
                let n = self.count(2)?;
                let mut order = Vec::with_capacity(n);
                for _ in 0..n {
                    order.push((self.varint()?, self.varint()?));
                }
                Record::Requeue {
                    queue,
                    entries,
                    order,
                }
            }
            REC_SHUTDOWN => Record::Shutdown,
            _ => return Err("unknown record tag"),
        };
        if self.buf.is_empty() {
            Ok(rec)
        } else {
            Err("trailing bytes after the record")
        }
    }

    /// The fields of `Some(properties)`, after its marker.
    fn properties(&mut self) -> Parse<BasicProperties> {
        let mask = u16::from_le_bytes(self.fixed()?);
        if mask & !PROPERTY_BITS != 0 {
            return Err("unknown property bits");
        }
        let mut bit = 0;
        let mut next = || {
            let present = mask & (1 << bit) != 0;
            bit += 1;
            present
        };
        // Struct fields are evaluated in the order written: the order of the mask's bits.
        Ok(BasicProperties {
            content_type: self.opt(next(), Self::string)?,
            content_encoding: self.opt(next(), Self::string)?,
            headers: self.opt(next(), |r| r.table(1))?,
            delivery_mode: self.opt(next(), Self::u8)?,
            priority: self.opt(next(), Self::u8)?,
            correlation_id: self.opt(next(), Self::string)?,
            reply_to: self.opt(next(), Self::string)?,
            expiration: self.opt(next(), Self::string)?,
            message_id: self.opt(next(), Self::string)?,
            timestamp: self.opt(next(), Self::varint)?,
            kind: self.opt(next(), Self::string)?,
            user_id: self.opt(next(), Self::string)?,
            app_id: self.opt(next(), Self::string)?,
            cluster_id: self.opt(next(), Self::string)?,
        })
    }

    fn opt<T>(
        &mut self,
        present: bool,
        read: impl FnOnce(&mut Self) -> Parse<T>,
    ) -> Parse<Option<T>> {
        if present {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A table at nesting level `depth` (a record's own table is level 1).
    fn table(&mut self, depth: usize) -> Parse<FieldTable> {
        if depth > MAX_DEPTH {
            return Err("tables and arrays nested too deep");
        }
        // Each field takes at least a name length and a value tag.
        let n = self.count(2)?;
        let mut table = FieldTable::new();
        let mut previous: Option<&[u8]> = None;
        for _ in 0..n {
            let name = self.bytes()?;
            if previous.is_some_and(|p| p >= name) {
                return Err("field names not in ascending order");
            }
            previous = Some(name);
            let name = std::str::from_utf8(name).map_err(|_| "field name not UTF-8")?;
            let value = self.value(depth)?;
            table.insert(name, value);
        }
        Ok(table)
    }

    /// A field value inside a table or array at level `depth`.
    fn value(&mut self, depth: usize) -> Parse<FieldValue> {
        Ok(match self.u8()? {
            V_BOOL => FieldValue::Bool(self.bool()?),
            V_I8 => FieldValue::I8(i8::from_le_bytes(self.fixed()?)),
            V_U8 => FieldValue::U8(self.u8()?),
            V_I16 => FieldValue::I16(i16::from_le_bytes(self.fixed()?)),
            V_U16 => FieldValue::U16(u16::from_le_bytes(self.fixed()?)),
            V_I32 => FieldValue::I32(i32::from_le_bytes(self.fixed()?)),
            V_U32 => FieldValue::U32(u32::from_le_bytes(self.fixed()?)),
            V_I64 => FieldValue::I64(i64::from_le_bytes(self.fixed()?)),
            V_U64 => FieldValue::U64(u64::from_le_bytes(self.fixed()?)),
            V_F32 => FieldValue::F32(f32::from_bits(u32::from_le_bytes(self.fixed()?))),
            V_F64 => FieldValue::F64(f64::from_bits(u64::from_le_bytes(self.fixed()?))),
            V_DECIMAL => FieldValue::Decimal {
                scale: self.u8()?,
                value: u32::from_le_bytes(self.fixed()?),
            },
            V_LONG_STRING => FieldValue::LongString(self.bytes()?.to_vec()),
            V_ARRAY => {
                if depth >= MAX_DEPTH {
                    return Err("tables and arrays nested too deep");
                }
                // Each value takes at least its tag.
                let n = self.count(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                FieldValue::Array(items)
            }
            V_TIMESTAMP => FieldValue::Timestamp(u64::from_le_bytes(self.fixed()?)),
            V_TABLE => FieldValue::Table(self.table(depth + 1)?),
            V_BYTE_ARRAY => FieldValue::ByteArray(self.bytes()?.to_vec()),
            V_VOID => FieldValue::Void,
            _ => return Err("unknown field value tag"),
        })
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Parse<&'a [u8]> {
        let (head, rest) = self
            .buf
            .split_at_checked(n)
            .ok_or("payload ends inside a field")?;
        self.buf = rest;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self) -> Parse<[u8; N]> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or("payload ends inside a field")?;
        self.buf = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Parse<u8> {
        let [b] = self.fixed()?;
        Ok(b)
    }

    fn bool(&mut self) -> Parse<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("bool neither 0 nor 1"),
        }
    }

    /// A minimal LEB128 varint of at most 64 bits.
    fn varint(&mut self) -> Parse<u64> {
        let mut value = 0;
        let mut shift = 0;
        loop {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && byte > 1 {
                return Err("varint overflows 64 bits");
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err("varint not minimal");
                }
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn varint_u32(&mut self) -> Parse<u32> {
        u32::try_from(self.varint()?).map_err(|_| "count exceeds 32 bits")
    }

    /// A count of elements taking at least `min_size` bytes each, checked against the bytes
    /// left, so that reserving room for them is justified by the input.
    fn count(&mut self, min_size: usize) -> Parse<usize> {
        let n = usize::try_from(self.varint()?).map_err(|_| "count exceeds the payload")?;
        if n > self.buf.len().checked_div(min_size).unwrap_or(0) {
            return Err("count exceeds the payload");
        }
        Ok(n)
    }

    /// A varint length and that many bytes.
    fn bytes(&mut self) -> Parse<&'a [u8]> {
        let n = self.count(1)?;
        self.take(n)
    }

    fn string(&mut self) -> Parse<String> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_owned)
            .map_err(|_| "string not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn encoded(rec: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        encode(rec, &mut out).expect("small record");
        out
    }

    /// Asserts that `rec` round-trips exactly, consuming all its bytes.
    ///
    /// `FieldValue`'s `==` is identity (same variant, floats by bit pattern: see `message`),
    /// so `assert_eq!` is already type-exact; the `Debug` comparison states it independently
    /// of that impl (it names every variant, though it prints every NaN alike).
    fn assert_round_trip(rec: &Record) {
        let bytes = encoded(rec);
        match decode(&bytes) {
            Decoded::Record(back, used) => {
                assert_eq!(used, bytes.len());
                assert_eq!(&back, rec);
                assert_eq!(format!("{back:?}"), format!("{rec:?}"));
            }
            other => panic!("{rec:?} decoded as {other:?}"),
        }
    }

    /// `payload` framed with its true length and checksum, for payloads `encode` never writes.
    fn framed(payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap();
        let mut out = len.to_le_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn corrupt_why(buf: &[u8]) -> &'static str {
        match decode(buf) {
            Decoded::Corrupt(why) => why,
            other => panic!("{buf:?} decoded as {other:?}, not Corrupt"),
        }
    }

    /// A table holding every `FieldValue` variant, extremes, a NaN with a payload, `-0.0`,
    /// empty strings and nested tables and arrays.
    fn rich_table() -> FieldTable {
        let inner = FieldTable::new()
            .with("", FieldValue::Void)
            .with("nan", f64::from_bits(0x7ff8_dead_beef_0001))
            .with(
                "arr",
                vec![FieldValue::Table(FieldTable::new()), 1u8.into()],
            );
        FieldTable::new()
            .with("bool", true)
            .with("false", false)
            .with("i8", i8::MIN)
            .with("u8", u8::MAX)
            .with("i16", i16::MIN)
            .with("u16", u16::MAX)
            .with("i32", i32::MIN)
            .with("u32", u32::MAX)
            .with("i64", i64::MIN)
            .with("u64", u64::MAX)
            .with("f32", f32::from_bits(0xffc0_0123)) // a negative NaN with a payload
            .with("f64", -0.0f64)
            .with("f32 inf", f32::INFINITY)
            .with(
                "decimal",
                FieldValue::Decimal {
                    scale: 2,
                    value: u32::MAX,
                },
            )
            .with("string", "héllo")
            .with("not utf-8", FieldValue::LongString(vec![0xff, 0xfe, 0]))
            .with("empty string", "")
            .with(
                "array",
                vec![
                    FieldValue::I32(-7),
                    FieldValue::Array(vec![]),
                    FieldValue::Array(vec![FieldValue::Void, FieldValue::U64(1 << 63)]),
                    FieldValue::Table(inner.clone()),
                ],
            )
            .with("timestamp", FieldValue::Timestamp(1_700_000_000))
            .with("table", inner)
            .with("bytes", FieldValue::ByteArray(vec![0, 1, 2, 255]))
            .with("empty bytes", FieldValue::ByteArray(vec![]))
            .with("void", FieldValue::Void)
            .with("ключ", 1u8)
    }

    fn all_properties() -> BasicProperties {
        BasicProperties {
            content_type: Some("application/json".into()),
            content_encoding: Some("gzip".into()),
            headers: Some(rich_table()),
            delivery_mode: Some(2),
            priority: Some(255),
            correlation_id: Some("c".into()),
            reply_to: Some("amq.rabbitmq.reply-to".into()),
            expiration: Some("60000".into()),
            message_id: Some(String::new()),
            timestamp: Some(u64::MAX),
            kind: Some("order.created".into()),
            user_id: Some("guest".into()),
            app_id: Some("shop".into()),
            cluster_id: Some("cl".into()),
        }
    }

    fn message(properties: Option<BasicProperties>, body: Vec<u8>) -> Record {
        Record::Message {
            id: u64::MAX,
            time_ms: 1_764_000_000_000,
            queues: SmallVec::from_slice(&[1, 2, 3, 4, 5, 1 << 40]),
            exchange: String::new(),
            routing_key: "a.b.c".into(),
            properties: properties.map(Box::new),
            body: Bytes::from(body),
            replaces: vec![(7, 1), (u64::MAX, 1 << 40)],
        }
    }

    #[test]
    fn every_record_variant_round_trips_with_rich_values() {
        let mut records = vec![
            Record::Shutdown,
            Record::ExchangeGone { id: 0 },
            Record::QueueGone { id: u64::MAX },
            Record::Unbind { id: 127 },
            Record::Settle { refs: vec![] },
            Record::Settle {
                refs: vec![(0, 0), (128, u64::MAX), (1 << 35, 16_383)],
            },
            Record::Requeue {
                queue: 9,
                entries: vec![(1, 0, 0), (u64::MAX, u32::MAX, 1), (300, 7, u32::MAX)],
                order: vec![(300, 1 << 40), (u64::MAX, u64::MAX)],
            },
            Record::Requeue {
                queue: 0,
                entries: vec![],
                order: vec![],
            },
            Record::Queue {
                id: 3,
                name: String::new(),
                auto_delete: false,
                args: FieldTable::new(),
            },
            Record::Queue {
                id: 4,
                name: "orders ✓".into(),
                auto_delete: true,
                args: rich_table(),
            },
            Record::Bind {
                id: 10,
                source: 2,
                dest: DestId::Queue(4),
                key: "#.error".into(),
                args: FieldTable::new(),
            },
            Record::Bind {
                id: 11,
                source: 2,
                dest: DestId::Exchange(u64::MAX),
                key: String::new(),
                args: rich_table(),
            },
            message(None, Vec::new()),
            message(Some(BasicProperties::default()), b"x".to_vec()),
            message(Some(all_properties()), b"hello".to_vec()),
            message(
                Some(BasicProperties::default().with_priority(0)),
                vec![0; 3],
            ),
            message(
                Some(all_properties()),
                (0..100 * 1024)
                    .map(|i| u8::try_from(i % 251).unwrap())
                    .collect(),
            ),
        ];
        for kind in ExchangeType::ALL {
            for (auto_delete, internal) in [(false, false), (true, false), (false, true)] {
                records.push(Record::Exchange {
                    id: 1 << 20,
                    name: format!("ex.{}", kind.as_str()),
                    kind,
                    auto_delete,
                    internal,
                    args: rich_table(),
                });
            }
        }
        for rec in &records {
            assert_round_trip(rec);
        }
    }

    #[test]
    fn none_empty_and_each_single_property_round_trip_distinctly() {
        let none = encoded(&message(None, Vec::new()));
        let empty = encoded(&message(Some(BasicProperties::default()), Vec::new()));
        assert_ne!(none, empty);
        let Decoded::Record(Record::Message { properties, .. }, _) = decode(&none) else {
            panic!("not a message");
        };
        assert!(properties.is_none());
        let Decoded::Record(Record::Message { properties, .. }, _) = decode(&empty) else {
            panic!("not a message");
        };
        assert_eq!(properties.as_deref(), Some(&BasicProperties::default()));
        // Each property alone, so that every bit of the mask is exercised on its own.
        let d = BasicProperties::default;
        for p in [
            d().with_content_type("t"),
            d().with_content_encoding("e"),
            d().with_headers(FieldTable::new().with("h", FieldValue::Void)),
            d().with_delivery_mode(1),
            d().with_priority(0),
            d().with_correlation_id(""),
            d().with_reply_to("r"),
            d().with_expiration("1"),
            d().with_message_id("m"),
            d().with_timestamp(0),
            d().with_kind("k"),
            d().with_user_id("u"),
            d().with_app_id("a"),
            d().with_cluster_id("c"),
        ] {
            assert!(!p.is_empty(), "{p:?}");
            assert_round_trip(&message(Some(p), b"body".to_vec()));
        }
    }

    #[test]
    fn float_bit_patterns_round_trip_exactly() {
        let table = FieldTable::new()
            .with("a", f64::from_bits(0x7ff0_0000_0000_0001)) // a signalling NaN
            .with("b", f64::from_bits(0xfff8_0000_0000_0000)) // a negative quiet NaN
            .with("c", f32::from_bits(0x7f80_0001))
            .with("d", -0.0f32)
            .with("e", f64::MIN_POSITIVE / 2.0); // subnormal
        let rec = Record::Queue {
            id: 1,
            name: "q".into(),
            auto_delete: false,
            args: table.clone(),
        };
        let Decoded::Record(Record::Queue { args, .. }, _) = decode(&encoded(&rec)) else {
            panic!("not a queue");
        };
        for ((name, got), (_, want)) in args.iter().zip(table.iter()) {
            let bits = |v: &FieldValue| match *v {
                FieldValue::F32(x) => u64::from(x.to_bits()),
                FieldValue::F64(x) => x.to_bits(),
                _ => panic!("{name}: not a float"),
            };
            assert_eq!(bits(got), bits(want), "{name}");
            assert_eq!(got.type_name(), want.type_name(), "{name}");
        }
    }

    #[test]
    fn format_is_stable() {
        // Checksums from an independent CRC-32/IEEE (Python's zlib.crc32).
        assert_eq!(
            encoded(&Record::Unbind { id: 300 }),
            [3, 0, 0, 0, 0x69, 0x37, 0x70, 0x17, REC_UNBIND, 0xac, 0x02]
        );
        let queue = Record::Queue {
            id: 7,
            name: "q".into(),
            auto_delete: true,
            args: FieldTable::new().with("a", 5u8),
        };
        assert_eq!(
            encoded(&queue),
            [10, 0, 0, 0, 0xd2, 0x80, 0xd9, 0x5f, REC_QUEUE, 7, 1, b'q', 1, 1, 1, b'a', b'B', 5]
        );
    }

    #[test]
    fn encode_appends_after_existing_bytes() {
        let mut out = b"keep".to_vec();
        encode(&Record::Shutdown, &mut out).expect("small record");
        assert_eq!(out.get(..4), Some(&b"keep"[..]));
        assert!(matches!(
            decode(out.get(4..).unwrap()),
            Decoded::Record(Record::Shutdown, 9)
        ));
    }

    #[test]
    fn concatenated_records_decode_one_after_another() {
        let records = [
            message(Some(all_properties()), b"first".to_vec()),
            Record::Settle { refs: vec![(1, 2)] },
            Record::Shutdown,
        ];
        let mut log = Vec::new();
        for rec in &records {
            encode(rec, &mut log).expect("small record");
        }
        let mut rest = &log[..];
        for rec in &records {
            match decode(rest) {
                Decoded::Record(back, used) => {
                    assert_eq!(&back, rec);
                    rest = rest.get(used..).unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(decode(rest), Decoded::End));
    }

    #[test]
    fn every_strict_prefix_is_torn_and_the_empty_buffer_is_end() {
        for rec in [
            message(Some(all_properties()), b"body".to_vec()),
            Record::Shutdown,
            Record::Settle {
                refs: vec![(1, 2), (3, 4)],
            },
        ] {
            let bytes = encoded(&rec);
            assert!(matches!(decode(&[]), Decoded::End));
            for cut in 1..bytes.len() {
                let prefix = bytes.get(..cut).unwrap();
                assert!(matches!(decode(prefix), Decoded::Torn), "cut at {cut}");
            }
        }
    }

    /// Asserts that no single flipped bit of `bytes` decodes as a record, with `after` (another
    /// frame, or nothing) following it.
    fn assert_every_bit_flip_is_caught(bytes: &[u8], after: &[u8]) {
        for i in 0..bytes.len() * 8 {
            let mut damaged = bytes.to_vec();
            damaged.extend_from_slice(after);
            if let Some(byte) = damaged.get_mut(i / 8) {
                *byte ^= 1 << (i % 8);
            }
            match decode(&damaged) {
                Decoded::Corrupt(_) | Decoded::Torn => {}
                other => panic!("bit {i} flipped: {other:?}"),
            }
        }
    }

    #[test]
    fn every_single_bit_flip_is_corrupt_or_torn() {
        let next = encoded(&Record::Shutdown);
        for rec in [
            Record::Bind {
                id: 10,
                source: 2,
                dest: DestId::Exchange(3),
                key: "a.*".into(),
                args: FieldTable::new().with("x", vec![FieldValue::Void, 1.5f32.into()]),
            },
            message(
                Some(BasicProperties::default().persistent().with_message_id("m")),
                b"hi".to_vec(),
            ),
            Record::Shutdown,
        ] {
            let bytes = encoded(&rec);
            assert_every_bit_flip_is_caught(&bytes, &[]);
            assert_every_bit_flip_is_caught(&bytes, &next);
        }
    }

    #[test]
    fn forged_900_mb_length_is_torn_without_allocating() {
        let mut buf = (900u32 << 20).to_le_bytes().to_vec();
        buf.extend_from_slice(&[0; 4 + 10]);
        assert!(matches!(decode(&buf), Decoded::Torn));
        // Exactly MAX_PAYLOAD is a legal length, hence a torn tail here.
        let mut buf = u32::try_from(MAX_PAYLOAD).unwrap().to_le_bytes().to_vec();
        buf.extend_from_slice(&[0; 4 + 10]);
        assert!(matches!(decode(&buf), Decoded::Torn));
    }

    #[test]
    fn length_over_max_payload_is_corrupt() {
        for len in [u32::try_from(MAX_PAYLOAD).unwrap() + 1, u32::MAX] {
            let mut buf = len.to_le_bytes().to_vec();
            buf.extend_from_slice(&[0; 4 + 10]);
            assert_eq!(corrupt_why(&buf), "payload length exceeds MAX_PAYLOAD");
        }
    }

    #[test]
    fn forged_counts_inside_a_valid_frame_are_corrupt_without_allocating() {
        // A varint of 2^62: were it trusted, `with_capacity` would abort the test.
        let huge = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
        let with_huge = |prefix: &[u8]| {
            let mut p = prefix.to_vec();
            p.extend_from_slice(&huge);
            p.extend_from_slice(&[0; 16]);
            framed(&p)
        };
        for payload_prefix in [
            &[REC_SETTLE][..],
            &[REC_REQUEUE, 1],
            &[REC_MESSAGE, 1, 0],                       // queues
            &[REC_MESSAGE, 1, 0, 0, 0, 0, 0],           // body
            &[REC_MESSAGE, 1, 0, 0, 0, 0, 0, 0],        // replaces
            &[REC_QUEUE, 1],                            // name
            &[REC_QUEUE, 1, 0, 0],                      // args
            &[REC_QUEUE, 1, 0, 0, 1, 1, b'a', V_ARRAY], // an array
            &[REC_QUEUE, 1, 0, 0, 1, 1, b'a', V_LONG_STRING],
        ] {
            assert_eq!(
                corrupt_why(&with_huge(payload_prefix)),
                "count exceeds the payload",
                "{payload_prefix:?}"
            );
        }
        // A count that fits the bytes left, but not the elements' least size.
        let p = framed(&[REC_SETTLE, 3, 1, 2, 3, 4, 5]);
        assert_eq!(corrupt_why(&p), "count exceeds the payload");
    }

    /// A queue record whose args nest `levels` deep: the args table, then tables and arrays
    /// alternating inside it.
    fn nested_queue(levels: usize) -> Record {
        let mut value = FieldValue::Void;
        for level in (2..=levels).rev() {
            value = if level % 2 == 0 {
                FieldValue::Array(vec![value])
            } else {
                FieldValue::Table(FieldTable::new().with("k", value))
            };
        }
        Record::Queue {
            id: 1,
            name: "deep".into(),
            auto_delete: false,
            args: FieldTable::new().with("k", value),
        }
    }

    #[test]
    fn nesting_up_to_64_levels_round_trips_and_deeper_is_corrupt() {
        assert_round_trip(&nested_queue(MAX_DEPTH));
        assert_eq!(
            corrupt_why(&encoded(&nested_queue(MAX_DEPTH + 1))),
            "tables and arrays nested too deep"
        );
        assert_eq!(
            corrupt_why(&encoded(&nested_queue(MAX_DEPTH + 2))),
            "tables and arrays nested too deep"
        );
    }

    #[test]
    fn encoding_a_very_deep_value_does_not_overflow_the_stack() {
        let rec = nested_queue(100_000);
        let bytes = encoded(&rec);
        assert_eq!(corrupt_why(&bytes), "tables and arrays nested too deep");
        // The derived drop glue recurses and could overflow the test thread's stack: leak.
        std::mem::forget(rec);
    }

    #[test]
    fn non_canonical_or_unknown_payloads_are_corrupt() {
        let cases: [(&[u8], &str); 17] = [
            (&[], "empty payload"),
            (&[0], "unknown record tag"),
            (&[11], "unknown record tag"),
            (&[REC_SHUTDOWN, 0], "trailing bytes after the record"),
            (&[REC_UNBIND, 0x80, 0x00], "varint not minimal"),
            (&[REC_UNBIND, 0x80], "payload ends inside a field"),
            (
                &[
                    REC_UNBIND, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ],
                "varint overflows 64 bits",
            ),
            (&[REC_QUEUE, 1, 1, 0xff, 0, 0], "string not UTF-8"),
            (&[REC_QUEUE, 1, 0, 2, 0], "bool neither 0 nor 1"),
            (&[REC_EXCHANGE, 1, 0, 4, 0, 0, 0], "unknown exchange type"),
            (&[REC_BIND, 1, 1, 2, 1, 0, 0], "unknown destination kind"),
            (
                &[REC_QUEUE, 1, 0, 0, 1, 1, b'a', b'?'],
                "unknown field value tag",
            ),
            (
                &[REC_QUEUE, 1, 0, 0, 1, 1, 0xc0, b'V'],
                "field name not UTF-8",
            ),
            (
                &[REC_QUEUE, 1, 0, 0, 2, 1, b'b', b'V', 1, b'a', b'V'],
                "field names not in ascending order",
            ),
            (
                &[REC_QUEUE, 1, 0, 0, 2, 1, b'a', b'V', 1, b'a', b'V'],
                "field names not in ascending order",
            ),
            (
                &[REC_MESSAGE, 1, 0, 0, 0, 0, 2, 0],
                "unknown properties marker",
            ),
            (
                &[REC_MESSAGE, 1, 0, 0, 0, 0, 1, 0, 0x40, 0],
                "unknown property bits",
            ),
        ];
        for (payload, why) in cases {
            assert_eq!(corrupt_why(&framed(payload)), why, "{payload:?}");
        }
        let requeue = [REC_REQUEUE, 1, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0];
        assert_eq!(corrupt_why(&framed(&requeue)), "count exceeds 32 bits");
        // The same payloads, well formed, do decode: the cases above fail for their reason.
        for ok in [
            &[REC_SHUTDOWN][..],
            &[REC_QUEUE, 1, 0, 0, 2, 1, b'a', b'V', 1, b'b', b'V'],
        ] {
            assert!(matches!(decode(&framed(ok)), Decoded::Record(..)), "{ok:?}");
        }
    }

    #[test]
    fn a_zero_filled_tail_is_corrupt_not_end() {
        assert_eq!(corrupt_why(&[0; 8]), "empty payload");
        assert_eq!(corrupt_why(&[0; 64]), "empty payload");
    }

    #[test]
    fn a_damaged_checksum_is_corrupt() {
        let mut bytes = encoded(&Record::Shutdown);
        if let Some(b) = bytes.get_mut(5) {
            *b ^= 0xff;
        }
        assert_eq!(corrupt_why(&bytes), "checksum mismatch");
    }

    fn name() -> impl Strategy<Value = String> {
        "\\PC{0,6}"
    }

    fn table_of(fields: Vec<(String, FieldValue)>) -> FieldTable {
        let mut table = FieldTable::new();
        for (name, value) in fields {
            table.insert(name, value);
        }
        table
    }

    fn field_value() -> impl Strategy<Value = FieldValue> {
        let scalar = prop_oneof![
            any::<bool>().prop_map(FieldValue::Bool),
            any::<i8>().prop_map(FieldValue::I8),
            any::<u8>().prop_map(FieldValue::U8),
            any::<i16>().prop_map(FieldValue::I16),
            any::<u16>().prop_map(FieldValue::U16),
            any::<i32>().prop_map(FieldValue::I32),
            any::<u32>().prop_map(FieldValue::U32),
            any::<i64>().prop_map(FieldValue::I64),
            any::<u64>().prop_map(FieldValue::U64),
            // Every bit pattern: NaNs with payloads, infinities, subnormals, -0.0.
            any::<u32>().prop_map(|b| FieldValue::F32(f32::from_bits(b))),
            any::<u64>().prop_map(|b| FieldValue::F64(f64::from_bits(b))),
            (any::<u8>(), any::<u32>())
                .prop_map(|(scale, value)| FieldValue::Decimal { scale, value }),
            vec(any::<u8>(), 0..12).prop_map(FieldValue::LongString),
            any::<u64>().prop_map(FieldValue::Timestamp),
            vec(any::<u8>(), 0..12).prop_map(FieldValue::ByteArray),
            Just(FieldValue::Void),
        ];
        scalar.prop_recursive(4, 48, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(FieldValue::Array),
                vec((name(), inner), 0..4).prop_map(|f| FieldValue::Table(table_of(f))),
            ]
        })
    }

    fn field_table() -> impl Strategy<Value = FieldTable> {
        vec((name(), field_value()), 0..5).prop_map(table_of)
    }

    fn properties() -> impl Strategy<Value = Option<Box<BasicProperties>>> {
        let s = || proptest::option::of(name());
        let strings = (s(), s(), s(), s(), s(), s(), s(), s(), s(), s());
        let others = (
            proptest::option::of(field_table()),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u64>()),
        );
        let props = (strings, others).prop_map(|(s, o)| {
            Box::new(BasicProperties {
                content_type: s.0,
                content_encoding: s.1,
                headers: o.0,
                delivery_mode: o.1,
                priority: o.2,
                correlation_id: s.2,
                reply_to: s.3,
                expiration: s.4,
                message_id: s.5,
                timestamp: o.3,
                kind: s.6,
                user_id: s.7,
                app_id: s.8,
                cluster_id: s.9,
            })
        });
        proptest::option::of(props)
    }

    fn record() -> impl Strategy<Value = Record> {
        let id = || prop_oneof![0..300u64, any::<u64>()];
        prop_oneof![
            (
                id(),
                name(),
                proptest::sample::select(ExchangeType::ALL.to_vec()),
                any::<bool>(),
                any::<bool>(),
                field_table()
            )
                .prop_map(|(id, name, kind, auto_delete, internal, args)| {
                    Record::Exchange {
                        id,
                        name,
                        kind,
                        auto_delete,
                        internal,
                        args,
                    }
                }),
            id().prop_map(|id| Record::ExchangeGone { id }),
            (id(), name(), any::<bool>(), field_table()).prop_map(
                |(id, name, auto_delete, args)| Record::Queue {
                    id,
                    name,
                    auto_delete,
                    args,
                }
            ),
            id().prop_map(|id| Record::QueueGone { id }),
            (id(), id(), any::<bool>(), id(), name(), field_table()).prop_map(
                |(id, source, to_queue, dest, key, args)| Record::Bind {
                    id,
                    source,
                    dest: if to_queue {
                        DestId::Queue(dest)
                    } else {
                        DestId::Exchange(dest)
                    },
                    key,
                    args,
                }
            ),
            id().prop_map(|id| Record::Unbind { id }),
            (
                (id(), any::<u64>()),
                vec(id(), 0..7),
                name(),
                name(),
                properties(),
                vec(any::<u8>(), 0..300),
                vec((id(), id()), 0..3),
            )
                .prop_map(
                    |((id, time_ms), queues, exchange, routing_key, properties, body, replaces)| {
                        Record::Message {
                            id,
                            time_ms,
                            queues: SmallVec::from_vec(queues),
                            exchange,
                            routing_key,
                            properties,
                            body: Bytes::from(body),
                            replaces,
                        }
                    }
                ),
            vec((id(), id()), 0..6).prop_map(|refs| Record::Settle { refs }),
            (
                id(),
                vec((id(), any::<u32>(), any::<u32>()), 0..6),
                vec((id(), id()), 0..3)
            )
                .prop_map(|(queue, entries, order)| Record::Requeue {
                    queue,
                    entries,
                    order
                }),
            Just(Record::Shutdown),
        ]
    }

    proptest! {
        #[test]
        fn prop_decode_inverts_encode(rec in record()) {
            let bytes = encoded(&rec);
            match decode(&bytes) {
                Decoded::Record(back, used) => {
                    prop_assert_eq!(used, bytes.len());
                    prop_assert_eq!(format!("{back:?}"), format!("{rec:?}"));
                    prop_assert_eq!(back, rec);
                }
                other => prop_assert!(false, "decoded as {:?}", other),
            }
        }

        /// Arbitrary payloads behind a valid checksum, so the parser (not the CRC) meets them:
        /// never a panic, and whatever decodes re-encodes to the same bytes (canonical form).
        #[test]
        fn prop_framed_garbage_never_panics_and_decodes_canonically(
            tag in 0..12u8,
            rest in vec(any::<u8>(), 0..64),
        ) {
            let mut payload = vec![tag];
            payload.extend_from_slice(&rest);
            let bytes = framed(&payload);
            if let Decoded::Record(rec, used) = decode(&bytes) {
                prop_assert_eq!(used, bytes.len());
                prop_assert_eq!(encoded(&rec), bytes);
            }
        }

        /// Arbitrary bytes, checksum included: never a panic, and a record only with a
        /// matching checksum.
        #[test]
        fn prop_arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..64)) {
            if let Decoded::Record(rec, used) = decode(&bytes) {
                prop_assert_eq!(encoded(&rec), bytes.get(..used).unwrap());
            }
        }
    }
}
