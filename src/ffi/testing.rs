//! A hook for the C tests of the panic boundary: `warren_testing_panic` panics on purpose
//! inside an ABI call, so a C program can check that a Rust panic becomes
//! `WARREN_STATUS_PANIC` with its text in `warren_last_error`, poisons the handle the call
//! used, and never unwinds into C (it would abort the process: Rust aborts when a panic leaves
//! an `extern "C"` function).
//!
//! It is not part of the API: `cbindgen.toml` keeps it out of `include/warren.h`, and the test
//! (`tests/c/features.c`) declares it itself. No other function of warren panics on purpose;
//! there is no honest way to reach a panic through the normal API without a bug to find.

use super::boundary::borrow;
use super::channel::warren_channel;
use super::status::warren_status;

/// Panics inside the panic boundary, with `channel` (optional) borrowed for the call, so the
/// boundary poisons it. Returns `WARREN_STATUS_PANIC`, with `"warren_testing_panic: a panic on
/// purpose"` in the text of `warren_last_error`. For tests of the boundary only.
///
/// # Safety
///
/// `channel` is NULL or a live channel handle.
#[no_mangle]
pub unsafe extern "C" fn warren_testing_panic(channel: *const warren_channel) -> warren_status {
    ffi_boundary!(status, {
        // SAFETY: `channel` is NULL or live (# Safety).
        let _held = if channel.is_null() {
            None
        } else {
            Some(unsafe { borrow(channel, "channel") }?)
        };
        panic!("warren_testing_panic: a panic on purpose");
    })
}
