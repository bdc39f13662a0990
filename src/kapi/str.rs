// SPDX-License-Identifier: GPL-2.0

//! C strings: the `kernel` crate's [`CStr`] (its own type on 6.12,
//! `core::ffi::CStr` on 7.3), its bytes, and its text for `core::fmt`.

use core::fmt;
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

/// A C string as text for `format_args!`, which 6.12's `CStr` displays by
/// itself and 7.3's only through the kernel's own `fmt!`. Bytes that are
/// not UTF-8 (no name rvcap prints has any) show as `\xNN`.
pub(crate) struct Text<'a>(pub(crate) &'a CStr);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in to_bytes(self.0).utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}
