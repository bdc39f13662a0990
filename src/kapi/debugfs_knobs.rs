// SPDX-License-Identifier: GPL-2.0

//! debugfs knobs: read-write files over a driver's `u32` or `bool` that
//! read and write the text the kernel's `debugfs_create_u32` and
//! `debugfs_create_bool` do ([`KnobFiles`], for a
//! [`ScopedDir`](super::debugfs::ScopedDir) on both kernels), which 7.3's
//! own number and `bool` files do not (a `bool` reads `true`, `1` is
//! refused).

use super::debugfs::ScopedDir;
use super::str::{kstrtobool_bytes, kstrtoull_bytes, CStr, KSTRTOULL_MAX_LEN};
use super::sync::atomic::{Atomic, Relaxed};
use core::fmt;
use kernel::prelude::*;
use kernel::uaccess::UserSliceReader;

/// Knob files in a debugfs directory, mode 0600.
pub(crate) trait KnobFiles<'data> {
    /// File `name` over `value`: reads show it in decimal and a newline,
    /// writes set it from text as `debugfs_create_u32`'s do ([`store_u32`]).
    /// Unlike C's (`nonseekable_open`), it is a seq_file and may be seeked.
    fn u32_knob(&self, name: &CStr, value: &'data Atomic<u32>);

    /// File `name` over `flag`: reads show `Y` or `N` and a newline, writes
    /// set it from text as `debugfs_create_bool`'s do ([`store_bool`]).
    fn bool_knob(&self, name: &CStr, flag: &'data Atomic<bool>);
}

impl<'data> KnobFiles<'data> for ScopedDir<'data, '_> {
    fn u32_knob(&self, name: &CStr, value: &'data Atomic<u32>) {
        self.read_write_callback_file(name, value, &show_u32, &store_u32);
    }

    fn bool_knob(&self, name: &CStr, flag: &'data Atomic<bool>) {
        self.read_write_callback_file(name, flag, &show_bool, &store_bool);
    }
}

/// `debugfs_create_u32`'s text: `"%llu\n"`.
fn show_u32(value: &Atomic<u32>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{}", value.load(Relaxed))
}

/// What `debugfs_create_u32`'s writes do (`simple_attr_write`): the
/// first 23 bytes at most, read by `kstrtoull` in base 0 (decimal, `0x`
/// hexadecimal, `0` octal, one trailing newline); anything else fails
/// (`EINVAL`, `ERANGE`). The value is cut to its low 32 bits, as
/// `debugfs_u32_set` stores it.
fn store_u32(value: &Atomic<u32>, input: &mut UserSliceReader) -> Result {
    let mut text = [0u8; KSTRTOULL_MAX_LEN];
    let text = text
        .get_mut(..input.len().min(KSTRTOULL_MAX_LEN))
        .ok_or(EINVAL)?;
    input.read_slice(text)?;
    let number = kstrtoull_bytes(text)?;
    // The low 32 bits, as debugfs did.
    value.store(number as u32, Relaxed);
    Ok(())
}

/// `debugfs_create_bool`'s text: `Y` or `N` and a newline.
fn show_bool(flag: &Atomic<bool>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{}", if flag.load(Relaxed) { 'Y' } else { 'N' })
}

/// What `debugfs_create_bool`'s writes do (`debugfs_write_file_bool`):
/// the first 3 bytes at most, read by `kstrtobool` (`1`, `y`, `on`, `0`,
/// `n`, `off`...). Text it refuses, or bytes that cannot be read, leave
/// the flag as it was and the write still succeeds, as there.
fn store_bool(flag: &Atomic<bool>, input: &mut UserSliceReader) -> Result {
    let mut text = [0u8; 3];
    let Some(text) = text.get_mut(..input.len().min(3)) else {
        return Ok(());
    };
    if input.read_slice(text).is_ok() {
        if let Ok(value) = kstrtobool_bytes(text) {
            flag.store(value, Relaxed);
        }
    }
    Ok(())
}
