//! `warren_connection_*`: opening channels, closing and freeing a connection.

use super::boundary::{borrow, free, into_raw, out, Handle};
use super::channel::warren_channel;
use super::status::warren_status;
use crate::Connection;

/// A connection to a broker, from `warren_broker_connect`; freed by `warren_connection_free`.
///
/// Thread-safe: several threads may open channels on one connection at once. Its channels
/// keep it alive, so it may be freed before them; closing it (or freeing its last handle and
/// channels) closes its channels and deletes its exclusive queues.
pub struct warren_connection {
    _private: [u8; 0],
}

impl Handle for warren_connection {
    type Rust = Connection;
}

/// Opens a channel on the connection and writes it to `*channel_out`; free it with
/// `warren_channel_free`.
///
/// # Errors
///
/// `WARREN_STATUS_CONNECTION_CLOSED` once the connection or its broker closed (the text gives
/// the cause); `WARREN_STATUS_NOT_ALLOWED` (530) past the channel limit, which closes the
/// connection; `WARREN_STATUS_NULL_ARGUMENT` if an argument is NULL.
///
/// # Safety
///
/// `connection` is NULL or a live connection handle; `channel_out` is NULL or points to a
/// writable `warren_channel *`.
#[no_mangle]
pub unsafe extern "C" fn warren_connection_create_channel(
    connection: *const warren_connection,
    channel_out: *mut *mut warren_channel,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `connection` is NULL or live (# Safety).
        let connection = unsafe { borrow(connection, "connection") }?;
        // SAFETY: `channel_out` is NULL or writable (# Safety).
        let channel_out = unsafe { out(channel_out, "channel_out") }?;
        let channel = connection.create_channel()?;
        channel_out.set(into_raw(channel));
        Ok(())
    })
}

/// Closes the connection: its channels close (unacked deliveries go back to their queues,
/// `redelivered`) and its exclusive queues are deleted. Closing twice does nothing; the handle
/// still needs `warren_connection_free`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `connection` is NULL.
///
/// # Safety
///
/// `connection` is NULL or a live connection handle.
#[no_mangle]
pub unsafe extern "C" fn warren_connection_close(
    connection: *const warren_connection,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `connection` is NULL or live (# Safety).
        let connection = unsafe { borrow(connection, "connection") }?;
        connection.close();
        Ok(())
    })
}

/// Frees the connection handle; NULL does nothing. The connection closes when this handle and
/// every channel opened on it are gone.
///
/// # Safety
///
/// `connection` is NULL or a live connection handle, not used by any call now or after this
/// one.
#[no_mangle]
pub unsafe extern "C" fn warren_connection_free(connection: *mut warren_connection) {
    ffi_boundary!(default = (), {
        // SAFETY: `connection` is NULL or live, and not used after this (# Safety).
        unsafe { free(connection) }
    })
}
