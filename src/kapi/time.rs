// SPDX-License-Identifier: GPL-2.0

//! Time: CLOCK_MONOTONIC in nanoseconds, as V4L2 timestamps, the engine's
//! frame clock and the rate limits count it. (The `kernel` crate's
//! `time::Ktime` of 6.12 became 7.3's `Instant<Monotonic>`, which keeps its
//! nanoseconds to itself; the C clock is the same on both.)

use super::bindings;

/// Nanoseconds of CLOCK_MONOTONIC (`ktime_get_ns`).
pub(crate) fn ktime_get_ns() -> u64 {
    // SAFETY: `ktime_get` reads the clock; any context may call it.
    let ns = unsafe { bindings::ktime_get() };
    // Monotonic time since boot is never negative.
    u64::try_from(ns).unwrap_or(0)
}
