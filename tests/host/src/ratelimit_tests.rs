// SPDX-License-Identifier: GPL-2.0

//! The log rate limit: a burst per window, the rest counted and reported.

use crate::ratelimit::{RateLimit, BURST, INTERVAL_NS};

const T0: u64 = 1_000_000_000;

#[test]
fn lets_a_burst_through_per_window_and_counts_the_rest() {
    let limit = RateLimit::new();
    for n in 0..BURST {
        assert_eq!(limit.check(T0 + u64::from(n)), Some(0), "message {n}");
    }
    for n in 0..25 {
        assert_eq!(
            limit.check(T0 + 100 + n),
            None,
            "message {n} after the burst"
        );
    }
    // Still the same window just before it ends.
    assert_eq!(limit.check(T0 + INTERVAL_NS - 1), None);
    // The next window: the first message reports what was held back.
    assert_eq!(limit.check(T0 + INTERVAL_NS), Some(26));
    assert_eq!(limit.check(T0 + INTERVAL_NS + 1), Some(0));
}

#[test]
fn limits_are_independent() {
    let qbuf = RateLimit::new();
    let querybuf = RateLimit::new();
    for n in 0..4 * BURST {
        let _ = qbuf.check(T0 + u64::from(n));
    }
    assert_eq!(qbuf.check(T0 + 1000), None);
    assert_eq!(querybuf.check(T0 + 1000), Some(0));
}

#[test]
fn a_first_message_at_time_zero_starts_a_window() {
    let limit = RateLimit::new();
    assert_eq!(limit.check(0), Some(0));
    for _ in 1..BURST {
        assert_eq!(limit.check(0), Some(0));
    }
    assert_eq!(limit.check(0), None);
    assert_eq!(limit.check(INTERVAL_NS), Some(1));
}
