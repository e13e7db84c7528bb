//! `warren_status`: what every fallible C call returns, with stable numbers.
//!
//! AMQP's reply codes keep their own numbers (`WARREN_STATUS_NOT_FOUND` is 404), so a C program
//! that already speaks AMQP reads them as it would from RabbitMQ; the local statuses, which no
//! broker sends (a NULL argument, a timeout, a closed channel...), start at 1000. Numbers never
//! change and are never reused: a retired status stays here as a comment.

use crate::error::{Error, ErrorKind};
use std::ffi::{c_char, c_int};

/// The outcome of a C call: `WARREN_STATUS_OK` (0), an AMQP reply code under its own number,
/// or a local status from 1000. After a status other than `WARREN_STATUS_OK`,
/// `warren_last_error` gives the text on the same thread.
///
/// The numbers are stable: new statuses get new numbers, retired ones are not reused.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum warren_status {
    /// Success.
    WARREN_STATUS_OK = 0,
    /// 312: a mandatory publish that no queue took (`basic.return`); nothing is closed, and in
    /// confirm mode the publish is still confirmed, as RabbitMQ does.
    WARREN_STATUS_NO_ROUTE = 312,
    /// 403: a channel error (e.g. the default exchange or an `amq.` name); the channel closed.
    WARREN_STATUS_ACCESS_REFUSED = 403,
    /// 404: a missing queue or exchange; the channel closed.
    WARREN_STATUS_NOT_FOUND = 404,
    /// 405: another connection's exclusive queue; the channel closed.
    WARREN_STATUS_RESOURCE_LOCKED = 405,
    /// 406: a redeclare with other properties, an unknown delivery tag, a bad argument; the
    /// channel closed.
    WARREN_STATUS_PRECONDITION_FAILED = 406,
    /// 503: a connection error; the connection closed.
    WARREN_STATUS_COMMAND_INVALID = 503,
    /// 530: a connection error (e.g. a consumer tag in use, too many channels); the connection
    /// closed.
    WARREN_STATUS_NOT_ALLOWED = 530,
    /// 540: not implemented (`immediate`, transactions); the connection closed.
    WARREN_STATUS_NOT_IMPLEMENTED = 540,
    /// 541: an internal error (e.g. the durable store failed while a declare waited); the
    /// connection closed. Also used for an AMQP code this enum has no name for: the text
    /// gives the real code.
    WARREN_STATUS_INTERNAL_ERROR = 541,
    /// A required pointer argument was NULL, or a (pointer, length) pair had a NULL pointer
    /// with a length above 0. Nothing happened.
    WARREN_STATUS_NULL_ARGUMENT = 1000,
    /// A name, key or text property was not valid UTF-8. Nothing happened.
    WARREN_STATUS_INVALID_UTF8 = 1001,
    /// A name, key or text property was over 255 bytes, or a body over 512 MiB. Nothing
    /// happened.
    WARREN_STATUS_TOO_LONG = 1002,
    /// A wait ran out of time: a receive, or a wait for confirms (which
    /// `warren_channel_wait_for_confirms_or_die` turns into a channel close, 406).
    WARREN_STATUS_TIMEOUT = 1003,
    /// A call on a channel that a close or an error closed; the text repeats the cause.
    WARREN_STATUS_CHANNEL_CLOSED = 1004,
    /// A call on a connection (or one of its channels) after it or its broker closed.
    WARREN_STATUS_CONNECTION_CLOSED = 1005,
    /// The consumer was cancelled (by the application, or by the engine: its queue was deleted,
    /// its consumer timeout fired); the text says which.
    WARREN_STATUS_CANCELLED = 1006,
    /// The durable store failed: a data directory that cannot be created, read, written or
    /// locked (another broker holds it).
    WARREN_STATUS_STORE = 1007,
    /// A publish was nacked (`warren_channel_wait_for_confirms_or_die`); the channel closed.
    WARREN_STATUS_NACKED = 1008,
    /// A call in a state that does not allow it: waiting for confirms outside confirm mode,
    /// receiving from a consumer that has a callback.
    WARREN_STATUS_INVALID_STATE = 1009,
    /// An output buffer was too small; the text says how large it must be. Nothing happened.
    WARREN_STATUS_BUFFER_TOO_SMALL = 1010,
    /// An argument has a value outside its range (an unknown exchange type or flag bit).
    /// Nothing happened.
    WARREN_STATUS_INVALID_ARGUMENT = 1011,
    /// warren panicked inside the call (a bug in warren, please report it): the panic was
    /// caught at the boundary and the handle the call used is poisoned.
    WARREN_STATUS_PANIC = 1012,
    /// The handle saw a panic in an earlier call; it refuses every call but `_free`.
    WARREN_STATUS_POISONED = 1013,
}

use warren_status::*;

impl warren_status {
    /// Every status, for the tests and for [`from_number`](Self::from_number).
    pub(crate) const ALL: [warren_status; 24] = [
        WARREN_STATUS_OK,
        WARREN_STATUS_NO_ROUTE,
        WARREN_STATUS_ACCESS_REFUSED,
        WARREN_STATUS_NOT_FOUND,
        WARREN_STATUS_RESOURCE_LOCKED,
        WARREN_STATUS_PRECONDITION_FAILED,
        WARREN_STATUS_COMMAND_INVALID,
        WARREN_STATUS_NOT_ALLOWED,
        WARREN_STATUS_NOT_IMPLEMENTED,
        WARREN_STATUS_INTERNAL_ERROR,
        WARREN_STATUS_NULL_ARGUMENT,
        WARREN_STATUS_INVALID_UTF8,
        WARREN_STATUS_TOO_LONG,
        WARREN_STATUS_TIMEOUT,
        WARREN_STATUS_CHANNEL_CLOSED,
        WARREN_STATUS_CONNECTION_CLOSED,
        WARREN_STATUS_CANCELLED,
        WARREN_STATUS_STORE,
        WARREN_STATUS_NACKED,
        WARREN_STATUS_INVALID_STATE,
        WARREN_STATUS_BUFFER_TOO_SMALL,
        WARREN_STATUS_INVALID_ARGUMENT,
        WARREN_STATUS_PANIC,
        WARREN_STATUS_POISONED,
    ];

    /// The status's number, as C sees it.
    pub(crate) fn number(self) -> c_int {
        match self {
            WARREN_STATUS_OK => 0,
            WARREN_STATUS_NO_ROUTE => 312,
            WARREN_STATUS_ACCESS_REFUSED => 403,
            WARREN_STATUS_NOT_FOUND => 404,
            WARREN_STATUS_RESOURCE_LOCKED => 405,
            WARREN_STATUS_PRECONDITION_FAILED => 406,
            WARREN_STATUS_COMMAND_INVALID => 503,
            WARREN_STATUS_NOT_ALLOWED => 530,
            WARREN_STATUS_NOT_IMPLEMENTED => 540,
            WARREN_STATUS_INTERNAL_ERROR => 541,
            WARREN_STATUS_NULL_ARGUMENT => 1000,
            WARREN_STATUS_INVALID_UTF8 => 1001,
            WARREN_STATUS_TOO_LONG => 1002,
            WARREN_STATUS_TIMEOUT => 1003,
            WARREN_STATUS_CHANNEL_CLOSED => 1004,
            WARREN_STATUS_CONNECTION_CLOSED => 1005,
            WARREN_STATUS_CANCELLED => 1006,
            WARREN_STATUS_STORE => 1007,
            WARREN_STATUS_NACKED => 1008,
            WARREN_STATUS_INVALID_STATE => 1009,
            WARREN_STATUS_BUFFER_TOO_SMALL => 1010,
            WARREN_STATUS_INVALID_ARGUMENT => 1011,
            WARREN_STATUS_PANIC => 1012,
            WARREN_STATUS_POISONED => 1013,
        }
    }

    /// The status numbered `n`, if there is one.
    pub(crate) fn from_number(n: c_int) -> Option<warren_status> {
        Self::ALL.into_iter().find(|s| s.number() == n)
    }

    /// The AMQP reply code: the status's number for the AMQP statuses, 0 for the rest.
    pub(crate) fn reply_code(self) -> u16 {
        match self {
            WARREN_STATUS_NO_ROUTE
            | WARREN_STATUS_ACCESS_REFUSED
            | WARREN_STATUS_NOT_FOUND
            | WARREN_STATUS_RESOURCE_LOCKED
            | WARREN_STATUS_PRECONDITION_FAILED
            | WARREN_STATUS_COMMAND_INVALID
            | WARREN_STATUS_NOT_ALLOWED
            | WARREN_STATUS_NOT_IMPLEMENTED
            | WARREN_STATUS_INTERNAL_ERROR => u16::try_from(self.number()).unwrap_or(0),
            _ => 0,
        }
    }

    /// The status's name, NUL-terminated, static.
    pub(crate) fn name(self) -> &'static str {
        match self {
            WARREN_STATUS_OK => "WARREN_STATUS_OK\0",
            WARREN_STATUS_NO_ROUTE => "WARREN_STATUS_NO_ROUTE\0",
            WARREN_STATUS_ACCESS_REFUSED => "WARREN_STATUS_ACCESS_REFUSED\0",
            WARREN_STATUS_NOT_FOUND => "WARREN_STATUS_NOT_FOUND\0",
            WARREN_STATUS_RESOURCE_LOCKED => "WARREN_STATUS_RESOURCE_LOCKED\0",
            WARREN_STATUS_PRECONDITION_FAILED => "WARREN_STATUS_PRECONDITION_FAILED\0",
            WARREN_STATUS_COMMAND_INVALID => "WARREN_STATUS_COMMAND_INVALID\0",
            WARREN_STATUS_NOT_ALLOWED => "WARREN_STATUS_NOT_ALLOWED\0",
            WARREN_STATUS_NOT_IMPLEMENTED => "WARREN_STATUS_NOT_IMPLEMENTED\0",
            WARREN_STATUS_INTERNAL_ERROR => "WARREN_STATUS_INTERNAL_ERROR\0",
            WARREN_STATUS_NULL_ARGUMENT => "WARREN_STATUS_NULL_ARGUMENT\0",
            WARREN_STATUS_INVALID_UTF8 => "WARREN_STATUS_INVALID_UTF8\0",
            WARREN_STATUS_TOO_LONG => "WARREN_STATUS_TOO_LONG\0",
            WARREN_STATUS_TIMEOUT => "WARREN_STATUS_TIMEOUT\0",
            WARREN_STATUS_CHANNEL_CLOSED => "WARREN_STATUS_CHANNEL_CLOSED\0",
            WARREN_STATUS_CONNECTION_CLOSED => "WARREN_STATUS_CONNECTION_CLOSED\0",
            WARREN_STATUS_CANCELLED => "WARREN_STATUS_CANCELLED\0",
            WARREN_STATUS_STORE => "WARREN_STATUS_STORE\0",
            WARREN_STATUS_NACKED => "WARREN_STATUS_NACKED\0",
            WARREN_STATUS_INVALID_STATE => "WARREN_STATUS_INVALID_STATE\0",
            WARREN_STATUS_BUFFER_TOO_SMALL => "WARREN_STATUS_BUFFER_TOO_SMALL\0",
            WARREN_STATUS_INVALID_ARGUMENT => "WARREN_STATUS_INVALID_ARGUMENT\0",
            WARREN_STATUS_PANIC => "WARREN_STATUS_PANIC\0",
            WARREN_STATUS_POISONED => "WARREN_STATUS_POISONED\0",
        }
    }

    /// The status of an engine error: its kind decides, and an AMQP error's reply code.
    pub(crate) fn of_error(e: &Error) -> warren_status {
        match e.kind() {
            ErrorKind::TooLong => WARREN_STATUS_TOO_LONG,
            ErrorKind::InvalidUtf8 => WARREN_STATUS_INVALID_UTF8,
            ErrorKind::Amqp => match e.reply_code() {
                Some(312) => WARREN_STATUS_NO_ROUTE,
                Some(403) => WARREN_STATUS_ACCESS_REFUSED,
                Some(404) => WARREN_STATUS_NOT_FOUND,
                Some(405) => WARREN_STATUS_RESOURCE_LOCKED,
                Some(406) => WARREN_STATUS_PRECONDITION_FAILED,
                Some(503) => WARREN_STATUS_COMMAND_INVALID,
                Some(530) => WARREN_STATUS_NOT_ALLOWED,
                Some(540) => WARREN_STATUS_NOT_IMPLEMENTED,
                _ => WARREN_STATUS_INTERNAL_ERROR,
            },
            ErrorKind::ChannelClosed => WARREN_STATUS_CHANNEL_CLOSED,
            ErrorKind::ConnectionClosed => WARREN_STATUS_CONNECTION_CLOSED,
            ErrorKind::ConsumerCancelled => WARREN_STATUS_CANCELLED,
            ErrorKind::Timeout => WARREN_STATUS_TIMEOUT,
            ErrorKind::Store => WARREN_STATUS_STORE,
            ErrorKind::Nacked => WARREN_STATUS_NACKED,
            ErrorKind::InvalidState => WARREN_STATUS_INVALID_STATE,
        }
    }
}

/// The AMQP reply code of a status: its own number for the AMQP statuses (312, 403, 404, 405,
/// 406, 503, 530, 540, 541), 0 for `WARREN_STATUS_OK`, the local statuses and numbers that are
/// no status.
///
/// `status` is an `int`, not the enum, so that any number C passes is defined behaviour.
///
/// # Safety
///
/// None: any value is accepted. (`unsafe` only by the crate's convention for C entry points.)
#[no_mangle]
pub unsafe extern "C" fn warren_status_reply_code(status: c_int) -> u16 {
    ffi_boundary!(default = 0, {
        warren_status::from_number(status).map_or(0, warren_status::reply_code)
    })
}

/// The name of a status (`"WARREN_STATUS_NOT_FOUND"`), a static NUL-terminated string never
/// to be freed; `"WARREN_STATUS_UNKNOWN"` for a number that is no status.
///
/// # Safety
///
/// None: any value is accepted.
#[no_mangle]
pub unsafe extern "C" fn warren_status_name(status: c_int) -> *const c_char {
    ffi_boundary!(
        default = super::boundary::static_cstr("WARREN_STATUS_UNKNOWN\0"),
        {
            let name = warren_status::from_number(status)
                .map_or("WARREN_STATUS_UNKNOWN\0", warren_status::name);
            super::boundary::static_cstr(name)
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_round_trip() {
        for s in warren_status::ALL {
            assert_eq!(warren_status::from_number(s.number()), Some(s));
            assert!(s.name().ends_with('\0'));
            assert_eq!(
                warren_status::ALL
                    .iter()
                    .filter(|t| t.number() == s.number())
                    .count(),
                1
            );
        }
        assert_eq!(warren_status::from_number(7), None);
    }

    /// The header's numbers are the enum's discriminants: `number` must agree with them.
    #[test]
    #[allow(clippy::as_conversions)]
    fn number_is_the_discriminant() {
        for s in warren_status::ALL {
            assert_eq!(s as c_int, s.number(), "{s:?}");
        }
    }

    #[test]
    fn amqp_statuses_map_to_their_reply_code() {
        assert_eq!(WARREN_STATUS_NOT_FOUND.reply_code(), 404);
        assert_eq!(WARREN_STATUS_NO_ROUTE.reply_code(), 312);
        assert_eq!(WARREN_STATUS_INTERNAL_ERROR.reply_code(), 541);
        assert_eq!(WARREN_STATUS_TIMEOUT.reply_code(), 0);
        assert_eq!(WARREN_STATUS_OK.reply_code(), 0);
    }
}
