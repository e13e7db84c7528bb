//! `warren_channel_*`: the AMQP methods: declares, bindings (queue and exchange-to-exchange),
//! publish and returned messages, consume, get, settle, recover, prefetch and publisher
//! confirms.
//!
//! # Callbacks
//!
//! * The return callback (`warren_channel_set_return_callback`) runs on the publishing thread,
//!   inside `warren_channel_basic_publish`, before it returns: nowhere else, so its userdata
//!   is only used during this channel's publishes.
//! * The confirm callback (`warren_channel_set_confirm_callback`) runs on the publishing
//!   thread or the durable store's thread. `warren_channel_close`, a replacing
//!   `warren_channel_set_confirm_callback` and a `warren_channel_free` that closes the channel
//!   wait for a call running on another thread to return, so once they return the old
//!   userdata is no longer used (a call from inside the callback itself cannot wait for
//!   itself: there, the callback in progress finishes after it).

use super::boundary::{
    body, borrow, free, into_raw, into_raw_recycled, millis, name, opt_out, out, out_buf,
    plain_ref, plain_view, set_opt, Fail, Handle, UserData,
};
use super::consumer::{warren_consumer, ConsumerHandle};
use super::delivery::warren_delivery;
use super::properties::warren_properties;
use super::status::warren_status::{self, *};
use super::table::{args_of, warren_table};
use crate::broker::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, Confirm, ExchangeDeclareOptions, ExchangeDeleteOptions,
    Publish, QueueDeclareOptions, QueueDeleteOptions, Return,
};
use crate::error::Input;
use crate::route::ExchangeType;
use crate::topic::MAX_LEN;
use crate::{BasicProperties, Channel, DeliveryTag};
use bytes::Bytes;
use std::cell::Cell;
use std::ffi::c_void;

/// A channel, from `warren_connection_create_channel`; freed by `warren_channel_free`, which
/// closes it once its consumers are gone too.
///
/// One thread at a time (AMQP's model: a channel per thread). Calls from several threads at
/// once are memory-safe, but their order (and the confirm numbers of their publishes) is then
/// a race. A channel error (a 4xx status) closes the channel; later calls return
/// `WARREN_STATUS_CHANNEL_CLOSED` with the cause in the text.
pub struct warren_channel {
    _private: [u8; 0],
}

impl Handle for warren_channel {
    type Rust = Channel;
}

/// An exchange type: one of the `WARREN_EXCHANGE_TYPE_*` values (SEMANTICS E1). A `uint32_t` in
/// C; the field is public so that Rust callers of the C ABI (the bench, the fuzzer) can pass
/// any number, as C can.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct warren_exchange_type(pub u32);

/// `direct`: the routing key equals the binding key.
pub const WARREN_EXCHANGE_TYPE_DIRECT: warren_exchange_type = warren_exchange_type(0);
/// `fanout`: every bound queue, keys ignored.
pub const WARREN_EXCHANGE_TYPE_FANOUT: warren_exchange_type = warren_exchange_type(1);
/// `topic`: binding keys are patterns, `*` one word, `#` zero or more.
pub const WARREN_EXCHANGE_TYPE_TOPIC: warren_exchange_type = warren_exchange_type(2);
/// `headers`: matches message headers (no headers from C yet: see the module limits).
pub const WARREN_EXCHANGE_TYPE_HEADERS: warren_exchange_type = warren_exchange_type(3);

/// `warren_channel_exchange_declare` flags: an OR of `WARREN_EXCHANGE_*` flag bits.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct warren_exchange_flags(pub u32);

/// Only check that the exchange exists (404 if not).
pub const WARREN_EXCHANGE_PASSIVE: warren_exchange_flags = warren_exchange_flags(1);
/// Survives a restart of a durable broker.
pub const WARREN_EXCHANGE_DURABLE: warren_exchange_flags = warren_exchange_flags(2);
/// Deleted with its last binding as a source.
pub const WARREN_EXCHANGE_AUTO_DELETE: warren_exchange_flags = warren_exchange_flags(4);
/// Refuses direct publishes; reachable through exchange bindings only.
pub const WARREN_EXCHANGE_INTERNAL: warren_exchange_flags = warren_exchange_flags(8);
/// `warren_channel_exchange_delete`: refuse (406) while the exchange is a binding source.
pub const WARREN_EXCHANGE_IF_UNUSED: warren_exchange_flags = warren_exchange_flags(16);

/// `warren_channel_queue_declare` and `warren_channel_queue_delete` flags: an OR of
/// `WARREN_QUEUE_*` flag bits.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct warren_queue_flags(pub u32);

/// Declare: only check that the queue exists (404) and is usable (405).
pub const WARREN_QUEUE_PASSIVE: warren_queue_flags = warren_queue_flags(1);
/// Declare: survives a restart of a durable broker.
pub const WARREN_QUEUE_DURABLE: warren_queue_flags = warren_queue_flags(2);
/// Declare: owned by this connection and deleted when it closes.
pub const WARREN_QUEUE_EXCLUSIVE: warren_queue_flags = warren_queue_flags(4);
/// Declare: deleted when its last consumer goes.
pub const WARREN_QUEUE_AUTO_DELETE: warren_queue_flags = warren_queue_flags(8);
/// Delete: refuse (406) while the queue has consumers.
pub const WARREN_QUEUE_IF_UNUSED: warren_queue_flags = warren_queue_flags(16);
/// Delete: refuse (406) while the queue has ready messages.
pub const WARREN_QUEUE_IF_EMPTY: warren_queue_flags = warren_queue_flags(32);

/// The longest name, key or text property, in bytes (SEMANTICS N1): a buffer of this size
/// holds any queue name or consumer tag.
pub const WARREN_MAX_NAME_LEN: usize = 255;

const _: () = assert!(WARREN_MAX_NAME_LEN == MAX_LEN);

/// Called with each publisher confirm of a channel in confirm mode: `seq` is the publish's
/// sequence number (or, with `multiple`, the highest of the numbers it covers: every one not
/// reported before up to `seq`); `ack` is true for an ack, false for a nack.
pub type warren_confirm_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, seq: u64, multiple: bool, ack: bool)>;

/// Flags as Rust bools; unknown bits are refused.
fn check_flags(bits: u32, known: u32, what: &str) -> Result<(), Fail> {
    if bits & !known != 0 {
        return Err(Fail::new(
            WARREN_STATUS_INVALID_ARGUMENT,
            format!("{what} has unknown flag bits {:#x}", bits & !known),
        ));
    }
    Ok(())
}

/// Declares an exchange `exchange` of type `kind` with `flags` (`WARREN_EXCHANGE_PASSIVE`,
/// `_DURABLE`, `_AUTO_DELETE`, `_INTERNAL`) and `arguments` (SEMANTICS E1, E4, E7, E10).
///
/// `arguments` is a field table (NULL: none), read during the call only, e.g.
/// `alternate-exchange` (a long string, SEMANTICS E7).
///
/// # Errors
///
/// 403 (`WARREN_STATUS_ACCESS_REFUSED`) for `""` or a new `amq.` name; 406 for a redeclare
/// with another type, flags or alternate exchange, or an invalid argument; 404 for a passive
/// declare of a missing exchange (each closes the channel); `WARREN_STATUS_INVALID_ARGUMENT`
/// for an unknown type or flag bit; the input statuses of the module conventions.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; `exchange` is NULL or points to `exchange_len`
/// readable bytes; `arguments` is NULL, a live table or a valid view.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_exchange_declare(
    channel: *const warren_channel,
    exchange: *const u8,
    exchange_len: usize,
    kind: warren_exchange_type,
    flags: warren_exchange_flags,
    arguments: *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; `exchange` is NULL or points to `exchange_len`
        // bytes; `arguments` is NULL or readable (# Safety).
        let (channel, exchange, args) = unsafe {
            (
                borrow(channel, "channel")?,
                name(exchange, exchange_len, Input::Exchange, "exchange")?,
                args_of(arguments),
            )
        };
        let kind = match kind {
            WARREN_EXCHANGE_TYPE_DIRECT => ExchangeType::Direct,
            WARREN_EXCHANGE_TYPE_FANOUT => ExchangeType::Fanout,
            WARREN_EXCHANGE_TYPE_TOPIC => ExchangeType::Topic,
            WARREN_EXCHANGE_TYPE_HEADERS => ExchangeType::Headers,
            warren_exchange_type(other) => {
                return Err(Fail::new(
                    WARREN_STATUS_INVALID_ARGUMENT,
                    format!("kind {other} is no exchange type (WARREN_EXCHANGE_TYPE_DIRECT...)"),
                ))
            }
        };
        let f = flags.0;
        check_flags(f, 0b1111, "exchange declare flags")?;
        let options = ExchangeDeclareOptions {
            passive: f & WARREN_EXCHANGE_PASSIVE.0 != 0,
            durable: f & WARREN_EXCHANGE_DURABLE.0 != 0,
            auto_delete: f & WARREN_EXCHANGE_AUTO_DELETE.0 != 0,
            internal: f & WARREN_EXCHANGE_INTERNAL.0 != 0,
        };
        channel.exchange_declare(exchange, kind, options, args)?;
        Ok(())
    })
}

/// Deletes an exchange and its bindings (SEMANTICS E11); a missing one is no error. `flags`
/// may hold `WARREN_EXCHANGE_IF_UNUSED`.
///
/// # Errors
///
/// 403 for `""` and `amq.` exchanges; 406 with `WARREN_EXCHANGE_IF_UNUSED` while it is a
/// binding source (each closes the channel); the input statuses of the module conventions.
///
/// # Safety
///
/// As `warren_channel_exchange_declare`.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_exchange_delete(
    channel: *const warren_channel,
    exchange: *const u8,
    exchange_len: usize,
    flags: warren_exchange_flags,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        // SAFETY: `exchange` is NULL or points to `exchange_len` bytes (# Safety).
        let exchange = unsafe { name(exchange, exchange_len, Input::Exchange, "exchange") }?;
        check_flags(
            flags.0,
            WARREN_EXCHANGE_IF_UNUSED.0,
            "exchange delete flags",
        )?;
        let options = ExchangeDeleteOptions {
            if_unused: flags.0 & WARREN_EXCHANGE_IF_UNUSED.0 != 0,
        };
        channel.exchange_delete(exchange, options)?;
        Ok(())
    })
}

/// Declares a queue `queue` with `flags` (`WARREN_QUEUE_PASSIVE`, `_DURABLE`, `_EXCLUSIVE`,
/// `_AUTO_DELETE`) and `arguments` (SEMANTICS Q1-Q8). An empty name asks for a server-named
/// queue (`amq.gen-...`): the name comes back through `name_buf`.
///
/// `arguments` is a field table (NULL: none), read during the call only: `x-queue-type`,
/// `x-consumer-timeout`, `x-message-ttl`, `x-max-length`, `x-dead-letter-exchange`... as
/// SEMANTICS defines them; the engine parses and checks them (406 for a wrong type or value).
///
/// Outputs, each optional (NULL when not wanted): the queue's name copied to `name_buf` (not
/// NUL-terminated) with its length in `*name_len_out`, its ready messages in
/// `*message_count_out` and its consumers in `*consumer_count_out`. A `name_buf` must hold
/// the name: `queue_len` bytes, or `WARREN_MAX_NAME_LEN` (255) for a server-named queue;
/// that is checked before anything happens.
///
/// # Errors
///
/// 406 for a redeclare with other flags or arguments (SEMANTICS Q2), or an invalid argument;
/// 405 for another connection's exclusive queue; 404 for a passive declare of a missing one;
/// 403 for a new `amq.` name (each closes the channel);
/// `WARREN_STATUS_BUFFER_TOO_SMALL` (nothing declared) when `name_cap` is below the
/// size above; `WARREN_STATUS_INVALID_ARGUMENT` for an unknown flag bit; the input statuses of
/// the module conventions.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; `queue` is NULL or points to `queue_len`
/// readable bytes; `arguments` is NULL, a live table or a valid view; `name_buf` is NULL or
/// points to `name_cap` writable bytes; each count or length output is NULL or points to a
/// writable value of its type.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_queue_declare(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    flags: warren_queue_flags,
    arguments: *const warren_table,
    name_buf: *mut u8,
    name_cap: usize,
    name_len_out: *mut usize,
    message_count_out: *mut u32,
    consumer_count_out: *mut u32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        // SAFETY: `queue` is NULL or points to `queue_len` bytes (# Safety).
        let queue = unsafe { name(queue, queue_len, Input::Queue, "queue") }?;
        // SAFETY: `name_buf` is NULL or points to `name_cap` writable bytes (# Safety).
        let name_buf = unsafe { out_buf(name_buf, name_cap, "name_buf") }?;
        // SAFETY: each output is NULL or writable (# Safety).
        let (name_len_out, messages_out, consumers_out) = unsafe {
            (
                opt_out(name_len_out),
                opt_out(message_count_out),
                opt_out(consumer_count_out),
            )
        };
        let f = flags.0;
        check_flags(f, 0b1111, "queue declare flags")?;
        // A non-empty name comes back as it went in; a server-named one is at most 255 bytes.
        let needed = if queue.is_empty() {
            WARREN_MAX_NAME_LEN
        } else {
            queue.len()
        };
        if name_buf.wanted() && name_buf.capacity() < needed {
            return Err(Fail::new(
                WARREN_STATUS_BUFFER_TOO_SMALL,
                format!(
                    "name_buf too small: {} bytes, the name needs up to {needed}",
                    name_buf.capacity()
                ),
            ));
        }
        let options = QueueDeclareOptions {
            passive: f & WARREN_QUEUE_PASSIVE.0 != 0,
            durable: f & WARREN_QUEUE_DURABLE.0 != 0,
            exclusive: f & WARREN_QUEUE_EXCLUSIVE.0 != 0,
            auto_delete: f & WARREN_QUEUE_AUTO_DELETE.0 != 0,
        };
        // SAFETY: `arguments` is NULL or readable (# Safety).
        let args = unsafe { args_of(arguments) };
        let ok = channel.queue_declare(queue, options, args)?;
        if name_buf.wanted() && ok.name.len() > name_buf.capacity() {
            // The name is declared but cannot be handed back: say so rather than cut it.
            return Err(Fail::new(
                WARREN_STATUS_INTERNAL_ERROR,
                format!(
                    "queue name '{}' longer than the {} bytes promised",
                    ok.name, needed
                ),
            ));
        }
        name_buf.write(ok.name.as_bytes());
        set_opt(name_len_out, ok.name.len());
        set_opt(messages_out, ok.message_count);
        set_opt(consumers_out, ok.consumer_count);
        Ok(())
    })
}

/// Which binding call a [`binding`] is.
#[derive(Clone, Copy)]
enum Binding {
    QueueBind,
    QueueUnbind,
    ExchangeBind,
    ExchangeUnbind,
}

/// The body of the four binding calls: `to` is the queue or destination exchange, `from` the
/// (source) exchange.
///
/// # Safety
///
/// As `warren_channel_queue_bind`.
#[allow(clippy::too_many_arguments)]
unsafe fn binding(
    which: Binding,
    channel: *const warren_channel,
    to: *const u8,
    to_len: usize,
    from: *const u8,
    from_len: usize,
    routing_key: *const u8,
    routing_key_len: usize,
    arguments: *const warren_table,
) -> Result<(), Fail> {
    let (to_input, to_what, from_what) = match which {
        Binding::QueueBind | Binding::QueueUnbind => (Input::Queue, "queue", "exchange"),
        Binding::ExchangeBind | Binding::ExchangeUnbind => {
            (Input::Exchange, "destination", "source")
        }
    };
    // SAFETY: `channel` is NULL or live; each pair is NULL or readable; `arguments` is NULL or
    // readable (# Safety).
    let (channel, to, from, key, args) = unsafe {
        (
            borrow(channel, "channel")?,
            name(to, to_len, to_input, to_what)?,
            name(from, from_len, Input::Exchange, from_what)?,
            name(
                routing_key,
                routing_key_len,
                Input::BindingKey,
                "routing_key",
            )?,
            args_of(arguments),
        )
    };
    match which {
        Binding::QueueBind => channel.queue_bind(to, from, key, args)?,
        Binding::QueueUnbind => channel.queue_unbind(to, from, key, args)?,
        Binding::ExchangeBind => channel.exchange_bind(to, from, key, args)?,
        Binding::ExchangeUnbind => channel.exchange_unbind(to, from, key, args)?,
    }
    Ok(())
}

/// Binds queue `queue` to exchange `exchange` with binding key `routing_key` and `arguments`
/// (SEMANTICS E3, E5, Q6): an empty queue name means the channel's last declared queue.
///
/// `arguments` is a field table (NULL: none), read during the call only: for a headers
/// exchange, the header terms and `x-match` (SEMANTICS E3). A binding is the set (queue,
/// exchange, key, arguments): unbinding needs equal arguments.
///
/// # Errors
///
/// 404 for a missing queue or exchange, 403 for the default exchange, 405 for another
/// connection's exclusive queue, 406 for invalid headers arguments (each closes the
/// channel); the input statuses of the module conventions.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
/// to that many readable bytes; `arguments` is NULL, a live table or a valid view.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_queue_bind(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    exchange: *const u8,
    exchange_len: usize,
    routing_key: *const u8,
    routing_key_len: usize,
    arguments: *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            binding(
                Binding::QueueBind,
                channel,
                queue,
                queue_len,
                exchange,
                exchange_len,
                routing_key,
                routing_key_len,
                arguments,
            )
        }
    })
}

/// Removes a queue binding, matched by queue, exchange, key and arguments; a missing binding
/// is no error (SEMANTICS Q10).
///
/// # Errors
///
/// As `warren_channel_queue_bind`.
///
/// # Safety
///
/// As `warren_channel_queue_bind`.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_queue_unbind(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    exchange: *const u8,
    exchange_len: usize,
    routing_key: *const u8,
    routing_key_len: usize,
    arguments: *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            binding(
                Binding::QueueUnbind,
                channel,
                queue,
                queue_len,
                exchange,
                exchange_len,
                routing_key,
                routing_key_len,
                arguments,
            )
        }
    })
}

/// Binds exchange `destination` to exchange `source` with binding key `routing_key` and
/// `arguments` (NULL: none): what `source` routes is routed on by `destination`, as if
/// published to it with the same key and headers (SEMANTICS E5, E6; cycles are harmless, each
/// exchange is visited once per message). AMQP's argument order: destination first.
///
/// # Errors
///
/// 403 if either is the default exchange `""`; 404 if either is missing; 406 for invalid
/// arguments (each closes the channel); the input statuses of the module conventions.
///
/// # Safety
///
/// As `warren_channel_queue_bind`.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_exchange_bind(
    channel: *const warren_channel,
    destination: *const u8,
    destination_len: usize,
    source: *const u8,
    source_len: usize,
    routing_key: *const u8,
    routing_key_len: usize,
    arguments: *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            binding(
                Binding::ExchangeBind,
                channel,
                destination,
                destination_len,
                source,
                source_len,
                routing_key,
                routing_key_len,
                arguments,
            )
        }
    })
}

/// Removes an exchange-to-exchange binding, matched by destination, source, key and
/// arguments; a missing binding is no error (SEMANTICS E11).
///
/// # Errors
///
/// As `warren_channel_exchange_bind`.
///
/// # Safety
///
/// As `warren_channel_queue_bind`.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_exchange_unbind(
    channel: *const warren_channel,
    destination: *const u8,
    destination_len: usize,
    source: *const u8,
    source_len: usize,
    routing_key: *const u8,
    routing_key_len: usize,
    arguments: *const warren_table,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: passed on from this function's # Safety.
        unsafe {
            binding(
                Binding::ExchangeUnbind,
                channel,
                destination,
                destination_len,
                source,
                source_len,
                routing_key,
                routing_key_len,
                arguments,
            )
        }
    })
}

/// Deletes a queue (SEMANTICS Q9): its ready messages are discarded, their number written to
/// `*message_count_out` (optional), its consumers cancelled. `flags` may hold
/// `WARREN_QUEUE_IF_UNUSED` and `WARREN_QUEUE_IF_EMPTY`. A missing queue is no error.
///
/// # Errors
///
/// 406 with `WARREN_QUEUE_IF_UNUSED` or `WARREN_QUEUE_IF_EMPTY` when the queue is in use or
/// not empty, 405 for another connection's exclusive queue (each closes the channel);
/// `WARREN_STATUS_INVALID_ARGUMENT` for another flag bit; the input statuses.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; `queue` is NULL or points to `queue_len`
/// readable bytes; `message_count_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_queue_delete(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    flags: warren_queue_flags,
    message_count_out: *mut u32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; the pair is NULL or readable; the output is NULL
        // or writable (# Safety).
        let (channel, queue, count_out) = unsafe {
            (
                borrow(channel, "channel")?,
                name(queue, queue_len, Input::Queue, "queue")?,
                opt_out(message_count_out),
            )
        };
        let known = WARREN_QUEUE_IF_UNUSED.0 | WARREN_QUEUE_IF_EMPTY.0;
        check_flags(flags.0, known, "queue delete flags")?;
        let options = QueueDeleteOptions {
            if_unused: flags.0 & WARREN_QUEUE_IF_UNUSED.0 != 0,
            if_empty: flags.0 & WARREN_QUEUE_IF_EMPTY.0 != 0,
        };
        let n = channel.queue_delete(queue, options)?;
        set_opt(count_out, n);
        Ok(())
    })
}

/// Removes a queue's ready messages and writes how many to `*message_count_out` (optional)
/// (SEMANTICS Q10).
///
/// # Errors
///
/// 404 for a missing queue, 405 for another connection's exclusive queue (each closes the
/// channel); the input statuses.
///
/// # Safety
///
/// As `warren_channel_queue_delete`.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_queue_purge(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    message_count_out: *mut u32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; the pair is NULL or readable; the output is NULL
        // or writable (# Safety).
        let (channel, queue, count_out) = unsafe {
            (
                borrow(channel, "channel")?,
                name(queue, queue_len, Input::Queue, "queue")?,
                opt_out(message_count_out),
            )
        };
        let n = channel.queue_purge(queue)?;
        set_opt(count_out, n);
        Ok(())
    })
}

/// Sets the prefetch (SEMANTICS D3, D4): with `global` false, the most unacked deliveries each
/// consumer created after this call may hold; with `global` true, one cap shared by the
/// channel's consumers. 0 is unlimited. Prefetch 1 is fair dispatch.
///
/// # Errors
///
/// `WARREN_STATUS_CHANNEL_CLOSED` on a closed channel; `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_qos(
    channel: *const warren_channel,
    prefetch_count: u16,
    global: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        channel.basic_qos(prefetch_count, BasicQosOptions { global })?;
        Ok(())
    })
}

/// Publishes a message to `exchange` (empty: the default exchange, where the routing key
/// names the queue) with `routing_key` (SEMANTICS P1-P5). The body is copied once into a
/// buffer that every queue it reaches shares. `properties` (from `warren_properties_new`, or
/// a view such as a delivery's) is read during the call only and may be reused or freed
/// after it; NULL publishes with no property set, the fastest path.
///
/// On success `*queues_out` (optional) gets the number of queues that took the message: 0
/// means it was unroutable and, not being `mandatory`, dropped.
///
/// # Errors
///
/// `WARREN_STATUS_NO_ROUTE` (312) when `mandatory` and no queue took it: the message is
/// returned (to the return callback first, if one is set), nothing closes (in confirm mode it
/// is still confirmed). 404 for a missing exchange, 403 for an internal one, 406 for a body
/// over the broker's size limit, an invalid `expiration`, a `CC` or `BCC` header that is no
/// array or a bad `reply_to` (each closes the channel); `WARREN_STATUS_TOO_LONG` for a body
/// over 512 MiB; `WARREN_STATUS_INVALID_STATE` for a `mandatory` publish on this channel from
/// inside its own return callback (it could be returned into the callback it is called from);
/// the input statuses. A failed publish routed nothing.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
/// to that many readable bytes; `properties` is NULL, a live `warren_properties` or a valid
/// view, not changed during the call; `queues_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_publish(
    channel: *const warren_channel,
    exchange: *const u8,
    exchange_len: usize,
    routing_key: *const u8,
    routing_key_len: usize,
    body_ptr: *const u8,
    body_len: usize,
    properties: *const warren_properties,
    mandatory: bool,
    queues_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; each pair is NULL or readable; `properties` is
        // NULL or readable; `queues_out` is NULL or writable (# Safety).
        let (channel, exchange, key, body, props, queues_out) = unsafe {
            (
                borrow(channel, "channel")?,
                name(exchange, exchange_len, Input::Exchange, "exchange")?,
                name(
                    routing_key,
                    routing_key_len,
                    Input::RoutingKey,
                    "routing_key",
                )?,
                body(body_ptr, body_len)?,
                if properties.is_null() {
                    None
                } else {
                    Some(plain_ref(properties, "properties")?)
                },
                opt_out(queues_out),
            )
        };
        if mandatory && in_return_callback(&channel) {
            return Err(Fail::new(
                WARREN_STATUS_INVALID_STATE,
                "a mandatory publish on a channel from inside its own return callback",
            ));
        }
        let options = BasicPublishOptions {
            mandatory,
            immediate: false,
        };
        let body = Bytes::copy_from_slice(body);
        // The properties are made in the call, not moved into it: a 300-byte struct.
        let published = match props {
            None => channel.basic_publish(exchange, key, options, body, BasicProperties::default()),
            Some(p) => channel.basic_publish(exchange, key, options, body, p.clone()),
        };
        match published {
            Ok(Publish::Routed { queues }) => set_opt(queues_out, queues),
            Ok(Publish::Unroutable) => set_opt(queues_out, 0),
            Ok(Publish::Returned(r)) => return Err(returned(&r)),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    })
}

/// The failure of a mandatory publish no queue took (its message went to the return callback).
#[cold]
fn returned(r: &Return) -> Fail {
    Fail::new(
        WARREN_STATUS_NO_ROUTE,
        format!(
            "{} {} - returned: no queue took the mandatory message (exchange '{}', routing key \
             '{}')",
            r.reply_code, r.reply_text, r.exchange, r.routing_key
        ),
    )
}

/// A message returned to its publisher (`basic.return`, SEMANTICS P2), as the return callback
/// sees it. Every pointer is borrowed for the callback call only: copy what must outlive it
/// (the properties with `warren_table_copy` of their headers and the getters; the body with
/// `memcpy`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct warren_returned_message {
    /// The AMQP reply code: 312.
    pub reply_code: u16,
    /// The reply text, `NO_ROUTE` (not NUL-terminated).
    pub reply_text: *const u8,
    /// The length of `reply_text`.
    pub reply_text_len: usize,
    /// The exchange it was published to (empty: the default exchange).
    pub exchange: *const u8,
    /// The length of `exchange`.
    pub exchange_len: usize,
    /// Its routing key.
    pub routing_key: *const u8,
    /// The length of `routing_key`.
    pub routing_key_len: usize,
    /// Its properties, as published: a view, read with the `warren_properties_*` getters.
    pub properties: *const warren_properties,
    /// Its body (the published buffer, not a copy).
    pub body: *const u8,
    /// The length of `body`.
    pub body_len: usize,
}

/// Called with each message returned to a publisher of this channel (a `mandatory` publish
/// that no queue took, SEMANTICS P2): `message` and everything it points to are borrowed for
/// the call only.
pub type warren_return_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, message: *const warren_returned_message)>;

thread_local! {
    /// The channel (its shared state's address) whose return callback this thread is in, so
    /// calls that would wait for that callback's lock are refused instead of deadlocking.
    static IN_RETURN: Cell<usize> = const { Cell::new(0) };
}

/// The identity of a channel, for [`IN_RETURN`]: the address of its shared state (never 0).
fn channel_id(channel: &Channel) -> usize {
    std::sync::Arc::as_ptr(channel.shared()).addr()
}

/// Whether this thread is inside `channel`'s return callback.
fn in_return_callback(channel: &Channel) -> bool {
    IN_RETURN
        .try_with(Cell::get)
        .is_ok_and(|c| c == channel_id(channel))
}

/// Sets the channel's return callback: `callback(userdata, message)` with each message a
/// `mandatory` publish on this channel returns (SEMANTICS P2). It replaces an earlier one (a
/// call in progress on another thread finishes first).
///
/// Which thread calls it: the publishing thread, inside `warren_channel_basic_publish` of this
/// channel, before that returns `WARREN_STATUS_NO_ROUTE` (and, in confirm mode, before the
/// publish's confirm): nowhere else. It may publish on other channels, and non-`mandatory`
/// messages on this one; a `mandatory` publish on this channel or a
/// `warren_channel_set_return_callback` on it from inside the callback is refused with
/// `WARREN_STATUS_INVALID_STATE`. It must return normally.
///
/// # Errors
///
/// `WARREN_STATUS_INVALID_STATE` from inside this channel's return callback;
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `channel` or `callback`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle. `userdata` may be used from the threads that
/// publish on this channel and stays valid while they may publish on it (until the callback is
/// replaced, or the channel closed or freed).
#[no_mangle]
pub unsafe extern "C" fn warren_channel_set_return_callback(
    channel: *const warren_channel,
    callback: warren_return_callback,
    userdata: *mut c_void,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        let Some(callback) = callback else {
            return Err(Fail::null("callback"));
        };
        if in_return_callback(&channel) {
            return Err(Fail::new(
                WARREN_STATUS_INVALID_STATE,
                "set_return_callback on a channel from inside its own return callback",
            ));
        }
        let userdata = UserData::new(userdata);
        let id = channel_id(&channel);
        channel.on_return(move |r: Return| {
            let message = warren_returned_message {
                reply_code: r.reply_code,
                reply_text: r.reply_text.as_ptr(),
                reply_text_len: r.reply_text.len(),
                exchange: r.exchange.as_ptr(),
                exchange_len: r.exchange.len(),
                routing_key: r.routing_key.as_ptr(),
                routing_key_len: r.routing_key.len(),
                properties: plain_view(&r.properties),
                body: r.body.as_ptr(),
                body_len: r.body.len(),
            };
            let outer = IN_RETURN.try_with(|c| c.replace(id)).ok();
            // SAFETY: `callback` is a C function of this type and `userdata` may be used on
            // this publishing thread (warren_channel_set_return_callback's # Safety);
            // `message` and what it points to (`r`) live until the call returns.
            unsafe { callback(userdata.get(), &message) };
            if let Some(outer) = outer {
                let _gone = IN_RETURN.try_with(|c| c.set(outer));
            }
        });
        Ok(())
    })
}

/// Starts a consumer on `queue` (empty: the channel's last declared queue) and writes its
/// handle to `*consumer_out` (SEMANTICS D1-D8). An empty `consumer_tag` asks for a generated
/// one (`warren_consumer_tag` gives it). With `no_ack`, deliveries are settled on hand-over;
/// otherwise each must be acked, nacked or rejected, and the channel's prefetch
/// (`warren_channel_basic_qos`) caps how many one consumer holds. `exclusive` makes it the
/// queue's only consumer. `arguments` is a field table (NULL: none), read during the call
/// only: `x-priority` (SEMANTICS D5), `x-consumer-timeout` (A9).
///
/// Receive with `warren_consumer_recv` or `warren_consumer_set_callback`; free with
/// `warren_consumer_free` (which, without `warren_consumer_cancel`, puts its unacked
/// deliveries back in the queue).
///
/// # Errors
///
/// 404 for a missing queue, 405 for another connection's exclusive queue, 403 when an
/// exclusive consumer holds the queue, 406 for an invalid argument (each closes the
/// channel); 530 for a tag in use on the channel (closes the connection); the input statuses.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
/// to that many readable bytes; `arguments` is NULL, a live table or a valid view;
/// `consumer_out` is NULL or points to a writable `warren_consumer *`.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_consume(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    consumer_tag: *const u8,
    consumer_tag_len: usize,
    no_ack: bool,
    exclusive: bool,
    arguments: *const warren_table,
    consumer_out: *mut *mut warren_consumer,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; each pair is NULL or readable; `consumer_out` is
        // NULL or writable (# Safety).
        let (channel, queue, tag, consumer_out) = unsafe {
            (
                borrow(channel, "channel")?,
                name(queue, queue_len, Input::Queue, "queue")?,
                name(
                    consumer_tag,
                    consumer_tag_len,
                    Input::ConsumerTag,
                    "consumer_tag",
                )?,
                out(consumer_out, "consumer_out")?,
            )
        };
        let options = BasicConsumeOptions {
            no_ack,
            exclusive,
            no_local: false,
        };
        // SAFETY: `arguments` is NULL or readable (# Safety).
        let args = unsafe { args_of(arguments) };
        let consumer = channel.basic_consume(queue, tag, options, args)?;
        consumer_out.set(into_raw(ConsumerHandle::new(consumer)));
        Ok(())
    })
}

/// Takes the head message of `queue` (SEMANTICS D9), ignoring prefetch: writes a delivery
/// handle to `*delivery_out` (free it with `warren_delivery_free`; unless `no_ack`, settle
/// it), or NULL when the queue is empty; `*message_count_out` (optional) gets the ready
/// messages left.
///
/// # Errors
///
/// 404 for a missing queue, 405 for another connection's exclusive queue (each closes the
/// channel); the input statuses.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; `queue` is NULL or points to `queue_len`
/// readable bytes; `delivery_out` is NULL or points to a writable `warren_delivery *`;
/// `message_count_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_get(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    no_ack: bool,
    delivery_out: *mut *mut warren_delivery,
    message_count_out: *mut u32,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; the pair is NULL or readable; the outputs are
        // NULL or writable (# Safety).
        let (channel, queue, delivery_out, count_out) = unsafe {
            (
                borrow(channel, "channel")?,
                name(queue, queue_len, Input::Queue, "queue")?,
                out(delivery_out, "delivery_out")?,
                opt_out(message_count_out),
            )
        };
        match channel.basic_get(queue, BasicGetOptions { no_ack })? {
            Some(got) => {
                set_opt(count_out, got.message_count);
                delivery_out.set(into_raw_recycled(got.delivery));
            }
            None => {
                set_opt(count_out, 0);
                delivery_out.set(std::ptr::null_mut());
            }
        }
        Ok(())
    })
}

/// Acknowledges the delivery `delivery_tag` of this channel, or with `multiple` every unacked
/// one up to it (0 = all) (SEMANTICS A2). A tag whose consumer went away (its message is
/// already back in the queue) is no error and changes nothing (A8).
///
/// # Errors
///
/// 406 "unknown delivery tag" for a tag never issued or already settled, which closes the
/// channel; `WARREN_STATUS_CHANNEL_CLOSED`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_ack(
    channel: *const warren_channel,
    delivery_tag: u64,
    multiple: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        channel.basic_ack(DeliveryTag::new(delivery_tag), BasicAckOptions { multiple })?;
        Ok(())
    })
}

/// Rejects the delivery `delivery_tag`, or with `multiple` every unacked one up to it
/// (SEMANTICS A4): `requeue` puts them back at their places, otherwise they are dropped.
///
/// # Errors
///
/// As `warren_channel_basic_ack`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_nack(
    channel: *const warren_channel,
    delivery_tag: u64,
    multiple: bool,
    requeue: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        let options = BasicNackOptions {
            multiple,
            requeue,
            ..Default::default()
        };
        channel.basic_nack(DeliveryTag::new(delivery_tag), options)?;
        Ok(())
    })
}

/// Rejects the one delivery `delivery_tag` (SEMANTICS A4): `requeue` puts it back at its
/// place, otherwise it is dropped.
///
/// # Errors
///
/// As `warren_channel_basic_ack`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_reject(
    channel: *const warren_channel,
    delivery_tag: u64,
    requeue: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        channel.basic_reject(
            DeliveryTag::new(delivery_tag),
            BasicRejectOptions { requeue },
        )?;
        Ok(())
    })
}

/// Requeues every unacked delivery of the channel (SEMANTICS A11): they go back to their
/// queues at their places, `redelivered`, and their returned count grows by one (A10);
/// settling them afterwards changes nothing (A8). `requeue` must be true.
///
/// # Errors
///
/// 540 (`WARREN_STATUS_NOT_IMPLEMENTED`, closing the connection) when `requeue` is false, as
/// RabbitMQ; `WARREN_STATUS_CHANNEL_CLOSED`; `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_recover(
    channel: *const warren_channel,
    requeue: bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        channel.basic_recover(requeue)?;
        Ok(())
    })
}

/// Puts the channel in confirm mode (SEMANTICS C1): from now on each publish gets a sequence
/// number, from 1, and exactly one outcome, ack or nack. A persistent message reaching a
/// durable queue of a durable broker is acked once the fsync covering it is done (C2); others
/// at once. Repeating it does nothing.
///
/// # Errors
///
/// `WARREN_STATUS_CHANNEL_CLOSED`; `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_confirm_select(
    channel: *const warren_channel,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        channel.confirm_select()?;
        Ok(())
    })
}

/// The sequence number the next publish will get in confirm mode; 0 outside it, and for a
/// NULL or poisoned channel.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_next_publish_seq_no(channel: *const warren_channel) -> u64 {
    ffi_boundary!(default = 0, {
        // SAFETY: `channel` is NULL or live (# Safety).
        match unsafe { borrow(channel, "channel") } {
            Ok(channel) => channel.next_publish_seq_no().get(),
            Err(_) => 0,
        }
    })
}

/// Waits at most `timeout_ms` until every publish so far has its outcome (SEMANTICS C6), and
/// writes to `*all_acked_out` whether all outcomes since the previous wait were acks (false:
/// at least one nack).
///
/// # Errors
///
/// `WARREN_STATUS_TIMEOUT` when the time runs out first (nothing closes);
/// `WARREN_STATUS_INVALID_STATE` outside confirm mode; `WARREN_STATUS_CHANNEL_CLOSED` if the
/// channel closes meanwhile; `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; `all_acked_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_wait_for_confirms(
    channel: *const warren_channel,
    timeout_ms: u64,
    all_acked_out: *mut bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; `all_acked_out` is NULL or writable (# Safety).
        let (channel, all_acked_out) = unsafe {
            (
                borrow(channel, "channel")?,
                out(all_acked_out, "all_acked_out")?,
            )
        };
        let all_acked = channel.wait_for_confirms(millis(timeout_ms))?;
        all_acked_out.set(all_acked);
        Ok(())
    })
}

/// As `warren_channel_wait_for_confirms`, but a nack or a timeout is an error that closes the
/// channel (SEMANTICS C6), as the Java client's `waitForConfirmsOrDie` does.
///
/// # Errors
///
/// `WARREN_STATUS_NACKED` after a nack; `WARREN_STATUS_TIMEOUT` on timeout (the channel is
/// closed with 406 "TIMEOUT WAITING FOR ACK"); otherwise as `warren_channel_wait_for_confirms`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_wait_for_confirms_or_die(
    channel: *const warren_channel,
    timeout_ms: u64,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        channel.wait_for_confirms_or_die(millis(timeout_ms))?;
        Ok(())
    })
}

/// Sets the channel's confirm callback (SEMANTICS C5c; tutorial 7's third strategy): `callback`
/// is called with `userdata` and each confirm. It replaces an earlier one; set before
/// `warren_channel_confirm_select`, it is kept until confirm mode starts.
///
/// Which thread calls it: the publishing thread, inside `warren_channel_basic_publish`, for
/// outcomes known at once; the durable store's thread for those that waited for an fsync.
/// Calls for one channel never overlap. It may publish on this channel and replace itself. It
/// must return normally and quickly (it delays the publish or the store). The callback and
/// `warren_channel_wait_for_confirms` are told independently: a wait may return before the
/// callback has seen the last outcomes.
///
/// When this call replaces a callback, it first waits for a call of the old one running on
/// another thread to return: afterwards the old callback is not called again and its userdata
/// is free to go (called from inside the old callback, it cannot wait for itself: the old
/// userdata is then unused once that callback returns). So do not hold a lock the callback
/// takes while calling this (nor `warren_channel_close` or `warren_channel_free`).
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `channel` or `callback`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle. `userdata` may be used from the threads above
/// and stays valid until the callback is replaced (this function returned), or
/// `warren_channel_close` returned, or the `warren_channel_free` (or last
/// `warren_consumer_free`) that closed the channel returned, or its connection's or broker's
/// close returned; from inside the callback itself, until that callback returns.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_set_confirm_callback(
    channel: *const warren_channel,
    callback: warren_confirm_callback,
    userdata: *mut c_void,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        let Some(callback) = callback else {
            return Err(Fail::null("callback"));
        };
        let userdata = UserData::new(userdata);
        channel.on_confirm(move |c: Confirm| {
            // SAFETY: `callback` is a C function of this type and `userdata` may be used on
            // this thread (the # Safety of warren_channel_set_confirm_callback).
            unsafe { callback(userdata.get(), c.seq.get(), c.multiple, c.ack) }
        });
        // With no lock held: a call of the replaced callback on another thread may finish.
        if let Some(confirms) = channel.shared().confirms() {
            confirms.quiesce();
        }
        Ok(())
    })
}

/// Closes the channel (SEMANTICS A7): its consumers end and its unacked deliveries go back to
/// their queues, `redelivered`; pending confirms get no outcome (C7). Closing twice does
/// nothing more; the handle still needs `warren_channel_free`.
///
/// Once it returns, the confirm callback is not running on another thread and is not called
/// again (even if the channel was already closed, e.g. by its connection on another thread):
/// its userdata may go. Called from inside the confirm callback, it cannot wait for that call.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `channel` is NULL.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_close(channel: *const warren_channel) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        channel.close();
        if let Some(confirms) = channel.shared().confirms() {
            confirms.quiesce();
        }
        Ok(())
    })
}

/// Frees the channel handle; NULL does nothing. The channel closes once this handle and its
/// consumers are gone (deliveries do not keep it open); a free that closes it returns, as
/// `warren_channel_close` does, once no confirm callback runs.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle, not used by any call now or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_free(channel: *mut warren_channel) {
    ffi_boundary!(default = (), {
        // SAFETY: `channel` is NULL or live until the free below (# Safety).
        let confirms = unsafe { borrow(channel.cast_const(), "channel") }
            .ok()
            .and_then(|ch| ch.shared().confirms().cloned());
        // SAFETY: `channel` is NULL or live, and not used after this (# Safety).
        unsafe { free(channel) };
        if let Some(confirms) = confirms {
            // If this free closed the channel, a dispatcher on another thread may still be
            // giving reports to the callback: wait for it (a no-op otherwise).
            confirms.quiesce();
        }
    })
}
