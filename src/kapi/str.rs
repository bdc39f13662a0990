// SPDX-License-Identifier: GPL-2.0

//! C strings: the `kernel` crate's [`CStr`] (its own type on 6.12,
//! `core::ffi::CStr` on 7.3), its bytes, and its text for `core::fmt`;
//! the kernel's parsing of booleans and numbers written as text
//! ([`kstrtobool_bytes`], [`kstrtoull_bytes`]).

use super::bindings;
use core::fmt;
use kernel::error::to_result;
use kernel::prelude::*;
pub(crate) use kernel::str::CStr;
/// `CStr::from_char_ptr` and the other methods the `kernel` crate adds to
/// 7.3's `core::ffi::CStr` (6.12's `CStr` has them as its own).
#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::str::CStrExt;

/// The string's bytes, without the NUL (6.12 calls it `as_bytes`, 7.3
/// `to_bytes`).
pub(crate) fn to_bytes(s: &CStr) -> &[u8] {
    #[cfg(rvcap_linux_7_3)]
    return s.to_bytes();
    #[cfg(not(rvcap_linux_7_3))]
    return s.as_bytes();
}

/// A C string literal's pointer as the kernel's `c_char`, in a `const fn`
/// (for static tables): what 7.3's `CStrExt::as_char_ptr` does, which is
/// not `const`, and 6.12 has only for its own `CStr`. (7.3's clippy
/// forbids `CStr::as_ptr` because core's `c_char` is not the kernel's.)
#[allow(clippy::disallowed_methods)]
pub(crate) const fn as_char_ptr(s: &core::ffi::CStr) -> *const kernel::ffi::c_char {
    s.as_ptr().cast()
}

/// A C string as text for `format_args!`, which 6.12's `CStr` displays by
/// itself and 7.3's only through the kernel's own `fmt!`. Bytes that are
/// not UTF-8 (no name rvcap prints has any) show as `\xNN`.
pub(crate) struct Text<'a>(pub(crate) &'a CStr);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // (`utf8_chunks` is newer than 6.12's minimum Rust.)
        let mut rest = to_bytes(self.0);
        loop {
            match core::str::from_utf8(rest) {
                Ok(text) => return f.write_str(text),
                Err(e) => {
                    let (valid, bad) = rest.split_at(e.valid_up_to());
                    // (Never fails: `valid_up_to` bytes are UTF-8.)
                    f.write_str(core::str::from_utf8(valid).map_err(|_| fmt::Error)?)?;
                    let n = e.error_len().unwrap_or(bad.len());
                    for b in &bad[..n] {
                        write!(f, "\\x{b:02x}")?;
                    }
                    rest = &bad[n..];
                }
            }
        }
    }
}

/// `true` or `false` from text as the kernel's `kstrtobool` reads it (its
/// first two bytes at most: `y`, `t`, `1`, `on` are true, `n`, `f`, `0`,
/// `off` false, in either case, and on 7.3 also `e` and `d`, enable and
/// disable; anything else is `EINVAL`): the kernel crate's on 7.3, rvcap's
/// in its shape on 6.12, whose crate has none.
#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::str::kstrtobool_bytes;

/// `true` or `false` from text as the kernel's `kstrtobool` reads it (7.3's
/// `kernel::str::kstrtobool_bytes`; see there).
#[cfg(not(rvcap_linux_7_3))]
pub(crate) fn kstrtobool_bytes(bytes: &[u8]) -> Result<bool> {
    // `kstrtobool` reads two bytes at most.
    let text = [
        bytes.first().copied().unwrap_or(0),
        bytes.get(1).copied().unwrap_or(0),
        0,
    ];
    let mut value = false;
    // SAFETY: `text` is NUL-terminated; `value` is a `bool` to write.
    to_result(unsafe { bindings::kstrtobool(text.as_ptr().cast(), &mut value) })?;
    Ok(value)
}

/// The longest text [`kstrtoull_bytes`] parses.
pub(crate) const KSTRTOULL_MAX_LEN: usize = 23;

/// A number from text as the kernel's `kstrtoull` reads it with base 0:
/// decimal, hexadecimal after `0x`, octal after `0`, an optional leading
/// `+` and one trailing newline, nothing else (`EINVAL`; `ERANGE` past
/// `u64::MAX`). Text longer than [`KSTRTOULL_MAX_LEN`] is `EINVAL`.
pub(crate) fn kstrtoull_bytes(bytes: &[u8]) -> Result<u64> {
    let mut text = [0u8; KSTRTOULL_MAX_LEN + 1];
    // The last byte stays the NUL. (A NUL in `bytes` ends the text there.)
    let (room, _nul) = text.split_at_mut(KSTRTOULL_MAX_LEN);
    room.get_mut(..bytes.len())
        .ok_or(EINVAL)?
        .copy_from_slice(bytes);
    let mut value = 0u64;
    // SAFETY: `text` is NUL-terminated (its last byte is never written);
    // `value` is a `u64` to write.
    to_result(unsafe { bindings::kstrtoull(text.as_ptr().cast(), 0, &mut value) })?;
    Ok(value)
}
