// SPDX-License-Identifier: GPL-2.0

//! The engine's sleep until its next frame is due.

use crate::kapi::bindings;
use crate::kapi::kthread::Current;

/// Sleeps until CLOCK_MONOTONIC reaches `deadline_ns`, or until the engine's
/// thread is asked to stop. `_thread` is that thread's [`Current`], which
/// proves the caller runs on it.
pub(crate) fn sleep_until(_thread: &Current, deadline_ns: u64) {
    // SAFETY: a `Current` exists only on the kthread `Thread::spawn` started,
    // during its closure (its type invariant), so this sleeps on that
    // kthread, which `kthread_stop` wakes.
    unsafe { bindings::rvcap_engine_sleep_until(deadline_ns) };
}
