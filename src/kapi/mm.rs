// SPDX-License-Identifier: GPL-2.0

//! The VMA of an `mmap()` of a driver-allocated buffer, as mainline's
//! `kernel::mm::virt::VmaNew` (7.3) wraps a VMA being set up by an `mmap`
//! hook: [`VmaNew::map_buffer`] maps its pages into userspace and keeps
//! them alive (one `Arc` reference per VMA, also across `fork` and splits)
//! and counted as mapped. Only the pages: the buffer's DMA mapping goes
//! with the queue's buffer.

use super::bindings;
use super::dma::UserPages;
use super::types::{self, ForeignOwnable, Opaque};
use kernel::ffi::c_ulong;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

/// A VMA being set up by an `mmap()` call, used by reference.
///
/// # Invariants
///
/// A `&'a VmaNew` is the VMA of an `mmap()` of one of our files (or of an
/// exported dma-buf of ours) that the mm core is setting up in our `mmap`
/// hook for at least `'a`: the caller holds the mm's mmap lock for writing
/// and the VMA is not in the mm's VMA tree yet (6.12 `mmap_region`, 7.3
/// `__mmap_new_vma`; `dma_buf_mmap()` calls an exporter's hook from an
/// importer's, under the same lock), so nothing else reads or writes it
/// until the hook returns. (`Opaque` makes `VmaNew` `!Sync`, so the
/// reference is not shared with another thread either.)
#[repr(transparent)]
pub(crate) struct VmaNew(Opaque<bindings::vm_area_struct>);

impl VmaNew {
    /// The VMA behind a pointer from an `mmap` hook.
    ///
    /// # Safety
    ///
    /// `vma` must be a VMA being set up by an `mmap()` file operation of
    /// ours (a video device's, or an exported dma-buf's `mmap` callback)
    /// for the duration of `'a`.
    pub(crate) unsafe fn from_raw<'a>(vma: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `VmaNew` is `repr(transparent)` over `Opaque<vm_area_struct>`,
        // which has the layout of `vm_area_struct`; the caller guarantees
        // the VMA is valid, and being set up by us, for 'a.
        // INVARIANT: the caller's guarantee is the type invariant.
        unsafe { &*vma.cast::<Self>() }
    }

    /// The C `struct vm_area_struct`.
    pub(crate) fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.0.get()
    }

    fn flags(&self) -> c_ulong {
        // SAFETY: reads the flags of a valid VMA (type invariant).
        unsafe { bindings::rvcap_vma_flags(self.as_ptr()) }
    }

    /// Whether it is `MAP_SHARED`.
    pub(crate) fn is_shared(&self) -> bool {
        self.flags() & bindings::RVCAP_CONST_VM_SHARED != 0
    }

    /// Whether it may be read (`PROT_READ`).
    pub(crate) fn readable(&self) -> bool {
        self.flags() & bindings::RVCAP_CONST_VM_READ != 0
    }

    /// The page offset asked for (the cookie naming a buffer).
    pub(crate) fn page_offset(&self) -> usize {
        // SAFETY: a valid VMA that only we access during setup (type
        // invariant), so the read does not race.
        unsafe { (*self.as_ptr()).vm_pgoff }
    }

    /// Its length in pages.
    pub(crate) fn page_count(&self) -> usize {
        // SAFETY: reads the bounds of a valid VMA (type invariant).
        unsafe { bindings::rvcap_vma_pages(self.as_ptr()) as usize }
    }

    /// Maps the pages of MMAP memory, `user_pages`, from their start;
    /// `EINVAL` for a VMA larger than the memory.
    pub(crate) fn map_buffer(&self, user_pages: &Arc<UserPages>) -> Result {
        if self.page_count() > user_pages.pages().len() {
            return Err(EINVAL);
        }
        // The offset was a cookie naming the buffer; the pages start at 0.
        // SAFETY: a valid VMA that only we access during setup (type
        // invariant), so the write does not race; any offset is valid
        // before the pages are mapped.
        unsafe { (*self.as_ptr()).vm_pgoff = 0 };
        self.map_pages(user_pages)
    }

    /// Maps `pages` from the VMA's page offset on, as the `mmap` of an
    /// exported dma-buf (the dma-buf core checked the range against its
    /// size; `vm_map_pages` checks it again).
    pub(super) fn map_exported(&self, pages: &Arc<UserPages>) -> Result {
        self.map_pages(pages)
    }

    /// Maps `user_pages` from the page offset `vm_pgoff` on, keeping them
    /// alive and counted as mapped while the VMA (or a copy) exists.
    fn map_pages(&self, user_pages: &Arc<UserPages>) -> Result {
        let pages = user_pages.pages();
        // SAFETY: the VMA is being set up (type invariant); the page array
        // holds valid pages, which `vm_map_pages` takes references to.
        kernel::error::to_result(unsafe {
            bindings::vm_map_pages(
                self.as_ptr(),
                pages.as_ptr().cast::<*mut bindings::page>().cast_mut(),
                pages.len() as c_ulong,
            )
        })?;
        // SAFETY: the VMA is valid, and `vm_flags_set` needs the mmap lock
        // held for writing, which the caller of our hook holds (type
        // invariant).
        unsafe {
            bindings::rvcap_vm_flags_set(
                self.as_ptr(),
                (bindings::RVCAP_CONST_VM_DONTEXPAND | bindings::RVCAP_CONST_VM_DONTDUMP)
                    as c_ulong,
            )
        };
        user_pages.user_mapping(true);
        // The VMA's reference, dropped by `vma_close`.
        let private = types::into_foreign(user_pages.clone());
        // SAFETY: a valid VMA that only we access during setup (type
        // invariant), so the write does not race; `vma_open` and
        // `vma_close` (set next) take this reference back.
        unsafe { (*self.as_ptr()).vm_private_data = private };
        // SAFETY: as above; `VM_OPS` is static, and its callbacks find the
        // reference they expect in `vm_private_data`, set above.
        unsafe { (*self.as_ptr()).vm_ops = &VM_OPS };
        Ok(())
    }
}

/// # Safety
///
/// Called by the mm core when a VMA made by [`VmaNew::map_buffer`] is
/// duplicated or split.
unsafe extern "C" fn vma_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: `vma` is the new VMA, live for the call.
    let private = unsafe { (*vma).vm_private_data };
    // SAFETY: `vm_private_data` holds a reference made by `map_buffer` (or
    // by this function) for the VMA this one was copied from, which is
    // still alive.
    let pages: ArcBorrow<'_, UserPages> =
        unsafe { <Arc<UserPages> as ForeignOwnable>::borrow(private) };
    pages.user_mapping(true);
    let own: Arc<UserPages> = pages.into();
    // SAFETY: `vma` is the new VMA; it gets a reference of its own.
    unsafe { (*vma).vm_private_data = types::into_foreign(own) };
}

/// # Safety
///
/// Called by the mm core when a VMA made by [`VmaNew::map_buffer`] (or copied
/// by [`vma_open`]) goes away.
unsafe extern "C" fn vma_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: `vma` is live for the call.
    let private = unsafe { (*vma).vm_private_data };
    // SAFETY: the VMA owns one reference (see `vma_open`), dropped here.
    let pages = unsafe { <Arc<UserPages> as ForeignOwnable>::from_foreign(private) };
    pages.user_mapping(false);
}

// SAFETY: all-zero `vm_operations_struct` is valid: optional callbacks.
const NO_VM_OPS: bindings::vm_operations_struct = unsafe { core::mem::zeroed() };

static VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
    open: Some(vma_open),
    close: Some(vma_close),
    ..NO_VM_OPS
};
