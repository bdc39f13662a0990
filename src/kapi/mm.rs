// SPDX-License-Identifier: GPL-2.0

//! The VMA of an `mmap()` of a driver-allocated buffer: on 7.3 the kernel
//! crate's `kernel::mm::virt::VmaNew` (a VMA being set up by an `mmap`
//! hook), on 6.12, whose crate has none, rvcap's own in its shape (the
//! methods rvcap uses: `from_raw`, `as_ptr`, `flags`, `readable`,
//! `set_dontexpand`, `set_dontdump`). [`VmaNewExt`] adds what mainline's
//! has not: whether it is shared, its page offset and length, and
//! [`VmaNewExt::map_buffer`], which maps the pages into userspace and
//! keeps them alive (one `Arc` reference per VMA, also across `fork` and
//! splits) and counted as mapped ([`map_exported`] the same for an
//! exported dma-buf). Only the pages: the buffer's DMA mapping goes with
//! the queue's buffer.

use super::bindings;
use super::dma::UserPages;
use super::types::{self, ForeignOwnable};
use kernel::ffi::c_ulong;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::mm::virt::VmaNew;

#[cfg(not(rvcap_linux_7_3))]
use bindings::RVCAP_CONST_VM_SHARED as VM_SHARED;
#[cfg(rvcap_linux_7_3)]
use kernel::mm::virt::flags::SHARED as VM_SHARED;

/// A VMA being set up by an `mmap()` call, used by reference (6.12; the
/// kernel crate's on 7.3).
///
/// # Invariants
///
/// A `&'a VmaNew` is the VMA of an `mmap()` of one of our files (or of an
/// exported dma-buf of ours) that the mm core is setting up in our `mmap`
/// hook for at least `'a`: the caller holds the mm's mmap lock for writing
/// and the VMA is not in the mm's VMA tree yet (6.12 `mmap_region`;
/// `dma_buf_mmap()` calls an exporter's hook from an importer's, under the
/// same lock), so nothing else reads or writes it until the hook returns.
/// (`Opaque` makes `VmaNew` `!Sync`, so the reference is not shared with
/// another thread either.)
#[cfg(not(rvcap_linux_7_3))]
#[repr(transparent)]
pub(crate) struct VmaNew(super::types::Opaque<bindings::vm_area_struct>);

#[cfg(not(rvcap_linux_7_3))]
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

    /// The VMA's flags (`VM_*`).
    pub(crate) fn flags(&self) -> c_ulong {
        // SAFETY: reads the flags of a valid VMA (type invariant).
        unsafe { bindings::rvcap_vma_flags(self.as_ptr()) }
    }

    /// Whether it may be read (`PROT_READ`).
    pub(crate) fn readable(&self) -> bool {
        self.flags() & bindings::RVCAP_CONST_VM_READ != 0
    }

    /// Sets `VM_DONTEXPAND`: `mremap()` may not grow it.
    pub(crate) fn set_dontexpand(&self) {
        self.set_flags(bindings::RVCAP_CONST_VM_DONTEXPAND);
    }

    /// Sets `VM_DONTDUMP`: core dumps leave it out.
    pub(crate) fn set_dontdump(&self) {
        self.set_flags(bindings::RVCAP_CONST_VM_DONTDUMP);
    }

    fn set_flags(&self, flags: c_ulong) {
        // SAFETY: the VMA is valid, and `vm_flags_set` needs the mmap lock
        // held for writing, which the caller of our hook holds (type
        // invariant); these flags are valid on any VMA.
        unsafe { bindings::rvcap_vm_flags_set(self.as_ptr(), flags) };
    }
}

/// What rvcap does with a [`VmaNew`] beyond the kernel crate's methods.
pub(crate) trait VmaNewExt {
    /// Whether it is `MAP_SHARED`.
    fn is_shared(&self) -> bool;
    /// The page offset asked for (the cookie naming a buffer).
    fn page_offset(&self) -> usize;
    /// Its length in pages.
    fn page_count(&self) -> usize;
    /// Maps the pages of MMAP memory, `user_pages`, from their start;
    /// `EINVAL` for a VMA larger than the memory.
    fn map_buffer(&self, user_pages: &Arc<UserPages>) -> Result;
}

/// The VMA as rvcap's bindings name it (the kernel crate's on 7.3 are the
/// same C structure).
fn raw(vma: &VmaNew) -> *mut bindings::vm_area_struct {
    vma.as_ptr().cast()
}

impl VmaNewExt for VmaNew {
    fn is_shared(&self) -> bool {
        self.flags() & VM_SHARED != 0
    }

    fn page_offset(&self) -> usize {
        // SAFETY: a valid VMA that only we access during setup (the
        // invariant of `VmaNew`), so the read does not race.
        unsafe { (*raw(self)).vm_pgoff }
    }

    fn page_count(&self) -> usize {
        // SAFETY: reads the bounds of a valid VMA (as above).
        unsafe { bindings::rvcap_vma_pages(raw(self)) as usize }
    }

    fn map_buffer(&self, user_pages: &Arc<UserPages>) -> Result {
        if self.page_count() > user_pages.pages().len() {
            return Err(EINVAL);
        }
        // The offset was a cookie naming the buffer; the pages start at 0.
        // SAFETY: a valid VMA that only we access during setup (the
        // invariant of `VmaNew`), so the write does not race; any offset is
        // valid before the pages are mapped.
        unsafe { (*raw(self)).vm_pgoff = 0 };
        map_pages(self, user_pages)
    }
}

/// Maps `pages` into `vma` from its page offset on, as the `mmap` of an
/// exported dma-buf (the dma-buf core checked the range against its size;
/// `vm_map_pages` checks it again).
pub(super) fn map_exported(vma: &VmaNew, pages: &Arc<UserPages>) -> Result {
    map_pages(vma, pages)
}

/// Maps `user_pages` into `vma` from its page offset `vm_pgoff` on, keeping
/// them alive and counted as mapped while the VMA (or a copy) exists.
fn map_pages(vma: &VmaNew, user_pages: &Arc<UserPages>) -> Result {
    let pages = user_pages.pages();
    // SAFETY: the VMA is being set up (the invariant of `VmaNew`); the page
    // array holds valid pages, which `vm_map_pages` takes references to.
    kernel::error::to_result(unsafe {
        bindings::vm_map_pages(
            raw(vma),
            pages.as_ptr().cast::<*mut bindings::page>().cast_mut(),
            pages.len() as c_ulong,
        )
    })?;
    vma.set_dontexpand();
    vma.set_dontdump();
    user_pages.user_mapping(true);
    // The VMA's reference, dropped by `vma_close`.
    let private = types::into_foreign(user_pages.clone());
    // SAFETY: a valid VMA that only we access during setup (the invariant
    // of `VmaNew`), so the write does not race; `vma_open` and `vma_close`
    // (set next) take this reference back.
    unsafe { (*raw(vma)).vm_private_data = private };
    // SAFETY: as above; `VM_OPS` is static, and its callbacks find the
    // reference they expect in `vm_private_data`, set above.
    unsafe { (*raw(vma)).vm_ops = &VM_OPS };
    Ok(())
}

/// # Safety
///
/// Called by the mm core when a VMA made by [`VmaNewExt::map_buffer`] is
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
/// Called by the mm core when a VMA made by [`VmaNewExt::map_buffer`] (or copied
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
