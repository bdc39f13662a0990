// SPDX-License-Identifier: GPL-2.0

//! Kernel log messages about a device (`dev_info`, `dev_warn`,
//! rate-limited `dev_dbg`), formatted on the stack: no allocation, so they
//! may be used on any path.

use crate::bindings;
use core::fmt::{self, Write};

/// Longest message, in bytes; longer ones are cut.
const MAX_MESSAGE: usize = 160;

/// A NUL-terminated message formatted into a fixed buffer.
struct Message {
    buf: [u8; MAX_MESSAGE + 1],
    len: usize,
}

impl Message {
    fn format(args: fmt::Arguments<'_>) -> Self {
        let mut msg = Self {
            buf: [0; MAX_MESSAGE + 1],
            len: 0,
        };
        // A full buffer only truncates the message.
        let _ = msg.write_fmt(args);
        msg
    }

    fn as_ptr(&self) -> *const kernel::ffi::c_char {
        // `buf[len]` is 0: `write_str` never fills the last byte.
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
            self.buf[self.len] = if b == 0 { b'?' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

/// Logging about one device.
#[derive(Clone, Copy)]
pub(crate) struct DevLog {
    dev: *mut bindings::device,
}

// SAFETY: `DevLog` only passes the device to the printk helpers, which may
// be called from any thread for a live device; see `DevLog::new`.
unsafe impl Send for DevLog {}
// SAFETY: see `Send`; it holds no state besides the pointer.
unsafe impl Sync for DevLog {}

impl DevLog {
    /// Logs about `dev`.
    ///
    /// # Safety
    ///
    /// `dev` must stay a valid, registered device for as long as the
    /// returned value (or a copy) is used.
    pub(crate) unsafe fn new(dev: *mut bindings::device) -> Self {
        Self { dev }
    }

    /// `dev_info`.
    pub(crate) fn info(&self, args: fmt::Arguments<'_>) {
        let msg = Message::format(args);
        // SAFETY: `self.dev` is valid (see `new`); `msg` is NUL-terminated
        // and outlives the call, which only formats it with "%s".
        unsafe { bindings::rvcap_dev_info(self.dev, msg.as_ptr()) };
    }

    /// `dev_warn`.
    pub(crate) fn warn(&self, args: fmt::Arguments<'_>) {
        let msg = Message::format(args);
        // SAFETY: as in `info`.
        unsafe { bindings::rvcap_dev_warn(self.dev, msg.as_ptr()) };
    }

    /// Rate-limited `dev_warn`.
    pub(crate) fn warn_ratelimited(&self, args: fmt::Arguments<'_>) {
        let msg = Message::format(args);
        // SAFETY: as in `info`.
        unsafe { bindings::rvcap_dev_warn_ratelimited(self.dev, msg.as_ptr()) };
    }

    /// Rate-limited `dev_dbg` (dynamic debug: `module rvcap +p`).
    pub(crate) fn dbg(&self, args: fmt::Arguments<'_>) {
        let msg = Message::format(args);
        // SAFETY: as in `info`.
        unsafe { bindings::rvcap_dev_dbg_ratelimited(self.dev, msg.as_ptr()) };
    }
}
