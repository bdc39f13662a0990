// SPDX-License-Identifier: GPL-2.0

//! PCI drivers: [`Registration`] (the generic [`driver::Registration`]
//! with this bus's [`Adapter`]) registers a [`Driver`] for the devices of
//! its ID table; `probe` gets the device enabled as a bus master (with a
//! [`BusMaster`] to stop its DMA), its memory BARs reserved and mapped for
//! as long as it stays bound ([`Bar`], in a [`DevresBar`]), and returns the
//! data the device keeps while bound (its driver data, given back to
//! `remove`). Unregisters on drop.
//!
//! [`Bar`] and [`DevresBar`] are the kernel crate's on 7.3; 6.12's crate
//! has none, and `pci/io.rs` makes the same shape for it.

use super::bindings;
use super::device::{Device, DeviceRef};
use super::devres::Devres;
use super::driver::{self, Probing};
use super::str::CStr;
use core::marker::PhantomData;
use kernel::error::to_result;
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::types::{ForeignOwnable, Opaque};

#[cfg(not(rvcap_linux_7_3))]
mod io;

#[cfg(not(rvcap_linux_7_3))]
pub(crate) use self::io::{Bar, DevresBar};
#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::pci::{Bar, DevresBar};

/// A PCI device being probed.
///
/// # Invariants
///
/// A PCI device for which the PCI core is running this driver's probe, for
/// the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct ProbingDevice(Opaque<bindings::pci_dev>);

impl ProbingDevice {
    fn raw(&self) -> *mut bindings::pci_dev {
        self.0.get()
    }

    /// Enables the device and makes it a bus master (it may start DMA).
    /// Undone when the driver unbinds (managed: `pcim_enable_device`).
    /// What it returns stops the device's DMA until then.
    pub(crate) fn enable_bus_master(&self) -> Result<Devres<BusMaster>> {
        // SAFETY: the device is being probed by us (type invariant).
        to_result(unsafe { bindings::pcim_enable_device(self.raw()) })?;
        // SAFETY: as above; the device is enabled.
        unsafe { bindings::pci_set_master(self.raw()) };
        // INVARIANT: straight into a `Devres` of the device being probed.
        Devres::new(
            self.bound_device(),
            BusMaster {
                pdev: self.raw(),
                _dev: self.device_ref(),
            },
        )
    }

    /// Reserves memory BAR `bar` for `name` (the driver: the owner
    /// `/proc/iomem` shows) and maps it for MMIO, for no longer than the
    /// device stays bound: the mapping and the reservation go when the
    /// returned [`DevresBar`] is dropped or the device unbinds, whichever
    /// comes first, and after the unbind every access through it fails.
    /// `ENODEV` unless the BAR exists and is memory. The kernel crate's
    /// `pci::Device::iomap_region` followed by `Bar::into_devres`.
    #[cfg(rvcap_linux_7_3)]
    pub(crate) fn iomap_region(&self, bar: u32, name: &'static CStr) -> Result<DevresBar> {
        // The kernel crate maps an I/O-port BAR too, whose cookie its
        // 64-bit MMIO accessors (`readq`) must not be given.
        // SAFETY: the device is being probed by us (type invariant), so
        // its resources are assigned; the helper only reads them.
        if !unsafe { bindings::rvcap_pci_bar_is_mem(self.raw(), bar) } {
            return Err(ENODEV);
        }
        self.pci_device()?.iomap_region(bar, name)?.into_devres()
    }

    /// Reserves memory BAR `bar` for `name` (the driver: the owner
    /// `/proc/iomem` shows) and maps it for MMIO, for no longer than the
    /// device stays bound: the mapping and the reservation go when the
    /// returned [`DevresBar`] is dropped or the device unbinds, whichever
    /// comes first, and after the unbind every access through it fails.
    /// `ENODEV` unless the BAR exists and is memory. As 7.3's kernel
    /// crate's `pci::Device::iomap_region` followed by `Bar::into_devres`.
    #[cfg(not(rvcap_linux_7_3))]
    pub(crate) fn iomap_region(&self, bar: u32, name: &'static CStr) -> Result<DevresBar> {
        DevresBar::new(self.bound_device(), Bar::new(self, bar, name)?)
    }

    /// The device as the kernel crate's bound PCI device, for the
    /// probe: what its `iomap_region` is a method of. Public API only: the
    /// crate's `device::Device<Bound>` that `bound_device` makes (with the
    /// crate's public `Device::from_raw`, for the probe, which is a bound
    /// scope), converted by the crate's safe `TryFrom` (which checks the
    /// bus). That conversion does not tie its result's lifetime to its
    /// argument's (the impl's two elided lifetimes are independent); this
    /// signature ties it to `&self`'s.
    #[cfg(rvcap_linux_7_3)]
    fn pci_device(&self) -> Result<&kernel::pci::Device<kernel::device::Bound>> {
        <&kernel::pci::Device<kernel::device::Bound>>::try_from(self.bound_device())
    }
}

// SAFETY: the embedded device is the one being probed (type invariant).
unsafe impl Probing for ProbingDevice {
    fn device(&self) -> &Device {
        // SAFETY: the PCI device is live while probed (type invariant), so
        // the projection stays inside it.
        let dev = unsafe { core::ptr::addr_of_mut!((*self.raw()).dev) };
        // SAFETY: as above: the `struct device` it embeds is live as long.
        unsafe { Device::from_raw(dev) }
    }
}

/// A PCI device that its driver made a bus master, to stop its DMA with.
/// Only handed out inside a [`Devres`] of its device
/// ([`ProbingDevice::enable_bus_master`]), so it lives no longer than the
/// binding. Apart from the [`Bar`] because the kernel crate's `Bar` (7.3)
/// gives no way back to its device, and its `pci::Device` has no
/// `clear_master` and keeps its `struct pci_dev` to itself.
///
/// # Invariants
///
/// `pdev` is the PCI device that `_dev` (the device embedded in it) keeps
/// alive. A `BusMaster` is made only by
/// [`ProbingDevice::enable_bus_master`], straight into a `Devres` of
/// `pdev`'s device, so it is reached only while that device is bound to
/// the driver that made it.
pub(crate) struct BusMaster {
    pdev: *mut bindings::pci_dev,
    _dev: DeviceRef,
}

// SAFETY: `pdev` is only passed to `pci_clear_master`, which may be called
// from any thread.
unsafe impl Send for BusMaster {}
// SAFETY: as for `Send`: `stop_dma` through a shared reference only clears
// the bus-master bit of the device's command register. `pci_clear_master`
// reads and writes the register (and the device's `is_busmaster` bit)
// without a lock of its own: concurrent calls clear the same bit, and the
// managed disable at unbind, which also writes it, runs after the
// `BusMaster`'s `Devres` is revoked (its action was added later, so it is
// released earlier), so after any `stop_dma` through it has returned.
unsafe impl Sync for BusMaster {}

impl BusMaster {
    /// Stops the device's DMA (clears its bus-master bit): for a device
    /// that does not finish a transfer, which may still write somewhere.
    pub(crate) fn stop_dma(&self) {
        // SAFETY: `pdev` is alive (type invariant), and bound to the driver
        // that made it a bus master (a `BusMaster` is only reached through
        // its `Devres`); clearing the bus-master bit only stops the device.
        unsafe { bindings::rvcap_pci_clear_master(self.pdev) };
    }
}

/// A terminated table of the IDs a [`Driver`] binds to, whatever its
/// length (the kernel crate's `device_id::IdTable`, which its
/// `pci::Driver::ID_TABLE` names as a `&'static dyn`).
///
/// # Safety
///
/// [`IdTable::as_ptr`] is the first entry of an array that ends with an
/// all-zero entry (the terminator the PCI core looks for), lives as long
/// as `self` and is never written (the PCI core reads it unsynchronized
/// while a driver is registered).
pub(crate) unsafe trait IdTable: Sync {
    /// The first entry.
    fn as_ptr(&self) -> *const bindings::pci_device_id;
}

/// An ID table of `N - 1` vendor and device IDs (the kernel crate's
/// `device_id::IdArray`).
///
/// # Invariants
///
/// `ids` ends with an all-zero entry, the terminator the PCI core looks for.
pub(crate) struct IdArray<const N: usize> {
    ids: [bindings::pci_device_id; N],
}

// SAFETY: `ids` is part of `self`, ends with the terminator (type
// invariant) and is never written after construction (no method takes
// `&mut self`).
unsafe impl<const N: usize> IdTable for IdArray<N> {
    fn as_ptr(&self) -> *const bindings::pci_device_id {
        self.ids.as_ptr()
    }
}

impl<const N: usize> IdArray<N> {
    /// Matches each `(vendor, device)` of `ids` (any subsystem); `N` must be
    /// one more than `ids.len()` (the terminator).
    pub(crate) const fn new(ids: &[(u16, u16)]) -> Self {
        assert!(
            ids.len() + 1 == N,
            "an ID table has one entry more than its IDs"
        );
        // SAFETY: all-zero is a valid `pci_device_id` (integers), and the
        // terminator.
        let mut table: [bindings::pci_device_id; N] =
            unsafe { core::mem::MaybeUninit::zeroed().assume_init() };
        let mut i = 0;
        while i < ids.len() {
            table[i].vendor = ids[i].0 as u32;
            table[i].device = ids[i].1 as u32;
            table[i].subvendor = !0;
            table[i].subdevice = !0;
            i += 1;
        }
        // INVARIANT: entry `N - 1` stays zero.
        Self { ids: table }
    }
}

/// A PCI driver.
pub(crate) trait Driver {
    /// What the registration keeps for every probe.
    type Context: Send + Sync + 'static;
    /// What a bound device keeps until `remove`.
    type Data: ForeignOwnable + Send + Sync;
    /// The driver's name.
    const NAME: &'static CStr;
    /// The devices it binds to.
    const ID_TABLE: &'static dyn IdTable;
    /// Binds to `pdev`.
    fn probe(pdev: &ProbingDevice, context: &Self::Context) -> Result<Self::Data>;
    /// Unbinds from the device `data` was made for (dropping it by default).
    fn remove(data: Self::Data) {
        drop(data);
    }
}

/// The PCI bus's half of a driver [`Registration`] (the kernel crate's
/// `pci::Adapter`).
pub(crate) struct Adapter<T: Driver>(PhantomData<T>);

/// A registered PCI driver, unregistered on drop.
pub(crate) type Registration<T> = driver::Registration<Adapter<T>>;

// SAFETY: `register` registers `probe_callback` and `remove_callback`, which
// find the context with `driver::probe` and give the data back with
// `driver::remove` for a `DriverInner<pci_driver, T::Context>`;
// `pci_unregister_driver` unbinds every device before it returns.
unsafe impl<T: Driver> driver::RegistrationOps for Adapter<T> {
    type RegType = bindings::pci_driver;
    type Context = T::Context;

    unsafe fn register(reg: *mut Self::RegType, module: &'static ThisModule) -> Result {
        // SAFETY: zeroed (a valid value) and not registered (the caller's
        // contract): nothing else accesses it until the registration below,
        // after the last use of this reference.
        let driver = unsafe { &mut *reg };
        driver.name = T::NAME.as_char_ptr();
        driver.id_table = T::ID_TABLE.as_ptr();
        driver.driver.suppress_bind_attrs = true;
        driver.probe = Some(Self::probe_callback);
        driver.remove = Some(Self::remove_callback);
        // SAFETY: filled in above, and in place until it is unregistered
        // (the caller's contract); the name is 'static, and the ID table
        // is 'static and terminated (`IdTable`'s contract).
        to_result(unsafe {
            bindings::__pci_register_driver(reg, module.as_ptr().cast(), T::NAME.as_char_ptr())
        })
    }

    unsafe fn unregister(reg: *mut Self::RegType) {
        // SAFETY: registered by `register`, unregistered once (the
        // caller's contract).
        unsafe { bindings::pci_unregister_driver(reg) };
    }
}

impl<T: Driver> Adapter<T> {
    /// # Safety
    ///
    /// Called by the PCI core for a device of the ID table.
    unsafe extern "C" fn probe_callback(
        pdev: *mut bindings::pci_dev,
        _id: *const bindings::pci_device_id,
    ) -> c_int {
        // SAFETY: `pdev` is being probed for the duration of this call,
        // which is the invariant of `ProbingDevice`.
        let probing = unsafe { &*pdev.cast::<ProbingDevice>() };
        // SAFETY: `pdev` is live while probed, so the projection stays
        // inside it.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        // SAFETY: the device is probed by the `pci_driver` that `register`
        // registered as the `drv` of a `DriverInner` with `T`'s context
        // (only it uses these callbacks), registered during probe; its
        // driver data is ours, taken back by `remove_callback`.
        unsafe {
            driver::probe::<bindings::pci_driver, T::Context, T::Data>(dev, |context| {
                T::probe(probing, context)
            })
        }
    }

    /// # Safety
    ///
    /// Called by the PCI core for a device that `probe_callback` bound.
    unsafe extern "C" fn remove_callback(pdev: *mut bindings::pci_dev) {
        // SAFETY: `pdev` is live while removed, so the projection stays
        // inside it.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        // SAFETY: `pdev` is bound to us by `probe_callback` with `T::Data`,
        // and is being removed.
        unsafe { driver::remove(dev, T::remove) };
    }
}
