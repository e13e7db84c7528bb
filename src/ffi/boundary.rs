//! The C ABI's plumbing, in one place: every pointer cast and NULL check, every slice or `str`
//! built from a C (pointer, length) pair, every write through an output pointer, the panic
//! boundary ([`ffi_boundary!`]) and the per-thread last-error slot behind `warren_last_error`.
//!
//! The object files (`broker.rs`, `channel.rs`...) call these helpers and never cast a pointer
//! themselves, so the conditions each cast relies on are stated once, here.
//!
//! # Handles
//!
//! A C handle type (`warren_channel`) is an opaque zero-sized Rust type, tied by [`Handle`] to
//! the Rust value it stands for (a [`Channel`](crate::Channel)). The pointer C holds is a
//! `Box<Slot<T>>` turned raw ([`into_raw`]): the value and its poison flag. [`borrow`] checks
//! the pointer and the flag and returns a guard that poisons the slot if a panic unwinds past
//! it, so a handle that saw a panic refuses later calls (`WARREN_STATUS_POISONED`); [`free`]
//! drops the box (NULL is a no-op).
//!
//! # Limits
//!
//! A pointer that is not NULL is trusted: a dangling, freed or foreign pointer, or a length
//! larger than its buffer, is the C caller's undefined behaviour and cannot be detected
//! (double free and use after free included). What is checked is everything C can get wrong
//! without UB: NULL, (NULL, n > 0) pairs, lengths over a limit (checked before a slice
//! exists, so a lying length over the limit reads nothing), UTF-8, enum values and flag bits,
//! buffer sizes.

use super::status::warren_status::{self, *};
use crate::error::{Error, Input};
use crate::topic::{validate_bytes, MAX_LEN};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Runs an exported function's body behind the panic boundary.
///
/// * `ffi_boundary!(status, { ... })`: the body returns `Result<(), Fail>`; the call returns
///   `WARREN_STATUS_OK`, or the failure's status with its text in the last-error slot.
/// * `ffi_boundary!(default = VALUE, { ... })`: the body returns the value itself; a panic
///   returns `VALUE` (documented beside the function, as hyper's `ffi_fn!` does).
///
/// A panic never unwinds into C: it is caught here, its message goes to the last-error slot,
/// and every handle the body borrowed is poisoned ([`Borrowed`]).
macro_rules! ffi_boundary {
    (status, $body:block) => {
        $crate::ffi::boundary::run_status(|| -> Result<(), $crate::ffi::boundary::Fail> { $body })
    };
    (default = $default:expr, $body:block) => {
        $crate::ffi::boundary::run_or(|| $body, || $default)
    };
}

/// A failed C call: its status and the text `warren_last_error` will give.
#[derive(Debug)]
pub(crate) struct Fail {
    status: warren_status,
    text: String,
}

impl Fail {
    /// A failure with `status` and `text` (lowercase, naming the bad input, STYLE 4).
    pub(crate) fn new(status: warren_status, text: impl Into<String>) -> Fail {
        Fail {
            status,
            text: text.into(),
        }
    }

    /// A NULL where the argument `what` must not be NULL.
    pub(crate) fn null(what: &str) -> Fail {
        Fail::new(WARREN_STATUS_NULL_ARGUMENT, format!("{what} is NULL"))
    }

    /// The status it returns.
    #[cfg(test)]
    pub(crate) fn status(&self) -> warren_status {
        self.status
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::new(warren_status::of_error(&e), e.to_string())
    }
}

impl From<crate::broker::PublishError> for Fail {
    fn from(e: crate::broker::PublishError) -> Fail {
        Fail::from(e.error)
    }
}

thread_local! {
    /// The text of the last failed call on this thread (STYLE 9).
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Puts `text` in this thread's last-error slot.
pub(crate) fn set_last_error(text: &str) {
    // `try_with`: during thread teardown the slot may be gone; the text is then lost, nothing
    // else.
    let _gone = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            slot.clear();
            slot.push_str(text);
        }
    });
}

/// The status of a finished body, recording a failure's text. Inlined into every exported
/// function: the success path is a compare; the failure path is out of line.
#[inline]
fn finish(result: Result<(), Fail>) -> warren_status {
    match result {
        Ok(()) => WARREN_STATUS_OK,
        Err(fail) => failed(fail),
    }
}

/// [`finish`]'s failure path.
#[cold]
#[inline(never)]
fn failed(fail: Fail) -> warren_status {
    set_last_error(&fail.text);
    fail.status
}

/// Records a caught panic's message.
fn record_panic(payload: &(dyn Any + Send)) {
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    set_last_error(&format!(
        "warren panicked (a bug, please report it); the handles of this call are poisoned: {msg}"
    ));
}

/// [`ffi_boundary!`]`(status, ...)`.
#[inline]
pub(crate) fn run_status(body: impl FnOnce() -> Result<(), Fail>) -> warren_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => finish(result),
        Err(payload) => {
            record_panic(payload.as_ref());
            WARREN_STATUS_PANIC
        }
    }
}

/// [`ffi_boundary!`]`(default = ..., ...)`.
#[inline]
pub(crate) fn run_or<T>(body: impl FnOnce() -> T, default: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            record_panic(payload.as_ref());
            default()
        }
    }
}

/// Copies this thread's last error text into `buf`, NUL-terminated and truncated to fit
/// `len` bytes (nothing is written when `buf` is NULL or `len` is 0), and returns the text's
/// full length in bytes, without the NUL: a return value `>= len` means the copy was cut.
///
/// The text is that of the last call on this thread that returned a status other than
/// `WARREN_STATUS_OK` (successful calls leave it as it was); empty before any failure. It is
/// lowercase English and names the bad input, e.g. `channel closed by an error: 404
/// NOT_FOUND - no queue 'jobs' in vhost '/'`.
///
/// # Safety
///
/// `buf` is NULL or points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn warren_last_error(buf: *mut c_char, len: usize) -> usize {
    ffi_boundary!(default = 0, {
        LAST_ERROR
            .try_with(|slot| {
                let text = slot.borrow();
                if !buf.is_null() && len > 0 {
                    let n = text.len().min(len - 1);
                    let dst = buf.cast::<u8>();
                    // SAFETY: `buf` is not NULL and points to `len` writable bytes (this
                    // function's # Safety); `n + 1 <= len`; the slot's `String` cannot overlap
                    // a buffer the caller owns.
                    unsafe {
                        std::ptr::copy_nonoverlapping(text.as_ptr(), dst, n);
                        dst.add(n).write(0);
                    }
                }
                text.len()
            })
            .unwrap_or(0)
    })
}

// ----- handles -----

/// Ties an opaque C handle type to the Rust value its pointers stand for.
pub(crate) trait Handle {
    /// The Rust value.
    type Rust;
}

/// What a handle pointer points to: the value, and whether a panic went through a call that
/// used it.
pub(crate) struct Slot<T> {
    poisoned: AtomicBool,
    value: T,
}

/// A handle borrowed for one call. Dropped during a panic's unwind, it poisons the handle.
pub(crate) struct Borrowed<'a, T> {
    slot: &'a Slot<T>,
}

impl<T> Deref for Borrowed<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.slot.value
    }
}

impl<T> Drop for Borrowed<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.slot.poisoned.store(true, Relaxed);
        }
    }
}

/// Moves `value` to the heap and returns the pointer C will hold; [`free`] gives it back.
#[inline]
pub(crate) fn into_raw<H: Handle>(value: H::Rust) -> *mut H {
    let slot = Box::new(Slot {
        poisoned: AtomicBool::new(false),
        value,
    });
    Box::into_raw(slot).cast::<H>()
}

/// Borrows the value behind a handle pointer for the length of a call.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` naming `what` for NULL, `WARREN_STATUS_POISONED` for a handle
/// that saw a panic.
///
/// # Safety
///
/// `ptr` is NULL or came from [`into_raw`] for the same `H` and was not freed, and no call
/// frees it while the returned guard lives (the C caller's promise: no use after free).
#[inline]
pub(crate) unsafe fn borrow<'a, H: Handle>(
    ptr: *const H,
    what: &str,
) -> Result<Borrowed<'a, H::Rust>, Fail> {
    let slot = ptr.cast::<Slot<H::Rust>>();
    // SAFETY: a non-NULL `ptr` came from `into_raw::<H>`, which made it from a live
    // `Box<Slot<H::Rust>>`, and it is not freed during the call (this function's # Safety).
    let Some(slot) = (unsafe { slot.as_ref() }) else {
        return Err(Fail::null(what));
    };
    if slot.poisoned.load(Relaxed) {
        return Err(Fail::new(
            WARREN_STATUS_POISONED,
            format!("{what} is poisoned: an earlier call panicked while using it"),
        ));
    }
    Ok(Borrowed { slot })
}

/// Frees a handle; NULL is a no-op.
///
/// # Safety
///
/// `ptr` is NULL or came from [`into_raw`] for the same `H`, was not freed before, and no other
/// call uses it now or later (double free and use after free are the C caller's UB).
#[inline]
pub(crate) unsafe fn free<H: Handle>(ptr: *mut H) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` is not NULL and came from `Box::into_raw` in `into_raw::<H>`, with this
    // type, and is freed once (this function's # Safety).
    drop(unsafe { Box::from_raw(ptr.cast::<Slot<H::Rust>>()) });
}

// ----- recycled handles -----

/// A handle kind made and freed once per message (`warren_delivery`): each thread keeps the
/// allocation of the last one it freed ([`Spare`]) and reuses it for the next one it makes,
/// instead of a `free` and a `malloc` per delivery. Handles made this way are ordinary
/// [`Handle`]s: the same `Box<Slot<T>>` allocation, borrowed with [`borrow`].
pub(crate) trait Recycled: Handle + Sized + 'static {
    /// This thread's spare allocation for the kind.
    fn spare() -> &'static std::thread::LocalKey<Spare<Self::Rust>>;
}

/// At most one allocation of a `Slot<T>` whose value was dropped, kept by one thread (in a
/// `thread_local!`) and deallocated when that thread ends.
pub(crate) struct Spare<T>(Cell<Option<NonNull<MaybeUninit<Slot<T>>>>>);

impl<T> Spare<T> {
    /// No spare allocation yet.
    pub(crate) const fn new() -> Spare<T> {
        Spare(Cell::new(None))
    }
}

impl<T> Drop for Spare<T> {
    fn drop(&mut self) {
        if let Some(spare) = self.0.take() {
            // SAFETY: `spare` came from a `Box<Slot<T>>` (a `MaybeUninit<Slot<T>>` has its
            // layout) whose value [`free_recycled`] dropped; only this `Spare` held it.
            drop(unsafe { Box::from_raw(spare.as_ptr()) });
        }
    }
}

/// [`into_raw`], reusing this thread's spare allocation when it has one.
#[inline]
pub(crate) fn into_raw_recycled<H: Recycled>(value: H::Rust) -> *mut H {
    let slot = Slot {
        poisoned: AtomicBool::new(false),
        value,
    };
    // `try_with`: during thread teardown the spare is gone; allocate then.
    match H::spare().try_with(|s| s.0.take()).ok().flatten() {
        Some(spare) => {
            // SAFETY: `spare` is the allocation of a `Box<Slot<H::Rust>>` whose value was
            // dropped, taken out of its `Spare`, so no one else holds it: writing makes it a
            // live `Box<Slot<H::Rust>>` again.
            unsafe { spare.as_ptr().write(MaybeUninit::new(slot)) };
            spare.as_ptr().cast::<H>()
        }
        None => Box::into_raw(Box::new(slot)).cast::<H>(),
    }
}

/// [`free`], keeping the allocation as this thread's spare when it has none. NULL is a no-op.
///
/// # Safety
///
/// As [`free`].
#[inline]
pub(crate) unsafe fn free_recycled<H: Recycled>(ptr: *mut H) {
    let Some(slot) = NonNull::new(ptr.cast::<Slot<H::Rust>>()) else {
        return;
    };
    // SAFETY: `ptr` is not NULL, came from `into_raw_recycled::<H>` or `into_raw::<H>` (a live
    // `Box<Slot<H::Rust>>`), is freed once and used by no one else (this function's
    // # Safety): its value may be dropped in place, leaving the allocation.
    unsafe { std::ptr::drop_in_place(slot.as_ptr()) };
    let spare = slot.cast::<MaybeUninit<Slot<H::Rust>>>();
    let kept = H::spare()
        .try_with(|s| match s.0.get() {
            None => {
                s.0.set(Some(spare));
                true
            }
            Some(_) => false,
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: the allocation came from a `Box<Slot<H::Rust>>` whose value was dropped
        // above; no one else holds it.
        drop(unsafe { Box::from_raw(spare.as_ptr()) });
    }
}

// ----- plain values -----

/// Ties an opaque C type to a plain Rust value (a field table, an array, message properties,
/// broker options) whose pointer is the value's own address. C either owns one (from
/// [`plain_new`], freed by [`plain_free`]) or borrows one (a view from [`plain_view`] into a
/// delivery, a table or an array, valid while its owner is): one pointer type serves both, so
/// the same read functions take either.
///
/// Unlike [`Handle`]s, plain values are never poisoned: they hold no engine state, and each
/// change to one (a map insert, a field assignment) is complete or not made when a panic
/// unwinds.
pub(crate) trait Plain {
    /// The Rust value.
    type Rust;
}

/// Moves `value` to the heap and returns the pointer C will own; [`plain_free`] gives it back.
pub(crate) fn plain_new<H: Plain>(value: H::Rust) -> *mut H {
    Box::into_raw(Box::new(value)).cast::<H>()
}

/// A borrowed view of `value` for C: valid while `value` is neither moved, changed nor dropped
/// (the functions returning one say until when).
pub(crate) fn plain_view<H: Plain>(value: &H::Rust) -> *const H {
    std::ptr::from_ref(value).cast::<H>()
}

/// Reads the value behind a plain pointer for the length of a call.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` naming `what` for NULL.
///
/// # Safety
///
/// `ptr` is NULL, or came from [`plain_new`] or [`plain_view`] for the same `H` and its value
/// is alive and not changed by anyone else during the call.
#[inline]
pub(crate) unsafe fn plain_ref<'a, H: Plain>(
    ptr: *const H,
    what: &str,
) -> Result<&'a H::Rust, Fail> {
    // SAFETY: a non-NULL `ptr` is the address of a live `H::Rust` that nothing changes during
    // the call (this function's # Safety).
    unsafe { ptr.cast::<H::Rust>().as_ref() }.ok_or_else(|| Fail::null(what))
}

/// Borrows the value behind a plain pointer C owns, to change it during a call.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` naming `what` for NULL.
///
/// # Safety
///
/// `ptr` is NULL or came from [`plain_new`] for the same `H` and was not freed; no other
/// reference to its value is alive during the call (the caller reads its other inputs, which
/// may be views into this value, before calling this).
#[inline]
pub(crate) unsafe fn plain_mut<'a, H: Plain>(
    ptr: *mut H,
    what: &str,
) -> Result<&'a mut H::Rust, Fail> {
    // SAFETY: a non-NULL `ptr` came from `plain_new::<H>`, a live `Box<H::Rust>`, and nothing
    // else refers to its value during the call (this function's # Safety).
    unsafe { ptr.cast::<H::Rust>().as_mut() }.ok_or_else(|| Fail::null(what))
}

/// Frees a plain value C owns; NULL is a no-op.
///
/// # Safety
///
/// `ptr` is NULL or came from [`plain_new`] for the same `H` (not from [`plain_view`]), was
/// not freed before, and no other call uses it now or later.
pub(crate) unsafe fn plain_free<H: Plain>(ptr: *mut H) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` is not NULL and came from `Box::into_raw` in `plain_new::<H>`, with this
    // type, and is freed once (this function's # Safety).
    drop(unsafe { Box::from_raw(ptr.cast::<H::Rust>()) });
}

// ----- inputs -----

/// The bytes of a C (pointer, length) pair: (NULL, 0) is empty.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for NULL with a length above 0.
///
/// # Safety
///
/// A non-NULL `ptr` points to `len` readable bytes that stay unchanged during the call.
#[inline]
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Fail> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Fail::new(
            WARREN_STATUS_NULL_ARGUMENT,
            format!("{what} is NULL with length {len}"),
        ));
    }
    if isize::try_from(len).is_err() {
        return Err(Fail::new(
            WARREN_STATUS_TOO_LONG,
            format!("{what} too long: {len} bytes"),
        ));
    }
    // SAFETY: `ptr` is not NULL and points to `len` readable bytes that do not change during
    // the call (this function's # Safety); `len <= isize::MAX`, checked above.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A name, key or text property: UTF-8 of at most 255 bytes (SEMANTICS N1). The length is
/// checked before any byte is read.
///
/// # Errors
///
/// `WARREN_STATUS_TOO_LONG`, `WARREN_STATUS_NULL_ARGUMENT`, `WARREN_STATUS_INVALID_UTF8`, the
/// texts naming `input`.
///
/// # Safety
///
/// As [`bytes`].
#[inline]
pub(crate) unsafe fn name<'a>(
    ptr: *const u8,
    len: usize,
    input: Input,
    what: &str,
) -> Result<&'a str, Fail> {
    // The common cases inline: empty, or ASCII of a valid length (checked before any byte is
    // read), which is UTF-8; everything else, errors included, out of line.
    if len == 0 {
        return Ok("");
    }
    if len <= MAX_LEN && !ptr.is_null() {
        // SAFETY: `ptr` is not NULL and points to `len` readable bytes that do not change
        // during the call (this function's # Safety); `len <= 255`.
        let raw = unsafe { std::slice::from_raw_parts(ptr, len) };
        if raw.is_ascii() {
            // SAFETY: ASCII bytes are valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(raw) });
        }
    }
    // SAFETY: passed on from this function's # Safety.
    unsafe { checked_name(ptr, len, input, what) }
}

/// [`name`]'s general path: the length, NULL and UTF-8 checks, with their errors.
///
/// # Safety
///
/// As [`bytes`].
#[inline(never)]
unsafe fn checked_name<'a>(
    ptr: *const u8,
    len: usize,
    input: Input,
    what: &str,
) -> Result<&'a str, Fail> {
    if len > MAX_LEN {
        return Err(Error::too_long(input, len, MAX_LEN).into());
    }
    // SAFETY: passed on from this function's # Safety.
    let raw = unsafe { bytes(ptr, len, what) }?;
    Ok(validate_bytes(raw, input)?)
}

/// As [`name`], with `what` leading the text of a length or UTF-8 error
/// (`message_id: property is not valid UTF-8: ...`), for inputs whose [`Input`] kind alone
/// does not say which argument was wrong.
///
/// # Errors
///
/// As [`name`].
///
/// # Safety
///
/// As [`bytes`].
pub(crate) unsafe fn labelled_name<'a>(
    ptr: *const u8,
    len: usize,
    input: Input,
    what: &str,
) -> Result<&'a str, Fail> {
    // SAFETY: passed on from this function's # Safety.
    unsafe { name(ptr, len, input, what) }.map_err(|f| {
        if f.status == WARREN_STATUS_NULL_ARGUMENT {
            f // its text names `what` already
        } else {
            Fail::new(f.status, format!("{what}: {}", f.text))
        }
    })
}

/// A message body: at most [`MAX_MESSAGE_SIZE_LIMIT`](crate::broker::MAX_MESSAGE_SIZE_LIMIT)
/// bytes (512 MiB, what no broker accepts more than), checked before any byte is read; the
/// broker's own limit is checked by the publish.
///
/// # Errors
///
/// `WARREN_STATUS_TOO_LONG`, `WARREN_STATUS_NULL_ARGUMENT`.
///
/// # Safety
///
/// As [`bytes`].
#[inline]
pub(crate) unsafe fn body<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], Fail> {
    // SAFETY: passed on from this function's # Safety.
    unsafe { long_bytes(ptr, len, "body") }
}

/// A long string or byte array value of a field table: at most
/// [`MAX_MESSAGE_SIZE_LIMIT`](crate::broker::MAX_MESSAGE_SIZE_LIMIT) bytes (no message can
/// carry more), checked before any byte is read.
///
/// # Errors
///
/// `WARREN_STATUS_TOO_LONG`, `WARREN_STATUS_NULL_ARGUMENT`, naming `what`.
///
/// # Safety
///
/// As [`bytes`].
#[inline]
pub(crate) unsafe fn long_bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Fail> {
    let max = crate::broker::MAX_MESSAGE_SIZE_LIMIT;
    if len > max {
        return Err(Fail::new(
            WARREN_STATUS_TOO_LONG,
            format!("{what} too long: {len} bytes, at most {max}"),
        ));
    }
    // SAFETY: passed on from this function's # Safety.
    unsafe { bytes(ptr, len, what) }
}

// ----- outputs -----

/// An output pointer, checked, written at most once and only on success (STYLE 8).
pub(crate) struct Out<'a, T> {
    ptr: NonNull<T>,
    _call: PhantomData<&'a mut T>,
}

impl<T> Out<'_, T> {
    /// Writes the output (without reading or dropping what was there).
    #[inline]
    pub(crate) fn set(self, value: T) {
        // SAFETY: `ptr` is not NULL and points to a writable, aligned `T` for the call
        // (`out`'s and `opt_out`'s # Safety).
        unsafe { self.ptr.as_ptr().write(value) }
    }
}

/// A required output pointer.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` naming `what` for NULL.
///
/// # Safety
///
/// A non-NULL `ptr` points to a writable, aligned `T` during the call.
#[inline]
pub(crate) unsafe fn out<'a, T>(ptr: *mut T, what: &str) -> Result<Out<'a, T>, Fail> {
    match NonNull::new(ptr) {
        Some(ptr) => Ok(Out {
            ptr,
            _call: PhantomData,
        }),
        None => Err(Fail::null(what)),
    }
}

/// An optional output pointer: NULL means the caller does not want it.
///
/// # Safety
///
/// As [`out`].
#[inline]
pub(crate) unsafe fn opt_out<'a, T>(ptr: *mut T) -> Option<Out<'a, T>> {
    NonNull::new(ptr).map(|ptr| Out {
        ptr,
        _call: PhantomData,
    })
}

/// Writes an optional output.
#[inline]
pub(crate) fn set_opt<T>(out: Option<Out<'_, T>>, value: T) {
    if let Some(out) = out {
        out.set(value);
    }
}

/// Writes a borrowed byte string to a (pointer, length) output pair: NULL and 0 for `None`.
#[inline]
pub(crate) fn set_str(ptr_out: Out<'_, *const u8>, len_out: Out<'_, usize>, s: Option<&[u8]>) {
    match s {
        Some(s) => {
            ptr_out.set(s.as_ptr());
            len_out.set(s.len());
        }
        None => {
            ptr_out.set(std::ptr::null());
            len_out.set(0);
        }
    }
}

/// A caller's byte buffer (pointer, capacity); (NULL, 0) means "not wanted".
pub(crate) struct OutBuf<'a> {
    ptr: *mut u8,
    cap: usize,
    _call: PhantomData<&'a mut [u8]>,
}

impl OutBuf<'_> {
    /// Whether the caller asked for the bytes.
    pub(crate) fn wanted(&self) -> bool {
        !self.ptr.is_null()
    }

    /// Its capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Copies `src` to the start of the buffer, if the caller asked for it.
    ///
    /// # Panics
    ///
    /// If `src` does not fit: callers check [`capacity`](Self::capacity) first.
    pub(crate) fn write(self, src: &[u8]) {
        if self.ptr.is_null() {
            return;
        }
        assert!(src.len() <= self.cap, "checked by the caller");
        // SAFETY: `ptr` is not NULL and points to `cap` writable bytes (`out_buf`'s
        // # Safety), `src.len() <= cap`, and the caller's buffer cannot overlap our `src`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr, src.len()) }
    }
}

/// A caller's output buffer.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for NULL with a capacity above 0.
///
/// # Safety
///
/// A non-NULL `ptr` points to `cap` writable bytes during the call.
pub(crate) unsafe fn out_buf<'a>(ptr: *mut u8, cap: usize, what: &str) -> Result<OutBuf<'a>, Fail> {
    if ptr.is_null() && cap > 0 {
        return Err(Fail::new(
            WARREN_STATUS_NULL_ARGUMENT,
            format!("{what} is NULL with capacity {cap}"),
        ));
    }
    Ok(OutBuf {
        ptr,
        cap,
        _call: PhantomData,
    })
}

/// A caller's array of `T` (pointer, capacity in elements); NULL only with capacity 0.
pub(crate) struct OutSlice<'a, T> {
    ptr: *mut T,
    cap: usize,
    _call: PhantomData<&'a mut [T]>,
}

impl<T: Copy> OutSlice<'_, T> {
    /// Its capacity in elements.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Copies `src` to the start of the array.
    ///
    /// # Panics
    ///
    /// If `src` does not fit: callers check [`capacity`](Self::capacity) first.
    pub(crate) fn write(self, src: &[T]) {
        assert!(src.len() <= self.cap, "checked by the caller");
        if src.is_empty() {
            return;
        }
        // SAFETY: `src` is not empty, so `cap > 0` and `ptr` is not NULL (`out_slice` refuses
        // NULL with a capacity); it points to `cap` writable, aligned `T`s (`out_slice`'s
        // # Safety), `src.len() <= cap`, and the caller's array cannot overlap our `src`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr, src.len()) }
    }
}

/// A caller's output array.
///
/// # Errors
///
/// `WARREN_STATUS_NULL_ARGUMENT` for NULL with a capacity above 0.
///
/// # Safety
///
/// A non-NULL `ptr` points to `cap` writable, aligned `T`s during the call.
pub(crate) unsafe fn out_slice<'a, T>(
    ptr: *mut T,
    cap: usize,
    what: &str,
) -> Result<OutSlice<'a, T>, Fail> {
    if ptr.is_null() && cap > 0 {
        return Err(Fail::new(
            WARREN_STATUS_NULL_ARGUMENT,
            format!("{what} is NULL with capacity {cap}"),
        ));
    }
    Ok(OutSlice {
        ptr,
        cap,
        _call: PhantomData,
    })
}

// ----- strings and callbacks -----

/// A static NUL-terminated string as a C pointer.
///
/// # Panics
///
/// If `s` does not end with a NUL (a bug in the caller, with a literal).
pub(crate) fn static_cstr(s: &'static str) -> *const c_char {
    assert!(s.ends_with('\0'), "C strings end with a NUL");
    s.as_ptr().cast::<c_char>()
}

/// A C callback's `void *userdata`, carried to the thread that calls the callback.
#[derive(Clone, Copy)]
pub(crate) struct UserData(*mut c_void);

impl UserData {
    /// Wraps the pointer (it is never dereferenced by warren, only passed back).
    pub(crate) fn new(ptr: *mut c_void) -> UserData {
        UserData(ptr)
    }

    /// The pointer, to pass back to the callback.
    pub(crate) fn get(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: warren never dereferences the pointer; it only hands it back to the C callback on
// the callback's thread, which the functions taking it document: that the pointee may be used
// from that thread is the C caller's promise in their # Safety sections.
unsafe impl Send for UserData {}
// SAFETY: as for `Send`: shared references only copy the pointer value.
unsafe impl Sync for UserData {}

/// A delay in milliseconds from C; `u64::MAX` is practically forever (585 million years), which
/// the engine's waits accept without overflow.
pub(crate) fn millis(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing;
    impl Handle for Thing {
        type Rust = Vec<u8>;
    }

    #[test]
    fn a_panic_becomes_a_status_and_poisons_the_handle() {
        let h = into_raw::<Thing>(vec![1, 2, 3]);
        let status = ffi_boundary!(status, {
            // SAFETY: `h` came from `into_raw::<Thing>` and is freed below, after the calls.
            let v = unsafe { borrow(h, "thing") }?;
            if v.len() == 3 {
                panic!("boom");
            }
            Ok(())
        });
        assert_eq!(status, WARREN_STATUS_PANIC);
        let mut buf = [0u8; 200];
        // SAFETY: `buf` has 200 writable bytes.
        let n = unsafe { warren_last_error(buf.as_mut_ptr().cast(), buf.len()) };
        let text = std::str::from_utf8(&buf[..n.min(199)]).unwrap();
        assert!(text.contains("boom"), "{text}");
        let again = ffi_boundary!(status, {
            // SAFETY: as above.
            let _v = unsafe { borrow(h, "thing") }?;
            Ok(())
        });
        assert_eq!(again, WARREN_STATUS_POISONED);
        // SAFETY: `h` came from `into_raw::<Thing>` and is not used after this.
        unsafe { free(h) };
        // SAFETY: NULL is a no-op.
        unsafe { free::<Thing>(std::ptr::null_mut()) };
    }

    #[test]
    fn last_error_truncates_and_reports_the_full_length() {
        set_last_error("0123456789");
        let mut buf = [0xffu8; 4];
        // SAFETY: `buf` has 4 writable bytes.
        let n = unsafe { warren_last_error(buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(n, 10);
        assert_eq!(&buf, b"012\0");
        // SAFETY: NULL with 0 writes nothing.
        assert_eq!(unsafe { warren_last_error(std::ptr::null_mut(), 0) }, 10);
    }

    #[test]
    fn pairs_are_checked_before_a_slice_exists() {
        // SAFETY: (NULL, 0) and (NULL, 5) read nothing; the lying length over 255 is refused
        // before the pointer is read.
        unsafe {
            assert_eq!(bytes(std::ptr::null(), 0, "x").unwrap(), b"");
            assert_eq!(
                bytes(std::ptr::null(), 5, "x").unwrap_err().status(),
                WARREN_STATUS_NULL_ARGUMENT
            );
            let one = [b'a'];
            assert_eq!(
                name(one.as_ptr(), 1 << 40, Input::Queue, "queue")
                    .unwrap_err()
                    .status(),
                WARREN_STATUS_TOO_LONG
            );
            let bad = [0xff, b'a'];
            assert_eq!(
                name(bad.as_ptr(), 2, Input::Queue, "queue")
                    .unwrap_err()
                    .status(),
                WARREN_STATUS_INVALID_UTF8
            );
        }
    }
}
