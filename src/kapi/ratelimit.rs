// SPDX-License-Identifier: GPL-2.0

//! A rate limit for one kind of log message, as the C `DEFINE_RATELIMIT_STATE`
//! a `dev_*_ratelimited` call site gets: at most [`BURST`] messages per
//! [`INTERVAL_NS`], the rest counted and reported with the next message let
//! through. Lock-free, so that it may be used on any path; under contention
//! it may let a message more or fewer through, which is fine for logging.

use super::sync::atomic::{Atomic, Relaxed};

/// Length of a window, as `DEFAULT_RATELIMIT_INTERVAL` (5 s).
pub(crate) const INTERVAL_NS: u64 = 5_000_000_000;
/// Messages per window, as `DEFAULT_RATELIMIT_BURST`.
pub(crate) const BURST: u32 = 10;

/// The state of one rate limit: a `static` per message kind.
pub(crate) struct RateLimit {
    /// Start of the current window plus one (0: no window yet).
    window_start: Atomic<u64>,
    /// Messages let through in the current window.
    printed: Atomic<u32>,
    /// Messages held back since the last one let through.
    missed: Atomic<u32>,
}

impl RateLimit {
    /// A rate limit with no message yet.
    pub(crate) const fn new() -> Self {
        Self {
            window_start: Atomic::new(0),
            printed: Atomic::new(0),
            missed: Atomic::new(0),
        }
    }

    /// Whether a message at time `now_ns` may be printed; if so, how many
    /// were held back before it.
    pub(crate) fn check(&self, now_ns: u64) -> Option<u32> {
        let start = self.window_start.load(Relaxed);
        let stamp = now_ns.saturating_add(1);
        if (start == 0 || stamp.saturating_sub(start) >= INTERVAL_NS)
            && self.window_start.cmpxchg(start, stamp, Relaxed).is_ok()
        {
            self.printed.store(0, Relaxed);
        }
        if self.printed.fetch_add(1, Relaxed) < BURST {
            Some(self.missed.xchg(0, Relaxed))
        } else {
            self.missed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// A `&'static RateLimit` of its own for the call site it is written at.
macro_rules! ratelimit {
    () => {{
        static LIMIT: $crate::kapi::ratelimit::RateLimit =
            $crate::kapi::ratelimit::RateLimit::new();
        &LIMIT
    }};
}
pub(crate) use ratelimit;
