// SPDX-License-Identifier: GPL-2.0

//! The `kernel` crate's `types`, and [`ForeignOwnable`]'s pointer as C
//! stores it. 7.3 hands out and takes back `*mut c_void` (and its trait has
//! grown `FOREIGN_ALIGN` and mutable borrows); 6.12 uses `*const c_void`.
//! These three functions take 7.3's shape on both kernels, so that the
//! callers (driver data, a VMA's private data, a dma-buf's `priv`) do not
//! depend on the kernel.

use kernel::ffi::c_void;
pub(crate) use kernel::types::{ForeignOwnable, Opaque};

/// `data` as the pointer its owner keeps in a C structure.
pub(crate) fn into_foreign<T: ForeignOwnable>(data: T) -> *mut c_void {
    #[cfg(rvcap_linux_7_3)]
    return data.into_foreign();
    #[cfg(not(rvcap_linux_7_3))]
    return data.into_foreign().cast_mut();
}

/// Takes back what [`into_foreign`] gave.
///
/// # Safety
///
/// As [`ForeignOwnable::from_foreign`]: `ptr` came from [`into_foreign`] of
/// a `T` and is taken back once.
pub(crate) unsafe fn from_foreign<T: ForeignOwnable>(ptr: *mut c_void) -> T {
    // SAFETY: the caller's contract is `from_foreign`'s.
    unsafe { T::from_foreign(ptr) }
}

/// Borrows what [`into_foreign`] gave.
///
/// # Safety
///
/// As [`ForeignOwnable::borrow`]: `ptr` came from [`into_foreign`] of a `T`
/// and is not taken back with [`from_foreign`] during `'a`.
pub(crate) unsafe fn borrow<'a, T: ForeignOwnable + 'a>(ptr: *mut c_void) -> T::Borrowed<'a> {
    // SAFETY: the caller's contract is `borrow`'s.
    unsafe { T::borrow(ptr) }
}
