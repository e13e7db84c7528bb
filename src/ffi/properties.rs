//! `warren_properties_*`: the properties of a message (SEMANTICS P3), built for
//! `warren_channel_basic_publish` and read from a delivery (`warren_delivery_properties`) or a
//! returned message.
//!
//! An object from `warren_properties_new` starts with no property set; each setter sets one,
//! replacing its value, and `warren_properties_clear` unsets them all, so one object can serve
//! many publishes (a publish copies what it needs). Each getter reads one, saying when it is
//! not set; getters take both owned objects and views.
//!
//! # Ownership and threads
//!
//! An object from `warren_properties_new` is owned by the caller until
//! `warren_properties_free`. A view (`const warren_properties *` from a delivery or a returned
//! message) is borrowed: valid while what it came from is, never freed or changed. One thread
//! at a time; several may read one nobody changes. Never poisoned (a plain value).
//!
//! # Checks
//!
//! Text properties are checked when set: UTF-8 of at most 255 bytes (SEMANTICS N1). The
//! `expiration` is checked by the publish, as for any client (a string that is not decimal
//! milliseconds in range is 406 there, SEMANTICS P3, L1).

use super::boundary::{
    labelled_name, out, plain_free, plain_mut, plain_new, plain_ref, plain_view, set_str, Fail,
    Out, Plain,
};
use super::status::warren_status;
use super::table::warren_table;
use crate::error::Input;
use crate::BasicProperties;

/// Message properties (SEMANTICS P3): from `warren_properties_new` (owned, freed by
/// `warren_properties_free`) or a view borrowed from a delivery or a returned message.
pub struct warren_properties {
    _private: [u8; 0],
}

impl Plain for warren_properties {
    type Rust = BasicProperties;
}

/// The object C owns and the checked text of a text setter.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
unsafe fn text_input<'a>(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
    what: &str,
) -> Result<(&'a mut BasicProperties, String), Fail> {
    // SAFETY: `value` is NULL or points to `value_len` readable bytes (# Safety).
    let text = unsafe { labelled_name(value, value_len, Input::Property, what) }?.to_string();
    // SAFETY: `properties` is NULL or owned and used by no one else during the call; `value`
    // was read above (# Safety).
    let p = unsafe { plain_mut(properties, "properties") }?;
    Ok((p, text))
}

/// Creates a properties object with nothing set and writes it to `*properties_out`; free it
/// with `warren_properties_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `properties_out` is NULL.
///
/// # Safety
///
/// `properties_out` is NULL or points to a writable `warren_properties *`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_new(
    properties_out: *mut *mut warren_properties,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `properties_out` is NULL or writable (# Safety).
        let properties_out = unsafe { out(properties_out, "properties_out") }?;
        properties_out.set(plain_new(BasicProperties::default()));
        Ok(())
    })
}

/// Frees a properties object from `warren_properties_new`; NULL does nothing. Never pass a
/// view.
///
/// # Safety
///
/// `properties` is NULL or an object the caller owns, not used by any call now or after this
/// one.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_free(properties: *mut warren_properties) {
    ffi_boundary!(default = (), {
        // SAFETY: `properties` is NULL or owned, and not used after this (# Safety).
        unsafe { plain_free(properties) }
    })
}

/// Unsets every property, to reuse the object for another message.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
///
/// # Safety
///
/// `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
/// another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_clear(
    properties: *mut warren_properties,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `properties` is NULL or owned and used by no one else (# Safety).
        let p = unsafe { plain_mut(properties, "properties") }?;
        *p = BasicProperties::default();
        Ok(())
    })
}

/// Sets the `headers` to a copy of `headers` (an owned table or a view, e.g. a delivery's
/// headers), or unsets them when `headers` is NULL. Headers exchanges match on them
/// (SEMANTICS E3); `CC` and `BCC` arrays add routing keys (P4).
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
///
/// # Safety
///
/// `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
/// another thread during the call; `headers` is NULL, a live table or a valid view (even one
/// read from `properties` itself: it is copied first).
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_headers(
    properties: *mut warren_properties,
    headers: *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        let copy = if headers.is_null() {
            None
        } else {
            // SAFETY: `headers` is a live table or a valid view; the copy ends the borrow
            // before `properties` is borrowed to change it (# Safety).
            Some(unsafe { plain_ref(headers, "headers") }?.clone())
        };
        // SAFETY: `properties` is NULL or owned and used by no one else (# Safety).
        let p = unsafe { plain_mut(properties, "properties") }?;
        p.headers = copy;
        Ok(())
    })
}

/// Sets the MIME content type, e.g. `application/json`, replacing any value (`value_len` bytes,
/// copied; (NULL, 0) is the empty string, which is set, not absent).
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`, or a NULL `value` with a length;
/// `WARREN_STATUS_INVALID_UTF8`, `WARREN_STATUS_TOO_LONG` for a value that is not UTF-8 of at
/// most 255 bytes (SEMANTICS N1). Nothing changes on failure.
///
/// # Safety
///
/// `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
/// another thread during the call; `value` is NULL or points to `value_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_content_type(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "content_type") }?;
        p.content_type = Some(text);
        Ok(())
    })
}

/// Sets the MIME content encoding, e.g. `gzip`, replacing any value (`value_len` bytes, copied;
/// (NULL, 0) is the empty string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_content_encoding(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "content_encoding") }?;
        p.content_encoding = Some(text);
        Ok(())
    })
}

/// Sets the correlation id, matching an RPC reply to its request (SEMANTICS R1), replacing any
/// value (`value_len` bytes, copied; (NULL, 0) is the empty
/// string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_correlation_id(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "correlation_id") }?;
        p.correlation_id = Some(text);
        Ok(())
    })
}

/// Sets the queue to reply to (SEMANTICS R1, R2), replacing any value (`value_len` bytes, copied;
/// (NULL, 0) is the empty string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_reply_to(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "reply_to") }?;
        p.reply_to = Some(text);
        Ok(())
    })
}

/// Sets the per-message TTL: decimal milliseconds, 0 to 315360000000 (SEMANTICS L1; checked by the
/// publish, 406), replacing any value (`value_len` bytes, copied; (NULL, 0) is the empty
/// string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_expiration(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "expiration") }?;
        p.expiration = Some(text);
        Ok(())
    })
}

/// Sets the application message id, replacing any value (`value_len` bytes, copied; (NULL, 0) is
/// the empty string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_message_id(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "message_id") }?;
        p.message_id = Some(text);
        Ok(())
    })
}

/// Sets the message type name (AMQP's `type`), replacing any value (`value_len` bytes, copied;
/// (NULL, 0) is the empty string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_type(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "type") }?;
        p.kind = Some(text);
        Ok(())
    })
}

/// Sets the publishing user id (not checked in-process, SEMANTICS P3), replacing any value
/// (`value_len` bytes, copied; (NULL, 0) is the empty string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_user_id(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "user_id") }?;
        p.user_id = Some(text);
        Ok(())
    })
}

/// Sets the publishing application's id, replacing any value (`value_len` bytes, copied; (NULL, 0)
/// is the empty string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_app_id(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "app_id") }?;
        p.app_id = Some(text);
        Ok(())
    })
}

/// Sets the cluster id (deprecated in AMQP 0-9-1, carried unchanged), replacing any value
/// (`value_len` bytes, copied; (NULL, 0) is the empty string, which is set, not absent).
///
/// # Errors
///
/// As `warren_properties_set_content_type`.
///
/// # Safety
///
/// As `warren_properties_set_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_cluster_id(
    properties: *mut warren_properties,
    value: *const u8,
    value_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let (p, text) = unsafe { text_input(properties, value, value_len, "cluster_id") }?;
        p.cluster_id = Some(text);
        Ok(())
    })
}

/// Sets the delivery mode: 2 persistent (written to disk in a durable queue of a durable broker),
/// any other value transient.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
///
/// # Safety
///
/// `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
/// another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_delivery_mode(
    properties: *mut warren_properties,
    value: u8,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `properties` is NULL or owned and used by no one else (# Safety).
        let p = unsafe { plain_mut(properties, "properties") }?;
        p.delivery_mode = Some(value);
        Ok(())
    })
}

/// Sets the priority, 0 to 255 (used by queues with `x-max-priority`, SEMANTICS L7).
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
///
/// # Safety
///
/// `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
/// another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_priority(
    properties: *mut warren_properties,
    value: u8,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `properties` is NULL or owned and used by no one else (# Safety).
        let p = unsafe { plain_mut(properties, "properties") }?;
        p.priority = Some(value);
        Ok(())
    })
}

/// Sets the timestamp, seconds since the Unix epoch (set by the publisher, never by warren).
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `properties`.
///
/// # Safety
///
/// `properties` is NULL or an object from `warren_properties_new` (not a view), not used by
/// another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_set_timestamp(
    properties: *mut warren_properties,
    value: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `properties` is NULL or owned and used by no one else (# Safety).
        let p = unsafe { plain_mut(properties, "properties") }?;
        p.timestamp = Some(value);
        Ok(())
    })
}

/// Reads the `headers`: `*headers_out` gets a view of the table (valid while `properties` is;
/// read it with `warren_table_get` and friends, never free it), or NULL when there are none.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `properties` is NULL, a live object or a valid view, not changed during the call;
/// `headers_out` is NULL or points to a writable `const warren_table *`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_headers(
    properties: *const warren_properties,
    headers_out: *mut *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `properties` is NULL or readable; `headers_out` is NULL or writable
        // (# Safety).
        let (p, headers_out) = unsafe {
            (
                plain_ref(properties, "properties")?,
                out(headers_out, "headers_out")?,
            )
        };
        headers_out.set(p.headers.as_ref().map_or(std::ptr::null(), plain_view));
        Ok(())
    })
}

/// The body of a text getter: `get` picks the property.
///
/// # Safety
///
/// As `warren_properties_content_type`.
unsafe fn text_output(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
    get: impl FnOnce(&BasicProperties) -> Option<&str>,
) -> Result<(), Fail> {
    // SAFETY: `properties` is NULL or readable; the outputs are NULL or writable (# Safety).
    let (p, ptr_out, len_out) = unsafe {
        (
            plain_ref(properties, "properties")?,
            out(ptr_out, "ptr_out")?,
            out(len_out, "len_out")?,
        )
    };
    set_str(ptr_out, len_out, get(p).map(str::as_bytes));
    Ok(())
}

/// The body of a number getter: `get` picks the property.
///
/// # Safety
///
/// As `warren_properties_delivery_mode`.
unsafe fn number_output<T: Default>(
    properties: *const warren_properties,
    set_out: *mut bool,
    value_out: *mut T,
    get: impl FnOnce(&BasicProperties) -> Option<T>,
) -> Result<(), Fail> {
    // SAFETY: `properties` is NULL or readable; the outputs are NULL or writable (# Safety).
    let (p, set_out, value_out): (_, Out<'_, bool>, Out<'_, T>) = unsafe {
        (
            plain_ref(properties, "properties")?,
            out(set_out, "set_out")?,
            out(value_out, "value_out")?,
        )
    };
    let value = get(p);
    set_out.set(value.is_some());
    value_out.set(value.unwrap_or_default());
    Ok(())
}

/// Reads the MIME content type, e.g. `application/json`: `*ptr_out` and `*len_out` get the bytes
/// (UTF-8, not NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not
/// set.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `properties` is NULL, a live object or a valid view, not changed during the call; the
/// outputs are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_content_type(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { text_output(properties, ptr_out, len_out, |p| p.content_type.as_deref()) }
    })
}

/// Reads the MIME content encoding, e.g. `gzip`: `*ptr_out` and `*len_out` get the bytes (UTF-8,
/// not NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_content_encoding(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            text_output(properties, ptr_out, len_out, |p| {
                p.content_encoding.as_deref()
            })
        }
    })
}

/// Reads the correlation id, matching an RPC reply to its request (SEMANTICS R1): `*ptr_out` and
/// `*len_out` get the bytes (UTF-8, not NUL-terminated, a view valid while `properties` is), or
/// NULL and 0 when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_correlation_id(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            text_output(properties, ptr_out, len_out, |p| {
                p.correlation_id.as_deref()
            })
        }
    })
}

/// Reads the queue to reply to (SEMANTICS R1, R2): `*ptr_out` and `*len_out` get the bytes (UTF-8,
/// not NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_reply_to(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { text_output(properties, ptr_out, len_out, |p| p.reply_to.as_deref()) }
    })
}

/// Reads the per-message TTL: decimal milliseconds, 0 to 315360000000 (SEMANTICS L1; checked by the
/// publish, 406): `*ptr_out` and `*len_out` get the bytes (UTF-8, not NUL-terminated,
/// a view valid while `properties` is), or NULL and 0 when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_expiration(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { text_output(properties, ptr_out, len_out, |p| p.expiration.as_deref()) }
    })
}

/// Reads the application message id: `*ptr_out` and `*len_out` get the bytes (UTF-8, not
/// NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_message_id(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { text_output(properties, ptr_out, len_out, |p| p.message_id.as_deref()) }
    })
}

/// Reads the message type name (AMQP's `type`): `*ptr_out` and `*len_out` get the bytes (UTF-8, not
/// NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_type(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { text_output(properties, ptr_out, len_out, |p| p.kind.as_deref()) }
    })
}

/// Reads the publishing user id (not checked in-process, SEMANTICS P3): `*ptr_out` and `*len_out`
/// get the bytes (UTF-8, not NUL-terminated, a view valid while `properties` is), or NULL and 0
/// when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_user_id(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { text_output(properties, ptr_out, len_out, |p| p.user_id.as_deref()) }
    })
}

/// Reads the publishing application's id: `*ptr_out` and `*len_out` get the bytes (UTF-8, not
/// NUL-terminated, a view valid while `properties` is), or NULL and 0 when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_app_id(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { text_output(properties, ptr_out, len_out, |p| p.app_id.as_deref()) }
    })
}

/// Reads the cluster id (deprecated in AMQP 0-9-1, carried unchanged): `*ptr_out` and `*len_out`
/// get the bytes (UTF-8, not NUL-terminated, a view valid while `properties` is), or NULL and 0
/// when it is not set.
///
/// # Errors
///
/// As `warren_properties_content_type`.
///
/// # Safety
///
/// As `warren_properties_content_type`.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_cluster_id(
    properties: *const warren_properties,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { text_output(properties, ptr_out, len_out, |p| p.cluster_id.as_deref()) }
    })
}

/// Reads the delivery mode: 2 persistent (written to disk in a durable queue of a durable broker),
/// any other value transient: `*set_out` says whether it is set, and `*value_out` gets it (0 when
/// not set).
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `properties` is NULL, a live object or a valid view, not changed during the call; the
/// outputs are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_delivery_mode(
    properties: *const warren_properties,
    set_out: *mut bool,
    value_out: *mut u8,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { number_output(properties, set_out, value_out, |p| p.delivery_mode) }
    })
}

/// Reads the priority, 0 to 255 (used by queues with `x-max-priority`, SEMANTICS L7): `*set_out`
/// says whether it is set, and `*value_out` gets it (0 when not
/// set).
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `properties` is NULL, a live object or a valid view, not changed during the call; the
/// outputs are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_priority(
    properties: *const warren_properties,
    set_out: *mut bool,
    value_out: *mut u8,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { number_output(properties, set_out, value_out, |p| p.priority) }
    })
}

/// Reads the timestamp, seconds since the Unix epoch (set by the publisher, never by warren):
/// `*set_out` says whether it is set, and `*value_out` gets it (0 when not
/// set).
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `properties` is NULL, a live object or a valid view, not changed during the call; the
/// outputs are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_properties_timestamp(
    properties: *const warren_properties,
    set_out: *mut bool,
    value_out: *mut u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { number_output(properties, set_out, value_out, |p| p.timestamp) }
    })
}
