//! `warren_broker_*`: creating, opening, closing and freeing a broker, and connecting to it.

use super::boundary::{borrow, bytes, free, into_raw, out, Fail, Handle};
use super::connection::warren_connection;
use super::status::warren_status;
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

/// Opens a durable broker on the data directory `dir` (created if missing; its bytes are the
/// path, not NUL-terminated) and writes it to `*broker_out`. What the directory holds is
/// recovered first: durable exchanges, queues and bindings, and persistent messages in durable
/// queues (SEMANTICS S2-S5). Close it with `warren_broker_close` (or free it) so the next
/// open sees a clean shutdown.
///
/// # Errors
///
/// `WARREN_STATUS_STORE` when the directory cannot be created, read or written, or another
/// broker holds it; `WARREN_STATUS_INVALID_ARGUMENT` for an empty `dir` (nothing is touched);
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `broker_out` or a NULL `dir` with a length; `WARREN_STATUS_INVALID_UTF8` for a path that is not UTF-8 on a system whose paths
/// are not bytes (not on Unix).
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
        // SAFETY: `dir` is NULL or points to `dir_len` readable bytes (# Safety).
        let dir = unsafe { bytes(dir, dir_len, "dir") }?;
        // SAFETY: `broker_out` is NULL or writable (# Safety).
        let broker_out = unsafe { out(broker_out, "broker_out") }?;
        if dir.is_empty() {
            // Refused here: the engine would take "" as the current directory for its lock
            // file before failing (an engine bug, reported).
            return Err(Fail::new(
                warren_status::WARREN_STATUS_INVALID_ARGUMENT,
                "dir is empty: a data directory needs a path",
            ));
        }
        let broker = Broker::open(path_of(dir)?)?;
        broker_out.set(into_raw(broker));
        Ok(())
    })
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
                warren_status::WARREN_STATUS_INVALID_UTF8,
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
