// SPDX-License-Identifier: GPL-2.0

//! Sleeping for a while (upstream's `kernel::delay`, which 6.12 lacks).

use super::bindings;

/// Sleeps at least `ms` milliseconds, uninterruptibly: what waiting for a
/// device that must finish (a DMA in flight) needs, where a stop request or
/// a signal must not cut the wait short.
pub(crate) fn msleep(ms: u32) {
    // SAFETY: may sleep; called from process context (the callers are
    // ioctls and the engine thread, never atomic context).
    unsafe { bindings::msleep(ms) };
}
