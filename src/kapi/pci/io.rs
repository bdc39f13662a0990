// SPDX-License-Identifier: GPL-2.0

//! A PCI memory BAR reserved for its driver and mapped for MMIO, in the
//! shape of 7.3's `kernel::pci::{Bar, DevresBar}` (which `kapi::pci` is
//! there); 6.12's kernel crate has no `pci`, so this file is built for
//! 6.12 only. The kernel crate's `Bar<'a>` borrows its bound device, and
//! its `DevresBar` (a `DevresLt`) hands it out for no longer than an
//! access guard; here the lifetime only marks that borrow of the guard,
//! since this `Bar` holds its device counted instead.

use super::ProbingDevice;
use crate::kapi::bindings;
use crate::kapi::device::{BoundDevice, DeviceRef};
use crate::kapi::devres::Devres;
use crate::kapi::driver::Probing;
use crate::kapi::io::Io;
use crate::kapi::revocable::RevocableGuard;
use crate::kapi::str::CStr;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::error::from_err_ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// A PCI memory BAR reserved for its driver and mapped for MMIO; unmapped,
/// then released, on drop. Only handed out inside a [`DevresBar`] of its
/// device ([`ProbingDevice::iomap_region`]), so it lives no longer than
/// the binding. Accesses are [`Io`]'s bounds-checked 64-bit register
/// reads and writes.
///
/// # Invariants
///
/// `base` is the mapping of the `len` bytes of memory BAR `num` of `pdev`,
/// which is reserved (`rvcap_pci_iomap_region`), both undone once, in
/// `drop`; `_dev` (the device embedded in `pdev`) keeps `pdev` alive. A
/// `Bar` is made only by [`ProbingDevice::iomap_region`], straight into a
/// `DevresBar` of `pdev`'s device, so it is reached only while that device
/// is bound to the driver that made it.
pub(crate) struct Bar<'a> {
    pdev: *mut bindings::pci_dev,
    _dev: DeviceRef,
    base: NonNull<c_void>,
    len: usize,
    num: c_int,
    /// Covariant, as the kernel crate's `&'a Device<Bound>`.
    _borrow: PhantomData<&'a ()>,
}

// SAFETY: MMIO accessors may be used from any thread; the pointers are only
// passed to them and to the C that undoes the mapping.
unsafe impl Send for Bar<'_> {}
// SAFETY: as for `Send`: register accesses through a shared reference are
// what the device serialises (the caller orders them, as with any device).
unsafe impl Sync for Bar<'_> {}

impl Bar<'static> {
    /// Reserves and maps BAR `num` of the device being probed.
    pub(super) fn new(pdev: &ProbingDevice, num: u32, name: &'static CStr) -> Result<Self> {
        let num = c_int::try_from(num).map_err(|_| ENODEV)?;
        let mut len = 0;
        // SAFETY: the device is being probed by us (type invariant of
        // `ProbingDevice`), so its resources are assigned; the helper
        // checks that BAR `num` exists and is memory; `name` is 'static,
        // as the reservation keeps it.
        let base = unsafe {
            bindings::rvcap_pci_iomap_region(pdev.raw(), num, name.as_char_ptr(), &mut len)
        };
        // An error pointer or a mapping, never NULL.
        let base = NonNull::new(from_err_ptr(base)?).ok_or(ENOMEM)?;
        // INVARIANT: `base` maps the `len` bytes of BAR `num`, reserved; we
        // hold a reference to the device, so `pdev` stays valid.
        Ok(Self {
            pdev: pdev.raw(),
            _dev: pdev.device_ref(),
            base,
            len,
            num,
            _borrow: PhantomData,
        })
    }
}

impl Bar<'_> {
    /// The address of the 8-byte register at `offset`, if it is in the BAR.
    fn register(&self, offset: usize) -> Result<*mut c_void> {
        if offset % 8 != 0
            || offset
                .checked_add(8)
                .filter(|&end| end <= self.len)
                .is_none()
        {
            return Err(EINVAL);
        }
        // In bounds (checked above) of the mapping (type invariant).
        Ok(self.base.as_ptr().wrapping_byte_add(offset))
    }
}

impl<'a> Io<'a> for &'a Bar<'_> {
    fn try_read64(self, offset: usize) -> Result<u64> {
        let reg = self.register(offset)?;
        // SAFETY: `reg` is an aligned register inside the mapped BAR.
        Ok(unsafe { bindings::rvcap_mmio_read64(reg) })
    }

    fn try_write64(self, value: u64, offset: usize) -> Result {
        let reg = self.register(offset)?;
        // SAFETY: `reg` is an aligned register inside the mapped BAR.
        unsafe { bindings::rvcap_mmio_write64(value, reg) };
        Ok(())
    }
}

impl Drop for Bar<'_> {
    fn drop(&mut self) {
        // SAFETY: BAR `num` of `pdev`, which is alive, mapped at `base` and
        // reserved, undone once, here (type invariant). No access is left:
        // they go through `&self`.
        unsafe { bindings::rvcap_pci_iounmap_region(self.pdev, self.num, self.base.as_ptr()) };
    }
}

/// A [`Bar`] for as long as its device stays bound (7.3's
/// `DevresLt<Bar<'static>>`): the unbind revokes (drops) it even if the
/// driver still holds this, and [`DevresBar::try_access`] fails from then
/// on.
pub(crate) struct DevresBar(Devres<Bar<'static>>);

impl DevresBar {
    /// `bar` of the device `dev`, which is being probed.
    pub(super) fn new(dev: &BoundDevice, bar: Bar<'static>) -> Result<Self> {
        Ok(Self(Devres::new(dev, bar)?))
    }

    /// The BAR, unless the device has unbound. The guard holds RCU's read
    /// lock: no sleeping until it is dropped.
    pub(crate) fn try_access(&self) -> Option<DevresGuard<'_>> {
        self.0.try_access().map(DevresGuard)
    }
}

/// Access to the [`Bar`] of a [`DevresBar`], borrowed for `'a` (7.3's
/// `devres::DevresGuard`).
pub(crate) struct DevresGuard<'a>(RevocableGuard<'a, Bar<'static>>);

impl<'a> Deref for DevresGuard<'a> {
    type Target = Bar<'a>;

    fn deref(&self) -> &Bar<'a> {
        &self.0
    }
}
