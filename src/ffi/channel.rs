//! `warren_channel_*`: the AMQP methods: declares, bindings, publish, consume, get, settle,
//! prefetch and publisher confirms.

use super::boundary::{
    body, borrow, free, into_raw, millis, name, opt_out, opt_struct, opt_text, out, out_buf,
    set_opt, Fail, Handle, UserData,
};
use super::consumer::{warren_consumer, ConsumerHandle};
use super::delivery::warren_delivery;
use super::status::warren_status::{self, *};
use crate::broker::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, Confirm, ExchangeDeclareOptions, ExchangeDeleteOptions,
    Publish, QueueDeclareOptions, QueueDeleteOptions,
};
use crate::error::Input;
use crate::message::FieldTable;
use crate::route::ExchangeType;
use crate::topic::MAX_LEN;
use crate::{BasicProperties, Channel, DeliveryTag};
use bytes::Bytes;
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

/// An exchange type: one of the `WARREN_EXCHANGE_TYPE_*` values (SEMANTICS E1).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct warren_exchange_type(u32);

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
pub struct warren_exchange_flags(u32);

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
pub struct warren_queue_flags(u32);

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

/// Message properties for `warren_channel_basic_publish`, every one optional. A zeroed struct
/// (`warren_properties p = {0};`) sets none.
///
/// Each text property is a (pointer, length) pair: (NULL, 0) leaves it unset, a non-NULL
/// pointer sets it (to the empty string with length 0); UTF-8, at most 255 bytes. The
/// pointers are borrowed for the call only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct warren_properties {
    /// 2 for persistent (written to disk in a durable queue of a durable broker), 0 for unset;
    /// any other value is transient.
    pub delivery_mode: u8,
    /// MIME content type, e.g. `application/json`.
    pub content_type: *const u8,
    /// The length of `content_type`.
    pub content_type_len: usize,
    /// Correlation id: matches an RPC reply to its request.
    pub correlation_id: *const u8,
    /// The length of `correlation_id`.
    pub correlation_id_len: usize,
    /// The queue to reply to.
    pub reply_to: *const u8,
    /// The length of `reply_to`.
    pub reply_to_len: usize,
    /// Application message id.
    pub message_id: *const u8,
    /// The length of `message_id`.
    pub message_id_len: usize,
}

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
/// `_DURABLE`, `_AUTO_DELETE`, `_INTERNAL`) (SEMANTICS E1, E4, E10).
///
/// # Errors
///
/// 403 (`WARREN_STATUS_ACCESS_REFUSED`) for `""` or a new `amq.` name; 406 for a redeclare
/// with another type or flags; 404 for a passive declare of a missing exchange (each closes
/// the channel); `WARREN_STATUS_INVALID_ARGUMENT` for an unknown type or flag bit; the input
/// statuses of the module conventions.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; `exchange` is NULL or points to `exchange_len`
/// readable bytes.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_exchange_declare(
    channel: *const warren_channel,
    exchange: *const u8,
    exchange_len: usize,
    kind: warren_exchange_type,
    flags: warren_exchange_flags,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let channel = unsafe { borrow(channel, "channel") }?;
        // SAFETY: `exchange` is NULL or points to `exchange_len` bytes (# Safety).
        let exchange = unsafe { name(exchange, exchange_len, Input::Exchange, "exchange") }?;
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
        channel.exchange_declare(exchange, kind, options, &FieldTable::new())?;
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
/// `_AUTO_DELETE`) (SEMANTICS Q1-Q8). An empty name asks for a server-named queue
/// (`amq.gen-...`): the name comes back through `name_buf`.
///
/// Outputs, each optional (NULL when not wanted): the queue's name copied to `name_buf` (not
/// NUL-terminated) with its length in `*name_len_out`, its ready messages in
/// `*message_count_out` and its consumers in `*consumer_count_out`. A `name_buf` must hold
/// the name: `queue_len` bytes, or `WARREN_MAX_NAME_LEN` (255) for a server-named queue;
/// that is checked before anything happens.
///
/// # Errors
///
/// 406 for a redeclare with other flags; 405 for another connection's exclusive queue; 404
/// for a passive declare of a missing one; 403 for a new `amq.` name (each closes the
/// channel); `WARREN_STATUS_BUFFER_TOO_SMALL` (nothing declared) when `name_cap` is below the
/// size above; `WARREN_STATUS_INVALID_ARGUMENT` for an unknown flag bit; the input statuses of
/// the module conventions.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; `queue` is NULL or points to `queue_len`
/// readable bytes; `name_buf` is NULL or points to `name_cap` writable bytes; each count or
/// length output is NULL or points to a writable value of its type.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_queue_declare(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    flags: warren_queue_flags,
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
        let ok = channel.queue_declare(queue, options, &FieldTable::new())?;
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

/// Binds queue `queue` to exchange `exchange` with binding key `routing_key` (SEMANTICS E5,
/// Q6): an empty queue name means the channel's last declared queue.
///
/// # Errors
///
/// 404 for a missing queue or exchange, 403 for the default exchange, 405 for another
/// connection's exclusive queue (each closes the channel); the input statuses of the module
/// conventions.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
/// to that many readable bytes.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_queue_bind(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    exchange: *const u8,
    exchange_len: usize,
    routing_key: *const u8,
    routing_key_len: usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; each pair is NULL or readable (# Safety).
        let (channel, queue, exchange, key) = unsafe {
            (
                borrow(channel, "channel")?,
                name(queue, queue_len, Input::Queue, "queue")?,
                name(exchange, exchange_len, Input::Exchange, "exchange")?,
                name(
                    routing_key,
                    routing_key_len,
                    Input::BindingKey,
                    "routing_key",
                )?,
            )
        };
        channel.queue_bind(queue, exchange, key, &FieldTable::new())?;
        Ok(())
    })
}

/// Removes a queue binding; a missing binding is no error (SEMANTICS Q10).
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
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; each pair is NULL or readable (# Safety).
        let (channel, queue, exchange, key) = unsafe {
            (
                borrow(channel, "channel")?,
                name(queue, queue_len, Input::Queue, "queue")?,
                name(exchange, exchange_len, Input::Exchange, "exchange")?,
                name(
                    routing_key,
                    routing_key_len,
                    Input::BindingKey,
                    "routing_key",
                )?,
            )
        };
        channel.queue_unbind(queue, exchange, key, &FieldTable::new())?;
        Ok(())
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

/// The Rust properties of a C `warren_properties`.
///
/// # Safety
///
/// Each text pair of `p` is NULL or points to that many readable bytes.
unsafe fn properties(p: &warren_properties) -> Result<BasicProperties, Fail> {
    let mut props = BasicProperties::default();
    if p.delivery_mode != 0 {
        props.delivery_mode = Some(p.delivery_mode);
    }
    // SAFETY: each pair is NULL or readable (# Safety).
    unsafe {
        props.content_type =
            opt_text(p.content_type, p.content_type_len, "content_type")?.map(String::from);
        props.correlation_id =
            opt_text(p.correlation_id, p.correlation_id_len, "correlation_id")?.map(String::from);
        props.reply_to = opt_text(p.reply_to, p.reply_to_len, "reply_to")?.map(String::from);
        props.message_id =
            opt_text(p.message_id, p.message_id_len, "message_id")?.map(String::from);
    }
    Ok(props)
}

/// Publishes a message to `exchange` (empty: the default exchange, where the routing key
/// names the queue) with `routing_key` (SEMANTICS P1-P5). The body is copied once into a
/// buffer that every queue it reaches shares. `properties` may be NULL (none set).
///
/// On success `*queues_out` (optional) gets the number of queues that took the message: 0
/// means it was unroutable and, not being `mandatory`, dropped.
///
/// # Errors
///
/// `WARREN_STATUS_NO_ROUTE` (312) when `mandatory` and no queue took it: the message is
/// returned, nothing closes (in confirm mode it is still confirmed). 404 for a missing
/// exchange, 403 for an internal one, 406 for a body over the broker's size limit or a bad
/// `reply_to` (each closes the channel); `WARREN_STATUS_TOO_LONG` for a body over 512 MiB;
/// the input statuses. A failed publish routed nothing.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; each (pointer, length) pair, here and in
/// `*properties`, is NULL or points to that many readable bytes; `properties` is NULL or
/// points to an initialised `warren_properties`; `queues_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_publish(
    channel: *const warren_channel,
    exchange: *const u8,
    exchange_len: usize,
    routing_key: *const u8,
    routing_key_len: usize,
    body_ptr: *const u8,
    body_len: usize,
    properties_ptr: *const warren_properties,
    mandatory: bool,
    queues_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live; each pair is NULL or readable; `properties_ptr`
        // is NULL or an initialised struct; `queues_out` is NULL or writable (# Safety).
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
                match opt_struct(properties_ptr) {
                    Some(p) => properties(p)?,
                    None => BasicProperties::default(),
                },
                opt_out(queues_out),
            )
        };
        let options = BasicPublishOptions {
            mandatory,
            immediate: false,
        };
        match channel.basic_publish(exchange, key, options, Bytes::copy_from_slice(body), props)? {
            Publish::Routed { queues } => set_opt(queues_out, queues),
            Publish::Unroutable => set_opt(queues_out, 0),
            Publish::Returned(r) => {
                return Err(Fail::new(
                    WARREN_STATUS_NO_ROUTE,
                    format!(
                        "{} {} - returned: no queue took the mandatory message (exchange '{}', routing key '{}')",
                        r.reply_code, r.reply_text, r.exchange, r.routing_key
                    ),
                ))
            }
        }
        Ok(())
    })
}

/// Starts a consumer on `queue` (empty: the channel's last declared queue) and writes its
/// handle to `*consumer_out` (SEMANTICS D1-D8). An empty `consumer_tag` asks for a generated
/// one (`warren_consumer_tag` gives it). With `no_ack`, deliveries are settled on hand-over;
/// otherwise each must be acked, nacked or rejected, and the channel's prefetch
/// (`warren_channel_basic_qos`) caps how many one consumer holds. `exclusive` makes it the
/// queue's only consumer.
///
/// Receive with `warren_consumer_recv` or `warren_consumer_set_callback`; free with
/// `warren_consumer_free` (which, without `warren_consumer_cancel`, puts its unacked
/// deliveries back in the queue).
///
/// # Errors
///
/// 404 for a missing queue, 405 for another connection's exclusive queue, 403 when an
/// exclusive consumer holds the queue (each closes the channel); 530 for a tag in use on the
/// channel (closes the connection); the input statuses.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle; each (pointer, length) pair is NULL or points
/// to that many readable bytes; `consumer_out` is NULL or points to a writable
/// `warren_consumer *`.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_basic_consume(
    channel: *const warren_channel,
    queue: *const u8,
    queue_len: usize,
    consumer_tag: *const u8,
    consumer_tag_len: usize,
    no_ack: bool,
    exclusive: bool,
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
        let consumer = channel.basic_consume(queue, tag, options, &FieldTable::new())?;
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
                delivery_out.set(into_raw(got.delivery));
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
/// Calls for one channel never overlap. It may publish on this channel. It must return
/// normally and quickly (it delays the publish or the store). The callback and
/// `warren_channel_wait_for_confirms` are told independently: a wait may return before the
/// callback has seen the last outcomes.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for a NULL `channel` or `callback`.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle. `userdata` may be used from the threads above
/// and stays valid until the channel is closed and freed and every confirm of its publishes
/// came (after `warren_channel_wait_for_confirms` returned `WARREN_STATUS_OK`, or the close).
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
        Ok(())
    })
}

/// Closes the channel (SEMANTICS A7): its consumers end and its unacked deliveries go back to
/// their queues, `redelivered`. Closing twice does nothing; the handle still needs
/// `warren_channel_free`.
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
        Ok(())
    })
}

/// Frees the channel handle; NULL does nothing. The channel closes once this handle and its
/// consumers are gone (deliveries do not keep it open).
///
/// # Safety
///
/// `channel` is NULL or a live channel handle, not used by any call now or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_channel_free(channel: *mut warren_channel) {
    ffi_boundary!(default = (), {
        // SAFETY: `channel` is NULL or live, and not used after this (# Safety).
        unsafe { free(channel) }
    })
}
