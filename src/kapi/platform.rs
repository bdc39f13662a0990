// SPDX-License-Identifier: GPL-2.0

//! Platform devices and drivers: [`DeviceRegistration`] makes a device,
//! [`Registration`] registers a [`Driver`] whose `probe` returns the data
//! the device keeps while bound (stored as its driver data, given back to
//! `remove`). Both unregister on drop.

use super::bindings;
use super::device::{Device, DeviceRef};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::{from_err_ptr, from_result, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::{ARef, ForeignOwnable, Opaque};

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

    /// The embedded `struct device`.
    pub(crate) fn device(&self) -> &Device {
        // SAFETY: the platform device is live while it is probed (type
        // invariant), and so is the `struct device` it embeds, which was
        // added to the driver core before probe.
        unsafe { Device::from_raw(core::ptr::addr_of_mut!((*self.raw()).dev)) }
    }

    /// A counted reference to the embedded `struct device`.
    pub(crate) fn device_ref(&self) -> DeviceRef {
        ARef::from(self.device())
    }

    /// The instance id of the device (`name.id`), 0 for a single one.
    pub(crate) fn id(&self) -> u32 {
        // SAFETY: live while probed (type invariant); `id` is set at
        // registration and not changed afterwards.
        u32::try_from(unsafe { (*self.raw()).id }).unwrap_or(0)
    }

    /// Sets the streaming and coherent DMA masks to `bits` bits.
    pub(crate) fn set_dma_mask_and_coherent(&self, bits: u32) -> Result {
        // SAFETY: the device is being probed by us (type invariant); probe is
        // where a driver sets its device's DMA parameters.
        to_result(unsafe {
            bindings::rvcap_dma_coerce_mask_and_coherent(self.device().as_raw(), bits)
        })
    }

    /// Sets the longest DMA segment the device handles.
    pub(crate) fn set_dma_max_seg_size(&self, size: u32) {
        // SAFETY: as in `set_dma_mask_and_coherent`.
        unsafe { bindings::rvcap_dma_set_max_seg_size(self.device().as_raw(), size) };
    }
}

/// A platform driver.
pub(crate) trait Driver {
    /// What the registration keeps for every probe (for example a debugfs
    /// directory the devices' directories go in).
    type Context: Send + Sync;
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

/// The driver structure and the context, in one allocation.
///
/// # Invariants
///
/// Pinned; `drv` is the `platform_driver` registered for `T` (see
/// [`Registration`]), so the driver core's `dev.driver` of a device bound
/// to it points into this allocation.
#[pin_data]
struct DriverInner<T: Driver> {
    #[pin]
    drv: Opaque<bindings::platform_driver>,
    context: T::Context,
}

/// A registered platform driver, unregistered on drop.
///
/// # Invariants
///
/// `inner.drv` is registered with the driver core
/// (`__platform_driver_register`) with the callbacks of `T`, and is not
/// moved until it is unregistered.
pub(crate) struct Registration<T: Driver> {
    inner: Pin<KBox<DriverInner<T>>>,
    _driver: PhantomData<T>,
}

// SAFETY: after registration the driver core owns the structure's use; this
// type only unregisters it, which may happen on any thread.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: no shared access to the structure is offered.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    /// Registers driver `T`. Binding and unbinding through sysfs is
    /// disabled: a device only goes away with its registration.
    pub(crate) fn register(module: &'static ThisModule, context: T::Context) -> Result<Self> {
        let inner = KBox::pin_init(
            pin_init!(DriverInner::<T> {
                drv: Opaque::uninit(),
                context,
            }),
            GFP_KERNEL,
        )?;
        let raw = inner.drv.get();
        // SAFETY: `raw` is our own, pinned, writable allocation; it is fully
        // initialised (zeroed, then the fields we use) before registration,
        // and stays alive and in place until `drop` unregisters it.
        unsafe {
            core::ptr::write_bytes(raw, 0, 1);
            (*raw).driver.name = T::NAME.as_char_ptr();
            (*raw).driver.suppress_bind_attrs = true;
            (*raw).probe = Some(Self::probe_callback);
            (*raw).__bindgen_anon_1.remove = Some(Self::remove_callback);
            to_result(bindings::__platform_driver_register(
                raw,
                module.as_ptr().cast(),
            ))?;
        }
        // INVARIANT: registered above; pinned in its box.
        Ok(Self {
            inner,
            _driver: PhantomData,
        })
    }

    /// # Safety
    ///
    /// Called by the driver core for a device named `T::NAME`.
    unsafe extern "C" fn probe_callback(pdev: *mut bindings::platform_device) -> c_int {
        from_result(|| {
            // SAFETY: `pdev` is being probed for the duration of this call,
            // which is the invariant of `ProbingDevice` (transparent over
            // `Opaque<platform_device>`).
            let probing = unsafe { &*pdev.cast::<ProbingDevice>() };
            // SAFETY: the driver core set `dev.driver` to the `driver` field
            // of the `platform_driver` it probes for, which is the `drv` of a
            // `DriverInner<T>` (only `register` uses these callbacks); it
            // stays registered, and so alive, during probe.
            let context = unsafe {
                let drv =
                    kernel::container_of!((*pdev).dev.driver, bindings::platform_driver, driver);
                let inner = kernel::container_of!(drv, DriverInner<T>, drv);
                &(*inner).context
            };
            let data = T::probe(probing, context)?;
            // SAFETY: the device is being probed; its driver data is ours.
            // `remove_callback` takes the data back.
            unsafe { bindings::rvcap_platform_set_drvdata(pdev, data.into_foreign().cast_mut()) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the driver core for a device that `probe_callback` bound.
    unsafe extern "C" fn remove_callback(pdev: *mut bindings::platform_device) {
        // SAFETY: `pdev` is bound to us, so its driver data is what
        // `probe_callback` stored with `into_foreign`, taken back once here.
        let data = unsafe { T::Data::from_foreign(bindings::rvcap_platform_get_drvdata(pdev)) };
        T::remove(data);
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant), unregistered once, here.
        unsafe { bindings::platform_driver_unregister(self.inner.drv.get()) };
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
        // SAFETY: registered until drop (type invariant), so its device is
        // live for the lifetime of `&self`.
        unsafe { Device::from_raw(core::ptr::addr_of_mut!((*self.pdev.as_ptr()).dev)) }
    }
}

impl Drop for DeviceRegistration {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant) and unregistered exactly once,
        // here. A bound driver's remove runs before this returns.
        unsafe { bindings::platform_device_unregister(self.pdev.as_ptr()) };
    }
}
