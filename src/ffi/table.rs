//! `warren_table_*` and `warren_array_*`: AMQP field tables and arrays from C, for message
//! headers (`warren_properties_set_headers`), the arguments of declares, bindings and consumes
//! (the `arguments` parameter of `warren_channel_exchange_declare`, `_queue_declare`,
//! `_queue_bind`, `_queue_unbind`, `_exchange_bind`, `_exchange_unbind` and
//! `_basic_consume`), and reading the headers of a delivery (`x-death`,
//! `x-delivery-count`).
//!
//! A table maps field names (UTF-8, at most 255 bytes, each once) to typed values: one
//! setter per AMQP field type (`warren_table_set_i32`, `_set_string`, `_set_table`...), and
//! arrays the same way (`warren_array_push_*`). Reading is typed too: `warren_table_get` and
//! `warren_table_entry` fill a `warren_value` whose `kind` says which of its fields holds the
//! value; nested tables and arrays come back as borrowed views read with the same functions.
//!
//! # Ownership
//!
//! A table or array from `warren_table_new`, `warren_table_copy` or `warren_array_new` is
//! owned by the caller until its `_free`; every call that takes one as an input value
//! (`warren_table_set_table`, `warren_properties_set_headers`, the `arguments` of a declare)
//! copies it, so it may be freed or changed right after. A *view* (`const warren_table *` from
//! a `warren_value`, from `warren_properties_headers`...) is borrowed: it stays valid while
//! what it was read from lives unchanged (a delivery until `warren_delivery_free`; a table
//! until it is changed or freed), and must be neither freed nor changed.
//!
//! # Threads
//!
//! A table or array is a plain value: one thread at a time may use it; several may read one
//! that nobody changes. They are never poisoned (a panic cannot leave one half-changed).
//!
//! # Limits
//!
//! * Tables and arrays nest at most `WARREN_MAX_NESTING` (64) levels, a top-level table
//!   being level 1 (what the engine accepts, SEMANTICS F and the durable log): a set or push
//!   that would nest deeper is refused with `WARREN_STATUS_INVALID_ARGUMENT`, so no table
//!   from C is ever too deep to publish or declare with.
//! * String and byte-array values hold at most 512 MiB (no message can carry more). There is
//!   no other size limit: values are copied in, so setting a table into itself doubles it,
//!   and repeating that is the caller's memory to spend.
//! * `warren_table_entry` finds the entry at an index by walking the table in name order:
//!   reading all `n` entries costs O(n²) steps, nothing for the small tables AMQP carries.

use super::boundary::{
    labelled_name, long_bytes, opt_out, out, plain_free, plain_mut, plain_new, plain_ref,
    plain_view, set_opt, set_str, Fail, Plain,
};
use super::status::warren_status::{self, *};
use crate::broker::properties::MAX_NESTING;
use crate::error::Input;
use crate::message::{FieldTable, FieldValue};

/// An AMQP field table: field names mapped to typed values, in bytewise name order. From
/// `warren_table_new` (owned, freed by `warren_table_free`) or a view borrowed from a delivery
/// or another table (see the module conventions above: views are never freed or changed).
pub struct warren_table {
    _private: [u8; 0],
}

impl Plain for warren_table {
    type Rust = FieldTable;
}

/// An AMQP field array: values in order, possibly of mixed types. From `warren_array_new`
/// (owned, freed by `warren_array_free`) or a view borrowed from a table.
pub struct warren_array {
    _private: [u8; 0],
}

impl Plain for warren_array {
    type Rust = Vec<FieldValue>;
}

/// The most levels tables and arrays may nest, a top-level table being level 1.
pub const WARREN_MAX_NESTING: usize = 64;

const _: () = assert!(WARREN_MAX_NESTING == MAX_NESTING);

/// The type of a `warren_value`: one of the `WARREN_VALUE_*` values.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct warren_value_kind(pub u32);

/// No value (AMQP `V`); as a headers binding argument it asks only that the header be present.
pub const WARREN_VALUE_VOID: warren_value_kind = warren_value_kind(0);
/// A boolean, in `boolean`.
pub const WARREN_VALUE_BOOL: warren_value_kind = warren_value_kind(1);
/// A signed 8-bit integer, in `int_value`.
pub const WARREN_VALUE_I8: warren_value_kind = warren_value_kind(2);
/// An unsigned 8-bit integer, in `uint_value`.
pub const WARREN_VALUE_U8: warren_value_kind = warren_value_kind(3);
/// A signed 16-bit integer, in `int_value`.
pub const WARREN_VALUE_I16: warren_value_kind = warren_value_kind(4);
/// An unsigned 16-bit integer, in `uint_value`.
pub const WARREN_VALUE_U16: warren_value_kind = warren_value_kind(5);
/// A signed 32-bit integer, in `int_value`.
pub const WARREN_VALUE_I32: warren_value_kind = warren_value_kind(6);
/// An unsigned 32-bit integer, in `uint_value`.
pub const WARREN_VALUE_U32: warren_value_kind = warren_value_kind(7);
/// A signed 64-bit integer, in `int_value`.
pub const WARREN_VALUE_I64: warren_value_kind = warren_value_kind(8);
/// An unsigned 64-bit integer, in `uint_value`.
pub const WARREN_VALUE_U64: warren_value_kind = warren_value_kind(9);
/// A 32-bit float, in `float_value` (widened exactly).
pub const WARREN_VALUE_FLOAT: warren_value_kind = warren_value_kind(10);
/// A 64-bit float, in `float_value`.
pub const WARREN_VALUE_DOUBLE: warren_value_kind = warren_value_kind(11);
/// A decimal: `uint_value` × 10^-`decimal_scale` (the unscaled value fits 32 bits).
pub const WARREN_VALUE_DECIMAL: warren_value_kind = warren_value_kind(12);
/// A long string (bytes, conventionally UTF-8, not checked), in `bytes` and `bytes_len`.
pub const WARREN_VALUE_STRING: warren_value_kind = warren_value_kind(13);
/// A byte array (AMQP `x`), in `bytes` and `bytes_len`.
pub const WARREN_VALUE_BYTES: warren_value_kind = warren_value_kind(14);
/// A timestamp, seconds since the Unix epoch, in `uint_value`.
pub const WARREN_VALUE_TIMESTAMP: warren_value_kind = warren_value_kind(15);
/// A nested table, a view in `table`.
pub const WARREN_VALUE_TABLE: warren_value_kind = warren_value_kind(16);
/// An array, a view in `array`.
pub const WARREN_VALUE_ARRAY: warren_value_kind = warren_value_kind(17);

/// One value read from a table or an array: `kind` says which field holds it; the other fields
/// are zero or NULL. Written whole by `warren_table_get`, `warren_table_entry` and
/// `warren_array_get`.
///
/// `bytes`, `table` and `array` are views into what the value was read from, valid as long as
/// that is (see the module conventions): copy what must outlive it. For a string or byte
/// array of length 0, `bytes` is not NULL but must not be read.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct warren_value {
    /// The value's type, a `WARREN_VALUE_*` value.
    pub kind: warren_value_kind,
    /// `WARREN_VALUE_BOOL`.
    pub boolean: bool,
    /// `WARREN_VALUE_I8`, `_I16`, `_I32`, `_I64`.
    pub int_value: i64,
    /// `WARREN_VALUE_U8`, `_U16`, `_U32`, `_U64`, `_TIMESTAMP`, and the unscaled value of
    /// `_DECIMAL`.
    pub uint_value: u64,
    /// `WARREN_VALUE_FLOAT` and `_DOUBLE`.
    pub float_value: f64,
    /// The scale of `WARREN_VALUE_DECIMAL`: digits after the decimal point.
    pub decimal_scale: u8,
    /// `WARREN_VALUE_STRING` and `_BYTES`: the bytes (a view).
    pub bytes: *const u8,
    /// The length of `bytes`.
    pub bytes_len: usize,
    /// `WARREN_VALUE_TABLE`: a view of the nested table.
    pub table: *const warren_table,
    /// `WARREN_VALUE_ARRAY`: a view of the array.
    pub array: *const warren_array,
}

impl warren_value {
    /// The view of `value` for C.
    fn of(value: &FieldValue) -> warren_value {
        let mut v = warren_value {
            kind: WARREN_VALUE_VOID,
            boolean: false,
            int_value: 0,
            uint_value: 0,
            float_value: 0.0,
            decimal_scale: 0,
            bytes: std::ptr::null(),
            bytes_len: 0,
            table: std::ptr::null(),
            array: std::ptr::null(),
        };
        match value {
            FieldValue::Void => {}
            FieldValue::Bool(b) => (v.kind, v.boolean) = (WARREN_VALUE_BOOL, *b),
            FieldValue::I8(n) => (v.kind, v.int_value) = (WARREN_VALUE_I8, i64::from(*n)),
            FieldValue::I16(n) => (v.kind, v.int_value) = (WARREN_VALUE_I16, i64::from(*n)),
            FieldValue::I32(n) => (v.kind, v.int_value) = (WARREN_VALUE_I32, i64::from(*n)),
            FieldValue::I64(n) => (v.kind, v.int_value) = (WARREN_VALUE_I64, *n),
            FieldValue::U8(n) => (v.kind, v.uint_value) = (WARREN_VALUE_U8, u64::from(*n)),
            FieldValue::U16(n) => (v.kind, v.uint_value) = (WARREN_VALUE_U16, u64::from(*n)),
            FieldValue::U32(n) => (v.kind, v.uint_value) = (WARREN_VALUE_U32, u64::from(*n)),
            FieldValue::U64(n) => (v.kind, v.uint_value) = (WARREN_VALUE_U64, *n),
            FieldValue::F32(x) => (v.kind, v.float_value) = (WARREN_VALUE_FLOAT, f64::from(*x)),
            FieldValue::F64(x) => (v.kind, v.float_value) = (WARREN_VALUE_DOUBLE, *x),
            FieldValue::Decimal { scale, value } => {
                (v.kind, v.decimal_scale, v.uint_value) =
                    (WARREN_VALUE_DECIMAL, *scale, u64::from(*value));
            }
            FieldValue::LongString(b) => {
                (v.kind, v.bytes, v.bytes_len) = (WARREN_VALUE_STRING, b.as_ptr(), b.len());
            }
            FieldValue::ByteArray(b) => {
                (v.kind, v.bytes, v.bytes_len) = (WARREN_VALUE_BYTES, b.as_ptr(), b.len());
            }
            FieldValue::Timestamp(t) => (v.kind, v.uint_value) = (WARREN_VALUE_TIMESTAMP, *t),
            FieldValue::Table(t) => (v.kind, v.table) = (WARREN_VALUE_TABLE, plain_view(t)),
            FieldValue::Array(a) => (v.kind, v.array) = (WARREN_VALUE_ARRAY, plain_view(a)),
        }
        v
    }
}

/// The levels a table or array value occupies, itself included (0 for a scalar). Walks with
/// an explicit stack: the height is only known once the walk is done.
fn height(value: &FieldValue) -> usize {
    fn nested(v: &FieldValue) -> bool {
        matches!(v, FieldValue::Table(_) | FieldValue::Array(_))
    }
    if !nested(value) {
        return 0;
    }
    let mut most = 0;
    let mut pending = vec![(value, 1)];
    while let Some((v, level)) = pending.pop() {
        most = most.max(level);
        match v {
            FieldValue::Table(t) => pending.extend(
                t.iter()
                    .map(|(_, v)| v)
                    .filter(|v| nested(v))
                    .map(|v| (v, level + 1)),
            ),
            FieldValue::Array(items) => {
                pending.extend(items.iter().filter(|v| nested(v)).map(|v| (v, level + 1)));
            }
            _ => {}
        }
    }
    most
}

/// Refuses a value that would nest deeper than [`MAX_NESTING`] levels inside a table or array
/// (itself level 1).
fn check_nesting(value: &FieldValue) -> Result<(), Fail> {
    let h = height(value);
    if h >= MAX_NESTING {
        return Err(Fail::new(
            WARREN_STATUS_INVALID_ARGUMENT,
            format!(
                "value nests {h} levels: inside a table or array that makes {}, more than the \
                 {MAX_NESTING} levels allowed",
                h + 1
            ),
        ));
    }
    Ok(())
}

/// Sets `name` in the table C owns to `value` (already read from its own inputs, which may be
/// views into this table: they are done with before the table is borrowed to change it).
///
/// # Safety
///
/// As `warren_table_set_bool`.
unsafe fn set_field(
    table: *mut warren_table,
    name_ptr: *const u8,
    name_len: usize,
    value: FieldValue,
) -> Result<(), Fail> {
    // SAFETY: `name_ptr` is NULL or points to `name_len` readable bytes (# Safety).
    let field = unsafe { labelled_name(name_ptr, name_len, Input::Property, "field name") }?;
    check_nesting(&value)?;
    // SAFETY: `table` is NULL or an owned table used by no one else during the call; the
    // other inputs were read above (# Safety).
    let table = unsafe { plain_mut(table, "table") }?;
    table.insert(field, value);
    Ok(())
}

/// Appends `value` to the array C owns (read first, as in [`set_field`]).
///
/// # Safety
///
/// As `warren_array_push_bool`.
unsafe fn push_item(array: *mut warren_array, value: FieldValue) -> Result<(), Fail> {
    check_nesting(&value)?;
    // SAFETY: `array` is NULL or an owned array used by no one else during the call
    // (# Safety).
    let array = unsafe { plain_mut(array, "array") }?;
    array.push(value);
    Ok(())
}

/// Creates an empty table and writes it to `*table_out`; free it with `warren_table_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `table_out` is NULL.
///
/// # Safety
///
/// `table_out` is NULL or points to a writable `warren_table *`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_new(table_out: *mut *mut warren_table) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `table_out` is NULL or writable (# Safety).
        let table_out = unsafe { out(table_out, "table_out") }?;
        table_out.set(plain_new(FieldTable::new()));
        Ok(())
    })
}

/// Copies `table` (an owned table or a view, e.g. a delivery's headers) into a new table the
/// caller owns, written to `*table_out`; free it with `warren_table_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `table` is NULL, a live table or a valid view, not changed during the call; `table_out`
/// is NULL or points to a writable `warren_table *`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_copy(
    table: *const warren_table,
    table_out: *mut *mut warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `table` is NULL or readable for the call; `table_out` is NULL or writable
        // (# Safety).
        let (table, table_out) =
            unsafe { (plain_ref(table, "table")?, out(table_out, "table_out")?) };
        table_out.set(plain_new(table.clone()));
        Ok(())
    })
}

/// Frees a table from `warren_table_new` or `warren_table_copy`, with everything in it; NULL
/// does nothing. Views read from it are invalid afterwards. Never pass a view.
///
/// # Safety
///
/// `table` is NULL or a table the caller owns, not used by any call now or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_table_free(table: *mut warren_table) {
    ffi_boundary!(default = (), {
        // SAFETY: `table` is NULL or owned, and not used after this (# Safety).
        unsafe { plain_free(table) }
    })
}

// ----- building tables -----

/// Sets the field `name` of `table` to the boolean `value` (AMQP `t`), replacing any value it had.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `table`, or a NULL `name` with a length;
/// `WARREN_STATUS_INVALID_UTF8` and `WARREN_STATUS_TOO_LONG` for a name that is not UTF-8 of
/// at most 255 bytes. Nothing changes on failure.
///
/// # Safety
///
/// `table` is NULL or a table from `warren_table_new` or `warren_table_copy` (not a view),
/// not used by another thread during the call; `name` is NULL or points to `name_len`
/// readable bytes.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_bool(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::Bool(value)) }
    })
}

/// Sets the field `name` of `table` to the signed 8-bit integer `value` (AMQP `b`), replacing any
/// value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_i8(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: i8,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::I8(value)) }
    })
}

/// Sets the field `name` of `table` to the unsigned 8-bit integer `value` (AMQP `B`), replacing any
/// value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_u8(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: u8,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::U8(value)) }
    })
}

/// Sets the field `name` of `table` to the signed 16-bit integer `value` (AMQP `s`), replacing any
/// value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_i16(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: i16,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::I16(value)) }
    })
}

/// Sets the field `name` of `table` to the unsigned 16-bit integer `value` (AMQP `u`), replacing
/// any value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_u16(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: u16,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::U16(value)) }
    })
}

/// Sets the field `name` of `table` to the signed 32-bit integer `value` (AMQP `I`), replacing any
/// value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_i32(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: i32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::I32(value)) }
    })
}

/// Sets the field `name` of `table` to the unsigned 32-bit integer `value` (AMQP `i`), replacing
/// any value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_u32(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: u32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::U32(value)) }
    })
}

/// Sets the field `name` of `table` to the signed 64-bit integer `value` (AMQP `l`), replacing any
/// value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_i64(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: i64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::I64(value)) }
    })
}

/// Sets the field `name` of `table` to the unsigned 64-bit integer `value` (AMQP `L`), replacing
/// any value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_u64(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::U64(value)) }
    })
}

/// Sets the field `name` of `table` to the 32-bit float `value` (AMQP `f`), replacing any value it
/// had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_float(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: f32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::F32(value)) }
    })
}

/// Sets the field `name` of `table` to the 64-bit float `value` (AMQP `d`), replacing any value it
/// had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_double(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: f64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::F64(value)) }
    })
}

/// Sets the field `name` of `table` to the timestamp `value`, seconds since the Unix epoch (AMQP
/// `T`), replacing any value it had.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_timestamp(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::Timestamp(value)) }
    })
}

/// Sets the field `name` of `table` to the decimal `value` × 10^-`scale` (AMQP `D`).
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_decimal(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    scale: u8,
    value: u32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::Decimal { scale, value }) }
    })
}

/// Sets the field `name` of `table` to the long string `value` (AMQP `S`): `value_len` bytes,
/// copied, conventionally UTF-8 but not checked ((NULL, 0) is the empty string).
///
/// # Errors
///
/// As `warren_table_set_bool`; also `WARREN_STATUS_NULL_ARGUMENT` for a NULL `value` with a
/// length, `WARREN_STATUS_TOO_LONG` for a value over 512 MiB (checked before a byte is read).
///
/// # Safety
///
/// As `warren_table_set_bool`; `value` is NULL or points to `value_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_string(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `value` is NULL or points to `value_len` readable bytes (# Safety).
        let bytes = unsafe { long_bytes(value, value_len, "value") }?;
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            set_field(
                table,
                name,
                name_len,
                FieldValue::LongString(bytes.to_vec()),
            )
        }
    })
}

/// Sets the field `name` of `table` to the byte array `value` (AMQP `x`), copied.
///
/// # Errors
///
/// As `warren_table_set_string`.
///
/// # Safety
///
/// As `warren_table_set_string`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_bytes(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `value` is NULL or points to `value_len` readable bytes (# Safety).
        let bytes = unsafe { long_bytes(value, value_len, "value") }?;
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::ByteArray(bytes.to_vec())) }
    })
}

/// Sets the field `name` of `table` to void (AMQP `V`, no value): as a headers binding
/// argument, it asks only that the header be present (SEMANTICS E3).
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_void(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::Void) }
    })
}

/// Sets the field `name` of `table` to a copy of the table `value` (AMQP `F`): an owned table
/// or a view, even `table` itself or a view into it (copied before `table` changes).
///
/// # Errors
///
/// As `warren_table_set_bool`; `WARREN_STATUS_NULL_ARGUMENT` for a NULL `value`;
/// `WARREN_STATUS_INVALID_ARGUMENT` when `table` would nest more than `WARREN_MAX_NESTING`
/// levels.
///
/// # Safety
///
/// As `warren_table_set_bool`; `value` is NULL, a live table or a valid view.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_table(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `value` is NULL or readable; the copy ends the borrow before `table` is
        // borrowed to change it (# Safety).
        let copy = unsafe { plain_ref(value, "value") }?.clone();
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::Table(copy)) }
    })
}

/// Sets the field `name` of `table` to a copy of the array `value` (AMQP `A`): an owned array
/// or a view.
///
/// # Errors
///
/// As `warren_table_set_table`.
///
/// # Safety
///
/// As `warren_table_set_bool`; `value` is NULL, a live array or a valid view.
#[no_mangle]
pub unsafe extern "C" fn warren_table_set_array(
    table: *mut warren_table,
    name: *const u8,
    name_len: usize,
    value: *const warren_array,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: as in `warren_table_set_table`.
        let copy = unsafe { plain_ref(value, "value") }?.clone();
        // SAFETY: passed on from this function's # Safety.
        unsafe { set_field(table, name, name_len, FieldValue::Array(copy)) }
    })
}

/// Removes the field `name` from `table`; `*removed_out` (optional) says whether it was
/// there.
///
/// # Errors
///
/// As `warren_table_set_bool`.
///
/// # Safety
///
/// As `warren_table_set_bool`; `removed_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_table_remove(
    table: *mut warren_table,
    name_ptr: *const u8,
    name_len: usize,
    removed_out: *mut bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: the name is NULL or readable; `removed_out` is NULL or writable (# Safety).
        let (field, removed_out) = unsafe {
            (
                labelled_name(name_ptr, name_len, Input::Property, "field name")?,
                opt_out(removed_out),
            )
        };
        // SAFETY: `table` is NULL or owned and used by no one else during the call (# Safety).
        let table = unsafe { plain_mut(table, "table") }?;
        let removed = table.remove(field).is_some();
        set_opt(removed_out, removed);
        Ok(())
    })
}

// ----- building arrays -----

/// Creates an empty array and writes it to `*array_out`; free it with `warren_array_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `array_out` is NULL.
///
/// # Safety
///
/// `array_out` is NULL or points to a writable `warren_array *`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_new(array_out: *mut *mut warren_array) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `array_out` is NULL or writable (# Safety).
        let array_out = unsafe { out(array_out, "array_out") }?;
        array_out.set(plain_new(Vec::new()));
        Ok(())
    })
}

/// Frees an array from `warren_array_new`, with everything in it; NULL does nothing. Never
/// pass a view.
///
/// # Safety
///
/// `array` is NULL or an array the caller owns, not used by any call now or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_array_free(array: *mut warren_array) {
    ffi_boundary!(default = (), {
        // SAFETY: `array` is NULL or owned, and not used after this (# Safety).
        unsafe { plain_free(array) }
    })
}

/// Appends the boolean `value` (AMQP `t`) to `array`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `array`.
///
/// # Safety
///
/// `array` is NULL or an array from `warren_array_new` (not a view), not used by another
/// thread during the call.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_bool(
    array: *mut warren_array,
    value: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::Bool(value)) }
    })
}

/// Appends the signed 8-bit integer `value` (AMQP `b`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_i8(
    array: *mut warren_array,
    value: i8,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::I8(value)) }
    })
}

/// Appends the unsigned 8-bit integer `value` (AMQP `B`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_u8(
    array: *mut warren_array,
    value: u8,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::U8(value)) }
    })
}

/// Appends the signed 16-bit integer `value` (AMQP `s`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_i16(
    array: *mut warren_array,
    value: i16,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::I16(value)) }
    })
}

/// Appends the unsigned 16-bit integer `value` (AMQP `u`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_u16(
    array: *mut warren_array,
    value: u16,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::U16(value)) }
    })
}

/// Appends the signed 32-bit integer `value` (AMQP `I`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_i32(
    array: *mut warren_array,
    value: i32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::I32(value)) }
    })
}

/// Appends the unsigned 32-bit integer `value` (AMQP `i`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_u32(
    array: *mut warren_array,
    value: u32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::U32(value)) }
    })
}

/// Appends the signed 64-bit integer `value` (AMQP `l`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_i64(
    array: *mut warren_array,
    value: i64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::I64(value)) }
    })
}

/// Appends the unsigned 64-bit integer `value` (AMQP `L`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_u64(
    array: *mut warren_array,
    value: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::U64(value)) }
    })
}

/// Appends the 32-bit float `value` (AMQP `f`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_float(
    array: *mut warren_array,
    value: f32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::F32(value)) }
    })
}

/// Appends the 64-bit float `value` (AMQP `d`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_double(
    array: *mut warren_array,
    value: f64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::F64(value)) }
    })
}

/// Appends the timestamp `value`, seconds since the Unix epoch (AMQP `T`) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_timestamp(
    array: *mut warren_array,
    value: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::Timestamp(value)) }
    })
}

/// Appends the decimal `value` × 10^-`scale` to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_decimal(
    array: *mut warren_array,
    scale: u8,
    value: u32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::Decimal { scale, value }) }
    })
}

/// Appends the long string `value` (`value_len` bytes, copied) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`; also `WARREN_STATUS_NULL_ARGUMENT` for a NULL `value` with a
/// length, `WARREN_STATUS_TOO_LONG` for a value over 512 MiB.
///
/// # Safety
///
/// As `warren_array_push_bool`; `value` is NULL or points to `value_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_string(
    array: *mut warren_array,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `value` is NULL or points to `value_len` readable bytes (# Safety).
        let bytes = unsafe { long_bytes(value, value_len, "value") }?;
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::LongString(bytes.to_vec())) }
    })
}

/// Appends the byte array `value` (copied) to `array`.
///
/// # Errors
///
/// As `warren_array_push_string`.
///
/// # Safety
///
/// As `warren_array_push_string`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_bytes(
    array: *mut warren_array,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `value` is NULL or points to `value_len` readable bytes (# Safety).
        let bytes = unsafe { long_bytes(value, value_len, "value") }?;
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::ByteArray(bytes.to_vec())) }
    })
}

/// Appends void (no value) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`.
///
/// # Safety
///
/// As `warren_array_push_bool`.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_void(array: *mut warren_array) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::Void) }
    })
}

/// Appends a copy of the table `value` (owned or a view) to `array`.
///
/// # Errors
///
/// As `warren_array_push_bool`; `WARREN_STATUS_NULL_ARGUMENT` for a NULL `value`;
/// `WARREN_STATUS_INVALID_ARGUMENT` when `array` would nest more than `WARREN_MAX_NESTING`
/// levels.
///
/// # Safety
///
/// As `warren_array_push_bool`; `value` is NULL, a live table or a valid view.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_table(
    array: *mut warren_array,
    value: *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `value` is NULL or readable; the copy ends the borrow before `array` is
        // borrowed to change it (# Safety).
        let copy = unsafe { plain_ref(value, "value") }?.clone();
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::Table(copy)) }
    })
}

/// Appends a copy of the array `value` (owned or a view, even `array` itself) to `array`.
///
/// # Errors
///
/// As `warren_array_push_table`.
///
/// # Safety
///
/// As `warren_array_push_bool`; `value` is NULL, a live array or a valid view.
#[no_mangle]
pub unsafe extern "C" fn warren_array_push_array(
    array: *mut warren_array,
    value: *const warren_array,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: as in `warren_array_push_table`.
        let copy = unsafe { plain_ref(value, "value") }?.clone();
        // SAFETY: passed on from this function's # Safety.
        unsafe { push_item(array, FieldValue::Array(copy)) }
    })
}

// ----- reading -----

/// The number of fields of `table` (an owned table or a view); 0 for NULL.
///
/// # Safety
///
/// `table` is NULL, a live table or a valid view, not changed during the call.
#[no_mangle]
pub unsafe extern "C" fn warren_table_len(table: *const warren_table) -> usize {
    ffi_boundary!(default = 0, {
        // SAFETY: `table` is NULL or readable (# Safety).
        unsafe { plain_ref(table, "table") }.map_or(0, FieldTable::len)
    })
}

/// The field of `table` at `index` in bytewise name order (0 to `warren_table_len` - 1): its
/// name to `*name_out` and `*name_len_out` (UTF-8, not NUL-terminated) and its value to
/// `*value_out`, all views valid while `table` is (see the module conventions). Walks the
/// table to the index: O(index).
///
/// # Errors
///
/// `WARREN_STATUS_INVALID_ARGUMENT` for an index past the end; `WARREN_STATUS_NULL_ARGUMENT`
/// if an argument is NULL.
///
/// # Safety
///
/// `table` is NULL, a live table or a valid view, not changed during the call; each output is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_table_entry(
    table: *const warren_table,
    index: usize,
    name_out: *mut *const u8,
    name_len_out: *mut usize,
    value_out: *mut warren_value,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `table` is NULL or readable; the outputs are NULL or writable (# Safety).
        let (table, name_out, name_len_out, value_out) = unsafe {
            (
                plain_ref(table, "table")?,
                out(name_out, "name_out")?,
                out(name_len_out, "name_len_out")?,
                out(value_out, "value_out")?,
            )
        };
        let Some((field, value)) = table.iter().nth(index) else {
            return Err(Fail::new(
                WARREN_STATUS_INVALID_ARGUMENT,
                format!(
                    "index {index} past the end of a table of {} fields",
                    table.len()
                ),
            ));
        };
        set_str(name_out, name_len_out, Some(field.as_bytes()));
        value_out.set(warren_value::of(value));
        Ok(())
    })
}

/// Looks up the field `name` of `table`: `*found_out` says whether it is there and, if so,
/// `*value_out` gets its value (views valid while `table` is); otherwise `*value_out` is
/// untouched.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `table`, `found_out` or `value_out` is NULL, or `name` is
/// NULL with a length; `WARREN_STATUS_INVALID_UTF8`, `WARREN_STATUS_TOO_LONG` for a name no
/// table can hold.
///
/// # Safety
///
/// `table` is NULL, a live table or a valid view, not changed during the call; `name` is NULL
/// or points to `name_len` readable bytes; the outputs are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_table_get(
    table: *const warren_table,
    name_ptr: *const u8,
    name_len: usize,
    found_out: *mut bool,
    value_out: *mut warren_value,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `table` is NULL or readable; the name is NULL or readable; the outputs are
        // NULL or writable (# Safety).
        let (table, field, found_out, value_out) = unsafe {
            (
                plain_ref(table, "table")?,
                labelled_name(name_ptr, name_len, Input::Property, "field name")?,
                out(found_out, "found_out")?,
                out(value_out, "value_out")?,
            )
        };
        match table.get(field) {
            Some(value) => {
                value_out.set(warren_value::of(value));
                found_out.set(true);
            }
            None => found_out.set(false),
        }
        Ok(())
    })
}

/// The number of values of `array` (an owned array or a view); 0 for NULL.
///
/// # Safety
///
/// `array` is NULL, a live array or a valid view, not changed during the call.
#[no_mangle]
pub unsafe extern "C" fn warren_array_len(array: *const warren_array) -> usize {
    ffi_boundary!(default = 0, {
        // SAFETY: `array` is NULL or readable (# Safety).
        unsafe { plain_ref(array, "array") }.map_or(0, Vec::len)
    })
}

/// The value of `array` at `index` to `*value_out` (views valid while `array` is).
///
/// # Errors
///
/// `WARREN_STATUS_INVALID_ARGUMENT` for an index past the end; `WARREN_STATUS_NULL_ARGUMENT`
/// if an argument is NULL.
///
/// # Safety
///
/// `array` is NULL, a live array or a valid view, not changed during the call; `value_out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_array_get(
    array: *const warren_array,
    index: usize,
    value_out: *mut warren_value,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `array` is NULL or readable; `value_out` is NULL or writable (# Safety).
        let (array, value_out) =
            unsafe { (plain_ref(array, "array")?, out(value_out, "value_out")?) };
        let Some(value) = array.get(index) else {
            return Err(Fail::new(
                WARREN_STATUS_INVALID_ARGUMENT,
                format!(
                    "index {index} past the end of an array of {} values",
                    array.len()
                ),
            ));
        };
        value_out.set(warren_value::of(value));
        Ok(())
    })
}

/// The Rust table of an optional C `arguments` pointer: NULL is the empty table.
///
/// # Safety
///
/// `arguments` is NULL, a live table or a valid view, not changed during the call.
pub(crate) unsafe fn args_of<'a>(arguments: *const warren_table) -> &'a FieldTable {
    static EMPTY: FieldTable = FieldTable::new();
    if arguments.is_null() {
        return &EMPTY;
    }
    // SAFETY: `arguments` is not NULL and readable for the call (# Safety).
    unsafe { plain_ref(arguments, "arguments") }.unwrap_or(&EMPTY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(levels: usize) -> FieldValue {
        let mut v = FieldValue::from(1u8);
        for _ in 0..levels {
            v = FieldValue::Table(FieldTable::new().with("n", v));
        }
        v
    }

    #[test]
    fn height_counts_levels_of_tables_and_arrays() {
        assert_eq!(height(&FieldValue::I8(1)), 0);
        assert_eq!(height(&chain(1)), 1);
        assert_eq!(height(&chain(5)), 5);
        let mixed = FieldValue::Array(vec![FieldValue::Void, chain(3), FieldValue::Array(vec![])]);
        assert_eq!(height(&mixed), 4);
        // What check_table (the engine's rule) accepts as headers is what C can build: a
        // table holding a value of height 63 is 64 levels.
        assert!(check_nesting(&chain(63)).is_ok());
        assert!(check_nesting(&chain(64)).is_err());
        let FieldValue::Table(deepest) = chain(64) else {
            unreachable!()
        };
        assert!(crate::broker::properties::check_table(&deepest).is_ok());
        let FieldValue::Table(too_deep) = chain(65) else {
            unreachable!()
        };
        assert!(crate::broker::properties::check_table(&too_deep).is_err());
    }
}
