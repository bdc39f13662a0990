// SPDX-License-Identifier: GPL-2.0

//! The videobuf2-style buffer queue: slots, states, ownership, the map-once
//! policy and where the cache syncs go.
//!
//! Pure Rust over `core` only, with no `unsafe` and no kernel or FFI types:
//! the DMA side is the [`Dma`] trait, implemented by the kernel shell (dma-buf
//! and DMA API wrappers) and by a model of a non-coherent device in the host
//! tests (`tests/host`), which compile this same file.
//!
//! # Ownership
//!
//! A buffer is owned by the CPU (userspace may touch it) only in
//! [`State::Dequeued`]. Every other state is device-owned, and a buffer only
//! becomes device-owned through a [`Dma::sync_for_device`] of
//! [`FRAME_DIRECTION`] (PREPARE_BUF or QBUF). It only goes back to the CPU
//! through [`Dma::sync_for_cpu`] (DQBUF, over the bytes the frame occupies;
//! STREAMOFF, over all the device may have written). After STREAMOFF every
//! buffer is the CPU's, including those the device held. The device is
//! given at most `length` bytes: the rest of a dma-buf is always the CPU's.
//!
//! # Nothing lost after DQBUF
//!
//! Once DQBUF (or STREAMOFF) hands a buffer to userspace its contents are
//! userspace's: nothing the queue does later (unmap at STREAMOFF, a slot
//! given another dma-buf, release at REQBUFS(0) or close) may change them.
//! But exporters sync for the CPU when they please: at unmap (dma-heaps),
//! at detach (videobuf2-vmalloc and -dma-sg keep their mapping until then),
//! or never (udmabuf, DRM prime). Such a sync copies the device's view over
//! the CPU's (under swiotlb: the bounce slot, still holding the device's
//! last frame) or invalidates the CPU's caches (non-coherent hardware). So
//! whatever the queue drops of an import, its mapping or its attachment,
//! goes through one function, [`Plane::drop_mapping`], which first hands
//! the CPU's bytes to the device side: a sync for the device of
//! [`HAND_OVER_DIRECTION`] over the whole buffer if the CPU owns it, else
//! over what lies past `length`, through a live mapping. A CPU-owned
//! import whose mapping already went (STREAMOFF) is handed over through a
//! mapping made for that alone ([`Plane::release_memory`]) before its
//! detach. The exporter's own CPU sync, at unmap or at detach, then copies
//! back the CPU's own bytes. When the device needs no syncs at all
//! ([`Dma::needs_sync`]) neither does this. (A write made while the buffer
//! is being released, by another thread or device, can still be undone by
//! that sync: between the hand-over and the exporter's sync the bounce
//! slot or the memory holds the CPU's bytes of the moment before.)
//!
//! # Planes
//!
//! A buffer has 1 to [`MAX_PLANES`] planes (the multi-planar API: NV12M's
//! luma and chroma, say), each with its own memory: an MMAP allocation, or
//! an imported dma-buf with its own attachment and mapping. Everything
//! above holds per plane: the syncs (DQBUF's over that plane's
//! `bytesused`), the device's `length`, the hand-over. One dma-buf cannot
//! be two planes of a buffer: rvcap has no `data_offset` to place the
//! second plane after the first, so both would start at offset 0 and the
//! device would write one plane over the other.
//!
//! # Imported buffers (DMABUF)
//!
//! A slot keeps its attachment and mapping across QBUF/DQBUF: QBUF of the
//! dma-buf the slot already holds reuses both ("map once"); QBUF of a
//! dma-buf another CPU-owned slot holds moves both to this slot; QBUF of
//! another dma-buf attaches and maps it, then releases the old one. A
//! refused QBUF changes nothing. STREAMOFF drops every mapping but keeps
//! attachments; REQBUFS(0) and close of the owning handle drop everything.
//!
//! # Removing buffers and the maximum
//!
//! REMOVE_BUFS frees a run of CPU-owned buffers, as REQBUFS(0) frees all
//! (MMAP memory still mmapped by userspace stays with the mapping,
//! orphaned), and leaves holes that CREATE_BUFS fills: as videobuf2 does,
//! at the first run of free indices long enough, fewer buffers if none is.
//! The queue holds at most [`MAX_BUFFERS`]; its slot table is allocated by
//! the first REQBUFS or CREATE_BUFS (through [`Dma::new_table`]), so that
//! no ioctl after it allocates for the queue's own bookkeeping.
//!
//! # Exports (EXPBUF)
//!
//! Only a plane of an MMAP buffer may be exported ([`Queue::export`]):
//! rvcap owns no import's memory to give away (`EINVAL` for a DMABUF
//! queue, an index without a buffer, a plane the buffer lacks). An export
//! holds the plane's pages ([`Dma::Pages`]), as a userspace mmap() does,
//! never the queue's mapping of them for the device: exporting changes
//! nothing in the queue (the buffer streams as before, its syncs made on
//! the queue's mapping at QBUF and DQBUF), and REQBUFS(0), REMOVE_BUFS and
//! close with exports alive orphan the memory as they do a mmapped buffer:
//! the queue forgets the buffer and drops its mapping at once, the pages
//! live until the last of the exports and user mappings goes, and the
//! queue may be given new buffers meanwhile.
//!
//! # Cache hints
//!
//! MMAP buffers requested with `V4L2_MEMORY_FLAG_NON_COHERENT` make a
//! queue that honours the per-QBUF hints ([`CacheHints`]): the application
//! promises that the CPU did not write the buffer (no sync for the device
//! at QBUF) or will not read it (no sync for the CPU at DQBUF or
//! STREAMOFF). The memory is the same either way: rvcap's MMAP memory is
//! always cached and kept coherent by those syncs, which is what the flag
//! lets the application skip. A coherent MMAP queue keeps the hints (as
//! videobuf2 does, and reports them back) but still syncs: its memory must
//! stay coherent, as uncached memory would be. Imports drop them. A
//! plane whose memory other devices see through views of their own (an
//! exported buffer's importers, [`Dma::has_other_views`]) is synced for
//! the CPU at DQBUF and STREAMOFF whatever the hint: the frame must reach
//! the pages and those views ([`Dma::frame_written`]).
//!
//! # Comparison policies
//!
//! [`Policy`] switches two of those rules for benchmarks: map-per-QBUF (as
//! videobuf2 did before Linux 5.1: map at QBUF, unmap at DQBUF; the syncs
//! stay, so frames stay correct with any exporter) and full-buffer syncs for
//! the CPU at DQBUF. Either may change at any time without breaking the
//! ownership rules; the shell changes them only at STREAMON.
//!
//! # The device's queue
//!
//! While streaming, a queued buffer goes at once to the device
//! ([`Queue::hand_to_device`]: QBUF, or STREAMON for those queued before
//! it), which holds clones of its mappings, and what the shell adds (its
//! fences), in a [`device::DeviceQueue`] until it has written the frame;
//! the frame comes back through [`Queue::finish_frame`]. See
//! [`device`] for the order rules.
//!
//! # Locking
//!
//! None here: the shell serialises every call with one mutex. The device's
//! queue has a lock of its own, which the engine takes without that mutex;
//! the shell stops the engine and empties the device's queue before any
//! call that could drop a mapping of a device-owned buffer (STREAMOFF,
//! REQBUFS, close).

pub(crate) mod device;
mod fifo;

use core::ops::Range;
use fifo::IndexFifo;

/// Most buffers a queue holds: as vivid, twice videobuf2's default
/// (`VB2_MAX_FRAME`), for pipelines that keep many frames in flight.
pub(crate) const MAX_BUFFERS: usize = 64;

/// Most planes a buffer has (YUV420M's three).
pub(crate) const MAX_PLANES: usize = 3;

/// The largest buffer `struct v4l2_buffer` can describe (`length` is a
/// `__u32`).
pub(crate) const MAX_LENGTH: usize = u32::MAX as usize;

/// The errno a queue operation fails with, by name. The numbers differ
/// between architectures (`ENOBUFS` is 105 on x86 but not on alpha, mips,
/// parisc or sparc), so the core never holds one: the shell maps these to
/// the kernel's constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Errno {
    /// I/O error.
    Io,
    /// Try again (a non-blocking DQBUF with nothing done).
    Again,
    /// Out of memory.
    NoMem,
    /// Busy: another file handle owns the queue, or it is streaming.
    Busy,
    /// Invalid argument.
    Inval,
    /// No buffer space: the queue already holds [`MAX_BUFFERS`].
    NoBufs,
    /// An error the DMA side (an exporter, the DMA API) returned, passed on
    /// as the DMA side gave it: opaque to the core.
    Dma(i32),
}

impl Errno {
    /// `EIO`.
    pub(crate) const EIO: Errno = Errno::Io;
    /// `EAGAIN`.
    pub(crate) const EAGAIN: Errno = Errno::Again;
    /// `ENOMEM`.
    pub(crate) const ENOMEM: Errno = Errno::NoMem;
    /// `EBUSY`.
    pub(crate) const EBUSY: Errno = Errno::Busy;
    /// `EINVAL`.
    pub(crate) const EINVAL: Errno = Errno::Inval;
    /// `ENOBUFS`.
    pub(crate) const ENOBUFS: Errno = Errno::NoBufs;
}

/// Why a queue operation failed: the errno for userspace and a reason for
/// the kernel log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Error {
    /// What the ioctl returns.
    pub(crate) errno: Errno,
    /// Why, in words, for a rate-limited debug message.
    pub(crate) why: &'static str,
}

impl Error {
    /// An error with `errno` and reason `why`.
    pub(crate) const fn new(errno: Errno, why: &'static str) -> Self {
        Self { errno, why }
    }

    const fn inval(why: &'static str) -> Self {
        Self::new(Errno::EINVAL, why)
    }

    /// QBUF of a dma-buf smaller than the buffers of the format.
    pub(crate) const DMABUF_TOO_SMALL: Error =
        Error::inval("dma-buf is smaller than the format needs");
}

/// Result of a queue operation.
pub(crate) type QResult<T = ()> = core::result::Result<T, Error>;

/// How buffer memory is provided (`V4L2_MEMORY_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Memory {
    /// Allocated by the driver, mapped into userspace with mmap().
    Mmap,
    /// Imported dma-bufs, passed by file descriptor at QBUF.
    DmaBuf,
}

/// Which way bytes travel in a mapping or a sync (`enum
/// dma_data_direction`): what dma-direct, swiotlb, iommu-dma and the
/// architectures' cache maintenance act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From memory to the device (`DMA_TO_DEVICE`): for the device, the
    /// CPU's bytes reach it (swiotlb copies them into the bounce slot,
    /// non-coherent hardware cleans the CPU's caches); for the CPU, nothing.
    ToDevice,
    /// From the device to memory (`DMA_FROM_DEVICE`): for the device, no
    /// dirty CPU line may later land over what it writes (caches cleaned or
    /// invalidated, swiotlb copies nothing); for the CPU, the device's bytes
    /// reach it (swiotlb copies them out, caches are invalidated).
    FromDevice,
    /// Both (`DMA_BIDIRECTIONAL`).
    Bidirectional,
}

/// How every buffer is mapped: the device writes frames, and userspace may
/// write a buffer it owns, which the DMA API allows only in a bidirectional
/// mapping ("If the driver needs to write to it at any point, it should be
/// DMA_BIDIRECTIONAL", `dma-api.rst`).
pub(crate) const MAP_DIRECTION: Direction = Direction::Bidirectional;

/// QBUF's sync for the device and DQBUF's sync for the CPU: frames travel
/// from the device to memory. At QBUF the application gives the whole
/// buffer to the device; V4L2 leaves it no claim on what it wrote before,
/// so its bytes need not reach the device: what matters is that no dirty
/// line is written back over the frame later, which this direction
/// guarantees on every architecture, and under swiotlb it copies nothing.
pub(crate) const FRAME_DIRECTION: Direction = Direction::FromDevice;

/// The sync before a CPU-owned import's mapping or attachment goes: the
/// CPU's bytes travel to where the exporter's sync for the CPU copies from.
pub(crate) const HAND_OVER_DIRECTION: Direction = Direction::ToDevice;

/// Identifies a file handle, for queue ownership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OwnerId(pub(crate) usize);

/// The DMA side of the queue. Dropping a value releases what it holds:
/// a [`Dma::DmaBuf`] puts its dma-buf reference, an [`Dma::Attachment`]
/// detaches (and puts; the exporter may sync for the CPU then), the last
/// clone of a [`Dma::Mapping`] unmaps (which may sync for the CPU: the
/// exporter decides) and, for MMAP memory, frees the pages (without a CPU
/// sync) unless a [`Dma::Pages`] or a userspace mapping still holds them.
/// Byte ranges are offsets into the mapping.
pub(crate) trait Dma {
    /// A table of `T`s allocated once: the queue's slots.
    type Table<T>: core::ops::DerefMut<Target = [T]>;
    /// A reference to an imported dma-buf, not yet attached.
    type DmaBuf;
    /// A dma-buf attached to the capture device.
    type Attachment;
    /// Memory the device can write: an MMAP buffer (allocated and mapped
    /// together) or a mapped attachment. Cloning shares it.
    type Mapping: Clone;
    /// A hold on the pages of MMAP memory without its mapping for the
    /// device: what an exported dma-buf keeps (see "Exports").
    type Pages;

    /// Allocates a table of `len` entries made by `make`.
    fn new_table<T>(&mut self, len: usize, make: impl FnMut() -> T) -> QResult<Self::Table<T>>;
    /// Allocates `size` bytes of MMAP memory and maps it for the device.
    fn alloc_mapped(&mut self, size: usize, direction: Direction) -> QResult<Self::Mapping>;
    /// Takes a reference to the dma-buf behind `fd`.
    fn get_dmabuf(&mut self, fd: i32) -> QResult<Self::DmaBuf>;
    /// Size of a dma-buf in bytes.
    fn dmabuf_size(&self, buf: &Self::DmaBuf) -> usize;
    /// Whether `a` and `b` are references to the same dma-buf.
    fn same_dmabuf(&self, a: &Self::DmaBuf, b: &Self::DmaBuf) -> bool;
    /// Whether `buf` is the dma-buf `attachment` is attached to.
    fn is_attached(&self, buf: &Self::DmaBuf, attachment: &Self::Attachment) -> bool;
    /// Attaches `buf` to the device, keeping its reference.
    fn attach(&mut self, buf: Self::DmaBuf) -> QResult<Self::Attachment>;
    /// Maps an attachment for the device. Every map of one attachment uses
    /// the same direction: videobuf2's exporters unmap (with a CPU sync) and
    /// map again for another one, and the dma-buf core refuses another one
    /// for a mapping it caches.
    fn map(
        &mut self,
        attachment: &Self::Attachment,
        direction: Direction,
    ) -> QResult<Self::Mapping>;
    /// Maps `attachment` only to sync all of it for the device in
    /// `direction`, then unmaps it: the hand-over of a CPU-owned import
    /// whose mapping STREAMOFF dropped, before its detach. It cannot fail
    /// the release it is part of: a failure is the implementation's to
    /// report (the exporter's CPU sync at detach, if it has one, may then
    /// change the buffer).
    fn sync_attachment_for_device(&mut self, attachment: &Self::Attachment, direction: Direction);
    /// Hands `bytes` of the mapping to the device.
    fn sync_for_device(
        &mut self,
        mapping: &Self::Mapping,
        bytes: Range<usize>,
        direction: Direction,
    );
    /// Hands `bytes` of the mapping back to the CPU.
    fn sync_for_cpu(&mut self, mapping: &Self::Mapping, bytes: Range<usize>, direction: Direction);
    /// After [`Dma::sync_for_cpu`] of a plane the device wrote (DQBUF, or a
    /// buffer the engine had finished at STREAMOFF): other
    /// views of the same memory may take the frame (the importers of an
    /// exported MMAP buffer; the exporter's other importers, for an
    /// import). Not called for buffers the device never wrote: handing
    /// unchanged bytes to the other views could undo what another device
    /// wrote there. Nothing by default.
    fn frame_written(&mut self, _mapping: &Self::Mapping) {}
    /// Whether other devices see the mapping's memory through views of
    /// their own (an exported MMAP buffer's importers): a hint that the CPU
    /// will not read a frame then saves no sync, since the frame must still
    /// reach the pages and those views. `false` by default.
    fn has_other_views(&self, _mapping: &Self::Mapping) -> bool {
        false
    }
    /// Whether a sync for this device can change memory at all: `false` for
    /// a coherent device whose DMA nothing bounces (`dma_dev_need_sync`).
    fn needs_sync(&self) -> bool;
    /// Size of a mapping in bytes.
    fn mapping_size(&self, mapping: &Self::Mapping) -> usize;
    /// Whether userspace has the (MMAP) memory mapped.
    fn is_mapped_to_user(&self, mapping: &Self::Mapping) -> bool;
    /// A hold on the pages of MMAP memory `mapping`, which keeps them
    /// alive, not the mapping; `None` for an import (not ours to give).
    fn hold_pages(&self, mapping: &Self::Mapping) -> Option<Self::Pages>;
}

/// How imports are mapped and how much DQBUF syncs. The default is the
/// design: map once, sync the bytes the frame occupies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Map an imported dma-buf at every QBUF and unmap it at DQBUF.
    pub(crate) map_per_qbuf: bool,
    /// DQBUF syncs the whole buffer for the CPU, not just the frame.
    pub(crate) full_sync: bool,
}

/// Where a buffer is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Owned by the CPU: after allocation, DQBUF or STREAMOFF.
    Dequeued,
    /// Synced for the device by PREPARE_BUF, not queued yet.
    Prepared,
    /// Queued, not handed to the device yet (not streaming).
    Queued,
    /// Handed to the device: in its queue, or being filled.
    Active,
    /// Filled, waiting for DQBUF.
    Done,
}

impl State {
    /// Whether the CPU owns a buffer in this state (else the device does).
    pub(crate) fn is_cpu_owned(self) -> bool {
        self == State::Dequeued
    }
}

/// One plane of a QBUF or PREPARE_BUF request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PlaneRequest {
    /// DMABUF: the dma-buf's file descriptor.
    pub(crate) fd: i32,
    /// DMABUF: bytes of the dma-buf to use; 0 means all of it.
    pub(crate) length: usize,
}

impl PlaneRequest {
    /// A plane of no dma-buf (MMAP, or the planes a buffer does not have).
    pub(crate) const NONE: PlaneRequest = PlaneRequest { fd: -1, length: 0 };
}

/// The cache hints of a QBUF or PREPARE_BUF (`V4L2_BUF_FLAG_NO_CACHE_*`),
/// which only a non-coherent MMAP queue takes: the syncs the application
/// says it does not need. They hold until the buffer is queued again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheHints {
    /// `NO_CACHE_CLEAN`: the CPU wrote nothing the device must not find
    /// later, so QBUF need not sync for the device.
    pub(crate) skip_for_device: bool,
    /// `NO_CACHE_INVALIDATE`: the CPU will not read the frame, so DQBUF
    /// (and STREAMOFF) need not sync for the CPU.
    pub(crate) skip_for_cpu: bool,
}

impl CacheHints {
    /// The syncs these kept hints skip: all of them on a non-coherent
    /// queue, none on a coherent one.
    fn skipped_on(self, non_coherent: bool) -> CacheHints {
        if non_coherent {
            self
        } else {
            CacheHints::default()
        }
    }
}

/// A QBUF or PREPARE_BUF request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueRequest {
    /// Buffer index.
    pub(crate) index: usize,
    /// Memory type the application says the queue has.
    pub(crate) memory: Memory,
    /// DMABUF: the dma-buf of each plane; the buffer's number of planes
    /// are used.
    pub(crate) planes: [PlaneRequest; MAX_PLANES],
    /// How many planes the application's request can describe (its planes
    /// array): a buffer with more is refused with `EINVAL`, as videobuf2.
    pub(crate) room: usize,
    /// The cache hints asked for.
    pub(crate) hints: CacheHints,
}

impl QueueRequest {
    /// A request for a buffer of one plane (`fd` and `length` unused for
    /// MMAP), without hints.
    #[cfg(test)]
    pub(crate) fn single(index: usize, memory: Memory, fd: i32, length: usize) -> Self {
        let mut planes = [PlaneRequest::NONE; MAX_PLANES];
        planes[0] = PlaneRequest { fd, length };
        Self {
            index,
            memory,
            planes,
            room: MAX_PLANES,
            hints: CacheHints::default(),
        }
    }
}

/// What REQBUFS and CREATE_BUFS ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BufferRequest {
    /// Memory type.
    pub(crate) memory: Memory,
    /// How many buffers.
    pub(crate) count: usize,
    /// Planes per buffer, 1 to [`MAX_PLANES`].
    pub(crate) num_planes: usize,
    /// Bytes each plane holds at least (the first `num_planes`).
    pub(crate) plane_sizes: [usize; MAX_PLANES],
    /// `V4L2_MEMORY_FLAG_NON_COHERENT`: the queue takes cache hints (MMAP
    /// only; ignored for DMABUF).
    pub(crate) non_coherent: bool,
}

impl BufferRequest {
    /// `count` buffers of `memory` with one plane of `size` bytes, coherent.
    #[cfg(test)]
    pub(crate) fn single(memory: Memory, count: usize, size: usize) -> Self {
        let mut plane_sizes = [0; MAX_PLANES];
        plane_sizes[0] = size;
        Self {
            memory,
            count,
            num_planes: 1,
            plane_sizes,
            non_coherent: false,
        }
    }
}

/// What REQBUFS and CREATE_BUFS did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Allocated {
    /// The index of the first new buffer (CREATE_BUFS; 0 for REQBUFS). For
    /// CREATE_BUFS of no buffer, the number of buffers, as videobuf2.
    pub(crate) first: usize,
    /// How many buffers were made.
    pub(crate) count: usize,
    /// Whether the queue takes cache hints
    /// (`V4L2_MEMORY_FLAG_NON_COHERENT` in the reply).
    pub(crate) non_coherent: bool,
}

/// What DQBUF syncs for the CPU of a plane ([`Queue::cpu_syncs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CpuSync {
    /// No plane.
    None,
    /// Nothing: a hint says the CPU will not read the frame, unless other
    /// devices see the memory ([`Dma::has_other_views`]): then the frame.
    Hinted,
    /// The bytes the frame occupies.
    Frame,
    /// The first `usize` bytes: the plane's `length` ([`Policy::full_sync`]).
    Whole(usize),
}

/// What the engine reports for a finished frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameDone {
    /// Bytes written into each plane, from its start.
    pub(crate) bytesused: [usize; MAX_PLANES],
    /// The frame's sequence number.
    pub(crate) sequence: u32,
    /// Monotonic time the frame ended, in nanoseconds.
    pub(crate) timestamp_ns: u64,
    /// Whether the frame is corrupt (`V4L2_BUF_FLAG_ERROR`).
    pub(crate) error: bool,
    /// Which planes the device side already synced for the CPU, as DQBUF
    /// would ([`Queue::cpu_syncs`]), and handed on to the other views
    /// ([`Dma::frame_written`]), because others could read the frame
    /// before DQBUF (a write fence signalled): DQBUF and STREAMOFF then do
    /// neither again for them.
    pub(crate) synced_for_cpu: [bool; MAX_PLANES],
}

/// What QUERYBUF, QBUF and DQBUF report about one plane of a buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PlaneInfo {
    /// Plane length in bytes.
    pub(crate) length: usize,
    /// Bytes of frame data.
    pub(crate) bytesused: usize,
    /// DMABUF: the file descriptor of the last QBUF/PREPARE_BUF.
    pub(crate) fd: i32,
    /// MMAP: whether userspace has it mapped.
    pub(crate) mapped_to_user: bool,
    /// DMABUF: whether a dma-buf is attached.
    pub(crate) attached: bool,
    /// DMABUF: size of the attached dma-buf (0 if none).
    pub(crate) dmabuf_size: usize,
    /// Whether it is mapped for the device.
    pub(crate) mapped_for_device: bool,
}

/// What QUERYBUF, QBUF and DQBUF report about a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BufferInfo {
    /// Buffer index.
    pub(crate) index: usize,
    /// Memory type.
    pub(crate) memory: Memory,
    /// Life-cycle state.
    pub(crate) state: State,
    /// Number of planes.
    pub(crate) num_planes: usize,
    /// The planes (the first `num_planes`; the rest are default).
    pub(crate) planes: [PlaneInfo; MAX_PLANES],
    /// Whether the frame is marked corrupt.
    pub(crate) error: bool,
    /// Sequence number of the frame it holds.
    pub(crate) sequence: u32,
    /// Monotonic timestamp of the frame it holds, in nanoseconds.
    pub(crate) timestamp_ns: u64,
    /// How many times it was queued.
    pub(crate) times_queued: u64,
    /// The cache hints in effect since its last QBUF or PREPARE_BUF.
    pub(crate) hints: CacheHints,
}

impl BufferInfo {
    /// The planes the buffer has.
    pub(crate) fn planes(&self) -> &[PlaneInfo] {
        &self.planes[..self.num_planes]
    }
}

/// Syncs the cache hints let the queue skip, per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HintSkips {
    /// Plane syncs for the device not made at QBUF or PREPARE_BUF.
    pub(crate) for_device: u64,
    /// Plane syncs for the CPU not made at DQBUF or STREAMOFF.
    pub(crate) for_cpu: u64,
}

/// One plane of a buffer: its memory and what it holds.
struct Plane<D: Dma> {
    // Field order is drop order: a mapping goes before its attachment.
    mapping: Option<D::Mapping>,
    attachment: Option<D::Attachment>,
    dmabuf_size: usize,
    /// Bytes the plane must hold at least (the format's at allocation).
    min_length: usize,
    length: usize,
    fd: i32,
    bytesused: usize,
}

impl<D: Dma> Plane<D> {
    fn new(min_length: usize) -> Self {
        Self {
            mapping: None,
            attachment: None,
            dmabuf_size: 0,
            min_length,
            length: min_length,
            fd: -1,
            bytesused: 0,
        }
    }

    fn info(&self, dma: &D) -> PlaneInfo {
        PlaneInfo {
            length: self.length,
            bytesused: self.bytesused,
            fd: self.fd,
            mapped_to_user: self
                .mapping
                .as_ref()
                .is_some_and(|m| dma.is_mapped_to_user(m)),
            attached: self.attachment.is_some(),
            dmabuf_size: if self.attachment.is_some() {
                self.dmabuf_size
            } else {
                0
            },
            mapped_for_device: self.mapping.is_some(),
        }
    }

    /// Hands the plane, which the device held, back to the CPU: a sync for
    /// the CPU of the first `frame` bytes (`None`: all the device may have
    /// written), and if the device `wrote` them, on to the other views of
    /// its memory ([`Dma::frame_written`]); an empty frame (a failed
    /// render) changed nothing. A `skip` hint (the CPU will not read)
    /// saves the sync, unless other devices see the memory
    /// ([`Dma::has_other_views`]). Returns whether it skipped.
    fn hand_to_cpu(&self, dma: &mut D, frame: Option<usize>, skip: bool, wrote: bool) -> bool {
        let Some(mapping) = &self.mapping else {
            return false;
        };
        if skip && !dma.has_other_views(mapping) {
            return true;
        }
        let bytes = frame.map_or_else(|| self.device_bytes(dma, mapping), |end| 0..end);
        let wrote = wrote && !bytes.is_empty();
        dma.sync_for_cpu(mapping, bytes, FRAME_DIRECTION);
        if wrote {
            dma.frame_written(mapping);
        }
        false
    }

    /// The bytes the device may write: at most `length`; the rest of a
    /// dma-buf stays the CPU's.
    fn device_bytes(&self, dma: &D, mapping: &D::Mapping) -> Range<usize> {
        0..self.length.min(dma.mapping_size(mapping))
    }

    /// The bytes of an import the CPU may have written and the device has
    /// not been given: all of it when the CPU owns the buffer, else what
    /// lies past `length` (the application's, never the device's: the rest
    /// of a dma-buf may hold other data).
    fn cpu_bytes(&self, cpu_owned: bool, size: usize) -> Range<usize> {
        if cpu_owned {
            0..size
        } else {
            self.length.min(size)..size
        }
    }

    /// Drops the plane's mapping, if any. The one place a mapping goes: an
    /// import's bytes that are the CPU's ([`Plane::cpu_bytes`]) are handed
    /// to the device side first, so that whatever the exporter syncs for
    /// the CPU, now or at detach, copies back the CPU's own bytes. (MMAP
    /// memory is ours and unmapped without a CPU sync.)
    fn drop_mapping(&mut self, dma: &mut D, cpu_owned: bool) {
        if let Some(mapping) = self.mapping.take() {
            if self.attachment.is_some() {
                let bytes = self.cpu_bytes(cpu_owned, dma.mapping_size(&mapping));
                if !bytes.is_empty() {
                    dma.sync_for_device(&mapping, bytes, HAND_OVER_DIRECTION);
                }
            }
        }
    }

    /// Drops the mapping, then the attachment (and its dma-buf reference):
    /// the plane holds no memory afterwards. A CPU-owned import whose
    /// mapping already went (STREAMOFF) is handed over through a mapping
    /// made only for that ([`Dma::sync_attachment_for_device`]): an
    /// exporter that keeps its mapping until detach syncs for the CPU there
    /// (videobuf2-vmalloc), over whatever the CPU wrote since the unmap.
    fn release_memory(&mut self, dma: &mut D, cpu_owned: bool) {
        if cpu_owned && self.mapping.is_none() && dma.needs_sync() {
            if let Some(attachment) = &self.attachment {
                dma.sync_attachment_for_device(attachment, HAND_OVER_DIRECTION);
            }
        }
        self.drop_mapping(dma, cpu_owned);
        self.attachment = None;
        self.dmabuf_size = 0;
    }
}

/// A buffer: its planes and where it is in its life cycle.
pub(crate) struct Slot<D: Dma> {
    state: State,
    planes: [Plane<D>; MAX_PLANES],
    num_planes: usize,
    error: bool,
    /// See [`FrameDone::synced_for_cpu`].
    synced_for_cpu: [bool; MAX_PLANES],
    sequence: u32,
    timestamp_ns: u64,
    times_queued: u64,
    hints: CacheHints,
}

impl<D: Dma> Slot<D> {
    fn new(request: &BufferRequest) -> Self {
        Self {
            state: State::Dequeued,
            planes: core::array::from_fn(|p| Plane::new(request.plane_sizes[p])),
            num_planes: request.num_planes,
            error: false,
            synced_for_cpu: [false; MAX_PLANES],
            sequence: 0,
            timestamp_ns: 0,
            times_queued: 0,
            hints: CacheHints::default(),
        }
    }

    fn planes(&self) -> &[Plane<D>] {
        &self.planes[..self.num_planes]
    }

    fn planes_mut(&mut self) -> &mut [Plane<D>] {
        &mut self.planes[..self.num_planes]
    }

    /// Gives a buffer the device held back to the CPU: a sync for the CPU
    /// of all the device may have written (not every exporter's unmap
    /// syncs, and none of videobuf2's does), unless a hint on a
    /// `non_coherent` queue says the CPU will not read it. Returns the
    /// plane syncs that hint skipped.
    fn give_back(&mut self, dma: &mut D, non_coherent: bool) -> u64 {
        let mut skipped = 0;
        if !self.state.is_cpu_owned() {
            let skip = self.hints.skipped_on(non_coherent).skip_for_cpu;
            // A frame the engine finished; one it had only started (the
            // engine finishes or drops it before STREAMOFF returns, so
            // none is left but where a test stops it) may hold nothing.
            let written = self.state == State::Done;
            for (plane, &synced) in self.planes().iter().zip(&self.synced_for_cpu) {
                if written && synced {
                    // Synced and handed on when the frame ended (and the
                    // device wrote nothing after it).
                    continue;
                }
                skipped += u64::from(plane.hand_to_cpu(dma, None, skip, written));
            }
        }
        self.state = State::Dequeued;
        skipped
    }

    /// Drops every plane's mapping (see [`Plane::drop_mapping`]).
    fn drop_mappings(&mut self, dma: &mut D) {
        let cpu_owned = self.state.is_cpu_owned();
        for plane in self.planes_mut() {
            plane.drop_mapping(dma, cpu_owned);
        }
    }

    /// Releases every plane's memory (see [`Plane::release_memory`]).
    fn release_memory(&mut self, dma: &mut D) {
        let cpu_owned = self.state.is_cpu_owned();
        for plane in self.planes_mut() {
            plane.release_memory(dma, cpu_owned);
        }
    }
}

/// What a plane's memory is: a mapping and (imports) an attachment, in
/// drop order.
type PlaneMemory<D> = (Option<<D as Dma>::Mapping>, Option<<D as Dma>::Attachment>);

/// The slot table: [`MAX_BUFFERS`] entries, `None` where no buffer is.
type Slots<D> = <D as Dma>::Table<Option<Slot<D>>>;

/// Where an import of a QBUF finds its dma-buf already attached: which
/// slot, which plane.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Holder {
    index: usize,
    plane: usize,
}

/// One plane of an import being prepared (see [`Queue::import`]).
struct Import<D: Dma> {
    /// Where the attachment is taken from, if it exists already.
    holder: Option<Holder>,
    // Field order is drop order: a mapping goes before its attachment.
    /// A new mapping: of the new attachment, or of the holder's attachment
    /// if it had none.
    mapping: Option<D::Mapping>,
    /// A new attachment, if none existed.
    attachment: Option<D::Attachment>,
    size: usize,
    length: usize,
    fd: i32,
}

/// The buffer queue of one capture device.
pub(crate) struct Queue<D: Dma> {
    /// Allocated by the first REQBUFS or CREATE_BUFS that makes buffers.
    slots: Option<Slots<D>>,
    /// How many buffers exist.
    count: usize,
    memory: Option<Memory>,
    /// Whether the buffers were asked for with
    /// `V4L2_MEMORY_FLAG_NON_COHERENT` (MMAP only).
    non_coherent: bool,
    owner: Option<OwnerId>,
    /// See [`Queue::is_busy`].
    busy: bool,
    streaming: bool,
    queued: IndexFifo,
    done: IndexFifo,
    policy: Policy,
    skips: HintSkips,
}

impl<D: Dma> Default for Queue<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Dma> Queue<D> {
    /// An empty queue: no buffers, no owner, not streaming.
    pub(crate) fn new() -> Self {
        Self {
            slots: None,
            count: 0,
            memory: None,
            non_coherent: false,
            owner: None,
            busy: false,
            streaming: false,
            queued: IndexFifo::new(),
            done: IndexFifo::new(),
            policy: Policy::default(),
            skips: HintSkips::default(),
        }
    }

    /// Sets the mapping and sync policy for the QBUFs and DQBUFs to come.
    pub(crate) fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Number of buffers.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The indices buffers may have: `0..MAX_BUFFERS` once the queue has
    /// had buffers, else none.
    pub(crate) fn indices(&self) -> Range<usize> {
        0..self.slots.as_ref().map_or(0, |slots| slots.len())
    }

    /// Memory type of the buffers, if any were requested.
    pub(crate) fn memory(&self) -> Option<Memory> {
        self.memory
    }

    /// Whether the queue's buffers were asked for non-coherent
    /// (`V4L2_MEMORY_FLAG_NON_COHERENT`, MMAP only).
    pub(crate) fn is_non_coherent(&self) -> bool {
        self.non_coherent && self.memory == Some(Memory::Mmap)
    }

    /// The cache hints a QBUF or PREPARE_BUF of `hints` keeps, as
    /// videobuf2: all of them on an MMAP queue, none on a DMABUF one. They
    /// skip syncs only on a non-coherent queue ([`Queue::skips`]): a
    /// coherent queue's memory must stay coherent whatever the hints, as
    /// it would if it were uncached.
    fn kept_hints(&self, hints: CacheHints) -> CacheHints {
        if self.memory == Some(Memory::Mmap) {
            hints
        } else {
            CacheHints::default()
        }
    }

    /// The syncs a buffer's kept `hints` skip on this queue.
    fn skips(&self, hints: CacheHints) -> CacheHints {
        hints.skipped_on(self.is_non_coherent())
    }

    /// The syncs the cache hints skipped so far.
    pub(crate) fn hint_skips(&self) -> HintSkips {
        self.skips
    }

    /// Whether STREAMON is in effect.
    pub(crate) fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Whether buffers were allocated since the last REQBUFS(0) or close,
    /// so that the format cannot change (S_FMT: `EBUSY`). As videobuf2's
    /// `vb2_is_busy`, REMOVE_BUFS of every buffer does not end it: a
    /// stream keeps the format its engine started with.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy
    }

    /// The file handle that owns the queue, if any.
    pub(crate) fn owner(&self) -> Option<OwnerId> {
        self.owner
    }

    /// Whether a DQBUF would find a buffer (for poll).
    pub(crate) fn has_done(&self) -> bool {
        !self.done.is_empty()
    }

    /// Number of buffers waiting for the engine.
    pub(crate) fn queued_count(&self) -> usize {
        self.queued.len()
    }

    fn check_owner(&self, who: OwnerId) -> QResult {
        match self.owner {
            Some(owner) if owner != who => Err(Error::new(
                Errno::EBUSY,
                "the queue belongs to another file handle",
            )),
            _ => Ok(()),
        }
    }

    fn check_memory(&self, memory: Memory) -> QResult {
        if self.memory == Some(memory) {
            Ok(())
        } else {
            Err(Error::inval(
                "memory type differs from the allocated buffers",
            ))
        }
    }

    fn all_slots(&self) -> &[Option<Slot<D>>] {
        self.slots.as_deref().unwrap_or(&[])
    }

    fn all_slots_mut(&mut self) -> &mut [Option<Slot<D>>] {
        self.slots.as_deref_mut().unwrap_or(&mut [])
    }

    fn slot(&self, index: usize) -> QResult<&Slot<D>> {
        self.all_slots()
            .get(index)
            .and_then(Option::as_ref)
            .ok_or(Error::inval("no buffer at that index"))
    }

    fn slot_mut(&mut self, index: usize) -> QResult<&mut Slot<D>> {
        self.all_slots_mut()
            .get_mut(index)
            .and_then(Option::as_mut)
            .ok_or(Error::inval("no buffer at that index"))
    }

    /// Checks what REQBUFS and CREATE_BUFS ask for, whatever the queue
    /// holds.
    fn check_request(request: &BufferRequest) -> QResult {
        if !(1..=MAX_PLANES).contains(&request.num_planes) {
            return Err(Error::inval("a buffer has 1 to 3 planes"));
        }
        if request.plane_sizes[..request.num_planes].contains(&0) {
            return Err(Error::inval("a plane of no bytes"));
        }
        Ok(())
    }

    /// VIDIOC_REQBUFS: frees every buffer, then allocates up to `count`
    /// (at most [`MAX_BUFFERS`]). `count == 0` gives up ownership.
    pub(crate) fn reqbufs(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        request: &BufferRequest,
    ) -> QResult<Allocated> {
        self.check_owner(who)?;
        if self.streaming {
            return Err(Error::new(Errno::EBUSY, "REQBUFS while streaming"));
        }
        self.free_all(dma);
        if request.count == 0 {
            return Ok(Allocated {
                first: 0,
                count: 0,
                non_coherent: false,
            });
        }
        Self::check_request(request)?;
        self.set_memory(request);
        let count = self.add_slots(dma, request)?;
        self.owner = Some(who);
        Ok(Allocated {
            first: 0,
            count,
            non_coherent: self.is_non_coherent(),
        })
    }

    /// The memory type and coherency of a queue that had no buffers.
    fn set_memory(&mut self, request: &BufferRequest) {
        self.memory = Some(request.memory);
        self.non_coherent = request.non_coherent && request.memory == Memory::Mmap;
    }

    /// VIDIOC_CREATE_BUFS: adds up to `count` buffers, at the first free
    /// run of indices that holds them (fewer if none does). `count == 0`
    /// changes nothing.
    pub(crate) fn create_bufs(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        request: &BufferRequest,
    ) -> QResult<Allocated> {
        self.check_owner(who)?;
        if request.count == 0 {
            return Ok(Allocated {
                first: self.count,
                count: 0,
                non_coherent: self.is_non_coherent(),
            });
        }
        Self::check_request(request)?;
        if self.count > 0 {
            self.check_memory(request.memory)?;
            let non_coherent = request.non_coherent && request.memory == Memory::Mmap;
            if non_coherent != self.non_coherent {
                return Err(Error::inval("coherency differs from the allocated buffers"));
            }
            if self
                .all_slots()
                .iter()
                .flatten()
                .any(|slot| slot.num_planes != request.num_planes)
            {
                return Err(Error::inval(
                    "number of planes differs from the allocated buffers",
                ));
            }
        }
        if self.count == MAX_BUFFERS {
            return Err(Error::new(
                Errno::ENOBUFS,
                "the queue has the most buffers it can hold",
            ));
        }
        if self.count == 0 {
            self.set_memory(request);
        }
        let first = self.free_run(request.count.min(MAX_BUFFERS - self.count)).0;
        let count = self.add_slots(dma, request)?;
        self.owner = Some(who);
        Ok(Allocated {
            first,
            count,
            non_coherent: self.is_non_coherent(),
        })
    }

    /// The first run of free indices for up to `want` buffers: its start
    /// and length (the longest run shorter than `want` if none is that
    /// long, as videobuf2 shrinks its request).
    fn free_run(&self, want: usize) -> (usize, usize) {
        let taken = |index: usize| self.all_slots().get(index).is_some_and(Option::is_some);
        let mut best = (0, 0);
        let mut start = 0;
        while start < MAX_BUFFERS {
            if taken(start) {
                start += 1;
                continue;
            }
            let mut end = start;
            while end < MAX_BUFFERS && end - start < want && !taken(end) {
                end += 1;
            }
            if end - start == want {
                return (start, want);
            }
            if end - start > best.1 {
                best = (start, end - start);
            }
            start = end.max(start + 1);
        }
        best
    }

    /// Adds up to `request.count` slots at the first free run of indices;
    /// MMAP ones get memory. Returns how many were added: fewer than asked
    /// if the run is shorter or MMAP memory ran out after the first.
    fn add_slots(&mut self, dma: &mut D, request: &BufferRequest) -> QResult<usize> {
        if self.slots.is_none() {
            match dma.new_table(MAX_BUFFERS, || None) {
                Ok(table) => self.slots = Some(table),
                Err(e) => {
                    self.forget_memory_if_empty();
                    return Err(e);
                }
            }
        }
        let (first, want) = self.free_run(request.count.min(MAX_BUFFERS - self.count));
        let mut added = 0;
        'slots: while added < want {
            let mut slot = Slot::new(request);
            if self.memory == Some(Memory::Mmap) {
                for plane in slot.planes_mut() {
                    match dma.alloc_mapped(plane.min_length, MAP_DIRECTION) {
                        Ok(mapping) => plane.mapping = Some(mapping),
                        // Dropping `slot` frees the planes allocated so far.
                        Err(e) if added == 0 => {
                            self.forget_memory_if_empty();
                            return Err(e);
                        }
                        Err(_) => break 'slots,
                    }
                }
            }
            if let Some(entry) = self.all_slots_mut().get_mut(first + added) {
                *entry = Some(slot);
            }
            added += 1;
        }
        self.count += added;
        self.busy = true;
        Ok(added)
    }

    /// VIDIOC_REMOVE_BUFS: frees buffers `index..index + count`, each of
    /// which must exist (else `EINVAL`) and not be queued (else `EBUSY`):
    /// nothing is freed unless all can be. Ownership stays; with no buffer
    /// left, the memory type is free to change. As videobuf2, `count == 0`
    /// succeeds for anyone.
    pub(crate) fn remove_bufs(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        index: usize,
        count: usize,
    ) -> QResult {
        if count == 0 {
            return Ok(());
        }
        self.check_owner(who)?;
        if count > self.count || index > MAX_BUFFERS - count {
            return Err(Error::inval("range of buffers out of range"));
        }
        for i in index..index + count {
            // As videobuf2: a prepared buffer is not queued yet.
            if !matches!(self.slot(i)?.state, State::Dequeued | State::Prepared) {
                return Err(Error::new(Errno::EBUSY, "a buffer in the range is queued"));
            }
        }
        let non_coherent = self.is_non_coherent();
        for i in index..index + count {
            if let Some(mut slot) = self.all_slots_mut().get_mut(i).and_then(Option::take) {
                // A prepared buffer comes back to the CPU first, as at
                // REQBUFS(0).
                self.skips.for_cpu += slot.give_back(dma, non_coherent);
                slot.release_memory(dma);
                self.count -= 1;
            }
        }
        self.forget_memory_if_empty();
        Ok(())
    }

    /// With no buffer left, the memory type and coherency are free to
    /// change (as videobuf2 sets `VB2_MEMORY_UNKNOWN`).
    fn forget_memory_if_empty(&mut self) {
        if self.count == 0 {
            self.memory = None;
            self.non_coherent = false;
        }
    }

    /// `EINVAL` unless buffer `index` exists and has at most `room` planes
    /// (what the application's planes array holds).
    fn check_room(&self, index: usize, room: usize) -> QResult {
        if self.slot(index)?.num_planes > room {
            return Err(Error::inval(
                "the planes array is shorter than the buffer's planes",
            ));
        }
        Ok(())
    }

    /// VIDIOC_QUERYBUF into a planes array of `room` entries.
    pub(crate) fn query_into(&self, dma: &D, index: usize, room: usize) -> QResult<BufferInfo> {
        self.check_room(index, room)?;
        self.query(dma, index)
    }

    /// What QUERYBUF reports of buffer `index`.
    pub(crate) fn query(&self, dma: &D, index: usize) -> QResult<BufferInfo> {
        let slot = self.slot(index)?;
        let mut planes = [PlaneInfo::default(); MAX_PLANES];
        for (info, plane) in planes.iter_mut().zip(slot.planes()) {
            *info = plane.info(dma);
        }
        Ok(BufferInfo {
            index,
            memory: self.memory.unwrap_or(Memory::Mmap),
            state: slot.state,
            num_planes: slot.num_planes,
            planes,
            error: slot.error,
            sequence: slot.sequence,
            timestamp_ns: slot.timestamp_ns,
            times_queued: slot.times_queued,
            hints: slot.hints,
        })
    }

    /// VIDIOC_PREPARE_BUF: imports and maps (DMABUF) and syncs for the
    /// device, without queueing.
    pub(crate) fn prepare(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        req: &QueueRequest,
    ) -> QResult<BufferInfo> {
        self.check_owner(who)?;
        self.check_memory(req.memory)?;
        if !self.slot(req.index)?.state.is_cpu_owned() {
            return Err(Error::inval("buffer already prepared or queued"));
        }
        self.prepare_slot(dma, req)?;
        self.slot_mut(req.index)?.state = State::Prepared;
        self.query(dma, req.index)
    }

    /// VIDIOC_QBUF: as PREPARE_BUF unless already prepared, then hands the
    /// buffer to the engine.
    pub(crate) fn qbuf(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        req: &QueueRequest,
    ) -> QResult<BufferInfo> {
        self.check_owner(who)?;
        self.check_memory(req.memory)?;
        self.check_room(req.index, req.room)?;
        match self.slot(req.index)?.state {
            State::Dequeued => self.prepare_slot(dma, req)?,
            State::Prepared => {
                // As videobuf2, QBUF's hints are the buffer's from now on
                // (PREPARE_BUF's sync for the device is made or skipped).
                let hints = self.kept_hints(req.hints);
                self.slot_mut(req.index)?.hints = hints;
            }
            _ => return Err(Error::inval("buffer already queued")),
        }
        let slot = self.slot_mut(req.index)?;
        slot.state = State::Queued;
        slot.times_queued += 1;
        // Cannot fail: a slot is in the FIFO at most once and it holds them all.
        self.queued.push(req.index);
        self.query(dma, req.index)
    }

    /// Makes a CPU-owned slot ready for the device: for DMABUF, attach the
    /// requested dma-bufs (reusing the attachments the queue has) and map
    /// them if unmapped; then sync every plane for the device, unless the
    /// hints say not to. A refusal changes nothing: every check and every
    /// step that can fail comes before the slot (or another slot) is
    /// touched.
    fn prepare_slot(&mut self, dma: &mut D, req: &QueueRequest) -> QResult {
        self.check_room(req.index, req.room)?;
        if self.memory == Some(Memory::DmaBuf) {
            self.import(dma, req)?;
        }
        let hints = self.kept_hints(req.hints);
        let skip = self.skips(hints).skip_for_device;
        let mut skipped = 0;
        let slot = self.slot_mut(req.index)?;
        if slot.planes().iter().any(|plane| plane.mapping.is_none()) {
            return Err(Error::new(Errno::EIO, "buffer has no memory"));
        }
        for plane in slot.planes_mut() {
            if let Some(mapping) = &plane.mapping {
                if skip {
                    skipped += 1;
                } else {
                    let bytes = plane.device_bytes(dma, mapping);
                    dma.sync_for_device(mapping, bytes, FRAME_DIRECTION);
                }
            }
            plane.bytesused = 0;
        }
        slot.error = false;
        slot.synced_for_cpu = [false; MAX_PLANES];
        slot.hints = hints;
        self.skips.for_device += skipped;
        Ok(())
    }

    /// Where the dma-buf `buf` is attached in the queue, if it is: a
    /// device-owned slot other than `index` keeps it (`EINVAL`).
    fn holder_of(&self, dma: &D, buf: &D::DmaBuf, index: usize) -> QResult<Option<Holder>> {
        for (i, slot) in self.all_slots().iter().enumerate() {
            let Some(slot) = slot else {
                continue;
            };
            for (p, plane) in slot.planes().iter().enumerate() {
                let attached = plane
                    .attachment
                    .as_ref()
                    .is_some_and(|attachment| dma.is_attached(buf, attachment));
                if !attached {
                    continue;
                }
                if i != index && !slot.state.is_cpu_owned() {
                    return Err(Error::inval("dma-buf is queued in another buffer"));
                }
                return Ok(Some(Holder { index: i, plane: p }));
            }
        }
        Ok(None)
    }

    /// Checks plane `p` of an import of `buf`, changing nothing: its
    /// length, and where the queue holds `buf` already.
    fn check_import(
        &self,
        dma: &D,
        req: &QueueRequest,
        p: usize,
        buf: &D::DmaBuf,
    ) -> QResult<(usize, usize, Option<Holder>)> {
        let plane_req = req.planes[p];
        let size = dma.dmabuf_size(buf);
        // V4L2's `length` is 32 bits: of a larger dma-buf the plane is the
        // first 4 GiB - 1 bytes, and says so, rather than a truncated size.
        let length = if plane_req.length == 0 {
            size.min(MAX_LENGTH)
        } else {
            plane_req.length
        };
        if length > size {
            return Err(Error::inval("length is larger than the dma-buf"));
        }
        let slot = self.slot(req.index)?;
        if length < slot.planes[p].min_length {
            return Err(Error::DMABUF_TOO_SMALL);
        }
        // One dma-buf, one plane: two mappings of the same memory for the
        // device would overlap. A queued buffer keeps it; a CPU-owned one
        // gives its attachment and mapping to this plane (nothing is
        // unmapped).
        let holder = self.holder_of(dma, buf, req.index)?;
        if let Some(h) = holder {
            let held = &self.slot(h.index)?.planes[h.plane];
            if held.mapping.is_none() && held.attachment.is_none() {
                return Err(Error::new(Errno::EIO, "attachment lost"));
            }
        }
        Ok((size, length, holder))
    }

    /// Takes what plane `p` of an import of `buf` needs that can fail
    /// (checked by [`Queue::check_import`]): a new attachment and mapping,
    /// or a new mapping of the attachment the queue holds already.
    fn prepare_import(
        &self,
        dma: &mut D,
        req: &QueueRequest,
        p: usize,
        buf: D::DmaBuf,
        (size, length, holder): (usize, usize, Option<Holder>),
    ) -> QResult<Import<D>> {
        let plane_req = req.planes[p];
        let (attachment, mapping) = match holder {
            Some(h) => {
                // Map once: the extra reference goes, the attachment stays.
                drop(buf);
                let held = &self.slot(h.index)?.planes[h.plane];
                match (&held.mapping, &held.attachment) {
                    (Some(_), _) => (None, None),
                    (None, Some(attachment)) => (None, Some(dma.map(attachment, MAP_DIRECTION)?)),
                    (None, None) => return Err(Error::new(Errno::EIO, "attachment lost")),
                }
            }
            None => {
                let attachment = dma.attach(buf)?;
                // On failure, dropping `attachment` detaches again.
                let mapping = dma.map(&attachment, MAP_DIRECTION)?;
                (Some(attachment), Some(mapping))
            }
        };
        Ok(Import {
            holder,
            attachment,
            mapping,
            size,
            length,
            fd: plane_req.fd,
        })
    }

    /// The DMABUF half of [`Queue::prepare_slot`]: each plane of slot
    /// `req.index` ends up attached to and mapped for its dma-buf.
    fn import(&mut self, dma: &mut D, req: &QueueRequest) -> QResult {
        let num_planes = self.slot(req.index)?.num_planes;
        let mut bufs: [Option<D::DmaBuf>; MAX_PLANES] = Default::default();
        for p in 0..num_planes {
            let buf = dma
                .get_dmabuf(req.planes[p].fd)
                .map_err(|_| Error::inval("fd is not a dma-buf"))?;
            if bufs[..p]
                .iter()
                .flatten()
                .any(|other| dma.same_dmabuf(other, &buf))
            {
                return Err(Error::inval(
                    "one dma-buf for two planes: both would start at offset 0",
                ));
            }
            bufs[p] = Some(buf);
        }
        // Every check of every plane before anything is attached or mapped.
        let mut checked = [None; MAX_PLANES];
        for (p, buf) in bufs.iter().enumerate() {
            if let Some(buf) = buf {
                checked[p] = Some(self.check_import(dma, req, p, buf)?);
            }
        }
        let mut imports: [Option<Import<D>>; MAX_PLANES] = Default::default();
        for (p, (buf, checked)) in bufs.into_iter().zip(checked).enumerate() {
            if let (Some(buf), Some(checked)) = (buf, checked) {
                imports[p] = Some(self.prepare_import(dma, req, p, buf, checked)?);
            }
        }
        // Nothing below fails. First every plane's memory moves out of its holder...
        let mut moved: [PlaneMemory<D>; MAX_PLANES] = Default::default();
        for (import, moved) in imports.iter_mut().zip(moved.iter_mut()) {
            let Some(import) = import else {
                continue;
            };
            *moved = match import.holder {
                Some(h) => {
                    let held = &mut self.slot_mut(h.index)?.planes[h.plane];
                    held.dmabuf_size = 0;
                    held.fd = -1;
                    held.length = held.min_length;
                    let mapping = held.mapping.take().or(import.mapping.take());
                    (mapping, held.attachment.take())
                }
                None => (import.mapping.take(), import.attachment.take()),
            };
        }
        // ...then what the slot held and no plane takes is released (its
        // CPU-written bytes kept), and the planes get their memory.
        let slot = self.slot_mut(req.index)?;
        let cpu_owned = slot.state.is_cpu_owned();
        for ((plane, import), (mapping, attachment)) in
            slot.planes.iter_mut().zip(imports).zip(moved)
        {
            let Some(import) = import else {
                continue;
            };
            plane.release_memory(dma, cpu_owned);
            plane.mapping = mapping;
            plane.attachment = attachment;
            plane.dmabuf_size = import.size;
            plane.fd = import.fd;
            plane.length = import.length;
        }
        Ok(())
    }

    /// VIDIOC_DQBUF without waiting, into a planes array of `room`
    /// entries: the oldest done buffer, each plane
    /// synced for the CPU over the bytes the frame occupies (all of it
    /// with [`Policy::full_sync`]; none with the `skip_for_cpu` hint; then
    /// unmapped with [`Policy::map_per_qbuf`]). `EAGAIN` if none is done;
    /// `EINVAL` when not streaming (a blocked DQBUF stops waiting then).
    pub(crate) fn dqbuf(
        &mut self,
        dma: &mut D,
        who: OwnerId,
        memory: Memory,
        room: usize,
    ) -> QResult<BufferInfo> {
        self.check_owner(who)?;
        self.check_memory(memory)?;
        if !self.streaming {
            return Err(Error::inval("DQBUF while not streaming"));
        }
        let index = self
            .done
            .peek()
            .ok_or(Error::new(Errno::EAGAIN, "no buffer done yet"))?;
        // Checked before the buffer leaves the done list: a refusal keeps it.
        self.check_room(index, room)?;
        self.done.pop();
        let policy = self.policy;
        let dmabuf = self.memory == Some(Memory::DmaBuf);
        let mut skipped = 0;
        let skip = self.skips(self.slot(index)?.hints).skip_for_cpu;
        let slot = self.slot_mut(index)?;
        for (plane, &synced) in slot.planes().iter().zip(&slot.synced_for_cpu) {
            if synced {
                // The device side made this sync and hand-on when the frame
                // ended.
                continue;
            }
            let frame = if policy.full_sync {
                plane.length
            } else {
                plane.bytesused
            };
            skipped += u64::from(plane.hand_to_cpu(dma, Some(frame), skip, true));
        }
        if dmabuf && policy.map_per_qbuf {
            // Unmapped now, mapped again by the next QBUF. Still device-owned
            // here: the CPU has written nothing the unmap could undo.
            slot.drop_mappings(dma);
        }
        slot.state = State::Dequeued;
        self.skips.for_cpu += skipped;
        self.query(dma, index)
    }

    /// VIDIOC_STREAMON. Idempotent.
    pub(crate) fn streamon(&mut self, who: OwnerId) -> QResult {
        self.check_owner(who)?;
        if self.count == 0 {
            return Err(Error::inval("STREAMON without buffers"));
        }
        self.streaming = true;
        Ok(())
    }

    /// VIDIOC_STREAMOFF: every buffer goes back to the CPU, queued and done
    /// ones without being reported; DMABUF mappings are all dropped (their
    /// attachments stay). The shell must have stopped the engine. Idempotent.
    pub(crate) fn streamoff(&mut self, dma: &mut D, who: OwnerId) -> QResult {
        self.check_owner(who)?;
        self.cancel(dma);
        Ok(())
    }

    fn cancel(&mut self, dma: &mut D) {
        self.streaming = false;
        self.queued.clear();
        self.done.clear();
        let dmabuf = self.memory == Some(Memory::DmaBuf);
        let non_coherent = self.is_non_coherent();
        let mut skipped = 0;
        for slot in self
            .slots
            .as_deref_mut()
            .unwrap_or(&mut [])
            .iter_mut()
            .flatten()
        {
            skipped += slot.give_back(dma, non_coherent);
            if dmabuf {
                // The application's now: handed over, then unmapped.
                slot.drop_mappings(dma);
            }
        }
        self.skips.for_cpu += skipped;
    }

    /// Stops streaming and drops every buffer (and so every mapping,
    /// attachment and dma-buf reference); nobody owns the queue afterwards.
    fn free_all(&mut self, dma: &mut D) {
        self.cancel(dma);
        for slot in self.all_slots_mut().iter_mut() {
            // Every buffer is CPU-owned now (`cancel`).
            if let Some(mut slot) = slot.take() {
                slot.release_memory(dma);
            }
        }
        self.count = 0;
        self.memory = None;
        self.non_coherent = false;
        self.owner = None;
        self.busy = false;
    }

    /// Close of file handle `who`: if it owns the queue, as REQBUFS(0).
    /// The shell must have stopped the engine.
    pub(crate) fn release(&mut self, dma: &mut D, who: OwnerId) {
        if self.owner == Some(who) {
            self.free_all(dma);
        }
    }

    /// Hands the oldest queued buffer to the device, if streaming.
    /// Returns its index and a clone of each plane's mapping (`None` past
    /// its planes), which the device may use without the queue's lock
    /// until [`Queue::finish_frame`] or STREAMOFF.
    pub(crate) fn hand_to_device(&mut self) -> Option<(usize, [Option<D::Mapping>; MAX_PLANES])> {
        if !self.streaming {
            return None;
        }
        let index = self.queued.peek()?;
        let slot = self.all_slots_mut().get_mut(index)?.as_mut()?;
        // Checked before anything changes; a queued buffer always has its
        // mappings (`prepare_slot`), so this only guards the invariant.
        let mut mappings: [Option<D::Mapping>; MAX_PLANES] = Default::default();
        for (mapping, plane) in mappings.iter_mut().zip(slot.planes()) {
            *mapping = Some(plane.mapping.clone()?);
        }
        slot.state = State::Active;
        self.queued.pop();
        Some((index, mappings))
    }

    /// The device filled the buffer [`Queue::hand_to_device`] gave it.
    /// Returns `false` if it was no longer active (the stream was
    /// cancelled).
    pub(crate) fn finish_frame(&mut self, index: usize, frame: FrameDone) -> bool {
        let Some(Some(slot)) = self.all_slots_mut().get_mut(index) else {
            return false;
        };
        if slot.state != State::Active {
            return false;
        }
        for (plane, bytesused) in slot.planes_mut().iter_mut().zip(frame.bytesused) {
            plane.bytesused = bytesused.min(plane.length);
        }
        slot.sequence = frame.sequence;
        slot.timestamp_ns = frame.timestamp_ns;
        slot.error = frame.error;
        slot.synced_for_cpu = frame.synced_for_cpu;
        slot.state = State::Done;
        self.done.push(index);
        true
    }

    /// What DQBUF would sync for the CPU of each plane of buffer `index`,
    /// for a device side that makes that sync itself when the frame ends
    /// ([`FrameDone::synced_for_cpu`]).
    pub(crate) fn cpu_syncs(&self, index: usize) -> [CpuSync; MAX_PLANES] {
        let mut syncs = [CpuSync::None; MAX_PLANES];
        let Ok(slot) = self.slot(index) else {
            return syncs;
        };
        let hinted = self.skips(slot.hints).skip_for_cpu;
        for (sync, plane) in syncs.iter_mut().zip(slot.planes()) {
            *sync = match (hinted, self.policy.full_sync) {
                (true, _) => CpuSync::Hinted,
                (false, true) => CpuSync::Whole(plane.length),
                (false, false) => CpuSync::Frame,
            };
        }
        syncs
    }

    /// The mapping of plane `plane` of buffer `index`, if it has one.
    pub(crate) fn mapping(&self, index: usize, plane: usize) -> Option<&D::Mapping> {
        self.slot(index).ok()?.planes().get(plane)?.mapping.as_ref()
    }

    /// VIDIOC_EXPBUF: a hold on the pages of plane `plane` of MMAP buffer
    /// `index`, for a dma-buf to keep (`EINVAL` for a queue without MMAP
    /// buffers, an index without a buffer, a plane the buffer lacks). The
    /// queue is not changed, nor its owner checked: anyone may export, as
    /// with videobuf2. See "Exports".
    pub(crate) fn export(&self, dma: &D, index: usize, plane: usize) -> QResult<D::Pages> {
        let mapping = self.mmap_buffer(index, plane)?;
        dma.hold_pages(mapping)
            .ok_or(Error::inval("memory without pages to export"))
    }

    /// The memory of plane `plane` of MMAP buffer `index`, for mmap().
    pub(crate) fn mmap_buffer(&self, index: usize, plane: usize) -> QResult<&D::Mapping> {
        if self.memory != Some(Memory::Mmap) {
            return Err(Error::inval("mmap of a queue without MMAP buffers"));
        }
        self.slot(index)?
            .planes()
            .get(plane)
            .ok_or(Error::inval("no such plane"))?
            .mapping
            .as_ref()
            .ok_or(Error::inval("buffer has no memory"))
    }
}

#[cfg(test)]
mod tests;
