// SPDX-License-Identifier: GPL-2.0

//! `struct device` and its reference count, as the `kernel` crate's
//! `kernel::device::Device` (whose raw pointer 6.12 keeps crate-private).

use super::bindings;
use super::str::CStr;
#[cfg(rvcap_linux_7_3)]
use super::str::CStrExt as _;
use super::sync::aref::{ARef, AlwaysRefCounted};
use super::types::Opaque;
use core::ptr::NonNull;

/// A device of the driver core.
///
/// # Invariants
///
/// A `&Device` is a valid, initialised, reference-counted `struct device`;
/// a reference obtained through [`ARef`] keeps it allocated
/// (`get_device`/`put_device`), though not necessarily registered. Its name
/// is set before it is added and stays valid while it is allocated.
#[repr(transparent)]
pub(crate) struct Device(Opaque<bindings::device>);

impl Device {
    /// The device behind a pointer from the C side.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid, initialised device, and it must stay
    /// allocated for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::device) -> &'a Self {
        // SAFETY: `Device` is `repr(transparent)` over `Opaque<device>`, which
        // has the layout of `device`; the caller guarantees it is live for 'a.
        // INVARIANT: the caller's guarantee is the type invariant.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The C `struct device`.
    pub(crate) fn as_raw(&self) -> *mut bindings::device {
        self.0.get()
    }

    /// The device's name, for example `rvcap.0`.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: by the type invariant the device is live and named.
        let name = unsafe { bindings::rvcap_dev_name(self.as_raw()) };
        // SAFETY: `dev_name` returns the device's NUL-terminated name, which
        // lives as long as the device (and so `&self`).
        unsafe { CStr::from_char_ptr(name) }
    }

    /// Whether a driver is bound to the device (its probe succeeded).
    pub(crate) fn is_bound(&self) -> bool {
        // SAFETY: the device is live (type invariant).
        unsafe { bindings::rvcap_device_is_bound(self.as_raw()) }
    }

    /// The device's DMA mask.
    pub(crate) fn dma_mask(&self) -> u64 {
        // SAFETY: the device is live (type invariant); a device without a
        // mask pointer reads as 0.
        unsafe { bindings::rvcap_dma_get_mask(self.as_raw()) }
    }

    /// Whether the device's DMA is coherent with the CPU's caches (x86:
    /// always; arm64: only if firmware says so).
    pub(crate) fn is_dma_coherent(&self) -> bool {
        // SAFETY: the device is live (type invariant); its DMA coherence is
        // set up before a driver binds and not changed afterwards.
        unsafe { bindings::rvcap_dev_is_dma_coherent(self.as_raw()) }
    }

    /// The device as bound to its driver: what a device-bound resource
    /// ([`super::devres::Devres`]) is made for.
    ///
    /// # Safety
    ///
    /// The device is bound to a driver, or being probed by one (whose
    /// failure releases its device-managed resources as an unbind does),
    /// for as long as the returned reference lives.
    pub(crate) unsafe fn as_bound(&self) -> &BoundDevice {
        #[cfg(rvcap_linux_7_3)]
        // SAFETY: the `struct device` is valid and referenced for as long
        // as `&self` (type invariant), which bounds the result (the kernel
        // crate's bindings name the same C type); it is bound to a driver
        // as long (the caller's contract), which is the meaning of the
        // kernel crate's `Bound` context.
        return unsafe { BoundDevice::from_raw(self.as_raw().cast()) };
        #[cfg(not(rvcap_linux_7_3))]
        // SAFETY: `BoundDevice` is `repr(transparent)` over `Device`, so
        // the cast keeps the layout and the lifetime of `&self`.
        // INVARIANT: bound as long as the reference lives (the caller's
        // contract).
        return unsafe { &*core::ptr::from_ref(self).cast::<BoundDevice>() };
    }
}

/// A device bound to a driver, for as long as a reference to it lives:
/// the kernel crate's `Device<Bound>` on 7.3 (which `Devres::new` takes),
/// the same promise in a type of rvcap's own on 6.12.
#[cfg(rvcap_linux_7_3)]
pub(crate) type BoundDevice = kernel::device::Device<kernel::device::Bound>;

/// A device bound to a driver, for as long as a reference to it lives:
/// the kernel crate's `Device<Bound>` on 7.3 (which `Devres::new` takes),
/// the same promise in a type of rvcap's own on 6.12.
///
/// # Invariants
///
/// A `&BoundDevice` is a [`Device`] that is bound to a driver, or being
/// probed by one, for the lifetime of the reference (the only way to one
/// is [`Device::as_bound`]).
#[cfg(not(rvcap_linux_7_3))]
#[repr(transparent)]
pub(crate) struct BoundDevice(Device);

#[cfg(not(rvcap_linux_7_3))]
impl core::ops::Deref for BoundDevice {
    type Target = Device;

    fn deref(&self) -> &Device {
        &self.0
    }
}

// SAFETY: `get_device` and `put_device` keep a `struct device` allocated for
// as long as a reference is held, which is what `ARef` needs; a `&Device`
// always has a non-zero count (type invariant).
unsafe impl AlwaysRefCounted for Device {
    fn inc_ref(&self) {
        // SAFETY: the device is live (type invariant).
        unsafe { bindings::get_device(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller gives up a reference that `inc_ref` took.
        unsafe { bindings::put_device(obj.cast().as_ptr()) };
    }
}

// SAFETY: the driver core locks and reference-counts `struct device`
// internally; every operation offered here may run on any thread.
unsafe impl Send for Device {}
// SAFETY: as for `Send`; shared references only call thread-safe functions.
unsafe impl Sync for Device {}

/// A counted reference to a device (what other types hold to use it).
pub(crate) type DeviceRef = ARef<Device>;
