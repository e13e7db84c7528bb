//! `warren_delivery_*`: a received message: its body (zero-copy), routing data and
//! properties, and settling it.

use super::boundary::{
    borrow, free_recycled, out, plain_view, set_str, Fail, Handle, Recycled, Spare,
};
use super::properties::warren_properties;
use super::status::warren_status;
use crate::broker::{BasicNackOptions, BasicRejectOptions};
use crate::Delivery;

/// A message handed to the application by `warren_consumer_recv`, a consumer callback or
/// `warren_channel_basic_get`; freed by `warren_delivery_free`.
///
/// Every pointer its accessors return points into the delivery (the body is the published
/// buffer itself, shared by every queue it reached, not a copy) and stays valid until
/// `warren_delivery_free`. Freeing it does not settle it: ack, nack or reject it first (or
/// by tag on its channel), unless it came from a `no_ack` consumer or get. May be used from
/// any thread, one at a time.
pub struct warren_delivery {
    _private: [u8; 0],
}

impl Handle for warren_delivery {
    type Rust = Delivery;
}

thread_local! {
    /// The allocation of the last delivery handle this thread freed, for its next one.
    static SPARE: Spare<Delivery> = const { Spare::new() };
}

impl Recycled for warren_delivery {
    fn spare() -> &'static std::thread::LocalKey<Spare<Delivery>> {
        &SPARE
    }
}

/// The body of a (pointer, length) accessor: `get` picks the bytes.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or writable.
unsafe fn str_accessor(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
    get: impl FnOnce(&Delivery) -> Option<&[u8]>,
) -> Result<(), Fail> {
    // SAFETY: `delivery` is NULL or live; the outputs are NULL or writable (# Safety).
    let (d, ptr_out, len_out) = unsafe {
        (
            borrow(delivery, "delivery")?,
            out(ptr_out, "ptr_out")?,
            out(len_out, "len_out")?,
        )
    };
    set_str(ptr_out, len_out, get(&d));
    Ok(())
}

/// The body: `*ptr_out` points to `*len_out` bytes, valid until `warren_delivery_free`
/// (not a copy). With a length of 0 the pointer may be anything but NULL: do not read it.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_body(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { str_accessor(delivery, ptr_out, len_out, |d| Some(d.body())) }
    })
}

/// The routing key it was published with (UTF-8, not NUL-terminated), valid until
/// `warren_delivery_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_routing_key(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            str_accessor(delivery, ptr_out, len_out, |d| {
                Some(d.routing_key().as_bytes())
            })
        }
    })
}

/// The exchange it was published to (empty for the default exchange), valid until
/// `warren_delivery_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_exchange(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            str_accessor(delivery, ptr_out, len_out, |d| {
                Some(d.exchange().as_bytes())
            })
        }
    })
}

/// The `correlation_id` property, valid until `warren_delivery_free`; NULL and 0 when the
/// message has none.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_correlation_id(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            str_accessor(delivery, ptr_out, len_out, |d| {
                d.properties().correlation_id.as_deref().map(str::as_bytes)
            })
        }
    })
}

/// The `reply_to` property, valid until `warren_delivery_free`; NULL and 0 when the
/// message has none.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_reply_to(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            str_accessor(delivery, ptr_out, len_out, |d| {
                d.properties().reply_to.as_deref().map(str::as_bytes)
            })
        }
    })
}

/// The `content_type` property, valid until `warren_delivery_free`; NULL and 0 when the
/// message has none.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_content_type(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            str_accessor(delivery, ptr_out, len_out, |d| {
                d.properties().content_type.as_deref().map(str::as_bytes)
            })
        }
    })
}

/// The `message_id` property, valid until `warren_delivery_free`; NULL and 0 when the
/// message has none.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_message_id(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            str_accessor(delivery, ptr_out, len_out, |d| {
                d.properties().message_id.as_deref().map(str::as_bytes)
            })
        }
    })
}

/// All its properties, as published (SEMANTICS P3), with `x-delivery-count` in the headers
/// when it failed before (A10): `*properties_out` gets a view, read with the
/// `warren_properties_*` getters (`warren_properties_headers` for the headers, `x-death`
/// included), valid until `warren_delivery_free`; never freed or changed by the caller.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `properties_out` is NULL or points to a
/// writable `const warren_properties *`.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_properties(
    delivery: *const warren_delivery,
    properties_out: *mut *const warren_properties,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `delivery` is NULL or live; `properties_out` is NULL or writable (# Safety).
        let (d, properties_out) = unsafe {
            (
                borrow(delivery, "delivery")?,
                out(properties_out, "properties_out")?,
            )
        };
        // The properties live in the delivery's slot (or the message it shares) until its
        // free, so the view stays valid that long.
        properties_out.set(plain_view(d.properties()));
        Ok(())
    })
}

/// The tag of the consumer that received it (valid until `warren_delivery_free`); NULL and 0
/// for one from `warren_channel_basic_get`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle; `ptr_out` and `len_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_consumer_tag(
    delivery: *const warren_delivery,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            str_accessor(delivery, ptr_out, len_out, |d| {
                d.consumer_tag().map(str::as_bytes)
            })
        }
    })
}

/// RabbitMQ 4.3's failed delivery count (SEMANTICS A10): rejects with requeue and consumer or
/// channel losses before this delivery; 0 for a NULL or poisoned delivery.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_failed_count(delivery: *const warren_delivery) -> u32 {
    ffi_boundary!(default = 0, {
        // SAFETY: `delivery` is NULL or live (# Safety).
        unsafe { borrow(delivery, "delivery") }.map_or(0, |d| d.failed_count())
    })
}

/// RabbitMQ 4.3's returned delivery count (SEMANTICS A10): nacks with requeue,
/// `warren_channel_basic_recover` and consumer timeouts before this delivery; 0 for a NULL or
/// poisoned delivery.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_returned_count(delivery: *const warren_delivery) -> u32 {
    ffi_boundary!(default = 0, {
        // SAFETY: `delivery` is NULL or live (# Safety).
        unsafe { borrow(delivery, "delivery") }.map_or(0, |d| d.returned_count())
    })
}

/// The `delivery_mode` property (2: persistent); 0 when unset, and for a NULL or poisoned
/// delivery.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_delivery_mode(delivery: *const warren_delivery) -> u8 {
    ffi_boundary!(default = 0, {
        // SAFETY: `delivery` is NULL or live (# Safety).
        unsafe { borrow(delivery, "delivery") }
            .map_or(0, |d| d.properties().delivery_mode.unwrap_or(0))
    })
}

/// Whether the message was delivered before (SEMANTICS A5, A7); false for a NULL or poisoned
/// delivery.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_redelivered(delivery: *const warren_delivery) -> bool {
    ffi_boundary!(default = false, {
        // SAFETY: `delivery` is NULL or live (# Safety).
        unsafe { borrow(delivery, "delivery") }.is_ok_and(|d| d.redelivered())
    })
}

/// The delivery tag, unique on its channel (SEMANTICS A1), for
/// `warren_channel_basic_ack` and friends; 0 (never a tag) for a NULL or poisoned delivery.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_tag(delivery: *const warren_delivery) -> u64 {
    ffi_boundary!(default = 0, {
        // SAFETY: `delivery` is NULL or live (# Safety).
        unsafe { borrow(delivery, "delivery") }.map_or(0, |d| d.delivery_tag().get())
    })
}

/// Acknowledges the delivery (SEMANTICS A2). A delivery whose consumer went away (the message
/// is back in its queue) is no error and changes nothing (A8).
///
/// # Errors
///
/// 406 for a delivery already settled, which closes the channel;
/// `WARREN_STATUS_CHANNEL_CLOSED` once its channel closed; `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_ack(delivery: *const warren_delivery) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `delivery` is NULL or live (# Safety).
        let d = unsafe { borrow(delivery, "delivery") }?;
        d.ack()?;
        Ok(())
    })
}

/// Rejects the delivery, and with `multiple` its channel's earlier unacked ones too
/// (SEMANTICS A4): `requeue` puts them back at their places, otherwise they are dropped.
///
/// # Errors
///
/// As `warren_delivery_ack`.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_nack(
    delivery: *const warren_delivery,
    multiple: bool,
    requeue: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `delivery` is NULL or live (# Safety).
        let d = unsafe { borrow(delivery, "delivery") }?;
        d.nack(BasicNackOptions {
            multiple,
            requeue,
            ..Default::default()
        })?;
        Ok(())
    })
}

/// Rejects the delivery (SEMANTICS A4): `requeue` puts it back at its place, otherwise it is
/// dropped.
///
/// # Errors
///
/// As `warren_delivery_ack`.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_reject(
    delivery: *const warren_delivery,
    requeue: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `delivery` is NULL or live (# Safety).
        let d = unsafe { borrow(delivery, "delivery") }?;
        d.reject(BasicRejectOptions { requeue })?;
        Ok(())
    })
}

/// Frees the delivery and every pointer its accessors returned; NULL does nothing. It does
/// not settle it.
///
/// # Safety
///
/// `delivery` is NULL or a live delivery handle, not used by any call now or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_delivery_free(delivery: *mut warren_delivery) {
    ffi_boundary!(default = (), {
        // SAFETY: `delivery` is NULL or live, and not used after this (# Safety).
        unsafe { free_recycled(delivery) }
    })
}
