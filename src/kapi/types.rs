// SPDX-License-Identifier: GPL-2.0

//! The `kernel` crate's `types`, and [`ForeignOwnable`]'s pointer as C
//! stores it. 7.3 hands out and takes back `*mut c_void` (and its trait has
//! grown `FOREIGN_ALIGN` and mutable borrows); 6.12 uses `*const c_void`.
//! [`into_foreign`] takes 7.3's shape on both kernels, so that the callers
//! (driver data, a VMA's private data, a dma-buf's `priv`) do not depend on
//! the kernel; they take the pointer back with the trait's own
//! `from_foreign` and `borrow`, whose `*const` parameter on 6.12 accepts
//! the `*mut`.

use kernel::ffi::c_void;
pub(crate) use kernel::types::{ForeignOwnable, Opaque};

/// `data` as the pointer its owner keeps in a C structure.
pub(crate) fn into_foreign<T: ForeignOwnable>(data: T) -> *mut c_void {
    #[cfg(rvcap_linux_7_3)]
    return data.into_foreign();
    #[cfg(not(rvcap_linux_7_3))]
    return data.into_foreign().cast_mut();
}
