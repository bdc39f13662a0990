// SPDX-License-Identifier: GPL-2.0

//! Importing dma-bufs, one RAII type per resource:
//!
//! - [`DmaBuf`]: `struct dma_buf`, used by reference and kept alive by an
//!   [`ARef<DmaBuf>`] (`get_dma_buf`/`dma_buf_put`), as the `kernel` crate
//!   wraps reference-counted C objects.
//! - [`ImportedDmaBuf`]: an importer's reference from a file descriptor
//!   (`dma_buf_get`), counted in [`DmaStats`] (`get`, and `put` when it
//!   goes).
//! - [`Attachment`]: the dma-buf attached to a device; drop detaches, then
//!   puts the reference it owns.
//! - [`ImportedTable`]: the exporter's scatter table of an attachment mapped
//!   for the device; drop unmaps it (holding the attachment until then).
//!
//! Each counts what it did in the [`DmaStats`] it was made with.

use super::bindings;
use super::device::DeviceRef;
use super::dma::{self, bump, DataDirection, DataDirectionExt, DmaSegment, DmaStats};
use super::dma_fence::{self, Fence, WaitList, WriteFence};
use super::sync::aref::{ARef, AlwaysRefCounted};
use super::types::Opaque;
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::error::from_err_ptr;
use kernel::prelude::*;
use kernel::sync::Arc;

/// A dma-buf.
///
/// # Invariants
///
/// A `&DmaBuf` is a live `struct dma_buf` on which a reference (to its
/// file) is held for at least the borrow's lifetime; an [`ARef<DmaBuf>`]
/// owns one. Its `size` and `resv` are set at export and do not change
/// while it is alive. None is ever made from the pointer an exporter
/// callback gets (in `release` the count is already zero): only from a
/// reference taken by [`DmaBuf::get`] or made by a successful export
/// ([`DmaBuf::from_export`]).
#[repr(transparent)]
pub(crate) struct DmaBuf(Opaque<bindings::dma_buf>);

impl DmaBuf {
    /// The dma-buf of file descriptor `fd` of the calling process: a new
    /// reference (`dma_buf_get`). Private: importers take theirs through
    /// [`ImportedDmaBuf::get`], which counts it.
    fn get(fd: i32) -> Result<ARef<Self>> {
        // SAFETY: `dma_buf_get` accepts any fd and checks it.
        let buf = from_err_ptr(unsafe { bindings::dma_buf_get(fd) })?;
        let buf = NonNull::new(buf).ok_or(EINVAL)?;
        // SAFETY: `dma_buf_get` succeeded, so `buf` is a live dma-buf and the
        // reference it took is ours, given to the `ARef`; `DmaBuf` is
        // `repr(transparent)` over `Opaque<dma_buf>`, which has the layout
        // of `dma_buf`, so the cast pointer is a valid `DmaBuf`.
        // INVARIANT: the `ARef` owns the reference `dma_buf_get` took.
        Ok(unsafe { ARef::from_raw(buf.cast::<Self>()) })
    }

    /// Owns the reference a successful `dma_buf_export` returned (rvcap's
    /// own exports, `dma_buf_export`).
    ///
    /// # Safety
    ///
    /// `buf` is a dma-buf `dma_buf_export` returned, whose reference the
    /// caller owns and gives to the returned value.
    pub(super) unsafe fn from_export(buf: NonNull<bindings::dma_buf>) -> ARef<Self> {
        // SAFETY: the caller's guarantee: a live dma-buf and its reference,
        // given to the `ARef`; the cast is valid as in `get`.
        // INVARIANT: made by a successful export; the `ARef` owns its
        // reference.
        unsafe { ARef::from_raw(buf.cast::<Self>()) }
    }

    /// The C `struct dma_buf`, live while `self` is.
    pub(crate) fn as_raw(&self) -> *mut bindings::dma_buf {
        self.0.get()
    }

    /// Its size in bytes.
    pub(crate) fn size(&self) -> usize {
        // SAFETY: alive (type invariant); `size` is set by the exporter at
        // export time and never changes.
        unsafe { (*self.as_raw()).size }
    }

    /// Publishes `fence` in the dma-buf's reservation object, after
    /// recording in `waits` the fences there that a writer must wait for
    /// ([`dma_fence::publish_write`]).
    pub(crate) fn publish_write_fence(&self, fence: &WriteFence, waits: &mut WaitList) -> Result {
        // SAFETY: the dma-buf is alive (type invariant).
        let resv = unsafe { (*self.as_raw()).resv };
        // SAFETY: as above, and so is its reservation object, which lives as
        // long as it does.
        unsafe { dma_fence::publish_write(resv, fence, waits) }
    }

    /// Adds `fence` to the dma-buf's reservation object as a write fence,
    /// waiting for nothing ([`dma_fence::add_write`]).
    pub(crate) fn add_write_fence(&self, fence: &Fence) -> Result {
        // SAFETY: the dma-buf is alive (type invariant).
        let resv = unsafe { (*self.as_raw()).resv };
        // SAFETY: as above, and so is its reservation object, which lives as
        // long as it does.
        unsafe { dma_fence::add_write(resv, fence) }
    }

    /// Whether both are the same dma-buf.
    pub(crate) fn is_same(&self, other: &DmaBuf) -> bool {
        core::ptr::eq(self, other)
    }
}

// SAFETY: a dma-buf lives while a reference to its file is held and is
// released after the last is dropped: `get_dma_buf` takes one (`get_file`),
// `dma_buf_put` drops one (`fput`). Every `DmaBuf` is reached through such
// a reference (type invariant), so its count is never zero here.
unsafe impl AlwaysRefCounted for DmaBuf {
    fn inc_ref(&self) {
        // SAFETY: the dma-buf is alive (type invariant), and so its file.
        unsafe { bindings::rvcap_get_dma_buf(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller gives up a reference it owns (from
        // `dma_buf_get` or `inc_ref`); `DmaBuf` is `repr(transparent)` over
        // the C structure, so the cast pointer is the `dma_buf`.
        unsafe { bindings::dma_buf_put(obj.cast().as_ptr()) };
    }
}

// SAFETY: what an owner does with it works from any thread: `dma_buf_put`
// is `fput`, which hands the last release to task work or, off a task, to a
// workqueue; nothing of it is tied to the thread that took the reference.
unsafe impl Send for DmaBuf {}
// SAFETY: all a shared reference can do is read `size` (immutable while
// alive), take a reference (`get_file`, an atomic increment) and publish a
// fence, which takes the reservation object's lock
// (`dma_fence::publish_write`): nothing needs exclusive access.
unsafe impl Sync for DmaBuf {}

/// An importer's reference to a dma-buf, counted in [`DmaStats`]: `get`
/// once taken, `put` once put (by [`PutCounter`], which drops after `buf`).
/// Used as a [`DmaBuf`] (it derefs to one). The counters count these
/// importer references only: an `ARef` made from the `DmaBuf` it derefs to
/// (`ARef::from`; nothing does) would not be counted.
pub(crate) struct ImportedDmaBuf {
    buf: ARef<DmaBuf>,
    // Declared after `buf`: fields drop in order, so `put` is counted right
    // after the reference's `dma_buf_put`.
    counter: PutCounter,
}

/// Counts a `put` when dropped (see [`ImportedDmaBuf`]).
struct PutCounter(Arc<DmaStats>);

impl Drop for PutCounter {
    fn drop(&mut self) {
        bump(&self.0.put, 1);
    }
}

impl ImportedDmaBuf {
    /// The dma-buf of file descriptor `fd` of the calling process
    /// ([`DmaBuf::get`]), counted in `stats`.
    pub(crate) fn get(fd: i32, stats: &Arc<DmaStats>) -> Result<Self> {
        let buf = DmaBuf::get(fd)?;
        bump(&stats.get, 1);
        Ok(Self {
            buf,
            counter: PutCounter(stats.clone()),
        })
    }

    /// The counters it was made with.
    fn stats(&self) -> &DmaStats {
        &self.counter.0
    }
}

impl Deref for ImportedDmaBuf {
    type Target = DmaBuf;

    fn deref(&self) -> &DmaBuf {
        &self.buf
    }
}

/// A dma-buf attached to a device.
///
/// # Invariants
///
/// `attach` was returned by `dma_buf_attach(buf, dev)` and is detached once,
/// in `drop`, after every [`ImportedTable`] of it is gone (each holds an
/// `Arc` of it); `buf` outlives it (dropped after the detach).
pub(crate) struct Attachment {
    attach: NonNull<bindings::dma_buf_attachment>,
    buf: ImportedDmaBuf,
    dev: DeviceRef,
}

// SAFETY: as for `DmaBuf`: the dma-buf core locks its own state.
unsafe impl Send for Attachment {}
// SAFETY: shared references only read immutable pointers.
unsafe impl Sync for Attachment {}

impl Attachment {
    /// Attaches `buf` to `dev`. On failure `buf` is put.
    pub(crate) fn new(buf: ImportedDmaBuf, dev: &DeviceRef) -> Result<Self> {
        // SAFETY: `buf` is a live reference and `dev` a live device; no
        // dma-buf lock is held.
        let attach = from_err_ptr(unsafe { bindings::dma_buf_attach(buf.as_raw(), dev.as_raw()) })?;
        let attach = NonNull::new(attach).ok_or(EINVAL)?;
        bump(&buf.stats().attach, 1);
        // INVARIANT: attached above.
        Ok(Self {
            attach,
            buf,
            dev: dev.clone(),
        })
    }

    /// The dma-buf attached.
    pub(crate) fn dma_buf(&self) -> &DmaBuf {
        &self.buf
    }

    /// The device it is attached to.
    pub(crate) fn device(&self) -> &DeviceRef {
        &self.dev
    }

    /// The C attachment, live while `self` is.
    pub(super) fn as_raw(&self) -> *mut bindings::dma_buf_attachment {
        self.attach.as_ptr()
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: attached and not mapped any more (type invariant); detached
        // once, here. The reference in `buf` is put afterwards.
        unsafe { bindings::dma_buf_detach(self.buf.as_raw(), self.attach.as_ptr()) };
        bump(&self.buf.stats().detach, 1);
    }
}

/// An attachment mapped for its device: the exporter's scatter table.
///
/// # Invariants
///
/// `sgt` was returned by `dma_buf_map_attachment_unlocked(attachment,
/// direction)` and is unmapped once, in `drop`, in the same direction. Only its DMA addresses
/// and lengths may be read (importers must not look at the pages, which
/// `CONFIG_DMABUF_DEBUG` scrambles on 6.12 and leaves out of the copy it
/// hands importers on 7.3).
pub(crate) struct ImportedTable {
    sgt: NonNull<bindings::sg_table>,
    attachment: Arc<Attachment>,
    direction: DataDirection,
}

// SAFETY: as for `Attachment`.
unsafe impl Send for ImportedTable {}
// SAFETY: shared references only read the table's DMA addresses, which do
// not change while it is mapped.
unsafe impl Sync for ImportedTable {}

impl ImportedTable {
    /// Maps `attachment` for its device, in `direction`.
    pub(crate) fn map(attachment: &Arc<Attachment>, direction: DataDirection) -> Result<Self> {
        if direction == DataDirection::None {
            return Err(EINVAL);
        }
        // SAFETY: the attachment is alive (we hold it); no dma-buf lock held.
        let sgt = from_err_ptr(unsafe {
            bindings::dma_buf_map_attachment_unlocked(
                attachment.attach.as_ptr(),
                direction.as_raw(),
            )
        })?;
        // INVARIANT: mapped above.
        Ok(Self {
            sgt: NonNull::new(sgt).ok_or(EINVAL)?,
            attachment: attachment.clone(),
            direction,
        })
    }

    /// Calls `f` for each DMA segment of the mapped table, in order, until
    /// it returns `false`.
    pub(crate) fn for_each_dma_segment(&self, f: impl FnMut(DmaSegment) -> bool) {
        // SAFETY: the table is mapped while `self` lives (type invariant),
        // and only its DMA addresses and lengths are read.
        unsafe { dma::for_each_dma_segment(self.sgt.as_ptr(), f) }
    }

    /// The attachment mapped.
    pub(crate) fn attachment(&self) -> &Attachment {
        &self.attachment
    }
}

impl Drop for ImportedTable {
    fn drop(&mut self) {
        // SAFETY: mapped for this attachment and direction (type invariant)
        // and unmapped once; the attachment is alive (we hold it). We hold
        // no dma-buf locks.
        unsafe {
            bindings::dma_buf_unmap_attachment_unlocked(
                self.attachment.attach.as_ptr(),
                self.sgt.as_ptr(),
                self.direction.as_raw(),
            )
        };
        bump(&self.attachment.buf.stats().unmap, 1);
    }
}
