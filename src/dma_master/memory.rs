// SPDX-License-Identifier: GPL-2.0

//! [`DeviceMemory`]: a buffer mapped for rvcap's device, shared as an
//! [`Arc`] ([`Mapping`]) by the queue and the engine. Either an imported
//! dma-buf's [`ImportedTable`] or driver-allocated [`MmapMemory`]. It
//! offers the syncs, the dma-buf views of the memory, and (in
//! `device_view`) the device's own view of it.
//!
//! # Syncs
//!
//! A sync is skipped when the device needs none (`dma_dev_need_sync`:
//! coherent and nothing bounced). Otherwise it walks the buffer's DMA
//! segments, one call each. Behind an IOMMU whose syncs act on memory (a
//! non-coherent device's caches, an untrusted device's bounce buffers), in
//! runs of IOVAs that are also contiguous in memory: iommu-dma translates
//! only a sync's first address, and its scatterlist syncs walk the table's
//! pages, which an importer must not use. Behind other DMA ops that
//! translate, one page at a time.

use super::device_view::UncachedAlias;
use crate::kapi::bindings;
use crate::kapi::device::DeviceRef;
use crate::kapi::dma::{
    self, bump, DataDirection, DataDirectionExt, DmaSegment, DmaStats, HeldPages, MmapMemory,
    UserPages,
};
use crate::kapi::dma_buf::ImportedTable;
use crate::kapi::dma_buf_export;
use crate::kapi::dma_fence::{WaitList, WriteFence};
use core::ops::Range;
use kernel::prelude::*;
use kernel::sync::Arc;

/// What backs a [`DeviceMemory`].
enum Backing {
    /// Driver-allocated.
    Mmap(MmapMemory),
    /// An imported dma-buf, mapped.
    Import(ImportedTable),
}

/// A buffer mapped for a device: what the queue calls a mapping.
///
/// # Invariants
///
/// The backing table is mapped for `dev` (in the direction it was made
/// with) for as long as
/// this value exists, and spans `size` bytes. `iommu_page` is
/// `kapi::dma::iommu_page(dev)`: the page size of the IOMMU translating the
/// device's DMA, 0 if none; `coherent` is whether the device's DMA is
/// coherent with the CPU's caches. For a non-coherent device, `uncached` is
/// the uncached alias of the pages behind the DMA addresses (segment after
/// segment, each from the start of its first page), or `None` if they are
/// not all in the kernel's linear map; for a coherent one, `None`.
///
/// The fields `device_view.rs` uses are `pub(super)`: it reads them, and
/// sets `uncached` only in `with_uncached_alias`, which keeps the above.
pub(crate) struct DeviceMemory {
    // Before `backing`: dropped before the memory is unmapped.
    pub(super) uncached: Option<UncachedAlias>,
    backing: Backing,
    pub(super) dev: DeviceRef,
    size: usize,
    pub(super) iommu_page: usize,
    pub(super) coherent: bool,
    stats: Arc<DmaStats>,
}

// SAFETY: the DMA API and dma-buf core may be called from any thread for a
// live device and mapping; `DeviceMemory` holds no thread-bound state (its
// uncached alias is a vmap address, which any thread may use and unmap in
// process context, where every last reference is dropped: ioctls, mmap()
// (which holds one while it maps the pages), the engine thread). The
// memory's contents are only written through raw pointers.
unsafe impl Send for DeviceMemory {}
// SAFETY: see `Send`; shared references only read immutable fields and the
// atomic mapping count.
unsafe impl Sync for DeviceMemory {}

impl Drop for DeviceMemory {
    fn drop(&mut self) {
        if let Backing::Mmap(_) = self.backing {
            // Imports count their unmap in `ImportedTable::drop`.
            bump(&self.stats.unmap, 1);
        }
    }
}

/// The shared handle the queue and the engine hold.
pub(crate) type Mapping = Arc<DeviceMemory>;

impl DeviceMemory {
    /// `size` bytes of driver-allocated memory mapped for `dev`;
    /// `contiguous`: physically contiguous, mapped as one segment.
    pub(crate) fn alloc(
        dev: &DeviceRef,
        size: usize,
        contiguous: bool,
        direction: DataDirection,
        stats: &Arc<DmaStats>,
    ) -> Result<Self> {
        let memory = MmapMemory::new(dev, size, contiguous, direction)?;
        bump(&stats.map, 1);
        // INVARIANT: `MmapMemory` is mapped for `dev` until it drops; the
        // alias comes next.
        Self {
            uncached: None,
            backing: Backing::Mmap(memory),
            dev: dev.clone(),
            size,
            iommu_page: dma::iommu_page(dev),
            coherent: dev.is_dma_coherent(),
            stats: stats.clone(),
        }
        .with_uncached_alias()
    }

    /// The mapping of an imported dma-buf, for the device to write.
    pub(crate) fn import(table: ImportedTable, stats: &Arc<DmaStats>) -> Result<Self> {
        Self::import_for_syncs(table, stats).with_uncached_alias()
    }

    /// The mapping of an imported dma-buf for syncs alone: the device
    /// never writes it, so a non-coherent device gets no uncached alias
    /// (which allocates, and can fail).
    pub(crate) fn import_for_syncs(table: ImportedTable, stats: &Arc<DmaStats>) -> Self {
        bump(&stats.map, 1);
        let size = table.attachment().dma_buf().size();
        let dev = table.attachment().device().clone();
        // INVARIANT: the table is mapped for the attachment's device until
        // it drops, and covers the dma-buf; the alias comes next.
        Self {
            uncached: None,
            backing: Backing::Import(table),
            iommu_page: dma::iommu_page(&dev),
            coherent: dev.is_dma_coherent(),
            dev,
            size,
            stats: stats.clone(),
        }
    }

    /// Its size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The MMAP memory, if this is driver-allocated.
    fn mmap(&self) -> Option<&MmapMemory> {
        match &self.backing {
            Backing::Mmap(m) => Some(m),
            Backing::Import(_) => None,
        }
    }

    /// Whether this is driver-allocated (MMAP) memory.
    pub(crate) fn is_mmap(&self) -> bool {
        self.mmap().is_some()
    }

    /// Whether userspace has MMAP memory mapped.
    pub(crate) fn is_mapped_to_user(&self) -> bool {
        self.mmap()
            .is_some_and(|m| m.user_pages().is_mapped_to_user())
    }

    /// How many dma-bufs exporting MMAP memory are alive (0 for an
    /// import).
    pub(crate) fn exports(&self) -> u32 {
        self.mmap().map_or(0, |m| m.user_pages().exports())
    }

    /// The pages of MMAP memory (`None` for an import), for an `mmap()`.
    pub(crate) fn user_pages(&self) -> Option<&Arc<UserPages>> {
        self.mmap().map(MmapMemory::user_pages)
    }

    /// A hold on the pages of MMAP memory (`None` for an import), for an
    /// export to keep: the pages, not this mapping of them.
    pub(crate) fn hold_pages(&self) -> Option<HeldPages> {
        Some(self.mmap()?.hold_pages(&self.stats))
    }

    /// Whether the DMA addresses form one contiguous range.
    pub(crate) fn is_dma_contiguous(&self) -> bool {
        let mut next: Option<bindings::dma_addr_t> = None;
        let mut contiguous = true;
        self.for_each_segment(|seg| {
            contiguous = next.filter(|&addr| addr != seg.addr).is_none();
            next = Some(seg.addr + seg.len as u64);
            contiguous
        });
        contiguous
    }

    /// The device address of the buffer's first byte and how many bytes from
    /// there are one run for the device and in memory (within one DMA
    /// segment and, behind an IOMMU, one IOMMU page): what a DMA engine
    /// that takes one address and a length may write there.
    pub(crate) fn first_run(&self) -> Option<(u64, usize)> {
        let mut first = None;
        self.for_each_segment(|seg| {
            first = Some(seg);
            false
        });
        let seg = first?;
        let page = self.iommu_page;
        let len = if page == 0 {
            seg.len
        } else {
            seg.len.min(page - (seg.addr as usize & (page - 1)))
        };
        Some((seg.addr, len.min(self.size)))
    }

    /// Whether a device access after this memory's unmap faults at once: it
    /// goes through an IOMMU that invalidates at unmap (strict mode).
    pub(crate) fn unmap_faults_at_once(&self) -> bool {
        // SAFETY: `dev` is live (we hold a reference).
        self.iommu_page != 0 && unsafe { bindings::rvcap_dma_iommu_strict(self.dev.as_raw()) }
    }

    /// Calls `f` for each DMA segment, in order, until it returns `false`.
    pub(super) fn for_each_segment(&self, f: impl FnMut(DmaSegment) -> bool) {
        match &self.backing {
            Backing::Mmap(m) => m.for_each_dma_segment(f),
            Backing::Import(i) => i.for_each_dma_segment(f),
        }
    }

    /// Calls `f(dma_address, len)` for the bytes `range` of the buffer, in
    /// runs one sync may cover (a sync translates only its first address):
    /// within one DMA segment and, where the DMA layer translates, as much
    /// as `kapi::dma::sync_run` says (behind an IOMMU whose syncs act on
    /// memory, the IOMMU pages that translate to one contiguous run of
    /// memory). Returns the bytes covered.
    fn for_each_run(
        &self,
        range: Range<usize>,
        mut f: impl FnMut(bindings::dma_addr_t, usize),
    ) -> usize {
        let mut offset = 0;
        let mut covered = 0;
        self.for_each_segment(|seg| {
            let mut start = range.start.max(offset);
            let end = range.end.min(offset + seg.len);
            while start < end {
                let addr = seg.addr + (start - offset) as u64;
                // `[addr, addr + end - start)` lies within one mapped segment.
                let len = dma::sync_run(&self.dev, self.iommu_page, addr, end - start);
                f(addr, len);
                covered += len;
                start += len;
            }
            offset += seg.len;
            offset < range.end
        });
        covered
    }

    /// Calls `sync(address, len)` for each run of `bytes` (see "Syncs"),
    /// unless the device needs no syncs: coherent and nothing bounced, when
    /// every call would be a no-op and walking a table of a thousand pages
    /// is not. Counts the calls; returns how many bytes the mapping covered.
    fn sync_runs(
        &self,
        bytes: Range<usize>,
        mut sync: impl FnMut(bindings::dma_addr_t, usize),
    ) -> usize {
        if !dma::needs_sync(&self.dev) {
            return bytes.len().min(self.size);
        }
        let mut calls = 0;
        let synced = self.for_each_run(bytes, |addr, len| {
            calls += 1;
            sync(addr, len);
        });
        bump(&self.stats.sync_calls, calls);
        synced
    }

    /// Hands `bytes` of the buffer to the device, in `direction`: for a
    /// frame (QBUF, [`DataDirection::FromDevice`]), or the CPU's bytes
    /// before the mapping of a CPU-owned import goes
    /// ([`DataDirection::ToDevice`], counted apart). Returns how many bytes
    /// the mapping covered; [`DataDirection::None`] syncs nothing.
    pub(crate) fn sync_for_device(&self, bytes: Range<usize>, direction: DataDirection) -> usize {
        if direction == DataDirection::None {
            // Nothing travels (and the DMA API would `BUG()` on it).
            return 0;
        }
        let synced = self.sync_runs(bytes, |addr, len| {
            // SAFETY: `[addr, addr + len)` lies within one segment mapped
            // for `dev` and is a run one sync may cover (`sync_runs`), so
            // the sync touches only the buffer's own memory (or bounce
            // slots). A direction the mapping does not allow would be
            // DMA-API misuse, which its debugging reports, not a memory
            // error.
            unsafe {
                bindings::rvcap_dma_sync_single_for_device(
                    self.dev.as_raw(),
                    addr,
                    len,
                    direction.as_raw(),
                )
            };
        });
        let (count, total) = if direction == DataDirection::ToDevice {
            (
                &self.stats.sync_before_unmap,
                &self.stats.bytes_before_unmap,
            )
        } else {
            (&self.stats.sync_for_device, &self.stats.bytes_for_device)
        };
        bump(count, 1);
        bump(total, synced as u64);
        synced
    }

    /// Hands `bytes` of the buffer back to the CPU, in `direction` (DQBUF);
    /// returns how many bytes the mapping covered; [`DataDirection::None`]
    /// syncs nothing.
    pub(crate) fn sync_for_cpu(&self, bytes: Range<usize>, direction: DataDirection) -> usize {
        if direction == DataDirection::None {
            // As in `sync_for_device`.
            return 0;
        }
        let synced = self.sync_runs(bytes, |addr, len| {
            // SAFETY: as in `sync_for_device`.
            unsafe {
                bindings::rvcap_dma_sync_single_for_cpu(
                    self.dev.as_raw(),
                    addr,
                    len,
                    direction.as_raw(),
                )
            };
        });
        bump(&self.stats.sync_for_cpu, 1);
        bump(&self.stats.bytes_for_cpu, synced as u64);
        synced
    }

    /// Whether the memory is seen through a dma-buf: an import, or MMAP
    /// memory with live exports.
    pub(crate) fn has_dma_buf(&self) -> bool {
        match &self.backing {
            Backing::Import(_) => true,
            Backing::Mmap(m) => m.user_pages().exports() > 0,
        }
    }

    /// Publishes `fence`, the device's write fence for this memory, in the
    /// reservation object of each dma-buf it is seen through, after
    /// recording in `waits` the fences there the device must wait for
    /// first ([`crate::kapi::dma_fence::publish_write`]): an import's dma-buf (all the
    /// exports of its pages, if it is one of rvcap's exports); every live
    /// export of MMAP memory (one EXPBUF makes while the device holds the
    /// buffer gets the fence there); none for MMAP memory never exported.
    pub(crate) fn publish_write_fence(&self, fence: &WriteFence, waits: &mut WaitList) -> Result {
        match &self.backing {
            Backing::Import(table) => {
                dma_buf_export::publish_on_import(table.attachment(), fence, waits)
            }
            Backing::Mmap(m) if m.user_pages().exports() > 0 => {
                m.user_pages().registry().publish_write_fence(fence, waits)
            }
            Backing::Mmap(_) => Ok(()),
        }
    }

    /// After [`Self::sync_for_cpu`] of a frame the device wrote: the other
    /// views of the memory take it. For exported MMAP memory, every mapped
    /// importer table of its exports; for an import of one of rvcap's
    /// exports, every other importer's
    /// ([`crate::kapi::dma_buf_export::ExportRegistry::push`]); else
    /// nothing.
    pub(crate) fn hand_frame_to_other_views(&self) {
        match &self.backing {
            Backing::Mmap(m) if m.user_pages().exports() > 0 => {
                m.user_pages()
                    .registry()
                    .push(&self.stats, core::ptr::null());
            }
            Backing::Import(table) => dma_buf_export::imported_synced_for_cpu(table.attachment()),
            Backing::Mmap(_) => {}
        }
    }
}
