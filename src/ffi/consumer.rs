//! `warren_consumer_*`: receiving deliveries, blocking with a timeout or through a callback
//! called on a thread of the consumer's own.
//!
//! # The callback thread
//!
//! `warren_consumer_set_callback` moves the consumer's receiving end to a dedicated thread
//! (named `warren-consumer`) that loops on a blocking receive and calls the callback with each
//! delivery, so one consumer's calls never overlap and come in delivery order. The thread
//! ends when the consumer ends (cancelled, its channel, connection or broker closed, its
//! queue deleted: a last call with a NULL delivery says so) or when the handle is freed:
//! `warren_consumer_free` sets a stop flag, wakes the receive, and joins the thread, so no
//! callback runs once it returns. The one exception is a free from inside the callback itself:
//! the thread cannot join itself, so it ends as soon as that callback returns.

use super::boundary::{
    borrow, free, into_raw_recycled, millis, out, out_buf, Fail, Handle, UserData,
};
use super::delivery::warren_delivery;
use super::status::warren_status::{self, *};
use crate::{Consumer, Delivery};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A consumer, from `warren_channel_basic_consume`; freed by `warren_consumer_free`.
///
/// One thread at a time receives (`warren_consumer_recv`), or its callback thread does. It
/// keeps its channel open. Freeing it without `warren_consumer_cancel` is a consumer loss: its
/// unacked deliveries go back to the queue at once, `redelivered` (SEMANTICS A7), and acking
/// them afterwards changes nothing.
pub struct warren_consumer {
    _private: [u8; 0],
}

impl Handle for warren_consumer {
    type Rust = ConsumerHandle;
}

/// Called with each delivery of a consumer that has a callback: `delivery` is owned by the
/// callback, which must free it (`warren_delivery_free`), now or later, from any thread. A
/// last call with `delivery == NULL` says the consumer ended.
pub type warren_delivery_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, delivery: *mut warren_delivery)>;

/// What a `warren_consumer` points to.
pub(crate) struct ConsumerHandle {
    consumer: Arc<Consumer>,
    runner: Mutex<Option<Runner>>,
    /// Whether `runner` is set (it is never unset while the handle lives): `recv` reads this,
    /// not the lock, on every call.
    has_runner: AtomicBool,
}

/// A consumer's callback thread.
struct Runner {
    /// Set by the handle's drop: the thread stops at its next look.
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl ConsumerHandle {
    pub(crate) fn new(consumer: Consumer) -> ConsumerHandle {
        ConsumerHandle {
            consumer: Arc::new(consumer),
            runner: Mutex::new(None),
            has_runner: AtomicBool::new(false),
        }
    }

    fn has_callback(&self) -> bool {
        // Acquire: pairs with the Release store after the runner is set.
        self.has_runner.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        let runner = self
            .runner
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(runner) = runner {
            // Release: the thread's Acquire load of `stop` after the wake sees it.
            runner.stop.store(true, Ordering::Release);
            self.consumer.wake();
            if runner.thread.thread().id() != std::thread::current().id() {
                // A panic on the thread was caught there; nothing to report here.
                let _ended = runner.thread.join();
            }
        }
        // The thread's clone of the consumer (if it still runs, after a free from inside the
        // callback) drops when it ends; the last one drops the consumer: a consumer loss.
    }
}

/// The callback thread: [`receive`], behind a panic boundary of its own. A panic in warren
/// there (a bug) ends the thread as the consumer's end does, with the call with NULL.
fn run(
    consumer: Arc<Consumer>,
    stop: Arc<AtomicBool>,
    callback: unsafe extern "C" fn(*mut c_void, *mut warren_delivery),
    userdata: UserData,
) {
    let stopped = stop.clone();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        receive(consumer, stop, callback, userdata)
    }));
    if caught.is_err() && !stopped.load(Ordering::Acquire) {
        // SAFETY: as in `receive`; NULL says the consumer ended.
        unsafe { callback(userdata.get(), std::ptr::null_mut()) };
    }
}

/// The callback thread's loop.
fn receive(
    consumer: Arc<Consumer>,
    stop: Arc<AtomicBool>,
    callback: unsafe extern "C" fn(*mut c_void, *mut warren_delivery),
    userdata: UserData,
) {
    // A wait far beyond any run; wakes come from deliveries, the consumer's end and `wake`.
    const FOREVER: Duration = Duration::from_secs(1 << 40);
    loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        match consumer.recv_timeout(FOREVER) {
            Ok(Some(delivery)) => {
                let d = into_raw_recycled::<warren_delivery>(delivery);
                // SAFETY: `callback` is a C function of this type and `userdata` may be used on
                // this thread (warren_consumer_set_callback's # Safety); `d` is a live handle
                // whose ownership passes to the callback.
                unsafe { callback(userdata.get(), d) };
            }
            Ok(None) => {}
            Err(_ended) => {
                if !stop.load(Ordering::Acquire) {
                    // SAFETY: as above; NULL says the consumer ended.
                    unsafe { callback(userdata.get(), std::ptr::null_mut()) };
                }
                return;
            }
        }
    }
}

/// Waits at most `timeout_ms` for the next delivery and writes its handle to `*delivery_out`
/// (free it with `warren_delivery_free`; settle it unless the consumer is `no_ack`). 0 only
/// takes a delivery already waiting; `UINT64_MAX` waits practically forever.
///
/// # Errors
///
/// `WARREN_STATUS_TIMEOUT` when none came in time; `WARREN_STATUS_CANCELLED` once the consumer
/// was cancelled (by `warren_consumer_cancel` or the engine: its queue deleted, its consumer
/// timeout) and every earlier delivery was received; `WARREN_STATUS_CHANNEL_CLOSED` once its
/// channel closed; `WARREN_STATUS_INVALID_STATE` when the consumer has a callback;
/// `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `consumer` is NULL or a live consumer handle; `delivery_out` is NULL or points to a
/// writable `warren_delivery *`.
#[no_mangle]
pub unsafe extern "C" fn warren_consumer_recv(
    consumer: *const warren_consumer,
    timeout_ms: u64,
    delivery_out: *mut *mut warren_delivery,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `consumer` is NULL or live; `delivery_out` is NULL or writable (# Safety).
        let (consumer, delivery_out) = unsafe {
            (
                borrow(consumer, "consumer")?,
                out(delivery_out, "delivery_out")?,
            )
        };
        if consumer.has_callback() {
            return Err(Fail::new(
                WARREN_STATUS_INVALID_STATE,
                "consumer has a callback: its deliveries go to the callback thread",
            ));
        }
        let got: Option<Delivery> = if timeout_ms == 0 {
            consumer.consumer.try_recv()?
        } else {
            consumer.consumer.recv_timeout(millis(timeout_ms))?
        };
        match got {
            Some(d) => {
                delivery_out.set(into_raw_recycled(d));
                Ok(())
            }
            None => Err(Fail::new(
                WARREN_STATUS_TIMEOUT,
                format!("timed out waiting for a delivery ({timeout_ms} ms)"),
            )),
        }
    })
}

/// Hands the consumer's deliveries to `callback` on a thread of its own, from now on:
/// `callback(userdata, delivery)` for each delivery, in order, never two at once for one
/// consumer, and once `callback(userdata, NULL)` when the consumer ends (cancelled, its
/// channel, connection or broker closed, its queue deleted). The callback owns each delivery
/// and must free it; it may settle it, publish, or call other functions of warren, including
/// `warren_consumer_free` on this consumer (the thread then ends after the callback returns).
/// `warren_consumer_recv` is refused from now on.
///
/// `warren_consumer_free` stops the thread and waits for a callback in progress to return:
/// after it, no more calls come. It must not unwind or `longjmp` out of the callback.
///
/// # Errors
///
/// `WARREN_STATUS_INVALID_STATE` if a callback is already set; `WARREN_STATUS_INTERNAL_ERROR`
/// if the thread cannot be started; `WARREN_STATUS_NULL_ARGUMENT` for a NULL `consumer` or
/// `callback`.
///
/// # Safety
///
/// `consumer` is NULL or a live consumer handle. `userdata` may be used from the callback's
/// thread and stays valid until `warren_consumer_free` returns (or, freed from inside the
/// callback, until that callback returns).
#[no_mangle]
pub unsafe extern "C" fn warren_consumer_set_callback(
    consumer: *const warren_consumer,
    callback: warren_delivery_callback,
    userdata: *mut c_void,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `consumer` is NULL or live (# Safety).
        let handle = unsafe { borrow(consumer, "consumer") }?;
        let Some(callback) = callback else {
            return Err(Fail::null("callback"));
        };
        let mut runner = handle.runner.lock().unwrap_or_else(PoisonError::into_inner);
        if runner.is_some() {
            return Err(Fail::new(
                WARREN_STATUS_INVALID_STATE,
                "consumer already has a callback",
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let userdata = UserData::new(userdata);
        let (c, s) = (handle.consumer.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("warren-consumer".into())
            .spawn(move || run(c, s, callback, userdata))
            .map_err(|e| {
                Fail::new(
                    WARREN_STATUS_INTERNAL_ERROR,
                    format!("cannot start the consumer's callback thread: {e}"),
                )
            })?;
        *runner = Some(Runner { stop, thread });
        handle
            .has_runner
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    })
}

/// Copies the consumer tag into `buf` (not NUL-terminated) and writes its length to
/// `*len_out`. At most `WARREN_MAX_NAME_LEN` (255) bytes.
///
/// # Errors
///
/// `WARREN_STATUS_BUFFER_TOO_SMALL` when `cap` is below the tag's length: then, as the one
/// exception to the output rule, `*len_out` gets the length needed and `buf` is untouched.
/// `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `consumer` is NULL or a live consumer handle; `buf` is NULL or points to `cap` writable
/// bytes; `len_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn warren_consumer_tag(
    consumer: *const warren_consumer,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `consumer` is NULL or live; `buf` is NULL or `cap` writable bytes;
        // `len_out` is NULL or writable (# Safety).
        let (consumer, buf, len_out) = unsafe {
            (
                borrow(consumer, "consumer")?,
                out_buf(buf, cap, "buf")?,
                out(len_out, "len_out")?,
            )
        };
        let tag = consumer.consumer.tag().as_bytes();
        if tag.len() > buf.capacity() {
            len_out.set(tag.len());
            return Err(Fail::new(
                WARREN_STATUS_BUFFER_TOO_SMALL,
                format!("buf too small: {cap} bytes, the tag needs {}", tag.len()),
            ));
        }
        buf.write(tag);
        len_out.set(tag.len());
        Ok(())
    })
}

/// Cancels the consumer (SEMANTICS A6): nothing new arrives; deliveries already handed over
/// can still be received and settled. `warren_consumer_recv` then returns
/// `WARREN_STATUS_CANCELLED`, and a callback gets its last call, with NULL. The handle still
/// needs `warren_consumer_free`.
///
/// # Errors
///
/// `WARREN_STATUS_CHANNEL_CLOSED` on a closed channel; `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// `consumer` is NULL or a live consumer handle.
#[no_mangle]
pub unsafe extern "C" fn warren_consumer_cancel(consumer: *const warren_consumer) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `consumer` is NULL or live (# Safety).
        let consumer = unsafe { borrow(consumer, "consumer") }?;
        consumer.consumer.cancel()?;
        Ok(())
    })
}

/// Frees the consumer; NULL does nothing. Without `warren_consumer_cancel` first this is a
/// consumer loss: its unacked deliveries go back to the queue, `redelivered`. A callback
/// thread is stopped and joined first (a callback in progress finishes): no callback runs
/// after this returns, except the one that called it, if one did.
///
/// # Safety
///
/// `consumer` is NULL or a live consumer handle, not used by any call now or after this one.
#[no_mangle]
pub unsafe extern "C" fn warren_consumer_free(consumer: *mut warren_consumer) {
    ffi_boundary!(default = (), {
        // SAFETY: `consumer` is NULL or live, and not used after this (# Safety).
        unsafe { free(consumer) }
    })
}
