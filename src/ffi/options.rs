//! `warren_broker_options_*`: the settings of a broker (`warren_broker_new_with_options`,
//! `warren_broker_open_with_options`): body size limit, channels per connection, the default
//! consumer timeout, a manual clock for tests, and the durable log's segment size.
//!
//! An object from `warren_broker_options_new` holds the defaults (those of
//! `warren_broker_new` and `warren_broker_open`); each setter changes one. The broker copies
//! the options when it is made, so the object may be freed or reused right after. One thread
//! at a time; never poisoned (a plain value).

use super::boundary::{out, plain_free, plain_mut, plain_new, Fail, Plain};
use super::status::warren_status::{self, *};
use crate::broker::{BrokerOptions, MAX_MESSAGE_SIZE_LIMIT};
use crate::clock::Clock;
use crate::store::StoreOptions;
use std::time::Duration;

/// Broker settings, from `warren_broker_options_new`; freed by `warren_broker_options_free`.
pub struct warren_broker_options {
    _private: [u8; 0],
}

/// What a `warren_broker_options` points to.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub(crate) broker: BrokerOptions,
    pub(crate) store: StoreOptions,
}

impl Plain for warren_broker_options {
    type Rust = Options;
}

/// The largest body a broker accepts at most, in bytes: 512 MiB.
pub const WARREN_MAX_MESSAGE_SIZE_LIMIT: usize = 512 * 1024 * 1024;

const _: () = assert!(WARREN_MAX_MESSAGE_SIZE_LIMIT == MAX_MESSAGE_SIZE_LIMIT);

/// Creates an options object holding the defaults (bodies up to 16 MiB, 2047 channels per
/// connection, a 30-minute consumer timeout, the system clock, 64 MiB log segments) and writes
/// it to `*options_out`; free it with `warren_broker_options_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `options_out` is NULL.
///
/// # Safety
///
/// `options_out` is NULL or points to a writable `warren_broker_options *`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_options_new(
    options_out: *mut *mut warren_broker_options,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `options_out` is NULL or writable (# Safety).
        let options_out = unsafe { out(options_out, "options_out") }?;
        options_out.set(plain_new(Options::default()));
        Ok(())
    })
}

/// Frees an options object; NULL does nothing. Brokers made with it keep their own copy.
///
/// # Safety
///
/// `options` is NULL or an object from `warren_broker_options_new`, not used by any call now
/// or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_options_free(options: *mut warren_broker_options) {
    ffi_boundary!(default = (), {
        // SAFETY: `options` is NULL or owned, and not used after this (# Safety).
        unsafe { plain_free(options) }
    })
}

/// The options C owns, to change during a call.
///
/// # Safety
///
/// `options` is NULL or an object from `warren_broker_options_new`, used by no other thread
/// during the call.
unsafe fn options_mut<'a>(options: *mut warren_broker_options) -> Result<&'a mut Options, Fail> {
    // SAFETY: passed on from this function's # Safety.
    unsafe { plain_mut(options, "options") }
}

/// Sets the largest body accepted, in bytes (SEMANTICS N4; default 16 MiB): a publish with a
/// larger body is refused with 406.
///
/// # Errors
///
/// `WARREN_STATUS_INVALID_ARGUMENT` above `WARREN_MAX_MESSAGE_SIZE_LIMIT` (512 MiB);
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
///
/// # Safety
///
/// `options` is NULL or an object from `warren_broker_options_new`, used by no other thread
/// during the call.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_options_set_max_message_size(
    options: *mut warren_broker_options,
    bytes: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let o = unsafe { options_mut(options) }?;
        if bytes > MAX_MESSAGE_SIZE_LIMIT {
            return Err(Fail::new(
                WARREN_STATUS_INVALID_ARGUMENT,
                format!(
                    "max message size {bytes} bytes over the limit of {MAX_MESSAGE_SIZE_LIMIT}"
                ),
            ));
        }
        o.broker.max_message_size = bytes;
        Ok(())
    })
}

/// Sets how many channels one connection may have open (SEMANTICS N5; default 2047): one
/// more is 530, closing the connection.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
///
/// # Safety
///
/// As `warren_broker_options_set_max_message_size`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_options_set_channel_max(
    options: *mut warren_broker_options,
    channels: u16,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let o = unsafe { options_mut(options) }?;
        o.broker.channel_max = channels;
        Ok(())
    })
}

/// Sets the consumer timeout, in milliseconds, of manual-ack consumers whose consume and queue
/// arguments set none (SEMANTICS A9; default 1800000, 30 minutes); 0 turns it off.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
///
/// # Safety
///
/// As `warren_broker_options_set_max_message_size`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_options_set_consumer_timeout(
    options: *mut warren_broker_options,
    timeout_ms: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let o = unsafe { options_mut(options) }?;
        o.broker.consumer_timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Gives the broker a manual clock reading `start_ms` (milliseconds since the Unix epoch) that
/// moves only by `warren_broker_advance_clock`: consumer timeouts (and whatever else keeps
/// time) then fire inside those calls, to the millisecond, so tests need no sleeps. The
/// default is the system clock.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
///
/// # Safety
///
/// As `warren_broker_options_set_max_message_size`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_options_set_manual_clock(
    options: *mut warren_broker_options,
    start_ms: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let o = unsafe { options_mut(options) }?;
        o.broker.clock = Clock::manual(start_ms);
        Ok(())
    })
}

/// Sets the size at which a durable broker's log segment rolls over, in bytes (default 64 MiB;
/// below 4096 counts as 4096). Only `warren_broker_open_with_options` uses it.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `options`.
///
/// # Safety
///
/// As `warren_broker_options_set_max_message_size`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_options_set_segment_size(
    options: *mut warren_broker_options,
    bytes: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        let o = unsafe { options_mut(options) }?;
        o.store.segment_size = bytes;
        Ok(())
    })
}
