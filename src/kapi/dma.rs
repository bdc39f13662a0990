// SPDX-License-Identifier: GPL-2.0

//! Memory a device writes by DMA, one RAII type per resource:
//!
//! - [`DeviceMemory`]: a buffer mapped for the device, shared as an [`Arc`]
//!   ([`Mapping`]) by the queue and the engine. Either an imported dma-buf's
//!   [`ImportedTable`] or driver-allocated MMAP memory ([`MmapMemory`]:
//!   drop unmaps, frees the table, then frees the pages). It offers the
//!   syncs and the device's own view of the memory
//!   ([`DeviceMemory::write_as_device`]).
//! - [`DmaStats`]: what all of them did, for debugfs.
//!
//! # Directions
//!
//! The queue chooses the direction of every mapping and sync
//! ([`DataDirection`]; its `queue::Direction` says why each is what it is);
//! this layer passes them to the DMA API as they are. MMAP memory is
//! unmapped with `DMA_ATTR_SKIP_CPU_SYNC`: the queue hands every MMAP
//! buffer back to the CPU before freeing it, so an unmap sync could only
//! overwrite what userspace wrote (a buffer still mmapped outlives
//! REQBUFS(0)).
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

use super::bindings;
use super::device::DeviceRef;
use super::dma_buf::ImportedTable;
use super::dma_buf_export::{self, ExportRegistry};
use super::dma_fence::{WaitList, WriteFence};
use crate::pattern::FrameSink;
use core::ops::Range;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::error::to_result;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// Which way the bytes of a mapping or a sync travel (`enum
/// dma_data_direction`; mainline's `kernel::dma::DataDirection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum DataDirection {
    /// `DMA_BIDIRECTIONAL`.
    Bidirectional = bindings::dma_data_direction_DMA_BIDIRECTIONAL,
    /// `DMA_TO_DEVICE`.
    ToDevice = bindings::dma_data_direction_DMA_TO_DEVICE,
    /// `DMA_FROM_DEVICE`.
    FromDevice = bindings::dma_data_direction_DMA_FROM_DEVICE,
}

impl DataDirection {
    pub(super) fn as_raw(self) -> bindings::dma_data_direction {
        self as bindings::dma_data_direction
    }

    /// The direction of a raw `enum dma_data_direction`; `None` for
    /// `DMA_NONE` or anything else.
    pub(super) fn from_raw(raw: bindings::dma_data_direction) -> Option<Self> {
        [Self::Bidirectional, Self::ToDevice, Self::FromDevice]
            .into_iter()
            .find(|d| d.as_raw() == raw)
    }
}

/// What the DMA side did, for debugfs and the tests.
#[derive(Default)]
pub(crate) struct DmaStats {
    /// `dma_buf_attach` calls that succeeded.
    pub(crate) attach: AtomicU64,
    /// `dma_buf_detach` calls.
    pub(crate) detach: AtomicU64,
    /// Mappings made: imported (`dma_buf_map_attachment`) or MMAP.
    pub(crate) map: AtomicU64,
    /// Mappings undone.
    pub(crate) unmap: AtomicU64,
    /// Syncs for the device that hand it the buffer for a frame.
    pub(crate) sync_for_device: AtomicU64,
    /// Syncs for the CPU (one per DQBUF or cancelled MMAP buffer).
    pub(crate) sync_for_cpu: AtomicU64,
    /// Bytes handed to the device by syncs.
    pub(crate) bytes_for_device: AtomicU64,
    /// Bytes handed back to the CPU by syncs.
    pub(crate) bytes_for_cpu: AtomicU64,
    /// `dma_sync_single_*` calls all syncs made (one per run of a buffer:
    /// see "Syncs").
    pub(crate) sync_calls: AtomicU64,
    /// Syncs that hand the CPU's bytes of a CPU-owned import to the device
    /// side before its mapping goes (`DMA_TO_DEVICE`; the queue's "nothing
    /// lost").
    pub(crate) sync_before_unmap: AtomicU64,
    /// Bytes those syncs covered.
    pub(crate) bytes_before_unmap: AtomicU64,
    /// Dma-buf references taken (`dma_buf_get`).
    pub(crate) get: AtomicU64,
    /// Dma-buf references dropped (`dma_buf_put`).
    pub(crate) put: AtomicU64,
    /// Dma-bufs exported (VIDIOC_EXPBUF; `dma_buf_export`).
    pub(crate) export: AtomicU64,
    /// Exported dma-bufs released (their last reference went).
    pub(crate) export_release: AtomicU64,
    /// `begin_cpu_access` calls on exported dma-bufs.
    pub(crate) export_begin_cpu_access: AtomicU64,
    /// `end_cpu_access` calls on exported dma-bufs.
    pub(crate) export_end_cpu_access: AtomicU64,
    /// Syncs those calls and `vunmap` made: one per importer's mapped
    /// table (of every export of the pages).
    pub(crate) export_syncs: AtomicU64,
    /// Syncs for the device of an importer's mapped table of an exported
    /// MMAP buffer when a frame reached the pages: rvcap's device wrote it
    /// and the queue handed it to the CPU (DQBUF, STREAMOFF's give-back of
    /// a buffer the device wrote), or the device of an rvcap queue
    /// importing the export did, at the same points of that queue (then
    /// counted on the exporting device): the other views get it too.
    pub(crate) export_pushes: AtomicU64,
    /// Syncs for the CPU of an importer's table at its unmap or detach
    /// (the importer's device may have written it).
    pub(crate) export_unmap_syncs: AtomicU64,
    /// Bytes those syncs and `export_syncs` covered.
    pub(crate) export_bytes_synced: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Pages allocated for an MMAP buffer; dropping frees them.
///
/// # Invariants
///
/// Every entry is a page this value allocated (one by one, or split from
/// one contiguous allocation) and frees once, in `drop`.
struct Pages(KVec<NonNull<bindings::page>>);

// SAFETY: the pointers name pages this value owns; a `struct page` may be
// mapped, synced and freed from any thread, and they are freed once, in
// `drop`, by whichever thread drops the last owner.
unsafe impl Send for Pages {}
// SAFETY: a shared reference only reads the pointers (to map the pages or
// build tables over them), never changes or frees them.
unsafe impl Sync for Pages {}

impl Pages {
    /// `count` pages, wherever they are.
    fn alloc(count: usize) -> Result<Self> {
        let mut pages = Pages(KVec::with_capacity(count, GFP_KERNEL)?);
        for _ in 0..count {
            // SAFETY: plain page allocation, no preconditions.
            let page = unsafe { bindings::rvcap_alloc_zeroed_page() };
            // INVARIANT: only allocated pages are pushed. On failure,
            // dropping `pages` frees what was allocated.
            pages
                .0
                .push(NonNull::new(page).ok_or(ENOMEM)?, GFP_KERNEL)?;
        }
        Ok(pages)
    }

    /// `count` physically contiguous pages.
    fn alloc_contiguous(count: usize) -> Result<Self> {
        // The array first, so that nothing can fail once the pages exist.
        let mut pages = KVec::from_elem(NonNull::dangling(), count, GFP_KERNEL)?;
        // SAFETY: plain allocation, no preconditions.
        let first = NonNull::new(unsafe { bindings::rvcap_alloc_pages_exact(count * PAGE_SIZE) })
            .ok_or(ENOMEM)?;
        for (n, page) in pages.iter_mut().enumerate() {
            // SAFETY: page `n < count` of one allocation of `count` pages: a
            // valid, non-null `struct page` pointer.
            *page = unsafe { NonNull::new_unchecked(bindings::rvcap_nth_page(first.as_ptr(), n)) };
        }
        // INVARIANT: every entry was set to a page of the allocation, which
        // `alloc_pages_exact` made of order-0 pages that are freed one by one.
        Ok(Pages(pages))
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        for page in self.0.iter() {
            // SAFETY: each page is ours and freed once (type invariant).
            // Userspace mappings hold their own page references
            // (vm_map_pages), so memory still mapped outlives this.
            unsafe { bindings::rvcap_free_page(page.as_ptr()) };
        }
    }
}

/// A scatter table over [`Pages`]; dropping frees the table (not the pages).
///
/// # Invariants
///
/// The table was initialised by a successful
/// `sg_alloc_table_from_pages_segment` and is freed once, in `drop`.
pub(super) struct SgTable(KBox<Opaque<bindings::sg_table>>);

impl SgTable {
    fn new(pages: &Pages, size: usize, max_segment: usize) -> Result<Self> {
        let storage: KBox<Opaque<bindings::sg_table>> = KBox::new(Opaque::uninit(), GFP_KERNEL)?;
        let count = u32::try_from(pages.0.len()).map_err(|_| EINVAL)?;
        let max_segment = u32::try_from(max_segment).map_err(|_| EINVAL)?;
        // SAFETY: `storage` is writable memory for a table, which the call
        // initialises; the page array holds `count` valid pages covering
        // `size` bytes and is only read during the call. On failure the
        // call frees whatever it allocated and `storage` owns nothing.
        to_result(unsafe {
            bindings::sg_alloc_table_from_pages_segment(
                storage.get(),
                pages.0.as_ptr().cast::<*mut bindings::page>().cast_mut(),
                count,
                0,
                size,
                max_segment,
                bindings::RVCAP_CONST_GFP_KERNEL,
            )
        })?;
        // INVARIANT: initialised above.
        Ok(SgTable(storage))
    }

    /// A table over `pages` (`size` bytes) for `dev`, an importer's: its
    /// segments within the device's maximum segment size and boundary.
    fn for_device(pages: &Pages, size: usize, dev: &DeviceRef) -> Result<Self> {
        let storage: KBox<Opaque<bindings::sg_table>> = KBox::new(Opaque::uninit(), GFP_KERNEL)?;
        let count = u32::try_from(pages.0.len()).map_err(|_| EINVAL)?;
        if size > pages.0.len() * PAGE_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: as in `new`; `dev` is live (we hold a reference) and only
        // its DMA parameters are read.
        to_result(unsafe {
            bindings::rvcap_sg_table_for_device(
                storage.get(),
                pages.0.as_ptr().cast::<*mut bindings::page>().cast_mut(),
                count,
                size,
                dev.as_raw(),
            )
        })?;
        // INVARIANT: initialised above.
        Ok(SgTable(storage))
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::sg_table {
        self.0.get()
    }
}

impl Drop for SgTable {
    fn drop(&mut self) {
        // SAFETY: initialised and freed once (type invariant).
        unsafe { bindings::sg_free_table(self.as_ptr()) };
    }
}

/// An [`SgTable`] mapped for a device; dropping unmaps it.
///
/// # Invariants
///
/// `sgt` was mapped for `dev` with `direction` by `rvcap_dma_map_sgtable`
/// and is unmapped once, in `drop`; the table outlives this value (field
/// order in [`MmapMemory`]).
struct MappedTable {
    dev: DeviceRef,
    sgt: *mut bindings::sg_table,
    direction: DataDirection,
}

impl Drop for MappedTable {
    fn drop(&mut self) {
        // No CPU sync: the queue hands MMAP memory back to the CPU before it
        // frees it; a sync here would only copy stale bounce slots over
        // what userspace wrote into a buffer it still has mmapped.
        // SAFETY: mapped for `dev` in this direction and unmapped once (type
        // invariant); the device is alive (we hold a reference).
        unsafe {
            bindings::rvcap_dma_unmap_sgtable(
                self.dev.as_raw(),
                self.sgt,
                self.direction.as_raw(),
                bindings::RVCAP_CONST_DMA_ATTR_SKIP_CPU_SYNC,
            )
        };
    }
}

/// The pages of an MMAP buffer and its userspace mappings: what a VMA
/// keeps alive. Only the pages: an orphan (a buffer still mmapped after
/// REQBUFS(0)) is never reached by the device again, so its DMA mapping,
/// which holds swiotlb slots, IOVAs or an uncached alias, goes with the
/// queue's buffer, not with the last VMA.
pub(crate) struct UserPages {
    pages: Pages,
    /// Userspace mappings (VMAs) of these pages.
    user_maps: AtomicU32,
    /// Live dma-bufs exporting these pages (see `dma_buf_export`).
    exports: AtomicU32,
    /// Those dma-bufs, for keeping their importers' views of the pages
    /// up to date and for the CPU's brackets on any of them.
    registry: Pin<KBox<ExportRegistry>>,
}

impl UserPages {
    /// The pages, for `vm_map_pages`.
    pub(super) fn pages(&self) -> &[NonNull<bindings::page>] {
        &self.pages.0
    }

    /// A scatter table over all of the pages (`size` bytes), not mapped:
    /// importer `dev`'s own, within its segment limits.
    pub(super) fn table_for(&self, size: usize, dev: &DeviceRef) -> Result<SgTable> {
        SgTable::for_device(&self.pages, size, dev)
    }

    /// The live exports of these pages.
    pub(super) fn registry(&self) -> &ExportRegistry {
        &self.registry
    }

    /// Counts an exported dma-buf made (`true`) or released (`false`).
    pub(super) fn exported(&self, made: bool) {
        if made {
            self.exports.fetch_add(1, Ordering::Relaxed);
        } else {
            self.exports.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Counts a userspace mapping made (`true`) or gone (`false`).
    pub(super) fn user_mapping(&self, made: bool) {
        if made {
            self.user_maps.fetch_add(1, Ordering::Relaxed);
        } else {
            self.user_maps.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A hold on the pages of MMAP memory without its DMA mapping, which goes
/// with the queue's buffer: what an exported dma-buf keeps (see
/// `dma_buf_export`), with the stats its export counts in.
pub(crate) struct HeldPages {
    pub(super) pages: Arc<UserPages>,
    pub(super) stats: Arc<DmaStats>,
}

/// Driver-allocated (MMAP) memory, mapped for the device.
pub(crate) struct MmapMemory {
    // Field order is drop order: unmap, free the table, then the pages
    // (theirs, once no VMA holds them either).
    _mapped: MappedTable,
    table: SgTable,
    pages: Arc<UserPages>,
}

impl MmapMemory {
    /// `size` bytes mapped for `dev`; `contiguous`: physically contiguous and
    /// mapped as one segment.
    fn new(
        dev: &DeviceRef,
        size: usize,
        contiguous: bool,
        direction: DataDirection,
    ) -> Result<Self> {
        let count = size.div_ceil(PAGE_SIZE);
        let (pages, max_segment) = if contiguous {
            (Pages::alloc_contiguous(count)?, count * PAGE_SIZE)
        } else {
            // SAFETY: `dev` is a live device (we hold a reference).
            (Pages::alloc(count)?, unsafe {
                bindings::rvcap_dma_max_segment(dev.as_raw())
            })
        };
        let pages = Arc::new(
            UserPages {
                pages,
                user_maps: AtomicU32::new(0),
                exports: AtomicU32::new(0),
                registry: KBox::pin_init(ExportRegistry::new(), GFP_KERNEL)?,
            },
            GFP_KERNEL,
        )?;
        let table = SgTable::new(&pages.pages, size, max_segment)?;
        // No CPU sync at map time: the buffer starts CPU-owned and QBUF syncs
        // it for the device before the device may write it.
        // SAFETY: `table` is initialised, not mapped, and outlives the mapping;
        // `dev` is live.
        to_result(unsafe {
            bindings::rvcap_dma_map_sgtable(
                dev.as_raw(),
                table.as_ptr(),
                direction.as_raw(),
                bindings::RVCAP_CONST_DMA_ATTR_SKIP_CPU_SYNC,
            )
        })?;
        Ok(Self {
            // INVARIANT: mapped above; declared before `table`, so dropped first.
            _mapped: MappedTable {
                dev: dev.clone(),
                sgt: table.as_ptr(),
                direction,
            },
            table,
            pages,
        })
    }

    /// The pages, which userspace mappings share.
    pub(super) fn user_pages(&self) -> &Arc<UserPages> {
        &self.pages
    }
}

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
/// `rvcap_dma_iommu_page(dev)`: the page size of the IOMMU translating the
/// device's DMA, 0 if none; `coherent` is whether the device's DMA is
/// coherent with the CPU's caches. For a non-coherent device, `uncached` is
/// the uncached alias of the pages behind the DMA addresses (segment after
/// segment, each from the start of its first page), or `None` if they are
/// not all in the kernel's linear map; for a coherent one, `None`.
pub(crate) struct DeviceMemory {
    // Before `backing`: dropped before the memory is unmapped.
    uncached: Option<UncachedAlias>,
    backing: Backing,
    dev: DeviceRef,
    size: usize,
    iommu_page: usize,
    coherent: bool,
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

/// A DMA segment: device address and length.
#[derive(Clone, Copy)]
struct Segment {
    addr: bindings::dma_addr_t,
    len: usize,
}

impl Segment {
    /// How many pages of the device's address space it touches.
    fn pages(&self) -> usize {
        (self.addr as usize % PAGE_SIZE + self.len).div_ceil(PAGE_SIZE)
    }
}

/// The shared handle the queue and the engine hold.
pub(crate) type Mapping = Arc<DeviceMemory>;

/// The page size of the IOMMU that translates `dev`'s DMA, 0 if none: a
/// device's DMA setup does not change while a driver uses it, so mappings
/// look it up once.
fn iommu_page(dev: &DeviceRef) -> usize {
    // SAFETY: `dev` is a live device (we hold a reference).
    unsafe { bindings::rvcap_dma_iommu_page(dev.as_raw()) }
}

/// The largest physically contiguous buffer the page allocator can give.
pub(crate) fn max_contiguous_bytes() -> usize {
    // SAFETY: no preconditions.
    unsafe { bindings::rvcap_max_contiguous_bytes() }
}

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
            iommu_page: iommu_page(dev),
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
            iommu_page: iommu_page(&dev),
            coherent: dev.is_dma_coherent(),
            dev,
            size,
            stats: stats.clone(),
        }
    }

    /// For a non-coherent device, maps the uncached alias the engine writes
    /// through: once per mapping, since `vmap` allocates and a frame must
    /// not. Found as the device finds memory, through the DMA addresses
    /// (with swiotlb, the bounce slots; behind an IOMMU, its translation),
    /// which stay what they are while the buffer is mapped.
    fn with_uncached_alias(mut self) -> Result<Self> {
        if self.coherent {
            return Ok(self);
        }
        let mut count = 0;
        self.for_each_segment(|seg| {
            count += seg.pages();
            true
        });
        if count == 0 {
            return Ok(self);
        }
        // KVVec: a 1080p buffer's array alone is 8 KiB.
        let mut pages = KVVec::from_elem(NonNull::dangling(), count, GFP_KERNEL)?;
        let mut slots = pages.iter_mut();
        let mut reached = true;
        self.for_each_segment(|seg| {
            let first = seg.addr & !(PAGE_SIZE as u64 - 1);
            let end = seg.addr + seg.len as u64;
            for n in 0..seg.pages() {
                let page = first + (n * PAGE_SIZE) as u64;
                let bytes = seg.addr.max(page)..end.min(page + PAGE_SIZE as u64);
                match (self.page_behind(bytes), slots.next()) {
                    (Some(page), Some(slot)) => *slot = page,
                    _ => {
                        reached = false;
                        return false;
                    }
                }
            }
            true
        });
        if reached {
            // SAFETY: each entry is the page of the kernel's linear map that
            // holds the bytes of one page of the buffer's DMA addresses, at
            // the same offsets (`page_behind`); it stays allocated while the
            // buffer is mapped, and the alias is dropped before the backing
            // unmaps (field order). Mapping may sleep, as here.
            // INVARIANT: the alias of the pages behind the DMA addresses.
            self.uncached = Some(unsafe { UncachedAlias::new(&pages)? });
        }
        Ok(self)
    }

    /// The page of the kernel's linear map holding the bytes the device
    /// reaches at the DMA addresses `bytes` (within one page of its address
    /// space), each at the offset in that page its address has; `None` if
    /// any of them is unreachable or lies elsewhere (behind an IOMMU whose
    /// pages are smaller than the CPU's, one CPU page of IOVAs may map to
    /// several pages of memory).
    fn page_behind(&self, bytes: Range<u64>) -> Option<NonNull<bindings::page>> {
        let mut base: Option<*mut u8> = None;
        let mut addr = bytes.start;
        while addr < bytes.end {
            let mut len = (bytes.end - addr) as usize;
            // SAFETY: `dev` is live. The helper returns the kernel virtual
            // address of the first `len` bytes (cutting `len` to what is
            // contiguous) the device reaches at `addr`, only if they are in
            // the linear map (with swiotlb, the bounce slot; behind an IOMMU,
            // its translation), and null otherwise.
            let vaddr = unsafe {
                bindings::rvcap_dma_addr_to_virt(self.dev.as_raw(), self.iommu_page, addr, &mut len)
            }
            .cast::<u8>();
            let offset = addr as usize % PAGE_SIZE;
            if vaddr.is_null() || len == 0 || vaddr as usize % PAGE_SIZE != offset {
                return None;
            }
            let page_start = vaddr.wrapping_sub(offset);
            if base.is_some_and(|b| b != page_start) {
                return None;
            }
            base = Some(page_start);
            addr += len as u64;
        }
        // SAFETY: the start of a page of the linear map, where the helper
        // found the bytes.
        NonNull::new(unsafe { bindings::rvcap_virt_to_page(base?.cast()) })
    }

    /// Its size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn sgt(&self) -> *mut bindings::sg_table {
        match &self.backing {
            Backing::Mmap(m) => m.table.as_ptr(),
            Backing::Import(i) => i.sgt().as_ptr(),
        }
    }

    /// The MMAP memory, if this is driver-allocated.
    pub(super) fn mmap(&self) -> Option<&MmapMemory> {
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
            .is_some_and(|m| m.pages.user_maps.load(Ordering::Relaxed) > 0)
    }

    /// How many dma-bufs exporting MMAP memory are alive (0 for an
    /// import).
    pub(crate) fn exports(&self) -> u32 {
        self.mmap()
            .map_or(0, |m| m.pages.exports.load(Ordering::Relaxed))
    }

    /// A hold on the pages of MMAP memory (`None` for an import), for an
    /// export to keep: the pages, not this mapping of them.
    pub(crate) fn hold_pages(&self) -> Option<HeldPages> {
        Some(HeldPages {
            pages: self.mmap()?.pages.clone(),
            stats: self.stats.clone(),
        })
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

    /// Calls `f` for each DMA segment, in order, until it returns `false`.
    fn for_each_segment(&self, mut f: impl FnMut(Segment) -> bool) {
        let sgt = self.sgt();
        // SAFETY: the table is mapped (type invariant); `nents` is the number
        // of DMA segments and `sgl` its first entry.
        let (mut sg, nents) = unsafe { ((*sgt).sgl, (*sgt).nents) };
        for _ in 0..nents {
            if sg.is_null() {
                break;
            }
            // SAFETY: `sg` is one of the table's first `nents` entries;
            // importers may only use the DMA address and length of an
            // exporter's table (CONFIG_DMABUF_DEBUG checks it), which is all
            // that is read here.
            let seg = unsafe {
                Segment {
                    addr: bindings::rvcap_sg_dma_address(sg),
                    len: bindings::rvcap_sg_dma_len(sg) as usize,
                }
            };
            if !f(seg) {
                break;
            }
            // SAFETY: `sg` is a valid entry; `sg_next` follows chains.
            sg = unsafe { bindings::rvcap_sg_next(sg) };
        }
    }

    /// Calls `f(dma_address, len)` for the bytes `range` of the buffer, in
    /// runs one sync may cover (a sync translates only its first address):
    /// within one DMA segment and, where the DMA layer translates, as much
    /// as `rvcap_dma_sync_run` says (behind an IOMMU whose syncs act on
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
                // SAFETY: `dev` is live and `[addr, addr + end - start)` lies
                // within one of its mapped segments; the helper only reads
                // the device's DMA set-up and the IOMMU's translation.
                let len = unsafe {
                    bindings::rvcap_dma_sync_run(
                        self.dev.as_raw(),
                        self.iommu_page,
                        addr,
                        end - start,
                    )
                };
                f(addr, len);
                covered += len;
                start += len;
            }
            offset += seg.len;
            offset < range.end
        });
        covered
    }

    /// Whether syncs can change anything for the device: not for a
    /// coherent one whose DMA nothing bounces (unless DMA-API debugging
    /// wants to see them).
    pub(crate) fn needs_sync(dev: &DeviceRef) -> bool {
        // SAFETY: `dev` is live (we hold a reference).
        unsafe { bindings::rvcap_dma_dev_need_sync(dev.as_raw()) }
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
        if !Self::needs_sync(&self.dev) {
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
    /// the mapping covered.
    pub(crate) fn sync_for_device(&self, bytes: Range<usize>, direction: DataDirection) -> usize {
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
    /// returns how many bytes the mapping covered.
    pub(crate) fn sync_for_cpu(&self, bytes: Range<usize>, direction: DataDirection) -> usize {
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
            Backing::Mmap(m) => m.pages.exports.load(Ordering::Relaxed) > 0,
        }
    }

    /// Publishes `fence`, the device's write fence for this memory, in the
    /// reservation object of each dma-buf it is seen through, after
    /// recording in `waits` the fences there the device must wait for
    /// first ([`dma_fence::publish_write`]): an import's dma-buf (all the
    /// exports of its pages, if it is one of rvcap's exports); every live
    /// export of MMAP memory (one EXPBUF makes while the device holds the
    /// buffer gets the fence there); none for MMAP memory never exported.
    pub(crate) fn publish_write_fence(&self, fence: &WriteFence, waits: &mut WaitList) -> Result {
        match &self.backing {
            Backing::Import(table) => {
                dma_buf_export::publish_on_import(table.attachment(), fence, waits)
            }
            Backing::Mmap(m) if m.pages.exports.load(Ordering::Relaxed) > 0 => {
                m.pages.registry.publish_write_fence(fence, waits)
            }
            Backing::Mmap(_) => Ok(()),
        }
    }

    /// After [`Self::sync_for_cpu`] of a frame the device wrote: the other
    /// views of the memory take it. For exported MMAP memory, every mapped
    /// importer table of its exports; for an import of one of rvcap's
    /// exports, every other importer's ([`ExportRegistry::push`]); else
    /// nothing.
    pub(crate) fn hand_frame_to_other_views(&self) {
        match &self.backing {
            Backing::Mmap(m) if m.pages.exports.load(Ordering::Relaxed) > 0 => {
                m.pages.registry.push(&self.stats, core::ptr::null());
            }
            Backing::Import(table) => dma_buf_export::imported_synced_for_cpu(table.attachment()),
            Backing::Mmap(_) => {}
        }
    }

    /// Writes as the device does: through the DMA addresses of each segment
    /// (translated by the IOMMU, if the device is behind one), never through
    /// the CPU's view of the pages; and for a non-coherent device around the
    /// CPU's caches, through the uncached alias made when the buffer was
    /// mapped, as its writes reach memory (written into the cacheable
    /// linear map, a frame would sit in lines that the DQBUF sync
    /// invalidates). `fill(offset, window)` writes the frame bytes from
    /// `offset` on into `window`, a run of bytes contiguous for the device
    /// and in the kernel's address space (the linear map; for a
    /// non-coherent device, the alias, where a whole segment is one run),
    /// and returns `false` when the frame is complete. Returns `false` if
    /// an address could not be reached (no translation, or memory outside
    /// the kernel's linear map): the device would fault. For a non-coherent
    /// device that is known when the buffer is mapped, and then no byte of
    /// it is written.
    ///
    /// This is memory-safe whoever owns the buffer: the bytes are written
    /// only through raw pointers into mapped kernel memory that stays mapped
    /// for the device while `self` lives, and no Rust reference to a
    /// buffer's contents exists anywhere (userspace and other devices may
    /// touch them at any time, as they may with real DMA). Writing while the
    /// CPU owns the buffer would break the DMA API's rules and lose data,
    /// not memory safety; the queue only hands the engine buffers in its
    /// `Active` state, synced for the device.
    pub(crate) fn write_as_device(
        &self,
        mut fill: impl FnMut(usize, &mut DeviceWindow<'_>) -> bool,
    ) -> bool {
        if !self.coherent && self.uncached.is_none() {
            // Memory the CPU cannot map uncached: the device would fault.
            return false;
        }
        let mut offset = 0;
        let mut alias_page = 0;
        let mut reached = true;
        self.for_each_segment(|seg| {
            let mut done = 0;
            while done < seg.len {
                let mut len = seg.len - done;
                let start = if let Some(alias) = &self.uncached {
                    // A non-coherent device writes memory, not the CPU's
                    // caches: through the uncached alias, where a segment is
                    // contiguous, so that the DQBUF sync's invalidate cannot
                    // discard the frame.
                    let at = alias_page * PAGE_SIZE + seg.addr as usize % PAGE_SIZE + done;
                    NonNull::new(alias.start.as_ptr().wrapping_add(at))
                } else {
                    // SAFETY: `dev` is live. The helper returns the kernel
                    // virtual address of the first `len` bytes (cutting `len`
                    // to what is contiguous) the device reaches at this
                    // address, only if they are in the linear map (with
                    // swiotlb, the bounce slot; behind an IOMMU, its
                    // translation), and null otherwise.
                    let vaddr = unsafe {
                        bindings::rvcap_dma_addr_to_virt(
                            self.dev.as_raw(),
                            self.iommu_page,
                            seg.addr + done as u64,
                            &mut len,
                        )
                    };
                    NonNull::new(vaddr.cast::<u8>())
                };
                let Some(start) = start else {
                    reached = false;
                    return false;
                };
                // INVARIANT: the `len` bytes at `start` are mapped kernel
                // memory while `self` lives: the linear map's view of bytes
                // mapped for the device, or their part of the uncached
                // alias (the rest of this segment, within the segment's
                // pages of the alias).
                let mut window = DeviceWindow {
                    start,
                    len,
                    written: 0,
                    _memory: core::marker::PhantomData,
                };
                let more = fill(offset, &mut window);
                offset += len;
                done += len;
                if !more {
                    return false;
                }
            }
            alias_page += seg.pages();
            true
        });
        if !self.coherent {
            // The device's writes are complete before it reports the frame.
            // SAFETY: a barrier, no preconditions.
            unsafe { bindings::rvcap_wmb() };
        }
        reached
    }

    /// Whether a device access after this memory's unmap faults at once: it
    /// goes through an IOMMU that invalidates at unmap (strict mode).
    pub(crate) fn unmap_faults_at_once(&self) -> bool {
        // SAFETY: `dev` is live (we hold a reference).
        self.iommu_page != 0 && unsafe { bindings::rvcap_dma_iommu_strict(self.dev.as_raw()) }
    }
}

/// A run of a buffer's bytes, contiguous for the device and in the kernel's
/// address space, as [`DeviceMemory::write_as_device`] hands it out: bytes
/// the device may write, written in order.
///
/// # Invariants
///
/// `start..start + len` is kernel memory (the linear map's view of bytes of
/// a buffer mapped for the device, or an uncached alias of them) that stays
/// mapped while the window exists; `written <= len`.
pub(crate) struct DeviceWindow<'a> {
    start: NonNull<u8>,
    len: usize,
    written: usize,
    _memory: core::marker::PhantomData<&'a DeviceMemory>,
}

impl DeviceWindow<'_> {
    /// Writes no more than `len` bytes from here on (the device stops early).
    pub(crate) fn limit(&mut self, len: usize) {
        // INVARIANT: only ever shrinks, and not below what was written.
        self.len = self.len.min(self.written + len);
    }

    /// Leaves the next `len` bytes (at most the room left) as they are:
    /// another part of the device writes them. Returns how many it skipped.
    pub(crate) fn skip(&mut self, len: usize) -> usize {
        let n = len.min(self.room());
        // INVARIANT: `n <= room()`, so `written` stays within `len`.
        self.written += n;
        n
    }
}

/// An uncached (write-combining) mapping of the pages behind a buffer's DMA
/// addresses, as a non-coherent DMA master reaches memory: writes through
/// it reach memory, not the CPU's caches. Dropping unmaps it.
///
/// # Invariants
///
/// `start` is a `vmap` of pages that stay allocated while it exists, made by
/// `rvcap_vmap_uncached` and undone once, in `drop`.
struct UncachedAlias {
    start: NonNull<u8>,
}

impl UncachedAlias {
    /// Maps `pages`, in order.
    ///
    /// # Safety
    ///
    /// Each of `pages` is a page of the kernel's linear map that stays
    /// allocated while the alias exists, and the caller may sleep.
    unsafe fn new(pages: &[NonNull<bindings::page>]) -> Result<Self> {
        let count = u32::try_from(pages.len()).map_err(|_| ENOMEM)?;
        // SAFETY: `pages` holds `count` page pointers (`NonNull<page>` has
        // the layout of `*mut page`), which `vmap` reads and does not keep;
        // by the caller's contract the pages exist and `vmap` may sleep.
        let start =
            unsafe { bindings::rvcap_vmap_uncached(pages.as_ptr().cast_mut().cast(), count) };
        // INVARIANT: a vmap of the caller's pages, or nothing.
        Ok(Self {
            start: NonNull::new(start.cast::<u8>()).ok_or(ENOMEM)?,
        })
    }
}

impl Drop for UncachedAlias {
    fn drop(&mut self) {
        // SAFETY: made by `rvcap_vmap_uncached`, undone once (type invariant).
        unsafe { bindings::rvcap_vunmap_uncached(self.start.as_ptr().cast()) };
    }
}

/// Bytes the CPU prepared for a device to read, mapped for it
/// (`dma_map_single`, `DMA_TO_DEVICE`, which writes back or bounces them);
/// dropping unmaps, then frees them.
///
/// # Invariants
///
/// `addr` is the mapping of all of `bytes` (kmalloc memory, not empty) for
/// `dev` toward the device, unmapped once, in `drop`; `bytes` is not
/// touched while mapped.
pub(crate) struct ToDevice {
    dev: DeviceRef,
    bytes: KVec<u8>,
    addr: bindings::dma_addr_t,
}

// SAFETY: the DMA API may be called from any thread; the bytes are plain data.
unsafe impl Send for ToDevice {}
// SAFETY: shared references only read the address.
unsafe impl Sync for ToDevice {}

impl ToDevice {
    /// Maps `bytes` for `dev` to read.
    pub(crate) fn map(dev: &DeviceRef, mut bytes: KVec<u8>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(EINVAL);
        }
        let mut addr = 0;
        // SAFETY: `bytes` is a non-empty kmalloc allocation (physically
        // contiguous, in the linear map) that this value owns and does not
        // touch until `drop` unmaps it; `dev` is live.
        to_result(unsafe {
            bindings::rvcap_dma_map_single(
                dev.as_raw(),
                bytes.as_mut_ptr().cast(),
                bytes.len(),
                bindings::dma_data_direction_DMA_TO_DEVICE,
                &mut addr,
            )
        })?;
        // INVARIANT: mapped above.
        Ok(Self {
            dev: dev.clone(),
            bytes,
            addr,
        })
    }

    /// The device address of the first byte.
    pub(crate) fn dma_address(&self) -> u64 {
        self.addr
    }
}

impl Drop for ToDevice {
    fn drop(&mut self) {
        // SAFETY: mapped for `dev` with this length and direction, unmapped
        // once (type invariant); the bytes are freed after this.
        unsafe {
            bindings::rvcap_dma_unmap_single(
                self.dev.as_raw(),
                self.addr,
                self.bytes.len(),
                bindings::dma_data_direction_DMA_TO_DEVICE,
            )
        };
    }
}

impl FrameSink for DeviceWindow<'_> {
    fn room(&self) -> usize {
        self.len - self.written
    }

    fn append(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.room());
        // SAFETY: by the type invariant `written + n <= len` bytes of the
        // mapped segment are in bounds; `bytes` is kernel memory of our own,
        // so the two cannot overlap. Written through a raw pointer: userspace
        // may be reading or writing the same memory.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.start.as_ptr().add(self.written), n)
        };
        // INVARIANT: `n <= room()`, so `written` stays within `len`.
        self.written += n;
    }
}
