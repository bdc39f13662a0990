// SPDX-License-Identifier: GPL-2.0

//! Kernel log messages about a device (`dev_info`, `dev_warn`, and
//! rate-limited `dev_warn` and `dev_dbg`), formatted on the stack: no
//! allocation, so they may be used on any path. Each rate-limited call site
//! names its own [`RateLimit`] (the [`ratelimit!`] macro makes one), so
//! that a flood of one kind of message cannot hide the others.
//!
//! [`ratelimit!`]: super::ratelimit::ratelimit

use super::bindings;
use super::device::DeviceRef;
use super::ratelimit::RateLimit;
use core::fmt::{self, Write};

/// Longest message, in bytes; longer ones are cut.
const MAX_MESSAGE: usize = 160;

/// A NUL-terminated message formatted into a fixed buffer.
///
/// # Invariants
///
/// `len <= MAX_MESSAGE` and `buf[len..]` is all zero, so `buf` always holds
/// a NUL-terminated C string.
struct Message {
    buf: [u8; MAX_MESSAGE + 1],
    len: usize,
}

impl Message {
    fn format(args: fmt::Arguments<'_>) -> Self {
        // INVARIANT: empty, all zero.
        let mut msg = Self {
            buf: [0; MAX_MESSAGE + 1],
            len: 0,
        };
        // A full buffer only truncates the message.
        let _ = msg.write_fmt(args);
        msg
    }

    fn as_ptr(&self) -> *const kernel::ffi::c_char {
        self.buf.as_ptr().cast()
    }
}

impl Write for Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == MAX_MESSAGE {
                return Err(fmt::Error);
            }
            // An embedded NUL would cut the C string short; show it.
            // INVARIANT: writes below `MAX_MESSAGE`, so `buf[MAX_MESSAGE]`
            // stays 0.
            self.buf[self.len] = if b == 0 { b'?' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

/// Logging about one device (which it keeps a reference to).
#[derive(Clone)]
pub(crate) struct DevLog {
    dev: DeviceRef,
}

impl DevLog {
    /// Logs about `dev`.
    pub(crate) fn new(dev: DeviceRef) -> Self {
        Self { dev }
    }

    /// `dev_info`.
    pub(crate) fn info(&self, args: fmt::Arguments<'_>) {
        let msg = Message::format(args);
        // SAFETY: the device is live (we hold a reference); `msg` is
        // NUL-terminated (its invariant) and outlives the call, which only
        // prints it with "%s".
        unsafe { bindings::rvcap_dev_info(self.dev.as_raw(), msg.as_ptr()) };
    }

    /// `dev_warn`.
    pub(crate) fn warn(&self, args: fmt::Arguments<'_>) {
        let msg = Message::format(args);
        // SAFETY: as in `info`.
        unsafe { bindings::rvcap_dev_warn(self.dev.as_raw(), msg.as_ptr()) };
    }

    /// `dev_warn`, at most as often as `limit` lets it.
    pub(crate) fn warn_ratelimited(&self, limit: &RateLimit, args: fmt::Arguments<'_>) {
        if let Some(missed) = Self::allowed(limit) {
            self.warn(format_args!("{args}{}", Suppressed(missed)));
        }
    }

    /// `dev_dbg` (dynamic debug: `module rvcap +p`), at most as often as
    /// `limit` lets it.
    pub(crate) fn dbg(&self, limit: &RateLimit, args: fmt::Arguments<'_>) {
        // A disabled call site uses up no rate limit (as `dev_dbg_ratelimited`).
        // SAFETY: the device is live (we hold a reference); a null message
        // only asks whether the call site is enabled.
        if !unsafe { bindings::rvcap_dev_dbg(self.dev.as_raw(), core::ptr::null()) } {
            return;
        }
        if let Some(missed) = Self::allowed(limit) {
            let msg = Message::format(format_args!("{args}{}", Suppressed(missed)));
            // SAFETY: as in `info`.
            unsafe { bindings::rvcap_dev_dbg(self.dev.as_raw(), msg.as_ptr()) };
        }
    }

    fn allowed(limit: &RateLimit) -> Option<u32> {
        limit.check(super::time::ktime_get_ns())
    }
}

/// `pr_warn`, at most as often as `limit` lets it: for code that has no
/// device to name (a dma-buf callback of an export whose device may be
/// gone).
pub(crate) fn warn_ratelimited(limit: &RateLimit, args: fmt::Arguments<'_>) {
    if let Some(missed) = DevLog::allowed(limit) {
        kernel::pr_warn!("rvcap: {}\n", format_args!("{args}{}", Suppressed(missed)));
    }
}

/// " (N like it suppressed)" after a message, when some were held back.
struct Suppressed(u32);

impl fmt::Display for Suppressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " ({n} like it suppressed)"),
        }
    }
}
