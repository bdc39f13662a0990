// SPDX-License-Identifier: GPL-2.0

//! What the bus abstractions ([`super::platform`], [`super::pci`]) share,
//! as the `kernel` crate's own `driver` module does for its buses: one
//! [`Registration`] for every bus, generic over the bus's
//! [`RegistrationOps`] (the kernel crate's `driver::Registration` and
//! `driver::RegistrationOps`), whose pinned allocation holds the bus's
//! driver structure next to the driver's context, which probe finds again
//! from the device's `dev.driver`; and what a probing driver does: its
//! device's DMA set-up, device links, and the bound device that
//! device-managed resources are made for.

use super::bindings;
use super::device::{BoundDevice, Device, DeviceRef};
use super::sync::aref::ARef;
use super::types::{self, ForeignOwnable, Opaque};
use kernel::error::{from_result, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;

/// A bus's driver structure, embedding the `struct device_driver` that the
/// driver core registers.
///
/// # Safety
///
/// `DRIVER_OFFSET` is the offset of that embedded `struct device_driver`
/// (the one a bound device's `dev.driver` points at), and all-zero bytes are
/// a valid value of the type.
pub(crate) unsafe trait BusDriver {
    /// Where the `struct device_driver` is.
    const DRIVER_OFFSET: usize;
}

// SAFETY: `driver` is the `device_driver` `__platform_driver_register`
// registers; a plain C structure of pointers and integers.
unsafe impl BusDriver for bindings::platform_driver {
    const DRIVER_OFFSET: usize = core::mem::offset_of!(bindings::platform_driver, driver);
}

// SAFETY: `driver` is the `device_driver` `__pci_register_driver` registers;
// a plain C structure of pointers and integers.
unsafe impl BusDriver for bindings::pci_driver {
    const DRIVER_OFFSET: usize = core::mem::offset_of!(bindings::pci_driver, driver);
}

/// How a bus registers a driver and takes it back: the bus's half of a
/// [`Registration`] (the kernel crate's `driver::RegistrationOps`, which
/// its `platform::Adapter` and `pci::Adapter` implement).
///
/// # Safety
///
/// When `register` succeeds, the bus calls for `reg` only callbacks that
/// find their context with [`probe`] and give it back with [`remove`] for
/// a `DriverInner<Self::RegType, Self::Context>`; when it fails, nothing
/// stays registered or refers to `reg`. After `unregister` returns, the
/// bus neither calls back for `reg` nor reads it.
pub(crate) unsafe trait RegistrationOps {
    /// The bus's driver structure.
    type RegType: BusDriver;
    /// What the registration keeps for every probe (`'static`: a leaked
    /// registration stays registered, and its probes may still read it).
    type Context: Send + Sync + 'static;

    /// Fills in `reg` and registers it with the bus.
    ///
    /// # Safety
    ///
    /// `reg` is all-zero, not registered, and the `drv` of a pinned
    /// `DriverInner<Self::RegType, Self::Context>` which, if this
    /// succeeds, stays in place until [`RegistrationOps::unregister`].
    unsafe fn register(reg: *mut Self::RegType, module: &'static ThisModule) -> Result;

    /// Unregisters `reg`; the bus unbinds its devices first.
    ///
    /// # Safety
    ///
    /// `reg` was registered by [`RegistrationOps::register`], and is
    /// unregistered once.
    unsafe fn unregister(reg: *mut Self::RegType);
}

/// A driver registered with its bus, unregistered on drop; what the bus
/// calls finds the driver's context, kept here (the kernel crate's
/// `driver::Registration`, which keeps no context).
///
/// # Invariants
///
/// `inner.drv` was registered by `T::register`, and is not moved until
/// `drop` unregisters it.
pub(crate) struct Registration<T: RegistrationOps> {
    inner: Pin<KBox<DriverInner<T::RegType, T::Context>>>,
}

// SAFETY: after registration the bus owns the structure's use; this type
// only unregisters it and, through the bus's own functions (such as
// `driver_attach`), asks the driver core to act on it, which may happen on
// any thread; the context is `Send + Sync`.
unsafe impl<T: RegistrationOps> Send for Registration<T> {}
// SAFETY: shared access offers only driver-core calls, which take the
// driver core's own locks, and the context, which is `Sync`.
unsafe impl<T: RegistrationOps> Sync for Registration<T> {}

impl<T: RegistrationOps> Registration<T> {
    /// Registers a driver with its bus, keeping `context` for its probes.
    /// Devices present may bind (probe) before this returns.
    pub(crate) fn new(module: &'static ThisModule, context: T::Context) -> Result<Self> {
        let inner = DriverInner::<T::RegType, T::Context>::new(context)?;
        // SAFETY: `DriverInner::new` zeroed `drv`, which nothing has
        // registered; it is pinned in its box, which `Self` keeps until
        // `drop` unregisters it (or which is freed at once, unregistered,
        // if this fails).
        unsafe { T::register(inner.raw(), module) }?;
        // INVARIANT: registered above; pinned in its box.
        Ok(Self { inner })
    }

    /// The registered driver structure, for the bus's own functions.
    pub(super) fn raw(&self) -> *mut T::RegType {
        self.inner.raw()
    }
}

impl<T: RegistrationOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant), unregistered once, here.
        unsafe { T::unregister(self.inner.raw()) };
    }
}

/// A bus's driver structure and the driver's context, in one allocation.
///
/// # Invariants
///
/// Pinned (only [`DriverInner::new`] makes one, in a pinned box), so once
/// the bus registers `drv`, the `dev.driver` of a device bound to it points
/// into this allocation.
#[pin_data]
struct DriverInner<R: BusDriver, C> {
    #[pin]
    drv: Opaque<R>,
    context: C,
}

impl<R: BusDriver, C> DriverInner<R, C> {
    /// `context` next to an all-zero driver structure, for the bus's
    /// registration to fill in.
    fn new(context: C) -> Result<Pin<KBox<Self>>> {
        let inner = KBox::pin_init(
            pin_init!(Self {
                drv: Opaque::uninit(),
                context,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: our own, pinned, writable allocation; all-zero is a valid
        // `R` (`BusDriver`).
        unsafe { core::ptr::write_bytes(inner.drv.get(), 0, 1) };
        // INVARIANT: pinned in its box.
        Ok(inner)
    }

    /// The driver structure.
    fn raw(&self) -> *mut R {
        self.drv.get()
    }

    /// The context of the driver `dev` is being probed by.
    ///
    /// # Safety
    ///
    /// `dev` is being probed by the driver registered as the `drv` of a
    /// `DriverInner<R, C>`, which stays registered, and so alive, for `'a`.
    unsafe fn context_of<'a>(dev: *mut bindings::device) -> &'a C {
        // By the caller's contract the driver core set `dev.driver` to the
        // `device_driver` embedded at `DRIVER_OFFSET` (`BusDriver`) in the
        // `drv` of a live `DriverInner<R, C>`.
        // SAFETY: `dev` is a live device being probed (as above).
        let driver = unsafe { (*dev).driver };
        // SAFETY: as above: `DRIVER_OFFSET` bytes back from the embedded
        // `device_driver` is the start of the bus driver, in the same
        // allocation.
        let drv = unsafe { driver.cast::<u8>().sub(R::DRIVER_OFFSET) }.cast::<Opaque<R>>();
        // SAFETY: as above: `drv` is the `drv` field of a live
        // `DriverInner<R, C>`, so the container is in the same allocation.
        // (`*mut` on 7.3, `*const` on 6.12.)
        let inner: *const Self = unsafe { kernel::container_of!(drv, Self, drv) };
        // SAFETY: as above: the `DriverInner` stays registered, and so
        // alive, for `'a`.
        unsafe { &(*inner).context }
    }
}

/// The bus-independent part of a probe callback: runs `probe` with the
/// driver's context and keeps what it returns as the device's driver data,
/// for [`remove`].
///
/// # Safety
///
/// As for [`DriverInner::context_of`]; `dev`'s driver data is this
/// driver's, and only [`remove`] takes it back.
pub(super) unsafe fn probe<R: BusDriver, C, D: ForeignOwnable>(
    dev: *mut bindings::device,
    probe: impl FnOnce(&C) -> Result<D>,
) -> c_int {
    from_result(|| {
        // SAFETY: the caller's contract is `context_of`'s.
        let context = unsafe { DriverInner::<R, C>::context_of(dev) };
        let data = probe(context)?;
        // SAFETY: the device is being probed by us; `remove` takes the data
        // back with `from_foreign`, once.
        unsafe { bindings::rvcap_dev_set_drvdata(dev, types::into_foreign(data)) };
        Ok(0)
    })
}

/// The bus-independent part of a remove callback: hands the driver data
/// [`probe`] stored to `remove`.
///
/// # Safety
///
/// `dev` was bound by [`probe`] with data of type `D`, and is being
/// removed (this runs once per successful probe).
pub(super) unsafe fn remove<D: ForeignOwnable>(dev: *mut bindings::device, remove: impl FnOnce(D)) {
    // SAFETY: `dev` is a live device bound to us (the caller's contract).
    let foreign = unsafe { bindings::rvcap_dev_get_drvdata(dev) };
    // SAFETY: by the caller's contract, the driver data is what `probe`
    // stored with `into_foreign`, taken back once here.
    let data = unsafe { <D as ForeignOwnable>::from_foreign(foreign) };
    remove(data);
}

/// A device being probed: the DMA set-up every bus's probe may do.
///
/// # Safety
///
/// [`Probing::device`] is a device the driver core is running this
/// driver's probe for, as long as the implementing value lives.
pub(crate) unsafe trait Probing {
    /// The embedded `struct device`.
    fn device(&self) -> &Device;

    /// A counted reference to the embedded `struct device`.
    fn device_ref(&self) -> DeviceRef {
        ARef::from(self.device())
    }

    /// The device as bound to this driver, for resources that live no
    /// longer than the binding ([`super::devres::Devres`]).
    fn bound_device(&self) -> &BoundDevice {
        // SAFETY: the device is being probed by this driver for as long as
        // `self` lives (trait contract), which bounds the reference.
        unsafe { self.device().as_bound() }
    }

    /// Sets the streaming and coherent DMA masks to `bits` bits.
    fn set_dma_mask_and_coherent(&self, bits: u32) -> Result {
        // SAFETY: the device is being probed by us (trait contract); probe
        // is where a driver sets its device's DMA parameters.
        to_result(unsafe {
            bindings::rvcap_dma_coerce_mask_and_coherent(self.device().as_raw(), bits)
        })
    }

    /// Sets the longest DMA segment the device handles.
    fn set_dma_max_seg_size(&self, size: u32) {
        // SAFETY: as in `set_dma_mask_and_coherent`.
        unsafe { bindings::rvcap_dma_set_max_seg_size(self.device().as_raw(), size) };
    }

    /// Makes this device a consumer of `supplier` (a managed device link,
    /// `Documentation/driver-api/device_link.rst`): before `supplier`'s
    /// driver unbinds (its `remove`, on unbind, hot-unplug or sysfs
    /// `remove`), the driver core unbinds this device, whose `remove` runs
    /// first; and it shuts this device down first. The driver core deletes
    /// the link itself when this device unbinds or its probe fails
    /// (`DL_FLAG_AUTOREMOVE_CONSUMER`), so nothing is kept here to drop.
    /// If `supplier` is already unbinding (or unbound) the link could not
    /// unbind this device, so this fails with `ENODEV`, and the probe must
    /// fail with it (which deletes the link).
    fn link_to_supplier(&self, supplier: &Device) -> Result {
        // SAFETY: both devices are live: ours is being probed (trait
        // contract), `supplier` is borrowed for the call, and the link
        // holds references of its own to both. A managed link is owned by
        // the driver core, which deletes it when this device unbinds or
        // fails its probe, or the supplier goes; the returned pointer is
        // only tested for null, never used or kept.
        let link = unsafe {
            bindings::device_link_add(
                self.device().as_raw(),
                supplier.as_raw(),
                bindings::RVCAP_CONST_DL_FLAG_AUTOREMOVE_CONSUMER,
            )
        };
        if link.is_null() {
            // Most likely the supplier is being deleted (no longer on the
            // PM list); else a dependency cycle, bad flags, or no memory:
            // the call tells none apart.
            return Err(ENODEV);
        }
        // A supplier that began unbinding before the link was made has
        // unbound its consumers already, and would leave this one bound.
        // For a supplier that never binds again once unbound (no bind
        // attributes, deleted on removal), seen bound after the link was
        // made, it was bound when it was made. One window stays: a link
        // made just after the supplier's unbind began starts in
        // supplier-unbind state, and if the supplier's driver clean-up
        // reaches it before this probe's failure deletes it, the driver
        // core WARNs (a probe racing a hot-unplug). Taking the supplier's
        // device lock here would close it but invert the supplier-then-
        // consumer order `driver_attach` from its probe takes.
        // SAFETY: `supplier` is live (borrowed); its links' status is only
        // read.
        if !unsafe { bindings::rvcap_device_links_bound(supplier.as_raw()) } {
            return Err(ENODEV);
        }
        Ok(())
    }
}
