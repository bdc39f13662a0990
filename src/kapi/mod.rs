// SPDX-License-Identifier: GPL-2.0

//! The abstraction layer: general safe Rust types over the kernel's C API,
//! one small file per C subsystem, in the style of the `kernel` crate (which
//! in 6.12 does not yet wrap these). Every `unsafe` of the module is in this
//! directory or in rvcap's DMA master (`crate::dma_master`), which builds
//! its device model on these types; the driver above them
//! (`crate::driver`) has none.
//!
//! Each type that wraps a C object states its `# Invariants`, and each
//! could be swapped for its upstream counterpart once the `kernel` crate has
//! one that does what rvcap needs (the README's "Hosts and kernels" says
//! what 7.3's lack): [`device::Device`] for `kernel::device::Device`, [`platform`] for
//! `kernel::platform`, [`video`] for a future `kernel::media`. Where 7.3's
//! crate has one whose shape fits rvcap's drivers, 7.3 uses it and 6.12
//! gets the same shape here: [`devres`], [`io`]'s register accessors and
//! [`pci`]'s memory BAR (`pci::Bar` in a `pci::DevresBar`), [`mm::VmaNew`],
//! `sync::poll::PollCondVar`, `dma::DataDirection`, [`time`]'s `Delta` and
//! `delay::fsleep`, `str::kstrtobool_bytes`, and `scatterlist::SGTable` for
//! walking a mapped table's DMA segments ([`dma`]). [`debugfs`] has the
//! kernel crate's shape on both kernels but is rvcap's on 7.3 too: 7.3's
//! file operations have no `owner`, so an open file would not keep the
//! module loaded, and closing it after `rmmod` would read the unloaded
//! module's operations.
//!
//! - [`bindings`]: the raw bindgen output for the C API beyond the `kernel`
//!   crate and for rvcap's C: the forwarders for static inline functions
//!   and macros in `helpers/`, and the C with logic of its own in `*.c`
//!   (declared in `include/rvcap_helpers.h`).
//! - [`device`]: `struct device` and its reference count, and a device
//!   bound to a driver.
//! - [`platform`]: platform device and driver registration; [`pci`]: PCI
//!   driver registration, memory BARs and stopping a device's DMA;
//!   [`driver`]: what both share; [`io`]: register accessors (a BAR's).
//! - [`devres`]: `Devres`, a resource revoked (dropped) when its device
//!   unbinds: the `kernel` crate's on 7.3; on 6.12 rvcap's, on a
//!   device-managed action and `revocable::Revocable` (RCU).
//! - [`video`]: `v4l2_device` + `video_device` registration, built from the
//!   [`video::VideoOps`] trait; [`ioctl`]: the adapter from the V4L2 core's
//!   ioctl, file and control callbacks to its methods; [`ctrl`]: menus.
//! - [`mm`]: the VMA of an `mmap()` of a buffer.
//! - [`sync`]: where the kernel crate's `sync` items differ: `aref`, and
//!   [`sync::poll`]'s `PollCondVar` (the kernel crate's own on 7.3) with
//!   rvcap's poll table.
//! - [`dma_buf`]: a dma-buf (refcounted, as `ARef<DmaBuf>`), an importer's
//!   counted reference and its attachment (importing);
//!   [`dma_buf_export`]: MMAP memory exported as dma-bufs (VIDIOC_EXPBUF).
//! - [`dma`]: pages, scatter-gather tables, DMA mappings and the DMA
//!   segments of a mapped table, MMAP memory, the DMA side's counters.
//! - [`kthread`]: a kernel thread that is stopped and joined on drop;
//!   [`time`]: the clock, spans of time ([`time::Delta`]) and sleeps
//!   ([`time::delay`]), the kernel crate's own on 7.3.
//! - [`debugfs`]: directories and files over data they keep, removed on
//!   drop, in the kernel crate's shape (`Dir`, `Scope`, `ScopedDir` and
//!   its callback files), rvcap's on both kernels (see above);
//!   [`debugfs_knobs`]: its `u32` and `bool` files with the text of C's
//!   `debugfs_create_u32`/`_bool`.
//! - [`str`]: C strings, and the kernel's parsing of text into booleans
//!   and numbers.
//! - [`log`]: `dev_*` messages with one rate limit per call site.
//! - [`param`]: the module parameters (declared in `params.c`).

pub(crate) mod bindings;
pub(crate) mod ctrl;
// In the kernel crate's shape, rvcap's on both kernels: 7.3's file
// operations have no `owner` (see above).
pub(crate) mod debugfs;
pub(crate) mod debugfs_knobs;
pub(crate) mod device;
// The kernel crate's own on 7.3; on 6.12, whose crate has none, rvcap's,
// in the same shape.
#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::devres;
#[cfg(not(rvcap_linux_7_3))]
pub(crate) mod devres;
pub(crate) mod dma;
pub(crate) mod dma_buf;
pub(crate) mod dma_buf_export;
pub(crate) mod dma_fence;
pub(crate) mod driver;
pub(crate) mod error;
// As `devres`: the kernel crate's on 7.3, rvcap's in the same shape on 6.12.
#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::io;
#[cfg(not(rvcap_linux_7_3))]
pub(crate) mod io;
pub(crate) mod ioctl;
pub(crate) mod kthread;
pub(crate) mod log;
pub(crate) mod mm;
pub(crate) mod module;
pub(crate) mod param;
pub(crate) mod pci;
pub(crate) mod platform;
pub(crate) mod ratelimit;
#[cfg(not(rvcap_linux_7_3))]
pub(crate) mod revocable;
pub(crate) mod str;
pub(crate) mod sync;
pub(crate) mod time;
pub(crate) mod types;
pub(crate) mod uapi;
pub(crate) mod video;
