// SPDX-License-Identifier: GPL-2.0

//! Exporting MMAP memory as dma-bufs (VIDIOC_EXPBUF), with `dma_buf_ops`
//! in Rust:
//!
//! - [`ExportedBuf`]: a reference to a dma-buf this module exported; drop
//!   puts it, [`ExportedBuf::into_fd`] hands it to a file descriptor.
//! - `Exported` (the dma-buf's `priv`): the pages exported, every
//!   importer's attachment (`AttachState`: a table of its own over the
//!   pages, mapped for its device while the importer has it mapped) and the
//!   kernel mapping (`Vmap`), under one mutex, as the system heap keeps
//!   them.
//!
//! # What an export holds
//!
//! The pages ([`UserPages`]), as a VMA of the V4L2 `mmap` does, not the
//! buffer's DMA mapping for rvcap's own device: that goes with the queue's
//! buffer (REQBUFS(0), REMOVE_BUFS, unbind), never with the last export, so
//! an orphan holds no swiotlb slots or IOVAs of a device that may be gone.
//! The pages live until the last of the queue's buffer, its VMAs and its
//! exported dma-bufs goes. Each EXPBUF exports a new dma-buf (as
//! videobuf2's `get_dmabuf`), all sharing the pages.
//!
//! # Syncs
//!
//! Importers map their own tables (`map_dma_buf`, which syncs them for
//! their device: that hands the CPU's bytes over). The map itself is made
//! with `DMA_ATTR_SKIP_CPU_SYNC` and followed by that sync, which is what
//! the map would do (swiotlb fills its bounce slots at map time either
//! way): the pages are also mapped for rvcap's own device, an overlap
//! that sharing a buffer means and that DMA-API debugging, which cannot
//! see who owns the buffer, reports for a map that syncs ("cacheline
//! tracking EEXIST"; videobuf2's exports draw it too).
//!
//! A table the importer's device may write (it asks for `DMA_FROM_DEVICE`
//! or `DMA_BIDIRECTIONAL`) is mapped `DMA_BIDIRECTIONAL`, and every sync
//! and the unmap of it use that direction; the importer's own direction is
//! kept for the check in `unmap_dma_buf`. A sync for the device of a
//! `DMA_FROM_DEVICE` mapping copies nothing into a swiotlb bounce slot, so
//! none of the pushes below would reach such an importer's view, and its
//! copy-back would bring the map-time bytes back over newer ones.
//! `DMA_TO_DEVICE` tables stay `DMA_TO_DEVICE`.
//!
//! `unmap_dma_buf` (and `detach` of a table still mapped) first syncs a
//! table mapped `DMA_BIDIRECTIONAL` for the CPU, so that what the
//! importer's device wrote reaches the pages (swiotlb copies the bounce
//! slots back; a non-coherent device's lines are invalidated), then
//! unmaps with `DMA_ATTR_SKIP_CPU_SYNC`.
//!
//! The pages are the one truth, and a mapped importer table (a view: a
//! swiotlb bounce buffer, or lines a non-coherent device sees) is made
//! equal to them again ([`ExportRegistry::push`]) wherever the exporter
//! knows that something newer reached them: a frame rvcap's own device
//! wrote, when the queue hands it to the CPU (DQBUF, and STREAMOFF's
//! give-back of a buffer the engine had filled:
//! `DeviceMemory::hand_frame_to_other_views`, the queue's
//! `Dma::frame_written`) or, with write fences, before its fence signals
//! (the frame engine, which may take no lock held around an allocation:
//! so the pushes walk the registry's views under a mutex of their own);
//! a frame the device of an rvcap queue importing the export wrote, at
//! the same points of that queue; what the CPU wrote,
//! at the end of its
//! `DMA_BUF_IOCTL_SYNC` bracket (`end_cpu_access`). Those push to every
//! mapped table of every export of the pages, not only the dma-buf's own:
//! each EXPBUF makes a dma-buf of its own over the same pages. `vunmap` is
//! an implicit `end_cpu_access` for the vmapping dma-buf's own tables (for
//! importers that write through the vmap without the brackets: videobuf2
//! drops its kernel mapping before it unmaps). An unmap's copy-back is not
//! pushed: whether the importer's device wrote is not known, and a push of
//! unchanged pages would undo what another importer's device wrote and
//! nobody has copied back yet.
//!
//! `begin_cpu_access` first waits for the dma-buf's fences, as the core
//! does after it (a writer's bracket for every fence, a reader's for the
//! write fences): rvcap's write fence signals only once the frame is in
//! the pages and pushed to every view, and a sync for the CPU before that
//! would copy the views' older bytes over the frame. Then it syncs every
//! mapped table of every export of the pages for the CPU
//! (`end_cpu_access`: for the devices), each in the
//! direction it was mapped with (the DMA API wants the mapping's), in a
//! write-only bracket too (its end hands the pages to every view, which
//! would undo device writes nobody had copied back). That is how an
//! importer that never syncs for the CPU itself (videobuf2's) delivers its
//! frames to a CPU that brackets its reads.
//!
//! Not covered, as with the system dma-heap, whose `begin_cpu_access`
//! syncs every attachment the same way: the exporter does not know which
//! device wrote last. With more than one writable mapping, the tables are
//! copied back one after the other, so a table whose device did not write
//! (still the older bytes) can land over the frame another importer's
//! device wrote without syncing for the CPU itself (videobuf2's
//! importers): one importer that leaves the copy-back to the exporter is
//! safe, or several that sync for themselves (rvcap's queue, whose sync is
//! pushed to the others), not a mix. Ordering devices is what reservation
//! fences are for. And CPU writes without `DMA_BUF_IOCTL_SYNC` (through
//! the V4L2 `mmap` or the dma-buf's) while an importer keeps a mapping
//! reach no view, so a copy-back can overwrite them (README).
//!
//! Those syncs go through the table's DMA addresses, in runs as
//! [`DeviceMemory`](crate::dma_master::DeviceMemory)'s do, copied when the table
//! is mapped, not through its scatterlist: once an importer has the table,
//! `CONFIG_DMABUF_DEBUG` scrambles its page links (under the reservation
//! lock, which these callbacks do not all hold), which `sg_next`, and
//! iommu-dma's scatterlist syncs for a non-coherent device (`sg_phys`),
//! would follow.
//! The queue's buffer itself is synced by QBUF and DQBUF as for any MMAP
//! buffer, not here: a CPU sync of rvcap's own mapping outside DQBUF could
//! only discard (invalidate, or copy a stale bounce buffer over) bytes the
//! CPU wrote since DQBUF.
//!
//! An importer's table keeps to its device's limits: segments no longer
//! than its maximum segment size, none crossing its segment boundary.

use super::bindings;
use super::device::{Device, DeviceRef};
use super::dma::{
    self, bump, DataDirection, DataDirectionExt, DmaSegment, DmaStats, HeldPages, SgTable,
    UserPages,
};
use super::dma_buf::{Attachment, DmaBuf};
use super::dma_fence::{self, Fence, WaitList, WriteFence};
use super::log;
use super::mm::{self, VmaNew};
use super::ratelimit::ratelimit;
use super::sync::aref::ARef;
use super::sync::atomic::{Acquire, Atomic, Release};
use super::types::{self, ForeignOwnable};
use core::ptr::NonNull;
use kernel::alloc::flags::GFP_NOWAIT;
use kernel::error::{from_err_ptr, from_result, to_result};
use kernel::ffi::{c_int, c_void};
use kernel::new_mutex;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// The `O_ACCMODE` bits of EXPBUF's flags (the dma-buf file's mode).
pub(crate) const ACCESS_MODE: u32 = bindings::O_ACCMODE;
/// EXPBUF's `O_CLOEXEC` (the file descriptor's).
pub(crate) const CLOSE_ON_EXEC: u32 = bindings::O_CLOEXEC;

/// A mapped importer table, as it is synced: its device, direction and DMA
/// segments. Shared by the attachment and its pages' registry
/// ([`ExportRegistry`]'s `views`), where the frame engine syncs it without
/// the export's mutex.
///
/// # Invariants
///
/// `segments` are the DMA segments of a table mapped for
/// `dev` in `dir` that stays mapped while this value is in an
/// [`AttachState`] or in a registry's views: the attachment takes it out of
/// both before it unmaps the table. `dir` is never
/// [`DataDirection::None`] (nothing is mapped so). `iommu_page` is
/// `dma::iommu_page(dev)`.
struct MappedView {
    dev: DeviceRef,
    dir: DataDirection,
    segments: KVec<DmaSegment>,
    iommu_page: usize,
    /// The attachment (its `priv`), to leave out of a push.
    id: *const c_void,
}

// SAFETY: immutable once made; the DMA API may sync a mapping from any
// thread; `id` is only compared.
unsafe impl Send for MappedView {}
// SAFETY: as for `Send`.
unsafe impl Sync for MappedView {}

impl MappedView {
    /// Syncs the table for the CPU (`for_cpu`) or for the device, in the
    /// direction it was mapped with. Through the DMA addresses recorded at
    /// map time only, never the table the importer holds (see "Syncs").
    /// Takes no lock and allocates nothing.
    fn sync(&self, for_cpu: bool) {
        let dev = self.dev.as_raw();
        for &DmaSegment { addr, len } in self.segments.iter() {
            let mut done = 0;
            while done < len {
                let at = addr + done as u64;
                // `[at, addr + len)` lies within one segment mapped for `dev`.
                let run = dma::sync_run(&self.dev, self.iommu_page, at, len - done);
                if run == 0 {
                    break;
                }
                if for_cpu {
                    // SAFETY: `[at, at + run)` lies within a segment mapped
                    // for `dev` in `dir`, mapped while this view exists (type
                    // invariant), and is a run one sync may cover, so the
                    // sync touches only the exported pages (or their bounce
                    // slots); synced in the mapping's direction, as the DMA
                    // API requires.
                    unsafe {
                        bindings::rvcap_dma_sync_single_for_cpu(dev, at, run, self.dir.as_raw())
                    };
                } else {
                    // SAFETY: as for the sync for the CPU above.
                    unsafe {
                        bindings::rvcap_dma_sync_single_for_device(dev, at, run, self.dir.as_raw())
                    };
                }
                done += run;
            }
        }
    }
}

/// An importer's attachment: a table of its own over the exported pages,
/// mapped for its device between `map_dma_buf` and `unmap_dma_buf`.
///
/// # Invariants
///
/// If `view` is `Some`, `table` is mapped for `dev` in the view's
/// direction (by `rvcap_dma_map_sgtable`; rvcap's direction, see
/// [`AttachState::map`]) with the view's segments and not unmapped yet,
/// the view is in `registry`'s views, and `requested` is `Some` of the
/// direction the importer asked for; if `None`, the table is not mapped
/// and `requested` is `None`. `dev` is the attachment's device;
/// `iommu_page` is `dma::iommu_page(dev)`; `registry` is the
/// registry of the exported pages, which the export (and so this
/// attachment) keeps alive.
struct AttachState {
    dev: DeviceRef,
    table: SgTable,
    view: Option<Arc<MappedView>>,
    requested: Option<DataDirection>,
    iommu_page: usize,
    registry: NonNull<ExportRegistry>,
}

// SAFETY: the table is plain memory of ours and the DMA API may map, sync
// and unmap it from any thread; only used under the export's mutex; the
// registry is `Sync`.
unsafe impl Send for AttachState {}

impl AttachState {
    /// The registry of the exported pages.
    fn registry(&self) -> &ExportRegistry {
        // SAFETY: kept alive by the export that holds this attachment
        // (type invariant).
        unsafe { self.registry.as_ref() }
    }

    /// Unmaps the table if it is mapped: first, if the importer's device
    /// may have written it (`DMA_FROM_DEVICE`, `DMA_BIDIRECTIONAL`), synced
    /// for the CPU through the DMA addresses, then unmapped with no CPU sync
    /// of the DMA API's own (see "Syncs"). Returns whether it synced.
    fn unmap(&mut self) -> bool {
        let Some(view) = self.view.take() else {
            return false;
        };
        // Out of the registry first: the engine syncs nothing unmapped.
        self.registry().remove_view(&view);
        let synced = matches!(
            view.dir,
            DataDirection::FromDevice | DataDirection::Bidirectional
        );
        if synced {
            view.sync(true);
        }
        self.requested = None;
        // SAFETY: mapped for `dev` in the view's direction and not unmapped
        // yet (type invariant); `dev` is live (we hold a reference); the
        // view is in neither this state nor the registry any more.
        // INVARIANT: `view` and `requested` are `None` from here on.
        unsafe {
            bindings::rvcap_dma_unmap_sgtable(
                self.dev.as_raw(),
                self.table.as_ptr(),
                view.dir.as_raw(),
                bindings::RVCAP_CONST_DMA_ATTR_SKIP_CPU_SYNC,
            )
        };
        synced
    }

    /// Maps the table for `dev`, for an importer that asked for `requested`,
    /// with no CPU sync, records its DMA segments and lists it in the
    /// registry's views; the caller syncs it. `id` is the attachment.
    ///
    /// A table the importer's device may write (`DMA_FROM_DEVICE`,
    /// `DMA_BIDIRECTIONAL`) is mapped `DMA_BIDIRECTIONAL`, and synced and
    /// unmapped so: a sync for the device of a `DMA_FROM_DEVICE` mapping
    /// copies nothing into a swiotlb bounce slot, so neither the map's sync,
    /// nor `end_cpu_access`, nor a push of a new frame would reach the
    /// importer's view, and the copy-back at unmap or `begin_cpu_access`
    /// would bring the map-time bytes back over newer ones. A
    /// `DMA_TO_DEVICE` table stays `DMA_TO_DEVICE`.
    fn map(&mut self, requested: DataDirection, id: *const c_void) -> Result {
        let dir = match requested {
            DataDirection::ToDevice => DataDirection::ToDevice,
            DataDirection::FromDevice | DataDirection::Bidirectional => {
                DataDirection::Bidirectional
            }
            // Nothing to map for: the DMA API would `BUG()` on it.
            DataDirection::None => return Err(EINVAL),
        };
        if self.view.is_some() {
            // The core maps an attachment once at a time.
            return Err(EBUSY);
        }
        let sgt = self.table.as_ptr();
        // SAFETY: the table is initialised and not mapped (type invariant);
        // `dev` is live.
        to_result(unsafe {
            bindings::rvcap_dma_map_sgtable(
                self.dev.as_raw(),
                sgt,
                dir.as_raw(),
                bindings::RVCAP_CONST_DMA_ATTR_SKIP_CPU_SYNC,
            )
        })?;
        let view = (|| -> Result<Arc<MappedView>> {
            let mut segments = KVec::new();
            let mut pushed = Ok(());
            // SAFETY: just mapped above, and not unmapped before this
            // returns (the importer has not got the table yet).
            unsafe {
                dma::for_each_dma_segment(sgt, |seg| {
                    pushed = segments.push(seg, GFP_KERNEL);
                    pushed.is_ok()
                })
            };
            pushed?;
            // INVARIANT: the segments of the table mapped above for `dev`
            // in `dir`, which stays mapped until `unmap` takes the view out.
            let view = Arc::new(
                MappedView {
                    dev: self.dev.clone(),
                    dir,
                    segments,
                    iommu_page: self.iommu_page,
                    id,
                },
                GFP_KERNEL,
            )?;
            self.registry().add_view(view.clone())?;
            Ok(view)
        })();
        match view {
            Ok(view) => {
                // INVARIANT: mapped above, in `dir`, for `requested`, listed.
                self.view = Some(view);
                self.requested = Some(requested);
                Ok(())
            }
            Err(e) => {
                // SAFETY: mapped above, unmapped once; nothing touched it
                // and no view of it is listed.
                unsafe {
                    bindings::rvcap_dma_unmap_sgtable(
                        self.dev.as_raw(),
                        sgt,
                        dir.as_raw(),
                        bindings::RVCAP_CONST_DMA_ATTR_SKIP_CPU_SYNC,
                    )
                };
                Err(e)
            }
        }
    }

    /// Syncs the table for the CPU (`for_cpu`) or for the device, if it is
    /// mapped ([`MappedView::sync`]); returns whether it synced.
    fn sync(&self, for_cpu: bool) -> bool {
        let Some(view) = &self.view else {
            return false;
        };
        view.sync(for_cpu);
        true
    }
}

impl Drop for AttachState {
    fn drop(&mut self) {
        // The core has the importer unmap before it detaches; in case not
        // (synced for the CPU first, as `unmap_dma_buf` does).
        self.unmap();
    }
}

/// A kernel mapping of the exported pages (dma-buf `vmap`); dropping unmaps
/// it.
///
/// # Invariants
///
/// `addr` was returned by `rvcap_vmap` for `len` bytes of pages that stay
/// allocated while it exists, and is unmapped once, in `drop`.
struct Vmap {
    addr: NonNull<c_void>,
    len: usize,
}

// SAFETY: a vmap address may be used and unmapped from any thread (in
// process context, where every dma-buf callback runs).
unsafe impl Send for Vmap {}

impl Vmap {
    /// Maps all of `pages`.
    ///
    /// # Safety
    ///
    /// The pages stay allocated while the mapping exists.
    unsafe fn new(pages: &UserPages) -> Result<Self> {
        let pages = pages.pages();
        let count = u32::try_from(pages.len()).map_err(|_| ENOMEM)?;
        // SAFETY: the array holds `count` valid page pointers (`NonNull<page>`
        // has the layout of `*mut page`), which `vmap` reads and does not
        // keep; by the caller's contract they stay allocated while mapped.
        let addr = unsafe { bindings::rvcap_vmap(pages.as_ptr().cast_mut().cast(), count) };
        // INVARIANT: a vmap of the pages, or nothing.
        Ok(Self {
            addr: NonNull::new(addr).ok_or(ENOMEM)?,
            len: pages.len() * PAGE_SIZE,
        })
    }

    /// The length as the cache helpers take it.
    fn c_len(&self) -> c_int {
        c_int::try_from(self.len).unwrap_or(c_int::MAX)
    }
}

impl Drop for Vmap {
    fn drop(&mut self) {
        // SAFETY: made by `rvcap_vmap`, undone once (type invariant).
        unsafe { bindings::rvcap_vunmap(self.addr.as_ptr()) };
    }
}

/// What the mutex of an export guards.
#[derive(Default)]
struct ExportState {
    /// One entry per attachment between `attach` and `detach` (a `None` is
    /// a free slot: 6.12's `KVec` cannot remove).
    attachments: KVec<Option<KBox<AttachState>>>,
    /// The kernel mapping, between `vmap` and `vunmap`.
    vmap: Option<Vmap>,
}

impl ExportState {
    /// The state of the attachment whose `priv` is `id`.
    fn attachment(&mut self, id: *const c_void) -> Option<&mut AttachState> {
        self.attachments
            .iter_mut()
            .flatten()
            .find(|a| core::ptr::eq(&***a, id.cast()))
            .map(|a| &mut **a)
    }
}

/// An `Exported` in its pages' [`ExportRegistry`].
///
/// # Invariants
///
/// Points to a pinned `Exported` that stays alive while this value is in
/// a registry (see [`ExportRegistry`]'s).
struct ExportPtr(NonNull<Exported>);

// SAFETY: only dereferenced under the registry's mutex, while registered,
// as a shared reference to an `Exported`, which is `Sync`.
unsafe impl Send for ExportPtr {}

/// The live exports of one MMAP buffer's pages, for keeping every
/// importer's view of them equal to the pages ([`ExportRegistry::push`])
/// and for the CPU's brackets on any of them. Held by the pages
/// ([`UserPages`]).
///
/// Lock order: a queue's state lock (QBUF, STREAMON, DQBUF and STREAMOFF
/// of the exporting queue, or of a queue importing an export; EXPBUF), or
/// none (`begin_cpu_access`, `end_cpu_access`), then this mutex, then an
/// export's reservation lock (publishing a write fence,
/// [`ExportRegistry::publish_write_fence`]), then an export's state mutex.
/// Nothing takes this mutex while holding an export's state mutex or a
/// reservation lock (the core holds a dma-buf's reservation lock around
/// map, unmap, vmap and vunmap, which take the export's state mutex
/// only), and nothing holding either takes a queue's lock.
///
/// # Invariants
///
/// Every entry is an `Exported` whose `pages` are the pages holding this
/// registry, registered by [`ExportedBuf::new`] once pinned and removed by
/// its drop, before any of it is freed.
#[pin_data]
pub(crate) struct ExportRegistry {
    #[pin]
    exports: Mutex<KVec<Option<ExportPtr>>>,
    /// Every mapped importer table of every export, for pushing a frame
    /// into them from the frame engine (a fence signalling section), which
    /// may take no lock that is held around an allocation: this mutex
    /// never is (the list grows outside it, [`ExportRegistry::add_view`]),
    /// nor around anything but the views' syncs. A mutex, not a spinlock:
    /// a push syncs whole frames (swiotlb copies, cache maintenance).
    #[pin]
    views: Mutex<KVec<Option<Arc<MappedView>>>>,
}

impl ExportRegistry {
    /// An empty registry.
    pub(super) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            exports <- new_mutex!(KVec::new()),
            views <- new_mutex!(KVec::new(), "rvcap::export_views"),
        })
    }

    /// Lists a newly mapped importer table; the list's memory is allocated
    /// with the mutex released.
    fn add_view(&self, view: Arc<MappedView>) -> Result {
        let mut view = Some(view);
        loop {
            let capacity = {
                let mut views = self.views.lock();
                if let Some(free) = views.iter_mut().find(|v| v.is_none()) {
                    *free = view.take();
                    return Ok(());
                }
                if views.len() < views.capacity() {
                    // Within the capacity: allocates nothing.
                    views.push(view.take(), GFP_NOWAIT)?;
                    return Ok(());
                }
                views.capacity()
            };
            let mut bigger = KVec::with_capacity((capacity * 2).max(4), GFP_KERNEL)?;
            let mut views = self.views.lock();
            if views.capacity() >= bigger.capacity() {
                // Another thread grew it meanwhile.
                continue;
            }
            for entry in views.iter_mut() {
                // Within the capacity: allocates nothing.
                bigger.push(entry.take(), GFP_NOWAIT)?;
            }
            // The old list (its entries moved) is freed once unlocked.
            let old = core::mem::replace(&mut *views, bigger);
            drop(views);
            drop(old);
        }
    }

    /// Takes an importer table out of the list, before it is unmapped.
    fn remove_view(&self, view: &Arc<MappedView>) {
        let removed = {
            let mut views = self.views.lock();
            views
                .iter_mut()
                .find(|v| v.as_ref().is_some_and(|v| Arc::ptr_eq(v, view)))
                .and_then(Option::take)
        };
        drop(removed);
    }

    fn register(&self, exported: &Exported) -> Result {
        let entry = ExportPtr(NonNull::from(exported));
        let mut exports = self.exports.lock();
        if let Some(slot) = exports.iter_mut().find(|s| s.is_none()) {
            *slot = Some(entry);
        } else {
            exports.push(Some(entry), GFP_KERNEL)?;
        }
        Ok(())
    }

    fn unregister(&self, exported: &Exported) {
        let mut exports = self.exports.lock();
        if let Some(slot) = exports.iter_mut().find(|s| {
            s.as_ref()
                .is_some_and(|e| core::ptr::eq(e.0.as_ptr(), exported))
        }) {
            *slot = None;
        }
    }

    /// Syncs every mapped importer table of every export of these pages
    /// for the CPU (`for_cpu`) or for its device, in the direction it was
    /// mapped with; returns the tables and bytes synced.
    fn sync_all(&self, for_cpu: bool) -> (u64, u64) {
        let exports = self.exports.lock();
        let (mut tables, mut bytes) = (0u64, 0u64);
        for entry in exports.iter().flatten() {
            // SAFETY: registered, so alive until its drop unregisters it,
            // which waits for this mutex (type invariant).
            let exported = unsafe { entry.0.as_ref() };
            let st = exported.state.lock();
            for a in st.attachments.iter().flatten() {
                if a.sync(for_cpu) {
                    tables += 1;
                    bytes += exported.size as u64;
                }
            }
        }
        (tables, bytes)
    }

    /// Publishes `fence` in the reservation object of every export of
    /// these pages, after recording in `waits` the fences there the device
    /// must wait for ([`dma_fence::publish_write`]).
    pub(crate) fn publish_write_fence(&self, fence: &WriteFence, waits: &mut WaitList) -> Result {
        let exports = self.exports.lock();
        for entry in exports.iter().flatten() {
            // SAFETY: registered, so alive until its drop unregisters it,
            // which waits for this mutex (type invariant).
            let exported = unsafe { entry.0.as_ref() };
            let Some(buf) = NonNull::new(exported.buf.load(Acquire)) else {
                // Not exported yet: no reservation object to publish in.
                continue;
            };
            // SAFETY: the dma-buf of `exported` (set once exported) is
            // freed only after its `release` dropped `exported`, which
            // waits for this mutex to unregister it; so it is live while we
            // hold the mutex.
            let resv = unsafe { (*buf.as_ptr()).resv };
            // SAFETY: as above: its reservation object lives as long as it.
            unsafe { dma_fence::publish_write(resv, fence, waits)? };
        }
        Ok(())
    }

    /// Hands the pages' bytes to every importer's mapped table of every
    /// export but `except`'s (a sync for its device, in the table's
    /// direction), once they hold a frame newer than those views: one
    /// rvcap's own device wrote, or the device of an rvcap queue importing
    /// an export, that the queue just synced for the CPU (`frame_written`).
    /// So no importer's view (a bounce buffer) keeps older bytes, which a
    /// later `begin_cpu_access` or unmap would copy back over the frame.
    /// Counts the tables in `export_pushes`.
    ///
    /// Takes only the views' mutex and allocates nothing, so the frame
    /// engine may push before it signals a write fence.
    pub(crate) fn push(&self, stats: &DmaStats, except: *const c_void) {
        let (mut tables, mut bytes) = (0u64, 0u64);
        {
            let views = self.views.lock();
            for view in views.iter().flatten() {
                if !core::ptr::eq(view.id, except) {
                    view.sync(false);
                    tables += 1;
                    bytes += view.segments.iter().map(|seg| seg.len as u64).sum::<u64>();
                }
            }
        }
        bump(&stats.export_pushes, tables);
        bump(&stats.export_bytes_synced, bytes);
    }
}

/// The exported pages, counted in their `exports` while held.
struct ExportedPages(Arc<UserPages>);

impl ExportedPages {
    fn new(pages: Arc<UserPages>) -> Self {
        pages.exported(true);
        Self(pages)
    }
}

impl Drop for ExportedPages {
    fn drop(&mut self) {
        self.0.exported(false);
    }
}

/// A dma-buf's `priv`: what it exports and who uses it.
///
/// # Invariants
///
/// Between a successful `dma_buf_export` with it as `priv` and `release`,
/// `state.attachments` holds exactly one entry for each attachment of the
/// dma-buf between its `attach` and `detach` callbacks, at the address in
/// the attachment's `priv`; `size` is the dma-buf's size, all of the
/// pages. It is in its pages' [`ExportRegistry`] from [`ExportedBuf::new`]
/// on, until dropped.
#[pin_data(PinnedDrop)]
struct Exported {
    // First: dropped (its tables unmapped, its vmap undone) before the pages.
    #[pin]
    state: Mutex<ExportState>,
    pages: ExportedPages,
    size: usize,
    stats: Arc<DmaStats>,
    /// The dma-buf, once exported (null before): for its reservation
    /// object.
    buf: Atomic<*mut bindings::dma_buf>,
}

#[pinned_drop]
impl PinnedDrop for Exported {
    fn drop(self: Pin<&mut Self>) {
        // INVARIANT: out of the registry before any field goes.
        self.pages.0.registry().unregister(&self);
    }
}

/// `Exported` is shared by every callback of its dma-buf, from any thread
/// (its `priv` is a `ForeignOwnable`, which does not ask for it).
const _: fn() = assert_send_sync::<Exported>;
fn assert_send_sync<T: Send + Sync>() {}

impl Exported {
    /// An importer's table was synced for the CPU at its unmap or detach.
    ///
    /// Not pushed to the other views: the exporter cannot tell whether the
    /// importer's device wrote anything, and a push of unchanged pages
    /// would overwrite what another importer's device wrote and nobody has
    /// copied back yet (a videobuf2 importer never syncs for the CPU).
    fn copied_back(&self) {
        bump(&self.stats.export_unmap_syncs, 1);
        bump(&self.stats.export_bytes_synced, self.size as u64);
    }
}

/// After rvcap's queue, as an importer, synced its table of an imported
/// dma-buf for the CPU through `attachment` for a frame its device wrote
/// (the queue's `Dma::frame_written`: DQBUF, and STREAMOFF's give-back of
/// a buffer the engine had filled): if the dma-buf is one
/// of rvcap's exports, the frame is in the pages now, and goes to every
/// other importer's view ([`ExportRegistry::push`]); otherwise nothing.
pub(crate) fn imported_synced_for_cpu(attachment: &Attachment) {
    let attach = attachment.as_raw();
    let buf = attachment.dma_buf().as_raw();
    // SAFETY: a live attachment (the caller holds it); only read.
    let id = unsafe { (*attach).priv_ }.cast_const();
    // SAFETY: the attachment's dma-buf is live (it holds a reference);
    // `ops` is set at export and never changes; only read.
    if !core::ptr::eq(unsafe { (*buf).ops }, &OPS) {
        return;
    }
    // SAFETY: exported by rvcap (its ops are ours) and not released: the
    // attachment holds a reference.
    let exported = unsafe { exported(buf) };
    exported.pages.0.registry().push(&exported.stats, id);
}

/// Publishes `fence`, the write fence of rvcap's device for an imported
/// dma-buf attached as `attachment`, after recording the fences the device
/// must wait for ([`dma_fence::publish_write`]): if the dma-buf is one of
/// rvcap's exports, in every export of its pages (each EXPBUF makes a
/// dma-buf of its own over the same pages, and a reader of another one
/// must be waited for, and must see this fence, too); otherwise in the
/// dma-buf's own reservation object.
pub(crate) fn publish_on_import(
    attachment: &Attachment,
    fence: &WriteFence,
    waits: &mut WaitList,
) -> Result {
    let buf = attachment.dma_buf().as_raw();
    // SAFETY: the attachment's dma-buf is live (it holds a reference);
    // `ops` is set at export and never changes; only read.
    if !core::ptr::eq(unsafe { (*buf).ops }, &OPS) {
        return attachment.dma_buf().publish_write_fence(fence, waits);
    }
    // SAFETY: exported by rvcap (its ops are ours) and not released: the
    // attachment holds a reference.
    let exported = unsafe { exported(buf) };
    exported
        .pages
        .0
        .registry()
        .publish_write_fence(fence, waits)
}

/// The `Exported` of a dma-buf of ours.
///
/// # Safety
///
/// `buf` is a dma-buf exported by [`ExportedBuf::new`] that has not been
/// released, and stays so for `'a` (as in any callback but `release`).
unsafe fn exported<'a>(buf: *mut bindings::dma_buf) -> Pin<&'a Exported> {
    // SAFETY: a live dma-buf (the caller's contract).
    let foreign = unsafe { (*buf).priv_ };
    // SAFETY: `priv` holds the `into_foreign` of a `Pin<KBox<Exported>>`
    // (`ExportedBuf::new`), taken back only by `release`.
    unsafe { <Pin<KBox<Exported>> as ForeignOwnable>::borrow(foreign) }
}

/// `attach`: a table of the attachment's own over the pages.
///
/// # Safety
///
/// Called by the dma-buf core with a live dma-buf of ours and an attachment
/// being set up for a live device.
unsafe extern "C" fn attach(
    buf: *mut bindings::dma_buf,
    attachment: *mut bindings::dma_buf_attachment,
) -> c_int {
    // SAFETY: the function's contract: a live dma-buf of ours.
    let exported = unsafe { exported(buf) };
    // SAFETY: the function's contract: a live attachment.
    let dev = unsafe { (*attachment).dev };
    // SAFETY: the attachment's device stays allocated while attached.
    let dev = unsafe { Device::from_raw(dev) };
    from_result(|| {
        let dev = DeviceRef::from(dev);
        let table = exported.pages.0.table_for(exported.size, &dev)?;
        let iommu_page = dma::iommu_page(&dev);
        // INVARIANT: not mapped; the device's IOMMU page; the registry of
        // the export's pages, which the export keeps.
        let state = KBox::new(
            AttachState {
                dev,
                table,
                view: None,
                requested: None,
                iommu_page,
                registry: NonNull::from(exported.pages.0.registry()),
            },
            GFP_KERNEL,
        )?;
        let id: *const AttachState = &*state;
        let mut st = exported.state.lock();
        if let Some(slot) = st.attachments.iter_mut().find(|s| s.is_none()) {
            *slot = Some(state);
        } else {
            st.attachments.push(Some(state), GFP_KERNEL)?;
        }
        // SAFETY: the attachment is ours to set up during this call.
        // INVARIANT: recorded above, under the lock; removed by `detach`.
        unsafe { (*attachment).priv_ = id.cast_mut().cast() };
        Ok(0)
    })
}

/// `detach`: frees the attachment's table (unmapped first, if the
/// importer did not).
///
/// # Safety
///
/// Called by the dma-buf core with a live dma-buf of ours and one of its
/// attachments, once, after `attach` succeeded.
unsafe extern "C" fn detach(
    buf: *mut bindings::dma_buf,
    attachment: *mut bindings::dma_buf_attachment,
) {
    // SAFETY: the function's contract: a live dma-buf of ours.
    let exported = unsafe { exported(buf) };
    // SAFETY: the function's contract: a live attachment.
    let id = unsafe { (*attachment).priv_ }.cast_const();
    let mut st = exported.state.lock();
    let slot = st
        .attachments
        .iter_mut()
        .find(|s| s.as_deref().is_some_and(|a| core::ptr::eq(a, id.cast())));
    // INVARIANT: the attachment's entry goes with it.
    let state = slot.and_then(Option::take);
    drop(st);
    // The core has the importer unmap before it detaches; in case not.
    if let Some(mut state) = state {
        if state.unmap() {
            exported.copied_back();
        }
    }
}

/// Encodes an error as `ERR_PTR` does.
fn err_ptr<T>(e: Error) -> *mut T {
    e.to_errno() as isize as *mut T
}

/// `map_dma_buf`: maps the attachment's table for its device and syncs it
/// for the device (handing it the CPU's bytes; see "Syncs").
///
/// # Safety
///
/// Called by the dma-buf core with an attachment of a live dma-buf of ours.
unsafe extern "C" fn map_dma_buf(
    attachment: *mut bindings::dma_buf_attachment,
    dir: bindings::dma_data_direction,
) -> *mut bindings::sg_table {
    // SAFETY: the function's contract: a live attachment.
    let buf = unsafe { (*attachment).dmabuf };
    // SAFETY: the function's contract: a live dma-buf of ours.
    let exported = unsafe { exported(buf) };
    // SAFETY: the function's contract: a live attachment.
    let id = unsafe { (*attachment).priv_ }.cast_const();
    let map = || -> Result<*mut bindings::sg_table> {
        let dir = DataDirection::from_raw(dir).ok_or(EINVAL)?;
        let mut st = exported.state.lock();
        let a = st.attachment(id).ok_or(EINVAL)?;
        a.map(dir, id)?;
        // The map's own sync, made explicit.
        a.sync(false);
        Ok(a.table.as_ptr())
    };
    map().unwrap_or_else(err_ptr)
}

/// `unmap_dma_buf`: syncs what the importer's device may have written for
/// the CPU, then unmaps (see "Syncs").
///
/// # Safety
///
/// Called by the dma-buf core with an attachment of a live dma-buf of ours
/// and the table `map_dma_buf` returned for it.
unsafe extern "C" fn unmap_dma_buf(
    attachment: *mut bindings::dma_buf_attachment,
    sgt: *mut bindings::sg_table,
    dir: bindings::dma_data_direction,
) {
    // SAFETY: the function's contract: a live attachment.
    let buf = unsafe { (*attachment).dmabuf };
    // SAFETY: the function's contract: a live dma-buf of ours.
    let exported = unsafe { exported(buf) };
    // SAFETY: the function's contract: a live attachment.
    let id = unsafe { (*attachment).priv_ }.cast_const();
    let mut st = exported.state.lock();
    let copied_back = match st.attachment(id) {
        // The importer unmaps in the direction it asked for, whatever rvcap
        // mapped with.
        Some(a)
            if a.requested.map(DataDirection::as_raw) == Some(dir) && a.table.as_ptr() == sgt =>
        {
            a.unmap()
        }
        _ => {
            log::warn_ratelimited(
                ratelimit!(),
                format_args!("an importer unmapped an exported dma-buf that it had not mapped so"),
            );
            false
        }
    };
    drop(st);
    if copied_back {
        exported.copied_back();
    }
}

/// `release`: the dma-buf's last reference went; drops what it held.
///
/// # Safety
///
/// Called by the dma-buf core once, for a dma-buf of ours, after every
/// other callback.
unsafe extern "C" fn release(buf: *mut bindings::dma_buf) {
    // SAFETY: the function's contract: a dma-buf of ours, live until this
    // returns.
    let foreign = unsafe { (*buf).priv_ };
    // SAFETY: `priv` is the `into_foreign` of `ExportedBuf::new`, taken back
    // once, here; nothing uses it any more.
    let exported = unsafe { <Pin<KBox<Exported>> as ForeignOwnable>::from_foreign(foreign) };
    bump(&exported.stats.export_release, 1);
}

/// Syncs the kernel mapping's caches and every importer's mapped table of
/// every export of the pages (not only this dma-buf's: a bracket on one
/// export must also cover what another one's importers see) for the CPU
/// (`for_cpu`) or for the devices.
fn cpu_access(exported: &Exported, for_cpu: bool) {
    let stats = &exported.stats;
    bump(
        if for_cpu {
            &stats.export_begin_cpu_access
        } else {
            &stats.export_end_cpu_access
        },
        1,
    );
    let vmap_caches = |for_cpu: bool| {
        let st = exported.state.lock();
        if let Some(vmap) = &st.vmap {
            if for_cpu {
                // SAFETY: a live vmap of `len` bytes (type invariant); no-ops
                // where the caches do not alias (x86, arm64).
                unsafe {
                    bindings::rvcap_invalidate_kernel_vmap_range(vmap.addr.as_ptr(), vmap.c_len())
                };
            } else {
                // SAFETY: as for the invalidation above.
                unsafe {
                    bindings::rvcap_flush_kernel_vmap_range(vmap.addr.as_ptr(), vmap.c_len())
                };
            }
        }
    };
    // The registry's lock comes before any export's (its lock order), so
    // this export's is not held across the walk.
    if !for_cpu {
        vmap_caches(false);
    }
    let (tables, bytes) = exported.pages.0.registry().sync_all(for_cpu);
    if for_cpu {
        vmap_caches(true);
    }
    bump(&stats.export_syncs, tables);
    bump(&stats.export_bytes_synced, bytes);
}

/// `begin_cpu_access`: every importer's mapped table synced for the CPU,
/// in the direction it was mapped with, whatever the CPU means to do: in
/// a write-only bracket (`DMA_TO_DEVICE`) too, since the bracket's end
/// hands the pages back to every importer, which would otherwise undo
/// what an importer's device wrote and nobody had copied back yet.
///
/// # Safety
///
/// Called by the dma-buf core with a live dma-buf of ours.
unsafe extern "C" fn begin_cpu_access(
    buf: *mut bindings::dma_buf,
    dir: bindings::dma_data_direction,
) -> c_int {
    // SAFETY: the function's contract.
    let exported = unsafe { exported(buf) };
    // Only a read-only bracket (`Some(FromDevice)`) may overlap other
    // readers; any other direction, `DMA_NONE` (`Some(None)`) or a value
    // that is no direction (`None`) included, waits for them too.
    let writes = DataDirection::from_raw(dir) != Some(DataDirection::FromDevice);
    // SAFETY: a live dma-buf (the contract).
    let resv = unsafe { (*buf).resv };
    // SAFETY: as above: its reservation object lives as long as it does.
    if let Err(e) = unsafe { dma_fence::wait_for_fences(resv, writes) } {
        return e.to_errno();
    }
    cpu_access(&exported, true);
    0
}

/// `end_cpu_access`: every importer's mapped table synced for its device.
///
/// # Safety
///
/// Called by the dma-buf core with a live dma-buf of ours.
unsafe extern "C" fn end_cpu_access(
    buf: *mut bindings::dma_buf,
    _dir: bindings::dma_data_direction,
) -> c_int {
    // SAFETY: the function's contract.
    let exported = unsafe { exported(buf) };
    cpu_access(&exported, false);
    0
}

/// `mmap`: the pages into the VMA, from its page offset, as the V4L2
/// `mmap` maps them (the VMA holds them).
///
/// # Safety
///
/// Called by the dma-buf core with a live dma-buf of ours and a VMA being
/// set up for it.
unsafe extern "C" fn mmap(
    buf: *mut bindings::dma_buf,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: the function's contract: a live dma-buf of ours.
    let exported = unsafe { exported(buf) };
    // SAFETY: the function's contract: the VMA is ours to set up during
    // the call.
    let vma = unsafe { VmaNew::from_raw(vma.cast()) };
    from_result(|| {
        mm::map_exported(vma, &exported.pages.0)?;
        Ok(0)
    })
}

/// `vmap`: a kernel mapping of the pages (the core counts `vmap` calls and
/// calls this once until `vunmap`).
///
/// # Safety
///
/// Called by the dma-buf core with a live dma-buf of ours and a map to fill.
unsafe extern "C" fn vmap(buf: *mut bindings::dma_buf, map: *mut bindings::iosys_map) -> c_int {
    // SAFETY: the function's contract.
    let exported = unsafe { exported(buf) };
    from_result(|| {
        let mut st = exported.state.lock();
        if st.vmap.is_some() {
            return Err(EBUSY);
        }
        // SAFETY: the pages are held by `exported`, which drops the mapping
        // (in `state`) first.
        let vmap = unsafe { Vmap::new(&exported.pages.0)? };
        // SAFETY: `map` is the core's to fill during the call.
        unsafe { bindings::rvcap_iosys_map_set_vaddr(map, vmap.addr.as_ptr()) };
        st.vmap = Some(vmap);
        Ok(0)
    })
}

/// `vunmap`: an implicit `end_cpu_access`, then undoes `vmap`.
///
/// An importer that writes through the kernel mapping without a
/// `begin_cpu_access`/`end_cpu_access` bracket (a vb2-dma-contig importer
/// writing a frame through `vb2_plane_vaddr`) would otherwise lose those
/// writes to the copy-back when it unmaps its table; videobuf2 drops the
/// kernel mapping before it unmaps the attachment. So every mapped
/// importer table is synced for its device (in its mapping's direction)
/// before the mapping goes, the vmap's caches flushed first where they
/// alias.
///
/// # Safety
///
/// Called by the dma-buf core with a live dma-buf of ours.
unsafe extern "C" fn vunmap(buf: *mut bindings::dma_buf, _map: *mut bindings::iosys_map) {
    // SAFETY: the function's contract.
    let exported = unsafe { exported(buf) };
    let mut st = exported.state.lock();
    if let Some(vmap) = &st.vmap {
        // SAFETY: a live vmap of `len` bytes (type invariant); a no-op where
        // the caches do not alias (x86, arm64).
        unsafe { bindings::rvcap_flush_kernel_vmap_range(vmap.addr.as_ptr(), vmap.c_len()) };
        let synced = st
            .attachments
            .iter()
            .flatten()
            .filter(|a| a.sync(false))
            .count() as u64;
        bump(&exported.stats.export_syncs, synced);
        bump(
            &exported.stats.export_bytes_synced,
            synced * exported.size as u64,
        );
    }
    let vmap = st.vmap.take();
    drop(st);
    drop(vmap);
}

// SAFETY: all-zero `dma_buf_ops` is valid: optional callbacks and `false`.
const NO_DMA_BUF_OPS: bindings::dma_buf_ops = unsafe { core::mem::zeroed() };

/// The exporter's callbacks; no `pin`/`unpin`: the pages never move.
static OPS: bindings::dma_buf_ops = bindings::dma_buf_ops {
    attach: Some(attach),
    detach: Some(detach),
    map_dma_buf: Some(map_dma_buf),
    unmap_dma_buf: Some(unmap_dma_buf),
    release: Some(release),
    begin_cpu_access: Some(begin_cpu_access),
    end_cpu_access: Some(end_cpu_access),
    mmap: Some(mmap),
    vmap: Some(vmap),
    vunmap: Some(vunmap),
    ..NO_DMA_BUF_OPS
};

/// A reference to a dma-buf this module exported: the one its export made,
/// put on drop unless [`ExportedBuf::into_fd`] handed it to a file
/// descriptor.
///
/// # Invariants
///
/// `buf` came from a successful `dma_buf_export` with [`OPS`] and an
/// `Exported` as `priv`.
pub(crate) struct ExportedBuf {
    buf: ARef<DmaBuf>,
}

impl ExportedBuf {
    /// Exports the MMAP pages `held` as a new dma-buf whose file has the
    /// `O_ACCMODE` bits `mode`.
    pub(crate) fn new(held: HeldPages, mode: u32) -> Result<Self> {
        let HeldPages { pages, stats } = held;
        let size = pages.pages().len() * PAGE_SIZE;
        let exported = KBox::pin_init(
            try_pin_init!(Exported {
                state <- new_mutex!(ExportState::default()),
                pages: ExportedPages::new(pages),
                size,
                stats,
                buf: Atomic::new(core::ptr::null_mut()),
            }? Error),
            GFP_KERNEL,
        )?;
        // INVARIANT: pinned from here on; its drop unregisters it.
        exported.pages.0.registry().register(&exported)?;
        let stats = exported.stats.clone();
        let priv_ = types::into_foreign(exported);
        // SAFETY: `OPS` has every callback the core requires and lives
        // forever; `priv_` is ours. On success the dma-buf owns it (`release`
        // takes it back); on failure nothing took it.
        let buf = unsafe {
            bindings::rvcap_dma_buf_export(&OPS, size, (mode & ACCESS_MODE) as c_int, priv_)
        };
        let buf = match from_err_ptr(buf).map(NonNull::new) {
            Ok(Some(buf)) => buf,
            failed => {
                // SAFETY: the export failed, so `priv_` is still only ours:
                // taken back once.
                drop(unsafe { <Pin<KBox<Exported>> as ForeignOwnable>::from_foreign(priv_) });
                return Err(failed.err().unwrap_or(ENOMEM));
            }
        };
        // SAFETY: `priv_` is the pinned `Exported` the dma-buf owns now,
        // alive until its `release`, which cannot come before our
        // reference goes.
        unsafe { (*priv_.cast::<Exported>()).buf.store(buf.as_ptr(), Release) };
        bump(&stats.export, 1);
        // INVARIANT: exported above, with `OPS` and an `Exported`.
        Ok(Self {
            // SAFETY: `dma_buf_export` succeeded: `buf` is live and its
            // reference is ours, given to the `ARef`.
            buf: unsafe { DmaBuf::from_export(buf) },
        })
    }

    /// A file descriptor of the calling process for the dma-buf, with
    /// `flags` (`O_CLOEXEC`), which takes over the reference; on failure
    /// the reference is put.
    pub(crate) fn into_fd(self, flags: u32) -> Result<i32> {
        // SAFETY: a live dma-buf (type invariant); `dma_buf_fd` installs an
        // fd that owns our reference only if it succeeds.
        let fd =
            unsafe { bindings::dma_buf_fd(self.buf.as_raw(), (flags & CLOSE_ON_EXEC) as c_int) };
        if fd < 0 {
            // Dropping `self` puts the reference.
            return Err(Error::from_errno(fd));
        }
        // The file descriptor owns the reference now.
        let _ = ARef::into_raw(self.buf);
        Ok(fd)
    }
}

/// VIDIOC_EXPBUF of MMAP memory: a new dma-buf of the pages `held` (from
/// the queue's `export`) and a file descriptor for it; `flags`: `O_ACCMODE`
/// bits for the file, `O_CLOEXEC` for the descriptor. `fence`: the write
/// fence of the buffer, if the device holds it, which the new dma-buf gets
/// before userspace sees it, as the buffer's other dma-bufs got it.
pub(crate) fn export(held: HeldPages, flags: u32, fence: Option<&Fence>) -> Result<i32> {
    let buf = ExportedBuf::new(held, flags & ACCESS_MODE)?;
    if let Some(fence) = fence {
        buf.buf.add_write_fence(fence)?;
    }
    buf.into_fd(flags & CLOSE_ON_EXEC)
}
