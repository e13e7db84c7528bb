//! The crate's error type.
//!
//! Every fallible call returns [`Error`]: a struct around a private kind, so kinds can grow
//! without breaking users. It carries the AMQP reply code where one exists
//! ([`Error::reply_code`]), the scope the error closes ([`Error::scope`]), and a lowercase
//! message that names the bad input (SEMANTICS F3). Errors that a client library would raise
//! before sending anything (a name over 255 bytes, invalid UTF-8) are [`Scope::Local`] and carry
//! no reply code (SEMANTICS F5).

use std::fmt;

/// An error from any warren call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
}

/// What an error closes, per AMQP 0-9-1 (SEMANTICS F1, F5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// A client-side check failed before anything was sent; nothing changed or closed.
    Local,
    /// A channel error (403, 404, 405, 406): the channel is closed.
    Channel,
    /// A connection error (503, 530, 540, 541): the connection is closed.
    Connection,
}

/// The broad class of an error, stable for matching (and for the C ABI's status codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A name, key or pattern is longer than 255 bytes (SEMANTICS N1).
    TooLong,
    /// A byte string that must be UTF-8 is not (SEMANTICS N1).
    InvalidUtf8,
    /// An AMQP channel or connection error with its reply code (SEMANTICS F1).
    Amqp,
    /// A call on a channel that an error or a close has closed (SEMANTICS F2, F5): the error
    /// repeats its cause's reply code; [`Error::cause`] gives the cause.
    ChannelClosed,
    /// A call on a connection (or one of its channels) after the connection closed.
    ConnectionClosed,
    /// The consumer was cancelled: by [`basic_cancel`](crate::Channel::basic_cancel), or by the
    /// engine (queue deleted, consumer timeout; SEMANTICS D10). The text gives the reason.
    ConsumerCancelled,
    /// A wait ran out of time (a receive with a timeout, an RPC call, a wait for confirms;
    /// [`wait_for_confirms_or_die`](crate::Channel::wait_for_confirms_or_die)'s also closes the
    /// channel with 406, SEMANTICS C6).
    Timeout,
    /// The durable store failed: a data directory that cannot be created, read, written or
    /// locked (another broker holds it), or a store already closed. The text says what.
    Store,
    /// A publish was nacked ([`wait_for_confirms_or_die`](crate::Channel::wait_for_confirms_or_die),
    /// SEMANTICS C3, C6); the channel is closed.
    Nacked,
    /// A call made in a state that does not allow it (waiting for confirms without
    /// [`confirm_select`](crate::Channel::confirm_select), SEMANTICS C6): a local error.
    InvalidState,
}

/// Which input an error is about; named in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Input {
    /// A topic binding pattern.
    Pattern,
    /// A routing key.
    RoutingKey,
    /// A direct or headers binding key.
    BindingKey,
    /// An exchange name.
    Exchange,
    /// A queue name.
    Queue,
    /// A message property or header name (SEMANTICS N1).
    Property,
    /// A consumer tag.
    ConsumerTag,
}

impl Input {
    fn name(self) -> &'static str {
        match self {
            Input::Pattern => "pattern",
            Input::RoutingKey => "routing key",
            Input::BindingKey => "binding key",
            Input::Exchange => "exchange name",
            Input::Queue => "queue name",
            Input::Property => "property",
            Input::ConsumerTag => "consumer tag",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    TooLong {
        input: Input,
        len: usize,
        max: usize,
    },
    InvalidUtf8 {
        input: Input,
        valid_up_to: usize,
    },
    Amqp {
        code: u16,
        text: String,
    },
    Closed {
        connection: bool,
        cause: Option<Box<Error>>,
    },
    Cancelled {
        reason: String,
    },
    Timeout {
        what: &'static str,
        /// `wait_for_confirms_or_die`'s timeout: 406, closes the channel (SEMANTICS C6).
        closes: bool,
    },
    Store {
        text: String,
    },
    Nacked,
    InvalidState {
        text: String,
    },
}

impl Error {
    pub(crate) fn too_long(input: Input, len: usize, max: usize) -> Error {
        Error {
            kind: Kind::TooLong { input, len, max },
        }
    }

    pub(crate) fn invalid_utf8(input: Input, valid_up_to: usize) -> Error {
        Error {
            kind: Kind::InvalidUtf8 { input, valid_up_to },
        }
    }

    /// An AMQP error with `code` (one of SEMANTICS F1's reply codes, or 312) and its text.
    pub(crate) fn amqp(code: u16, text: impl Into<String>) -> Error {
        Error {
            kind: Kind::Amqp {
                code,
                text: text.into(),
            },
        }
    }

    /// The local error of a call on a closed channel (`connection == false`) or connection,
    /// repeating `cause` when an error closed it (SEMANTICS F2, F5).
    pub(crate) fn closed(connection: bool, cause: Option<Error>) -> Error {
        Error {
            kind: Kind::Closed {
                connection,
                cause: cause.map(Box::new),
            },
        }
    }

    /// A consumer cancelled, for `reason`.
    pub(crate) fn cancelled(reason: impl Into<String>) -> Error {
        Error {
            kind: Kind::Cancelled {
                reason: reason.into(),
            },
        }
    }

    /// A wait for `what` that ran out of time.
    pub(crate) fn timeout(what: &'static str) -> Error {
        Error {
            kind: Kind::Timeout {
                what,
                closes: false,
            },
        }
    }

    /// `wait_for_confirms_or_die`'s timeout (SEMANTICS C6): 406, closes the channel.
    pub(crate) fn confirm_timeout() -> Error {
        Error {
            kind: Kind::Timeout {
                what: "confirms",
                closes: true,
            },
        }
    }

    pub(crate) fn store(text: impl Into<String>) -> Error {
        Error {
            kind: Kind::Store { text: text.into() },
        }
    }

    pub(crate) fn nacked() -> Error {
        Error { kind: Kind::Nacked }
    }

    pub(crate) fn invalid_state(text: impl Into<String>) -> Error {
        Error {
            kind: Kind::InvalidState { text: text.into() },
        }
    }

    /// The error that closed the channel or connection, for a
    /// [`ChannelClosed`](ErrorKind::ChannelClosed) or
    /// [`ConnectionClosed`](ErrorKind::ConnectionClosed) error; `None` after a plain close and
    /// for other kinds.
    pub fn cause(&self) -> Option<&Error> {
        match &self.kind {
            Kind::Closed { cause, .. } => cause.as_deref(),
            _ => None,
        }
    }

    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self.kind {
            Kind::TooLong { .. } => ErrorKind::TooLong,
            Kind::InvalidUtf8 { .. } => ErrorKind::InvalidUtf8,
            Kind::Amqp { .. } => ErrorKind::Amqp,
            Kind::Closed {
                connection: false, ..
            } => ErrorKind::ChannelClosed,
            Kind::Closed {
                connection: true, ..
            } => ErrorKind::ConnectionClosed,
            Kind::Cancelled { .. } => ErrorKind::ConsumerCancelled,
            Kind::Timeout { .. } => ErrorKind::Timeout,
            Kind::Store { .. } => ErrorKind::Store,
            Kind::Nacked => ErrorKind::Nacked,
            Kind::InvalidState { .. } => ErrorKind::InvalidState,
        }
    }

    /// The AMQP reply code (404, 406, ...), or `None` for a local error. A closed channel's or
    /// connection's error repeats the code of the error that closed it (SEMANTICS F5).
    pub fn reply_code(&self) -> Option<u16> {
        match &self.kind {
            Kind::Amqp { code, .. } => Some(*code),
            Kind::Closed { cause, .. } => cause.as_ref().and_then(|c| c.reply_code()),
            Kind::Timeout { closes: true, .. } => Some(406),
            Kind::TooLong { .. }
            | Kind::InvalidUtf8 { .. }
            | Kind::Cancelled { .. }
            | Kind::Timeout { .. }
            | Kind::Store { .. }
            | Kind::Nacked
            | Kind::InvalidState { .. } => None,
        }
    }

    /// What the error closes: nothing (local), the channel or the connection.
    pub fn scope(&self) -> Scope {
        match self.kind {
            Kind::Amqp { code, .. } if code >= 500 => Scope::Connection,
            // 312 NO_ROUTE is a return, not an error: it closes nothing (an RPC helper's
            // unroutable request reports it).
            Kind::Amqp { code: 312, .. } => Scope::Local,
            Kind::Amqp { .. } | Kind::Nacked | Kind::Timeout { closes: true, .. } => Scope::Channel,
            Kind::TooLong { .. }
            | Kind::InvalidUtf8 { .. }
            | Kind::Closed { .. }
            | Kind::Cancelled { .. }
            | Kind::Timeout { .. }
            | Kind::Store { .. }
            | Kind::InvalidState { .. } => Scope::Local,
        }
    }

    /// The input the error is about, where it is about one.
    pub fn input(&self) -> Option<Input> {
        match self.kind {
            Kind::TooLong { input, .. } | Kind::InvalidUtf8 { input, .. } => Some(input),
            _ => None,
        }
    }

    /// The AMQP reply text (`NOT_FOUND - no queue 'jobs'`) without the code; for other kinds,
    /// the display text.
    pub fn text(&self) -> String {
        match &self.kind {
            Kind::Amqp { text, .. } => text.clone(),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::TooLong { input, len, max } => write!(
                f,
                "{} too long: {len} bytes, at most {max} (bytes {max}.. are over the limit)",
                input.name()
            ),
            Kind::InvalidUtf8 { input, valid_up_to } => write!(
                f,
                "{} is not valid UTF-8: invalid byte at offset {valid_up_to}",
                input.name()
            ),
            Kind::Amqp { code, text } => write!(f, "{code} {text}"),
            Kind::Closed { connection, cause } => {
                let what = if *connection { "connection" } else { "channel" };
                match cause {
                    Some(cause) => write!(f, "{what} closed by an error: {cause}"),
                    None => write!(f, "{what} closed"),
                }
            }
            Kind::Cancelled { reason } => write!(f, "consumer cancelled: {reason}"),
            Kind::Timeout { closes: true, .. } => {
                write!(f, "406 PRECONDITION_FAILED - TIMEOUT WAITING FOR ACK")
            }
            Kind::Timeout { what, .. } => write!(f, "timed out waiting for {what}"),
            Kind::Store { text } => write!(f, "store: {text}"),
            Kind::Nacked => write!(f, "a publish was nacked: the broker could not make it safe"),
            Kind::InvalidState { text } => f.write_str(text),
        }
    }
}

impl std::error::Error for Error {}
