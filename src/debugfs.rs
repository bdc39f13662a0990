// SPDX-License-Identifier: GPL-2.0

//! debugfs files of each capture device, under
//! `/sys/kernel/debug/rvcap/<device>/`:
//!
//! - `counters`: what the DMA side and the engine did, one `name value` line
//!   each (see [`Capture::write_counters`]);
//! - `buffers`: one line per buffer: where it is, who owns it, what is
//!   attached and mapped.
//!
//! The file plumbing (`DEFINE_SHOW_ATTRIBUTE`) is in `helpers.c`; the show
//! functions are here.

use crate::bindings;
use crate::capture::Capture;
use core::fmt::{self, Write};
use kernel::ffi::{c_int, c_void};

/// Writes formatted text into a seq_file, without allocating.
struct SeqWriter(*mut bindings::seq_file);

impl Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `self.0` is the seq_file of a running show callback;
        // `seq_write` copies `s.len()` bytes from `s`.
        let ret = unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
        if ret == 0 {
            Ok(())
        } else {
            // The buffer is full; seq_file retries with a larger one.
            Err(fmt::Error)
        }
    }
}

/// The capture device a debugfs file was created for.
///
/// # Safety
///
/// `m` must be the seq_file of a file made by `rvcap_debugfs_add`, during a
/// show callback (debugfs keeps the data alive until then).
unsafe fn capture_of<'a>(m: *mut bindings::seq_file) -> &'a Capture {
    // SAFETY: `single_open` stored the `data` given to `rvcap_debugfs_add`,
    // the capture device, which removes the files before it is freed.
    unsafe { &*(*m).private.cast::<Capture>() }
}

/// `counters` show callback.
///
/// # Safety
///
/// Called by seq_file for the `counters` file of a capture device.
#[no_mangle]
unsafe extern "C" fn rvcap_debugfs_counters_show(
    m: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: the function's contract.
    let cap = unsafe { capture_of(m) };
    // An overflow is retried by seq_file with a larger buffer.
    let _ = cap.write_counters(&mut SeqWriter(m));
    0
}

/// `buffers` show callback.
///
/// # Safety
///
/// Called by seq_file for the `buffers` file of a capture device.
#[no_mangle]
unsafe extern "C" fn rvcap_debugfs_buffers_show(
    m: *mut bindings::seq_file,
    _v: *mut c_void,
) -> c_int {
    // SAFETY: the function's contract.
    let cap = unsafe { capture_of(m) };
    let _ = cap.write_buffers(&mut SeqWriter(m));
    0
}

/// The module's debugfs directory, `/sys/kernel/debug/rvcap`, removed on drop.
pub(crate) struct DebugfsRoot(());

impl DebugfsRoot {
    /// Creates the directory (debugfs failures only lose the files).
    pub(crate) fn new() -> Self {
        // SAFETY: called once, at module init.
        unsafe { bindings::rvcap_debugfs_init() };
        Self(())
    }
}

impl Drop for DebugfsRoot {
    fn drop(&mut self) {
        // SAFETY: called once, at module exit, after every device's directory
        // is gone.
        unsafe { bindings::rvcap_debugfs_exit() };
    }
}
