// SPDX-License-Identifier: GPL-2.0

//! Memory a device reaches by DMA, one RAII type per resource: the general
//! pieces under rvcap's device model ([`crate::dma_master`], whose
//! `DeviceMemory` is what the queue maps).
//!
//! - [`MmapMemory`]: driver-allocated (MMAP) memory mapped for a device:
//!   its pages ([`UserPages`], shared with userspace mappings and exports),
//!   their scatter table and its DMA mapping; drop unmaps, frees the table,
//!   then frees the pages. Its DMA segments, as an imported dma-buf's
//!   ([`super::dma_buf::ImportedTable`]), are read as [`DmaSegment`]s.
//! - [`DmaStats`]: what the DMA side did, for debugfs.
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

use super::bindings;
use super::device::{Device, DeviceRef};
use super::dma_buf_export::ExportRegistry;
use super::sync::atomic::{Atomic, Relaxed};
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// Which way the bytes of a mapping or a sync travel (`enum
/// dma_data_direction`): the kernel crate's `dma::DataDirection` on 7.3;
/// on 6.12, whose crate has none, the same enum here.
///
/// `None` (`DMA_NONE`) transfers nothing: the DMA API `BUG()`s on a map
/// or sync with it, so rvcap's mappings refuse it (`EINVAL`) and its syncs
/// skip it.
#[cfg(rvcap_linux_7_3)]
pub(crate) use kernel::dma::DataDirection;

/// Which way the bytes of a mapping or a sync travel (`enum
/// dma_data_direction`), as the kernel crate's `dma::DataDirection` of 7.3.
///
/// `None` (`DMA_NONE`) transfers nothing: the DMA API `BUG()`s on a map
/// or sync with it, so rvcap's mappings refuse it (`EINVAL`) and its syncs
/// skip it.
#[cfg(not(rvcap_linux_7_3))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum DataDirection {
    /// `DMA_BIDIRECTIONAL`.
    Bidirectional = bindings::dma_data_direction_DMA_BIDIRECTIONAL,
    /// `DMA_TO_DEVICE`.
    ToDevice = bindings::dma_data_direction_DMA_TO_DEVICE,
    /// `DMA_FROM_DEVICE`.
    FromDevice = bindings::dma_data_direction_DMA_FROM_DEVICE,
    /// `DMA_NONE`.
    None = bindings::dma_data_direction_DMA_NONE,
}

/// What rvcap needs of a [`DataDirection`] beyond the kernel crate's: its
/// value for rvcap's own bindings (the kernel crate converts only into its
/// own `bindings`), and back from the value a dma-buf callback is given.
pub(crate) trait DataDirectionExt: Copy {
    /// The `enum dma_data_direction` value.
    fn as_raw(self) -> bindings::dma_data_direction;

    /// The direction of a raw `enum dma_data_direction`; `None` (the
    /// `Option`'s) for a value that is none of the four.
    fn from_raw(raw: bindings::dma_data_direction) -> Option<Self>;
}

// `as_raw` casts: on 7.3 the kernel crate's discriminants come from its own
// bindings, which must agree with rvcap's.
const _: () = {
    assert!(DataDirection::Bidirectional as u32 == bindings::dma_data_direction_DMA_BIDIRECTIONAL);
    assert!(DataDirection::ToDevice as u32 == bindings::dma_data_direction_DMA_TO_DEVICE);
    assert!(DataDirection::FromDevice as u32 == bindings::dma_data_direction_DMA_FROM_DEVICE);
    assert!(DataDirection::None as u32 == bindings::dma_data_direction_DMA_NONE);
};

impl DataDirectionExt for DataDirection {
    fn as_raw(self) -> bindings::dma_data_direction {
        // Both kernels' enums are `repr(u32)` with the C values as their
        // discriminants.
        self as bindings::dma_data_direction
    }

    fn from_raw(raw: bindings::dma_data_direction) -> Option<Self> {
        [
            Self::Bidirectional,
            Self::ToDevice,
            Self::FromDevice,
            Self::None,
        ]
        .into_iter()
        .find(|d| d.as_raw() == raw)
    }
}

/// What the DMA side did, for debugfs and the tests.
pub(crate) struct DmaStats {
    /// `dma_buf_attach` calls that succeeded.
    pub(crate) attach: Atomic<u64>,
    /// `dma_buf_detach` calls.
    pub(crate) detach: Atomic<u64>,
    /// Mappings made: imported (`dma_buf_map_attachment`) or MMAP.
    pub(crate) map: Atomic<u64>,
    /// Mappings undone.
    pub(crate) unmap: Atomic<u64>,
    /// Syncs for the device that hand it the buffer for a frame.
    pub(crate) sync_for_device: Atomic<u64>,
    /// Syncs for the CPU (one per DQBUF or cancelled MMAP buffer).
    pub(crate) sync_for_cpu: Atomic<u64>,
    /// Bytes handed to the device by syncs.
    pub(crate) bytes_for_device: Atomic<u64>,
    /// Bytes handed back to the CPU by syncs.
    pub(crate) bytes_for_cpu: Atomic<u64>,
    /// `dma_sync_single_*` calls all syncs made (one per run of a buffer:
    /// see `dma_master::memory`'s "Syncs").
    pub(crate) sync_calls: Atomic<u64>,
    /// Syncs that hand the CPU's bytes of a CPU-owned import to the device
    /// side before its mapping goes (`DMA_TO_DEVICE`; the queue's "nothing
    /// lost").
    pub(crate) sync_before_unmap: Atomic<u64>,
    /// Bytes those syncs covered.
    pub(crate) bytes_before_unmap: Atomic<u64>,
    /// Dma-buf references taken (`dma_buf_get`).
    pub(crate) get: Atomic<u64>,
    /// Dma-buf references dropped (`dma_buf_put`).
    pub(crate) put: Atomic<u64>,
    /// Dma-bufs exported (VIDIOC_EXPBUF; `dma_buf_export`).
    pub(crate) export: Atomic<u64>,
    /// Exported dma-bufs released (their last reference went).
    pub(crate) export_release: Atomic<u64>,
    /// `begin_cpu_access` calls on exported dma-bufs.
    pub(crate) export_begin_cpu_access: Atomic<u64>,
    /// `end_cpu_access` calls on exported dma-bufs.
    pub(crate) export_end_cpu_access: Atomic<u64>,
    /// Syncs those calls and `vunmap` made: one per importer's mapped
    /// table (of every export of the pages).
    pub(crate) export_syncs: Atomic<u64>,
    /// Syncs for the device of an importer's mapped table of an exported
    /// MMAP buffer when a frame reached the pages: rvcap's device wrote it
    /// and the queue handed it to the CPU (DQBUF, STREAMOFF's give-back of
    /// a buffer the device wrote), or the device of an rvcap queue
    /// importing the export did, at the same points of that queue (then
    /// counted on the exporting device): the other views get it too.
    pub(crate) export_pushes: Atomic<u64>,
    /// Syncs for the CPU of an importer's table at its unmap or detach
    /// (the importer's device may have written it).
    pub(crate) export_unmap_syncs: Atomic<u64>,
    /// Bytes those syncs and `export_syncs` covered.
    pub(crate) export_bytes_synced: Atomic<u64>,
}

// By hand: the kernel crate's `Atomic` has no `Default`.
impl Default for DmaStats {
    fn default() -> Self {
        Self {
            attach: Atomic::new(0),
            detach: Atomic::new(0),
            map: Atomic::new(0),
            unmap: Atomic::new(0),
            sync_for_device: Atomic::new(0),
            sync_for_cpu: Atomic::new(0),
            bytes_for_device: Atomic::new(0),
            bytes_for_cpu: Atomic::new(0),
            sync_calls: Atomic::new(0),
            sync_before_unmap: Atomic::new(0),
            bytes_before_unmap: Atomic::new(0),
            get: Atomic::new(0),
            put: Atomic::new(0),
            export: Atomic::new(0),
            export_release: Atomic::new(0),
            export_begin_cpu_access: Atomic::new(0),
            export_end_cpu_access: Atomic::new(0),
            export_syncs: Atomic::new(0),
            export_pushes: Atomic::new(0),
            export_unmap_syncs: Atomic::new(0),
            export_bytes_synced: Atomic::new(0),
        }
    }
}

/// Adds `by` to one of the [`DmaStats`].
pub(crate) fn bump(counter: &Atomic<u64>, by: u64) {
    counter.fetch_add(by, Relaxed);
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
            // SAFETY: `n < count`: a page of the allocation of `count` pages
            // that starts at `first`.
            let nth = unsafe { bindings::rvcap_nth_page(first.as_ptr(), n) };
            // SAFETY: as above: a valid, non-null `struct page` pointer.
            *page = unsafe { NonNull::new_unchecked(nth) };
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
    user_maps: Atomic<u32>,
    /// Live dma-bufs exporting these pages (see `dma_buf_export`).
    exports: Atomic<u32>,
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
    pub(crate) fn registry(&self) -> &ExportRegistry {
        &self.registry
    }

    /// How many dma-bufs exporting these pages are alive.
    pub(crate) fn exports(&self) -> u32 {
        self.exports.load(Relaxed)
    }

    /// Whether userspace has these pages mapped.
    pub(crate) fn is_mapped_to_user(&self) -> bool {
        self.user_maps.load(Relaxed) > 0
    }

    /// Counts an exported dma-buf made (`true`) or released (`false`).
    pub(super) fn exported(&self, made: bool) {
        if made {
            self.exports.fetch_add(1, Relaxed);
        } else {
            self.exports.fetch_sub(1, Relaxed);
        }
    }

    /// Counts a userspace mapping made (`true`) or gone (`false`).
    pub(super) fn user_mapping(&self, made: bool) {
        if made {
            self.user_maps.fetch_add(1, Relaxed);
        } else {
            self.user_maps.fetch_sub(1, Relaxed);
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
///
/// # Invariants
///
/// `_mapped` is the DMA mapping of `table` (the same `sg_table`, mapped in
/// [`MmapMemory::new`]), and `table` covers `pages`. Fields drop in
/// declaration order: the mapping goes before the table it maps, the table
/// before the pages it points to.
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
    pub(crate) fn new(
        dev: &DeviceRef,
        size: usize,
        contiguous: bool,
        direction: DataDirection,
    ) -> Result<Self> {
        if direction == DataDirection::None {
            return Err(EINVAL);
        }
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
                user_maps: Atomic::new(0),
                exports: Atomic::new(0),
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
    pub(crate) fn user_pages(&self) -> &Arc<UserPages> {
        &self.pages
    }

    /// A hold on the pages (not the mapping), for an export to keep, with
    /// the stats it counts in.
    pub(crate) fn hold_pages(&self, stats: &Arc<DmaStats>) -> HeldPages {
        HeldPages {
            pages: self.pages.clone(),
            stats: stats.clone(),
        }
    }

    /// Calls `f` for each DMA segment, in order, until it returns `false`.
    pub(crate) fn for_each_dma_segment(&self, f: impl FnMut(DmaSegment) -> bool) {
        // SAFETY: by the type's invariants `_mapped` is `table`'s DMA mapping
        // and drops before it, so `table` is mapped while `self` lives.
        unsafe { for_each_dma_segment(self.table.as_ptr(), f) }
    }
}

/// A DMA segment of a mapped table: device address and length.
#[derive(Clone, Copy)]
pub(crate) struct DmaSegment {
    pub(crate) addr: bindings::dma_addr_t,
    pub(crate) len: usize,
}

impl DmaSegment {
    /// How many pages of the device's address space it touches.
    pub(crate) fn pages(&self) -> usize {
        (self.addr as usize % PAGE_SIZE + self.len).div_ceil(PAGE_SIZE)
    }
}

/// The page size of the IOMMU that translates `dev`'s DMA, 0 if none
/// (`rvcap_dma_iommu_page`): a device's DMA setup does not change while a
/// driver uses it, so mappings look it up once.
pub(crate) fn iommu_page(dev: &Device) -> usize {
    // SAFETY: `dev` is a live device (the reference); the helper only reads
    // its DMA set-up and IOMMU domain.
    unsafe { bindings::rvcap_dma_iommu_page(dev.as_raw()) }
}

/// How many of the `len` bytes at DMA address `addr` one
/// `dma_sync_single_*` may cover (`rvcap_dma_sync_run`: a sync translates
/// only its first address). `iommu_page` is [`iommu_page`]`(dev)`; the
/// answer means something only if `[addr, addr + len)` lies within one
/// segment mapped for `dev`.
pub(crate) fn sync_run(
    dev: &Device,
    iommu_page: usize,
    addr: bindings::dma_addr_t,
    len: usize,
) -> usize {
    // SAFETY: `dev` is a live device (the reference); the helper only reads
    // its DMA set-up and the IOMMU's translation of `addr`, which any
    // address may be asked for.
    unsafe { bindings::rvcap_dma_sync_run(dev.as_raw(), iommu_page, addr, len) }
}

/// Calls `f` for each DMA segment of `sgt`, in order, until it returns
/// `false`. Reads only the DMA address and length of each entry: all that
/// an importer may use of an exporter's table (CONFIG_DMABUF_DEBUG checks
/// it). On 7.3 through the kernel crate's borrowed `scatterlist::SGTable`,
/// whose iterator walks the same `nents` entries with `sg_next`.
///
/// # Safety
///
/// `sgt` is a table mapped for a device that stays mapped, and so
/// unchanged, during the call.
#[cfg(rvcap_linux_7_3)]
pub(super) unsafe fn for_each_dma_segment(
    sgt: *mut bindings::sg_table,
    mut f: impl FnMut(DmaSegment) -> bool,
) {
    // An exporter's table without entries: nothing to walk (the kernel
    // crate's iterator would take `nents` on trust).
    // SAFETY: the table is valid (the caller's contract).
    if unsafe { (*sgt).sgl }.is_null() {
        return;
    }
    // SAFETY: the table is valid and not modified during the call (the
    // caller's contract), which bounds the borrow; rvcap's bindings and the
    // kernel crate's describe the same `struct sg_table`.
    let table = unsafe { kernel::scatterlist::SGTable::from_raw(sgt.cast()) };
    for entry in table.iter() {
        let seg = DmaSegment {
            addr: entry.dma_address(),
            len: entry.dma_len() as usize,
        };
        if !f(seg) {
            break;
        }
    }
}

/// Calls `f` for each DMA segment of `sgt`, in order, until it returns
/// `false`. Reads only the DMA address and length of each entry: all that
/// an importer may use of an exporter's table (CONFIG_DMABUF_DEBUG checks
/// it). 6.12's kernel crate has no scatterlist abstraction.
///
/// # Safety
///
/// `sgt` is a table mapped for a device that stays mapped, and so
/// unchanged, during the call.
#[cfg(not(rvcap_linux_7_3))]
pub(super) unsafe fn for_each_dma_segment(
    sgt: *mut bindings::sg_table,
    mut f: impl FnMut(DmaSegment) -> bool,
) {
    // SAFETY: the table is mapped (the caller's contract); `sgl` is its
    // first entry.
    let mut sg = unsafe { (*sgt).sgl };
    // SAFETY: as above; `nents` is the number of DMA segments.
    let nents = unsafe { (*sgt).nents };
    for _ in 0..nents {
        if sg.is_null() {
            break;
        }
        // SAFETY: `sg` is one of the table's first `nents` entries, of which
        // only the DMA address and length are read.
        let addr = unsafe { bindings::rvcap_sg_dma_address(sg) };
        // SAFETY: as above.
        let len = unsafe { bindings::rvcap_sg_dma_len(sg) } as usize;
        let seg = DmaSegment { addr, len };
        if !f(seg) {
            break;
        }
        // SAFETY: `sg` is a valid entry; `sg_next` follows chains.
        sg = unsafe { bindings::rvcap_sg_next(sg) };
    }
}

/// Whether syncs can change anything for `dev`: not for a coherent device
/// whose DMA nothing bounces (unless DMA-API debugging wants to see them).
pub(crate) fn needs_sync(dev: &DeviceRef) -> bool {
    // SAFETY: `dev` is live (we hold a reference).
    unsafe { bindings::rvcap_dma_dev_need_sync(dev.as_raw()) }
}

/// The largest physically contiguous buffer the page allocator can give.
pub(crate) fn max_contiguous_bytes() -> usize {
    // SAFETY: no preconditions.
    unsafe { bindings::rvcap_max_contiguous_bytes() }
}
