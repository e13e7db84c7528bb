//! Typed ids: delivery tags, publish sequence numbers and the engine's internal object numbers.
//!
//! Bare integers do not appear in signatures: a [`DeliveryTag`] cannot be passed where a count
//! is expected. Conversions between integer widths live here (and in the C ABI's boundary), the
//! only places `as` casts are allowed.

use std::fmt;

/// A delivery tag: per channel, 1 for the first delivery, +1 for each next (SEMANTICS A1).
/// Tag 0 means "every unacked delivery" in `basic_ack` / `basic_nack` with `multiple`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DeliveryTag(u64);

impl DeliveryTag {
    /// The tag with this number.
    pub const fn new(n: u64) -> DeliveryTag {
        DeliveryTag(n)
    }

    /// The tag's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for DeliveryTag {
    fn from(n: u64) -> DeliveryTag {
        DeliveryTag(n)
    }
}

impl fmt::Display for DeliveryTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A publish sequence number in confirm mode: per channel, 1 for the first publish after
/// `confirm_select`, +1 for each next (SEMANTICS C1); 0 outside confirm mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SeqNo(u64);

impl SeqNo {
    /// The sequence number `n`.
    pub const fn new(n: u64) -> SeqNo {
        SeqNo(n)
    }

    /// Its number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for SeqNo {
    fn from(n: u64) -> SeqNo {
        SeqNo(n)
    }
}

impl PartialEq<u64> for SeqNo {
    fn eq(&self, other: &u64) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A count as a `u32`, saturating (message counts reported through AMQP are 32-bit).
pub(crate) fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
