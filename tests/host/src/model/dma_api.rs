// SPDX-License-Identifier: GPL-2.0

//! The Linux DMA API (6.12) as dma-direct implements it for one device:
//! streaming mappings, their syncs and unmaps, on the four platforms rvcap's
//! guest boots run (see [`Platform`]).
//!
//! - swiotlb (`kernel/dma/swiotlb.c`): a map takes a bounce slot and copies
//!   the memory into it, whatever the direction and even with
//!   `DMA_ATTR_SKIP_CPU_SYNC` (since 5.19 `swiotlb_tbl_map_single` always
//!   does, so that a device's partial write cannot expose the slot's old
//!   bytes); a sync for the device copies memory to slot for `ToDevice` and
//!   `Bidirectional`, nothing for `FromDevice`; a sync for the CPU copies
//!   slot to memory for `FromDevice` and `Bidirectional`, nothing for
//!   `ToDevice`; an unmap is a sync for the CPU of the whole mapping in its
//!   own direction, or nothing with `DMA_ATTR_SKIP_CPU_SYNC`.
//! - A device not coherent with the CPU (`arch/arm64/mm/dma-mapping.c`),
//!   on what the device accesses (the slot when bounced): a sync for the
//!   device cleans, in any direction; a sync for the CPU invalidates, for
//!   `FromDevice` and `Bidirectional`; a map cleans and an unmap
//!   invalidates likewise, unless `DMA_ATTR_SKIP_CPU_SYNC`.
//! - DMA-API debugging (`kernel/dma/debug.c`): a sync must stay inside the
//!   mapping and, unless the mapping is `Bidirectional`, be in the
//!   mapping's direction; nothing may use a mapping after its unmap.
//!
//! swiotlb's copies are the CPU's `memcpy`, so on a non-coherent platform
//! they go through the cache like any CPU access.

use super::memory::Region;
use super::World;
use crate::queue::Direction;
use core::cell::Cell;
use core::ops::Range;
use std::rc::Rc;
use std::vec::Vec;

/// Where rvcap's DMA runs: what its guest boots give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// x86, plain boot: coherent, nothing bounced; syncs change nothing.
    Coherent,
    /// x86 with `swiotlb=force`: coherent, every mapping bounced.
    Bounced,
    /// arm64, plain boot: the device is not coherent with the CPU's cache.
    NonCoherent,
    /// arm64 with `swiotlb=force`: bounced, and not coherent.
    NonCoherentBounced,
}

impl Platform {
    pub const ALL: [Platform; 4] = [
        Platform::Coherent,
        Platform::Bounced,
        Platform::NonCoherent,
        Platform::NonCoherentBounced,
    ];

    /// Whether every mapping goes through a swiotlb bounce slot.
    pub fn bounces(self) -> bool {
        matches!(self, Platform::Bounced | Platform::NonCoherentBounced)
    }

    /// Whether the CPU has a cache the device does not see.
    pub fn caches(self) -> bool {
        matches!(self, Platform::NonCoherent | Platform::NonCoherentBounced)
    }

    /// `dma_dev_need_sync()`: whether a sync can change memory at all.
    pub fn needs_sync(self) -> bool {
        self.bounces() || self.caches()
    }
}

/// Whether a map or unmap does the CPU's half of a sync
/// (`DMA_ATTR_SKIP_CPU_SYNC` is [`CpuSync::Skip`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuSync {
    Sync,
    Skip,
}

/// What a fresh swiotlb slot holds: the last mapping's bytes, as far as the
/// mapping's user may know.
const STALE_SLOT_BYTE: u8 = 0xee;

/// A DMA-API violation: what `CONFIG_DMA_API_DEBUG` (or a device fault)
/// would report. Not while unwinding: a drop during a failing test's
/// unwinding must not abort the whole test binary.
pub fn violation(what: core::fmt::Arguments) {
    if !std::thread::panicking() {
        panic!("model: {what}");
    }
}

/// A streaming mapping of the first `size` bytes of `memory` for the device
/// (`dma_map_sgtable`).
pub struct DmaMapping {
    world: Rc<World>,
    memory: Rc<Region>,
    /// What the device reads and writes: the bounce slot, or the memory.
    device_view: Rc<Region>,
    pub direction: Direction,
    pub size: usize,
    unmapped: Cell<bool>,
}

impl DmaMapping {
    /// `dma_map_sgtable(dev, memory, direction, attrs)`.
    pub fn map(
        world: &Rc<World>,
        memory: &Rc<Region>,
        size: usize,
        direction: Direction,
        cpu_sync: CpuSync,
    ) -> Rc<Self> {
        let platform = world.platform;
        let device_view = if platform.bounces() {
            let slot = world.new_region(size, STALE_SLOT_BYTE);
            slot.cpu_write(0, &memory.cpu_read(0..size));
            slot
        } else {
            memory.clone()
        };
        if platform.caches() && cpu_sync == CpuSync::Sync {
            device_view.clean(0..size);
        }
        world.count(|c| c.dma_maps += 1);
        Rc::new(Self {
            world: world.clone(),
            memory: memory.clone(),
            device_view,
            direction,
            size,
            unmapped: Cell::new(false),
        })
    }

    fn check(&self, bytes: &Range<usize>, direction: Direction, what: &str) {
        if self.unmapped.get() {
            violation(format_args!("{what} of an unmapped DMA mapping"));
        }
        if bytes.start > bytes.end || bytes.end > self.size {
            violation(format_args!(
                "{what} of bytes {bytes:?} outside the {}-byte mapping",
                self.size
            ));
        }
        if self.direction != Direction::Bidirectional && direction != self.direction {
            violation(format_args!(
                "{what} in direction {direction:?} of a {:?} mapping",
                self.direction
            ));
        }
    }

    /// `dma_sync_single_for_device()`: `bytes` go to the device.
    pub fn sync_for_device(&self, bytes: Range<usize>, direction: Direction) {
        self.check(&bytes, direction, "sync for the device");
        let platform = self.world.platform;
        if platform.bounces() && direction != Direction::FromDevice {
            let data = self.memory.cpu_read(bytes.clone());
            self.device_view.cpu_write(bytes.start, &data);
        }
        if platform.caches() {
            self.device_view.clean(bytes);
        }
    }

    /// `dma_sync_single_for_cpu()`: `bytes` come back to the CPU.
    pub fn sync_for_cpu(&self, bytes: Range<usize>, direction: Direction) {
        self.check(&bytes, direction, "sync for the CPU");
        self.cpu_sync(bytes, direction);
    }

    fn cpu_sync(&self, bytes: Range<usize>, direction: Direction) {
        if direction == Direction::ToDevice {
            return;
        }
        let platform = self.world.platform;
        if platform.caches() {
            self.device_view.invalidate(bytes.clone());
        }
        if platform.bounces() {
            let data = self.device_view.cpu_read(bytes.clone());
            self.memory.cpu_write(bytes.start, &data);
        }
    }

    /// `dma_unmap_sgtable(dev, ..., attrs)`: with a CPU sync, as a sync for
    /// the CPU of the whole mapping in its own direction.
    pub fn unmap(&self, cpu_sync: CpuSync) {
        if self.unmapped.replace(true) {
            violation(format_args!("DMA mapping unmapped twice"));
            return;
        }
        if cpu_sync == CpuSync::Sync {
            self.cpu_sync(0..self.size, self.direction);
        }
        self.world.count(|c| c.dma_unmaps += 1);
    }

    /// What the device reads at `bytes` through its DMA addresses.
    pub fn device_read(&self, bytes: Range<usize>) -> Vec<u8> {
        if self.unmapped.get() {
            violation(format_args!("device read through an unmapped DMA address"));
        }
        self.device_view.device_read(bytes)
    }

    /// The device writes `data` at `offset` through its DMA addresses.
    pub fn device_write(&self, offset: usize, data: &[u8]) {
        if self.unmapped.get() {
            violation(format_args!("device write through an unmapped DMA address"));
        }
        let bytes = offset..offset + data.len();
        if bytes.end > self.size {
            violation(format_args!(
                "device write of bytes {bytes:?} outside the {}-byte mapping",
                self.size
            ));
        }
        if self.direction == Direction::ToDevice {
            violation(format_args!("device write through a ToDevice mapping"));
        }
        self.device_view.device_write(offset, data);
    }
}
