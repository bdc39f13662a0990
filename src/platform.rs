// SPDX-License-Identifier: GPL-2.0

//! An owned platform device: the device rvcap does its DMA for.

use crate::bindings;
use core::ptr::NonNull;
use kernel::error::{from_err_ptr, to_result};
use kernel::prelude::*;
use kernel::str::CStr;

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
    /// Registers platform device `name`.`id` with a `dma_bits`-bit DMA mask for
    /// both streaming and coherent mappings.
    pub(crate) fn register(name: &'static CStr, id: i32, dma_bits: u32) -> Result<Self> {
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
        let this = Self { pdev };
        // SAFETY: `this.dev()` points to the embedded `struct device` of a
        // registered platform device, which we own until drop.
        to_result(unsafe { bindings::rvcap_dma_coerce_mask_and_coherent(this.dev(), dma_bits) })?;
        Ok(this)
    }

    /// The embedded `struct device`, for C APIs that take one.
    pub(crate) fn dev(&self) -> *mut bindings::device {
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

    /// The streaming DMA mask in effect.
    pub(crate) fn dma_mask(&self) -> u64 {
        // SAFETY: `self.dev()` is valid while `self` lives.
        unsafe { bindings::rvcap_dma_get_mask(self.dev()) }
    }
}

impl Drop for PlatformDevice {
    fn drop(&mut self) {
        // SAFETY: `self.pdev` was returned by `platform_device_register_full`
        // and is unregistered exactly once, here.
        unsafe { bindings::platform_device_unregister(self.pdev.as_ptr()) };
    }
}
