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
