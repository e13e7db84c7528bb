//! A naive reference model of the exchange tables (STYLE 11): a plain list of bindings, scanned
//! in full for every operation, with the rules written out as directly as SEMANTICS states them.
//!
//! * Direct: key equality. Fanout: every binding. Topic: the recursive T4 definition of
//!   `tests/model/topic.rs` (independent of the trie).
//! * Headers: E3 read literally, with the value classes `warren::route`'s module doc documents:
//!   integers of any width one class by numeric value, floats one class as `f64`, long strings
//!   and byte arrays one class by bytes, booleans, decimals and timestamps each their own class,
//!   arrays and tables by identity; a void term tests presence.
//! * Bindings: a set of (key, destination) for direct, fanout and topic; of (arguments,
//!   destination) for headers.
//! * CC / BCC (P4): the union over the publish key and the long-string entries of the two
//!   arrays; a non-array `CC` / `BCC` is a 406.
//!
//! Results are returned sorted, so they compare with a `DestSet` as sets. Exponential in the
//! worst case (`#` runs); fine for the small inputs the properties use.

use warren::message::{FieldTable, FieldValue};
use warren::route::ExchangeType;

/// The model's error: an AMQP reply code, or a local error (no code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModelError {
    /// An AMQP error with this reply code.
    Amqp(u16),
    /// A local error (SEMANTICS F5), e.g. a key over 255 bytes.
    Local,
}

/// One exchange's bindings.
#[derive(Clone, Debug)]
pub(crate) struct RouteModel {
    pub(crate) kind: ExchangeType,
    bindings: Vec<(String, FieldTable, u32)>,
}

impl RouteModel {
    pub(crate) fn new(kind: ExchangeType) -> RouteModel {
        RouteModel {
            kind,
            bindings: Vec::new(),
        }
    }

    /// Whether two bindings are the same set element for this exchange type.
    fn same(&self, a: &(String, FieldTable, u32), key: &str, args: &FieldTable, dest: u32) -> bool {
        match self.kind {
            ExchangeType::Headers => a.2 == dest && a.1 == *args,
            _ => a.2 == dest && a.0 == key,
        }
    }

    pub(crate) fn bind(
        &mut self,
        key: &str,
        args: &FieldTable,
        dest: u32,
    ) -> Result<bool, ModelError> {
        if key.len() > 255 {
            return Err(ModelError::Local);
        }
        if self.kind == ExchangeType::Headers {
            x_match(args)?;
        }
        if self.bindings.iter().any(|b| self.same(b, key, args, dest)) {
            return Ok(false);
        }
        self.bindings.push((key.to_owned(), args.clone(), dest));
        Ok(true)
    }

    pub(crate) fn unbind(
        &mut self,
        key: &str,
        args: &FieldTable,
        dest: u32,
    ) -> Result<bool, ModelError> {
        if key.len() > 255 {
            return Err(ModelError::Local);
        }
        let before = self.bindings.len();
        let kind = self.kind;
        self.bindings.retain(|b| {
            let same = match kind {
                ExchangeType::Headers => b.2 == dest && b.1 == *args,
                _ => b.2 == dest && b.0 == key,
            };
            !same
        });
        Ok(self.bindings.len() != before)
    }

    pub(crate) fn len(&self) -> usize {
        self.bindings.len()
    }

    /// The sorted, deduplicated destinations of a message.
    pub(crate) fn route(
        &self,
        key: &str,
        headers: Option<&FieldTable>,
    ) -> Result<Vec<u32>, ModelError> {
        if key.len() > 255 {
            return Err(ModelError::Local);
        }
        let mut out = Vec::new();
        for (bkey, args, dest) in &self.bindings {
            let hit = match self.kind {
                ExchangeType::Direct => bkey == key,
                ExchangeType::Fanout => true,
                ExchangeType::Topic => super::topic::matches(bkey, key),
                ExchangeType::Headers => headers_match(args, headers),
            };
            if hit {
                out.push(*dest);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The union over the publish key and the `CC` / `BCC` keys (SEMANTICS P4).
    pub(crate) fn route_with_cc(
        &self,
        key: &str,
        headers: Option<&FieldTable>,
    ) -> Result<Vec<u32>, ModelError> {
        if key.len() > 255 {
            return Err(ModelError::Local);
        }
        let mut keys = vec![key.to_owned()];
        for name in ["CC", "BCC"] {
            match headers.and_then(|h| h.get(name)) {
                None => {}
                Some(FieldValue::Array(items)) => {
                    for item in items {
                        if let FieldValue::LongString(bytes) = item {
                            let k =
                                String::from_utf8(bytes.clone()).map_err(|_| ModelError::Local)?;
                            if k.len() > 255 {
                                return Err(ModelError::Local);
                            }
                            keys.push(k);
                        }
                    }
                }
                Some(_) => return Err(ModelError::Amqp(406)),
            }
        }
        let mut out = Vec::new();
        for k in &keys {
            out.extend(self.route(k, headers)?);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// The x-match mode of binding arguments: (any, with_x), or the bind error.
fn x_match(args: &FieldTable) -> Result<(bool, bool), ModelError> {
    match args.get("x-match") {
        None => Ok((false, false)),
        Some(FieldValue::LongString(v)) if v == b"all" => Ok((false, false)),
        Some(FieldValue::LongString(v)) if v == b"any" => Ok((true, false)),
        Some(FieldValue::LongString(v)) if v == b"all-with-x" => Ok((false, true)),
        Some(FieldValue::LongString(v)) if v == b"any-with-x" => Ok((true, true)),
        Some(_) => Err(ModelError::Amqp(406)),
    }
}

/// SEMANTICS E3, read literally. `args` must have a valid x-match (checked at bind).
pub(crate) fn headers_match(args: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let (any, with_x) = x_match(args).expect("bound arguments have a valid x-match");
    let empty = FieldTable::new();
    let headers = headers.unwrap_or(&empty);
    let mut results = Vec::new();
    for (name, term) in args.iter() {
        if name == "x-match" || (!with_x && name.starts_with("x-")) {
            continue;
        }
        let ok = match headers.get(name) {
            None => false,
            Some(_) if matches!(term, FieldValue::Void) => true,
            Some(value) => same_class_equal(term, value),
        };
        results.push(ok);
    }
    if any {
        results.contains(&true)
    } else {
        !results.contains(&false)
    }
}

/// An integer of any width as an `i128`.
fn int(v: &FieldValue) -> Option<i128> {
    Some(match v {
        FieldValue::I8(n) => i128::from(*n),
        FieldValue::U8(n) => i128::from(*n),
        FieldValue::I16(n) => i128::from(*n),
        FieldValue::U16(n) => i128::from(*n),
        FieldValue::I32(n) => i128::from(*n),
        FieldValue::U32(n) => i128::from(*n),
        FieldValue::I64(n) => i128::from(*n),
        FieldValue::U64(n) => i128::from(*n),
        _ => return None,
    })
}

/// A float of either width as an `f64`.
fn float(v: &FieldValue) -> Option<f64> {
    match v {
        FieldValue::F32(x) => Some(f64::from(*x)),
        FieldValue::F64(x) => Some(*x),
        _ => None,
    }
}

/// The bytes of a long string or byte array.
fn bytes(v: &FieldValue) -> Option<&[u8]> {
    match v {
        FieldValue::LongString(b) | FieldValue::ByteArray(b) => Some(b),
        _ => None,
    }
}

/// Equal values of the same type class (the term is not void).
fn same_class_equal(term: &FieldValue, value: &FieldValue) -> bool {
    if let Some(a) = int(term) {
        return int(value) == Some(a);
    }
    if let Some(a) = float(term) {
        return float(value) == Some(a);
    }
    if let Some(a) = bytes(term) {
        return bytes(value) == Some(a);
    }
    // Booleans, decimals, timestamps, arrays, tables: the same variant and value.
    term == value
}
