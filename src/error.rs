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
}

impl Input {
    fn name(self) -> &'static str {
        match self {
            Input::Pattern => "pattern",
            Input::RoutingKey => "routing key",
            Input::BindingKey => "binding key",
            Input::Exchange => "exchange name",
            Input::Queue => "queue name",
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

    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self.kind {
            Kind::TooLong { .. } => ErrorKind::TooLong,
            Kind::InvalidUtf8 { .. } => ErrorKind::InvalidUtf8,
            Kind::Amqp { .. } => ErrorKind::Amqp,
        }
    }

    /// The AMQP reply code (404, 406, ...), or `None` for a local error.
    pub fn reply_code(&self) -> Option<u16> {
        match self.kind {
            Kind::Amqp { code, .. } => Some(code),
            Kind::TooLong { .. } | Kind::InvalidUtf8 { .. } => None,
        }
    }

    /// What the error closes: nothing (local), the channel or the connection.
    pub fn scope(&self) -> Scope {
        match self.kind {
            Kind::Amqp { code, .. } if code >= 500 => Scope::Connection,
            Kind::Amqp { .. } => Scope::Channel,
            Kind::TooLong { .. } | Kind::InvalidUtf8 { .. } => Scope::Local,
        }
    }

    /// The input the error is about, where it is about one.
    pub fn input(&self) -> Option<Input> {
        match self.kind {
            Kind::TooLong { input, .. } | Kind::InvalidUtf8 { input, .. } => Some(input),
            Kind::Amqp { .. } => None,
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
        }
    }
}

impl std::error::Error for Error {}
