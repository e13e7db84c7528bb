//! `warren_broker_*`: creating, opening, closing and freeing a broker, and connecting to it.

use super::boundary::{borrow, bytes, free, into_raw, millis, out, plain_ref, Fail, Handle};
use super::connection::warren_connection;
use super::options::{warren_broker_options, Options};
use super::status::warren_status::{self, *};
use crate::Broker;

/// An in-process broker: exchanges, queues, consumers.
///
/// Created by `warren_broker_new` (in memory) or `warren_broker_open` (durable, on a data
/// directory); freed by `warren_broker_free`. Thread-safe: any number of threads may use one
/// broker at once. Its connections keep what they need alive, so it may be freed before
/// them.
pub struct warren_broker {
    _private: [u8; 0],
}

impl Handle for warren_broker {
    type Rust = Broker;
}

/// Creates an in-memory broker with default options and writes it to `*broker_out`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `broker_out` is NULL.
///
/// # Safety
///
/// `broker_out` is NULL or points to a writable `warren_broker *`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_new(broker_out: *mut *mut warren_broker) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `broker_out` is NULL or writable (# Safety).
        let broker_out = unsafe { out(broker_out, "broker_out") }?;
        broker_out.set(into_raw(Broker::new()));
        Ok(())
    })
}

/// Creates an in-memory broker with `options` (NULL: the defaults, as `warren_broker_new`)
/// and writes it to `*broker_out`. The options are copied: free them when you like.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `broker_out` is NULL.
///
/// # Safety
///
/// `options` is NULL or a live `warren_broker_options`; `broker_out` is NULL or points to a
/// writable `warren_broker *`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_new_with_options(
    options: *const warren_broker_options,
    broker_out: *mut *mut warren_broker,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `options` is NULL or live; `broker_out` is NULL or writable (# Safety).
        let (options, broker_out) =
            unsafe { (options_or_default(options), out(broker_out, "broker_out")?) };
        broker_out.set(into_raw(Broker::with_options(options.broker)));
        Ok(())
    })
}

/// A copy of the options C passed, or the defaults for NULL.
///
/// # Safety
///
/// `options` is NULL or a live `warren_broker_options`, not changed during the call.
unsafe fn options_or_default(options: *const warren_broker_options) -> Options {
    if options.is_null() {
        return Options::default();
    }
    // SAFETY: `options` is not NULL and live for the call (# Safety).
    unsafe { plain_ref(options, "options") }.map_or_else(|_| Options::default(), Options::clone)
}

/// Opens a durable broker on the data directory `dir` (created if missing; its bytes are the
/// path, not NUL-terminated) with default options and writes it to `*broker_out`. What the
/// directory holds is recovered first: durable exchanges, queues and bindings, and persistent
/// messages in durable queues (SEMANTICS S2-S5). Close it with `warren_broker_close` (or free
/// it) so the next open sees a clean shutdown.
///
/// # Errors
///
/// `WARREN_STATUS_STORE` when the directory cannot be created, read or written, or another
/// broker holds it; `WARREN_STATUS_INVALID_ARGUMENT` for an empty `dir` (nothing is touched);
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `broker_out` or a NULL `dir` with a length;
/// `WARREN_STATUS_INVALID_UTF8` for a path that is not UTF-8 on a system whose paths are not
/// bytes (not on Unix).
///
/// # Safety
///
/// `dir` is NULL or points to `dir_len` readable bytes; `broker_out` is NULL or points to a
/// writable `warren_broker *`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_open(
    dir: *const u8,
    dir_len: usize,
    broker_out: *mut *mut warren_broker,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety; NULL options are the defaults.
        unsafe { open(dir, dir_len, std::ptr::null(), broker_out) }
    })
}

/// As `warren_broker_open`, with `options` (NULL: the defaults), copied.
///
/// # Errors
///
/// As `warren_broker_open`.
///
/// # Safety
///
/// As `warren_broker_open`; `options` is NULL or a live `warren_broker_options`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_open_with_options(
    dir: *const u8,
    dir_len: usize,
    options: *const warren_broker_options,
    broker_out: *mut *mut warren_broker,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe { open(dir, dir_len, options, broker_out) }
    })
}

/// The body of `warren_broker_open_with_options`.
///
/// # Safety
///
/// As `warren_broker_open_with_options`.
unsafe fn open(
    dir: *const u8,
    dir_len: usize,
    options: *const warren_broker_options,
    broker_out: *mut *mut warren_broker,
) -> Result<(), Fail> {
    // SAFETY: `dir` is NULL or points to `dir_len` readable bytes; `options` is NULL or live;
    // `broker_out` is NULL or writable (# Safety).
    let (dir, options, broker_out) = unsafe {
        (
            bytes(dir, dir_len, "dir")?,
            options_or_default(options),
            out(broker_out, "broker_out")?,
        )
    };
    if dir.is_empty() {
        // Refused here: the engine would take "" as the current directory for its lock file
        // before failing (an engine bug, reported).
        return Err(Fail::new(
            WARREN_STATUS_INVALID_ARGUMENT,
            "dir is empty: a data directory needs a path",
        ));
    }
    let broker = Broker::open_with(path_of(dir)?, options.broker, options.store)?;
    broker_out.set(into_raw(broker));
    Ok(())
}

/// A data directory's path from C bytes.
#[cfg(unix)]
fn path_of(dir: &[u8]) -> Result<&std::path::Path, Fail> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(dir)))
}

/// A data directory's path from C bytes.
#[cfg(not(unix))]
fn path_of(dir: &[u8]) -> Result<&std::path::Path, Fail> {
    std::str::from_utf8(dir)
        .map(std::path::Path::new)
        .map_err(|e| {
            Fail::new(
                WARREN_STATUS_INVALID_UTF8,
                format!(
                    "dir is not valid UTF-8: invalid byte at offset {}",
                    e.valid_up_to()
                ),
            )
        })
}

/// Closes the broker: every channel closes (unacked deliveries go back to their queues), then
/// a durable broker writes what it holds, syncs and records a clean shutdown. Later calls on
/// its connections and channels return `WARREN_STATUS_CONNECTION_CLOSED` or
/// `WARREN_STATUS_CHANNEL_CLOSED`. Closing twice does nothing. The handle still needs
/// `warren_broker_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `broker` is NULL.
///
/// # Safety
///
/// `broker` is NULL or a live handle from `warren_broker_new` or `warren_broker_open`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_close(broker: *const warren_broker) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `broker` is NULL or live (# Safety).
        let broker = unsafe { borrow(broker, "broker") }?;
        broker.close();
        Ok(())
    })
}

/// Frees the broker handle; NULL does nothing. The broker itself lives on while connections
/// made from it do; a durable broker whose last handle and connection go is closed cleanly.
///
/// # Safety
///
/// `broker` is NULL or a live handle from `warren_broker_new` or `warren_broker_open`, not
/// used by any call now or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_free(broker: *mut warren_broker) {
    ffi_boundary!(default = (), {
        // SAFETY: `broker` is NULL or live, and not used after this (# Safety).
        unsafe { free(broker) }
    })
}

/// Moves the broker's manual clock (`warren_broker_options_set_manual_clock`) forward by
/// `ms` milliseconds, then runs on this thread what falls due meanwhile (consumer timeouts,
/// SEMANTICS A9), before returning.
///
/// # Errors
///
/// `WARREN_STATUS_INVALID_STATE` for a broker on the system clock (nothing happens);
/// `WARREN_STATUS_NULL_ARGUMENT` if `broker` is NULL.
///
/// # Safety
///
/// `broker` is NULL or a live broker handle.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_advance_clock(
    broker: *const warren_broker,
    ms: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `broker` is NULL or live (# Safety).
        let broker = unsafe { borrow(broker, "broker") }?;
        let clock = broker.clock();
        if !clock.is_manual() {
            return Err(Fail::new(
                WARREN_STATUS_INVALID_STATE,
                "the broker runs on the system clock: only a manual clock can be advanced",
            ));
        }
        clock.advance(millis(ms))?;
        Ok(())
    })
}

/// Opens a connection to the broker and writes it to `*connection_out`; free it with
/// `warren_connection_free`. After `warren_broker_close` the connection starts closed.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `broker` is NULL or a live broker handle; `connection_out` is NULL or points to a writable
/// `warren_connection *`.
#[no_mangle]
pub unsafe extern "C" fn warren_broker_connect(
    broker: *const warren_broker,
    connection_out: *mut *mut warren_connection,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `broker` is NULL or live (# Safety).
        let broker = unsafe { borrow(broker, "broker") }?;
        // SAFETY: `connection_out` is NULL or writable (# Safety).
        let connection_out = unsafe { out(connection_out, "connection_out") }?;
        connection_out.set(into_raw(broker.connect()));
        Ok(())
    })
}
