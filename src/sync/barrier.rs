//! Asymmetric fences for Dekker-style hand-offs whose one side is hot and the other rare.
//!
//! A hand-off where a producer stores, then loads the receiver's `waiting` flag, and the
//! receiver stores `waiting`, then loads what producers store, needs a full fence on each
//! side between the store and the load. On the producer's side that fence is paid for every
//! item, and it is not cheap: it waits until the item's stores (into lines the receiver keeps
//! reading) have left the store buffer, a cross-core round trip each time. Measured on the
//! 1→1 pipe, that wait alone cut throughput to a third whenever the receiver polled closely.
//!
//! Linux's `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` moves the cost to the rare side:
//! it makes every running thread of the process execute a full barrier before it returns. So
//! the hot side needs only [`light`] (a compiler fence) and the rare side (a receiver about
//! to sleep) calls [`heavy`]: either a producer's store was before the barrier its thread ran,
//! and the receiver's load after `heavy` sees it, or the producer's load of the flag comes
//! after that barrier, and sees the flag the receiver stored before calling `heavy`. This is
//! the asymmetric Dekker pattern of liburcu and Folly.
//!
//! Where the call is unavailable (not Linux, an old kernel, a sandbox refusing it), both
//! sides are full fences. The choice is made once, before any hand-off uses it ([`init`]),
//! so the two sides always agree. Under loom both are loom's full fence: the model checks the
//! protocol, this module's reasoning stands on the kernel's guarantee.

use super::blocking::fence;
use std::sync::atomic::Ordering::SeqCst;
#[cfg(all(target_os = "linux", not(loom)))]
use std::sync::OnceLock;

/// Whether `membarrier` serves [`heavy`]: registered once, on first [`init`].
#[cfg(all(target_os = "linux", not(loom)))]
static ASYMMETRIC: OnceLock<bool> = OnceLock::new();

/// Decides, once per process, whether the fences are asymmetric. Call before the first
/// [`light`] or [`heavy`] of a hand-off (its constructor does).
pub(crate) fn init() {
    #[cfg(all(target_os = "linux", not(loom)))]
    ASYMMETRIC.get_or_init(|| {
        use rustix::thread::{membarrier, membarrier_query, MembarrierCommand as Cmd};
        membarrier_query().contains_command(Cmd::PrivateExpedited)
            && membarrier(Cmd::RegisterPrivateExpedited).is_ok()
    });
}

#[cfg(all(target_os = "linux", not(loom)))]
#[inline]
fn asymmetric() -> bool {
    ASYMMETRIC.get().copied().unwrap_or(false)
}

/// The hot side's fence, between its store and its load.
#[inline]
pub(crate) fn light() {
    #[cfg(all(target_os = "linux", not(loom)))]
    if asymmetric() {
        std::sync::atomic::compiler_fence(SeqCst);
        return;
    }
    fence(SeqCst);
}

/// The rare side's fence, between its store and its load. Returns `false` in the one case
/// where it cannot pair with [`light`]: the registered call failed. The caller must then not
/// wait without a deadline.
pub(crate) fn heavy() -> bool {
    #[cfg(all(target_os = "linux", not(loom)))]
    if asymmetric() {
        use rustix::thread::{membarrier, MembarrierCommand as Cmd};
        return membarrier(Cmd::PrivateExpedited).is_ok();
    }
    fence(SeqCst);
    true
}
