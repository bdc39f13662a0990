// SPDX-License-Identifier: GPL-2.0

//! Sleeping, as 7.3's `kernel::time::delay` (the part rvcap uses).

use super::Delta;
use crate::kapi::bindings;
use kernel::ffi::c_ulong;

/// Sleeps at least `delta`, uninterruptibly, with the sleep the C
/// `fsleep()` picks for its length (an hrtimer for short ones, which
/// `msleep` would round up to jiffies). As mainline's, a `delta` outside
/// `[0, i32::MAX]` microseconds sleeps that maximum rather than forever.
/// Process context only.
pub(crate) fn fsleep(delta: Delta) {
    const MAX_DELTA: Delta = Delta::from_micros(i32::MAX as i64);
    let delta = if (Delta::ZERO..=MAX_DELTA).contains(&delta) {
        delta
    } else {
        MAX_DELTA
    };
    // SAFETY: `fsleep` may be called with any duration from process
    // context, which is the function's contract.
    unsafe {
        // In `[0, i32::MAX]` microseconds (above), so the cast is exact.
        bindings::rvcap_fsleep(delta.as_micros_ceil() as c_ulong)
    };
}
