// SPDX-License-Identifier: GPL-2.0

//! Error codes the `kernel` crate's `error::code` names on 7.3 but not on
//! 6.12, as functions on both (6.12 cannot build an `Error` in a constant
//! outside its own crate).

use kernel::error::Error;

/// `ENOBUFS`: no buffer space available.
pub(crate) fn enobufs() -> Error {
    #[cfg(rvcap_linux_7_3)]
    return kernel::error::code::ENOBUFS;
    #[cfg(not(rvcap_linux_7_3))]
    return Error::from_errno(-(super::bindings::ENOBUFS as i32));
}

/// `EBADR`: invalid request descriptor.
pub(crate) fn ebadr() -> Error {
    #[cfg(rvcap_linux_7_3)]
    return kernel::error::code::EBADR;
    #[cfg(not(rvcap_linux_7_3))]
    return Error::from_errno(-(super::bindings::EBADR as i32));
}
