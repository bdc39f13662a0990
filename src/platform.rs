// SPDX-License-Identifier: GPL-2.0

//! Platform device and driver registrations: the device rvcap does its DMA
//! for, and the driver that binds to it. Both unregister on drop.

use crate::bindings;
use core::ptr::NonNull;
use kernel::error::{from_err_ptr, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A platform device registered by this module, unregistered on drop.
pub(crate) struct PlatformDevice {
    pdev: NonNull<bindings::platform_device>,
}

// SAFETY: the driver core reference-counts and locks `struct platform_device`
// internally; the only operations this type offers (reading the name and DMA
// mask, unregistering once on drop) may run on any thread.
unsafe impl Send for PlatformDevice {}
// SAFETY: see `Send`; shared references only read immutable state.
unsafe impl Sync for PlatformDevice {}

impl PlatformDevice {
    /// Registers platform device `name`.`id`. A registered driver of the
    /// same name binds to it (probes) before this returns.
    pub(crate) fn register(name: &'static CStr, id: i32) -> Result<Self> {
        let info = bindings::platform_device_info {
            name: name.as_char_ptr(),
            id,
            ..Default::default()
        };
        // SAFETY: `info` is a valid, fully initialised `platform_device_info`
        // that outlives the call; `name` is 'static, so the pointer the driver
        // core keeps stays valid for the device's lifetime.
        let raw = from_err_ptr(unsafe { bindings::platform_device_register_full(&info) })?;
        let pdev = NonNull::new(raw).ok_or(ENOMEM)?;
        Ok(Self { pdev })
    }

    /// The embedded `struct device`, for C APIs that take one.
    fn dev(&self) -> *mut bindings::device {
        // SAFETY: `self.pdev` is valid until drop, and taking the address of a
        // field creates no reference.
        unsafe { core::ptr::addr_of_mut!((*self.pdev.as_ptr()).dev) }
    }

    /// The device's name, for example `rvcap.0`.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: `dev_name` returns the NUL-terminated name of a registered
        // device; it stays valid (and unchanged) while the device is registered,
        // which `&self` guarantees.
        unsafe { CStr::from_char_ptr(bindings::rvcap_dev_name(self.dev())) }
    }

    /// Whether a driver is bound to the device (its probe succeeded).
    pub(crate) fn is_bound(&self) -> bool {
        // SAFETY: `self.dev()` is a registered device.
        unsafe { bindings::rvcap_device_is_bound(self.dev()) }
    }
}

impl Drop for PlatformDevice {
    fn drop(&mut self) {
        // SAFETY: `self.pdev` was returned by `platform_device_register_full`
        // and is unregistered exactly once, here. A bound driver's remove
        // runs before this returns.
        unsafe { bindings::platform_device_unregister(self.pdev.as_ptr()) };
    }
}

/// The probe and remove callbacks of a platform driver.
pub(crate) type Probe = unsafe extern "C" fn(*mut bindings::platform_device) -> c_int;
/// See [`Probe`].
pub(crate) type Remove = unsafe extern "C" fn(*mut bindings::platform_device);

/// A registered platform driver, unregistered on drop.
pub(crate) struct PlatformDriver {
    drv: Pin<KBox<Opaque<bindings::platform_driver>>>,
}

// SAFETY: after registration the driver core owns the structure's use; we
// only unregister it, which may happen on any thread.
unsafe impl Send for PlatformDriver {}
// SAFETY: no shared access to the structure is offered.
unsafe impl Sync for PlatformDriver {}

impl PlatformDriver {
    /// Registers driver `name` with `probe` and `remove`. Binding and
    /// unbinding through sysfs is disabled: a device only goes away with
    /// the module, when none of its files is open.
    pub(crate) fn register(
        name: &'static CStr,
        probe: Probe,
        remove: Remove,
        module: &'static ThisModule,
    ) -> Result<Self> {
        let drv = KBox::pin(Opaque::<bindings::platform_driver>::uninit(), GFP_KERNEL)?;
        let raw = drv.get();
        // SAFETY: `raw` is our own, pinned, writable allocation; it is fully
        // initialised (zeroed, then the fields we use) before registration,
        // and stays alive and in place until `drop` unregisters it.
        unsafe {
            core::ptr::write_bytes(raw, 0, 1);
            (*raw).driver.name = name.as_char_ptr();
            (*raw).driver.suppress_bind_attrs = true;
            (*raw).probe = Some(probe);
            (*raw).__bindgen_anon_1.remove = Some(remove);
            to_result(bindings::__platform_driver_register(
                raw,
                module.as_ptr().cast(),
            ))?;
        }
        Ok(Self { drv })
    }
}

impl Drop for PlatformDriver {
    fn drop(&mut self) {
        // SAFETY: registered in `register`, unregistered once, here.
        unsafe { bindings::platform_driver_unregister(self.drv.get()) };
    }
}

/// The driver data of a platform device.
///
/// # Safety
///
/// `pdev` must be a valid platform device.
pub(crate) unsafe fn drvdata(pdev: *mut bindings::platform_device) -> *mut core::ffi::c_void {
    // SAFETY: the function's contract.
    unsafe { bindings::rvcap_platform_get_drvdata(pdev) }
}

/// Sets the driver data of a platform device.
///
/// # Safety
///
/// `pdev` must be a valid platform device being probed.
pub(crate) unsafe fn set_drvdata(
    pdev: *mut bindings::platform_device,
    data: *mut core::ffi::c_void,
) {
    // SAFETY: the function's contract.
    unsafe { bindings::rvcap_platform_set_drvdata(pdev, data) }
}
