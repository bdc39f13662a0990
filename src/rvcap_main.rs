// SPDX-License-Identifier: GPL-2.0

//! rvcap: a V4L2 capture driver in Rust whose point is DMA-BUF import done
//! right for capture hardware that is not cache-coherent with the CPU.
//!
//! Layout: a functional core and a thin imperative shell.
//! - Pure Rust, no `unsafe`, host-tested (`tests/host`): [`queue`] (the
//!   videobuf2-style buffer queue), [`format`], [`pattern`].
//! - The shell: [`capture`] (one device: locking, engine, queue), [`engine`]
//!   (the frame-producing thread), and thin wrappers over C: [`v4l2`],
//!   [`dma`], [`debugfs`], [`platform`], [`log`], over the generated
//!   [`bindings`].

// `try_pin_init!` of `Capture`, with its many fields, expands deeper than
// the default limit of 128.
#![recursion_limit = "256"]

use kernel::c_str;
use kernel::ffi::c_int;
use kernel::prelude::*;

mod bindings;
mod capture;
mod debugfs;
mod dma;
mod engine;
mod format;
mod inject;
mod log;
mod pattern;
mod platform;
mod queue;
mod v4l2;

module! {
    type: Rvcap,
    name: "rvcap",
    author: "The rvcap developers",
    description: "V4L2 capture with correct DMA-BUF import on non-coherent DMA",
    license: "GPL",
}

/// DMA addressing capability of the virtual capture engine: it reaches any
/// address, as a device behind an IOMMU or with 64-bit bus masters would.
const DMA_BITS: u32 = 64;

/// Longest DMA segment the engine handles: no limit of its own (the default
/// for a platform device is 64 KiB).
const DMA_MAX_SEGMENT: u32 = u32::MAX;

struct Rvcap {
    // Field order is drop order: devices (their remove runs), the driver,
    // then the debugfs directory the devices' files were in.
    _devices: KVec<platform::PlatformDevice>,
    _driver: platform::PlatformDriver,
    _debugfs: debugfs::DebugfsRoot,
}

impl kernel::Module for Rvcap {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let debugfs = debugfs::DebugfsRoot::new();
        let driver = platform::PlatformDriver::register(c_str!("rvcap"), probe, remove, module)?;
        // SAFETY: reads a module parameter; no preconditions.
        let count = unsafe { bindings::rvcap_param_num_devices() };
        let mut devices = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        for id in 0..count {
            let pdev = platform::PlatformDevice::register(c_str!("rvcap"), id as i32)?;
            if !pdev.is_bound() {
                pr_err!("{}: probe failed\n", pdev.name());
                return Err(ENODEV);
            }
            devices.push(pdev, GFP_KERNEL)?;
        }
        Ok(Self {
            _devices: devices,
            _driver: driver,
            _debugfs: debugfs,
        })
    }
}

/// # Safety
///
/// Called by the driver core for a platform device named "rvcap".
unsafe extern "C" fn probe(pdev: *mut bindings::platform_device) -> c_int {
    // SAFETY: `pdev` is valid during probe and until remove; its device
    // outlives the capture device, which `remove` unregisters. Its DMA
    // parameters are the driver's to set during probe.
    let result = unsafe {
        let index = (*pdev).id.max(0) as u32;
        let dev = core::ptr::addr_of_mut!((*pdev).dev);
        kernel::error::to_result(bindings::rvcap_dma_coerce_mask_and_coherent(dev, DMA_BITS))
            .and_then(|()| {
                bindings::rvcap_dma_set_max_seg_size(dev, DMA_MAX_SEGMENT);
                v4l2::register(dev, index)
            })
    };
    match result {
        Ok(cap) => {
            // SAFETY: `pdev` is being probed.
            unsafe { platform::set_drvdata(pdev, cap.as_ptr().cast()) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the driver core for a device that `probe` bound.
unsafe extern "C" fn remove(pdev: *mut bindings::platform_device) {
    // SAFETY: probe stored the capture device; remove runs once, at module
    // unload (sysfs unbind is disabled), when no file of it is open.
    unsafe {
        if let Some(cap) =
            core::ptr::NonNull::new(platform::drvdata(pdev).cast::<capture::Capture>())
        {
            v4l2::unregister(cap);
        }
    }
}
