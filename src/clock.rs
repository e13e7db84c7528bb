//! Injectable time: the engine reads the time only through a [`Clock`].
//!
//! Message TTL, queue expiry and consumer timeouts (SEMANTICS L1, L4, A9) are deadlines in
//! milliseconds since the Unix epoch. A broker built on [`Clock::system`] reads the system
//! clock; one built on [`Clock::manual`] sees time move only when a test calls
//! [`Clock::advance`] or [`Clock::set_ms`], so expiry tests need no `sleep` and cannot flake.
//!
//! # Invariants
//!
//! * A manual clock never moves backwards: [`Clock::advance`] saturates at `u64::MAX` and
//!   [`Clock::set_ms`] ignores earlier times.
//! * After each advance or set of a manual clock, the engine's tick callbacks run on the calling
//!   thread, in registration order, with the time after that move and with no lock of the clock
//!   held, so a callback may read the clock, register another callback or advance it again.
//!   Clones of a clock share its time and its callbacks.
//!
//! # Limits
//!
//! * Resolution is one millisecond: an advance by less than 1 ms moves nothing (but still runs
//!   the callbacks), and sub-millisecond parts of longer durations are dropped.
//! * The system clock is wall time, not monotonic: if the host's clock steps back, so do
//!   deadlines computed from it. RabbitMQ reads `os:system_time` for message expiry as well.
//! * When two threads advance one manual clock at once, each runs the callbacks with its own
//!   result, so a callback may see the later time before the earlier one; the clock itself
//!   still never goes back. Tests drive a manual clock from one thread.

use crate::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A tick callback: called with the new time (ms since the epoch) after a manual clock moves.
type Tick = dyn Fn(u64) + Send + Sync;

/// A source of time for the engine: the system clock, or a manual one tests advance.
///
/// Cloning is cheap; clones of a manual clock share its time.
///
/// ```
/// use std::time::Duration;
/// use warren::clock::Clock;
///
/// let clock = Clock::manual(1_000);
/// clock.advance(Duration::from_millis(250))?;
/// assert_eq!(clock.now_ms(), 1_250);
/// clock.set_ms(1_100)?; // never backwards
/// assert_eq!(clock.now_ms(), 1_250);
/// assert!(Clock::system().advance(Duration::from_secs(1)).is_err());
/// # Ok::<(), warren::Error>(())
/// ```
#[derive(Clone)]
pub struct Clock {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// Milliseconds since the Unix epoch, from [`SystemTime`].
    System,
    /// Time that moves only on [`Clock::advance`] and [`Clock::set_ms`].
    Manual(Arc<ManualState>),
}

struct ManualState {
    /// The current time, ms since the epoch. Only grows.
    now: AtomicU64,
    /// Tick callbacks in registration order; dead entries are pruned on each tick and on
    /// registration.
    ticks: Mutex<Vec<Weak<Tick>>>,
}

impl Clock {
    /// The system clock: milliseconds since the Unix epoch, per [`SystemTime`].
    pub fn system() -> Clock {
        Clock {
            inner: Inner::System,
        }
    }

    /// A manual clock reading `start_ms` until [`advance`](Clock::advance) or
    /// [`set_ms`](Clock::set_ms) moves it.
    pub fn manual(start_ms: u64) -> Clock {
        Clock {
            inner: Inner::Manual(Arc::new(ManualState {
                now: AtomicU64::new(start_ms),
                ticks: Mutex::new(Vec::new()),
            })),
        }
    }

    /// The current time in milliseconds since the Unix epoch. A system clock set before the
    /// epoch reads 0, and one beyond `u64::MAX` ms reads `u64::MAX`.
    pub fn now_ms(&self) -> u64 {
        match &self.inner {
            Inner::System => match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(since) => duration_ms(since),
                Err(_) => 0,
            },
            Inner::Manual(state) => state.now.load(Ordering::Acquire),
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        matches!(self.inner, Inner::Manual(_))
    }

    /// Moves a manual clock forward by `by` (millisecond resolution, saturating at
    /// `u64::MAX`), then runs every registered tick callback with the new time, in registration
    /// order, on the calling thread, with no lock of the clock held.
    ///
    /// # Errors
    ///
    /// On a system clock, a 540 `NOT_IMPLEMENTED` error (connection scope); nothing happens.
    ///
    /// # Panics
    ///
    /// If a callback panics, the panic propagates to the caller after the clock has moved; the
    /// callbacks after it do not run for this tick.
    pub fn advance(&self, by: Duration) -> Result<(), Error> {
        let state = self.manual_state("advanced")?;
        let by = duration_ms(by);
        let previous = state
            .now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(by))
            })
            .unwrap_or_else(|now| now);
        state.run_ticks(previous.saturating_add(by));
        Ok(())
    }

    /// Sets a manual clock to `ms` since the epoch if that is later than its time (an earlier
    /// `ms` is ignored: the clock never goes back), then runs the tick callbacks with the
    /// resulting time, as [`advance`](Clock::advance) does.
    ///
    /// # Errors
    ///
    /// On a system clock, a 540 `NOT_IMPLEMENTED` error (connection scope); nothing happens.
    ///
    /// # Panics
    ///
    /// If a callback panics, the panic propagates to the caller after the clock has moved.
    pub fn set_ms(&self, ms: u64) -> Result<(), Error> {
        let state = self.manual_state("set")?;
        let previous = state.now.fetch_max(ms, Ordering::AcqRel);
        state.run_ticks(previous.max(ms));
        Ok(())
    }

    /// Registers a callback run after each advance or set of a manual clock, with the new time.
    /// The clock holds it weakly: once its last `Arc` is dropped it is no longer called, and
    /// its entry is pruned. A no-op on a system clock, which never ticks.
    pub(crate) fn on_tick(&self, tick: Weak<Tick>) {
        if let Inner::Manual(state) = &self.inner {
            let mut ticks = state.lock_ticks();
            ticks.retain(|t| t.strong_count() > 0);
            ticks.push(tick);
        }
    }

    /// The state of a manual clock, or the error `verb` (`"advanced"`, `"set"`) reports.
    fn manual_state(&self, verb: &str) -> Result<&ManualState, Error> {
        match &self.inner {
            Inner::Manual(state) => Ok(state),
            Inner::System => Err(Error::amqp(
                540,
                format!("NOT_IMPLEMENTED - a system clock cannot be {verb}"),
            )),
        }
    }
}

impl ManualState {
    fn lock_ticks(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Tick>>> {
        // A panicking callback never runs under this lock, so a poisoned lock still holds a
        // consistent list.
        self.ticks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Prunes dead callbacks, then calls the live ones with `now`, outside the lock.
    fn run_ticks(&self, now: u64) {
        let live: Vec<Arc<Tick>> = {
            let mut ticks = self.lock_ticks();
            let mut live = Vec::with_capacity(ticks.len());
            ticks.retain(|t| match t.upgrade() {
                Some(tick) => {
                    live.push(tick);
                    true
                }
                None => false,
            });
            live
        };
        for tick in live {
            tick(now);
        }
    }
}

/// Whole milliseconds in `d`, saturating at `u64::MAX`.
fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Default for Clock {
    /// The system clock.
    fn default() -> Clock {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::System => f.write_str("Clock::System"),
            Inner::Manual(state) => f
                .debug_struct("Clock::Manual")
                .field("now_ms", &state.now.load(Ordering::Acquire))
                .field("ticks", &state.lock_ticks().len())
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Scope;

    /// A callback that records every time it is called with.
    fn recorder() -> (Arc<Mutex<Vec<u64>>>, Arc<Tick>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let tick: Arc<Tick> = Arc::new(move |now| sink.lock().unwrap().push(now));
        (seen, tick)
    }

    #[test]
    fn manual_clock_starts_where_told_and_advances() {
        let clock = Clock::manual(5_000);
        assert!(clock.is_manual());
        assert_eq!(clock.now_ms(), 5_000);
        clock.advance(Duration::from_millis(1_500)).unwrap();
        assert_eq!(clock.now_ms(), 6_500);
        clock.advance(Duration::from_secs(2)).unwrap();
        assert_eq!(clock.now_ms(), 8_500);
        // Sub-millisecond parts are dropped.
        clock.advance(Duration::from_micros(1_999)).unwrap();
        assert_eq!(clock.now_ms(), 8_501);
    }

    #[test]
    fn clones_share_time() {
        let a = Clock::manual(0);
        let b = a.clone();
        a.advance(Duration::from_millis(7)).unwrap();
        assert_eq!(b.now_ms(), 7);
    }

    #[test]
    fn advance_saturates() {
        let clock = Clock::manual(u64::MAX - 10);
        clock.advance(Duration::from_millis(100)).unwrap();
        assert_eq!(clock.now_ms(), u64::MAX);
        clock.advance(Duration::MAX).unwrap();
        assert_eq!(clock.now_ms(), u64::MAX);
    }

    #[test]
    fn set_never_goes_back() {
        let clock = Clock::manual(1_000);
        clock.set_ms(2_000).unwrap();
        assert_eq!(clock.now_ms(), 2_000);
        clock.set_ms(1_500).unwrap();
        assert_eq!(clock.now_ms(), 2_000);
        clock.set_ms(2_000).unwrap();
        assert_eq!(clock.now_ms(), 2_000);
    }

    #[test]
    fn callbacks_run_in_order_with_the_new_time() {
        let clock = Clock::manual(100);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (o1, o2) = (Arc::clone(&order), Arc::clone(&order));
        let first: Arc<Tick> = Arc::new(move |now| o1.lock().unwrap().push(("first", now)));
        let second: Arc<Tick> = Arc::new(move |now| o2.lock().unwrap().push(("second", now)));
        clock.on_tick(Arc::downgrade(&first));
        clock.on_tick(Arc::downgrade(&second));
        clock.advance(Duration::from_millis(50)).unwrap();
        clock.set_ms(400).unwrap();
        clock.set_ms(300).unwrap(); // ignored, but still a tick at the unchanged time
        assert_eq!(
            *order.lock().unwrap(),
            [
                ("first", 150),
                ("second", 150),
                ("first", 400),
                ("second", 400),
                ("first", 400),
                ("second", 400),
            ]
        );
    }

    #[test]
    fn dropped_callbacks_are_pruned() {
        let clock = Clock::manual(0);
        let (kept_seen, kept) = recorder();
        let (dropped_seen, dropped) = recorder();
        clock.on_tick(Arc::downgrade(&dropped));
        clock.on_tick(Arc::downgrade(&kept));
        clock.advance(Duration::from_millis(1)).unwrap();
        drop(dropped);
        clock.advance(Duration::from_millis(1)).unwrap();
        assert_eq!(*kept_seen.lock().unwrap(), [1, 2]);
        assert_eq!(*dropped_seen.lock().unwrap(), [1]);
        let Inner::Manual(state) = &clock.inner else {
            panic!("manual clock expected");
        };
        assert_eq!(state.lock_ticks().len(), 1);
        // Registration prunes too.
        drop(kept);
        let (_, fresh) = recorder();
        clock.on_tick(Arc::downgrade(&fresh));
        assert_eq!(state.lock_ticks().len(), 1);
    }

    #[test]
    fn system_clock_refuses_advance_and_set() {
        let clock = Clock::default();
        assert!(!clock.is_manual());
        let err = clock.advance(Duration::from_millis(1)).unwrap_err();
        assert_eq!(err.reply_code(), Some(540));
        assert_eq!(err.scope(), Scope::Connection);
        assert_eq!(
            err.to_string(),
            "540 NOT_IMPLEMENTED - a system clock cannot be advanced"
        );
        let err = clock.set_ms(1).unwrap_err();
        assert_eq!(err.reply_code(), Some(540));
        // on_tick is a no-op and must not panic.
        let (_, tick) = recorder();
        clock.on_tick(Arc::downgrade(&tick));
    }

    #[test]
    fn system_clock_reads_the_epoch_time() {
        let before = duration_ms(SystemTime::now().duration_since(UNIX_EPOCH).unwrap());
        let now = Clock::system().now_ms();
        let after = duration_ms(SystemTime::now().duration_since(UNIX_EPOCH).unwrap());
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
    }

    #[test]
    fn callback_may_read_register_and_advance_without_deadlock() {
        let clock = Clock::manual(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let late_seen = Arc::new(Mutex::new(Vec::new()));
        let late_slot: Arc<Mutex<Option<Arc<Tick>>>> = Arc::new(Mutex::new(None));
        let tick: Arc<Tick> = {
            let clock = clock.clone();
            let seen = Arc::clone(&seen);
            let late_seen = Arc::clone(&late_seen);
            let late_slot = Arc::clone(&late_slot);
            Arc::new(move |now| {
                // Reads the clock, formats it (Debug locks the callback list) and registers
                // another callback, all from inside a tick.
                seen.lock().unwrap().push((now, clock.now_ms()));
                assert!(format!("{clock:?}").contains("Clock::Manual"));
                let mut slot = late_slot.lock().unwrap();
                if slot.is_none() {
                    let late_seen = Arc::clone(&late_seen);
                    let late: Arc<Tick> = Arc::new(move |now| late_seen.lock().unwrap().push(now));
                    clock.on_tick(Arc::downgrade(&late));
                    *slot = Some(late);
                }
            })
        };
        clock.on_tick(Arc::downgrade(&tick));
        clock.advance(Duration::from_millis(10)).unwrap();
        clock.advance(Duration::from_millis(10)).unwrap();
        assert_eq!(*seen.lock().unwrap(), [(10, 10), (20, 20)]);
        // Registered during the first tick: runs from the next one on.
        assert_eq!(*late_seen.lock().unwrap(), [20]);
    }

    #[test]
    fn callback_may_advance_the_clock() {
        let clock = Clock::manual(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tick: Arc<Tick> = {
            let clock = clock.clone();
            let seen = Arc::clone(&seen);
            Arc::new(move |now| {
                seen.lock().unwrap().push(now);
                if now < 3 {
                    clock.advance(Duration::from_millis(1)).unwrap();
                }
            })
        };
        clock.on_tick(Arc::downgrade(&tick));
        clock.advance(Duration::from_millis(1)).unwrap();
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
        assert_eq!(clock.now_ms(), 3);
    }

    #[test]
    fn debug_names_the_kind() {
        assert_eq!(format!("{:?}", Clock::system()), "Clock::System");
        let text = format!("{:?}", Clock::manual(42));
        assert!(text.contains("now_ms: 42"), "{text}");
    }
}
