// SPDX-License-Identifier: GPL-2.0

//! Platform devices and drivers: [`DeviceRegistration`] makes a device,
//! [`Registration`] (the generic [`driver::Registration`] with this bus's
//! [`Adapter`]) registers a [`Driver`] whose `probe` returns the data the
//! device keeps while bound (stored as its driver data, given back to
//! `remove`). Both unregister on drop.

use super::bindings;
use super::device::Device;
use super::driver::{self, Probing};
use super::str::CStr;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::{from_err_ptr, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::types::{ForeignOwnable, Opaque};

/// A platform device being probed: what a driver may configure.
///
/// # Invariants
///
/// `pdev` is a platform device for which the driver core is running this
/// driver's probe, for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct ProbingDevice(Opaque<bindings::platform_device>);

impl ProbingDevice {
    fn raw(&self) -> *mut bindings::platform_device {
        self.0.get()
    }

    /// The instance id of the device (`name.id`), 0 for a single one.
    pub(crate) fn id(&self) -> u32 {
        // SAFETY: live while probed (type invariant); `id` is set at
        // registration and not changed afterwards.
        u32::try_from(unsafe { (*self.raw()).id }).unwrap_or(0)
    }
}

// SAFETY: the embedded device is the one being probed (type invariant).
unsafe impl Probing for ProbingDevice {
    fn device(&self) -> &Device {
        // SAFETY: the platform device is live while it is probed (type
        // invariant), so the projection stays inside it.
        let dev = unsafe { core::ptr::addr_of_mut!((*self.raw()).dev) };
        // SAFETY: as above: the `struct device` it embeds is live as long,
        // and was added to the driver core before probe.
        unsafe { Device::from_raw(dev) }
    }
}

/// A platform driver.
pub(crate) trait Driver {
    /// What the registration keeps for every probe (for example a debugfs
    /// directory the devices' directories go in).
    type Context: Send + Sync + 'static;
    /// What a bound device keeps until `remove`.
    type Data: ForeignOwnable + Send + Sync;
    /// The driver's name; devices of the same name bind to it.
    const NAME: &'static CStr;
    /// Binds to `pdev`.
    fn probe(pdev: &ProbingDevice, context: &Self::Context) -> Result<Self::Data>;
    /// Unbinds from the device `data` was made for (dropping it by default).
    fn remove(data: Self::Data) {
        drop(data);
    }
}

/// The platform bus's half of a driver [`Registration`] (the kernel
/// crate's `platform::Adapter`).
pub(crate) struct Adapter<T: Driver>(PhantomData<T>);

/// A registered platform driver, unregistered on drop.
pub(crate) type Registration<T> = driver::Registration<Adapter<T>>;

// SAFETY: `register` registers `probe_callback` and `remove_callback`, which
// find the context with `driver::probe` and give the data back with
// `driver::remove` for a `DriverInner<platform_driver, T::Context>`;
// `platform_driver_unregister` unbinds every device before it returns.
unsafe impl<T: Driver> driver::RegistrationOps for Adapter<T> {
    type RegType = bindings::platform_driver;
    type Context = T::Context;

    /// Binding and unbinding through sysfs is disabled: a device only goes
    /// away with its registration, or is unbound by the driver core when a
    /// supplier it is linked to goes ([`Probing::link_to_supplier`]).
    unsafe fn register(reg: *mut Self::RegType, module: &'static ThisModule) -> Result {
        // SAFETY: zeroed (a valid value) and not registered (the caller's
        // contract): nothing else accesses it until the registration below,
        // after the last use of this reference.
        let driver = unsafe { &mut *reg };
        driver.driver.name = T::NAME.as_char_ptr();
        driver.driver.suppress_bind_attrs = true;
        driver.probe = Some(Self::probe_callback);
        // 6.12 still had `remove_new` in a union with `remove`: writing a
        // union field is safe (reading it is not).
        #[cfg(not(rvcap_linux_7_3))]
        {
            driver.__bindgen_anon_1.remove = Some(Self::remove_callback);
        }
        #[cfg(rvcap_linux_7_3)]
        {
            driver.remove = Some(Self::remove_callback);
        }
        // SAFETY: filled in above, and in place until it is unregistered
        // (the caller's contract); the name is 'static.
        to_result(unsafe {
            bindings::__platform_driver_register(
                reg,
                module.as_ptr().cast(),
                // 7.3 also takes KBUILD_MODNAME, as its
                // platform_driver_register() macro passes it.
                #[cfg(rvcap_linux_7_3)]
                super::module::NAME.as_char_ptr(),
            )
        })
    }

    unsafe fn unregister(reg: *mut Self::RegType) {
        // SAFETY: registered by `register`, unregistered once (the
        // caller's contract).
        unsafe { bindings::platform_driver_unregister(reg) };
    }
}

impl<T: Driver> Adapter<T> {
    /// # Safety
    ///
    /// Called by the driver core for a device named `T::NAME`.
    unsafe extern "C" fn probe_callback(pdev: *mut bindings::platform_device) -> c_int {
        // SAFETY: `pdev` is being probed for the duration of this call,
        // which is the invariant of `ProbingDevice`.
        let probing = unsafe { &*pdev.cast::<ProbingDevice>() };
        // SAFETY: `pdev` is live while probed, so the projection stays
        // inside it.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        // SAFETY: the device is probed by the `platform_driver` that
        // `register` registered as the `drv` of a `DriverInner` with `T`'s
        // context (only it uses these callbacks), registered during probe;
        // its driver data is ours, taken back by `remove_callback`.
        unsafe {
            driver::probe::<bindings::platform_driver, T::Context, T::Data>(dev, |context| {
                T::probe(probing, context)
            })
        }
    }

    /// # Safety
    ///
    /// Called by the driver core for a device that `probe_callback` bound.
    unsafe extern "C" fn remove_callback(pdev: *mut bindings::platform_device) {
        // SAFETY: `pdev` is live while removed, so the projection stays
        // inside it.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        // SAFETY: `pdev` is bound to us by `probe_callback` with `T::Data`,
        // and is being removed.
        unsafe { driver::remove(dev, T::remove) };
    }
}

impl<T: Driver> Registration<T> {
    /// Binds the driver to every device of its name that has no driver
    /// (`driver_attach`): devices that were unbound because a supplier of
    /// theirs went ([`Probing::link_to_supplier`]). Their probes run before
    /// this returns unless asynchronous probing was asked for (then they
    /// are scheduled); bound devices are left alone. Not from this
    /// driver's own probe or remove: `driver_attach` takes the device
    /// locks those hold.
    pub(crate) fn attach_unbound(&self) -> Result {
        // SAFETY: registered (the invariant of `driver::Registration`), so
        // live: the projection stays inside it.
        let driver = unsafe { core::ptr::addr_of_mut!((*self.raw()).driver) };
        // SAFETY: as above: its `device_driver` is live and registered for
        // the call; `driver_attach` takes its own references to the devices
        // it walks and locks each one it probes.
        to_result(unsafe { bindings::driver_attach(driver) })
    }
}

/// A platform device registered by this module, unregistered on drop.
///
/// # Invariants
///
/// `pdev` was returned by `platform_device_register_full` and is registered
/// until drop.
pub(crate) struct DeviceRegistration {
    pdev: NonNull<bindings::platform_device>,
}

// SAFETY: the driver core reference-counts and locks `struct platform_device`
// internally; the operations offered (its name, whether it is bound,
// unregistering once) may run on any thread.
unsafe impl Send for DeviceRegistration {}
// SAFETY: see `Send`; shared references only read.
unsafe impl Sync for DeviceRegistration {}

impl DeviceRegistration {
    /// Registers platform device `name`.`id`. A registered driver of the
    /// same name binds to it (probes) before this returns.
    pub(crate) fn register(name: &'static CStr, id: u32) -> Result<Self> {
        let info = bindings::platform_device_info {
            name: name.as_char_ptr(),
            id: i32::try_from(id).map_err(|_| EINVAL)?,
            ..Default::default()
        };
        // SAFETY: `info` is a valid, fully initialised `platform_device_info`
        // that outlives the call; `name` is 'static, so the pointer the driver
        // core keeps stays valid for the device's lifetime.
        let raw = from_err_ptr(unsafe { bindings::platform_device_register_full(&info) })?;
        // INVARIANT: registered above.
        Ok(Self {
            pdev: NonNull::new(raw).ok_or(ENOMEM)?,
        })
    }

    /// The embedded `struct device`.
    pub(crate) fn device(&self) -> &Device {
        // SAFETY: registered until drop (type invariant), so live: the
        // projection stays inside it.
        let dev = unsafe { core::ptr::addr_of_mut!((*self.pdev.as_ptr()).dev) };
        // SAFETY: as above: its device is live for the lifetime of `&self`.
        unsafe { Device::from_raw(dev) }
    }
}

impl Drop for DeviceRegistration {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant) and unregistered exactly once,
        // here. A bound driver's remove runs before this returns.
        unsafe { bindings::platform_device_unregister(self.pdev.as_ptr()) };
    }
}
