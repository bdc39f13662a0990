// SPDX-License-Identifier: GPL-2.0

//! rvcap's virtual DMA master: the device model behind the frame engine,
//! which writes frames as capture hardware would, through the DMA API as a
//! device uses it (and, with the `edu` device, in part through a real DMA
//! engine). It sits on the general wrappers of [`crate::kapi`] (pages,
//! scatter tables, DMA mappings, dma-buf attachments):
//!
//! - [`memory`]: [`DeviceMemory`], a buffer mapped for the device (MMAP or
//!   imported), shared as a [`Mapping`] by the queue and the engine, with
//!   its syncs by IOVA run and its dma-buf views.
//! - [`device_view`]: the device's own writes into it, through its DMA
//!   addresses ([`device_view::DeviceWindow`]) and, for a non-coherent
//!   device, an uncached alias of the memory.
//! - [`to_device`]: [`ToDevice`], bytes mapped for the device to read (the
//!   `edu` device's source).
//! - [`sleep`]: the engine thread's sleep until a frame is due.
//!
//! Like `kapi`, it calls C (`include/rvcap_dma_master.h`, its `*.c` here
//! and the forwarders of `kapi/helpers/`) and may hold `unsafe`, under the
//! same rules: every `unsafe` block argues its soundness in a `// SAFETY:`
//! comment, every `unsafe fn` has a `# Safety` section, and every type that
//! wraps a C object states its `# Invariants`.

mod device_view;
mod memory;
mod sleep;
mod to_device;

pub(crate) use memory::{DeviceMemory, Mapping};
pub(crate) use sleep::sleep_until;
pub(crate) use to_device::ToDevice;
