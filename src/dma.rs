// SPDX-License-Identifier: GPL-2.0

//! DMA memory of the capture device, one RAII type per resource:
//!
//! - [`DmaBufRef`]: a dma-buf reference (`dma_buf_get`); drop puts it.
//! - [`AttachmentInner`]: the dma-buf attached to our device; drop detaches,
//!   then puts the reference it owns.
//! - [`DeviceMemory`]: memory the device writes, shared as an [`Arc`] by the
//!   queue and the engine. Either an imported mapping (drop unmaps the
//!   attachment, which syncs for the CPU) or driver-allocated MMAP memory
//!   (drop unmaps, frees the table, then frees the pages).
//!
//! [`KernelDma`] implements the queue core's [`Dma`] trait with them.
//!
//! # Directions
//!
//! Every mapping is `DMA_BIDIRECTIONAL`: the device writes frames, and
//! userspace may write a buffer it has dequeued, which the DMA API allows
//! only in a bidirectional mapping ("If the driver needs to write to it at
//! any point, it should be DMA_BIDIRECTIONAL", `dma-api.rst`). Each sync
//! then names the direction the bytes travel, which is what dma-direct,
//! swiotlb, iommu-dma and the architectures' cache maintenance act on (and
//! what DMA-API debugging accepts for a bidirectional mapping):
//!
//! - QBUF, `DMA_FROM_DEVICE`: the device will write. Under swiotlb this
//!   copies nothing (the frame overwrites the bounce slot); on non-coherent
//!   hardware it cleans the CPU's caches.
//! - DQBUF, `DMA_FROM_DEVICE`, over the frame's bytes: the device's bytes
//!   reach the CPU (swiotlb copies them out of the bounce slot; non-coherent
//!   hardware invalidates the CPU's stale lines).
//! - Before an unmap of a CPU-owned import, `DMA_TO_DEVICE` over the whole
//!   buffer: the exporter's unmap syncs for the CPU, which under swiotlb
//!   copies the bounce slot back (the device's last frame) and on
//!   non-coherent hardware invalidates the CPU's dirty lines. Handing the
//!   CPU's bytes over first makes that unmap a no-op for the contents, so
//!   what userspace wrote after DQBUF survives STREAMOFF, REQBUFS(0), close
//!   and a slot given another dma-buf. The cost is one buffer-sized copy
//!   (swiotlb) or cache clean per CPU-owned buffer when its mapping goes;
//!   QBUF and DQBUF pay nothing more.
//! - MMAP memory is unmapped with `DMA_ATTR_SKIP_CPU_SYNC`: the queue hands
//!   every MMAP buffer back to the CPU before freeing it, so an unmap sync
//!   could only overwrite what userspace wrote (a buffer still mmapped
//!   outlives REQBUFS(0)).

use crate::bindings;
use crate::inject::Inject;
use crate::log::DevLog;
use crate::pattern::FrameSink;
use crate::queue::{self, Dma, Errno, QResult};
use core::ops::Range;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::error::{from_err_ptr, to_result};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// How every buffer is mapped (see "Directions").
const MAP_DIRECTION: bindings::dma_data_direction = bindings::dma_data_direction_DMA_BIDIRECTIONAL;
/// QBUF and DQBUF syncs: frames travel from the device to memory.
const FRAME_DIRECTION: bindings::dma_data_direction = bindings::dma_data_direction_DMA_FROM_DEVICE;
/// The sync before unmapping a CPU-owned import: the CPU's bytes travel to
/// where the unmap copies from.
const CPU_BYTES_DIRECTION: bindings::dma_data_direction =
    bindings::dma_data_direction_DMA_TO_DEVICE;

/// What the DMA side did, for debugfs and the tests.
#[derive(Default)]
pub(crate) struct DmaCounters {
    /// `dma_buf_attach` calls that succeeded.
    pub(crate) attach: AtomicU64,
    /// `dma_buf_detach` calls.
    pub(crate) detach: AtomicU64,
    /// Mappings made: imported (`dma_buf_map_attachment`) or MMAP.
    pub(crate) map: AtomicU64,
    /// Mappings undone.
    pub(crate) unmap: AtomicU64,
    /// Syncs for the device.
    pub(crate) sync_for_device: AtomicU64,
    /// Syncs for the CPU (one per DQBUF or cancelled MMAP buffer).
    pub(crate) sync_for_cpu: AtomicU64,
    /// Bytes handed to the device by syncs.
    pub(crate) bytes_for_device: AtomicU64,
    /// Bytes handed back to the CPU by syncs.
    pub(crate) bytes_for_cpu: AtomicU64,
    /// Syncs of a CPU-owned import before its unmap (see "Directions").
    pub(crate) sync_before_unmap: AtomicU64,
    /// Bytes those syncs covered.
    pub(crate) bytes_before_unmap: AtomicU64,
    /// Dma-buf references taken (`dma_buf_get`).
    pub(crate) get: AtomicU64,
    /// Dma-buf references dropped (`dma_buf_put`).
    pub(crate) put: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

fn queue_error(err: Error, why: &'static str) -> queue::Error {
    queue::Error::new(Errno::Dma(err.to_errno()), why)
}

/// A reference to a dma-buf.
pub(crate) struct DmaBufRef {
    buf: NonNull<bindings::dma_buf>,
    counters: Arc<DmaCounters>,
}

impl DmaBufRef {
    fn size(&self) -> usize {
        // SAFETY: we hold a reference, so the dma-buf is alive; `size` is
        // set by the exporter at export time and never changes.
        unsafe { (*self.buf.as_ptr()).size }
    }
}

impl Drop for DmaBufRef {
    fn drop(&mut self) {
        // SAFETY: `self.buf` came from `dma_buf_get` and this is the one put
        // that balances it.
        unsafe { bindings::dma_buf_put(self.buf.as_ptr()) };
        bump(&self.counters.put, 1);
    }
}

/// A dma-buf attached to the capture device.
pub(crate) struct AttachmentInner {
    attach: NonNull<bindings::dma_buf_attachment>,
    // Dropped after the detach in `drop`: the reference outlives the attachment.
    buf: DmaBufRef,
}

impl Drop for AttachmentInner {
    fn drop(&mut self) {
        // SAFETY: `attach` was returned by `dma_buf_attach(buf, ..)`, is
        // detached exactly once, here, and no mapping of it remains: every
        // `ImportMapping` holds an `Arc` of this attachment.
        unsafe { bindings::dma_buf_detach(self.buf.buf.as_ptr(), self.attach.as_ptr()) };
        bump(&self.buf.counters.detach, 1);
    }
}

// SAFETY: the dma-buf core locks its own state; attachments and references
// may be used and released from any thread.
unsafe impl Send for AttachmentInner {}
// SAFETY: shared references only read the immutable pointers.
unsafe impl Sync for AttachmentInner {}
// SAFETY: as for `AttachmentInner`.
unsafe impl Send for DmaBufRef {}

/// An attachment, shared by its slot and the mappings made of it.
pub(crate) type Attachment = Arc<AttachmentInner>;

/// The exporter's scatter table of an attachment mapped for the device.
pub(crate) struct ImportMapping {
    sgt: NonNull<bindings::sg_table>,
    attachment: Attachment,
}

impl Drop for ImportMapping {
    fn drop(&mut self) {
        // SAFETY: `sgt` was returned by `dma_buf_map_attachment_unlocked` for
        // this attachment and direction and is unmapped exactly once; the
        // attachment is alive (we hold it). We hold no dma-buf locks.
        unsafe {
            bindings::dma_buf_unmap_attachment_unlocked(
                self.attachment.attach.as_ptr(),
                self.sgt.as_ptr(),
                MAP_DIRECTION,
            )
        };
        bump(&self.attachment.buf.counters.unmap, 1);
    }
}

/// Pages allocated one by one; dropping frees them.
struct Pages(KVec<NonNull<bindings::page>>);

impl Pages {
    /// `count` pages, wherever they are.
    fn alloc(count: usize) -> Result<Self> {
        let mut pages = Pages(KVec::with_capacity(count, GFP_KERNEL)?);
        for _ in 0..count {
            // SAFETY: plain page allocation, no preconditions.
            let page = unsafe { bindings::rvcap_alloc_zeroed_page() };
            // On failure, dropping `pages` frees what was allocated.
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
            *page =
                unsafe { NonNull::new_unchecked(bindings::rvcap_nth_page(first.as_ptr(), n as _)) };
        }
        Ok(Pages(pages))
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        for page in self.0.iter() {
            // SAFETY: each page came from `rvcap_alloc_zeroed_page` and is
            // freed once. Userspace mappings hold their own page references
            // (vm_map_pages), so memory still mapped outlives this.
            unsafe { bindings::rvcap_free_page(page.as_ptr()) };
        }
    }
}

/// A scatter table over [`Pages`]; dropping frees the table (not the pages).
struct SgTable(KBox<Opaque<bindings::sg_table>>);

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
                pages.0.as_ptr() as *mut *mut bindings::page,
                count,
                0,
                size,
                max_segment,
                bindings::RVCAP_CONST_GFP_KERNEL,
            )
        })?;
        Ok(SgTable(storage))
    }

    fn as_ptr(&self) -> *mut bindings::sg_table {
        self.0.get()
    }
}

impl Drop for SgTable {
    fn drop(&mut self) {
        // SAFETY: the table was initialised by a successful
        // `sg_alloc_table_from_pages_segment` and is freed once.
        unsafe { bindings::sg_free_table(self.as_ptr()) };
    }
}

/// An [`SgTable`] mapped for a device; dropping unmaps it.
struct MappedTable {
    dev: *mut bindings::device,
    sgt: *mut bindings::sg_table,
}

impl Drop for MappedTable {
    fn drop(&mut self) {
        // No CPU sync: the queue hands MMAP memory back to the CPU before it
        // frees it; a sync here would only copy stale bounce slots over
        // what userspace wrote into a buffer it still has mmapped.
        // SAFETY: `sgt` was mapped for `dev` in this direction by
        // `rvcap_dma_map_sgtable` and is unmapped once; the table outlives
        // this value (field order in `MmapMemory`).
        unsafe {
            bindings::rvcap_dma_unmap_sgtable(
                self.dev,
                self.sgt,
                MAP_DIRECTION,
                bindings::RVCAP_CONST_DMA_ATTR_SKIP_CPU_SYNC as _,
            )
        };
    }
}

/// Driver-allocated (MMAP) memory, mapped for the device.
pub(crate) struct MmapMemory {
    // Field order is drop order: unmap, free the table, free the pages.
    _mapped: MappedTable,
    table: SgTable,
    pages: Pages,
    /// Userspace mappings (VMAs) of this memory.
    user_maps: AtomicU32,
}

impl MmapMemory {
    /// `size` bytes mapped for `dev`; `contiguous`: physically contiguous and
    /// mapped as one segment.
    fn new(dev: *mut bindings::device, size: usize, contiguous: bool) -> Result<Self> {
        let count = size.div_ceil(PAGE_SIZE);
        let (pages, max_segment) = if contiguous {
            (Pages::alloc_contiguous(count)?, count * PAGE_SIZE)
        } else {
            // SAFETY: `dev` is the live capture device (see `KernelDma::new`).
            (Pages::alloc(count)?, unsafe {
                bindings::rvcap_dma_max_segment(dev)
            })
        };
        let table = SgTable::new(&pages, size, max_segment)?;
        // No CPU sync at map time: the buffer starts CPU-owned and QBUF syncs
        // it for the device before the device may write it.
        // SAFETY: `table` is initialised, not mapped, and outlives the mapping.
        to_result(unsafe {
            bindings::rvcap_dma_map_sgtable(
                dev,
                table.as_ptr(),
                MAP_DIRECTION,
                bindings::RVCAP_CONST_DMA_ATTR_SKIP_CPU_SYNC as _,
            )
        })?;
        Ok(Self {
            _mapped: MappedTable {
                dev,
                sgt: table.as_ptr(),
            },
            table,
            pages,
            user_maps: AtomicU32::new(0),
        })
    }

    /// The pages, for `vm_map_pages`.
    pub(crate) fn pages(&self) -> &[NonNull<bindings::page>] {
        &self.pages.0
    }

    /// Counts a userspace mapping made (`true`) or gone (`false`).
    pub(crate) fn user_mapping(&self, made: bool) {
        if made {
            self.user_maps.fetch_add(1, Ordering::Relaxed);
        } else {
            self.user_maps.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Memory the device writes: what the queue calls a mapping.
pub(crate) enum Backing {
    /// Driver-allocated.
    Mmap(MmapMemory),
    /// An imported dma-buf, mapped.
    Import(ImportMapping),
}

/// [`Backing`] plus what every kind needs: the device and the counters.
pub(crate) struct DeviceMemory {
    backing: Backing,
    dev: *mut bindings::device,
    size: usize,
    counters: Arc<DmaCounters>,
}

// SAFETY: the DMA API and dma-buf core may be called from any thread for a
// live device and mapping; `DeviceMemory` holds no thread-bound state. The
// memory contents are only written by the engine while the buffer is
// device-owned, which the queue serialises.
unsafe impl Send for DeviceMemory {}
// SAFETY: see `Send`; shared references only read immutable fields and the
// atomic mapping count.
unsafe impl Sync for DeviceMemory {}

impl Drop for DeviceMemory {
    fn drop(&mut self) {
        if let Backing::Mmap(_) = self.backing {
            // Imports count their unmap in `ImportMapping::drop`.
            bump(&self.counters.unmap, 1);
        }
    }
}

/// A DMA segment: device address and length.
#[derive(Clone, Copy)]
struct Segment {
    addr: bindings::dma_addr_t,
    len: usize,
}

impl DeviceMemory {
    fn sgt(&self) -> *mut bindings::sg_table {
        match &self.backing {
            Backing::Mmap(m) => m.table.as_ptr(),
            Backing::Import(i) => i.sgt.as_ptr(),
        }
    }

    /// The MMAP memory, if this is driver-allocated.
    pub(crate) fn mmap(&self) -> Option<&MmapMemory> {
        match &self.backing {
            Backing::Mmap(m) => Some(m),
            Backing::Import(_) => None,
        }
    }

    /// Whether the DMA addresses form one contiguous range.
    fn is_dma_contiguous(&self) -> bool {
        let mut next: Option<bindings::dma_addr_t> = None;
        let mut contiguous = true;
        self.for_each_segment(|seg| {
            contiguous = next.map_or(true, |addr| addr == seg.addr);
            next = Some(seg.addr + seg.len as u64);
            contiguous
        });
        contiguous
    }

    /// Calls `f` for each DMA segment, in order, until it returns `false`.
    fn for_each_segment(&self, mut f: impl FnMut(Segment) -> bool) {
        let sgt = self.sgt();
        // SAFETY: the table is mapped (we own the mapping); `nents` is the
        // number of DMA segments and `sgl` its first entry.
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
            sg = unsafe { bindings::sg_next(sg) };
        }
    }

    /// Writes as the device does: through the DMA addresses of each segment,
    /// never through the CPU's view of the pages. `fill(offset, window)`
    /// writes the frame bytes from `offset` on into `window`, one DMA
    /// segment, and returns `false` when the frame is complete.
    ///
    /// # Safety
    ///
    /// The device must own the buffer for the whole call: synced for the
    /// device and not handed back to the CPU until the call returns (the
    /// queue's `Active` state, which only the engine holds, and which
    /// STREAMOFF and close wait out), and no one else may write it as the
    /// device meanwhile. Userspace may still have the memory mapped and
    /// touch it concurrently, as it may with real hardware; that is why the
    /// bytes are only ever written through raw pointers ([`DeviceWindow`]),
    /// never through a Rust reference to the memory.
    pub(crate) unsafe fn write_as_device(
        &self,
        mut fill: impl FnMut(usize, &mut DeviceWindow) -> bool,
    ) {
        let mut offset = 0;
        self.for_each_segment(|seg| {
            // SAFETY: the device is served by dma-direct, so the kernel
            // virtual address of a DMA address is `phys_to_virt(dma_to_phys)`
            // (with swiotlb, the bounce buffer).
            let vaddr = unsafe { bindings::rvcap_dma_addr_to_virt(self.dev, seg.addr) };
            let Some(start) = NonNull::new(vaddr.cast::<u8>()) else {
                return false;
            };
            // INVARIANT: the segment's `len` bytes at `start` are mapped for
            // the device, which owns them for this call (the caller's
            // contract); the window lives only for the call of `fill`.
            let mut window = DeviceWindow {
                start,
                len: seg.len,
                written: 0,
            };
            let more = fill(offset, &mut window);
            offset += seg.len;
            more
        });
    }
}

/// One DMA segment of a buffer, as [`DeviceMemory::write_as_device`] hands
/// it out: bytes the device may write, written in order.
///
/// # Invariants
///
/// `start..start + len` is one DMA segment of a mapped buffer that the device
/// owns while the window exists; `written <= len`.
pub(crate) struct DeviceWindow {
    start: NonNull<u8>,
    len: usize,
    written: usize,
}

impl DeviceWindow {
    /// Writes no more than `len` bytes from here on (the device stops early).
    pub(crate) fn limit(&mut self, len: usize) {
        // INVARIANT: only ever shrinks, and not below what was written.
        self.len = self.len.min(self.written + len);
    }
}

impl FrameSink for DeviceWindow {
    fn room(&self) -> usize {
        self.len - self.written
    }

    fn append(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.room());
        // SAFETY: by the type invariant `written + n <= len` bytes of the
        // segment are writable by us as the device; `bytes` is kernel memory
        // of our own, so the two cannot overlap. Written through a raw
        // pointer: userspace may be reading or writing the same memory.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.start.as_ptr().add(self.written), n)
        };
        // INVARIANT: `n <= room()`, so `written` stays within `len`.
        self.written += n;
    }
}

/// The shared handle the queue and the engine hold.
pub(crate) type Mapping = Arc<DeviceMemory>;

/// The queue's DMA side in the kernel: the capture platform device.
pub(crate) struct KernelDma {
    dev: *mut bindings::device,
    counters: Arc<DmaCounters>,
    log: DevLog,
    /// Contiguous mode: every buffer must be one contiguous DMA range.
    contiguous: bool,
    inject: Arc<Inject>,
}

// SAFETY: see `DeviceMemory`: a device pointer usable from any thread.
unsafe impl Send for KernelDma {}

impl KernelDma {
    /// What the DMA side did so far.
    pub(crate) fn counters(&self) -> &DmaCounters {
        &self.counters
    }

    /// The DMA side of `dev`.
    ///
    /// # Safety
    ///
    /// `dev` must stay a valid device with a DMA mask for as long as the
    /// returned value and every mapping made through it live.
    pub(crate) unsafe fn new(
        dev: *mut bindings::device,
        log: DevLog,
        contiguous: bool,
        inject: Arc<Inject>,
    ) -> Result<Self> {
        Ok(Self {
            dev,
            counters: Arc::new(DmaCounters::default(), GFP_KERNEL)?,
            log,
            contiguous,
            inject,
        })
    }

    fn wrap(&self, backing: Backing, size: usize) -> QResult<Mapping> {
        bump(&self.counters.map, 1);
        let memory = DeviceMemory {
            backing,
            dev: self.dev,
            size,
            counters: self.counters.clone(),
        };
        if self.contiguous && !memory.is_dma_contiguous() {
            // Dropping `memory` unmaps it again.
            self.log.warn_ratelimited(format_args!(
                "refusing a buffer of {size} bytes: its DMA addresses are not one contiguous range (contig=1)"
            ));
            return Err(queue::Error::new(
                Errno::EINVAL,
                "buffer is not one contiguous DMA range (contig mode)",
            ));
        }
        // On failure, dropping `memory` unmaps again.
        Arc::new(memory, GFP_KERNEL).map_err(|_| queue::Error::new(Errno::ENOMEM, "out of memory"))
    }
}

impl Dma for KernelDma {
    type DmaBuf = DmaBufRef;
    type Attachment = Attachment;
    type Mapping = Mapping;

    fn alloc_mapped(&mut self, size: usize) -> QResult<Mapping> {
        if self.inject.take_map_failure() {
            return Err(queue::Error::new(
                Errno::ENOMEM,
                "injected: MMAP allocation refused",
            ));
        }
        // SAFETY: no preconditions.
        let max_contiguous = unsafe { bindings::rvcap_max_contiguous_bytes() };
        if self.contiguous && size > max_contiguous {
            self.log.warn_ratelimited(format_args!(
                "refusing MMAP buffers of {size} bytes with ENOMEM: contig=1 allocates them physically contiguous, at most {max_contiguous} bytes"
            ));
            return Err(queue::Error::new(
                Errno::ENOMEM,
                "buffer larger than a contiguous allocation can be (contig mode)",
            ));
        }
        let memory = MmapMemory::new(self.dev, size, self.contiguous)
            .map_err(|e| queue_error(e, "cannot allocate and map an MMAP buffer"))?;
        self.wrap(Backing::Mmap(memory), size)
    }

    fn get_dmabuf(&mut self, fd: i32) -> QResult<DmaBufRef> {
        // SAFETY: `dma_buf_get` accepts any fd and checks it.
        let buf = from_err_ptr(unsafe { bindings::dma_buf_get(fd) })
            .map_err(|e| queue_error(e, "fd is not a dma-buf"))?;
        let buf =
            NonNull::new(buf).ok_or(queue::Error::new(Errno::EINVAL, "fd is not a dma-buf"))?;
        bump(&self.counters.get, 1);
        Ok(DmaBufRef {
            buf,
            counters: self.counters.clone(),
        })
    }

    fn dmabuf_size(&self, buf: &DmaBufRef) -> usize {
        buf.size()
    }

    fn is_attached(&self, buf: &DmaBufRef, attachment: &Attachment) -> bool {
        buf.buf == attachment.buf.buf
    }

    fn attach(&mut self, buf: DmaBufRef) -> QResult<Attachment> {
        // SAFETY: `buf` is a live reference and `self.dev` a live device; no
        // dma-buf lock is held.
        let attach = from_err_ptr(unsafe { bindings::dma_buf_attach(buf.buf.as_ptr(), self.dev) })
            .map_err(|e| queue_error(e, "the exporter refused to attach"))?;
        let attach =
            NonNull::new(attach).ok_or(queue::Error::new(Errno::EINVAL, "attach failed"))?;
        bump(&self.counters.attach, 1);
        // If this allocation fails, dropping `inner` detaches again.
        let inner = AttachmentInner { attach, buf };
        Arc::new(inner, GFP_KERNEL).map_err(|_| queue::Error::new(Errno::ENOMEM, "out of memory"))
    }

    fn map(&mut self, attachment: &Attachment) -> QResult<Mapping> {
        if self.inject.take_map_failure() {
            return Err(queue::Error::new(
                Errno::ENOMEM,
                "injected: the exporter refused to map",
            ));
        }
        // SAFETY: the attachment is alive (we hold it) and not mapped by us
        // (each slot maps its attachment at most once); no dma-buf lock held.
        let sgt = from_err_ptr(unsafe {
            bindings::dma_buf_map_attachment_unlocked(attachment.attach.as_ptr(), MAP_DIRECTION)
        })
        .map_err(|e| queue_error(e, "the exporter refused to map"))?;
        let sgt = NonNull::new(sgt).ok_or(queue::Error::new(Errno::EINVAL, "map failed"))?;
        let size = attachment.buf.size();
        let import = ImportMapping {
            sgt,
            attachment: attachment.clone(),
        };
        self.wrap(Backing::Import(import), size)
    }

    fn sync_for_device(&mut self, mapping: &Mapping) {
        // SAFETY: the table is mapped for `self.dev` (we hold the mapping),
        // bidirectionally, so any sync direction is allowed.
        unsafe {
            bindings::rvcap_dma_sync_sgtable_for_device(self.dev, mapping.sgt(), FRAME_DIRECTION)
        };
        bump(&self.counters.sync_for_device, 1);
        bump(&self.counters.bytes_for_device, mapping.size as u64);
    }

    fn sync_before_unmap(&mut self, mapping: &Mapping) {
        if mapping.mmap().is_some() {
            // Unmapped without a CPU sync (`MappedTable`): nothing to keep.
            return;
        }
        // SAFETY: the table is mapped for `self.dev` (we hold the mapping),
        // bidirectionally, so any sync direction is allowed.
        unsafe {
            bindings::rvcap_dma_sync_sgtable_for_device(
                self.dev,
                mapping.sgt(),
                CPU_BYTES_DIRECTION,
            )
        };
        bump(&self.counters.sync_before_unmap, 1);
        bump(&self.counters.bytes_before_unmap, mapping.size as u64);
    }

    fn sync_for_cpu(&mut self, mapping: &Mapping, bytes: Range<usize>) {
        // SAFETY: `self.dev` is the live capture device.
        if !unsafe { bindings::rvcap_dma_dev_need_sync(self.dev) } {
            // Coherent and nothing bounced: every per-segment sync would be
            // a no-op, and walking a table of a thousand pages is not.
            bump(&self.counters.sync_for_cpu, 1);
            bump(
                &self.counters.bytes_for_cpu,
                bytes.len().min(mapping.size) as u64,
            );
            return;
        }
        let mut offset = 0;
        let mut synced = 0;
        mapping.for_each_segment(|seg| {
            let start = bytes.start.max(offset);
            let end = bytes.end.min(offset + seg.len);
            if start < end {
                // SAFETY: `[start, end)` lies within this mapped segment;
                // a partial single sync of an sg mapping is allowed.
                unsafe {
                    bindings::rvcap_dma_sync_single_for_cpu(
                        self.dev,
                        seg.addr + (start - offset) as u64,
                        end - start,
                    )
                };
                synced += end - start;
            }
            offset += seg.len;
            offset < bytes.end
        });
        bump(&self.counters.sync_for_cpu, 1);
        bump(&self.counters.bytes_for_cpu, synced as u64);
        if synced < bytes.len() {
            self.log.dbg(format_args!(
                "sync for CPU covered {synced} of {} bytes",
                bytes.len()
            ));
        }
    }

    fn is_mapped_to_user(&self, mapping: &Mapping) -> bool {
        mapping
            .mmap()
            .is_some_and(|m| m.user_maps.load(Ordering::Relaxed) > 0)
    }
}
