//! `warren_topic_*`: the wildcard trie matcher on its own, for programs that only want topic
//! routing: bind patterns to `uint64_t` destinations, route keys to the set of destinations.
//!
//! Patterns follow RabbitMQ and AMQP 0-9-1 (SEMANTICS T): words separated by `.`, `*` matches
//! exactly one word, `#` zero or more (`item.#` matches `item`).

use super::boundary::{
    borrow, free, into_raw, name, opt_out, out, out_slice, set_opt, Fail, Handle,
};
use super::status::warren_status::{self, *};
use crate::error::Input;
use crate::topic::{DestSet, TopicTrie};

/// A topic matcher, from `warren_topic_new`; freed by `warren_topic_free`.
///
/// Thread-safe: any number of threads may route, bind and unbind at once; routing takes no
/// lock. A route that starts after a bind or unbind returned sees its effect.
pub struct warren_topic {
    _private: [u8; 0],
}

impl Handle for warren_topic {
    type Rust = TopicTrie<u64>;
}

/// Creates an empty matcher and writes it to `*topic_out`.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` if `topic_out` is NULL.
///
/// # Safety
///
/// `topic_out` is NULL or points to a writable `warren_topic *`.
#[no_mangle]
pub unsafe extern "C" fn warren_topic_new(topic_out: *mut *mut warren_topic) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `topic_out` is NULL or writable (# Safety).
        let topic_out = unsafe { out(topic_out, "topic_out") }?;
        topic_out.set(into_raw(TopicTrie::new()));
        Ok(())
    })
}

/// Binds `pattern` to the destination `dest`; `*added_out` (optional) says whether the
/// binding is new.
///
/// # Errors
///
/// The input statuses of the module conventions for `pattern` (UTF-8, at most 255 bytes);
/// `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `topic` is NULL or a live matcher; `pattern` is NULL or points to `pattern_len` readable
/// bytes; `added_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_topic_bind(
    topic: *const warren_topic,
    pattern: *const u8,
    pattern_len: usize,
    dest: u64,
    added_out: *mut bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `topic` is NULL or live; the pair is NULL or readable; `added_out` is NULL
        // or writable (# Safety).
        let (topic, pattern, added_out) = unsafe {
            (
                borrow(topic, "topic")?,
                name(pattern, pattern_len, Input::Pattern, "pattern")?,
                opt_out(added_out),
            )
        };
        let added = topic.bind(pattern, dest)?;
        set_opt(added_out, added);
        Ok(())
    })
}

/// Removes the binding of `pattern` to `dest`; `*removed_out` (optional) says whether it
/// existed.
///
/// # Errors
///
/// As `warren_topic_bind`.
///
/// # Safety
///
/// As `warren_topic_bind`, with `removed_out`.
#[no_mangle]
pub unsafe extern "C" fn warren_topic_unbind(
    topic: *const warren_topic,
    pattern: *const u8,
    pattern_len: usize,
    dest: u64,
    removed_out: *mut bool,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `topic` is NULL or live; the pair is NULL or readable; `removed_out` is NULL
        // or writable (# Safety).
        let (topic, pattern, removed_out) = unsafe {
            (
                borrow(topic, "topic")?,
                name(pattern, pattern_len, Input::Pattern, "pattern")?,
                opt_out(removed_out),
            )
        };
        let removed = topic.unbind(pattern, dest)?;
        set_opt(removed_out, removed);
        Ok(())
    })
}

/// Routes `key`: writes every destination whose pattern matches it, each once, in no
/// particular order, to `dests_out` (room for `capacity` of them), and their number to
/// `*count_out`.
///
/// # Errors
///
/// `WARREN_STATUS_BUFFER_TOO_SMALL` when more than `capacity` match: then, as the one
/// exception to the output rule, `*count_out` gets the number needed and `dests_out` is
/// untouched (route again with that much room; bindings may change meanwhile). The input
/// statuses for `key`; `WARREN_STATUS_NULL_ARGUMENT` (also for a NULL `dests_out` with a
/// `capacity`).
///
/// # Safety
///
/// `topic` is NULL or a live matcher; `key` is NULL or points to `key_len` readable bytes;
/// `dests_out` is NULL or points to `capacity` writable `uint64_t`; `count_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn warren_topic_route(
    topic: *const warren_topic,
    key: *const u8,
    key_len: usize,
    dests_out: *mut u64,
    capacity: usize,
    count_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `topic` is NULL or live; the pair is NULL or readable; `dests_out` is NULL
        // or `capacity` writable u64s; `count_out` is NULL or writable (# Safety).
        let (topic, key, dests_out, count_out) = unsafe {
            (
                borrow(topic, "topic")?,
                name(key, key_len, Input::RoutingKey, "key")?,
                out_slice(dests_out, capacity, "dests_out")?,
                out(count_out, "count_out")?,
            )
        };
        let mut found = DestSet::new();
        topic.route(key, &mut found)?;
        let found = found.as_slice();
        if found.len() > dests_out.capacity() {
            count_out.set(found.len());
            return Err(Fail::new(
                WARREN_STATUS_BUFFER_TOO_SMALL,
                format!(
                    "dests_out too small: capacity {capacity}, {} destinations match",
                    found.len()
                ),
            ));
        }
        dests_out.write(found);
        count_out.set(found.len());
        Ok(())
    })
}

/// Frees the matcher; NULL does nothing.
///
/// # Safety
///
/// `topic` is NULL or a live matcher, not used by any call now or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_topic_free(topic: *mut warren_topic) {
    ffi_boundary!(default = (), {
        // SAFETY: `topic` is NULL or live, and not used after this (# Safety).
        unsafe { free(topic) }
    })
}
