//! The C ABI: `include/warren.h`, generated from this module by cbindgen.
//!
//! One file per C object family (broker and its options, connection, channel, consumer,
//! delivery, field tables and arrays, message properties, topic matcher), [`warren_status`] in
//! `status.rs`, the version in `version.rs`, and every pointer cast, NULL check and the panic
//! boundary in `boundary.rs` (the rustls-ffi layout, STYLE 9). `testing.rs` holds the one hook
//! that panics on purpose, for the C test of the boundary; it is not in the header. The
//! functions are re-exported here; Rust code has no reason to call them (use
//! [`crate::broker`]), they exist for C and C++.
//!
//! # API conventions
//!
//! * **Names**: `warren_<object>_<verb>`, e.g. `warren_channel_queue_bind`; the object comes
//!   first, then the inputs, then the outputs. Macros and enum values are `WARREN_*`.
//! * **Status**: a call that can fail returns a [`warren_status`]: `WARREN_STATUS_OK` (0), an
//!   AMQP reply code under its own number (`WARREN_STATUS_NOT_FOUND` is 404), or a local status
//!   from 1000 (`WARREN_STATUS_NULL_ARGUMENT`, `WARREN_STATUS_TIMEOUT`...). The numbers are
//!   stable. `warren_status_reply_code` maps a status to its AMQP code.
//! * **Error text**: after a failed call, `warren_last_error(buf, len)` copies the text of the
//!   error (per thread, lowercase, naming the bad input) into `buf`, NUL-terminated, truncated
//!   to fit, and returns its full length.
//! * **Outputs** are written only when the call returns `WARREN_STATUS_OK`; on failure they
//!   are untouched. The one exception is documented where it applies: with
//!   `WARREN_STATUS_BUFFER_TOO_SMALL` a length output gets the size needed.
//! * **Strings** are a pointer and a length in bytes, `(const uint8_t *, size_t)`, never
//!   NUL-terminated, in both directions; (NULL, 0) is the empty string, and NULL with a length
//!   above 0 is `WARREN_STATUS_NULL_ARGUMENT`. Names, keys and text properties must be UTF-8
//!   (`WARREN_STATUS_INVALID_UTF8`) of at most 255 bytes (`WARREN_STATUS_TOO_LONG`, checked
//!   before any byte is read).
//! * **Flags** are `uint32_t` bit sets (`WARREN_QUEUE_DURABLE | WARREN_QUEUE_EXCLUSIVE`) and
//!   enums are `uint32_t` values (`WARREN_EXCHANGE_TYPE_TOPIC`); an unknown bit or value is
//!   `WARREN_STATUS_INVALID_ARGUMENT`, never undefined behaviour.
//! * **Timeouts** are `uint64_t` milliseconds; `UINT64_MAX` waits practically forever.
//!
//! # Ownership and lifetimes
//!
//! Every handle (`warren_broker`, `warren_connection`, `warren_channel`, `warren_consumer`,
//! `warren_delivery`, `warren_topic`) is opaque, created by a `_new`, `_open` or a call that
//! says it returns one, and owned by the caller until its `_free`. `_free(NULL)` does nothing.
//!
//! Plain values (`warren_table`, `warren_array`, `warren_properties`,
//! `warren_broker_options`) are opaque too, owned from their `_new` to their `_free`, and
//! changed by setters. Calls that take one as input (a publish's properties, a declare's
//! arguments) read it during the call only: it may be reused or freed after. Some calls
//! return *views* instead (`const` pointers: a delivery's properties and headers, a nested
//! table): borrowed, valid while what they were read from is, never freed or changed.
//! Handles are independent: freeing a broker does not free its connections, nor a channel its
//! deliveries, and any order of frees is fine (a child keeps what it needs alive). Freeing a
//! connection or a channel handle closes it (its consumers end, unacked deliveries go back to
//! their queues, `redelivered`), as does freeing a consumer without cancelling it (its unacked
//! deliveries go back). Calls take handles as `const` pointers, except `_free`.
//!
//! Input strings and structs are borrowed for the call only: warren copies what it keeps. A
//! string warren returns (a delivery's body, routing key, properties) points into the
//! delivery and stays valid until that delivery's `_free`: the body is not copied.
//!
//! Double free, use after free, and a pointer that did not come from warren are the caller's
//! undefined behaviour: they cannot be detected (as in rustls-ffi). Everything else a C
//! caller can get wrong returns a status and leaves things as they were.
//!
//! # Threads
//!
//! A broker, a connection and a topic matcher may be used from any number of threads at once.
//! A channel, a consumer and a delivery may be used from any thread, one thread at a time
//! (AMQP's model: one channel per thread); concurrent calls on one channel are memory-safe,
//! but the order of their effects is then unspecified. A handle must not be freed while
//! another thread uses it. Plain values follow the same rule: one thread at a time, or
//! several readers of one nobody changes. Callbacks (`warren_consumer_set_callback`,
//! `warren_channel_set_confirm_callback`, `warren_channel_set_return_callback`) say which
//! thread calls them and until when their userdata is used; they must return normally: a C++
//! exception or a `longjmp` out of a callback through warren is undefined behaviour.
//!
//! # Panics
//!
//! No panic crosses into C: every function body runs behind a boundary that turns one into
//! `WARREN_STATUS_PANIC` (or a documented default for functions that return a value), and a
//! handle that was in use when warren panicked is poisoned: later calls on it return
//! `WARREN_STATUS_POISONED` (its `_free` still works). A panic is a bug in warren.
//!
//! # Limits
//!
//! Not in the C ABI: transactions (540 anyway), per-publish confirmation handles (use the
//! confirm callback or the waits), the RPC helper and the route explainer, store statistics
//! and fault injection, the async `Stream`. Field tables carry RabbitMQ's types but no short
//! strings (see [`crate::message`]).
#![allow(unsafe_code)]
// C names: `warren_channel`, `warren_status`, as the header spells them.
#![allow(non_camel_case_types)]

#[macro_use]
mod boundary;
mod broker;
mod channel;
mod connection;
mod consumer;
mod delivery;
mod options;
mod properties;
mod status;
mod table;
mod testing;
mod topic;
mod version;

pub use boundary::warren_last_error;
pub use broker::*;
pub use channel::*;
pub use connection::*;
pub use consumer::*;
pub use delivery::*;
pub use options::*;
pub use properties::*;
pub use status::*;
pub use table::*;
pub use testing::*;
pub use topic::*;
pub use version::*;
