// SPDX-License-Identifier: GPL-2.0

//! Time: CLOCK_MONOTONIC in nanoseconds, as V4L2 timestamps, the engine's
//! frame clock and the rate limits count it (the `kernel` crate's
//! `time::Ktime` of 6.12 became 7.3's `Instant<Monotonic>`, which keeps its
//! nanoseconds to itself; the C clock is the same on both), and spans of
//! time ([`Delta`]) with [`delay`]'s sleeps: the kernel crate's own on 7.3,
//! the same shape here on 6.12, whose crate has neither.

use super::bindings;

#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::time::{delay, Delta};

#[cfg(not(rvcap_linux_7_3))]
pub(crate) mod delay;

/// Nanoseconds of CLOCK_MONOTONIC (`ktime_get_ns`).
pub(crate) fn ktime_get_ns() -> u64 {
    // SAFETY: `ktime_get` reads the clock; any context may call it.
    let ns = unsafe { bindings::ktime_get() };
    // Monotonic time since boot is never negative.
    u64::try_from(ns).unwrap_or(0)
}

/// A span of time in nanoseconds, as 7.3's `kernel::time::Delta` (the part
/// rvcap uses).
#[cfg(not(rvcap_linux_7_3))]
#[derive(Copy, Clone, PartialEq, PartialOrd, Eq, Ord, Debug)]
pub(crate) struct Delta {
    nanos: i64,
}

#[cfg(not(rvcap_linux_7_3))]
impl Delta {
    /// No time at all.
    pub(crate) const ZERO: Self = Self { nanos: 0 };

    /// `micros` microseconds, saturating.
    pub(crate) const fn from_micros(micros: i64) -> Self {
        Self {
            nanos: micros.saturating_mul(1_000),
        }
    }

    /// `millis` milliseconds, saturating.
    pub(crate) const fn from_millis(millis: i64) -> Self {
        Self {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    /// The span in nanoseconds.
    pub(crate) const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// The span in microseconds, rounded up. As mainline's: `(n - 1) / d +
    /// 1` for a positive span, since `(n + d - 1) / d` would overflow near
    /// `i64::MAX`; division already rounds a negative one up.
    pub(crate) fn as_micros_ceil(self) -> i64 {
        let (n, add) = if self.nanos > 0 {
            (self.nanos - 1, 1)
        } else {
            (self.nanos, 0)
        };
        n / 1_000 + add
    }

    /// The span in milliseconds, rounded down.
    pub(crate) fn as_millis(self) -> i64 {
        self.nanos / 1_000_000
    }
}
