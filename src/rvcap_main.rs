// SPDX-License-Identifier: GPL-2.0

//! rvcap: a V4L2 capture driver in Rust whose point is DMA-BUF import done
//! right for capture hardware that is not cache-coherent with the CPU.
//!
//! Layout, from the bottom up:
//! - [`kapi`]: the abstraction layer, safe types over the kernel's C API
//!   (devices, platform driver, video device registration and the ioctl
//!   adapter, dma-buf, DMA mappings, kthread, debugfs, log). Every `unsafe`
//!   of the module is there or in `dma_master`; each type states its
//!   invariants.
//! - [`dma_master`]: rvcap's virtual DMA master, the device model the frame
//!   engine writes through (mapped buffers, syncs, the device's view of
//!   memory); on `kapi`, and like it allowed `unsafe` and the bindings.
//! - The pure core, no `unsafe`, also built and tested on the host
//!   (`tests/host`): [`queue`] (the videobuf2-style buffer queue),
//!   [`format`], [`pattern`].
//! - [`driver`]: the driver itself, on both: the capture device, its V4L2
//!   policy, the frame engine. No `unsafe`.
//! - This file: the module and its platform driver.

use kernel::c_str;
use kernel::prelude::*;

mod dma_master;
mod driver;
mod format;
mod kapi;
mod pattern;
mod queue;

use driver::capture::Capture;
use driver::edu::EduDma;
use kapi::ctrl::{Menu, MenuControl};
use kapi::debugfs;
use kapi::driver::Probing;
use kapi::pci;
use kapi::platform::{self, DeviceRegistration, Driver, ProbingDevice};
use kapi::str::{CStr, Text};
use kapi::video::Registration;
use kernel::new_mutex;
use kernel::sync::{Arc, Mutex};

// dma_buf_* symbols are exported in the DMA_BUF namespace, which 7.3's
// module! imports (`imports_ns`). 6.12's knows neither that nor `authors`:
// there the import is the `.modinfo` entry C's MODULE_IMPORT_NS(DMA_BUF)
// makes, written as its module! writes the others.
#[cfg(all(MODULE, not(rvcap_linux_7_3)))]
#[link_section = ".modinfo"]
#[used(compiler)]
static IMPORT_NS_DMA_BUF: [u8; 18] = *b"import_ns=DMA_BUF\0";

#[cfg(not(rvcap_linux_7_3))]
module! {
    type: Rvcap,
    name: "rvcap",
    author: "The rvcap developers",
    description: "V4L2 capture with correct DMA-BUF import on non-coherent DMA",
    license: "GPL",
}

#[cfg(rvcap_linux_7_3)]
module! {
    type: Rvcap,
    name: "rvcap",
    authors: ["The rvcap developers"],
    description: "V4L2 capture with correct DMA-BUF import on non-coherent DMA",
    license: "GPL",
    imports_ns: ["DMA_BUF"],
}

/// DMA addressing capability of the virtual capture engine: it reaches any
/// address, as a device behind an IOMMU or with 64-bit bus masters would.
const DMA_BITS: u32 = 64;

/// Longest DMA segment the engine handles: no limit of its own (the default
/// for a platform device is 64 KiB).
const DMA_MAX_SEGMENT: u32 = u32::MAX;

/// The test pattern menu (`V4L2_CID_TEST_PATTERN`).
static TEST_PATTERN_MENU: Menu<{ pattern::PATTERN_MENU.len() }> = Menu::new(pattern::PATTERN_MENU);
static CONTROLS: [MenuControl; 1] = [TEST_PATTERN_MENU.control(kapi::uapi::V4L2_CID_TEST_PATTERN)];

/// QEMU's `edu` PCI device (vendor 1234, device 11e8): a DMA master whose
/// transfers go through the IOMMU, if there is one.
static EDU_IDS: pci::IdArray<2> = pci::IdArray::new(&[(0x1234, 0x11e8)]);

/// Its DMA reach without `-device edu,dma_mask=...`.
const EDU_DMA_BITS: u32 = 28;

/// The BAR of its registers.
const EDU_BAR: u32 = 0;

/// The DMA master the capture devices use, if one was bound: their buffers
/// are mapped for it (with an IOMMU, every DMA address is an IOVA), and its
/// DMA engine is theirs.
type DmaMaster = Arc<Mutex<Option<Arc<EduDma>>>>;

/// The capture devices' platform driver, shared with the `edu` driver,
/// which binds the capture devices again when an `edu` device comes.
type CaptureDriver = Arc<platform::Registration<RvcapDriver>>;

struct Rvcap {
    // Field order is drop order: devices (their remove runs), then the
    // `edu` driver (no capture device is left to unbind when edu goes), then
    // the capture driver (with the debugfs directory the devices'
    // directories were in; the `edu` driver's reference went with it).
    _devices: KVec<DeviceRegistration>,
    _master: pci::Registration<EduDriver>,
    _driver: CaptureDriver,
}

impl kernel::Module for Rvcap {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let master: DmaMaster = Arc::pin_init(new_mutex!(None, "rvcap::master"), GFP_KERNEL)?;
        // debugfs failures only lose the files.
        let debugfs = debugfs::Dir::new(c_str!("rvcap"));
        // The capture driver first (no device yet), so that the `edu`
        // driver can bind capture devices to it; `edu` binds before the
        // capture devices exist, so that they find their DMA master.
        let driver = Arc::new(
            platform::Registration::<RvcapDriver>::new(
                module,
                Context {
                    debugfs,
                    master: master.clone(),
                },
            )?,
            GFP_KERNEL,
        )?;
        let edu = pci::Registration::<EduDriver>::new(
            module,
            EduContext {
                master,
                captures: driver.clone(),
            },
        )?;
        let count = kapi::param::num_devices();
        let mut devices = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        for id in 0..count {
            let pdev = DeviceRegistration::register(RvcapDriver::NAME, id)?;
            if !pdev.device().is_bound() {
                pr_err!("{}: probe failed\n", pdev.device().name());
                return Err(ENODEV);
            }
            devices.push(pdev, GFP_KERNEL)?;
        }
        Ok(Self {
            _devices: devices,
            _driver: driver,
            _master: edu,
        })
    }
}

impl Drop for Rvcap {
    fn drop(&mut self) {
        // Every fence of ours was released before the module could be
        // unloaded (each holds a module reference), but the RCU callback
        // that put the last one may still be returning into this module.
        kapi::dma_fence::wait_for_released_fences();
    }
}

/// What every capture device's probe needs.
struct Context {
    /// `/sys/kernel/debug/rvcap`, where the capture devices' directories go.
    debugfs: debugfs::Dir,
    master: DmaMaster,
}

/// The platform driver: one capture device per platform device.
struct RvcapDriver;

impl Driver for RvcapDriver {
    type Context = Context;
    type Data = Registration<Capture>;
    const NAME: &'static CStr = c_str!("rvcap");

    fn probe(pdev: &ProbingDevice, context: &Context) -> Result<Self::Data> {
        pdev.set_dma_mask_and_coherent(DMA_BITS)?;
        pdev.set_dma_max_seg_size(DMA_MAX_SEGMENT);
        let index = pdev.id();
        // The PCI DMA master if one is bound, else the platform device. A
        // device mapping for `edu` lives no longer than `edu`'s binding:
        // the driver core unbinds it (`remove`) before `edu`'s remove.
        let edu = context.master.lock().clone();
        if let Some(edu) = &edu {
            pdev.link_to_supplier(edu.device())?;
        }
        let dma_dev = edu
            .as_ref()
            .map_or_else(|| pdev.device_ref(), |edu| edu.device().clone());
        let multiplanar = match kapi::param::multiplanar(index) {
            2 => true,
            0 | 1 => false,
            other => {
                pr_warn!("rvcap-{index}: multiplanar={other} is neither 1 nor 2: single-planar\n");
                false
            }
        };
        let capture = Capture::new(
            pdev.device_ref(),
            dma_dev.clone(),
            edu,
            index,
            multiplanar,
            &context.debugfs,
        )?;
        let registration = Registration::register(
            pdev.device(),
            format_args!("rvcap-{index}"),
            driver::v4l2::device_caps(multiplanar),
            &CONTROLS,
            capture,
        )?;
        registration.log().info(format_args!(
            "/dev/{}: virtual capture, DMA by {}, DMA mask {:#x}, {}{}",
            Text(registration.node_name()),
            Text(dma_dev.name()),
            dma_dev.dma_mask(),
            if dma_dev.is_dma_coherent() {
                "coherent"
            } else {
                "not coherent (syncs do cache maintenance)"
            },
            if multiplanar { ", multi-planar" } else { "" }
        ));
        Ok(registration)
    }

    fn remove(registration: Self::Data) {
        // Files may be open (unbound because `edu` goes): stop using the
        // DMA master before this returns; open files get `ENODEV` and the
        // V4L2 structures stay until the last one closes.
        registration.disconnect();
        drop(registration);
    }
}

/// Binds QEMU's `edu` device as the capture devices' DMA master.
struct EduDriver;

/// What the `edu` driver keeps.
struct EduContext {
    /// Where it publishes the bound `edu` device's DMA engine.
    master: DmaMaster,
    /// The capture devices' driver.
    captures: CaptureDriver,
}

/// Clears the DMA master when the device unbinds.
struct BoundMaster(DmaMaster);

impl Drop for BoundMaster {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

impl pci::Driver for EduDriver {
    type Context = EduContext;
    type Data = KBox<BoundMaster>;
    const NAME: &'static CStr = c_str!("rvcap-edu");
    const ID_TABLE: &'static dyn pci::IdTable = &EDU_IDS;

    fn probe(pdev: &pci::ProbingDevice, context: &EduContext) -> Result<Self::Data> {
        let master = pdev.enable_bus_master()?;
        pdev.set_dma_mask_and_coherent(EDU_DMA_BITS)?;
        pdev.set_dma_max_seg_size(DMA_MAX_SEGMENT);
        // One DMA master at a time: a second `edu` would take the capture
        // devices' place in `master`, and its removal would leave them
        // without the first one.
        if context.master.lock().is_some() {
            pr_info!(
                "{}: another edu device is the capture devices' DMA master already; not binding\n",
                pdev.device().name()
            );
            return Err(EBUSY);
        }
        let bar = pdev.iomap_region(EDU_BAR, Self::NAME)?;
        let edu = EduDma::new(pdev.device_ref(), bar, master)?;
        let bound = KBox::new(BoundMaster(context.master.clone()), GFP_KERNEL)?;
        *context.master.lock() = Some(edu);
        // Capture devices unbound when an earlier `edu` went come back now,
        // mapping for this one (at load there are none yet). Nothing after
        // this may fail: they are bound to this device already.
        if let Err(e) = context.captures.attach_unbound() {
            pr_warn!(
                "{}: binding the capture devices again failed ({e:?})\n",
                pdev.device().name()
            );
        }
        Ok(bound)
    }
}
